"""Training in the app: iterations per second with the plots live, and how often they redraw.

Opens the main window (offscreen unless QT_QPA_PLATFORM says otherwise), loads the
linear-regression example, and trains with the Train panel's Start exactly as a user does:
iterations on a zero-delay timer, plots redrawn at screen rate at most. For each plot tab
it prints iterations per second, plot redraws per second (the panel's own count) and paints
of the plot's viewport per second (what reached the screen), next to the same training
with no window at all (``Trainer.run``) for reference.

    python benchmarks/bench_training.py [--steps 3000] [--example linear_regression]

Targets: at least 500 it/s while the plots update at 30 fps or more.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_RATE, TARGET_FPS = 500.0, 30.0


def headless_rate(example: str, steps: int) -> float:
    from visgrad.document import Session, examples
    from visgrad.document.training import Trainer

    trainer = Trainer(Session(examples.load(example)))
    started = time.perf_counter()
    trainer.run(steps)
    return steps / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--example", default="linear_regression")
    args = parser.parse_args()

    from PySide6.QtCore import QEvent, QObject, QSettings

    from visgrad.document.operations import SetSetting
    from visgrad.qt import theme
    from visgrad.qt.app import application
    from visgrad.qt.main_window import MainWindow

    app = application()
    settings = QSettings(str(Path(os.environ.get("TMPDIR", "/tmp")) / "bench_training.ini"),
                         QSettings.Format.IniFormat)
    settings.clear()
    theme.apply("light")
    window = MainWindow(settings, interactive=False)
    window.resize(1480, 900)
    window.show()
    window.open_example(args.example)
    window.editor.push(SetSetting("steps", args.steps))
    app.processEvents()
    panel, plots = window.train_panel, window.plots

    class PaintCounter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                self.count += 1
            return False

    print(f"{args.example}, {args.steps} steps per run, platform "
          f"{app.platformName()}, window {window.width()}×{window.height()}")
    reference = headless_rate(args.example, args.steps)
    print(f"  no window (Trainer.run):          {reference:8.0f} it/s")
    worst_rate, worst_fps = float("inf"), float("inf")
    for page in (plots.loss_page, plots.params_page, plots.landscape_page, plots.fit_page):
        plots.tabs.setCurrentWidget(page)
        panel.reset()
        app.processEvents()
        counter = PaintCounter()
        viewport = page.plot.viewport()
        viewport.installEventFilter(counter)
        frames = panel.frames
        started = time.perf_counter()
        panel.start()
        while panel.running:
            app.processEvents()
        elapsed = time.perf_counter() - started
        viewport.removeEventFilter(counter)
        rate = panel.trainer.iteration / elapsed
        redraws = (panel.frames - frames) / elapsed
        paints = counter.count / elapsed
        name = plots.tabs.tabText(plots.tabs.indexOf(page))
        print(f"  plots live, {name + ' tab:':<17} {rate:8.0f} it/s   {redraws:5.1f} redraws/s"
              f"   {paints:5.1f} paints/s   ({rate / reference:.0%} of no window)")
        worst_rate, worst_fps = min(worst_rate, rate), min(worst_fps, paints)
    ok = worst_rate >= TARGET_RATE and worst_fps >= TARGET_FPS
    print(f"worst: {worst_rate:.0f} it/s at {worst_fps:.1f} fps — target ≥ {TARGET_RATE:.0f} it/s"
          f" at ≥ {TARGET_FPS:.0f} fps: {'met' if ok else 'NOT met'}")
    window.undo_stack.setClean()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
