"""Matrix products. ``matmul`` dispatches as torch does, so grad_fn names match torch's
(MmBackward0, MvBackward0, DotBackward0, a squeeze around mm for vector @ matrix)."""

from __future__ import annotations

from visgrad.engine.ops._common import Node, Tensor, promote, record, same_backend, wrap


def _operands(a: Tensor, b: Tensor):
    backend = same_backend(a, b)
    dt = promote(a, b)
    ad = a._data if a._data.dtype == dt else a._data.astype(dt)
    bd = b._data if b._data.dtype == dt else b._data.astype(dt)
    return ad, bd, backend


class MmBackward0(Node):
    def backward(self, g):
        a, b = self.saved_tensors
        ga = mm(g, b.t()) if self.next_functions[0][0] is not None else None
        gb = mm(a.t(), g) if self.next_functions[1][0] is not None else None
        return ga, gb


def mm(a: Tensor, b: Tensor) -> Tensor:
    if a._data.ndim != 2 or b._data.ndim != 2:
        raise RuntimeError(f"{'self' if a._data.ndim != 2 else 'mat2'} must be a matrix")
    if a._data.shape[1] != b._data.shape[0]:
        (n, k), (k2, m) = a._data.shape, b._data.shape
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})")
    ad, bd, backend = _operands(a, b)
    return record(MmBackward0, wrap(ad @ bd, backend), (a, b), save=(a, b))


class MvBackward0(Node):
    def backward(self, g):
        m, v = self.saved_tensors
        gm = g.unsqueeze(1) * v.unsqueeze(0) if self.next_functions[0][0] is not None else None
        gv = mv(m.t(), g) if self.next_functions[1][0] is not None else None
        return gm, gv


def mv(m: Tensor, v: Tensor) -> Tensor:
    if m._data.ndim != 2 or v._data.ndim != 1 or m._data.shape[1] != v._data.shape[0]:
        n, k = m._data.shape[:2] if m._data.ndim == 2 else (0, 0)
        raise RuntimeError(f"size mismatch, got input ({n}), mat ({n}x{k}), "
                           f"vec ({v._data.shape[0] if v._data.ndim else 0})")
    md, vd, backend = _operands(m, v)
    return record(MvBackward0, wrap(md @ vd, backend), (m, v), save=(m, v))


class DotBackward0(Node):
    def backward(self, g):
        a, b = self.saved_tensors
        ga = g * b if self.next_functions[0][0] is not None else None
        gb = g * a if self.next_functions[1][0] is not None else None
        return ga, gb


def dot(a: Tensor, b: Tensor) -> Tensor:
    if a._data.ndim != 1 or b._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a._data.ndim}D and "
                           f"{b._data.ndim}D tensors")
    if a._data.shape[0] != b._data.shape[0]:
        n, m = a._data.shape[0], b._data.shape[0]
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have "
                           f"the same number of elements, but got {n} and {m} elements "
                           "respectively")
    ad, bd, backend = _operands(a, b)
    return record(DotBackward0, wrap((ad @ bd).reshape(()), backend), (a, b), save=(a, b))


class BmmBackward0(Node):
    def backward(self, g):
        a, b = self.saved_tensors
        ga = matmul(g, b.transpose(-1, -2)) if self.next_functions[0][0] is not None else None
        gb = matmul(a.transpose(-1, -2), g) if self.next_functions[1][0] is not None else None
        return ga, gb


def _batched(a: Tensor, b: Tensor) -> Tensor:
    """Broadcast batched product; torch shows it as a view over a bmm (UnsafeViewBackward0)."""
    if a._data.shape[-1] != b._data.shape[-2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{b._data.shape[0] if b._data.ndim > 2 else 1}, {a._data.shape[-1]}] but got: "
            f"[{b._data.shape[0] if b._data.ndim > 2 else 1}, {b._data.shape[-2]}].")
    ad, bd, backend = _operands(a, b)
    try:
        data = ad @ bd
    except ValueError:
        from visgrad.engine.ops._common import broadcast_error  # noqa: PLC0415

        raise broadcast_error(a._data.shape[:-2], b._data.shape[:-2]) from None
    out = record(BmmBackward0, wrap(data, backend), (a, b), save=(a, b))
    from visgrad.engine.ops.shape import unsafe_view  # noqa: PLC0415

    return unsafe_view(out, tuple(data.shape))


def matmul(a, b) -> Tensor:
    """``a @ b`` with torch's dispatch and error messages."""
    if not isinstance(b, Tensor) or not isinstance(a, Tensor):
        raise TypeError("matmul(): argument 'other' must be Tensor")
    na, nb = a._data.ndim, b._data.ndim
    if na == 0 or nb == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{na}D and {nb}D")
    if na == 1 and nb == 1:
        return dot(a, b)
    if na == 2 and nb == 1:
        return mv(a, b)
    if na == 1 and nb == 2:
        from visgrad.engine.ops.shape import squeeze_dims  # noqa: PLC0415

        return squeeze_dims(mm(a.unsqueeze(0), b), (0,))
    if na == 2 and nb == 2:
        return mm(a, b)
    if na == 1:
        return _batched(a.unsqueeze(0), b).squeeze(-2)
    if nb == 1:
        return _batched(a, b.unsqueeze(-1)).squeeze(-1)
    return _batched(a, b)
