"""Hostile input to every function of ``xpgrad.array_api`` (and its linalg,
fft and special extensions): each array argument of a valid call is spoiled
with each kind of bad value, one case each.

The contract is the rules' (test_hostile.py): a TypeError or ValueError that
names the function, never an AttributeError or a library's message that does
not say where it came from. A bad value that is valid after all (a native
array of another library where only one array is given: a constant) is
accepted.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xp

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")


def _t():
    return xpgrad.tensor(np.array([[2.0, 0.5, 0.1], [0.5, 3.0, 0.2], [0.1, 0.2, 4.0]]),
                         requires_grad=True)


def _i():
    return xpgrad.tensor(np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]]))


def _b():
    return xpgrad.tensor(np.array([[True, False, True]] * 3))


def _v():
    return xpgrad.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)


# Valid calls where the signature alone does not give one: (args, kwargs).
CALLS = {
    "take": lambda: ((_t(), xpgrad.tensor(np.array([0, 2]))), {"axis": 0}),
    "take_along_axis": lambda: ((_t(), _i()), {"axis": 1}),
    "where": lambda: ((_b(), _t(), _t()), {}),
    "reshape": lambda: ((_t(), (9,)), {}),
    "permute_dims": lambda: ((_t(), (1, 0)), {}),
    "expand_dims": lambda: ((_t(),), {"axis": 0}),
    "squeeze": lambda: ((xp.reshape(_t(), (1, 9)),), {"axis": 0}),
    "broadcast_to": lambda: ((_t(), (2, 3, 3)), {}),
    "roll": lambda: ((_t(), 1), {}),
    "moveaxis": lambda: ((_t(), 0, 1), {}),
    "tile": lambda: ((_t(), (2, 1)), {}),
    "repeat": lambda: ((_t(), 2), {}),
    "astype": lambda: ((_t(), xp.float32), {}),
    "searchsorted": lambda: ((_v(), _t()), {}),
    "cumulative_sum": lambda: ((_t(),), {"axis": 1}),
    "cumulative_prod": lambda: ((_t(),), {"axis": 1}),
    "full_like": lambda: ((_t(), 1.0), {}),
    "clip": lambda: ((_t(),), {"min": 0.0, "max": 1.0}),
    "nextafter": lambda: ((_t().detach(), _t().detach()), {}),
    "linalg.outer": lambda: ((_v(), _v()), {}),
    "linalg.matrix_power": lambda: ((_t(), 2), {}),
    "linalg.cross": lambda: ((_t(), _t()), {}),
    "linalg.vecdot": lambda: ((_t(), _t()), {}),
}
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"):
    CALLS[_name] = lambda: ((_i(), _i()), {})
CALLS["bitwise_invert"] = lambda: ((_i(),), {})
for _name in ("logical_and", "logical_or", "logical_xor"):
    CALLS[_name] = lambda: ((_b(), _b()), {})
CALLS["logical_not"] = lambda: ((_b(),), {})
for _name in ("unique_all", "unique_counts", "unique_inverse", "unique_values"):
    CALLS[_name] = lambda: ((_t().detach(),), {})

# Functions with no array argument to spoil, or taking arrays in another form.
NOT_HERE = {
    "asarray": "takes any data",
    "arange": "no array argument", "empty": "no array argument", "eye": "no array argument",
    "full": "no array argument", "linspace": "no array argument", "ones": "no array argument",
    "zeros": "no array argument", "from_dlpack": "takes a DLPack exporter",
    "finfo": "takes a dtype", "iinfo": "takes a dtype", "can_cast": "takes dtypes",
    "result_type": "takes dtypes and arrays alike", "isdtype": "takes a dtype",
    "broadcast_arrays": "varargs: test_silent.py", "meshgrid": "varargs: test_silent.py",
    "concat": "a sequence: test_silent.py", "stack": "a sequence: test_silent.py",
    "__array_namespace_info__": "no array argument",
    "fft.fftfreq": "no array argument", "fft.rfftfreq": "no array argument",
}

ARRAY_NAMES = {"x", "x1", "x2", "a", "b", "condition", "indices", "z", "y"}

HOSTILE = {
    "str": "abc",
    "dict": {},
    "None": None,
    "object": object(),
    "list": [1.0, 2.0],
    "matrix": np.matrix([[1.0]]),
    "torch": torch.ones(3, 3, dtype=torch.float64),
}


def _functions():
    found = []
    for prefix, mod in (("", xp), ("linalg.", xp.linalg), ("fft.", getattr(xp, "fft", None)),
                        ("special.", getattr(xp, "special", None))):
        if mod is None:
            continue
        for name in mod.__all__:
            fn = getattr(mod, name)
            if callable(fn) and not isinstance(fn, type) and not inspect.ismodule(fn):
                found.append((prefix + name, fn))
    return found


def _valid_call(name, fn):
    """(args, kwargs) of a valid call, or None where none is derived."""
    if name in CALLS:
        return CALLS[name]()
    if name.endswith("_like"):
        return (_t(),), {}
    sig = inspect.signature(fn)
    required = [p for p in sig.parameters.values() if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not required or not all(p.name in ARRAY_NAMES for p in required):
        return None
    return tuple(_t() for _ in required), {}


FUNCTIONS = dict(_functions())
COVERED = {name for name, fn in FUNCTIONS.items() if name not in NOT_HERE}


def test_every_function_is_covered_or_excused():
    missing = []
    for name in sorted(COVERED):
        if name.startswith("special."):
            continue  # scipy.special's functions: their own tests spoil each argument
        if _valid_call(name, FUNCTIONS[name]) is None:
            missing.append(name)
    assert not missing, f"no valid call for {missing}: add one to CALLS (or a reason to NOT_HERE)"


CASES = [
    pytest.param(name, kind, id=f"{name}-{kind}")
    for name in sorted(COVERED) if not name.startswith("special.")
    for kind in HOSTILE
]


@pytest.mark.parametrize("name, kind", CASES)
def test_hostile_argument_is_refused_by_name(name, kind):
    fn = FUNCTIONS[name]
    args, kwargs = _valid_call(name, fn)
    fn(*args, **kwargs)  # the valid call works
    positions = [i for i, a in enumerate(args) if isinstance(a, xpgrad.Tensor)]
    short = name.rsplit(".", 1)[-1]
    for i in positions:
        spoiled = list(args)
        spoiled[i] = HOSTILE[kind]
        try:
            fn(*spoiled, **kwargs)
        except (TypeError, ValueError) as exc:
            assert str(exc).startswith(f"{short}:"), f"{name}, argument {i}: {exc}"
        else:
            # a native array alone is a constant; lists are refused everywhere
            assert kind == "torch" and len(positions) == 1, f"{name} accepted {kind} as argument {i}"
