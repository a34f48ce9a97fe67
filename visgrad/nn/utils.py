"""``vg.nn.utils``: gradient clipping, as training loops call it between ``backward()`` and
``step()`` (torch.nn.utils.clip_grad_norm_ and clip_grad_value_)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from visgrad.engine import grad_mode
from visgrad.engine.ops import norms
from visgrad.engine.ops.shape import stack
from visgrad.engine.tensor import Tensor, tensor


def _gradients(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale the gradients down, all by one factor, so that their joint ``norm_type``-norm
    is at most ``max_norm``; returns the norm they had."""
    grads = _gradients(parameters)
    if not grads:
        return tensor(0.0)
    order = float(norm_type)
    with grad_mode.no_grad():
        each = [norms.vector_norm(g, order) for g in grads]
        total = norms.vector_norm(stack(each), order)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(
                f"The total norm of order {order} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
        factor = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(factor.to(g.dtype))
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    with grad_mode.no_grad():
        for g in _gradients(parameters):
            g.clamp_(min=-clip_value, max=clip_value)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
