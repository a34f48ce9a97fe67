"""Automatic layout: layers left to right by topological generation, few edge crossings.

A layered (Sugiyama-style) layout, small enough to read:

1. each node's layer is its longest distance from a source; a source sits just left of its
   first consumer, so constants stay next to what uses them;
2. an edge spanning several layers gets invisible dummy nodes, one per layer it crosses;
3. barycentre sweeps (down, then up, repeated) reorder each layer by the mean position of its
   neighbours, keeping the ordering with the fewest crossings seen;
4. x comes from the layer, y from the order, each layer centred on y = 0.

Example::

    >>> from visgrad.document import examples, layout
    >>> doc = examples.load("l1_l4_network")
    >>> operation = layout.auto_layout(doc)     # one undoable MoveNodes
    >>> layout.count_crossings(doc)
    0
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from collections.abc import Mapping
from itertools import combinations, pairwise

from visgrad.document.model import GraphDocument
from visgrad.document.operations import MoveNodes

LAYER_SPACING = 220.0
ROW_SPACING = 110.0
SWEEP_BUDGET = 20_000  # edge segments visited by all sweeps together, at most
DUMMY_BUDGET = 50_000  # dummy nodes at most: NOTE [long edges]


def compute_layout(document: GraphDocument, *, layer_spacing: float = LAYER_SPACING,
                   row_spacing: float = ROW_SPACING,
                   sweeps: int = 12) -> dict[str, tuple[float, float]]:
    """Positions for every node (the document is not changed)."""
    if not document.nodes:
        return {}
    # successors and predecessors as a networkx DiGraph holds them (insertion order, parallel
    # edges merged), without building one: on 10,000 nodes that alone took a tenth of a second
    successors: dict[str, dict[str, None]] = {node_id: {} for node_id in document.nodes}
    predecessors: dict[str, dict[str, None]] = {node_id: {} for node_id in document.nodes}
    for edge in document.edges:
        successors[edge.source][edge.target] = None
        predecessors[edge.target][edge.source] = None
    layers = _layers(successors, predecessors)
    ordered, neighbours_up, neighbours_down = _with_dummies(successors, layers)
    ordered = _reduce_crossings(ordered, neighbours_up, neighbours_down, sweeps)
    positions = {}
    for layer_index, layer in enumerate(ordered):
        top = -(len(layer) - 1) / 2
        for row, node in enumerate(layer):
            if isinstance(node, str):
                positions[node] = (layer_index * layer_spacing, (top + row) * row_spacing)
    return positions


def auto_layout(document: GraphDocument, **options: float) -> MoveNodes:
    """Lay the document out and return the applied (undoable) :class:`MoveNodes`."""
    return document.apply(MoveNodes(compute_layout(document, **options)))


def _layers(successors: Mapping[str, Mapping[str, None]],
            predecessors: Mapping[str, Mapping[str, None]]) -> dict[str, int]:
    """Longest distance from a source (any topological order gives the same layers)."""
    waiting = {node: len(before) for node, before in predecessors.items()}
    ready = deque(node for node, count in waiting.items() if count == 0)
    order = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for child in successors[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) != len(waiting):
        raise ValueError("cannot lay out a graph with a cycle")
    layer: dict[str, int] = {}
    for node in order:
        layer[node] = max((layer[p] + 1 for p in predecessors[node]), default=0)
    for node in order:  # sources move right, next to their first consumer
        if not predecessors[node] and successors[node]:
            layer[node] = min(layer[s] for s in successors[node]) - 1
    return layer


def _with_dummies(successors: Mapping[str, Mapping[str, None]],
                  layers: dict[str, int]) -> tuple[list[list[object]], dict, dict]:
    """Layers as lists (nodes in insertion order), with a dummy per layer a long edge passes
    through."""
    count = max(layers.values()) + 1
    ordered: list[list[object]] = [[] for _ in range(count)]
    for node in successors:
        ordered[layers[node]].append(node)
    up: dict[object, list[object]] = {}
    down: dict[object, list[object]] = {}
    longest = _longest_span(successors, layers)
    for source, targets in successors.items():
        for target in targets:
            if layers[target] - layers[source] - 1 > longest:
                continue
            chain: list[object] = [source]
            for layer in range(layers[source] + 1, layers[target]):
                dummy = ("dummy", source, target, layer)
                ordered[layer].append(dummy)
                chain.append(dummy)
            chain.append(target)
            for a, b in pairwise(chain):
                down.setdefault(a, []).append(b)
                up.setdefault(b, []).append(a)
    return ordered, up, down


def _longest_span(successors: Mapping[str, Mapping[str, None]], layers: dict[str, int]) -> int:
    """How many layers an edge may pass through and still get its dummies.

    NOTE [long edges]: a node feeding every other node of a long chain (a constant used at
    each step) has edges through thousands of layers; their dummies grow with the square of
    the graph (6,000 nodes: 9 million, two minutes). Past the budget, the longest edges get
    no dummies and no say in the order of the layers they pass: they are drawn all the same.
    """
    spans = sorted(layers[target] - layers[source] - 1
                   for source, targets in successors.items() for target in targets)
    total = 0
    for span in spans:
        total += span
        if total > DUMMY_BUDGET:  # edges this long and longer go without
            return span - 1
    return spans[-1] if spans else 0


def _reduce_crossings(ordered: list[list[object]], up: dict, down: dict,
                      sweeps: int) -> list[list[object]]:
    # NOTE [layout cost]: a sweep costs one barycentre per node and dummy plus one crossing
    # count per edge segment, so big graphs get fewer sweeps (at least two: down and up);
    # most of the reduction comes from the first few anyway.
    segments = sum(len(targets) for targets in down.values())
    sweeps = min(sweeps, max(2, SWEEP_BUDGET // max(1, segments)))
    best = [list(layer) for layer in ordered]
    best_crossings = _total_crossings(best, down)
    current = [list(layer) for layer in ordered]
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        neighbours = up if downward else down
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for index in indices:
            fixed = current[index - 1] if downward else current[index + 1]
            position = {node: i for i, node in enumerate(fixed)}
            layer = current[index]
            keys = {}
            for own, node in enumerate(layer):
                linked = [position[n] for n in neighbours.get(node, ()) if n in position]
                keys[node] = sum(linked) / len(linked) if linked else float(own)
            current[index] = sorted(layer, key=keys.__getitem__)
        crossings = _total_crossings(current, down)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in current], crossings
        if best_crossings == 0:
            break
    return best


def _total_crossings(ordered: list[list[object]], down: dict) -> int:
    total = 0
    for upper, lower in pairwise(ordered):
        position = {node: i for i, node in enumerate(lower)}
        pairs = sorted((i, position[t]) for i, node in enumerate(upper)
                       for t in down.get(node, ()))  # a link joins neighbouring layers
        total += _inversions([target for _, target in pairs])
    return total


def _inversions(targets: list[int]) -> int:
    """Pairs of edges that cross between two layers, given the edges' lower ends in the order
    of their upper ends (ties by lower end): pairs i < j with targets[i] > targets[j]. Edges
    sharing an end never count. O(n log n) bisects plus C-speed inserts."""
    seen: list[int] = []
    count = 0
    for number, target in enumerate(targets):
        count += number - bisect_right(seen, target)
        insort(seen, target)
    return count


def count_crossings(document: GraphDocument,
                    positions: Mapping[str, tuple[float, float]] | None = None) -> int:
    """How many pairs of edges cross, drawn as straight lines between node positions."""
    if positions is None:
        positions = {node.id: node.position for node in document}
    segments = {(e.source, e.target) for e in document.edges}
    count = 0
    for (a, b), (c, d) in combinations(sorted(segments), 2):
        if len({a, b, c, d}) < 4:
            continue
        if _segments_cross(positions[a], positions[b], positions[c], positions[d]):
            count += 1
    return count


def _segments_cross(p1: tuple[float, float], p2: tuple[float, float],
                    p3: tuple[float, float], p4: tuple[float, float]) -> bool:
    def orientation(a: tuple[float, float], b: tuple[float, float],
                    c: tuple[float, float]) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2 = orientation(p3, p4, p1), orientation(p3, p4, p2)
    d3, d4 = orientation(p1, p2, p3), orientation(p1, p2, p4)
    return d1 * d2 < 0 and d3 * d4 < 0
