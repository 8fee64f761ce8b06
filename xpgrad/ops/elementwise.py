"""Element-wise rules: add_bias and the arithmetic operators.

Binary rules broadcast like the namespace does, and reduce each gradient to
its input's shape with :func:`xpgrad.sum_to`; no rule does that reduction
its own way. Either operand of a binary rule may be a Python scalar, which
gets no gradient.
"""

from __future__ import annotations

import functools
import numbers
import operator

from .._backend import resolve
from .._shapes import broadcast_shapes, fmt, sum_to
from ._common import Ctx, cast, conj_if_complex, differentiable, dtype_pair

__all__ = ["add_bias", "add", "sub", "mul", "div", "pow", "neg"]


def _meta(x):
    """Shape and dtype of an array operand; None for a Python scalar."""
    return None if type(x) in (int, float, complex, bool) else (tuple(x.shape), x.dtype)


def _to_input(xp, g, meta):
    """Reduce ``g`` to an input's shape and cast it to the input's dtype."""
    shape, dtype = meta
    if tuple(g.shape) != shape:
        g = sum_to(g, shape, xp=xp)
    return cast(xp, g, dtype)


def _check_grad_shape(op, g, ctx_shape):
    if tuple(g.shape) != ctx_shape:
        raise ValueError(
            f"{op}.backward: grad_out has shape {fmt(g.shape)}, expected {fmt(ctx_shape)}"
        )


def _binary_forward(op, fn, a, b, save_inputs):
    xp, scope = resolve(op, a, b)
    ma, mb = _meta(a), _meta(b)
    if ma is not None and mb is not None and ma[0] != mb[0]:
        broadcast_shapes(ma[0], mb[0], op=op)  # our ValueError, not the backend's
    with scope:
        out = fn(a, b)
    needs = (ma is not None and differentiable(xp, a), mb is not None and differentiable(xp, b))
    saved = (ma, mb, tuple(out.shape)) + ((a, b, out) if save_inputs else ())
    return out, Ctx(xp, scope, saved, needs)


class add:
    """``out = a + b``; da = sum_to(G), db = sum_to(G)."""

    @staticmethod
    def forward(a, b):
        return _binary_forward("add", operator.add, a, b, False)

    @staticmethod
    def backward(grad_out, ctx):
        xp = ctx.xp
        ma, mb, out_shape = ctx.saved
        _check_grad_shape("add", grad_out, out_shape)
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
        xp = ctx.xp
        ma, mb, out_shape = ctx.saved
        _check_grad_shape("sub", grad_out, out_shape)
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
        xp = ctx.xp
        ma, mb, out_shape, a, b, _ = ctx.saved
        _check_grad_shape("mul", grad_out, out_shape)
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
        xp = ctx.xp
        ma, mb, out_shape, a, b, out = ctx.saved
        _check_grad_shape("div", grad_out, out_shape)
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


class pow:  # noqa: A001 - the rule is named for the operator it differentiates
    """``out = x ** p`` for a real Python scalar ``p``; dx = G * conj(p * x ** (p - 1))."""

    @staticmethod
    def forward(x, p):
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(
                f"pow: the exponent must be a real Python scalar; got {type(p).__name__}"
            )
        xp, scope = resolve("pow", x)
        with scope:
            out = x**p
        return out, Ctx(xp, scope, (x, p, tuple(out.shape)), (differentiable(xp, x),))

    @staticmethod
    def backward(grad_out, ctx):
        xp = ctx.xp
        x, p, out_shape = ctx.saved
        _check_grad_shape("pow", grad_out, out_shape)
        if not ctx.needs_input_grad[0]:
            return (None,)
        with ctx.scope:
            if p == 0:  # d/dx x**0 is 0 everywhere, also where x**-1 is inf
                g = grad_out * 0
            elif p == 1:
                g = grad_out
            elif p == 2:
                g = grad_out * _conj(xp, x * 2)
            else:
                g = grad_out * _conj(xp, x ** (p - 1) * p)
            return (cast(xp, g, x.dtype),)


class neg:
    """``out = -x``; dx = -G."""

    @staticmethod
    def forward(x):
        xp, scope = resolve("neg", x)
        with scope:
            out = -x
        return out, Ctx(xp, scope, (x.dtype, tuple(out.shape)), (differentiable(xp, x),))

    @staticmethod
    def backward(grad_out, ctx):
        dtype, out_shape = ctx.saved
        _check_grad_shape("neg", grad_out, out_shape)
        if not ctx.needs_input_grad[0]:
            return (None,)
        with ctx.scope:
            return (cast(ctx.xp, -grad_out, dtype),)


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
        for name, v in (("x", x), ("b", b)):
            if not hasattr(v, "shape"):
                raise TypeError(f"add_bias: {name} must be an array; got {type(v).__name__}")
        if type(axis) is not int:
            if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
                raise TypeError(f"add_bias: axis must be an int; got {axis!r}")
            axis = int(axis)
        x_shape = tuple(x.shape)
        view = _bias_view(x_shape, tuple(b.shape), axis)
        with scope:
            out = x + (b if view[-1] != 1 or len(view) == 1 else xp.reshape(b, view))
        needs = dtype_pair(xp, x.dtype, b.dtype)[2]
        return out, Ctx(xp, scope, (x.dtype, b.dtype, view, x_shape, b.shape[0]), needs)

    @staticmethod
    def backward(grad_out, ctx):
        """``(grad_x, grad_b)`` with the inputs' shapes and dtypes."""
        xp = ctx.xp
        x_dtype, b_dtype, view, x_shape, length = ctx.saved
        _check_grad_shape("add_bias", grad_out, x_shape)
        with ctx.scope:
            gx = cast(xp, grad_out, x_dtype) if ctx.needs_input_grad[0] else None
            gb = None
            if ctx.needs_input_grad[1]:
                gb = xp.reshape(cast(xp, sum_to(grad_out, view, xp=xp), b_dtype), (length,))
        return gx, gb

