"""A seeded monkey: hundreds of random user actions, and not one exception or Qt warning.

Palette drops, port-to-port drags, edge pick-ups, node moves, clicks and rubber bands,
deletions, undo/redo, inspector edits (good and bad values, hooks), steps and runs, reset,
zero grad, keyboard shortcuts, every menu action (file dialogs answered by the test), with
autosave writing every few edits. After each action the canvas must match the document and
the title's mark the undo stack, and nothing may have reached the error hub (the
``@guarded`` boundary swallows exceptions, so it is checked as well as the exceptions pytest-qt
captures).

By default two seeds run 400 actions each (800 in all, about 10 s);
``VISGRAD_MONKEY_ACTIONS`` (per seed) and ``VISGRAD_MONKEY_SEED`` run it longer locally, e.g.
``VISGRAD_MONKEY_ACTIONS=5000 VISGRAD_MONKEY_SEED=7 pytest tests/qt/test_monkey.py -s``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest
import shiboken6
from PySide6 import QtCore
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QInputDialog, QMessageBox

from tests.qt.conftest import close_window
from visgrad.document import examples, expressions, files, registry
from visgrad.qt import errors, theme
from visgrad.qt.panels.code_dialog import CodeDialog

ACTIONS = int(os.environ.get("VISGRAD_MONKEY_ACTIONS", "400"))
SEEDS = [int(os.environ["VISGRAD_MONKEY_SEED"])] if os.environ.get("VISGRAD_MONKEY_SEED") \
    else [1, 2]
MAX_NODES = 36
# Offscreen platform chatter, not a misuse of Qt.
BENIGN = ("This plugin does not support propagateSizeHints()",
          "This plugin does not support raise()",
          "This plugin does not support grabbing the keyboard")
VALUES = ["1.0", "-2.5", "[1.0, 2.0]", "[[1, 2], [3, 4]]", "randn(3, 4)", "ones(2, 2)",
          "zeros(3)", "nan", "[1.0, inf]", "arange(6).reshape(2, 3)", "[1, 2", "", "0",
          "zeros(10000, 10000)", "eye(3)", "randn(2, 3, 4)", "[[1.0]]", "'text'", "__import__",
          "1e309", "-0.0", "[True, False]", "10**10"]
LABELS = ["a", "loss", "w 1", "x_2", "n5", "", "Ω", "out", "very_long_label_" * 4]


class Monkey:
    def __init__(self, window, qtbot, rng: random.Random, tmp_path) -> None:
        self.window, self.qtbot, self.rng, self.tmp_path = window, qtbot, rng, tmp_path
        self.kinds = list(registry.names())
        self.examples = list(examples.names())
        self.done: dict[str, int] = {}
        self.saved_paths: list[str] = []

    # helpers -------------------------------------------------------------------------------
    @property
    def viewport(self):
        return self.window.view.viewport()

    def random_point(self) -> QPoint:
        rect = self.viewport.rect()
        return QPoint(self.rng.randint(5, max(6, rect.width() - 5)),
                      self.rng.randint(5, max(6, rect.height() - 5)))

    def node_ids(self) -> list[str]:
        return list(self.window.document.nodes)

    def ports(self, output: bool) -> list:
        result = []
        for item in self.window.scene.node_items():
            result.extend((item.outputs if output else item.inputs).values())
        return result

    def to_view(self, scene_pos) -> QPoint:
        return self.window.view.mapFromScene(scene_pos)

    def drag(self, start: QPoint, end: QPoint, steps: int = 3,
             modifier=Qt.KeyboardModifier.NoModifier) -> None:
        qtbot = self.qtbot
        qtbot.mousePress(self.viewport, Qt.MouseButton.LeftButton, modifier, start)
        for i in range(1, steps + 1):
            qtbot.mouseMove(self.viewport, QPoint(start.x() + (end.x() - start.x()) * i // steps,
                                                  start.y() + (end.y() - start.y()) * i // steps))
        qtbot.mouseRelease(self.viewport, Qt.MouseButton.LeftButton, modifier, end)

    # actions -------------------------------------------------------------------------------
    def drop_from_palette(self) -> None:
        if len(self.window.document) >= MAX_NODES:
            return self.delete_selection(all_nodes=True)
        tree = self.window.palette.tree
        item = tree.item_for(self.rng.choice(self.kinds))
        mime = tree.mimeData([item])
        pos = self.random_point()
        action = Qt.DropAction.CopyAction
        for event in (QDragEnterEvent(pos, action, mime, Qt.MouseButton.LeftButton,
                                      Qt.KeyboardModifier.NoModifier),
                      QDragMoveEvent(pos, action, mime, Qt.MouseButton.LeftButton,
                                     Qt.KeyboardModifier.NoModifier),
                      QDropEvent(QPointF(pos), action, mime, Qt.MouseButton.LeftButton,
                                 Qt.KeyboardModifier.NoModifier)):
            QApplication.sendEvent(self.viewport, event)

    def connect_ports(self) -> None:
        outputs, inputs = self.ports(True), self.ports(False)
        if not outputs or not inputs:
            return self.drop_from_palette()
        free = [p for p in inputs if not self.window.scene.port_connected(p)]
        source = self.rng.choice(outputs)
        target = self.rng.choice(free if free and self.rng.random() < 0.7 else inputs)
        if self.rng.random() < 0.3:
            source, target = target, source  # drag from the input end
        self.drag(self.to_view(source.scenePos()), self.to_view(target.scenePos()),
                  self.rng.randint(1, 5))

    def pick_up_edge(self) -> None:
        connected = [p for p in self.ports(False) if self.window.scene.port_connected(p)]
        if not connected:
            return self.connect_ports()
        port = self.rng.choice(connected)
        self.drag(self.to_view(port.scenePos()), self.random_point(), 3)

    def move_nodes(self) -> None:
        items = self.window.scene.node_items()
        if not items:
            return self.drop_from_palette()
        item = self.rng.choice(items)
        grab = self.to_view(item.mapToScene(70, 8))
        self.drag(grab, grab + QPoint(self.rng.randint(-200, 200), self.rng.randint(-150, 150)),
                  self.rng.randint(1, 4))

    def click(self) -> None:
        items = self.window.scene.node_items()
        if items and self.rng.random() < 0.7:
            item = self.rng.choice(items)
            pos = self.to_view(item.mapToScene(60, 40))
        else:
            pos = self.random_point()
        modifier = self.rng.choice([Qt.KeyboardModifier.NoModifier,
                                    Qt.KeyboardModifier.ControlModifier])
        self.qtbot.mouseClick(self.viewport, Qt.MouseButton.LeftButton, modifier, pos)

    def rubber_band(self) -> None:
        self.drag(self.random_point(), self.random_point(), 3)

    def delete_selection(self, all_nodes: bool = False) -> None:
        ids = self.node_ids()
        if all_nodes:
            chosen = ids
        else:
            chosen = self.rng.sample(ids, k=min(len(ids), self.rng.randint(0, 3)))
        self.window.scene.select_nodes(chosen)
        if self.rng.random() < 0.5:
            self.qtbot.keyClick(self.window.view, Qt.Key.Key_Delete)
        else:
            self.window.delete_action.trigger()

    def undo_redo(self) -> None:
        stack = self.window.undo_stack
        for _ in range(self.rng.randint(1, 4)):
            if self.rng.random() < 0.6:
                self.window.undo_action.trigger()
            else:
                self.window.redo_action.trigger()
        if self.rng.random() < 0.2 and stack.count():
            stack.setIndex(self.rng.randint(0, stack.count()))

    def keyboard(self) -> None:
        key, modifiers = self.rng.choice([
            (Qt.Key.Key_F10, Qt.KeyboardModifier.NoModifier),
            (Qt.Key.Key_F11, Qt.KeyboardModifier.NoModifier),
            (Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier),
            (Qt.Key.Key_F11, Qt.KeyboardModifier.ShiftModifier),
            (Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier),
            (Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier
             | Qt.KeyboardModifier.ShiftModifier),
            (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier),
            (Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier),
            (Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier),
            (Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier),
            (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
            (Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier),
        ])
        self.window.view.setFocus()
        self.qtbot.keyClick(self.window.view, key, modifiers)

    def step_or_run(self) -> None:
        window = self.window
        actions = [window.step_forward_action, window.step_backward_action,
                   window.run_forward_action, window.run_backward_action,
                   window.reset_action, window.zero_grad_action, window.anomaly_action,
                   window.retain_graph_action, window.create_graph_action]
        weights = [3, 6, 2, 5, 1, 1, 1, 1, 1]  # the backward pass is what there is to see
        for _ in range(self.rng.randint(1, 4)):
            self.rng.choices(actions, weights)[0].trigger()

    def slow_run(self) -> None:
        """A run that goes to the event loop, cancelled (or not) part-way."""
        window = self.window
        runner = window.runner
        runner.sync_seconds, runner.chunk_seconds = 0.0, 0.0
        try:
            self.rng.choice([window.run_forward_action, window.run_backward_action]).trigger()
            self.qtbot.wait(self.rng.randint(0, 30))
            if self.rng.random() < 0.5:
                window.cancel_run_action.trigger()
            elif self.rng.random() < 0.5 and len(window.document):
                self.inspector_edit()  # an edit while it runs stops it
            self.qtbot.waitUntil(lambda: not runner.running, timeout=10000)
        finally:
            runner.sync_seconds, runner.chunk_seconds = 0.3, 0.05

    def backward_node(self) -> None:
        combo = self.window.backward_combo
        if combo.count():
            index = self.rng.randrange(combo.count())
            combo.setCurrentIndex(index)
            combo.activated.emit(index)

    def inspector_edit(self) -> None:
        ids = self.node_ids()
        if not ids:
            return self.drop_from_palette()
        window = self.window
        window.select_node(self.rng.choice(ids))
        window.inspector.flush()
        editors = dict(window.inspector.editors)
        if not editors:
            return
        name = self.rng.choice(list(editors))
        editor = editors[name]
        kind = type(editor).__name__
        if kind == "QLineEdit":
            text = self.rng.choice(LABELS if name == "label" else VALUES)
            editor.setText(text)
            editor.editingFinished.emit()
        elif kind == "QCheckBox":
            editor.click()
        elif kind == "QComboBox" and editor.count():
            index = self.rng.randrange(editor.count())
            editor.setCurrentIndex(index)
            editor.activated.emit(index)
        elif kind == "QPushButton":
            if name == "hook_add":
                combo = editors["hook_kind"]
                combo.setCurrentIndex(self.rng.randrange(combo.count()))
                editors["hook_argument"].setText(self.rng.choice(
                    ["0.5", "-1, 1", "grad * 2", "", "x", "1, 2, 3", "grad.sum()"]))
            elif name == "hook_remove":
                hooks = editors["hooks"]
                hooks.setCurrentRow(self.rng.randint(-1, hooks.count() - 1))
            editor.click()
        window.inspector.flush()

    def clipboard(self) -> None:
        window = self.window
        window.scene.select_nodes(self.rng.sample(self.node_ids(),
                                                  k=min(2, len(self.node_ids()))))
        self.rng.choice([window.copy_action, window.cut_action, window.paste_action,
                         window.duplicate_action, window.select_all_action]).trigger()

    def wheel(self) -> None:
        pos = QPointF(self.random_point())
        event = QWheelEvent(pos, QPointF(self.viewport.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                            QPoint(0, self.rng.choice([-240, -120, 120, 240])),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(self.viewport, event)

    def menu_action(self) -> None:
        actions = [a for a in menu_actions(self.window)
                   if a.isEnabled() and a.text() not in ("&Quit",)]
        action = self.rng.choice(actions)
        if "Export" in action.text() and self.rng.random() < 0.7:
            return  # drawing an image is slow: only now and then
        action.trigger()

    def palette_search(self) -> None:
        search = self.window.palette.search
        search.setText(self.rng.choice(["mul", "loss", "", "zz", "sum", "x", "grad"]))
        self.qtbot.keyClick(search, Qt.Key.Key_Return)

    def interrupted_gesture(self) -> None:
        """A drag (from a port, or of a node) with an edit, an undo, a run or another
        document arriving before the button is released."""
        window, qtbot = self.window, self.qtbot
        ports = self.ports(True) + self.ports(False)
        items = window.scene.node_items()
        if not ports or not items:
            return self.drop_from_palette()
        if self.rng.random() < 0.6:
            start = self.to_view(self.rng.choice(ports).scenePos())
        else:
            start = self.to_view(self.rng.choice(items).mapToScene(70, 8))
        qtbot.mousePress(self.viewport, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(self.viewport, start + QPoint(20, 10))
        self.rng.choice([
            lambda: window.undo_action.trigger(), lambda: window.redo_action.trigger(),
            lambda: self.delete_selection(all_nodes=self.rng.random() < 0.3),
            lambda: qtbot.keyClick(window.view, Qt.Key.Key_Delete),
            lambda: window.run_backward_action.trigger(),
            lambda: window.reset_action.trigger(),
            lambda: window.open_example(self.rng.choice(["chain_rule", "l1_l4_network"])),
            lambda: window.new_action.trigger(),
            lambda: self.inspector_edit(),
            lambda: window.set_theme(self.rng.choice(["light", "dark"])),
            lambda: window.layout_action.trigger(),
        ])()
        end = self.random_point() if self.rng.random() < 0.5 or not self.ports(False) else \
            self.to_view(self.rng.choice(self.ports(False)).scenePos())
        qtbot.mouseMove(self.viewport, end)
        qtbot.mouseRelease(self.viewport, Qt.MouseButton.LeftButton, pos=end)

    def train(self) -> None:
        """The Train panel: Start (let it run a little, maybe Pause), Step, Reset, settings."""
        panel = self.window.train_panel
        choice = self.rng.random()
        if choice < 0.15:
            panel.steps_edit.setText(self.rng.choice(["5", "50", "0", "-3", "x", "100000"]))
            panel.steps_edit.editingFinished.emit()
        elif choice < 0.25:
            panel.lr_edit.setText(self.rng.choice(["0.1", "10", "1e-3", "nan", "", "-1"]))
            panel.lr_edit.editingFinished.emit()
        elif choice < 0.35 and panel.optimizer_combo.count():
            index = self.rng.randrange(panel.optimizer_combo.count())
            panel.optimizer_combo.setCurrentIndex(index)
            panel.optimizer_combo.activated.emit(index)
        else:
            button = self.rng.choice([panel.start_button, panel.start_button, panel.step_button,
                                      panel.pause_button, panel.reset_button])
            if button.isEnabled():
                button.click()
            self.qtbot.wait(self.rng.randint(0, 60))
            if self.rng.random() < 0.5 and panel.pause_button.isEnabled():
                panel.pause_button.click()

    def open_example(self) -> None:
        self.window.open_example(self.rng.choice(self.examples))

    def prune(self) -> None:
        """Delete the nodes that cannot run (a required input is free): runnable graphs."""
        document = self.window.document
        stuck = [node.id for node in document
                 if any(not port.optional and document.input_edge(node.id, port.name) is None
                        for port in node.input_ports())]
        self.window.scene.select_nodes(stuck)
        self.window.delete_action.trigger()

    def wait_a_little(self) -> None:
        self.qtbot.wait(self.rng.randint(0, 40))  # timers: autosave, refresh, edge flows

    def table(self) -> list[tuple[Callable[[], None], int]]:
        return [(self.drop_from_palette, 14), (self.connect_ports, 14), (self.pick_up_edge, 4),
                (self.move_nodes, 6), (self.click, 6), (self.rubber_band, 3),
                (self.delete_selection, 5), (self.undo_redo, 8), (self.keyboard, 8),
                (self.step_or_run, 12), (self.slow_run, 2), (self.backward_node, 2),
                (self.inspector_edit, 12), (self.clipboard, 4), (self.wheel, 2),
                (self.menu_action, 6), (self.palette_search, 2), (self.wait_a_little, 3),
                (self.interrupted_gesture, 5), (self.train, 5), (self.open_example, 3),
                (self.prune, 4)]

    def act(self) -> str:
        actions, weights = zip(*self.table(), strict=True)
        action = self.rng.choices(actions, weights)[0]
        action()
        name = action.__name__
        self.done[name] = self.done.get(name, 0) + 1
        return name


def menu_actions(window) -> list:
    found = []

    def walk(menu) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu())
            elif not action.isSeparator():
                found.append(action)

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu())
    return found


def dump_graph(window, folder) -> str:
    """Where the graph of a failure was written (to open it in the app)."""
    path = folder / "monkey-failure.vgraph"
    try:
        path.write_text(files.dumps(window.document), encoding="utf-8")
    except (OSError, ValueError) as exc:
        return f"(not written: {exc})"
    return str(path)


def check_consistent(window) -> None:
    """The canvas shows the document; the title's mark is the undo stack's."""
    scene = window.scene
    assert set(window.document.nodes) == {item.node_id for item in scene.node_items()}
    assert set(window.document.edges) == {item.edge for item in scene.edge_items()}
    for item in scene.node_items():
        assert shiboken6.isValid(item) and item.scene() is scene
    assert window.isWindowModified() == (not window.undo_stack.isClean())
    marker = window.anomaly.marker
    if marker is not None:
        assert marker.parentItem() is not None and marker.parentItem().scene() is scene


@pytest.fixture
def qt_messages():
    """Every Qt warning, critical or fatal message while the test runs."""
    messages: list[str] = []

    def handler(mode, context, message) -> None:
        if mode != QtCore.QtMsgType.QtDebugMsg and mode != QtCore.QtMsgType.QtInfoMsg:
            messages.append(f"{mode.name}: {message}")

    previous = QtCore.qInstallMessageHandler(handler)
    yield messages
    QtCore.qInstallMessageHandler(previous)


@pytest.fixture
def monkey_window(qtbot, settings, tmp_path, monkeypatch):
    from visgrad.qt.main_window import MainWindow

    monkeypatch.setattr(expressions.limits, "max_elements", expressions.limits.max_elements)
    counter = iter(range(10**6))

    def save_name(*args, **kwargs):
        suffix = ".vgraph"
        if args and "Export" in str(args[1]):
            suffix = ".png" if "PNG" in str(args[1]) else ".svg"
        number = next(counter)
        if number % 5 == 4:
            return "", ""  # the user cancelled the dialog
        return str(tmp_path / "files" / f"f{number}{suffix}"), ""

    (tmp_path / "files").mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (
        str(max((tmp_path / "files").glob("*.vgraph"), default="")), ""))
    for name in ("warning", "information", "question", "critical", "about"):
        monkeypatch.setattr(QMessageBox, name, lambda *a, **k: QMessageBox.StandardButton.Ok)
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (1000, True))
    # New from Code: build the dialog's example code (accepted) instead of waiting for a user
    monkeypatch.setattr(CodeDialog, "exec", lambda dialog: QDialog.DialogCode.Accepted
                        if dialog.build() else QDialog.DialogCode.Rejected)
    theme.apply("light")
    window = MainWindow(settings, interactive=False, recovery_dir=tmp_path / "recovery")
    window.autosave.interval_seconds = 0.05
    window.resize(1200, 800)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    yield window
    if shiboken6.isValid(window):
        close_window(window)
    theme.apply("light")


@pytest.mark.parametrize("seed", SEEDS)
def test_random_actions_raise_nothing_and_warn_nothing(monkey_window, qtbot, qt_messages,
                                                        tmp_path, seed):
    window = monkey_window
    hub = errors.hub()
    reported_before = len(hub.history)
    monkey = Monkey(window, qtbot, random.Random(seed), tmp_path)
    window.open_example("l1_l4_network")
    started = time.monotonic()
    trail: list[str] = []
    with qtbot.captureExceptions() as exceptions:

        def check(where: str) -> None:
            problem = ""
            new_reports = hub.history[reported_before:]
            if exceptions:
                problem = repr(exceptions[0][1])
            elif new_reports:
                problem = f"{new_reports[0][0]}\n{new_reports[0][1]}"
            else:
                try:
                    check_consistent(window)
                except AssertionError as exc:
                    problem = f"inconsistent: {exc}"
            if problem:
                pytest.fail(f"seed {seed}, {where}: {problem}\nthe graph: "
                            f"{dump_graph(window, tmp_path)}")

        for number in range(ACTIONS):
            trail.append(monkey.act())
            check(f"action {number + 1} ({', '.join(trail[-5:])})")
        while window.undo_stack.canUndo():  # all the way back, and forward again
            window.undo_stack.undo()
        check("undoing everything")
        while window.undo_stack.canRedo():
            window.undo_stack.redo()
        check("redoing everything")
        qtbot.wait(100)  # let the timers (autosave, flows, refreshes) fire once more
        check("the last timers")
    bad = [m for m in qt_messages if not any(b in m for b in BENIGN)]
    assert bad == [], bad
    elapsed = time.monotonic() - started
    print(f"\nmonkey seed {seed}: {ACTIONS} actions in {elapsed:.1f} s: "
          + ", ".join(f"{name} {count}" for name, count in sorted(monkey.done.items())))
