#!/usr/bin/env python
"""Out-of-core gradients of a linear layer with xpgrad on dask.distributed.

x (rows x features, float64) is generated lazily, chunk by chunk, on the
workers with ``dask.array.random``; it is never held in one place. Each worker
of a ``LocalCluster`` gets a ``memory_limit`` below the size of x (by default
the two workers' limits together are below it as well), and the script computes

    y = xpgrad.linear(x, w, b);  loss = 0.5 * sum(y * y);  loss.backward()

then brings back only the small results (loss, grad_w, grad_b). grad_w is a
tree reduction of per-chunk products y_i^T x_i, so each task needs one chunk
of x at a time and the chunks stream through the workers.

It starts a 1-worker and a 2-worker cluster (processes, one thread per
worker, every worker under the same limit), computes on them in turn
``--repeat`` times (1, 2, 1, 2, ...: on a shared machine other jobs' load
falls on both alike), and reports the compute time (best and median), each
worker's peak resident memory (sampled every few milliseconds on the worker by
a thread reading ``psutil.Process().memory_info().rss``; the distributed
worker's own memory monitor is kept as a cross-check), the bytes spilled to
disk, the CPU the workers and the whole host used, and checks the gradients
against a NumPy reference computed chunk by chunk in this process.

    python bench/dask_outofcore.py --json bench/results/dask_outofcore.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
import warnings

# One BLAS thread in this process too, as dask.distributed gives each worker:
# the NumPy reference below is computed here, and a multi-threaded OpenBLAS
# on a busy 2-core machine spins instead of computing.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

try:
    import xpgrad  # noqa: E402
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import xpgrad

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import distributed  # noqa: E402
import psutil  # noqa: E402
from dask.highlevelgraph import HighLevelGraph  # noqa: E402
from dask.utils import format_bytes, parse_bytes  # noqa: E402



# -- run on the workers ---------------------------------------------------------
def _start_sampler(dask_worker, interval):
    """Start a thread on the worker that records its peak RSS."""
    import threading

    proc = psutil.Process()
    t = proc.cpu_times()
    state = {"base": proc.memory_info().rss, "stop": False, "samples": 0, "cpu0": t.user + t.system}
    state["peak"] = state["base"]

    def loop():
        while not state["stop"]:
            rss = proc.memory_info().rss
            if rss > state["peak"]:
                state["peak"] = rss
            state["samples"] += 1
            time.sleep(interval)

    state["thread"] = threading.Thread(target=loop, name="xpgrad-rss", daemon=True)
    state["thread"].start()
    dask_worker._xpgrad_rss = state
    return state["base"]


def _stop_sampler(dask_worker):
    state = dask_worker._xpgrad_rss
    state["stop"] = True
    state["thread"].join()
    t = psutil.Process().cpu_times()
    monitor = list(dask_worker.monitor.quantities.get("memory", ()))
    spilled = getattr(dask_worker.data, "spilled_total", None)
    return {
        "baseline_rss": int(state["base"]),
        "peak_rss": int(state["peak"]),
        "samples": int(state["samples"]),
        "monitor_peak_rss": int(max(monitor)) if monitor else None,
        "spilled_to_disk_bytes": int(spilled.disk) if spilled is not None else 0,
        "memory_limit": int(dask_worker.memory_manager.memory_limit or 0),
        "cpu_s": round(t.user + t.system - state["cpu0"], 2),
    }


# -- the computation --------------------------------------------------------------
def build(args, w_h, b_h):
    """The lazy graph: loss, grad_w, grad_b (x itself needs no gradient)."""
    rng = da.random.default_rng(args.seed)
    x = rng.standard_normal((args.rows, args.features), chunks=(args.chunk_rows, args.features))
    xt = xpgrad.tensor(x)
    wt = xpgrad.tensor(da.from_array(w_h), requires_grad=True)
    bt = xpgrad.tensor(da.from_array(b_h), requires_grad=True)
    y = xpgrad.linear(xt, wt, bt)
    loss = (y * y).sum() * 0.5
    loss.backward()
    return x, (loss.data, wt.grad, bt.grad)


def _host_busy():
    """CPU seconds the whole host has spent busy so far (all processes)."""
    t = psutil.cpu_times()
    return t.user + t.system + getattr(t, "nice", 0.0)


def start_cluster(args, n_workers, local_dir, stack):
    t0 = time.perf_counter()
    cluster = stack.enter_context(
        distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=local_dir,
            silence_logs=logging.ERROR,
        )
    )
    client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
    client.wait_for_workers(n_workers)
    return client, time.perf_counter() - t0


def compute_once(args, client, w_h, b_h):
    """Build the graph, compute it on ``client``, and measure."""
    t = time.perf_counter()
    x, parts = build(args, w_h, b_h)
    graph_s = time.perf_counter() - t
    n_tasks = len(HighLevelGraph.merge(*[p.__dask_graph__() for p in parts]))
    client.run(_start_sampler, interval=args.sample_interval)
    busy0, t = _host_busy(), time.perf_counter()
    with distributed.get_task_stream(client) as ts:
        loss, gw, gb = client.compute(list(parts), sync=True)
    compute_s = time.perf_counter() - t
    host_busy = _host_busy() - busy0
    stats = client.run(_stop_sampler)
    rep = {
        "compute_s": compute_s,
        "graph_s": graph_s,
        "n_tasks": n_tasks,
        "host_busy": host_busy,
        "tasks": ts.data,
        "stats": stats,
    }
    return rep, (float(loss), np.asarray(gw), np.asarray(gb)), x


def summarize(args, n_workers, started, reps):
    """One run's record: the fastest repeat's times, peaks over all repeats."""
    times = [r["compute_s"] for r in reps]
    best = reps[min(range(len(reps)), key=times.__getitem__)]
    tasks = best["tasks"]
    workers = []
    for i, addr in enumerate(sorted(best["stats"])):
        per = [r["stats"][addr] for r in reps]
        busy = sum(
            ss["stop"] - ss["start"]
            for task in tasks if task["worker"] == addr
            for ss in task["startstops"] if ss["action"] == "compute"
        )
        s = {
            "worker": i,
            "memory_limit": per[0]["memory_limit"],
            "baseline_rss": per[0]["baseline_rss"],
            # over all repeats
            "peak_rss": max(p["peak_rss"] for p in per),
            "monitor_peak_rss": max((p["monitor_peak_rss"] or 0) for p in per) or None,
            "rss_samples": sum(p["samples"] for p in per),
            "spilled_to_disk_bytes": max(p["spilled_to_disk_bytes"] for p in per),
            # the fastest repeat
            "tasks": sum(1 for task in tasks if task["worker"] == addr),
            "task_compute_s": round(busy, 2),
            "cpu_s": best["stats"][addr]["cpu_s"],
        }
        s["peak_over_limit"] = round(s["peak_rss"] / s["memory_limit"], 3)
        s["peak_over_x"] = round(s["peak_rss"] / (args.rows * args.features * 8), 3)
        workers.append(s)
    compute_s = best["compute_s"]
    cpu = sum(s["cpu_s"] for s in workers)
    return {
        "workers": n_workers,
        "cluster_start_s": round(started, 2),
        "graph_build_s": round(best["graph_s"], 4),
        "graph_tasks": best["n_tasks"],
        "compute_s": round(compute_s, 2),
        "compute_s_median": round(sorted(times)[len(times) // 2], 2),
        "compute_s_all_repeats": [round(c, 2) for c in times],
        "workers_cpu_s": round(cpu, 2),
        # Cores in use during the fastest repeat (this machine has os.cpu_count()):
        # by the workers, and by every process on the host (other jobs included).
        "workers_cores_busy": round(cpu / compute_s, 2),
        "host_cores_busy": round(best["host_busy"] / compute_s, 2),
        "tasks_run": len(tasks),
        "per_worker": workers,
        "max_peak_rss": max(s["peak_rss"] for s in workers),
        "spilled_to_disk_bytes": sum(s["spilled_to_disk_bytes"] for s in workers),
    }


def reference(x, w_h, b_h):
    """NumPy loss and gradients, one chunk of x at a time in this process."""
    loss, gw, gb = 0.0, np.zeros_like(w_h), np.zeros_like(b_h)
    for i in range(x.numblocks[0]):
        xi = x.blocks[i, 0].compute(scheduler="sync")
        yi = xi @ w_h.T + b_h
        loss += 0.5 * float(np.sum(yi * yi))
        gw += yi.T @ xi
        gb += yi.sum(axis=0)
    return loss, gw, gb


def rel(a, b) -> float:
    return float(np.linalg.norm(np.ravel(a - b)) / np.linalg.norm(np.ravel(b)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=4 * 2**20, help="rows of x (default 4Mi)")
    p.add_argument("--features", type=int, default=64, help="in_features (columns of x)")
    p.add_argument("--out-features", type=int, default=16, help="out_features (rows of w)")
    p.add_argument("--chunk-rows", type=int, default=2**16, help="rows per chunk of x")
    p.add_argument(
        "--memory-limit", default="768MiB", help="memory_limit of each worker (default 768MiB)"
    )
    p.add_argument("--workers", default="1,2", help="cluster sizes to run, in order (default 1,2)")
    p.add_argument(
        "--repeat", type=int, default=3, help="computations per cluster size (default 3)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-interval", type=float, default=0.005, help="RSS sampling period, s")
    p.add_argument("--no-check", action="store_true", help="skip the NumPy reference")
    p.add_argument("--json", metavar="PATH", help="write the results here")
    args = p.parse_args(argv)
    # The scheduler's HTTP server (health checks; no dashboard here) moves to a
    # free port when another cluster on this machine holds 8787: not a problem.
    warnings.filterwarnings("ignore", message="Port 8787 is already in use")
    args.memory_limit = parse_bytes(args.memory_limit)
    sizes = [int(n) for n in args.workers.split(",")]

    t_all = time.perf_counter()
    x_bytes = args.rows * args.features * 8
    chunk_bytes = args.chunk_rows * args.features * 8
    print(
        f"x: {args.rows} x {args.features} float64 = {format_bytes(x_bytes)} in "
        f"{math.ceil(args.rows / args.chunk_rows)} chunks of {format_bytes(chunk_bytes)}; "
        f"w: {args.out_features} x {args.features}; memory_limit per worker "
        f"{format_bytes(args.memory_limit)}"
    )
    if x_bytes <= args.memory_limit:
        print("warning: x fits in one worker's memory limit; this run proves nothing out-of-core")

    rng = np.random.default_rng(args.seed + 1)
    w_h = rng.standard_normal((args.out_features, args.features)) / math.sqrt(args.features)
    b_h = rng.standard_normal(args.out_features)

    # Every cluster stays up for the whole run and the computations alternate
    # between them (1, 2, 1, 2, ...), so that load from other jobs on a shared
    # machine falls on both sizes alike.
    reps = {n: [] for n in sizes}
    results = {}
    with tempfile.TemporaryDirectory(prefix="xpgrad-dask-") as local_dir, \
            contextlib.ExitStack() as stack:
        clients = {n: start_cluster(args, n, local_dir, stack) for n in sizes}
        for i in range(args.repeat):
            for n in sizes:
                rep, res, x = compute_once(args, clients[n][0], w_h, b_h)
                reps[n].append(rep)
                results.setdefault(n, res)
                print(f"  repeat {i + 1}, {n} worker(s): {rep['compute_s']:.2f} s")
    runs = [summarize(args, n, clients[n][1], reps[n]) for n in sizes]
    for r in runs:
        peaks = ", ".join(
            f"w{s['worker']} {format_bytes(s['peak_rss'])} ({s['tasks']} tasks, "
            f"{s['cpu_s']:.1f} CPU s)"
            for s in r["per_worker"]
        )
        print(
            f"{r['workers']} worker(s): compute {r['compute_s']:.2f} s best, "
            f"{r['compute_s_median']:.2f} s median (graph of {r['graph_tasks']} tasks built in "
            f"{r['graph_build_s'] * 1e3:.0f} ms); peak RSS {peaks}; spilled "
            f"{format_bytes(r['spilled_to_disk_bytes'])}; cores busy: workers "
            f"{r['workers_cores_busy']}, whole host {r['host_cores_busy']}"
        )

    check = None
    if not args.no_check:
        t = time.perf_counter()
        loss_r, gw_r, gb_r = reference(x, w_h, b_h)
        check = {"reference_s": round(time.perf_counter() - t, 2), "runs": []}
        for n, (loss, gw, gb) in results.items():
            check["runs"].append({
                "workers": n,
                "loss_rel_err": abs(loss - loss_r) / abs(loss_r),
                "grad_w_rel_err": rel(gw, gw_r),
                "grad_b_rel_err": rel(gb, gb_r),
            })
        worst = max(max(c["loss_rel_err"], c["grad_w_rel_err"], c["grad_b_rel_err"]) for c in check["runs"])
        check["max_rel_err"] = worst
        check["ok"] = worst < 1e-10
        print(f"NumPy chunk-by-chunk reference: max relative error {worst:.1e}")

    by_n = {r["workers"]: r for r in runs}
    out = {
        "benchmark": "dask_outofcore",
        "what": "loss = 0.5*||linear(x, w, b)||^2; loss, grad_w, grad_b computed on a "
        "dask.distributed LocalCluster (processes, 1 thread per worker); x generated "
        "lazily on the workers with dask.array.random, never gathered",
        "command": "python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:])),
        "config": {
            "rows": args.rows,
            "features": args.features,
            "out_features": args.out_features,
            "chunk_rows": args.chunk_rows,
            "n_chunks": math.ceil(args.rows / args.chunk_rows),
            "dtype": "float64",
            "x_bytes": x_bytes,
            "chunk_bytes": chunk_bytes,
            "memory_limit_per_worker_bytes": args.memory_limit,
            "x_over_limit": round(x_bytes / args.memory_limit, 2),
            "threads_per_worker": 1,
            "rss_sample_interval_s": args.sample_interval,
            "repeat": args.repeat,
            "seed": args.seed,
        },
        "runs": runs,
        # time on 1 worker / time on 2 workers: best of the repeats, and median
        "speedup_2_vs_1": (
            round(by_n[1]["compute_s"] / by_n[2]["compute_s"], 2) if 1 in by_n and 2 in by_n else None
        ),
        "speedup_2_vs_1_median": (
            round(by_n[1]["compute_s_median"] / by_n[2]["compute_s_median"], 2)
            if 1 in by_n and 2 in by_n else None
        ),
        "check": check,
        "total_script_s": round(time.perf_counter() - t_all, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "ram_bytes": psutil.virtual_memory().total,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "xpgrad": xpgrad.__version__,
            "note": "shared with other jobs while it ran; timings are indicative",
        },
    }
    if out["speedup_2_vs_1"] is not None:
        print(
            f"2 workers vs 1: {out['speedup_2_vs_1']:.2f}x faster (best), "
            f"{out['speedup_2_vs_1_median']:.2f}x (median)"
        )
    print(f"total {out['total_script_s']:.0f} s")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    if check is not None and not check["ok"]:
        sys.exit("gradients differ from the NumPy reference")
    return out


if __name__ == "__main__":
    main()
