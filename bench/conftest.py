"""pytest-benchmark suites for xpgrad: shared options, parameters and the ``bench`` fixture.

Run::

    pytest bench/ --benchmark-only                       # up to 1024 (a few minutes on 2 cores)
    pytest bench/ --benchmark-only --bench-size large    # adds the 4096 class (tens of minutes)
    pytest bench/ --benchmark-only --bench-size tiny     # dispatch-bound shapes only
    pytest bench/ --benchmark-only --bench-devices cpu,cuda:0

Options (each also read from an environment variable):

``--bench-size`` (``XPGRAD_BENCH_SIZE``)
    ``tiny`` (2x2 to 32x64), ``small`` (+256), ``medium`` (+1024, the
    default) or ``large`` (+4096).
``--bench-devices`` (``XPGRAD_BENCH_DEVICES``)
    Comma-separated devices such as ``cpu,cuda:0``. The default, ``auto``,
    is ``cpu`` plus every ``cuda:N`` CuPy sees when CuPy is installed (it is
    not imported when it is not installed, nor when the devices are named
    and none is a cuda device).
``--bench-dtypes`` (``XPGRAD_BENCH_DTYPES``)
    Default ``float32,float64,float16,bfloat16``; a dtype the device's
    library lacks is skipped with the reason.
``--bench-budget`` (``XPGRAD_BENCH_BUDGET``)
    Seconds of timed rounds per benchmark (default 0.1); slow cases still
    get three rounds.
``--bench-no-torch``
    Skip the PyTorch baselines.

Every benchmark of one computation (xpgrad's functional rules and Tensor,
the hand-written ideal, torch, the naive path) shares a pytest-benchmark
group, so the group table shows them side by side. Torch benchmarks run
after all the others, after a pause, so the two thread pools do not starve
each other. On a GPU the benchmark timer synchronizes the device before
reading the clock, so each round of iterations is timed to the end of its
GPU work with one sync, not one per call.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

if importlib.util.find_spec("xpgrad") is None:  # a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xpgrad.bench.impls import build, max_relative_error, reference_results  # noqa: E402
from xpgrad.bench.problems import make_inputs  # noqa: E402
from xpgrad.bench.runtime import FLOAT_DTYPES, Runtime  # noqa: E402
from xpgrad.bench.timing import calibrate  # noqa: E402

#: Size classes, smallest first: (m, k, n) of the problems in each.
SIZE_CLASSES = {
    "tiny": ((2, 2, 2), (8, 8, 8), (32, 64, 32)),
    "small": ((256, 256, 256),),
    "medium": ((1024, 1024, 1024),),
    "large": ((4096, 4096, 4096),),
}
#: B of the broadcast weight-gradient case A (B, 128, 128) @ W (128, 128), per size class.
BATCHES = {"tiny": (1,), "small": (16,), "medium": (256,), "large": (1024,)}
_ORDER = tuple(SIZE_CLASSES)


def pytest_addoption(parser):
    group = parser.getgroup("xpgrad bench")
    group.addoption("--bench-size", choices=_ORDER,
                    default=os.environ.get("XPGRAD_BENCH_SIZE", "medium"),
                    help="largest size class to run: tiny, small, medium (default), large")
    group.addoption("--bench-devices", default=os.environ.get("XPGRAD_BENCH_DEVICES", "auto"),
                    help="comma-separated devices, or 'auto' (default): cpu plus the GPUs "
                         "CuPy sees")
    group.addoption("--bench-dtypes",
                    default=os.environ.get("XPGRAD_BENCH_DTYPES", ",".join(FLOAT_DTYPES)),
                    help="comma-separated dtypes (default: all four float dtypes)")
    group.addoption("--bench-budget", type=float,
                    default=float(os.environ.get("XPGRAD_BENCH_BUDGET", "0.1")),
                    help="seconds of timed rounds per benchmark (default 0.1)")
    group.addoption("--bench-no-torch", action="store_true", help="skip the torch baselines")


def size_classes(config) -> tuple:
    """The size classes selected by ``--bench-size`` (it and every smaller one)."""
    return _ORDER[: _ORDER.index(config.getoption("--bench-size")) + 1]


def _devices(config) -> list:
    text = config.getoption("--bench-devices").strip()
    if text in ("auto", "all"):
        if importlib.util.find_spec("cupy") is None:
            return ["cpu"]
        import xpgrad

        return [str(d) for d in xpgrad.devices()]
    return [s.strip() for s in text.split(",") if s.strip()]


def _dtypes(config, metafunc) -> list:
    wanted = [s.strip() for s in config.getoption("--bench-dtypes").split(",") if s.strip()]
    marker = metafunc.definition.get_closest_marker("dtypes")
    if marker is not None:
        wanted = [d for d in wanted if d in marker.args[0]]
    return wanted


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "dtypes(names): restrict the dtype parameter of a benchmark to these names")


def pytest_generate_tests(metafunc):
    """Parametrize ``device``, ``dtype``, ``mkn`` and ``batch`` from the command-line options."""
    config = metafunc.config
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _devices(config))
    if "dtype" in metafunc.fixturenames:
        metafunc.parametrize("dtype", _dtypes(config, metafunc))
    if "mkn" in metafunc.fixturenames:
        sizes = [s for c in size_classes(config) for s in SIZE_CLASSES[c]]
        metafunc.parametrize("mkn", sizes, ids=["x".join(map(str, s)) for s in sizes])
    if "batch" in metafunc.fixturenames:
        batches = [b for c in size_classes(config) for b in BATCHES[c]]
        metafunc.parametrize("batch", batches, ids=[f"B{b}" for b in batches])


def pytest_collection_modifyitems(config, items):
    """Move the torch benchmarks after all the others (a stable sort)."""
    items.sort(key=lambda item: _is_torch(item))


def _is_torch(item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("impl") == "torch"


class _Session:
    """State shared by the benchmarks of one session."""

    def __init__(self) -> None:
        self.runtimes: dict = {}
        self.clocks: dict = {}
        self.last_family: str | None = None

    def clock(self, rt: Runtime):
        """One synchronizing timer per device (pytest-benchmark caches its precision)."""
        key = str(rt.device)
        if key not in self.clocks:
            self.clocks[key] = synced_clock(rt.sync)
        return self.clocks[key]

    def runtime(self, device: str) -> Runtime:
        if device not in self.runtimes:
            try:
                self.runtimes[device] = Runtime(device)
            except RuntimeError as exc:
                self.runtimes[device] = exc
        rt = self.runtimes[device]
        if isinstance(rt, Exception):
            pytest.skip(str(rt))
        return rt

    def switch_to(self, family: str, pause: float = 0.3) -> None:
        """Sleep when switching between NumPy and torch timing."""
        if self.last_family is not None and family != self.last_family:
            time.sleep(pause)
        self.last_family = family


@pytest.fixture(scope="session")
def bench_session():
    return _Session()


@pytest.fixture
def bench(benchmark, bench_session, request):
    """Time one implementation of a Spec with pytest-benchmark.

    ``bench(spec, impl)`` builds ``impl`` (see
    :func:`xpgrad.bench.impls.build`) on the spec's inputs, records the
    spec (device, dtype, shapes, FLOPs...) in ``extra_info``, times
    ``spec.phase`` with ``benchmark.pedantic`` sized to ``--bench-budget``,
    and adds GFLOP/s. It returns ``(impl, inputs, runtime)``: the built
    :class:`~xpgrad.bench.impls.Impl`, its inputs and the device's
    :class:`~xpgrad.bench.runtime.Runtime`, for follow-up measurements.
    """
    config = request.config

    def run(spec, impl):
        rt = bench_session.runtime(spec.device)
        if rt.dtype(spec.dtype) is None:
            pytest.skip(rt.missing_dtype_reason(spec.dtype))
        if impl == "torch":
            why = ("--bench-no-torch" if config.getoption("--bench-no-torch")
                   else rt.torch_reason(spec.dtype))
            if why:
                pytest.skip(why)
        benchmark.group = (f"{spec.op} {spec.kind} {spec.phase} {spec.shape_text} "
                           f"{spec.dtype} {spec.device}")
        benchmark.extra_info.update(spec.as_dict())
        benchmark.extra_info["impl"] = impl
        with rt.scope():  # the raw-namespace baselines run on the current GPU
            inputs = make_inputs(spec, rt)
            built = build(spec, impl, rt, inputs)
            _check_results(spec, impl, built, rt, inputs)  # a fast wrong answer is no result
            step = built.step(spec.phase)
            if rt.is_gpu and hasattr(benchmark, "_timer"):
                # One sync per round of iterations, not per call (see the module docstring).
                benchmark._timer = bench_session.clock(rt)
            elif rt.is_gpu:
                step = _synced(step, rt.sync)
            bench_session.switch_to("torch" if impl == "torch" else rt.name)
            plan = pedantic_plan(step, sync=rt.sync, budget=config.getoption("--bench-budget"))
            benchmark.pedantic(step, **plan)
        stats = getattr(benchmark, "stats", None)
        median = getattr(getattr(stats, "stats", None), "median", None)
        if median and spec.flops:
            benchmark.extra_info["gflops"] = spec.flops / median / 1e9
        return built, inputs, rt

    return run


#: The largest relative error of an implementation's output and gradients against
#: float64 NumPy by hand, per dtype (half precision: NumPy's own float16 matmul is
#: 2e-3 off; bfloat16 has 8 bits of mantissa).
TOLERANCE = {"float64": 1e-9, "float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}


def _check_results(spec, impl, built, rt, inputs) -> None:
    """Fail the benchmark of an implementation whose results are wrong."""
    if spec.phase == "forward":
        return
    error = max_relative_error(built.results(), reference_results(spec, rt, inputs))
    tolerance = TOLERANCE.get(spec.dtype, 1e-2)
    assert error <= tolerance, (
        f"{impl} of {spec.op} {spec.kind} {spec.shape_text} {spec.dtype}: relative error "
        f"{error:.2e} against float64 NumPy by hand (tolerance {tolerance:g})"
    )


def synced_clock(sync):
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


def pedantic_plan(fn, *, sync, budget: float = 0.2, round_time: float = 0.002,
                  min_rounds: int = 3, max_rounds: int = 50) -> dict:
    """Arguments for ``benchmark.pedantic`` that spend about ``budget`` seconds.

    A round runs enough iterations to last ``round_time``; slow calls get
    one iteration per round and ``min_rounds`` rounds. One warmup round is
    added when a round takes under a second.

    Returns
    -------
    dict
        ``rounds``, ``iterations`` and ``warmup_rounds``.
    """
    iterations, per_call = calibrate(fn, sync=sync, min_time=round_time)
    per_round = per_call * iterations
    rounds = int(min(max_rounds, max(min_rounds, budget // max(per_round, 1e-9))))
    return {"rounds": rounds, "iterations": iterations,
            "warmup_rounds": 1 if per_round < 1.0 else 0}


def _synced(step, sync):
    """Fallback when pytest-benchmark's timer cannot be replaced: sync every call."""

    def call():
        step()
        sync()

    return call
