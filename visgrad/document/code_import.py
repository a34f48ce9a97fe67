"""Graphs from a few lines of Python: what students type in tutorials, drawn as a document.

Example::

    >>> from visgrad.document import Session
    >>> from visgrad.document.code_import import from_code
    >>> doc = from_code('''
    ... import torch
    ... x = torch.tensor(3.0, requires_grad=True)
    ... y = 3*x**2 + 4*x + 2
    ... y.backward()
    ... ''')
    >>> [node.label for node in doc.topological_order()]
    ['x', 'pow1', 'mul1', 'mul2', 'add1', 'y']
    >>> session = Session(doc)
    >>> session.run_backward()
    >>> float(session.inspect("x").grad)
    22.0
    >>> from_code("import os")
    Traceback (most recent call last):
    ...
    visgrad.document.code_import.CodeError: line 1, column 1: importing 'os' is not allowed; ...

The accepted subset: ``import torch`` / ``import visgrad as vg`` / ``import
torch.nn.functional as F`` lines; assignments (also ``+=`` and ``a, b = ...``) of arithmetic
(``+ - * / ** @``, unary minus), numbers and lists; tensor constructors (``tensor``, ``ones``,
``zeros``, ``full``, ``arange``, ``linspace``, ``eye``, ``rand``, ``randn``, ``*_like``) with
``dtype=`` and ``requires_grad=``; the palette's functions and methods (``x.sum(dim=0)``,
``torch.relu(x)``, ``F.mse_loss(a, b)``, ``x @ w.T``...); ``torch.autograd.grad``;
``.backward(...)``, ``.retain_grad()``, ``.requires_grad_()``, ``.detach()``,
``.register_hook(lambda g: ...)`` when the lambda is one of the document's hook kinds;
``with torch.no_grad():`` blocks; ``torch.manual_seed(n)``; ``print(...)`` (ignored).
Variable names become labels (a name assigned twice keeps its name on the newest node; the
older ones become ``y_1``, ``y_2``...). A name used before it is assigned becomes a Parameter
of value 1.0, so ``y = 3*x**2 + 4*x + 2`` on its own makes a graph.

NOTE [never run]: the text is parsed with :mod:`ast` and walked by our own interpreter, which
only adds nodes to a document; nothing of the text is ever evaluated, executed or compiled to
run. A first pass over the whole tree refuses, before anything else happens, the statements
and expressions outside the subset and every name or attribute starting with ``_``, and
enforces the size limits (text length, tree size, nesting depth), so hostile text is refused
with a :class:`CodeError` that names its line and column, and never hangs.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from visgrad.document import registry
from visgrad.document import shapes as S
from visgrad.document.expressions import (
    FORMULA_FUNCTIONS,
    METHODS,
    ExpressionError,
    format_literal,
    parse_expression,
    parse_value,
)
from visgrad.document.layout import compute_layout
from visgrad.document.model import DocumentError, GraphDocument, Hook
from visgrad.document.operations import (
    AddHook,
    AddNode,
    MoveNodes,
    RemoveHook,
    RemoveNodes,
    SetLabel,
    SetRetainGrad,
)
from visgrad.document.params import ParamError
from visgrad.document.shapes import ShapeError, TensorMeta


class CodeError(ValueError):
    """Code that :func:`from_code` refuses, with where: ``line``, ``column`` (1-based) and
    ``end_line``/``end_column`` (1-based, exclusive), so a dialog can mark the text
    ``lines[line - 1][column - 1:end_column - 1]``. ``reason`` is the message alone.
    """

    def __init__(self, reason: str, line: int = 1, column: int = 1,
                 end_line: int | None = None, end_column: int | None = None) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.end_line = line if end_line is None else end_line
        self.end_column = column + 1 if end_column is None else end_column
        super().__init__(f"line {line}, column {column}: {reason}")


@dataclass
class CodeLimits:
    """What :func:`from_code` accepts at most (change for the process, as
    ``expressions.limits``)."""

    max_chars: int = 200_000
    max_syntax_nodes: int = 200_000
    max_depth: int = 100
    max_graph_nodes: int = 1_000
    max_int_bits: int = 1_024


limits = CodeLimits()


def from_code(text: str, *, max_elements: int | None = None) -> GraphDocument:
    """A new document drawn from ``text``, a few lines of PyTorch-style Python.

    ``max_elements`` bounds every tensor the code would create (default: the limit of
    :mod:`visgrad.document.expressions`, 50 million). Anything outside the subset described
    in this module raises :class:`CodeError`; nothing of ``text`` is ever run.

    >>> doc = from_code("out = ((x*2+3)**2).mean()")
    >>> doc.node("x").kind, doc.node("out").kind
    ('Parameter', 'Mean')
    """
    if not isinstance(text, str):
        raise CodeError(f"expected text, got {type(text).__name__}")
    if len(text) > limits.max_chars:
        raise CodeError(f"the code is {len(text):,} characters long; the limit is "
                        f"{limits.max_chars:,}")
    tree = _parse(text)
    builder = _Builder(text, max_elements)
    builder.check_tree(tree)
    builder.run(tree)
    return builder.finish()


def _parse(text: str) -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about the user's text
            return ast.parse(text, mode="exec")
    except SyntaxError as exc:
        line = exc.lineno or 1
        column = max(exc.offset or 1, 1)
        end_column = exc.end_offset if exc.end_offset and exc.end_offset > column and \
            (exc.end_lineno in (None, line)) else column + 1
        raise CodeError(f"invalid syntax ({exc.msg})" if exc.msg != "invalid syntax"
                        else "invalid syntax", line, column, line, end_column) from None
    except (RecursionError, MemoryError):
        raise CodeError("the code is nested too deeply") from None
    except ValueError as exc:  # e.g. null bytes on some Python versions
        raise CodeError(f"invalid text: {exc}") from None


# --------------------------------------------------------------------------------------------
# What the first pass refuses outright, by node type.

_REFUSED_SYNTAX: dict[type, str] = {
    ast.FunctionDef: "function definitions are not allowed",
    ast.AsyncFunctionDef: "function definitions are not allowed",
    ast.ClassDef: "class definitions are not allowed",
    ast.Return: "return is not allowed",
    ast.Delete: "del is not allowed",
    ast.For: "for loops are not allowed; write each step out",
    ast.AsyncFor: "for loops are not allowed; write each step out",
    ast.While: "while loops are not allowed",
    ast.If: "if statements are not allowed",
    ast.AsyncWith: "async with is not allowed",
    ast.Raise: "raise is not allowed",
    ast.Try: "try is not allowed",
    ast.Assert: "assert is not allowed",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.Break: "break is not allowed",
    ast.Continue: "continue is not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.NamedExpr: "':=' is not allowed",
    ast.IfExp: "'if ... else' expressions are not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.Set: "sets are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Starred: "* unpacking is not allowed",
    ast.Slice: "slicing is not allowed",
}
for _name, _message in (("TryStar", "try is not allowed"), ("Match", "match is not allowed")):
    if hasattr(ast, _name):
        _REFUSED_SYNTAX[getattr(ast, _name)] = _message

_ALLOWED_SYNTAX = (
    ast.Module, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.With, ast.Import,
    ast.ImportFrom, ast.Pass, ast.BinOp, ast.UnaryOp, ast.Call, ast.Attribute, ast.Name,
    ast.Constant, ast.List, ast.Tuple, ast.Lambda, ast.Subscript, ast.JoinedStr,
    ast.FormattedValue, ast.Compare, ast.keyword, ast.arguments, ast.arg, ast.withitem,
    ast.alias, ast.expr_context, ast.operator, ast.unaryop, ast.cmpop,
)

# --------------------------------------------------------------------------------------------
# What the code may call.

_UNARY = {
    "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "sin": "Sin", "cos": "Cos", "tanh": "Tanh",
    "sigmoid": "Sigmoid", "relu": "ReLU", "abs": "Abs", "neg": "Neg", "negative": "Neg",
    "detach": "Detach", "clone": "Clone",
}
_ARITHMETIC = {
    "add": ast.Add(), "sub": ast.Sub(), "subtract": ast.Sub(), "mul": ast.Mult(),
    "multiply": ast.Mult(), "div": ast.Div(), "divide": ast.Div(), "true_divide": ast.Div(),
}
_MATMUL = {"matmul", "mm", "mv", "dot"}
_LOSSES = {
    "mse_loss": "MSELoss", "l1_loss": "L1Loss", "cross_entropy": "CrossEntropyLoss",
    "nll_loss": "NLLLoss", "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
}
_CONSTRUCTORS = {"tensor", "zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn"}
_LIKE = {"zeros_like": "zeros", "ones_like": "ones", "rand_like": "rand",
         "randn_like": "randn"}
_SHAPE_FUNCTIONS = {"reshape", "view", "transpose", "t", "permute", "unsqueeze", "squeeze"}
_REDUCTIONS = {"sum": "Sum", "mean": "Mean", "max": "Max", "min": "Min"}
_COMMON = (set(_UNARY) | set(_ARITHMETIC) | _MATMUL | _SHAPE_FUNCTIONS | set(_REDUCTIONS)
           | {"clamp", "clip", "maximum", "minimum", "pow", "square", "softmax", "log_softmax"})
_TENSOR_FUNCTIONS = (_COMMON - {"view"}) | _CONSTRUCTORS | set(_LIKE) | {
    "where", "cat", "concat", "stack", "manual_seed", "no_grad", "enable_grad",
    "set_grad_enabled"}
# nn.functional's activations with parameters: palette kind, and the float parameters
_ACTIVATIONS = {"leaky_relu": ("LeakyReLU", ("negative_slope",)), "elu": ("ELU", ("alpha",)),
                "gelu": ("GELU", ()), "silu": ("SiLU", ()),
                "softplus": ("Softplus", ("beta", "threshold"))}
_FUNCTIONAL_FUNCTIONS = {"relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear",
                         *_ACTIVATIONS,
                         *_LOSSES}
_METHODS = _COMMON | {"backward", "retain_grad", "register_hook", "requires_grad_"}
_MATH_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "tanh": math.tanh,
}
_MATH_CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan,
                   "tau": math.tau}
_DTYPES = {"float32": "float32", "float": "float32", "float64": "float64",
           "double": "float64", "int64": "int64", "long": "int64", "bool": "bool"}
_PRINT_CALLS = {"str", "repr", "float", "int", "round", "len", "abs", "format"}
_PRINT_METHODS = METHODS | {"item", "tolist", "numpy", "size", "dim", "numel", "norm"}

# Modules the code may import, and what each one is here.
_MODULES = {
    "torch": "tensor", "visgrad": "tensor", "torch.nn": "nn", "visgrad.nn": "nn",
    "torch.nn.functional": "functional", "visgrad.nn.functional": "functional",
    "torch.autograd": "autograd", "visgrad.autograd": "autograd", "math": "math",
    "numpy": "numpy",
}
_DEFAULT_NAMESPACES = {"torch": "tensor", "vg": "tensor", "visgrad": "tensor",
                       "F": "functional", "math": "math"}
_SUBMODULES = {("tensor", "nn"): "nn", ("nn", "functional"): "functional",
               ("tensor", "autograd"): "autograd"}


# --------------------------------------------------------------------------------------------
# Values of the little interpreter.


@dataclass(frozen=True)
class _Out:
    """A tensor: one output of one document node."""

    node_id: str
    port: str = "out"


@dataclass(frozen=True)
class _Namespace:
    kind: str  # tensor, nn, functional, autograd, math, numpy


@dataclass(frozen=True)
class _Function:
    namespace: str
    name: str


@dataclass(frozen=True)
class _DType:
    name: str


@dataclass(frozen=True)
class _MaxResult:
    """``x.max(dim)``: (values, indices); only ``.values`` / ``[0]`` can be drawn."""

    values: _Out
    method: str


@dataclass(frozen=True)
class _GradResult:
    """What ``torch.autograd.grad`` returns: a tuple of one gradient."""

    gradient: _Out


@dataclass(frozen=True)
class _HookHandle:
    node_id: str
    hook: Hook


@dataclass
class _Bound:
    """Arguments bound to a signature: ``bound["dim"]``."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


_REQUIRED = object()


def _signature(spec: str) -> list[tuple[str, Any, bool]]:
    """``"input, dim=None, keepdim=False"`` as (name, default, is_varargs) triples."""
    result = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part.startswith("*"):
            result.append((part[1:], (), True))
        elif "=" in part:
            name, default = part.split("=")
            result.append((name, ast.literal_eval(default), False))
        else:
            result.append((part, _REQUIRED, False))
    return result


_SIGNATURES = {
    "unary": "input", "clamp": "input, min=None, max=None", "pair": "input, other",
    "where": "condition, input, other", "reduce": "input, dim=None, keepdim=False",
    "softmax": "input, dim", "reshape": "input, *shape", "transpose": "input, dim0, dim1",
    "t": "input", "permute": "input, *dims", "unsqueeze": "input, dim",
    "squeeze": "input, dim=None", "join": "tensors, dim=0", "pow": "input, exponent",
    "linear": "input, weight, bias=None", "loss": "input, target, reduction='mean'",
    "sizes": "*size", "full": "size, fill_value", "arange": "*args",
    "linspace": "start, end, steps", "eye": "n, m=None", "tensor": "data", "like": "input",
    "grad": "outputs, inputs, retain_graph=None, create_graph=False",
    "backward": "gradient=None, retain_graph=None, create_graph=False",
    "seed": "seed", "requires_grad_": "requires_grad=True",
    "leaky_relu": "input, negative_slope=0.01", "elu": "input, alpha=1.0",
    "gelu": "input, approximate='none'", "silu": "input", "softplus":
    "input, beta=1.0, threshold=20.0",
}
_PARSED_SIGNATURES = {name: _signature(spec) for name, spec in _SIGNATURES.items()}


def _describe(value: Any) -> str:
    if isinstance(value, _Out):
        return "a tensor"
    if isinstance(value, bool):
        return f"the bool {value}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list" if isinstance(value, list) else "a tuple"
    if value is None:
        return "None"
    if isinstance(value, _Namespace):
        return "a module"
    if isinstance(value, _Function):
        return f"the function {value.name!r}"
    if isinstance(value, _DType):
        return f"the dtype {value.name}"
    if isinstance(value, _MaxResult):
        return f"the (values, indices) pair of .{value.method}(dim)"
    if isinstance(value, _GradResult):
        return "the tuple returned by autograd.grad"
    if isinstance(value, _HookHandle):
        return "a hook handle"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, bool | int | float)


class _Builder:
    """Walks the checked tree statement by statement, adding nodes to one document."""

    def __init__(self, text: str, max_elements: int | None) -> None:
        self.lines = re.split(r"\r\n|\r|\n", text)
        self.max_elements = max_elements
        self.doc = GraphDocument()
        self.env: dict[str, Any] = {}
        self.no_grad = False
        self.auto_labels: set[str] = set()     # node ids whose label we made up
        self.fresh: set[str] = set()           # node ids made by the current statement
        self.metas: dict[tuple[str, str], TensorMeta | None] = {}
        self.backward_at: int | None = None
        self.versions: dict[str, int] = {}        # label -> last number given to an old value

    # errors -------------------------------------------------------------------------------
    def _column(self, line: int, byte_offset: int | None) -> int:
        if byte_offset is None:
            return 1
        if 1 <= line <= len(self.lines):
            return len(self.lines[line - 1].encode("utf-8")[:byte_offset]
                       .decode("utf-8", "ignore")) + 1
        return byte_offset + 1

    def error(self, node: ast.AST | None, reason: str) -> CodeError:
        if node is None or not hasattr(node, "lineno"):
            return CodeError(reason)
        line = node.lineno
        end_line = getattr(node, "end_lineno", None) or line
        column = self._column(line, node.col_offset)
        end_offset = getattr(node, "end_col_offset", None)
        end_column = self._column(end_line, end_offset) if end_offset is not None \
            else column + 1
        if end_line == line and end_column <= column:
            end_column = column + 1
        return CodeError(reason, line, column, end_line, end_column)

    # the first pass -------------------------------------------------------------------------
    def check_tree(self, tree: ast.AST) -> None:
        """Refuse what is outside the subset anywhere in the text, before anything runs."""
        stack: list[tuple[ast.AST, int, ast.AST | None]] = [(tree, 0, None)]
        count = 0
        while stack:
            node, depth, located = stack.pop()
            where = node if hasattr(node, "lineno") else located
            count += 1
            if count > limits.max_syntax_nodes:
                raise self.error(where, f"the code is too long (more than "
                                        f"{limits.max_syntax_nodes:,} syntax elements)")
            if depth > limits.max_depth:
                raise self.error(where, f"the code is nested too deeply (more than "
                                        f"{limits.max_depth} levels)")
            self._check_syntax(node, where)
            children = list(ast.iter_child_nodes(node))
            stack.extend((child, depth + 1, where) for child in reversed(children))

    def _check_syntax(self, node: ast.AST, where: ast.AST | None) -> None:
        kind = type(node)
        if kind in _REFUSED_SYNTAX:
            raise self.error(node, _REFUSED_SYNTAX[kind])
        if not isinstance(node, _ALLOWED_SYNTAX):
            raise self.error(where, f"{kind.__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise self.error(node, f"names starting with '_' are not allowed: {node.id!r}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise self.error(node, f"attributes starting with '_' are not allowed: "
                                   f"{node.attr!r}")
        if isinstance(node, ast.arg) and node.arg.startswith("_"):
            raise self.error(where, f"names starting with '_' are not allowed: {node.arg!r}")
        if isinstance(node, ast.alias) and any(part.startswith("_") for part in
                                               [*node.name.split("."), node.asname or ""]):
            raise self.error(where, f"names starting with '_' are not allowed: {node.name!r}")
        if isinstance(node, ast.keyword):
            if node.arg is None:
                raise self.error(node, "** unpacking is not allowed")
            if node.arg.startswith("_"):
                raise self.error(node, f"keywords starting with '_' are not allowed: "
                                       f"{node.arg!r}")
        if isinstance(node, ast.Constant) and not (
                node.value is None or isinstance(node.value, bool | int | float | str)):
            raise self.error(node, f"the constant {node.value!r} is not allowed")

    # statements ---------------------------------------------------------------------------
    def run(self, tree: ast.Module) -> None:
        self._statements(tree.body)

    def _statements(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.fresh = set()
            try:
                self._statement(statement)
            except (DocumentError, ParamError, ExpressionError, ShapeError) as exc:
                raise self.error(statement, str(exc)) from None

    def _statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            self._import(node)
        elif isinstance(node, ast.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self._assign(target, value, node.value)
        elif isinstance(node, ast.AnnAssign):
            if node.value is None:
                return
            self._assign(node.target, self.eval(node.value), node.value)
        elif isinstance(node, ast.AugAssign):
            self._augmented(node)
        elif isinstance(node, ast.Expr):
            self._expression_statement(node.value)
        elif isinstance(node, ast.With):
            self._with(node)
        elif isinstance(node, ast.Pass):
            return
        else:  # pragma: no cover - the first pass refused it
            raise self.error(node, f"{type(node).__name__} is not allowed")

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                kind = _MODULES.get(alias.name)
                if kind is None:
                    raise self._refused_import(node, alias.name)
                if alias.asname:
                    self._bind_module(alias.asname, _Namespace(kind), node)
                else:
                    root = alias.name.split(".")[0]
                    self._bind_module(root, _Namespace(_MODULES[root]), node)
            return
        module = node.module or ""
        kind = _MODULES.get(module)
        if node.level or kind is None:
            raise self._refused_import(node, "." * node.level + module)
        for alias in node.names:
            if alias.name == "*":
                raise self.error(node, "'import *' is not allowed; import names one by one")
            value = self._member(_Namespace(kind), alias.name, node)
            self._bind_module(alias.asname or alias.name, value, node)

    def _refused_import(self, node: ast.AST, name: str) -> CodeError:
        return self.error(node, f"importing {name!r} is not allowed; the code may import "
                                "torch, torch.nn.functional, visgrad and math")

    def _bind_module(self, name: str, value: Any, node: ast.AST) -> None:
        current = self.env.get(name)
        if current is not None and not isinstance(current, _Namespace | _Function | _DType) \
                and not _is_number(current):
            raise self.error(node, f"{name!r} already names a tensor here")
        self.env[name] = value

    def _assign(self, target: ast.expr, value: Any, value_node: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, value, target)
        elif isinstance(target, ast.Tuple | ast.List):
            values = self._unpack(value, len(target.elts), value_node)
            for element, item in zip(target.elts, values, strict=True):
                if not isinstance(element, ast.Name):
                    raise self.error(element, "only names can be assigned to here")
                self._bind(element.id, item, element)
        elif isinstance(target, ast.Attribute) and target.attr == "requires_grad":
            flag = value
            if not isinstance(flag, bool):
                raise self.error(value_node, "requires_grad must be True or False")
            self._set_requires_grad(self.tensor(self.eval(target.value), target.value), flag,
                                    target)
        elif isinstance(target, ast.Attribute):
            raise self.error(target, f"setting .{target.attr} is not allowed")
        else:
            raise self.error(target, "only names can be assigned to")

    def _unpack(self, value: Any, count: int, node: ast.AST) -> list[Any]:
        if isinstance(value, _GradResult):
            value = (value.gradient,)
        if isinstance(value, _MaxResult):
            raise self.error(node, f".{value.method}(dim) gives values and indices; the graph "
                                   f"has only the values: use .{value.method}(dim).values")
        if not isinstance(value, list | tuple):
            raise self.error(node, f"cannot unpack {_describe(value)}")
        if len(value) != count:
            raise self.error(node, f"expected {count} values to unpack, got {len(value)}")
        return list(value)

    def _bind(self, name: str, value: Any, node: ast.AST) -> None:
        current = self.env.get(name, self._default(name))
        if isinstance(current, _Namespace | _Function):
            raise self.error(node, f"{name!r} names a module or function here; choose "
                                   "another name")
        if isinstance(value, _Out) and value.node_id in self.fresh and \
                value.node_id in self.auto_labels:
            self._claim_label(name, value.node_id, node)
        self.env[name] = value

    def _claim_label(self, name: str, node_id: str, node: ast.AST) -> None:
        label = f"{name}_" if re.fullmatch(r"n\d+", name) else name
        if len(label) > 64:
            raise self.error(node, f"the name {name[:20]!r}... is longer than 64 characters")
        holder = self.doc.find(label)
        if holder is not None and holder.id != node_id:
            if holder.id in self.auto_labels:
                new = self.doc.unique_label(holder.kind)
            else:  # an older value of the same variable: y_1, y_2...
                number = self.versions.get(label, 0) + 1
                while self.doc.find(f"{label}_{number}") is not None:
                    number += 1
                self.versions[label] = number
                new = f"{label}_{number}"
            self.doc.apply(SetLabel(holder.id, new))
        self.doc.apply(SetLabel(node_id, label))
        self.auto_labels.discard(node_id)

    def _augmented(self, node: ast.AugAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise self.error(node.target, "only names can be updated with " +
                             _operator_symbol(node.op) + "=")
        name = node.target.id
        current = self.name(node.target)
        if isinstance(current, _Out):
            others = [other for other, value in self.env.items()
                      if value == current and other != name]
            if others:
                raise self.error(node, f"{name} {_operator_symbol(node.op)}= would change "
                                       f"{others[0]!r} too (they are the same tensor); write "
                                       f"{name} = {name} {_operator_symbol(node.op)} ... instead")
            source = self.doc.nodes[current.node_id]
            if not self.no_grad and source.kind_info.is_source and (
                    source.kind == "Parameter" or source.params.get("requires_grad")):
                raise self.error(node, "a leaf Variable that requires grad is being used in an "
                                       "in-place operation.")
        value = self.binary(node.op, current, self.eval(node.value), node)
        self._bind(name, value, node.target)

    def _expression_statement(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return  # a docstring or comment-like string
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "print" and "print" not in self.env:
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                self._check_passive(argument)
            return
        if isinstance(node, ast.Name):
            self.name(node)
            return
        self.eval(node)

    def _with(self, node: ast.With) -> None:
        if len(node.items) != 1 or node.items[0].optional_vars is not None:
            raise self.error(node, "only 'with torch.no_grad():' and "
                                   "'with torch.enable_grad():' are allowed")
        item = node.items[0].context_expr
        function = self._callee(item.func) if isinstance(item, ast.Call) else None
        if not (isinstance(function, _Function) and function.namespace == "tensor"
                and function.name in {"no_grad", "enable_grad", "set_grad_enabled"}):
            raise self.error(item, "only 'with torch.no_grad():' and "
                                   "'with torch.enable_grad():' are allowed")
        if function.name == "set_grad_enabled":
            bound = self.bind(item, "set_grad_enabled", "mode",
                              [self.eval(a) for a in item.args], self._keywords(item))
            if not isinstance(bound["mode"], bool):
                raise self.error(item, "set_grad_enabled takes True or False")
            mode = not bound["mode"]
        else:
            if item.args or item.keywords:
                raise self.error(item, f"{function.name}() takes no arguments")
            mode = function.name == "no_grad"
        previous, self.no_grad = self.no_grad, mode
        try:
            self._statements(node.body)
        finally:
            self.no_grad = previous

    def _check_passive(self, node: ast.AST) -> None:
        """What ``print(...)`` shows is never evaluated, but must still look harmless."""
        for child in ast.walk(node):
            if isinstance(child, ast.Lambda):
                raise self.error(child, "lambda functions are only allowed in "
                                        "register_hook(...)")
            if not isinstance(child, ast.Call):
                continue
            func = child.func
            if isinstance(func, ast.Name):
                value = self.env.get(func.id)
                if func.id not in _PRINT_CALLS and not isinstance(value, _Function):
                    raise self.error(child, f"calls to {func.id!r} are not allowed")
            elif isinstance(func, ast.Attribute):
                if func.attr not in _PRINT_METHODS and not isinstance(
                        self._callee(func), _Function):
                    raise self.error(child, f"the method {func.attr!r} is not allowed here")
            else:
                raise self.error(child, "only functions and methods can be called")

    # expressions ---------------------------------------------------------------------------
    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.List):
            return [self.eval(element) for element in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(element) for element in node.elts)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node.op, self.eval(node.left), self.eval(node.right), node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Compare):
            raise self.error(node, "comparisons are not allowed: the graph has no node for "
                                   "them (use a bool tensor such as torch.tensor([True, "
                                   "False]))")
        if isinstance(node, ast.Lambda):
            raise self.error(node, "lambda functions are only allowed in register_hook(...)")
        if isinstance(node, ast.JoinedStr | ast.FormattedValue):
            raise self.error(node, "f-strings are only allowed inside print(...)")
        raise self.error(node, f"{type(node).__name__} is not allowed here")

    def _default(self, name: str) -> Any:
        kind = _DEFAULT_NAMESPACES.get(name)
        return None if kind is None else _Namespace(kind)

    def name(self, node: ast.Name) -> Any:
        if node.id in self.env:
            return self.env[node.id]
        default = self._default(node.id)
        if default is not None:
            return default
        if node.id in {"print", "open", "eval", "exec", "getattr", "setattr", "compile",
                       "input", "globals", "locals", "vars", "dir", "type", "object"}:
            raise self.error(node, f"{node.id!r} is not allowed")
        # A free name: a Parameter to edit on the canvas, so one pasted formula is a graph.
        out = self.node("Parameter", node, value="1.0")
        self._claim_label(node.id, out.node_id, node)
        self.env[node.id] = out
        return out

    def _unary(self, node: ast.UnaryOp) -> Any:
        operand = self.eval(node.operand)
        if isinstance(node.op, ast.Not | ast.Invert):
            raise self.error(node, f"the operator {_operator_symbol(node.op)} is not allowed")
        if _is_number(operand):
            return self.fold(node, operator_of(node.op), operand)
        if isinstance(operand, _Out):
            if isinstance(node.op, ast.UAdd):
                return operand
            return self.node("Neg", node, inputs={"x": operand})
        raise self.error(node, f"cannot apply {_operator_symbol(node.op)} to "
                               f"{_describe(operand)}")

    def _attribute(self, node: ast.Attribute) -> Any:
        callee = self._callee(node)
        if callee is not None:
            if isinstance(callee, _Function):
                raise self.error(node, f"the function {callee.name!r} must be called: "
                                       f"{callee.name}(...)")
            return callee
        value = self.eval(node.value)
        if isinstance(value, _MaxResult):
            if node.attr == "values":
                return value.values
            raise self.error(node, f"only .values of .{value.method}(dim) can be drawn")
        if isinstance(value, _Out):
            if node.attr in {"T", "mT"}:
                return self.node("Transpose", node, inputs={"x": value}, dim0=-2, dim1=-1) \
                    if node.attr == "mT" else self.node("Transpose", node, inputs={"x": value},
                                                        dim0=0, dim1=1)
            if node.attr in {"grad", "data"}:
                raise self.error(node, f"reading .{node.attr} is not part of the graph; the "
                                       "canvas shows values and gradients after a run")
            raise self.error(node, f"the attribute .{node.attr} is not supported")
        raise self.error(node, f"{_describe(value)} has no attribute {node.attr!r}")

    def _subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        index = node.slice
        if isinstance(value, _GradResult | _MaxResult) and isinstance(index, ast.Constant) \
                and index.value == 0 and not isinstance(index.value, bool):
            return value.gradient if isinstance(value, _GradResult) else value.values
        if isinstance(value, _MaxResult):
            raise self.error(node, "the indices of max/min are not part of the graph; use "
                                   f".{value.method}(dim).values")
        raise self.error(node, "indexing is not supported: the graph has no node for it")

    def _callee(self, node: ast.expr) -> Any:
        """What a dotted name (``torch.nn.functional.relu``) is, if it is a module path."""
        chain: list[str] = []
        current = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            return None
        root = self.env.get(current.id, self._default(current.id))
        if not isinstance(root, _Namespace | _Function | _DType):
            return None
        value: Any = root
        for attr in reversed(chain):
            if not isinstance(value, _Namespace):
                raise self.error(node, f"{_describe(value)} has no attribute {attr!r}")
            value = self._member(value, attr, node)
        return value

    def _member(self, namespace: _Namespace, attr: str, node: ast.AST) -> Any:
        kind = namespace.kind
        if (kind, attr) in _SUBMODULES:
            return _Namespace(_SUBMODULES[(kind, attr)])
        if kind == "math":
            if attr in _MATH_CONSTANTS:
                return _MATH_CONSTANTS[attr]
            if attr in _MATH_FUNCTIONS:
                return _Function("math", attr)
        elif kind == "tensor":
            if attr in _DTYPES:
                return _DType(_DTYPES[attr])
            if attr in {"pi", "e", "inf", "nan"}:
                return _MATH_CONSTANTS[attr]
            if attr in _TENSOR_FUNCTIONS:
                return _Function("tensor", attr)
        elif kind == "functional":
            if attr in _FUNCTIONAL_FUNCTIONS:
                return _Function("functional", attr)
        elif kind == "autograd" and attr == "grad":
            return _Function("autograd", attr)
        name = {"tensor": "torch", "nn": "torch.nn", "functional": "torch.nn.functional",
                "autograd": "torch.autograd"}.get(kind, kind)
        raise self.error(node, f"{name}.{attr} is not supported here")

    # numbers ---------------------------------------------------------------------------------
    def fold(self, node: ast.AST, op: Callable[..., Any], *operands: Any) -> Any:
        """Arithmetic on Python numbers, refusing what would take long or overflow."""
        if op is _pow and len(operands) == 2:
            base, exponent = operands
            if isinstance(base, int) and isinstance(exponent, int) and \
                    abs(base) > 1 and exponent > 0 and \
                    (abs(base).bit_length() - 1) * exponent > limits.max_int_bits:
                raise self.error(node, "the number is too large")
        if op is _mul and all(isinstance(v, int) for v in operands) and \
                sum(abs(v).bit_length() for v in operands) > limits.max_int_bits:
            raise self.error(node, "the number is too large")
        try:
            result = op(*operands)
        except OverflowError:
            raise self.error(node, "the number is too large") from None
        except ZeroDivisionError:
            raise self.error(node, "division by zero") from None
        except (ValueError, TypeError) as exc:
            raise self.error(node, str(exc)) from None
        if isinstance(result, complex):
            raise self.error(node, "the result is a complex number")
        if isinstance(result, int) and not isinstance(result, bool) and \
                result.bit_length() > limits.max_int_bits:
            raise self.error(node, "the number is too large")
        return result

    def binary(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> Any:
        if type(op) not in _BINARY_KINDS:
            raise self.error(node, f"the operator {_operator_symbol(op)} is not allowed")
        if _is_number(left) and _is_number(right):
            if isinstance(op, ast.MatMult):
                raise self.error(node, "@ needs two tensors")
            return self.fold(node, operator_of(op), left, right)
        for value in (left, right):
            if not (_is_number(value) or isinstance(value, _Out)):
                if isinstance(value, list | tuple):
                    raise self.error(node, "arithmetic on lists is not allowed; make a tensor "
                                           "first with torch.tensor(...)")
                self.tensor(value, node)
        kind = _BINARY_KINDS[type(op)]
        if isinstance(left, _Out) and isinstance(right, _Out):
            ports = ("x", "exponent") if kind == "Pow" else ("a", "b")
            return self.node(kind, node, inputs=dict(zip(ports, (left, right), strict=True)))
        if kind == "MatMul":
            raise self.error(node, "@ needs two tensors, not a number")
        if isinstance(left, _Out):
            return self._with_scalar(kind, left, right, node)
        # number op tensor
        if kind in {"Add", "Mul"}:
            return self._with_scalar(kind, right, left, node)
        constant = self.constant(left, right, node)
        ports = ("x", "exponent") if kind == "Pow" else ("a", "b")
        return self.node(kind, node, inputs=dict(zip(ports, (constant, right), strict=True)))

    def _with_scalar(self, kind: str, tensor: _Out, number: Any, node: ast.AST) -> _Out:
        if kind == "Pow":
            if isinstance(number, bool) or not math.isfinite(number):
                return self.node("Pow", node, inputs={
                    "x": tensor, "exponent": self.constant(number, tensor, node)})
            return self.node("Pow", node, inputs={"x": tensor}, exponent=float(number))
        meta = self.meta(tensor)
        exact = not isinstance(number, bool) and math.isfinite(number) and not (
            isinstance(number, int) and meta is not None and not S.is_floating(meta.dtype))
        if exact:
            return self.node(kind, node, inputs={"a": tensor}, scalar=float(number))
        # NOTE [scalars keep dtypes]: the scalar parameter is a float, and int64 * 3.0 is
        # float32 where int64 * 3 stays int64; such numbers become constant tensors instead.
        return self.node(kind, node, inputs={"a": tensor,
                                             "b": self.constant(number, tensor, node)})

    def constant(self, number: Any, like: _Out, node: ast.AST) -> _Out:
        """A Tensor node holding a number, typed so that it combines as the number would."""
        meta = self.meta(like)
        dtype = "auto"
        if meta is not None and S.is_floating(meta.dtype) and not isinstance(number, bool):
            dtype = meta.dtype
        return self.node("Tensor", node, value=format_literal(number)
                         if math.isfinite(number) else repr(float(number)), dtype=dtype)

    # calls ---------------------------------------------------------------------------------
    def _keywords(self, node: ast.Call) -> dict[str, Any]:
        result = {}
        for keyword in node.keywords:
            if keyword.arg in result:  # pragma: no cover - a SyntaxError already
                raise self.error(keyword.value, f"keyword {keyword.arg!r} given twice")
            result[keyword.arg] = self.eval(keyword.value)
        return result

    def bind(self, node: ast.AST, name: str, signature: str, args: list[Any],
             kwargs: dict[str, Any]) -> _Bound:
        spec = _PARSED_SIGNATURES.get(signature) or _signature(signature)
        bound: dict[str, Any] = {}
        position = 0
        for param, default, varargs in spec:
            if varargs:
                rest = tuple(args[position:])
                position = len(args)
                bound[param] = rest
                continue
            if position < len(args):
                bound[param] = args[position]
                position += 1
        if position < len(args):
            raise self.error(node, f"{name}() takes at most {position} positional "
                                   f"argument(s), got {len(args)}")
        names = {param for param, _, varargs in spec if not varargs}
        for key, value in kwargs.items():
            if key not in names:
                raise self.error(node, f"{name}() got an unexpected keyword argument {key!r}")
            if key in bound:
                raise self.error(node, f"{name}() got multiple values for argument {key!r}")
            bound[key] = value
        for param, default, varargs in spec:
            if param not in bound:
                if default is _REQUIRED:
                    raise self.error(node, f"{name}() missing required argument {param!r}")
                bound[param] = default
        return _Bound(bound)

    def _call(self, node: ast.Call) -> Any:
        func = node.func
        callee = self._callee(func)
        if isinstance(callee, _Function):
            return self._call_function(callee, node)
        if callee is not None:
            raise self.error(node, f"{_describe(callee)} cannot be called")
        if isinstance(func, ast.Name):
            raise self.error(node, f"calls to {func.id!r} are not allowed")
        if not isinstance(func, ast.Attribute):
            self.eval(func)  # a lambda, a subscript...: their own message first
            raise self.error(node, "only functions and methods can be called")
        receiver = self.eval(func.value)
        method = func.attr
        if isinstance(receiver, _HookHandle) and method == "remove" and not node.args \
                and not node.keywords:
            self._remove_hook(receiver, node)
            return None
        if not isinstance(receiver, _Out):
            if isinstance(receiver, _MaxResult | _GradResult):
                self.tensor(receiver, func.value)
            raise self.error(node, f"'.{method}()' needs a tensor, not {_describe(receiver)}")
        if method not in _METHODS:
            raise self.error(func, f"the method {method!r} is not supported")
        if method == "backward":
            return self._backward(receiver, node)
        if method == "register_hook":
            return self._register_hook(receiver, node)
        if method == "retain_grad":
            if node.args or node.keywords:
                raise self.error(node, "retain_grad() takes no arguments")
            self.doc.apply(SetRetainGrad(receiver.node_id, True))
            return None
        args = [receiver, *(self.eval(a) for a in node.args)]
        kwargs = self._keywords(node)
        if method == "requires_grad_":
            bound = self.bind(node, method, "input, requires_grad=True", args, kwargs)
            if not isinstance(bound["requires_grad"], bool):
                raise self.error(node, "requires_grad_ takes True or False")
            return self._requires_grad_(receiver, bound["requires_grad"], func.value, node)
        return self.operation(method, args, kwargs, node, method=True)

    def _call_function(self, function: _Function, node: ast.Call) -> Any:
        if function.namespace == "math":
            args = [self.eval(a) for a in node.args]
            bound = self.bind(node, function.name, "x", args, self._keywords(node))
            if not _is_number(bound["x"]):
                raise self.error(node, f"math.{function.name} takes a number")
            return self.fold(node, _MATH_FUNCTIONS[function.name], bound["x"])
        if function.name in {"no_grad", "enable_grad", "set_grad_enabled"}:
            raise self.error(node, f"{function.name}() is only allowed as 'with "
                                   f"torch.{function.name}(...):'")
        if function.name == "manual_seed":
            bound = self.bind(node, "manual_seed", "seed", [self.eval(a) for a in node.args],
                              self._keywords(node))
            seed = bound["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise self.error(node, "manual_seed takes a whole number, 0 or more")
            self.doc.set_setting("seed", seed)
            return None
        if function.namespace == "tensor" and function.name == "tensor":
            return self._tensor_call(node)
        args = [self.eval(a) for a in node.args]
        kwargs = self._keywords(node)
        if function.namespace == "autograd":
            return self._grad(args, kwargs, node)
        return self.operation(function.name, args, kwargs, node, method=False)

    def operation(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST,
                  *, method: bool) -> Any:
        """A palette operation called as a function (``torch.exp(x)``) or method."""
        if name in _CONSTRUCTORS or name in _LIKE:
            return self._constructor(name, args, kwargs, node)
        if name in _UNARY:
            bound = self.bind(node, name, "unary", args, kwargs)
            return self.node(_UNARY[name], node, inputs={"x": self.tensor(bound["input"], node)})
        if name in _ARITHMETIC:
            bound = self.bind(node, name, "pair", args, kwargs)
            left = bound["input"]
            if not isinstance(left, _Out):
                self.tensor(left, node)
            return self.binary(_ARITHMETIC[name], left, bound["other"], node)
        if name in {"pow", "square"}:
            bound = self.bind(node, name, "unary" if name == "square" else "pow", args, kwargs)
            exponent = 2 if name == "square" else bound["exponent"]
            return self.binary(ast.Pow(), self.tensor(bound["input"], node), exponent, node)
        if name in _MATMUL:
            bound = self.bind(node, name, "pair", args, kwargs)
            return self.node("MatMul", node, inputs={"a": self.tensor(bound["input"], node),
                                                     "b": self.tensor(bound["other"], node)})
        if name in {"clamp", "clip"}:
            bound = self.bind(node, name, "clamp", args, kwargs)
            low, high = (self._optional_number(bound[k], node, k) for k in ("min", "max"))
            return self.node("Clamp", node, inputs={"x": self.tensor(bound["input"], node)},
                             min=low, max=high)
        if name in {"maximum", "minimum"}:
            bound = self.bind(node, name, "pair", args, kwargs)
            return self.node(name.capitalize(), node, inputs={
                "a": self.tensor(bound["input"], node), "b": self.tensor(bound["other"], node)})
        if name == "where":
            bound = self.bind(node, name, "where", args, kwargs)
            condition = self.tensor(bound["condition"], node)
            a, b = bound["input"], bound["other"]
            if _is_number(a) and isinstance(b, _Out):
                a = self.constant(a, b, node)
            if _is_number(b) and isinstance(a, _Out):
                b = self.constant(b, a, node)
            return self.node("Where", node, inputs={"condition": condition,
                                                    "a": self.tensor(a, node),
                                                    "b": self.tensor(b, node)})
        if name in _REDUCTIONS:
            return self._reduction(name, args, kwargs, node)
        if name in _ACTIVATIONS:
            kind, numbers = _ACTIVATIONS[name]
            bound = self.bind(node, name, name, args, kwargs)
            params = {k: float(self.number(bound[k], node, k)) for k in numbers}
            if name == "gelu":
                if bound["approximate"] not in ("none", "tanh"):
                    raise self.error(node, "approximate argument must be either none or tanh.")
                params["approximate"] = bound["approximate"]
            return self.node(kind, node, inputs={"x": self.tensor(bound["input"], node)},
                             **params)
        if name in {"softmax", "log_softmax"}:
            bound = self.bind(node, name, "softmax", args, kwargs)
            kind = "Softmax" if name == "softmax" else "LogSoftmax"
            return self.node(kind, node, inputs={"x": self.tensor(bound["input"], node)},
                             dim=self.integer(bound["dim"], node, "dim"))
        if name in _SHAPE_FUNCTIONS:
            return self._shape(name, args, kwargs, node, method)
        if name in {"cat", "concat", "stack"}:
            bound = self.bind(node, name, "join", args, kwargs)
            tensors = bound["tensors"]
            if not isinstance(tensors, list | tuple) or not 1 <= len(tensors) <= 16:
                raise self.error(node, f"{name}() takes a list of 1 to 16 tensors")
            inputs = {f"t{i}": self.tensor(t, node) for i, t in enumerate(tensors)}
            return self.node("Stack" if name == "stack" else "Cat", node, inputs=inputs,
                             count=len(tensors), dim=self.integer(bound["dim"], node, "dim"))
        if name == "linear":
            bound = self.bind(node, name, "linear", args, kwargs)
            bias = bound["bias"]
            return self.node("Linear", node, inputs={
                "input": self.tensor(bound["input"], node),
                "weight": self.tensor(bound["weight"], node),
                "bias": None if bias is None else self.tensor(bias, node)})
        if name in _LOSSES:
            bound = self.bind(node, name, "loss", args, kwargs)
            if bound["reduction"] not in registry.REDUCTIONS:
                raise self.error(node, "reduction must be 'mean', 'sum' or 'none'")
            return self.node(_LOSSES[name], node, inputs={
                "input": self.tensor(bound["input"], node),
                "target": self.tensor(bound["target"], node)}, reduction=bound["reduction"])
        raise self.error(node, f"{name}() is not supported")  # pragma: no cover

    def _reduction(self, name: str, args: list[Any], kwargs: dict[str, Any],
                   node: ast.AST) -> Any:
        bound = self.bind(node, name, "reduce", args, kwargs)
        x = self.tensor(bound["input"], node)
        dim = bound["dim"]
        if name in {"max", "min"} and isinstance(dim, _Out):  # torch.max(a, b)
            if bound.values["keepdim"] is not False:
                raise self.error(node, f"{name}(a, b) takes no keepdim")
            return self.node("Maximum" if name == "max" else "Minimum", node,
                             inputs={"a": x, "b": dim})
        dims = None if dim is None else self.dims(dim, node)
        keepdim = bound["keepdim"]
        if not isinstance(keepdim, bool):
            raise self.error(node, "keepdim must be True or False")
        out = self.node(_REDUCTIONS[name], node, inputs={"x": x}, dim=dims, keepdim=keepdim)
        if name in {"max", "min"} and dims is not None:
            return _MaxResult(out, name)
        return out

    def _shape(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST,
               method: bool) -> Any:
        if name in {"reshape", "view"}:
            if not method and len(args) == 2 and not kwargs:
                args = [args[0], *(args[1] if isinstance(args[1], list | tuple)
                                   else (args[1],))]
            bound = self.bind(node, name, "reshape", args, kwargs)
            shape = self._sizes(bound["shape"], node, allow_minus_one=True)
            return self.node("Reshape", node, inputs={"x": self.tensor(bound["input"], node)},
                             shape=shape)
        if name == "t":
            bound = self.bind(node, name, "t", args, kwargs)
            return self.node("Transpose", node, inputs={"x": self.tensor(bound["input"], node)},
                             dim0=0, dim1=1)
        if name == "transpose":
            bound = self.bind(node, name, "transpose", args, kwargs)
            return self.node("Transpose", node, inputs={"x": self.tensor(bound["input"], node)},
                             dim0=self.integer(bound["dim0"], node, "dim0"),
                             dim1=self.integer(bound["dim1"], node, "dim1"))
        if name == "permute":
            bound = self.bind(node, name, "permute", args, kwargs)
            dims = self._sizes(bound["dims"], node, allow_negative=True)
            return self.node("Permute", node, inputs={"x": self.tensor(bound["input"], node)},
                             dims=dims)
        if name == "unsqueeze":
            bound = self.bind(node, name, "unsqueeze", args, kwargs)
            return self.node("Unsqueeze", node, inputs={"x": self.tensor(bound["input"], node)},
                             dim=self.integer(bound["dim"], node, "dim"))
        bound = self.bind(node, name, "squeeze", args, kwargs)
        dim = bound["dim"]
        return self.node("Squeeze", node, inputs={"x": self.tensor(bound["input"], node)},
                         dim=None if dim is None else self.integer(dim, node, "dim"))

    # sources -------------------------------------------------------------------------------
    def _leaf_options(self, kwargs: dict[str, Any], node: ast.AST, name: str
                      ) -> tuple[str | None, bool]:
        dtype, requires_grad = kwargs.pop("dtype", None), kwargs.pop("requires_grad", False)
        if kwargs:
            raise self.error(node, f"{name}() got an unsupported keyword argument "
                                   f"{min(kwargs)!r} (dtype= and requires_grad= are)")
        if dtype is not None and not isinstance(dtype, _DType):
            raise self.error(node, "dtype must be torch.float32, torch.float64, torch.int64 or "
                                   "torch.bool")
        if not isinstance(requires_grad, bool):
            raise self.error(node, "requires_grad must be True or False")
        return (None if dtype is None else dtype.name), requires_grad

    def _tensor_call(self, node: ast.Call) -> _Out:
        args = [self.eval(a) for a in node.args]
        kwargs = self._keywords(node)
        dtype, requires_grad = self._leaf_options(kwargs, node, "tensor")
        bound = self.bind(node, "tensor", "tensor", args, {})
        text = self._literal_text(bound["data"], node)
        return self.leaf(text, dtype, requires_grad, node)

    def _literal_text(self, data: Any, node: ast.AST) -> str:
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list | tuple):
                stack.extend(item)
            elif not _is_number(item):
                if isinstance(item, _Out):
                    raise self.error(node, "torch.tensor() takes numbers or lists of numbers; "
                                           "to copy a tensor use .clone() or .detach()")
                raise self.error(node, f"torch.tensor() takes numbers or lists of numbers, "
                                       f"not {_describe(item)}")
        plain = _lists(data)
        if isinstance(plain, float) and not math.isfinite(plain):
            return repr(plain)
        try:
            return format_literal(plain)
        except ExpressionError as exc:  # pragma: no cover - numbers and lists only
            raise self.error(node, exc.message) from None

    def _constructor(self, name: str, args: list[Any], kwargs: dict[str, Any],
                     node: ast.AST) -> _Out:
        text, dtype, requires_grad = self.constructor_text(name, args, kwargs, node)
        return self.leaf(text, dtype, requires_grad, node)

    def constructor_text(self, name: str, args: list[Any], kwargs: dict[str, Any],
                         node: ast.AST) -> tuple[str, str | None, bool]:
        """The value text of ``ones(2, 3)`` and friends, with their dtype and requires_grad."""
        kwargs = dict(kwargs)
        dtype, requires_grad = self._leaf_options(kwargs, node, name)
        if name in _LIKE:
            bound = self.bind(node, name, "like", args, {})
            meta = self.meta(self.tensor(bound["input"], node))
            if meta is None:
                raise self.error(node, f"{name}(): the shape of its input is not known (the "
                                       "graph has an error before it)")
            base = _LIKE[name]
            sizes = ", ".join(map(str, meta.shape)) or "()"
            return f"{base}({sizes})", dtype or meta.dtype, requires_grad
        if name in {"zeros", "ones", "rand", "randn"}:
            bound = self.bind(node, name, "sizes", args, {})
            sizes = self._sizes(bound["size"], node)
            text = f"{name}({', '.join(map(str, sizes))})" if sizes else f"{name}(())"
        elif name == "full":
            bound = self.bind(node, name, "full", args, {})
            sizes = self._sizes(bound["size"], node)
            fill = bound["fill_value"]
            if not _is_number(fill):
                raise self.error(node, "full(size, fill_value) takes a number to fill with")
            text = f"full({tuple(sizes)!r}, {_number_text(fill)})"
        elif name == "arange":
            bound = self.bind(node, name, "arange", args, {})
            numbers = bound["args"]
            if not 1 <= len(numbers) <= 3 or not all(
                    _is_number(n) and not isinstance(n, bool) for n in numbers):
                raise self.error(node, "arange(end) or arange(start, end[, step]) takes numbers")
            text = f"arange({', '.join(_number_text(n) for n in numbers)})"
        elif name == "linspace":
            bound = self.bind(node, name, "linspace", args, {})
            start, end = (self.number(bound[k], node, k) for k in ("start", "end"))
            steps = self.integer(bound["steps"], node, "steps")
            text = f"linspace({_number_text(start)}, {_number_text(end)}, {steps})"
        elif name == "eye":
            bound = self.bind(node, name, "eye", args, {})
            sizes = [self.integer(bound["n"], node, "n")]
            if bound["m"] is not None:
                sizes.append(self.integer(bound["m"], node, "m"))
            text = f"eye({', '.join(map(str, sizes))})"
        else:  # pragma: no cover - tensor() is handled by _tensor_call
            raise self.error(node, f"{name}() is not supported")
        return text, dtype, requires_grad

    def leaf(self, text: str, dtype: str | None, requires_grad: bool, node: ast.AST) -> _Out:
        try:
            spec = parse_value(text, max_elements=self.max_elements)
        except ExpressionError as exc:
            raise self.error(node, exc.message) from None
        if spec.is_literal:
            natural = spec.literal_dtype
        else:
            try:
                natural = S.as_meta(spec.expression.evaluate({}, S.meta_functions())).dtype
            except (ExpressionError, ShapeError) as exc:
                raise self.error(node, str(exc)) from None
        floating = S.is_floating(dtype or natural)
        if requires_grad and floating:
            return self.node("Parameter", node, value=text, dtype=dtype or "float32")
        return self.node("Tensor", node, value=text, dtype=dtype or "auto",
                         requires_grad=requires_grad)

    def _requires_grad_(self, out: _Out, flag: bool, receiver: ast.expr,
                        node: ast.AST) -> _Out:
        source = self.doc.nodes[out.node_id]
        if not source.kind_info.is_source and flag and out.node_id in self.fresh:
            text = self._constant_text(receiver)
            if text is not None:
                return self._refold(out, text, node)
        self._set_requires_grad(out, flag, node)
        return out

    def _refold(self, out: _Out, text: str, node: ast.AST) -> _Out:
        """``(torch.randn(3) * 0.1).requires_grad_()``: one leaf of value ``randn(3) * 0.1``."""
        made = [out.node_id, *nx.ancestors(self.doc.graph(), out.node_id)]
        self.doc.apply(RemoveNodes(made))
        for node_id in made:
            self.fresh.discard(node_id)
            self.auto_labels.discard(node_id)
        return self.leaf(text, None, True, node)

    def _constant_text(self, node: ast.expr) -> str | None:
        """The value text of an expression of constructors and numbers only, else None."""
        def convert(item: ast.AST) -> ast.AST:
            if isinstance(item, ast.Call):
                callee = self._callee(item.func)
                if not (isinstance(callee, _Function) and callee.namespace == "tensor" and
                        callee.name in _CONSTRUCTORS - {"tensor"} and not item.keywords):
                    raise LookupError
                return ast.Call(ast.Name(callee.name, ast.Load()),
                                [convert(a) for a in item.args], [])
            if isinstance(item, ast.BinOp) and type(item.op) in _BINARY_KINDS:
                return ast.BinOp(convert(item.left), item.op, convert(item.right))
            if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub | ast.UAdd):
                return ast.UnaryOp(item.op, convert(item.operand))
            if isinstance(item, ast.Constant) and _is_number(item.value):
                return item
            if isinstance(item, ast.Tuple | ast.List):
                return type(item)([convert(e) for e in item.elts], ast.Load())
            if isinstance(item, ast.Name | ast.Attribute):
                value = self._callee(item) if isinstance(item, ast.Attribute) else \
                    self.env.get(item.id)
                if _is_number(value) and math.isfinite(value):
                    return ast.Constant(value)
            raise LookupError

        try:
            text = ast.unparse(convert(node))
            parse_value(text, max_elements=self.max_elements)
        except (LookupError, ExpressionError, CodeError):
            return None
        return text

    def _set_requires_grad(self, out: _Out, flag: bool, node: ast.AST) -> None:
        source = self.doc.nodes[out.node_id]
        if not source.kind_info.is_source or source.kind == "Data":
            if not flag:
                raise self.error(node, "you can only change requires_grad flags of leaf "
                                       "variables. If you want to use a computed variable in "
                                       "a subgraph that doesn't require differentiation use "
                                       "var_no_grad = var.detach().")
            raise self.error(node, "requires_grad_() can only be drawn on a tensor made by a "
                                   "constructor (torch.tensor, torch.ones...), not on a result")
        if self.doc.edges_from(out.node_id):
            raise self.error(node, "set requires_grad before using the tensor: the graph "
                                   "would change what was already computed from it")
        if source.kind == "Parameter":
            if not flag:
                self._replace_source(out, "Tensor", value=source.params["value"],
                                     dtype=source.params["dtype"], requires_grad=False)
            return
        self.doc.set_param(out.node_id, "requires_grad", flag)
        self._remember_meta(out.node_id)

    def _replace_source(self, out: _Out, kind: str, **params: Any) -> None:
        """Swap a source node (used by nothing yet) for another kind, keeping id and label."""
        old = self.doc.nodes[out.node_id]
        self.doc.apply(RemoveNodes([old.id]))
        self.doc.apply(AddNode(kind, params, label=old.label, retain_grad=old.retain_grad,
                               hooks=old.hooks, node_id=old.id))
        self._remember_meta(old.id)

    # autograd ------------------------------------------------------------------------------
    def _grad(self, args: list[Any], kwargs: dict[str, Any], node: ast.AST) -> _GradResult:
        bound = self.bind(node, "grad", "grad", args, kwargs)
        outputs, inputs = bound["outputs"], bound["inputs"]
        outputs = outputs[0] if isinstance(outputs, list | tuple) and len(outputs) == 1 \
            else outputs
        inputs = inputs[0] if isinstance(inputs, list | tuple) and len(inputs) == 1 else inputs
        if isinstance(outputs, list | tuple) or isinstance(inputs, list | tuple):
            raise self.error(node, "autograd.grad can be drawn for one output and one input")
        create_graph = bound["create_graph"]
        if not isinstance(create_graph, bool) or not (
                bound["retain_graph"] is None or isinstance(bound["retain_graph"], bool)):
            raise self.error(node, "create_graph and retain_graph must be True or False")
        out = self.node("Grad", node, inputs={"output": self.tensor(outputs, node),
                                              "input": self.tensor(inputs, node)},
                        create_graph=create_graph)
        return _GradResult(out)

    def _backward(self, out: _Out, node: ast.Call) -> None:
        if self.backward_at is not None:
            raise self.error(node, f"the graph has one backward call; it is already called on "
                                   f"line {self.backward_at}")
        keywords = {k.arg: k.value for k in node.keywords}
        positional = list(node.args)
        if "inputs" in keywords:
            raise self.error(node, "backward(inputs=...) is not supported")
        bound = self.bind(node, "backward", "backward", positional, keywords)
        gradient = None
        if bound["gradient"] is not None:
            gradient = self._gradient_text(bound["gradient"], out)
        flags = {}
        for name in ("retain_graph", "create_graph"):
            value = bound[name]
            if isinstance(value, ast.AST):
                value = self.eval(value)
            if not (value is None or isinstance(value, bool)):
                raise self.error(node, f"{name} must be True or False")
            flags[name] = value
        self.doc.set_setting("backward_node", out.node_id)
        self.doc.set_setting("gradient", gradient)
        self.doc.set_setting("retain_graph", flags["retain_graph"])
        self.doc.set_setting("create_graph", bool(flags["create_graph"]))
        self.backward_at = node.lineno

    def _gradient_text(self, expr: ast.expr, out: _Out) -> str:
        message = ("gradient= must be a constant tensor, e.g. torch.ones(3), "
                   "torch.ones_like(y) or torch.tensor([1.0, 0.1])")
        if isinstance(expr, ast.Name):
            value = self.name(expr)
            if isinstance(value, _Out):
                source = self.doc.nodes[value.node_id]
                if source.kind == "Tensor" and not source.params["requires_grad"]:
                    return source.params["value"]
            raise self.error(expr, message)
        if isinstance(expr, ast.Call):
            callee = self._callee(expr.func)
            if isinstance(callee, _Function) and callee.namespace == "tensor":
                if callee.name == "tensor":
                    args = [self.eval(a) for a in expr.args]
                    kwargs = self._keywords(expr)
                    self._leaf_options(kwargs, expr, "tensor")
                    bound = self.bind(expr, "tensor", "tensor", args, {})
                    return self._literal_text(bound["data"], expr)
                if callee.name in _CONSTRUCTORS or callee.name in _LIKE:
                    args = [self.eval(a) for a in expr.args]
                    text, _, _ = self.constructor_text(callee.name, args, self._keywords(expr),
                                                       expr)
                    try:
                        parse_value(text, max_elements=self.max_elements)
                    except ExpressionError as exc:
                        raise self.error(expr, exc.message) from None
                    return text
        raise self.error(expr, message)

    def _register_hook(self, out: _Out, node: ast.Call) -> _HookHandle:
        if len(node.args) != 1 or node.keywords:
            raise self.error(node, "register_hook takes one function: lambda grad: ...")
        function = node.args[0]
        if not isinstance(function, ast.Lambda):
            raise self.error(function, "register_hook needs a lambda, such as "
                                       "lambda grad: grad * 0.5")
        hook = self._hook(function)
        self.doc.apply(AddHook(out.node_id, hook))
        return _HookHandle(out.node_id, hook)

    def _remove_hook(self, handle: _HookHandle, node: ast.AST) -> None:
        hooks = self.doc.nodes[handle.node_id].hooks
        for index, hook in enumerate(hooks):
            if hook is handle.hook:
                self.doc.apply(RemoveHook(handle.node_id, index))
                return
        raise self.error(node, "this hook was already removed")

    def _hook(self, function: ast.Lambda) -> Hook:
        arguments = function.args
        if arguments.posonlyargs or arguments.vararg or arguments.kwonlyargs or \
                arguments.kwarg or arguments.defaults or len(arguments.args) != 1:
            raise self.error(function, "a hook is a lambda of one argument: lambda grad: ...")
        parameter = arguments.args[0].arg
        body = function.body
        if isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and \
                body.func.id == "print":
            for argument in [*body.args, *(k.value for k in body.keywords)]:
                self._check_passive(argument)
            return Hook("print")
        formula = self._hook_formula(body, parameter)
        text = ast.unparse(formula)
        try:
            parse_expression(text, names={"grad"}, where="hook")
        except ExpressionError as exc:
            raise self.error(body, exc.message) from None
        number = _constant_number
        if isinstance(formula, ast.BinOp) and isinstance(formula.op, ast.Mult):
            for grad_side, other in ((formula.left, formula.right),
                                     (formula.right, formula.left)):
                if _is_grad(grad_side) and number(other) is not None:
                    return Hook("scale", k=float(number(other)))
        if isinstance(formula, ast.Call):
            call_args = list(formula.args)
            if isinstance(formula.func, ast.Attribute) and _is_grad(formula.func.value):
                call_args = [formula.func.value, *call_args]
                name = formula.func.attr
            else:
                name = formula.func.id if isinstance(formula.func, ast.Name) else ""
            keywords = {k.arg: k.value for k in formula.keywords}
            if name == "zeros_like" and len(call_args) == 1 and not keywords and \
                    _is_grad(call_args[0]):
                return Hook("zero")
            if name == "clamp" and call_args and _is_grad(call_args[0]) and \
                    len(call_args) + len(keywords) == 3 and set(keywords) <= {"min", "max"}:
                bounds = dict(zip(("min", "max"), call_args[1:], strict=False)) | keywords
                low, high = number(bounds.get("min")), number(bounds.get("max"))
                if low is not None and high is not None and low <= high:
                    return Hook("clamp", min=float(low), max=float(high))
        return Hook("replace", expression=text)

    def _hook_formula(self, node: ast.AST, parameter: str) -> ast.AST:
        """The lambda's body as a formula of ``grad`` (numbers inlined, prefixes dropped)."""
        if isinstance(node, ast.Name):
            if node.id == parameter:
                return ast.Name("grad", ast.Load())
            value = self.env.get(node.id)
            if _is_number(value):
                return _number_node(value)
            raise self.error(node, f"a hook can use only its gradient ({parameter}) and "
                                   f"numbers; {node.id!r} is {_describe(value)}"
                             if node.id in self.env else f"name {node.id!r} is not defined")
        if isinstance(node, ast.Attribute):
            value = self._callee(node)
            if _is_number(value):
                return _number_node(value)
            raise self.error(node, "attributes are not allowed in a hook")
        if isinstance(node, ast.Call):
            callee = self._callee(node.func)
            if isinstance(callee, _Function):
                if callee.name not in FORMULA_FUNCTIONS:
                    raise self.error(node, f"{callee.name}() is not available in a hook")
                func: ast.expr = ast.Name(callee.name, ast.Load())
            elif isinstance(node.func, ast.Attribute):
                func = ast.Attribute(self._hook_formula(node.func.value, parameter),
                                     node.func.attr, ast.Load())
            else:
                name = node.func.id if isinstance(node.func, ast.Name) else "this"
                raise self.error(node, f"calls to {name!r} are not allowed in a hook")
            return ast.Call(func, [self._hook_formula(a, parameter) for a in node.args],
                            [ast.keyword(k.arg, self._hook_formula(k.value, parameter))
                             for k in node.keywords])
        if isinstance(node, ast.BinOp):
            return ast.BinOp(self._hook_formula(node.left, parameter), node.op,
                             self._hook_formula(node.right, parameter))
        if isinstance(node, ast.UnaryOp):
            return ast.UnaryOp(node.op, self._hook_formula(node.operand, parameter))
        if isinstance(node, ast.Compare):
            return ast.Compare(self._hook_formula(node.left, parameter), node.ops,
                               [self._hook_formula(c, parameter) for c in node.comparators])
        if isinstance(node, ast.Tuple | ast.List):
            return type(node)([self._hook_formula(e, parameter) for e in node.elts],
                              ast.Load())
        if isinstance(node, ast.Constant) and (node.value is None or _is_number(node.value)):
            return node
        raise self.error(node, f"{type(node).__name__} is not allowed in a hook")

    # helpers -------------------------------------------------------------------------------
    def tensor(self, value: Any, node: ast.AST) -> _Out:
        if isinstance(value, _Out):
            return value
        if isinstance(value, _MaxResult):
            raise self.error(node, f".{value.method}(dim) gives (values, indices); write "
                                   f".{value.method}(dim).values")
        if isinstance(value, _GradResult):
            raise self.error(node, "autograd.grad returns a tuple: write "
                                   "g, = torch.autograd.grad(...)")
        raise self.error(node, f"expected a tensor, got {_describe(value)}")

    def number(self, value: Any, node: ast.AST, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(node, f"{what} must be a number, got {_describe(value)}")
        return value

    def _optional_number(self, value: Any, node: ast.AST, what: str) -> float | None:
        return None if value is None else float(self.number(value, node, what))

    def integer(self, value: Any, node: ast.AST, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, f"{what} must be a whole number, got {_describe(value)}")
        if abs(value) > 2**31:
            raise self.error(node, f"{what} is too large")
        return value

    def dims(self, value: Any, node: ast.AST) -> int | list[int]:
        if isinstance(value, list | tuple):
            if len(value) > 32:
                raise self.error(node, "too many dims")
            return [self.integer(v, node, "dim") for v in value]
        return self.integer(value, node, "dim")

    def _sizes(self, values: Any, node: ast.AST, *, allow_minus_one: bool = False,
               allow_negative: bool = False) -> list[int]:
        if isinstance(values, tuple) and len(values) == 1 and isinstance(values[0], list | tuple):
            values = values[0]
        if not isinstance(values, list | tuple):
            values = (values,)
        if len(values) > 32:
            raise self.error(node, "more than 32 dimensions")
        sizes = [self.integer(v, node, "size") for v in values]
        for size in sizes:
            if size < 0 and not allow_negative and not (allow_minus_one and size == -1):
                raise self.error(node, f"negative size {size}")
        return sizes

    def meta(self, out: _Out) -> TensorMeta | None:
        return self.metas.get((out.node_id, out.port))

    def _remember_meta(self, node_id: str) -> None:
        """Infer a new node's output metas from its inputs' (what validation does, one node)."""
        node = self.doc.nodes[node_id]
        inputs: dict[str, TensorMeta] = {}
        known = True
        for port in node.input_ports():
            edge = self.doc.input_edge(node_id, port.name)
            if edge is None:
                known = known and port.optional
                continue
            meta = self.metas.get((edge.source, edge.source_port))
            if meta is None:
                known = False
            inputs[port.name] = meta
        outputs: tuple[TensorMeta | None, ...] = (None,) * len(node.output_ports())
        if known:
            try:
                outputs = tuple(node.kind_info.infer(inputs, node.params, []))
                if not node.kind_info.is_source and node.params.get("no_grad"):
                    outputs = tuple(TensorMeta(m.shape, m.dtype, False) for m in outputs)
            except Exception:  # noqa: BLE001 - a node validation will report; unknown here
                outputs = (None,) * len(node.output_ports())
        for port, meta in zip(node.output_names(), outputs, strict=False):
            self.metas[(node_id, port)] = meta

    def node(self, kind: str, where: ast.AST, *, inputs: dict[str, _Out | None] | None = None,
             **params: Any) -> _Out:
        if len(self.doc) >= limits.max_graph_nodes:
            raise self.error(where, f"the code makes more than {limits.max_graph_nodes:,} "
                                    "nodes")
        if not registry.get(kind).is_source and self.no_grad:
            params["no_grad"] = True
        try:
            new = self.doc.add_node(kind, **params)
            for port, source in (inputs or {}).items():
                if source is not None:
                    self.doc.connect(source.node_id, new.id, port, source_port=source.port)
        except (DocumentError, ParamError) as exc:
            raise self.error(where, str(exc)) from None
        self.auto_labels.add(new.id)
        self.fresh.add(new.id)
        self._remember_meta(new.id)
        return _Out(new.id)

    def finish(self) -> GraphDocument:
        if len(self.doc):
            self.doc.apply(MoveNodes(compute_layout(self.doc)))
        return self.doc


# --------------------------------------------------------------------------------------------


def _pow(base: Any, exponent: Any) -> Any:
    return base**exponent


def _mul(a: Any, b: Any) -> Any:
    return a * b


_NUMBER_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: _mul,
    ast.Div: lambda a, b: a / b, ast.Pow: _pow, ast.USub: lambda a: -a, ast.UAdd: lambda a: +a,
}
_BINARY_KINDS = {ast.Add: "Add", ast.Sub: "Sub", ast.Mult: "Mul", ast.Div: "Div",
                 ast.Pow: "Pow", ast.MatMult: "MatMul"}


def operator_of(op: ast.AST) -> Callable[..., Any]:
    return _NUMBER_OPERATORS[type(op)]


def _operator_symbol(op: ast.AST) -> str:
    symbols = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
               ast.MatMult: "@", ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<",
               ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
               ast.Invert: "~", ast.Not: "not", ast.USub: "-", ast.UAdd: "+"}
    return symbols.get(type(op), type(op).__name__)


def _lists(data: Any) -> Any:
    if isinstance(data, list | tuple):
        return [_lists(item) for item in data]
    return data


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _number_node(value: Any) -> ast.expr:
    if isinstance(value, float) and math.isnan(value):
        return ast.Name("nan", ast.Load())
    magnitude: ast.expr = ast.Name("inf", ast.Load()) if isinstance(value, float) and \
        math.isinf(value) else ast.Constant(abs(value) if not isinstance(value, bool) else value)
    if not isinstance(value, bool) and value < 0:
        return ast.UnaryOp(ast.USub(), magnitude)
    return magnitude


def _constant_number(node: ast.AST | None) -> float | None:
    if isinstance(node, ast.Constant) and _is_number(node.value) and \
            not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant_number(node.operand)
        return None if inner is None else -inner
    return None


def _is_grad(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "grad"


__all__ = ["CodeError", "CodeLimits", "from_code", "limits"]
