"""vg.nn.init and Linear's default initialisation: distributions, bounds, seeding, errors."""

import math

import numpy as np
import pytest
import torch

import visgrad as vg
from tests.nn.helpers import same_error

init = vg.nn.init


def test_linear_default_init_bounds_and_distribution():
    vg.manual_seed(0)
    layer = vg.nn.Linear(64, 2000)
    bound = 1 / math.sqrt(64)
    w = layer.weight.detach().numpy()
    b = layer.bias.detach().numpy()
    assert w.dtype == np.float32 and w.shape == (2000, 64)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound): mean 0, variance bound^2 / 3, near-uniform histogram
    assert abs(w.mean()) < 0.01 * bound
    assert abs(w.var() / (bound ** 2 / 3) - 1) < 0.02
    counts, _ = np.histogram(w, bins=10, range=(-bound, bound))
    assert np.all(np.abs(counts / counts.mean() - 1) < 0.05)
    assert abs(b.var() / (bound ** 2 / 3) - 1) < 0.15
    # the same scale as torch's (torch's generator differs, the distribution does not)
    torch.manual_seed(0)
    theirs = torch.nn.Linear(64, 2000).weight.detach().numpy()
    assert abs(w.std() / theirs.std() - 1) < 0.02


def test_seeding_reproduces_a_model():
    vg.manual_seed(42)
    a = vg.nn.Sequential(vg.nn.Linear(3, 4), vg.nn.Linear(4, 1))
    vg.manual_seed(42)
    b = vg.nn.Sequential(vg.nn.Linear(3, 4), vg.nn.Linear(4, 1))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    c = vg.nn.Linear(3, 4)
    assert not np.array_equal(c.weight.detach().numpy(), a[0].weight.detach().numpy())


def test_fills_are_in_place_under_no_grad():
    w = vg.nn.Parameter(vg.empty(3, 4))
    version = w._version
    assert init.constant_(w, 0.5) is w
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    assert w._version > version
    assert np.all(w.detach().numpy() == 0.5)
    init.zeros_(w)
    assert not w.detach().numpy().any()
    init.ones_(w)
    assert np.all(w.detach().numpy() == 1)


@pytest.mark.parametrize("fill, check", [
    (lambda t: init.uniform_(t, -2.0, 3.0),
     lambda v: v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.05),
    (lambda t: init.normal_(t, 1.0, 0.5),
     lambda v: abs(v.mean() - 1) < 0.01 and abs(v.std() - 0.5) < 0.01),
    (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"),
     lambda v: abs(v.std() - math.sqrt(2 / 100)) < 0.003
     and np.abs(v).max() <= math.sqrt(6 / 100)),
    (lambda t: init.kaiming_normal_(t, mode="fan_out"),
     lambda v: abs(v.std() - math.sqrt(2 / (1 + 0.01 ** 2)) / math.sqrt(300)) < 0.002),
    (lambda t: init.xavier_uniform_(t, gain=2.0),
     lambda v: np.abs(v).max() <= 2 * math.sqrt(6 / 400)
     and abs(v.std() - 2 * math.sqrt(2 / 400)) < 0.003),
    (lambda t: init.xavier_normal_(t),
     lambda v: abs(v.std() - math.sqrt(2 / 400)) < 0.002),
])
def test_random_fills(fill, check):
    vg.manual_seed(1)
    t = vg.empty(300, 100, dtype=vg.float64)
    assert fill(t) is t
    assert t.dtype == vg.float64
    assert check(t.numpy())


def test_calculate_gain_matches_torch():
    for args in (("linear",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                 ("leaky_relu", 0.2), ("selu",), ("conv2d",)):
        assert init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)


INIT_ERRORS = {
    "fan_1d": lambda lib: lib.nn.init.xavier_uniform_(lib.zeros(3)),
    "mode": lambda lib: lib.nn.init.kaiming_uniform_(lib.zeros(3, 3), mode="fan_avg"),
    "nonlinearity": lambda lib: lib.nn.init.calculate_gain("softplus"),
    "slope": lambda lib: lib.nn.init.calculate_gain("leaky_relu", True),
}


@pytest.mark.parametrize("case", list(INIT_ERRORS))
def test_init_errors_match_torch(case):
    same_error(INIT_ERRORS[case])


def test_zero_element_kaiming_warns():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(vg.empty(0, 3))
