"""Element-wise rules, and the two templates most rules are written in.

A binary rule subclasses :class:`Binary` and writes three small functions:

- ``compute(xp, a, b)``: the forward value;
- ``grad_a(xp, g, s)`` and ``grad_b(xp, g, s)``: the gradient of each input
  at the output's shape, from the upstream gradient ``g`` and the saved
  :class:`Operands` ``s``.

The template does the rest, the same way for every rule: it checks the
arguments, broadcasts, records which inputs need gradients, reduces each
gradient to its input's shape with :func:`xpgrad.sum_to` and casts it to the
input's dtype. Either operand may be a Python scalar, which gets no
gradient. :class:`Unary` is the same for one input.
"""

from __future__ import annotations

import cmath
import functools
import math
import numbers
from typing import NamedTuple

import numpy as np

from .._backend import _arg_name, adapter_of, dtype_info, resolve, resolve_numpy_scalars
from .._shapes import broadcast_shapes, fmt, sum_to
from ._common import (
    BACKEND_ERRORS,
    NO_SCOPE,
    WALKS,
    Ctx,
    Rule,
    alone,
    backend_error,
    cast,
    check_grad,
    dtype_pair,
    run,
    to_input,
)

__all__ = ["Binary", "Unary", "add_bias", "add", "sub", "mul", "div", "pow", "neg"]

_PY_SCALARS = (int, float, complex, bool)


class Operands(NamedTuple):
    """What a :class:`Binary` rule saves. ``a``, ``b`` and ``out`` are kept only
    when the rule names them in ``saves``, else None; a Python scalar operand
    has shape and dtype None."""

    a: object
    b: object
    out: object
    a_shape: tuple | None
    a_dtype: object
    b_shape: tuple | None
    b_dtype: object


# Builds a NamedTuple from a tuple in C, without the Python-level __new__ of
# its class: the saved state of every element-wise forward.
_new_tuple = tuple.__new__


def _standard_function(name: str):
    """``compute`` of a rule that is the standard's function ``name``."""

    def compute(xp, *arrays):
        return getattr(xp, name)(*arrays)

    return staticmethod(compute)


def _saves(cls, allowed: tuple) -> None:
    """Check a template rule's ``saves`` (names its gradients read) once, at
    class creation, and store a flag per name for the forward."""
    unknown = set(cls.saves) - set(allowed)
    if unknown:
        raise TypeError(
            f"{cls.__name__}: saves names {sorted(unknown)}; a {cls.__mro__[1].__name__} "
            f"rule may save {', '.join(allowed)}"
        )
    for name in allowed:
        setattr(cls, f"_keep_{name}", name in cls.saves)


class Binary(Rule, template=True):
    """Template of a broadcasting binary rule ``out = compute(a, b)``. A rule
    that is a function of the standard (``standard = "atan2"``) computes it
    with the namespace's function of that name unless it writes ``compute``."""

    args = ("a", "b")
    scalars = ("a", "b")
    saves: tuple = ()  # which of "a", "b", "out" the gradients read
    numbers_only = False  # refuse boolean arrays before computing
    real_only = False  # refuse complex arrays and scalars before computing
    #: The gradients compute with an operand alone (atan2 squares and negates
    #: it): an integer or boolean array constant is saved in the output's dtype.
    casts_constants = False
    saved_inputs = {"a": 0, "b": 1}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        _saves(cls, ("a", "b", "out"))
        cls._checks = cls.numbers_only or cls.real_only
        if cls.standard and not hasattr(cls, "compute"):
            cls.compute = _standard_function(cls.standard)

    @classmethod
    def forward(cls, a, b):
        op = cls.__name__
        try:
            xp, scope = resolve(op, a, b)
        except TypeError as exc:  # a NumPy scalar beside a torch tensor, read as torch reads it
            xp, scope, (a, b) = resolve_numpy_scalars(op, (a, b), exc)
        sa, da = (None, None) if type(a) in _PY_SCALARS else (tuple(a.shape), a.dtype)
        sb, db = (None, None) if type(b) in _PY_SCALARS else (tuple(b.shape), b.dtype)
        ia = None if da is None else dtype_info(xp, da)
        ib = ia if db is da else None if db is None else dtype_info(xp, db)
        if cls._checks and (  # before computing: a library's refusal names no op
            ia is None or ib is None or ia.complex or ib.complex or not (ia.numeric and ib.numeric)
        ):  # (two real arrays of numbers pass every check)
            cls._check_kinds(a, b, ia, ib)
        if sa != sb and sa is not None and sb is not None:
            broadcast_shapes(sa, sb, op=op)  # our ValueError, not the backend's
        elif da is None or db is None:  # a Python scalar
            ta, tb = type(a), type(b)
            if ta is bool and ib is not None and ib.numeric:  # True beside numbers: 1, as
                a, ta = int(a), int  # NumPy and torch read it (torch's backward refuses
            elif tb is bool and ia is not None and ia.numeric:  # a bool in its arithmetic)
                b, tb = int(b), int
            if (ta is complex and tb is np.float64) or (tb is complex and ta is np.float64):
                # np.float64 is a float, so Python's complex computes 1j / np.float64(2.0)
                # itself (a Python complex, ZeroDivisionError at 0): NumPy's 0-d array instead
                a, b = (np.asarray(a), b) if ta is np.float64 else (a, np.asarray(b))
            elif ta is complex or tb is complex:
                a, b = adapter_of(xp).beside_complex(xp, a, b)
        if da is not db and da is not None and db is not None and da != db:
            try:  # torch's 0-d arrays; torch refuses some pairs (uint64 with int64)
                a, b = adapter_of(xp).promote(xp, a, b)
            except BACKEND_ERRORS as exc:
                raise backend_error(op, exc)
        if scope is NO_SCOPE:  # run(), written out: this is the hottest forward
            try:
                out = cls.compute(xp, a, b)
            except BACKEND_ERRORS as exc:
                raise backend_error(op, exc)
        else:
            out = run(op, scope, cls.compute, xp, a, b)
        need_a = ia is not None and ia.inexact
        need_b = ib is not None and ib.inexact
        keep_a = a if cls._keep_a else None
        keep_b = b if cls._keep_b else None
        if cls.casts_constants and need_a is not need_b:
            keep_a, keep_b = cls._constants_as(xp, scope, out, keep_a, keep_b, ia, ib)
        saved = _new_tuple(Operands, (
            keep_a, keep_b, out if cls._keep_out else None, sa, da, sb, db,
        ))
        return out, Ctx(op, xp, scope, saved, (need_a, need_b), tuple(out.shape), out.dtype)

    @classmethod
    def _constants_as(cls, xp, scope, out, a, b, ia, ib) -> tuple:
        """The saved operands with an integer or boolean array among them (a
        constant beside a floating one) in the output's dtype: the other's
        gradient computes with it (atan2's ``-x1 / (x1^2 + x2^2)``), and in
        its own dtype an unsigned one wraps on negation, an int8 overflows
        when squared, a boolean refuses ``-`` and torch's uint32 refuses
        ``p - 1``."""
        fix_a = a is not None and ia is not None and not ia.inexact
        fix_b = b is not None and ib is not None and not ib.inexact
        if fix_a or fix_b:
            op = cls.__name__
            a = run(op, scope, xp.astype, a, out.dtype) if fix_a else a
            b = run(op, scope, xp.astype, b, out.dtype) if fix_b else b
        return a, b

    @classmethod
    def _check_kinds(cls, a, b, ia, ib) -> None:
        """Refuse what ``numbers_only`` and ``real_only`` exclude: ``ia`` and
        ``ib`` are the operands' :class:`DTypeInfo`, None for a Python scalar."""
        op = cls.__name__
        for i, (v, info) in enumerate(((a, ia), (b, ib))):
            if cls.numbers_only and info is not None and not info.numeric:
                raise TypeError(
                    f"{op}: {_arg_name(op, i)} has dtype {v.dtype}; {op} needs numbers (cast "
                    f"booleans with astype first)"
                )
            if cls.real_only and (info.complex if info is not None else type(v) is complex):
                what = "a complex scalar" if info is None else f"dtype {v.dtype}"
                raise TypeError(
                    f"{op}: {_arg_name(op, i)} has {what}; {op} is defined for real numbers "
                    f"only (as in the Array API standard); pass xp.real(...) or xp.abs(...) of it"
                )

    @classmethod
    def backward(cls, grad_out, ctx):
        grad_out = check_grad(cls.__name__, grad_out, ctx)
        need_a, need_b = ctx.needs_input_grad
        if ctx.scope is NO_SCOPE:
            return cls._grads(grad_out, ctx.xp, ctx.saved, need_a, need_b)
        with ctx.scope:
            return cls._grads(grad_out, ctx.xp, ctx.saved, need_a, need_b)

    @classmethod
    def _grads(cls, g, xp, s, need_a, need_b):
        # to_input, with its two early exits written out (the common case).
        ga = gb = None
        if need_a:
            ga = cls.grad_a(xp, g, s)
            if ga.shape != s.a_shape or ga.dtype != s.a_dtype:
                ga = to_input(xp, ga, s.a_shape, s.a_dtype)
        if need_b:
            gb = cls.grad_b(xp, g, s)
            if gb.shape != s.b_shape or gb.dtype != s.b_dtype:
                gb = to_input(xp, gb, s.b_shape, s.b_dtype)
        return ga, gb

    @classmethod
    def graph_gradients(cls, tx, g, s, needs):
        return cls._grads(g, tx, s, *needs)


class Unary(Rule, template=True):
    """Template of a one-input rule ``out = compute(x)`` with ``grad(xp, g, s)``
    giving dx from ``g`` and the saved :class:`UnarySaved`; ``compute`` is the
    namespace's function named by ``standard`` unless the rule writes one. A rule with
    parameters (``reshape``) writes its own forward and saves a NamedTuple
    with an ``x_dtype`` field; the backward is the template's."""

    args = ("x",)
    saves: tuple = ()  # which of "x", "out" the gradient reads
    #: ``grad_into(xp, g, out) -> dx``: the gradient written over the saved
    #: real ``out``, which the backward may do on its last run when no one
    #: else holds ``out`` (no new array of x's size); None: always ``grad``.
    grad_into = None
    saved_inputs = {"x": 0}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        _saves(cls, ("x", "out"))
        if cls.standard and not hasattr(cls, "compute"):
            cls.compute = _standard_function(cls.standard)

    @classmethod
    def forward(cls, x):
        op = cls.__name__
        xp, scope = resolve(op, x)
        if scope is NO_SCOPE:  # run(), written out
            try:
                out = cls.compute(xp, x)
            except BACKEND_ERRORS as exc:
                raise backend_error(op, exc)
        else:
            out = run(op, scope, cls.compute, xp, x)
        saved = _new_tuple(UnarySaved, (x if cls._keep_x else None, out if cls._keep_out else None, x.dtype))
        needs = (dtype_info(xp, x.dtype).inexact,)
        return out, Ctx(op, xp, scope, saved, needs, tuple(out.shape), out.dtype)

    @classmethod
    def backward(cls, grad_out, ctx):
        grad_out = check_grad(cls.__name__, grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        xp, s = ctx.xp, ctx.saved
        if ctx.scope is NO_SCOPE:
            if ctx.final and cls.grad_into is not None and len(WALKS) == 1:
                out = s.out  # held by s and by this variable
                # NumPy only: a torch tensor's detach() (and so t.numpy()) shares
                # its memory without a reference alone() could count
                if (
                    type(out) is np.ndarray and out.dtype == grad_out.dtype == s.x_dtype
                    and alone(out, held=1) and not dtype_info(xp, out.dtype).complex
                ):
                    return (cls.grad_into(xp, grad_out, out),)
            g = cls.grad(xp, grad_out, s)
            return (g if g.dtype == s.x_dtype else cast(xp, g, s.x_dtype),)
        with ctx.scope:
            return (cast(xp, cls.grad(xp, grad_out, s), s.x_dtype),)

    @classmethod
    def graph_gradients(cls, tx, g, s, needs):
        return (cast(tx, cls.grad(tx, g, s), s.x_dtype),)


class UnarySaved(NamedTuple):
    """What a :class:`Unary` rule saves: x and out when it names them in
    ``saves``, else None."""

    x: object
    out: object
    x_dtype: object


def _conj(xp, v):
    """``conj(v)`` of a complex array or Python number, else ``v`` itself
    (:func:`conj_if_complex` written out: every backward of a real op here
    calls it)."""
    kind = type(v)
    if kind is complex:
        return v.conjugate()
    if kind is float or kind is int or kind is bool:
        return v
    return xp.conj(v) if dtype_info(xp, v.dtype).complex else v


# -- the rules ---------------------------------------------------------------


class add(Binary):
    """``out = a + b``; da = G, db = G."""

    standard = "add"

    @staticmethod
    def compute(xp, a, b):
        return a + b

    @staticmethod
    def grad_a(xp, g, s):
        return g

    grad_b = grad_a


class sub(Binary):
    """``out = a - b``; da = G, db = -G."""

    standard = "subtract"

    @staticmethod
    def compute(xp, a, b):
        return a - b

    @staticmethod
    def grad_a(xp, g, s):
        return g

    @staticmethod
    def grad_b(xp, g, s):
        # Summed over b's broadcast axes first: the negation then costs b's size.
        return -sum_to(g, s.b_shape, xp=xp)


class mul(Binary):
    """``out = a * b``; da = G * conj(b), db = G * conj(a)."""

    standard = "multiply"
    saves = ("a", "b")

    @staticmethod
    def compute(xp, a, b):
        return a * b

    @staticmethod
    def grad_a(xp, g, s):
        return g * _conj(xp, s.b)

    @staticmethod
    def grad_b(xp, g, s):
        return g * _conj(xp, s.a)


class div(Binary):
    """``out = a / b``; da = G / conj(b), db = -G * conj(out / b)."""

    standard = "divide"
    saves = ("b", "out")

    @staticmethod
    def compute(xp, a, b):
        if type(a) in _PY_SCALARS:  # torch's 2.0 / t is reciprocal(t) * 2.0: rounded twice,
            return xp.divide(a, b)  # inf where only 1 / t overflows, NaN for 0 / subnormal
        return a / b

    @staticmethod
    def grad_a(xp, g, s):
        return g / _conj(xp, s.b)

    @staticmethod
    def grad_b(xp, g, s):
        return -(g * _conj(xp, s.out / s.b))


class neg(Unary):
    """``out = -x``; dx = -G."""

    standard = "negative"

    @staticmethod
    def compute(xp, x):
        return -x

    @staticmethod
    def grad(xp, g, s):
        return -g


class pow(Binary):  # noqa: A001 - the rule is named for the operator it differentiates
    """``out = x ** p``; dx = G * conj(p * x ** (p - 1)), dp = G * conj(out * log(x)).

    Either operand may be a Python scalar (``2.0 ** t``). As in torch, dx is 0
    where p == 0, and dp is 0 where x == 0 and p >= 0 (where log(x) is -inf
    but out is 0 or 1 whatever p does).
    """

    standard = "pow"
    args = ("x", "p")
    scalars = ("x", "p")
    saves = ("a", "b", "out")
    numbers_only = True
    casts_constants = True  # p - 1: torch's uint32 refuses it

    @classmethod
    def forward(cls, x, p):
        if type(p) is bool or type(x) is bool:
            raise TypeError("pow: a boolean base or exponent has no gradient; use 0 or 1")
        scalar_x = type(x) in _PY_SCALARS
        if (type(p) not in _PY_SCALARS and isinstance(p, numbers.Complex) and not scalar_x
                and not isinstance(p, np.generic)):
            # A Fraction exponent of an array: a constant number. A NumPy scalar is
            # read as the base's library reads it, as in multiply (NEP 50 on NumPy:
            # float32 ** np.float64 is float64; a number on torch); of a Python
            # base, it is the array, as in divide.
            # Decimal is no numbers.Complex and stays out: resolve() refuses it.
            if isinstance(p, numbers.Integral):
                p = int(p)
            else:
                p = float(p) if isinstance(p, numbers.Real) else complex(p)
        return super().forward(x, p)

    @staticmethod
    def compute(xp, x, p):
        return x ** p

    @staticmethod
    def grad_a(xp, g, s):
        x, p = s.a, s.b
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

    @staticmethod
    def grad_b(xp, g, s):
        x, p, out = s.a, s.b, s.out
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


def _scalar_log(a, complex_out: bool):
    """log of a Python scalar base, as torch takes it: -inf at 0; below 0, nan
    for a real result and the principal complex log for a complex one."""
    if a == 0:
        return -math.inf
    if isinstance(a, complex) or (complex_out and a < 0):
        return cmath.log(a)
    return math.log(a) if a > 0 else math.nan


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


class BiasSaved(NamedTuple):
    x_dtype: object
    b_dtype: object
    view: tuple  # the shape b was broadcast from: (1, .., len(b), .., 1)
    length: int  # len(b)


class add_bias(Rule):
    """``out = x + b`` with 1-D ``b`` laid along ``x``'s axis ``axis``.

    dx = G; db = sum_to(G, view) as a 1-D array, view being b's broadcast shape.
    """

    args = ("x", "b")

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
        lay = view[-1] != 1 or len(view) == 1  # b broadcasts as it is along the last axis
        out = run("add_bias", scope, _add_along, xp, x, b, None if lay else view)
        saved = BiasSaved(x.dtype, b.dtype, view, b.shape[0])
        return add_bias.record(xp, scope, saved, dtype_pair(xp, x.dtype, b.dtype).needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        """``(grad_x, grad_b)`` with the inputs' shapes and dtypes."""
        gx = cast(xp, g, s.x_dtype) if needs[0] else None
        gb = xp.reshape(to_input(xp, g, s.view, s.b_dtype), (s.length,)) if needs[1] else None
        return gx, gb


def _add_along(xp, x, b, view):
    return x + (b if view is None else xp.reshape(b, view))
