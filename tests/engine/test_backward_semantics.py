"""Backward semantics, each rule run as the same program under torch and visgrad.

Programs take the library as an argument (``lib`` is ``torch`` or ``visgrad``), since the two
share their API: what torch prints, computes or raises is the expected result.
"""

import math
import warnings

import numpy as np
import pytest
import torch

import visgrad as vg
from visgrad.engine.autograd import BackwardIteration


def values(t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.detach().cpu().tolist(), dtype=np.float64)


def same(a, b, tol=1e-6):
    va, vb = values(a), values(b)
    assert va is not None and vb is not None, (a, b)
    np.testing.assert_allclose(np.asarray(vb, dtype=np.float64), np.asarray(va, dtype=np.float64),
                               rtol=tol, atol=tol)


def both(program):
    return program(torch), program(vg)


def raises_like_torch(program):
    with pytest.raises(Exception) as expected:
        program(torch)
    with pytest.raises(type(expected.value)) as got:
        program(vg)
    assert str(got.value) == str(expected.value)


# ---- the programs users type first -------------------------------------------------------------

def test_polynomial_derivative_and_accumulation():
    def program(lib):
        x = lib.tensor(3.0, requires_grad=True)
        grads = []
        for _ in range(3):
            y = 3 * x ** 2 + 4 * x + 2
            y.backward()
            grads.append(x.grad.item())
        x.grad.zero_()
        return y, grads, x.grad

    (ty, tg, tz), (vy, vgs, vz) = both(program)
    assert vgs == tg == [22.0, 44.0, 66.0]
    assert repr(vy) == repr(ty) == "tensor(41., grad_fn=<AddBackward0>)"
    assert repr(vz) == repr(tz) == "tensor(0.)"


def test_chain_rule_mean():
    def program(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        out = ((x * 2 + 3) ** 2).mean()
        out.backward()
        return out, x.grad

    (to, tg), (vo, vgr) = both(program)
    assert repr(vo) == repr(to) == "tensor(51.6667, grad_fn=<MeanBackward0>)"
    assert repr(vgr) == repr(tg) == "tensor([ 6.6667,  9.3333, 12.0000])"


def l1_l4(lib, device=None):
    kw = {"device": device} if device else {}
    inp = lib.ones(2, 2, **kw)
    w1 = lib.tensor(2.0, requires_grad=True, **kw)
    w2 = lib.tensor(3.0, requires_grad=True, **kw)
    w3 = lib.tensor(4.0, requires_grad=True, **kw)
    l1 = inp * w1
    l2 = l1 + w2
    l3 = l1 * w3
    l4 = l2 * l3
    loss = l4.mean()
    return dict(inp=inp, w1=w1, w2=w2, w3=w3, l1=l1, l2=l2, l3=l3, l4=l4, loss=loss)


def test_l1_l4_network(device):
    g = l1_l4(vg, device)
    g["l1"].retain_grad()
    g["loss"].backward()
    assert [g[w].grad.item() for w in ("w1", "w2", "w3")] == [28.0, 8.0, 10.0]
    assert g["l1"].grad.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert g["l2"].grad is None if False else g["l2"].retains_grad is False
    assert g["loss"].item() == 40.0


class Double:
    @staticmethod
    def make(lib):
        class DoubleIt(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output * 2

        return DoubleIt


def custom_functions(lib):
    class SquareSum(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x * x).sum()

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 2 * x

    class SumSquared(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return (a + b) ** 2

        @staticmethod
        def backward(ctx, grad_output):
            a, b = ctx.saved_tensors
            g = grad_output * 2 * (a + b)
            return g, g

    return Double.make(lib), SquareSum, SumSquared


def test_custom_functions_match_torch(device):
    def program(lib):
        kw = {"device": device} if lib is vg else {}
        DoubleIt, SquareSum, SumSquared = custom_functions(lib)
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True, **kw)
        y = DoubleIt.apply(x)
        y.sum().backward()
        s = SquareSum.apply(x)
        s.backward()
        a = lib.tensor(1.5, requires_grad=True, **kw)
        b = lib.tensor(-0.5, requires_grad=True, **kw)
        c = SumSquared.apply(a, b)
        c.backward()
        return y, x.grad, s, a.grad, b.grad, c

    t, v = both(program)
    for tt, vv in zip(t, v):
        same(tt, vv)
    assert v[0].grad_fn.name() == "DoubleItBackward"
    assert type(v[2].grad_fn).__name__ == type(t[2].grad_fn).__name__ == "SquareSumBackward"
    assert repr(v[5]).replace(", device='cuda:0'", "") == repr(t[5])


def test_create_graph_through_custom_function():
    def program(lib):
        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * 3 * x ** 2

        x = lib.tensor(2.0, requires_grad=True)
        y = Cube.apply(x)
        (dx,) = lib.autograd.grad(y, x, create_graph=True)
        (ddx,) = lib.autograd.grad(dx, x, create_graph=True)
        (dddx,) = lib.autograd.grad(ddx, x)
        return dx, ddx, dddx

    t, v = both(program)
    assert [x.item() for x in v] == [x.item() for x in t] == [12.0, 12.0, 6.0]
    assert repr(v[0]) == repr(t[0])


def test_higher_order_to_any_order():
    def program(lib):
        x = lib.tensor(0.7, requires_grad=True, dtype=lib.float64)
        y = lib.sin(x) * lib.exp(x)
        out = []
        for _ in range(5):
            (y,) = lib.autograd.grad(y, x, create_graph=True)
            out.append(y.item())
        return out

    t, v = both(program)
    np.testing.assert_allclose(v, t, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_backward_create_graph_records_grad():
    def program(lib):
        x = lib.tensor(3.0, requires_grad=True)
        (x ** 3).backward(create_graph=True)
        first = repr(x.grad)
        (x ** 3).backward(create_graph=True)
        return first, repr(x.grad)

    assert both(program)[0] == both(program)[1]


# ---- retain_grad, hooks --------------------------------------------------------------------

def test_retain_grad_and_hook_order_are_torch_s():
    def program(lib, retain_first):
        u = lib.tensor([1.0, 2.0], requires_grad=True)
        v = u * 2
        if retain_first:
            v.retain_grad()
        v.register_hook(lambda g: g * 10)
        if not retain_first:
            v.retain_grad()
        v.sum().backward()
        return v.grad, u.grad, v.retains_grad

    for retain_first in (True, False):
        (tv, tu, tr), (vv, vu, vr) = (program(torch, retain_first), program(vg, retain_first))
        same(tv, vv)
        same(tu, vu)
        assert vr is tr is True


def test_leaf_hook_runs_before_accumulation_and_can_be_removed():
    def program(lib):
        t = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        h = t.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
        (t * 3).sum().backward()
        first = t.grad.tolist()
        h.remove()
        (t * 3).sum().backward()
        return seen, first, t.grad.tolist()

    assert both(program)[0] == both(program)[1] == ([[3.0, 3.0]], [6.0, 6.0], [9.0, 9.0])


def test_grad_fn_hooks_and_prehooks():
    def program(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        log = []
        y.grad_fn.register_prehook(lambda go: log.append(("pre", go[0].tolist())))
        y.grad_fn.register_hook(
            lambda gi, go: log.append(("post", gi[0].tolist(), go[0].tolist())) or (gi[0] + 1,
                                                                                      None))
        y.sum().backward()
        return log, x.grad.tolist()

    assert both(program)[0] == both(program)[1]


def test_non_leaf_grad_is_none_without_retain_grad_and_warns():
    x = vg.tensor([1.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert y.grad is None


# ---- errors of misuse -------------------------------------------------------------------------

def test_second_backward_raises_torchs_error():
    def program(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        c = (a * a).sum()
        c.backward()
        c.backward()

    raises_like_torch(program)


def test_retain_graph_allows_second_backward():
    def program(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        c = (a * a).sum()
        c.backward(retain_graph=True)
        c.backward()
        return a.grad

    same(*both(program))


def test_nodes_without_saved_tensors_can_run_twice():
    def program(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a + 1
        b.sum().backward()
        b.sum().backward()
        return a.grad

    same(*both(program))


@pytest.mark.parametrize("program", [
    lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).backward(),
    lambda lib: lib.tensor([1.0, 2.0]).sum().backward(),
    lambda lib: (lib.tensor([1.0, 2.0], requires_grad=True) * 2).backward(lib.ones(3)),
    lambda lib: lib.tensor([1, 2], requires_grad=True),
    lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).add_(1),
    lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).numpy(),
    lambda lib: lib.tensor([1.0, 2.0]).item(),
    lambda lib: (lib.tensor([1.0, 2.0], requires_grad=True) * 2).requires_grad_(False),
    lambda lib: lib.autograd.grad((lib.tensor([1.0], requires_grad=True) * 2).sum(),
                                  [lib.tensor([1.0])]),
    lambda lib: lib.autograd.grad((lib.tensor([1.0], requires_grad=True) * 2).sum(),
                                  [lib.tensor([1.0], requires_grad=True)]),
    lambda lib: lib.tensor([1.0]).retain_grad(),
    lambda lib: lib.tensor([1.0]).register_hook(lambda g: g),
], ids=["non-scalar", "no-grad", "grad-shape", "int-requires-grad", "leaf-inplace", "numpy",
        "item", "requires-grad-false-nonleaf", "grad-no-require", "grad-unused",
        "retain-no-grad", "hook-no-grad"])
def test_misuse_raises_torchs_error(program):
    raises_like_torch(program)


def test_inplace_modification_of_saved_tensor():
    def saved_output(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a.exp()
        b.add_(1)
        b.sum().backward()

    def saved_leaf(lib):
        q = lib.tensor([1.0, 2.0], requires_grad=True)
        r = q * q
        with lib.no_grad():
            q.add_(1)
        r.sum().backward()

    raises_like_torch(saved_output)
    raises_like_torch(saved_leaf)


def test_inplace_on_non_leaf_rebases_history():
    def program(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        bb = lib.tensor([3.0, 4.0], requires_grad=True)
        a1 = a * 1
        a1.mul_(bb)
        names = (a1.grad_fn.name(), [n.name() for n, _ in a1.grad_fn.next_functions])
        a1.sum().backward()
        z = a * 1
        z += 1
        return names, a.grad.tolist(), bb.grad.tolist(), z._version, z.grad_fn.name()

    assert both(program)[0] == both(program)[1]


def test_detach_and_data_share_storage():
    def program(lib):
        z = lib.tensor([1.0, 2.0], requires_grad=True)
        w = z.detach()
        w.add_(1)
        d = z.data
        d.mul_(2)
        return z.tolist(), w.requires_grad, d.requires_grad, z._version

    assert both(program)[0] == both(program)[1]


def test_setitem_records_copyslices():
    def program(lib):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        v = lib.tensor(10.0, requires_grad=True)
        k = a * 2
        k[1] = v
        (k * k).sum().backward()
        return k.grad_fn.name(), a.grad.tolist(), v.grad.tolist()

    assert both(program)[0] == both(program)[1]


def test_anomaly_mode_names_the_node():
    def program(lib):
        e = lib.tensor([-1.0, 1.0], requires_grad=True)
        with lib.autograd.detect_anomaly():
            e.sqrt().sum().backward()

    with pytest.raises(RuntimeError) as expected:
        with pytest.warns(UserWarning):
            program(torch)
    with pytest.raises(RuntimeError) as got:
        program(vg)
    first_line = str(got.value).splitlines()[0]
    assert first_line == str(expected.value).splitlines()[0]
    assert "e.sqrt()" in str(got.value)  # the forward call that created the node


# ---- grad mode ------------------------------------------------------------------------------

def test_grad_modes_nest_and_decorate():
    def program(lib):
        x = lib.tensor(1.0, requires_grad=True)
        out = []
        with lib.no_grad():
            out.append((x * 2).requires_grad)
            with lib.enable_grad():
                out.append((x * 2).requires_grad)
            out.append(lib.is_grad_enabled())
        out.append(lib.is_grad_enabled())

        @lib.no_grad()
        def f():
            return (x * 2).requires_grad

        out.append(f())
        with lib.set_grad_enabled(False):
            out.append((x * 2).requires_grad)
        out.append((x * 2).requires_grad)
        return out

    assert both(program)[0] == both(program)[1] == [False, True, False, True, False, False, True]


# ---- autograd.grad and backward(inputs=) ---------------------------------------------------------

def test_autograd_grad_does_not_touch_dot_grad():
    def program(lib):
        u = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        y = (u * w).sum()
        gu, gw = lib.autograd.grad(y, [u, w], retain_graph=True)
        (ga,) = lib.autograd.grad(y, [u], allow_unused=True)
        return gu.tolist(), gw.tolist(), ga.tolist(), u.grad, w.grad

    assert both(program)[0] == both(program)[1]


def test_autograd_grad_of_non_leaf_input():
    def program(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        y = (h ** 2).sum()
        (gh,) = lib.autograd.grad(y, h)
        return gh.tolist()

    assert both(program)[0] == both(program)[1]


def test_backward_inputs_only_accumulates_there():
    def program(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        (x * w).sum().backward(inputs=[w])
        return x.grad, w.grad.tolist()

    assert both(program)[0] == both(program)[1]


# ---- the engine's order of execution ---------------------------------------------------------------

def torch_order(root):
    """The nodes torch's engine runs, in order, by name (prehooks on every node)."""
    order, seen, stack = [], set(), [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        node.register_prehook(lambda go, n=node: order.append(n.name()))
        stack.extend(n for n, _ in node.next_functions)
    root.backward()
    return order


GRAPHS = {
    "l1_l4": lambda lib: l1_l4(lib)["loss"],
    "diamond": lambda lib: (lambda a, b: ((a * b + a) * (a * b)).sum())(
        lib.tensor(2.0, requires_grad=True), lib.tensor(3.0, requires_grad=True)),
    "mlp": lambda lib: (lambda x, w1, w2: ((x @ w1).relu() @ w2).sigmoid().mean())(
        lib.tensor([[1.0, -2.0], [0.5, 3.0]]), lib.tensor([[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]],
                                                          requires_grad=True),
        lib.tensor([[1.0], [-1.0], [0.5]], requires_grad=True)),
    "shared": lambda lib: (lambda x: (x.exp() + x.sin() * x + x.tanh().sum()).sum())(
        lib.tensor([0.1, 0.2], requires_grad=True)),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_step_order_is_torch_engine_order(name):
    expected = torch_order(GRAPHS[name](torch))
    steps = [s.node.name() for s in BackwardIteration([GRAPHS[name](vg)])]
    assert steps == expected


def test_steps_report_gradients_hooks_and_accumulation():
    g = l1_l4(vg)
    g["l1"].retain_grad()
    g["l1"].register_hook(lambda grad: grad * 1)
    g["w1"].grad = vg.tensor(1.0)
    steps = list(BackwardIteration([g["loss"]]))
    by_name = [s.node.name() for s in steps]
    assert by_name[0] == "MeanBackward0"
    assert by_name.count("torch::autograd::AccumulateGrad") == 3
    mean = steps[0]
    assert mean.grads_in[0].item() == 1.0
    (nxt, nr, sent), = mean.grads_out
    assert nxt is g["l4"].grad_fn and nr == 0 and sent.tolist() == [[0.25, 0.25], [0.25, 0.25]]
    l1_step = next(s for s in steps if s.node is g["l1"].grad_fn)
    kinds = [h.kind for h in l1_step.hooks]
    assert kinds == ["tensor", "retain_grad"]
    acc_w1 = next(s for s in steps if s.accumulation and s.accumulation.leaf is g["w1"])
    assert acc_w1.accumulation.before.item() == 1.0
    assert acc_w1.accumulation.contribution.item() == 28.0
    assert acc_w1.accumulation.after.item() == 29.0
    assert g["w1"].grad.item() == 29.0


def test_stepping_and_backward_give_identical_results():
    a, b = l1_l4(vg), l1_l4(vg)
    a["loss"].backward()
    it = BackwardIteration([b["loss"]])
    while not it.done:
        it.step()
    assert it.step() is None
    for w in ("w1", "w2", "w3"):
        assert a[w].grad.item() == b[w].grad.item()


def test_saved_tensors_are_freed_after_backward():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.sum().backward()
    assert y.grad_fn._saved is None
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.grad_fn.saved_tensors  # noqa: B018


# ---- devices ---------------------------------------------------------------------------------

def test_mixing_devices_raises(device):
    if device == "cpu":
        pytest.skip("needs two devices")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        vg.ones(2, device="cuda") + vg.ones(2)


def test_cuda_without_cupy_says_how_to_fix(monkeypatch):
    import builtins

    from visgrad.engine import backend

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    backend.register_backend("cuda", None)
    with pytest.raises(RuntimeError, match=r"pip install visgrad\[gpu\]"):
        vg.ones(2, device="cuda")


def test_device_round_trip(device):
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(device)
    (y * y).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    assert str(y.device) == ("cpu" if device == "cpu" else "cuda:0")
    if device == "cuda":
        with pytest.raises(TypeError, match="Use Tensor.cpu"):
            y.detach().numpy()


def test_pi_constant_is_plain_float():
    assert vg.tensor(math.pi).item() == pytest.approx(math.pi, rel=1e-7)


def _post_accumulate_program(lib):
    log = []
    z = lib.ones(2, requires_grad=True)
    handle = z.register_post_accumulate_grad_hook(lambda t: log.append(t.grad.tolist()))
    lib.autograd.grad((z * 2).sum(), z)  # grad() accumulates nothing: the hook stays quiet
    (z * 2).sum().backward(inputs=[z])
    (z * 3).sum().backward()
    handle.remove()
    (z * 3).sum().backward()
    w = lib.ones(2, requires_grad=True)

    def sgd_in_backward(t):  # the optimizer-in-backward pattern of torch's docs
        with lib.no_grad():
            t.sub_(t.grad * 0.5)
        t.grad = None

    w.register_post_accumulate_grad_hook(sgd_in_backward)
    (w * w).sum().backward()
    facts = [log, w.tolist(), w.grad is None]
    for misuse in (lambda: (z * 2).register_post_accumulate_grad_hook(lambda t: None),
                   lambda: lib.ones(2).register_post_accumulate_grad_hook(lambda t: None)):
        with pytest.raises(RuntimeError) as info:
            misuse()
        facts.append(str(info.value))
    q = lib.ones(2, requires_grad=True)
    q.register_post_accumulate_grad_hook(lambda t: 5)
    with pytest.raises(TypeError) as info:
        (q * 2).sum().backward()
    facts.append(str(info.value))
    return facts


def test_post_accumulate_grad_hooks_fire_after_the_leaf_took_its_gradient_as_in_torch():
    assert _post_accumulate_program(vg) == _post_accumulate_program(torch)


def test_a_post_accumulate_hook_shows_in_the_step_that_fired_it():
    x = vg.ones(2, requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda t: None)
    steps = list(vg.autograd.BackwardIteration([(x * 3).sum()]))
    (fired,) = [h for s in steps for h in s.hooks if h.kind == "post_accumulate"]
    assert fired.target is x and fired.before.tolist() == [3.0, 3.0]


def _anomaly_program(lib):
    facts = []
    for kwargs in ({}, {"check_nan": False}):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's note that anomaly mode is slow
                with lib.autograd.detect_anomaly(**kwargs):
                    facts.append((lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled()))
                    (x / x).sum().backward()
            facts.append([str(v) for v in x.grad.tolist()])
        except RuntimeError as exc:
            facts.append(str(exc).split("\n")[0])
        facts.append((lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled()))
    lib.autograd.set_detect_anomaly(True, check_nan=False)
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    (x / x).sum().backward()
    facts.append([str(v) for v in x.grad.tolist()])
    lib.autograd.set_detect_anomaly(False)
    facts.append((lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled()))
    return facts


def test_anomaly_mode_can_keep_its_traces_and_let_nans_through_as_in_torch():
    """detect_anomaly(check_nan=False) and set_detect_anomaly(mode, check_nan): the nan of
    0/0's gradient fails only while nans are checked."""
    assert _anomaly_program(vg) == _anomaly_program(torch)


def test_calling_a_node_by_hand_returns_what_torch_returns():
    """grad_fn(g): one input's gradient as a tensor, a node of two inputs a tuple."""
    kinds = []
    for lib in (torch, vg):
        x, w = lib.ones(2, requires_grad=True), lib.ones(2, requires_grad=True)
        results = [(x * w), x.exp(), x * 2, x.sum(), x.reshape(2, 1), x[None] @ w[:, None]]
        kinds.append([type(r.grad_fn(lib.ones_like(r))).__name__ for r in results])
    assert kinds[0] == kinds[1] == ["tuple", "Tensor", "tuple", "Tensor", "Tensor", "tuple"]
