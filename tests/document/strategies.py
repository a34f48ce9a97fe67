"""Hypothesis strategies for document tests: parameter values (good and bad), hooks, labels.

Values are kept small (a few elements, a few samples) so that thousands of random steps that
run the engine stay fast; the bad values are the kinds of mistakes a user or a file makes.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import networkx as nx
from hypothesis import strategies as st

from visgrad.document import registry
from visgrad.document.model import (
    HOOK_KINDS,
    OPTIMIZERS,
    SETTINGS,
    GraphDocument,
    Hook,
    clean_label,
    coerce_setting,
    label_base,
)
from visgrad.document.params import Param

KIND_NAMES = registry.names()
SOURCE_KINDS = tuple(kind.name for kind in registry.kinds() if kind.is_source)

# What a student types into a value field, and what they should not.
VALUE_TEXTS = (
    "1.0", "2.0", "-0.5", "3", "[1.0, 2.0]", "[1.0, 2.0, 3.0]", "[[1.0, 2.0], [3.0, 4.0]]",
    "[[1.0], [2.0]]", "ones(2, 2)", "randn(3)", "randn(2, 3) * 0.1", "linspace(0, 1, 4)",
    "[1, 2, 3]", "[True, False]", "(1.0, 2.0)", "inf", "zeros(2)", "arange(3)", "eye(2)",
    "rand(2, 1)", "[]", "-nan",
)
BAD_VALUE_TEXTS = (
    "", "  ", "__import__('os').system('echo pwned')", "ones(100000, 100000)", "[1, [2]]",
    "x + 1", "open('f')", "lambda: 1", "[1, 'a']", "1 +", "().__class__", "ones(2).__class__",
    "[" * 40 + "]" * 40, "exec('1')", "{1: 2}", "f'{1}'",
)
EXPRESSIONS = (
    "x * 2", "x ** 2", "a * b", "(a + b) ** 2", "sin(x) * x", "x.sum()", "exp(x)",
    "grad_output * 2", "grad_output * 2 * x", "grad_output * b, grad_output * a", "2*x + 1",
    "where(x > 0, x, 0)", "x @ x", "sum(x)",
)
BAD_EXPRESSIONS = (
    "", "x.__class__", "__import__('os')", "lambda x: x", "x[0]", "[i for i in x]", "x if x else 1",
    "open('f')", "x +", "'text'", "x // 2",
)
NAMES = ("x", "a, b", ("a", "b"), "x, y, z", ["w"])
BAD_NAMES = ("", "grad", "a, a", "_x", "1a", "class", ["x", 3], "out")
IDENTIFIERS = ("Custom", "Square", "MyFunction")
TEXTS = ("", "UnknownBackward", "MulBackward0", "a title", "ünïcødé ∂/∂x")
LABELS = ("x", "w", "loss", "l1", "my node", "ünï", " padded ", "a" * 64)
BAD_LABELS = ("", "   ", "n1", "n42", "a" * 65, None, 3, ["x"])

# Junk any parameter may be handed: wrong types, non-finite and huge numbers, long text.
JUNK: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, -7.25, "abc", "", "none", [], {}, [1, 2], [[1], [2, 3]],
    math.nan, math.inf, -math.inf, 10**400, "1e999", "x" * 300, {"a": 1},
)


def _float(param: Param) -> st.SearchStrategy[Any]:
    low = param.minimum if param.minimum is not None else -5.0
    high = param.maximum if param.maximum is not None else low + 10.0
    numbers = st.floats(low, min(high, low + 10.0), allow_nan=False)
    return st.one_of(numbers, numbers.map(repr))


def _int(param: Param) -> st.SearchStrategy[Any]:
    low = int(param.minimum) if param.minimum is not None else -3
    high = int(param.maximum) if param.maximum is not None else low + 6
    numbers = st.integers(low, min(high, low + 6))
    return st.one_of(numbers, numbers.map(str), numbers.map(float))


def valid_value(param: Param) -> st.SearchStrategy[Any]:
    """Values a user would reasonably type for ``param`` (mostly accepted)."""
    by_type: dict[str, st.SearchStrategy[Any]] = {
        "float": _float(param),
        "int": _int(param),
        "bool": st.booleans(),
        "choice": st.sampled_from(param.choices),
        "dims": st.one_of(st.none(), st.integers(-2, 2),
                          st.lists(st.integers(-2, 2), max_size=2), st.just("0, 1")),
        "shape": st.one_of(st.lists(st.integers(-1, 4), max_size=3), st.just("2, -1")),
        "value": st.one_of(st.sampled_from(VALUE_TEXTS),
                           st.lists(st.floats(-3, 3), min_size=1, max_size=4)),
        "expression": st.sampled_from(EXPRESSIONS),
        "names": st.sampled_from(NAMES),
        "identifier": st.sampled_from(IDENTIFIERS),
        "text": st.sampled_from(TEXTS),
    }
    strategy = by_type[param.type]
    if param.optional:
        strategy = st.one_of(st.none(), strategy)
    return strategy


def bad_value(param: Param) -> st.SearchStrategy[Any]:
    """Values that are usually refused for ``param`` (junk, or typed mistakes)."""
    typed = {"value": BAD_VALUE_TEXTS, "expression": BAD_EXPRESSIONS, "names": BAD_NAMES,
             "identifier": ("", "1a", "_private", "class", "a b"),
             "choice": ("bogus", "SGD " if "SGD" in param.choices else "AUTO")}
    return st.sampled_from(typed.get(param.type, ()) + JUNK)


def param_value(param: Param) -> st.SearchStrategy[Any]:
    return st.one_of(valid_value(param), valid_value(param), bad_value(param))


def small_params(kind: registry.NodeKind) -> st.SearchStrategy[dict[str, Any]]:
    """Valid parameters for a new node: defaults, with a few replaced by typed values.

    Sources get small values so that running thousands of random graphs stays quick."""
    params = {param.name: valid_value(param) for param in kind.params}
    if kind.name == "Data":
        params["samples"] = st.integers(1, 8)
    return st.fixed_dictionaries({}, optional=params)


@st.composite
def hooks(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A hook's kind and fields, as a user or a file would give them (not always valid)."""
    kind = draw(st.sampled_from((*HOOK_KINDS, "explode")))
    number = st.one_of(st.floats(-3, 3), st.sampled_from((math.nan, math.inf, "big", None,
                                                           10**400, True)))
    fields: dict[str, Any] = {}
    if kind == "scale":
        fields["k"] = draw(number)
    elif kind == "clamp":
        fields["min"], fields["max"] = draw(number), draw(number)
    elif kind == "replace":
        fields["expression"] = draw(st.sampled_from(
            ("grad * 0.5", "grad * 2", "clamp(grad, -1, 1)", "zeros_like(grad)", "1.0",
             "grad @ grad", "grad.sum()", "__import__('os')", "grad.__class__", "", None, 5)))
    if draw(st.booleans()) and kind in {"print", "zero"}:  # a field the kind does not take
        fields[draw(st.sampled_from(("k", "min", "expression")))] = 1.0
    return kind, fields


def make_hook(kind: str, fields: dict[str, Any]) -> Hook:
    return Hook(kind, **fields)


def setting_values(name: str) -> st.SearchStrategy[Any]:
    param = SETTINGS[name]
    if name == "gradient":
        return st.one_of(st.none(), st.sampled_from(("1.0", "[1.0, 1.0]", "ones(2, 2)", "2.0",
                                                     "x", "__import__('os')")))
    if name == "optimizer":
        return st.sampled_from((*OPTIMIZERS, "Optimizer", "LBFGS", 3))
    if name == "lr":
        return st.sampled_from((0.0, 0.01, 0.1, 1.0, -1.0, math.nan, "fast", 10**400))
    if name == "steps":
        return st.sampled_from((1, 5, 1_000_000, 0, 1_000_001, 2.5))
    return param_value(param)


def check_consistent(doc: GraphDocument) -> None:
    """Everything a document promises about itself."""
    labels = [node.label for node in doc]
    assert len(set(labels)) == len(labels), labels
    for node in doc:
        assert clean_label(node.label) == node.label
        assert node.kind in registry.names()
        assert node.kind_info.coerce_params(node.params) == node.params, node
        assert all(isinstance(hook, Hook) for hook in node.hooks)
        assert all(math.isfinite(value) for value in node.position)
    taken = set()
    for edge in doc.edges:
        assert edge.source in doc.nodes and edge.target in doc.nodes, edge
        assert edge.source_port in doc.nodes[edge.source].output_names(), edge
        assert edge.target_port in doc.nodes[edge.target].input_names(), edge
        assert (edge.target, edge.target_port) not in taken, f"two edges into {edge}"
        taken.add((edge.target, edge.target_port))
    assert nx.is_directed_acyclic_graph(doc.graph())
    assert [node.id for node in doc.topological_order()] != [] or len(doc) == 0
    for name, value in doc.settings.items():
        assert coerce_setting(name, value) == value, name
    chosen = doc.settings["backward_node"]
    assert chosen is None or chosen in doc.nodes, f"backward_node {chosen} is not a node"


def check_indexes(doc: GraphDocument) -> None:
    """The document's indexes (NOTE [edge indexes] in model.py) equal what a scan of its
    nodes and edges gives, and every query built on them answers as the scan does."""
    edges = list(doc.edges)
    ids = list(doc.nodes)
    # the stored indexes, recomputed from scratch (no stale entries, nothing missing)
    into: dict[str, list] = {}
    out: dict[str, list] = {}
    for edge in edges:
        into.setdefault(edge.target, []).append(edge)
        out.setdefault(edge.source, []).append(edge)
    assert doc._edges_in == into
    assert doc._edges_out == out
    assert doc._input == {(edge.target, edge.target_port): edge for edge in edges}
    ranks = [doc._rank[(edge.target, edge.target_port)] for edge in edges]
    assert len(doc._rank) == len(edges)
    assert all(low < high for low, high in pairwise(ranks)), "ranks out of order"
    assert doc._labels == {node.label: node.id for node in doc}
    # the queries
    for index, edge in enumerate(edges):
        assert doc.has_edge(edge)
        assert doc.edge_index(edge) == index
    for node_id in ids:
        node = doc.nodes[node_id]
        assert doc.edges_into(node_id) == [e for e in edges if e.target == node_id]
        assert doc.edges_from(node_id) == [e for e in edges if e.source == node_id]
        for port in (*node.input_names(), "nope"):
            assert doc.input_edge(node_id, port) == next(
                (e for e in edges if e.target == node_id and e.target_port == port), None)
        assert doc.find(node.label) is node and doc.index_of(node_id) == ids.index(node_id)
    graph = doc.graph()
    for source in ids[:6]:
        for target in ids[-6:]:
            assert doc.reaches(source, target) == nx.has_path(graph, source, target)
    used = {node.label for node in doc}
    for kind in {node.kind for node in doc} | {"Exp", "Tensor"}:
        number = 1
        while f"{label_base(kind)}{number}" in used:
            number += 1
        assert doc.unique_label(kind) == f"{label_base(kind)}{number}", kind
