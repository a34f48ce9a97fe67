"""Fixtures for the app's tests: a main window with its own temporary settings, and helpers
that drive it the way a user does (drops from the palette, mouse drags between ports)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from visgrad.qt import theme  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    """QSettings in a temporary file, so tests never touch the user's."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    from visgrad.qt.main_window import MainWindow

    theme.apply("light")
    main = MainWindow(settings, interactive=False)
    qtbot.addWidget(main)
    main.show()
    yield main
    close_window(main)


def close_window(main) -> None:
    """Close and really delete a window, so later tests do not pay for it."""
    from PySide6.QtCore import QEvent

    main.undo_stack.setClean()
    main.close()
    main.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def empty_window(window):
    window.new_document()
    window.view.resetTransform()
    window.view.centerOn(0, 0)
    return window


def drop_kind(window, kind: str, pos: QPoint) -> str:
    """Drag ``kind`` from the palette and drop it at viewport position ``pos``; the new id."""
    tree = window.palette.tree
    item = tree.item_for(kind)
    assert item is not None, kind
    mime = tree.mimeData([item])
    viewport = window.view.viewport()
    before = set(window.document.nodes)
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, action, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, action, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, move)
    assert move.isAccepted()
    drop = QDropEvent(QPointF(pos), action, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    added = set(window.document.nodes) - before
    assert len(added) == 1, f"dropping {kind} added {added}"
    return added.pop()


def port_pos(window, node_id: str, port: str, output: bool) -> QPoint:
    item = window.scene.node_item(node_id)
    port_item = item.port(port, output)
    assert port_item is not None, (node_id, port, output)
    return window.view.mapFromScene(port_item.scenePos())


def drag_mouse(qtbot, window, start: QPoint, end: QPoint, steps: int = 4) -> None:
    viewport = window.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, steps + 1):
        point = QPoint(start.x() + (end.x() - start.x()) * i // steps,
                       start.y() + (end.y() - start.y()) * i // steps)
        qtbot.mouseMove(viewport, pos=point)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def connect_ports(qtbot, window, source: str, target: str, target_port: str,
                  source_port: str = "out") -> None:
    drag_mouse(qtbot, window, port_pos(window, source, source_port, True),
               port_pos(window, target, target_port, False))


def edit_param(qtbot, window, name: str, text: str) -> None:
    """Type into the inspector's editor for ``name`` and press Enter."""
    window.inspector.flush()
    editor = window.inspector.editors[name]
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    window.inspector.flush()
