"""The canvas's scene: node and edge items that follow the document and the session.

The scene subscribes to ``document.events`` and ``session.events`` in its constructor
(handlers ``_on_<event>``). Items are made, moved and removed only from those handlers, so an
undo, a file load or a test that edits the document directly all look the same on screen.
User gestures (connect, move, delete, paste) become operations pushed through the
:class:`~visgrad.qt.undo.DocumentEditor`; a refused one reports its reason on ``sigStatus``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from visgrad.document import validation
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
    DragEdgeItem,
    EdgeItem,
    NodeItem,
    PortItem,
    distance,
    shape_text,
    short_value,
)
from visgrad.qt.errors import guarded
from visgrad.qt.undo import DocumentEditor

NODES_MIME = "application/x-visgrad-nodes"
FLOW_SECONDS = 0.8
GRID = 24.0


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
        self.session = session
        self.document: GraphDocument = session.document
        self.editor = editor
        self._nodes: dict[str, NodeItem] = {}
        self._edges: dict[Edge, EdgeItem] = {}
        self.report = validation.ValidationReport()
        self._report_dirty = True
        # what the last steps showed (presentation only; the session holds the tensors)
        self._highlight: dict[str, str] = {}
        self._node_events: dict[str, tuple[str, str]] = {}
        self._edge_grads: dict[Edge, str] = {}
        self._flows: dict[Edge, float] = {}
        # an edge being dragged
        self._drag: DragEdgeItem | None = None
        self._detached: Edge | None = None
        self._hover_port: PortItem | None = None
        self._flow_timer = QTimer(self)
        self._flow_timer.setInterval(30)
        self._flow_timer.timeout.connect(self._on_flow_tick)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.flush)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setSceneRect(QRectF(-5000, -5000, 10000, 10000))
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
        for node in self.document:
            self._on_node_added(_Event(node=node))
        for edge in self.document.edges:
            self._on_edge_added(_Event(edge=edge))
        self.flush()

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
        self._flow_timer.stop()
        self._refresh_timer.stop()

    # lookups used by items ---------------------------------------------------------------
    def node_item(self, node_id: str) -> NodeItem | None:
        return self._nodes.get(node_id)

    def node_items(self) -> list[NodeItem]:
        return list(self._nodes.values())

    def edge_item(self, edge: Edge) -> EdgeItem | None:
        return self._edges.get(edge)

    def edge_items(self) -> list[EdgeItem]:
        return list(self._edges.values())

    def tensor_info(self, node_id: str) -> Any:
        try:
            return self.session.inspect(node_id)
        except (KeyError, ValueError, RuntimeError):
            return None

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
        return [(m.severity, m.text) for m in self.validation().for_node(node_id)]

    def edge_gradient_text(self, edge: Edge) -> str:
        return self._edge_grads.get(edge, "")

    def edge_tooltip(self, edge: Edge) -> str:
        meta = self.validation().meta(edge.source, edge.source_port)
        parts = [edge.describe(self.document)]
        if meta is not None:
            parts.append(f"shape {shape_text(meta.shape)}, {meta.dtype}"
                         f"{', requires_grad' if meta.requires_grad else ''}")
        if edge in self._edge_grads:
            parts.append(f"gradient sent back: {self._edge_grads[edge]}")
        return "\n".join(parts)

    def port_connected(self, port: PortItem) -> bool:
        if port.is_output:
            return any(e.source == port.node_id and e.source_port == port.name
                       for e in self._edges)
        return self.document.input_edge(port.node_id, port.name) is not None \
            if port.node_id in self.document.nodes else False

    def validation(self) -> validation.ValidationReport:
        if self._report_dirty:
            self._report_dirty = False
            try:
                self.report = validation.validate(self.document)
            except Exception:  # noqa: BLE001 - a broken check must not stop drawing
                self.report = validation.ValidationReport()
                raise
        return self.report

    # refreshing ----------------------------------------------------------------------------
    def schedule_refresh(self) -> None:
        self._report_dirty = True
        self._refresh_timer.start()

    @guarded
    def flush(self) -> None:
        """Bring every item up to date now (validation badges, shapes, values)."""
        self._refresh_timer.stop()
        self.validation()
        for item in self._nodes.values():
            item.refresh()
        for edge, item in self._edges.items():
            meta = self.report.meta(edge.source, edge.source_port)
            item.shape_label = shape_text(meta.shape) if meta is not None else ""
            item.grad_label = self._edge_grads.get(edge, "")
            item.update_path()

    def _refresh_nodes(self, node_ids: Iterable[str | None]) -> None:
        for node_id in set(node_ids):
            item = self._nodes.get(node_id) if node_id else None
            if item is not None:
                item.refresh()

    def _refresh_edges_of(self, node_id: str) -> None:
        for edge, item in self._edges.items():
            if node_id in (edge.source, edge.target):
                item.update_path()

    # document events -----------------------------------------------------------------------
    @guarded
    def _on_node_added(self, event: Any) -> None:
        item = NodeItem(self, event.node)
        self._nodes[event.node.id] = item
        self.addItem(item)
        item.refresh()

    @guarded
    def _on_node_removed(self, event: Any) -> None:
        item = self._nodes.pop(event.node.id, None)
        if item is not None:
            self.removeItem(item)
        self._highlight.pop(event.node.id, None)
        self._node_events.pop(event.node.id, None)

    @guarded
    def _on_node_changed(self, event: Any) -> None:
        item = self._nodes.get(event.node.id)
        if item is None:
            return
        if event.field == "params":
            item.rebuild_ports()
            self._refresh_edges_of(event.node.id)
        item.refresh()

    @guarded
    def _on_node_moved(self, event: Any) -> None:
        item = self._nodes.get(event.node.id)
        if item is not None and (item.pos().x(), item.pos().y()) != tuple(event.new):
            item.setPos(*event.new)
        self._refresh_edges_of(event.node.id)

    @guarded
    def _on_edge_added(self, event: Any) -> None:
        item = EdgeItem(self, event.edge)
        self._edges[event.edge] = item
        self.addItem(item)
        self.addItem(item.label)
        item.update_path()
        for node_id in (event.edge.source, event.edge.target):
            if node_id in self._nodes:
                self._nodes[node_id].update()

    @guarded
    def _on_edge_removed(self, event: Any) -> None:
        item = self._edges.pop(event.edge, None)
        if item is not None:
            self.removeItem(item.label)
            self.removeItem(item)
        self._edge_grads.pop(event.edge, None)
        self._flows.pop(event.edge, None)
        for node_id in (event.edge.source, event.edge.target):
            if node_id in self._nodes:
                self._nodes[node_id].update()

    @guarded
    def _on_document_changed(self, event: Any) -> None:
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
        for entry in step.grads_out:
            if entry.edge is not None and entry.gradient is not None:
                self._edge_grads[entry.edge] = f"∇ {short_value(entry.gradient)}"
                self._flows[entry.edge] = time.monotonic()
                item = self._edges.get(entry.edge)
                if item is not None:
                    item.grad_label = self._edge_grads[entry.edge]
                    item.update_path()
        if self._flows and not self._flow_timer.isActive():
            self._flow_timer.start()
        user_hooks = [hook for hook in step.hooks if hook.node_id and hook.hook is not None]
        for hook in user_hooks:  # retain_grad and engine hooks go to the log, not the card
            if hook.kind == "print":
                text = f"hook print: {short_value(hook.before)}"
            else:
                text = (f"hook {hook.hook.describe()}: {short_value(hook.before)} → "
                        f"{short_value(hook.after)}")
            self._node_events[hook.node_id] = ("hook", text)
            touched.append(hook.node_id)
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

    @guarded
    def _on_error(self, event: Any) -> None:
        error = event.error
        self._highlight = {}
        self.flush()
        if error.node_id:
            self.sigHighlight.emit(error.node_id, "error")

    @guarded
    def _on_state_changed(self, event: Any) -> None:
        if event.new in ("edited", "forward_in_progress") or (
                event.new == "backward_in_progress" and event.old != "backward_in_progress"):
            self._clear_transient(keep_accumulation=event.new == "backward_in_progress")
        self.schedule_refresh()

    @guarded
    def _on_reset(self, event: Any) -> None:
        self._clear_transient()
        self.flush()

    @guarded
    def _on_grads_zeroed(self, event: Any) -> None:
        self._node_events.clear()
        self.flush()

    def _clear_transient(self, keep_accumulation: bool = False) -> None:
        self._highlight.clear()
        self._edge_grads.clear()
        self._flows.clear()
        self._node_events.clear()
        self._flow_timer.stop()
        for item in self._edges.values():
            item.flow = -1.0
            item.grad_label = ""
            item.update_path()

    @guarded
    def _on_flow_tick(self) -> None:
        now = time.monotonic()
        for edge, started in list(self._flows.items()):
            item = self._edges.get(edge)
            progress = (now - started) / FLOW_SECONDS
            if item is None or progress > 1.0:
                self._flows.pop(edge, None)
                if item is not None:
                    item.flow = -1.0
                    item.update()
                continue
            item.flow = progress
            item.update()
        if not self._flows:
            self._flow_timer.stop()

    # making edges ----------------------------------------------------------------------------
    def begin_connection(self, port: PortItem, pos: QPointF) -> None:
        anchor, self._detached = port, None
        if not port.is_output:
            edge = self.document.input_edge(port.node_id, port.name)
            if edge is not None:  # pick up the existing edge by its input end
                source = self._nodes[edge.source].port(edge.source_port, True)
                if source is not None:
                    anchor, self._detached = source, edge
                    self._edges[edge].setOpacity(0.25)
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
        if detached is not None and detached in self._edges:
            self._edges[detached].setOpacity(1.0)
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
        best, best_distance = None, 14.0
        for item in self.items(QRectF(pos.x() - 14, pos.y() - 14, 28, 28)):
            if isinstance(item, PortItem) and item is not anchor:
                if anchor is not None and item.is_output == anchor.is_output:
                    continue
                gap = distance(item.scenePos(), pos)
                if gap < best_distance:
                    best, best_distance = item, gap
        return best

    def _free_port_on_node_at(self, pos: QPointF, anchor: PortItem) -> PortItem | None:
        if not anchor.is_output:
            return None
        for item in self.items(pos):
            if isinstance(item, NodeItem) and item.node_id != anchor.node_id:
                for port in item.inputs.values():
                    if self.document.input_edge(item.node_id, port.name) is None:
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

        Refused: two ports of the same direction, a cycle, and a connection that would make
        the target's shapes or dtypes fail (found by validating a copy of the document).
        """
        if anchor.is_output == target.is_output:
            return None, "connect an output port to an input port"
        out, into = (anchor, target) if anchor.is_output else (target, anchor)

        def build() -> Operation:
            operations: list[Operation] = []
            if detached is not None:
                operations.append(Disconnect(detached))
            existing = self.document.input_edge(into.node_id, into.name)
            if existing is not None and existing != detached:
                operations.append(Disconnect(existing))
            operations.append(Connect(out.node_id, into.node_id, into.name, out.name))
            if len(operations) == 1:
                return operations[0]
            return Macro(operations[-1].text, operations)

        trial = self.document.copy()
        try:
            build().apply(trial)
        except DocumentError as exc:
            return None, str(exc)
        target_node = self.document.nodes[into.node_id]
        before = {m.text for m in self.validation().for_node(into.node_id)}
        for message in validation.validate(trial).for_node(into.node_id):
            if message.severity != "error" or message.text in before:
                continue
            if "is not connected" in message.text or message.text.startswith("backward:"):
                continue
            return None, f"{target_node.label}: {message.text}"
        return build(), None

    def show_port_hint(self, port: PortItem) -> None:
        if self._drag is not None:
            return
        node = self.document.nodes.get(port.node_id)
        if node is None:
            return
        meta = self.validation().meta(node.id, port.name) if port.is_output else None
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
            item = self._nodes.get(node_id)
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

    # Qt overrides ----------------------------------------------------------------------------
    @guarded
    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._drag is None:
            self.commit_moves()

    @guarded
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        colors = theme.current()
        painter.fillRect(rect, colors.color("canvas"))
        scale = painter.worldTransform().m11()
        if scale < 0.35:
            return
        dot = QColor(colors.color("grid"))
        painter.setPen(QPen(dot, 1.6 / max(scale, 0.01), Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.RoundCap))
        left = int(rect.left() // GRID) * GRID
        top = int(rect.top() // GRID) * GRID
        points = []
        x = left
        while x < rect.right():
            y = top
            while y < rect.bottom():
                points.append(QPointF(x, y))
                y += GRID
            x += GRID
        if len(points) < 40_000:
            painter.drawPoints(points)

    def items_bounding_rect(self) -> QRectF:
        rect = QRectF()
        for item in self._nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    def node_item_moved(self, item: NodeItem) -> None:
        self._refresh_edges_of(item.node_id)


class _Event:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


__all__ = ["NODES_MIME", "GraphScene", "QGraphicsItem"]
