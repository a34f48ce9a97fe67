"""The inspector: the selected node's parameters (editable), its tensor, its grad and hooks.

Everything shown is read from the document and the session when they announce a change;
every edit is an operation pushed through the undo stack. A value the document refuses is
explained under the editor, in words, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from visgrad.document.formulas import format_number, format_value
from visgrad.document.model import HOOK_KINDS, DocumentError, Hook
from visgrad.document.operations import (
    AddHook,
    Operation,
    RemoveHook,
    SetLabel,
    SetParam,
    SetRetainGrad,
)
from visgrad.document.session import Session
from visgrad.qt import resources, theme
from visgrad.qt.errors import guarded
from visgrad.qt.undo import DocumentEditor

MAX_TABLE = 40


class Heatmap(QWidget):
    """A 2-D array as coloured cells (diverging around zero), numbers when they fit."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.array: np.ndarray | None = None
        self.setMinimumHeight(60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_array(self, array: np.ndarray | None) -> None:
        self.array = None if array is None else np.asarray(array, dtype=float)
        if self.array is not None:
            rows = self.array.shape[0]
            self.setFixedHeight(int(min(160, max(48, rows * 22))))
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(200, 90)

    @guarded
    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        try:
            colors = theme.current()
            painter.fillRect(self.rect(), colors.color("panel"))
            if self.array is None or self.array.ndim != 2 or self.array.size == 0:
                return
            array = self.array[:MAX_TABLE, :MAX_TABLE]
            rows, cols = array.shape
            finite = array[np.isfinite(array)]
            scale = float(np.max(np.abs(finite))) if finite.size else 1.0
            scale = scale or 1.0
            width, height = self.width() / cols, self.height() / rows
            low, high = colors.color("forward"), colors.color("backward")
            base = colors.color("panel_alt")
            font = painter.font()
            font.setPointSizeF(7.5)
            painter.setFont(font)
            for r in range(rows):
                for c in range(cols):
                    value = array[r, c]
                    t = 0.0 if not np.isfinite(value) else max(-1.0, min(1.0, value / scale))
                    target = high if t >= 0 else low
                    color = _mix(base, target, abs(t))
                    cell = QRectF(c * width, r * height, width - 1, height - 1)
                    painter.fillRect(cell, color)
                    if width > 34 and height > 14:
                        painter.setPen(colors.color("text"))
                        painter.drawText(cell, Qt.AlignmentFlag.AlignCenter,
                                         format_number(value))
        finally:
            painter.end()


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() + (b.red() - a.red()) * t),
                  round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


class TensorView(QWidget):
    """A tensor's numbers as a table (the last two dims), plus a heatmap for 2-D values."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-family: 'DejaVu Sans Mono'; font-size: 8.5pt;")
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setMaximumHeight(170)
        self.heatmap = Heatmap()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(self.heatmap)

    def set_tensor(self, array: np.ndarray | None, printed: str = "") -> None:
        if array is None:
            self.summary.setText("None")
            self.table.hide()
            self.heatmap.hide()
            return
        self.summary.setText(printed or format_value(array))
        if array.ndim == 0 or array.size == 1:
            self.table.hide()
            self.heatmap.hide()
            return
        shown = array.reshape(-1, array.shape[-1]) if array.ndim > 2 else array.reshape(
            1, -1) if array.ndim == 1 else array
        shown = shown[:MAX_TABLE, :MAX_TABLE]
        self.table.clear()
        self.table.setRowCount(shown.shape[0])
        self.table.setColumnCount(shown.shape[1])
        for r in range(shown.shape[0]):
            for c in range(shown.shape[1]):
                item = QTableWidgetItem(format_number(shown[r, c]))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, c, item)
        self.table.setHorizontalHeaderLabels([str(c) for c in range(shown.shape[1])])
        self.table.setVerticalHeaderLabels([str(r) for r in range(shown.shape[0])])
        self.table.setFixedHeight(min(170, 26 + 22 * shown.shape[0]))
        self.table.show()
        if array.ndim == 2 and np.issubdtype(array.dtype, np.number):
            self.heatmap.set_array(shown)
            self.heatmap.show()
        else:
            self.heatmap.hide()


def _section(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("sectionTitle")
    return label


class InspectorPanel(QScrollArea):
    """Shows one node. ``show_node(node_id)``; ``sigStatus(text, is_error)`` for the bar."""

    sigStatus = Signal(str, bool)  # noqa: N815

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.session: Session | None = None
        self.editor: DocumentEditor | None = None
        self._messages: Callable[[str], list[tuple[str, str]]] | None = None
        self.node_id: str | None = None
        self.selected = 0  # how many cards are selected when no single one is shown
        self.editors: dict[str, QWidget] = {}
        self.fields: dict[str, QLabel] = {}
        self.error_label = QLabel()
        self._subscriptions: list[tuple[Any, Any]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.rebuild)
        self._empty_page: tuple | None = None  # what the page without a node shows, if shown
        self.rebuild()

    # binding -------------------------------------------------------------------------------
    def set_session(self, session: Session, editor: DocumentEditor,
                    messages: Callable[[str], list[tuple[str, str]]] | None = None) -> None:
        """Show nodes of ``session``'s document, edited through ``editor``. ``messages(node_id)``
        gives a node's validation messages as (severity, text), kept up to date by whoever
        shows the graph (the canvas's :meth:`~visgrad.qt.canvas.scene.GraphScene.node_messages`);
        without it the inspector validates the whole document each time it shows a node."""
        for signal, handler in self._subscriptions:
            try:
                signal.disconnect(handler)
            except ValueError:
                pass
        self._subscriptions = []
        self.session, self.editor, self.node_id = session, editor, None
        self._messages = messages
        for signal in (session.document.events.any, session.events.any):
            signal.connect(self._on_changed)
            self._subscriptions.append((signal, self._on_changed))
        self.rebuild()

    def show_node(self, node_id: str | None, selected: int = 0) -> None:
        """Show ``node_id``; with none, say how many cards are selected (``selected``)."""
        if node_id != self.node_id:
            self.node_id, self.selected = node_id, selected
            self.rebuild()
        elif node_id is None and selected != self.selected:
            # a Select All changes the count once per card: show it when the loop is done
            self.selected = selected
            self._timer.start()

    @guarded
    def _on_changed(self, event: Any) -> None:
        self._timer.start()

    def flush(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.rebuild()

    # building ------------------------------------------------------------------------------
    @guarded
    def rebuild(self) -> None:
        self._timer.stop()
        document = self.session.document if self.session is not None else None
        if document is None or self.node_id not in document.nodes:
            # the page without a node: made again only when what it says changes, not at
            # every backward step (a new page costs a millisecond and a half)
            settings = document.settings if document is not None else {}
            shown = (document is not None, self.selected if self.selected > 1 else 0,
                     settings.get("title"), settings.get("description"))
            if shown == self._empty_page and self.widget() is not None:
                return
        else:
            shown = None
        self._empty_page = shown
        old = self.takeWidget()
        if old is not None:
            old.deleteLater()
        self.editors, self.fields = {}, {}
        page = QWidget()
        page.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(6)
        self.error_label = QLabel()
        self.error_label.setObjectName("errorMessage")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        if shown is not None:
            self._build_empty(layout)
        else:
            self._build_node(layout, document.nodes[self.node_id])
        layout.addStretch(1)
        self.setWidget(page)

    def _build_empty(self, layout: QVBoxLayout) -> None:
        if self.selected > 1:
            title = QLabel(f"{self.selected:,} nodes selected")
            hint = QLabel("Select a single node to see its parameters, value, gradient, "
                          "grad_fn and hooks.\n\nDrag one of the selected cards to move them "
                          "all; Delete removes them, Ctrl+C copies them, Ctrl+D duplicates "
                          "them.")
        else:
            title = QLabel("Nothing selected")
            hint = QLabel("Select a node on the canvas to see its parameters, value, gradient, "
                          "grad_fn and hooks.\n\nDrag nodes from the palette; drag from an "
                          "output port to an input port to connect them. F10 steps forward, "
                          "F11 steps backward.")
        title.setObjectName("nodeTitle")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(hint)
        if self.session is not None:
            settings = self.session.document.settings
            if settings["title"]:
                layout.addWidget(_section("Graph"))
                name = QLabel(f"<b>{settings['title']}</b>")
                name.setWordWrap(True)
                layout.addWidget(name)
            if settings["description"]:
                text = QLabel(settings["description"])
                text.setWordWrap(True)
                layout.addWidget(text)

    def _build_node(self, layout: QVBoxLayout, node: Any) -> None:
        kind = node.kind_info
        header = QHBoxLayout()
        icon = QLabel()
        icon.setPixmap(resources.kind_icon(kind.name, kind.category).pixmap(QSize(28, 28)))
        header.addWidget(icon)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        title = QLabel(node.label)
        title.setObjectName("nodeTitle")
        subtitle = QLabel(f"{kind.name} · {kind.category} · {node.id}")
        subtitle.setObjectName("nodeSubtitle")
        titles.addWidget(title)
        titles.addWidget(subtitle)
        header.addLayout(titles, 1)
        layout.addLayout(header)
        description = QLabel(kind.description)
        description.setWordWrap(True)
        description.setObjectName("hint")
        layout.addWidget(description)
        if kind.formula:
            formula = QLabel(f"forward: <b>{kind.formula}</b>")
            formula.setWordWrap(True)
            layout.addWidget(formula)
            for port, text in kind.derivatives.items():
                derivative = QLabel(f"{port}: {text}")
                derivative.setObjectName("hint")
                derivative.setWordWrap(True)
                layout.addWidget(derivative)
        self._build_messages(layout, node)
        layout.addWidget(_section("Parameters"))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        label_edit = QLineEdit(node.label)
        label_edit.editingFinished.connect(
            lambda edit=label_edit: self._commit(SetLabel(node.id, edit.text()), edit))
        self.editors["label"] = label_edit
        form.addRow("label", label_edit)
        for param in kind.params:
            widget = self._param_editor(node, param)
            self.editors[param.name] = widget
            form.addRow(param.name, widget)
            if param.description:
                widget.setToolTip(param.description)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        self._build_tensor(layout, node)
        self._build_hooks(layout, node)

    def _build_messages(self, layout: QVBoxLayout, node: Any) -> None:
        if self._messages is not None:
            messages = list(self._messages(node.id))
        else:
            from visgrad.document import validation  # noqa: PLC0415 - only when needed

            messages = [(m.severity, m.text) for m in
                        validation.validate(self.session.document).for_node(node.id)]
        error = self.session.error
        if error is not None and error.node_id == node.id:
            messages.insert(0, ("error", error.text))
        for severity, text in messages:
            label = QLabel(f"{'✖' if severity == 'error' else '⚠'}  {text}")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            color = theme.current().colors[severity]
            label.setStyleSheet(f"color: {color}; border: 1px solid {color}; "
                                "border-radius: 6px; padding: 6px;")
            label.setObjectName(f"message_{severity}")
            layout.addWidget(label)

    def _param_editor(self, node: Any, param: Any) -> QWidget:
        value = node.params.get(param.name)
        if param.type == "bool":
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda on, name=param.name, box=box: self._commit(
                SetParam(node.id, name, on), box))
            return box
        if param.type == "choice":
            combo = QComboBox()
            for choice in param.choices:
                combo.addItem(str(choice), choice)
            combo.setCurrentIndex(max(0, list(param.choices).index(value))
                                  if value in param.choices else 0)
            combo.activated.connect(lambda index, name=param.name, combo=combo: self._commit(
                SetParam(node.id, name, combo.itemData(index)), combo))
            return combo
        edit = QLineEdit(_param_text(value))
        if param.optional:
            edit.setPlaceholderText("none")
        edit.editingFinished.connect(lambda name=param.name, edit=edit: self._commit_text(
            node.id, name, edit))
        return edit

    def _build_tensor(self, layout: QVBoxLayout, node: Any) -> None:
        info = None
        try:
            info = self.session.inspect(node.id)
        except (KeyError, ValueError, RuntimeError, AttributeError, TypeError):
            info = None  # also an output that is no tensor (a Function whose forward is a list)
        layout.addWidget(_section("Tensor"))
        if info is None:
            hint = QLabel("Not computed yet: step forward (F10) or run the graph.")
            hint.setObjectName("hint")
            hint.setWordWrap(True)
            layout.addWidget(hint)
        else:
            grid = QGridLayout()
            grid.setHorizontalSpacing(12)
            grid.setVerticalSpacing(3)
            rows = [
                ("shape", "[" + ", ".join(map(str, info.shape)) + "]"),
                ("dtype", f"torch.{info.dtype}"),
                ("requires_grad", str(info.requires_grad)),
                ("is_leaf", str(info.is_leaf)),
                ("retains_grad", str(info.retains_grad)),
                ("grad_fn", f"<{info.grad_fn}>" if info.grad_fn else "None"),
                ("next_functions", _next_functions(info.next_functions)),
                ("saved tensors", _saved_tensors(info.tensor)),
            ]
            for row, (name, text) in enumerate(rows):
                key = QLabel(name)
                key.setObjectName("hint")
                value = QLabel(text)
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                value.setWordWrap(True)
                value.setTextFormat(Qt.TextFormat.PlainText)
                self.fields[name] = value
                grid.addWidget(key, row, 0, Qt.AlignmentFlag.AlignTop)
                grid.addWidget(value, row, 1)
            grid.setColumnStretch(1, 1)
            layout.addLayout(grid)
            layout.addWidget(_section("Value"))
            value_view = TensorView()
            value_view.set_tensor(info.value, _printed(info.tensor))
            self.fields["value"] = value_view.summary
            layout.addWidget(value_view)
            layout.addWidget(_section("Grad"))
            grad_view = TensorView()
            grad_tensor = info.tensor.grad if info.tensor is not None and (
                info.is_leaf or info.retains_grad) else None
            if info.grad is None and not info.is_leaf and not info.retains_grad:
                grad_view.set_tensor(None)
                grad_view.summary.setText(
                    "None — a non-leaf tensor keeps no .grad; tick retain_grad below")
            else:
                grad_view.set_tensor(info.grad, _printed(grad_tensor) if info.grad is not None
                                     else "")
            self.fields["grad"] = grad_view.summary
            layout.addWidget(grad_view)
        retain = QCheckBox("retain_grad()")
        retain.setToolTip("Keep .grad on this non-leaf tensor after backward")
        retain.setChecked(node.retain_grad)
        retain.toggled.connect(lambda on: self._commit(SetRetainGrad(node.id, on), retain))
        retain.setEnabled(not node.kind_info.is_source)
        self.editors["retain_grad"] = retain
        layout.addWidget(retain)

    def _build_hooks(self, layout: QVBoxLayout, node: Any) -> None:
        layout.addWidget(_section("Hooks (register_hook)"))
        hooks = QListWidget()
        hooks.setObjectName("hooks")
        for hook in node.hooks:
            hooks.addItem(hook.describe())
        hooks.setFixedHeight(min(110, 30 + 24 * max(1, len(node.hooks))))
        self.editors["hooks"] = hooks
        layout.addWidget(hooks)
        row = QHBoxLayout()
        buttons = QHBoxLayout()
        kinds = QComboBox()
        for name, description in HOOK_KINDS.items():
            kinds.addItem(name, name)
            kinds.setItemData(kinds.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        argument = QLineEdit()
        argument.setPlaceholderText("k, or min, max, or grad * 0.5")
        add = QPushButton("Add")
        remove = QPushButton("Remove")
        row.addWidget(kinds)
        row.addWidget(argument, 1)
        buttons.addStretch(1)
        buttons.addWidget(add)
        buttons.addWidget(remove)
        layout.addLayout(row)
        layout.addLayout(buttons)
        self.editors["hook_kind"], self.editors["hook_argument"] = kinds, argument
        self.editors["hook_add"], self.editors["hook_remove"] = add, remove
        add.clicked.connect(lambda: self._add_hook(node.id, kinds.currentData(),
                                                   argument.text(), argument))
        remove.clicked.connect(lambda: self._remove_hook(node.id, hooks.currentRow(), hooks))

    # edits -----------------------------------------------------------------------------------
    @guarded
    def _commit(self, operation: Operation, widget: QWidget | None = None) -> str | None:
        if self.editor is None:
            return "no document"
        reason = self.editor.push(operation)
        if reason:
            self.show_error(reason, widget)
        else:
            self.error_label.hide()
            self.sigStatus.emit(operation.text, False)
        return reason

    @guarded
    def _commit_text(self, node_id: str, name: str, edit: QLineEdit) -> None:
        node = self.session.document.nodes.get(node_id)
        if node is None:
            return
        if edit.text().strip() == _param_text(node.params.get(name)).strip():
            return
        self._commit(SetParam(node_id, name, edit.text()), edit)

    @guarded
    def _add_hook(self, node_id: str, kind: str, argument: str, widget: QWidget) -> None:
        try:
            hook = make_hook(kind, argument)
        except (DocumentError, ValueError) as exc:
            self.show_error(str(exc), widget)
            return
        self._commit(AddHook(node_id, hook), widget)

    @guarded
    def _remove_hook(self, node_id: str, index: int, widget: QWidget) -> None:
        if index < 0:
            self.show_error("select the hook to remove", widget)
            return
        self._commit(RemoveHook(node_id, index), widget)

    def show_error(self, text: str, widget: QWidget | None = None) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        if widget is not None:
            widget.setProperty("invalid", True)
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.sigStatus.emit(text, True)

    def field_text(self, name: str) -> str:
        label = self.fields.get(name)
        return label.text() if label is not None else ""


def make_hook(kind: str, argument: str) -> Hook:
    """A hook from the inspector's two fields: ``scale`` + ``0.5``, ``clamp`` + ``-1, 1``."""
    text = argument.strip()
    if kind == "scale":
        return Hook("scale", k=_number(text or "1", "k"))
    if kind == "clamp":
        parts = [p for p in text.replace(" ", ",").split(",") if p]
        if len(parts) != 2:
            raise ValueError("a clamp hook needs min and max, e.g. -1, 1")
        return Hook("clamp", min=_number(parts[0], "min"), max=_number(parts[1], "max"))
    if kind == "replace":
        return Hook("replace", expression=text or "grad")
    return Hook(kind)


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"hook {name!r} must be a number, got {text!r}") from None


def _param_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _printed(tensor: Any) -> str:
    if tensor is None:
        return "None"
    try:
        return str(tensor)
    except Exception:  # noqa: BLE001 - printing is best effort
        return format_value(tensor)


def _next_functions(entries: list[tuple[str | None, int]]) -> str:
    if not entries:
        return "()"
    # as torch shows them: the class (AccumulateGrad), not name()'s torch::autograd:: prefix
    return "\n".join(f"({name.rsplit('::', 1)[-1] if name else 'None'}, {nr})"
                     for name, nr in entries)


def _saved_tensors(tensor: Any) -> str:
    grad_fn = getattr(tensor, "grad_fn", None)
    if grad_fn is None:
        return "—"
    try:
        saved = grad_fn.saved_tensors
    except RuntimeError:
        return "freed (backward ran without retain_graph)"
    if not saved:
        return "none"
    parts = []
    for value in saved:
        shape = getattr(value, "shape", None)
        parts.append(f"tensor{list(shape)}" if shape is not None else repr(value))
    return ", ".join(parts)


__all__ = ["Heatmap", "InspectorPanel", "TensorView", "make_hook"]
