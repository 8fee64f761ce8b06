"""Element-wise rules: add_bias and the arithmetic operators.

Binary rules broadcast like the namespace does, and reduce each gradient to
its input's shape with :func:`xpgrad.sum_to`; no rule does that reduction
its own way. Either operand of a binary rule may be a Python scalar, which
gets no gradient.
"""

from __future__ import annotations

import cmath
import functools
import math
import numbers
import operator

from .._backend import _arg_name, dtype_info, resolve
from .._shapes import broadcast_shapes, fmt, sum_to
from ._common import (
    BACKEND_ERRORS,
    Ctx,
    backend_error,
    cast,
    check_grad,
    conj_if_complex,
    declare,
    differentiable,
    dtype_pair,
)

__all__ = ["add_bias", "add", "sub", "mul", "div", "pow", "neg"]

_PY_SCALARS = (int, float, complex, bool)


def _meta(x):
    """Shape and dtype of an array operand; None for a Python scalar."""
    return None if type(x) in _PY_SCALARS else (tuple(x.shape), x.dtype)


def _to_input(xp, g, meta):
    """Reduce ``g`` to an input's shape and cast it to the input's dtype."""
    shape, dtype = meta
    if tuple(g.shape) != shape:
        g = sum_to(g, shape, xp=xp)
    return cast(xp, g, dtype)


def _binary_forward(op, fn, a, b, save_inputs, numbers_only=False):
    xp, scope = resolve(op, a, b)
    ma, mb = _meta(a), _meta(b)
    if numbers_only:  # before computing: some libraries' own refusals don't name the op
        for i, m in enumerate((ma, mb)):
            if m is not None and not dtype_info(xp, m[1]).numeric:
                raise TypeError(
                    f"{op}: {_arg_name(op, i)} has dtype {m[1]}; {op} needs numbers (cast "
                    f"booleans with astype first)"
                )
    if ma is not None and mb is not None and ma[0] != mb[0]:
        broadcast_shapes(ma[0], mb[0], op=op)  # our ValueError, not the backend's
    try:
        with scope:
            out = fn(a, b)
    except BACKEND_ERRORS as exc:
        raise backend_error(op, exc) from exc
    needs = (ma is not None and differentiable(xp, a), mb is not None and differentiable(xp, b))
    saved = (ma, mb) + ((a, b, out) if save_inputs else ())
    return out, Ctx(op, xp, scope, saved, needs, tuple(out.shape))


class add:
    """``out = a + b``; da = sum_to(G), db = sum_to(G)."""

    @staticmethod
    def forward(a, b):
        return _binary_forward("add", operator.add, a, b, False)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("add", grad_out, ctx)
        xp = ctx.xp
        ma, mb = ctx.saved
        with ctx.scope:
            ga = _to_input(xp, grad_out, ma) if ctx.needs_input_grad[0] else None
            gb = _to_input(xp, grad_out, mb) if ctx.needs_input_grad[1] else None
        return ga, gb


class sub:
    """``out = a - b``; da = sum_to(G), db = -sum_to(G)."""

    @staticmethod
    def forward(a, b):
        return _binary_forward("sub", operator.sub, a, b, False)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("sub", grad_out, ctx)
        xp = ctx.xp
        ma, mb = ctx.saved
        with ctx.scope:
            ga = _to_input(xp, grad_out, ma) if ctx.needs_input_grad[0] else None
            gb = -_to_input(xp, grad_out, mb) if ctx.needs_input_grad[1] else None
        return ga, gb


class mul:
    """``out = a * b``; da = sum_to(G * conj(b)), db = sum_to(G * conj(a))."""

    @staticmethod
    def forward(a, b):
        return _binary_forward("mul", operator.mul, a, b, True)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("mul", grad_out, ctx)
        xp = ctx.xp
        ma, mb, a, b, _ = ctx.saved
        with ctx.scope:
            ga = gb = None
            if ctx.needs_input_grad[0]:
                ga = _to_input(xp, grad_out * _conj(xp, b), ma)
            if ctx.needs_input_grad[1]:
                gb = _to_input(xp, grad_out * _conj(xp, a), mb)
        return ga, gb


class div:
    """``out = a / b``; da = sum_to(G / conj(b)), db = -sum_to(G * conj(out / b))."""

    @staticmethod
    def forward(a, b):
        return _binary_forward("div", operator.truediv, a, b, True)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("div", grad_out, ctx)
        xp = ctx.xp
        ma, mb, a, b, out = ctx.saved
        with ctx.scope:
            ga = gb = None
            if ctx.needs_input_grad[0]:
                ga = _to_input(xp, grad_out / _conj(xp, b), ma)
            if ctx.needs_input_grad[1]:
                gb = _to_input(xp, -(grad_out * _conj(xp, out / b)), mb)
        return ga, gb


def _conj(xp, v):
    if type(v) is complex:
        return v.conjugate()
    if type(v) in (int, float, bool):
        return v
    return conj_if_complex(xp, v)


def _scalar_log(a, complex_out: bool):
    """log of a Python scalar base, as torch takes it: -inf at 0; below 0, nan
    for a real result and the principal complex log for a complex one."""
    if a == 0:
        return -math.inf
    if isinstance(a, complex) or (complex_out and a < 0):
        return cmath.log(a)
    return math.log(a) if a > 0 else math.nan


class pow:  # noqa: A001 - the rule is named for the operator it differentiates
    """``out = x ** p``; dx = G * conj(p * x ** (p - 1)), dp = G * conj(out * log(x)).

    Either operand may be a Python scalar (``2.0 ** t``). As in torch, dx is 0
    where p == 0, and dp is 0 where x == 0 and p >= 0 (where log(x) is -inf
    but out is 0 or 1 whatever p does).
    """

    @staticmethod
    def forward(x, p):
        if type(p) is bool or type(x) is bool:
            raise TypeError("pow: a boolean base or exponent has no gradient; use 0 or 1")
        if type(p) not in _PY_SCALARS and isinstance(p, numbers.Complex):
            # A NumPy (or Fraction) scalar exponent: a constant, on any backend.
            # Decimal is no numbers.Complex and stays out: resolve() refuses it.
            if isinstance(p, numbers.Integral):
                p = int(p)
            else:
                p = float(p) if isinstance(p, numbers.Real) else complex(p)
        return _binary_forward("pow", operator.pow, x, p, True, numbers_only=True)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("pow", grad_out, ctx)
        xp = ctx.xp
        mx, mp, x, p, out = ctx.saved
        gx = gp = None
        with ctx.scope:
            if ctx.needs_input_grad[0]:
                gx = _to_input(xp, _pow_dx(xp, grad_out, x, p), mx)
            if ctx.needs_input_grad[1]:
                gp = _to_input(xp, _pow_dp(xp, grad_out, x, p, out), mp)
        return gx, gp


def _pow_dx(xp, g, x, p):
    if type(p) in _PY_SCALARS:
        if p == 0:  # d/dx x**0 is 0 everywhere, also where g or x**-1 is nan or inf
            return xp.zeros_like(g)
        if p == 1:
            return g
        if p == 2:
            return g * _conj(xp, x * 2)
        return g * _conj(xp, x ** (p - 1) * p)
    dx = g * _conj(xp, x ** (p - 1) * p)
    return xp.where(p == 0, xp.zeros_like(dx), dx)


def _pow_dp(xp, g, x, p, out):
    scalar = type(x) in _PY_SCALARS
    if scalar:
        log_x = _scalar_log(x, dtype_info(xp, out.dtype).complex)
    else:
        log_x = xp.log(x if x.dtype == out.dtype else xp.astype(x, out.dtype))
    factor = _conj(xp, out * log_x)
    if scalar and x != 0:
        return g * factor
    # 0 ** p is 0 (or 1) for every p >= 0: it does not depend on p there. As in
    # torch, the factor is zeroed before it meets g, so a NaN upstream stays NaN.
    if dtype_info(xp, p.dtype).complex:
        p_nonneg = (xp.real(p) >= 0) & (xp.imag(p) == 0)
    else:
        p_nonneg = p >= 0
    at_zero = p_nonneg if scalar else (x == 0) & p_nonneg
    return g * xp.where(at_zero, xp.zeros_like(factor), factor)


class neg:
    """``out = -x``; dx = -G."""

    @staticmethod
    def forward(x):
        xp, scope = resolve("neg", x)
        try:
            with scope:
                out = -x
        except BACKEND_ERRORS as exc:
            raise backend_error("neg", exc) from exc
        return out, Ctx("neg", xp, scope, x.dtype, (differentiable(xp, x),), tuple(out.shape))

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("neg", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        with ctx.scope:
            return (cast(ctx.xp, -grad_out, ctx.saved),)


@functools.lru_cache(maxsize=1024)
def _bias_view(x_shape: tuple, b_shape: tuple, axis: int) -> tuple:
    """The shape ``b`` takes to broadcast along ``axis`` of ``x``: (1, .., L, .., 1)."""
    nd = len(x_shape)
    if nd == 0 or not -nd <= axis < nd:
        raise ValueError(f"add_bias: axis {axis} is out of range for x of shape {fmt(x_shape)}")
    ax = axis % nd
    if len(b_shape) != 1 or b_shape[0] != x_shape[ax]:
        raise ValueError(
            f"add_bias: b of shape {fmt(b_shape)} does not fit x of shape {fmt(x_shape)} "
            f"along axis {axis}: expected ({x_shape[ax]},)"
        )
    return (1,) * ax + b_shape + (1,) * (nd - ax - 1)


class add_bias:
    """``out = x + b`` with 1-D ``b`` laid along ``x``'s axis ``axis``.

    dx = G; db = G summed over every axis but ``axis``.
    """

    @staticmethod
    def forward(x, b, axis=1):
        """Add bias ``b`` along ``axis`` of ``x``.

        Parameters
        ----------
        x : array, at least 1-D
        b : 1-D array of length ``x.shape[axis]``
        axis : int, default 1
            Negative values count from the end.

        Raises
        ------
        TypeError
            If ``x`` or ``b`` is not an array, or ``axis`` is not an int.
        ValueError
            If ``b`` is not 1-D, its length differs from ``x.shape[axis]``, or
            ``axis`` is out of range.

        Examples
        --------
        >>> import numpy as np
        >>> out, ctx = add_bias.forward(np.zeros((2, 3, 4)), np.arange(3.0))
        >>> out[0, :, 0]
        array([0., 1., 2.])
        """
        xp, scope = resolve("add_bias", x, b)
        if type(axis) is not int:
            if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
                raise TypeError(f"add_bias: axis must be an int; got {axis!r}")
            axis = int(axis)
        x_shape = tuple(x.shape)
        view = _bias_view(x_shape, tuple(b.shape), axis)
        try:
            with scope:
                out = x + (b if view[-1] != 1 or len(view) == 1 else xp.reshape(b, view))
        except BACKEND_ERRORS as exc:
            raise backend_error("add_bias", exc) from exc
        needs = dtype_pair(xp, x.dtype, b.dtype)[2]
        saved = (x.dtype, b.dtype, view, b.shape[0])
        return out, Ctx("add_bias", xp, scope, saved, needs, x_shape)

    @staticmethod
    def backward(grad_out, ctx):
        """``(grad_x, grad_b)`` with the inputs' shapes and dtypes."""
        check_grad("add_bias", grad_out, ctx)
        xp = ctx.xp
        x_dtype, b_dtype, view, length = ctx.saved
        with ctx.scope:
            gx = cast(xp, grad_out, x_dtype) if ctx.needs_input_grad[0] else None
            gb = None
            if ctx.needs_input_grad[1]:
                gb = xp.reshape(cast(xp, sum_to(grad_out, view, xp=xp), b_dtype), (length,))
        return gx, gb


declare("add", ("a", "b"), scalars=("a", "b"))
declare("sub", ("a", "b"), scalars=("a", "b"))
declare("mul", ("a", "b"), scalars=("a", "b"))
declare("div", ("a", "b"), scalars=("a", "b"))
declare("pow", ("x", "p"), scalars=("x", "p"))
declare("neg", ("x",))
declare("add_bias", ("x", "b"))
