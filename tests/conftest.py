"""Shared fixtures: the backends every rule is checked on, dtypes, and an RNG.

Backends
--------
The ``backend`` fixture is parametrized explicitly over ``numpy``,
``array_api_strict``, ``torch``, ``jax``, ``cubed`` (CPU arrays) and ``cupy``
(arrays on ``cuda:0``), one case per backend with the backend's name as its id
(``test_x[torch-float32]``). A backend whose library does not import, or
``cupy`` without a visible GPU, is *skipped with a reason*, never passed
silently. A test that runs on some backends only parametrizes the fixture
itself::

    @pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)

``pytest --backend NAME`` (or ``--backend numpy,torch``) deselects every case
of the other backends. A case's backend is its ``backend`` parameter; a test
without one names its backends with ``@pytest.mark.backend("cupy")`` (as
test_gpu.py does for the whole module); any other test works on NumPy arrays
and counts as ``numpy``. So ``--backend cupy`` runs the cupy cases and the
GPU-only tests, ``--backend numpy`` the rest. cubed's cases of the shared
tests run only when ``--backend`` names it (see ``OPT_IN``); a plain run
checks cubed through test_cubed.py and test_lazy_namespace.py. A test marked
``jax_sample(n)`` runs every n-th of its JAX cases in a plain run (JAX compiles
each op at each shape), and all of them under ``--backend jax``; hypothesis
tests sample JAX's examples the same way (``support.sampled_out``).

Summary
-------
The short summary lists failures and errors (``-rfE`` in pyproject.toml);
skips are counted once per reason in a section of their own, below.
"""

from __future__ import annotations

import os
import re
from collections import Counter

# scipy reads this once, at import: with it, scipy.special and scikit-learn
# take xpgrad Tensors through the Array API (tests/test_array_api_e2e.py).
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# JAX compiles every op at every new shape, and compiling is most of its
# cases' time: LLVM's cheaper passes make that about 10% faster. Neither
# setting is fast-math, so the results are the same. A user's own XLA_FLAGS
# win.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
)

import numpy as np
import pytest

from tests import support
from tests.support import BACKEND_NAMES, backend_params, get_backend

try:  # numpy's OpenBLAS and torch's OpenMP pool starve each other on 2 cores
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch is optional
    torch = None

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "xpgrad",
        deadline=None,
        database=None,  # no .hypothesis/ directory written by the suite
        derandomize=True,  # the same examples on every run and machine
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "xpgrad"))
except ImportError:  # hypothesis is optional; its tests importorskip it
    pass


def pytest_addoption(parser):
    parser.addoption(
        "--backend",
        action="store",
        default=None,
        metavar="NAME[,NAME...]",
        help=f"run only the cases of these backends ({', '.join(BACKEND_NAMES)})",
    )


def _selected(config) -> tuple[str, ...] | None:
    value = config.getoption("--backend")
    if not value:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in BACKEND_NAMES]
    if unknown or not names:
        what = f"unknown backend(s) {', '.join(unknown)}" if unknown else "no backend named"
        raise pytest.UsageError(
            f"--backend {value!r}: {what}; give one or more of {', '.join(BACKEND_NAMES)}, "
            f"separated by commas"
        )
    return names


def pytest_configure(config):
    # a bad --backend fails at start-up, not per test
    support.SAMPLE_JAX = _selected(config) is None


def pytest_collection_modifyitems(config, items):
    names = _selected(config)
    keep, drop = [], []
    if names is None:
        # cubed plans, stores and runs every compute (10-40 ms even for a
        # 2x3 array): its cases of the shared tests take minutes, so a plain
        # run checks cubed through its own files (test_cubed.py,
        # test_lazy_namespace.py)
        # and ``--backend cubed`` runs the rest.
        seen: Counter = Counter()
        for item in items:
            be = _parametrized_backend(item)
            if be in OPT_IN:
                drop.append(item)
                continue
            sample = item.get_closest_marker("jax_sample")
            if be == "jax" and sample is not None:
                # JAX compiles every op at every new shape (about 0.4 s a
                # case here): a plain run keeps every n-th JAX case of such
                # a test, ``--backend jax`` all of them.
                n = seen[item.originalname] = seen[item.originalname] + 1
                if (n - 1) % sample.args[0]:
                    drop.append(item)
                    continue
            keep.append(item)
    else:
        for item in items:
            (keep if set(_backends_of(item)) & set(names) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# Backends whose cases of the shared (``backend``-parametrized) tests run only
# when ``--backend`` names them.
OPT_IN = ("cubed",)


def _parametrized_backend(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec is not None else None


def _backends_of(item) -> tuple[str, ...]:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "backend" in callspec.params:
        return (callspec.params["backend"],)
    marked = tuple(n for m in item.iter_markers("backend") for n in m.args)
    return marked or ("numpy",)


@pytest.fixture(params=backend_params())
def backend(request):
    """A :class:`tests.support.Backend`; skips when that library or its device is missing."""
    be, why = get_backend(request.param)
    if be is None:
        pytest.skip(f"backend {request.param}: {why}")
    return be


@pytest.fixture(params=["float32", "float64"], ids=["float32", "float64"])
def dtype(request) -> str:
    """A floating dtype name; ``backend.dtype(name)`` gives the native dtype."""
    return request.param


@pytest.fixture
def rng():
    """A seeded generator per test: no global random state."""
    return np.random.default_rng(20240611)


# -- the skips, once per reason -------------------------------------------

_MOST_REASONS = 15
_LONGEST_REASON = 160


def _skip_reason(report) -> str:
    """A skip's reason with what differs from test to test taken out, so that
    the same cause on many tests reads as one line."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = re.sub(r"^Skipped: ", "", reason)
    reason = re.sub(r"\b0x[0-9a-fA-F]+\b", "0x...", reason)  # object addresses
    return " ".join(reason.split())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    counts = Counter(_skip_reason(r) for r in skipped)
    terminalreporter.section("skipped, by reason", sep="-")
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    width = len(str(ranked[0][1]))
    for reason, n in ranked[:_MOST_REASONS]:
        if len(reason) > _LONGEST_REASON:
            reason = reason[: _LONGEST_REASON - 3] + "..."
        terminalreporter.write_line(f"{n:>{width}} skipped: {reason}")
    if len(ranked) > _MOST_REASONS:
        rest = ranked[_MOST_REASONS:]
        terminalreporter.write_line(
            f"and {len(rest)} more reasons ({sum(n for _, n in rest)} skipped); -rs lists every skip"
        )
