"""NumPy's quirks: a speed adapter for its namespace, the host arrays
``to_numpy`` hands back as they are, and an accumulating scatter
(``numpy.add.at``). NumPy computes float16 matrix products in a C loop,
hundreds of times slower than float32's.

The speed adapter, :class:`NumpyNamespace`, is ``array_api_compat.numpy`` with
cheaper spellings of the few calls on xpgrad's hot path; it is the namespace
``resolve`` returns for NumPy arrays (``_Lib.xp``).

On tiny arrays NumPy's Python-level wrappers cost more than the arithmetic.
Each replacement gives the same result as the compat function it stands in
for, and measured on a (2, 3) float64 array it took (median of 5 x 200,000
calls, 2-core machine; ``python -m timeit`` reproduces them):

- ``sum``: ``numpy.add.reduce`` in about 40% of ``array_api_compat.numpy.sum``'s time
  (a sum is ``add.reduce``; the wrapper only normalizes arguments);
- ``reshape``: ``ndarray.reshape`` in about 20% of the compat function's time;
- ``ones_like``: ``numpy.ones(shape, dtype)`` in about 40%;
- ``zeros_like``: ``numpy.zeros(shape, dtype)`` in about 20% (1.2 against 7.7 µs
  on an (8, 8) float64 array);
- ``asarray(x, copy=True)``: ``numpy.array(x, copy=True)`` in about 30%;
- ``broadcast_to``: for a C-contiguous array, a read-only strided view built
  directly (zero strides on the broadcast axes), as ``numpy.broadcast_to``
  returns, without its argument checks;
- ``clip`` of a real floating array between Python numbers (or None):
  NumPy's ``clip`` (``maximum`` or ``minimum`` for one bound), without the
  compat function's bound conversions and copies (an 8x8 ``clip`` with its
  gradient took 62 µs, against exp's 22);
- ``count_nonzero`` of a boolean array along axes: ``numpy.add.reduce``
  counting in ``intp``, the dtype ``numpy.count_nonzero`` answers in (column
  by column over a short last axis, as ``max``);
- ``logaddexp`` of two float32 or float64 arrays of 256 elements or more:
  ``max(x1, x2) + log1p(exp(-|x1 - x2|))``, the formula of NumPy's own
  ``logaddexp``, in NumPy's vectorized ``exp`` and ``log1p`` where its own
  loop calls them an element at a time (128x128 float32: 42 against 278
  µs); an infinity against itself, or a NaN, is left to NumPy's function.
  The vectorized functions round a little differently: against exact
  values, a mean error of 1.55 ulp against NumPy's 1.20 in float32 (0.41
  against 0.40 in float64), so results differ from NumPy's in the last
  bits, and from smaller arrays' (which NumPy computes);
- ``max``/``min`` over a short last axis (k <= 16 columns, at least 32 k
  rows): ``numpy.maximum``/``minimum`` column by column, since NumPy reduces
  a short contiguous axis row by row (on (1797, 10) float64, 27 against
  78 µs; on (8192, 3), 24 against 342 µs). Exact: the same maximum in any
  order.

Anything else is looked up on the compat namespace once and cached.
"""

from __future__ import annotations

import numpy as np

from . import Library, complex_parts


class Numpy(Library):
    name = "numpy"
    views = True
    element_copies = True
    host_only = True
    half_gemm = False  # float16 GEMM loops in C: the rules multiply in float32

    def namespace(self, xp):
        return NumpyNamespace(xp)

    def shares_memory(self, a, b):
        return np.may_share_memory(a, b)

    def complex(self, xp, re, im, dtype):
        return complex_parts(xp, re, im, dtype)

    def to_numpy(self, x):
        return np.asarray(x)  # an ndarray as it is; a NumPy scalar as a 0-d array

    def sum_over(self, xp, x, axes):
        """A BLAS matrix-vector product with a vector of ones, where ``axes``
        are the leading axes (a bias's gradient: ``ones @ x``) or the trailing
        ones (a kept-dims reduction's: ``x @ ones``), length-1 axes among them
        aside. NumPy adds row after row over axis 0 and reduces a last axis
        slower still: on 2-core OpenBLAS, (1797, 64) float64 over axis 0 took
        14 against 45 µs; (1797, 10) over the last axis 6 against 42 µs;
        (8192, 1000) float32 over the last axis 1.0 against 4.0 ms. Real
        float32/float64 C-contiguous arrays only. The rounding is a BLAS
        dot's: no worse than NumPy's sum over leading axes (which adds row
        after row); over trailing axes NumPy sums pairwise, so those stay
        NumPy's beyond 2048 elements a row (float32 rows of 1000: a relative
        error of 2.5e-7 against NumPy's 1.6e-7)."""
        if type(x) is not np.ndarray or x.dtype not in _BLAS_REAL or not x.flags.c_contiguous:
            return None
        shape, nd = x.shape, x.ndim
        first, last = axes[0], axes[-1]
        if first == 0:
            block = range(0, last + 1)
        elif last == nd - 1:
            block = range(first, nd)
        else:
            return None
        trailing = first != 0
        n = 1
        for i in block:
            if i not in axes and shape[i] != 1:
                return None  # an axis kept between summed ones: NumPy's own sum
            n *= shape[i]
        if n < 2 or x.size == 0 or (trailing and n > 2048):
            return None  # a long last axis: NumPy's pairwise sum is the more accurate
        ones = np.ones(n, x.dtype)
        if first == 0:
            return (ones @ x.reshape(n, x.size // n)).reshape((1,) * (last + 1) + shape[last + 1:])
        return (x.reshape(x.size // n, n) @ ones).reshape(shape[:first] + (1,) * (nd - first))

    def mask_gradient(self, xp, g, zero, half=None):
        """Without ``numpy.where``, which branches on each element: a random
        mask (a ReLU's) costs it 568 against 44 µs here on (512, 256) float32.
        ``g``'s bits are cleared with an integer mask where ``zero`` (exact for
        inf and NaN, as ``where`` is), and halved in place only where there
        are ties (a ReLU's are rare)."""
        kind = _SAME_SIZE_INT.get(g.dtype) if type(g) is np.ndarray else None
        if kind is None or type(zero) is not np.ndarray or zero.shape != g.shape:
            # a 0-d comparison is a NumPy scalar; out= below needs arrays
            return super().mask_gradient(xp, g, zero, half)
        if g.size <= 256 and zero.flags.c_contiguous and g.flags.c_contiguous:
            # on so few elements where's branches cost less than 3 passes; both
            # C-ordered, so the result is laid out as the bits' path lays it
            out = np.where(zero, 0, g)
        else:
            keep = zero.astype(kind)  # 1 where zeroed
            np.subtract(keep, 1, out=keep)  # 0 there, all bits set elsewhere
            out = np.bitwise_and(g.view(kind), keep, out=keep).view(g.dtype)
        if half is not None and np.count_nonzero(half):  # 0.2 µs; .any() takes 0.7
            np.multiply(out, 0.5, out=out, where=half)
        return out

    def add_where(self, xp, into, values, mask):
        """One masked ufunc pass on a large ``into`` (no array of its size is
        made); on a small one (up to 64 Ki elements), ``values`` where ``mask``
        and 0 elsewhere added in: NumPy's masked, broadcasting add is the
        slower there ((1797, 10): 27 against 44 µs)."""
        if into.size <= _MASKED_ADD_MIN:
            np.add(into, np.where(mask, values, 0), out=into)
        else:
            np.add(into, values, out=into, where=mask)
        return into

    def add_at_hits(self, xp, into, values, hit):
        """On a large ``into`` (over 64 Ki elements), the one hit of each slice
        found with ``argmax`` of the mask and only those elements written:
        0.28 against 1.09 ms for the masked add on (2048, 2048) float32, the
        same sums. Only for slices of 128 or more that lie contiguous in the
        mask: across them ``argmax`` copies the mask first (18 ms against 0.7
        for ``axis=0`` there), and on shorter ones it gains nothing. Elsewhere
        (several axes, a small ``into``), :meth:`add_where`."""
        if type(into) is np.ndarray and type(hit) is np.ndarray and type(values) is np.ndarray and (
            into.size > _MASKED_ADD_MIN and into.shape == hit.shape and values.ndim == hit.ndim
        ):
            axes = [i for i, (v, h) in enumerate(zip(values.shape, hit.shape)) if v != h]
            if len(axes) == 1 and values.shape[axes[0]] == 1 and hit.shape[axes[0]] >= 128 and (
                np.moveaxis(hit, axes[0], -1).flags.c_contiguous
            ):
                axis = axes[0]
                at = np.expand_dims(np.argmax(hit, axis=axis), axis)
                np.put_along_axis(into, at, np.take_along_axis(into, at, axis) + values, axis)
                return into
        return self.add_where(xp, into, values, hit)

    def scatter_add(self, xp, n, index, values, like):
        """``numpy.add.at`` into zeros of ``values``' dtype. Since NumPy 1.25
        it beats ``bincount`` (which makes a float64 array of length ``n``
        and then a cast): measured on 8,192,000 float32 zeros, 3.4 against
        19 ms for 8,192 indices and 107 against 136 ms for 8,192,000."""
        out = np.zeros(n, values.dtype)
        np.add.at(out, index, values)
        return out


class NumpyNamespace:
    """``array_api_compat.numpy`` with the fast paths above."""

    def __init__(self, base) -> None:
        self._base = base
        self.__name__ = base.__name__

    def __getattr__(self, name: str):
        value = getattr(self._base, name)
        setattr(self, name, value)
        return value

    @staticmethod
    def sum(x, /, *, axis=None, dtype=None, keepdims=False):
        return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def reshape(self, x, /, shape, *, copy=None):
        if copy is None and type(x) is np.ndarray:
            return x.reshape(shape)
        return self._base.reshape(x, shape, copy=copy)

    def ones_like(self, x, /, *, dtype=None, device=None):
        if device is None:
            return np.ones(x.shape, x.dtype if dtype is None else dtype)
        return self._base.ones_like(x, dtype=dtype, device=device)

    def zeros_like(self, x, /, *, dtype=None, device=None):
        if device is None:
            return np.zeros(x.shape, x.dtype if dtype is None else dtype)
        return self._base.zeros_like(x, dtype=dtype, device=device)

    def asarray(self, obj, /, *, dtype=None, device=None, copy=None):
        if copy and device is None and type(obj) is np.ndarray:
            return np.array(obj, dtype=dtype, copy=True)
        return self._base.asarray(obj, dtype=dtype, device=device, copy=copy)

    def clip(self, x, /, min=None, max=None):  # noqa: A002 - the standard's names
        if type(x) is np.ndarray and x.ndim and x.dtype.kind == "f" and type(min) in _BOUND and (
            type(max) in _BOUND
        ) and (min is not None or max is not None):
            if min is None:
                return np.minimum(x, max)
            if max is None:
                return np.maximum(x, min)
            return np.clip(x, min, max)  # its own loop: the sign of a clipped zero as NumPy's
        return self._base.clip(x, min=min, max=max)

    def count_nonzero(self, x, /, *, axis=None, keepdims=False):
        if type(x) is np.ndarray and x.dtype == np.bool_ and axis is not None:
            if _short_last_axis(x, axis):
                return _columnwise(np.add, x, keepdims, np.intp)
            return np.add.reduce(x, axis=axis, dtype=np.intp, keepdims=keepdims)
        return self._base.count_nonzero(x, axis=axis, keepdims=keepdims)

    def logaddexp(self, x1, x2, /):
        if (
            type(x1) is np.ndarray and type(x2) is np.ndarray and x1.dtype == x2.dtype
            and x1.dtype in _BLAS_REAL and max(x1.size, x2.size) >= 256
        ):
            with np.errstate(invalid="ignore"):  # inf - inf: NumPy's function answers there
                out = np.subtract(x1, x2)
                np.abs(out, out=out)
                np.negative(out, out=out)
                np.exp(out, out=out)
                np.log1p(out, out=out)
                out += np.maximum(x1, x2)
            bad = np.isnan(out)
            if bad.any():
                a, b = np.broadcast_arrays(x1, x2)
                out[bad] = np.logaddexp(a[bad], b[bad])
            return out
        return self._base.logaddexp(x1, x2)

    def max(self, x, /, *, axis=None, keepdims=False):
        if _short_last_axis(x, axis):
            return _columnwise(np.maximum, x, keepdims)
        return self._base.max(x, axis=axis, keepdims=keepdims)

    def min(self, x, /, *, axis=None, keepdims=False):
        if _short_last_axis(x, axis):
            return _columnwise(np.minimum, x, keepdims)
        return self._base.min(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def broadcast_to(x, /, shape):
        shape = tuple(shape)
        lead = len(shape) - x.ndim
        if type(x) is not np.ndarray or lead < 0:
            return np.broadcast_to(x, shape)
        if x.size == 1:  # every axis of x is 1 (or there are none): all strides 0
            out = np.ndarray(shape, x.dtype, x, 0, (0,) * len(shape))
            out.flags.writeable = False
            return out
        if not x.flags.c_contiguous:
            return np.broadcast_to(x, shape)
        strides = [0] * lead
        for size, target, stride in zip(x.shape, shape[lead:], x.strides):
            if size == target:
                strides.append(stride)
            elif size == 1:
                strides.append(0)
            else:
                return np.broadcast_to(x, shape)  # raises NumPy's own error
        out = np.ndarray(shape, x.dtype, x, 0, tuple(strides))
        out.flags.writeable = False
        return out


_BLAS_REAL = (np.dtype(np.float32), np.dtype(np.float64))
# add_where's masked ufunc pass (and add_at_hits' argmax) pay off above this
# many elements; below, a where and a plain add are faster
_MASKED_ADD_MIN = 65536
_SAME_SIZE_INT = {np.dtype(np.float16): np.int16, np.dtype(np.float32): np.int32,
                  np.dtype(np.float64): np.int64}
_BOUND = (float, int, type(None))  # Python bounds of clip's fast path (not bool)


def _short_last_axis(x, axis) -> bool:
    """Whether a reduction of ``x`` over ``axis`` is one over its last axis
    that is short (2 to 16 long) beside many rows (32 per column or more)."""
    if type(x) is not np.ndarray or x.ndim < 2:
        return False
    last = x.ndim - 1
    if axis != (last,) and axis != last and axis != -1 and axis != (-1,):
        return False
    k = x.shape[-1]
    return 1 < k <= 16 and x.size >= 32 * k * k


def _columnwise(ufunc, x, keepdims, dtype=None):
    """``ufunc`` reduced over the last axis of ``x``, one column at a time
    (accumulated in ``dtype``, x's by default)."""
    out = x[..., 0].astype(x.dtype if dtype is None else dtype)
    for j in range(1, x.shape[-1]):
        ufunc(out, x[..., j], out=out)
    return out[..., None] if keepdims else out
