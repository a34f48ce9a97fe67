"""Whole training programs, written once for both libraries: the same data and initial weights
give the same losses as torch. Also: nn and optim run on the strict CuPy stand-in."""

import numpy as np
import pytest
import torch

import visgrad as vg
from tests.nn.helpers import copy_parameters
from visgrad.engine import backend


def linear_regression(lib, X, Y, init, epochs=100):
    """The tutorial program: Linear(1, 1), MSELoss, SGD(lr=0.01), the loss every 10 epochs."""
    model = lib.nn.Linear(1, 1)
    with lib.no_grad():
        model.weight.copy_(lib.tensor(init["weight"]))
        model.bias.copy_(lib.tensor(init["bias"]))
    criterion = lib.nn.MSELoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01)
    X, Y = lib.tensor(X), lib.tensor(Y)
    losses = []
    for epoch in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(X), Y)
        loss.backward()
        optimizer.step()
        if (epoch + 1) % 10 == 0:
            losses.append(loss.item())
    return losses, model.weight.item(), model.bias.item()


def test_linear_regression_tutorial_gives_torchs_losses():
    rng = np.random.default_rng(42)
    X = (rng.random((100, 1)) * 10).astype(np.float32)
    Y = (2 * X + 1 + rng.standard_normal((100, 1))).astype(np.float32)
    torch.manual_seed(0)
    reference = torch.nn.Linear(1, 1)
    init = {"weight": reference.weight.detach().numpy().copy(),
            "bias": reference.bias.detach().numpy().copy()}
    ours = linear_regression(vg, X, Y, init)
    theirs = linear_regression(torch, X, Y, init)
    assert len(ours[0]) == 10
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    np.testing.assert_allclose(ours[1:], theirs[1:], rtol=1e-5)
    assert ours[0][-1] < ours[0][0]


def mlp_classifier(lib, model, X, y, steps=50):
    criterion = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.Adam(model.parameters(), lr=0.01)
    X, y = lib.tensor(X), lib.tensor(y)
    losses, accuracy = [], None
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model(X)
        loss = criterion(logits, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with lib.no_grad():
        accuracy = (model(X).argmax(1) == y).float().mean().item()
    return losses, accuracy


def test_two_layer_mlp_classifier_with_adam_matches_torch():
    rng = np.random.default_rng(3)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = rng.integers(0, 3, 90)
    X = (centers[y] + 0.7 * rng.standard_normal((90, 2))).astype(np.float32)
    torch.manual_seed(1)
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 3))
    ours = vg.nn.Sequential(vg.nn.Linear(2, 16), vg.nn.ReLU(), vg.nn.Linear(16, 3))
    copy_parameters(theirs, ours)
    losses_ours, accuracy_ours = mlp_classifier(vg, ours, X, y)
    losses_theirs, accuracy_theirs = mlp_classifier(torch, theirs, X, y)
    np.testing.assert_allclose(losses_ours, losses_theirs, rtol=1e-5)
    assert accuracy_ours == accuracy_theirs and accuracy_ours > 0.8
    for a, b in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.fixture
def strict_cuda():
    """The test-only CuPy stand-in as "cuda": any hidden host conversion raises."""
    backend.register_backend("cuda", backend.strict_cuda_backend)
    yield "cuda"
    backend.register_backend("cuda", None)


@pytest.mark.parametrize("name, kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9,
                                                  "nesterov": True, "weight_decay": 0.01}),
                                          ("Adam", {"lr": 0.05, "amsgrad": True}),
                                          ("AdamW", {"lr": 0.05}),
                                          ("RMSprop", {"lr": 0.01, "centered": True,
                                                       "momentum": 0.5}),
                                          ("Adagrad", {"lr": 0.1, "lr_decay": 0.01})])
def test_training_on_the_strict_device_backend(strict_cuda, name, kwargs):
    results = {}
    for device in ("cpu", strict_cuda):
        vg.manual_seed(0)
        model = vg.nn.Sequential(vg.nn.Linear(3, 4), vg.nn.Tanh(), vg.nn.Dropout(0.1),
                                 vg.nn.Linear(4, 3)).to(device)
        optimizer = getattr(vg.optim, name)(model.parameters(), **kwargs)
        scheduler = vg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
        X = vg.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3), device=device)
        y = vg.tensor([0, 1, 2, 0, 1, 2, 0, 1], device=device)
        target = vg.tensor(np.full((8, 3), 0.25, dtype=np.float32), device=device)
        for _ in range(6):
            optimizer.zero_grad()
            out = model(X)
            loss = (vg.nn.functional.cross_entropy(out, y, label_smoothing=0.1)
                    + vg.nn.functional.mse_loss(out, target)
                    + vg.nn.functional.binary_cross_entropy_with_logits(out, target)
                    + vg.nn.functional.l1_loss(out, target)
                    + vg.nn.functional.binary_cross_entropy(out.sigmoid(), target))
            loss.backward()
            optimizer.step()
            scheduler.step()
        assert model[0].weight.device == vg.device(device)
        results[device] = [p.detach().cpu().numpy() for p in model.parameters()]
    for a, b in zip(results["cpu"], results[strict_cuda]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
