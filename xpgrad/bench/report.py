"""Reports of a run: the text table (at most 120 columns), the noise summary,
the JSON file and the plot."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys

from .._device import Device
from .timing import MAX_SPREAD, MIN_ROUNDS

__all__ = ["COLUMNS", "WIDTH", "environment", "format_bytes", "format_ratio", "format_seconds",
           "noise", "plot", "table", "write_json"]

#: Table header, in order. ``x tape`` and ``x torch`` are left out of a block
#: where no case has them; the namespace and higher kinds' blocks leave out GFLOP/s.
COLUMNS = ("case", "shape", "time", "GFLOP/s", "x ideal", "x tape", "x torch", "notes")
#: The kinds with a block of their own after the others, and their section lines' words.
OWN_BLOCKS = {"namespace": "namespace kind (xpgrad.array_api)",
              "higher": "higher kind (xpgrad.hvp, xpgrad.hessian; ideal = xpgrad.value_and_grad)"}
#: The widest line the table writes.
WIDTH = 120
_NUMERIC = {"time", "GFLOP/s", "x ideal", "x tape", "x torch"}

LEGEND = f"""\
time: xpgrad's median seconds per call, forward+backward (bcast-w: backward only; bcast-fwd:
forward only; mlp_step: one training step, forward, backward and the Adam update; higher: one
call of xpgrad.hvp or xpgrad.hessian); GFLOP/s: the useful FLOPs over it. x ideal, x tape,
x torch, naive, own: the median over interleaved rounds of xpgrad's time / the baseline's in
the same round (1.00 = as fast, 2.00 = twice as slow), ± half its spread in % of the median: the
10th to 90th percentiles of the per-round ratios, stretched to take in each pass's median.
?: do not trust it, the spread is over ±{MAX_SPREAD / 2:.0%}, or it comes from fewer than
{MIN_ROUNDS} rounds. ideal: the hand-written minimum on the raw namespace (higher kind:
xpgrad.value_and_grad of the same function; its torch is torch.func); tape: a minimal
reverse-mode tape in Python over the raw namespace (namespace kind); naive: the batched product
then a sum; own: the namespace's own half-precision matmul. mem: peak memory of one backward,
xpgrad vs naive (namespace kind: vs ideal, and what xpgrad's forward kept plus its gradients'
bytes; higher kind: of one call, vs ideal); err: max relative error against float64, xpgrad vs
own (higher kind: vs torch, against the derivatives derived by hand). Details in --json."""


def format_seconds(s: float | None) -> str:
    """``1.23 us``, ``4.56 ms``, ``1.20 s``; ``-`` for None."""
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_bytes(n: int | None) -> str:
    """``512B``, ``64K``, ``1.5M``, ``16M`` (binary units); ``-`` for None."""
    if n is None:
        return "-"
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.{0 if n >= 10 * scale else 1}f}{unit}"
    return f"{n}B"


def format_ratio(r, pm: str = "±") -> str:
    """``0.89±4%``, ``1.20±35%?`` for a flagged :class:`~xpgrad.bench.timing.Ratio`."""
    if r is None:
        return "-"
    value = f"{r.median:.2f}" if r.median >= 0.1 else f"{r.median:.2g}"
    half = min(99, round(50 * r.spread)) if r.spread < float("inf") else 99
    return f"{value}{pm}{half}%" + ("?" if r.flag else "")


def _notes(res, pm) -> str:
    notes = []
    if res.spec.kind == "bcast-fwd":
        notes.append("ideal = the library's matmul")
    for name, label in (("naive", "naive"), ("native", "own")):
        if name in res.timings:
            notes.append(f"{label} {format_ratio(res.ratio(name), pm)}")
    if res.spec.kind == "higher" and res.peak_bytes.get("xpgrad") is not None:
        peaks = (format_bytes(res.peak_bytes.get(n)) for n in ("xpgrad", "ideal"))
        notes.append("mem {} vs {}".format(*peaks))
    if res.spec.kind == "namespace" and res.peak_bytes.get("xpgrad") is not None:
        peaks = (format_bytes(res.peak_bytes.get(n)) for n in ("xpgrad", "ideal"))
        kept, grads = format_bytes(res.kept_bytes.get("xpgrad")), format_bytes(res.grad_bytes)
        notes.append("mem {} vs {}".format(*peaks) + f" (kept {kept} + grads {grads})")
    if res.peak_bytes.get("naive") is not None:
        peaks = (format_bytes(res.peak_bytes.get(n)) for n in ("xpgrad", "naive"))
        notes.append("mem {} vs {}".format(*peaks))
    if res.errors:
        errors = (f"{e:.0e}".replace("e-0", "e-") for e in res.errors.values())
        notes.append("err " + " vs ".join(errors))
    return ", ".join(notes)


def _shape(spec) -> str:
    """The shapes, without what the others imply: linear's bias, add_bias's
    axis 1, softmax_ce's labels; mlp_step's data and hidden units; the
    higher kind's w alone (a and v have its shape)."""
    if spec.kind == "higher":
        return "w({},{})".format(*spec.shapes[1])
    if spec.op == "mlp_step":
        return "x({},{}) hidden {}".format(*spec.shapes[0], spec.shapes[3][0])
    text = spec.shape_text.replace(" axis 1", "")
    if spec.op == "softmax_ce":
        return text.split(" labels(", 1)[0]
    return text.rsplit(" b(", 1)[0] if spec.op == "linear" else text


def _row(res, columns, pm) -> list:
    spec = res.spec
    gf = res.gflops()
    cells = {
        # a block of its own says its kind once, in its section lines
        "case": spec.op if spec.kind in OWN_BLOCKS else f"{spec.op} {spec.kind}",
        "shape": _shape(spec),
        "time": format_seconds(res.median()),
        "GFLOP/s": "-" if gf is None else f"{gf:.3g}" if gf >= 0.01 else "<0.01",
        "x ideal": format_ratio(res.ratio("ideal"), pm),
        "x tape": format_ratio(res.ratio("tape"), pm),
        "x torch": format_ratio(res.ratio("torch"), pm),
        "notes": _notes(res, pm),
    }
    return [cells[c] for c in columns]


def _lines(cells, numeric) -> list:
    """Aligned lines of ``cells``, the header's underlined."""
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    out = []
    for r in cells[:1] + [["-" * w for w in widths]] + cells[1:]:
        parts = [c.rjust(w) if i in numeric else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(parts).rstrip())
    return out


def _block(results, width: int, pm: str) -> list:
    """The lines of one aligned block of rows: its header, then one section
    per device and dtype. Columns no row of the block has are left out."""
    own = OWN_BLOCKS.get(results[0].spec.kind)
    has = {f"x {name}": any(name in r.timings for r in results) for name in ("tape", "torch")}
    columns = [c for c in COLUMNS if has.get(c, True) and not (own and c == "GFLOP/s")]
    numeric = {i for i, c in enumerate(columns) if c in _NUMERIC}
    body = [_row(r, columns, pm) for r in results]
    # The notes (last) take what the other columns leave of the width.
    room = width - sum(max(len(r[i]) for r in [columns] + body) + 2
                       for i in range(len(columns) - 1))
    for r in body:
        r[-1] = r[-1] if len(r[-1]) <= room else r[-1][: max(room - 3, 0)] + "..."
    lines = _lines([list(columns)] + body, numeric)
    out, section = lines[:2], None
    for res, line in zip(results, lines[2:]):
        if (res.spec.device, res.spec.dtype) != section:
            section = (res.spec.device, res.spec.dtype)
            out.append(f"-- {section[0]}, {section[1]}" + (f", {own}" if own else ""))
        out.append(line)
    return out


def table(results, width: int = WIDTH, pm: str = "±") -> str:
    """The results as aligned text, each line at most ``width`` characters
    (the notes are cut to fit), followed by why a baseline is missing (said
    once) and the legend. ``pm`` is the plus-minus sign (``"+-"`` for an
    ASCII terminal).

    The cases of the ``namespace`` kind, then those of the ``higher`` kind,
    if any, make blocks after the others, with columns of their own (the
    namespace's ``x tape``; no GFLOP/s), so that no block's notes lose room
    to another's columns (see :data:`OWN_BLOCKS`). Each block has one
    section per device and dtype."""
    blocks = [[r for r in results if r.spec.kind not in OWN_BLOCKS]]
    blocks += [[r for r in results if r.spec.kind == kind] for kind in OWN_BLOCKS]
    out: list = []
    for block in filter(None, blocks):
        out += ([""] if out else []) + _block(block, width, pm)
    missing: dict = {}
    for res in results:
        for name, why in res.missing.items():
            missing.setdefault((name, why), []).append(res)
    out.append("")
    for (name, why), hit in missing.items():
        where = ("any case" if len(hit) == len(results)
                 else f"{len(hit)} case" + ("s" if len(hit) > 1 else ""))
        out.append(f"{'x torch' if name == 'torch' else 'own'}: not measured in {where}: {why}")
    return "\n".join(out + [LEGEND.replace("±", pm)])


def noise(results) -> dict:
    """How noisy the run was: the spread of every ratio, summed up.

    Returns
    -------
    dict
        ``ratios`` (how many), ``flagged`` (how many carry a flag),
        ``median_spread`` and ``worst_spread`` (see
        :attr:`~xpgrad.bench.timing.Ratio.spread`), ``worst``
        (the case and baseline of the widest spread).
    """
    ratios = [(r, res, name) for res in results for name, r in res.ratios().items()]
    spreads = [(r.spread, res, name) for r, res, name in ratios]
    if not spreads:
        return {"ratios": 0, "flagged": 0, "median_spread": None, "worst_spread": None,
                "worst": None}
    worst = max(spreads, key=lambda t: t[0])
    return {
        "ratios": len(spreads),
        "flagged": sum(bool(r.flag) for r, _, _ in ratios),
        "median_spread": statistics.median(s for s, _, _ in spreads),
        "worst_spread": worst[0],
        "worst": f"x {worst[2]}, {worst[1].spec.op} {worst[1].spec.kind} "
                 f"{_shape(worst[1].spec)} {worst[1].spec.dtype} {worst[1].spec.device}",
    }


def noise_line(summary: dict) -> str:
    """The noise summary as one or two lines of text."""
    if not summary["ratios"]:
        return "noise: no ratio measured"
    return (f"noise: {summary['flagged']} of {summary['ratios']} ratios flagged '?'; spread "
            f"(width / median) {summary['median_spread']:.0%} at the median,\n"
            f"       {summary['worst_spread']:.0%} at the widest ({summary['worst']})")


def environment(devices=()) -> dict:
    """Versions and machine facts; imports nothing new (torch and cupy are
    reported only when already imported)."""
    import numpy as np

    import xpgrad

    env = {"xpgrad": xpgrad.__version__, "python": sys.version.split()[0],
           "platform": platform.platform(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "numpy": np.__version__}
    with contextlib.suppress(Exception):  # show_config's layout is not a stable API
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        env["blas"] = f"{blas.get('name')} {blas.get('version')}"
    torch = sys.modules.get("torch")
    env["torch"] = getattr(torch, "__version__", None)
    if torch is not None:
        env["torch_threads"] = torch.get_num_threads()
    cupy = sys.modules.get("cupy")
    env["cupy"] = getattr(cupy, "__version__", None)
    gpus = [dev.index for dev in map(Device, devices) if dev.kind == "cuda"]
    if cupy is not None and gpus:
        with contextlib.suppress(Exception):
            env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            env["gpus"] = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode()
                           for i in gpus]
    return env


def write_json(path, results, meta: dict) -> None:
    """Write ``{"meta": ..., "results": [...]}`` to ``path`` (directories created)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "results": [r.as_dict() for r in results]}, f, indent=1)
        f.write("\n")


# -- plot ---------------------------------------------------------------------

_DTYPE_STYLE = {"float32": ("o", "-"), "float64": ("s", "--"), "float16": ("^", ":"),
                "bfloat16": ("v", "-.")}
_IMPL_COLOR = {"xpgrad": "C0", "ideal": "C2", "torch": "C3"}
_CLIP = 10.0
#: The ratio axes' ticks, labelled as plain numbers.
RATIO_TICKS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)
#: The smallest font on the plot, in points.
MIN_FONT = 9
_PANEL_TITLES = {"ideal": "xpgrad time / ideal time", "tape": "xpgrad time / tape time",
                 "torch": "xpgrad time / torch time"}


def _case_label(spec, devices: bool = False) -> str:
    """A plot row's name; with ``devices`` (a run on several), the device's too."""
    label = f"{spec.op} {spec.kind} {'x'.join(map(str, spec.shapes[0]))}"
    return f"{label} {spec.device}" if devices else label


def _plain_log_axis(axis, ticks) -> None:
    """Ticks at ``ticks`` on a log axis, labelled ``0.25``, ``1``, ``256``,
    without the minor ticks' labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot(path, results) -> None:
    """Save a PNG: on top, xpgrad's time over each baseline's per case
    (ideal, tape when a case has it, torch; median, spread bars, the 1.0
    line, flagged ratios hollow) on log axes ticked 0.1, 0.25, 0.5, 1, 2, 4,
    10; below, when the run has GEMM-bound cases, their GFLOP/s (from 0)
    against size, matmul and linear. No text is smaller than
    :data:`MIN_FONT` points.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    devices = len({r.spec.device for r in results}) > 1  # rows and lines per device then
    labels = list(dict.fromkeys(_case_label(r.spec, devices) for r in results))
    rows = {label: i for i, label in enumerate(labels)}
    dtypes = list(dict.fromkeys(r.spec.dtype for r in results))
    panels = [b for b in ("ideal", "tape", "torch")
              if b != "tape" or any("tape" in r.timings for r in results)]
    with plt.rc_context({"font.size": 10, "axes.titlesize": 11, "legend.fontsize": MIN_FONT,
                         "xtick.labelsize": MIN_FONT + 1, "ytick.labelsize": MIN_FONT + 1}):
        gemm = any(r.spec.kind == "gemm" for r in results)
        fig = plt.figure(figsize=(6.5 * len(panels) + 1,
                                  (4.5 if gemm else 1.5) + 0.24 * len(labels)))
        grid = fig.add_gridspec(1 + gemm, 6, height_ratios=[max(2, len(labels) / 10), 1.6][
            : 1 + gemm])
        span = 6 // len(panels)
        top = [fig.add_subplot(grid[0, i * span:(i + 1) * span]) for i in range(len(panels))]
        bottom = [fig.add_subplot(grid[1, :3]), fig.add_subplot(grid[1, 3:])] if gemm else []
        _ratio_panels(top, panels, results, rows, labels, dtypes, devices)
        ratio_keys = [Line2D([], [], linestyle="", marker=_DTYPE_STYLE.get(d, ("o",))[0],
                             color=f"C{i}", label=d) for i, d in enumerate(dtypes)]
        ratio_keys.append(Line2D([], [], linestyle="", marker="o", color="gray",
                                 markerfacecolor="white", label="hollow: spread too wide (?)"))
        ratio_keys.append(Line2D([], [], linestyle="", marker="x", color="gray",
                                 label="off the axis, shown at its edge"))
        fig.legend(handles=ratio_keys, loc="upper center", ncol=len(ratio_keys), frameon=False)
        for ax, op in zip(bottom, ("matmul", "linear")):
            _gflops_panel(ax, op, results, devices)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the legend
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)


def _ratio_panels(axes, panels, results, rows, labels, dtypes, devices=False) -> None:
    shift = {d: (i - (len(dtypes) - 1) / 2) * 0.22 for i, d in enumerate(dtypes)}
    for ax, baseline in zip(axes, panels):
        for res in results:
            r = res.ratio(baseline)
            if r is None:
                continue
            marker, _ = _DTYPE_STYLE.get(res.spec.dtype, ("o", "-"))
            color = f"C{dtypes.index(res.spec.dtype)}"
            y = rows[_case_label(res.spec, devices)] + shift[res.spec.dtype]
            # Beyond the axis's range (0.1 to 10) a ratio is drawn on the edge.
            mid, lo, hi = (min(max(v, 1 / _CLIP), _CLIP) for v in (r.median, r.low, r.high))
            ax.errorbar([mid], [y], xerr=[[mid - lo], [hi - mid]],
                        fmt=marker if mid == r.median else "x",
                        color=color, markersize=5, elinewidth=1, capsize=2,
                        markerfacecolor="white" if r.flag else color)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlim(1 / _CLIP / 1.2, _CLIP * 1.2)
        _plain_log_axis(ax.xaxis, RATIO_TICKS)
        ax.set_yticks(range(len(labels)), labels if ax is axes[0] else [])
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.grid(True, axis="x", which="major", alpha=0.4)
        ax.set_xlabel("< 1: xpgrad faster; > 1: slower")
        ax.set_title(_PANEL_TITLES[baseline])
        if not ax.has_data():
            ax.text(0.5, 0.5, f"no {baseline} timings", transform=ax.transAxes, ha="center")


def _gflops_panel(ax, op, results, devices=False) -> None:
    lines: dict = {}
    for res in results:
        if res.spec.kind == "gemm" and res.spec.op == op:
            for impl in _IMPL_COLOR:
                if res.gflops(impl):
                    where = str(res.spec.device) if devices else ""
                    lines.setdefault((impl, res.spec.dtype, where), []).append(
                        (res.spec.size, res.gflops(impl)))
    markers = {w: m for w, m in zip(dict.fromkeys(k[2] for k in lines), "osD^v")}
    for (impl, dtype, where), pts in sorted(lines.items()):
        pts.sort()
        ax.plot(*zip(*pts), _DTYPE_STYLE.get(dtype, ("o", "-"))[1], marker=markers[where],
                markersize=4, color=_IMPL_COLOR[impl], label=f"{impl} {dtype} {where}".rstrip())
    ax.set_xscale("log", base=2)
    sizes = sorted({n for pts in lines.values() for n, _ in pts})
    if sizes:
        _plain_log_axis(ax.xaxis, sizes)
        ax.set_xlim(sizes[0] / 1.15, sizes[-1] * 1.15)
    # room above the lines for the legend, in the axes' upper part
    ax.set_ylim(bottom=0, top=max([g for pts in lines.values() for _, g in pts] + [1]) * 1.6)
    ax.set_xlabel("n: (n, n) operands")
    ax.set_ylabel("GFLOP/s, forward+backward")
    ax.set_title(f"{op}, GEMM-bound")
    ax.grid(True, which="major", alpha=0.3)
    if lines:  # inside: beside it, with two ratio panels above, it overlapped its neighbour
        ax.legend(loc="upper left", ncol=3, frameon=False)
    else:
        ax.text(0.5, 0.5, "no GEMM-bound cases", transform=ax.transAxes, ha="center")
