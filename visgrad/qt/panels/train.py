"""The Train panel: gradient descent on the open graph, watched as it happens.

The optimizer, learning rate, momentum, steps and the loss node are the document's own
settings (saved with the file, every change undoable); Nesterov is the panel's. **Start**
runs ``steps`` iterations, **Pause** stops between two, **Step** takes one, **Reset** puts
the parameters back to their initial values. A run changes into a new one (overlaid in the
plots, in another colour) whenever Start or Step finds other settings than its own, so
comparing two learning rates is: Start, change lr, Start. The slider (or a click on the
loss curve) puts an earlier iteration back into the session, so the canvas and the
inspector show that iteration's values and gradients; Start goes on from the latest.

NOTE [never blocking]: training runs from a zero-delay QTimer, as many iterations as fit in
:attr:`TrainPanel.TICK_SECONDS` per tick, so the window answers between ticks. The plots
redraw at most every :attr:`TrainPanel.FRAME_SECONDS` (screen rate, not per iteration);
the canvas and inspector, which cost more, every :attr:`TrainPanel.VIEWS_SECONDS` and when
training stops (``sigShown``). While a tick trains, the session's ``any`` signal is blocked:
nothing watches the individual iterations.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from visgrad.document.formulas import format_number
from visgrad.document.model import OPTIMIZERS
from visgrad.document.operations import SetSetting
from visgrad.document.session import Session, SessionError
from visgrad.document.training import (
    LossFunction,
    TrainConfig,
    Trainer,
    TrainRun,
    find_regression,
)
from visgrad.qt import resources, theme
from visgrad.qt.errors import guarded
from visgrad.qt.panels.plots import PlotsPanel
from visgrad.qt.undo import DocumentEditor

AUTO_LOSS = "__auto__"
MOMENTUM_OPTIMIZERS = ("SGD", "RMSprop")


def _section(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("sectionTitle")
    return label


class TrainPanel(QScrollArea):
    """Start, Pause, Step, Reset; the settings; the iteration shown; exports.

    ``sigStatus(text, is_error)`` for the status bar; ``sigShown()`` when the session holds
    another iteration (the canvas and inspector should redraw).
    """

    sigStatus = Signal(str, bool)  # noqa: N815
    sigShown = Signal()  # noqa: N815

    TICK_SECONDS = 0.010
    FRAME_SECONDS = 1 / 60
    VIEWS_SECONDS = 0.25
    MAX_RUNS = 8

    def __init__(self, plots: PlotsPanel, parent: Any = None) -> None:
        super().__init__(parent)
        self.plots = plots
        self.session: Session | None = None
        self.editor: DocumentEditor | None = None
        self.trainer: Trainer | None = None
        self.runs: list[TrainRun] = []
        self.function: LossFunction | None = None
        self.frames = 0                 # plot redraws, for the benchmark
        self.iterations_per_second = 0.0
        self._runs_made = 0
        self._target = 0                # the iteration the current Start trains to
        self._stale = False             # graph edited or session reset since the run began
        self._resetting = False
        self._batch = (0.0, 0)          # (time, iteration) when Start was pressed
        self._last_draw = 0.0
        self._last_views = 0.0
        self._subscriptions: list[tuple[Any, Any]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._tick)
        # the loss list is rebuilt once after a burst of added or removed nodes (a paste of
        # thousands, its undo), not once per node: each rebuild lists every node
        self._form_timer = QTimer(self)
        self._form_timer.setSingleShot(True)
        self._form_timer.setInterval(0)
        self._form_timer.timeout.connect(guarded(self._refresh_form))
        self._build()
        plots.sigIterationPicked.connect(self.show_iteration)
        self._refresh_form()
        self._update_controls()

    # building ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.optimizer_combo = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer_combo.addItem(name, name)
        self.optimizer_combo.setToolTip("torch.optim class; every step is torch's, in its order")
        self.optimizer_combo.activated.connect(guarded(
            lambda index: self._set("optimizer", self.optimizer_combo.itemData(index))))
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("Learning rate (lr)")
        self.lr_edit.editingFinished.connect(guarded(lambda: self._set_text("lr",
                                                                            self.lr_edit)))
        self.momentum_edit = QLineEdit()
        self.momentum_edit.setToolTip("Momentum (SGD, RMSprop)")
        self.momentum_edit.editingFinished.connect(guarded(
            lambda: self._set_text("momentum", self.momentum_edit)))
        self.nesterov_box = QCheckBox("Nesterov")
        self.nesterov_box.setToolTip("SGD(nesterov=True): needs a momentum")
        self.nesterov_box.toggled.connect(guarded(lambda on: self._update_controls()))
        self.steps_edit = QLineEdit()
        self.steps_edit.setToolTip("Iterations that Start runs")
        self.steps_edit.editingFinished.connect(guarded(
            lambda: self._set_text("steps", self.steps_edit)))
        self.loss_combo = QComboBox()
        self.loss_combo.setToolTip("The node to minimise (the same as 'backward on')")
        self.loss_combo.activated.connect(guarded(self._on_loss_chosen))
        for widget in (self.optimizer_combo, self.lr_edit, self.momentum_edit, self.steps_edit,
                       self.loss_combo):
            widget.setMinimumWidth(60)
            widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        form = QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        rows = [("optimizer", self.optimizer_combo, "lr", self.lr_edit),
                ("momentum", self.momentum_edit, "", self.nesterov_box),
                ("steps", self.steps_edit, "loss", self.loss_combo)]
        for row, (left, left_widget, right, right_widget) in enumerate(rows):
            form.addWidget(self._key(left), row, 0)
            form.addWidget(left_widget, row, 1)
            if right:
                form.addWidget(self._key(right), row, 2)
                form.addWidget(right_widget, row, 3)
            else:
                form.addWidget(right_widget, row, 2, 1, 2)
        form.setColumnStretch(1, 3)
        form.setColumnStretch(3, 4)

        self.start_button = self._button("Start", "action-run-forward",
                                         "Run the steps (the window stays responsive)", self.start)
        self.start_button.setObjectName("primary")
        self.pause_button = self._button("Pause", None, "Stop after the current iteration",
                                         self.pause)
        self.step_button = self._button("Step", "action-step-forward",
                                        "One iteration: optimizer.step(), then zero_grad, "
                                        "forward and backward at the new parameters",
                                        self.step_once)
        self.reset_button = self._button("Reset", "action-reset",
                                         "Parameters back to their initial values (a new run "
                                         "begins; the old ones stay in the plots)", self.reset)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for button in (self.start_button, self.pause_button, self.step_button,
                       self.reset_button):
            buttons.addWidget(button)

        self.progress = QProgressBar()
        self.progress.setTextVisible(False)  # with text, every setValue repaints at once
        self.progress.setFixedHeight(8)
        self.rate_label = QLabel("")
        self.rate_label.setObjectName("hint")
        self.rate_label.setFixedWidth(170)
        self.rate_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.rate_label)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("The iteration the canvas and inspector show; drag to go back")
        self.slider.valueChanged.connect(guarded(self._on_slider_moved))
        self.iteration_label = QLabel("—")
        self.iteration_label.setFixedWidth(56)
        self.iteration_label.setAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
        self.latest_button = QToolButton()
        self.latest_button.setText("Latest")
        self.latest_button.setToolTip("Show the latest iteration again")
        self.latest_button.clicked.connect(guarded(lambda: self.show_iteration(
            self.trainer.iteration if self.trainer else 0)))
        scrub = QHBoxLayout()
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.iteration_label)
        scrub.addWidget(self.latest_button)

        self.summary = QLabel("Start trains the graph's parameters to minimise its loss.")
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # labels that change every frame keep their size: no relayout of the window per frame
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.summary.setFixedHeight(self.summary.fontMetrics().lineSpacing() * 4 + 4)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel("")
        self.message.setObjectName("trainMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.export_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        menu = QMenu(self.export_button)
        menu.addAction("Plots as PNG…").triggered.connect(
            guarded(lambda checked=False: self._export_plots_dialog("png")))
        menu.addAction("Plots as SVG…").triggered.connect(
            guarded(lambda checked=False: self._export_plots_dialog("svg")))
        menu.addAction("History as CSV…").triggered.connect(
            guarded(lambda checked=False: self._export_csv_dialog()))
        self.export_button.setMenu(menu)
        self.clear_button = QPushButton("Clear runs")
        self.clear_button.setToolTip("Remove the earlier runs from the plots")
        self.clear_button.clicked.connect(guarded(self.clear_runs))
        tools = QHBoxLayout()
        tools.addWidget(self.export_button)
        tools.addStretch(1)
        tools.addWidget(self.clear_button)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(12, 6, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(_section("Optimizer"))
        layout.addLayout(form)
        layout.addSpacing(2)
        layout.addLayout(buttons)
        layout.addLayout(progress_row)
        layout.addWidget(_section("Iteration shown"))
        layout.addLayout(scrub)
        layout.addWidget(self.summary)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addLayout(tools)
        # scrolls rather than squeezing its fields when the dock is short
        self.setWidget(page)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.apply_theme()

    def _key(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("hint")
        return label

    def _button(self, text: str, icon: str | None, tip: str, slot: Any) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        if icon:
            button.setProperty("iconName", icon)
        button.clicked.connect(guarded(lambda checked=False: slot()))
        return button

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(340, 400)

    # binding -----------------------------------------------------------------------------------
    def set_session(self, session: Session, editor: DocumentEditor) -> None:
        """Follow another document: training stops and the runs are forgotten."""
        self._timer.stop()
        self._close_trainer()
        for signal, handler in self._subscriptions:
            with contextlib.suppress(ValueError):
                signal.disconnect(handler)
        self.session, self.editor = session, editor
        self._subscriptions = [(session.document.events.any, self._on_document_changed),
                               (session.events.reset, self._on_session_reset)]
        for signal, handler in self._subscriptions:
            signal.connect(handler)
        self.runs, self.function, self._stale, self._target = [], None, False, 0
        self.summary.setText("Start trains the graph's parameters to minimise its loss.")
        self._show_message("")
        self._publish()
        self._refresh_form()
        self._draw()

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    # the document's settings -------------------------------------------------------------------
    def _refresh_form(self) -> None:
        if self.session is None:
            return
        settings = self.session.document.settings
        index = self.optimizer_combo.findData(settings["optimizer"])
        self.optimizer_combo.setCurrentIndex(max(0, index))
        self.lr_edit.setText(format_number(settings["lr"]).removesuffix(".0")
                             if float(settings["lr"]).is_integer() else f"{settings['lr']:g}")
        self.momentum_edit.setText(f"{float(settings['momentum'] or 0):g}")
        self.steps_edit.setText(str(int(settings["steps"])))
        self.loss_combo.blockSignals(True)
        self.loss_combo.clear()
        auto = self.session.backward_node
        self.loss_combo.addItem(f"auto ({auto.label})" if auto else "auto", AUTO_LOSS)
        for node in self.session.document:
            if not node.kind_info.is_source:
                self.loss_combo.addItem(node.label, node.id)
        chosen = settings["backward_node"]
        self.loss_combo.setCurrentIndex(max(0, self.loss_combo.findData(chosen))
                                        if chosen else 0)
        self.loss_combo.blockSignals(False)
        self._update_controls()

    def config(self) -> TrainConfig:
        """What Start would train with now."""
        settings = self.session.document.settings if self.session else {
            "optimizer": "SGD", "lr": 0.1, "momentum": 0.0}
        nesterov = self.nesterov_box.isChecked() and settings["optimizer"] == "SGD"
        return TrainConfig.from_settings(settings, nesterov=nesterov)

    def _set(self, name: str, value: Any) -> str | None:
        if self.editor is None or self.session is None:
            return "no document"
        if self.session.document.settings[name] == value:
            return None
        reason = self.editor.push(SetSetting(name, value))
        if reason:
            self._show_message(reason, error=True)
            self.sigStatus.emit(reason, True)
            self._refresh_form()
        else:
            self._show_message("")
        return reason

    def _set_text(self, name: str, edit: QLineEdit) -> None:
        if self.session is None:
            return
        try:
            if float(edit.text()) == float(self.session.document.settings[name] or 0):
                return
        except ValueError:
            pass
        self._set(name, edit.text().strip())

    def _on_loss_chosen(self, index: int) -> None:
        node_id = self.loss_combo.itemData(index)
        self._set("backward_node", None if node_id == AUTO_LOSS else node_id)

    @guarded
    def _on_document_changed(self, event: Any) -> None:
        source = event.source
        if source.type == "node_moved":
            return
        if source.type == "settings_changed" or (source.type == "node_changed"
                                                 and source.field == "label"):
            self._refresh_form()
            self._update_summary()
            return
        self._form_timer.start()  # the loss list and its "auto" entry, once after a burst
        self._stale = True  # the graph itself changed: the next Start begins a new run
        self.function = None
        if self.running:
            self.pause()
            self._show_message("The graph changed, so training paused. Start begins a new "
                               "run from the initial values.", error=False)

    @guarded
    def _on_session_reset(self, event: Any) -> None:
        if self._resetting:
            return
        self._stale = True
        if self.running:
            self.pause()

    # training ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Run ``steps`` iterations from a timer (or finish the ones a Pause interrupted)."""
        if self.running or self.session is None:
            return
        trainer = self._trainer()
        if trainer is None:
            return
        if trainer.stopped:
            self._finish()
            return
        if trainer.iteration >= self._target:
            self._target = trainer.iteration + int(self.session.document.settings["steps"])
        self._batch = (time.perf_counter(), trainer.iteration)
        self._last_views = time.perf_counter()
        self.plots.set_shown(None)
        self.plots.set_horizon(self._target)
        self._show_message("")
        self._timer.start()
        self._update_controls()
        self.sigStatus.emit(f"Training {trainer.history.name}…", False)

    def pause(self) -> None:
        """Stop after the current iteration (Start goes on where it stopped)."""
        if not self.running:
            return
        self._timer.stop()
        self._settle()
        self._draw()
        self._update_controls()
        self.sigShown.emit()
        if self.trainer is not None:
            self.sigStatus.emit(f"Paused at iteration {self.trainer.iteration} of "
                                f"{self._target}. Start goes on; Step takes one iteration.",
                                False)

    def step_once(self) -> None:
        """One iteration: optimizer.step(), then the new iteration's forward and backward."""
        self.pause()
        trainer = self._trainer()
        if trainer is None:
            return
        if not trainer.stopped:
            before = trainer.history
            row = len(before) - 1
            with self._quiet():
                trainer.step()
            self._settle()
            self.plots.set_shown(None)
            self.sigStatus.emit(self._step_text(trainer, row), trainer.stopped)
        if trainer.stopped:
            self._show_message(trainer.message, error=True)
        self._draw()
        self._update_controls()
        self.sigShown.emit()

    def reset(self) -> None:
        """Parameters back to their initial values: a new run at iteration 0."""
        self.pause()
        if self.session is None:
            return
        if self._new_run(self.config()) is not None:
            self.sigStatus.emit("Parameters reset to their initial values: "
                                f"{self.trainer.history.name} starts at iteration 0.", False)
        self._draw()
        self._update_controls()

    def clear_runs(self) -> None:
        """Forget every run but the current one."""
        self.runs = [self.trainer.history] if self.trainer is not None else []
        self._publish()
        self._draw()

    def show_iteration(self, iteration: int) -> None:
        """Put an iteration of the current run back into the session (canvas, inspector)."""
        trainer = self.trainer
        if trainer is None or self.session is None:
            return
        self.pause()
        with self._quiet():
            shown = trainer.show(int(iteration))
        self.plots.set_shown(shown)
        self._draw()
        self.sigShown.emit()

    def _trainer(self) -> Trainer | None:
        """The run Start or Step continues, or a new one when the settings or graph changed."""
        config = self.config()
        trainer = self.trainer
        if trainer is not None and not trainer.stopped and not self._stale \
                and trainer.config == config:
            return trainer
        return self._new_run(config)

    def _new_run(self, config: TrainConfig) -> Trainer | None:
        assert self.session is not None
        previous = self.trainer
        self._close_trainer()
        if previous is not None and previous.history.steps == 0 and previous.history in self.runs:
            self.runs.remove(previous.history)  # a run that never stepped is replaced
        self._resetting = True
        try:
            self.session.reset()
        finally:
            self._resetting = False
        try:
            with self._quiet():
                trainer = Trainer(self.session, config, number=self._runs_made + 1)
        except SessionError as exc:
            self._show_message(f"Cannot train: {exc}", error=True)
            self.sigStatus.emit(f"Cannot train: {exc}", True)
            self._publish()
            self.sigShown.emit()
            return None
        self._runs_made += 1
        with self._quiet():
            trainer.settle()
        self.trainer, self._stale, self._target = trainer, False, 0
        self.runs.append(trainer.history)
        del self.runs[:-self.MAX_RUNS]
        self.plots.set_horizon(0)
        function = self.function
        ids = [info.node_id for info in trainer.history.params]
        if function is None or function.target.id != trainer.target.id \
                or function.node_ids != ids:
            self.function = trainer.loss_function()
        self._publish()
        self.plots.set_shown(None)
        if trainer.stopped:
            self._show_message(trainer.message, error=True)
        self.sigShown.emit()
        return trainer

    def _close_trainer(self) -> None:
        if self.trainer is not None:
            self.trainer.close()
            self.trainer = None

    def _publish(self) -> None:
        """Tell the plots what there is to draw."""
        trainer = self.trainer
        regression = find_regression(self.session.document, trainer.target) \
            if trainer is not None and self.session is not None else None
        self.plots.set_training(self.runs, trainer.history if trainer else None, self.session,
                                self.function if trainer else None, regression)

    @contextlib.contextmanager
    def _quiet(self) -> Any:
        """Nothing watches single iterations: the views follow ``sigShown`` instead."""
        if self.session is None:
            yield
            return
        with self.session.events.any.blocked():
            yield

    @guarded
    def _tick(self) -> None:
        trainer = self.trainer
        if trainer is None or self.session is None:
            self._timer.stop()
            self._update_controls()
            return
        try:
            remaining = self._target - trainer.iteration
            if remaining > 0 and not trainer.stopped:
                with self._quiet():
                    trainer.run(remaining, seconds=self.TICK_SECONDS)
        except Exception:
            self._timer.stop()
            self._update_controls()
            raise
        now = time.perf_counter()
        started, first = self._batch
        if now > started:
            self.iterations_per_second = (trainer.iteration - first) / (now - started)
        if trainer.stopped or trainer.iteration >= self._target:
            self._timer.stop()
            self._finish()
            return
        views = now - self._last_views >= self.VIEWS_SECONDS
        if views or now - self._last_draw >= self.FRAME_SECONDS \
                or self.plots.landscape_pending():
            self._draw(views)
        if views:
            self._last_views = now
            self.sigShown.emit()

    def _settle(self) -> None:
        """A fresh graph over the iteration shown, so the stepper can go on from it."""
        if self.trainer is not None:
            with self._quiet():
                self.trainer.settle()

    def _finish(self) -> None:
        trainer = self.trainer
        self._settle()
        self._draw()
        self._update_controls()
        self.sigShown.emit()
        if trainer is None:
            return
        run = trainer.history
        if trainer.stopped:
            self._show_message(trainer.message, error=True)
            self.sigStatus.emit(trainer.message, True)
            return
        text = (f"{run.name}: {run.steps} iterations, loss {format_number(run.loss[0])} → "
                f"{format_number(run.loss[-1])}")
        trainer.log(text)
        self.sigStatus.emit(text, False)

    # drawing -----------------------------------------------------------------------------------
    def _draw(self, views: bool = True) -> None:
        """The plots; with ``views`` also the panel's numbers (4 times a second while
        training is plenty to read them, and each costs a repaint of the panel)."""
        self._last_draw = time.perf_counter()
        self.frames += 1
        trainer = self.trainer
        if trainer is not None:
            self.plots.set_shown(None if self.running else trainer.shown)
        self.plots.refresh(caption=views or not self.running)
        if not views and self.running:
            return
        if trainer is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.rate_label.setText("")
            self._set_slider(0, 0)
            self.iteration_label.setText("—")
        else:
            total = max(self._target, trainer.iteration, 1)
            self.progress.setRange(0, total)
            self.progress.setValue(trainer.iteration)
            rate = f"  ·  {self.iterations_per_second:,.0f} it/s" if self.running else ""
            self.rate_label.setText(f"{trainer.iteration} / {total}{rate}")
            shown = trainer.iteration if self.running or trainer.shown is None \
                else trainer.shown
            self._set_slider(trainer.iteration, shown)
            self.iteration_label.setText(str(shown))
        self._update_summary()

    def _set_slider(self, maximum: int, value: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, maximum))
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self.slider.setEnabled(maximum > 0)
        self.latest_button.setEnabled(self.trainer is not None and value != maximum)

    def _on_slider_moved(self, value: int) -> None:
        self.iteration_label.setText(str(value))
        self.show_iteration(value)

    def _update_summary(self) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        run = trainer.history
        row = min(trainer.shown if trainer.shown is not None else len(run) - 1, len(run) - 1)
        if row < 0:
            return
        text = (f"<b>{run.name}</b><br>iteration {row}: loss <b>{format_number(run.loss[row])}"
                f"</b>, ‖grad‖ {format_number(run.grad_norm[row])}")
        if len(run.columns) <= 3:
            text += "<br>" + ", ".join(f"{name} = {format_number(value)}" for name, value in
                                       zip(run.columns, run.values[row], strict=True))
        if not trainer.stopped and trainer.config != self.config():
            text += ("<br><i>The settings changed: Start or Step begins a new run from the "
                     "initial values.</i>")
        self.summary.setText(text)

    def _step_text(self, trainer: Trainer, row: int) -> str:
        run = trainer.history
        new = len(run) - 1
        text = f"Step to iteration {new}: loss {format_number(run.loss[row])} → " \
               f"{format_number(run.loss[new])}"
        if len(run.columns) == 1 and trainer.config.optimizer == "SGD" \
                and not trainer.config.momentum:
            name = run.columns[0]
            text += (f";  {name} ← {name} − lr · {name}.grad = {format_number(run.values[row, 0])}"
                     f" − {trainer.config.lr:g} · {format_number(run.grads[row, 0])} = "
                     f"{format_number(run.values[new, 0])}")
        return text

    def _show_message(self, text: str, error: bool = True) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.message.setProperty("error", error)
        self._style_message(error)

    def _style_message(self, error: bool) -> None:
        colors = theme.current().colors
        color = colors["error"] if error else colors["muted"]
        self.message.setStyleSheet(f"color: {color}; border: 1px solid {color}; "
                                   "border-radius: 6px; padding: 6px;")

    def _update_controls(self) -> None:
        running = self.running
        has_session = self.session is not None
        self.start_button.setEnabled(has_session and not running)
        self.pause_button.setEnabled(running)
        self.step_button.setEnabled(has_session)
        self.reset_button.setEnabled(has_session)
        optimizer = self.session.document.settings["optimizer"] if has_session else "SGD"
        self.momentum_edit.setEnabled(optimizer in MOMENTUM_OPTIMIZERS)
        self.nesterov_box.setEnabled(optimizer == "SGD")
        has_run = self.trainer is not None and len(self.trainer.history) > 0
        self.export_button.setEnabled(has_run)
        self.clear_button.setEnabled(len(self.runs) > 1)

    def apply_theme(self) -> None:
        color = theme.current().colors["icon"]
        for button in (self.start_button, self.pause_button, self.step_button,
                       self.reset_button):
            name = button.property("iconName")
            if name:
                button.setIcon(resources.icon(name, color))
        self.export_button.setIcon(resources.icon("action-export", color))
        self._style_message(bool(self.message.property("error")))

    # exports -----------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path | None:
        """The current run's history as CSV (iteration, loss, grad_norm, parameters, grads)."""
        if self.trainer is None:
            self.sigStatus.emit("Nothing to export yet: train first.", True)
            return None
        try:
            written = self.trainer.history.save_csv(path)
        except OSError as exc:
            self._show_message(f"Could not write {path}: {exc}", error=True)
            self.sigStatus.emit(f"Could not write {path}: {exc}", True)
            return None
        self.sigStatus.emit(f"Wrote {len(self.trainer.history)} iterations to {written}", False)
        return written

    def export_plots(self, path: str | Path) -> Path | None:
        """The plots (every tab with something drawn) as PNG or SVG."""
        title = self.trainer.history.name if self.trainer is not None else ""
        if self.session is not None and self.session.document.settings["title"]:
            title = f"{self.session.document.settings['title']} — {title}".rstrip(" —")
        try:
            written = self.plots.export_image(path, title=title)
        except (OSError, ValueError) as exc:
            self._show_message(str(exc), error=True)
            self.sigStatus.emit(str(exc), True)
            return None
        self.sigStatus.emit(f"Exported the plots to {written}", False)
        return written

    def _export_plots_dialog(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export plots as {fmt.upper()}",
                                              str(Path.home() / f"training.{fmt}"),
                                              f"{fmt.upper()} (*.{fmt})")
        if path:
            self.export_plots(path if path.lower().endswith(f".{fmt}") else f"{path}.{fmt}")

    def _export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export history as CSV",
                                              str(Path.home() / "history.csv"), "CSV (*.csv)")
        if path:
            self.export_csv(path if path.lower().endswith(".csv") else f"{path}.csv")


__all__ = ["TrainPanel"]
