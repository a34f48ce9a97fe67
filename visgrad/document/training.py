"""Training a document one iteration at a time: runs, their history, landscapes, CSV.

:meth:`Session.train <visgrad.document.session.Session.train>` runs a whole loop in one
call. The app needs more: a few iterations per timer tick, pause, one step at a time,
going back to see what iteration 37 looked like, several runs side by side, and a CSV of
it all. :class:`Trainer` is that loop taken apart, on the document's own session; it
imports no Qt, so the app, ``visgrad train`` and the tests share it.

NOTE [what iteration k means]: iteration k is the parameters after k optimizer steps
(0: their initial values), the loss at them and the gradient at them. A trainer starts by
evaluating iteration 0 (``zero_grad``, forward, backward); each :meth:`Trainer.step` then
calls ``optimizer.step()`` and evaluates the next iteration. Those are the calls of the
usual loop ``zero_grad(); loss = f(); loss.backward(); step()``, in its order, so the
numbers are torch's; the loop's losses are rows 0..N-1, and row N is where it ends. After
every step the session holds one consistent iteration: the values on the canvas, the
gradients in the inspector and the last row of the history all describe iteration k.

Example::

    >>> from visgrad.document import Session, examples
    >>> from visgrad.document.training import TrainConfig, Trainer
    >>> trainer = Trainer(Session(examples.load("gradient_descent")), TrainConfig("SGD", 0.1))
    >>> trainer.run(100)
    100
    >>> run = trainer.history
    >>> len(run), run.columns, round(float(run.values[-1, 0]), 4)
    (101, ['x'], -1.5)
    >>> float(run.loss[0]), float(run.grads[0, 0])   # x = 2: loss 11, slope 2x + 3 = 7
    (11.0, 7.0)
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from visgrad.document import registry
from visgrad.document.formulas import format_number, to_numpy
from visgrad.document.model import OPTIMIZERS, GraphDocument, Node
from visgrad.document.session import Session, SessionError

MAX_TRACKED = 64        # parameter elements recorded at every iteration (all, in small graphs)
SNAPSHOT_LIMIT = 1000   # whole-parameter copies kept for going back, when not all are tracked
OPTIMIZER_NAMES = {name.lower(): name for name in OPTIMIZERS}


def optimizer_name(text: str) -> str:
    """The optimizer's class name from any spelling: ``"adam"`` → ``"Adam"``.

    >>> optimizer_name("rmsprop")
    'RMSprop'
    """
    name = OPTIMIZER_NAMES.get(str(text).strip().lower())
    if name is None:
        raise SessionError(f"unknown optimizer {text!r}; expected one of "
                           f"{', '.join(n.lower() for n in OPTIMIZERS)}")
    return name


@dataclass(frozen=True)
class TrainConfig:
    """Which optimizer, with which settings. ``momentum`` applies to SGD and RMSprop,
    ``nesterov`` to SGD (as in torch, it needs a momentum).

    >>> TrainConfig("SGD", 0.1, momentum=0.9, nesterov=True).describe()
    'SGD lr=0.1 momentum=0.9 nesterov'
    """

    optimizer: str = "SGD"
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False

    @classmethod
    def from_settings(cls, settings: Any, **changes: Any) -> TrainConfig:
        """The document's training settings (optimizer, lr, momentum), with ``changes``."""
        values = {"optimizer": settings["optimizer"], "lr": float(settings["lr"]),
                  "momentum": float(settings["momentum"] or 0.0)}
        values.update(changes)
        return cls(**values)

    def options(self) -> dict[str, Any]:
        """Keyword arguments for the optimizer besides ``lr``."""
        if self.optimizer == "SGD":
            options: dict[str, Any] = {"momentum": self.momentum}
            if self.nesterov:
                options["nesterov"] = True
            return options
        if self.optimizer == "RMSprop":
            return {"momentum": self.momentum}
        return {}

    def describe(self) -> str:
        text = f"{self.optimizer} lr={format_number(self.lr).removesuffix('.0')}" \
            if float(self.lr).is_integer() else f"{self.optimizer} lr={self.lr:g}"
        momentum = self.options().get("momentum", 0.0)
        if momentum:
            text += f" momentum={momentum:g}"
        if self.options().get("nesterov"):
            text += " nesterov"
        return text


# --------------------------------------------------------------------------------------------
# The history of one run


class _Rows:
    """A growing float64 array of rows (amortised appends; ``view`` is the filled part)."""

    def __init__(self, width: int | None) -> None:
        self._shape = () if width is None else (width,)
        self._data = np.empty((64, *self._shape))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def put(self, index: int, row: Any) -> None:
        if index == self._count:
            if self._count == len(self._data):
                grown = np.empty((2 * len(self._data), *self._shape))
                grown[: self._count] = self._data[: self._count]
                self._data = grown
            self._count += 1
        elif index != self._count - 1:
            raise IndexError(f"row {index} of {self._count}: only the last row can change")
        self._data[index] = row

    @property
    def view(self) -> np.ndarray:
        return self._data[: self._count]


@dataclass(frozen=True)
class ParamInfo:
    """One trained node: its label, shape and dtype, and which of its elements are recorded
    at every iteration (flat indices)."""

    node_id: str
    label: str
    shape: tuple[int, ...]
    dtype: np.dtype
    tracked: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def column(self, flat_index: int) -> str:
        """``x`` for a single number, ``weight[0,1]`` for an element of a tensor."""
        if self.size == 1:
            return self.label
        where = np.unravel_index(flat_index, self.shape)
        return f"{self.label}[{','.join(str(int(i)) for i in where)}]"


class TrainRun:
    """What one run went through: row k is iteration k (see the module's NOTE).

    ``loss`` and ``grad_norm`` hold every iteration; ``values`` and ``grads`` (rows ×
    ``columns``) the recorded elements of every parameter: all of them unless the graph
    trains more than :data:`MAX_TRACKED` numbers. :meth:`parameters_at` gives the whole
    parameters of an iteration, exactly when every element is recorded, else from the
    nearest of at most :data:`SNAPSHOT_LIMIT` kept copies (thinned evenly as the run grows).
    """

    def __init__(self, number: int, config: TrainConfig, params: Sequence[ParamInfo],
                 snapshot_limit: int = SNAPSHOT_LIMIT) -> None:
        self.number = number
        self.config = config
        self.params = list(params)
        self.columns = [p.column(i) for p in self.params for i in p.tracked]
        self.fully_tracked = all(len(p.tracked) == p.size for p in self.params)
        self._loss = _Rows(None)
        self._grad_norm = _Rows(None)
        self._values = _Rows(len(self.columns))
        self._grads = _Rows(len(self.columns))
        self._snapshot_limit = max(2, snapshot_limit)
        self._stride = 1
        self._snapshots: dict[int, list[np.ndarray]] = {}
        self.message = ""
        self.diverged = False

    @property
    def name(self) -> str:
        return f"run {self.number} · {self.config.describe()}"

    def __len__(self) -> int:
        return len(self._loss)

    @property
    def steps(self) -> int:
        """Optimizer steps taken: the last iteration's number."""
        return max(0, len(self) - 1)

    @property
    def loss(self) -> np.ndarray:
        return self._loss.view

    @property
    def grad_norm(self) -> np.ndarray:
        return self._grad_norm.view

    @property
    def values(self) -> np.ndarray:
        return self._values.view

    @property
    def grads(self) -> np.ndarray:
        return self._grads.view

    @property
    def iterations(self) -> np.ndarray:
        return np.arange(len(self))

    def column(self, name: str) -> np.ndarray:
        """The recorded values of one element, by its column name (``"weight[0,0]"``)."""
        return self.values[:, self.columns.index(name)]

    def record(self, iteration: int, loss: float, grad_norm: float,
               arrays: Sequence[np.ndarray], grads: Sequence[np.ndarray | None]) -> None:
        """Write row ``iteration`` (a new last row, or the last one again)."""
        values = np.concatenate([a.reshape(-1)[list(p.tracked)].astype(np.float64)
                                 for p, a in zip(self.params, arrays, strict=True)])
        gradient = np.concatenate([
            np.full(len(p.tracked), np.nan) if g is None else
            g.reshape(-1)[list(p.tracked)].astype(np.float64)
            for p, g in zip(self.params, grads, strict=True)])
        self._loss.put(iteration, loss)
        self._grad_norm.put(iteration, grad_norm)
        self._values.put(iteration, values)
        self._grads.put(iteration, gradient)
        if not self.fully_tracked:
            self._keep_snapshot(iteration, [np.array(a, copy=True) for a in arrays])

    def _keep_snapshot(self, iteration: int, arrays: list[np.ndarray]) -> None:
        last = max(self._snapshots, default=None)
        if last is not None and last % self._stride:  # the previous "latest", off the grid
            del self._snapshots[last]
        self._snapshots[iteration] = arrays
        while len(self._snapshots) > self._snapshot_limit:
            self._stride *= 2
            self._snapshots = {k: v for k, v in self._snapshots.items()
                               if k % self._stride == 0 or k == iteration}

    def parameters_at(self, iteration: int) -> tuple[int, list[np.ndarray]]:
        """The parameters of ``iteration`` (or of the nearest kept one): (its number, arrays)."""
        if not len(self):
            raise IndexError("the run has no iterations yet")
        iteration = min(max(0, int(iteration)), len(self) - 1)
        if self.fully_tracked:
            row, arrays, start = self.values[iteration], [], 0
            for p in self.params:
                arrays.append(row[start: start + p.size].astype(p.dtype).reshape(p.shape))
                start += p.size
            return iteration, arrays
        nearest = min(self._snapshots, key=lambda k: (abs(k - iteration), k))
        return nearest, [a.copy() for a in self._snapshots[nearest]]

    # export ----------------------------------------------------------------------------------
    def header(self) -> list[str]:
        return ["iteration", "loss", "grad_norm", *self.columns,
                *(f"{name}.grad" for name in self.columns)]

    def write_csv(self, file: IO[str]) -> None:
        """The history as CSV: iteration, loss, grad_norm, each parameter, each gradient.

        Numbers have 9 significant digits (enough to give float32 values back exactly).
        """
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(self.header())
        values, grads = self.values, self.grads
        for k in range(len(self)):
            writer.writerow([k, _number(self.loss[k]), _number(self.grad_norm[k]),
                             *(_number(v) for v in values[k]), *(_number(g) for g in grads[k])])

    def csv_text(self) -> str:
        buffer = io.StringIO()
        self.write_csv(buffer)
        return buffer.getvalue()

    def save_csv(self, path: str | Path) -> Path:
        """Write :meth:`write_csv` to ``path`` (through a temporary file, then renamed)."""
        path = Path(path)
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8", newline="") as file:
                self.write_csv(file)
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        return path


def _number(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.9g}"


# --------------------------------------------------------------------------------------------
# The trainer


def _vg() -> Any:
    import visgrad  # noqa: PLC0415 - the engine is needed only when running

    return visgrad


class Trainer:
    """One run of an optimizer on a session's trainable leaves, one iteration at a time.

    Raises :class:`SessionError` when training cannot start: an unknown optimizer, a bad
    learning rate (torch's message), nothing to train, no loss node, or a forward pass that
    fails. Once started it never raises: a loss or gradient that becomes inf or NaN, or an
    engine error, stops the run with :attr:`message` (``stopped`` is then True).

    ``trainer.run(steps, seconds=...)`` does as many steps as fit (the app's timer ticks);
    :meth:`show` puts an earlier iteration back into the session (values and gradients, for
    the canvas and the inspector) and the next step goes on from the latest one.
    """

    def __init__(self, session: Session, config: TrainConfig | None = None, *,
                 number: int = 1, snapshot_limit: int = SNAPSHOT_LIMIT) -> None:
        self.session = session
        self.config = config or TrainConfig.from_settings(session.document.settings)
        name = optimizer_name(self.config.optimizer)
        if name != self.config.optimizer:
            self.config = TrainConfig(name, self.config.lr, self.config.momentum,
                                      self.config.nesterov)
        error = session._silent_forward()
        if error is not None:
            raise SessionError(f"cannot train: {error.text}")
        target = session.backward_node
        if target is None:
            raise SessionError("there is no loss node to minimise")
        self.target: Node = target
        trainable = session.trainable()
        if not trainable:
            raise SessionError("nothing to train: add Parameter nodes (or Tensors with "
                               "requires_grad)")
        optim_class = getattr(importlib.import_module("visgrad.optim"), name)
        self.leaves = [leaf for _, leaf in trainable]
        try:
            self.optimizer = optim_class(self.leaves, lr=self.config.lr,
                                         **self.config.options())
        except (TypeError, ValueError) as exc:  # lr=-1, nesterov without momentum...
            raise SessionError(f"{name}: {exc}") from None
        self.history = TrainRun(number, self.config,
                                _param_infos([node for node, _ in trainable], self.leaves),
                                snapshot_limit)
        self.iteration = 0          # optimizer steps taken
        self.shown: int | None = None  # the iteration the session holds now
        self.stopped = False
        self._fresh = False         # the session holds iteration `iteration`, untouched since
        self._live: list[np.ndarray] | None = None  # the latest parameters, while showing others
        self._busy = 0
        self._outside = False       # something else used the session or edited the graph
        self._subscriptions = [(session.events.any, self._on_outside_change),
                               (session.document.events.any, self._on_outside_change)]
        for signal, handler in self._subscriptions:
            signal.connect(handler)
        self._evaluate(record=True)
        if not self.stopped:
            self.log(f"{self.history.name}: iteration 0, loss "
                     f"{format_number(self.history.loss[0])}")

    # state -----------------------------------------------------------------------------------
    @property
    def message(self) -> str:
        return self.history.message

    @property
    def diverged(self) -> bool:
        return self.history.diverged

    def close(self) -> None:
        """Stop following the session (the run's history stays readable)."""
        for signal, handler in self._subscriptions:
            with contextlib.suppress(ValueError):
                signal.disconnect(handler)
        self._subscriptions = []

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    def _on_outside_change(self, event: Any) -> None:
        if not self._busy:  # someone stepped, edited or reset: evaluate again before a step
            self._fresh = False
            self._outside = True
            self.shown = None

    # training --------------------------------------------------------------------------------
    def step(self) -> bool:
        """One optimizer step and the evaluation of the new iteration; False once stopped."""
        if self.stopped:
            return False
        with self._working():
            if not self._fresh or self.shown != self.iteration:
                self._restore_live()
                self._evaluate(record=True)  # the same numbers again, unless something changed
                if self.stopped:
                    return False
            self.optimizer.step()
            self.iteration += 1
            self._evaluate(record=True)
        return not self.stopped

    def run(self, steps: int, seconds: float | None = None) -> int:
        """Up to ``steps`` steps, stopping early after ``seconds`` (at least one step is
        taken) or when the run stops; returns how many were taken."""
        deadline = None if seconds is None else time.perf_counter() + seconds
        start = self.iteration
        while self.iteration - start < steps and self.step():
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return self.iteration - start

    def _evaluate(self, record: bool) -> None:
        """zero_grad, forward and backward at the leaves' values; with ``record``, write the
        row of :attr:`iteration` and stop the run on a non-finite loss or gradient."""
        session, k = self.session, self.iteration
        with self._working():
            self._fresh = False
            self.optimizer.zero_grad()
            error = session._silent_forward()
            if record:
                self.shown = k
            if error is not None:
                if record:
                    self._stop(f"stopped at iteration {k}: {error.text}")
                return
            if self._outside:
                self._outside = False
                changed = self._graph_change()
                if changed:
                    self._stop(f"stopped at iteration {k}: {changed}; press Start for a new run")
                    return
            loss = session.tensor(self.target.id)
            loss_value = float(np.sum(to_numpy(loss), dtype=np.float64))
            arrays = [to_numpy(leaf) for leaf in self.leaves]
            if not math.isfinite(loss_value):
                if record:
                    self.history.record(k, loss_value, math.nan, arrays,
                                        [None] * len(arrays))
                    self._stop(_diverged_text("loss", loss_value, k, self.config), True)
                return
            try:
                loss.backward()
            except Exception as exc:  # noqa: BLE001 - an engine error stops the run
                if record:
                    self.history.record(k, loss_value, math.nan, arrays,
                                        [None] * len(arrays))
                    self._stop(f"stopped at iteration {k}: backward failed: {exc}")
                return
            grads = [to_numpy(leaf.grad) for leaf in self.leaves]
            norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2))
                                 for g in grads if g is not None))
            if record:
                self.history.record(k, loss_value, norm, arrays, grads)
                self._fresh = True
                if not math.isfinite(norm):
                    self._stop(_diverged_text("gradient", norm, k, self.config), True)

    def _graph_change(self) -> str:
        """Why the run cannot go on with this graph ("" when it can)."""
        document = self.session.document
        if self.target.id not in document.nodes:
            return "the loss node was removed"
        if self.session.backward_node is not document.nodes[self.target.id]:
            return "another node is now the loss"
        for info, leaf in zip(self.history.params, self.leaves, strict=True):
            if info.node_id not in document.nodes:
                return f"{info.label} was removed"
            if self.session.tensor(info.node_id) is not leaf:
                return f"{info.label} was made anew (edited, or the session was reset)"
        return ""

    def _stop(self, message: str, diverged: bool = False) -> None:
        self.stopped = True
        self.history.message = message
        self.history.diverged = diverged
        self.log(message)

    def log(self, text: str) -> None:
        """A line in the session's log (the app's Log panel shows it)."""
        self.session._log(text)

    def settle(self) -> None:
        """A fresh forward pass over the same values, keeping the gradients.

        Each evaluation ends with ``backward()``, which frees the graph, so stepping backward
        right after training would fail ("Trying to backward through the graph a second
        time"). After ``settle`` the session is as a script is after ``loss = f(x)`` with
        ``.grad`` still filled by the last backward: stepping backward works, and adds to
        ``.grad``, as in torch.
        """
        with self._working():
            self.session._silent_forward()

    # going back ------------------------------------------------------------------------------
    def show(self, iteration: int) -> int:
        """Put ``iteration`` (or the nearest kept one) into the session: the parameters as
        they were, then forward and backward, so every value and gradient is that
        iteration's. Returns the iteration shown. Training goes on from the latest one."""
        with self._working():
            if len(self.history) == 0:
                return self.iteration
            shown, arrays = self.history.parameters_at(iteration)
            if shown == self.iteration:  # the latest: the leaves as training left them
                self._restore_live()
                if not self._fresh or self.shown != self.iteration:
                    self._evaluate(record=False)
                    self._fresh = not self.stopped
                    self.settle()
                self.shown = self.iteration
                return shown
            if self._live is None:
                self._live = [np.array(to_numpy(leaf), copy=True) for leaf in self.leaves]
            self._write(arrays)
            self._evaluate(record=False)
            self.settle()
            self.shown = shown
            return shown

    def _restore_live(self) -> None:
        if self._live is not None:
            self._write(self._live)
            self._live = None
            self._fresh = False

    def _write(self, arrays: Sequence[np.ndarray]) -> None:
        vg = _vg()
        with vg.no_grad():
            for leaf, array in zip(self.leaves, arrays, strict=True):
                leaf.copy_(vg.tensor(np.asarray(array)))

    # drawing ---------------------------------------------------------------------------------
    def loss_function(self) -> LossFunction:
        """The loss as a function of this run's parameters (for landscapes)."""
        return LossFunction(self.session, self.target,
                            [info.node_id for info in self.history.params])


def _diverged_text(what: str, value: float, iteration: int, config: TrainConfig) -> str:
    shown = "NaN" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if iteration == 0:  # no step was taken: the learning rate is not to blame
        return (f"The {what} is {shown} at iteration 0, before any step: training stopped. "
                "Check the graph's starting values.")
    return (f"The {what} became {shown} at iteration {iteration}: training stopped. "
            f"{config.describe()} diverges on this loss; try a smaller learning rate.")


def _param_infos(nodes: Sequence[Node], leaves: Sequence[Any]) -> list[ParamInfo]:
    arrays = [to_numpy(leaf) for leaf in leaves]
    total = sum(a.size for a in arrays)
    share = total if total <= MAX_TRACKED else max(1, MAX_TRACKED // len(arrays))
    return [ParamInfo(node.id, node.label, tuple(a.shape), a.dtype,
                      tuple(range(min(a.size, share))))
            for node, a in zip(nodes, arrays, strict=True)]


# --------------------------------------------------------------------------------------------
# Landscapes


class LossFunction:
    """The loss node's value for given values of some parameters, the others as the session
    holds them: for drawing the loss over a range or a grid. No gradients, no events, no
    hooks, and nothing in the session changes.

    >>> from visgrad.document import Session, examples
    >>> session = Session(examples.load("gradient_descent"))
    >>> session.run_forward()
    >>> f = LossFunction(session, session.backward_node, ["n1"])
    >>> f([np.float32(-1.5)]), f.curve(-2.0, 0.0, 3)[1].tolist()
    (-1.25, [-1.0, -1.0, 1.0])
    """

    def __init__(self, session: Session, target: Node, node_ids: Sequence[str]) -> None:
        self.session = session
        self.target = target
        self.node_ids = list(node_ids)
        document = session.document
        needed = {target.id} | {n.id for n in document if document.reaches(n.id, target.id)}
        self._plan = [node for node in document.topological_order() if node.id in needed]
        self._inputs = {node.id: [(port.name, document.input_edge(node.id, port.name))
                                  for port in node.input_ports()] for node in self._plan}
        self._templates = {node_id: to_numpy(session.tensor(node_id))
                           for node_id in self.node_ids}

    @property
    def size(self) -> int:
        """How many numbers the function takes (all elements of its parameters)."""
        return sum(int(a.size) for a in self._templates.values() if a is not None)

    def __call__(self, values: Sequence[Any]) -> float:
        """The loss for one value per parameter (arrays of their shapes; numbers for 1×1)."""
        vg = _vg()
        session = self.session
        computed: dict[tuple[str, str], Any] = {}
        try:
            overrides = {}
            for node_id, value in zip(self.node_ids, values, strict=True):
                template = self._templates[node_id]
                array = np.asarray(value, dtype=template.dtype).reshape(template.shape)
                overrides[node_id] = vg.tensor(array)
            with vg.no_grad(), np.errstate(all="ignore"):
                for node in self._plan:
                    names = node.output_names()
                    if node.id in overrides:
                        outputs: tuple[Any, ...] = (overrides[node.id],)
                    elif node.kind_info.is_source:
                        outputs = tuple(session.tensor(node.id, port) for port in names)
                    else:
                        inputs = {port: None if edge is None else
                                  computed[(edge.source, edge.source_port)]
                                  for port, edge in self._inputs[node.id]}
                        context = registry.EvaluationContext(node.label, session.max_elements,
                                                             _ignore, session.functions())
                        outputs = tuple(node.kind_info.evaluate(inputs, node.params, context))
                    for port, tensor in zip(names, outputs, strict=False):
                        computed[(node.id, port)] = tensor
            loss = computed[(self.target.id, self.target.output_names()[0])]
            return float(np.sum(to_numpy(loss), dtype=np.float64))
        except Exception:  # noqa: BLE001 - a point where the graph fails is a gap in the plot
            return math.nan

    def flat(self, vector: Sequence[float]) -> float:
        """The loss for all parameters' elements given as one flat vector."""
        values, start = [], 0
        for node_id in self.node_ids:
            size = self._templates[node_id].size
            values.append(np.asarray(vector[start: start + size]))
            start += size
        return self(values)

    def curve(self, low: float, high: float, points: int = 241) -> tuple[np.ndarray, np.ndarray]:
        """The loss over ``points`` values of a one-number parameter: (xs, losses)."""
        xs = np.linspace(low, high, points)
        return xs, np.array([self.flat([x]) for x in xs])

    def grid(self, x_range: tuple[float, float], y_range: tuple[float, float],
             points: int = 61) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The loss over a grid of two numbers: (xs, ys, losses[ix, iy])."""
        xs = np.linspace(*x_range, points)
        ys = np.linspace(*y_range, points)
        losses = np.array([[self.flat([x, y]) for y in ys] for x in xs])
        return xs, ys, losses


def _ignore(text: str) -> None:
    """Log lines of landscape evaluations go nowhere."""


def padded_range(values: Any, padding: float = 0.3,
                 minimum_span: float = 1.0) -> tuple[float, float]:
    """A range around the finite ``values`` with room to spare, for a landscape's axis.

    >>> padded_range([2.0, -1.5])
    (-2.55, 3.05)
    >>> padded_range([0.0])
    (-0.8, 0.8)
    """
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return -1.0, 1.0
    low, high = float(array.min()), float(array.max())
    span = max(high - low, minimum_span, 1e-6 * max(abs(low), abs(high)))
    middle = (low + high) / 2
    low, high = middle - span / 2, middle + span / 2
    pad = (high - low) * padding
    return round(low - pad, 12), round(high + pad, 12)


# --------------------------------------------------------------------------------------------
# Regression graphs


@dataclass(frozen=True)
class Regression:
    """A graph that fits data: a Data node's ``y`` is the loss's target, its ``x`` leads to
    the prediction (the loss's other input). :meth:`points` and :meth:`fit` read the
    session's current values, for a scatter plot and the fitted curve."""

    data_id: str
    x_port: str
    y_port: str
    prediction_id: str
    prediction_port: str

    def points(self, session: Session) -> tuple[np.ndarray, np.ndarray] | None:
        x = to_numpy(session.tensor(self.data_id, self.x_port))
        y = to_numpy(session.tensor(self.data_id, self.y_port))
        if x is None or y is None or x.size != y.size:
            return None
        return x.reshape(-1).astype(np.float64), y.reshape(-1).astype(np.float64)

    def fit(self, session: Session) -> tuple[np.ndarray, np.ndarray] | None:
        """(x, prediction) sorted by x, when there is one prediction per sample."""
        x = to_numpy(session.tensor(self.data_id, self.x_port))
        prediction = to_numpy(session.tensor(self.prediction_id, self.prediction_port))
        if x is None or prediction is None or x.size != prediction.size:
            return None
        x = x.reshape(-1).astype(np.float64)
        order = np.argsort(x, kind="stable")
        return x[order], prediction.reshape(-1).astype(np.float64)[order]


def find_regression(document: GraphDocument, target: Node | None) -> Regression | None:
    """The regression a loss node scores, if it scores one (see :class:`Regression`).

    >>> from visgrad.document import examples
    >>> doc = examples.load("linear_regression")
    >>> find_regression(doc, doc.node("loss")).prediction_id
    'n4'
    """
    if target is None:
        return None
    edges = document.edges_into(target.id)
    for data_edge in edges:
        data = document.nodes[data_edge.source]
        if data.kind != "Data":
            continue
        for other in edges:
            if other is data_edge or other.source == data.id:
                continue
            if document.reaches(data.id, other.source):
                x_ports = [p for p in data.output_names() if p != data_edge.source_port]
                if x_ports:
                    return Regression(data.id, x_ports[0], data_edge.source_port,
                                      other.source, other.source_port)
    return None


def train_to_csv(session: Session, config: TrainConfig, steps: int,
                 path: str | Path | None = None,
                 progress: Callable[[Trainer], None] | None = None) -> Trainer:
    """Train ``steps`` steps (headless); write the history to ``path`` if given."""
    trainer = Trainer(session, config)
    try:
        while trainer.iteration < steps and not trainer.stopped:
            trainer.run(min(steps - trainer.iteration, 100))
            if progress is not None:
                progress(trainer)
    finally:
        trainer.close()
    if path is not None:
        trainer.history.save_csv(path)
    return trainer


__all__ = [
    "MAX_TRACKED", "SNAPSHOT_LIMIT", "LossFunction", "ParamInfo", "Regression", "TrainConfig",
    "TrainRun", "Trainer", "find_regression", "optimizer_name", "padded_range", "train_to_csv",
]
