"""Anomaly mode: the first node whose value or gradient became NaN or inf, marked where it is.

With the document's ``detect_anomaly`` setting on (Run ▸ Anomaly mode), the session runs the
engine under ``set_detect_anomaly(True)``: as in torch, a backward function that returns NaN
raises, and the session reports it on its node. Torch checks neither forward values nor
infinities, so the monitor here also watches the session's step events: the first forward
step whose output is not finite although its inputs are, and the first backward step that
sends a non-finite gradient although the gradient it received is finite. That node gets a
red NaN/inf tag on the canvas, the status line and the log name the op and the inputs that
caused it (with the values at the first bad element), and a run in progress pauses there.

A finding lasts until the next forward pass starts, the graph is edited, or the session is
reset; a new backward pass forgets a finding of the previous backward pass.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from visgrad.document.formulas import format_number, format_value, to_numpy
from visgrad.qt import theme
from visgrad.qt.errors import guarded

if TYPE_CHECKING:
    from visgrad.qt.main_window import MainWindow

_ENGINE_NAN = re.compile(r"Function '([^']+)' returned nan values in its (\d+)th output")
TAG_HEIGHT = 16.0


@dataclass
class Finding:
    """Where a non-finite number first appeared."""

    node_id: str | None
    stage: str  # "forward" or "backward"
    op: str     # the node's kind (forward) or the grad_fn (backward)
    bad: str    # "nan", "inf" or "nan and inf"
    text: str
    inputs: dict[str, str] = field(default_factory=dict)


def non_finite(value: Any) -> str:
    """``"nan"``, ``"inf"``, ``"nan and inf"``, or ``""`` when every element is finite."""
    array = _floats(value)
    if array is None or array.size == 0:
        return ""
    has_nan = bool(np.isnan(array).any())
    has_inf = bool(np.isinf(array).any())
    return "nan and inf" if has_nan and has_inf else "nan" if has_nan else \
        "inf" if has_inf else ""


def _floats(value: Any) -> np.ndarray | None:
    try:
        array = to_numpy(value)
    except Exception:  # noqa: BLE001 - an odd value is simply not checked
        return None
    if array is None or not (np.issubdtype(array.dtype, np.floating)
                             or np.issubdtype(array.dtype, np.complexfloating)):
        return None
    return array


def first_bad_index(value: Any) -> tuple[int, ...] | None:
    array = _floats(value)
    if array is None or array.ndim == 0:
        return None
    bad = np.argwhere(~np.isfinite(array))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def describe_inputs(inputs: dict[str, Any], where: tuple[int, ...] | None,
                    shape: tuple[int, ...] | None) -> dict[str, str]:
    """Each input as text; at ``where`` too when it has the output's shape."""
    described = {}
    for name, tensor in inputs.items():
        text = format_value(tensor)
        array = _floats(tensor) if tensor is not None else None
        if where is not None and array is not None and array.ndim > 0 and \
                tuple(array.shape) == shape:
            text += f"  ({name}{list(where)} = {format_number(array[where])})"
        described[name] = text
    return described


class AnomalyMarker(QGraphicsItem):
    """A red outline and a NaN/inf tag on a node's card (a child of its item)."""

    def __init__(self, parent: QGraphicsItem, tag: str, tooltip: str) -> None:
        super().__init__(parent)
        self.tag = tag
        self.setToolTip(tooltip)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(10)

    def _card(self) -> QRectF:
        parent = self.parentItem()
        return parent.boundingRect() if parent is not None else QRectF(0, 0, 160, 60)

    def _tag_rect(self) -> QRectF:
        card = self._card()
        width = 18 + 7 * len(self.tag)
        return QRectF(card.right() - width, card.top() - TAG_HEIGHT - 2, width, TAG_HEIGHT)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._card().adjusted(-4, -TAG_HEIGHT - 6, 4, 4)

    def shape(self) -> QPainterPath:  # only the tag takes hovers (its tooltip), not the card
        path = QPainterPath()
        path.addRect(self._tag_rect())
        return path

    @guarded
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Any = None) -> None:
        color = theme.current().color("error")
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(color, 2.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(self._card().adjusted(-1, -1, 1, 1), 11, 11)
        tag = self._tag_rect()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(tag, 7, 7)
        painter.setPen(theme.current().color("canvas"))
        font = painter.font()
        font.setBold(True)
        font.setPointSizeF(7.5)
        painter.setFont(font)
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, self.tag)


class AnomalyMonitor(QObject):
    """Watches the window's session while anomaly mode is on. ``sigFound(finding)``."""

    sigFound = Signal(object)  # noqa: N815

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.finding: Finding | None = None
        self.marker: AnomalyMarker | None = None
        self._inputs: dict[str, dict[str, Any]] = {}
        self._subscriptions: list[tuple[Any, Any]] = []
        window.sigDocumentLoaded.connect(self._bind)
        self._bind()

    @property
    def enabled(self) -> bool:
        return bool(self.window.document.settings["detect_anomaly"])

    @guarded
    def _bind(self) -> None:
        for signal, handler in self._subscriptions:
            with contextlib.suppress(ValueError):
                signal.disconnect(handler)
        self.finding, self.marker = None, None  # the old marker went with the old scene
        self._inputs.clear()
        events = self.window.session.events
        self._subscriptions = [
            (events.forward_step, self._on_forward_step),
            (events.backward_step, self._on_backward_step),
            (events.error, self._on_error),
            (events.state_changed, self._on_state_changed),
            (events.reset, self._on_reset),
            (self.window.document.events.settings_changed, self._on_settings_changed),
        ]
        for signal, handler in self._subscriptions:
            signal.connect(handler)

    # session events ----------------------------------------------------------------------
    @guarded
    def _on_forward_step(self, event: Any) -> None:
        step = event.step
        self._inputs[step.node_id] = dict(step.inputs)
        if not self.enabled or self.finding is not None:
            return
        bad = {port: non_finite(value) for port, value in step.outputs.items()}
        bad = {port: what for port, what in bad.items() if what}
        if not bad or any(non_finite(value) for value in step.inputs.values()):
            return  # finite, or only carrying on what an earlier node produced
        port, what = next(iter(bad.items()))
        output = step.outputs[port]
        where = first_bad_index(output)
        array = _floats(output)
        shape = tuple(array.shape) if array is not None else None
        inputs = describe_inputs(step.inputs, where, shape)
        at = f" at {list(where)}" if where is not None else ""
        name = step.label if len(step.outputs) == 1 else f"{step.label}.{port}"
        if inputs:
            text = (f"Anomaly: {name} = {step.kind}(…) gave {what}{at} in the forward pass; "
                    "its inputs: " + "; ".join(f"{k} = {v}" for k, v in inputs.items()))
        else:
            text = f"Anomaly: {name} ({step.kind}) holds {what}{at}: its value is " \
                f"{format_value(output)}"
        self._found(Finding(step.node_id, "forward", step.kind, what, text, inputs))

    @guarded
    def _on_backward_step(self, event: Any) -> None:
        step = event.step
        if not self.enabled or self.finding is not None:
            return
        if any(non_finite(g) for g in step.grads_in):
            return
        for entry in step.grads_out:
            what = non_finite(entry.gradient)
            if what:
                self._found(self._backward_finding(step.node_id, step.grad_fn, what,
                                                   step.grads_in, entry.port))
                return
        accumulation = step.accumulation
        if accumulation is not None and non_finite(accumulation.new) and \
                not non_finite(accumulation.old):
            what = non_finite(accumulation.new)
            self._found(self._backward_finding(step.node_id, step.grad_fn, what,
                                               step.grads_in, None))

    def _backward_finding(self, node_id: str | None, grad_fn: str, what: str,
                          grads_in: Any, port: str | None) -> Finding:
        node = self.window.document.nodes.get(node_id) if node_id else None
        where = f" ({node.label} = {node.kind})" if node is not None else ""
        target = f" for {port}" if port else ""
        inputs = describe_inputs(self._inputs.get(node_id, {}) if node_id else {}, None, None)
        sent = f"sent a gradient with {what}{target} in the backward pass"
        parts = [f"Anomaly: {grad_fn}{where} {sent}"]
        if grads_in is not None and len(grads_in):
            parts.append("grad_output = " + ", ".join(format_value(g) for g in grads_in))
        if inputs:
            parts.append("forward inputs: " + "; ".join(f"{k} = {v}" for k, v in inputs.items()))
        return Finding(node_id, "backward", grad_fn, what, "; ".join(parts), inputs)

    @guarded
    def _on_error(self, event: Any) -> None:
        error = event.error
        match = _ENGINE_NAN.search(error.message or "")
        if match is None or self.finding is not None:
            return
        node = self.window.document.nodes.get(error.node_id) if error.node_id else None
        where = f" ({node.label} = {node.kind})" if node is not None else ""
        inputs = describe_inputs(self._inputs.get(error.node_id, {}) if node else {}, None,
                                 None)
        returned = f"returned nan in its {match.group(2)}th output in the backward pass"
        text = f"Anomaly: {match.group(1)}{where} {returned}"
        if inputs:
            text += "; forward inputs: " + "; ".join(f"{k} = {v}" for k, v in inputs.items())
        self._found(Finding(error.node_id, "backward", match.group(1), "nan", text, inputs))

    @guarded
    def _on_state_changed(self, event: Any) -> None:
        if event.new == "edited" or (event.new == "forward_in_progress"
                                     and event.old != "forward_in_progress"):
            self.clear()
            if event.new == "edited":
                self._inputs.clear()
        elif event.new == "backward_in_progress" and event.old != "backward_in_progress" \
                and self.finding is not None and self.finding.stage == "backward":
            self.clear()

    @guarded
    def _on_reset(self, event: Any) -> None:
        self.clear()
        self._inputs.clear()

    @guarded
    def _on_settings_changed(self, event: Any) -> None:
        if not self.enabled:
            self.clear()

    # showing -----------------------------------------------------------------------------
    def _found(self, finding: Finding) -> None:
        self.finding = finding
        window = self.window
        self._mark(finding)
        window.show_status(finding.text, True)
        window.log.add("error", finding.text, finding.node_id)
        runner = getattr(window, "runner", None)
        if runner is not None:
            runner.interrupt("anomaly", "")  # pause the run on the node
        self.sigFound.emit(finding)

    def _mark(self, finding: Finding) -> None:
        self._remove_marker()
        scene = self.window.scene
        item = scene.node_item(finding.node_id) if scene is not None and finding.node_id \
            else None
        if item is None:
            return
        tag = "NaN" if finding.bad == "nan" else "inf" if finding.bad == "inf" else "NaN/inf"
        self.marker = AnomalyMarker(item, f"{tag} {finding.stage}", finding.text)

    def clear(self) -> None:
        self.finding = None
        self._remove_marker()

    def _remove_marker(self) -> None:
        marker, self.marker = self.marker, None
        if marker is None or not _alive(marker):
            return
        scene = marker.scene()
        marker.setParentItem(None)
        if scene is not None:
            scene.removeItem(marker)


def _alive(item: Any) -> bool:
    try:
        import shiboken6  # noqa: PLC0415

        return bool(shiboken6.isValid(item))
    except ImportError:  # pragma: no cover - shiboken ships with PySide6
        return True


__all__ = ["AnomalyMarker", "AnomalyMonitor", "Finding", "non_finite"]
