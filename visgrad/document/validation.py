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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from visgrad.document import shapes as S
from visgrad.document.expressions import ExpressionError, parse_value
from visgrad.document.model import GraphDocument, Node
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

    def for_node(self, node_id: str) -> list[Message]:
        return [m for m in self.messages if m.node_id == node_id]

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
    chosen = doc.settings["backward_node"]
    if chosen is not None and chosen in doc.nodes:
        return doc.nodes[chosen]
    loss = doc.find("loss")
    if loss is not None:
        return loss
    try:
        order = doc.topological_order()
    except ValueError:
        return None
    feeding = {edge.source for edge in doc.edges}
    sinks = [node for node in order if node.id not in feeding and not node.kind_info.is_source]
    return sinks[-1] if sinks else None


def validate(doc: GraphDocument) -> ValidationReport:
    """Check the whole document; never raises for a problem of the graph itself."""
    report = ValidationReport()
    graph = doc.graph()
    cycles = list(nx.simple_cycles(nx.DiGraph(graph)))
    for cycle in cycles:
        names = " → ".join(doc.nodes[node_id].label for node_id in [*cycle, cycle[0]])
        for node_id in cycle:
            report.messages.append(Message(node_id, "error", f"part of a cycle: {names}"))
    if cycles:
        return report
    for node in doc.topological_order():
        _check_node(doc, node, report)
    _check_backward(doc, report)
    return report


def _error(report: ValidationReport, node: Node, text: str, port: str | None = None) -> None:
    report.messages.append(Message(node.id, "error", text, port))


def _check_node(doc: GraphDocument, node: Node, report: ValidationReport) -> None:
    kind = node.kind_info
    inputs: dict[str, Any] = {}
    waiting = False
    for port in node.input_ports():
        edge = doc.input_edge(node.id, port.name)
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


def _check_backward(doc: GraphDocument, report: ValidationReport) -> None:
    node = backward_node(doc)
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
