"""Matrix products. ``matmul`` dispatches as torch does, so grad_fn names match torch's
(MmBackward0, MvBackward0, DotBackward0, a squeeze around mm for vector @ matrix, and for
batches either a fold into mm/mv or an expand + bmm, both wrapped in UnsafeViewBackward0)."""

from __future__ import annotations

import operator

from visgrad.engine.autograd import FormulaNode
from visgrad.engine.ops._common import (Node, Tensor, broadcast_error, quietly, record, same_backend,
                                        wrap)

# how torch's C++ kernels name dtypes in some errors (mm's dtypes, clamp_'s output)
CPP_NAME = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
             "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
             "bool": "bool"}


def _no_bool_kernel(t: Tensor, kernel: str) -> None:
    """torch's products have no kernel for bools (numpy's would compute a logical one)."""
    if t._data.dtype.kind == "b":
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')


def _scalar_name(t: Tensor) -> str:
    from visgrad.engine.tensor import _SCALAR_NAME  # noqa: PLC0415

    return _SCALAR_NAME[str(t._data.dtype)]


def _product(a, b):
    """``a @ b``, silently: torch's overflow is inf without a warning."""
    return quietly(operator.matmul, a, b)


class MmBackward0(FormulaNode):
    saved_names = ("self", "mat2")

    def rule(self, F, g, a, b):
        ga = F.mm(g, F.t(b)) if self.next_functions[0][0] is not None else None
        gb = F.mm(F.t(a), g) if self.next_functions[1][0] is not None else None
        return ga, gb


def mm(a: Tensor, b: Tensor) -> Tensor:
    if a._data.ndim != 2 or b._data.ndim != 2:
        raise RuntimeError(f"{'self' if a._data.ndim != 2 else 'mat2'} must be a matrix")
    if a._data.shape[1] != b._data.shape[0]:
        (n, k), (k2, m) = a._data.shape, b._data.shape
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError("expected m1 and m2 to have the same dtype, but got: "
                           f"{CPP_NAME[str(a._data.dtype)]} != {CPP_NAME[str(b._data.dtype)]}")
    _no_bool_kernel(a, "addmm_impl_cpu_")
    backend = same_backend(a, b)
    return record(MmBackward0, wrap(_product(a._data, b._data), backend), (a, b), save=(a, b))


class MvBackward0(Node):
    def backward(self, g):
        m, v = self.saved_tensors
        gm = g.unsqueeze(1) * v.unsqueeze(0) if self.next_functions[0][0] is not None else None
        gv = mv(m.t(), g) if self.next_functions[1][0] is not None else None
        return gm, gv


def mv(m: Tensor, v: Tensor) -> Tensor:
    if m._data.ndim == 0:  # torch reads the matrix's first size before anything else
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    if m._data.ndim != 2 or v._data.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {m._data.ndim}, "
                           f"{v._data.ndim}")
    if m._data.shape[1] != v._data.shape[0]:
        n, k = m._data.shape
        raise RuntimeError(f"size mismatch, got input ({n}), mat ({n}x{k}), "
                           f"vec ({v._data.shape[0]})")
    if m._data.dtype != v._data.dtype:
        raise RuntimeError("addmv input tensors must have the same dtype, but got "
                           f"{_scalar_name(v)}, {_scalar_name(m)}, and {_scalar_name(v)}")
    _no_bool_kernel(m, "addmv_impl_cpu")
    backend = same_backend(m, v)
    return record(MvBackward0, wrap(_product(m._data, v._data), backend), (m, v), save=(m, v))


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
    if a._data.dtype != b._data.dtype:
        raise RuntimeError("dot : expected both vectors to have same dtype, but found "
                           f"{_scalar_name(a)} and {_scalar_name(b)}")
    if a._data.shape[0] != b._data.shape[0]:
        n, m = a._data.shape[0], b._data.shape[0]
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have "
                           f"the same number of elements, but got {n} and {m} elements "
                           "respectively")
    _no_bool_kernel(a, "dot")
    backend = same_backend(a, b)
    return record(DotBackward0, wrap(_product(a._data, b._data).reshape(()), backend), (a, b),
                  save=(a, b))


class BmmBackward0(Node):
    def backward(self, g):
        a, b = self.saved_tensors
        ga = bmm(g, b.transpose(1, 2)) if self.next_functions[0][0] is not None else None
        gb = bmm(a.transpose(1, 2), g) if self.next_functions[1][0] is not None else None
        return ga, gb


def bmm(a: Tensor, b: Tensor) -> Tensor:
    for name, t in (("batch1", a), ("batch2", b)):
        if t._data.ndim != 3:
            raise RuntimeError(f"{name} must be a 3D tensor")
    (bs, _, inner), (bs2, inner2, _) = a._data.shape, b._data.shape
    if (bs2, inner2) != (bs, inner):
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{bs}, {inner}] but got: [{bs2}, {inner2}].")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected scalar type {_scalar_name(a)} but found {_scalar_name(b)}")
    _no_bool_kernel(a, "bmm")
    backend = same_backend(a, b)
    return record(BmmBackward0, wrap(_product(a._data, b._data), backend), (a, b), save=(a, b))


# NOTE [matmul of batches]
# torch folds the batch of an N-d operand into the rows of one matrix and calls mm or mv when
# the other operand is a vector or a matrix and either that operand requires grad or the fold
# needs no copy; otherwise it expands both batches to their broadcast shape and calls bmm.
# Each reshape on the way is a view, an alias or a clone exactly as in torch (see shape.py),
# so the recorded graph is torch's.

def _fold_without_copy(big) -> bool:
    """Whether the leading dims of the array ``big`` flatten into rows without a copy."""
    from visgrad.engine.ops.shape import _element_strides  # noqa: PLC0415

    shape, strides = big.shape, _element_strides(big)
    if big.size == 0:
        return True
    return all(strides[i] == strides[i + 1] * shape[i + 1] for i in range(len(shape) - 2))


def _should_fold(a: Tensor, b: Tensor) -> bool:
    a_larger = a._data.ndim >= b._data.ndim
    big, small = (a._data, b) if a_larger else (b._data.swapaxes(-1, -2), a)
    if not (big.ndim >= 3 and small._data.ndim <= 2):
        return False
    if small.requires_grad:  # torch folds then, to keep the backward of the small one small
        return True
    if a._data.ndim == 2:
        return False
    return _fold_without_copy(big)


def _folded(a: Tensor, b: Tensor) -> Tensor:
    from visgrad.engine.ops.shape import contiguous, reshape, unsafe_view  # noqa: PLC0415

    transpose = b._data.ndim > a._data.ndim
    big = b.transpose(-1, -2) if transpose else a
    small = (a.t() if a._data.ndim == 2 else a) if transpose else b
    rows = big._data.shape[:-1]
    count = 1
    for s in rows:
        count *= s
    flat = reshape(big, count, big._data.shape[-1])
    if small._data.ndim == 2:
        out = unsafe_view(mm(flat, small), rows + (small._data.shape[1],))
        return contiguous(out.transpose(-1, -2)) if transpose else out
    return unsafe_view(mv(flat, small), rows)


def _broadcast_batches(a: Tensor, b: Tensor) -> Tensor:
    from visgrad.engine.ops.shape import reshape, squeeze, unsafe_view  # noqa: PLC0415

    na, nb = a._data.ndim, b._data.ndim
    n = a._data.shape[-2] if na > 1 else 1
    k = a._data.shape[-1]
    k2 = b._data.shape[-2] if nb > 1 else b._data.shape[0]
    p = b._data.shape[-1] if nb > 1 else 1
    batch_a, batch_b = a._data.shape[:max(na - 2, 0)], b._data.shape[:max(nb - 2, 0)]
    if na == 3 and nb == 3 and batch_a[0] != batch_b[0]:
        # a batch of one that requires grad is squeezed away, so that the fold applies
        if batch_a[0] == 1 and a.requires_grad:
            return matmul(squeeze(a, 0), b)
        if batch_b[0] == 1 and b.requires_grad:
            return matmul(a, squeeze(b, 0))
    batch = _broadcast_shape(batch_a, batch_b)
    count = 1
    for s in batch:
        count *= s
    a3 = reshape(a.expand(*batch, n, k), count, n, k)
    if nb == 1:
        b3 = reshape(b.expand(*batch, k2), count, k2).unsqueeze(2)
    else:
        b3 = reshape(b.expand(*batch, k2, p), count, k2, p)
    shape = batch + ((n,) if na > 1 else ()) + ((p,) if nb > 1 else ())
    out = bmm(a3, b3)
    return unsafe_view(squeeze(out, -1) if nb == 1 else out, shape)


def _broadcast_shape(sa: tuple, sb: tuple) -> tuple:
    out = []
    for i in range(1, max(len(sa), len(sb)) + 1):
        x = sa[-i] if i <= len(sa) else 1
        y = sb[-i] if i <= len(sb) else 1
        if x != y and x != 1 and y != 1:
            raise broadcast_error(sa, sb)
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


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
        from visgrad.engine.ops.shape import SqueezeBackward4, squeeze_dims  # noqa: PLC0415

        return squeeze_dims(mm(a.unsqueeze(0), b), (0,), node=SqueezeBackward4)
    if na == 2 and nb == 2:
        return mm(a, b)
    if _should_fold(a, b):
        return _folded(a, b)
    return _broadcast_batches(a, b)
