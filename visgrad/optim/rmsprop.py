"""RMSprop, plain or centered, with momentum, weight decay and maximize."""

from __future__ import annotations

import contextlib

from visgrad.engine.tensor import Tensor, tensor, zeros_like
from visgrad.optim.optimizer import (
    Optimizer, addcmul_, bump, check_unsupported, lerp_, muladd, scalar,
)


class RMSprop(Optimizer):
    """``p -= lr * g / (sqrt(E[g^2]) + eps)``, with E a running average (decay ``alpha``);
    ``centered`` subtracts the squared running mean of g; ``momentum`` adds a velocity buffer."""

    def __init__(self, params, lr=1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach=None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay, "capturable": capturable,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable}
        check_unsupported(defaults)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One RMSprop update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = scalar(group["lr"])
            alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
            weight_decay, centered = group["weight_decay"], group["centered"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                xp = p._backend.xp
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = tensor(0.0, device="cpu")
                    state["square_avg"] = zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = zeros_like(p)
                    if centered:
                        state["grad_avg"] = zeros_like(p)
                grad = p.grad._data
                if group["maximize"]:
                    grad = -grad
                state["step"]._data += 1
                bump(state["step"])
                dtype = p._data.dtype
                if weight_decay != 0:
                    grad = muladd(p._data, weight_decay, grad, dtype)
                square_avg = state["square_avg"]
                sq = square_avg._data
                sq *= alpha
                addcmul_(sq, grad, grad, 1 - alpha)
                bump(square_avg)
                if centered:
                    grad_avg = state["grad_avg"]
                    lerp_(grad_avg._data, grad, 1 - alpha)
                    bump(grad_avg)
                    ga = grad_avg._data
                    with _quiet(xp):
                        avg = xp.sqrt(muladd(-ga, ga, sq, dtype))
                else:
                    avg = xp.sqrt(sq)
                avg = avg + eps
                if momentum > 0:
                    buf = state["momentum_buffer"]
                    b = buf._data
                    b *= momentum
                    b += grad / avg
                    bump(buf)
                    p._data[...] = muladd(b, -lr, p._data, dtype)
                else:
                    p._data += (-lr * grad) / avg
                bump(p)
        return loss


def _quiet(xp):
    """A slightly negative centered variance gives nan silently, as in torch."""
    errstate = getattr(xp, "errstate", None)
    return errstate(invalid="ignore") if errstate else contextlib.nullcontext()
