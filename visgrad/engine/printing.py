"""Render tensors exactly as PyTorch 2.13 prints them.

visgrad teaches autograd by putting its tensors side by side with PyTorch's, so
a tensor's ``repr`` has to read the same, byte for byte: the same column widths,
the same choice between ``1.``, ``1.0000`` and ``1.0000e+00``, the same wrapping
at the line width, the same ``...`` summaries and the same ``dtype=`` /
``grad_fn=`` suffixes.  This module reproduces those rules on plain numpy arrays
(the Tensor class hands it host values and a few flags) and keeps torch's
module-level print options (``set_printoptions`` / ``get_printoptions``).

Only the dense, real-valued dtypes visgrad has are covered: no complex, sparse,
quantized or nested tensors, and the default float dtype is fixed at float32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["tensor_repr", "set_printoptions", "get_printoptions"]

_DEFAULT_FLOAT_DTYPE = "float32"
# Dtypes whose name torch leaves out of a non-empty tensor's repr.
_IMPLIED_DTYPES = (_DEFAULT_FLOAT_DTYPE, "int64", "bool")

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}

_options: dict[str, Any] = {**_PROFILES["default"], "sci_mode": None}


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
) -> None:
    """Change the print options, with ``torch.set_printoptions``'s semantics.

    ``profile`` ("default", "short" or "full"; anything else is ignored) is applied
    first and the explicit options override it.  Options left as None keep their
    value, except ``sci_mode``, which is always set (None means "choose per tensor").
    """
    if profile in _PROFILES:
        _options.update(_PROFILES[profile])
    for name, value in (
        ("precision", precision),
        ("threshold", threshold),
        ("edgeitems", edgeitems),
        ("linewidth", linewidth),
    ):
        if value is not None:
            _options[name] = value
    _options["sci_mode"] = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current options, as a dict that ``set_printoptions(**d)`` accepts."""
    return dict(_options)


class _Formatter:
    """Formats every element of one tensor to a common width, the way torch decides it.

    ``values`` are the elements that will be shown (the summarised ones when the
    tensor is summarised): they alone decide the width and the notation.
    """

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        precision = _options["precision"]
        flat = values.reshape(-1)
        if not self.floating:
            for value in flat.tolist():
                self.width = max(self.width, len(str(value)))
            return
        shown = flat[np.isfinite(flat) & (flat != 0)]
        if shown.size == 0:
            return
        magnitudes = np.abs(shown.astype(np.float64))
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        if _options["sci_mode"] is None:
            with np.errstate(over="ignore"):  # an overflowing spread is simply huge
                spread = largest / smallest
            self.sci_mode = bool(spread > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4)
        else:
            self.sci_mode = bool(_options["sci_mode"])
        for value in shown.tolist():
            if self.sci_mode:
                text = f"{value:.{precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}."  # the trailing dot marks a float
            else:
                text = f"{value:.{precision}f}"
            self.width = max(self.width, len(text))

    def format(self, value) -> str:
        precision = _options["precision"]
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:.{precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{precision}f}"
        return text.rjust(self.width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows: ``edgeitems`` from each end of every axis."""
    edge = _options["edgeitems"]
    if values.ndim == 0:
        return values
    # With edgeitems=0 this picks nothing; torch then prints only "[...]" anyway.
    picks = [
        np.r_[0:edge, n - edge : n] if n > 2 * edge else np.arange(n) for n in values.shape
    ]
    return values[np.ix_(*picks)]


def _vector_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    edge = _options["edgeitems"]
    if summarize and not edge:
        items = ["..."]
    elif summarize and values.shape[0] > 2 * edge:
        items = [fmt.format(v) for v in values[:edge].tolist()]
        items += [" ..."] + [fmt.format(v) for v in values[-edge:].tolist()]
    else:
        items = [fmt.format(v) for v in values.tolist()]
    per_line = max(1, (_options["linewidth"] - indent) // (fmt.width + 2))
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector_str(values, indent, summarize, fmt)
    edge = _options["edgeitems"]
    n = values.shape[0]
    if summarize and n > 2 * edge:
        rows = list(range(edge)), list(range(n - edge, n))
        parts = [_nested_str(values[i], indent + 1, summarize, fmt) for i in rows[0]]
        parts += ["..."] + [_nested_str(values[i], indent + 1, summarize, fmt) for i in rows[1]]
    else:
        parts = [_nested_str(values[i], indent + 1, summarize, fmt) for i in range(n)]
    separator = "," + "\n" * (values.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(parts) + "]"


def _body_str(values: np.ndarray, indent: int) -> str:
    summarize = values.size > _options["threshold"]
    fmt = _Formatter(_summarized(values) if summarize else values)
    return _nested_str(values, indent, summarize, fmt)


def _with_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    # torch measures the last line this way (one more than its length, two with no newline).
    last_line = len(text) - text.rfind("\n") + 1
    pieces = [text]
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > _options["linewidth"]:
            pieces.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            pieces.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(pieces) + ")"


def tensor_repr(
    host_values: np.ndarray,
    dtype_name: str,
    device: str = "cpu",
    requires_grad: bool = False,
    grad_fn_name: str | None = None,
    *,
    prefix: str = "tensor(",
    indent: int | None = None,
) -> str:
    """What ``repr()`` of a torch tensor with these values, dtype and flags prints.

    ``prefix`` opens the text (torch uses ``"tensor("``) and ``indent`` is how far
    continuation lines are indented, by default ``len(prefix)``.  A caller printing
    ``Parameter containing:\\n`` puts that line in front of the result itself.
    """
    values = np.asarray(host_values)
    if indent is None:
        indent = len(prefix)
    suffixes = []
    if device != "cpu":
        suffixes.append(f"device='{device}'")
    dtype_suffix = f"dtype=torch.{dtype_name}"
    if values.size == 0:
        body = "[]"
        if values.ndim > 1:  # (an empty tensor has at least one dimension)
            suffixes.append(f"size={tuple(values.shape)}")
        if dtype_name != _DEFAULT_FLOAT_DTYPE:
            suffixes.append(dtype_suffix)
    else:
        if not _options["edgeitems"]:
            suffixes.append(f"size={tuple(values.shape)}")
        if dtype_name not in _IMPLIED_DTYPES:
            suffixes.append(dtype_suffix)
        body = _body_str(values, indent)
    if grad_fn_name is not None:
        suffixes.append(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, indent)
