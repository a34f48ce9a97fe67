"""The Tensor: an array on a backend plus the autograd bookkeeping torch users know.

Methods and operators are thin: each forwards to the op in ``visgrad.engine.ops`` that computes
the result and records its grad_fn. Data lives in ``_data`` (a numpy or CuPy array) and is only
brought to the host explicitly (``numpy()``, ``tolist()``, ``item()``, printing).
"""

from __future__ import annotations

import math
import warnings

from numpy import asarray as _np_asarray
from numpy import generic as _np_generic

from visgrad.engine import dtypes, grad_mode
from visgrad.engine import autograd as _autograd
from visgrad.engine.autograd import BackwardIteration
from visgrad.engine.backend import (CPU, CPU_NDARRAY, Backend, cpu_add_reduce, get_backend,
                                    quiet_enter, quiet_exit)


class Size(tuple):
    """A shape, printed as torch prints it: ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"torch.Size([{', '.join(map(str, self))}])"

    __str__ = __repr__

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


_LEGACY = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
           "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
           "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}
_BY_LEGACY_NAME = {"torch." + legacy: name for name, legacy in _LEGACY.items()}
_SCALAR_NAME = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def legacy_type_name(t: Tensor) -> str:
    """torch's ``x.type()``: ``torch.FloatTensor``, or ``torch.cuda.FloatTensor`` on a GPU."""
    prefix = "torch.cuda." if t._backend.device.type == "cuda" else "torch."
    return prefix + _LEGACY[t.dtype.name]


class Tensor:
    """A multi-dimensional array that can record the operations applied to it.

    >>> import visgrad as vg
    >>> x = vg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y
    tensor(14., grad_fn=<SumBackward0>)
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ("_data", "_backend", "_grad", "_grad_fn", "_requires_grad", "_output_nr",
                 "_vc", "_acc", "_retains_grad", "_base", "_view_at", "_meta", "__weakref__",
                 "__dict__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to the Tensor's reflected operator

    def __init__(self, *args, dtype=None, requires_grad=False, device=None):
        # torch.Tensor(data) makes float32 data; torch.Tensor(2, 3) makes a (2, 3) tensor
        if args and all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            src = zeros(*args, dtype=dtype, device=device)
        else:
            data = args[0] if args else []
            src = tensor(data, dtype=dtype or dtypes.default_float, device=device)
        _init_from(self, src._data, src._backend)
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data, backend: Backend = CPU) -> Tensor:
        if isinstance(data, _np_generic):  # numpy turns 0-d results into immutable scalars
            data = _np_asarray(data)
        t = _new_object(cls)  # _init_from, inlined: this runs for every op's result
        t._data = data
        t._backend = backend
        t._grad = None
        t._grad_fn = None
        t._requires_grad = False
        t._output_nr = 0
        t._vc = None  # made on first need: NOTE [version counters]
        t._acc = None
        t._retains_grad = False
        t._base = None
        t._meta = None  # (shape, dtype), interned, made when a node first records it
        return t

    # ---- metadata ----------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> dtypes.DType:
        return dtypes.from_numpy(self._data.dtype)

    @property
    def device(self):
        return self._backend.device

    @property
    def is_cuda(self) -> bool:
        return self._backend.device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def type(self, dtype=None, non_blocking: bool = False):
        """``x.type()``: the legacy type name (``torch.FloatTensor``); ``x.type(t)``: x in
        dtype ``t`` (a dtype or such a name), x itself if it is already."""
        if dtype is None:
            return legacy_type_name(self)
        if isinstance(dtype, str):
            if dtype not in _BY_LEGACY_NAME:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = _BY_LEGACY_NAME[dtype]
        target = dtypes.as_dtype(dtype)
        return self if target == self.dtype else self.to(target)

    def data_ptr(self) -> int:
        return id(self._data)

    # ---- autograd attributes ------------------------------------------------------------
    @property
    def grad_fn(self):
        if self._base is not None:
            _autograd.refresh_view(self)
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        if self._base is not None and getattr(self, "_no_grad_view", None) is None:
            _autograd.refresh_view(self)
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and self._grad_fn is None and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients")
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach().")
            return self
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    @property
    def grad(self):
        if self._grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed "
                "want the .grad field to be populated for a non-leaf Tensor, use .retain_grad() "
                "on the non-leaf Tensor.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value._data.dtype != self._data.dtype:
                from visgrad.engine.ops.linalg import CPP_NAME  # noqa: PLC0415 - ops import this

                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{CPP_NAME[value.dtype.name]}' "
                    f"to a tensor with grad_dtype '{_SCALAR_NAME[self.dtype.name]}'. The gradient "
                    "must match the tensor's grad_dtype (defaults to the tensor's dtype). You can "
                    "set the tensor's grad_dtype attribute with a specific dtype, or None to allow "
                    "any dtype. Set grad_dtype with caution. Diverging the dtypes of a tensor and "
                    "its gradient may break downstream systems that assume they match.")
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value._data.shape)}' to a "
                    f"tensor of size '{list(self._data.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size")
        self._grad = value

    @property
    def data(self) -> Tensor:
        """The same storage without history; edits through it are not tracked (as in torch)."""
        out = Tensor._wrap(self._data, self._backend)
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data
        self._backend = value._backend
        self._meta = None

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def _version(self) -> int:
        """How many in-place changes this storage has seen (shared by views and detach())."""
        return _autograd.version_of(self)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves keep theirs anyway)."""
        if self._base is not None:
            _autograd.refresh_view(self)
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self._retains_grad:
            return
        self._grad_fn._retain(self._output_nr, self)
        self._retains_grad = True

    def register_hook(self, hook):
        """Run ``hook(grad)`` when this tensor's gradient is computed; it may return a new one.

        >>> import visgrad as vg
        >>> x = vg.tensor([1.0, 2.0], requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 2)
        >>> (x * 3).sum().backward(); x.grad
        tensor([6., 6.])
        >>> h.remove()
        """
        if self._base is not None:
            _autograd.refresh_view(self)
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            return self._grad_fn._add_tensor_hook(self._output_nr, hook)
        acc = self._hooked_accumulator_of_leaf()
        return acc._add_tensor_hook(0, hook) if acc is not None else _autograd.RemovableHandle({})

    def register_post_accumulate_grad_hook(self, hook):
        """Run ``hook(tensor)`` on this leaf after its ``.grad`` took a backward pass's
        gradient (an optimizer step inside backward, as torch's docs show it)."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        acc = self._hooked_accumulator_of_leaf()
        return acc._add_post_accumulate_hook(hook) if acc is not None else \
            _autograd.RemovableHandle({})

    def _hooked_accumulator_of_leaf(self):
        """This leaf's AccumulateGrad, where its hooks live, now kept alive by the leaf (NOTE
        [leaf accumulators]); None for a view made under no_grad, which no gradient reaches
        (NOTE [views made under no_grad])."""
        acc = _autograd.gradient_edge(self)[0]
        if acc is not None:
            self.__dict__["_hooked_accumulator"] = acc
        return acc

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Compute gradients of this tensor w.r.t. the graph leaves (see ``BackwardIteration``)."""
        if inputs is not None and not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if inputs is not None and not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        BackwardIteration([self], gradients_given(gradient, 1), retain_graph=retain_graph,
                          create_graph=create_graph, inputs=inputs).run()

    def detach(self) -> Tensor:
        """A tensor sharing this one's storage (and version counter), cut from the graph."""
        out = Tensor._wrap(self._data, self._backend)
        out._vc = _autograd.shared_counter(self)
        return out

    # ---- factories of this dtype and device (torch's new_*) ---------------------------------
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None,
                 requires_grad=False) -> Tensor:
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    new_empty = new_zeros  # visgrad's empty tensors are zeros (as empty() is)

    def detach_(self) -> Tensor:
        self._grad_fn = None
        self._requires_grad = False
        return self

    # ---- host conversion -----------------------------------------------------------------
    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._backend.to_host(self._data).reshape(()).item()

    def tolist(self):
        return self._backend.to_host(self._data).tolist()

    def numpy(self, *, force: bool = False):
        if self._requires_grad and not force and grad_mode._state.grad:  # as torch: no_grad
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "  # allows it
                               "Use tensor.detach().numpy() instead.")
        if self._backend.device.type != "cpu" and not force:
            raise TypeError(f"can't convert {self._backend.device} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        return self._backend.to_host(self._data)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self.item(), spec)
        if spec:  # a number's format for several numbers: torch refuses it
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return repr(self)

    def __contains__(self, element) -> bool:
        """``element in t``: whether some element of t equals it, as in torch."""
        if not isinstance(element, (Tensor, bool, int, float)):
            raise RuntimeError("Tensor.__contains__ only supports Tensor or scalar, but you "
                               f"passed in a {type(element)}.")
        return bool((self == element).any().item())

    def __repr__(self) -> str:
        from visgrad.engine.printing import tensor_repr  # noqa: PLC0415

        grad_fn_name = None
        if self._base is not None:
            try:
                _autograd.refresh_view(self)
            except RuntimeError:  # NOTE [views made under no_grad]: a spoilt one, as torch
                grad_fn_name = "Invalid"  # prints it
        if self._grad_fn is not None:
            grad_fn_name = type(self._grad_fn).__name__
        device = self._backend.device
        return tensor_repr(
            self._backend.to_host(self._data), dtype_name=self.dtype.name,
            device="cpu" if device.type == "cpu" else str(device),
            requires_grad=self._requires_grad and grad_fn_name is None,
            grad_fn_name=grad_fn_name)

    __str__ = __repr__

    # ---- conversion ----------------------------------------------------------------------
    def to(self, *args, **kwargs) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("copy", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, dtypes.DType) or a in (float, int, bool):
                dtype = a
            else:
                device = a
        from visgrad.engine.ops.conversion import to_copy  # noqa: PLC0415

        return to_copy(self, dtypes.as_dtype(dtype) if dtype is not None else None, device)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device=None) -> Tensor:
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int)
                       else device)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def contiguous(self) -> Tensor:
        from visgrad.engine.ops.shape import contiguous  # noqa: PLC0415 - ops import this

        return contiguous(self)

    # ---- copying and pickling: data through the host, as plain numbers ---------------------
    def __reduce_ex__(self, protocol):
        if self._grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support "
                               "the deepcopy protocol at the moment.")
        return (_rebuild, (self._backend.to_host(self._data).copy(), str(self._backend.device),
                           self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        if self._grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support "
                               "the deepcopy protocol at the moment.")
        out = self.__class__._wrap(self._data.copy(), self._backend)
        out._requires_grad = self._requires_grad
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = out
        return out

    def is_contiguous(self) -> bool:
        from visgrad.engine.ops.shape import _is_contiguous  # noqa: PLC0415 - ops import this

        return _is_contiguous(self._data)


def _rebuild(host, device: str, requires_grad: bool) -> Tensor:
    backend = get_backend(device)
    out = Tensor._wrap(backend.asarray(host), backend)
    out._requires_grad = requires_grad
    return out


def _init_from(t: Tensor, data, backend: Backend) -> None:
    t._data = data
    t._backend = backend
    t._grad = None
    t._grad_fn = None
    t._requires_grad = False
    t._output_nr = 0
    t._vc = None
    t._acc = None
    t._retains_grad = False
    t._base = None
    t._meta = None


def _wrap_dim(dim: int, ndim: int) -> int:
    if dim.__class__ is int and 0 <= dim < ndim:  # the usual case, as it is
        return dim
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not lo <= dim <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % max(ndim, 1)


# ---- helpers the engine shares ----------------------------------------------------------------

def gradients_given(grads, count: int) -> list:
    """The gradients handed to ``backward()`` or ``grad()``, read as torch reads them: None,
    one Tensor, or a sequence of Tensors and Nones (a number or a list of numbers is refused
    with torch's words)."""
    if grads is None:
        return [None] * count
    grads = [grads] if isinstance(grads, Tensor) else list(grads)  # a number: not iterable
    for g in grads:
        if g is not None and not isinstance(g, Tensor):
            raise TypeError(f"gradients can be either Tensors or None, but got "
                            f"{type(g).__name__}")
    return grads


def zeros_for(shape, np_dtype, backend: Backend = CPU) -> Tensor:
    return Tensor._wrap(backend.xp.zeros(shape, dtype=np_dtype), backend)


def _broadcast_dims(gshape: tuple, shape: tuple) -> tuple:
    """The dimensions of ``gshape`` that broadcasting ``shape`` to it added or stretched."""
    lead = len(gshape) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)


_SUMMED: dict = {}  # (gradient's shape, input's shape) -> (dims to sum, whether only leading)


def sum_to_array(data, shape: tuple):
    """``sum_to`` on a raw array, where nothing is recorded (the backward pass's gradients).
    Half precision adds up in float32 and rounds once, as torch does (and as ``sum`` does:
    ``reductions._added``); numpy's half sum would round every partial sum.

    A training step reduces the same few pairs of shapes at every step (a bias's gradient
    over the batch), so what to sum is worked out once per pair."""
    gshape = data.shape
    if shape.__class__ is not tuple:
        shape = tuple(shape)
    if gshape == shape:
        return data
    key = (gshape, shape)
    plan = _SUMMED.get(key)
    if plan is None:
        dims = _broadcast_dims(gshape, shape)
        plan = (dims, len(dims) == len(gshape) - len(shape))
        if len(_SUMMED) >= 4096:  # shapes seen once each (a sweep): keep the table small
            _SUMMED.clear()
        _SUMMED[key] = plan
    dims, leading = plan
    dt = data.dtype
    half = dt.kind == "f" and dt.itemsize == 2
    add = cpu_add_reduce if data.__class__ is CPU_NDARRAY else _reduce_sum
    if leading:
        # only leading dims (a bias's gradient): summed away, the result is an array of its
        # own, which a leaf may keep as its .grad; a reshaped sum would be a view to copy
        return add(data, dims, _FLOAT32).astype(dt) if half else add(data, dims)
    if half:
        return add(data, dims, _FLOAT32, None, True).astype(dt).reshape(shape)
    return add(data, dims, None, None, True).reshape(shape)


def _reduce_sum(data, axis, dtype=None, out=None, keepdims=False):
    """``numpy.add.reduce``'s signature for another backend's arrays."""
    return data.sum(axis=axis, dtype=dtype, keepdims=keepdims)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Reduce a broadcast gradient back to ``shape`` (differentiable, for create_graph; with
    no graph to record, the same reduction straight on the array)."""
    shape = tuple(shape)
    gshape = g._data.shape
    if gshape == shape:
        return g
    if not grad_mode._state.grad:
        return Tensor._wrap(sum_to_array(g._data, shape), g._backend)
    lead = len(gshape) - len(shape)
    dims = _broadcast_dims(gshape, shape)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    if lead or g._data.shape != shape:
        g = g.reshape(shape)
    return g


# ---- creation --------------------------------------------------------------------------------

_default_device = ["cpu"]


def set_default_device(device) -> None:
    """Where factory functions put new tensors when no device is given (torch's same name)."""
    get_backend(device or "cpu")  # fail now, with the install hint, if it is not available
    _default_device[0] = str(device or "cpu")


def get_default_device():
    return get_backend(_default_device[0]).device

def _inferred_dtype(data) -> dtypes.DType:
    """torch's dtype for nested data: every element's type, promoted as torch promotes them
    (a Python float is the default float, numpy scalars and arrays keep theirs, an empty
    sequence counts as the default float)."""
    if isinstance(data, Tensor):
        return data.dtype
    if _is_numpy_array(data):  # first: numpy.float64 is also a Python float
        return dtypes.from_numpy(data.dtype)
    if isinstance(data, bool):
        return dtypes.bool_
    if isinstance(data, int):
        return dtypes.int64
    if isinstance(data, float):
        return dtypes.default_float
    if isinstance(data, (list, tuple)):
        if not data:
            return dtypes.default_float
        kinds = set(map(type, data))  # a row of plain numbers, the usual case, at C speed
        if kinds <= _PLAIN_NUMBERS:
            return dtypes.default_float if float in kinds else (
                dtypes.int64 if int in kinds else dtypes.bool_)
        result = None
        for item in data:
            kind = _inferred_dtype(item)
            result = kind if result is None else dtypes._promote_pair(result, kind)
        return result
    if isinstance(data, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    raise RuntimeError(f"Could not infer dtype of {type(data).__name__}")


_PLAIN_NUMBERS = frozenset((bool, int, float))
_FLOAT32 = dtypes.float32.np


def _overflow(values, np_dtype) -> Exception:
    """torch's error for Python ints an integer dtype cannot hold: one beyond int64 it cannot
    even unpack."""
    if any(isinstance(v, int) and not -(1 << 63) <= v < (1 << 63) for v in values):
        return ValueError("Overflow when unpacking long long")
    return RuntimeError(f"value cannot be converted to type {np_dtype.name} without overflow")


def _row_fits(row, kinds: set, np_dtype) -> bool:
    """Whether every number of a row fits an integer dtype (ints: by their extremes)."""
    if float in kinds:
        return all(dtypes.number_fits(v, np_dtype) for v in row)
    return dtypes.number_fits(min(row), np_dtype) and dtypes.number_fits(max(row), np_dtype)


def _host_array(data, np_dtype):
    """Nested Python data (possibly containing 0-d tensors) -> a host numpy array."""
    import numpy  # noqa: PLC0415 - host-side parsing of user literals, before any device

    if isinstance(data, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")

    sizes = _check_nesting(data, np_dtype)
    if 0 in sizes:  # nothing to store: torch looks no further than the first elements
        return numpy.zeros(sizes, dtype=np_dtype)
    values = _unwrapped(data)
    arr = numpy.asarray(values)
    if arr.dtype == object and np_dtype.kind == "f":  # ints beyond int64, for a float dtype
        arr = numpy.asarray(values, dtype=numpy.float64)
    if arr.dtype == object:
        raise TypeError(f"could not make a tensor from {type(data).__name__} data")
    return arr


def _unwrapped(x):
    """Nested data with its 0-d tensors replaced by their host values."""
    if isinstance(x, Tensor):
        return x._backend.to_host(x._data)
    if isinstance(x, (list, tuple)):
        return [_unwrapped(v) for v in x]
    if isinstance(x, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(x).__name__}'")
    return x


def _is_sequence(x) -> bool:
    return isinstance(x, (list, tuple)) or _is_numpy_array(x) and x.ndim > 0


def _check_nesting(data, np_dtype) -> tuple:
    """torch's checks of nested data, in its order: the sizes are read off the first element
    at each depth, then every element, depth first, is held to them (and a Python number to
    an integer dtype's range). Returns the sizes."""
    sizes, seq = [], data
    while _is_sequence(seq):
        if _is_numpy_array(seq):  # an array's sizes are its shape
            sizes.extend(seq.shape)
            break
        sizes.append(len(seq))
        if not len(seq):
            break
        seq = seq[0]
    if 0 in sizes:
        return tuple(sizes)
    _hold(data, 0, sizes, np_dtype)
    return tuple(sizes)


def _hold(x, dim: int, sizes: list, np_dtype) -> None:
    """Check ``x``, found at depth ``dim``, against the sizes (see ``_check_nesting``).

    A module-level function, not a closure: a closure that calls itself is a reference cycle,
    left for the cyclic collector by every ``tensor()`` call."""
    integers = np_dtype.kind in "iu"
    if dim == len(sizes):
        if _is_sequence(x):
            if np_dtype.kind in "iub":  # torch reads the element as an integer
                raise TypeError(f"'{type(x).__name__}' object cannot be interpreted as an "
                                "integer")
            raise TypeError(f"must be real number, not {type(x).__name__}")
        if integers and isinstance(x, (int, float)) and not _is_numpy_array(x) and \
                not dtypes.number_fits(x, np_dtype):
            raise _overflow((x,), np_dtype)
        return
    if not _is_sequence(x):
        raise TypeError("not a sequence")
    if len(x) != sizes[dim]:
        raise ValueError(f"expected sequence of length {sizes[dim]} at dim {dim} "
                         f"(got {len(x)})")
    if dim == len(sizes) - 1 and isinstance(x, (list, tuple)):
        kinds = set(map(type, x))
        if kinds <= _PLAIN_NUMBERS:  # a row of plain numbers (the usual case), at C speed
            if integers and not _row_fits(x, kinds, np_dtype):
                raise _overflow(x, np_dtype)
            return
    if not isinstance(x, (list, tuple)):  # an array: its shape must be what is left
        for k, (want, got) in enumerate(zip(sizes[dim:], x.shape)):
            if want != got:
                raise ValueError(f"expected sequence of length {want} at dim {dim + k} "
                                 f"(got {got})")
        if x.ndim != len(sizes) - dim:
            raise TypeError("not a sequence" if x.ndim < len(sizes) - dim else
                            "only 0-dimensional arrays can be converted to Python scalars")
        return
    for item in x:
        _hold(item, dim + 1, sizes, np_dtype)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Make a leaf tensor from data, inferring torch's dtype (floats become float32).

    >>> import visgrad as vg
    >>> vg.tensor([[1, 2], [3, 4]]).dtype
    torch.int64
    >>> vg.tensor(3.0, requires_grad=True)
    tensor(3., requires_grad=True)
    """
    backend = get_backend(device or _default_device[0])
    token = quiet_enter()  # a cast beyond the dtype (3e38 to half) is inf, silently, as in torch
    try:
        arr = _data_for_tensor(data, dtype, backend)
    finally:
        quiet_exit(token)
    out = Tensor._wrap(arr, backend)
    return _factory_grad(out) if requires_grad else out


def _data_for_tensor(data, dtype, backend):
    """``tensor()``'s array: a copy, in the dtype asked for or inferred."""
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.detach()."
            "clone() or sourceTensor.detach().clone().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).", UserWarning, stacklevel=3)
        src = data._data if data._backend is backend else backend.asarray(
            data._backend.to_host(data._data))
        arr = src.copy()
        dt = dtypes.as_dtype(dtype) if dtype is not None else data.dtype
        return arr.astype(dt.np) if arr.dtype != dt.np else arr
    if isinstance(data, backend.array_type) and backend.array_type is not _numpy_ndarray():
        dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.from_numpy(data.dtype)
        return data.astype(dt.np, copy=True)
    _no_string_rows(data)
    dt = dtypes.as_dtype(dtype) if dtype is not None else _inferred_dtype(data)
    return backend.asarray(_host_array(data, dt.np).astype(dt.np, copy=True))


def _no_string_rows(data) -> None:
    """torch reads the sizes first, down the first element at each depth, and takes a string
    met there for one more dimension (a string elsewhere is an invalid value)."""
    seq = data
    while isinstance(seq, (list, tuple)) and len(seq):
        seq = seq[0]
        if isinstance(seq, str):
            raise ValueError("too many dimensions 'str'")


def _factory_grad(out: Tensor) -> Tensor:
    """requires_grad=True given to a factory (torch's message differs from requires_grad_)."""
    if out._data.dtype.kind not in "fc":
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    out._requires_grad = True
    return out


def _numpy_ndarray():
    import numpy  # noqa: PLC0415

    return numpy.ndarray


def _is_numpy_array(x) -> bool:
    import numpy  # noqa: PLC0415

    return isinstance(x, (numpy.ndarray, numpy.generic))


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array) -> Tensor:
    """Share a numpy array's memory, as torch.from_numpy does."""
    return Tensor._wrap(array, CPU)


def _size_args(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) and not hasattr(s, "__index__"):
            raise TypeError(f"size must be a sequence of ints, got {type(s).__name__}")
        if int(s) < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {int(s)}: "
                               f"{list(size)}")
    return tuple(int(s) for s in size)


def _filled(fill, size, dtype, device, requires_grad, default=None) -> Tensor:
    backend = get_backend(device or _default_device[0])
    dt = dtypes.as_dtype(dtype) if dtype is not None else (default or dtypes.default_float)
    if dt.np.kind == "f":
        dtypes.check_number_fits(fill, dt.np)
    out = Tensor._wrap(backend.xp.full(size, fill, dtype=dt.np), backend)
    return _factory_grad(out) if requires_grad else out


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    flat = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    if any(isinstance(s, int) and s < 0 for s in flat):
        raise RuntimeError("zeros: Dimension size must be non-negative.")
    return _filled(0, _size_args(size), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(1, _size_args(size), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(0, _size_args(size), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    default = dtypes.scalar_dtype(fill_value)
    return _filled(fill_value, _size_args((size,)), dtype, device, requires_grad, default)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(tuple(t._data.shape), dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(tuple(t._data.shape), dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(tuple(t._data.shape), fill_value, dtype=dtype or t.dtype,
                device=device or t.device, requires_grad=requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None and start.__class__ is int and start >= 0 and step.__class__ is int and \
            step == 1 and dtype is None and device is None and _default_device[0] == "cpu":
        # arange(n), the rows of a batch: none of the checks below can refuse it
        out = Tensor._wrap(CPU.xp.arange(start, dtype=dtypes.int64.np), CPU)
        return _factory_grad(out) if requires_grad else out
    if end is None:
        start, end = 0, start
    backend = get_backend(device or _default_device[0])
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))  # bools count, as in torch
        dt = dtypes.int64 if is_int else dtypes.default_float
    else:
        dt = dtypes.as_dtype(dtype)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"unsupported range: {start:g} -> {end:g}")
    if step == 0 or math.isnan(step):  # torch names a nan step so too
        raise RuntimeError("step must be nonzero")
    if not dt.is_floating_point and int(step) == 0:
        raise ValueError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    count = max(0, math.ceil((end - start) / step))
    xp = backend.xp
    if dt.is_floating_point:
        # start + i * step in float64, then rounded to the dtype. (torch's CPU kernel computes
        # vectorised chunks in the dtype itself, so its last bit depends on the SIMD width.)
        data = (xp.arange(count, dtype="float64") * float(step) + float(start)).astype(dt.np)
    elif dt is dtypes.int64 and isinstance(start, int) and isinstance(step, int):
        data = xp.arange(start, start + count * step, step, dtype=dt.np)  # the same, at once
    else:
        data = (xp.arange(count, dtype="int64") * int(step) + int(start)).astype(dt.np)
    out = Tensor._wrap(data, backend)
    return _factory_grad(out) if requires_grad else out


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    backend = get_backend(device or _default_device[0])
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    data = backend.xp.linspace(start, end, int(steps), dtype="float64").astype(dt.np)
    out = Tensor._wrap(data, backend)
    return _factory_grad(out) if requires_grad else out


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    backend = get_backend(device or _default_device[0])
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    out = Tensor._wrap(backend.xp.eye(n, m, dtype=dt.np), backend)
    return _factory_grad(out) if requires_grad else out


# Random numbers come from one host generator and are then moved to the device, so a seed gives
# the same values on every backend. (They are not torch's values: its generator differs.)
_rng_state = {"rng": None}


def manual_seed(seed: int):
    """Seed visgrad's random generator (rand, randn, nn initialisation, dropout)."""
    import numpy  # noqa: PLC0415

    _rng_state["rng"] = numpy.random.default_rng(int(seed))
    return _rng_state["rng"]


def _rng():
    if _rng_state["rng"] is None:
        manual_seed(torch_default_seed())
    return _rng_state["rng"]


def torch_default_seed() -> int:
    import time  # noqa: PLC0415

    return time.time_ns() & 0xFFFFFFFF


def _random(sample, size, dtype, device, requires_grad) -> Tensor:
    backend = get_backend(device or _default_device[0])
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    host = sample(_rng(), _size_args(size)).astype(dt.np)
    out = Tensor._wrap(backend.asarray(host), backend)
    return _factory_grad(out) if requires_grad else out


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _random(lambda r, s: r.random(s), size, dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _random(lambda r, s: r.standard_normal(s), size, dtype, device, requires_grad)


def rand_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return rand(tuple(t._data.shape), dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return randn(tuple(t._data.shape), dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    backend = get_backend(device or _default_device[0])
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                           f"to={high}")
    host = _rng().integers(low, high, size=_size_args((size,))).astype(dt.np)
    return Tensor._wrap(backend.asarray(host), backend)


def randperm(n: int, dtype=None, device=None) -> Tensor:
    backend = get_backend(device or _default_device[0])
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    return Tensor._wrap(backend.asarray(_rng().permutation(int(n)).astype(dt.np)), backend)


_new_object = object.__new__
_autograd._Tensor = Tensor
_autograd._sum_to_array = sum_to_array
