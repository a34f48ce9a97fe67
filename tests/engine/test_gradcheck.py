"""``vg.autograd.gradcheck`` and ``gradgradcheck``: they pass on the engine's ops (float64) and
catch a custom Function whose backward is wrong, as torch's do."""

import importlib
import warnings

import numpy as np
import pytest
import torch

import visgrad as vg
from visgrad.autograd import GradcheckError, gradcheck, gradgradcheck


def leaves(*shapes, positive=False, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        values = rng.uniform(0.5, 1.5, size=shape) * (1 if positive else
                                                       rng.choice([-1, 1], size=shape))
        out.append(vg.tensor(values, dtype=vg.float64, requires_grad=True))
    return tuple(out)




def check(name, fn, *shapes, positive=False):
    marks = ()
    return pytest.param(fn, shapes, positive, id=name, marks=marks)


CHECKS = [
    check("mul-broadcast", lambda a, b: a * b, (2, 3), (3,)),
    check("div", lambda a, b: a / b, (2, 3), (2, 3), positive=True),
    check("rsub-rdiv", lambda a: 2 - 3 / a, (3,), positive=True),
    check("pow-scalar", lambda a: a ** 3, (2, 2)),
    check("pow-tensor", lambda a, b: a ** b, (3,), (3,), positive=True),
    check("pow-scalar-base", lambda a: 2.0 ** a, (3,)),
    check("exp-log-sqrt", lambda a: a.exp() + a.log() + a.sqrt(), (3,), positive=True),
    check("trig", lambda a: a.sin() * a.cos(), (2, 3)),
    check("tanh-sigmoid", lambda a: a.tanh() + a.sigmoid(), (2, 3)),
    check("relu-abs-clamp", lambda a: a.relu() + a.abs() + a.clamp(-0.9, 0.9), (2, 3)),
    check("maximum-minimum", lambda a, b: vg.maximum(a, b) - vg.minimum(a, b), (3,), (3,)),
    check("where", lambda a, b: vg.where(a > 0, a, b), (2, 3), (3,)),
    check("sum-mean", lambda a: a.sum(0) + a.mean(1, keepdim=True), (2, 3)),
    check("max-min", lambda a: a.max(1).values + a.min(), (2, 3)),
    check("matmul-mm", lambda a, b: a @ b, (2, 3), (3, 4)),
    check("matmul-mv-dot", lambda a, b: (a @ b) @ b[:2], (2, 3), (3,)),
    check("matmul-batched", lambda a, b: a @ b, (2, 2, 3), (3, 2)),
    check("matmul-bmm", lambda a, b: a @ b, (2, 2, 3), (2, 3, 2)),
    check("shapes", lambda a: a.t().reshape(3, 2).unsqueeze(0).expand(2, 3, 2).permute(2, 0, 1),
          (2, 3)),
    check("cat-stack", lambda a, b: vg.cat([a, vg.stack([b, b])]), (1, 3), (3,)),
    check("indexing", lambda a: a[0, 1:] + a[[1, 1, 0]].sum(0)[::2].sum(), (2, 3)),
    check("mask", lambda a: a[a > 0] * 2, (3, 3)),
    check("softmax", lambda a: a.softmax(1), (2, 3)),
    check("log-softmax", lambda a: a.log_softmax(0), (2, 3)),
    check("two-outputs", lambda a: (a.exp(), a * 2), (3,)),
]


@pytest.mark.parametrize(("fn", "shapes", "positive"), CHECKS)
def test_gradcheck_passes_on_ops(fn, shapes, positive):
    assert gradcheck(fn, leaves(*shapes, positive=positive))


SMOOTH = [pytest.param(*c.values, id=c.id) for c in CHECKS
          if c.id in ("pow-scalar", "exp-log-sqrt", "trig", "tanh-sigmoid", "softmax")]


@pytest.mark.parametrize(("fn", "shapes", "positive"), SMOOTH)
def test_gradgradcheck_passes_on_smooth_ops(fn, shapes, positive):
    assert gradgradcheck(fn, leaves(*shapes, positive=positive))


def test_gradcheck_agrees_with_torch_on_the_same_functions():
    """Both libraries accept the same correct gradients of the same function."""
    for lib in (vg, torch):
        x = lib.tensor([0.5, -1.2, 2.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[1.0, -0.5, 0.25]], dtype=lib.float64, requires_grad=True)
        check_fn = vg.autograd.gradcheck if lib is vg else torch.autograd.gradcheck
        assert check_fn(lambda x, w: (w * x).tanh().sum(1), (x, w))


class Square(vg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x


class WrongSquare(vg.autograd.Function):
    """x ** 2 whose backward forgets the 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class WrongSecondInput(vg.autograd.Function):
    """a * b whose gradient for b is a's gradient."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * b


def test_gradcheck_passes_on_a_correct_custom_function():
    (x,) = leaves((3,))
    assert gradcheck(Square.apply, (x,))


def test_gradgradcheck_passes_on_a_correct_custom_function():
    (x,) = leaves((3,))
    assert gradgradcheck(Square.apply, (x,))


def test_gradcheck_raises_on_a_wrong_backward():
    (x,) = leaves((3,))
    with pytest.raises(GradcheckError, match="Jacobian mismatch for output 0 with respect to "
                                             "input 0"):
        gradcheck(WrongSquare.apply, (x,))


def test_gradcheck_returns_false_when_asked_not_to_raise():
    (x,) = leaves((3,))
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_names_the_wrong_input():
    a, b = leaves((3,), (3,), seed=1)
    with pytest.raises(GradcheckError, match="with respect to input 1"):
        gradcheck(WrongSecondInput.apply, (a, b))


def test_gradcheck_checks_the_first_of_two_inputs():
    """With the second input not requiring grad, only the (right) first gradient is checked."""
    a, b = leaves((3,), (3,), seed=1)
    assert gradcheck(WrongSecondInput.apply, (a, b.detach()))


def test_gradcheck_error_is_a_runtime_error_as_in_torch():
    torch_gradcheck = importlib.import_module("torch.autograd.gradcheck")
    assert issubclass(GradcheckError, RuntimeError)
    assert issubclass(torch_gradcheck.GradcheckError, RuntimeError)
    assert GradcheckError.__name__ == torch_gradcheck.GradcheckError.__name__


def test_torch_catches_the_same_wrong_backward():
    """The same broken rule written for torch fails torch's gradcheck the same way."""

    class TorchWrongSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x

    x = torch.tensor([0.5, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(TorchWrongSquare.apply, (x,), raise_exception=False) is False
    (y,) = leaves((3,))
    assert gradcheck(WrongSquare.apply, (y,), raise_exception=False) is False


class DetachedSquare(vg.autograd.Function):
    """x ** 2 whose backward is right at first order but detaches x: its second derivative is
    wrong (zero instead of 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x.detach()


def test_a_backward_detached_inside_passes_gradcheck():
    (x,) = leaves((3,))
    assert gradcheck(DetachedSquare.apply, (x,))


def test_gradgradcheck_catches_a_wrong_second_derivative():
    (x,) = leaves((3,))
    assert gradgradcheck(DetachedSquare.apply, (x,), raise_exception=False) is False
    with pytest.raises(GradcheckError):
        gradgradcheck(DetachedSquare.apply, (x,))


def test_gradcheck_requires_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="gradcheck expects at least one input tensor to require "
                                         "gradient"):
        gradcheck(lambda a: a * 2, (vg.ones(2, dtype=vg.float64),))



def second(name, fn, *shapes, positive=False):
    return pytest.param(fn, shapes, positive, id=name)


SECOND_DERIVATIVES = [
    second("pow-exp-log", lambda m, a: (a ** 3 + a.exp() * a.log()).sum(), (3,), positive=True),
    second("trig-tanh-sigmoid", lambda m, a: (a.sin() * a.cos() + a.tanh() * a.sigmoid()).sum(),
           (2, 3)),
    second("div-sqrt", lambda m, a, b: (a / b + (a * b).sqrt()).sum(), (3,), (3,),
           positive=True),
    second("softmax", lambda m, a: (a.softmax(1) ** 2).sum() + a.log_softmax(0).sum(), (2, 3)),
    second("matmul", lambda m, a, b: ((a @ b) ** 2).sum(), (2, 3), (3, 4)),
    second("matmul-batched", lambda m, a, b: ((a @ b).tanh()).sum(), (2, 2, 3), (3, 2)),
    second("indexing", lambda m, a: (a[[0, 0, 1]] ** 3).sum() + (a[0, 1:] ** 2).sum()
           + (a[:, ::2] ** 3).sum(), (2, 3)),
    second("reductions-shapes", lambda m, a: (a.t().reshape(-1) ** 2).mean() * a.max(), (2, 3)),
    second("cat-stack-expand", lambda m, a, b: (m.cat([a, b]) ** 2).sum()
           + (m.stack([a, b]).expand(2, 2, 3) ** 3).sum(), (3,), (3,)),
]


@pytest.mark.parametrize(("fn", "shapes", "positive"), SECOND_DERIVATIVES)
def test_second_derivatives_match_torch(fn, shapes, positive):
    """What gradgradcheck would check, compared with torch directly: the gradient of
    (gradient . v) for a random v, through create_graph=True."""
    rng = np.random.default_rng(3)
    values = [rng.uniform(0.5, 1.5, size=s) * (1 if positive else rng.choice([-1, 1], size=s))
              for s in shapes]
    results = []
    for lib in (torch, vg):
        xs = [lib.tensor(v, dtype=lib.float64, requires_grad=True) for v in values]
        grads = lib.autograd.grad(fn(lib, *xs), xs, create_graph=True)
        directions = [lib.tensor(np.cos(np.arange(v.size)).reshape(v.shape), dtype=lib.float64)
                      for v in values]
        inner = sum((g * d).sum() for g, d in zip(grads, directions))
        results.append([h.detach().numpy() for h in lib.autograd.grad(inner, xs)])
    for theirs, ours in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def _report_of_a_wrong_backward(lib, dtype):
    class Tripled(lib.autograd.Function):  # d(t**2)/dt is 2t, not 3t
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return t ** 2

        @staticmethod
        def backward(ctx, g):
            (t,) = ctx.saved_tensors
            return g * 3 * t

    x = lib.tensor([1.0, 2.0], dtype=getattr(lib, dtype), requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(Exception) as info:  # noqa: PT011 - the type is compared below
            lib.autograd.gradcheck(Tripled.apply, (x,))
    return (type(info.value).__name__, str(info.value),
            [str(w.message) for w in caught if "double precision" in str(w.message)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_backward_is_reported_as_torch_reports_it(dtype):
    """The report prints both Jacobians (a row per input element, a column per output
    element, in the input's dtype), and a float32 input is warned about, as torch does."""
    ours, theirs = _report_of_a_wrong_backward(vg, dtype), _report_of_a_wrong_backward(torch, dtype)
    assert ours == theirs
    assert "analytical:tensor([[3., 0.]" in ours[1]
