"""The graph document: nodes, edges, hooks and settings, with fine-grained change events.

The document holds only data (kinds by registry name, parameters as plain values), so it can
be saved, diffed, undone and tested without the engine or a display. Views subscribe to
``document.events`` and never keep a second copy of the state.

Example::

    >>> from visgrad.document import GraphDocument
    >>> doc = GraphDocument()
    >>> x = doc.add_node("Parameter", label="x", value=3.0)
    >>> sq = doc.add_node("Pow", exponent=2)
    >>> doc.connect(x, sq, "x")
    Edge(source='n1', source_port='out', target='n2', target_port='x')
    >>> [node.label for node in doc.topological_order()]
    ['x', 'pow1']

Edits go through :mod:`visgrad.document.operations` (``doc.add_node`` is a shortcut for
``doc.apply(AddNode(...))``), each reversible, so the Qt layer can wrap one in one undo step.
The underscored mutators below are the operations' tools: they change one thing, keep the
invariants and emit one event, and check nothing else.
"""

from __future__ import annotations

import copy
import math
import re
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import networkx as nx

from visgrad.document import registry
from visgrad.document.events import EventGroup
from visgrad.document.expressions import parse_expression
from visgrad.document.params import Param, ParamError

if TYPE_CHECKING:
    from visgrad.document.operations import Operation


class DocumentError(ValueError):
    """An edit the document refuses (the document is left as it was)."""


# --------------------------------------------------------------------------------------------
# Hooks


HOOK_KINDS: dict[str, str] = {
    "print": "print the gradient to the log, leave it unchanged",
    "scale": "multiply the gradient by k",
    "clamp": "clamp the gradient to [min, max]",
    "zero": "replace the gradient by zeros",
    "replace": "replace the gradient by an expression of grad",
}


@dataclass(frozen=True)
class Hook:
    """A gradient hook on a node's output tensor (``tensor.register_hook``).

    >>> Hook("scale", k=0.5).describe()
    'scale by 0.5'
    """

    kind: str
    k: float | None = None
    min: float | None = None
    max: float | None = None
    expression: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in HOOK_KINDS:
            raise DocumentError(f"unknown hook kind {self.kind!r}; known: "
                                f"{', '.join(HOOK_KINDS)}")
        wanted = {"scale": {"k"}, "clamp": {"min", "max"}, "replace": {"expression"}}.get(
            self.kind, set())
        for name in ("k", "min", "max", "expression"):
            value = getattr(self, name)
            if name not in wanted and value is not None:
                raise DocumentError(f"a {self.kind} hook takes no {name!r}")
        if self.kind == "scale":
            object.__setattr__(self, "k", _finite(self.k, "k"))
        if self.kind == "clamp":
            low, high = _finite(self.min, "min"), _finite(self.max, "max")
            if low > high:
                raise DocumentError(f"clamp hook: min ({low}) is above max ({high})")
            object.__setattr__(self, "min", low)
            object.__setattr__(self, "max", high)
        if self.kind == "replace":
            if not isinstance(self.expression, str):
                raise DocumentError("a replace hook needs an expression of grad, "
                                    "e.g. grad * 0.5")
            try:
                parse_expression(self.expression, names={"grad"}, where="hook")
            except ValueError as exc:
                raise DocumentError(str(exc)) from None

    def describe(self) -> str:
        if self.kind == "scale":
            return f"scale by {self.k:g}"
        if self.kind == "clamp":
            return f"clamp to [{self.min:g}, {self.max:g}]"
        if self.kind == "replace":
            return f"replace by {self.expression}"
        return self.kind

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for name in ("k", "min", "max", "expression"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Hook:
        unknown = set(data) - {"kind", "k", "min", "max", "expression"}
        if unknown:
            raise DocumentError(f"hook has unknown field {sorted(unknown)[0]!r}")
        return cls(**data)


def _finite(value: Any, name: str) -> float:
    try:  # float() of a huge int (10**400 in a file) overflows: not finite either
        number = float(value) if isinstance(value, int | float) else math.nan
    except OverflowError:
        number = math.inf
    if isinstance(value, bool) or not math.isfinite(number):
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise DocumentError(f"hook {name!r} must be a finite number, got {shown}")
    return number


# --------------------------------------------------------------------------------------------
# Nodes and edges


@dataclass
class Node:
    """One node on the canvas. ``params`` are in stored form (see :mod:`params`)."""

    id: str
    kind: str
    params: dict[str, Any]
    label: str
    position: tuple[float, float] = (0.0, 0.0)
    retain_grad: bool = False
    hooks: list[Hook] = field(default_factory=list)

    @property
    def kind_info(self) -> registry.NodeKind:
        return registry.get(self.kind)

    def input_ports(self) -> tuple[registry.Port, ...]:
        return self.kind_info.input_ports(self.params)

    def output_ports(self) -> tuple[registry.Port, ...]:
        return self.kind_info.output_ports()

    def input_names(self) -> tuple[str, ...]:
        return tuple(port.name for port in self.input_ports())

    def output_names(self) -> tuple[str, ...]:
        return tuple(port.name for port in self.output_ports())

    def copy(self) -> Node:
        return replace(self, params=copy.deepcopy(self.params), hooks=list(self.hooks))


@dataclass(frozen=True)
class Edge:
    """From an output port to an input port. An input port has at most one edge."""

    source: str
    source_port: str
    target: str
    target_port: str

    def describe(self, document: GraphDocument | None = None) -> str:
        def name(node_id: str) -> str:
            if document is not None and node_id in document.nodes:
                return document.nodes[node_id].label
            return node_id

        return f"{name(self.source)}.{self.source_port} → {name(self.target)}.{self.target_port}"


# --------------------------------------------------------------------------------------------
# Document settings: the backward call, training, and what the file says about itself.

OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")

SETTINGS: dict[str, Param] = {param.name: param for param in (
    Param("title", "text", "", "the graph's title"),
    Param("description", "text", "", "what the graph shows; how to step it",
          maximum=20_000),
    Param("backward_node", "text", None, "node id to call backward on (empty: the loss, or "
          "the last node)", optional=True),
    Param("gradient", "value", None, "gradient for backward when the output is not a scalar",
          optional=True),
    Param("retain_graph", "bool", None, "keep the graph for another backward (empty: as "
          "create_graph)", optional=True),
    Param("create_graph", "bool", False, "build a graph of the gradients (higher order)"),
    Param("detect_anomaly", "bool", False, "stop at the first NaN in backward"),
    Param("seed", "int", 0, "vg.manual_seed before creating leaves", minimum=0),
    Param("optimizer", "choice", "SGD", "optimizer for training", OPTIMIZERS),
    Param("lr", "float", 0.1, "learning rate", minimum=0),
    Param("steps", "int", 100, "training iterations", minimum=1, maximum=1_000_000),
    Param("momentum", "float", 0.0, "SGD/RMSprop momentum", minimum=0),
)}

_ID_PATTERN = re.compile(r"^n\d+$")
_RANK_STEP = 1 << 32  # see NOTE [edge indexes]
_SHORT_LABELS = {"Tensor": "t", "Parameter": "w", "Data": "data", "Function": "f"}


class GraphDocument:
    """Nodes and edges of one graph, plus its settings; emits an event for every change.

    Events (``doc.events.<name>.connect(callback)``; the callback gets an
    :class:`~visgrad.document.events.Event`): ``node_added(node, index)``,
    ``node_removed(node, index)``, ``node_changed(node, field, old, new)`` (field: ``params``
    with ``name``, ``label``, ``retain_grad``, ``hooks``), ``node_moved(node, old, new)``,
    ``edge_added(edge)``, ``edge_removed(edge)``, ``settings_changed(name, old, new)``.
    ``doc.events.any`` sees them all.
    """

    def __init__(self) -> None:
        self.events = EventGroup(
            "node_added", "node_removed", "node_changed", "node_moved", "edge_added",
            "edge_removed", "settings_changed",
        )
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        self._settings: dict[str, Any] = {name: p.default for name, p in SETTINGS.items()}
        self._counter = 0
        # indexes kept by the mutators below (see NOTE [edge indexes])
        self._labels: dict[str, str] = {}                  # label -> node id
        self._label_numbers: dict[str, int] = {}           # base -> no free number below
        self._input: dict[tuple[str, str], Edge] = {}      # (target, port) -> its edge
        self._rank: dict[tuple[str, str], int] = {}        # (target, port) -> sort key
        self._edges_in: dict[str, list[Edge]] = {}         # node id -> edges into it
        self._edges_out: dict[str, list[Edge]] = {}        # node id -> edges from it

    # NOTE [edge indexes]: building a graph must not cost O(edges) per edit, so besides the
    # ordered list of edges (the file's order, which undo restores exactly) the document
    # keeps: each input port's edge (an input port has at most one), each node's edges in
    # and out, and each label's node. Every edge also has a rank, an integer that grows
    # along the list: appending gives the last rank + _RANK_STEP, inserting at an index (an
    # undo) the midpoint of its neighbours' ranks, and when two neighbours have no integer
    # between them every rank is renumbered (rare: after ~32 inserts into one gap). Ranks
    # find an edge's index by bisection and keep each node's edges in list order, so the
    # queries answer exactly as scanning the list would. Only the mutators touch these.

    # queries -------------------------------------------------------------------------------
    @property
    def nodes(self) -> Mapping[str, Node]:
        """Nodes by id, in insertion order (read-only: edit through operations)."""
        return _ReadOnly(self._nodes)

    @property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(self._edges)

    @property
    def settings(self) -> Mapping[str, Any]:
        return _ReadOnly(self._settings)

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes.values()))

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str | Node) and self.find(ref) is not None

    def node(self, ref: str | Node) -> Node:
        """The node with this id or label; :class:`KeyError` naming it otherwise."""
        node = self.find(ref)
        if node is None:
            raise KeyError(f"no node with id or label {ref if isinstance(ref, str) else ref.id!r}")
        return node

    def find(self, ref: str | Node) -> Node | None:
        if isinstance(ref, Node):
            return self._nodes.get(ref.id)
        if ref in self._nodes:
            return self._nodes[ref]
        node_id = self._labels.get(ref)
        return None if node_id is None else self._nodes[node_id]

    def index_of(self, node_id: str) -> int:
        if self._nodes and next(reversed(self._nodes)) == node_id:  # the last (an undo)
            return len(self._nodes) - 1
        return list(self._nodes).index(node_id)

    def edges_into(self, ref: str | Node) -> list[Edge]:
        """The edges into a node, in the order of :attr:`edges`."""
        return list(self._edges_in.get(self.node(ref).id, ()))

    def edges_from(self, ref: str | Node) -> list[Edge]:
        """The edges from a node, in the order of :attr:`edges`."""
        return list(self._edges_out.get(self.node(ref).id, ()))

    def input_edge(self, ref: str | Node, port: str) -> Edge | None:
        return self._input.get((self.node(ref).id, port))

    def has_edge(self, edge: Edge) -> bool:
        """Whether ``edge`` is one of :attr:`edges` (in O(1))."""
        return self._input.get((edge.target, edge.target_port)) == edge

    def edge_index(self, edge: Edge) -> int:
        """Where ``edge`` is in :attr:`edges` (in O(log edges)); ValueError if it is not."""
        if not self.has_edge(edge):
            raise ValueError(f"{edge!r} is not an edge of the document")
        return self._locate(self._edges, edge)

    def graph(self) -> nx.MultiDiGraph:
        """The nodes and edges as a networkx graph (edge keys are the target ports)."""
        graph = nx.MultiDiGraph()
        graph.add_nodes_from(self._nodes)
        for edge in self._edges:
            graph.add_edge(edge.source, edge.target, key=edge.target_port, edge=edge)
        return graph

    def topological_order(self) -> list[Node]:
        """Nodes so that each comes after its inputs; ties keep insertion order.

        Raises :class:`DocumentError` on a cycle (which operations never create).
        """
        order = {node_id: index for index, node_id in enumerate(self._nodes)}
        try:
            ids = nx.lexicographical_topological_sort(self.graph(), key=order.__getitem__)
            return [self._nodes[node_id] for node_id in ids]
        except nx.NetworkXUnfeasible:
            raise DocumentError("the graph has a cycle") from None

    def reaches(self, source: str, target: str, avoiding: Collection[Edge] = ()) -> bool:
        """Whether a path of edges (none of ``avoiding``) leads from ``source`` to ``target``.

        Searches forward from ``source`` and backward from ``target`` at once, a level of the
        smaller side at a time, so it visits about as much of the graph as the smaller of
        what ``source`` feeds and what feeds ``target``: nothing like the whole graph when
        either end is near its edge (a new node, a source, the loss).
        """
        if source == target:
            return True
        blocked = {(edge.target, edge.target_port) for edge in avoiding if self.has_edge(edge)}
        ahead, behind = [source], [target]          # the frontiers of the two searches
        reached, reaching = {source}, {target}      # what source reaches / what reaches target
        while ahead and behind:
            if len(ahead) <= len(behind):
                ahead = self._search_level(ahead, self._edges_out, "target", reached,
                                           reaching, blocked)
                if ahead is None:
                    return True
            else:
                behind = self._search_level(behind, self._edges_in, "source", reaching,
                                            reached, blocked)
                if behind is None:
                    return True
        return False

    @staticmethod
    def _search_level(frontier: list[str], edges: dict[str, list[Edge]], end: str,
                      seen: set[str], other: set[str], blocked: set[tuple[str, str]]
                      ) -> list[str] | None:
        """One level of :meth:`reaches`' search: the next frontier, or None when it meets the
        other side's."""
        following = []
        for node_id in frontier:
            for edge in edges.get(node_id, ()):
                if blocked and (edge.target, edge.target_port) in blocked:
                    continue
                found = getattr(edge, end)
                if found in other:
                    return None
                if found not in seen:
                    seen.add(found)
                    following.append(found)
        return following

    def new_id(self) -> str:
        while True:
            self._counter += 1
            node_id = f"n{self._counter}"
            if node_id not in self._nodes:
                return node_id

    def unique_label(self, kind: str) -> str:
        """The first of ``base1``, ``base2``... that no node uses (``add3`` for an Add)."""
        base = label_base(kind)
        number = self._label_numbers.get(base, 1)  # every smaller number is taken
        while f"{base}{number}" in self._labels:
            number += 1
        self._label_numbers[base] = number
        return f"{base}{number}"

    def check_label(self, label: Any, node_id: str | None = None) -> str:
        """The label if acceptable: non-empty text, unique, and not shaped like a node id."""
        label = clean_label(label)
        owner = self._labels.get(label)
        if owner is not None and owner != node_id:
            raise DocumentError(f"label {label!r} is already used by node {owner}")
        return label

    # edits through operations --------------------------------------------------------------
    def apply(self, operation: Operation) -> Operation:
        """Apply a reversible operation and return it (for ``revert`` or an undo stack)."""
        operation.apply(self)
        return operation

    def add_node(self, kind: str, *, label: str | None = None,
                 position: tuple[float, float] = (0.0, 0.0), retain_grad: bool = False,
                 hooks: Iterable[Hook] = (), **params: Any) -> Node:
        """Add a node of ``kind`` with ``params``; returns it. Shortcut for ``AddNode``."""
        from visgrad.document.operations import AddNode  # noqa: PLC0415 - cycle

        operation = AddNode(kind, params, label=label, position=position,
                            retain_grad=retain_grad, hooks=tuple(hooks))
        self.apply(operation)
        return self._nodes[operation.node_id]

    def connect(self, source: str | Node, target: str | Node, target_port: str | None = None,
                source_port: str = "out") -> Edge:
        """Connect ``source.source_port`` to ``target.target_port`` (default: first free)."""
        from visgrad.document.operations import Connect  # noqa: PLC0415 - cycle

        operation = Connect(self.node(source).id, self.node(target).id, target_port,
                            source_port)
        self.apply(operation)
        return operation.edge

    def set_param(self, ref: str | Node, name: str, value: Any) -> None:
        from visgrad.document.operations import SetParam  # noqa: PLC0415 - cycle

        self.apply(SetParam(self.node(ref).id, name, value))

    def set_setting(self, name: str, value: Any) -> None:
        from visgrad.document.operations import SetSetting  # noqa: PLC0415 - cycle

        self.apply(SetSetting(name, value))

    # mutators for operations: one change, one event ----------------------------------------
    def _insert_node(self, node: Node, index: int | None = None) -> None:
        assert node.id not in self._nodes, node.id
        assert self._labels.get(node.label, node.id) == node.id, node.label
        index = len(self._nodes) if index is None else index
        if index >= len(self._nodes):  # appending (every node of a file): no O(n) rebuild
            self._nodes[node.id] = node
        else:
            items = list(self._nodes.items())
            items.insert(index, (node.id, node))
            self._nodes = dict(items)
        self._register_node(node, index)

    def _insert_nodes(self, placed: list[tuple[int, Node]]) -> None:
        """Insert nodes at their indexes (ascending, each as it will be once all are in) with
        one rebuild of the order: undoing the removal of thousands of scattered nodes would
        otherwise copy the whole order once per node."""
        if len(placed) < 2 or placed[0][0] >= len(self._nodes):
            for index, node in placed:  # appends (or a single node): nothing to rebuild
                self._insert_node(node, index)
            return
        for _, node in placed:
            assert node.id not in self._nodes, node.id
            assert self._labels.get(node.label, node.id) == node.id, node.label
        items, merged = iter(self._nodes.items()), []
        for index, node in placed:
            while len(merged) < index:
                merged.append(next(items))
            merged.append((node.id, node))
        merged.extend(items)
        self._nodes = dict(merged)
        for index, node in placed:
            self._register_node(node, index)

    def _register_node(self, node: Node, index: int) -> None:
        """What a node in the order needs besides: its label, the id counter, the event."""
        self._labels[node.label] = node.id
        number = node.id[1:]
        # NOTE [ids from files]: a file may hold any id. Only plain ASCII numbers of sane
        # length move the counter ("n²".isdigit() is true but int() refuses it; "n" and 63
        # nines would make every new id longer than a file accepts). new_id skips taken ids,
        # so the counter is only a hint and ids stay unique either way.
        if node.id.startswith("n") and number.isascii() and number.isdigit() \
                and len(number) <= 15:
            self._counter = max(self._counter, int(number))
        self.events.node_added.emit(node=node, index=index)

    def _delete_node(self, node_id: str, index: int | None = None) -> tuple[Node, int]:
        """Remove a node without edges; ``index``, when the caller knows it, saves a search."""
        assert node_id not in self._edges_in and node_id not in self._edges_out, node_id
        if index is None:
            index = self.index_of(node_id)
        node = self._nodes.pop(node_id)
        self._free_label(node.label)
        self.events.node_removed.emit(node=node, index=index)
        return node, index

    def _insert_edge(self, edge: Edge, index: int | None = None, *,
                     announce: bool = True) -> None:
        """Insert ``edge`` at ``index`` (default: last). ``announce=False`` emits no event:
        only for a document nobody can be listening to yet (one being loaded)."""
        key = (edge.target, edge.target_port)
        assert key not in self._input, edge  # an input port has at most one edge
        edges, rank = self._edges, self._rank
        if index is None or index >= len(edges):
            rank[key] = self._rank_at(len(edges) - 1) + _RANK_STEP if edges else 0
            edges.append(edge)
        else:
            assert index >= 0, index
            if index == 0:
                rank[key] = self._rank_at(0) - _RANK_STEP
            else:
                low, high = self._rank_at(index - 1), self._rank_at(index)
                if high - low < 2:  # no integer between them: spread every rank out
                    for number, other in enumerate(edges):
                        rank[(other.target, other.target_port)] = number * _RANK_STEP
                    low, high = self._rank_at(index - 1), self._rank_at(index)
                rank[key] = (low + high) // 2
            edges.insert(index, edge)
        self._input[key] = edge
        self._place(self._edges_in.setdefault(edge.target, []), edge)
        self._place(self._edges_out.setdefault(edge.source, []), edge)
        if announce:
            self.events.edge_added.emit(edge=edge)

    def _delete_edge(self, edge: Edge) -> int:
        if not self.has_edge(edge):
            raise ValueError(f"{edge!r} is not in list")  # as list.index said
        index = self._locate(self._edges, edge)
        del self._edges[index]
        for lists, node_id in ((self._edges_in, edge.target), (self._edges_out, edge.source)):
            same = lists[node_id]
            del same[self._locate(same, edge)]
            if not same:
                del lists[node_id]
        key = (edge.target, edge.target_port)
        del self._input[key], self._rank[key]
        self.events.edge_removed.emit(edge=edge)
        return index

    # the indexes' helpers (see NOTE [edge indexes]) ---------------------------------------
    def _rank_at(self, index: int) -> int:
        edge = self._edges[index]
        return self._rank[(edge.target, edge.target_port)]

    def _edge_rank(self, edge: Edge) -> int:
        return self._rank[(edge.target, edge.target_port)]

    def _locate(self, edges: list[Edge], edge: Edge) -> int:
        """The index of ``edge`` in ``edges`` (a list in rank order that holds it)."""
        if edges[-1] == edge:  # the last: undoing the latest edit
            return len(edges) - 1
        index = bisect_left(edges, self._edge_rank(edge), key=self._edge_rank)
        assert edges[index] == edge, edge
        return index

    def _place(self, edges: list[Edge], edge: Edge) -> None:
        """Put ``edge`` (ranked already) into ``edges``, a list in rank order."""
        rank = self._edge_rank(edge)
        if not edges or self._edge_rank(edges[-1]) < rank:
            edges.append(edge)
        else:
            edges.insert(bisect_left(edges, rank, key=self._edge_rank), edge)

    def _free_label(self, label: str) -> None:
        """Forget a label no node uses any more; unique_label may give it out again."""
        del self._labels[label]
        for base, number in self._label_numbers.items():
            digits = label[len(base):]
            if label.startswith(base) and digits.isascii() and digits.isdigit() \
                    and digits[0] != "0" and int(digits) < number:
                self._label_numbers[base] = int(digits)

    def _set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self._nodes[node_id]
        old = node.params[name]
        node.params[name] = value
        self.events.node_changed.emit(node=node, field="params", name=name, old=old, new=value)

    def _set_label(self, node_id: str, label: str) -> None:
        node = self._nodes[node_id]
        assert self._labels.get(label, node_id) == node_id, label
        old, node.label = node.label, label
        if old != label:
            self._free_label(old)
            self._labels[label] = node_id
        self.events.node_changed.emit(node=node, field="label", name="label", old=old, new=label)

    def _set_retain_grad(self, node_id: str, value: bool) -> None:
        node = self._nodes[node_id]
        old, node.retain_grad = node.retain_grad, value
        self.events.node_changed.emit(node=node, field="retain_grad", name="retain_grad",
                                      old=old, new=value)

    def _set_hooks(self, node_id: str, hooks: list[Hook]) -> None:
        node = self._nodes[node_id]
        old, node.hooks = list(node.hooks), list(hooks)
        self.events.node_changed.emit(node=node, field="hooks", name="hooks", old=old,
                                      new=list(hooks))

    def _set_position(self, node_id: str, position: tuple[float, float]) -> None:
        node = self._nodes[node_id]
        old, node.position = node.position, position
        self.events.node_moved.emit(node=node, old=old, new=position)

    def _set_setting(self, name: str, value: Any) -> None:
        old = self._settings[name]
        self._settings[name] = value
        self.events.settings_changed.emit(name=name, old=old, new=value)

    # whole-document helpers ----------------------------------------------------------------
    def copy(self) -> GraphDocument:
        """An independent copy with the same ids (events not copied)."""
        other = GraphDocument()
        other._nodes = {node_id: node.copy() for node_id, node in self._nodes.items()}
        other._edges = list(self._edges)
        other._settings = copy.deepcopy(self._settings)
        other._counter = self._counter
        other._labels = dict(self._labels)
        other._label_numbers = dict(self._label_numbers)
        other._input = dict(self._input)
        other._rank = dict(self._rank)
        other._edges_in = {node_id: list(edges) for node_id, edges in self._edges_in.items()}
        other._edges_out = {node_id: list(edges) for node_id, edges in self._edges_out.items()}
        return other

    def to_data(self) -> dict[str, Any]:
        """Everything in the document as plain data (what :mod:`files` writes)."""
        return {
            "settings": copy.deepcopy(self._settings),
            "nodes": [
                {"id": n.id, "kind": n.kind, "label": n.label, "position": list(n.position),
                 "params": copy.deepcopy(n.params), "retain_grad": n.retain_grad,
                 "hooks": [hook.to_data() for hook in n.hooks]}
                for n in self._nodes.values()
            ],
            "edges": [{"from": [e.source, e.source_port], "to": [e.target, e.target_port]}
                      for e in self._edges],
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GraphDocument) and self.to_data() == other.to_data()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<GraphDocument: {len(self._nodes)} nodes, {len(self._edges)} edges>"


def label_base(kind: str) -> str:
    """What a new node's label starts with: ``w`` for a Parameter, ``exp`` for Exp."""
    return _SHORT_LABELS.get(kind, kind.lower())


def clean_label(label: Any) -> str:
    """The label stripped, if acceptable as text (uniqueness is the document's to check)."""
    if not isinstance(label, str) or not label.strip():
        shown = repr(label) if len(repr(label)) <= 40 else f"{repr(label)[:37]}..."
        raise DocumentError(f"a label must be non-empty text, got {shown}")
    label = label.strip()
    if len(label) > 64:
        raise DocumentError(f"label {label[:20]!r}... is longer than 64 characters")
    if _ID_PATTERN.match(label):
        raise DocumentError(f"label {label!r} looks like a node id; choose another")
    return label


def coerce_setting(name: str, value: Any) -> Any:
    if name not in SETTINGS:
        raise DocumentError(f"unknown setting {name!r}; known: {', '.join(SETTINGS)}")
    try:
        return SETTINGS[name].coerce(value)
    except ParamError as exc:
        raise DocumentError(f"setting {exc}") from None


class _ReadOnly(Mapping):
    """A read-only view of a dict, so views cannot edit the document behind its back."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:  # Mapping's would raise and catch KeyError
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)
