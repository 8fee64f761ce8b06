"""``xpgrad bench`` / ``python -m xpgrad.bench``: time xpgrad against its baselines.

Examples
--------
Quick look (one to three minutes on two CPU cores, by how busy they are)::

    xpgrad bench --quick

The full run (GEMMs up to 4096) on a GPU, with the JSON and the plot::

    python -m xpgrad.bench --devices cuda:0 --json gpu.json --plot gpu.png

Hessian-vector products and Hessians against torch.func::

    xpgrad bench --quick --kinds higher

Exit status: 0 on success; 2 when the run cannot start as asked (a bad
option, an unavailable device, matplotlib missing for ``--plot``,
scikit-learn missing for an ``mlp_step`` named in ``--ops``, a folder that
cannot be written for ``--json`` or ``--plot``), checked before any timing;
1 when a case of the ``higher`` kind gets a wrong result from xpgrad or
torch (checked before that case is timed). Without ``--ops``, a missing
scikit-learn leaves out ``mlp_step`` with a note.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import shutil
import sys
import time

import xpgrad

from . import report
from .problems import ALL_OPS, KINDS
from .runner import Runner, WrongResult
from .runtime import FLOAT_DTYPES, torch_module
from .suite import PRESETS, cli_specs
from .timing import MAX_SPREAD, MIN_ROUNDS

__all__ = ["ProgressBar", "build_parser", "main"]

DEFAULT_DTYPES = "float32,float64,float16"


def _csv(choices, what):
    def parse(text: str) -> tuple:
        items = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
        bad = [s for s in items if s not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, bad)) or '(none given)'}; "
                f"choose from {', '.join(choices)}")
        return items

    return parse


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not 0 < value < float("inf"):  # inf: a calibration that never ends
            raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``xpgrad bench``."""
    p = argparse.ArgumentParser(
        prog="xpgrad bench",
        description="Time xpgrad's rules and Tensor against the hand-written minimum "
                    "('ideal'), PyTorch autograd, the naive broadcast gradient and, for "
                    "the namespace kind, a minimal reverse-mode tape in Python ('tape'); for "
                    "the higher kind, xpgrad.hvp and xpgrad.hessian against xpgrad's own "
                    "value_and_grad ('ideal') and torch.func; in interleaved rounds, and print "
                    "each ratio with its spread.",
        epilog="Kinds: " + "; ".join(f"{k}: {v}" for k, v in KINDS.items()) + ". "
               "float16/bfloat16 run the 'half' kind only. Exit status 2: a bad option, an "
               "unavailable device, a missing matplotlib, a missing scikit-learn for mlp_step "
               "named in --ops, or a folder --json or --plot cannot write in, found before "
               "any timing; 1: a higher case whose xpgrad or torch result is wrong, found "
               "before that case is timed.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="preset", const="quick",
                      help="GEMMs up to 1024, shorter batches: 1-3 minutes on 2 CPU cores")
    size.add_argument("--preset", choices=tuple(PRESETS),
                      help="quick; standard (GEMMs up to 2048); full (up to 4096, the default)")
    p.set_defaults(preset="full")
    p.add_argument("--devices", default="cpu",
                   help="comma-separated devices, e.g. cpu,cuda:0, or 'all' for every "
                        "device xpgrad sees (default: cpu)")
    p.add_argument("--ops", type=_csv(ALL_OPS, "op"), default=None,
                   help=f"comma-separated ops (default: {','.join(ALL_OPS)}; mlp_step "
                        f"needs scikit-learn; hessian runs at 8x8 only)")
    p.add_argument("--dtypes", type=_csv(FLOAT_DTYPES, "dtype"),
                   default=tuple(DEFAULT_DTYPES.split(",")),
                   help=f"comma-separated dtypes (default: {DEFAULT_DTYPES}); a dtype the "
                        f"device's library lacks is skipped with a note")
    p.add_argument("--kinds", type=_csv(tuple(KINDS), "kind"), default=tuple(KINDS),
                   help="comma-separated kinds of case (default: all; see below)")
    p.add_argument("--repeat", type=_positive(int), metavar="N",
                   help="exactly N interleaved rounds per case in each pass (default: the "
                        "preset's, fewer for slow cases once its time budget is spent); a "
                        f"ratio from fewer than {MIN_ROUNDS} rounds in all is flagged")
    p.add_argument("--passes", type=_positive(int), metavar="P",
                   help=f"passes over all the cases (default {PRESETS['full'].passes}): each "
                        "case's rounds are "
                        "spread over the run, so their spread shows its slow drift too")
    p.add_argument("--min-time", type=_positive(float), metavar="S",
                   help="seconds each timed batch of calls lasts at least (default: the "
                        f"preset's, {PRESETS['quick'].min_time:g} quick, "
                        f"{PRESETS['full'].min_time:g} otherwise)")
    p.add_argument("--max-size", type=_positive(int), metavar="N",
                   help="drop cases with a dimension larger than N")
    p.add_argument("--json", metavar="PATH", help="write every measurement to PATH as JSON")
    p.add_argument("--plot", metavar="PATH",
                   help="write a PNG: ratios per case with their spread, GFLOP/s against "
                        "size (needs matplotlib: pip install 'xpgrad[plot]')")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="skip the PyTorch baselines")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--pause", type=float, default=None, help=argparse.SUPPRESS)
    return p


class ProgressBar:
    """A plain-text progress bar on a stream (stderr).

    On a terminal it redraws one line; elsewhere (a log, a pipe) it writes
    one line per step.
    """

    def __init__(self, stream=None, width: int = 24) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int, label: str) -> None:
        elapsed = time.perf_counter() - self.start
        frac = done / total if total else 1.0
        bar = "#" * int(self.width * frac) + "." * (self.width - int(self.width * frac))
        eta = f", ~{elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        text = f"[{bar}] {elapsed:.0f} s{eta}  {label}"
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + text[: cols - 1].ljust(cols - 1))
            if done >= total:
                self.stream.write("\n")
        elif label:
            self.stream.write(text + "\n")
        self.stream.flush()


def _unwritable(path: str) -> str | None:
    """Why the file ``path`` cannot be written after the run, or None: checked
    before the run, so that hours of timing are not lost at its end."""
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        return "is a folder; name a file in it"
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # the nearest one that exists: it will hold the rest
    if not os.path.isdir(folder):
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK):
        return f"cannot write in {folder}"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "exists, and cannot be written"
    return None


def _plot_formats() -> set:
    from matplotlib.figure import Figure

    return set(Figure().canvas.get_supported_filetypes())


def _fail(message: str) -> int:
    prefix = "" if message.startswith("xpgrad bench: ") else "xpgrad bench: "
    print(prefix + message, file=sys.stderr)
    return 2


def main(argv=None) -> int:
    """Run ``xpgrad bench`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 when the run cannot start as asked, 1 when a case
        of the higher kind gets a wrong result.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    preset = PRESETS[args.preset]
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        return _fail("--plot needs matplotlib, which is not installed; "
                     "pip install 'xpgrad[plot]' (or leave out --plot)")
    if args.plot and not os.path.splitext(args.plot)[1] and not args.plot.endswith(("/", os.sep)):
        args.plot += ".png"  # matplotlib's default format, which it would add unsaid
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        problem = path and _unwritable(path)
        if problem:
            return _fail(f"{option} {path}: {problem}")
    if args.json and args.plot and os.path.abspath(args.json) == os.path.abspath(args.plot):
        return _fail(f"--json and --plot name one file, {args.json}; the plot would overwrite "
                     f"the results: name two")
    if args.plot:
        formats = _plot_formats()
        suffix = os.path.splitext(args.plot)[1].lstrip(".").lower()
        if suffix not in formats:
            return _fail(f"--plot {args.plot}: matplotlib cannot write .{suffix} files; name a "
                         f"file ending in one of {', '.join('.' + f for f in sorted(formats))}")
    pm = "±"  # which must not end a long run on an ASCII terminal
    try:
        pm.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        pm = "+-"
    rounds = args.repeat or preset.rounds
    runner = Runner(
        passes=args.passes or preset.passes, rounds=rounds,
        min_rounds=args.repeat or preset.min_rounds,
        min_time=args.min_time or preset.min_time,
        budget=None if args.repeat else preset.budget,
        pause=preset.pause if args.pause is None else args.pause, torch=args.torch,
        progress=ProgressBar(sys.stderr) if args.progress else None)
    try:
        runtimes = {}  # by device: "cpu,cpu" or "cuda,cuda:0" times each once
        for d in (xpgrad.devices() if args.devices.strip() == "all"
                  else [s for s in args.devices.split(",") if s.strip()]):
            rt = runner.runtime(d)
            runtimes.setdefault(str(rt.device), rt)
        runtimes = list(runtimes.values())
        devices = [str(rt.device) for rt in runtimes]
    except (TypeError, ValueError, RuntimeError) as exc:
        return _fail(str(exc))
    specs = []
    for rt in runtimes:
        dtypes = [d for d in args.dtypes if rt.dtype(d) is not None]
        for name in set(args.dtypes) - set(dtypes):
            print(f"xpgrad bench: skipping {name} on {rt.device}: "
                  f"{rt.missing_dtype_reason(name)}", file=sys.stderr)
        specs += cli_specs(preset, [str(rt.device)], dtypes, ops=args.ops or ALL_OPS,
                           kinds=args.kinds, max_size=args.max_size)
    if (any(spec.op == "mlp_step" for spec in specs)
            and importlib.util.find_spec("sklearn") is None):
        if args.ops:
            return _fail("--ops mlp_step needs scikit-learn (the case trains on its digits "
                         "data set), which is not installed; pip install scikit-learn (or "
                         "leave mlp_step out of --ops)")
        specs = [spec for spec in specs if spec.op != "mlp_step"]
        print("xpgrad bench: skipping mlp_step: it trains on scikit-learn's digits data set, "
              "and scikit-learn is not installed (pip install scikit-learn)", file=sys.stderr)
    if not specs:
        return _fail("no case matches the options")
    if args.list:
        for spec in specs:
            print(f"{spec.op:10} {spec.label:32} {spec.shape_text:28} {spec.dtype:9} "
                  f"{spec.device}")
        return 0

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    try:
        results = runner.run(specs)
    except WrongResult as exc:
        print(f"xpgrad bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback from inside a timing loop
        print(f"\nxpgrad bench: interrupted after {time.perf_counter() - t0:.0f} s; no table "
              f"printed and no file written", file=sys.stderr)
        return 130
    wall = time.perf_counter() - t0

    env = report.environment(devices)
    torch_text = (f"torch {env['torch']} ({env['torch_threads']} threads)" if env["torch"]
                  else "torch: " + (torch_module()[1] if args.torch else "--no-torch"))
    summary = report.noise(results)
    print(f"xpgrad bench, {preset.name} preset: {len(results)} cases on {', '.join(devices)} "
          f"in {wall:.0f} s; {runner.passes} passes of up to {rounds} rounds per case, "
          f"batches of >= {runner.timing['min_time'] * 1e3:g} ms")
    print(f"xpgrad {env['xpgrad']}, numpy {env['numpy']}, {torch_text}"
          + (f", cupy {env['cupy']}" if env.get("cupy") else "")
          + f"; {env['cpu_count']} CPUs, {env['machine']}")
    print()
    print(report.table(results, pm=pm))
    print()
    print(report.noise_line(summary))
    if args.json:
        meta = {
            "preset": preset.name, "argv": argv, "devices": devices,
            "started": started.isoformat(timespec="seconds"), "wall_s": wall,
            "timing": {"passes": runner.passes, **runner.timing},
            "ratio": "per round, xpgrad's seconds per call / the baseline's in the same "
                     "round; median over the rounds; low-high: their 10th to 90th "
                     "percentiles, stretched to take in the median of each pass",
            "flag": f"set when (high - low) / median > {MAX_SPREAD} or rounds < {MIN_ROUNDS}",
            "noise": summary, "environment": env,
        }
        report.write_json(args.json, results, meta)
        print(f"wrote {args.json}")
    if args.plot:
        report.plot(args.plot, results)
        print(f"wrote {args.plot}")
    return 0
