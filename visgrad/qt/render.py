"""Drawing a canvas into a PNG or SVG file, for Export and for ``visgrad render``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgGenerator

from visgrad.qt import theme
from visgrad.qt.canvas.scene import GraphScene

FORMATS = (".png", ".svg")


class RenderError(ValueError):
    """A render request that cannot be done (bad size, unknown format, unwritable file)."""


def parse_size(text: str) -> QSize:
    """``"1600x900"`` as a QSize; :class:`RenderError` saying what is wrong otherwise."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise RenderError(f"--size must look like 1600x900, got {text!r}") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise RenderError(f"--size must be between 16x16 and 16384x16384, got {text!r}")
    return QSize(width, height)


def scene_source_rect(scene: GraphScene, margin: float = 36.0) -> QRectF:
    rect = scene.items_bounding_rect()
    for item in scene.edge_items():
        rect = rect.united(item.sceneBoundingRect()).united(item.label.sceneBoundingRect())
    if rect.isNull():
        rect = QRectF(-200, -120, 400, 240)
    return rect.adjusted(-margin, -margin, margin, margin)


def fitted_source_rect(source: QRectF, size: QSize) -> QRectF:
    """The part of the scene drawn into an image of ``size``: ``source`` at its natural
    scale, or scaled down to fit when it is larger, with the same centre.

    NOTE [centred renders]: ``QGraphicsScene.render`` with ``KeepAspectRatio`` scales the
    source to fill the target and puts it in the target's top-left corner. Growing the
    source around its centre to the target's aspect instead centres the graph, and the
    canvas and its grid are drawn over the whole image, not only behind the graph.
    """
    scale = min(1.0, size.width() / source.width(), size.height() / source.height())
    fitted = QRectF(0.0, 0.0, size.width() / scale, size.height() / scale)
    fitted.moveCenter(source.center())
    return fitted


def render_image(scene: GraphScene, size: QSize | None = None, ratio: float = 1.0) -> QImage:
    """The whole graph drawn into an image (``size`` in logical pixels, else natural): at
    its natural scale or smaller, so that it fits, centred."""
    source = scene_source_rect(scene)
    if size is None:
        size = QSize(max(64, round(source.width())), max(64, round(source.height())))
    image = QImage(round(size.width() * ratio), round(size.height() * ratio),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(ratio)
    image.fill(theme.current().color("canvas"))
    painter = QPainter(image)
    try:
        painter.setRenderHints(QPainter.RenderHint.Antialiasing
                               | QPainter.RenderHint.TextAntialiasing
                               | QPainter.RenderHint.SmoothPixmapTransform)
        scene.render(painter, QRectF(0, 0, size.width(), size.height()),
                     fitted_source_rect(source, size), Qt.AspectRatioMode.KeepAspectRatio)
    finally:
        painter.end()
    return image


def render_to_file(scene: GraphScene, path: str | Path, size: QSize | None = None) -> Path:
    """Write the graph to ``path`` (.png or .svg); returns the path written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise RenderError(f"cannot write {path.name!r}: the output must end in .png or .svg")
    scene.flush()
    if suffix == ".png":
        image = render_image(scene, size, ratio=1.0 if size is not None else 2.0)
        if not image.save(str(path), "PNG"):
            raise RenderError(f"could not write {path}")
        return path
    source = scene_source_rect(scene)
    size = size or QSize(round(source.width()), round(source.height()))
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle(scene.document.settings["title"] or "visgrad graph")
    generator.setDescription("Drawn by visgrad")
    painter = QPainter()
    if not painter.begin(generator):
        raise RenderError(f"could not write {path}")
    try:
        painter.fillRect(QRectF(0, 0, size.width(), size.height()),
                         theme.current().color("canvas"))
        scene.render(painter, QRectF(0, 0, size.width(), size.height()),
                     fitted_source_rect(source, size), Qt.AspectRatioMode.KeepAspectRatio)
    finally:
        painter.end()
    if not path.exists():
        raise RenderError(f"could not write {path}")
    return path


__all__ = ["RenderError", "fitted_source_rect", "parse_size", "render_image",
           "render_to_file"]
