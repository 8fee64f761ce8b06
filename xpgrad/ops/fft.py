"""The discrete Fourier transforms of the Array API's ``fft`` extension:
fft, ifft, fftn, ifftn (complex to complex), rfft, rfftn, ihfft (real to
complex) and irfft, irfftn, hfft (complex to real).

Each transform is linear, so its gradient is its adjoint applied to G, and
the adjoint of every transform is another transform of the family, with the
normalization swapped ("backward" <-> "forward", "ortho" stays) and the same
logical lengths ``n`` (``s``):

- fft(x) -> ifft(G); ifft -> fft; fftn -> ifftn; ifftn -> fftn;
- rfft -> irfft(G * w_half), where the half spectrum is zero-extended: its
  non-DC, non-Nyquist bins are counted twice by irfft, so they are halved
  first (w_half = 1 at bin 0 and, for even n, at bin n/2, 0.5 elsewhere);
  rfftn -> irfftn(G * w_half), w_half along the last transformed axis;
- irfft -> rfft(G) * w_double (2 where w_half is 0.5: irfft counts each of
  those bins twice, as itself and its conjugate); irfftn -> rfftn(G) * w_double;
- hfft -> ihfft(G) * w_double; ihfft -> hfft(G * w_half).

The input's crop or zero-padding to ``n`` is linear too: its adjoint pads
(crops) the gradient back to the input's length. The gradients follow
torch's convention for complex numbers (what ``torch.fft`` gives as
``.grad``), and a real input to a complex transform gets the real part.

The gradients are written as Array API code on ``xp``, so under
``create_graph`` they run on Tensors through ``xpgrad.array_api.fft`` and
give second derivatives. They read nothing but the upstream gradient and the
plan (shapes, axes, lengths, norm): nothing of the input is saved.

Values come from the data's own library (``xp.fft``). Two library quirks are
handled here: a dask array is rechunked so that each transformed axis is one
chunk (dask's fft refuses anything else), and a transform whose result has
no elements is not computed (torch's MKL backend raises on an empty batch).
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

from .._backend import dtype_info, namespace_name, resolve
from .._shapes import fmt
from ._common import Rule, cast, run

__all__ = ["fft", "fftn", "hfft", "ifft", "ifftn", "ihfft", "irfft", "irfftn", "rfft", "rfftn"]

# The norm of the adjoint transform.
_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}

# What each library function takes in and gives out.
_C2C, _R2C, _C2R = "complex to complex", "real to complex", "complex to real"
_KIND = {
    "fft": _C2C, "ifft": _C2C, "fftn": _C2C, "ifftn": _C2C,
    "rfft": _R2C, "rfftn": _R2C, "ihfft": _R2C,
    "irfft": _C2R, "irfftn": _C2R, "hfft": _C2R,
}


class Planned(NamedTuple):
    """What a transform saves: its plan, no arrays."""

    x_shape: tuple
    x_dtype: object
    axes: tuple  # non-negative, in the caller's order (the last is the half-spectrum axis)
    sizes: tuple  # the logical length n along each axis
    norm: str


# -- arguments --------------------------------------------------------------------


def _check_norm(op: str, norm) -> None:
    if type(norm) is not str:
        raise TypeError(f"{op}: norm must be 'backward', 'ortho' or 'forward'; got {norm!r}")
    if norm not in _SWAP:
        raise ValueError(f"{op}: norm must be 'backward', 'ortho' or 'forward'; got {norm!r}")


def _int(op: str, name: str, v, what: str) -> int:
    if isinstance(v, bool):
        raise TypeError(f"{op}: {name} must be {what}; got {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{op}: {name} must be {what}; got {v!r}") from None


def _axis(op: str, name: str, a, shape: tuple) -> int:
    a = _int(op, name, a, "an int" if name == "axis" else "a sequence of ints")
    ndim = len(shape)
    if not -ndim <= a < ndim:
        what = f"axis {a}" if name == "axis" else f"axes names axis {a}, which"
        raise ValueError(f"{op}: {what} is out of range for x of shape {fmt(shape)} ({ndim} dims)")
    return a % ndim


def _default_length(op: str, kind: str, half: bool, m: int, axis: int, what: str) -> int:
    """The length the standard gives ``n`` (``s[i]``) by default: the input's,
    or 2 * (m - 1) on the half-spectrum axis of a complex-to-real transform."""
    n = 2 * (m - 1) if kind == _C2R and half else m
    if n < 1:
        rule = f"2 * ({m} - 1) = {n}" if kind == _C2R and half else f"{n}"
        raise ValueError(
            f"{op}: x has size {m} along axis {axis}, so the default {what} is {rule}, and a "
            f"transform needs at least one point; pass {what} >= 1"
        )
    return n


def _plan_1d(op: str, kind: str, shape: tuple, n, axis) -> tuple:
    """(axes, sizes) of a one-dimensional transform, checked."""
    if not shape:
        raise ValueError(f"{op}: x must have at least 1 dimension; got shape ()")
    axis = _axis(op, "axis", axis, shape)
    if n is None:
        n = _default_length(op, kind, True, shape[axis], axis, "n")
    else:
        n = _int(op, "n", n, "None or an int")
        if n < 1:
            raise ValueError(f"{op}: n must be a positive int; got {n}")
    return (axis,), (n,)


def _sequence(op: str, name: str, v) -> tuple:
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__") or hasattr(v, "shape"):
        raise TypeError(f"{op}: {name} must be None or a sequence of ints; got {v!r}")
    return tuple(v)


def _plan_nd(op: str, kind: str, shape: tuple, s, axes) -> tuple:
    """(axes, sizes) of an n-dimensional transform, checked; ``-1`` in ``s``
    stands for the default length."""
    if axes is None:
        if s is not None:
            raise ValueError(
                f"{op}: s is given, so axes must be given too (the standard allows axes=None "
                f"only with s=None); pass axes=tuple(range(-len(s), 0)) for the last axes"
            )
        if not shape:
            raise ValueError(f"{op}: x must have at least 1 dimension; got shape ()")
        axes = tuple(range(len(shape)))
    else:
        axes = tuple(_axis(op, "axes", a, shape) for a in _sequence(op, "axes", axes))
        if not axes:
            raise ValueError(f"{op}: axes is empty; name at least one axis to transform")
        if len(set(axes)) != len(axes):
            raise ValueError(f"{op}: axes {axes} repeats an axis (axes of x of shape {fmt(shape)})")
    if s is None:
        s = (-1,) * len(axes)
    else:
        s = tuple(_int(op, "s", v, "None or a sequence of ints") for v in _sequence(op, "s", s))
        if len(s) != len(axes):
            raise ValueError(f"{op}: s {s} and axes {axes} differ in length ({len(s)} != {len(axes)})")
    sizes = []
    last = len(axes) - 1
    for i, (a, n) in enumerate(zip(axes, s)):
        if n == -1:
            n = _default_length(op, kind, i == last, shape[a], a, f"s[{i}]")
        elif n < 1:
            raise ValueError(f"{op}: s[{i}] must be a positive int (or -1 for the default); got {n}")
        sizes.append(n)
    return axes, tuple(sizes)


def _check_dtype(op: str, kind: str, xp, x) -> None:
    info = dtype_info(xp, x.dtype)
    if not info.inexact:
        raise TypeError(
            f"{op}: x has dtype {x.dtype}; {op} needs a floating-point array (real or "
            f"complex); cast it with astype first"
        )
    if kind == _R2C and info.complex:
        other = "fftn" if op == "rfftn" else "fft"
        raise TypeError(
            f"{op}: x has dtype {x.dtype}; {op} transforms real input (as the standard "
            f"says); use {other} for complex data, or pass xp.real(x)"
        )


# -- computing --------------------------------------------------------------------


def _real_dtype(xp, dtype):
    """The real dtype a transform of ``dtype`` computes in: its precision's
    (NumPy's longdouble's too), float32 for half precision."""
    if dtype == xp.float64 or dtype == xp.complex128:
        return xp.float64
    if dtype == xp.float32 or dtype == xp.complex64 or xp.finfo(dtype).bits < 32:
        return xp.float32
    return xp.finfo(dtype).dtype  # NumPy's longdouble (or its complex)


def _complex_dtype(xp, dtype):
    """The complex dtype of ``dtype``'s precision (complex64 below float32)."""
    real = _real_dtype(xp, dtype)
    if real == xp.float64:
        return xp.complex128
    return xp.complex64 if real == xp.float32 else xp.result_type(real, xp.complex64)


def _as_input(xp, kind: str, a):
    """``a`` as the library function of ``kind`` takes it: complex for the
    complex transforms (a real array gets a zero imaginary part), real for the
    real-to-complex ones (an upstream gradient's real part)."""
    is_complex = dtype_info(xp, a.dtype).complex
    if kind == _R2C:
        a = xp.real(a) if is_complex else a
        real = _real_dtype(xp, a.dtype)  # half precision in float32, as the others
        return a if a.dtype == real else xp.astype(a, real)
    return a if is_complex else xp.astype(a, _complex_dtype(xp, a.dtype))


def _transform(xp, name: str, a, axes: tuple, sizes: tuple, norm: str, nd: bool):
    """``xp.fft.<name>`` of ``a`` over ``axes`` with lengths ``sizes``."""
    kind = _KIND[name]
    a = _as_input(xp, kind, a)
    shape = list(a.shape)
    for ax, n in zip(axes, sizes):
        shape[ax] = n
    if kind == _R2C:
        shape[axes[-1]] = sizes[-1] // 2 + 1
    # nothing to compute (torch's MKL refuses an empty batch), or zeros padded
    # (NumPy's C2R of an empty axis padded to n reads memory it never wrote)
    if math.prod(shape) == 0 or 0 in [a.shape[ax] for ax in axes]:
        dtype = _real_dtype(xp, a.dtype) if kind == _C2R else _complex_dtype(xp, a.dtype)
        return xp.zeros(tuple(shape), dtype=dtype, device=getattr(a, "device", None))
    if namespace_name(xp) == "dask":  # dask transforms only along an axis of one chunk
        a = a.rechunk({ax: -1 for ax in axes})
    fn = getattr(xp.fft, name)
    if nd:
        return fn(a, s=list(sizes), axes=list(axes), norm=norm)
    return fn(a, n=sizes[0], axis=axes[0], norm=norm)


def _edge_weights(xp, a, axis: int, n: int, inner: float):
    """Weights along ``axis`` of ``a`` (the half spectrum of length n // 2 + 1
    of a length-n transform): 1 at bin 0 and, for even n, at bin n / 2 (the
    bins a real signal has once), ``inner`` at the others (which it has twice);
    shaped to broadcast against ``a``, in its dtype."""
    m = n // 2 + 1
    k = xp.arange(m, device=getattr(a, "device", None))
    edge = k == 0
    if n % 2 == 0:
        edge = edge | (k == n // 2)
    w = inner + (1.0 - inner) * xp.astype(edge, a.dtype)
    return xp.reshape(w, (m,) + (1,) * (a.ndim - 1 - axis))


def _fit(xp, a, axes: tuple, sizes) -> object:
    """``a`` cropped or zero-padded at the end of each of ``axes`` to ``sizes``:
    the adjoint of the transform's own padding or cropping of its input."""
    for ax, size in zip(axes, sizes):
        have = a.shape[ax]
        if have > size:
            a = a[(slice(None),) * ax + (slice(0, size), ...)]
        elif have < size:
            shape = tuple(a.shape)
            pad = shape[:ax] + (size - have,) + shape[ax + 1:]
            zeros = xp.zeros(pad, dtype=a.dtype, device=getattr(a, "device", None))
            a = xp.concat([a, zeros], axis=ax)
    return a


# -- the rules ----------------------------------------------------------------------


class Transform(Rule, template=True):
    """Template of the transforms: a one-input rule whose forward is
    ``xp.fft.<name>`` and whose gradient is ``xp.fft.<adjoint>`` of G with the
    norm swapped, weighted (``weights``) and cropped or padded to x's shape."""

    args = ("x",)
    saved_inputs = {}  # the gradient is linear in G alone: it reads no input
    nd = False  # takes s and axes (else n and axis)
    adjoint = ""  # the transform that is the gradient
    weights = None  # "half": G * w_half before the adjoint; "double": w_double * after

    @classmethod
    def _forward(cls, x, sizes, axes, norm):
        op = cls.__name__
        kind = _KIND[op]
        xp, scope = resolve(op, x)
        if getattr(xp, "fft", None) is None:  # cubed's namespace has none
            raise TypeError(
                f"{op}: the array library {namespace_name(xp)} has no fft extension; convert the "
                f"input to an array of a library that has it (NumPy, torch, JAX, CuPy, dask), "
                f"or compute it to NumPy first"
            )
        shape = tuple(x.shape)
        _check_norm(op, norm)
        plan = _plan_nd if cls.nd else _plan_1d
        axes, sizes = plan(op, kind, shape, sizes, axes)
        _check_dtype(op, kind, xp, x)
        out = run(op, scope, _transform, xp, op, x, axes, sizes, norm, cls.nd)
        saved = Planned(shape, x.dtype, axes, sizes, norm)
        return cls.record(xp, scope, saved, (True,), out)

    @classmethod
    def gradients(cls, xp, g, s, needs):
        axes, sizes = s.axes, s.sizes
        if cls.weights == "half":
            g = g * _edge_weights(xp, g, axes[-1], sizes[-1], 0.5)
        d = _transform(xp, cls.adjoint, g, axes, sizes, _SWAP[s.norm], cls.nd)
        if cls.weights == "double":
            d = d * _edge_weights(xp, d, axes[-1], sizes[-1], 2.0)
        d = _fit(xp, d, axes, [s.x_shape[a] for a in axes])
        return (cast(xp, d, s.x_dtype),)


class fft(Transform):
    """``out = fft(x, n, axis, norm)``, the discrete Fourier transform along
    ``axis`` of x cropped or zero-padded to ``n``; dx = ifft(G) with the norm
    swapped ("backward" <-> "forward"), cropped or padded back to x's length
    (its real part for real x)."""

    adjoint = "ifft"

    @classmethod
    def forward(cls, x, n=None, axis=-1, norm="backward"):
        return cls._forward(x, n, axis, norm)


class ifft(Transform):
    """``out = ifft(x, n, axis, norm)``, the inverse discrete Fourier transform;
    dx = fft(G) with the norm swapped ("backward" <-> "forward"), cropped or
    padded back to x's length (its real part for real x)."""

    adjoint = "fft"

    @classmethod
    def forward(cls, x, n=None, axis=-1, norm="backward"):
        return cls._forward(x, n, axis, norm)


class fftn(Transform):
    """``out = fftn(x, s, axes, norm)``, the n-dimensional discrete Fourier
    transform; dx = ifftn(G) with the norm swapped, cropped or padded back to
    x's shape (its real part for real x)."""

    adjoint = "ifftn"
    nd = True

    @classmethod
    def forward(cls, x, s=None, axes=None, norm="backward"):
        return cls._forward(x, s, axes, norm)


class ifftn(Transform):
    """``out = ifftn(x, s, axes, norm)``, the n-dimensional inverse discrete
    Fourier transform; dx = fftn(G) with the norm swapped, cropped or padded
    back to x's shape (its real part for real x)."""

    adjoint = "fftn"
    nd = True

    @classmethod
    def forward(cls, x, s=None, axes=None, norm="backward"):
        return cls._forward(x, s, axes, norm)


class rfft(Transform):
    """``out = rfft(x, n, axis, norm)``, the n // 2 + 1 non-negative frequencies
    of the transform of real x; dx = irfft(G * w) with the norm swapped, where
    w halves every bin but 0 and (even n) n / 2, which irfft counts twice; then
    cropped or padded back to x's length."""

    adjoint = "irfft"
    weights = "half"

    @classmethod
    def forward(cls, x, n=None, axis=-1, norm="backward"):
        return cls._forward(x, n, axis, norm)


class irfft(Transform):
    """``out = irfft(x, n, axis, norm)``, the real signal of length n whose
    half spectrum is x (cropped or padded to n // 2 + 1); dx = rfft(G) * w with
    the norm swapped, where w doubles every bin but 0 and (even n) n / 2, which
    stand for themselves and their conjugates; then cropped or padded back to
    x's length. The imaginary parts of bins 0 and n / 2 do not reach the output:
    their gradient is 0."""

    adjoint = "rfft"
    weights = "double"

    @classmethod
    def forward(cls, x, n=None, axis=-1, norm="backward"):
        return cls._forward(x, n, axis, norm)


class rfftn(Transform):
    """``out = rfftn(x, s, axes, norm)``, the n-dimensional transform of real x,
    halved along the last of ``axes``; dx = irfftn(G * w) with the norm
    swapped, w halving the bins the half spectrum holds for two (as rfft's),
    then cropped or padded back to x's shape."""

    adjoint = "irfftn"
    weights = "half"
    nd = True

    @classmethod
    def forward(cls, x, s=None, axes=None, norm="backward"):
        return cls._forward(x, s, axes, norm)


class irfftn(Transform):
    """``out = irfftn(x, s, axes, norm)``, the real n-dimensional inverse of a
    half spectrum along the last of ``axes``; dx = rfftn(G) * w with the norm
    swapped, w doubling the bins that stand for two (as irfft's), then cropped
    or padded back to x's shape."""

    adjoint = "rfftn"
    weights = "double"
    nd = True

    @classmethod
    def forward(cls, x, s=None, axes=None, norm="backward"):
        return cls._forward(x, s, axes, norm)


class hfft(Transform):
    """``out = hfft(x, n, axis, norm)``, the real spectrum of length n of a
    signal with Hermitian symmetry whose first half is x (irfft of conj(x)
    with the norm swapped); dx = ihfft(G) * w with the norm swapped, w doubling
    every bin but 0 and (even n) n / 2, then cropped or padded back to x's
    length."""

    adjoint = "ihfft"
    weights = "double"

    @classmethod
    def forward(cls, x, n=None, axis=-1, norm="backward"):
        return cls._forward(x, n, axis, norm)


class ihfft(Transform):
    """``out = ihfft(x, n, axis, norm)``, the n // 2 + 1 first terms of the
    inverse transform of real x (conj of rfft with the norm swapped);
    dx = hfft(G * w) with the norm swapped, w halving every bin but 0 and
    (even n) n / 2, then cropped or padded back to x's length."""

    adjoint = "hfft"
    weights = "half"

    @classmethod
    def forward(cls, x, n=None, axis=-1, norm="backward"):
        return cls._forward(x, n, axis, norm)
