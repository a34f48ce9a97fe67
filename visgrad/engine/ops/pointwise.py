"""Elementwise ops: each forward, then right below it the rule for its gradient.

Gradient rules return one gradient per ``next_functions`` entry, in the output's shape; the
backward iteration reduces broadcast gradients to each input's shape.
"""

from __future__ import annotations

import math
import operator

from visgrad.engine.autograd import FormulaNode, record_output
from visgrad.engine.backend import CPU
from visgrad.engine.tensor import zeros_like
from visgrad.engine.ops._common import (
    _FLOAT32, Node, Tensor, backend_of, broadcast_error, data_as, float_dtype_for,
    number_for_floats, number_for_integers, operand, promote, quiet, quietly, record,
    shape_of, tensor_or_none, wrap,
)


def _binary(a, b, compute, float_result=False, half_in_float32=False):
    """Run ``compute(a_data, b_data)`` in the promoted dtype; returns (out, a, b).

    Overflow, 0/0 and inf - inf give inf and nan silently, as in torch. ``half_in_float32``:
    torch's mul, div and floor division of a half tensor and a Python number compute in
    float32, the number a float32, and round once (numpy would round the number to half
    first: 0 * 1e10 would be nan); its add and sub round the number to half, as numpy does.
    """
    if a.__class__ is Tensor:  # the common cases first: they skip promotion altogether
        ad = a._data
        if b.__class__ is Tensor:
            bd = b._data
            fast = a._backend is b._backend and ad.dtype == bd.dtype and (
                not float_result or ad.dtype.kind == "f")
        else:  # float tensor (op) Python float: numpy keeps the tensor's dtype, as torch does
            bd = b
            fast = b.__class__ is float and ad.dtype.kind == "f" and not (
                half_in_float32 and ad.dtype.itemsize == 2)
        if fast:
            try:
                return Tensor._wrap(quietly(compute, ad, bd), a._backend), a, b
            except ValueError:
                raise broadcast_error(ad.shape, bd.shape) from None
    a, b = operand(a), operand(b)
    dt = promote(a, b)
    if float_result:
        dt = float_dtype_for(dt)
    backend = backend_of(a, b)
    work = _FLOAT32 if half_in_float32 and dt.itemsize == 2 and dt.kind == "f" and not (
        isinstance(a, Tensor) and isinstance(b, Tensor)) else dt
    try:
        with quiet(backend.xp):
            out = compute(data_as(a, work), data_as(b, work))
            if getattr(out, "dtype", None) != dt:
                out = backend.xp.asarray(out, dtype=dt)
    except ValueError:
        sa = a._data.shape if isinstance(a, Tensor) else ()
        sb = b._data.shape if isinstance(b, Tensor) else ()
        raise broadcast_error(sa, sb) from None
    return wrap(out, backend), a, b


# ---- add / sub --------------------------------------------------------------------------------

class AddBackward0(FormulaNode):
    alpha = 1
    _passes = True  # the iteration writes this rule out inline while alpha is 1

    def rule(self, F, g):
        gb = None
        if self.next_functions[1][0] is not None:
            gb = g if self.alpha == 1 else g * self.alpha
        return g, gb


def add(a, b, *, alpha=1):
    if alpha == 1:
        out, a, b = _binary(a, b, operator.add)
        return record(AddBackward0, out, (tensor_or_none(a), tensor_or_none(b)))
    out, a, b = _binary(a, b, lambda x, y: x + y * alpha)
    return record(AddBackward0, out, (tensor_or_none(a), tensor_or_none(b)), alpha=alpha,
                  _passes=False)


class SubBackward0(FormulaNode):
    alpha = 1

    def rule(self, F, g):
        gb = None
        if self.next_functions[1][0] is not None:
            gb = -g if self.alpha == 1 else g * -self.alpha
        return g, gb


def _check_bool_subtraction(a, b) -> None:
    """torch refuses ``-`` on bools (Python bools count) before looking at anything else."""
    a_bool = a.__class__ is bool or isinstance(a, Tensor) and a._data.dtype.kind == "b"
    b_bool = b.__class__ is bool or isinstance(b, Tensor) and b._data.dtype.kind == "b"
    if a_bool and b_bool:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if a_bool or b_bool:
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")


def sub(a, b, *, alpha=1):
    _check_bool_subtraction(a, b)
    if alpha == 1:
        out, a, b = _binary(a, b, operator.sub)
        return record(SubBackward0, out, (tensor_or_none(a), tensor_or_none(b)))
    out, a, b = _binary(a, b, lambda x, y: x - y * alpha)
    return record(SubBackward0, out, (tensor_or_none(a), tensor_or_none(b)), alpha=alpha)


class RsubBackward1(FormulaNode):
    def rule(self, F, g):
        return (-g,)


class RsubBackward0(FormulaNode):
    def rule(self, F, g):
        return -g, g


def rsub(a, b):
    """``b - a`` written as torch does for ``2 - x``: RsubBackward1 with one input."""
    _check_bool_subtraction(a, b)
    if isinstance(b, Tensor):
        out, a, b = _binary(a, b, lambda x, y: y - x)
        return record(RsubBackward0, out, (tensor_or_none(a), b))
    out, a, b = _binary(a, b, lambda x, y: y - x)
    return record(RsubBackward1, out, (a,))


# ---- mul / div ------------------------------------------------------------------------------

class MulBackward0(FormulaNode):
    saved_names = ("self", "other")

    def rule(self, F, g, a, b):
        ga = g * b if self.next_functions[0][0] is not None else None
        if a is b and F.arrays:  # x * x: the two products are equal, bit for bit; the
            return ga, ga  # iteration adds them (ga + ga, as torch does) without a second one
        gb = g * a if self.next_functions[1][0] is not None else None
        return ga, gb


def mul(a, b):
    out, a, b = _binary(a, b, operator.mul, half_in_float32=True)
    # like torch, keep each factor only if the other one's gradient will need it
    # (a view read as of now: NOTE [views after in-place changes])
    a_grad = a.__class__ is not float and isinstance(a, Tensor) and (
        a._requires_grad or a._base is not None and a.requires_grad)
    b_grad = b.__class__ is not float and isinstance(b, Tensor) and (
        b._requires_grad or b._base is not None and b.requires_grad)
    return record(MulBackward0, out, (tensor_or_none(a), tensor_or_none(b)),
                  save=(a if b_grad else None, b if a_grad else None))


class DivBackward0(FormulaNode):
    saved_names = ("self", "other")

    def rule(self, F, g, a, b):
        ga = g / b if self.next_functions[0][0] is not None else None
        gb = -g * ((a / b) / b) if self.next_functions[1][0] is not None else None
        return ga, gb


def div(a, b, *, rounding_mode=None):
    if rounding_mode is not None:
        xp = backend_of(operand(a), operand(b)).xp
        fn = xp.floor_divide if rounding_mode == "floor" else (lambda x, y: xp.trunc(x / y))
        out, a, b = _binary(a, b, fn, half_in_float32=True)
        return out
    out, a, b = _binary(a, b, operator.truediv, float_result=True, half_in_float32=True)
    return record(DivBackward0, out, (tensor_or_none(a), tensor_or_none(b)), save=(a, b))


class ReciprocalBackward0(FormulaNode):
    saved_names = ("result",)

    def rule(self, F, g, y):
        return (-g * (y * y),)


def reciprocal(x):
    dt = float_dtype_for(x._data.dtype)
    with quiet(x._backend.xp):
        out = wrap(1 / data_as(x, dt), x._backend)
    return record_output(ReciprocalBackward0, out, x)


def rtruediv(x, other):
    """``2 / x``: torch computes it as ``reciprocal(x) * 2``."""
    if isinstance(other, Tensor):
        return div(other, x)
    return mul(reciprocal(x), operand(other))


def neg(x):
    if x._data.dtype.kind == "b":
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you "
                           "are trying to invert a mask, use the `~` or `logical_not()` operator "
                           "instead.")
    return record(NegBackward0, wrap(-x._data, x._backend), (x,))


class NegBackward0(FormulaNode):
    def rule(self, F, g):
        return (-g,)


# ---- pow --------------------------------------------------------------------------------------

class PowBackward0(FormulaNode):
    saved_names = ("self",)
    saved_attributes = {"exponent": "exponent"}

    def rule(self, F, g, x):
        e = self.exponent
        if e == 0:
            return (g * 0,)
        return (g * (e * x ** (e - 1)),)


class PowBackward1(Node):
    saved_names = ("self", "exponent", "result")

    def backward(self, g):
        a, b, result = self.saved_tensors
        ga = gb = None
        if self.next_functions[0][0] is not None:
            ga = where(b == 0, 0.0, g * (b * a ** (b - 1)))  # torch: no gradient where b == 0
        if self.next_functions[1][0] is not None:
            zero_base = (a == 0) & (b >= 0)
            gb = g * where(zero_base, 0.0, result * log(a))
        return ga, gb


class PowBackward2(Node):
    def backward(self, g):
        (result,) = self.saved_tensors
        if self.base == 0:
            return (g * where(self._exp_nonneg(), 0.0, result * -math.inf),)
        log_base = math.log(self.base) if self.base > 0 else math.nan  # torch: log(-2) is nan
        return (g * (result * log_base),)

    def _exp_nonneg(self):
        return self.exponent_ref >= 0


def _power(xp, x, y):
    """``x ** y``; for integers a negative exponent gives what torch gives (0, or +-1 for a base
    of +-1) where numpy would refuse."""
    if getattr(y, "dtype", None) is None or y.dtype.kind not in "iu" or not (
            x.__class__ in (int, bool) or
            getattr(x, "dtype", None) is not None and x.dtype.kind in "biu"):
        return x ** y
    if x.__class__ in (int, bool):
        x = xp.asarray(x, dtype=y.dtype)
    negative = y < 0
    whole = x ** xp.where(negative, 0, y)
    odd = (y % 2) != 0
    special = xp.where(x == 1, 1, xp.where(x == -1, xp.where(odd, -1, 1), 0)).astype(whole.dtype)
    return xp.where(negative, special, whole)


def pow(a, b):  # noqa: A001 - torch's name
    a, b = operand(a), operand(b)
    if promote(a, b).kind == "b":
        if isinstance(a, Tensor) and b.__class__ is bool:  # torch's shortcuts for ** 1 and ** 0
            return wrap(a._data.copy() if b else a._backend.xp.ones_like(a._data), a._backend)
        raise NotImplementedError('"pow" not implemented for \'Bool\'')
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        if a._data.dtype.kind in "biu" and b.__class__ is int and b < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        out, _, _ = _binary(a, b, lambda x, y: x ** y)
        return record(PowBackward0, out, (a,), save=(a,), exponent=b)
    xp = backend_of(a, b).xp
    if not isinstance(a, Tensor):
        out, _, _ = _binary(a, b, lambda x, y: _power(xp, x, y))
        return record(PowBackward2, out, (b,), save=(out,), base=a, exponent_ref=b)
    out, _, _ = _binary(a, b, lambda x, y: _power(xp, x, y))
    return record(PowBackward1, out, (a, b), save=(a, b, out))


# ---- unary functions ---------------------------------------------------------------------------

def _unary(x, fn):
    """``fn`` of x's data in a float dtype (ints and bools become float32), errors silent."""
    d = x._data
    if d.dtype.kind != "f":
        d = d.astype(float_dtype_for(d.dtype))
    return Tensor._wrap(quietly(fn, d), x._backend)


class ExpBackward0(FormulaNode):
    saved_names = ("result",)

    def rule(self, F, g, y):
        return (g * y,)


def exp(x):
    out = _unary(x, x._backend.xp.exp)
    return record_output(ExpBackward0, out, x)


class LogBackward0(FormulaNode):
    saved_names = ("self",)

    def rule(self, F, g, x):
        return (g / x,)


def log(x):  # log(0) is -inf and log(-1) nan, silently (_unary)
    return record(LogBackward0, _unary(x, x._backend.xp.log), (x,), save=(x,))


class SqrtBackward0(FormulaNode):
    saved_names = ("result",)

    def rule(self, F, g, y):
        return (g / (2 * y),)


def sqrt(x):  # sqrt(-1) is nan, silently (_unary)
    return record_output(SqrtBackward0, _unary(x, x._backend.xp.sqrt), x)


class SinBackward0(Node):
    saved_names = ("self",)

    def backward(self, g):
        (x,) = self.saved_tensors
        return (g * cos(x),)


def sin(x):
    return record(SinBackward0, _unary(x, x._backend.xp.sin), (x,), save=(x,))


class CosBackward0(Node):
    saved_names = ("self",)

    def backward(self, g):
        (x,) = self.saved_tensors
        return (g * -sin(x),)


def cos(x):
    return record(CosBackward0, _unary(x, x._backend.xp.cos), (x,), save=(x,))


class Log1PBackward0(Node):
    saved_names = ("self",)

    def backward(self, g):
        (x,) = self.saved_tensors
        return (g / (x + 1),)


def log1p(x):
    """log(1 + x), exact for tiny x where 1 + x would round (log1p(-1) is -inf, silently)."""
    return record(Log1PBackward0, _unary(x, x._backend.xp.log1p), (x,), save=(x,))


class Expm1Backward0(Node):
    saved_names = ("result",)

    def backward(self, g):
        (y,) = self.saved_tensors
        return (g * (y + 1),)


def expm1(x):
    """eˣ - 1, exact for tiny x."""
    return record_output(Expm1Backward0, _unary(x, x._backend.xp.expm1), x)


class ErfBackward0(Node):
    saved_names = ("self",)

    def backward(self, g):
        (x,) = self.saved_tensors
        return (g * (2.0 / math.sqrt(math.pi)) * exp(-(x * x)),)


def erf(x):
    """The error function (GELU's cumulative normal is built on it); computed in float64 and
    rounded to x's float dtype (ints and bools give float32, as in torch)."""
    dtype = float_dtype_for(x._data.dtype)
    out = _unary(x, lambda d: x._backend.erf(d).astype(dtype))
    return record(ErfBackward0, out, (x,), save=(x,))


class TanhBackward0(FormulaNode):
    saved_names = ("result",)

    def rule(self, F, g, y):
        if F.arrays and g.dtype.itemsize == 2:  # half: in float32, rounded once, as torch's
            g32, y32 = g.astype(_FLOAT32), y.astype(_FLOAT32)  # kernel computes it
            return ((g32 * (1 - y32 * y32)).astype(g.dtype),)
        return (g * (1 - y * y),)


def tanh(x):
    out = _unary(x, x._backend.xp.tanh)
    return record_output(TanhBackward0, out, x)


class SigmoidBackward0(FormulaNode):
    saved_names = ("result",)

    def rule(self, F, g, y):
        return (g * (1 - y) * y,)


def sigmoid(x):
    xp = x._backend.xp

    def fn(d):
        # torch's formula: in float32, exp(100) is inf and sigmoid(-100) exactly 0, as in torch;
        # half precision is computed in float32 and rounded once, as torch's kernel does
        wide = d.astype(_FLOAT32) if d.dtype.itemsize == 2 else d
        return (1 / (1 + xp.exp(-wide))).astype(d.dtype, copy=False)

    out = _unary(x, fn)
    return record_output(SigmoidBackward0, out, x)


class ReluBackward0(FormulaNode):
    saved_names = ("result",)

    def rule(self, F, g, y):
        # torch's threshold_backward zeroes where y <= 0; a nan output passes g on
        if F.arrays:
            return (F.zero_where(y <= 0, g),)
        return (threshold_backward(g, y),)


class ThresholdBackwardBackward0(Node):
    """relu's gradient as a recorded op (create_graph): its own gradient is itself for the
    incoming gradient, and zeros for the output it masks with (a graph, as torch keeps one,
    so that a second derivative through relu is zeros, not an error)."""

    def backward(self, gg):
        (y,) = self.saved_tensors
        return (threshold_backward(gg, y), zeros_like(y))


def threshold_backward(g, y):
    """g where y > 0 (or is nan), else 0."""
    out = wrap(y._backend.zero_where(y._data <= 0, g._data), y._backend)
    return record(ThresholdBackwardBackward0, out, (g, y), save=(y,))


def relu(x):
    if x._data.dtype.kind == "b":
        raise RuntimeError("Boolean inputs not supported for relu")
    d = x._data
    if d.ndim == 0 and d.dtype.kind == "f" and x._backend is CPU:
        # one number (a scalar graph): the choice itself, where maximum() would cost ten
        # times as much; -0.0 and nan stay, as below
        v = d[()]
        out = wrap(d.dtype.type(0) if v < 0 else v, x._backend)
    else:
        # zero first: numpy then keeps -0.0 (and nan) as torch's relu does
        out = wrap(x._backend.xp.maximum(d.dtype.type(0), d), x._backend)
    return record_output(ReluBackward0, out, x)


class AbsBackward0(Node):
    saved_names = ("self",)

    def backward(self, g):
        (x,) = self.saved_tensors
        return (g * sign(x),)


def abs(x):  # noqa: A001 - torch's name
    if x._data.dtype.kind == "b":
        raise NotImplementedError('"abs_cpu" not implemented for \'Bool\'')
    return record(AbsBackward0, wrap(x._backend.xp.abs(x._data), x._backend), (x,), save=(x,))


class SignBackward0(Node):
    def backward(self, g):
        return (g * 0,)


def sign(x):
    """Its derivative is zero almost everywhere, but torch still records it (so second
    derivatives of, say, l1_loss come out as zeros rather than an error)."""
    d = x._data
    data = d.copy() if d.dtype.kind == "b" else x._backend.xp.sign(d)  # sign(True) is True
    return record(SignBackward0, wrap(data, x._backend), (x,))


class ClampBackward1(Node):
    saved_names = ("self",)
    saved_attributes = {"min": "min", "max": "max"}

    def backward(self, g):
        (x,) = self.saved_tensors
        inside = None
        if self.min is not None:
            inside = x >= self.min
        if self.max is not None:
            upper = x <= self.max
            inside = upper if inside is None else inside & upper
        return (where(inside, g, 0.0),)


class ClampBackward0(Node):
    """clamp with tensor bounds: the gradient goes to whichever of x, min, max was the output."""

    def backward(self, g):
        x, lo, hi = self.saved_tensors
        gx = g_lo = g_hi = None
        if lo is not None and hi is not None:
            if self.next_functions[0][0] is not None:
                gx = where((x >= lo) & (x <= hi), g, 0.0)
            if self.next_functions[1][0] is not None:
                g_lo = where((x < lo) & (lo < hi), g, 0.0)
            if self.next_functions[2][0] is not None:
                g_hi = where((x > hi) | (hi < lo), g, 0.0)
        elif lo is not None:
            gx = where(x >= lo, g, 0.0) if self.next_functions[0][0] is not None else None
            g_lo = where(x < lo, g, 0.0) if self.next_functions[1][0] is not None else None
        else:
            gx = where(x <= hi, g, 0.0) if self.next_functions[0][0] is not None else None
            g_hi = where(x > hi, g, 0.0) if self.next_functions[2][0] is not None else None
        return gx, g_lo, g_hi


def _clamp_tensors(x, lo, hi):
    from visgrad.engine import dtypes  # noqa: PLC0415

    if not isinstance(lo, (Tensor, type(None))) or not isinstance(hi, (Tensor, type(None))):
        raise TypeError("clamp() received an invalid combination of arguments: min and max must "
                        "both be Tensors or both be numbers")
    dt = dtypes.result_type(*(t for t in (x, lo, hi) if t is not None)).np
    xp = x._backend.xp
    try:
        d = data_as(x, dt)
        if lo is not None:
            d = xp.maximum(d, data_as(lo, dt))
        if hi is not None:
            d = xp.minimum(d, data_as(hi, dt))
    except ValueError:
        raise broadcast_error(*(t._data.shape for t in (x, lo, hi) if t is not None)) from None
    return record(ClampBackward0, wrap(d, x._backend), (x, lo, hi), save=(x, lo, hi))


def clamp(x, min=None, max=None):  # noqa: A002 - torch's names
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensors(x, min, max)
    xp = x._backend.xp
    d = x._data
    if d.dtype.kind == "b" and all(b is None or b.__class__ is bool for b in (min, max)):
        kernel = "clamp_scalar_cpu" if min is not None and max is not None else \
            "clamp_min_scalar_cpu" if min is not None else "clamp_max_scalar_cpu"
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')
    dt = promote(x, 0.0 if float in (type(min), type(max)) else 0)  # int tensor, float bound
    if d.dtype != dt:
        d = d.astype(dt)
    number_for = number_for_floats if d.dtype.kind == "f" else number_for_integers
    bound = lambda v: number_for(v, dt)  # noqa: E731
    if min is not None:
        d = xp.maximum(d, bound(min))
    if max is not None:
        d = xp.minimum(d, bound(max))
    out = wrap(d.astype(dt, copy=False), x._backend)
    return record(ClampBackward1, out, (x,), save=(x,), min=min, max=max)


class MaximumBackward0(Node):
    saved_names = ("self", "other")

    def backward(self, g):
        a, b = self.saved_tensors
        tie = a == b
        half = where(tie, g / 2, g)
        ga = where(a < b, 0.0, half) if self.next_functions[0][0] is not None else None
        gb = where(a > b, 0.0, half) if self.next_functions[1][0] is not None else None
        return ga, gb


class MinimumBackward0(Node):
    saved_names = ("self", "other")

    def backward(self, g):
        a, b = self.saved_tensors
        tie = a == b
        half = where(tie, g / 2, g)
        ga = where(a > b, 0.0, half) if self.next_functions[0][0] is not None else None
        gb = where(a < b, 0.0, half) if self.next_functions[1][0] is not None else None
        return ga, gb


def maximum(a, b):
    xp = backend_of(operand(a), operand(b)).xp
    out, a, b = _binary(a, b, xp.maximum)
    return record(MaximumBackward0, out, (tensor_or_none(a), tensor_or_none(b)), save=(a, b))


def minimum(a, b):
    xp = backend_of(operand(a), operand(b)).xp
    out, a, b = _binary(a, b, xp.minimum)
    return record(MinimumBackward0, out, (tensor_or_none(a), tensor_or_none(b)), save=(a, b))


# ---- where and comparisons ------------------------------------------------------------------

class WhereBackward0(Node):
    saved_names = ("condition",)

    def backward(self, g):
        (cond,) = self.saved_tensors
        ga = where(cond, g, 0.0) if self.next_functions[0][0] is not None else None
        gb = where(cond, 0.0, g) if self.next_functions[1][0] is not None else None
        return ga, gb


def _plus_zero(x) -> bool:
    return (x.__class__ is int or x.__class__ is float) and x == 0 and math.copysign(1, x) > 0


def where(condition, a, b):
    condition = operand(condition)
    a, b = operand(a), operand(b)
    if not isinstance(condition, Tensor) or condition._data.dtype.kind != "b":
        from visgrad.engine.tensor import _SCALAR_NAME  # noqa: PLC0415

        got = _SCALAR_NAME[str(condition._data.dtype)] if isinstance(condition, Tensor) else \
            type(condition).__name__
        raise RuntimeError("where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {got}")
    dt = promote(a, b)
    backend = condition._backend
    for t in (a, b):
        if isinstance(t, Tensor) and t._backend is not backend:
            backend_of(condition, t)
    try:
        if _plus_zero(b) and isinstance(a, Tensor) and a._data.dtype == dt and dt.kind == "f":
            data = backend.where_or_zero(condition._data, a._data)
        elif _plus_zero(a) and isinstance(b, Tensor) and b._data.dtype == dt and dt.kind == "f":
            data = backend.zero_where(condition._data, b._data)
        else:
            with quiet():  # a number beyond the dtype becomes inf silently, as in torch
                data = backend.xp.where(condition._data, data_as(a, dt), data_as(b, dt))
    except ValueError:
        raise broadcast_error(condition._data.shape, shape_of(a), shape_of(b)) from None
    if data.dtype != dt:
        data = data.astype(dt)
    out = wrap(data, backend)
    return record(WhereBackward0, out, (tensor_or_none(a), tensor_or_none(b)), save=(condition,))


def _compare(a, b, fn):
    a, b = operand(a), operand(b)
    dt = promote(a, b)
    backend = backend_of(a, b)
    try:
        return wrap(fn(data_as(a, dt), data_as(b, dt)), backend)
    except ValueError:
        raise broadcast_error(a._data.shape if isinstance(a, Tensor) else (),
                              b._data.shape if isinstance(b, Tensor) else ()) from None


def eq(a, b):
    return _compare(a, b, lambda x, y: x == y)


def ne(a, b):
    return _compare(a, b, lambda x, y: x != y)


def lt(a, b):
    return _compare(a, b, lambda x, y: x < y)


def le(a, b):
    return _compare(a, b, lambda x, y: x <= y)


def gt(a, b):
    return _compare(a, b, lambda x, y: x > y)


def ge(a, b):
    return _compare(a, b, lambda x, y: x >= y)


def logical_and(a, b):
    return _compare(a, b, lambda x, y: x & y)


def logical_or(a, b):
    return _compare(a, b, lambda x, y: x | y)


def logical_xor(a, b):
    return _compare(a, b, lambda x, y: x ^ y)


def invert(x):
    if x._data.dtype.kind not in "biu":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        "tensors")
    return wrap(~x._data, x._backend)


def isnan(x):
    return wrap(x._backend.xp.isnan(x._data), x._backend)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|a - b| <= atol + rtol * |b|`` elementwise (equal values, infinities included, are
    close; nan only with ``equal_nan``), as torch decides it."""
    from visgrad.engine.tensor import _SCALAR_NAME  # noqa: PLC0415

    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"{_SCALAR_NAME[str(a._data.dtype)]} did not match "
                           f"{_SCALAR_NAME[str(b._data.dtype)]}")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if tol < 0:
            raise RuntimeError(f"{name} must be greater than or equal to zero, but got {tol:g}")
    backend = backend_of(a, b)
    xp, x, y = backend.xp, a._data, b._data
    try:
        same = x == y
    except ValueError:
        raise broadcast_error(x.shape, y.shape) from None
    with quiet(xp):
        if x.dtype.kind != "f":  # integers and bools: compared as default floats, as torch
            x, y = x.astype(_FLOAT32), y.astype(_FLOAT32)
        error = xp.abs(x - y)  # an infinite error is never within tolerance
        close = same | (xp.isfinite(error) & (error <= atol + rtol * xp.abs(y)))
        if equal_nan:
            close = close | (xp.isnan(x) & xp.isnan(y))
    return wrap(close, backend)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(isclose(a, b, rtol, atol, equal_nan)._data.all())


def equal(a, b) -> bool:
    """Same shape and the same values (dtypes may differ; nan equals nothing), as torch."""
    if tuple(a._data.shape) != tuple(b._data.shape):
        return False
    return bool((a._data == backend_of(a, b).asarray(b._data)).all())


def isinf(x):
    d = x._data
    if d.dtype.kind != "f":  # integers and bools are never infinite
        return wrap(x._backend.xp.zeros(d.shape, dtype=bool), x._backend)
    return wrap(x._backend.xp.isinf(d), x._backend)


# ---- masked_fill --------------------------------------------------------------------------

class MaskedFillBackward0(Node):
    def backward(self, g):
        return (where(self.mask, 0.0, g),)


class MaskedFillBackward1(Node):
    """masked_fill with a 0-d tensor for the value: its gradient is what the mask took."""

    def backward(self, g):
        gx = where(self.mask, 0.0, g) if self.next_functions[0][0] is not None else None
        gv = where(self.mask, g, 0.0).sum() if self.next_functions[1][0] is not None else None
        return gx, gv


def check_fill_mask(mask) -> None:
    """masked_fill_ takes bool masks only (setitem meets it too: a byte mask with a number)."""
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        from visgrad.engine.ops.linalg import CPP_NAME  # noqa: PLC0415

        name = CPP_NAME.get(str(mask._data.dtype), str(mask._data.dtype)) \
            if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{name}")


def masked_fill(x, mask, value):
    """``value`` where ``mask`` is true, else ``x`` (the two broadcast, as in torch)."""
    check_fill_mask(mask)
    value = operand(value)
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value._data.ndim} dimension(s).")
    backend = backend_of(x, mask)
    d = x._data
    if isinstance(value, Tensor):
        fill = value._data.astype(d.dtype)
    elif d.dtype.kind in "iu" and not isinstance(value, bool):
        fill = number_for_integers(value, d.dtype)
    elif d.dtype.kind == "f":
        fill = number_for_floats(value, d.dtype)
    else:
        fill = d.dtype.type(value)
    try:
        out = wrap(backend.xp.where(mask._data, fill, d), backend)
    except ValueError:
        raise broadcast_error(mask._data.shape, d.shape) from None
    if isinstance(value, Tensor):
        return record(MaskedFillBackward1, out, (x, value), mask=mask)
    return record(MaskedFillBackward0, out, (x,), mask=mask)


def isfinite(x):
    return wrap(x._backend.xp.isfinite(x._data), x._backend)


def floor_divide(a, b):
    xp = backend_of(operand(a), operand(b)).xp
    _check_integer_division(a, b, "div_floor_cpu")
    out, _, _ = _binary(a, b, xp.floor_divide, half_in_float32=True)
    return out


def remainder(a, b):
    xp = backend_of(operand(a), operand(b)).xp
    _check_integer_division(a, b, "remainder_cpu")
    out, _, _ = _binary(a, b, xp.remainder)
    return out


def _check_integer_division(a, b, kernel: str) -> None:
    """torch has no bool kernel for // and %, and refuses an integer division by zero (numpy
    would give 0 with a warning)."""
    dt = promote(operand(a), operand(b))
    if dt.kind == "b":
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')
    if dt.kind in "iu":
        divisor = b._data if isinstance(b, Tensor) else b
        if bool((divisor == 0).any()) if isinstance(b, Tensor) else divisor == 0:
            raise RuntimeError("ZeroDivisionError")


def logical_not_impl(x):
    return wrap(x._backend.xp.logical_not(x._data), x._backend)
