"""Typed node parameters: what each kind of value may be, and turning user input into it.

Values stored in a document are plain data (numbers, bools, strings, lists of ints or names,
``None``) so that a file holds nothing but data. :meth:`Param.coerce` accepts what a user or
a file gives (``"0, 1"`` for dims, ``[1, 2]`` for a value) and returns the stored form, or
raises :class:`ParamError` saying which parameter and why.

Example::

    >>> from visgrad.document.params import Param
    >>> Param("dim", "dims", None).coerce("0, 1")
    [0, 1]
"""

from __future__ import annotations

import keyword
import math
from dataclasses import dataclass
from typing import Any

from visgrad.document.expressions import (
    FORMULA_FUNCTIONS,
    ExpressionError,
    format_literal,
    parse_expression,
    parse_value,
)

PARAM_TYPES = (
    "float", "int", "bool", "choice", "dims", "shape", "value", "expression", "names",
    "identifier", "text",
)
RESERVED_NAMES = frozenset({"grad_output", "grad", "out"}) | FORMULA_FUNCTIONS


class ParamError(ValueError):
    """A parameter value that cannot be accepted."""


@dataclass(frozen=True)
class Param:
    """One parameter of a node kind: its name, type, default and what it means."""

    name: str
    type: str
    default: Any
    description: str = ""
    choices: tuple[Any, ...] = ()
    optional: bool = False  # None is allowed
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, value: Any) -> Any:
        """The stored form of ``value``, or :class:`ParamError` saying what is wrong."""
        if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}
                             and self.type in {"float", "int", "dims"}):
            if self.optional:
                return None
            raise ParamError(f"parameter {self.name!r} is required")
        try:
            coerced = getattr(self, f"_coerce_{self.type}")(value)
        except ExpressionError as exc:
            raise ParamError(f"parameter {self.name!r}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ParamError(f"parameter {self.name!r}: {exc}") from None
        if self.type != "text":
            self._check_range(coerced)
        return coerced

    def _check_range(self, value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"parameter {self.name!r} must be at least {self.minimum}, "
                             f"got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"parameter {self.name!r} must be at most {self.maximum}, "
                             f"got {value}")

    # one converter per type ---------------------------------------------------------------
    @staticmethod
    def _coerce_float(value: Any) -> float:
        if isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        if not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {type(value).__name__}")
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range (10**400 in a file)
            raise ValueError("expected a finite number, got an integer too large for a "
                             "float") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number

    @staticmethod
    def _coerce_int(value: Any) -> int:
        if isinstance(value, bool):
            raise TypeError(f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise ValueError(f"expected a whole number, got {value!r}") from None
        raise TypeError(f"expected a whole number, got {value!r}")

    @staticmethod
    def _coerce_bool(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise TypeError(f"expected true or false, got {value!r}")

    def _coerce_choice(self, value: Any) -> Any:
        if value in self.choices and type(value) is type(self.choices[0]):
            return value
        raise ValueError(f"expected one of {', '.join(map(repr, self.choices))}, "
                         f"got {value!r}")

    @classmethod
    def _int_list(cls, value: Any) -> list[int]:
        if isinstance(value, str):
            text = value.strip().strip("()[]").strip()
            parts = [part for part in (p.strip() for p in text.split(",")) if part]
            return [cls._coerce_int(part) for part in parts]
        if isinstance(value, list | tuple):
            return [cls._coerce_int(part) for part in value]
        raise TypeError(f"expected a list of whole numbers, got {value!r}")

    def _coerce_dims(self, value: Any) -> int | list[int]:
        if isinstance(value, str) and "," not in value and "[" not in value and "(" not in value:
            return self._coerce_int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return self._int_list(value)

    def _coerce_shape(self, value: Any) -> list[int]:
        shape = self._int_list(value)
        if any(size < -1 for size in shape):
            raise ValueError(f"sizes must be -1 or more, got {shape}")
        return shape

    @staticmethod
    def _coerce_value(value: Any) -> str:
        if isinstance(value, bool | int | float | list | tuple):
            if isinstance(value, float) and not math.isfinite(value):
                value = repr(value)
            else:
                value = format_literal(_as_lists(value))
        if not isinstance(value, str):
            raise TypeError(f"expected a value such as [1, 2, 3] or ones(2, 2), got "
                            f"{type(value).__name__}")
        parse_value(value)
        return value.strip()

    @staticmethod
    def _coerce_expression(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a formula, got {type(value).__name__}")
        parse_expression(value)
        return value.strip()

    @classmethod
    def _coerce_names(cls, value: Any) -> list[str]:
        names = value
        if isinstance(value, str):
            names = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("expected one or more names, such as 'a, b'")
        checked = [cls._coerce_identifier(name) for name in names]
        seen: set[str] = set()
        for name in checked:
            if name in RESERVED_NAMES:
                raise ValueError(f"{name!r} is reserved; choose another name")
            if name in seen:  # a set, not list.count: a file may list 100,000 names
                raise ValueError(f"the name {name!r} is used twice")
            seen.add(name)
        return checked

    @staticmethod
    def _coerce_identifier(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a name, got {type(value).__name__}")
        name = value.strip()
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise ValueError(f"{value!r} is not a valid name (letters, digits and _, not "
                             "starting with a digit or _)")
        return name

    def _coerce_text(self, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {type(value).__name__}")
        longest = int(self.maximum or 200)
        if len(value) > longest:
            raise ValueError(f"is longer than {longest} characters")
        return value


def _as_lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_as_lists(item) for item in value]
    return value
