"""Safe parsing of what users type: tensor values, formulas, hooks and custom Functions.

Three kinds of text reach the document from a keyboard or a file:

* tensor values for source nodes: a literal (``[1, 2, 3]``, ``3.0``, ``[[1,2],[3,4]]``) or a
  constructor expression (``ones(2, 2)``, ``randn(3, 4) * 0.1``, ``linspace(0, 10, 100)``);
* formulas over named inputs: a custom Function's forward ``x * 2`` and backward
  ``grad_output * 2``, a hook's replacement ``grad * 0.5``, the Data node's ``2*x + 1``;
* numbers and dims inside parameters (handled by the registry, not here).

Example::

    >>> from visgrad.document.expressions import parse_expression, parse_value
    >>> parse_value("[[1, 2], [3, 4]]").shape
    (2, 2)
    >>> expr = parse_expression("x * 2 + 1", names={"x"})
    >>> expr.evaluate({"x": 3.0}, {})
    7.0

NOTE [never eval]: a ``.vgraph`` file can come from anyone, so its text is *data*. We parse
with :mod:`ast`, accept a short whitelist of node types (numbers, names we know, arithmetic,
comparisons, calls of whitelisted functions and methods, tuples and lists), and evaluate the
tree with our own small interpreter. ``eval``/``exec``/``compile`` of user text never happen.
Names and attributes starting with ``_`` are refused outright, so ``__import__``,
``x.__class__`` and friends cannot even be spelled. Sizes are checked *before* anything big
is allocated: constructor arguments, broadcast results, and Python integer powers.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import json
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from visgrad.document.shapes import ShapeError, broadcast_shapes, matmul_shape, numel


@dataclass
class Limits:
    """Size limits that protect the app from text that would allocate too much.

    Change them for the whole process with ``expressions.limits.max_elements = 10**8``.
    """

    max_elements: int = 50_000_000
    max_expression_chars: int = 10_000
    # Non-JSON literals go through ``ast``: ~6 µs and ~500 bytes a character (10 MB took a
    # minute and 4.7 GB). Values visgrad writes itself are JSON, which has no such limit.
    max_literal_python_chars: int = 100_000
    max_dims: int = 32


limits = Limits()


class ExpressionError(ValueError):
    """Text that cannot be accepted; says what is wrong and where (``where``, ``column``)."""

    def __init__(
        self, message: str, *, source: str | None = None, column: int | None = None,
        where: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.column = column
        self.where = where
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.column is not None and self.source is not None:
            snippet = self.source if len(self.source) <= 60 else self.source[:57] + "..."
            text += f" (column {self.column} of {snippet!r})"
        return text

    def located(self, where: str) -> ExpressionError:
        """The same error, said to be in ``where`` (e.g. ``"node l1, hook 2"``)."""
        inner = f"{where}, {self.where}" if self.where and self.where != where else where
        return ExpressionError(self.message, source=self.source, column=self.column, where=inner)


# Names that always mean a number.
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}

ELEMENTWISE_FUNCTIONS = frozenset(
    {"exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "neg"}
)
CONSTRUCTORS = frozenset(
    {"zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn"}
)
TENSOR_FUNCTIONS = ELEMENTWISE_FUNCTIONS | frozenset(
    {"clamp", "maximum", "minimum", "where", "sum", "mean", "max", "min", "matmul",
     "softmax", "log_softmax", "reshape", "transpose", "permute", "unsqueeze", "squeeze",
     "cat", "stack", "zeros_like", "ones_like", "pow"}
)
# Functions a formula over tensors may call (custom Function, hooks, Data).
FORMULA_FUNCTIONS = TENSOR_FUNCTIONS | CONSTRUCTORS
# Functions a source node's value may call.
VALUE_FUNCTIONS = CONSTRUCTORS | ELEMENTWISE_FUNCTIONS
# Methods that may be called on a tensor: ``x.sum(0)``, ``grad.clamp(-1, 1)``.
METHODS = frozenset(
    {"sum", "mean", "max", "min", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid",
     "relu", "abs", "clamp", "reshape", "transpose", "permute", "unsqueeze", "squeeze",
     "matmul", "softmax", "log_softmax", "pow", "neg", "detach", "clone"}
)
KEYWORDS = frozenset({"dim", "keepdim", "min", "max", "exponent", "dims", "dtype"})

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.MatMult: operator.matmul,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_REFUSED = {
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Subscript: "indexing and slicing are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.Set: "sets are not allowed",
    ast.Starred: "* unpacking is not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed; use where(...)",
    ast.IfExp: "'if ... else' is not allowed; use where(...)",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
}


@dataclass(frozen=True)
class Expression:
    """A parsed, whitelisted formula, ready to evaluate over named values.

    ``names`` are the free names it uses (variables, not functions or constants).
    """

    source: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()
    where: str = "expression"

    def evaluate(
        self, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]],
        *, max_elements: int | None = None,
    ) -> Any:
        """Evaluate with ``variables`` (name -> value) and ``functions`` (name -> callable).

        Errors of the values themselves (a shape mismatch inside the engine) come back as an
        :class:`ExpressionError` naming the column, with the original exception as cause.
        """
        interpreter = _Interpreter(self, variables, functions, _limit(max_elements))
        return interpreter.run(self.tree.body)

    def check_names(self, allowed: Iterable[str]) -> None:
        """Refuse variables not in ``allowed`` (with the list of what is available)."""
        allowed = set(allowed)
        unknown = sorted(self.names - allowed)
        if unknown:
            column = _find_name_column(self.tree, unknown[0])
            available = ", ".join(sorted(allowed)) or "none"
            raise ExpressionError(
                f"unknown name {unknown[0]!r}; available: {available}",
                source=self.source, column=column, where=self.where,
            )


def parse_expression(
    source: str, *, names: Iterable[str] | None = None,
    functions: Iterable[str] = FORMULA_FUNCTIONS, where: str = "expression",
) -> Expression:
    """Parse ``source`` into an :class:`Expression`, refusing anything outside the whitelist.

    ``names``: the variables it may use (``None``: any name not starting with ``_``, to be
    checked later with :meth:`Expression.check_names`). ``functions``: callable names.

    >>> parse_expression("__import__('os')")
    Traceback (most recent call last):
    ...
    visgrad.document.expressions.ExpressionError: expression: names starting with '_' ...
    """
    if not isinstance(source, str):
        raise ExpressionError(f"expected text, got {type(source).__name__}", where=where)
    if len(source) > limits.max_expression_chars:
        raise ExpressionError(
            f"is {len(source):,} characters long; the limit is {limits.max_expression_chars:,}",
            where=where,
        )
    if not source.strip():
        raise ExpressionError("is empty", where=where)
    tree = _parse(source.strip(), where)
    functions = frozenset(functions)
    checker = _Checker(source.strip(), functions, where)
    checker.visit(tree.body)
    expression = Expression(source.strip(), tree, frozenset(checker.names), where)
    if names is not None:
        expression.check_names(names)
    return expression


_PARSE_BUDGET: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "visgrad_parse_budget", default=None)


@contextlib.contextmanager
def parse_budget(chars: int) -> Iterator[None]:
    """Inside the block, refuse to parse more than ``chars`` characters of formulas and
    Python-style values in all (a file loader's guard against text made to be slow).

    >>> with parse_budget(10):
    ...     parse_expression("x * 2 + y * 3")
    Traceback (most recent call last):
    ...
    visgrad.document.expressions.ExpressionError: expression: more than 10 characters ...
    """
    token = _PARSE_BUDGET.set([chars, chars])
    try:
        yield
    finally:
        _PARSE_BUDGET.reset(token)


def _parse(source: str, where: str) -> ast.Expression:
    budget = _PARSE_BUDGET.get()
    if budget is not None:
        budget[0] -= len(source)
        if budget[0] < 0:
            raise ExpressionError(
                f"more than {budget[1]:,} characters of formulas and Python-style values in "
                "all; write large values as JSON lists such as [1.0, 2.0]", where=where)
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"invalid syntax ({exc.msg})", source=source, column=exc.offset, where=where
        ) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("is nested too deeply", where=where) from None


class _Checker:
    """Walks a parsed tree and refuses every node type outside the whitelist."""

    def __init__(self, source: str, functions: frozenset[str], where: str) -> None:
        self.source = source
        self.functions = functions
        self.where = where
        self.names: set[str] = set()

    def fail(self, node: ast.AST, message: str) -> None:
        column = getattr(node, "col_offset", None)
        raise ExpressionError(
            message, source=self.source,
            column=None if column is None else column + 1, where=self.where,
        )

    def visit(self, node: ast.AST) -> None:
        kind = type(node)
        if kind in _REFUSED:
            self.fail(node, _REFUSED[kind])
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str | bytes):
                self.fail(node, "text strings are not allowed")
            if not (node.value is None or isinstance(node.value, bool | int | float)):
                self.fail(node, f"the constant {node.value!r} is not allowed")
        elif isinstance(node, ast.Name):
            self._check_name(node)
            if node.id in self.functions:
                self.fail(node, f"the function {node.id!r} must be called: {node.id}(...)")
            if node.id not in CONSTANTS:
                self.names.add(node.id)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                self.fail(node, f"the operator {_op_symbol(node.op)} is not allowed")
            self.visit(node.left)
            self.visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                self.fail(node, f"the operator {_op_symbol(node.op)} is not allowed")
            self.visit(node.operand)
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                self.fail(node, "only single comparisons (<, <=, >, >=, ==, !=) are allowed")
            self.visit(node.left)
            self.visit(node.comparators[0])
        elif isinstance(node, ast.Call):
            self._check_call(node)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                self.fail(node, f"attributes starting with '_' are not allowed: {node.attr!r}")
            self.fail(node, f"attribute access is not allowed ('.{node.attr}'); "
                            "only method calls such as x.sum() are")
        elif isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                self.visit(element)
        else:
            self.fail(node, f"{type(node).__name__} is not allowed")

    def _check_name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            self.fail(node, f"names starting with '_' are not allowed: {node.id!r}")

    def _check_call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self._check_name(func)
            if func.id not in self.functions:
                known = ", ".join(sorted(self.functions))
                self.fail(func, f"unknown function {func.id!r}; available: {known}")
        elif isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                self.fail(func, f"attributes starting with '_' are not allowed: {func.attr!r}")
            if func.attr not in METHODS:
                self.fail(func, f"the method {func.attr!r} is not allowed; "
                                f"available: {', '.join(sorted(METHODS))}")
            self.visit(func.value)
        else:
            self.visit(func)  # a lambda or a comprehension gets its own message
            self.fail(func, "only named functions and methods can be called")
        for argument in node.args:
            self.visit(argument)
        for keyword in node.keywords:
            if keyword.arg is None:
                self.fail(keyword.value, "** unpacking is not allowed")
            if keyword.arg not in KEYWORDS:
                self.fail(keyword.value, f"the keyword {keyword.arg!r} is not allowed; "
                                         f"available: {', '.join(sorted(KEYWORDS))}")
            self.visit(keyword.value)


def _op_symbol(op: ast.AST) -> str:
    symbols = {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>",
               ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Invert: "~",
               ast.Not: "not"}
    return symbols.get(type(op), type(op).__name__)


def _find_name_column(tree: ast.AST, name: str) -> int | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            return node.col_offset + 1
    return None


def _limit(max_elements: int | None) -> int:
    return limits.max_elements if max_elements is None else max_elements


def _is_number(value: Any) -> bool:
    return isinstance(value, bool | int | float)


class _Interpreter:
    """Evaluates a checked tree. Every node type here was accepted by :class:`_Checker`."""

    def __init__(
        self, expression: Expression, variables: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]], max_elements: int,
    ) -> None:
        self.expression = expression
        self.variables = variables
        self.functions = functions
        self.max_elements = max_elements

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        column = getattr(node, "col_offset", None)
        return ExpressionError(
            message, source=self.expression.source,
            column=None if column is None else column + 1, where=self.expression.where,
        )

    def run(self, node: ast.AST) -> Any:
        try:
            return self.visit(node)
        except ExpressionError:
            raise
        except RecursionError:
            raise self.fail(node, "is nested too deeply") from None

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                return self.variables[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise self.fail(node, f"unknown name {node.id!r}")
        if isinstance(node, ast.Tuple):
            return tuple(self.visit(element) for element in node.elts)
        if isinstance(node, ast.List):
            return [self.visit(element) for element in node.elts]
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            self._refuse_sequences(node, operand)
            return self._apply(node, _UNARY[type(node.op)], operand)
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            self._refuse_sequences(node, left, right)
            if isinstance(node.op, ast.Pow) and _is_number(left) and _is_number(right):
                return self._number_power(node, left, right)
            self._check_size(node, left, right)
            return self._apply(node, _BINARY[type(node.op)], left, right)
        if isinstance(node, ast.Compare):
            left, right = self.visit(node.left), self.visit(node.comparators[0])
            self._refuse_sequences(node, left, right)
            return self._apply(node, _COMPARE[type(node.ops[0])], left, right)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise self.fail(node, f"{type(node).__name__} is not allowed")  # pragma: no cover

    def _call(self, node: ast.Call) -> Any:
        args = [self.visit(argument) for argument in node.args]
        kwargs = {keyword.arg: self.visit(keyword.value) for keyword in node.keywords}
        if isinstance(node.func, ast.Name):
            function = self.functions.get(node.func.id)
            if function is None:
                raise self.fail(node, f"the function {node.func.id!r} is not available here")
            name = node.func.id
        else:
            target = self.visit(node.func.value)
            if _is_number(target) or isinstance(target, list | tuple | str):
                raise self.fail(node, f"'.{node.func.attr}()' needs a tensor, "
                                      f"not {type(target).__name__}")
            function = getattr(target, node.func.attr, None)
            if function is None:
                raise self.fail(node, f"{type(target).__name__} has no method "
                                      f"{node.func.attr!r}")
            name = node.func.attr
        return self._apply(node, function, *args, name=name, **kwargs)

    def _apply(self, node: ast.AST, function: Callable[..., Any], *args: Any,
               name: str | None = None, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ExpressionError:
            raise
        except (ArithmeticError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            label = f"{name}(): " if name else ""
            raise self.fail(node, f"{label}{exc}") from exc

    def _refuse_sequences(self, node: ast.AST, *operands: Any) -> None:
        if any(isinstance(operand, list | tuple) for operand in operands):
            raise self.fail(node, "arithmetic on lists or tuples is not allowed; "
                                  "make a tensor first")

    def _number_power(self, node: ast.AST, base: Any, exponent: Any) -> Any:
        # Python ints grow without bound: 10**10**10 would hang the app. Small int powers stay
        # exact; anything else goes through float, which overflows loudly instead.
        if (isinstance(base, int) and isinstance(exponent, int)
                and 0 <= exponent <= 64 and abs(base) <= 2**16):
            return base**exponent
        try:
            return float(base) ** float(exponent)
        except OverflowError:
            raise self.fail(node, "the number is too large") from None
        except ZeroDivisionError:
            raise self.fail(node, "0 cannot be raised to a negative power") from None

    def _check_size(self, node: ast.BinOp, left: Any, right: Any) -> None:
        left_shape, right_shape = _shape_of(left), _shape_of(right)
        if left_shape is None or right_shape is None:
            return
        try:
            if isinstance(node.op, ast.MatMult):
                shape = matmul_shape(left_shape, right_shape)
            else:
                shape = broadcast_shapes(left_shape, right_shape)
        except ShapeError as exc:
            raise self.fail(node, str(exc)) from None
        if numel(shape) > self.max_elements:
            raise self.fail(node, _too_many(shape, self.max_elements))


def _shape_of(value: Any) -> tuple[int, ...] | None:
    if _is_number(value):
        return ()
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(int(size) for size in shape)


def _too_many(shape: tuple[int, ...], max_elements: int) -> str:
    return (f"a tensor of shape {tuple(shape)} would have {numel(shape):,} elements; the limit "
            f"is {max_elements:,} (visgrad.document.expressions.limits.max_elements)")


# --------------------------------------------------------------------------------------------
# Constructors with their size checked before they allocate.


def constructor_size(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple:
    """The shape ``name(*args)`` would make, computed without making it."""

    def sizes(values: tuple[Any, ...]) -> tuple[int, ...]:
        if len(values) == 1 and isinstance(values[0], list | tuple):
            values = tuple(values[0])
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"sizes must be whole numbers, got {value!r}")
            if value < 0:
                raise ValueError(f"negative dimension {value}")
        if len(values) > limits.max_dims:
            raise ValueError(f"more than {limits.max_dims} dimensions")
        return tuple(values)

    if name in {"zeros", "ones", "rand", "randn"}:
        return sizes(args)
    if name == "full":
        if len(args) != 2:
            raise ValueError("full(size, fill_value) takes a size and a value")
        return sizes((args[0],))
    if name == "arange":
        if not 1 <= len(args) <= 3 or not all(_is_number(a) for a in args):
            raise ValueError("arange(end) or arange(start, end[, step]) takes numbers")
        start, end, step = (0, args[0], 1) if len(args) == 1 else (*args[:2], 1)
        if len(args) == 3:
            step = args[2]
        if step == 0 or step != step:
            raise ValueError("step must be nonzero")
        if all(isinstance(a, int) for a in (start, end, step)):
            return (max(0, -((start - end) // step)),)  # exact, however big
        try:
            count = (end - start) / step
        except OverflowError:
            count = math.inf
        if not math.isfinite(count):  # inf or nan at an end, or ends a float's range apart
            raise ValueError(f"unsupported range: {start} -> {end}")  # torch's words
        return (max(0, math.ceil(count)),)
    if name == "linspace":
        if len(args) != 3 or not all(_is_number(a) for a in args):
            raise ValueError("linspace(start, end, steps) takes three numbers")
        return sizes((args[2],))
    if name == "eye":
        if not 1 <= len(args) <= 2:
            raise ValueError("eye(n) or eye(n, m)")
        shape = sizes(args)
        return shape if len(shape) == 2 else (shape[0], shape[0])
    raise ValueError(f"unknown constructor {name!r}")  # pragma: no cover


def checked_constructors(
    implementations: Mapping[str, Callable[..., Any]], max_elements: int | None = None,
) -> dict[str, Callable[..., Any]]:
    """Wrap constructors (``ones``, ``randn``, ...) so they refuse sizes over the limit."""
    limit = _limit(max_elements)

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def checked(*args: Any, **kwargs: Any) -> Any:
            shape = constructor_size(name, args, kwargs)
            if numel(shape) > limit:
                raise ValueError(_too_many(shape, limit))
            return function(*args, **kwargs)

        checked.__name__ = name
        return checked

    return {name: wrap(name, function) for name, function in implementations.items()
            if name in CONSTRUCTORS}


# --------------------------------------------------------------------------------------------
# Tensor values of source nodes.


@dataclass(frozen=True)
class TensorValue:
    """What a source node's value text means.

    Either ``literal`` (nested lists of numbers, or one number) with its ``shape`` and the
    dtype torch would infer (``literal_dtype``: ``"bool"``, ``"int64"`` or ``"float32"``),
    or ``expression``: a constructor formula such as ``randn(3, 4) * 0.1``.
    """

    source: str
    literal: Any = None
    shape: tuple[int, ...] | None = None
    literal_dtype: str | None = None
    expression: Expression | None = None

    @property
    def is_literal(self) -> bool:
        return self.expression is None


def parse_value(
    text: Any, *, max_elements: int | None = None, where: str = "value",
) -> TensorValue:
    """Parse a source node's value: a literal or a constructor expression.

    >>> parse_value("3.0").literal_dtype
    'float32'
    >>> parse_value("ones(2, 2)").expression.source
    'ones(2, 2)'
    >>> parse_value("ones(100000, 100000)")
    Traceback (most recent call last):
    ...
    visgrad.document.expressions.ExpressionError: value: ones(): a tensor of shape ...
    """
    limit = _limit(max_elements)
    if not isinstance(text, str):
        raise ExpressionError(f"expected text, got {type(text).__name__}", where=where)
    source = text.strip()
    if not source:
        raise ExpressionError("is empty", where=where)
    data = _json_literal(source)
    if data is not _NOT_JSON:
        return _literal_value(source, data, limit, where)
    if len(source) > limits.max_literal_python_chars:
        raise ExpressionError(
            f"is {len(source):,} characters long; write large values as JSON lists "
            f"(up to {limits.max_literal_python_chars:,} characters otherwise)", where=where)
    tree = _parse(source, where)
    literal = _python_literal(tree.body)
    if literal is not _NOT_LITERAL:
        return _literal_value(source, literal, limit, where)
    expression = parse_expression(source, names=(), functions=VALUE_FUNCTIONS, where=where)
    _check_constant_constructors(expression, limit)
    return TensorValue(source, expression=expression)


_NOT_JSON = object()
_NOT_LITERAL = object()


def _json_literal(source: str) -> Any:
    if source[0] not in "[-0123456789.tfNI":
        return _NOT_JSON
    try:
        return json.loads(source)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _python_literal(node: ast.AST) -> Any:
    """Python-syntax literals JSON does not cover: tuples, ``inf``, ``True``, ``-nan``."""
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return node.value
    if isinstance(node, ast.Name) and node.id in {"inf", "nan"}:
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _python_literal(node.operand)
        if _is_number(inner) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
        return _NOT_LITERAL
    if isinstance(node, ast.List | ast.Tuple):
        elements = [_python_literal(element) for element in node.elts]
        if any(element is _NOT_LITERAL for element in elements):
            return _NOT_LITERAL
        return elements
    return _NOT_LITERAL


def _literal_value(source: str, data: Any, limit: int, where: str) -> TensorValue:
    shape, kinds = literal_shape(data, limit, where)
    dtype = "float32" if "float" in kinds else "int64" if "int" in kinds else "bool"
    return TensorValue(source, literal=data, shape=shape, literal_dtype=dtype)


def literal_shape(data: Any, max_elements: int | None = None,
                  where: str = "value") -> tuple[tuple[int, ...], set[str]]:
    """Shape of nested lists of numbers and the kinds of numbers in them; refuses ragged ones.

    Walks level by level (no recursion), so deeply nested hostile text cannot crash it.
    """
    limit = _limit(max_elements)
    shape: list[int] = []
    level = [data]
    kinds: set[str] = set()
    while True:
        if all(isinstance(item, list) for item in level):
            lengths = {len(item) for item in level}
            if len(lengths) != 1:
                raise ExpressionError(
                    f"is ragged: at depth {len(shape)} the lists have lengths "
                    f"{sorted(lengths)[:5]}", where=where)
            shape.append(lengths.pop())
            if len(shape) > limits.max_dims:
                raise ExpressionError(f"has more than {limits.max_dims} dimensions",
                                      where=where)
            if numel(shape) > limit:
                raise ExpressionError(_too_many(tuple(shape), limit), where=where)
            level = [element for item in level for element in item]
            if not level:
                return tuple(shape), {"float"}
            continue
        for item in level:
            if isinstance(item, list):
                raise ExpressionError(f"is ragged: at depth {len(shape)} lists are mixed "
                                      "with numbers", where=where)
            if isinstance(item, bool):
                kinds.add("bool")
            elif isinstance(item, int):
                kinds.add("int")
            elif isinstance(item, float):
                kinds.add("float")
            else:
                raise ExpressionError(f"contains {item!r}, which is not a number", where=where)
        return tuple(shape), kinds


def _check_constant_constructors(expression: Expression, limit: int) -> None:
    """Refuse ``ones(100000, 100000)`` when the text is parsed, not only when it is run."""
    for node in ast.walk(expression.tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in CONSTRUCTORS):
            args = [_python_literal(argument) for argument in node.args]
            if any(arg is _NOT_LITERAL for arg in args):
                continue
            try:
                shape = constructor_size(node.func.id, tuple(args), {})
            except ValueError as exc:
                raise ExpressionError(f"{node.func.id}(): {exc}", source=expression.source,
                                      column=node.col_offset + 1,
                                      where=expression.where) from None
            if numel(shape) > limit:
                raise ExpressionError(f"{node.func.id}(): {_too_many(shape, limit)}",
                                      source=expression.source, column=node.col_offset + 1,
                                      where=expression.where)


def format_literal(data: Any) -> str:
    """Text for a value given as data (numbers or nested lists): the inverse of parsing it.

    Floats keep every digit (``repr``), so a value round-trips through a file exactly.
    """
    try:
        return json.dumps(data, allow_nan=True)
    except TypeError:
        raise ExpressionError(f"cannot write {type(data).__name__} as a value") from None
