"""The standard's functions whose values carry no gradient: comparisons,
predicates, logical and bitwise functions, floor division, and index-valued
searches. (The rounding functions are rules with a zero gradient, as torch's.) Each
delegates to the inputs' own namespace and returns a Tensor without a graph.

``nextafter`` and the ``unique_*`` functions do move with their inputs: they
refuse to drop a gradient. ``unique_*`` refuse an input that requires grad;
``nextafter``'s result is recorded, and a gradient that reaches it raises (one
that does not, where its value only picks or compares, passes), as torch's.
"""

from __future__ import annotations

from .._backend import adapter_of, declare, resolve
from .._shapes import normalize_axis
from ..ops._common import BACKEND_ERRORS, backend_error
from ..tensor import Tensor, constant, joined, native_call, plain_call, records
from ._docs import no_gradient

__all__ = [
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "isnan", "isinf", "isfinite", "signbit",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert",
    "bitwise_left_shift", "bitwise_right_shift",
    "floor_divide", "nextafter",
    "argmax", "argmin", "argsort", "nonzero", "searchsorted", "count_nonzero",
    "all", "any",
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
]

# The element-wise functions without gradients, by arity, and why.
_BOOLEAN = "Its values are booleans: they carry no gradient."
_BITS = "Its values are integer bit patterns: they carry no gradient."
_STEPS = (
    "Piecewise constant: its gradient is zero wherever it exists, so the result "
    "records none."
)
_ONE = {
    "isnan": _BOOLEAN, "isinf": _BOOLEAN, "isfinite": _BOOLEAN, "signbit": _BOOLEAN,
    "logical_not": _BOOLEAN, "bitwise_invert": _BITS,
}
_TWO = {
    "equal": _BOOLEAN, "not_equal": _BOOLEAN, "less": _BOOLEAN, "less_equal": _BOOLEAN,
    "greater": _BOOLEAN, "greater_equal": _BOOLEAN,
    "logical_and": _BOOLEAN, "logical_or": _BOOLEAN, "logical_xor": _BOOLEAN,
    "bitwise_and": _BITS, "bitwise_or": _BITS, "bitwise_xor": _BITS,
    "bitwise_left_shift": _BITS, "bitwise_right_shift": _BITS, "floor_divide": _STEPS,
    "nextafter": (
        "Its value moves with its inputs, but xpgrad has no rule for it: a gradient that "
        "reaches it raises rather than be dropped."
    ),
}
for _name in _ONE:
    declare(_name, ("x",))
for _name in _TWO:
    declare(_name, ("x1", "x2"), scalars=("x1", "x2"))
for _name in ("argmax", "argmin", "argsort", "nonzero", "count_nonzero", "all", "any",
              "unique_all", "unique_counts", "unique_inverse", "unique_values"):
    declare(_name, ("x",))
declare("searchsorted", ("x1", "x2", "sorter"), optional=("sorter",))


class _NoRule:
    """The node of a function that moves with its inputs but has no rule
    (nextafter): a gradient that reaches it raises, naming it, in a plain
    backward and in a recorded one alike."""

    higher = True

    @staticmethod
    def backward(g, ctx):
        _NoRule.graph_gradients(None, g, None, None, op=ctx.op)

    @staticmethod
    def graph_gradients(tx, g, s, needs, op="nextafter"):
        raise TypeError(
            f"{op}: not differentiable in xpgrad yet, and a gradient reached it from an input "
            f"that requires grad; call it on t.detach() if no gradient should flow"
        )


def _refuse_grad(name: str, *arrays) -> None:
    if records(arrays):
        raise TypeError(
            f"{name}: not differentiable in xpgrad yet, and its value depends on an input "
            f"that requires grad; call it on t.detach() if no gradient should flow"
        )


def _delegate(name: str, why: str, arity: int):
    """The standard's function ``name``, computed by the inputs' own namespace
    and returned as a Tensor without a graph."""
    recorded = name == "nextafter"  # moves with its inputs: a node that refuses a gradient
    if arity == 1:

        def function(x, /):
            return plain_call(name, x)

    else:

        def function(x1, x2, /):
            out = plain_call(name, x1, x2)
            if recorded and records((x1, x2)):
                return joined(_NoRule, name, out.data, (x1, x2), None)
            return out

    function.__name__ = function.__qualname__ = name
    return no_gradient(why)(function)


globals().update({name: _delegate(name, why, 1) for name, why in _ONE.items()})
globals().update({name: _delegate(name, why, 2) for name, why in _TWO.items()})


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def argmax(x, /, *, axis=None, keepdims=False):
    return plain_call("argmax", x, axis=axis, keepdims=keepdims)


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def argmin(x, /, *, axis=None, keepdims=False):
    return plain_call("argmin", x, axis=axis, keepdims=keepdims)


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def argsort(x, /, *, axis=-1, descending=False, stable=True):
    data = _data(x)
    xp, scope = resolve("argsort", data)
    if data.ndim == 0:
        raise ValueError("argsort: x must have at least one axis; got a 0-D array")
    normalize_axis(axis, data.ndim, "argsort", data.shape)  # torch's error is unnamed
    try:  # the namespace's own, or the adapter's (dask has none: xpgrad/_libs/dask.py)
        with scope:
            return constant(adapter_of(xp).argsort(xp, data, axis=axis, descending=descending,
                                                   stable=stable))
    except BACKEND_ERRORS as exc:
        raise backend_error("argsort", exc)


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def nonzero(x, /):
    # constant(): on dask the sizes are unknown (nan) until computed; the next
    # op on them says so (see _backend.resolve)
    return tuple(constant(i) for i in native_call("nonzero", x))


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def searchsorted(x1, x2, /, *, side="left", sorter=None):
    out = native_call("searchsorted", x1, x2, side=side, sorter=_data(sorter))
    xp, scope = resolve("searchsorted", out)
    want = adapter_of(xp).index_dtype(xp)  # JAX gives int32 with x64 too: the standard's int64
    if out.dtype != want:
        with scope:
            out = xp.astype(out, want)
    return constant(out)


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def count_nonzero(x, /, *, axis=None, keepdims=False):
    if type(axis) is tuple and not axis:  # no axis reduced: each element counts itself
        data = x.data if type(x) is Tensor else x  # (torch's count_nonzero reduced them all)
        xp, scope = resolve("count_nonzero", data)
        try:
            with scope:
                return constant(xp.count_nonzero(xp.expand_dims(data, axis=-1), axis=-1))
        except BACKEND_ERRORS as exc:
            raise backend_error("count_nonzero", exc)
    return plain_call("count_nonzero", x, axis=axis, keepdims=keepdims)


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def all(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return plain_call("all", x, axis=axis, keepdims=keepdims)


@no_gradient("Its values are indices, counts or booleans: they carry no gradient.")
def any(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return plain_call("any", x, axis=axis, keepdims=keepdims)


def _tuple_of_tensors(name: str, x):
    _refuse_grad(name, x)
    out = native_call(name, x)
    return type(out)(*[constant(v) for v in out])  # sizes unknown on dask, as nonzero's


@no_gradient("Its values move with the input, but xpgrad has no rule for it: an input that requires grad is refused rather than its gradient dropped.")
def unique_all(x, /):
    return _tuple_of_tensors("unique_all", x)


@no_gradient("Its values move with the input, but xpgrad has no rule for it: an input that requires grad is refused rather than its gradient dropped.")
def unique_counts(x, /):
    return _tuple_of_tensors("unique_counts", x)


@no_gradient("Its values move with the input, but xpgrad has no rule for it: an input that requires grad is refused rather than its gradient dropped.")
def unique_inverse(x, /):
    return _tuple_of_tensors("unique_inverse", x)


@no_gradient("Its values move with the input, but xpgrad has no rule for it: an input that requires grad is refused rather than its gradient dropped.")
def unique_values(x, /):
    _refuse_grad("unique_values", x)
    return plain_call("unique_values", x)


def _data(x):
    return x.data if type(x) is Tensor else x
