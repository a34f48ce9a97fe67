"""softmax and log_softmax, computed stably (max subtracted) with torch's backward formulas."""

from __future__ import annotations

from visgrad.engine import dtypes
from visgrad.engine.autograd import FormulaNode
from visgrad.engine.ops._common import Tensor, float_dtype_for, quietly, record, wrap
from visgrad.engine.tensor import _wrap_dim


def _prepare(x: Tensor, dim, dtype, name="softmax"):
    if dim is None:
        raise TypeError(f'{name}() missing 1 required positional arguments: "dim"')
    d = x._data
    k = _wrap_dim(dim, d.ndim) if d.ndim else _wrap_dim(dim, 0) * 0
    if dtype is None and d.dtype.kind != "f" and d.size:  # torch has no integer kernels
        from visgrad.engine.tensor import _SCALAR_NAME  # noqa: PLC0415

        kernel = f"{name}_lastdim_kernel_impl" if k == max(d.ndim - 1, 0) else f"{name}_kernel_impl"
        type_name = _SCALAR_NAME[str(d.dtype)]
        raise NotImplementedError(f'"{kernel}" not implemented for \'{type_name}\'')
    if d.size == 0 and dtype is None:  # nothing to compute: torch keeps the dtype
        return d, k
    dt = dtypes.as_dtype(dtype).np if dtype is not None else float_dtype_for(d.dtype)
    if d.dtype != dt:
        d = d.astype(dt)
    return d, k


def _widened(d):
    """The rows to normalise: half precision in float32, as torch's kernels accumulate it
    (``_narrowed`` rounds once at the end); a 0-d tensor is a row of one."""
    if d.ndim == 0:
        d = d.reshape(1)
    return d.astype(_FLOAT32) if d.dtype.itemsize == 2 else d


def _narrowed(out, d):
    """``out`` back in ``d``'s dtype and shape."""
    if out.dtype != d.dtype:
        out = out.astype(d.dtype)
    return out.reshape(()) if d.ndim == 0 else out


def _softmax_of(d, k: int, xp):
    a = _widened(d)
    e = xp.exp(a - a.max(axis=k, keepdims=True))
    e /= e.sum(axis=k, keepdims=True)
    return _narrowed(e, d)


def _log_softmax_of(d, k: int, xp):
    a = _widened(d)
    shifted = a - a.max(axis=k, keepdims=True)
    total = xp.exp(shifted).sum(axis=k, keepdims=True)
    if d.dtype.itemsize == 2 and k == d.ndim - 1:
        # half along the last dim: torch's kernel keeps the sum of exponentials, then its
        # log, in half between its float32 steps (bit for bit on rows of 8 to 300)
        total = total.astype(d.dtype).astype(_FLOAT32)
        shifted -= xp.log(total).astype(d.dtype)
    else:
        shifted -= xp.log(total, out=total)
    return _narrowed(shifted, d)


class SoftmaxBackward0(FormulaNode):
    saved_names = ("result",)
    saved_attributes = {"dim": "dim"}

    def rule(self, F, g, y):
        if F.arrays and g.dtype.itemsize == 2:  # half: in float32, as torch computes it
            g32, y32 = g.astype(_FLOAT32), y.astype(_FLOAT32)
            return ((y32 * (g32 - F.sum(g32 * y32, self.dim, True))).astype(g.dtype),)
        return (y * (g - F.sum(g * y, self.dim, True)),)


def softmax(x: Tensor, dim=None, dtype=None) -> Tensor:
    d, k = _prepare(x, dim, dtype)
    if d.size == 0:
        out = wrap(d.copy(), x._backend)
    else:  # a row of -inf gives nan, silently
        out = wrap(quietly(_softmax_of, d, k, x._backend.xp), x._backend)
    return record(SoftmaxBackward0, out, (x,), save=(out,), dim=k)


class LogSoftmaxBackward0(FormulaNode):
    saved_names = ("result",)
    saved_attributes = {"dim": "dim"}

    def rule(self, F, g, y):
        if F.arrays and g.dtype.itemsize == 2:  # half: in float32, as torch computes it
            g32, y32 = g.astype(_FLOAT32), y.astype(_FLOAT32)
            return ((g32 - F.exp(y32) * F.sum(g32, self.dim, True)).astype(g.dtype),)
        return (g - F.exp(y) * F.sum(g, self.dim, True),)


def log_softmax(x: Tensor, dim=None, dtype=None) -> Tensor:
    d, k = _prepare(x, dim, dtype, "log_softmax")
    if d.size == 0:
        out = wrap(d.copy(), x._backend)
    else:
        out = wrap(quietly(_log_softmax_of, d, k, x._backend.xp), x._backend)
    return record(LogSoftmaxBackward0, out, (x,), save=(out,), dim=k)


_FLOAT32 = dtypes.float32.np
