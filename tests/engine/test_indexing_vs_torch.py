"""Indexing, writes through indices, and in-place ops against torch: values, graphs, gradients.

torch turns ``x[0, 1:]`` into select then slice, advanced indices into one IndexBackward0, and
``x[key] = v`` into CopySlices, IndexPutBackward0, CopyBackwards or FillBackward3 depending on
the key; visgrad must record the same graph.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.twins import check_program, exact, leaf, make_inputs

DTYPES = ["float32", "float64"]


def case(name, fn, *inputs, marks=()):
    return pytest.param(fn, inputs, id=name, marks=marks)


def index(key):
    """``x[key]``, where a callable key is built with the library (for tensor indices)."""
    return lambda m, a: a[key(m) if callable(key) else key]


GETITEM = [
    case("int", index(1), leaf(2, 3)),
    case("negative-int", index(-1), leaf(2, 3)),
    case("two-ints", index((1, -1)), leaf(2, 3)),
    case("int-to-0d", index(2), leaf(3)),
    case("slice", index(slice(1, None)), leaf(3, 5)),
    case("full-slice", index(slice(None)), leaf(3, 5)),
    case("slice-step", index((slice(None), slice(None, None, 2))), leaf(2, 5)),
    case("slice-start-step", index((slice(None, None, 3), slice(1, None, 2))), leaf(4, 6)),
    case("slice-negative-bounds", index(slice(-2, None)), leaf(3)),
    case("slice-past-end", index(slice(1, 10)), leaf(3)),
    case("slice-empty", index(slice(2, 1)), leaf(3)),
    case("two-slices", index((slice(1, None), slice(1, None))), leaf(4, 6)),
    case("whole-slice-written-negatively", index((0, slice(-3, None))), leaf(2, 3)),
    case("whole-slice-past-the-end", index((0, slice(0, 5))), leaf(2, 3)),
    case("slice-to-0-of-an-empty-dim", index((slice(None, -1), Ellipsis)), leaf(0, 2)),
    case("two-ellipses-then-whole-slice", index((Ellipsis, Ellipsis, slice(None, 1))),
         leaf(1, 1)),
    case("masked_fill", lambda m, a: a.masked_fill(a > 0, 0.5) * 2, leaf(2, 3)),
    case("masked_fill-broadcast-mask",
         lambda m, a: m.masked_fill(a, m.tensor([True, False, True]), -1.0), leaf(2, 3)),
    case("masked_fill-mask-widens", lambda m, a: a.masked_fill(m.tensor([[True], [False]]), 2.0),
         leaf(3)),
    case("masked_fill-0d-tensor-value", lambda m, a, v: a.masked_fill(a > 0, v), leaf(2, 3),
         leaf()),
    case("masked_fill-minus-inf-then-softmax",
         lambda m, a: a.masked_fill(m.tensor([True, False, False]), -float("inf")).softmax(-1),
         leaf(2, 3)),
    case("full-then-slice", index((slice(None), slice(1, None))), leaf(4, 6)),
    case("full-slices-only", index((slice(None), slice(None))), leaf(2, 3)),
    case("ellipsis-only", index(Ellipsis), leaf(2, 3)),
    case("empty-tuple-on-0d", index(()), leaf()),
    case("int-then-slice", index((0, slice(1, None))), leaf(3, 5)),
    case("int-slice-int", index((1, slice(None), 2)), leaf(2, 3, 4)),
    case("none", index(None), leaf(3)),
    case("none-then-int", index((None, 1)), leaf(3, 5)),
    case("int-then-none", index((1, None)), leaf(3, 5)),
    case("ellipsis-int", index((Ellipsis, 1)), leaf(2, 3, 5)),
    case("ellipsis-none", index((Ellipsis, None)), leaf(2, 3)),
    case("int-ellipsis-slice", index((0, Ellipsis, slice(1, None))), leaf(2, 3, 4)),
    case("true", index(True), leaf(3)),
    case("false", index(False), leaf(3)),
    case("list", index([0, 2, 0]), leaf(3, 5)),
    case("list-negative", index([-1, 0, -1]), leaf(3)),
    case("list-empty", index(([],)), leaf(3)),
    case("tensor", index(lambda m: m.tensor([0, 2, 2])), leaf(3, 5)),
    case("tensor-2d", index(lambda m: m.tensor([[0, 1], [1, 1]])), leaf(2, 3)),
    case("tensor-0d-int", index(lambda m: m.tensor(1)), leaf(3)),
    case("int32-tensor", index(lambda m: m.tensor([1, 0], dtype=m.int32)), leaf(3)),
    case("mask", index(lambda m: m.tensor([[True, False, True], [False, False, True]])),
         leaf(2, 3)),
    case("mask-rows", index(lambda m: m.tensor([True, False])), leaf(2, 3)),
    case("mask-from-comparison", lambda m, a: a[a > 0], leaf(3, 5)),
    case("mask-then-slice", index(lambda m: (m.tensor([True, False, True, True]),
                                             slice(1, None))), leaf(4, 6)),
    case("slice-then-list", index((slice(1, None), [0, 3])), leaf(3, 5)),
    case("list-then-slice", index(([0, 2], slice(1, 3))), leaf(3, 5)),
    case("two-lists", index(([0, 2], [1, 1])), leaf(3, 5)),
    case("two-lists-broadcast", index(([[0], [1]], [0, 2])), leaf(2, 3)),
    case("lists-split-by-slice", index(([0, 1], slice(None), [1, 0])), leaf(2, 3, 5)),
    case("int-then-list", index((0, [1, 2])), leaf(2, 3, 5)),
    case("ellipsis-list", index((Ellipsis, [0, 2])), leaf(2, 3, 4)),
    case("none-list", index((None, [0, 1])), leaf(2, 3, 4)),
    case("list-slice-list", index(([0, 1], slice(1, None), [0, 2])), leaf(2, 3, 4)),
    case("repeated-index-accumulates", lambda m, a: a[[0, 0, 1, 0]] * 2, leaf(2, 3)),
    case("index-of-index", lambda m, a: a[1:][0][::2], leaf(3, 5)),
    case("narrow-then-index", lambda m, a: a.narrow(0, 1, 2)[[1, 0]], leaf(3, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("fn", "inputs"), GETITEM)
def test_getitem_matches_torch(fn, inputs, dtype):
    check_program(fn, *make_inputs(inputs, dtype))


def written(key, value=lambda m, v: v, base=lambda a: a * 1):
    """``y = a * 1; y[key] = value(v); return y`` (a non-leaf, so the write is allowed)."""

    def program(m, a, *v):
        y = base(a)
        k = key(m) if callable(key) else key
        y[k] = value(m, *v)
        return y

    return program


SETITEM = [
    case("negative-whole-slice", written(slice(-2, None), lambda m: 7.0), leaf(2, 3)),
    case("whole-slice-then-negative-whole", written((slice(None), slice(-3, None)),
                                                    lambda m: 7.0), leaf(2, 3)),
    case("false-writes-nothing", written(False, lambda m: 7.0), leaf(2, 3)),
    case("true-copies", written(True, lambda m, v: v), leaf(2, 3), leaf(3)),
    case("false-in-a-tuple", written((False, 0), lambda m, v: v), leaf(2, 3), leaf(3)),
    case("into-an-empty-tensor", written(slice(None, None, 2), lambda m: 3.0), leaf(3, 0)),
    case("list-into-an-empty-tensor", written([1, 2, -1], lambda m, v: v), leaf(3, 0), leaf()),
    case("index-put-value-with-leading-ones",
         written([0, 1], lambda m, v: v.reshape(1, 1, 3)), leaf(2, 3), leaf(3)),
    case("int", written(0), leaf(2, 3), leaf(3)),
    case("int-python-float", written(0, lambda m: 2.5), leaf(2, 3)),
    case("int-python-int", written(1, lambda m: 3), leaf(2, 3)),
    case("int-0d-tensor", written(0, lambda m, v: v), leaf(2, 3), leaf()),
    case("int-broadcast-row", written(0, lambda m, v: v[:1]), leaf(2, 3), leaf(3)),
    case("int-leading-ones", written(0, lambda m, v: v.reshape(1, 3)), leaf(2, 3), leaf(3)),
    case("slice-broadcast", written(slice(1, None)), leaf(2, 3), leaf(3)),
    case("slice-leading-ones", written(slice(0, 1), lambda m, v: v.reshape(1, 1, 3)),
         leaf(2, 3), leaf(3)),
    case("slice-step", written((slice(None), slice(None, None, 2)), lambda m, v: v[:2]),
         leaf(2, 3), leaf(3)),
    case("two-ints", written((1, 2), lambda m, v: v[0]), leaf(2, 3), leaf(3)),
    case("two-ints-float", written((1, 2), lambda m: 5.0), leaf(2, 3)),
    case("ellipsis-int", written((Ellipsis, 1), lambda m, v: v[:2]), leaf(2, 3), leaf(3)),
    case("none-int", written((None, 0)), leaf(2, 3), leaf(3)),
    case("true", written(True, lambda m: 1.0), leaf(2, 3)),
    case("ellipsis-whole-same-shape", written(Ellipsis, lambda m, v: v * 2), leaf(2, 3),
         leaf(2, 3)),
    case("ellipsis-whole-broadcast", written(Ellipsis), leaf(2, 3), leaf(3)),
    case("full-slice-whole", written(slice(None)), leaf(2, 3), leaf(3)),
    case("full-slices-whole", written((slice(None), slice(None))), leaf(2, 3), leaf(3)),
    case("explicit-full-slice-whole", written(slice(0, 2)), leaf(2, 3), leaf(3)),
    case("whole-python-float", written(Ellipsis, lambda m: 2.0), leaf(2, 3)),
    case("whole-0d-tensor", written(Ellipsis, lambda m, v: v), leaf(2, 3), leaf()),
    case("list", written([0, 1]), leaf(2, 3), leaf(3)),
    case("list-repeated", written([0, 0]), leaf(2, 3), leaf(3)),
    case("list-python-float", written([0, 1], lambda m: 1.0), leaf(2, 3)),
    case("list-0d-tensor", written([1], lambda m, v: v), leaf(2, 3), leaf()),
    case("mask-python-float",
         written(lambda m: m.tensor([[True, False, True], [False, False, True]]),
                 lambda m: 0.0), leaf(2, 3)),
    case("mask-tensor", written(lambda m: m.tensor([True, False])), leaf(2, 3), leaf(3)),
    case("mask-0d-tensor", written(lambda m: m.tensor([[True, False, True], [False, True, True]]),
                                   lambda m, v: v), leaf(2, 3), leaf()),
    case("full-slice-then-list", written((slice(None), [0, 2]), lambda m: 1.0), leaf(2, 3)),
    case("int-then-list", written((0, [0, 2]), lambda m, v: v[:2]), leaf(2, 3), leaf(3)),
    case("slice-then-list", written((slice(1, None), [0, 2]), lambda m, v: v[:2]), leaf(2, 3),
         leaf(3)),
    case("target-without-grad", written(0, base=lambda a: a.detach() * 1), leaf(2, 3), leaf(3)),
    case("target-without-grad-list", written([1], base=lambda a: a.detach() * 1), leaf(2, 3),
         leaf(3)),
    case("twice", lambda m, a, v: _twice(a, v), leaf(2, 3), leaf(3)),
]


def _twice(a, v):
    y = a * 1
    y[0] = v
    y[1, 1:] = v[1:] * 2
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("fn", "inputs"), SETITEM)
def test_setitem_matches_torch(fn, inputs, dtype):
    check_program(fn, *make_inputs(inputs, dtype))


@pytest.mark.parametrize(("key", "target", "value"), [
    pytest.param(0, "float32", "float64", id="int-float64-into-float32"),
    pytest.param(slice(0, 1), "float32", "float64", id="slice-float64-into-float32"),
    pytest.param(Ellipsis, "float32", "float64", id="whole-float64-into-float32"),
    pytest.param(Ellipsis, "float64", "float32", id="whole-float32-into-float64"),
    pytest.param(0, "float64", "float32", id="int-float32-into-float64"),
    pytest.param(slice(0, 1), "float64", "float32", id="slice-float32-into-float64"),
])
def test_setitem_of_another_dtype_matches_torch(key, target, value):
    """copy_ casts the value itself: no ToCopyBackward0 in the graph, a cast in the backward."""
    (a,) = make_inputs([leaf(2, 3)], target)
    (v,) = make_inputs([leaf(3)], value, seed=1)
    check_program(written(key), a, v, printed=False)


def test_setitem_converts_python_numbers_like_torch():
    def program(m):
        y = m.zeros(3, dtype=m.int64)
        y[0] = 2.7
        y[[1]] = -1.9
        y[2] = m.tensor(3.9)
        return y

    check_program(program)


def inplace(*steps):
    """``y = a * 1`` then each step ``step(m, y, *others)`` in place; returns y."""

    def program(m, a, *others):
        y = a * 1
        for step in steps:
            step(m, y, *others)
        return y

    return program


INPLACE = [
    case("add_", inplace(lambda m, y, b: y.add_(b)), leaf(2, 3), leaf(3)),
    case("add_-scalar", inplace(lambda m, y: y.add_(2)), leaf(2, 3)),
    case("iadd", inplace(lambda m, y, b: y.__iadd__(b)), leaf(2, 3), leaf(2, 3)),
    case("sub_", inplace(lambda m, y, b: y.sub_(b)), leaf(2, 3), leaf(2, 1)),
    case("mul_", inplace(lambda m, y, b: y.mul_(b)), leaf(2, 3), leaf(3)),
    case("imul-scalar", inplace(lambda m, y: y.__imul__(3)), leaf(2, 3)),
    case("div_", inplace(lambda m, y, b: y.div_(b)), leaf(2, 3), leaf(3)),
    case("pow_", inplace(lambda m, y: y.pow_(2)), leaf(2, 3)),
    case("exp_", inplace(lambda m, y: y.exp_()), leaf(2, 3)),
    case("neg_", inplace(lambda m, y: y.neg_()), leaf(2, 3)),
    case("relu_", inplace(lambda m, y: y.relu_()), leaf(2, 3)),
    case("clamp_", inplace(lambda m, y: y.clamp_(-0.5, 0.5)), leaf(2, 3)),
    case("clamp_-tensor-bound", inplace(lambda m, y, b: y.clamp_(min=b)), leaf(2, 3), leaf(3)),
    case("masked_fill_", inplace(lambda m, y: y.masked_fill_(y > 0, 0.0)), leaf(2, 3)),
    case("masked_fill_-tensor-value", inplace(lambda m, y, v: y.masked_fill_(y < 0, v)),
         leaf(2, 3), leaf()),
    case("abs_", inplace(lambda m, y: y.abs_()), leaf(2, 3)),
    case("sigmoid_", inplace(lambda m, y: y.sigmoid_()), leaf(2, 3)),
    case("tanh_", inplace(lambda m, y: y.tanh_()), leaf(2, 3)),
    case("sin_", inplace(lambda m, y: y.sin_()), leaf(2, 3)),
    case("cos_", inplace(lambda m, y: y.cos_()), leaf(2, 3)),
    case("sign_", inplace(lambda m, y: y.sign_()), leaf(2, 3)),
    case("log_-of-a-positive-sum", lambda m, a: (a * a + 1).log_(), leaf(2, 3)),
    case("sqrt_-of-a-positive-sum", lambda m, a: (a * a + 1).sqrt_(), leaf(2, 3)),
    case("reciprocal_", inplace(lambda m, y: y.reciprocal_()), leaf(2, 3)),
    case("fill_-number", inplace(lambda m, y: y.fill_(2.0)), leaf(2, 3)),
    case("fill_-0d-tensor", inplace(lambda m, y, v: y.fill_(v)), leaf(2, 3), leaf()),
    case("zero_", inplace(lambda m, y: y.zero_()), leaf(2, 3)),
    case("copy_", inplace(lambda m, y, b: y.copy_(b)), leaf(2, 3), leaf(2, 3)),
    case("copy_-broadcast", inplace(lambda m, y, b: y.copy_(b)), leaf(2, 3), leaf(3)),
    case("chain", inplace(lambda m, y: y.mul_(2), lambda m, y: y.add_(1),
                          lambda m, y: y.sigmoid()), leaf(2, 3)),
    case("then-used", lambda m, a: _inplace_then_used(a), leaf(2, 3)),
]


def _inplace_then_used(a):
    y = a * 2
    z = y + 3  # AddBackward0 saves nothing, so changing y afterwards is allowed
    y.add_(1)
    return z * y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("fn", "inputs"), INPLACE)
def test_inplace_matches_torch(fn, inputs, dtype):
    check_program(fn, *make_inputs(inputs, dtype))


# NOTE [views after in-place changes]: a view made before its storage changed in place gets
# AsStridedBackward0 of the base's new history, as in torch (it used to keep its old history
# and so gave a wrong gradient)

def _view_then_base_inplace(m, a):
    y = a * 1
    v = y[0]
    y.mul_(2)
    return v * 3


def _nested_view_then_base_inplace(m, a):
    y = a * 1
    w = y[:, 1:][0]
    y.add_(1)
    return w * w


def _leaf_view_after_a_no_grad_update(m, a):
    v = a[1]
    with m.no_grad():
        a.mul_(2)
    return v * v


def _view_of_a_transposed_base(m, a):
    y = (a * 1).t() * 1  # laid out column-major
    col = y[:, 1]
    y.add_(1)
    return col * col


def _expanded_view_then_base_inplace(m, a):
    y = a * 1
    e = y.expand(2, 3)
    y.mul_(3)
    return e * 1


def _view_made_after_the_change(m, a):
    y = a * 1
    y.mul_(2)
    return y[0] * 3  # a fresh view: its own SelectBackward0


def _plain_base_gains_a_history(m, w):
    y = m.zeros(2, 3, dtype=w.dtype)
    v = y[0]  # made while nothing required grad
    y.add_(w)
    return v * m.full((3,), 2.0, dtype=w.dtype), v @ m.ones(3, 2, dtype=w.dtype)


VIEWS_AFTER_INPLACE = [
    case("plain-base-gains-a-history", _plain_base_gains_a_history, leaf(3)),
    case("view-then-base-inplace", _view_then_base_inplace, leaf(2, 3)),
    case("nested-view-then-base-inplace", _nested_view_then_base_inplace, leaf(2, 3)),
    case("leaf-view-after-no-grad-update", _leaf_view_after_a_no_grad_update, leaf(2, 3)),
    case("view-of-transposed-base", _view_of_a_transposed_base, leaf(3, 2)),
    case("expanded-view-then-base-inplace", _expanded_view_then_base_inplace, leaf(3)),
    case("view-made-after-the-change", _view_made_after_the_change, leaf(2, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("fn", "inputs"), VIEWS_AFTER_INPLACE)
def test_a_view_sees_its_bases_later_in_place_history_like_torch(fn, inputs, dtype):
    check_program(fn, *make_inputs(inputs, dtype))


def test_a_custom_function_sees_a_view_that_gained_a_history():
    import torch

    import visgrad as vg

    def program(lib):
        class Triple(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 3

            @staticmethod
            def backward(ctx, g):
                return g * 3

        y, w = lib.zeros(2, 3), lib.ones(3, requires_grad=True)
        v = y[1]
        y.add_(w)
        Triple.apply(v).sum().backward()
        return w.grad.tolist()

    assert program(vg) == program(torch) == [3.0, 3.0, 3.0]


def test_a_view_that_gained_a_history_prints_hooks_retains_and_roots_like_torch():
    import torch

    import visgrad as vg

    def program(lib):
        y, w = lib.zeros(2, 3), lib.ones(3, requires_grad=True)
        v = y[0]
        y.add_(w)
        printed = repr(v)
        v.retain_grad()
        seen = []
        v.register_hook(lambda g: seen.append(g.tolist()))
        (v * v).sum().backward()
        u = y[1] * 0 + y[0]  # and as the root of a pass of its own
        y2, w2 = lib.zeros(2, 3), lib.ones(3, requires_grad=True)
        r = y2[1]
        y2.mul_(w2)
        r.sum().backward()
        return printed, v.grad.tolist(), seen, w.grad.tolist(), u.requires_grad, w2.grad.tolist()

    assert program(vg) == program(torch)


def test_the_renewed_history_of_a_view_is_torchs():
    import torch

    import visgrad as vg

    def program(lib):
        a = lib.ones(2, 3, requires_grad=True)
        y = a * 1
        v = y[0]
        before = type(v.grad_fn).__name__
        y.mul_(2)
        return before, v.grad_fn.name(), v.grad_fn.next_functions[0][0].name(), v.is_leaf

    assert program(vg) == program(torch) == ("SelectBackward0", "AsStridedBackward0",
                                             "MulBackward0", False)


def _write_through_view(m, a):
    y = a * 1
    y[0].mul_(2)  # y[0] is a view of y: torch rebases y's history onto CopySlices
    return y


def _write_through_sliced_view(m, a):
    y = a * 1
    z = y[:, 1:]
    z += 1
    return y


def _view_op_with_a_tensor_operand(m, a, w):
    y = a * 1
    y[:, 1:].mul_(w)  # w, of shape (1,), broadcast over the (2, 2) view
    return y


def _view_written_into_a_plain_tensor(m, a):
    y = m.zeros(2, 3, dtype=a.dtype)  # nothing in a graph until the write
    y[1].add_(a * 2)
    return y


def _transposed_view_inplace(m, a):
    y = a * 1
    y.t()[1].exp_()
    return y


def _two_writes_then_the_view(m, a):
    y = a * 1
    z = y[:, 1:]
    z.mul_(3)
    y[0].add_(1)
    return y * 2, z


def _fill_and_zero_through_views(m, a):
    y = a * 2
    y[:, 0].fill_(0.5)
    y[1].zero_()
    return y


def _write_through_one_element(m, a):
    """An integer index down to one element is a 0-d view (numpy would give a copy)."""
    y = a * 2
    y[1, 0].mul_(3)
    y[0][2].add_(1)
    y[1].select(0, 1).zero_()
    return y, y[0, 1] * 5


VIEW_WRITES = [
    case("inplace-on-select-view", _write_through_view, leaf(2, 3)),
    case("inplace-on-one-element", _write_through_one_element, leaf(2, 3)),
    case("inplace-on-slice-view", _write_through_sliced_view, leaf(2, 3)),
    case("inplace-view-tensor-operand", _view_op_with_a_tensor_operand, leaf(2, 3), leaf(1)),
    case("inplace-view-of-plain-tensor", _view_written_into_a_plain_tensor, leaf(3)),
    case("inplace-transposed-view", _transposed_view_inplace, leaf(2, 3)),
    case("inplace-two-writes", _two_writes_then_the_view, leaf(2, 3)),
    case("inplace-fill-zero-views", _fill_and_zero_through_views, leaf(2, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("fn", "inputs"), VIEW_WRITES)
def test_inplace_on_a_view_rebases_the_base_like_torch(fn, inputs, dtype):
    check_program(fn, *make_inputs(inputs, dtype))


def test_double_backward_through_a_view_write_is_torchs():
    import torch

    import visgrad as vg

    def program(lib):
        a = lib.tensor([[0.5, 1.5, 2.0], [1.0, -1.0, 0.25]], requires_grad=True)
        y = a * a
        y[0].mul_(a[1])  # CopySlices over MulBackward0 with a tensor operand
        (g,) = lib.autograd.grad(y.sum(), a, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), a)
        return g.detach().numpy(), gg.numpy()

    for ours, theirs in zip(program(vg), program(torch)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_writing_into_an_expanded_view_is_refused_as_in_torch():
    import torch

    import visgrad as vg

    messages = []
    for lib in (vg, torch):
        for y in (lib.ones(3, requires_grad=True) * 1, lib.ones(3)):
            with pytest.raises(RuntimeError) as caught:
                y.expand(2, 3).add_(1)
            messages.append(str(caught.value))
    assert messages[:2] == messages[2:]
    assert "single memory location" in messages[0]


def test_values_of_a_written_view_are_shared():
    """The data written through a view is seen in the base."""
    import visgrad as vg

    y = vg.zeros(2, 3)
    y[0][1] = 5.0
    y[:, 2].fill_(1.0)
    y[1, 0].add_(7.0)  # one element: a 0-d view of y's storage
    y.select(0, 1).select(0, 1).fill_(2.0)
    np.testing.assert_array_equal(y.numpy(), [[0, 5, 1], [7, 2, 1]])


def test_exact_values_helper_keeps_ties():
    (t,) = make_inputs([exact([[1.0, 1.0]])], "float64")
    assert t.ours.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("program", [written(0, lambda m: 2.0),
                                     inplace(lambda m, y: y.copy_(m.zeros(2, 3)))],
                         ids=["CopySlices", "CopyBackwards"])
def test_namespaced_grad_fns_print_like_torch(program):
    import torch

    import visgrad as vg

    (a,) = make_inputs([leaf(2, 3)], "float32")
    ours, theirs = program(vg, a.ours), program(torch, a.theirs)
    assert "::" in theirs.grad_fn.name() and ours.grad_fn.name() == theirs.grad_fn.name()
    assert repr(ours) == repr(theirs)


# ---- random programs of views and in-place ops, against torch ----------------------------------

_VIEWS = {  # a view of a (3, 4) tensor, or of a view of one
    "row": lambda t: t[1] if t.dim() == 2 else t[1:],
    "columns": lambda t: t[:, 1:3] if t.dim() == 2 else t[::2],
    "transposed-row": lambda t: t.t()[-1] if t.dim() == 2 else t,
    "all": lambda t: t[...],
    "flat": lambda t: t.view(-1),  # refused where only a copy could give it, as in torch
    "expanded": lambda t: t.expand(2, *t.shape),  # a write into it is refused, as in torch
    "unsqueezed": lambda t: t.unsqueeze(0),
    "permuted": lambda t: t.permute(*reversed(range(t.dim()))),
    "reshaped": lambda t: t.reshape(-1),
}
_WRITES = {  # an in-place op; w is a (1,) leaf that requires grad
    "mul-number": lambda t, w: t.mul_(1.5),
    "add-leaf": lambda t, w: t.add_(w),
    "mul-leaf": lambda t, w: t.mul_(w),
    "exp": lambda t, w: t.exp_(),
    "fill": lambda t, w: t.fill_(0.25),
    "relu": lambda t, w: t.relu_(),
    "pow": lambda t, w: t.pow_(2),
    "zero": lambda t, w: t.zero_(),
    "div-leaf": lambda t, w: t.div_(w),
    "set-number": lambda t, w: t.__setitem__(0, 0.5),
    "set-leaf": lambda t, w: t.__setitem__((..., 0), w),
    "clamp": lambda t, w: t.clamp_(-0.5, 0.5),
    "neg": lambda t, w: t.neg_(),
    "sub-leaf": lambda t, w: t.sub_(w),
}


def _random_program(steps):
    def program(m, a, w):
        y = a * 1
        views = [y]
        for source, view, write in steps:
            target = _VIEWS[view](views[source % len(views)])
            views.append(target)
            _WRITES[write](target, w)
        return (y * 2, views[-1] * 3 + views[len(views) // 2].sum())

    return program


@settings(max_examples=100, deadline=None, derandomize=True)  # 15,000 more were run by hand
@given(steps=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(sorted(_VIEWS)),
                                st.sampled_from(sorted(_WRITES))), min_size=1, max_size=4))
def test_random_views_and_in_place_writes_match_torch(steps):
    """Views of views, writes through any of them, the base or a stale view used last: the
    values, graphs and gradients are torch's, and so is the error where torch refuses
    (NOTE [in-place on a view], NOTE [views after in-place changes])."""
    import torch

    import visgrad as vg

    program = _random_program(steps)
    errors = []
    for lib, twin in ((vg, "ours"), (torch, "theirs")):
        a, w = (getattr(t, twin) for t in make_inputs([leaf(3, 4), leaf(1)], "float64"))
        try:
            first, second = program(lib, a, w)
            (first.sum() + second.sum()).backward()
            errors.append(None)
        except (RuntimeError, IndexError) as exc:
            errors.append(str(exc))
    assert errors[0] == errors[1]
    if errors[1] is None:
        check_program(program, *make_inputs([leaf(3, 4), leaf(1)], "float64"))


# ---- index tensors of other integer dtypes ------------------------------------------------------
# torch reads a uint8 index tensor as a mask (with a deprecation warning), refuses int8 and int16,
# and writes one byte mask and one number with masked_fill_, which refuses it.

def _read(key):
    return lambda m: m.arange(12.0).reshape(3, 4)[key(m)]


def _write(key, value):
    def program(m):
        y = m.ones(3, 4, requires_grad=True) * 1
        y[key(m)] = value(m)
        return y

    return program


def _byte(m, values):
    return m.tensor(values, dtype=m.uint8)


BYTE_AND_SMALL_INT_INDICES = {
    "read-int8": _read(lambda m: m.tensor([0, 1], dtype=m.int8)),
    "read-int16": _read(lambda m: m.tensor([0, 1], dtype=m.int16)),
    "read-int32": _read(lambda m: m.tensor([0, 2], dtype=m.int32)),
    "read-int16-with-int64": _read(lambda m: (m.tensor([0, 1], dtype=m.int16), m.tensor([0, 1]))),
    "read-uint8-mask": _read(lambda m: _byte(m, [1, 0, 1])),
    "read-uint8-mask-2d": _read(lambda m: _byte(m, [[1, 0, 1, 0]] * 3)),
    "read-uint8-mask-then-slice": _read(lambda m: (_byte(m, [1, 0, 1]), slice(1, None))),
    "read-uint8-mask-wrong-shape": _read(lambda m: _byte(m, [1, 0])),
    "write-uint8-mask-number": _write(lambda m: _byte(m, [1, 0, 1]), lambda m: 5.0),
    "write-uint8-mask-0d": _write(lambda m: _byte(m, [1, 0, 1]), lambda m: m.tensor(5.0)),
    "write-uint8-mask-after-slice": _write(lambda m: (slice(None), _byte(m, [1, 0, 1, 0])),
                                           lambda m: 5.0),
    "write-uint8-mask-row": _write(lambda m: _byte(m, [1, 0, 1]), lambda m: m.ones(4) * 5),
    "write-uint8-mask-and-list": _write(lambda m: (_byte(m, [1, 0, 1]), m.tensor([0, 1])),
                                        lambda m: 5.0),
    "write-int16": _write(lambda m: m.tensor([1, 0], dtype=m.int16), lambda m: 5.0),
}


def _outcome(m, program):
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = program(m)
        except (IndexError, RuntimeError) as exc:
            result = (type(exc).__name__, str(exc))
        else:
            result = ("ok", out.detach().numpy().tolist(), str(out.dtype),
                      out.grad_fn.name() if out.grad_fn is not None else None)
    # torch's message adds where in its C++ it was raised
    said = sorted({str(w.message).split(" (Triggered internally")[0] for w in caught
                   if issubclass(w.category, UserWarning)})
    return result, said


@pytest.mark.parametrize("name", sorted(BYTE_AND_SMALL_INT_INDICES))
def test_byte_and_small_int_index_tensors_are_read_as_torch_reads_them(name):
    import torch  # noqa: PLC0415

    import visgrad as vg  # noqa: PLC0415

    program = BYTE_AND_SMALL_INT_INDICES[name]
    theirs = _outcome(torch, program)
    assert _outcome(vg, program) == theirs


# ---- a random sweep of keys ---------------------------------------------------------------------
# Keys of 1-3 items (ints, slices, None, ellipses, bools, lists, index tensors of every integer
# dtype, masks) on tensors of 1-3 dims, some empty. It compares what a user sees: the values,
# graph and gradient, or the error and its message. About 30,000 keys were run once by hand;
# CI runs 300. Left out: keys with several ellipses and keys with an index out of bounds whose
# result is empty (torch returns the empty result without looking; visgrad still checks).

def _key_item(draw, size: int):
    positions = st.integers(-size, max(size - 1, 0))
    kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis", "bool", "list", "tensor",
                                 "mask"]))
    if kind == "int":
        return draw(st.integers(-size - 1, size))
    if kind == "slice":
        bound = st.none() | st.integers(-size - 1, size + 1)
        return ("slice", draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3])))
    if kind == "none":
        return None
    if kind == "ellipsis":
        return Ellipsis
    if kind == "bool":
        return draw(st.booleans())
    if kind == "list":
        return ("list", draw(st.lists(positions, max_size=4)) if size else [])
    if kind == "tensor":
        dtype = draw(st.sampled_from(["int64", "int32", "int16", "uint8"]))
        values = draw(st.lists(positions, max_size=4)) if size else []
        if dtype == "uint8":
            values = [abs(v) % 2 for v in values]
        column = draw(st.booleans()) and len(values) > 0
        return ("tensor", values, dtype, (len(values), 1) if column else (len(values),))
    return ("mask", draw(st.lists(st.booleans(), min_size=size, max_size=size)))


def _key(m, items: list, single: bool):
    built = []
    for item in items:
        if isinstance(item, tuple) and item[0] == "slice":
            built.append(slice(*item[1:]))
        elif isinstance(item, tuple) and item[0] == "list":
            built.append(list(item[1]))
        elif isinstance(item, tuple) and item[0] == "tensor":
            built.append(m.tensor(item[1], dtype=getattr(m, item[2])).reshape(item[3]))
        elif isinstance(item, tuple) and item[0] == "mask":
            built.append(m.tensor(item[1], dtype=m.bool).reshape(len(item[1])))
        else:
            built.append(item)
    return built[0] if single and len(built) == 1 else tuple(built)


def _index_outcome(m, shape, items, single, grad):
    import warnings  # noqa: PLC0415

    x = m.arange(float(np.prod(shape))).reshape(shape)
    if grad:
        x.requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the uint8 deprecation (compared elsewhere)
        try:
            y = x[_key(m, items, single)]
        except (IndexError, RuntimeError, ValueError, TypeError) as exc:
            return (type(exc).__name__, str(exc).split(" (Triggered internally")[0])
        seen = ("ok", tuple(y.shape), y.detach().numpy().tolist(),
                y.grad_fn.name() if y.grad_fn is not None else None)
        if grad and y.numel():
            y.sum().backward()
            seen += (x.grad.numpy().tolist(),)
    return seen


@st.composite
def _indexing(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    count = draw(st.integers(1, 3))
    items = [_key_item(draw, shape[k] if k < len(shape) else 2) for k in range(count)]
    return shape, items, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples every run
@given(case=_indexing())
def test_random_keys_index_as_in_torch(case):
    import torch  # noqa: PLC0415

    import visgrad as vg  # noqa: PLC0415

    shape, items, single, grad = case
    if sum(item is Ellipsis for item in items) > 1:
        return  # torch's answers there depend on which index it happens to check first
    theirs = _index_outcome(torch, shape, items, single, grad)
    ours = _index_outcome(vg, shape, items, single, grad)
    if theirs[0] == "ok" and not np.prod(theirs[1]) and ours[0] == "IndexError" and \
            "out of bounds" in ours[1]:
        return  # an empty result: torch skips the bounds check (see above)
    assert ours == theirs


def _write_outcome(m, shape, items, single, value_kind, value_shape):
    import warnings  # noqa: PLC0415

    a = m.arange(float(np.prod(shape))).reshape(shape).requires_grad_()
    y = a * 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if value_kind == "number":
            value = 7.5
        elif value_kind == "0d":
            value = m.tensor(-2.0, requires_grad=True)
        else:
            value = (m.arange(float(np.prod(value_shape))).reshape(value_shape) + 100)
            value.requires_grad_()
        try:
            y[_key(m, items, single)] = value
        except (IndexError, RuntimeError, ValueError, TypeError) as exc:
            return (type(exc).__name__, str(exc).split(" (Triggered internally")[0])
        seen = ("ok", y.detach().numpy().tolist(), y.grad_fn.name())
        y.sum().backward()
        value_grad = value.grad if isinstance(value, m.Tensor) else None
        return seen + (a.grad.numpy().tolist(),
                       None if value_grad is None else value_grad.numpy().tolist())


def _known_gap(ours, theirs) -> bool:
    """Where torch's answer depends on which of two problems its kernel meets first."""
    if ours[0] == "IndexError" and "out of bounds" in ours[1]:
        # torch checks bounds only while writing: after the value's shape, and not at all
        # when nothing is written
        return theirs[0] == "ok" or "shape mismatch: value tensor" in theirs[1]
    # index_put_ looks at the masks before the dtypes of the other index tensors
    return "The shape of the mask" in theirs[1] and "used as indices" in ours[1]


@st.composite
def _writing(draw):
    shape, items, single, _ = draw(_indexing())
    value_kind = draw(st.sampled_from(["number", "0d", "tensor"]))
    value_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return shape, items, single, value_kind, value_shape


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples every run
@given(case=_writing())
def test_random_keys_write_as_in_torch(case):
    import torch  # noqa: PLC0415

    import visgrad as vg  # noqa: PLC0415

    shape, items = case[:2]
    if sum(item is Ellipsis for item in items) > 1:
        return  # as for reading
    theirs, ours = _write_outcome(torch, *case), _write_outcome(vg, *case)
    if ours != theirs and _known_gap(ours, theirs):
        return
    assert ours == theirs
