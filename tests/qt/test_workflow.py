"""The l1..l4 network built through the UI only, then stepped forward and backward."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLabel

import visgrad as vg
from tests.qt.conftest import connect_ports, drop_kind, edit_param

# viewport positions of each node (columns left to right, as the network flows)
LAYOUT = {
    "input": ("Tensor", QPoint(20, 20)), "w1": ("Parameter", QPoint(20, 150)),
    "l1": ("Mul", QPoint(200, 60)), "w2": ("Parameter", QPoint(200, 200)),
    "w3": ("Parameter", QPoint(200, 330)), "l2": ("Add", QPoint(380, 20)),
    "l3": ("Mul", QPoint(380, 200)), "l4": ("Mul", QPoint(560, 90)),
    "loss": ("Mean", QPoint(740, 90)),
}
VALUES = {"input": "ones(2, 2)", "w1": "2.0", "w2": "3.0", "w3": "4.0"}
LINKS = [("input", "l1", "a"), ("w1", "l1", "b"), ("l1", "l2", "a"), ("w2", "l2", "b"),
         ("l1", "l3", "a"), ("w3", "l3", "b"), ("l2", "l4", "a"), ("l3", "l4", "b"),
         ("l4", "loss", "x")]


def build_l1_l4(window, qtbot) -> dict[str, str]:
    ids = {}
    for label, (kind, pos) in LAYOUT.items():
        ids[label] = drop_kind(window, kind, pos)  # the drop selects it: the inspector shows it
        edit_param(qtbot, window, "label", label)
        if label in VALUES:
            edit_param(qtbot, window, "value", VALUES[label])
    for source, target, port in LINKS:
        connect_ports(qtbot, window, ids[source], ids[target], port)
    return ids


def engine_order() -> list[str]:
    """Labels of the grad_fns the engine itself runs, in its order, for the same network."""
    x = vg.ones(2, 2)
    w1, w2, w3 = (vg.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    l1 = x * w1
    l2 = l1 + w2
    l3 = l1 * w3
    l4 = l2 * l3
    loss = l4.mean()
    names = {l1.grad_fn: "l1", l2.grad_fn: "l2", l3.grad_fn: "l3", l4.grad_fn: "l4",
             loss.grad_fn: "loss"}
    order = []
    for step in vg.autograd.BackwardIteration([loss], [None]):
        node = step.node
        order.append(names.get(node) or {id(w1): "w1", id(w2): "w2", id(w3): "w3"}[
            id(node.variable)])
    return order


def test_build_step_forward_and_backward_through_the_ui(empty_window, qtbot):
    window = empty_window
    ids = build_l1_l4(window, qtbot)
    labels = {node_id: label for label, node_id in ids.items()}
    doc = window.document
    assert {n.label for n in doc} == set(LAYOUT)
    assert len(doc.edges) == len(LINKS)
    window.scene.flush()
    assert all(item.badge_severity() is None for item in window.scene.node_items())

    highlights = []
    window.scene.sigHighlight.connect(lambda node_id, stage: highlights.append(
        (labels[node_id], stage)))
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(window.isActiveWindow)
    for _ in range(len(LAYOUT)):
        qtbot.keyClick(window.view, Qt.Key.Key_F10)
    forward = [label for label, stage in highlights if stage == "forward"]
    assert len(forward) == len(LAYOUT)
    assert forward.index("l1") < forward.index("l2") < forward.index("l4") < \
        forward.index("loss")
    assert window.session.state == "forward_done"
    item = window.scene.node_item(ids["l4"])
    assert item.texts["kind"] == "MulBackward0"
    assert window.scene.node_item(ids["loss"]).texts["kind"] == "MeanBackward0"
    assert window.scene.node_item(ids["loss"]).texts["value"] == "40.0"
    assert window.plots.values() == [40.0]

    expected = engine_order()
    for _ in expected:
        qtbot.keyClick(window.view, Qt.Key.Key_F11)
        current = window.scene.current_highlight()
        assert current is not None and current[1] == "backward"
    backward = [label for label, stage in highlights if stage == "backward"]
    assert backward == expected
    assert "AccumulateGrad: w1.grad = 28.0" in window.step_label.text()
    assert window.session.state == "backward_done"

    for label, grad in (("w1", "28."), ("w2", "8."), ("w3", "10.")):
        window.select_node(ids[label])
        window.inspector.flush()
        assert window.inspector.field_text("grad") == f"tensor({grad})"
        assert window.inspector.field_text("is_leaf") == "True"
    window.select_node(ids["l4"])
    window.inspector.flush()
    assert window.inspector.field_text("grad_fn") == "<MulBackward0>"
    assert "MulBackward0" in window.inspector.field_text("next_functions")
    window.select_node(ids["loss"])
    window.inspector.flush()
    assert window.inspector.field_text("grad_fn") == "<MeanBackward0>"
    # edges carried the gradients the engine sent
    edge = doc.input_edge(ids["l4"], "b")
    assert window.scene.edge_gradient_text(edge) == "∇ 2×2 of 1.25"
    assert window.scene.node_item(ids["w1"]).texts["grad"] == "28.0  (was None)"


def test_second_backward_without_retain_graph_shows_the_engine_error(window, qtbot):
    window.open_example("l1_l4_network")
    window.run_backward_action.trigger()
    assert window.session.state == "backward_done"
    window.run_backward_action.trigger()  # a second backward over the freed graph
    error = window.session.error
    assert error is not None
    assert "Trying to backward through the graph a second time" in window.step_label.text()
    window.scene.flush()
    item = window.scene.node_item(error.node_id)
    assert item.badge_severity() == "error"
    assert "second time" in item.texts["error"]
    assert any(kind == "error" and "second time" in text
               for kind, text, _ in window.log.entries())
    # the app keeps working: a fresh forward and backward give the same gradients again
    window.zero_grad_action.trigger()
    window.run_forward_action.trigger()
    window.run_backward_action.trigger()
    assert window.session.error is None
    assert float(window.session.inspect("w1").grad) == 28.0
    # with retain_graph, a second backward accumulates instead of failing
    window.retain_graph_action.trigger()
    assert window.document.settings["retain_graph"] is True
    window.run_forward_action.trigger()
    window.run_backward_action.trigger()
    window.run_backward_action.trigger()
    assert window.session.error is None
    assert float(window.session.inspect("w1").grad) == 28.0 * 3
    w1 = window.scene.node_item(window.document.node("w1").id)
    assert w1.texts["grad"] == "56.0 + 28.0 = 84.0"  # the card shows .grad accumulating


def test_hooks_print_in_torch_form_and_log_click_selects(window, qtbot):
    window.open_example("l1_l4_network")
    window.run_backward_action.trigger()
    entries = window.log.entries()
    printed = [(text, node) for kind, text, node in entries if kind == "hook"
               and text.startswith("l1 grad:")]
    assert printed, entries
    text, node_id = printed[0]
    assert text == "l1 grad: tensor([[7., 7.],\n        [7., 7.]])"
    row = next(i for i, entry in enumerate(entries) if entry[1] == text)
    item = window.log.list.item(row)
    rect = window.log.list.visualItemRect(item)
    window.log.list.scrollToItem(item)
    rect = window.log.list.visualItemRect(item)
    qtbot.mouseClick(window.log.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.scene.selected_node_ids() == [node_id]


def test_hook_added_in_the_inspector_fires_and_flashes(window, qtbot):
    window.open_example("l1_l4_network")
    w2 = window.document.node("w2").id
    window.select_node(w2)
    window.inspector.flush()
    editors = window.inspector.editors
    editors["hook_kind"].setCurrentIndex(editors["hook_kind"].findData("scale"))
    editors["hook_argument"].setText("0.5")
    qtbot.mouseClick(editors["hook_add"], Qt.MouseButton.LeftButton)
    assert [h.describe() for h in window.document.nodes[w2].hooks] == ["scale by 0.5"]
    window.run_backward_action.trigger()
    assert float(window.session.inspect("w2").grad) == 4.0
    assert any(kind == "hook" and "scale by 0.5" in text for kind, text, _ in
               window.log.entries())
    window.undo_stack.undo()
    assert window.document.nodes[w2].hooks == []


def test_bad_parameter_is_explained_in_the_inspector(window, qtbot):
    window.open_example("l1_l4_network")
    w1 = window.document.node("w1").id
    window.select_node(w1)
    before = window.document.to_data()
    edit_param(qtbot, window, "value", "[1, 2")
    assert window.document.to_data() == before
    assert window.inspector.error_label.isVisible()
    assert "value" in window.inspector.error_label.text()
    edit_param(qtbot, window, "label", "n5")
    assert "looks like a node id" in window.inspector.error_label.text()
    assert window.document.to_data() == before


def test_the_inspectors_empty_page_is_made_again_only_when_it_changes(window):
    """With nothing selected, backward steps leave the inspector's page as it is (a new page
    at every step cost more than a millisecond of each step); a new title, a selection and a
    count of selected cards each show at once."""
    from visgrad.document.operations import SetSetting

    assert window.open_example("l1_l4_network")
    inspector = window.inspector
    inspector.flush()
    page = inspector.widget()
    window.step_backward()
    window.step_backward()
    inspector.flush()
    assert inspector.widget() is page
    window.editor.push(SetSetting("title", "Renamed"))
    inspector.flush()
    assert inspector.widget() is not page
    assert "Renamed" in " ".join(label.text() for label in inspector.widget().findChildren(QLabel))
    page = inspector.widget()
    node_id = window.document.node("w1").id
    window.select_node(node_id)
    inspector.flush()
    assert inspector.widget() is not page and inspector.field_text("is_leaf") == "True"
    inspector.show_node(None, selected=3)
    inspector.flush()
    assert "3 nodes selected" in " ".join(
        label.text() for label in inspector.widget().findChildren(QLabel))
