"""Undo for every edit: one QUndoCommand wraps one reversible document operation.

The command only calls the operation (``visgrad.document.operations``), which changes the
document, which emits events, which the canvas and panels follow. A command never touches a
QGraphicsItem. Multi-node edits arrive here as one ``Macro`` operation, so they are one step.

Example (no window needed)::

    stack = QUndoStack()
    edits = DocumentEditor(document, stack)
    edits.push(AddNode("Mul"))            # applied now, undoable, or refused with a message
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack

from visgrad.document.model import DocumentError, GraphDocument
from visgrad.document.operations import Operation
from visgrad.qt.errors import guarded


class OperationCommand(QUndoCommand):
    """One document operation as one undo step. Built already applied (see ``push``)."""

    def __init__(self, document: GraphDocument, operation: Operation) -> None:
        super().__init__(operation.text)
        self.document = document
        self.operation = operation
        self._applied = True  # push() applied it, to learn whether the document accepts it

    @guarded
    def redo(self) -> None:
        if self._applied:
            return
        self.operation.apply(self.document)
        self._applied = True

    @guarded
    def undo(self) -> None:
        self.operation.revert(self.document)
        self._applied = False


class DocumentEditor:
    """Applies operations to a document through an undo stack.

    ``push`` returns None when the edit was done, or the document's reason for refusing it
    (the document is then unchanged and nothing is pushed).
    """

    def __init__(self, document: GraphDocument, stack: QUndoStack) -> None:
        self.document = document
        self.stack = stack

    def push(self, operation: Operation) -> str | None:
        try:
            operation.apply(self.document)
        except (DocumentError, ValueError, TypeError, KeyError) as exc:
            # operations check before they change anything, so the document is as it was
            return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        self.stack.push(OperationCommand(self.document, operation))
        return None
