"""Graph nodes and the backward iteration: the engine that the GUI steps and backward() drains.

# NOTE [one code path]
``Tensor.backward()`` and ``autograd.grad()`` build a ``BackwardIteration`` and call ``run()``,
which drains the iteration's one generator of steps; the GUI's stepper calls ``step()``, which
takes the next step from that same generator, and shows each ``BackwardStep``. So the picture
is always the engine's own execution, in its own order: a node runs once every gradient for it
has arrived; among ready nodes, AccumulateGrad runs first, then the most recently created node
(torch's ready queue orders the same way).

# NOTE [gradient rules]
Each op defines a ``Node`` subclass whose ``backward(grad)`` returns one gradient per entry of
``next_functions`` (None where there is none), written with Tensor operations so that the same
rule also records the backward graph under ``create_graph=True``. The shared work is done here,
once: reducing a broadcast gradient to its input's shape, casting it to the input's dtype,
checking the count and shapes a node returned, summing gradients that meet, hooks, anomaly checks.

# NOTE [raw gradients]
Without create_graph nothing in the pass is recorded, so a gradient needs none of a Tensor's
bookkeeping while it travels: the buffers hold raw backend arrays (numpy scalars for one number
on the CPU), array rules take and give arrays, and two gradients meeting are one array addition.
A Tensor is made only where someone sees one: a rule written with Tensor operations, a hook,
retain_grad, a captured input, a leaf's ``.grad``, and a ``BackwardStep`` when a viewer reads it.
A wrapper cost 0.2-0.3 µs, three per product in a graph of small ops; the backward of 10,000
(4,4) ops went from 42 to 35-38 ms, that of a 15,000-op scalar graph from 62-66 to 54-60 ms.
With create_graph the buffers hold Tensors, since the sums are part of the new graph.
"""

from __future__ import annotations

import gc
import sys as _sys
from collections import deque as _deque
from heapq import heappop, heappush
import itertools
import traceback
import weakref
from dataclasses import dataclass
from typing import Any

from visgrad.engine import grad_mode
from visgrad.engine.backend import (CPU, CPU_ARRAY_TYPES, CPU_NDARRAY, array_backend,
                                    cpu_add_reduce, quiet_context, quiet_enter, quiet_exit)

_sequence = itertools.count()

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


class RemovableHandle:
    """Returned by every ``register_*hook``; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(self._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# saved-version tuples most nodes have, shared rather than one new tuple per node
_COMMON_VERSIONS = {v: v for v in itertools.chain.from_iterable(
    itertools.product((0, -1), repeat=n) for n in range(1, 4))}


class Node:
    """A function of the backward graph (a ``grad_fn``), named as torch names it."""

    _tensor_hooks: dict | None = None      # output_nr -> {handle_id: fn}
    _retained: dict | None = None          # output_nr -> weakref to a tensor with retain_grad
    _pre_hooks: dict | None = None
    _post_hooks: dict | None = None
    _post_accumulate_hooks: dict | None = None  # an AccumulateGrad's: fn(leaf) after it adds
    _anomaly_trace: str | None = None
    _num_outputs = 1
    _output_meta: tuple = ()
    _formula = False  # see FormulaNode
    _passes = False  # a two-input rule that hands g on to both inputs (add): no call needed
    _watched = False  # some hook or retain_grad was registered: the iteration takes the long way
    _materializes_itself = False  # a custom Function's node: ctx.set_materialize_grads decides

    _metadata: dict | None = None

    # What every node has lives in slots, so that most nodes need no ``__dict__`` (one object
    # fewer per op for the cyclic collector to count). ``_saved``: the values kept for backward
    # (None once freed); ``_saved_versions``: their versions; ``_saved_outputs``: (index in
    # saved, output_nr) of saved values this node made.
    __slots__ = ("_seq", "next_functions", "_input_meta", "_saved", "_saved_versions",
                 "_saved_outputs", "__dict__", "__weakref__")

    def __init__(self):  # ``record`` builds op nodes without calling this (it is hot)
        self._seq = next(_sequence)
        self.next_functions: tuple = ()
        self._input_meta: tuple = ()
        self._saved = self._saved_versions = self._saved_outputs = ()

    @property
    def metadata(self) -> dict:
        """Free-form annotations (the document tags nodes with its node ids here)."""
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    # ---- identity ------------------------------------------------------------------------
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    @property
    def sequence_nr(self) -> int:
        return self._seq

    def needs_input_grad(self, i: int) -> bool:
        return self.next_functions[i][0] is not None

    # ---- saved tensors -------------------------------------------------------------------
    def save(self, *values) -> None:
        """Keep values for backward; tensors remember their version to detect in-place edits
        (-1 marks a value that is not a tensor). NOTE [version counters]"""
        _save(self, values)

    @property
    def saved_tensors(self) -> tuple:
        saved = self._saved
        if saved is None:
            raise RuntimeError(FREED_MESSAGE)
        for index, (value, expected) in enumerate(zip(saved, self._saved_versions)):
            if expected >= 0 and value._vc is not None and value._vc[0] != expected:
                raise RuntimeError(_modified_message(self, index, value, expected))
        if self._saved_outputs:  # NOTE [saved outputs]: this node's outputs, as they were
            saved = list(saved)
            for index, nr in self._saved_outputs:
                saved[index] = _attached(saved[index], self, nr)
            saved = tuple(saved)
        return saved

    # torch's ``grad_fn._saved_self``, ``_saved_result``, ``_saved_dim``...: a node class
    # names what it saves, in order (``saved_names``), and which of its attributes torch
    # shows under which name (``saved_attributes``)
    saved_names: tuple[str, ...] = ()
    saved_attributes: dict[str, str] = {}  # noqa: RUF012 - read only

    def __getattr__(self, name: str):
        if name.startswith("_saved_"):
            key = name[len("_saved_"):]
            cls = type(self)
            if key in cls.saved_names:
                index = cls.saved_names.index(key)
                saved = self.saved_tensors  # torch's errors once freed or changed in place
                return saved[index] if index < len(saved) else None
            if key in cls.saved_attributes:
                return self.__dict__.get(cls.saved_attributes[key])
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def release_variables(self) -> None:
        if self._saved:
            self._saved = None

    # ---- hooks ---------------------------------------------------------------------------
    def register_hook(self, fn) -> RemovableHandle:
        """``fn(grad_inputs, grad_outputs)`` runs after this node; it may return new grad_inputs."""
        return self._hooked("_post_hooks", fn)

    def register_prehook(self, fn) -> RemovableHandle:
        """``fn(grad_outputs)`` runs before this node; it may return new grad_outputs."""
        return self._hooked("_pre_hooks", fn)

    def _hooked(self, kind: str, fn) -> RemovableHandle:
        """``fn`` added to this node's hooks of ``kind`` (their dict, made on first use); a
        node with hooks takes the iteration's long way (``_watched``)."""
        hooks = getattr(self, kind)
        if hooks is None:
            hooks = {}
            setattr(self, kind, hooks)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = fn
        self._watched = True
        return handle

    def _add_tensor_hook(self, output_nr: int, fn) -> RemovableHandle:
        if self._tensor_hooks is None:
            self._tensor_hooks = {}
        hooks = self._tensor_hooks.setdefault(output_nr, {})
        handle = RemovableHandle(hooks)
        hooks[handle.id] = fn
        self._watched = True
        return handle

    def _add_post_accumulate_hook(self, fn) -> RemovableHandle:
        return self._hooked("_post_accumulate_hooks", fn)

    def _retain(self, output_nr: int, tensor) -> None:
        if self._retained is None:
            self._retained = {}
        self._retained[output_nr] = weakref.ref(tensor)
        self._watched = True

    # ---- the rule ------------------------------------------------------------------------
    def backward(self, *grads):  # pragma: no cover - every subclass defines it
        raise NotImplementedError(f"{self.name()} has no backward")

    def __call__(self, *grads):
        """The rule applied by hand, as torch's nodes are called: one input's gradient as it
        is, several as a tuple."""
        out = self.backward(*grads)
        if out.__class__ is tuple and len(out) == 1 and len(self.next_functions) == 1:
            return out[0]
        return out


class FormulaNode(Node):
    """A node whose rule is one formula, ``rule(F, g, *saved)``, over the incoming gradient and
    the saved values, written with operators (``+ - * / **``, comparisons) and the few functions
    of ``F`` (exp, sum, expand, mm...), which exist for Tensors and for raw arrays alike.

    Under create_graph the formula runs on Tensors (``F`` is :data:`tensor_formulas`) and
    records the graph of the backward pass. Otherwise the iteration runs the very same formula
    on the raw arrays (:class:`ArrayFormulas`): log_softmax's gradient then costs four array
    operations instead of four Tensor ops with their bookkeeping."""

    _formula = True

    def backward(self, g):
        return self.rule(tensor_formulas, g, *self.saved_tensors)

    def rule(self, F, g, *saved):  # noqa: N803 - a namespace  # pragma: no cover
        raise NotImplementedError(f"{self.name()} has no rule")


class ArrayFormulas:
    """What formulas need beyond operators, on one backend's raw arrays."""

    arrays = True  # nothing is recorded: a rule may hand one array to two inputs

    def __init__(self, backend):
        self._backend = backend
        self._xp = backend.xp
        self.exp = backend.xp.exp

    @staticmethod
    def sum(x, dim, keepdim: bool):
        if x.__class__ is CPU_NDARRAY:  # ndarray.sum is numpy's Python around this call
            return cpu_add_reduce(x, dim, None, None, keepdim)
        return x.sum(axis=dim, keepdims=keepdim)

    def expand(self, x, shape):
        return self._xp.broadcast_to(x, shape)

    def expand_divided(self, x, shape, count):
        """``expand(x, shape) / count`` (a mean's gradient): one number divided once and
        filled in, on the CPU, where numpy's broadcast_to alone costs more than the rest."""
        if self._backend is CPU and x.ndim == 0:
            out = self._xp.empty(shape, dtype=x.dtype)  # full() is Python around these two
            out.fill(x / count)
            return out
        return self._xp.broadcast_to(x, shape) / count

    def unsqueeze_dims(self, x, dims: tuple):
        return self._xp.expand_dims(x, dims)

    def zero_where(self, mask, x):
        """``where(mask, 0, x)``."""
        return self._backend.zero_where(mask, x)

    def scatter(self, g, shape, index, accumulate: bool):
        """Zeros of ``shape`` with ``g`` written (or added, for advanced indices that may
        repeat a position) at ``index``: indexing's gradient (``indexing.scatter_into``)."""
        data = self._xp.zeros(shape, dtype=g.dtype)
        if accumulate:
            self._backend.scatter_add(data, index, g)
        else:
            data[index] = g
        return data

    @staticmethod
    def mm(a, b):
        return a @ b

    @staticmethod
    def t(x):
        return x.T


tensor_formulas = None  # the same functions on Tensors; set by visgrad.engine.ops


class AccumulateGrad(Node):
    """The sink of a leaf: adds the gradient that reaches it into ``variable.grad``."""

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    __slots__ = ("variable",)

    def __init__(self, variable):  # Node.__init__ written out: one is made per leaf and pass
        self._seq = next(_sequence)
        self.next_functions = ()
        self._saved = self._saved_versions = self._saved_outputs = ()
        self.variable = variable
        self._input_meta = (variable._meta or meta_of(variable),)

    def backward(self, grad):  # pragma: no cover - the iteration accumulates directly
        raise RuntimeError("AccumulateGrad is applied by the backward iteration")


def leaf_accumulator(t) -> AccumulateGrad:
    """The leaf's AccumulateGrad: the one its live graphs share, or a new one.

    NOTE [leaf accumulators]
    As in torch, the graph holds the accumulator and the accumulator holds the leaf; the leaf
    only points back weakly. A strong link both ways would be a reference cycle, so a leaf and
    its ``.grad`` (often large arrays) would wait for the cyclic collector instead of going when
    their last user lets go. A leaf given a tensor hook keeps its accumulator, where the hooks
    live, for as long as it lives itself.
    """
    ref = t._acc
    acc = ref() if ref is not None else None
    if acc is None:
        if t._base is not None and getattr(t, "_no_grad_view", None) is not None:
            return None  # NOTE [views made under no_grad]: the edge to it is None
        acc = AccumulateGrad(t)
        t._acc = weakref.ref(acc)
    return acc


class CopyBackwards(Node):
    """What ``.grad`` records when it first stores a gradient under ``create_graph=True``."""

    def backward(self, grad):
        return (grad,)


class GraphRoot(Node):
    """Not executed as a step: the roots' gradients are seeded into the iteration directly."""


# ---- version counters ----------------------------------------------------------------------
# NOTE [version counters]
# A tensor's version counter is a one-element list that views and detach() aliases share. Most
# tensors are never modified in place, so the list is made only when first needed (``_vc`` is
# None until then: version 0). Saved values keep only the version number; the node that had
# saved a value among its own outputs notes that value's index and output number
# (``_saved_outputs``): the error message names this node for those, and the tensor's current
# grad_fn for the others, as torch does.

# NOTE [views after in-place changes]
# A view shares its base's storage and version counter. When that storage changes in place
# after the view was made, the view's history (SelectBackward0 of the base as it was) no longer
# says how its values came about: torch then gives the view a new grad_fn, AsStridedBackward0
# of the base's current history, the first time the view is used or looked at. ``_view_at`` is
# the version a view's history is for; ``refresh_view`` (visgrad.engine.ops.shape) renews it.

def make_view(x, data):
    """A tensor of ``data``, a view of ``x``'s storage: it shares x's version counter and has
    x's base (or x) as its base."""
    out = _Tensor._wrap(data, x._backend)
    vc = out._vc = shared_counter(x)
    out._base = x._base if x._base is not None else x
    out._view_at = vc[0]
    if x._requires_grad:
        if not grad_mode._state.grad:  # NOTE [views made under no_grad]
            out._requires_grad = True
            out.__dict__["_no_grad_view"] = MADE_UNDER_NO_GRAD
        elif x._base is not None and getattr(x, "_no_grad_view", None) is not None:
            out.__dict__["_no_grad_view"] = OF_A_NO_GRAD_VIEW
    return out


# NOTE [views made under no_grad]
# As in torch, a view of a tensor that requires grad, made under no_grad, requires grad and is
# a leaf, but a leaf cut from everything: it has no AccumulateGrad (an op's edge to it is
# None), so a gradient reaches neither it nor its base. It may not be changed in place with
# grad on, nor may a view of it; and once its storage changed in place (through it or its
# base, in any mode), reading its grad_fn or using it fails with torch's words, and it prints
# grad_fn=<Invalid>. The marker lives in the tensor's __dict__: only such views have one.
MADE_UNDER_NO_GRAD, OF_A_NO_GRAD_VIEW = "made under no_grad", "a view of one"
NO_GRAD_VIEW_ADVICE = (
    "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify "
    "your code by moving both the view and the inplace either both inside the no_grad block "
    "(if you don't want the inplace to be tracked) or both outside (if you want the inplace to "
    "be tracked).")
NO_GRAD_VIEW_CHANGED = (
    "A view was created in no_grad mode and its base or another view of its base has been "
    "modified inplace with grad mode enabled. " + NO_GRAD_VIEW_ADVICE)


def refresh_view(t) -> None:  # replaced by visgrad.engine.ops.shape.refresh_view
    """Renew view ``t``'s history if its storage changed in place since it was recorded."""


def version_of(t) -> int:
    vc = t._vc
    return 0 if vc is None else vc[0]


def shared_counter(t) -> list:
    """``t``'s version counter, made now if it has none, for a view or alias to share."""
    vc = t._vc
    if vc is None:
        vc = t._vc = [0]
    return vc


def bump_version(t) -> None:
    """Record an in-place change of ``t``'s storage."""
    vc = t._vc
    if vc is None:
        t._vc = [1]
    else:
        vc[0] += 1


def _modified_message(node, index: int, tensor, expected: int) -> str:
    from visgrad.engine.tensor import legacy_type_name  # noqa: PLC0415

    creator, output_nr = tensor._grad_fn, tensor._output_nr
    for saved_index, nr in node._saved_outputs:
        if saved_index == index:
            creator, output_nr = node, nr
    desc = f"[{legacy_type_name(tensor)} [{', '.join(map(str, tensor._data.shape))}]]"
    if creator is not None:
        op = creator.name()
        op = op[: op.rfind("Backward")] if "Backward" in op else op
        desc += f", which is output {output_nr} of {op},"
    return (f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: {desc} is at version {version_of(tensor)}; expected version "
            f"{expected} instead. Hint: enable anomaly detection to find the operation that failed "
            f"to compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")


# ---- recording ----------------------------------------------------------------------------

def gradient_edge(t) -> tuple:
    """Where a gradient for tensor ``t`` goes: its grad_fn, its leaf's AccumulateGrad, or nowhere."""
    if t is None or not getattr(t, "_requires_grad", False):
        return (None, 0)
    if t._base is not None:
        refresh_view(t)
    fn = t._grad_fn
    if fn is not None:
        return (fn, t._output_nr)
    return (leaf_accumulator(t), 0)


_NO_EDGE = (None, 0)
_ACC_FIRST = -(1 << 62)
_array_formulas: dict = {}  # backend -> ArrayFormulas
_BIG = 1 << 14  # elements from which a new array costs more than bookkeeping to avoid one


def _owns_alone(grad, refs: int) -> bool:
    """Whether the iteration alone holds the raw gradient ``grad``, so that a leaf may keep it
    instead of a copy, as torch's AccumulateGrad steals a gradient no one else holds: only the
    iteration refers to the array (``refs``, its reference count, is what the iteration's own
    references make; any Tensor still holding it adds one), and the array owns its memory
    (not a view of another)."""
    if _steal.probe is not None:
        _steal.probe.append(refs)
        return False
    limit = _steal.limit  # None until run() has calibrated it
    return limit is not None and refs <= limit and getattr(grad, "base", 0) is None


class _steal:  # noqa: N801 - a namespace
    """How many references the iteration itself holds on a gradient it accumulates.

    That count depends on the interpreter (how its frames and calls keep references), so it is
    measured, once, on two tiny passes through the same kind of node: one that sends each of
    two leaves a gradient of its own, and one that sends both the same tensor. If the second
    does not count more, or anything goes wrong, nothing is taken (limit -1)."""

    limit: int | None = None
    probe: list | None = None

    @classmethod
    def calibrate(cls) -> None:
        cls.limit, cls.probe = -1, []
        try:
            alone, shared = cls._probe(_Apart), cls._probe(_Twice)
        except Exception:  # noqa: BLE001 - this is an optimisation; without it all works
            return
        finally:
            cls.probe = None
        # the first leaf of the shared pass sees the tensor still waiting for the second
        if len(alone) == 2 and len(shared) == 2 and max(alone) < shared[0]:
            cls.limit = max(alone)

    @classmethod
    def _probe(cls, node_cls) -> list:
        from visgrad.engine.tensor import tensor  # noqa: PLC0415

        del cls.probe[:]
        with grad_mode.enable_grad():
            x = tensor(1.0, requires_grad=True)
            w = tensor(2.0, requires_grad=True)
            out = record(node_cls, tensor(3.0), (x, w))
        BackwardIteration([out]).run()
        return cls.probe[:]


class _Apart(Node):
    def backward(self, g):
        return g * 1.0, g * 1.0


class _Twice(Node):
    def backward(self, g):
        return g, g


def record(node_cls, out, inputs, save=(), **attrs):
    """Attach a new ``node_cls`` to the freshly computed tensor ``out`` when grad is needed.

    ``inputs`` lists the op's differentiable inputs in torch's order, each a Tensor or None;
    non-tensors (Python scalars) are ``None`` edges, as they are in torch's ``next_functions``.
    This runs once per op, so it is written for speed: the node is made without its
    ``__init__`` (op nodes define none).
    """
    state = grad_mode._state
    if not state.grad:
        return out
    edges, meta, needed = [], [], False
    for i in inputs:
        if i is not None and i._base is not None and i._vc[0] != i._view_at:
            refresh_view(i)  # NOTE [views after in-place changes]
        if i is not None and i._requires_grad:
            needed = True
            fn = i._grad_fn
            if fn is None:
                fn = i._acc
                fn = fn() if fn is not None else None  # NOTE [leaf accumulators]
                edges.append((fn if fn is not None else leaf_accumulator(i), 0))
            else:
                edges.append((fn, i._output_nr))
            meta.append(i._meta or meta_of(i))
        else:
            edges.append(_NO_EDGE)
            meta.append(None)
    if not needed:
        return out
    node = _new_object(node_cls)
    node._seq = next(_sequence)
    node.next_functions = tuple(edges)
    node._input_meta = tuple(meta)
    out._grad_fn = node
    out._requires_grad = True
    if save:
        _save(node, save)
    else:
        node._saved = node._saved_versions = node._saved_outputs = ()
    if attrs:
        node.__dict__.update(attrs)
    if state.anomaly:
        node._anomaly_trace = "".join(traceback.format_stack()[:-2])
    return out


def record_output(node_cls, out, x):
    """``record(node_cls, out, (x,), save=(out,))`` for the ops whose rule needs only their
    own output (relu, exp, tanh, sigmoid...), written out for the usual case: grad on, no
    anomaly mode, ``x`` a tensor that requires grad and is not a view. ``out`` is new, so
    what is saved is known: itself, at version 0, as this node's output 0."""
    state = grad_mode._state
    if not state.grad or state.anomaly or x._base is not None or not x._requires_grad:
        return record(node_cls, out, (x,), save=(out,))
    node = _new_object(node_cls)
    node._seq = next(_sequence)
    node.next_functions = (gradient_edge(x),)
    node._input_meta = (x._meta or meta_of(x),)
    node._saved = (_alias(out),)
    node._saved_versions = _OWN_VERSION
    node._saved_outputs = _OWN_OUTPUT
    out._grad_fn = node
    out._requires_grad = True
    return out


_OWN_VERSION, _OWN_OUTPUT = (0,), ((0, 0),)


# NOTE [saved outputs]
# A node that keeps its own output (relu, exp, softmax... and in-place ops, whose output is
# their input) would make a reference cycle: output -> grad_fn -> saved output. Both would
# then outlive their last user until the cyclic collector ran, with the output's array: a
# forward pass run without backward (an evaluation with grad on) would hold hundreds of
# activations. As torch does, the node keeps the output without its history instead: an alias
# of the same storage and version counter (``_alias``), so that in-place changes are still
# seen; ``saved_tensors`` hands out the output with this node as its grad_fn again
# (``_attached``), which a create_graph pass differentiates through. The raw-array pass reads
# the alias's array directly.

def _alias(t):
    """``t``'s storage and version counter, outside any graph (``detach()``, inlined)."""
    out = _Tensor._wrap(t._data, t._backend)
    out._vc = shared_counter(t)
    return out


def _attached(alias, node: Node, nr: int):
    """The saved output ``alias`` as output ``nr`` of ``node`` again."""
    out = _Tensor._wrap(alias._data, alias._backend)
    out._vc = alias._vc
    out._grad_fn, out._output_nr, out._requires_grad = node, nr, True
    return out


def _save(node: Node, values: tuple) -> None:
    """``node.save(*values)``; a plain function, because record() calls it for most ops."""
    versions, outputs = [], []  # ints only, so the collector soon stops tracking them
    for v in values:  # a loop, not generators
        if isinstance(v, _Tensor):
            vc = v._vc
            versions.append(0 if vc is None else vc[0])
            if v._grad_fn is node:  # NOTE [saved outputs]
                outputs.append((len(versions) - 1, v._output_nr))
        else:
            versions.append(-1)
    if outputs:
        values = list(values)
        for index, _ in outputs:
            values[index] = _alias(values[index])
        values = tuple(values)
    node._saved = values
    versions = tuple(versions)
    node._saved_versions = _COMMON_VERSIONS.get(versions, versions)
    node._saved_outputs = tuple(outputs) if outputs else ()


def _one_like(t):
    """The gradient ``backward()`` starts from: a one of ``t``'s shape and dtype."""
    d = t._data
    if d.ndim == 0:  # the usual loss: one number, made without ones()' Python-level work
        return _Tensor._wrap(t._backend.xp.asarray(1, dtype=d.dtype), t._backend)
    return _Tensor._wrap(t._backend.xp.ones(d.shape, dtype=d.dtype), t._backend)


def attach(node_cls, out, edges, metas, **attrs):
    """Make ``out``'s grad_fn a new ``node_cls`` with these edges and input metadata, for the
    few nodes whose edges are not those of their inputs (CopySlices takes its op's)."""
    node = _new_object(node_cls)
    node._seq = next(_sequence)
    node.next_functions = tuple(edges)
    node._input_meta = tuple(metas)
    node._saved = node._saved_versions = node._saved_outputs = ()
    node.__dict__.update(attrs)
    if grad_mode._state.anomaly:
        node._anomaly_trace = "".join(traceback.format_stack()[:-2])
    out._grad_fn, out._output_nr, out._requires_grad = node, 0, True
    return out


_new_object = object.__new__
_META: dict = {}  # (shape, dtype) -> one shared tuple: input metadata repeats a lot


def _interned(meta: tuple) -> tuple:
    if len(_META) < 4096:
        _META[meta] = meta
    return meta


def meta_of(t) -> tuple:
    """``t``'s (shape, dtype), interned, kept on ``t`` (NOTE [kept metadata])."""
    d = t._data
    meta = (d.shape, d.dtype)
    meta = t._meta = _META.get(meta) or _interned(meta)
    return meta


# NOTE [kept metadata]
# Every node records its inputs' shape and dtype, to check the gradients that come back. A
# tensor used by many nodes (a weight, a leaf of a wide graph) was measured each time: numpy
# makes a new shape tuple at each ``.shape``, and finding its interned twin hashes it, 0.2 µs
# an input. A tensor now keeps its metadata from the first time (``_meta``), and the fused
# operators hand their output its input's, which it shares. Only ``.data =`` changes what an
# existing tensor's array is (in-place ops keep its shape and dtype); it forgets the kept one.


_Tensor = None  # visgrad.engine.tensor.Tensor, set by that module (it imports this one)
_sum_to_array = None  # visgrad.engine.tensor.sum_to_array, set with it


# ---- the backward iteration -----------------------------------------------------------------

@dataclass
class HookFiring:
    """A hook that ran: ``kind`` is tensor, retain_grad, prehook or posthook."""

    kind: str
    target: Any
    before: Any
    after: Any


@dataclass
class Accumulation:
    """One gradient added into a leaf's ``.grad``: the old value, what was added, the new one."""

    leaf: Any
    before: Any
    contribution: Any
    after: Any


class _Shown:
    """A step's gradients: the iteration hands raw arrays from node to node (NOTE [raw
    gradients]); a step keeps them as they were and makes Tensors of them when someone
    looks, once."""

    def __init__(self, slot: str):
        self.slot = slot

    def __get__(self, step, owner=None):
        if step is None:
            return self
        values = getattr(step, self.slot)
        if not _all_tensors(values):
            values = _as_tensors(values)
            setattr(step, self.slot, values)
        return values

    def __set__(self, step, values) -> None:
        setattr(step, self.slot, values)


class BackwardStep:
    """Everything one executed node did, for the stepper and the canvas.

    ``grads_in``: the gradients the node received (after hooks), one per output;
    ``grads_out``: ``(next_node, output_nr, gradient)`` per ``next_functions`` entry;
    ``hooks``: HookFiring records; ``accumulation``: set on AccumulateGrad steps;
    ``retained``: ``(tensor, grad)`` for tensors with ``retain_grad()``.
    """

    __slots__ = ("index", "node", "_grads_in", "_outputs", "hooks", "accumulation", "retained",
                 "captured")

    def __init__(self, index: int, node: Node, grads_in: tuple):
        self.index = index
        self.node = node
        self._grads_in = grads_in
        self._outputs = ()     # what the node returned, one per next_functions entry
        self.hooks = ()        # lists once something fires (most steps fire nothing)
        self.accumulation = None
        self.retained = ()
        self.captured = False

    grads_in = _Shown("_grads_in")
    outputs = _Shown("_outputs")

    @property
    def grads_out(self) -> tuple:
        """``(next_node, output_nr, gradient)`` per edge, built when someone looks."""
        return tuple((nxt, nr, g) for (nxt, nr), g in zip(self.node.next_functions, self.outputs))

    def __repr__(self) -> str:
        return f"<BackwardStep {self.index}: {self.node.name()}>"


def _all_tensors(values) -> bool:
    return all(v is None or isinstance(v, _Tensor) for v in values)


def _as_tensors(values) -> tuple:
    """Raw arrays made Tensors (Tensors and None kept): for the viewer, hooks and rules that
    are written with Tensor operations."""
    wrap = _Tensor._wrap
    return tuple(v if v is None or isinstance(v, _Tensor) else wrap(v, array_backend(v))
                 for v in values)


def _as_arrays(values) -> tuple:
    return tuple(None if v is None else v._data for v in values)


def _shape_str(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _expandable(shape, to) -> bool:
    if len(shape) > len(to):
        return False
    for s, t in zip(reversed(shape), reversed(to)):
        if s != t and s != 1:
            return False
    return True


class BackwardIteration:
    """The backward pass as an iterator of steps; ``run()`` drains it (that is ``backward()``).

    >>> import visgrad as vg
    >>> x = vg.tensor(3.0, requires_grad=True)
    >>> it = BackwardIteration([x * x], [None])
    >>> [s.node.name() for s in it]
    ['MulBackward0', 'AccumulateGrad']
    >>> x.grad
    tensor(6.)
    """

    def __init__(self, tensors, grad_tensors=None, retain_graph=None, create_graph=False,
                 inputs=None, accumulate=True, allow_unused=False):
        Tensor = _Tensor  # noqa: N806 - the class, set by visgrad.engine.tensor
        tensors = list(tensors)
        grad_tensors = list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
        if len(grad_tensors) != len(tensors):
            raise RuntimeError(f"got {len(tensors)} tensors and {len(grad_tensors)} gradients")
        self.create_graph = bool(create_graph)
        self.retain_graph = self.create_graph if retain_graph is None else bool(retain_graph)
        self.accumulate = accumulate
        # Whether steps keep what a viewer needs (the old .grad of a leaf before an addition).
        # run() turns it off: nobody sees its steps, so it skips those copies.
        self.history = True
        # Big gradients that _on_arrays just made (while no one keeps steps), by id: while
        # nothing but a buffer holds one, a second gradient for the same input is added into
        # it in place, as torch's input buffer does, instead of into a new array.
        self._fresh: dict = {}
        self.index = 0
        self._buffers: dict[Node, list] = {}
        self._heap: list = []
        self._tiebreak = itertools.count()
        self._steps = None  # the generator of steps, made on the first one
        self._context = None  # where single steps run (see _advance)
        # torch checks every gradient given against its output first, then that each output
        # requires grad
        grads = []
        for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
            if not isinstance(t, Tensor):
                raise TypeError(f"expected a Tensor as output {i}, got {type(t).__name__}")
            if t._base is not None:
                refresh_view(t)
            if g is None:
                if t._requires_grad and t._data.size != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
            else:
                if not isinstance(g, Tensor):
                    g = Tensor._wrap(t._backend.asarray(g, t._data.dtype), t._backend)
                if tuple(g._data.shape) != tuple(t._data.shape):
                    raise RuntimeError(
                        f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and "
                        f"output[{i}] has a shape of {t.shape}.")
                if not self.create_graph and g._requires_grad:
                    g = g.detach()
            grads.append(g)
        roots = []
        for i, (t, g) in enumerate(zip(tensors, grads)):
            edge = gradient_edge(t) if t._requires_grad else _NO_EDGE
            if edge[0] is None:  # (a view made under no_grad has no edge either)
                raise RuntimeError(
                    f"element {i} of tensors does not require grad and does not have a grad_fn")
            roots.append((edge, _one_like(t) if g is None else g))

        # Captures (autograd.grad and backward(inputs=...)): where each input's gradient arrives.
        self._capture: dict[tuple, int] | None = None
        self.captured: list = []
        self._inputs = None
        if inputs is not None:
            self._inputs = list(inputs)
            self._capture = {}
            for k, t in enumerate(self._inputs):
                if isinstance(t, Tensor) and t._base is not None:
                    refresh_view(t)
                if not isinstance(t, Tensor) or not t._requires_grad:
                    if accumulate:  # backward(inputs=...) retains the grads of its inputs
                        raise RuntimeError("can't retain_grad on Tensor that has "
                                           "requires_grad=False")
                    raise RuntimeError("One of the differentiated Tensors does not require grad")
                self._capture[gradient_edge(t)] = k
            self.captured = [None] * len(self._inputs)
        self._allow_unused = allow_unused

        self._dependencies = self._count_dependencies([e[0] for e, _ in roots])
        self._needed = self._compute_needed() if self._capture is not None else None
        for (node, nr), g in roots:  # NOTE [raw gradients]
            self._add_to_buffer(node, nr, g if self.create_graph else g._data)
        for node in dict.fromkeys(node for (node, _), _ in roots):
            if self._dependencies.get(node, 0) == 0 and node in self._buffers:
                self._push(node)
        self.done = not self._heap
        if self.done:
            self._finish()

    # ---- setup ---------------------------------------------------------------------------
    def _count_dependencies(self, root_nodes) -> dict:
        # every node reached is a key (roots start at 0), so the dict is also the "seen" set
        deps: dict[Node, int] = dict.fromkeys((n for n in root_nodes if n is not None), 0)
        stack = list(deps)
        get = deps.get
        while stack:
            for nxt, _ in stack.pop().next_functions:
                if nxt is not None:
                    count = get(nxt)
                    if count is None:
                        deps[nxt] = 1
                        stack.append(nxt)
                    else:
                        deps[nxt] = count + 1
        self._graph_nodes = deps.keys()
        return deps

    def _compute_needed(self) -> set:
        targets = {edge[0] for edge in self._capture}
        needed: dict[Node, bool] = {}
        # iterative post-order over the graph reachable from the roots
        for start in list(self._graph_nodes):
            if start in needed:
                continue
            stack = [(start, iter(start.next_functions))]
            on_path = {start}
            while stack:
                node, it = stack[-1]
                advanced = False
                for nxt, _ in it:
                    if nxt is not None and nxt not in needed and nxt not in on_path:
                        stack.append((nxt, iter(nxt.next_functions)))
                        on_path.add(nxt)
                        advanced = True
                        break
                if advanced:
                    continue
                stack.pop()
                needed[node] = node in targets or any(
                    needed.get(n, False) for n, _ in node.next_functions if n is not None)
        return {n for n, v in needed.items() if v}

    def _push(self, node: Node) -> None:
        # One int orders the heap: AccumulateGrad first (in arrival order), then the newest node.
        key = _ACC_FIRST + next(self._tiebreak) if node.__class__ is AccumulateGrad \
            else -node._seq
        heappush(self._heap, (key, node))

    def _add_to_buffer(self, node: Node, nr: int, grad) -> None:
        buf = self._buffers.get(node)
        if buf is None:
            buf = self._buffers[node] = [None] * node._num_outputs
        old = buf[nr]
        if old is None:
            buf[nr] = grad
        elif grad is not None:
            if self.create_graph:
                with grad_mode.enable_grad():
                    buf[nr] = old + grad
            # 4: the buffer's slot, _fresh's, the name old and getrefcount's argument
            elif self._fresh.get(id(old)) is old and _sys.getrefcount(old) <= 4:
                old += grad  # same shape and dtype (validated): add in place
            else:  # raw arrays: nothing to record
                buf[nr] = old + grad

    # ---- iteration -----------------------------------------------------------------------
    def __iter__(self):
        while (step := self.step()) is not None:
            yield step

    @property
    def next_node(self) -> Node | None:
        """The node the next ``step()`` will run; None once the pass is over."""
        return self._heap[0][-1] if self._heap else None

    def run(self) -> None:
        """Drain the iteration: this is what ``backward()`` does.

        The same steps as ``step()`` takes (NOTE [one code path]), with the per-pass switches
        set once around the loop instead of once per node: grad mode, silent floating-point
        errors and the cyclic collector (the pass allocates many short-lived objects that
        reference counting frees; pausing the collector saves it from rescanning the whole
        live graph)."""
        self.history = False
        if _steal.limit is None:
            _steal.calibrate()
        if self._heap:
            collecting = gc.isenabled()
            gc.disable()
            try:
                self._advance(drain=True)
            finally:
                if collecting:
                    gc.enable()
        if not self.done:
            self._finish()

    def step(self) -> BackwardStep | None:
        """Execute the next ready node; None once the pass is over."""
        if not self._heap:
            if not self.done:
                self._finish()
            return None
        self.history = True  # a step someone takes is a step someone looks at
        step = self._advance(drain=False)
        if not self._heap:
            self._finish()
        return step

    def _iteration(self):
        """The one generator of steps that both ``step()`` and ``run()`` advance."""
        if self._steps is None:
            self._steps = self._steps_of_this_pass()
        return self._steps

    def _advance(self, drain: bool) -> BackwardStep | None:
        """Take the next step, or all of them, with grad mode as create_graph says and
        floating-point errors silent. One call for both: the GUI's stepper pays it per node.

        ``run()`` silences numpy around the whole drain. A single step runs in a context of
        the pass's own (``_quiet_context``), where numpy was silenced once: switching a
        context costs a third of setting numpy's state and resetting it at every step. The
        Tensor operations a step may run (hooks, rules written with Tensors) then silence
        numpy again themselves, since ``state.quiet`` is left as the caller had it."""
        state = grad_mode._state
        previous, state.grad = state.grad, self.create_graph
        self._anomaly = state.anomaly
        try:
            if not drain:
                return self._quiet_context().run(next, self._steps or self._iteration())
            was_quiet, state.quiet = state.quiet, True
            token = quiet_enter()
            try:
                # a deque of length 0 takes each step and lets it go at once: a step held here
                # would hold its gradients, and a leaf takes only a gradient nothing else holds
                _deque(self._iteration(), maxlen=0)
            finally:
                quiet_exit(token)
                state.quiet = was_quiet
            return None
        except BaseException:
            self._heap.clear()
            self.done = True
            raise
        finally:
            state.grad = previous

    def _quiet_context(self):
        """A copy of the caller's context, as of the first step, with numpy's floating-point
        errors silent in it; the steps run there and leave the caller's context alone."""
        context = self._context
        if context is None:
            context = self._context = quiet_context()
        return context

    def _steps_of_this_pass(self):
        """Execute ready nodes one at a time, yielding a BackwardStep for each while
        ``history`` is on (``run()`` turns it off: it keeps no record nobody would read, and
        drains the pass without a pause per node).

        One generator, so what never changes during a pass is looked up once, not once per
        node. A node's locals are dropped before its step is yielded: a leaf takes a gradient
        only when nothing else holds it (see ``_owns_alone``)."""
        heap, buffers, deps, fresh = self._heap, self._buffers, self._dependencies, self._fresh
        arrays = not self.create_graph
        retain = self.retain_graph
        capturing = self._capture is not None
        tiebreak, accumulator = self._tiebreak, AccumulateGrad
        add_to_buffer = self._add_to_buffer
        while heap:
            node = heappop(heap)[1]
            grads = buffers.pop(node, None) or [None] * node._num_outputs
            if fresh:  # a gradient being used is no longer only a buffer's
                for g in grads:
                    fresh.pop(id(g), None)
                g = None  # (a name left holding it would stop a steal)
            # the record of the step, for a viewer: run() has none, so it makes none
            step = BackwardStep(self.index, node, ()) if self.history else None
            self.index += 1
            if node._watched or capturing:
                if step is None:  # hooks and captures note what they did in it
                    step = BackwardStep(self.index - 1, node, ())
                outputs = self._execute(node, grads, step)
            elif node.__class__ is accumulator:
                if step is not None:
                    step._grads_in = tuple(grads)
                self._accumulate(node, grads[0], step)
                grads = None
                if step is not None:
                    yield step
                continue
            else:  # the common case, inlined: no hooks, no captures, one output
                g = grads[0]
                if step is not None:
                    step._grads_in = (g,) if node._num_outputs == 1 else tuple(grads)
                if node._num_outputs != 1:
                    outputs = self._run_rule(node, grads)
                    if arrays:
                        outputs = _as_arrays(outputs)
                elif g is None:
                    outputs = (None,) * len(node.next_functions)
                else:
                    if node._passes:  # the rule's result, written out: g, and g if wanted
                        outputs = (g, g if node.next_functions[1][0] is not None else None)
                    elif arrays:
                        outputs = self._on_arrays(node, g) if node._formula else None
                        if outputs is None:  # a rule written with Tensor operations
                            outputs = node.backward(_Tensor._wrap(g, array_backend(g)))
                            outputs = _as_arrays(self._validate(
                                node, outputs if outputs.__class__ is tuple else (outputs,)))
                    else:
                        outputs = node.backward(g)
                        if outputs.__class__ is not tuple:
                            outputs = (outputs,)
                    metas = node._input_meta
                    count = len(metas)
                    if len(outputs) != count or self._anomaly:
                        outputs = self._checked(node, outputs)
                    elif arrays:
                        if count == 1 or count == 2 and outputs[0] is outputs[1] and \
                                metas[0] is metas[1]:  # one check does (add, x * x: metadata
                            g, meta = outputs[0], metas[0]  # is interned, see _interned)
                            if g is not None and (meta is None or g.shape != meta[0] or
                                                  g.dtype != meta[1]):
                                outputs = self._checked(node, outputs)
                        else:
                            for g, meta in zip(outputs, metas):
                                if g is not None and (meta is None or g.shape != meta[0] or
                                                      g.dtype != meta[1]):
                                    outputs = self._checked(node, outputs)
                                    break
                    else:
                        for g, meta in zip(outputs, metas):
                            if g is not None and (meta is None or g.__class__ is not _Tensor or
                                                  g._data.shape != meta[0] or
                                                  g._data.dtype != meta[1]):
                                outputs = self._validate(node, outputs)
                                break
                if node._saved and not retain:
                    node._saved = None
            if step is not None:
                step._outputs = outputs
            # route the gradients to the next nodes (_add_to_buffer and _push, written out for
            # the common cases)
            for (nxt, nr), g in zip(node.next_functions, outputs):
                if nxt is None:
                    continue
                buf = buffers.get(nxt)
                if buf is None:
                    buf = buffers[nxt] = [None] * nxt._num_outputs
                    buf[nr] = g
                elif buf[nr] is None:
                    buf[nr] = g
                elif g is not None:
                    if arrays and not fresh:
                        buf[nr] = buf[nr] + g
                    else:
                        add_to_buffer(nxt, nr, g)
                left = deps[nxt] - 1
                deps[nxt] = left
                if left == 0:
                    heappush(heap, (_ACC_FIRST + next(tiebreak) if nxt.__class__ is accumulator
                                    else -nxt._seq, nxt))
            grads = outputs = g = None
            if step is not None:  # run() takes no record: it goes on without a pause
                yield step

    def _on_arrays(self, node: FormulaNode, data) -> tuple | None:
        """A formula run on raw arrays (see FormulaNode); None when the saved values' dtypes
        differ from the gradient's (numpy promotes mixed dtypes differently from torch, so
        those take the Tensor route)."""
        dtype = data.dtype
        saved = node._saved
        if saved is None:
            return node.saved_tensors  # raises: freed
        backend = CPU if data.__class__ in CPU_ARRAY_TYPES else array_backend(data)
        # one number (a scalar graph): numpy's scalars compute ten times faster than 0-d
        # arrays, with the same IEEE operations in the same dtype
        scalar = data.ndim == 0 and backend is CPU
        if scalar:
            data = data[()]
        args = []
        for value, version in zip(saved, node._saved_versions):  # saved_tensors, written out
            if version >= 0:  # a tensor (save() notes -1 for anything else)
                vc = value._vc
                if vc is not None and vc[0] != version:
                    return node.saved_tensors  # raises: modified in place
                value = value._data
                if value.dtype != dtype:
                    return None
                if scalar and value.ndim == 0:
                    value = value[()]
            args.append(value)
        formulas = _array_formulas.get(backend)
        if formulas is None:
            formulas = _array_formulas[backend] = ArrayFormulas(backend)
        outputs = tuple(node.rule(formulas, data, *args))
        if not (scalar or self.history):
            for out in outputs:  # NOTE [raw gradients]: big new arrays may take later sums
                if out is not None and out is not data and out.size >= _BIG and \
                        out.base is None:
                    self._fresh[id(out)] = out
        return outputs

    def _checked(self, node: Node, outputs: tuple) -> tuple:
        """``_validate`` for either kind of gradient the pass carries. Raw arrays that only
        need the broadcast summed away (a bias's gradient) are reduced as they are; anything
        else (a wrong count or shape, another dtype, anomaly mode) goes through Tensors."""
        if self.create_graph:
            return self._validate(node, outputs)
        metas = node._input_meta
        if len(outputs) == len(metas) and not self._anomaly:
            checked = []
            for g, meta in zip(outputs, metas):
                if g is None or meta is None:
                    checked.append(None)
                    continue
                shape, dtype = meta
                if getattr(g, "dtype", None) != dtype or \
                        g.shape != shape and not _expandable(shape, g.shape):
                    break
                checked.append(_sum_to_array(g, shape))
            else:
                return tuple(checked)
        return _as_arrays(self._validate(node, _as_tensors(outputs)))

    def _run_rule(self, node: Node, grads: list) -> tuple:
        """A node's rule on Tensors (several outputs, or hooks on the way): the Tensors it
        returns, checked."""
        if all(g is None for g in grads):
            return (None,) * len(node.next_functions)
        grads = list(_as_tensors(grads))
        if node._num_outputs > 1 and not node._materializes_itself:
            grads = self._materialize(node, grads)
        outputs = node.backward(*grads)
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        return self._validate(node, outputs)

    def _execute(self, node: Node, grads: list, step: BackwardStep) -> tuple:
        arrays = not self.create_graph
        if arrays:  # hooks, retain_grad and captures see Tensors
            grads = list(_as_tensors(grads))
        step.hooks, step.retained = [], []
        # 1. hooks registered on the tensors this node produced, then retain_grad, then prehooks
        if node._tensor_hooks:
            for nr, hooks in node._tensor_hooks.items():
                for fn in list(hooks.values()):
                    if grads[nr] is None:
                        continue
                    before = grads[nr]
                    result = fn(before)
                    if result is not None:
                        grads[nr] = self._check_hook_result(result, before, fn)
                    step.hooks.append(HookFiring("tensor", node, before, grads[nr]))
        if node._retained:
            for nr, ref in node._retained.items():
                t = ref()
                if t is not None and grads[nr] is not None:
                    before = t._grad
                    g = grads[nr]
                    t._grad = (g.detach() if not self.create_graph else g).clone() \
                        if before is None else (before + g if self.create_graph else
                                                (before + g).detach())
                    step.retained.append((t, t._grad))
                    step.hooks.append(HookFiring("retain_grad", t, before, t._grad))
        if node._pre_hooks:
            for fn in list(node._pre_hooks.values()):
                before = tuple(grads)
                result = fn(before)
                if result is not None:
                    grads = list(result)
                step.hooks.append(HookFiring("prehook", node, before, tuple(grads)))
        step.grads_in = tuple(grads)

        # 2. captures for autograd.grad / backward(inputs=...)
        if self._capture is not None:
            for nr in range(len(grads)):
                k = self._capture.get((node, nr))
                if k is not None:
                    step.captured = True
                    g = grads[nr]
                    if self.accumulate:
                        target = self._inputs[k]
                        if target._grad_fn is not None and g is not None:  # non-leaf input
                            before = target._grad
                            target._grad = g.detach().clone() if before is None else \
                                (before + g).detach()
                        continue  # leaves accumulate through their AccumulateGrad below
                    self.captured[k] = g if g is None or self.captured[k] is None else \
                        self.captured[k] + g
            if node not in self._needed:
                return ()
            if not self.accumulate and node.__class__ is AccumulateGrad:
                return ()

        # 3. the node itself
        if node.__class__ is AccumulateGrad:
            g = grads[0]
            self._accumulate(node, g._data if arrays and g is not None else g, step)
            if node._post_accumulate_hooks and g is not None and self.accumulate:
                leaf = node.variable
                for fn in list(node._post_accumulate_hooks.values()):
                    result = fn(leaf)
                    if result is not None:
                        raise TypeError("expected Variable, but hook returned "
                                        f"'{type(result).__name__}'")
                    step.hooks.append(HookFiring("post_accumulate", leaf, leaf._grad, None))
            return ()
        outputs = self._run_rule(node, grads)
        if node._post_hooks:
            for fn in list(node._post_hooks.values()):
                result = fn(outputs, tuple(grads))
                step.hooks.append(HookFiring("posthook", node, outputs, result or outputs))
                if result is not None:
                    outputs = tuple(result)
        if not self.retain_graph:
            node.release_variables()
        return _as_arrays(outputs) if arrays else outputs

    def _materialize(self, node: Node, grads: list) -> list:
        from visgrad.engine.tensor import zeros_for  # noqa: PLC0415

        # (a custom Function's non-tensor output has no backend: its gradient stays None)
        return [g if g is not None or node._output_meta[i][2] is None else
                zeros_for(*node._output_meta[i]) for i, g in enumerate(grads)]

    @staticmethod
    def _check_hook_result(result, before, hook):
        """A tensor hook may replace the gradient, with one of the same type (dtype and
        device) and size; torch's words otherwise, naming the hook."""
        from visgrad.engine.tensor import Tensor, legacy_type_name  # noqa: PLC0415

        if not isinstance(result, Tensor):
            raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
        name = getattr(hook, "__name__", "<unknown>")
        was, got = legacy_type_name(before), legacy_type_name(result)
        if was != got:
            raise RuntimeError(f"hook '{name}' has changed the type of value (was {was} got {got})")
        if result.shape != before.shape:
            raise RuntimeError(f"hook '{name}' has changed the size of value")
        return result

    def _validate(self, node: Node, outputs: tuple) -> tuple:
        """The rule's gradients, checked; fixed where torch fixes them (broadcast, dtype).

        ``_steps_of_this_pass`` inlines the check that all is already right, and only calls
        this otherwise."""
        from visgrad.engine.tensor import Tensor, sum_to  # noqa: PLC0415

        expected = len(node.next_functions)
        if len(outputs) != expected:
            if len(outputs) > expected and all(o is None for o in outputs[expected:]):
                outputs = outputs[:expected]
            else:
                raise RuntimeError(
                    f"function {node.name()} returned an incorrect number of gradients "
                    f"(expected {expected}, got {len(outputs)})")
        checked = []
        anomaly = grad_mode.is_anomaly_enabled()
        for i, (g, meta) in enumerate(zip(outputs, node._input_meta)):
            if g is None or meta is None:
                checked.append(None if meta is None else g)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"function {node.name()} returned a gradient of type "
                                f"{type(g).__name__} at index {i}, expected a Tensor or None")
            shape, dtype = meta
            if g._data.shape != shape:
                if not _expandable(shape, g._data.shape):
                    raise RuntimeError(
                        f"Function {node.name()} returned an invalid gradient at index {i} - got "
                        f"{_shape_str(g._data.shape)} but expected shape compatible with "
                        f"{_shape_str(shape)}")
                g = sum_to(g, shape)
            if g._data.dtype != dtype:
                from visgrad.engine.dtypes import from_numpy  # noqa: PLC0415

                g = g.to(from_numpy(dtype))
            xp = g._backend.xp
            if anomaly and grad_mode._state.anomaly_check_nan and \
                    not xp.isfinite(g._data).all() and xp.isnan(g._data).any():
                trace = node._anomaly_trace
                where = f"\nTraceback of forward call that caused the error:\n{trace}" if trace else ""
                raise RuntimeError(
                    f"Function '{node.name()}' returned nan values in its {i}th output.{where}")
            checked.append(g)
        return tuple(checked)

    def _accumulate(self, node: AccumulateGrad, grad, step: BackwardStep | None) -> None:
        """Add ``grad`` (a raw array, or a Tensor under create_graph) into the leaf's .grad."""
        if grad is None or not self.accumulate:
            return
        leaf = node.variable
        if self._inputs is not None and (node, 0) not in self._capture:
            return
        before = leaf._grad
        if self.create_graph:
            if grad._data.shape != leaf._data.shape:
                from visgrad.engine.tensor import sum_to  # noqa: PLC0415
                grad = sum_to(grad, tuple(leaf._data.shape))
            if before is None:
                leaf._grad = contribution = record(CopyBackwards, grad.detach().clone(), (grad,))
            else:
                leaf._grad = before + grad
                contribution = grad
        else:
            wrap, backend = _Tensor._wrap, leaf._backend
            if grad.shape != leaf._data.shape:
                grad = _sum_to_array(grad, leaf._data.shape)
            if before is None:
                if not self.history and _owns_alone(grad, _sys.getrefcount(grad)):
                    leaf._grad = wrap(grad, backend)  # no copy needed
                else:
                    leaf._grad = wrap(grad, backend).clone()
                contribution = leaf._grad
            else:
                old = before.detach().clone() if self.history else None
                before._data += grad.astype(before._data.dtype, copy=False)
                bump_version(before)
                if step is None:
                    return
                contribution, before = wrap(grad, backend), old
        if step is not None:
            step.accumulation = Accumulation(leaf, before, contribution, leaf._grad)

    def _finish(self) -> None:
        self.done = True
        self._steps = None  # the generator refers to this iteration: no cycle left behind
        self._context = None
        self._fresh.clear()
        if self._inputs is not None and not self.accumulate and not self._allow_unused:
            for k, g in enumerate(self.captured):
                if g is None:
                    raise RuntimeError(
                        f"The differentiated Tensor at index {k} appears to not have been used "
                        "in the graph. Set allow_unused=True if this is the desired behavior.")
