"""dtypes against torch: type promotion of operators, creation functions and their printed forms,
and gradients that cross a promotion."""

import itertools
import operator
import warnings

import numpy as np
import pytest
import torch

import visgrad as vg
from tests.engine.twins import check_program, leaf, make_inputs

NAMES = ["bool", "int32", "int64", "float32", "float64"]
OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
             "truediv": operator.truediv, "lt": operator.lt, "eq": operator.eq}
SCALARS = [True, 2, -1, 2.5]


def sample(lib, name: str, zero_dim: bool):
    values = [True, False, True] if name == "bool" else [3, -2, 5]
    return lib.tensor(values[0] if zero_dim else values, dtype=getattr(lib, name))


def result(fn):
    """What a program gives: (dtype, values) or (exception type, message)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn()
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__, str(exc)
    return str(out.dtype), repr(out.tolist())  # repr: nan equals nan


def tensor_pairs():
    for a, b in itertools.product(NAMES, repeat=2):
        for a0, b0 in itertools.product([False, True], repeat=2):
            for op in OPERATORS:
                ids = f"{a}{'-0d' if a0 else ''}-{op}-{b}{'-0d' if b0 else ''}"
                yield pytest.param(op, a, a0, b, b0, id=ids)


@pytest.mark.parametrize(("op", "a", "a0", "b", "b0"), list(tensor_pairs()))
def test_tensor_tensor_promotion_matches_torch(op, a, a0, b, b0):
    fn = OPERATORS[op]
    theirs = result(lambda: fn(sample(torch, a, a0), sample(torch, b, b0)))
    ours = result(lambda: fn(sample(vg, a, a0), sample(vg, b, b0)))
    assert ours == theirs


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("zero_dim", [False, True], ids=["1d", "0d"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reflected", [False, True], ids=["tensor-op-scalar", "scalar-op-tensor"])
def test_tensor_scalar_promotion_matches_torch(op, scalar, zero_dim, name, reflected):
    fn = OPERATORS[op]

    def program(lib):
        t = sample(lib, name, zero_dim)
        return fn(scalar, t) if reflected else fn(t, scalar)

    assert result(lambda: program(vg)) == result(lambda: program(torch))


def test_integer_powers_match_torch():
    for program in (lambda m: m.tensor([2, 1, -1, -1, 3]) ** m.tensor([-1, -3, -3, -2, 2]),
                    lambda m: 2 ** m.tensor([-1, 2]),
                    lambda m: m.tensor([True, False]) ** 2,
                    lambda m: m.tensor([2, 3], dtype=m.int32) ** 2,
                    lambda m: m.tensor([2, 3]) ** 0.5):
        assert result(lambda: program(vg)) == result(lambda: program(torch))


# ---- creation ---------------------------------------------------------------------------------

def creation(name, fn, marks=()):
    return pytest.param(fn, id=name, marks=marks)


RANGE_ROUNDING = pytest.mark.xfail(
    strict=True, reason="engine: tensor.py computes float arange/linspace in float64 and rounds; "
    "torch's formulas (start + i * step in the dtype; linspace from both ends) differ by an ulp")

CREATIONS = [
    creation("ints", lambda m: m.tensor([1, 2, 3])),
    creation("floats", lambda m: m.tensor([1.0, 2.5])),
    creation("ints-and-floats", lambda m: m.tensor([1, 2.5])),
    creation("bools", lambda m: m.tensor([True, False])),
    creation("bools-and-ints", lambda m: m.tensor([True, 2])),
    creation("nested", lambda m: m.tensor([[1, 2], [3, 4]])),
    creation("nested-floats", lambda m: m.tensor([[1.5, -2.0], [3.25, 1e-5]])),
    creation("int", lambda m: m.tensor(3)),
    creation("float", lambda m: m.tensor(3.5)),
    creation("bool", lambda m: m.tensor(True)),
    creation("empty", lambda m: m.tensor([])),
    creation("empty-nested", lambda m: m.tensor([[]])),
    creation("large-int", lambda m: m.tensor([2 ** 40, -3])),
    creation("numpy-float64", lambda m: m.tensor(np.array([1.0, 2.0]))),
    creation("numpy-float32", lambda m: m.tensor(np.array([1.0, 2.5], dtype=np.float32))),
    creation("numpy-int32", lambda m: m.tensor(np.array([1, 2], dtype=np.int32))),
    creation("numpy-int64", lambda m: m.tensor(np.array([[1, 2]]))),
    creation("numpy-bool", lambda m: m.tensor(np.array([True, False]))),
    creation("numpy-float64-scalar", lambda m: m.tensor(np.float64(2.5))),
    creation("numpy-float32-scalar", lambda m: m.tensor(np.float32(2.5))),
    creation("numpy-int-scalar", lambda m: m.tensor(np.int64(2))),
    creation("list-of-numpy-scalars", lambda m: m.tensor([np.float64(1.0), np.float64(2.0)])),
    creation("list-of-0d-tensors", lambda m: m.tensor([m.tensor(1.0), m.tensor(2.0)])),
    creation("from-tensor", lambda m: m.tensor(m.tensor([1, 2]))),
    creation("from-tensor-values", lambda m: m.tensor(m.tensor([1, 2]).tolist())),
    creation("dtype-float64", lambda m: m.tensor([1, 2], dtype=m.float64)),
    creation("dtype-int64-truncates", lambda m: m.tensor([1.7, -2.7], dtype=m.int64)),
    creation("dtype-bool", lambda m: m.tensor([0, 2], dtype=m.bool)),
    creation("dtype-int32", lambda m: m.tensor([1, 2], dtype=m.int32)),
    creation("requires-grad", lambda m: m.tensor([1.0, 2.0], requires_grad=True)),
    creation("requires-grad-double", lambda m: m.tensor([1.0], dtype=m.float64,
                                                       requires_grad=True)),
    creation("as-tensor", lambda m: m.as_tensor([1, 2])),
    creation("as-tensor-numpy", lambda m: m.as_tensor(np.array([1.0, 2.0]))),
    creation("from-numpy", lambda m: m.from_numpy(np.array([1.0, 2.0]))),
    creation("from-numpy-int32", lambda m: m.from_numpy(np.array([1, 2], dtype=np.int32))),
    creation("zeros", lambda m: m.zeros(2, 3)),
    creation("zeros-tuple", lambda m: m.zeros((2, 3))),
    creation("zeros-int", lambda m: m.zeros(2, dtype=m.int64)),
    creation("zeros-0d", lambda m: m.zeros(())),
    creation("zeros-empty", lambda m: m.zeros(0)),
    creation("zeros-empty-2d", lambda m: m.zeros(0, 3)),
    creation("zeros-requires-grad", lambda m: m.zeros(2, requires_grad=True)),
    creation("ones", lambda m: m.ones(3)),
    creation("ones-bool", lambda m: m.ones(2, dtype=m.bool)),
    creation("ones-double-requires-grad", lambda m: m.ones(2, dtype=m.float64,
                                                           requires_grad=True)),
    creation("full-float", lambda m: m.full((2, 2), 1.5)),
    creation("full-int", lambda m: m.full((2, 2), 7)),
    creation("full-bool", lambda m: m.full((2,), True)),
    creation("full-dtype", lambda m: m.full((2,), 7, dtype=m.float64)),
    creation("arange", lambda m: m.arange(5)),
    creation("arange-start-step", lambda m: m.arange(1, 7, 2)),
    creation("arange-float-step", lambda m: m.arange(0, 1, 0.1)),
    creation("arange-float-bounds", lambda m: m.arange(1.0, 4.0)),
    creation("arange-float-end", lambda m: m.arange(5.0)),
    creation("arange-negative-step", lambda m: m.arange(5, 0, -1)),
    creation("arange-negative-float-step", lambda m: m.arange(1, -1, -0.3)),
    creation("arange-dtype", lambda m: m.arange(5, dtype=m.float64)),
    creation("arange-long-float", lambda m: m.arange(-3.2, 10.7, 0.9), marks=RANGE_ROUNDING),
    creation("arange-empty", lambda m: m.arange(0)),
    creation("linspace", lambda m: m.linspace(0, 1, 5)),
    creation("linspace-one", lambda m: m.linspace(0, 1, 1)),
    creation("linspace-none", lambda m: m.linspace(0, 1, 0)),
    creation("linspace-int-dtype", lambda m: m.linspace(0, 10, 4, dtype=m.int64)),
    creation("linspace-ints", lambda m: m.linspace(-3, 7, 11)),
    creation("linspace-odd", lambda m: m.linspace(-1.3, 2.9, 7), marks=RANGE_ROUNDING),
    creation("linspace-odd-double", lambda m: m.linspace(-1.3, 2.9, 7, dtype=m.float64),
             marks=RANGE_ROUNDING),
    creation("linspace-many", lambda m: m.linspace(0, 1, 100), marks=RANGE_ROUNDING),
    creation("eye", lambda m: m.eye(3)),
    creation("eye-rectangular", lambda m: m.eye(2, 3)),
    creation("eye-int", lambda m: m.eye(2, dtype=m.int64)),
    creation("eye-bool", lambda m: m.eye(2, dtype=m.bool)),
    creation("zeros-like", lambda m: m.zeros_like(m.tensor([1, 2]))),
    creation("ones-like-double", lambda m: m.ones_like(m.tensor([1.0, 2.0], dtype=m.float64))),
    creation("full-like-int-float", lambda m: m.full_like(m.tensor([1, 2]), 2.7)),
    creation("full-like-float", lambda m: m.full_like(m.tensor([1.0, 2.0]), 3)),
    creation("to-long", lambda m: m.tensor([1.5, -2.5]).long()),
    creation("to-int", lambda m: m.tensor([-1.5, 2.5]).int()),
    creation("to-bool", lambda m: m.tensor([0.0, 2.5]).bool()),
    creation("to-double", lambda m: m.tensor([1, 2]).double()),
    creation("to-float", lambda m: m.tensor([1, 2], dtype=m.float64).float()),
    creation("to-dtype", lambda m: m.tensor([1, 2]).to(m.float64)),
    creation("sum-int32", lambda m: m.tensor([1, 2], dtype=m.int32).sum()),
    creation("sum-bool", lambda m: m.tensor([True, True]).sum()),
    creation("sum-dtype", lambda m: m.tensor([1.0, 2.0]).sum(dtype=m.float64)),
    creation("mean-double", lambda m: m.tensor([1.0, 2.0], dtype=m.float64).mean()),
    creation("max-int", lambda m: m.tensor([1, 5, 2]).max()),
    creation("argmax", lambda m: m.tensor([1, 5, 2]).argmax()),
    creation("sqrt-int", lambda m: m.tensor([1, 4]).sqrt()),
    creation("relu-int", lambda m: m.tensor([-1, 4]).relu()),
    creation("abs-int", lambda m: m.tensor([-1, 4]).abs()),
    creation("neg-int32", lambda m: -m.tensor([-1, 4], dtype=m.int32)),
    creation("clamp-int", lambda m: m.tensor([-1, 4]).clamp(0, 2)),
    creation("clamp-int-float-bounds", lambda m: m.tensor([-1, 4]).clamp(0.5, 2.5)),
    creation("clamp-float-int-bounds", lambda m: m.tensor([-1.0, 4.0]).clamp(0, 2)),
    creation("where-int-float", lambda m: m.where(m.tensor([True, False]), m.tensor([1, 4]), 2.5)),
    creation("where-int-int", lambda m: m.where(m.tensor([True, False]), m.tensor([1, 4]), 2)),
    creation("where-numbers", lambda m: m.where(m.tensor([True, False]), 1, 2)),
    creation("where-int-and-float-numbers", lambda m: m.where(m.tensor([True, False]), 1, 2.5)),
    creation("cat-bool-int32", lambda m: m.cat([m.tensor([True]), m.tensor([1, 2],
                                                                          dtype=m.int32)])),
    creation("cat-int-float", lambda m: m.cat([m.tensor([1, 2]), m.tensor([1.5])])),
    creation("stack-int-float", lambda m: m.stack([m.tensor([1, 2]), m.tensor([1.5, 3.0])])),
    creation("maximum-int-float", lambda m: m.maximum(m.tensor([1, 4]), m.tensor([2.0, 3.0]))),
    creation("matmul-int", lambda m: m.tensor([[1, 2]]) @ m.tensor([[3], [4]])),
    creation("div-ints", lambda m: m.tensor([1, 2]) / m.tensor([2, 4])),
    creation("floor-div", lambda m: m.tensor([1, 7]) // 2),
    creation("remainder", lambda m: m.tensor([-1, 7]) % 3),
    creation("remainder-float", lambda m: m.tensor([-1.5, 7.0]) % 3),
    creation("and", lambda m: m.tensor([True, False]) & m.tensor([True, True])),
    creation("invert", lambda m: ~m.tensor([True, False])),
    creation("eq-int-float", lambda m: m.tensor([1, 2]) == 2.0),
    creation("lt-int-float", lambda m: m.tensor([1, 2]) < m.tensor([1.5, 1.5])),
    creation("numpy-float64-among-python-numbers",
             lambda m: m.tensor([0.5, 3, np.float64(2.5)])),
    creation("numpy-half-among-ints", lambda m: m.tensor([np.float16(0.25), 1])),
    creation("numpy-int8-among-bools", lambda m: m.tensor([True, np.int8(-3)])),
    creation("empty-rows-skip-every-check", lambda m: m.tensor(((), [1, [2, 3]], [1, 2, 3]))),
    creation("empty-inner-list-counts-as-float", lambda m: m.tensor([[1, 2], []][1:])),
    creation("minus-one-into-uint8-wraps", lambda m: m.tensor([-1, 3], dtype=m.uint8)),
    creation("float-into-int-truncates", lambda m: m.tensor([2.7, -1.5], dtype=m.int64)),
    creation("empty-array-keeps-its-shape", lambda m: m.tensor(np.zeros((0, 2)))),
    creation("new_zeros", lambda m: m.ones(2, 3, dtype=m.float64).new_zeros(2)),
    creation("new_ones-tuple", lambda m: m.ones(2, dtype=m.int32).new_ones((2, 2))),
    creation("new_full", lambda m: m.ones(2, dtype=m.int64).new_full((3,), 7)),
    creation("new_zeros-dtype", lambda m: m.ones(2).new_zeros(2, dtype=m.int32)),
    creation("new_ones-requires-grad", lambda m: m.ones(2).new_ones(3, requires_grad=True)),
    creation("isinf", lambda m: m.tensor([1.0, float("inf"), -float("inf"), float("nan")]).isinf()),
    creation("isinf-of-ints", lambda m: m.isinf(m.tensor([1, 2]))),
    creation("masked_fill-int-tensor-float-value",
             lambda m: m.ones(3, dtype=m.int64).masked_fill(m.tensor([True, False, True]), 2.7)),
]


@pytest.mark.parametrize("fn", CREATIONS)
def test_created_tensor_matches_torch(fn):
    with warnings.catch_warnings(record=True) as warned_ours:
        warnings.simplefilter("always")
        ours = fn(vg)
    with warnings.catch_warnings(record=True) as warned_theirs:
        warnings.simplefilter("always")
        theirs = fn(torch)
    assert [str(w.message) for w in warned_ours] == [str(w.message) for w in warned_theirs]
    assert repr(ours.dtype) == repr(theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.requires_grad == theirs.requires_grad
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    assert repr(ours) == repr(theirs)
    assert str(ours) == str(theirs)


@pytest.mark.parametrize("fn", [
    creation("exp-int", lambda m: m.tensor([1, 2]).exp()),
    creation("sigmoid-int", lambda m: m.tensor([1, 4]).sigmoid()),
    creation("log-int", lambda m: m.tensor([1, 4]).log()),
    creation("div-int-by-number", lambda m: m.tensor([1, 2]) / 3),
    creation("softmax-bool-as-float", lambda m: m.tensor([True, False]).float().softmax(0)),
])
def test_computed_float_from_ints_matches_torch(fn):
    """ints become float32 first; the values then agree to float32 precision (numpy's exp and
    torch's may differ in the last bit)."""
    ours, theirs = fn(vg), fn(torch)
    assert repr(ours.dtype) == repr(theirs.dtype)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert repr(ours) == repr(theirs)


def test_dtype_and_size_objects_print_like_torch():
    for name in ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32",
                 "float64"]:
        assert repr(getattr(vg, name)) == repr(getattr(torch, name))
        assert str(getattr(vg, name)) == str(getattr(torch, name))
    for alias in ["float", "double", "half", "long", "int"]:
        assert repr(getattr(vg, alias)) == repr(getattr(torch, alias))
    assert repr(vg.zeros(2, 3).shape) == repr(torch.zeros(2, 3).shape)
    assert repr(vg.zeros(()).shape) == repr(torch.zeros(()).shape)
    assert vg.zeros(2, 3).size(-1) == torch.zeros(2, 3).size(-1)
    assert vg.ones(2, dtype=vg.float64).is_floating_point()
    assert not vg.ones(2, dtype=vg.int64).is_floating_point()
    assert vg.ones(2, 3).type() == torch.ones(2, 3).type()
    assert vg.ones(2, dtype=vg.int32).type() == torch.ones(2, dtype=torch.int32).type()


# ---- gradients across a promotion ----------------------------------------------------------

def mixed(name, fn, dtypes, marks=()):
    return pytest.param(fn, dtypes, id=name, marks=marks)


@pytest.mark.parametrize(("fn", "dtypes"), [
    mixed("float32-times-0d-float64", lambda m, a, b: a * b, ("float32", "float64-0d")),
    mixed("float64-times-0d-float32", lambda m, a, b: a * b, ("float64", "float32-0d")),
    mixed("float64-plus-float64", lambda m, a, b: a + b, ("float64", "float64")),
    mixed("float32-plus-float64", lambda m, a, b: a + b, ("float32", "float64")),
    mixed("float64-times-float32", lambda m, a, b: a * b, ("float64", "float32")),
    mixed("where-float32-float64", lambda m, a, b: m.where(a > 0, a, b), ("float32", "float64")),
    mixed("cat-float32-float64", lambda m, a, b: m.cat([a, b]), ("float32", "float64")),
    mixed("to-double-and-back", lambda m, a, b: (a.double() * b).float(), ("float32", "float64")),
])
def test_gradients_across_dtypes_match_torch(fn, dtypes):
    inputs = []
    for k, spec in enumerate(dtypes):
        name, _, zero = spec.partition("-")
        (t,) = make_inputs([leaf() if zero else leaf(3)], name, seed=k)
        inputs.append(t)
    check_program(fn, *inputs)


# ---- numbers beyond a dtype --------------------------------------------------------------------

def _strict_result(fn):
    """(dtype, bits) or (exception type, message); a numpy warning (RuntimeWarning) fails the
    test: torch gives none for these."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's "To copy construct..."
            warnings.simplefilter("error", RuntimeWarning)
            out = fn()
        data = out.detach().numpy()
        return str(data.dtype), data.tobytes()
    except Exception as e:  # noqa: BLE001 - the error is the result
        return type(e).__name__, str(e)


BEYOND = {
    "to_half": lambda lib: lib.tensor([3e38, -1e10, 2.0]).to(lib.float16),
    "half_method": lambda lib: lib.tensor(1e6).half(),
    "literal_half": lambda lib: lib.tensor([3e38, 1e-45], dtype=lib.float16),
    "literal_float": lambda lib: lib.tensor([1e300, -1e300], dtype=lib.float32),
    "copied_tensor_half": lambda lib: lib.tensor(lib.tensor([3e38]).detach(), dtype=lib.float16),
    "nan_to_int": lambda lib: lib.tensor([float("nan"), 1.5]).to(lib.int64),
    "where_number": lambda lib: lib.where(lib.tensor([True, False]),
                                          lib.zeros(2, dtype=lib.float16), 1e10),
    "fill_half": lambda lib: lib.zeros(2, dtype=lib.float16).fill_(1e10),
    "fill_half_max": lambda lib: lib.zeros(2, dtype=lib.float16).fill_(65504.0),
    "fill_half_beyond_max": lambda lib: lib.zeros(2, dtype=lib.float16).fill_(65519.0),
    "fill_half_inf": lambda lib: lib.zeros(2, dtype=lib.float16).fill_(float("-inf")),
    "fill_half_nan": lambda lib: lib.zeros(2, dtype=lib.float16).fill_(float("nan")),
    "fill_float": lambda lib: lib.zeros(2).fill_(1e300),
    "full_half": lambda lib: lib.full((2,), 3e38, dtype=lib.float16),
    "full_float": lambda lib: lib.full((2,), -1e300),
    "full_float_inf": lambda lib: lib.full((2,), float("inf")),
    "new_full_half": lambda lib: lib.zeros(2, dtype=lib.float16).new_full((2,), 1e10),
    "clamp_half": lambda lib: lib.zeros(2, dtype=lib.float16).clamp(max=1e10),
    "clamp_float": lambda lib: lib.zeros(2).clamp(min=-1e300),
    "masked_fill_half": lambda lib: lib.zeros(2, dtype=lib.float16).masked_fill(
        lib.tensor([True, False]), 1e10),
    "half_times_number": lambda lib: lib.zeros(2, dtype=lib.float16) * 1e10,
    "half_plus_number": lambda lib: lib.zeros(2, dtype=lib.float16) + 1e10,
}


@pytest.mark.parametrize("name", sorted(BEYOND))
def test_numbers_beyond_a_dtype_as_torch_takes_them(name):
    # casts are silent (inf, or what C gives), a number written into a float dtype beyond its
    # largest finite value is refused, arithmetic overflows to inf
    assert _strict_result(lambda: BEYOND[name](vg)) == _strict_result(lambda: BEYOND[name](torch))


HALF_WITH_NUMBERS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "rsub": lambda a, b: b - a, "rtruediv": lambda a, b: b / a, "floordiv": operator.floordiv,
    "div_floor": lambda a, b: a.div(b, rounding_mode="floor"),
    "div_trunc": lambda a, b: a.div(b, rounding_mode="trunc"),
}


@pytest.mark.parametrize("op", sorted(HALF_WITH_NUMBERS))
def test_half_arithmetic_with_numbers_rounds_as_torch(op):
    # torch: mul, div and floor division compute in float32 with the number as a float32 and
    # round once; add and sub round the number to half first (numpy's way)
    fn = HALF_WITH_NUMBERS[op]
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.standard_normal(200) * 10, rng.standard_normal(50) * 1e4,
                             [0.0, -0.0, 65504, np.inf, -np.inf, np.nan]]).astype(np.float16)
    numbers = [float(v) for v in rng.standard_normal(40) * 10] + [0.1, 1 / 3, 3e38, -3e38, 7e4]
    for number in numbers:
        ours = fn(vg.tensor(values), number).numpy()
        theirs = fn(torch.from_numpy(values), number).numpy()
        assert ours.dtype == theirs.dtype
        nan = np.isnan(theirs)  # a nan's sign and payload are numpy's (floor of nan)
        assert np.array_equal(np.isnan(ours), nan), number
        assert ours[~nan].tobytes() == theirs[~nan].tobytes(), number


REDUCTIONS = [("sum", {}), ("sum", {"dim": 0}), ("sum", {"dim": 1, "keepdim": True}),
              ("mean", {}), ("mean", {"dim": 0}), ("mean", {"dim": (0, 1), "keepdim": True}),
              ("mean", {"dim": 1, "dtype": "float16"}), ("sum", {"dtype": "float16"})]


@pytest.mark.parametrize("source,name,kwargs",
                         [("float16", n, k) for n, k in REDUCTIONS] +
                         [(s, n, k) for s in ("float32", "float64") for n, k in REDUCTIONS
                          if "dtype" in k], ids=str)
def test_half_sums_and_means_add_up_in_float32_as_torch(source, name, kwargs):
    """Columns of halves, and one big half sum: numpy's half adds would round every partial
    sum; torch adds in float32 and rounds once. A sum asked for in half casts its input to
    half first; a mean does not. Bit for bit, warning-free."""
    data = np.random.default_rng(8).standard_normal((64, 300)).astype(source)
    theirs = getattr(torch.tensor(data), name)(
        **{k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = getattr(vg.tensor(data), name)(
            **{k: getattr(vg, v) if k == "dtype" else v for k, v in kwargs.items()})
    assert str(ours.dtype) == str(theirs.dtype) and ours.shape == tuple(theirs.shape)
    assert ours.numpy().tobytes() == theirs.numpy().tobytes()


@pytest.mark.parametrize("dtype,value", [("float16", 60000.0), ("float32", 3e38),
                                         ("float64", 1.7e308)])
@pytest.mark.parametrize("name,kwargs", [("sum", {}), ("mean", {}), ("sum", {"dim": 0}),
                                         ("mean", {"dim": 0})])
def test_sums_beyond_the_dtype_are_infinite_silently_and_means_are_not(dtype, value, name,
                                                                        kwargs):
    """Two numbers near the top of their dtype: their sum overflows to inf without a warning,
    as in torch; a half mean accumulated in float32 stays finite, as in torch."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = getattr(vg.tensor([value, value], dtype=getattr(vg, dtype)), name)(**kwargs)
    theirs = getattr(torch.tensor([value, value], dtype=getattr(torch, dtype)), name)(**kwargs)
    assert ours.numpy().tobytes() == theirs.numpy().tobytes(), (ours, theirs)


BROADCAST_GRADIENTS = {
    "bias_add": ((512, 8), (8,), lambda a, b: a + b),
    "scale_mul": ((512, 8), (8,), lambda a, b: a * b),
    "row_div": ((512, 8), (8,), lambda a, b: a / b),
    "column_sub": ((8, 512), (8, 1), lambda a, b: a - b),
    "expand": ((1, 8), None, lambda a, b: a.expand(512, 8)),
}


@pytest.mark.parametrize("name", BROADCAST_GRADIENTS)
@pytest.mark.parametrize("create_graph", [False, True])
def test_half_gradients_summed_over_a_broadcast_add_up_in_float32_as_torch(name, create_graph):
    """A broadcast operand's gradient is the incoming gradient summed over the broadcast dims
    (a bias's gradient over the batch); in half, torch adds in float32 and rounds once, where
    numpy's half sum rounds each partial sum (8 of 8 bias elements differed). Bit for bit."""
    first, second, fn = BROADCAST_GRADIENTS[name]
    rng = np.random.default_rng(3)
    arrays = [(rng.standard_normal(s) * 2).astype(np.float16) for s in (first, second) if s]
    grads = {}
    for lib in (torch, vg):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*leaves, *([None] * (2 - len(leaves))))
        incoming = np.random.default_rng(4).standard_normal(tuple(out.shape)).astype(np.float16)
        with warnings.catch_warnings():  # torch's note on create_graph's reference cycle
            warnings.simplefilter("ignore", UserWarning)
            out.backward(lib.tensor(incoming), create_graph=create_graph)
        grads[lib] = [t.grad.detach().numpy() for t in leaves]
    for ours, theirs in zip(grads[vg], grads[torch]):
        assert ours.dtype == theirs.dtype == np.float16
        assert ours.tobytes() == theirs.tobytes(), (ours, theirs)


HALF_KERNELS = {
    "tanh": lambda t: t.tanh(),
    "sigmoid": lambda t: t.sigmoid(),
    "log_softmax_last": lambda t: t.log_softmax(-1),
    "log_softmax_rows_of_300": lambda t: t.transpose(0, 1).log_softmax(1),
    "log_softmax_first": lambda t: t.log_softmax(0),
}


def _half_ulps(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """How many half-precision steps apart two arrays are, element by element."""
    def ordered(a):
        bits = a.astype(np.float16).view(np.int16).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFF), bits)
    return np.abs(ordered(ours) - ordered(theirs))


@pytest.mark.parametrize("name", HALF_KERNELS)
def test_half_activations_and_log_softmax_and_their_gradients_round_as_torch(name):
    """torch computes these half kernels in float32 with its own roundings: tanh's gradient
    rounds once (numpy's half arithmetic rounded three times: up to 14 steps off), and
    log_softmax along the last dim keeps the sum of exponentials and its log in half (7
    steps off, and 28 in its gradient, when computed in float32 throughout). What is left is
    a near tie now and then, where float32's exp differs from torch's in its last bit: one
    step, in under 1% of the elements."""
    fn = HALF_KERNELS[name]
    data = (np.random.default_rng(12).standard_normal((300, 8)) * 2).astype(np.float16)
    incoming = None
    results = {}
    for lib in (torch, vg):
        x = lib.tensor(data, requires_grad=True)
        out = fn(x)
        if incoming is None:
            incoming = np.random.default_rng(13).standard_normal(tuple(out.shape))
        out.backward(lib.tensor(incoming.astype(np.float16)))
        results[lib] = (out.detach().numpy(), x.grad.numpy())
    for ours, theirs in zip(results[vg], results[torch]):
        assert ours.dtype == theirs.dtype == np.float16
        steps = _half_ulps(ours, theirs)
        assert steps.max() <= 1 and (steps > 0).mean() < 0.01, (steps.max(), (steps > 0).sum())
