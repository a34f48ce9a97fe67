"""The canvas's view: zoom around the cursor, pan, rubber-band selection, drops from the palette.

Zoomed out below :data:`~visgrad.qt.canvas.items.SIMPLE_BELOW`, the view does not ask the
scene's items to paint: it draws the scene's overview (a few batched calls per tile), so a
frame of the whole graph costs the same however many nodes it has. Up close, it makes the
items of what it is about to show (``GraphScene.materialize``) and lets Qt draw them. Mouse
events make the items under the pointer first, so clicks, drags and hovers find them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QRegion
from PySide6.QtWidgets import QGraphicsView

from visgrad.document.operations import AddNode
from visgrad.qt.canvas.items import SIMPLE_BELOW
from visgrad.qt.canvas.scene import GraphScene
from visgrad.qt.errors import guarded

KIND_MIME = "application/x-visgrad-kind"
MIN_ZOOM, MAX_ZOOM = 0.12, 3.0  # a big graph may be zoomed out further: until it all shows
EXPOSED_PARTS = 64  # a repaint of more rectangles than this draws their bounding rectangle
MOUSE_REACH = 24.0  # view pixels around the pointer whose items are made before an event


class GraphView(QGraphicsView):
    """Shows a :class:`GraphScene`. Signals: ``sigZoomChanged(scale)``."""

    sigZoomChanged = Signal(float)  # noqa: N815

    def __init__(self, scene: GraphScene | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        # every paint covers its whole area (canvas colour first), so Qt may scroll the
        # pixels already drawn and repaint only the strip a pan uncovers
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space_held = False
        self.overview_frames = 0  # frames drawn from the overview (for tests)
        self.rubberBandChanged.connect(self._on_rubber_band_changed)
        if scene is not None:
            self.setScene(scene)

    def graph_scene(self) -> GraphScene:
        return self.scene()  # type: ignore[return-value]

    # zoom and pan --------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def min_zoom(self) -> float:
        """The smallest zoom: MIN_ZOOM, or less when the graph needs it to fit."""
        scene = self.graph_scene()
        rect = scene.items_bounding_rect() if scene is not None else QRectF()
        if rect.isNull():
            return MIN_ZOOM
        size = self.viewport().size()
        fit = min(size.width() / (rect.width() + 80), size.height() / (rect.height() + 80))
        return max(0.005, min(MIN_ZOOM, fit * 0.8))

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        target = max(min(self.min_zoom(), self.zoom()), min(MAX_ZOOM, self.zoom() * factor))
        factor = target / self.zoom()
        if abs(factor - 1.0) < 1e-6:
            return
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        # keep the scene point under ``anchor`` where it is: scale, then scroll it back
        point = anchor.toPoint()
        before = self.mapToScene(point)
        previous = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        self.setTransformationAnchor(previous)
        moved = self.mapFromScene(before) - point
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self.sigZoomChanged.emit(self.zoom())

    def fit_to_view(self, margin: float = 40.0) -> None:
        scene = self.graph_scene()
        if scene is None:
            return
        scene.fit_scene_rect()  # a layout may just have moved everything
        rect = scene.items_bounding_rect()
        if rect.isNull():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        rect = rect.adjusted(-margin, -margin, margin, margin)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.25:  # a small graph is shown at a readable size, not huge
            self.resetTransform()
            self.scale(1.25, 1.25)
            self.centerOn(rect.center())
        self.sigZoomChanged.emit(self.zoom())

    # drawing -----------------------------------------------------------------------------------
    def is_overview(self) -> bool:
        """Whether the view draws the overview (zoomed out) rather than the items."""
        return self.zoom() < SIMPLE_BELOW

    @guarded
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        scene = self.graph_scene()
        if scene is None:
            super().paintEvent(event)
            return
        if not self.is_overview():
            margin = 0.1 * max(self.viewport().width(), self.viewport().height())
            shown = QRectF(self.viewport().rect()).adjusted(-margin, -margin, margin, margin)
            scene.materialize(self.mapToScene(shown.toRect()).boundingRect())
            scene.set_exposed(self._scene_parts(event.region()))
            try:
                super().paintEvent(event)
            finally:
                scene.set_exposed(None)
            return
        self.overview_frames += 1
        painter = QPainter(self.viewport())
        try:
            painter.setWorldTransform(self.viewportTransform())
            exposed = self.mapToScene(event.rect()).boundingRect()
            scene.paint_overview(painter, exposed, self.zoom())
            band = self.rubberBandRect()
            if not band.isEmpty():  # what QGraphicsView draws over the items
                painter.resetTransform()
                highlight = self.palette().highlight().color()
                fill = QColor(highlight)
                fill.setAlpha(50)
                painter.setPen(QPen(highlight, 1))
                painter.setBrush(fill)
                painter.drawRect(band.adjusted(0, 0, -1, -1))
        finally:
            painter.end()
        # NOTE [scene bookkeeping]: QGraphicsScene forgets a pending "update everything"
        # only while drawing its items; until then it drops every other update, item repaints
        # included. Qt's own paint over an empty region draws nothing and clears it.
        super().paintEvent(QPaintEvent(QRegion()))

    def _scene_parts(self, region: QRegion) -> list[QRectF] | None:
        """The rectangles of a paint's region in scene coordinates (None for one, or for so
        many that their bounding rectangle, which Qt hands the scene, is as good)."""
        if not 1 < region.rectCount() <= EXPOSED_PARTS:
            return None
        return [self.mapToScene(rect.adjusted(-1, -1, 1, 1)).boundingRect() for rect in region]

    def _materialize_around(self, position: QPointF) -> None:
        scene = self.graph_scene()
        if scene is not None:
            reach = QRectF(position.x() - MOUSE_REACH, position.y() - MOUSE_REACH,
                           2 * MOUSE_REACH, 2 * MOUSE_REACH)
            scene.materialize(self.mapToScene(reach.toRect()).boundingRect())

    @guarded
    def _on_rubber_band_changed(self, rect: QRect, start: QPointF, end: QPointF) -> None:
        scene = self.graph_scene()
        if scene is not None and not rect.isEmpty():
            scene.materialize(self.mapToScene(rect).boundingRect())

    def centre_scene_pos(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    @guarded
    def wheelEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta == 0:
            return
        self.zoom_by(1.0015 ** delta, event.position())
        event.accept()

    @guarded
    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self._materialize_around(event.position())
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space_held and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    @guarded
    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self._materialize_around(event.position())
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    @guarded
    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self._materialize_around(event.position())
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_held
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    @guarded
    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    @guarded
    def keyReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    # drops from the palette ----------------------------------------------------------------
    @staticmethod
    def _kind_of(event: Any) -> str | None:
        mime = event.mimeData()
        if mime is None or not mime.hasFormat(KIND_MIME):
            return None
        return bytes(mime.data(KIND_MIME).data()).decode("utf-8")

    @guarded
    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._kind_of(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    @guarded
    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._kind_of(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    @guarded
    def dropEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        kind = self._kind_of(event)
        if not kind:
            event.ignore()
            return
        position = self.mapToScene(event.position().toPoint())
        self.add_node_at(kind, position)
        event.acceptProposedAction()

    def add_node_at(self, kind: str, position: QPointF) -> str | None:
        """Add a node of ``kind`` with its top-left corner at ``position`` (one undo step)."""
        operation = AddNode(kind, position=(position.x(), position.y()))
        reason = self.graph_scene().push(operation)
        if reason:
            return None
        self.graph_scene().select_nodes([operation.node_id])
        return operation.node_id

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()
