"""What every op needs: operand normalisation, dtype promotion, device checks, wrapping."""

from __future__ import annotations

import contextlib
import numbers

from visgrad.engine import dtypes
from visgrad.engine.grad_mode import _state as _grad_state
from visgrad.engine.autograd import Node, record  # noqa: F401 - re-exported for the op modules
from visgrad.engine.backend import quiet_context, quiet_enter, quiet_exit
from visgrad.engine.tensor import Tensor, _wrap_dim

_FLOAT32 = dtypes.float32.np
_INT64 = dtypes.int64.np
_BOOL = dtypes.bool_.np


def operand(x):
    """Tensors stay; Python numbers stay (torch's 'wrapped numbers'); arrays become tensors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, numbers.Number):
        item = getattr(x, "item", None)
        return item() if item is not None else float(x)
    if isinstance(x, (list, tuple)) or hasattr(x, "__array_interface__"):
        from visgrad.engine.tensor import tensor  # noqa: PLC0415

        return tensor(x)
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


def same_backend(a: Tensor, b: Tensor):
    if a._backend is not b._backend:
        raise RuntimeError("Expected all tensors to be on the same device, but found at least "
                           f"two devices, {b._backend.device} and {a._backend.device}!")
    return a._backend


def promote(a, b):
    """The numpy dtype torch gives ``a (op) b``; a or b may be a Python scalar."""
    if isinstance(a, Tensor):
        da = a._data.dtype
        if isinstance(b, Tensor):
            db = b._data.dtype
            if da == db:
                return da
            return dtypes.result_type(a, b).np
        if da.kind == "f":
            return da
        if isinstance(b, float):
            return _FLOAT32
        if da.kind == "b" and isinstance(b, int) and not isinstance(b, bool):
            return _INT64
        return da
    if isinstance(b, Tensor):
        return promote(b, a)
    return dtypes.result_type(a, b).np


def data_as(x, np_dtype):
    """The array (or scalar) of an operand, in the computation dtype."""
    if isinstance(x, Tensor):
        d = x._data
        return d if d.dtype == np_dtype else d.astype(np_dtype)
    if x.__class__ is int and np_dtype.kind in "iu" and np_dtype.itemsize < 8:
        # torch casts the number to the tensor's dtype as C does: uint8 - 2 is 254
        bits = 8 * np_dtype.itemsize
        x %= 1 << bits
        if np_dtype.kind == "i" and x >= 1 << (bits - 1):
            x -= 1 << bits
    return x


def number_for_integers(value, np_dtype):
    """A Python number written into (or compared with) an integer tensor, converted as torch's
    kernels convert it (see ``dtypes.number_fits``): an int as C casts it, a float truncated;
    anything beyond the type is refused as torch does."""
    dtypes.check_number_fits(value, np_dtype)
    return data_as(int(value), np_dtype)


def number_for_floats(value, np_dtype):
    """A Python number written into (or compared with) a float tensor: one of its dtype, or
    torch's refusal when finite and beyond the type (1e10 into half)."""
    dtypes.check_number_fits(value, np_dtype)
    return np_dtype.type(value)


def backend_of(a, b=None):
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return same_backend(a, b)
        return a._backend
    return b._backend


def wrap(data, backend) -> Tensor:
    return Tensor._wrap(data, backend)


def tensor_or_none(x):
    return x if isinstance(x, Tensor) else None


def float_dtype_for(np_dtype):
    """Ops like exp and true division give floats: ints and bools become float32."""
    return np_dtype if np_dtype.kind == "f" else _FLOAT32


_ALREADY_QUIET = contextlib.nullcontext()


class _Quiet:
    __slots__ = ("_token",)

    def __enter__(self):
        self._token = quiet_enter()

    def __exit__(self, *exc) -> None:
        quiet_exit(self._token)


def quietly(fn, *args):
    """``fn(*args)`` with floating-point errors silent: in this thread's quiet context
    (``backend.quiet_context``), cheaper than switching numpy's state around the call."""
    state = _grad_state
    if state.quiet:
        return fn(*args)
    context = state.numpy_quiet
    if context is None:
        context = state.numpy_quiet = quiet_context()
    return context.run(fn, *args)


def quiet(xp=None):
    """Floating-point errors give inf and nan silently, as in torch (numpy would warn).

    The backward iteration silences a whole pass at once (``grad_mode._state.quiet``), so the
    ops inside a gradient rule skip even the cheap switch."""
    if _grad_state.quiet:
        return _ALREADY_QUIET
    return _Quiet()


def broadcast_error(*shapes) -> RuntimeError:
    """torch's message for the first pair that fails, broadcasting the shapes left to right."""
    shapes = [tuple(s) for s in shapes]
    sa = shapes[0]
    for sb in shapes[1:]:
        ra, rb = tuple(reversed(sa)), tuple(reversed(sb))
        merged = []
        for i in range(max(len(ra), len(rb))):
            x = ra[i] if i < len(ra) else 1
            y = rb[i] if i < len(rb) else 1
            if x != y and x != 1 and y != 1:
                dim = max(len(sa), len(sb)) - 1 - i
                return RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b "
                                    f"({y}) at non-singleton dimension {dim}")
            merged.append(x if y == 1 else y)
        sa = tuple(reversed(merged))
    return RuntimeError(f"shapes {[list(s) for s in shapes]} cannot be broadcast")


def shape_of(x) -> tuple:
    return tuple(x._data.shape) if isinstance(x, Tensor) else ()


def dims_arg(dim, ndim: int) -> tuple:
    """Reduction dims, wrapped and sorted; None and an empty list mean all dims (as in torch)."""
    if dim is None or isinstance(dim, (list, tuple)) and len(dim) == 0:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        wrapped = [_wrap_dim(d, ndim) for d in dim]
        for d in wrapped:
            if wrapped.count(d) > 1:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        return tuple(sorted(wrapped))
    return (_wrap_dim(dim, ndim),)
