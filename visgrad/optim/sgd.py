"""Stochastic gradient descent with momentum, dampening, Nesterov, weight decay and maximize."""

from __future__ import annotations

from visgrad.engine.tensor import Tensor
from visgrad.optim.optimizer import Optimizer, bump, check_unsupported, muladd, scalar


class SGD(Optimizer):
    """``p -= lr * g`` where g is the gradient (plus weight decay), through a momentum buffer
    when ``momentum > 0``; the same update, in the same float order, as torch.optim.SGD.

    >>> import visgrad as vg
    >>> w = vg.tensor([1.0], requires_grad=True)
    >>> opt = vg.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    >>> w
    tensor([0.4600], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        check_unsupported(defaults)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = scalar(group["lr"])
            weight_decay, momentum = group["weight_decay"], group["momentum"]
            dampening, nesterov = group["dampening"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                data = p._data
                dtype = data.dtype
                grad = p.grad._data
                if group["maximize"]:
                    grad = -grad
                if weight_decay != 0:
                    grad = muladd(data, weight_decay, grad, dtype)
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = Tensor._wrap(p._backend.xp.array(grad, dtype=dtype), p._backend)
                    else:
                        b = buf._data
                        b *= momentum
                        b[...] = muladd(grad, 1 - dampening, b, dtype)
                        bump(buf)
                    grad = muladd(buf._data, momentum, grad, dtype) if nesterov else buf._data
                    state["momentum_buffer"] = buf
                data[...] = muladd(grad, -lr, data, dtype)
                bump(p)
        return loss
