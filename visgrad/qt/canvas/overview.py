"""Where every card and edge is, in plain numbers, and the whole graph drawn in a few calls.

NOTE [level of detail]: a QGraphicsItem costs Python work to make, and every paint of one is
a call from C++ into Python (tens of microseconds). A traced model has thousands of nodes, so
the canvas cannot afford an item per node and edge, nor a paint per item per frame, when the
whole graph is on screen. The scene therefore keeps here, per node and per edge, only what
drawing needs (position, height, ports, the state it shows), grouped in square tiles of the
scene. Below :data:`~visgrad.qt.canvas.items.SIMPLE_BELOW` the view draws straight from the
tiles (:meth:`Overview.paint`): per tile a few ``drawRects`` and one path of edges, cached
until something in the tile changes, so a frame costs the same Python work however many
nodes there are. Items are made only for what is drawn in detail or touched
(``GraphScene.materialize``); the tiles say which those are (:meth:`Overview.tiles_in`).
At detail zoom the same tiles give the edge labels to draw (:meth:`Overview.paint_labels`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QImage, QPainter, QPainterPath, QPen

from visgrad.qt import theme
from visgrad.qt.canvas import items as card

if TYPE_CHECKING:
    from visgrad.document.model import Edge, Node

TILE = 2048.0
LINES_BELOW = 0.15   # edges drawn as straight lines (cheaper) under this zoom
LABELS_FROM = 0.2    # card labels drawn from this zoom on (below they are a few pixels)
SMALL_AREA_LINKS = 150  # an area crossed by fewer edges draws them one by one
MERGE_FROM = 12  # a frame over this many tiles draws them merged
PIECES, PIECE_LENGTH = 8, 160.0  # a changed edge repaints up to 8 pieces of 160 units or so
# NOTE [snapshot]: zoomed far out, a frame of the whole graph is still thousands of lines
# and rectangles for Qt to rasterize (30 ms for 10,000 nodes); so the overview keeps it as an
# image, drawn a little finer than the zoom it was made for, and scales it while a wheel zoom
# or a pan goes on: a frame is one scaled blit. It is made again once the graph changes or
# the zoom leaves [scale / SNAPSHOT_RANGE, scale]. Not above LINES_BELOW, where cards grow
# readable and scaling would blur them.
SNAPSHOT_FINER = 1.25
SNAPSHOT_RANGE = 3.0
SNAPSHOT_PIXELS = 4096  # the image's longer side at most
MARGIN = card.NODE_WIDTH + 2 * card.PORT_HIT  # how far a card reaches out of its tile

TileKey = tuple[int, int]


def tile_of(x: float, y: float) -> TileKey:
    return (math.floor(x / TILE), math.floor(y / TILE))


@dataclass(slots=True)
class Card:
    """A node as the overview knows it: top-left corner, height, ports, what it shows."""

    x: float
    y: float
    height: float
    category: str
    label: str
    inputs: dict[str, int]
    outputs: dict[str, int]
    tile: TileKey
    stage: str | None = None      # "forward" / "backward" / "hook" while a step shows it
    severity: str | None = None   # "error" / "warning" from validation or the last run
    selected: bool = False
    links: set[Link] = field(default_factory=set)  # edges in and out
    short_label: str | None = None  # the label elided to the card's width (kept)

    def rect(self) -> QRectF:
        return QRectF(self.x, self.y, card.NODE_WIDTH, self.height)

    def port(self, name: str, output: bool) -> tuple[float, float]:
        index = (self.outputs if output else self.inputs).get(name, 0)
        offset = card.port_offset(index, output)
        return self.x + offset[0], self.y + offset[1]


@dataclass(slots=True, eq=False)  # hashed by identity: sets of links need no Edge hashing
class Link:
    """An edge as the overview knows it: its ends and the label it carries."""

    edge: Edge
    x1: float = 0.0
    y1: float = 0.0
    x2: float = 0.0
    y2: float = 0.0
    shape_text: str = ""
    grad_text: str = ""
    selected: bool = False
    label: QRectF | None = None  # where the label's pill goes (kept until ends or text move)
    path: QPainterPath | None = None  # the curve (kept until an end moves)
    bounds: tuple[float, float, float, float] | None = None  # see extent()

    def text(self) -> str:
        return self.grad_text or self.shape_text

    def state(self) -> str:
        """How the overview draws it: "selected", "gradient" (it carried one) or "plain"."""
        return "selected" if self.selected else "gradient" if self.grad_text else "plain"

    def line(self) -> QPainterPath:
        path = QPainterPath(QPointF(self.x1, self.y1))
        path.lineTo(self.x2, self.y2)
        return path

    def curve(self) -> QPainterPath:
        if self.path is None:
            self.path = card.curve(QPointF(self.x1, self.y1), QPointF(self.x2, self.y2))
        return self.path

    def label_rect(self) -> QRectF:
        if self.label is None:
            self.label = label_rect(self.middle(), self.text())
        return self.label

    def extent(self) -> tuple[float, float, float, float]:
        """Left, top, right, bottom of a rectangle holding the curve (its control points
        stay inside it) and its stroke (kept until an end moves)."""
        if self.bounds is None:
            reach = card.curve_reach(self.x1, self.x2)
            self.bounds = (min(self.x1, self.x2 - reach) - 8, min(self.y1, self.y2) - 8,
                           max(self.x2, self.x1 + reach) + 8, max(self.y1, self.y2) + 8)
        return self.bounds

    def box(self) -> QRectF:
        left, top, right, bottom = self.extent()
        return QRectF(left, top, right - left, bottom - top)

    def pieces(self) -> list[QRectF]:
        """Rectangles that hold the curve and its stroke between them, much less than its
        box when the curve is long (what a change of its drawing repaints; NOTE [exposed
        parts] in the scene)."""
        left, top, right, bottom = self.extent()
        count = min(PIECES, math.ceil(max(right - left, bottom - top) / PIECE_LENGTH))
        if count <= 1:
            return [QRectF(left, top, right - left, bottom - top)]
        reach = card.curve_reach(self.x1, self.x2)
        # the control points of the rest of the curve; each piece is cut off its front
        # (de Casteljau) and lies within the hull of its own control points
        rest = [(self.x1, self.y1), (self.x1 + reach, self.y1), (self.x2 - reach, self.y2),
                (self.x2, self.y2)]
        pieces = []
        for index in range(count):
            if index == count - 1:
                front = rest
            else:
                t = 1.0 / (count - index)
                (ax, ay), (bx, by), (cx, cy), (dx, dy) = rest
                abx, aby = ax + (bx - ax) * t, ay + (by - ay) * t
                bcx, bcy = bx + (cx - bx) * t, by + (cy - by) * t
                cdx, cdy = cx + (dx - cx) * t, cy + (dy - cy) * t
                abcx, abcy = abx + (bcx - abx) * t, aby + (bcy - aby) * t
                bcdx, bcdy = bcx + (cdx - bcx) * t, bcy + (cdy - bcy) * t
                mx, my = abcx + (bcdx - abcx) * t, abcy + (bcdy - abcy) * t
                front = [(ax, ay), (abx, aby), (abcx, abcy), (mx, my)]
                rest = [(mx, my), (bcdx, bcdy), (cdx, cdy), (dx, dy)]
            xs, ys = [x for x, _ in front], [y for _, y in front]
            pieces.append(QRectF(min(xs) - 8, min(ys) - 8, max(xs) - min(xs) + 16,
                                 max(ys) - min(ys) + 16))
        return pieces

    def meets(self, parts: list[QRectF]) -> bool:
        """Whether the curve's rectangle meets one of ``parts``."""
        left, top, right, bottom = self.extent()
        return any(part.left() <= right and part.right() >= left and part.top() <= bottom
                   and part.bottom() >= top for part in parts)

    def middle(self) -> QPointF:
        # the S-curve is symmetric about the middle of its ends: that is where the label sits
        return QPointF((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)


class Tile:
    """Cards whose corner lies in one square of the scene, and the edges leaving them, with
    what drawing them needs, built when first drawn after a change."""

    __slots__ = ("_bounds", "cards", "fills", "links", "outlines", "paths", "texts")

    def __init__(self) -> None:
        self.cards: set[str] = set()
        self.links: set[Link] = set()  # edges whose source card is in the tile
        self._bounds: QRectF | None = None
        self.invalidate()

    def invalidate(self, geometry: bool = True, cards: bool = True,
                   edges: bool = True) -> None:
        """Drop what was built for drawing the cards, the edges (and the bounds, if
        something moved)."""
        if geometry:
            self._bounds = None
        if cards:
            self.fills: dict[str, list[QRectF]] | None = None
            self.outlines: dict[str, list[QRectF]] | None = None
            self.texts: list[tuple[QRectF, str]] | None = None
        if edges:
            self.paths: dict[tuple[bool, str], QPainterPath] = {}


class Snapshot:
    """The whole graph as an image: scene rectangle ``rect`` drawn at ``scale``."""

    __slots__ = ("image", "rect", "scale", "theme", "version")

    def __init__(self, image: QImage, rect: QRectF, scale: float, version: int,
                 theme_name: str) -> None:
        self.image, self.rect, self.scale = image, rect, scale
        self.version, self.theme = version, theme_name


class Merged:
    """Every tile's drawing in one place, for frames that show the whole graph."""

    __slots__ = ("curves", "fills", "outlines", "paths", "version")

    def __init__(self, version: int, curves: bool) -> None:
        self.version, self.curves = version, curves
        self.fills: dict[str, list[QRectF]] = {}
        self.outlines: dict[str, list[QRectF]] = {}
        self.paths: dict[str, QPainterPath] = {}


class Overview:
    """The tiles of one scene. ``changed(rect, ...)`` is called with the scene areas whose
    drawing a change alters, so the views can repaint them (a null rect: everything)."""

    def __init__(self, changed: Callable[..., None]) -> None:
        self.changed = changed
        self._quiet: set[TileKey] | None = None  # tiles changed while quiet
        self.cards: dict[str, Card] = {}
        self.links: dict[Edge, Link] = {}
        self.tiles: dict[TileKey, Tile] = {}
        self._version = 0  # counts changes, for what is kept across the whole graph
        self._merged_drawing: Merged | None = None
        self._bounds: QRectF | None = None  # exactly around the cards (made when asked)
        self._reach: QRectF | None = None   # around every place a card has been (grows)
        self._snapshot_image: Snapshot | None = None
        self._drawn_version = -1  # the version the last whole-graph frame showed
        self.snapshots = 0      # for tests: snapshots made,
        self.frames = 0         # overview frames drawn,
        self.texts_drawn = 0    # card labels drawn in them,
        self.labels_drawn = 0   # edge labels drawn at detail zoom

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Change many things without reporting each area (then everything is redrawn)."""
        self._quiet = set()
        try:
            yield
        finally:
            touched, self._quiet = self._quiet, None
            self._version += 1
            for key in touched:
                if key in self.tiles:
                    self.tiles[key].invalidate()
            self._bounds = self._reach = None
            self.changed(QRectF())

    # cards -----------------------------------------------------------------------------------
    def add_card(self, node: Node, height: float | None = None) -> Card:
        """Add a node's card, ``height`` tall (default: :func:`estimated_height`)."""
        x, y = node.position
        inputs = {port.name: index for index, port in enumerate(node.input_ports())}
        outputs = {port.name: index for index, port in enumerate(node.output_ports())}
        if height is None:
            height = estimated_height(node, max(len(inputs), len(outputs), 1))
        found = Card(float(x), float(y), height, node.kind_info.category, node.label, inputs,
                     outputs, tile_of(x, y))
        self.cards[node.id] = found
        self._tile(found.tile).cards.add(node.id)
        self._bounds = None
        self._touch_card(found)
        return found

    def remove_card(self, node_id: str) -> None:
        found = self.cards.pop(node_id, None)
        if found is None:
            return
        for link in list(found.links):
            self.remove_link(link.edge)
        tile = self.tiles.get(found.tile)
        if tile is not None:
            tile.cards.discard(node_id)
        self._bounds = None
        self._touch_card(found)

    def update_card(self, node: Node) -> None:
        """The node's label, kind or ports changed."""
        found = self.cards.get(node.id)
        if found is None:
            return
        found.label, found.short_label = node.label, None
        found.category = node.kind_info.category
        found.inputs = {port.name: index for index, port in enumerate(node.input_ports())}
        found.outputs = {port.name: index for index, port in enumerate(node.output_ports())}
        self._touch_card(found)
        self._move_links_of(found)

    def move_card(self, node_id: str, x: float, y: float) -> None:
        found = self.cards.get(node_id)
        if found is None or (found.x, found.y) == (x, y):
            return
        self._touch_card(found)
        found.x, found.y = x, y
        key = tile_of(x, y)
        if key != found.tile:
            self._tile(found.tile).cards.discard(node_id)
            self._tile(key).cards.add(node_id)
            for link in found.links:  # its outgoing edges live in its tile
                if link.edge.source == node_id:
                    self._tile(found.tile).links.discard(link)
                    self._tile(key).links.add(link)
            found.tile = key
        self._bounds = None
        self._touch_card(found)
        self._move_links_of(found)

    def set_height(self, node_id: str, height: float) -> None:
        found = self.cards.get(node_id)
        if found is not None and found.height != height:
            self._touch_card(found)
            found.height = height
            self._bounds = None
            self._touch_card(found)

    def set_stage(self, node_id: str, stage: str | None) -> None:
        """The step highlight a card shows: "forward", "backward", "hook" or None."""
        found = self.cards.get(node_id)
        if found is not None and found.stage != stage:
            found.stage = stage
            self._touch_card(found, geometry=False)

    def set_severity(self, node_id: str, severity: str | None) -> None:
        """The worst message a card has: "error", "warning" or None."""
        found = self.cards.get(node_id)
        if found is not None and found.severity != severity:
            found.severity = severity
            self._touch_card(found, geometry=False)

    def set_selected(self, node_id: str, selected: bool) -> None:
        found = self.cards.get(node_id)
        if found is not None and found.selected != selected:
            found.selected = selected
            self._touch_card(found, geometry=False)

    # links -----------------------------------------------------------------------------------
    def add_link(self, edge: Edge) -> Link | None:
        source, target = self.cards.get(edge.source), self.cards.get(edge.target)
        if source is None or target is None:
            return None
        found = Link(edge)
        self.links[edge] = found
        source.links.add(found)
        target.links.add(found)
        self._tile(source.tile).links.add(found)
        self._place(found)
        self._touch_link(found)
        return found

    def remove_link(self, edge: Edge) -> None:
        found = self.links.pop(edge, None)
        if found is None:
            return
        for node_id in (edge.source, edge.target):
            if node_id in self.cards:
                self.cards[node_id].links.discard(found)
        if edge.source in self.cards:
            self._tile(self.cards[edge.source].tile).links.discard(found)
        self._touch_link(found)

    def set_link_text(self, edge: Edge, shape: str, grad: str) -> None:
        """What an edge's label says: the shape it carries, the gradient it carried."""
        found = self.links.get(edge)
        if found is not None and (found.shape_text, found.grad_text) != (shape, grad):
            drawing = bool(found.grad_text) != bool(grad)  # the overview colours gradients
            self._touch_link(found, drawing, geometry=False)
            found.shape_text, found.grad_text, found.label = shape, grad, None
            self._touch_link(found, drawing, geometry=False)

    def set_link_selected(self, edge: Edge, selected: bool) -> None:
        found = self.links.get(edge)
        if found is not None and found.selected != selected:
            found.selected = selected
            self._touch_link(found, geometry=False)

    def _place(self, found: Link) -> None:
        edge = found.edge
        found.x1, found.y1 = self.cards[edge.source].port(edge.source_port, True)
        found.x2, found.y2 = self.cards[edge.target].port(edge.target_port, False)
        found.label = found.path = found.bounds = None

    def _move_links_of(self, found: Card) -> None:
        for link in found.links:
            self._touch_link(link)
            self._place(link)
            self._touch_link(link)

    # bookkeeping -----------------------------------------------------------------------------
    def _tile(self, key: TileKey) -> Tile:
        tile = self.tiles.get(key)
        if tile is None:
            tile = self.tiles[key] = Tile()
        return tile

    def _touch_card(self, found: Card, geometry: bool = True) -> None:
        self._version += 1
        if self._quiet is not None:
            self._quiet.add(found.tile)
            return
        self._tile(found.tile).invalidate(geometry, edges=geometry)
        if self._reach is not None:
            self._reach = self._reach.united(found.rect())
        self.changed(found.rect().adjusted(-card.PORT_HIT, -4, card.PORT_HIT, 6))

    def _touch_link(self, found: Link, drawing: bool = True, geometry: bool = True) -> None:
        """``found`` changes: its tile's drawing too, unless only its label does (and the
        tile's bounds, unless it did not move)."""
        if drawing:
            self._version += 1
        source = self.cards.get(found.edge.source)
        if self._quiet is not None:
            if drawing and source is not None:
                self._quiet.add(source.tile)
            return
        if drawing and source is not None:
            self._tile(source.tile).invalidate(geometry, cards=False)
        areas = found.pieces()
        if found.text():  # the label can be wider than the curve
            areas.append(found.label_rect().adjusted(-2, -2, 2, 2))
        self.changed(*areas)

    # queries ---------------------------------------------------------------------------------
    def bounds(self) -> QRectF:
        """The rectangle holding every card (null when there is none)."""
        if self._bounds is None:
            if not self.cards:
                self._bounds = QRectF()
            else:
                left = min(c.x for c in self.cards.values())
                top = min(c.y for c in self.cards.values())
                right = max(c.x for c in self.cards.values()) + card.NODE_WIDTH
                bottom = max(c.y + c.height for c in self.cards.values())
                self._bounds = QRectF(left, top, right - left, bottom - top)
        return QRectF(self._bounds)

    def reach(self) -> QRectF:
        """A rectangle holding every card, perhaps larger (cheap to keep while cards move)."""
        if self._reach is None:
            self._reach = self.bounds()
        return QRectF(self._reach)

    def tile_bounds(self, key: TileKey) -> QRectF:
        """Where the tile's cards, edges and labels can draw."""
        tile = self.tiles[key]
        if tile._bounds is None:
            left, top = key[0] * TILE, key[1] * TILE
            right, bottom = left + TILE + MARGIN, top + TILE + MARGIN
            cards = self.cards
            for node_id in tile.cards:  # a tall card can reach further down
                found = cards[node_id]
                bottom = max(bottom, found.y + found.height)
            for link in tile.links:
                box_left, box_top, box_right, box_bottom = link.extent()
                left, top = min(left, box_left), min(top, box_top)
                right, bottom = max(right, box_right), max(bottom, box_bottom)
            tile._bounds = QRectF(left - card.PORT_HIT, top - card.PORT_HIT,
                                  right - left + card.PORT_HIT + 60,  # + a label's half width
                                  bottom - top + card.PORT_HIT + 20)
        return tile._bounds

    def tiles_in(self, rect: QRectF) -> Iterator[TileKey]:
        """Tiles that may draw something inside ``rect``."""
        for key, tile in self.tiles.items():
            if (tile.cards or tile.links) and self.tile_bounds(key).intersects(rect):
                yield key

    def cards_in(self, rect: QRectF) -> list[str]:
        found = []
        for key in self.tiles_in(rect):
            for node_id in self.tiles[key].cards:
                if self.cards[node_id].rect().intersects(rect):
                    found.append(node_id)
        return found

    def links_in(self, rect: QRectF, limit: int | None = None) -> list[Link] | None:
        """Edges whose curve may cross ``rect`` (None if there are more than ``limit``)."""
        left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
        found = []
        for key in self.tiles_in(rect):
            for link in self.tiles[key].links:
                box_left, box_top, box_right, box_bottom = link.extent()
                if box_left <= right and box_right >= left and box_top <= bottom \
                        and box_bottom >= top:
                    found.append(link)
                    if limit is not None and len(found) > limit:
                        return None
        return found

    # drawing ---------------------------------------------------------------------------------
    def paint(self, painter: QPainter, exposed: QRectF, zoom: float,
              extra: Callable[[QPainter], None] | None = None) -> None:
        """Draw every card and edge that can show inside ``exposed`` (scene coordinates)."""
        self.frames += 1
        keys = list(self.tiles_in(exposed))
        snapshot = self._snapshot(zoom) if zoom < LINES_BELOW and len(keys) >= MERGE_FROM \
            else None
        if snapshot is not None:
            shown = exposed.intersected(snapshot.rect)
            if not shown.isEmpty():
                painter.save()
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawImage(shown, snapshot.image, QRectF(
                    (shown.left() - snapshot.rect.left()) * snapshot.scale,
                    (shown.top() - snapshot.rect.top()) * snapshot.scale,
                    shown.width() * snapshot.scale, shown.height() * snapshot.scale))
                painter.restore()
        else:
            self._draw(painter, exposed, zoom, keys)
        if extra is not None:
            extra(painter)

    def _snapshot(self, zoom: float) -> Snapshot | None:
        """The whole graph drawn into an image a little finer than ``zoom``, kept while the
        graph does not change and the zoom stays within a factor of it (NOTE [snapshot])."""
        snapshot = self._snapshot_image
        colors = theme.current()
        if snapshot is not None and snapshot.version == self._version \
                and snapshot.theme == colors.name \
                and snapshot.scale / SNAPSHOT_RANGE <= zoom <= snapshot.scale:
            return snapshot
        if self._drawn_version != self._version:  # the first frame since a change is
            self._drawn_version = self._version    # drawn directly: it may be the only one
            return None
        rect = self.bounds().adjusted(-60, -60, 60, 60)  # + curves bulging out of the cards
        scale = min(zoom * SNAPSHOT_FINER, SNAPSHOT_PIXELS / max(rect.width(), rect.height(), 1))
        if rect.isEmpty() or scale < zoom:
            return None  # too big a graph for an image at this zoom: drawn directly
        image = QImage(math.ceil(rect.width() * scale), math.ceil(rect.height() * scale),
                       QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(colors.color("canvas"))
        painter = QPainter(image)
        try:
            painter.scale(scale, scale)
            painter.translate(-rect.left(), -rect.top())
            self._draw(painter, rect, zoom, list(self.tiles_in(rect)))
        finally:
            painter.end()
        self._snapshot_image = Snapshot(image, rect, scale, self._version, colors.name)
        self.snapshots += 1
        return self._snapshot_image

    def _draw(self, painter: QPainter, exposed: QRectF, zoom: float,
              keys: list[TileKey]) -> None:
        colors = theme.current()
        for key in keys:
            self._build(key)
        curves = zoom >= LINES_BELOW
        # many tiles (the whole graph in view): their drawing merged, so a frame is a few
        # calls; kept until anything changes, which a zoom or a pan does not
        merged = self._merged(curves) if len(keys) >= MERGE_FROM else None
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, curves)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        pens = {}
        for state, color in (("plain", colors.color("edge")),
                             ("gradient", colors.color("gradient")),
                             ("selected", colors.color("edge_selected"))):
            # one device pixel wide: a wider cosmetic pen makes Qt stroke antialiased curves
            # as outlines, fifty times slower
            pens[state] = QPen(color, 1.0)
            pens[state].setCosmetic(True)
        # Qt strokes a whole path however little of it shows: so up close (curves), only
        # the edges crossing the area, gathered in one path per colour; far out (straight
        # lines, the whole graph in view), every tile's lines at once
        crossing = None
        if curves or not merged:
            crossing = self.links_in(exposed, limit=None if curves else SMALL_AREA_LINKS)
        if crossing is not None:
            gathered: dict[str, QPainterPath] = {}
            for link in crossing:
                state = link.state()
                if state not in gathered:
                    gathered[state] = QPainterPath()
                gathered[state].addPath(link.curve() if curves else link.line())
            for state, path in gathered.items():
                painter.setPen(pens[state])
                painter.drawPath(path)
        else:
            for state, pen in pens.items():
                painter.setPen(pen)
                paths = [merged.paths.get(state)] if merged else [
                    self._edge_path(key, curves, state) for key in keys]
                for path in paths:
                    if path is not None and not path.isEmpty():
                        painter.drawPath(path)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        fills = _fill_colors(colors)
        groups = [merged] if merged else [self.tiles[key] for key in keys]
        for group in groups:  # a light fill with a border in the category's colour, as a card
            for fill, rects in group.fills.items():
                brush, border = fills.get(fill) or fills["muted"]
                pen = QPen(border, 1.0)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.setBrush(brush)
                painter.drawRects(rects)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for outline, width in (("warning", 1.5), ("error", 2.0), ("selected", 2.5),
                               ("hook", 3.0), ("forward", 3.0), ("backward", 3.0)):
            pen = QPen(colors.color("accent" if outline == "selected" else outline), width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            for group in groups:
                rects = group.outlines.get(outline)
                if rects:
                    painter.drawRects(rects)
        if zoom >= LABELS_FROM:
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            painter.setFont(card.fonts()["big"])
            painter.setPen(colors.color("node_text"))
            for key in keys:
                for rect, text in self.tiles[key].texts:
                    if rect.intersects(exposed):
                        self.texts_drawn += 1
                        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _merged(self, curves: bool) -> Merged:
        """Every tile's rectangles and edge paths together (made again after a change)."""
        merged = self._merged_drawing
        if merged is None or merged.version != self._version or merged.curves != curves:
            merged = Merged(self._version, curves)
            for key, tile in self.tiles.items():
                if not tile.cards and not tile.links:
                    continue
                self._build(key)
                for fill, rects in tile.fills.items():
                    merged.fills.setdefault(fill, []).extend(rects)
                for outline, rects in tile.outlines.items():
                    merged.outlines.setdefault(outline, []).extend(rects)
                for state in ("plain", "gradient", "selected"):
                    path = self._edge_path(key, curves, state)
                    if path is not None:
                        merged.paths.setdefault(state, QPainterPath()).addPath(path)
            self._merged_drawing = merged
        return merged

    def paint_labels(self, painter: QPainter, exposed: QRectF,
                     parts: list[QRectF] | None = None) -> None:
        """The pills on edges (their shape, or the gradient they carried) inside ``exposed``
        (and inside one of ``parts``, when given)."""
        colors = theme.current()
        font = card.fonts()["label"]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(font)
        shown = []
        for key in list(self.tiles_in(exposed)):
            if parts and not any(self.tile_bounds(key).intersects(part) for part in parts):
                continue
            for link in self.tiles[key].links:
                text = link.text()
                if not text:
                    continue
                rect = link.label_rect()
                if not rect.intersects(exposed) or (
                        parts and not any(rect.intersects(part) for part in parts)):
                    continue
                shown.append((bool(link.grad_text), rect.top(), rect.left(), text, rect))
        # labels that overlap always stack the same way (sets of links have no order): a
        # gradient's above a shape's, then the lower above the higher
        shown.sort(key=lambda label: label[:3])
        for gradient, _, _, text, rect in shown:
            card.paint_label(painter, colors, rect, text, gradient)
        self.labels_drawn += len(shown)
        painter.restore()

    def _build(self, key: TileKey) -> None:
        tile = self.tiles[key]
        if tile.fills is not None:
            return
        fills: dict[str, list[QRectF]] = {}
        outlines: dict[str, list[QRectF]] = {}
        texts = []
        metrics = QFontMetricsF(card.fonts()["big"])
        for node_id in tile.cards:
            found = self.cards[node_id]
            rect = found.rect()
            stage = found.stage
            fills.setdefault(f"stage:{stage}" if stage else found.category, []).append(rect)
            outline = stage or ("selected" if found.selected else found.severity)
            if outline:
                outlines.setdefault(outline, []).append(rect)
            if found.short_label is None:
                found.short_label = metrics.elidedText(found.label, Qt.TextElideMode.ElideRight,
                                                       card.NODE_WIDTH + 40)
            texts.append((rect, found.short_label))
        tile.fills, tile.outlines, tile.texts = fills, outlines, texts

    def _edge_path(self, key: TileKey, curves: bool, state: str) -> QPainterPath | None:
        tile = self.tiles[key]
        if (curves, state) not in tile.paths:
            paths = {name: QPainterPath() for name in ("plain", "gradient", "selected")}
            for link in tile.links:
                path = paths[link.state()]
                path.moveTo(link.x1, link.y1)
                if curves:
                    reach = card.curve_reach(link.x1, link.x2)
                    path.cubicTo(link.x1 + reach, link.y1, link.x2 - reach, link.y2,
                                 link.x2, link.y2)
                else:
                    path.lineTo(link.x2, link.y2)
            for name, path in paths.items():
                tile.paths[(curves, name)] = path
        path = tile.paths[(curves, state)]
        return None if path.isEmpty() else path


def estimated_height(node: Node, rows: int) -> float:
    """A card's height before it has an item: its ``rows`` of ports, or its value and flags
    lines if more (``NodeItem.refresh`` measures the real one)."""
    kind = node.kind_info
    lines = 1 if kind.is_source or any(
        value not in (None, False) and not isinstance(value, list | dict)
        for name, value in node.params.items() if name != "no_grad") else 0
    if kind.is_source or node.params.get("no_grad") or node.retain_grad or node.hooks:
        lines += 1
    return card.HEADER + card.ROW * max(rows, lines) + card.PAD


_widths: dict[str, float] = {}


def label_width(text: str) -> float:
    """Width of an edge label's pill (the widths of texts seen so far are kept)."""
    width = _widths.get(text)
    if width is None:
        if len(_widths) > 4096:
            _widths.clear()
        width = _widths[text] = QFontMetricsF(card.fonts()["label"]).horizontalAdvance(
            text) + 10
    return width


def label_rect(middle: QPointF, text: str) -> QRectF:
    width = label_width(text)
    return QRectF(middle.x() - width / 2, middle.y() - 7.5, width, 15)


def _fill_colors(colors: theme.Theme) -> dict[str, tuple[QColor, QColor]]:
    """Card fill and border at overview zoom, by category (or step highlight)."""
    key = (colors.name, colors.dark)
    cached = _fills.get(key)
    if cached is None:
        base = colors.color("node")
        cached = {}
        for category in theme.CATEGORY_COLORS:
            tint = colors.category(category)
            cached[category] = (_mix(base, tint, 0.28 if colors.dark else 0.16), tint)
        cached["muted"] = (_mix(base, colors.color("muted"), 0.16), colors.color("muted"))
        cached["stage:forward"] = (colors.color("forward_fill"), colors.color("forward"))
        cached["stage:backward"] = (colors.color("backward_fill"), colors.color("backward"))
        cached["stage:hook"] = (colors.color("backward_fill"), colors.color("hook"))
        _fills.clear()
        _fills[key] = cached
    return cached


_fills: dict[tuple[str, bool], dict[str, tuple[QColor, QColor]]] = {}


def _mix(base: QColor, tint: QColor, amount: float) -> QColor:
    return QColor(round(base.red() + (tint.red() - base.red()) * amount),
                  round(base.green() + (tint.green() - base.green()) * amount),
                  round(base.blue() + (tint.blue() - base.blue()) * amount))


__all__ = ["LABELS_FROM", "LINES_BELOW", "TILE", "Card", "Link", "Overview", "label_rect",
           "label_width"]
