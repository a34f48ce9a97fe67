"""The boundary where exceptions stop: nothing may escape a Qt override or slot.

NOTE [why a decorator]: on Python 3.11 an exception escaping a Python override of a Qt
virtual (``paint``, ``dropEvent``...) can crash the process instead of raising. Every
override, slot and model-event handler in ``visgrad.qt`` is wrapped in :func:`guarded`,
which logs the traceback and tells :data:`errors` (the main window shows it in the status
bar and the log dock). A handler that raised while the document was emitting would also
leave the document half-changed, so model-event handlers are guarded too.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

logger = logging.getLogger("visgrad.qt")
F = TypeVar("F", bound=Callable[..., Any])


class ErrorHub(QObject):
    """Where guarded code reports what went wrong: ``sigError(message, traceback)``."""

    sigError = Signal(str, str)  # noqa: N815 - pyqtgraph-style signal names

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[str, str]] = []

    def report(self, message: str, details: str = "") -> None:
        self.history.append((message, details))
        del self.history[:-200]
        try:
            self.sigError.emit(message, details)
        except Exception:  # noqa: BLE001 - reporting must never raise
            logger.exception("could not report an error")


_hub: ErrorHub | None = None


def hub() -> ErrorHub:
    global _hub  # noqa: PLW0603 - one hub per process, made lazily after QApplication
    if _hub is None:
        _hub = ErrorHub()
    return _hub


def report_exception(where: str, exc: BaseException) -> None:
    details = "".join(traceback.format_exception(exc))
    logger.error("%s failed:\n%s", where, details)
    hub().report(f"{where}: {type(exc).__name__}: {exc}", details)


def guarded(func: F | None = None, *, default: Any = None) -> Any:
    """Run ``func``; on an exception, log and report it and return ``default``."""

    def wrap(inner: F) -> F:
        where = inner.__qualname__

        @functools.wraps(inner)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - this is the boundary
                try:
                    report_exception(where, exc)
                except Exception:  # noqa: BLE001
                    pass
                return default() if callable(default) else default

        return wrapper  # type: ignore[return-value]

    return wrap(func) if func is not None else wrap
