"""Vector norms: ``x.norm(p, dim, keepdim)``, ``vg.norm`` and ``vg.linalg.vector_norm``, all
recorded as torch 2 records them (LinalgVectorNormBackward0), with torch's gradient for each
order: 0, 1, 2, inf and -inf, and any other p.

The forward adds up in float64 and rounds once. Where the norm is 0 the gradient is 0 (torch
masks the 0/0 away), and for ±inf it is shared between the elements that tie for the extreme.
"""

from __future__ import annotations

import math

from visgrad.engine import dtypes
from visgrad.engine.ops._common import Node, dims_arg, quietly, record, wrap
from visgrad.engine.ops.pointwise import abs as absolute
from visgrad.engine.ops.pointwise import eq, isnan, logical_or, sign, where
from visgrad.engine.ops.reductions import _check_0d
from visgrad.engine.ops.reductions import sum as total
from visgrad.engine.ops.shape import unsqueeze
from visgrad.engine.tensor import _SCALAR_NAME

_FLOAT64 = dtypes.float64.np


class LinalgVectorNormBackward0(Node):
    saved_names = ("self", "result")
    saved_attributes = {"ord": "ord", "dim": "dims", "keepdim": "keepdim"}

    def backward(self, g):
        x, norm = self.saved_tensors
        if not self.keepdim and self.dims is not None:
            for d in self.dims:
                g, norm = unsqueeze(g, d), unsqueeze(norm, d)
        p = self.ord
        if p == 0:  # piecewise constant: torch sends no gradient at all (x.grad stays None)
            return (None,)
        if p == 1:
            return (sign(x) * g,)
        if p == 2:
            return (g * where(norm == 0, 0.0, x / norm),)
        if math.isinf(p):  # the extreme elements (and nan ones) share the gradient
            size = absolute(x)
            mask = logical_or(eq(size, norm), isnan(size))
            count = total(mask, self.dims, keepdim=True) if self.dims is not None \
                else total(mask)
            return (sign(x) * ((g / count) * mask),)
        size = absolute(x)
        if p < 1.0:
            scaled = sign(x) * where(x == 0, 0.0, size ** (p - 1))
            return (scaled * g * norm ** (1 - p),)
        scaled = sign(x) * size ** (p - 1) if p < 2.0 else x * size ** (p - 2)
        return (scaled * where(norm == 0, 0.0, g / norm ** (p - 1)),)


def vector_norm(x, ord=2, dim=None, keepdim=False):  # noqa: A002 - torch's name
    """The ``ord``-norm of x over ``dim`` (all elements for None)."""
    d = x._data
    if d.dtype.kind != "f":
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_SCALAR_NAME.get(str(d.dtype), str(d.dtype))}")
    if isinstance(ord, bool) or not isinstance(ord, int | float):
        raise TypeError("linalg_vector_norm(): argument 'ord' (position 2) must be Number, "
                        f"not {type(ord).__name__}")
    p = float(ord)
    dims = None
    if dim is not None:
        dims = dims_arg(dim, d.ndim) if d.ndim else _check_0d(dim)
    xp = x._backend.xp

    axes = tuple(range(d.ndim)) if dims is None else dims
    if p < 0 or p == math.inf:  # a maximum, or sums of 0⁻ⁿ: nothing to reduce has no value
        empty = [k for k in axes if d.shape[k] == 0]
        if dims is None and d.size == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on an empty "
                               "tensor because the operation does not have an identity")
        if dims is not None and empty:  # (torch's words, its missing space included)
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on the "
                               f"dimension {empty[0]}because this dimension is empty and the "
                               "operation does not have an identity")

    def compute(data):
        size = xp.abs(data.astype(_FLOAT64))
        if p == 0:
            out = (size != 0).sum(axis=axes, keepdims=keepdim).astype(_FLOAT64)
        elif p == math.inf:
            out = size.max(axis=axes, keepdims=keepdim)
        elif p == -math.inf:
            out = size.min(axis=axes, keepdims=keepdim)
        elif p == 1:
            out = size.sum(axis=axes, keepdims=keepdim)
        elif p == 2:
            out = xp.sqrt((size * size).sum(axis=axes, keepdims=keepdim))
        else:
            out = (size ** p).sum(axis=axes, keepdims=keepdim) ** (1.0 / p)
        return out.astype(data.dtype)

    out = wrap(quietly(compute, d), x._backend)
    return record(LinalgVectorNormBackward0, out, (x,), save=(x, out), ord=p, dims=dims,
                  keepdim=keepdim)


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """``torch.norm``: a vector norm ("fro" is the 2-norm of all the elements given)."""
    if dtype is not None:
        x = x.to(dtype)
    if p == "fro":
        p = 2
    elif p == "nuc" or isinstance(p, str):
        raise NotImplementedError(f"norm: p={p!r} is not available in visgrad (vector norms "
                                  "only: a number, inf or 'fro')")
    return vector_norm(x, p, dim, keepdim)


__all__ = ["norm", "vector_norm"]
