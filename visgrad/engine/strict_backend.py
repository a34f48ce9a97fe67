"""A test-only array backend that fails wherever CuPy would make host code fail.

The engine does its array work through one backend module, ``xp``: numpy on the CPU, CuPy on a
GPU. Code that slips a host-side numpy call onto backend data (``np.asarray(x)``, ``np.exp(x)``,
``host_array + x``, ``x[host_index]``) works with numpy and breaks only under CuPy, and no test
machine has a GPU. So the engine's tests also run on this backend: ``StrictArray`` keeps its data
in a numpy array but, like ``cupy.ndarray``, refuses every implicit conversion to numpy, and the
``xp`` namespace below mirrors the numpy API the way CuPy does (device arrays in, device arrays
out, raw numpy arrays rejected except by the explicit transfer functions).

Everything is generic: ``StrictArray`` forwards its methods and operators to the wrapped array,
and ``xp`` wraps whatever numpy attribute is asked for, unwrapping arguments and wrapping results.
"""

import functools
import types

import numpy as np

__all__ = ["StrictArray", "xp"]

IMPLICIT_CONVERSION = (
    "Implicit conversion to a NumPy array is not allowed. "
    "Please use `.get()` to construct a NumPy array explicitly."
)


def _unsupported(value):
    return TypeError(f"Unsupported type {type(value)}")


def _unwrap(value, host=None):
    """Replace every StrictArray in ``value`` (recursing through lists and tuples) by its data.

    A raw numpy array is what CuPy rejects, unless ``host`` is ``"copy"``: the explicit
    host-to-device transfer, which copies so that the two never share memory.
    """
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, np.ndarray):
        if host == "copy":
            return value.copy()
        raise _unsupported(value)
    if isinstance(value, (list, tuple)):
        items = [_unwrap(item, host) for item in value]
        if isinstance(value, list):
            return items
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


def _wrap(value):
    """Turn numpy results into backend ones: arrays and numpy scalars become StrictArray
    (CuPy returns 0-d arrays where numpy returns scalars), containers are wrapped item by item."""
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):
        return StrictArray(np.asarray(value))
    if isinstance(value, (list, tuple)):
        items = [_wrap(item) for item in value]
        if isinstance(value, list):
            return items
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, (np.random.Generator, np.random.RandomState)):
        return _Namespace(value)
    return value


def _call(func, args, kwargs, host=None):
    return _wrap(func(*_unwrap(args, host), **{k: _unwrap(v, host) for k, v in kwargs.items()}))


def _operand(other):
    """The numpy-side value for the other operand of an operator, or NotImplemented."""
    if isinstance(other, StrictArray):
        return other._a
    if isinstance(other, (bool, int, float, complex, np.generic)):
        return other
    if isinstance(other, (np.ndarray, list, tuple)):
        raise _unsupported(other)
    return NotImplemented


def _operator(name, inplace=False):
    def op(self, *others):
        others = [_operand(other) for other in others]
        if any(other is NotImplemented for other in others):
            return NotImplemented
        result = getattr(self._a, name)(*others)
        return self if inplace else _wrap(result)

    op.__name__ = name
    return op


_COMPARISONS = (np.less, np.less_equal, np.equal, np.not_equal, np.greater, np.greater_equal)


def _scalar_operand(value, ufunc):
    """A numpy scalar operand, as numpy hands it to a comparison (0-d array) made a scalar."""
    if ufunc in _COMPARISONS and isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def _method(name):
    def method(self, *args, **kwargs):
        return _call(getattr(self._a, name), args, kwargs)

    method.__name__ = name
    return method


class StrictArray:
    """A numpy array behind a CuPy-like surface: no implicit conversion to numpy."""

    __slots__ = ("_a",)

    def __init__(self, data):
        if not isinstance(data, np.ndarray):
            raise TypeError(f"StrictArray wraps a numpy.ndarray, not {type(data)}; use xp.asarray")
        self._a = data

    # Everything numpy could do with a StrictArray is an implicit conversion to the host.
    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT_CONVERSION)

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(IMPLICIT_CONVERSION)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # Numpy scalars do not defer to reflected operators: `np.float32(2) * a` lands here, and
        # so does `np.float32(2) < a`, with the scalar turned into a 0-d array. CuPy computes
        # these on the device, so do the same; any other ufunc call on a StrictArray is host code.
        scalars = [_scalar_operand(x, ufunc) for x in inputs]
        if (
            method == "__call__"
            and not kwargs
            and any(isinstance(x, np.generic) for x in scalars)
            and all(isinstance(x, (StrictArray, np.generic)) for x in scalars)
        ):
            return _Ufunc(ufunc)(*scalars)
        raise TypeError(IMPLICIT_CONVERSION)

    def get(self):
        """A numpy copy of the data: the explicit device-to-host transfer."""
        return self._a.copy()

    @property
    def __cuda_array_interface__(self):
        """Where the data lies, as CuPy says it (CuPy arrays have no __array_interface__)."""
        return self._a.__array_interface__

    # shape, dtype, T, ..., the ndarray methods and the operators are forwarded to the wrapped
    # array by the loops after this class.
    __hash__ = None

    def __getitem__(self, key):
        key = _unwrap(key if isinstance(key, tuple) else (key,))
        # A trailing Ellipsis makes numpy return a 0-d view where it would return a scalar,
        # as CuPy does; it changes nothing else (an index holds at most one Ellipsis).
        if not any(k is Ellipsis for k in key):
            key += (Ellipsis,)
        return StrictArray(self._a[key])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __index__(self):
        return self._a.__index__()

    def __format__(self, spec):
        return format(self._a, spec)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)


_METHODS = (
    "reshape transpose swapaxes astype copy view sum mean prod max min argmax argmin any all"
    " cumsum cumprod var std clip squeeze ravel flatten fill item tolist nonzero repeat take"
    " argsort sort round conj dot diagonal trace __copy__ __deepcopy__"
)
_BINARY = "add sub mul truediv floordiv mod pow matmul and or xor lshift rshift"

for _name in "shape dtype ndim size itemsize nbytes strides".split():
    setattr(StrictArray, _name, property(lambda self, _name=_name: getattr(self._a, _name)))
for _name in "T real imag".split():
    setattr(StrictArray, _name, property(lambda self, _name=_name: _wrap(getattr(self._a, _name))))
for _name in _METHODS.split():
    setattr(StrictArray, _name, _method(_name))
for _name in _BINARY.split():
    for _dunder in (f"__{_name}__", f"__r{_name}__"):
        setattr(StrictArray, _dunder, _operator(_dunder))
    setattr(StrictArray, f"__i{_name}__", _operator(f"__i{_name}__", inplace=True))
for _dunder in "__divmod__ __rdivmod__ __lt__ __le__ __eq__ __ne__ __gt__ __ge__".split():
    setattr(StrictArray, _dunder, _operator(_dunder))
for _dunder in "__neg__ __pos__ __abs__ __invert__".split():
    setattr(StrictArray, _dunder, _operator(_dunder))
del _name, _dunder


class _Ufunc:
    """A numpy ufunc on StrictArrays, with its methods (``at``, ``reduce``, ``outer``, ...)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.__doc__ = ufunc.__doc__

    def __call__(self, *args, **kwargs):
        for operand in args[: self._ufunc.nin]:
            if isinstance(operand, (list, tuple)):  # CuPy ufuncs take no sequences either
                raise _unsupported(operand)
        return _call(self._ufunc, args, kwargs)

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        return _function(value) if callable(value) else value

    def __repr__(self):
        return f"<strict ufunc {self.__name__!r}>"


def _function(func, host=None):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _call(func, args, kwargs, host)

    return wrapper


def _backend_attribute(value):
    if isinstance(value, np.ufunc):
        return _Ufunc(value)
    if isinstance(value, types.ModuleType):
        return _Namespace(value)
    if isinstance(value, type):
        if issubclass(value, (np.random.Generator, np.random.RandomState)):
            return _function(value)  # so that its instances hand out StrictArrays
        return value  # dtypes, scalar types, finfo, ...: shared with numpy, as in CuPy
    if callable(value):
        return _function(value)
    return value  # constants: inf, nan, pi, newaxis, ...


class _Namespace:
    """Numpy (or a numpy submodule or object) seen through the backend: attributes are looked
    up on the wrapped object and made to take and return StrictArrays."""

    def __init__(self, target, **overrides):
        self._target = target
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        if name == "_target":  # not set yet (copy, pickle): do not recurse
            raise AttributeError(name)
        value = _backend_attribute(getattr(self._target, name))
        if isinstance(self._target, types.ModuleType):
            setattr(self, name, value)  # modules do not change: cache
        return value

    def __dir__(self):
        return sorted(set(dir(self._target)) | set(self.__dict__))

    def __repr__(self):
        return f"<strict backend view of {self._target!r}>"


def _asnumpy(a):
    return a.get() if isinstance(a, StrictArray) else np.asarray(a)


def _get_array_module(*args):
    return xp if any(isinstance(arg, StrictArray) for arg in args) else np


xp = _Namespace(
    np,
    ndarray=StrictArray,
    # The explicit host-to-device transfers: the only functions that take numpy arrays.
    asarray=_function(np.asarray, host="copy"),
    array=_function(np.array, host="copy"),
    ascontiguousarray=_function(np.ascontiguousarray, host="copy"),
    asnumpy=_asnumpy,
    get_array_module=_get_array_module,
)
