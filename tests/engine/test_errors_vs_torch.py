"""Misuse raises what torch raises: the same exception type and, word for word, its message.

Users learn from these messages, and visgrad shows them in its log, so they are compared
exactly. Each case is ``fn(lib)`` run with ``lib=torch`` and ``lib=vg``.
"""

import warnings

import numpy as np
import pytest
import torch

import visgrad as vg


def outcome(lib, fn):
    """(exception type name, message), or ("no error", repr) when fn returns."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's deprecation notes
            result = fn(lib)
    except Exception as exc:  # noqa: BLE001 - the point is to compare whatever is raised
        return type(exc).__name__, str(exc)
    return "no error", repr(result)


def assert_same_error(fn):
    theirs = outcome(torch, fn)
    assert theirs[0] != "no error", f"torch accepts this program: {theirs[1]}"
    assert outcome(vg, fn) == theirs


def case(name, fn, marks=()):
    return pytest.param(fn, id=name, marks=marks)


def _hooked(m, hook, on_result=False):
    """A backward pass through ``hook`` registered on a leaf (or on a result)."""
    x = m.ones(3, requires_grad=True)
    y = x * 2
    (y if on_result else x).register_hook(hook)
    y.sum().backward()


def _five_ones(g):
    return g.new_ones(5)


class _FiveOnes:
    def __call__(self, g):
        return g.new_ones(5)


def _no_grad_view(m, result=False, twice=False):
    """x[0:2] of a tensor that requires grad (a leaf, or a result), made under no_grad."""
    x = m.ones(3, requires_grad=True)
    base = x * 1 if result else x
    with m.no_grad():
        view = base[0:2]
        return view[0:2] if twice else view


def _changed_no_grad_view(m):
    """A no_grad view whose base then changed in place (under no_grad too)."""
    x = m.ones(3, requires_grad=True) * 1
    with m.no_grad():
        view = x[0:2]
        x.mul_(2)
    return view


def _backward_twice(m):
    y = (m.ones(2, requires_grad=True).exp()).sum()
    y.backward()
    y.backward()


def _leaf_setitem(m):
    x = m.ones(2, 3, requires_grad=True)
    x[0] = 1.0


def _leaf_index_put(m):
    x = m.ones(2, 3, requires_grad=True)
    x[[0]] = 1.0


def _leaf_whole_write(m):
    x = m.ones(2, 3, requires_grad=True)
    x[...] = 1.0


def _setitem(target, key, value):
    def program(m):
        t = m.zeros(*target)
        t[key(m) if callable(key) else key] = value(m) if callable(value) else value

    return program


def _modified_saved_tensor(m):
    a = m.ones(3, requires_grad=True)
    y = a * 2
    z = y.exp()
    z.mul_(2)  # exp saved its result
    z.sum().backward()


BROADCAST = [
    case("add", lambda m: m.ones(2, 3) + m.ones(4)),
    case("mul-transposed", lambda m: m.ones(2, 3) * m.ones(3, 2)),
    case("sub-batch", lambda m: m.ones(5, 2, 3) - m.ones(4, 1, 3)),
    case("div-scalar-shapes", lambda m: m.ones(3) / m.ones(2, 1, 2)),
    case("maximum", lambda m: m.maximum(m.ones(2, 3), m.ones(2))),
    case("where-other", lambda m: m.where(m.ones(2, 3) > 0, m.ones(2, 3), m.ones(4))),
    case("where-condition", lambda m: m.where(m.ones(4) > 0, m.ones(2, 3), m.ones(3))),
    case("comparison", lambda m: m.ones(2, 3) < m.ones(2)),
    case("clamp-tensor-bounds", lambda m: m.ones(2, 3).clamp(min=m.ones(2))),
    case("inplace-grows", lambda m: m.ones(2).add_(m.ones(2, 2))),
    case("backward-gradient-shape",
         lambda m: (m.ones(2, requires_grad=True) * 2).backward(m.ones(3))),
]

MATMUL = [
    case("mv-of-a-0d-matrix", lambda m: m.mv(m.tensor(1.0), m.ones(2))),
    case("bmm-2d", lambda m: m.bmm(m.ones(2, 2), m.ones(2, 2, 2))),
    case("bmm-batch-mismatch", lambda m: m.bmm(m.ones(2, 2, 3), m.ones(3, 3, 2))),
    case("mm", lambda m: m.mm(m.ones(2, 3), m.ones(2, 3))),
    case("mm-vector", lambda m: m.mm(m.ones(3), m.ones(3, 2))),
    case("mm-vector-right", lambda m: m.mm(m.ones(2, 3), m.ones(3))),
    case("mm-3d", lambda m: m.mm(m.ones(2, 2, 3), m.ones(3, 2))),
    case("mm-dtypes", lambda m: m.mm(m.ones(2, 3), m.ones(3, 2, dtype=m.float64))),
    case("mm-int-float", lambda m: m.mm(m.ones(2, 3, dtype=m.int64), m.ones(3, 2))),
    case("mv", lambda m: m.mv(m.ones(2, 3), m.ones(2))),
    case("mv-vector-matrix", lambda m: m.mv(m.ones(3), m.ones(2))),
    case("mv-matrix-vector", lambda m: m.mv(m.ones(2, 3), m.ones(3, 1))),
    case("mv-dtypes", lambda m: m.mv(m.ones(2, 3), m.ones(3, dtype=m.float64))),
    case("mv-dtypes-other-way", lambda m: m.mv(m.ones(2, 3, dtype=m.float64), m.ones(3))),
    case("dot", lambda m: m.dot(m.ones(3), m.ones(2))),
    case("dot-2d", lambda m: m.dot(m.ones(3, 1), m.ones(3))),
    case("dot-dtypes", lambda m: m.dot(m.ones(3), m.ones(3, dtype=m.float64))),
    case("matmul-mm", lambda m: m.ones(2, 3) @ m.ones(2, 3)),
    case("matmul-mv", lambda m: m.ones(2, 3) @ m.ones(2)),
    case("matmul-vector-matrix", lambda m: m.ones(2) @ m.ones(3, 2)),
    case("matmul-dot", lambda m: m.ones(3) @ m.ones(2)),
    case("matmul-0d", lambda m: m.ones(()) @ m.ones(2)),
    case("matmul-function-0d", lambda m: m.matmul(m.ones(2), m.ones(()))),
    case("matmul-bmm", lambda m: m.ones(4, 2, 3) @ m.ones(4, 2, 3)),
    case("matmul-batch-mismatch", lambda m: m.ones(4, 2, 3) @ m.ones(5, 3, 3)),
    case("matmul-fold-3d-2d", lambda m: m.ones(4, 2, 3) @ m.ones(2, 3)),
    case("matmul-fold-2d-3d", lambda m: m.ones(2, 3) @ m.ones(4, 2, 3)),
    case("matmul-fold-3d-1d", lambda m: m.ones(4, 2, 3) @ m.ones(2)),
    case("matmul-1d-3d", lambda m: m.ones(2) @ m.ones(4, 3, 3)),
    case("matmul-bmm-dtypes", lambda m: m.ones(2, 2, 3) @ m.ones(2, 3, 2, dtype=m.float64)),
    case("matmul-bmm-dtypes-other-way",
         lambda m: m.ones(2, 2, 3, dtype=m.float64) @ m.ones(2, 3, 2)),
    case("matmul-number", lambda m: m.ones(2) @ 2),
    case("matmul-list", lambda m: m.ones(2) @ [1.0, 2.0]),
]

SHAPES = [
    case("view-ambiguous-empty", lambda m: m.zeros(0).view(0, -1)),
    case("reshape-ambiguous-empty", lambda m: m.zeros(2, 0).reshape(-1, 0)),
    case("flatten-0d-dim-out-of-range", lambda m: m.tensor(1.0).flatten(2)),
    case("permute-without-dims", lambda m: m.tensor(1.0).permute()),
    case("narrow-0d", lambda m: m.tensor(1.0).narrow(0, 0, 1)),
    case("slice-0d", lambda m: m.tensor(1.0)[1:]),
    case("reshape", lambda m: m.ones(2, 3).reshape(4)),
    case("reshape-infer", lambda m: m.ones(2, 3).reshape(-1, 4)),
    case("reshape-two-infers", lambda m: m.ones(2, 3).reshape(-1, -1)),
    case("reshape-negative", lambda m: m.ones(2, 3).reshape(2, -2)),
    case("view", lambda m: m.ones(2, 3).view(5)),
    case("view-not-viewable", lambda m: m.ones(2, 3).t().view(6)),
    case("view-not-viewable-3d", lambda m: m.ones(2, 3, 4).transpose(1, 2).view(2, 12)),
    case("view-not-viewable-slice", lambda m: m.ones(4, 6)[:, :3].view(12)),
    case("expand-mismatch", lambda m: m.ones(2, 3).expand(3, 3)),
    case("expand-too-few", lambda m: m.ones(2, 3).expand(3)),
    case("expand-too-few-double", lambda m: m.ones(2, 3, dtype=m.float64).expand(3)),
    case("expand-new-dim-minus-one", lambda m: m.ones(2, 3).expand(-1, 2, 3)),
    case("expand-new-dim-minus-one-later", lambda m: m.ones(3).expand(2, -1, 3)),
    case("t-3d", lambda m: m.ones(2, 3, 4).t()),
    case("permute-length", lambda m: m.ones(2, 3).permute(0)),
    case("permute-duplicate", lambda m: m.ones(2, 3).permute(0, 0)),
    case("cat-empty", lambda m: m.cat([])),
    case("cat-sizes", lambda m: m.cat([m.ones(2, 3), m.ones(3, 2)])),
    case("cat-ndim", lambda m: m.cat([m.ones(2, 3), m.ones(3)])),
    case("cat-0d", lambda m: m.cat([m.tensor(1.0), m.tensor(2.0)])),
    case("cat-0d-later", lambda m: m.cat([m.ones(2), m.tensor(1.0)])),
    case("stack-sizes", lambda m: m.stack([m.ones(2, 3), m.ones(3, 2)])),
    case("stack-empty", lambda m: m.stack([])),
    case("flatten-order", lambda m: m.ones(2, 3, 4).flatten(2, 1)),
    case("narrow-past-end", lambda m: m.ones(2, 3).narrow(1, 2, 2)),
    case("narrow-start", lambda m: m.ones(3).narrow(0, 4, 0)),
    case("narrow-negative-start", lambda m: m.ones(3).narrow(0, -4, 1)),
    case("narrow-negative-length", lambda m: m.ones(3).narrow(0, 1, -1)),
    case("select", lambda m: m.ones(2, 3).select(1, 3)),
    case("select-negative", lambda m: m.ones(3).select(0, -4)),
    case("select-0d", lambda m: m.tensor(1.0).select(0, 0)),
]

DIMS = [
    case("sum", lambda m: m.ones(2, 3).sum(2)),
    case("sum-negative", lambda m: m.ones(2, 3).sum(-3)),
    case("sum-tuple", lambda m: m.ones(2, 3).sum((0, 5))),
    case("sum-duplicate", lambda m: m.ones(2, 3).sum((0, 0))),
    case("sum-duplicate-wrapped", lambda m: m.ones(2, 3).sum((0, -2))),
    case("sum-0d", lambda m: m.tensor(1.0).sum(1)),
    case("mean", lambda m: m.ones(2, 3).mean(5)),
    case("mean-0d", lambda m: m.tensor(1.0).mean(-2)),
    case("max", lambda m: m.ones(2, 3).max(2)),
    case("min-negative", lambda m: m.ones(2, 3).min(-3)),
    case("argmax", lambda m: m.ones(2, 3).argmax(2)),
    case("softmax", lambda m: m.ones(2, 3).softmax(2)),
    case("log-softmax-0d", lambda m: m.tensor(1.0).log_softmax(1)),
    case("unsqueeze", lambda m: m.ones(2, 3).unsqueeze(3)),
    case("unsqueeze-negative", lambda m: m.ones(2, 3).unsqueeze(-4)),
    case("transpose", lambda m: m.ones(2, 3).transpose(0, 2)),
    case("squeeze", lambda m: m.ones(2, 3).squeeze(2)),
    case("squeeze-dims", lambda m: m.ones(2, 1).squeeze((0, 2))),
    case("cat", lambda m: m.cat([m.ones(2, 3), m.ones(2, 3)], 2)),
    case("stack", lambda m: m.stack([m.ones(2, 3), m.ones(2, 3)], 3)),
    case("size", lambda m: m.ones(2, 3).size(2)),
    case("flatten", lambda m: m.ones(2, 3).flatten(0, 2)),
    case("flatten-1d", lambda m: m.ones(2).flatten(1, 1)),
    case("permute", lambda m: m.ones(2, 3).permute(0, 2)),
    case("narrow", lambda m: m.ones(2, 3).narrow(2, 0, 1)),
]

INDEXING = [
    case("int", lambda m: m.ones(2, 3)[2]),
    case("negative-int", lambda m: m.ones(2, 3)[-3]),
    case("second-int", lambda m: m.ones(2, 3)[0, 3]),
    case("int-after-ellipsis", lambda m: m.ones(2, 3, 4)[..., 4]),
    case("int-after-slice", lambda m: m.ones(2, 3, 4)[:, 3]),
    case("int-after-none", lambda m: m.ones(2, 3, 4)[None, 0, 5]),
    case("int-after-int-and-ellipsis", lambda m: m.ones(2, 3, 4)[0, ..., 5]),
    case("second-list-after-slice", lambda m: m.ones(2, 3, 4)[[0, 1], :, [0, 9]]),
    case("list-after-two-slices", lambda m: m.ones(2, 3, 4)[:, :, [9]]),
    case("list-after-int", lambda m: m.ones(2, 3, 4)[0, [7]]),
    case("list-after-mask", lambda m: m.ones(2, 3, 4)[m.tensor([True, False]), [9]]),
    case("list", lambda m: m.ones(2, 3)[[0, 2]]),
    case("list-negative", lambda m: m.ones(2, 3)[[0, -3]]),
    case("tensor", lambda m: m.ones(2, 3)[m.tensor([0, 5])]),
    case("two-tensors-second-bad", lambda m: m.ones(2, 3)[m.arange(2), m.tensor([0, 3])]),
    case("list-into-an-empty-dim", lambda m: m.ones(0, 3)[[0, 0]]),
    case("mask-checked-after-a-later-none",
         lambda m: m.ones(4, 1, 3)[m.tensor([[True], [False], [True]]), False, [0]]),
    case("mask-checked-after-a-later-int", lambda m: m.ones(1, 4, 3)[0, m.tensor([True]), -3]),
    case("int-bounds-before-index-dtype",
         lambda m: m.ones(3, 2, 3)[m.tensor([0], dtype=m.int16), 2]),
    case("index-dtype-before-mask-shape",
         lambda m: m.ones(3, 2, 4)[m.tensor([True, False]), m.tensor([0], dtype=m.int16)]),
    case("broadcast-before-bounds", lambda m: m.ones(4, 0, 3)[[-3, -3], [0, 0, 0]]),
    case("two-ellipses-then-list", lambda m: m.ones(1, 2, 1)[..., ..., [0, 0, 0]]),
    case("expand-names-the-last-mismatch-first", lambda m: m.ones(3, 2).expand(1, 0, 1)),
    case("setitem-value-leading-ones-dropped", _setitem((3, 4), ([0, 1],),
                                                        lambda m: m.ones(1, 3))),
    case("setitem-bool-in-tuple-follows-index-put",
         _setitem((3, 3, 2), (False, None), lambda m: m.ones(2, 2))),
    case("setitem-lone-true-follows-copy", _setitem((2,), True, lambda m: m.ones(3))),
    case("setitem-byte-mask-one-element", _setitem((3, 3), lambda m: m.tensor([1, 0, 1],
                                                                            dtype=m.uint8),
                                                   lambda m: m.ones(1, 1))),
    case("two-ellipses-then-int", lambda m: m.ones(3, 3, 1)[..., ..., 1]),
    case("two-ellipses-then-slice", lambda m: m.ones(2, 2)[..., ..., 0::2]),
    case("two-tensors-first-negative-bad",
         lambda m: m.ones(2, 3)[m.tensor([0, -3]), m.tensor([1, 1])]),
    case("two-tensors-both-bad", lambda m: m.ones(2, 3)[m.tensor([7, 0]), m.tensor([9, 1])]),
    case("int32-tensor", lambda m: m.ones(2, 3)[m.tensor([0, 2], dtype=m.int32)]),
    case("two-tensors-not-broadcastable",
         lambda m: m.ones(2, 3)[m.tensor([0, 1]), m.tensor([0, 1, 2])]),
    case("2d-tensors-not-broadcastable",
         lambda m: m.ones(2, 3, 4)[m.tensor([[0], [1]]), m.tensor([[0, 1, 2]] * 3)]),
    case("tensors-around-a-slice-not-broadcastable",
         lambda m: m.ones(2, 3, 4)[m.tensor([0, 1]), :, m.tensor([0, 1, 2])]),
    case("mask-then-tensor-not-broadcastable",
         lambda m: m.ones(2, 3, 4)[m.tensor([True, True]), m.tensor([0, 1, 2])]),
    case("second-list", lambda m: m.ones(2, 3)[:, [0, 3]]),
    case("mask-shape", lambda m: m.ones(2, 3)[m.tensor([True, False, True])]),
    case("mask-shape-later-dim", lambda m: m.ones(2, 3, 4)[:, m.tensor([True, False])]),
    case("mask-2d-shape", lambda m: m.ones(2, 3, 4)[m.tensor([[True, False], [True, True]])]),
    case("too-many", lambda m: m.ones(2, 3)[0, 0, 0]),
    case("float", lambda m: m.ones(2, 3)[1.0]),
    case("float-tensor", lambda m: m.ones(2, 3)[m.tensor([1.0])]),
    case("0d-int", lambda m: m.tensor(1.0)[0]),
    case("step-zero", lambda m: m.ones(3)[::0]),
    case("negative-step", lambda m: m.ones(3)[::-1]),
    case("setitem-int", _setitem((2, 3), 5, 1.0)),
    case("setitem-second-int", _setitem((2, 3), (0, 5), 1.0)),
    case("setitem-list", _setitem((2, 3), [5], 1.0)),
    case("setitem-mask", _setitem((2, 3), lambda m: m.tensor([True, False, True]), 1.0)),
    case("setitem-value-shape", _setitem((2, 3), 0, lambda m: m.ones(4))),
    case("setitem-value-too-many-dims", _setitem((2, 3), 0, lambda m: m.ones(2, 3))),
    case("setitem-slice-value-shape", _setitem((2, 3), slice(0, 1), lambda m: m.ones(2, 3))),
    case("setitem-whole-value-shape", _setitem((2, 3), Ellipsis, lambda m: m.ones(3, 3))),
    case("setitem-list-value-shape", _setitem((2, 3), [0], lambda m: m.ones(4))),
    case("setitem-list-value-dims", _setitem((2, 3), [0], lambda m: m.ones(2, 3))),
    case("setitem-mixed-value-shape", _setitem((2, 3), (0, [0]), lambda m: m.ones(2))),
    case("setitem-list-value-dtype", _setitem((2, 3), [0], lambda m: m.ones(3, dtype=m.float64))),
]

AUTOGRAD = [
    case("grad-of-no-inputs", lambda m: m.autograd.grad((m.ones(2, requires_grad=True) * 2).sum(),
                                                        [])),
    case("backward-of-no-inputs", lambda m: m.autograd.backward(
        (m.ones(2, requires_grad=True) * 2).sum(), inputs=[])),
    case("tensor-backward-of-no-inputs",
         lambda m: (m.ones(2, requires_grad=True) * 2).sum().backward(inputs=[])),
    case("gradient-shape-before-requires-grad",
         lambda m: m.autograd.backward(m.ones(2, 3).detach() * 2, grad_tensors=m.ones(3))),
    case("backward-inputs-that-do-not-require-grad", lambda m: m.autograd.backward(
        (m.ones(2, requires_grad=True) * 2).sum(), inputs=[m.ones(2)])),
    case("int-tensor-requires-grad", lambda m: m.tensor([1, 2], requires_grad=True)),
    case("int-requires-grad_", lambda m: m.ones(2, dtype=m.int64).requires_grad_()),
    case("bool-factory-requires-grad", lambda m: m.zeros(2, dtype=m.bool, requires_grad=True)),
    case("arange-requires-grad", lambda m: m.arange(3, requires_grad=True)),
    case("int-requires-grad-setter",
         lambda m: setattr(m.ones(2, dtype=m.int64), "requires_grad", True)),
    case("non-leaf-requires-grad-false",
         lambda m: (m.ones(2, requires_grad=True) * 2).requires_grad_(False)),
    case("leaf-add_", lambda m: m.ones(2, requires_grad=True).add_(1)),
    case("leaf-mul_", lambda m: m.ones(2, requires_grad=True).mul_(2)),
    case("leaf-iadd", lambda m: m.ones(2, requires_grad=True).__iadd__(1)),
    case("leaf-zero_", lambda m: m.ones(2, requires_grad=True).zero_()),
    case("leaf-fill_", lambda m: m.ones(2, requires_grad=True).fill_(3.0)),
    case("leaf-copy_", lambda m: m.ones(2, requires_grad=True).copy_(m.zeros(2))),
    case("leaf-setitem-view", _leaf_setitem),
    case("leaf-setitem-index", _leaf_index_put),
    case("leaf-setitem-whole", _leaf_whole_write),
    case("leaf-inplace-through-view", lambda m: m.ones(2, requires_grad=True)[0].add_(1)),
    case("backward-non-scalar", lambda m: (m.ones(2, requires_grad=True) * 2).backward()),
    case("backward-without-grad", lambda m: m.ones(2).sum().backward()),
    case("backward-twice", _backward_twice),
    case("backward-too-few-gradients", lambda m: m.autograd.backward(
        [(m.ones(2, requires_grad=True) * 2).sum()], [])),
    case("saved-tensor-modified", _modified_saved_tensor),
    case("retain-grad-without-grad", lambda m: m.ones(2).retain_grad()),
    case("hook-without-grad", lambda m: m.ones(2).register_hook(lambda g: g)),
    case("hook-changes-the-size", lambda m: _hooked(m, lambda g: m.ones(5))),
    case("named-hook-changes-the-size", lambda m: _hooked(m, _five_ones)),
    case("callable-hook-changes-the-size", lambda m: _hooked(m, _FiveOnes())),
    case("hook-changes-the-dtype", lambda m: _hooked(m, lambda g: g.double())),
    case("hook-on-a-result-changes-the-dtype", lambda m: _hooked(m, lambda g: g.half(), True)),
    case("hook-changes-the-dims", lambda m: _hooked(m, lambda g: g.reshape(3, 1))),
    case("hook-returns-a-number", lambda m: _hooked(m, lambda g: 5)),
    case("no-grad-view-modified-with-grad", lambda m: _no_grad_view(m).mul_(2)),
    case("no-grad-view-of-a-result-modified-with-grad",
         lambda m: _no_grad_view(m, result=True).add_(1)),
    case("view-of-a-no-grad-view-modified-with-grad", lambda m: _no_grad_view(m)[0:1].mul_(2)),
    case("reshaped-no-grad-view-modified-with-grad", lambda m: _no_grad_view(m).view(2).mul_(2)),
    case("no-grad-view-of-a-no-grad-view-modified-with-grad",
         lambda m: _no_grad_view(m, twice=True).mul_(2)),
    case("backward-from-a-no-grad-view", lambda m: _no_grad_view(m).backward(m.ones(2))),
    case("no-grad-view-used-after-its-base-changed", lambda m: _changed_no_grad_view(m) * 2),
    case("no-grad-view-grad_fn-after-it-changed", lambda m: _changed_no_grad_view(m).grad_fn),
    case("no-grad-view-is_leaf-after-it-changed", lambda m: _changed_no_grad_view(m).is_leaf),
    case("backward-with-a-list-of-numbers",
         lambda m: (m.ones(2, requires_grad=True) * 2).backward([1.0, 1.0])),
    case("backward-with-a-number",
         lambda m: (m.ones(2, requires_grad=True) * 2).sum().backward(1.0)),
    case("backward-with-an-array",
         lambda m: (m.ones(2, requires_grad=True) * 2).backward(np.ones(2, np.float32))),
    case("functional-backward-with-numbers", lambda m: m.autograd.backward(
        [(m.ones(2, requires_grad=True) * 2).sum()], [3])),
    case("grad-with-a-number-as-grad-output", lambda m: m.autograd.grad(
        (m.ones(2, requires_grad=True) * 2).sum(), m.ones(2, requires_grad=True), 1.0)),
    case("assign-grad-of-other-dtype",
         lambda m: setattr(m.ones(2, requires_grad=True), "grad", m.ones(2, dtype=m.float64))),
    case("assign-integer-grad", lambda m: setattr(m.ones(2, requires_grad=True), "grad",
                                                  m.tensor([1, 2]))),
    case("assign-grad-of-other-dtype-and-size",
         lambda m: setattr(m.ones(2, dtype=m.float16, requires_grad=True), "grad", m.ones(3))),
    case("integer-floor-division-by-zero", lambda m: m.tensor([5, 7]) // m.tensor([0, 2])),
    case("integer-remainder-by-zero", lambda m: m.tensor([5, 7]) % 0),
    case("integer-division-by-a-false", lambda m: m.tensor([5, 7]) // m.tensor([True, False])),
    case("number-floor-divided-by-bools", lambda m: 2 // m.tensor([True, False])),
    case("bool-floor-division", lambda m: m.tensor([True, False]) // m.tensor([True, True])),
    case("bool-remainder", lambda m: m.tensor([True, False]) % True),
    case("bool-matrix-product", lambda m: m.tensor([[True, False]]) @ m.tensor([[True], [True]])),
    case("bool-matrix-vector", lambda m: m.tensor([[True, False]]) @ m.tensor([True, True])),
    case("bool-dot", lambda m: m.tensor([True, False]) @ m.tensor([True, True])),
    case("bool-bmm", lambda m: m.bmm(m.ones(1, 2, 2, dtype=m.bool), m.ones(1, 2, 2, dtype=m.bool))),
    case("bool-batched-broadcast", lambda m: m.ones(2, 1, 2, 2, dtype=m.bool)
         @ m.ones(3, 2, 2, dtype=m.bool)),
    case("int-beyond-int64", lambda m: m.tensor([1, 2**63])),
    case("int-beyond-int64-for-int32", lambda m: m.tensor([[2**64]], dtype=m.int32)),
    case("int-beyond-int64-alone", lambda m: m.tensor(-2**63 - 1)),
    case("strings-in-a-list", lambda m: m.tensor(["a", "b"])),
    case("string-after-a-number", lambda m: m.tensor([1, "a"])),
    case("randint-empty-range", lambda m: m.randint(5, 0, (3,))),
    case("all-of-a-dim-out-of-range", lambda m: m.ones(2).all(2)),
    case("contains-a-string", lambda m: "a" in m.ones(2)),
    case("format-several-numbers", lambda m: f"{m.ones(2):.2f}"),
    case("type-of-an-unknown-name", lambda m: m.ones(2).type("DoubleTensor")),
    case("numpy-of-a-leaf-that-requires-grad", lambda m: m.ones(2, requires_grad=True).numpy()),
    case("grad-of-unused", lambda m: m.autograd.grad((m.ones(2, requires_grad=True) * 2).sum(),
                                                    [m.ones(2, requires_grad=True)])),
    case("grad-of-no-grad-input",
         lambda m: m.autograd.grad((m.ones(2, requires_grad=True) * 2).sum(), [m.ones(2)])),
    case("assign-grad-of-other-size",
         lambda m: setattr(m.ones(2, requires_grad=True), "grad", m.ones(3))),
]

CASTS_AND_CONVERSIONS = [
    case("isclose-of-two-dtypes", lambda m: m.isclose(m.ones(2), m.ones(2, dtype=m.float64))),
    case("allclose-not-broadcastable", lambda m: m.allclose(m.ones(3), m.ones(2))),
    case("allclose-negative-rtol", lambda m: m.allclose(m.ones(2), m.ones(2), rtol=-1)),
    case("isclose-negative-atol", lambda m: m.isclose(m.ones(2), m.ones(2), atol=-0.5)),
    case("masked_fill-long-mask", lambda m: m.ones(3).masked_fill(m.tensor([1, 0, 1]), 1.0)),
    case("masked_fill-1d-value", lambda m: m.ones(3).masked_fill(m.tensor([True, False, True]),
                                                                 m.ones(2))),
    case("masked_fill-mask-not-broadcastable",
         lambda m: m.ones(3).masked_fill(m.tensor([True, False]), 1.0)),
    case("masked_fill_-mask-widens", lambda m: m.ones(3).masked_fill_(m.tensor([[True], [False]]),
                                                                       1.0)),
    case("masked_fill-uint8-past-its-range",
         lambda m: m.ones(3, dtype=m.uint8).masked_fill(m.tensor([True, False, True]), 300)),
    case("tensor-ragged-rows", lambda m: m.tensor([[1, 2], [3]])),
    case("tensor-number-where-a-row-is-due", lambda m: m.tensor([[-2], 0.5])),
    case("tensor-row-where-a-number-is-due", lambda m: m.tensor([1, [2, 3]])),
    case("tensor-row-where-an-integer-is-due", lambda m: m.tensor([1, [2, 3]], dtype=m.int64)),
    case("tensor-checks-in-storage-order", lambda m: m.tensor([[2**40], [], [[0.5]]],
                                                              dtype=m.int32)),
    case("tensor-nan-into-int64", lambda m: m.tensor([1, float("nan")], dtype=m.int64)),
    case("tensor-inf-into-int8", lambda m: m.tensor(float("inf"), dtype=m.int8)),
    case("tensor-256-into-uint8", lambda m: m.tensor([256], dtype=m.uint8)),
    case("tensor-of-none", lambda m: m.tensor([None])),
    case("tensor-arrays-of-two-shapes", lambda m: m.tensor([np.zeros((2, 3)), np.zeros((2, 2))])),
    case("copy_-from-a-wider-tensor", lambda m: m.zeros(2).copy_(m.ones(2, 2))),
    case("copy_-from-a-0d-into-nothing-wider", lambda m: m.tensor(1.0).copy_(m.ones(1))),
    case("copy_-not-broadcastable", lambda m: m.zeros(3).copy_(m.ones(2))),
    case("fill_-uint8-past-its-range", lambda m: m.zeros(2, dtype=m.uint8).fill_(256)),
    case("fill_-uint8-negative-float", lambda m: m.zeros(2, dtype=m.uint8).fill_(-1.5)),
    case("fill_-int32-past-its-range", lambda m: m.zeros(2, dtype=m.int32).fill_(2**31)),
    case("clamp-int8-past-its-range", lambda m: m.zeros(2, dtype=m.int8).clamp(min=200)),
    case("clamp_-int64-into-float-names-cpp-type",
         lambda m: m.zeros(2, dtype=m.int64).clamp_(min=0.5)),
    case("clamp_-bool-names-cpp-type", lambda m: m.zeros(2, dtype=m.bool).clamp_(min=2)),
    case("clamp_-tensor-bound-names-scalar-type",
         lambda m: m.zeros(2, dtype=m.int64).clamp_(min=m.tensor([0.5, 1.0]))),
    case("relu-of-bools", lambda m: m.relu(m.tensor([True, False]))),
    case("clamp-bools-min", lambda m: m.tensor([True, False]).clamp(min=True)),
    case("clamp-bools-max", lambda m: m.tensor([True, False]).clamp(max=True)),
    case("clamp-bools-both", lambda m: m.tensor([True, False]).clamp(False, True)),
    case("abs-of-bools", lambda m: m.abs(m.tensor([True]))),
    case("argmax-of-bools", lambda m: m.tensor([True, False]).argmax()),
    case("argmin-of-bools-dim", lambda m: m.tensor([True, False]).argmin(0)),
    case("invert-a-float", lambda m: ~m.tensor([1.0])),
    case("plus-a-bool", lambda m: +m.tensor([True])),
    case("mean-of-shorts", lambda m: m.tensor([1, 2], dtype=m.int16).mean()),
    case("mean-of-bytes", lambda m: m.tensor([1, 2], dtype=m.uint8).mean()),
    case("argmax-of-nothing", lambda m: m.zeros(0).argmax()),
    case("argmin-along-an-empty-dim", lambda m: m.zeros(2, 0).argmin(1)),
    case("min-along-an-empty-dim", lambda m: m.zeros(0).min(0)),
    case("max-along-an-empty-dim", lambda m: m.zeros(2, 0).max(1)),
    case("pow-of-bools", lambda m: m.pow(m.tensor([True, False]), m.tensor([True, True]))),
    case("pow-of-a-bool-number", lambda m: m.pow(True, m.tensor([True]))),
    case("add_-float-into-long", lambda m: m.ones(2, dtype=m.int64).add_(1.5)),
    case("iadd-float-tensor-into-long",
         lambda m: m.ones(2, dtype=m.int64).__iadd__(m.ones(2))),
    case("mul_-double-into-long",
         lambda m: m.ones(2, dtype=m.int64).mul_(m.ones(2, dtype=m.float64))),
    case("add_-int-into-bool", lambda m: m.ones(2, dtype=m.bool).add_(1)),
    case("div_-into-int", lambda m: m.ones(2, dtype=m.int32).div_(2)),
    case("add_-double-into-float-is-fine-but-float-into-int-is-not",
         lambda m: m.ones(2, dtype=m.int32).add_(m.ones(2, dtype=m.float64))),
    case("numpy-requires-grad", lambda m: m.ones(2, requires_grad=True).numpy()),
    case("numpy-non-leaf", lambda m: (m.ones(2, requires_grad=True) * 2).numpy()),
    case("item-many", lambda m: m.ones(2).item()),
    case("item-none", lambda m: m.ones(0).item()),
    case("bool-many", lambda m: bool(m.ones(2))),
    case("len-0d", lambda m: len(m.tensor(1.0))),
    case("iter-0d", lambda m: iter(m.tensor(1.0))),
    case("index-float-tensor", lambda m: [1, 2][m.tensor(1.0)]),
    case("sub-bools", lambda m: m.ones(2, dtype=m.bool) - m.ones(2, dtype=m.bool)),
    case("sub-bool-and-int", lambda m: m.ones(2, dtype=m.bool) - 1),
    case("sub-python-bool", lambda m: m.ones(2) - True),
    case("rsub-bool", lambda m: 2 - m.ones(2, dtype=m.bool)),
    case("neg-bool", lambda m: -m.ones(2, dtype=m.bool)),
    case("pow-int-negative", lambda m: m.tensor([2, 3]) ** -1),
    case("pow-0d-int-negative", lambda m: m.tensor(2) ** -2),
    case("mean-long", lambda m: m.ones(2, dtype=m.int64).mean()),
    case("mean-int", lambda m: m.ones(2, dtype=m.int32).mean()),
    case("mean-bool", lambda m: m.ones(2, dtype=m.bool).mean()),
    case("where-float-condition", lambda m: m.where(m.ones(2), m.ones(2), m.ones(2))),
    case("where-int-condition",
         lambda m: m.where(m.ones(2, dtype=m.int64), m.ones(2), m.ones(2))),
    case("clamp-without-bounds", lambda m: m.ones(2).clamp()),
    case("softmax-without-dim", lambda m: m.ones(2).softmax()),
    case("softmax-of-ints", lambda m: m.tensor([1, 4]).softmax(0)),
    case("softmax-of-ints-not-last-dim", lambda m: m.tensor([[1, 4]]).softmax(0)),
    case("log-softmax-of-ints", lambda m: m.tensor([1, 4]).log_softmax(-1)),
    case("log-softmax-of-bools-not-last-dim", lambda m: m.tensor([[True], [False]]).log_softmax(0)),
    case("log-softmax-without-dim", lambda m: m.ones(2).log_softmax()),
    case("max-of-empty", lambda m: m.ones(0).max()),
    case("fill_-with-1d", lambda m: m.ones(2).fill_(m.ones(1))),
    case("add-str", lambda m: m.ones(2) + "a"),
    case("add-none", lambda m: m.ones(2) + None),
    case("radd-str", lambda m: "a" + m.ones(2)),
    case("add-list", lambda m: m.ones(2) + [1, 2]),
    case("lt-none", lambda m: m.ones(2) < None),
    case("pow-str", lambda m: m.ones(2) ** "a"),
    case("zeros-negative", lambda m: m.zeros(-1)),
    case("ones-negative", lambda m: m.ones(2, -1)),
    case("full-negative", lambda m: m.full((-1,), 2.0)),
    case("arange-step-zero", lambda m: m.arange(0, 5, 0)),
    case("arange-int-dtype-fractional-step", lambda m: m.arange(0, 2.5, 0.5, dtype=m.int64)),
    case("arange-end-below-start", lambda m: m.arange(3, 1)),
    case("arange-negative-step-upwards", lambda m: m.arange(0, 1, -1)),
    case("arange-float-negative-step-upwards", lambda m: m.arange(0.0, 1.0, -0.5)),
    case("arange-infinite-end", lambda m: m.arange(0.0, float("inf"))),
    case("arange-nan-end", lambda m: m.arange(0, float("nan"))),
    case("arange-minus-infinite-start", lambda m: m.arange(float("-inf"), 0)),
    case("arange-nan-step", lambda m: m.arange(0, 5, float("nan"))),
    case("ragged-list", lambda m: m.tensor([[1, 2], [3]])),
    case("string-data", lambda m: m.tensor("a")),
]


@pytest.mark.parametrize(
    "fn", BROADCAST + MATMUL + SHAPES + DIMS + INDEXING + AUTOGRAD + CASTS_AND_CONVERSIONS)
def test_error_matches_torch(fn):
    assert_same_error(fn)


def test_errors_leave_no_half_written_tensor():
    """A refused write changes nothing, in visgrad as in torch."""
    for lib in (torch, vg):
        x = lib.zeros(2, 3)
        with pytest.raises(RuntimeError):
            x[0] = lib.ones(4)
        with pytest.raises(RuntimeError):
            x[[0, 1]] = lib.ones(4)
        assert x.sum().item() == 0


def test_numpy_of_a_tensor_that_requires_grad_is_allowed_under_no_grad_as_in_torch():
    """torch refuses numpy() on a tensor that requires grad only while grad mode is on."""
    results = []
    for lib in (torch, vg):
        x = lib.ones(2, requires_grad=True) * 3
        with lib.no_grad():
            results.append(x.numpy().tolist())
    assert results[0] == results[1] == [3.0, 3.0]


def _no_grad_view_facts(lib):
    x = lib.ones(3, requires_grad=True)
    with lib.no_grad():
        view = x[0:2]
        plain = lib.ones(3)[0:2]
        detached = x.detach()[0:2]
    facts = [view.requires_grad, view.is_leaf, view.grad_fn is None, plain.requires_grad,
             detached.requires_grad]
    product = view * 3
    facts.append([n is None for n, _ in product.grad_fn.next_functions])
    handle = view.register_hook(lambda g: g * 100)
    product.sum().backward()  # runs; the gradient reaches neither the view nor x
    facts += [view.grad is None, x.grad is None]
    handle.remove()
    later = view[0:1]  # a view of it, with grad: recorded, not a leaf
    facts += [later.requires_grad, later.is_leaf, type(later.grad_fn).__name__]
    with lib.no_grad():
        view.mul_(2)  # in place under no_grad: allowed, then the view is spoilt
        view.mul_(2)
    facts += [view.requires_grad, repr(view)]
    return facts


def test_views_made_under_no_grad_are_cut_from_their_base_as_in_torch():
    """A view of a tensor that requires grad, made under no_grad, requires grad and is a leaf
    whose gradient goes nowhere (its edge is None); once its storage changes in place it
    prints grad_fn=<Invalid> and refuses to be used (the error cases above)."""
    assert _no_grad_view_facts(vg) == _no_grad_view_facts(torch)


@pytest.mark.parametrize("number", [5, -7, 5.5, True])
@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64", "float16", "float32"])
def test_a_number_modulo_a_tensor_matches_torch(number, dtype):
    """``number % tensor`` (Tensor.__rmod__): torch's dtype and values; float divisors of 0
    give nan, as in torch."""
    values = [3, 2, 0] if dtype.startswith("float") else [3, 2, 7]
    ours = number % vg.tensor(values, dtype=getattr(vg, dtype))
    theirs = number % torch.tensor(values, dtype=getattr(torch, dtype))
    assert str(ours.dtype) == str(theirs.dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_ints_beyond_int64_make_a_float_tensor_as_in_torch():
    for dtype in ("float64", "float32"):
        ours = vg.tensor([[1, 2**70]], dtype=getattr(vg, dtype))
        theirs = torch.tensor([[1, 2**70]], dtype=getattr(torch, dtype))
        assert ours.numpy().tobytes() == theirs.numpy().tobytes()
