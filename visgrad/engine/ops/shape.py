"""Ops that move elements around without arithmetic: views, transposes, cat and stack."""

from __future__ import annotations

from visgrad.engine import autograd, grad_mode
from visgrad.engine.autograd import make_view
from visgrad.engine.backend import overlaps_itself, view_positions
from visgrad.engine.ops._common import Node, Tensor, promote, record, same_backend, wrap
from visgrad.engine.tensor import Size, _wrap_dim, sum_to


def _infer_shape(shape, numel: int) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    for i, s in enumerate(shape):
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {list(shape)}")
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if -1 in shape:
        if known == 0 and numel == 0:
            raise RuntimeError(f"cannot reshape tensor of 0 elements into shape {list(shape)} "
                               "because the unspecified dimension size -1 can be any value and "
                               "is ambiguous")
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class ViewBackward0(Node):
    def backward(self, g):
        return (g.reshape(self.shape),)


class UnsafeViewBackward0(ViewBackward0):
    pass


class ReshapeAliasBackward0(ViewBackward0):
    pass


# NOTE [reshape: view or copy]
# torch's reshape is a view (ViewBackward0) of a contiguous tensor, an alias with new strides
# (ReshapeAliasBackward0) where the strides allow one, and otherwise a contiguous clone viewed
# (UnsafeViewBackward0 over CloneBackward0). The backend arrays carry strides (numpy's and
# CuPy's views stride as torch's do), so the choice, and the grad_fns, follow torch's.

def _element_strides(data) -> tuple:
    item = data.itemsize
    return tuple(st // item for st in data.strides)


def _is_contiguous(data) -> bool:
    """torch's is_contiguous: row-major strides, ignoring dims of size 1."""
    if data.size == 0:
        return True
    expected = 1
    for size, stride in zip(reversed(data.shape), reversed(_element_strides(data))):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def _viewable(data, new_shape) -> bool:
    """Whether ``data`` can take ``new_shape`` without a copy (torch's computeStride)."""
    shape, strides = tuple(data.shape), _element_strides(data)
    if not shape or data.size == 0:
        return True
    view_d = len(new_shape) - 1
    base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        # a chunk of dims ends where the next one out is not laid out right after it
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return False
            if d > 0:
                base = strides[d - 1]
                tensor_numel = view_numel = 1
    return view_d == -1


def contiguous(x: Tensor) -> Tensor:
    """torch's ``x.contiguous()``: x itself, or a row-major clone (CloneBackward0)."""
    if _is_contiguous(x._data):
        return x
    return record(CloneBackward0, wrap(x._data.copy(order="C"), x._backend), (x,))


_view_of = make_view  # a view shares its base's storage and version counter, as in torch


class AsStridedBackward0(Node):
    """The history torch gives a view whose storage changed in place after it was made:
    its elements are these ``positions`` (flat indices) of the base."""

    def backward(self, g):
        from visgrad.engine.ops.indexing import scatter_into  # noqa: PLC0415

        flat = scatter_into(g.reshape(-1), (self.numel,), (self.positions,), self.overlaps)
        return (flat.reshape(self.shape),)


def refresh_view(t: Tensor) -> None:
    """NOTE [views after in-place changes]: the view's history, renewed as AsStridedBackward0
    of its base's current history when the storage changed since it was recorded."""
    version = t._vc[0]
    if version == t._view_at:
        return
    if getattr(t, "_no_grad_view", None) is not None:  # NOTE [views made under no_grad]
        raise RuntimeError(autograd.NO_GRAD_VIEW_CHANGED)
    t._view_at = version
    base = t._base
    if not base._requires_grad:
        return
    flat = view_positions(t._data, base._data).reshape(-1)
    overlaps = overlaps_itself(t._data)  # an expanded view: add, not set
    t._grad_fn = None
    with grad_mode.enable_grad():
        record(AsStridedBackward0, t, (base,), shape=tuple(base._data.shape),
               numel=int(base._data.size), positions=t._backend.asarray(flat),
               overlaps=overlaps)
    t._output_nr = 0


autograd.refresh_view = refresh_view


def reshape(x: Tensor, *shape) -> Tensor:
    new = _infer_shape(shape, x._data.size)
    if _is_contiguous(x._data):
        node = ViewBackward0
    elif _viewable(x._data, new):
        node = ReshapeAliasBackward0
    else:
        return unsafe_view(contiguous(x), new)
    out = _view_of(x, x._data.reshape(new))
    return record(node, out, (x,), shape=tuple(x._data.shape))


def view(x: Tensor, *shape) -> Tensor:
    new = _infer_shape(shape, x._data.size)
    if not _is_contiguous(x._data) and not _viewable(x._data, new):  # reshape would copy
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.")
    out = _view_of(x, x._data.reshape(new))
    return record(ViewBackward0, out, (x,), shape=tuple(x._data.shape))


def unsafe_view(x: Tensor, shape) -> Tensor:
    """``x`` (a temporary: a clone, a product) in another shape; as in torch, not a view of
    it for autograd: an in-place op on the result changes the result, not a base."""
    out = wrap(x._data.reshape(shape), x._backend)
    return record(UnsafeViewBackward0, out, (x,), shape=tuple(x._data.shape))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x._data.ndim == 0:
        _wrap_dim(start_dim, 0), _wrap_dim(end_dim, 0)  # torch's range checks still apply
        return reshape(x, 1)
    s, e = _wrap_dim(start_dim, x._data.ndim), _wrap_dim(end_dim, x._data.ndim)
    shape = x._data.shape
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return x
    mid = 1
    for k in range(s, e + 1):
        mid *= shape[k]
    return reshape(x, *shape[:s], mid, *shape[e + 1:])


class TBackward0(Node):
    def backward(self, g):
        return (g.t(),)


def t(x: Tensor) -> Tensor:
    if x._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{x._data.ndim}D")
    return record(TBackward0, _view_of(x, x._data.T), (x,))


class TransposeBackward0(Node):
    def backward(self, g):
        return (g.transpose(self.dim0, self.dim1),)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    n = x._data.ndim
    d0, d1 = _wrap_dim(dim0, n), _wrap_dim(dim1, n)
    data = x._data.swapaxes(d0, d1) if n else x._data
    return record(TransposeBackward0, _view_of(x, data), (x,), dim0=d0, dim1=d1)


class PermuteBackward0(Node):
    def backward(self, g):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return (g.permute(*inverse),)


def permute(x: Tensor, *dims) -> Tensor:
    if not dims:
        raise TypeError('permute() missing 1 required positional arguments: "dims"')
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    n = x._data.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {n} is not equal to len(dims) = {len(dims)}")
    dims = tuple(_wrap_dim(d, n) for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return record(PermuteBackward0, _view_of(x, x._data.transpose(dims)), (x,), dims=dims)


def T(x: Tensor) -> Tensor:  # noqa: N802 - torch's property name
    return permute(x, *reversed(range(x._data.ndim)))


class UnsqueezeBackward0(Node):
    def backward(self, g):
        return (g.squeeze(self.dim),)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = _wrap_dim(dim, x._data.ndim + 1)
    xp = x._backend.xp
    return record(UnsqueezeBackward0, _view_of(x, xp.expand_dims(x._data, d)), (x,), dim=d)


class SqueezeBackward0(Node):
    def backward(self, g):
        return (g.reshape(self.shape),)


class SqueezeBackward1(Node):
    def backward(self, g):
        if self.squeezed:
            return (g.unsqueeze(self.dim),)
        return (g,)


class SqueezeBackward2(Node):  # squeeze(dims)
    def backward(self, g):
        return (g.reshape(self.shape),)


class SqueezeBackward4(SqueezeBackward2):  # in-place squeeze_(dim), inside matmul
    pass


def squeeze(x: Tensor, dim=None) -> Tensor:
    shape = x._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
        return record(SqueezeBackward0, _view_of(x, x._data.reshape(new)), (x,),
                      shape=tuple(shape))
    if isinstance(dim, (tuple, list)):
        return squeeze_dims(x, dim)
    d = _wrap_dim(dim, x._data.ndim)
    squeezed = x._data.ndim > 0 and shape[d] == 1
    data = x._data.reshape(shape[:d] + shape[d + 1:]) if squeezed else x._data
    return record(SqueezeBackward1, _view_of(x, data), (x,), dim=d, squeezed=squeezed)


def squeeze_dims(x: Tensor, dims, node=SqueezeBackward2) -> Tensor:
    n = x._data.ndim
    dims = {_wrap_dim(d, n) for d in dims}
    shape = x._data.shape
    new = tuple(s for k, s in enumerate(shape) if not (k in dims and s == 1))
    return record(node, _view_of(x, x._data.reshape(new)), (x,), shape=tuple(shape))


class ExpandBackward0(Node):
    def backward(self, g):
        return (sum_to(g, self.shape),)


def expand(x: Tensor, *sizes) -> Tensor:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    shape = x._data.shape
    if len(sizes) < len(shape):
        from visgrad.engine.tensor import legacy_type_name  # noqa: PLC0415

        raise RuntimeError(f"expand({legacy_type_name(x)}{{{list(shape)}}}, size={list(sizes)}): "
                           f"the number of sizes provided ({len(sizes)}) must be greater or "
                           f"equal to the number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = [0] * len(sizes)
    for i in reversed(range(len(sizes))):  # from the last dim, as torch checks them
        s = sizes[i]
        if s == -1:
            if i < lead:
                raise RuntimeError("The expanded size of the tensor (-1) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
            s = shape[i - lead]
        elif i >= lead and shape[i - lead] != 1 and shape[i - lead] != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size "
                f"({shape[i - lead]}) at non-singleton dimension {i}.  Target sizes: "
                f"{list(sizes)}.  Tensor sizes: {list(shape)}")
        target[i] = int(s)
    target = tuple(target)
    xp = x._backend.xp
    out = _view_of(x, xp.broadcast_to(x._data, target))
    return record(ExpandBackward0, out, (x,), shape=tuple(shape))


class CloneBackward0(Node):
    def backward(self, g):
        return (g,)


def clone(x: Tensor) -> Tensor:
    # order="K" keeps the layout (a transposed tensor's clone is transposed too), as torch does
    return record(CloneBackward0, wrap(x._data.copy(order="K"), x._backend), (x,))


class CatBackward0(Node):
    def backward(self, g):
        grads, start = [], 0
        for size in self.sizes:
            grads.append(g.narrow(self.dim, start, size))
            start += size
        return tuple(grads)


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    backend = tensors[0]._backend
    dt = tensors[0]._data.dtype
    for other in tensors[1:]:
        same_backend(tensors[0], other)
        dt = promote(wrap(backend.xp.zeros((1,), dtype=dt), backend), other)
    ndim = tensors[0]._data.ndim
    for i, t in enumerate(tensors):
        if t._data.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be "
                               "concatenated")
    d = _wrap_dim(dim, ndim)
    ref = tensors[0]._data.shape
    for i, other in enumerate(tensors[1:], start=1):
        s = other._data.shape
        if len(s) != len(ref):
            raise RuntimeError(f"Tensors must have same number of dimensions: got {len(ref)} and "
                               f"{len(s)}")
        for k in range(len(ref)):
            if k != d and s[k] != ref[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. "
                                   f"Expected size {ref[k]} but got size {s[k]} for tensor "
                                   f"number {i} in the list.")
    data = backend.xp.concatenate([x._data.astype(dt, copy=False) for x in tensors], axis=d)
    return record(CatBackward0, wrap(data, backend), tuple(tensors), dim=d,
                  sizes=tuple(x._data.shape[d] for x in tensors))


class StackBackward0(Node):
    def backward(self, g):
        return tuple(g.select(self.dim, i) for i in range(self.count))


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = tensors[0]._data.shape
    for i, other in enumerate(tensors[1:], start=1):
        same_backend(tensors[0], other)
        if other._data.shape != ref:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ref)} "
                               f"at entry 0 and {list(other._data.shape)} at entry {i}")
    d = _wrap_dim(dim, len(ref) + 1)
    backend = tensors[0]._backend
    dt = tensors[0]._data.dtype
    for other in tensors[1:]:
        dt = promote(wrap(backend.xp.zeros((1,), dtype=dt), backend), other)
    data = backend.xp.stack([x._data.astype(dt, copy=False) for x in tensors], axis=d)
    return record(StackBackward0, wrap(data, backend), tuple(tensors), dim=d, count=len(tensors))


def size_of(x: Tensor) -> Size:
    return Size(x._data.shape)
