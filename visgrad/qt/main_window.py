"""The main window: canvas in the middle, palette left, inspector right, log and plots below.

The window owns one document at a time with its session, undo stack and scene; opening a
file or an example replaces all four together. Menus and the run toolbar call the session
(forward/backward steps) or push operations (edits); the status line says in words what the
last step did, from the session's events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QToolBar,
    QWidget,
)

from visgrad.document import examples, expressions, files, layout
from visgrad.document.formulas import to_numpy
from visgrad.document.model import GraphDocument
from visgrad.document.operations import MoveNodes, SetSetting
from visgrad.document.session import Session
from visgrad.qt import clipboard, resources, theme
from visgrad.qt.anomaly import AnomalyMonitor
from visgrad.qt.autosave import Autosave, write_atomically
from visgrad.qt.canvas.scene import NODES_MIME, GraphScene
from visgrad.qt.canvas.view import GraphView
from visgrad.qt.errors import guarded, hub
from visgrad.qt.panels.inspector import InspectorPanel
from visgrad.qt.panels.log import LogPanel
from visgrad.qt.panels.palette import PalettePanel
from visgrad.qt.panels.plots import PlotsPanel
from visgrad.qt.panels.train import TrainPanel
from visgrad.qt.render import RenderError, render_to_file
from visgrad.qt.runs import RunLoop, RunProgress
from visgrad.qt.undo import DocumentEditor

MAX_RECENT = 8
ELEMENT_LIMIT_SETTING = "limits/max_elements"
NOT_SAVED = "Nothing was written: the file on disk is as it was and your changes are unsaved."
AUTO_BACKWARD = "__auto__"

HOW_TO = """
<h3>Build</h3>
<p>Drag a node from the <b>palette</b> onto the canvas (or double-click it). Drag from an
output port (right) to an input port (left) to connect. Select a node to edit its parameters
in the <b>inspector</b>. A red badge means the node would fail: hover it for the reason.</p>
<h3>Step</h3>
<p><b>F10</b> evaluates the next node of the forward pass; its value appears on the card.
<b>F11</b> executes the next <code>grad_fn</code> of the backward pass, in the engine's own
order: the current node is outlined orange, the gradients it sends travel along the edges,
leaves show <code>.grad</code> accumulating, hooks flash. The status line shows the chain
rule with its numbers.</p>
<h3>Experiment</h3>
<p>Run backward twice without <i>retain_graph</i> to see PyTorch's error; Zero grad to clear
<code>.grad</code>; add hooks (print, scale, clamp, zero) in the inspector.</p>
"""

SHORTCUTS = [
    ("Step forward", "F10"), ("Run forward", "Shift+F10"), ("Step backward", "F11"),
    ("Run backward", "Shift+F11"), ("Reset", "Ctrl+R"), ("Zero grad", "Ctrl+Shift+G"),
    ("Undo", "Ctrl+Z"), ("Redo", "Ctrl+Shift+Z / Ctrl+Y"), ("Cut / Copy / Paste",
                                                           "Ctrl+X / Ctrl+C / Ctrl+V"),
    ("Duplicate", "Ctrl+D"), ("Delete", "Delete / Backspace"), ("Select all", "Ctrl+A"),
    ("Fit to view", "Ctrl+0"), ("Zoom in / out", "Ctrl++ / Ctrl+-"),
    ("Auto-layout", "Ctrl+L"), ("Pan", "middle mouse, or Space + drag"),
    ("Zoom", "mouse wheel (around the cursor)"),
]


class MainWindow(QMainWindow):
    """The app's window. ``interactive=False`` (tests) never opens a modal dialog."""

    sigDocumentLoaded = Signal()  # noqa: N815

    def __init__(self, settings: QSettings | None = None, *, interactive: bool = True,
                 recovery_dir: Path | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("visgrad", "visgrad")
        self.interactive = interactive
        self.path: Path | None = None
        self.display_name = "untitled"
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.document = GraphDocument()
        self.session = Session(self.document)
        self.editor = DocumentEditor(self.document, self.undo_stack)
        self.scene: GraphScene | None = None
        self._session_subscriptions: list[tuple[Any, Any]] = []
        self.setWindowIcon(resources.icon("action-app"))
        self.setDocumentMode(True)
        self.setDockNestingEnabled(True)
        self.view = GraphView()
        self.setCentralWidget(self.view)
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self.runner = RunLoop(self, self.run_progress)
        self.runner.sigRunning.connect(self._refresh_cancel)
        self.train_panel.sigStatus.connect(self._refresh_cancel)  # Start, Pause, finished
        hub().sigError.connect(self._on_internal_error)
        self.load_document(self.document, None, "untitled")
        self.autosave = Autosave(self, recovery_dir)  # recovery_dir None (tests): off
        self.anomaly = AnomalyMonitor(self)
        self._run_controls_timer = QTimer(self)
        self._run_controls_timer.setSingleShot(True)
        self._run_controls_timer.setInterval(0)
        self._run_controls_timer.timeout.connect(guarded(self._refresh_run_controls))
        self._apply_element_limit()
        self.resize(1480, 900)
        self._fitted = False
        self._restore_window_state()

    # construction ----------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.palette = PalettePanel()
        self.palette.sigAddKind.connect(self._on_add_kind)
        self.palette_dock = self._dock("Palette", self.palette,
                                       Qt.DockWidgetArea.LeftDockWidgetArea, "palette")
        self.inspector = InspectorPanel()
        self.inspector.sigStatus.connect(self.show_status)
        self.inspector_dock = self._dock("Inspector", self.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea, "inspector")
        self.log = LogPanel()
        self.log.sigNodeClicked.connect(self.select_node)
        self.log_dock = self._dock("Log", self.log, Qt.DockWidgetArea.BottomDockWidgetArea, "log")
        self.plots = PlotsPanel()
        self.plots_dock = self._dock("Plots", self.plots, Qt.DockWidgetArea.BottomDockWidgetArea,
                                     "plots")
        self.splitDockWidget(self.log_dock, self.plots_dock, Qt.Orientation.Horizontal)
        self.train_panel = TrainPanel(self.plots)
        self.train_panel.sigStatus.connect(self.show_status)
        self.train_panel.sigShown.connect(self._on_training_shown)
        self.train_dock = self._dock("Train", self.train_panel,
                                     Qt.DockWidgetArea.RightDockWidgetArea, "train")
        self.splitDockWidget(self.inspector_dock, self.train_dock, Qt.Orientation.Vertical)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.palette_dock, self.inspector_dock], [220, 360],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock, self.train_dock], [380, 420],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.log_dock], [300], Qt.Orientation.Vertical)
        self.resizeDocks([self.log_dock, self.plots_dock], [420, 700], Qt.Orientation.Horizontal)

    def _action(self, text: str, slot: Any, shortcut: str | list[str] | None = None,
                icon: str | None = None, tip: str | None = None,
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            shortcuts = [shortcut] if isinstance(shortcut, str) else shortcut
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if icon:
            action.setData(icon)
            action.setIcon(resources.icon(icon, theme.current().colors["icon"]))
        action.setCheckable(checkable)
        if tip or shortcut:
            keys = f" ({shortcut if isinstance(shortcut, str) else shortcut[0]})" if shortcut \
                else ""
            action.setToolTip(f"{tip or text}{keys}")
            action.setStatusTip(tip or text)
        action.triggered.connect(guarded(slot))
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.new_action = a("&New", self.new_document, "Ctrl+N", "action-new")
        self.from_code_action = a("New from &Code…", self.new_from_code, "Ctrl+Shift+N")
        self.open_action = a("&Open…", self.open_dialog, "Ctrl+O", "action-open")
        self.save_action = a("&Save", self.save, "Ctrl+S", "action-save")
        self.save_as_action = a("Save &As…", self.save_as, "Ctrl+Shift+S")
        self.export_png_action = a("Export &PNG…", lambda: self.export_dialog("png"),
                                   icon="action-export")
        self.export_svg_action = a("Export S&VG…", lambda: self.export_dialog("svg"))
        self.quit_action = a("&Quit", self.close, "Ctrl+Q")
        self.undo_action = a("&Undo", self.undo_stack.undo, "Ctrl+Z", "action-undo")
        self.redo_action = a("&Redo", self.undo_stack.redo, ["Ctrl+Shift+Z", "Ctrl+Y"],
                             "action-redo")
        self.undo_stack.canUndoChanged.connect(self.undo_action.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_action.setEnabled)
        self.undo_stack.undoTextChanged.connect(
            lambda text: self.undo_action.setText(f"&Undo {text}".strip()))
        self.undo_stack.redoTextChanged.connect(
            lambda text: self.redo_action.setText(f"&Redo {text}".strip()))
        self.cut_action = a("Cu&t", self.cut, "Ctrl+X")
        self.copy_action = a("&Copy", self.copy, "Ctrl+C")
        self.paste_action = a("&Paste", self.paste, "Ctrl+V")
        self.duplicate_action = a("D&uplicate", self.duplicate, "Ctrl+D")
        self.delete_action = a("&Delete", self.delete_selection, ["Delete", "Backspace"],
                               "action-delete")
        self.select_all_action = a("Select &All", self.select_all, "Ctrl+A")
        self.step_forward_action = a("Step forward", self.step_forward, "F10",
                                     "action-step-forward",
                                     "Evaluate the next node of the forward pass")
        self.run_forward_action = a("Run forward", self.run_forward, "Shift+F10",
                                    "action-run-forward", "Evaluate every node")
        self.step_backward_action = a("Step backward", self.step_backward, "F11",
                                      "action-step-backward",
                                      "Execute the next grad_fn of the backward pass")
        self.run_backward_action = a("Run backward", self.run_backward, "Shift+F11",
                                     "action-run-backward", "Finish the backward pass")
        self.reset_action = a("Reset", self.reset_session, "Ctrl+R", "action-reset",
                              "Forget values and gradients; make leaves anew")
        self.zero_grad_action = a("Zero grad", self.zero_grad, "Ctrl+Shift+G",
                                  "action-zero-grad", "Set every leaf's .grad to None")
        self.retain_graph_action = a("retain_graph", self._on_retain_graph_toggled,
                                     tip="Keep the graph for another backward",
                                     checkable=True)
        self.create_graph_action = a("create_graph", self._on_create_graph_toggled,
                                     tip="Build a graph of the gradients (higher order)",
                                     checkable=True)
        self.anomaly_action = a("Anomaly mode", self._on_anomaly_toggled,
                                tip="Mark the first node whose value or gradient becomes NaN "
                                "or inf, and pause the run there", checkable=True)
        self.element_limit_action = a("Element limit…", self.ask_element_limit,
                                      tip="The most elements a tensor value may have")
        self.cancel_run_action = a("Cancel run", self.cancel_runs, "Esc",
                                   tip="Stop a long run, or training, after its current step")
        self.cancel_run_action.setEnabled(False)
        self.fit_action = a("&Fit to view", self.view.fit_to_view, "Ctrl+0", "action-fit")
        self.zoom_in_action = a("Zoom &in", lambda: self.view.zoom_by(1.2), ["Ctrl++", "Ctrl+="])
        self.zoom_out_action = a("Zoom &out", lambda: self.view.zoom_by(1 / 1.2), "Ctrl+-")
        self.layout_action = a("&Auto-layout", self.auto_layout, "Ctrl+L", "action-layout",
                               "Arrange the graph left to right")
        self.how_to_action = a("&How to…", self.show_how_to, "F1")
        self.shortcuts_action = a("&Keyboard shortcuts…", self.show_shortcuts)
        self.about_action = a("&About visgrad", self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.new_action, self.from_code_action, self.open_action])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.examples_menu = file_menu.addMenu("&Examples")
        for name in examples.names():
            action = self.examples_menu.addAction(name.replace("_", " "))
            action.setData(name)
            action.triggered.connect(guarded(lambda checked=False, n=name: self.open_example(n)))
        file_menu.addSeparator()
        file_menu.addActions([self.save_action, self.save_as_action])
        file_menu.addSeparator()
        file_menu.addActions([self.export_png_action, self.export_svg_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.cut_action, self.copy_action, self.paste_action,
                              self.duplicate_action, self.delete_action])
        edit_menu.addSeparator()
        edit_menu.addAction(self.select_all_action)
        run_menu = bar.addMenu("&Run")
        run_menu.addActions([self.step_forward_action, self.run_forward_action,
                             self.step_backward_action, self.run_backward_action])
        run_menu.addSeparator()
        run_menu.addActions([self.reset_action, self.zero_grad_action])
        run_menu.addSeparator()
        run_menu.addActions([self.retain_graph_action, self.create_graph_action])
        run_menu.addSeparator()
        run_menu.addActions([self.anomaly_action, self.element_limit_action,
                             self.cancel_run_action])
        view_menu = bar.addMenu("&View")
        for dock in (self.palette_dock, self.inspector_dock, self.log_dock, self.plots_dock,
                     self.train_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addActions([self.fit_action, self.zoom_in_action, self.zoom_out_action,
                              self.layout_action])
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for name in theme.THEME_NAMES:
            action = theme_menu.addAction(name.capitalize())
            action.setCheckable(True)
            action.setData(name)
            group.addAction(action)
            action.triggered.connect(guarded(lambda checked=False, n=name: self.set_theme(n)))
            self.theme_actions[name] = action
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.how_to_action, self.shortcuts_action, self.about_action])
        self._refresh_recent_menu()

    def _build_toolbar(self) -> None:
        files_bar = QToolBar("File")
        files_bar.setObjectName("file_toolbar")
        files_bar.setIconSize(QSize(18, 18))
        files_bar.setMovable(False)
        files_bar.addActions([self.new_action, self.open_action, self.save_action])
        self.addToolBar(files_bar)
        run = QToolBar("Run")
        run.setObjectName("run_toolbar")
        run.setIconSize(QSize(18, 18))
        run.setMovable(False)
        run.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        run.addActions([self.step_forward_action, self.run_forward_action])
        run.addSeparator()
        run.addActions([self.step_backward_action, self.run_backward_action])
        run.addSeparator()
        run.addActions([self.reset_action, self.zero_grad_action])
        run.addSeparator()
        for action in (self.retain_graph_action, self.create_graph_action):
            box = QCheckBox(action.text())
            box.setToolTip(action.toolTip())
            box.clicked.connect(action.trigger)
            action.toggled.connect(box.setChecked)
            run.addWidget(box)
        run.addSeparator()
        label = QLabel(" backward on ")
        label.setObjectName("hint")
        run.addWidget(label)
        self.backward_combo = QComboBox()
        self.backward_combo.setMinimumWidth(110)
        self.backward_combo.setToolTip("The node to call backward() on")
        self.backward_combo.activated.connect(guarded(self._on_backward_node_chosen))
        run.addWidget(self.backward_combo)
        run.addSeparator()
        run.addActions([self.fit_action, self.layout_action])
        self.run_toolbar = run
        self.addToolBar(run)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.step_label = QLabel("Ready")
        self.step_label.setObjectName("statusStep")
        self.step_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state_label = QLabel("")
        self.zoom_label = QLabel("100%")
        bar.addWidget(self.step_label, 1)
        self.run_progress = RunProgress()
        bar.addPermanentWidget(self.run_progress)
        bar.addPermanentWidget(self.state_label)
        bar.addPermanentWidget(self.zoom_label)
        self.view.sigZoomChanged.connect(
            lambda zoom: self.zoom_label.setText(f"{round(zoom * 100)}%"))

    # documents -----------------------------------------------------------------------------
    def load_document(self, document: GraphDocument, path: Path | None,
                      name: str | None = None) -> None:
        """Show ``document``: new session, scene and undo history (the old ones are dropped)."""
        old_scene = self.scene
        if old_scene is not None:
            old_scene.detach()
        for signal, handler in self._session_subscriptions:
            try:
                signal.disconnect(handler)
            except ValueError:
                pass
        self.undo_stack.clear()
        self.document = document
        self.session = Session(document)
        self.editor = DocumentEditor(document, self.undo_stack)
        self.scene = GraphScene(self.session, self.editor, self)
        self.scene.sigStatus.connect(self.show_status)
        self.scene.sigHint.connect(lambda text: self.statusBar().showMessage(text, 2500))
        self.scene.selectionChanged.connect(self._on_selection_changed)
        self.view.setScene(self.scene)
        if old_scene is not None:
            old_scene.deleteLater()
        self.inspector.set_session(self.session, self.editor, self.scene.node_messages)
        self.log.set_session(self.session)
        self.log.clear()
        self.plots.clear()
        self.train_panel.set_session(self.session, self.editor)
        events = self.session.events
        self._session_subscriptions = [
            (events.forward_step, self._on_forward_step),
            (events.backward_step, self._on_backward_step),
            (events.error, self._on_error),
            (events.state_changed, self._on_state_changed),
            (events.train_progress, self._on_train_progress),
            (document.events.any, self._on_document_changed),
        ]
        for signal, handler in self._session_subscriptions:
            signal.connect(handler)
        self.path = path
        self.display_name = name or (path.name if path else "untitled")
        self.undo_stack.setClean()
        self._refresh_run_controls()
        self._refresh_title()
        self.view.resetTransform()
        self.view.fit_to_view()
        title = document.settings["title"]
        self.show_status(f"{self.display_name}: {title}" if title else self.display_name, False)
        self._on_state_changed(None)
        self.sigDocumentLoaded.emit()

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current document (saved, discarded, or clean)."""
        if self.undo_stack.isClean():
            return True
        if not self.interactive:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.display_name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_document(self) -> None:
        if self.maybe_save():
            self.load_document(GraphDocument(), None, "untitled")

    def new_from_code(self, dialog_factory=None) -> bool:
        """Ask for code and open the graph it describes (a new, unsaved document)."""
        if not self.maybe_save():
            return False
        from visgrad.qt.panels.code_dialog import CodeDialog  # noqa: PLC0415

        dialog = (dialog_factory or CodeDialog)(self)
        if dialog.exec() != CodeDialog.DialogCode.Accepted or dialog.document is None:
            return False
        self.load_document(dialog.document, None, "from code")
        return True

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        start = str(self.path.parent) if self.path else str(examples.FOLDER)
        path, _ = QFileDialog.getOpenFileName(self, "Open graph", start,
                                              f"visgrad graphs (*{files.SUFFIX});;All files (*)")
        if path:
            self.open_path(path, ask=False)

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open a ``.vgraph`` file; on failure say why (status bar, log), keep the current one."""
        if ask and not self.maybe_save():
            return False
        path = Path(path)
        try:
            document = files.load(path)
        except (files.GraphFileError, OSError, ValueError) as exc:
            self.report_problem("Could not open the file", f"{path}: {exc}")
            return False
        self.load_document(document, path.resolve())
        self._add_recent(path.resolve())
        return True

    def open_example(self, name: str) -> bool:
        if not self.maybe_save():
            return False
        try:
            document = examples.load(name)
        except (KeyError, files.GraphFileError, OSError) as exc:
            self.report_problem("Could not open the example", str(exc))
            return False
        self.load_document(document, None, f"{name}{files.SUFFIX}")
        return True

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self.save_to(self.path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            start = str(self.path or Path.home() / self.display_name)
            chosen, _ = QFileDialog.getSaveFileName(self, "Save graph", start,
                                                    f"visgrad graphs (*{files.SUFFIX})")
            if not chosen:
                return False
            path = chosen
        path = Path(path)
        if path.suffix != files.SUFFIX:
            path = path.with_suffix(files.SUFFIX)
        return self.save_to(path)

    def save_to(self, path: Path) -> bool:
        """Write atomically with QSaveFile; the old file stays intact if anything fails."""
        try:
            data = files.dumps(self.document).encode("utf-8")
        except (files.GraphFileError, ValueError, TypeError) as exc:
            self.report_problem("Could not save", f"{exc}. {NOT_SAVED}")
            return False
        reason = write_atomically(path, data)
        if reason is not None:  # the title keeps its mark: the undo stack is not clean
            self.report_problem("Could not save", f"{path}: {reason}. {NOT_SAVED}")
            return False
        self.path = path.resolve()
        self.display_name = path.name
        self.undo_stack.setClean()
        self._add_recent(self.path)
        self._refresh_title()
        self.show_status(f"Saved {path}", False)
        return True

    def export_dialog(self, fmt: str) -> None:
        stem = Path(self.display_name).stem
        path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt.upper()}",
                                              str(Path.home() / f"{stem}.{fmt}"),
                                              f"{fmt.upper()} (*.{fmt})")
        if path:
            self.export_image(path)

    def export_image(self, path: str | Path) -> bool:
        try:
            written = render_to_file(self.scene, path)
        except RenderError as exc:
            self.report_problem("Could not export", str(exc))
            return False
        self.show_status(f"Exported {written}", False)
        return True

    # recent files --------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(guarded(lambda checked=False, p=path: self.open_path(p)))
        if not recent:
            empty = self.recent_menu.addAction("(none)")
            empty.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear list")
            clear.triggered.connect(guarded(self._clear_recent))

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])
        self._refresh_recent_menu()

    # editing -----------------------------------------------------------------------------------
    @guarded
    def _on_add_kind(self, kind: str) -> None:
        self.view.add_node_at(kind, self.view.centre_scene_pos())

    @guarded
    def select_node(self, node_id: str) -> None:
        if self.scene is None or node_id not in self.document.nodes:
            return
        self.scene.select_nodes([node_id])
        item = self.scene.node_item(node_id)
        if item is not None:
            self.view.ensureVisible(item, 60, 60)

    def select_all(self) -> None:
        for item in self.scene.node_items():
            item.setSelected(True)

    def delete_selection(self) -> None:
        self.scene.delete_selection()

    def copy(self) -> bool:
        node_ids = self.scene.selected_node_ids()
        if not node_ids:
            self.show_status("Select nodes to copy", False)
            return False
        from PySide6.QtCore import QMimeData  # noqa: PLC0415

        data = self.scene.copy_data(node_ids)
        mime = QMimeData()
        mime.setData(NODES_MIME, QByteArray(GraphScene.encode_nodes(data)))
        mime.setText(GraphScene.encode_nodes(data).decode("utf-8"))
        clipboard.put(mime)  # not setMimeData: see NOTE [clipboard at exit]
        self.show_status(f"Copied {len(node_ids)} node{'s' if len(node_ids) != 1 else ''}",
                         False)
        return True

    def cut(self) -> None:
        if self.copy():
            self.scene.delete_selection()

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not mime.hasFormat(NODES_MIME):
            self.show_status("The clipboard holds no visgrad nodes", True)
            return
        try:
            data = GraphScene.decode_nodes(bytes(mime.data(NODES_MIME).data()))
        except ValueError as exc:
            self.show_status(str(exc), True)
            return
        self.scene.paste_data(data)

    def duplicate(self) -> None:
        node_ids = self.scene.selected_node_ids()
        if node_ids:
            self.scene.paste_data(self.scene.copy_data(node_ids))

    def auto_layout(self) -> None:
        positions = layout.compute_layout(self.document)
        if positions:
            self.scene.push(MoveNodes(positions))
            self.view.fit_to_view()

    # running -----------------------------------------------------------------------------------
    def step_forward(self) -> None:
        self.runner.cancel(quiet=True)
        result = self.session.step_forward()
        if result is None:
            self.show_status("The forward pass is complete. Step backward (F11) next.", False)

    def run_forward(self) -> None:
        self.runner.start("forward")  # cancellable, with progress when it takes long

    def step_backward(self) -> None:
        self.runner.cancel(quiet=True)
        result = self.session.step_backward()
        if result is None and self.session.error is None:
            self.show_status("The backward pass is complete: every gradient has arrived.",
                             False)

    def run_backward(self) -> None:
        self.runner.start("backward")

    def reset_session(self) -> None:
        self.runner.cancel(quiet=True)
        self.session.reset()
        self.show_status("Reset: values and gradients forgotten.", False)

    def zero_grad(self) -> None:
        self.session.zero_grad()
        self.show_status("zero_grad(): every .grad is None again.", False)

    def _on_retain_graph_toggled(self, *args: Any) -> None:
        checked = self.retain_graph_action.isChecked()
        self.editor.push(SetSetting("retain_graph", True if checked else None))

    def _on_create_graph_toggled(self, *args: Any) -> None:
        self.editor.push(SetSetting("create_graph", self.create_graph_action.isChecked()))

    def cancel_runs(self) -> None:
        """Esc: stop a long run, or training, after its current step."""
        self.runner.cancel()
        if self.train_panel.running:
            self.train_panel.pause()

    @guarded
    def _refresh_cancel(self, *args: Any) -> None:
        self.cancel_run_action.setEnabled(self.runner.running or self.train_panel.running)

    def _on_anomaly_toggled(self, *args: Any) -> None:
        self.editor.push(SetSetting("detect_anomaly", self.anomaly_action.isChecked()))

    def _apply_element_limit(self) -> None:
        value = self.settings.value(ELEMENT_LIMIT_SETTING)
        try:
            limit = int(value) if value is not None else None
        except (TypeError, ValueError):
            limit = None
        if limit is not None and limit > 0:
            expressions.limits.max_elements = limit

    def set_element_limit(self, limit: int) -> None:
        """The most elements a tensor value may create (remembered in the settings)."""
        expressions.limits.max_elements = int(limit)
        self.settings.setValue(ELEMENT_LIMIT_SETTING, int(limit))
        self.show_status(f"Tensor values may now have up to {int(limit):,} elements", False)

    def ask_element_limit(self) -> None:
        current = expressions.limits.max_elements
        if not self.interactive:
            self.show_status(f"Tensor values may have up to {current:,} elements", False)
            return
        from PySide6.QtWidgets import QInputDialog  # noqa: PLC0415

        limit, ok = QInputDialog.getInt(
            self, "Element limit", "The most elements a tensor value may have (larger values "
            "are refused, so that a typo cannot exhaust the memory):",
            min(current, 2_000_000_000), 1, 2_000_000_000, 1_000_000)
        if ok:
            self.set_element_limit(limit)

    def _on_backward_node_chosen(self, index: int) -> None:
        node_id = self.backward_combo.itemData(index)
        value = None if node_id == AUTO_BACKWARD else node_id
        if value != self.document.settings["backward_node"]:
            reason = self.editor.push(SetSetting("backward_node", value))
            if reason:
                self.show_status(reason, True)

    def _refresh_run_controls(self) -> None:
        settings = self.document.settings
        retain = settings["retain_graph"]
        self.retain_graph_action.setChecked(bool(retain) if retain is not None
                                            else bool(settings["create_graph"]))
        self.create_graph_action.setChecked(bool(settings["create_graph"]))
        self.anomaly_action.setChecked(bool(settings["detect_anomaly"]))
        self.backward_combo.blockSignals(True)
        self.backward_combo.clear()
        auto = self.session.backward_node
        self.backward_combo.addItem(f"auto ({auto.label})" if auto else "auto", AUTO_BACKWARD)
        for node in self.document:
            if not node.kind_info.is_source:
                self.backward_combo.addItem(node.label, node.id)
        chosen = settings["backward_node"]
        index = self.backward_combo.findData(chosen) if chosen else 0
        self.backward_combo.setCurrentIndex(max(index, 0))
        self.backward_combo.blockSignals(False)

    # model events --------------------------------------------------------------------------
    @guarded
    def _on_forward_step(self, event: Any) -> None:
        step = event.step
        self.show_status(f"Forward {step.index + 1}: {step.text}", False)

    @guarded
    def _on_backward_step(self, event: Any) -> None:
        step = event.step
        text = step.text
        for hook in step.hooks:
            if hook.text:
                text += f"   ·   {hook.text}"
        self.show_status(f"Backward {step.index + 1}: {text}", False)

    @guarded
    def _on_error(self, event: Any) -> None:
        self.show_status(event.error.text, True)

    @guarded
    def _on_state_changed(self, event: Any) -> None:
        state = self.session.state
        names = {"edited": "not run", "forward_in_progress": "forward in progress",
                 "forward_done": "forward done", "backward_in_progress": "backward in progress",
                 "backward_done": "backward done"}
        self.state_label.setText(names.get(state, state))
        if event is not None and event.new == "forward_done":
            loss = self._loss_value()
            if loss is not None:
                self.plots.add_point(loss)

    @guarded
    def _on_train_progress(self, event: Any) -> None:
        self.plots.add_point(event.loss, "train")

    @guarded
    def _on_training_shown(self) -> None:
        """The Train panel put an iteration into the session: cards and inspector follow."""
        if self.scene is not None:
            self.scene.flush()
        self.inspector.rebuild()

    @guarded
    def _on_document_changed(self, event: Any) -> None:
        kind = event.source.type
        if kind in ("node_added", "node_removed", "edge_added", "edge_removed"):
            # once after a burst (a paste of thousands, its undo): each rebuild lists every
            # node (edges move the "auto" choice of the node backward() is called on)
            self._run_controls_timer.start()
        elif kind == "settings_changed" or (kind == "node_changed"
                                            and event.source.field == "label"):
            self._refresh_run_controls()

    def _loss_value(self) -> float | None:
        node = self.session.backward_node
        if node is None:
            return None
        tensor = self.session.tensor(node.id)
        array = to_numpy(tensor)
        if array is None or array.size != 1 or not np.issubdtype(array.dtype, np.number):
            return None
        return float(array.reshape(-1)[0])

    @guarded
    def _on_selection_changed(self) -> None:
        if self.scene is None:
            return
        self.inspector.show_node(self.scene.single_selected_node(), self.scene.selected_count())

    @guarded
    def _on_clean_changed(self, clean: bool) -> None:
        self._refresh_title()

    def _refresh_title(self) -> None:
        self.setWindowTitle(f"{self.display_name}[*] — visgrad")
        self.setWindowModified(not self.undo_stack.isClean())

    # messages ------------------------------------------------------------------------------
    def show_status(self, text: str, is_error: bool = False) -> None:
        colors = theme.current()
        self.statusBar().clearMessage()
        self.step_label.setStyleSheet(f"color: {colors.colors['error']};" if is_error else "")
        self.step_label.setText(text)
        self.step_label.setToolTip(text)

    def report_problem(self, title: str, text: str) -> None:
        self.show_status(f"{title}: {text}", True)
        self.log.add("error", f"{title}: {text}")
        if self.interactive:
            QMessageBox.warning(self, title, text)

    @guarded
    def _on_internal_error(self, message: str, details: str) -> None:
        self.show_status(f"Internal error (see the log): {message}", True)
        self.log.add("error", f"internal error: {message}")

    # theme, help, window state ---------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        theme.apply(name)
        self.settings.setValue("theme", name)
        if name in self.theme_actions:
            self.theme_actions[name].setChecked(True)
        icon_color = theme.current().colors["icon"]
        for action in self.findChildren(QAction):
            icon_name = action.data()
            if isinstance(icon_name, str) and icon_name.startswith("action-"):
                action.setIcon(resources.icon(icon_name, icon_color))
        self.palette.tree.populate()
        self.plots.apply_theme()
        self.train_panel.apply_theme()
        if self.scene is not None:
            for item in self.scene.items():
                item.update()
            self.scene.invalidate()
            self.scene.flush()
        self.inspector.rebuild()

    def show_how_to(self) -> None:
        if self.interactive:
            QMessageBox.information(self, "How to use visgrad", HOW_TO)

    def show_shortcuts(self) -> None:
        if self.interactive:
            rows = "".join(f"<tr><td style='padding-right:18px'>{what}</td><td><b>{keys}</b>"
                           "</td></tr>" for what, keys in SHORTCUTS)
            QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def show_about(self) -> None:
        if self.interactive:
            QMessageBox.about(self, "About visgrad",
                              "<b>visgrad</b><br>See automatic differentiation: build a graph, "
                              "step every grad_fn, with PyTorch's semantics.")

    def _restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(QByteArray(geometry))
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(QByteArray(state))
        name = self.settings.value("theme", theme.current().name)
        self.set_theme(name if name in theme.THEME_NAMES else "light")

    def save_window_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    @guarded
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._fitted:  # the first fit needs the docks laid out around the view
            self._fitted = True
            QApplication.processEvents()
            self.view.fit_to_view()

    @guarded
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if not self.maybe_save():
            event.ignore()
            return
        self.runner.cancel(quiet=True)
        self.autosave.finish()  # a normal close leaves no recovery file
        self.save_window_state()
        if self.scene is not None:
            self.scene.detach()
        event.accept()


__all__ = ["MainWindow"]
