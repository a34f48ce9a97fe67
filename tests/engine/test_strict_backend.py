"""The strict backend must behave like numpy, except that it fails where CuPy would."""

import copy
import operator
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from visgrad.engine.strict_backend import StrictArray, xp

IMPLICIT = re.escape(
    "Implicit conversion to a NumPy array is not allowed. "
    "Please use `.get()` to construct a NumPy array explicitly."
)
HOST = re.escape("Unsupported type <class 'numpy.ndarray'>")


def host(shape=(2, 3), dtype=np.float64):
    return np.arange(1, 1 + int(np.prod(shape)), dtype=dtype).reshape(shape)


def strict(shape=(2, 3), dtype=np.float64):
    return xp.asarray(host(shape, dtype))


def assert_strict_equal(result, expected):
    """``result`` is a StrictArray holding exactly numpy's ``expected``."""
    assert isinstance(result, StrictArray), type(result)
    got = result.get()
    expected = np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


# --- implicit conversions to numpy ------------------------------------------------------------

IMPLICIT_PATHS = {
    "__array__": lambda a: a.__array__(),
    "np.asarray": lambda a: np.asarray(a),
    "np.array": lambda a: np.array(a),
    "np.array of list": lambda a: np.array([a, a]),
    "np.asarray 0-d": lambda a: np.asarray(a[0, 0]),
    "np.exp": lambda a: np.exp(a),
    "np.exp 0-d": lambda a: np.exp(a.sum()),
    "np.add": lambda a: np.add(a, a),
    "np.maximum.reduce": lambda a: np.maximum.reduce(a),
    "np.add.at": lambda a: np.add.at(a, 0, 1.0),
    "np.sum": lambda a: np.sum(a),
    "np.mean": lambda a: np.mean(a),
    "np.concatenate": lambda a: np.concatenate([a]),
    "np.stack": lambda a: np.stack([a, a]),
    "np.where": lambda a: np.where(a > 2, a, 0.0),
    "np.result_type": lambda a: np.result_type(a),
    "ndarray + strict": lambda a: host() + a,
    "ndarray * strict": lambda a: host() * a,
    "ndarray < strict": lambda a: host() < a,
    "ndarray @ strict": lambda a: host((3, 2)) @ a,
    "0-d ndarray + strict": lambda a: np.array(2.0) + a,
    "ndarray += strict": lambda a: operator.iadd(host(), a),
    "np.add out=ndarray": lambda a: np.add(a, a, out=host()),
}


@pytest.mark.parametrize("path", IMPLICIT_PATHS.values(), ids=IMPLICIT_PATHS.keys())
def test_implicit_conversion_raises(path):
    with pytest.raises(TypeError, match=IMPLICIT):
        path(strict())


# --- raw numpy arrays where the backend expects device arrays ---------------------------------

HOST_INPUTS = {
    "xp.exp": lambda a, h: xp.exp(h),
    "xp.add mixed": lambda a, h: xp.add(a, h),
    "xp.add out=": lambda a, h: xp.add(a, a, out=h),
    "xp.sum": lambda a, h: xp.sum(h),
    "xp.zeros_like": lambda a, h: xp.zeros_like(h),
    "xp.concatenate": lambda a, h: xp.concatenate([a, h]),
    "xp.where": lambda a, h: xp.where(a > 2, a, h),
    "xp.einsum": lambda a, h: xp.einsum("ij,ij->", a, h),
    "xp.linalg.norm": lambda a, h: xp.linalg.norm(h),
    "xp.maximum.reduce": lambda a, h: xp.maximum.reduce(h),
    "xp.add.at index": lambda a, h: xp.add.at(a, np.array([0, 1]), 1.0),
    "rng.permutation": lambda a, h: xp.random.default_rng(0).permutation(h),
    "strict + ndarray": lambda a, h: a + h,
    "strict += ndarray": lambda a, h: operator.iadd(a, h),
    "strict == ndarray": lambda a, h: a == h,
    "strict[ndarray]": lambda a, h: a[np.array([0, 1])],
    "strict[ndarray, :]": lambda a, h: a[np.array([0, 1]), :],
    "strict[ndarray] = 0": lambda a, h: a.__setitem__(np.array([0]), 0.0),
    "strict[0] = ndarray": lambda a, h: a.__setitem__(0, h[0]),
    "strict[0] = [ndarray]": lambda a, h: a.__setitem__(slice(None), [h[0], h[1]]),
    "strict.sum(out=ndarray)": lambda a, h: a.sum(axis=0, out=h[0]),
}


@pytest.mark.parametrize("call", HOST_INPUTS.values(), ids=HOST_INPUTS.keys())
def test_numpy_array_input_raises(call):
    a, h = strict(), host()
    before = a.get()
    with pytest.raises(TypeError, match=HOST):
        call(a, h)
    np.testing.assert_array_equal(a.get(), before)


@pytest.mark.parametrize(
    "call",
    [lambda a: a + [1.0, 2.0, 3.0], lambda a: [1.0, 2.0, 3.0] * a, lambda a: xp.add([1.0], a)],
    ids=["strict + list", "list * strict", "xp.add(list, strict)"],
)
def test_sequence_operands_raise_like_cupy(call):
    with pytest.raises(TypeError, match=re.escape("Unsupported type <class 'list'>")):
        call(strict())


@pytest.mark.parametrize("transfer", [xp.asarray, xp.array, xp.ascontiguousarray])
def test_explicit_transfer_copies_host_data(transfer):
    h = host()
    a = transfer(h)
    assert_strict_equal(a, host())
    h[0, 0] = -100.0  # the device copy does not see later host writes
    assert a.get()[0, 0] == 1.0


def test_transfer_of_lists_and_dtypes():
    pairs = [[1, 2], [3, 4]]
    assert_strict_equal(xp.asarray(pairs, dtype=xp.float32), np.asarray(pairs, dtype=np.float32))
    assert_strict_equal(xp.array([strict(), strict()]), np.stack([host(), host()]))
    assert_strict_equal(xp.asarray(np.float32(2.5)), np.float32(2.5))


def test_asarray_of_a_strict_array_shares_its_data():
    a = strict()
    b = xp.asarray(a)
    b[0, 0] = 42.0
    assert a.get()[0, 0] == 42.0


@pytest.mark.parametrize("to_host", [lambda a: a.get(), xp.asnumpy], ids=["get", "asnumpy"])
def test_device_to_host_is_an_independent_numpy_copy(to_host):
    a = strict()
    h = to_host(a)
    assert type(h) is np.ndarray
    np.testing.assert_array_equal(h, host())
    h[0, 0] = -1.0
    assert a.get()[0, 0] == 1.0


def test_asnumpy_passes_host_data_through():
    assert type(xp.asnumpy([1, 2])) is np.ndarray
    np.testing.assert_array_equal(xp.asnumpy(host()), host())


# --- operators ------------------------------------------------------------------------------

BINARY = [
    operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod,
    operator.pow, operator.lt, operator.le, operator.eq, operator.ne, operator.gt, operator.ge,
]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
def test_binary_operators_match_numpy(op):
    a, b = strict(), xp.asarray(host()[::-1] - 3.5)
    assert_strict_equal(op(a, b), op(host(), host()[::-1] - 3.5))
    assert_strict_equal(op(a, 2.5), op(host(), 2.5))
    assert_strict_equal(op(2.5, a), op(2.5, host()))  # reflected
    assert_strict_equal(op(a, np.float32(2.5)), op(host(), np.float32(2.5)))
    # numpy scalars on the left do not defer to the reflected operator: CuPy handles them.
    assert_strict_equal(op(np.float32(2.5), a), op(np.float32(2.5), host()))


@pytest.mark.parametrize(
    "op",
    [operator.and_, operator.or_, operator.xor, operator.lshift, operator.rshift],
    ids=lambda op: op.__name__,
)
def test_integer_operators_match_numpy(op):
    a, h = strict(dtype=np.int64), host(dtype=np.int64)
    assert_strict_equal(op(a, a[::-1]), op(h, h[::-1]))
    assert_strict_equal(op(a, 3), op(h, 3))
    assert_strict_equal(op(3, a), op(3, h))


def test_unary_matmul_and_divmod_match_numpy():
    a, h = strict(), host()
    assert_strict_equal(-a, -h)
    assert_strict_equal(+a, +h)
    assert_strict_equal(abs(a - 4), abs(h - 4))
    assert_strict_equal(~strict(dtype=np.int64), ~host(dtype=np.int64))
    assert_strict_equal(~(a > 2), ~(h > 2))
    assert_strict_equal(a @ a.T, h @ h.T)
    assert_strict_equal(a[0] @ a[1], h[0] @ h[1])
    quotient, remainder = divmod(a, 4.0)
    assert_strict_equal(quotient, h // 4.0)
    assert_strict_equal(remainder, h % 4.0)
    assert_strict_equal(divmod(9.0, a)[1], 9.0 % h)


INPLACE = [
    (operator.iadd, 2.0), (operator.isub, 2.0), (operator.imul, 3.0), (operator.itruediv, 4.0),
    (operator.ifloordiv, 4.0), (operator.imod, 4.0), (operator.ipow, 2.0),
]


@pytest.mark.parametrize("op, value", INPLACE, ids=lambda x: getattr(x, "__name__", ""))
def test_inplace_operators_mutate(op, value):
    a = strict()
    view = a[1]  # in-place ops write through, so views see them
    result = op(a, value)
    assert result is a
    expected = op(host(), value)
    assert_strict_equal(a, expected)
    assert_strict_equal(view, expected[1])
    b = strict()
    op(b, xp.asarray(np.full(3, value)))  # broadcast StrictArray operand
    assert_strict_equal(b, expected)


@pytest.mark.parametrize(
    "op", [operator.iand, operator.ior, operator.ixor, operator.ilshift, operator.irshift],
    ids=lambda op: op.__name__,
)
def test_integer_inplace_operators_mutate(op):
    a = strict(dtype=np.int64)
    assert op(a, 2) is a
    assert_strict_equal(a, op(host(dtype=np.int64), 2))


def test_inplace_matmul_mutates():
    a, h = strict((3, 3)), host((3, 3))
    a @= xp.eye(3) * 2
    h @= np.eye(3) * 2
    assert_strict_equal(a, h)


# --- reductions and methods -----------------------------------------------------------------

REDUCTIONS = {
    "sum": lambda m, a: a.sum(),
    "mean": lambda m, a: a.mean(),
    "prod": lambda m, a: a.prod(),
    "max": lambda m, a: a.max(),
    "min": lambda m, a: a.min(),
    "argmax": lambda m, a: a.argmax(),
    "argmin": lambda m, a: a.argmin(),
    "any": lambda m, a: (a > 5).any(),
    "all": lambda m, a: (a > 0).all(),
    "var": lambda m, a: a.var(),
    "std": lambda m, a: a.std(),
    "xp.sum": lambda m, a: m.sum(a),
    "xp.max": lambda m, a: m.max(a),
    "xp.dot": lambda m, a: m.dot(a[0], a[1]),
    "xp.linalg.norm": lambda m, a: m.linalg.norm(a),
    "xp.maximum.reduce": lambda m, a: m.maximum.reduce(a.ravel()),
    "xp.einsum": lambda m, a: m.einsum("ij,ij->", a, a),
}


@pytest.mark.parametrize("reduce", REDUCTIONS.values(), ids=REDUCTIONS.keys())
def test_full_reductions_are_0d_arrays(reduce):
    expected = reduce(np, host())
    assert isinstance(expected, np.generic)  # numpy gives a scalar here ...
    result = reduce(xp, strict())
    assert_strict_equal(result, expected)  # ... CuPy a 0-d array
    assert result.ndim == 0 and result.shape == ()


METHODS = {
    "reshape": lambda a: a.reshape(3, 2),
    "reshape tuple": lambda a: a.reshape((-1,)),
    "transpose": lambda a: a.transpose(1, 0),
    "T": lambda a: a.T,
    "swapaxes": lambda a: a.swapaxes(0, 1),
    "astype": lambda a: a.astype(np.float32),
    "astype no copy": lambda a: a.astype(np.float64, copy=False),
    "copy": lambda a: a.copy(),
    "sum axis": lambda a: a.sum(axis=0),
    "sum keepdims": lambda a: a.sum(axis=1, keepdims=True),
    "mean axis": lambda a: a.mean(axis=(0, 1), keepdims=True),
    "max axis": lambda a: a.max(axis=-1),
    "argmax axis": lambda a: a.argmax(axis=0),
    "cumsum": lambda a: a.cumsum(axis=1),
    "var ddof": lambda a: a.var(axis=0, ddof=1),
    "clip": lambda a: a.clip(2, 4),
    "squeeze": lambda a: a[None].squeeze(0),
    "ravel": lambda a: a.ravel(),
    "flatten": lambda a: a.flatten(),
    "view": lambda a: a.view(np.int64),
    "real": lambda a: a.real,
    "nonzero": lambda a: (a > 3).nonzero()[1],
}


@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
def test_methods_match_numpy(method):
    assert_strict_equal(method(strict()), method(host()))


def test_views_share_data_and_copies_do_not():
    a = strict()
    a.reshape(3, 2)[0, 0] = 10.0
    a.T[2, 1] = 20.0
    a.copy()[0, 1] = 30.0
    a.astype(np.float64)[0, 2] = 40.0
    np.testing.assert_array_equal(a.get(), [[10, 2, 3], [4, 5, 20]])


def test_fill_and_out_arguments_mutate():
    a = strict()
    assert a.fill(7.0) is None
    assert_strict_equal(a, np.full((2, 3), 7.0))
    out = xp.zeros(3)
    assert_strict_equal(strict().sum(axis=0, out=out), host().sum(axis=0))
    assert_strict_equal(out, host().sum(axis=0))
    out = xp.zeros((2, 3))
    xp.multiply(strict(), 2.0, out=out)
    assert_strict_equal(out, host() * 2.0)


def test_attributes_match_numpy():
    a, h = strict((2, 3, 4), np.float32), host((2, 3, 4), np.float32)
    for name in ("shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides"):
        assert getattr(a, name) == getattr(h, name), name
    assert len(a) == 2


# --- indexing -------------------------------------------------------------------------------

INDICES = {
    "int": lambda m: 1,
    "negative int": lambda m: -1,
    "ints": lambda m: (1, 2),
    "slice": lambda m: slice(0, 1),
    "step": lambda m: (slice(None), slice(None, None, 2)),
    "none": lambda m: (None, 0),
    "ellipsis": lambda m: (Ellipsis, 1),
    "ellipsis int 0-d": lambda m: (0, Ellipsis, 1),
    "list": lambda m: [1, 0, 1],
    "list in tuple": lambda m: (slice(None), [2, 0]),
    "array": lambda m: m.asarray([1, 0]),
    "arrays": lambda m: (m.asarray([0, 1]), m.asarray([2, 2])),
    "0-d array": lambda m: m.asarray(1),
    "mask": lambda m: m.asarray(host() > 2.5),
    "row mask": lambda m: m.asarray([False, True]),
}


@pytest.mark.parametrize("index", INDICES.values(), ids=INDICES.keys())
def test_getitem_matches_numpy(index):
    expected = host()[index(np)]
    assert_strict_equal(strict()[index(xp)], expected)


@pytest.mark.parametrize("index", INDICES.values(), ids=INDICES.keys())
def test_setitem_matches_numpy(index):
    h, a = host(), strict()
    h[index(np)] = -1.0
    a[index(xp)] = -1.0
    assert_strict_equal(a, h)
    h[index(np)] = h[index(np)] * 5
    a[index(xp)] = a[index(xp)] * 5
    assert_strict_equal(a, h)


def test_integer_indexing_gives_a_0d_view():
    a = strict()
    element = a[1, 2]
    assert_strict_equal(element, np.float64(6.0))
    element[...] = 60.0
    element += 1.0
    assert a.get()[1, 2] == 61.0
    assert_strict_equal(strict((3,))[()], host((3,)))
    assert_strict_equal(xp.asarray(5.0)[()], np.float64(5.0))


def test_setitem_with_lists_and_broadcast_values():
    a, h = strict(), host()
    a[0] = [7.0, 8.0, 9.0]
    h[0] = [7.0, 8.0, 9.0]
    a[:, 1] = xp.asarray([0.5, 0.25])
    h[:, 1] = [0.5, 0.25]
    assert_strict_equal(a, h)


# --- ufunc methods --------------------------------------------------------------------------


def test_add_at_accumulates_repeated_indices_in_place():
    target, expected = xp.zeros(5), np.zeros(5)
    assert xp.add.at(target, xp.asarray([0, 0, 3]), xp.asarray([1.0, 2.0, 5.0])) is None
    np.add.at(expected, [0, 0, 3], [1.0, 2.0, 5.0])
    assert_strict_equal(target, expected)
    target, expected = xp.zeros((2, 3)), np.zeros((2, 3))
    xp.add.at(target, (xp.asarray([1, 1]), slice(None)), strict())
    np.add.at(expected, ([1, 1], slice(None)), host())
    assert_strict_equal(target, expected)


def test_ufunc_methods_and_attributes():
    a, h = strict(), host()
    assert_strict_equal(xp.maximum.reduce(a, axis=0), np.maximum.reduce(h, axis=0))
    assert_strict_equal(xp.add.accumulate(a, axis=1), np.add.accumulate(h, axis=1))
    assert_strict_equal(xp.multiply.outer(a[0], a[1]), np.multiply.outer(h[0], h[1]))
    assert_strict_equal(xp.add.reduceat(a[0], [0, 2]), np.add.reduceat(h[0], [0, 2]))
    assert xp.add.nin == 2 and xp.exp.__name__ == "exp"


# --- functions ------------------------------------------------------------------------------

FUNCTIONS = {
    "concatenate": lambda m, a: m.concatenate([a, a * 2], axis=1),
    "stack": lambda m, a: m.stack((a, a + 1), axis=-1),
    "where": lambda m, a: m.where(a > 3, a, -a),
    "where scalar": lambda m, a: m.where(a > 3, a, 0.0),
    "matmul": lambda m, a: m.matmul(a, a.T),
    "broadcast_to": lambda m, a: m.broadcast_to(a[0], (4, 3)),
    "expand_dims": lambda m, a: m.expand_dims(a, (0, 2)),
    "moveaxis": lambda m, a: m.moveaxis(a[None], 0, -1),
    "einsum": lambda m, a: m.einsum("ij,kj->ik", a, a),
    "exp": lambda m, a: m.exp(a),
    "maximum": lambda m, a: m.maximum(a, 3.0),
    "zeros_like": lambda m, a: m.zeros_like(a, dtype=m.float32),
    "ones": lambda m, a: m.ones((2, 2), dtype=m.int64),
    "arange": lambda m, a: m.arange(5),
    "eye": lambda m, a: m.eye(3),
    "reshape": lambda m, a: m.reshape(a, (3, 2)),
    "transpose": lambda m, a: m.transpose(a),
    "sum axis": lambda m, a: m.sum(a, axis=1),
    "tensordot": lambda m, a: m.tensordot(a, a, axes=([1], [1])),
    "triu": lambda m, a: m.triu(a),
    "pad": lambda m, a: m.pad(a, 1),
    "broadcast_arrays": lambda m, a: m.broadcast_arrays(a, a[0])[1],
    "split": lambda m, a: m.split(a, 3, axis=1)[2],
    "unique counts": lambda m, a: m.unique(a // 2, return_counts=True)[1],
    "svd": lambda m, a: m.linalg.svd(a).S,
}


@pytest.mark.parametrize("function", FUNCTIONS.values(), ids=FUNCTIONS.keys())
def test_functions_match_numpy(function):
    assert_strict_equal(function(xp, strict()), function(np, host()))


def test_container_results_are_wrapped_item_by_item():
    parts = xp.split(strict(), 3, axis=1)
    assert isinstance(parts, list) and all(isinstance(p, StrictArray) for p in parts)
    rows, cols = xp.nonzero(strict() > 2)
    assert isinstance(rows, StrictArray) and isinstance(cols, StrictArray)
    svd = xp.linalg.svd(strict())
    assert type(svd).__name__ == "SVDResult" and isinstance(svd.U, StrictArray)


def test_random_generator_returns_strict_arrays():
    rng, ref = xp.random.default_rng(123), np.random.default_rng(123)
    assert_strict_equal(rng.random((2, 3)), ref.random((2, 3)))
    assert_strict_equal(
        rng.standard_normal((4,), dtype=xp.float32), ref.standard_normal((4,), dtype=np.float32)
    )
    assert_strict_equal(rng.normal(1.0, 2.0, size=3), ref.normal(1.0, 2.0, size=3))
    assert_strict_equal(rng.uniform(-1, 1, size=(2, 2)), ref.uniform(-1, 1, size=(2, 2)))
    assert_strict_equal(rng.integers(0, 10, size=5), ref.integers(0, 10, size=5))
    assert_strict_equal(rng.permutation(6), ref.permutation(6))
    assert_strict_equal(rng.permutation(strict()), ref.permutation(host()))


# --- conversions to Python ------------------------------------------------------------------


def test_python_scalar_conversions():
    a = strict()
    assert float(a[1, 1]) == 5.0 and type(float(a.sum())) is float
    assert int(a[0, 1]) == 2
    assert bool(a[0, 0]) and not bool(a[0, 0] - 1)
    assert complex(a[0, 0]) == 1 + 0j
    assert operator.index(xp.asarray(3)) == 3
    assert [10, 20, 30][xp.asarray(1)] == 20
    assert a.item(4) == 5.0 and a[0, 2].item() == 3.0 and type(a.sum().item()) is float
    assert a.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert f"{a[0, 0]:.2f}" == "1.00"
    with pytest.raises(ValueError):
        bool(a)
    with pytest.raises(TypeError):
        operator.index(a[0, 0])  # a float is no index, as in numpy


def test_len_and_iteration():
    a = strict()
    assert len(a) == 2
    rows = list(a)
    assert len(rows) == 2 and all(isinstance(r, StrictArray) for r in rows)
    assert_strict_equal(rows[1], host()[1])
    elements = list(a[0])
    assert all(isinstance(e, StrictArray) and e.ndim == 0 for e in elements)
    assert [float(e) for e in elements] == [1.0, 2.0, 3.0]
    with pytest.raises(TypeError):
        len(a.sum())
    with pytest.raises(TypeError, match="iteration over a 0-d array"):
        iter(a.sum())


def test_repr_str_and_copy():
    a = strict((3,))
    assert repr(a) == "array([1., 2., 3.])"
    assert str(a) == "[1. 2. 3.]"
    for duplicate in (copy.copy(a), copy.deepcopy(a)):
        duplicate[0] = 0.0
        assert isinstance(duplicate, StrictArray)
    assert a.get()[0] == 1.0


def test_strict_arrays_are_unhashable():
    with pytest.raises(TypeError):
        hash(strict())


# --- the xp namespace -----------------------------------------------------------------------


def test_namespace_types_and_constants():
    a = strict()
    assert xp.ndarray is StrictArray and isinstance(a, xp.ndarray)
    assert not isinstance(a, np.ndarray)
    assert xp.float32 is np.float32 and xp.int64 is np.int64 and xp.bool_ is np.bool_
    assert xp.dtype is np.dtype and xp.dtype("float32") == np.float32
    assert xp.newaxis is None and xp.inf == np.inf and np.isnan(xp.nan) and xp.pi == np.pi
    assert xp.finfo(xp.float32).eps == np.finfo(np.float32).eps
    assert xp.result_type(a, xp.float32) == np.float64
    assert a[:, xp.newaxis].shape == (2, 1, 3)


def test_get_array_module():
    assert xp.get_array_module(strict()) is xp
    assert xp.get_array_module(1.0, strict()) is xp
    assert xp.get_array_module(host()) is np
    assert xp.get_array_module() is np


# --- property: the strict backend computes exactly what numpy computes ----------------------

OPERATIONS = {
    "neg": lambda m, a: -a,
    "abs": lambda m, a: m.abs(a),
    "exp": lambda m, a: m.exp(a),
    "log": lambda m, a: m.log(m.abs(a) + 1),
    "sqrt": lambda m, a: m.sqrt(m.abs(a)),
    "tanh": lambda m, a: m.tanh(a),
    "sin": lambda m, a: m.sin(a),
    "add": lambda m, a: a + a[::-1],
    "scale": lambda m, a: 2.5 * a - 1,
    "divide": lambda m, a: a / (m.abs(a) + 1),
    "square": lambda m, a: a**2,
    "relu": lambda m, a: m.maximum(a, 0),
    "where": lambda m, a: m.where(a > 0, a, 0.1 * a),
    "clip": lambda m, a: a.clip(-1, 1),
    "sum": lambda m, a: a.sum(),
    "sum axis": lambda m, a: m.sum(a, axis=0),
    "mean": lambda m, a: a.mean(axis=-1, keepdims=True),
    "max": lambda m, a: m.max(a),
    "argmax": lambda m, a: a.argmax(axis=-1),
    "cumsum": lambda m, a: m.cumsum(a, axis=0),
    "var": lambda m, a: a.var(),
    "logsumexp": lambda m, a: m.log(m.sum(m.exp(a - a.max()))) + a.max(),
}

float_arrays = st.sampled_from([np.float32, np.float64]).flatmap(
    lambda dtype: hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements=st.floats(-100, 100, width=np.dtype(dtype).itemsize * 8),
    )
)


@settings(max_examples=300, deadline=None)
@given(data=float_arrays, name=st.sampled_from(sorted(OPERATIONS)))
def test_operations_match_numpy_exactly(data, name):
    operation = OPERATIONS[name]
    with np.errstate(all="ignore"):
        expected = operation(np, data.copy())
        result = operation(xp, xp.asarray(data))
    assert isinstance(result, StrictArray)
    got = result.get()
    assert got.dtype == np.asarray(expected).dtype and got.shape == np.shape(expected)
    np.testing.assert_array_equal(got, expected)
