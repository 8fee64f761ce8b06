"""``xpgrad bench`` / ``python -m xpgrad.bench``: time xpgrad against its baselines.

Examples
--------
Quick look (under a minute on two CPU cores)::

    xpgrad bench --quick

The full run (GEMMs up to 4096) on a GPU, with the JSON and the plot::

    python -m xpgrad.bench --devices cuda:0 --json gpu.json --plot gpu.png
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import time

import xpgrad

from . import report
from .problems import KINDS, OPS
from .runner import Runner
from .runtime import FLOAT_DTYPES
from .suite import PRESETS, cli_specs

__all__ = ["main", "build_parser", "ProgressBar"]

DEFAULT_DTYPES = "float32,float64,float16"


def _csv(choices, what):
    def parse(text: str) -> tuple:
        items = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
        bad = [s for s in items if choices is not None and s not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, bad)) or '(none given)'}; "
                f"choose from {', '.join(choices)}")
        return items

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``xpgrad bench``."""
    p = argparse.ArgumentParser(
        prog="xpgrad bench",
        description="Time xpgrad's rules and Tensor against the hand-written minimum "
                    "('ideal'), PyTorch autograd and the naive broadcast gradient, side by "
                    "side, and print a table.",
        epilog="Kinds: " + "; ".join(f"{k}: {v}" for k, v in KINDS.items()) + ". "
               "float16/bfloat16 run the 'half' kind only.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="preset", const="quick",
                      help="GEMMs up to 1024 and few repeats: under a minute on 2 CPU cores")
    size.add_argument("--preset", choices=tuple(PRESETS),
                      help="quick; standard (GEMMs up to 2048); full (up to 4096, the default)")
    p.set_defaults(preset="full")
    p.add_argument("--devices", default="cpu",
                   help="comma-separated devices, e.g. cpu,cuda:0, or 'all' for every "
                        "device xpgrad sees (default: cpu)")
    p.add_argument("--ops", type=_csv(OPS, "op"), default=OPS,
                   help=f"comma-separated ops (default: {','.join(OPS)})")
    p.add_argument("--dtypes", type=_csv(FLOAT_DTYPES, "dtype"),
                   default=tuple(DEFAULT_DTYPES.split(",")),
                   help=f"comma-separated dtypes (default: {DEFAULT_DTYPES}); a dtype the "
                        f"device's library lacks is skipped with a note")
    p.add_argument("--kinds", type=_csv(tuple(KINDS), "kind"), default=tuple(KINDS),
                   help="comma-separated kinds of case (default: all; see below)")
    p.add_argument("--json", metavar="PATH", help="write every measurement to PATH as JSON")
    p.add_argument("--plot", metavar="PATH",
                   help="write a PNG of GFLOP/s against size per device and op "
                        "(needs matplotlib: pip install 'xpgrad[plot]')")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="skip the PyTorch baselines")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--repeat", type=int, help=argparse.SUPPRESS)
    p.add_argument("--max-size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--min-time", type=float, help=argparse.SUPPRESS)
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
        text = f"[{bar}] {done}/{total} {elapsed:.0f} s{eta}  {label}"
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + text[: cols - 1].ljust(cols - 1))
            if done >= total:
                self.stream.write("\n")
        elif label:
            self.stream.write(text + "\n")
        self.stream.flush()


def _devices(text: str) -> list:
    if text.strip() == "all":
        return [str(d) for d in xpgrad.devices()]
    return [str(xpgrad.Device(s)) for s in text.split(",") if s.strip()]


def main(argv=None) -> int:
    """Run ``xpgrad bench`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for bad arguments or an unavailable device.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    preset = PRESETS[args.preset]
    err = sys.stderr

    try:
        devices = _devices(args.devices)
    except (TypeError, ValueError) as exc:
        print(f"xpgrad bench: {exc}", file=err)
        return 2
    runner = Runner(
        repeats=args.repeat or preset.repeats,
        min_time=preset.min_time if args.min_time is None else args.min_time,
        budget=None if args.repeat else preset.budget,
        torch=args.torch,
        # Seconds between numpy and torch blocks; quick trades some isolation for time.
        pause=args.pause if args.pause is not None else (0.1 if preset.name == "quick" else 0.3),
        progress=ProgressBar(err) if args.progress else None,
    )
    dtypes_by_device = {}
    for dev in devices:
        try:
            rt = runner.runtime(dev)
        except RuntimeError as exc:
            print(f"xpgrad bench: {exc}", file=err)
            return 2
        kept = []
        for name in args.dtypes:
            if rt.dtype(name) is None:
                print(f"xpgrad bench: skipping {name} on {dev}: {rt.missing_dtype_reason(name)}",
                      file=err)
            else:
                kept.append(name)
        dtypes_by_device[dev] = kept

    specs = []
    for dev in devices:
        specs += cli_specs(preset, [dev], dtypes_by_device[dev], ops=args.ops, kinds=args.kinds,
                           max_size=args.max_size)
    if not specs:
        print("xpgrad bench: no case matches the options", file=err)
        return 2
    if args.list:
        for spec in specs:
            print(f"{spec.op:9} {spec.label:32} {spec.shape_text:28} {spec.dtype:9} {spec.device}")
        return 0

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    results = runner.run(specs)
    wall = time.perf_counter() - t0

    env = report.environment(devices)
    torch_note = "" if env.get("torch") else (
        "not installed" if args.torch else "disabled (--no-torch)")
    print(f"xpgrad bench, {preset.name} preset: {len(results)} cases on "
          f"{', '.join(devices)} in {wall:.1f} s")
    print(f"xpgrad {env['xpgrad']}, numpy {env['numpy']}, "
          f"torch {env.get('torch') or torch_note}"
          + (f" ({env['torch_threads']} threads)" if env.get("torch_threads") else "")
          + (f", cupy {env['cupy']}" if env.get("cupy") else "")
          + f"; {env['cpu_count']} CPUs, {env['machine']}")
    print()
    print(report.table(results))

    if args.json:
        meta = {
            "preset": preset.name,
            "argv": argv,
            "devices": devices,
            "started": started.isoformat(timespec="seconds"),
            "wall_s": wall,
            "ratio": "xpgrad median time / baseline median time (1.0 = as fast)",
            "columns": list(report.COLUMNS),
            "environment": env,
        }
        report.write_json(args.json, results, meta)
        print(f"\nwrote {args.json}")
    if args.plot:
        why = report.plot(args.plot, results)
        if why:
            print(f"\nxpgrad bench: --plot skipped: {why}", file=err)
        else:
            print(f"wrote {args.plot}")
    return 0
