"""gather, scatter and scatter_add (and scatter_, scatter_add_): reading and writing along one
dim at positions an index tensor gives, with torch's checks and nodes.

Each one's gradient is the other's forward: gather's is a scatter_add of the gradient into
zeros, scatter's and scatter_add's reach their ``src`` by a gather. Written with these ops,
the rules differentiate again under ``create_graph``.
"""

from __future__ import annotations

from visgrad.engine.ops import inplace
from visgrad.engine.ops._common import Node, Tensor, record, wrap
from visgrad.engine.tensor import _wrap_dim


def _positions(xp, index, dim: int) -> tuple:
    """The full advanced index of ``index``'s elements: its values along ``dim``, their own
    coordinates along the other dims."""
    grids = []
    for axis, size in enumerate(index.shape):
        if axis == dim:
            grids.append(index)
        else:
            shape = [1] * index.ndim
            shape[axis] = size
            grids.append(xp.arange(size).reshape(shape))
    return tuple(grids)


def _checked_index(name: str, target: Tensor, dim, index, src: Tensor | None = None):
    """dim wrapped, and index's array, after torch's checks (as 1-d views of 0-d tensors)."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not "
                        f"{type(index).__name__}")
    data, idx = target._data, index._data
    if idx.dtype.kind not in "iu" or idx.dtype.itemsize not in (4, 8):
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")
    dim = _wrap_dim(dim, max(data.ndim, 1))
    if idx.ndim != data.ndim and idx.size and data.ndim:
        what = "input" if name == "gather" else "self"
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {what} "
                           "tensor")
    shape, ishape = (data.shape or (1,)), (idx.shape or (1,))
    if src is not None and idx.size:
        sshape = src._data.shape or (1,)
        if any(ishape[d] > sshape[d] for d in range(len(ishape))) or any(
                ishape[d] > shape[d] for d in range(len(ishape)) if d != dim):
            raise RuntimeError(f"Expected index {list(ishape)} to be no larger than self "
                               f"{list(shape)} apart from dimension {dim} and to be no larger "
                               f"size than src {list(sshape)}")
    elif idx.size:
        for d in range(len(ishape)):
            if d != dim and ishape[d] > shape[d]:
                raise RuntimeError(f"Size does not match at dimension {d} expected index "
                                   f"{list(ishape)} to be no larger than self {list(shape)} "
                                   f"apart from dimension {dim}")
    flat = idx.reshape(-1)
    bad = (flat < 0) | (flat >= shape[dim])
    if bool(bad.any()):
        value = int(flat[bad.argmax()])
        raise RuntimeError(f"index {value} is out of bounds for dimension {dim} with size "
                           f"{shape[dim]}")
    return dim, idx.reshape(ishape)


class GatherBackward0(Node):
    saved_names = ("self",)
    saved_attributes = {"dim": "dim", "index": "index"}

    def backward(self, g):
        (x,) = self.saved_tensors
        zeros = wrap(x._backend.xp.zeros(x._data.shape, dtype=g._data.dtype), x._backend)
        return (scatter_add(zeros, self.dim, self.index, g),)


def gather(x, dim, index, *, sparse_grad=False):
    """out[i][j] = x[i][index[i][j]] for dim 1 (and so on for other dims)."""
    dim, idx = _checked_index("gather", x, dim, index)
    xp = x._backend.xp
    data = x._data.reshape(x._data.shape or (1,))
    out = wrap(data[_positions(xp, idx, dim)].reshape(index._data.shape), x._backend)
    return record(GatherBackward0, out, (x,), save=(x,), dim=dim, index=index)


def _written(x, dim, index, values, add: bool):
    """x's array with ``values`` (an array of index's shape, or a number) written or added
    at the positions ``index`` gives along ``dim``."""
    xp = x._backend.xp
    data = x._data.reshape(x._data.shape or (1,)).copy()
    positions = _positions(xp, index, dim)
    if add:
        x._backend.scatter_add(data, positions, values)
    else:
        data[positions] = values
    return data.reshape(x._data.shape)


def _source_values(src, index):
    """The part of ``src``'s array that index's elements take: its leading corner."""
    data = src._data.reshape(src._data.shape or (1,))
    return data[tuple(slice(0, size) for size in index.shape)]


class ScatterBackward0(Node):  # scatter(dim, index, src)
    def backward(self, g):
        return (scatter(g, self.dim, self.index, 0.0), gather(g, self.dim, self.index))


class ScatterBackward1(Node):  # scatter(dim, index, value)
    def backward(self, g):
        return (scatter(g, self.dim, self.index, 0.0),)


def scatter(x, dim, index, src=None, *, value=None):
    """A copy of x with ``src``'s elements (or the number ``value``) written at the positions
    ``index`` gives along ``dim``; where an index repeats, the last write stays."""
    if src is None:
        src = value
    if not isinstance(src, Tensor):
        dim, idx = _checked_index("scatter", x, dim, index)
        number = x._data.dtype.type(src)
        out = wrap(_written(x, dim, idx, number, add=False), x._backend)
        return record(ScatterBackward1, out, (x,), dim=dim, index=index)
    dim, idx = _checked_index("scatter", x, dim, index, src)
    if src._data.dtype != x._data.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    out = wrap(_written(x, dim, idx, _source_values(src, idx), add=False), x._backend)
    return record(ScatterBackward0, out, (x, src), dim=dim, index=index)


class ScatterAddBackward0(Node):
    def backward(self, g):
        return (g, gather(g, self.dim, self.index))


def scatter_add(x, dim, index, src):
    """A copy of x with ``src``'s elements added at the positions ``index`` gives along
    ``dim`` (repeated positions add up)."""
    if not isinstance(src, Tensor):
        raise TypeError("scatter_add(): argument 'src' (position 3) must be Tensor, not "
                        f"{type(src).__name__}")
    dim, idx = _checked_index("scatter_add", x, dim, index, src)
    if src._data.dtype != x._data.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    out = wrap(_written(x, dim, idx, _source_values(src, idx), add=True), x._backend)
    return record(ScatterAddBackward0, out, (x, src), dim=dim, index=index)


def scatter_(x, dim, index, src=None, *, value=None):
    source = src if src is not None else value
    return inplace.apply_inplace(x, lambda t: scatter(t, dim, index, source), source)


def scatter_add_(x, dim, index, src):
    return inplace.apply_inplace(x, lambda t: scatter_add(t, dim, index, src), src)


__all__ = ["gather", "scatter", "scatter_", "scatter_add", "scatter_add_"]
