"""``vg.show(tensor)``: open the app on a graph that was built in Python.

Like a static graph drawing, but live: the traced document can be stepped forward and
backward in the window, edited, and saved.
"""

from __future__ import annotations

from visgrad.document.model import GraphDocument


def show_document(document: GraphDocument, title: str = "traced graph") -> int:
    """Open a main window on ``document`` and run the event loop until it is closed."""
    from visgrad.qt.app import application  # noqa: PLC0415
    from visgrad.qt.main_window import MainWindow  # noqa: PLC0415

    app = application()
    window = MainWindow()
    window.load_document(document, None, name=title)
    window.show()
    return app.exec()
