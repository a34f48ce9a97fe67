"""Indexing, read and write, applied the way torch applies it so grad_fns match torch's.

``x[0, 1:]`` is a select then a slice (SliceBackward0 whose input is SelectBackward0); integer
arrays and boolean masks go through one IndexBackward0; ``x[i] = v`` is CopySlices.
"""

from __future__ import annotations

import warnings

from visgrad.engine import dtypes, grad_mode
from visgrad.engine.autograd import FormulaNode, make_view
from visgrad.engine.backend import overlaps_itself
from visgrad.engine.ops._common import Node, Tensor, operand, record, tensor_or_none, wrap
from visgrad.engine.tensor import _wrap_dim


_view_of = make_view


class _IndexedBackward(FormulaNode):
    """Put the gradient of a part back at its place in a zero tensor of the input's shape
    (on raw arrays in a plain backward pass; as IndexPutBackward0 under create_graph)."""

    def rule(self, F, g):  # noqa: N803 - a namespace
        return (F.scatter(g, self.shape, self.index, self.accumulate),)


class SelectBackward0(_IndexedBackward):
    accumulate = False


class SliceBackward0(_IndexedBackward):
    accumulate = False


class IndexBackward0(_IndexedBackward):
    accumulate = True


class IndexPutBackward0(Node):
    """``self[index] = values`` (or ``+=`` when accumulating): edges (self, values)."""

    mask = None

    def backward(self, g):
        gx = gv = None
        if self.next_functions[0][0] is not None:
            gx = g if self.mask is None else _zero_where(self.mask, g)
        if self.next_functions[1][0] is not None:
            gv = g[_Raw(self.index)]
        return gx, gv


def _zero_where(mask: Tensor, g: Tensor) -> Tensor:
    from visgrad.engine.ops.pointwise import where  # noqa: PLC0415

    return where(mask, 0.0, g)


def scatter_into(g: Tensor, shape, index, accumulate: bool) -> Tensor:
    """zeros(shape) with ``g`` written (or added, for repeated advanced indices) at ``index``."""
    xp = g._backend.xp
    data = xp.zeros(shape, dtype=g._data.dtype)
    if accumulate:
        g._backend.scatter_add(data, index, g._data)
    else:
        data[index] = g._data
    return record(IndexPutBackward0, wrap(data, g._backend), (None, g), index=index)


class _Raw:
    """An index already in backend form (used by gradient-of-gradient)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def select(x: Tensor, dim: int, index: int, *, real_dim: int | None = None) -> Tensor:
    """``x.select(dim, index)``; indexing passes the dim of the indexed tensor for its message."""
    n = x._data.ndim
    if n == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, n)
    size = x._data.shape[d]
    if not -size <= index < size:
        if real_dim is not None:
            raise IndexError(f"index {index} is out of bounds for dimension {real_dim} with size "
                             f"{size}")
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(x._data.shape)} at dimension {d}")
    # the trailing Ellipsis keeps a view when the index takes the last dim: numpy would
    # hand back one element as a scalar, a copy, where torch's select() is a view
    key = (slice(None),) * d + (index % size, Ellipsis)
    return record(SelectBackward0, _view_of(x, x._data[key]), (x,),
                  shape=tuple(x._data.shape), index=key)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    if x._data.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, x._data.ndim)
    size = x._data.shape[d]
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but "
                         f"got {start})")
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    start = start % size if start < 0 else start
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return _slice(x, d, slice(start, start + length, 1))


class AliasBackward0(Node):
    def backward(self, g):
        return (g,)


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
        data = i._data
    else:
        data = x._backend.asarray(i)
    kind, size = data.dtype.kind, data.dtype.itemsize
    if kind == "u" and size == 1:  # torch reads a byte tensor as a mask
        warnings.warn("indexing with dtype torch.uint8 is now deprecated, please use a dtype "
                      "torch.bool instead.", UserWarning, stacklevel=4)
        return data.astype(bool)
    if not (kind == "b" or kind == "i" and size >= 4 or kind == "f" and data.size == 0):
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if kind == "f":  # an empty list
        data = data.astype(_INDEX_DTYPE)
    return data


def _mask_dims(i) -> int:
    """How many dims of the indexed tensor an index takes: a mask (bool, or byte as torch
    reads it) as many as it has, anything else one."""
    if isinstance(i, Tensor) and i._data.dtype.kind in "bu" and i._data.dtype.itemsize == 1:
        return i._data.ndim
    return 1


_INDEX_DTYPE = "int64"
_INTEGER_INDEX = frozenset((dtypes.int32.np, dtypes.int64.np))


def _check_mask(mask, shape: tuple, dim: int) -> None:
    for j, size in enumerate(mask.shape):
        if dim + j >= len(shape) or shape[dim + j] != size:
            raise IndexError(f"The shape of the mask {list(mask.shape)} at index {j} does not "
                             f"match the shape of the indexed tensor {list(shape)} at index "
                             f"{dim + j}")


def _check_bounds(advanced: list, shape: tuple) -> None:
    """Integer indices within their dims, checked as torch does (and as CuPy would not)."""
    k = 0  # torch names a bad index by the rank of its index tensor among the index tensors
    for d, idx in advanced:
        if idx.dtype.kind == "b":
            k += idx.ndim
            continue
        size = shape[d]
        bad = (idx >= size) | (idx < -size)
        if idx.size and bool(bad.any()):
            if not size:  # torch's message for an empty dim names neither index nor dim
                raise IndexError("index is out of bounds for dimension with size 0")
            value = int(idx.reshape(-1)[bad.reshape(-1).argmax()])
            raise IndexError(f"index {value} is out of bounds for dimension {k} with size {size}")
        k += 1


def _take(data, index: tuple, advanced: list | None, backend):
    """``data[index]``, refusing out-of-range integers with torch's message. numpy checks the
    bounds itself, so the message is worked out only when it refuses; other backends (CuPy
    does not check) are checked first. ``advanced`` lists (dim, index array) pairs; None when
    the index is integer arrays only, one per leading dim."""
    if backend.name == "numpy":
        try:
            return data[index]
        except IndexError:  # torch looks at the shapes before the values
            _check_index(data, index, advanced)
            raise
    _check_index(data, index, advanced)
    return data[index]


def _check_index(data, index: tuple, advanced: list | None) -> None:
    advanced = list(enumerate(index)) if advanced is None else advanced
    _check_broadcast(advanced)
    _check_bounds(advanced, tuple(data.shape))


def _check_broadcast(advanced: list) -> None:
    """torch's message for index tensors whose shapes do not broadcast (a mask counts as one
    index per dim, each as long as the mask has true elements)."""
    shapes = []
    for _, idx in advanced:
        if idx.dtype.kind == "b":
            shapes += [(int(idx.sum()),)] * idx.ndim
        else:
            shapes.append(tuple(idx.shape))
    merged: list[int] = []
    for shape in shapes:
        for k, size in enumerate(reversed(shape)):
            if k == len(merged):
                merged.append(size)
            elif merged[k] == 1:
                merged[k] = size
            elif size not in (1, merged[k]):
                listed = ", ".join("[" + ", ".join(map(str, s)) + "]" for s in shapes)
                raise IndexError("shape mismatch: indexing tensors could not be broadcast "
                                 f"together with shapes {listed}")


def _gather(x: Tensor, items: tuple) -> Tensor:
    """``x[i]``, ``x[i, j]``...: integer index tensors only, one per leading dim (the pick of
    each row's label in a loss), without the general walk over the key."""
    backend = x._backend
    for i in items:
        if i._backend is not backend:
            raise RuntimeError("indices should be either on cpu or on the same device as the "
                               "indexed tensor")
    index = tuple(i._data for i in items)
    data = _take(x._data, index, None, backend)
    return record(IndexBackward0, wrap(data, backend), (x,), shape=x._data.shape, index=index)


def _integer_tensor(i) -> bool:
    return i.__class__ is Tensor and i._data.ndim > 0 and i._data.dtype in _INTEGER_INDEX


def _whole_as_written(s: slice, size: int) -> bool:
    """Whether torch skips slice ``s`` of a dim of ``size``: from 0 (or nothing) to the end or
    past it, step 1, as written (``x[-3:]`` of three rows is still a slice)."""
    return (s.start is None or s.start == 0) and (s.step is None or s.step == 1) and \
        (s.stop is None or s.stop >= size)


def _past_the_last_dim(x: Tensor, out: Tensor, i, dim: int, position: int) -> None:
    """An index that lands past the last dim (only several ellipses get it there): torch's
    error for each kind, or nothing for a whole slice, which torch skips."""
    if isinstance(i, slice):
        if _whole_as_written(i, 0):
            return
        n = out._data.ndim
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    if isinstance(i, int) or hasattr(i, "__index__") and not _is_advanced(i):
        raise IndexError(f"index {int(i)} is out of bounds for dimension {position} with "
                         "size 0")
    raise IndexError(f"too many indices for tensor of dimension {x._data.ndim} "
                     f"(got {dim + _mask_dims(i)})")


def getitem(x: Tensor, key) -> Tensor:
    if key.__class__ is tuple:
        if 0 < len(key) <= x._data.ndim:
            for i in key:  # a loop: all() of a generator costs a microsecond here
                if i.__class__ is not Tensor or not i._data.ndim or \
                        i._data.dtype not in _INTEGER_INDEX:
                    break
            else:
                return _gather(x, key)
    elif _integer_tensor(key) and x._data.ndim:
        return _gather(x, (key,))
    if isinstance(key, _Raw):
        return record(IndexBackward0, wrap(x._data[key.index], x._backend), (x,),
                      shape=tuple(x._data.shape), index=key.index)
    single = not isinstance(key, tuple)
    items = (key,) if single else key
    if x._data.ndim == 0 and single and isinstance(key, slice):
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    if x._data.ndim == 0 and any(isinstance(i, int) and not isinstance(i, bool) or
                                 isinstance(i, Tensor) and i._data.dtype.kind in "iu"
                                 for i in items):
        raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                         "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
    items = tuple(int(i.item()) if isinstance(i, Tensor) and i._data.ndim == 0 and
                  i._data.dtype.kind in "iu" else i for i in items)
    consumed = sum(
        _mask_dims(i)
        for i in items if i is not None and i is not Ellipsis and not isinstance(i, bool))
    if consumed > x._data.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x._data.ndim}")
    out, dim, advanced = x, 0, []
    several_ellipses = sum(i is Ellipsis for i in items) > 1
    for position, i in enumerate(items):  # torch names a bad int index by its position
        if i is None:
            out = out.unsqueeze(dim)
            dim += 1
            continue
        if i is Ellipsis:
            dim += x._data.ndim - consumed
            continue
        if several_ellipses and dim >= out._data.ndim and not isinstance(i, bool):
            # each ellipsis spans the rest: this raises, unless a whole slice (torch skips it)
            _past_the_last_dim(x, out, i, dim, position)
            dim += 1
            continue
        if isinstance(i, bool):  # torch: a new dim, indexed by the mask tensor([i])
            out = out.unsqueeze(dim)
            advanced.append((dim, x._backend.xp.asarray([i])))
            dim += 1
            continue
        if isinstance(i, int) or hasattr(i, "__index__") and not _is_advanced(i):
            out = select(out, dim, int(i), real_dim=position)
        elif isinstance(i, slice):
            if i.step is not None and i.step <= 0:
                raise ValueError("slice step cannot be zero" if i.step == 0 else
                                 "step must be greater than zero")
            if single or not _whole_as_written(i, out._data.shape[dim]):
                out = _slice(out, dim, i)
            dim += 1
        elif _is_advanced(i):
            try:
                idx = _to_backend_index(x, i)
            except IndexError as exc:  # torch refuses the dtype after the ints are applied
                advanced.append((dim, exc))
                dim += 1
                continue
            advanced.append((dim, idx))
            dim += idx.ndim if idx.dtype.kind == "b" else 1
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or "
                             "byte Variables are valid indices (got "
                             f"{type(i).__name__})")
    if not advanced:
        if out is x:  # nothing but full slices and ellipses: an alias, as torch returns
            return record(AliasBackward0, _view_of(x, x._data[...]), (x,))
        return out
    # torch checks the index tensors once every int, slice and None is applied: first all
    # their dtypes, then the shapes of the masks
    for d, idx in advanced:
        if isinstance(idx, IndexError):
            raise idx
    for d, idx in advanced:
        if idx.dtype.kind == "b":
            _check_mask(idx, tuple(out._data.shape), d)
    index, pos = [], 0
    for d, idx in advanced:
        index.extend([slice(None)] * (d - pos))
        index.append(idx)
        pos = d + (idx.ndim if idx.dtype.kind == "b" else 1)
    index = tuple(index)
    data = _take(out._data, index, advanced, x._backend)
    return record(IndexBackward0, wrap(data, x._backend), (out,),
                  shape=tuple(out._data.shape), index=index)


# ---- writing: x[key] = value ---------------------------------------------------------------

def _numpy_key(x: Tensor, items: tuple) -> tuple:
    return tuple(_to_backend_index(x, i) if _is_advanced(i) else i for i in items)


def _setitem_kind(x: Tensor, items: tuple) -> str:
    """How torch writes ``x[items] = v``: "whole" (copy_ or fill_ on x itself), "index"
    (index_put_ on x: IndexPutBackward0) or "view" (into a view of x: CopySlices)."""
    consumed = sum(_mask_dims(i) for i in items
                   if i is not None and i is not Ellipsis and not isinstance(i, bool))
    dim, full_only, advanced = 0, True, False
    for i in items:
        if i is Ellipsis:
            dim += x._data.ndim - consumed
        elif isinstance(i, slice):
            size = x._data.shape[dim] if dim < x._data.ndim else 0
            full_only &= _whole_as_written(i, size)
            dim += 1
        elif _is_advanced(i):
            advanced = True
            dim += _mask_dims(i)
        else:  # an int, None or a bool: the target is a view
            full_only = False
            dim += 0 if i is None or isinstance(i, bool) else 1
    if not full_only:
        return "view"
    return "index" if advanced else "whole"


def _broadcastable(shape: tuple, to: tuple) -> bool:
    return len(shape) <= len(to) and all(
        s == 1 or s == t for s, t in zip(reversed(shape), reversed(to)))


class CopySlices(Node):
    """A write into part of a tensor: ``x[index] = value`` (``mask``, ``index``), or an in-place
    op on a view of it (``fn``, the op's node, and the view's ``positions``: NOTE [in-place on
    a view] in ops/inplace.py)."""

    fn = None

    def name(self) -> str:
        return "torch::autograd::CopySlices"

    def backward(self, g):
        if self.fn is not None:
            return self._through_view(g)
        gx = gv = None
        if self.next_functions[0][0] is not None:
            gx = _zero_where(self.mask, g)
        if self.next_functions[1][0] is not None:
            gv = g[_Raw(self.index)]
        return gx, gv

    def _through_view(self, g):
        if self.overlaps:  # torch cannot write the view's gradient back either
            from visgrad.engine.ops.inplace import OVERLAP_MESSAGE  # noqa: PLC0415

            raise RuntimeError(OVERLAP_MESSAGE)
        part = g.reshape(-1)[_Raw((self.positions,))].reshape(self.view_shape)
        grads = self.fn.backward(part)
        grads = grads if isinstance(grads, tuple) else (grads,)
        gx = _zero_where(self.mask, g)  # the base's gradient, except over the view ...
        if grads[0] is not None:  # ... where it is that of the view's old value
            gx = gx + scatter_into(grads[0].reshape(-1), (self.numel,), (self.positions,),
                                   False).reshape(tuple(g._data.shape))
        return (gx, *grads[1:])


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value`` as torch records it: CopyBackwards or FillBackward3 when the key is
    the whole tensor, IndexPutBackward0 for advanced indices on x itself, and CopySlices when
    the write goes into a view of x."""
    from visgrad.engine.ops.inplace import (  # noqa: PLC0415
        LEAF_MESSAGE, apply_inplace, copy_, fill_,
    )
    from visgrad.engine.ops.shape import expand, view  # noqa: PLC0415
    from visgrad.engine.tensor import _SCALAR_NAME  # noqa: PLC0415

    from visgrad.engine.ops.inplace import check_inplace  # noqa: PLC0415

    value = operand(value)
    if x._base is not None:
        check_inplace(x, value)
    items = key if isinstance(key, tuple) else (key,)
    items = tuple(int(i.item()) if isinstance(i, Tensor) and i._data.ndim == 0 and
                  i._data.dtype.kind in "iu" else i for i in items)
    with grad_mode.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a byte mask's deprecation is said once, below
        slot_shape = tuple(getitem(x, items)._data.shape)  # raises torch's index errors
    advanced_items = [i for i in items if _is_advanced(i) or isinstance(i, bool)]
    if len(advanced_items) == 1 and isinstance(advanced_items[0], Tensor) and \
            advanced_items[0]._data.dtype == dtypes.uint8.np and \
            (not isinstance(value, Tensor) or value._data.size == 1):
        # torch writes one mask and one number (or one element) with masked_fill_
        from visgrad.engine.ops.pointwise import check_fill_mask  # noqa: PLC0415

        check_fill_mask(advanced_items[0])
    if key is False:  # torch writes nothing (the key selects nothing)
        return
    kind = _setitem_kind(x, items)
    # a Python bool in a tuple is an index tensor to torch (the value then follows
    # index_put_'s rules); a lone True is a new dim written by copy_
    advanced = any(_is_advanced(i) for i in items) or (
        isinstance(key, tuple) and any(isinstance(i, bool) for i in items))
    if kind == "view" and x._requires_grad and x._grad_fn is None and \
            grad_mode.is_grad_enabled():
        raise RuntimeError("a view of " + LEAF_MESSAGE)
    if isinstance(value, Tensor) and not advanced:  # copy_ semantics: broadcast (copy casts)
        if value._data.ndim and tuple(value._data.shape) != slot_shape:
            shape = tuple(value._data.shape)
            while shape and shape[0] == 1:
                shape = shape[1:]
            value = view(value, *shape)
            if shape != slot_shape:
                value = expand(value, *slot_shape)
    elif isinstance(value, Tensor):  # index_put_ semantics
        if value._data.dtype != x._data.dtype:
            raise RuntimeError("Index put requires the source and destination dtypes match, got "
                               f"{_SCALAR_NAME[str(x._data.dtype)]} for the destination and "
                               f"{_SCALAR_NAME[str(value._data.dtype)]} for the source.")
        shape = tuple(value._data.shape)
        while shape and shape[0] == 1:  # torch drops a value's leading ones first
            shape = shape[1:]
        if shape != tuple(value._data.shape):
            value = view(value, *shape)
        if not _broadcastable(tuple(value._data.shape), slot_shape):
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(value._data.shape)} "
                               f"cannot be broadcast to indexing result of shape "
                               f"{list(slot_shape)}")
    if kind == "whole":
        if isinstance(value, Tensor) and value._data.ndim:
            copy_(x, value)
        else:
            fill_(x, value if isinstance(value, Tensor) else
                  wrap(x._backend.xp.asarray(value, dtype=x._data.dtype), x._backend))
        return
    if kind == "view" and overlaps_itself(x._data):
        # x shares memory between its elements (expanded): write only the part, as torch
        # writes x[key].copy_(value), or the other elements' old values would come back
        if not isinstance(value, Tensor):  # a number is copied from a 0-d tensor, as in torch
            value = wrap(x._backend.asarray(value, x._data.dtype), x._backend)
        copy_(getitem(x, key), value)
        return
    index = _numpy_key(x, items)
    vdata = value._data.astype(x._data.dtype, copy=False) if isinstance(value, Tensor) else value
    node = IndexPutBackward0 if kind == "index" else CopySlices

    def compute(src: Tensor) -> Tensor:
        data = src._data.copy()
        data[index] = vdata
        out = wrap(data, src._backend)
        if not grad_mode.is_grad_enabled():
            return out
        mask = src._backend.xp.zeros(src._data.shape, dtype=bool)
        mask[index] = True
        return record(node, out, (src, tensor_or_none(value)), mask=wrap(mask, src._backend),
                      index=index)

    apply_inplace(x, compute, value)

