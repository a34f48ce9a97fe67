"""Reductions (sum, mean, max, min) and their gradients, which spread a gradient back out."""

from __future__ import annotations

import builtins

from visgrad.engine import dtypes
from visgrad.engine.autograd import FormulaNode
from visgrad.engine.backend import CPU_NDARRAY, cpu_add_reduce
from visgrad.engine.ops._common import Node, Tensor, dims_arg, quietly, record, wrap
from visgrad.engine.tensor import _wrap_dim, ones_like

_FLOAT32 = dtypes.float32.np


class SumBackward0(FormulaNode):
    def rule(self, F, g):
        return (F.expand(g, self.shape),)


class SumBackward1(FormulaNode):
    saved_attributes = {"dim": "dims", "keepdim": "keepdim"}

    def rule(self, F, g):
        return (F.expand(g if self.keepdim else F.unsqueeze_dims(g, self.dims), self.shape),)


def _accumulated_dtype(d, dtype):
    """What a sum or product of ``d`` comes out as: ``dtype`` if given, int64 for ints and
    bools (as torch), else d's own."""
    if dtype is not None:
        return dtypes.as_dtype(dtype).np
    return dtypes.int64.np if d.dtype.kind in "biu" else d.dtype


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001 - torch's name
    d = x._data
    np_dt = _accumulated_dtype(d, dtype)
    if dim is None:
        out = wrap(quietly(_added, d, np_dt, None, False, None), x._backend)
        return record(SumBackward0, out, (x,), shape=d.shape)
    dims = dims_arg(dim, d.ndim) if d.ndim else _check_0d(dim)
    out = wrap(quietly(_added, d, np_dt, dims, keepdim, None), x._backend)
    return record(SumBackward1, out, (x,), shape=d.shape, dims=dims, keepdim=keepdim)


def _added(d, dt, dims, keepdim: bool, count):
    """The sum of ``d`` over ``dims`` (all of them for None) in ``dt``, or its mean when
    ``count`` is given; called quietly, since torch's overflow is inf without a word. Half
    precision adds up in float32 and rounds once, as torch's kernels accumulate it (numpy
    would round every partial sum: a column of halves sums differently, and 60000 + 60000
    halves to inf before a mean could halve it back)."""
    if dt.kind == "f" and dt.itemsize == 2:
        if count is None and d.dtype != dt:  # a sum casts its input first, a mean does not
            d = d.astype(dt)
        total = d.sum(axis=dims, keepdims=keepdim, dtype=_FLOAT32)
        return (total if count is None else total / _FLOAT32.type(count)).astype(dt)
    if d.__class__ is CPU_NDARRAY:  # ndarray.sum is numpy's Python around this call
        total = cpu_add_reduce(d, dims, dt, None, keepdim)
    else:
        total = d.sum(axis=dims, keepdims=keepdim, dtype=dt)
    return total if count is None else total / dt.type(count)


def _check_0d(dim) -> tuple:
    """A 0-d tensor reduces over dim 0 or -1 (and nothing else); numpy wants no axes."""
    dims_arg(dim, 0)
    return ()


class MeanBackward0(FormulaNode):
    def rule(self, F, g):
        return (F.expand_divided(g, self.shape, self.count),)


class MeanBackward1(FormulaNode):
    saved_attributes = {"dim": "dims", "keepdim": "keepdim"}

    def rule(self, F, g):
        g = g if self.keepdim else F.unsqueeze_dims(g, self.dims)
        return (F.expand(g, self.shape) / self.count,)


def mean(x, dim=None, keepdim=False, dtype=None):
    d = x._data
    np_dt = dtypes.as_dtype(dtype).np if dtype is not None else d.dtype
    if np_dt.kind != "f":
        from visgrad.engine.tensor import _SCALAR_NAME  # noqa: PLC0415

        name = _SCALAR_NAME.get(str(np_dt), str(np_dt))
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {name}")
    if dim is None:  # the mean of nothing is nan, silently
        out = wrap(quietly(_added, d, np_dt, None, False, d.size), x._backend)
        return record(MeanBackward0, out, (x,), shape=d.shape, count=builtins.max(d.size, 1))
    dims = dims_arg(dim, d.ndim) if d.ndim else _check_0d(dim)
    count = 1
    for k in dims:
        count *= d.shape[k]
    out = wrap(quietly(_added, d, np_dt, dims, keepdim, count), x._backend)
    return record(MeanBackward1, out, (x,), shape=d.shape, dims=dims, keepdim=keepdim,
                  count=count)


def _product_of_others(x, dim: int):
    """For each element, the product of the others along ``dim``: running products from both
    ends, multiplied (torch's prod_safe_zeros_backward; exact where x has zeros, where
    result / x is not). Tensor operations, so that create_graph sees them."""
    from visgrad.engine.ops.shape import stack  # noqa: PLC0415 - shape imports this module

    count = x.shape[dim]
    items = [x.select(dim, k) for k in range(count)]
    one = ones_like(items[0])  # (not items[0] * 0 + 1: an infinite element would give nan)
    left, right = [one], [one]
    for k in range(1, count):
        left.append(left[-1] * items[k - 1])
        right.append(right[-1] * items[count - k])
    return stack([left[k] * right[count - 1 - k] for k in range(count)], dim)


class ProdBackward0(Node):  # prod() of everything
    saved_names = ("self", "result")

    def backward(self, g):
        x, result = self.saved_tensors
        if x.ndim == 0:
            return (g,)
        if not bool((x._data == 0).any()):
            return (g * (result / x),)
        return (g * _product_of_others(x.reshape(-1), 0).reshape(*x.shape),)


class ProdBackward1(Node):  # prod(dim)
    saved_names = ("self", "result")
    saved_attributes = {"dim": "dim", "keepdim": "keepdim"}

    def backward(self, g):
        x, result = self.saved_tensors
        if x.ndim == 0:
            return (g,)
        if not self.keepdim:
            g, result = g.unsqueeze(self.dim), result.unsqueeze(self.dim)
        if not bool((x._data == 0).any()):
            return (g * (result / x),)
        return (g * _product_of_others(x, self.dim),)


def prod(x, dim=None, keepdim=False, dtype=None):
    """The product of the elements (over ``dim``); ints and bools multiply in int64."""
    d = x._data
    np_dt = _accumulated_dtype(d, dtype)
    wide = _FLOAT32 if np_dt.kind == "f" and np_dt.itemsize == 2 else np_dt
    if dim is None:
        out = wrap(x._backend.xp.asarray(quietly(lambda a: a.prod(dtype=wide), d), dtype=np_dt),
                   x._backend)
        return record(ProdBackward0, out, (x,), save=(x, out))
    k = _wrap_dim(dim, builtins.max(d.ndim, 1))  # (``max`` here is the op)
    if d.ndim == 0:
        out = wrap(d.astype(np_dt), x._backend)
    else:
        out = wrap(quietly(lambda a: a.prod(axis=k, keepdims=keepdim, dtype=wide), d)
                   .astype(np_dt), x._backend)
    return record(ProdBackward1, out, (x,), save=(x, out), dim=k, keepdim=keepdim)


class return_types:  # noqa: N801 - mirrors torch.return_types
    """Named (values, indices) pairs printed as torch prints them."""

    class _Pair(tuple):
        _name = "max"

        def __new__(cls, values, indices):
            return super().__new__(cls, (values, indices))

        @property
        def values(self):
            return self[0]

        @property
        def indices(self):
            return self[1]

        def __repr__(self) -> str:
            return (f"torch.return_types.{self._name}(\nvalues={self[0]!r},\n"
                    f"indices={self[1]!r})")

    class max(_Pair):  # noqa: N801
        _name = "max"

    class min(_Pair):  # noqa: N801
        _name = "min"

    class sort(_Pair):  # noqa: N801
        _name = "sort"

    class topk(_Pair):  # noqa: N801
        _name = "topk"


class _EvenlyDistribute(Node):
    """max()/min() over everything: ties share the gradient equally, as in torch."""

    def backward(self, g):
        x, y = self.saved_tensors
        xp = x._backend.xp
        # a nan maximum is where the nans are, as in torch
        mask = wrap(xp.isnan(x._data) if bool(xp.isnan(y._data)) else x._data == y._data,
                    x._backend)
        count = mask._data.sum()
        return (where_mask(mask, g / count.item()),)


class MaxBackward1(_EvenlyDistribute):
    pass


class MinBackward1(_EvenlyDistribute):
    pass


class _SelectIndex(Node):
    """max(dim)/min(dim): the gradient goes to the one position each index names."""

    def backward(self, g):
        (indices,) = self.saved_tensors
        xp = indices._backend.xp
        dim, shape = self.dim, self.shape
        if not shape:  # a 0-d input is its own maximum
            return (g,)
        idx = indices._data if self.keepdim else xp.expand_dims(indices._data, dim)
        positions = xp.arange(shape[dim]).reshape(
            tuple(shape[dim] if k == dim else 1 for k in range(len(shape))))
        onehot = wrap(positions == idx, indices._backend)
        gk = g if self.keepdim else g.unsqueeze(dim)
        return (where_mask(onehot, gk),)


class MaxBackward0(_SelectIndex):
    pass


class MinBackward0(_SelectIndex):
    pass


def where_mask(mask: Tensor, g: Tensor) -> Tensor:
    from visgrad.engine.ops.pointwise import where  # noqa: PLC0415

    return where(mask, g, 0.0)


def _extreme(x, dim, keepdim, largest: bool):
    d = x._data
    xp = x._backend.xp
    if dim is None:
        if d.size == 0:
            raise RuntimeError(f"{'max' if largest else 'min'}(): Expected reduction dim to be "
                               "specified for input.numel() == 0. Specify the reduction dim "
                               "with the 'dim' argument.")
        out = wrap((d.max() if largest else d.min()).reshape(()), x._backend)
        node = MaxBackward1 if largest else MinBackward1
        return record(node, out, (x,), save=(x, out))
    k = _wrap_dim(dim, d.ndim)
    if d.ndim and d.shape[k] == 0:
        raise IndexError(f"{'max' if largest else 'min'}(): Expected reduction dim {k} to have "
                         "non-zero size.")
    if d.ndim == 0:
        values = wrap(d.copy(), x._backend)
        indices = wrap(xp.zeros((), dtype=dtypes.int64.np), x._backend)
    else:
        idx = d.argmax(axis=k) if largest else d.argmin(axis=k)
        idx_k = xp.expand_dims(idx, k)
        vals = xp.take_along_axis(d, idx_k, axis=k)
        if not keepdim:
            vals = vals.squeeze(axis=k)
            idx_k = idx
        values = wrap(vals, x._backend)
        indices = wrap(idx_k.astype(dtypes.int64.np), x._backend)
    node = MaxBackward0 if largest else MinBackward0
    values = record(node, values, (x,), save=(indices,), dim=k, keepdim=keepdim,
                    shape=tuple(d.shape))
    pair = return_types.max if largest else return_types.min
    return pair(values, indices)


def max(x, dim=None, keepdim=False):  # noqa: A001
    if isinstance(dim, Tensor):
        from visgrad.engine.ops.pointwise import maximum  # noqa: PLC0415

        return maximum(x, dim)
    return _extreme(x, dim, keepdim, True)


def min(x, dim=None, keepdim=False):  # noqa: A001
    if isinstance(dim, Tensor):
        from visgrad.engine.ops.pointwise import minimum  # noqa: PLC0415

        return minimum(x, dim)
    return _extreme(x, dim, keepdim, False)


def _arg_extreme(x, dim, keepdim: bool, name: str):
    """argmax / argmin with torch's checks (no bools; a dim to reduce that is not empty)."""
    d = x._data
    if d.dtype.kind == "b":
        raise RuntimeError(f"{name}(): does not support bool input")
    if dim is None:
        if d.size == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for "
                             "input.numel() == 0.")
        shape = (1,) * d.ndim if keepdim else ()  # keepdim keeps every dim, as ones
        return wrap(getattr(d, name)().reshape(shape).astype(dtypes.int64.np), x._backend)
    k = _wrap_dim(dim, d.ndim)
    if d.ndim and d.shape[k] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {k} to have non-zero size.")
    idx = getattr(d, name)(axis=k if d.ndim else None)  # a 0-d tensor: index 0
    if keepdim and d.ndim:
        idx = x._backend.xp.expand_dims(idx, k)
    return wrap(idx.astype(dtypes.int64.np), x._backend)


def all(x, dim=None, keepdim=False):  # noqa: A001 - torch's name
    """Whether every element (along ``dim``) is nonzero: bool, or uint8 for uint8 (torch
    keeps that legacy dtype); no gradient."""
    return _truth(x, dim, keepdim, "all")


def any(x, dim=None, keepdim=False):  # noqa: A001 - torch's name
    """Whether some element (along ``dim``) is nonzero; see ``all``."""
    return _truth(x, dim, keepdim, "any")


def _truth(x, dim, keepdim: bool, name: str):
    d = x._data
    dims = None if dim is None else dims_arg(dim, d.ndim) if d.ndim else _check_0d(dim)
    out = getattr(x._backend.xp, name)(d, axis=dims, keepdims=keepdim)
    if d.dtype.kind == "u" and d.dtype.itemsize == 1:
        out = out.astype(d.dtype)
    return wrap(out, x._backend)


def argmax(x, dim=None, keepdim=False):
    return _arg_extreme(x, dim, keepdim, "argmax")


def argmin(x, dim=None, keepdim=False):
    return _arg_extreme(x, dim, keepdim, "argmin")
