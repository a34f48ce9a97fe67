"""`.vgraph` files: round trips, atomic saves, and every kind of bad file as GraphFileError."""

import json
import os

import pytest

from visgrad.document import GraphDocument, GraphFileError, Hook, dumps, examples, load, loads
from visgrad.document import save
from visgrad.document import files


def sample():
    doc = examples.load("l1_l4_network")
    doc.node("l2").hooks.append(Hook("clamp", min=-1.0, max=2.5))
    doc.node("l3").hooks.append(Hook("replace", expression="grad * 0.5"))
    doc.set_setting("gradient", None)
    doc.set_setting("retain_graph", True)
    return doc


def data():
    return json.loads(dumps(sample()))


@pytest.mark.parametrize("name", examples.names())
def test_round_trip_is_identity(name, tmp_path):
    doc = examples.load(name)
    path = tmp_path / "graph.vgraph"
    save(doc, path)
    again = load(path)
    assert again == doc
    assert dumps(again) == dumps(doc) == path.read_text(encoding="utf-8")
    assert [n.id for n in again] == [n.id for n in doc]


def test_round_trip_keeps_hooks_settings_and_floats_exactly():
    doc = sample()
    doc.set_param("w1", "value", [0.1, 1 / 3, 1e-40])
    again = loads(dumps(doc))
    assert again == doc
    assert again.node("l3").hooks == [Hook("replace", expression="grad * 0.5")]
    assert again.settings["retain_graph"] is True
    assert json.loads(again.node("w1").params["value"]) == [0.1, 1 / 3, 1e-40]


def test_ids_continue_after_loading():
    doc = loads(dumps(sample()))
    assert doc.add_node("Exp").id == "n10"


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "graph.vgraph"
    save(sample(), path)
    original = path.read_text(encoding="utf-8")

    def failing_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(GraphFileError, match="cannot write: No space left on device"):
        save(GraphDocument(), path)
    assert path.read_text(encoding="utf-8") == original
    assert [p.name for p in tmp_path.iterdir()] == ["graph.vgraph"]


def test_load_missing_file():
    with pytest.raises(GraphFileError, match="cannot read: No such file or directory"):
        load("/nonexistent/graph.vgraph")


def corrupt(change):
    content = data()
    change(content)
    return json.dumps(content)


def set_in(path, value):
    def change(content):
        target = content
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize(("text", "message"), [
    ("", "not valid JSON at line 1, column 1"),
    (dumps(sample())[:200], "(the file looks truncated)"),
    ("[1, 2]", "top level: expected an object"),
    (b"\xff\xfe", "not UTF-8 text"),
    ('{"format": "visgrad-graph", "schema": 1, "nodes": [], "x": NaN}', "NaN is not valid JSON"),
    (corrupt(set_in(["format"], "other")), "not a visgrad graph: 'format' is \"other\""),
    (corrupt(set_in(["schema"], 2)), "the file has schema 2, written by a newer visgrad"),
    (corrupt(set_in(["schema"], "1")), "'schema' must be a whole number"),
    (corrupt(set_in(["extra"], 1)), "top level: unknown field 'extra'"),
    (corrupt(set_in(["nodes"], {})), "'nodes': expected a list"),
    (corrupt(set_in(["nodes", 0, "kind"], "Conv2d")), "nodes[0] (n1): unknown kind 'Conv2d'"),
    (corrupt(set_in(["nodes", 0, "kind"], 5)), "nodes[0] (n1).kind: expected text, got 5"),
    (corrupt(set_in(["nodes", 1, "id"], "n1")), "nodes[1] (n1): duplicate id 'n1'"),
    (corrupt(set_in(["nodes", 1, "label"], "input")), "label 'input' is already used"),
    (corrupt(set_in(["nodes", 1, "params", "value"], "__import__('os')")),
     "nodes[1] (n2, Parameter): parameter 'value': value: names starting with '_'"),
    (corrupt(set_in(["nodes", 1, "params", "value"], "ones(100000, 100000)")),
     "10,000,000,000 elements"),
    (corrupt(set_in(["nodes", 1, "params", "value"], 3)), None),
    (corrupt(set_in(["nodes", 1, "params", "speed"], 3)), "Parameter has no parameter 'speed'"),
    (corrupt(set_in(["nodes", 4, "params", "scalar"], "x")),
     "nodes[4] (n5, Mul): parameter 'scalar': expected a number, got 'x'"),
    (corrupt(set_in(["nodes", 1, "position"], [0])), "position: expected [x, y], got 1"),
    (corrupt(set_in(["nodes", 1, "position"], ["a", 1])), "position: expected numbers"),
    (corrupt(set_in(["nodes", 1, "retain_grad"], "yes")), "retain_grad: expected true or false"),
    (corrupt(set_in(["nodes", 4, "hooks"], [{"kind": "explode"}])), "unknown hook kind"),
    (corrupt(set_in(["nodes", 4, "hooks"], [{"kind": "scale", "k": "big"}])),
     "hook 'k' must be a finite number"),
    (corrupt(set_in(["nodes", 4, "hooks"], [{"kind": "print", "shout": True}])),
     "hook has unknown field 'shout'"),
    (corrupt(set_in(["edges", 0, "from"], ["n99", "out"])),
     "edges[0].from: unknown node 'n99' (dangling edge)"),
    (corrupt(set_in(["edges", 0, "to"], ["n5", "q"])), "edges[0]: l1 (Mul) has no input 'q'"),
    (corrupt(set_in(["edges", 1, "to"], ["n5", "a"])),
     "edges[1]: input 'a' of l1 is already connected"),
    (corrupt(set_in(["edges", 0, "from"], "n1")), "edges[0].from: expected [node id, port]"),
    (corrupt(lambda c: c["edges"].append({"from": ["n9", "out"], "to": ["n5", "a"]})),
     "already connected"),
    (corrupt(set_in(["settings", "backward_node"], "n77")),
     "backward_node 'n77' is not a node of the file"),
    (corrupt(set_in(["settings", "lr"], "fast")), "settings: setting parameter 'lr'"),
    (corrupt(set_in(["settings", "volume"], 11)), "settings: unknown setting 'volume'"),
])
def test_each_kind_of_corrupt_file_raises_graph_file_error(text, message):
    if message is None:  # numbers are accepted as values: written back as text
        assert loads(text).node("w1").params["value"] == "3"
        return
    with pytest.raises(GraphFileError) as info:
        loads(text, source="bad.vgraph")
    assert str(info.value).startswith("bad.vgraph: ")
    assert message in str(info.value)


def test_cycle_in_a_file_is_refused():
    content = data()
    content["nodes"].append({"id": "n20", "kind": "Exp", "label": "e1"})
    content["nodes"].append({"id": "n21", "kind": "Exp", "label": "e2"})
    content["edges"] += [{"from": ["n20", "out"], "to": ["n21", "x"]},
                         {"from": ["n21", "out"], "to": ["n20", "x"]}]
    with pytest.raises(GraphFileError, match="would make a cycle"):
        loads(json.dumps(content))


def test_size_limits(monkeypatch):
    monkeypatch.setattr(files, "MAX_NODES", 3)
    with pytest.raises(GraphFileError, match="'nodes': 9 nodes; the limit is 3"):
        loads(dumps(sample()))
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 100)
    with pytest.raises(GraphFileError, match="the limit is 100"):
        loads(dumps(sample()))


def test_graph_file_error_is_a_value_error():
    assert issubclass(GraphFileError, ValueError)


def test_nodes_without_a_position_are_laid_out_when_read():
    from visgrad.document import layout

    data = {"format": "visgrad-graph", "schema": 1,
            "nodes": [{"id": "x", "kind": "Parameter"}, {"id": "e", "kind": "Exp"},
                      {"id": "s", "kind": "Sum"}, {"id": "w", "kind": "Parameter",
                                                   "position": [-400, 300]}],
            "edges": [{"from": ["x", "out"], "to": ["e", "x"]},
                      {"from": ["e", "out"], "to": ["s", "x"]}]}
    doc = files.loads(json.dumps(data))
    expected = layout.compute_layout(doc)
    placed = {node.id: node.position for node in doc}
    assert placed["w"] == (-400.0, 300.0)  # a position the file gives is kept
    for node_id in ("x", "e", "s"):
        assert placed[node_id] == expected[node_id]
    assert len({placed[node_id] for node_id in ("x", "e", "s")}) == 3  # not piled at (0, 0)
    assert placed["x"][0] < placed["e"][0] < placed["s"][0]  # inputs to the left


def test_a_document_built_in_code_and_saved_opens_laid_out():
    doc = GraphDocument()  # add_node puts every node at (0, 0)
    x = doc.add_node("Parameter", label="x", value="2.0")
    y = doc.add_node("Exp", label="y")
    doc.connect(x, y, "x")
    assert {node.position for node in doc} == {(0.0, 0.0)}
    loaded = loads(dumps(doc))
    positions = {node.id: node.position for node in loaded}
    assert positions[x.id][0] < positions[y.id][0]
    single = GraphDocument()
    single.add_node("Parameter", label="w", value="1.0", position=(40.0, 50.0))
    assert [node.position for node in loads(dumps(single))] == [(40.0, 50.0)]
