"""Running a list of cases: xpgrad against its baselines, side by side.

For each case xpgrad and every baseline that can run (ideal, tape, naive,
native, torch) are timed together in interleaved rounds (see
:func:`xpgrad.bench.timing.measure`), so each per-round ratio compares
timings taken moments apart (seconds apart for torch, whose rounds run in
a block of their own). The run makes several passes over the cases,
a few rounds each time, so that each case's rounds are spread over the
whole run and their spread shows the machine's slow drift as well as its
quick noise.
"""

from __future__ import annotations

import dataclasses

from xpgrad._device import parse_device

from .impls import build, max_relative_error, reference_results
from .problems import Spec, make_inputs
from .runtime import HALF_DTYPES, Runtime, torch_module
from .timing import Ratio, measure

__all__ = ["HIGHER_TOLERANCE", "Result", "Runner", "WrongResult", "baselines"]

#: Whose error against float64 is measured: in half precision, and in the higher kind.
_ERRORS_FOR = {"half": ("xpgrad", "native"), "higher": ("xpgrad", "torch")}
#: The largest relative error against the derivatives derived by hand that
#: the higher kind accepts, per dtype, before timing anything.
HIGHER_TOLERANCE = {"float32": 1e-4, "float64": 1e-10}


class WrongResult(RuntimeError):
    """An implementation of the ``higher`` kind gives another result than the
    derivatives derived by hand: its time would not be that of the same
    computation."""


@dataclasses.dataclass
class Result:
    """Everything measured for one :class:`~xpgrad.bench.problems.Spec`.

    Attributes
    ----------
    spec : Spec
    timings : dict of str to Timing
        Per implementation: ``xpgrad`` and the baselines that ran, with one
        sample per round, the same rounds for all.
    missing : dict of str to str
        Baselines that did not run, and why (``"torch not installed"``).
    peak_bytes : dict of str to int
        Peak memory of one backward, per implementation where it was traced.
    grad_bytes : int or None
        Bytes of the gradients xpgrad's backward returns (the higher kind:
        of its result).
    kept_bytes : dict of str to int
        Bytes a forward leaves held for its backward (its output included),
        per implementation, for the ``namespace`` kind: the peak of its
        backward is to stay within these plus ``grad_bytes``.
    errors : dict of str to float
        Max normwise relative error against float64: in half precision,
        xpgrad's and the namespace's own matmul's; in the higher kind,
        xpgrad's and torch's, against the derivatives derived by hand.
    passes : list of int
        How many rounds each pass made.
    """

    spec: Spec
    timings: dict = dataclasses.field(default_factory=dict)
    missing: dict = dataclasses.field(default_factory=dict)
    peak_bytes: dict = dataclasses.field(default_factory=dict)
    grad_bytes: int | None = None
    kept_bytes: dict = dataclasses.field(default_factory=dict)
    errors: dict = dataclasses.field(default_factory=dict)
    passes: list = dataclasses.field(default_factory=list)

    def median(self, impl: str = "xpgrad") -> float | None:
        """Median seconds per call of ``impl``, None if it did not run."""
        t = self.timings.get(impl)
        return None if t is None else t.median

    def ratio(self, baseline: str) -> Ratio | None:
        """xpgrad's time over ``baseline``'s, round by round (1.0 is as fast,
        2.0 twice as slow); None if either did not run."""
        if "xpgrad" not in self.timings or baseline not in self.timings:
            return None
        return Ratio.of(self.timings["xpgrad"].samples, self.timings[baseline].samples,
                        self.passes)

    def ratios(self) -> dict:
        """Every baseline that ran: name -> :class:`Ratio`."""
        return {name: self.ratio(name) for name in self.timings if name != "xpgrad"}

    def gflops(self, impl: str = "xpgrad") -> float | None:
        """Useful GFLOP/s of ``impl`` (None when it did not run or the phase has no FLOPs)."""
        t = self.median(impl)
        return None if t is None or not self.spec.flops else self.spec.flops / t / 1e9

    def as_dict(self) -> dict:
        """Plain data for the JSON report."""
        impls = {}
        for name, timing in self.timings.items():
            impls[name] = {**timing.as_dict(), "gflops": self.gflops(name),
                           "peak_backward_bytes": self.peak_bytes.get(name)}
            if name in self.errors:
                impls[name]["max_rel_error"] = self.errors[name]
        return {**self.spec.as_dict(), "impls": impls, "rounds_per_pass": list(self.passes),
                "ratios": {name: r.as_dict() for name, r in self.ratios().items()},
                "unavailable": dict(self.missing), "grad_bytes": self.grad_bytes,
                "kept_bytes": dict(self.kept_bytes)}


def baselines(spec: Spec, rt: Runtime, *, torch: bool = True) -> dict:
    """Baselines of ``spec`` on ``rt``: name -> ``""`` if it runs, else why not."""
    out = {"ideal": ""}
    if spec.kind == "namespace":
        out["tape"] = ""
    if spec.kind in ("bcast-w", "bcast-mid"):
        out["naive"] = ""
    if spec.dtype in HALF_DTYPES:
        out["native"] = (f"{rt.name}'s {spec.dtype} matmul is the ideal"
                         if rt.has_half_gemm() else "")
    out["torch"] = rt.torch_reason(spec.dtype) if torch else "disabled (--no-torch)"
    if spec.kind == "higher" and not out["torch"]:
        module, _ = torch_module()
        if getattr(module, "func", None) is None:
            out["torch"] = f"torch {module.__version__} has no torch.func (torch >= 2.0 has)"
    return out


class Runner:
    """Times a list of specs.

    Parameters
    ----------
    passes : int
        Passes over the specs; each measures ``rounds`` more rounds of each.
    rounds, min_rounds, min_time, budget, pause : see :func:`xpgrad.bench.timing.measure`
        Per pass: ``budget`` is the seconds one case may take in one pass.
    torch : bool
        Run the torch baselines when torch is installed.
    progress : callable, optional
        ``progress(done, total, label)``: ``done`` of ``total`` steps (a
        case in a pass) are finished; called before each step and at the end.
    seed : int
        Seed of the inputs.
    """

    def __init__(self, *, passes: int = 4, rounds: int = 6, min_rounds: int = 3,
                 min_time: float = 0.005, budget: float | None = None, pause: float = 0.3,
                 torch: bool = True, progress=None, seed: int = 0) -> None:
        self.passes = passes
        self.timing = {"rounds": rounds, "min_rounds": min(min_rounds, rounds),
                       "min_time": min_time, "budget": budget, "pause": pause}
        self.torch = torch
        self.progress = progress
        self.seed = seed
        self._runtimes: dict = {}

    def runtime(self, device) -> Runtime:
        """The (cached) :class:`Runtime` of ``device``."""
        key = str(parse_device(device, "xpgrad bench"))
        if key not in self._runtimes:
            self._runtimes[key] = Runtime(key)
        return self._runtimes[key]

    def run(self, specs) -> list:
        """Measure every spec; returns one :class:`Result` each, in order."""
        results = [Result(spec) for spec in specs]
        steps, step = len(specs) * self.passes, 0
        for p in range(self.passes):
            for i, res in enumerate(results):
                if self.progress is not None:
                    spec = res.spec
                    self.progress(step, steps, f"pass {p + 1}/{self.passes}, case {i + 1}/"
                                  f"{len(specs)}: {spec.op} {spec.kind} {spec.shape_text} "
                                  f"{spec.dtype} {spec.device}")
                rt = self.runtime(res.spec.device)
                with rt.scope():  # the raw-namespace baselines run on the current GPU
                    self._measure(res, rt, torch_first=p % 2 == 1)
                step += 1
        if self.progress is not None:
            self.progress(steps, steps, "")
        return results

    def _measure(self, res: Result, rt: Runtime, torch_first: bool) -> None:
        """One pass over ``res.spec``: more rounds, and on the first pass the
        memory and accuracy figures. Which of torch and the NumPy family runs
        its block first alternates from pass to pass, the same for all cases,
        so that a case begins with the family the one before it ended with.

        Raises
        ------
        WrongResult
            On the first pass of a ``higher`` case, before any timing, if
            xpgrad's or torch's result is further than
            :data:`HIGHER_TOLERANCE` from the derivatives derived by hand.
        """
        spec, first = res.spec, not res.timings
        if first:
            plan = baselines(spec, rt, torch=self.torch)
            res.missing = {name: why for name, why in plan.items() if why}
            names = ["xpgrad"] + [n for n, why in plan.items() if not why]
        else:
            names = list(res.timings)
        names.sort(key=lambda name: (name == "torch") != torch_first)
        inputs = make_inputs(spec, rt, self.seed)
        impls = {name: build(spec, name, rt, inputs) for name in names}
        if first and spec.kind == "higher":  # before timing: a wrong result ends the run
            self._errors(res, rt, inputs, impls, _ERRORS_FOR["higher"])
            tolerance = HIGHER_TOLERANCE.get(spec.dtype, 1e-2)
            for name, error in res.errors.items():
                if not error <= tolerance:
                    raise WrongResult(
                        f"{spec.op} {spec.kind} {spec.shape_text} {spec.dtype} {spec.device}: "
                        f"{name}'s result is off by a relative error of {error:.1e} from the "
                        f"derivatives derived by hand (tolerance {tolerance:g}); errors: "
                        + ", ".join(f"{n} {e:.1e}" for n, e in res.errors.items()))
        family = {name: "torch" if name == "torch" else rt.name for name in impls}
        timings = measure({n: i.step(spec.phase) for n, i in impls.items()}, sync=rt.sync,
                          family=family, **self.timing,
                          number={n: t.number for n, t in res.timings.items()})
        for name, t in timings.items():
            if name in res.timings:
                res.timings[name].samples += t.samples
            else:
                res.timings[name] = t
        res.passes.append(len(timings["xpgrad"].samples))
        if not first:
            return
        if spec.phase != "forward":
            for name, impl in impls.items():
                if name == "torch":
                    res.peak_bytes[name] = rt.torch_peak_bytes(impl.backward_probe())
                    continue
                res.peak_bytes[name], grads = rt.peak_bytes(impl.backward_probe())
                if name == "xpgrad":
                    res.grad_bytes = sum(int(g.nbytes) for g in grads if g is not None)
                if spec.kind == "namespace":
                    res.kept_bytes[name], _ = rt.held_bytes(impl.forward)
        if spec.dtype in HALF_DTYPES:
            self._errors(res, rt, inputs, impls, _ERRORS_FOR["half"])

    @staticmethod
    def _errors(res: Result, rt: Runtime, inputs: dict, impls: dict, names) -> None:
        """Set ``res.errors`` of the implementations ``names`` that ran:
        their max relative error against :func:`reference_results`."""
        reference = reference_results(res.spec, rt, inputs)
        for name in names:
            if name in impls:
                res.errors[name] = max_relative_error(impls[name].results(), reference)
