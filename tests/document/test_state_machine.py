"""Random use of a document and its session never crashes, and never loses or corrupts a graph.

A Hypothesis state machine plays a student at the canvas: it adds, removes, connects and
edits nodes (often wrongly), undoes and redoes, steps the forward and backward passes,
trains, saves and reopens. After every step:

* the document is consistent (edges between existing ports, one edge per input, no cycle,
  unique labels, parameters in stored form, no setting naming a missing node);
* a view built only from the document's events agrees with the document;
* saving and loading gives the same document, and validation does not raise;
* the session's state is the one its ``state_changed`` events announced.

Only documented user errors may come out: :class:`DocumentError` from a refused edit (and
then exactly when the edit is wrong, with the document and its events untouched),
:class:`SessionError` from ``train``; stepping never raises (errors come back as
:class:`StepError`). Undo restores the exact previous file text, redo the exact next one.

CI runs a fixed, database-free set of examples (see ``SETTINGS``); set
``VISGRAD_STATEFUL_EXAMPLES`` (and ``VISGRAD_STATEFUL_STEPS``) to explore more locally.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.document import strategies as S
from visgrad.document import (
    DocumentError,
    GraphDocument,
    GraphFileError,
    dumps,
    examples,
    layout,
    load,
    loads,
    registry,
    save,
    validation,
)
from visgrad.document.model import OPTIMIZERS, SETTINGS, Edge, coerce_setting
from visgrad.document.operations import (
    AddHook,
    AddNode,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    Operation,
    RemoveHook,
    RemoveNodes,
    SetLabel,
    SetParam,
    SetRetainGrad,
    SetSetting,
)
from visgrad.document.params import ParamError
from visgrad.document.session import (
    STATES,
    BackwardStepEvent,
    ForwardStep,
    Session,
    SessionError,
    StepError,
    TrainResult,
)

DEFAULT_EXAMPLES, DEFAULT_STEPS = 70, 50
EXAMPLES = int(os.environ.get("VISGRAD_STATEFUL_EXAMPLES", DEFAULT_EXAMPLES))
STEPS = int(os.environ.get("VISGRAD_STATEFUL_STEPS", DEFAULT_STEPS))
MAX_NODES = 14
MAX_ELEMENTS = 10_000  # the session's size limit: random graphs stay small and fast
SETTINGS_FOR_CI = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
    derandomize=True, suppress_health_check=list(HealthCheck), print_blob=True,
)
COUNTS = {"steps": 0, "refused": 0, "applied": 0, "undone": 0, "redone": 0, "run": 0,
          "forward_ok": 0, "backward_ok": 0, "trained": 0, "nodes_seen": 0, "edges_seen": 0}


class EventMirror:
    """A view that knows the document only through its events (as the canvas does)."""

    def __init__(self, doc: GraphDocument) -> None:
        self.nodes: dict[str, dict[str, Any]] = {
            node.id: self._summary(node) for node in doc}
        self.order = list(self.nodes)
        self.edges: list[Edge] = list(doc.edges)
        self.settings = dict(doc.settings)
        self.events = 0
        doc.events.any.connect(self._on_any)

    @staticmethod
    def _summary(node: Any) -> dict[str, Any]:
        return {"label": node.label, "params": dict(node.params), "hooks": list(node.hooks),
                "retain_grad": node.retain_grad, "position": node.position}

    def _on_any(self, event: Any) -> None:
        self.events += 1
        source = event.source
        kind = source.type
        if kind == "node_added":
            assert source.node.id not in self.nodes, source
            self.nodes[source.node.id] = self._summary(source.node)
            self.order.insert(source.index, source.node.id)
        elif kind == "node_removed":
            assert self.order.index(source.node.id) == source.index, source
            assert not any(source.node.id in (e.source, e.target) for e in self.edges), \
                "a node was removed before its edges"
            del self.nodes[source.node.id]
            self.order.remove(source.node.id)
        elif kind == "node_changed":
            summary = self.nodes[source.node.id]
            if source.field == "params":
                assert summary["params"][source.name] == source.old, source
                summary["params"][source.name] = source.new
            else:
                assert summary[source.field] == source.old, source
                summary[source.field] = source.new
        elif kind == "node_moved":
            self.nodes[source.node.id]["position"] = source.new
        elif kind == "edge_added":
            assert source.edge.source in self.nodes and source.edge.target in self.nodes, \
                "an edge was added before its nodes"
            self.edges.append(source.edge)
        elif kind == "edge_removed":
            self.edges.remove(source.edge)
        elif kind == "settings_changed":
            assert self.settings[source.name] == source.old, source
            self.settings[source.name] = source.new
        else:  # pragma: no cover - a new event the views do not know about
            raise AssertionError(f"unknown event {kind}")

    def check(self, doc: GraphDocument) -> None:
        assert self.order == list(doc.nodes)
        assert self.nodes == {node.id: self._summary(node) for node in doc}
        assert sorted(self.edges, key=repr) == sorted(doc.edges, key=repr)
        assert self.settings == dict(doc.settings)


def connect_refusal(doc: GraphDocument, source: str, source_port: str, target: str,
                    target_port: str | None) -> str | None:
    """What Connect must say when refusing this edge (worked out independently), or None."""
    if source not in doc.nodes or target not in doc.nodes:
        return "no node with id or label"
    if source_port not in doc.nodes[source].output_names():
        return "has no output"
    inputs = doc.nodes[target].input_names()
    taken = {edge.target_port for edge in doc.edges if edge.target == target}
    port = target_port
    if port is None:
        free = [name for name in inputs if name not in taken]
        if not free:
            return "has no free input"
        port = free[0]
    if port not in inputs:
        return "has no input"
    if port in taken:
        return "is already connected"
    if source == target or nx.has_path(doc.graph(), target, source):
        return "would make a cycle"
    return None


def coerce_refusal(function: Any, *args: Any) -> str | None:
    try:
        function(*args)
    except (DocumentError, ParamError) as exc:
        return str(exc)
    return None


class DocumentMachine(RuleBasedStateMachine):
    """One student, one document, one session; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="visgrad-state-"))
        self.adopt(GraphDocument())

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def adopt(self, doc: GraphDocument) -> None:
        """Work on ``doc`` from now on, as the app does after opening a file."""
        self.doc = doc
        self.session = Session(doc, max_elements=MAX_ELEMENTS)
        self.mirror = EventMirror(doc)
        self.state_seen = self.session.state
        self.session.events.state_changed.connect(self._on_state_changed)
        self.undo_stack: list[tuple[Operation, str, str]] = []
        self.redo_stack: list[tuple[Operation, str, str]] = []

    def _on_state_changed(self, event: Any) -> None:
        assert event.old == self.state_seen, (event, self.state_seen)
        assert event.new in STATES and event.new != event.old
        self.state_seen = event.new

    @initialize(name=st.sampled_from((None, *examples.names())))
    def start(self, name: str | None) -> None:
        """Most runs start from a shipped example: hooks, Grad, custom Functions, Data."""
        if name is not None:
            self.adopt(examples.load(name))

    # helpers ------------------------------------------------------------------------------
    def step(self) -> None:
        COUNTS["steps"] += 1

    def ids(self) -> list[str]:
        return list(self.doc.nodes)

    def pick_node(self, data: st.DataObject, *, bogus: bool = True) -> str:
        choices = st.sampled_from(self.ids()) if self.doc.nodes else st.nothing()
        if bogus or not self.doc.nodes:
            choices = st.one_of(choices, st.sampled_from(("n999", "nope")))
        return data.draw(choices)

    def edit(self, operation: Operation, refusal: str | None) -> bool:
        """Apply ``operation``; it must be refused exactly when ``refusal`` (a fragment of
        the message) is given, and a refusal must leave the document and events untouched."""
        before, events = dumps(self.doc), self.mirror.events
        try:
            self.doc.apply(operation)
        except DocumentError as exc:
            assert refusal is not None, f"{operation!r} was refused: {exc}"
            assert refusal in str(exc), (refusal, str(exc))
            assert dumps(self.doc) == before, "a refused edit changed the document"
            if not isinstance(operation, Macro):  # a macro may undo what it began
                assert self.mirror.events == events, "a refused edit emitted events"
            COUNTS["refused"] += 1
            return False
        assert refusal is None, f"{operation!r} was accepted; expected {refusal!r}"
        self.undo_stack.append((operation, before, dumps(self.doc)))
        self.redo_stack.clear()
        COUNTS["applied"] += 1
        return True

    def run(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a session method: it must not touch the document."""
        before = dumps(self.doc)
        result = call(*args, **kwargs)
        assert dumps(self.doc) == before, f"{call.__name__} changed the document"
        assert self.session.state in STATES
        COUNTS["run"] += 1
        return result

    # edits --------------------------------------------------------------------------------
    @precondition(lambda self: len(self.doc) < MAX_NODES)
    @rule(data=st.data(), kind=st.sampled_from(S.KIND_NAMES + S.SOURCE_KINDS * 3 + ("Conv2d",)))
    def add_node(self, data: st.DataObject, kind: str) -> None:
        self.step()
        if kind not in registry.names():
            self.edit(AddNode(kind), "unknown node kind")
            return
        params = data.draw(S.small_params(registry.get(kind)), label="params")
        label = data.draw(st.one_of(st.none(), st.none(), st.sampled_from(S.LABELS),
                                    st.sampled_from(S.BAD_LABELS)), label="label")
        refusal = coerce_refusal(registry.get(kind).coerce_params, params)
        if refusal is None and label is not None:
            refusal = coerce_refusal(self.doc.check_label, label)
        self.edit(AddNode(kind, params, label=label,
                          position=(data.draw(st.floats(-500, 500)), 0.0)), refusal)

    @rule(data=st.data())
    def remove_nodes(self, data: st.DataObject) -> None:
        self.step()
        refs = data.draw(st.lists(st.just(None), min_size=1, max_size=3))
        refs = [self.pick_node(data, bogus=len(refs) == 3) for _ in refs]
        missing = [ref for ref in refs if ref not in self.doc.nodes]
        if self.edit(RemoveNodes(refs), "no node with id or label" if missing else None):
            assert not set(refs) & set(self.doc.nodes)

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data())
    def connect(self, data: st.DataObject) -> None:
        self.step()
        source = self.pick_node(data, bogus=False)
        target = self.pick_node(data, bogus=False)
        outputs = self.doc.nodes[source].output_names()
        source_port = data.draw(st.sampled_from((*outputs, *outputs, "nope")))
        inputs = self.doc.nodes[target].input_names()
        target_port = data.draw(st.one_of(st.none(), st.sampled_from((*inputs, "q"))))
        refusal = connect_refusal(self.doc, source, source_port, target, target_port)
        self.edit(Connect(source, target, target_port, source_port), refusal)

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        self.step()
        if self.doc.edges and data.draw(st.booleans()):
            edge = data.draw(st.sampled_from(self.doc.edges))
            self.edit(Disconnect(edge), None)
            return
        target = self.pick_node(data)
        port = data.draw(st.sampled_from(
            (*self.doc.nodes[target].input_names(), "q") if target in self.doc.nodes else ("x",)))
        if target not in self.doc.nodes:
            refusal = "no node with id or label"
        elif self.doc.input_edge(target, port) is None:
            refusal = "is not connected"
        else:
            refusal = None
        self.edit(Disconnect(target, port), refusal)

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data())
    def set_param(self, data: st.DataObject) -> None:
        self.step()
        node = self.doc.nodes[self.pick_node(data, bogus=False)]
        names = [param.name for param in node.kind_info.params]
        name = data.draw(st.sampled_from((*names, *names, "speed")))
        if name == "speed":
            self.edit(SetParam(node.id, name, 1.0), "has no parameter 'speed'")
            return
        param = node.kind_info.param(name)
        value = data.draw(S.param_value(param), label=f"{node.kind}.{name}")
        if node.kind == "Data" and name == "samples" and isinstance(value, int | float) \
                and not isinstance(value, bool) and value > 50:
            value = 8  # valid, but too big to train thousands of times in CI
        refusal = coerce_refusal(param.coerce, value)
        if self.edit(SetParam(node.id, name, value), refusal):
            assert node.params[name] == param.coerce(value)

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data())
    def set_label(self, data: st.DataObject) -> None:
        self.step()
        node_id = self.pick_node(data)
        existing = [node.label for node in self.doc]
        label = data.draw(st.sampled_from((*S.LABELS, *S.BAD_LABELS, *existing)))
        if node_id not in self.doc.nodes:
            refusal = "no node with id or label"
        else:
            refusal = coerce_refusal(self.doc.check_label, label, node_id)
        self.edit(SetLabel(node_id, label), refusal)

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data(), value=st.sampled_from((True, False, True, "yes", 1, None)))
    def set_retain_grad(self, data: st.DataObject, value: Any) -> None:
        self.step()
        node_id = self.pick_node(data, bogus=False)
        self.edit(SetRetainGrad(node_id, value),
                  None if isinstance(value, bool) else "retain_grad must be true or false")

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data(), spec=S.hooks(), index=st.one_of(st.none(), st.integers(-1, 3)))
    def add_hook(self, data: st.DataObject, spec: tuple[str, dict[str, Any]],
                 index: int | None) -> None:
        self.step()
        try:
            hook = S.make_hook(*spec)
        except DocumentError:
            return  # refused when made, as the inspector's form would refuse it
        node = self.doc.nodes[self.pick_node(data, bogus=False)]
        fits = index is None or 0 <= index <= len(node.hooks)
        self.edit(AddHook(node.id, hook, index), None if fits else "is out of range")

    @precondition(lambda self: any(node.hooks for node in self.doc))
    @rule(data=st.data(), index=st.integers(-1, 3))
    def remove_hook(self, data: st.DataObject, index: int) -> None:
        self.step()
        node = self.doc.nodes[data.draw(st.sampled_from(
            [node.id for node in self.doc if node.hooks]))]
        fits = 0 <= index < len(node.hooks)
        self.edit(RemoveHook(node.id, index), None if fits else "has no hook number")

    @rule(data=st.data(), name=st.sampled_from((*SETTINGS, "volume")))
    def set_setting(self, data: st.DataObject, name: str) -> None:
        self.step()
        if name == "volume":
            self.edit(SetSetting(name, 11), "unknown setting")
            return
        if name == "backward_node":
            value = data.draw(st.one_of(st.none(), st.sampled_from(("n999", 5))),
                              label="backward_node") if not self.doc.nodes or \
                data.draw(st.booleans()) else self.pick_node(data, bogus=False)
        else:
            value = data.draw(S.setting_values(name), label=name)
        refusal = coerce_refusal(coerce_setting, name, value)
        if refusal is None and name == "backward_node" and value is not None \
                and value not in self.doc.nodes:
            refusal = "no node with id"
        self.edit(SetSetting(name, value), refusal)

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data(), x=st.sampled_from((0.0, 12.5, -300.0, math.inf, math.nan)))
    def move_nodes(self, data: st.DataObject, x: float) -> None:
        self.step()
        node_id = self.pick_node(data, bogus=False)
        self.edit(MoveNodes({node_id: (x, 1.0)}),
                  None if math.isfinite(x) else "must be finite")

    @precondition(lambda self: 0 < len(self.doc) < MAX_NODES)
    @rule(data=st.data(), kind=st.sampled_from(
        ("Exp", "Mul", "Add", "Sum", "Mean", "MSELoss", "Tanh", "Pow", "MatMul", "Sigmoid")))
    def add_connected(self, data: st.DataObject, kind: str) -> None:
        """Drop a node and wire each required input from an existing output, as one edit
        (sometimes with a wrong port at the end: then the whole macro adds nothing)."""
        self.step()
        add = AddNode(kind, node_id=self.doc.new_id())
        operations: list[Operation] = [add]
        for port in registry.get(kind).input_ports({}):
            if port.optional:
                continue
            source = self.pick_node(data, bogus=False)
            source_port = data.draw(st.sampled_from(self.doc.nodes[source].output_names()))
            operations.append(Connect(source, add.node_id, port.name, source_port))
        wrong = data.draw(st.integers(0, 4)) == 0
        if wrong:
            source = self.pick_node(data, bogus=False)
            operations.append(Connect(source, add.node_id, "nope",
                                      self.doc.nodes[source].output_names()[0]))
        self.edit(Macro(f"Add {kind}", operations), "has no input 'nope'" if wrong else None)

    @precondition(lambda self: len(self.doc) > 0)
    @rule()
    def auto_layout(self) -> None:
        self.step()
        before = dumps(self.doc)
        operation = layout.auto_layout(self.doc)
        self.undo_stack.append((operation, before, dumps(self.doc)))
        self.redo_stack.clear()

    @precondition(lambda self: self.undo_stack)
    @rule()
    def undo(self) -> None:
        self.step()
        self._undo()

    @precondition(lambda self: self.redo_stack)
    @rule()
    def redo(self) -> None:
        self.step()
        self._redo()

    @precondition(lambda self: self.undo_stack)
    @rule(undos=st.integers(1, 4), redos=st.integers(0, 4))
    def undo_and_redo_several(self, undos: int, redos: int) -> None:
        """Ctrl+Z a few times, then Ctrl+Shift+Z a few times."""
        self.step()
        for _ in range(min(undos, len(self.undo_stack))):
            self._undo()
        for _ in range(min(redos, len(self.redo_stack))):
            self._redo()

    def _undo(self) -> None:
        operation, before, after = self.undo_stack.pop()
        assert dumps(self.doc) == after
        operation.revert(self.doc)
        assert dumps(self.doc) == before, f"undo of {operation!r} did not restore the document"
        self.redo_stack.append((operation, before, after))
        COUNTS["undone"] += 1

    def _redo(self) -> None:
        operation, before, after = self.redo_stack.pop()
        assert dumps(self.doc) == before
        operation.apply(self.doc)  # must not be refused: the document is as it was
        assert dumps(self.doc) == after, f"redo of {operation!r} gave another document"
        self.undo_stack.append((operation, before, after))
        COUNTS["redone"] += 1

    # files --------------------------------------------------------------------------------
    @rule(via_file=st.booleans(), reopen=st.booleans())
    def save_and_open(self, via_file: bool, reopen: bool) -> None:
        self.step()
        text = dumps(self.doc)
        if via_file:
            path = self.folder / "graph.vgraph"
            save(self.doc, path)
            assert path.read_text(encoding="utf-8") == text
            again = load(path)
        else:
            again = loads(text)
        assert dumps(again) == text
        assert again == self.doc
        if reopen:
            self.adopt(again)

    @rule(name=st.sampled_from(examples.names()))
    def open_example(self, name: str) -> None:
        self.step()
        self.adopt(examples.load(name))

    # the session --------------------------------------------------------------------------
    @rule()
    def step_forward(self) -> None:
        self.step()
        result = self.run(self.session.step_forward)
        assert result is None or isinstance(result, ForwardStep | StepError), result

    @rule()
    def run_forward(self) -> None:
        self.step()
        error = self.run(self.session.run_forward)
        assert error is None or isinstance(error, StepError), error
        if error is None:
            COUNTS["forward_ok"] += 1
            assert self.session.state == "forward_done"
            for node in self.doc:
                for port in node.output_names():
                    assert self.session.tensor(node.id, port) is not None, (node, port)

    @rule()
    def step_backward(self) -> None:
        self.step()
        result = self.run(self.session.step_backward)
        assert result is None or isinstance(result, BackwardStepEvent | StepError), result

    @rule()
    def run_backward(self) -> None:
        self.step()
        error = self.run(self.session.run_backward)
        assert error is None or isinstance(error, StepError), error
        if error is None:
            COUNTS["backward_ok"] += 1
            assert self.session.state == "backward_done"

    @rule()
    def reset(self) -> None:
        self.step()
        self.run(self.session.reset)
        assert self.session.state == "edited"

    @rule()
    def zero_grad(self) -> None:
        self.step()
        self.run(self.session.zero_grad)
        for node, leaf in self.session.trainable():
            assert leaf.grad is None, node

    @precondition(lambda self: len(self.doc) > 0)
    @rule(data=st.data())
    def inspect(self, data: st.DataObject) -> None:
        self.step()
        node = self.doc.nodes[self.pick_node(data, bogus=False)]
        for port in node.output_names():
            info = self.run(self.session.inspect, node.id, port)
            assert info is None or info.shape == tuple(info.value.shape)

    @precondition(lambda self: len(self.doc) > 0)
    @rule(steps=st.integers(0, 3),
          optimizer=st.sampled_from((None, *OPTIMIZERS, "Optimizer", "lr_scheduler", "Nope")),
          lr=st.sampled_from((None, 0.01, 0.5, -1.0)))
    def train(self, steps: int, optimizer: str | None, lr: float | None) -> None:
        self.step()
        # When validation finds nothing wrong (warnings included: torch's warnings are errors
        # in these tests), there is a loss and something to train, and the arguments are
        # sound, training must run (it may still stop, with a message).
        report = validation.validate(self.doc)
        trainable = any(
            node.kind_info.is_source and (meta := report.meta(node.id)) is not None
            and meta.requires_grad for node in self.doc)
        has_loss = validation.backward_node(self.doc) is not None
        sound = optimizer in (None, *OPTIMIZERS) and (lr is None or lr >= 0)
        should_train = report.ok and not report.warnings and trainable and has_loss and sound
        try:
            result = self.run(self.session.train, optimizer, lr, steps)
        except SessionError as exc:
            assert str(exc)
            assert not should_train, f"training refused: {exc}"
            return
        assert optimizer in (None, *OPTIMIZERS) and (lr is None or lr >= 0)
        assert isinstance(result, TrainResult) and result.message
        assert 0 <= result.iterations <= steps
        assert len(result.history.loss) <= steps
        COUNTS["trained"] += 1

    # after every step ---------------------------------------------------------------------
    @invariant()
    def everything_holds(self) -> None:
        S.check_consistent(self.doc)
        S.check_indexes(self.doc)
        COUNTS["nodes_seen"] += len(self.doc)
        COUNTS["edges_seen"] += len(self.doc.edges)
        self.mirror.check(self.doc)
        assert self.session.state == self.state_seen, "state changed without an event"
        text = dumps(self.doc)
        again = loads(text)
        assert dumps(again) == text and again == self.doc
        report = validation.validate(self.doc)
        assert {message.node_id for message in report.messages} <= set(self.doc.nodes)


def test_random_use_never_crashes_or_loses_the_graph() -> None:
    before = dict(COUNTS)
    run_state_machine_as_test(DocumentMachine, settings=SETTINGS_FOR_CI)
    steps = COUNTS["steps"] - before["steps"]
    print(f"state machine: {steps} steps; " + ", ".join(
        f"{name} {COUNTS[name] - before[name]}" for name in COUNTS if name != "steps"))
    if EXAMPLES >= DEFAULT_EXAMPLES and STEPS >= DEFAULT_STEPS:
        assert steps >= 2000, f"only {steps} state-machine steps ran"
    # every kind of edit was both accepted and refused along the way
    assert COUNTS["applied"] > before["applied"] and COUNTS["refused"] > before["refused"]
    assert COUNTS["undone"] > before["undone"] and COUNTS["redone"] > before["redone"]


@pytest.mark.parametrize("name", examples.names())
def test_removing_the_backward_node_keeps_the_file_loadable(name: str) -> None:
    doc = examples.load(name)
    target = validation.backward_node(doc)
    doc.set_setting("backward_node", target.id)
    before = dumps(doc)
    operation = doc.apply(RemoveNodes([target.id]))
    assert doc.settings["backward_node"] is None
    assert loads(dumps(doc)) == doc
    operation.revert(doc)
    assert dumps(doc) == before
    dangling = dumps(doc).replace(f'"backward_node": "{target.id}"', '"backward_node": "n999"')
    with pytest.raises(GraphFileError, match="backward_node 'n999' is not a node of the file"):
        loads(dangling)  # a file naming a missing node is still refused: not the app's doing


def test_training_zero_steps_and_a_bad_optimizer_are_handled() -> None:
    session = Session(examples.load("gradient_descent"))
    result = session.train(steps=0)
    assert result.iterations == 0 and result.message == "trained 0 iterations"
    for optimizer in ("Optimizer", "lr_scheduler", "Nope"):
        with pytest.raises(SessionError, match="unknown optimizer"):
            session.train(optimizer, steps=1)
    with pytest.raises(SessionError, match="SGD"):
        session.train("SGD", lr=-1.0, steps=1)


def test_training_tells_views_the_state_it_leaves() -> None:
    session = Session(examples.load("gradient_descent"))
    seen = []
    session.events.state_changed.connect(lambda event: seen.append((event.old, event.new)))
    session.train(steps=2)
    assert seen == [("edited", "forward_done")]
    assert session.state == "forward_done"
