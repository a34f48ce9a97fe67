"""A test hook: drive the real app from a JSON script named by ``VISGRAD_TEST_SCRIPT``.

Tests that must treat the app as a process (``kill -9`` it, launch it again) cannot reach
into it with qtbot. When the environment variable names a script, ``visgrad`` runs it once
the window is up (after offering recovery files), as edits through the undo stack, exactly
like a user's. The window then never opens a modal dialog (it is made non-interactive).

Example script::

    {"recovery_choice": "restore",     # answer to the recovery offer: restore|discard|keep
     "autosave_seconds": 0.2,          # instead of the 30 s setting
     "steps": [
       {"add": "Exp", "label": "e", "at": [900, 40]},
       {"connect": ["loss", "e", "x"]},        # source label, target label, port[, out port]
       {"set": ["w1", "value", "5.0"]},        # node label, parameter, value
       {"delete": ["w3"]},
       {"undo": 1}, {"redo": 1},
       {"run": "forward"},                     # forward|backward|step_forward|step_backward
       {"dump": "state.json"},                 # the window's state, as JSON (see ``dump``)
       {"save_as": "out.vgraph"},
       {"close": true}                         # a normal close (unsaved changes discarded)
     ]}

A step that fails prints ``visgrad test script: step N: why`` on standard error and makes
the app exit with code 3.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QApplication

from visgrad.document import files
from visgrad.document.operations import AddNode, Connect, RemoveNodes, SetParam

if TYPE_CHECKING:
    from visgrad.qt.main_window import MainWindow

SCRIPT_ENV = "VISGRAD_TEST_SCRIPT"
EXIT_SCRIPT_FAILED = 3


class ScriptError(Exception):
    pass


def from_environment() -> dict[str, Any] | None:
    """The script ``VISGRAD_TEST_SCRIPT`` names, or None when the variable is not set."""
    name = os.environ.get(SCRIPT_ENV)
    if not name:
        return None
    data = json.loads(Path(name).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("steps", []), list):
        raise ScriptError(f"{name}: expected {{\"steps\": [...]}}")
    return data


def configure(window: MainWindow, script: dict[str, Any]) -> None:
    """Before the recovery offer: no dialogs, the scripted answer, the autosave delay."""
    window.interactive = False
    choice = script.get("recovery_choice")
    if choice is not None:
        window.autosave.choose = lambda recovery: str(choice)
    if script.get("autosave_seconds") is not None:
        window.autosave.interval_seconds = float(script["autosave_seconds"])


def run(window: MainWindow, script: dict[str, Any]) -> None:
    """Run the steps in order; on a failing step, report it and exit with code 3."""
    for number, step in enumerate(script.get("steps", []), start=1):
        try:
            _step(window, step)
        except Exception as exc:  # noqa: BLE001 - any failure ends the scripted run
            print(f"visgrad test script: step {number}: {type(exc).__name__}: {exc}",
                  file=sys.stderr, flush=True)
            QApplication.exit(EXIT_SCRIPT_FAILED)
            return


def _id(window: MainWindow, label: str) -> str:
    return window.document.node(label).id


def _push(window: MainWindow, operation: Any) -> None:
    reason = window.editor.push(operation)
    if reason:
        raise ScriptError(reason)


def _step(window: MainWindow, step: dict[str, Any]) -> None:
    if not isinstance(step, dict) or len(step) != 1 and "add" not in step:
        raise ScriptError(f"a step is one {{\"action\": argument}}, got {step!r}")
    if "add" in step:
        at = step.get("at", (0.0, 0.0))
        _push(window, AddNode(step["add"], step.get("params") or {}, label=step.get("label"),
                              position=(float(at[0]), float(at[1]))))
        return
    ((action, argument),) = step.items()
    if action == "connect":
        source, target, port, *rest = argument
        _push(window, Connect(_id(window, source), _id(window, target), port,
                              rest[0] if rest else "out"))
    elif action == "set":
        label, name, value = argument
        _push(window, SetParam(_id(window, label), name, value))
    elif action == "delete":
        _push(window, RemoveNodes([_id(window, label) for label in argument]))
    elif action in ("undo", "redo"):
        for _ in range(int(argument)):
            getattr(window.undo_stack, action)()
    elif action == "run":
        if argument not in ("forward", "backward", "step_forward", "step_backward"):
            raise ScriptError(f"run what? {argument!r}")
        getattr(window, argument if argument.startswith("step") else f"run_{argument}")()
    elif action == "dump":
        Path(argument).write_text(json.dumps(dump(window), indent=1), encoding="utf-8")
    elif action == "save_as":
        if not window.save_as(argument):
            raise ScriptError(f"could not save {argument}")
    elif action == "close":
        window.close()
    else:
        raise ScriptError(f"unknown step {action!r}")


def dump(window: MainWindow) -> dict[str, Any]:
    """What a test compares: the document (canonical .vgraph text) and the window's state."""
    return {"graph": files.dumps(window.document), "title": window.windowTitle(),
            "modified": window.isWindowModified(), "clean": window.undo_stack.isClean(),
            "path": str(window.path) if window.path else None,
            "name": window.display_name, "offers": list(window.autosave.offered),
            "recovery_file": str(window.autosave.file) if window.autosave.file else None}


__all__ = ["SCRIPT_ENV", "configure", "dump", "from_environment", "run"]
