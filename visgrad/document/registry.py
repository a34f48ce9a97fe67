"""Every kind of node the canvas offers: ports, parameters, formulas, and how to run it.

One :class:`NodeKind` per entry. The palette lists them by category, the inspector shows
their formula and local derivatives, validation calls ``infer`` (shapes and dtypes over
:class:`~visgrad.document.shapes.TensorMeta`, nothing allocated), and the session calls
``evaluate`` (the engine, with PyTorch's semantics).

Example::

    >>> from visgrad.document import registry
    >>> mul = registry.get("Mul")
    >>> mul.formula, mul.derivatives["a"]
    ('a · b', '∂/∂a = b')
    >>> [port.name for port in mul.input_ports({})]
    ['a', 'b']
    >>> sorted(registry.categories())[:3]
    ['Arithmetic', 'Custom', 'Functions']

NOTE [one table]: a kind's forward, its shape rule and its derivative text sit together in
one ``_kind(...)`` call, so adding an op is one entry, and nothing else needs to know the list.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visgrad.document import shapes as S
from visgrad.document.expressions import (
    CONSTRUCTORS,
    ELEMENTWISE_FUNCTIONS,
    FORMULA_FUNCTIONS,
    TENSOR_FUNCTIONS,
    VALUE_FUNCTIONS,
    ExpressionError,
    checked_constructors,
    parse_expression,
    parse_value,
)
from visgrad.document.params import Param, ParamError
from visgrad.document.shapes import ShapeError, TensorMeta

CATEGORIES = (
    "Tensors", "Arithmetic", "Functions", "Reductions", "Linear algebra", "Shape",
    "Neural network", "Losses", "Custom",
)
DTYPE_CHOICES = ("auto", "float32", "float64", "int64", "bool")
REDUCTIONS = ("mean", "sum", "none")
DATA_FUNCTIONS = ELEMENTWISE_FUNCTIONS | {"clamp", "maximum", "minimum", "where"}


@dataclass(frozen=True)
class Port:
    """An input or output of a node. An ``optional`` input may stay unconnected."""

    name: str
    description: str = ""
    optional: bool = False


@dataclass
class EvaluationContext:
    """What ``evaluate`` may use besides its inputs: limits, the node's label, a log."""

    label: str = ""
    max_elements: int | None = None
    log: Callable[[str], None] = field(default=lambda text: None)
    _functions: dict[str, Callable[..., Any]] | None = field(default=None, repr=False)

    def functions(self) -> dict[str, Callable[..., Any]]:
        """Formula functions backed by the engine (``exp``, ``sum``, ``ones``...)."""
        if self._functions is None:
            self._functions = engine_functions(self.max_elements)
        return self._functions


def _vg() -> Any:
    import visgrad  # noqa: PLC0415 - the engine is imported when a node runs, not before

    return visgrad


def engine_dtype(name: str) -> Any:
    return getattr(_vg(), name)


def engine_functions(max_elements: int | None = None) -> dict[str, Callable[..., Any]]:
    """The table formulas are evaluated with: the engine's functions and sized constructors."""
    vg = _vg()
    table: dict[str, Callable[..., Any]] = {}
    for name in TENSOR_FUNCTIONS:
        function = getattr(vg, name, None)
        if function is not None:
            table[name] = _on_numbers_too(function) if name in ELEMENTWISE_FUNCTIONS else function
    table.setdefault("neg", lambda x: -x)
    table.setdefault("pow", lambda x, exponent: x**exponent)
    table.setdefault("relu", lambda x: x.relu())
    table["zeros_like"] = lambda x: vg.zeros(tuple(x.shape), dtype=x.dtype)
    table["ones_like"] = lambda x: vg.ones(tuple(x.shape), dtype=x.dtype)
    table.update(checked_constructors(
        {name: getattr(vg, name) for name in CONSTRUCTORS if hasattr(vg, name)}, max_elements))
    return table


def _on_numbers_too(function: Callable[..., Any]) -> Callable[..., Any]:
    """``exp(1.0)`` in a value or formula means the function of a 0-d tensor of that number
    (the engine's functions, like torch's, take tensors only)."""
    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, bool | int | float):
            x = _vg().tensor(x)
        return function(x, *args, **kwargs)

    call.__name__ = getattr(function, "__name__", "function")
    return call


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


NUMPY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda x: np.maximum(x, 0), "abs": np.abs,
    "neg": np.negative, "clamp": lambda x, min=None, max=None: np.clip(x, min, max),  # noqa: A006
    "maximum": np.maximum, "minimum": np.minimum, "where": np.where,
}


@dataclass(frozen=True)
class NodeKind:
    """One entry of the palette.

    ``formula`` is the forward as text; ``derivatives`` the local derivative per input
    (``∂/∂a = b``); ``gradients`` the chain rule per input with the incoming gradient called
    ``grad`` (``grad · b``), whose names of inputs, params and ``out`` are filled with numbers
    by the stepper when ``numeric``. ``grad_fn_names`` are the engine nodes it creates (for
    :func:`visgrad.document.trace`).
    """

    name: str
    category: str
    description: str
    inputs: tuple[Port, ...] | Callable[[Mapping[str, Any]], tuple[Port, ...]]
    outputs: tuple[Port, ...]
    params: tuple[Param, ...]
    formula: str
    derivatives: Mapping[str, str]
    gradients: Mapping[str, str]
    evaluate: Callable[..., tuple[Any, ...]] = field(repr=False)
    infer: Callable[..., tuple[TensorMeta, ...]] = field(repr=False)
    is_source: bool = False
    numeric: bool = True
    grad_fn_names: tuple[str, ...] = ()

    def input_ports(self, params: Mapping[str, Any] | None = None) -> tuple[Port, ...]:
        """The inputs; for Cat/Stack/Function they depend on the node's parameters."""
        if callable(self.inputs):
            return self.inputs({**self.defaults(), **(params or {})})
        return self.inputs

    def output_ports(self) -> tuple[Port, ...]:
        return self.outputs

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise ParamError(f"{self.name} has no parameter {name!r}; it has "
                         f"{', '.join(p.name for p in self.params) or 'none'}")

    def defaults(self) -> dict[str, Any]:
        return {param.name: param.default for param in self.params}

    def coerce_params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """All parameters in stored form: defaults filled in, unknown names refused."""
        given = dict(params or {})
        result = {}
        for param in self.params:
            result[param.name] = param.coerce(given.pop(param.name, param.default))
        if given:
            raise ParamError(f"{self.name} has no parameter {sorted(given)[0]!r}; it has "
                             f"{', '.join(p.name for p in self.params) or 'none'}")
        return result


_KINDS: dict[str, NodeKind] = {}
_BY_GRAD_FN: dict[str, str] = {}

NO_GRAD = Param("no_grad", "bool", False, "evaluate under vg.no_grad(): the result is cut off "
                "from the graph")


def _kind(name: str, category: str, description: str, *, inputs: Any = ("x",),
          outputs: tuple[str, ...] = ("out",), params: tuple[Param, ...] = (),
          formula: str = "", derivatives: Mapping[str, str] | None = None,
          gradients: Mapping[str, str] | None = None, evaluate: Callable[..., Any],
          infer: Callable[..., Any], source: bool = False, numeric: bool = True,
          grad_fn_names: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> NodeKind:
    if not callable(inputs):
        inputs = tuple(Port(port, optional=port in optional) for port in inputs)
    if not source:
        params = (*params, NO_GRAD)
    kind = NodeKind(
        name=name, category=category, description=description, inputs=inputs,
        outputs=tuple(Port(port) for port in outputs), params=params, formula=formula,
        derivatives=dict(derivatives or {}), gradients=dict(gradients or {}),
        evaluate=evaluate, infer=infer, is_source=source, numeric=numeric,
        grad_fn_names=grad_fn_names,
    )
    assert name not in _KINDS, name
    assert category in CATEGORIES, category
    _KINDS[name] = kind
    for grad_fn in grad_fn_names:
        _BY_GRAD_FN.setdefault(grad_fn, name)
    return kind


def get(name: str) -> NodeKind:
    """The kind called ``name`` (``"Mul"``); ``KeyError`` with the known names otherwise."""
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown node kind {name!r}; known kinds: "
                       f"{', '.join(sorted(_KINDS))}") from None


def names() -> tuple[str, ...]:
    return tuple(_KINDS)


def kinds() -> tuple[NodeKind, ...]:
    return tuple(_KINDS.values())


def categories() -> dict[str, tuple[NodeKind, ...]]:
    """Kinds grouped for the palette, in palette order."""
    return {category: tuple(k for k in _KINDS.values() if k.category == category)
            for category in CATEGORIES}


def kind_for_grad_fn(grad_fn_name: str) -> str | None:
    """The kind whose evaluation makes an engine node of this name (``"MulBackward0"``)."""
    return _BY_GRAD_FN.get(grad_fn_name)


# --------------------------------------------------------------------------------------------
# Sources


def _source_meta(value: str, dtype: str, requires_grad: bool) -> TensorMeta:
    spec = parse_value(value)
    if spec.is_literal:
        meta = TensorMeta(spec.shape or (), spec.literal_dtype or "float32")
    else:
        result = spec.expression.evaluate({}, S.meta_functions())
        meta = S.as_meta(result)
    if dtype != "auto":
        meta = TensorMeta(meta.shape, dtype)
    if requires_grad and not S.is_floating(meta.dtype):
        raise ShapeError("Only Tensors of floating point and complex dtype can require "
                         f"gradients (this value is {meta.dtype}; choose float32 or float64)")
    return TensorMeta(meta.shape, meta.dtype, requires_grad)


def make_leaf(value: str, dtype: str, requires_grad: bool, context: EvaluationContext) -> Any:
    """A fresh leaf tensor from a value text, through the engine."""
    vg = _vg()
    spec = parse_value(value, max_elements=context.max_elements)
    wanted = None if dtype == "auto" else engine_dtype(dtype)
    if spec.is_literal:
        return vg.tensor(spec.literal, dtype=wanted, requires_grad=requires_grad)
    functions = {name: f for name, f in context.functions().items() if name in VALUE_FUNCTIONS}
    with vg.no_grad():
        result = spec.expression.evaluate({}, functions, max_elements=context.max_elements)
    if isinstance(result, bool | int | float):
        return vg.tensor(result, dtype=wanted, requires_grad=requires_grad)
    if wanted is None:
        wanted = result.dtype
    return vg.tensor(result.numpy(), dtype=wanted, requires_grad=requires_grad)


_tensor = _kind(
    "Tensor", "Tensors",
    "A tensor you type: a literal such as [1, 2, 3] or a constructor such as ones(2, 2).",
    inputs=(), source=True,
    params=(
        Param("value", "value", "[1.0, 2.0, 3.0]", "a literal or a constructor: [[1, 2], "
              "[3, 4]], 3.0, ones(2, 2), randn(3, 4), linspace(0, 10, 100)"),
        Param("dtype", "choice", "auto", "auto: as torch.tensor infers it", DTYPE_CHOICES),
        Param("requires_grad", "bool", False, "track operations for autograd (a leaf)"),
    ),
    formula="the value you typed",
    evaluate=lambda inputs, p, context: (
        make_leaf(p["value"], p["dtype"], p["requires_grad"], context),),
    infer=lambda inputs, p, notes: (_source_meta(p["value"], p["dtype"], p["requires_grad"]),),
)

_parameter = _kind(
    "Parameter", "Tensors",
    "A learnable leaf tensor (requires_grad=True): what backward fills .grad of and "
    "optimizers update.",
    inputs=(), source=True,
    params=(
        Param("value", "value", "1.0", "initial value: 2.0, [0.5, -1.0], randn(3, 4) * 0.1"),
        Param("dtype", "choice", "float32", "", ("float32", "float64")),
    ),
    formula="a leaf with requires_grad=True",
    evaluate=lambda inputs, p, context: (make_leaf(p["value"], p["dtype"], True, context),),
    infer=lambda inputs, p, notes: (_source_meta(p["value"], p["dtype"], True),),
)


def generate_data(params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The Data node's samples as float32 arrays of shape (samples, 1): x, then y.

    Numpy with its own seeded generator, so the samples do not depend on the engine's RNG.
    """
    rng = np.random.default_rng(params["seed"])
    n = params["samples"]
    if params["sampling"] == "linspace":
        x = np.linspace(params["x_min"], params["x_max"], n)
    else:
        x = np.sort(rng.uniform(params["x_min"], params["x_max"], n))
    formula = parse_expression(params["formula"], names={"x"}, functions=DATA_FUNCTIONS,
                               where="formula")
    y = np.broadcast_to(np.asarray(formula.evaluate({"x": x}, NUMPY_FUNCTIONS), float), x.shape)
    y = y + params["noise"] * rng.standard_normal(n)
    return (x.reshape(n, 1).astype(np.float32), y.reshape(n, 1).astype(np.float32))


def _evaluate_data(inputs: Any, p: Mapping[str, Any], context: EvaluationContext) -> tuple:
    limit = context.max_elements
    if limit is not None and p["samples"] > limit:  # the session's limit, as for values
        raise ShapeError(f"{p['samples']:,} samples would make tensors of more than the "
                         f"limit of {limit:,} elements")
    x, y = generate_data(p)
    return (_vg().tensor(x), _vg().tensor(y))


def _infer_data(inputs: Any, p: Mapping[str, Any], notes: list[str]) -> tuple:
    parse_expression(p["formula"], names={"x"}, functions=DATA_FUNCTIONS, where="formula")
    meta = TensorMeta((p["samples"], 1), "float32")
    return (meta, meta)


_data = _kind(
    "Data", "Tensors",
    "x/y samples for regression: y = formula(x) + noise · N(0, 1), reproducible by seed.",
    inputs=(), outputs=("x", "y"), source=True,
    params=(
        Param("formula", "expression", "2*x + 1", "y as a formula of x"),
        Param("samples", "int", 100, "number of samples", minimum=1, maximum=10_000_000),
        Param("x_min", "float", -1.0), Param("x_max", "float", 1.0),
        Param("noise", "float", 0.1, "standard deviation of the noise added to y", minimum=0),
        Param("seed", "int", 0, "random seed (numpy)", minimum=0),
        Param("sampling", "choice", "uniform", "uniform: random x; linspace: evenly spaced x",
              ("uniform", "linspace")),
    ),
    formula="y = formula(x) + noise · ε",
    evaluate=_evaluate_data, infer=_infer_data,
)


# --------------------------------------------------------------------------------------------
# Arithmetic


def _scalar_or_input(inputs: Mapping[str, Any], p: Mapping[str, Any], port: str) -> Any:
    value = inputs.get(port)
    if value is None:
        if p.get("scalar") is None:
            raise ShapeError(f"input {port!r} is not connected (connect it, or set 'scalar')")
        return p["scalar"]
    return value


def _binary(name: str, symbol: str, op: Callable[[Any, Any], Any], formula: str,
            derivatives: tuple[str, str], gradients: tuple[str, str],
            grad_fn: str, description: str) -> NodeKind:
    return _kind(
        name, "Arithmetic", description, inputs=("a", "b"), optional=("b",),
        params=(Param("scalar", "float", None, "the number used for b when b is not "
                      "connected", optional=True),),
        formula=formula,
        derivatives={"a": f"∂/∂a = {derivatives[0]}", "b": f"∂/∂b = {derivatives[1]}"},
        gradients={"a": gradients[0], "b": gradients[1]},
        evaluate=lambda inputs, p, context: (op(inputs["a"], _scalar_or_input(inputs, p, "b")),),
        infer=lambda inputs, p, notes: (
            S.binary_meta(inputs["a"], _scalar_or_input(inputs, p, "b"), symbol),),
        grad_fn_names=(grad_fn,),
    )


_binary("Add", "+", lambda a, b: a + b, "a + b", ("1", "1"), ("grad", "grad"), "AddBackward0",
        "Sum of two tensors (broadcast).")
_binary("Sub", "-", lambda a, b: a - b, "a - b", ("1", "-1"), ("grad", "-grad"),
        "SubBackward0", "Difference of two tensors (broadcast).")
_binary("Mul", "*", lambda a, b: a * b, "a · b", ("b", "a"), ("grad · b", "grad · a"),
        "MulBackward0", "Elementwise product (broadcast).")
_binary("Div", "/", lambda a, b: a / b, "a / b", ("1 / b", "-a / b²"),
        ("grad / b", "-grad · a / b²"), "DivBackward0", "Elementwise true division.")

_kind("Neg", "Arithmetic", "Negation.", formula="-x", derivatives={"x": "∂/∂x = -1"},
      gradients={"x": "-grad"}, evaluate=lambda i, p, c: (-i["x"],),
      infer=lambda i, p, n: (-i["x"],), grad_fn_names=("NegBackward0",))


def _pow_exponent(inputs: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
    exponent = inputs.get("exponent")
    if exponent is not None:
        return exponent
    value = p["exponent"]
    return int(value) if float(value).is_integer() else value


_kind("Pow", "Arithmetic",
      "x to a power: the 'exponent' parameter, or the 'exponent' input when connected.",
      inputs=("x", "exponent"), optional=("exponent",),
      params=(Param("exponent", "float", 2.0, "used when the exponent input is not connected"),),
      formula="x ^ exponent",
      derivatives={"x": "∂/∂x = exponent · x^(exponent - 1)",
                   "exponent": "∂/∂exponent = x^exponent · ln(x)"},
      gradients={"x": "grad · exponent · x^(exponent - 1)", "exponent": "grad · out · ln(x)"},
      evaluate=lambda i, p, c: (i["x"] ** _pow_exponent(i, p),),
      infer=lambda i, p, n: (S.binary_meta(i["x"], _pow_exponent(i, p), "**"),),
      grad_fn_names=("PowBackward0", "PowBackward1"))


# --------------------------------------------------------------------------------------------
# Functions


def _unary(name: str, function: str, formula: str, derivative: str, gradient: str,
           grad_fn: str, description: str, floating: bool = True) -> NodeKind:
    def evaluate(inputs: Mapping[str, Any], p: Any, context: Any) -> tuple:
        return (getattr(_vg(), function)(inputs["x"]),)

    def infer(inputs: Mapping[str, Any], p: Any, notes: Any) -> tuple:
        meta = inputs["x"]
        if meta.dtype == "bool" and function == "abs":
            raise ShapeError("\"abs_cpu\" not implemented for 'Bool'")
        return (TensorMeta(meta.shape, S.float_result(meta.dtype) if floating else meta.dtype,
                           meta.requires_grad),)

    return _kind(name, "Functions", description, formula=formula,
                 derivatives={"x": f"∂/∂x = {derivative}"}, gradients={"x": gradient},
                 evaluate=evaluate, infer=infer, grad_fn_names=(grad_fn,))


_unary("Exp", "exp", "exp(x)", "exp(x)", "grad · out", "ExpBackward0", "e to the x.")
_unary("Log", "log", "ln(x)", "1 / x", "grad / x", "LogBackward0", "Natural logarithm.")
_unary("Sqrt", "sqrt", "√x", "1 / (2√x)", "grad / (2 · out)", "SqrtBackward0", "Square root.")
_unary("Sin", "sin", "sin(x)", "cos(x)", "grad · cos(x)", "SinBackward0", "Sine.")
_unary("Cos", "cos", "cos(x)", "-sin(x)", "-grad · sin(x)", "CosBackward0", "Cosine.")
_unary("Tanh", "tanh", "tanh(x)", "1 - tanh²(x)", "grad · (1 - out²)", "TanhBackward0",
       "Hyperbolic tangent (also nn.functional.tanh).")
_unary("Sigmoid", "sigmoid", "σ(x) = 1 / (1 + e^-x)", "σ(x) · (1 - σ(x))",
       "grad · out · (1 - out)", "SigmoidBackward0", "Logistic sigmoid (also F.sigmoid).")
_unary("ReLU", "relu", "max(x, 0)", "1 where x > 0, else 0", "grad · [x > 0]",
       "ReluBackward0", "Rectified linear unit (also nn.functional.relu).", floating=False)
_unary("Abs", "abs", "|x|", "sign(x)", "grad · sign(x)", "AbsBackward0", "Absolute value.",
       floating=False)


def _activation(name: str, function: str, kernel: str, params: tuple[Param, ...],
                formula: str, derivative: str, gradient: str, grad_fn: str,
                description: str) -> NodeKind:
    """An activation of nn.functional with parameters (floats only, as torch's kernels)."""
    names = tuple(param.name for param in params)

    def evaluate(inputs: Mapping[str, Any], p: Any, context: Any) -> tuple:
        return (getattr(_functional(), function)(inputs["x"], **{n: p[n] for n in names}),)

    def infer(inputs: Mapping[str, Any], p: Any, notes: Any) -> tuple:
        meta = inputs["x"]
        if not S.is_floating(meta.dtype):
            raise ShapeError(f'"{kernel}" not implemented for '
                             f"'{S.torch_dtype_name(meta.dtype)}'")
        return (TensorMeta(meta.shape, meta.dtype, meta.requires_grad),)

    return _kind(name, "Functions", description, params=params, formula=formula,
                 derivatives={"x": f"∂/∂x = {derivative}"}, gradients={"x": gradient},
                 evaluate=evaluate, infer=infer, grad_fn_names=(grad_fn,))


_activation("LeakyReLU", "leaky_relu", "leaky_relu_cpu",
            (Param("negative_slope", "float", 0.01, "the slope left of 0"),),
            "x where x > 0, else negative_slope · x", "1 where x > 0, else negative_slope",
            "grad · [x > 0 ? 1 : negative_slope]", "LeakyReluBackward0",
            "ReLU with a small slope for negative x (nn.functional.leaky_relu).")
_activation("ELU", "elu", "elu_cpu", (Param("alpha", "float", 1.0, "the value far left of 0"),),
            "x where x > 0, else alpha · (eˣ - 1)", "1 where x > 0, else alpha · eˣ",
            "grad · [x > 0 ? 1 : alpha · eˣ]", "EluBackward0",
            "Exponential linear unit (nn.functional.elu).")
_activation("GELU", "gelu", "GeluKernelImpl",
            (Param("approximate", "choice", "none", "'tanh': the tanh formula",
                   ("none", "tanh")),),
            "x · Φ(x), Φ the standard normal CDF", "Φ(x) + x · φ(x)",
            "grad · (Φ(x) + x · φ(x))", "GeluBackward0",
            "Gaussian error linear unit, as in transformers (nn.functional.gelu).")
_activation("SiLU", "silu", "silu_cpu", (), "x · σ(x)", "σ(x) · (1 + x · (1 - σ(x)))",
            "grad · σ(x) · (1 + x · (1 - σ(x)))", "SiluBackward0",
            "Sigmoid linear unit, or swish (nn.functional.silu).")
_activation("Softplus", "softplus", "softplus_cpu",
            (Param("beta", "float", 1.0, "sharpness"),
             Param("threshold", "float", 20.0, "beta · x above this: x itself")),
            "ln(1 + e^(beta · x)) / beta", "σ(beta · x)", "grad · σ(beta · x)",
            "SoftplusBackward0", "A smooth ReLU (nn.functional.softplus).")


def _clamp_infer(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: Any) -> tuple:
    return (inputs["x"].clamp(p["min"], p["max"]),)


_kind("Clamp", "Functions", "Clip x into [min, max] (either bound may be empty).",
      params=(Param("min", "float", 0.0, "", optional=True),
              Param("max", "float", 1.0, "", optional=True)),
      formula="min(max(x, min), max)",
      derivatives={"x": "∂/∂x = 1 where min ≤ x ≤ max, else 0"},
      gradients={"x": "grad · [min ≤ x ≤ max]"},
      evaluate=lambda i, p, c: (_vg().clamp(i["x"], p["min"], p["max"]),),
      infer=_clamp_infer, grad_fn_names=("ClampBackward1", "ClampMinBackward0",
                                         "ClampMaxBackward0"))


def _pair(name: str, function: str, formula: str, description: str, grad_fn: str,
          rule: tuple[str, str]) -> NodeKind:
    return _kind(name, "Functions", description, inputs=("a", "b"), formula=formula,
                 derivatives={"a": f"∂/∂a = {rule[0]}", "b": f"∂/∂b = {rule[1]}"},
                 gradients={"a": f"grad · {rule[0]}", "b": f"grad · {rule[1]}"},
                 evaluate=lambda i, p, c: (getattr(_vg(), function)(i["a"], i["b"]),),
                 infer=lambda i, p, n: (S.elementwise_pair_meta(i["a"], i["b"]),),
                 grad_fn_names=(grad_fn,), numeric=False)


_pair("Maximum", "maximum", "max(a, b) elementwise", "Elementwise maximum.",
      "MaximumBackward0", ("[a > b] (½ where equal)", "[b > a] (½ where equal)"))
_pair("Minimum", "minimum", "min(a, b) elementwise", "Elementwise minimum.",
      "MinimumBackward0", ("[a < b] (½ where equal)", "[b < a] (½ where equal)"))

_kind("Where", "Functions", "condition ? a : b, elementwise.",
      inputs=("condition", "a", "b"), formula="a where condition, else b",
      derivatives={"a": "∂/∂a = [condition]", "b": "∂/∂b = [not condition]"},
      gradients={"a": "grad where condition, else 0", "b": "grad where not condition, else 0"},
      evaluate=lambda i, p, c: (_vg().where(i["condition"], i["a"], i["b"]),),
      infer=lambda i, p, n: (S.where_meta(i["condition"], i["a"], i["b"]),),
      grad_fn_names=("WhereBackward0",), numeric=False)


def _evaluate_grad(inputs: Mapping[str, Any], p: Mapping[str, Any], context: Any) -> tuple:
    (gradient,) = _vg().autograd.grad(
        [inputs["output"]], [inputs["input"]], create_graph=p["create_graph"],
        retain_graph=True)
    return (gradient,)


def _infer_grad(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: Any) -> tuple:
    output, wrt = inputs["output"], inputs["input"]
    if not output.requires_grad:
        raise ShapeError("element 0 of tensors does not require grad and does not have a "
                         "grad_fn")
    if output.numel() != 1:
        raise ShapeError("grad can be implicitly created only for scalar outputs")
    return (TensorMeta(wrt.shape, wrt.dtype, p["create_graph"] and wrt.requires_grad),)


_kind("Grad", "Functions",
      "d output / d input as a tensor (vg.autograd.grad); with create_graph the result can be "
      "differentiated again: higher-order derivatives.",
      inputs=("output", "input"),
      params=(Param("create_graph", "bool", True, "build a graph of the derivative itself"),),
      formula="∂output/∂input",
      derivatives={"input": "the second derivative, through the derivative's own graph"},
      gradients={}, evaluate=_evaluate_grad, infer=_infer_grad, numeric=False)


# --------------------------------------------------------------------------------------------
# Reductions


def _dims(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _reduction(name: str, method: str, formula: str, derivative: str, gradient: str,
               grad_fns: tuple[str, ...], description: str, single_dim: bool = False) -> None:
    def evaluate(inputs: Mapping[str, Any], p: Mapping[str, Any], context: Any) -> tuple:
        x = inputs["x"]
        if p["dim"] is None:
            result = getattr(x, method)()
            if p["keepdim"]:
                result = result.reshape((1,) * len(x.shape))
        else:
            result = getattr(x, method)(_dims(p["dim"]), keepdim=p["keepdim"])
        if isinstance(result, tuple):  # max/min over a dim: (values, indices)
            result = result[0]
        return (result,)

    def infer(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: Any) -> tuple:
        if single_dim and isinstance(p["dim"], list):
            raise ShapeError(f"{method}() takes one dim (an integer) or none")
        return (getattr(inputs["x"], method)(_dims(p["dim"]), p["keepdim"]),)

    _kind(name, "Reductions", description,
          params=(Param("dim", "dims", None, "dimension(s) to reduce; empty: all",
                        optional=True),
                  Param("keepdim", "bool", False, "keep reduced dimensions with size 1")),
          formula=formula, derivatives={"x": f"∂/∂x = {derivative}"}, gradients={"x": gradient},
          evaluate=evaluate, infer=infer, grad_fn_names=grad_fns, numeric=False)


_reduction("Sum", "sum", "Σ x", "1", "grad expanded to the shape of x",
           ("SumBackward0", "SumBackward1"), "Sum of elements, over all or some dims.")
_reduction("Mean", "mean", "Σ x / n", "1 / n", "grad / n expanded to the shape of x",
           ("MeanBackward0", "MeanBackward1"), "Mean of elements, over all or some dims.")
_reduction("Max", "max", "max x", "1 at the maximum (shared among ties), 0 elsewhere",
           "grad sent to the maximum", ("MaxBackward1", "MaxBackward0"),
           "Largest element, over all or one dim (values).", single_dim=True)
_reduction("Min", "min", "min x", "1 at the minimum (shared among ties), 0 elsewhere",
           "grad sent to the minimum", ("MinBackward1", "MinBackward0"),
           "Smallest element, over all or one dim (values).", single_dim=True)


# --------------------------------------------------------------------------------------------
# Linear algebra and shape


_kind("MatMul", "Linear algebra",
      "Matrix product with torch.matmul's rules (dot, mv, mm, batched).",
      inputs=("a", "b"), formula="a @ b",
      derivatives={"a": "∂/∂a: grad @ bᵀ", "b": "∂/∂b: aᵀ @ grad"},
      gradients={"a": "grad @ bᵀ", "b": "aᵀ @ grad"},
      evaluate=lambda i, p, c: (_vg().matmul(i["a"], i["b"]),),
      infer=lambda i, p, n: (S.matmul_meta(i["a"], i["b"]),),
      grad_fn_names=("MmBackward0", "MvBackward0", "DotBackward0"), numeric=False)


def _shape_kind(name: str, description: str, params: tuple[Param, ...], formula: str,
                gradient: str, call: Callable[[Any, Mapping[str, Any]], Any],
                grad_fns: tuple[str, ...]) -> None:
    _kind(name, "Shape", description, params=params, formula=formula,
          derivatives={"x": "∂/∂x: the identity, rearranged"}, gradients={"x": gradient},
          evaluate=lambda i, p, c: (call(i["x"], p),),
          infer=lambda i, p, n: (call(i["x"], p),),
          grad_fn_names=grad_fns, numeric=False)


_shape_kind("Reshape", "Same elements, new shape (one size may be -1).",
            (Param("shape", "shape", [-1], "new shape, e.g. 2, 3 or -1"),),
            "x viewed with a new shape", "grad reshaped to the shape of x",
            lambda x, p: x.reshape(tuple(p["shape"])),
            ("ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0"))
_shape_kind("Transpose", "Swap two dimensions.",
            (Param("dim0", "int", 0), Param("dim1", "int", 1)),
            "x with dim0 and dim1 swapped", "grad with dim0 and dim1 swapped back",
            lambda x, p: x.transpose(p["dim0"], p["dim1"]), ("TransposeBackward0", "TBackward0"))
_shape_kind("Permute", "Reorder all dimensions.",
            (Param("dims", "shape", [1, 0], "the new order, e.g. 2, 0, 1"),),
            "x with dimensions reordered", "grad permuted back",
            lambda x, p: x.permute(*p["dims"]), ("PermuteBackward0",))
_shape_kind("Unsqueeze", "Insert a dimension of size 1.", (Param("dim", "int", 0),),
            "x with a new axis at dim", "grad squeezed at dim",
            lambda x, p: x.unsqueeze(p["dim"]), ("UnsqueezeBackward0",))
_shape_kind("Squeeze", "Remove dimensions of size 1 (all, or only dim).",
            (Param("dim", "int", None, "empty: every size-1 dimension", optional=True),),
            "x without size-1 axes", "grad unsqueezed back",
            lambda x, p: x.squeeze() if p["dim"] is None else x.squeeze(p["dim"]),
            ("SqueezeBackward0", "SqueezeBackward1", "SqueezeBackward2"))


def _numbered_ports(params: Mapping[str, Any]) -> tuple[Port, ...]:
    return tuple(Port(f"t{index}") for index in range(params["count"]))


def _joined(name: str, function: str, description: str, grad_fn: str, shape_rule: Any) -> None:
    def tensors(inputs: Mapping[str, Any], p: Mapping[str, Any]) -> list[Any]:
        return [inputs[f"t{index}"] for index in range(p["count"])]

    def infer(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: Any) -> tuple:
        metas = tensors(inputs, p)
        shape = shape_rule([m.shape for m in metas], p["dim"])
        return (TensorMeta(shape, S.result_type(*metas), any(m.requires_grad for m in metas)),)

    _kind(name, "Shape", description, inputs=_numbered_ports,
          params=(Param("count", "int", 2, "number of inputs", minimum=1, maximum=16),
                  Param("dim", "int", 0)),
          formula=f"{function}([t0, t1, ...], dim)",
          derivatives={"t0": "∂/∂tᵢ: the part of the result that came from tᵢ"},
          gradients={}, evaluate=lambda i, p, c: (getattr(_vg(), function)(tensors(i, p),
                                                                           p["dim"]),),
          infer=infer, grad_fn_names=(grad_fn,), numeric=False)


_joined("Cat", "cat", "Concatenate along an existing dimension.", "CatBackward0", S.cat_shape)
_joined("Stack", "stack", "Stack along a new dimension.", "StackBackward0", S.stack_shape)

_kind("Detach", "Tensors",
      "The same values cut off from the graph: no gradient flows back through it.",
      formula="x (no gradient)", derivatives={"x": "none: detached"}, gradients={},
      evaluate=lambda i, p, c: (i["x"].detach(),),
      infer=lambda i, p, n: (i["x"].detach(),), numeric=False)
_kind("Clone", "Tensors", "A copy that stays in the graph.", formula="x",
      derivatives={"x": "∂/∂x = 1"}, gradients={"x": "grad"},
      evaluate=lambda i, p, c: (i["x"].clone(),), infer=lambda i, p, n: (i["x"].clone(),),
      grad_fn_names=("CloneBackward0",))


# --------------------------------------------------------------------------------------------
# Neural network


def _functional() -> Any:
    # vg.nn may not be imported by ``visgrad/__init__`` yet: import the module itself.
    return importlib.import_module("visgrad.nn.functional")


def _infer_linear(inputs: Mapping[str, Any], p: Any, notes: Any) -> tuple:
    x, weight, bias = inputs["input"], inputs["weight"], inputs.get("bias")
    if weight.ndim not in (1, 2):
        raise ShapeError(f"weight must be 1-D or 2-D, got shape {S.shape_text(weight.shape)}")
    weight_t = weight.shape[::-1]
    if x.ndim == 0:
        raise ShapeError("both arguments to linear need to be at least 1D, but they are 0D "
                         f"and {weight.ndim}D")
    if x.shape[-1] != weight_t[0]:
        rows = S.numel(x.shape[:-1])
        cols = " and ".join(["x".join(map(str, (rows, x.shape[-1]))),
                             "x".join(map(str, weight_t if len(weight_t) == 2
                                          else (*weight_t, 1)))])
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({cols})")
    out = S.matmul_meta(x, TensorMeta(weight_t, weight.dtype, weight.requires_grad))
    if bias is not None:
        out = S.binary_meta(out, bias, "+")
    return (out,)


_kind("Linear", "Neural network",
      "input @ weightᵀ + bias (nn.functional.linear); weight is (out_features, in_features).",
      inputs=("input", "weight", "bias"), optional=("bias",),
      formula="input @ weightᵀ + bias",
      derivatives={"input": "∂/∂input: grad @ weight", "weight": "∂/∂weight: gradᵀ @ input",
                   "bias": "∂/∂bias: grad summed over the batch"},
      gradients={"input": "grad @ weight", "weight": "gradᵀ @ input",
                 "bias": "grad summed over the batch"},
      evaluate=lambda i, p, c: (_functional().linear(i["input"], i["weight"], i.get("bias")),),
      infer=_infer_linear, grad_fn_names=("AddmmBackward0", "LinearBackward0"), numeric=False)


def _softmax_kind(name: str, function: str, formula: str, gradient: str, grad_fn: str) -> None:
    _kind(name, "Neural network", f"{formula} along dim (nn.functional.{function}).",
          params=(Param("dim", "int", -1),), formula=formula,
          derivatives={"x": "∂/∂x: the softmax Jacobian"}, gradients={"x": gradient},
          evaluate=lambda i, p, c: (getattr(_functional(), function)(i["x"], dim=p["dim"]),),
          infer=lambda i, p, n: (getattr(i["x"], function)(p["dim"]),),
          grad_fn_names=(grad_fn,), numeric=False)


_softmax_kind("Softmax", "softmax", "exp(x) / Σ exp(x)", "out · (grad - Σ grad · out)",
              "SoftmaxBackward0")
_softmax_kind("LogSoftmax", "log_softmax", "x - log Σ exp(x)", "grad - softmax(x) · Σ grad",
              "LogSoftmaxBackward0")


# --------------------------------------------------------------------------------------------
# Losses


def _reduced(meta: TensorMeta, reduction: str) -> TensorMeta:
    return meta if reduction == "none" else TensorMeta((), meta.dtype, meta.requires_grad)


def _need_float(meta: TensorMeta, role: str, loss: str) -> None:
    if not S.is_floating(meta.dtype):
        raise ShapeError(f"{loss}: {role} must be floating point, got {meta.dtype} "
                         f"(\"{loss}\" not implemented for '{S.torch_dtype_name(meta.dtype)}')")


def _infer_regression_loss(loss: str) -> Callable[..., tuple]:
    def infer(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: list[str]) -> tuple:
        x, target = inputs["input"], inputs["target"]
        _need_float(x, "input", loss)
        if x.shape != target.shape:
            notes.append(f"Using a target size ({S.shape_text(target.shape)}) that is different "
                         f"to the input size ({S.shape_text(x.shape)}). This will likely lead to "
                         "incorrect results due to broadcasting. Please ensure they have the "
                         "same size.")
        out = S.binary_meta(x, target, "-")
        return (_reduced(out, p["reduction"]),)

    return infer


def _infer_binary_loss(loss: str, same_size_message: str) -> Callable[..., tuple]:
    def infer(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: Any) -> tuple:
        x, target = inputs["input"], inputs["target"]
        _need_float(x, "input", loss)
        _need_float(target, "target", loss)
        if x.shape != target.shape:
            raise ShapeError(same_size_message.format(
                target=S.shape_text(target.shape), input=S.shape_text(x.shape)))
        requires_grad = x.requires_grad or target.requires_grad
        return (_reduced(TensorMeta(x.shape, x.dtype, requires_grad), p["reduction"]),)

    return infer


def _infer_classification_loss(loss: str) -> Callable[..., tuple]:
    def infer(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: Any) -> tuple:
        x, target = inputs["input"], inputs["target"]
        _need_float(x, "input", loss)
        if x.ndim not in (1, 2):
            raise ShapeError(f"{loss}: input must be (C) or (N, C), got "
                             f"{S.shape_text(x.shape)}")
        batch = x.shape[:-1]
        if target.dtype == "int64":
            if target.shape != batch:
                raise ShapeError(f"Expected input batch_size ({batch[0] if batch else 1}) to "
                                 f"match target batch_size "
                                 f"({target.shape[0] if target.shape else 1}).")
        elif loss == "cross_entropy" and S.is_floating(target.dtype):
            if target.shape != x.shape:
                raise ShapeError("cross_entropy with class probabilities needs a target of "
                                 f"the input's shape {S.shape_text(x.shape)}, got "
                                 f"{S.shape_text(target.shape)}")
        else:
            raise ShapeError(f"{loss}: target must be class indices (int64), got "
                             f"{target.dtype}")
        out = TensorMeta(batch, x.dtype, x.requires_grad)
        return (_reduced(out, p["reduction"]),)

    return infer


def _loss(name: str, function: str, formula: str, gradient: str, infer: Callable[..., Any],
          grad_fns: tuple[str, ...], description: str) -> None:
    _kind(name, "Losses", description, inputs=("input", "target"),
          params=(Param("reduction", "choice", "mean", "", REDUCTIONS),), formula=formula,
          derivatives={"input": f"∂/∂input: {gradient}"}, gradients={"input": gradient},
          evaluate=lambda i, p, c: (getattr(_functional(), function)(
              i["input"], i["target"], reduction=p["reduction"]),),
          infer=infer, grad_fn_names=grad_fns, numeric=False)


_loss("MSELoss", "mse_loss", "mean((input - target)²)", "grad · 2 · (input - target) / n",
      _infer_regression_loss("mse_loss"), ("MseLossBackward0",),
      "Mean squared error (nn.functional.mse_loss).")
_loss("L1Loss", "l1_loss", "mean(|input - target|)", "grad · sign(input - target) / n",
      _infer_regression_loss("l1_loss"), ("L1LossBackward0",),
      "Mean absolute error (nn.functional.l1_loss).")
_loss("CrossEntropyLoss", "cross_entropy", "-mean(log softmax(input)[target])",
      "grad · (softmax(input) - onehot(target)) / N",
      _infer_classification_loss("cross_entropy"), ("NllLossBackward0",),
      "Cross entropy of logits and class indices (nn.functional.cross_entropy).")
_loss("NLLLoss", "nll_loss", "-mean(input[target])", "-grad / N at each target class",
      _infer_classification_loss("nll_loss"), ("NllLossBackward0",),
      "Negative log likelihood of log-probabilities (nn.functional.nll_loss).")
_loss("BCELoss", "binary_cross_entropy", "-mean(t · ln p + (1 - t) · ln(1 - p))",
      "grad · (input - target) / (input · (1 - input)) / n",
      _infer_binary_loss("binary_cross_entropy",
                         "Using a target size ({target}) that is different to the input size "
                         "({input}) is deprecated. Please ensure they have the same size."),
      ("BinaryCrossEntropyBackward0",),
      "Binary cross entropy of probabilities (nn.functional.binary_cross_entropy).")
_loss("BCEWithLogitsLoss", "binary_cross_entropy_with_logits",
      "BCE(σ(input), target), computed stably", "grad · (σ(input) - target) / n",
      _infer_binary_loss("binary_cross_entropy_with_logits",
                         "Target size ({target}) must be the same as input size ({input})"),
      ("BinaryCrossEntropyWithLogitsBackward0",),
      "Binary cross entropy of logits (nn.functional.binary_cross_entropy_with_logits).")


# --------------------------------------------------------------------------------------------
# Custom Functions


def _function_ports(params: Mapping[str, Any]) -> tuple[Port, ...]:
    return tuple(Port(name) for name in params["inputs"])


def custom_expressions(p: Mapping[str, Any]) -> tuple[Any, Any]:
    """The forward and backward formulas of a custom Function node, names checked."""
    names = list(p["inputs"])
    forward = parse_expression(p["forward"], names=names, functions=FORMULA_FUNCTIONS,
                               where="forward")
    backward = parse_expression(p["backward"], names=[*names, "grad_output"],
                                functions=FORMULA_FUNCTIONS, where="backward")
    return forward, backward


def _evaluate_custom(inputs: Mapping[str, Any], p: Mapping[str, Any],
                     context: EvaluationContext) -> tuple:
    vg = _vg()
    forward, backward = custom_expressions(p)
    names = list(p["inputs"])
    functions = context.functions()
    limit = context.max_elements

    # NOTE [custom Functions are real Functions]: the formulas run inside a genuine
    # vg.autograd.Function subclass, so the engine treats them exactly as torch treats a
    # user's Function: forward without a graph, our backward trusted as written. A wrong
    # backward gives wrong gradients (or torch's error about their count or shape), which is
    # the point of letting students write one.
    def forward_method(ctx: Any, *args: Any) -> Any:
        ctx.save_for_backward(*args)
        return forward.evaluate(dict(zip(names, args, strict=True)), functions,
                                max_elements=limit)

    def backward_method(ctx: Any, grad_output: Any) -> Any:
        values = dict(zip(names, ctx.saved_tensors, strict=True), grad_output=grad_output)
        result = backward.evaluate(values, functions, max_elements=limit)
        return tuple(result) if isinstance(result, list | tuple) else result

    function_class = type(p["name"], (vg.autograd.Function,), {
        "forward": staticmethod(forward_method), "backward": staticmethod(backward_method),
        "__doc__": f"Custom Function {p['name']}: forward {p['forward']}, backward "
                   f"{p['backward']}",
    })
    return (function_class.apply(*(inputs[name] for name in names)),)


def _infer_custom(inputs: Mapping[str, Any], p: Mapping[str, Any], notes: list[str]) -> tuple:
    forward, backward = custom_expressions(p)
    names = list(p["inputs"])
    functions = S.meta_functions()
    plain = {name: TensorMeta(inputs[name].shape, inputs[name].dtype) for name in names}
    try:
        out = S.as_meta(forward.evaluate(plain, functions))
    except ExpressionError as exc:
        raise ShapeError(str(exc)) from None
    requires_grad = any(inputs[name].requires_grad for name in names)
    try:
        grads = backward.evaluate({**plain, "grad_output": out}, functions)
    except ExpressionError as exc:
        notes.append(f"{exc}; the backward pass will fail here")
        return (TensorMeta(out.shape, out.dtype, requires_grad),)
    grads = list(grads) if isinstance(grads, list | tuple) else [grads]
    if len(grads) != len(names):
        notes.append(f"backward returns {len(grads)} gradient(s) but the function has "
                     f"{len(names)} input(s); the engine will refuse it, as torch does")
    for name, grad in zip(names, grads, strict=False):
        if isinstance(grad, TensorMeta) and grad.shape != inputs[name].shape:
            try:
                S.broadcast_shapes(grad.shape, inputs[name].shape)
                fits = S.broadcast_shapes(grad.shape, inputs[name].shape) == inputs[name].shape
            except ShapeError:
                fits = False
            if not fits:
                notes.append(f"backward's gradient for {name} has shape "
                             f"{S.shape_text(grad.shape)} but {name} has shape "
                             f"{S.shape_text(inputs[name].shape)}")
    return (TensorMeta(out.shape, out.dtype, requires_grad),)


_kind("Function", "Custom",
      "Your own autograd.Function: a forward formula of the inputs, and a backward formula "
      "of the inputs and grad_output (one gradient per input, separated by commas).",
      inputs=_function_ports,
      params=(
          Param("name", "identifier", "Custom", "class name; its grad_fn is <name>Backward"),
          Param("inputs", "names", ["x"], "input names, e.g. a, b"),
          Param("forward", "expression", "x * 2", "the output, e.g. (a + b) ** 2"),
          Param("backward", "expression", "grad_output * 2",
                "gradient per input, e.g. grad_output * 2 * (a + b), grad_output * 2 * (a + b)"),
      ),
      formula="forward(inputs)", derivatives={}, gradients={},
      evaluate=_evaluate_custom, infer=_infer_custom, numeric=False)



def _traced_ports(params: Mapping[str, Any]) -> tuple[Port, ...]:
    return tuple(Port(f"in{index}", optional=True) for index in range(params["inputs"]))


def _cannot_run(inputs: Any, p: Mapping[str, Any], context: Any) -> tuple:
    raise RuntimeError(f"{p['grad_fn']} was traced from Python and the palette has no node for "
                       "it; replace it with a palette node to run the graph")


def _cannot_infer(inputs: Any, p: Mapping[str, Any], notes: Any) -> tuple:
    raise ShapeError(f"{p['grad_fn']} was traced from Python and cannot run here; replace it "
                     "with a palette node")


_kind("Traced", "Custom",
      "An engine node found by trace() that the palette has no node for (a Python "
      "autograd.Function, an expand...). Shown for reading; it cannot run.",
      inputs=_traced_ports,
      params=(Param("grad_fn", "text", "UnknownBackward", "the engine node's name"),
              Param("inputs", "int", 1, "number of inputs", minimum=0, maximum=64)),
      formula="(traced)", derivatives={}, gradients={}, evaluate=_cannot_run,
      infer=_cannot_infer, numeric=False)
