"""The example graphs shipped in ``resources/examples`` (installed with the package, see
:mod:`visgrad.document.resources`): list them, load them by name.

Example::

    >>> from visgrad.document import examples
    >>> "l1_l4_network" in examples.names()
    True
    >>> doc = examples.load("l1_l4_network")
    >>> doc.node("l1").retain_grad
    True

Each example is written here as a small builder (readable, reviewed like code) and stored as
a ``.vgraph`` file (what the app opens). ``python -m visgrad.document.examples`` rewrites the
files from the builders; a test checks that they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from visgrad.document.files import SUFFIX, dumps, load as load_file
from visgrad.document.layout import compute_layout
from visgrad.document.model import GraphDocument, Hook
from visgrad.document.resources import resource_path

DEFAULT = "l1_l4_network"
FOLDER = resource_path("examples")

_BUILDERS: dict[str, Callable[[], GraphDocument]] = {}


def _example(function: Callable[[], GraphDocument]) -> Callable[[], GraphDocument]:
    _BUILDERS[function.__name__] = function
    return function


def names() -> list[str]:
    """Names of the shipped examples (files in the folder, else the builders)."""
    found = sorted(path.stem for path in FOLDER.glob(f"*{SUFFIX}")) if FOLDER.is_dir() else []
    return found or sorted(_BUILDERS)


def path(name: str) -> Path:
    return FOLDER / f"{name}{SUFFIX}"


def load(name: str = DEFAULT) -> GraphDocument:
    """The example ``name`` as a new document (from its file; from its builder if the
    resources folder is not installed)."""
    file = path(name)
    if file.is_file():
        return load_file(file)
    if name in _BUILDERS:
        return build(name)
    raise KeyError(f"no example {name!r}; examples: {', '.join(names())}")


def build(name: str) -> GraphDocument:
    """The example made by its builder, laid out."""
    document = _BUILDERS[name]()
    for node_id, position in compute_layout(document).items():
        document._set_position(node_id, position)
    return document


def write_all(folder: Path = FOLDER) -> list[Path]:
    """Write every example's ``.vgraph`` file from its builder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(_BUILDERS):
        target = folder / f"{name}{SUFFIX}"
        target.write_text(dumps(build(name)), encoding="utf-8")
        written.append(target)
    return written


def _describe(doc: GraphDocument, title: str, description: str, **settings: object) -> None:
    doc.set_setting("title", title)
    doc.set_setting("description", description)
    for name, value in settings.items():
        if name == "backward_node":
            value = doc.node(str(value)).id
        doc.set_setting(name, value)


# --------------------------------------------------------------------------------------------


@_example
def polynomial_accumulation() -> GraphDocument:
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value="3.0")
    square = doc.add_node("Pow", label="x²", exponent=2)
    three_x2 = doc.add_node("Mul", label="3x²", scalar=3)
    four_x = doc.add_node("Mul", label="4x", scalar=4)
    total = doc.add_node("Add", label="3x²+4x")
    y = doc.add_node("Add", label="y", scalar=2)
    doc.connect(x, square, "x")
    doc.connect(square, three_x2, "a")
    doc.connect(x, four_x, "a")
    doc.connect(three_x2, total, "a")
    doc.connect(four_x, total, "b")
    doc.connect(total, y, "a")
    _describe(doc, "Derivative of 3x² + 4x + 2 at x = 3",
              "dy/dx = 6x + 4 = 22. Press Backward three times (retain_graph is on): "
              "x.grad accumulates 22, 44, 66 until you zero it. That is why training loops "
              "call optimizer.zero_grad().", backward_node="y", retain_graph=True)
    return doc


@_example
def chain_rule() -> GraphDocument:
    doc = GraphDocument()
    x = doc.add_node("Tensor", label="x", value="[1.0, 2.0, 3.0]", requires_grad=True)
    double = doc.add_node("Mul", label="2x", scalar=2)
    shifted = doc.add_node("Add", label="2x+3", scalar=3)
    square = doc.add_node("Pow", label="(2x+3)²", exponent=2)
    loss = doc.add_node("Mean", label="loss")
    doc.connect(x, double, "a")
    doc.connect(double, shifted, "a")
    doc.connect(shifted, square, "x")
    doc.connect(square, loss, "x")
    _describe(doc, "Chain rule: ((2x + 3)²).mean()",
              "Each grad_fn multiplies the incoming gradient by its local derivative: "
              "1/3 from the mean, 2(2x+3) from the square, 1 from +3, 2 from 2x. "
              "x.grad = 4(2x + 3)/3.")
    return doc


@_example
def l1_l4_network() -> GraphDocument:
    doc = GraphDocument()
    data = doc.add_node("Tensor", label="input", value="ones(2, 2)")
    w1 = doc.add_node("Parameter", label="w1", value="2.0")
    w2 = doc.add_node("Parameter", label="w2", value="3.0")
    w3 = doc.add_node("Parameter", label="w3", value="4.0")
    l1 = doc.add_node("Mul", label="l1", retain_grad=True, hooks=[Hook("print")])
    l2 = doc.add_node("Add", label="l2")
    l3 = doc.add_node("Mul", label="l3")
    l4 = doc.add_node("Mul", label="l4")
    loss = doc.add_node("Mean", label="loss")
    doc.connect(data, l1, "a")
    doc.connect(w1, l1, "b")
    doc.connect(l1, l2, "a")
    doc.connect(w2, l2, "b")
    doc.connect(l1, l3, "a")
    doc.connect(w3, l3, "b")
    doc.connect(l2, l4, "a")
    doc.connect(l3, l4, "b")
    doc.connect(l4, loss, "x")
    _describe(doc, "A small network: l1 … l4",
              "l1 = input·w1, l2 = l1 + w2, l3 = l1·w3, l4 = l2·l3, loss = l4.mean(). "
              "l1 is used twice, so its gradient is the sum of two paths. l1 retains its "
              "grad and prints it with a hook. Expect w1.grad = 28, w2.grad = 8, "
              "w3.grad = 10.", backward_node="loss")
    return doc


@_example
def custom_functions() -> GraphDocument:
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value="[1.0, 2.0, 3.0]")
    a = doc.add_node("Parameter", label="a", value="2.0")
    b = doc.add_node("Parameter", label="b", value="1.0")
    double = doc.add_node("Function", label="double", name="Double", inputs=["x"],
                          forward="x * 2", backward="grad_output * 2")
    square = doc.add_node("Function", label="square_of_sum", name="SquareOfSum",
                          inputs=["a", "b"], forward="(a + b) ** 2",
                          backward="grad_output * 2 * (a + b), grad_output * 2 * (a + b)")
    total = doc.add_node("Sum", label="sum")
    loss = doc.add_node("Add", label="loss")
    doc.connect(x, double, "x")
    doc.connect(double, total, "x")
    doc.connect(a, square, "a")
    doc.connect(b, square, "b")
    doc.connect(total, loss, "a")
    doc.connect(square, loss, "b")
    _describe(doc, "Custom autograd Functions",
              "Double: forward x * 2, backward grad_output * 2. SquareOfSum: forward "
              "(a + b)², backward 2(a + b)·grad_output for each input. Edit a backward to "
              "something wrong and watch the gradients follow it, as torch would.",
              backward_node="loss")
    return doc


@_example
def higher_order() -> GraphDocument:
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value="2.0")
    y = doc.add_node("Pow", label="y", exponent=4)
    dy = doc.add_node("Grad", label="dy_dx", create_graph=True)
    doc.connect(x, y, "x")
    doc.connect(y, dy, "output")
    doc.connect(x, dy, "input")
    _describe(doc, "Higher-order derivative with create_graph",
              "y = x⁴. The Grad node computes dy/dx = 4x³ = 32 with create_graph=True, so "
              "the derivative has a graph of its own. Backward on it gives "
              "d²y/dx² = 12x² = 48 in x.grad.", backward_node="dy_dx")
    return doc


@_example
def detach_and_no_grad() -> GraphDocument:
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value="3.0")
    square = doc.add_node("Mul", label="x²")
    detached = doc.add_node("Detach", label="x².detach()")
    left = doc.add_node("Mul", label="detached·x")
    square_ng = doc.add_node("Mul", label="x² (no_grad)", no_grad=True)
    right = doc.add_node("Mul", label="no_grad·x")
    loss = doc.add_node("Add", label="loss")
    doc.connect(x, square, "a")
    doc.connect(x, square, "b")
    doc.connect(square, detached, "x")
    doc.connect(detached, left, "a")
    doc.connect(x, left, "b")
    doc.connect(x, square_ng, "a")
    doc.connect(x, square_ng, "b")
    doc.connect(square_ng, right, "a")
    doc.connect(x, right, "b")
    doc.connect(left, loss, "a")
    doc.connect(right, loss, "b")
    _describe(doc, "detach() and no_grad side by side",
              "Both branches compute x³ but cut the graph at x²: detach() after recording, "
              "no_grad by never recording. Each branch sends only x² = 9 back to x, so "
              "x.grad = 18 instead of 2 · 3x² = 54.", backward_node="loss")
    return doc


@_example
def gradient_descent() -> GraphDocument:
    doc = GraphDocument()
    x = doc.add_node("Parameter", label="x", value="2.0")
    square = doc.add_node("Pow", label="x²", exponent=2)
    three_x = doc.add_node("Mul", label="3x", scalar=3)
    total = doc.add_node("Add", label="x²+3x")
    loss = doc.add_node("Add", label="loss", scalar=1)
    doc.connect(x, square, "x")
    doc.connect(x, three_x, "a")
    doc.connect(square, total, "a")
    doc.connect(three_x, total, "b")
    doc.connect(total, loss, "a")
    _describe(doc, "Minimise x² + 3x + 1 by gradient descent",
              "Start at x = 2; each SGD step moves x by -lr · (2x + 3). With lr = 0.1, x "
              "approaches -1.5, where the loss is -1.25.", backward_node="loss",
              optimizer="SGD", lr=0.1, steps=50)
    return doc


@_example
def linear_regression() -> GraphDocument:
    doc = GraphDocument()
    data = doc.add_node("Data", label="data", formula="2*x + 1", samples=100, noise=0.1,
                        seed=0, x_min=-1.0, x_max=1.0)
    weight = doc.add_node("Parameter", label="weight", value="[[0.0]]")
    bias = doc.add_node("Parameter", label="bias", value="[0.0]")
    linear = doc.add_node("Linear", label="prediction")
    loss = doc.add_node("MSELoss", label="loss")
    doc.connect(data, linear, "input", source_port="x")
    doc.connect(weight, linear, "weight")
    doc.connect(bias, linear, "bias")
    doc.connect(linear, loss, "input")
    doc.connect(data, loss, "target", source_port="y")
    _describe(doc, "Linear regression of y = 2x + 1 + noise",
              "Linear (weight 1×1, bias) + MSELoss + SGD. Train: weight goes to about 2 and "
              "bias to about 1.", backward_node="loss", optimizer="SGD", lr=0.5, steps=200)
    return doc


XOR_POINTS = ("[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], "
              "[0.1, 0.1], [0.1, 0.9], [0.9, 0.1], [0.9, 0.9]]")
XOR_LABELS = "[0, 1, 1, 0, 0, 1, 1, 0]"


@_example
def mlp_classifier() -> GraphDocument:
    doc = GraphDocument()
    points = doc.add_node("Tensor", label="points", value=XOR_POINTS)
    labels = doc.add_node("Tensor", label="labels", value=XOR_LABELS)
    w1 = doc.add_node("Parameter", label="W1", value="randn(8, 2)")
    b1 = doc.add_node("Parameter", label="b1", value="zeros(8)")
    w2 = doc.add_node("Parameter", label="W2", value="randn(2, 8) * 0.5")
    b2 = doc.add_node("Parameter", label="b2", value="zeros(2)")
    hidden = doc.add_node("Linear", label="hidden")
    activation = doc.add_node("Tanh", label="tanh")
    logits = doc.add_node("Linear", label="logits")
    loss = doc.add_node("CrossEntropyLoss", label="loss")
    doc.connect(points, hidden, "input")
    doc.connect(w1, hidden, "weight")
    doc.connect(b1, hidden, "bias")
    doc.connect(hidden, activation, "x")
    doc.connect(activation, logits, "input")
    doc.connect(w2, logits, "weight")
    doc.connect(b2, logits, "bias")
    doc.connect(logits, loss, "input")
    doc.connect(labels, loss, "target")
    _describe(doc, "A small MLP classifier (XOR)",
              "Two inputs, 8 tanh hidden units, 2 classes, cross entropy, Adam. XOR is not "
              "linearly separable: the hidden layer is what makes it learnable.",
              backward_node="loss", optimizer="Adam", lr=0.05, steps=300)
    return doc


if __name__ == "__main__":  # pragma: no cover - maintenance command
    for written in write_all():
        print(written)
