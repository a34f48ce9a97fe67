"""The palette: every node kind of the registry, grouped, searchable, draggable onto the canvas."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from visgrad.document import registry
from visgrad.qt import resources, theme
from visgrad.qt.canvas.view import KIND_MIME
from visgrad.qt.errors import guarded

KIND_ROLE = Qt.ItemDataRole.UserRole + 1


class PaletteTree(QTreeWidget):
    """Categories with their kinds; an entry's mime data names its kind (``KIND_MIME``)."""

    sigActivated = Signal(str)  # noqa: N815 - a kind was double-clicked or Enter was pressed

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setIndentation(12)
        self.setRootIsDecorated(True)
        self.setIconSize(QSize(20, 20))
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformRowHeights(True)
        self.setAnimated(True)
        self.itemActivated.connect(self._on_item_activated)
        self.populate()

    def populate(self) -> None:
        self.clear()
        for category, kinds in registry.categories().items():
            if not kinds:
                continue
            group = QTreeWidgetItem(self, [category])
            group.setIcon(0, resources.icon(f"category-{category.lower().replace(' ', '-')}"))
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setForeground(0, theme.current().category(category))
            for kind in kinds:
                entry = QTreeWidgetItem(group, [kind.name])
                entry.setData(0, KIND_ROLE, kind.name)
                entry.setIcon(0, resources.kind_icon(kind.name, kind.category))
                entry.setToolTip(0, tooltip(kind))
                entry.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                               | Qt.ItemFlag.ItemIsDragEnabled)
            group.setExpanded(True)

    def kind_items(self) -> list[QTreeWidgetItem]:
        items = []
        for index in range(self.topLevelItemCount()):
            group = self.topLevelItem(index)
            items.extend(group.child(i) for i in range(group.childCount()))
        return items

    def item_for(self, kind_name: str) -> QTreeWidgetItem | None:
        return next((item for item in self.kind_items() if item.data(0, KIND_ROLE) == kind_name),
                    None)

    def filter(self, text: str) -> None:
        needle = text.strip().lower()
        first = None
        for index in range(self.topLevelItemCount()):
            group = self.topLevelItem(index)
            visible = 0
            for i in range(group.childCount()):
                item = group.child(i)
                kind = registry.get(item.data(0, KIND_ROLE))
                match = not needle or needle in kind.name.lower() or \
                    needle in kind.description.lower() or needle in kind.category.lower() \
                    or any(needle in name.lower() for name in kind.grad_fn_names)
                item.setHidden(not match)
                if match:
                    visible += 1
                    first = first or item
            group.setHidden(visible == 0)
            if needle:
                group.setExpanded(True)
        if first is not None and needle:
            self.setCurrentItem(first)

    # drag: the mime data names the kind ---------------------------------------------------
    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt override
        return [KIND_MIME]

    @guarded
    def mimeData(self, items: Any) -> QMimeData:  # noqa: N802 - Qt override
        mime = QMimeData()
        kinds = [item.data(0, KIND_ROLE) for item in items if item.data(0, KIND_ROLE)]
        if kinds:
            mime.setData(KIND_MIME, kinds[0].encode("utf-8"))
            mime.setText(kinds[0])
        return mime

    @guarded
    def startDrag(self, actions: Any) -> None:  # noqa: N802 - Qt override
        # NOTE [our own startDrag]: the C++ one calls QDrag.exec directly; doing it here lets
        # tests replace QDrag.exec, and gives the drag the kind's icon.
        item = self.currentItem()
        if item is None or not item.data(0, KIND_ROLE):
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData([item]))
        drag.setPixmap(item.icon(0).pixmap(QSize(28, 28)))
        drag.exec(Qt.DropAction.CopyAction)

    @guarded
    def _on_item_activated(self, item: QTreeWidgetItem, column: int) -> None:
        kind = item.data(0, KIND_ROLE)
        if kind:
            self.sigActivated.emit(kind)


def tooltip(kind: registry.NodeKind) -> str:
    lines = [f"<b>{kind.name}</b> <span style='color:gray'>({kind.category})</span>",
             kind.description]
    if kind.formula:
        lines.append(f"<br><b>forward</b>: {kind.formula}")
    for port, text in kind.derivatives.items():
        lines.append(f"<b>{port}</b>: {text}")
    if kind.grad_fn_names:
        lines.append(f"<br>grad_fn: {', '.join(kind.grad_fn_names)}")
    lines.append("<br><i>Drag onto the canvas, or double-click to add it at the centre.</i>")
    return "<br>".join(lines)


class PalettePanel(QWidget):
    """The search box above the tree. ``sigAddKind(kind)``: add at the view's centre."""

    sigAddKind = Signal(str)  # noqa: N815

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search nodes…  (e.g. mul, loss, grad)")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(resources.icon("action-search", theme.current().colors["muted"]),
                              QLineEdit.ActionPosition.LeadingPosition)
        self.tree = PaletteTree()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 4)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self._on_search)
        self.search.returnPressed.connect(self._on_search_enter)
        self.tree.sigActivated.connect(self.sigAddKind)

    @guarded
    def _on_search(self, text: str) -> None:
        self.tree.filter(text)

    @guarded
    def _on_search_enter(self) -> None:
        item = self.tree.currentItem()
        if item is not None and not item.isHidden() and item.data(0, KIND_ROLE):
            self.sigAddKind.emit(item.data(0, KIND_ROLE))
