"""Hostile input to every rule, on every backend: the errors are xpgrad's own.

The contract: a bad argument to a public entry point raises ``TypeError``
(wrong kind of thing) or ``ValueError`` (bad value: a shape that does not
fit, sizes that are unknown), with the op's name in the message, and for a
backward the message starts with ``"<op>.backward:"``. Never an
AttributeError, IndexError or KeyError from deep inside a rule, and never a
backend's own message that does not say which op it came from.

For each rule, every array argument is spoiled with every kind of hostile
value, one case each (``[numpy-matmul-a-list]``: backend, rule, argument,
kind); another pair of tests spoils a backward's ``grad_out`` or ``ctx``
after a valid forward (``[torch-sum-wrong-shape]``). Shapes are tiny, so JAX
compiles little.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np
import pytest

import xpgrad
from tests.support import other_library
from xpgrad import ops

# Building the hostile numpy.matrix values warns that np.matrix is discouraged.
pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

HAVE_DASK = importlib.util.find_spec("dask") is not None


# -- the rules -------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One rule and a valid call of it.

    arrays : name -> shape of each array argument, in positional order.
    params : keyword arguments that are not arrays.
    wrong_shapes : name -> shapes that argument must be rejected with
        (ValueError) while the others keep their valid shapes.
    scalars_ok : Python scalars are valid operands (add, sub, mul, div, pow).
    none_ok : argument names for which None is valid (linear's bias).
    """

    name: str
    rule: object
    arrays: dict
    params: dict = field(default_factory=dict)
    wrong_shapes: dict = field(default_factory=dict)
    scalars_ok: bool = False
    none_ok: frozenset = frozenset()

    def __str__(self) -> str:
        return self.name


_BINARY_WRONG = {"a": [(4,)], "b": [(3, 2)]}  # neither broadcasts against (2, 3)

SPECS = [
    Spec("matmul", ops.matmul, {"a": (2, 3), "b": (3, 2)},
         wrong_shapes={"a": [(2, 4), ()], "b": [(4, 2), ()]}),
    Spec("linear", ops.linear, {"x": (2, 3), "w": (4, 3), "b": (4,)},
         wrong_shapes={"x": [(2, 5), ()], "w": [(4, 5), (3,), (4, 3, 1)], "b": [(5,), (4, 1)]},
         none_ok=frozenset({"b"})),
    Spec("add", ops.add, {"a": (2, 3), "b": (2, 3)}, wrong_shapes=_BINARY_WRONG, scalars_ok=True),
    Spec("sub", ops.sub, {"a": (2, 3), "b": (2, 3)}, wrong_shapes=_BINARY_WRONG, scalars_ok=True),
    Spec("mul", ops.mul, {"a": (2, 3), "b": (2, 3)}, wrong_shapes=_BINARY_WRONG, scalars_ok=True),
    Spec("div", ops.div, {"a": (2, 3), "b": (2, 3)}, wrong_shapes=_BINARY_WRONG, scalars_ok=True),
    Spec("pow", ops.pow, {"x": (2, 3), "p": (2, 3)},
         wrong_shapes={"x": [(4,)], "p": [(3, 2)]}, scalars_ok=True),
    Spec("neg", ops.neg, {"x": (2, 3)}),
    Spec("add_bias", ops.add_bias, {"x": (2, 3), "b": (3,)},
         wrong_shapes={"x": [(2, 4), ()], "b": [(4,), (3, 1), ()]}),
    Spec("sum", ops.sum, {"x": (2, 3)}),
    Spec("mean", ops.mean, {"x": (2, 3)}),
    Spec("reshape", ops.reshape, {"x": (2, 3)}, params={"shape": (3, 2)},
         wrong_shapes={"x": [(5,)]}),
    Spec("permute_dims", ops.permute_dims, {"x": (2, 3)}, params={"axes": (1, 0)},
         wrong_shapes={"x": [(2, 3, 1)]}),
    Spec("to_device", ops.to_device, {"x": (2, 3)}, params={"device": "cpu"}),
]


def _host(shape) -> np.ndarray:
    """Positive, distinct float64 values (positive so pow's forward is defined)."""
    n = int(np.prod(shape, dtype=int))
    return (np.arange(n, dtype=np.float64) / 4 + 0.5).reshape(shape)


def _call(spec: Spec, args: dict):
    return spec.rule.forward(*args.values(), **spec.params)


def _valid_args(spec: Spec, backend) -> dict:
    return {k: backend.asarray(_host(s)) for k, s in spec.arrays.items()}


# -- hostile values --------------------------------------------------------


def _masked(h):
    mask = np.zeros(h.shape, dtype=bool)
    mask.flat[0] = True
    return np.ma.masked_array(h, mask=mask)


def _unknown_size_dask():
    da = pytest.importorskip("dask.array")
    d = da.ones((6, 4), chunks=3)
    return d[d[:, 0] > 0]  # shape (nan, 4)


# Kinds of thing that are not an array of the backend: TypeError.
WRONG_KIND = {
    "list": lambda h, be: np.atleast_1d(h).tolist(),
    "tuple": lambda h, be: tuple(np.atleast_1d(h).tolist()),
    "str": lambda h, be: "abc",
    "bytes": lambda h, be: b"abc",
    "dict": lambda h, be: {"a": 1},
    "set": lambda h, be: {1, 2},
    "None": lambda h, be: None,
    "object()": lambda h, be: object(),
    "numpy.matrix": lambda h, be: np.matrix(np.atleast_2d(h)),
    "numpy.ma.MaskedArray": lambda h, be: _masked(h),
    "xpgrad.Tensor": lambda h, be: xpgrad.tensor(h),
}


def _shape_id(shape) -> str:
    return "shape" + str(tuple(shape)).replace(" ", "")


def _forward_kinds(spec: Spec, arg: str) -> dict:
    """kind -> (make(host, backend), the exception type the rule must raise)."""
    kinds = {k: (make, TypeError) for k, make in WRONG_KIND.items()}
    if arg in spec.none_ok:
        del kinds["None"]
    if not spec.scalars_ok:
        # A Python float where only an array will do. matmul treats it as a
        # 0-d operand, which numpy.matmul rejects with a ValueError.
        kinds["python-float"] = (
            lambda h, be: 2.0, ValueError if spec.name == "matmul" else TypeError
        )
    if spec.name == "pow":
        kinds["python-bool"] = (lambda h, be: True, TypeError)  # pow has no bool gradient
    if HAVE_DASK:
        kinds["dask-unknown-size"] = (lambda h, be: _unknown_size_dask(), ValueError)
    if len(spec.arrays) > 1:
        kinds["other-library"] = (other_library, TypeError)
    for shape in spec.wrong_shapes.get(arg, []):
        kinds[_shape_id(shape)] = (
            lambda h, be, shape=shape: be.asarray(_host(shape)), ValueError
        )
    return kinds


def assert_rejected(call, expected: type, name: str, *, backward: bool = False):
    # pytest.raises lets any other exception (AttributeError, IndexError, a
    # torch RuntimeError...) through, which fails the test.
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    msg = str(info.value)
    assert info.type is expected, (
        f"expected {expected.__name__}, got {info.type.__name__}: {msg}"
    )
    if backward:
        assert msg.startswith(f"{name}.backward:"), (
            f"message does not start with {name}.backward: {msg!r}"
        )
    else:
        assert msg.startswith(f"{name}:"), f"message does not start with {name}: {msg!r}"


# -- forward ---------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, arg, kind",
    [
        pytest.param(spec, arg, kind, id=f"{spec}-{arg}-{kind}")
        for spec in SPECS
        for arg in spec.arrays
        for kind in _forward_kinds(spec, arg)
    ],
)
def test_forward_rejects_hostile_argument(backend, spec, arg, kind):
    make, expected = _forward_kinds(spec, arg)[kind]
    args = _valid_args(spec, backend)
    args[arg] = make(_host(spec.arrays[arg]), backend)
    assert_rejected(lambda: _call(spec, args), expected, spec.name)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_valid_call_of_each_spec_passes(backend, spec):
    """The battery's baseline: without spoiling, every call above succeeds, so
    the errors it sees come from the spoiled argument."""
    out, ctx = _call(spec, _valid_args(spec, backend))
    assert ctx.op == spec.name
    assert tuple(out.shape) == ctx.out_shape


# -- backward --------------------------------------------------------------

_FORWARDS: dict = {}


def _forward(spec: Spec, backend):
    """(out, ctx) of a valid forward, made once per backend and rule: the
    backward calls below raise before they use anything in ctx."""
    key = (backend.name, spec.name)
    if key not in _FORWARDS:
        _FORWARDS[key] = _call(spec, _valid_args(spec, backend))
    return _FORWARDS[key]


# kind -> (make(a host array of the output's shape, backend), exception)
GRAD_KINDS = {
    **{k: (make, TypeError) for k, make in WRONG_KIND.items()},
    "python-float": (lambda h, be: 1.0, TypeError),
    "other-library": (other_library, TypeError),
    "bool-array": (lambda h, be: be.asarray(np.ones(h.shape, dtype=bool)), TypeError),
    "wrong-shape": (lambda h, be: be.asarray(np.ones(h.shape + (2,))), ValueError),
}


@pytest.mark.parametrize(
    "spec, kind",
    [pytest.param(spec, kind, id=f"{spec}-{kind}") for spec in SPECS for kind in GRAD_KINDS],
)
def test_backward_rejects_hostile_grad_out(backend, spec, kind):
    out, ctx = _forward(spec, backend)
    make, expected = GRAD_KINDS[kind]
    grad = make(np.ones(tuple(out.shape)), backend)
    assert_rejected(lambda: spec.rule.backward(grad, ctx), expected, spec.name, backward=True)


def _ctx_kinds(spec: Spec) -> dict:
    """kind -> make(backend): things that are not the ctx ``spec``'s forward returned."""
    kinds = {
        "None": lambda be: None,
        "dict": lambda be: {"op": spec.name, "saved": (), "xp": None},
    }
    for other in SPECS:
        if other.name != spec.name:
            kinds[f"ctx-of-{other.name}"] = lambda be, other=other: _forward(other, be)[1]
    return kinds


@pytest.mark.parametrize(
    "spec, kind",
    [pytest.param(spec, kind, id=f"{spec}-{kind}") for spec in SPECS for kind in _ctx_kinds(spec)],
)
def test_backward_rejects_hostile_ctx(backend, spec, kind):
    out, _ = _forward(spec, backend)
    grad = backend.asarray(np.ones(tuple(out.shape)))
    ctx = _ctx_kinds(spec)[kind](backend)
    assert_rejected(lambda: spec.rule.backward(grad, ctx), TypeError, spec.name, backward=True)


# -- the Tensor API ----------------------------------------------------------


def _t(backend):
    return xpgrad.tensor(backend.asarray(_host((2, 3))), requires_grad=True)


TENSOR_CASES = [
    ("t + None", "add", lambda t: t + None),
    ("None - t", "sub", lambda t: None - t),
    ("t * 'x'", "mul", lambda t: t * "x"),
    ("t / {}", "div", lambda t: t / {}),
    ("t ** None", "pow", lambda t: t ** None),
    ("'abc' ** t", "pow", lambda t: "abc" ** t),
    ("t @ 'abc'", "matmul", lambda t: t @ "abc"),
    ("xpgrad.matmul(t, [[1.0]])", "matmul", lambda t: xpgrad.matmul(t, [[1.0]])),
    ("xpgrad.linear(t, None)", "linear", lambda t: xpgrad.linear(t, None)),
    ("xpgrad.add_bias(t, 'b')", "add_bias", lambda t: xpgrad.add_bias(t, "b")),
    ("t.reshape('a')", "reshape", lambda t: t.reshape("a")),
    ("t.sum(axis='x')", "sum", lambda t: t.sum(axis="x")),
    ("xpgrad.sum(t, axis=1.5)", "sum", lambda t: xpgrad.sum(t, axis=1.5)),
    ("t.mean(axis=[0])", "mean", lambda t: t.mean(axis=[0])),
    ("xpgrad.tensor({'a': 1})", "tensor", lambda t: xpgrad.tensor({"a": 1})),
    ("xpgrad.tensor('abc')", "tensor", lambda t: xpgrad.tensor("abc")),
    ("xpgrad.tensor(object())", "tensor", lambda t: xpgrad.tensor(object())),
    ("t.backward([1.0])", "backward", lambda t: t.backward([1.0])),
    ("t.backward('abc')", "backward", lambda t: t.backward("abc")),
]


@pytest.mark.parametrize("case", TENSOR_CASES, ids=[c[0] for c in TENSOR_CASES])
def test_tensor_api_rejects_wrong_kind(backend, case):
    _, name, call = case
    t = _t(backend)
    assert_rejected(lambda: call(t), TypeError, name)
