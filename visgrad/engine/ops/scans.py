"""Running totals and soft maxima along a dim: cumsum and logsumexp.

cumsum's gradient is the running total of the gradient taken from the other end; logsumexp's
is the softmax of its input times the gradient. Both are written with ops, so they
differentiate again under ``create_graph``.
"""

from __future__ import annotations

from visgrad.engine import dtypes
from visgrad.engine.ops._common import Node, dims_arg, float_dtype_for, quietly, record, wrap
from visgrad.engine.ops.pointwise import exp
from visgrad.engine.ops.rearranging import flip
from visgrad.engine.ops.reductions import _check_0d
from visgrad.engine.ops.shape import unsqueeze
from visgrad.engine.tensor import _wrap_dim

_INT64 = dtypes.int64.np


class CumsumBackward0(Node):
    saved_attributes = {"dim": "dim"}

    def backward(self, g):
        if g._data.ndim == 0:
            return (g,)
        return (flip(cumsum(flip(g, self.dim), self.dim), self.dim),)


def cumsum(x, dim, *, dtype=None):
    """The running sum along ``dim`` (ints and bools add up in int64, as in torch)."""
    d = x._data
    axis = _wrap_dim(dim, max(d.ndim, 1))
    if dtype is not None:
        target = dtypes.as_dtype(dtype).np
    else:
        target = _INT64 if d.dtype.kind in "biu" else d.dtype
    if d.ndim == 0:
        out = d.astype(target)
    else:
        out = quietly(lambda a: x._backend.xp.cumsum(a, axis=axis, dtype=target), d)
    return record(CumsumBackward0, wrap(out, x._backend), (x,), dim=axis)


class LogsumexpBackward0(Node):
    saved_names = ("self", "result")
    saved_attributes = {"dim": "dims", "keepdim": "keepdim"}

    def backward(self, g):
        x, result = self.saved_tensors
        if not self.keepdim:
            for d in self.dims:
                g, result = unsqueeze(g, d), unsqueeze(result, d)
        return (g * exp(x - result),)


def logsumexp(x, dim, keepdim=False):
    """log Σ exp(x) over ``dim``, without overflow (the maximum is taken out first; an
    infinite maximum is left in, so that -inf rows give -inf and +inf give +inf)."""
    d = x._data
    dims = dims_arg(dim, d.ndim) if d.ndim else _check_0d(dim)
    xp = x._backend.xp
    dtype = float_dtype_for(d.dtype)

    def compute(data):
        wide = data.astype(dtypes.float32.np if dtype.itemsize == 2 else dtype)
        if wide.ndim == 0 or not dims:
            return wide.astype(dtype)
        top = wide.max(axis=dims, keepdims=True) if wide.size else xp.zeros(
            [1 if k in dims else n for k, n in enumerate(wide.shape)], dtype=wide.dtype)
        shift = xp.where(xp.isinf(top), 0, top)
        out = xp.log(xp.exp(wide - shift).sum(axis=dims, keepdims=True)) + shift
        if not keepdim:
            out = out.reshape([n for k, n in enumerate(out.shape) if k not in dims])
        return out.astype(dtype)

    out = wrap(quietly(compute, d), x._backend)
    return record(LogsumexpBackward0, out, (x,), save=(x, out), dims=dims, keepdim=keepdim)


__all__ = ["cumsum", "logsumexp"]
