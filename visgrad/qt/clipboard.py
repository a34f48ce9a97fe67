"""Putting nodes on the clipboard without crashing the process when it exits.

NOTE [clipboard at exit]: ``QClipboard.setMimeData`` takes ownership of the QMimeData, and
Qt deletes it from a C++ exit handler, after Python has shut down. A QMimeData made in Python
has a shiboken wrapper, whose clean-up then calls into the dead interpreter: the process
segfaults on the way out (exit code 139) after any Copy, even though everything else went
well. :func:`put` remembers the data it placed and, at interpreter exit, clears the
clipboard if it still holds exactly that data, while Python can still clean up after it.
"""

from __future__ import annotations

import atexit
from typing import Any

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

_placed: QMimeData | None = None
_registered = False


def put(mime: QMimeData) -> None:
    """``QGuiApplication.clipboard().setMimeData(mime)``, made safe for the exit."""
    global _placed, _registered  # noqa: PLW0603 - one clipboard per process
    QGuiApplication.clipboard().setMimeData(mime)
    _placed = mime
    if not _registered:
        _registered = True
        atexit.register(release)


def release() -> None:
    """Clear the clipboard if it holds the data :func:`put` placed (nothing else's)."""
    global _placed  # noqa: PLW0603
    placed, _placed = _placed, None
    if placed is None or QGuiApplication.instance() is None:
        return
    try:
        clipboard: Any = QGuiApplication.clipboard()
        if clipboard.mimeData() is placed:
            clipboard.clear()
    except RuntimeError:  # the data or the application is already gone
        pass


__all__ = ["put", "release"]
