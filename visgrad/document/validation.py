"""Messages per node, found before running: what would go wrong, and why, in torch's words.

Validation infers every output's shape, dtype and requires_grad with the registry's rules
over :class:`~visgrad.document.shapes.TensorMeta`, so it allocates nothing and can run on
every edit. It reports unconnected inputs, cycles, broadcasting / matmul / reduction errors,
integer tensors asked to require grad, and what the backward call would refuse.

Example::

    >>> from visgrad.document import GraphDocument, validation
    >>> doc = GraphDocument()
    >>> a = doc.add_node("Tensor", label="a", value="ones(2, 3)")
    >>> b = doc.add_node("Tensor", label="b", value="ones(4, 5)")
    >>> mm = doc.add_node("MatMul", label="mm")
    >>> _ = doc.connect(a, mm, "a"); _ = doc.connect(b, mm, "b")
    >>> [m.text for m in validation.validate(doc).for_node(mm.id)]
    ['mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)']

A view that shows the messages of a big graph keeps an :class:`IncrementalValidation`
instead: it follows the document's events and, after an edit, re-checks only the nodes the
edit reaches (see the NOTE there), giving the same report as :func:`validate`.
"""

from __future__ import annotations

import heapq
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from visgrad.document import shapes as S
from visgrad.document.expressions import ExpressionError, parse_value
from visgrad.document.model import Edge, GraphDocument, Node
from visgrad.document.params import ParamError
from visgrad.document.shapes import ShapeError, TensorMeta


@dataclass(frozen=True)
class Message:
    """One finding about one node. ``severity`` is ``"error"`` or ``"warning"``."""

    node_id: str
    severity: str
    text: str
    port: str | None = None


@dataclass
class ValidationReport:
    """All messages, plus the inferred meta of every output that could be inferred."""

    messages: list[Message] = field(default_factory=list)
    metas: dict[tuple[str, str], TensorMeta] = field(default_factory=dict)
    # messages by node, built on the first for_node and again when ``messages`` grows or is
    # replaced: a view asks for every card's messages, which must not be O(messages) each
    _by_node: dict[str, list[Message]] | None = field(default=None, init=False, repr=False,
                                                      compare=False)
    _indexed: tuple[int, int] = field(default=(0, -1), init=False, repr=False, compare=False)

    def for_node(self, node_id: str) -> list[Message]:
        key = (id(self.messages), len(self.messages))
        if self._by_node is None or self._indexed != key:
            by_node: dict[str, list[Message]] = {}
            for message in self.messages:
                by_node.setdefault(message.node_id, []).append(message)
            self._by_node, self._indexed = by_node, key
        return list(self._by_node.get(node_id, ()))

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.severity == "error"]

    @property
    def warnings(self) -> list[Message]:
        return [m for m in self.messages if m.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def meta(self, node_id: str, port: str = "out") -> TensorMeta | None:
        return self.metas.get((node_id, port))


def backward_node(doc: GraphDocument) -> Node | None:
    """The node backward is called on: the setting, else the node labelled ``loss``, else the
    last node (in topological order) whose output feeds nothing."""
    return _backward_node(doc, lambda: topological_ids(doc))


def _backward_node(doc: GraphDocument, order: Callable[[], list[str] | None],
                   feeding: Callable[[str], bool] | None = None) -> Node | None:
    """:func:`backward_node` given the topological order (asked for only when needed) and,
    if known, which nodes feed another."""
    chosen = doc.settings["backward_node"]
    if chosen is not None and chosen in doc.nodes:
        return doc.nodes[chosen]
    loss = doc.find("loss")
    if loss is not None:
        return loss
    ids = order()
    if ids is None:  # a cycle
        return None
    if feeding is None:
        sources = {edge.source for edge in doc.edges}
        feeding = sources.__contains__
    nodes = doc.nodes
    for node_id in reversed(ids):
        if not feeding(node_id) and not nodes[node_id].kind_info.is_source:
            return nodes[node_id]
    return None


def validate(doc: GraphDocument) -> ValidationReport:
    """Check the whole document; never raises for a problem of the graph itself."""
    report = ValidationReport()
    order = topological_ids(doc)
    if order is None:  # only then look for the cycles themselves (networkx: slower)
        graph = doc.graph()
        cycles = list(nx.simple_cycles(nx.DiGraph(graph)))
        for cycle in cycles:
            names = " → ".join(doc.nodes[node_id].label for node_id in [*cycle, cycle[0]])
            for node_id in cycle:
                report.messages.append(Message(node_id, "error", f"part of a cycle: {names}"))
        return report
    incoming = {(edge.target, edge.target_port): edge for edge in doc.edges}
    nodes = doc.nodes
    for node_id in order:
        _check_node(doc, nodes[node_id], report, incoming)
    _check_backward(doc, report, _backward_node(doc, lambda: order))
    return report


def _error(report: ValidationReport, node: Node, text: str, port: str | None = None) -> None:
    report.messages.append(Message(node.id, "error", text, port))


def _check_node(doc: GraphDocument, node: Node, report: ValidationReport,
                incoming: dict[tuple[str, str], Edge]) -> None:
    kind = node.kind_info
    inputs: dict[str, Any] = {}
    waiting = False
    for port in node.input_ports():
        edge = incoming.get((node.id, port.name))  # not doc.input_edge: O(edges) per port
        if edge is None:
            if not port.optional:
                _error(report, node, f"input {port.name!r} is not connected", port.name)
                waiting = True
            continue
        meta = report.metas.get((edge.source, edge.source_port))
        if meta is None:
            waiting = True  # the upstream node has its own message
        inputs[port.name] = meta
    if waiting:
        return
    notes: list[str] = []
    try:
        outputs = kind.infer(inputs, node.params, notes)
    except (ShapeError, ExpressionError, ParamError) as exc:
        _error(report, node, str(exc))
        return
    for note in notes:
        report.messages.append(Message(node.id, "warning", note))
    if not kind.is_source and node.params.get("no_grad"):
        outputs = tuple(replace(meta, requires_grad=False) for meta in outputs)
    for port, meta in zip(node.output_ports(), outputs, strict=True):
        report.metas[(node.id, port.name)] = meta
    first = outputs[0]
    if node.hooks and not first.requires_grad:
        report.messages.append(Message(
            node.id, "warning", "hooks need a tensor that requires grad: cannot register a hook "
            "on a tensor that doesn't require gradient"))
    if node.retain_grad and not first.requires_grad:
        report.messages.append(Message(
            node.id, "warning", "can't retain_grad on Tensor that has requires_grad=False"))


def _check_backward(doc: GraphDocument, report: ValidationReport, node: Node | None) -> None:
    if node is None:
        return
    meta = report.meta(node.id, node.output_names()[0])
    if meta is None:
        return
    if not meta.requires_grad:
        _error(report, node, "backward: element 0 of tensors does not require grad and does "
                             "not have a grad_fn (nothing before it requires grad, or it is "
                             "detached / computed under no_grad)")
        return
    gradient = doc.settings["gradient"]
    if gradient is None:
        if meta.numel() != 1:
            _error(report, node, "backward: grad can be implicitly created only for scalar "
                                 f"outputs (this output has shape {S.shape_text(meta.shape)}; "
                                 "reduce it with Sum or Mean, or set a gradient)")
        return
    try:
        spec = parse_value(gradient, where="gradient")
        shape = spec.shape if spec.is_literal else S.as_meta(
            spec.expression.evaluate({}, S.meta_functions())).shape
    except (ExpressionError, ShapeError) as exc:
        _error(report, node, f"backward: {exc}")
        return
    if tuple(shape) != meta.shape:
        _error(report, node, f"backward: Mismatch in shape: grad_output[0] has a shape of "
                             f"{S.shape_text(shape)} and output[0] has a shape of "
                             f"{S.shape_text(meta.shape)}.")


def topological_ids(doc: GraphDocument) -> list[str] | None:
    """Node ids in :meth:`GraphDocument.topological_order`'s order (ties by insertion), or
    None if the graph has a cycle; linear apart from the heap, with no networkx graph.

    >>> from visgrad.document import examples
    >>> doc = examples.load("l1_l4_network")
    >>> topological_ids(doc) == [node.id for node in doc.topological_order()]
    True
    """
    index = {node_id: number for number, node_id in enumerate(doc.nodes)}
    waiting = dict.fromkeys(index, 0)
    children: dict[str, list[str]] = {}
    for edge in doc.edges:
        waiting[edge.target] += 1
        children.setdefault(edge.source, []).append(edge.target)
    ready = [(number, node_id) for node_id, number in index.items() if not waiting[node_id]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, node_id = heapq.heappop(ready)
        order.append(node_id)
        for child in children.get(node_id, ()):
            waiting[child] -= 1
            if not waiting[child]:
                heapq.heappush(ready, (index[child], child))
    return order if len(order) == len(index) else None


class IncrementalValidation:
    """:func:`validate`'s report, kept up to date by the document's events.

    Ask with :meth:`report` (the whole :class:`ValidationReport`, equal to ``validate(doc)``),
    :meth:`messages_for` and :meth:`meta` (one node, without assembling the report), and
    :meth:`take_changes` (the nodes whose messages or output metas changed since the last
    call: what a view must redraw). Call :meth:`detach` when done.

    Example::

        >>> from visgrad.document import GraphDocument, validation
        >>> doc = GraphDocument()
        >>> live = validation.IncrementalValidation(doc)
        >>> a = doc.add_node("Tensor", label="a", value="ones(2, 3)")
        >>> mm = doc.add_node("MatMul", label="mm")
        >>> _ = doc.connect(a, mm, "a")
        >>> [m.text for m in live.messages_for(mm.id)]
        ["input 'b' is not connected"]
        >>> sorted(live.take_changes()) == sorted([a.id, mm.id])
        True
        >>> doc.set_param(a, "value", "ones(4, 3)")   # re-checks a, then mm (a's meta changed)
        >>> sorted(live.take_changes()) == [a.id]     # mm's message did not change
        True
        >>> live.report() == validation.validate(doc)
        True
        >>> live.detach()

    NOTE [incremental validation]: a node's messages and output metas depend only on its own
    parameters, hooks, retain_grad and the metas arriving on its input edges. So an edit marks
    the node it touches (an edge: its target); :meth:`_update` re-checks marked nodes in
    topological order and marks a node's consumers only when its output metas changed, which
    stops the walk as soon as a change no longer shows downstream. The topological order is
    kept while edits cannot change it (a new node goes last, an edge that agrees with the
    order, a removed node) and recomputed otherwise. Backward's messages depend on which node
    backward is called on, so they are re-checked after every edit (cheap: one node). A cycle
    (which operations refuse, but ``_insert_edge`` can make) falls back to :func:`validate`.
    """

    def __init__(self, doc: GraphDocument) -> None:
        self.document = doc
        self._messages: dict[str, list[Message]] = {}
        self._metas: dict[tuple[str, str], TensorMeta] = {}
        self._backward: list[Message] = []
        self._incoming: dict[tuple[str, str], Edge] = {}
        self._outgoing: dict[str, list[Edge]] = {}
        self._order: list[str] | None = None
        self._position: dict[str, int] | None = None
        self._dirty: set[str] = set(doc.nodes)
        self._backward_dirty = True
        self._fallback: ValidationReport | None = None   # the report while there is a cycle
        self._changed: set[str] = set(doc.nodes)
        self._report: ValidationReport | None = None
        for edge in doc.edges:
            self._link(edge)
        # each event as it happens (not ``any``, which comes after every other listener):
        # a view that asks in its own handler must get an answer that includes the change
        for name in doc.events.names:
            doc.events[name].connect(self._on_document_changed)

    def detach(self) -> None:
        """Stop following the document."""
        for name in self.document.events.names:
            try:
                self.document.events[name].disconnect(self._on_document_changed)
            except ValueError:
                pass

    # asking ----------------------------------------------------------------------------------
    def report(self) -> ValidationReport:
        """Everything, as :func:`validate` reports it (assembled once per change)."""
        self._update()
        if self._fallback is not None:
            return self._fallback
        if self._report is None:
            messages = [m for node_id in self._order for m in self._messages.get(node_id, ())]
            self._report = ValidationReport(messages + self._backward, dict(self._metas))
        return self._report

    def messages_for(self, node_id: str) -> list[Message]:
        """The messages of one node, in report order."""
        self._update()
        if self._fallback is not None:
            return self._fallback.for_node(node_id)
        found = list(self._messages.get(node_id, ()))
        return found + [m for m in self._backward if m.node_id == node_id]

    def meta(self, node_id: str, port: str = "out") -> TensorMeta | None:
        self._update()
        if self._fallback is not None:
            return self._fallback.meta(node_id, port)
        return self._metas.get((node_id, port))

    def preview(self, node_id: str, inputs: Mapping[str, Edge | None]) -> list[Message]:
        """The messages ``node_id`` would have with its input ports fed by ``inputs`` (port:
        edge, or None for unconnected; other ports keep their edges), its inputs' metas
        as they are now. For refusing a connection before making it, in O(1)."""
        self._update()
        node = self.document.nodes[node_id]
        incoming = {(node_id, port.name): self._incoming.get((node_id, port.name))
                    for port in node.input_ports()}
        incoming.update({(node_id, port): edge for port, edge in inputs.items()})
        metas = self._fallback.metas if self._fallback is not None else self._metas
        scratch = ValidationReport([], ChainMap({}, metas))  # leaves the kept metas alone
        _check_node(self.document, node, scratch,
                    {key: edge for key, edge in incoming.items() if edge is not None})
        return scratch.messages

    def take_changes(self) -> set[str]:
        """Ids of nodes whose messages or output metas changed since the last call (removed
        nodes included)."""
        self._update()
        changed, self._changed = self._changed, set()
        return changed

    # following the document --------------------------------------------------------------------
    def _link(self, edge: Edge) -> None:
        self._incoming[(edge.target, edge.target_port)] = edge
        self._outgoing.setdefault(edge.source, []).append(edge)

    def _on_document_changed(self, source: Any) -> None:
        kind = source.type
        if kind == "node_moved":
            return
        self._report = None
        self._backward_dirty = True
        if kind == "node_added":
            node_id = source.node.id
            self._dirty.add(node_id)
            if self._order is not None and source.index >= len(self.document.nodes) - 1:
                self._order.append(node_id)  # isolated and inserted last: it sorts last
                if self._position is not None:
                    self._position[node_id] = len(self._order) - 1
            else:
                self._order = None
        elif kind == "node_removed":
            node = source.node
            self._dirty.discard(node.id)
            self._changed.add(node.id)
            self._messages.pop(node.id, None)
            for port in node.output_names():
                self._metas.pop((node.id, port), None)
            if self._order is not None:
                self._order.remove(node.id)  # it had no edges left: the rest keeps its order
                self._position = None
        elif kind == "node_changed":
            if source.field != "label":  # a label changes no message (nor a meta)
                self._dirty.add(source.node.id)
        elif kind == "edge_added":
            edge = source.edge
            self._link(edge)
            self._dirty.add(edge.target)
            position = self._positions()
            if position is not None and position.get(edge.source, 0) > position.get(
                    edge.target, 0):
                self._order = None  # the new edge disagrees with the order: sort again
        elif kind == "edge_removed":
            edge = source.edge
            if self._incoming.get((edge.target, edge.target_port)) == edge:
                del self._incoming[(edge.target, edge.target_port)]
            outgoing = self._outgoing.get(edge.source, [])
            if edge in outgoing:
                outgoing.remove(edge)
            self._dirty.add(edge.target)
            self._order = None  # the target may come earlier now
        if self._fallback is not None:  # a cycle was there: check everything again
            self._dirty.update(self.document.nodes)

    def _positions(self) -> dict[str, int] | None:
        if self._order is None:
            return None
        if self._position is None:
            self._position = {node_id: number for number, node_id in enumerate(self._order)}
        return self._position

    # checking ----------------------------------------------------------------------------------
    def _update(self) -> None:
        if not self._dirty and not self._backward_dirty:
            return
        doc = self.document
        if self._order is None:
            self._order = topological_ids(doc)
            self._position = None
            if self._order is None:  # a cycle: report as validate does, check all later
                self._fallback = validate(doc)
                self._changed.update(doc.nodes)
                self._dirty, self._backward_dirty = set(doc.nodes), False
                return
        if self._fallback is not None:
            self._fallback = None
            self._changed.update(doc.nodes)
        position = self._positions()
        queue = [(position[node_id], node_id) for node_id in self._dirty if node_id in position]
        heapq.heapify(queue)
        self._dirty = set()
        checked: set[str] = set()
        while queue:
            _, node_id = heapq.heappop(queue)
            if node_id in checked:
                continue
            checked.add(node_id)
            if self._recheck(doc.nodes[node_id]):
                for edge in self._outgoing.get(node_id, ()):
                    heapq.heappush(queue, (position[edge.target], edge.target))
        self._update_backward()
        self._report = None

    def _recheck(self, node: Node) -> bool:
        """Check one node again; True when its output metas changed."""
        ports = node.output_names()
        old_metas = [self._metas.pop((node.id, port), None) for port in ports]
        scratch = ValidationReport([], self._metas)
        _check_node(self.document, node, scratch, self._incoming)
        new_metas = [self._metas.get((node.id, port)) for port in ports]
        metas_changed = new_metas != old_metas
        if metas_changed or scratch.messages != self._messages.get(node.id):
            self._changed.add(node.id)
        self._messages[node.id] = scratch.messages
        return metas_changed

    def _update_backward(self) -> None:
        self._backward_dirty = False
        scratch = ValidationReport([], self._metas)
        target = self._backward_target()
        if target is not None:
            _check_backward(self.document, scratch, target)
        if scratch.messages != self._backward:
            self._changed.update(m.node_id for m in [*self._backward, *scratch.messages])
            self._backward = scratch.messages

    def _backward_target(self) -> Node | None:
        """:func:`backward_node`, with the kept order instead of a new sort."""
        return _backward_node(self.document, lambda: self._order,
                              lambda node_id: bool(self._outgoing.get(node_id)))
