"""gather, scatter, scatter_add, sort, topk, cumsum, logsumexp, prod, flip, repeat, the
triangles and norms beyond the op tables (``test_ops_vs_torch.py``
compares values, graphs and gradients): torch's errors for misuse, second derivatives, other
dtypes, and the strict stand-in for a GPU."""

import numpy as np
import pytest
import torch

import visgrad as vg
from visgrad.engine import backend

X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
INDEX = [[0, 0], [2, 1]]


@pytest.mark.parametrize(("name", "call"), [
    ("float-index", lambda m, x: m.gather(x, 1, m.tensor(INDEX).float())),
    ("bool-index", lambda m, x: x.gather(1, m.tensor(INDEX).bool())),
    ("fewer-dims", lambda m, x: x.gather(1, m.tensor([0, 1]))),
    ("out-of-bounds", lambda m, x: x.gather(1, m.tensor([[0, 5], [1, 1]]))),
    ("negative", lambda m, x: x.gather(1, m.tensor([[-1, 0], [1, 1]]))),
    ("index-too-wide", lambda m, x: x.gather(0, m.tensor([[0, 1, 1, 0]]))),
    ("index-too-tall", lambda m, x: x.gather(1, m.tensor([[0], [1], [1]]))),
    ("dim-out-of-range", lambda m, x: x.gather(2, m.tensor(INDEX))),
    ("scatter-src-too-small", lambda m, x: x.scatter(1, m.tensor(INDEX), m.ones(2, 1))),
    ("scatter-dtype", lambda m, x: x.scatter(1, m.tensor(INDEX), m.ones(2, 2).double())),
    ("scatter-add-number", lambda m, x: x.scatter_add(1, m.tensor(INDEX), 2.0)),
    ("scatter-out-of-bounds", lambda m, x: x.scatter(0, m.tensor([[2, 0, 0]]), 1.0)),
    ("topk-too-many", lambda m, x: x.topk(4)),
    ("topk-negative", lambda m, x: x.topk(-1, dim=0)),
    ("sort-dim", lambda m, x: x.sort(dim=3)),
    ("topk-dim", lambda m, x: m.topk(x, 1, dim=-3)),
    ("tril-1d", lambda m, x: x[0].tril()),
    ("repeat-too-few", lambda m, x: x.repeat(2)),
    ("cumsum-dim", lambda m, x: x.cumsum(2)),
    ("logsumexp-dim", lambda m, x: x.logsumexp(-3)),
    ("norm-inf-of-nothing", lambda m, x: m.linalg.vector_norm(x[:0], float("inf"))),
    ("norm-negative-of-nothing", lambda m, x: x[:, :0].norm(-1.5, dim=1)),
    ("norm-ord-text", lambda m, x: m.linalg.vector_norm(x, "fro")),
    ("norm-int", lambda m, x: m.tensor([1, 2]).norm()),
])
def test_misuse_fails_as_in_torch(name, call):
    errors = {}
    for lib in (vg, torch):
        with pytest.raises((RuntimeError, IndexError, TypeError)) as caught:
            call(lib, lib.tensor(X))
        errors[lib] = (type(caught.value), str(caught.value).split("\n")[0])
    assert errors[vg] == errors[torch]


def test_a_src_larger_than_the_index_fails_in_backward_as_in_torch():
    messages = {}
    for lib in (vg, torch):
        src = lib.tensor(X, requires_grad=True)
        out = lib.zeros(2, 3).scatter(1, lib.tensor(INDEX), src)
        np.testing.assert_array_equal(out.detach().numpy(), [[2.0, 0, 0], [0, 5.0, 4.0]])
        with pytest.raises(RuntimeError) as caught:
            out.sum().backward()
        messages[lib] = str(caught.value)
    assert messages[vg] == messages[torch]


@pytest.mark.parametrize(("name", "program"), [
    ("gather", lambda m, x: m.gather(x, 1, m.tensor(INDEX)) ** 2),
    ("scatter", lambda m, x: m.zeros(2, 3, dtype=x.dtype).scatter(
        1, m.tensor(INDEX), x[:, :2] ** 2) * x),
    ("scatter-add", lambda m, x: (x * x).scatter_add(0, m.tensor([[1, 1, 0]]), x[:1] ** 3)),
    ("sort", lambda m, x: (x * m.tensor([[3.0, -1.0, 2.0], [0.5, 2.0, -4.0]], dtype=x.dtype))
     .sort(1).values ** 2),
    ("topk", lambda m, x: m.topk(x * x, 2, dim=1).values ** 2),
    ("cumsum", lambda m, x: (x * x).cumsum(1) * x),
    ("logsumexp", lambda m, x: m.logsumexp(x * x, 1, keepdim=True) * x),
    ("repeat-flip-tril", lambda m, x: (x * x).repeat(2, 1).flip(0).tril() * x.repeat(2, 1)),
    ("log1p-expm1", lambda m, x: (x * x).log1p() * x.expm1()),
    ("prod", lambda m, x: x.prod(1) * x.prod()),
    ("prod-with-zeros", lambda m, x: (x * m.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
                                                   dtype=x.dtype)).prod(0) ** 2),
])
def test_second_derivatives_match_torch(name, program):
    results = {}
    for lib in (vg, torch):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        (g,) = lib.autograd.grad(program(lib, x).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        results[lib] = (g.detach().numpy(), gg.numpy())
        results[lib, "name"] = g.grad_fn.name()
    for mine, theirs in zip(results[vg], results[torch]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    assert results[vg, "name"] == results[torch, "name"]


@pytest.mark.parametrize("values", [[3, -1, 2], [True, True], [1.5, 2.0]])
def test_prod_of_other_dtypes_matches_torch(values):
    for make in (lambda lib: lib.tensor(values), lambda lib: lib.tensor(values).reshape(1, -1)):
        mine, theirs = make(vg), make(torch)
        assert repr(mine.prod()) == repr(theirs.prod())
        assert repr(mine.prod(-1, dtype=vg.float64)) == repr(theirs.prod(-1, dtype=torch.float64))


@pytest.mark.parametrize("values", [[3, 1, 2, 1], [True, False, True], [2.5, -1.0, 2.5]])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_topk_of_other_dtypes_match_torch(values, descending):
    results = {}
    for lib in (vg, torch):
        x = lib.tensor(values)
        ordered = x.sort(descending=descending)
        picked = x.topk(2, largest=descending) if x.dtype != lib.bool else None
        results[lib] = [repr(ordered), repr(lib.argsort(x, descending=descending)),
                        repr(picked)]
    assert results[vg] == results[torch]


@pytest.fixture
def strict_cuda():
    backend.register_backend("cuda", backend.strict_cuda_backend)
    yield "cuda"
    backend.register_backend("cuda", None)


def test_gather_and_scatter_run_on_the_strict_device(strict_cuda):
    x = vg.tensor(X, device=strict_cuda, requires_grad=True)
    index = vg.tensor(INDEX, device=strict_cuda)
    out = x.gather(1, index) * 2 + vg.zeros(2, 3, device=strict_cuda).scatter_add(
        1, index, x[:, :2] * 1).gather(1, index)
    out.sum().backward()
    expected = torch.tensor(X, requires_grad=True)
    t_index = torch.tensor(INDEX)
    t_out = expected.gather(1, t_index) * 2 + torch.zeros(2, 3).scatter_add(
        1, t_index, expected[:, :2] * 1).gather(1, t_index)
    t_out.sum().backward()
    np.testing.assert_allclose(out.detach().cpu().numpy(), t_out.detach().numpy())
    np.testing.assert_allclose(x.grad.cpu().numpy(), expected.grad.numpy())


def test_sort_and_topk_run_on_the_strict_device(strict_cuda):
    values = [[3.0, float("nan"), 2.0], [0.5, 4.0, 0.5]]
    x = vg.tensor(values, device=strict_cuda, requires_grad=True)
    total = x.sort(1, descending=True).values[1].sum() + x.topk(1, dim=0).values.sum()
    total.backward()
    expected = torch.tensor(values, requires_grad=True)
    t_total = expected.sort(1, descending=True).values[1].sum() + \
        expected.topk(1, dim=0).values.sum()
    t_total.backward()
    np.testing.assert_allclose(total.detach().cpu().numpy(), t_total.detach().numpy())
    np.testing.assert_allclose(x.grad.cpu().numpy(), expected.grad.numpy())
