"""Finite-difference checks of gradients, as ``torch.autograd.gradcheck`` does them.

The point is to catch a wrong hand-written backward (a custom Function) before it silently
teaches a wrong number: the analytical Jacobian from the engine is compared with central
differences in float64.
"""

from __future__ import annotations

import warnings

from visgrad.engine import grad_mode
from visgrad.engine.tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the Jacobians disagree (torch's type of the same name)."""


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _differentiable_outputs(func, inputs):
    return tuple(o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor) and o._requires_grad)


def _numerical_jacobian(func, inputs, i, out_index, eps):
    """d out[out_index] / d inputs[i] by central differences, as a list of rows per input elem."""
    x = inputs[i]
    flat = x._data.reshape(-1)
    columns = []
    # func runs with grad mode on: for gradgradcheck it calls autograd.grad itself.
    for k in range(flat.size):
        orig = flat[k].item()
        with grad_mode.enable_grad():
            flat[k] = orig + eps
            plus = _as_tuple(func(*inputs))[out_index]._data.astype("float64").reshape(-1)
            flat[k] = orig - eps
            minus = _as_tuple(func(*inputs))[out_index]._data.astype("float64").reshape(-1)
            flat[k] = orig
        columns.append((plus - minus) / (2 * eps))
    return columns


def _analytical_jacobian(outputs, inputs, out_index, diff_inputs):
    from visgrad.engine.autograd import BackwardIteration  # noqa: PLC0415

    out = outputs[out_index]
    xp = out._backend.xp
    rows = []  # one row per output element: gradient w.r.t. each input, flattened
    for j in range(out._data.size):
        seed = xp.zeros(out._data.size, dtype=out._data.dtype)
        seed[j] = 1
        grad_out = Tensor._wrap(seed.reshape(out._data.shape), out._backend)
        it = BackwardIteration([out], [grad_out], retain_graph=True, inputs=diff_inputs,
                               accumulate=False, allow_unused=True)
        it.run()
        rows.append([None if g is None else g._data.astype("float64").reshape(-1)
                     for g in it.captured])
    return rows


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              **_ignored) -> bool:
    """Check ``func``'s gradients against finite differences; float64 inputs recommended.

    >>> import visgrad as vg
    >>> x = vg.tensor([1.0, 2.0], dtype=vg.float64, requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(), (x,))
    True
    """
    inputs = _as_tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t._requires_grad]
    if not diff_inputs:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t._requires_grad and t.dtype.name != "float64":
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          "point or complex. This check will likely fail if all the inputs are "
                          "not of double precision floating point or complex. ", UserWarning,
                          stacklevel=2)
    outputs = _differentiable_outputs(func, inputs)
    for oi in range(len(outputs)):
        analytical = _analytical_jacobian(outputs, inputs, oi, diff_inputs)
        for ii, x in enumerate(diff_inputs):
            index = next(k for k, t in enumerate(inputs) if t is x)
            numerical = _numerical_jacobian(func, inputs, index, oi, eps)
            for k, col in enumerate(numerical):
                for j in range(col.size):
                    a_row = analytical[j][ii]
                    a = 0.0 if a_row is None else float(a_row[k])
                    n = float(col[j])
                    if abs(a - n) > atol + rtol * abs(n):
                        if not raise_exception:
                            return False
                        raise GradcheckError(
                            f"Jacobian mismatch for output {oi} with respect to input {ii},\n"
                            f"numerical:{_jacobian(numerical, x)!r}\n"
                            f"analytical:{_jacobian(_columns(analytical, ii, x), x)!r}\n")
    return True


def _columns(analytical, ii: int, x: Tensor) -> list:
    """The analytical Jacobian of one input as ``_numerical_jacobian`` lays it out: for each
    element of the input, the derivatives of every output element."""
    import numpy  # noqa: PLC0415 - host-side bookkeeping of a check's report

    size = x._data.size
    return [numpy.array([0.0 if row[ii] is None else float(row[ii][k]) for row in analytical])
            for k in range(size)]


def _jacobian(columns: list, x: Tensor) -> Tensor:
    """A Jacobian as torch's gradcheck prints it: a row per input element, a column per output
    element, in the input's dtype."""
    import numpy  # noqa: PLC0415 - host-side bookkeeping of a check's report

    from visgrad.engine.tensor import tensor  # noqa: PLC0415

    rows = numpy.stack([numpy.asarray(c, dtype=numpy.float64) for c in columns]) if columns \
        else numpy.zeros((0, 0))
    return tensor(rows.tolist(), dtype=x.dtype)


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, **_ignored) -> bool:
    """Check second derivatives: gradcheck of (inputs, grad_outputs) -> autograd.grad(...)."""
    from visgrad.engine.autograd_api import grad  # noqa: PLC0415
    from visgrad.engine.tensor import randn_like  # noqa: PLC0415

    inputs = _as_tuple(inputs)
    outputs = _differentiable_outputs(func, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(randn_like(o, requires_grad=True).to(o.dtype) for o in outputs)
        grad_outputs = tuple(g.detach().requires_grad_(True) for g in grad_outputs)
    grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)
    diff_inputs_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t._requires_grad]

    def first_derivative(*args):
        ins, gos = args[:n_in], args[n_in:]
        outs = _differentiable_outputs(func, ins)
        diff = [ins[i] for i in diff_inputs_idx]
        grads = grad(outs, diff, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
