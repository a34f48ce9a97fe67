"""Palette drops, connecting ports with the mouse, refused connections, moving, deleting."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from tests.qt.conftest import connect_ports, drag_mouse, drop_kind, edit_param, port_pos


def test_palette_drop_creates_node_at_drop_point(empty_window):
    window = empty_window
    pos = QPoint(260, 180)
    node_id = drop_kind(window, "Mul", pos)
    node = window.document.nodes[node_id]
    expected = window.view.mapToScene(pos)
    assert node.kind == "Mul"
    assert node.position == (expected.x(), expected.y())
    item = window.scene.node_item(node_id)
    assert (item.pos().x(), item.pos().y()) == node.position
    assert window.undo_stack.count() == 1
    assert window.scene.selected_node_ids() == [node_id]
    window.undo_stack.undo()
    assert node_id not in window.document.nodes
    assert window.scene.node_item(node_id) is None
    window.undo_stack.redo()
    assert window.document.nodes[node_id].position == node.position


def test_palette_search_and_activate_adds_at_centre(empty_window, qtbot):
    window = empty_window
    window.palette.search.setText("matmul")
    visible = [i.data(0, Qt.ItemDataRole.UserRole + 1) for i in window.palette.tree.kind_items()
               if not i.isHidden()]
    assert visible == ["MatMul"]
    qtbot.keyClick(window.palette.search, Qt.Key.Key_Return)
    (node,) = list(window.document)
    assert node.kind == "MatMul"
    centre = window.view.centre_scene_pos()
    assert abs(node.position[0] - centre.x()) < 1 and abs(node.position[1] - centre.y()) < 1


def test_palette_start_drag_uses_palette_mime(empty_window, monkeypatch):
    from PySide6.QtGui import QDrag

    from visgrad.qt.canvas.view import KIND_MIME

    seen = []
    monkeypatch.setattr(QDrag, "exec", lambda self, *a: seen.append(
        bytes(self.mimeData().data(KIND_MIME).data()).decode()) or Qt.DropAction.CopyAction)
    tree = empty_window.palette.tree
    tree.setCurrentItem(tree.item_for("Exp"))
    tree.startDrag(Qt.DropAction.CopyAction)
    assert seen == ["Exp"]


def test_connect_ports_with_the_mouse(empty_window, qtbot):
    window = empty_window
    a = drop_kind(window, "Parameter", QPoint(60, 80))
    mul = drop_kind(window, "Mul", QPoint(340, 80))
    connect_ports(qtbot, window, a, mul, "a")
    edges = window.document.edges
    assert [(e.source, e.target, e.target_port) for e in edges] == [(a, mul, "a")]
    assert window.scene.edge_item(edges[0]) is not None
    assert window.undo_stack.count() == 3
    window.undo_stack.undo()
    assert window.document.edges == ()
    assert window.scene.edge_items() == []


def test_connect_by_dragging_from_an_input_port(empty_window, qtbot):
    window = empty_window
    a = drop_kind(window, "Parameter", QPoint(60, 80))
    mul = drop_kind(window, "Mul", QPoint(340, 80))
    drag_mouse(qtbot, window, port_pos(window, mul, "b", False), port_pos(window, a, "out", True))
    assert [(e.source, e.target_port) for e in window.document.edges] == [(a, "b")]
    # picking the edge up by its input end and dropping it on empty canvas disconnects it
    drag_mouse(qtbot, window, port_pos(window, mul, "b", False), QPoint(200, 400))
    assert window.document.edges == ()


def test_cycle_is_refused_with_a_status_message(empty_window, qtbot):
    window = empty_window
    first = drop_kind(window, "Exp", QPoint(60, 80))
    second = drop_kind(window, "Exp", QPoint(340, 80))
    connect_ports(qtbot, window, first, second, "x")
    count = window.undo_stack.count()
    connect_ports(qtbot, window, second, first, "x")
    assert len(window.document.edges) == 1
    assert window.undo_stack.count() == count
    assert "cycle" in window.step_label.text()
    assert "Cannot connect" in window.step_label.text()


def test_shape_incompatible_connection_is_refused(empty_window, qtbot):
    window = empty_window
    a = drop_kind(window, "Tensor", QPoint(40, 40))
    edit_param(qtbot, window, "value", "ones(2, 3)")
    b = drop_kind(window, "Tensor", QPoint(40, 260))
    edit_param(qtbot, window, "value", "ones(4, 5)")
    mm = drop_kind(window, "MatMul", QPoint(360, 120))
    connect_ports(qtbot, window, a, mm, "a")
    connect_ports(qtbot, window, b, mm, "b")
    assert [(e.source, e.target_port) for e in window.document.edges] == [(a, "a")]
    text = window.step_label.text()
    assert "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)" in text


def test_move_is_one_undoable_command(empty_window, qtbot):
    window = empty_window
    node_id = drop_kind(window, "Exp", QPoint(100, 100))
    before = window.document.nodes[node_id].position
    item = window.scene.node_item(node_id)
    grab = window.view.mapFromScene(item.mapToScene(60, 8))
    count = window.undo_stack.count()
    drag_mouse(qtbot, window, grab, grab + QPoint(120, 60), steps=6)
    after = window.document.nodes[node_id].position
    assert after != before
    assert abs(after[0] - before[0] - 120 / window.view.zoom()) < 2
    assert window.undo_stack.count() == count + 1
    window.undo_stack.undo()
    assert window.document.nodes[node_id].position == before
    assert (item.pos().x(), item.pos().y()) == before


def test_rubber_band_selects_several_nodes_and_delete_is_one_edit(empty_window, qtbot):
    window = empty_window
    ids = [drop_kind(window, "Exp", QPoint(80 + 200 * i, 100)) for i in range(3)]
    connect_ports(qtbot, window, ids[0], ids[1], "x")
    window.scene.clearSelection()
    drag_mouse(qtbot, window, QPoint(20, 30), QPoint(450, 260), steps=5)
    assert set(window.scene.selected_node_ids()) == set(ids[:2])
    count = window.undo_stack.count()
    window.delete_action.trigger()
    assert list(window.document.nodes) == [ids[2]]
    assert window.undo_stack.count() == count + 1
    window.undo_stack.undo()
    assert set(window.document.nodes) == set(ids)
    assert len(window.document.edges) == 1


def test_zoom_keeps_the_point_under_the_cursor(empty_window):
    window = empty_window
    drop_kind(window, "Exp", QPoint(100, 100))
    view = window.view
    anchor = QPoint(300, 200)
    before = view.mapToScene(anchor)
    from PySide6.QtCore import QPointF
    view.zoom_by(1.5, QPointF(anchor))
    after = view.mapToScene(anchor)
    assert abs(before.x() - after.x()) < 1 and abs(before.y() - after.y()) < 1
    assert abs(view.zoom() - 1.5) < 1e-6


def test_validation_badge_and_tooltip(empty_window):
    window = empty_window
    node_id = drop_kind(window, "Mul", QPoint(100, 100))
    window.scene.flush()
    item = window.scene.node_item(node_id)
    assert item.badge_severity() == "error"
    assert "input 'a' is not connected" in item.toolTip()


def test_pan_with_middle_button_and_with_space_drag(empty_window, qtbot):
    window = empty_window
    drop_kind(window, "Exp", QPoint(100, 100))
    view, viewport = window.view, window.view.viewport()
    start = view.mapToScene(QPoint(300, 300))
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(300, 300))
    qtbot.mouseMove(viewport, pos=QPoint(250, 260))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(250, 260))
    moved = view.mapToScene(QPoint(300, 300))
    assert (round(moved.x() - start.x()), round(moved.y() - start.y())) == (50, 40)
    window.scene.clearSelection()
    qtbot.keyPress(view, Qt.Key.Key_Space)
    drag_mouse(qtbot, window, QPoint(400, 400), QPoint(430, 420))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    after = view.mapToScene(QPoint(300, 300))
    assert (round(after.x() - moved.x()), round(after.y() - moved.y())) == (-30, -20)
    assert window.scene.selected_node_ids() == []  # panning is not a rubber band


def test_an_exception_in_paint_is_reported_not_fatal(empty_window, monkeypatch):
    from visgrad.qt.canvas.items import NodeItem

    window = empty_window
    drop_kind(window, "Exp", QPoint(100, 100))

    def broken(self, *args):
        raise RuntimeError("boom in the header")

    monkeypatch.setattr(NodeItem, "_paint_header", broken)
    for item in window.scene.node_items():
        item.setCacheMode(NodeItem.CacheMode.NoCache)
        item.update()
    window.view.viewport().grab()
    assert "boom in the header" in window.step_label.text()
    assert any(kind == "error" and "boom" in text for kind, text, _ in window.log.entries())


def test_a_card_keeps_its_laid_out_texts_until_what_they_show_changes(empty_window):
    """A zoom repaints every card on screen, so a card shapes its texts once
    (``NodeItem._layout``) and again only when its label, badge or theme changes."""
    from visgrad.document.operations import SetLabel
    from visgrad.qt import theme

    window = empty_window
    node_id = drop_kind(window, "Mul", QPoint(100, 100))
    window.scene.flush()
    item = window.scene.node_item(node_id)

    def shown():
        return [op[4].text() for op in item._layout(theme.current()) if op[0] == "text"]

    window.view.viewport().grab()
    first = item._layout(theme.current())
    label = window.document.nodes[node_id].label
    assert shown() == [label, "Mul", "a", "b", "!"]  # the error badge: nothing connected
    window.view.zoom_by(1.3)
    window.view.viewport().grab()
    assert item._layout(theme.current()) is first

    window.scene.editor.push(SetLabel(node_id, "product"))
    window.scene.flush()
    assert shown() == ["product", "Mul", "a", "b", "!"]
    renamed = item._layout(theme.current())
    assert renamed is not first

    text_colors = {op[2].name() for op in renamed if op[0] == "text"}
    theme.apply("dark")
    try:
        dark = item._layout(theme.current())
        assert dark is not renamed and shown() == ["product", "Mul", "a", "b", "!"]
        assert {op[2].name() for op in dark if op[0] == "text"} != text_colors
    finally:
        theme.apply("light")
