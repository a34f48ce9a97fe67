"""``vg.autograd.functional``: Jacobians, Hessians and their products with vectors, of a
function of tensors (torch.autograd.functional's jacobian, hessian, vjp, vhp and hvp).

Each is built from the engine's own reverse passes: one per output element for a Jacobian
(a row of it each), one more level of them for a Hessian. The results are detached unless
``create_graph`` asks for them to be differentiable again. Inputs the function does not use
get zeros, or, with ``strict``, torch's error.
"""

from __future__ import annotations

from collections.abc import Callable

from visgrad.engine import grad_mode
from visgrad.engine.autograd_api import grad
from visgrad.engine.ops.shape import stack
from visgrad.engine.tensor import Tensor, zeros_like


def _as_tuple(value, what: str, fn_name: str) -> tuple[bool, tuple]:
    """(whether it was a tuple, the tensors as a tuple), or torch's TypeError."""
    is_tuple = isinstance(value, tuple | list)
    items = tuple(value) if is_tuple else (value,)
    for index, item in enumerate(items):
        if not isinstance(item, Tensor):
            if what == "outputs":
                kind = type(item) if is_tuple else type(value)
                raise TypeError(
                    f"The {what} of the user-provided function given to {fn_name} must be "
                    f"either a Tensor or a tuple of Tensors but the given {what} of the "
                    f"user-provided function has type {kind}.")
            raise TypeError(
                f"The {what} given to {fn_name} must be either a Tensor or a tuple of Tensors "
                f"but the value at index {index} has type {type(item)}.")
    return is_tuple, items


def _prepared(inputs: tuple, create_graph: bool) -> tuple:
    """Fresh leaves of the inputs' values (kept in the caller's graph under create_graph)."""
    if create_graph:
        return tuple(x if x.requires_grad else x.detach().requires_grad_() for x in inputs)
    return tuple(x.detach().requires_grad_() for x in inputs)


def _rows(output: Tensor, inputs: tuple, create_graph: bool, strict: bool, index: int,
          fn_name: str) -> tuple:
    """For each input, the Jacobian of ``output`` with respect to it: output's shape then
    the input's."""
    if strict and not output.requires_grad:
        raise RuntimeError(f"Output {index} of the user-provided function does not require "
                           "gradients. The outputs must be computed in a differentiable "
                           "manner from the input when running in strict mode.")
    flat = output.reshape(-1)
    rows: list[list[Tensor]] = [[] for _ in inputs]
    for k in range(flat.shape[0]):
        if flat.requires_grad:
            grads = grad(flat[k], inputs, retain_graph=True, create_graph=create_graph,
                         allow_unused=True)
        else:
            grads = (None,) * len(inputs)
        for i, (g, x) in enumerate(zip(grads, inputs, strict=True)):
            if g is None:
                if strict:
                    raise RuntimeError(
                        f"Output {index} of the user-provided function is independent of "
                        f"input {i}. This is not allowed in strict mode.")
                g = zeros_like(x)
            rows[i].append(g)
    result = []
    for x, column in zip(inputs, rows, strict=True):
        block = stack(column) if column else zeros_like(x).reshape(0, *x.shape)
        block = block.reshape(*output.shape, *x.shape)
        result.append(block if create_graph else block.detach())
    return tuple(result)


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for a tensor in and a tensor out, a tensor of
    the output's shape followed by the input's; tuples in or out give tuples of them."""
    with grad_mode.enable_grad():
        inputs_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
        xs = _prepared(xs, create_graph)
        outputs = func(*xs)
        outputs_tuple, ys = _as_tuple(outputs, "outputs", "jacobian")
        blocks = tuple(_rows(y, xs, create_graph, strict, k, "jacobian")
                       for k, y in enumerate(ys))
    per_output = [b if inputs_tuple else b[0] for b in blocks]
    return tuple(per_output) if outputs_tuple else per_output[0]


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of ``func`` (one number out) at ``inputs``: the Jacobian of its gradient."""
    inputs_tuple, xs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*args):
        out = func(*args)
        _, outs = _as_tuple(out, "outputs", "hessian")
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor "
                               "with a single element.")
        grads = grad(outs[0].reshape(()), args, create_graph=True, allow_unused=True)
        if strict and any(g is None for g in grads):
            raise RuntimeError("The jacobian of the user-provided function is independent of "
                               "input 0. This is not allowed in strict mode when "
                               "create_graph=True.")
        grads = tuple(zeros_like(a) if g is None else g for g, a in zip(grads, args))
        return grads if inputs_tuple else grads[0]

    return jacobian(gradient, inputs, create_graph=create_graph, strict=strict)


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), vᵀ · J): one reverse pass."""
    with grad_mode.enable_grad():
        inputs_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
        xs = _prepared(xs, create_graph)
        outputs = func(*xs)
        outputs_tuple, ys = _as_tuple(outputs, "outputs", "vjp")
        if v is None:
            if len(ys) != 1 or ys[0].numel() != 1:
                raise RuntimeError("The vector v can only be None if the user-provided "
                                   "function returns a single Tensor with a single element.")
            vs = (None,)
        else:
            _, vs = _as_tuple(v, "v", "vjp")
        roots = [y for y in ys if y.requires_grad]
        seeds = [s for y, s in zip(ys, vs, strict=True) if y.requires_grad]
        grads = grad(roots, xs, seeds, create_graph=create_graph, allow_unused=True) \
            if roots else (None,) * len(xs)
    grads = tuple(zeros_like(x) if g is None else (g if create_graph else g.detach())
                  for g, x in zip(grads, xs, strict=True))
    out = tuple(y if create_graph else y.detach() for y in ys)
    return (out if outputs_tuple else out[0]), (grads if inputs_tuple else grads[0])


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), vᵀ · H): the gradient's vector-Jacobian product."""
    return _second_order(func, inputs, v, create_graph)


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H · v): the same numbers as vhp for a twice-differentiable function,
    whose Hessian is symmetric."""
    return _second_order(func, inputs, v, create_graph)


def _second_order(func, inputs, v, create_graph: bool):
    with grad_mode.enable_grad():
        inputs_tuple, xs = _as_tuple(inputs, "inputs", "vhp")
        xs = _prepared(xs, create_graph)
        out = func(*xs)
        _, outs = _as_tuple(out, "outputs", "vhp")
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("The function given to hvp should return a single Tensor with "
                               "a single element.")
        grads = grad(outs[0].reshape(()), xs, create_graph=True, allow_unused=True)
        _, vs = _as_tuple(v, "v", "vhp")
        pairs = [(g, s) for g, s in zip(grads, vs, strict=True) if g is not None]
        products = grad([g for g, _ in pairs], xs, [s for _, s in pairs],
                        create_graph=create_graph, allow_unused=True) if pairs \
            else (None,) * len(xs)
    products = tuple(zeros_like(x) if p is None else (p if create_graph else p.detach())
                     for p, x in zip(products, xs, strict=True))
    value = outs[0] if create_graph else outs[0].detach()
    return value, (products if inputs_tuple else products[0])


__all__ = ["hessian", "hvp", "jacobian", "vhp", "vjp"]
