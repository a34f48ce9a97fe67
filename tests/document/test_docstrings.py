"""The examples in the document layer's docstrings run and say what they show."""

import doctest
import importlib
import pkgutil

import pytest

import visgrad.document

MODULES = sorted(f"visgrad.document.{info.name}"
                 for info in pkgutil.iter_modules(visgrad.document.__path__))


@pytest.mark.parametrize("name", ["visgrad.document", *MODULES])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_document_layer_never_imports_qt():
    import subprocess
    import sys

    code = ("import sys, visgrad.document, visgrad.document.session, visgrad.document.layout; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'PySide6', 'pyqtgraph'} or m.startswith('visgrad.qt')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert output == "[]"
