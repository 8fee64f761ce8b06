#!/usr/bin/env python
"""Gradients of a larger-than-memory loss with xpgrad on cubed (and dask).

On cubed, X (N x 64, float64) and the labels are generated lazily with
``cubed.random``, chunk by chunk inside the tasks; X is never materialised in
this process, and by default it is several times larger than cubed's
``allowed_mem``. Two losses:

- logistic regression, ``mean(logaddexp(0, z) - y*z)`` with ``z = X @ w``,
  ``w`` of shape (64,), y in {0, 1};
- softmax cross-entropy over (N, k) logits ``X @ W``, W of shape (64, k),
  against one-hot labels.

For each, the loss and its gradient are computed twice per repeat, in turn:
through xpgrad (``xpgrad.Tensor`` and ``xpgrad.array_api``, ``backward()``),
and written by hand in cubed's own namespace in closed form
(``X^T (sigmoid(z) - y) / N`` and ``X^T (softmax - onehot) / N``). The script
reports, for each loss:

- time (median and spread over ``--repeat`` alternating runs) and the ratio
  xpgrad / hand;
- the error of xpgrad's gradient against the hand-written one over all of X,
  and of both against NumPy on a subsample (the first rows of X, materialised);
- memory: each task's peak measured memory (cubed's ``TaskEndEvent``) against
  ``allowed_mem``, the workers' and this process's peak RSS;
- the memory model (cubed issue #518): each cubed op of the unoptimised plan,
  attributed to the xpgrad rule that made it, with its projected memory, split
  into forward (the ops of the loss's plan) and backward (the ops the gradient
  adds); the fused plans' ``max_projected_mem``; backward ops projected above
  the largest forward op, rechunks in the backward and chunks of one element
  are flagged.

The dask part (``--skip-dask`` to leave it out) runs the linear-layer gradient
of ``bench/dask_outofcore.py`` on a LocalCluster, through its ``main``.

    python bench/outofcore.py                       # X of 2 GB, allowed_mem 300MB
    python bench/outofcore.py --quick --skip-dask   # X of 200 MB, a fast check
    python bench/outofcore.py --json bench/results/outofcore.json
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import json
import math
import os
import platform
import random as pyrandom
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings

# One BLAS thread per process: cubed's processes executor sets this for its
# workers (and the NumPy reference below runs here), on a 2-core machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import xpgrad  # noqa: E402
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(_HERE))
    import xpgrad
import xpgrad.array_api as xp  # noqa: E402

import cubed  # noqa: E402
import cubed.array_api as cxp  # noqa: E402
import cubed.random  # noqa: E402
import psutil  # noqa: E402
from cubed.core import plan as cubed_plan  # noqa: E402
from cubed.runtime.types import Callback  # noqa: E402

FEATURES = 64
PRESETS = {
    # name: (rows, chunk_rows, allowed_mem)
    "default": (3_906_250, 78_125, "300MB"),  # X = 2.0 GB in 50 chunks of 40 MB
    "quick": (390_625, 31_250, "100MB"),  # X = 200 MB in 13 chunks of 16 MB
    "tiny": (20_000, 2_500, "8MB"),  # X = 10.24 MB in 8 chunks of 1.28 MB (the test's)
}
MB = 1e6


def fmt_bytes(n) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


# -- the data and the two losses ---------------------------------------------------
def make_data(args, spec):
    """X (N, 64) uniform in [-1, 1), the logistic labels y (N,) in {0, 1} and the
    softmax one-hot labels (N, k): lazy cubed arrays, the same values on every
    call (cubed.random draws its key from Python's ``random``)."""
    pyrandom.seed(args.seed)
    n, f, k, c = args.rows, FEATURES, args.classes, args.chunk_rows
    rng = np.random.default_rng(args.seed)
    w_true = cxp.asarray(rng.standard_normal(f) * 3 / math.sqrt(f), spec=spec)
    W_true = cxp.asarray(rng.standard_normal((f, k)) * 3 / math.sqrt(f), spec=spec)
    X = cubed.random.random((n, f), chunks=(c, f), spec=spec) * 2.0 - 1.0
    u = cubed.random.random((n,), chunks=(c,), spec=spec)
    # P(y = 1) = sigmoid(X @ w_true): y = [u < sigmoid(z)]
    y = cxp.astype(u < 1.0 / (1.0 + cxp.exp(-(X @ w_true))), cxp.float64)
    # Gumbel-max: label = argmax(X @ W_true + Gumbel noise), then one-hot
    g = cubed.random.random((n, k), chunks=(c, k), spec=spec)
    label = cxp.argmax(X @ W_true - cxp.log(-cxp.log(g * 0.999998 + 1e-6)), axis=1)
    onehot = cxp.astype(
        cxp.expand_dims(label, axis=1) == cxp.arange(k, spec=spec), cxp.float64
    )
    return X, y, onehot


def init_params(args, spec, loss):
    rng = np.random.default_rng(args.seed + 1)
    shape = (FEATURES,) if loss == "logistic" else (FEATURES, args.classes)
    return cxp.asarray(rng.standard_normal(shape) * 0.1, spec=spec)


def xpgrad_loss(loss, X, y, onehot, w0):
    """The loss as a user writes it with xpgrad: (loss array, gradient array)."""
    w = xpgrad.Tensor(w0, requires_grad=True)
    if loss == "logistic":
        z = xpgrad.Tensor(X) @ w
        value = xp.mean(xp.logaddexp(0.0, z) - xpgrad.Tensor(y) * z)
    else:
        logits = xpgrad.Tensor(X) @ w
        lse = xp.special.logsumexp(logits, axis=1)
        picked = xp.sum(xpgrad.Tensor(onehot) * logits, axis=1)
        value = xp.mean(lse - picked)
    value.backward()
    return value.data, w.grad


def hand_loss(loss, X, y, onehot, w, transpose=False):
    """The same loss and its gradient in closed form, in cubed's namespace.

    X^T r is contracted over the rows without transposing X (``r @ X``,
    ``tensordot(X, R, axes=(0, 0))``); ``transpose=True`` writes it
    ``matrix_transpose(X) @ r``, which makes cubed transpose each chunk of X
    (a copy of the chunk in its projected memory)."""
    n = X.shape[0]
    if loss == "logistic":
        z = X @ w
        value = cxp.mean(cxp.logaddexp(0.0, z) - y * z)
        r = 1.0 / (1.0 + cxp.exp(-z)) - y
        g = cxp.matrix_transpose(X) @ r if transpose else r @ X
        return value, g / n
    logits = X @ w
    m = cxp.max(logits, axis=1, keepdims=True)
    e = cxp.exp(logits - m)
    s = cxp.sum(e, axis=1, keepdims=True)
    value = cxp.mean(m[:, 0] + cxp.log(s[:, 0]) - cxp.sum(onehot * logits, axis=1))
    r = e / s - onehot
    g = cxp.matrix_transpose(X) @ r if transpose else cxp.tensordot(X, r, axes=([0], [0]))
    return value, g / n


def numpy_loss(loss, X, y, onehot, w):
    """NumPy reference on materialised (small) arrays."""
    n = X.shape[0]
    if loss == "logistic":
        z = X @ w
        value = np.mean(np.logaddexp(0.0, z) - y * z)
        return value, X.T @ (1.0 / (1.0 + np.exp(-z)) - y) / n
    logits = X @ w
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    value = np.mean(m[:, 0] + np.log(s[:, 0]) - (onehot * logits).sum(axis=1))
    return value, X.T @ (e / s - onehot) / n


def max_rel_err(a, b) -> float:
    """max |a - b| / max |b|: the largest error relative to the gradient's scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# -- measuring memory ----------------------------------------------------------------
class TaskMemory(Callback):
    """Each task's peak measured memory (ru_maxrss of the worker process after
    the task, as cubed's processes executor reports it), per op."""

    def __init__(self):
        self.by_op = {}  # op name -> [max peak end, min peak start, tasks]
        self.unmeasured = 0

    def on_task_end(self, event):
        if event.peak_measured_mem_end is None:
            self.unmeasured += event.num_tasks
            return
        rec = self.by_op.setdefault(event.name, [0, math.inf, 0])
        rec[0] = max(rec[0], event.peak_measured_mem_end)
        if event.peak_measured_mem_start is not None:
            rec[1] = min(rec[1], event.peak_measured_mem_start)
        rec[2] += event.num_tasks

    def summary(self):
        if not self.by_op:
            return {"measured": False, "unmeasured_tasks": self.unmeasured}
        peak_name = max(self.by_op, key=lambda k: self.by_op[k][0])
        return {
            "measured": True,
            "max_task_peak_bytes": int(self.by_op[peak_name][0]),
            "max_task_peak_op": peak_name,
            # a worker's ru_maxrss before its first task: the interpreter,
            # NumPy, cubed and zarr imported (cubed's "reserved memory")
            "worker_baseline_bytes": int(min(v[1] for v in self.by_op.values())),
            "tasks_measured": int(sum(v[2] for v in self.by_op.values())),
            "unmeasured_tasks": self.unmeasured,
        }


class RSSSampler:
    """Peak RSS of this process and of each of its child processes (the
    executor's workers), sampled every ``interval`` seconds."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.proc = psutil.Process()
        self.peak_self = 0
        self.peak_child = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                own = self.proc.memory_info().rss
                kids = []
                for c in self.proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        kids.append(c.memory_info().rss)
            except psutil.Error:
                continue
            self.peak_self = max(self.peak_self, own)
            self.peak_child = max(self.peak_child, max(kids, default=0))
            self.peak_total = max(self.peak_total, own + sum(kids))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# -- the memory model --------------------------------------------------------------
@contextlib.contextmanager
def deep_stacks(depth=60):
    """cubed records the 10 innermost frames of the call that made each op;
    inside a rule those can all be cubed's and xpgrad's helpers. Record more
    while the graphs are built, to find the rule."""
    original = cubed_plan.extract_stack_summaries
    cubed_plan.extract_stack_summaries = lambda frame, limit=None: original(frame, limit=depth)
    try:
        yield
    finally:
        cubed_plan.extract_stack_summaries = original


_RULE_INDEX = None


def rule_index():
    """(filename, first line, last line, rule name) of every xpgrad rule class."""
    global _RULE_INDEX
    if _RULE_INDEX is None:
        from xpgrad.ops._common import RULES

        # One parse per module (inspect.getsourcelines parses the whole file
        # again for every class: 10 s for xpgrad's rules).
        spans = {}
        for path in {inspect.getsourcefile(cls) for cls in RULES.values()}:
            with open(path) as f:
                tree = ast.parse(f.read())
            spans[path] = {n.name: (n.lineno, n.end_lineno) for n in ast.walk(tree)
                           if isinstance(n, ast.ClassDef)}
        index = []
        for name, cls in RULES.items():
            path = inspect.getsourcefile(cls)
            span = spans[path].get(cls.__name__)
            if span is not None:
                index.append((os.path.realpath(path), span[0], span[1], name))
        _RULE_INDEX = index
    return _RULE_INDEX


def attribute(summaries):
    """(rule, where): the xpgrad rule whose code made the op, and the innermost
    xpgrad frame (file:function:line); for ops made outside xpgrad, the
    innermost caller outside cubed."""
    summaries = summaries or []
    index = rule_index()
    rule = None
    for s in reversed(summaries):  # innermost first
        fn = os.path.realpath(s.filename)
        for f, a, b, name in index:
            if f == fn and a <= s.lineno <= b:
                rule = f"{name}.{s.name}"
                break
        if rule:
            break
    inner = next((s for s in reversed(summaries) if s.module.startswith("xpgrad.")), None)
    if inner is None:
        inner = next((s for s in reversed(summaries) if not s.is_cubed()), None)
        where = f"{os.path.basename(inner.filename)}:{inner.name}:{inner.lineno}" if inner else "?"
        return rule or f"(data: {inner.name if inner else '?'})", where
    where = f"{inner.module.removeprefix('xpgrad.')}:{inner.name}:{inner.lineno}"
    if rule is None:
        rule = f"({inner.module.removeprefix('xpgrad.')}.{inner.name})"
    return rule, where


def op_table(dag_all, forward_nodes, data_nodes):
    """One row per op with a primitive op, in the unoptimised plan: phase
    "data" (making X and the labels), "forward" (the rest of the loss's plan)
    or "backward" (what the gradient adds)."""
    rows = []
    for name, d in dag_all.nodes(data=True):
        if d.get("type") != "op" or "primitive_op" not in d:
            continue
        po = d["primitive_op"]
        rule, where = attribute(d.get("stack_summaries"))
        outs = [dag_all.nodes[o].get("target") for o in dag_all.successors(name)]
        out = outs[0] if outs else None
        shape = tuple(getattr(out, "shape", ()) or ())
        chunksize = tuple(getattr(out, "chunks", ()) or ())
        if chunksize and isinstance(chunksize[0], tuple):  # dask-style chunks
            chunksize = tuple(max(c) for c in chunksize)
        nchunks = math.prod(math.ceil(s / c) for s, c in zip(shape, chunksize)) if chunksize else 1
        rows.append({
            "op": name,
            "phase": ("data" if name in data_nodes else "forward") if name in forward_nodes else "backward",
            "rule": rule,
            "where": where,
            "cubed_op": d.get("op_name"),
            "cubed_func": d.get("func_name"),
            "projected_mem": int(po.projected_mem),
            "allowed_mem": int(po.allowed_mem),
            "num_tasks": int(po.num_tasks),
            "out_shape": list(shape),
            "out_chunksize": list(chunksize),
            "out_nchunks": int(nchunks),
        })
    order = {"data": 0, "forward": 1, "backward": 2}
    rows.sort(key=lambda r: (order[r["phase"]], int(r["op"].split("-")[-1]) if r["op"].split("-")[-1].isdigit() else 0))
    return rows


def memory_model(data_arrays, fw_arrays, all_arrays, data_chunks, hand=None):
    """The plan's ops with their projected memory, forward (data included) vs
    backward, and the fused plans' maxima (``hand``: label -> arrays, for
    comparison)."""
    dag_fw = cubed_plan.arrays_to_plan(*fw_arrays).dag
    dag_data = cubed_plan.arrays_to_plan(*data_arrays).dag
    plan_all = cubed_plan.arrays_to_plan(*all_arrays)
    allowed = all_arrays[0].spec.allowed_mem
    rows = op_table(plan_all.dag, set(dag_fw.nodes), set(dag_data.nodes))
    fw = [r for r in rows if r["phase"] != "backward"]
    bw = [r for r in rows if r["phase"] == "backward"]
    max_fw = max((r["projected_mem"] for r in fw), default=0)
    flags = []
    for r in bw:
        if r["projected_mem"] > max_fw:
            flags.append(f"backward op {r['op']} ({r['cubed_op']}/{r['cubed_func']}, {r['rule']} "
                         f"at {r['where']}) projects {fmt_bytes(r['projected_mem'])} > largest forward "
                         f"op {fmt_bytes(max_fw)}")
        if "rechunk" in (r["cubed_op"] or "") or r["cubed_func"] == "rechunk":
            flags.append(f"rechunk in the backward: {r['op']} ({r['rule']} at {r['where']})")
    for r in rows:
        # finer chunks than the data's (cubed's tree reductions write small
        # partial arrays of one-element chunks: not flagged)
        if r["out_nchunks"] > data_chunks:
            tiny = " of one element" if math.prod(r["out_chunksize"] or [1]) == 1 else ""
            flags.append(f"{r['phase']} op {r['op']} ({r['rule']} at {r['where']}) writes "
                         f"{r['out_nchunks']} chunks{tiny} of {r['out_shape']}, more than X's {data_chunks}")
        if r["projected_mem"] > r["allowed_mem"]:
            flags.append(f"{r['phase']} op {r['op']} ({r['rule']}) projects "
                         f"{fmt_bytes(r['projected_mem'])} > allowed_mem")

    def fused(arrays):
        fp = cubed_plan.arrays_to_plan(*arrays)._finalize(optimize_graph=True)
        return {
            "max_projected_mem": int(fp.max_projected_mem),
            "primitive_ops": int(fp.num_primitive_ops),
            "tasks": int(fp.num_tasks),
            "stages": int(fp.num_stages),
            "intermediate_bytes": int(fp.total_intermediate_nbytes),
        }

    out = {
        "ops": rows,
        "unoptimised": {
            "forward_ops": len(fw),
            "backward_ops": len(bw),
            "max_forward_projected_mem": int(max_fw),
            "max_backward_projected_mem": int(max((r["projected_mem"] for r in bw), default=0)),
            "backward_tasks": int(sum(r["num_tasks"] for r in bw)),
            "forward_tasks": int(sum(r["num_tasks"] for r in fw)),
        },
        "fused_forward": fused(fw_arrays),
        "fused_forward_backward": fused(all_arrays),
        "flags": flags,
        "allowed_mem": int(allowed),
    }
    for label, arrays in (hand or {}).items():
        out[f"fused_{label}"] = fused(arrays)
    return out


def print_model(loss, model):
    print(f"\nmemory model, {loss} (unoptimised plan; allowed_mem {fmt_bytes(model['allowed_mem'])}):")
    head = f"  {'xpgrad rule':<26} {'phase':<8} {'cubed op':<24} {'projected':>10} {'allowed':>9} {'tasks':>6}  where"
    print(head)
    print("  " + "-" * (len(head) + 10))
    for r in model["ops"]:
        op = f"{r['cubed_op']}/{r['cubed_func']}"
        print(f"  {r['rule'][:26]:<26} {r['phase']:<8} {op[:24]:<24} {fmt_bytes(r['projected_mem']):>10} "
              f"{fmt_bytes(r['allowed_mem']):>9} {r['num_tasks']:>6}  {r['where']}")
    u = model["unoptimised"]
    print(f"  ops: {u['forward_ops']} forward ({u['forward_tasks']} tasks), {u['backward_ops']} backward "
          f"({u['backward_tasks']} tasks); largest projected: forward {fmt_bytes(u['max_forward_projected_mem'])}, "
          f"backward {fmt_bytes(u['max_backward_projected_mem'])}")
    for key, label in (("fused_forward", "forward"), ("fused_forward_backward", "forward+backward"),
                       ("fused_hand", "hand-written"), ("fused_hand_transposed", "hand, X^T @ r")):
        if key in model:
            f = model[key]
            print(f"  fused plan, {label:<17}: max_projected_mem {fmt_bytes(f['max_projected_mem']):>9}, "
                  f"{f['primitive_ops']} ops, {f['tasks']} tasks, {f['stages']} stages, "
                  f"intermediates {fmt_bytes(f['intermediate_bytes'])}")
    if model["flags"]:
        for fl in model["flags"]:
            print(f"  FLAG: {fl}")
    else:
        print("  no flags: no backward op above the largest forward op, no rechunk, no tiny chunks")


# -- the runs -------------------------------------------------------------------
def make_spec(args, work_dir):
    if args.executor == "processes":
        from cubed.runtime.executors.local import ProcessesExecutor

        executor = ProcessesExecutor(max_workers=args.workers)
    elif args.executor == "threads":
        from cubed.runtime.executors.local import ThreadsExecutor

        executor = ThreadsExecutor(max_workers=args.workers)
    else:
        from cubed.runtime.executors.local import SingleThreadedExecutor

        executor = SingleThreadedExecutor()
    return cubed.Spec(work_dir=work_dir, allowed_mem=args.allowed_mem, reserved_mem=args.reserved_mem,
                      executor=executor)


def run_once(args, spec, loss, impl):
    """Build the graph and compute the loss and gradient; time and measure."""
    t0 = time.perf_counter()
    X, y, onehot, = make_data(args, spec)
    w0 = init_params(args, spec, loss)
    fn = xpgrad_loss if impl == "xpgrad" else hand_loss
    value, grad = fn(loss, X, y, onehot, w0)
    build_s = time.perf_counter() - t0
    mem = TaskMemory()
    t1 = time.perf_counter()
    v, g = cubed.compute(value, grad, callbacks=[mem], optimize_graph=True)
    compute_s = time.perf_counter() - t1
    return {"build_s": build_s, "compute_s": compute_s, "memory": mem.summary()}, (float(v), np.asarray(g))


def spread(times):
    med = statistics.median(times)
    return {
        "median_s": round(med, 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "spread_pct": round(100 * (max(times) - min(times)) / med, 1) if med else 0.0,
        "all_s": [round(t, 3) for t in times],
    }


def check(args, spec, loss, res):
    """xpgrad vs hand on all of X; both vs NumPy on the first rows of X."""
    (v_x, g_x), (v_h, g_h) = res["xpgrad"], res["hand"]
    m = min(args.rows, args.check_rows)
    X, y, onehot = make_data(args, spec)
    Xs, ys, os_ = X[:m], y[:m], onehot[:m]
    w0 = init_params(args, spec, loss)
    vx_s, gx_s = xpgrad_loss(loss, Xs, ys, os_, w0)
    vh_s, gh_s = hand_loss(loss, Xs, ys, os_, w0)
    _, gt_s = hand_loss(loss, Xs, ys, os_, w0, transpose=True)
    Xn, yn, on, vxn, gxn, vhn, ghn, gtn = cubed.compute(Xs, ys, os_, vx_s, gx_s, vh_s, gh_s, gt_s)
    vn, gn = numpy_loss(loss, np.asarray(Xn), np.asarray(yn), np.asarray(on), np.asarray(w0.compute()))
    out = {
        "grad_xpgrad_vs_hand_max_rel_err": max_rel_err(g_x, g_h),
        "loss_xpgrad_vs_hand_rel_err": abs(v_x - v_h) / abs(v_h),
        "subsample_rows": m,
        "subsample_grad_hand_vs_numpy_max_rel_err": max_rel_err(ghn, gn),
        "subsample_grad_hand_transposed_vs_numpy_max_rel_err": max_rel_err(gtn, gn),
        "subsample_grad_xpgrad_vs_numpy_max_rel_err": max_rel_err(gxn, gn),
        "subsample_loss_xpgrad_vs_numpy_rel_err": abs(float(vxn) - vn) / abs(vn),
        "loss": v_x,
        "grad_norm": float(np.linalg.norm(g_x)),
        "label_mean": float(np.mean(yn)) if loss == "logistic" else np.asarray(on).mean(axis=0).round(3).tolist(),
    }
    out["max_rel_err"] = max(v for k, v in out.items() if k.endswith("err"))
    out["ok"] = out["max_rel_err"] < 1e-8
    return out


def run_cubed(args):
    allowed = cubed.Spec(allowed_mem=args.allowed_mem).allowed_mem
    x_bytes = args.rows * FEATURES * 8
    chunk_bytes = args.chunk_rows * FEATURES * 8
    n_chunks = math.ceil(args.rows / args.chunk_rows)
    print(f"cubed {cubed.__version__}, executor {args.executor} ({args.workers} workers): X {args.rows} x {FEATURES} "
          f"float64 = {fmt_bytes(x_bytes)} in {n_chunks} chunks of {fmt_bytes(chunk_bytes)}, generated "
          f"lazily; allowed_mem {fmt_bytes(allowed)} (X is {x_bytes / allowed:.1f}x allowed_mem); "
          f"softmax over k={args.classes}")
    if x_bytes <= allowed:
        print("warning: X fits in allowed_mem; this run proves nothing out-of-core")
    base = args.work_dir or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix="xpgrad-cubed-", dir=base)
    out = {"config": {
        "rows": args.rows, "features": FEATURES, "classes": args.classes, "chunk_rows": args.chunk_rows,
        "n_chunks": n_chunks, "x_bytes": x_bytes, "chunk_bytes": chunk_bytes, "allowed_mem": allowed,
        "x_over_allowed_mem": round(x_bytes / allowed, 2), "executor": args.executor,
        "workers": args.workers, "repeat": args.repeat, "seed": args.seed, "work_dir": work_dir,
        "reserved_mem": cubed.Spec(reserved_mem=args.reserved_mem).reserved_mem,
    }, "losses": {}}
    try:
        spec = make_spec(args, work_dir)
        with RSSSampler() as rss:
            for loss in args.losses:
                print(f"\n== {loss} ==")
                # the plans, for the memory model (built with deep stacks, not computed)
                with deep_stacks():
                    X, y, onehot = make_data(args, spec)
                    w0 = init_params(args, spec, loss)
                    v_x, g_x = xpgrad_loss(loss, X, y, onehot, w0)
                    v_h, g_h = hand_loss(loss, X, y, onehot, w0)
                    v_t, g_t = hand_loss(loss, X, y, onehot, w0, transpose=True)
                model = memory_model([X, y, onehot], [v_x], [v_x, g_x], n_chunks,
                                     hand={"hand": [v_h, g_h], "hand_transposed": [v_t, g_t]})
                grad_chunks = [list(c) for c in g_x.chunks]
                times = {"xpgrad": [], "hand": []}
                builds = {"xpgrad": [], "hand": []}
                mems = {"xpgrad": [], "hand": []}
                res = {}
                for i in range(args.repeat):
                    order = ("xpgrad", "hand") if i % 2 == 0 else ("hand", "xpgrad")
                    for impl in order:
                        rep, r = run_once(args, spec, loss, impl)
                        res.setdefault(impl, r)
                        times[impl].append(rep["compute_s"])
                        builds[impl].append(rep["build_s"])
                        mems[impl].append(rep["memory"])
                        print(f"  repeat {i + 1} {impl:>6}: {rep['compute_s']:.2f} s "
                              f"(graph built in {rep['build_s'] * 1e3:.0f} ms)")
                chk = check(args, spec, loss, res)
                rec = {"time": {}, "memory": {}, "check": chk, "memory_model": model,
                       "grad_chunks": grad_chunks, "grad_xpgrad": res["xpgrad"][1].tolist(),
                       "loss_xpgrad": res["xpgrad"][0]}
                for impl in ("xpgrad", "hand"):
                    rec["time"][impl] = spread(times[impl])
                    rec["time"][impl]["graph_build_median_s"] = round(statistics.median(builds[impl]), 4)
                    ms = [m for m in mems[impl] if m.get("measured")]
                    if ms:
                        worst = max(ms, key=lambda m: m["max_task_peak_bytes"])
                        rec["memory"][impl] = {
                            "max_task_peak_bytes": worst["max_task_peak_bytes"],
                            "max_task_peak_op": worst["max_task_peak_op"],
                            "max_task_peak_over_allowed": round(worst["max_task_peak_bytes"] / allowed, 3),
                            "worker_baseline_bytes": min(m["worker_baseline_bytes"] for m in ms),
                        }
                    else:
                        rec["memory"][impl] = {"measured": False}
                rec["time"]["ratio_xpgrad_over_hand_median"] = round(
                    rec["time"]["xpgrad"]["median_s"] / rec["time"]["hand"]["median_s"], 3)
                rec["time"]["ratios_per_repeat"] = [round(a / b, 3) for a, b in zip(times["xpgrad"], times["hand"])]
                out["losses"][loss] = rec
                report_loss(loss, rec, allowed)
                print_model(loss, model)
        out["process"] = {
            "this_process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "sampled_this_process_peak_rss_bytes": rss.peak_self,
            "sampled_max_worker_peak_rss_bytes": rss.peak_child,
            "sampled_peak_total_rss_bytes": rss.peak_total,
        }
        p = out["process"]
        print(f"\nthis process: peak RSS {fmt_bytes(p['this_process_peak_rss_bytes'])}; workers: largest peak "
              f"RSS {fmt_bytes(p['sampled_max_worker_peak_rss_bytes'])}; all processes together at most "
              f"{fmt_bytes(p['sampled_peak_total_rss_bytes'])} (X is {fmt_bytes(x_bytes)})")
    finally:
        if not args.keep_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return out


def report_loss(loss, rec, allowed):
    t = rec["time"]
    for impl in ("xpgrad", "hand"):
        s = t[impl]
        m = rec["memory"][impl]
        mem = (f"max task peak {fmt_bytes(m['max_task_peak_bytes'])} = "
               f"{m['max_task_peak_over_allowed']:.2f}x allowed_mem (worker baseline "
               f"{fmt_bytes(m['worker_baseline_bytes'])})" if "max_task_peak_bytes" in m
               else "task memory not measured by this executor")
        print(f"  {impl:>6}: median {s['median_s']:.2f} s (min {s['min_s']:.2f}, max {s['max_s']:.2f}, "
              f"spread {s['spread_pct']:.0f}%); {mem}")
        if m.get("max_task_peak_over_allowed", 0) > 1:
            print(f"  WARNING: {impl}'s largest measured task peak exceeds allowed_mem (it includes the "
                  f"worker's baseline; see --reserved-mem)")
    print(f"  xpgrad / hand: {t['ratio_xpgrad_over_hand_median']:.2f} (median); per repeat "
          f"{', '.join(f'{r:.2f}' for r in t['ratios_per_repeat'])}")
    c = rec["check"]
    print(f"  check: grad xpgrad vs hand (all rows) {c['grad_xpgrad_vs_hand_max_rel_err']:.1e}; on the first "
          f"{c['subsample_rows']} rows vs NumPy: hand {c['subsample_grad_hand_vs_numpy_max_rel_err']:.1e}, "
          f"xpgrad {c['subsample_grad_xpgrad_vs_numpy_max_rel_err']:.1e}; max relative error "
          f"{c['max_rel_err']:.1e} ({'ok' if c['ok'] else 'FAILED'}); loss {c['loss']:.6f}")


def run_dask(args):
    """The linear-layer gradient of bench/dask_outofcore.py on a LocalCluster."""
    sys.path.insert(0, _HERE)
    import dask_outofcore

    argv = ["--repeat", str(args.repeat)] + (args.dask_args.split() if args.dask_args else [])
    print(f"\n== dask: bench/dask_outofcore.py {' '.join(argv)} ==")
    return dask_outofcore.main(argv)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="sizes: default (X 2 GB, allowed_mem 300MB), quick (200 MB, 100MB), tiny (10 MB, 8MB)")
    p.add_argument("--quick", dest="preset", action="store_const", const="quick", help="--preset quick")
    p.add_argument("--rows", type=int, help="rows of X (the preset's otherwise)")
    p.add_argument("--chunk-rows", type=int, help="rows per chunk of X")
    p.add_argument("--allowed-mem", help="cubed's allowed_mem (the preset's: 300MB by default)")
    p.add_argument("--reserved-mem", default=0,
                   help="cubed's reserved_mem (default 0: projected memory then leaves out the ~90-130 MB "
                   "a worker holds before its first task, which the measured peaks include)")
    p.add_argument("--classes", type=int, default=10, help="k, the softmax's classes (default 10)")
    p.add_argument("--losses", default="logistic,softmax", help="which losses (default both)")
    p.add_argument("--executor", choices=["processes", "threads", "single-threaded"], default="processes")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="executor's max_workers")
    p.add_argument("--repeat", type=int, default=3, help="alternating runs of each (default 3)")
    p.add_argument("--check-rows", type=int, default=20_000, help="rows of the NumPy subsample check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", help="folder for cubed's temporary work dir (removed after)")
    p.add_argument("--keep-work-dir", action="store_true")
    p.add_argument("--skip-cubed", action="store_true")
    p.add_argument("--skip-dask", action="store_true")
    p.add_argument("--dask-args", default="", help="extra arguments for bench/dask_outofcore.py")
    p.add_argument("--json", metavar="PATH", help="write all numbers here")
    args = p.parse_args(argv)
    rows, chunk_rows, allowed = PRESETS[args.preset]
    args.rows = args.rows or rows
    args.chunk_rows = min(args.chunk_rows or chunk_rows, args.rows)
    args.allowed_mem = args.allowed_mem or allowed
    args.losses = [s.strip() for s in args.losses.split(",") if s.strip()]
    return args


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message="Port 8787 is already in use")

    t0 = time.perf_counter()
    out = {
        "benchmark": "outofcore",
        "command": "python " + " ".join([os.path.relpath(__file__)] + list(argv if argv is not None else sys.argv[1:])),
        "preset": args.preset,
    }
    if not args.skip_cubed:
        out["cubed"] = run_cubed(args)
    if not args.skip_dask:
        out["dask"] = run_dask(args)
    out["total_script_s"] = round(time.perf_counter() - t0, 1)
    out["machine"] = {
        "cpus": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cubed": cubed.__version__,
        "xpgrad": xpgrad.__version__,
        "note": "shared machine, 2 cores; timings are indicative, see the spread",
    }
    print(f"\ntotal {out['total_script_s']:.0f} s")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=_jsonable)
            f.write("\n")
        print(f"wrote {args.json}")
    bad = [k for k, v in out.get("cubed", {}).get("losses", {}).items() if not v["check"]["ok"]]
    if bad:
        sys.exit(f"gradients differ from the reference: {', '.join(bad)}")
    return out


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    main()
