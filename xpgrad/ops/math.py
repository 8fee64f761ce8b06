"""Element-wise functions of the Array API standard: one rule per function.

Gradients follow torch's conventions, edges included. For complex inputs the
holomorphic functions (exp, log, sin, ...) give ``G * conj(f'(x))``, as torch
does; the functions the standard defines for real numbers only (atan2,
maximum, clip, ...) refuse complex inputs with a TypeError.

Where a derivative is a function of the output (exp, tanh, sqrt, ...), the
rule saves ``out`` instead of recomputing it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._backend import _arg_name, adapter_of, dtype_info, resolve_beside
from .._shapes import broadcast_shapes
from ._common import BACKEND_ERRORS, Rule, backend_error, to_input
from .elementwise import _PY_SCALARS, Binary, Unary, _conj

__all__ = [
    "abs", "square", "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10",
    "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan", "asinh", "acosh",
    "atanh", "sign", "real", "imag", "conj", "reciprocal", "floor", "ceil", "trunc", "round",
    "atan2", "hypot", "maximum", "minimum", "logaddexp", "copysign", "remainder",
    "clip", "where",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _refuse_complex(op: str, xp, i: int, x) -> None:
    """TypeError for a complex array where ``op`` is defined for real numbers only."""
    if type(x) is complex or (
        type(x) not in _PY_SCALARS and x is not None and dtype_info(xp, x.dtype).complex
    ):
        what = "a complex scalar" if type(x) is complex else f"dtype {x.dtype}"
        raise TypeError(
            f"{op}: {_arg_name(op, i)} has {what}; {op} is defined for real numbers only "
            f"(as in the Array API standard); pass xp.real(...) or xp.abs(...) of it"
        )


class RealBinary(Binary, template=True):
    """:class:`Binary` for the functions defined on real numbers only."""

    args = ("x1", "x2")
    scalars = ("x1", "x2")
    real_only = True


# -- one input -----------------------------------------------------------------


class abs(Unary):  # noqa: A001 - the standard's name
    """``out = |x|``; dx = G * sign(x) for real x, G * x / |x| for complex x; 0 at 0 (torch).

    At NaN the gradient is NaN (torch gives 0 there, its sign(nan) being 0).
    """

    standard = "abs"
    saves = ("x", "out")

    @staticmethod
    def compute(xp, x):
        return xp.abs(x)

    @staticmethod
    def grad(xp, g, s):
        if dtype_info(xp, s.x.dtype).complex:
            # 0 at 0 as a constant (x / 1 there moved with x: a second derivative of v);
            # each part over |x| alone: complex division overflowed 1 / |x| at a subnormal
            # |x| (NaN for 1 + 0j at 5e-324)
            zero = s.out == 0
            den = xp.where(zero, xp.ones_like(s.out), s.out)
            unit = adapter_of(xp).complex(xp, xp.real(s.x) / den, xp.imag(s.x) / den, s.x.dtype)
            return g * xp.where(zero, 0.0, unit)
        return g * xp.sign(s.x)


class square(Unary):
    """``out = x * x``; dx = G * conj(2 x)."""

    standard = "square"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, s.x * 2)


class sqrt(Unary):
    """``out = sqrt(x)``; dx = G / conj(2 out): inf at 0 (torch), nan below 0."""

    standard = "sqrt"
    saves = ("out",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, s.out * 2)

    @staticmethod
    def grad_into(xp, g, out):  # out: the saved output, which no one else holds
        out *= 2
        return np.divide(g, out, out=out)


class exp(Unary):
    """``out = exp(x)``; dx = G * conj(out)."""

    standard = "exp"
    saves = ("out",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, s.out)

    @staticmethod
    def grad_into(xp, g, out):
        out *= g
        return out


class expm1(Unary):
    """``out = exp(x) - 1``; dx = G * conj(out + 1)."""

    standard = "expm1"
    saves = ("out",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, s.out + 1)

    @staticmethod
    def grad_into(xp, g, out):
        out += 1
        out *= g
        return out


class log(Unary):
    """``out = log(x)``; dx = G / conj(x): inf at 0 (torch)."""

    standard = "log"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, s.x)


class log1p(Unary):
    """``out = log(1 + x)``; dx = G / conj(1 + x)."""

    standard = "log1p"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, s.x + 1)


class log2(Unary):
    """``out = log2(x)``; dx = G / conj(x * ln 2)."""

    standard = "log2"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, s.x * _LN2)


class log10(Unary):
    """``out = log10(x)``; dx = G / conj(x * ln 10)."""

    standard = "log10"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, s.x * _LN10)


class sin(Unary):
    """``out = sin(x)``; dx = G * conj(cos(x))."""

    standard = "sin"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, xp.cos(s.x))


class cos(Unary):
    """``out = cos(x)``; dx = -G * conj(sin(x))."""

    standard = "cos"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, -xp.sin(s.x))


class tan(Unary):
    """``out = tan(x)``; dx = G * conj(1 + out^2)."""

    standard = "tan"
    saves = ("out",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, s.out * s.out + 1)

    @staticmethod
    def grad_into(xp, g, out):
        out *= out
        out += 1
        out *= g
        return out


class sinh(Unary):
    """``out = sinh(x)``; dx = G * conj(cosh(x))."""

    standard = "sinh"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, xp.cosh(s.x))


class cosh(Unary):
    """``out = cosh(x)``; dx = G * conj(sinh(x))."""

    standard = "cosh"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, xp.sinh(s.x))


def _one_minus(d):
    """``1 - d``, written over ``d`` (an array the caller made) on NumPy."""
    if type(d) is np.ndarray:
        return np.subtract(1, d, out=d)
    return 1 - d


class tanh(Unary):
    """``out = tanh(x)``; dx = G * conj(1 - out^2)."""

    standard = "tanh"
    saves = ("out",)

    @staticmethod
    def grad(xp, g, s):
        d = s.out * s.out
        if g.dtype != d.dtype or dtype_info(xp, d.dtype).complex:
            return g * _conj(xp, 1 - d)
        d = _one_minus(d)  # d is this rule's own array: the rest is written into it
        d *= g
        return d

    @staticmethod
    def grad_into(xp, g, out):  # out: the saved output, which no one else holds
        out *= out
        out = _one_minus(out)
        out *= g
        return out


class asin(Unary):
    """``out = asin(x)``; dx = G / conj(sqrt(1 - x^2)): inf at |x| = 1, nan beyond."""

    standard = "asin"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, xp.sqrt(1 - s.x * s.x))


class acos(Unary):
    """``out = acos(x)``; dx = -G / conj(sqrt(1 - x^2)): -inf at |x| = 1, nan beyond."""

    standard = "acos"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, -xp.sqrt(1 - s.x * s.x))


class atan(Unary):
    """``out = atan(x)``; dx = G / conj(1 + x^2)."""

    standard = "atan"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, s.x * s.x + 1)


class asinh(Unary):
    """``out = asinh(x)``; dx = G / conj(sqrt(x^2 + 1))."""

    standard = "asinh"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, xp.sqrt(s.x * s.x + 1))


class acosh(Unary):
    """``out = acosh(x)``; dx = G / conj(sqrt(x - 1) * sqrt(x + 1)): inf at 1, nan below;
    for complex x, G / conj(sinh(out)), the same on the branch the value took (x - 1 keeps
    an imaginary -0 that x + 1 makes +0: the two roots came from two sides of the cut,
    and the gradient's sign flipped on (-inf, -1))."""

    standard = "acosh"
    saves = ("x", "out")

    @staticmethod
    def grad(xp, g, s):
        if dtype_info(xp, s.x.dtype).complex:
            return g / xp.conj(xp.sinh(s.out))
        return g / (xp.sqrt(s.x - 1) * xp.sqrt(s.x + 1))


class atanh(Unary):
    """``out = atanh(x)``; dx = G / conj(1 - x^2): inf at |x| = 1."""

    standard = "atanh"
    saves = ("x",)

    @staticmethod
    def grad(xp, g, s):
        return g / _conj(xp, 1 - s.x * s.x)


class _Step(Unary, template=True):
    """Template of the rounding functions: piecewise constant, so dx = 0, as
    torch gives (a parameter reached only through one gets zeros, not None)."""

    @staticmethod
    def grad(xp, g, s):
        return xp.zeros_like(g)


class floor(_Step):
    """``out = floor(x)``; dx = 0 (piecewise constant)."""

    standard = "floor"


class ceil(_Step):
    """``out = ceil(x)``; dx = 0 (piecewise constant)."""

    standard = "ceil"


class trunc(_Step):
    """``out = trunc(x)``; dx = 0 (piecewise constant)."""

    standard = "trunc"


class round(_Step):  # noqa: A001 - the standard's name
    """``out = round(x)`` (halves to even); dx = 0 (piecewise constant)."""

    standard = "round"


class sign(Unary):
    """``out = sign(x)`` (``x / |x|`` for complex x); dx = 0 for real x; for
    complex x, dx = (G - conj(G) * out^2) / (2 |x|), and 0 at 0 (torch's sgn)."""

    standard = "sign"
    saves = ("x", "out")

    @staticmethod
    def grad(xp, g, s):
        if not dtype_info(xp, s.x.dtype).complex:
            return xp.zeros_like(g)
        a = xp.abs(s.x)
        zero = a == 0
        gx = (g - xp.conj(g) * (s.out * s.out)) / (2 * xp.where(zero, xp.ones_like(a), a))
        return xp.where(zero, xp.zeros_like(gx), gx)


class real(Unary):
    """``out = real(x)``; dx = G (as a complex array for complex x)."""

    standard = "real"

    @staticmethod
    def grad(xp, g, s):
        return g


class imag(Unary):
    """``out = imag(x)``; dx = 1j * G for complex x (torch), 0 for real x."""

    standard = "imag"

    @staticmethod
    def grad(xp, g, s):
        if not dtype_info(xp, s.x_dtype).complex:
            return xp.zeros_like(g)
        return xp.astype(g, s.x_dtype) * 1j


class conj(Unary):
    """``out = conj(x)``; dx = conj(G)."""

    standard = "conj"

    @staticmethod
    def grad(xp, g, s):
        return _conj(xp, g)


class reciprocal(Unary):
    """``out = 1 / x``; dx = -G * conj(out^2): -inf at 0."""

    standard = "reciprocal"
    saves = ("out",)

    @staticmethod
    def grad(xp, g, s):
        return g * _conj(xp, -(s.out * s.out))

    @staticmethod
    def grad_into(xp, g, out):
        out *= out
        out *= g
        out *= -1
        return out


# -- two inputs (real numbers only) -----------------------------------------------


class atan2(RealBinary):
    """``out = atan2(x1, x2)``; dx1 = G * x2 / (x1^2 + x2^2), dx2 = -G * x1 / (x1^2 + x2^2)
    (0 at (0, 0), as torch)."""

    standard = "atan2"
    saves = ("a", "b")
    casts_constants = True  # x1^2 + x2^2 and -x1: an int8 squared overflows, an uint8 wraps

    @staticmethod
    def grad_a(xp, g, s):
        return g * _over_norm2(xp, s.b, s)

    @staticmethod
    def grad_b(xp, g, s):
        return g * _over_norm2(xp, -s.a, s)


def _over_norm2(xp, num, s):
    """``num / (x1^2 + x2^2)``, 0 where both are 0 (as torch's atan2 backward)."""
    d = s.a * s.a + s.b * s.b
    zero = d == 0
    r = num / xp.where(zero, xp.ones_like(d), d)
    return xp.where(zero, xp.zeros_like(r), r)


class hypot(RealBinary):
    """``out = sqrt(x1^2 + x2^2)``; dx1 = G * x1 / out, dx2 = G * x2 / out (nan at (0, 0), as torch)."""

    standard = "hypot"
    saves = ("a", "b", "out")

    @staticmethod
    def grad_a(xp, g, s):
        return g * (s.a / s.out)

    @staticmethod
    def grad_b(xp, g, s):
        return g * (s.b / s.out)


def _zero_where(xp, zero, g, half=None):
    """``g`` with 0 where ``zero`` and G / 2 where ``half``: maximum's and
    minimum's gradient is G where the input won, G / 2 where it tied, 0 where
    it lost (so G where a NaN made neither true)."""
    return adapter_of(xp).mask_gradient(xp, g, zero, half)


def _kept_where(xp, keep, g):
    """``g`` where ``keep``, 0 elsewhere (NaN in x: not kept)."""
    return adapter_of(xp).mask_gradient(xp, g, xp.logical_not(keep))


class maximum(RealBinary):
    """``out = maximum(x1, x2)``; dx1 = G where x1 > x2, G / 2 where x1 == x2, 0 where
    x1 < x2; dx2 likewise. As torch.maximum: a NaN on either side sends G to both."""

    standard = "maximum"
    saves = ("a", "b")

    @staticmethod
    def grad_a(xp, g, s):
        return _zero_where(xp, s.a < s.b, g, s.a == s.b)

    @staticmethod
    def grad_b(xp, g, s):
        return _zero_where(xp, s.a > s.b, g, s.a == s.b)


class minimum(RealBinary):
    """``out = minimum(x1, x2)``; dx1 = G where x1 < x2, G / 2 where x1 == x2, 0 where
    x1 > x2; dx2 likewise. As torch.minimum: a NaN on either side sends G to both."""

    standard = "minimum"
    saves = ("a", "b")

    @staticmethod
    def grad_a(xp, g, s):
        return _zero_where(xp, s.a > s.b, g, s.a == s.b)

    @staticmethod
    def grad_b(xp, g, s):
        return _zero_where(xp, s.a < s.b, g, s.a == s.b)


class logaddexp(RealBinary):
    """``out = log(exp(x1) + exp(x2))``; dx1 = G / (1 + exp(x2 - x1)), dx2 = G / (1 + exp(x1 - x2)).

    Each is computed as G * exp(-logaddexp(0, x2 - x1)), which never
    overflows, nor do its own derivatives: G / (1 + exp(d)) is exact too, but
    its derivative, -G exp(d) / (1 + exp(d))^2, is inf / inf = NaN once d
    passes 709 (a Hessian of a logistic loss with one large margin). As
    torch, both gradients are NaN where x1 and x2 are the same infinity.
    """

    standard = "logaddexp"
    saves = ("a", "b")
    casts_constants = True  # x2 - x1: torch refuses a boolean's subtraction

    @staticmethod
    def grad_a(xp, g, s):
        return g * _sigmoid_of_minus(xp, s.b - s.a)

    @staticmethod
    def grad_b(xp, g, s):
        return g * _sigmoid_of_minus(xp, s.a - s.b)


def _sigmoid_of_minus(xp, d):
    """1 / (1 + exp(d)), as exp(-logaddexp(0, d)): finite, and so are its
    derivatives (each is logaddexp's again), for every finite d."""
    return xp.exp(-xp.logaddexp(xp.zeros_like(d), d))


class copysign(RealBinary):
    """``out = |x1| * sign of x2``; dx1 = G * out / x1 (-1 or 1), 0 where x1 == 0
    (torch); dx2 = 0."""

    standard = "copysign"
    saves = ("a", "out")

    @staticmethod
    def grad_a(xp, g, s):
        zero = s.a == 0
        ratio = s.out / xp.where(zero, xp.ones_like(s.a), s.a)
        return g * xp.where(zero, xp.zeros_like(ratio), ratio)

    @staticmethod
    def grad_b(xp, g, s):
        return xp.zeros_like(g)


class remainder(RealBinary):
    """``out = x1 - floor(x1 / x2) * x2``; dx1 = G, dx2 = -G * floor(x1 / x2) (torch)."""

    standard = "remainder"
    saves = ("a", "b")
    numbers_only = True

    @staticmethod
    def grad_a(xp, g, s):
        return g

    @staticmethod
    def grad_b(xp, g, s):
        return g * -xp.floor_divide(s.a, s.b)


# -- rules with optional or non-differentiable arguments ------------------------------


def _shape_dtype(x):
    return (None, None) if x is None or type(x) in _PY_SCALARS else (tuple(x.shape), x.dtype)


def _inexact(xp, x) -> bool:
    return x is not None and type(x) not in _PY_SCALARS and dtype_info(xp, x.dtype).inexact


class ClipSaved(NamedTuple):
    x: object
    lo: object  # None, a Python scalar or an array
    hi: object
    x_dtype: object
    lo_shape: tuple | None
    lo_dtype: object
    hi_shape: tuple | None
    hi_dtype: object
    x_shape: tuple


class clip(Rule):
    """``out = min(max(x, min), max)``; dx = G where min <= x <= max (bounds
    inclusive, as torch.clamp), 0 elsewhere; dmin = G where x < min (and min <
    max); dmax = G where x > max (or max < min).

    ``min`` and ``max`` may be None, Python scalars or arrays, which broadcast
    with ``x`` and get gradients too.
    """

    standard = "clip"
    args = ("x", "min", "max")
    saved_inputs = {}  # the gradients read x and the bounds only through masks
    constants = ("x", "lo", "hi")
    scalars = ("min", "max")
    optional = ("min", "max")

    @staticmethod
    def forward(x, min=None, max=None):  # noqa: A002 - the standard's names
        xp, scope, (x, min, max) = resolve_beside("clip", (x, min, max))
        for i, v in enumerate((x, min, max)):
            _refuse_complex("clip", xp, i, v)
        shapes = [tuple(v.shape) for v in (x, min, max) if v is not None and type(v) not in _PY_SCALARS]
        if len(shapes) > 1:
            broadcast_shapes(*shapes, op="clip")
        try:
            with scope:
                out = xp.clip(x, min=min, max=max)
        except BACKEND_ERRORS as exc:
            raise backend_error("clip", exc)
        saved = ClipSaved(x, min, max, x.dtype, *_shape_dtype(min), *_shape_dtype(max), tuple(x.shape))
        needs = (dtype_info(xp, x.dtype).inexact, _inexact(xp, min), _inexact(xp, max))
        return clip.record(xp, scope, saved, needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        need_x, need_lo, need_hi = needs
        gx = glo = ghi = None
        if need_x:
            inside = None
            if s.lo is not None:
                inside = s.x >= s.lo
            if s.hi is not None:
                below = s.x <= s.hi
                inside = below if inside is None else inside & below
            gx = g if inside is None else _kept_where(xp, inside, g)
            gx = to_input(xp, gx, s.x_shape, s.x_dtype)
        if need_lo:
            pick = s.x < s.lo
            if s.hi is not None:
                pick = pick & (s.lo < s.hi)
            glo = to_input(xp, xp.where(pick, g, xp.zeros_like(g)), s.lo_shape, s.lo_dtype)
        if need_hi:
            pick = s.x > s.hi
            if s.lo is not None:
                pick = pick | (s.hi < s.lo)
            ghi = to_input(xp, xp.where(pick, g, xp.zeros_like(g)), s.hi_shape, s.hi_dtype)
        return gx, glo, ghi


class WhereSaved(NamedTuple):
    condition: object
    x1_shape: tuple | None
    x1_dtype: object
    x2_shape: tuple | None
    x2_dtype: object


class where(Rule):
    """``out = x1 where condition else x2``; dx1 = G where condition, 0 elsewhere;
    dx2 = G where not condition. ``condition`` (boolean) gets no gradient."""

    standard = "where"
    args = ("condition", "x1", "x2")
    saved_inputs = {}  # the gradients read only the condition
    scalars = ("x1", "x2")

    @staticmethod
    def forward(condition, x1, x2):
        xp, scope, (condition, x1, x2) = resolve_beside("where", (condition, x1, x2))
        if dtype_info(xp, condition.dtype).numeric:
            raise TypeError(
                f"where: condition has dtype {condition.dtype}; it must be boolean (compare "
                f"first, as in where(x > 0, x, 0.0))"
            )
        shapes = [tuple(v.shape) for v in (condition, x1, x2) if type(v) not in _PY_SCALARS]
        if len(shapes) > 1:
            broadcast_shapes(*shapes, op="where")
        c1, c2 = x1, x2
        if type(x1) is complex or type(x2) is complex:
            c1, c2 = adapter_of(xp).beside_complex(xp, x1, x2)
        try:
            if type(c1) not in _PY_SCALARS and type(c2) not in _PY_SCALARS and c1.dtype != c2.dtype:
                c1, c2 = adapter_of(xp).promote(xp, c1, c2)  # torch's 0-d arrays
            with scope:
                out = xp.where(condition, c1, c2)
        except BACKEND_ERRORS as exc:
            raise backend_error("where", exc)
        saved = WhereSaved(condition, *_shape_dtype(x1), *_shape_dtype(x2))
        needs = (False, _inexact(xp, x1), _inexact(xp, x2))
        return where.record(xp, scope, saved, needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        _, need_1, need_2 = needs
        g1 = g2 = None
        if need_1:
            g1 = to_input(xp, _kept_where(xp, s.condition, g), s.x1_shape, s.x1_dtype)
        if need_2:
            g2 = to_input(xp, _zero_where(xp, s.condition, g), s.x2_shape, s.x2_dtype)
        return None, g1, g2
