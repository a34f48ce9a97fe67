"""to_script: every document becomes a script that prints the canvas's numbers in torch."""

import contextlib
import io
import os
import runpy
import stat

import numpy as np
import pytest
import torch

from visgrad.document import GraphDocument, Hook, Session, dumps, examples
from visgrad.document.code_export import (
    FLAVORS,
    ExportError,
    export_command,
    export_script,
    identifier,
    to_script,
    variable_names,
)
from visgrad.document.operations import SetLabel

# --------------------------------------------------------------------------------------------
# helpers shared with the other test_code_* modules


def run_script(text, folder, name="script.py"):
    """Run our own generated script (trusted text) from a file; its globals and its output."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        namespace = runpy.run_path(str(path), run_name="__main__")
    return namespace, output.getvalue()


def numpy_of(value):
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value.detach().numpy())


def run_document(document):
    session = Session(document)
    assert session.run_backward() is None, session.error
    return session


def assert_same_numbers(document, session, namespace, rtol=1e-5, atol=1e-6):
    """Leaf grads, retained grads and the backward node's value agree with the canvas."""
    names = variable_names(document)
    compared = 0
    for node in document:
        var = names[(node.id, node.output_names()[0])]
        info = session.inspect(node.id)
        if info is None or var not in namespace:
            continue
        tensor = namespace[var]
        leaf = node.kind == "Parameter" or node.kind == "Tensor" and node.params["requires_grad"]
        np.testing.assert_allclose(numpy_of(tensor), info.value, rtol=rtol, atol=atol,
                                   err_msg=f"value of {node.label}")
        if leaf or (node.retain_grad and info.requires_grad):
            script_grad = numpy_of(tensor.grad)
            if info.grad is None:
                assert script_grad is None, node.label
            else:
                np.testing.assert_allclose(script_grad, info.grad, rtol=rtol, atol=atol,
                                           err_msg=f"grad of {node.label}")
            compared += 1
    return compared


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("name", examples.names())
def test_every_example_prints_the_canvas_numbers(name, flavor, tmp_path):
    document = examples.load(name)
    session = run_document(document)
    script = to_script(document, flavor, training=False)
    namespace, output = run_script(script, tmp_path)
    assert assert_same_numbers(document, session, namespace) >= 1
    for node in document:
        if node.kind == "Parameter":
            var = variable_names(document)[(node.id, "out")]
            assert f"{var}.grad =" in output
    if flavor == "torch":
        code = [line.split("#")[0] for line in script.splitlines()]
        assert not any("visgrad" in line or "vg." in line for line in code)
        assert "import torch" in script


def test_l1_l4_script_reads_like_the_tutorial(tmp_path):
    document = examples.load("l1_l4_network")
    script = to_script(document)
    assert "l1 = input_ * w1" in script
    assert "l1.retain_grad()" in script
    assert "l1.register_hook(lambda grad: print('l1 grad:', grad))" in script
    assert "loss.backward()" in script
    assert "print('w1.grad =', w1.grad)" in script
    namespace, output = run_script(script, tmp_path)
    assert "l1 grad: tensor([[" in output
    assert [float(namespace[w].grad) for w in ("w1", "w2", "w3")] == [28.0, 8.0, 10.0]
    assert "w1.grad = tensor(28.)" in output


def test_random_leaves_are_embedded_for_torch_and_reseeded_for_visgrad(tmp_path):
    document = examples.load("mlp_classifier")
    session = run_document(document)
    torch_script = to_script(document, "torch", training=False)
    assert "torch.randn" not in torch_script and "drawn by visgrad's generator" in torch_script
    visgrad_script = to_script(document, "visgrad", training=False)
    assert "vg.manual_seed(" in visgrad_script and "vg.randn(8, 2" in visgrad_script
    for script in (torch_script, visgrad_script):
        namespace, _ = run_script(script, tmp_path)
        # the very same bits: the embedded literals read back exactly
        assert np.array_equal(numpy_of(namespace["W1"]), session.inspect("W1").value)
        assert np.array_equal(numpy_of(namespace["W2"]), session.inspect("W2").value)


@pytest.mark.parametrize("value, dtype", [
    ("linspace(0, 1, 7)", "float32"), ("linspace(-3.3, 5.1, 50)", "float64"),
    ("rand(3, 2) * 2 - 1", "float64"), ("arange(0.5, 3.0, 0.25)", "float32"),
    ("exp(ones(3)) ** 0.5", "float32"), ("ones(2, 3) * 0.1 + 2", "float64"),
    ("[[1, 2], [3, 4]]", "float64"), ("[1e-08, 3.4028234663852886e+38, -0.0]", "float32"),
])
def test_leaf_values_match_bit_for_bit(value, dtype, tmp_path):
    document = GraphDocument()
    x = document.add_node("Parameter", label="x", value=value, dtype=dtype)
    total = document.add_node("Sum", label="total")
    document.connect(x, total, "x")
    session = run_document(document)
    for flavor in FLAVORS:
        namespace, _ = run_script(to_script(document, flavor), tmp_path)
        assert numpy_of(namespace["x"]).tobytes() == session.inspect("x").value.tobytes(), (
            flavor)
        assert str(namespace["x"].dtype).endswith(dtype)


def test_data_node_samples_and_training_match_the_session(tmp_path):
    document = examples.load("linear_regression")
    document.set_setting("steps", 30)
    scripts = {flavor: to_script(document, flavor) for flavor in FLAVORS}
    assert "for step in range(30):" in scripts["torch"]
    assert "np.random.default_rng(0)" in scripts["torch"]
    trained = Session(document)
    trained.run_backward()
    result = trained.train()
    assert result.iterations == 30
    data = trained.inspect("data", "x").value
    for script in scripts.values():
        namespace, output = run_script(script, tmp_path)
        assert numpy_of(namespace["data_x"]).tobytes() == data.tobytes()
        assert numpy_of(namespace["data_y"]).tobytes() == \
            trained.inspect("data", "y").value.tobytes()
        for label in ("weight", "bias"):
            np.testing.assert_allclose(numpy_of(namespace[label]),
                                       trained.inspect(label).value, rtol=1e-5, atol=1e-6)
        assert "after training: loss =" in output


@pytest.mark.parametrize("name", ["gradient_descent", "mlp_classifier"])
def test_training_loops_follow_session_train(name, tmp_path):
    document = examples.load(name)
    document.set_setting("steps", 25)
    session = Session(document)
    session.run_backward()
    session.train()
    for flavor in FLAVORS:
        namespace, _ = run_script(to_script(document, flavor), tmp_path)
        for node, leaf in session.trainable():
            var = variable_names(document)[(node.id, "out")]
            np.testing.assert_allclose(numpy_of(namespace[var]), numpy_of(leaf), rtol=1e-4,
                                       atol=1e-5, err_msg=f"{flavor}: {node.label}")


def test_no_training_section_without_training_settings():
    assert "optim" not in to_script(examples.load("chain_rule"))
    assert "optim" not in to_script(examples.load("gradient_descent"), training=False)
    assert "torch.optim.SGD([x], lr=0.1)" in to_script(examples.load("chain_rule"),
                                                      training=True)


def hooked_document(*hooks, no_grad=False):
    document = GraphDocument()
    x = document.add_node("Parameter", label="x", value="[1.0, -2.0, 3.0]",
                          hooks=[Hook("scale", k=3.0)])
    y = document.add_node("Mul", label="y", scalar=2.0, hooks=list(hooks), retain_grad=True,
                          no_grad=no_grad)
    z = document.add_node("Pow", label="z", exponent=2)
    loss = document.add_node("Sum", label="loss")
    document.connect(x, y, "a")
    document.connect(y, z, "x")
    document.connect(z, loss, "x")
    return document


@pytest.mark.parametrize("hook", [
    Hook("print"), Hook("scale", k=0.5), Hook("clamp", min=-1.0, max=2.5), Hook("zero"),
    Hook("replace", expression="grad * grad + 1"), Hook("replace", expression="2.5"),
    Hook("replace", expression="where(grad > 4, grad, zeros_like(grad))"),
])
def test_hooks_have_the_same_effect(hook, tmp_path):
    document = hooked_document(hook)
    session = run_document(document)
    for flavor in FLAVORS:
        script = to_script(document, flavor)
        assert "x.register_hook(lambda grad: grad * 3.0)" in script
        namespace, output = run_script(script, tmp_path)
        assert assert_same_numbers(document, session, namespace) == 2
        if hook.kind == "print":
            assert "y grad: tensor([" in output


def test_no_grad_nodes_make_a_block_and_skip_their_hooks(tmp_path):
    document = hooked_document(Hook("print"), no_grad=True)
    document.set_setting("backward_node", document.node("loss").id)
    script = to_script(document)
    assert "with torch.no_grad():\n    y = x * 2.0\n    # (y does not require grad" in script
    assert "y.register_hook" not in script


# NOTE: Session.start_backward copies the gradient with vg.tensor(tensor, ...), which now warns
# as torch does ("To copy construct from a tensor..."); the numbers are what this test checks.
@pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")
def test_backward_settings_reach_the_call(tmp_path):
    document = GraphDocument()
    x = document.add_node("Parameter", label="x", value="[1.0, 2.0]")
    y = document.add_node("Pow", label="y", exponent=3)
    document.connect(x, y, "x")
    document.set_setting("backward_node", y.id)
    document.set_setting("gradient", "[1.0, 0.5]")
    document.set_setting("retain_graph", True)
    session = run_document(document)
    for flavor in FLAVORS:
        script = to_script(document, flavor)
        assert "y.backward(gradient=" in script and "retain_graph=True" in script
        namespace, _ = run_script(script, tmp_path)
        assert_same_numbers(document, session, namespace)
    document.set_setting("gradient", "ones(2) * 0.5")
    session = run_document(document)
    namespace, _ = run_script(to_script(document), tmp_path)
    assert_same_numbers(document, session, namespace)


def test_labels_become_identifiers():
    assert identifier("x²") == "x2"
    assert identifier("3x²+4x") == "v3x2_4x"
    assert identifier("detached·x") == "detached_x"
    assert identifier("input") == "input_"
    assert identifier("lambda") == "lambda_"
    assert identifier("torch") == "torch_"
    assert identifier("σ") == "σ"
    assert identifier("!!!") == "t"
    document = GraphDocument()
    document.add_node("Parameter", label="a b")
    document.add_node("Parameter", label="a-b")
    document.add_node("Parameter", label="F")
    assert sorted(variable_names(document).values()) == ["F_", "a_b", "a_b_2"]


def test_comments_cannot_break_out_of_a_line(tmp_path):
    document = examples.load("chain_rule")
    document.set_setting("title", "evil\nimport os; os.remove('x')")
    document.set_setting("description", "line\rsecond\u2028third \"\"\"")
    document.apply(SetLabel(document.node("loss").id, "lo'ss\\\n x"))
    script = to_script(document)
    for line in script.splitlines():
        assert not line.startswith("import os")
    namespace, _ = run_script(script, tmp_path)
    assert namespace["x"].grad is not None


def test_unconnected_and_traced_nodes_are_refused():
    document = GraphDocument()
    x = document.add_node("Parameter", label="x")
    add = document.add_node("Add", label="sum")
    document.connect(x, add, "a")
    with pytest.raises(ExportError, match="sum: input 'b' is not connected"):
        to_script(document)
    document = GraphDocument()
    document.add_node("Traced", label="odd", grad_fn="ExpandBackward0")
    with pytest.raises(ExportError, match="odd: ExpandBackward0 was traced"):
        to_script(document)
    with pytest.raises(ExportError, match="unknown flavor"):
        to_script(GraphDocument(), "jax")


def test_export_script_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.py"
    export_script(target, examples.load("chain_rule"))
    assert target.read_text().startswith("# Chain rule")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        export_script(target, examples.load("l1_l4_network"))
    assert target.read_text().startswith("# Chain rule")
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


def test_export_command(tmp_path, capsys):
    source = tmp_path / "graph.vgraph"
    source.write_text(dumps(examples.load("l1_l4_network")), encoding="utf-8")
    target = tmp_path / "script.py"
    assert export_command([str(source), "--to", "visgrad", "-o", str(target)]) == 0
    assert "import visgrad as vg" in target.read_text()
    assert export_command(["export", str(source)]) == 0
    assert "import torch" in capsys.readouterr().out
    assert export_command([str(tmp_path / "missing.vgraph")]) == 1
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.vgraph"
    broken.write_text("{not json", encoding="utf-8")
    assert export_command([str(broken), "-o", str(target)]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert export_command([str(source), "--to", "jax"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert export_command([]) == 2
    assert export_command(["--help"]) == 0
    assert export_command([str(source), "-o", str(tmp_path / "no" / "dir.py")]) == 1
    assert "cannot write" in capsys.readouterr().err
