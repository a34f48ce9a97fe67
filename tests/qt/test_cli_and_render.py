"""The ``visgrad`` command: arguments, examples, and ``visgrad render`` of every example."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtGui import QImage

from tests.qt.conftest import close_window
from visgrad import cli
from visgrad.document import examples


def image_is_non_trivial(path) -> QImage:
    image = QImage(str(path))
    assert not image.isNull(), path
    assert image.width() >= 200 and image.height() >= 100
    small = image.scaled(64, 64)
    colours = {small.pixel(x, y) for x in range(64) for y in range(64)}
    assert len(colours) > 8, f"{path} is nearly a single colour"
    return image


@pytest.mark.parametrize("name", examples.names())
def test_render_every_example_to_png(qapp, tmp_path, name):
    out = tmp_path / f"{name}.png"
    assert cli.main(["render", "--example", name, "-o", str(out), "--after", "backward"]) == 0
    image_is_non_trivial(out)


def test_render_a_file_to_svg_and_png_with_size_and_steps(qapp, tmp_path, capsys):
    source = examples.path("chain_rule")
    svg = tmp_path / "chain.svg"
    assert cli.main(["render", str(source), "-o", str(svg), "--after", "steps:7"]) == 0
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    png = tmp_path / "chain.png"
    assert cli.main(["render", str(source), "-o", str(png), "--size", "800x450",
                     "--after", "forward", "--theme", "dark"]) == 0
    image = image_is_non_trivial(png)
    assert (image.width(), image.height()) == (800, 450)
    assert "wrote" in capsys.readouterr().out


def content_margins(path) -> tuple[int, int, int, int]:
    """Left, right, top and bottom distances from the image's edges to what is not canvas."""
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_ARGB32)
    width, height = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())
    pixels = pixels[:, :width * 4].reshape(height, width, 4).astype(int)
    canvas = pixels[0, 0]
    rows, columns = np.nonzero(np.abs(pixels - canvas).max(axis=2) > 8)
    assert rows.size, f"{path} shows no graph"
    return (int(columns.min()), width - 1 - int(columns.max()),
            int(rows.min()), height - 1 - int(rows.max()))


@pytest.mark.parametrize(("name", "size", "scaled"), [
    ("chain_rule", "2400x1400", False),    # much larger than the graph: natural size
    ("l1_l4_network", "1500x2000", False),
    ("chain_rule", "700x400", True),       # narrower than the graph: scaled down to fit
    ("mlp_classifier", "600x300", True),
])
def test_render_centres_the_graph_in_the_size_asked(qapp, tmp_path, monkeypatch, name, size,
                                                    scaled):
    from visgrad.qt import theme

    light = theme.load("light")
    monkeypatch.setitem(light.colors, "grid", light.colors["canvas"])  # no dots: only the graph
    out = tmp_path / f"{name}.png"
    assert cli.main(["render", "--example", name, "-o", str(out), "--size", size]) == 0
    left, right, top, bottom = content_margins(out)
    assert abs(left - right) <= 8 and abs(top - bottom) <= 8, (left, right, top, bottom)
    if scaled:  # fitted, with a margin on the tight side
        assert 8 <= min(left, right) and 8 <= min(top, bottom)
        assert min(left + right, top + bottom) <= 80
    else:  # at its natural size: not stretched to fill the width or the height
        assert min(left + right, top + bottom) > 200


@pytest.mark.parametrize("argv, code, message", [
    (["render", "--example", "nope", "-o", "x.png"], 2, "no example 'nope'"),
    (["render", "--example", "chain_rule", "-o", "x.jpg"], 2, "must end in .png or .svg"),
    (["render", "--example", "chain_rule", "-o", "x.png", "--after", "sideways"], 2,
     "--after must be"),
    (["render", "-o", "x.png"], 2, "either a FILE or --example"),
    (["render", "--example", "chain_rule", "-o", "x.png", "--size", "big"], 2,
     "--size must look like"),
    (["render", "missing.vgraph", "-o", "x.png"], 1, "no such file"),
    (["--example", "nope"], 2, "no example 'nope'"),
    (["missing.vgraph"], 1, "no such file"),
    (["--bogus"], 2, "unrecognized arguments"),
])
def test_bad_arguments_get_clear_messages(qapp, tmp_path, monkeypatch, capsys, argv, code,
                                          message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == code
    assert message in capsys.readouterr().err


def test_bad_file_is_reported_before_any_window(tmp_path, capsys):
    bad = tmp_path / "bad.vgraph"
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    assert cli.main([str(bad)]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_list_examples(capsys):
    assert cli.main(["--list-examples"]) == 0
    assert capsys.readouterr().out.split() == examples.names()


def test_importing_visgrad_and_its_cli_never_imports_qt():
    code = ("import sys, visgrad, visgrad.cli, visgrad.document; "
            "assert not [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_launch_opens_the_default_example(qapp, settings, monkeypatch):
    from visgrad.qt import app as app_module
    from visgrad.qt.main_window import MainWindow

    windows = []
    monkeypatch.setattr(type(qapp), "exec", lambda self: 0)
    original = MainWindow.__init__

    def spy(self, *args, **kwargs):
        original(self, settings, interactive=False)
        windows.append(self)

    monkeypatch.setattr(MainWindow, "__init__", spy)
    assert app_module.launch() == 0
    (window,) = windows
    assert window.display_name == "l1_l4_network.vgraph"
    assert {n.label for n in window.document} >= {"w1", "w2", "w3", "l1", "l4", "loss"}
    close_window(window)
