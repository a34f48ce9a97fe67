"""``.vgraph`` files: a graph document as JSON, written atomically, read defensively.

Layout (schema 1)::

    {"format": "visgrad-graph", "schema": 1,
     "settings": {"title": "...", "backward_node": "n7", "retain_graph": null, ...},
     "nodes": [{"id": "n1", "kind": "Parameter", "label": "w1", "position": [0, 0],
                "params": {"value": "2.0", "dtype": "float32"}, "retain_grad": false,
                "hooks": [{"kind": "print"}]}],
     "edges": [{"from": ["n1", "out"], "to": ["n3", "b"]}]}

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
import tempfile
from pathlib import Path
from typing import Any

from visgrad.document import registry
from visgrad.document.model import (
    SETTINGS,
    DocumentError,
    GraphDocument,
    Hook,
    Node,
    coerce_setting,
)
from visgrad.document.operations import Connect
from visgrad.document.params import ParamError

FORMAT = "visgrad-graph"
SCHEMA = 1
SUFFIX = ".vgraph"
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_NODES = 20_000
MAX_EDGES = 100_000

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
    text = dumps(document)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=folder)
    except OSError as exc:
        raise GraphFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
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
    if not isinstance(text, str):
        raise GraphFileError(f"{source}: expected text, got {type(text).__name__}")
    if len(text) > MAX_FILE_BYTES:
        raise GraphFileError(f"{source}: the text is {len(text):,} characters; the limit is "
                             f"{MAX_FILE_BYTES:,}")
    data = _parse_json(text, source)
    try:
        return _build(data)
    except GraphFileError as exc:
        raise GraphFileError(f"{source}: {exc}") from None


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
    for index, entry in enumerate(nodes):
        document._insert_node(_node(document, index, entry))
    for index, entry in enumerate(edges):
        _edge(document, index, entry)
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


def _node(document: GraphDocument, index: int, entry: Any) -> Node:
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
    label = entry.get("label", document.unique_label(kind_name))
    _expect(label, str, f"{where}.label", "text")
    try:
        label = document.check_label(label)
    except DocumentError as exc:
        raise GraphFileError(f"{where}: {exc}") from None
    position = entry.get("position", [0, 0])
    _expect(position, list, f"{where}.position", "[x, y]")
    if len(position) != 2:
        raise GraphFileError(f"{where}.position: expected [x, y], got {len(position)} numbers")
    for value in position:
        _expect(value, int | float, f"{where}.position", "numbers")
        if not math.isfinite(value):
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


def _edge(document: GraphDocument, index: int, entry: Any) -> None:
    where = f"edges[{index}]"
    _expect(entry, dict, where, "an object")
    if set(entry) != {"from", "to"}:
        raise GraphFileError(f"{where}: expected the fields 'from' and 'to', got "
                             f"{sorted(entry)}")
    source, source_port = _endpoint(entry["from"], f"{where}.from")
    target, target_port = _endpoint(entry["to"], f"{where}.to")
    for node_id, end in ((source, "from"), (target, "to")):
        if node_id not in document.nodes:
            raise GraphFileError(f"{where}.{end}: unknown node {node_id!r} (dangling edge)")
    try:
        Connect(source, target, target_port, source_port).apply(document)
    except DocumentError as exc:
        raise GraphFileError(f"{where}: {exc}") from None


__all__ = ["FORMAT", "SCHEMA", "GraphFileError", "dumps", "load", "loads", "save"]
