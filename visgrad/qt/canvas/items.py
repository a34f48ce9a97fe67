"""What the canvas draws up close: node cards with ports, edges with their shape and gradient.

Items hold no model state. A :class:`NodeItem` knows its node id and reads the node, the
validation report and the session's tensors through its scene when it refreshes; edits go
back through the scene (which pushes undo commands), never into the document directly.

Levels of detail, by the view's zoom: from :data:`SIMPLE_BELOW` up, cards are items drawn in
full (and cached as pixmaps, so panning repaints nothing); below it the view draws the whole
graph from the scene's :mod:`~visgrad.qt.canvas.overview` in a few batched calls and no item
paints. Ports and edge labels are not items of their own: the card draws and hit-tests its
ports. An edge item is what the mouse selects and hovers; the scene draws every visible edge
in one pass under the cards and their labels above them (``GraphScene.drawBackground`` and
``drawForeground``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QStaticText,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneMouseEvent, QStyleOptionGraphicsItem

from visgrad.document.formulas import format_number, to_numpy
from visgrad.qt import resources, theme
from visgrad.qt.errors import guarded

if TYPE_CHECKING:
    from visgrad.document.model import Node
    from visgrad.qt.canvas.scene import GraphScene

NODE_WIDTH = 150.0
HEADER = 27.0
ROW = 17.0
PAD = 5.0
PORT_RADIUS = 5.0
PORT_HIT = 9.0
SIMPLE_BELOW = 0.45  # zoom under which the graph is drawn as an overview (cards simplified)

UI_FONT = "DejaVu Sans"
MONO_FONT = "DejaVu Sans Mono"


def _font(size: float, bold: bool = False, mono: bool = False) -> QFont:
    font = QFont(MONO_FONT if mono else UI_FONT)
    font.setPointSizeF(size)
    font.setBold(bold)
    return font


FONTS: dict[str, QFont] = {}


def fonts() -> dict[str, QFont]:
    if not FONTS:
        FONTS.update(title=_font(8.6, bold=True), small=_font(7.0), port=_font(7.2),
                     mono=_font(7.2, mono=True), badge=_font(7.5, bold=True),
                     label=_font(6.8, mono=True), big=_font(16, bold=True))
    return FONTS


def short_number(value: Any) -> str:
    """A number in at most four significant digits (``2.0``, ``-0.105``, ``1.235e+04``)."""
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return format_number(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e6:
        return format_number(number)
    return f"{number:.4g}"


def short_value(value: Any, limit: int = 4) -> str:
    """A tensor as few characters: ``2.0``, ``[1.0, 2.0]``, ``2×2 of 0.25``, ``⟨3×4⟩``."""
    array = to_numpy(value)
    if array is None:
        return "None"
    if array.ndim == 0:
        return short_number(array.item())
    shape = "×".join(map(str, array.shape))
    if array.size == 0:
        return f"⟨{shape}⟩ empty"
    flat = array.reshape(-1)
    if array.size > 1 and np.all(flat == flat[0]):
        return f"{shape} of {short_number(flat[0])}"
    if array.size <= limit:
        return _nested(array)
    return f"⟨{shape}⟩"


def _nested(array: np.ndarray) -> str:
    if array.ndim == 0:
        return short_number(array.item())
    return "[" + ", ".join(_nested(row) for row in array) + "]"


def shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


class PaintCounts:
    """How cards were drawn, for tests of the level of detail (cheap integer counters)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.detailed = 0    # cards drawn in full: texts, ports, badges
        self.simplified = 0  # cards drawn as a box with their label (small renders)
        self.edges = 0       # edges drawn up close (by the scene, in one pass)


paint_counts = PaintCounts()

# what a card's laid-out texts are made of (NodeItem._layout): a text, a chip, the badge
_TEXT, _CHIP, _BADGE = "text", "chip", "badge"
_METRICS: dict[int, QFontMetricsF] = {}  # by id of one of FONTS, which live as long


def _place(ops: list, font: QFont, color: QColor, text: str, rect: QRectF,
           align: Qt.AlignmentFlag) -> None:
    """Append ``text`` as ``drawText(rect, align, text)`` would place it, shaped once: a
    ``QStaticText`` draws three times faster than ``drawText`` lays the same text out."""
    if not text:
        return
    metrics = _METRICS.get(id(font))
    if metrics is None:
        metrics = _METRICS[id(font)] = QFontMetricsF(font)
    width = metrics.horizontalAdvance(text)
    if align & Qt.AlignmentFlag.AlignRight:
        x = rect.right() - width
    elif align & Qt.AlignmentFlag.AlignHCenter:
        x = rect.left() + (rect.width() - width) / 2
    else:
        x = rect.left()
    static = QStaticText(text)
    static.setTextFormat(Qt.TextFormat.PlainText)  # a label like "<b>" is text, not markup
    y = rect.top() + (rect.height() - metrics.height()) / 2
    ops.append((_TEXT, font, color, QPointF(x, y), static))


_SHADOWS: dict[float, QPainterPath] = {}
SHADOW_DROP = 2.5


def _shadow_shape(height: float) -> QPainterPath:
    """The part of a card's shadow that shows: its rounded bottom, from where the card's own
    corners begin. The rest lies under the opaque card, and blending a translucent shadow
    over the whole card cost a card's painting a fifth of its time."""
    shape = _SHADOWS.get(height)
    if shape is None:
        bottom, corner = height + SHADOW_DROP, 18.0
        shape = QPainterPath()
        shape.moveTo(0, height - 9)
        shape.lineTo(0, bottom - 9)
        shape.arcTo(QRectF(0, bottom - corner, corner, corner), 180, 90)
        shape.lineTo(NODE_WIDTH - 9, bottom)
        shape.arcTo(QRectF(NODE_WIDTH - corner, bottom - corner, corner, corner), 270, 90)
        shape.lineTo(NODE_WIDTH, height - 9)
        shape.closeSubpath()
        _SHADOWS[height] = shape
    return shape


_HEADER_SHAPE: list[QPainterPath] = []


def _header_shape() -> QPainterPath:
    """The header's tinted area: the card's rounded top, cut straight at the divider."""
    if not _HEADER_SHAPE:
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, NODE_WIDTH, HEADER + 8), 9, 9)
        clip = QPainterPath()
        clip.addRect(QRectF(0, 0, NODE_WIDTH, HEADER))
        _HEADER_SHAPE.append(header.intersected(clip))
    return _HEADER_SHAPE[0]


def port_offset(index: int, output: bool) -> tuple[float, float]:
    """Where a card's ``index``-th input or output port sits, from the card's corner."""
    return (NODE_WIDTH if output else 0.0), HEADER + ROW * index + ROW / 2


def curve_reach(x1: float, x2: float) -> float:
    """How far an edge's S-curve reaches out horizontally from each end."""
    return max(abs(x2 - x1) * 0.5, 40.0)


class PortItem:
    """An input or output port: a circle on the card's edge. Dragging it makes an edge.

    Not a QGraphicsItem: the card draws its ports and finds the one under the mouse (an item
    per port made opening a big graph slow). It offers what code asks of a port, with Qt's
    names where it stands in for an item (``scenePos``, ``update``).
    """

    __slots__ = ("hover_state", "index", "is_output", "name", "node_item", "optional")

    def __init__(self, parent: NodeItem, name: str, is_output: bool, optional: bool,
                 index: int = 0) -> None:
        self.node_item = parent
        self.name = name
        self.is_output = is_output
        self.optional = optional
        self.index = index
        self.hover_state: str | None = None  # "ok" / "refused" while an edge is dragged over

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    def pos(self) -> QPointF:
        return QPointF(*port_offset(self.index, self.is_output))

    def scenePos(self) -> QPointF:  # noqa: N802 - stands in for QGraphicsItem.scenePos
        return self.node_item.mapToScene(self.pos())

    def scene_center(self) -> QPointF:
        return self.scenePos()

    def contains(self, local: QPointF) -> bool:
        """Whether a point in the card's coordinates is on this port."""
        x, y = port_offset(self.index, self.is_output)
        return math.hypot(local.x() - x, local.y() - y) <= PORT_HIT

    def connected(self) -> bool:
        scene = self.node_item.scene()
        return scene is not None and scene.port_connected(self)

    def update(self) -> None:
        self.node_item.update()

    def paint(self, painter: QPainter, colors: theme.Theme, category: QColor) -> None:
        radius = PORT_RADIUS
        if self.hover_state == "ok":
            painter.setPen(QPen(colors.color("good"), 2))
            painter.setBrush(colors.color("good"))
            radius += 1.5
        elif self.hover_state == "refused":
            painter.setPen(QPen(colors.color("error"), 2))
            painter.setBrush(colors.color("error"))
            radius += 1.5
        elif self.connected():
            painter.setPen(QPen(category, 1.6))
            painter.setBrush(category)
        else:
            pen = QPen(colors.color("port_border"), 1.4)
            if self.optional:
                pen.setStyle(Qt.PenStyle.DotLine)
            painter.setPen(pen)
            painter.setBrush(colors.color("port"))
        painter.drawEllipse(self.pos(), radius, radius)


class NodeItem(QGraphicsItem):
    """A node as a rounded card: header (icon, label, kind or grad_fn), ports, value, grad."""

    def __init__(self, scene: GraphScene, node: Node) -> None:
        super().__init__()
        self.node_id = node.id
        self._scene = scene
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.height = HEADER + ROW
        # presentation derived from the document, the validation report and the session
        self.texts: dict[str, str] = {}
        self.flags: list[str] = []
        self.messages: list[tuple[str, str]] = []
        self._laid_out: tuple[tuple, list[tuple]] | None = None  # (what it shows, _layout)
        self._connecting = False  # a press on a port started an edge
        self._hovered: PortItem | None = None
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.setPos(*node.position)
        self.rebuild_ports()

    # model access ------------------------------------------------------------------------
    def node(self) -> Node:
        return self._scene.document.nodes[self.node_id]

    def category_color(self) -> QColor:
        try:
            return theme.current().category(self.node().kind_info.category)
        except KeyError:
            return theme.current().color("muted")

    # geometry ----------------------------------------------------------------------------
    def rebuild_ports(self) -> None:
        """Make the ports match the node's ports (Cat/Function change theirs)."""
        node = self.node()
        wanted_in = [(p.name, p.optional) for p in node.input_ports()]
        wanted_out = [p.name for p in node.output_ports()]
        if [(n, p.optional) for n, p in self.inputs.items()] != wanted_in or \
                list(self.outputs) != wanted_out:
            self.inputs = {name: PortItem(self, name, False, optional, index)
                           for index, (name, optional) in enumerate(wanted_in)}
            self.outputs = {name: PortItem(self, name, True, False, index)
                            for index, name in enumerate(wanted_out)}
            self.update()

    def ports(self) -> list[PortItem]:
        return [*self.inputs.values(), *self.outputs.values()]

    def port_at(self, local: QPointF) -> PortItem | None:
        """The port under a point in the card's coordinates."""
        if PORT_HIT < local.x() < NODE_WIDTH - PORT_HIT:
            return None
        return next((port for port in self.ports() if port.contains(local)), None)

    def _rows(self) -> int:
        return max(len(self.inputs), len(self.outputs), 1)

    def body_lines(self) -> list[tuple[str, str]]:
        """The lines under the header, as (role, text): value, grad, event, error, flags."""
        lines = []
        for role in ("value", "grad", "event", "error"):
            if self.texts.get(role):
                lines.append((role, self.texts[role]))
        if self.flags:
            lines.append(("flags", " ".join(self.flags)))
        return lines

    def _compute_height(self) -> float:
        return HEADER + ROW * max(self._rows(), len(self.body_lines())) + PAD

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(-PORT_HIT, -4, NODE_WIDTH + 2 * PORT_HIT, self.height + 10)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, NODE_WIDTH, self.height), 9, 9)
        for port in self.ports():
            path.addEllipse(port.pos(), PORT_HIT, PORT_HIT)
        return path

    # refresh from the model ----------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read label, params, validation and the session's tensors; repaint."""
        scene = self._scene
        node = self.node()
        kind = node.kind_info
        texts: dict[str, str] = {"label": node.label, "kind": node.kind}
        flags: list[str] = []
        info = scene.tensor_info(self.node_id)
        if info is not None:
            texts["value"] = short_value(info.value)
            if info.grad_fn:
                texts["kind"] = info.grad_fn
            if info.grad is not None:
                texts["grad"] = short_value(info.grad)
            if kind.is_source:
                flags = [name for name, on in (("requires_grad", info.requires_grad),
                                               ("leaf", info.is_leaf)) if on]
        elif kind.is_source:
            value = node.params.get("value")
            if isinstance(value, str):
                texts["value"] = value
            if node.kind == "Parameter" or node.params.get("requires_grad"):
                flags = ["requires_grad", "leaf"]
            elif node.kind != "Data":
                flags = ["leaf"]
        else:
            summary = [f"{name}={value}" for name, value in node.params.items()
                       if value not in (None, False) and name != "no_grad"
                       and not isinstance(value, list | dict)]
            if summary:
                texts["params"] = ", ".join(summary)
        if node.params.get("no_grad"):
            flags.append("no_grad")
        if node.retain_grad and not kind.is_source:
            flags.append("retains_grad")
        if node.hooks:
            flags.append(f"{len(node.hooks)} hook{'s' if len(node.hooks) > 1 else ''}")
        event = scene.node_event(self.node_id)
        if event is not None and event[0] == "accumulate":
            texts["grad"] = event[1]
        elif event is not None:
            texts["event"] = event[1]
        runtime_error = scene.node_runtime_error(self.node_id)
        if runtime_error:
            texts["error"] = runtime_error
        if "params" in texts and "value" not in texts:
            texts["value"] = texts.pop("params")
            texts["value_is_params"] = "1"
        self.texts, self.flags = texts, flags
        self.messages = scene.node_messages(self.node_id)
        tooltip = [f"<b>{node.label}</b> — {kind.name}: {kind.description}"]
        if kind.formula:
            tooltip.append(f"forward: {kind.formula}")
        for severity, text in self.messages:
            tooltip.append(f"<span style='color:{theme.current().colors[severity]}'>"
                           f"{severity}: {text}</span>")
        if runtime_error:
            tooltip.append(f"<span style='color:{theme.current().colors['error']}'>"
                           f"{runtime_error}</span>")
        self.setToolTip("<br>".join(tooltip))
        height = self._compute_height()
        if height != self.height:
            self.prepareGeometryChange()
            self.height = height
            scene.card_height_changed(self)
        self.update()

    # painting ----------------------------------------------------------------------------
    @guarded
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Any = None) -> None:
        colors = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        rect = QRectF(0, 0, NODE_WIDTH, self.height)
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        stage = self._scene.highlight_of(self.node_id)
        category = self.category_color()
        selected = self.isSelected()
        if lod < SIMPLE_BELOW:  # only small renders get here: the view draws an overview
            paint_counts.simplified += 1
            self._paint_simple(painter, rect, category, stage, selected)
            return
        paint_counts.detailed += 1
        # shadow, card, header tint, category bar
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colors.color("node_shadow"))
        painter.drawPath(_shadow_shape(self.height))
        fill = colors.color("node")
        if stage == "forward":
            fill = colors.color("forward_fill")
        elif stage in ("backward", "hook"):
            fill = colors.color("backward_fill")
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 9, 9)
        tint = QColor(category)
        tint.setAlpha(46 if colors.dark else 26)
        painter.setBrush(tint)
        painter.drawPath(_header_shape())
        painter.setPen(QPen(colors.color("node_divider"), 1))
        painter.drawLine(QPointF(1, HEADER), QPointF(NODE_WIDTH - 1, HEADER))
        # border: highlight > selection > plain
        border = QPen(colors.color("node_border"), 1)
        if stage == "forward":
            border = QPen(colors.color("forward"), 2.6)
        elif stage == "backward":
            border = QPen(colors.color("backward"), 2.6)
        elif stage == "hook":
            border = QPen(colors.color("hook"), 2.6)
        elif selected:
            border = QPen(colors.color("accent"), 2)
        painter.setPen(border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 9, 9)
        self._paint_header(painter, colors, category)
        self._paint_ports(painter, colors)
        self._paint_texts(painter, colors)

    def _paint_simple(self, painter: QPainter, rect: QRectF, category: QColor,
                      stage: str | None, selected: bool) -> None:
        colors = theme.current()
        fill = QColor(category)
        fill.setAlpha(70 if colors.dark else 40)
        painter.setBrush(colors.color("node"))
        border = category
        if stage == "forward":
            border = colors.color("forward")
        elif stage in ("backward", "hook"):
            border = colors.color("backward")
        elif self.messages and self.messages[0][0] == "error":
            border = colors.color("error")
        painter.setPen(QPen(border, 6 if (stage or selected) else 3))
        painter.drawRoundedRect(rect, 12, 12)
        painter.setBrush(fill)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(rect.adjusted(3, 3, -3, -3), 10, 10)
        painter.setPen(colors.color("node_text"))
        painter.setFont(fonts()["big"])
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.texts.get("label", ""))

    def _paint_header(self, painter: QPainter, colors: theme.Theme, category: QColor) -> None:
        """The kind's icon (its label and kind are among the laid-out texts)."""
        kind = self.node().kind_info
        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        pixmap = resources.kind_pixmap(kind.name, kind.category, 18, max(2.0, ratio))
        painter.drawPixmap(QRectF(7, 5, 18, 18), pixmap, QRectF(pixmap.rect()))

    def _paint_ports(self, painter: QPainter, colors: theme.Theme) -> None:
        category = self.category_color()
        for port in self.ports():
            port.paint(painter, colors, category)

    def _paint_texts(self, painter: QPainter, colors: theme.Theme) -> None:
        """Every text of the card, with the chips and the badge, as laid out (``_layout``)."""
        font = pen = None
        for op in self._layout(colors):
            if op[0] is _TEXT:
                _, op_font, op_pen, point, text = op
                if op_font is not font:
                    font = op_font
                    painter.setFont(font)
                if op_pen is not pen:
                    pen = op_pen
                    painter.setPen(pen)
                painter.drawStaticText(point, text)
            else:  # a chip or the badge: a shape under the text that follows
                _, shape, brush = op
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(brush)
                if op[0] is _CHIP:
                    painter.drawRoundedRect(shape, 5, 5)
                else:
                    painter.drawEllipse(shape)
                pen = None

    def _layout(self, colors: theme.Theme) -> list[tuple]:
        """The card's texts placed, elided and shaped once (``QStaticText``), until what they
        show changes. A zoom repaints every card on screen at its new scale, and laying out
        its texts took half a card's painting."""
        severity = self.badge_severity()
        key = (colors.name, self.height, tuple(self.texts.items()), tuple(self.flags), severity,
               tuple(self.inputs), tuple(self.outputs))
        if self._laid_out is not None and self._laid_out[0] == key:
            return self._laid_out[1]
        ops: list[tuple] = []
        self._layout_header(ops, colors, severity is not None)
        self._layout_ports(ops, colors)
        self._layout_body(ops, colors)
        if severity is not None:
            center = QPointF(NODE_WIDTH - 13, HEADER / 2)
            ops.append((_BADGE, QRectF(center.x() - 7, center.y() - 7, 14, 14),
                        colors.color(severity)))
            _place(ops, fonts()["badge"], QColor("white"), "!",
                   QRectF(center.x() - 7, center.y() - 7, 14, 14), Qt.AlignmentFlag.AlignCenter)
        self._laid_out = (key, ops)
        return ops

    def _layout_header(self, ops: list, colors: theme.Theme, badge: bool) -> None:
        node = self.node()
        title_font, small_font = fonts()["title"], fonts()["small"]
        kind_text = self.texts.get("kind", "")
        small_metrics, title_metrics = QFontMetricsF(small_font), QFontMetricsF(title_font)
        right = NODE_WIDTH - 8 - (18 if badge else 0)
        available = right - 31 - 6
        # the label wins: it keeps its width up to 60%, the kind or grad_fn gets the rest
        label_text = self.texts.get("label", "")
        label_natural = title_metrics.horizontalAdvance(label_text)
        kind_natural = small_metrics.horizontalAdvance(kind_text)
        label_width = min(label_natural + 1, max(available - kind_natural, available * 0.6))
        kind_width = max(0.0, available - label_width)
        label = title_metrics.elidedText(label_text, Qt.TextElideMode.ElideRight, label_width)
        _place(ops, title_font, colors.color("node_text"), label,
               QRectF(31, 0, label_width, HEADER),
               Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
        has_grad_fn = kind_text != node.kind
        kind_text = small_metrics.elidedText(kind_text, Qt.TextElideMode.ElideRight, kind_width)
        _place(ops, small_font,
               colors.color("backward") if has_grad_fn else colors.color("node_muted"),
               kind_text, QRectF(right - kind_width, 0, kind_width, HEADER),
               Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight)

    def _layout_ports(self, ops: list, colors: theme.Theme) -> None:
        port_font, muted = fonts()["port"], colors.color("node_muted")
        for index, name in enumerate(self.inputs):
            _place(ops, port_font, muted, name,
                   QRectF(11, HEADER + ROW * index, NODE_WIDTH / 2, ROW),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
        if list(self.outputs) != ["out"]:
            for index, name in enumerate(self.outputs):
                _place(ops, port_font, muted, name,
                       QRectF(NODE_WIDTH / 2 - 11, HEADER + ROW * index, NODE_WIDTH / 2, ROW),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight)

    def _layout_body(self, ops: list, colors: theme.Theme) -> None:
        mono, small, port = fonts()["mono"], fonts()["small"], fonts()["port"]
        names = QFontMetricsF(port)
        left = 11.0 + (max(names.horizontalAdvance(n) for n in self.inputs) + 9
                       if self.inputs else 0.0)
        # values sit on the right, by the output port they describe; input names on the left
        align = Qt.AlignmentFlag.AlignVCenter | (
            Qt.AlignmentFlag.AlignRight if self.inputs else Qt.AlignmentFlag.AlignLeft)
        for index, (role, text) in enumerate(self.body_lines()):
            y = HEADER + ROW * index
            right = NODE_WIDTH - (13 if index < len(self.outputs) else 9)
            if role == "flags":
                self._layout_chips(ops, colors, left, y, right, bool(self.inputs))
                continue
            tag = "grad " if role == "grad" else ""
            color = {"value": colors.color("node_text"), "grad": colors.color("gradient"),
                     "error": colors.color("error")}.get(role, colors.color("backward"))
            if role == "value" and self.texts.get("value_is_params"):
                color = colors.color("node_muted")
            if role == "event" and text.startswith("hook"):
                color = colors.color("hook")
            font = mono if role in ("value", "grad") else small
            metrics = QFontMetricsF(font)
            tag_width = QFontMetricsF(small).horizontalAdvance(tag) if tag else 0.0
            shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight,
                                       right - left - tag_width)
            text_width = metrics.horizontalAdvance(shown)
            text_left = right - text_width if self.inputs else left + tag_width
            if tag:
                _place(ops, small, colors.color("gradient"), tag,
                       QRectF(text_left - tag_width, y, tag_width, ROW),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
            _place(ops, font, color, shown, QRectF(text_left, y, text_width + 1, ROW), align)

    def _layout_chips(self, ops: list, colors: theme.Theme, left: float, y: float,
                      right: float, align_right: bool) -> None:
        small = fonts()["small"]
        metrics = QFontMetricsF(small)
        widths = [metrics.horizontalAdvance(flag) + 8 for flag in self.flags]
        total = sum(widths) + 4 * (len(widths) - 1)
        x = max(left, right - total) if align_right else left
        chip_color, chip_text = colors.color("chip"), colors.color("chip_text")
        for flag, chip_width in zip(self.flags, widths, strict=True):
            chip = QRectF(x, y + 2.5, chip_width, ROW - 5)
            if chip.right() > right + 0.5:
                break
            ops.append((_CHIP, chip, chip_color))
            _place(ops, small, chip_text, flag, chip, Qt.AlignmentFlag.AlignCenter)
            x = chip.right() + 4

    def badge_severity(self) -> str | None:
        if self.texts.get("error") or any(s == "error" for s, _ in self.messages):
            return "error"
        return "warning" if self.messages else None

    # interaction -------------------------------------------------------------------------
    @guarded
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        port = self.port_at(event.pos())
        if port is not None and event.button() == Qt.MouseButton.LeftButton:
            # the drag that makes an edge is run by the scene; the card only starts and ends it
            self._connecting = True
            self._scene.begin_connection(port, event.scenePos())
            event.accept()
            return
        super().mousePressEvent(event)

    @guarded
    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._connecting:
            self._scene.update_connection(event.scenePos())
            return
        super().mouseMoveEvent(event)

    @guarded
    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._connecting:
            self._connecting = False
            self._scene.finish_connection(event.scenePos())
            return
        super().mouseReleaseEvent(event)

    @guarded
    def hoverMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        port = self.port_at(event.pos())
        if port is self._hovered:
            return
        self._hovered = port
        if port is None:
            self.unsetCursor()
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)
            self._scene.show_port_hint(port)

    @guarded
    def hoverLeaveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._hovered is not None:
            self._hovered = None
            self.unsetCursor()

    @guarded(default=lambda: None)
    def itemChange(self, change: Any, value: Any) -> Any:  # noqa: N802 - Qt override
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self._scene.node_item_moved(self)
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedChange:
            # before the change: Qt emits the scene's selectionChanged before HasChanged
            self._scene.node_item_selecting(self, bool(value))
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.update()
            self._scene.node_item_selected(self)
        return super().itemChange(change, value)

    def port(self, name: str, output: bool) -> PortItem | None:
        return (self.outputs if output else self.inputs).get(name)


class EdgeItem(QGraphicsItem):
    """An edge: a curve from an output port to an input port, labelled with its shape, and
    after backward with the gradient it carried (animated when it has just passed).

    The item is what the mouse finds (to select, delete, hover for a tooltip); the scene
    draws all visible edges in one pass under the cards (``GraphScene.drawBackground``) and
    their labels above them. Its ends come from the scene's overview, so an edge needs no
    card item at either end.
    """

    def __init__(self, scene: GraphScene, edge: Any) -> None:
        super().__init__()
        self.edge = edge
        self._scene = scene
        self._ends = (0.0, 0.0, 0.0, 0.0)
        self._box = QRectF()
        self.shape_label = ""
        self.grad_label = ""
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
        self.setZValue(0)
        self.setAcceptHoverEvents(True)
        self.label = EdgeLabel(self)
        self.update_path()

    @property
    def flow(self) -> float:
        """How far the gradient animation is (0..1), -1 when none runs (settable)."""
        return self._scene.flow_of(self.edge)

    @flow.setter
    def flow(self, progress: float) -> None:
        self._scene.set_flow(self.edge, progress)

    def labels(self) -> tuple[str, ...]:
        """The gradient it carried once backward passed, else the shape it carries."""
        return (self.grad_label,) if self.grad_label else (self.shape_label,)

    def endpoints(self) -> tuple[QPointF, QPointF] | None:
        link = self._scene.overview.links.get(self.edge)
        if link is None:
            return None
        return QPointF(link.x1, link.y1), QPointF(link.x2, link.y2)

    @property
    def path(self) -> QPainterPath:
        link = self._scene.overview.links.get(self.edge)
        return link.curve() if link is not None else QPainterPath()

    def update_path(self) -> None:
        """Follow the ends (from the overview); cheap when they did not move."""
        link = self._scene.overview.links.get(self.edge)
        ends = (link.x1, link.y1, link.x2, link.y2) if link is not None else None
        if ends is None:
            if self._box.isValid():
                self.prepareGeometryChange()
                self._box = QRectF()
        elif ends != self._ends or not self._box.isValid():
            self.prepareGeometryChange()
            self._ends = ends
            self._box = link.box()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(self._box)

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path)

    @guarded
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Any = None) -> None:
        pass  # drawn by the scene with every other edge (ItemHasNoContents: never called)

    @guarded(default=lambda: None)
    def itemChange(self, change: Any, value: Any) -> Any:  # noqa: N802 - Qt override
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self._scene.edge_item_selected(self)
        return super().itemChange(change, value)

    @guarded
    def hoverEnterEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.setToolTip(self._scene.edge_tooltip(self.edge))


class EdgeLabel:
    """The pill on an edge: the shape it carries, or the gradient it carried back.

    Not an item: the scene draws every visible label above the cards in one pass
    (``GraphScene.drawForeground``). This answers where one is and what it says.
    """

    __slots__ = ("edge_item",)

    def __init__(self, edge_item: EdgeItem) -> None:
        self.edge_item = edge_item

    def text(self) -> str:
        return self.edge_item.labels()[0]

    def sceneBoundingRect(self) -> QRectF:  # noqa: N802 - stands in for the item's
        ends = self.edge_item.endpoints()
        text = self.text()
        if ends is None or not text:
            return QRectF()
        from visgrad.qt.canvas.overview import label_rect  # noqa: PLC0415 - cycle

        start, end = ends
        return label_rect((start + end) / 2, text).adjusted(-2, -2, 2, 2)


def paint_label(painter: QPainter, colors: theme.Theme, rect: QRectF, text: str,
                is_grad: bool) -> None:
    """One edge label's pill (the painter's font is the label font)."""
    painter.setPen(QPen(colors.color("gradient") if is_grad else colors.color("border"), 1))
    painter.setBrush(colors.color("backward_fill") if is_grad else colors.color("edge_label"))
    painter.drawRoundedRect(rect, 7, 7)
    painter.setPen(colors.color("gradient") if is_grad else colors.color("edge_label_text"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def curve(start: QPointF, end: QPointF) -> QPainterPath:
    """A horizontal S-curve between two ports."""
    path = QPainterPath(start)
    dx = curve_reach(start.x(), end.x())
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


class DragEdgeItem(QGraphicsItem):
    """The live curve that follows the mouse while an edge is being made."""

    def __init__(self, anchor: PortItem) -> None:
        super().__init__()
        self.anchor = anchor
        self.path = QPainterPath()
        self.refused = False
        self.setZValue(5)

    def set_end(self, point: QPointF) -> None:
        self.prepareGeometryChange()
        start = self.anchor.scenePos()
        self.path = curve(start, point) if self.anchor.is_output else curve(point, start)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self.path.boundingRect().adjusted(-6, -6, 6, 6)

    @guarded
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Any = None) -> None:
        colors = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = colors.color("error") if self.refused else colors.color("accent")
        painter.setPen(QPen(color, 2.2, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path)


def distance(a: QPointF, b: QPointF) -> float:
    return math.hypot(a.x() - b.x(), a.y() - b.y())


__all__ = ["DragEdgeItem", "EdgeItem", "EdgeLabel", "NodeItem", "PortItem", "paint_counts",
           "short_value"]
