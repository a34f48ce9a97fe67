"""The log: every step, hook output and error, each naming its node; click one to select it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from visgrad.document.session import Session
from visgrad.qt import theme
from visgrad.qt.errors import guarded

NODE_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
MAX_ENTRIES = 5000


class LogPanel(QWidget):
    """Entries kinds: ``forward``, ``backward``, ``hook``, ``accumulate``, ``error``, ``info``.

    ``sigNodeClicked(node_id)`` when an entry naming a node is clicked.
    """

    sigNodeClicked = Signal(str)  # noqa: N815

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self._subscriptions: list[tuple[Any, Any]] = []
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setUniformItemSizes(False)
        font = QFont("DejaVu Sans Mono")
        font.setPointSizeF(8.5)
        self.list.setFont(font)
        self.list.itemClicked.connect(self._on_item_clicked)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)
        self.count_label = QLabel("")
        self.count_label.setObjectName("hint")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.count_label, 1)
        bar.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.list, 1)
        layout.addLayout(bar)

    def set_session(self, session: Session) -> None:
        for signal, handler in self._subscriptions:
            try:
                signal.disconnect(handler)
            except ValueError:
                pass
        self.session = session
        events = session.events
        self._subscriptions = [
            (events.forward_step, self._on_forward_step),
            (events.backward_step, self._on_backward_step),
            (events.error, self._on_error),
            (events.log, self._on_log),
            (events.reset, self._on_reset),
            (events.grads_zeroed, self._on_grads_zeroed),
        ]
        for signal, handler in self._subscriptions:
            signal.connect(handler)

    # entries -----------------------------------------------------------------------------
    def add(self, kind: str, text: str, node_id: str | None = None) -> QListWidgetItem:
        colors = theme.current()
        marker = {"forward": "▶", "backward": "◀", "hook": "⚑", "accumulate": "Σ",
                  "error": "✖", "info": "•"}.get(kind, "•")
        item = QListWidgetItem(f"{marker}  {text}")
        item.setData(NODE_ROLE, node_id)
        item.setData(KIND_ROLE, kind)
        color = {"forward": "forward", "backward": "backward", "hook": "hook",
                 "accumulate": "gradient", "error": "error"}.get(kind)
        if color:
            item.setForeground(colors.color(color))
        if node_id:
            item.setToolTip("Click to select the node")
        self.list.addItem(item)
        while self.list.count() > MAX_ENTRIES:
            self.list.takeItem(0)
        self.list.scrollToBottom()
        self.count_label.setText(f"{self.list.count()} entries")
        return item

    def entries(self) -> list[tuple[str, str, str | None]]:
        """(kind, text, node id) of every entry, oldest first."""
        result = []
        for row in range(self.list.count()):
            item = self.list.item(row)
            result.append((item.data(KIND_ROLE), item.text()[3:], item.data(NODE_ROLE)))
        return result

    def clear(self) -> None:
        self.list.clear()
        self.count_label.setText("")

    def _label(self, node_id: str | None) -> str:
        if self.session is None or node_id is None:
            return "?"
        node = self.session.document.nodes.get(node_id)
        return node.label if node is not None else node_id

    # session events ------------------------------------------------------------------------
    @guarded
    def _on_forward_step(self, event: Any) -> None:
        step = event.step
        self.add("forward", f"forward {step.label}: {step.text}", step.node_id)

    @guarded
    def _on_backward_step(self, event: Any) -> None:
        step = event.step
        where = step.label or "leaf"
        name = step.grad_fn.rsplit("::", 1)[-1]  # torch::autograd::AccumulateGrad
        self.add("accumulate" if step.accumulation is not None else "backward",
                 f"backward {where} [{name}]: {step.text}", step.node_id)
        for hook in step.hooks:
            label = self._label(hook.node_id)
            if hook.kind == "print":
                self.add("hook", f"{label} grad: {hook.before}", hook.node_id)
            elif hook.hook is not None:
                self.add("hook", f"{label} hook {hook.hook.describe()}: {hook.before} → "
                                 f"{hook.after}", hook.node_id)
            else:
                self.add("hook", f"{label} {hook.kind}: {hook.after}", hook.node_id)

    @guarded
    def _on_error(self, event: Any) -> None:
        error = event.error
        self.add("error", error.text, error.node_id)

    @guarded
    def _on_log(self, event: Any) -> None:
        text = event.text
        error = self.session.error if self.session is not None else None
        if text.startswith("hook on ") or (error is not None and text == error.text):
            return  # shown with more detail by the step and error entries
        self.add("info", text)

    @guarded
    def _on_reset(self, event: Any) -> None:
        self.add("info", "reset: leaves made anew, values and gradients forgotten")

    @guarded
    def _on_grads_zeroed(self, event: Any) -> None:
        self.add("info", "zero_grad(): every leaf's .grad is None again")

    @guarded
    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(NODE_ROLE)
        if node_id:
            self.sigNodeClicked.emit(node_id)
