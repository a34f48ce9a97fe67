"""nn.utils' gradient clipping against torch: the norm returned, the gradients after, the
error for a non-finite norm, and a training run that clips at every step."""

import math

import numpy as np
import pytest
import torch

import visgrad as vg

GRADIENTS = [np.array([[3.0, -4.0], [0.5, 2.0]]), np.array([1.5, -0.25, 6.0]),
             np.array(-2.0)]


def parameters_with_gradients(lib, scale=1.0):
    params = []
    for values in GRADIENTS:
        p = lib.nn.Parameter(lib.zeros(values.shape, dtype=lib.float64))
        p.grad = lib.tensor(values * scale, dtype=lib.float64)
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, "inf", math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    results = {}
    for lib in (vg, torch):
        params = parameters_with_gradients(lib)
        total = lib.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
        results[lib] = (total.item(), [p.grad.numpy() for p in params])
    assert results[vg][0] == pytest.approx(results[torch][0], rel=1e-12)
    for mine, theirs in zip(results[vg][1], results[torch][1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_clip_grad_norm_edge_cases_match_torch():
    for lib in (vg, torch):
        assert lib.nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
        single = lib.nn.Parameter(lib.tensor([3.0, 4.0]))
        single.grad = lib.tensor([3.0, 4.0])
        assert lib.nn.utils.clip_grad_norm_(single, 1.0).item() == 5.0
        np.testing.assert_allclose(single.grad.numpy(), [0.6, 0.8], rtol=1e-6)
        broken = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
        broken.grad = lib.tensor([float("nan"), 1.0])
        with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
            lib.nn.utils.clip_grad_norm_([broken], 1.0, error_if_nonfinite=True)
        assert math.isnan(lib.nn.utils.clip_grad_norm_([broken], 1.0).item())


def test_clip_grad_value_matches_torch():
    results = {}
    for lib in (vg, torch):
        params = parameters_with_gradients(lib)
        assert lib.nn.utils.clip_grad_value_(params, 1.0) is None
        results[lib] = [p.grad.numpy() for p in params]
    for mine, theirs in zip(results[vg], results[torch]):
        np.testing.assert_array_equal(mine, theirs)


def test_training_with_clipping_follows_torch_step_by_step():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((32, 4)) * 5, rng.standard_normal((32, 1)) * 5
    torch.manual_seed(1)
    start = None
    losses = {}
    for lib in (torch, vg):
        net = lib.nn.Sequential(lib.nn.Linear(4, 16), lib.nn.Tanh(),
                                lib.nn.Linear(16, 1)).double()
        if start is None:
            start = [p.detach().numpy().copy() for p in net.parameters()]
        else:
            for p, value in zip(net.parameters(), start):
                p.data = lib.tensor(value)
        optimizer = lib.optim.SGD(net.parameters(), lr=0.05)
        losses[lib] = []
        for _ in range(8):
            optimizer.zero_grad()
            loss = lib.nn.functional.mse_loss(net(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            norm = lib.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            losses[lib].append((loss.item(), norm.item()))
    np.testing.assert_allclose(losses[vg], losses[torch], rtol=1e-10)
    assert all(norm > 1.0 for _, norm in losses[vg][:3])  # the clipping did something
