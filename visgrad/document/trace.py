"""Build a document from an engine graph made in Python, by walking grad_fn/next_functions.

Example::

    >>> import visgrad as vg
    >>> from visgrad.document import trace
    >>> w = vg.tensor(2.0, requires_grad=True)
    >>> loss = (w * 3 + 1) ** 2
    >>> doc = trace(loss, names={"w": w})
    >>> [node.kind for node in doc.topological_order()]
    ['Parameter', 'Mul', 'Add', 'Pow']

Leaves that require grad become Parameter nodes, other tensors an op kept (``x * c``) become
Tensor nodes, both with their values; each grad_fn becomes the palette node of the same
operation with its parameters (dims, exponents...) read from the engine node. What the engine
did not keep cannot come back: ``x + 3`` keeps no 3, so that input stays unconnected (and
validation says so); engine nodes without a palette node become read-only ``Traced`` nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from visgrad.document import registry
from visgrad.document.expressions import format_literal
from visgrad.document.layout import compute_layout
from visgrad.document.model import Edge, GraphDocument, Node

_UNARY = {"Neg", "Exp", "Log", "Sqrt", "Sin", "Cos", "Tanh", "Sigmoid", "ReLU", "Abs", "Clone"}
_BINARY_WITH_SCALAR = {"Add", "Sub", "Mul", "Div"}
_ACTIVATION_PARAMS = {"LeakyReLU": ("negative_slope",), "ELU": ("alpha",),
                      "GELU": ("approximate",), "SiLU": (), "Softplus": ("beta", "threshold")}


def trace(*outputs: Any, names: Mapping[str, Any] | None = None,
          layout: bool = True) -> GraphDocument:
    """A document reproducing the graph that produced ``outputs`` (tensors of the engine).

    ``names`` maps labels to tensors (``{"w1": w1}``) to name leaves and results; the last
    output becomes the backward node.
    """
    builder = _Builder({id(tensor): label for label, tensor in (names or {}).items()})
    for output in outputs:
        builder.add_output(output)
    document = builder.document
    if outputs and builder.output_nodes:
        document._set_setting("backward_node", builder.output_nodes[-1])
    if layout:
        for node_id, position in compute_layout(document).items():
            document._set_position(node_id, position)
    return document


class _Builder:
    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.document = GraphDocument()
        self.engine_nodes: dict[int, str] = {}    # id(engine node) -> document node id
        self.leaves: dict[int, str] = {}          # id(tensor) -> document node id
        self.keep: list[Any] = []                 # keeps ids above valid
        self.output_nodes: list[str] = []

    def label(self, tensor: Any, kind: str) -> str:
        name = self.names.get(id(tensor))
        if name is not None and self.document.find(name) is None:
            return name
        return self.document.unique_label(kind)

    def add_output(self, tensor: Any) -> None:
        grad_fn = tensor.grad_fn
        if grad_fn is None:
            self.output_nodes.append(self.leaf(tensor))
            return
        node_id = self.op(grad_fn, tuple(tensor.shape))
        if id(tensor) in self.names:
            wanted = self.names[id(tensor)]
            if self.document.find(wanted) is None:
                self.document._set_label(node_id, wanted)
        self.output_nodes.append(node_id)

    def leaf(self, tensor: Any) -> str:
        known = self.leaves.get(id(tensor))
        if known is not None:
            return known
        array = np.asarray(tensor.detach().numpy())
        dtype = str(tensor.dtype).replace("torch.", "")
        if tensor.requires_grad:
            kind, params = "Parameter", {"value": format_literal(array.tolist()),
                                         "dtype": dtype if dtype == "float64" else "float32"}
        else:
            kind, params = "Tensor", {"value": format_literal(array.tolist()), "dtype": dtype}
        node_id = self._insert(kind, params, self.label(tensor, kind))
        self.leaves[id(tensor)] = node_id
        self.keep.append(tensor)
        return node_id

    def _insert(self, kind: str, params: dict[str, Any], label: str) -> str:
        node_id = self.document.new_id()
        coerced = registry.get(kind).coerce_params(params)
        self.document._insert_node(Node(node_id, kind, coerced, label))
        return node_id

    def op(self, engine_node: Any, out_shape: tuple[int, ...]) -> str:
        """Document nodes for ``engine_node`` and everything before it (iteratively)."""
        order: list[tuple[Any, tuple[int, ...]]] = []
        stack: list[tuple[Any, tuple[int, ...], bool]] = [(engine_node, out_shape, False)]
        visiting: set[int] = set()
        while stack:
            node, shape, expanded = stack.pop()
            if id(node) in self.engine_nodes:
                continue
            if expanded:
                if id(node) not in {id(n) for n, _ in order}:
                    order.append((node, shape))
                continue
            if id(node) in visiting:
                continue
            visiting.add(id(node))
            stack.append((node, shape, True))
            metas = getattr(node, "_input_meta", ())
            for index, (next_node, _) in enumerate(node.next_functions):
                if next_node is None or next_node.name().endswith("AccumulateGrad"):
                    continue
                meta = metas[index] if index < len(metas) else None
                next_shape = tuple(meta[0]) if meta else ()
                stack.append((next_node, next_shape, False))
        for node, shape in order:
            self._make_op(node, shape)
        self.keep.append(engine_node)
        return self.engine_nodes[id(engine_node)]

    def _make_op(self, engine_node: Any, out_shape: tuple[int, ...]) -> None:
        name = engine_node.name()
        kind_name = registry.kind_for_grad_fn(name)
        attributes = vars(engine_node)
        params: dict[str, Any]
        if kind_name is None:
            kind_name, params = "Traced", {"grad_fn": name,
                                           "inputs": len(engine_node.next_functions)}
        else:
            params = _params(kind_name, name, attributes, out_shape,
                             len(engine_node.next_functions))
        saved = _saved(engine_node)
        constants: dict[str, Any] = {}
        ports = _ports(kind_name, params)
        for index, (next_node, _) in enumerate(engine_node.next_functions):
            if next_node is None and index < len(ports) and kind_name in _BINARY_WITH_SCALAR \
                    | {"Maximum", "Minimum"} and index < len(saved):
                value = saved[index]
                if isinstance(value, int | float) and not isinstance(value, bool) and \
                        ports[index] == "b" and kind_name in _BINARY_WITH_SCALAR:
                    params["scalar"] = float(value)
                elif value is not None and hasattr(value, "grad_fn"):
                    constants[ports[index]] = value
        if kind_name == "Where" and saved:
            constants["condition"] = saved[0]
        node_id = self._insert(kind_name, params, self.document.unique_label(kind_name))
        self.engine_nodes[id(engine_node)] = node_id
        self.keep.append(engine_node)
        for port, tensor in constants.items():
            self._link(self.leaf(tensor), "out", node_id, port)
        for index, (next_node, output_nr) in enumerate(engine_node.next_functions):
            if next_node is None or index >= len(ports):
                continue
            if next_node.name().endswith("AccumulateGrad"):
                source = self.leaf(next_node.variable)
                source_port = "out"
            else:
                source = self.engine_nodes[id(next_node)]
                source_port = self.document.nodes[source].output_names()[0] \
                    if output_nr == 0 else self.document.nodes[source].output_names()[
                        min(output_nr, len(self.document.nodes[source].output_names()) - 1)]
            self._link(source, source_port, node_id, ports[index])

    def _link(self, source: str, source_port: str, target: str, port: str) -> None:
        if self.document.input_edge(target, port) is None:
            self.document._insert_edge(Edge(source, source_port, target, port))


def _ports(kind_name: str, params: Mapping[str, Any]) -> list[str]:
    """Input ports in the order of the engine node's next_functions."""
    if kind_name == "Where":
        return ["a", "b"]
    if kind_name == "Linear":
        return ["input", "weight", "bias"]
    return [port.name for port in registry.get(kind_name).input_ports(params)]


def _saved(engine_node: Any) -> tuple[Any, ...]:
    try:
        saved = engine_node.saved_tensors
    except (RuntimeError, AttributeError):
        return ()
    return tuple(saved) if isinstance(saved, tuple | list) else ()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _params(kind: str, name: str, a: Mapping[str, Any], out_shape: tuple[int, ...],
            inputs: int) -> dict[str, Any]:
    """Parameters of a palette node, read from what the engine node recorded."""
    if kind == "Pow" and _number(a.get("exponent")) is not None:
        return {"exponent": _number(a["exponent"])}
    if kind in {"Sum", "Mean"}:
        dims = a.get("dims")
        return {"dim": None if dims is None else [int(d) for d in np.atleast_1d(dims)],
                "keepdim": bool(a.get("keepdim", False))}
    if kind in {"Max", "Min"}:
        return {"dim": a.get("dim"), "keepdim": bool(a.get("keepdim", False))}
    if kind == "Transpose":
        return {"dim0": 0, "dim1": 1} if name == "TBackward0" else \
            {"dim0": int(a.get("dim0", 0)), "dim1": int(a.get("dim1", 1))}
    if kind == "Permute":
        return {"dims": [int(d) for d in a.get("dims", ())]}
    if kind == "Unsqueeze":
        return {"dim": int(a.get("dim", 0))}
    if kind == "Squeeze":
        return {"dim": a.get("dim") if name != "SqueezeBackward0" else None}
    if kind == "Reshape":
        return {"shape": list(out_shape) or [-1]}
    if kind == "Clamp":
        return {"min": _number(a.get("min")), "max": _number(a.get("max"))}
    if kind in {"Cat", "Stack"}:
        return {"count": inputs, "dim": int(a.get("dim", 0))}
    if kind in {"Softmax", "LogSoftmax"}:
        return {"dim": int(a.get("dim", -1))}
    if kind in _ACTIVATION_PARAMS:
        return {name: a[name] for name in _ACTIVATION_PARAMS[kind] if name in a}
    if kind in {"MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
                "BCEWithLogitsLoss"} and isinstance(a.get("reduction"), str):
        return {"reduction": a["reduction"]}
    return {}
