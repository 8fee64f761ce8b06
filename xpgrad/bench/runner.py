"""Running a list of cases: xpgrad against its baselines, side by side.

For each case, first xpgrad and its NumPy/CuPy baselines (ideal, naive,
native) run with their repeats interleaved. Then, when torch is there,
xpgrad and torch alternate in blocks with a pause between blocks: NumPy's and
torch's thread pools starve each other when their calls are interleaved on a
small machine, and the pause lets the spinning threads go idle. The x torch
ratio compares torch with the xpgrad blocks it alternated with, measured
seconds apart, never with timings taken minutes earlier in another phase.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

from .problems import Spec, build, make_inputs, max_relative_error, reference_results
from .runtime import HALF_DTYPES, Runtime, torch_module
from .timing import Timing, measure

__all__ = ["Result", "Runner", "baselines"]

_ERRORS_FOR = ("xpgrad", "native")


@dataclasses.dataclass
class Result:
    """Everything measured for one :class:`~xpgrad.bench.problems.Spec`.

    Attributes
    ----------
    spec : Spec
    timings : dict of str to Timing
        Per implementation: ``xpgrad`` and the baselines that ran.
    missing : dict of str to str
        Baselines that did not run, and why (``"n/a: torch not installed"``).
    peak_bytes : dict of str to int
        Peak memory of one backward, per implementation where it was traced.
    grad_bytes : int or None
        Bytes of the gradients xpgrad's backward returns.
    errors : dict of str to float
        Max normwise relative error against float64 (half precision only).
    """

    spec: Spec
    timings: dict = dataclasses.field(default_factory=dict)
    missing: dict = dataclasses.field(default_factory=dict)
    peak_bytes: dict = dataclasses.field(default_factory=dict)
    grad_bytes: int | None = None
    errors: dict = dataclasses.field(default_factory=dict)
    #: baseline -> xpgrad's timing measured in alternation with that baseline
    paired: dict = dataclasses.field(default_factory=dict)

    def median(self, impl: str = "xpgrad") -> float | None:
        """Median seconds per call of ``impl``, None if it did not run."""
        t = self.timings.get(impl)
        return None if t is None else t.median

    def ratio(self, baseline: str) -> float | None:
        """xpgrad's median time over ``baseline``'s: 1.0 is as fast, 2.0 twice as slow."""
        paired = self.paired.get(baseline)
        mine = paired.median if paired is not None else self.median("xpgrad")
        theirs = self.median(baseline)
        if mine is None or not theirs:
            return None
        return mine / theirs

    def gflops(self, impl: str = "xpgrad") -> float | None:
        """Useful GFLOP/s of ``impl`` (None when it did not run or the phase has no FLOPs)."""
        t = self.median(impl)
        if t is None or not self.spec.flops:
            return None
        return self.spec.flops / t / 1e9

    def as_dict(self) -> dict:
        """Plain data for the JSON report."""
        impls = {}
        for name, timing in self.timings.items():
            entry = timing.as_dict()
            entry["gflops"] = self.gflops(name)
            entry["peak_backward_bytes"] = self.peak_bytes.get(name)
            if name in self.errors:
                entry["max_rel_error"] = self.errors[name]
            impls[name] = entry
        for name, timing in self.paired.items():
            impls[f"xpgrad_alternating_with_{name}"] = timing.as_dict()
        ratios = {name: self.ratio(name) for name in self.timings if name != "xpgrad"}
        return {
            **self.spec.as_dict(),
            "shape": self.spec.shape_text,
            "impls": impls,
            "ratios": ratios,
            "unavailable": dict(self.missing),
            "grad_bytes": self.grad_bytes,
        }


def baselines(spec: Spec, rt: Runtime, *, torch: bool = True) -> dict:
    """Baselines of ``spec`` on ``rt``: name -> ``""`` if it runs, else why not."""
    out = {"ideal": ""}
    if spec.kind in ("bcast-w", "bcast-mid"):
        out["naive"] = ""
    if spec.dtype in HALF_DTYPES:
        out["native"] = ("" if not rt.has_half_gemm()
                         else f"n/a: {rt.name}'s {spec.dtype} matmul is the ideal")
    out["torch"] = rt.torch_reason(spec.dtype, disabled=not torch)
    return out


def _merge(timings) -> Timing:
    """One Timing from several blocks of the same implementation."""
    samples = [s for t in timings for s in t.samples]
    return Timing(statistics.median(samples), samples, timings[0].number)


class Runner:
    """Times a list of specs.

    Parameters
    ----------
    repeats, min_time, budget : see :func:`xpgrad.bench.timing.measure`
    torch : bool
        Run the torch baselines when torch is installed.
    pause : float
        Seconds to sleep when switching between NumPy and torch timing.
    progress : callable, optional
        ``progress(done, total, label)``, called before each unit of work.
    seed : int
        Seed of the inputs.
    """

    def __init__(self, *, repeats: int = 5, min_time: float = 0.005, budget: float | None = None,
                 torch: bool = True, pause: float = 0.3, progress=None, seed: int = 0) -> None:
        self.repeats = repeats
        self.min_time = min_time
        self.budget = budget
        self.torch = torch
        self.pause = pause
        self.progress = progress
        self.seed = seed
        self._runtimes: dict = {}

    def runtime(self, device) -> Runtime:
        """The (cached) :class:`Runtime` of ``device``."""
        key = str(device)
        if key not in self._runtimes:
            self._runtimes[key] = Runtime(key)
        return self._runtimes[key]

    def _measure(self, fns, rt):
        return measure(fns, sync=rt.sync, repeats=self.repeats, min_time=self.min_time,
                       budget=self.budget)

    def run(self, specs) -> list:
        """Measure every spec; returns one :class:`Result` each, in order."""
        results = [Result(spec) for spec in specs]
        plans = []
        for res in results:
            rt = self.runtime(res.spec.device)
            plan = baselines(res.spec, rt, torch=self.torch)
            res.missing = {name: why for name, why in plan.items() if why}
            plans.append((res, rt, [name for name, why in plan.items() if not why]))
        total = len(results) + sum("torch" in names for _, _, names in plans)
        done = 0
        for res, rt, names in plans:
            self._report(done, total, res.spec, "xpgrad, " + ", ".join(n for n in names
                                                                       if n != "torch"))
            self._host_phase(res, rt, [n for n in names if n != "torch"])
            done += 1
            if "torch" in names:
                self._report(done, total, res.spec, "xpgrad and torch, alternating")
                self._torch_phase(res, rt)
                done += 1
        self._report(done, total, None, "")
        return results

    def _report(self, done, total, spec, what):
        if self.progress is not None:
            label = "" if spec is None else (f"{spec.op} {spec.kind} {spec.shape_text} "
                                             f"{spec.dtype} {spec.device} [{what}]")
            self.progress(done, total, label)

    def _host_phase(self, res: Result, rt: Runtime, names) -> None:
        with rt.scope():  # the raw-namespace baselines run on the current GPU
            self._host_measure(res, rt, names)

    def _host_measure(self, res: Result, rt: Runtime, names) -> None:
        spec = res.spec
        inputs = make_inputs(spec, rt, self.seed)
        impls = {"xpgrad": build(spec, "xpgrad", rt, inputs)}
        impls.update((name, build(spec, name, rt, inputs)) for name in names)
        res.timings.update(self._measure({n: i.step(spec.phase) for n, i in impls.items()}, rt))
        if spec.phase != "forward":
            for name, impl in impls.items():
                peak, grads = rt.peak_bytes(impl.backward_probe())
                res.peak_bytes[name] = peak
                if name == "xpgrad":
                    res.grad_bytes = sum(int(g.nbytes) for g in grads if g is not None)
        if spec.dtype in HALF_DTYPES:
            reference = reference_results(spec, rt, inputs)
            for name in _ERRORS_FOR:
                if name in impls:
                    res.errors[name] = max_relative_error(impls[name].results(), reference, rt)

    #: blocks of xpgrad then torch per case
    rounds = 3

    def _torch_phase(self, res: Result, rt: Runtime) -> None:
        spec = res.spec
        with rt.scope():
            inputs = make_inputs(spec, rt, self.seed)
            mine = build(spec, "xpgrad", rt, inputs).step(spec.phase)
            impl = build(spec, "torch", rt, inputs)
            theirs = impl.step(spec.phase)
            blocks = {"xpgrad": [], "torch": []}
            repeats = max(1, -(-self.repeats // self.rounds))
            # The case's budget is shared by all the blocks, not given to each.
            budget = None if self.budget is None else self.budget / (2 * self.rounds)
            for _ in range(self.rounds):
                for name, fn in (("xpgrad", mine), ("torch", theirs)):
                    time.sleep(self.pause)  # let the other library's threads go idle
                    t = measure({name: fn}, sync=rt.sync, repeats=repeats, min_repeats=1,
                                min_time=self.min_time, budget=budget)[name]
                    blocks[name].append(t)
            res.paired["torch"] = _merge(blocks["xpgrad"])
            res.timings["torch"] = _merge(blocks["torch"])
            if spec.phase != "forward" and rt.is_gpu:
                torch, _ = torch_module()
                peak, _ = rt.torch_peak_bytes(torch, impl.backward_probe())
                res.peak_bytes["torch"] = peak
