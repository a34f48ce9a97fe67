"""softmax and log_softmax, computed stably (max subtracted) with torch's backward formulas."""

from __future__ import annotations

from visgrad.engine import dtypes
from visgrad.engine.autograd import FormulaNode
from visgrad.engine.ops._common import Tensor, float_dtype_for, quiet, record, wrap
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


class SoftmaxBackward0(FormulaNode):
    def rule(self, F, g, y):
        return (y * (g - F.sum(g * y, self.dim, True)),)


def softmax(x: Tensor, dim=None, dtype=None) -> Tensor:
    d, k = _prepare(x, dim, dtype)
    xp = x._backend.xp
    if d.ndim == 0:
        out = wrap(xp.ones_like(d), x._backend)
    elif d.size == 0:
        out = wrap(d.copy(), x._backend)
    else:
        with quiet(xp):  # a row of -inf gives nan, silently
            e = xp.exp(d - d.max(axis=k, keepdims=True))
            out = wrap(e / e.sum(axis=k, keepdims=True), x._backend)
    return record(SoftmaxBackward0, out, (x,), save=(out,), dim=k)


class LogSoftmaxBackward0(FormulaNode):
    def rule(self, F, g, y):
        return (g - F.exp(y) * F.sum(g, self.dim, True),)


def log_softmax(x: Tensor, dim=None, dtype=None) -> Tensor:
    d, k = _prepare(x, dim, dtype, "log_softmax")
    xp = x._backend.xp
    if d.ndim == 0:
        out = wrap(xp.zeros_like(d), x._backend)
    elif d.size == 0:
        out = wrap(d.copy(), x._backend)
    else:
        with quiet(xp):
            shifted = d - d.max(axis=k, keepdims=True)
            out = wrap(shifted - xp.log(xp.exp(shifted).sum(axis=k, keepdims=True)), x._backend)
    return record(LogSoftmaxBackward0, out, (x,), save=(out,), dim=k)
