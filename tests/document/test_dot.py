"""to_dot: one DOT node per grad_fn and leaf, edges in the direction the forward pass ran."""

import re

import visgrad as vg


def test_dot_has_every_node_and_edge_of_the_backward_graph():
    x = vg.tensor([1.0, 2.0], requires_grad=True)
    w = vg.tensor(3.0, requires_grad=True)
    loss = (x * w + x).sum()
    text = vg.to_dot(loss, params={"x": x, "w": w})
    assert text.startswith("digraph visgrad {") and text.rstrip().endswith("}")
    labels = re.findall(r'\[label="([^"]*)"', text)
    assert sorted(labels) == sorted(["output\\n()", "SumBackward0", "AddBackward0",
                                     "MulBackward0", "x\\n(2,)", "w\\n()"])
    edges = re.findall(r"(n\d+) -> (n\d+);", text)
    # Sum->output, Add->Sum, Mul->Add, x->Add, x->Mul, w->Mul
    assert len(edges) == 6
    names = {m.group(1): m.group(2) for m in re.finditer(r'(n\d+) \[label="([^"]*)"', text)}
    pairs = {(names[a], names[b]) for a, b in edges}
    assert ("x\\n(2,)", "MulBackward0") in pairs and ("x\\n(2,)", "AddBackward0") in pairs
    assert ("w\\n()", "MulBackward0") in pairs


def test_dot_of_a_leaf_is_just_the_output():
    x = vg.tensor(1.0, requires_grad=True)
    text = vg.to_dot(x)
    assert "->" not in text and 'label="output\\n()"' in text
