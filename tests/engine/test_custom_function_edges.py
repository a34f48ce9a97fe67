"""Custom ``autograd.Function``s at their edges, each program run in torch and in visgrad:
an input changed in place (``ctx.mark_dirty``), outputs that are not tensors, missing
gradients left as None (``ctx.set_materialize_grads(False)``), and misuse."""

import warnings

import pytest
import torch

import visgrad as vg


def functions(lib):
    class Doubled(lib.autograd.Function):  # changes its input in place and returns it
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class DirtyNotReturned(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class WithCount(lib.autograd.Function):  # a tensor and a plain number
        @staticmethod
        def forward(ctx, x):
            return x * 2, 7

        @staticmethod
        def backward(ctx, g, count_grad):
            return g * 2 + (0 if count_grad is None else 1000)

    class Pair(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            # a missing gradient arrives as None, not zeros: 100 marks the difference
            return g1 * 2 + (100 if g2 is None else g2 * 3)

    class MaterializedPair(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + (100 if g2 is None else g2 * 3)

    return Doubled, DirtyNotReturned, WithCount, Pair, MaterializedPair


def _dirty_result(lib):
    doubled = functions(lib)[0]
    x = lib.ones(3, requires_grad=True)
    z = x * 1
    before = z._version
    w = doubled.apply(z)
    (w * w).sum().backward()
    return (w is z, z._version - before, type(w.grad_fn).__name__,
            [type(n).__name__ for n, _ in w.grad_fn.next_functions], x.grad.tolist())


def _number_output(lib):
    x = lib.ones(3, requires_grad=True)
    doubled, count = functions(lib)[2].apply(x)
    doubled.sum().backward()
    return count, x.grad.tolist()


def _pair(lib, which):
    x = lib.ones(2, requires_grad=True)
    first, _ = functions(lib)[which].apply(x)
    first.sum().backward()
    return x.grad.tolist()


PROGRAMS = {
    "mark_dirty: the input is the output, with the function's history":
        _dirty_result,
    "an output that is a number: its gradient is None": _number_output,
    "set_materialize_grads(False): a missing gradient is None": lambda lib: _pair(lib, 3),
    "by default a missing gradient is zeros": lambda lib: _pair(lib, 4),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_custom_function_matches_torch(name):
    assert PROGRAMS[name](vg) == PROGRAMS[name](torch)


def _dirty_leaf(lib):
    functions(lib)[0].apply(lib.ones(3, requires_grad=True))


def _dirty_not_returned(lib):
    functions(lib)[1].apply(lib.ones(3, requires_grad=True) * 1)


def _called_on_an_instance(lib):
    functions(lib)[0]()(lib.ones(3))


@pytest.mark.parametrize("program", [_dirty_leaf, _dirty_not_returned, _called_on_an_instance])
def test_custom_function_misuse_fails_with_torchs_words(program):
    errors = []
    for lib in (torch, vg):
        with pytest.raises(RuntimeError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch: "should not be
            program(lib)  # instantiated"
        errors.append(str(info.value))
    assert errors[0] == errors[1]
