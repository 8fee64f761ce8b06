"""Which cases of a table run on which backend, to keep the suite fast.

JAX compiles every primitive for each new shape and dtype, so a JAX case costs
one to two orders of magnitude more than the same case on NumPy. The gradient
rules are written once for every library, so a table's full list runs on the
cheap backends (NumPy, torch, CuPy and, where it adds something, the strict
namespace) and a few representative rows run on JAX.
"""

from __future__ import annotations

import pytest

from tests.support import BACKEND_NAMES

ALL = None  # every row of the table


def backend_cases(table, ids, backends=BACKEND_NAMES, **only):
    """``pytest.param(backend, *row, id="backend-id")`` for each backend and row.

    ``backends`` are the backends the test runs on at all; ``only`` maps a backend name (``jax=...``, ``array_api_strict=...``) to the
    ids of the rows it runs; a backend not named runs every row. Use with
    ``indirect=["backend"]``. Unknown ids fail at collection, so a renamed row
    cannot silently drop out of a subset.
    """
    ids = list(ids)
    for name, keep in only.items():
        if name not in BACKEND_NAMES:
            raise ValueError(f"unknown backend {name!r}")
        missing = set(keep or ()) - set(ids)
        if missing:
            raise ValueError(f"{name}: no rows with ids {sorted(missing)}")
    params = []
    for backend in backends:
        keep = only.get(backend, ALL)
        for row, id_ in zip(table, ids):
            if keep is ALL or id_ in keep:
                row = row if isinstance(row, tuple) else (row,)
                params.append(pytest.param(backend, *row, id=f"{backend}-{id_}"))
    return params
