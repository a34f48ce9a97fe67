"""The desktop app: the only package that imports PySide6 or pyqtgraph.

Views here are thin: they subscribe to the document's and the session's events
(``visgrad.document``) and draw what those say; every edit is a QUndoCommand that calls a
reversible document operation. ``visgrad.qt.app.run_app`` starts it.
"""
