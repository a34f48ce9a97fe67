"""Every palette kind: complete metadata, and forward/backward numbers equal to torch 2.13."""

import numpy as np
import pytest
import torch

from visgrad.document import GraphDocument, Session, registry
from visgrad.document.expressions import format_literal

RNG = np.random.default_rng(7)


def floats(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, shape).astype(np.float32)


A, B = floats(2, 3), floats(2, 3)
POSITIVE = floats(2, 3, low=0.5, high=2.0)
M1, M2 = floats(2, 3), floats(3, 4)
PROBS = floats(4, 3, low=0.1, high=0.9)
TARGETS01 = (RNG.uniform(0, 1, (4, 3)) > 0.5).astype(np.float32)
CLASSES = np.array([0, 2, 1, 2])
CONDITION = np.array([[True, False, True], [False, True, True]])

# kind, params, inputs {port: array}, torch function of the inputs in port order
CASES = [
    ("Add", {}, {"a": A, "b": B}, lambda a, b: a + b),
    ("Add", {"scalar": 2.5}, {"a": A}, lambda a: a + 2.5),
    ("Sub", {}, {"a": A, "b": floats(3)}, lambda a, b: a - b),
    ("Mul", {}, {"a": A, "b": B}, lambda a, b: a * b),
    ("Mul", {"scalar": -3.0}, {"a": A}, lambda a: a * -3.0),
    ("Div", {}, {"a": A, "b": POSITIVE}, lambda a, b: a / b),
    ("Neg", {}, {"x": A}, torch.neg),
    ("Pow", {"exponent": 3}, {"x": A}, lambda x: x**3),
    ("Pow", {"exponent": 0.5}, {"x": POSITIVE}, lambda x: x**0.5),
    ("Pow", {}, {"x": POSITIVE, "exponent": B}, torch.pow),
    ("Exp", {}, {"x": A}, torch.exp),
    ("Log", {}, {"x": POSITIVE}, torch.log),
    ("Sqrt", {}, {"x": POSITIVE}, torch.sqrt),
    ("Sin", {}, {"x": A}, torch.sin),
    ("Cos", {}, {"x": A}, torch.cos),
    ("Tanh", {}, {"x": A}, torch.tanh),
    ("Sigmoid", {}, {"x": A}, torch.sigmoid),
    ("ReLU", {}, {"x": A}, torch.relu),
    ("Abs", {}, {"x": A}, torch.abs),
    ("LeakyReLU", {}, {"x": A}, torch.nn.functional.leaky_relu),
    ("LeakyReLU", {"negative_slope": 0.3}, {"x": A},
     lambda x: torch.nn.functional.leaky_relu(x, 0.3)),
    ("ELU", {"alpha": 1.5}, {"x": A}, lambda x: torch.nn.functional.elu(x, 1.5)),
    ("GELU", {}, {"x": A}, torch.nn.functional.gelu),
    ("GELU", {"approximate": "tanh"}, {"x": A},
     lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
    ("SiLU", {}, {"x": A}, torch.nn.functional.silu),
    ("Softplus", {"beta": 2.0, "threshold": 1.0}, {"x": A},
     lambda x: torch.nn.functional.softplus(x, 2.0, 1.0)),
    ("Clamp", {"min": -0.5, "max": 0.5}, {"x": A}, lambda x: torch.clamp(x, -0.5, 0.5)),
    ("Maximum", {}, {"a": A, "b": B}, torch.maximum),
    ("Minimum", {}, {"a": A, "b": B}, torch.minimum),
    ("Where", {}, {"condition": CONDITION, "a": A, "b": B}, torch.where),
    ("Sum", {}, {"x": A}, torch.sum),
    ("Sum", {"dim": 1, "keepdim": True}, {"x": A}, lambda x: x.sum(1, keepdim=True)),
    ("Mean", {"dim": [0, 1]}, {"x": A}, lambda x: x.mean((0, 1))),
    ("Mean", {"dim": 0}, {"x": A}, lambda x: x.mean(0)),
    ("Max", {}, {"x": A}, torch.max),
    ("Max", {"dim": 0}, {"x": A}, lambda x: x.max(0).values),
    ("Min", {"dim": 1, "keepdim": True}, {"x": A}, lambda x: x.min(1, keepdim=True).values),
    ("MatMul", {}, {"a": M1, "b": M2}, torch.matmul),
    ("MatMul", {}, {"a": floats(3), "b": floats(3)}, torch.matmul),
    ("MatMul", {}, {"a": M1, "b": floats(3)}, torch.matmul),
    ("Reshape", {"shape": [3, -1]}, {"x": A}, lambda x: x.reshape(3, -1)),
    ("Transpose", {"dim0": 0, "dim1": 1}, {"x": A}, lambda x: x.transpose(0, 1)),
    ("Permute", {"dims": [1, 0]}, {"x": A}, lambda x: x.permute(1, 0)),
    ("Unsqueeze", {"dim": 1}, {"x": A}, lambda x: x.unsqueeze(1)),
    ("Squeeze", {}, {"x": floats(2, 1, 3)}, torch.squeeze),
    ("Squeeze", {"dim": 1}, {"x": floats(2, 1, 3)}, lambda x: x.squeeze(1)),
    ("Cat", {"count": 2, "dim": 0}, {"t0": A, "t1": B}, lambda a, b: torch.cat([a, b], 0)),
    ("Stack", {"count": 2, "dim": 1}, {"t0": A, "t1": B}, lambda a, b: torch.stack([a, b], 1)),
    ("Clone", {}, {"x": A}, torch.clone),
    ("Detach", {}, {"x": A}, torch.detach),
    ("Softmax", {"dim": -1}, {"x": A}, lambda x: torch.softmax(x, -1)),
    ("LogSoftmax", {"dim": 0}, {"x": A}, lambda x: torch.log_softmax(x, 0)),
    ("Linear", {}, {"input": floats(4, 3), "weight": floats(2, 3), "bias": floats(2)},
     torch.nn.functional.linear),
    ("Linear", {}, {"input": floats(4, 3), "weight": floats(2, 3)},
     torch.nn.functional.linear),
    ("MSELoss", {}, {"input": A, "target": B}, torch.nn.functional.mse_loss),
    ("MSELoss", {"reduction": "sum"}, {"input": A, "target": B},
     lambda a, b: torch.nn.functional.mse_loss(a, b, reduction="sum")),
    ("L1Loss", {}, {"input": A, "target": B}, torch.nn.functional.l1_loss),
    ("CrossEntropyLoss", {}, {"input": floats(4, 3), "target": CLASSES},
     torch.nn.functional.cross_entropy),
    ("NLLLoss", {"reduction": "none"}, {"input": floats(4, 3), "target": CLASSES},
     lambda a, t: torch.nn.functional.nll_loss(a, t, reduction="none")),
    ("BCELoss", {}, {"input": PROBS, "target": TARGETS01},
     torch.nn.functional.binary_cross_entropy),
    ("BCEWithLogitsLoss", {}, {"input": floats(4, 3), "target": TARGETS01},
     torch.nn.functional.binary_cross_entropy_with_logits),
    ("Function", {"inputs": ["a", "b"], "forward": "a * b + exp(a)",
                  "backward": "grad_output * (b + exp(a)), grad_output * a"},
     {"a": A, "b": B}, lambda a, b: a * b + torch.exp(a)),
]


def build(kind, params, inputs):
    """Sources for the inputs (floats require grad), the op, then sum(op * weights)."""
    doc = GraphDocument()
    op = doc.add_node(kind, label="op", **params)
    for port, array in inputs.items():
        floating = array.dtype.kind == "f"
        source = doc.add_node("Parameter" if floating else "Tensor", label=f"in_{port}",
                              value=format_literal(array.tolist()),
                              **({} if floating else {"dtype": "auto"}))
        doc.connect(source, op, port)
    return doc, op


def case_id(case):
    return f"{case[0]}-{'-'.join(f'{k}={v}' for k, v in case[1].items() if k != 'backward')}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_kind_matches_torch(case):
    kind, params, inputs, function = case
    doc, op = build(kind, params, inputs)
    torch_inputs = [torch.tensor(array, requires_grad=array.dtype.kind == "f")
                    for array in inputs.values()]
    expected = function(*torch_inputs)
    weights = RNG.uniform(0.5, 1.5, tuple(expected.shape)).astype(np.float32)
    weight_node = doc.add_node("Tensor", label="weights", value=format_literal(weights.tolist()))
    weighted = doc.add_node("Mul", label="weighted")
    loss = doc.add_node("Sum", label="loss")
    doc.connect(op, weighted, "a")
    doc.connect(weight_node, weighted, "b")
    doc.connect(weighted, loss, "x")

    session = Session(doc)
    if not expected.requires_grad:  # detach: nothing to differentiate
        assert session.run_forward() is None
        np.testing.assert_allclose(session.inspect(op).value, expected.numpy())
        return
    assert session.run_backward() is None, session.error
    info = session.inspect(op)
    np.testing.assert_allclose(info.value, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert info.shape == tuple(expected.shape)
    assert info.dtype == str(expected.dtype).replace("torch.", "")
    if kind != "Function":
        assert info.grad_fn == expected.grad_fn.name()
    (expected * torch.tensor(weights)).sum().backward()
    for port, tensor in zip(inputs, torch_inputs, strict=True):
        if tensor.requires_grad:
            np.testing.assert_allclose(session.inspect(f"in_{port}").grad, tensor.grad.numpy(),
                                       rtol=1e-5, atol=1e-6, err_msg=port)


def test_every_kind_is_covered_by_a_torch_case():
    covered = {case[0] for case in CASES}
    untested = set(registry.names()) - covered - {"Tensor", "Parameter", "Data", "Grad",
                                                  "Traced"}
    assert untested == set()


def test_metadata_is_complete():
    assert set(registry.categories()) == set(registry.CATEGORIES)
    for kind in registry.kinds():
        assert kind.category in registry.CATEGORIES
        assert kind.description.endswith("."), kind.name
        assert kind.formula, kind.name
        ports = [port.name for port in kind.input_ports({})]
        assert set(kind.derivatives) <= set(ports) | {"t0"}, kind.name
        assert set(kind.gradients) <= set(ports), kind.name
        if not kind.is_source:
            assert kind.param("no_grad").default is False
        kind.coerce_params({})  # the defaults are valid


def test_inspector_texts_for_mul():
    mul = registry.get("Mul")
    assert (mul.formula, mul.derivatives["a"], mul.derivatives["b"]) == (
        "a · b", "∂/∂a = b", "∂/∂b = a")
    assert registry.kind_for_grad_fn("MulBackward0") == "Mul"
    assert registry.kind_for_grad_fn("MmBackward0") == "MatMul"


def test_unknown_kind_lists_known_ones():
    with pytest.raises(KeyError, match="unknown node kind 'Conv2d'; known kinds: Abs, Add"):
        registry.get("Conv2d")


def test_data_is_reproducible_and_follows_the_formula():
    kind = registry.get("Data")
    params = kind.coerce_params({"formula": "3*x - 1", "samples": 50, "noise": 0.0})
    x, y = registry.generate_data(params)
    assert x.shape == y.shape == (50, 1)
    np.testing.assert_allclose(y, 3 * x - 1, rtol=1e-6)
    noisy = kind.coerce_params({"seed": 4})
    np.testing.assert_array_equal(registry.generate_data(noisy)[1],
                                  registry.generate_data(noisy)[1])


def test_tensor_value_constructors_and_dtypes():
    doc = GraphDocument()
    cases = {"lin": ("linspace(0, 10, 5)", "auto"), "ints": ("[1, 2]", "auto"),
             "eye": ("eye(2)", "float64"), "flag": ("True", "auto"),
             "ar": ("arange(6).reshape(2, 3)", "auto")}
    for label, (value, dtype) in cases.items():
        doc.add_node("Tensor", label=label, value=value, dtype=dtype)
    session = Session(doc)
    assert session.run_forward() is None
    np.testing.assert_allclose(session.inspect("lin").value, np.linspace(0, 10, 5))
    assert session.inspect("ints").dtype == "int64"
    assert session.inspect("eye").dtype == "float64"
    assert session.inspect("flag").dtype == "bool"
    assert session.inspect("ar").value.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_elementwise_functions_of_plain_numbers_in_values_are_torchs_of_0d_tensors():
    doc = GraphDocument()
    cases = {"e": ("exp(1.0)", torch.exp(torch.tensor(1.0))),
             "bad": ("log(-1.0)", torch.log(torch.tensor(-1.0))),
             "root": ("sqrt(2)", torch.sqrt(torch.tensor(2))),
             "cut": ("relu(-2.5) + tanh(0.5)", torch.relu(torch.tensor(-2.5)) +
                     torch.tanh(torch.tensor(0.5)))}
    for label, (value, _) in cases.items():
        doc.add_node("Tensor", label=label, value=value)
    session = Session(doc)
    assert session.run_forward() is None
    for label, (_, expected) in cases.items():
        shown = session.inspect(label)
        assert shown.dtype == str(expected.dtype).removeprefix("torch."), label
        # (numpy's float32 exp may differ from torch's in the last bit)
        np.testing.assert_allclose(shown.value, expected.numpy(), rtol=1e-6, err_msg=label)
