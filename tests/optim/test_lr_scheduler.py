"""Schedulers against torch.optim.lr_scheduler: the same learning rates at every step (to the
last bit: the arithmetic is the same Python floats), the same parameters, the same state."""

import math

import pytest
import torch

import visgrad as vg
from tests.optim.test_optimizers import Problem, parameters_agree, train_both

SCHEDULERS = {
    "StepLR": {"step_size": 7, "gamma": 0.5},
    "MultiStepLR": {"milestones": [5, 12, 12, 40], "gamma": 0.6},
    "LinearLR": {"start_factor": 0.25, "total_iters": 9},
    "LambdaLR": {"lr_lambda": lambda epoch: 0.95 ** epoch / (1 + epoch % 3)},
    "ExponentialLR": {"gamma": 0.97},
    "CosineAnnealingLR": {"T_max": 30, "eta_min": 1e-3},
}


def groups(params):
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.05}]


@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scheduler_matches_torch_for_100_steps(name, dtype):
    kwargs = SCHEDULERS[name]
    problem = Problem("mlp", dtype, 1.0)

    def schedulers(opt_ours, opt_theirs):
        return (getattr(vg.optim.lr_scheduler, name)(opt_ours, **kwargs),
                getattr(torch.optim.lr_scheduler, name)(opt_theirs, **kwargs))

    tol = {"float32": 1e-5, "float64": 1e-10}[dtype]
    made = {}

    def make(lib):
        def build(params):
            made[lib] = lib.optim.SGD(groups(params), lr=0.1, momentum=0.9)
            return made[lib]
        return build

    train_both(problem, make(vg), make(torch), schedulers=schedulers,
               check=parameters_agree(problem, tol))
    assert [g["lr"] for g in made[vg].param_groups] == \
        [g["lr"] for g in made[torch].param_groups]
    assert [g["initial_lr"] for g in made[vg].param_groups] == [0.1, 0.05]


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_state_dict_is_torchs(name):
    kwargs = SCHEDULERS[name]
    made = []
    for lib in (vg, torch):
        opt = lib.optim.SGD([lib.ones(1, requires_grad=True)], lr=0.1)
        sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
        for _ in range(12):
            opt.step()
            sched.step()
        made.append(sched)
    ours, theirs = (s.state_dict() for s in made)
    assert list(ours) == list(theirs)
    for key in theirs:
        numbers = isinstance(theirs[key], list) and all(
            isinstance(v, int | float) for v in theirs[key])  # (LambdaLR's are None)
        if numbers:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-15, abs=0), key
        else:
            assert ours[key] == theirs[key], key
    # a scheduler restored from the state dict continues the same schedule
    opt = vg.optim.SGD([vg.ones(1, requires_grad=True)], lr=0.1)
    restored = getattr(vg.optim.lr_scheduler, name)(opt, **kwargs)
    restored.load_state_dict(made[0].state_dict())
    opt.param_groups[0]["lr"] = made[0].get_last_lr()[0]
    for _ in range(5):
        made[0].optimizer.step()
        made[0].step()
        opt.step()
        restored.step()
        assert restored.get_last_lr() == made[0].get_last_lr()


def test_cosine_annealing_closed_form_with_epoch_argument():
    lrs = {}
    for lib in (vg, torch):
        opt = lib.optim.SGD([lib.ones(1, requires_grad=True)], lr=0.1)
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        opt.step()
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
            sched.step(7)
        lrs[lib] = sched.get_last_lr()
    assert lrs[vg] == lrs[torch]
    assert lrs[vg][0] == pytest.approx(0.05 * (1 + math.cos(math.pi * 7 / 10)))


@pytest.mark.parametrize("name", ["MultiStepLR", "LinearLR", "LambdaLR"])
@pytest.mark.parametrize("epoch", [0, 3, 5, 12, 30])
def test_closed_forms_with_an_epoch_argument_match_torch(name, epoch):
    lrs = {}
    for lib in (vg, torch):
        opt = lib.optim.SGD([lib.ones(1, requires_grad=True)], lr=0.1)
        sched = getattr(lib.optim.lr_scheduler, name)(opt, **SCHEDULERS[name])
        opt.step()
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
            sched.step(epoch)
        lrs[lib] = sched.get_last_lr()
    assert lrs[vg] == pytest.approx(lrs[torch], rel=1e-15)


class Halving:
    """A callable object: its attributes are what LambdaLR's state dict keeps."""

    def __init__(self) -> None:
        self.factor = 0.5

    def __call__(self, epoch: int) -> float:
        return self.factor ** epoch


def test_lambda_lr_keeps_a_callable_objects_state_and_checks_the_count():
    states = {}
    for lib in (vg, torch):
        params = [lib.ones(1, requires_grad=True), lib.ones(1, requires_grad=True)]
        opt = lib.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=1.0)
        sched = lib.optim.lr_scheduler.LambdaLR(opt, [Halving(), lambda epoch: 1.0])
        sched.lr_lambdas[0].factor = 0.25
        states[lib] = sched.state_dict()["lr_lambdas"]
        other = lib.optim.lr_scheduler.LambdaLR(opt, [Halving(), lambda epoch: 1.0])
        other.load_state_dict(sched.state_dict())
        assert other.lr_lambdas[0].factor == 0.25
    assert states[vg] == states[torch] == [{"factor": 0.25}, None]
    from tests.nn.helpers import same_error

    same_error(lambda lib: lib.optim.lr_scheduler.LambdaLR(
        lib.optim.SGD([lib.ones(1, requires_grad=True)]), [lambda e: 1.0, lambda e: 2.0]))
    same_error(lambda lib: lib.optim.lr_scheduler.LinearLR(
        lib.optim.SGD([lib.ones(1, requires_grad=True)]), start_factor=0))
    same_error(lambda lib: lib.optim.lr_scheduler.LinearLR(
        lib.optim.SGD([lib.ones(1, requires_grad=True)]), end_factor=1.5))


def test_step_lr_closed_form_and_exponential_values():
    opt = vg.optim.SGD([vg.ones(1, requires_grad=True)], lr=1.0)
    sched = vg.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    seen = []
    for _ in range(3):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr()[0])
    assert seen == [0.5, 0.25, 0.125] and opt.param_groups[0]["lr"] == 0.125


def test_warns_when_the_scheduler_steps_before_the_optimizer():
    opt = vg.optim.SGD([vg.ones(1, requires_grad=True)], lr=0.1)
    sched = vg.optim.lr_scheduler.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before"):
        sched.step()


def test_get_lr_outside_step_warns_and_get_last_lr_does_not():
    opt = vg.optim.SGD([vg.ones(1, requires_grad=True)], lr=0.1)
    sched = vg.optim.lr_scheduler.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()
    assert sched.get_last_lr() == [0.1]


def test_scheduler_errors_match_torch():
    from tests.nn.helpers import same_error

    same_error(lambda lib: lib.optim.lr_scheduler.StepLR(object(), step_size=1))
    same_error(lambda lib: lib.optim.lr_scheduler.StepLR(
        lib.optim.SGD([lib.ones(1, requires_grad=True)]), step_size=1, last_epoch=3))
