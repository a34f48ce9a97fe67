"""The canvas's scene: node and edge items that follow the document and the session.

The scene subscribes to ``document.events`` and ``session.events`` in its constructor
(handlers ``_on_<event>``). Items are made, moved and removed only from those handlers (and
:meth:`GraphScene.materialize`), so an undo, a file load or a test that edits the document
directly all look the same on screen. User gestures (connect, move, delete, paste) become
operations pushed through the :class:`~visgrad.qt.undo.DocumentEditor`; a refused one reports
its reason on ``sigStatus``.

NOTE [big graphs]: the scene keeps an :class:`~visgrad.qt.canvas.overview.Overview` of every
node and edge (plain numbers in tiles) and makes items only where they are drawn in detail
or touched: :meth:`GraphScene.materialize` is called by the view for what it shows up close
and around the mouse, and by :meth:`node_item` / :meth:`node_items` for code that asks. Every
change touches only what it concerns: an edit re-validates only what it reaches
(:class:`~visgrad.document.validation.IncrementalValidation`) and refreshes only the cards
whose messages, values or state changed; a backward step refreshes the cards and edges of
that step.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmapCache, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QStyleOptionGraphicsItem

from visgrad.document import collector, validation
from visgrad.document.model import DocumentError, Edge, GraphDocument, Hook
from visgrad.document.operations import (
    AddNode,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    Operation,
    RemoveNodes,
)
from visgrad.document.session import Session
from visgrad.qt import theme
from visgrad.qt.canvas.items import (
    SIMPLE_BELOW,
    DragEdgeItem,
    EdgeItem,
    NodeItem,
    PortItem,
    distance,
    paint_counts,
    shape_text,
    short_value,
)
from visgrad.qt.canvas.overview import Overview, estimated_height
from visgrad.qt.errors import guarded
from visgrad.qt.undo import DocumentEditor

NODES_MIME = "application/x-visgrad-nodes"
FLOW_SECONDS = 0.8
GRID = 24.0
GRID_BLOCK = 16  # the grid's dots are drawn in blocks of this many by this many
BASE_RECT = QRectF(-5000, -5000, 10000, 10000)  # room to pan around a small graph
BATCHED_UPDATES = 64  # more changed areas than this in one go: repaint the whole view
PIXMAP_CACHE_KB = 64 * 1024  # cards are cached as pixmaps; Qt's default 10 MB is small
THICK_EDGES_UP_TO = 400  # graphs with more edges draw plain edges one pixel wide


class GraphScene(QGraphicsScene):
    """Items for one document and its session.

    Signals: ``sigStatus(text, is_error)`` for the status bar, ``sigHint(text)`` for a
    passing hint, ``sigHighlight(node_id,
    stage)`` each time a step highlights a node (``forward``/``backward``), ``sigEdited()``
    after an edit made on the canvas.
    """

    sigStatus = Signal(str, bool)  # noqa: N815
    sigHint = Signal(str)  # noqa: N815 - a passing hint (hovering a port)
    sigHighlight = Signal(str, str)  # noqa: N815

    def __init__(self, session: Session, editor: DocumentEditor, parent: Any = None) -> None:
        super().__init__(parent)
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self.session = session
        self.document: GraphDocument = session.document
        self.editor = editor
        self._nodes: dict[str, NodeItem] = {}   # the items made so far
        self._edges: dict[Edge, EdgeItem] = {}
        self._materialized: set[tuple[int, int]] = set()  # tiles whose items all exist
        self._connected: Counter[tuple[str, str, bool]] = Counter()
        self._live = validation.IncrementalValidation(self.document)
        self._stale: set[str] = set()   # cards to refresh at the next flush
        self._selected_nodes: dict[str, None] = {}  # ids of the selected cards, in order
        self._updates = 0               # changed areas sent to the views since the last flush
        self._theme = theme.current()
        self._grid: dict[tuple[int, int], QPolygonF] = {}  # the background's dots, by block
        self._exposed: list[QRectF] | None = None  # the parts of the area being repainted
        # what the last steps showed (presentation only; the session holds the tensors)
        self._highlight: dict[str, str] = {}
        self._node_events: dict[str, tuple[str, str]] = {}
        self._edge_grads: dict[Edge, str] = {}
        self._flows: dict[Edge, float] = {}          # when a gradient left along an edge
        self._flow_progress: dict[Edge, float] = {}  # how far its animation is (0..1)
        # an edge being dragged
        self._drag: DragEdgeItem | None = None
        self._detached: Edge | None = None
        self._hover_port: PortItem | None = None
        self.animate = True  # gradients run along edges after a backward step
        self._flow_timer = QTimer(self)
        self._flow_timer.setInterval(30)
        self._flow_timer.timeout.connect(self._on_flow_tick)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self._flush_changes)
        self._batch_timer = QTimer(self)
        self._batch_timer.setSingleShot(True)
        self._batch_timer.setInterval(0)
        self._batch_timer.timeout.connect(self._end_update_batch)
        # NOTE [index]: the default BSP index finds the few items in view without calling
        # Python for the others (NoIndex asks every item its boundingRect, every frame)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.overview = Overview(self._overview_changed)
        with self.overview.quiet(), collector.paused():
            for node in self.document:
                self.overview.add_card(node)
            for edge in self.document.edges:
                self._add_link(edge)
        # validation's badges and edge labels come at the first flush, an instant after the
        # first frame: a big graph shows without waiting for every node to be checked
        self._stale.update(self.overview.cards)
        self._refresh_timer.start()
        self._subscriptions: list[tuple[Any, Callable[[Any], None]]] = []
        self._subscribe(self.document.events, {
            "node_added": self._on_node_added, "node_removed": self._on_node_removed,
            "node_changed": self._on_node_changed, "node_moved": self._on_node_moved,
            "edge_added": self._on_edge_added, "edge_removed": self._on_edge_removed,
            "any": self._on_document_changed,
        })
        self._subscribe(session.events, {
            "forward_step": self._on_forward_step, "backward_step": self._on_backward_step,
            "error": self._on_error, "state_changed": self._on_state_changed,
            "reset": self._on_reset, "grads_zeroed": self._on_grads_zeroed,
        })

    def _subscribe(self, group: Any, handlers: dict[str, Callable[[Any], None]]) -> None:
        for name, handler in handlers.items():
            signal = group.any if name == "any" else group[name]
            signal.connect(handler)
            self._subscriptions.append((signal, handler))

    def detach(self) -> None:
        """Stop following the document and session (before the scene is thrown away)."""
        for signal, handler in self._subscriptions:
            try:
                signal.disconnect(handler)
            except ValueError:
                pass
        self._subscriptions.clear()
        self._live.detach()
        self._flow_timer.stop()
        self._refresh_timer.stop()
        self._batch_timer.stop()

    # items on demand -------------------------------------------------------------------------
    def materialize(self, rect: QRectF) -> None:
        """Make the items of every node and edge that can show inside ``rect``."""
        for key in list(self.overview.tiles_in(rect)):
            if key in self._materialized:
                continue
            self._materialized.add(key)
            tile = self.overview.tiles[key]
            for node_id in list(tile.cards):
                self._make_node_item(node_id)
            for link in list(tile.links):
                self._make_edge_item(link.edge)

    def materialize_all(self) -> None:
        for key in list(self.overview.tiles):
            self._materialized.add(key)
        with collector.paused():  # thousands of items, all kept
            for node_id in list(self.overview.cards):
                self._make_node_item(node_id)
            for edge in list(self.overview.links):
                self._make_edge_item(edge)

    def _make_node_item(self, node_id: str, refresh: bool = True) -> NodeItem | None:
        """The card of ``node_id``, made now; ``refresh=False`` leaves its badges and values
        to the next flush (it must be stale)."""
        item = self._nodes.get(node_id)
        if item is not None or node_id not in self.document.nodes:
            return item
        card = self.overview.cards[node_id]
        item = NodeItem(self, self.document.nodes[node_id])
        if (item.pos().x(), item.pos().y()) != (card.x, card.y):
            item.setPos(card.x, card.y)  # where a drag left the overview
        self._nodes[node_id] = item
        self.addItem(item)
        item.setSelected(card.selected)
        if refresh:
            item.refresh()
        return item

    def _make_edge_item(self, edge: Edge) -> EdgeItem | None:
        item = self._edges.get(edge)
        if item is not None or edge not in self.overview.links:
            return item
        item = EdgeItem(self, edge)
        link = self.overview.links[edge]
        item.shape_label, item.grad_label = link.shape_text, link.grad_text
        self._edges[edge] = item
        self.addItem(item)
        item.setSelected(link.selected)
        return item

    def made_items(self) -> tuple[int, int]:
        """How many card and edge items exist so far (they are made on demand)."""
        return len(self._nodes), len(self._edges)

    def _in_materialized_tile(self, node_id: str) -> bool:
        card = self.overview.cards.get(node_id)
        return card is not None and card.tile in self._materialized

    # lookups used by items ---------------------------------------------------------------
    def node_item(self, node_id: str) -> NodeItem | None:
        """The card of a node (made now if it had none yet); None for an unknown id."""
        return self._make_node_item(node_id) if node_id in self.overview.cards else None

    def node_items(self) -> list[NodeItem]:
        """Every card (all are made: prefer :meth:`node_item` on big graphs). Edges get their
        items as their tiles come into view, as they do for a card made by ``node_item``."""
        with collector.paused():  # Select All on 10,000 nodes: that many cards, all kept
            for node_id in list(self.overview.cards):
                self._make_node_item(node_id)
        return list(self._nodes.values())

    def edge_item(self, edge: Edge) -> EdgeItem | None:
        return self._make_edge_item(edge)

    def edge_items(self) -> list[EdgeItem]:
        self.materialize_all()
        return list(self._edges.values())

    def tensor_info(self, node_id: str) -> Any:
        try:
            return self.session.inspect(node_id)
        except (KeyError, ValueError, RuntimeError, AttributeError, TypeError):
            return None  # also an output that is no tensor (a Function whose forward is a list)

    def node_stage(self, node_id: str) -> str | None:
        return "run" if self.tensor_info(node_id) is not None else None

    def highlight_of(self, node_id: str) -> str | None:
        return self._highlight.get(node_id)

    def current_highlight(self) -> tuple[str, str] | None:
        for node_id, stage in self._highlight.items():
            if stage in ("forward", "backward"):
                return node_id, stage
        return None

    def node_event(self, node_id: str) -> tuple[str, str] | None:
        """What the last step did at this node: ("hook" | "accumulate", text)."""
        return self._node_events.get(node_id)

    def node_runtime_error(self, node_id: str) -> str:
        error = self.session.error
        if error is not None and error.node_id == node_id:
            return error.message
        return ""

    def node_messages(self, node_id: str) -> list[tuple[str, str]]:
        return [(m.severity, m.text) for m in self._live.messages_for(node_id)]

    def edge_gradient_text(self, edge: Edge) -> str:
        return self._edge_grads.get(edge, "")

    def edge_tooltip(self, edge: Edge) -> str:
        meta = self._live.meta(edge.source, edge.source_port)
        parts = [edge.describe(self.document)]
        if meta is not None:
            parts.append(f"shape {shape_text(meta.shape)}, {meta.dtype}"
                         f"{', requires_grad' if meta.requires_grad else ''}")
        if edge in self._edge_grads:
            parts.append(f"gradient sent back: {self._edge_grads[edge]}")
        return "\n".join(parts)

    def port_connected(self, port: PortItem) -> bool:
        return self._connected[(port.node_id, port.name, port.is_output)] > 0

    def validation(self) -> validation.ValidationReport:
        """The document's validation report (kept up to date edit by edit)."""
        return self._live.report()

    # refreshing ----------------------------------------------------------------------------
    def schedule_refresh(self) -> None:
        self._refresh_timer.start()

    @guarded
    def flush(self) -> None:
        """Bring every item up to date now (validation badges, shapes, values), for callers
        that changed what cards show behind the scene's back (a training run, a theme).

        Only cards made so far have values to show; validation follows the document by
        itself, so the overview's badges and edge labels need nothing here.
        """
        self._stale.update(self._nodes)
        self._stale.update(node_id for node_id, card in self.overview.cards.items()
                           if card.severity is not None)  # a run's error may have gone
        self._flush_changes()

    @guarded
    def _flush_changes(self) -> None:
        """Refresh what changed since the last flush: cards whose messages or output metas
        changed (and the edges leaving them), and cards marked stale."""
        self._refresh_timer.stop()
        if theme.current() is not self._theme:  # the cards' tooltips name colours
            self._theme = theme.current()
            self._stale.update(self._nodes)
        changed = self._live.take_changes() | self._stale
        self._stale = set()
        if len(changed) > BATCHED_UPDATES:
            with self.overview.quiet():  # one repaint of everything, not one per change
                self._refresh(changed)
        else:
            self._refresh(changed)
        self.fit_scene_rect()

    def _refresh(self, changed: set[str]) -> None:
        cards = self.overview.cards
        for node_id in changed:
            if node_id not in cards:
                continue
            messages = self._live.messages_for(node_id)
            severity = "error" if self.node_runtime_error(node_id) or any(
                m.severity == "error" for m in messages) else (
                "warning" if messages else None)
            self.overview.set_severity(node_id, severity)
            item = self._nodes.get(node_id)
            if item is not None:
                item.refresh()
            for link in cards[node_id].links:
                if link.edge.source == node_id:
                    self._refresh_edge_label(link.edge)

    def _refresh_edge_label(self, edge: Edge) -> None:
        meta = self._live.meta(edge.source, edge.source_port)
        shape = shape_text(meta.shape) if meta is not None else ""
        grad = self._edge_grads.get(edge, "")
        self.overview.set_link_text(edge, shape, grad)
        item = self._edges.get(edge)
        if item is not None:
            item.shape_label, item.grad_label = shape, grad

    def _refresh_nodes(self, node_ids: Iterable[str | None]) -> None:
        for node_id in set(node_ids):
            if not node_id or node_id not in self.overview.cards:
                continue
            item = self._nodes.get(node_id)
            if item is not None:
                item.refresh()
            self.overview.set_stage(node_id, self._highlight.get(node_id))

    def _refresh_edges_of(self, node_id: str) -> None:
        card = self.overview.cards.get(node_id)
        if card is None:
            return
        for link in card.links:
            item = self._edges.get(link.edge)
            if item is not None:
                item.update_path()

    def _overview_changed(self, rect: QRectF, *more: QRectF) -> None:
        """Areas drawn from the overview changed: repaint them (or, after many changes before
        the event loop runs again, everything once)."""
        if rect.isNull():
            self.update()
            return
        if self._updates == 0:
            self._batch_timer.start()  # the batch ends when the event loop runs again
        self._updates += 1
        if self._updates < BATCHED_UPDATES:
            self.update(rect)
            for area in more:
                self.update(area)
        elif self._updates == BATCHED_UPDATES:
            self.update()

    def _end_update_batch(self) -> None:
        self._updates = 0

    def fit_scene_rect(self) -> None:
        """Room to pan around the whole graph, however far it reaches (kept at each flush;
        the view calls it before fitting, as a layout may have just moved everything)."""
        bounds = self.overview.reach()
        rect = QRectF(BASE_RECT)
        if not bounds.isNull():
            rect = rect.united(bounds.adjusted(-3000, -3000, 3000, 3000))
        if rect != self.sceneRect():
            self.setSceneRect(rect)

    # document events -----------------------------------------------------------------------
    def _add_link(self, edge: Edge) -> None:
        self.overview.add_link(edge)
        self._connected[(edge.source, edge.source_port, True)] += 1
        self._connected[(edge.target, edge.target_port, False)] += 1

    @guarded
    def _on_node_added(self, event: Any) -> None:
        node = event.node
        self.overview.add_card(node)
        self._stale.add(node.id)
        if self._in_materialized_tile(node.id):
            # refreshed at the flush: undoing the removal of thousands of nodes would
            # otherwise validate the graph once per node it brings back
            self._make_node_item(node.id, refresh=False)

    @guarded
    def _on_node_removed(self, event: Any) -> None:
        item = self._nodes.pop(event.node.id, None)
        self._selected_nodes.pop(event.node.id, None)
        if item is not None:
            self.removeItem(item)
        self.overview.remove_card(event.node.id)
        self._stale.discard(event.node.id)
        self._highlight.pop(event.node.id, None)
        self._node_events.pop(event.node.id, None)

    @guarded
    def _on_node_changed(self, event: Any) -> None:
        node = event.node
        self.overview.update_card(node)
        item = self._nodes.get(node.id)
        if event.field == "params":
            if item is not None:
                item.rebuild_ports()
            self._refresh_edges_of(node.id)
        if item is None:
            card = self.overview.cards[node.id]
            self.overview.set_height(node.id, estimated_height(
                node, max(len(card.inputs), len(card.outputs), 1)))
        self._stale.add(node.id)

    @guarded
    def _on_node_moved(self, event: Any) -> None:
        x, y = event.new
        item = self._nodes.get(event.node.id)
        if item is not None and (item.pos().x(), item.pos().y()) != (x, y):
            item.setPos(x, y)  # itemChange moves the overview's card and the edges
        else:
            self._move_card(event.node.id, x, y)
        if self._in_materialized_tile(event.node.id):
            self._make_node_item(event.node.id)

    def _move_card(self, node_id: str, x: float, y: float) -> None:
        self.overview.move_card(node_id, x, y)
        self._refresh_edges_of(node_id)
        self._refresh_timer.start()  # the scene rect follows at the flush

    @guarded
    def _on_edge_added(self, event: Any) -> None:
        edge = event.edge
        self._add_link(edge)
        self._stale.add(edge.source)  # its label (the source's shape) comes at the flush
        if self._in_materialized_tile(edge.source) or edge.source in self._nodes \
                or edge.target in self._nodes:
            self._make_edge_item(edge)
        for node_id in (edge.source, edge.target):
            if node_id in self._nodes:
                self._nodes[node_id].update()

    @guarded
    def _on_edge_removed(self, event: Any) -> None:
        edge = event.edge
        item = self._edges.pop(edge, None)
        if item is not None:
            self.removeItem(item)
        self.overview.remove_link(edge)
        self._connected[(edge.source, edge.source_port, True)] -= 1
        self._connected[(edge.target, edge.target_port, False)] -= 1
        self._edge_grads.pop(edge, None)
        self._flows.pop(edge, None)
        self._flow_progress.pop(edge, None)
        for node_id in (edge.source, edge.target):
            if node_id in self._nodes:
                self._nodes[node_id].update()

    @guarded
    def _on_document_changed(self, event: Any) -> None:
        if event.source.type != "node_moved":
            self.schedule_refresh()

    # session events --------------------------------------------------------------------------
    def _set_current(self, node_id: str | None, stage: str) -> None:
        previous = list(self._highlight)
        self._highlight = {node_id: stage} if node_id else {}
        self._refresh_nodes([*previous, node_id])
        if node_id:
            self.sigHighlight.emit(node_id, stage)

    @guarded
    def _on_forward_step(self, event: Any) -> None:
        step = event.step
        self._set_current(step.node_id, "forward")

    @guarded
    def _on_backward_step(self, event: Any) -> None:
        step = event.step
        touched: list[str | None] = [step.node_id]
        user_hooks = [hook for hook in step.hooks if hook.node_id and hook.hook is not None]
        for hook in user_hooks:  # retain_grad and engine hooks go to the log, not the card
            if hook.kind == "print":
                text = f"hook print: {short_value(hook.before)}"
            else:
                text = (f"hook {hook.hook.describe()}: {short_value(hook.before)} → "
                        f"{short_value(hook.after)}")
            self._node_events[hook.node_id] = ("hook", text)
        # every hook's node: a retained gradient shows on its card from this step on
        touched.extend(hook.node_id for hook in step.hooks if hook.node_id)
        if step.accumulation is not None and step.accumulation.node_id:
            acc = step.accumulation
            if acc.old is None:
                text = f"{short_value(acc.new)}  (was None)"
            else:
                text = (f"{short_value(acc.old)} + {short_value(acc.contribution)} = "
                        f"{short_value(acc.new)}")
            self._node_events[acc.node_id] = ("accumulate", text)
            touched.append(acc.node_id)
        self._set_current(step.node_id, "backward")
        for hook in user_hooks:
            if hook.node_id != step.node_id:
                self._highlight[hook.node_id] = "hook"
        self._refresh_nodes(touched)
        # NOTE [one repaint a step]: the cards first, then the edges. A card's update() asks
        # Qt to process dirty items later; an edge's scene.update() asks it to tell the views
        # later. Qt paints once when the items come first (it leaves the painting to the
        # views' turn), but twice the other way round: each turn paints what it has.
        for entry in step.grads_out:
            if entry.edge is not None and entry.gradient is not None:
                self._edge_grads[entry.edge] = f"∇ {short_value(entry.gradient)}"
                self._refresh_edge_label(entry.edge)
                self._flows[entry.edge] = time.monotonic()
        if not self.animate:
            self._flows.clear()
        elif self._flows and not self._flow_timer.isActive():
            self._flow_timer.start()

    @guarded
    def _on_error(self, event: Any) -> None:
        error = event.error
        previous = list(self._highlight)
        self._highlight = {}
        self._refresh_nodes(previous)
        self._stale.update(node_id for node_id in (error.node_id,) if node_id)
        self._flush_changes()
        if error.node_id:
            self.sigHighlight.emit(error.node_id, "error")

    @guarded
    def _on_state_changed(self, event: Any) -> None:
        if event.new in ("edited", "forward_in_progress") or (
                event.new == "backward_in_progress" and event.old != "backward_in_progress"):
            self._clear_transient()
        if event.new in ("edited", "forward_in_progress", "forward_done"):
            # values went, or appeared without steps (a silent forward pass): every card made
            # so far, and the cards that showed the last run's error
            self._stale.update(self._nodes)
            self._stale.update(node_id for node_id, card in self.overview.cards.items()
                               if card.severity is not None)
        self.schedule_refresh()

    @guarded
    def _on_reset(self, event: Any) -> None:
        self._clear_transient()
        self.flush()

    @guarded
    def _on_grads_zeroed(self, event: Any) -> None:
        self._stale.update(self._node_events)
        self._node_events.clear()
        self._stale.update(self._nodes)
        self._flush_changes()

    def _clear_transient(self) -> None:
        """Forget what the last steps showed: highlights, events on cards, edge gradients."""
        nodes = {*self._highlight, *self._node_events}
        edges = {*self._edge_grads, *self._flows, *self._flow_progress}
        self._highlight.clear()
        self._edge_grads.clear()
        self._flows.clear()
        self._node_events.clear()
        self._flow_timer.stop()
        for edge in edges:
            self.set_flow(edge, -1.0)
            if edge in self.overview.links:
                self._refresh_edge_label(edge)
        self._refresh_nodes(nodes)

    def flow_of(self, edge: Edge) -> float:
        """How far the gradient animation along ``edge`` is (0..1), or -1 when none runs."""
        return self._flow_progress.get(edge, -1.0)

    def set_flow(self, edge: Edge, progress: float) -> None:
        if progress < 0:
            if self._flow_progress.pop(edge, None) is None:
                return
        else:
            self._flow_progress[edge] = progress
        link = self.overview.links.get(edge)
        if link is not None:
            self._overview_changed(*link.pieces())

    @guarded
    def _on_flow_tick(self) -> None:
        now = time.monotonic()
        for edge, started in list(self._flows.items()):
            progress = (now - started) / FLOW_SECONDS
            if edge not in self.overview.links or progress > 1.0:
                self._flows.pop(edge, None)
                self.set_flow(edge, -1.0)
            else:
                self.set_flow(edge, progress)
        if not self._flows:
            self._flow_timer.stop()

    # making edges ----------------------------------------------------------------------------
    def begin_connection(self, port: PortItem, pos: QPointF) -> None:
        anchor, self._detached = port, None
        if not port.is_output:
            edge = self.document.input_edge(port.node_id, port.name)
            if edge is not None:  # pick up the existing edge by its input end
                source_item = self.node_item(edge.source)
                source = source_item.port(edge.source_port, True) if source_item else None
                if source is not None:
                    anchor, self._detached = source, edge
                    self.update(self.overview.links[edge].box())
        self._drag = DragEdgeItem(anchor)
        self.addItem(self._drag)
        self._drag.set_end(pos)
        self.sigStatus.emit("Drop on an input port to connect" if anchor.is_output
                            else "Drop on an output port to connect", False)

    def update_connection(self, pos: QPointF) -> None:
        if self._drag is None:
            return
        self._drag.set_end(pos)
        target = self.port_at(pos, self._drag.anchor)
        if target is not self._hover_port:
            if self._hover_port is not None:
                self._hover_port.hover_state = None
                self._hover_port.update()
            self._hover_port = target
            self._drag.refused = False
            if target is not None:
                _, reason = self.connection_operation(self._drag.anchor, target)
                target.hover_state = "refused" if reason else "ok"
                self._drag.refused = bool(reason)
                target.update()
                self.sigStatus.emit(reason or self._describe_link(self._drag.anchor, target),
                                    bool(reason))
            self._drag.update()

    def finish_connection(self, pos: QPointF) -> str | None:
        """End the drag at ``pos``: push the edit, or return (and report) why not."""
        if self._drag is None:
            return None
        anchor, detached = self._drag.anchor, self._detached
        self.removeItem(self._drag)
        self._drag, self._detached = None, None
        if self._hover_port is not None:
            self._hover_port.hover_state = None
            self._hover_port.update()
            self._hover_port = None
        if detached is not None and detached in self.overview.links:
            self.update(self.overview.links[detached].box())
        target = self.port_at(pos, anchor) or self._free_port_on_node_at(pos, anchor)
        if target is None:
            if detached is not None:
                return self.push(Disconnect(detached))
            self.sigStatus.emit("", False)
            return None
        operation, reason = self.connection_operation(anchor, target, detached)
        if reason:
            self.sigStatus.emit(f"Cannot connect: {reason}", True)
            return reason
        return self.push(operation)

    def port_at(self, pos: QPointF, anchor: PortItem | None = None) -> PortItem | None:
        rect = QRectF(pos.x() - 14, pos.y() - 14, 28, 28)
        self.materialize(rect)
        best, best_distance = None, 14.0
        for item in self.items(rect):
            if not isinstance(item, NodeItem):
                continue
            for port in item.ports():
                if port is anchor or (anchor is not None and port.is_output == anchor.is_output):
                    continue
                gap = distance(port.scenePos(), pos)
                if gap < best_distance:
                    best, best_distance = port, gap
        return best

    def _free_port_on_node_at(self, pos: QPointF, anchor: PortItem) -> PortItem | None:
        if not anchor.is_output:
            return None
        self.materialize(QRectF(pos.x() - 1, pos.y() - 1, 2, 2))
        for item in self.items(pos):
            if isinstance(item, NodeItem) and item.node_id != anchor.node_id:
                for port in item.inputs.values():
                    if not self.port_connected(port):
                        return port
                return None
        return None

    def _describe_link(self, anchor: PortItem, target: PortItem) -> str:
        out, into = (anchor, target) if anchor.is_output else (target, anchor)
        nodes = self.document.nodes
        return (f"Connect {nodes[out.node_id].label}.{out.name} → "
                f"{nodes[into.node_id].label}.{into.name}")

    def connection_operation(self, anchor: PortItem, target: PortItem,
                             detached: Edge | None = None) -> tuple[Operation | None, str | None]:
        """The operation connecting two ports, or the reason it is refused.

        Refused: two ports of the same direction, what the operation itself would refuse (a
        cycle), and a connection that would make the target's shapes or dtypes fail. Called
        for every port the drag passes over, so nothing here depends on the graph's size:
        the operations are checked without applying them (a cycle search visits only what
        the target feeds) and only the target node is validated again.
        """
        if anchor.is_output == target.is_output:
            return None, "connect an output port to an input port"
        out, into = (anchor, target) if anchor.is_output else (target, anchor)

        def build() -> list[Disconnect | Connect]:
            operations: list[Disconnect | Connect] = []
            if detached is not None:
                operations.append(Disconnect(detached))
            existing = self.document.input_edge(into.node_id, into.name)
            if existing is not None and existing != detached:
                operations.append(Disconnect(existing))
            operations.append(Connect(out.node_id, into.node_id, into.name, out.name))
            return operations

        # what applying them in order would refuse, as a Macro on a copy would find it
        disconnected: list[Edge] = []
        try:
            for operation in build():
                disconnected.append(operation.check(self.document, disconnected))
        except DocumentError as exc:
            return None, str(exc)
        target_node = self.document.nodes[into.node_id]
        before = {m.text for m in self._live.messages_for(into.node_id)}
        # only the target's inputs change: check that node alone against what feeds it now
        inputs: dict[str, Edge | None] = {}
        if detached is not None and detached.target == into.node_id:
            inputs[detached.target_port] = None
        inputs[into.name] = Edge(out.node_id, out.name, into.node_id, into.name)
        for message in self._live.preview(into.node_id, inputs):
            if message.severity != "error" or message.text in before:
                continue
            if "is not connected" in message.text or message.text.startswith("backward:"):
                continue
            return None, f"{target_node.label}: {message.text}"
        operations = build()
        if len(operations) == 1:
            return operations[0], None
        return Macro(operations[-1].text, operations), None

    def show_port_hint(self, port: PortItem) -> None:
        if self._drag is not None:
            return
        node = self.document.nodes.get(port.node_id)
        if node is None:
            return
        meta = self._live.meta(node.id, port.name) if port.is_output else None
        what = "output" if port.is_output else "input"
        text = f"{node.label}.{port.name} ({what})"
        if meta is not None:
            text += f": shape {shape_text(meta.shape)}, {meta.dtype}"
        text += " — drag to connect"
        self.sigHint.emit(text)

    # edits from the canvas -------------------------------------------------------------------
    def push(self, operation: Operation) -> str | None:
        reason = self.editor.push(operation)
        if reason:
            self.sigStatus.emit(f"{operation.text}: {reason}", True)
        else:
            self.sigStatus.emit(operation.text, False)
        return reason

    def selected_node_ids(self) -> list[str]:
        return [item.node_id for item in self.selectedItems() if isinstance(item, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [item.edge for item in self.selectedItems() if isinstance(item, EdgeItem)]

    def select_nodes(self, node_ids: Iterable[str]) -> None:
        wanted = set(node_ids)
        self.clearSelection()
        for node_id in wanted:
            item = self.node_item(node_id)
            if item is not None:
                item.setSelected(True)

    def delete_selection(self) -> str | None:
        node_ids = self.selected_node_ids()
        operations: list[Operation] = []
        if node_ids:
            operations.append(RemoveNodes(node_ids))
        for edge in self.selected_edges():
            if edge.source not in node_ids and edge.target not in node_ids:
                operations.append(Disconnect(edge))
        if not operations:
            return None
        if len(operations) == 1:
            return self.push(operations[0])
        return self.push(Macro(f"Delete {len(operations)} items", operations))

    def commit_moves(self) -> str | None:
        """After a drag: one MoveNodes for every node whose item left its position."""
        moved = {}
        for node_id, item in self._nodes.items():
            node = self.document.nodes.get(node_id)
            position = (round(item.pos().x(), 1), round(item.pos().y(), 1))
            if node is not None and tuple(node.position) != position:
                moved[node_id] = position
        if not moved:
            return None
        return self.push(MoveNodes(moved))

    def copy_data(self, node_ids: Iterable[str]) -> dict[str, Any]:
        """The nodes and the edges between them, as plain data (for the clipboard)."""
        ids = set(node_ids)
        data = self.document.to_data()
        return {"nodes": [n for n in data["nodes"] if n["id"] in ids],
                "edges": [e for e in data["edges"]
                          if e["from"][0] in ids and e["to"][0] in ids]}

    def paste_data(self, data: dict[str, Any], offset: QPointF | None = None,
                   at: QPointF | None = None) -> list[str]:
        """Add copies of clipboard nodes (new ids, free labels) and their edges: one edit."""
        nodes = data.get("nodes", [])
        if not nodes:
            return []
        if at is not None:
            left = min(n["position"][0] for n in nodes)
            top = min(n["position"][1] for n in nodes)
            offset = QPointF(at.x() - left, at.y() - top)
        offset = offset or QPointF(30, 30)
        used = {node.label for node in self.document}
        new_ids: dict[str, str] = {}
        operations: list[Operation] = []
        reserved: set[str] = set()
        for entry in nodes:
            node_id = self.document.new_id()
            while node_id in reserved:
                node_id = self.document.new_id()
            reserved.add(node_id)
            new_ids[entry["id"]] = node_id
            label = entry.get("label")
            if label in used:
                label = None
            else:
                used.add(label)
            operations.append(AddNode(
                entry["kind"], entry.get("params", {}), label=label,
                position=(entry["position"][0] + offset.x(), entry["position"][1] + offset.y()),
                retain_grad=bool(entry.get("retain_grad")),
                hooks=[Hook.from_data(h) for h in entry.get("hooks", [])], node_id=node_id))
        for edge in data.get("edges", []):
            source, source_port = edge["from"]
            target, target_port = edge["to"]
            if source in new_ids and target in new_ids:
                operations.append(Connect(new_ids[source], new_ids[target], target_port,
                                          source_port))
        count = len(nodes)
        reason = self.push(Macro(f"Paste {count} node{'s' if count != 1 else ''}", operations))
        if reason:
            return []
        self.select_nodes(new_ids.values())
        return list(new_ids.values())

    @staticmethod
    def encode_nodes(data: dict[str, Any]) -> bytes:
        return json.dumps(data).encode("utf-8")

    @staticmethod
    def decode_nodes(raw: bytes) -> dict[str, Any]:
        data = json.loads(bytes(raw).decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
            raise ValueError("the clipboard holds no visgrad nodes")
        return data

    # items report their changes ------------------------------------------------------------
    def node_item_moved(self, item: NodeItem) -> None:
        self._move_card(item.node_id, item.pos().x(), item.pos().y())

    def node_item_selecting(self, item: NodeItem, selected: bool) -> None:
        if selected:
            self._selected_nodes[item.node_id] = None
        else:
            self._selected_nodes.pop(item.node_id, None)

    def node_item_selected(self, item: NodeItem) -> None:
        self.overview.set_selected(item.node_id, item.isSelected())

    def single_selected_node(self) -> str | None:
        """The selected node when exactly one is, else None; kept as cards are (de)selected,
        so asking after every change of a select-all costs nothing (selectedItems() would
        list them all each time)."""
        if len(self._selected_nodes) != 1:
            return None
        return next(iter(self._selected_nodes))

    def selected_count(self) -> int:
        """How many cards are selected (kept as they are (de)selected, like the above)."""
        return len(self._selected_nodes)

    def edge_item_selected(self, item: EdgeItem) -> None:
        self.overview.set_link_selected(item.edge, item.isSelected())

    def card_height_changed(self, item: NodeItem) -> None:
        self.overview.set_height(item.node_id, item.height)

    def items_bounding_rect(self) -> QRectF:
        """The rectangle holding every card (from the overview: no item is made)."""
        return self.overview.bounds()

    # Qt overrides ----------------------------------------------------------------------------
    @guarded
    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._drag is None:
            self.commit_moves()

    def render(self, painter: QPainter, target: QRectF = QRectF(),  # noqa: B008 - Qt's
               source: QRectF = QRectF(),  # noqa: B008
               mode: Qt.AspectRatioMode = Qt.AspectRatioMode.KeepAspectRatio) -> None:
        """Draw the graph (for export): every item is made first."""
        self.materialize_all()
        super().render(painter, target, source, mode)

    @guarded
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        """The canvas, its grid, and the edges (all visible edges in one pass: an edge item
        draws nothing itself)."""
        if not rect.isEmpty():
            self.paint_canvas(painter, rect)
            self._paint_edges(painter, rect)

    def set_exposed(self, parts: list[QRectF] | None) -> None:
        """The view is about to repaint these parts of the scene (None: the rectangle it
        hands drawBackground and drawForeground, as a render does).

        NOTE [exposed parts]: Qt hands the scene's background and foreground only the
        bounding rectangle of what a view repaints. A backward step repaints a few cards
        and the edges between them, which may lie far apart: their bounding rectangle held
        half the view, and its grid, edges and labels were drawn (clipped away) for nothing.
        Items are not concerned: Qt draws only those meeting the repainted parts.
        """
        self._exposed = parts

    def _parts(self, rect: QRectF) -> list[QRectF]:
        if self._exposed is None:
            return [rect]
        return [part for part in self._exposed if part.intersects(rect)]

    def paint_canvas(self, painter: QPainter, rect: QRectF) -> None:
        if rect.isEmpty():
            return
        colors = theme.current()
        painter.fillRect(rect, colors.color("canvas"))
        scale = painter.worldTransform().m11()
        if scale < 0.35:
            return
        pen = QPen(colors.color("grid"), 1.6)
        pen.setCosmetic(True)  # 1.6 pixels whatever the zoom; square: round dots are slow
        painter.setPen(pen)
        for points in self._grid_blocks(self._parts(rect)):
            painter.drawPoints(points)

    def _paint_edges(self, painter: QPainter, rect: QRectF) -> None:
        # NOTE [edge strokes]: Qt strokes an antialiased curve wider than one device pixel as
        # an outline to fill, ten to fifty times slower than a one-pixel line; hundreds of
        # edges cross a screen of a big graph, so there plain edges are one pixel wide (only
        # selected ones and those that carried a gradient are wider). A small graph keeps
        # its 1.8-unit strokes: few edges show at once.
        colors = theme.current()
        scale = painter.worldTransform().m11() or 1.0
        small = scale < SIMPLE_BELOW  # a small render (an export): thick lines show better
        width = 1.8 if len(self.overview.links) <= THICK_EDGES_UP_TO else 1.0 / scale
        plain = QPen(colors.color("edge"), 4.5 if small else width, Qt.PenStyle.SolidLine,
                     Qt.PenCapStyle.RoundCap)
        carried = QPen(colors.color("gradient"), 5.0 if small else 2.0, Qt.PenStyle.SolidLine,
                       Qt.PenCapStyle.RoundCap)
        chosen = QPen(colors.color("edge_selected"), 6.5 if small else 2.6,
                      Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        glow_color = QColor(colors.color("gradient"))
        glow_color.setAlpha(90)
        glow = QPen(glow_color, 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        parts = self._parts(rect)
        for link in self.overview.links_in(rect):
            if len(parts) > 1 and not link.meets(parts):
                continue
            edge = link.edge
            path = link.curve()
            paint_counts.edges += 1
            if edge == self._detached:
                painter.setOpacity(0.25)
            painter.setPen(chosen if link.selected else carried if link.grad_text else plain)
            painter.drawPath(path)
            progress = self._flow_progress.get(edge, -1.0)
            if 0.0 <= progress <= 1.0:
                # the gradient travels backward: from the consumer (target) to the producer
                painter.setPen(glow)
                painter.drawPath(path)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(colors.color("gradient"))
                painter.drawEllipse(path.pointAtPercent(1.0 - progress), 5.5, 5.5)
                painter.setBrush(Qt.BrushStyle.NoBrush)
            if edge == self._detached:
                painter.setOpacity(1.0)
        painter.restore()

    def _grid_blocks(self, parts: list[QRectF]) -> list[QPolygonF]:
        """The blocks of grid dots that meet ``parts`` (each made once and kept)."""
        size = GRID * GRID_BLOCK
        keys: set[tuple[int, int]] = set()
        for part in parts:
            columns = range(math.floor(part.left() / size), math.floor(part.right() / size) + 1)
            rows = range(math.floor(part.top() / size), math.floor(part.bottom() / size) + 1)
            if len(keys) + len(columns) * len(rows) > 2000:
                return []  # zoomed so far out that the dots would be a grey veil
            keys.update((column, row) for column in columns for row in rows)
        if len(self._grid) + len(keys) > 4000:
            self._grid.clear()
        blocks = []
        for key in keys:
            points = self._grid.get(key)
            if points is None:
                left, top = key[0] * size, key[1] * size
                points = self._grid[key] = QPolygonF([
                    QPointF(left + GRID * i, top + GRID * j)
                    for i in range(GRID_BLOCK) for j in range(GRID_BLOCK)])
            blocks.append(points)
        return blocks

    @guarded
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        """Edge labels, above the cards (below :data:`SIMPLE_BELOW` there are none)."""
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        if lod >= SIMPLE_BELOW:
            self.overview.paint_labels(painter, rect, self._parts(rect))

    def paint_overview(self, painter: QPainter, rect: QRectF, zoom: float) -> None:
        """The whole graph in ``rect``, drawn from the overview (for the view, zoomed out)."""
        self.paint_canvas(painter, rect)
        self.overview.paint(painter, rect, zoom, self._paint_drag)

    def _paint_drag(self, painter: QPainter) -> None:
        if self._drag is not None:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            pen = QPen(theme.current().color("accent"), 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawPath(self._drag.path)


__all__ = ["NODES_MIME", "GraphScene", "QGraphicsItem"]
