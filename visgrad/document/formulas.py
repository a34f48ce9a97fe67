"""Chain-rule lines with the numbers filled in, as the stepper shows them.

Example::

    >>> from visgrad.document.formulas import chain_rule_text
    >>> chain_rule_text("MulBackward0", "a", "grad · b", {"grad": 0.25, "b": 8.0}, 2.0)
    'MulBackward0: grad_a = grad · b = 0.25 · 8.0 = 2.0'

Scalars are written as numbers; small tensors as nested lists; larger ones by their shape,
so a line stays readable in a status bar or a tooltip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_INLINE_ELEMENTS = 6
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def to_numpy(value: Any) -> np.ndarray | None:
    """The value of a tensor, number or array as a numpy array (None stays None)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return np.asarray(value.detach().numpy())
    return np.asarray(value)


def format_number(value: Any) -> str:
    """``2.0`` for whole floats (as torch prints them), 6 significant digits otherwise."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return f"{value:.6g}"


def format_value(value: Any, max_elements: int = MAX_INLINE_ELEMENTS) -> str:
    """A tensor or number as short text: ``2.0``, ``[1.0, 2.0]``, or ``⟨tensor 3×4⟩``."""
    array = to_numpy(value)
    if array is None:
        return "None"
    if array.ndim == 0 or array.size == 1 and array.ndim == 0:
        return format_number(array.item())
    if array.size > max_elements:
        return f"⟨tensor {'×'.join(map(str, array.shape))}⟩"
    return _nested(array)


def _nested(array: np.ndarray) -> str:
    if array.ndim == 0:
        return format_number(array.item())
    return "[" + ", ".join(_nested(row) for row in array) + "]"


def fill_formula(formula: str, values: Mapping[str, Any]) -> str:
    """Replace the names in ``formula`` that ``values`` knows by their values."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(0)
        if name not in values:
            return name
        text = format_value(values[name])
        return f"({text})" if text.startswith("-") else text

    return _SYMBOL.sub(replace, formula)


def chain_rule_text(grad_fn: str, port: str, formula: str | None, values: Mapping[str, Any],
                    result: Any, numeric: bool = True) -> str:
    """``MulBackward0: grad_a = grad · b = 0.25 · 8.0 = 2.0`` (shorter when not numeric)."""
    result_text = format_value(result)
    if not formula:
        return f"{grad_fn}: grad_{port} = {result_text}"
    if numeric:
        filled = fill_formula(formula, values)
        if filled != formula and filled != result_text:
            return f"{grad_fn}: grad_{port} = {formula} = {filled} = {result_text}"
    return f"{grad_fn}: grad_{port} = {formula} = {result_text}"
