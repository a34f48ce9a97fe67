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

from collections.abc import Mapping
from itertools import combinations

import networkx as nx

from visgrad.document.model import GraphDocument
from visgrad.document.operations import MoveNodes

LAYER_SPACING = 220.0
ROW_SPACING = 110.0


def compute_layout(document: GraphDocument, *, layer_spacing: float = LAYER_SPACING,
                   row_spacing: float = ROW_SPACING,
                   sweeps: int = 12) -> dict[str, tuple[float, float]]:
    """Positions for every node (the document is not changed)."""
    graph = nx.DiGraph()
    insertion = {node_id: index for index, node_id in enumerate(document.nodes)}
    graph.add_nodes_from(document.nodes)
    graph.add_edges_from((edge.source, edge.target) for edge in document.edges)
    if not graph:
        return {}
    layers = _layers(graph, insertion)
    ordered, neighbours_up, neighbours_down = _with_dummies(graph, layers, insertion)
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


def _layers(graph: nx.DiGraph, insertion: Mapping[str, int]) -> dict[str, int]:
    order = list(nx.lexicographical_topological_sort(graph, key=insertion.__getitem__))
    layer: dict[str, int] = {}
    for node in order:
        layer[node] = max((layer[p] + 1 for p in graph.predecessors(node)), default=0)
    for node in order:  # sources move right, next to their first consumer
        successors = list(graph.successors(node))
        if graph.in_degree(node) == 0 and successors:
            layer[node] = min(layer[s] for s in successors) - 1
    return layer


def _with_dummies(graph: nx.DiGraph, layers: dict[str, int],
                  insertion: Mapping[str, int]) -> tuple[list[list[object]], dict, dict]:
    """Layers as lists, with a dummy per layer a long edge passes through."""
    count = max(layers.values()) + 1
    ordered: list[list[object]] = [[] for _ in range(count)]
    for node in sorted(graph, key=insertion.__getitem__):
        ordered[layers[node]].append(node)
    up: dict[object, list[object]] = {}
    down: dict[object, list[object]] = {}
    for source, target in graph.edges:
        chain: list[object] = [source]
        for layer in range(layers[source] + 1, layers[target]):
            dummy = ("dummy", source, target, layer)
            ordered[layer].append(dummy)
            chain.append(dummy)
        chain.append(target)
        for a, b in zip(chain, chain[1:], strict=False):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
    return ordered, up, down


def _reduce_crossings(ordered: list[list[object]], up: dict, down: dict,
                      sweeps: int) -> list[list[object]]:
    best = [list(layer) for layer in ordered]
    best_crossings = _total_crossings(best, down)
    current = [list(layer) for layer in ordered]
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for index in indices:
            fixed = current[index - 1] if downward else current[index + 1]
            neighbours = up if downward else down
            position = {node: i for i, node in enumerate(fixed)}
            layer = current[index]

            def barycentre(node: object, layer: list[object] = layer,
                           position: dict = position, neighbours: dict = neighbours) -> float:
                linked = [position[n] for n in neighbours.get(node, ()) if n in position]
                return sum(linked) / len(linked) if linked else float(layer.index(node))

            current[index] = sorted(layer, key=barycentre)
        crossings = _total_crossings(current, down)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in current], crossings
        if best_crossings == 0:
            break
    return best


def _total_crossings(ordered: list[list[object]], down: dict) -> int:
    total = 0
    for upper, lower in zip(ordered, ordered[1:], strict=False):
        position = {node: i for i, node in enumerate(lower)}
        pairs = sorted((i, position[t]) for i, node in enumerate(upper)
                       for t in down.get(node, ()) if t in position)
        total += _inversions([target for _, target in pairs], pairs)
    return total


def _inversions(targets: list[int], pairs: list[tuple[int, int]]) -> int:
    """Pairs of edges that cross between two layers (same source or target: no crossing)."""
    count = 0
    for (s1, t1), (s2, t2) in combinations(pairs, 2):
        if s1 != s2 and t1 != t2 and (s1 - s2) * (t1 - t2) < 0:
            count += 1
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
