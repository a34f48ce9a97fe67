"""`visgrad export` goes through the command line without Qt and writes a runnable script."""

import runpy

from visgrad import cli
from visgrad.document import examples


def test_cli_export_writes_a_script_that_prints_the_canvas_numbers(tmp_path, capsys):
    source = examples.path("l1_l4_network") if hasattr(examples, "path") else None
    if source is None:
        source = tmp_path / "net.vgraph"
        from visgrad.document import files

        files.save(examples.load("l1_l4_network"), source)
    script = tmp_path / "script.py"
    assert cli.main(["export", str(source), "--to", "torch", "-o", str(script)]) == 0
    capsys.readouterr()
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "w1.grad = tensor(28.)" in out and "w3.grad = tensor(10.)" in out


def test_cli_export_of_a_missing_file_fails_cleanly(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "nope.vgraph"), "--to", "torch"]) == 1
    assert "nope.vgraph" in capsys.readouterr().err
