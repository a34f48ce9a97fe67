"""The activations of nn.functional beyond relu, tanh and sigmoid: leaky_relu, elu, gelu, silu
and softplus, each with torch's node, gradient formula and in-place form.

The forward runs on the arrays (half precision in float32, rounded once, as torch's kernels
compute it); each rule is written with Tensor operations, so ``create_graph`` differentiates it
again. An in-place form that torch's node feeds with its result (leaky_relu_, elu_) keeps the
result; silu_ keeps its input as it was, as torch's does.
"""

from __future__ import annotations

import math

from visgrad.engine import dtypes
from visgrad.engine.ops import inplace
from visgrad.engine.ops._common import Node, Tensor, quietly, record, wrap
from visgrad.engine.ops.pointwise import erf, exp, sigmoid, tanh, where
from visgrad.engine.tensor import _SCALAR_NAME, zeros_like

_FLOAT32 = dtypes.float32.np
_SQRT1_2 = math.sqrt(0.5)
_PDF = 2 / math.sqrt(math.pi) * _SQRT1_2 * 0.5  # the normal density's 1 / √(2π)
_TANH_BETA = math.sqrt(2) * 2 / math.sqrt(math.pi) * 0.5  # √(2/π)
_TANH_KAPPA = 0.044715


def _floats(x: Tensor, kernel: str) -> None:
    """Refuse ints and bools with torch's words (its kernels take floats only)."""
    d = x._data
    if d.dtype.kind != "f":
        name = _SCALAR_NAME.get(str(d.dtype), str(d.dtype))
        raise NotImplementedError(f'"{kernel}" not implemented for \'{name}\'')


def _result(x: Tensor, compute) -> Tensor:
    """``compute(xp, wide data)``, silently, rounded to x's dtype."""
    wide = x._data.astype(_FLOAT32) if x._data.dtype.itemsize == 2 else x._data
    return wrap(quietly(compute, x._backend.xp, wide).astype(x._data.dtype, copy=False),
                x._backend)


# ---- leaky_relu --------------------------------------------------------------------------------

class LeakyReluBackward0(Node):
    saved_names = ("self",)
    saved_attributes = {"negative_slope": "negative_slope"}

    def backward(self, g):
        (x,) = self.saved_tensors
        return (leaky_relu_backward(g, x, self.negative_slope),)


class LeakyReluBackwardBackward0(Node):
    """leaky_relu's gradient as a recorded op (create_graph): itself again for the incoming
    gradient, zeros for the input (torch keeps this graph: a second derivative is zeros)."""

    def backward(self, gg):
        (x,) = self.saved_tensors
        return (leaky_relu_backward(gg, x, self.negative_slope), zeros_like(x))


def leaky_relu_backward(g, x, slope):
    """g where x > 0, else slope · g."""
    out = where(x.detach() > 0, g, g * slope)
    return record(LeakyReluBackwardBackward0, out.detach(), (g, x), save=(x,),
                  negative_slope=slope)


class LeakyReluBackward1(Node):  # leaky_relu_: its result is what it keeps
    saved_names = ("result",)
    saved_attributes = {"negative_slope": "negative_slope"}

    def backward(self, g):
        if self.negative_slope < 0:
            raise RuntimeError(
                "In-place leakyReLu backward calculation is triggered with a negative slope "
                "which is not supported. This is caused by calling in-place forward function "
                "with a negative slope, please call out-of-place version instead.")
        (y,) = self.saved_tensors
        return (where(y > 0, g, g * self.negative_slope),)


def _leaky(slope):
    return lambda xp, d: xp.where(d > 0, d, d * slope)


def _applied(x, kernel: str, compute, node_cls, in_place_cls, attributes: dict,
             in_place: bool):
    """``compute``'s result recorded as ``node_cls``, which keeps x; or, in place, written
    into x and recorded as ``in_place_cls``, which keeps the result (torch's in-place forms
    of leaky_relu and elu do)."""
    _floats(x, kernel)
    if not in_place:
        return record(node_cls, _result(x, compute), (x,), save=(x,), **attributes)

    def written(source):
        out = _result(source, compute)
        return record(in_place_cls, out, (source,), save=(out,), **attributes)

    return inplace.apply_inplace(x, written)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    return _applied(x, "leaky_relu_cpu", _leaky(negative_slope), LeakyReluBackward0,
                    LeakyReluBackward1, {"negative_slope": negative_slope}, inplace)


def leaky_relu_(x, negative_slope=0.01):
    return leaky_relu(x, negative_slope, inplace=True)


# ---- elu -------------------------------------------------------------------------------------

class EluBackward0(Node):
    saved_names = ("self",)
    saved_attributes = {"alpha": "alpha"}

    def backward(self, g):
        (x,) = self.saved_tensors
        return (where(x <= 0, g * self.alpha * exp(x), g),)


class EluBackward1(Node):  # elu_: from its result, alpha · (eˣ - 1) + alpha = alpha · eˣ
    saved_names = ("result",)
    saved_attributes = {"alpha": "alpha"}

    def backward(self, g):
        if self.alpha < 0:
            raise RuntimeError(
                "In-place elu backward calculation is triggered with a negative slope which is "
                "not supported. This is caused by calling in-place forward function with a "
                "negative slope, please call out-of-place version instead.")
        (y,) = self.saved_tensors
        return (where(y <= 0, g * (y + self.alpha), g),)


def _elu(alpha):
    return lambda xp, d: xp.where(d <= 0, xp.expm1(d) * alpha, d)


def elu(x, alpha=1.0, inplace=False):
    return _applied(x, "elu_cpu", _elu(alpha), EluBackward0, EluBackward1, {"alpha": alpha},
                    inplace)


def elu_(x, alpha=1.0):
    return elu(x, alpha, inplace=True)


# ---- gelu ------------------------------------------------------------------------------------

class GeluBackward0(Node):
    saved_names = ("self",)
    saved_attributes = {"approximate": "approximate"}

    def backward(self, g):
        (x,) = self.saved_tensors
        if self.approximate == "tanh":
            inner = (x + x * x * x * _TANH_KAPPA) * _TANH_BETA
            t = tanh(inner)
            left = x * 0.5
            slope = (1 - t * t) * ((x * x * (3 * _TANH_KAPPA) + 1) * _TANH_BETA)
            return (g * ((t + 1) * 0.5 + left * slope),)
        cdf = (erf(x * _SQRT1_2) + 1) * 0.5
        pdf = exp(x * x * -0.5) * _PDF
        return (g * (cdf + x * pdf),)


def gelu(x, approximate="none"):
    """x · Φ(x), Φ the standard normal's distribution function (``approximate="tanh"``: the
    tanh formula BERT and GPT-2 used).

    In torch's order and precision, so float32 loses digits where torch's does: between
    x = -5.5 and -3, 1 + erf(x/√2) cancels, and torch's own float32 erf kernel and the C
    library's erf visgrad rounds differ there by up to 0.1% of the (tiny) result."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    _floats(x, "GeluKernelImpl")
    if approximate == "tanh":
        def compute(xp, d):
            return d * 0.5 * (1 + xp.tanh((d + d * d * d * _TANH_KAPPA) * _TANH_BETA))
    else:
        backend = x._backend

        def compute(xp, d):
            # torch's order, in its precision: near x = -4, 1 + erf cancels, and float32
            # loses digits there as torch does (below -5.5, -0.0 where the true value is -1e-7)
            return d * 0.5 * (1 + backend.erf(d * _SQRT1_2).astype(d.dtype))
    out = _result(x, compute)
    return record(GeluBackward0, out, (x,), save=(x,), approximate=approximate)


# ---- silu ------------------------------------------------------------------------------------

class SiluBackward0(Node):
    saved_names = ("self",)

    def backward(self, g):
        (x,) = self.saved_tensors
        s = sigmoid(x)
        return (g * s * (1 + x * (1 - s)),)


def silu(x, inplace=False):
    """x · sigmoid(x) (also called swish)."""
    if inplace:
        return silu_(x)
    _floats(x, "silu_cpu")
    out = _result(x, lambda xp, d: d / (1 + xp.exp(-d)))
    return record(SiluBackward0, out, (x,), save=(x,))


def silu_(x):
    _floats(x, "silu_cpu")
    return inplace.apply_inplace(x, silu)  # the node keeps x as it was (a snapshot)


# ---- softplus --------------------------------------------------------------------------------

class SoftplusBackward0(Node):
    saved_names = ("self",)
    saved_attributes = {"beta": "beta", "threshold": "threshold"}

    def backward(self, g):
        (x,) = self.saved_tensors
        z = exp(x * self.beta)
        return (where(x * self.beta > self.threshold, g, g * z / (z + 1)),)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + e^(beta·x)) / beta, and x itself where beta·x passes ``threshold``."""
    _floats(x, "softplus_cpu")

    def compute(xp, d):
        scaled = d * beta
        return xp.where(scaled > threshold, d, xp.log1p(xp.exp(scaled)) / beta)

    out = _result(x, compute)
    return record(SoftplusBackward0, out, (x,), save=(x,), beta=beta, threshold=threshold)


__all__ = ["elu", "elu_", "gelu", "leaky_relu", "leaky_relu_", "silu", "silu_", "softplus"]
