"""Scripts from documents: the canvas as a runnable PyTorch (or visgrad) script.

Example::

    >>> from visgrad.document import examples
    >>> from visgrad.document.code_export import to_script
    >>> script = to_script(examples.load("l1_l4_network"))
    >>> print(script[script.index("input_ ="):script.index("loss.backward")].strip())
    input_ = torch.ones(2, 2)  # input
    w1 = torch.tensor(2.0, requires_grad=True)
    w2 = torch.tensor(3.0, requires_grad=True)
    w3 = torch.tensor(4.0, requires_grad=True)
    l1 = input_ * w1
    l1.retain_grad()
    l1.register_hook(lambda grad: print('l1 grad:', grad))
    l2 = l1 + w2
    l3 = l1 * w3
    l4 = l2 * l3
    loss = l4.mean()

One line per node in topological order (sources first), named after the node's label made
into an identifier; then the backward call with the document's settings, and a ``print`` of
each leaf's ``.grad``. When the document has training settings, a training loop follows.

NOTE [same numbers]: a script is only useful if it prints what the canvas shows. Values that
torch would compute differently are embedded: torch's random generator is not visgrad's, so a
``randn(3, 4)`` leaf is written as the literal numbers the canvas drew (the visgrad flavor
seeds and draws them again instead), and so are ``linspace`` and other values torch rounds
differently. Data nodes are written as the numpy code that draws their samples, which is
exactly what the node runs. Floats are written with every digit they need to read back
bit for bit.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import keyword
import math
import os
import re
import sys
import tempfile
import unicodedata
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visgrad.document import registry, validation
from visgrad.document import shapes as S
from visgrad.document.expressions import (
    CONSTANTS,
    ExpressionError,
    parse_expression,
    parse_value,
)
from visgrad.document.formulas import to_numpy
from visgrad.document.model import SETTINGS, DocumentError, GraphDocument, Hook, Node

FLAVORS = ("torch", "visgrad")
EMBED_LIMIT = 100_000  # elements: larger random leaves are written as code, not numbers
_MODULE_NAMES = frozenset({"torch", "F", "np", "math", "vg", "visgrad"})
_RESERVED = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | _MODULE_NAMES
_EXACT_CONSTRUCTORS = frozenset({"zeros", "ones", "full", "eye", "arange"})
_TRAINING = ("optimizer", "lr", "steps", "momentum")


class ExportError(ValueError):
    """A document that cannot be written as a script (says which node and why)."""


# --------------------------------------------------------------------------------------------
# Names


def identifier(label: str) -> str:
    """A Python identifier for a label: ``"x²"`` → ``x2``, ``"3x²+4x"`` → ``v3x2_4x``,
    ``"input"`` → ``input_`` (not a builtin).

    >>> identifier("x².detach()")
    'x2_detach'
    """
    text = unicodedata.normalize("NFKC", label)
    characters = [c if c == "_" or c.isalnum() and ("a" + c).isidentifier() else "_"
                  for c in text]
    name = re.sub("_+", "_", "".join(characters)).strip("_") or "t"
    if not name[0].isidentifier():
        name = "v" + name
    if name in _RESERVED:
        name += "_"
    return name


class _Names:
    """Hands out distinct identifiers in the order asked."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        base = identifier(wanted)
        name, number = base, 2
        while name in self.used:
            name, number = f"{base}_{number}", number + 1
        self.used.add(name)
        return name


def _ordered(document: GraphDocument) -> list[Node]:
    """Topological order with the sources first (still an order in which inputs come first)."""
    try:
        order = document.topological_order()
    except DocumentError as exc:
        raise ExportError(str(exc)) from None
    return [n for n in order if n.kind_info.is_source] + \
        [n for n in order if not n.kind_info.is_source]


def variable_names(document: GraphDocument) -> dict[tuple[str, str], str]:
    """The script's variable for each output: ``{(node id, port): name}``.

    A Data node's two outputs are ``<label>_x`` and ``<label>_y``.
    """
    names = _Names()
    result = {}
    for node in _ordered(document):
        ports = node.output_names()
        for port in ports:
            wanted = node.label if len(ports) == 1 else f"{node.label}_{port}"
            result[(node.id, port)] = names.take(wanted)
    return result


# --------------------------------------------------------------------------------------------
# Numbers and data as Python text


def _float_text(value: float, dtype: str = "float64") -> str:
    """The shortest text that reads back to exactly ``value`` (in ``dtype``)."""
    value = float(value)
    if math.isnan(value):
        return "math.nan"
    if math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    if dtype == "float32":
        short = str(np.float32(value))
        try:
            if np.float32(float(short)).tobytes() == np.float32(value).tobytes():
                return short if any(c in short for c in ".en") else short + ".0"
        except ValueError:  # pragma: no cover - numpy prints only numbers here
            pass
    return repr(value)


def _number_text(value: Any, dtype: str = "float64") -> str:
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return _float_text(value, dtype)


def _data_text(data: Any, dtype: str = "float64", width: int = 88) -> str:
    """Nested lists of numbers as Python text, wrapped over lines when long."""
    def flat(item: Any) -> str:
        if isinstance(item, list):
            return "[" + ", ".join(flat(element) for element in item) + "]"
        return _number_text(item, dtype)

    def wrapped(item: Any, indent: int) -> str:
        text = flat(item)
        if len(text) + indent <= width or not isinstance(item, list) or not item:
            return text
        inner = " " * (indent + 4)
        if isinstance(item[0], list):
            rows = [wrapped(row, indent + 4) for row in item]
            return "[\n" + "".join(f"{inner}{row},\n" for row in rows) + " " * indent + "]"
        lines, current = [], ""
        for number in (_number_text(value, dtype) for value in item):
            if current and len(current) + len(number) + 2 + indent + 4 > width:
                lines.append(current)
                current = ""
            current += ("" if not current else " ") + number + ","
        lines.append(current)
        return "[\n" + "".join(f"{inner}{line}\n" for line in lines) + " " * indent + "]"

    return wrapped(data, 0)


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text).strip()


# --------------------------------------------------------------------------------------------
# Formulas (custom Functions, hooks, values, Data) as code


class _Translate(ast.NodeTransformer):
    def __init__(self, names: Mapping[str, str], call: Callable[[str, ast.Call], ast.expr],
                 constant: Callable[[str], ast.expr]) -> None:
        self.names, self.call, self.constant = names, call, constant

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in self.names:
            return ast.Name(self.names[node.id], ast.Load())
        if node.id in CONSTANTS:
            return self.constant(node.id)
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        node.args = [self.visit(argument) for argument in node.args]
        node.keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]
        if isinstance(node.func, ast.Attribute):
            node.func = ast.Attribute(self.visit(node.func.value), node.func.attr, ast.Load())
            return node
        return self.call(node.func.id, node)


def _attribute(module: str, name: str) -> ast.expr:
    return ast.Attribute(ast.Name(module, ast.Load()), name, ast.Load())


class _Script:
    """Writes one document as a script of one flavor."""

    def __init__(self, document: GraphDocument, flavor: str, training: bool | None) -> None:
        if flavor not in FLAVORS:
            raise ExportError(f"unknown flavor {flavor!r}; choose torch or visgrad")
        self.doc = document
        self.flavor = flavor
        self.t = "torch" if flavor == "torch" else "vg"
        self.order = _ordered(document)
        self.var = variable_names(document)
        self.names = _Names()
        self.names.used |= set(self.var.values())
        self.report = validation.validate(document)
        self.needs: set[str] = set()
        self.classes: dict[tuple[Any, ...], str] = {}
        self.class_lines: list[str] = []
        self.training = self._has_training() if training is None else training

    # small helpers ------------------------------------------------------------------------
    def _has_training(self) -> bool:
        return any(self.doc.settings[name] != SETTINGS[name].default for name in _TRAINING)

    def _num(self, value: Any) -> str:
        text = _number_text(value)
        if "math." in text:
            self.needs.add("math")
        return text

    def _dtype(self, name: str) -> str:
        return f"{self.t}.{name}"

    def _input(self, node: Node, port: str) -> str | None:
        edge = self.doc.input_edge(node.id, port)
        if edge is None:
            if not next(p for p in node.input_ports() if p.name == port).optional:
                raise ExportError(f"{node.label}: input {port!r} is not connected; connect it "
                                  "before exporting")
            return None
        return self.var[(edge.source, edge.source_port)]

    def _requires_grad(self, node: Node) -> bool | None:
        meta = self.report.meta(node.id, node.output_names()[0])
        return None if meta is None else meta.requires_grad

    def _formula(self, tree: ast.AST, names: Mapping[str, str]) -> str:
        def call(name: str, node: ast.Call) -> ast.expr:
            node.func = _attribute(self.t, name)
            return node

        def constant(name: str) -> ast.expr:
            self.needs.add("math")
            return _attribute("math", name)

        return ast.unparse(_Translate(names, call, constant).visit(copy.deepcopy(tree)))

    # sources -----------------------------------------------------------------------------
    def _leaf(self, node: Node) -> list[str]:
        var = self.var[(node.id, "out")]
        value = node.params["value"]
        wanted = node.params["dtype"] if node.params["dtype"] != "auto" else None
        requires_grad = node.kind == "Parameter" or node.params["requires_grad"]
        try:
            spec = parse_value(value)
        except ExpressionError as exc:
            raise ExportError(f"{node.label}: {exc}") from None
        t = self.t
        grad = ", requires_grad=True" if requires_grad else ""
        if spec.is_literal:
            dtype = f", dtype={self._dtype(wanted)}" if wanted and \
                wanted != spec.literal_dtype else ""
            data = _data_text(spec.literal)
            if "math." in data:
                self.needs.add("math")
            return [f"{var} = {t}.tensor({data}{dtype}{grad})"]
        expression = spec.expression
        random = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                     and n.func.id in {"rand", "randn"} for n in ast.walk(expression.tree))
        lines = []
        if self.flavor == "torch" and not _exact_in_torch(expression.tree):
            array = self._canvas_leaf(node)
            if array.size <= EMBED_LIMIT:
                dtype = str(array.dtype)
                data = _data_text(array.tolist(), dtype)
                if "math." in data:
                    self.needs.add("math")
                natural = "float32" if dtype.startswith("float") else \
                    "bool" if dtype == "bool" else "int64"
                dtype_kw = f", dtype={self._dtype(dtype)}" if dtype != natural else ""
                why = "drawn by visgrad's generator" if random else "computed by visgrad"
                return [f"# {_comment(value)}: the values {why}, so that they match the canvas",
                        f"{var} = {t}.tensor({data}{dtype_kw}{grad})"]
            lines.append(f"# {_comment(value)}: torch draws other numbers than the canvas "
                         "(its random generator is not visgrad's)")
        if self.flavor == "visgrad" and random:
            seed = self.doc.settings["seed"] + zlib.crc32(node.id.encode())
            lines.append(f"vg.manual_seed({seed})  # as the canvas seeds this leaf (seed + node id)")
        code = self._formula(expression.tree.body, {})
        result = expression.evaluate({}, S.meta_functions())
        if isinstance(result, bool | int | float):
            natural = S.as_meta(result).dtype
            dtype = f", dtype={self._dtype(wanted)}" if wanted and wanted != natural else ""
            lines.append(f"{var} = {t}.tensor({code}{dtype}{grad})")
            return lines
        convert = wanted is not None and wanted != S.as_meta(result).dtype
        body = expression.tree.body
        if isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and not convert:
            if requires_grad:
                code = code[:-1] + ("" if code.endswith("()") else ", ") + "requires_grad=True)"
            lines.append(f"{var} = {code}")
            return lines
        if convert:
            code = f"{_parenthesised(code, body)}.to({self._dtype(wanted)})"
        if requires_grad:
            code = f"{_parenthesised(code, body if not convert else None)}.requires_grad_()"
        lines.append(f"{var} = {code}")
        return lines

    def _canvas_leaf(self, node: Node) -> np.ndarray:
        """The leaf's values as the session makes them (same seed, same generator)."""
        import visgrad as vg  # noqa: PLC0415 - the engine only when a value must be drawn

        params = node.params
        dtype = params["dtype"]
        requires_grad = node.kind == "Parameter" or params["requires_grad"]
        vg.manual_seed(self.doc.settings["seed"] + zlib.crc32(node.id.encode()))
        try:
            leaf = registry.make_leaf(params["value"], dtype, requires_grad,
                                      registry.EvaluationContext(node.label))
        except (ExpressionError, ValueError, TypeError, RuntimeError) as exc:
            raise ExportError(f"{node.label}: {exc}") from None
        return to_numpy(leaf)

    def _data(self, node: Node) -> list[str]:
        p = node.params
        x_var, y_var = self.var[(node.id, "x")], self.var[(node.id, "y")]
        rng = self.names.take("rng")
        xs, ys = self.names.take(f"{x_var}_np"), self.names.take(f"{y_var}_np")
        self.needs.add("np")
        n = p["samples"]
        try:
            formula = parse_expression(p["formula"], names={"x"},
                                       functions=registry.DATA_FUNCTIONS, where="formula")
        except ExpressionError as exc:
            raise ExportError(f"{node.label}: {exc}") from None
        y_code = ast.unparse(_Translate({"x": xs}, _numpy_call,
                                        lambda name: _attribute("np", name)
                                        ).visit(copy.deepcopy(formula.tree.body)))
        y_code = f"np.asarray({y_code}, dtype=float)"
        if "x" not in formula.names:
            y_code = f"np.broadcast_to({y_code}, {xs}.shape)"
        if p["sampling"] == "linspace":
            x_code = f"np.linspace({self._num(p['x_min'])}, {self._num(p['x_max'])}, {n})"
        else:
            x_code = f"np.sort({rng}.uniform({self._num(p['x_min'])}, {self._num(p['x_max'])}, {n}))"
        return [
            (f"# {_comment(node.label)}: {n} samples of y = {_comment(p['formula'])} + "
             f"{p['noise']:g}·N(0, 1), drawn by numpy as the Data node draws them"),
            f"{rng} = np.random.default_rng({p['seed']})",
            f"{xs} = {x_code}",
            f"{ys} = {y_code} + {self._num(p['noise'])} * {rng}.standard_normal({n})",
            f"{x_var} = {self.t}.tensor({xs}.reshape({n}, 1).astype(np.float32))",
            f"{y_var} = {self.t}.tensor({ys}.reshape({n}, 1).astype(np.float32))",
        ]

    # operations ----------------------------------------------------------------------------
    def _operation(self, node: Node) -> list[str]:
        kind, p = node.kind, node.params
        var = self.var[(node.id, node.output_names()[0])]
        t = self.t

        def get(port: str) -> str | None:
            return self._input(node, port)

        if kind in {"Add", "Sub", "Mul", "Div"}:
            symbol = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}[kind]
            b = get("b")
            if b is None:
                if p["scalar"] is None:
                    raise ExportError(f"{node.label}: input 'b' is not connected (connect it, "
                                      "or set 'scalar')")
                b = self._num(p["scalar"])
                b = f"({b})" if b.startswith("-") else b
            return [f"{var} = {get('a')} {symbol} {b}"]
        if kind == "Neg":
            return [f"{var} = -{get('x')}"]
        if kind == "Pow":
            exponent = get("exponent")
            if exponent is None:
                value = p["exponent"]
                exponent = self._num(int(value) if float(value).is_integer() else value)
                exponent = f"({exponent})" if exponent.startswith("-") else exponent
            return [f"{var} = {get('x')} ** {exponent}"]
        if kind in _UNARY_FUNCTIONS:
            return [f"{var} = {t}.{_UNARY_FUNCTIONS[kind]}({get('x')})"]
        if kind == "Clamp":
            low, high = _or_none(p["min"], self._num), _or_none(p["max"], self._num)
            return [f"{var} = {t}.clamp({get('x')}, min={low}, max={high})"]
        if kind in {"Maximum", "Minimum"}:
            return [f"{var} = {t}.{kind.lower()}({get('a')}, {get('b')})"]
        if kind == "Where":
            return [f"{var} = {t}.where({get('condition')}, {get('a')}, {get('b')})"]
        if kind == "Grad":
            call = (f"{t}.autograd.grad({get('output')}, {get('input')}, "
                    f"create_graph={p['create_graph']}, retain_graph=True)")
            return [f"({var},) = {call}"]
        if kind in {"Sum", "Mean", "Max", "Min"}:
            return [f"{var} = {self._reduction(node, get('x'))}"]
        if kind == "MatMul":
            return [f"{var} = {get('a')} @ {get('b')}"]
        if kind == "Reshape":
            shape = ", ".join(map(str, p["shape"])) or "()"
            return [f"{var} = {get('x')}.reshape({shape})"]
        if kind == "Transpose":
            return [f"{var} = {get('x')}.transpose({p['dim0']}, {p['dim1']})"]
        if kind == "Permute":
            return [f"{var} = {get('x')}.permute({', '.join(map(str, p['dims']))})"]
        if kind == "Unsqueeze":
            return [f"{var} = {get('x')}.unsqueeze({p['dim']})"]
        if kind == "Squeeze":
            return [f"{var} = {get('x')}.squeeze({'' if p['dim'] is None else p['dim']})"]
        if kind in {"Cat", "Stack"}:
            tensors = ", ".join(get(f"t{i}") or "None" for i in range(p["count"]))
            return [f"{var} = {t}.{kind.lower()}([{tensors}], dim={p['dim']})"]
        if kind == "Detach":
            return [f"{var} = {get('x')}.detach()"]
        if kind == "Clone":
            return [f"{var} = {get('x')}.clone()"]
        if kind == "Linear":
            self.needs.add("F")
            bias = get("bias")
            arguments = [get("input"), get("weight"), *([bias] if bias is not None else [])]
            return [f"{var} = F.linear({', '.join(arguments)})"]
        if kind in _ACTIVATIONS:
            self.needs.add("F")
            function, names = _ACTIVATIONS[kind]
            arguments = "".join(
                f", {n}={p[n]!r}" if n == "approximate" else f", {n}={self._num(p[n])}"
                for n in names)
            return [f"{var} = F.{function}({get('x')}{arguments})"]
        if kind in {"Softmax", "LogSoftmax"}:
            self.needs.add("F")
            function = "softmax" if kind == "Softmax" else "log_softmax"
            return [f"{var} = F.{function}({get('x')}, dim={p['dim']})"]
        if kind in _LOSS_FUNCTIONS:
            self.needs.add("F")
            reduction = "" if p["reduction"] == "mean" else f", reduction={p['reduction']!r}"
            arguments = f"{get('input')}, {get('target')}{reduction}"
            return [f"{var} = F.{_LOSS_FUNCTIONS[kind]}({arguments})"]
        if kind == "Function":
            name = self._function_class(node)
            arguments = ", ".join(get(port) or "None" for port in node.input_names())
            return [f"{var} = {name}.apply({arguments})"]
        if kind == "Traced":
            raise ExportError(f"{node.label}: {p['grad_fn']} was traced from Python and has "
                              "no palette node; replace it before exporting")
        raise ExportError(f"{node.label}: cannot export a {kind} node")  # pragma: no cover

    def _reduction(self, node: Node, x: str | None) -> str:
        p = node.params
        method = node.kind.lower()
        if p["dim"] is None:
            code = f"{x}.{method}()"
            return f"{code}.reshape((1,) * {x}.dim())" if p["keepdim"] else code
        dim = p["dim"] if isinstance(p["dim"], int) else \
            "(" + ", ".join(map(str, p["dim"])) + ("," if len(p["dim"]) == 1 else "") + ")"
        keep = ", keepdim=True" if p["keepdim"] else ""
        values = ".values" if method in {"max", "min"} else ""
        return f"{x}.{method}(dim={dim}{keep}){values}"

    def _function_class(self, node: Node) -> str:
        p = node.params
        key = (p["name"], tuple(p["inputs"]), p["forward"], p["backward"])
        if key in self.classes:
            return self.classes[key]
        name = self.names.take(p["name"])
        self.classes[key] = name
        try:
            forward, backward = registry.custom_expressions(p)
        except ExpressionError as exc:
            raise ExportError(f"{node.label}: {exc}") from None
        local = {n: n + "_" if n in _MODULE_NAMES | {"ctx", "self"} else n for n in p["inputs"]}
        arguments = ", ".join(local[n] for n in p["inputs"])
        unpacked = f"({arguments},)" if len(p["inputs"]) == 1 else arguments
        backward_tree = backward.tree.body
        if isinstance(backward_tree, ast.List):
            backward_tree = ast.Tuple(backward_tree.elts, ast.Load())
        self.class_lines += [
            f"class {name}({self.t}.autograd.Function):",
            f"    # forward: {_comment(p['forward'])}; backward: {_comment(p['backward'])}",
            "",
            "    @staticmethod",
            f"    def forward(ctx, {arguments}):",
            f"        ctx.save_for_backward({arguments})",
            f"        return {self._formula(forward.tree.body, local)}",
            "",
            "    @staticmethod",
            "    def backward(ctx, grad_output):",
            f"        {unpacked} = ctx.saved_tensors",
            f"        return {self._formula(backward_tree, local)}",
            "", "",
        ]
        return name

    # hooks -------------------------------------------------------------------------------
    def _hook_code(self, node: Node, hook: Hook) -> str:
        t = self.t
        if hook.kind == "print":
            return f"lambda grad: print({node.label + ' grad:'!r}, grad)"
        if hook.kind == "scale":
            return f"lambda grad: grad * {self._num(hook.k)}"
        if hook.kind == "clamp":
            return f"lambda grad: {t}.clamp(grad, {self._num(hook.min)}, {self._num(hook.max)})"
        if hook.kind == "zero":
            return f"lambda grad: {t}.zeros_like(grad)"
        expression = parse_expression(hook.expression, names={"grad"}, where="hook")
        code = self._formula(expression.tree.body, {})
        if "grad" not in expression.names:
            code = f"{t}.full_like(grad, {code})"
        return f"lambda grad: {code}"

    def _decorations(self, node: Node, *, in_loop: bool = False) -> list[str]:
        """retain_grad() and register_hook(...) lines, as the session adds them."""
        var = self.var[(node.id, node.output_names()[0])]
        source = node.kind_info.is_source
        lines = []
        if node.retain_grad and not source and not in_loop:
            lines.append(f"{var}.retain_grad()")
        for hook in node.hooks:
            if in_loop and hook.kind == "print":
                continue
            lines.append(f"{var}.register_hook({self._hook_code(node, hook)})")
        if not lines:
            return []
        requires_grad = self._requires_grad(node)
        if requires_grad is False:
            note = f"# ({_comment(node.label)} does not require grad: its hooks do nothing)"
            return [] if in_loop else [note]
        if requires_grad is None:
            return [f"if {var}.requires_grad:", *(f"    {line}" for line in lines)]
        return lines

    # the whole script --------------------------------------------------------------------
    def _node_lines(self, node: Node, *, in_loop: bool = False) -> list[str]:
        lines = _labelled(self._operation(node), node, self.var)
        return lines + self._decorations(node, in_loop=in_loop)

    def _forward(self, *, in_loop: bool = False) -> list[str]:
        lines: list[str] = []
        in_block = False
        for node in self.order:
            if node.kind_info.is_source:
                continue
            block = bool(node.params.get("no_grad"))
            if block and not in_block:
                lines.append(f"with {self.t}.no_grad():")
            in_block = block
            lines += [f"    {line}" if block else line for line in
                      self._node_lines(node, in_loop=in_loop)]
        return lines

    def _sources(self) -> list[str]:
        lines = []
        for node in self.order:
            if not node.kind_info.is_source:
                continue
            if node.kind == "Data":
                lines += self._data(node)
                continue
            lines += _labelled(self._leaf(node), node, self.var) + self._decorations(node)
        return lines

    def _backward(self) -> tuple[list[str], str | None]:
        target = validation.backward_node(self.doc)
        if target is None:
            return ["# (nothing to call backward on)"], None
        var = self.var[(target.id, target.output_names()[0])]
        settings = self.doc.settings
        arguments = []
        if settings["gradient"] is not None:
            arguments.append(f"gradient={self._gradient(settings['gradient'], var)}")
        if settings["retain_graph"] is not None:
            arguments.append(f"retain_graph={settings['retain_graph']}")
        if settings["create_graph"]:
            arguments.append("create_graph=True")
        return [f"{var}.backward({', '.join(arguments)})"], var

    def _gradient(self, text: str, var: str) -> str:
        try:
            spec = parse_value(text, where="gradient")
        except ExpressionError as exc:
            raise ExportError(f"backward: {exc}") from None
        if spec.is_literal:
            data = _data_text(spec.literal)
            if "math." in data:
                self.needs.add("math")
            return f"{self.t}.tensor({data}, dtype={var}.dtype)"
        return f"{self.t}.as_tensor({self._formula(spec.expression.tree.body, {})}, " \
               f"dtype={var}.dtype)"

    def _prints(self, loss: str | None) -> list[str]:
        lines = []
        if loss is not None:
            lines.append(f"print({loss + ' ='!r}, {loss})")
        for node in self.order:
            var = self.var[(node.id, node.output_names()[0])]
            leaf = node.kind == "Parameter" or (node.kind == "Tensor" and
                                                node.params["requires_grad"])
            retained = node.retain_grad and not node.kind_info.is_source and \
                self._requires_grad(node) is not False
            if leaf or retained:
                lines.append(f"print({var + '.grad ='!r}, {var}.grad)")
        return lines

    def _training(self, loss: str | None) -> list[str]:
        trainable = [self.var[(n.id, "out")] for n in self.order
                     if n.kind == "Parameter" or (n.kind == "Tensor" and n.params["requires_grad"])]
        if not self.training or loss is None or not trainable:
            return []
        settings = self.doc.settings
        optimizer = self.names.take("optimizer")
        step = self.names.take("step")
        options = f"lr={self._num(settings['lr'])}"
        if settings["optimizer"] in {"SGD", "RMSprop"} and settings["momentum"]:
            options += f", momentum={self._num(settings['momentum'])}"
        return [
            "",
            (f"# Training: {settings['optimizer']}, lr {settings['lr']:g}, "
             f"{settings['steps']} steps (the document's training settings)"),
            (f"{optimizer} = {self.t}.optim.{settings['optimizer']}([{', '.join(trainable)}], "
             f"{options})"),
            f"for {step} in range({settings['steps']}):",
            f"    {optimizer}.zero_grad()",
            *(f"    {line}" for line in self._forward(in_loop=True)),
            f"    {loss}.backward()",
            f"    {optimizer}.step()",
            f"print('after training: {loss} =', {loss}.item())",
            *(f"print({name + ' ='!r}, {name})" for name in trainable),
        ]

    def write(self) -> str:
        sources = self._sources()
        forward = self._forward()
        backward, loss = self._backward()
        prints = self._prints(loss)
        training = self._training(loss)
        settings = self.doc.settings
        header = []
        if settings["title"]:
            header.append(f"# {_comment(settings['title'])}")
        if settings["description"]:
            if header:
                header.append("#")
            for paragraph in settings["description"].splitlines():
                words, line = _comment(paragraph).split(), "#"
                for word in words:
                    if len(line) + len(word) + 1 > 96:
                        header.append(line)
                        line = "#"
                    line += " " + word
                header.append(line)
        if header:
            header.append("#")
        header.append(f"# Exported from visgrad ({self.flavor} flavor): it prints the numbers "
                      "the canvas shows.")
        imports = ["import math"] if "math" in self.needs else []
        if "np" in self.needs:
            imports.append("import numpy as np")
        if self.flavor == "torch":
            imports.append("import torch")
            if "F" in self.needs:
                imports.append("import torch.nn.functional as F")
        else:
            imports.append("import visgrad as vg")
            if "F" in self.needs:
                imports.append("import visgrad.nn.functional as F")
        if settings["detect_anomaly"]:
            imports += ["", f"{self.t}.autograd.set_detect_anomaly(True)"]
        parts = [header, [""], imports, [""]]
        if self.class_lines:
            parts += [[""], self.class_lines]
        parts += [sources, forward, backward, [""], prints, training]
        lines = [line for part in parts for line in part]
        text = "\n".join(lines).rstrip() + "\n"
        return re.sub(r"\n{4,}", "\n\n\n", text)


_UNARY_FUNCTIONS = {"Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Sin": "sin", "Cos": "cos",
                    "Tanh": "tanh", "Sigmoid": "sigmoid", "ReLU": "relu", "Abs": "abs"}
_ACTIVATIONS = {"LeakyReLU": ("leaky_relu", ("negative_slope",)), "ELU": ("elu", ("alpha",)),
                "GELU": ("gelu", ("approximate",)), "SiLU": ("silu", ()),
                "Softplus": ("softplus", ("beta", "threshold"))}
_LOSS_FUNCTIONS = {"MSELoss": "mse_loss", "L1Loss": "l1_loss",
                   "CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss",
                   "BCELoss": "binary_cross_entropy",
                   "BCEWithLogitsLoss": "binary_cross_entropy_with_logits"}


def _labelled(lines: list[str], node: Node, names: Mapping[tuple[str, str], str]
              ) -> list[str]:
    """Name the label in a comment where the variable had to be spelled differently."""
    if lines and names[(node.id, node.output_names()[0])] != node.label:
        lines[-1] += f"  # {_comment(node.label)}"
    return lines


def _or_none(value: Any, number: Callable[[Any], str]) -> str:
    return "None" if value is None else number(value)


def _parenthesised(code: str, tree: ast.AST | None) -> str:
    if tree is None or isinstance(tree, ast.Call | ast.Name | ast.Constant | ast.Attribute):
        return code
    return f"({code})"


def _exact_in_torch(tree: ast.AST) -> bool:
    """Whether torch computes this value text bit for bit as the canvas does."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _EXACT_CONSTRUCTORS:
                return False
            if node.func.id == "arange" and not all(
                    isinstance(a, ast.Constant) and isinstance(a.value, int) or
                    isinstance(a, ast.UnaryOp) and isinstance(a.operand, ast.Constant) and
                    isinstance(a.operand.value, int) for a in node.args):
                return False
        elif isinstance(node, ast.BinOp) and not isinstance(
                node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            return False
    return True


def _numpy_call(name: str, node: ast.Call) -> ast.expr:
    """A Data formula's function as the numpy the Data node evaluates it with."""
    args = node.args
    if name == "sigmoid":
        return ast.BinOp(ast.Constant(1.0), ast.Div(), ast.BinOp(
            ast.Constant(1.0), ast.Add(), ast.Call(_attribute("np", "exp"),
                                                   [ast.UnaryOp(ast.USub(), args[0])], [])))
    if name == "relu":
        return ast.Call(_attribute("np", "maximum"), [args[0], ast.Constant(0)], [])
    if name == "neg":
        return ast.Call(_attribute("np", "negative"), args, node.keywords)
    if name == "clamp":
        bounds = dict(zip(("min", "max"), args[1:], strict=False))
        bounds.update({k.arg: k.value for k in node.keywords})
        return ast.Call(_attribute("np", "clip"), [
            args[0], bounds.get("min", ast.Constant(None)), bounds.get("max", ast.Constant(None))
        ], [])
    return ast.Call(_attribute("np", name), args, node.keywords)


# --------------------------------------------------------------------------------------------


def to_script(document: GraphDocument, flavor: str = "torch", *,
              training: bool | None = None) -> str:
    """The document as a runnable script: ``flavor`` ``"torch"`` or ``"visgrad"``.

    ``training``: add the training loop (default: when the document's optimizer, lr, steps
    or momentum differ from the defaults). Raises :class:`ExportError` for a graph that cannot
    run (an unconnected input, a traced node).

    >>> from visgrad.document import examples
    >>> "x.grad" in to_script(examples.load("chain_rule"), "visgrad")
    True
    """
    return _Script(document, flavor, training).write()


def export_script(path: str | os.PathLike[str], document: GraphDocument,
                  flavor: str = "torch", *, training: bool | None = None) -> Path:
    """Write :func:`to_script` to ``path`` atomically (temp file, then ``os.replace``)."""
    path = Path(path)
    text = to_script(document, flavor, training=training)
    folder = path.parent if str(path.parent) else Path(".")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def export_command(argv: list[str]) -> int:
    """``visgrad export FILE.vgraph --to torch|visgrad [-o script.py]``; returns the exit code
    (0 done, 1 a file could not be read or written, 2 bad arguments).

    Without ``-o`` the script goes to standard output.
    """
    from visgrad.document.files import GraphFileError, load  # noqa: PLC0415

    argv = list(argv)
    if argv[:1] == ["export"]:
        argv = argv[1:]
    parser = _Parser(prog="visgrad export", description="Write a graph as a runnable script "
                     "that prints the numbers the canvas shows.")
    parser.add_argument("file", help="a .vgraph file")
    parser.add_argument("--to", choices=FLAVORS, default="torch",
                        help="torch (default) or visgrad")
    parser.add_argument("-o", "--output", help="the script to write (default: print it)")
    parser.add_argument("--no-training", action="store_true",
                        help="leave out the training loop")
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    source = Path(args.file)
    if not source.is_file():
        print(f"visgrad export: no such file: {source}", file=sys.stderr)
        return 1
    try:
        document = load(source)
    except (GraphFileError, OSError) as exc:
        print(f"visgrad export: cannot read {source}: {exc}", file=sys.stderr)
        return 1
    training = False if args.no_training else None
    try:
        if args.output is None:
            sys.stdout.write(to_script(document, args.to, training=training))
            return 0
        written = export_script(args.output, document, args.to, training=training)
    except ExportError as exc:
        print(f"visgrad export: cannot export {source}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"visgrad export: cannot write {args.output}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


__all__ = ["EMBED_LIMIT", "FLAVORS", "ExportError", "export_command", "export_script",
           "identifier", "to_script", "variable_names"]
