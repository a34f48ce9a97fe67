"""Autosave and recovery: the recovery file follows the unsaved changes; a killed app's file is
offered at the next launch and gives the same document back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QLockFile

from tests.qt.conftest import close_window
from visgrad.document import examples, files
from visgrad.document.operations import RemoveNodes, SetParam
from visgrad.qt import autosave

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_window(qtbot, settings, tmp_path):
    """Windows whose autosave writes into tmp_path/recovery (closed at the end)."""
    from visgrad.qt import theme
    from visgrad.qt.main_window import MainWindow

    made = []

    def make(directory: Path | None = None, interval: float = 3600.0):
        theme.apply("light")
        window = MainWindow(settings, interactive=False,
                            recovery_dir=directory or tmp_path / "recovery")
        window.autosave.interval_seconds = interval
        made.append(window)
        return window

    yield make
    for window in made:
        if shiboken6.isValid(window):  # a test may have closed it
            close_window(window)
    made.clear()


def recovered_graph(file: Path) -> str:
    """The canonical .vgraph text of the document a recovery file holds."""
    data = json.loads(file.read_text(encoding="utf-8"))
    assert data["format"] == "visgrad-recovery"
    return files.dumps(files.loads(json.dumps(data["graph"])))


def delete_node(window, label: str) -> None:
    assert window.editor.push(RemoveNodes([window.document.node(label).id])) is None


def test_edits_arm_a_single_shot_timer_that_writes_the_document(make_window, qtbot):
    window = make_window(interval=0.05)
    window.open_example("l1_l4_network")
    file = window.autosave.file
    assert not window.autosave.timer.isActive()  # an idle app writes nothing
    assert not file.exists()
    delete_node(window, "w3")
    assert window.autosave.timer.isActive() and window.autosave.timer.isSingleShot()
    with qtbot.waitSignal(window.autosave.sigSaved, timeout=3000):
        pass
    assert recovered_graph(file) == files.dumps(window.document)
    # the next edit arms the timer again, and the file follows
    window.editor.push(SetParam(window.document.node("w1").id, "value", "7.0"))
    with qtbot.waitSignal(window.autosave.sigSaved, timeout=3000):
        pass
    assert recovered_graph(file) == files.dumps(window.document)
    assert not window.autosave.timer.isActive()


def test_edits_do_not_push_the_timer_back(make_window, qtbot):
    window = make_window(interval=0.4)
    window.open_example("chain_rule")
    started = time.monotonic()
    saved = []
    window.autosave.sigSaved.connect(saved.append)
    # keep editing for longer than the interval: a copy is still written meanwhile
    while not saved and time.monotonic() - started < 5:
        window.editor.push(SetParam(window.document.node("x").id, "value",
                                    f"{time.monotonic() - started:.3f}"))
        qtbot.wait(50)
    assert saved, "continuous editing postponed the autosave forever"


def test_every_run_writes_the_recovery_file_first(make_window):
    window = make_window()
    window.open_example("l1_l4_network")
    file = window.autosave.file
    delete_node(window, "w3")
    written = []
    window.autosave.sigSaved.connect(written.append)

    def check_saved_before_the_engine_ran(event):
        if event.new in ("forward_in_progress", "backward_in_progress"):
            assert file.exists()

    window.session.events.state_changed.connect(check_saved_before_the_engine_ran)
    window.run_forward_action.trigger()
    assert written == [str(file)]
    assert recovered_graph(file) == files.dumps(window.document)
    window.run_backward_action.trigger()  # nothing changed since: nothing to write
    window.step_forward_action.trigger()
    assert len(written) == 1
    window.editor.push(SetParam(window.document.node("w1").id, "value", "3.0"))
    window.step_forward_action.trigger()  # a step starts a run too
    assert len(written) == 2
    assert recovered_graph(file) == files.dumps(window.document)


def test_clean_states_and_a_normal_close_remove_the_recovery_file(make_window, tmp_path):
    window = make_window()
    window.open_example("l1_l4_network")
    file = window.autosave.file
    delete_node(window, "w3")
    assert window.autosave.save_now()
    assert file.exists()
    window.undo_stack.undo()  # back to what is on disk: nothing to recover
    assert not file.exists()
    window.undo_stack.redo()
    assert window.autosave.save_now()
    assert window.save_as(tmp_path / "saved.vgraph")  # a clean save
    assert not file.exists()
    delete_node(window, "w2")
    assert window.autosave.save_now()
    window.new_document()  # non-interactive: the changes are discarded
    assert not file.exists()
    window.open_example("chain_rule")
    delete_node(window, "loss")
    assert window.autosave.save_now()
    lock = file.with_suffix(".lock")
    assert lock.exists()
    window.close()
    assert not file.exists() and not lock.exists()


def test_a_failed_save_keeps_the_recovery_file(make_window, tmp_path):
    window = make_window()
    window.open_example("chain_rule")
    delete_node(window, "loss")
    assert window.autosave.save_now()
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("", encoding="utf-8")
    assert not window.save_as(blocker / "graph.vgraph")
    assert window.isWindowModified()
    assert window.autosave.file.exists()


def orphan_from(window, folder: Path) -> Path:
    """A copy of ``window``'s recovery file in ``folder`` that no running app owns."""
    assert window.autosave.save_now(force=True)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "recovery-dead-app.json"
    target.write_bytes(window.autosave.file.read_bytes())
    return target


@pytest.mark.parametrize("from_file", [False, True])
def test_restore_gives_the_document_back_as_unsaved_changes(make_window, tmp_path, from_file):
    first = make_window(tmp_path / "first")
    if from_file:
        path = tmp_path / "graph.vgraph"
        files.save(examples.load("chain_rule"), path)
        assert first.open_path(path, ask=False)
    else:
        first.open_example("l1_l4_network")
    delete_node(first, "loss")
    expected = files.dumps(first.document)
    orphan = orphan_from(first, tmp_path / "second")

    second = make_window(tmp_path / "second")
    offered = []
    second.autosave.choose = lambda recovery: offered.append(recovery) or autosave.RESTORE
    assert second.autosave.offer_recovery()
    assert len(offered) == 1
    assert offered[0].name == first.display_name
    assert files.dumps(second.document) == expected
    assert second.isWindowModified() and not second.undo_stack.isClean()
    assert second.windowTitle().startswith(first.display_name)
    assert second.path == (first.path if from_file else None)
    assert not orphan.exists()  # adopted: the restoring app's own file holds it now
    assert recovered_graph(second.autosave.file) == expected
    if from_file:  # Save writes to the original file
        assert second.save()
        assert files.dumps(files.load(first.path)) == expected
        assert not second.autosave.file.exists()


def test_discard_deletes_and_not_now_keeps_the_recovery_file(make_window, tmp_path):
    first = make_window(tmp_path / "first")
    first.open_example("chain_rule")
    delete_node(first, "loss")
    orphan = orphan_from(first, tmp_path / "second")
    second = make_window(tmp_path / "second")
    before = files.dumps(second.document)
    second.autosave.choose = lambda recovery: autosave.KEEP
    assert not second.autosave.offer_recovery()
    assert orphan.exists() and files.dumps(second.document) == before
    assert not second.autosave.offer_recovery()  # offered again, kept again
    assert len(second.autosave.offered) == 2
    second.autosave.choose = lambda recovery: autosave.DISCARD
    assert not second.autosave.offer_recovery()
    assert not orphan.exists()
    assert files.dumps(second.document) == before
    assert not second.autosave.offer_recovery()
    assert len(second.autosave.offered) == 3


def test_a_running_apps_file_is_not_offered(make_window, tmp_path):
    shared = tmp_path / "shared"
    first = make_window(shared)
    first.open_example("chain_rule")
    delete_node(first, "loss")
    assert first.autosave.save_now()
    second = make_window(shared)
    second.autosave.choose = lambda recovery: pytest.fail("offered a live app's file")
    assert not second.autosave.offer_recovery()
    assert first.autosave.file.exists()
    # a lock held long ago by an app that is still running stays its own
    lock = QLockFile(str(first.autosave.file.with_suffix(".lock")))
    lock.setStaleLockTime(0)
    assert not lock.tryLock(0)


def test_an_unreadable_recovery_file_is_set_aside_and_reported(make_window, tmp_path):
    folder = tmp_path / "recovery"
    folder.mkdir()
    broken = folder / "recovery-broken.json"
    broken.write_text('{"format": "visgrad-recovery", "graph": {"nodes": 5}}',
                      encoding="utf-8")
    window = make_window(folder)
    window.autosave.choose = lambda recovery: pytest.fail("offered an unreadable file")
    assert not window.autosave.offer_recovery()
    assert not broken.exists()
    assert broken.with_suffix(".unreadable").exists()
    assert "Could not recover" in window.step_label.text()


def test_an_unusable_recovery_folder_turns_autosave_off_with_a_message(make_window, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    window = make_window(blocker / "recovery")
    assert not window.autosave.enabled
    assert "Autosave is off" in window.step_label.text()
    window.open_example("chain_rule")
    delete_node(window, "loss")
    window.run_forward_action.trigger()  # nothing to write to, nothing breaks
    assert not window.autosave.save_now()
    assert window.session.state == "forward_done"


def test_a_failing_recovery_write_is_reported_once(make_window, monkeypatch):
    window = make_window()
    window.open_example("chain_rule")
    monkeypatch.setattr(autosave, "write_atomically", lambda path, data: "disk full")
    delete_node(window, "loss")
    assert not window.autosave.save_now()
    assert "Autosave failed" in window.step_label.text() and "disk full" in \
        window.step_label.text()
    errors = [text for kind, text, _ in window.log.entries() if "Autosave failed" in text]
    window.undo_stack.undo()
    window.undo_stack.redo()
    assert not window.autosave.save_now()
    assert [text for kind, text, _ in window.log.entries() if "Autosave failed" in text] == \
        errors


def test_default_directory_honours_the_environment(monkeypatch, tmp_path, qapp):
    monkeypatch.setenv(autosave.RECOVERY_DIR_ENV, str(tmp_path / "here"))
    assert autosave.default_directory() == tmp_path / "here"
    monkeypatch.delenv(autosave.RECOVERY_DIR_ENV)
    assert autosave.default_directory().name == "recovery"


# the real thing: kill -9 the app, launch it again --------------------------------------------

EDITS = [
    {"add": "Exp", "label": "e", "at": [960, 40]},
    {"connect": ["loss", "e", "x"]},
    {"set": ["w1", "value", "[[1.5, -2.0], [0.25, 4.0]]"]},
    {"delete": ["w3"]},
    {"add": "Parameter", "label": "w5", "params": {"value": "0.5"}, "at": [0, 420]},
    {"connect": ["w5", "l3", "b"]},
    {"undo": 1}, {"redo": 1},
]


def launch(tmp_path: Path, name: str, script: dict) -> subprocess.Popen:
    script_file = tmp_path / f"{name}.json"
    script_file.write_text(json.dumps(script), encoding="utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               VISGRAD_RECOVERY_DIR=str(tmp_path / "recovery"),
               VISGRAD_TEST_SCRIPT=str(script_file),
               XDG_CONFIG_HOME=str(tmp_path / "config"),  # keep the user's settings out
               XDG_DATA_HOME=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "visgrad"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the app exited with {process.returncode}:\n{err.decode()}")
        if time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"timed out; the app said:\n{err.decode()}")
        time.sleep(0.05)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_after_kill_9_the_next_launch_restores_the_document(tmp_path):
    recovery = tmp_path / "recovery"
    expected_state = tmp_path / "before.json"
    first = launch(tmp_path, "first", {"autosave_seconds": 0.2, "steps": [
        *EDITS, {"dump": str(expected_state)}]})
    try:
        wait_for(lambda: expected_state.exists(), first)
        expected = json.loads(expected_state.read_text(encoding="utf-8"))
        assert expected["modified"]
        own = Path(expected["recovery_file"])
        assert own.parent == recovery

        def autosaved() -> bool:  # the timer, armed by the edits, has written them all
            try:
                return recovered_graph(own) == expected["graph"]
            except (OSError, ValueError, KeyError):
                return False

        wait_for(autosaved, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert own.exists()  # nothing cleaned up after a kill

    after = tmp_path / "after.json"
    second = launch(tmp_path, "second", {"recovery_choice": "restore", "steps": [
        {"dump": str(after)}, {"close": True}]})
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    state = json.loads(after.read_text(encoding="utf-8"))
    assert len(state["offers"]) == 1 and state["offers"][0].startswith("l1_l4_network.vgraph")
    assert state["graph"] == expected["graph"]  # canonical dumps: the same document
    assert state["modified"] and not state["clean"]
    assert state["title"] == expected["title"]
    restored = files.loads(state["graph"])
    assert {"e", "w5"} <= {node.label for node in restored} and "w3" not in restored
    assert list(recovery.glob("*.json")) == []  # adopted, then removed by the normal close
    assert list(recovery.glob("*.lock")) == []

    third = launch(tmp_path, "third", {"recovery_choice": "restore", "steps": [
        {"dump": str(tmp_path / "third.json")}, {"close": True}]})
    third.communicate(timeout=120)
    assert json.loads((tmp_path / "third.json").read_text(encoding="utf-8"))["offers"] == []


def test_starting_training_writes_the_recovery_file_first(make_window, qtbot):
    window = make_window()
    window.open_example("l1_l4_network")
    delete_node(window, "w3")
    written = []
    window.autosave.sigSaved.connect(written.append)
    panel = window.train_panel
    panel.start_button.click()
    assert written == [str(window.autosave.file)]  # before the first iteration's tick
    assert recovered_graph(window.autosave.file) == files.dumps(window.document)
    if panel.pause_button.isEnabled():
        panel.pause_button.click()


def test_the_test_script_drives_the_window_like_a_user(make_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from visgrad.qt import scripted

    window = make_window()
    window.open_example("l1_l4_network")
    exits = []
    monkeypatch.setattr(QApplication, "exit", lambda code=0: exits.append(code))
    script = {"recovery_choice": "discard", "autosave_seconds": 0.5, "steps": [
        {"add": "Exp", "label": "e"}, {"connect": ["loss", "e", "x"]},
        {"set": ["w1", "value", "3.0"]}, {"delete": ["w3"]}, {"undo": 2}, {"redo": 1},
        {"run": "backward"}, {"run": "step_forward"}, {"dump": str(tmp_path / "state.json")},
        {"save_as": str(tmp_path / "out.vgraph")}]}
    scripted.configure(window, script)
    assert window.autosave.choose(None) == "discard"
    assert window.autosave.interval_seconds == 0.5
    scripted.run(window, script)
    assert exits == []
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["modified"] and "e" in files.loads(state["graph"])
    assert files.loads(state["graph"]).node("w1").params["value"] == "3.0"
    assert "w3" in files.loads(state["graph"])  # deleting it was undone
    assert files.dumps(files.load(tmp_path / "out.vgraph")) == state["graph"]
    assert not window.isWindowModified()
    scripted.run(window, {"steps": [{"connect": ["nowhere", "e", "x"]}, {"undo": 1}]})
    assert exits == [scripted.EXIT_SCRIPT_FAILED]
