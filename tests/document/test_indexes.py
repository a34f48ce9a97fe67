"""The document's indexes (edges by node and by input port, edge ranks, labels) always equal
a recomputation from its nodes and edges: after random edits, undos and redos, after many
undos into one gap of the edge list, in a copy, and in a loaded file. Also: checking a
connection without applying it (what the canvas does while an edge is dragged) refuses
exactly what applying it would."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from tests.document.strategies import check_indexes
from visgrad.document import GraphDocument, dumps, examples, loads
from visgrad.document.model import DocumentError, Edge
from visgrad.document.operations import (
    AddNode,
    Connect,
    Disconnect,
    Macro,
    Operation,
    RemoveNodes,
    SetLabel,
    SetParam,
)

KINDS = ("Tensor", "Parameter", "Add", "Mul", "Exp", "Tanh", "Sum", "Traced")


def random_operation(doc: GraphDocument, rng: random.Random) -> Operation:
    ids = list(doc.nodes)
    choice = rng.random()
    if not ids or choice < 0.25:
        label = rng.choice((None, None, f"v{rng.randrange(8)}"))
        return AddNode(rng.choice(KINDS), label=label)
    if choice < 0.6:
        target = doc.nodes[rng.choice(ids)]
        ports = (*target.input_names(), None)
        return Connect(rng.choice(ids), target.id, rng.choice(ports))
    if choice < 0.72 and doc.edges:
        edge = rng.choice(doc.edges)
        return Disconnect(edge) if rng.random() < 0.5 else Disconnect(edge.target,
                                                                      edge.target_port)
    if choice < 0.82:
        return RemoveNodes(rng.sample(ids, min(len(ids), rng.randint(1, 3))))
    if choice < 0.9:
        traced = [node_id for node_id in ids if doc.nodes[node_id].kind == "Traced"]
        if traced:  # fewer inputs drops edges (and undo brings them back at their index)
            return SetParam(rng.choice(traced), "inputs", rng.randint(1, 4))
    if choice < 0.95:
        return SetLabel(rng.choice(ids), rng.choice(("v1", "v2", "add1", "exp1", "x")))
    return Macro("several", [random_operation(doc, rng), random_operation(doc, rng)])


@pytest.mark.parametrize("seed", range(12))
def test_indexes_follow_random_edits_undo_and_redo(seed: int) -> None:
    rng = random.Random(seed)
    doc = GraphDocument() if seed % 3 else examples.load("l1_l4_network")
    done: list[tuple[Operation, str, str]] = []
    undone: list[tuple[Operation, str, str]] = []
    for _ in range(220):
        action = rng.random()
        if action < 0.15 and done:
            operation, before, after = done.pop()
            operation.revert(doc)
            assert dumps(doc) == before
            undone.append((operation, before, after))
        elif action < 0.25 and undone:
            operation, before, after = undone.pop()
            operation.apply(doc)
            assert dumps(doc) == after
            done.append((operation, before, after))
        else:
            operation = random_operation(doc, rng)
            before = dumps(doc)
            try:
                doc.apply(operation)
            except DocumentError:
                assert dumps(doc) == before
            else:
                done.append((operation, before, dumps(doc)))
                undone.clear()
        check_indexes(doc)
    while done:  # everything undone, in order: back to the start
        operation, before, _ = done.pop()
        operation.revert(doc)
        assert dumps(doc) == before
        check_indexes(doc)


def chain(count: int) -> GraphDocument:
    doc = GraphDocument()
    previous = doc.add_node("Tensor", label="t", value="1.0")
    for _ in range(count):
        node = doc.add_node("Exp")
        doc.connect(previous, node, "x")
        previous = node
    return doc


def test_many_undos_into_one_gap_renumber_the_ranks() -> None:
    doc = chain(120)
    edges = list(doc.edges)
    before = dumps(doc)
    # the edge at index 1, again and again; undone, each goes back between the same two
    # neighbours, halving the gap in ranks until they must be renumbered
    removals = [doc.apply(Disconnect(doc.edges[1])) for _ in range(100)]
    assert [operation.index for operation in removals] == [1] * 100
    check_indexes(doc)
    for operation in reversed(removals):
        operation.revert(doc)
        check_indexes(doc)
    assert list(doc.edges) == edges and dumps(doc) == before


def test_removing_many_nodes_and_undoing_restores_order_and_indexes() -> None:
    doc = examples.load("l1_l4_network")
    for _ in range(3):
        for node in list(doc):
            if node.kind != "Tensor":
                sources = [n.id for n in doc if n.kind in ("Tensor", "Parameter")]
                for port in node.input_names():
                    if doc.input_edge(node.id, port) is None:
                        doc.connect(sources[0], node, port)
    before = dumps(doc)
    ids = list(doc.nodes)
    operation = doc.apply(RemoveNodes(ids[1::2]))
    check_indexes(doc)
    operation.revert(doc)
    check_indexes(doc)
    assert dumps(doc) == before


def test_a_copy_has_its_own_indexes() -> None:
    doc = chain(5)
    other = doc.copy()
    other.apply(RemoveNodes([list(other.nodes)[2]]))
    other.add_node("Exp", label="extra")
    check_indexes(doc)
    check_indexes(other)
    assert doc.find("extra") is None and len(doc.edges) == 5


def test_a_loaded_file_has_its_indexes() -> None:
    for name in examples.names():
        doc = loads(dumps(examples.load(name)))
        check_indexes(doc)
        doc.add_node("Exp")
        check_indexes(doc)


def test_default_labels_reuse_the_first_free_number() -> None:
    doc = GraphDocument()
    adds = [doc.add_node("Add") for _ in range(4)]
    assert [node.label for node in adds] == ["add1", "add2", "add3", "add4"]
    doc.apply(RemoveNodes([adds[1].id]))
    assert doc.add_node("Add").label == "add2"
    doc.apply(SetLabel(adds[0].id, "first"))
    assert doc.add_node("Add").label == "add1"
    assert doc.add_node("Add").label == "add5"
    doc.apply(SetLabel(adds[2].id, "add03"))  # not "add3" as unique_label writes it
    assert doc.add_node("Add").label == "add3"
    check_indexes(doc)


def trial_refusal(doc: GraphDocument, operations: list[Operation]) -> str | None:
    """What applying the operations to a copy says (the canvas's way before it checked)."""
    trial = doc.copy()
    try:
        (operations[0] if len(operations) == 1 else Macro("m", operations)).apply(trial)
    except DocumentError as exc:
        return str(exc)
    return None


def check_refusal(doc: GraphDocument, operations: list[Operation]) -> str | None:
    """What checking the operations in order says, with nothing applied."""
    disconnected: list[Edge] = []
    try:
        for operation in operations:
            disconnected.append(operation.check(doc, disconnected))
    except DocumentError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("seed", range(6))
def test_checking_a_connection_refuses_what_applying_it_refuses(seed: int) -> None:
    rng = random.Random(seed)
    doc = GraphDocument()
    while len(doc) < 10 or len(doc.edges) < 8:
        try:
            doc.apply(random_operation(doc, rng))
        except DocumentError:
            pass
    ids = list(doc.nodes)
    seen = {"refused": 0, "accepted": 0}
    for _ in range(300):
        source, target = rng.choice(ids), doc.nodes[rng.choice(ids)]
        port = rng.choice((*target.input_names(), "nope", None))
        operations: list[Operation] = []
        picked = rng.choice(doc.edges) if doc.edges and rng.random() < 0.5 else None
        if picked is not None:  # dragging an edge away by its input end
            operations.append(Disconnect(picked))
        existing = doc.input_edge(target.id, port) if port is not None else None
        if existing is not None and existing != picked:
            operations.append(Disconnect(existing))
        if rng.random() < 0.1:
            operations.append(Disconnect(Edge("n999", "out", target.id, "x")))
        operations.append(Connect(source, target.id, port, rng.choice(("out", "out", "q"))))
        before = dumps(doc)
        expected = trial_refusal(doc, operations)
        assert check_refusal(doc, operations) == expected
        assert dumps(doc) == before
        seen["refused" if expected else "accepted"] += 1
    assert seen["refused"] and seen["accepted"]


@pytest.mark.parametrize("seed", range(4))
def test_reaches_agrees_with_networkx_with_and_without_avoided_edges(seed: int) -> None:
    rng = random.Random(seed)
    doc = GraphDocument()
    ids = [doc.add_node("Traced", inputs=3).id for _ in range(30)]
    for _ in range(60):  # edges go forward in ids: a DAG
        source, target = sorted(rng.sample(range(len(ids)), 2))
        port = f"in{rng.randrange(3)}"
        if doc.input_edge(ids[target], port) is None:
            doc.connect(ids[source], ids[target], port)
    for _ in range(300):
        source, target = rng.choice(ids), rng.choice(ids)
        avoiding = rng.sample(doc.edges, rng.randint(0, 4))
        if rng.random() < 0.2:
            avoiding.append(Edge(source, "out", target, "in9"))  # not an edge: no effect
        graph = doc.graph()
        graph.remove_edges_from((e.source, e.target, e.target_port) for e in avoiding
                                if doc.has_edge(e))
        assert doc.reaches(source, target, avoiding) == nx.has_path(graph, source, target)
        assert doc.reaches(source, target) == nx.has_path(doc.graph(), source, target)


@pytest.mark.parametrize("seed", range(5))
def test_undoing_a_scattered_removal_restores_order_labels_edges_and_events(seed):
    rng = random.Random(seed)
    doc = GraphDocument()
    ids = [doc.add_node(rng.choice(["Tensor", "Add", "Mul"])).id for _ in range(60)]
    for _ in range(40):  # some edges, so that edges come back too
        a, b = rng.sample(range(60), 2)
        source, target = ids[min(a, b)], ids[max(a, b)]
        if doc.nodes[target].kind != "Tensor":
            port = rng.choice(["a", "b"])
            if doc.input_edge(target, port) is None:
                doc.connect(source, target, port)
    before = (list(doc.nodes), [doc.nodes[i].label for i in doc.nodes], list(doc.edges))
    added = []
    doc.events.node_added.connect(lambda event: added.append((event.index, event.node.id)))
    removed = rng.sample(ids, rng.randint(2, 50))
    operation = RemoveNodes(removed)
    operation.apply(doc)
    assert set(doc.nodes) == set(ids) - set(removed)
    operation.revert(doc)
    assert (list(doc.nodes), [doc.nodes[i].label for i in doc.nodes], list(doc.edges)) == before
    assert added == sorted((ids.index(node_id), node_id) for node_id in removed)
    check_indexes(doc)
