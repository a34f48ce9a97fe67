"""Indexing, read and write, applied the way torch applies it so grad_fns match torch's.

``x[0, 1:]`` is a select then a slice (SliceBackward0 whose input is SelectBackward0); integer
arrays and boolean masks go through one IndexBackward0; ``x[i] = v`` is CopySlices.
"""

from __future__ import annotations

from visgrad.engine import grad_mode
from visgrad.engine.ops._common import Node, Tensor, operand, record, wrap
from visgrad.engine.tensor import _wrap_dim


def _view_of(x: Tensor, data) -> Tensor:
    out = wrap(data, x._backend)
    out._vc = x._vc
    return out


class _IndexedBackward(Node):
    """Put the gradient of a part back at its place in a zero tensor of the input's shape."""

    def backward(self, g):
        return (scatter_into(g, self.shape, self.index, self.accumulate),)


class SelectBackward0(_IndexedBackward):
    accumulate = False


class SliceBackward0(_IndexedBackward):
    accumulate = False


class IndexBackward0(_IndexedBackward):
    accumulate = True


class IndexPutBackward0(Node):
    def backward(self, g):
        return (g[self.index_key],)


def scatter_into(g: Tensor, shape, index, accumulate: bool) -> Tensor:
    """zeros(shape) with ``g`` written (or added, for repeated advanced indices) at ``index``."""
    xp = g._backend.xp
    data = xp.zeros(shape, dtype=g._data.dtype)
    if accumulate:
        g._backend.scatter_add(data, index, g._data)
    else:
        data[index] = g._data
    return record(IndexPutBackward0, wrap(data, g._backend), (g,), index_key=_Raw(index))


class _Raw:
    """An index already in backend form (used by gradient-of-gradient)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def select(x: Tensor, dim: int, index: int) -> Tensor:
    n = x._data.ndim
    if n == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, n)
    size = x._data.shape[d]
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of bounds for dimension {d} with size {size}")
    key = (slice(None),) * d + (index % size,)
    return record(SelectBackward0, _view_of(x, x._data[key]), (x,),
                  shape=tuple(x._data.shape), index=key)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = _wrap_dim(dim, x._data.ndim)
    return _slice(x, d, slice(start, start + length, 1))


def _slice(x: Tensor, d: int, s: slice) -> Tensor:
    if s.step is not None and s.step <= 0:
        raise ValueError("step must be greater than zero")
    key = (slice(None),) * d + (s,)
    return record(SliceBackward0, _view_of(x, x._data[key]), (x,),
                  shape=tuple(x._data.shape), index=key)


def _is_advanced(i) -> bool:
    return isinstance(i, (list, Tensor)) or hasattr(i, "__array_interface__") or (
        isinstance(i, tuple))


def _to_backend_index(x: Tensor, i):
    if isinstance(i, Tensor):
        if i._backend is not x._backend:
            raise RuntimeError("indices should be either on cpu or on the same device as the "
                               "indexed tensor")
        return i._data
    return x._backend.asarray(i)


def getitem(x: Tensor, key) -> Tensor:
    if isinstance(key, _Raw):
        return record(IndexBackward0, wrap(x._data[key.index], x._backend), (x,),
                      shape=tuple(x._data.shape), index=key.index)
    single = not isinstance(key, tuple)
    items = (key,) if single else key
    items = tuple(int(i.item()) if isinstance(i, Tensor) and i._data.ndim == 0 and
                  i._data.dtype.kind in "iu" else i for i in items)
    consumed = sum(
        (i._data.ndim if isinstance(i, Tensor) and i._data.dtype.kind == "b" else 1)
        for i in items if i is not None and i is not Ellipsis)
    if consumed > x._data.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x._data.ndim}")
    out, dim, advanced = x, 0, []
    for i in items:
        if i is None:
            out = out.unsqueeze(dim)
            dim += 1
        elif i is Ellipsis:
            dim += x._data.ndim - consumed
        elif isinstance(i, bool):
            out = out.unsqueeze(dim)
            if not i:
                out = _slice(out, dim, slice(0, 0, 1))
            dim += 1
        elif isinstance(i, int) or hasattr(i, "__index__") and not _is_advanced(i):
            out = select(out, dim, int(i))
        elif isinstance(i, slice):
            size = out._data.shape[dim]
            start, stop, step = i.indices(size) if (i.step or 1) > 0 else (0, 0, 1)
            if i.step is not None and i.step <= 0:
                raise ValueError("step must be greater than zero")
            if single or (start, stop, step) != (0, size, 1):
                out = _slice(out, dim, i)
            dim += 1
        elif _is_advanced(i):
            idx = _to_backend_index(x, i)
            advanced.append((dim, idx))
            dim += idx.ndim if idx.dtype.kind == "b" else 1
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or "
                             "byte Variables are valid indices (got "
                             f"{type(i).__name__})")
    if not advanced:
        return out
    index, pos = [], 0
    for d, idx in advanced:
        index.extend([slice(None)] * (d - pos))
        index.append(idx)
        pos = d + (idx.ndim if idx.dtype.kind == "b" else 1)
    index = tuple(index)
    try:
        data = out._data[index]
    except IndexError as exc:
        raise IndexError(str(exc).replace("axis", "dimension")) from None
    return record(IndexBackward0, wrap(data, x._backend), (out,),
                  shape=tuple(out._data.shape), index=index)


# ---- writing: x[key] = value ---------------------------------------------------------------

def _numpy_key(x: Tensor, key):
    items = key if isinstance(key, tuple) else (key,)
    return tuple(_to_backend_index(x, i) if _is_advanced(i) else
                 (int(i) if isinstance(i, Tensor) else i) for i in items)


class CopySlices(Node):
    def name(self) -> str:
        return "torch::autograd::CopySlices"

    def backward(self, g):
        gx = gv = None
        if self.next_functions[0][0] is not None:
            from visgrad.engine.ops.pointwise import where  # noqa: PLC0415

            gx = where(self.mask, 0.0, g)
        if self.next_functions[1][0] is not None:
            gv = g[_Raw(self.index)]
        return gx, gv


def setitem(x: Tensor, key, value) -> None:
    from visgrad.engine.ops.inplace import check_inplace, snapshot  # noqa: PLC0415

    value = operand(value)
    index = _numpy_key(x, key)
    value_requires = isinstance(value, Tensor) and value._requires_grad
    recording = grad_mode.is_grad_enabled() and (x._requires_grad or value_requires)
    check_inplace(x)
    src = snapshot(x) if recording else None
    vdata = value._data if isinstance(value, Tensor) else value
    try:
        x._data[index] = vdata.astype(x._data.dtype) if isinstance(value, Tensor) else vdata
    except (ValueError, IndexError) as exc:
        raise RuntimeError(str(exc)) from None
    x._vc[0] += 1
    if recording:
        xp = x._backend.xp
        mask = xp.zeros(x._data.shape, dtype=bool)
        mask[index] = True
        node_out = wrap(x._data, x._backend)
        record(CopySlices, node_out, (src, value if isinstance(value, Tensor) else None),
               mask=wrap(mask, x._backend), index=index)
        x._grad_fn = node_out._grad_fn
        x._output_nr = 0
        x._requires_grad = True
