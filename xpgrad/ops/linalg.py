"""matmul and linear: the GEMM rules.

Broadcast batch dimensions are never materialized and then summed where a
view can avoid it: when the other operand is one matrix, the batch axes are
folded into the rows (or the contraction) of a single GEMM, so for ``a``
(B, m, k) @ ``w`` (k, n) the weight gradient is one (k, B*m) @ (B*m, n) GEMM
on views of the inputs.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

from .._backend import dtype_info, resolve
from .._shapes import _broadcast, fmt, sum_to
from ._common import (
    BACKEND_ERRORS,
    NO_SCOPE,
    Ctx,
    Rule,
    backend_error,
    cast,
    check_grad,
    conj_if_complex,
    dtype_pair,
    gemm,
    mT,
    to_input,
)

__all__ = ["matmul", "linear"]


class MatmulPlan(NamedTuple):
    """Shapes and dtypes of one matmul, checked once and cached."""

    out_shape: tuple  # numpy.matmul's result shape
    g_shape: tuple  # out_shape with the axes of 1-D operands put back: (*batch, m, n)
    a2: tuple  # a's shape as a matrix (a 1-D a is (1, k))
    b2: tuple  # b's shape as a matrix (a 1-D b is (k, 1))
    a_matrix: bool  # a is one matrix: no batch axis longer than 1
    b_matrix: bool
    rows: int  # batch size times m: the rows of G with its batch axes folded in
    fast: bool  # two real matrices of one dtype: the dispatch-bound hot path
    upcast: bool  # a half-precision operand is computed in float32
    needs: tuple  # which operands are floating (get gradients)


@functools.lru_cache(maxsize=2048)
def _plan(xp, sa: tuple, sb: tuple, da, db) -> MatmulPlan:
    """Check the shapes (every error names both) and plan the GEMMs."""
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(
            f"matmul: operands must have at least 1 dimension; got shapes {fmt(sa)} and {fmt(sb)}"
        )
    sa, sb = tuple(sa), tuple(sb)
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    if a2[-1] != b2[-2]:
        dim_b = -2 if len(sb) > 1 else 0
        raise ValueError(
            f"matmul: shapes {fmt(sa)} and {fmt(sb)} are not aligned: "
            f"{a2[-1]} (dim -1) != {b2[-2]} (dim {dim_b})"
        )
    bo = _broadcast(a2[:-2], b2[:-2])
    if bo is None:
        raise ValueError(
            f"matmul: batch dimensions of shapes {fmt(sa)} and {fmt(sb)} do not broadcast: "
            f"{fmt(a2[:-2])} and {fmt(b2[:-2])}"
        )
    m, n = a2[-2], b2[-1]
    pair = dtype_pair(xp, da, db)
    return MatmulPlan(
        out_shape=bo + ((m,) if len(sa) > 1 else ()) + ((n,) if len(sb) > 1 else ()),
        g_shape=bo + (m, n),
        a2=a2,
        b2=b2,
        a_matrix=math.prod(a2[:-2]) == 1,
        b_matrix=math.prod(b2[:-2]) == 1,
        rows=math.prod(bo) * m,
        fast=pair.direct and len(sa) == 2 == len(sb),
        upcast=pair.upcast,
        needs=pair.needs,
    )


def _reject_scalar(a, b):
    """A Python scalar operand: numpy.matmul rejects it as 0-d, and so do we."""
    sa = fmt(a.shape) if hasattr(a, "shape") else f"a {type(a).__name__}"
    sb = fmt(b.shape) if hasattr(b, "shape") else f"a {type(b).__name__}"
    raise ValueError(f"matmul: operands must be arrays with at least 1 dimension; got {sa} and {sb}")


def _fold_rows(xp, x, w, rows):
    """``x (..., k) @ w (k, n)`` as one (rows, k) @ (k, n) GEMM: the leading
    axes of x are folded into the rows (a view of a contiguous x)."""
    out = gemm(xp, xp.reshape(x, (rows, x.shape[-1])), w)
    return xp.reshape(out, tuple(x.shape[:-1]) + (w.shape[-1],))


class MatmulSaved(NamedTuple):
    a: object
    b: object
    plan: MatmulPlan


class matmul(Rule):
    """``out = a @ b`` with the full ``numpy.matmul`` contract.

    dA = sum_to(G @ B^H, A's shape); dB = sum_to(A^H @ G, B's shape), with 1-D
    operands promoted to (1, k) and (k, 1) and the added axis dropped again.
    """

    args = ("a", "b")
    scalars = ("a", "b")  # a scalar is 0-d: matmul's own ValueError

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
            p = _plan(xp, a.shape, b.shape, a.dtype, b.dtype)
        except AttributeError:  # resolve() let a Python scalar through: matmul's ValueError
            _reject_scalar(a, b)
        try:
            if p.fast and scope is NO_SCOPE:
                out = a @ b
            else:
                with scope:
                    if a.ndim > 2 and b.ndim == 2:
                        out = _fold_rows(xp, a, b, p.rows)  # one GEMM, not a batch of small ones
                    else:
                        out = gemm(xp, a, b)
                    if p.upcast:
                        out = xp.astype(out, xp.result_type(a.dtype, b.dtype))
        except BACKEND_ERRORS as exc:
            raise backend_error("matmul", exc) from exc
        return out, Ctx("matmul", xp, scope, MatmulSaved(a, b, p), p.needs, p.out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        """Gradients ``(grad_a, grad_b)``, each with its input's shape and dtype
        (``None`` for an integer input or one switched off in
        ``ctx.needs_input_grad``)."""
        check_grad("matmul", grad_out, ctx)
        a, b, p = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        g = grad_out
        if p.fast and g.dtype == a.dtype and ctx.scope is NO_SCOPE:  # two real matrices
            return (g @ b.T if need_a else None), (a.T @ g if need_b else None)
        xp = ctx.xp
        with ctx.scope:
            if tuple(g.shape) != p.g_shape:
                g = xp.reshape(g, p.g_shape)
            up = dtype_info(xp, g.dtype).gemm
            if up is not None and need_a and need_b:  # convert once for both GEMMs
                g = xp.astype(g, up)
            a2 = conj_if_complex(xp, xp.reshape(a, p.a2) if a.ndim == 1 else a)
            b2 = conj_if_complex(xp, xp.reshape(b, p.b2) if b.ndim == 1 else b)
            ga = cast(xp, xp.reshape(_grad_a(xp, g, b2, p), a.shape), a.dtype) if need_a else None
            gb = cast(xp, xp.reshape(_grad_b(xp, g, a2, p), b.shape), b.dtype) if need_b else None
        return ga, gb


def _grad_a(xp, g, b2, p):
    """dA = G @ B^H, summed over the batch axes A was broadcast along."""
    if p.b_matrix:  # B is one matrix: fold every batch axis of G into the rows (views)
        return _fold_rows(xp, g, mT(xp, xp.reshape(b2, b2.shape[-2:])), p.rows)
    # B is batched: a batched GEMM, then sum over A's broadcast axes. (No view
    # folds them: G's m axis sits between its batch axes and n.)
    return sum_to(gemm(xp, g, mT(xp, b2)), p.a2, xp=xp)


def _grad_b(xp, g, a2, p):
    """dB = A^H @ G, summed over the batch axes B was broadcast along."""
    if p.b_matrix:  # B is one matrix: fold A's and G's batch axes into the contraction (views)
        k, n = p.b2[-2], p.b2[-1]
        return gemm(xp, mT(xp, xp.reshape(a2, (p.rows, k))), xp.reshape(g, (p.rows, n)))
    # B is batched: a batched GEMM (A broadcast, not copied), then sum over B's broadcast axes
    return sum_to(gemm(xp, mT(xp, a2), g), p.b2, xp=xp)


class LinearSaved(NamedTuple):
    x2: object  # x with its leading axes folded into rows: (rows, in)
    w: object
    b: object
    x_shape: tuple
    rows: int
    direct: bool  # x and w: one real dtype, no upcast


class linear(Rule):
    """``y = x @ w.T + b`` with ``w`` of shape (out_features, in_features).

    dx = G @ W; dW = G^T @ X; db = sum of G over every leading axis, with the
    leading axes of x and G folded into the rows of one GEMM.
    """

    args = ("x", "w", "b")
    optional = ("b",)

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
        direct, upcast, (nx, nw) = dtype_pair(xp, x.dtype, w.dtype)
        try:
            with scope:
                x2 = x if x.ndim == 2 else xp.reshape(x, (rows, x.shape[-1]))
                y = x2 @ w.T if direct else gemm(xp, x2, w.T)
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
        saved = LinearSaved(x2, w, b, tuple(x.shape), rows, direct)
        return y, Ctx("linear", xp, scope, saved, needs, out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        """Gradients ``(grad_x, grad_w, grad_b)``; ``grad_b`` is None without a bias."""
        check_grad("linear", grad_out, ctx)
        xp = ctx.xp
        x2, w, b, x_shape, rows, direct = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        g = grad_out
        gx = gw = gb = None
        with ctx.scope:
            g2 = g if g.ndim == 2 else xp.reshape(g, (rows, w.shape[0]))
            if need_b:  # db = G summed over its folded rows
                gb = to_input(xp, g2, tuple(b.shape), b.dtype)
            if direct and g2.dtype == x2.dtype:
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

