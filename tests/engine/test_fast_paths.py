"""The engine's fast paths give what the plain paths give, and what torch gives.

``backward()`` takes shortcuts that stepping does not need to: arithmetic rules run on raw
arrays, a leaf keeps a gradient no one else holds without a copy, version counters are made on
first need. Each test here runs the shortcut against the long way round (stepping, create_graph)
or against torch, including the cases where a shortcut must not be taken.
"""

import gc
import sys
import weakref

import numpy as np
import pytest
import torch

import visgrad as vg
from visgrad.engine import autograd
from visgrad.engine.autograd import BackwardIteration, FormulaNode


def grads_of(lib, program, dtype="float32", create_graph=False):
    rng = np.random.default_rng(7)
    arrays = [rng.uniform(0.5, 2.0, size=(3, 4)).astype(dtype) for _ in range(2)]
    leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = program(lib, *leaves)
    grads = lib.autograd.grad(out.sum(), leaves, create_graph=create_graph, allow_unused=True)
    return [None if g is None else g.detach().numpy() for g in grads]


ARITHMETIC = {
    "add": lambda lib, a, b: a + b,
    "add_alpha": lambda lib, a, b: lib.add(a, b, alpha=2.5),
    "sub": lambda lib, a, b: a - b,
    "sub_alpha": lambda lib, a, b: lib.sub(a, b, alpha=0.5),
    "rsub_scalar": lambda lib, a, b: 3 - a,
    "mul": lambda lib, a, b: a * b,
    "mul_scalar": lambda lib, a, b: a * 1.7,
    "div": lambda lib, a, b: a / b,
    "rdiv": lambda lib, a, b: 2.0 / a,
    "neg": lambda lib, a, b: -a,
    "pow": lambda lib, a, b: a ** 3,
    "pow_zero": lambda lib, a, b: a ** 0,
    "exp": lambda lib, a, b: a.exp(),
    "log": lambda lib, a, b: a.log(),
    "sqrt": lambda lib, a, b: a.sqrt(),
    "tanh": lambda lib, a, b: a.tanh(),
    "sigmoid": lambda lib, a, b: a.sigmoid(),
    "mixed": lambda lib, a, b: (a * b).tanh() * 0.5 + (a / b).sigmoid() - b.exp() * a,
    "relu": lambda lib, a, b: (a - 1.2).relu(),
    "sum": lambda lib, a, b: a.sum() * b,
    "sum_dim": lambda lib, a, b: a.sum(1) * b.t(),
    "sum_dims_keepdim": lambda lib, a, b: a.sum((0, 1), keepdim=True) * b,
    "mean": lambda lib, a, b: a.mean() * b,
    "mean_dim": lambda lib, a, b: a.mean(0) * b,
    "mean_keepdim": lambda lib, a, b: a.mean(1, keepdim=True) * b,
    "softmax": lambda lib, a, b: a.softmax(1) * b,
    "log_softmax": lambda lib, a, b: a.log_softmax(0) * b,
    "mm": lambda lib, a, b: a @ b.t(),
    "mm_one_side": lambda lib, a, b: a @ b.detach().t(),
    "select_slice": lambda lib, a, b: a[1, 1:] * b[0, 1:] + a[:, 2].sum() * b[2, 1:],
    "index_pairs": lambda lib, a, b: a[lib.arange(3), lib.tensor([3, 0, 1])] * b[0, :3],
    "index_repeated": lambda lib, a, b: a[lib.tensor([0, 2, 0, 0])].sum(0) * b[1],
    "index_mask": lambda lib, a, b: a[b > 1.2].sum() * b,
    "index_one_number": lambda lib, a, b: a[lib.tensor([1]), lib.tensor([2])] * b,
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ARITHMETIC))
def test_array_rules_match_tensor_rules_and_torch(name, dtype):
    program = ARITHMETIC[name]
    fast = grads_of(vg, program, dtype)                     # rules on raw arrays
    slow = grads_of(vg, program, dtype, create_graph=True)  # the same rules on Tensors
    theirs = grads_of(torch, program, dtype)
    for f, s, t in zip(fast, slow, theirs):
        assert (f is None) == (s is None) == (t is None)
        if f is not None:
            assert f.dtype == s.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(f, s)
            tol = 1e-6 if dtype == "float32" else 1e-12  # the forward kernels' last bits
            np.testing.assert_allclose(f, t, rtol=tol, atol=tol)


def test_the_formula_rules_are_the_ones_this_file_covers():
    modules = [sys.modules[f"visgrad.engine.ops.{name}"]  # ops.softmax names the function
               for name in ("pointwise", "reductions", "softmax", "linalg", "indexing")]
    formulas = {name for module in modules
                for name, cls in vars(module).items()
                if isinstance(cls, type) and issubclass(cls, FormulaNode) and cls is not FormulaNode}
    assert formulas == {
        "AddBackward0", "SubBackward0", "RsubBackward0", "RsubBackward1", "MulBackward0",
        "DivBackward0", "ReciprocalBackward0", "NegBackward0", "PowBackward0", "ExpBackward0",
        "LogBackward0", "SqrtBackward0", "TanhBackward0", "SigmoidBackward0", "ReluBackward0",
        "SumBackward0", "SumBackward1", "MeanBackward0", "MeanBackward1", "SoftmaxBackward0",
        "LogSoftmaxBackward0", "MmBackward0", "_IndexedBackward", "SelectBackward0",
        "SliceBackward0", "IndexBackward0"}


def test_mixed_dtypes_take_the_tensor_rule_as_torch_promotes():
    def program(lib):
        a = lib.tensor([1.5, 2.5], dtype=lib.float32, requires_grad=True)
        b = lib.tensor(3.1, dtype=lib.float64, requires_grad=True)  # a 0-d tensor
        (a * b).sum().backward()
        return a.grad, b.grad

    ours, theirs = program(vg), program(torch)
    for o, t in zip(ours, theirs):
        assert str(o.dtype) == str(t.dtype)
        np.testing.assert_array_equal(o.numpy(), t.numpy())


def test_nan_and_inf_in_array_rules_are_silent_and_torchs(recwarn):
    def program(lib):
        x = lib.tensor([0.0, -1.0, 1e30, 2.0], requires_grad=True)
        (x.log() + x.sqrt() + (x * 1e30) + 1 / x).sum().backward()
        return x.grad

    np.testing.assert_array_equal(program(vg).numpy(), program(torch).numpy())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_steps_are_silent_and_leave_the_callers_numpy_state_alone(recwarn):
    """A single step silences numpy for itself only: code between steps warns as it would."""
    class Inverse(vg.autograd.Function):  # a rule written with Tensor operations
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g / x

    def program(lib, step=None):
        x = lib.tensor([0.0, -1.0, 1e30, 2.0], requires_grad=True)
        seen = []
        y = (x.log() + x.sqrt() + (x * 1e30)) * 1e30
        y.register_hook(lambda g: seen.append(g * 1e300))  # a hook's own Tensor ops
        loss = Inverse.apply(y).sum() if lib is vg else (y / y.detach()).sum()
        if step is None:
            loss.backward()
        else:
            for _ in BackwardIteration([loss]):
                step()
        return x.grad

    def between_steps():
        with pytest.warns(RuntimeWarning, match="divide by zero"):
            np.float64(1.0) / np.zeros(1)
        assert np.geterr()["over"] == "warn"

    stepped = program(vg, step=between_steps)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    np.testing.assert_array_equal(stepped.numpy(), program(vg).numpy())
    np.testing.assert_array_equal(stepped.numpy(), program(torch).numpy())


# ---- a leaf keeps a gradient no one else holds ---------------------------------------------------

def test_stealing_is_calibrated_on_this_interpreter():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert autograd._steal.limit is not None and autograd._steal.limit > 0, sys.version


def test_calibration_survives_a_first_backward_under_no_grad(monkeypatch):
    monkeypatch.setattr(autograd._steal, "limit", None)
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with vg.no_grad():
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert autograd._steal.limit > 0


def test_two_leaves_given_one_gradient_do_not_share_it():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    w = vg.tensor([3.0, 4.0], requires_grad=True)
    (x + w).backward(vg.tensor([1.0, 1.0]))
    assert not np.shares_memory(x.grad.numpy(), w.grad.numpy())
    x.grad.add_(5.0)  # a later in-place change to one must not reach the other
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


def test_a_gradient_the_user_holds_is_not_taken():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    g = vg.tensor([5.0, 6.0])
    x.backward(g)
    assert not np.shares_memory(x.grad.numpy(), g.numpy())
    x.backward(g)  # accumulates in place into x.grad: g stays as it was
    np.testing.assert_array_equal(g.numpy(), [5.0, 6.0])
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 12.0])


def test_a_gradient_a_hook_kept_is_not_taken():
    kept = []
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: kept.append(g))
    (y * 2).sum().backward()
    x.grad.mul_(10)
    np.testing.assert_array_equal(kept[0].numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [60.0, 60.0])


class _Fresh(vg.autograd.Function):
    """Sends back a gradient array it remembers (weakly), to see whether the leaf keeps it."""

    made: list = []

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        out = g * 2.0
        _Fresh.made.append(weakref.ref(out.numpy()))
        return out


@pytest.mark.parametrize("size", [3, 100_000])
def test_a_leaf_keeps_the_gradient_no_one_else_holds(size):
    _Fresh.made.clear()
    x = vg.ones(size, requires_grad=True)
    _Fresh.apply(x).sum().backward()
    assert x.grad.numpy() is _Fresh.made[0]()  # taken, not copied
    np.testing.assert_array_equal(x.grad.numpy(), np.full(size, 2.0, np.float32))


@pytest.mark.parametrize("size", [3, 100_000])
def test_a_square_written_as_a_product_gives_torchs_bits(size):
    rng = np.random.default_rng(11)
    data = rng.standard_normal(size).astype(np.float32)

    def program(lib, stepped=False):
        x = lib.from_numpy(data.copy()).requires_grad_()
        h = x * 1.5 - 0.25
        y = (h * h) * 3.0  # one tensor on both sides (tanh would differ from torch's anyway)
        z = x * x
        loss = (y + z).sum()
        if stepped:
            list(BackwardIteration([loss]))
        else:
            loss.backward()
        return x.grad.numpy()

    expected = program(torch)
    np.testing.assert_array_equal(program(vg), expected)
    np.testing.assert_array_equal(program(vg, stepped=True), expected)


def test_the_two_gradients_of_a_square_reach_hooks_as_two_tensors():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    seen = []
    y.grad_fn.register_hook(lambda inputs, outputs: seen.append(inputs))
    y.sum().backward()
    assert seen[0][0] is not seen[0][1]
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# ---- a leaf and its accumulator (NOTE [leaf accumulators]) ---------------------------------------

def test_a_leaf_and_its_grad_go_when_the_last_reference_does(monkeypatch):
    gc.collect()
    gc.disable()  # reference counting alone must free them, as in torch
    try:
        x = vg.tensor(np.ones((4, 4), np.float32), requires_grad=True)
        (x * 2.0 + x).sum().backward()
        leaf, grad = weakref.ref(x), weakref.ref(x.grad.numpy())
        del x
        assert leaf() is None and grad() is None
    finally:
        gc.enable()


def _visgrads(o) -> bool:
    module = o.__module__ if callable(o) and hasattr(o, "__code__") else type(o).__module__
    return (module or "").startswith("visgrad")


def _cyclic_garbage(fn) -> list:
    """The functions and objects of visgrad that only the cyclic collector would free after
    ``fn()`` (what other libraries, torch in earlier tests, leave does not count)."""
    fn()  # first-time caches are not garbage
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        fn()
        gc.collect()
        return sorted(repr(o) for o in gc.garbage if _visgrads(o))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def _nested_literals():
    vg.tensor([[1.0, 2.0], [3.0, 4.0]])
    vg.tensor([vg.tensor(1.0), 2], dtype=vg.int64)
    with pytest.raises(ValueError):
        vg.tensor([[1.0], [2.0, 3.0]])


def _training_steps():
    model = vg.nn.Sequential(vg.nn.Linear(4, 8), vg.nn.ReLU(), vg.nn.Linear(8, 3))
    opt = vg.optim.Adam(model.parameters())
    x, y = vg.randn(5, 4), vg.randint(0, 3, (5,))
    for _ in range(2):
        opt.zero_grad()
        vg.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _stepped_second_order():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = vg.autograd.grad((x**3).sum(), [x], create_graph=True)
    it = BackwardIteration([g.sum()])
    while it.step() is not None:
        pass


class _Squared(vg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x * x
        ctx.save_for_backward(out)  # its own output
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * 2.0 * out.sqrt()


def _forwards_without_backward():
    """An evaluation with grad on: ops that keep their own output (NOTE [saved outputs]),
    an in-place one and a custom Function that saves its output, and nothing runs backward."""
    x = vg.tensor([[0.5, -1.5], [2.0, 0.25]], requires_grad=True)
    for op in ("relu", "exp", "tanh", "sigmoid", "sqrt", "reciprocal"):
        getattr(x * 1.0, op)()
    x.softmax(1), x.log_softmax(0), (x * 1.0).exp_(), _Squared.apply(x)
    (x * 1.0).relu_().sigmoid_()


@pytest.mark.parametrize("work", [_nested_literals, _training_steps, _stepped_second_order,
                                  _forwards_without_backward])
def test_tensors_graphs_and_passes_are_freed_by_reference_counting(work):
    # garbage in a cycle waits for the collector, which then rescans everything alive: a
    # tensor() call used to leave its recursive checking closures behind
    assert _cyclic_garbage(work) == []


def test_a_live_graph_shares_one_accumulator_and_keeps_the_leaf():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    y, z = x * 2.0, x + 1.0
    acc = y.grad_fn.next_functions[0][0]
    assert z.grad_fn.next_functions[0][0] is acc
    with pytest.raises(RuntimeError, match="applied by the backward iteration"):
        acc.backward(vg.ones(2))  # the iteration accumulates; nothing calls this
    leaf = weakref.ref(x)
    del x
    assert acc.variable is leaf() and leaf() is not None  # the graph keeps it, as in torch
    (y + z).sum().backward()
    np.testing.assert_array_equal(acc.variable.grad.numpy(), [3.0, 3.0])


def test_a_hook_on_a_leaf_outlives_the_graphs_it_was_registered_between():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    fired = []
    x.register_hook(lambda g: fired.append(g.numpy().copy()))
    gc.collect()
    (x * 3.0).sum().backward()
    gc.collect()
    (x * 5.0).sum().backward()
    assert [f.tolist() for f in fired] == [[3.0, 3.0], [5.0, 5.0]]


def test_a_view_of_a_gradient_is_copied_into_grad():
    x = vg.tensor(2.0, requires_grad=True)
    y = x.expand(3).sum()  # SumBackward0 sends an expanded view; ExpandBackward sums it
    y.backward()
    z = vg.tensor([1.0, 2.0], requires_grad=True)
    z.sum().backward()     # the expanded gradient itself reaches the leaf
    assert z.grad.numpy().flags.writeable
    z.grad.add_(1.0)
    np.testing.assert_array_equal(z.grad.numpy(), [2.0, 2.0])
    assert x.grad.item() == 3.0


def test_stepping_keeps_what_accumulation_replaced_backward_does_not_copy():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    before = x.grad.numpy().copy()
    steps = list(BackwardIteration([(x * 3).sum()]))
    acc = steps[-1].accumulation
    np.testing.assert_array_equal(acc.before.numpy(), before)
    np.testing.assert_array_equal(acc.after.numpy(), before + 3)
    np.testing.assert_array_equal(x.grad.numpy(), before + 3)


# ---- version counters made on first need --------------------------------------------------------

def test_in_place_message_names_the_creator_at_save_time_after_two_in_place_ops():
    def program(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a = x.exp()
        b = a * a
        a.mul_(2)
        a.add_(1)
        b.sum().backward()

    with pytest.raises(RuntimeError) as theirs:
        program(torch)
    with pytest.raises(RuntimeError) as ours:
        program(vg)
    assert str(ours.value) == str(theirs.value)


def test_views_and_aliases_share_a_version_counter_made_late():
    def program(lib):
        x = lib.tensor([1.0, 2.0, 3.0])
        versions = [x._version]
        v = x[1:]
        d = x.detach()
        v.mul_(2)
        versions += [x._version, v._version, d._version]
        d.add_(1)
        versions += [x._version, v._version, d._version]
        return versions

    assert program(vg) == program(torch)


def test_a_factor_that_no_gradient_needs_may_change_in_place_as_in_torch():
    def program(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        c = lib.tensor([3.0, 4.0])
        y = x * c       # x's gradient needs c: c is kept
        z = c * x       # the same, the other way round
        w = x * 2.0
        x2 = x.detach()
        x2.mul_(1.0)    # x is not needed by anything: nothing to complain about
        (y + z + w).sum().backward()
        return x.grad

    np.testing.assert_array_equal(program(vg).numpy(), program(torch).numpy())

    def modified(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        c = lib.tensor([3.0, 4.0])
        y = x * c
        c.add_(1)  # but c is needed
        y.sum().backward()

    with pytest.raises(RuntimeError) as theirs:
        modified(torch)
    with pytest.raises(RuntimeError) as ours:
        modified(vg)
    assert str(ours.value) == str(theirs.value)


# ---- kernels the backend speeds up --------------------------------------------------------------

@pytest.mark.parametrize("keep", [True, False], ids=["where_or_zero", "zero_where"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_where_or_zero_is_bit_for_bit_numpys_where(dtype, keep):
    from visgrad.engine.backend import CPU

    def numpys(m, v):
        zero = v.dtype.type(0)
        return np.where(m, v, zero) if keep else np.where(m, zero, v)

    ours = CPU.where_or_zero if keep else CPU.zero_where
    rng = np.random.default_rng(3)
    values = rng.standard_normal((5, 7)).astype(dtype)
    values.flat[:6] = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0]
    mask = rng.random((5, 7)) > 0.5
    mask.flat[:6] = [False, True, False, True, True, False]
    expected = numpys(mask, values)
    for m, v in ((mask, values), (mask.T, values.T), (mask[:, ::2], values[:, ::2]),
                 (mask[0, 0], values[0, 0]), (mask[0, 1], values[0, 1])):
        got = ours(m, v)
        want = numpys(m, v)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.view(f"u{v.itemsize}"), want.view(f"u{v.itemsize}"))
    assert ours(mask, values).view(f"u{values.itemsize}").tolist() == \
        expected.view(f"u{values.itemsize}").tolist()


def test_relu_gradient_keeps_torchs_zeros_and_nans():
    def program(lib):
        x = lib.tensor([-1.0, 2.0, -3.0, 4.0, 0.0], requires_grad=True)
        y = x.relu()
        y.backward(lib.tensor([float("nan"), -0.0, -5.0, float("inf"), -1.0]))
        return x.grad

    ours, theirs = program(vg).numpy(), program(torch).numpy()
    np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_where_or_zero_of_one_number_is_a_new_array_with_wheres_bits(dtype):
    from visgrad.engine.backend import CPU

    for value in (2.5, -0.0, 0.0, np.nan, -np.inf):
        v = np.array(value, dtype=dtype)
        for mask in (np.array(True), np.array(False), np.bool_(True), np.bool_(False), v > 0):
            got = CPU.where_or_zero(mask, v)
            want = np.where(mask, v, v.dtype.type(0))
            assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == want.dtype
            assert got.tobytes() == want.tobytes(), (value, mask)
            assert not np.shares_memory(got, v)  # where() of a forward must not alias its input


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_where_or_zero_of_a_numpy_scalar_stays_a_scalar_with_wheres_bits(dtype):
    """The backward pass carries one number as a numpy scalar: the choice keeps it one."""
    from visgrad.engine.backend import CPU

    for value in (2.5, -0.0, 0.0, np.nan, -np.inf):
        v = np.dtype(dtype).type(value)
        for mask in (np.bool_(True), np.bool_(False)):
            got = CPU.where_or_zero(mask, v)
            want = np.where(mask, v, v.dtype.type(0))
            assert isinstance(got, np.generic) and got.dtype == want.dtype
            assert np.asarray(got).tobytes() == want.tobytes(), (value, mask)


@pytest.mark.parametrize("value", [-1.0, 2.0, 0.0, -0.0, float("nan")])
@pytest.mark.parametrize("grad", [3.0, -0.0, float("nan"), float("-inf")])
def test_relu_gradient_of_one_number_is_torchs(value, grad):
    def program(lib):
        x = lib.tensor(value, requires_grad=True)
        x.relu().backward(lib.tensor(grad))
        return x.grad

    ours, theirs = program(vg).numpy(), program(torch).numpy()
    assert ours.tobytes() == theirs.tobytes() and ours.shape == theirs.shape == ()


_LABELS = np.random.default_rng(3).integers(0, 3, 300)


@pytest.mark.parametrize("index", [
    (np.arange(4), np.array([2, 0, 2, 1])),        # distinct rows
    (np.array([3, 1, 3, 0]), np.array([2, 2, 2, 1])),  # repeated positions: added up
    (np.array([-1, 3]), np.array([0, 0])),          # -1 and 3 are the same row
    (slice(None), np.array([0, 2, 2])),
    np.array([0, 1, 3]),
    np.array([0, 3, 3, 1]),                         # whole rows, one repeated
    (np.arange(300), _LABELS),                      # more than a few: distinct rows, +=
    (np.arange(300) % 7, _LABELS),                  # more than a few, repeated
])
def test_scatter_add_matches_add_at(index):
    from visgrad.engine.backend import CPU

    shape = (300, 3) if isinstance(index, tuple) and np.size(index[0]) == 300 else (4, 3)
    picked = np.zeros(shape)[index].shape
    values = np.arange(1.0, 1.0 + np.prod(picked)).reshape(picked)
    expected = np.zeros(shape)
    np.add.at(expected, index, values)
    got = np.zeros(shape)
    CPU.scatter_add(got, index, values)
    np.testing.assert_array_equal(got, expected)


def test_big_gradients_meeting_in_one_buffer_add_up_like_torch_and_like_stepping():
    def program(lib, stepped=False):
        lib.manual_seed(0) if lib is vg else torch.manual_seed(0)
        x = lib.tensor(np.linspace(-2, 2, 40000, dtype=np.float32).reshape(200, 200),
                       requires_grad=True)
        kept = []
        y = x * 2.0                  # fresh gradients for x from three ops ...
        z = x.tanh() * 3.0
        u = x * x                    # ... one of them twice (both factors are x)
        v = y + z + u
        v.register_hook(lambda g: kept.append(g))
        loss = (v * v).mean()
        if stepped:
            for _ in BackwardIteration([loss]):
                pass
        else:
            loss.backward()
        return x.grad.numpy(), kept[0].numpy()

    fast, fast_hooked = program(vg)
    slow, slow_hooked = program(vg, stepped=True)
    theirs, theirs_hooked = program(torch)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast_hooked, slow_hooked)
    np.testing.assert_allclose(fast, theirs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fast_hooked, theirs_hooked, rtol=1e-6, atol=1e-9)


# ---- one number: numpy scalars instead of 0-d arrays ----------------------------------------------

SPECIAL = [0.0, -0.0, 1.5, -2.25, 3e38, -3e38, 6e4, 1e-45, float("inf"), float("-inf"),
           float("nan")]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_arithmetic_on_one_number_gives_torchs_bits(op, dtype):
    # scalar arithmetic (NOTE [fused operators]): same bits as torch, overflow and 0/0 silent
    fn = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
          "/": lambda a, b: a / b}[op]
    for a in SPECIAL:
        for b in SPECIAL:
            results = {}
            for lib in (vg, torch):
                x = lib.tensor(a, dtype=getattr(lib, dtype))
                y = lib.tensor(b, dtype=getattr(lib, dtype))
                results[lib] = (fn(x, y).numpy(), fn(x, b).numpy())
            for ours, theirs in zip(results[vg], results[torch]):
                assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == ()
                assert ours.tobytes() == theirs.tobytes(), (a, op, b, ours, theirs)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_relu_of_one_number_gives_torchs_bits_and_a_new_array(dtype):
    for value in SPECIAL:
        ours = vg.tensor(value, dtype=getattr(vg, dtype))
        before = ours.numpy().tobytes()
        out = ours.relu()
        theirs = torch.tensor(value, dtype=getattr(torch, dtype)).relu().numpy()
        assert out.numpy().dtype == theirs.dtype and out.shape == ()
        assert out.numpy().tobytes() == theirs.tobytes(), value
        assert not np.shares_memory(out.numpy(), ours.numpy())
        out.add_(1.0)  # the result owns its storage
        assert ours.numpy().tobytes() == before


ELEMENTWISE = ["add", "sub", "mul", "mul_scalar", "div", "rdiv", "neg", "pow", "exp", "log",
               "sqrt", "tanh", "sigmoid", "mixed", "relu", "sum", "mean"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_array_rules_on_one_number_match_tensor_rules_and_torch(name, dtype):
    def grads(lib, create_graph=False):
        leaves = [lib.tensor(v, dtype=getattr(lib, dtype), requires_grad=True)
                  for v in (1.25, 0.75)]
        out = ARITHMETIC[name](lib, *leaves)
        return [None if g is None else g.detach().numpy()
                for g in lib.autograd.grad(out.sum(), leaves, create_graph=create_graph,
                                           allow_unused=True)]

    on_arrays, on_tensors, theirs = grads(vg), grads(vg, create_graph=True), grads(torch)
    for a, t, th in zip(on_arrays, on_tensors, theirs):
        assert (a is None) == (t is None) == (th is None)
        if a is not None:
            assert a.shape == th.shape == () and a.dtype == th.dtype
            assert a.tobytes() == t.tobytes()
            np.testing.assert_allclose(a, th, rtol=1e-6)


# ---- raw gradients between nodes (NOTE [raw gradients]) ---------------------------------------

def _stepped_program(lib, device):
    """Products, a broadcast sum, a Tensor-written rule (softmax on the way) and a leaf that
    receives three gradients."""
    x = lib.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True, device=device)
    b = lib.tensor([0.1, 0.2, 0.3], requires_grad=True, device=device)
    h = (x * x + b) * 0.5
    return x, b, (h.softmax(1) * h).sum() + x.mean()


def test_stepping_shows_tensors_on_the_gradients_device(device):
    x, b, loss = _stepped_program(vg, device)
    steps = list(BackwardIteration([loss]))
    tx, tb, theirs = _stepped_program(torch, "cpu")
    theirs.backward()
    names = [s.node.name() for s in steps]
    assert names.count("torch::autograd::AccumulateGrad") == 2
    for s in steps:
        for g in (*s.grads_in, *s.outputs, *(e[2] for e in s.grads_out)):
            if g is not None:
                assert isinstance(g, vg.Tensor) and g.device.type == device, s
                assert g.dtype == vg.float32
        assert s.grads_in is s.grads_in  # made once, then kept
    accumulations = [s.accumulation for s in steps if s.accumulation is not None]
    assert [type(a.after) for a in accumulations] == [vg.Tensor, vg.Tensor]
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.cpu().numpy(), tb.grad.numpy(), rtol=1e-6)


def test_raw_gradients_reach_a_function_written_with_tensors_and_its_hooks_as_tensors(device):
    seen = []

    class Twice(vg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            seen.append(g)
            return g * 2.0

    x = vg.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    y = Twice.apply(x * 3.0)
    y.register_hook(lambda g: seen.append(g))
    y.grad_fn.register_prehook(lambda grads: seen.append(grads[0]))
    (y * y).sum().backward()
    assert [type(g) for g in seen] == [vg.Tensor] * 3
    assert all(g.device.type == device for g in seen)
    np.testing.assert_allclose(x.grad.cpu().numpy(), 72.0 * np.array([1.0, 2.0, 3.0]))


def test_a_gradient_a_function_returns_from_what_it_saved_is_copied_into_grad():
    class GiveSaved(vg.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(w)
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            (w,) = ctx.saved_tensors
            return w, None

    x = vg.tensor([1.0, 2.0], requires_grad=True)
    w = vg.tensor([5.0, 6.0])
    GiveSaved.apply(x, w).sum().backward()
    assert not np.shares_memory(x.grad.numpy(), w.numpy())
    x.grad.mul_(10)
    np.testing.assert_array_equal(w.numpy(), [5.0, 6.0])
    np.testing.assert_array_equal(x.grad.numpy(), [50.0, 60.0])


def test_one_number_gradients_become_zero_dim_tensors_in_grad_and_steps():
    def program(lib):
        xs = [lib.tensor(np.float32(v), requires_grad=True) for v in (0.5, -1.5, 2.0)]
        acc = xs[0]
        for i in range(30):
            acc = acc * 0.5 + lib.relu(xs[i % 3])
        return xs, acc

    xs, loss = program(vg)
    steps = list(BackwardIteration([loss]))
    theirs, their_loss = program(torch)
    their_loss.backward()
    for x, t in zip(xs, theirs):
        assert isinstance(x.grad.numpy(), np.ndarray) and x.grad.shape == ()
        assert x.grad.numpy().flags.writeable
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert all(type(g.numpy()) is np.ndarray for s in steps for g in s.grads_in)
    again, loss = program(vg)
    loss.backward()
    for x, y in zip(xs, again):
        np.testing.assert_array_equal(x.grad.numpy(), y.grad.numpy())
        y.grad.add_(1.0)  # a grad made from a numpy scalar is an array of its own


def test_array_backend_names_each_arrays_backend():
    from visgrad.engine import backend

    assert backend.array_backend(np.zeros(3)) is backend.CPU
    assert backend.array_backend(np.float16(1)) is backend.CPU
    backend.register_backend("cuda", backend.strict_cuda_backend)
    try:
        strict = backend.get_backend("cuda")
        on_device = vg.ones(2, device="cuda")._data
        assert backend.array_backend(on_device) is strict
    finally:
        backend.register_backend("cuda", None)
    with pytest.raises(TypeError, match="no backend holds arrays of type list"):
        backend.array_backend([1.0])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_a_means_gradient_filled_in_gives_torchs_bits(dtype):
    """MeanBackward0 divides the one number once and fills it in on the CPU."""
    rng = np.random.default_rng(5)
    for size in (1, 3, 7, 64, 1000):
        for factor in [0.0, -0.0, 1.0, 3.0, -7.25, 1e-3, 6e4, float("inf"), float("nan"),
                       *rng.standard_normal(5)]:
            grads = []
            for lib in (vg, torch):
                x = lib.tensor(np.ones(size, dtype=dtype), requires_grad=True)
                (x.mean() * factor).backward()
                grads.append(x.grad.numpy())
            ours, theirs = grads
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{size} {factor}")


@pytest.mark.parametrize("op", ["relu", "exp", "tanh", "sigmoid", "sqrt", "reciprocal"])
@pytest.mark.parametrize("kind", ["leaf", "non-leaf", "view", "one number"])
def test_record_output_builds_the_node_record_builds(op, kind):
    """The ops that save their own output take record_output: the same node as record()."""
    if kind == "one number":
        x = vg.tensor(0.7, requires_grad=True)
    else:
        x = vg.tensor([[0.5, 1.5], [2.0, 0.25]], requires_grad=True)
        if kind == "non-leaf":
            x = x * 1.0
        elif kind == "view":
            x = (x * 1.0)[0]
    y = getattr(x, op)()
    node = y.grad_fn
    twin = vg.Tensor._wrap(y._data.copy(), y._backend)
    autograd.record(type(node), twin, (x,), save=(twin,))
    other = twin.grad_fn
    assert node.next_functions == other.next_functions
    assert node._input_meta == other._input_meta
    assert node._saved_versions == other._saved_versions
    assert node._saved_outputs == other._saved_outputs
    assert len(node._saved) == len(other._saved) == 1
    for kept, output, n in ((node._saved[0], y, node), (other._saved[0], twin, other)):
        # an alias of the output without its history (NOTE [saved outputs]), attached again
        # when unpacked
        assert kept._data is output._data and kept._vc is output._vc and kept.grad_fn is None
        unpacked = n.saved_tensors[0]
        assert unpacked._data is output._data and unpacked.grad_fn is n
    assert y.requires_grad and not y.is_leaf and node.name() == other.name()
    with vg.no_grad():
        assert getattr(x, op)().grad_fn is None
    y.sum().backward()
    their_x = torch.tensor(x.detach().numpy(), requires_grad=True)
    getattr(their_x, op)().sum().backward()
    leaf = x if x.is_leaf else None
    if leaf is not None:
        np.testing.assert_allclose(leaf.grad.numpy(), their_x.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("bias_shape", [(10,), (1, 10), (), (4, 1, 10)])
def test_a_bias_keeps_its_summed_gradient_with_torchs_bits(monkeypatch, bias_shape):
    """The gradient of a broadcast bias is summed over the batch; when only leading dims are
    summed the sum is an array of its own and the leaf keeps it, otherwise it gets a copy (one
    number is a numpy scalar in the pass and a 0-d array of its own in .grad). Small integers
    make every order of summation exact, so the bits compare with torch's."""
    rng = np.random.default_rng(5)
    x = rng.integers(-8, 8, (4, 3, 10)).astype(np.float32)
    b = rng.standard_normal(bias_shape).astype(np.float32)
    sums = []

    def recording(data, shape):
        out = summed(data, shape)
        sums.append(weakref.ref(out) if isinstance(out, np.ndarray) else None)
        return out

    summed = autograd._sum_to_array
    monkeypatch.setattr(autograd, "_sum_to_array", recording)
    vb = vg.tensor(b, requires_grad=True)
    ((vg.tensor(x) + vb) * vg.tensor(x)).sum().backward()
    tb = torch.tensor(b, requires_grad=True)
    ((torch.tensor(x) + tb) * torch.tensor(x)).sum().backward()
    assert vb.grad.shape == bias_shape and vb.grad.dtype == vg.float32
    np.testing.assert_array_equal(vb.grad.numpy(), tb.grad.numpy())
    assert vb.grad.numpy().flags.writeable and vb.grad.numpy().base is None
    assert (sums[-1] is not None and vb.grad.numpy() is sums[-1]()) == (bias_shape == (10,))
