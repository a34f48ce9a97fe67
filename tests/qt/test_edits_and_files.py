"""Undo/redo of every edit kind, copy/paste, save/open through the menu, the title's mark."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog

from tests.qt.conftest import close_window, connect_ports, drag_mouse, drop_kind, edit_param
from visgrad.document import files


def snapshot(window):
    return window.document.to_data()


def assert_undo_redo(window, before, after):
    """Undo gives ``before`` back, redo gives ``after``, and the items follow."""
    assert snapshot(window) == after
    window.undo_stack.undo()
    assert snapshot(window) == before
    assert set(window.document.nodes) == {i.node_id for i in window.scene.node_items()}
    assert set(window.document.edges) == {i.edge for i in window.scene.edge_items()}
    window.undo_stack.redo()
    assert snapshot(window) == after
    assert set(window.document.nodes) == {i.node_id for i in window.scene.node_items()}
    assert set(window.document.edges) == {i.edge for i in window.scene.edge_items()}


def test_undo_redo_of_each_edit_kind(empty_window, qtbot):
    window = empty_window
    steps = []

    def record(action):
        before = snapshot(window)
        count = window.undo_stack.count()
        action()
        assert window.undo_stack.count() == count + 1, action
        steps.append((before, snapshot(window)))
        assert_undo_redo(window, *steps[-1])

    ids = {}

    def inspect(key):
        window.select_node(ids[key])
        window.inspector.flush()
        return window.inspector.editors

    record(lambda: ids.setdefault("p", drop_kind(window, "Parameter", QPoint(40, 60))))
    record(lambda: inspect("p") and edit_param(qtbot, window, "value", "[1.0, 2.0]"))
    record(lambda: inspect("p") and edit_param(qtbot, window, "label", "weights"))
    record(lambda: ids.setdefault("s", drop_kind(window, "Sum", QPoint(320, 60))))
    record(lambda: inspect("s")["keepdim"].click())
    record(lambda: connect_ports(qtbot, window, ids["p"], ids["s"], "x"))
    record(lambda: inspect("s")["retain_grad"].click())

    def add_hook():
        inspect("s")
        editors = window.inspector.editors
        editors["hook_kind"].setCurrentIndex(editors["hook_kind"].findData("clamp"))
        editors["hook_argument"].setText("-1, 1")
        qtbot.mouseClick(editors["hook_add"], Qt.MouseButton.LeftButton)

    record(add_hook)

    def remove_hook():
        inspect("s")
        window.inspector.editors["hooks"].setCurrentRow(0)
        qtbot.mouseClick(window.inspector.editors["hook_remove"], Qt.MouseButton.LeftButton)

    record(remove_hook)

    def move():
        item = window.scene.node_item(ids["s"])
        grab = window.view.mapFromScene(item.mapToScene(70, 8))
        drag_mouse(qtbot, window, grab, grab + QPoint(40, 90))

    record(move)
    record(lambda: window.retain_graph_action.trigger())

    def duplicate():
        window.scene.select_nodes([ids["p"], ids["s"]])
        window.duplicate_action.trigger()

    record(duplicate)
    pasted = set(window.document.nodes) - {ids["p"], ids["s"]}
    assert len(pasted) == 2
    assert len(window.document.edges) == 2  # the copy keeps its inner edge

    def delete():
        window.scene.select_nodes([ids["s"]])
        window.delete_action.trigger()

    record(delete)
    # and all the way back
    while window.undo_stack.canUndo():
        window.undo_stack.undo()
    assert snapshot(window) == steps[0][0]
    assert window.scene.node_items() == []


def test_copy_paste_and_cut_through_the_clipboard(window):
    window.open_example("l1_l4_network")
    ids = [window.document.node(label).id for label in ("w1", "l1")]
    window.scene.select_nodes(ids)
    assert window.copy()
    count = len(window.document)
    window.paste_action.trigger()
    assert len(window.document) == count + 2
    labels = {window.document.nodes[i].label for i in window.scene.selected_node_ids()}
    assert labels.isdisjoint({"w1", "l1"})  # labels are unique, so the copies get new ones
    window.cut_action.trigger()
    assert len(window.document) == count
    window.paste_action.trigger()
    assert len(window.document) == count + 2


def test_save_and_open_round_trip_through_the_menu(window, tmp_path, monkeypatch):
    window.open_example("l1_l4_network")
    window.scene.select_nodes([window.document.node("w2").id])
    window.delete_action.trigger()
    assert window.isWindowModified()
    target = tmp_path / "network.vgraph"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(target), ""))
    window.save_as_action.trigger()
    assert target.is_file()
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("network.vgraph")
    saved = window.document.to_data()
    assert files.load(target).to_data() == saved
    window.new_action.trigger()
    assert len(window.document) == 0
    window.open_action.trigger()
    assert window.document.to_data() == saved
    assert window.path == target.resolve()
    assert str(target.resolve()) in window.recent_files()
    # a save replaces the file atomically and marks the stack clean
    window.scene.select_nodes([window.document.node("w3").id])
    window.delete_action.trigger()
    assert window.isWindowModified()
    window.save_action.trigger()
    assert not window.isWindowModified()
    assert "w3" not in {n.label for n in files.load(target)}


def test_open_bad_file_keeps_the_current_graph(window, tmp_path):
    window.open_example("l1_l4_network")
    bad = tmp_path / "bad.vgraph"
    bad.write_text("{not json", encoding="utf-8")
    assert not window.open_path(bad, ask=False)
    assert len(window.document) == 9
    assert "Could not open" in window.step_label.text()


def test_title_shows_the_modified_mark_from_the_undo_stack(window):
    window.open_example("chain_rule")
    assert not window.isWindowModified()
    assert window.windowTitle() == "chain_rule.vgraph[*] — visgrad"
    window.scene.select_nodes([window.document.node("loss").id])
    window.delete_action.trigger()
    assert window.isWindowModified()
    window.undo_action.trigger()
    assert not window.isWindowModified()


def test_undo_redo_shortcuts_in_an_active_window(window, qtbot):
    window.open_example("chain_rule")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.view.setFocus()
    window.scene.select_nodes([window.document.node("loss").id])
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert "loss" not in window.document
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "loss" in window.document
    qtbot.keyClick(window.view, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert "loss" not in window.document
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert "loss" not in window.document
    redo_keys = {s.toString() for s in window.redo_action.shortcuts()}
    assert redo_keys == {"Ctrl+Shift+Z", "Ctrl+Y"}


@pytest.mark.parametrize("name", ["light", "dark"])
def test_theme_and_window_state_persist(qtbot, settings, name):
    from visgrad.qt import theme
    from visgrad.qt.main_window import MainWindow

    first = MainWindow(settings, interactive=False)
    first.set_theme(name)
    first.log_dock.hide()
    close_window(first)
    second = MainWindow(settings, interactive=False)
    assert theme.current().name == name
    assert second.theme_actions[name].isChecked()
    assert second.log_dock.isHidden()
    second.set_theme("light")
    close_window(second)


def test_export_png_and_svg(window, tmp_path):
    from PySide6.QtGui import QImage

    window.open_example("chain_rule")
    window.run_backward_action.trigger()
    assert window.export_image(tmp_path / "graph.png")
    image = QImage(str(tmp_path / "graph.png"))
    assert image.width() > 300 and image.height() > 100
    assert window.export_image(tmp_path / "graph.svg")
    assert "<svg" in (tmp_path / "graph.svg").read_text(encoding="utf-8")
    assert not window.export_image(tmp_path / "graph.bmp")
    assert "must end in .png or .svg" in window.step_label.text()


def test_auto_layout_is_one_undoable_move(window):
    window.open_example("chain_rule")
    before = snapshot(window)
    for node in list(window.document):
        window.scene.node_item(node.id).setPos(0, 0)
    window.scene.commit_moves()
    squashed = snapshot(window)
    assert squashed != before
    window.layout_action.trigger()
    assert snapshot(window)["nodes"] == before["nodes"]  # the examples are laid out by it
    window.undo_action.trigger()
    assert snapshot(window) == squashed


def test_backward_node_choice_is_an_undoable_setting(window):
    window.open_example("l1_l4_network")
    combo = window.backward_combo
    l3 = window.document.node("l3").id
    index = combo.findData(l3)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    assert window.document.settings["backward_node"] == l3
    window.run_backward_action.trigger()
    assert "grad can be implicitly created only for scalar outputs" in window.step_label.text()
    window.undo_action.trigger()
    assert window.backward_combo.currentData() == window.document.node("loss").id
