"""``vg.autograd``: the functional entry points, ``backward`` and ``grad``."""

from __future__ import annotations

from visgrad.engine.autograd import BackwardIteration
from visgrad.engine.tensor import Tensor, gradients_given


def _seq(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad`` (torch.autograd.backward)."""
    tensors = _seq(tensors)
    if inputs is not None and not _seq(inputs):
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    BackwardIteration(tensors, gradients_given(grad_tensors, len(tensors)),
                      retain_graph=retain_graph,
                      create_graph=create_graph, inputs=_seq(inputs)).run()


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Return the gradients of ``outputs`` w.r.t. ``inputs`` without touching ``.grad``.

    >>> import visgrad as vg
    >>> x = vg.tensor(3.0, requires_grad=True)
    >>> (dx,) = vg.autograd.grad(x ** 3, x, create_graph=True)
    >>> dx
    tensor(27., grad_fn=<MulBackward0>)
    >>> vg.autograd.grad(dx, x)
    (tensor(18.),)
    """
    outputs, inputs = _seq(outputs), _seq(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if allow_unused is None:
        allow_unused = materialize_grads
    it = BackwardIteration(outputs, gradients_given(grad_outputs, len(outputs)),
                           retain_graph=retain_graph,
                           create_graph=create_graph, inputs=inputs, accumulate=False,
                           allow_unused=allow_unused)
    it.run()
    result = []
    for t, g in zip(inputs, it.captured):
        if g is not None and not create_graph:
            g = g.detach()
        if g is None and materialize_grads:
            from visgrad.engine.tensor import zeros_like  # noqa: PLC0415

            g = zeros_like(t)
        result.append(g)
    return tuple(result)


_ = Tensor
