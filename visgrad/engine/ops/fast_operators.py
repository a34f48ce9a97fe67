"""``+ - * /`` between float tensors, and with Python floats, in one function each.

# NOTE [fused operators]
Graphs of many tiny ops (a scalar network, 10,000 (4,4) products) cost what each op costs in
Python: the operator, ``_binary``, the op, ``record`` and ``_save`` are five calls and a
generic loop around a numpy call of a third of a microsecond. For the cases that make up such
graphs (both operands float tensors of one dtype and device, or a float tensor and a Python
float, no views, no anomaly mode) the operator does all of it in one function: the same array
call, the same node with the same edges, metadata and saved values as ``record`` gives; it
takes about 2.7 µs an op where the general route took 3.7–4.2. Everything else (ints, bools,
mixed dtypes, views, arrays, an instance of a Tensor subclass on the right...) goes the general
route, unchanged; the tests compare both routes node for node.
"""

from __future__ import annotations

import operator

from visgrad.engine import autograd as _ag
from visgrad.engine import dtypes
from visgrad.engine.backend import CPU, quiet_context
from visgrad.engine.grad_mode import _state
from visgrad.engine.ops._common import broadcast_error
from visgrad.engine.ops.linalg import MmBackward0
from visgrad.engine.ops.pointwise import AddBackward0, DivBackward0, MulBackward0, SubBackward0
from visgrad.engine.tensor import Tensor, _np_asarray, _np_generic

_new_object = object.__new__
_NO_EDGE = _ag._NO_EDGE
_COMMON_VERSIONS = _ag._COMMON_VERSIONS

_FLOATS = frozenset(d.np for d in (dtypes.float16, dtypes.float32, dtypes.float64))
# half and a Python number: mul and div compute in float32 (see pointwise._binary)
_FLOATS_WITH_NUMBERS = frozenset(d.np for d in (dtypes.float32, dtypes.float64))

# what a node saves: nothing, the factors (mul: each keeps the other's only if that one's
# gradient needs it, as mul() does), or both operands (div)
NOTHING, FACTORS, BOTH = 0, 1, 2


def fused(compute, node_cls, saves: int, general):
    """The operator method: the fast route of NOTE [fused operators], else ``general``.
    Its result has its operands' shape and dtype when theirs agree, even ``@`` (square
    matrices), and keeps their metadata (NOTE [kept metadata])."""
    sequence = _ag._sequence
    meta_of = _ag.meta_of
    leaf_accumulator = _ag.leaf_accumulator

    def method(self, other):
        cls = other.__class__
        ad = self._data
        dt = ad.dtype
        if cls is Tensor:
            bd = other._data
            if dt not in _FLOATS or bd.dtype != dt or self._backend is not other._backend or \
                    self._base is not None or other._base is not None:
                return general(self, other)
        elif cls is float:
            if dt not in _FLOATS_WITH_NUMBERS or self._base is not None:
                return general(self, other)
            bd = other
        else:
            return general(self, other)
        state = _state
        if state.anomaly:
            return general(self, other)
        if ad.ndim == 0 and (bd.__class__ is float or bd.ndim == 0) and self._backend is CPU:
            # one number (a scalar graph): numpy's scalar arithmetic is ten times faster than
            # a ufunc on 0-d arrays, with the same IEEE operation in the same dtype (numpy's
            # own 0-d results are such scalars, made into arrays again below)
            ad = ad[()]
            if bd.__class__ is not float:
                bd = bd[()]
        # silently, in this thread's quiet context (cheaper than switching numpy's state; one
        # switch of context costs about what reading whether the caller is quiet already does)
        context = state.numpy_quiet
        if context is None:
            context = state.numpy_quiet = quiet_context()
        try:
            data = context.run(compute, ad, bd)
        except ValueError:
            raise broadcast_error(ad.shape, getattr(bd, "shape", ())) from None
        if isinstance(data, _np_generic):  # numpy turns 0-d results into scalars
            data = _np_asarray(data)
        out = _new_object(Tensor)  # Tensor._wrap, written out
        out._data = data
        out._backend = self._backend
        out._grad = out._grad_fn = out._vc = out._acc = out._base = out._meta = None
        out._requires_grad = out._retains_grad = False
        out._output_nr = 0
        a_grad = self._requires_grad
        b_grad = cls is Tensor and other._requires_grad
        if not (a_grad or b_grad) or not state.grad:
            return out
        # record(), written out for two operands
        if a_grad:
            fn = self._grad_fn
            if fn is None:
                ref = self._acc
                fn = ref() if ref is not None else None  # NOTE [leaf accumulators]
                edge_a = (fn if fn is not None else leaf_accumulator(self), 0)
            else:
                edge_a = (fn, self._output_nr)
            meta_a = self._meta or meta_of(self)
        else:
            edge_a, meta_a = _NO_EDGE, None
        if not b_grad:
            edge_b, meta_b = _NO_EDGE, None
            if a_grad and cls is float:  # a float tensor and a number: the same shape, the
                out._meta = meta_a  # same dtype (half goes the general way)
        elif other is self:
            edge_b, meta_b = edge_a, meta_a
            out._meta = meta_a
        else:
            fn = other._grad_fn
            if fn is None:
                ref = other._acc
                fn = ref() if ref is not None else None
                edge_b = (fn if fn is not None else leaf_accumulator(other), 0)
            else:
                edge_b = (fn, other._output_nr)
            meta_b = other._meta or meta_of(other)
            if meta_b is meta_a:  # the usual case: one shape, one dtype
                out._meta = meta_a
        node = _new_object(node_cls)
        node._seq = next(sequence)
        node.next_functions = (edge_a, edge_b)
        node._input_meta = (meta_a, meta_b)
        out._grad_fn = node
        out._requires_grad = True
        if saves:
            if saves == BOTH:
                first, second = self, other
            else:
                first = self if b_grad else None
                second = other if a_grad else None
            node._saved = (first, second)
            versions = (-1 if first is None else 0 if first._vc is None else first._vc[0],
                        -1 if second.__class__ is not Tensor else
                        0 if second._vc is None else second._vc[0])
            node._saved_versions = _COMMON_VERSIONS.get(versions, versions)
        else:
            node._saved = node._saved_versions = ()
        node._saved_outputs = ()
        return out

    method.__name__ = getattr(general, "__name__", "operator")
    return method


def install(general: dict) -> None:
    """Put the fused operators on Tensor; ``general`` maps each dunder name to the method
    that takes every other case."""
    cases = {"__add__": (operator.add, AddBackward0, NOTHING),
             "__radd__": (operator.add, AddBackward0, NOTHING),
             "__sub__": (operator.sub, SubBackward0, NOTHING),
             "__mul__": (operator.mul, MulBackward0, FACTORS),
             "__rmul__": (operator.mul, MulBackward0, FACTORS),
             "__truediv__": (operator.truediv, DivBackward0, BOTH)}
    for name, (compute, node_cls, saves) in cases.items():
        setattr(Tensor, name, fused(compute, node_cls, saves, general[name]))
    Tensor.__matmul__ = _matrix_product(general["__matmul__"])


def _matrix_product(general):
    """``a @ b``: two matrices whose sizes fit take the fused route to mm's node (a layer's
    product, twice per step of an MLP); everything else, and every error, matmul()'s dispatch."""
    product = fused(operator.matmul, MmBackward0, BOTH, general)

    def method(self, other):
        if other.__class__ is Tensor:
            a, b = self._data, other._data
            if a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:
                return product(self, other)
        return general(self, other)

    method.__name__ = "matmul"
    return method
