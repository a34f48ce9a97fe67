"""``Optimizer``: parameter groups, per-parameter state, zero_grad and (de)serialisation.

# NOTE [updates on arrays]
Subclasses update parameters in place on their backend arrays (``p._data`` through
``p._backend.xp``, numpy or CuPy), under no_grad, following torch's single-tensor ("for-loop")
implementations operation by operation, so that float32 results round as torch's do. Every
in-place write bumps the tensor's version counter, as torch's in-place ops do, so a graph that
saved a parameter before ``step()`` refuses to backward through the stale value.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from itertools import chain

from visgrad.engine import grad_mode
from visgrad.engine.autograd import RemovableHandle, bump_version
from visgrad.engine.tensor import Tensor
from visgrad.nn.module import typename, zero_grad_of


class _RequiredParameter:
    """Marks an optimizer default that every parameter group must set."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def scalar(value) -> float:
    """A hyperparameter as a Python number (a one-element tensor is read once)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        return value.item()
    return value


def bump(t: Tensor) -> None:
    """Record an in-place change of ``t``'s storage (torch's version counter)."""
    bump_version(t)


# NOTE [fused multiply-add]
# torch's CPU kernels for ``add(other, alpha=)``, ``lerp`` and ``addcmul`` compute ``a * b + c``
# with one rounding (a fused multiply-add). For float32 arrays ``muladd`` does the same: the
# product of two float32 values is exact in float64, so rounding ``a * b + c`` computed in
# float64 back to float32 is the fused result. (Float64 arrays round twice; the difference is
# far below anything a float64 comparison looks at.) Scalars are first rounded to the array's
# dtype, as torch converts a Python number to the tensor's dtype.

def muladd(a, b, c, dtype):
    """``a * b + c`` rounded once to ``dtype``; a, b, c are arrays or Python numbers."""
    if dtype.itemsize >= 8:
        return a * b + c
    a, b, c = (x.astype("float64") if hasattr(x, "astype") else float(dtype.type(x))
               for x in (a, b, c))
    return (a * b + c).astype(dtype)


def lerp_(target, end, weight: float) -> None:
    """In place ``target + weight * (end - target)``, in torch's two-sided fused form."""
    dtype = target.dtype
    diff = end - target
    if abs(weight) < 0.5:
        target[...] = muladd(weight, diff, target, dtype)
    else:
        target[...] = muladd(dtype.type(weight) - dtype.type(1), diff, end, dtype)


def addcmul_(target, t1, t2, value: float) -> None:
    """In place ``target + value * t1 * t2`` (the last multiply-add fused)."""
    target[...] = muladd(value * t1, t2, target, target.dtype)


def _hooked_step(step):
    """Wrap a subclass's ``step``: no_grad around it, step hooks, and the flag schedulers read."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if self.__dict__.get("_in_step"):
            return step(self, *args, **kwargs)
        for hook in list(self._step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                args, kwargs = result
        self._opt_called = True
        self._in_step = True
        try:
            with grad_mode.no_grad():
                out = step(self, *args, **kwargs)
        finally:
            self._in_step = False
        for hook in list(self._step_post_hooks.values()):
            hook(self, args, kwargs)
        return out

    return wrapper


class Optimizer:
    """Base class of the optimizers: holds ``param_groups`` (dicts with every default filled in)
    and ``state`` (per parameter).

    >>> import visgrad as vg
    >>> w = vg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = vg.optim.SGD([w], lr=0.1)
    >>> (w ** 2).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _hooked_step(cls.__dict__["step"])

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        self._step_pre_hooks: OrderedDict = OrderedDict()
        self._step_post_hooks: OrderedDict = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {typename(params)}")
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (the others come from defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            param_group["params"] = list(params)
        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        for param in tensors:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + typename(param))
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                zero_grad_of(p, set_to_none)

    def step(self, closure=None):
        raise NotImplementedError

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with grad_mode.enable_grad():
            return closure()

    # ---- hooks ---------------------------------------------------------------------------
    def register_step_pre_hook(self, hook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs before each ``step()``."""
        handle = RemovableHandle(self._step_pre_hooks)
        self._step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs after each ``step()``."""
        handle = RemovableHandle(self._step_post_hooks)
        self._step_post_hooks[handle.id] = hook
        return handle

    # ---- state dict ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``;
        parameters are replaced by their position, counted across groups."""
        mapping: dict[int, int] = {}
        start = 0

        def pack(group: dict) -> dict:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load state saved by ``state_dict()``; tensors are copied (cast to each parameter's
        dtype and device, except ``step``), so two optimizers never share state buffers."""
        groups = self.param_groups
        saved_groups = [dict(g) for g in state_dict["param_groups"]]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, key=None):
            if isinstance(value, Tensor):
                if key == "step":
                    return value.clone()
                if param.is_floating_point():
                    return value.to(dtype=param.dtype, device=param.device).clone()
                return value.to(device=param.device).clone()
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            return value

        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v)
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    def __getstate__(self) -> dict:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}


def check_unsupported(defaults: dict) -> None:
    """Modes that change what step() computes and that visgrad does not implement."""
    if defaults.get("differentiable"):
        raise NotImplementedError("visgrad's optimizers do not support differentiable=True")
    if defaults.get("fused"):
        raise NotImplementedError("visgrad's optimizers do not support fused=True; the default "
                                  "for-loop implementation gives the same updates")
