"""A regression guard for PySide6 6.12 on Python 3.11: painting must not leak ``None``.

Every Python override of a void C++ virtual (``paint``) dropped one reference to ``None``
there, and the interpreter aborted after a few thousand paints (shared/QT-TESTING.md).
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QUndoStack
from PySide6.QtWidgets import QGraphicsItem

from visgrad.document import Session, examples
from visgrad.qt.canvas.items import EdgeItem, NodeItem, PortItem
from visgrad.qt.canvas.scene import GraphScene
from visgrad.qt.render import scene_source_rect
from visgrad.qt.undo import DocumentEditor

PAINTS = 20_000


def test_painting_does_not_drop_references_to_none(qapp):
    document = examples.load("l1_l4_network")
    session = Session(document)
    scene = GraphScene(session, DocumentEditor(document, QUndoStack()))
    session.run_backward()
    scene.flush()
    for item in scene.node_items():
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)  # every render calls paint
    calls = 0
    originals = {cls: cls.paint for cls in (NodeItem, PortItem, EdgeItem)}

    def counting(original):
        def paint(self, *args):
            nonlocal calls
            calls += 1
            return original(self, *args)
        return paint

    # a small image: the items draw their simplified level of detail, so paints are cheap
    image = QImage(32, 32, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(image)
    for cls, original in originals.items():
        cls.paint = counting(original)
    try:
        source = scene_source_rect(scene)
        target = QRectF(0, 0, 32, 32)
        before = sys.getrefcount(None)
        while calls < PAINTS:
            scene.render(painter, target, source, Qt.AspectRatioMode.IgnoreAspectRatio)
        after = sys.getrefcount(None)
    finally:
        for cls, original in originals.items():
            cls.paint = original
        painter.end()
        scene.detach()
    assert calls >= PAINTS
    assert after >= before - 100, f"None lost {before - after} references in {calls} paints"
