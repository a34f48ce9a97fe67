"""vg.nn.functional against torch.nn.functional: values, gradients (to inputs and targets),
gradients of gradients, grad_fn graphs, every reduction, float32 and float64, and errors."""

import numpy as np
import pytest
import torch

import visgrad as vg
from tests.nn.helpers import close, graph, host, pair, same_error

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = ["float32", "float64"]


def F(lib):
    return lib.nn.functional


def run(fn, *pairs):
    """Call ``fn(lib, *tensors)`` in both libraries; return (ours, theirs) outputs."""
    ours = fn(vg, *(p[0] for p in pairs))
    theirs = fn(torch, *(p[1] for p in pairs))
    return ours, theirs


def check_backward(ours, theirs, pairs, seed_shape_rng=None):
    """Forward values, graph, and the gradients that reach every leaf requiring grad."""
    close(ours, theirs)
    assert graph(ours.grad_fn) == graph(theirs.grad_fn)
    if ours.ndim:
        rng = seed_shape_rng or np.random.default_rng(5)
        g = rng.standard_normal(tuple(theirs.shape)).astype(str(theirs.dtype)[6:])
        ours.backward(vg.tensor(g))
        theirs.backward(torch.tensor(g))
    else:
        ours.backward()
        theirs.backward()
    for a, b in pairs:
        if b.requires_grad:
            close(a.grad, b.grad)


def check_double_backward(fn, pairs):
    """d/dx of sum(v * d loss/dx): second derivatives through each hand-written backward."""
    ours, theirs = run(fn, *pairs)
    leaves = [(a, b) for a, b in pairs if b.requires_grad]
    g_ours = vg.autograd.grad(ours.sum(), [a for a, _ in leaves], create_graph=True)
    g_theirs = torch.autograd.grad(theirs.sum(), [b for _, b in leaves], create_graph=True)
    rng = np.random.default_rng(11)
    total_ours, total_theirs = 0, 0
    for go, gt in zip(g_ours, g_theirs):
        close(go, gt)
        v = rng.standard_normal(tuple(gt.shape)).astype(str(gt.dtype)[6:])
        total_ours = total_ours + (go * vg.tensor(v)).sum()
        total_theirs = total_theirs + (gt * torch.tensor(v)).sum()
    second_theirs = torch.autograd.grad(total_theirs, [b for _, b in leaves], allow_unused=True)
    if not total_ours.requires_grad:  # the engine's sign() records no (zero) gradient
        assert all(st is None or not np.any(host(st)) for st in second_theirs)
        return
    second_ours = vg.autograd.grad(total_ours, [a for a, _ in leaves], allow_unused=True)
    for so, st in zip(second_ours, second_theirs):
        if st is None or so is None:
            assert so is None or not np.any(host(so)), (so, st)
            assert st is None or not np.any(host(st)), (so, st)
        else:
            close(so, st)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---- regression losses ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_losses_match_torch(rng, name, reduction, dtype):
    x = pair(rng.standard_normal((4, 3)), dtype, requires_grad=True)
    t = pair(rng.standard_normal((4, 3)), dtype, requires_grad=True)
    ours, theirs = run(lambda lib, a, b: getattr(F(lib), name)(a, b, reduction=reduction), x, t)
    check_backward(ours, theirs, [x, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1_double_backward(rng, reduction):
    x = pair(rng.standard_normal((3, 2)), "float64", requires_grad=True)
    t = pair(rng.standard_normal((3, 2)), "float64", requires_grad=True)
    for name in ("mse_loss", "l1_loss"):
        check_double_backward(lambda lib, a, b: getattr(F(lib), name)(a, b, reduction=reduction),
                              [x, t])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses_warn_and_broadcast_like_torch(rng, name):
    x = pair(rng.standard_normal((3, 4)), "float32", requires_grad=True)
    t = pair(rng.standard_normal((3, 1)), "float32", requires_grad=True)
    message = r"Using a target size \(torch.Size\(\[3, 1\]\)\) that is different to the input " \
              r"size \(torch.Size\(\[3, 4\]\)\)"
    with pytest.warns(UserWarning, match=message):
        ours = getattr(F(vg), name)(x[0], t[0])
    with pytest.warns(UserWarning, match=message):
        theirs = getattr(F(torch), name)(x[1], t[1])
    check_backward(ours, theirs, [x, t])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_regression_losses(rng, name, reduction):
    x = pair(rng.standard_normal((3, 4)), "float32", requires_grad=True)
    t = pair(rng.standard_normal((3, 4)), "float32", requires_grad=True)
    w = pair(rng.random((3, 4)), "float32")
    ours, theirs = run(lambda lib, a, b, c: getattr(F(lib), name)(a, b, reduction=reduction,
                                                                 weight=c), x, t, w)
    check_backward(ours, theirs, [x, t])


def test_mse_of_integer_target_and_mixed_dtypes(rng):
    x = pair(rng.standard_normal(3), "float32", requires_grad=True)
    t = pair(np.array([0, 1, 1]))
    ours, theirs = run(lambda lib, a, b: F(lib).mse_loss(a, b), x, t)
    check_backward(ours, theirs, [x])
    x = pair(rng.standard_normal(3), "float32", requires_grad=True)
    t = pair(rng.standard_normal(3), "float64", requires_grad=True)
    for name in ("mse_loss", "l1_loss"):
        ours, theirs = run(lambda lib, a, b: getattr(F(lib), name)(a, b), x, t)
        close(ours, theirs)


def test_empty_mean_is_nan_without_warnings():
    for name in ("mse_loss", "l1_loss"):
        ours, theirs = run(lambda lib: getattr(F(lib), name)(lib.zeros(0), lib.zeros(0)))
        assert np.isnan(ours.item()) and np.isnan(theirs.item())


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "cross_entropy", "nll_loss",
                                  "binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_invalid_reduction(name):
    def program(lib):
        x = lib.full((2, 2), 0.5)
        t = lib.tensor([0, 1]) if name in ("cross_entropy", "nll_loss") else lib.full((2, 2), 0.5)
        return getattr(F(lib), name)(x, t, reduction="avg")

    same_error(program)


def test_legacy_size_average_and_reduce(rng):
    x = pair(rng.standard_normal((2, 3)), "float32")
    t = pair(rng.standard_normal((2, 3)), "float32")
    for kwargs in ({"size_average": False}, {"reduce": False}, {"size_average": True}):
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            ours = F(vg).mse_loss(x[0], t[0], **kwargs)
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            theirs = F(torch).mse_loss(x[1], t[1], **kwargs)
        close(ours, theirs)


# ---- nll_loss and cross_entropy --------------------------------------------------------------

CLASS_CASES = {
    "2d": ((5, 4), (5,)),
    "1d": ((4,), ()),
    "3d": ((2, 4, 3), (2, 3)),
    "4d": ((2, 4, 2, 3), (2, 2, 3)),
    "5d": ((2, 3, 2, 1, 2), (2, 2, 1, 2)),
}


def class_inputs(rng, case, dtype, ignore=False):
    shape, target_shape = CLASS_CASES[case]
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    x = pair(rng.standard_normal(shape) * 2, dtype, requires_grad=True)
    target = rng.integers(0, n_classes, target_shape)
    if ignore and target.ndim:
        target.reshape(-1)[::3] = -100
    return x, pair(target), n_classes


@pytest.mark.parametrize("case", list(CLASS_CASES))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_with_class_indices(rng, case, reduction, weighted):
    dtype = "float64" if weighted else "float32"
    x, t, n_classes = class_inputs(rng, case, dtype, ignore=True)
    w = pair(rng.random(n_classes) + 0.5, dtype)

    def fn(lib, a, b, c):
        return F(lib).cross_entropy(a, b, weight=c if weighted else None, reduction=reduction)

    ours, theirs = run(fn, x, t, w)
    check_backward(ours, theirs, [x])


@pytest.mark.parametrize("case", ["2d", "1d", "4d", "3d"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(rng, case, reduction):
    dtype = "float64" if case in ("1d", "3d") else "float32"
    x, t, n_classes = class_inputs(rng, case, dtype)
    w = pair(rng.random(n_classes) + 0.5, dtype)
    for weight in (None, w):
        x[0].grad = x[1].grad = None

        def fn(lib, a, b, c):
            return F(lib).nll_loss(a, b, weight=c if weight is not None else None,
                                   reduction=reduction, ignore_index=1)

        ours, theirs = run(fn, x, t, w)
        check_backward(ours, theirs, [x])


def test_cross_entropy_double_backward(rng):
    x, t, _ = class_inputs(rng, "2d", "float64")
    check_double_backward(lambda lib, a, b: F(lib).cross_entropy(a, b), [x, t])
    check_double_backward(lambda lib, a, b: F(lib).nll_loss(a, b, reduction="none"), [x, t])


def test_nll_loss_everything_ignored(rng):
    x, _, _ = class_inputs(rng, "2d", "float32")
    t = pair(np.full(5, -100))
    for reduction in REDUCTIONS:
        x[0].grad = x[1].grad = None
        ours, theirs = run(lambda lib, a, b: F(lib).nll_loss(a, b, reduction=reduction), x, t)
        np.testing.assert_array_equal(np.isnan(ours.detach().numpy()),
                                      np.isnan(theirs.detach().numpy()))
        ours.sum().backward()
        theirs.sum().backward()
        close(x[0].grad, x[1].grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_with_probabilities(rng, reduction, weighted, smoothing):
    x = pair(rng.standard_normal((4, 3)), "float32", requires_grad=True)
    p = rng.random((4, 3))
    t = pair(p / p.sum(1, keepdims=True), "float32", requires_grad=True)
    w = pair(rng.random(3) + 0.5, "float32")

    def fn(lib, a, b, c):
        return F(lib).cross_entropy(a, b, weight=c if weighted else None, reduction=reduction,
                                    label_smoothing=smoothing)

    ours, theirs = run(fn, x, t, w)
    check_backward(ours, theirs, [x, t])


@pytest.mark.parametrize("case", ["2d", "1d", "3d"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_label_smoothing(rng, case, reduction, weighted):
    x, t, n_classes = class_inputs(rng, case, "float32", ignore=True)
    w = pair(rng.random(n_classes) + 0.5, "float32")

    def fn(lib, a, b, c):
        return F(lib).cross_entropy(a, b, weight=c if weighted else None, reduction=reduction,
                                    label_smoothing=0.2)

    ours, theirs = run(fn, x, t, w)
    check_backward(ours, theirs, [x])


def test_cross_entropy_grad_fn_is_nll_of_log_softmax(rng):
    x, t, _ = class_inputs(rng, "2d", "float32")
    ours = F(vg).cross_entropy(x[0], t[0])
    assert graph(ours.grad_fn) == ("NllLossBackward0", (("LogSoftmaxBackward0",
                                                         (("AccumulateGrad", ()),)),))


CLASS_ERRORS = {
    "target_2d": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.zeros(3, 1,
                                                                             dtype=lib.int64)),
    "batch": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.zeros(2, dtype=lib.int64)),
    "out_of_bounds": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.tensor([0, 1, 7])),
    "negative": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.tensor([0, 1, -3])),
    "float_wrong_shape": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.zeros(3, 5)),
    "int32_target": lambda lib: F(lib).cross_entropy(
        lib.zeros(3, 4), lib.tensor([0, 1, 2], dtype=lib.int32)),
    "k_dim_target": lambda lib: F(lib).cross_entropy(lib.zeros(2, 4, 5),
                                                      lib.zeros(2, 4, dtype=lib.int64)),
    "weight_size": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.tensor([0, 1, 2]),
                                                     weight=lib.ones(3)),
    "weight_dtype": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.tensor([0, 1, 2]),
                                                      weight=lib.ones(4, dtype=lib.int64)),
    "weight_requires_grad": lambda lib: F(lib).cross_entropy(
        lib.zeros(3, 4), lib.tensor([0, 1, 2]), weight=lib.ones(4, requires_grad=True)),
    "scalar_input": lambda lib: F(lib).nll_loss(lib.tensor(1.0), lib.tensor(0)),
    "scalar_both_long": lambda lib: F(lib).cross_entropy(lib.tensor(1.0), lib.tensor(0)),
    "1d_target_size": lambda lib: F(lib).nll_loss(lib.zeros(4), lib.tensor([2, 1])),
    "float_target": lambda lib: F(lib).nll_loss(lib.zeros(3, 4), lib.tensor([2.0, 1, 0])),
    "label_smoothing": lambda lib: F(lib).cross_entropy(lib.zeros(3, 4), lib.tensor([0, 1, 2]),
                                                         label_smoothing=1.5),
    "4d_target_dims": lambda lib: F(lib).nll_loss(lib.zeros(2, 3, 4, 5),
                                                  lib.zeros(2, 4, dtype=lib.int64)),
    "4d_target_size": lambda lib: F(lib).nll_loss(lib.zeros(2, 3, 4, 5),
                                                  lib.zeros(2, 4, 4, dtype=lib.int64)),
    "4d_batch": lambda lib: F(lib).nll_loss(lib.zeros(2, 3, 4, 5),
                                            lib.zeros(3, 4, 5, dtype=lib.int64)),
    "4d_out_of_bounds": lambda lib: F(lib).nll_loss(lib.zeros(2, 3, 4, 5),
                                                    lib.full((2, 4, 5), 7, dtype=lib.int64)),
    "3d_weight": lambda lib: F(lib).nll_loss(lib.zeros(2, 3, 5), lib.ones(2, 5, dtype=lib.int64),
                                             weight=lib.ones(2)),
    "1d_float_target_dtype_first": lambda lib: F(lib).nll_loss(lib.zeros(4),
                                                               lib.tensor([0.5, 0.0])),
    "bce_logits_weight_widens": lambda lib: F(lib).binary_cross_entropy_with_logits(
        lib.zeros(2, 1), lib.zeros(2, 1), weight=lib.ones(3)),
    "bce_logits_pos_weight_widens": lambda lib: F(lib).binary_cross_entropy_with_logits(
        lib.zeros(2, 1), lib.zeros(2, 1), pos_weight=lib.ones(4, 1, 1)),
    "bce_logits_weight_mismatch": lambda lib: F(lib).binary_cross_entropy_with_logits(
        lib.zeros(2, 1), lib.zeros(2, 1), weight=lib.ones(3, 3)),
    "bce_weight_widens": lambda lib: F(lib).binary_cross_entropy(
        lib.full((2, 1), 0.5), lib.zeros(2, 1), weight=lib.ones(3)),
    "bce_logits_empty_weight": lambda lib: F(lib).binary_cross_entropy_with_logits(
        lib.zeros(0, 3, 1), lib.zeros(0, 3, 1), weight=lib.ones(0)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["nll_loss", "cross_entropy", "cross_entropy_smoothed"])
def test_class_losses_of_an_empty_spatial_batch_match_torch(kind, reduction):
    def program(lib):
        x = lib.zeros(0, 4, 2, requires_grad=True)
        target = lib.zeros(0, 2, dtype=lib.int64)
        if kind == "nll_loss":
            y = F(lib).nll_loss(x, target, reduction=reduction)
        else:
            y = F(lib).cross_entropy(x, target, reduction=reduction,
                                     label_smoothing=0.1 if kind.endswith("smoothed") else 0.0)
        y.sum().backward()
        return y, x.grad

    (ours, our_grad), (theirs, their_grad) = program(vg), program(torch)
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(host(ours), host(theirs))
    assert tuple(our_grad.shape) == tuple(their_grad.shape) == (0, 4, 2)


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_of_probabilities_on_an_empty_batch_is_torchs_nan(weighted):
    def program(lib):
        x = lib.zeros(0, 3, requires_grad=True)
        weight = lib.tensor([1.0, 2.0, 0.5]) if weighted else None
        return F(lib).cross_entropy(x, lib.zeros(0, 3), weight=weight)

    ours, theirs = program(vg), program(torch)
    assert np.isnan(ours.item()) and np.isnan(theirs.item())
    assert ours.grad_fn.name() == theirs.grad_fn.name() == "NegBackward0"


@pytest.mark.parametrize("case", list(CLASS_ERRORS))
def test_class_loss_errors_match_torch(case):
    same_error(CLASS_ERRORS[case])


# ---- binary cross entropy ---------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy(rng, reduction, weighted, dtype):
    x = pair(rng.uniform(0.05, 0.95, (4, 3)), dtype, requires_grad=True)
    t = pair(rng.random((4, 3)), dtype, requires_grad=True)
    w = pair(rng.random(3) + 0.5, dtype)

    def fn(lib, a, b, c):
        return F(lib).binary_cross_entropy(a, b, weight=c if weighted else None,
                                           reduction=reduction)

    ours, theirs = run(fn, x, t, w)
    check_backward(ours, theirs, [x, t])


def test_binary_cross_entropy_at_zero_and_one():
    x = pair([0.0, 1.0, 0.0, 1.0, 0.5], "float32", requires_grad=True)
    t = pair([0.0, 1.0, 1.0, 0.0, 0.3], "float32", requires_grad=True)
    ours, theirs = run(lambda lib, a, b: F(lib).binary_cross_entropy(a, b, reduction="none"),
                       x, t)
    check_backward(ours, theirs, [x, t])


def test_binary_cross_entropy_double_backward(rng):
    x = pair(rng.uniform(0.1, 0.9, (3, 2)), "float64", requires_grad=True)
    t = pair(rng.random((3, 2)), "float64", requires_grad=True)
    w = pair(rng.random(2), "float64")
    check_double_backward(lambda lib, a, b: F(lib).binary_cross_entropy(a, b), [x, t])
    check_double_backward(lambda lib, a, b, c: F(lib).binary_cross_entropy(
        a, b, weight=c, reduction="none"), [x, t, w])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("positive", [False, True])
def test_binary_cross_entropy_with_logits(rng, reduction, weighted, positive):
    dtype = "float64" if positive else "float32"
    x = pair(rng.standard_normal((4, 3)) * 3, dtype, requires_grad=True)
    t = pair(rng.random((4, 3)), dtype, requires_grad=True)
    w = pair(rng.random(3) + 0.5, dtype)
    pw = pair(rng.random(3) * 2 + 0.1, dtype)

    def fn(lib, a, b, c, d):
        return F(lib).binary_cross_entropy_with_logits(
            a, b, weight=c if weighted else None, pos_weight=d if positive else None,
            reduction=reduction)

    ours, theirs = run(fn, x, t, w, pw)
    check_backward(ours, theirs, [x, t])


def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits():
    x = pair([-200.0, -50.0, 0.0, 50.0, 200.0], "float32", requires_grad=True)
    t = pair([1.0, 0.0, 0.5, 1.0, 0.0], "float32", requires_grad=True)
    pw = pair([2.0], "float32")
    for pos in (None, pw):
        x[0].grad = x[1].grad = t[0].grad = t[1].grad = None
        ours, theirs = run(lambda lib, a, b, c: F(lib).binary_cross_entropy_with_logits(
            a, b, reduction="none", pos_weight=c if pos is not None else None), x, t, pw)
        assert np.all(np.isfinite(ours.detach().numpy()))
        check_backward(ours, theirs, [x, t])


def test_binary_cross_entropy_with_logits_double_backward(rng):
    x = pair(rng.standard_normal((3, 2)), "float64", requires_grad=True)
    t = pair(rng.random((3, 2)), "float64", requires_grad=True)
    pw = pair(rng.random(2) + 0.5, "float64")
    check_double_backward(lambda lib, a, b: F(lib).binary_cross_entropy_with_logits(a, b),
                          [x, t])
    check_double_backward(lambda lib, a, b, c: F(lib).binary_cross_entropy_with_logits(
        a, b, pos_weight=c, reduction="sum"), [x, t, pw])


BINARY_ERRORS = {
    "bce_shape": lambda lib: F(lib).binary_cross_entropy(lib.full((3, 1), 0.5), lib.zeros(3)),
    "bce_range": lambda lib: F(lib).binary_cross_entropy(lib.full((3,), 1.5), lib.zeros(3)),
    "bce_nan": lambda lib: F(lib).binary_cross_entropy(lib.tensor([float("nan")]),
                                                       lib.zeros(1)),
    "bce_target_range": lambda lib: F(lib).binary_cross_entropy(lib.full((3,), 0.5),
                                                                lib.full((3,), 2.0)),
    "bce_target_dtype": lambda lib: F(lib).binary_cross_entropy(
        lib.full((3,), 0.5), lib.zeros(3, dtype=lib.float64)),
    "bce_long_target": lambda lib: F(lib).binary_cross_entropy(lib.full((3,), 0.5),
                                                               lib.tensor([0, 1, 1])),
    "bce_weight_shape": lambda lib: F(lib).binary_cross_entropy(
        lib.full((3, 2), 0.5), lib.zeros(3, 2), weight=lib.ones(3)),
    "bce_weight_grad": lambda lib: F(lib).binary_cross_entropy(
        lib.full((3,), 0.5), lib.zeros(3), weight=lib.ones(3, requires_grad=True)),
    "logits_shape": lambda lib: F(lib).binary_cross_entropy_with_logits(lib.zeros(3, 1),
                                                                        lib.zeros(3)),
    "logits_weight_shape": lambda lib: F(lib).binary_cross_entropy_with_logits(
        lib.zeros(3, 2), lib.zeros(3, 2), weight=lib.ones(3)),
    "logits_pos_weight_shape": lambda lib: F(lib).binary_cross_entropy_with_logits(
        lib.zeros(3, 2), lib.zeros(3, 2), pos_weight=lib.ones(3)),
    "logits_weight_grad": lambda lib: F(lib).binary_cross_entropy_with_logits(
        lib.zeros(3), lib.zeros(3), weight=lib.ones(3, requires_grad=True)),
}


@pytest.mark.parametrize("case", list(BINARY_ERRORS))
def test_binary_loss_errors_match_torch(case):
    same_error(BINARY_ERRORS[case])


# ---- linear -------------------------------------------------------------------------------

@pytest.mark.parametrize("input_shape", [(5, 3), (3,), (2, 4, 3), (2, 1, 2, 3)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matches_torch_values_gradients_and_graph(rng, input_shape, bias, dtype):
    x = pair(rng.standard_normal(input_shape), dtype, requires_grad=True)
    w = pair(rng.standard_normal((4, 3)), dtype, requires_grad=True)
    b = pair(rng.standard_normal(4), dtype, requires_grad=True)
    ours, theirs = run(lambda lib, a, c, d: F(lib).linear(a, c, d if bias else None), x, w, b)
    check_backward(ours, theirs, [x, w, b] if bias else [x, w])


def test_linear_double_backward(rng):
    x = pair(rng.standard_normal((3, 2)), "float64", requires_grad=True)
    w = pair(rng.standard_normal((4, 2)), "float64", requires_grad=True)
    b = pair(rng.standard_normal(4), "float64", requires_grad=True)
    check_double_backward(lambda lib, a, c, d: F(lib).linear(a, c, d).tanh(), [x, w, b])


LINEAR_ERRORS = {
    "shapes": lambda lib: F(lib).linear(lib.zeros(3, 4), lib.zeros(5, 6)),
    "shapes_1d": lambda lib: F(lib).linear(lib.zeros(4), lib.zeros(5, 6)),
    "shapes_3d": lambda lib: F(lib).linear(lib.zeros(2, 3, 4), lib.zeros(5, 6), lib.zeros(5)),
    "scalar": lambda lib: F(lib).linear(lib.tensor(1.0), lib.zeros(5, 1)),
    "bias": lambda lib: F(lib).linear(lib.zeros(3, 4), lib.zeros(5, 4), lib.zeros(3)),
    "dtype": lambda lib: F(lib).linear(lib.zeros(3, 4), lib.zeros(5, 4, dtype=lib.float64)),
    "dtype_with_bias": lambda lib: F(lib).linear(lib.zeros(3, 4, dtype=lib.int64),
                                                 lib.zeros(5, 4), lib.zeros(5)),
    "dtype_3d_with_bias": lambda lib: F(lib).linear(lib.zeros(2, 3, 4, dtype=lib.float64),
                                                    lib.zeros(5, 4), lib.zeros(5)),
}


@pytest.mark.parametrize("case", list(LINEAR_ERRORS))
def test_linear_errors_match_torch(case):
    same_error(LINEAR_ERRORS[case])


# ---- activations and softmax ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid"])
def test_activations(rng, name):
    x = pair(rng.standard_normal((3, 4)), "float32", requires_grad=True)
    ours, theirs = run(lambda lib, a: getattr(F(lib), name)(a), x)
    check_backward(ours, theirs, [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_functions(rng, name, dim):
    x = pair(rng.standard_normal((3, 4)), "float64", requires_grad=True)
    ours, theirs = run(lambda lib, a: getattr(F(lib), name)(a, dim=dim), x)
    check_backward(ours, theirs, [x])


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_softmax_without_dim_warns_and_picks_torchs_dim(rng, shape):
    x = pair(rng.standard_normal(shape), "float32")
    for name in ("softmax", "log_softmax"):
        with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name}"):
            ours = getattr(F(vg), name)(x[0])
        with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name}"):
            theirs = getattr(F(torch), name)(x[1])
        close(ours, theirs)


def test_softmax_of_integers_is_not_implemented_as_in_torch():
    same_error(lambda lib: F(lib).softmax(lib.tensor([1, -2]), 0))
    same_error(lambda lib: F(lib).log_softmax(lib.tensor([[1, -2]]), 0))


def test_inplace_relu(rng):
    x = pair(rng.standard_normal((3, 4)), "float32", requires_grad=True)
    ours, theirs = run(lambda lib, a: F(lib).relu(a * 1, inplace=True), x)
    check_backward(ours, theirs, [x])


# ---- dropout ------------------------------------------------------------------------------

def test_dropout_scales_kept_values_and_masks_gradient():
    vg.manual_seed(0)
    x = vg.ones(200, 50, requires_grad=True)
    y = F(vg).dropout(x, p=0.3)
    assert y.grad_fn.name() == "MulBackward0"
    values = y.detach().numpy()
    kept = values != 0
    np.testing.assert_allclose(values[kept], np.float32(1) / np.float32(0.7))
    assert abs(kept.mean() - 0.7) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)
    torch_graph = graph(F(torch).dropout(torch.ones(2, requires_grad=True), 0.3).grad_fn)
    assert graph(y.grad_fn) == torch_graph


def test_dropout_is_the_identity_outside_training_and_for_p_zero():
    x = vg.ones(3, requires_grad=True)
    assert F(vg).dropout(x, 0.5, training=False) is x
    assert F(vg).dropout(x, 0.0) is x
    ours = F(vg).dropout(x, 1.0)
    theirs = F(torch).dropout(torch.ones(3, requires_grad=True), 1.0)
    close(ours, theirs)
    assert graph(ours.grad_fn) == graph(theirs.grad_fn)


def test_dropout_seeded_masks_repeat():
    vg.manual_seed(3)
    a = F(vg).dropout(vg.ones(10), 0.5)
    vg.manual_seed(3)
    b = F(vg).dropout(vg.ones(10), 0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_probability_errors(p):
    same_error(lambda lib: F(lib).dropout(lib.ones(2), p))
