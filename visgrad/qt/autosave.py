"""Autosave and recovery: a killed app loses no graph.

While the open document has unsaved changes, a copy of it is kept in a recovery file in the
user's app data folder (``QStandardPaths.AppDataLocation``/recovery, or the folder named by
``VISGRAD_RECOVERY_DIR``). The copy is written atomically (``QSaveFile``) 30 seconds
(``autosave/interval_seconds`` in the settings) after the first edit since the last copy (a
single-shot timer armed by edits, so an idle app writes nothing) and at the start of every
run (a forward or backward pass, training), before the engine gets to work. A clean save,
undoing back to the saved state, or a normal close removes it.

The next launch looks for recovery files no running visgrad owns and offers each one:
Restore (the document comes back, modified, with its original path) or Discard.
:attr:`Autosave.choose` makes that answer injectable: tests set it instead of clicking.

NOTE [one file per running app]: two visgrad windows may run at once, so each app writes its
own ``recovery-<id>.json`` and holds ``recovery-<id>.lock`` (a ``QLockFile``) while it runs.
A recovery file whose lock can be taken belongs to an app that died (``kill -9``, a power
cut): Qt finds the owner's pid gone. The lock's age test is off (``setStaleLockTime(0)``), so
an app that has been open for hours still owns its file.

The recovery file is JSON: ``{"format": "visgrad-recovery", "schema": 1, "name": ...,
"path": ..., "saved": ISO time, "graph": <the .vgraph document>}`` in one file, so the
document and what it belongs to can never disagree.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QByteArray,
    QIODevice,
    QLockFile,
    QObject,
    QSaveFile,
    QStandardPaths,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import QMessageBox

from visgrad.document import files
from visgrad.document.model import GraphDocument
from visgrad.qt.errors import guarded

if TYPE_CHECKING:
    from visgrad.qt.main_window import MainWindow

RECOVERY_DIR_ENV = "VISGRAD_RECOVERY_DIR"
INTERVAL_SETTING = "autosave/interval_seconds"
DEFAULT_INTERVAL_SECONDS = 30.0
FORMAT = "visgrad-recovery"
SCHEMA = 1
PREFIX = "recovery-"
RESTORE, DISCARD, KEEP = "restore", "discard", "keep"


def default_directory() -> Path:
    """Where recovery files live: ``$VISGRAD_RECOVERY_DIR``, else the per-user app data."""
    override = os.environ.get(RECOVERY_DIR_ENV)
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return (Path(base) if base else Path.home() / ".visgrad") / "recovery"


@dataclass
class Recovery:
    """A recovery file left by an app that did not close normally."""

    file: Path
    lock: QLockFile = field(repr=False)
    document: GraphDocument | None = None
    name: str = "untitled"
    path: Path | None = None
    saved: str = ""
    error: str = ""  # why the file cannot be read (then ``document`` is None)

    def describe(self) -> str:
        when = self.saved
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(self.saved).strftime("%Y-%m-%d %H:%M:%S")
        where = f" ({self.path})" if self.path else ""
        return f"{self.name}{where}, last autosaved {when}" if when else f"{self.name}{where}"

    def release(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.lock.unlock()


def read_recovery(file: Path, lock: QLockFile) -> Recovery:
    """Parse one recovery file; a broken one comes back with ``error`` set, never raises."""
    recovery = Recovery(file, lock)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise files.GraphFileError("not a visgrad recovery file")
        recovery.name = str(data.get("name") or "untitled")
        recovery.path = Path(data["path"]) if data.get("path") else None
        recovery.saved = str(data.get("saved") or "")
        recovery.document = files.loads(json.dumps(data.get("graph")), source=str(file))
    except (OSError, ValueError, TypeError, KeyError) as exc:  # GraphFileError is a ValueError
        recovery.document = None
        recovery.error = str(exc) or type(exc).__name__
    return recovery


def find_orphans(directory: Path) -> list[Recovery]:
    """Recovery files in ``directory`` that no running app owns, newest first.

    Each returned :class:`Recovery` holds its file's lock until ``release()``; lock files
    left without a recovery file are cleaned up on the way.
    """
    if not directory.is_dir():
        return []
    found = []
    for lock_path in directory.glob(f"{PREFIX}*.lock"):  # locks of apps that died idle
        if not lock_path.with_suffix(".json").exists():
            lock = _lock_for(lock_path)
            if lock.tryLock(0):
                lock.unlock()  # removes the stale lock file
    for file in directory.glob(f"{PREFIX}*.json"):
        lock = _lock_for(file.with_suffix(".lock"))
        if lock.tryLock(0):
            found.append(read_recovery(file, lock))
    found.sort(key=lambda r: _mtime(r.file), reverse=True)
    return found


def _lock_for(path: Path) -> QLockFile:
    lock = QLockFile(str(path))
    lock.setStaleLockTime(0)  # stale only when the owner is gone, however old the lock
    return lock


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def write_atomically(path: Path, data: bytes) -> str | None:
    """Write ``data`` with ``QSaveFile``; None when done, else why not (old file intact)."""
    file = QSaveFile(str(path))
    if not file.open(QIODevice.OpenModeFlag.WriteOnly):
        return file.errorString() or "cannot open the file for writing"
    try:
        written = file.write(QByteArray(data))
    except Exception as exc:  # noqa: BLE001 - whatever the write raised, keep the old file
        file.cancelWriting()
        file.commit()
        return str(exc) or type(exc).__name__
    if written != len(data):
        reason = file.errorString() or f"wrote {max(written, 0)} of {len(data)} bytes"
        file.cancelWriting()
        file.commit()
        return reason
    if not file.commit():
        return file.errorString() or "could not replace the file"
    return None


class Autosave(QObject):
    """Keeps the window's unsaved document in a recovery file; offers orphans at launch.

    ``directory=None`` turns it off (windows made by tests, ``visgrad render``): every method
    is then a no-op. Signals: ``sigSaved(path)`` after each recovery write.
    """

    sigSaved = Signal(str)  # noqa: N815

    def __init__(self, window: MainWindow, directory: Path | None,
                 interval_seconds: float | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.directory = Path(directory) if directory is not None else None
        if interval_seconds is None:
            interval_seconds = _float(window.settings.value(INTERVAL_SETTING),
                                      DEFAULT_INTERVAL_SECONDS)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.interval_seconds = interval_seconds
        self.timer.timeout.connect(self._on_timer)
        self.choose: Callable[[Recovery], str] = self.ask
        self.offered: list[str] = []  # what offer_recovery asked about, for the record
        self.file: Path | None = None
        self._lock: QLockFile | None = None
        self._generation = 0          # document changes seen
        self._saved_generation = 0    # the change the recovery file holds
        self._last_error = ""
        self._subscriptions: list[tuple[Any, Any]] = []
        if self.directory is not None:
            self._claim_file()
        window.undo_stack.cleanChanged.connect(self._on_clean_changed)
        window.sigDocumentLoaded.connect(self._on_document_loaded)
        # NOTE [training]: the Train panel announces Start, Step and Pause on sigStatus before
        # its timer trains; that is the moment to write (a no-op when nothing is unsaved).
        train_panel = getattr(window, "train_panel", None)
        if train_panel is not None and hasattr(train_panel, "sigStatus"):
            train_panel.sigStatus.connect(self._on_training_status)
        self._bind()

    @property
    def enabled(self) -> bool:
        return self.file is not None

    @property
    def interval_seconds(self) -> float:
        return self.timer.interval() / 1000.0

    @interval_seconds.setter
    def interval_seconds(self, seconds: float) -> None:
        self.timer.setInterval(max(0, round(float(seconds) * 1000)))

    def _claim_file(self) -> None:
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._warn(f"Autosave is off: cannot create {self.directory}: "
                       f"{exc.strerror or exc}")
            return
        name = f"{PREFIX}{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
        lock = _lock_for(self.directory / f"{name}.lock")
        if not lock.tryLock(0):
            self._warn(f"Autosave is off: cannot lock a recovery file in {self.directory}")
            return
        self._lock = lock
        self.file = self.directory / f"{name}.json"

    # following the window --------------------------------------------------------------
    def _bind(self) -> None:
        for signal, handler in self._subscriptions:
            with contextlib.suppress(ValueError):
                signal.disconnect(handler)
        window = self.window
        self._subscriptions = [(window.document.events.any, self._on_document_changed),
                               (window.session.events.state_changed, self._on_state_changed)]
        for signal, handler in self._subscriptions:
            signal.connect(handler)

    @guarded
    def _on_document_loaded(self) -> None:
        self._bind()
        self.timer.stop()
        self._generation += 1
        if self.window.undo_stack.isClean():
            self.remove()

    @guarded
    def _on_document_changed(self, event: Any) -> None:
        self._generation += 1
        if self.enabled and not self.timer.isActive():
            self.timer.start()  # armed by the first edit; later edits do not push it back

    @guarded
    def _on_state_changed(self, event: Any) -> None:
        running = ("forward_in_progress", "backward_in_progress")
        if event.new in running and event.old not in running:
            self.save_now()  # before the engine starts: a run is what may bring the app down

    @guarded
    def _on_training_status(self, *args: Any) -> None:
        self.save_now()

    @guarded
    def _on_clean_changed(self, clean: bool) -> None:
        if clean:  # saved, or undone back to what is on disk: nothing to recover
            self.timer.stop()
            self.remove()

    @guarded
    def _on_timer(self) -> None:
        self.save_now()

    # writing ---------------------------------------------------------------------------
    def needs_saving(self) -> bool:
        return (self.enabled and not self.window.undo_stack.isClean()
                and self._generation != self._saved_generation)

    def save_now(self, force: bool = False) -> bool:
        """Write the recovery file now if there are unsaved changes it lacks; True if written.

        Callers that start long work (a training run) call this first.
        """
        if not self.enabled or not (force or self.needs_saving()):
            return False
        self.timer.stop()
        window = self.window
        assert self.file is not None
        try:
            graph = json.loads(files.dumps(window.document))
            data = {"format": FORMAT, "schema": SCHEMA, "name": window.display_name,
                    "path": str(window.path) if window.path else None,
                    "saved": datetime.now().isoformat(timespec="seconds"), "graph": graph}
            payload = (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        except (ValueError, TypeError) as exc:
            self._warn(f"Autosave failed: {exc}")
            return False
        reason = write_atomically(self.file, payload)
        if reason is not None:
            self._warn(f"Autosave failed: {self.file}: {reason}")
            return False
        self._saved_generation = self._generation
        self._last_error = ""
        self.sigSaved.emit(str(self.file))
        return True

    def remove(self) -> None:
        """Delete this app's recovery file (the document is saved, discarded or closed)."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.unlink(missing_ok=True)
        self._saved_generation = self._generation

    def finish(self) -> None:
        """A normal close: remove the recovery file and give up the lock."""
        self.timer.stop()
        self.remove()
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self.file = None

    def _warn(self, text: str) -> None:
        if text == self._last_error:  # once per distinct failure, not every 30 seconds
            return
        self._last_error = text
        self.window.show_status(text, True)
        self.window.log.add("error", text)

    # recovering -------------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """Offer what apps that died left behind, newest first; True if one was restored."""
        if self.directory is None:
            return False
        orphans = find_orphans(self.directory)
        restored = False
        for recovery in orphans:
            try:
                if restored:
                    continue  # one document at a time; the rest are offered next launch
                restored = self._offer(recovery)
            finally:
                recovery.release()
        return restored

    def _offer(self, recovery: Recovery) -> bool:
        if recovery.document is None:
            aside = recovery.file.with_suffix(".unreadable")
            with contextlib.suppress(OSError):
                recovery.file.replace(aside)
            self.window.report_problem(
                "Could not recover", f"{recovery.file}: {recovery.error}. The file was kept "
                f"as {aside.name}.")
            return False
        self.offered.append(recovery.describe())
        choice = self.choose(recovery)
        if choice == DISCARD:
            with contextlib.suppress(OSError):
                recovery.file.unlink(missing_ok=True)
            self.window.show_status(f"Discarded the recovered changes to {recovery.name}",
                                    False)
            return False
        if choice != RESTORE:
            return False  # kept for the next launch
        self.restore(recovery)
        return True

    def restore(self, recovery: Recovery) -> None:
        """Show the recovered document as unsaved changes to its original file."""
        assert recovery.document is not None
        window = self.window
        window.load_document(recovery.document, recovery.path, recovery.name)
        window.undo_stack.resetClean()  # modified (the title's mark): the user decides
        self.save_now(force=True)  # ours now; then the dead app's copy can go
        with contextlib.suppress(OSError):
            recovery.file.unlink(missing_ok=True)
        window.show_status(f"Restored unsaved changes: {recovery.describe()}", False)
        window.log.add("info", f"restored unsaved changes from {recovery.file}")

    def ask(self, recovery: Recovery) -> str:
        """The dialog: Restore, Discard, or Not now (offered again next launch)."""
        if not self.window.interactive:
            return KEEP
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved changes")
        box.setText("visgrad did not close normally last time. Restore the unsaved changes?")
        box.setInformativeText(recovery.describe())
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        later = box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.setEscapeButton(later)
        box.exec()
        clicked = box.clickedButton()
        return RESTORE if clicked is restore else DISCARD if clicked is discard else KEEP


def _float(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number >= 0 else default


__all__ = ["Autosave", "Recovery", "default_directory", "find_orphans", "write_atomically"]
