"""``xpgrad.array_api.fft``: the standard's fft extension (2024.12), with
gradients.

The ten transforms record the rules of :mod:`xpgrad.ops.fft`, whose values
come from the data's own library (``numpy.fft``, ``torch.fft``,
``jax.numpy.fft``, ...); ``fftshift`` and ``ifftshift`` are rolls, and
differentiable as such; ``fftfreq`` and ``rfftfreq`` make new arrays, without
gradients, where ``device`` says (as the creation functions do).

A real input to a complex transform (``fft``, ``ifft``, ``fftn``, ``ifftn``,
``irfft``, ``irfftn``, ``hfft``) counts as complex with a zero imaginary part
and gets a real gradient; ``rfft``, ``rfftn`` and ``ihfft`` take real input
only, as the standard says.

>>> import numpy as np, xpgrad
>>> import xpgrad.array_api as xp
>>> x = xpgrad.tensor(np.array([1.0, 2.0, 0.0, -1.0]), requires_grad=True)
>>> energy = xp.sum(xp.abs(xp.fft.fft(x)) ** 2)  # Parseval: 4 * sum(x ** 2)
>>> energy.backward()
>>> x.grad
array([ 8., 16.,  0., -8.])
"""

from __future__ import annotations

import numbers as _numbers
import operator as _operator

from .. import _dtypes, ops
from .._shapes import fmt as _fmt
from ..tensor import apply
from . import _creation
from ._docs import composed, no_gradient, records

__all__ = [
    "fft", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifftn", "ifftshift", "ihfft", "irfft",
    "irfftn", "rfft", "rfftfreq", "rfftn",
]


@records(ops.fft)
def fft(x, /, *, n=None, axis=-1, norm="backward"):
    return apply(ops.fft, (x,), n, axis, norm)


@records(ops.ifft)
def ifft(x, /, *, n=None, axis=-1, norm="backward"):
    return apply(ops.ifft, (x,), n, axis, norm)


@records(ops.fftn)
def fftn(x, /, *, s=None, axes=None, norm="backward"):
    return apply(ops.fftn, (x,), s, axes, norm)


@records(ops.ifftn)
def ifftn(x, /, *, s=None, axes=None, norm="backward"):
    return apply(ops.ifftn, (x,), s, axes, norm)


@records(ops.rfft)
def rfft(x, /, *, n=None, axis=-1, norm="backward"):
    return apply(ops.rfft, (x,), n, axis, norm)


@records(ops.irfft)
def irfft(x, /, *, n=None, axis=-1, norm="backward"):
    return apply(ops.irfft, (x,), n, axis, norm)


@records(ops.rfftn)
def rfftn(x, /, *, s=None, axes=None, norm="backward"):
    return apply(ops.rfftn, (x,), s, axes, norm)


@records(ops.irfftn)
def irfftn(x, /, *, s=None, axes=None, norm="backward"):
    return apply(ops.irfftn, (x,), s, axes, norm)


@records(ops.hfft)
def hfft(x, /, *, n=None, axis=-1, norm="backward"):
    return apply(ops.hfft, (x,), n, axis, norm)


@records(ops.ihfft)
def ihfft(x, /, *, n=None, axis=-1, norm="backward"):
    return apply(ops.ihfft, (x,), n, axis, norm)


# -- sample frequencies ---------------------------------------------------------------


def _frequency_args(op: str, n, d, dtype) -> tuple:
    if isinstance(n, bool):
        raise TypeError(f"{op}: n must be an int; got {n!r}")
    try:
        n = _operator.index(n)
    except TypeError:
        raise TypeError(f"{op}: n must be an int; got {n!r}") from None
    if n < 1:
        raise ValueError(f"{op}: n must be a positive int (the window length); got {n}")
    if isinstance(d, bool) or not isinstance(d, _numbers.Real):
        raise TypeError(f"{op}: d must be a real number (the sample spacing); got {d!r}")
    if d == 0:
        raise ValueError(f"{op}: d must be nonzero (the sample spacing); got {d!r}")
    if dtype is not None:
        try:
            real = _dtypes.isdtype(dtype, "real floating")
        except (TypeError, KeyError):
            real = False
        if not real:
            raise TypeError(f"{op}: dtype must be a real floating-point dtype; got {dtype!r}")
    return n, float(d)


def _frequencies(op: str, n, d, dtype, device):
    n, d = _frequency_args(op, n, d, dtype)

    def make(xp, native):
        dt = _creation._dtype(xp, dtype, op, "float64")
        return getattr(xp.fft, op)(n, d=d, dtype=dt, **_creation._kw(native))

    return _creation._create(op, device, make)


@no_gradient(
    "The sample frequencies [0, 1, ..., -1] / (d * n), a new array where device says "
    "(as the creation functions): no gradient."
)
def fftfreq(n, /, *, d=1.0, dtype=None, device=None):
    return _frequencies("fftfreq", n, d, dtype, device)


@no_gradient(
    "The non-negative sample frequencies [0, 1, ..., n // 2] / (d * n), a new array where "
    "device says (as the creation functions): no gradient."
)
def rfftfreq(n, /, *, d=1.0, dtype=None, device=None):
    return _frequencies("rfftfreq", n, d, dtype, device)


# -- shifts ----------------------------------------------------------------------------


def _shift_axes(op: str, axes, shape: tuple) -> tuple:
    ndim = len(shape)
    if axes is None:
        return tuple(range(ndim))
    many = not isinstance(axes, (int, _numbers.Integral)) or isinstance(axes, bool)
    items = axes if many else (axes,)
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__") or hasattr(items, "shape"):
        raise TypeError(f"{op}: axes must be None, an int or a sequence of ints; got {axes!r}")
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, _numbers.Integral):
            raise TypeError(f"{op}: axes must be None, an int or a sequence of ints; got {axes!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for x of shape {_fmt(shape)} ({ndim} dims)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axes {axes!r} repeats an axis")
    return tuple(out)


def _shift(op: str, x, axes, sign: int):
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{op}: x must be an array or a Tensor; got {type(x).__name__} ({x!r})")
    shape = tuple(x.shape)
    axes = _shift_axes(op, axes, shape)
    if not axes:  # nothing to shift: a roll by 0, a copy with x's gradient
        return apply(ops.roll, (x,), 0, None)
    shifts = tuple(sign * (shape[a] // 2) for a in axes)
    return apply(ops.roll, (x,), shifts, axes)


@composed(
    "roll(x, shift=size // 2) along each of axes (every axis for None), which moves the "
    "zero frequency to the middle; the gradient is roll's, G rolled back."
)
def fftshift(x, /, *, axes=None):
    return _shift("fftshift", x, axes, 1)


@composed(
    "roll(x, shift=-(size // 2)) along each of axes (every axis for None), the inverse of "
    "fftshift; the gradient is roll's, G rolled back."
)
def ifftshift(x, /, *, axes=None):
    return _shift("ifftshift", x, axes, -1)
