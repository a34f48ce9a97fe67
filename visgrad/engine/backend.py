"""The one place that chooses where tensor data lives: numpy on the CPU, CuPy on a GPU.

Every array operation of the engine goes through a ``Backend``'s ``xp`` namespace, so the same
code runs on both. Tests register a strict stand-in for CuPy (``strict_backend``) under the
"cuda" device so that any hidden host conversion fails on machines without a GPU.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable

import numpy


class Device:
    """A device as torch spells it: ``device(type='cpu')``, printed ``cpu`` or ``cuda:0``."""

    __slots__ = ("type", "index")

    def __init__(self, type: str, index: int | None = None):  # noqa: A002 - torch's name
        if ":" in type:
            type, _, idx = type.partition(":")
            index = int(idx)
        if type not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {type}")
        self.type = type
        self.index = index if index is not None or type == "cpu" else 0

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


class Backend:
    """An array namespace (``xp``) plus the few things that differ between libraries."""

    def __init__(self, name: str, device: Device, xp, to_host: Callable, array_type,
                 writable: Callable = lambda a: a):
        self.name = name
        self.device = device
        self.xp = xp
        self.to_host = to_host  # device array -> numpy.ndarray, explicitly
        self.array_type = array_type
        # the same view, writable (numpy marks broadcast views read-only; CuPy does not)
        self.writable = writable

    def asarray(self, data, np_dtype=None):
        """Host data (lists, scalars, numpy arrays) or arrays of this backend -> our array."""
        return self.xp.asarray(data, dtype=np_dtype)

    def scatter_add(self, target, index, values) -> None:
        """``target[index] += values``, adding repeated positions. ``add.at`` does that; it is
        slow, except in numpy for a few single elements (``x[arange(n), labels]`` of a batch),
        so a plain ``+=`` is used where the index visibly names each position once."""
        if self.name == "numpy" and _few_elements(index, target.ndim) or \
                not _distinct_positions(index):
            self.xp.add.at(target, index, values)
        else:
            target[index] += values

    def where_or_zero(self, mask, values):
        """``where(mask, values, 0)`` for a float ``values`` of the mask's shape: the gradient
        of clamp and friends. numpy's where is slow; clearing the bits of the values where
        the mask is off gives the same result (+0.0, not -0.0 or nan) three times faster."""
        return self._masked(mask, values, True)

    def zero_where(self, mask, values):
        """``where(mask, 0, values)``, the same way: relu's gradient (zero where the output is
        not positive) without a pass to invert the mask."""
        return self._masked(mask, values, False)

    def _masked(self, mask, values, keep: bool):
        if values.ndim == 0 and (mask.__class__ is numpy.bool_ or
                                 isinstance(mask, numpy.ndarray) and mask.ndim == 0):
            # one number (a scalar graph): where() would cost ten times the choice itself
            if mask == keep:
                return values.copy()
            # a numpy scalar (the backward pass's one number) stays one; zeros_like is slow
            return values.dtype.type(0) if isinstance(values, numpy.generic) else \
                numpy.zeros_like(values)
        unsigned = _UNSIGNED.get(values.dtype.itemsize) if self.name == "numpy" else None
        if unsigned is None or not isinstance(mask, numpy.ndarray) or mask.ndim == 0 or \
                mask.shape != values.shape or mask.dtype.kind != "b" or \
                not (mask.flags.c_contiguous and values.flags.c_contiguous):
            zero = values.dtype.type(0)
            return self.xp.where(mask, values, zero) if keep else \
                self.xp.where(mask, zero, values)
        bits = mask.view(numpy.uint8).astype(unsigned)
        if keep:
            numpy.negative(bits, out=bits)  # 1 -> all bits set
        else:
            numpy.subtract(bits, 1, out=bits)  # 0 -> all bits set, 1 -> 0
        numpy.bitwise_and(bits, values.view(unsigned), out=bits)
        return bits.view(values.dtype)

    def erf(self, a):
        """The error function of a float array, in float64 (numpy has none; the caller
        rounds to its dtype)."""
        if self.xp is numpy:
            return numpy.asarray(_erf_host(a.astype(numpy.float64)), dtype=numpy.float64)
        return _erf_series(self.xp, a.astype(numpy.float64))

    def __repr__(self) -> str:
        return f"<Backend {self.name} on {self.device}>"


_UNSIGNED = {2: numpy.uint16, 4: numpy.uint32, 8: numpy.uint64}


_erf_host = numpy.frompyfunc(math.erf, 1, 1)  # the C library's erf, element by element


def _erf_series(xp, x):
    """erf with array operations only (for a device array library without one): up to
    |x| = 2.5 the series 2/√π · e^(-x²) · Σ (2x²)ⁿ x / (2n+1)!!, whose terms are all positive,
    beyond it 1 - erfc(x) from erfc's continued fraction. Within 12 ulps of the C library's
    in float64 (measured on 200,000 points of [-7, 7]), exact once rounded to float32."""
    a = xp.abs(x)
    near = xp.minimum(a, 2.5)
    square = near * near
    term, total = near, near
    for n in range(1, 53):
        term = term * (2 * square) / (2 * n + 1)
        total = total + term
    series = (2 / math.sqrt(math.pi)) * xp.exp(-square) * total
    far = xp.maximum(a, 2.5)
    fraction = far
    for k in range(60, 0, -1):
        fraction = far + (k / 2) / fraction
    tail = 1 - xp.exp(-far * far) / (math.sqrt(math.pi) * fraction)
    return xp.copysign(xp.where(a <= 2.5, series, tail), x)


def _few_elements(index, ndim: int) -> bool:
    """Whether an advanced index picks at most 256 single elements, one integer array per
    dim: numpy's ``add.at`` then beats a check for repeats and ``+=`` (measured: 2.8 against
    3.6 us plus the check for 64 elements; 17 against 12 for 1,000; whole rows 75 against 7)."""
    if index.__class__ is not tuple or len(index) != ndim:
        return False
    for part in index:
        if part.__class__ is not numpy.ndarray or part.ndim != 1 or part.shape[0] > 256 or \
                part.dtype.kind not in "iu":
            return False
    return True


def _distinct_positions(index) -> bool:
    """Whether an advanced index certainly names each position once: its integer arrays are
    1-D of one length (the rest slices) and one of them strictly increases from 0 or more."""
    parts = index if isinstance(index, tuple) else (index,)
    length, increasing = None, False
    for part in parts:
        if isinstance(part, slice):
            continue
        if not isinstance(part, numpy.ndarray) or part.ndim != 1 or part.dtype.kind not in "iu":
            return False
        if length is None:
            length = part.shape[0]
        elif part.shape[0] != length:
            return False
        if not increasing and length and part[0] >= 0 and \
                not numpy.count_nonzero(part[1:] <= part[:-1]):
            increasing = True
    return increasing


def overlaps_itself(a) -> bool:
    """Whether several elements of array ``a`` share one memory location (an expanded view:
    a zero stride along a dim of more than one element). An empty array has no elements to
    share one (numpy gives the dims before an empty one a zero stride)."""
    return a.size > 0 and any(stride == 0 and size > 1 for size, stride in zip(a.shape, a.strides))


def _writable_numpy(a):
    """``a`` itself, writable: numpy marks broadcast views read-only though the memory they
    show is not; this makes the same view of the memory's owner."""
    if a.flags.writeable:
        return a
    owner = a
    while isinstance(owner.base, numpy.ndarray):
        owner = owner.base
    if not owner.flags.writeable or not owner.flags.forc:
        return a
    offset = _address(a) - _address(owner)
    start = owner.reshape(-1, order="A")[offset // a.itemsize:]  # memory order: no copy
    return numpy.lib.stride_tricks.as_strided(start, shape=a.shape, strides=a.strides,
                                              writeable=True)


def _address(a) -> int:
    info = getattr(a, "__array_interface__", None) or a.__cuda_array_interface__
    return info["data"][0]


def view_positions(view, base) -> numpy.ndarray:
    """Where each element of array ``view`` sits in array ``base`` (whose memory it shares),
    as flat row-major indices of base: a host int64 array of the view's shape. Index
    bookkeeping on the host, from where the elements lie in memory."""
    base_offsets = _element_offsets(base)  # memory offset of each base element, in order
    low = int(base_offsets.min()) if base_offsets.size else 0
    index_at = numpy.full(int(base_offsets.max()) - low + 1 if base_offsets.size else 0, -1,
                          dtype=numpy.int64)
    index_at[base_offsets.reshape(-1) - low] = numpy.arange(base_offsets.size)
    return index_at[_element_offsets(view, relative_to=base) - low]


def _element_offsets(a, relative_to=None) -> numpy.ndarray:
    """Where each element of array ``a`` lies in memory, counted in elements from ``a``'s first
    element (or from ``relative_to``'s): a host int64 array of ``a``'s shape."""
    itemsize = a.dtype.itemsize
    start = 0 if relative_to is None else (_address(a) - _address(relative_to)) // itemsize
    offsets = numpy.asarray(start, dtype=numpy.int64)
    for axis, (size, stride) in enumerate(zip(a.shape, a.strides)):
        steps = [1] * a.ndim
        steps[axis] = size
        offsets = offsets + numpy.arange(size, dtype=numpy.int64).reshape(steps) * (
            stride // itemsize)
    return numpy.broadcast_to(offsets, tuple(a.shape))


def _numpy_backend() -> Backend:
    return Backend("numpy", Device("cpu"), numpy, numpy.asarray, numpy.ndarray,
                   writable=_writable_numpy)


def _cupy_backend() -> Backend:
    try:
        import cupy  # noqa: PLC0415 - optional
    except ImportError:
        raise RuntimeError(
            "device='cuda' needs CuPy, which is not installed. Install the GPU extra with "
            "`pip install visgrad[gpu]` (CUDA 12), or use device='cpu'.") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CuPy raises its own types
        raise RuntimeError(f"CuPy is installed but found no usable GPU ({exc}). "
                           "Use device='cpu'.") from None
    if count == 0:
        raise RuntimeError("CuPy is installed but this machine has no GPU. Use device='cpu'.")
    return Backend("cupy", Device("cuda", 0), cupy, cupy.asnumpy, cupy.ndarray)


def strict_cuda_backend() -> Backend:
    """The test-only stand-in for CuPy (see strict_backend): registered as "cuda" by tests."""
    from visgrad.engine import strict_backend  # noqa: PLC0415

    return Backend("strict", Device("cuda", 0), strict_backend.xp, strict_backend.xp.asnumpy,
                   strict_backend.StrictArray,
                   writable=lambda a: strict_backend.StrictArray(_writable_numpy(a._a)))


_factories: dict[str, Callable[[], Backend]] = {"cpu": _numpy_backend, "cuda": _cupy_backend}
_cache: dict[str, Backend] = {}


def get_backend(device="cpu") -> Backend:
    """The backend for a device (``"cpu"``, ``"cuda"``, ``"cuda:0"`` or a Device)."""
    key = device.type if isinstance(device, Device) else str(device).partition(":")[0]
    backend = _cache.get(key)
    if backend is None:
        if key not in _factories:
            Device(key)  # raises torch's message for an unknown device type
        backend = _cache[key] = _factories[key]()
    return backend


def register_backend(device_type: str, factory: Callable[[], Backend] | None) -> None:
    """Replace (or, with None, restore) the backend of a device type; used by tests."""
    _cache.pop(device_type, None)
    _by_array_class.clear()
    if factory is None:
        _factories[device_type] = {"cpu": _numpy_backend, "cuda": _cupy_backend}[device_type]
    else:
        _factories[device_type] = factory


CPU = get_backend("cpu")
# numpy's array and its scalar types (one number on the CPU travels as a scalar)
CPU_ARRAY_TYPES = frozenset({numpy.ndarray, *(numpy.dtype(c).type for c in "efdgFDG?bhilqBHILQ")})
# the CPU's array class and its sum, for the backward pass's reductions: ``ndarray.sum`` is
# numpy's Python around ``add.reduce``, and a training step reduces a few times per step
CPU_NDARRAY = numpy.ndarray
cpu_add_reduce = numpy.add.reduce
_by_array_class: dict[type, Backend] = {}


def array_backend(a) -> Backend:
    """The backend whose array ``a`` is (numpy's scalars are the CPU's): the backward pass
    hands raw arrays from node to node and wraps one in a Tensor only where one is needed."""
    cls = a.__class__
    if cls in CPU_ARRAY_TYPES or isinstance(a, numpy.generic):
        return CPU
    backend = _by_array_class.get(cls)
    if backend is None:
        for candidate in _cache.values():
            if isinstance(a, candidate.array_type):
                backend = _by_array_class[cls] = candidate
                break
        else:
            raise TypeError(f"no backend holds arrays of type {cls.__name__}")
    return backend


# ---- silent floating-point errors ------------------------------------------------------------

def _numpy_quiet_switch():
    """(enter, exit) that make numpy's overflow, 0/0 and inf - inf silent, as torch's are.

    ``numpy.errstate`` costs about 1 µs a use, as much as a small op itself. Its state is a
    context variable; setting that variable to the value errstate itself produced costs a fifth
    of it. Where the variable is missing (another numpy), errstate is used as it is.
    """
    try:
        from numpy._core._ufunc_config import _extobj_contextvar as var  # noqa: PLC0415
        with numpy.errstate(all="ignore"):
            silent = var.get()
        token = var.set(silent)
        try:
            works = set(numpy.geterr().values()) == {"ignore"}
        finally:
            var.reset(token)
    except Exception:  # noqa: BLE001 - any surprise: the public route
        works = False
    if works:
        set_silent = var.set

        def enter():
            return set_silent(silent)

        enter.context_bound = True  # see quiet_context
        return enter, var.reset

    def enter_errstate():
        state = numpy.errstate(all="ignore")
        state.__enter__()
        return state

    def exit_errstate(state) -> None:
        state.__exit__(None, None, None)

    return enter_errstate, exit_errstate


quiet_enter, quiet_exit = _numpy_quiet_switch()
quiet_enter.__doc__ = """Silence floating-point errors until ``quiet_exit(token)``; returns the token.

CuPy never warns about them, and the strict stand-in computes with numpy, so numpy's switch is
the only one there is."""


def quiet_context():
    """A copy of the current context in which numpy's floating-point errors are silent:
    ``context.run(f, *args)`` costs a third of ``quiet_enter``/``quiet_exit`` around the call,
    and leaves the caller's state alone. A context is entered by one thread at a time: keep
    one per thread. Where numpy keeps that state outside contexts, the stand-in's ``run``
    switches around each call."""
    if not getattr(quiet_enter, "context_bound", False):
        return _Switching
    context = contextvars.copy_context()
    context.run(quiet_enter)
    return context


class _Switching:
    @staticmethod
    def run(fn, *args):
        token = quiet_enter()
        try:
            return fn(*args)
        finally:
            quiet_exit(token)
