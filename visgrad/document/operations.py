"""Reversible edits of a :class:`~visgrad.document.model.GraphDocument`, one class per edit.

Each operation checks everything *before* it changes anything, so a refused edit (a cycle,
a port already connected, an unknown port, a bad parameter) raises
:class:`~visgrad.document.model.DocumentError` and leaves the document exactly as it was.
``apply`` captures the old state, ``revert`` puts it back; applying again after a revert
(redo) gives the same ids. The Qt layer wraps one operation in one QUndoCommand.

Example::

    >>> from visgrad.document import GraphDocument
    >>> from visgrad.document.operations import AddNode, SetParam
    >>> doc = GraphDocument()
    >>> add = doc.apply(AddNode("Tensor", {"value": "[1, 2]"}, label="x"))
    >>> edit = doc.apply(SetParam(add.node_id, "value", "[3, 4]"))
    >>> edit.revert(doc); doc.node("x").params["value"]
    '[1, 2]'
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from visgrad.document import registry
from visgrad.document.model import (
    DocumentError,
    Edge,
    GraphDocument,
    Hook,
    Node,
    coerce_setting,
)
from visgrad.document.params import ParamError


class Operation:
    """One user edit: ``apply(doc)`` then, to undo it, ``revert(doc)``. ``text`` names it."""

    text = "edit"

    def apply(self, doc: GraphDocument) -> None:
        raise NotImplementedError

    def revert(self, doc: GraphDocument) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.text}>"


def _node(doc: GraphDocument, ref: str | Node) -> Node:
    try:
        return doc.node(ref)
    except KeyError as exc:
        raise DocumentError(exc.args[0]) from None


class AddNode(Operation):
    """Add one node. ``node_id`` is known after the first ``apply`` and kept for redo."""

    def __init__(self, kind: str, params: Mapping[str, Any] | None = None, *,
                 label: str | None = None, position: tuple[float, float] = (0.0, 0.0),
                 retain_grad: bool = False, hooks: Sequence[Hook] = (),
                 node_id: str | None = None) -> None:
        self.kind = kind
        self.params = dict(params or {})
        self.label = label
        self.position = (float(position[0]), float(position[1]))
        self.retain_grad = bool(retain_grad)
        self.hooks = list(hooks)
        self.node_id = node_id
        self.text = f"Add {kind}"

    def apply(self, doc: GraphDocument) -> None:
        try:
            kind = registry.get(self.kind)
        except KeyError as exc:
            raise DocumentError(exc.args[0]) from None
        try:
            params = kind.coerce_params(self.params)
        except ParamError as exc:
            raise DocumentError(f"{self.kind}: {exc}") from None
        if self.node_id is not None and self.node_id in doc.nodes:
            raise DocumentError(f"a node with id {self.node_id!r} already exists")
        label = doc.check_label(self.label if self.label is not None
                                else doc.unique_label(self.kind))
        if not all(isinstance(hook, Hook) for hook in self.hooks):
            raise DocumentError("hooks must be Hook objects")
        node_id = self.node_id or doc.new_id()
        self.node_id, self.label = node_id, label
        doc._insert_node(Node(node_id, self.kind, params, label, self.position,
                              self.retain_grad, list(self.hooks)))

    def revert(self, doc: GraphDocument) -> None:
        for edge in doc.edges_into(self.node_id) + doc.edges_from(self.node_id):
            doc._delete_edge(edge)
        doc._delete_node(self.node_id)


class RemoveNodes(Operation):
    """Remove nodes together with every edge touching them."""

    def __init__(self, node_ids: Iterable[str | Node]) -> None:
        self.refs = list(node_ids)
        self.removed: list[tuple[int, Node]] = []
        self.removed_edges: list[tuple[int, Edge]] = []
        self.backward_node: str | None = None
        self.clears_backward_node = False
        self.text = f"Remove {len(self.refs)} node{'s' if len(self.refs) != 1 else ''}"

    def apply(self, doc: GraphDocument) -> None:
        ids = {_node(doc, ref).id for ref in self.refs}
        touching = {edge: None for node_id in ids
                    for edge in (*doc.edges_into(node_id), *doc.edges_from(node_id))}
        edges = sorted((doc.edge_index(edge), edge) for edge in touching)
        if len(ids) == 1:
            nodes = [(doc.index_of(node_id), doc.nodes[node_id]) for node_id in ids]
        else:  # one pass, not one O(nodes) search per node
            nodes = [(index, doc.nodes[node_id]) for index, node_id in enumerate(doc.nodes)
                     if node_id in ids]
        self.removed_edges = edges
        self.removed = sorted(nodes, key=lambda item: item[0])
        # The backward_node setting must not name a node that is gone: a file saved so would
        # be refused when opened again.
        self.backward_node = doc.settings["backward_node"]
        self.clears_backward_node = self.backward_node in ids
        if self.clears_backward_node:
            doc._set_setting("backward_node", None)
        for _, edge in reversed(edges):
            doc._delete_edge(edge)
        for index, node in reversed(self.removed):  # from the end: indexes stay valid
            doc._delete_node(node.id, index)

    def revert(self, doc: GraphDocument) -> None:
        doc._insert_nodes(self.removed)
        for index, edge in self.removed_edges:
            doc._insert_edge(edge, index)
        if self.clears_backward_node:
            doc._set_setting("backward_node", self.backward_node)


class MoveNodes(Operation):
    """Move nodes to new positions (a drag of several nodes is one operation)."""

    def __init__(self, positions: Mapping[str, tuple[float, float]]) -> None:
        self.positions = {node_id: (float(x), float(y)) for node_id, (x, y) in positions.items()}
        self.old: dict[str, tuple[float, float]] = {}
        self.text = f"Move {len(self.positions)} node{'s' if len(self.positions) != 1 else ''}"

    def apply(self, doc: GraphDocument) -> None:
        nodes = {node_id: _node(doc, node_id) for node_id in self.positions}
        for node_id, (x, y) in self.positions.items():
            if x != x or y != y or abs(x) == float("inf") or abs(y) == float("inf"):
                raise DocumentError(f"position of {node_id} must be finite, got {(x, y)}")
        self.old = {node.id: node.position for node in nodes.values()}
        for node_id, position in self.positions.items():
            doc._set_position(nodes[node_id].id, position)

    def revert(self, doc: GraphDocument) -> None:
        for node_id, position in self.old.items():
            doc._set_position(node_id, position)


class Connect(Operation):
    """Connect an output port to a free input port; refuses cycles and taken ports."""

    def __init__(self, source: str, target: str, target_port: str | None = None,
                 source_port: str = "out") -> None:
        self.source, self.target = source, target
        self.source_port, self.target_port = source_port, target_port
        self.edge: Edge | None = None
        self.text = "Connect"

    def apply(self, doc: GraphDocument) -> None:
        self.edge = self.check(doc)
        self.text = f"Connect {self.edge.describe(doc)}"
        doc._insert_edge(self.edge)

    def check(self, doc: GraphDocument, disconnected: Collection[Edge] = ()) -> Edge:
        """The edge ``apply`` would add, or the :class:`DocumentError` it would raise; changes
        nothing. ``disconnected``: edges to take as removed already (as an edit that first
        disconnects them would find the document). Costs what the cycle search of
        :meth:`~visgrad.document.model.GraphDocument.reaches` visits, not the whole graph."""
        source, target = _node(doc, self.source), _node(doc, self.target)
        if self.source_port not in source.output_names():
            raise DocumentError(f"{source.label} ({source.kind}) has no output "
                                f"{self.source_port!r}; its outputs: "
                                f"{', '.join(source.output_names())}")

        def taken(port: str) -> Edge | None:
            edge = doc.input_edge(target.id, port)
            return None if edge is None or edge in disconnected else edge

        port = self.target_port
        if port is None:
            free = [p for p in target.input_names() if taken(p) is None]
            if not free:
                raise DocumentError(f"{target.label} ({target.kind}) has no free input")
            port = free[0]
        if port not in target.input_names():
            inputs = ", ".join(target.input_names()) or "none"
            raise DocumentError(f"{target.label} ({target.kind}) has no input {port!r}; its "
                                f"inputs: {inputs}")
        existing = taken(port)
        if existing is not None:
            raise DocumentError(f"input {port!r} of {target.label} is already connected to "
                                f"{doc.nodes[existing.source].label}.{existing.source_port}; "
                                "disconnect it first")
        if doc.reaches(target.id, source.id, avoiding=disconnected):
            raise DocumentError(f"connecting {source.label} to {target.label} would make a "
                                f"cycle: {target.label} already feeds {source.label}")
        return Edge(source.id, self.source_port, target.id, port)

    def revert(self, doc: GraphDocument) -> None:
        doc._delete_edge(self.edge)


class Disconnect(Operation):
    """Remove one edge: give the edge, or the target node and its input port."""

    def __init__(self, edge_or_target: Edge | str, target_port: str | None = None) -> None:
        self.edge_or_target, self.target_port = edge_or_target, target_port
        self.edge: Edge | None = None
        self.index = 0
        self.text = "Disconnect"

    def apply(self, doc: GraphDocument) -> None:
        edge = self.check(doc)
        self.edge = edge
        self.text = f"Disconnect {edge.describe(doc)}"
        self.index = doc._delete_edge(edge)

    def check(self, doc: GraphDocument, disconnected: Collection[Edge] = ()) -> Edge:
        """The edge ``apply`` would remove, or the :class:`DocumentError` it would raise;
        changes nothing. ``disconnected``: edges to take as removed already."""
        if isinstance(self.edge_or_target, Edge):
            edge = self.edge_or_target
            if not doc.has_edge(edge) or edge in disconnected:
                raise DocumentError(f"there is no edge {edge.describe(doc)}")
            return edge
        target = _node(doc, self.edge_or_target)
        edge = doc.input_edge(target.id, self.target_port)
        if edge is None or edge in disconnected:
            raise DocumentError(f"input {self.target_port!r} of {target.label} is not "
                                "connected")
        return edge

    def revert(self, doc: GraphDocument) -> None:
        doc._insert_edge(self.edge, self.index)


class SetParam(Operation):
    """Change one parameter. Edges into ports the new value removes go too (and come back)."""

    def __init__(self, node: str, name: str, value: Any) -> None:
        self.node_ref, self.name, self.value = node, name, value
        self.node_id: str | None = None
        self.old: Any = None
        self.new: Any = None
        self.dropped: list[tuple[int, Edge]] = []
        self.text = f"Set {name}"

    def apply(self, doc: GraphDocument) -> None:
        node = _node(doc, self.node_ref)
        kind = node.kind_info
        try:
            new = kind.param(self.name).coerce(self.value)
        except ParamError as exc:
            raise DocumentError(f"{node.label} ({node.kind}): {exc}") from None
        ports = set(kind.input_ports({**node.params, self.name: new}))
        names = {port.name for port in ports}
        self.dropped = [(doc.edge_index(edge), edge) for edge in doc.edges_into(node.id)
                        if edge.target_port not in names]
        self.node_id, self.old, self.new = node.id, node.params[self.name], new
        self.text = f"Set {node.label}.{self.name}"
        for _, edge in reversed(self.dropped):
            doc._delete_edge(edge)
        doc._set_param(node.id, self.name, new)

    def revert(self, doc: GraphDocument) -> None:
        doc._set_param(self.node_id, self.name, self.old)
        for index, edge in self.dropped:
            doc._insert_edge(edge, index)


class SetLabel(Operation):
    """Rename a node (labels are unique: ``l1``, ``loss``)."""

    def __init__(self, node: str, label: str) -> None:
        self.node_ref, self.label = node, label
        self.node_id: str | None = None
        self.old = ""
        self.text = f"Rename to {label}"

    def apply(self, doc: GraphDocument) -> None:
        node = _node(doc, self.node_ref)
        label = doc.check_label(self.label, node.id)
        self.node_id, self.old, self.label = node.id, node.label, label
        doc._set_label(node.id, label)

    def revert(self, doc: GraphDocument) -> None:
        doc._set_label(self.node_id, self.old)


class SetRetainGrad(Operation):
    """Ask a node's output to keep its ``.grad`` after backward (``tensor.retain_grad()``)."""

    def __init__(self, node: str, retain: bool = True) -> None:
        self.node_ref, self.retain = node, retain
        self.node_id: str | None = None
        self.old = False
        self.text = "Retain grad" if retain else "Do not retain grad"

    def apply(self, doc: GraphDocument) -> None:
        node = _node(doc, self.node_ref)
        if not isinstance(self.retain, bool):
            raise DocumentError(f"retain_grad must be true or false, got {self.retain!r}")
        self.node_id, self.old = node.id, node.retain_grad
        doc._set_retain_grad(node.id, self.retain)

    def revert(self, doc: GraphDocument) -> None:
        doc._set_retain_grad(self.node_id, self.old)


class AddHook(Operation):
    """Add a gradient hook to a node's output (at ``index``, default last)."""

    def __init__(self, node: str, hook: Hook, index: int | None = None) -> None:
        self.node_ref, self.hook, self.index = node, hook, index
        self.node_id: str | None = None
        self.old: list[Hook] = []
        self.text = f"Add hook: {hook.describe() if isinstance(hook, Hook) else hook}"

    def apply(self, doc: GraphDocument) -> None:
        node = _node(doc, self.node_ref)
        if not isinstance(self.hook, Hook):
            raise DocumentError(f"expected a Hook, got {type(self.hook).__name__}")
        index = len(node.hooks) if self.index is None else self.index
        if not 0 <= index <= len(node.hooks):
            raise DocumentError(f"hook index {index} is out of range 0..{len(node.hooks)}")
        self.node_id, self.old = node.id, list(node.hooks)
        hooks = list(node.hooks)
        hooks.insert(index, self.hook)
        doc._set_hooks(node.id, hooks)

    def revert(self, doc: GraphDocument) -> None:
        doc._set_hooks(self.node_id, self.old)


class RemoveHook(Operation):
    """Remove the hook at ``index`` from a node."""

    def __init__(self, node: str, index: int) -> None:
        self.node_ref, self.index = node, index
        self.node_id: str | None = None
        self.old: list[Hook] = []
        self.text = "Remove hook"

    def apply(self, doc: GraphDocument) -> None:
        node = _node(doc, self.node_ref)
        if not isinstance(self.index, int) or not 0 <= self.index < len(node.hooks):
            raise DocumentError(f"{node.label} has no hook number {self.index} "
                                f"(it has {len(node.hooks)})")
        self.node_id, self.old = node.id, list(node.hooks)
        doc._set_hooks(node.id, [h for i, h in enumerate(node.hooks) if i != self.index])

    def revert(self, doc: GraphDocument) -> None:
        doc._set_hooks(self.node_id, self.old)


class SetSetting(Operation):
    """Change a document setting (backward node, retain_graph, optimizer, title...)."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value
        self.old: Any = None
        self.new: Any = None
        self.text = f"Set {name}"

    def apply(self, doc: GraphDocument) -> None:
        new = coerce_setting(self.name, self.value)
        if self.name == "backward_node" and new is not None and new not in doc.nodes:
            raise DocumentError(f"backward_node: no node with id {new!r}")
        self.old, self.new = doc.settings[self.name], new
        doc._set_setting(self.name, new)

    def revert(self, doc: GraphDocument) -> None:
        doc._set_setting(self.name, self.old)


class Macro(Operation):
    """Several operations as one edit: all applied, or (if one is refused) none."""

    def __init__(self, text: str, operations: Iterable[Operation]) -> None:
        self.text = text
        self.operations = list(operations)

    def apply(self, doc: GraphDocument) -> None:
        done: list[Operation] = []
        try:
            for operation in self.operations:
                operation.apply(doc)
                done.append(operation)
        except Exception:
            for operation in reversed(done):
                operation.revert(doc)
            raise

    def revert(self, doc: GraphDocument) -> None:
        for operation in reversed(self.operations):
            operation.revert(doc)
