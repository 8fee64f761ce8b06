"""Reports of a run: the text table, the JSON file and the GFLOP/s plot."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import sys

__all__ = ["COLUMNS", "environment", "format_bytes", "format_seconds", "plot", "rows", "table",
           "write_json"]

#: Table header, in order.
COLUMNS = ("op", "case", "shape", "dtype", "device", "median", "GFLOP/s", "x ideal", "x torch",
           "bwd peak", "grads", "notes")

_NATIVE = {"numpy": "numpy's own", "cupy": "cupy's own"}


def format_seconds(s: float | None) -> str:
    """``1.23 us``, ``4.56 ms``, ``1.20 s``; ``-`` for None."""
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_bytes(n: int | None) -> str:
    """``512 B``, ``64.0 KiB``, ``16.0 MiB``; ``-`` for None."""
    if n is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def _ratio_cell(res, baseline: str) -> str:
    if baseline in res.missing:
        return res.missing[baseline]
    return _ratio(res.ratio(baseline))


def _notes(res) -> str:
    spec = res.spec
    notes = []
    if spec.kind == "bcast-fwd":
        notes.append("ideal = numpy.matmul itself" if spec.device == "cpu"
                     else "ideal = the library's matmul itself")
    if "naive" in res.timings:
        notes.append(f"x naive {_ratio(res.ratio('naive'))}")
    if "native" in res.timings:
        notes.append(f"x own-{spec.dtype} matmul {_ratio(res.ratio('native'))}")
    peaks = [f"{name} {format_bytes(res.peak_bytes[name])}" for name in ("ideal", "naive")
             if name in res.peak_bytes and spec.kind in ("bcast-w", "bcast-mid")]
    if peaks:
        notes.append("peak " + ", ".join(peaks))
    if res.errors:
        errs = ", ".join(f"{'own' if name == 'native' else name} {err:.1e}"
                         for name, err in res.errors.items())
        notes.append(f"rel err vs f64: {errs}")
    return "; ".join(notes)


def rows(results) -> list:
    """One list of cell strings per result, in :data:`COLUMNS` order."""
    out = []
    for res in results:
        spec = res.spec
        gf = res.gflops()
        peak = res.peak_bytes.get("xpgrad")
        out.append([
            spec.op,
            spec.label,
            spec.shape_text,
            spec.dtype,
            spec.device,
            format_seconds(res.median()),
            "-" if gf is None else f"{gf:.3g}",
            _ratio_cell(res, "ideal"),
            _ratio_cell(res, "torch"),
            format_bytes(peak),
            format_bytes(res.grad_bytes),
            _notes(res),
        ])
    return out


def table(results) -> str:
    """The results as an aligned text table, with a legend underneath."""
    body = rows(results)
    cells = [list(COLUMNS)] + body
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    numeric = {5, 6, 7, 8, 9, 10}

    def line(r):
        parts = [c.rjust(w) if i in numeric and c[:3] != "n/a" else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    legend = (
        "median: xpgrad's median time per call; GFLOP/s: useful FLOPs over it.\n"
        "x ideal, x torch, x naive: xpgrad's time over the baseline's, measured side by side "
        "(1.00 = as fast, 2.00 = twice as slow).\n"
        "ideal: hand-written minimum on the raw namespace (1 GEMM forward, 2 GEMMs + bias "
        "sum backward); naive: batched product then sum.\n"
        "bwd peak: xpgrad's peak memory during one backward (tracemalloc on NumPy, the CuPy "
        "pool on GPU); grads: nbytes of the gradients it returns (a broadcast view, as sum's, "
        "counts its full shape)."
    )
    return "\n".join([line(cells[0]), rule] + [line(r) for r in body] + ["", legend])


def environment(devices=()) -> dict:
    """Versions and machine facts for the report's ``meta``; imports nothing new
    except the array libraries already in use (numpy always, torch and cupy
    only when already imported)."""
    import numpy as np

    import xpgrad

    env = {
        "xpgrad": xpgrad.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    with contextlib.suppress(Exception):  # show_config's layout is not a stable API
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        env["blas"] = f"{blas.get('name')} {blas.get('version')}"
    torch = sys.modules.get("torch")
    env["torch"] = getattr(torch, "__version__", None)
    if torch is not None:
        env["torch_threads"] = torch.get_num_threads()
    cupy = sys.modules.get("cupy")
    env["cupy"] = getattr(cupy, "__version__", None)
    if cupy is not None and any(str(d).startswith("cuda") for d in devices):
        try:
            env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            env["gpus"] = [cupy.cuda.runtime.getDeviceProperties(int(str(d).split(":")[1]))
                           ["name"].decode() for d in devices if str(d).startswith("cuda")]
        except Exception:
            pass
    return env


def write_json(path, results, meta: dict) -> None:
    """Write ``{"meta": ..., "results": [...]}`` to ``path`` (directories created)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "results": [r.as_dict() for r in results]}, f, indent=1)
        f.write("\n")


_PLOT_KINDS = ("dispatch", "gemm", "membound", "half")
_STYLE = {"xpgrad": "-", "ideal": "--", "torch": ":", "native": "-."}


def plot(path, results) -> str:
    """Save a PNG of GFLOP/s against size, one panel per device and op.

    Lines are xpgrad, ideal, torch (and a half dtype's own matmul) per dtype,
    over the forward+backward cases of the ``dispatch``, ``gemm``,
    ``membound`` and ``half`` kinds.

    Returns
    -------
    str
        Empty on success, else why no plot was made (matplotlib missing,
        nothing to plot).
    """
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return ("matplotlib is not installed: no plot written "
                "(pip install 'xpgrad[plot]' or pip install matplotlib)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points: dict = {}
    for res in results:
        spec = res.spec
        if spec.kind not in _PLOT_KINDS or spec.phase != "fwd+bwd" or not spec.flops:
            continue
        if spec.op == "add_bias" and len(spec.shapes[0]) != 2:
            continue
        panel = points.setdefault((spec.device, spec.op), {})
        for impl in res.timings:
            if impl in _STYLE:
                panel.setdefault((spec.dtype, impl), []).append((spec.size, res.gflops(impl)))
    if not points:
        return "nothing to plot: no forward+backward cases of the gemm/dispatch/membound kinds"
    panels = sorted(points)
    cols = min(len(panels), 4)
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.5 * cols, 3.6 * nrows), squeeze=False)
    colors = {}
    for ax, key in zip(axes.flat, panels):
        for (dtype, impl), pts in sorted(points[key].items()):
            pts.sort()
            color = colors.setdefault(dtype, f"C{len(colors)}")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], _STYLE[impl], marker="o",
                    markersize=3, color=color, label=f"{impl} {dtype}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{key[1]} forward+backward on {key[0]}")
        ax.set_xlabel("n (largest dimension)")
        ax.set_ylabel("GFLOP/s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ""
