"""Engine benchmarks: visgrad against hand-written numpy gradients, torch, MyGrad and micrograd,
in one process.

Run: ``python benchmarks/bench_engine.py`` (add ``--quick`` for a fast smoke run). BLAS and torch
are pinned to one thread so the ratios compare the engines, not the thread pools. Each workload
is a forward and a backward pass. MyGrad and micrograd are measured when installed
(``pip install mygrad micrograd``); micrograd only has scalars, so it runs the scalar graph.

NOTE [pairs]: this machine is shared, so runs are interleaved and timed in CPU time
(``time.process_time``), which other processes barely disturb. Each ratio comes from visgrad
and that one peer alone, run in turn (visgrad, peer, visgrad, peer...): the median over the
rounds of visgrad's time divided by the peer's time in the same round. A third library run in
between would bill its after-effects to whichever run follows it: with torch's MLP step in the
same rounds, visgrad's batch-64 step took 1.55× numpy's when it ran right after torch and
1.32-1.37× when it did not. Every library of a row runs once before any pair is timed, so
that each pair finds the process in the same state: until torch had freed a big block once,
glibc gave every (1000,1000) array fresh pages from the kernel, 7,800 page faults per run of
numpy or visgrad. A row prints each library's median time (visgrad's over all its
runs) and each ratio. Graph generators live here, not in the product.

NOTE [phases]: the machine's speed moves in phases of seconds, and Python-bound work slows
more than numpy's kernels in a slow phase (the batch-64 MLP step: 1.22-1.26× numpy in a
fast phase, 1.30-1.36× in a slow one). Fifteen rounds of a 2 ms pair sample 30 ms, one
phase, so three runs of the same code gave 1.26, 1.29 and 1.36. A pair of libraries now
runs as many rounds as fit in about a second of CPU time (at least 15, at most 400), and
its median ratio is that second's typical one.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import visgrad as vg  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(1)
except ImportError:  # torch is a test-only dependency
    torch = None
try:
    import mygrad  # noqa: E402
except ImportError:  # optional peers
    mygrad = None
try:
    from micrograd.engine import Value as MicroValue  # noqa: E402
except ImportError:
    MicroValue = None

clock = time.process_time
# NOTE [collector]: the cyclic collector rescans every tracked object now and then; imports
# (torch above all) make 150k of them, which would bill visgrad's graph building (its graph is
# Python objects) for the peers being loaded in the same process. Freezing them, as the app
# does after startup, measures each library as if it ran alone.
gc.freeze()


# NOTE [garbage]: a library whose graph holds reference cycles (micrograd's closures refer to
# the values that hold them) leaves its graph to the cyclic collector, which then runs in
# whatever code comes next: 115,000 objects, 12-17 ms of collection after one 15,000-node
# micrograd graph, billed to the next library's run (visgrad run right after it measured
# 3.2x micrograd, 1.95x when each run started from a collected heap). So each timed run ends with a collection of what it left
# (visgrad leaves nothing there: a test checks it), and every library pays for its own garbage.


def paired(fns: dict, rounds: int) -> dict:
    """Run each of ``fns`` once per round, in turn (NOTE [pairs]); returns each name's list of
    CPU times in seconds, each with the collection of the garbage the run left (NOTE [garbage])."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            gc.collect()
            times[name].append(clock() - t0)
    return times


# ---- workload 1: a chain of tiny ops -----------------------------------------------------------

def chain_numpy(n):
    x = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    ys, y = [], x
    for i in range(n):  # alternate mul and add, saving what backward needs
        ys.append(y)
        y = y * 1.001 if i % 2 == 0 else y + 0.5
    g = np.ones_like(y)
    for i in reversed(range(n)):
        if i % 2 == 0:
            g = g * 1.001
    return g


def leaf(lib, data):
    """A tensor that requires grad, spelled as each library spells it."""
    if lib is mygrad:
        return mygrad.tensor(np.asarray(data, dtype=np.float32))
    if lib is torch and isinstance(data, np.ndarray):
        return torch.from_numpy(data).requires_grad_()
    if lib is vg and isinstance(data, np.ndarray):
        return vg.from_numpy(data).requires_grad_()
    return lib.tensor(data, requires_grad=True)


def chain_lib(lib, n):
    x = leaf(lib, [0.1, 0.2, 0.3])
    y = x
    for i in range(n):
        y = y * 1.001 if i % 2 == 0 else y + 0.5
    y.sum().backward()
    return x.grad


# ---- workload 2: many small ops into one loss ----------------------------------------------------

def wide_numpy(n, mats):
    total = np.zeros((4, 4), dtype=np.float32)
    for k in range(n // 2):
        a = mats[k % len(mats)]
        total = total + a * a  # two ops per term
    g = np.ones((4, 4), dtype=np.float32)
    grads = [2 * mats[k % len(mats)] * g for k in range(n // 2)]
    return grads


def wide_lib(lib, n, mats):
    leaves = [leaf(lib, m) for m in mats]
    total = None
    for k in range(n // 2):
        a = leaves[k % len(leaves)]
        term = a * a
        total = term if total is None else total + term
    total.sum().backward()
    return leaves[0].grad


# ---- workload 3: scalar graph ------------------------------------------------------------------

def scalar_lib(lib, n):
    """n//2 rounds of ``acc * 0.5 + relu(x_i)`` over 20 leaves: 1.5·n scalar ops."""
    if lib is MicroValue:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * n + 1000))  # its topo sort recurses
        xs = [MicroValue(0.01 * i) for i in range(20)]
        relu = MicroValue.relu
    else:
        xs = [leaf(lib, np.float32(0.01 * i)) for i in range(20)]
        relu = mygrad.nnet.activations.relu if lib is mygrad else lib.relu
    acc = xs[0]
    for i in range(n // 2):
        acc = acc * 0.5 + relu(xs[i % 20])
    acc.backward()
    return xs[1].grad


# ---- workload 4: kernel-bound elementwise on big arrays -----------------------------------------

def big_numpy(a, b):
    x = a * b
    y = x + a
    z = np.tanh(y)
    w = z * z
    loss = w.sum()
    g_w = np.ones_like(w)
    g_z = 2 * z * g_w
    g_y = g_z * (1 - z * z)
    g_x = g_y
    g_a = g_x * b + g_y
    g_b = g_x * a
    return loss, g_a, g_b


def big_lib(lib, a, b):
    ta, tb = leaf(lib, a), leaf(lib, b)
    x = ta * tb
    y = x + ta
    z = mygrad.tanh(y) if lib is mygrad else y.tanh()
    w = z * z
    w.sum().backward()
    return ta.grad, tb.grad


# ---- workload 5: MLP training step ---------------------------------------------------------------

def mlp_numpy(x, labels, w1, b1, w2, b2):
    h = x @ w1 + b1
    r = np.maximum(h, 0)
    logits = r @ w2 + b2
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    p = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(p[np.arange(n), labels]).mean()
    g = p
    g[np.arange(n), labels] -= 1
    g /= n
    gw2 = r.T @ g
    gb2 = g.sum(0)
    gr = g @ w2.T
    gh = gr * (h > 0)
    gw1 = x.T @ gh
    gb1 = gh.sum(0)
    return loss, gw1, gb1, gw2, gb2


def mlp_lib(lib, x, labels, params):
    """zero_grad() as torch's optimizers do it (set_to_none), forward, backward."""
    w1, b1, w2, b2 = params
    for p in params:
        p.grad = None
    h = x @ w1 + b1
    logits = h.relu() @ w2 + b2
    logp = logits.log_softmax(1)
    n = x.shape[0]
    loss = -(logp[lib.arange(n), labels]).mean()
    loss.backward()
    return loss


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_over_training(iterations: int) -> str:
    """Resident memory across SGD steps of a small MLP: saved tensors must be freed."""

    vg.manual_seed(0)
    model = vg.nn.Sequential(vg.nn.Linear(784, 256), vg.nn.ReLU(), vg.nn.Linear(256, 10))
    opt = vg.optim.SGD(model.parameters(), lr=0.01)
    x, labels = vg.randn(64, 784), vg.randint(0, 10, (64,))
    loss_fn = vg.nn.CrossEntropyLoss()
    marks = []
    for i in range(iterations):
        opt.zero_grad()
        loss_fn(model(x), labels).backward()
        opt.step()
        if i in (iterations // 10, iterations - 1):
            gc.collect()
            marks.append(_rss_mib())
    return f"{marks[0]:.1f} MiB after {iterations // 10} steps, {marks[1]:.1f} MiB after {iterations}"


def stepping_lib(n, stepped: bool):
    """The 1,000-op chain's backward as backward() drains it, or one step() at a time (the
    GUI's stepper): the same iteration, so the difference is what stepping itself costs."""
    x = vg.tensor([0.1, 0.2, 0.3], requires_grad=True)
    y = x
    for i in range(n):
        y = y * 1.001 if i % 2 == 0 else y + 0.5
    loss = y.sum()
    if stepped:
        it = vg.autograd.BackwardIteration([loss])
        while it.step() is not None:
            pass
    else:
        loss.backward()
    return x.grad


def rounds_for(fns: list, least: int, budget_s: float) -> int:
    """How many rounds of these runs fit in ``budget_s`` of CPU time, and at least ``least``
    (NOTE [phases])."""
    start = clock()
    for fn in fns:
        fn()
        gc.collect()
    one_round = clock() - start
    return max(least, min(400, int(budget_s / max(one_round, 1e-9))))


def run(quick: bool) -> list[tuple[str, str]]:
    least, budget_s = (5, 0.2) if quick else (15, 1.0)
    rows = []

    def row(name, fns: dict, unit=1, per=""):
        """Times in µs per ``unit`` items (``per`` names the item), or in ms when unit is 0."""
        fns = {k: f for k, f in fns.items() if f is not None}
        first, *peers = fns
        for fn in fns.values():  # warm-ups: every library of the row runs before any timing
            fn()
            gc.collect()
        mine, ratios, medians = [], {}, {}
        for peer in peers or [None]:  # NOTE [pairs]: one peer at a time
            pair = {first: fns[first], peer: fns[peer]} if peer else {first: fns[first]}
            times = paired(pair, rounds_for(list(pair.values()), least, budget_s))
            mine += times[first]
            if peer:
                medians[peer] = statistics.median(times[peer])
                ratios[peer] = statistics.median(a / b for a, b in zip(times[first], times[peer]))

        def fmt(t):
            return f"{t * 1e3:8.2f} ms" if unit == 0 else f"{t / unit * 1e6:8.2f} µs{per}"

        parts = [f"{first} {fmt(statistics.median(mine))}"]
        for peer in peers:
            parts.append(f"{peer} {fmt(medians[peer])} ({ratios[peer]:4.2f}x {peer})")
        rows.append((name, " | ".join(parts)))
        print(f"{name:<34} " + " | ".join(parts), flush=True)

    def peer(lib, fn):
        return (lambda: fn(lib)) if lib is not None else None

    n = 1000
    row("1,000-op chain on (3,)", {
        "visgrad": lambda: chain_lib(vg, n), "numpy": lambda: chain_numpy(n),
        "torch": peer(torch, lambda lib: chain_lib(lib, n)),
        "mygrad": peer(mygrad, lambda lib: chain_lib(lib, n))}, unit=n, per="/op")

    n_wide = 2000 if quick else 10000
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((4, 4)).astype(np.float32) for _ in range(50)]
    row(f"{n_wide:,} small (4,4) ops, one loss", {
        "visgrad": lambda: wide_lib(vg, n_wide, mats), "numpy": lambda: wide_numpy(n_wide, mats),
        "torch": peer(torch, lambda lib: wide_lib(lib, n_wide, mats)),
        "mygrad": peer(mygrad, lambda lib: wide_lib(lib, n_wide, mats))},
        unit=n_wide, per="/op")

    n_sc = 2000 if quick else 10000
    row(f"{n_sc:,}-node scalar graph", {
        "visgrad": lambda: scalar_lib(vg, n_sc),
        "micrograd": peer(MicroValue, lambda lib: scalar_lib(lib, n_sc)),
        "torch": peer(torch, lambda lib: scalar_lib(lib, n_sc)),
        "mygrad": peer(mygrad, lambda lib: scalar_lib(lib, n_sc))}, unit=n_sc * 1.5, per="/node")

    row("stepping the 1,000-op chain", {
        "step()": lambda: stepping_lib(n, True), "backward()": lambda: stepping_lib(n, False)},
        unit=n, per="/op")

    for batch in (64, 1024):
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        labels = rng.integers(0, 10, batch)
        init = [rng.standard_normal(s).astype(np.float32) * 0.05
                for s in ((784, 256), (256,), (256, 10), (10,))]
        vparams = [vg.tensor(p, requires_grad=True) for p in init]
        vx, vl = vg.tensor(x), vg.tensor(labels)
        fns = {"visgrad": lambda: mlp_lib(vg, vx, vl, vparams),
               "numpy": lambda: mlp_numpy(x, labels, *init)}
        if torch:
            tparams = [torch.tensor(p, requires_grad=True) for p in init]
            tx, tl = torch.tensor(x), torch.tensor(labels)
            fns["torch"] = lambda: mlp_lib(torch, tx, tl, tparams)
        row(f"MLP 784-256-10 step, batch {batch}", fns, unit=0)

    rss = memory_over_training(200 if quick else 1000)
    rows.append(("RSS over training", rss))
    print(f"{'RSS over training':<34} {rss}", flush=True)

    size = 500 if quick else 1000
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    row(f"elementwise fwd+bwd on ({size},{size})", {
        "visgrad": lambda: big_lib(vg, a, b), "numpy": lambda: big_numpy(a, b),
        "torch": peer(torch, lambda lib: big_lib(lib, a, b)),
        "mygrad": peer(mygrad, lambda lib: big_lib(lib, a, b))}, unit=0)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    peers = ", ".join(f"{name} {module.__version__}" for name, module in
                      (("numpy", np), ("torch", torch), ("mygrad", mygrad)) if module is not None)
    print(f"Command: python {' '.join(sys.argv)}")
    print(f"python {sys.version.split()[0]}, {peers}, {os.cpu_count()} cores, one BLAS thread, "
          f"CPU time, load average {os.getloadavg()[0]:.1f}", flush=True)
    run(args.quick)
