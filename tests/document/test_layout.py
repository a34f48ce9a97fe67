"""Layout: layers by topological generation, few crossings, fast on 200 nodes, undoable."""

import random
import time

from visgrad.document import GraphDocument, dumps, examples, layout


def chain_with_branches(count, seed=0):
    """A random DAG of ``count`` nodes: sources, then ops fed by earlier nodes."""
    rng = random.Random(seed)
    doc = GraphDocument()
    nodes = [doc.add_node("Tensor", label=f"s{i}") for i in range(10)]
    while len(nodes) < count:
        op = doc.add_node("Add", label=f"op{len(nodes)}")
        first, second = rng.sample(nodes[-25:], 2)
        doc.connect(first, op, "a")
        doc.connect(second, op, "b")
        nodes.append(op)
    return doc


def test_layers_go_left_to_right():
    doc = examples.load("l1_l4_network")
    positions = layout.compute_layout(doc)
    for edge in doc.edges:
        assert positions[edge.source][0] < positions[edge.target][0]
    x = {doc.nodes[node_id].label: position[0] for node_id, position in positions.items()}
    assert x["l1"] < x["l2"] < x["l4"] < x["loss"]
    assert x["w2"] == x["l1"]  # a source sits just before its first consumer


def test_examples_lay_out_without_crossings():
    for name in examples.names():
        doc = examples.load(name)
        assert layout.count_crossings(doc) == 0, name


def test_crossing_reduction_beats_insertion_order():
    doc = chain_with_branches(60, seed=3)
    naive = {}
    for layer_x, nodes in _naive_layers(doc).items():
        for row, node_id in enumerate(nodes):
            naive[node_id] = (layer_x, row)
    assert layout.count_crossings(doc, layout.compute_layout(doc)) < \
        layout.count_crossings(doc, naive)


def _naive_layers(doc):
    positions = layout.compute_layout(doc)
    layers = {}
    for node in doc:  # same layers, rows in insertion order
        layers.setdefault(positions[node.id][0], []).append(node.id)
    return layers


def test_two_hundred_nodes_fast_and_stored_undoably():
    doc = chain_with_branches(200)
    before = dumps(doc)
    start = time.perf_counter()
    operation = layout.auto_layout(doc)
    assert time.perf_counter() - start < 3.0
    positions = {node.id: node.position for node in doc}
    assert len(set(positions.values())) == 200  # no two nodes on top of each other
    operation.revert(doc)
    assert dumps(doc) == before


def test_a_hub_feeding_a_long_chain_gets_a_bounded_number_of_dummies():
    """NOTE [long edges]: one constant used at every step of a 3,000-step chain would need
    4.5 million dummies; the longest edges go without."""
    doc = GraphDocument()
    hub = doc.add_node("Parameter", label="c")
    previous = doc.add_node("Parameter", label="x")
    chain = []
    for step in range(3000):
        node = doc.add_node("Add", label=f"s{step}")
        doc.connect(previous, node, "a")
        doc.connect(hub, node, "b")
        chain.append(node.id)
        previous = node
    successors = {node_id: {} for node_id in doc.nodes}
    predecessors = {node_id: {} for node_id in doc.nodes}
    for edge in doc.edges:
        successors[edge.source][edge.target] = None
        predecessors[edge.target][edge.source] = None
    layers = layout._layers(successors, predecessors)
    ordered, _, _ = layout._with_dummies(successors, layers)
    dummies = sum(1 for layer in ordered for item in layer if not isinstance(item, str))
    assert 0 < dummies <= layout.DUMMY_BUDGET
    positions = layout.compute_layout(doc)
    assert set(positions) == set(doc.nodes)
    assert len(set(positions.values())) == len(positions)
    xs = [positions[node_id][0] for node_id in chain]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)  # the chain runs left to right
