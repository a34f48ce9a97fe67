"""Starting the app, and drawing a graph headless (``visgrad render``)."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QUndoStack
from PySide6.QtWidgets import QApplication

from visgrad.document import examples, files
from visgrad.document.model import GraphDocument
from visgrad.document.session import Session
from visgrad.qt import theme
from visgrad.qt.errors import guarded

RUN_STAGES = ("none", "forward", "backward")


def application(headless: bool = False) -> QApplication:
    """The process's QApplication, made once (offscreen when ``headless``)."""
    existing = QApplication.instance()
    if existing is not None:
        return existing  # type: ignore[return-value]
    if headless:  # drawing for slides needs no display, whatever the environment says
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName("visgrad")
    QCoreApplication.setApplicationName("visgrad")
    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("visgrad")
    return app


def launch(path: Path | None = None, example: str | None = None,
           settings: QSettings | None = None) -> int:
    """Open the main window on a file, an example, or the default example; run the app.

    Once the window shows, recovery files left by an app that died are offered, then the
    test script named by ``VISGRAD_TEST_SCRIPT`` runs, if any (see ``visgrad.qt.scripted``).
    """
    from visgrad.qt import autosave, scripted  # noqa: PLC0415
    from visgrad.qt.main_window import MainWindow  # noqa: PLC0415

    try:
        script = scripted.from_environment()
    except (OSError, ValueError, scripted.ScriptError) as exc:
        print(f"visgrad: cannot read {scripted.SCRIPT_ENV}: {exc}", file=sys.stderr)
        return scripted.EXIT_SCRIPT_FAILED
    app = application()
    window = MainWindow(settings, recovery_dir=autosave.default_directory())
    if path is not None:
        if not window.open_path(path, ask=False):
            return 1
    else:
        window.open_example(example or examples.DEFAULT)
    if script is not None:
        scripted.configure(window, script)
    window.show()
    # What startup made (modules, Qt wrappers, the window) lives as long as the app; moving it
    # out of the cyclic collector's reach keeps each collection from rescanning it, which
    # otherwise doubles the cost of building big engine graphs.
    gc.freeze()
    QTimer.singleShot(0, lambda: _after_show(window, script))
    return app.exec()


@guarded
def _after_show(window: Any, script: dict[str, Any] | None) -> None:
    window.autosave.offer_recovery()
    if script is not None:
        from visgrad.qt import scripted  # noqa: PLC0415

        scripted.run(window, script)


def run_steps(session: Session, after: str) -> None:
    """Advance a session as ``--after`` says: none, forward, backward, or steps:N.

    ``steps:N`` takes N steps of the stepper: forward nodes first, then backward grad_fns.
    """
    if after == "forward":
        session.run_forward()
    elif after == "backward":
        session.run_backward()
    elif after.startswith("steps:"):
        count = int(after.split(":", 1)[1])
        for _ in range(count):
            if session.state in ("edited", "forward_in_progress"):
                result = session.step_forward()
                if session.state == "forward_done" and result is None:
                    result = session.step_backward()
            else:
                if session.state == "backward_done":
                    break
                result = session.step_backward()
            if session.error is not None or result is None and session.state == "backward_done":
                break


def render_document(document: GraphDocument, output: Path, after: str = "none",
                    size: str | None = None, theme_name: str = "light") -> Path:
    """Draw a document's canvas into ``output`` (.png or .svg), headless."""
    from visgrad.qt.canvas.scene import GraphScene  # noqa: PLC0415
    from visgrad.qt.render import parse_size, render_to_file  # noqa: PLC0415
    from visgrad.qt.undo import DocumentEditor  # noqa: PLC0415

    application(headless=True)
    theme.apply(theme_name)
    target_size = parse_size(size) if size else None
    session = Session(document)
    stack = QUndoStack()
    scene = GraphScene(session, DocumentEditor(document, stack))
    try:
        run_steps(session, after)
        scene.flush()
        for item in scene.edge_items():
            item.flow = -1.0
        return render_to_file(scene, output, target_size)
    finally:
        scene.detach()


def load_for_render(path: str | None, example: str | None) -> GraphDocument:
    if example is not None:
        return examples.load(example)
    return files.load(Path(path))
