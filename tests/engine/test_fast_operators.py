"""The fused ``+ - * /`` (NOTE [fused operators]) build what the general route builds.

Each case runs an operator (the fused route where it applies) and the op function it stands
for (``vg.add``, ``vg.mul``...: always the general route) on the same operands, then compares
everything the graph holds: values and their bits, dtype, grad_fn class, next_functions (the
same nodes), input metadata, saved values and versions, and the gradients of a backward pass.
The values and gradients are also compared with torch.
"""

import operator

import numpy as np
import pytest
import torch

import visgrad as vg
from visgrad.engine.ops import fast_operators

OPS = {"+": (operator.add, vg.add), "-": (operator.sub, vg.sub), "*": (operator.mul, vg.mul),
       "/": (operator.truediv, vg.div)}
# ``1.7 * x``: the tensor's reflected operator, for which torch records x * 1.7
REVERSED = {"r+": (lambda x, number: number + x, vg.add),
            "r*": (lambda x, number: number * x, vg.mul)}


def _operands(kind, dtype, requires):
    """Operands a, b: kind is "tt" (two tensors), "ts" (tensor, Python float), "same" (x, x),
    "chain" (two non-leaf tensors), "broadcast" ((3,4) and (4,)), "scalar" (two 0-d)."""
    rng = np.random.default_rng(3)
    shape_b = (4,) if kind == "broadcast" else () if kind == "scalar" else (3, 4)
    shape_a = () if kind == "scalar" else (3, 4)
    a = vg.tensor(rng.uniform(0.5, 2.0, shape_a).astype(dtype), requires_grad=requires[0])
    b = vg.tensor(rng.uniform(0.5, 2.0, shape_b).astype(dtype), requires_grad=requires[1])
    if kind == "ts":
        return a, 1.7
    if kind == "same":
        return a, a
    if kind == "chain":
        return a * 1.0 + 0.0, b + 0.0
    return a, b


def _graph_of(out):
    node = out.grad_fn
    if node is None:
        return None
    return (type(node), node.next_functions, node._input_meta,
            tuple(v if not isinstance(v, vg.Tensor) else ("tensor", id(v)) for v in node._saved),
            node._saved_versions, node._saved_outputs, getattr(node, "alpha", 1))


CASES = [(kind, dtype, requires) for kind in ("tt", "ts", "same", "chain", "broadcast", "scalar")
         for dtype in ("float32", "float64", "float16")
         for requires in ((True, True), (True, False), (False, True), (False, False))
         if kind not in ("ts", "same") or requires[0] == requires[1]]  # one tensor: one flag


@pytest.mark.parametrize("name,kind,dtype,requires", [
    (name, *case) for name in OPS for case in CASES] + [
    (name, *case) for name in REVERSED for case in CASES if case[0] == "ts"])
def test_the_fused_operator_builds_the_general_graph(name, kind, dtype, requires):
    fused, general = {**OPS, **REVERSED}[name]
    a, b = _operands(kind, dtype, requires)
    fused_out, general_out = fused(a, b), general(a, b)
    assert fused_out.dtype == general_out.dtype
    assert fused_out.detach().numpy().tobytes() == general_out.detach().numpy().tobytes()
    assert fused_out.requires_grad == general_out.requires_grad
    assert _graph_of(fused_out) == _graph_of(general_out)
    if fused_out.requires_grad:
        leaves = [t for t in (a, b) if isinstance(t, vg.Tensor) and t.requires_grad]
        leaves = list({id(t): t for t in leaves}.values())
        fused_grads = vg.autograd.grad(fused_out.sum(), leaves, allow_unused=True)
        general_grads = vg.autograd.grad(general_out.sum(), leaves, allow_unused=True)
        for f, g in zip(fused_grads, general_grads):
            assert f.numpy().tobytes() == g.numpy().tobytes()


@pytest.mark.parametrize("name,kind,dtype,requires", [
    (name, *case) for name in OPS for case in CASES] + [
    (name, *case) for name in REVERSED for case in CASES if case[0] == "ts"])
def test_the_metadata_a_tensor_keeps_is_its_own(name, kind, dtype, requires):
    # NOTE [kept metadata]: a fused result may take its operand's; it must be its own
    fused, _ = {**OPS, **REVERSED}[name]
    a, b = _operands(kind, dtype, requires)
    out = fused(a, b)
    results = [out, a @ a.t() if a.dim() == 2 else a, out * out]
    for t in (*results, a, b):
        if isinstance(t, vg.Tensor) and t._meta is not None:
            assert t._meta == (t._data.shape, t._data.dtype)
    if out.requires_grad:  # and what the nodes recorded checks the gradients that come back
        for t in results:
            if t.requires_grad:
                t.sum().backward(retain_graph=True)


def test_a_product_of_matrices_keeps_no_operand_metadata():
    a = vg.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    b = vg.tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    out = a @ b
    assert out._meta is None or out._meta[0] == (2, 4)
    ((out * out) @ b.t()).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3, 4)


@pytest.mark.parametrize("lib", [vg, torch])
def test_data_assigned_a_new_shape_is_what_the_next_graph_records(lib):
    w = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (w * w).sum().backward()  # the first graph recorded a (2, 2) w
    w.grad = None
    w.data = lib.ones(3, 3)
    (w * w * 2.0).sum().backward()
    assert tuple(w.grad.shape) == (3, 3) and w.grad.tolist() == [[4.0] * 3] * 3


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_fused_operators_match_torch(name, dtype):
    rng = np.random.default_rng(5)
    arrays = [rng.uniform(0.5, 2.0, (3, 4)).astype(dtype), rng.uniform(0.5, 2.0, (4,)).astype(dtype)]
    results = {}
    for lib in (vg, torch):
        a, b = (lib.tensor(x, requires_grad=True) for x in arrays)
        out = OPS[name][0](OPS[name][0](a, b), 0.75)
        out.sum().backward()
        results[lib] = [t.detach().numpy() for t in (out, a.grad, b.grad)]
        results[lib, "name"] = type(out.grad_fn).__name__
    assert results[vg, "name"] == results[torch, "name"]
    for mine, theirs in zip(results[vg], results[torch]):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)


def test_the_fused_route_is_the_one_taken():
    a = vg.tensor([1.0, 2.0], requires_grad=True)
    assert vg.Tensor.__mul__.__code__ is fast_operators.fused(
        operator.mul, None, 0, None).__code__
    assert (a * 2.0).grad_fn.next_functions[1] == (None, 0)


def test_cases_the_fused_route_leaves_to_the_general_one():
    x = vg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    view = x[0]
    assert (view * 2.0).grad_fn.name() == "MulBackward0"
    ints = vg.tensor([1, 2]) * 2.0  # an int tensor and a float: promotion
    assert ints.dtype == vg.float32 and ints.tolist() == [2.0, 4.0]
    mixed = vg.tensor([1.0], dtype=vg.float64) * vg.tensor([2.0])
    assert mixed.dtype == vg.float64
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(2\) must match the size of "
                                           r"tensor b \(3\) at non-singleton dimension 0"):
        vg.tensor([1.0, 2.0]) * vg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="unsupported operand"):
        vg.tensor([1.0]) + "a"
    with vg.autograd.set_detect_anomaly(True):
        y = x * 3.0
    assert y.grad_fn._anomaly_trace


def test_a_factor_changed_in_place_after_a_fused_product_is_caught():
    a = vg.tensor([1.0, 2.0], requires_grad=True)
    b = vg.tensor([3.0, 4.0], requires_grad=True)
    c, d = a * 1.0, b * 1.0
    out = c * d
    d.add_(1.0)
    with pytest.raises(RuntimeError, match=r"is at version 1; expected version 0 instead"):
        out.sum().backward()


def test_no_grad_gives_a_plain_result():
    a = vg.tensor([1.0, 2.0], requires_grad=True)
    with vg.no_grad():
        out = a * a + 1.0
    assert out.grad_fn is None and not out.requires_grad and out.tolist() == [2.0, 5.0]


def test_a_fused_result_has_every_field_a_wrapped_tensor_has():
    # the fused route writes Tensor._wrap out: a field added to Tensor must be added there too
    a = vg.tensor([1.0, 2.0], requires_grad=True)
    fields = [s for s in vg.Tensor.__slots__ if not s.startswith("__")]
    wrapped = vg.Tensor._wrap(a._data * 2.0)
    for out in (a * 2.0, a.detach() * 2.0):
        assert [hasattr(out, f) for f in fields] == [hasattr(wrapped, f) for f in fields]


def _overflowing(lib):
    x = lib.tensor([1e30, 0.0, float("inf"), -2.0], requires_grad=True)
    y = (x * 1e30) * (x * float("inf")) + (x - x * 2.0) / x
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("switching", [False, True], ids=["context", "switching"])
def test_fused_operators_are_silent_in_each_thread_and_leave_numpys_state_alone(
        recwarn, monkeypatch, switching):
    """Each thread computes in a quiet context of its own (or, where numpy's state is not per
    context, switches around each call); the caller's numpy warns as before."""
    import threading

    from visgrad.engine import backend, grad_mode

    if switching:
        monkeypatch.setattr(backend.quiet_enter, "context_bound", False)
        monkeypatch.setattr(grad_mode._state, "numpy_quiet", None)
    expected = _overflowing(torch)
    results = []
    thread = threading.Thread(target=lambda: results.append(_overflowing(vg)))
    thread.start()
    thread.join()
    results.append(_overflowing(vg))
    assert len(results) == 2
    for values, grads in results:
        np.testing.assert_array_equal(values, expected[0])
        np.testing.assert_array_equal(grads, expected[1])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert np.geterr()["over"] == "warn"
    with pytest.warns(RuntimeWarning, match="overflow"):
        np.float32(1e30) * np.float32(1e30)
    if switching:
        assert grad_mode._state.numpy_quiet is backend._Switching


@pytest.mark.parametrize("kind", ["tt", "same", "chain"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("requires", [(True, True), (True, False), (False, True), (False, False)])
def test_the_fused_matrix_product_builds_mms_graph(kind, dtype, requires):
    """``a @ b`` of two matrices takes the fused route to MmBackward0: the graph mm() builds,
    the same bits, the same gradients, torch's values; overflow is inf, silently."""
    if kind == "same" and requires[0] != requires[1]:
        requires = (requires[0], requires[0])
    rng = np.random.default_rng(4)
    arrays = [rng.uniform(0.5, 2.0, (3, 3)).astype(dtype), rng.uniform(0.5, 2.0, (3, 3)).astype(dtype)]
    a, b = (vg.tensor(x, requires_grad=r) for x, r in zip(arrays, requires))
    if kind == "same":
        b = a
    elif kind == "chain":  # non-leaves whose history saves nothing, for two passes
        a, b = a + 0.0, b + 0.0
    fused_out, general_out = a @ b, vg.mm(a, b)
    assert fused_out.detach().numpy().tobytes() == general_out.detach().numpy().tobytes()
    assert _graph_of(fused_out) == _graph_of(general_out)
    theirs = torch.tensor(arrays[0]) @ torch.tensor(arrays[1] if kind != "same" else arrays[0])
    np.testing.assert_allclose(fused_out.detach().numpy(), theirs.numpy(), rtol=1e-3)
    if fused_out.requires_grad:
        leaves = list({id(t): t for t in (a, b) if t.requires_grad}.values())
        for f, g in zip(vg.autograd.grad(fused_out.sum(), leaves),
                        vg.autograd.grad(general_out.sum(), leaves)):
            assert f.numpy().tobytes() == g.numpy().tobytes()
    import warnings  # noqa: PLC0415
    big = np.full((2, 2), {"float16": 6e4, "float32": 3e38, "float64": 1e308}[dtype], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for out in (vg.tensor(big) @ vg.tensor(big), vg.mm(vg.tensor(big), vg.tensor(big)),
                    vg.tensor(big[0]) @ vg.tensor(big[0])):
            assert np.isinf(out.numpy()).all()


def test_products_the_fused_matrix_route_leaves_to_matmul():
    m = vg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert (m @ vg.tensor([1.0, 1.0])).grad_fn.name() == "MvBackward0"
    assert (vg.tensor([1.0, 1.0]) @ m).grad_fn.name() == "SqueezeBackward4"
    assert (m.t() @ m).grad_fn.name() == "MmBackward0"  # a view: the general route
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(2x2 and 3x2\)"):
        m @ vg.ones(3, 2)
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype"):
        m @ vg.ones(2, 2, dtype=vg.float64)
    assert (vg.tensor([[1, 2]]) @ vg.tensor([[3], [4]])).tolist() == [[11]]
    assert m.__matmul__(2.0) is NotImplemented
