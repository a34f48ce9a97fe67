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


def _widened(fn, d):
    """``fn(d)`` for a row-wise formula: half precision is computed in float32 and rounded
    once, as torch's kernels accumulate it; a 0-d tensor is a row of one."""
    shape = d.shape
    if d.ndim == 0:
        d = d.reshape(1)
    if d.dtype.itemsize == 2:
        return fn(d.astype(_FLOAT32)).astype(d.dtype).reshape(shape)
    return fn(d).reshape(shape)


class SoftmaxBackward0(FormulaNode):
    def rule(self, F, g, y):
        if F.arrays and g.dtype.itemsize == 2:  # half: in float32, as torch computes it
            g32, y32 = g.astype(_FLOAT32), y.astype(_FLOAT32)
            return ((y32 * (g32 - F.sum(g32 * y32, self.dim, True))).astype(g.dtype),)
        return (y * (g - F.sum(g * y, self.dim, True)),)


def softmax(x: Tensor, dim=None, dtype=None) -> Tensor:
    d, k = _prepare(x, dim, dtype)
    xp = x._backend.xp
    if d.size == 0:
        out = wrap(d.copy(), x._backend)
    else:
        def fn(a):
            e = xp.exp(a - a.max(axis=k, keepdims=True))
            return e / e.sum(axis=k, keepdims=True)

        out = wrap(quietly(_widened, fn, d), x._backend)  # a row of -inf gives nan, silently
    return record(SoftmaxBackward0, out, (x,), save=(out,), dim=k)


class LogSoftmaxBackward0(FormulaNode):
    def rule(self, F, g, y):
        if F.arrays and g.dtype.itemsize == 2:  # half: in float32, as torch computes it
            g32, y32 = g.astype(_FLOAT32), y.astype(_FLOAT32)
            return ((g32 - F.exp(y32) * F.sum(g32, self.dim, True)).astype(g.dtype),)
        return (g - F.exp(y) * F.sum(g, self.dim, True),)


def log_softmax(x: Tensor, dim=None, dtype=None) -> Tensor:
    d, k = _prepare(x, dim, dtype, "log_softmax")
    xp = x._backend.xp
    if d.size == 0:
        out = wrap(d.copy(), x._backend)
    else:
        def fn(a):
            shifted = a - a.max(axis=k, keepdims=True)
            return shifted - xp.log(xp.exp(shifted).sum(axis=k, keepdims=True))

        out = wrap(quietly(_widened, fn, d), x._backend)
    return record(LogSoftmaxBackward0, out, (x,), save=(out,), dim=k)


_FLOAT32 = dtypes.float32.np
