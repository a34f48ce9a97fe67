"""Running a document: the forward pass node by node, the backward pass grad_fn by grad_fn.

States: ``edited`` → ``forward_in_progress`` → ``forward_done`` → ``backward_in_progress`` →
``backward_done``. Every step emits an event carrying what a view needs (values, gradients
per edge, hooks fired, accumulations, the chain rule with numbers); engine errors become
``error`` events attached to a node instead of exceptions.

Example::

    >>> from visgrad.document import Session, examples
    >>> session = Session(examples.load("l1_l4_network"))
    >>> session.run_backward()
    >>> [round(float(session.inspect(name).grad), 1) for name in ("w1", "w2", "w3")]
    [28.0, 8.0, 10.0]

NOTE [leaves persist]: source nodes (Tensor, Parameter, Data) make their leaf tensors once
and keep them across forward passes, exactly as variables in a Python script do. That is what
lets ``.grad`` accumulate over repeated backward calls (until :meth:`Session.zero_grad`) and
what optimizers update during :meth:`Session.train`. Editing a source's parameters remakes
that leaf; :meth:`Session.reset` remakes all of them.

NOTE [one backward code path]: :meth:`Session.step_backward` advances the engine's own
``BackwardIteration``, the object ``Tensor.backward()`` drains, so what the user steps
through is the real execution order, not a re-enactment.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visgrad.document import registry
from visgrad.document.events import EventGroup
from visgrad.document.expressions import parse_expression
from visgrad.document.formulas import chain_rule_text, format_value, to_numpy
from visgrad.document.model import OPTIMIZERS, Edge, GraphDocument, Hook, Node
from visgrad.document.validation import backward_node

STATES = ("edited", "forward_in_progress", "forward_done", "backward_in_progress",
          "backward_done")
NODE_TAG = "visgrad.document.node"


class SessionError(RuntimeError):
    """A request the session cannot carry out (no backward node, unknown node...)."""


# --------------------------------------------------------------------------------------------
# What steps report


@dataclass
class ForwardStep:
    """One node evaluated by the forward pass."""

    index: int
    node_id: str
    label: str
    kind: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    grad_fn: str | None
    no_grad: bool
    text: str


@dataclass
class EdgeGradient:
    """A gradient a backward step sends on: to which document node, over which edge.

    ``edge`` is the document edge it travels back along (``None`` when it stays inside one
    document node, or goes nowhere); ``target_node_id`` is the document node it reaches.
    """

    engine_node: str | None
    output_nr: int
    gradient: Any
    target_node_id: str | None = None
    edge: Edge | None = None
    port: str | None = None


@dataclass
class HookEvent:
    """A hook that ran: ``kind`` is the document hook's kind, or the engine's
    (``retain_grad``, ``prehook``, ``posthook``)."""

    kind: str
    node_id: str | None
    before: Any
    after: Any
    hook: Hook | None = None
    text: str = ""


@dataclass
class AccumulationEvent:
    """A gradient added into a leaf's ``.grad``: ``old`` (None the first time) + contribution."""

    node_id: str | None
    old: Any
    contribution: Any
    new: Any
    text: str


@dataclass
class BackwardStepEvent:
    """One engine node executed by the backward pass, mapped to the document."""

    index: int
    node_id: str | None
    label: str | None
    grad_fn: str
    grads_in: tuple[Any, ...]
    grads_out: list[EdgeGradient]
    hooks: list[HookEvent]
    accumulation: AccumulationEvent | None
    formulas: list[str]
    internal: bool
    engine_node: Any = field(repr=False, default=None)

    @property
    def text(self) -> str:
        if self.accumulation is not None:
            return self.accumulation.text
        return "; ".join(self.formulas) or f"{self.grad_fn}: no gradient to send"


@dataclass
class StepError:
    """An engine error during a step, attached to the node where it happened."""

    stage: str
    node_id: str | None
    label: str | None
    message: str
    exception: BaseException | None = field(repr=False, default=None)

    @property
    def text(self) -> str:
        where = f" at {self.label}" if self.label else ""
        return f"{self.stage} failed{where}: {self.message}"


@dataclass
class TensorInfo:
    """Everything a view may show about one tensor of the current run."""

    value: Any
    grad: Any
    grad_fn: str | None
    is_leaf: bool
    requires_grad: bool
    retains_grad: bool
    next_functions: list[tuple[str | None, int]]
    shape: tuple[int, ...]
    dtype: str
    tensor: Any = field(repr=False, default=None)


@dataclass
class TrainHistory:
    """Per iteration: the loss, the gradient norm, and each trained node's value by label."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    params: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class TrainResult:
    history: TrainHistory
    iterations: int
    diverged: bool = False
    message: str = ""


# --------------------------------------------------------------------------------------------


def _vg() -> Any:
    import visgrad  # noqa: PLC0415 - the engine is needed only when running

    return visgrad


def is_accumulate_grad(engine_node: Any) -> bool:
    """Whether an engine node is a leaf's AccumulateGrad (torch names it
    ``torch::autograd::AccumulateGrad``)."""
    return engine_node is not None and engine_node.name().endswith("AccumulateGrad")


def apply_hook(hook: Hook, grad: Any, functions: Callable[[], dict[str, Any]]) -> Any:
    """What a document hook does to a gradient (None: leave it as it is)."""
    vg = _vg()
    if hook.kind == "print":
        return None
    if hook.kind == "scale":
        return grad * hook.k
    if hook.kind == "clamp":
        return vg.clamp(grad, hook.min, hook.max)
    if hook.kind == "zero":
        return vg.zeros_like(grad)
    expression = parse_expression(hook.expression, names={"grad"}, where="hook")
    result = expression.evaluate({"grad": grad}, functions())
    if isinstance(result, bool | int | float):
        return vg.full_like(grad, result)
    return result


class Session:
    """Runs one document through the engine, step by step or all at once.

    Events (``session.events.<name>.connect``): ``state_changed(old, new)``,
    ``forward_step(step)``, ``backward_step(step)``, ``error(error)``, ``log(text)``,
    ``grads_zeroed()``, ``reset()``, ``train_progress(iteration, loss, grad_norm)``,
    ``train_finished(result)``.

    Options live in the document's settings (saved with it): ``backward_node``, ``gradient``,
    ``retain_graph``, ``create_graph``, ``detect_anomaly``, ``seed``; they can be read and set
    here as properties too.
    """

    def __init__(self, document: GraphDocument, *, max_elements: int | None = None) -> None:
        self.document = document
        self.max_elements = max_elements
        self.events = EventGroup(
            "state_changed", "forward_step", "backward_step", "error", "log", "grads_zeroed",
            "reset", "train_progress", "train_finished",
        )
        self.state = "edited"
        self.error: StepError | None = None
        self.log_lines: list[str] = []
        self._leaves: dict[str, tuple[Any, tuple[Any, ...]]] = {}
        self._leaf_hooks: dict[str, tuple[tuple[Hook, ...], list[Any]]] = {}
        self._values: dict[tuple[str, str], Any] = {}
        # (id(grad_fn), output_nr) -> the value's (node id, port), made when first asked
        self._value_of_edge: dict[tuple[int, int], tuple[str, str]] | None = None
        self._inputs: dict[str, dict[str, Any]] = {}
        self._owners: dict[int, tuple[str, str]] = {}   # id(tensor) -> (node id, port)
        self._keep: list[Any] = []                       # tensors whose ids are in _owners
        self._plan: list[str] = []
        self._cursor = 0
        self._iteration: Any = None
        self._fired: list[HookEvent] = []
        self._functions: dict[str, Any] | None = None
        self._order: list[str] | None = None  # topological order, until the graph changes
        self._quiet = False                    # inside _silent_forward: no per-node events
        document.events.any.connect(self._on_document_changed)

    # options ----------------------------------------------------------------------------------
    def _setting(name: str) -> property:  # noqa: N805 - a property factory used in the body
        def get(self: Session) -> Any:
            return self.document.settings[name]

        def set_(self: Session, value: Any) -> None:
            self.document.set_setting(name, value)

        return property(get, set_, doc=f"The document's {name!r} setting.")

    retain_graph = _setting("retain_graph")
    create_graph = _setting("create_graph")
    gradient = _setting("gradient")
    detect_anomaly = _setting("detect_anomaly")
    seed = _setting("seed")
    del _setting

    @property
    def backward_node(self) -> Node | None:
        """The node backward is called on (settable by id or label)."""
        return backward_node(self.document)

    @backward_node.setter
    def backward_node(self, ref: str | Node | None) -> None:
        node_id = None if ref is None else self.document.node(ref).id
        self.document.set_setting("backward_node", node_id)

    # document changes --------------------------------------------------------------------
    def _on_document_changed(self, event: Any) -> None:
        source = event.source
        if source.type in {"node_moved", "settings_changed"}:
            return
        if source.type == "node_changed" and source.field == "label":
            return
        if source.type == "node_changed" and source.field == "params":
            self._leaves.pop(source.node.id, None)
        if source.type == "node_removed":
            self._leaves.pop(source.node.id, None)
            self._drop_leaf_hooks(source.node.id)
        self._order = None
        self._set_state("edited")
        self._clear_run()

    def _clear_run(self) -> None:
        self._values.clear()
        self._value_of_edge = None
        self._inputs.clear()
        self._owners.clear()
        self._keep.clear()
        self._plan, self._cursor = [], 0
        self._iteration = None
        self.error = None

    def _set_state(self, state: str) -> None:
        if state != self.state:
            old, self.state = self.state, state
            self.events.state_changed.emit(old=old, new=state)

    def _log(self, text: str) -> None:
        self.log_lines.append(text)
        self.events.log.emit(text=text)

    def _fail(self, stage: str, node_id: str | None, exc: BaseException | str) -> StepError:
        label = self.document.nodes[node_id].label if node_id in self.document.nodes else None
        message = exc if isinstance(exc, str) else str(exc) or type(exc).__name__
        error = StepError(stage, node_id, label, message,
                          None if isinstance(exc, str) else exc)
        self.error = error
        self.events.error.emit(error=error)
        self._log(error.text)
        return error

    def functions(self) -> dict[str, Any]:
        if self._functions is None:
            self._functions = registry.engine_functions(self.max_elements)
        return self._functions

    # resetting ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every value and gradient: leaves are made again from their parameters."""
        for node_id in list(self._leaf_hooks):
            self._drop_leaf_hooks(node_id)
        self._leaves.clear()
        self._clear_run()
        self._set_state("edited")
        self.events.reset.emit()

    def zero_grad(self) -> None:
        """Set every leaf's ``.grad`` (and retained gradients) to None, as optimizers do."""
        for _, tensors in self._leaves.values():
            for tensor in tensors:
                tensor.grad = None
        for tensor in self._values.values():
            if tensor is not None and getattr(tensor, "retains_grad", False):
                tensor.grad = None
        self.events.grads_zeroed.emit()

    # forward -----------------------------------------------------------------------------
    def _anomaly(self) -> contextlib.AbstractContextManager[Any]:
        if self.document.settings["detect_anomaly"]:
            return _vg().autograd.set_detect_anomaly(True)
        return contextlib.nullcontext()

    def start_forward(self) -> None:
        """Begin a new forward pass (leaves and their gradients are kept)."""
        self._clear_run()
        if self._order is None:  # sorting costs more than a small graph's whole forward
            self._order = [node.id for node in self.document.topological_order()]
        self._plan = list(self._order)
        self._cursor = 0
        self._set_state("forward_in_progress")

    def step_forward(self) -> ForwardStep | StepError | None:
        """Evaluate the next node in topological order; None once the pass is complete.

        Starts a new pass from ``edited`` or a backward state; in ``forward_done`` it returns
        None (use :meth:`run_forward` or :meth:`start_forward` for another pass). After an
        error the cursor stays on the failing node.
        """
        if self.state == "forward_done":
            return None
        if self.state != "forward_in_progress":
            self.start_forward()
        if self._cursor >= len(self._plan):
            self._set_state("forward_done")
            return None
        node = self.document.nodes[self._plan[self._cursor]]
        try:
            with self._anomaly():
                outputs = self._evaluate(node)
        except Exception as exc:  # noqa: BLE001 - any engine error becomes an event
            return self._fail("forward", node.id, exc)
        self.error = None
        self._cursor += 1
        if self._quiet:  # training: nobody listens, so the event's texts are not built
            if self._cursor >= len(self._plan):
                self._set_state("forward_done")
            return None
        step = self._forward_event(node, outputs)
        self.events.forward_step.emit(step=step)
        if self._cursor >= len(self._plan):
            self._set_state("forward_done")
        return step

    def run_forward(self) -> StepError | None:
        """Finish the forward pass in progress, or run a whole new one; returns the error
        that stopped it, if any."""
        if self.state != "forward_in_progress":
            self.start_forward()
        while self.state == "forward_in_progress":
            result = self.step_forward()
            if isinstance(result, StepError):
                return result
        return None

    def _evaluate(self, node: Node) -> tuple[Any, ...]:
        kind = node.kind_info
        context = registry.EvaluationContext(node.label, self.max_elements, self._log,
                                             self.functions())
        if kind.is_source:
            outputs = self._leaf(node, context)
            self._inputs[node.id] = {}
        else:
            inputs: dict[str, Any] = {}
            for port in node.input_ports():
                edge = self.document.input_edge(node.id, port.name)
                if edge is None:
                    if not port.optional:
                        raise SessionError(f"input {port.name!r} is not connected")
                    inputs[port.name] = None
                    continue
                inputs[port.name] = self._values[(edge.source, edge.source_port)]
            self._inputs[node.id] = inputs
            grad_mode = _vg().no_grad() if node.params.get("no_grad") else \
                contextlib.nullcontext()
            with grad_mode:
                outputs = tuple(kind.evaluate(inputs, node.params, context))
            self._tag(node, outputs)
            self._decorate(node, outputs[0])
        for port, tensor in zip(node.output_names(), outputs, strict=True):
            self._values[(node.id, port)] = tensor
            self._value_of_edge = None
            self._owners[id(tensor)] = (node.id, port)
            self._keep.append(tensor)
        return outputs

    def _leaf(self, node: Node, context: registry.EvaluationContext) -> tuple[Any, ...]:
        signature = repr(sorted(node.params.items()))
        cached = self._leaves.get(node.id)
        if cached is None or cached[0] != signature:
            # NOTE [reproducible random leaves]: each source seeds from the session seed and
            # its own id, so randn(3, 4) gives the same values after reset() whatever the
            # order in which nodes were added or evaluated.
            _vg().manual_seed(self.document.settings["seed"] + zlib.crc32(node.id.encode()))
            outputs = tuple(node.kind_info.evaluate({}, node.params, context))
            self._leaves[node.id] = (signature, outputs)
            self._drop_leaf_hooks(node.id)
        outputs = self._leaves[node.id][1]
        self._sync_leaf_hooks(node, outputs[0])
        return outputs

    def _drop_leaf_hooks(self, node_id: str) -> None:
        _, handles = self._leaf_hooks.pop(node_id, ((), []))
        for handle in handles:
            handle.remove()

    def _sync_leaf_hooks(self, node: Node, leaf: Any) -> None:
        """Hooks on a leaf outlive one forward pass, so register each once, not per pass."""
        registered = self._leaf_hooks.get(node.id, ((), []))[0]
        if registered == tuple(node.hooks):
            return
        self._drop_leaf_hooks(node.id)
        handles = []
        if leaf.requires_grad:
            for index, hook in enumerate(node.hooks):
                handles.append(leaf.register_hook(self._hook_function(node.id, index, hook)))
        self._leaf_hooks[node.id] = (tuple(node.hooks), handles)

    def _decorate(self, node: Node, output: Any) -> None:
        """retain_grad and hooks on an op's output (made anew each pass)."""
        if not getattr(output, "requires_grad", False):
            return
        if node.retain_grad:
            output.retain_grad()
        for index, hook in enumerate(node.hooks):
            output.register_hook(self._hook_function(node.id, index, hook))

    def _hook_function(self, node_id: str, index: int, hook: Hook) -> Callable[[Any], Any]:
        def run_hook(grad: Any) -> Any:
            result = apply_hook(hook, grad, self.functions)
            label = self.document.nodes[node_id].label if node_id in self.document.nodes \
                else node_id
            if hook.kind == "print":
                text = f"hook on {label}: grad = {format_value(grad)}"
                self._log(text)
            else:
                text = (f"hook on {label} ({hook.describe()}): {format_value(grad)} → "
                        f"{format_value(result)}")
            self._fired.append(HookEvent(hook.kind, node_id, grad,
                                         grad if result is None else result, hook, text))
            return result

        return run_hook

    def _tag(self, node: Node, outputs: tuple[Any, ...]) -> None:
        """Mark the engine nodes this document node created, for mapping backward steps."""
        stack = [getattr(t, "grad_fn", None) for t in outputs]
        while stack:
            engine_node = stack.pop()
            if engine_node is None or NODE_TAG in engine_node.metadata:
                continue
            if is_accumulate_grad(engine_node):
                continue
            engine_node.metadata[NODE_TAG] = node.id
            stack.extend(next_node for next_node, _ in engine_node.next_functions)

    def _forward_event(self, node: Node, outputs: tuple[Any, ...]) -> ForwardStep:
        first = outputs[0]
        grad_fn = first.grad_fn.name() if getattr(first, "grad_fn", None) is not None else None
        shown = ", ".join(f"{port} = {format_value(t)}"
                          for port, t in zip(node.output_names(), outputs, strict=True))
        text = f"{node.label} = {format_value(first)}" if len(outputs) == 1 else \
            f"{node.label}: {shown}"
        if grad_fn:
            text += f"  (grad_fn={grad_fn})"
        elif getattr(first, "requires_grad", False):
            text += "  (leaf, requires_grad)"
        return ForwardStep(
            index=self._cursor - 1, node_id=node.id, label=node.label, kind=node.kind,
            inputs=dict(self._inputs.get(node.id, {})),
            outputs=dict(zip(node.output_names(), outputs, strict=True)),
            grad_fn=grad_fn, no_grad=bool(node.params.get("no_grad")), text=text)

    # backward ----------------------------------------------------------------------------
    def start_backward(self) -> StepError | None:
        """Begin a backward pass over the current graph (running the forward first if it is
        not complete). A second one without ``retain_graph`` fails as in torch."""
        vg = _vg()
        from visgrad.engine.autograd import BackwardIteration  # noqa: PLC0415

        if self.state in {"edited", "forward_in_progress"}:
            error = self.run_forward()
            if error is not None:
                return error
        target = self.backward_node
        if target is None:
            return self._fail("backward", None, "there is no node to call backward on")
        output = self._values.get((target.id, target.output_names()[0]))
        if output is None:
            return self._fail("backward", target.id, "this node has no value; run forward")
        settings = self.document.settings
        try:
            gradient = None
            if settings["gradient"] is not None:
                gradient = registry.make_leaf(settings["gradient"], "auto", False,
                                              registry.EvaluationContext(
                                                  "gradient", self.max_elements))
                gradient = gradient.detach().to(output.dtype)
            with self._anomaly():
                self._iteration = BackwardIteration(
                    [output], [gradient], retain_graph=settings["retain_graph"],
                    create_graph=settings["create_graph"])
        except Exception as exc:  # noqa: BLE001 - shown on the node, as torch would raise it
            self._iteration = None
            self._set_state("backward_done")
            return self._fail("backward", target.id, exc)
        self._set_state("backward_in_progress")
        self._log(f"{target.label}.backward()")
        if self._iteration.done:
            self._set_state("backward_done")
        return None

    def step_backward(self) -> BackwardStepEvent | StepError | None:
        """Execute the engine's next backward node; None once the pass is over.

        Runs (or finishes) the forward pass first when needed. In ``backward_done`` it returns
        None: use :meth:`run_backward` or :meth:`start_backward` for another backward.
        """
        if self.state == "backward_done":
            return None
        if self.state != "backward_in_progress":
            error = self.start_backward()
            if error is not None:
                return error
        iteration = self._iteration
        if iteration is None or iteration.done:
            self._set_state("backward_done")
            return None
        upcoming = _next_engine_node(iteration)
        self._fired = []
        try:
            with self._anomaly():
                step = iteration.step()
        except Exception as exc:  # noqa: BLE001 - engine errors become events on the node
            self._set_state("backward_done")
            return self._fail("backward", self._document_node_of(upcoming), exc)
        if step is None:
            self._set_state("backward_done")
            return None
        event = self._backward_event(step)
        self.events.backward_step.emit(step=event)
        if iteration.done:
            self._set_state("backward_done")
        return event

    def run_backward(self) -> StepError | None:
        """Finish the backward pass in progress, or run a whole new one (after the forward,
        if needed); returns the error that stopped it, if any. Gradients accumulate into
        leaves across runs until :meth:`zero_grad`."""
        if self.state != "backward_in_progress":
            error = self.start_backward()
            if error is not None:
                return error
        while self.state == "backward_in_progress":
            result = self.step_backward()
            if isinstance(result, StepError):
                return result
        return None

    def _document_node_of(self, engine_node: Any) -> str | None:
        if engine_node is None:
            return None
        if is_accumulate_grad(engine_node):
            owner = self._leaf_owner(engine_node.variable)
            return owner[0] if owner else None
        return engine_node.metadata.get(NODE_TAG)

    def _leaf_owner(self, leaf: Any) -> tuple[str, str] | None:
        owner = self._owners.get(id(leaf))
        if owner is not None:
            return owner
        for node_id, (_, tensors) in self._leaves.items():
            for port, tensor in zip(self.document.nodes[node_id].output_names()
                                    if node_id in self.document.nodes else (), tensors,
                                    strict=False):
                if tensor is leaf:
                    return node_id, port
        return None

    def _source_of(self, engine_node: Any, output_nr: int) -> tuple[str, str] | None:
        """The (document node, output port) whose tensor an engine edge points at."""
        if engine_node is None:
            return None
        if is_accumulate_grad(engine_node):
            return self._leaf_owner(engine_node.variable)
        if self._value_of_edge is None:  # a search of every value for each edge of a
            # backward pass took a 500-node graph's steps 0.25 ms each
            self._value_of_edge = {}
            for key, tensor in self._values.items():
                grad_fn = getattr(tensor, "grad_fn", None)
                if grad_fn is not None:
                    self._value_of_edge.setdefault(
                        (id(grad_fn), getattr(tensor, "output_nr", 0)), key)
        found = self._value_of_edge.get((id(engine_node), output_nr))
        if found is not None and getattr(self._values.get(found), "grad_fn", None) \
                is engine_node:
            return found
        node_id = engine_node.metadata.get(NODE_TAG)
        return (node_id, "") if node_id else None

    def _backward_event(self, step: Any) -> BackwardStepEvent:
        engine_node = step.node
        name = engine_node.name()
        node_id = self._document_node_of(engine_node)
        node = self.document.nodes.get(node_id) if node_id else None
        main = node is not None and any(
            getattr(self._values.get((node.id, port)), "grad_fn", None) is engine_node
            for port in node.output_names())
        grads_out = self._map_grads_out(node, step.grads_out, main)
        formulas = self._formulas(node, name, step, grads_out) if main else []
        if not formulas:  # an internal step, or a node whose gradient goes to its own inner
            # step (cross entropy's NllLossBackward0 to its LogSoftmaxBackward0): the values
            formulas = [f"{name}: " + ", ".join(format_value(g.gradient) for g in grads_out
                                                if g.gradient is not None)] if any(
                g.gradient is not None for g in grads_out) else []
        hooks = list(self._fired)
        for firing in step.hooks:
            if firing.kind == "tensor":
                continue  # reported by our own hook functions, with the document hook
            target = firing.target
            owner = self._owners.get(id(target)) if firing.kind == "retain_grad" else None
            hook_node = owner[0] if owner else self._document_node_of(
                target if not hasattr(target, "grad_fn") else None) or node_id
            hooks.append(HookEvent(firing.kind, hook_node, firing.before, firing.after,
                                   text=f"{firing.kind}: {format_value(firing.after)}"))
        accumulation = None
        if step.accumulation is not None:
            acc = step.accumulation
            label = node.label if node else "leaf"
            if acc.before is None:
                text = (f"AccumulateGrad: {label}.grad = {format_value(acc.contribution)} "
                        "(was None)")
            else:
                text = (f"AccumulateGrad: {label}.grad = {format_value(acc.before)} + "
                        f"{format_value(acc.contribution)} = {format_value(acc.after)}")
            accumulation = AccumulationEvent(node_id, acc.before, acc.contribution, acc.after,
                                             text)
        return BackwardStepEvent(
            index=step.index, node_id=node_id, label=node.label if node else None,
            grad_fn=name, grads_in=tuple(step.grads_in), grads_out=grads_out, hooks=hooks,
            accumulation=accumulation, formulas=formulas, internal=not main and
            not is_accumulate_grad(engine_node), engine_node=engine_node)

    def _map_grads_out(self, node: Node | None, grads_out: tuple[Any, ...],
                       main: bool) -> list[EdgeGradient]:
        result = []
        edges_in = self.document.edges_into(node.id) if node is not None else []
        ports = list(node.input_names()) if node is not None else []
        used: set[Edge] = set()
        for index, (next_node, output_nr, gradient) in enumerate(grads_out):
            entry = EdgeGradient(next_node.name() if next_node is not None else None,
                                 output_nr, gradient)
            source = self._source_of(next_node, output_nr)
            if source is not None:
                entry.target_node_id = source[0]
            if main and node is not None:
                candidates = [e for e in edges_in if e not in used and source is not None
                              and (e.source, e.source_port) == source]
                if source is None:  # no gradient flows: match by position among inputs
                    candidates = [e for e in edges_in if e not in used and index < len(ports)
                                  and e.target_port == ports[index]]
                by_position = [e for e in candidates
                               if index < len(ports) and e.target_port == ports[index]]
                chosen = (by_position or candidates or [None])[0]
                if chosen is not None:
                    used.add(chosen)
                    entry.edge, entry.port = chosen, chosen.target_port
                    entry.target_node_id = chosen.source
            result.append(entry)
        return result

    def _formulas(self, node: Node, name: str, step: Any,
                  grads_out: list[EdgeGradient]) -> list[str]:
        kind = node.kind_info
        values: dict[str, Any] = {}
        for port, tensor in self._inputs.get(node.id, {}).items():
            if tensor is not None:
                values[port] = tensor
        for key, value in node.params.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(key, value)
        if "b" not in values and node.params.get("scalar") is not None:
            values["b"] = node.params["scalar"]
        values["out"] = self._values.get((node.id, node.output_names()[0]))
        values["grad"] = step.grads_in[0] if step.grads_in else None
        lines = []
        for entry in grads_out:
            if entry.gradient is None or entry.port is None:
                continue
            lines.append(chain_rule_text(name, entry.port, kind.gradients.get(entry.port),
                                         values, entry.gradient, kind.numeric))
        return lines

    # reading -----------------------------------------------------------------------------
    def tensor(self, ref: str | Node, port: str | None = None) -> Any:
        """The tensor a node produced in the current run (None if not evaluated yet)."""
        node = self.document.node(ref)
        port = port or node.output_names()[0]
        value = self._values.get((node.id, port))
        if value is None and node.kind_info.is_source and node.id in self._leaves:
            names = node.output_names()
            value = self._leaves[node.id][1][names.index(port)]
        return value

    def inspect(self, ref: str | Node, port: str | None = None) -> TensorInfo | None:
        """Value, grad, grad_fn, is_leaf, requires_grad, next_functions of a node's output."""
        tensor = self.tensor(ref, port)
        if tensor is None:
            return None
        grad = tensor.grad if (tensor.is_leaf or tensor.retains_grad) else None
        grad_fn = tensor.grad_fn
        next_functions = [] if grad_fn is None else [
            (None if n is None else n.name(), nr) for n, nr in grad_fn.next_functions]
        return TensorInfo(
            value=to_numpy(tensor), grad=to_numpy(grad),
            grad_fn=None if grad_fn is None else grad_fn.name(), is_leaf=tensor.is_leaf,
            requires_grad=tensor.requires_grad, retains_grad=tensor.retains_grad,
            next_functions=next_functions, shape=tuple(tensor.shape),
            dtype=str(tensor.dtype).replace("torch.", ""), tensor=tensor)

    def trainable(self) -> list[tuple[Node, Any]]:
        """Source nodes whose leaf requires grad (Parameters, Tensors with requires_grad)."""
        result = []
        for node in self.document.topological_order():
            if node.kind_info.is_source and node.id in self._leaves:
                leaf = self._leaves[node.id][1][0]
                if leaf.requires_grad:
                    result.append((node, leaf))
        return result

    # training ----------------------------------------------------------------------------
    def train(self, optimizer: str | None = None, lr: float | None = None,
              steps: int | None = None, **options: Any) -> TrainResult:
        """Forward, backward and an optimizer step, ``steps`` times, on the trainable leaves.

        ``optimizer`` names a class of ``vg.optim`` (SGD, Adam, AdamW, RMSprop, Adagrad);
        ``options`` go to it (momentum, betas, weight_decay...). Stops with a message naming
        the iteration when the loss or the gradient norm is not finite. Iteration k is the
        parameters after k optimizer steps, counted from 0 as the Train panel and
        ``visgrad train`` count them (see the NOTE in :mod:`visgrad.document.training`);
        ``TrainResult.iterations`` is the number of optimizer steps taken.
        """
        vg = _vg()
        settings = self.document.settings
        optimizer = optimizer or settings["optimizer"]
        lr = settings["lr"] if lr is None else lr
        steps = settings["steps"] if steps is None else steps
        if "momentum" not in options and optimizer in {"SGD", "RMSprop"} and settings["momentum"]:
            options["momentum"] = settings["momentum"]
        error = self._silent_forward()
        if error is not None:
            raise SessionError(error.text)
        trainable = self.trainable()
        if not trainable:
            raise SessionError("nothing to train: add Parameter nodes (or Tensors with "
                               "requires_grad)")
        # Only the names offered: visgrad.optim also holds Optimizer, lr_scheduler, modules.
        optim_class = getattr(importlib.import_module("visgrad.optim"), optimizer, None) \
            if optimizer in OPTIMIZERS else None
        if optim_class is None:
            raise SessionError(f"unknown optimizer {optimizer!r}; expected one of SGD, Adam, "
                               "AdamW, RMSprop, Adagrad")
        try:
            opt = optim_class([leaf for _, leaf in trainable], lr=lr, **options)
        except (TypeError, ValueError) as exc:  # lr=-1, an unknown option: torch's message
            raise SessionError(f"{optimizer}: {exc}") from None
        target = self.backward_node
        if target is None:
            raise SessionError("there is no loss node to minimise")
        history = TrainHistory(params={node.label: [] for node, _ in trainable})
        result = TrainResult(history, 0)
        for iteration in range(steps):  # iteration k: the parameters after k steps
            opt.zero_grad()
            error = self._silent_forward()
            if error is not None:
                result.message = f"stopped at iteration {iteration}: {error.text}"
                break
            loss = self._values[(target.id, target.output_names()[0])]
            loss_value = float(np.sum(to_numpy(loss)))
            for node, leaf in trainable:
                history.params[node.label].append(_snapshot(leaf))
            history.loss.append(loss_value)
            if not math.isfinite(loss_value):
                history.grad_norm.append(math.nan)
                result.diverged = True
                result.message = (f"training diverged at iteration {iteration}: the loss is "
                                  f"{loss_value}; {_divergence_hint(iteration)}")
                break
            try:
                loss.backward()
            except Exception as exc:  # noqa: BLE001 - reported, training stops
                history.grad_norm.append(math.nan)
                error = self._fail("train", target.id, exc)
                result.message = f"stopped at iteration {iteration}: {error.message}"
                break
            norm = math.sqrt(sum(float(np.sum(to_numpy(leaf.grad).astype(np.float64) ** 2))
                                 for _, leaf in trainable if leaf.grad is not None))
            history.grad_norm.append(norm)
            if not math.isfinite(norm):
                result.diverged = True
                result.message = (f"training diverged at iteration {iteration}: the gradient "
                                  f"norm is not finite; {_divergence_hint(iteration)}")
                break
            opt.step()
            result.iterations = iteration + 1
            self.events.train_progress.emit(iteration=iteration, loss=loss_value,
                                            grad_norm=norm)
        if not result.message:  # steps=0 runs no iteration, so there may be no loss to show
            result.message = f"trained {result.iterations} iterations" + (
                f"; loss {history.loss[-1]:.6g}" if history.loss else "")
        self._silent_forward()
        self._log(result.message)
        self.events.train_finished.emit(result=result)
        return result

    def _silent_forward(self) -> StepError | None:
        """A whole forward pass without per-node events (training, warm-up)."""
        before = self.state
        with self.events.forward_step.blocked(), self.events.state_changed.blocked():
            self._quiet = True
            try:
                self.start_forward()
                error = self.run_forward()
            finally:
                self._quiet = False
        if self.state != before:  # one event for the whole pass, so views show the new state
            self.events.state_changed.emit(old=before, new=self.state)
        return error


def _divergence_hint(iteration: int) -> str:
    if iteration == 0:  # no step was taken: the learning rate is not to blame
        return "no step was taken yet: check the graph's starting values"
    return "try a smaller learning rate"


def _snapshot(leaf: Any) -> Any:
    array = to_numpy(leaf)
    return float(array) if array.size == 1 and array.ndim == 0 else array.copy()


def _next_engine_node(iteration: Any) -> Any:
    """The engine node the iteration will execute next, to name it if it fails."""
    return iteration.next_node


__all__ = [
    "STATES", "AccumulationEvent", "BackwardStepEvent", "EdgeGradient", "ForwardStep",
    "HookEvent", "Session", "SessionError", "StepError", "TensorInfo", "TrainHistory",
    "TrainResult", "apply_hook",
]
