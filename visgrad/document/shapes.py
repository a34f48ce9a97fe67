"""Shapes and dtypes found before running: torch's broadcasting, matmul and reduction rules.

Validation runs on every edit, so it must not allocate tensors. :class:`TensorMeta` stands in
for a tensor (shape, dtype, requires_grad) and supports the same arithmetic and methods, so a
custom Function's formula can be checked by evaluating it over metas.

Example::

    >>> from visgrad.document.shapes import TensorMeta, broadcast_shapes
    >>> broadcast_shapes((2, 1), (3,))
    (2, 3)
    >>> (TensorMeta((4, 3)) @ TensorMeta((3, 2))).shape
    (4, 2)

The messages copy torch's wording where torch has one, so what the user reads before running
is what they would read from torch when running.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A shape or dtype problem, found before running."""


def numel(shape: Iterable[int]) -> int:
    return math.prod(shape)


def shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(size) for size in shape) + "]"


def broadcast_shapes(*shapes: Sequence[int]) -> Shape:
    """Torch's broadcasting: align on the right, sizes equal or 1."""
    result: list[int] = []
    ndim = max((len(shape) for shape in shapes), default=0)
    padded = [(1,) * (ndim - len(shape)) + tuple(shape) for shape in shapes]
    for axis in range(ndim):
        sizes = [shape[axis] for shape in padded]
        size = max(sizes)
        for index, value in enumerate(sizes):
            if value not in (1, size):
                other = next(i for i, v in enumerate(sizes) if v == size)
                first, second = sorted((index, other))
                names = "ab" if len(shapes) == 2 else [f"#{i}" for i in range(len(shapes))]
                raise ShapeError(
                    f"The size of tensor {names[first]} ({sizes[first]}) must match the size "
                    f"of tensor {names[second]} ({sizes[second]}) at non-singleton dimension "
                    f"{axis}")
        if any(value == 0 for value in sizes):
            size = 0
        result.append(size)
    return tuple(result)


def matmul_shape(a: Sequence[int], b: Sequence[int]) -> Shape:
    """Torch's matmul: dot, mv, mm and batched mm with broadcast batch dimensions."""
    a, b = tuple(a), tuple(b)
    if not a or not b:
        raise ShapeError(
            "both arguments to matmul need to be at least 1D, but they are "
            f"{len(a)}D and {len(b)}D")
    if len(a) == 1 and len(b) == 1:
        if a[0] != b[0]:
            raise ShapeError(
                f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have "
                f"the same number of elements, but got {a[0]} and {b[0]} elements respectively")
        return ()
    if len(a) == 2 and len(b) == 1:
        if a[1] != b[0]:
            raise ShapeError(f"size mismatch, got input ({a[0]}), mat ({a[0]}x{a[1]}), "
                             f"vec ({b[0]})")
        return (a[0],)
    a_mat = (1, a[0]) if len(a) == 1 else a[-2:]
    b_mat = (b[0], 1) if len(b) == 1 else b[-2:]
    if a_mat[1] != b_mat[0]:
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied "
                         f"({a_mat[0]}x{a_mat[1]} and {b_mat[0]}x{b_mat[1]})")
    batch = broadcast_shapes(a[:-2], b[:-2])
    rows = () if len(a) == 1 else (a_mat[0],)
    cols = () if len(b) == 1 else (b_mat[1],)
    return batch + rows + cols


def normalize_dim(dim: int, ndim: int, *, extra: int = 0) -> int:
    """A dim in ``[-ndim-extra, ndim+extra-1]`` as a non-negative index (0-d acts as 1-d)."""
    size = max(ndim + extra, 1)
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ShapeError(f"dim must be an integer, got {dim!r}")
    if not -size <= dim < size:
        raise ShapeError(f"Dimension out of range (expected to be in range of "
                         f"[{-size}, {size - 1}], but got {dim})")
    return dim % size


def reduce_shape(shape: Shape, dim: int | Sequence[int] | None, keepdim: bool) -> Shape:
    """Shape after ``sum``/``mean`` over ``dim`` (``None`` or ``[]``: every dimension)."""
    if dim is None or (isinstance(dim, list | tuple) and len(dim) == 0):
        return (1,) * len(shape) if keepdim else ()
    dims = [dim] if isinstance(dim, int) else list(dim)
    axes = [normalize_dim(d, len(shape)) for d in dims]
    for axis in set(axes):
        if axes.count(axis) > 1:
            raise ShapeError(f"dim {axis} appears multiple times in the list of dims")
    if not shape:
        return ()
    return tuple(1 if axis in axes else size for axis, size in enumerate(shape)
                 if keepdim or axis not in axes)


def reshape_shape(shape: Shape, new_shape: Sequence[int]) -> Shape:
    new_shape = [int(size) for size in new_shape]
    if new_shape.count(-1) > 1:
        raise ShapeError("only one dimension can be inferred")
    if any(size < -1 for size in new_shape):
        raise ShapeError(f"invalid shape dimension {min(new_shape)}")
    total = numel(shape)
    known = numel(size for size in new_shape if size != -1)
    if -1 in new_shape:
        if known == 0 or total % known:
            raise ShapeError(f"shape '{shape_text(new_shape)}' is invalid for input of size "
                             f"{total}")
        new_shape[new_shape.index(-1)] = total // known
    elif known != total:
        raise ShapeError(f"shape '{shape_text(new_shape)}' is invalid for input of size {total}")
    return tuple(new_shape)


def transpose_shape(shape: Shape, dim0: int, dim1: int) -> Shape:
    axes = list(shape)
    if not shape:
        normalize_dim(dim0, 0)
        normalize_dim(dim1, 0)
        return ()
    i, j = normalize_dim(dim0, len(shape)), normalize_dim(dim1, len(shape))
    axes[i], axes[j] = axes[j], axes[i]
    return tuple(axes)


def permute_shape(shape: Shape, dims: Sequence[int]) -> Shape:
    if len(dims) != len(shape):
        raise ShapeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            "length of the desired ordering of dimensions i.e. input.dim() = "
            f"{len(shape)} is not equal to len(dims) = {len(dims)}")
    axes = [normalize_dim(d, len(shape)) for d in dims]
    if len(set(axes)) != len(axes):
        raise ShapeError("permute(): duplicate dims are not allowed.")
    return tuple(shape[axis] for axis in axes)


def unsqueeze_shape(shape: Shape, dim: int) -> Shape:
    axis = normalize_dim(dim, len(shape), extra=1)
    return shape[:axis] + (1,) + shape[axis:]


def squeeze_shape(shape: Shape, dim: int | None) -> Shape:
    if dim is None:
        return tuple(size for size in shape if size != 1)
    if not shape:
        normalize_dim(dim, 0)
        return ()
    axis = normalize_dim(dim, len(shape))
    return shape[:axis] + shape[axis + 1:] if shape[axis] == 1 else shape


def cat_shape(shapes: Sequence[Shape], dim: int) -> Shape:
    if not shapes:
        raise ShapeError("torch.cat(): expected a non-empty list of Tensors")
    first = shapes[0]
    if not first:
        raise ShapeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = normalize_dim(dim, len(first))
    for number, shape in enumerate(shapes[1:], start=1):
        if len(shape) != len(first):
            raise ShapeError(f"Tensors must have same number of dimensions: got {len(first)} "
                             f"and {len(shape)}")
        for d, (x, y) in enumerate(zip(first, shape, strict=True)):
            if d != axis and x != y:
                raise ShapeError(f"Sizes of tensors must match except in dimension {axis}. "
                                 f"Expected size {x} but got size {y} for tensor number "
                                 f"{number} in the list.")
    return first[:axis] + (sum(shape[axis] for shape in shapes),) + first[axis + 1:]


def stack_shape(shapes: Sequence[Shape], dim: int) -> Shape:
    if not shapes:
        raise ShapeError("stack expects a non-empty TensorList")
    for number, shape in enumerate(shapes[1:], start=1):
        if shape != shapes[0]:
            raise ShapeError(f"stack expects each tensor to be equal size, but got "
                             f"{shape_text(shapes[0])} at entry 0 and {shape_text(shape)} at "
                             f"entry {number}")
    stacked = list(unsqueeze_shape(shapes[0], dim))
    position = dim if dim >= 0 else dim + len(stacked)
    stacked[position] = len(shapes)
    return tuple(stacked)


# --------------------------------------------------------------------------------------------
# dtypes

FLOATING = ("float32", "float64")
DTYPES = ("bool", "int64", "float32", "float64")
_CATEGORY = {"bool": 0, "int64": 1, "float32": 2, "float64": 2}
_DEFAULT_FOR_CATEGORY = {0: "bool", 1: "int64", 2: "float32"}
_TORCH_NAME = {"bool": "Bool", "int64": "Long", "float32": "Float", "float64": "Double"}


def torch_dtype_name(dtype: str) -> str:
    """``"float32"`` -> ``"Float"``: how torch names dtypes in its messages."""
    return _TORCH_NAME.get(dtype, dtype)


def is_floating(dtype: str) -> bool:
    return dtype in FLOATING


def python_scalar_dtype(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "float32"


def result_type(*operands: TensorMeta | bool | int | float) -> str:
    """Torch's type promotion: dimensioned tensors > 0-d tensors > Python scalars.

    A higher category (bool < integer < floating) always wins; within the winning category,
    the most significant group that reaches it decides the dtype.
    """
    groups: list[list[str]] = [[], [], []]  # dimensioned, zero-dim, python scalars
    for operand in operands:
        if isinstance(operand, TensorMeta):
            groups[0 if operand.shape else 1].append(operand.dtype)
        else:
            groups[2].append(python_scalar_dtype(operand))
    category = max(_CATEGORY[d] for group in groups for d in group)
    for index, group in enumerate(groups):
        same = [d for d in group if _CATEGORY[d] == category]
        if same:
            if index == 2:
                return _DEFAULT_FOR_CATEGORY[category]
            return max(same, key=DTYPES.index)
    raise AssertionError("no operands")  # pragma: no cover


def float_result(dtype: str) -> str:
    """Dtype of a floating-only function (exp, sigmoid, true division) of ``dtype``."""
    return dtype if is_floating(dtype) else "float32"


# --------------------------------------------------------------------------------------------
# A tensor without data


@dataclass(frozen=True)
class TensorMeta:
    """Shape, dtype and requires_grad of a tensor that has not been (and need not be) made."""

    shape: Shape = ()
    dtype: str = "float32"
    requires_grad: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return numel(self.shape)

    def describe(self) -> str:
        shape = "scalar" if not self.shape else "×".join(map(str, self.shape))
        grad = ", requires_grad" if self.requires_grad else ""
        return f"{shape} {self.dtype}{grad}"

    # arithmetic -------------------------------------------------------------------------
    def _binary(self, other: Any, op: str, reverse: bool = False) -> TensorMeta:
        a, b = (other, self) if reverse else (self, other)
        return binary_meta(a, b, op)

    def __add__(self, other: Any) -> TensorMeta:
        return self._binary(other, "+")

    def __radd__(self, other: Any) -> TensorMeta:
        return self._binary(other, "+", True)

    def __sub__(self, other: Any) -> TensorMeta:
        return self._binary(other, "-")

    def __rsub__(self, other: Any) -> TensorMeta:
        return self._binary(other, "-", True)

    def __mul__(self, other: Any) -> TensorMeta:
        return self._binary(other, "*")

    def __rmul__(self, other: Any) -> TensorMeta:
        return self._binary(other, "*", True)

    def __truediv__(self, other: Any) -> TensorMeta:
        return self._binary(other, "/")

    def __rtruediv__(self, other: Any) -> TensorMeta:
        return self._binary(other, "/", True)

    def __pow__(self, other: Any) -> TensorMeta:
        return self._binary(other, "**")

    def __rpow__(self, other: Any) -> TensorMeta:
        return self._binary(other, "**", True)

    def __matmul__(self, other: Any) -> TensorMeta:
        return matmul_meta(self, other)

    def __rmatmul__(self, other: Any) -> TensorMeta:
        return matmul_meta(other, self)

    def __neg__(self) -> TensorMeta:
        if self.dtype == "bool":
            raise ShapeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                             "you are trying to invert a mask, use the `~` or `logical_not()` "
                             "operator instead.")
        return self

    def __pos__(self) -> TensorMeta:
        return self

    def _compare(self, other: Any) -> TensorMeta:
        shape = broadcast_shapes(self.shape, _meta_shape(other))
        return TensorMeta(shape, "bool", False)

    # NOTE [== stays equality]: ``==`` keeps comparing metas (tests and caches need it), so
    # a formula's ``x == y`` is checked only when it runs.
    __lt__ = __le__ = __gt__ = __ge__ = _compare

    # methods ----------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False) -> TensorMeta:
        dtype = self.dtype if is_floating(self.dtype) else "int64"
        return TensorMeta(reduce_shape(self.shape, dim, keepdim), dtype, self.requires_grad)

    def mean(self, dim: Any = None, keepdim: bool = False) -> TensorMeta:
        if not is_floating(self.dtype):
            raise ShapeError("mean(): could not infer output dtype. Input dtype must be either "
                             "a floating point or complex dtype. Got: "
                             f"{torch_dtype_name(self.dtype)}")
        return TensorMeta(reduce_shape(self.shape, dim, keepdim), self.dtype,
                          self.requires_grad)

    def max(self, dim: Any = None, keepdim: bool = False) -> TensorMeta:
        if dim is not None and not isinstance(dim, int):
            raise ShapeError("max(): dim must be a single integer")
        return TensorMeta(reduce_shape(self.shape, dim, keepdim), self.dtype,
                          self.requires_grad)

    min = max

    def _unary(self, floating: bool = True) -> TensorMeta:
        return replace(self, dtype=float_result(self.dtype) if floating else self.dtype)

    def exp(self) -> TensorMeta:
        return self._unary()

    log = sqrt = sin = cos = tanh = sigmoid = exp

    def relu(self) -> TensorMeta:
        return self

    abs = clone = relu

    def detach(self) -> TensorMeta:
        return replace(self, requires_grad=False)

    def neg(self) -> TensorMeta:
        return -self

    def clamp(self, min: Any = None, max: Any = None) -> TensorMeta:  # noqa: A002
        if min is None and max is None:
            raise ShapeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        return self

    def pow(self, exponent: Any) -> TensorMeta:
        return self ** exponent

    def matmul(self, other: Any) -> TensorMeta:
        return matmul_meta(self, other)

    def reshape(self, *shape: Any) -> TensorMeta:
        if len(shape) == 1 and isinstance(shape[0], list | tuple):
            shape = tuple(shape[0])
        return replace(self, shape=reshape_shape(self.shape, shape))

    def transpose(self, dim0: int, dim1: int) -> TensorMeta:
        return replace(self, shape=transpose_shape(self.shape, dim0, dim1))

    def permute(self, *dims: Any) -> TensorMeta:
        if len(dims) == 1 and isinstance(dims[0], list | tuple):
            dims = tuple(dims[0])
        return replace(self, shape=permute_shape(self.shape, dims))

    def unsqueeze(self, dim: int) -> TensorMeta:
        return replace(self, shape=unsqueeze_shape(self.shape, dim))

    def squeeze(self, dim: int | None = None) -> TensorMeta:
        return replace(self, shape=squeeze_shape(self.shape, dim))

    def softmax(self, dim: int) -> TensorMeta:
        normalize_dim(dim, self.ndim)
        return self._unary()

    log_softmax = softmax


def _meta_shape(value: Any) -> Shape:
    if isinstance(value, TensorMeta):
        return value.shape
    if isinstance(value, bool | int | float):
        return ()
    raise ShapeError(f"expected a tensor or a number, got {type(value).__name__}")


def _requires_grad(*values: Any) -> bool:
    return any(isinstance(value, TensorMeta) and value.requires_grad for value in values)


def binary_meta(a: Any, b: Any, op: str) -> TensorMeta:
    """Result of ``a op b`` for metas and Python numbers, with torch's checks."""
    shape = broadcast_shapes(_meta_shape(a), _meta_shape(b))
    dtype = result_type(a, b)
    if op == "-" and dtype == "bool":
        raise ShapeError("Subtraction, the `-` operator, with two bool tensors is not "
                         "supported. Use the `^` or `logical_xor()` operator instead.")
    if op == "/":
        dtype = float_result(dtype)
    if op == "**" and not is_floating(dtype):
        exponent_negative = isinstance(b, int | float) and not isinstance(b, bool) and b < 0
        if exponent_negative:
            raise ShapeError("Integers to negative integer powers are not allowed.")
    return TensorMeta(shape, dtype, _requires_grad(a, b))


def matmul_meta(a: Any, b: Any) -> TensorMeta:
    if not (isinstance(a, TensorMeta) and isinstance(b, TensorMeta)):
        raise ShapeError("matmul needs two tensors")
    shape = matmul_shape(a.shape, b.shape)
    if a.dtype != b.dtype:
        raise ShapeError(f"expected m1 and m2 to have the same dtype, but got: "
                         f"{torch_dtype_name(a.dtype).lower()} != "
                         f"{torch_dtype_name(b.dtype).lower()}")
    return TensorMeta(shape, a.dtype, _requires_grad(a, b))


def as_meta(value: Any) -> TensorMeta:
    if isinstance(value, TensorMeta):
        return value
    if isinstance(value, bool | int | float):
        return TensorMeta((), python_scalar_dtype(value), False)
    raise ShapeError(f"expected a tensor, got {type(value).__name__}")


def where_meta(condition: Any, a: Any, b: Any) -> TensorMeta:
    condition = as_meta(condition)
    if condition.dtype != "bool":
        raise ShapeError(f"where expected condition to be a boolean tensor, but got a tensor "
                         f"with dtype {torch_dtype_name(condition.dtype)}")
    shape = broadcast_shapes(condition.shape, _meta_shape(a), _meta_shape(b))
    return TensorMeta(shape, result_type(a, b), _requires_grad(a, b))


def elementwise_pair_meta(a: Any, b: Any) -> TensorMeta:
    """maximum/minimum: broadcast, promote, keep requires_grad."""
    a, b = as_meta(a), as_meta(b)
    return TensorMeta(broadcast_shapes(a.shape, b.shape), result_type(a, b),
                      _requires_grad(a, b))


def constructor_meta(name: str) -> Callable[..., TensorMeta]:
    """``ones``/``randn``/... over metas: the shape from the arguments, float32 by default."""
    from visgrad.document.expressions import constructor_size  # noqa: PLC0415 - cycle

    def construct(*args: Any, **kwargs: Any) -> TensorMeta:
        shape = constructor_size(name, args, kwargs)
        dtype = kwargs.get("dtype") or "float32"
        if name == "arange" and all(isinstance(a, int) and not isinstance(a, bool)
                                    for a in args):
            dtype = kwargs.get("dtype") or "int64"
        return TensorMeta(shape, str(dtype), False)

    return construct


def _like(value: Any) -> TensorMeta:
    return replace(as_meta(value), requires_grad=False)


def _concat(function: Callable[[Sequence[Shape], int], Shape]) -> Callable[..., TensorMeta]:
    def concat(tensors: Sequence[Any], dim: int = 0) -> TensorMeta:
        metas = [as_meta(t) for t in tensors]
        shape = function([m.shape for m in metas], dim)
        return TensorMeta(shape, result_type(*metas), _requires_grad(*metas))

    return concat


def meta_functions() -> dict[str, Callable[..., Any]]:
    """The formula function table over metas: same names as the engine's."""
    table: dict[str, Callable[..., Any]] = {
        name: (lambda method: lambda x, *a, **k: getattr(as_meta(x), method)(*a, **k))(name)
        for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs",
                     "neg", "clamp", "sum", "mean", "max", "min", "softmax", "log_softmax",
                     "reshape", "transpose", "permute", "unsqueeze", "squeeze", "pow")
    }
    table.update(
        matmul=matmul_meta, maximum=elementwise_pair_meta, minimum=elementwise_pair_meta,
        where=where_meta, zeros_like=_like, ones_like=_like,
        cat=_concat(cat_shape), stack=_concat(stack_shape),
    )
    for name in ("zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn"):
        table[name] = constructor_meta(name)
    return table
