"""trace(): documents from engine graphs built in Python, that run to the same numbers."""

import numpy as np

import visgrad as vg
from visgrad.document import Session, trace, validation
from visgrad.document.layout import count_crossings


def run(doc):
    session = Session(doc)
    assert session.run_backward() is None, session.error
    return session


def test_trace_l1_l4_network_with_names():
    data = vg.ones(2, 2)
    w1, w2, w3 = (vg.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    l1 = data * w1
    l2 = l1 + w2
    l3 = l1 * w3
    l4 = l2 * l3
    loss = l4.mean()
    doc = trace(loss, names={"input": data, "w1": w1, "w2": w2, "w3": w3, "l1": l1,
                             "loss": loss})
    kinds = sorted(node.kind for node in doc)
    assert kinds == ["Add", "Mean", "Mul", "Mul", "Mul", "Parameter", "Parameter", "Parameter",
                     "Tensor"]
    assert doc.node("w1").params["value"] == "2.0"
    assert doc.node("input").params["value"] == "[[1.0, 1.0], [1.0, 1.0]]"
    assert doc.settings["backward_node"] == doc.node("loss").id
    assert validation.validate(doc).ok
    session = run(doc)
    assert [float(session.inspect(w).grad) for w in ("w1", "w2", "w3")] == [28.0, 8.0, 10.0]
    assert count_crossings(doc) == 0


def test_trace_recovers_parameters_and_constants():
    x = vg.tensor([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]], requires_grad=True)
    c = vg.tensor([2.0, 3.0, 4.0])
    y = (x * c).transpose(0, 1).reshape(2, 3)
    z = vg.clamp(y ** 3, -5.0, 5.0).sum(1, keepdim=True) * 0.5 + x.max(1, keepdim=True).values
    out = vg.softmax(z.squeeze(1), dim=0).unsqueeze(0).mean()
    doc = trace(out, names={"x": x})
    session = run(doc)
    np.testing.assert_allclose(session.inspect(doc.settings["backward_node"]).value,
                               out.detach().numpy(), rtol=1e-6)
    out.backward()
    np.testing.assert_allclose(session.inspect("x").grad, x.grad.numpy(), rtol=1e-5, atol=1e-7)
    mul = next(node for node in doc if node.kind == "Mul" and node.params["scalar"] == 0.5)
    assert mul is not None
    assert any(node.kind == "Tensor" and node.params["value"] == "[2.0, 3.0, 4.0]"
               for node in doc)


def test_trace_keeps_the_parameters_of_activations():
    x = vg.tensor([[1.0, -2.0, 3.0], [0.5, -0.25, -1.0]], requires_grad=True)
    F = vg.nn.functional
    out = (F.leaky_relu(x, 0.3) * F.elu(x, 0.7) + F.gelu(x, approximate="tanh")
           + F.softplus(x, 3.0, 2.0) * F.silu(x)).sum()
    doc = trace(out, names={"x": x})
    params = {node.kind: node.params for node in doc}
    assert params["LeakyReLU"]["negative_slope"] == 0.3 and params["ELU"]["alpha"] == 0.7
    assert params["GELU"]["approximate"] == "tanh"
    assert (params["Softplus"]["beta"], params["Softplus"]["threshold"]) == (3.0, 2.0)
    session = run(doc)
    out.backward()
    np.testing.assert_allclose(session.inspect("x").grad, x.grad.numpy(), rtol=1e-6)


def test_trace_a_leaf_and_unknown_nodes():
    w = vg.tensor([1.0, 2.0], requires_grad=True)
    doc = trace(w)
    assert [node.kind for node in doc] == ["Parameter"]

    class Cube(vg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * grad_output

    doc = trace(Cube.apply(w).sum())
    traced = next(node for node in doc if node.kind == "Traced")
    assert traced.params == {"grad_fn": "CubeBackward", "inputs": 1, "no_grad": False}
    report = validation.validate(doc)
    assert "CubeBackward was traced from Python and cannot run here" in report.errors[0].text


def test_trace_python_scalar_addition_leaves_input_for_the_user():
    x = vg.tensor(2.0, requires_grad=True)
    doc = trace((x + 3) * 2)
    add = next(node for node in doc if node.kind == "Add")
    assert doc.input_edge(add, "b") is None
    messages = [m.text for m in validation.validate(doc).for_node(add.id)]
    assert messages == ["input 'b' is not connected (connect it, or set 'scalar')"]
