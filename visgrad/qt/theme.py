"""Light and dark themes: widget style sheets and the canvas's colours, from resources/themes.

The canvas items read :func:`current` when they paint, so switching theme is a repaint.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from visgrad.qt.resources import ICONS, THEMES

THEME_NAMES = ("light", "dark")

CATEGORY_COLORS = {
    "Tensors": "#2f6fed", "Arithmetic": "#8250df", "Functions": "#1a7f37",
    "Reductions": "#b35900", "Linear algebra": "#0a7ea4", "Shape": "#5c6b7a",
    "Neural network": "#c2255c", "Losses": "#d9480f", "Custom": "#6741d9",
}


@dataclass(frozen=True)
class Theme:
    """Named colours of one theme (see resources/themes/light.json)."""

    name: str
    dark: bool
    colors: dict[str, str]

    def color(self, key: str) -> QColor:
        return _qcolor(self.colors[key])

    def category(self, category: str) -> QColor:
        color = QColor(CATEGORY_COLORS.get(category, "#5c6b7a"))
        return color.lighter(135) if self.dark else color

    def stylesheet(self) -> str:
        template = string.Template((THEMES / "base.qss").read_text(encoding="utf-8"))
        return template.safe_substitute(self.colors, icons=ICONS.as_posix())


def _qcolor(text: str) -> QColor:
    # "#rrggbbaa" as written in the theme files (Qt reads #aarrggbb)
    if len(text) == 9 and text.startswith("#"):
        color = QColor(text[:7])
        color.setAlpha(int(text[7:], 16))
        return color
    return QColor(text)


@lru_cache(maxsize=4)
def load(name: str) -> Theme:
    if name not in THEME_NAMES:
        raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEME_NAMES)}")
    data: dict[str, Any] = json.loads((THEMES / f"{name}.json").read_text(encoding="utf-8"))
    colors = {k: v for k, v in data.items() if isinstance(v, str) and k != "name"}
    return Theme(name, bool(data.get("dark")), colors)


_current = "light"


def current() -> Theme:
    return load(_current)


def apply(name: str, app: QApplication | None = None) -> Theme:
    """Make ``name`` the current theme and style the application with it."""
    global _current  # noqa: PLW0603 - the process has one current theme
    theme = load(name)
    _current = name
    app = app or QApplication.instance()
    if app is not None:
        if app.style().name().lower() != "fusion":
            app.setStyle("Fusion")
        sheet = theme.stylesheet()
        if app.styleSheet() != sheet:
            app.setPalette(_palette(theme))
            app.setStyleSheet(sheet)
    return theme


def _palette(theme: Theme) -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    palette.setColor(role.Window, theme.color("window"))
    palette.setColor(role.WindowText, theme.color("text"))
    palette.setColor(role.Base, theme.color("panel"))
    palette.setColor(role.AlternateBase, theme.color("panel_alt"))
    palette.setColor(role.Text, theme.color("text"))
    palette.setColor(role.Button, theme.color("panel"))
    palette.setColor(role.ButtonText, theme.color("text"))
    palette.setColor(role.Highlight, theme.color("accent"))
    palette.setColor(role.HighlightedText, theme.color("accent_text"))
    palette.setColor(role.ToolTipBase, theme.color("panel"))
    palette.setColor(role.ToolTipText, theme.color("text"))
    palette.setColor(role.PlaceholderText, theme.color("muted"))
    palette.setColor(role.Link, theme.color("accent"))
    for group in (QPalette.ColorGroup.Disabled,):
        palette.setColor(group, role.Text, theme.color("muted"))
        palette.setColor(group, role.WindowText, theme.color("muted"))
        palette.setColor(group, role.ButtonText, theme.color("muted"))
    return palette
