"""var and std, with torch's arguments (``dim``, ``unbiased`` or ``correction``, ``keepdim``)
and its gradients.

The forward adds up in float64 and rounds once (torch accumulates in double too); a divisor
of zero or less warns as torch does and gives inf or nan. The gradients follow torch's
formulas, including the one place they differ from the forward: the gradient divides by
N - correction itself, not by the forward's max(N - correction, 0).
"""

from __future__ import annotations

import math
import warnings

from visgrad.engine import dtypes
from visgrad.engine.ops._common import Node, dims_arg, quietly, record, wrap
from visgrad.engine.ops.pointwise import where
from visgrad.engine.ops.reductions import _check_0d, mean
from visgrad.engine.ops.shape import unsqueeze

_FLOAT64 = dtypes.float64.np


def _spread_gradient(g, x, node):
    """torch's var_backward: 2 / (N - correction) · g · (x - mean(x)), g put back in x's
    dims first."""
    if not node.keepdim:
        for d in node.dims if node.dims is not None else ():
            g = unsqueeze(g, d)
    centred = x - (mean(x, node.dims, keepdim=True) if node.dims is not None else mean(x))
    free = node.count - node.correction
    factor = 2.0 / free if free else math.inf
    return g * factor * centred


class VarBackward0(Node):
    saved_names = ("self",)
    saved_attributes = {"dim": "dims", "correction": "given_correction",
                        "keepdim": "keepdim"}

    def backward(self, g):
        (x,) = self.saved_tensors
        return (_spread_gradient(g, x, self),)


class StdBackward0(Node):
    saved_names = ("self", "result")
    saved_attributes = {"dim": "dims", "correction": "given_correction",
                        "keepdim": "keepdim"}

    def backward(self, g):
        x, result = self.saved_tensors
        # torch's std_backward: where the deviation is 0 the gradient is 0, not 0/0
        return (_spread_gradient(where(result == 0, 0.0, g / (result * 2)), x, self),)


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The variance over ``dim`` (all dims for None), divided by N - correction (1 unless
    ``unbiased=False`` or ``correction`` says otherwise)."""
    return _spread(x, "var", VarBackward0, dim, unbiased, keepdim, correction)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The standard deviation: the square root of :func:`var`."""
    return _spread(x, "std", StdBackward0, dim, unbiased, keepdim, correction)


def _spread(x, name, node_cls, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):  # var(x, False): torch's (input, unbiased) form
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments - got both "
                        "unbiased and correction")
    given = correction if unbiased is None else int(unbiased)  # what torch's node shows
    if correction is None:
        correction = 0 if unbiased is False else 1
    d = x._data
    if d.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = None
    if dim is not None:
        dims = dims_arg(dim, d.ndim) if d.ndim else _check_0d(dim)
    count = d.size if dims is None else math.prod(d.shape[k] for k in dims)
    if count - correction <= 0:
        warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly "
                      "less than the reduction factor (input numel divided by output numel).",
                      UserWarning, stacklevel=3)

    def compute(data):
        wide = data.astype(_FLOAT64)
        axes = tuple(range(data.ndim)) if dims is None else dims
        centre = wide.sum(axis=axes, keepdims=True) / max(count, 1)
        squares = ((wide - centre) ** 2).sum(axis=axes, keepdims=keepdim)
        spread = squares / max(count - correction, 0)
        return (spread if name == "var" else x._backend.xp.sqrt(spread)).astype(data.dtype)

    out = wrap(quietly(compute, d), x._backend)
    saved = (x,) if name == "var" else (x, out)
    return record(node_cls, out, (x,), save=saved, dims=dims, keepdim=keepdim, count=count,
                  correction=correction, given_correction=given)


__all__ = ["std", "var"]
