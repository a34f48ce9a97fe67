"""Embedding and LayerNorm against torch: values, nodes, gradients (and second derivatives),
errors, printed form, and a small training run that uses both."""

import numpy as np
import pytest
import torch

import visgrad as vg

WEIGHT = np.arange(15.0).reshape(5, 3) / 7 - 1


@pytest.mark.parametrize(("indices", "padding_idx"), [
    ([[0, 1], [4, 0]], None), ([[0, 1], [4, 0]], 1), ([3, 3, 2], -1), (2, None)])
@pytest.mark.parametrize("index_dtype", ["int64", "int32"])
def test_embedding_matches_torch(indices, padding_idx, index_dtype):
    results = {}
    for lib in (vg, torch):
        weight = lib.tensor(WEIGHT, requires_grad=True)
        index = lib.tensor(indices, dtype=getattr(lib, index_dtype))
        out = lib.nn.functional.embedding(index, weight, padding_idx=padding_idx)
        upstream = lib.tensor(np.linspace(-1, 2, out.numel()).reshape(tuple(out.shape)))
        (out * upstream).sum().backward()
        results[lib] = (out.grad_fn.name(), out.detach().numpy(), weight.grad.numpy())
    assert results[vg][0] == results[torch][0]
    for mine, theirs in zip(results[vg][1:], results[torch][1:]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


@pytest.mark.parametrize(("name", "call"), [
    ("out-of-range", lambda m, w: m.nn.functional.embedding(m.tensor([5]), w)),
    ("negative", lambda m, w: m.nn.functional.embedding(m.tensor([-1]), w)),
    ("float-indices", lambda m, w: m.nn.functional.embedding(m.tensor([1.0]), w)),
    ("layer-norm-shape", lambda m, w: m.nn.functional.layer_norm(w, (5,))),
    ("layer-norm-no-shape", lambda m, w: m.nn.functional.layer_norm(w[0, 0], ())),
])
def test_misuse_fails_as_in_torch(name, call):
    errors = {}
    for lib in (vg, torch):
        with pytest.raises((RuntimeError, IndexError)) as caught:
            call(lib, lib.tensor(WEIGHT))
        errors[lib] = (type(caught.value), str(caught.value))
    assert errors[vg] == errors[torch]


def test_embedding_module_prints_and_starts_as_torchs():
    for lib in (vg, torch):
        table = lib.nn.Embedding(10, 4, padding_idx=-2)
        assert repr(table) == "Embedding(10, 4, padding_idx=8)"
        assert table.weight.requires_grad and tuple(table.weight.shape) == (10, 4)
        assert table.weight[8].abs().sum().item() == 0.0
        assert 0.5 < table.weight.detach().std().item() < 1.6  # N(0, 1)
    assert repr(vg.nn.Embedding(3, 2)) == repr(torch.nn.Embedding(3, 2))


@pytest.mark.parametrize(("shape", "normalized", "affine", "bias"), [
    ((2, 3), 3, True, True), ((2, 3, 4), (3, 4), True, True), ((2, 5), [5], False, False),
    ((4,), 4, True, False), ((2, 2, 3), 3, True, True)])
def test_layer_norm_matches_torch(shape, normalized, affine, bias):
    rng = np.random.default_rng(3)
    x_values = rng.standard_normal(shape) * 3 + 1
    results = {}
    for lib in (vg, torch):
        norm = lib.nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine,
                                bias=bias).double()
        if affine:
            with lib.no_grad():
                norm.weight.copy_(lib.tensor(rng.standard_normal(norm.weight.shape)))
        x = lib.tensor(x_values, requires_grad=True)
        out = norm(x)
        upstream = lib.tensor(np.cos(np.arange(out.numel())).reshape(shape))
        (out * upstream).sum().backward()
        grads = [x.grad.numpy()] + [p.grad.numpy() for p in norm.parameters()]
        results[lib] = (repr(norm), out.grad_fn.name(), out.detach().numpy(), *grads)
        rng = np.random.default_rng(3)  # the same weights for the other library
        rng.standard_normal(shape)
    assert results[vg][:2] == results[torch][:2]
    for mine, theirs in zip(results[vg][2:], results[torch][2:]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_layer_norm_second_derivatives_match_torch():
    results = {}
    for lib in (vg, torch):
        x = lib.tensor([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]], dtype=lib.float64,
                       requires_grad=True)
        w = lib.tensor([1.5, -0.5, 2.0], dtype=lib.float64, requires_grad=True)
        out = lib.nn.functional.layer_norm(x, (3,), w, None)
        (g,) = lib.autograd.grad((out * out * out).sum(), x, create_graph=True)
        hx, hw = lib.autograd.grad((g * g).sum(), [x, w])
        results[lib] = (g.detach().numpy(), hx.numpy(), hw.numpy())
    for mine, theirs in zip(results[vg], results[torch]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_a_tiny_language_model_trains_as_torchs():
    tokens = np.array([[1, 4, 2, 0], [3, 3, 1, 4]])
    targets = np.array([4, 2, 0, 1, 3, 1, 4, 0])
    torch.manual_seed(5)
    start = None
    losses = {}
    for lib in (torch, vg):
        nn = lib.nn
        model = nn.Sequential(nn.Embedding(5, 6), nn.LayerNorm(6), nn.GELU(),
                              nn.Linear(6, 5)).double()
        if start is None:
            start = [p.detach().numpy().copy() for p in model.parameters()]
        else:
            for p, value in zip(model.parameters(), start):
                p.data = lib.tensor(value)
        optimizer = lib.optim.Adam(model.parameters(), lr=0.05)
        losses[lib] = []
        for _ in range(6):
            optimizer.zero_grad()
            logits = model(lib.tensor(tokens)).reshape(-1, 5)
            loss = nn.functional.cross_entropy(logits, lib.tensor(targets))
            loss.backward()
            optimizer.step()
            losses[lib].append(loss.item())
    np.testing.assert_allclose(losses[vg], losses[torch], rtol=1e-10)
    assert losses[vg][-1] < losses[vg][0]


@pytest.mark.parametrize(("kind", "shape", "options"), [
    ("BatchNorm1d", (4, 3), {}), ("BatchNorm1d", (4, 3, 5), {"momentum": 0.3}),
    ("BatchNorm2d", (3, 2, 4, 4), {}), ("BatchNorm1d", (5, 3), {"momentum": None}),
    ("BatchNorm1d", (4, 3), {"affine": False}),
    ("BatchNorm1d", (4, 3), {"track_running_stats": False, "bias": False})])
def test_batch_norm_trains_and_evaluates_as_torchs(kind, shape, options):
    rng = np.random.default_rng(8)
    batches = [rng.standard_normal(shape) * 2 + 1 for _ in range(3)]
    results = {}
    for lib in (vg, torch):
        norm = getattr(lib.nn, kind)(shape[1], **options).double()
        seen = [repr(norm), sorted(norm.state_dict())]
        for values in batches:  # three training steps, then evaluation
            x = lib.tensor(values, requires_grad=True)
            out = norm(x)
            (out * lib.tensor(np.sin(np.arange(out.numel())).reshape(shape))).sum().backward()
            seen += [out.grad_fn.name(), out.detach().numpy(), x.grad.numpy()]
            seen += [p.grad.numpy() for p in norm.parameters()]
            for p in norm.parameters():
                p.grad = None
        seen += [b.numpy() for b in norm.buffers()]
        norm.eval()
        x = lib.tensor(batches[0], requires_grad=True)
        out = norm(x)
        out.sum().backward()
        seen += [out.detach().numpy(), x.grad.numpy()]
        results[lib] = seen
    for mine, theirs in zip(results[vg], results[torch], strict=True):
        if isinstance(theirs, np.ndarray):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
        else:
            assert mine == theirs


@pytest.mark.parametrize(("name", "call"), [
    ("one-per-channel", lambda m: m.nn.BatchNorm1d(3)(m.ones(1, 3))),
    ("dims-1d", lambda m: m.nn.BatchNorm1d(3)(m.ones(2, 3, 4, 5))),
    ("dims-2d", lambda m: m.nn.BatchNorm2d(3)(m.ones(2, 3))),
])
def test_batch_norm_misuse_fails_as_in_torch(name, call):
    errors = {}
    for lib in (vg, torch):
        with pytest.raises(ValueError) as caught:
            call(lib)
        errors[lib] = str(caught.value)
    assert errors[vg] == errors[torch]


def test_batch_norm_second_derivatives_match_torch():
    results = {}
    for lib in (vg, torch):
        x = lib.tensor([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0], [2.0, 0.0, -1.0]],
                       dtype=lib.float64, requires_grad=True)
        w = lib.tensor([1.5, -0.5, 2.0], dtype=lib.float64, requires_grad=True)
        out = lib.nn.functional.batch_norm(x, None, None, w, None, training=True)
        (g,) = lib.autograd.grad((out * out * out).sum(), x, create_graph=True)
        hx, hw = lib.autograd.grad((g * g).sum(), [x, w])
        results[lib] = (g.detach().numpy(), hx.numpy(), hw.numpy())
    for mine, theirs in zip(results[vg], results[torch]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
