"""Every optimizer against torch.optim: the same start, 100 steps, parameters equal at every step
(1e-5 in float32, 1e-10 in float64); then the Optimizer API: groups, state, errors."""

import numpy as np
import pytest
import torch

import visgrad as vg
from tests.nn.helpers import close, copy_parameters, same_error

STEPS = 100
TOL = {"float32": 1e-5, "float64": 1e-10}

CONFIGS = {
    "SGD": [
        {"lr": 1e-3},
        {"lr": 1e-3, "momentum": 0.9},
        {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
        {"lr": 1e-3, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1},
        {"lr": 1e-3, "momentum": 0.5, "weight_decay": 0.01, "maximize": True},
    ],
    "Adam": [
        {"lr": 1e-2},
        {"lr": 1e-2, "amsgrad": True},
        {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
        {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.05, "maximize": True},
    ],
    "AdamW": [
        {"lr": 1e-2},
        {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.1},
        {"lr": 1e-2, "maximize": True},
    ],
    "RMSprop": [
        {"lr": 1e-3},
        {"lr": 1e-3, "alpha": 0.9, "centered": True},
        {"lr": 1e-3, "momentum": 0.9, "centered": True},
        {"lr": 1e-3, "momentum": 0.5, "centered": True, "weight_decay": 0.1, "eps": 1e-4},
        {"lr": 1e-3, "maximize": True, "momentum": 0.3},
    ],
    "Adagrad": [
        {"lr": 0.05},
        {"lr": 0.05, "lr_decay": 0.01},
        {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.1, "weight_decay": 0.1},
        {"lr": 0.05, "eps": 1e-6, "maximize": True},
    ],
}
CASES = [(name, kwargs) for name, configs in CONFIGS.items() for kwargs in configs]


def case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


# ---- two problems, each built the same way in both libraries --------------------------------

def rosenbrock(lib, params, sign):
    (x,) = params
    return sign * (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


class Problem:
    """Leaves in both libraries with the same values, and the loss written once for both."""

    def __init__(self, kind: str, dtype: str, sign: float):
        rng = np.random.default_rng(0)
        self.kind, self.sign = kind, sign
        if kind == "rosenbrock":
            start = rng.uniform(-1.0, 1.5, 6).astype(dtype)
            self.ours = [vg.tensor(start.copy(), requires_grad=True)]
            self.theirs = [torch.tensor(start.copy(), requires_grad=True)]
        else:
            torch.manual_seed(0)
            self.torch_model = torch.nn.Sequential(
                torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).to(
                    getattr(torch, dtype))
            self.vg_model = vg.nn.Sequential(
                vg.nn.Linear(3, 8), vg.nn.Tanh(), vg.nn.Linear(8, 1)).to(getattr(vg, dtype))
            copy_parameters(self.torch_model, self.vg_model)
            self.ours = list(self.vg_model.parameters())
            self.theirs = list(self.torch_model.parameters())
            x = rng.standard_normal((16, 3)).astype(dtype)
            y = (np.sin(x.sum(1, keepdims=True)) + 0.1 * x[:, :1] ** 2).astype(dtype)
            self.data = {vg: (vg.tensor(x), vg.tensor(y)), torch: (torch.tensor(x),
                                                                   torch.tensor(y))}

    def loss(self, lib):
        params = self.ours if lib is vg else self.theirs
        if self.kind == "rosenbrock":
            return rosenbrock(lib, params, self.sign)
        model = self.vg_model if lib is vg else self.torch_model
        x, y = self.data[lib]
        return self.sign * lib.nn.functional.mse_loss(model(x), y)


def train_both(problem, make_ours, make_theirs, steps=STEPS, schedulers=None, check=None):
    """Run both, comparing every parameter after every step with ``check(step)``."""
    opt_ours, opt_theirs = make_ours(problem.ours), make_theirs(problem.theirs)
    sched_ours, sched_theirs = schedulers(opt_ours, opt_theirs) if schedulers else (None, None)
    for step in range(steps):
        for opt, lib in ((opt_ours, vg), (opt_theirs, torch)):
            opt.zero_grad()
            problem.loss(lib).backward()
            opt.step()
        if sched_ours is not None:
            sched_ours.step()
            sched_theirs.step()
            assert sched_ours.get_last_lr() == pytest.approx(sched_theirs.get_last_lr(),
                                                             rel=1e-12, abs=0)
        check(step, opt_ours, opt_theirs)
    return opt_ours, opt_theirs


def parameters_agree(problem, tol):
    """A fast per-step check (all parameters at once); ``close`` explains a failure."""
    def check(step, opt_ours, opt_theirs):
        ours = np.concatenate([p._data.reshape(-1) for p in problem.ours])
        theirs = np.concatenate([p.detach().numpy().reshape(-1) for p in problem.theirs])
        assert ours.dtype == theirs.dtype
        if np.all(np.abs(ours - theirs) <= tol + tol * np.abs(theirs)):
            return
        for a, b in zip(problem.ours, problem.theirs):
            try:
                close(a, b, tol)
            except AssertionError as exc:
                raise AssertionError(f"parameters differ after step {step + 1}") from exc

    return check


def runs():
    """The first option combination of each optimizer on both problems in both dtypes; the
    others alternately on Rosenbrock in float64 and on the MLP in float32 (to keep the suite
    fast: each run is 100 steps in both libraries)."""
    seen = set()
    for i, (name, kwargs) in enumerate(CASES):
        problems = [("rosenbrock", "float64") if i % 2 else ("mlp", "float32")]
        if name not in seen:
            problems = [("rosenbrock", "float64"), ("mlp", "float32"), ("rosenbrock", "float32"),
                        ("mlp", "float64")]
            seen.add(name)
        for kind, dtype in problems:
            yield pytest.param(name, kwargs, kind, dtype,
                               id=f"{kind}-{dtype}-{case_id((name, kwargs))}")


@pytest.mark.parametrize("name, kwargs, kind, dtype", list(runs()))
def test_optimizer_matches_torch_for_100_steps(name, kwargs, kind, dtype):
    problem = Problem(kind, dtype, sign=-1.0 if kwargs.get("maximize") else 1.0)
    opt_ours, opt_theirs = train_both(
        problem, lambda ps: getattr(vg.optim, name)(ps, **kwargs),
        lambda ps: getattr(torch.optim, name)(ps, **kwargs), check=parameters_agree(
            problem, TOL[dtype]))
    # the state reached is torch's: the same keys, values and step counts (in float32 the
    # Rosenbrock valley's steep gradients magnify the parameters' last-bit differences)
    state_tol = 1e-2 if (kind, dtype) == ("rosenbrock", "float32") else TOL[dtype] * 10
    for a, b in zip(problem.ours, problem.theirs):
        ours, theirs = opt_ours.state[a], opt_theirs.state[b]
        assert list(ours) == list(theirs)
        for key in theirs:
            close(ours[key], theirs[key], state_tol)


def test_parameter_groups_with_their_own_options():
    problem = Problem("mlp", "float32", 1.0)

    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:], "lr": 0.05, "momentum": 0.5}]

    opt_ours, opt_theirs = train_both(
        problem, lambda ps: vg.optim.SGD(groups(ps), lr=0.01, momentum=0.9),
        lambda ps: torch.optim.SGD(groups(ps), lr=0.01, momentum=0.9), steps=30,
        check=parameters_agree(problem, 1e-5))
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt_ours.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in opt_theirs.param_groups]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_param_groups_have_torchs_defaults_and_repr(name):
    ours = getattr(vg.optim, name)([vg.ones(1, requires_grad=True)])
    theirs = getattr(torch.optim, name)([torch.ones(1, requires_grad=True)])
    assert [{k: v for k, v in g.items() if k != "params"} for g in ours.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in theirs.param_groups]
    assert ours.defaults == theirs.defaults
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name, kwargs", [("SGD", {"lr": 0.01, "momentum": 0.9}),
                                          ("Adam", {"lr": 0.01, "amsgrad": True}),
                                          ("RMSprop", {"momentum": 0.5, "centered": True}),
                                          ("Adagrad", {"lr_decay": 0.1})])
def test_state_dict_round_trip_continues_like_torch(name, kwargs):
    problem = Problem("mlp", "float64", 1.0)
    opt_ours, opt_theirs = train_both(
        problem, lambda ps: getattr(vg.optim, name)(ps, **kwargs),
        lambda ps: getattr(torch.optim, name)(ps, **kwargs), steps=5,
        check=lambda *args: None)
    state_ours, state_theirs = opt_ours.state_dict(), opt_theirs.state_dict()
    assert state_ours["param_groups"] == state_theirs["param_groups"]
    assert list(state_ours["state"]) == list(state_theirs["state"])
    for index, entry in state_theirs["state"].items():
        assert list(state_ours["state"][index]) == list(entry)
        for key, value in entry.items():
            close(state_ours["state"][index][key], value)
    # a fresh optimizer loaded from the state dict continues exactly where the first was
    fresh = getattr(vg.optim, name)(problem.ours, **kwargs)
    fresh.load_state_dict(state_ours)
    assert fresh.state_dict()["param_groups"] == state_ours["param_groups"]
    for opt, lib in ((fresh, vg), (opt_theirs, torch)):
        for _ in range(5):
            opt.zero_grad()
            problem.loss(lib).backward()
            opt.step()
    for a, b in zip(problem.ours, problem.theirs):
        close(a, b)
    # loading copies the tensors: the original optimizer's state did not move
    first = state_ours["state"][0]
    assert all(first[k] is not fresh.state[problem.ours[0]][k] for k in first)


def test_zero_grad_set_to_none_and_to_zero():
    w = vg.tensor([1.0, 2.0], requires_grad=True)
    opt = vg.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    grad = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None
    opt.step()  # no gradient: nothing moves
    assert w.tolist() == [1.0, 2.0]


def test_step_with_closure_returns_the_loss_and_records_under_no_grad_elsewhere():
    w = vg.tensor([3.0], requires_grad=True)
    opt = vg.optim.SGD([w], lr=0.1)
    seen = {}

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        seen["grad_enabled"] = vg.is_grad_enabled()
        loss.backward()
        return loss

    with vg.no_grad():
        loss = opt.step(closure)
    assert seen["grad_enabled"] and loss.item() == 9.0
    assert w.tolist() == pytest.approx([2.4])
    assert vg.is_grad_enabled()


def test_step_is_an_inplace_change_that_invalidates_saved_graphs():
    def program(lib):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        opt = lib.optim.SGD([w], lr=0.1)
        y = (w * w).sum()
        (w * 3).sum().backward()
        opt.step()
        y.backward()

    error = same_error(program)
    assert "modified by an inplace operation" in str(error)


def test_step_hooks_run_around_each_step():
    w = vg.tensor([1.0], requires_grad=True)
    opt = vg.optim.Adam([w])
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    post = opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    opt.step()
    pre.remove()
    post.remove()
    opt.step()
    assert calls == ["pre", "post"]


def test_add_param_group_later_and_named_parameters():
    model = vg.nn.Linear(2, 1)
    opt = vg.optim.Adam([model.weight], lr=0.1)
    opt.add_param_group({"params": model.bias, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    named = vg.optim.SGD(model.named_parameters(), lr=0.1)
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


OPTIMIZER_ERRORS = {
    "empty": lambda lib: lib.optim.SGD([], lr=0.1),
    "tensor_not_iterable": lambda lib: lib.optim.SGD(lib.ones(2, requires_grad=True)),
    "non_leaf": lambda lib: lib.optim.SGD([lib.ones(2, requires_grad=True) * 2], lr=0.1),
    "not_tensor": lambda lib: lib.optim.SGD([1.0], lr=0.1),
    "set": lambda lib: lib.optim.SGD([{"params": {lib.ones(1, requires_grad=True)}}], lr=0.1),
    "lr": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)], lr=-0.1),
    "momentum": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)], momentum=-1),
    "sgd_weight_decay": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)],
                                                  weight_decay=-1),
    "nesterov": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)], nesterov=True),
    "nesterov_dampening": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)],
                                                    momentum=0.9, dampening=0.1,
                                                    nesterov=True),
    "adam_lr": lambda lib: lib.optim.Adam([lib.ones(1, requires_grad=True)], lr=-1e-3),
    "adam_eps": lambda lib: lib.optim.Adam([lib.ones(1, requires_grad=True)], eps=-1.0),
    "adam_beta0": lambda lib: lib.optim.Adam([lib.ones(1, requires_grad=True)],
                                             betas=(1.0, 0.999)),
    "adam_beta1": lambda lib: lib.optim.Adam([lib.ones(1, requires_grad=True)],
                                             betas=(0.9, -0.1)),
    "adam_beta_types": lambda lib: lib.optim.Adam([lib.ones(1, requires_grad=True)],
                                                  betas=(0, 0.9)),
    "adamw_weight_decay": lambda lib: lib.optim.AdamW([lib.ones(1, requires_grad=True)],
                                                      weight_decay=-0.5),
    "rmsprop_alpha": lambda lib: lib.optim.RMSprop([lib.ones(1, requires_grad=True)], alpha=-1),
    "rmsprop_momentum": lambda lib: lib.optim.RMSprop([lib.ones(1, requires_grad=True)],
                                                      momentum=-1),
    "rmsprop_eps": lambda lib: lib.optim.RMSprop([lib.ones(1, requires_grad=True)], eps=-1),
    "adagrad_lr_decay": lambda lib: lib.optim.Adagrad([lib.ones(1, requires_grad=True)],
                                                      lr_decay=-1),
    "adagrad_initial": lambda lib: lib.optim.Adagrad([lib.ones(1, requires_grad=True)],
                                                     initial_accumulator_value=-1),
    "adagrad_eps": lambda lib: lib.optim.Adagrad([lib.ones(1, requires_grad=True)], eps=-1),
    "overlap": lambda lib: lib.optim.SGD(
        [{"params": [w]}, {"params": [w]}] if (w := lib.ones(1, requires_grad=True)) is not None
        else None, lr=0.1),
    "group_not_dict": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)],
                                                lr=0.1).add_param_group([1]),
    "load_groups": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)]).load_state_dict(
        {"state": {}, "param_groups": []}),
    "load_sizes": lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True)]).load_state_dict(
        {"state": {}, "param_groups": [{"params": [0, 1]}]}),
}


@pytest.mark.parametrize("case", list(OPTIMIZER_ERRORS))
def test_optimizer_errors_match_torch(case):
    same_error(OPTIMIZER_ERRORS[case])


def test_duplicate_parameters_warn():
    w = vg.ones(1, requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        vg.optim.SGD([w, w], lr=0.1)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_zero_dimensional_parameters(case):
    name, kwargs = case
    sign = -1.0 if kwargs.get("maximize") else 1.0
    leaves = {vg: vg.tensor(0.5, requires_grad=True), torch: torch.tensor(0.5,
                                                                         requires_grad=True)}
    opts = {lib: getattr(lib.optim, name)([leaves[lib]], **kwargs) for lib in (vg, torch)}
    for _ in range(10):
        for lib in (vg, torch):
            opts[lib].zero_grad()
            (sign * (leaves[lib] - 2) ** 2).backward()
            opts[lib].step()
        close(leaves[vg].detach(), leaves[torch].detach())
        assert leaves[vg].shape == ()


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_same_gradients_give_the_same_float32_updates(case):
    """With identical gradients (set directly, so no forward/backward rounding enters), each
    update is torch's float32 arithmetic, operation for operation: a few ulps after 100 steps."""
    name, kwargs = case
    rng = np.random.default_rng(9)
    start = rng.standard_normal(7).astype(np.float32)
    grads = (rng.standard_normal((STEPS, 7)) * np.logspace(-3, 1, 7)).astype(np.float32)
    leaves = {vg: vg.tensor(start.copy(), requires_grad=True),
              torch: torch.tensor(start.copy(), requires_grad=True)}
    opts = {lib: getattr(lib.optim, name)([leaves[lib]], **kwargs) for lib in (vg, torch)}
    worst = 0.0
    for g in grads:
        leaves[vg].grad = vg.tensor(g.copy())
        leaves[torch].grad = torch.tensor(g.copy())
        opts[vg].step()
        opts[torch].step()
        ours, theirs = leaves[vg].detach().numpy(), leaves[torch].detach().numpy()
        worst = max(worst, float(np.max(np.abs(ours - theirs) / (np.abs(theirs) + 1e-3))))
    # SGD has no square root: bit for bit. torch's vectorised float32 sqrt is not correctly
    # rounded (numpy's is), so the adaptive methods may differ by an ulp in their denominators,
    # which 100 steps (and weight decay's feedback) grow to a few parts in a million at most.
    assert worst == 0 if name == "SGD" else worst < 5e-6, worst
