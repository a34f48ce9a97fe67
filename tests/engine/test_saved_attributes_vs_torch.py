"""``grad_fn._saved_self``, ``_saved_result``, ``_saved_dim``...: what a node keeps, under
torch's names, as the autograd mechanics notes show it (an input is the very tensor, an
output a new one), and torch's errors once it is freed or changed in place."""

import numpy as np
import pytest
import torch

import visgrad as vg

CASES = {
    "mul": lambda m, x, w: x * w,
    "mul-one-needs-grad": lambda m, x, w: x * w.detach(),
    "div": lambda m, x, w: x / w,
    "pow": lambda m, x, w: x ** 3,
    "pow-tensor": lambda m, x, w: x ** w,
    "exp": lambda m, x, w: x.exp(),
    "log": lambda m, x, w: x.log(),
    "sqrt": lambda m, x, w: x.sqrt(),
    "tanh": lambda m, x, w: x.tanh(),
    "sigmoid": lambda m, x, w: x.sigmoid(),
    "relu": lambda m, x, w: (x - 2).relu(),
    "abs": lambda m, x, w: x.abs(),
    "sin": lambda m, x, w: x.sin(),
    "reciprocal": lambda m, x, w: x.reciprocal(),
    "erf": lambda m, x, w: m.erf(x),
    "log1p": lambda m, x, w: x.log1p(),
    "expm1": lambda m, x, w: x.expm1(),
    "mm": lambda m, x, w: x.reshape(3, 1) @ w.reshape(1, 3),
    "softmax": lambda m, x, w: x.softmax(0),
    # (a dim given as -1, torch shows as 2⁶⁴ - 1: its binding reads the int64 as unsigned)
    "log_softmax": lambda m, x, w: m.log_softmax(x, 0),
    "maximum": lambda m, x, w: m.maximum(x, w),
    "where": lambda m, x, w: m.where(x > 1.5, x, w),
    "clamp": lambda m, x, w: x.clamp(0.5, 2.5),
    "leaky_relu": lambda m, x, w: m.nn.functional.leaky_relu(x - 2, 0.2),
    "elu": lambda m, x, w: m.nn.functional.elu(x - 2, 0.7),
    "gelu": lambda m, x, w: m.nn.functional.gelu(x, approximate="tanh"),
    "silu": lambda m, x, w: m.nn.functional.silu(x),
    "softplus": lambda m, x, w: m.nn.functional.softplus(x, 2.0, 5.0),
    "sum-dim": lambda m, x, w: x.reshape(1, 3).sum(1, keepdim=True),
    "mean-dim": lambda m, x, w: x.reshape(3, 1).mean(0),
    "var": lambda m, x, w: x.var(0, correction=0),
    "std": lambda m, x, w: x.std(),
    "std-unbiased": lambda m, x, w: x.std(0, False, True),
    "norm": lambda m, x, w: x.norm(3, 0),
    "gather": lambda m, x, w: x.gather(0, m.tensor([2, 0])),
    "logsumexp": lambda m, x, w: x.logsumexp(0),
    "cumsum": lambda m, x, w: x.cumsum(0),
    "prod": lambda m, x, w: x.prod(),
    "prod-dim": lambda m, x, w: x.reshape(3, 1).prod(0, keepdim=True),
}


def _as_plain(value):
    if isinstance(value, vg.Tensor | torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, tuple):
        return tuple(value)
    return value


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_attributes_match_torch(name):
    made = {}
    for lib in (vg, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([0.5, 2.5, 1.0], requires_grad=True)
        out = CASES[name](lib, x, w)
        made[lib] = (out, x, w)
    node, theirs = made[vg][0].grad_fn, made[torch][0].grad_fn
    assert node.name() == theirs.name()
    names = [f"_saved_{n}" for n in (*type(node).saved_names, *type(node).saved_attributes)]
    assert names, f"{node.name()} names nothing it saved"
    for attribute in names:
        mine, expected = getattr(node, attribute), getattr(theirs, attribute)
        if expected is None or mine is None:
            assert mine is None and expected is None, attribute
            continue
        if isinstance(expected, str | bool | int | tuple):
            assert mine == expected, attribute
        else:
            np.testing.assert_allclose(_as_plain(mine), _as_plain(expected), rtol=1e-6,
                                       err_msg=attribute)
        for k, leaf in enumerate(made[torch][1:]):  # the input itself, where torch gives it
            assert (mine is made[vg][1 + k]) == (expected is leaf), attribute


def test_saved_values_are_gone_after_backward_and_checked_for_in_place_changes():
    for lib in (vg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1
        z = y * y
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            _ = z.grad_fn._saved_self
        out = x.exp()
        out.sum().backward()
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second "
                                               "time"):
            _ = out.grad_fn._saved_result
        with pytest.raises(AttributeError):
            _ = out.grad_fn._saved_nothing_of_the_kind
