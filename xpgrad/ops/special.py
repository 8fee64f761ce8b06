"""Rules of ``scipy.special``'s functions: one class each, named as in scipy.

The values come from the data's own library: ``scipy.special`` for NumPy,
``torch.special`` (and torch's own functions) for torch,
``jax.scipy.special`` for JAX, ``cupyx.scipy.special`` for CuPy, scipy
through NumPy for array_api_strict (converted back), and ``map_blocks`` of
scipy for dask. Where a library lacks a function, a short composition of
its own functions stands in when one is exact up to rounding (``gamma`` on
torch from ``lgamma``, ``chdtr`` from ``gammainc``, ``cosm1`` from ``sin``);
otherwise the forward raises ``NotImplementedError`` naming the function and
the library, never computing an answer elsewhere.

Every rule is element-wise and broadcasts its arguments; any of them may be
a Python number. The derivatives are written as Array API code on ``xp``,
calling other special functions through :func:`special_function`, which
gives the library's function at first order and ``xpgrad.array_api.special``'s
under ``create_graph``, so second derivatives go through the same rules
(``gammaln``' derivative is ``psi``, whose derivative is ``polygamma(1, x)``).

Arguments without a closed-form derivative (``gammainc``'s ``a``,
``betainc``'s ``a`` and ``b``, ``zeta``'s ``x``, ``polygamma``'s ``n``, the
degrees of freedom of the distribution functions) are listed in ``nondiff``:
``backward`` gives None for them, and a Tensor that requires grad there is
refused by name (by the namespace function, and by the backward of a node
``xpgrad.apply`` recorded). Real arguments only: complex ones raise TypeError.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections import namedtuple

from .._backend import _arg_name, dtype_info, namespace_name, resolve
from .._libs import per_block
from .._shapes import broadcast_shapes
from ._common import Rule, any_known, run, to_input

__all__ = ["Special", "native_function", "special_function"]

_PY_SCALARS = (int, float, complex, bool)
_NAN = math.nan
_INF = math.inf
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_LOG_PI = math.log(math.pi)
_SQRT_PI = math.sqrt(math.pi)
_TWO_OVER_SQRT_PI = 2.0 / _SQRT_PI
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI

#: Positions of the arguments that are integers by nature (polygamma's n, the
#: counts of the discrete distributions), by function name: these keep their
#: integer dtype where the others are cast to the floating dtype.
_INTEGER_ARGS: dict[str, tuple] = {}


# -- the data's own library ---------------------------------------------------


class _Missing(Exception):
    """A library lacks a function: the message says what instead."""


def _scipy_special():
    import scipy.special

    return scipy.special


def _scipy(name: str):
    sp = _scipy_special()
    if name == "zeta_riemann":
        return lambda x: sp.zeta(x)
    return getattr(sp, name)


def _torch_table() -> dict:
    import torch

    S, F = torch.special, torch.nn.functional
    table = {
        name: getattr(S, name)
        for name in (
            "erf", "erfc", "erfcx", "erfinv", "expit", "logit", "ndtr", "ndtri", "log_ndtr",
            "gammaln", "i0", "i0e", "i1", "i1e", "entr", "xlogy", "xlog1py", "exp2", "sinc",
            "gammainc", "gammaincc", "zeta", "multigammaln",
        )
    }
    table.update(
        psi=S.digamma,
        log_expit=F.logsigmoid,
        j0=S.bessel_j0,
        j1=S.bessel_j1,
        y0=S.bessel_y0,
        y1=S.bessel_y1,
        k0=S.modified_bessel_k0,
        k0e=S.scaled_modified_bessel_k0,
        k1=S.modified_bessel_k1,
        k1e=S.scaled_modified_bessel_k1,
        polygamma=_torch_polygamma,
    )
    return table


def _torch_polygamma(n, x):
    import torch

    if n.ndim == 0 and not n.is_floating_point():
        return torch.special.polygamma(int(n), x)
    raise _Missing("torch.special.polygamma takes one Python int n")  # the generic formula


def _jax_table() -> dict:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as S

    table = {
        name: getattr(S, name)
        for name in (
            "erf", "erfc", "erfcx", "erfinv", "expit", "logit", "ndtr", "ndtri", "log_ndtr",
            "gammaln", "gamma", "multigammaln", "i0", "i0e", "i1", "i1e", "entr", "rel_entr",
            "kl_div", "xlogy", "xlog1py", "betaln", "gammainc", "gammaincc", "betainc",
            "boxcox", "boxcox1p", "expi", "loggamma", "hyp1f1", "zeta", "polygamma",
            "spence", "exp1", "expn", "poch",
        )
        if hasattr(S, name)
    }
    table.update(psi=S.digamma, log_expit=jax.nn.log_sigmoid, cbrt=jnp.cbrt, exp2=jnp.exp2, sinc=jnp.sinc)
    polygamma = table.get("polygamma")
    if polygamma is not None:

        def _jax_polygamma(n, x):
            if jnp.issubdtype(n.dtype, jnp.floating):
                raise _Missing("jax.scipy.special.polygamma takes integer n")
            return polygamma(n, x)

        table["polygamma"] = _jax_polygamma
    return table


def _cupy_table() -> dict:
    import cupyx.scipy.special as S

    table = {name: getattr(S, name) for name in dir(S) if not name.startswith("_")}
    if "zetac" in table:  # zetac(x) = zeta(x) - 1, Riemann's, for every x
        table["zeta_riemann"] = lambda x: S.zetac(x) + 1.0
    return table


_TABLES = {"torch": _torch_table, "jax": _jax_table, "cupy": _cupy_table}
_LOADED: dict = {}


def _table(lib: str) -> dict | None:
    table = _LOADED.get(lib)
    if table is None and lib in _TABLES:
        table = _LOADED.setdefault(lib, _TABLES[lib]())
    return table


def _through_numpy(xp, f):
    """``f`` (scipy's, on NumPy arrays) for arrays of ``xp``, through NumPy and back."""
    import numpy as np

    from .._backend import adapter_of

    to_numpy = adapter_of(xp).to_numpy

    def call(*args):
        dev = next((a.device for a in args if hasattr(a, "device")), None)
        out = f(*[to_numpy(a) if hasattr(a, "shape") else a for a in args])
        return xp.asarray(np.asarray(out), device=dev)

    return call


def _through_blocks(xp, f):
    """``f`` (scipy's) on each block of dask arrays: element-wise, so any chunking is right."""
    import numpy as np

    def call(*args):
        import dask.array as da

        pos, dtype, block = per_block(f, args)
        arrays = [args[i] for i in pos]
        if len(arrays) > 1:
            arrays = da.broadcast_arrays(*arrays)
        ndim = arrays[0].ndim
        return da.map_blocks(block, *arrays, dtype=dtype, meta=np.empty((0,) * ndim, dtype=dtype))

    return call


def native_function(xp, name: str):
    """The function ``name`` of scipy.special for arrays of namespace ``xp``
    (the library's own, or a composition of its functions), as
    ``f(*arrays, *params)``; ``NotImplementedError`` naming the function and
    the library where there is none."""
    key = (id(xp), name)
    f = _NATIVE.get(key)
    if f is None:
        f = _NATIVE.setdefault(key, _find(xp, name))
    return f


_NATIVE: dict = {}


def _find(xp, name: str):
    lib = namespace_name(xp).removeprefix("array_api_compat.").split(".")[0]
    if lib == "numpy":
        return _scipy(name)
    if lib == "array_api_strict":
        return _through_numpy(xp, _scipy(name))
    if lib == "dask":
        return _through_blocks(xp, _scipy(name))
    if lib == "cubed":
        from .._libs.cubed import elementwise_blocks

        return elementwise_blocks(xp, _scipy(name))
    table = _table(lib) or {}
    own = table.get(name)
    generic = _GENERIC.get(name)
    why = None
    if generic is not None:
        fn, needs = generic
        lacking = [n for n in needs if not _has(xp, n)]
        if lacking:
            why = f"the composition it has elsewhere needs {', '.join(lacking)}, which {lib} lacks too"
            generic = None
        else:
            generic = functools.partial(fn, xp)
    if own is not None and generic is not None:
        return _with_fallback(own, generic)
    if own is not None or generic is not None:
        return own or generic
    shown = "zeta without q (the Riemann zeta function)" if name == "zeta_riemann" else name
    hint = _HINTS.get(name, "")
    raise NotImplementedError(
        f"{shown}: {lib} has no {shown} (nor does xpgrad compose it from {lib}'s functions"
        + (f": {why}" if why else "")
        + f"); {hint}convert the data to NumPy (xpgrad.convert) to compute it with scipy.special"
    )


_HINTS = {"zeta_riemann": "pass q=1.0 for the Hurwitz zeta function (defined for x > 1), or "}


def _has(xp, name: str) -> bool:
    try:
        native_function(xp, name)
    except NotImplementedError:
        return False
    return True


def _with_fallback(own, generic):
    """The library's function, and the generic formula where it refuses the
    arguments (torch's polygamma takes one int n)."""

    def call(*args):
        try:
            return own(*args)
        except _Missing:
            return generic(*args)

    return call


# -- compositions of a library's own functions --------------------------------
# Each is Array API code on the library's namespace ``xp``; ``_f(xp, name)``
# calls the library's function ``name``.


def _f(xp, name):
    return native_function(xp, name)


def _g_gamma(xp, x):
    # |gamma| from log|gamma| (relative error ~ |gammaln(x)| * eps), with the
    # sign of gamma(x) for x < 0: negative where floor(x) is odd. As scipy: nan
    # at the negative integers, +-inf at +-0.
    mag = xp.exp(_f(xp, "gammaln")(x))
    odd = xp.remainder(xp.floor(x), 2.0) == 1.0
    val = xp.where((x < 0) & odd, -mag, mag)
    pole = (x < 0) & (xp.floor(x) == x)
    val = xp.where(pole, _NAN, val)
    return xp.where(x == 0, 1.0 / x, val)


def _g_loggamma(xp, x):
    return xp.where(x < 0, _NAN, _f(xp, "gammaln")(x))


def _g_cbrt(xp, x):
    y = xp.sign(x) * xp.abs(x) ** (1.0 / 3.0)
    ok = xp.isfinite(y) & (y != 0)
    ys = xp.where(ok, y, 1.0)
    better = ys - (ys * ys * ys - x) / (3.0 * ys * ys)  # one Newton step
    return xp.where(ok, better, y)


def _g_exp10(xp, x):
    return 10.0 ** x


def _g_exp2(xp, x):
    return 2.0 ** x


def _g_cosm1(xp, x):
    h = xp.sin(x * 0.5)
    return -2.0 * h * h


def _g_sinc(xp, x):
    zero = x == 0
    px = math.pi * xp.where(zero, 1.0, x)
    return xp.where(zero, 1.0, xp.sin(px) / px)


def _g_expit(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _g_log_expit(xp, x):
    # -log1p(exp(-x)) for x >= 0, x - log1p(exp(x)) below.
    return xp.where(x >= 0, 0.0, x) - xp.log1p(xp.exp(-xp.abs(x)))


def _g_logit(xp, x):
    return xp.log(x) - xp.log1p(-x)


def _g_xlogy(xp, x, y):
    return xp.where(x == 0, 0.0 * y, x * xp.log(y))


def _g_xlog1py(xp, x, y):
    return xp.where(x == 0, 0.0 * y, x * xp.log1p(y))


def _g_entr(xp, x):
    xs = xp.where(x > 0, x, 1.0)
    val = xp.where(x > 0, -xs * xp.log(xs), xp.where(x == 0, 0.0, -_INF))
    return xp.where(xp.isnan(x), _NAN, val)


def _rel_entr_parts(xp, x, y):
    inside = (x > 0) & (y > 0)
    xs, ys = xp.where(inside, x, 1.0), xp.where(inside, y, 1.0)
    return inside, xs, ys, xp.isnan(x) | xp.isnan(y)


def _g_rel_entr(xp, x, y):
    inside, xs, ys, nan = _rel_entr_parts(xp, x, y)
    val = xp.where(inside, xs * xp.log(xs / ys), xp.where((x == 0) & (y >= 0), 0.0, _INF))
    return xp.where(nan, _NAN, val)


def _g_kl_div(xp, x, y):
    inside, xs, ys, nan = _rel_entr_parts(xp, x, y)
    val = xp.where(inside, xs * xp.log(xs / ys) - xs + ys,
                   xp.where((x == 0) & (y >= 0), y, _INF))
    return xp.where(nan, _NAN, val)


def _g_huber(xp, delta, r):
    a = xp.abs(r)
    val = xp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    return xp.where(delta < 0, _INF, val)


def _g_pseudo_huber(xp, delta, r):
    # delta^2 (sqrt(1 + (r/delta)^2) - 1) = delta r^2 / (hypot(delta, r) + delta),
    # without the cancellation or the overflow of r / delta.
    both = (delta == 0) | (r == 0)
    s = xp.where(both, 1.0, xp.hypot(delta, r) + delta)
    val = xp.where(both, 0.0, delta * r * (r / s))
    val = xp.where(xp.isinf(r) & (delta > 0), _INF, val)
    return xp.where(delta < 0, _INF, val)


def _boxcox_from_log(xp, lg, lmbda):
    # scipy's threshold, and lmbda == 0 itself: in float16, 1e-19 is 0
    small = (lmbda == 0) | (xp.abs(lmbda) < 1e-19)
    ls = xp.where(small, 1.0, lmbda)
    return xp.where(small, lg, xp.expm1(ls * lg) / ls)


def _g_boxcox(xp, x, lmbda):
    return _boxcox_from_log(xp, xp.log(x), lmbda)


def _g_boxcox1p(xp, x, lmbda):
    return _boxcox_from_log(xp, xp.log1p(x), lmbda)


def _g_betaln(xp, a, b):
    lg = _f(xp, "gammaln")
    return lg(a) + lg(b) - lg(a + b)


def _gamma_poles(xp, z):
    """Where ``z`` is a pole of gamma: 0 and the negative integers."""
    return (z <= 0) & (xp.floor(z) == z)


def _g_rgamma(xp, z):
    pole = _gamma_poles(xp, z)
    return xp.where(pole, 0.0, 1.0 / _f(xp, "gamma")(xp.where(pole, 0.5, z)))


def _g_exprel(xp, x):
    small = xp.abs(x) < 1e-16
    top = x == _INF  # expm1(inf) / inf
    xs = _safe(xp, small | top, x)
    return xp.where(small, 1.0, xp.where(top, _INF, xp.expm1(xs) / xs))


def _g_polygamma(xp, n, x):
    # scipy's own formula: psi(x) for n = 0, else (-1)^(n+1) n! zeta(n + 1, x).
    n = xp.astype(n, x.dtype) if n.dtype != x.dtype else n
    sign = 1.0 - 2.0 * xp.remainder(n + 1.0, 2.0)
    fac = sign * _f(xp, "gamma")(n + 1.0) * _f(xp, "zeta")(n + 1.0, x)
    return xp.where(n == 0, _f(xp, "psi")(x), fac)


def _g_chdtr(xp, v, x):
    # scipy's generic formula (scipy.special._support_alternative_backends).
    res = _f(xp, "gammainc")(v / 2.0, x / 2.0)
    res = xp.where((v == 0) & (x > 0), 1.0, res)
    return xp.where(xp.isinf(v) & xp.isinf(x), _NAN, res)


def _g_chdtrc(xp, v, x):
    res = xp.where(x >= 0, _f(xp, "gammaincc")(v / 2.0, x / 2.0), 1.0)
    bad = ((x == 0) & (v == 0)) | xp.isnan(x) | xp.isnan(v) | (v <= 0)
    return xp.where(bad, _NAN, res)


def _g_gdtr(xp, a, b, x):
    return xp.where(x < 0, _NAN, _f(xp, "gammainc")(b, a * x))


def _g_gdtrc(xp, a, b, x):
    return xp.where(x < 0, _NAN, _f(xp, "gammaincc")(b, a * x))


def _g_stdtr(xp, df, t):
    normal = df == _INF  # the limit, which df / (t^2 + df) cannot reach (inf / inf)
    df = _safe(xp, normal, df)
    z = df / (t * t + df)
    tail = _f(xp, "betainc")(df / 2.0, 0.5, z) / 2.0
    return xp.where(normal, _f(xp, "ndtr")(t), xp.where(t < 0, tail, 1.0 - tail))


def _g_fdtr(xp, dfn, dfd, x):
    top = x == _INF  # dfn x / (dfd + dfn x) is inf / inf there; the CDF is 1
    x = _safe(xp, top, x)
    z = dfn * x / (dfd + dfn * x)
    return xp.where(top, 1.0, _f(xp, "betainc")(dfn / 2.0, dfd / 2.0, z))


def _g_fdtrc(xp, dfn, dfd, x):
    z = dfd / (dfd + dfn * x)
    return _f(xp, "betainc")(dfd / 2.0, dfn / 2.0, z)


def _g_betaincc(xp, a, b, x):
    return _f(xp, "betainc")(b, a, 1.0 - x)


def _counts(xp, p, *counts):
    """floor of the counts, in ``p``'s floating dtype."""
    return [xp.floor(c if c.dtype == p.dtype else xp.astype(c, p.dtype)) for c in counts]


def _g_pdtr(xp, k, m):
    (K,) = _counts(xp, m, k)
    bad = (K < 0) | (m < 0)
    return xp.where(bad, _NAN, _f(xp, "gammaincc")(xp.where(bad, 0.0, K) + 1.0, xp.where(bad, 1.0, m)))


def _g_pdtrc(xp, k, m):
    (K,) = _counts(xp, m, k)
    bad = (K < 0) | (m < 0)
    return xp.where(bad, _NAN, _f(xp, "gammainc")(xp.where(bad, 0.0, K) + 1.0, xp.where(bad, 1.0, m)))


def _binomial_parts(xp, k, n, p):
    K, N = _counts(xp, p, k, n)
    bad = (p < 0) | (p > 1) | (K > N) | xp.isnan(p)
    inner = (K >= 0) & (K < N) & ~bad
    Ks, Ns = xp.where(inner, K, 0.0), xp.where(inner, N, 1.0)
    return K, N, bad, inner, Ks, Ns


def _g_bdtr(xp, k, n, p):
    K, N, bad, inner, Ks, Ns = _binomial_parts(xp, k, n, p)
    val = _f(xp, "betainc")(Ns - Ks, Ks + 1.0, 1.0 - xp.where(inner, p, 0.5))
    val = xp.where(inner, val, xp.where(K == N, 1.0, _NAN))
    return xp.where(bad | (K < 0), _NAN, val)


def _g_bdtrc(xp, k, n, p):
    K, N, bad, inner, Ks, Ns = _binomial_parts(xp, k, n, p)
    val = _f(xp, "betainc")(Ks + 1.0, Ns - Ks, xp.where(inner, p, 0.5))
    val = xp.where(inner, val, xp.where(K == N, 0.0, xp.where(K < 0, 1.0, _NAN)))
    return xp.where(bad, _NAN, val)


def _negative_binomial_parts(xp, k, n, p):
    K, N = _counts(xp, p, k, n)
    bad = (p < 0) | (p > 1) | (K < 0) | (N <= 0) | xp.isnan(p)
    return bad, xp.where(bad, 0.0, K), xp.where(bad, 1.0, N), xp.where(bad, 0.5, p)


def _g_nbdtr(xp, k, n, p):
    bad, K, N, p = _negative_binomial_parts(xp, k, n, p)
    return xp.where(bad, _NAN, _f(xp, "betainc")(N, K + 1.0, p))


def _g_nbdtrc(xp, k, n, p):
    bad, K, N, p = _negative_binomial_parts(xp, k, n, p)
    return xp.where(bad, _NAN, _f(xp, "betainc")(K + 1.0, N, 1.0 - p))


# name -> (function of (xp, *arrays), the functions of the library it calls)
_GENERIC = {
    "gamma": (_g_gamma, ("gammaln",)),
    "loggamma": (_g_loggamma, ("gammaln",)),
    "cbrt": (_g_cbrt, ()),
    "exp10": (_g_exp10, ()),
    "exp2": (_g_exp2, ()),
    "cosm1": (_g_cosm1, ()),
    "sinc": (_g_sinc, ()),
    "expit": (_g_expit, ()),
    "log_expit": (_g_log_expit, ()),
    "logit": (_g_logit, ()),
    "xlogy": (_g_xlogy, ()),
    "xlog1py": (_g_xlog1py, ()),
    "entr": (_g_entr, ()),
    "rel_entr": (_g_rel_entr, ()),
    "kl_div": (_g_kl_div, ()),
    "huber": (_g_huber, ()),
    "pseudo_huber": (_g_pseudo_huber, ()),
    "boxcox": (_g_boxcox, ()),
    "boxcox1p": (_g_boxcox1p, ()),
    "betaln": (_g_betaln, ("gammaln",)),
    "exprel": (_g_exprel, ()),
    "rgamma": (_g_rgamma, ("gamma",)),
    "polygamma": (_g_polygamma, ("gamma", "zeta", "psi")),
    "chdtr": (_g_chdtr, ("gammainc",)),
    "chdtrc": (_g_chdtrc, ("gammaincc",)),
    "gdtr": (_g_gdtr, ("gammainc",)),
    "gdtrc": (_g_gdtrc, ("gammaincc",)),
    "stdtr": (_g_stdtr, ("betainc", "ndtr")),
    "fdtr": (_g_fdtr, ("betainc",)),
    "fdtrc": (_g_fdtrc, ("betainc",)),
    "betaincc": (_g_betaincc, ("betainc",)),
    "pdtr": (_g_pdtr, ("gammaincc",)),
    "pdtrc": (_g_pdtrc, ("gammainc",)),
    "bdtr": (_g_bdtr, ("betainc",)),
    "bdtrc": (_g_bdtrc, ("betainc",)),
    "nbdtr": (_g_nbdtr, ("betainc",)),
    "nbdtrc": (_g_nbdtrc, ("betainc",)),
}


# -- calling it ------------------------------------------------------------------


def _prepare(xp, name: str, inputs):
    """The inputs as arrays of ``xp`` for the library's function, and the
    floating dtype of the result: Python numbers become arrays on the
    inputs' device, integer arrays are cast to that floating dtype (except
    the arguments that are integers by nature, which keep theirs)."""
    ints = _INTEGER_ARGS.get(name, ())
    arrays = [v for v in inputs if v is not None and type(v) not in _PY_SCALARS]
    floats = [a.dtype for a in arrays if dtype_info(xp, a.dtype).inexact]
    dev = getattr(arrays[0], "device", None) if arrays else None
    if not floats:
        fdt = xp.asarray(0.0, device=dev).dtype  # the library's default floating dtype
    elif len(floats) == 1 or all(d == floats[0] for d in floats):
        fdt = floats[0]
    else:
        fdt = xp.result_type(*floats)
    out = []
    for i, v in enumerate(inputs):
        if v is None:
            out.append(None)
        elif type(v) in _PY_SCALARS:
            if i in ints and type(v) is int:
                out.append(xp.asarray(v, device=dev))
            else:
                out.append(xp.asarray(v, dtype=fdt, device=dev))
        elif i not in ints and not dtype_info(xp, v.dtype).inexact:
            out.append(xp.astype(v, fdt))
        elif i not in ints and v.dtype != fdt and not dtype_info(xp, v.dtype).complex:
            # a float32 beside a float64: the compositions (betaln's lgamma(a), boxcox's
            # log(x)) ran on it in float32 before promotion (8.8e-9 off on torch)
            out.append(xp.astype(v, fdt))
        else:
            out.append(v)
    return out, fdt


def _evaluate(xp, name, fn, inputs, params):
    arrays, fdt = _prepare(xp, name, inputs)
    out = fn(*[a for a in arrays if a is not None], *params)
    if out.dtype != fdt and dtype_info(xp, out.dtype).inexact and not dtype_info(xp, out.dtype).complex:
        out = xp.astype(out, fdt)
    return out, arrays


def special_function(xp, name: str):
    """scipy.special's function ``name`` for a gradient's Array API code:
    the library's own (see :func:`native_function`) when ``xp`` is an array
    library's namespace, and ``xpgrad.array_api.special.<name>``, which
    records its gradient, when ``xp`` is ``xpgrad.array_api`` (a recorded
    backward, for second derivatives)."""
    if getattr(xp, "__name__", None) == "xpgrad.array_api":
        return getattr(xp.special, name)  # the namespace module itself: no import
    fn = native_function(xp, name)

    def call(*args):
        return _evaluate(xp, name, fn, args, ())[0]

    return call


_sf = special_function


# -- the template --------------------------------------------------------------


class Special(Rule, template=True):
    """Template of a scipy.special rule: ``out = <name>(*args, *params)``,
    element-wise and broadcasting.

    A rule names its array arguments in ``args`` (scipy's names), the
    arguments without a derivative in ``nondiff``, those that are integers
    by nature in ``integer_args``, and Python parameters that follow the
    arrays in ``params`` (name and default, or ``inspect.Parameter.empty``).
    For each other argument ``a`` it writes ``d_a(xp, s)``, the partial
    derivative at the output's shape from the saved arrays ``s`` (the
    arguments by name, as arrays of the library, and ``out``); the template
    multiplies it by G and reduces it to the argument's shape and dtype.
    """

    args: tuple = ()
    nondiff: tuple = ()
    integer_args: tuple = ()
    params: tuple = ()
    #: The name of the library's function, when it is not the rule's.
    function: str | None = None
    #: True for scipy's ufuncs (positional-only arguments in the namespace).
    ufunc = True

    def __init_subclass__(cls, template: bool = False, **kwargs) -> None:
        if "scalars" not in cls.__dict__:
            cls.scalars = cls.args
        super().__init_subclass__(template=template, **kwargs)
        if template:
            return
        name = cls.__name__
        if cls.function is None:
            cls.function = name
        cls._Saved = namedtuple(f"{name}_saved", (*cls.args, "out", "meta"))
        cls._refused = tuple(i for i, a in enumerate(cls.args) if a in cls.nondiff)
        cls._ints = tuple(i for i, a in enumerate(cls.args) if a in cls.integer_args)
        _INTEGER_ARGS[cls.function] = cls._ints
        partials = []
        for a in cls.args:
            if a in cls.nondiff:
                partials.append(None)
            elif not hasattr(cls, f"d_{a}"):
                raise TypeError(f"{name}: writes no d_{a} and does not list {a!r} in nondiff")
            else:
                partials.append(getattr(cls, f"d_{a}"))
        cls._partials = tuple(partials)
        cls.forward = staticmethod(_make_forward(cls))

    @classmethod
    def _forward(cls, inputs: tuple, params: tuple):
        op = cls.__name__
        xp, scope = resolve(op, *inputs)
        meta, shapes = [], []
        for i, v in enumerate(inputs):
            if v is None:
                meta.append(None)
                continue
            scalar = type(v) in _PY_SCALARS
            if type(v) is complex or (not scalar and dtype_info(xp, v.dtype).complex):
                raise TypeError(
                    f"{op}: {_arg_name(op, i)} is complex; xpgrad differentiates {op} for real "
                    f"arguments only"
                )
            if scalar:
                meta.append((None, None, True))
            else:
                shape = tuple(v.shape)
                shapes.append(shape)
                meta.append((shape, v.dtype, False))
        if len(shapes) > 1:
            broadcast_shapes(*shapes, op=op)
        name = cls._function_name(inputs)
        fn = native_function(xp, name)  # NotImplementedError before any work
        out, arrays = run(op, scope, _evaluate, xp, name, fn, inputs, params)
        needs = tuple(
            m is not None and not m[2] and i not in cls._refused and dtype_info(xp, m[1]).inexact
            for i, m in enumerate(meta)
        )
        saved = cls._Saved(*arrays, out, tuple(meta))
        return cls.record(xp, scope, saved, needs, out)

    @classmethod
    def _function_name(cls, inputs) -> str:
        return cls.function

    @classmethod
    def refusal(cls, i: int) -> TypeError:
        """The error for a gradient asked of argument ``i``, which has none."""
        op, name = cls.__name__, cls.args[i]
        return TypeError(
            f"{op}: {name} requires grad, but {op} has no gradient with respect to {name} "
            f"(no closed form; xpgrad differentiates {op} in "
            f"{', '.join(a for a in cls.args if a not in cls.nondiff) or 'none of its arguments'}"
            f"); pass {name}.detach() (or the array) if no gradient should flow to it, or, "
            f"where library code computes {name} from your data (as scipy.stats' Welch t-test "
            f"computes its degrees of freedom), call that code on detached data"
        )

    @classmethod
    def backward(cls, grad_out, ctx):
        # A node that xpgrad.apply recorded knows which inputs wanted gradients.
        parents = getattr(ctx, "parents", None)
        if parents and getattr(ctx, "op", None) == cls.__name__:
            for i in cls._refused:
                if i < len(parents) and parents[i] is not None:
                    raise cls.refusal(i)
        return super().backward(grad_out, ctx)

    @classmethod
    def gradients(cls, xp, g, s, needs):
        # NaN where the value is (exp1 of a negative number, gammainc below 0): a
        # slope beside a value that is none would be a number for nothing. The
        # mask is a constant (no gradient flows into out: 0 * inf at a finite
        # value with an infinite slope), and no where at all where none is NaN.
        # d times a constant NaN there (1 elsewhere), not a NaN in d's place, so that the
        # second derivative is NaN there too (where(nan, d * NaN, d) leaked NaN beside it).
        nan = xp.isnan(s.out)
        some = any_known(xp, nan) is not False
        if some:
            nan = xp.where(nan, _NAN, xp.ones_like(s.out))
        grads = []
        for i, need in enumerate(needs):
            if not need:
                grads.append(None)
                continue
            shape, dtype, _ = s.meta[i]
            d = cls._partials[i](xp, s)
            if some:
                d = d * nan
            grads.append(to_input(xp, g * d, shape, dtype))
        return tuple(grads)


def _make_forward(cls):
    P = inspect.Parameter
    parameters = [P(a, P.POSITIONAL_OR_KEYWORD, default=None if a in cls.optional else P.empty)
                  for a in cls.args]
    parameters += [P(p, P.POSITIONAL_OR_KEYWORD, default=d) for p, d in cls.params]
    sig = inspect.Signature(parameters)
    n = len(cls.args)
    full = n + len(cls.params)

    def forward(*args, **kwargs):
        if kwargs or len(args) != full:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            args = tuple(bound.arguments.values())
        return cls._forward(args[:n], args[n:])

    forward.__signature__ = sig
    forward.__name__ = "forward"
    forward.__qualname__ = f"{cls.__name__}.forward"
    forward.__doc__ = (
        f"``(out, ctx)``: scipy.special.{cls.__name__} of the arguments, computed by their "
        f"own library, and what its backward needs."
    )
    return forward


# -- helpers of the derivatives -------------------------------------------------


# B_2k / 2k, k = 1..7: psi's asymptotic series, psi(y) ~ log y - 1/(2y) - sum c_k / y^2k.
_PSI_SERIES = (1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0, 1.0 / 132.0,
               -691.0 / 32760.0, 1.0 / 12.0)


def _psi_step(xp, x, h):
    """psi(x + h) - psi(x). Where both are past 10, from psi's asymptotic series
    term by term, log1p(h / x) + h / (2 x (x + h)) - sum c_k x^-2k expm1(-2k log1p(h / x))
    (the next term is below 1e-15 there): the plain difference of two psi cancels
    (betaln's d/da at a = 1e14 was 5% off)."""
    far = (x >= 10.0) & (x + h >= 10.0) & (xp.abs(h) < _INF)

    def asymptotic():
        xs, hs = _safe(xp, ~far, x, 10.0), _safe(xp, ~far, h, 0.0)
        lg = xp.log1p(hs / xs)
        inv2 = 1.0 / (xs * xs)
        series, power = 0.0, 1.0
        for k, c in enumerate(_PSI_SERIES, start=1):
            power = power * inv2
            series = series + c * power * xp.expm1(-2.0 * k * lg)
        return lg + hs / (2.0 * xs * (xs + hs)) - series

    def plain():
        p = _sf(xp, "psi")
        xn, hn = _safe(xp, far, x), _safe(xp, far, h, 0.0)
        return p(xn + hn) - p(xn)

    return _pick(xp, far, asymptotic, plain)


def _safe(xp, mask, x, fill=1.0):
    """``x`` with ``fill`` where ``mask``: a branch that ``where`` discards must
    not produce nan or inf, or its second derivative would leak them."""
    return xp.where(mask, fill, x)


def _exprel_prime(xp, u):
    """d/du exprel(u) = (u e^u - expm1(u)) / u^2, by its series near 0 (no cancellation);
    inf at inf and 0 at -inf (where the formula is inf / inf)."""
    small = xp.abs(u) < 0.1
    ends = xp.isinf(u)
    ub = _safe(xp, small | ends, u)
    big = (xp.exp(ub) * (ub - 1.0) + 1.0) / (ub * ub)
    us = xp.where(small, u, 0.0)
    series = 1.0 / 403200.0
    for c in (1.0 / 45360.0, 1.0 / 5760.0, 1.0 / 840.0, 1.0 / 144.0, 1.0 / 30.0, 1.0 / 8.0, 1.0 / 3.0, 0.5):
        series = series * us + c
    return xp.where(small, series, xp.where(ends & (u > 0), _INF, xp.where(ends, 0.0, big)))


# A density of large parameters written plainly, as exp of a sum of logarithms,
# is a difference of huge numbers that loses every digit (gammainc's at a = 1e16
# gave 1.6e-28 for 3.8e-9; float32's fdtr at dfd = 1e5 was 7% off). Loader's
# saddle-point form (C. Loader, "Fast and accurate computation of binomial
# probabilities", 2000) writes it as a product of terms near 1: Stirling's
# error and the deviance below, each computed without cancellation.

# The terms of Stirling's series: log(n!) - Stirling's formula ~ sum c_j / n^(2j+1).
_STIRLING_SERIES = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _pick(xp, mask, when, otherwise):
    """``where(mask, when(), otherwise())``, computing one branch only where
    ``mask``'s values can be read and are all one way (the common call: one
    parameter for the whole array)."""
    some = any_known(xp, mask)
    if some is False:
        return otherwise()
    if some and any_known(xp, ~mask) is False:
        return when()
    return xp.where(mask, when(), otherwise())


def _stirlerr(xp, n):
    """log(n!) - ((n + 1/2) log n - n + log(2 pi) / 2), Stirling's formula's
    error, for n > 0: its series beyond 15 (the next term is below 2e-16
    there), the difference of gammaln below (where it is small)."""
    big = n > 15.0

    def series():
        inv = 1.0 / _safe(xp, ~big, n, 16.0)
        inv2 = inv * inv
        out = _STIRLING_SERIES[-1]
        for c in reversed(_STIRLING_SERIES[:-1]):
            out = out * inv2 + c
        return out * inv

    def direct():
        k = _safe(xp, big, n)
        return _sf(xp, "gammaln")(k + 1.0) - (k + 0.5) * xp.log(k) + k - _HALF_LOG_2PI

    return _pick(xp, big, series, direct)


def _bd0(xp, x, m):
    """x log(x / m) + m - x, the deviance of x from m (>= 0): where x is
    within 10% of m, as (x - m) v + 2 x (v^3/3 + v^5/5 + ...) with
    v = (x - m) / (x + m) (eight terms: v^16 < 1e-16), without the
    cancellation of the plain form."""
    near = xp.abs(x - m) < 0.1 * (x + m)

    def series():
        xs, ms = xp.where(near, x, 1.0), xp.where(near, m, 1.0)
        v = (xs - ms) / (xs + ms)
        v2 = v * v
        tail = 1.0 / 17.0
        for j in range(7, 0, -1):
            tail = tail * v2 + 1.0 / (2 * j + 1)
        return (xs - ms) * v + 2.0 * xs * v * v2 * tail

    def plain():
        xf, mf = _safe(xp, near, x, 2.0), _safe(xp, near, m)
        xlogy = _sf(xp, "xlogy")  # two logarithms: d/dm of x / m squares a tiny m to 0
        return xlogy(xf, xf) - xlogy(xf, mf) + mf - xf

    return _pick(xp, near, series, plain)


def _gamma_density(xp, a, x):
    """d/dx gammainc(a, x) = x^(a-1) e^(-x) / gamma(a) (a at 1: e^(-x), also at x = 0);
    0 below 0, where no gamma distribution has mass (at a = 1 the formula gave e^(-x)).
    Past a = 2, as exp(-stirlerr(k) - bd0(k, x)) / sqrt(2 pi k), k = a - 1. 0 at x = inf
    (the limit; the formulas are inf - inf there)."""
    zero = (x < 0) | (x == _INF)
    x = _safe(xp, zero, x)
    large = a > 2.0

    def saddle():
        k = _safe(xp, ~large, a, 3.0) - 1.0
        return xp.exp(-_stirlerr(xp, k) - _bd0(xp, k, x)) / xp.sqrt(2.0 * math.pi * k)

    def plain():
        sa = _safe(xp, large, a)
        return xp.exp(_sf(xp, "xlogy")(sa - 1.0, x) - x - _sf(xp, "gammaln")(sa))

    return xp.where(zero, 0.0, _pick(xp, large, saddle, plain))


def _beta_density(xp, a, b, x, y=None):
    """d/dx betainc(a, b, x) = x^(a-1) (1-x)^(b-1) / B(a, b), ``y`` being 1 - x
    where the caller has it without rounding (the F density's). With a and b
    past 2, as (n + 1) times the binomial density of k = a - 1 of
    n = a + b - 2 at x, in Loader's form."""
    large = (a > 2.0) & (b > 2.0)

    def saddle():
        k, j = _safe(xp, ~large, a, 3.0) - 1.0, _safe(xp, ~large, b, 3.0) - 1.0
        n = k + j
        log_c = (_stirlerr(xp, n) - _stirlerr(xp, k) - _stirlerr(xp, j)
                 - _bd0(xp, k, n * x) - _bd0(xp, j, n * (1.0 - x if y is None else y)))
        return (n + 1.0) * xp.exp(log_c) * xp.sqrt(n / (2.0 * math.pi * k * j))

    def plain():
        sa, sb = _safe(xp, large, a), _safe(xp, large, b)
        xlogy, xlog1py = _sf(xp, "xlogy"), _sf(xp, "xlog1py")
        if y is None:
            log_xy = xlogy(sa - 1.0, x) + xlog1py(sb - 1.0, -x)
        else:  # the logarithm of the larger of x and y from the smaller, which has its digits
            upper = x > 0.5
            xl, yl = _safe(xp, upper, x, 0.5), _safe(xp, ~upper, y, 0.5)
            log_xy = xp.where(upper, xlog1py(sa - 1.0, -yl) + xlogy(sb - 1.0, yl),
                              xlogy(sa - 1.0, xl) + xlog1py(sb - 1.0, -xl))
        return xp.exp(log_xy - _sf(xp, "betaln")(sa, sb))

    return _pick(xp, large, saddle, plain)


def _t_density(xp, df, t):
    """Student's t density; the normal one at df = inf (where gammaln's difference is inf - inf).
    Past df = 2, with p = df / 2 and q = p + 1/2, as exp(stirlerr(q) -
    stirlerr(p) - bd0(p, q) - q log1p(t^2 / df)) / sqrt(2 pi)."""
    normal = df == _INF
    large = (df > 2.0) & ~normal

    def saddle():
        ld = _safe(xp, ~large, df, 4.0)
        p, q = 0.5 * ld, 0.5 * ld + 0.5
        return _INV_SQRT_2PI * xp.exp(_stirlerr(xp, q) - _stirlerr(xp, p) - _bd0(xp, p, q)
                                      - q * xp.log1p(t * t / ld))

    def plain():
        lg = _sf(xp, "gammaln")
        sd = _safe(xp, normal | large, df)
        return xp.exp(lg((sd + 1.0) * 0.5) - lg(sd * 0.5) - 0.5 * (xp.log(sd) + _LOG_PI)
                      - (sd + 1.0) * 0.5 * xp.log1p(t * t / sd))

    return _pick(xp, normal, lambda: _INV_SQRT_2PI * xp.exp(-0.5 * t * t),
                 lambda: _pick(xp, large, saddle, plain))


def _f_density(xp, dfn, dfd, x):
    """The F density, as the beta density of p = dfn x / (dfd + dfn x) times
    dp/dx = q dfn / (dfd + dfn x), q = 1 - p (its plain logarithm is a
    difference of huge terms at a large dfd); 0 at x = inf and where dfn x
    overflows (the limit; p was inf / inf there)."""
    zero = (x == _INF) | (dfn * x == _INF)
    x = _safe(xp, zero, x)
    denom = dfd + dfn * x
    p, q = dfn * x / denom, dfd / denom
    dens = _beta_density(xp, dfn * 0.5, dfd * 0.5, p, q) * q * dfn / denom
    return xp.where(zero, 0.0, dens)


# -- error function and normal distribution ----------------------------------------


class erf(Special):
    """``out = erf(z)``; dz = G * 2 / sqrt(pi) * exp(-z^2)."""

    args = ("z",)

    @staticmethod
    def d_z(xp, s):
        return _TWO_OVER_SQRT_PI * xp.exp(-(s.z * s.z))


class erfc(Special):
    """``out = 1 - erf(x)``; dx = -G * 2 / sqrt(pi) * exp(-x^2)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return -_TWO_OVER_SQRT_PI * xp.exp(-(s.x * s.x))


# (-1)^n (2n - 1)!!, n = 1..9: erfcx's asymptotic series, times 2 x, less 2 / sqrt(pi).
_ERFCX_SERIES = tuple([(-1.0) ** n * math.prod(range(1, 2 * n, 2)) for n in range(1, 10)])


class erfcx(Special):
    """``out = exp(x^2) erfc(x)``; dx = G * (2 x out - 2 / sqrt(pi)), past x = 25 by its
    asymptotic series (2 / sqrt(pi)) sum_n>=1 (-1)^n (2n-1)!! / (2 x^2)^n, where the two
    terms cancel (at 1e8 the difference was 0 for -5.6e-17); 0 at inf."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        large = s.x > 25.0
        xs_, out = _safe(xp, large, s.x, 0.0), _safe(xp, large, s.out)
        plain = 2.0 * xs_ * out - _TWO_OVER_SQRT_PI
        u = 0.5 / (_safe(xp, ~large, s.x, 25.0) ** 2)  # nine terms: the tenth is below 1e-17
        series = _ERFCX_SERIES[-1]
        for c in reversed(_ERFCX_SERIES[:-1]):
            series = series * u + c
        return xp.where(large, _TWO_OVER_SQRT_PI * series * u, plain)


class erfinv(Special):
    """``out = erfinv(y)``; dy = G * sqrt(pi) / 2 * exp(out^2): inf at |y| = 1."""

    args = ("y",)

    @staticmethod
    def d_y(xp, s):
        return (0.5 * _SQRT_PI) * xp.exp(s.out * s.out)


class ndtr(Special):
    """``out = Phi(x)``, the standard normal CDF; dx = G * exp(-x^2 / 2) / sqrt(2 pi)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return _INV_SQRT_2PI * xp.exp(-0.5 * s.x * s.x)


class ndtri(Special):
    """``out = Phi^-1(y)``; dy = G * sqrt(2 pi) * exp(out^2 / 2): inf at 0 and 1."""

    args = ("y",)

    @staticmethod
    def d_y(xp, s):
        return _SQRT_2PI * xp.exp(0.5 * s.out * s.out)


class log_ndtr(Special):
    """``out = log Phi(x)``; dx = G * phi(x) / Phi(x): below 0 as sqrt(2 / pi) / erfcx(-x / sqrt(2))
    (exp(-x^2 / 2 - out) / sqrt(2 pi) cancels there: 1000109 for 1e6 at x = -1e6), inf at
    -inf; above, exp(-x^2 / 2 - out) / sqrt(2 pi)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        neg = s.x < 0
        xn = _safe(xp, ~neg, s.x, 0.0)
        below = math.sqrt(2.0 / math.pi) / _sf(xp, "erfcx")(-xn / math.sqrt(2.0))
        xa_, out = _safe(xp, neg, s.x, 0.0), _safe(xp, neg, s.out, -_LN2)
        return xp.where(neg, below, _INV_SQRT_2PI * xp.exp(-0.5 * xa_ * xa_ - out))


# -- logistic ------------------------------------------------------------------


class expit(Special):
    """``out = 1 / (1 + exp(-x))``; dx = G * out * expit(-x) (= out (1 - out), where
    1 - out rounds to 0 past x = 37 and loses digits before)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return s.out * _sf(xp, "expit")(-s.x)


class logit(Special):
    """``out = log(x / (1 - x))``; dx = G / (x (1 - x)): inf at 0 and 1, nan outside [0, 1] (torch)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        x = s.x
        return xp.where((x < 0) | (x > 1), _NAN, 1.0 / (x * (1.0 - x)))


class log_expit(Special):
    """``out = log(expit(x))``; dx = G * expit(-x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return _sf(xp, "expit")(-s.x)


# -- gamma and related -------------------------------------------------------------


class gammaln(Special):
    """``out = log|gamma(x)|``; dx = G * psi(x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return _sf(xp, "psi")(s.x)


class loggamma(Special):
    """``out = log(gamma(z))`` for real z (nan below 0); dz = G * psi(z), nan below 0."""

    args = ("z",)

    @staticmethod
    def d_z(xp, s):
        return xp.where(s.z < 0, _NAN, _sf(xp, "psi")(s.z))


class gamma(Special):
    """``out = gamma(z)``; dz = G * out * psi(z)."""

    args = ("z",)

    @staticmethod
    def d_z(xp, s):
        return s.out * _sf(xp, "psi")(s.z)


class psi(Special):
    """``out = psi(z)``, the digamma function; dz = G * polygamma(1, z)."""

    args = ("z",)

    @staticmethod
    def d_z(xp, s):
        return _sf(xp, "polygamma")(1, s.z)


class polygamma(Special):
    """``out = polygamma(n, x)``, the n-th derivative of psi; dx = G * polygamma(n + 1, x).
    n: no gradient (an order)."""

    args = ("n", "x")
    nondiff = ("n",)
    integer_args = ("n",)
    ufunc = False

    @staticmethod
    def d_x(xp, s):
        return _sf(xp, "polygamma")(s.n + 1, s.x)


class multigammaln(Special):
    """``out = log Gamma_d(a) = d (d - 1) / 4 log(pi) + sum_j gammaln(a - j / 2)``;
    da = G * sum_{j<d} psi(a - j / 2). ``d`` is a Python int."""

    args = ("a",)
    params = (("d", inspect.Parameter.empty),)
    ufunc = False

    @classmethod
    def _forward(cls, inputs, params):
        (d,) = params
        if isinstance(d, bool) or not isinstance(d, int):
            import operator

            try:
                d = operator.index(d)
            except TypeError:
                raise TypeError(f"multigammaln: d must be a Python int; got {d!r}") from None
        if d < 1:
            raise ValueError(f"multigammaln: d must be a positive int; got {d}")
        out, ctx = super()._forward(inputs, (d,))
        ctx.saved = ctx.saved._replace(meta=ctx.saved.meta + ((d,),))
        return out, ctx

    @staticmethod
    def d_a(xp, s):
        d = s.meta[-1][0]
        psi_ = _sf(xp, "psi")
        total = psi_(s.a)
        for j in range(1, d):
            total = total + psi_(s.a - 0.5 * j)
        return total


class betaln(Special):
    """``out = log|B(a, b)|``; da = G * (psi(a) - psi(a + b)), db = G * (psi(b) - psi(a + b))."""

    args = ("a", "b")

    @staticmethod
    def d_a(xp, s):
        return -_psi_step(xp, s.a, s.b)

    @staticmethod
    def d_b(xp, s):
        return -_psi_step(xp, s.b, s.a)


class gammainc(Special):
    """``out = P(a, x)``, the regularized lower incomplete gamma function;
    dx = G * x^(a-1) exp(-x) / gamma(a). a: no gradient."""

    args = ("a", "x")
    nondiff = ("a",)

    @staticmethod
    def d_x(xp, s):
        return _gamma_density(xp, s.a, s.x)


class gammaincc(Special):
    """``out = Q(a, x) = 1 - P(a, x)``; dx = -G * x^(a-1) exp(-x) / gamma(a). a: no gradient."""

    args = ("a", "x")
    nondiff = ("a",)

    @staticmethod
    def d_x(xp, s):
        return -_gamma_density(xp, s.a, s.x)


class gammaincinv(Special):
    """``out = x`` with ``P(a, x) = y``; dy = G * gamma(a) x^(1-a) exp(x). a: no gradient."""

    args = ("a", "y")
    nondiff = ("a",)

    @staticmethod
    def d_y(xp, s):
        return 1.0 / _gamma_density(xp, s.a, s.out)


class gammainccinv(Special):
    """``out = x`` with ``Q(a, x) = y``; dy = -G * gamma(a) x^(1-a) exp(x). a: no gradient."""

    args = ("a", "y")
    nondiff = ("a",)

    @staticmethod
    def d_y(xp, s):
        return -1.0 / _gamma_density(xp, s.a, s.out)


class betainc(Special):
    """``out = I_x(a, b)``, the regularized incomplete beta function;
    dx = G * x^(a-1) (1 - x)^(b-1) / B(a, b). a, b: no gradient."""

    args = ("a", "b", "x")
    nondiff = ("a", "b")

    @staticmethod
    def d_x(xp, s):
        return _beta_density(xp, s.a, s.b, s.x)


class betaincc(Special):
    """``out = 1 - I_x(a, b)``; dx = -G * x^(a-1) (1 - x)^(b-1) / B(a, b). a, b: no gradient."""

    args = ("a", "b", "x")
    nondiff = ("a", "b")

    @staticmethod
    def d_x(xp, s):
        return -_beta_density(xp, s.a, s.b, s.x)


class betaincinv(Special):
    """``out = x`` with ``I_x(a, b) = y``; dy = G * B(a, b) / (x^(a-1) (1 - x)^(b-1)).
    a, b: no gradient."""

    args = ("a", "b", "y")
    nondiff = ("a", "b")

    @staticmethod
    def d_y(xp, s):
        return 1.0 / _beta_density(xp, s.a, s.b, s.out)


class zeta(Special):
    """``out = zeta(x, q)``, the Hurwitz zeta function (Riemann's when q is None);
    dq = -G * x * zeta(x + 1, q). x: no gradient."""

    args = ("x", "q")
    optional = ("q",)
    nondiff = ("x",)
    ufunc = False

    @classmethod
    def _function_name(cls, inputs) -> str:
        return "zeta_riemann" if inputs[1] is None else "zeta"

    @staticmethod
    def d_q(xp, s):
        return -s.x * _sf(xp, "zeta")(s.x + 1.0, s.q)


# -- Bessel functions ------------------------------------------------------------


class i0(Special):
    """``out = I0(x)``; dx = G * I1(x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return _sf(xp, "i1")(s.x)


class i0e(Special):
    """``out = exp(-|x|) I0(x)``; dx = G * (i1e(x) - sign(x) out)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return _sf(xp, "i1e")(s.x) - xp.sign(s.x) * s.out


def _over_x(xp, out, x):
    """``out / x`` with 0 where x == 0 (where out is 0 too), safe to differentiate again."""
    zero = x == 0
    return xp.where(zero, 0.0, out / _safe(xp, zero, x))


class i1(Special):
    """``out = I1(x)``; dx = G * (I0(x) - out / x), G / 2 at 0 (torch)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return xp.where(s.x == 0, 0.5, _sf(xp, "i0")(s.x) - _over_x(xp, s.out, s.x))


class i1e(Special):
    """``out = exp(-|x|) I1(x)``; dx = G * (i0e(x) - out (sign(x) + 1 / x)), G / 2 at 0 (torch)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        d = _sf(xp, "i0e")(s.x) - xp.sign(s.x) * s.out - _over_x(xp, s.out, s.x)
        return xp.where(s.x == 0, 0.5, d)


class j0(Special):
    """``out = J0(x)``; dx = -G * J1(x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return -_sf(xp, "j1")(s.x)


class j1(Special):
    """``out = J1(x)``; dx = G * (J0(x) - out / x), G / 2 at 0."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return xp.where(s.x == 0, 0.5, _sf(xp, "j0")(s.x) - _over_x(xp, s.out, s.x))


class y0(Special):
    """``out = Y0(x)``; dx = -G * Y1(x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return -_sf(xp, "y1")(s.x)


class y1(Special):
    """``out = Y1(x)``; dx = G * (Y0(x) - out / x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return _sf(xp, "y0")(s.x) - s.out / s.x


class k0(Special):
    """``out = K0(x)``; dx = -G * K1(x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return -_sf(xp, "k1")(s.x)


class k0e(Special):
    """``out = exp(x) K0(x)``; dx = G * (out - k1e(x))."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return s.out - _sf(xp, "k1e")(s.x)


class k1(Special):
    """``out = K1(x)``; dx = -G * (K0(x) + out / x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return -(_sf(xp, "k0")(s.x) + s.out / s.x)


class k1e(Special):
    """``out = exp(x) K1(x)``; dx = G * (out (1 - 1 / x) - k0e(x))."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return s.out - s.out / s.x - _sf(xp, "k0e")(s.x)


# -- information theory ------------------------------------------------------------


class entr(Special):
    """``out = -x log(x)`` (0 at 0, -inf below); dx = -G * (log(x) + 1): inf at 0, nan below (torch)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return -(xp.log(s.x) + 1.0)


def _outside(xp, x, y):
    """Where rel_entr and kl_div are inf by definition, or nan: no derivative."""
    return (x < 0) | (y < 0) | ((y == 0) & (x > 0)) | xp.isnan(x) | xp.isnan(y)


class rel_entr(Special):
    """``out = x log(x / y)`` (0 at x = 0 <= y, inf outside); dx = G * (log(x / y) + 1),
    dy = -G * x / y: dx is -inf at x = 0 (as entr's), both nan where out is inf or at (0, 0)."""

    args = ("x", "y")

    @staticmethod
    def d_x(xp, s):
        return xp.where(_outside(xp, s.x, s.y), _NAN, xp.log(s.x) - xp.log(s.y) + 1.0)

    @staticmethod
    def d_y(xp, s):
        return xp.where(_outside(xp, s.x, s.y), _NAN, -s.x / s.y)


class kl_div(Special):
    """``out = x log(x / y) - x + y`` (y at x = 0 <= y, inf outside); dx = G * log(x / y),
    dy = G * (1 - x / y): dx is -inf at x = 0, both nan where out is inf or at (0, 0)."""

    args = ("x", "y")

    @staticmethod
    def d_x(xp, s):
        return xp.where(_outside(xp, s.x, s.y), _NAN, xp.log(s.x) - xp.log(s.y))

    @staticmethod
    def d_y(xp, s):
        return xp.where(_outside(xp, s.x, s.y), _NAN, 1.0 - s.x / s.y)


class xlogy(Special):
    """``out = x log(y)``, 0 where x == 0; dx = G * log(y), 0 where x == 0 and y <= 0;
    dy = G * x / y (torch)."""

    args = ("x", "y")

    @staticmethod
    def d_x(xp, s):
        return xp.where((s.x == 0) & (s.y <= 0), 0.0, xp.log(s.y))

    @staticmethod
    def d_y(xp, s):
        return s.x / s.y


class xlog1py(Special):
    """``out = x log(1 + y)``, 0 where x == 0; dx = G * log1p(y), 0 where x == 0 and y <= -1;
    dy = G * x / (1 + y) (torch)."""

    args = ("x", "y")

    @staticmethod
    def d_x(xp, s):
        return xp.where((s.x == 0) & (s.y <= -1), 0.0, xp.log1p(s.y))

    @staticmethod
    def d_y(xp, s):
        return s.x / (s.y + 1.0)


# -- elementary functions, accurately ------------------------------------------------


class cbrt(Special):
    """``out = x^(1/3)`` (real, for negative x too); dx = G / (3 out^2): inf at 0."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return 1.0 / (3.0 * s.out * s.out)


class exp2(Special):
    """``out = 2^x``; dx = G * out * log(2)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return s.out * _LN2


class exp10(Special):
    """``out = 10^x``; dx = G * out * log(10)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return s.out * _LN10


class cosm1(Special):
    """``out = cos(x) - 1``, accurate near 0; dx = -G * sin(x)."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return -xp.sin(s.x)


_PI2 = math.pi * math.pi


class sinc(Special):
    """``out = sin(pi x) / (pi x)``, 1 at 0; dx = G * (cos(pi x) - out) / x, by its series
    near 0 (0 at 0, as torch)."""

    args = ("x",)
    ufunc = False

    @staticmethod
    def d_x(xp, s):
        # Near 0 the quotient cancels: its series there, which also
        # differentiates to the right -pi^2/3 at 0.
        x = s.x
        near = xp.abs(x) < 1e-2
        xs = _safe(xp, near, x)
        quotient = (xp.cos(math.pi * xs) - xp.sin(math.pi * xs) / (math.pi * xs)) / xs
        x2 = x * x
        series = x * (-_PI2 / 3 + x2 * (_PI2 * _PI2 / 30 - x2 * (_PI2 * _PI2 * _PI2 / 840)))
        return xp.where(near, series, quotient)


class exprel(Special):
    """``out = (exp(x) - 1) / x``, 1 at 0; dx = G * (x exp(x) - expm1(x)) / x^2, by its series near 0."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return _exprel_prime(xp, s.x)


class expi(Special):
    """``out = Ei(x)``, the exponential integral; dx = G * exp(x) / x."""

    args = ("x",)

    @staticmethod
    def d_x(xp, s):
        return xp.exp(s.x) / s.x


class exp1(Special):
    """``out = E1(z)``, the exponential integral; dz = -G * exp(-z) / z."""

    args = ("z",)

    @staticmethod
    def d_z(xp, s):
        return -xp.exp(-s.z) / s.z


class expn(Special):
    """``out = E_n(x)``, the generalized exponential integral; dx = -G * E_(n-1)(x), and
    -G * exp(-x) (x + 1) / x^2 for n = 0. n: no gradient (an order)."""

    args = ("n", "x")
    nondiff = ("n",)
    integer_args = ("n",)

    @staticmethod
    def d_x(xp, s):
        first = s.n == 0
        below = _sf(xp, "expn")(xp.where(first, 1, s.n - 1), s.x)
        return xp.where(first, -xp.exp(-s.x) * (s.x + 1.0) / (s.x * s.x), -below)


class rgamma(Special):
    """``out = 1 / gamma(z)``; dz = -G * out * psi(z), and G * (-1)^k k! at z = -k, the poles
    of gamma: there, the derivative of the reflection formula 1/gamma(z) = sin(pi z)
    gamma(1 - z) / pi, gamma(1 - z) (cos(pi z) - sin(pi z) psi(1 - z) / pi), whose own
    derivatives are rgamma's to any order."""

    args = ("z",)

    @staticmethod
    def d_z(xp, s):
        z = s.z
        pole = _gamma_poles(xp, z)
        zs = _safe(xp, pole, z, 0.5)
        at_pole = _rgamma_slope_at_pole(xp, xp.where(pole, z, 0.0))
        top = z == _INF  # 1 / gamma decays faster than psi grows: 0 (0 * inf as written)
        zs = _safe(xp, top, zs)
        return xp.where(pole, at_pole, xp.where(top, 0.0, -s.out * _sf(xp, "psi")(zs)))


def _rgamma_slope_at_pole(xp, z):
    """rgamma's derivative at z = -k, a pole of gamma: (-1)^k k!, written as the derivative of
    the reflection formula 1/gamma(z) = sin(pi z) gamma(1 - z) / pi, gamma(1 - z) (cos(pi z) -
    sin(pi z) psi(1 - z) / pi), so that its own derivatives are rgamma's to any order."""
    k = xp.round(z)  # sin and cos of pi (z - k), exact at the pole, times (-1)^k
    pd = math.pi * (z - k)
    sign = 1.0 - 2.0 * xp.remainder(k, 2.0)
    return sign * _sf(xp, "gamma")(1.0 - z) * (
        xp.cos(pd) - xp.sin(pd) * _sf(xp, "psi")(1.0 - z) / math.pi)


class poch(Special):
    """``out = gamma(z + m) / gamma(z)``, the Pochhammer symbol; dz = G * out * (psi(z + m) - psi(z)),
    dm = G * out * psi(z + m). At z = -k, a pole of gamma: dz = G * gamma(z + m) (-1)^k k!
    (rgamma's slope there; written as the product rule of gamma(z + m) rgamma(z) for higher
    derivatives), and G * out * (psi(1 - z - m) - psi(1 - z)) where z + m is a pole
    too (the reflection formula; out is then the product z (z + 1) ... (z + m - 1))."""

    args = ("z", "m")

    @staticmethod
    def d_z(xp, s):
        z, w = s.z, s.z + s.m
        pole = _gamma_poles(xp, z)
        both = pole & _gamma_poles(xp, w)
        only = pole & ~both
        psi = _sf(xp, "psi")
        # gamma(w) rgamma(z)'s product rule: its first term is 0 at the pole, not its derivative
        zo, wo = _safe(xp, ~only, z, 0.0), _safe(xp, ~only, w, 0.5)
        at_pole = _sf(xp, "gamma")(wo) * (
            psi(wo) * _sf(xp, "rgamma")(zo) + _rgamma_slope_at_pole(xp, zo))
        zb, wb = _safe(xp, ~both, z, 0.5), _safe(xp, ~both, w, 0.5)
        at_both = s.out * (psi(1.0 - wb) - psi(1.0 - zb))
        regular = s.out * _psi_step(xp, _safe(xp, pole, z, 0.5), _safe(xp, pole, s.m, 0.5))
        return xp.where(only, at_pole, xp.where(both, at_both, regular))

    @staticmethod
    def d_m(xp, s):
        return s.out * _sf(xp, "psi")(s.z + s.m)


class spence(Special):
    """``out = integral from 1 to z of log(t) / (1 - t) dt``; dz = G * log(z) / (1 - z), by
    its series near 1 (-G at 1)."""

    args = ("z",)

    @staticmethod
    def d_z(xp, s):
        # log(z) / (1 - z) near 1, u = z - 1: -(1 - u/2 + u^2/3 - u^3/4 + u^4/5),
        # whose own derivative at 1 is right too
        u = s.z - 1.0
        near = xp.abs(u) < 1e-2
        zs = _safe(xp, near, s.z, 2.0)
        series = -(1.0 + u * (-0.5 + u * (1.0 / 3 + u * (-0.25 + u * 0.2))))
        return xp.where(near, series, xp.log(zs) / (1.0 - zs))


class yn(Special):
    """``out = Y_n(x)``, the Bessel function of the second kind of integer order n;
    dx = G * (Y_(n-1)(x) - Y_(n+1)(x)) / 2. n: no gradient (an order)."""

    args = ("n", "x")
    nondiff = ("n",)
    integer_args = ("n",)

    @staticmethod
    def d_x(xp, s):
        f = _sf(xp, "yn")
        return 0.5 * (f(s.n - 1, s.x) - f(s.n + 1, s.x))


class hyp1f1(Special):
    """``out = 1F1(a; b; x)``; dx = G * a / b * 1F1(a + 1; b + 1; x). a, b: no gradient."""

    args = ("a", "b", "x")
    nondiff = ("a", "b")

    @staticmethod
    def d_x(xp, s):
        return s.a / s.b * _sf(xp, "hyp1f1")(s.a + 1.0, s.b + 1.0, s.x)


# -- losses and transforms ---------------------------------------------------------------


class huber(Special):
    """``out = r^2 / 2`` where |r| <= delta, else ``delta (|r| - delta / 2)`` (inf for delta < 0);
    dr = G * r, or G * delta * sign(r); ddelta = 0, or G * (|r| - delta); nan for delta < 0."""

    args = ("delta", "r")

    @staticmethod
    def d_delta(xp, s):
        a = xp.abs(s.r)
        d = xp.where(a <= s.delta, 0.0 * a, a - s.delta)
        return xp.where(s.delta < 0, _NAN, d)

    @staticmethod
    def d_r(xp, s):
        d = xp.where(xp.abs(s.r) <= s.delta, s.r, s.delta * xp.sign(s.r))
        return xp.where(s.delta < 0, _NAN, d)


def _pseudo_huber_parts(xp, delta, r):
    both = (delta == 0) & (r == 0)
    h = _safe(xp, both, xp.hypot(delta, r))
    return h, xp.where(delta < 0, _NAN, 0.0 * h)


class pseudo_huber(Special):
    """``out = delta^2 (sqrt(1 + (r / delta)^2) - 1)`` (inf for delta < 0); with
    h = hypot(delta, r): dr = G * delta r / h, ddelta = G * (h - delta)^2 / h
    (|r| at delta = 0, 0 at (0, 0)); nan for delta < 0."""

    args = ("delta", "r")

    @staticmethod
    def d_delta(xp, s):
        h, nan = _pseudo_huber_parts(xp, s.delta, s.r)
        diff = s.r * s.r / (h + s.delta)  # h - delta, without the cancellation
        return diff * diff / h + nan

    @staticmethod
    def d_r(xp, s):
        h, nan = _pseudo_huber_parts(xp, s.delta, s.r)
        return s.delta * s.r / h + nan


def _boxcox_d_lmbda(xp, lg, lmbda):
    """d/dlmbda (exp(lmbda lg) - 1) / lmbda = lg^2 exprel'(lmbda lg); 1 / lmbda^2 where
    lmbda lg is -inf (lg infinite; the value is -1 / lmbda; the product was inf * 0)."""
    limit = (lmbda * lg) == -_INF
    ls, lgs = _safe(xp, ~limit, lmbda), _safe(xp, limit, lg)
    return xp.where(limit, 1.0 / (ls * ls), lgs * lgs * _exprel_prime(xp, lmbda * lgs))


class boxcox(Special):
    """``out = (x^lmbda - 1) / lmbda`` (log(x) at lmbda = 0); dx = G * x^(lmbda - 1);
    dlmbda = G * log(x)^2 * exprel'(lmbda log(x)) (log(x)^2 / 2 at lmbda = 0)."""

    args = ("x", "lmbda")

    @staticmethod
    def d_x(xp, s):
        return xp.exp(_sf(xp, "xlogy")(s.lmbda - 1.0, s.x))

    @staticmethod
    def d_lmbda(xp, s):
        return _boxcox_d_lmbda(xp, xp.log(s.x), s.lmbda)


class boxcox1p(Special):
    """``out = ((1 + x)^lmbda - 1) / lmbda`` (log1p(x) at lmbda = 0); dx = G * (1 + x)^(lmbda - 1);
    dlmbda = G * log1p(x)^2 * exprel'(lmbda log1p(x))."""

    args = ("x", "lmbda")

    @staticmethod
    def d_x(xp, s):
        return xp.exp(_sf(xp, "xlog1py")(s.lmbda - 1.0, s.x))

    @staticmethod
    def d_lmbda(xp, s):
        return _boxcox_d_lmbda(xp, xp.log1p(s.x), s.lmbda)


# -- distribution functions --------------------------------------------------------------


class chdtr(Special):
    """``out = P(v / 2, x / 2)``, the chi-square CDF; dx = G * chi2pdf(x; v). v: no gradient."""

    args = ("v", "x")
    nondiff = ("v",)

    @staticmethod
    def d_x(xp, s):
        return 0.5 * _gamma_density(xp, 0.5 * s.v, 0.5 * s.x)


class chdtrc(Special):
    """``out = Q(v / 2, x / 2)``, the chi-square survival function; dx = -G * chi2pdf(x; v).
    v: no gradient."""

    args = ("v", "x")
    nondiff = ("v",)

    @staticmethod
    def d_x(xp, s):
        return -0.5 * _gamma_density(xp, 0.5 * s.v, 0.5 * s.x)


class chdtri(Special):
    """``out = x`` with ``chdtrc(v, x) = p``; dp = -G / chi2pdf(out; v). v: no gradient."""

    args = ("v", "p")
    nondiff = ("v",)

    @staticmethod
    def d_p(xp, s):
        return -2.0 / _gamma_density(xp, 0.5 * s.v, 0.5 * s.out)


class stdtr(Special):
    """``out`` = Student's t CDF with df degrees of freedom at t; dt = G * tpdf(t; df).
    df: no gradient."""

    args = ("df", "t")
    nondiff = ("df",)

    @staticmethod
    def d_t(xp, s):
        return _t_density(xp, s.df, s.t)


class stdtrit(Special):
    """``out = t`` with ``stdtr(df, t) = p``; dp = G / tpdf(out; df). df: no gradient."""

    args = ("df", "p")
    nondiff = ("df",)

    @staticmethod
    def d_p(xp, s):
        return 1.0 / _t_density(xp, s.df, s.out)


class gdtr(Special):
    """``out = P(b, a x)``, the gamma CDF of rate a and shape b; dx = G * a * dens, da = G * x * dens
    with dens = (a x)^(b-1) exp(-a x) / gamma(b). b: no gradient."""

    args = ("a", "b", "x")
    nondiff = ("b",)

    @staticmethod
    def d_a(xp, s):
        return s.x * _gamma_density(xp, s.b, s.a * s.x)

    @staticmethod
    def d_x(xp, s):
        return s.a * _gamma_density(xp, s.b, s.a * s.x)


class gdtrc(Special):
    """``out = Q(b, a x)``, the gamma survival function; dx = -G * a * dens, da = -G * x * dens
    (see gdtr). b: no gradient."""

    args = ("a", "b", "x")
    nondiff = ("b",)

    @staticmethod
    def d_a(xp, s):
        return -s.x * _gamma_density(xp, s.b, s.a * s.x)

    @staticmethod
    def d_x(xp, s):
        return -s.a * _gamma_density(xp, s.b, s.a * s.x)


class fdtr(Special):
    """``out`` = the F distribution's CDF at x; dx = G * fpdf(x; dfn, dfd). dfn, dfd: no gradient."""

    args = ("dfn", "dfd", "x")
    nondiff = ("dfn", "dfd")

    @staticmethod
    def d_x(xp, s):
        return _f_density(xp, s.dfn, s.dfd, s.x)


class fdtrc(Special):
    """``out`` = the F distribution's survival function at x; dx = -G * fpdf(x; dfn, dfd).
    dfn, dfd: no gradient."""

    args = ("dfn", "dfd", "x")
    nondiff = ("dfn", "dfd")

    @staticmethod
    def d_x(xp, s):
        return -_f_density(xp, s.dfn, s.dfd, s.x)


class fdtri(Special):
    """``out = x`` with ``fdtr(dfn, dfd, x) = p``; dp = G / fpdf(out; dfn, dfd).
    dfn, dfd: no gradient."""

    args = ("dfn", "dfd", "p")
    nondiff = ("dfn", "dfd")

    @staticmethod
    def d_p(xp, s):
        return 1.0 / _f_density(xp, s.dfn, s.dfd, s.out)


class pdtr(Special):
    """``out = Q(floor(k) + 1, m)``, the Poisson CDF; dm = -G * m^K exp(-m) / K! with K = floor(k)
    k: no gradient (a count)."""

    args = ("k", "m")
    nondiff = ("k",)
    integer_args = ("k",)

    @staticmethod
    def d_m(xp, s):
        K = _kfloat(xp, s.k, s.m)
        return -_gamma_density(xp, K + 1.0, s.m)


class pdtrc(Special):
    """``out = P(floor(k) + 1, m)``, the Poisson survival function; dm = G * m^K exp(-m) / K!
    k: no gradient (a count)."""

    args = ("k", "m")
    nondiff = ("k",)
    integer_args = ("k",)

    @staticmethod
    def d_m(xp, s):
        K = _kfloat(xp, s.k, s.m)
        return _gamma_density(xp, K + 1.0, s.m)


def _kfloat(xp, k, like):
    """floor(k) in ``like``'s floating dtype."""
    k = k if k.dtype == like.dtype else xp.astype(k, like.dtype)
    return xp.floor(k)


def _binomial_density(xp, s):
    """-d/dp bdtr(k, n, p) = p^K (1 - p)^(n-K-1) / B(K + 1, n - K) for 0 <= K < n;
    0 at K >= n (bdtr is 1), nan where bdtr is nan."""
    K, n = _kfloat(xp, s.k, s.p), _kfloat(xp, s.n, s.p)
    top = K >= n
    nk = _safe(xp, top, n - K)
    d = _beta_density(xp, K + 1.0, nk, s.p)
    return xp.where(top, 0.0 * d, d)


class bdtr(Special):
    """``out`` = the binomial CDF, P(X <= k) for n trials of probability p;
    dp = -G * p^K (1-p)^(n-K-1) / B(K + 1, n - K), K = floor(k), 0 where K >= n.
    k, n: no gradient (counts)."""

    args = ("k", "n", "p")
    nondiff = ("k", "n")
    integer_args = ("k", "n")

    @staticmethod
    def d_p(xp, s):
        return -_binomial_density(xp, s)


class bdtrc(Special):
    """``out`` = the binomial survival function, P(X > k); dp = G * p^K (1-p)^(n-K-1) / B(K + 1, n - K)
    (see bdtr). k, n: no gradient (counts)."""

    args = ("k", "n", "p")
    nondiff = ("k", "n")
    integer_args = ("k", "n")

    @staticmethod
    def d_p(xp, s):
        return _binomial_density(xp, s)


def _negative_binomial_density(xp, s):
    """d/dp nbdtr(k, n, p) = p^(n-1) (1 - p)^K / B(n, K + 1)."""
    K, n = _kfloat(xp, s.k, s.p), _kfloat(xp, s.n, s.p)
    return _beta_density(xp, n, K + 1.0, s.p)


class nbdtr(Special):
    """``out = I_p(n, floor(k) + 1)``, the negative binomial CDF; dp = G * p^(n-1) (1-p)^K / B(n, K + 1).
    k, n: no gradient (counts)."""

    args = ("k", "n", "p")
    nondiff = ("k", "n")
    integer_args = ("k", "n")

    @staticmethod
    def d_p(xp, s):
        return _negative_binomial_density(xp, s)


class nbdtrc(Special):
    """``out = 1 - nbdtr(k, n, p)``; dp = -G * p^(n-1) (1-p)^K / B(n, K + 1). k, n: no gradient (counts)."""

    args = ("k", "n", "p")
    nondiff = ("k", "n")
    integer_args = ("k", "n")

    @staticmethod
    def d_p(xp, s):
        return -_negative_binomial_density(xp, s)

