"""The ``xpgrad`` command: ``xpgrad bench [options]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="xpgrad", description="xpgrad command-line tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bench", help="run the benchmarks (xpgrad bench --help)", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from .bench.cli import main as bench_main

        return bench_main(rest)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
