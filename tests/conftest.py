"""Shared fixtures: the backends every rule is checked on, dtypes, and an RNG.

Backends
--------
``backend`` is parametrized over ``numpy``, ``array_api_strict``, ``torch``
(CPU tensors) and ``cupy`` (arrays on ``cuda:0``). A backend whose library
does not import, or ``cupy`` without a visible GPU, is *skipped with a
reason*, never passed silently.

``pytest --backend NAME`` (or ``--backend numpy,torch``) keeps only the
cases of those backends. A test's backend is, in this order: its ``backend``
parameter; its ``@pytest.mark.backend("cupy", ...)`` marker (also as a
module's ``pytestmark``); ``cupy`` for a module that imported CuPy at its top
(``cupy = pytest.importorskip("cupy")``); otherwise ``numpy``, since a test
without a ``backend`` fixture works on NumPy arrays. So ``--backend cupy``
runs the cupy cases and the GPU-only modules, ``--backend numpy`` the rest.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.support import BACKEND_NAMES, get_backend

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
    if unknown:
        raise pytest.UsageError(
            f"--backend: unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKEND_NAMES)}"
        )
    return names


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backend(*names): the backends a test without a backend fixture exercises"
    )
    _selected(config)  # a bad --backend fails at startup, not per test


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        for mark in metafunc.definition.iter_markers("parametrize"):
            argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
            if isinstance(argnames, str):
                argnames = [n.strip() for n in argnames.split(",")]
            if "backend" in argnames:
                return  # the test parametrizes backend itself
        names = _selected(metafunc.config) or BACKEND_NAMES
        metafunc.parametrize("backend", names, indirect=True, ids=str)


def pytest_collection_modifyitems(config, items):
    names = _selected(config)
    if names is None:
        return
    keep, drop = [], []
    for item in items:
        (keep if set(_backends_of(item)) & set(names) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _backends_of(item) -> tuple[str, ...]:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "backend" in callspec.params:
        return (callspec.params["backend"],)
    marked = tuple(n for m in item.iter_markers("backend") for n in m.args)
    if marked:
        return marked
    module = getattr(getattr(item, "module", None), "cupy", None)
    if getattr(module, "__name__", None) == "cupy":
        return ("cupy",)
    return ("numpy",)


@pytest.fixture
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
