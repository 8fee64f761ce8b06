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

__all__ = ["MAX_SPREAD", "MIN_ROUNDS", "Ratio", "Timing", "calibrate", "measure"]

#: A ratio whose spread is wider than this fraction of its median is flagged.
MAX_SPREAD = 0.4
#: A ratio from fewer rounds than this is flagged: two runs' spreads from fewer rounds
#: miss each other too often by chance alone (for two samples of one distribution,
#: 0.8 % of the time at 6 rounds, 0.2 % at 8).
MIN_ROUNDS = 8
#: Calls shorter than this run on one thread: no thread pool to let go idle after them.
THREADED_CALL = 1e-4
#: Calibration batches shorter than this are cheap to time again.
CONFIRM_BELOW = 0.1


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
    """The ratio of two implementations' times, from their per-round ratios.

    Attributes
    ----------
    median : float
        Median of the per-round ratios.
    low, high : float
        The spread: the 10th to 90th percentiles of the per-round ratios,
        stretched where needed to take in the median of each pass, so that
        a machine that drifts during the run shows it.
    rounds : int
        How many rounds the ratios come from.
    """

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, mine, theirs, passes=None) -> Ratio:
        """From two lists of per-round seconds, paired by round.

        ``passes`` gives how many of the rounds each pass made, in order
        (default: all in one pass).
        """
        ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
        if not ratios or min(theirs) <= 0:
            raise ValueError("Ratio.of: needs rounds with positive baseline times")
        if len(ratios) == 1:
            return cls(ratios[0], ratios[0], ratios[0], 1)
        deciles = statistics.quantiles(ratios, n=10, method="inclusive")
        low, mid, high = deciles[0], deciles[4], deciles[8]
        start = 0
        for count in passes or ():
            if count:
                pass_median = statistics.median(ratios[start:start + count])
                low, high = min(low, pass_median), max(high, pass_median)
            start += count
        return cls(mid, low, high, len(ratios))

    @property
    def spread(self) -> float:
        """The spread's width relative to the median: 0.1 is +-5 %."""
        return (self.high - self.low) / self.median if self.median > 0 else math.inf

    @property
    def flag(self) -> str:
        """Why the ratio is not to be trusted, or empty."""
        if self.rounds < MIN_ROUNDS:
            return f"{self.rounds} rounds (< {MIN_ROUNDS})"
        if self.spread > MAX_SPREAD:
            return f"spread {self.spread:.0%} (> {MAX_SPREAD:.0%})"
        return ""

    def overlaps(self, other: Ratio) -> bool:
        """Whether the two spreads share a point."""
        return self.low <= other.high and other.low <= self.high

    def as_dict(self) -> dict:
        return {"median": self.median, "low": self.low, "high": self.high,
                "rounds": self.rounds, "spread": self.spread, "flag": self.flag}


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
    estimated count instead of by powers of ten. A batch long enough, but
    shorter than 0.1 s, is timed twice more and the fastest kept: one
    hiccup of a busy machine must not leave a microsecond call with
    batches of one call for the whole run.

    Returns
    -------
    number : int
    seconds_per_call : float
        From the fastest of the last calibration batches.
    """
    number = 1
    while True:
        elapsed = _batch(fn, number, sync, clock)
        if min_time <= elapsed < CONFIRM_BELOW:
            elapsed = min(elapsed, *(_batch(fn, number, sync, clock) for _ in range(2)))
        if elapsed >= min_time or number >= max_number:
            return number, elapsed / number
        guess = math.ceil(number * 1.2 * min_time / max(elapsed, 1e-9))
        number = min(max_number, max(2 * number, min(10 * number, guess)))


def measure(fns: Mapping[str, Callable[[], object]], *, sync=_no_sync, warmup: int = 1,
            rounds: int = 5, min_rounds: int = 3, min_time: float = 0.005,
            budget: float | None = None, family: Mapping[str, str] | None = None,
            pause: float = 0.0, number: Mapping[str, int] | None = None,
            clock=time.perf_counter) -> dict[str, Timing]:
    """Time several implementations side by side, in interleaved rounds.

    Each is warmed up and calibrated (see :func:`calibrate`). The
    implementations of one family (one thread pool: NumPy's or torch's) are
    then interleaved: round ``r`` times one batch of each, the first of them
    rotating from round to round, so that a noisy moment on a shared machine
    lands on all of them and their per-round ratio stays fair. Two thread
    pools interleaved call by call starve each other on a small machine, so
    families run in blocks, in the order their first members have in
    ``fns``: the rounds of one, a pause, the same rounds of the next; round
    ``r`` of one pairs with round ``r`` of the other, seconds apart. Warmup
    and calibration take the families in the opposite order, so that a block
    does not start on a switch. The garbage collector is off during each
    batch, as in :mod:`timeit`.

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
        Seconds for all the rounds: the first family's block stops after
        its share once ``min_rounds`` are done.
    family : mapping of str to str, optional
        Each implementation's family (default: one family for all).
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
    groups: dict = {}
    for name in fns:
        groups.setdefault((family or {}).get(name, ""), []).append(name)
    blocks = list(groups.values())
    number = dict(number or {})
    last = [None, 0.0]  # the block and seconds per call of the last batch

    def run(name, block, calls):
        if pause and last[0] not in (None, block) and last[1] >= THREADED_CALL:
            time.sleep(pause)
        gc.disable()
        try:
            elapsed = _batch(fns[name], calls, sync, clock)
        finally:
            if gc_was_enabled:
                gc.enable()
        last[:] = block, elapsed / calls
        return last[1]

    gc_was_enabled = gc.isenabled()
    for b in reversed(range(len(blocks))):
        for name in blocks[b]:
            for _ in range(warmup):
                run(name, b, 1)
            if name not in number:
                number[name], last[1] = calibrate(fns[name], sync=sync, min_time=min_time,
                                                  clock=clock)
    samples: dict = {name: [] for name in fns}
    for b, members in enumerate(blocks):
        start = clock()
        for r in range(rounds):
            if (b == 0 and budget is not None and r >= min_rounds
                    and clock() - start > budget / len(blocks)):
                rounds = r  # the other families do as many rounds
                break
            shift = r % len(members)
            for name in members[shift:] + members[:shift]:
                samples[name].append(run(name, b, number[name]))
            gc.collect(0)
    return {name: Timing(samples[name], number[name]) for name in fns}
