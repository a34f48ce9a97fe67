"""Plots: training as it happens, and the loss of each forward pass.

:class:`PlotsPanel` is the Plots dock: tabs, each a thin shell around pyqtgraph items, all
in step with the iteration the Train panel shows (its cursor):

* **Loss**: the loss per iteration of every run, overlaid in distinct colours with a legend
  (compare learning rates and optimizers); log scale on demand; click or drag the cursor to
  go back to an iteration.
* **Parameters**: each parameter's value per iteration, and the gradient norm.
* **Landscape**: for a loss of one number, the function over a range, the current point,
  the tangent whose slope is ``x.grad``, and the iterates; for two numbers, a contour map
  with every run's path.
* **Fit**: for a regression graph (Data → model → loss), the data and the fitted curve.
* **Forward passes**: :class:`LossPlot`, the loss after each forward pass.

The panel keeps no copy of the history: it draws the runs' own arrays
(:class:`~visgrad.document.training.TrainRun`) when :meth:`PlotsPanel.refresh` is called,
at screen rate at most, and only the visible tab. A contour map is computed a few rows per
refresh, so drawing it never stalls the window.

    plots = PlotsPanel()
    plots.set_training([run], run, session, loss_function, regression)
    plots.set_shown(12)
    plots.refresh()
    plots.export_image("curves.png")      # every applicable tab, side by side
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator, QSvgRenderer
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QGraphicsSimpleTextItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from visgrad.document.session import Session
from visgrad.document.training import LossFunction, Regression, TrainRun, padded_range
from visgrad.qt import theme
from visgrad.qt.errors import guarded

# orange is the gradient's colour everywhere in the app (tangents, -lr·grad), so runs get it
# last
RUN_COLORS = ("#2f6fed", "#12805c", "#9c36b5", "#d6336c", "#0a7ea4", "#5c6b7a", "#b35900",
              "#e8590c")
DARK_RUN_COLORS = ("#6d9bff", "#3ccf91", "#d17ee6", "#f06595", "#3bc9db", "#adb5bd",
                   "#f0a35e", "#ff8a3d")
# no orange: that is the gradient's colour, which the ‖grad‖ curve below them wears
PARAM_COLORS = ("#2f6fed", "#12805c", "#9c36b5", "#c92a2a", "#0a7ea4", "#5c940d", "#d6336c",
                "#364fc7", "#495057", "#087f5b", "#862e9c", "#1864ab")
MAX_PARAM_CURVES = 12
CURVE_POINTS = 241
GRID_POINTS = 41
LANDSCAPE_BUDGET = 0.004   # seconds of contour computation per refresh
EXPORT_CELL = QSize(720, 440)
LANDSCAPE_MAP = "CET-L17"
LANDSCAPE_MAP_DARK = "magma"


def run_color(run: TrainRun) -> str:
    colors = DARK_RUN_COLORS if theme.current().dark else RUN_COLORS
    return colors[(run.number - 1) % len(colors)]


def _finite(values: np.ndarray) -> np.ndarray:
    """The values with inf as NaN, so curves stop at them instead of shooting off."""
    values = np.asarray(values, dtype=np.float64)
    if np.isfinite(values).all():
        return values
    values = values.copy()
    values[~np.isfinite(values)] = np.nan
    return values


def _points(xs: Any, ys: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points for an item with symbols: inf as NaN, and no points at all when none is
    finite.

    NOTE [all-NaN symbols]: pyqtgraph's ScatterPlotItem bounds each axis with ``nanmin`` and
    ``nanmax``, which warn "All-NaN slice encountered" on every paint when the data hold only
    NaN (a loss that is NaN from iteration 0, forward passes that all gave NaN). Those points
    draw nothing anyway, so the item gets none.
    """
    xs, ys = _finite(xs), _finite(ys)
    if not (np.isfinite(xs) & np.isfinite(ys)).any():
        return np.zeros(0), np.zeros(0)
    return xs, ys


def _short(value: float) -> str:
    """Four significant digits: a caption that fits."""
    value = float(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _smooth(grid: np.ndarray, factor: int = 6) -> np.ndarray:
    """A grid ``factor`` times finer, by bilinear interpolation (for drawing it smoothly)."""
    rows, columns = grid.shape
    fine_rows = np.linspace(0, rows - 1, (rows - 1) * factor + 1)
    fine_columns = np.linspace(0, columns - 1, (columns - 1) * factor + 1)
    r0 = np.minimum(np.floor(fine_rows).astype(int), rows - 2)
    c0 = np.minimum(np.floor(fine_columns).astype(int), columns - 2)
    tr = (fine_rows - r0)[:, None]
    tc = (fine_columns - c0)[None, :]
    top = grid[r0][:, c0] * (1 - tc) + grid[r0][:, c0 + 1] * tc
    bottom = grid[r0 + 1][:, c0] * (1 - tc) + grid[r0 + 1][:, c0 + 1] * tc
    return top * (1 - tr) + bottom * tr


def _style_plot(plot: pg.PlotItem) -> None:
    colors = theme.current().colors
    for name in ("bottom", "left"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(colors["border"]))
        axis.setTextPen(pg.mkPen(colors["muted"]))
        axis.label.setDefaultTextColor(QColor(colors["muted"]))
    grid = getattr(plot, "visgrad_grid", None)
    if grid is not None:
        grid.setPen(pg.mkPen(colors["node_divider"] if not theme.current().dark
                             else colors["border"], width=1))
    if plot.legend is not None:
        _style_legend(plot.legend)


def _style_legend(legend: pg.LegendItem, frame: bool = True) -> None:
    colors = theme.current().colors
    legend.setBrush(pg.mkBrush(colors["panel"] + "e6") if frame else pg.mkBrush(None))
    legend.setPen(pg.mkPen(colors["border"]) if frame else pg.mkPen(None))
    legend.setLabelTextColor(colors["text"])


def _new_plot(widget: pg.PlotWidget | None = None, x: str = "iteration",
              y: str = "") -> pg.PlotItem:
    plot = widget.getPlotItem() if widget is not None else pg.PlotItem()
    plot.setMenuEnabled(False)
    plot.hideButtons()
    for name in ("bottom", "left"):
        axis = plot.getAxis(name)
        axis.enableAutoSIPrefix(False)  # "(×1e+27)" on a log axis helps nobody
        # pyqtgraph 0.14 still computes a prefix scale when turning it off: undo it
        axis.autoSIPrefixScale, axis.labelUnitPrefix = 1.0, ""
    # NOTE [grid]: a GridItem, not showGrid(): the axes' own grid costs ~10 ms a frame
    grid = pg.GridItem(textPen=None)
    grid.setZValue(-100)
    plot.addItem(grid, ignoreBounds=True)
    plot.visgrad_grid = grid
    plot.setLabel("bottom", x)
    if y:
        plot.setLabel("left", y)
    return plot


class _Note:
    """A line of muted text in the middle of a plot, saying why there is nothing to draw
    (a run whose loss is NaN from its first iteration leaves bare axes otherwise)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self._box = plot.getViewBox()
        self._item = QGraphicsSimpleTextItem(self._box)  # in the box's pixels, not data units
        self._item.setZValue(50)
        self._item.hide()
        self._box.sigResized.connect(self._centre)

    @property
    def text(self) -> str:
        return self._item.text() if self._item.isVisible() else ""

    def set(self, text: str) -> None:
        if text:
            self._item.setText(text)
            self._item.setBrush(QColor(theme.current().colors["muted"]))
            self._centre()
        self._item.setVisible(bool(text))

    def _centre(self, *_: Any) -> None:
        box, own = self._box.boundingRect(), self._item.boundingRect()
        self._item.setPos(box.center().x() - own.width() / 2,
                          box.center().y() - own.height() / 2)


def _none_finite(*arrays: np.ndarray) -> bool:
    """Whether no array holds a finite value (the first value usually settles it: this runs
    on every frame of a training run)."""
    return not any(a.size and (math.isfinite(a.flat[0]) or np.isfinite(a).any())
                   for a in map(np.asarray, arrays))


def _cursor() -> pg.InfiniteLine:
    colors = theme.current().colors
    line = pg.InfiniteLine(angle=90, movable=True,
                           pen=pg.mkPen(colors["muted"], width=1, style=Qt.PenStyle.DashLine),
                           hoverPen=pg.mkPen(colors["accent"], width=2))
    line.setZValue(20)
    line.hide()
    return line


def _nice_ceiling(value: float) -> float:
    """The next round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ) at or above
    ``value``: an axis end that moves seldom.

    >>> _nice_ceiling(40), _nice_ceiling(41), _nice_ceiling(300)
    (40.0, 50.0, 300.0)
    """
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return round(step * power, 9)
    return 10.0 * power


class _RangeFollower:
    """Keeps a plot's view still while its data grows inside it, moving it in jumps.

    NOTE [why not auto-range]: an axis whose range changes is re-ticked and redrawn, the
    costliest part of a frame by far; auto-range changes it on every frame of a training.
    Here x ends at a round number of iterations and y moves only when the data leave the
    view, or fill less than half of it. A user who zooms or pans takes over (until a
    double click, or the next run).
    """

    def __init__(self, plot: pg.PlotItem, x: bool = True) -> None:
        self.plot = plot
        self.x = x  # False for a plot whose x follows another's (linked)
        self.manual = False
        self._x_end: float | None = None
        plot.vb.disableAutoRange()
        plot.vb.sigRangeChangedManually.connect(self._on_manual)

    def _on_manual(self, *args: Any) -> None:
        self.manual = True

    def follow(self, x_end: float, ys: np.ndarray, log: bool = False,
               horizon: float = 0.0) -> None:
        if self.manual:
            return
        want_x = _nice_ceiling(max(x_end, horizon, 1.0))
        if self.x and want_x != self._x_end:
            self.plot.vb.setXRange(0.0, want_x, padding=0.02)
            self._x_end = want_x
        ys = np.asarray(ys, dtype=np.float64)
        if log:
            ys = ys[ys > 0]
            ys = np.log10(ys) if ys.size else ys
        ys = ys[np.isfinite(ys)]
        if ys.size == 0:
            return
        low, high = float(ys.min()), float(ys.max())
        span = max(high - low, 1e-12 * max(1.0, abs(high)), 1e-300)
        y0, y1 = self.plot.vb.viewRange()[1]
        if y0 <= low and high <= y1 and span >= 0.5 * (y1 - y0):
            return
        pad = 0.06 * span
        self.plot.vb.setYRange(low - pad, high + pad, padding=0)

    def reset(self) -> None:
        self.manual = False
        self._x_end = None


class _Page(QStackedWidget):
    """A plot, or a sentence saying why there is nothing to plot yet."""

    def __init__(self, plot: QWidget, hint: str) -> None:
        super().__init__()
        self.hint = QLabel(hint)
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setContentsMargins(24, 12, 24, 12)
        self.plot = plot
        self.addWidget(self.hint)
        self.addWidget(plot)

    def show_plot(self, shown: bool, hint: str | None = None) -> None:
        if hint is not None:
            self.hint.setText(hint)
        self.setCurrentIndex(1 if shown else 0)

    @property
    def plotting(self) -> bool:
        return self.currentIndex() == 1


class _Landscape:
    """The loss over a range (one number) or a grid (two), filled a few rows at a time."""

    def __init__(self, function: LossFunction, x_range: tuple[float, float],
                 y_range: tuple[float, float] | None) -> None:
        self.function = function
        self.x_range, self.y_range = x_range, y_range
        if y_range is None:
            self.xs = np.linspace(*x_range, CURVE_POINTS)
            self.ys = np.zeros(0)
            self.losses = np.full(CURVE_POINTS, np.nan)
        else:
            self.xs = np.linspace(*x_range, GRID_POINTS)
            self.ys = np.linspace(*y_range, GRID_POINTS)
            self.losses = np.full((GRID_POINTS, GRID_POINTS), np.nan)
        self.filled = 0  # points (1-D) or rows (2-D) computed

    @property
    def done(self) -> bool:
        return self.filled >= len(self.xs)

    def advance(self, seconds: float | None) -> bool:
        """Compute more; True when something new was computed."""
        if self.done:
            return False
        deadline = None if seconds is None else time.perf_counter() + seconds
        while not self.done:
            x = self.xs[self.filled]
            if self.y_range is None:
                self.losses[self.filled] = self.function.flat([x])
            else:
                self.losses[self.filled] = [self.function.flat([x, y]) for y in self.ys]
            self.filled += 1
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return True

    def covers(self, xs: np.ndarray, ys: np.ndarray | None) -> bool:
        """Whether the points lie well inside (finite ones; a diverging run leaves it)."""
        def inside(values: np.ndarray, bounds: tuple[float, float]) -> bool:
            values = values[np.isfinite(values)]
            margin = (bounds[1] - bounds[0]) * 0.04
            return values.size == 0 or bool(values.min() >= bounds[0] + margin
                                             and values.max() <= bounds[1] - margin)
        if not inside(xs, self.x_range):
            return False
        return ys is None or self.y_range is None or inside(ys, self.y_range)


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
        curve.setData(*_points(np.arange(1, len(values) + 1), values), connect="finite")
        longest = max((len(v) for v in self._series.values()), default=0)
        self.plot.setXRange(0.5, max(longest, 5) + 0.5, padding=0)


class PlotsPanel(QWidget):
    """The Plots dock (see the module's docstring).

    ``sigIterationPicked(k)``: the user clicked the loss plot at iteration k, or dragged a
    cursor there. The panel only says so; the Train panel decides what the session shows and
    calls :meth:`set_shown`.
    """

    sigIterationPicked = Signal(int)  # noqa: N815

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.runs: list[TrainRun] = []
        self.current: TrainRun | None = None
        self.shown: int | None = None
        self.session: Session | None = None
        self.function: LossFunction | None = None
        self.regression: Regression | None = None
        self.log_scale = False
        self.horizon = 0.0
        self._landscape: _Landscape | None = None
        self._drawn: dict[tuple[str, int], int] = {}
        self._build_loss()
        self._build_params()
        self._build_landscape()
        self._build_fit()
        self._followers = {name: _RangeFollower(plot, x=name != "norm") for name, plot in (
            ("loss", self.loss_plot), ("values", self.values_plot), ("norm", self.norm_plot),
            ("landscape", self.landscape_plot), ("fit", self.fit_plot))}
        for widget in (self.loss_widget, self.params_widget, self.landscape_widget,
                       self.fit_widget):
            widget.scene().sigMouseClicked.connect(self._on_double_click)
            # a view paints all of its background, so the dock and window under it need not
            # repaint on every frame
            widget.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.passes = LossPlot()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.loss_page = _Page(self.loss_widget, "Train with the Train panel (Start or Step): "
                               "the loss of every run appears here, one colour per run. "
                               "Click the curve to go back to an iteration.")
        self.params_page = _Page(self.params_widget, "While training, each parameter's value "
                                 "and the gradient norm appear here, per iteration.")
        self.landscape_page = _Page(self.landscape_widget, "The loss landscape is drawn while "
                                    "training a loss of one or two numbers (x² + 3x + 1; a "
                                    "line's weight and bias).")
        self.fit_page = _Page(self.fit_widget, "For a regression graph (Data → model → loss), "
                              "the data and the fitted curve appear here while training.")
        self.tabs.addTab(self.loss_page, "Loss")
        self.tabs.addTab(self.params_page, "Parameters")
        self.tabs.addTab(self.landscape_page, "Landscape")
        self.tabs.addTab(self.fit_page, "Fit")
        self.tabs.addTab(self.passes, "Forward passes")
        self.tabs.currentChanged.connect(guarded(lambda index: self.refresh()))
        self.caption = QLabel("")
        self.caption.setObjectName("hint")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_box = QCheckBox("log scale")
        self.log_box.setToolTip("Loss and gradient norm on a logarithmic axis (values ≤ 0 "
                                "are not drawn)")
        self.log_box.toggled.connect(guarded(self.set_log_scale))
        corner = QWidget()
        corner_layout = QHBoxLayout(corner)
        corner_layout.setContentsMargins(0, 0, 8, 0)
        corner_layout.addWidget(self.log_box)
        self.tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
        self.caption.setContentsMargins(8, 0, 8, 0)
        # a caption that changes every frame must not resize the dock (a window relayout)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 4)
        layout.setSpacing(2)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.caption)
        self.apply_theme()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(720, 300)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(320, 200)

    # building ----------------------------------------------------------------------------------
    def _build_loss(self) -> None:
        self.loss_widget = pg.PlotWidget()
        self.loss_plot = _new_plot(self.loss_widget, "iteration", "loss")
        self.loss_plot.addLegend(offset=(-8, 8))
        self.loss_cursor = _cursor()
        self.loss_plot.addItem(self.loss_cursor, ignoreBounds=True)
        self.loss_marker = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=9)
        self.loss_marker.setZValue(30)
        self.loss_plot.addItem(self.loss_marker)
        self.loss_note = _Note(self.loss_plot)
        self._loss_curves: dict[int, pg.PlotDataItem] = {}
        self.loss_widget.scene().sigMouseClicked.connect(self._on_loss_clicked)
        self.loss_cursor.sigDragged.connect(self._on_cursor_dragged)

    def _build_params(self) -> None:
        self.params_widget = pg.GraphicsLayoutWidget()
        self.values_plot = _new_plot(None, "iteration", "value")
        self.values_plot.getAxis("bottom").showLabel(False)  # the plot below says it
        self.norm_plot = _new_plot(None, "iteration", "‖grad‖")
        self.params_widget.addItem(self.values_plot, row=0, col=0)
        self.params_widget.addItem(self.norm_plot, row=1, col=0)
        self.params_widget.ci.layout.setRowStretchFactor(0, 3)
        self.params_widget.ci.layout.setRowStretchFactor(1, 2)
        self.norm_plot.setXLink(self.values_plot)
        for plot in (self.values_plot, self.norm_plot):  # same width: the x axes line up
            plot.getAxis("left").setWidth(54)
        # the legend in a column of its own: with a dozen curves it would hide them
        self.params_legend = pg.LegendItem(verSpacing=-4, labelTextSize="8pt")
        self.params_widget.addItem(self.params_legend, row=0, col=1, rowspan=2)
        # at its own height, at the top: stretched over both plots, each entry's line and name
        # drifted apart, the line half a plot below its name
        self.params_legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.params_widget.ci.layout.setAlignment(
            self.params_legend, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.values_cursor, self.norm_cursor = _cursor(), _cursor()
        self.values_plot.addItem(self.values_cursor, ignoreBounds=True)
        self.norm_plot.addItem(self.norm_cursor, ignoreBounds=True)
        for line in (self.values_cursor, self.norm_cursor):
            line.sigDragged.connect(self._on_cursor_dragged)
        self.norm_curve = self.norm_plot.plot([], [], connect="finite")
        self.values_note, self.norm_note = _Note(self.values_plot), _Note(self.norm_plot)
        self._value_curves: list[pg.PlotDataItem] = []
        self._params_run: int | None = None

    def _build_landscape(self) -> None:
        self.landscape_widget = pg.PlotWidget()
        self.landscape_plot = _new_plot(self.landscape_widget, "x", "loss")
        self.image_item = pg.ImageItem()
        self.image_item.setZValue(-10)
        self.landscape_plot.addItem(self.image_item)
        self.curve_item = pg.PlotDataItem([], [], connect="finite")
        self.landscape_plot.addItem(self.curve_item)
        self.tangent_item = pg.PlotDataItem([], [])
        self.tangent_item.setZValue(26)  # over the paths, under the current point
        self.landscape_plot.addItem(self.tangent_item)
        self.point_item = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=12)
        self.point_item.setZValue(30)
        self.landscape_plot.addItem(self.point_item)
        self.start_item = pg.PlotDataItem([], [], pen=None, symbol="s", symbolSize=8)
        self.start_item.setZValue(25)
        self.landscape_plot.addItem(self.start_item)
        self._isocurves: list[pg.IsocurveItem] = []
        self._path_items: dict[int, pg.PlotDataItem] = {}
        self._landscape_ranged = False
        self._landscape_timer = QTimer(self)
        self._landscape_timer.setInterval(0)
        self._landscape_timer.timeout.connect(self._on_landscape_timer)

    @guarded
    def _on_landscape_timer(self) -> None:
        """Compute more of a contour map between other events, while its tab shows."""
        if not self.landscape_pending() or self.tabs.currentWidget() is not \
                self.landscape_page or not self.isVisible():
            self._landscape_timer.stop()
            return
        self.refresh()

    def _build_fit(self) -> None:
        self.fit_widget = pg.PlotWidget()
        self.fit_plot = _new_plot(self.fit_widget, "x", "y")
        self.fit_plot.addLegend(offset=(10, 8))
        self.data_item = pg.ScatterPlotItem([], [], size=6, pen=None, name="data")
        self.fit_plot.addItem(self.data_item)
        self.fit_item = self.fit_plot.plot([], [], name="model")
        self._fit_data: Any = None
        self._fit_run: int | None = None

    # the forward-pass plot: the main window's API since the first version ----------------------
    def add_point(self, loss: float, series: str = "runs") -> None:
        self.passes.add_point(loss, series)

    def set_series(self, series: str, values: list[float]) -> None:
        self.passes.set_series(series, values)

    def values(self, series: str = "runs") -> list[float]:
        return self.passes.values(series)

    def clear(self) -> None:
        """Forget the forward passes and every run (a new document)."""
        self.passes.clear()
        self.set_training([], None, None, None, None)

    # training ----------------------------------------------------------------------------------
    def set_training(self, runs: list[TrainRun], current: TrainRun | None,
                     session: Session | None, function: LossFunction | None,
                     regression: Regression | None) -> None:
        """What to draw: the runs (overlaid), the one the cursor belongs to, and what the
        landscape and fit tabs need (None where they do not apply)."""
        numbers = {run.number for run in runs}
        for number in [n for n in self._loss_curves if n not in numbers]:
            self.loss_plot.removeItem(self._loss_curves.pop(number))
        for number in [n for n in self._path_items if n not in numbers]:
            self.landscape_plot.removeItem(self._path_items.pop(number))
        if function is not self.function:
            self._set_landscape(None)
        if session is not self.session or regression != self.regression:
            self._fit_data = None
        if current is not self.current:
            for follower in self._followers.values():
                follower.reset()
        self.runs, self.current = list(runs), current
        self.session, self.function, self.regression = session, function, regression
        self._drawn.clear()
        if current is None:
            self.shown = None

    def set_horizon(self, iteration: int) -> None:
        """Where the iteration axes end while training runs (the target of a Start), so
        they stay still as the curves grow into them."""
        self.horizon = float(iteration)

    def set_shown(self, iteration: int | None) -> None:
        """The iteration the session holds (the cursor); None: the latest."""
        self.shown = iteration

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = bool(on)
        if self.log_box.isChecked() != self.log_scale:
            self.log_box.setChecked(self.log_scale)
        self.loss_plot.setLogMode(y=self.log_scale)
        self.norm_plot.setLogMode(y=self.log_scale)
        for name in ("loss", "norm"):
            self._followers[name].reset()
        self._drawn.clear()
        self.refresh()

    @guarded
    def _on_double_click(self, event: Any) -> None:
        if event.double():
            for follower in self._followers.values():
                follower.reset()
            self._drawn.clear()
            self._landscape_ranged = False
            self.refresh()

    def shown_row(self) -> int | None:
        run = self.current
        if run is None or not len(run):
            return None
        last = len(run) - 1
        return last if self.shown is None else min(max(0, self.shown), last)

    @guarded
    def refresh(self, all_tabs: bool = False, finish: bool = False,
                caption: bool = True) -> None:
        """Redraw the visible tab (every tab with ``all_tabs``) from the runs' arrays;
        ``finish`` completes a contour map now instead of a few rows per call; the caption
        line only with ``caption``."""
        current = self.tabs.currentWidget()
        if all_tabs or current is self.loss_page:
            self._draw_loss()
        if all_tabs or current is self.params_page:
            self._draw_params()
        if all_tabs or current is self.landscape_page:
            self._draw_landscape(finish)
        if all_tabs or current is self.fit_page:
            self._draw_fit()
        if caption:
            self._update_caption()

    def landscape_pending(self) -> bool:
        """Whether a contour map is still being computed (refresh again to go on)."""
        return self._landscape is not None and not self._landscape.done

    # loss --------------------------------------------------------------------------------------
    def _draw_loss(self) -> None:
        if not any(len(run) for run in self.runs):
            self.loss_page.show_plot(False)
            self.loss_cursor.hide()
            return
        self.loss_page.show_plot(True)
        for run in self.runs:
            curve = self._loss_curves.get(run.number)
            current = run is self.current
            if curve is None or curve.property("current") != current:
                # styles change only when a run stops being the current one: setting a pen
                # redraws the curve, so it is not done on every frame
                color = QColor(run_color(run))
                if not current:
                    color.setAlpha(150)
                pen = pg.mkPen(color, width=2.4 if current else 1.6)
                if curve is None:
                    curve = self.loss_plot.plot([], [], name=run.name, pen=pen,
                                                connect="finite")
                    curve.setDownsampling(auto=True, method="peak")
                    curve.setClipToView(True)
                    self._loss_curves[run.number] = curve
                curve.setPen(pen)
                curve.setZValue(10 if current else 5)
                curve.setProperty("current", current)
            if self._drawn.get(("loss", run.number)) != len(run):
                curve.setData(run.iterations, _finite(run.loss), connect="finite")
                self._drawn[("loss", run.number)] = len(run)
                longest = max(len(r) for r in self.runs)
                self._followers["loss"].follow(longest - 1, np.concatenate(
                    [r.loss for r in self.runs]), self.log_scale, self.horizon)
                self.loss_note.set("No loss to draw: it is NaN or infinite at every iteration"
                                   if _none_finite(*(r.loss for r in self.runs)) else "")
        row = self.shown_row()
        if row is None or self.current is None:
            self.loss_cursor.hide()
            self.loss_marker.setData([], [])
            return
        marker = (self.current.number, row, len(self.current))
        if self._drawn.get(("loss marker", 0)) == hash(marker):
            return
        self._drawn[("loss marker", 0)] = hash(marker)
        self.loss_cursor.setValue(row)
        self.loss_cursor.show()
        loss = float(self.current.loss[row])
        color = run_color(self.current)
        self.loss_marker.setData([row] if math.isfinite(loss) else [],
                                 [loss] if math.isfinite(loss) else [],
                                 symbolBrush=color, symbolPen=pg.mkPen(theme.current().colors[
                                     "panel"], width=2))

    @guarded
    def _on_loss_clicked(self, event: Any) -> None:
        run = self.current
        if run is None or not len(run) or event.button() != Qt.MouseButton.LeftButton:
            return
        box = self.loss_plot.vb
        if not box.sceneBoundingRect().contains(event.scenePos()):
            return
        x = box.mapSceneToView(event.scenePos()).x()
        if math.isfinite(x):
            self.sigIterationPicked.emit(int(round(min(max(x, 0.0), len(run) - 1))))

    @guarded
    def _on_cursor_dragged(self, line: pg.InfiniteLine) -> None:
        run = self.current
        if run is not None and len(run):
            self.sigIterationPicked.emit(int(round(min(max(line.value(), 0), len(run) - 1))))

    # parameters --------------------------------------------------------------------------------
    def _draw_params(self) -> None:
        run = self.current
        if run is None or not len(run):
            self.params_page.show_plot(False)
            return
        self.params_page.show_plot(True)
        if self._params_run != run.number:
            for curve in self._value_curves:
                self.values_plot.removeItem(curve)
            self.params_legend.clear()
            self._value_curves = []
            shown = run.columns[:MAX_PARAM_CURVES]
            self.params_legend.setColumnCount(1 if len(shown) <= 6 else 2)
            for index, name in enumerate(shown):
                color = PARAM_COLORS[index % len(PARAM_COLORS)]
                if theme.current().dark:
                    color = QColor(color).lighter(140).name()
                curve = self.values_plot.plot([], [], pen=pg.mkPen(color, width=2),
                                              connect="finite")
                self.params_legend.addItem(curve, name)
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
                self._value_curves.append(curve)
            self.norm_curve.setPen(pg.mkPen(theme.current().colors["gradient"], width=2))
            self._params_run = run.number
        if self._drawn.get(("params", run.number)) != len(run):
            iterations = run.iterations
            for index, curve in enumerate(self._value_curves):
                curve.setData(iterations, _finite(run.values[:, index]), connect="finite")
            self.norm_curve.setData(iterations, _finite(run.grad_norm), connect="finite")
            self._drawn[("params", run.number)] = len(run)
            self.values_note.set("No value to draw: NaN or infinite at every iteration"
                                 if _none_finite(run.values[:, :len(self._value_curves)])
                                 else "")
            self.norm_note.set("No gradient norm to draw: NaN or infinite at every iteration"
                               if _none_finite(run.grad_norm) else "")
            self._followers["values"].follow(len(run) - 1,
                                             run.values[:, :len(self._value_curves)],
                                             horizon=self.horizon)
            self._followers["norm"].follow(len(run) - 1, run.grad_norm, self.log_scale)
        row = self.shown_row()
        for line in (self.values_cursor, self.norm_cursor):
            if line.value() != (row or 0):
                line.setValue(row or 0)
            line.setVisible(row is not None)

    # landscape ---------------------------------------------------------------------------------
    def landscape_dimensions(self) -> int:
        """1 or 2 when the current run's loss is drawn as a curve or a contour map, else 0."""
        run = self.current
        if run is None or self.function is None or not run.fully_tracked:
            return 0
        size = sum(p.size for p in run.params)
        return size if size in (1, 2) else 0

    def _set_landscape(self, landscape: _Landscape | None) -> None:
        self._landscape = landscape
        self._landscape_ranged = False
        for item in self._isocurves:
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        self._isocurves = []
        self.image_item.clear()
        self.image_item.hide()
        self.curve_item.setData([], [])

    def _needs_new_landscape(self, xs: np.ndarray, ys: np.ndarray | None,
                             dimensions: int) -> bool:
        landscape = self._landscape
        if landscape is None or (landscape.y_range is None) != (dimensions == 1):
            return True
        if landscape.covers(xs, ys):
            return False
        # A run that leaves the map gets a bigger one, but not one per frame: only once the
        # path reaches well outside, and never beyond what float32 can still tell apart.
        def far(values: np.ndarray, bounds: tuple[float, float]) -> bool:
            values = values[np.isfinite(values)]
            if values.size == 0 or max(abs(values.min()), abs(values.max())) > 1e12:
                return False
            span = bounds[1] - bounds[0]
            return bool(values.min() < bounds[0] - 0.25 * span
                        or values.max() > bounds[1] + 0.25 * span or not landscape.done)
        return far(xs, landscape.x_range) or (ys is not None and landscape.y_range is not None
                                              and far(ys, landscape.y_range))

    def _draw_landscape(self, finish: bool) -> None:
        run = self.current
        dimensions = self.landscape_dimensions()
        if run is None or not len(run) or not dimensions:
            hint = None
            if run is not None and len(run):
                count = sum(p.size for p in run.params)
                hint = (f"The loss landscape is drawn when the loss depends on one or two "
                        f"numbers (x² + 3x + 1; a line's weight and bias). This graph trains "
                        f"{count} numbers: see the Parameters tab.")
            self.landscape_page.show_plot(False, hint)
            return
        self.landscape_page.show_plot(True)
        xs = run.values[:, 0]
        ys = run.values[:, 1] if dimensions == 2 else None
        if self._needs_new_landscape(xs, ys, dimensions):
            # room for where the run is heading: its first steps say which way
            x_range = padded_range(xs, padding=0.6 if len(run) < 5 else 0.3)
            y_range = padded_range(ys, padding=0.6 if len(run) < 5 else 0.3) \
                if ys is not None else None
            self._set_landscape(_Landscape(self.function, x_range, y_range))
            self.landscape_plot.setLabel("bottom", run.columns[0])
            self.landscape_plot.setLabel("left", run.columns[1] if dimensions == 2 else "loss")
        landscape = self._landscape
        assert landscape is not None
        if landscape.advance(None if finish else LANDSCAPE_BUDGET) or \
                not self._landscape_ranged:
            self._draw_surface(landscape)
        self._draw_paths(dimensions)
        if not landscape.done and not self._landscape_timer.isActive():
            self._landscape_timer.start()

    def _draw_surface(self, landscape: _Landscape) -> None:
        colors = theme.current().colors
        follower = self._followers["landscape"]
        if landscape.y_range is None:
            losses = _finite(landscape.losses)
            self.curve_item.setData(landscape.xs, losses, connect="finite")
            self.curve_item.setPen(pg.mkPen(colors["muted"], width=2.5))
            finite = losses[np.isfinite(losses)]
            if landscape.done and finite.size and not follower.manual:
                low, high = float(finite.min()), float(finite.max())
                pad = 0.08 * max(high - low, 1e-9)
                self.landscape_plot.vb.setRange(xRange=landscape.x_range,
                                                yRange=(low - pad, high + pad), padding=0)
                self._landscape_ranged = True
            return
        if not self._landscape_ranged and not follower.manual:
            self.landscape_plot.vb.setRange(xRange=landscape.x_range,
                                            yRange=landscape.y_range, padding=0)
            self._landscape_ranged = True
        losses = landscape.losses
        finite = losses[np.isfinite(losses)]
        if finite.size == 0:
            return
        low, high = float(finite.min()), float(finite.max())
        # log of the height above the lowest point: valleys and walls both show their shape
        offset = max((high - low) * 1e-3, 1e-12)
        with np.errstate(all="ignore"):
            heights = np.log10(np.where(np.isfinite(losses), losses - low, high - low) + offset)
        heights[landscape.filled:] = np.nan  # rows still to compute stay transparent
        finite_heights = heights[np.isfinite(heights)]
        smooth = _smooth(heights)
        self.image_item.setImage(smooth, levels=(float(finite_heights.min()),
                                                 float(finite_heights.max())))
        self.image_item.setColorMap(pg.colormap.get(LANDSCAPE_MAP_DARK if theme.current().dark
                                                    else LANDSCAPE_MAP))
        x0, x1 = landscape.x_range
        y0, y1 = landscape.y_range
        self.image_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.image_item.show()
        if landscape.done and not self._isocurves:
            levels = np.linspace(float(finite_heights.min()), float(finite_heights.max()),
                                 16)[1:-1]
            pen = pg.mkPen(QColor(255, 255, 255, 140), width=1)
            for level in levels:
                curve = pg.IsocurveItem(data=smooth, level=float(level), pen=pen)
                curve.setParentItem(self.image_item)
                curve.setZValue(5)
                self._isocurves.append(curve)

    def _path_item(self, run: TrainRun) -> pg.PlotDataItem:
        item = self._path_items.get(run.number)
        current = run is self.current
        if item is None or item.property("current") != current:
            if item is not None:
                self.landscape_plot.removeItem(item)
            color = QColor(run_color(run))
            if not current:
                color.setAlpha(150)
            item = pg.PlotDataItem([], [], connect="finite",
                                   pen=pg.mkPen(color, width=1.8 if current else 1.2),
                                   symbol="o", symbolSize=5 if current else 4,
                                   symbolBrush=color, symbolPen=None)
            item.setProperty("current", current)
            item.setZValue(20 if current else 12)
            self.landscape_plot.addItem(item)
            self._path_items[run.number] = item
            self._drawn.pop(("path", run.number), None)
        return item

    def _draw_paths(self, dimensions: int) -> None:
        current = self.current
        assert current is not None
        for run in self.runs:
            if run.columns != current.columns or not len(run):
                if run.number in self._path_items:
                    self.landscape_plot.removeItem(self._path_items.pop(run.number))
                continue
            item = self._path_item(run)
            key = ("path", run.number)
            if self._drawn.get(key) != len(run):
                x = run.values[:, 0]
                y = run.loss if dimensions == 1 else run.values[:, 1]
                step = max(1, len(run) // 60)  # dots for the first iterates, then a line
                item.setData(*_points(x[::step], y[::step]), connect="finite")
                self._drawn[key] = len(run)
        row = self.shown_row()
        assert row is not None
        marker = (current.number, row, len(current), dimensions)
        if self._drawn.get(("marker", 0)) == hash(marker):
            return
        self._drawn[("marker", 0)] = hash(marker)
        colors = theme.current().colors
        x = float(current.values[row, 0])
        y = float(current.loss[row] if dimensions == 1 else current.values[row, 1])
        start_y = float(current.loss[0] if dimensions == 1 else current.values[0, 1])
        accent = run_color(current)
        finite_point = math.isfinite(x) and math.isfinite(y)
        self.point_item.setData([x] if finite_point else [], [y] if finite_point else [],
                                symbolBrush=accent, symbolPen=pg.mkPen(colors["panel"], width=2))
        self.start_item.setData(*_points([float(current.values[0, 0])], [start_y]),
                                symbolBrush=colors["panel"], symbolPen=pg.mkPen(accent, width=2))
        tangent: tuple[list[float], list[float]] = ([], [])
        landscape = self._landscape
        if finite_point and landscape is not None and dimensions == 1:
            slope = float(current.grads[row, 0])
            if math.isfinite(slope):
                x0, x1 = landscape.x_range
                half = (x1 - x0) * 0.14
                tangent = ([x - half, x + half], [y - slope * half, y + slope * half])
        elif finite_point and landscape is not None and landscape.y_range is not None:
            # the plain gradient step from the point, -lr·grad (what SGD does; the other
            # optimizers' steps differ, which the path shows), at most a third of the view
            lr = current.config.lr
            gx, gy = (-lr * float(v) for v in current.grads[row, :2])
            (x0, x1), (y0, y1) = landscape.x_range, landscape.y_range
            on_screen = math.hypot(gx / (x1 - x0), gy / (y1 - y0))
            if math.isfinite(on_screen) and on_screen > 0:
                scale = min(1.0, 0.33 / on_screen)
                tangent = ([x, x + gx * scale], [y, y + gy * scale])
        self.tangent_item.setData(*tangent)
        self.tangent_item.setPen(pg.mkPen(colors["gradient"], width=3))

    # fit ---------------------------------------------------------------------------------------
    def _draw_fit(self) -> None:
        session, regression = self.session, self.regression
        fit = regression.fit(session) if session is not None and regression is not None \
            else None
        if fit is None or self.current is None:
            hint = None
            if regression is not None:
                hint = ("The fit is drawn for one input feature: x and the prediction must "
                        "have one number per sample.")
            self.fit_page.show_plot(False, hint)
            return
        self.fit_page.show_plot(True)
        colors = theme.current().colors
        if self._fit_data is None:
            points = regression.points(session)
            if points is not None:
                color = QColor(colors["muted"])
                color.setAlpha(170)
                self.data_item.setData(*points, brush=pg.mkBrush(color), pen=None)
                if not self._followers["fit"].manual:
                    x, y = points
                    x_pad = 0.04 * max(float(np.ptp(x)), 1e-9)
                    y_pad = 0.08 * max(float(np.ptp(y)), 1e-9)
                    self.fit_plot.vb.setRange(xRange=(x.min() - x_pad, x.max() + x_pad),
                                              yRange=(y.min() - y_pad, y.max() + y_pad),
                                              padding=0)
            self._fit_data = points
            self._fit_run = None
        if self._fit_run != self.current.number:
            self.fit_item.setPen(pg.mkPen(run_color(self.current), width=3))
            self._fit_run = self.current.number
        self.fit_item.setData(*fit)

    # caption -------------------------------------------------------------------------------------
    def _update_caption(self) -> None:
        run, row = self.current, self.shown_row()
        if run is None or row is None:
            self.caption.setText("")
            return
        page = self.tabs.currentWidget()
        parts = [f"{run.name}", f"iteration {row}", f"loss {_short(run.loss[row])}"]
        dimensions = self.landscape_dimensions()
        if page is self.landscape_page and dimensions == 1:
            name = run.columns[0]
            parts = [f"iteration {row}", f"{name} = {_short(run.values[row, 0])}",
                     f"loss = {_short(run.loss[row])}",
                     f"tangent slope = {name}.grad = {_short(run.grads[row, 0])}"]
        elif page is self.landscape_page and dimensions == 2:
            parts = [f"iteration {row}", *(f"{n} = {_short(v)}" for n, v in
                                           zip(run.columns, run.values[row, :2], strict=True)),
                     f"loss {_short(run.loss[row])}", "orange: −lr·grad"]
        elif page is self.fit_page:
            parts += [f"{n} = {_short(v)}" for n, v in
                      list(zip(run.columns, run.values[row], strict=True))[:3]]
        else:
            parts.append(f"‖grad‖ {_short(run.grad_norm[row])}")
        self.caption.setText("  ·  ".join(parts))

    # theme and export ----------------------------------------------------------------------------
    def apply_theme(self) -> None:
        colors = theme.current().colors
        for widget in (self.loss_widget, self.params_widget, self.landscape_widget,
                       self.fit_widget):
            widget.setBackground(colors["panel"])
        for plot in (self.loss_plot, self.values_plot, self.norm_plot, self.landscape_plot,
                     self.fit_plot):
            _style_plot(plot)
        _style_legend(self.params_legend, frame=False)
        for line in (self.loss_cursor, self.values_cursor, self.norm_cursor):
            line.setPen(pg.mkPen(colors["muted"], width=1, style=Qt.PenStyle.DashLine))
            line.setHoverPen(pg.mkPen(colors["accent"], width=2))
        self._params_run = None  # curves take the theme's colours when next drawn
        self._fit_data = None
        self._drawn.clear()
        if self._landscape is not None:
            self._set_landscape(None)
        self.passes.apply_theme()
        self.refresh()

    def export_image(self, path: str | Path, title: str = "",
                     cell: QSize = EXPORT_CELL) -> Path:
        """Every tab with something drawn, side by side, into ``path`` (.png or .svg).

        NOTE [drawing hidden tabs]: a tab that is not shown has no size and draws nothing
        useful, so the export lays out a twin panel that is "shown" but never on screen
        (``WA_DontShowOnScreen``) and draws each of its tabs in turn, at ``cell`` size.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".png", ".svg"):
            raise ValueError(f"cannot write {path.name!r}: plots are saved as .png or .svg")
        twin = PlotsPanel()
        twin.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        try:
            twin.set_training(self.runs, self.current, self.session, self.function,
                              self.regression)
            twin.set_shown(self.shown)
            if self.log_scale:
                twin.set_log_scale(True)
            if self._landscape is not None and self._landscape.done:
                twin._set_landscape(self._landscape)
            twin.resize(cell.width(), cell.height() + 70)
            twin.show()
            pages = [(title_, page) for title_, page in (
                ("Loss", twin.loss_page), ("Parameters and gradient norm", twin.params_page),
                ("Landscape", twin.landscape_page), ("Fit", twin.fit_page))]
            shots: list[tuple[str, QWidget]] = []
            for name, page in pages:
                twin.tabs.setCurrentWidget(page)
                QApplication.sendPostedEvents()
                twin.refresh(finish=True)
                if page.plotting:
                    shots.append((name, page))
            if not shots:
                twin.tabs.setCurrentWidget(twin.passes)
                twin.passes.set_series("runs", self.passes.values("runs"))
                shots = [("Loss after each forward pass", twin.passes)]
            return self._write_pages(path, twin, shots, title, cell)
        finally:
            twin.close()
            twin.deleteLater()

    def _write_pages(self, path: Path, twin: PlotsPanel, pages: list[tuple[str, QWidget]],
                     title: str, cell: QSize) -> Path:
        """Draw the pages as SVG; a PNG is that SVG rasterised at twice the size.

        NOTE [one drawing for both]: pyqtgraph's axes draw their text in device pixels, so
        a widget drawn through a scaled painter (or into a 2× image) gets giant labels. Drawn
        at 1:1 into an SVG and rasterised from there, the PNG is sharp and the same.
        """
        columns = 1 if len(pages) == 1 else 2
        rows = math.ceil(len(pages) / columns)
        heading = 36 if title else 0
        caption = 26
        size = QSize(columns * cell.width(), heading + rows * (cell.height() + caption))
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        generator = QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setResolution(twin.logicalDpiX())  # else the axes' text is scaled apart
        generator.setSize(size)
        generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
        generator.setTitle(title or "visgrad training")
        generator.setDescription("Drawn by visgrad")
        painter = QPainter()
        if not painter.begin(generator):
            raise OSError(f"could not draw the plots for {path}")
        try:
            self._paint_pages(painter, size, twin, pages, title, heading, caption, cell,
                              columns)
        finally:
            painter.end()
        svg = bytes(buffer.data())
        if path.suffix.lower() == ".svg":
            path.write_bytes(svg)
            return path
        image = QImage(size.width() * 2, size.height() * 2,
                       QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(theme.current().color("panel"))
        painter = QPainter(image)
        try:
            painter.setRenderHints(QPainter.RenderHint.Antialiasing
                                   | QPainter.RenderHint.TextAntialiasing
                                   | QPainter.RenderHint.SmoothPixmapTransform)
            QSvgRenderer(QByteArray(svg)).render(painter)
        finally:
            painter.end()
        if not image.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def _paint_pages(self, painter: QPainter, size: QSize, twin: PlotsPanel,
                     pages: list[tuple[str, QWidget]], title: str, heading: int,
                     caption: int, cell: QSize, columns: int) -> None:
        colors = theme.current()
        painter.setRenderHints(QPainter.RenderHint.Antialiasing
                               | QPainter.RenderHint.TextAntialiasing)
        painter.fillRect(QRectF(0, 0, size.width(), size.height()), colors.color("panel"))
        font = QFont(self.font())
        if title:
            font.setPointSizeF(12.5)
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(colors.color("text"))
            painter.drawText(QRectF(16, 0, size.width() - 32, heading),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        font.setPointSizeF(10)
        font.setBold(True)
        for index, (name, page) in enumerate(pages):
            x = (index % columns) * cell.width()
            y = heading + (index // columns) * (cell.height() + caption)
            painter.setFont(font)
            painter.setPen(colors.color("muted"))
            painter.drawText(QRectF(x + 16, y, cell.width() - 32, caption - 4),
                             Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, name)
            twin.tabs.setCurrentWidget(page)
            QApplication.sendPostedEvents()
            twin.refresh(finish=True)
            widget = page.plot
            if widget.size() != page.size() and isinstance(page, _Page):
                widget.resize(page.size())
                QApplication.sendPostedEvents()
            for item in widget.scene().items():  # symbols as shapes, not pixmap pieces
                if isinstance(item, pg.ScatterPlotItem) and item.opts["useCache"]:
                    item.opts["useCache"] = False
                    item.invalidate()
            # QGraphicsView.render: the view's picture into a target rectangle
            widget.render(painter, QRectF(x, y + caption, cell.width(), cell.height()),
                          widget.viewport().rect(), Qt.AspectRatioMode.IgnoreAspectRatio)


def export_training_plots(trainer: Any, path: str | Path, title: str = "",
                          theme_name: str = "light") -> Path:
    """Draw a finished :class:`~visgrad.document.training.Trainer`'s plots into a file,
    without a window (``visgrad train --plot``)."""
    from visgrad.document.training import find_regression  # noqa: PLC0415
    from visgrad.qt.app import application  # noqa: PLC0415

    application(headless=True)
    theme.apply(theme_name)
    panel = PlotsPanel()
    try:
        trainer.show(trainer.iteration)
        panel.set_training([trainer.history], trainer.history, trainer.session,
                           trainer.loss_function(),
                           find_regression(trainer.session.document, trainer.target))
        return panel.export_image(path, title=title)
    finally:
        panel.deleteLater()


__all__ = ["LossPlot", "PlotsPanel", "export_training_plots", "run_color"]
