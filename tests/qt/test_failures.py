"""What goes wrong is said where it happens: failed saves, values above the element limit,
NaN and inf in anomaly mode, and long runs that show progress and can be cancelled."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QSaveFile, QSettings, Qt

from tests.qt.conftest import close_window, edit_param
from visgrad.document import expressions, files
from visgrad.document.model import GraphDocument
from visgrad.document.operations import RemoveNodes, SetParam

# failed saves --------------------------------------------------------------------------------


@pytest.fixture
def saved_window(window, tmp_path):
    """The window on a saved file, then edited: the title has its mark."""
    (tmp_path / "graphs").mkdir()
    path = tmp_path / "graphs" / "graph.vgraph"
    window.open_example("l1_l4_network")
    assert window.save_as(path)
    before = path.read_bytes()
    window.editor.push(RemoveNodes([window.document.node("w3").id]))
    assert window.isWindowModified()
    return window, path, before


def assert_save_failed(window, path, before, reason: str) -> None:
    assert "Could not save" in window.step_label.text()
    assert reason in window.step_label.text()
    assert "your changes are unsaved" in window.step_label.text()
    assert window.isWindowModified() and window.windowTitle().endswith("[*] — visgrad")
    assert not window.undo_stack.isClean()
    assert any(kind == "error" and "Could not save" in text
               for kind, text, _ in window.log.entries())
    if before is not None:
        assert path.read_bytes() == before  # the old file is intact
        assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_save_into_a_read_only_folder(saved_window):
    window, path, before = saved_window
    path.parent.chmod(0o555)
    try:
        assert not window.save()
        assert_save_failed(window, path, before, str(path))
    finally:
        path.parent.chmod(0o755)


def test_save_where_the_folder_is_a_file(window, tmp_path):
    window.open_example("chain_rule")
    window.editor.push(RemoveNodes([window.document.node("loss").id]))
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder", encoding="utf-8")
    target = blocker / "graph.vgraph"
    assert not window.save_as(target)
    assert_save_failed(window, target, None, str(target))
    assert blocker.read_text(encoding="utf-8") == "not a folder"
    assert window.path is None  # still untitled


def test_save_whose_write_raises(saved_window, monkeypatch):
    window, path, before = saved_window

    def broken_write(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(QSaveFile, "write", broken_write)
    window.save_action.trigger()
    assert_save_failed(window, path, before, "No space left on device")


@pytest.mark.parametrize("failure", ["short_write", "commit"])
def test_save_whose_write_or_commit_fails(saved_window, monkeypatch, failure):
    window, path, before = saved_window
    if failure == "short_write":
        monkeypatch.setattr(QSaveFile, "write", lambda self, data: 3)
    else:
        monkeypatch.setattr(QSaveFile, "commit", lambda self: self.cancelWriting() or False)
    assert not window.save()
    assert_save_failed(window, path, before, str(path))


def test_save_when_the_document_cannot_be_written(saved_window, monkeypatch):
    window, path, before = saved_window

    def refuse(document):
        raise files.GraphFileError("cannot write the document: Out of range float values")

    monkeypatch.setattr(files, "dumps", refuse)
    assert not window.save()
    assert_save_failed(window, path, before, "Out of range float values")


def test_a_save_after_a_failure_works(saved_window, monkeypatch):
    window, path, _ = saved_window
    with monkeypatch.context() as patch:
        patch.setattr(QSaveFile, "write", lambda self, data: -1)
        assert not window.save()
    assert window.save()
    assert not window.isWindowModified()
    assert "w3" not in files.load(path)


# values above the element limit ------------------------------------------------------------


def test_a_value_above_the_element_limit_is_refused_in_the_inspector(window, qtbot):
    window.open_example("l1_l4_network")
    w1 = window.document.node("w1").id
    window.select_node(w1)
    before = window.document.to_data()
    edit_param(qtbot, window, "value", "zeros(10000, 10000)")  # 100 million elements
    assert window.document.to_data() == before
    label = window.inspector.error_label
    assert label.isVisible()
    assert "100,000,000 elements" in label.text() and "50,000,000" in label.text()
    assert "100,000,000 elements" in window.step_label.text()
    edit_param(qtbot, window, "value", "randn(3, 4)")  # and the inspector goes on working
    assert window.document.nodes[w1].params["value"] == "randn(3, 4)"
    assert not label.isVisible()


def test_the_element_limit_is_a_setting(qtbot, tmp_path, monkeypatch):
    from visgrad.qt.main_window import ELEMENT_LIMIT_SETTING, MainWindow

    monkeypatch.setattr(expressions.limits, "max_elements", expressions.limits.max_elements)
    settings = QSettings(str(tmp_path / "limits.ini"), QSettings.Format.IniFormat)
    settings.setValue(ELEMENT_LIMIT_SETTING, 1000)
    main = MainWindow(settings, interactive=False)
    try:
        assert expressions.limits.max_elements == 1000  # read at startup
        main.open_example("l1_l4_network")
        main.select_node(main.document.node("w1").id)
        edit_param(qtbot, main, "value", "ones(40, 40)")
        assert "1,600 elements; the limit is 1,000" in main.inspector.error_label.text()
        main.element_limit_action.trigger()  # non-interactive: says the limit
        assert "1,000 elements" in main.step_label.text()
        main.set_element_limit(2000)
        assert int(settings.value(ELEMENT_LIMIT_SETTING)) == 2000
        edit_param(qtbot, main, "value", "ones(40, 40)")
        assert main.document.node("w1").params["value"] == "ones(40, 40)"
    finally:
        close_window(main)


# anomaly mode ------------------------------------------------------------------------------


def nan_graph() -> GraphDocument:
    """x → log (nan at -1, -inf at 0) → exp → sum."""
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value="[2.0, -1.0, 0.5]", position=(0, 0))
    log = doc.add_node("Log", label="l", position=(220, 0))
    exp = doc.add_node("Exp", label="e", position=(440, 0))
    total = doc.add_node("Sum", label="loss", position=(660, 0))
    doc.connect(x, log, "x")
    doc.connect(log, exp, "x")
    doc.connect(exp, total, "x")
    return doc


def backward_nan_graph(value: str = "[0.0, 4.0]", scale: str = "0.0") -> GraphDocument:
    """loss = sum(sqrt(x) * scale): finite forward; at x = 0, sqrt's gradient is inf, and
    inf · 0 is nan."""
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value=value, position=(0, 0))
    root = doc.add_node("Sqrt", label="s", position=(220, 0))
    zero = doc.add_node("Tensor", label="k", value=scale, position=(220, 160))
    mul = doc.add_node("Mul", label="m", position=(440, 0))
    total = doc.add_node("Sum", label="loss", position=(660, 0))
    doc.connect(x, root, "x")
    doc.connect(root, mul, "a")
    doc.connect(zero, mul, "b")
    doc.connect(mul, total, "x")
    return doc


def open_document(window, doc: GraphDocument) -> None:
    window.load_document(doc, None, "anomaly.vgraph")


def test_anomaly_mode_is_an_undoable_setting_in_the_run_menu(window):
    open_document(window, nan_graph())
    run_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Run")
    assert window.anomaly_action in run_menu.actions()
    window.anomaly_action.trigger()
    assert window.document.settings["detect_anomaly"] is True
    assert window.anomaly_action.isChecked()
    window.undo_action.trigger()
    assert window.document.settings["detect_anomaly"] is False
    assert not window.anomaly_action.isChecked()


def test_forward_nan_marks_the_first_node_and_pauses_the_run(window):
    open_document(window, nan_graph())
    window.anomaly_action.trigger()
    window.run_forward_action.trigger()
    finding = window.anomaly.finding
    log_id = window.document.node("l").id
    assert finding is not None and finding.node_id == log_id and finding.stage == "forward"
    assert finding.op == "Log" and finding.bad == "nan"
    status = window.step_label.text()
    assert "Anomaly: l = Log(…) gave nan at [1]" in status
    assert "x = [2.0, -1.0, 0.5]  (x[1] = -1.0)" in status
    assert window.session.state == "forward_in_progress"  # paused on the node
    marker = window.anomaly.marker
    assert marker is not None and marker.parentItem() is window.scene.node_item(log_id)
    assert marker.tag == "NaN forward"
    assert any(kind == "error" and node == log_id and "gave nan" in text
               for kind, text, node in window.log.entries())
    window.scene.flush()
    window.grab()  # the marker paints
    # carrying on from there: exp(nan) is nan too, but that is not where it started
    window.run_forward_action.trigger()
    assert window.session.state == "forward_done"
    assert window.anomaly.finding.node_id == log_id
    # a new pass starts clean, and finds it again
    window.reset_action.trigger()
    assert window.anomaly.finding is None and window.anomaly.marker is None
    window.run_forward_action.trigger()
    assert window.anomaly.finding.node_id == log_id


def test_without_anomaly_mode_nan_just_flows(window):
    open_document(window, nan_graph())
    window.run_forward_action.trigger()
    assert window.session.state == "forward_done"
    assert window.anomaly.finding is None and window.anomaly.marker is None


def test_a_nan_source_value_is_the_origin(window):
    doc = nan_graph()
    doc.set_param("x", "value", "[1.0, nan]")
    open_document(window, doc)
    window.anomaly_action.trigger()
    window.run_forward_action.trigger()
    assert window.anomaly.finding.node_id == window.document.node("x").id
    assert "its value is [1.0, nan]" in window.step_label.text()


def test_backward_nan_is_marked_on_the_grad_fn_that_made_it(window):
    open_document(window, backward_nan_graph())
    window.anomaly_action.trigger()
    window.run_backward_action.trigger()
    finding = window.anomaly.finding
    assert finding is not None and finding.stage == "backward"
    assert finding.node_id == window.document.node("s").id
    assert finding.op == "SqrtBackward0"
    assert "forward inputs: x = [0.0, 4.0]" in window.step_label.text()
    assert window.session.error is not None  # the engine refused, as torch does
    assert window.anomaly.marker.tag == "NaN backward"


def test_backward_inf_is_caught_where_torch_would_not(window):
    open_document(window, backward_nan_graph(scale="1.0"))
    window.anomaly_action.trigger()
    window.run_backward_action.trigger()
    finding = window.anomaly.finding
    assert finding is not None and finding.bad == "inf"
    assert finding.node_id == window.document.node("s").id
    assert "SqrtBackward0 (s = Sqrt) sent a gradient with inf" in window.step_label.text()
    assert window.session.state == "backward_in_progress"  # paused there
    window.run_backward_action.trigger()
    assert window.session.state == "backward_done"
    # an edit forgets the finding
    window.editor.push(SetParam(window.document.node("x").id, "value", "[1.0, 4.0]"))
    assert window.anomaly.finding is None and window.anomaly.marker is None
    window.run_backward_action.trigger()
    assert window.anomaly.finding is None


def test_opening_another_document_drops_the_marker(window):
    open_document(window, nan_graph())
    window.anomaly_action.trigger()
    window.run_forward_action.trigger()
    assert window.anomaly.marker is not None
    window.open_example("chain_rule")
    assert window.anomaly.finding is None and window.anomaly.marker is None
    window.run_backward_action.trigger()
    assert window.session.error is None


# long runs ---------------------------------------------------------------------------------


def long_chain(length: int) -> GraphDocument:
    doc = GraphDocument()
    previous = doc.add_node("Parameter", label="x", value="[0.5, 0.25]")
    for index in range(length):
        node = doc.add_node("Tanh" if index % 2 else "Sin", position=(180.0 * (index + 1), 0))
        doc.connect(previous, node, "x")
        previous = node
    total = doc.add_node("Sum", label="loss", position=(180.0 * (length + 1), 0))
    doc.connect(previous, total, "x")
    return doc


@pytest.fixture
def slow_runs(window):
    """Runs that go to the event loop at once, a few steps at a time."""
    window.runner.sync_seconds = 0.0
    window.runner.chunk_seconds = 0.0
    return window


def test_a_long_run_shows_progress_and_esc_cancels_it(slow_runs, qtbot):
    window = slow_runs
    open_document(window, long_chain(150))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.run_forward_action.trigger()
    assert window.runner.running
    assert window.cancel_run_action.isEnabled()
    qtbot.waitUntil(lambda: window.run_progress.isVisible())
    qtbot.waitUntil(lambda: window.runner.steps >= 5)
    assert "Forward:" in window.run_progress.label.text()
    assert window.run_progress.bar.maximum() == len(window.document)
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert not window.runner.running
    assert not window.run_progress.isVisible()
    assert not window.cancel_run_action.isEnabled()
    assert window.session.state == "forward_in_progress"  # stopped between two steps
    assert "Run cancelled after" in window.step_label.text()
    steps = window.runner.steps
    qtbot.wait(50)
    assert window.session.state == "forward_in_progress" and window.runner.steps == steps


def test_a_long_backward_run_finishes_with_the_same_gradients(slow_runs, qtbot):
    window = slow_runs
    open_document(window, long_chain(60))
    window.run_backward_action.trigger()
    assert window.runner.running
    qtbot.waitUntil(lambda: not window.runner.running, timeout=20000)
    assert window.session.state == "backward_done"
    grad = window.session.inspect("x").grad.copy()
    window.runner.sync_seconds = 10.0  # the same run, all at once
    window.zero_grad_action.trigger()
    window.run_forward_action.trigger()
    window.run_backward_action.trigger()
    assert not window.runner.running
    assert (window.session.inspect("x").grad == grad).all()


def test_the_cancel_button_and_edits_stop_a_run(slow_runs, qtbot):
    window = slow_runs
    open_document(window, long_chain(150))
    window.run_backward_action.trigger()
    qtbot.waitUntil(lambda: window.run_progress.isVisible())
    qtbot.mouseClick(window.run_progress.button, Qt.MouseButton.LeftButton)
    assert not window.runner.running
    window.run_backward_action.trigger()
    assert window.runner.running
    window.editor.push(SetParam(window.document.node("x").id, "value", "1.0"))
    qtbot.waitUntil(lambda: not window.runner.running)
    assert "the graph was edited" in window.step_label.text()
    window.run_forward_action.trigger()
    window.open_example("chain_rule")  # another document: the old run stops
    assert not window.runner.running
    window.run_backward_action.trigger()
    qtbot.waitUntil(lambda: not window.runner.running)
    assert window.session.state == "backward_done"


# found by the monkey ---------------------------------------------------------------------------


def test_a_function_whose_forward_is_a_list_does_not_break_the_views(window, qtbot):
    """A custom Function's forward formula set to ``[1.0, 2.0]`` made its output a Python list;
    every refresh of the canvas and the inspector then raised (``'list' object has no
    attribute 'is_leaf'``), reported as internal errors."""
    from visgrad.qt import errors

    window.open_example("custom_functions")
    double = window.document.node("double").id
    window.editor.push(SetParam(double, "forward", "[1.0, 2.0]"))
    window.select_node(double)
    reported = len(errors.hub().history)
    window.anomaly_action.trigger()
    window.run_backward_action.trigger()
    window.scene.flush()
    window.inspector.flush()
    window.grab()
    assert errors.hub().history[reported:] == []
    window.undo_stack.undo()
    window.undo_stack.undo()
    window.run_backward_action.trigger()
    assert window.session.state == "backward_done" and window.session.error is None


def test_esc_pauses_training_too(window, qtbot):
    window.open_example("linear_regression")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    panel = window.train_panel
    panel.steps_edit.setText("1000000")
    panel.steps_edit.editingFinished.emit()
    assert not window.cancel_run_action.isEnabled()
    panel.start_button.click()
    assert panel.running and window.cancel_run_action.isEnabled()
    qtbot.wait(50)
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert not panel.running
    assert not window.cancel_run_action.isEnabled()
    assert "Paused at iteration" in window.step_label.text()
