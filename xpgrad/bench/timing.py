"""Timing with :func:`time.perf_counter`: warmup, batches of calls, medians of
repeats, and implementations interleaved so that noise hits them all.

On a GPU the device is synchronized once before and once after each batch
of calls, never per call: a microsecond kernel would otherwise be timed
together with a sync that costs as much as it does.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping

__all__ = ["Timing", "calibrate", "measure", "pedantic_plan", "synced_clock"]


def _no_sync() -> None:
    return None


@dataclasses.dataclass
class Timing:
    """Seconds per call of one implementation.

    Attributes
    ----------
    median : float
        Median over the repeats of (batch time / calls per batch).
    samples : list of float
        Seconds per call of each repeat, in the order they ran.
    number : int
        Calls per batch.
    """

    median: float
    samples: list
    number: int

    @property
    def best(self) -> float:
        """The fastest repeat."""
        return min(self.samples)

    def as_dict(self) -> dict:
        return {"median_s": self.median, "best_s": self.best, "samples_s": list(self.samples),
                "number": self.number}


def _batch(fn: Callable[[], object], number: int, sync, clock) -> float:
    sync()
    start = clock()
    for _ in range(number):
        fn()
    sync()
    return clock() - start


def calibrate(fn: Callable[[], object], *, sync=_no_sync, min_time: float = 0.005,
              max_number: int = 100_000, clock=time.perf_counter) -> tuple[int, float]:
    """How many calls a batch needs to last at least ``min_time`` seconds.

    Like :meth:`timeit.Timer.autorange`, but growing straight to the
    estimated count instead of by powers of ten.

    Returns
    -------
    number : int
    seconds_per_call : float
        From the last calibration batch.
    """
    number = 1
    while True:
        elapsed = _batch(fn, number, sync, clock)
        if elapsed >= min_time or number >= max_number:
            return number, elapsed / number
        guess = math.ceil(number * 1.2 * min_time / max(elapsed, 1e-9))
        number = min(max_number, max(2 * number, min(10 * number, guess)))


def measure(fns: Mapping[str, Callable[[], object]], *, sync=_no_sync, warmup: int = 1,
            repeats: int = 5, min_repeats: int = 3, min_time: float = 0.005,
            budget: float | None = None, clock=time.perf_counter) -> dict[str, Timing]:
    """Time several implementations side by side.

    Each is warmed up and calibrated (see :func:`calibrate`), then the
    repeats are interleaved: repeat ``r`` times every implementation once,
    starting from a different one each time, so that a noisy moment on a
    shared machine does not land on one implementation only. The garbage
    collector is off during each batch, as in :mod:`timeit`.

    Parameters
    ----------
    fns : mapping of str to callable
        No-argument callables, each running one call of its implementation.
    sync : callable
        Waits for the device; called before and after every batch.
    warmup : int
        Untimed calls of each before calibrating.
    repeats : int
        Timed batches of each.
    min_repeats : int
        With ``budget``, repeats done even when the budget is spent.
    min_time : float
        Seconds a batch should last at least.
    budget : float, optional
        Stop repeating once this many seconds have passed in the repeats.

    Returns
    -------
    dict of str to Timing
    """
    names = list(fns)
    number = {}
    for name in names:
        fn = fns[name]
        for _ in range(warmup):
            fn()
        sync()
        number[name], _ = calibrate(fn, sync=sync, min_time=min_time, clock=clock)
    samples = {name: [] for name in names}
    start = clock()
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(repeats):
            if budget is not None and r >= min_repeats and clock() - start > budget:
                break
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                gc.disable()
                try:
                    elapsed = _batch(fns[name], number[name], sync, clock)
                finally:
                    if gc_was_enabled:
                        gc.enable()
                samples[name].append(elapsed / number[name])
                gc.collect(0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Timing(statistics.median(samples[name]), samples[name], number[name])
            for name in names}


def synced_clock(sync) -> Callable[[], float]:
    """A :func:`time.perf_counter` that first waits for the device.

    Given to pytest-benchmark as its timer, it synchronizes once at the
    start and once at the end of each round of iterations: the round
    measures finished GPU work without a sync per call.
    """
    perf_counter = time.perf_counter

    def clock() -> float:
        sync()
        return perf_counter()

    return clock


def pedantic_plan(fn: Callable[[], object], *, sync=_no_sync, budget: float = 0.2,
                  round_time: float = 0.002, min_rounds: int = 3,
                  max_rounds: int = 50) -> dict:
    """Arguments for ``benchmark.pedantic`` that spend about ``budget`` seconds.

    A round runs enough iterations to last ``round_time``; slow calls get
    one iteration per round and ``min_rounds`` rounds. The calibration
    calls warm the code up; one more warmup round is added when a round
    takes under a second.

    Returns
    -------
    dict
        ``rounds``, ``iterations`` and ``warmup_rounds``.
    """
    iterations, per_call = calibrate(fn, sync=sync, min_time=round_time)
    per_round = per_call * iterations
    rounds = int(min(max_rounds, max(min_rounds, budget // max(per_round, 1e-9))))
    warmup_rounds = 1 if per_round < 1.0 else 0
    return {"rounds": rounds, "iterations": iterations, "warmup_rounds": warmup_rounds}
