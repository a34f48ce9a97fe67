"""Random sweeps of ops over every dtype, Python numbers and empty shapes, against torch.

Each example runs one op in both libraries and compares what a user sees: the result's dtype,
shape and values, or the error's type and message. The op tables elsewhere check chosen
cases in depth; these sweeps look for the corners nobody listed (bools, empty tensors,
Python bools as operands). About 15,000 examples were run once by hand; CI runs 600.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import visgrad as vg

DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]
SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1), (0,), (2, 0)]

UNARY = {
    "exp": lambda m, t: m.exp(t), "log": lambda m, t: m.log(t), "sqrt": lambda m, t: m.sqrt(t),
    "sin": lambda m, t: m.sin(t), "tanh": lambda m, t: m.tanh(t),
    "sigmoid": lambda m, t: m.sigmoid(t), "relu": lambda m, t: m.relu(t),
    "abs": lambda m, t: m.abs(t), "neg": lambda m, t: m.neg(t), "sign": lambda m, t: t.sign(),
    "sum": lambda m, t: t.sum(), "sum-0": lambda m, t: t.sum(0), "mean": lambda m, t: t.mean(),
    "max": lambda m, t: t.max(), "min-0": lambda m, t: t.min(0),
    "argmax": lambda m, t: t.argmax(), "argmin-0": lambda m, t: t.argmin(0),
    "softmax": lambda m, t: m.softmax(t, 0), "log-softmax": lambda m, t: m.log_softmax(t, -1),
    "square": lambda m, t: t * t, "rsub": lambda m, t: 1 - t, "half": lambda m, t: t / 2,
    "floordiv": lambda m, t: t // 2, "mod": lambda m, t: t % 2, "invert": lambda m, t: ~t,
    "plus": lambda m, t: +t, "float": lambda m, t: t.float(), "long": lambda m, t: t.long(),
    "bool": lambda m, t: t.bool(),
    "clamp-min": lambda m, t: t.clamp(min=0), "where": lambda m, t: m.where(t > 0, t, 0),
}
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "lt", "eq", "ge", "ne",
          "clamp"]
NUMBERS = {"int": 2, "negative-int": -2, "float": 0.5, "true": True, "false": False}


def _array(dtype: str, shape: tuple, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        values = rng.random(shape) > 0.5
    elif dtype.startswith(("int", "uint")):
        values = rng.integers(0 if dtype.startswith("u") else -3, 4, size=shape)
    else:
        values = rng.uniform(-2, 2, size=shape)
    return np.asarray(values).astype(dtype)


def _seen(run):
    """What a user sees of ``run()``: dtype, shape and values, or the error."""
    try:
        result = run()
    except (RuntimeError, TypeError, IndexError, ValueError, NotImplementedError) as exc:
        return ("error", type(exc).__name__, str(exc).split("\n")[0])
    if not hasattr(result, "dtype"):  # (values, indices)
        result = result[0]
    return ("ok", str(result.dtype).removeprefix("torch."), tuple(result.shape),
            np.asarray(result.tolist(), dtype=np.float64))


def _assert_same(ours, theirs):
    assert ours[:3] == theirs[:3]
    if ours[0] == "ok":
        np.testing.assert_allclose(ours[3], theirs[3], rtol=2e-3, atol=2e-3)


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples every run
@given(op=st.sampled_from(sorted(UNARY)), dtype=st.sampled_from(DTYPES),
       shape=st.sampled_from(SHAPES), seed=st.integers(0, 2**20))
def test_unary_ops_over_dtypes_and_empty_shapes_match_torch(op, dtype, shape, seed):
    data = _array(dtype, shape, seed)
    _assert_same(_seen(lambda: UNARY[op](vg, vg.tensor(data))),
                 _seen(lambda: UNARY[op](torch, torch.tensor(data))))


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples every run
@given(op=st.sampled_from(BINARY), dtypes=st.tuples(*[st.sampled_from(DTYPES)] * 2),
       shapes=st.tuples(*[st.sampled_from(SHAPES[:5])] * 2),
       number=st.sampled_from([None, *sorted(NUMBERS)]), number_first=st.booleans(),
       seed=st.integers(0, 2**20))
def test_binary_ops_over_dtypes_and_numbers_match_torch(op, dtypes, shapes, number,
                                                        number_first, seed):
    """Tensor (op) tensor, or tensor (op) a Python number on either side where torch takes
    one (visgrad's functions also take a number where torch's want a tensor)."""
    arrays = [_array(dtype, shape, seed + k) for k, (dtype, shape) in
              enumerate(zip(dtypes, shapes))]

    def run(lib):
        a, b = (lib.tensor(x) for x in arrays)
        if number is not None:
            b = NUMBERS[number]
            if number_first:
                a, b = b, a
        if op == "clamp":
            return a.clamp(min=b) if isinstance(a, lib.Tensor) else lib.tensor(1.0).clamp(a)
        return getattr(lib, op)(a, b)

    theirs = _seen(lambda: run(torch))
    if theirs[0] == "error" and number is not None and (
            "must be Tensor" in theirs[2] or "invalid combination of arguments" in theirs[2]):
        return  # torch's functional form wants a tensor there; visgrad takes the number
    _assert_same(_seen(lambda: run(vg)), theirs)


# ---- reductions with dims, found by a sweep over dims, keepdim, dtypes and non-finite values ----

def _bits(values) -> bytes:
    """The float64 bits, every nan made one nan (its sign bit is an accident of the kernel)."""
    a = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(a), np.nan, a).tobytes()


def _reduced(m, program):
    x = m.tensor(program[0], requires_grad=program[0].dtype.kind == "f")
    try:
        y = program[1](m, x)
    except (RuntimeError, IndexError) as exc:
        return ("error", type(exc).__name__, str(exc))
    seen = ("ok", str(y.dtype).removeprefix("torch."), tuple(y.shape),
            _bits(y.tolist()))
    if y.requires_grad:
        y.sum().backward()
        seen += (_bits(x.grad.tolist()),)
    return seen


@pytest.mark.parametrize("program", [
    (np.array([[3, 1], [0, 5]]), lambda m, x: x.argmax(keepdim=True)),
    (np.array([[3, 1], [0, 5]], dtype=np.uint8), lambda m, x: x.argmin(keepdim=True)),
    (np.array([2.0, 7.0, 1.0]), lambda m, x: x.argmax(keepdim=False)),
    (np.array(float("nan"), dtype=np.float32), lambda m, x: m.softmax(x, 0)),
    (np.array(float("inf"), dtype=np.float32), lambda m, x: m.log_softmax(x, -1)),
    (np.array(2.5, dtype=np.float64), lambda m, x: m.softmax(x, 0)),
    (np.array(-1.5, dtype=np.float32), lambda m, x: m.log_softmax(x, 0)),
], ids=["argmax-keepdim-all", "argmin-keepdim-all-uint8", "argmax-all", "softmax-0d-nan",
        "log-softmax-0d-inf", "softmax-0d", "log-softmax-0d"])
def test_reductions_at_the_edges_match_torch(program):
    assert _reduced(vg, program) == _reduced(torch, program)


def test_half_softmax_is_computed_in_float32_as_torch_does():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((40, 6, 5)) * 2).astype(np.float16)
    g = rng.standard_normal((40, 6, 5)).astype(np.float16)
    results = {}
    for m in (torch, vg):
        t = m.tensor(x, requires_grad=True)
        y = m.softmax(t, -1)
        y.backward(m.tensor(g))
        results[m.__name__] = (y.detach().numpy(), t.grad.numpy())
    (ours, our_grad), (theirs, their_grad) = results["visgrad"], results["torch"]
    # torch's last-dim kernel: exp and sums in float32, rounded once; so is its backward
    assert ours.tobytes() == theirs.tobytes() and our_grad.tobytes() == their_grad.tobytes()


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
@pytest.mark.parametrize("number", [-1, -255, 255, 127, -128, 2.7, -0.5, True])
@pytest.mark.parametrize("how", ["fill_", "clamp-min", "clamp-max", "clamp_-min"])
def test_numbers_written_into_integer_tensors_convert_as_in_torch(dtype, number, how):
    """A number that fits the type by its magnitude is cast as C casts it (uint8 takes -1 as
    255); one beyond is refused (tested with the errors)."""
    def run(lib):
        x = lib.tensor([5, 4, 0], dtype=getattr(lib, dtype))
        try:
            if how == "fill_":
                y = x.fill_(number)
            elif how == "clamp_-min":
                y = x.clamp_(min=number)
            else:
                y = x.clamp(**{how.split("-")[1]: number})
        except RuntimeError as exc:
            return ("error", str(exc))
        return ("ok", str(y.dtype).removeprefix("torch."), y.tolist())

    assert run(vg) == run(torch)


@settings(max_examples=200, deadline=None, derandomize=True)  # the same examples every run
@given(dtype=st.sampled_from(["float32", "float64", "float16", "int64", "int32", "bool"]),
       seed=st.integers(0, 2**20), rtol=st.sampled_from([1e-05, 1e-3, 0.1, 0.0]),
       atol=st.sampled_from([1e-08, 1e-5, 2.0, 0.0]), equal_nan=st.booleans())
def test_isclose_allclose_and_equal_decide_as_torch(dtype, seed, rtol, atol, equal_nan):
    """Nearly equal values around every tolerance, with infinities and nan among them."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(8) * rng.choice([1e-6, 1.0, 1e6])
    b = a * (1 + rng.choice([0.0, 1e-6, 1e-4, 0.05], size=8)) + rng.choice([0.0, 1e-7, 1.0],
                                                                           size=8)
    a[:3] = [np.inf, np.nan, -np.inf]
    b[:3] = rng.choice([np.inf, -np.inf, np.nan, 1.0], size=3)
    if dtype == "bool":
        a, b = a > 0, b > 0
    elif dtype.startswith("int"):
        a, b = (np.nan_to_num(np.round(v * 10), posinf=7, neginf=-7) for v in (a, b))
    with np.errstate(over="ignore"):  # float16 takes 1e6 as inf: more infinities to compare
        a, b = a.astype(dtype), b.astype(dtype)

    def seen(lib):
        x, y = lib.tensor(a), lib.tensor(b)
        return (lib.isclose(x, y, rtol, atol, equal_nan).tolist(),
                lib.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan),
                lib.equal(x, y), x.equal(x))

    assert seen(vg) == seen(torch)
