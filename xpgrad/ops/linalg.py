"""matmul and linear: the GEMM rules.

Broadcast batch dimensions are never materialized and then summed: when an
operand was broadcast along some batch axes, those axes are folded into the
contraction of a single (batched) GEMM, so the product that a naive gradient
would sum away is never formed. For ``a`` (B, m, k) @ ``w`` (k, n), the
weight gradient is one (k, B*m) @ (B*m, n) GEMM on views of the inputs.
"""

from __future__ import annotations

import functools
import math

from .._backend import dtype_info, resolve
from .._shapes import _broadcast, fmt
from ._common import (
    BACKEND_ERRORS,
    Ctx,
    backend_error,
    cast,
    check_grad,
    conj_if_complex,
    declare,
    dtype_pair,
    gemm,
    mT,
)

__all__ = ["matmul", "linear"]


def _identity(perm) -> bool:
    return all(i == p for i, p in enumerate(perm))


class _GradPlan:
    """How to compute one operand's gradient as ``sum_R p @ q``.

    ``kind`` is "fold" (the other operand is a plain matrix: fold all batch
    axes into the GEMM's rows), "batched" (nothing to sum: one batched GEMM),
    or "reduce" (fold the summed batch axes R into the contraction).
    """

    __slots__ = ("kind", "perm_g", "shape_g", "perm_o", "pad_o", "shape_o", "flat_o")

    def __init__(self, kind, perm_g=None, shape_g=None, perm_o=None, pad_o=None, shape_o=None):
        self.kind = kind
        # The other operand is one matrix repeated over every kept batch axis:
        # the kept axes can then be folded into the GEMM's rows too.
        self.flat_o = shape_o is not None and all(d == 1 for d in shape_o[:-2])
        self.perm_g = None if perm_g is None or _identity(perm_g) else perm_g
        self.shape_g = shape_g
        self.perm_o = None if perm_o is None or _identity(perm_o) else perm_o
        self.pad_o = pad_o
        self.shape_o = shape_o


class _MatmulPlan:
    __slots__ = (
        "out_shape", "g_shape", "a_shape", "b_shape", "a2", "b2", "fold_fwd", "two_d", "ga", "gb"
    )


@functools.lru_cache(maxsize=2048)
def _plan(sa: tuple, sb: tuple) -> _MatmulPlan:
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(
            f"matmul: operands must have at least 1 dimension; got shapes {fmt(sa)} and {fmt(sb)}"
        )
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    if a2[-1] != b2[-2]:
        dim_b = -2 if len(sb) > 1 else 0
        raise ValueError(
            f"matmul: shapes {fmt(sa)} and {fmt(sb)} are not aligned: "
            f"{a2[-1]} (dim -1) != {b2[-2]} (dim {dim_b})"
        )
    ba, bb = a2[:-2], b2[:-2]
    bo = _broadcast(ba, bb)
    if bo is None:
        raise ValueError(
            f"matmul: batch dimensions of shapes {fmt(sa)} and {fmt(sb)} do not broadcast: "
            f"{fmt(ba)} and {fmt(bb)}"
        )
    m, k, n = a2[-2], a2[-1], b2[-1]
    p = _MatmulPlan()
    p.a_shape, p.b_shape = sa, sb
    p.a2, p.b2 = a2, b2
    p.g_shape = bo + (m, n)
    p.out_shape = bo + ((m,) if len(sa) > 1 else ()) + ((n,) if len(sb) > 1 else ())
    p.fold_fwd = len(sa) > 2 and len(sb) <= 2
    p.two_d = len(sa) == 2 == len(sb)
    L = len(bo)
    pa = (1,) * (L - len(ba)) + ba
    pb = (1,) * (L - len(bb)) + bb
    # grad_a = sum over R_a of g @ b^H; contraction index n is the last axis of both.
    if L == 0 or not bb:
        p.ga = _GradPlan("fold")
    else:
        p.ga = _reduce_plan(bo, pa, pb, m, k, n, contract_last=True)
    # grad_b = sum over R_b of a^H @ g; contraction index m is axis -2 of both.
    if L == 0:
        p.gb = _GradPlan("fold")
    else:
        p.gb = _reduce_plan(bo, pb, pa, k, n, m, contract_last=False)
    return p


def _reduce_plan(bo, mine, other, rows, cols, c, contract_last):
    """Plan for the gradient of the operand with padded batch shape ``mine``.

    R: batch axes along which this operand was broadcast (it has 1, the
    output does not). They are moved next to the contraction axis and merged
    into it, so one GEMM per kept batch index does the sum.
    """
    L = len(bo)
    R = [i for i in range(L) if mine[i] == 1 and bo[i] != 1]
    if not R:
        return _GradPlan("batched")
    K = [i for i in range(L) if i not in R]
    r = math.prod(bo[i] for i in R)
    if contract_last:
        # g (bo, rows, c) -> (K, rows, R, c); other (pb, cols, c) -> (K, cols, R, c)
        perm_g = K + [L] + R + [L + 1]
        shape_g = tuple(bo[i] for i in K) + (rows, r * c)
        perm_o = K + [L] + R + [L + 1]
        shape_o = tuple(other[i] for i in K) + (cols, r * c)
    else:
        # other (pa, c, rows) -> (K, R, c, rows); g (bo, c, cols) -> (K, R, c, cols)
        perm_g = K + R + [L, L + 1]
        shape_g = tuple(bo[i] for i in K) + (r * c, cols)
        perm_o = K + R + [L, L + 1]
        shape_o = tuple(other[i] for i in K) + (r * c, rows)
    pad_o = tuple(other) + ((cols, c) if contract_last else (c, rows))
    return _GradPlan("reduce", tuple(perm_g), shape_g, tuple(perm_o), pad_o, shape_o)


def _permute_reshape(xp, x, perm, shape):
    if perm is not None:
        x = xp.permute_dims(x, perm)
    return xp.reshape(x, shape)


def _reject_scalar(a, b):
    """A Python scalar operand: numpy.matmul rejects it as 0-d, and so do we."""
    sa = fmt(a.shape) if hasattr(a, "shape") else f"a {type(a).__name__}"
    sb = fmt(b.shape) if hasattr(b, "shape") else f"a {type(b).__name__}"
    raise ValueError(f"matmul: operands must be arrays with at least 1 dimension; got {sa} and {sb}")


def _fold_rows(xp, x, w):
    """``x (..., k) @ w (k, n)`` as one GEMM over the folded leading rows."""
    lead = tuple(x.shape[:-1])
    rows = math.prod(lead)
    out = gemm(xp, xp.reshape(x, (rows, x.shape[-1])), w)
    return xp.reshape(out, lead + tuple(out.shape[1:]))


class matmul:
    """``out = a @ b`` with the full ``numpy.matmul`` contract.

    dA = G @ B^H; dB = A^H @ G, each summed over the batch axes its operand
    was broadcast along (1-D operands are promoted to (1, k) and (k, 1) and the
    added axis is dropped again).
    """

    @staticmethod
    def forward(a, b):
        """Compute ``a @ b``.

        Parameters
        ----------
        a, b : arrays
            At least 1-D; inner dimensions equal; batch dimensions broadcast.

        Returns
        -------
        out : array
            ``numpy.matmul(a, b)``'s shape, in the namespace's promoted dtype.
        ctx : Ctx
            Pass it to :meth:`backward`.

        Raises
        ------
        ValueError
            For 0-d operands, misaligned inner dimensions, or batch dimensions
            that do not broadcast, naming both shapes; before any work is done.

        Examples
        --------
        >>> import numpy as np
        >>> out, ctx = matmul.forward(np.ones((2, 3)), np.ones(3))
        >>> out
        array([3., 3.])
        """
        xp, scope = resolve("matmul", a, b)
        try:
            plan = _plan(tuple(a.shape), tuple(b.shape))
        except AttributeError:  # resolve() let a Python scalar through: matmul's ValueError
            _reject_scalar(a, b)
        plain, upcast, needs = dtype_pair(xp, a.dtype, b.dtype)
        try:
            with scope:
                if plan.fold_fwd:
                    out = _fold_rows(xp, a, b)
                else:
                    out = a @ b if plain else gemm(xp, a, b)
                if upcast:
                    out = xp.astype(out, xp.result_type(a.dtype, b.dtype))
        except BACKEND_ERRORS as exc:
            raise backend_error("matmul", exc) from exc
        # Two real matrices: the dispatch-bound hot path, flagged once here.
        fast = plain and plan.two_d
        return out, Ctx("matmul", xp, scope, (a, b, plan, fast), needs, plan.out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        """Gradients ``(grad_a, grad_b)``, each with its input's shape and dtype
        (``None`` for an integer input or one switched off in
        ``ctx.needs_input_grad``)."""
        check_grad("matmul", grad_out, ctx)
        xp = ctx.xp
        a, b, plan, fast = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        g = grad_out
        ga = gb = None
        with ctx.scope:
            if fast and g.dtype == a.dtype:
                if need_a:
                    ga = g @ b.T
                    if ga.dtype != a.dtype:
                        ga = cast(xp, ga, a.dtype)
                if need_b:
                    gb = a.T @ g
                    if gb.dtype != b.dtype:
                        gb = cast(xp, gb, b.dtype)
                return ga, gb
            g1 = g if tuple(g.shape) == plan.g_shape else xp.reshape(g, plan.g_shape)
            up = dtype_info(xp, g1.dtype).gemm
            if up is not None and need_a and need_b:  # convert once for both GEMMs
                g1 = xp.astype(g1, up)
            if need_a:
                b1 = conj_if_complex(xp, b if b.ndim > 1 else xp.reshape(b, plan.b2))
                ga = _grad_a(xp, plan.ga, g1, b1)
                ga = cast(xp, xp.reshape(ga, plan.a_shape), a.dtype)
            if need_b:
                a1 = conj_if_complex(xp, a if a.ndim > 1 else xp.reshape(a, plan.a2))
                gb = _grad_b(xp, plan.gb, g1, a1)
                gb = cast(xp, xp.reshape(gb, plan.b_shape), b.dtype)
        return ga, gb


def _grad_a(xp, gp: _GradPlan, g1, b1):
    if gp.kind == "fold":
        return _fold_rows(xp, g1, mT(xp, b1))
    if gp.kind == "batched":
        return gemm(xp, g1, mT(xp, b1))
    gf = _permute_reshape(xp, g1, gp.perm_g, gp.shape_g)
    bf = _permute_reshape(xp, xp.reshape(b1, gp.pad_o), gp.perm_o, gp.shape_o)
    if gp.flat_o and bf.ndim > 2:
        return _fold_rows(xp, gf, mT(xp, xp.reshape(bf, gp.shape_o[-2:])))
    return gemm(xp, gf, mT(xp, bf))


def _grad_b(xp, gp: _GradPlan, g1, a1):
    if gp.kind != "reduce":  # matrices, or batches with nothing to sum
        return gemm(xp, mT(xp, a1), g1)
    gf = _permute_reshape(xp, g1, gp.perm_g, gp.shape_g)
    af = _permute_reshape(xp, xp.reshape(a1, gp.pad_o), gp.perm_o, gp.shape_o)
    return gemm(xp, mT(xp, af), gf)


class linear:
    """``y = x @ w.T + b`` with ``w`` of shape (out_features, in_features).

    dx = G @ W; dW = G^T @ X; db = sum of G over every leading axis, with the
    leading axes of x and G folded into the rows of one GEMM.
    """

    @staticmethod
    def forward(x, w, b=None):
        """Compute ``x @ w.T + b`` as in ``torch.nn.functional.linear``.

        Parameters
        ----------
        x : array of shape (in,) or (*, in)
        w : array of shape (out, in)
        b : array of shape (out,), optional

        Returns
        -------
        y : array of shape (out,) or (*, out)
        ctx : Ctx

        Raises
        ------
        ValueError
            If the shapes do not fit, naming them.

        Examples
        --------
        >>> import numpy as np
        >>> y, ctx = linear.forward(np.ones((5, 3)), np.ones((2, 3)), np.zeros(2))
        >>> y.shape
        (5, 2)
        """
        xp, scope = resolve("linear", x, w, b)
        b_shape = None if b is None else tuple(b.shape)
        lead, rows = _linear_plan(tuple(x.shape), tuple(w.shape), b_shape)
        plain, upcast, (nx, nw) = dtype_pair(xp, x.dtype, w.dtype)
        try:
            with scope:
                x2 = x if x.ndim == 2 else xp.reshape(x, (rows, x.shape[-1]))
                y = x2 @ w.T if plain else gemm(xp, x2, w.T)
                if b is not None:
                    y = y + b
                if x.ndim != 2:
                    y = xp.reshape(y, lead + (w.shape[0],))
                if upcast:
                    extra = () if b is None else (b.dtype,)
                    y = xp.astype(y, xp.result_type(x.dtype, w.dtype, *extra))
        except BACKEND_ERRORS as exc:
            raise backend_error("linear", exc) from exc
        needs = (nx, nw, b is not None and dtype_info(xp, b.dtype).inexact)
        out_shape = lead + (w.shape[0],)
        return y, Ctx("linear", xp, scope, (x2, w, b, tuple(x.shape), rows, plain), needs, out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        """Gradients ``(grad_x, grad_w, grad_b)``; ``grad_b`` is None without a bias."""
        check_grad("linear", grad_out, ctx)
        xp = ctx.xp
        x2, w, b, x_shape, rows, plain = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        g = grad_out
        gx = gw = gb = None
        with ctx.scope:
            g2 = g if g.ndim == 2 else xp.reshape(g, (rows, w.shape[0]))
            if need_b:
                accum = dtype_info(xp, g2.dtype).accum
                gb = xp.sum(g2, axis=0, dtype=accum)
                gb = cast(xp, gb, b.dtype)
            if plain and g2.dtype == x2.dtype:
                gx = g2 @ w if need_x else None
                gw = g2.T @ x2 if need_w else None
            else:
                up = dtype_info(xp, g2.dtype).gemm
                if up is not None:  # convert the upstream gradient once, not per GEMM
                    g2 = xp.astype(g2, up)
                gx = gemm(xp, g2, conj_if_complex(xp, w)) if need_x else None
                gw = gemm(xp, g2.T, conj_if_complex(xp, x2)) if need_w else None
            if gx is not None:
                if len(x_shape) != 2:
                    gx = xp.reshape(gx, x_shape)
                if gx.dtype != x2.dtype:
                    gx = cast(xp, gx, x2.dtype)
            if gw is not None and gw.dtype != w.dtype:
                gw = cast(xp, gw, w.dtype)
        return gx, gw, gb


@functools.lru_cache(maxsize=1024)
def _linear_plan(x_shape: tuple, w_shape: tuple, b_shape: tuple | None):
    """Validate linear's shapes; return x's leading shape and their product."""
    if len(w_shape) != 2 or len(x_shape) < 1 or x_shape[-1] != w_shape[1]:
        raise ValueError(
            f"linear: x of shape {fmt(x_shape)} and w of shape {fmt(w_shape)} do not fit: "
            f"w must be (out_features, in_features) with in_features == x.shape[-1]"
        )
    if b_shape is not None and (len(b_shape) != 1 or b_shape[0] != w_shape[0]):
        raise ValueError(
            f"linear: b of shape {fmt(b_shape)} does not fit w of shape {fmt(w_shape)}: "
            f"expected ({w_shape[0]},)"
        )
    lead = x_shape[:-1]
    return lead, math.prod(lead)


declare("matmul", ("a", "b"), scalars=("a", "b"))  # a scalar is 0-d: matmul's ValueError
declare("linear", ("x", "w", "b"), optional=("b",))
