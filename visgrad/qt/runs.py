"""Runs that keep the app responsive: the passes stepped from the event loop, cancellable.

``Run forward`` and ``Run backward`` go through :class:`RunLoop`, which calls the session's
own ``step_forward``/``start_backward``/``step_backward`` (so what runs is exactly what the
session's ``run_forward``/``run_backward`` would do) and looks up between steps: a long run
shows its progress in the status bar (:class:`RunProgress`) and stops at the next step
boundary when the user presses Cancel or Esc. A run also stops when the graph is edited or
another document is opened while it goes on, and when something (anomaly mode) interrupts it.

NOTE [synchronous first]: a run first steps for up to ``sync_seconds`` inside the action, so
a classroom-sized graph is done before the action returns, as the user's eye (and every
test) expects. Only a run still going after that continues in slices of ``chunk_seconds``
from a zero-delay timer, with the progress bar shown. One step is never cut short: a single
huge matmul finishes before Cancel takes effect.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from visgrad.document.session import ForwardStep, StepError
from visgrad.qt.errors import guarded

if TYPE_CHECKING:
    from visgrad.document.session import Session
    from visgrad.qt.main_window import MainWindow

DONE, ERROR, CANCELLED, STOPPED = "done", "error", "cancelled", "stopped"


class RunProgress(QWidget):
    """What runs, how far it is, and a Cancel button; hidden while nothing long runs.

    Other long work (training) can use it too: ``begin(text, total)``, ``set_progress``,
    ``end()``; ``sigCancel`` fires on the button.
    """

    sigCancel = Signal()  # noqa: N815

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.button = QToolButton()
        self.button.setText("Cancel")
        self.button.setToolTip("Stop the run after the current step (Esc)")
        self.button.clicked.connect(self.sigCancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.button)
        self.hide()

    def begin(self, text: str, total: int = 0) -> None:
        self.set_progress(0, total, text)
        self.show()

    def set_progress(self, done: int, total: int, text: str) -> None:
        self.bar.setRange(0, max(total, 0))  # 0..0: busy, for passes of unknown length
        if total > 0:
            self.bar.setValue(min(done, total))
        self.label.setText(text)

    def end(self) -> None:
        self.hide()
        self.label.clear()


class RunLoop(QObject):
    """Runs the forward or backward pass of the window's session, step by step.

    Signals: ``sigRunning(bool)`` when a run starts or ends, ``sigFinished(outcome, text)``
    with ``done``, ``error`` (the session reported it), ``cancelled``, ``stopped`` (the graph
    changed under it) or whatever :meth:`interrupt` was given.
    """

    sigRunning = Signal(bool)  # noqa: N815
    sigFinished = Signal(str, str)  # noqa: N815

    def __init__(self, window: MainWindow, progress: RunProgress,
                 sync_seconds: float = 0.3, chunk_seconds: float = 0.05) -> None:
        super().__init__(window)
        self.window = window
        self.progress = progress
        self.sync_seconds = sync_seconds
        self.chunk_seconds = chunk_seconds
        self.goal: str | None = None
        self.steps = 0
        self._session: Session | None = None
        self._backward_started = False
        self._interrupt: tuple[str, str] | None = None
        self._shown = False
        self._position = 0  # the forward pass's node count so far, for the progress bar
        self._left_in = ""  # the session's state after our last step
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._on_tick)
        progress.sigCancel.connect(self._on_cancel_clicked)
        window.sigDocumentLoaded.connect(self._on_document_loaded)

    @property
    def running(self) -> bool:
        return self.goal is not None

    def start(self, goal: str) -> None:
        """Run the ``forward`` or ``backward`` pass to its end (or until stopped)."""
        if goal not in ("forward", "backward"):
            raise ValueError(f"a run goes forward or backward, not {goal!r}")
        self.cancel(quiet=True)  # a new run replaces one still going
        session = self.window.session
        self._session, self.goal, self.steps = session, goal, 0
        self._interrupt, self._shown, self._position = None, False, 0
        # as Session.run_backward: a backward pass in progress is finished, not restarted
        self._backward_started = goal == "backward" and session.state == "backward_in_progress"
        self.sigRunning.emit(True)
        if goal == "forward" and session.state != "forward_in_progress":
            session.start_forward()  # as Session.run_forward: from forward_done, a new pass
        self._left_in = session.state
        self._advance(self.sync_seconds)

    def cancel(self, quiet: bool = False) -> None:
        """Stop the run in progress after its current step (nothing if none runs)."""
        if self.running:
            self._finish(CANCELLED, "" if quiet else
                         f"Run cancelled after {self.steps} step{'s' if self.steps != 1 else ''}"
                         ". F10/F11 step on from here; Run starts again.")

    def interrupt(self, outcome: str, text: str = "") -> None:
        """Stop the run at the next step boundary, for a reason of the caller's."""
        if self.running:
            self._interrupt = (outcome, text)

    @guarded
    def _on_cancel_clicked(self) -> None:
        self.cancel()

    @guarded
    def _on_document_loaded(self) -> None:
        if self.running:  # the run's document is gone; the new one says what it is
            self._finish(STOPPED, "")

    @guarded
    def _on_tick(self) -> None:
        if self.running:
            self._advance(self.chunk_seconds)

    def _advance(self, budget: float) -> None:
        deadline = time.monotonic() + budget
        while self.running:
            try:
                outcome = self._step()
            except Exception:
                self._finish(ERROR, "")
                raise  # the action's guard reports it
            if outcome is None and self._interrupt is not None:
                outcome = self._interrupt
            if outcome is not None:
                self._finish(*outcome)
                return
            if time.monotonic() >= deadline:
                break
        if self.running:
            self._show_progress()
            self._timer.start()

    def _step(self) -> tuple[str, str] | None:
        """One step toward the goal; the outcome once the run is over, else None."""
        session = self._session
        if session is None or session is not self.window.session:
            return STOPPED, "The run stopped: another document was opened."
        state = session.state
        if state != self._left_in:  # something else moved the session between two steps
            return STOPPED, "The run stopped: the graph was edited." if state == "edited" \
                else f"The run stopped: the session is now {state.replace('_', ' ')}."
        try:
            return self._advance_session(session, state)
        finally:
            self._left_in = session.state

    def _advance_session(self, session: Session, state: str) -> tuple[str, str] | None:
        if self.goal == "forward":
            if state != "forward_in_progress":
                return DONE, ""
            return self._counted(session.step_forward(), session, "forward_done")
        if state in ("edited", "forward_in_progress") and not self._backward_started:
            return self._counted(session.step_forward(), session, None)  # backward needs it
        if not self._backward_started:
            self._backward_started = True
            if session.start_backward() is not None:
                return ERROR, ""
            return (DONE, "") if session.state == "backward_done" else None
        if state != "backward_in_progress":
            return DONE, ""
        return self._counted(session.step_backward(), session, "backward_done")

    def _counted(self, result: Any, session: Session,
                 final: str | None) -> tuple[str, str] | None:
        if isinstance(result, StepError):
            return ERROR, ""
        if result is None:
            return (DONE, "") if final is not None else None
        self.steps += 1
        if isinstance(result, ForwardStep):
            self._position = result.index + 1
        return (DONE, "") if session.state == final else None

    def _show_progress(self) -> None:
        session = self._session
        if session is None:
            return
        if self.goal == "forward" or not self._backward_started:
            total = len(session.document.nodes)
            done = min(self._position, total)
            text = f"Forward: {done} of {total} nodes"
        else:
            total, text = 0, f"Backward: step {self.steps}"
        if not self._shown:
            self._shown = True
            self.progress.begin(text, total)
        else:
            self.progress.set_progress(done if total else 0, total, text)

    def _finish(self, outcome: str, text: str) -> None:
        self._timer.stop()
        self.goal, self._session, self._interrupt = None, None, None
        if self._shown:
            self.progress.end()
            self._shown = False
        self.sigRunning.emit(False)
        if text:
            self.window.show_status(text, outcome != CANCELLED)
        self.sigFinished.emit(outcome, text)


__all__ = ["RunLoop", "RunProgress"]
