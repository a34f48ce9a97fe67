"""Where the shipped files are (``resources/``: icons, themes, examples), installed or not.

Example::

    >>> from visgrad.document.resources import resource_path
    >>> (resource_path("examples") / "chain_rule.vgraph").is_file()
    True
    >>> resource_path("themes", "light.json").name
    'light.json'

NOTE [shipped resources]: the files live in the top-level ``resources/`` folder of the source
tree. A wheel carries them inside the package as ``visgrad/_resources``: pyproject.toml maps
the packages ``visgrad._resources.*`` to that folder and lists its files as package data. So
an installed visgrad finds them inside itself, and a checkout or an editable install (where
``visgrad/_resources`` does not exist) finds the folder beside the package. Every lookup,
the app's and the examples', goes through :func:`resource_folder`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]
PACKAGED = _PACKAGE / "_resources"        # an installed wheel's copy
CHECKOUT = _PACKAGE.parent / "resources"  # the source tree's folder (editable installs too)


def resource_folder() -> Path:
    """The folder holding ``icons/``, ``themes/`` and ``examples/``."""
    return PACKAGED if PACKAGED.is_dir() else CHECKOUT


def resource_path(*parts: str) -> Path:
    """A file or folder under the resources folder (which may not exist)."""
    return resource_folder().joinpath(*parts)


__all__ = ["resource_folder", "resource_path"]
