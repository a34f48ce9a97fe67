"""``.vgraph`` files: a graph document as JSON, written atomically, read defensively.

Layout (schema 1)::

    {"format": "visgrad-graph", "schema": 1,
     "settings": {"title": "...", "backward_node": "n7", "retain_graph": null, ...},
     "nodes": [{"id": "n1", "kind": "Parameter", "label": "w1", "position": [0, 0],
                "params": {"value": "2.0", "dtype": "float32"}, "retain_grad": false,
                "hooks": [{"kind": "print"}]}],
     "edges": [{"from": ["n1", "out"], "to": ["n3", "b"]}]}

Only ``format``, ``schema`` and each node's ``id`` and ``kind`` are required. Nodes without a
``position`` (a file written by a script) are placed by the auto-layout when the file is read,
and so are all nodes when they all share one position (a document built in code and saved).

Kinds are registry names; every value is data (tensor values are literal text such as
``"[1.0, 2.0]"`` or ``"randn(3, 4)"``, parsed by the safe parser, never evaluated as code).

Example::

    >>> from visgrad.document import GraphDocument, dumps, loads
    >>> doc = GraphDocument()
    >>> _ = doc.add_node("Tensor", label="x", value="[1, 2, 3]")
    >>> loads(dumps(doc)) == doc
    True

NOTE [all or nothing]: loading builds a fresh document and returns it only once every node,
edge and setting has been checked, so a bad file can never leave a half-built graph on the
canvas. Everything wrong with a file is a :class:`GraphFileError` naming what and where.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from visgrad.document import collector, expressions, layout, registry
from visgrad.document.model import (
    SETTINGS,
    DocumentError,
    Edge,
    GraphDocument,
    Hook,
    Node,
    clean_label,
    coerce_setting,
    label_base,
)
from visgrad.document.operations import Connect
from visgrad.document.params import ParamError

FORMAT = "visgrad-graph"
SCHEMA = 1
SUFFIX = ".vgraph"
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_NODES = 20_000
MAX_EDGES = 100_000
# Formulas and Python-style values are parsed with ``ast`` (~2 µs a character): a cap on the
# total per file keeps a hostile file from freezing the app for minutes (JSON values are
# parsed separately and do not count). Real graphs use a few thousand characters.
MAX_PARSED_CHARS = 1_000_000
MAX_MESSAGE_CHARS = 600

_NODE_FIELDS = {"id", "kind", "label", "position", "params", "retain_grad", "hooks"}
_TOP_FIELDS = {"format", "schema", "settings", "nodes", "edges"}


class GraphFileError(ValueError):
    """A ``.vgraph`` file (or string) that cannot be loaded or saved; says what and where."""


def dumps(document: GraphDocument) -> str:
    """The document as ``.vgraph`` JSON text."""
    data = {"format": FORMAT, "schema": SCHEMA, **document.to_data()}
    try:
        return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:
        raise GraphFileError(f"cannot write the document: {exc}") from None


def save(document: GraphDocument, path: str | os.PathLike[str]) -> None:
    """Write ``document`` to ``path`` atomically: a crash mid-way leaves the old file intact.

    The text goes to a temporary file in the same folder, is flushed to disk, then replaces
    the target in one ``os.replace``.
    """
    path = Path(path)
    try:
        encoded = dumps(document).encode("utf-8")
    except UnicodeEncodeError as exc:  # a label or value holding a lone surrogate
        raise GraphFileError(f"{path}: cannot write: the document holds text that UTF-8 "
                             f"cannot store ({exc.object[exc.start]!r})") from None
    folder = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=folder)
    except OSError as exc:
        raise GraphFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(encoded)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as exc:
        with _suppress_os_error():
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise GraphFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


class _suppress_os_error:  # noqa: N801 - used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> bool:
        return kind is not None and issubclass(kind, OSError)


def load(path: str | os.PathLike[str]) -> GraphDocument:
    """Read a ``.vgraph`` file; :class:`GraphFileError` for anything wrong with it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise GraphFileError(f"{path}: the file is {size:,} bytes; the limit is "
                                 f"{MAX_FILE_BYTES:,}")
        raw = path.read_bytes()
    except OSError as exc:
        raise GraphFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return loads(raw, source=str(path))


def loads(text: str | bytes, *, source: str = "<string>") -> GraphDocument:
    """Build a document from ``.vgraph`` text; :class:`GraphFileError` if it is not valid."""
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_FILE_BYTES:
            raise GraphFileError(f"{source}: the file is {len(text):,} bytes; the limit is "
                                 f"{MAX_FILE_BYTES:,}")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GraphFileError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    if isinstance(text, str):
        text = text.removeprefix("\ufeff")  # the BOM Windows editors put before UTF-8 text
    if not isinstance(text, str):
        raise GraphFileError(f"{source}: expected text, got {type(text).__name__}")
    if len(text) > MAX_FILE_BYTES:
        raise GraphFileError(f"{source}: the text is {len(text):,} characters; the limit is "
                             f"{MAX_FILE_BYTES:,}")
    with collector.paused():  # the JSON and the document: many objects, all kept
        data = _parse_json(text, source)
        try:
            if _SURROGATE.search(text):
                _refuse_surrogates(data)
            with expressions.parse_budget(MAX_PARSED_CHARS):
                return _build(data)
        except GraphFileError as exc:
            raise GraphFileError(_shorten(f"{source}: {exc}")) from None


def _shorten(message: str) -> str:
    """A readable message even when it quotes a megabyte of hostile text: keep both ends."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    head = MAX_MESSAGE_CHARS * 2 // 3
    tail = MAX_MESSAGE_CHARS - head - 40
    return f"{message[:head]} ... [{len(message) - head - tail:,} characters] ... " \
           f"{message[-tail:]}"


# A lone UTF-16 surrogate, escaped ("\ud800") or raw: JSON lets a file spell one, but UTF-8
# cannot store it, so a document holding one could be opened and never saved again.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def _refuse_surrogates(data: Any) -> None:
    stack: list[tuple[Any, str]] = [(data, "top level")]
    while stack:
        value, where = stack.pop()
        # named as the rest of the loader names them: 'nodes', then nodes[3].label
        inside = where.strip("'") if where in ("'nodes'", "'edges'", "'settings'") else where
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, f"{where}: a field name"))
                stack.append((item, f"'{key}'" if where == "top level" else f"{inside}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, f"{inside}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise GraphFileError(f"{where}: the text holds an unpaired surrogate "
                                     f"({value[exc.start]!r}), which UTF-8 cannot store") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        stripped = text.strip()
        truncated = exc.pos >= len(text.rstrip()) or (
            stripped.startswith("{") and not stripped.endswith("}"))
        hint = " (the file looks truncated)" if truncated else ""
        raise GraphFileError(f"{source}: not valid JSON at line {exc.lineno}, column "
                             f"{exc.colno}: {exc.msg}{hint}") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # not "use sys.set_int_max_str_digits()"
            raise GraphFileError(f"{source}: a number in the JSON has more than "
                                 f"{sys.get_int_max_str_digits():,} digits") from None
        raise GraphFileError(f"{source}: {exc}") from None
    except RecursionError:
        raise GraphFileError(f"{source}: the JSON is nested too deeply") from None


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and kind is not bool and bool not in (
            kind if isinstance(kind, tuple) else (kind,)):
        raise GraphFileError(f"{where}: expected {what}, got {json.dumps(value)}")
    if not isinstance(value, kind):
        shown = json.dumps(value) if not isinstance(value, dict | list) else type(value).__name__
        raise GraphFileError(f"{where}: expected {what}, got {shown[:60]}")
    return value


def _build(data: Any) -> GraphDocument:
    _expect(data, dict, "top level", "an object")
    if data.get("format") != FORMAT:
        raise GraphFileError(f"not a visgrad graph: 'format' is {json.dumps(data.get('format'))}"
                             f", expected \"{FORMAT}\"")
    schema = data.get("schema")
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise GraphFileError(f"'schema' must be a whole number ≥ 1, got {json.dumps(schema)}")
    if schema > SCHEMA:
        raise GraphFileError(f"the file has schema {schema}, written by a newer visgrad; this "
                             f"version reads schema {SCHEMA} and older. Update visgrad to "
                             "open it")
    unknown = set(data) - _TOP_FIELDS
    if unknown:
        raise GraphFileError(f"top level: unknown field {sorted(unknown)[0]!r}")
    nodes = _expect(data.get("nodes", []), list, "'nodes'", "a list")
    edges = _expect(data.get("edges", []), list, "'edges'", "a list")
    settings = _expect(data.get("settings", {}), dict, "'settings'", "an object")
    if len(nodes) > MAX_NODES:
        raise GraphFileError(f"'nodes': {len(nodes):,} nodes; the limit is {MAX_NODES:,}")
    if len(edges) > MAX_EDGES:
        raise GraphFileError(f"'edges': {len(edges):,} edges; the limit is {MAX_EDGES:,}")

    document = GraphDocument()
    labels = _Labels()
    unplaced = []
    for index, entry in enumerate(nodes):
        node = _node(document, index, entry, labels)
        document._insert_node(node)
        if "position" not in entry:
            unplaced.append(node.id)
    _edges(document, edges)
    if len(document.nodes) > 1 and len({node.position for node in document}) == 1:
        unplaced = list(document.nodes)  # a document built in code and saved: all at (0, 0)
    if unplaced:  # else they would all sit on top of each other
        positions = layout.compute_layout(document)
        for node_id in unplaced:
            document._set_position(node_id, positions[node_id])
    for name, value in settings.items():
        if name not in SETTINGS:
            raise GraphFileError(f"settings: unknown setting {name!r}")
        try:
            document._set_setting(name, coerce_setting(name, value))
        except DocumentError as exc:
            raise GraphFileError(f"settings: {exc}") from None
    chosen = document.settings["backward_node"]
    if chosen is not None and chosen not in document.nodes:
        raise GraphFileError(f"settings: backward_node {chosen!r} is not a node of the file")
    return document


class _Labels:
    """Labels of the nodes read so far, so that a file of 20,000 nodes loads in linear time
    (``GraphDocument.check_label`` and ``unique_label`` scan every node)."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.next_number: dict[str, int] = {}

    def fresh(self, kind: str) -> str:
        """What ``unique_label`` gives: labels are only added, so the first free number
        never goes down."""
        base = label_base(kind)
        number = self.next_number.get(base, 1)
        while f"{base}{number}" in self.owners:
            number += 1
        self.next_number[base] = number
        return f"{base}{number}"

    def take(self, label: Any, node_id: str) -> str:
        label = clean_label(label)
        if label in self.owners:
            raise DocumentError(f"label {label!r} is already used by node "
                                f"{self.owners[label]}")
        self.owners[label] = node_id
        return label


def _node(document: GraphDocument, index: int, entry: Any, labels: _Labels) -> Node:
    where = f"nodes[{index}]"
    _expect(entry, dict, where, "an object")
    unknown = set(entry) - _NODE_FIELDS
    if unknown:
        raise GraphFileError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    for required in ("id", "kind"):
        if required not in entry:
            raise GraphFileError(f"{where}: missing {required!r}")
    node_id = _expect(entry["id"], str, f"{where}.id", "text")
    if not node_id or len(node_id) > 64:
        raise GraphFileError(f"{where}.id: must be 1 to 64 characters")
    where = f"nodes[{index}] ({node_id})"
    if node_id in document.nodes:
        raise GraphFileError(f"{where}: duplicate id {node_id!r}")
    kind_name = _expect(entry["kind"], str, f"{where}.kind", "text")
    try:
        kind = registry.get(kind_name)
    except KeyError:
        raise GraphFileError(f"{where}: unknown kind {kind_name!r}") from None
    where = f"nodes[{index}] ({node_id}, {kind_name})"
    params = _expect(entry.get("params", {}), dict, f"{where}.params", "an object")
    try:
        params = kind.coerce_params(params)
    except ParamError as exc:
        raise GraphFileError(f"{where}: {exc}") from None
    label = entry["label"] if "label" in entry else labels.fresh(kind_name)
    _expect(label, str, f"{where}.label", "text")
    try:
        label = labels.take(label, node_id)
    except DocumentError as exc:
        raise GraphFileError(f"{where}: {exc}") from None
    position = entry.get("position", [0, 0])
    _expect(position, list, f"{where}.position", "[x, y]")
    if len(position) != 2:
        raise GraphFileError(f"{where}.position: expected [x, y], got {len(position)} numbers")
    for value in position:
        _expect(value, int | float, f"{where}.position", "numbers")
        try:  # float() of a huge int overflows: not finite either
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite:
            raise GraphFileError(f"{where}.position: numbers must be finite")
    retain_grad = _expect(entry.get("retain_grad", False), bool, f"{where}.retain_grad",
                          "true or false")
    hooks_data = _expect(entry.get("hooks", []), list, f"{where}.hooks", "a list")
    hooks = []
    for number, hook in enumerate(hooks_data):
        _expect(hook, dict, f"{where}.hooks[{number}]", "an object")
        try:
            hooks.append(Hook.from_data(hook))
        except (DocumentError, TypeError) as exc:
            raise GraphFileError(f"{where}.hooks[{number}]: {exc}") from None
    return Node(node_id, kind_name, params, label, (float(position[0]), float(position[1])),
                retain_grad, hooks)


def _endpoint(value: Any, where: str) -> tuple[str, str]:
    _expect(value, list, where, "[node id, port]")
    if len(value) != 2 or not all(isinstance(part, str) for part in value):
        raise GraphFileError(f"{where}: expected [node id, port], got {json.dumps(value)[:60]}")
    return value[0], value[1]


def _edges(document: GraphDocument, entries: list[Any]) -> None:
    """Add the file's edges, refusing what :class:`Connect` refuses, with its messages.

    NOTE [linear loading]: ``Connect`` looks for a cycle from each edge it adds, which can
    visit the whole graph each time. Here taken ports are a set and cycles are looked for
    once at the end, in linear time; only a refused edge goes through ``Connect``, for its
    message (and only then does networkx find the cycle to name).
    """
    nodes = document.nodes
    taken: set[tuple[str, str]] = set()
    inputs: dict[str, frozenset[str]] = {}
    outputs: dict[str, tuple[str, ...]] = {}
    for index, entry in enumerate(entries):
        edge = _edge(nodes, index, entry)
        if edge.target not in inputs:
            inputs[edge.target] = frozenset(nodes[edge.target].input_names())
        if edge.source not in outputs:
            outputs[edge.source] = nodes[edge.source].output_names()
        if (edge.source_port not in outputs[edge.source]
                or edge.target_port not in inputs[edge.target]
                or (edge.target, edge.target_port) in taken):
            _refuse(document, index, edge)
        taken.add((edge.target, edge.target_port))
        document._insert_edge(edge, announce=False)  # a fresh document: nobody listens
    if _has_cycle(document):
        # The cycle's edge that comes last in the file closed it: Connect would refuse it.
        graph = document.graph()
        cycle = {(source, target, port) for source, target, port in nx.find_cycle(graph)}
        index = max(i for i, e in enumerate(document.edges)
                    if (e.source, e.target, e.target_port) in cycle)
        edge = document.edges[index]
        document._delete_edge(edge)
        _refuse(document, index, edge)


def _has_cycle(document: GraphDocument) -> bool:
    """Whether the edges make a cycle (Kahn's algorithm: linear, no networkx graph)."""
    waiting = dict.fromkeys(document.nodes, 0)
    children: dict[str, list[str]] = {}
    for edge in document.edges:
        waiting[edge.target] += 1
        children.setdefault(edge.source, []).append(edge.target)
    ready = [node_id for node_id, count in waiting.items() if not count]
    done = 0
    while ready:
        done += 1
        for child in children.get(ready.pop(), ()):
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    return done != len(waiting)


def _refuse(document: GraphDocument, index: int, edge: Edge) -> None:
    try:
        Connect(edge.source, edge.target, edge.target_port, edge.source_port).apply(document)
    except DocumentError as exc:
        raise GraphFileError(f"edges[{index}]: {exc}") from None
    raise AssertionError(f"edges[{index}]: Connect accepted an edge the loader refused")


def _edge(nodes: Mapping[str, Node], index: int, entry: Any) -> Edge:
    where = f"edges[{index}]"
    _expect(entry, dict, where, "an object")
    if set(entry) != {"from", "to"}:
        raise GraphFileError(f"{where}: expected the fields 'from' and 'to', got "
                             f"{sorted(entry)}")
    source, source_port = _endpoint(entry["from"], f"{where}.from")
    target, target_port = _endpoint(entry["to"], f"{where}.to")
    for node_id, end in ((source, "from"), (target, "to")):
        if node_id not in nodes:
            raise GraphFileError(f"{where}.{end}: unknown node {node_id!r} (dangling edge)")
    return Edge(source, source_port, target, target_port)


__all__ = ["FORMAT", "SCHEMA", "GraphFileError", "dumps", "load", "loads", "save"]
