"""code → graph → canvas → script → torch: random programs give the same numbers all the way."""

import pathlib
import tempfile

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.document.test_code_export import assert_same_numbers, run_script
from visgrad.document import Session, dumps, examples, loads
from visgrad.document.code_export import FLAVORS, to_script, variable_names
from visgrad.document.code_import import from_code

VALUES = st.sampled_from(["0.5", "-1.25", "1.5", "-0.75", "1.0", "2.0"])
LEAF = st.one_of(VALUES, st.lists(VALUES, min_size=3, max_size=3).map(
    lambda values: "[" + ", ".join(values) + "]"))

UNARY = ["-({})", "torch.tanh({})", "torch.sigmoid({})", "torch.sin({})", "({}).cos()",
         "torch.relu({})", "({}).abs()", "torch.exp(torch.tanh({}))", "({}) ** 2",
         "({}).mean()", "({}).sum()", "3 * ({})", "({}) - 2", "2 - ({})", "({}) / 4",
         "1 / (({}) ** 2 + 1)", "F.softmax(({}).reshape(-1), dim=0)", "({}).clamp(-1, 1)"]
BINARY = ["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) / (({}) ** 2 + 1)",
          "torch.maximum({}, {})"]


def expressions(names):
    def extend(inner):
        return st.one_of(
            st.tuples(st.sampled_from(UNARY), inner).map(lambda t: t[0].format(t[1])),
            st.tuples(st.sampled_from(BINARY), inner, inner).map(
                lambda t: t[0].format(t[1], t[2])),
        )

    return st.recursive(st.sampled_from(names), extend, max_leaves=6)


@st.composite
def programs(draw):
    count = draw(st.integers(1, 3))
    names = ["x", "y", "z"][:count]
    lines = ["import torch", "import torch.nn.functional as F"]
    for name in names:
        lines.append(f"{name} = torch.tensor({draw(LEAF)}, requires_grad=True)")
    first = draw(expressions(names))
    if draw(st.booleans()):
        lines.append(f"h = {first}")
        names = [*names, "h"]
        first = draw(expressions(names))
    lines.append(f"loss = ({first}).sum()")
    lines.append("loss.backward()")
    return "\n".join(lines)


def compare_with_torch(document, session, namespace):
    for node in document:
        if node.kind != "Parameter":
            continue
        expected = namespace[node.label].grad
        actual = session.inspect(node.id).grad
        if expected is None:
            assert actual is None or not np.any(actual), node.label
        else:
            np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=node.label)
    np.testing.assert_allclose(session.inspect("loss").value,
                               namespace["loss"].detach().numpy(), rtol=1e-4, atol=1e-5)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_round_trip_through_the_canvas_and_back(program):
    document = from_code(program)
    loss = document.node("loss")
    assume(any(document.reaches(node.id, loss.id) for node in document
               if node.kind == "Parameter"))
    session = Session(document)
    error = session.run_backward()
    assert error is None, (program, error)
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        original, _ = run_script(program, folder, "original.py")
        compare_with_torch(document, session, original)
        for flavor in FLAVORS:
            namespace, _ = run_script(to_script(document, flavor), folder)
            assert_same_numbers(document, session, namespace, rtol=1e-4, atol=1e-5)


def test_example_documents_survive_script_and_file_round_trips(tmp_path):
    """Every example: canvas → torch script → numbers; and the document is unchanged."""
    for name in examples.names():
        document = examples.load(name)
        before = dumps(document)
        session = Session(document)
        assert session.run_backward() is None
        namespace, _ = run_script(to_script(document, "torch", training=False), tmp_path)
        assert assert_same_numbers(document, session, namespace) >= 1
        assert dumps(document) == before
        assert loads(before) == document
        assert set(variable_names(document).values()) <= set(namespace)


def test_imported_documents_save_and_load():
    document = from_code("x = torch.tensor([1., 2.], requires_grad=True)\n"
                         "y = (x * 3).exp().sum()\n"
                         "y.backward()\n")
    assert loads(dumps(document)) == document


def test_exported_scripts_import_back_to_the_same_graph():
    """Script → from_code gives the same kinds, edges, flags and numbers (the examples written
    without classes or numpy, which from_code does not read)."""
    for name in sorted(set(examples.names()) - {"custom_functions", "linear_regression"}):
        document = examples.load(name)
        again = from_code(to_script(document, "torch", training=False))
        names = variable_names(document)
        order = document.topological_order()  # the script writes the sources first
        order = [n for n in order if n.kind_info.is_source] + \
            [n for n in order if not n.kind_info.is_source]
        assert [(names[(n.id, "out")], kind(n), n.retain_grad, n.hooks) for n in order] == \
            [(n.label, kind(n), n.retain_grad, n.hooks) for n in again.topological_order()]
        assert len(again.edges) == len(document.edges)
        first, second = Session(document), Session(again)
        assert first.run_backward() is None and second.run_backward() is None
        for node in document:
            if node.kind == "Parameter":
                np.testing.assert_array_equal(second.inspect(names[(node.id, "out")]).grad,
                                              first.inspect(node.id).grad, err_msg=name)


def kind(node):
    """A leaf that requires grad is written torch.tensor(..., requires_grad=True) either way."""
    if node.kind == "Tensor" and node.params["requires_grad"]:
        return "Parameter"
    return node.kind
