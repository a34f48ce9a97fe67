"""Every reversible operation: apply, revert, redo, and refusals that leave the document as
it was."""

import pytest

from visgrad.document import GraphDocument, Hook, dumps
from visgrad.document.events import EventGroup
from visgrad.document.model import DocumentError, Edge
from visgrad.document.operations import (
    AddHook,
    AddNode,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    RemoveHook,
    RemoveNodes,
    SetLabel,
    SetParam,
    SetRetainGrad,
    SetSetting,
)


def small_graph():
    doc = GraphDocument()
    a = doc.add_node("Tensor", label="a", value="[1.0, 2.0]")
    b = doc.add_node("Parameter", label="b", value="3.0")
    mul = doc.add_node("Mul", label="mul")
    total = doc.add_node("Sum", label="total")
    doc.connect(a, mul, "a")
    doc.connect(b, mul, "b")
    doc.connect(mul, total, "x")
    return doc


def record_events(doc):
    seen = []
    doc.events.any.connect(lambda event: seen.append(event.source.type))
    return seen


def assert_round_trip(doc, operation):
    """apply changes the document, revert restores it exactly, apply again redoes it."""
    before = dumps(doc)
    doc.apply(operation)
    after = dumps(doc)
    assert after != before
    operation.revert(doc)
    assert dumps(doc) == before
    operation.apply(doc)
    assert dumps(doc) == after


def assert_refused(doc, operation, message, *, silent=True):
    before = dumps(doc)
    seen = record_events(doc)
    with pytest.raises(DocumentError) as info:
        doc.apply(operation)
    assert message in str(info.value)
    assert dumps(doc) == before
    if silent:  # checked before changing anything: not even an event
        assert seen == []


def test_signal_connect_emit_disconnect_and_block():
    group = EventGroup("changed")
    seen = []
    group.changed.connect(lambda event: seen.append(event.value))
    group.any.connect(lambda event: seen.append(("any", event.source.type)))
    group.changed.emit(value=1)
    with group.changed.blocked():
        group.changed.emit(value=2)
    assert seen == [1, ("any", "changed"), ("any", "changed")]
    assert group["changed"] is group.changed


def test_add_node_round_trip_and_events():
    doc = small_graph()
    seen = record_events(doc)
    operation = AddNode("Exp", label="e", position=(10, 20))
    assert_round_trip(doc, operation)
    assert operation.node_id == "n5"
    assert doc.node("e").position == (10.0, 20.0)
    assert seen == ["node_added", "node_removed", "node_added"]


def test_add_node_fills_defaults_and_default_labels():
    doc = GraphDocument()
    first = doc.add_node("Mul")
    second = doc.add_node("Mul")
    assert (first.label, second.label) == ("mul1", "mul2")
    assert first.params == {"scalar": None, "no_grad": False}


@pytest.mark.parametrize(("operation", "message"), [
    (AddNode("Nope"), "unknown node kind 'Nope'"),
    (AddNode("Sum", {"dim": "x"}), "Sum: parameter 'dim': expected a whole number, got 'x'"),
    (AddNode("Sum", {"axis": 0}), "Sum has no parameter 'axis'"),
    (AddNode("Tensor", {"value": "__import__('os')"}), "names starting with '_'"),
    (AddNode("Mul", label="a"), "label 'a' is already used by node n1"),
    (AddNode("Mul", label="n7"), "looks like a node id"),
    (AddNode("Mul", label="  "), "a label must be non-empty text"),
    (AddNode("Mul", node_id="n1"), "a node with id 'n1' already exists"),
])
def test_add_node_refusals(operation, message):
    assert_refused(small_graph(), operation, message)


def test_remove_nodes_takes_edges_and_restores_order():
    doc = small_graph()
    seen = record_events(doc)
    operation = RemoveNodes(["mul"])
    assert_round_trip(doc, operation)
    assert "mul" not in doc
    assert doc.edges == ()
    assert seen[:4] == ["edge_removed", "edge_removed", "edge_removed", "node_removed"]


def test_remove_several_nodes_restores_exactly():
    doc = small_graph()
    assert_round_trip(doc, RemoveNodes(["a", "total"]))
    assert [node.label for node in doc] == ["b", "mul"]


def test_remove_unknown_node_is_refused():
    assert_refused(small_graph(), RemoveNodes(["zzz"]), "no node with id or label 'zzz'")


def test_move_nodes_round_trip():
    doc = small_graph()
    seen = record_events(doc)
    assert_round_trip(doc, MoveNodes({"n1": (5, 6), "n2": (7, 8)}))
    assert doc.node("a").position == (5.0, 6.0)
    assert seen.count("node_moved") == 6


def test_move_refusals():
    assert_refused(small_graph(), MoveNodes({"n1": (float("nan"), 0)}), "must be finite")
    assert_refused(small_graph(), MoveNodes({"n9": (0, 0)}), "no node with id or label 'n9'")


def test_connect_round_trip_and_first_free_port():
    doc = small_graph()
    extra = doc.add_node("Add", label="add")
    operation = Connect("n1", extra.id)
    assert_round_trip(doc, operation)
    assert operation.edge == Edge("n1", "out", extra.id, "a")
    assert doc.input_edge("add", "a") is not None


@pytest.mark.parametrize(("args", "message"), [
    (("n4", "n3", "a"), "input 'a' of mul is already connected to a.out; disconnect it first"),
    (("n4", "n1"), "a (Tensor) has no free input"),
    (("n1", "n3", "zzz"), "mul (Mul) has no input 'zzz'; its inputs: a, b"),
    (("n1", "n3", "a", "y"), "a (Tensor) has no output 'y'; its outputs: out"),
    (("n9", "n3", "a"), "no node with id or label 'n9'"),
])
def test_connect_refusals(args, message):
    assert_refused(small_graph(), Connect(*args), message)


def test_connect_refuses_cycles():
    doc = small_graph()
    doc.apply(Disconnect("n3", "a"))
    assert_refused(doc, Connect("n3", "n3", "a"), "connecting mul to mul would make a cycle")
    assert_refused(doc, Connect("n4", "n3", "a"),
                   "connecting total to mul would make a cycle: mul already feeds total")


def test_disconnect_round_trip_by_edge_and_by_port():
    doc = small_graph()
    assert_round_trip(doc, Disconnect(doc.edges[0]))
    doc = small_graph()
    operation = Disconnect("mul", "b")
    assert_round_trip(doc, operation)
    assert operation.edge == Edge("n2", "out", "n3", "b")


def test_disconnect_refusals():
    doc = small_graph()
    assert_refused(doc, Disconnect("total", "x2"), "input 'x2' of total is not connected")
    assert_refused(doc, Disconnect(Edge("n1", "out", "n4", "x")), "there is no edge")


def test_set_param_round_trip_coerces():
    doc = small_graph()
    operation = SetParam("total", "dim", "0, 1")
    assert_round_trip(doc, operation)
    assert doc.node("total").params["dim"] == [0, 1]
    assert operation.old is None


def test_set_param_that_removes_ports_takes_their_edges_and_gives_them_back():
    doc = GraphDocument()
    x = doc.add_node("Tensor", label="x")
    cat = doc.add_node("Cat", label="cat", count=3)
    for port in ("t0", "t1", "t2"):
        doc.connect(x, cat, port)
    operation = SetParam("cat", "count", 2)
    assert_round_trip(doc, operation)
    assert [edge.target_port for edge in doc.edges] == ["t0", "t1"]
    assert operation.dropped[0][1].target_port == "t2"


@pytest.mark.parametrize(("args", "message"), [
    (("mul", "scalar", "two"), "mul (Mul): parameter 'scalar': expected a number, got 'two'"),
    (("mul", "scalar", float("inf")), "expected a finite number"),
    (("mul", "bogus", 1), "Mul has no parameter 'bogus'"),
    (("a", "dtype", "float16"), "expected one of 'auto', 'float32'"),
    (("a", "value", "[[1], [2, 3]]"), "ragged"),
    (("total", "keepdim", "yes"), "expected true or false"),
])
def test_set_param_refusals(args, message):
    assert_refused(small_graph(), SetParam(*args), message)


def test_set_label_round_trip_and_refusals():
    doc = small_graph()
    assert_round_trip(doc, SetLabel("mul", "l1"))
    assert doc.node("l1").kind == "Mul"
    assert_refused(doc, SetLabel("l1", "a"), "label 'a' is already used by node n1")
    assert_refused(doc, SetLabel("l1", ""), "non-empty")


def test_set_retain_grad_round_trip_and_refusal():
    doc = small_graph()
    assert_round_trip(doc, SetRetainGrad("mul", True))
    assert doc.node("mul").retain_grad
    assert_refused(doc, SetRetainGrad("mul", "yes"), "must be true or false")


def test_hooks_round_trip():
    doc = small_graph()
    assert_round_trip(doc, AddHook("mul", Hook("scale", k=0.5)))
    doc.apply(AddHook("mul", Hook("print"), index=0))
    assert [hook.describe() for hook in doc.node("mul").hooks] == ["print", "scale by 0.5"]
    assert_round_trip(doc, RemoveHook("mul", 0))
    assert [hook.kind for hook in doc.node("mul").hooks] == ["scale"]


def test_hook_refusals():
    doc = small_graph()
    assert_refused(doc, RemoveHook("mul", 0), "mul has no hook number 0 (it has 0)")
    assert_refused(doc, AddHook("mul", Hook("print"), index=3), "out of range")
    with pytest.raises(DocumentError, match="min \\(2.0\\) is above max \\(1.0\\)"):
        Hook("clamp", min=2, max=1)
    with pytest.raises(DocumentError, match="unknown hook kind"):
        Hook("explode")
    with pytest.raises(DocumentError, match="attributes starting with '_' are not allowed"):
        Hook("replace", expression="grad.__class__")
    with pytest.raises(DocumentError, match="unknown name 'x'"):
        Hook("replace", expression="x * 2")
    with pytest.raises(DocumentError, match="takes no 'k'"):
        Hook("zero", k=1.0)


def test_set_setting_round_trip_and_refusals():
    doc = small_graph()
    assert_round_trip(doc, SetSetting("retain_graph", True))
    assert_round_trip(doc, SetSetting("backward_node", "n4"))
    assert_refused(doc, SetSetting("backward_node", "n99"), "no node with id 'n99'")
    assert_refused(doc, SetSetting("optimizer", "LBFGS"), "expected one of 'SGD'")
    assert_refused(doc, SetSetting("speed", 3), "unknown setting 'speed'")


def test_macro_is_all_or_nothing():
    doc = small_graph()
    ok = Macro("add and connect", [AddNode("Exp", label="e", node_id="n10"),
                                   Connect("n4", "n10", "x")])
    assert_round_trip(doc, ok)
    failing = Macro("bad", [AddNode("Exp", label="f"), Connect("n4", "n3", "a")])
    assert_refused(doc, failing, "already connected", silent=False)
