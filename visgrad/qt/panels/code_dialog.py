"""The "New from code…" dialog: paste a few tutorial lines, get the graph.

The text is parsed by ``visgrad.document.code_import`` (an ``ast`` whitelist; nothing is run).
A refusal is shown under the editor and the offending text is marked, so the user sees where.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget,
)

from visgrad.document.code_import import CodeError, from_code
from visgrad.document.model import GraphDocument
from visgrad.qt.errors import guarded

EXAMPLE = """import torch

x = torch.tensor(3.0, requires_grad=True)
y = 3 * x ** 2 + 4 * x + 2
y.backward()
"""


class CodeDialog(QDialog):
    """Type or paste code; ``document`` holds the graph once the dialog is accepted."""

    def __init__(self, parent: QWidget | None = None, text: str = EXAMPLE):
        super().__init__(parent)
        self.setWindowTitle("New from code")
        self.resize(640, 420)
        self.document: GraphDocument | None = None
        intro = QLabel("Write PyTorch-style code: tensors, arithmetic, functions, "
                       "<code>.backward()</code>, <code>with torch.no_grad():</code>, hooks. "
                       "It is read, never run.")
        intro.setWordWrap(True)
        self.editor = QPlainTextEdit(text)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(font)
        self.editor.setTabStopDistance(4 * self.editor.fontMetrics().horizontalAdvance(" "))
        self.error_label = QLabel("")
        self.error_label.setObjectName("codeError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                        QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Build graph")
        self.buttons.accepted.connect(guarded(self.build))
        self.buttons.rejected.connect(self.reject)
        self.editor.textChanged.connect(guarded(self._clear_error))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def build(self) -> bool:
        """Parse the text; accept with the graph, or show why not and mark where."""
        try:
            self.document = from_code(self.editor.toPlainText())
        except CodeError as exc:
            self.show_error(exc)
            return False
        self.accept()
        return True

    def show_error(self, exc: CodeError) -> None:
        self.error_label.setText(str(exc))
        line = getattr(exc, "line", None)
        if not line:
            return
        block = self.editor.document().findBlockByNumber(line - 1)
        start = block.position() + max(0, (exc.column or 1) - 1)
        end_line = getattr(exc, "end_line", None) or line
        end_block = self.editor.document().findBlockByNumber(end_line - 1)
        end_column = getattr(exc, "end_column", None)
        end = end_block.position() + (end_column - 1 if end_column else end_block.length() - 1)
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(start)
        cursor.setPosition(max(end, start + 1), QTextCursor.MoveMode.KeepAnchor)
        mark = QTextEdit.ExtraSelection()
        mark.cursor = cursor
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(255, 205, 210))
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(QColor(198, 40, 40))
        mark.format = fmt
        self.editor.setExtraSelections([mark])
        caret = QTextCursor(self.editor.document())
        caret.setPosition(start)
        self.editor.setTextCursor(caret)

    def marked_text(self) -> str:
        """The text currently marked as the error (for tests and accessibility)."""
        selections = self.editor.extraSelections()
        return selections[0].cursor.selectedText() if selections else ""

    def _clear_error(self) -> None:
        if self.error_label.text():
            self.error_label.setText("")
            self.editor.setExtraSelections([])
