"""Moving a tensor to another dtype or device, differentiably (ToCopyBackward0)."""

from __future__ import annotations

from visgrad.engine.backend import get_backend
from visgrad.engine.ops._common import Node, Tensor, quiet, record, wrap


class ToCopyBackward0(Node):
    def backward(self, g):
        return (to_copy(g, self.dtype, self.device),)


def to_copy(x: Tensor, dtype=None, device=None) -> Tensor:
    backend = get_backend(device) if device is not None else x._backend
    same_device = backend is x._backend
    same_dtype = dtype is None or dtype.np == x._data.dtype
    if same_device and same_dtype:
        return x
    data = x._data
    if not same_device:  # explicit transfer through the host
        data = backend.asarray(x._backend.to_host(data))
    if not same_dtype:
        with quiet():  # 1e10 to half is inf and nan to an int whatever C gives, silently
            data = data.astype(dtype.np)
    out = wrap(data, backend)
    if out._data.dtype.kind != "f":
        return out
    return record(ToCopyBackward0, out, (x,), dtype=x.dtype, device=x._backend.device)
