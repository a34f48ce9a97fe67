"""Every shipped example: its file matches its builder, and its numbers match torch 2.13."""

import math

import numpy as np
import pytest
import torch

from visgrad.document import Session, dumps, examples, registry


def test_examples_are_listed_and_the_default_exists():
    assert examples.names() == sorted([
        "chain_rule", "custom_functions", "detach_and_no_grad", "gradient_descent",
        "higher_order", "l1_l4_network", "linear_regression", "mlp_classifier",
        "polynomial_accumulation"])
    assert examples.DEFAULT == "l1_l4_network"
    with pytest.raises(KeyError, match="no example 'nope'; examples: chain_rule"):
        examples.load("nope")


@pytest.mark.parametrize("name", examples.names())
def test_file_matches_its_builder(name):
    assert examples.path(name).read_text(encoding="utf-8") == dumps(examples.build(name)), (
        "run: python -m visgrad.document.examples")


def run(name):
    session = Session(examples.load(name))
    assert session.run_backward() is None, session.error
    return session


def grad(session, label):
    return session.inspect(label).grad


def test_polynomial():
    session = run("polynomial_accumulation")
    assert float(session.inspect("y").value) == 41.0
    x = torch.tensor(3.0, requires_grad=True)
    (3 * x**2 + 4 * x + 2).backward()
    assert float(grad(session, "x")) == float(x.grad) == 22.0


def test_chain_rule():
    session = run("chain_rule")
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = ((2 * x + 3) ** 2).mean()
    loss.backward()
    assert float(session.inspect("loss").value) == pytest.approx(loss.item())
    np.testing.assert_allclose(grad(session, "x"), x.grad.numpy(), rtol=1e-6)


def test_l1_l4_network():
    session = run("l1_l4_network")
    data = torch.ones(2, 2)
    w1, w2, w3 = (torch.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    l1 = data * w1
    l1.retain_grad()
    loss = ((l1 + w2) * (l1 * w3)).mean()
    loss.backward()
    assert [float(grad(session, w)) for w in ("w1", "w2", "w3")] == [28.0, 8.0, 10.0]
    assert [float(w.grad) for w in (w1, w2, w3)] == [28.0, 8.0, 10.0]
    np.testing.assert_allclose(grad(session, "l1"), l1.grad.numpy())
    assert float(session.inspect("loss").value) == loss.item() == 40.0


def test_custom_functions():
    session = run("custom_functions")
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(1.0, requires_grad=True)
    loss = (x * 2).sum() + (a + b) ** 2
    loss.backward()
    np.testing.assert_allclose(grad(session, "x"), x.grad.numpy())
    assert (float(grad(session, "a")), float(grad(session, "b"))) == (float(a.grad),
                                                                      float(b.grad))
    grad_fns = {session.inspect(n).grad_fn for n in ("double", "square_of_sum")}
    assert grad_fns == {"DoubleBackward", "SquareOfSumBackward"}


def test_wrong_custom_backward_behaves_as_in_torch():
    doc = examples.load("custom_functions")
    doc.set_param("double", "backward", "grad_output * 3")  # wrong on purpose
    session = Session(doc)
    session.run_backward()
    np.testing.assert_allclose(grad(session, "x"), [3.0, 3.0, 3.0])
    doc.set_param("square_of_sum", "backward", "grad_output")  # one gradient for two inputs
    error = Session(doc).run_backward()
    assert error.message == ("function SquareOfSumBackward returned an incorrect number of "
                             "gradients (expected 2, got 1)")
    assert error.label == "square_of_sum"


def test_higher_order():
    session = run("higher_order")
    x = torch.tensor(2.0, requires_grad=True)
    (dy,) = torch.autograd.grad(x**4, x, create_graph=True)
    dy.backward()
    assert float(session.inspect("dy_dx").value) == dy.item() == 32.0
    assert float(grad(session, "x")) == float(x.grad) == 48.0


def test_detach_and_no_grad():
    session = run("detach_and_no_grad")
    x = torch.tensor(3.0, requires_grad=True)
    left = (x * x).detach() * x
    with torch.no_grad():
        square = x * x
    (left + square * x).backward()
    assert float(grad(session, "x")) == float(x.grad) == 18.0
    assert session.inspect("x² (no_grad)").requires_grad is False
    assert session.inspect("x².detach()").requires_grad is False


def test_gradient_descent_history_matches_torch():
    session = Session(examples.load("gradient_descent"))
    result = session.train()
    x = torch.tensor(2.0, requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=0.1)
    losses, values = [], []
    for _ in range(50):
        optimizer.zero_grad()
        loss = x**2 + 3 * x + 1
        losses.append(loss.item())
        values.append(x.item())
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(result.history.loss, losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.history.params["x"], values, rtol=1e-5, atol=1e-6)
    assert float(session.inspect("x").value) == pytest.approx(-1.5, abs=1e-3)
    assert result.message == f"trained 50 iterations; loss {losses[-1]:.6g}"


def test_linear_regression_matches_torch_and_finds_the_line():
    doc = examples.load("linear_regression")
    session = Session(doc)
    result = session.train()
    x_np, y_np = registry.generate_data(doc.node("data").params)
    x, y = torch.tensor(x_np), torch.tensor(y_np)
    weight = torch.zeros(1, 1, requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight, bias], lr=0.5)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(torch.nn.functional.linear(x, weight, bias), y)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(result.history.loss, losses, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(session.inspect("weight").value, weight.detach().numpy(),
                               rtol=1e-4)
    assert session.inspect("weight").value.item() == pytest.approx(2.0, abs=0.05)
    assert session.inspect("bias").value.item() == pytest.approx(1.0, abs=0.05)
    assert len(result.history.grad_norm) == 200


def test_mlp_classifier_matches_torch_and_separates_xor():
    session = Session(examples.load("mlp_classifier"))
    session.run_forward()
    start = {label: torch.tensor(session.inspect(label).value, requires_grad=True)
             for label in ("W1", "b1", "W2", "b2")}
    points = torch.tensor(session.inspect("points").value)
    labels = torch.tensor(session.inspect("labels").value)
    result = session.train()
    optimizer = torch.optim.Adam(list(start.values()), lr=0.05)
    losses = []
    for _ in range(300):
        optimizer.zero_grad()
        hidden = torch.tanh(torch.nn.functional.linear(points, start["W1"], start["b1"]))
        logits = torch.nn.functional.linear(hidden, start["W2"], start["b2"])
        loss = torch.nn.functional.cross_entropy(logits, labels)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(result.history.loss, losses, rtol=2e-3, atol=1e-4)
    predictions = session.inspect("logits").value.argmax(axis=1)
    assert predictions.tolist() == labels.tolist()
    assert result.history.loss[-1] < 0.01


def test_divergence_stops_with_the_iteration():
    session = Session(examples.load("gradient_descent"))
    result = session.train(lr=1.5, steps=500)
    x, expected = 2.0, None
    with np.errstate(over="ignore", invalid="ignore"):
        expected = first_infinite_loss(x)
    assert result.diverged
    # iteration k is the parameters after k steps, counted from 0 (as the Train panel counts)
    assert expected is not None and len(result.history.loss) == expected + 1
    assert result.iterations == expected  # optimizer steps taken
    assert result.message == (f"training diverged at iteration {expected}: the loss is inf; "
                              "try a smaller learning rate")


def first_infinite_loss(x):
    """After how many float32 SGD steps on x² + 3x + 1 with lr = 1.5 the loss is first not
    finite."""
    for iteration in range(500):
        loss = np.float32(x) ** 2 + 3 * np.float32(x) + 1
        if not math.isfinite(loss):
            return iteration
        x = np.float32(x - 1.5 * (2 * x + 3))
    return None


def test_train_with_options_and_nothing_to_train():
    session = Session(examples.load("gradient_descent"))
    result = session.train("SGD", lr=0.05, steps=5, momentum=0.9)
    x = torch.tensor(2.0, requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=0.05, momentum=0.9)
    for _ in range(5):
        optimizer.zero_grad()
        (x**2 + 3 * x + 1).backward()
        optimizer.step()
    assert float(session.inspect("x").value) == pytest.approx(x.item(), rel=1e-5)
    assert result.iterations == 5
    doc = examples.load("chain_rule")
    doc.set_param("x", "requires_grad", False)
    from visgrad.document.session import SessionError
    with pytest.raises(SessionError, match="nothing to train"):
        Session(doc).train()
