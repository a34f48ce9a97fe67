"""Tensor dtypes and torch's type-promotion rules.

visgrad prints and compares dtypes exactly as PyTorch does (``torch.float32``), because users
read those names in tutorials; numpy alone would promote ``int_tensor * 2.5`` to float64 and a
float32 tensor times a float64 scalar differently from torch, so promotion is decided here.
"""

from __future__ import annotations

import math

import numpy as np


class DType:
    """A tensor element type. ``repr`` matches torch so printed tensors match torch's."""

    __slots__ = ("name", "np", "is_floating_point", "_category", "itemsize")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == FLOAT
        self._category = category
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


BOOL, INT, FLOAT = 0, 1, 2

bool_ = DType("bool", np.bool_, BOOL)
uint8 = DType("uint8", np.uint8, INT)
int8 = DType("int8", np.int8, INT)
int16 = DType("int16", np.int16, INT)
int32 = DType("int32", np.int32, INT)
int64 = DType("int64", np.int64, INT)
float16 = DType("float16", np.float16, FLOAT)
float32 = DType("float32", np.float32, FLOAT)
float64 = DType("float64", np.float64, FLOAT)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"bool": bool_, "float": float32, "double": float64, "half": float16,
                 "long": int64, "int": int32})

default_float = float32


def from_name(name: str) -> DType:
    return _BY_NAME[name]


def from_numpy(np_dtype) -> DType:
    """The visgrad dtype for a numpy dtype; unsupported ones raise a clear TypeError."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(f"visgrad has no dtype for numpy {np.dtype(np_dtype)}") from None


def as_dtype(dtype) -> DType:
    """Accept a visgrad dtype, a numpy dtype/type, a torch-style name, or a Python type."""
    if isinstance(dtype, DType):
        return dtype
    if dtype is float:
        return default_float
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    if isinstance(dtype, str):
        key = dtype.removeprefix("torch.").removeprefix("visgrad.")
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise TypeError(f"unknown dtype {dtype!r}")
    return from_numpy(dtype)


def _promote_pair(a: DType, b: DType) -> DType:
    # Across categories the higher one wins as it is (float32 + int64 stays float32 in torch,
    # where numpy would widen to float64); within a category numpy's widening agrees.
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    return from_numpy(np.promote_types(a.np, b.np))


def _promote(dtypes) -> DType | None:
    result = None
    for d in dtypes:
        result = d if result is None else _promote_pair(result, d)
    return result


def _combine(higher: DType | None, lower: DType | None) -> DType | None:
    # A lower-priority tier only matters when it belongs to a higher category (int tensor times
    # a float scalar becomes float), never when it merely has more bits (float32 * 2.0 stays).
    if higher is None:
        return lower
    if lower is None or higher._category >= lower._category and higher._category != BOOL:
        return higher
    return _promote_pair(higher, lower)


def number_fits(value, np_dtype) -> bool:
    """Whether torch converts Python number ``value`` to integer dtype ``np_dtype`` (else it
    refuses: "value cannot be converted to type ... without overflow"): an int whose magnitude
    fits (an unsigned type takes -1 as its largest value, as C casts it), a finite float
    within the type's range (it is truncated)."""
    bits = 8 * np_dtype.itemsize
    unsigned = np_dtype.kind == "u"
    low, high = (0, (1 << bits) - 1) if unsigned else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    if isinstance(value, float):
        return low <= value <= high  # nan and inf never fit
    return (-high if unsigned else low) <= value <= high


# how torch's overflow message names a dtype (its C++ type)
_CPP_NAMES = {"float16": "c10::Half", "float32": "float", "float64": "double", "int32": "int"}


def check_number_fits(value, np_dtype) -> None:
    """torch's refusal of a Python number that ``np_dtype`` cannot hold: an int or a float
    beyond an integer type (see ``number_fits``), or a finite float beyond a float type's
    largest finite value (inf and nan are kept, as they are)."""
    if np_dtype.kind == "f":
        fits = isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or abs(value) <= float(np.finfo(np_dtype).max)
    else:
        fits = number_fits(value, np_dtype)
    if not fits:
        name = _CPP_NAMES.get(np_dtype.name, np_dtype.name + "_t")
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")


def scalar_dtype(value) -> DType:
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return default_float


def result_type(*operands) -> DType:
    """torch.result_type: dimensioned tensors outrank 0-d tensors, which outrank Python scalars."""
    from visgrad.engine.tensor import Tensor  # noqa: PLC0415 - cycle

    dim, zero, wrapped = [], [], []
    for op in operands:
        if isinstance(op, Tensor):
            (dim if op._data.ndim else zero).append(op.dtype)
        elif op is not None:
            wrapped.append(scalar_dtype(op))
    return _combine(_promote(dim), _combine(_promote(zero), _promote(wrapped)))
