"""Timing with :func:`time.perf_counter`: warmup, batches of calls, and
implementations interleaved round by round so that noise hits them all;
the per-round ratio of two implementations, with its spread.

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

__all__ = ["MAX_SPREAD", "MIN_ROUNDS", "Ratio", "Timing", "calibrate", "measure",
           "round_orders"]

#: A ratio whose interquartile range is wider than this fraction of its median is flagged.
MAX_SPREAD = 0.2
#: A ratio from fewer rounds than this is flagged: two runs' quartiles from fewer
#: rounds miss each other too often by chance alone (2 % of the time at 12 rounds,
#: 6 % at 8, for two samples of one distribution).
MIN_ROUNDS = 12
#: Calls shorter than this run on one thread: no thread pool to let go idle after them.
THREADED_CALL = 1e-4


def _no_sync() -> None:
    return None


@dataclasses.dataclass
class Timing:
    """Seconds per call of one implementation, one sample per round.

    Attributes
    ----------
    samples : list of float
        Seconds per call in each round (batch time / calls per batch), in
        the order the rounds ran.
    number : int
        Calls per batch.
    """

    samples: list
    number: int

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        """The fastest round."""
        return min(self.samples)

    def as_dict(self) -> dict:
        return {"median_s": self.median, "best_s": self.best, "samples_s": list(self.samples),
                "number": self.number}


@dataclasses.dataclass(frozen=True)
class Ratio:
    """The ratios of two implementations' times, round by round.

    Attributes
    ----------
    median, q1, q3 : float
        Median and quartiles of the per-round ratios.
    rounds : int
        How many rounds the ratios come from.
    """

    median: float
    q1: float
    q3: float
    rounds: int

    @classmethod
    def of(cls, mine, theirs) -> Ratio:
        """From two lists of per-round seconds, paired by round."""
        ratios = sorted(a / b for a, b in zip(mine, theirs) if b > 0)
        if not ratios:
            raise ValueError("Ratio.of: no round with a positive baseline time")
        if len(ratios) == 1:
            return cls(ratios[0], ratios[0], ratios[0], 1)
        q1, mid, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
        return cls(mid, q1, q3, len(ratios))

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median: 0.1 is about +-5 %."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else math.inf

    @property
    def flag(self) -> str:
        """Why the ratio is not to be trusted, or empty."""
        if self.rounds < MIN_ROUNDS:
            return f"{self.rounds} rounds (< {MIN_ROUNDS})"
        if self.spread > MAX_SPREAD:
            return f"spread {self.spread:.0%} (> {MAX_SPREAD:.0%})"
        return ""

    def overlaps(self, other: Ratio) -> bool:
        """Whether the two interquartile ranges share a point."""
        return self.q1 <= other.q3 and other.q1 <= self.q3

    def as_dict(self) -> dict:
        return {"median": self.median, "q1": self.q1, "q3": self.q3, "rounds": self.rounds,
                "spread": self.spread, "flag": self.flag}


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


def round_orders(names, family: Mapping[str, str] | None, rounds: int) -> list:
    """The order of the implementations in each round.

    Families run one after the other, in the opposite order every other
    round, so a round switches family once: ``N T | T N | N T ...``. Within
    a family the first implementation rotates every two rounds, so that each
    one in turn runs first after the other family.
    """
    family = family or {}
    groups: dict = {}
    for name in names:
        groups.setdefault(family.get(name, ""), []).append(name)
    orders = []
    for r in range(rounds):
        order = []
        for members in list(groups.values())[:: -1 if r % 2 else 1]:
            shift = (r // 2) % len(members)
            order += members[shift:] + members[:shift]
        orders.append(order)
    return orders


def measure(fns: Mapping[str, Callable[[], object]], *, sync=_no_sync, warmup: int = 1,
            rounds: int = 5, min_rounds: int = 3, min_time: float = 0.005,
            budget: float | None = None, family: Mapping[str, str] | None = None,
            pause: float = 0.0, number: Mapping[str, int] | None = None,
            clock=time.perf_counter) -> dict[str, Timing]:
    """Time several implementations side by side, in interleaved rounds.

    Each is warmed up and calibrated (see :func:`calibrate`); then each
    round times one batch of every implementation, in the order of
    :func:`round_orders`, so that a noisy moment on a shared machine lands
    on all of them and their per-round ratio stays fair. The garbage
    collector is off during each batch, as in :mod:`timeit`.

    Parameters
    ----------
    fns : mapping of str to callable
        No-argument callables, each running one call of its implementation.
    sync : callable
        Waits for the device; called before and after every batch.
    warmup : int
        Untimed calls of each before calibrating.
    rounds : int
        Rounds at most.
    min_rounds : int
        With ``budget``, rounds done even when the budget is spent.
    min_time : float
        Seconds a batch should last at least.
    budget : float, optional
        Stop once this many seconds have passed in the rounds.
    family : mapping of str to str, optional
        The thread pool each implementation runs on (``"numpy"``,
        ``"torch"``). Two pools interleaved call by call starve each other
        on a small machine, so families take turns (see :func:`round_orders`)
    pause : float
        Seconds to sleep before switching family after calls long enough to
        have woken a thread pool (0.1 ms), so its spinning threads go idle.
    number : mapping of str to int, optional
        Calls per batch, as an earlier measurement found them; calibrated
        when None.

    Returns
    -------
    dict of str to Timing
    """
    names = list(fns)
    family = family or {}
    number = dict(number or {})
    last = [None, 0.0]  # family and seconds per call of the last batch

    def run(name, calls):
        if pause and last[0] not in (None, family.get(name)) and last[1] >= THREADED_CALL:
            time.sleep(pause)
        gc.disable()
        try:
            elapsed = _batch(fns[name], calls, sync, clock)
        finally:
            if gc_was_enabled:
                gc.enable()
        last[:] = family.get(name), elapsed / calls
        return elapsed

    gc_was_enabled = gc.isenabled()
    for name in round_orders(names, family, 1)[0]:
        for _ in range(warmup):
            run(name, 1)
        if name not in number:
            number[name], last[1] = calibrate(fns[name], sync=sync, min_time=min_time,
                                              clock=clock)
    samples: dict = {name: [] for name in names}
    start = clock()
    try:
        for r, order in enumerate(round_orders(names, family, rounds)):
            if budget is not None and r >= min_rounds and clock() - start > budget:
                break
            for name in order:
                samples[name].append(run(name, number[name]) / number[name])
            gc.collect(0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Timing(samples[name], number[name]) for name in names}
