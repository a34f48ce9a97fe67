"""The stepper: states, events in the engine's order (as torch's), mapping to the document,
chain-rule texts, hooks, accumulation, and engine errors as events."""

import numpy as np
import pytest
import torch

import visgrad as vg
from visgrad.document import GraphDocument, Hook, Session, examples
from visgrad.document.operations import AddHook, SetParam
from visgrad.document.session import BackwardStepEvent, ForwardStep, StepError
from tests.document.torch_order import torch_backward_order


def l1_l4_torch():
    data = torch.ones(2, 2)
    w1, w2, w3 = (torch.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    l1 = data * w1
    l2 = l1 + w2
    l3 = l1 * w3
    return (l2 * l3).mean(), (w1, w2, w3), l1


def record(session):
    seen = []
    for name in ("state_changed", "forward_step", "backward_step", "error", "log"):
        session.events[name].connect(lambda event, name=name: seen.append((name, event)))
    return seen


def test_states_and_forward_steps_in_topological_order():
    session = Session(examples.load("l1_l4_network"))
    seen = record(session)
    assert session.state == "edited"
    steps = []
    while (step := session.step_forward()) is not None:
        assert isinstance(step, ForwardStep)
        steps.append(step)
    assert session.state == "forward_done"
    assert [s.label for s in steps] == ["input", "w1", "w2", "w3", "l1", "l2", "l3", "l4",
                                        "loss"]
    assert [s.grad_fn for s in steps][4:] == ["MulBackward0", "AddBackward0", "MulBackward0",
                                              "MulBackward0", "MeanBackward0"]
    assert steps[-1].text == "loss = 40.0  (grad_fn=MeanBackward0)"
    assert float(steps[4].outputs["out"].sum()) == 8.0
    states = [(e.old, e.new) for name, e in seen if name == "state_changed"]
    assert states == [("edited", "forward_in_progress"), ("forward_in_progress",
                                                          "forward_done")]
    assert session.step_forward() is None  # done stays done


def test_backward_steps_follow_torchs_engine_order():
    session = Session(examples.load("l1_l4_network"))
    events = []
    while (step := session.step_backward()) is not None:
        assert isinstance(step, BackwardStepEvent)
        events.append(step)
    assert session.state == "backward_done"
    loss, _, _ = l1_l4_torch()
    assert [e.grad_fn for e in events] == torch_backward_order(loss)
    assert [e.label for e in events] == ["loss", "l4", "l3", "w3", "l2", "w2", "l1", "w1"]
    assert [e.index for e in events] == list(range(8))


@pytest.mark.parametrize("name", ["chain_rule", "custom_functions", "detach_and_no_grad",
                                  "polynomial_accumulation", "mlp_classifier"])
def test_engine_order_matches_torch_for_examples(name):
    session = Session(examples.load(name))
    names = []
    session.events.backward_step.connect(lambda event: names.append(event.step.grad_fn))
    assert session.run_backward() is None
    torch_names = torch_order_for_example(name, session)
    assert names == torch_names


def torch_order_for_example(name, session):
    def leaf(label):
        return torch.tensor(session.inspect(label).value, requires_grad=True)

    if name == "chain_rule":
        x = leaf("x")
        return torch_backward_order(((2 * x + 3) ** 2).mean())
    if name == "custom_functions":
        class Double(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output * 2

        class SquareOfSum(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return (a + b) ** 2

            @staticmethod
            def backward(ctx, grad_output):
                a, b = ctx.saved_tensors
                return grad_output * 2 * (a + b), grad_output * 2 * (a + b)

        x, a, b = leaf("x"), leaf("a"), leaf("b")
        doubled, square = Double.apply(x), SquareOfSum.apply(a, b)  # the document's order
        return torch_backward_order(doubled.sum() + square)
    if name == "detach_and_no_grad":
        x = leaf("x")
        left = (x * x).detach() * x
        with torch.no_grad():
            square = x * x
        return torch_backward_order(left + square * x)
    if name == "polynomial_accumulation":
        x = leaf("x")
        return torch_backward_order(3 * x**2 + 4 * x + 2)
    points = torch.tensor(session.inspect("points").value)
    labels = torch.tensor(session.inspect("labels").value)
    w1, b1, w2, b2 = (leaf(label) for label in ("W1", "b1", "W2", "b2"))
    hidden = torch.tanh(torch.nn.functional.linear(points, w1, b1))
    logits = torch.nn.functional.linear(hidden, w2, b2)
    return torch_backward_order(torch.nn.functional.cross_entropy(logits, labels))


def test_backward_steps_map_to_document_edges_and_leaves():
    doc = examples.load("l1_l4_network")
    session = Session(doc)
    steps = {}
    session.events.backward_step.connect(lambda e: steps.setdefault(e.step.label, e.step))
    session.run_backward()
    l4 = steps["l4"]
    assert [(g.port, doc.nodes[g.target_node_id].label) for g in l4.grads_out] == [
        ("a", "l2"), ("b", "l3")]
    assert l4.grads_out[0].edge == doc.input_edge("l4", "a")
    np.testing.assert_allclose(l4.grads_out[0].gradient.numpy(), np.full((2, 2), 2.0))
    l1 = steps["l1"]
    assert [(g.port, g.engine_node) for g in l1.grads_out] == [
        ("a", None), ("b", "torch::autograd::AccumulateGrad")]
    w1 = steps["w1"]
    assert w1.grad_fn == "torch::autograd::AccumulateGrad"
    assert w1.accumulation.old is None
    assert float(w1.accumulation.new) == 28.0
    assert w1.text == "AccumulateGrad: w1.grad = 28.0 (was None)"


def test_chain_rule_text_with_numbers_for_scalars():
    doc = GraphDocument()
    a = doc.add_node("Parameter", label="a", value=3.0)
    b = doc.add_node("Parameter", label="b", value=8.0)
    product = doc.add_node("Mul", label="product")
    loss = doc.add_node("Mul", label="loss", scalar=0.25)
    doc.connect(a, product, "a")
    doc.connect(b, product, "b")
    doc.connect(product, loss, "a")
    session = Session(doc)
    texts = []
    session.events.backward_step.connect(lambda e: texts.extend(e.step.formulas))
    session.run_backward()
    assert "MulBackward0: grad_a = grad · b = 1.0 · 0.25 = 0.25" in texts
    assert "MulBackward0: grad_a = grad · b = 0.25 · 8.0 = 2.0" in texts
    assert "MulBackward0: grad_b = grad · a = 0.25 · 3.0 = 0.75" in texts


def test_chain_rule_text_for_pow_and_tensors():
    session = Session(examples.load("chain_rule"))
    texts = []
    session.events.backward_step.connect(lambda e: texts.extend(e.step.formulas))
    session.run_backward()
    pow_line = next(t for t in texts if t.startswith("PowBackward0"))
    assert pow_line.startswith("PowBackward0: grad_x = grad · exponent · x^(exponent - 1) = "
                               "[0.333333, 0.333333, 0.333333] · 2.0 · [5.0, 7.0, 9.0]^(2.0 - 1)")
    assert pow_line.endswith("= [3.33333, 4.66667, 6.0]")


def test_print_hook_and_retain_grad_on_l1():
    session = Session(examples.load("l1_l4_network"))
    session.run_backward()
    assert "hook on l1: grad = [[7.0, 7.0], [7.0, 7.0]]" in session.log_lines
    info = session.inspect("l1")
    assert not info.is_leaf and info.retains_grad
    np.testing.assert_allclose(info.grad, np.full((2, 2), 7.0))
    loss, _, l1 = l1_l4_torch()
    l1.retain_grad()
    loss.backward()
    np.testing.assert_allclose(info.grad, l1.grad.numpy())


@pytest.mark.parametrize(("hook", "torch_hook"), [
    (Hook("scale", k=0.5), lambda g: g * 0.5),
    (Hook("clamp", min=-0.1, max=0.1), lambda g: g.clamp(-0.1, 0.1)),
    (Hook("zero"), torch.zeros_like),
    (Hook("replace", expression="grad * grad + 1"), lambda g: g * g + 1),
])
def test_gradient_hooks_change_what_flows_back_as_in_torch(hook, torch_hook):
    doc = examples.load("l1_l4_network")
    doc.apply(AddHook("l2", hook))
    session = Session(doc)
    fired = []
    session.events.backward_step.connect(lambda e: fired.extend(e.step.hooks))
    assert session.run_backward() is None
    loss, (w1, w2, w3), _ = l1_l4_torch()
    torch_l2 = loss.grad_fn.next_functions[0][0].next_functions[0][0]  # l4 -> l2
    assert torch_l2.name() == "AddBackward0"
    data = torch.ones(2, 2)
    w1, w2, w3 = (torch.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    l1 = data * w1
    l2 = l1 + w2
    l2.register_hook(torch_hook)
    (l2 * (l1 * w3)).mean().backward()
    for label, tensor in (("w1", w1), ("w2", w2), ("w3", w3)):
        np.testing.assert_allclose(session.inspect(label).grad, tensor.grad.numpy(), rtol=1e-6)
    event = next(h for h in fired if h.hook == hook)
    assert doc.nodes[event.node_id].label == "l2"
    np.testing.assert_allclose(event.after.numpy(), torch_hook(torch.tensor(
        event.before.numpy())).numpy())


def test_hook_on_a_leaf_fires_once_per_backward():
    doc = examples.load("polynomial_accumulation")
    doc.apply(AddHook("x", Hook("print")))
    session = Session(doc)
    for _ in range(2):
        session.run_forward()
        session.run_backward()
    assert session.log_lines.count("hook on x: grad = 22.0") == 2


def test_gradients_accumulate_over_repeated_backward_until_zero_grad():
    session = Session(examples.load("polynomial_accumulation"))
    accumulations = []
    session.events.backward_step.connect(
        lambda e: e.step.accumulation and accumulations.append(e.step.accumulation))
    grads = []
    for _ in range(3):
        assert session.run_backward() is None
        grads.append(float(session.inspect("x").grad))
    assert grads == [22.0, 44.0, 66.0]
    last = accumulations[-1]
    assert (float(last.old), float(last.contribution), float(last.new)) == (44.0, 22.0, 66.0)
    assert last.text == "AccumulateGrad: x.grad = 44.0 + 22.0 = 66.0"
    x = torch.tensor(3.0, requires_grad=True)
    y = 3 * x**2 + 4 * x + 2
    for _ in range(3):
        y.backward(retain_graph=True)
    assert float(x.grad) == grads[-1]
    session.zero_grad()
    assert session.inspect("x").grad is None
    session.run_backward()
    assert float(session.inspect("x").grad) == 22.0


def test_second_backward_without_retain_graph_is_an_error_event():
    session = Session(examples.load("l1_l4_network"))
    errors = []
    session.events.error.connect(lambda e: errors.append(e.error))
    assert session.run_backward() is None
    error = session.run_backward()
    assert isinstance(error, StepError)
    assert errors == [error]
    assert error.stage == "backward"
    assert error.label == "l4"  # MeanBackward0 keeps no tensors; l4's MulBackward0 does
    assert error.message.startswith("Trying to backward through the graph a second time")
    assert session.state == "backward_done"
    session.run_forward()  # a new graph: backward works again, and accumulates
    assert session.run_backward() is None
    assert float(session.inspect("w1").grad) == 56.0


def test_inplace_modification_is_an_error_event():
    session = Session(examples.load("l1_l4_network"))
    session.run_forward()
    with vg.no_grad():
        session.tensor("w3").mul_(2)
    error = session.run_backward()
    assert isinstance(error, StepError)
    assert "modified by an inplace operation" in error.message
    assert error.label == "l3"


def test_nan_under_anomaly_mode_is_an_error_event():
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value=0.0)
    root = doc.add_node("Sqrt", label="root")
    loss = doc.add_node("Mul", label="loss", scalar=0.0)
    doc.connect(x, root, "x")
    doc.connect(root, loss, "a")
    session = Session(doc)
    assert session.run_backward() is None  # without anomaly mode: a silent nan
    assert np.isnan(session.inspect("x").grad)
    session.detect_anomaly = True
    session.reset()
    error = session.run_backward()
    assert isinstance(error, StepError)
    assert error.message.startswith("Function 'SqrtBackward0' returned nan values in its 0th "
                                    "output.")
    assert error.label == "root"


def test_forward_error_stays_on_the_failing_node():
    doc = GraphDocument()
    a = doc.add_node("Tensor", label="a", value="ones(3)")
    b = doc.add_node("Tensor", label="b", value="ones(4)")
    add = doc.add_node("Add", label="add")
    doc.connect(a, add, "a")
    doc.connect(b, add, "b")
    session = Session(doc)
    error = session.run_forward()
    assert isinstance(error, StepError)
    assert (error.stage, error.label) == ("forward", "add")
    assert "must match the size of tensor b (4)" in error.message
    assert session.state == "forward_in_progress"
    assert isinstance(session.step_forward(), StepError)  # retried, same node
    doc.apply(SetParam("b", "value", "ones(3)"))
    assert session.state == "edited"
    assert session.run_forward() is None


def test_unconnected_input_is_an_error_at_run_time_too():
    doc = GraphDocument()
    doc.add_node("Exp", label="e")
    error = Session(doc).run_forward()
    assert (error.label, error.message) == ("e", "input 'x' is not connected")


def test_edits_invalidate_but_leaves_keep_their_gradients():
    doc = examples.load("polynomial_accumulation")
    session = Session(doc)
    session.run_backward()
    doc.apply(SetParam("4x", "scalar", 5.0))
    assert session.state == "edited"
    session.run_backward()
    assert float(session.inspect("x").grad) == 22.0 + 23.0
    doc.apply(SetParam("x", "value", "1.0"))  # a new leaf: its gradient starts over
    session.run_backward()
    assert float(session.inspect("x").grad) == 6.0 + 5.0


def test_moving_or_renaming_does_not_invalidate():
    doc = examples.load("l1_l4_network")
    session = Session(doc)
    session.run_forward()
    doc.set_setting("retain_graph", True)
    doc.apply(SetParam("l1", "no_grad", False))
    assert session.state == "edited"
    session.run_forward()
    from visgrad.document.operations import MoveNodes, SetLabel
    doc.apply(MoveNodes({"n1": (1, 2)}))
    doc.apply(SetLabel("l1", "first"))
    assert session.state == "forward_done"


def test_reset_remakes_leaves_reproducibly():
    session = Session(examples.load("mlp_classifier"))
    session.run_forward()
    first = session.inspect("W1").value.copy()
    session.run_backward()
    session.reset()
    assert session.inspect("W1") is None
    session.run_forward()
    np.testing.assert_array_equal(session.inspect("W1").value, first)
    assert session.inspect("W1").grad is None


def test_non_scalar_backward_needs_a_gradient():
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value="[1.0, 2.0]")
    square = doc.add_node("Pow", label="square")
    doc.connect(x, square, "x")
    session = Session(doc)
    error = session.run_backward()
    assert error.message == "grad can be implicitly created only for scalar outputs"
    session.gradient = "[1.0, 0.5]"
    session.reset()
    assert session.run_backward() is None
    np.testing.assert_allclose(session.inspect("x").grad, [2.0, 2.0])


def test_inspect_intermediate_tensor():
    session = Session(examples.load("l1_l4_network"))
    session.run_forward()
    info = session.inspect("l4")
    assert info.grad_fn == "MulBackward0"
    assert info.next_functions == [("AddBackward0", 0), ("MulBackward0", 0)]
    assert (info.is_leaf, info.requires_grad, info.grad) == (False, True, None)
    w1 = session.inspect("w1")
    assert (w1.is_leaf, w1.requires_grad, w1.grad_fn, w1.next_functions) == (True, True, None,
                                                                             [])


def test_higher_order_with_grad_node_and_create_graph():
    session = Session(examples.load("higher_order"))
    session.run_forward()
    assert float(session.inspect("dy_dx").value) == 32.0
    assert session.run_backward() is None
    assert float(session.inspect("x").grad) == 48.0
    session = Session(examples.load("polynomial_accumulation"))
    session.create_graph = True
    session.run_backward()
    grad = session.inspect("x").tensor.grad
    assert grad.requires_grad and grad.grad_fn is not None


def test_step_backward_runs_the_forward_first():
    session = Session(examples.load("chain_rule"))
    forward = []
    session.events.forward_step.connect(lambda e: forward.append(e.step.label))
    first = session.step_backward()
    assert forward == ["x", "2x", "2x+3", "(2x+3)²", "loss"]
    assert first.grad_fn == "MeanBackward0"
    assert session.state == "backward_in_progress"


def test_a_gradient_sent_to_a_nodes_own_inner_step_is_shown_not_called_missing():
    """Cross entropy is NllLossBackward0 then LogSoftmaxBackward0 inside one document node:
    the first step's gradient goes to the second, and its text gives it."""
    session = Session(examples.load("mlp_classifier"))
    first = session.step_backward()
    assert first.grad_fn == "NllLossBackward0" and first.label == "loss"
    assert [g.engine_node for g in first.grads_out] == ["LogSoftmaxBackward0"]
    assert first.text.startswith("NllLossBackward0: ") and "no gradient" not in first.text
    sent = first.grads_out[0].gradient.numpy()
    assert sent.shape == (8, 2) and "8×2" in first.text
    assert session.step_backward().grad_fn == "LogSoftmaxBackward0"
