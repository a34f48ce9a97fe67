"""sort, argsort and topk: values in order along a dim, and where they came from.

Ties keep their order (a stable sort, as torch's CPU sort gives them), and the gradient of
the values goes back to the positions the indices name (a scatter into zeros, so that it
differentiates again under ``create_graph``).
"""

from __future__ import annotations

from visgrad.engine import dtypes
from visgrad.engine.ops._common import Node, Tensor, record, wrap
from visgrad.engine.ops.gathering import scatter
from visgrad.engine.ops.reductions import return_types
from visgrad.engine.tensor import _wrap_dim

_INT64 = dtypes.int64.np


class _ToIndices(Node):
    def backward(self, g):
        if not self.shape:  # a 0-d input is its own sorted self
            return (g,)
        zeros = wrap(g._backend.xp.zeros(self.shape, dtype=g._data.dtype), g._backend)
        return (scatter(zeros, self.dim, self.indices, g),)


class SortBackward0(_ToIndices):
    pass


class TopkBackward0(_ToIndices):
    pass


def _order(x: Tensor, dim: int, descending: bool):
    """The indices that sort x along dim (stable), as int64."""
    d = x._data
    xp = x._backend.xp
    if not descending:
        return xp.argsort(d, axis=dim, kind="stable").astype(_INT64)
    # stable descending: ascending of the negation keeps ties in order; nan first, as in torch
    if d.dtype.kind == "f":
        return xp.lexsort((-d, ~xp.isnan(d)), axis=dim).astype(_INT64)
    keys = ~d if d.dtype.kind == "b" else -d if d.dtype.kind == "i" else d.max() - d
    return xp.argsort(keys, axis=dim, kind="stable").astype(_INT64)


def sort(x, dim=-1, descending=False, stable=False):
    """(values, indices) of x sorted along ``dim``."""
    d = x._data
    if d.ndim == 0:
        _wrap_dim(dim, 1)
        values = wrap(d.copy(), x._backend)
        indices = wrap(x._backend.xp.zeros((), dtype=_INT64), x._backend)
    else:
        dim = _wrap_dim(dim, d.ndim)
        order = _order(x, dim, descending)
        values = wrap(x._backend.xp.take_along_axis(d, order, axis=dim), x._backend)
        indices = wrap(order, x._backend)
    values = record(SortBackward0, values, (x,), dim=dim, indices=indices, shape=d.shape)
    return return_types.sort(values, indices)


def argsort(x, dim=-1, descending=False, stable=False):
    return sort(x, dim, descending, stable).indices


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's name
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""
    d = x._data
    axis = _wrap_dim(dim, max(d.ndim, 1))
    size = d.shape[axis] if d.ndim else 1  # a 0-d tensor has one element to choose
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    values, indices = sort(x.detach(), axis, descending=largest)
    if d.ndim:
        keep = tuple(slice(0, k) if a == axis else slice(None) for a in range(d.ndim))
        values = wrap(values._data[keep], x._backend)
        indices = wrap(indices._data[keep], x._backend)
    else:
        values = wrap(d.copy(), x._backend)
    values = record(TopkBackward0, values, (x,), dim=axis, indices=indices, shape=d.shape)
    return return_types.topk(values, indices)


__all__ = ["argsort", "sort", "topk"]
