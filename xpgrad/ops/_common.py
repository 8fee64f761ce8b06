"""Pieces every rule uses: the saved context, GEMM with half-precision
upcasting, and casting a gradient back to its input's dtype."""

from __future__ import annotations

from .._backend import dtype_info


class Ctx:
    """What a forward saves for its backward.

    Attributes
    ----------
    xp : namespace
        The inputs' namespace, so the backward does not look it up again.
    scope : context manager
        Makes the inputs' device current (CuPy); a no-op elsewhere.
    saved : tuple
        Rule-specific arrays and facts.
    needs_input_grad : tuple of bool
        One per differentiable input. A forward sets it from the dtypes
        (integer inputs get no gradient); a caller such as the Tensor may
        switch entries off, and the backward then skips that work.
    """

    __slots__ = ("xp", "scope", "saved", "needs_input_grad")

    def __init__(self, xp, scope, saved, needs_input_grad):
        self.xp = xp
        self.scope = scope
        self.saved = saved
        self.needs_input_grad = needs_input_grad

    def __repr__(self) -> str:
        return f"Ctx(xp={self.xp.__name__}, needs_input_grad={self.needs_input_grad})"


_DTYPE_PAIRS: dict = {}


def dtype_pair(xp, da, db):
    """``(plain, upcast, needs_input_grad)`` for two operand dtypes, cached.

    plain: same dtype, real, and no half-precision upcast, so ``a @ b`` needs
    no help (torch's ``@`` does not promote mixed dtypes; ``gemm`` does).
    """
    key = (id(xp), da, db)
    hit = _DTYPE_PAIRS.get(key)
    if hit is None:
        ia, ib = dtype_info(xp, da), dtype_info(xp, db)
        upcast = ia.gemm is not None or ib.gemm is not None
        plain = da == db and not (upcast or ia.complex or ib.complex)
        hit = _DTYPE_PAIRS[key] = (plain, upcast, (ia.inexact, ib.inexact))
    return hit


def differentiable(xp, x) -> bool:
    """True when ``x`` is an array of real or complex floating dtype."""
    return hasattr(x, "dtype") and dtype_info(xp, x.dtype).inexact


def mT(xp, x):
    """Swap the last two axes (a view). ``.T`` is the cheap standard spelling for 2-D."""
    return x.T if x.ndim == 2 else xp.matrix_transpose(x)


def conj_if_complex(xp, x):
    return xp.conj(x) if dtype_info(xp, x.dtype).complex else x


def gemm(xp, p, q):
    """``p @ q``, computing half precision in float32 where the namespace has no
    half GEMM (NumPy). The result may then be float32: callers cast once, at
    the end, so the rounding to half happens only once."""
    up = dtype_info(xp, p.dtype).gemm
    if up is not None:
        p = xp.astype(p, up)
    up = dtype_info(xp, q.dtype).gemm
    if up is not None:
        q = xp.astype(q, up)
    if p.dtype != q.dtype:  # torch's @ does not promote (float32 @ float64 raises)
        dt = xp.result_type(p.dtype, q.dtype)
        p = p if p.dtype == dt else xp.astype(p, dt)
        q = q if q.dtype == dt else xp.astype(q, dt)
    return p @ q


def cast(xp, g, dtype):
    """``g`` in ``dtype``; the real part when a complex result meets a real input."""
    if g.dtype == dtype:
        return g
    if dtype_info(xp, g.dtype).complex and not dtype_info(xp, dtype).complex:
        g = xp.real(g)
    return xp.astype(g, dtype)
