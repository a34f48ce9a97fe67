"""Adagrad, with learning-rate decay, an initial accumulator value, weight decay and maximize."""

from __future__ import annotations

from visgrad.engine.tensor import Tensor, full_like, tensor
from visgrad.optim.optimizer import (
    Optimizer, addcmul_, bump, check_unsupported, muladd, scalar,
)


class Adagrad(Optimizer):
    """``p -= clr * g / (sqrt(sum of g^2) + eps)`` with ``clr = lr / (1 + (step - 1) * lr_decay)``.

    As in torch, the state (``step`` and ``sum``) exists for every parameter from construction.
    """

    def __init__(self, params, lr=1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False, fused=None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError("Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        check_unsupported(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p) -> dict:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = tensor(0.0, device="cpu")
            state["sum"] = full_like(p, self.defaults["initial_accumulator_value"])
        return state

    def step(self, closure=None):
        """One Adagrad update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = scalar(group["lr"])
            lr_decay, eps, weight_decay = group["lr_decay"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                xp = p._backend.xp
                state = self._init_state(p)
                step_t = state["step"]
                step_t._data += 1
                bump(step_t)
                step = step_t.item()
                grad = p.grad._data
                if group["maximize"]:
                    grad = -grad
                if weight_decay != 0:
                    grad = muladd(p._data, weight_decay, grad, p._data.dtype)
                clr = lr / (1 + (step - 1) * lr_decay)
                total = state["sum"]
                addcmul_(total._data, grad, grad, 1)
                bump(total)
                std = xp.sqrt(total._data) + eps
                p._data += (-clr * grad) / std
                bump(p)
        return loss
