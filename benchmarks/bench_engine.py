"""Engine benchmarks: visgrad against hand-written numpy gradients and torch, in one process.

Run: ``python benchmarks/bench_engine.py`` (add ``--quick`` for a fast smoke run). BLAS and torch
are pinned to one thread so the ratios compare the engines, not the thread pools. Each workload
is a forward and a backward pass; the printed ratios are visgrad's time over the other's.
Graph generators live here, not in the product.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def best_of(fn, repeat: int) -> float:
    """Median of ``repeat`` runs after one warm-up, in seconds."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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


def chain_lib(lib, n):
    x = lib.tensor([0.1, 0.2, 0.3], requires_grad=True)
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
    leaves = [lib.tensor(m, requires_grad=True) for m in mats]
    total = None
    for k in range(n // 2):
        a = leaves[k % len(leaves)]
        term = a * a
        total = term if total is None else total + term
    total.sum().backward()
    return leaves[0].grad


# ---- workload 3: scalar graph ------------------------------------------------------------------

def scalar_lib(lib, n):
    xs = [lib.tensor(0.01 * i, requires_grad=True) for i in range(20)]
    acc = xs[0]
    for i in range(n // 2):
        acc = acc * 0.5 + xs[i % 20].tanh()
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
    ta = lib.tensor(a, requires_grad=True) if lib is vg else lib.from_numpy(a).requires_grad_()
    tb = lib.tensor(b, requires_grad=True) if lib is vg else lib.from_numpy(b).requires_grad_()
    x = ta * tb
    y = x + ta
    z = y.tanh()
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
    w1, b1, w2, b2 = params
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
    import gc  # noqa: PLC0415

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


def run(quick: bool) -> list[tuple[str, str]]:
    rep = 3 if quick else 7
    rows = []

    def row(name, t_vg, t_np=None, t_torch=None, unit=1, per=""):
        """Times in µs per ``unit`` items (``per`` names the item), or in ms when unit is 0."""
        def fmt(t):
            return f"{t * 1e3:8.2f} ms" if unit == 0 else f"{t / unit * 1e6:8.2f} µs{per}"

        parts = [f"visgrad {fmt(t_vg)}"]
        if t_np is not None:
            parts.append(f"numpy {fmt(t_np)} ({t_vg / t_np:4.2f}x numpy)")
        if t_torch is not None:
            parts.append(f"torch {fmt(t_torch)} ({t_vg / t_torch:4.2f}x torch)")
        rows.append((name, " | ".join(parts)))
        print(f"{name:<34} " + " | ".join(parts), flush=True)

    n = 1000
    row("1,000-op chain on (3,)", best_of(lambda: chain_lib(vg, n), rep),
        best_of(lambda: chain_numpy(n), rep),
        best_of(lambda: chain_lib(torch, n), rep) if torch else None, unit=n, per="/op")

    n_wide = 2000 if quick else 10000
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((4, 4)).astype(np.float32) for _ in range(50)]
    row(f"{n_wide:,} small (4,4) ops, one loss", best_of(lambda: wide_lib(vg, n_wide, mats), rep),
        best_of(lambda: wide_numpy(n_wide, mats), rep),
        best_of(lambda: wide_lib(torch, n_wide, mats), rep) if torch else None,
        unit=n_wide, per="/op")

    n_sc = 2000 if quick else 10000
    row(f"{n_sc:,}-node scalar graph", best_of(lambda: scalar_lib(vg, n_sc), rep), None,
        best_of(lambda: scalar_lib(torch, n_sc), rep) if torch else None, unit=n_sc * 1.5,
        per="/node")

    for batch in (64, 1024):
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        labels = rng.integers(0, 10, batch)
        init = [rng.standard_normal(s).astype(np.float32) * 0.05
                for s in ((784, 256), (256,), (256, 10), (10,))]
        vparams = [vg.tensor(p, requires_grad=True) for p in init]
        vx, vl = vg.tensor(x), vg.tensor(labels)
        t_vg = best_of(lambda: mlp_lib(vg, vx, vl, vparams), rep)
        t_np = best_of(lambda: mlp_numpy(x, labels, *init), rep)
        t_torch = None
        if torch:
            tparams = [torch.tensor(p, requires_grad=True) for p in init]
            tx, tl = torch.tensor(x), torch.tensor(labels)
            t_torch = best_of(lambda: mlp_lib(torch, tx, tl, tparams), rep)
        row(f"MLP 784-256-10 step, batch {batch}", t_vg, t_np, t_torch, unit=0)

    rss = memory_over_training(200 if quick else 1000)
    rows.append(("RSS over training", rss))
    print(f"{'RSS over training':<34} {rss}", flush=True)

    size = 500 if quick else 1000
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    row(f"elementwise fwd+bwd on ({size},{size})", best_of(lambda: big_lib(vg, a, b), rep),
        best_of(lambda: big_numpy(a, b), rep),
        best_of(lambda: big_lib(torch, a, b), rep) if torch else None, unit=0)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    run(parser.parse_args().quick)
