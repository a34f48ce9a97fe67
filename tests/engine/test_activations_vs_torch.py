"""leaky_relu, elu, gelu, silu, softplus, erf, var, std and norm beyond the op tables
(``test_ops_vs_torch.py`` compares their values, graphs and gradients): second derivatives,
half precision, the errors and warnings torch gives, and the modules' printed form."""

import warnings

import numpy as np
import pytest
import torch

import visgrad as vg

FUNCTIONS = {
    "leaky_relu": lambda m, x: m.nn.functional.leaky_relu(x, 0.2),
    "leaky_relu-times-x": lambda m, x: m.nn.functional.leaky_relu(x, 0.2) * x,
    "relu": lambda m, x: x.relu(),
    "relu-of-square": lambda m, x: (x * x).relu() * x,
    "elu": lambda m, x: m.nn.functional.elu(x, 1.3),
    "gelu": lambda m, x: m.nn.functional.gelu(x),
    "gelu-tanh": lambda m, x: m.nn.functional.gelu(x, approximate="tanh"),
    "silu": lambda m, x: m.nn.functional.silu(x),
    "softplus": lambda m, x: m.nn.functional.softplus(x, 1.5, 2.0),
    "erf": lambda m, x: m.erf(x),
    "var": lambda m, x: x.var(0) * x,
    "std": lambda m, x: x.std(0, keepdim=True) * x,
    "norm": lambda m, x: x.norm(dim=0) * x,
    "norm-p3": lambda m, x: x.norm(p=3, dim=1, keepdim=True) * x,
    "norm-p1": lambda m, x: x.norm(p=1) * x,
}
VALUES = np.array([[-2.5, -0.7, 0.3], [0.9, 1.4, -1.1]])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_second_derivatives_match_torch(name):
    results = {}
    for lib in (vg, torch):
        x = lib.tensor(VALUES, dtype=lib.float64, requires_grad=True)
        y = FUNCTIONS[name](lib, x)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        results[lib] = (g.detach().numpy(), gg.numpy())
        results[lib, "node"] = g.grad_fn.name()
    for mine, theirs in zip(results[vg], results[torch]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    if name in ("relu", "leaky_relu"):  # the gradient's own node, as torch records it
        assert results[vg, "node"] == results[torch, "node"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_half_precision_matches_torch(name):
    results = {}
    for lib in (vg, torch):
        x = lib.tensor(VALUES, dtype=lib.float16, requires_grad=True)
        y = FUNCTIONS[name](lib, x)
        y.backward(lib.ones_like(y))
        assert y.dtype == lib.float16 and x.grad.dtype == lib.float16
        results[lib] = (y.detach().float().numpy(), x.grad.float().numpy())
    for mine, theirs in zip(results[vg], results[torch]):
        np.testing.assert_allclose(mine, theirs, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize(("name", "call"), [
    ("leaky_relu", lambda m, x: m.nn.functional.leaky_relu(x)),
    ("elu", lambda m, x: m.nn.functional.elu(x)),
    ("gelu", lambda m, x: m.nn.functional.gelu(x)),
    ("silu", lambda m, x: m.nn.functional.silu(x)),
    ("softplus", lambda m, x: m.nn.functional.softplus(x)),
    ("var", lambda m, x: x.var()),
    ("std", lambda m, x: m.std(x)),
    ("norm", lambda m, x: x.norm()),
    ("gelu-approximate", lambda m, x: m.nn.functional.gelu(x * 1.0, approximate="fast")),
])
@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_refusals_match_torch(name, call, dtype):
    errors = {}
    for lib in (vg, torch):
        x = lib.tensor([1, 0, 2], dtype=getattr(lib, dtype))
        with pytest.raises((RuntimeError, NotImplementedError)) as caught:
            call(lib, x)
        errors[lib] = (type(caught.value), str(caught.value).split("\n")[0])
    assert errors[vg] == errors[torch]


def test_erf_of_integers_and_bools_is_float32_as_in_torch():
    for values in ([0, 1, 2], [True, False]):
        mine, theirs = vg.erf(vg.tensor(values)), torch.erf(torch.tensor(values))
        assert mine.dtype == vg.float32 and theirs.dtype == torch.float32
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-7)


@pytest.mark.parametrize(("name", "call"), [
    ("leaky_relu", lambda m, x: m.nn.functional.leaky_relu(x, -0.5, inplace=True)),
    ("elu", lambda m, x: m.nn.functional.elu(x, -1.0, inplace=True)),
])
def test_an_in_place_activation_with_a_negative_slope_refuses_backward_as_torch(name, call):
    messages = {}
    for lib in (vg, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = call(lib, x * 1)
        with pytest.raises(RuntimeError) as caught:
            y.sum().backward()
        messages[lib] = str(caught.value)
    assert messages[torch].startswith(messages[vg])
    assert "with a negative slope" in messages[vg]


def test_in_place_activations_change_the_tensor_and_keep_what_torch_keeps():
    for lib in (vg, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 1
        out = lib.nn.functional.elu(y, inplace=True)
        assert out is y and out.grad_fn.name() == "EluBackward1"
        z = lib.nn.functional.silu(x * 1, inplace=True)
        assert z.grad_fn.name() == "SiluBackward0"
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        vg.nn.functional.leaky_relu(vg.tensor([1.0], requires_grad=True), inplace=True)


@pytest.mark.parametrize(("name", "call"), [
    ("var-one-element", lambda m: m.tensor([1.0]).var()),
    ("var-empty", lambda m: m.tensor([]).var()),
    ("std-0d-dim", lambda m: m.tensor(3.0).std(0)),
    ("var-correction-too-big", lambda m: m.tensor([1.0, 2.0]).var(correction=3)),
])
def test_no_degrees_of_freedom_warn_and_give_torchs_value(name, call):
    results = {}
    for lib in (vg, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call(lib)
        texts = [str(w.message) for w in caught]
        assert any("degrees of freedom is <= 0" in t for t in texts), texts
        results[lib] = out.numpy()
    np.testing.assert_array_equal(results[vg], results[torch])


def test_var_takes_torchs_argument_forms():
    data = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    for call in (lambda m, x: m.var(x, False), lambda m, x: x.var(1, True, True),
                 lambda m, x: x.std(dim=0, correction=0.5), lambda m, x: m.var(x, [0, 1])):
        mine, theirs = call(vg, vg.tensor(data)), call(torch, torch.tensor(data))
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-12)
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        vg.tensor(data).var(0, unbiased=True, correction=1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        vg.tensor(data).std(2)


def test_modules_print_as_torchs():
    for build in (lambda nn: nn.LeakyReLU(), lambda nn: nn.LeakyReLU(0.2, inplace=True),
                  lambda nn: nn.ELU(), lambda nn: nn.ELU(0.5, True), lambda nn: nn.GELU(),
                  lambda nn: nn.GELU("tanh"), lambda nn: nn.SiLU(), lambda nn: nn.SiLU(True),
                  lambda nn: nn.Softplus(), lambda nn: nn.Softplus(2, 10),
                  lambda nn: nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1))):
        assert repr(build(vg.nn)) == repr(build(torch.nn))


def test_a_network_with_the_new_activations_trains_as_torchs():
    rng = np.random.default_rng(4)
    x, target = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    torch.manual_seed(0)
    weights = None
    losses = {}
    for lib in (torch, vg):
        nn = lib.nn
        net = nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 8), nn.LeakyReLU(0.1),
                            nn.Linear(8, 8), nn.SiLU(), nn.Linear(8, 8), nn.ELU(),
                            nn.Linear(8, 1), nn.Softplus()).double()
        if weights is None:
            weights = [p.detach().numpy().copy() for p in net.parameters()]
        else:  # the same starting weights in both
            for parameter, value in zip(net.parameters(), weights):
                parameter.data = lib.tensor(value)
        optimizer = lib.optim.SGD(net.parameters(), lr=0.1)
        inputs, targets = lib.tensor(x), lib.tensor(target)
        losses[lib] = []
        for _ in range(5):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(net(inputs), targets)
            loss.backward()
            optimizer.step()
            losses[lib].append(loss.item())
    np.testing.assert_allclose(losses[vg], losses[torch], rtol=1e-12)
    assert losses[vg][-1] < losses[vg][0]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_gradient_is_recorded_as_torchs(reduction):
    # its second derivative is zeros for the input, and the loss's weights for the seed
    results = {}
    for lib in (vg, torch):
        x = lib.tensor(VALUES, dtype=lib.float64, requires_grad=True)
        loss = lib.nn.functional.nll_loss(x, lib.tensor([2, 0]), reduction=reduction)
        seed = lib.ones_like(loss, requires_grad=True)
        (g,) = lib.autograd.grad(loss, x, seed, create_graph=True)
        hx, hs = lib.autograd.grad((g * g * 3).sum(), [x, seed])
        results[lib] = (g.grad_fn.name(), g.detach().numpy(), hx.numpy(), hs.numpy())
    assert results[vg][0] == results[torch][0]
    for mine, theirs in zip(results[vg][1:], results[torch][1:]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
