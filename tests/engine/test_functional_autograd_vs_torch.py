"""vg.autograd.functional against torch.autograd.functional: Jacobians, Hessians and their
products with vectors, with tensors or tuples in and out, create_graph, strict mode and the
errors for functions that return something else."""

import numpy as np
import pytest
import torch

import visgrad as vg

A = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])
B = np.array([0.8, -0.4, 1.1])

FUNCTIONS = {
    "elementwise": (lambda m, x: (x * x).tanh() * x.sigmoid(), (A,)),
    "matrix": (lambda m, x: x @ x.t(), (A,)),
    "reduction-and-softmax": (lambda m, x: x.softmax(1).sum(0) * x.norm(), (A,)),
    "two-in-one-out": (lambda m, x, b: (x * b).exp() - b, (A, B)),
    "two-in-two-out": (lambda m, x, b: (x.sum(0) * b, m.nn.functional.gelu(x) + b), (A, B)),
}
SCALARS = {
    "cubic": (lambda m, x: (x ** 3).sum() + (x[0] * x[1]).sum(), (A,)),
    "logsumexp": (lambda m, x: m.logsumexp(x, 1).sum() + x.var(), (A,)),
    "two-in": (lambda m, x, b: ((x * b).tanh() ** 2).sum() + (b * b * b).sum(), (A, B)),
}


def _call(lib, fn, values, tuple_inputs):
    inputs = tuple(lib.tensor(v) for v in values)
    return (lambda *xs: fn(lib, *xs)), (inputs if tuple_inputs else inputs[0])


def _flat(result):
    if isinstance(result, tuple | list):
        return [a for item in result for a in _flat(item)]
    return [result.detach().numpy()]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jacobian_matches_torch(name):
    fn, values = FUNCTIONS[name]
    results = {}
    for lib in (vg, torch):
        f, inputs = _call(lib, fn, values, len(values) > 1)
        results[lib] = _flat(lib.autograd.functional.jacobian(f, inputs))
    assert [a.shape for a in results[vg]] == [a.shape for a in results[torch]]
    for mine, theirs in zip(results[vg], results[torch]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SCALARS))
@pytest.mark.parametrize("what", ["hessian", "vjp", "vhp", "hvp"])
def test_second_order_tools_match_torch(name, what):
    fn, values = SCALARS[name]
    results = {}
    for lib in (vg, torch):
        f, inputs = _call(lib, fn, values, len(values) > 1)
        tool = getattr(lib.autograd.functional, what)
        if what == "hessian":
            results[lib] = _flat(tool(f, inputs))
        else:
            v = tuple(lib.tensor(np.cos(np.arange(np.size(a))).reshape(np.shape(a)))
                      for a in values)
            v = v if len(values) > 1 else v[0]
            results[lib] = _flat(tool(f, inputs, None if what == "vjp" else v))
    for mine, theirs in zip(results[vg], results[torch], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_create_graph_makes_the_jacobian_differentiable_as_in_torch():
    results = {}
    for lib in (vg, torch):
        x = lib.tensor(A, requires_grad=True)
        jac = lib.autograd.functional.jacobian(lambda t: (t * t).sin(), x, create_graph=True)
        assert jac.requires_grad
        (jac ** 2).sum().backward()
        results[lib] = x.grad.numpy()
    np.testing.assert_allclose(results[vg], results[torch], rtol=1e-10)


def test_unused_inputs_and_constant_outputs_follow_torch():
    for lib in (vg, torch):
        jac = lib.autograd.functional.jacobian(lambda x, b: x * 2, (lib.tensor(B),
                                                                    lib.tensor(B)))
        np.testing.assert_array_equal(jac[1].numpy(), np.zeros((3, 3)))
        constant = lib.autograd.functional.jacobian(lambda x: lib.ones(2), lib.tensor(B))
        np.testing.assert_array_equal(constant.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize(("name", "call"), [
    ("number-out", lambda F, m: F.jacobian(lambda x: 3.0, m.tensor(B))),
    ("strict-constant", lambda F, m: F.jacobian(lambda x: m.ones(2), m.tensor(B), strict=True)),
    ("strict-unused", lambda F, m: F.jacobian(lambda x, b: x * 2, (m.tensor(B), m.tensor(B)),
                                              strict=True)),
    ("vjp-needs-v", lambda F, m: F.vjp(lambda x: x * 2, m.tensor(B))),
])
def test_misuse_fails_as_in_torch(name, call):
    errors = {}
    for lib in (vg, torch):
        with pytest.raises((TypeError, RuntimeError)) as caught:
            call(lib.autograd.functional, lib)
        errors[lib] = (type(caught.value), str(caught.value))
    assert errors[vg] == errors[torch]
