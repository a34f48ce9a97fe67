"""Validation messages: what would fail, found before running, in torch's words."""

import pytest

from visgrad.document import GraphDocument, Hook, validation
from visgrad.document.model import Edge
from visgrad.document.shapes import TensorMeta


def graph(kind, sources, **params):
    """One op node fed by Tensor nodes: sources is {port: (value, {params})}."""
    doc = GraphDocument()
    op = doc.add_node(kind, label="op", **params)
    for port, (value, extra) in sources.items():
        source = doc.add_node("Tensor", label=f"in_{port}", value=value, **extra)
        doc.connect(source, op, port)
    return doc, op


def messages(doc, node):
    return [(m.severity, m.text) for m in validation.validate(doc).for_node(node.id)]


def only_error(doc, node):
    found = messages(doc, node)
    assert len(found) == 1, found
    assert found[0][0] == "error"
    return found[0][1]


def test_valid_graph_has_no_messages_and_exposes_metas():
    doc, op = graph("Mul", {"a": ("ones(2, 3)", {"requires_grad": True}), "b": ("[1, 2, 3]", {})})
    doc.set_setting("gradient", "ones(2, 3)")
    report = validation.validate(doc)
    assert report.messages == []
    assert report.ok
    assert report.meta(op.id) == TensorMeta((2, 3), "float32", True)


def test_unconnected_input():
    doc, op = graph("Mul", {"a": ("ones(2)", {})})
    assert only_error(doc, op) == "input 'b' is not connected (connect it, or set 'scalar')"
    doc, op = graph("MatMul", {"a": ("ones(2)", {})})
    assert only_error(doc, op) == "input 'b' is not connected"


def test_scalar_operand_makes_b_optional():
    doc, op = graph("Mul", {"a": ("3.0", {"requires_grad": True})}, scalar=3)
    assert messages(doc, op) == []


def test_cycle_is_reported_on_each_node():
    doc = GraphDocument()
    a = doc.add_node("Exp", label="a")
    b = doc.add_node("Exp", label="b")
    doc.connect(a, b, "x")
    doc._insert_edge(Edge(b.id, "out", a.id, "x"))  # operations refuse this; a file could not
    report = validation.validate(doc)
    assert {m.node_id for m in report.errors} == {a.id, b.id}
    assert "part of a cycle: " in report.errors[0].text


@pytest.mark.parametrize(("kind", "sources", "params", "message"), [
    ("Add", {"a": ("ones(3)", {}), "b": ("ones(4)", {})}, {},
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 0"),
    ("MatMul", {"a": ("ones(2, 3)", {}), "b": ("ones(4, 5)", {})}, {},
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
    ("MatMul", {"a": ("ones(3)", {}), "b": ("ones(4)", {})}, {},
     "inconsistent tensor size, expected tensor [3] and src [4] to have the same number of "
     "elements, but got 3 and 4 elements respectively"),
    ("MatMul", {"a": ("ones(2, 3)", {}), "b": ("ones(4)", {})}, {},
     "size mismatch, got input (2), mat (2x3), vec (4)"),
    ("MatMul", {"a": ("3.0", {}), "b": ("ones(4)", {})}, {},
     "both arguments to matmul need to be at least 1D, but they are 0D and 1D"),
    ("MatMul", {"a": ("ones(2, 2)", {}), "b": ("[[1, 2], [3, 4]]", {})}, {},
     "expected m1 and m2 to have the same dtype, but got: float != long"),
    ("Sum", {"x": ("ones(2, 3)", {})}, {"dim": 2},
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ("Mean", {"x": ("ones(2, 3)", {})}, {"dim": [0, 0]},
     "dim 0 appears multiple times in the list of dims"),
    ("Mean", {"x": ("[1, 2, 3]", {})}, {},
     "mean(): could not infer output dtype. Input dtype must be either a floating point or "
     "complex dtype. Got: Long"),
    ("Reshape", {"x": ("ones(2, 3)", {})}, {"shape": [4, 2]},
     "shape '[4, 2]' is invalid for input of size 6"),
    ("Permute", {"x": ("ones(2, 3)", {})}, {"dims": [0, 1, 2]},
     "input.dim() = 2 is not equal to len(dims) = 3"),
    ("Cat", {"t0": ("ones(2, 3)", {}), "t1": ("ones(2, 4)", {})}, {"dim": 0},
     "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for "
     "tensor number 1 in the list."),
    ("Stack", {"t0": ("ones(2)", {}), "t1": ("ones(3)", {})}, {},
     "stack expects each tensor to be equal size, but got [2] at entry 0 and [3] at entry 1"),
    ("Where", {"condition": ("[1, 0]", {}), "a": ("ones(2)", {}), "b": ("ones(2)", {})}, {},
     "where expected condition to be a boolean tensor, but got a tensor with dtype Long"),
    ("Neg", {"x": ("[true, false]", {})}, {}, "Negation, the `-` operator, on a bool tensor"),
    ("Pow", {"x": ("[1, 2]", {})}, {"exponent": -1},
     "Integers to negative integer powers are not allowed."),
    ("Linear", {"input": ("ones(4, 3)", {}), "weight": ("ones(2, 5)", {})}, {},
     "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)"),
    ("BCELoss", {"input": ("ones(3)", {}), "target": ("ones(4)", {})}, {},
     "Using a target size ([4]) that is different to the input size ([3]) is deprecated"),
    ("BCEWithLogitsLoss", {"input": ("ones(3)", {}), "target": ("ones(2, 3)", {})}, {},
     "Target size ([2, 3]) must be the same as input size ([3])"),
    ("CrossEntropyLoss", {"input": ("ones(4, 3)", {}), "target": ("[0, 1, 2]", {})}, {},
     "Expected input batch_size (4) to match target batch_size (3)."),
    ("CrossEntropyLoss", {"input": ("ones(4, 3)", {}), "target": ("[true, false]", {})}, {},
     "cross_entropy: target must be class indices (int64), got bool"),
    ("Softmax", {"x": ("ones(4, 3)", {})}, {"dim": 2},
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ("Clamp", {"x": ("ones(2)", {})}, {"min": None, "max": None},
     "At least one of 'min' or 'max' must not be None"),
])
def test_shape_and_dtype_errors_before_running(kind, sources, params, message):
    doc, op = graph(kind, sources, **params)
    assert message in only_error(doc, op)


def test_integer_tensor_asked_to_require_grad():
    doc = GraphDocument()
    node = doc.add_node("Tensor", label="t", value="[1, 2, 3]", requires_grad=True)
    assert only_error(doc, node).startswith(
        "Only Tensors of floating point and complex dtype can require gradients")
    doc.set_param(node, "dtype", "float32")
    assert messages(doc, node) == []


def test_bad_value_text_is_an_error_of_its_node():
    doc = GraphDocument()
    node = doc.add_node("Tensor", label="t", value="ones(2)")
    doc.nodes[node.id].params["value"] = "ones(2, 'a')"  # as if typed past the parameter check
    assert "text strings are not allowed" in only_error(doc, node)


def test_mse_with_different_sizes_is_a_warning():
    doc, op = graph("MSELoss", {"input": ("ones(3, 1)", {"requires_grad": True}),
                                "target": ("ones(3)", {})})
    (severity, text), = messages(doc, op)
    assert severity == "warning"
    assert text.startswith("Using a target size ([3]) that is different to the input size "
                           "([3, 1]). This will likely lead to incorrect results")


def test_downstream_of_an_error_is_quiet():
    doc, op = graph("Add", {"a": ("ones(3)", {}), "b": ("ones(4)", {})})
    after = doc.add_node("Exp", label="after")
    doc.connect(op, after, "x")
    assert messages(doc, after) == []


def test_backward_needs_a_scalar_or_a_gradient():
    doc, op = graph("Exp", {"x": ("ones(2, 2)", {"requires_grad": True})})
    assert only_error(doc, op).startswith("backward: grad can be implicitly created only for "
                                          "scalar outputs (this output has shape [2, 2]")
    doc.set_setting("gradient", "ones(2, 2)")
    assert messages(doc, op) == []
    doc.set_setting("gradient", "[1.0, 2.0]")
    assert only_error(doc, op) == ("backward: Mismatch in shape: grad_output[0] has a shape "
                                   "of [2] and output[0] has a shape of [2, 2].")


def test_backward_on_something_that_does_not_require_grad():
    doc, op = graph("Sum", {"x": ("ones(2, 2)", {})})
    assert only_error(doc, op).startswith("backward: element 0 of tensors does not require grad")


def test_no_grad_flag_cuts_requires_grad():
    doc, op = graph("Sum", {"x": ("ones(2, 2)", {"requires_grad": True})}, no_grad=True)
    report = validation.validate(doc)
    assert report.meta(op.id).requires_grad is False
    assert "does not require grad" in only_error(doc, op)


def test_hook_and_retain_grad_on_a_tensor_without_grad_are_warnings():
    doc, op = graph("Exp", {"x": ("ones(2)", {})})
    doc.nodes[op.id].hooks.append(Hook("print"))
    doc.nodes[op.id].retain_grad = True
    doc.set_setting("backward_node", doc.add_node("Tensor", label="other").id)
    texts = [text for severity, text in messages(doc, op) if severity == "warning"]
    assert texts == ["hooks need a tensor that requires grad: cannot register a hook on a "
                     "tensor that doesn't require gradient",
                     "can't retain_grad on Tensor that has requires_grad=False"]


def test_custom_function_checks():
    doc, op = graph("Function", {"a": ("ones(3)", {"requires_grad": True}),
                                 "b": ("ones(3)", {})},
                    inputs=["a", "b"], forward="((a + b) ** 2).sum()",
                    backward="grad_output * 2")
    (severity, text), = messages(doc, op)
    assert severity == "warning"
    assert text == ("backward returns 1 gradient(s) but the function has 2 input(s); the "
                    "engine will refuse it, as torch does")
    doc.set_param(op, "forward", "a * c")
    assert "unknown name 'c'; available: a, b" in only_error(doc, op)
    doc.set_param(op, "forward", "a @ ones(4)")
    assert "inconsistent tensor size" in only_error(doc, op)


def test_backward_node_defaults_to_loss_then_last_sink():
    doc = GraphDocument()
    x = doc.add_node("Tensor", label="x")
    e = doc.add_node("Exp", label="e")
    doc.connect(x, e, "x")
    assert validation.backward_node(doc) is doc.node("e")
    loss = doc.add_node("Sum", label="loss")
    assert validation.backward_node(doc) is loss
    doc.set_setting("backward_node", e.id)
    assert validation.backward_node(doc) is doc.node("e")
