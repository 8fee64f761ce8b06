"""``xpgrad.array_api``: the Array API namespace of xpgrad's Tensors, with
gradients.

Array-API code written as ``xp = array_namespace(x)`` runs on Tensors
unchanged, and ``backward()`` then gives the gradients of its inputs::

    >>> import numpy as np, xpgrad
    >>> import xpgrad.array_api as xp
    >>> x = xpgrad.tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)
    >>> y = xp.sum(x * x)
    >>> y.backward()
    >>> x.grad
    array([0., 2., 4.])

Functions take Tensors, native arrays (treated as constants) and Python
scalars, compute with the inputs' own namespace (NumPy, CuPy, torch, JAX,
array_api_strict, dask) and return Tensors whose ``.data`` stays in that
library and on that device. A name of the standard that xpgrad does not
provide raises an AttributeError that says so.
"""

from __future__ import annotations

import math as _math

from .. import _dtypes
from .._dtypes import (  # noqa: F401 - the namespace's dtype objects and functions
    bool,
    can_cast,
    complex64,
    complex128,
    finfo,
    float32,
    float64,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    isdtype,
    result_type,
    uint8,
    uint16,
    uint32,
    uint64,
)
from . import _creation, _elementwise, _indexing, _linear_algebra, _manipulation, _nondiff, _statistical
from . import linalg  # noqa: F401 - the standard's linalg extension, xp.linalg
from . import fft  # noqa: F401 - the standard's fft extension, xp.fft
from . import special  # noqa: F401 - scipy.special's functions, xp.special
from ._creation import *  # noqa: F403
from ._elementwise import *  # noqa: F403
from ._indexing import *  # noqa: F403
from ._info import __array_namespace_info__  # noqa: F401
from ._linear_algebra import *  # noqa: F403
from ._manipulation import *  # noqa: F403
from ._nondiff import *  # noqa: F403
from ._statistical import *  # noqa: F403

__array_api_version__ = "2024.12"

import sys as _sys  # noqa: E402

from .._backend import set_adapter as _set_adapter  # noqa: E402

_set_adapter(_sys.modules[__name__], _indexing.Tensors())

from ..tensor import set_namespace as _set_namespace  # noqa: E402

_set_namespace(_sys.modules[__name__])

e = _math.e
inf = _math.inf
nan = _math.nan
pi = _math.pi
newaxis = None

__all__ = sorted(
    [name for name in _dtypes.__all__ if name != "DType"]
    + _creation.__all__
    + _elementwise.__all__
    + _indexing.__all__
    + _linear_algebra.__all__
    + _manipulation.__all__
    + _nondiff.__all__
    + _statistical.__all__
    + ["__array_api_version__", "__array_namespace_info__", "e", "inf", "nan", "pi", "newaxis", "linalg", "fft"]
)

# The standard's names (2024.12), for the error of those xpgrad lacks.
_STANDARD = frozenset("""
arange asarray empty empty_like eye from_dlpack full full_like linspace meshgrid ones ones_like
tril triu zeros zeros_like astype can_cast finfo iinfo isdtype result_type abs acos acosh add
asin asinh atan atan2 atanh bitwise_and bitwise_left_shift bitwise_invert bitwise_or
bitwise_right_shift bitwise_xor ceil clip conj copysign cos cosh divide equal exp expm1 floor
floor_divide greater greater_equal hypot imag isfinite isinf isnan less less_equal log log1p
log2 log10 logaddexp logical_and logical_not logical_or logical_xor maximum minimum multiply
negative nextafter not_equal positive pow real reciprocal remainder round sign signbit sin sinh
square sqrt subtract tan tanh trunc fft take take_along_axis linalg matmul matrix_transpose
tensordot vecdot broadcast_arrays broadcast_to concat expand_dims flip moveaxis permute_dims
repeat reshape roll squeeze stack tile unstack argmax argmin count_nonzero nonzero searchsorted
where unique_all unique_counts unique_inverse unique_values argsort sort cumulative_sum
cumulative_prod max mean min prod std sum var all any diff
""".split())
_LATER = frozenset({"isin", "broadcast_shapes"})  # 2025.12's, which xpgrad lacks


def __getattr__(name: str):
    if name in _STANDARD or name in _LATER:
        raise AttributeError(
            f"xpgrad.array_api.{name}: the Array API standard defines {name}, but it is not "
            f"differentiable in xpgrad yet; compute it on t.detach().data with the data's "
            f"own namespace if no gradient needs to flow through it"
        )
    raise AttributeError(f"module 'xpgrad.array_api' has no attribute {name!r}")
