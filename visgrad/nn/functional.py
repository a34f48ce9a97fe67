"""``vg.nn.functional``: activations, linear, dropout and the losses, with torch's grad_fns.

Where torch has a dedicated backward for a function (``AddmmBackward0``, ``MseLossBackward0``,
``NllLossBackward0``, ``BinaryCrossEntropyBackward0``...) it is defined here, forward next to
backward, written with Tensor operations so that gradients of gradients work. Where torch
composes other ops (``l1_loss``, ``cross_entropy``, weighted ``mse_loss``) this module composes
the same engine ops, so a graph shows the same nodes as torch's.

>>> import visgrad as vg
>>> import visgrad.nn.functional as F
>>> logits = vg.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
>>> F.cross_entropy(logits, vg.tensor([0]))
tensor(0.2413, grad_fn=<NllLossBackward0>)
"""

from __future__ import annotations

import contextlib
import math
import warnings

from visgrad.engine import grad_mode
from visgrad.engine.autograd import Node, record
from visgrad.engine.ops import activations, pointwise, shape
from visgrad.engine.ops.linalg import CPP_NAME
from visgrad.engine.ops.softmax import log_softmax as _log_softmax
from visgrad.engine.ops.softmax import softmax as _softmax
from visgrad.engine.ops._common import broadcast_error, promote
from visgrad.engine.tensor import _SCALAR_NAME, Tensor, rand, zeros_like

__all__ = [
    "relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "silu", "softplus", "embedding",
    "layer_norm", "batch_norm", "softmax",
    "log_softmax", "linear", "dropout", "mse_loss",
    "l1_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

# torch's names for dtypes in its messages: ScalarType names and the C++ names of float types
_SCALAR_NAME = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _loss_dtype(a: Tensor, b: Tensor):
    """The numpy dtype of ``a (op) b`` for two dimensioned tensors, as torch promotes: a float
    tensor keeps its dtype against an integer one (the engine's promote gives float64)."""
    da, db = a._data.dtype, b._data.dtype
    if (da.kind == "f") != (db.kind == "f"):
        return da if da.kind == "f" else db
    return promote(a, b)


def _scalar_name(t: Tensor) -> str:
    return _SCALAR_NAME[t.dtype.name]


def _wrap(data, like: Tensor) -> Tensor:
    """A tensor on ``like``'s backend; 0-d results stay arrays (numpy may give scalars)."""
    return Tensor._wrap(like._backend.xp.asarray(data), like._backend)


def _quiet(xp):
    """Silence numpy's divide/invalid warnings where torch gives inf or nan silently."""
    errstate = getattr(xp, "errstate", None)
    return errstate(divide="ignore", invalid="ignore") if errstate else contextlib.nullcontext()


# ---- reductions, shared by the losses -------------------------------------------------------

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction_enum(reduction: str) -> int:
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=3)
        return 1
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _REDUCTIONS[reduction]


def legacy_reduction(size_average, reduce, emit_warning: bool = True) -> str:
    """The reduction the deprecated ``size_average``/``reduce`` flags ask for."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        result = "mean"
    elif reduce:
        result = "sum"
    else:
        result = "none"
    if emit_warning:
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      f"reduction='{result}' instead.", stacklevel=3)
    return result


def _reduce_array(xp, loss, reduction: int):
    """Apply a reduction to a loss array: 'mean' of nothing is nan (silently), as in torch."""
    if reduction == 0:
        return loss
    total = loss.sum()
    if reduction == 2:
        return total.reshape(())
    with _quiet(xp):
        return (total / loss.dtype.type(loss.size)).reshape(()).astype(loss.dtype)


def _check_no_requires_grad(t, arg: str, fn: str) -> None:
    if t is not None and t.requires_grad and grad_mode.is_grad_enabled():
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument "
                           f"'{arg}'. This input cannot have requires_grad True.")


# ---- small ops that torch records under their own names ---------------------------------------

class DivBackward1(Node):
    """``tensor / number`` as ATen computes it inside composite functions."""

    def backward(self, g):
        return (g / self.other,)


def _div_scalar(x: Tensor, other) -> Tensor:
    return record(DivBackward1, _wrap(x._data / x._data.dtype.type(other), x), (x,), other=other)


class AddBackward1(Node):
    """``tensor + number`` as ATen computes it inside composite functions."""

    def backward(self, g):
        return (g,)


def _add_scalar(x: Tensor, other) -> Tensor:
    return record(AddBackward1, _wrap(x._data + x._data.dtype.type(other), x), (x,))


class MulBackward1(Node):
    """``tensor * number`` as ATen computes it inside composite functions."""

    def backward(self, g):
        return (g * self.other,)


def _mul_scalar(x: Tensor, other) -> Tensor:
    return record(MulBackward1, _wrap(x._data * x._data.dtype.type(other), x), (x,), other=other)


def _masked_fill(x: Tensor, mask: Tensor, value: float) -> Tensor:
    return pointwise.masked_fill(x, mask, value)


# ---- activations --------------------------------------------------------------------------

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0) (ReluBackward0)."""
    return input.relu_() if inplace else pointwise.relu(input)


def tanh(input: Tensor) -> Tensor:
    return pointwise.tanh(input)


def sigmoid(input: Tensor) -> Tensor:
    return pointwise.sigmoid(input)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm=None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """The rows of ``weight`` that ``input``'s integer indices name (EmbeddingBackward0)."""
    from visgrad.nn import normalization  # noqa: PLC0415 - it imports this module's ops

    return normalization.embedding(input, weight, padding_idx, max_norm, norm_type,
                                   scale_grad_by_freq, sparse)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last dims (NativeLayerNormBackward0)."""
    from visgrad.nn import normalization  # noqa: PLC0415

    return normalization.layer_norm(input, normalized_shape, weight, bias, eps)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel over the batch (NativeBatchNormBackward0)."""
    from visgrad.nn import normalization  # noqa: PLC0415

    return normalization.batch_norm(input, running_mean, running_var, weight, bias, training,
                                    momentum, eps)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input where positive, else negative_slope · input (LeakyReluBackward0; in place,
    LeakyReluBackward1)."""
    return activations.leaky_relu(input, negative_slope, inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """input where positive, else alpha · (e^input - 1) (EluBackward0; in place, 1)."""
    return activations.elu(input, alpha, inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """input · Φ(input), Φ the standard normal's distribution function (GeluBackward0)."""
    return activations.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """input · sigmoid(input) (SiluBackward0)."""
    return activations.silu(input, inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta · input)) / beta (SoftplusBackward0)."""
    return activations.softplus(input, beta, threshold)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _check_softmax_input(input: Tensor, dim: int, name: str, dtype) -> None:
    if dtype is None and not input.is_floating_point():
        last = input.ndim == 0 or dim in (-1, input.ndim - 1)
        kernel = f"{name}_lastdim_kernel_impl" if last else f"{name}_kernel_impl"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_scalar_name(input)}\'')


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (SoftmaxBackward0)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    _check_softmax_input(input, dim, "softmax", dtype)
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    """log(softmax(x)) computed stably along ``dim`` (LogSoftmaxBackward0)."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    _check_softmax_input(input, dim, "log_softmax", dtype)
    return _log_softmax(input, dim, dtype=dtype)


# ---- linear --------------------------------------------------------------------------------

class AddmmBackward0(Node):
    def backward(self, g):
        mat1, mat2 = self.saved_tensors
        g_bias = g if self.needs_input_grad(0) else None  # summed to the bias' shape centrally
        g1 = g.mm(mat2.t()) if self.needs_input_grad(1) else None
        g2 = mat1.t().mm(g) if self.needs_input_grad(2) else None
        return g_bias, g1, g2


def _expand_error(size: tuple, target: tuple) -> RuntimeError | None:
    """torch's message when ``size`` cannot be expanded to ``target``, or None if it can."""
    if len(size) > len(target):
        return RuntimeError(f"The expanded size of the tensor ({target[0] if target else 0}) "
                            "must match the existing size; the number of sizes provided "
                            f"({len(target)}) must be greater or equal to the number of "
                            f"dimensions in the tensor ({len(size)})")
    offset = len(target) - len(size)
    for i, s in enumerate(size):
        want = target[offset + i]
        if s != want and s != 1:
            return RuntimeError(
                f"The expanded size of the tensor ({want}) must match the existing size ({s}) at "
                f"non-singleton dimension {offset + i}.  Target sizes: {list(target)}.  "
                f"Tensor sizes: {list(size)}")
    return None


def addmm(bias: Tensor, mat1: Tensor, mat2: Tensor) -> Tensor:
    """bias + mat1 @ mat2 with the bias broadcast over rows (AddmmBackward0)."""
    (n, k), (k2, m) = mat1.shape, mat2.shape
    if k != k2:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})")
    error = _expand_error(tuple(bias.shape), (n, m))
    if error is not None:
        raise error
    for other in (mat2, bias):
        if other.dtype != mat1.dtype:
            raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                               f"{CPP_NAME.get(mat1.dtype.name, mat1.dtype.name)} != "
                               f"{CPP_NAME.get(other.dtype.name, other.dtype.name)}")
    data = mat1._data @ mat2._data + bias._data
    return record(AddmmBackward0, _wrap(data, mat1), (bias, mat1, mat2), save=(mat1, mat2))


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``, recorded as torch records it.

    2-D input with bias is one ``AddmmBackward0``; without bias ``MmBackward0``; other ranks
    are folded to 2-D and back (``ViewBackward0`` / ``UnsafeViewBackward0``), as in torch.
    """
    if input.ndim == 0 or weight.ndim == 0:
        raise RuntimeError("both arguments to linear need to be at least 1D, but they are "
                           f"{input.ndim}D and {weight.ndim}D")
    if weight.ndim != 2:
        out = input.matmul(weight.t())
        return out if bias is None else out + bias
    if input.dtype != weight.dtype:
        if bias is not None:  # torch's addmm (any rank of input) words it its own way
            raise RuntimeError("mat1 and mat2 must have the same dtype, but got "
                               f"{_SCALAR_NAME[input.dtype.name]} and "
                               f"{_SCALAR_NAME[weight.dtype.name]}")
        raise RuntimeError("expected m1 and m2 to have the same dtype, but got: "
                           f"{CPP_NAME.get(input.dtype.name, input.dtype.name)} != "
                           f"{CPP_NAME.get(weight.dtype.name, weight.dtype.name)}")
    in_features = input.shape[-1]
    if input.ndim == 2:
        if bias is None:
            return input.mm(weight.t())
        return addmm(bias, input, weight.t())
    if input.ndim == 1:
        if bias is None:
            return input.matmul(weight.t())  # unsqueeze, mm, squeeze: SqueezeBackward4
        out = addmm(bias, input.reshape(1, in_features), weight.t())
        return out.reshape(out.shape[1])
    batch = tuple(input.shape[:-1])
    flat = input.reshape(-1, in_features)
    if bias is None:
        out = flat.mm(weight.t())
        return shape.unsafe_view(out, batch + (out.shape[1],))
    out = addmm(bias, flat, weight.t())
    return out.reshape(*batch, out.shape[1])


# ---- dropout -------------------------------------------------------------------------------

def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training only).

    The mask comes from visgrad's generator (``vg.manual_seed``); the result is
    ``input * noise`` (MulBackward0), and outside training ``input`` itself.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0 or input.numel() == 0:
        return input
    xp = input._backend.xp
    dt = input._data.dtype
    if p == 1:
        noise = _wrap(xp.zeros((), dtype=dt), input)
    else:
        keep = rand(*input.shape, dtype="float64", device=input.device)._data < (1.0 - p)
        noise = _wrap(keep.astype(dt) / dt.type(1.0 - p), input)
    return input.mul_(noise) if inplace else input * noise


# ---- shape handling shared by the regression losses ------------------------------------------

def _warn_size_mismatch(input: Tensor, target: Tensor) -> None:
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input size "
                      f"({input.size()}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)


def _broadcast_shape(a: tuple, b: tuple) -> tuple:
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(pa, pb):
        if x != y and x != 1 and y != 1:
            raise broadcast_error(a, b)
        out.append(y if x == 1 else x)
    return tuple(out)


def _broadcast_tensors(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """torch.broadcast_tensors for two tensors: only a tensor whose shape changes is expanded."""
    target = _broadcast_shape(tuple(a.shape), tuple(b.shape))
    if tuple(a.shape) != target:
        a = a.expand(*target)
    if tuple(b.shape) != target:
        b = b.expand(*target)
    return a, b


def _weighted_regression(errors: Tensor, weight: Tensor, input: Tensor, reduction: str):
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    weighted = errors * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean":
        return weighted.sum() / weight.sum()
    raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


# ---- mse_loss / l1_loss ---------------------------------------------------------------------

def _cast_like(g: Tensor, t: Tensor) -> Tensor:
    """A gradient in its input's dtype. (The engine's central cast fails for a numpy dtype:
    ``Tensor.to`` takes it for a device; see the report of issue 3.)"""
    return g if g.dtype == t.dtype else g.to(t.dtype)


class MseLossBackward0(Node):
    def backward(self, g):
        x, t = self.saved_tensors
        grad = (x - t) * self.norm * g
        return (_cast_like(grad, x) if self.needs_input_grad(0) else None,
                _cast_like(-grad, t) if self.needs_input_grad(1) else None)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean (or sum, or elementwise) squared error (MseLossBackward0).

    >>> import visgrad as vg
    >>> vg.nn.functional.mse_loss(vg.tensor([1.0, 2.0]), vg.tensor([0.0, 0.0]))
    tensor(2.5000)
    """
    _warn_size_mismatch(input, target)
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    x, t = _broadcast_tensors(input, target)
    if weight is not None:
        return _weighted_regression((x - t) ** 2, weight, input, reduction)
    mode = _reduction_enum(reduction)
    xp = x._backend.xp
    dt = _loss_dtype(x, t)
    diff = x._data.astype(dt, copy=False) - t._data.astype(dt, copy=False)
    out = _wrap(_reduce_array(xp, diff * diff, mode), x)
    norm = (2.0 / x.numel() if x.numel() else math.nan) if mode == 1 else 2.0
    return record(MseLossBackward0, out, (x, t), save=(x, t), norm=norm)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean (or sum, or elementwise) absolute error; torch composes it: |input - target|."""
    _warn_size_mismatch(input, target)
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    x, t = _broadcast_tensors(input, target)
    if weight is not None:
        return _weighted_regression((x - t).abs(), weight, input, reduction)
    mode = _reduction_enum(reduction)
    errors = (x - t).abs()
    if mode == 0:
        return errors
    return errors.mean() if mode == 1 else errors.sum()


# ---- nll_loss and cross_entropy --------------------------------------------------------------

class NllLossBackward0(Node):
    """The gradient of -w[t] * x[t]: a scaled one-hot at each target, zero where ignored."""

    def backward(self, g):
        xp = self.backend.xp
        cd, n_classes, safe, scale = self.class_dim, self.n_classes, self.safe, self.scale
        positions = xp.arange(n_classes).reshape(
            tuple(n_classes if k == cd else 1 for k in range(len(self.shape))))
        onehot = positions == xp.expand_dims(safe, cd)
        coefficient = Tensor._wrap((onehot * xp.expand_dims(scale, cd)).astype(self.dtype),
                                   self.backend)
        spread = g.unsqueeze(cd) if self.reduction == 0 and g.ndim else g
        result = coefficient * spread
        if not grad_mode.is_grad_enabled():
            return (result,)
        # create_graph: the gradient is a recorded op of the incoming gradient and of the
        # input (whose part is zeros), as torch records it, so that differentiating it again
        # gives zeros rather than an error
        (x,) = self.saved_tensors
        node = NllLoss2DBackwardBackward0 if isinstance(self, NllLoss2DBackward0) \
            else NllLossBackwardBackward0
        return (record(node, result.detach(), (g, x), coefficient=coefficient, class_dim=cd,
                       spread=spread is not g),)


class NllLoss2DBackward0(NllLossBackward0):
    pass


class NllLossBackwardBackward0(Node):
    def backward(self, gg):
        back = self.coefficient * gg
        grad = back.sum(self.class_dim) if self.spread else back.sum()
        return (grad, zeros_like(gg))


class NllLoss2DBackwardBackward0(NllLossBackwardBackward0):
    pass


def _nll_forward(input: Tensor, target: Tensor, weight, reduction: int, ignore_index: int,
                 node_cls, fn_name: str) -> Tensor:
    """-w[t] * input[t] along the class dimension (0 for 1-D input, else 1), then reduced."""
    _check_no_requires_grad(weight, "weight", fn_name)
    if target.dtype.name not in ("int64", "uint8"):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                           f"{_scalar_name(target)}")
    if weight is not None and weight.dtype != input.dtype:
        raise RuntimeError(f"expected scalar type {_scalar_name(input)} but found "
                           f"{_scalar_name(weight)}")
    xp = input._backend.xp
    cd = 0 if input.ndim == 1 else 1
    n_classes = input.shape[cd]
    t = target._data.astype("int64")
    if input.ndim == 1:
        t = t.reshape(())
    ignored = t == ignore_index
    invalid = ~ignored & ((t < 0) | (t >= n_classes))
    if bool(invalid.any()):
        bad = t[invalid].reshape(-1)[:1]
        raise IndexError(f"Target {int(input._backend.to_host(bad)[0])} is out of bounds.")
    safe = xp.where(ignored, 0, t)
    x = input._data
    picked = xp.take_along_axis(x, xp.expand_dims(safe, cd), axis=cd).squeeze(cd)
    w = weight._data[safe] if weight is not None else xp.ones(safe.shape, dtype=x.dtype)
    w = xp.where(ignored, x.dtype.type(0), w).astype(x.dtype)
    losses = -(w * picked)
    if reduction == 0:
        out, scale = losses, -w
    elif reduction == 2:
        out, scale = losses.sum().reshape(()), -w
    else:
        total = w.sum()
        with _quiet(xp):
            out = (losses.sum() / total).reshape(()).astype(x.dtype)
            scale = xp.where(ignored, x.dtype.type(0), -w / total)
    return record(node_cls, _wrap(out, input), (input,), save=(input,), backend=input._backend,
                  class_dim=cd, n_classes=n_classes, safe=safe, scale=scale,
                  reduction=reduction, shape=tuple(x.shape), dtype=x.dtype)


def _check_weight_size(weight, n_classes: int, spatial: bool) -> None:
    if weight is not None and (weight.ndim > 1 or weight.numel() != n_classes):
        if spatial:
            raise RuntimeError("weight tensor should be defined either for all or no classes")
        raise RuntimeError(f"weight tensor should be defined either for all {n_classes} classes "
                           f"or no classes but got weight tensor of shape: {list(weight.shape)}")


def _nll_loss_nd(input: Tensor, target: Tensor, weight, reduction: int,
                 ignore_index: int) -> Tensor:
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim != 1:
        batch = target.shape[0] if target.ndim else 0
        if input.shape[0] != batch:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                             f"batch_size ({batch}).")
    if input.ndim <= 2:
        if target.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if target.dtype.name not in ("int64", "uint8"):  # before the 1-D size, as in torch
            raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                               f"{_scalar_name(target)}")
        if input.ndim == 1 and target.ndim == 1 and target.shape[0] != 1:
            raise ValueError("For 1D input, 1D target must have size 1, but got target size: "
                             f"{target.shape[0]}")
        _check_weight_size(weight, input.shape[-1] if input.ndim == 1 else input.shape[1], False)
        return _nll_forward(input, target, weight, reduction, ignore_index, NllLossBackward0,
                            "nll_loss_forward")
    if input.ndim == 4:
        if target.ndim != 3:
            raise RuntimeError("only batches of spatial targets supported (3D tensors) but got "
                               f"targets of dimension: {target.ndim}")
        n, _, h, w = input.shape
        if tuple(target.shape) != (n, h, w):
            raise RuntimeError(f"size mismatch (got input: {list(input.shape)} , target: "
                               f"{list(target.shape)}")
        _check_weight_size(weight, input.shape[1], True)
        return _nll_forward(input, target, weight, reduction, ignore_index, NllLoss2DBackward0,
                            "nll_loss2d_forward")
    n, c = input.shape[0], input.shape[1]
    out_size = [n] + list(input.shape[2:])
    if tuple(target.shape[1:]) != tuple(input.shape[2:]):
        raise RuntimeError(f"Expected target size {out_size}, got {list(target.shape)}")
    rest = math.prod(input.shape[2:])  # not -1: an empty batch would leave it ambiguous
    flat_input = input.reshape(n, c, 1, rest)
    flat_target = Tensor._wrap(target._data.reshape(n, 1, rest), target._backend)
    out = _nll_loss_nd(flat_input, flat_target, weight, reduction, ignore_index)
    return out.reshape(*out_size) if reduction == 0 else out


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of class indices, given log-probabilities (NllLossBackward0)."""
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    return _nll_loss_nd(input, target, weight, _reduction_enum(reduction), ignore_index)


def _class_weight_view(weight: Tensor, ndim: int, class_dim: int) -> Tensor:
    return weight.reshape(*[weight.shape[0] if k == class_dim else 1 for k in range(ndim)])


def _cross_entropy_probabilities(input, target, weight, reduction: int,
                                 label_smoothing: float) -> Tensor:
    if not target.is_floating_point():
        raise RuntimeError("Expected floating point type for target with class probabilities, "
                           f"got {_scalar_name(target)}")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    if label_smoothing > 0:
        target = _add_scalar(_mul_scalar(target, 1 - label_smoothing),
                             label_smoothing / n_classes)
    logp = _log_softmax(input, class_dim)
    product = logp * target
    if weight is not None:
        _check_weight_size(weight, n_classes, False)
        product = product * _class_weight_view(weight, input.ndim, class_dim)
    if reduction == 0:
        return -product.sum(class_dim)
    if reduction == 2:
        return -product.sum()
    if input.numel() == 0:  # torch: the sum of nothing, filled with nan, negated
        return -(product.sum().fill_(math.nan))
    return _div_scalar(-product.sum(), input.numel() // n_classes)


def _cross_entropy_smoothed(input, target, weight, reduction: int, ignore_index: int,
                            label_smoothing: float) -> Tensor:
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    logp = _log_softmax(input, class_dim)
    nll = _nll_loss_nd(logp, target, weight, reduction, ignore_index)
    ignore_mask = target == ignore_index
    if weight is not None:
        smooth = -(logp * _class_weight_view(weight, input.ndim, class_dim)).sum(class_dim)
    else:
        smooth = -logp.sum(class_dim)
    smooth = _masked_fill(smooth, ignore_mask, 0.0)
    if reduction == 1:
        kept = ~ignore_mask
        if weight is not None:
            picked = weight._data[target._data[kept._data].reshape(-1)]
            smooth = smooth.sum() / Tensor._wrap(picked.sum().reshape(()), weight._backend)
        else:
            # the count in the loss' dtype: torch divides float32 by an int64 count in float32
            count = kept._data.sum().astype(smooth._data.dtype).reshape(())
            smooth = smooth.sum() / Tensor._wrap(count, kept._backend)
    elif reduction == 2:
        smooth = smooth.sum()
    return _mul_scalar(nll, 1 - label_smoothing) + _mul_scalar(smooth,
                                                               label_smoothing / n_classes)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dimension, then nll_loss (so the grad_fn is NllLossBackward0).

    ``target`` holds class indices (int64), or class probabilities of ``input``'s shape.
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    mode = _reduction_enum(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.shape == target.shape:
        if ignore_index >= 0 and target.is_floating_point():
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _cross_entropy_probabilities(input, target, weight, mode, label_smoothing)
    if label_smoothing > 0:
        return _cross_entropy_smoothed(input, target, weight, mode, ignore_index,
                                       label_smoothing)
    class_dim = 0 if input.ndim == 1 else 1
    logp = _log_softmax(input, class_dim) if input.ndim else input
    return _nll_loss_nd(logp, target, weight, mode, ignore_index)


# ---- binary cross entropy ---------------------------------------------------------------------

def _check_weight_broadcast(weight: Tensor, target_shape: tuple) -> None:
    """torch.broadcast_shapes(target, weight), raising its message."""
    n = max(len(target_shape), len(weight.shape))
    result = [1] * (n - len(target_shape)) + list(target_shape)
    shape = tuple(weight.shape)
    for i in range(-1, -len(shape) - 1, -1):
        if shape[i] == 1 or shape[i] == result[i]:
            continue
        if result[i] != 1:
            raise RuntimeError(f"Attempting to broadcast a dimension of length {shape[i]} at {i}! "
                               f"Mismatching argument at index 1 had {weight.size()}; but "
                               f"expected shape should be broadcastable to {result}")
        result[i] = shape[i]
    # torch multiplies the loss by the weight in place: it may not widen the loss
    _check_in_place_broadcast(tuple(weight.shape), target_shape, first=False)


def _check_in_place_broadcast(shape: tuple, output: tuple, first: bool) -> None:
    """torch's error for ``output_shaped.op_(other)`` when other would make it bigger (or
    the two do not broadcast: ``first`` says which torch names as tensor a)."""
    merged = list(_broadcast_shape(shape, output) if first else _broadcast_shape(output, shape))
    if merged != list(output):
        raise RuntimeError(f"output with shape {list(output)} doesn't match the broadcast "
                           f"shape {merged}")


def _check_same_dtype(input: Tensor, other: Tensor) -> None:
    if other.dtype != input.dtype:
        raise RuntimeError(f"Found dtype {_scalar_name(other)} but expected {_scalar_name(input)}")


class BinaryCrossEntropyBackward0(Node):
    def backward(self, g):
        x, t = self.saved_tensors
        w = self.weight
        gx = gt = None
        if self.needs_input_grad(0):
            gx = g * (x - t) / ((1 - x) * x).clamp(min=1e-12)
            if w is not None:
                gx = gx * w
            if self.mean:
                gx = gx / x.numel()
        if self.needs_input_grad(1):
            gt = ((1 - x).log() - x.log()) * g  # -logit(x) * grad
            if w is not None:
                gt = gt * w
            if self.mean:
                gt = gt / x.numel()
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-w (t log(x) + (1 - t) log(1 - x)), each log clamped at -100.

    The grad_fn is BinaryCrossEntropyBackward0; it gives gradients to ``input`` and ``target``.
    """
    if size_average is not None or reduce is not None:
        mode = _reduction_enum(legacy_reduction(size_average, reduce))
    else:
        mode = _reduction_enum(reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input "
                         f"size ({input.size()}) is deprecated. Please ensure they have the same "
                         "size.")
    if weight is not None:
        _check_weight_broadcast(weight, tuple(target.shape))
        weight = weight.expand(*_broadcast_shape(tuple(target.shape), tuple(weight.shape)))
    _check_no_requires_grad(weight, "weight", "binary_cross_entropy")
    _check_same_dtype(input, target)
    xp = input._backend.xp
    x, t = input._data, target._data
    if not bool(((x >= 0) & (x <= 1)).all()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise RuntimeError("all elements of target should be between 0 and 1")
    one, floor = x.dtype.type(1), x.dtype.type(-100)
    with _quiet(xp):
        loss = (t - one) * xp.maximum(xp.log1p(-x), floor) - t * xp.maximum(xp.log(x), floor)
    if weight is not None:
        loss = loss * weight._data.astype(x.dtype, copy=False)
    out = _wrap(_reduce_array(xp, loss.astype(x.dtype, copy=False), mode), input)
    w = weight.detach() if weight is not None else None
    return record(BinaryCrossEntropyBackward0, out, (input, target), save=(input, target),
                  weight=w, mean=mode == 1)


def _log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), with Tensor ops."""
    return pointwise.minimum(x, 0.0) - (1 + (-x.abs()).exp()).log()


class BinaryCrossEntropyWithLogitsBackward0(Node):
    def backward(self, g):
        x, t = self.saved_tensors
        w, pw = self.weight, self.pos_weight
        gx = gt = None
        if self.needs_input_grad(0):
            if pw is not None:
                scaled = pw * t
                gx = ((scaled + 1 - t) * x.sigmoid() - scaled) * g
            else:
                gx = (x.sigmoid() - t) * g
            if w is not None:
                gx = gx * w
            if self.mean:
                gx = gx / self.count
        if self.needs_input_grad(1):
            if pw is not None:
                gt = (_log_sigmoid(-x) - _log_sigmoid(x) * pw) * g
            else:
                gt = -x * g
            if w is not None:
                gt = gt * w
            if self.mean:
                gt = gt / self.count
        return (None if gx is None else _cast_like(gx, x)), (None if gt is None else
                                                             _cast_like(gt, t))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid and binary cross entropy in one stable step (BinaryCrossEntropyWithLogitsBackward0).

    ``(1 - t) x - (1 + (pos_weight - 1) t) log(sigmoid(x))``, times ``weight``, then reduced.
    """
    if size_average is not None or reduce is not None:
        mode = _reduction_enum(legacy_reduction(size_average, reduce))
    else:
        mode = _reduction_enum(reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size "
                         f"({input.size()})")
    _check_no_requires_grad(weight, "weight", "binary_cross_entropy_with_logits")
    _check_no_requires_grad(pos_weight, "pos_weight", "binary_cross_entropy_with_logits")
    # torch applies both in place to a target-shaped loss (pos_weight first in its message)
    if pos_weight is not None:
        _check_in_place_broadcast(tuple(pos_weight.shape), tuple(target.shape), first=True)
    if weight is not None:
        _check_in_place_broadcast(tuple(weight.shape), tuple(target.shape), first=False)
    xp = input._backend.xp
    dt = _loss_dtype(input, target)
    x = input._data.astype(dt, copy=False)
    t = target._data.astype(dt, copy=False)
    one = dt.type(1)
    with _quiet(xp):
        log_sig = xp.minimum(x, dt.type(0)) - xp.log1p(xp.exp(-xp.abs(x)))
        if pos_weight is not None:
            try:
                log_weight = (pos_weight._data.astype(dt, copy=False) - one) * t + one
            except ValueError:
                raise broadcast_error(tuple(pos_weight.shape), tuple(target.shape)) from None
            loss = (one - t) * x - log_weight * log_sig
        else:
            loss = (one - t) * x - log_sig
        if weight is not None:
            try:
                loss = loss * weight._data.astype(dt, copy=False)
            except ValueError:
                raise broadcast_error(tuple(loss.shape), tuple(weight.shape)) from None
    loss = loss.astype(dt, copy=False)
    out = _wrap(_reduce_array(xp, loss, mode), input)
    return record(BinaryCrossEntropyWithLogitsBackward0, out, (input, target),
                  save=(input, target), weight=weight.detach() if weight is not None else None,
                  pos_weight=pos_weight.detach() if pos_weight is not None else None,
                  mean=mode == 1, count=int(loss.size))

