"""Plots: the loss over runs (one point per completed forward pass, or per training step).

A thin shell around one pyqtgraph PlotWidget, with a small API meant to grow:

    plot = LossPlot()
    plot.add_point(0.25)          # a forward pass finished with loss 0.25
    plot.set_series("train", [1.0, 0.5, 0.2])
    plot.values()                 # [0.25]
    plot.clear()
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from visgrad.qt import theme


class LossPlot(QWidget):
    """The loss per run in one curve (``runs``), plus named extra series."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "run")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setXRange(0.5, 5.5, padding=0)
        self._series: dict[str, list[float]] = {"runs": []}
        self._curves: dict[str, Any] = {}
        self.caption = QLabel("The loss after each forward pass appears here.")
        self.caption.setObjectName("hint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(2)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)
        self.apply_theme()

    def add_point(self, loss: float, series: str = "runs") -> None:
        """Append one value to a series (``runs`` by default) and redraw it."""
        self._series.setdefault(series, []).append(float(loss))
        self._redraw(series)
        values = self._series[series]
        self.caption.setText(f"{series}: {len(values)} point{'s' if len(values) != 1 else ''}"
                             f", last loss {values[-1]:.6g}")

    def set_series(self, series: str, values: list[float]) -> None:
        """Replace a whole series (e.g. a training history)."""
        self._series[series] = [float(v) for v in values]
        self._redraw(series)

    def values(self, series: str = "runs") -> list[float]:
        return list(self._series.get(series, []))

    def clear(self) -> None:
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        self._curves.clear()
        self._series = {"runs": []}
        self.plot.setXRange(0.5, 5.5, padding=0)
        self.caption.setText("The loss after each forward pass appears here.")

    def apply_theme(self) -> None:
        colors = theme.current()
        self.plot.setBackground(colors.colors["panel"])
        for axis in ("bottom", "left"):
            item = self.plot.getAxis(axis)
            item.setPen(pg.mkPen(colors.colors["border"]))
            item.setTextPen(pg.mkPen(colors.colors["muted"]))
        for name in list(self._curves):
            self._redraw(name)

    def _redraw(self, series: str) -> None:
        colors = theme.current()
        values = self._series[series]
        color = colors.colors["accent"] if series == "runs" else colors.colors["backward"]
        curve = self._curves.get(series)
        if curve is None:
            curve = self.plot.plot([], [], name=series, pen=pg.mkPen(color, width=2),
                                   symbol="o", symbolSize=6, symbolBrush=color,
                                   symbolPen=None)
            self._curves[series] = curve
        curve.setPen(pg.mkPen(color, width=2))
        curve.setSymbolBrush(color)
        curve.setData(list(range(1, len(values) + 1)), values)
        longest = max((len(v) for v in self._series.values()), default=0)
        self.plot.setXRange(0.5, max(longest, 5) + 0.5, padding=0)
