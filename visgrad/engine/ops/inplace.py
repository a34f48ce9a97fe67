"""In-place ops: the same ops, written back into the tensor's storage, with torch's checks.

# NOTE [in-place and history]
An in-place op on a tensor that is part of a graph is recorded as the out-of-place op applied
to a snapshot of the old value, and the tensor takes the new node as its grad_fn (torch calls
this rebasing history). The version counter goes up, so a node that saved the old value raises
torch's "modified by an inplace operation" error when backward reaches it. An in-place op on a
view rebases the view's base instead (NOTE [in-place on a view], at ``_rebase``).
"""

from __future__ import annotations

import re

from visgrad.engine import autograd, grad_mode
from visgrad.engine.autograd import _alias, attach, bump_version, version_of
from visgrad.engine.backend import overlaps_itself, view_positions
from visgrad.engine.ops._common import (
    Node, Tensor, broadcast_error, number_for_floats, number_for_integers, operand, record,
    wrap,
)
from visgrad.engine.tensor import _SCALAR_NAME

LEAF_MESSAGE = "a leaf Variable that requires grad is being used in an in-place operation."
OVERLAP_MESSAGE = ("unsupported operation: more than one element of the written-to tensor "
                   "refers to a single memory location. Please clone() the tensor before "
                   "performing the operation.")


def check_inplace(x: Tensor, *others) -> None:
    """Refuse what torch refuses: in-place on a leaf that requires grad, or on a view of one."""
    if not grad_mode.is_grad_enabled():
        return
    base = x._base
    marker = getattr(x, "_no_grad_view", None) if base is not None else None
    if marker == autograd.MADE_UNDER_NO_GRAD:  # NOTE [views made under no_grad]
        raise RuntimeError("A view was created in no_grad mode and is being modified inplace "
                           "with grad mode enabled. " + autograd.NO_GRAD_VIEW_ADVICE)
    if marker == autograd.OF_A_NO_GRAD_VIEW:
        name = re.sub(r"Backward\d*$", "", type(x._grad_fn).__name__)
        raise RuntimeError(f"Output {x._output_nr} of {name} is a view of a view which was created "
                           "in no_grad mode and is being modified inplace with grad mode "
                           "enabled. " + autograd.NO_GRAD_VIEW_ADVICE)
    if base is not None and base._requires_grad and base._grad_fn is None:
        raise RuntimeError("a view of " + LEAF_MESSAGE)
    if x._requires_grad and x._grad_fn is None and base is None:
        raise RuntimeError(LEAF_MESSAGE)


def snapshot(x: Tensor) -> Tensor:
    """A tensor holding x's current value and history, for the node that replaces it."""
    s = wrap(x._data.copy(), x._backend)
    s._grad_fn, s._output_nr = x._grad_fn, x._output_nr
    s._requires_grad, s._acc = x._requires_grad, x._acc
    return s


def apply_inplace(x: Tensor, compute, *others, one_value: bool = False,
                  type_names: dict | None = None) -> Tensor:
    """Write ``compute(x)`` into x's storage; ``others`` are the op's other operands.
    ``one_value``: the op writes one value everywhere (fill_, zero_), which torch allows even
    where several elements share a memory location (an expanded tensor). ``type_names``: how
    the op's error names x's dtype (a few of torch's kernels use C++ names)."""
    check_inplace(x, *others)
    if x._base is not None and (grad_mode.is_grad_enabled() or
                                getattr(x, "_no_grad_view", None) is None):
        autograd.refresh_view(x)  # its history as of now, for the op to record
    others_require = any(isinstance(o, Tensor) and o._requires_grad for o in others)
    recording = grad_mode.is_grad_enabled() and (x._requires_grad or others_require)
    if recording:
        result = compute(snapshot(x))
    else:
        with grad_mode.no_grad():
            result = compute(x)
    data = result._data
    if data.shape != x._data.shape:
        raise RuntimeError(f"output with shape {list(x._data.shape)} doesn't match the broadcast "
                           f"shape {list(data.shape)}")
    if data.dtype != x._data.dtype:
        order = "biuf"
        if order.index(data.dtype.kind) > order.index(x._data.dtype.kind):
            names = type_names or _SCALAR_NAME
            raise RuntimeError(f"result type {_SCALAR_NAME[str(data.dtype)]} can't be cast to the "
                               f"desired output type {names[str(x._data.dtype)]}")
        data = data.astype(x._data.dtype)
    if not one_value and overlaps_itself(x._data):
        raise RuntimeError(OVERLAP_MESSAGE)
    target = x._backend.writable(x._data)  # numpy marks broadcast views (and theirs) read-only
    try:
        target[...] = data
    except ValueError as exc:
        raise RuntimeError(f"unsupported operation: {exc}") from None
    bump_version(x)
    if recording:
        _saves_the_tensor_itself(result, x)
    if recording and x._base is not None:
        _rebase(x, result._grad_fn)
    elif recording:
        x._grad_fn = result._grad_fn
        x._output_nr = result._output_nr
        x._requires_grad = True
    return x


def _saves_the_tensor_itself(result: Tensor, x: Tensor) -> None:
    """An op that kept its own output (exp_, sigmoid_, relu_...) keeps ``x``, at its version
    after this op, as torch does: a later in-place change of x then raises torch's "modified
    by an inplace operation" when backward needs the value. Kept as an alias of x's storage
    and version counter (NOTE [saved outputs])."""
    node = result._grad_fn
    saved = node._saved if node is not None else None
    if not saved or not node._saved_outputs:
        return
    saved, versions = list(saved), list(node._saved_versions)
    for index, _ in node._saved_outputs:
        saved[index] = _alias(x)
        versions[index] = version_of(x)
    node._saved, node._saved_versions = tuple(saved), tuple(versions)


def _rebase(view: Tensor, fn: Node) -> None:
    """NOTE [in-place on a view]: as torch does, the base takes CopySlices as its grad_fn: the
    gradient of the base passes unchanged except over the view's elements, where ``fn`` (the
    op's node) turns it into the gradient of the view's old value; the op's other inputs keep
    their edges. The view itself then reads its history through the base (AsStridedBackward0)."""
    from visgrad.engine.ops.indexing import CopySlices  # noqa: PLC0415

    base = view._base
    backend = base._backend
    positions = backend.asarray(view_positions(view._data, base._data).reshape(-1))
    mask = backend.xp.zeros(base._data.size, dtype=bool)
    mask[positions] = True
    old = (base._grad_fn, base._output_nr) if base._grad_fn is not None else (None, 0)
    attach(CopySlices, base, (old, *fn.next_functions[1:]),
           ((tuple(base._data.shape), base._data.dtype), *fn._input_meta[1:]),
           fn=fn, positions=positions, view_shape=tuple(view._data.shape),
           numel=int(base._data.size), mask=wrap(mask.reshape(base._data.shape), backend),
           overlaps=overlaps_itself(view._data))
    view._view_at = -1  # its history is now the base's, seen through the view
    autograd.refresh_view(view)


class FillBackward2(Node):  # fill_(number)
    def backward(self, g):
        return (g * 0,)


class ZeroBackward0(FillBackward2):  # zero_()
    pass


class FillBackward3(Node):  # fill_(0-d tensor): the value gets the sum of the gradient
    def backward(self, g):
        gv = g.sum() if self.next_functions[1][0] is not None else None
        return g * 0, gv


def fill_(x: Tensor, value, *, node=None) -> Tensor:
    value = operand(value)
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError("fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value._data.ndim} dimensions.")
        v = value._data.astype(x._data.dtype)  # stays on the device

        def compute(src):
            data = x._backend.xp.broadcast_to(v, src._data.shape).copy()
            return record(FillBackward3, wrap(data, x._backend), (src, value))

        return apply_inplace(x, compute, value)

    if x._data.dtype.kind in "iu" and not isinstance(value, bool):
        value = number_for_integers(value, x._data.dtype)
    elif x._data.dtype.kind == "f":
        value = number_for_floats(value, x._data.dtype)

    def compute(src):
        out = wrap(x._backend.xp.full(src._data.shape, value, dtype=src._data.dtype), x._backend)
        return record(node or FillBackward2, out, (src,))

    return apply_inplace(x, compute, one_value=True)


def zero_(x: Tensor) -> Tensor:
    return fill_(x, 0, node=ZeroBackward0)


class CopyBackwards(Node):
    def name(self) -> str:
        return "torch::autograd::CopyBackwards"

    def backward(self, g):
        gs = g.to(self.src_dtype) if self.next_functions[1][0] is not None else None
        return g * 0, gs


def copy_(x: Tensor, src) -> Tensor:
    src = operand(src)
    if not isinstance(src, Tensor):
        return fill_(x, src)
    try:
        merged = tuple(x._backend.xp.broadcast_shapes(x._data.shape, src._data.shape))
    except ValueError:
        raise broadcast_error(x._data.shape, src._data.shape) from None
    if merged != tuple(x._data.shape):
        raise RuntimeError(f"output with shape {list(x._data.shape)} doesn't match the broadcast "
                           f"shape {list(merged)}")

    def compute(old):
        data = x._backend.xp.broadcast_to(
            src._data if src._backend is x._backend else x._backend.asarray(
                src._backend.to_host(src._data)), old._data.shape).astype(old._data.dtype)
        return record(CopyBackwards, wrap(data, x._backend), (old, src), src_dtype=src.dtype)

    return apply_inplace(x, compute, src)
