"""The shipped files (resources/: icons, themes, examples) are found where the app looks for
them, and the wheel's configuration carries every one of them."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from visgrad.document import examples, resources
from visgrad.document.resources import resource_folder, resource_path

ROOT = Path(__file__).resolve().parents[2]


def test_every_example_file_is_found_through_the_lookup(monkeypatch):
    folder = resource_path("examples")
    assert examples.FOLDER == folder and folder.is_dir()
    assert examples.names() == sorted(examples._BUILDERS)  # the files, one per builder
    monkeypatch.setattr(examples, "build", lambda name: pytest.fail(f"{name} was built"))
    for name in examples.names():
        assert examples.path(name) == folder / f"{name}.vgraph"
        assert examples.path(name).is_file()
        assert examples.load(name).nodes  # from its file, not from its builder


def test_themes_and_icons_are_found_through_the_lookup():
    folder = resource_folder()
    assert (folder / "themes" / "light.json").is_file()
    assert (folder / "themes" / "dark.json").is_file()
    assert (folder / "themes" / "base.qss").is_file()
    assert len(list((folder / "icons").glob("*.svg"))) > 50


def test_an_installed_copy_is_preferred_to_the_source_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "PACKAGED", tmp_path / "missing")
    assert resource_folder() == resources.CHECKOUT == ROOT / "resources"
    monkeypatch.setattr(resources, "PACKAGED", tmp_path)
    assert resource_folder() == tmp_path
    assert resource_path("examples", "chain_rule.vgraph") == tmp_path / "examples" / \
        "chain_rule.vgraph"


def test_the_wheel_lists_every_package_and_every_resource_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts)
               for init in (ROOT / "visgrad").rglob("__init__.py")}
    assert on_disk - packages == set(), "add the new package to pyproject.toml's packages"
    assert setuptools["package-dir"]["visgrad._resources"] == "resources"
    package_data = setuptools["package-data"]
    files = [path for path in (ROOT / "resources").rglob("*") if path.is_file()]
    assert len(files) > 80
    for path in files:
        relative = path.relative_to(ROOT / "resources")
        package = ".".join(["visgrad._resources", *relative.parent.parts])
        assert package in packages, f"{relative} is in no listed package"
        assert any(fnmatch.fnmatch(relative.name, pattern)
                   for pattern in package_data.get(package, [])), f"{relative} is not listed"
