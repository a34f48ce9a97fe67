"""The ``visgrad`` command line: the app, and the headless tools beside it.

Qt is imported lazily, inside the commands that need it, so that the engine and the
document stay importable (and testable) on machines without a display.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from visgrad.qt.app import run_app  # noqa: PLC0415 - Qt only when the app is asked for
    except ImportError as exc:  # the GUI layer is optional until it lands
        print(f"visgrad: the desktop app is not available ({exc}).", file=sys.stderr)
        return 2
    return run_app(argv)
