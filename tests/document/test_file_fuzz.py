"""Hostile and broken ``.vgraph`` files: each loads into a sound document or is refused with
exactly a :class:`GraphFileError` that says what and where, quickly, and never runs code.

The fuzzer mutates every shipped example and a document holding every kind of node: bytes
truncated, flipped, inserted and deleted; JSON values of the wrong type at random paths;
huge numbers, NaN and Infinity literals, deep nesting, enormous arrays and strings; unknown
kinds, dangling edges, duplicate ids, cycles, wrong schemas; other encodings, BOMs, lone
surrogates. Cases are derived from their number, so a failure names a case that replays.

``VISGRAD_FUZZ_CASES`` sets the number of cases (CI: ``DEFAULT_CASES``). Atomic saves are
tested at the end: a failed save leaves the old file as it was and says why.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import importlib
import json
import os
import random
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.document import strategies as S
from visgrad.document import (
    GraphDocument,
    GraphFileError,
    Hook,
    Session,
    dumps,
    examples,
    expressions,
    files,
    load,
    loads,
    registry,
    save,
    validation,
)
from visgrad.document.operations import AddHook, SetRetainGrad
from visgrad.document.session import SessionError

DEFAULT_CASES = 6000
CASES = int(os.environ.get("VISGRAD_FUZZ_CASES", DEFAULT_CASES))
CASE_BUDGET_S = 2.0  # every case must finish well within this (typical: a few ms)
HANG_ALARM_S = 30  # turns a real hang into a failure instead of a stuck CI job
SOURCE = "case.vgraph"
# Where a refusal may say the problem is: the first words after the file's name.
LOCATIONS = re.compile(
    r"(not valid JSON at line \d+, column \d+|not UTF-8 text \(byte \d+\)|not a visgrad graph|"
    r"'schema'|the file has schema|top level|'nodes'|'edges'|'settings'|nodes\[\d+\]|"
    r"edges\[\d+\]|settings[:.]|'[^']{0,80}'|(-?Infinity|NaN) is not valid JSON|"
    r"the JSON is nested too deeply|the file is|the text is|a number in the JSON|'format')")


# --------------------------------------------------------------------------------------------
# Seeds: every shipped example, and documents built here.


def everything() -> GraphDocument:
    """One node of every kind, wired, with hooks, retained grads and every setting changed."""
    doc = GraphDocument()
    t = doc.add_node("Tensor", label="t", value="[[1.0, 2.0], [3.0, 4.0]]",
                     requires_grad=True, position=(10.5, -3.0))
    w = doc.add_node("Parameter", label="w", value="randn(2, 2) * 0.1", dtype="float64")
    doc.add_node("Data", label="samples", formula="sin(x) * 3", samples=12, noise=0.5,
                 sampling="linspace")
    for kind in registry.kinds():
        if kind.is_source:
            continue
        params: dict[str, Any] = {}
        if kind.name == "Function":
            params = {"name": "Square", "inputs": "a, b", "forward": "a * b",
                      "backward": "grad_output * b, grad_output * a"}
        if kind.name == "Traced":
            params = {"grad_fn": "ExpandBackward0", "inputs": 3}
        node = doc.add_node(kind.name, **params)
        for index, port in enumerate(node.input_ports()):
            doc.connect(t if index % 2 == 0 else w, node, port.name)
    exp = doc.node("exp1")
    for hook in (Hook("print"), Hook("scale", k=0.5), Hook("clamp", min=-1.0, max=2.0),
                 Hook("zero"), Hook("replace", expression="grad * 2")):
        doc.apply(AddHook(exp.id, hook))
    doc.apply(AddHook(w.id, Hook("scale", k=-2.0)))
    doc.apply(SetRetainGrad(exp.id, True))
    for name, value in {"title": "∂ everything ✓", "description": "line one\nline two — ünï",
                        "gradient": "ones(2, 2)", "retain_graph": True, "create_graph": True,
                        "detect_anomaly": True, "seed": 7, "optimizer": "Adam", "lr": 0.05,
                        "steps": 10, "momentum": 0.9, "backward_node": exp.id}.items():
        doc.set_setting(name, value)
    return doc


def seeds() -> dict[str, bytes]:
    found = {path.stem: path.read_bytes()
             for path in sorted(examples.FOLDER.glob(f"*{files.SUFFIX}"))}
    assert len(found) >= 9, "the shipped examples are missing"
    found["everything"] = dumps(everything()).encode("utf-8")
    found["empty"] = dumps(GraphDocument()).encode("utf-8")
    return found


SEEDS = seeds()


# --------------------------------------------------------------------------------------------
# Mutations. Each takes the case's generator and the file's bytes and returns new bytes.

MARK = "\u0001visgrad-mark\u0001"
JUNK: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**63, -(2**63) - 1, 10**400, -(10**300), 1.5, 1e308,
    -1e308, 5e-324, float("nan"), float("inf"), float("-inf"), "", " ", "x", "n1", "n2", "out",
    "x", "a", "Mul", "Exp", "∂", "\u0000", "\ud800", "a" * 100, [], {}, [None], [0, 0],
    ["n1", "out"], ["n1", "out", "x"], {"kind": "Exp"}, {"kind": "scale", "k": 1},
    {"from": ["n1", "out"], "to": ["n2", "x"]}, [[1.0, 2.0], [3.0]],
)
TOKENS = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5000, "True", "None",
          "0x10", "01", "1.", ".5", "+1", "-", "1e", "\"", "'x'", "[", "{", "}", "]", ",",
          "//", "/* */", "undefined")
BYTES = (b"\xff", b"\xfe", b"\x00", b"\x80", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80",
         b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b'"', b"\\", b"\\u", b"\\ud800", b"{", b"[", b"}",
         b"]", b",", b":", b"\n", b"\t", b" ")
CODE = ("__import__('os').system('echo pwned')", "open('/etc/passwd').read()",
        "exec('import os')", "eval('1 + 1')", "(lambda: 1)()", "().__class__.__bases__",
        "import os", "breakpoint()", "globals()", "!!python/object/apply:os.system [echo]")


def parse(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))


def paths(data: Any) -> list[tuple[Any, ...]]:
    """Every path into the JSON data (keys and list indices), the root excluded."""
    found, stack = [], [((), data)]
    while stack:
        path, value = stack.pop()
        children = value.items() if isinstance(value, dict) else enumerate(value) \
            if isinstance(value, list) else ()
        for key, child in children:
            found.append((*path, key))
            stack.append(((*path, key), child))
    return found


def at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def put(data: Any, path: tuple[Any, ...], value: Any) -> None:
    at(data, path[:-1])[path[-1]] = value


def encode(data: Any, raw: dict[str, str] | None = None) -> bytes:
    """JSON text (NaN and Infinity written as such), with MARK strings replaced by raw text."""
    text = json.dumps(data, ensure_ascii=False)
    for placeholder, replacement in (raw or {}).items():
        text = text.replace(json.dumps(placeholder, ensure_ascii=False), replacement)
    return text.encode("utf-8", "backslashreplace")  # a lone surrogate as a \\ud800 escape


def structural(change: Callable[[random.Random, Any], dict[str, str] | None]) \
        -> Callable[[random.Random, bytes], bytes]:
    """A mutation of the parsed JSON (bytes that do not parse get a byte mutation)."""

    def mutate(rng: random.Random, raw: bytes) -> bytes:
        try:
            data = parse(raw)
        except (ValueError, RecursionError):
            return flip(rng, raw)
        if not isinstance(data, dict):
            return flip(rng, raw)
        try:
            replacements = change(rng, data)
        except (KeyError, IndexError, TypeError, AttributeError):  # an earlier mutation
            return flip(rng, raw)  # changed the shape this one expects
        return encode(data, replacements)

    mutate.__name__ = change.__name__
    return mutate


def random_path(rng: random.Random, data: Any, prefix: tuple[Any, ...] = ()) -> tuple:
    candidates = [path for path in paths(data) if path[:len(prefix)] == prefix]
    return rng.choice(candidates) if candidates else rng.choice(paths(data) or [("x",)])


# byte level --------------------------------------------------------------------------------
def truncate(rng: random.Random, raw: bytes) -> bytes:
    return raw[:rng.randrange(len(raw))] if raw else raw


def flip(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw or b" ")
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def insert_bytes(rng: random.Random, raw: bytes) -> bytes:
    where = rng.randrange(len(raw) + 1)
    inserted = b"".join(rng.choice(BYTES) for _ in range(rng.randint(1, 4)))
    return raw[:where] + inserted + raw[where:]


def delete_bytes(rng: random.Random, raw: bytes) -> bytes:
    start = rng.randrange(len(raw) + 1)
    return raw[:start] + raw[start + rng.randint(1, 64):]


def duplicate_bytes(rng: random.Random, raw: bytes) -> bytes:
    start = rng.randrange(len(raw) + 1)
    piece = raw[start:start + rng.randint(1, 200)]
    where = rng.randrange(len(raw) + 1)
    return raw[:where] + piece + raw[where:]


def replace_token(rng: random.Random, raw: bytes) -> bytes:
    text = raw.decode("utf-8", "replace")
    spots = [m.span() for m in re.finditer(r"true|false|null|-?\d+(\.\d+)?([eE][-+]?\d+)?", text)]
    if not spots:
        return insert_bytes(rng, raw)
    start, end = rng.choice(spots)
    return (text[:start] + rng.choice(TOKENS) + text[end:]).encode("utf-8")


def other_encoding(rng: random.Random, raw: bytes) -> bytes:
    text = raw.decode("utf-8", "replace")
    choice = rng.randrange(6)
    if choice == 0:
        return b"\xef\xbb\xbf" + raw  # UTF-8 with a BOM (Notepad): accepted
    if choice == 1:
        return text.encode("utf-16")  # with its BOM
    if choice == 2:
        return text.encode("utf-16-le")
    if choice == 3:
        return text.encode("utf-32")
    if choice == 4:
        return text.encode("latin-1", "replace") + b"\xe9"
    return b"\xef\xbb\xbf\xef\xbb\xbf" + raw  # two BOMs: the second one is not JSON


# JSON level --------------------------------------------------------------------------------
@structural
def wrong_type(rng: random.Random, data: Any) -> None:
    put(data, random_path(rng, data), rng.choice(JUNK))


@structural
def delete_field(rng: random.Random, data: Any) -> None:
    path = random_path(rng, data)
    del at(data, path[:-1])[path[-1]]


@structural
def unknown_field(rng: random.Random, data: Any) -> None:
    containers = [path for path in paths(data) if isinstance(at(data, path), dict)] + [()]
    at(data, rng.choice(containers))[rng.choice(("extra", "__class__", "", "id", "Kind"))] = 1


@structural
def huge_number(rng: random.Random, data: Any) -> dict[str, str]:
    numbers = [path for path in paths(data)
               if isinstance(at(data, path), int | float) and not isinstance(at(data, path), bool)]
    put(data, rng.choice(numbers or [random_path(rng, data)]), MARK)
    return {MARK: rng.choice(("1" + "0" * 400, "1" + "0" * 5000, "1e400", "-1e400",
                              "123456789012345678901234567890", "1e-400", "-0", "NaN",
                              "Infinity", "-Infinity", "9" * 4300))}


@structural
def deep_nesting(rng: random.Random, data: Any) -> dict[str, str]:
    depth = rng.choice((50, 200, 5_000, 200_000))
    put(data, random_path(rng, data), MARK)
    opening, closing = rng.choice((("[", "]"), ('{"a":', "}")))
    return {MARK: opening * depth + "1" + closing * depth}


@structural
def enormous(rng: random.Random, data: Any) -> dict[str, str] | None:
    size = rng.choice((10_000, 100_000, 1_000_000))
    kind = rng.randrange(6)
    accepted_size = min(size, 30_000)  # what may load is parsed several times per case
    if kind == 0:  # more nodes or edges than the limits
        key, limit = rng.choice((("nodes", files.MAX_NODES), ("edges", files.MAX_EDGES)))
        data[key] = MARK
        return {MARK: "[" + ",".join(["{}"] * (limit + 1)) + "]"}
    if kind == 1:  # a long list where a short one is expected
        put(data, random_path(rng, data), MARK)
        return {MARK: "[" + ",".join(["0"] * accepted_size) + "]"}
    if kind == 2:  # a long string anywhere
        put(data, random_path(rng, data), "é" * size)
        return None
    if kind == 3:  # a big but valid JSON value for a tensor
        source = [n for n in data.get("nodes", []) if isinstance(n, dict)
                  and n.get("kind") in ("Tensor", "Parameter")]
        if source:
            source[0].setdefault("params", {})["value"] = json.dumps([0.5] * accepted_size)
        return None
    if kind == 4:  # a long Python-style literal: refused over the limit, with a hint
        put(data, random_path(rng, data), "(" + "1, " * (size // 3) + ")")
        return None
    put(data, random_path(rng, data), [list(range(10))] * (accepted_size // 10))
    return None


@structural
def unknown_kind(rng: random.Random, data: Any) -> None:
    nodes = [n for n in data.get("nodes", []) if isinstance(n, dict)]
    if nodes:
        rng.choice(nodes)["kind"] = rng.choice(
            ("Conv2d", "mul", "", "Exp ", "__import__", *registry.names()))


@structural
def dangling_edge(rng: random.Random, data: Any) -> None:
    edges = [e for e in data.get("edges", []) if isinstance(e, dict)]
    nodes = [n for n in data.get("nodes", []) if isinstance(n, dict)]
    if edges and rng.random() < 0.6:
        edge = rng.choice(edges)
        end = rng.choice(("from", "to"))
        edge[end] = [rng.choice(("n999", "", "n1", "N1")), edge[end][1]]
    elif nodes:
        nodes.remove(rng.choice(nodes))  # drop a node that edges may still name
        data["nodes"] = nodes


@structural
def duplicate_ids(rng: random.Random, data: Any) -> None:
    nodes = [n for n in data.get("nodes", []) if isinstance(n, dict)]
    edges = data.get("edges", [])
    if len(nodes) >= 2 and rng.random() < 0.5:
        first, second = rng.sample(nodes, 2)
        second["id"] = first.get("id")
    elif nodes and rng.random() < 0.5:
        data["nodes"].append(dict(rng.choice(nodes)))
    elif edges:
        edges.append(rng.choice(edges))


@structural
def rewire(rng: random.Random, data: Any) -> None:
    """Point an edge at another node or port: cycles, taken ports, unknown ports."""
    edges = [e for e in data.get("edges", []) if isinstance(e, dict)]
    nodes = [n.get("id") for n in data.get("nodes", []) if isinstance(n, dict)]
    if not edges or not nodes:
        return
    edge = rng.choice(edges)
    if rng.random() < 0.5:
        edge["from"], edge["to"] = [edge["to"][0], "out"], [edge["from"][0], "x"]
    else:
        edge[rng.choice(("from", "to"))] = [rng.choice(nodes), rng.choice(
            ("out", "x", "a", "b", "input", "target", "y", "t1", "in0", "q"))]


@structural
def schema_and_format(rng: random.Random, data: Any) -> None:
    key = rng.choice(("schema", "format"))
    data[key] = rng.choice((0, -1, 2, 999, 1.0, "1", True, None, 10**100, 1.5, [1],
                            "visgrad-graph ", "VISGRAD-GRAPH", "", "visgrad"))
    if rng.random() < 0.2:
        del data[key]


@structural
def code_in_strings(rng: random.Random, data: Any) -> None:
    strings = [path for path in paths(data) if isinstance(at(data, path), str)]
    for path in rng.sample(strings, min(len(strings), rng.randint(1, 3))):
        put(data, path, rng.choice(CODE))


@structural
def lone_surrogate(rng: random.Random, data: Any) -> None:
    strings = [path for path in paths(data) if isinstance(at(data, path), str)]
    if strings:
        path = rng.choice(strings)
        put(data, path, at(data, path) + rng.choice(("\ud800", "\udfff", "\ud83d")))


# Changes a file may survive: odd but valid content, so that the "loaded" path is exercised
# with more than the seeds themselves.
ODD_TEXT = ("ünïcødé", "∂L/∂w", "\u202eright-to-left", "zero\u200bwidth", "😀", "tab\there",
            "a\nb", "  spaced  ", "x" * 64, "null", "NaN", "<script>", "'; DROP TABLE", "%s%n")


def reformat(rng: random.Random, raw: bytes) -> bytes:
    """The same data written another way: indentation, key order, escapes, whitespace."""
    try:
        data = parse(raw)
    except (ValueError, RecursionError):
        return flip(rng, raw)
    text = json.dumps(data, indent=rng.choice((None, 0, 2, "\t")), sort_keys=rng.random() < .5,
                      ensure_ascii=rng.random() < 0.5, separators=rng.choice(
                          ((",", ":"), (", ", ": "), (" ,\n", " :\t"))))
    return (" \n\t" + text + "\n\n").encode("utf-8", "backslashreplace")


@structural
def shuffle(rng: random.Random, data: Any) -> None:
    for key in ("nodes", "edges"):
        if isinstance(data.get(key), list):
            rng.shuffle(data[key])


@structural
def drop_optional(rng: random.Random, data: Any) -> None:
    nodes = [n for n in data.get("nodes", []) if isinstance(n, dict)]
    choice = rng.randrange(3)
    if choice == 0 and nodes:
        node = rng.choice(nodes)
        for key in rng.sample(("label", "position", "params", "retain_grad", "hooks"), 2):
            node.pop(key, None)
    elif choice == 1 and isinstance(data.get("settings"), dict) and data["settings"]:
        del data["settings"][rng.choice(sorted(data["settings"]))]
    else:
        data.pop(rng.choice(("settings", "edges", "nodes")), None)


@structural
def remove_node_cleanly(rng: random.Random, data: Any) -> None:
    nodes = [n for n in data.get("nodes", []) if isinstance(n, dict)]
    if not nodes:
        return
    gone = rng.choice(nodes).get("id")
    data["nodes"] = [n for n in nodes if n.get("id") != gone]
    data["edges"] = [e for e in data.get("edges", [])
                     if gone not in (e.get("from", [None])[0], e.get("to", [None])[0])]
    if data.get("settings", {}).get("backward_node") == gone:
        data["settings"]["backward_node"] = None


@structural
def odd_values(rng: random.Random, data: Any) -> None:
    nodes = [n for n in data.get("nodes", []) if isinstance(n, dict)]
    for node in rng.sample(nodes, min(len(nodes), 3)):
        choice = rng.randrange(4)
        if choice == 0:
            node["position"] = [rng.choice((0, -0.0, 1e308, -1e308, 5e-324, 2**53, 1.5)),
                                rng.uniform(-1e6, 1e6)]
        elif choice == 1:
            node["label"] = rng.choice(ODD_TEXT) + str(rng.randrange(10**6))
        elif choice == 2 and node.get("kind") in ("Tensor", "Parameter"):
            node.setdefault("params", {})["value"] = rng.choice(S.VALUE_TEXTS)
        else:
            param = rng.choice(registry.get(node.get("kind")).params) \
                if node.get("kind") in registry.names() and \
                registry.get(node.get("kind")).params else None
            if param is not None:
                node.setdefault("params", {})[param.name] = rng.choice(
                    (param.default, *param.choices, *S.JUNK[:8]))
    if isinstance(data.get("settings"), dict):
        data["settings"][rng.choice(("title", "description"))] = rng.choice(ODD_TEXT)


MUTATIONS = (
    truncate, flip, insert_bytes, delete_bytes, duplicate_bytes, replace_token, other_encoding,
    wrong_type, wrong_type, wrong_type, delete_field, unknown_field, huge_number, unknown_kind,
    dangling_edge, duplicate_ids, rewire, rewire, schema_and_format, code_in_strings,
    lone_surrogate, deep_nesting,
)
SURVIVABLE = (reformat, shuffle, drop_optional, remove_node_cleanly, odd_values)
RARE = (enormous,)  # slower to build and to parse: a few percent of the cases, applied last


def make_case(number: int) -> tuple[str, bytes]:
    rng = random.Random(f"visgrad-fuzz-{number}")
    seed = rng.choice(sorted(SEEDS))
    raw = SEEDS[seed]
    names = []
    count = rng.choice((1, 1, 1, 2, 3))
    for index in range(count):
        if index == count - 1 and rng.random() < 0.02:
            mutation = rng.choice(RARE)
        elif rng.random() < 0.3:
            mutation = rng.choice(SURVIVABLE)
        else:
            mutation = rng.choice(MUTATIONS)
        raw = mutation(rng, raw)
        names.append(mutation.__name__)
    return f"case {number}: {seed} + {' + '.join(names)}", raw


# --------------------------------------------------------------------------------------------
# What every case must satisfy.


class CaseTimeout(BaseException):
    """A case ran past the alarm (BaseException: code under test may catch Exception)."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Interrupt the case after ``seconds`` (where SIGALRM exists and this is the main
    thread); the elapsed-time assertion applies everywhere."""
    if not hasattr(signal, "setitimer") or \
            signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None):
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"still running after {seconds} s")

    try:
        previous = signal.signal(signal.SIGALRM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_refusal(error: GraphFileError) -> None:
    message = str(error)
    assert type(error) is GraphFileError, type(error)
    assert message.startswith(f"{SOURCE}: "), message
    detail = message[len(SOURCE) + 2:]
    assert LOCATIONS.match(detail), f"the message does not say where: {message[:300]}"
    assert len(detail) > 20, message
    assert len(message) <= files.MAX_MESSAGE_CHARS + len(SOURCE) + 60, message[:300]
    assert "Traceback" not in message


def check_loaded(doc: GraphDocument, tmp_path: Path, number: int) -> None:
    S.check_consistent(doc)
    report = validation.validate(doc)
    assert {message.node_id for message in report.messages} <= set(doc.nodes)
    text = dumps(doc)
    again = loads(text)
    assert again == doc and dumps(again) == text
    if number % 20 == 0:  # through a real file now and then (fsync is slow on some disks)
        path = tmp_path / "again.vgraph"
        save(doc, path)
        assert load(path) == doc
    again.add_node("Exp")  # the reopened graph can be edited and saved again
    assert loads(dumps(again)) == again
    if number % 7 == 0:  # and run: engine errors come back as StepErrors, never exceptions
        session = Session(doc, max_elements=10_000)
        assert session.run_backward() is None or session.error is not None
        with contextlib.suppress(SessionError):
            session.train(steps=2)
        assert dumps(doc) == text


def run_case(name: str, raw: bytes, tmp_path: Path, number: int = 1) -> str:
    started = time.perf_counter()
    try:
        with alarm(HANG_ALARM_S):
            try:
                doc = loads(raw, source=SOURCE)
            except GraphFileError as error:
                check_refusal(error)
                outcome = "refused"
            else:
                check_loaded(doc, tmp_path, number)
                outcome = "loaded"
    except (Exception, CaseTimeout) as exc:  # name the case, so it can be replayed
        raise AssertionError(f"{name}: {type(exc).__name__}: {str(exc)[:500]}\n"
                             f"file begins: {raw[:300]!r}") from exc
    elapsed = time.perf_counter() - started
    assert elapsed < CASE_BUDGET_S, f"{name} took {elapsed:.2f} s"
    return outcome


def test_every_mutated_file_loads_soundly_or_is_refused_clearly(tmp_path: Path) -> None:
    outcomes = {"loaded": 0, "refused": 0}
    by_mutation: dict[str, set[str]] = {}
    for number in range(CASES):
        name, raw = make_case(number)
        outcome = run_case(name, raw, tmp_path, number)
        outcomes[outcome] += 1
        for mutation in name.split(": ", 1)[1].split(" + ")[1:]:
            by_mutation.setdefault(mutation, set()).add(outcome)
    print(f"file fuzz: {CASES} cases, {outcomes['loaded']} loaded, "
          f"{outcomes['refused']} refused")
    assert sum(outcomes.values()) == CASES >= min(CASES, DEFAULT_CASES)
    assert outcomes["loaded"] > CASES // 20 and outcomes["refused"] > CASES // 2
    for mutation in ("wrong_type", "rewire", "huge_number", "duplicate_ids", "other_encoding"):
        assert by_mutation[mutation] == {"loaded", "refused"}, mutation


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_loads_runs_and_round_trips(name: str, tmp_path: Path) -> None:
    assert run_case(name, SEEDS[name], tmp_path) == "loaded"
    session = Session(loads(SEEDS[name]), max_elements=10_000)
    error = session.run_backward()
    assert error is None or name in ("everything", "empty"), error


# --------------------------------------------------------------------------------------------
# Targeted hostile files.


def corrupt(seed: str, change: Callable[[Any], Any]) -> bytes:
    data = parse(SEEDS[seed])
    raw = change(data)
    return raw if isinstance(raw, bytes) else encode(data)


def refusal(raw: bytes | str) -> str:
    with pytest.raises(GraphFileError) as info:
        loads(raw, source=SOURCE)
    check_refusal(info.value)
    return str(info.value)


HOSTILE: dict[str, tuple[Callable[[Any], Any], str]] = {
    "huge int position": (lambda d: d["nodes"][0].update(position=[10**400, 0]),
                          "position: numbers must be finite"),
    "huge int hook k": (lambda d: d["nodes"][4].update(hooks=[{"kind": "scale", "k": 10**400}]),
                        "hook 'k' must be a finite number"),
    "huge int setting": (lambda d: d["settings"].update(lr=10**400),
                         "integer too large for a float"),
    "huge int param": (lambda d: d["nodes"][4]["params"].update(scalar=10**400),
                       "parameter 'scalar': expected a finite number"),
    "int of 5000 digits": (lambda d: encode(d).replace(b'"schema": 1', b'"schema": 1'
                                                                        + b"0" * 5000),
                           "a number in the JSON has more than 4,300 digits"),
    "NaN": (lambda d: encode(d).replace(b'"schema": 1', b'"schema": NaN'),
            "NaN is not valid JSON"),
    "deep nesting": (lambda d: encode(d).replace(b'"nodes": [', b'"nodes": ' + b"[" * 100_000),
                     "the JSON is nested too deeply"),
    "long kind": (lambda d: d["nodes"][0].update(kind="K" * 1_000_000), "unknown kind 'KKKK"),
    "lone surrogate": (lambda d: d["settings"].update(title="\ud800"),
                       "settings.title: the text holds an unpaired surrogate"),
    "two BOMs": (lambda d: b"\xef\xbb\xbf\xef\xbb\xbf" + encode(d), "not valid JSON at line 1"),
    "UTF-16": (lambda d: json.dumps(d).encode("utf-16"), "not UTF-8 text (byte 0)"),
    "too many nodes": (lambda d: d.update(nodes=[{}] * (files.MAX_NODES + 1)),
                       "'nodes': 20,001 nodes; the limit is 20,000"),
    "too many edges": (lambda d: d.update(edges=[{}] * (files.MAX_EDGES + 1)),
                       "'edges': 100,001 edges; the limit is 100,000"),
    "long Python literal": (lambda d: d["nodes"][1]["params"].update(
        value="(" + "1, " * 40_000 + ")"), "write large values as JSON lists"),
    "id n²": (lambda d: d["nodes"][0].update(id="n²"), "edges[0].from: unknown node 'n1'"),
}


@pytest.mark.parametrize("change, message", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_file_is_refused_with_a_clear_message(change: Any, message: str) -> None:
    started = time.perf_counter()
    text = refusal(corrupt("l1_l4_network", change))
    assert message in text, text
    assert time.perf_counter() - started < CASE_BUDGET_S


def test_a_utf8_bom_is_accepted() -> None:
    raw = SEEDS["l1_l4_network"]
    assert loads(b"\xef\xbb\xbf" + raw) == loads(raw) == loads("\ufeff" + raw.decode())


def test_odd_ids_load_and_the_document_stays_saveable(tmp_path: Path) -> None:
    ids = {"n1": "n²", "n2": "n" + "9" * 63, "n3": "٣", "n4": "n007", "n5": "node five"}
    data = parse(SEEDS["l1_l4_network"])
    for node in data["nodes"]:
        node["id"] = ids.get(node["id"], node["id"])
    for edge in data["edges"]:
        for end in ("from", "to"):
            edge[end][0] = ids.get(edge[end][0], edge[end][0])
    doc = loads(encode(data))
    added = doc.add_node("Exp")
    assert len(added.id) <= 64 and added.id not in ids.values()
    save(doc, tmp_path / "odd.vgraph")
    assert load(tmp_path / "odd.vgraph") == doc


def test_formula_text_has_a_budget_per_file(monkeypatch: Any) -> None:
    monkeypatch.setattr(files, "MAX_PARSED_CHARS", 60_000)  # the mechanism, quickly
    data = parse(SEEDS["custom_functions"])
    formula = " + ".join(["sin(x) * x"] * 500)  # 6,500 characters: within one field's limit
    data["nodes"] = [{"id": f"n{i}", "kind": "Function",
                      "params": {"forward": formula, "backward": formula}}
                     for i in range(1, 20)]
    data["edges"], data["settings"] = [], {}
    text = refusal(encode(data))
    assert text.startswith(f"{SOURCE}: nodes[4] (n5, Function): parameter 'backward': ")
    assert "more than 60,000 characters of formulas and Python-style values in all" in text
    data["nodes"][4:] = []
    assert len(loads(encode(data))) == 4  # the budget is per file, not per process
    assert files.MAX_PARSED_CHARS > 0


def test_a_big_valid_file_loads_and_validates_in_linear_time() -> None:
    count = 6_000  # took 40 s before loading was made linear; now well under a second
    nodes = [{"id": "n1", "kind": "Parameter"}] + [
        {"id": f"n{i}", "kind": "Function" if i % 2 else "Traced",
         "params": {"inputs": "x"} if i % 2 else {"inputs": 3}} for i in range(2, count + 1)]
    edges = [{"from": [f"n{i - 1}", "out"], "to": [f"n{i}", "x" if i % 2 else "in0"]}
             for i in range(2, count + 1)]
    edges += [{"from": ["n1", "out"], "to": [f"n{i}", "in1"]} for i in range(2, count + 1, 2)]
    raw = encode({"format": "visgrad-graph", "schema": 1, "nodes": nodes, "edges": edges})
    started = time.perf_counter()
    doc = loads(raw)
    validation.validate(doc)
    elapsed = time.perf_counter() - started
    assert len(doc) == count and len(doc.edges) == len(edges)
    assert elapsed < 8.0, f"{count:,} nodes took {elapsed:.1f} s (quadratic again?)"
    # the same file with a last edge closing a cycle through every node names that edge
    edges.append({"from": [f"n{count}", "out"], "to": ["n2", "in2"]})
    raw = encode({"format": "visgrad-graph", "schema": 1, "nodes": nodes, "edges": edges})
    text = refusal(raw)
    assert text.startswith(f"{SOURCE}: edges[{len(edges) - 1}]: connecting ")
    assert "would make a cycle" in text


# --------------------------------------------------------------------------------------------
# A file full of Python code is inert data, and loading it imports and runs nothing.

PAYLOADS = (
    "__import__('os').system('touch {sentinel}')",
    "open('{sentinel}', 'w').write('pwned')",
    "exec(\"open('{sentinel}', 'w')\")",
    "eval(\"open('{sentinel}', 'w')\")",
    "(lambda: open('{sentinel}', 'w'))()",
    "().__class__.__bases__[0].__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "import os; os.system('touch {sentinel}')",
    "$(touch {sentinel})",
    "!!python/object/apply:os.system ['touch {sentinel}']",
    "{{'__reduce__': (os.system, ('touch {sentinel}',))}}",
    "ones(2).__class__",
    "grad.__class__.__init__.__globals__",
)


@contextlib.contextmanager
def nothing_may_run(sentinel: Path) -> Iterator[None]:
    """Inside the block, importing anything new, eval, exec, compiling to code, opening files
    and starting processes all fail loudly. ``ast.parse`` (compile with PyCF_ONLY_AST) works,
    and so does an ``import`` statement naming a module already imported (``ast.walk`` and
    the session import lazily): it binds a name and runs nothing."""
    import ast  # noqa: PLC0415

    modules = set(sys.modules)
    real_import, real_compile = builtins.__import__, builtins.compile
    real_import_module = importlib.import_module
    calls: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            calls.append(f"{name}{args[:1]}")
            raise RuntimeError(f"{name} was called while loading a file")
        return refused

    def guarded_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in modules:
            return real_import(name, *args, **kwargs)
        calls.append(f"import {name}")
        raise ImportError(f"import {name} while loading a file")

    def guarded_compile(source: Any, filename: Any, mode: Any, flags: int = 0,
                        *args: Any, **kwargs: Any) -> Any:
        if not flags & ast.PyCF_ONLY_AST:
            calls.append("compile")
            raise RuntimeError("compile to code while loading a file")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    patches = [
        (builtins, "__import__", guarded_import), (builtins, "compile", guarded_compile),
        (builtins, "eval", refuse("eval")), (builtins, "exec", refuse("exec")),
        (builtins, "open", refuse("open")), (builtins, "breakpoint", refuse("breakpoint")),
        (os, "system", refuse("os.system")), (os, "popen", refuse("os.popen")),
        (subprocess, "Popen", refuse("subprocess.Popen")),
        (importlib, "import_module", lambda name, *args: real_import_module(name, *args)
         if name in modules else refuse("importlib.import_module")(name)),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
    assert calls == [], calls
    assert set(sys.modules) == modules, sorted(set(sys.modules) - modules)
    assert not sentinel.exists(), "a file's text was executed"


def string_paths(data: Any) -> list[tuple[Any, ...]]:
    return [path for path in paths(data) if isinstance(at(data, path), str)]


def test_python_code_in_every_string_field_is_inert_or_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    base = parse(SEEDS["everything"])
    # Warm up outside the guard: the session imports the engine on first use, and networkx
    # compiles its decorators' wrappers on a function's first call (its own code, not ours).
    warm = loads(SEEDS["everything"])
    Session(warm).run_backward()
    validation.validate(warm)
    fields = string_paths(base)
    loaded = refused = 0
    for number, payload in enumerate(PAYLOADS):
        code = payload.format(sentinel=sentinel)
        variants = []
        for index, path in enumerate(fields):  # each field gets the first payload and one other
            if number not in (0, index % len(PAYLOADS)):
                continue
            data = parse(SEEDS["everything"])
            put(data, path, code)
            variants.append((path, encode(data)))
        everything_at_once = parse(SEEDS["everything"])
        for path in fields:
            put(everything_at_once, path, code)
        variants.append((("all",), encode(everything_at_once)))
        for path, raw in variants:
            with nothing_may_run(sentinel):
                try:
                    doc = loads(raw, source=SOURCE)
                except GraphFileError as error:
                    check_refusal(error)
                    refused += 1
                    continue
            loaded += 1
            if path != ("all",):  # the text is kept exactly, as data
                data = doc.to_data()
                assert code in {at(data, p) for p in string_paths(data)}
            if number < 3:  # and running the graph runs none of it either
                with nothing_may_run(sentinel):
                    session = Session(doc, max_elements=10_000)
                    session.run_backward()
                    validation.validate(doc)
    assert loaded and refused
    print(f"code in strings: {loaded} files loaded as inert data, {refused} refused")


# --------------------------------------------------------------------------------------------
# Atomic saves: a failed save leaves the old file exactly as it was, and says why.


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, bytes, GraphDocument]:
    path = tmp_path / "graph.vgraph"
    save(examples.load("l1_l4_network"), path)
    return path, path.read_bytes(), examples.load("mlp_classifier")


def assert_intact(path: Path, old: bytes) -> None:
    assert path.read_bytes() == old
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a temporary file was left"


def test_save_into_a_read_only_folder(saved: Any) -> None:
    path, old, doc = saved
    if sys.platform == "win32" or os.geteuid() == 0:
        pytest.skip("root (or Windows) may write into a read-only folder; simulated next")
    path.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(GraphFileError, match=r"cannot write: Permission denied"):
            save(doc, path)
    finally:
        path.parent.chmod(stat.S_IRWXU)
    assert_intact(path, old)


def test_save_when_the_folder_refuses_a_new_file(saved: Any, monkeypatch: Any) -> None:
    path, old, doc = saved

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    with pytest.raises(GraphFileError) as info:
        save(doc, path)
    assert str(info.value) == f"{path}: cannot write: Permission denied"
    assert_intact(path, old)


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"), PermissionError(errno.EACCES,
                                                                      "Permission denied"),
    OSError(errno.EXDEV, "Invalid cross-device link"), OSError(errno.EIO, "Input/output error"),
])
def test_save_when_replacing_fails(saved: Any, monkeypatch: Any, error: OSError) -> None:
    path, old, doc = saved

    def failing_replace(source: Any, target: Any) -> None:
        raise error

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(GraphFileError) as info:
        save(doc, path)
    assert str(info.value) == f"{path}: cannot write: {error.strerror}"
    assert_intact(path, old)


class _FullDisk:
    """A file object that writes half of what it is given, then reports a full disk."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        self.stream.write(data[:len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def test_save_on_a_full_disk(saved: Any, monkeypatch: Any) -> None:
    path, old, doc = saved
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
    with pytest.raises(GraphFileError) as info:
        save(doc, path)
    assert str(info.value) == f"{path}: cannot write: No space left on device"
    assert_intact(path, old)


def test_save_when_flushing_to_disk_fails(saved: Any, monkeypatch: Any) -> None:
    path, old, doc = saved

    def failing_fsync(handle: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(GraphFileError, match="cannot write: Input/output error"):
        save(doc, path)
    assert_intact(path, old)


def test_save_interrupted_midway_leaves_the_old_file(saved: Any, monkeypatch: Any) -> None:
    path, old, doc = saved

    def interrupted(handle: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):  # not swallowed, not turned into a file error
        save(doc, path)
    assert_intact(path, old)


def test_save_a_document_utf8_cannot_store(saved: Any) -> None:
    path, old, doc = saved
    doc.set_setting("title", "half an emoji \ud83d")
    with pytest.raises(GraphFileError, match="cannot write: the document holds text"):
        save(doc, path)
    assert_intact(path, old)


def test_save_into_a_missing_folder_or_onto_a_folder(tmp_path: Path) -> None:
    doc = examples.load("chain_rule")
    missing = tmp_path / "missing" / "graph.vgraph"
    with pytest.raises(GraphFileError, match="cannot write: ") as info:
        save(doc, missing)
    assert str(info.value).startswith(f"{missing}: cannot write: ")  # and the system's reason
    (tmp_path / "folder.vgraph").mkdir()
    with pytest.raises(GraphFileError, match="cannot write: "):
        save(doc, tmp_path / "folder.vgraph")
    assert (tmp_path / "folder.vgraph").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.vgraph"]
    with pytest.raises(GraphFileError, match="cannot read: "):
        load(tmp_path / "folder.vgraph")


def test_a_successful_save_keeps_the_files_permissions(saved: Any) -> None:
    path, _, doc = saved
    path.chmod(0o600)
    save(doc, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(path) == doc
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_limits_are_module_settings_with_clear_messages(monkeypatch: Any) -> None:
    monkeypatch.setattr(expressions.limits, "max_elements", 1000)
    text = refusal(corrupt("l1_l4_network", lambda d: d["nodes"][1]["params"].update(
        value="ones(100, 100)")))
    assert "nodes[1] (n2, Parameter): parameter 'value'" in text
    assert "10,000 elements; the limit is 1,000" in text
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
    assert "the file is" in refusal(SEEDS["everything"])
