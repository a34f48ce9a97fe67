"""embedding, layer_norm and batch_norm: the building blocks of small networks that are not
plain arithmetic, as torch records them (EmbeddingBackward0, NativeLayerNormBackward0,
NativeBatchNormBackward0).

The rules are written with Tensor operations, so ``create_graph`` differentiates them again
(the normalisations then work out their mean and spread from the input again: they depend on
it too).
"""

from __future__ import annotations

from visgrad.engine import dtypes, grad_mode
from visgrad.engine.autograd import Node, record
from visgrad.engine.ops.gathering import scatter_add
from visgrad.engine.ops.reductions import mean
from visgrad.engine.ops.reductions import sum as total
from visgrad.engine.tensor import _SCALAR_NAME, Tensor

_FLOAT64 = dtypes.float64.np


class EmbeddingBackward0(Node):
    saved_names = ("indices",)

    def backward(self, g):
        (indices,) = self.saved_tensors
        rows, width = self.weight_shape
        flat = indices.reshape(-1)
        spread = g.reshape(-1, width)
        if self.padding_idx is not None:  # the padding row learns nothing
            keep = (flat != self.padding_idx).unsqueeze(1)
            spread = spread * keep
        index = flat.unsqueeze(1).expand(flat.shape[0], width)
        zeros = Tensor._wrap(g._backend.xp.zeros((rows, width), dtype=g._data.dtype),
                             g._backend)
        return (scatter_add(zeros, 0, index, spread),)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """The rows of ``weight`` that ``input`` (integer indices, any shape) names."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not "
                                  "available in visgrad")
    if input._data.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                           "following scalar types: Long, Int; but got "
                           f"torch.{_SCALAR_NAME.get(str(input._data.dtype), 'Float')}Tensor "
                           "instead (while checking arguments for embedding)")
    rows = weight._data.shape[0]
    if padding_idx is not None and padding_idx < 0:
        padding_idx += rows
    idx = input._data
    if idx.size and bool(((idx < 0) | (idx >= rows)).any()):
        raise IndexError("index out of range in self")
    out = Tensor._wrap(weight._data[idx], weight._backend)
    return record(EmbeddingBackward0, out, (weight,), save=(input,),
                  weight_shape=tuple(weight._data.shape), padding_idx=padding_idx)


def _normalized_gradient(g, normal, rstd, dims):
    """The gradient through (x - mean) · rstd over ``dims``, given the gradient of the
    normalised values and the normalised values."""
    return rstd * (g - mean(g, dims, keepdim=True)
                   - normal * mean(g * normal, dims, keepdim=True))


def _moments(x, dims, eps):
    """mean and 1 / sqrt(biased variance + eps) over ``dims``, as Tensor operations."""
    centre = mean(x, dims, keepdim=True)
    return centre, (mean((x - centre) * (x - centre), dims, keepdim=True) + eps) ** -0.5


class NativeLayerNormBackward0(Node):
    saved_names = ("input", "weight", "bias", "mean", "rstd")

    def backward(self, g):
        x, weight, bias, centre, rstd = self.saved_tensors
        dims = self.dims
        if grad_mode.is_grad_enabled():  # create_graph: mean and rstd depend on x too
            centre, rstd = _moments(x, dims, self.eps)
        normal = (x - centre) * rstd
        batch = tuple(range(g.ndim - len(dims)))  # the dims weight and bias are shared over

        def over_batch(t):
            return total(t, batch) if batch else t

        grad_x = grad_w = grad_b = None
        if self.needs_input_grad(0):
            grad_x = _normalized_gradient(g * weight if weight is not None else g, normal,
                                          rstd, dims)
        if weight is not None and self.needs_input_grad(1):
            grad_w = over_batch(g * normal)
        if bias is not None and self.needs_input_grad(2):
            grad_b = over_batch(g)
        return grad_x, grad_w, grad_b


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """input normalised over its last ``normalized_shape`` dims to mean 0 and variance 1
    (the biased variance, plus ``eps``), then scaled by ``weight`` and shifted by ``bias``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(normalized_shape)
    x = input._data
    if not shape:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = []")
    if tuple(x.shape[x.ndim - len(shape):]) != shape or len(shape) > x.ndim:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(x.shape)}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    xp = input._backend.xp
    wide = x.astype(_FLOAT64)
    centre = wide.mean(axis=dims, keepdims=True)
    variance = ((wide - centre) ** 2).mean(axis=dims, keepdims=True)
    rstd = 1.0 / xp.sqrt(variance + eps)
    out = (wide - centre) * rstd
    if weight is not None:
        out = out * weight._data
    if bias is not None:
        out = out + bias._data
    backend = input._backend
    saved_mean = Tensor._wrap(centre.astype(x.dtype), backend)
    saved_rstd = Tensor._wrap(rstd.astype(x.dtype), backend)
    result = Tensor._wrap(out.astype(x.dtype), backend)
    return record(NativeLayerNormBackward0, result, (input, weight, bias),
                  save=(input, weight, bias, saved_mean, saved_rstd), dims=dims, eps=eps)


class NativeBatchNormBackward0(Node):
    saved_names = ("input", "weight", "running_mean", "running_var", "save_mean",
                   "save_invstd")

    def backward(self, g):
        x, weight, _, _, centre, rstd = self.saved_tensors
        dims, shape = self.dims, self.channel_shape
        if self.training and grad_mode.is_grad_enabled():  # create_graph: see the module
            centre, rstd = _moments(x, dims, self.eps)
        normal = (x - centre) * rstd
        scale = weight.reshape(shape) if weight is not None else None
        grad_x = grad_w = grad_b = None
        if self.needs_input_grad(0):
            upstream = g * scale if scale is not None else g
            grad_x = _normalized_gradient(upstream, normal, rstd, dims) if self.training \
                else upstream * rstd
        if weight is not None and self.needs_input_grad(1):
            grad_w = total(g * normal, dims)
        if self.needs_input_grad(2):
            grad_b = total(g, dims)
        return grad_x, grad_w, grad_b


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) over the batch (and any further dims): with this
    batch's mean and biased variance when ``training`` (and the running statistics moved
    towards them by ``momentum``, the variance unbiased), else with the running ones."""
    x = input._data
    if x.ndim < 2:
        raise ValueError(f"Expected 2D or higher input to batch_norm (got {x.ndim}D input)")
    dims = (0, *range(2, x.ndim))
    count = x.size // max(x.shape[1], 1)
    if training and count <= 1:
        raise ValueError("Expected more than 1 value per channel when training, got input "
                         f"size torch.Size({list(x.shape)})")
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    xp = input._backend.xp
    wide = x.astype(_FLOAT64)
    if training:
        centre = wide.mean(axis=dims, keepdims=True)
        variance = ((wide - centre) ** 2).mean(axis=dims, keepdims=True)
        unbiased = variance * count / max(count - 1, 1)
        with grad_mode.no_grad():  # the running statistics move in place, as torch's do
            for running, batch in ((running_mean, centre), (running_var, unbiased)):
                if running is not None:
                    step = Tensor._wrap(batch.reshape(-1).astype(running._data.dtype),
                                        running._backend)
                    running.mul_(1 - momentum).add_(step * momentum)
    else:
        centre = running_mean._data.astype(_FLOAT64).reshape(shape)
        variance = running_var._data.astype(_FLOAT64).reshape(shape)
    rstd = 1.0 / xp.sqrt(variance + eps)
    out = (wide - centre) * rstd
    if weight is not None:
        out = out * weight._data.reshape(shape)
    if bias is not None:
        out = out + bias._data.reshape(shape)
    backend = input._backend
    result = Tensor._wrap(out.astype(x.dtype), backend)
    return record(NativeBatchNormBackward0, result, (input, weight, bias),
                  save=(input, weight, running_mean, running_var,
                        Tensor._wrap(centre.astype(x.dtype), backend),
                        Tensor._wrap(rstd.astype(x.dtype), backend)),
                  dims=dims, channel_shape=shape, training=training, eps=eps)


__all__ = ["batch_norm", "embedding", "layer_norm"]
