"""Differential tests: visgrad's tensor printing against PyTorch's own repr."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from visgrad.engine.printing import get_printoptions, set_printoptions, tensor_repr

DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


@pytest.fixture(autouse=True)
def default_printoptions():
    """Each test starts and ends with default options, in visgrad and in torch."""
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    yield
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def ours(t: torch.Tensor, **kwargs) -> str:
    """visgrad's text for what torch holds in ``t`` (same values, dtype and flags)."""
    return tensor_repr(
        t.detach().numpy(),
        dtype_name=dtype_name(t),
        device="cpu",
        requires_grad=t.requires_grad,
        grad_fn_name=None if t.grad_fn is None else type(t.grad_fn).__name__,
        **kwargs,
    )


def assert_same(t: torch.Tensor) -> None:
    assert ours(t) == repr(t)


def both_set(**options) -> None:
    set_printoptions(**options)
    torch.set_printoptions(**options)


# --------------------------------------------------------------------------- exact texts


def test_known_texts():
    assert ours(torch.tensor([6.6667, 9.3333, 12.0])) == "tensor([ 6.6667,  9.3333, 12.0000])"
    mean = torch.tensor([31.0, 72.3333, 51.6667], requires_grad=True).mean()
    assert ours(mean) == "tensor(51.6667, grad_fn=<MeanBackward0>)"
    assert ours(torch.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    assert ours(torch.tensor([1e-5, 1.0])) == "tensor([1.0000e-05, 1.0000e+00])"
    assert ours(torch.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert ours(torch.zeros(0, dtype=torch.int64)) == "tensor([], dtype=torch.int64)"


def test_grad_fn_wins_over_requires_grad():
    text = tensor_repr(
        np.ones(2, np.float32), "float32", requires_grad=True, grad_fn_name="MulBackward0"
    )
    assert text == "tensor([1., 1.], grad_fn=<MulBackward0>)"


def test_device_suffix_comes_first():
    # The torch here is CPU-only; the expected text follows torch's suffix order and wrapping.
    values = np.array([1.0, 2.0])
    assert tensor_repr(values, "float64", device="cuda:0", requires_grad=True) == (
        "tensor([1., 2.], device='cuda:0', dtype=torch.float64, requires_grad=True)"
    )
    assert tensor_repr(np.ones(2, np.float32), "float32", device="cuda:0") == (
        "tensor([1., 1.], device='cuda:0')"
    )
    assert tensor_repr(np.zeros((0, 2), np.int64), "int64", device="cuda:1") == (
        "tensor([], device='cuda:1', size=(0, 2), dtype=torch.int64)"
    )
    long = tensor_repr(np.full(4, 1234.5), "float64", device="cuda:0", grad_fn_name="MulBackward0")
    assert long == (
        "tensor([1234.5000, 1234.5000, 1234.5000, 1234.5000], device='cuda:0',\n"
        "       dtype=torch.float64, grad_fn=<MulBackward0>)"
    )


# --------------------------------------------------------------------------- against torch

HAND_PICKED = {
    "thirds": lambda: torch.tensor([6.6667, 9.3333, 12.0]),
    "scalar": lambda: torch.tensor(51.6667),
    "scalar int": lambda: torch.tensor(7),
    "scalar bool": lambda: torch.tensor(True),
    "scalar nan": lambda: torch.tensor(float("nan")),
    "scalar -0": lambda: torch.tensor(-0.0),
    "scalar tiny": lambda: torch.tensor(1e-7),
    "scalar float64": lambda: torch.tensor(2.5, dtype=torch.float64),
    "integer floats": lambda: torch.tensor([1.0, -2.0, 30.0]),
    "zeros": lambda: torch.zeros(4),
    "negative zero": lambda: torch.tensor([-0.0, 0.0, 1.0]),
    "negative zero fractional": lambda: torch.tensor([-0.0, 0.5]),
    "negatives": lambda: torch.tensor([-1.5, 2.25, -300.125]),
    "nan inf": lambda: torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0]),
    "nan inf fractional": lambda: torch.tensor([float("nan"), float("inf"), 1.5]),
    "only nonfinite": lambda: torch.tensor([float("nan"), float("inf")]),
    "sci tiny": lambda: torch.tensor([1e-5, 1.0, 2.0]),
    "sci huge": lambda: torch.tensor([1e9, 1.0]),
    "sci ratio": lambda: torch.tensor([0.001, 1.5]),
    "sci integer huge": lambda: torch.tensor([1e10, 3.0]),
    "hundred million": lambda: torch.tensor([1e8, 5e7]),
    "just over hundred million": lambda: torch.tensor([100000008.0, 5e7]),
    "rounding to wider": lambda: torch.tensor([9.99996, 1.0]),
    "float64 suffix": lambda: torch.tensor([1.5, 2.0], dtype=torch.float64),
    "float16 suffix": lambda: torch.tensor([1.5, 2.0, 60000.0], dtype=torch.float16),
    "int64": lambda: torch.tensor([1, -20, 300]),
    "int32": lambda: torch.tensor([1, -20, 300], dtype=torch.int32),
    "int16": lambda: torch.arange(-5, 5, dtype=torch.int16),
    "int8": lambda: torch.tensor([-128, 127], dtype=torch.int8),
    "uint8": lambda: torch.tensor([0, 255], dtype=torch.uint8),
    "bool": lambda: torch.tensor([True, False, True]),
    "bool 2d": lambda: torch.tensor([[True], [False]]),
    "empty": lambda: torch.tensor([]),
    "empty 2d": lambda: torch.zeros(0, 3),
    "empty 3d": lambda: torch.zeros(2, 0, 3),
    "empty int": lambda: torch.zeros(0, dtype=torch.int64),
    "empty int32 2d": lambda: torch.zeros(3, 0, dtype=torch.int32),
    "empty bool": lambda: torch.zeros(0, dtype=torch.bool),
    "empty float64": lambda: torch.zeros(0, dtype=torch.float64),
    "2d": lambda: torch.arange(12.0).reshape(3, 4) / 7,
    "3d": lambda: torch.arange(24.0).reshape(2, 3, 4) - 11.5,
    "4d": lambda: torch.arange(16).reshape(2, 2, 2, 2),
    "wrap 1d": lambda: torch.arange(40.0) / 3,
    "wrap 2d": lambda: torch.arange(60.0).reshape(3, 20) * 1.25,
    "wrap int": lambda: torch.arange(100) * 1000,
    "wrap sci": lambda: torch.logspace(-10, 10, 30),
    "large 1d": lambda: torch.arange(5000.0),
    "large 2d": lambda: torch.arange(2000.0).reshape(40, 50) / 3,
    "large 3d": lambda: torch.arange(3000).reshape(10, 15, 20),
    "large short rows": lambda: torch.arange(2002.0).reshape(1001, 2),
    "just over threshold": lambda: torch.arange(1001.0),
    "at threshold": lambda: torch.arange(1000.0),
    "large bool": lambda: torch.arange(1500) % 3 == 0,
    "summary decides width": lambda: torch.cat(
        [torch.ones(3), torch.full((1000,), 12345.5), torch.ones(3)]
    ),
    "summary hides wide middle": lambda: torch.ones(7, 200).index_fill_(
        0, torch.tensor([3]), 12345.5
    ),
    "grad_fn": lambda: torch.tensor([1.0, 2.0], requires_grad=True) * 3,
    "requires_grad": lambda: torch.ones(2, requires_grad=True),
    "requires_grad float64": lambda: torch.ones(2, dtype=torch.float64, requires_grad=True),
    "mean": lambda: torch.tensor([31.0, 72.3333, 51.6667], requires_grad=True).mean(),
    "suffix wraps": lambda: torch.full((4,), 1234.5, dtype=torch.float64, requires_grad=True) * 1,
    "suffix wraps after 2d": lambda: torch.full(
        (2, 6), 123.25, dtype=torch.float64, requires_grad=True
    ) + 0,
    "long grad_fn line": lambda: torch.full((7,), 1.5, requires_grad=True) * 1,
}


@pytest.mark.parametrize("name", sorted(HAND_PICKED))
def test_hand_picked_against_torch(name):
    assert_same(HAND_PICKED[name]())


OPTION_SETS = [
    {"precision": 2},
    {"precision": 0},
    {"precision": 8},
    {"sci_mode": True},
    {"sci_mode": False},
    {"linewidth": 30},
    {"linewidth": 5},
    {"threshold": 10},
    {"threshold": 10, "edgeitems": 1},
    {"threshold": 10, "edgeitems": 0},
    {"edgeitems": 0},
    {"profile": "short"},
    {"profile": "full"},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=repr)
@pytest.mark.parametrize(
    "name", ["thirds", "scalar", "sci tiny", "3d", "large 2d", "large 3d", "wrap int", "empty 2d",
             "bool", "suffix wraps", "nan inf", "large 1d"]
)
def test_options_against_torch(options, name):
    both_set(**options)
    assert_same(HAND_PICKED[name]())


def test_parameter_and_custom_prefix():
    param = torch.nn.Parameter(torch.arange(30.0).reshape(3, 10) / 4)
    assert "Parameter containing:\n" + ours(param) == repr(param)

    class Foo(torch.Tensor):
        pass

    sub = (torch.arange(30.0).reshape(3, 10) * 1.5).as_subclass(Foo)
    assert ours(sub, prefix="Foo(") == repr(sub)
    # An explicit indent overrides len(prefix) for continuation lines.
    plain = repr(sub.as_subclass(torch.Tensor))
    assert ours(sub, prefix="Foo(", indent=len("tensor(")) == plain.replace("tensor(", "Foo(")


# --------------------------------------------------------------------------- options


def test_get_printoptions_defaults():
    assert get_printoptions() == DEFAULTS


def test_printoptions_round_trip():
    set_printoptions(precision=6, threshold=50, edgeitems=2, linewidth=120, sci_mode=True)
    saved = get_printoptions()
    assert saved == {
        "precision": 6, "threshold": 50, "edgeitems": 2, "linewidth": 120, "sci_mode": True
    }
    set_printoptions(profile="default")
    assert get_printoptions() == DEFAULTS
    set_printoptions(**saved)
    assert get_printoptions() == saved
    saved["precision"] = 1  # a copy, not the live state
    assert get_printoptions()["precision"] == 6


@pytest.mark.parametrize("profile", ["default", "short", "full"])
def test_profiles_match_torch(profile):
    set_printoptions(precision=9, threshold=7, edgeitems=5, linewidth=33, sci_mode=False)
    torch.set_printoptions(precision=9, threshold=7, edgeitems=5, linewidth=33, sci_mode=False)
    both_set(profile=profile)
    assert get_printoptions() == vars(torch._tensor_str.PRINT_OPTS)
    assert get_printoptions()["sci_mode"] is None


def test_full_profile_threshold_is_infinite_and_explicit_options_override_profile():
    set_printoptions(profile="full", precision=2)
    options = get_printoptions()
    assert math.isinf(options["threshold"]) and options["precision"] == 2
    set_printoptions(profile="no such profile")
    assert get_printoptions() == options


def test_sci_mode_is_reset_when_not_given():
    set_printoptions(sci_mode=True)
    set_printoptions(precision=3)
    assert get_printoptions()["sci_mode"] is None


# --------------------------------------------------------------------------- random arrays

FLOAT_DTYPES = [np.float32, np.float64, np.float16]
INT_DTYPES = [np.int64, np.int32, np.int16, np.int8, np.uint8]


@st.composite
def seeded_arrays(draw):
    """Arrays of any size (up to summarised ones) built from a seed and a few knobs."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES + INT_DTYPES + [np.bool_]))
    shape = tuple(draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=30)))
    if draw(st.booleans()) and shape:  # sometimes large enough to be summarised
        shape = (draw(st.integers(35, 1200)),) + shape[1:]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = math.prod(shape)
    if dtype is np.bool_:
        return rng.random(size).reshape(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        high = draw(st.sampled_from([2, 10, 1000, int(info.max)]))
        low = max(int(info.min), -high)
        return rng.integers(low, high, size=size, endpoint=True).astype(dtype).reshape(shape)
    exponent = draw(st.integers(-12, 12))
    kind = draw(st.sampled_from(["normal", "integers", "wide", "halves"]))
    if kind == "normal":
        values = rng.standard_normal(size) * 10.0**exponent
    elif kind == "integers":
        values = rng.integers(-1000, 1000, size=size).astype(np.float64)
    elif kind == "wide":
        spread = abs(exponent)
        values = rng.standard_normal(size) * 10.0 ** rng.uniform(-spread, spread, size)
    else:
        values = rng.integers(-40, 40, size=size) / 2.0
    if size and draw(st.booleans()):
        specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
        where = rng.random(size) < 0.2
        values[where] = rng.choice(specials, size=int(where.sum()))
    with np.errstate(over="ignore"):
        return values.astype(dtype).reshape(shape)


small_float_arrays = hnp.arrays(
    dtype=st.sampled_from(FLOAT_DTYPES),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    elements={"allow_nan": True, "allow_infinity": True, "allow_subnormal": True},
)


def flagged(array: np.ndarray, flag: str) -> torch.Tensor:
    t = torch.from_numpy(np.array(array))  # a 0-d result may be a numpy scalar
    if flag == "plain" or array.dtype.kind != "f":
        return t
    t.requires_grad_(True)
    return t if flag == "requires_grad" else t * 1  # MulBackward0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(array=seeded_arrays(), flag=st.sampled_from(["plain", "requires_grad", "grad_fn"]))
def test_random_arrays_against_torch(array, flag):
    assert_same(flagged(array, flag))


@settings(max_examples=100, deadline=None)
@given(array=small_float_arrays, flag=st.sampled_from(["plain", "requires_grad", "grad_fn"]))
def test_random_small_floats_against_torch(array, flag):
    assert_same(flagged(array, flag))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    array=seeded_arrays(),
    precision=st.integers(0, 8),
    threshold=st.integers(0, 300),
    edgeitems=st.integers(0, 4),
    linewidth=st.integers(1, 120),
    sci_mode=st.sampled_from([None, True, False]),
)
def test_random_options_against_torch(array, precision, threshold, edgeitems, linewidth, sci_mode):
    options = dict(precision=precision, threshold=threshold, edgeitems=edgeitems,
                   linewidth=linewidth, sci_mode=sci_mode)
    both_set(**options)
    try:
        assert_same(torch.from_numpy(np.array(array)))
    finally:
        both_set(profile="default")
