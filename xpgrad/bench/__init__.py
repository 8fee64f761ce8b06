"""Benchmarks of xpgrad against its baselines: ``xpgrad bench`` or ``python -m xpgrad.bench``.

Modules:

- :mod:`~xpgrad.bench.runtime`: a device's raw array library, clock sync,
  dtypes, data, and torch on the same device;
- :mod:`~xpgrad.bench.problems`: :class:`Spec`, what is computed, and its inputs;
- :mod:`~xpgrad.bench.impls`: :func:`build`, the xpgrad, ideal, tape, naive,
  native and torch implementations;
- :mod:`~xpgrad.bench.tape`: the minimal reverse-mode tape that the
  ``tape`` baseline runs (a measuring baseline, not an API);
- :mod:`~xpgrad.bench.timing`: interleaved rounds and per-round ratios;
- :mod:`~xpgrad.bench.suite`: the cases and presets of the command;
- :mod:`~xpgrad.bench.runner`: running them; :mod:`~xpgrad.bench.report`:
  the table, JSON and plot; :mod:`~xpgrad.bench.cli`: the command line.

The pytest-benchmark suites in the repository's ``bench/`` directory use the
same :class:`Spec` and :func:`build`.
"""

from .cli import main
from .impls import Impl, build
from .problems import Spec, make_inputs
from .runner import Result, Runner
from .runtime import Runtime
from .timing import Ratio, Timing, measure

__all__ = ["Impl", "Ratio", "Result", "Runner", "Runtime", "Spec", "Timing", "build", "main",
           "make_inputs", "measure"]
