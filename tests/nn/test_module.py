"""Module, Parameter, the containers and the layers, against torch.nn's behaviour and text."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

import visgrad as vg
from tests.nn.helpers import close, copy_parameters, graph, pair, same_error


def architecture(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Tanh(), nn.Dropout(0.2)), nn.Softmax(dim=1),
        nn.LogSoftmax(1), nn.Flatten(), nn.Identity(), nn.Sigmoid(),
        nn.Linear(3, 1, bias=False), nn.MSELoss(), nn.L1Loss(reduction="sum"),
        nn.CrossEntropyLoss(weight=lib.ones(2)), nn.NLLLoss(), nn.BCELoss(),
        nn.ReLU(inplace=True), nn.BCEWithLogitsLoss(pos_weight=lib.ones(1)),
        nn.ModuleList([nn.ReLU(), nn.Linear(1, 1)]))


class Net:
    """The same user-defined model in both libraries."""

    @staticmethod
    def make(lib):
        class Model(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh())
                self.head = lib.nn.Linear(4, 2)
                self.scale = lib.nn.Parameter(lib.ones(2))
                self.register_buffer("running", lib.zeros(2))
                self.register_buffer("scratch", lib.zeros(1), persistent=False)
                self.drop = lib.nn.Dropout(0.5)

            def forward(self, x):
                return self.drop(self.head(self.encoder(x))) * self.scale

        return Model()


def test_repr_of_an_architecture_is_torchs():
    assert repr(architecture(vg)) == repr(architecture(torch))
    assert repr(vg.nn.Sequential()) == repr(torch.nn.Sequential()) == "Sequential()"
    assert repr(vg.nn.Module()) == "Module()"
    assert repr(Net.make(vg)) == repr(Net.make(torch))


def test_parameter_repr_and_semantics():
    for values, kwargs in (([1.0, 2.0], {}), ([[0.0, 0.0], [0.0, 0.0]], {}),
                           ([1.0, 1.0], {"requires_grad": False})):
        ours = vg.nn.Parameter(vg.tensor(values), **kwargs)
        theirs = torch.nn.Parameter(torch.tensor(values), **kwargs)
        assert repr(ours) == repr(theirs)
    assert repr(vg.nn.Parameter()) == repr(torch.nn.Parameter())
    assert repr(vg.nn.Parameter(vg.zeros(2, dtype=vg.float64))) == \
        repr(torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)))
    source = vg.tensor([1.0, 2.0])
    p = vg.nn.Parameter(source)
    assert p.is_leaf and p.requires_grad and isinstance(p, vg.Tensor)
    with vg.no_grad():
        p.mul_(2)
    assert source.tolist() == [2.0, 4.0]  # shares storage, as in torch
    assert type(p * 2) is vg.Tensor and type(p.detach()) is vg.Tensor
    assert vg.nn.Parameter(vg.tensor([1.0], requires_grad=True) * 3).is_leaf
    same_error(lambda lib: lib.nn.Parameter(lib.tensor([1, 2])))


def test_registration_and_traversal_match_torch():
    ours, theirs = Net.make(vg), Net.make(torch)
    for name in ("named_parameters", "named_buffers", "named_children", "named_modules"):
        assert [n for n, _ in getattr(ours, name)()] == [n for n, _ in getattr(theirs, name)()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 5
    assert [type(m).__name__ for m in ours.modules()] == \
        [type(m).__name__ for m in theirs.modules()]
    assert [type(m).__name__ for m in ours.children()] == \
        [type(m).__name__ for m in theirs.children()]
    assert [n for n, _ in ours.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in ours.named_parameters(prefix="model")][0] == "model.scale"
    assert ours.get_submodule("encoder.0") is ours.encoder[0]
    assert ours.get_parameter("head.bias") is ours.head.bias
    assert "encoder" in dir(ours) and "scale" in dir(ours)


def test_shared_parameters_are_listed_once():
    for lib in (vg, torch):
        layer = lib.nn.Linear(2, 2)
        model = lib.nn.Sequential(layer, lib.nn.ReLU(), layer)
        assert len(list(model.parameters())) == 2
        assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
        assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_attribute_rules():
    for lib in (vg, torch):
        model = Net.make(lib)
        model.head = None
        assert model.head is None and "head" in model._modules
        model.scale = None
        assert "scale" in model._parameters
        model.running = lib.ones(2)
        assert "running" in model._buffers
        model.plain = 3
        assert model.plain == 3 and "plain" not in model._parameters
        del model.encoder
        assert "encoder" not in model._modules
        model.extra = lib.nn.Parameter(lib.ones(1))
        assert "extra" in model._parameters


MODULE_ERRORS = {
    "missing_attribute": lambda lib: lib.nn.Linear(3, 2).foo,
    "tensor_as_parameter": lambda lib: setattr(lib.nn.Linear(3, 2), "weight", lib.ones(2, 3)),
    "int_as_child": lambda lib: setattr(lib.nn.Sequential(lib.nn.ReLU()), "0", 3),
    "int_as_buffer": lambda lib: setattr(Net.make(lib), "running", 3),
    "buffer_exists": lambda lib: lib.nn.Linear(3, 2).register_buffer("weight", lib.ones(2)),
    "buffer_dot": lambda lib: lib.nn.Linear(3, 2).register_buffer("a.b", lib.ones(2)),
    "buffer_empty": lambda lib: lib.nn.Linear(3, 2).register_buffer("", lib.ones(2)),
    "buffer_non_tensor": lambda lib: lib.nn.Linear(3, 2).register_buffer("c", 3),
    "buffer_name_type": lambda lib: lib.nn.Linear(3, 2).register_buffer(1, lib.ones(1)),
    "parameter_tensor": lambda lib: lib.nn.Linear(3, 2).register_parameter("c", lib.ones(2)),
    "parameter_dot": lambda lib: lib.nn.Linear(3, 2).register_parameter(
        "a.b", lib.nn.Parameter(lib.ones(2))),
    "parameter_exists": lambda lib: lib.nn.Linear(3, 2).register_parameter(
        "in_features", lib.nn.Parameter(lib.ones(2))),
    "module_dot": lambda lib: lib.nn.Linear(3, 2).add_module("e.f", lib.nn.ReLU()),
    "module_empty": lambda lib: lib.nn.Linear(3, 2).add_module("", lib.nn.ReLU()),
    "module_not_module": lambda lib: lib.nn.Linear(3, 2).add_module("g", 3),
    "module_exists": lambda lib: lib.nn.Linear(3, 2).add_module("weight", lib.nn.ReLU()),
    "no_forward": lambda lib: lib.nn.Module()(3),
    "train_mode": lambda lib: lib.nn.Linear(1, 1).train("yes"),
    "sequential_index": lambda lib: lib.nn.Sequential(lib.nn.ReLU())[3],
    "sequential_negative_index": lambda lib: lib.nn.Sequential(lib.nn.ReLU())[-3],
    "to_integer_dtype": lambda lib: lib.nn.Linear(1, 1).to(lib.int64),
    "dropout_p": lambda lib: lib.nn.Dropout(-0.1),
}


@pytest.mark.parametrize("case", list(MODULE_ERRORS))
def test_module_errors_match_torch(case):
    same_error(MODULE_ERRORS[case])


@pytest.mark.parametrize("what", ["module", "parameter", "buffer"])
def test_assigning_before_init_fails_like_torch(what):
    def program(lib):
        class Early(lib.nn.Module):
            def __init__(self):
                if what == "module":
                    self.layer = lib.nn.Linear(1, 1)
                elif what == "parameter":
                    self.w = lib.nn.Parameter(lib.ones(1))
                else:
                    self.register_buffer("b", lib.ones(1))

        return Early()

    same_error(program)


def test_state_dict_round_trip():
    ours, theirs = Net.make(vg), Net.make(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    state = ours.state_dict()
    assert not any(v.requires_grad for v in state.values())
    assert not isinstance(state["scale"], vg.nn.Parameter)
    other = Net.make(vg)
    result = other.load_state_dict(state)
    assert repr(result) == "<All keys matched successfully>"
    for (name, a), (_, b) in zip(ours.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    # the loaded values are copies: changing the source does not change the model
    with vg.no_grad():
        ours.head.weight.add_(1.0)
    assert not np.allclose(ours.head.weight.detach().numpy(), other.head.weight.detach().numpy())
    # state_dict tensors share storage with the parameters, as in torch
    with vg.no_grad():
        ours.head.bias.zero_()
    assert ours.state_dict()["head.bias"].tolist() == [0.0, 0.0]
    assert state["head.bias"].tolist() == [0.0, 0.0]


def test_state_dict_between_libraries_gives_the_same_outputs(rng=np.random.default_rng(1)):
    ours, theirs = Net.make(vg), Net.make(torch)
    ours.load_state_dict({k: vg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = pair(rng.standard_normal((5, 3)), "float32")
    close(ours(x[0]), theirs(x[1]).detach())


def load_program(keys_and_shapes, strict=True, model="linear"):
    def program(lib):
        module = lib.nn.Linear(3, 2) if model == "linear" else lib.nn.Sequential(
            lib.nn.Linear(3, 2))
        state = {k: (lib.zeros(*s) if isinstance(s, tuple) else s)
                 for k, s in keys_and_shapes.items()}
        return repr(module.load_state_dict(state, strict=strict))

    return program


LOAD_ERRORS = {
    "missing": load_program({"weight": (2, 3)}),
    "unexpected": load_program({"weight": (2, 3), "bias": (2,), "x": (1,), "y": (1,)}),
    "both": load_program({"0.weight": (2, 3), "x": (1,)}, model="sequential"),
    "shape": load_program({"0.weight": (3, 3), "0.bias": (5,)}, model="sequential"),
    "shape_and_missing": load_program({"0.weight": (3, 3)}, model="sequential"),
    "shape_not_strict": load_program({"weight": (3, 3)}, strict=False),
    "not_tensor": load_program({"weight": [[1.0, 2.0, 3.0]] * 2, "bias": (2,)}),
    "not_dict": lambda lib: lib.nn.Linear(3, 2).load_state_dict([1]),
    "nested_unexpected": load_program({"0.weight": (2, 3), "0.bias": (2,), "0.extra": (1,),
                                       "1.weight": (1,)}, model="sequential"),
}


@pytest.mark.parametrize("case", list(LOAD_ERRORS))
def test_load_state_dict_errors_match_torch(case):
    same_error(LOAD_ERRORS[case])


def test_load_state_dict_not_strict_reports_keys_like_torch():
    program = load_program({"weight": (2, 3), "x": (1,)}, strict=False)
    assert program(vg) == program(torch)
    assert program(vg) == "_IncompatibleKeys(missing_keys=['bias'], unexpected_keys=['x'])"


def test_train_eval_and_dropout():
    vg.manual_seed(0)
    model = vg.nn.Sequential(vg.nn.Linear(4, 4), vg.nn.Dropout(0.5))
    assert model.training and model[1].training
    x = vg.ones(64, 4)
    assert model.eval() is model
    assert not model.training and not model[1].training
    y1, y2 = model(x), model(x)
    np.testing.assert_array_equal(y1.detach().numpy(), y2.detach().numpy())
    assert model[1](x) is x
    model.train()
    assert model[1].training
    out = model[1](x).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and 0.3 < (out == 0).mean() < 0.7


def test_zero_grad_and_requires_grad_():
    model = vg.nn.Linear(3, 2)
    model(vg.ones(4, 3)).sum().backward()
    grad = model.weight.grad
    model.zero_grad(set_to_none=False)
    assert model.weight.grad is grad and not grad.numpy().any()
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    assert model(vg.ones(1, 3)).grad_fn is None


def test_to_dtype_converts_parameters_in_place():
    for lib in (vg, torch):
        model = lib.nn.Sequential(lib.nn.Linear(2, 2))
        weight = model[0].weight
        model(lib.ones(1, 2)).sum().backward()
        assert model.to(lib.float64) is model
        assert model[0].weight is weight and weight.dtype == lib.float64
        assert weight.grad.dtype == lib.float64
        assert model(lib.ones(1, 2, dtype=lib.float64)).dtype == lib.float64
        model.float()
        assert weight.dtype == lib.float32


def test_forward_hooks():
    model = vg.nn.Linear(2, 1)
    seen = []
    pre = model.register_forward_pre_hook(lambda m, args: seen.append(("pre", args[0].shape)))
    post = model.register_forward_hook(lambda m, args, out: out * 0)
    assert model(vg.ones(3, 2)).tolist() == [[0.0], [0.0], [0.0]]
    assert seen == [("pre", vg.Size([3, 2]))]
    pre.remove()
    post.remove()
    model(vg.ones(3, 2))
    assert len(seen) == 1


def test_apply_visits_every_module():
    names = []
    model = vg.nn.Sequential(vg.nn.Linear(1, 1), vg.nn.Sequential(vg.nn.ReLU()))
    assert model.apply(lambda m: names.append(type(m).__name__)) is model
    assert names == ["Linear", "ReLU", "Sequential", "Sequential"]


# ---- containers ---------------------------------------------------------------------------

def test_sequential_indexing_len_iteration_and_edits():
    for lib in (vg, torch):
        nn = lib.nn
        model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Tanh())
        assert len(model) == 3 and isinstance(model[-1], nn.Tanh)
        assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Tanh"]
        head = model[:2]
        assert isinstance(head, nn.Sequential) and len(head) == 2
        model[1] = nn.Sigmoid()
        assert isinstance(model[1], nn.Sigmoid)
        del model[0]
        assert list(model._modules) == ["0", "1"]
        model.append(nn.Identity())
        assert len(model) == 3
        named = nn.Sequential(OrderedDict([("first", nn.ReLU()), ("second", nn.Tanh())]))
        assert [n for n, _ in named.named_children()] == ["first", "second"]
        assert repr(named) == "Sequential(\n  (first): ReLU()\n  (second): Tanh()\n)"


def test_sequential_forward_matches_torch():
    rng = np.random.default_rng(2)
    ours = vg.nn.Sequential(vg.nn.Linear(3, 5), vg.nn.ReLU(), vg.nn.Linear(5, 2),
                            vg.nn.LogSoftmax(dim=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2),
                                 torch.nn.LogSoftmax(dim=1))
    copy_parameters(theirs, ours)
    x = pair(rng.standard_normal((4, 3)), "float32")
    out_ours, out_theirs = ours(x[0]), theirs(x[1])
    close(out_ours, out_theirs)
    assert graph(out_ours.grad_fn) == graph(out_theirs.grad_fn)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(a.grad, b.grad)


def test_module_list():
    layers = vg.nn.ModuleList([vg.nn.Linear(1, 1), vg.nn.ReLU()])
    layers.append(vg.nn.Tanh())
    assert len(layers) == 3 and isinstance(layers[-1], vg.nn.Tanh)
    assert len(list(layers.parameters())) == 2
    assert repr(layers) == repr(torch.nn.ModuleList([torch.nn.Linear(1, 1), torch.nn.ReLU(),
                                                     torch.nn.Tanh()]))


# ---- layers -------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda nn: nn.Flatten(), lambda nn: nn.Flatten(0, 1), lambda nn: nn.Identity(3, k=1),
    lambda nn: nn.Softmax(dim=-1), lambda nn: nn.LogSoftmax(dim=0), lambda nn: nn.Tanh(),
    lambda nn: nn.Sigmoid(), lambda nn: nn.ReLU(),
])
def test_parameterless_layers_match_torch(make):
    rng = np.random.default_rng(4)
    x = pair(rng.standard_normal((2, 3, 4)), "float32", requires_grad=True)
    ours, theirs = make(vg.nn)(x[0]), make(torch.nn)(x[1])
    close(ours, theirs)
    assert graph(ours.grad_fn) == graph(theirs.grad_fn)
    assert repr(make(vg.nn)) == repr(make(torch.nn))


@pytest.mark.parametrize("make", [
    lambda nn, lib: nn.MSELoss(reduction="sum"), lambda nn, lib: nn.L1Loss(),
    lambda nn, lib: nn.BCELoss(weight=lib.full((3,), 2.0)),
    lambda nn, lib: nn.BCEWithLogitsLoss(pos_weight=lib.full((3,), 3.0)),
])
def test_regression_and_binary_loss_modules(make):
    rng = np.random.default_rng(6)
    x = pair(rng.uniform(0.1, 0.9, (4, 3)), "float32", requires_grad=True)
    t = pair(rng.random((4, 3)), "float32")
    ours, theirs = make(vg.nn, vg)(x[0], t[0]), make(torch.nn, torch)(x[1], t[1])
    close(ours, theirs)
    assert graph(ours.grad_fn) == graph(theirs.grad_fn)
    assert list(make(vg.nn, vg).state_dict()) == list(make(torch.nn, torch).state_dict())


@pytest.mark.parametrize("make", [
    lambda nn, lib: nn.CrossEntropyLoss(), lambda nn, lib: nn.CrossEntropyLoss(
        weight=lib.tensor([1.0, 2.0, 0.5]), ignore_index=0, label_smoothing=0.1),
    lambda nn, lib: nn.NLLLoss(reduction="none"),
])
def test_class_loss_modules(make):
    rng = np.random.default_rng(7)
    x = pair(rng.standard_normal((5, 3)), "float32", requires_grad=True)
    t = pair(np.array([0, 2, 1, 1, 2]))
    ours, theirs = make(vg.nn, vg)(x[0], t[0]), make(torch.nn, torch)(x[1], t[1])
    close(ours, theirs)
    assert graph(ours.grad_fn) == graph(theirs.grad_fn)


def test_linear_module_forward_backward_and_no_bias():
    rng = np.random.default_rng(8)
    for bias in (True, False):
        ours, theirs = vg.nn.Linear(3, 2, bias=bias), torch.nn.Linear(3, 2, bias=bias)
        copy_parameters(theirs, ours)
        assert (ours.bias is None) == (not bias)
        x = pair(rng.standard_normal((4, 3)), "float32", requires_grad=True)
        out_ours, out_theirs = ours(x[0]), theirs(x[1])
        close(out_ours, out_theirs)
        assert graph(out_ours.grad_fn) == graph(out_theirs.grad_fn)
        out_ours.pow(2).sum().backward()
        out_theirs.pow(2).sum().backward()
        close(ours.weight.grad, theirs.weight.grad)
        close(x[0].grad, x[1].grad)
    layer = vg.nn.Linear(2, 2, dtype=vg.float64)
    assert layer.weight.dtype == vg.float64 and layer.bias.dtype == vg.float64
