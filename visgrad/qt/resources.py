"""Icons and themes (found by :mod:`visgrad.document.resources`, installed or not), and
icons loaded with the theme's colours."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from visgrad.document.resources import resource_folder

RESOURCES = resource_folder()  # the source tree's resources/, or an installed wheel's copy
ICONS = RESOURCES / "icons"
THEMES = RESOURCES / "themes"


def icon_file(name: str) -> Path | None:
    path = ICONS / f"{name}.svg"
    return path if path.exists() else None


@lru_cache(maxsize=512)
def _svg_text(name: str) -> str | None:
    path = icon_file(name)
    return path.read_text(encoding="utf-8") if path else None


def render_svg(svg: str, size: int, ratio: float = 1.0) -> QPixmap:
    """An SVG drawn into a pixmap of ``size`` logical pixels (sharp on high-DPI screens)."""
    pixels = max(1, round(size * ratio))
    image = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, pixels, pixels))
    painter.end()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


_icon_cache: dict[tuple[str, str], QIcon] = {}


def icon(name: str, color: str = "#3d4652") -> QIcon:
    """The icon ``resources/icons/<name>.svg``, ``currentColor`` drawn in ``color``."""
    key = (name, color)
    cached = _icon_cache.get(key)
    if cached is not None:
        return cached
    svg = _svg_text(name)
    result = QIcon()
    if svg is not None:
        svg = svg.replace("currentColor", color)
        for size in (16, 20, 24, 32, 48):
            for ratio in (1.0, 2.0):
                result.addPixmap(render_svg(svg, size, ratio))
    _icon_cache[key] = result
    return result


def kind_icon_name(kind_name: str, category: str) -> str:
    """The icon file of a node kind: its own, else its category's."""
    own = f"kind-{kind_name.lower()}"
    if icon_file(own) is not None:
        return own
    return f"category-{category.lower().replace(' ', '-')}"


def kind_icon(kind_name: str, category: str) -> QIcon:
    return icon(kind_icon_name(kind_name, category))


@lru_cache(maxsize=256)
def kind_pixmap(kind_name: str, category: str, size: int, ratio: float) -> QPixmap:
    """A kind's icon as a pixmap, for painting on the canvas."""
    svg = _svg_text(kind_icon_name(kind_name, category)) or ""
    return render_svg(svg, size, ratio)
