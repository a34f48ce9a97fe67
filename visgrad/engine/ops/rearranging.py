"""Ops that move, copy or mask elements without arithmetic: flip, repeat, tril and triu.

Each gradient does the same to the gradient (flip, tril, triu) or adds up what was copied
(repeat), with the ops themselves, so that it differentiates again under ``create_graph``.
"""

from __future__ import annotations

from visgrad.engine.ops._common import Node, dims_arg, record, wrap
from visgrad.engine.ops.reductions import sum as total
from visgrad.engine.ops.shape import reshape
from visgrad.engine.tensor import _wrap_dim


def _dims_of(args) -> tuple:
    """flip(0, 1), flip((0, 1)) and flip([0, 1]) alike."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args


class FlipBackward0(Node):
    def backward(self, g):
        return (flip(g, self.dims),)


def flip(x, *dims):
    """x with the order of its elements reversed along ``dims``."""
    wanted = _dims_of(dims)
    if x._data.ndim == 0:  # dim 0 or -1 of one number: nothing to reverse
        for d in wanted:
            _wrap_dim(d, 1)
        wanted = ()
    axes = dims_arg(list(wanted), x._data.ndim) if wanted else ()
    out = x._backend.xp.flip(x._data, axis=axes).copy() if axes else x._data.copy()
    return record(FlipBackward0, wrap(out, x._backend), (x,), dims=axes)


class RepeatBackward0(Node):
    def backward(self, g):
        # each repeated axis splits in two, (copies, size); the copies add up
        sizes, shape = self.repeats, self.shape
        lead = len(sizes) - len(shape)
        split = [n for n in sizes[:lead]]
        for copies, size in zip(sizes[lead:], shape, strict=True):
            split += [copies, size]
        summed = tuple(range(lead)) + tuple(lead + 2 * k for k in range(len(shape)))
        grad = reshape(g, tuple(split))
        return (total(grad, summed) if summed else grad,)


def repeat(x, *sizes):
    """x tiled ``sizes`` times along each dim (more sizes than dims add leading dims)."""
    repeats = tuple(_dims_of(sizes))
    if len(repeats) < x._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    out = wrap(x._backend.xp.tile(x._data, repeats), x._backend)
    return record(RepeatBackward0, out, (x,), repeats=repeats, shape=x._data.shape)


class TrilBackward0(Node):
    def backward(self, g):
        return (tril(g, self.diagonal),)


class TriuBackward0(Node):
    def backward(self, g):
        return (triu(g, self.diagonal),)


def _triangle(x, diagonal: int, lower: bool):
    if x._data.ndim < 2:
        name = "tril" if lower else "triu"
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    xp = x._backend.xp
    out = (xp.tril if lower else xp.triu)(x._data, diagonal)
    return record(TrilBackward0 if lower else TriuBackward0, wrap(out, x._backend), (x,),
                  diagonal=diagonal)


def tril(x, diagonal=0):
    """The lower triangle (below the ``diagonal``-th diagonal, itself included); zeros above.
    A causal attention mask is ``tril`` of ones."""
    return _triangle(x, diagonal, lower=True)


def triu(x, diagonal=0):
    """The upper triangle; zeros below."""
    return _triangle(x, diagonal, lower=False)


__all__ = ["flip", "repeat", "tril", "triu"]
