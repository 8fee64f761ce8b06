"""``xpgrad.array_api.special``: scipy.special's functions on Tensors, with
gradients.

Each function has scipy.special's name and signature, takes Tensors, native
arrays (constants) and Python numbers, computes with the data's own library
(see :mod:`xpgrad.ops.special`) and records its rule, so ``backward()``
differentiates it. With ``SCIPY_ARRAY_API=1``, scipy.special dispatches its
element-wise functions on arrays of an unknown namespace to
``xp.special.<name>``, so ``scipy.special.erf(t)`` on a Tensor comes here::

    >>> import numpy as np, xpgrad
    >>> import xpgrad.array_api as xp
    >>> t = xpgrad.tensor(np.array([0.0, 1.0]), requires_grad=True)
    >>> xp.sum(xp.special.gammaln(t + 1.0)).backward()
    >>> t.grad  # psi(1), psi(2)
    array([-0.57721566,  0.42278434])

``logsumexp``, ``softmax`` and ``log_softmax``, which scipy writes in Array
API code (and so differentiates through this namespace without
dispatching), are compositions of the namespace's functions here too.

An argument without a closed-form derivative (``gammainc``'s ``a``) refuses
a Tensor that requires grad with a TypeError naming it. A name of
scipy.special that xpgrad does not provide raises an AttributeError, which
scipy takes to mean "compute it yourself".
"""

from __future__ import annotations

import inspect as _inspect
import math as _math

import numpy as _np

from ..ops import special as _rules
from ..tensor import Tensor as _Tensor
from ..tensor import apply as _apply
from ..tensor import is_grad_enabled as _is_grad_enabled
from ._docs import document as _document

_P = _inspect.Parameter


def _function(rule, name: str | None = None):
    """The namespace function of ``rule``, with scipy's name and signature
    (positional-only for scipy's ufuncs)."""
    name = name or rule.__name__
    kind = _P.POSITIONAL_ONLY if rule.ufunc else _P.POSITIONAL_OR_KEYWORD
    params = [_P(a, kind, default=None if a in rule.optional else _P.empty) for a in rule.args]
    params += [_P(p, kind, default=d) for p, d in rule.params]
    sig = _inspect.Signature(params)
    n, full, refused = len(rule.args), len(params), rule._refused

    def function(*args, **kwargs):
        if kwargs or len(args) != full:
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}{sig}: {exc}") from None
            bound.apply_defaults()
            args = tuple(bound.arguments.values())
        for i in refused:
            v = args[i]
            if type(v) is _Tensor and v.requires_grad and _is_grad_enabled():
                raise rule.refusal(i)
        return _apply(rule, args[:n], *args[n:])

    function.__signature__ = sig
    function.__name__ = function.__qualname__ = name
    body = _inspect.cleandoc(rule.__doc__ or "")
    if rule.nondiff:
        body += (
            f"\n\nA Tensor that requires grad as {', '.join(rule.nondiff)} raises TypeError: "
            f"there is no closed-form derivative there."
        )
    body += (
        f"\n\nThe rule is :class:`xpgrad.ops.{rule.__name__}`; its ``forward`` and ``backward`` "
        f"also work on plain arrays."
    )
    _document(function, f"scipy.special's ``{name}``, recording its gradient.", body)
    function.__module__ = __name__
    return function


_RULES = [r for r in vars(_rules).values()
          if isinstance(r, type) and issubclass(r, _rules.Special) and r is not _rules.Special]
_FUNCTIONS = {r.__name__: _function(r) for r in _RULES}
_FUNCTIONS["digamma"] = _function(_rules.psi, "digamma")
globals().update(_FUNCTIONS)


# -- compositions, written as scipy writes them -----------------------------------


def _xa():
    from .. import array_api

    return array_api


def _as_tensor(op: str, name: str, x):
    if type(x) is _Tensor:
        t = x
    elif hasattr(x, "shape") and hasattr(x, "dtype"):
        t = _Tensor(x)
    else:
        raise TypeError(
            f"{op}: {name} must be an array or a Tensor; got {type(x).__name__} (wrap numbers "
            f"with xpgrad.tensor)"
        )
    xa = _xa()
    if not xa.isdtype(t.dtype, ("real floating", "complex floating")):
        t = xa.astype(t, xa.float64)  # scipy promotes integers to floating point
    elif xa.isdtype(t.dtype, "complex floating"):
        raise TypeError(f"{op}: {name} is complex; xpgrad's {op} takes real arrays only")
    return t


def _axes(op: str, axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, int) or not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {axis!r} is out of range for {ndim} dimensions")
        out.append(a % ndim)
    return tuple(out)


def _shift(xa, x, axes: tuple, finite: bool):
    """The maximum over ``axes`` (kept), a constant: the shift that keeps exp
    from overflowing; 0 over empty axes, and where it is not finite if asked."""
    if any(x.shape[a] == 0 for a in axes):
        return 0.0
    m = xa.max(x.detach(), axis=axes, keepdims=True)
    if finite:
        m = xa.where(xa.isfinite(m), m, 0.0)
    return m


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    xa = _xa()
    a = _as_tensor("logsumexp", "a", a)
    if b is not None:
        if isinstance(b, (int, float)) and not isinstance(b, bool):
            b = xa.full_like(a, float(b))
        b = _as_tensor("logsumexp", "b", b)
        if b.dtype != a.dtype:
            dt = xa.result_type(a.dtype, b.dtype)
            a, b = xa.astype(a, dt), xa.astype(b, dt)
        if tuple(a.shape) != tuple(b.shape):
            a, b = xa.broadcast_arrays(a, b)
    if a.ndim == 0:
        a = xa.reshape(a, (1,))
        b = None if b is None else xa.reshape(b, (1,))
    axes = _axes("logsumexp", axis, a.ndim)
    if b is None:
        m = _shift(xa, a, axes, finite=True)
        e = xa.exp(a - m)
    else:
        # An element with weight 0 adds nothing, even an infinite or nan one (scipy), and
        # sets no shift; its b still gets the gradient exp(a - out) (it was cut off: 0)
        zero = b == 0
        m = _shift(xa, xa.where(zero, -_math.inf, a), axes, finite=True)
        z = xa.where(zero & ~xa.isfinite(a), -_math.inf, a) - m
        cap = _math.log(float(xa.finfo(a.dtype).max)) / 2  # exp of it times 0 stays 0
        e = b * xa.exp(xa.where(zero, xa.minimum(z, cap), z))
    s = xa.sum(e, axis=axes, keepdims=True)
    with _np.errstate(divide="ignore", invalid="ignore"):  # -inf and nan are results here
        if return_sign:
            sgn = xa.sign(s).detach()
            out = xa.log(xa.abs(s)) + m
        else:
            out = xa.log(s) + m  # nan where the sum is negative, as scipy
    if not keepdims:
        out = xa.squeeze(out, axis=axes)
        if return_sign:
            sgn = xa.squeeze(sgn, axis=axes)
    return (out, sgn) if return_sign else out


def softmax(x, axis=None):
    xa = _xa()
    x = _as_tensor("softmax", "x", x)
    axes = _axes("softmax", axis, x.ndim)
    e = xa.exp(x - _shift(xa, x, axes, finite=False))
    return e / xa.sum(e, axis=axes, keepdims=True)


def log_softmax(x, axis=None):
    xa = _xa()
    x = _as_tensor("log_softmax", "x", x)
    axes = _axes("log_softmax", axis, x.ndim)
    z = x - _shift(xa, x, axes, finite=True)
    with _np.errstate(divide="ignore"):
        return z - xa.log(xa.sum(xa.exp(z), axis=axes, keepdims=True))


_LSE_DOC = (
    "Computed as ``log(sum(b * exp(a - m))) + m`` with ``m`` the maximum over ``axis``, a "
    "constant (0 where it is not finite), so the gradient is ``G * b * exp(a - out)``, the "
    "softmax. As scipy: elements with ``b == 0`` add nothing, a negative sum gives nan "
    "unless ``return_sign=True``, which returns ``(log|sum|, sign)`` with the sign a "
    "constant; a 0-d ``a`` is taken as 1-D. Real arrays; integers are promoted to float64."
)
_SOFTMAX_DOC = (
    "Shifted by the maximum over ``axis`` (a constant: the result does not depend on it); "
    "the gradient is the composition's, ``s * (G - sum(G * s))``."
)
_LOG_SOFTMAX_DOC = (
    "Shifted by the finite maximum over ``axis`` (a constant); the gradient is the "
    "composition's, ``G - softmax(x) * sum(G)``."
)
for _f, _summary, _body in (
    (logsumexp, "``log(sum(b * exp(a)))`` over ``axis``, as scipy.special.logsumexp.", _LSE_DOC),
    (softmax, "``exp(x) / sum(exp(x))`` over ``axis``, as scipy.special.softmax.", _SOFTMAX_DOC),
    (log_softmax, "``x - logsumexp(x)`` over ``axis``, as scipy.special.log_softmax.", _LOG_SOFTMAX_DOC),
):
    _document(_f, _summary, _body)
    _f.__module__ = __name__
del _f, _summary, _body, _LSE_DOC, _SOFTMAX_DOC, _LOG_SOFTMAX_DOC

__all__ = sorted([*_FUNCTIONS, "logsumexp", "softmax", "log_softmax"])


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"module 'xpgrad.array_api.special' has no attribute {name!r}: xpgrad does not "
        f"differentiate scipy.special.{name} (yet); compute it on t.detach().data with the "
        f"data's own library if no gradient needs to flow through it"
    )
