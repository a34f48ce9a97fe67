"""What keeps the canvas fluid on big graphs, checked by what it does (never by time).

Level of detail (the view draws an overview when zoomed out, no card item paints), items
made only where they are shown or touched, steps and edits that refresh only the cards they
concern, the validation kept up to date edit by edit, and the layout's crossing count.
"""

from __future__ import annotations

import gc
import random
import time
from itertools import combinations
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QUndoStack
from PySide6.QtWidgets import QLabel

from visgrad.document import GraphDocument, Session, examples, layout, validation
from visgrad.document.model import DocumentError
from visgrad.document.operations import (
    AddNode,
    Connect,
    Disconnect,
    MoveNodes,
    RemoveNodes,
    SetLabel,
    SetParam,
    SetSetting,
)
from visgrad.qt import theme
from visgrad.qt.canvas import items
from visgrad.qt.canvas import scene as canvas_scene
from visgrad.qt.canvas.items import SIMPLE_BELOW, NodeItem
from visgrad.qt.canvas.overview import LABELS_FROM, LINES_BELOW
from visgrad.qt.canvas.scene import GraphScene
from visgrad.qt.canvas.view import GraphView
from visgrad.qt.undo import DocumentEditor


def layered_graph(layers: int = 12, width: int = 10, seed: int = 0) -> GraphDocument:
    """Tensor sources, then layers of Add/Mul/Tanh reading the layer before, laid out."""
    rng = random.Random(seed)
    doc = GraphDocument()
    previous = [doc.add_node("Tensor", label=f"x{i}", value="[1.0, 2.0]",
                             requires_grad=True).id for i in range(width)]
    for layer in range(layers):
        current = []
        for column in range(width):
            kind = rng.choice(["Add", "Mul", "Tanh"])
            node = doc.add_node(kind, label=f"{kind.lower()}_{layer}_{column}")
            for port in (("a", "b") if kind != "Tanh" else ("x",)):
                doc.connect(rng.choice(previous), node, port)
            current.append(node.id)
        previous = current
    total = doc.add_node("Add", label="total")
    doc.connect(previous[0], total, "a")
    doc.connect(previous[1], total, "b")
    loss = doc.add_node("Sum", label="loss")
    doc.connect(total, loss, "x")
    doc.apply(MoveNodes(layout.compute_layout(doc)))
    return doc


@pytest.fixture
def canvas(qtbot, qapp):
    """A view on a scene of a document, shown (offscreen); ``canvas(doc)`` makes one."""
    made = []

    def make(doc: GraphDocument) -> tuple[GraphScene, GraphView]:
        theme.apply("light")
        session = Session(doc)
        scene = GraphScene(session, DocumentEditor(doc, QUndoStack()))
        view = GraphView(scene)
        view.resize(800, 600)
        qtbot.addWidget(view)
        view.show()
        view.fit_to_view()  # as the window does on opening
        qapp.processEvents()  # the first flush: validation's badges and edge labels
        made.append(scene)
        return scene, view

    yield make
    for scene in made:
        scene.detach()


def show_at(view: GraphView, zoom: float, centre: QPointF | None = None) -> None:
    view.resetTransform()
    view.scale(zoom, zoom)
    view.centerOn(centre or view.graph_scene().items_bounding_rect().center())
    view.viewport().grab()


# level of detail ----------------------------------------------------------------------------

def test_zoomed_out_the_view_draws_the_overview_and_no_card(canvas):
    scene, view = canvas(layered_graph())
    items.paint_counts.reset()
    overview = scene.overview
    frames, texts = view.overview_frames, overview.texts_drawn
    show_at(view, 0.1)
    assert view.overview_frames > frames and overview.frames >= 1
    assert items.paint_counts.detailed == 0 and items.paint_counts.edges == 0
    assert overview.texts_drawn == texts  # under LABELS_FROM: boxes without text
    frames = view.overview_frames
    show_at(view, (LABELS_FROM + SIMPLE_BELOW) / 2)
    assert view.overview_frames > frames
    assert overview.texts_drawn > texts  # the labels, in big type
    assert items.paint_counts.detailed == 0
    frames = view.overview_frames
    show_at(view, 1.0)
    assert view.overview_frames == frames  # up close the items draw
    assert items.paint_counts.detailed > 0 and items.paint_counts.edges > 0
    assert overview.labels_drawn > 0  # the edges' shape pills


def test_cards_are_cached_so_a_pan_repaints_no_card(canvas, qtbot):
    _, view = canvas(layered_graph())
    show_at(view, 1.0)
    items.paint_counts.reset()
    view.viewport().grab()  # the same view again: every card comes from its pixmap
    assert items.paint_counts.detailed == 0


def spread_graph(columns: int = 8, rows: int = 8, spacing: float = 2500.0) -> GraphDocument:
    """Tensor → Exp pairs far apart: a graph over many tiles, from only a few nodes."""
    doc = GraphDocument()
    for column in range(columns):
        for row in range(rows):
            x, y = column * spacing, row * spacing
            source = doc.add_node("Tensor", label=f"t{column}_{row}", position=(x, y))
            doc.connect(source, doc.add_node("Exp", label=f"e{column}_{row}",
                                             position=(x + 220, y)), "x")
    return doc


class Paints(QObject):
    """The areas painted on a widget."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.regions: list = []
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.region().boundingRect())
        return False


def test_far_out_the_whole_graph_is_blitted_from_a_kept_snapshot(canvas):
    scene, view = canvas(spread_graph())
    overview = scene.overview
    view.fit_to_view()
    assert view.zoom() < LINES_BELOW
    view.viewport().grab()
    view.viewport().grab()  # drawn twice without a change: now worth an image
    made = overview.snapshots
    assert made >= 1
    view.zoom_by(1.1)
    view.viewport().grab()
    view.zoom_by(1 / 1.1)
    view.viewport().grab()
    assert overview.snapshots == made  # zooming and panning reuse it
    scene.select_nodes([next(iter(scene.document.nodes))])  # a change
    view.viewport().grab()  # the first frame after it is drawn directly (it may be the last)
    assert overview.snapshots == made
    view.viewport().grab()
    assert overview.snapshots == made + 1


def test_the_overview_keeps_repainting_after_a_full_update(canvas, qapp):
    scene, view = canvas(layered_graph())
    show_at(view, 0.1)
    paints = Paints(view.viewport())
    scene.update()  # "everything" (Qt's scene then drops other updates until it draws items)
    qapp.processEvents()
    node_id = scene.document.node("x3").id
    paints.regions.clear()
    scene.overview.set_stage(node_id, "backward")
    qapp.processEvents()
    qapp.processEvents()
    assert paints.regions  # the highlighted card was repainted


def test_a_pan_repaints_only_the_strip_it_uncovers(canvas, qapp):
    _, view = canvas(layered_graph(layers=20, width=12))
    for zoom in (0.1, 1.0):
        show_at(view, zoom)
        qapp.processEvents()
        paints = Paints(view.viewport())
        bar = view.horizontalScrollBar()
        bar.setValue(bar.value() + 24)
        qapp.processEvents()
        assert paints.regions and all(rect.width() <= 30 for rect in paints.regions), zoom


def test_items_are_made_only_where_the_view_shows_detail(canvas):
    doc = layered_graph(layers=20, width=12)
    scene, view = canvas(doc)
    view.fit_to_view()
    view.viewport().grab()
    assert view.is_overview()
    assert scene.made_items() == (0, 0)  # the whole graph, drawn without an item
    first = doc.node("x0")
    show_at(view, 1.0, QPointF(*first.position))
    cards, edges = scene.made_items()
    assert 0 < cards < len(doc) and 0 < edges < len(doc.edges)
    assert scene.node_item(first.id) is not None
    assert len(scene.node_items()) == len(doc)  # asking for all cards makes all cards
    assert {item.node_id for item in scene.node_items()} == set(doc.nodes)
    assert scene.made_items() == (len(doc), edges)  # and no edge item more
    assert gc.isenabled()  # made with the collector paused, which comes back after
    assert len(scene.edge_items()) == len(doc.edges)
    assert gc.isenabled()


def test_a_click_in_the_overview_selects_the_card_under_it(canvas, qtbot):
    doc = layered_graph(layers=20, width=12)
    scene, view = canvas(doc)
    show_at(view, 0.2)
    assert view.is_overview()
    node = doc.node("tanh_5_3") if doc.find("tanh_5_3") else doc.node("x3")
    card = scene.overview.cards[node.id]
    point = view.mapFromScene(QPointF(card.x + 75, card.y + 20))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert scene.selected_node_ids() == [node.id]
    assert scene.overview.cards[node.id].selected  # the overview outlines it
    assert scene.made_items()[0] < len(doc)


def test_after_select_all_a_drag_moves_cards_never_shown_and_their_edges_follow(canvas, qtbot):
    doc = layered_graph(layers=20, width=12)
    scene, view = canvas(doc)
    for item in scene.node_items():  # what Select All does
        item.setSelected(True)
    first, far = doc.node("x0"), doc.node("loss")  # opposite ends of the layout
    before = {node.id: node.position for node in doc}
    show_at(view, 1.0, QPointF(*first.position))
    card = scene.overview.cards[first.id]
    start = view.mapFromScene(QPointF(card.x + 60, card.y + 12))  # on the header
    end = start + QPoint(40, 30)
    viewport = view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=start + QPoint(20, 15))
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    moved = {node.id: (node.position[0] - before[node.id][0], node.position[1] - before[node.id][1])
             for node in doc}
    assert set(moved.values()) == {(40.0, 30.0)}  # every card, one undoable move
    assert scene.editor.stack.count() == 1
    # far away, never shown at detail: its edges get items where the cards now are
    show_at(view, 1.0, QPointF(*far.position))
    edges_in = [e for e in doc.edges if far.id in (e.source, e.target)]
    assert edges_in
    for edge in edges_in:
        item = scene.edge_item(edge)
        target = scene.node_item(edge.target).port(edge.target_port, False).scenePos()
        assert item.path.pointAtPercent(1.0) == target


def test_a_rubber_band_in_the_overview_selects_what_it_covers(canvas, qtbot):
    doc = layered_graph(layers=20, width=12)
    scene, view = canvas(doc)
    view.fit_to_view()
    view.viewport().grab()
    rect = view.mapFromScene(scene.items_bounding_rect()).boundingRect()
    start, end = rect.topLeft() - QPoint(5, 5), rect.bottomRight() + QPoint(5, 5)
    viewport = view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=(start + end) / 2)
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert set(scene.selected_node_ids()) == set(doc.nodes)


def test_the_scene_rect_holds_a_graph_bigger_than_the_default(canvas):
    doc = GraphDocument()
    far = doc.add_node("Tensor", label="far", position=(40_000.0, -30_000.0))
    doc.add_node("Tensor", label="near")
    scene, view = canvas(doc)
    view.fit_to_view()
    assert scene.sceneRect().contains(scene.items_bounding_rect())
    assert view.mapToScene(view.viewport().rect()).boundingRect().contains(
        QPointF(*far.position))
    zoom = view.zoom()
    view.zoom_by(0.9)  # a wheel step out stays where it is, not back at MIN_ZOOM
    assert view.zoom() == pytest.approx(zoom * 0.9)


def test_exporting_draws_every_card(canvas, qapp):
    from visgrad.qt.render import render_image

    doc = layered_graph(layers=6, width=5)
    scene, view = canvas(doc)
    assert scene.made_items() == (0, 0) or view.is_overview() is False
    render_image(scene)
    assert scene.made_items() == (len(doc), len(doc.edges))


# updates touch only what changed ------------------------------------------------------------

def counting_refreshes(monkeypatch) -> list[str]:
    refreshed: list[str] = []
    original = NodeItem.refresh

    def refresh(self, *args, **kwargs):
        refreshed.append(self.node_id)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(NodeItem, "refresh", refresh)
    return refreshed


def test_a_backward_step_refreshes_only_the_cards_and_edges_it_concerns(canvas, qapp,
                                                                        monkeypatch):
    doc = examples.load("l1_l4_network")
    scene, view = canvas(doc)
    view.fit_to_view()
    scene.node_items()  # every card exists, so a refresh anywhere would be counted
    session = scene.session
    session.run_forward()
    session.start_backward()
    qapp.processEvents()
    refreshed = counting_refreshes(monkeypatch)
    labelled = []
    original = scene.overview.set_link_text
    monkeypatch.setattr(scene.overview, "set_link_text",
                        lambda edge, *args: (labelled.append(edge), original(edge, *args)))
    previous = None
    while session.state == "backward_in_progress":
        refreshed.clear()
        labelled.clear()
        step = session.step_backward()
        qapp.processEvents()
        concerned = {step.node_id, previous}
        if step.accumulation is not None:
            concerned.add(step.accumulation.node_id)
        concerned.update(hook.node_id for hook in step.hooks)
        assert set(refreshed) <= concerned, step.label
        assert len(refreshed) <= 3
        assert set(labelled) <= {entry.edge for entry in step.grads_out}
        previous = step.node_id
    assert scene.node_item(doc.node("w1").id).texts["grad"] == "28.0  (was None)"


def test_a_backward_step_repaints_the_view_once(canvas, qapp):
    # a step changes cards and edges; Qt paints them in one go only if they reach it in the
    # right order (NOTE [one repaint a step])
    scene, view = canvas(layered_graph(layers=4, width=4))
    show_at(view, 1.0)
    scene.animate = False
    session = scene.session
    session.run_forward()
    session.start_backward()
    qapp.processEvents()
    paints = Paints(view.viewport())
    counts = []
    while session.state == "backward_in_progress":
        paints.regions.clear()
        session.step_backward()
        qapp.processEvents()
        qapp.processEvents()
        counts.append(len(paints.regions))
    assert len(counts) > 10
    assert max(counts) == 1, counts


def differing_pixels(first: QImage, second: QImage) -> int:
    """Pixels whose colours differ by more than two levels in a channel (an antialiased
    line drawn in a clipped repaint may round one level away from the same line drawn
    whole)."""
    assert first.size() == second.size()
    arrays = []
    for image in (first, second):
        image = image.convertToFormat(QImage.Format.Format_RGB32)
        raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
        arrays.append(raw.reshape(image.height(), image.bytesPerLine())[
            :, :4 * image.width()].astype(np.int16))
    return int((np.abs(arrays[0] - arrays[1]) > 2).reshape(
        first.height(), first.width(), 4).any(axis=2).sum())


@pytest.mark.parametrize("zoom", [1.0, 0.7, 1.7])
def test_what_a_backward_step_repaints_matches_a_full_repaint(canvas, qapp, zoom,
                                                             monkeypatch):
    # a step repaints only the parts it changed: pieces along each long edge (NOTE [exposed
    # parts]); the window's pixels must then be what a repaint of everything gives
    clock = [0.0]  # the animation's clock moves only between the frames compared
    monkeypatch.setattr(canvas_scene, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    scene, view = canvas(layered_graph(layers=6, width=5))
    show_at(view, zoom)
    assert any(len(link.pieces()) > 1 for link in scene.overview.links.values())
    session = scene.session
    session.run_forward()
    session.start_backward()
    qapp.processEvents()
    viewport = view.viewport().geometry()
    steps = 0
    while session.state == "backward_in_progress":
        session.step_backward()
        for _ in range(2):  # the step, then a frame of its gradients' animation
            qapp.processEvents()
            qapp.processEvents()
            shown = view.screen().grabWindow(view.winId()).toImage().copy(viewport)
            assert differing_pixels(shown, view.grab().toImage().copy(viewport)) == 0, \
                (zoom, steps)
            clock[0] += 0.3
            time.sleep(0.04)  # the animation's timer is due
        steps += 1
    assert steps > 20


def test_an_edit_refreshes_only_the_cards_whose_messages_or_shapes_changed(canvas, qapp,
                                                                          monkeypatch):
    doc = GraphDocument()
    a = doc.add_node("Tensor", label="a", value="ones(2, 3)")
    b = doc.add_node("Tensor", label="b", value="ones(3, 4)")
    mm = doc.add_node("MatMul", label="mm")
    doc.connect(a, mm, "a")
    doc.connect(b, mm, "b")
    total = doc.add_node("Sum", label="total")
    doc.connect(mm, total, "x")
    chain = [total]
    for index in range(20):
        node = doc.add_node("Exp", label=f"e{index}")
        doc.connect(chain[-1], node, "x")
        chain.append(node)
    scene, _ = canvas(doc)
    scene.node_items()
    refreshed = counting_refreshes(monkeypatch)
    scene.editor.push(SetParam(b.id, "value", "zeros(3, 4)"))  # same shape: b alone
    qapp.processEvents()
    assert refreshed == [b.id]
    refreshed.clear()
    scene.editor.push(SetParam(b.id, "value", "ones(3, 5)"))  # mm's shape changes, the sum's
    qapp.processEvents()                                       # (a scalar) does not
    assert set(refreshed) == {b.id, mm.id}
    into_total = doc.edges_into(total)[0]
    assert scene.overview.links[into_total].shape_text == "[2, 5]"  # its label follows
    refreshed.clear()
    scene.editor.push(SetParam(b.id, "value", "ones(4, 5)"))  # mm fails: what follows waits
    qapp.processEvents()
    assert scene.node_messages(mm.id) == [
        ("error", "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")]
    assert set(refreshed) == {b.id, mm.id, *(node.id for node in chain)}  # they lost shapes
    refreshed.clear()
    scene.editor.push(SetLabel(chain[5].id, "renamed"))
    qapp.processEvents()
    assert refreshed == [chain[5].id]


# the validation cache -----------------------------------------------------------------------

def test_validation_follows_edits_undo_and_redo(canvas, qapp):
    doc = GraphDocument()
    x = doc.add_node("Tensor", label="x", value="ones(2, 3)")
    w = doc.add_node("Parameter", label="w", value="ones(3, 2)")
    mm = doc.add_node("MatMul", label="mm")
    doc.connect(x, mm, "a")
    doc.connect(mm, doc.add_node("Sum", label="loss"), "x")
    scene, _ = canvas(doc)
    stack = scene.editor.stack
    assert scene.node_messages(mm.id) == [("error", "input 'b' is not connected")]
    scene.editor.push(Connect(w.id, mm.id, "b"))
    qapp.processEvents()
    assert scene.node_messages(mm.id) == []
    assert scene.overview.cards[mm.id].severity is None
    scene.editor.push(SetParam(w.id, "value", "ones(4, 2)"))
    qapp.processEvents()
    assert scene.node_messages(mm.id) == [
        ("error", "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x2)")]
    assert scene.node_item(mm.id).badge_severity() == "error"
    assert scene.overview.cards[mm.id].severity == "error"
    stack.undo()
    qapp.processEvents()
    assert scene.node_messages(mm.id) == []
    assert scene.node_item(mm.id).badge_severity() is None
    stack.undo()
    qapp.processEvents()
    assert scene.node_messages(mm.id) == [("error", "input 'b' is not connected")]
    stack.redo()
    stack.redo()
    qapp.processEvents()
    assert scene.validation() == validation.validate(doc)
    assert scene.node_item(mm.id).badge_severity() == "error"


def random_edit(doc: GraphDocument, rng: random.Random):
    ids = list(doc.nodes)
    choice = rng.random()
    values = ["ones(2, 3)", "[1.0, 2.0, 3.0]", "3.0", "ones(3)", "[[1, 2], [3, 4]]"]
    if choice < 0.25 or len(ids) < 3:
        kind = rng.choice(["Tensor", "Parameter", "Add", "Mul", "MatMul", "Sum", "Exp", "Cat"])
        params = {"value": rng.choice(values)} if kind in ("Tensor", "Parameter") else {}
        return AddNode(kind, params)
    if choice < 0.5:
        source, target = rng.sample(ids, 2)
        return Connect(source, target)
    if choice < 0.6 and doc.edges:
        return Disconnect(rng.choice(doc.edges))
    node = doc.nodes[rng.choice(ids)]
    if choice < 0.72:
        if node.kind in ("Tensor", "Parameter"):
            return SetParam(node.id, "value", rng.choice(values))
        if node.kind == "Cat":
            return SetParam(node.id, "count", rng.choice([1, 2, 3]))
        if node.kind == "Sum":
            return SetParam(node.id, "dim", rng.choice([None, 0, 5]))
        return SetParam(node.id, "no_grad", rng.choice([True, False]))
    if choice < 0.8:
        return RemoveNodes(rng.sample(ids, rng.randint(1, 2)))
    if choice < 0.86:
        return SetLabel(node.id, rng.choice(["loss", f"n_{rng.randint(0, 999)}x"]))
    if choice < 0.93:
        return SetSetting("gradient", rng.choice([None, "ones(2, 3)", "3.0"]))
    return SetSetting("backward_node", rng.choice([None, node.id]))


@pytest.mark.parametrize("seed", range(6))
def test_incremental_validation_equals_validate_after_any_edits(seed):
    rng = random.Random(seed)
    doc = GraphDocument()
    live = validation.IncrementalValidation(doc)
    done = []
    before = validation.validate(doc)
    for _ in range(120):
        if done and rng.random() < 0.12:
            done.pop().revert(doc)  # undo
        else:
            try:
                done.append(doc.apply(random_edit(doc, rng)))
            except DocumentError:
                continue
        changes = live.take_changes()
        after = validation.validate(doc)
        assert live.report() == after
        for node_id in doc.nodes:
            assert live.messages_for(node_id) == after.for_node(node_id)
            if before.for_node(node_id) != after.for_node(node_id) or any(
                    before.meta(node_id, port) != after.meta(node_id, port)
                    for port in doc.nodes[node_id].output_names()):
                assert node_id in changes
        before = after
    live.detach()


def test_the_inspector_shows_the_cached_messages_without_validating_again(window,
                                                                         monkeypatch):
    doc = GraphDocument()
    x = doc.add_node("Tensor", label="x", value="ones(2, 3)")
    w = doc.add_node("Parameter", label="w", value="ones(4, 2)", hooks=())
    mm = doc.add_node("MatMul", label="mm")
    doc.connect(x, mm, "a")
    doc.connect(w, mm, "b")
    doc.connect(mm, doc.add_node("Sum", label="loss"), "x")
    window.load_document(doc, None, "t")
    window.scene.flush()
    calls = []
    real = validation.validate
    monkeypatch.setattr(validation, "validate", lambda d: calls.append(d) or real(d))
    for node in (mm, x, mm):
        window.select_node(node.id)
        window.inspector.flush()
        shown = [label.text() for label in window.inspector.findChildren(QLabel)
                 if label.objectName().startswith("message_")]
        expected = [f"{'✖' if m.severity == 'error' else '⚠'}  {m.text}"
                    for m in real(doc).for_node(node.id)]
        assert shown == expected
    assert "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x2)" in shown[0]
    assert calls == []  # what the canvas keeps up to date, not a validation of everything
    window.scene.editor.push(SetParam(w.id, "value", "ones(3, 2)"))  # and it follows edits
    window.inspector.flush()
    assert not [label for label in window.inspector.findChildren(QLabel)
                if label.objectName() == "message_error"]


def test_checking_a_port_while_dragging_copies_nothing(canvas, monkeypatch):
    doc = layered_graph()
    scene, _ = canvas(doc)
    copies = []
    real = GraphDocument.copy
    monkeypatch.setattr(GraphDocument, "copy", lambda d: copies.append(d) or real(d))
    first = scene.node_item("n1").port("out", True)
    ids = list(doc.nodes)
    late = scene.node_item(ids[-3])  # an Add or Mul (or Tanh) near the end
    port = next(iter(late.inputs.values()))
    operation, reason = scene.connection_operation(first, port)
    assert reason is None and operation is not None
    # back from the end into the start: a cycle, found without copying the document
    loss = scene.node_item(doc.node("loss").id).port("out", True)
    start = scene.node_item(doc.edges_into(doc.node("total"))[0].source)  # feeds the loss
    operation, reason = scene.connection_operation(loss, next(iter(start.inputs.values())))
    assert operation is None and "would make a cycle" in reason
    # picked up by its input end and dropped back on the same port: a move to itself
    edge = doc.edges_into(late.node_id)[0]
    source = scene.node_item(edge.source).port(edge.source_port, True)
    operation, reason = scene.connection_operation(
        source, late.port(edge.target_port, False), edge)
    assert reason is None
    assert copies == []


def test_incremental_validation_of_a_cycle_reports_as_validate(qapp):
    from visgrad.document.model import Edge

    doc = GraphDocument()
    live = validation.IncrementalValidation(doc)
    a = doc.add_node("Exp", label="a")
    b = doc.add_node("Exp", label="b")
    doc.connect(a, b, "x")
    doc._insert_edge(Edge(b.id, "out", a.id, "x"))  # operations refuse this; a file could not
    assert live.report() == validation.validate(doc)
    doc._delete_edge(Edge(b.id, "out", a.id, "x"))
    assert live.report() == validation.validate(doc)
    live.detach()


# layout ---------------------------------------------------------------------------------------

def test_crossing_count_matches_the_pairwise_definition():
    rng = random.Random(4)
    for _ in range(200):
        pairs = sorted((rng.randrange(6), rng.randrange(6)) for _ in range(rng.randrange(12)))
        brute = sum(1 for (s1, t1), (s2, t2) in combinations(pairs, 2)
                    if s1 != s2 and t1 != t2 and (s1 - s2) * (t1 - t2) < 0)
        assert layout._inversions([target for _, target in pairs]) == brute


def test_a_big_layout_keeps_every_edge_going_right_and_no_two_cards_together():
    doc = layered_graph(layers=30, width=40, seed=2)
    positions = layout.compute_layout(doc)
    assert len(set(positions.values())) == len(doc)
    for edge in doc.edges:
        assert positions[edge.source][0] < positions[edge.target][0]


def test_a_paste_of_many_nodes_lists_them_once_not_once_per_node(window, qtbot):
    """The run toolbar's and the Train panel's node lists are rebuilt once after a burst of
    document events (a paste, its undo), not once per event: each rebuild lists every node."""
    window.open_example("l1_l4_network")
    qtbot.wait(1)
    rebuilds = {"toolbar": 0, "train": 0}

    def counting(combo, key):
        clear = combo.clear

        def counted():
            rebuilds[key] += 1
            clear()
        return counted

    window.backward_combo.clear = counting(window.backward_combo, "toolbar")
    window.train_panel.loss_combo.clear = counting(window.train_panel.loss_combo, "train")
    window.select_all()
    window.duplicate()
    window.duplicate()  # 18 nodes more, and their edges: dozens of events
    qtbot.wait(1)
    assert len(window.document) == 27
    assert 1 <= rebuilds["toolbar"] <= 2 and 1 <= rebuilds["train"] <= 2, rebuilds
    labels = [window.backward_combo.itemText(i) for i in range(window.backward_combo.count())]
    ops = [node.label for node in window.document if not node.kind_info.is_source]
    assert labels[1:] == ops
    assert [window.train_panel.loss_combo.itemText(i)
            for i in range(1, window.train_panel.loss_combo.count())] == ops
    window.editor.stack.undo()
    qtbot.wait(1)
    assert window.backward_combo.count() == 1 + len(
        [node for node in window.document if not node.kind_info.is_source])


def test_the_selection_the_inspector_follows_is_kept_as_cards_change(window, qtbot):
    """The scene keeps the selected cards as they are (de)selected, so that a select-all of
    thousands does not list the selection once per card; it must agree with Qt's."""
    window.open_example("l1_l4_network")
    scene = window.scene

    def agrees() -> bool:
        return list(scene._selected_nodes) and sorted(scene._selected_nodes) == sorted(
            scene.selected_node_ids()) or not scene._selected_nodes and not \
            scene.selected_node_ids()

    window.select_all()
    assert agrees() and len(scene._selected_nodes) == len(window.document)
    assert scene.single_selected_node() is None and window.inspector.node_id is None
    l3 = window.document.node("l3").id
    scene.select_nodes([l3])
    assert agrees() and scene.single_selected_node() == l3 == window.inspector.node_id
    scene.select_nodes([l3, window.document.node("w1").id])
    assert agrees() and window.inspector.node_id is None
    window.delete_selection()
    assert agrees() and not scene._selected_nodes
    window.editor.stack.undo()
    qtbot.wait(1)
    assert agrees()
    scene.select_nodes([l3])
    assert window.inspector.node_id == l3


def test_the_inspector_says_how_many_nodes_are_selected(window, qtbot):
    window.open_example("l1_l4_network")

    def title() -> str:
        window.inspector.flush()
        return next(label.text() for label in window.inspector.findChildren(QLabel)
                    if label.objectName() == "nodeTitle")

    assert title() == "Nothing selected"
    window.select_all()
    assert title() == f"{len(window.document)} nodes selected"
    scene = window.scene
    scene.select_nodes([window.document.node("l3").id, window.document.node("w1").id])
    assert title() == "2 nodes selected"
    scene.select_nodes([window.document.node("l3").id])
    assert title() == "l3"
    scene.clearSelection()
    assert title() == "Nothing selected"
