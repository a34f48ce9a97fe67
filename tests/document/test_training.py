"""Training one iteration at a time (visgrad.document.training), against torch step for step:
runs, history, going back to an iteration, divergence, CSV, landscapes and regressions."""

from __future__ import annotations

import csv
import io
import math
import re

import numpy as np
import pytest
import torch

from visgrad.document import GraphDocument, Session, examples, registry
from visgrad.document.operations import RemoveNodes, SetParam
from visgrad.document.session import SessionError
from visgrad.document.training import (
    LossFunction,
    TrainConfig,
    Trainer,
    find_regression,
    optimizer_name,
    padded_range,
)


def torch_quadratic(lr: float, steps: int):
    x = torch.tensor(2.0, requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=lr)
    values, losses, grads = [], [], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = x**2 + 3 * x + 1
        loss.backward()
        values.append(x.item())
        losses.append(loss.item())
        grads.append(x.grad.item())
        optimizer.step()
    return x, values, losses, grads


def test_gradient_descent_reaches_torchs_x_after_100_steps():
    trainer = Trainer(Session(examples.load("gradient_descent")), TrainConfig("SGD", 0.1))
    assert trainer.run(100) == 100
    x, values, losses, grads = torch_quadratic(0.1, 100)
    run = trainer.history
    assert len(run) == 101 and run.steps == 100 and run.columns == ["x"]
    assert abs(run.values[-1, 0] - x.item()) < 1e-6
    assert abs(float(trainer.session.inspect("x").value) - x.item()) < 1e-6
    # rows 0..99 are the usual loop's (x, loss, grad) before each step
    np.testing.assert_allclose(run.values[:100, 0], values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(run.loss[:100], losses, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run.grads[:100, 0], grads, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run.grad_norm[:100], np.abs(grads), rtol=1e-6, atol=1e-6)


def test_session_train_reaches_the_same_x():
    session = Session(examples.load("gradient_descent"))
    session.train("SGD", lr=0.1, steps=100)
    x, *_ = torch_quadratic(0.1, 100)
    assert abs(float(session.inspect("x").value) - x.item()) < 1e-6


def test_linear_regression_reaches_torchs_weight_and_bias():
    document = examples.load("linear_regression")
    session = Session(document)
    trainer = Trainer(session, TrainConfig("SGD", 0.5))
    start_weight = session.inspect("weight").value.copy()
    start_bias = session.inspect("bias").value.copy()
    trainer.run(200)
    x_np, y_np = registry.generate_data(document.node("data").params)
    x, y = torch.tensor(x_np), torch.tensor(y_np)
    weight = torch.tensor(start_weight, requires_grad=True)
    bias = torch.tensor(start_bias, requires_grad=True)
    optimizer = torch.optim.SGD([weight, bias], lr=0.5)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(torch.nn.functional.linear(x, weight, bias), y)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(session.inspect("weight").value, weight.detach().numpy(),
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(session.inspect("bias").value, bias.detach().numpy(),
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(trainer.history.loss[:200], losses, rtol=1e-5, atol=1e-6)
    assert trainer.history.columns == ["weight", "bias"]


def two_parameter_document() -> GraphDocument:
    """Rosenbrock's valley, (1 - a)² + 100 (b - a²)², from a = -1, b = 1.5."""
    doc = GraphDocument()
    a = doc.add_node("Parameter", label="a", value="-1.0")
    b = doc.add_node("Parameter", label="b", value="1.5")
    one_minus_a = doc.add_node("Sub", label="a - 1", scalar=1.0)
    left = doc.add_node("Pow", label="(a - 1)²", exponent=2.0)
    a_squared = doc.add_node("Pow", label="a²", exponent=2.0)
    gap = doc.add_node("Sub", label="b - a²")
    right = doc.add_node("Pow", label="(b - a²)²", exponent=2.0)
    weighted = doc.add_node("Mul", label="100 (b - a²)²", scalar=100.0)
    loss = doc.add_node("Add", label="loss")
    doc.connect(a, one_minus_a, "a")
    doc.connect(one_minus_a, left, "x")
    doc.connect(a, a_squared, "x")
    doc.connect(b, gap, "a")
    doc.connect(a_squared, gap, "b")
    doc.connect(gap, right, "x")
    doc.connect(right, weighted, "a")
    doc.connect(left, loss, "a")
    doc.connect(weighted, loss, "b")
    return doc


def torch_rosenbrock(optimizer_class, steps: int, **options):
    a = torch.tensor(-1.0, requires_grad=True)
    b = torch.tensor(1.5, requires_grad=True)
    optimizer = optimizer_class([a, b], **options)
    rows = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = (a - 1) ** 2 + 100 * (b - a**2) ** 2
        loss.backward()
        rows.append((a.item(), b.item(), loss.item(), a.grad.item(), b.grad.item()))
        optimizer.step()
    rows.append((a.item(), b.item(), ((a - 1) ** 2 + 100 * (b - a**2) ** 2).item(),
                 math.nan, math.nan))
    return np.array(rows)


@pytest.mark.parametrize(("config", "torch_class", "options"), [
    (TrainConfig("Adam", 0.05), torch.optim.Adam, {"lr": 0.05}),
    (TrainConfig("SGD", 0.0005, momentum=0.9), torch.optim.SGD,
     {"lr": 0.0005, "momentum": 0.9}),
    (TrainConfig("SGD", 0.0005, momentum=0.9, nesterov=True), torch.optim.SGD,
     {"lr": 0.0005, "momentum": 0.9, "nesterov": True}),
    (TrainConfig("RMSprop", 0.01), torch.optim.RMSprop, {"lr": 0.01}),
    (TrainConfig("Adagrad", 0.1), torch.optim.Adagrad, {"lr": 0.1}),
], ids=["adam", "sgd-momentum", "sgd-nesterov", "rmsprop", "adagrad"])
def test_two_parameter_loss_matches_torch_step_for_step(config, torch_class, options):
    trainer = Trainer(Session(two_parameter_document()), config)
    trainer.run(60)
    expected = torch_rosenbrock(torch_class, 60, **options)
    run = trainer.history
    assert run.columns == ["a", "b"]
    np.testing.assert_allclose(run.values, expected[:, :2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run.loss, expected[:, 2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run.grads[:60], expected[:60, 3:], rtol=1e-5, atol=1e-4)


def test_divergence_stops_with_the_iteration_and_keeps_the_history():
    session = Session(examples.load("gradient_descent"))
    trainer = Trainer(session, TrainConfig("SGD", 1.5))
    steps = trainer.run(500)
    x, expected = np.float32(2.0), None
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(500):
            if not math.isfinite(x * x + 3 * x + 1):
                expected = k
                break
            x = np.float32(x - np.float32(1.5) * (2 * x + 3))
    assert expected is not None
    assert trainer.stopped and trainer.diverged and steps == expected == trainer.iteration
    assert trainer.message.startswith(f"The loss became inf at iteration {expected}: "
                                      "training stopped.")
    assert "smaller learning rate" in trainer.message
    assert math.isinf(trainer.history.loss[-1]) and len(trainer.history) == expected + 1
    assert trainer.message in session.log_lines
    assert not trainer.step() and trainer.run(10) == 0  # stopped stays stopped


@pytest.mark.parametrize("lr", ["1.5", "4"])
def test_divergence_names_the_same_iteration_in_session_train_trainer_and_cli(lr, capsys):
    """Iteration k is the parameters after k steps, from 0, wherever training runs."""
    from visgrad import cli

    result = Session(examples.load("gradient_descent")).train("SGD", lr=float(lr), steps=500)
    trainer = Trainer(Session(examples.load("gradient_descent")), TrainConfig("SGD", float(lr)))
    trainer.run(500)
    assert cli.main(["train", "--example", "gradient_descent", "--optimizer", "sgd",
                     "--lr", lr, "--steps", "500"]) == 1
    err = capsys.readouterr().err

    def iteration(text: str) -> int:
        found = re.findall(r"at iteration (\d+)", text)
        assert len(found) == 1, text
        return int(found[0])

    assert result.diverged and trainer.diverged
    assert iteration(result.message) == iteration(trainer.message) == iteration(err)
    assert iteration(result.message) == trainer.iteration == result.iterations
    assert len(result.history.loss) == len(trainer.history) == trainer.iteration + 1
    assert math.isinf(result.history.loss[-1]) and math.isinf(trainer.history.loss[-1])


@pytest.mark.parametrize(("start", "value"), [("log(-1.0)", math.nan), ("nan", math.nan),
                                              ("1e30", 1e30)])
def test_a_loss_not_finite_before_any_step_blames_the_values_not_the_learning_rate(start, value):
    def document():
        doc = examples.load("gradient_descent")
        doc.apply(SetParam("x", "value", start))
        return doc

    result = Session(document()).train("SGD", lr=0.1, steps=5)
    trainer = Trainer(Session(document()), TrainConfig("SGD", 0.1))
    trainer.run(5)
    assert result.diverged and trainer.diverged and result.iterations == 0
    assert "at iteration 0" in result.message and "at iteration 0" in trainer.message
    for message in (result.message, trainer.message):
        assert "starting values" in message and "learning rate" not in message
    x = torch.tensor(value, dtype=torch.float32)
    np.testing.assert_equal(result.history.loss[0], (x**2 + 3 * x + 1).item())


def test_show_puts_an_earlier_iteration_into_the_session_and_training_goes_on():
    def trained(scrub: bool) -> Trainer:
        trainer = Trainer(Session(examples.load("gradient_descent")), TrainConfig("SGD", 0.1))
        trainer.run(10)
        if scrub:
            assert trainer.show(3) == 3
            run = trainer.history
            info = trainer.session.inspect("x")
            assert float(info.value) == pytest.approx(run.values[3, 0])
            assert float(info.grad) == pytest.approx(run.grads[3, 0])
            assert float(trainer.session.inspect("loss").value) == pytest.approx(run.loss[3])
            assert trainer.shown == 3
        trainer.run(10)
        return trainer

    plain, scrubbed = trained(False), trained(True)
    np.testing.assert_array_equal(plain.history.values, scrubbed.history.values)
    np.testing.assert_array_equal(plain.history.loss, scrubbed.history.loss)
    assert scrubbed.shown == 20


def test_show_the_latest_and_out_of_range():
    trainer = Trainer(Session(examples.load("gradient_descent")), TrainConfig("SGD", 0.1))
    trainer.run(5)
    assert trainer.show(99) == 5 and trainer.show(-4) == 0
    assert float(trainer.session.inspect("x").value) == 2.0
    assert trainer.show(5) == 5
    assert float(trainer.session.inspect("x").value) == pytest.approx(trainer.history.values[5, 0])


def test_outside_steps_are_noticed_and_graph_edits_stop_the_run():
    document = examples.load("gradient_descent")
    session = Session(document)
    trainer = Trainer(session, TrainConfig("SGD", 0.1))
    trainer.run(3)
    session.run_backward()  # the user steps the graph between two iterations
    session.run_backward()  # and accumulates into x.grad
    trainer.run(3)
    reference = Trainer(Session(examples.load("gradient_descent")), TrainConfig("SGD", 0.1))
    reference.run(6)
    np.testing.assert_allclose(trainer.history.values, reference.history.values)
    document.apply(SetParam("x", "value", "5.0"))  # a new leaf: this run cannot go on
    assert not trainer.step()
    assert trainer.stopped and "x was made anew" in trainer.message
    assert "press Start for a new run" in trainer.message


def test_removing_the_loss_stops_the_run():
    document = examples.load("gradient_descent")
    trainer = Trainer(Session(document), TrainConfig("SGD", 0.1))
    document.apply(RemoveNodes([document.node("loss").id]))
    assert not trainer.step() and trainer.stopped


@pytest.mark.parametrize(("config", "message"), [
    (TrainConfig("Nope", 0.1), "unknown optimizer 'Nope'"),
    (TrainConfig("SGD", -1.0), "SGD: Invalid learning rate: -1.0"),
    (TrainConfig("SGD", 0.1, nesterov=True), "Nesterov momentum requires a momentum"),
])
def test_bad_settings_are_refused_with_torchs_words(config, message):
    with pytest.raises(SessionError, match=message):
        Trainer(Session(examples.load("gradient_descent")), config)


def test_nothing_to_train_and_a_broken_forward():
    doc = examples.load("chain_rule")
    doc.set_param("x", "requires_grad", False)
    with pytest.raises(SessionError, match="nothing to train"):
        Trainer(Session(doc))
    doc = GraphDocument()
    a = doc.add_node("Parameter", label="a", value="ones(3)")
    b = doc.add_node("Parameter", label="b", value="ones(4)")
    add = doc.add_node("Add", label="loss")
    doc.connect(a, add, "a")
    doc.connect(b, add, "b")
    with pytest.raises(SessionError, match="cannot train: forward failed at loss"):
        Trainer(Session(doc))


def test_optimizer_names_and_descriptions():
    assert [optimizer_name(n) for n in ("sgd", "ADAM", " adamw ", "rmsprop", "Adagrad")] == [
        "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
    with pytest.raises(SessionError, match="expected one of sgd, adam"):
        optimizer_name("lbfgs")
    assert TrainConfig("Adam", 0.001).describe() == "Adam lr=0.001"
    assert TrainConfig("SGD", 1.0, momentum=0.5).describe() == "SGD lr=1 momentum=0.5"
    assert TrainConfig("Adam", 0.1, momentum=0.9).options() == {}
    settings = examples.load("mlp_classifier").settings
    assert TrainConfig.from_settings(settings) == TrainConfig("Adam", 0.05, 0.0)


def test_history_as_csv():
    trainer = Trainer(Session(examples.load("linear_regression")), TrainConfig("SGD", 0.5))
    trainer.run(4)
    rows = list(csv.reader(io.StringIO(trainer.history.csv_text())))
    assert rows[0] == ["iteration", "loss", "grad_norm", "weight", "bias", "weight.grad",
                       "bias.grad"]
    assert [int(row[0]) for row in rows[1:]] == [0, 1, 2, 3, 4]
    table = np.array([[float(v) for v in row] for row in rows[1:]])
    run = trainer.history
    np.testing.assert_allclose(table[:, 1], run.loss, rtol=1e-8)
    np.testing.assert_allclose(table[:, 3:5], run.values, rtol=1e-8)
    np.testing.assert_allclose(table[:, 5:], run.grads, rtol=1e-8)
    assert table[0, 3] == 0.0 and table[-1, 3] == pytest.approx(
        float(trainer.session.inspect("weight").value.item()))


def test_csv_of_a_diverged_run_says_inf_and_nan(tmp_path):
    trainer = Trainer(Session(examples.load("gradient_descent")), TrainConfig("SGD", 1.5))
    trainer.run(500)
    path = trainer.history.save_csv(tmp_path / "history.csv")
    last = path.read_text(encoding="utf-8").splitlines()[-1].split(",")
    assert last[1] == "inf" and last[2] == "nan" and last[-1] == "nan"
    assert not list(tmp_path.glob(".*.tmp"))


def test_tensor_parameters_are_named_by_element_and_large_ones_thinned(monkeypatch):
    import visgrad.document.training as training

    trainer = Trainer(Session(examples.load("mlp_classifier")))
    run = trainer.history
    assert run.fully_tracked and len(run.columns) == 42
    assert run.columns[:3] == ["W1[0,0]", "W1[0,1]", "W1[1,0]"] and "b2[1]" in run.columns
    monkeypatch.setattr(training, "MAX_TRACKED", 8)
    trainer = Trainer(Session(examples.load("mlp_classifier")), snapshot_limit=4)
    run = trainer.history
    assert not run.fully_tracked and run.columns == ["W1[0,0]", "W1[0,1]", "b1[0]", "b1[1]",
                                                     "W2[0,0]", "W2[0,1]", "b2[0]", "b2[1]"]
    start = trainer.session.inspect("W1").value.copy()
    trainer.run(12)
    assert len(run._snapshots) <= 5  # thinned evenly, and the latest is always kept
    assert trainer.show(0) == 0
    np.testing.assert_array_equal(trainer.session.inspect("W1").value, start)
    shown = trainer.show(5)
    assert shown in run._snapshots and abs(shown - 5) <= 4
    assert trainer.show(12) == 12


def test_loss_function_draws_the_landscape_without_touching_the_session():
    session = Session(examples.load("linear_regression"))
    trainer = Trainer(session, TrainConfig("SGD", 0.5))
    trainer.run(3)
    before = session.inspect("weight").value.copy()
    function = trainer.loss_function()
    assert function.size == 2
    x_np, y_np = registry.generate_data(session.document.node("data").params)
    expected = float(np.mean((2.0 * x_np + 1.0 - y_np) ** 2))
    assert function.flat([2.0, 1.0]) == pytest.approx(expected, rel=1e-5)
    xs, ys, losses = function.grid((1.0, 3.0), (0.0, 2.0), 5)
    assert losses.shape == (5, 5) and np.argmin(losses) == 2 * 5 + 2  # (2, 1) is lowest
    np.testing.assert_array_equal(session.inspect("weight").value, before)
    one = LossFunction(session, session.document.node("loss"), ["n3"])
    assert math.isnan(one([np.zeros(5)]))  # a wrong shape is a gap, not an error
    assert math.isnan(one.flat([float("nan")]))


def test_find_regression_and_padded_range():
    doc = examples.load("linear_regression")
    regression = find_regression(doc, doc.node("loss"))
    assert regression is not None and (regression.x_port, regression.y_port) == ("x", "y")
    session = Session(doc)
    session.run_forward()
    x, prediction = regression.fit(session)
    assert np.all(np.diff(x) >= 0) and np.all(prediction == 0.0)
    assert len(regression.points(session)[0]) == 100
    for name in ("gradient_descent", "mlp_classifier", "l1_l4_network"):
        document = examples.load(name)
        assert find_regression(document, document.find("loss")) is None
    assert find_regression(doc, None) is None
    assert padded_range([np.nan, np.inf]) == (-1.0, 1.0)
    low, high = padded_range([1e6, 1e6 + 1])
    assert low < 1e6 < 1e6 + 1 < high
