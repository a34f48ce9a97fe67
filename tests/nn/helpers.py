"""Shared by the nn and optim tests: the same values in visgrad and torch, and comparisons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import visgrad as vg
import visgrad.nn  # noqa: F401 - binds vg.nn
import visgrad.optim  # noqa: F401 - binds vg.optim

TOL = {"float32": 1e-5, "float64": 1e-10}


def host(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)  # force: torch's ZeroTensors
    return t.detach().numpy(force=True)


def pair(values, dtype=None, requires_grad: bool = False):
    """The same leaf in visgrad and torch (numpy dtype kept unless ``dtype`` is given)."""
    values = np.asarray(values)
    if dtype is not None:
        values = values.astype(dtype)
    ours = vg.tensor(values.copy())
    theirs = torch.tensor(values.copy())
    if requires_grad:
        ours.requires_grad_(True)
        theirs.requires_grad_(True)
    return ours, theirs


def close(ours, theirs, tol: float | None = None) -> None:
    """Same shape, dtype and values (to the dtype's tolerance unless ``tol`` is given)."""
    assert ours is not None and theirs is not None, (ours, theirs)
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    name = str(theirs.dtype).removeprefix("torch.")
    assert ours.dtype.name == name, (ours.dtype, theirs.dtype)
    if tol is None:
        tol = TOL.get(name, 0)
    np.testing.assert_allclose(host(ours).astype(np.float64), host(theirs).astype(np.float64),
                               rtol=tol, atol=tol)


def graph(fn, depth: int = 6):
    """A grad_fn graph as nested (name, children), for comparing structure with torch's."""
    if fn is None:
        return None
    name = type(fn).__name__
    if depth == 0:
        return (name,)
    return (name, tuple(graph(n, depth - 1) for n, _ in fn.next_functions))


def same_error(program, match_type: bool = True):
    """``program(lib)`` raises in torch; visgrad must raise the same type and message."""
    with pytest.raises(Exception) as expected:
        program(torch)
    with pytest.raises(type(expected.value) if match_type else Exception) as got:
        program(vg)
    assert str(got.value) == str(expected.value)
    return got.value


def copy_parameters(torch_module, vg_module) -> None:
    """Give a visgrad module the values of the same-architecture torch module."""
    ours = dict(vg_module.named_parameters())
    theirs = dict(torch_module.named_parameters())
    assert ours.keys() == theirs.keys()
    with vg.no_grad():
        for name, p in ours.items():
            p.copy_(vg.tensor(theirs[name].detach().numpy().copy()))
