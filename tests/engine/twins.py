"""Run one program in visgrad and in torch and compare everything a user can see.

The engine copies torch's API, so one function ``fn(lib, *tensors)`` written against ``lib``
runs as is with ``lib=torch`` and ``lib=vg``. ``Twin`` holds a visgrad tensor and the torch
tensor with the same values; ``check_program`` compares forward values, dtypes, grad_fn
graphs (names, ``next_functions`` edges, AccumulateGrad's leaf) and every leaf's gradient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

import visgrad as vg

TOLERANCE = {  # (rtol, atol) per dtype name
    "float32": (1e-6, 1e-6),
    "float64": (1e-12, 1e-12),
    "float16": (1e-3, 1e-3),
}

def dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


@dataclass
class Twin:
    """The same leaf in both libraries."""

    ours: vg.Tensor
    theirs: torch.Tensor


def twin(values, requires_grad: bool = True, device: str | None = None) -> Twin:
    """A leaf from a numpy array (its dtype is kept) in visgrad (on ``device``) and torch."""
    values = np.asarray(values)
    ours = vg.tensor(values.copy(), device=device)
    theirs = torch.tensor(values.copy())
    if requires_grad:
        ours.requires_grad_(True)
        theirs.requires_grad_(True)
    return Twin(ours, theirs)


def random_values(rng, shape, dtype="float32", positive=False, distinct=False):
    """Values kept away from the kinks and poles that make ops disagree on ties by accident."""
    shape = tuple(shape)
    if distinct:  # a permutation of spaced values: no ties anywhere
        n = int(np.prod(shape)) if shape else 1
        values = (rng.permutation(n) - n / 2 + 0.25) * 0.5
        values = values.reshape(shape)
    else:
        values = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    if positive:
        values = np.abs(values)
    return np.asarray(values, dtype=dtype)


def assert_close(ours, theirs, what: str = "value", dtype: str | None = None) -> None:
    """Same shape, dtype and values (within the dtype's tolerance; NaNs where torch has them)."""
    assert isinstance(ours, vg.Tensor), f"{what}: expected a Tensor, got {type(ours).__name__}"
    assert tuple(ours.shape) == tuple(theirs.shape), \
        f"{what}: shape {tuple(ours.shape)} != torch's {tuple(theirs.shape)}"
    assert dtype_name(ours) == dtype_name(theirs), \
        f"{what}: dtype {ours.dtype} != torch's {theirs.dtype}"
    expected = theirs.detach().numpy()
    got = ours.detach().cpu().numpy()
    name = dtype or dtype_name(theirs)
    if name in TOLERANCE:
        rtol, atol = TOLERANCE[name]
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def assert_same_graph(ours, theirs, leaves: list[Twin], where: str = "root") -> None:
    """The whole backward graph below two grad_fns: names, edges, output numbers, leaves."""
    seen: dict[int, object] = {}

    def walk(a, b, path):
        if b is None:
            assert a is None, f"{path}: visgrad has {node_name(a)}, torch has None"
            return
        assert a is not None, f"{path}: visgrad has None, torch has {node_name(b)}"
        assert node_name(a) == node_name(b), f"{path}: {node_name(a)} != torch's {node_name(b)}"
        assert a.name() == b.name(), f"{path}: name() {a.name()!r} != torch's {b.name()!r}"
        assert _without_address(repr(a)) == _without_address(repr(b)), f"{path}: repr differs"
        if id(b) in seen:  # a shared node in torch must be the same node in visgrad
            assert seen[id(b)] is a, f"{path}: torch reuses {node_name(b)}, visgrad does not"
            return
        seen[id(b)] = a
        if node_name(b) == "AccumulateGrad":
            index = [k for k, leaf in enumerate(leaves) if leaf.theirs is b.variable]
            assert index, f"{path}: AccumulateGrad of a tensor that is not a test leaf"
            assert a.variable is leaves[index[0]].ours, \
                f"{path}: AccumulateGrad.variable is not leaf {index[0]}"
        na, nb = a.next_functions, b.next_functions
        assert len(na) == len(nb), \
            f"{path}: {len(na)} next_functions != torch's {len(nb)} ({_edges(na)} vs {_edges(nb)})"
        for k, ((fa, ia), (fb, ib)) in enumerate(zip(na, nb)):
            child = f"{path}.next_functions[{k}]"
            assert ia == ib, f"{child}: output number {ia} != torch's {ib}"
            walk(fa, fb, f"{child}={node_name(fb)}")

    walk(ours, theirs, where)


def node_name(node) -> str | None:
    """The class name users see in ``grad_fn=<...>`` (torch's ``name()`` adds a namespace to
    AccumulateGrad and CopySlices)."""
    return None if node is None else type(node).__name__


def _without_address(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", " at 0x...", text)


def _edges(nf) -> list:
    return [(node_name(f), i) for f, i in nf]


def check_program(fn, *inputs, seed: int = 0, upstream: bool = True, graph: bool = True,
                  printed: bool = True):
    """Run ``fn(lib, *tensors)`` in both libraries and compare value, graph and gradients.

    Inputs are Twins or plain Python values (passed to both). Outputs may be a tensor or a
    tuple of them; gradients come from ``backward`` of every differentiable output at once,
    each with a random upstream gradient (or ``sum()`` when ``upstream`` is False).
    With ``printed``, the outputs' reprs (values, dtype, grad_fn) must be torch's too.
    """
    leaves = [x for x in inputs if isinstance(x, Twin)]
    ours = fn(vg, *[x.ours if isinstance(x, Twin) else x for x in inputs])
    theirs = fn(torch, *[x.theirs if isinstance(x, Twin) else x for x in inputs])
    ours_t = ours if isinstance(ours, tuple) else (ours,)
    theirs_t = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours_t) == len(theirs_t)
    rng = np.random.default_rng(seed)
    ours_roots, ours_grads, theirs_roots, theirs_grads = [], [], [], []
    for k, (o, t) in enumerate(zip(ours_t, theirs_t)):
        assert_close(o, t, f"output {k}")
        # how an output of a node with a namespaced name() (CopySlices, CopyBackwards) prints
        # is test_indexing_vs_torch.py::test_namespaced_grad_fns_print_like_torch's business
        namespaced = t.grad_fn is not None and "::" in t.grad_fn.name()
        if printed and not namespaced:
            assert repr(o) == repr(t), f"output {k} prints differently"
        assert o.requires_grad == t.requires_grad, f"output {k}: requires_grad differs"
        assert o.is_leaf == t.is_leaf, f"output {k}: is_leaf differs"
        if graph:
            assert_same_graph(o.grad_fn, t.grad_fn, leaves, where=f"output {k}")
        if t.requires_grad:
            if upstream:
                g = np.asarray(rng.standard_normal(tuple(t.shape)), dtype=dtype_name(t))
                ours_grads.append(vg.tensor(g, device=o.device))
                theirs_grads.append(torch.tensor(g))
            else:
                ours_grads.append(None)
                theirs_grads.append(None)
                o, t = o.sum(), t.sum()
            ours_roots.append(o)
            theirs_roots.append(t)
    if theirs_roots:
        torch.autograd.backward(theirs_roots, theirs_grads if upstream else None)
        vg.autograd.backward(ours_roots, ours_grads if upstream else None)
    for k, leaf in enumerate(leaves):
        if leaf.theirs.grad is None:
            assert leaf.ours.grad is None, f"leaf {k}: visgrad has a grad, torch has None"
        else:
            assert leaf.ours.grad is not None, f"leaf {k}: visgrad has no grad"
            assert_close(leaf.ours.grad, leaf.theirs.grad, f"grad of leaf {k}")
    return ours, theirs


@dataclass(frozen=True)
class Leaf:
    """How to make one input: its shape, value range and whether it requires grad."""

    shape: tuple = ()
    positive: bool = False
    distinct: bool = False
    grad: bool = True
    values: tuple | None = None  # exact values (nested tuples), instead of random ones

    def make(self, rng, dtype: str, device: str | None = None) -> Twin:
        if self.values is not None:
            data = np.asarray(self.values, dtype=dtype)
        else:
            data = random_values(rng, self.shape, dtype, self.positive, self.distinct)
        return twin(data, requires_grad=self.grad, device=device)


def leaf(*shape, **kwargs) -> Leaf:
    return Leaf(tuple(shape), **kwargs)


def exact(values, **kwargs) -> Leaf:
    """A leaf with the given values (for ties, zeros, kinks)."""

    def freeze(v):
        return tuple(freeze(x) for x in v) if isinstance(v, (list, tuple)) else v

    return Leaf(values=freeze(values), **kwargs)


def make_inputs(specs, dtype: str, seed: int = 0, device: str | None = None) -> list:
    """Twins for Leaf specs (in ``dtype``, visgrad's on ``device``); anything else is passed
    through as is."""
    rng = np.random.default_rng(seed)
    return [s.make(rng, dtype, device) if isinstance(s, Leaf) else s for s in specs]
