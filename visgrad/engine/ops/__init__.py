"""The differentiable ops, and the Tensor methods and operators that call them."""

from __future__ import annotations

import numbers

from visgrad.engine import autograd as _autograd
from visgrad.engine.ops import (
    activations, conversion, fast_operators, gathering, indexing, inplace, linalg, norms,
    ordering, pointwise, rearranging, reductions, scans, shape, variance,
)
from visgrad.engine.ops import softmax as _softmax
from visgrad.engine.ops._common import operand
from visgrad.engine.ops.gathering import gather, scatter, scatter_add
from visgrad.engine.ops.indexing import getitem, narrow, select, setitem
from visgrad.engine.ops.linalg import bmm, dot, matmul, mm, mv
from visgrad.engine.ops.pointwise import (
    abs, add, allclose, clamp, cos, div, eq, equal, erf, exp, expm1, floor_divide, ge, gt,
    invert, isclose, log1p,
    isfinite, isinf, isnan, le, log, masked_fill,
    logical_and, logical_not_impl, logical_or, logical_xor, lt, maximum, minimum, mul, ne, neg,
    pow, reciprocal, relu, remainder, rsub, rtruediv, sigmoid, sign, sin, sqrt, sub, tanh, where,
)
from visgrad.engine.ops.reductions import (
    all, any, argmax, argmin, max, mean, min, prod, return_types, sum,
)
from visgrad.engine.ops.shape import (
    T, cat, clone, expand, flatten, permute, reshape, squeeze, stack, t, transpose, unsqueeze,
    view,
)
from visgrad.engine.ops.softmax import log_softmax, softmax
from visgrad.engine.ops.norms import norm
from visgrad.engine.ops.ordering import argsort, sort, topk
from visgrad.engine.ops.rearranging import flip, repeat, tril, triu
from visgrad.engine.ops.scans import cumsum, logsumexp
from visgrad.engine.ops.variance import std, var
from visgrad.engine.tensor import Tensor

__all__ = [
    "abs", "add", "argmax", "argmin", "bmm", "cat", "clamp", "clone", "cos", "div", "dot", "eq",
    "exp", "expand", "flatten", "ge", "gt", "le", "log", "log_softmax", "lt", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mm", "mul", "mv", "ne", "neg", "permute", "pow",
    "reciprocal", "relu", "reshape", "return_types", "sigmoid", "sign", "sin", "softmax", "sqrt",
    "squeeze", "stack", "sub", "sum", "t", "tanh", "transpose", "unsqueeze", "view", "where",
    "narrow", "select", "isnan", "isfinite", "isinf", "masked_fill", "remainder", "floor_divide",
    "isclose", "allclose", "equal", "all", "any", "erf", "var", "std", "norm", "gather",
    "scatter", "scatter_add", "sort", "argsort", "topk", "log1p", "expm1", "flip", "repeat",
    "tril", "triu", "cumsum", "logsumexp", "prod",
]
_ = (activations, conversion, gathering, indexing, inplace, linalg, norms, ordering, pointwise,
     rearranging, reductions, scans, shape, variance, _softmax, operand)


def _inplace_binary(op):
    def method(self, other, **kwargs):
        other = operand(other)
        return inplace.apply_inplace(self, lambda src: op(src, other, **kwargs), other)

    method.__name__ = op.__name__ + "_"
    return method


def _inplace_unary(op):
    def method(self, *args, **kwargs):
        return inplace.apply_inplace(self, lambda src: op(src, *args, **kwargs))

    method.__name__ = op.__name__ + "_"
    return method


def _masked_fill_(self, mask, value):
    return inplace.apply_inplace(self, lambda src: masked_fill(src, mask, value), value)


def _clamp_(self, min=None, max=None):  # noqa: A002 - torch's names
    # with numbers for bounds, torch's kernel names the tensor's dtype as C++ does
    numbers = not isinstance(min, Tensor) and not isinstance(max, Tensor)
    return inplace.apply_inplace(self, lambda src: clamp(src, min, max), min, max,
                                 type_names=linalg.CPP_NAME if numbers else None)


def _method_dims(fn):
    """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both work, as in torch."""

    def method(self, *dims):
        return fn(self, *dims)

    method.__name__ = fn.__name__
    return method


_PLAIN_OPERANDS = frozenset((Tensor, float, int, bool))


def _operator(fn):
    """A binary operator that, like torch's, leaves operands it does not take to Python (which
    then raises "unsupported operand type(s) for +: 'Tensor' and 'str'")."""

    def method(self, other):
        if other.__class__ in _PLAIN_OPERANDS or isinstance(
                other, (Tensor, numbers.Number)) or hasattr(other, "__array_interface__"):
            return fn(self, other)
        return NotImplemented

    method.__name__ = getattr(fn, "__name__", "operator")
    return method


def _positive(x):
    if x._data.dtype.kind == "b":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return x


def _install() -> None:
    T_ = Tensor
    # arithmetic operators
    T_.__add__ = T_.__radd__ = _operator(add)
    T_.__sub__ = _operator(sub)
    T_.__rsub__ = _operator(rsub)
    T_.__mul__ = T_.__rmul__ = _operator(mul)
    T_.__truediv__ = _operator(div)
    T_.__rtruediv__ = _operator(rtruediv)
    T_.__pow__ = _operator(pow)
    T_.__rpow__ = _operator(lambda self, other: pow(operand(other), self))
    T_.__matmul__ = lambda self, other: matmul(self, other) if isinstance(
        other, Tensor) else NotImplemented
    T_.__rmatmul__ = lambda self, other: matmul(other, self) if isinstance(
        other, Tensor) else NotImplemented
    T_.__neg__ = neg
    T_.__pos__ = _positive
    T_.__abs__ = abs
    T_.__floordiv__ = _operator(floor_divide)
    T_.__rfloordiv__ = _operator(lambda self, other: floor_divide(operand(other), self))
    T_.__mod__ = _operator(remainder)
    T_.__rmod__ = _operator(lambda self, other: remainder(operand(other), self))
    T_.__eq__ = eq
    T_.__ne__ = ne
    T_.__lt__ = _operator(lt)
    T_.__le__ = _operator(le)
    T_.__gt__ = _operator(gt)
    T_.__ge__ = _operator(ge)
    T_.__and__ = T_.__rand__ = logical_and
    T_.__or__ = T_.__ror__ = logical_or
    T_.__xor__ = T_.__rxor__ = logical_xor
    T_.__invert__ = invert
    # NOTE [fused operators]: float arithmetic in one function; the methods above take the rest
    fast_operators.install({name: getattr(T_, name) for name in (
        "__add__", "__radd__", "__sub__", "__mul__", "__rmul__", "__truediv__", "__matmul__")})
    T_.__getitem__ = getitem
    T_.__setitem__ = setitem
    # in-place
    T_.add_ = _inplace_binary(add)
    T_.sub_ = _inplace_binary(sub)
    T_.mul_ = _inplace_binary(mul)
    T_.div_ = _inplace_binary(div)
    T_.pow_ = _inplace_binary(pow)
    T_.__iadd__ = T_.add_
    T_.__isub__ = T_.sub_
    T_.__imul__ = T_.mul_
    T_.__itruediv__ = T_.div_
    T_.clamp_ = _clamp_
    T_.relu_ = _inplace_unary(relu)
    T_.exp_ = _inplace_unary(exp)
    T_.neg_ = _inplace_unary(neg)
    T_.masked_fill_ = _masked_fill_
    for unary in (abs, sigmoid, tanh, log, sqrt, sin, cos, sign, reciprocal, erf, log1p, expm1):
        setattr(T_, unary.__name__ + "_", _inplace_unary(unary))
    T_.scatter_ = gathering.scatter_
    T_.scatter_add_ = gathering.scatter_add_
    T_.zero_ = inplace.zero_
    T_.fill_ = inplace.fill_
    T_.copy_ = inplace.copy_
    # methods
    for name in ("add", "sub", "mul", "div", "pow", "exp", "log", "sqrt", "sin", "cos", "tanh",
                 "sigmoid", "relu", "abs", "sign", "clamp", "maximum", "minimum", "sum", "mean",
                 "max", "min", "argmax", "argmin", "matmul", "mm", "bmm", "mv", "dot", "t",
                 "transpose", "unsqueeze", "squeeze", "flatten", "clone", "softmax", "log_softmax",
                 "neg", "reciprocal", "eq", "ne", "lt", "le", "gt", "ge", "narrow", "select",
                 "isnan", "isfinite", "isinf", "masked_fill", "isclose", "allclose", "equal", "all",
                 "any", "erf", "var", "std", "norm", "gather", "scatter", "scatter_add", "sort",
                 "argsort", "topk", "log1p", "expm1", "tril", "triu", "cumsum", "logsumexp",
                 "prod"):
        setattr(T_, name, globals()[name])
    T_.reshape = _method_dims(reshape)
    T_.flip = _method_dims(flip)
    T_.repeat = _method_dims(repeat)
    T_.view = _method_dims(view)
    T_.permute = _method_dims(permute)
    T_.expand = _method_dims(expand)
    T_.T = property(T)
    T_.clip = clamp
    T_.negative = neg
    T_.square = lambda self: pow(self, 2)
    T_.logical_not = logical_not_impl
    T_.view_as = lambda self, other: view(self, *other._data.shape)
    T_.reshape_as = lambda self, other: reshape(self, *other._data.shape)
    T_.expand_as = lambda self, other: expand(self, *other._data.shape)
    T_.where = lambda self, condition, other: where(condition, self, other)


class _TensorFormulas:
    """The functions of FormulaNode rules, on Tensors (so create_graph records them)."""

    arrays = False  # a rule records what it computes: each gradient its own op, as in torch

    exp = staticmethod(exp)
    mm = staticmethod(mm)

    @staticmethod
    def sum(x, dim, keepdim):
        return sum(x, dim, keepdim=keepdim)

    @staticmethod
    def expand(x, shape):
        return expand(x, *shape)

    @staticmethod
    def expand_divided(x, shape, count):
        return expand(x, *shape) / count

    @staticmethod
    def unsqueeze_dims(x, dims):
        for d in dims:  # ascending, so each lands at its original position
            x = unsqueeze(x, d)
        return x

    @staticmethod
    def zero_where(mask, x):
        return where(mask, 0.0, x)

    scatter = staticmethod(indexing.scatter_into)

    @staticmethod
    def t(x):
        return t(x)


_install()
_autograd.tensor_formulas = _TensorFormulas()
