"""matmul and linear (the GEMM rules), and the contractions, norms and
decompositions of the Array API: vecdot, tensordot, vector_norm, trace, det,
inv, solve, slogdet, cholesky, eigh, svdvals, svd, qr, pinv.

Broadcast batch dimensions are never materialized and then summed where a
view can avoid it: when the other operand is one matrix, the batch axes are
folded into the rows (or the contraction) of a single GEMM, so for ``a``
(B, m, k) @ ``w`` (k, n) the weight gradient is one (k, B*m) @ (B*m, n) GEMM
on views of the inputs.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import NamedTuple

from .._backend import adapter_of, dtype_info, is_lazy, resolve
from .._shapes import _broadcast, broadcast_shapes, fmt, sum_to
from ._common import (
    BACKEND_ERRORS,
    NO_SCOPE,
    Ctx,
    Rule,
    any_known,
    backend_error,
    cast,
    check_grad,
    conj_if_complex,
    differentiable,
    dtype_pair,
    gemm,
    mT,
    run,
    to_input,
)

__all__ = [
    "matmul", "linear", "vecdot", "tensordot", "vector_norm", "trace", "det", "inv", "solve",
    "diagonal", "cross", "slogdet", "cholesky", "eigvalsh", "eigh", "svdvals", "svd", "qr", "pinv",
]

# Builds a NamedTuple from a tuple in C, without its class's Python-level
# __new__: the saved state of the GEMM rules, as in the element-wise forwards.
_new_tuple = tuple.__new__


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


def _matmul(xp, a, b, p):
    """``a @ b`` off the fast path: half precision computed in float32 and
    cast back, and a batch times one matrix as one GEMM."""
    if a.ndim > 2 and b.ndim == 2:
        out = _fold_rows(xp, a, b, p.rows)  # one GEMM, not a batch of small ones
    else:
        out = gemm(xp, a, b)
    return xp.astype(out, xp.result_type(a.dtype, b.dtype)) if p.upcast else out


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
        saved = _new_tuple(MatmulSaved, (a, b, p))
        if p.fast and scope is NO_SCOPE:  # two real matrices of one dtype: the library's own @
            # run() and record() written out, as the element-wise forwards do: 2x2
            # float64 takes 2.3 us, 2.6 us through them, 2.5 us before the harness.
            try:
                out = a @ b
            except BACKEND_ERRORS as exc:
                raise backend_error("matmul", exc)
            return out, Ctx("matmul", xp, scope, saved, p.needs, p.out_shape, out.dtype)
        out = run("matmul", scope, _matmul, xp, a, b, p)
        return matmul.record(xp, scope, saved, p.needs, out)

    @staticmethod
    def backward(grad_out, ctx):
        """Gradients ``(grad_a, grad_b)``, each with its input's shape and dtype
        (``None`` for an integer input or one switched off in
        ``ctx.needs_input_grad``)."""
        # Rule.backward with the fast path of two real matrices ahead of it: 2x2
        # float64 takes 3.0 us, 3.2 us through Rule.backward (best of 75, thread time).
        grad_out = check_grad("matmul", grad_out, ctx)
        a, b, p = ctx.saved
        if p.fast and grad_out.dtype == a.dtype and ctx.scope is NO_SCOPE:
            need_a, need_b = ctx.needs_input_grad
            return (grad_out @ b.T if need_a else None), (a.T @ grad_out if need_b else None)
        if ctx.scope is NO_SCOPE:
            return matmul.gradients(ctx.xp, grad_out, ctx.saved, ctx.needs_input_grad)
        with ctx.scope:
            return matmul.gradients(ctx.xp, grad_out, ctx.saved, ctx.needs_input_grad)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, b, p = s
        need_a, need_b = needs
        if tuple(g.shape) != p.g_shape:
            g = xp.reshape(g, p.g_shape)
        up = dtype_info(xp, g.dtype).gemm
        if up is not None and need_a and need_b:  # convert once for both GEMMs
            g = xp.astype(g, up)
        ga = gb = None
        if need_a:
            b2 = conj_if_complex(xp, xp.reshape(b, p.b2) if b.ndim == 1 else b)
            ga = cast(xp, xp.reshape(_grad_a(xp, g, b2, p), a.shape), a.dtype)
        if need_b:
            a2 = conj_if_complex(xp, xp.reshape(a, p.a2) if a.ndim == 1 else a)
            gb = cast(xp, xp.reshape(_grad_b(xp, g, a2, p), b.shape), b.dtype)
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
        a2, g = xp.reshape(a2, (p.rows, k)), xp.reshape(g, (p.rows, n))
        if n < k and not adapter_of(xp).transpose_is_view:
            # (G^H A)^H: transpose the thin G and the small result, not all of A
            # (cubed writes a transpose out: 200 against 33 MB per task for a
            # logistic loss over 40 MB chunks, bench/outofcore.py)
            return mT(xp, gemm(xp, mT(xp, g), a2))
        return gemm(xp, mT(xp, a2), g)
    # B is batched: a batched GEMM (A broadcast, not copied), then sum over B's broadcast axes
    return sum_to(gemm(xp, mT(xp, a2), g), p.b2, xp=xp)


class LinearSaved(NamedTuple):
    x2: object  # x with its leading axes folded into rows: (rows, in)
    w: object
    b: object
    x_shape: tuple
    rows: int
    direct: bool  # x and w: one real dtype, no upcast


def _linear(xp, x, w, b, rows, direct, upcast):
    """``(x2, y)``: x with its leading axes folded into the rows of one GEMM, and y."""
    x2 = x if x.ndim == 2 else xp.reshape(x, (rows, x.shape[-1]))
    y = x2 @ w.T if direct else gemm(xp, x2, w.T)
    if b is not None:
        y = y + b
    if x.ndim != 2:
        y = xp.reshape(y, tuple(x.shape[:-1]) + (w.shape[0],))
    if upcast:
        extra = () if b is None else (b.dtype,)
        y = xp.astype(y, xp.result_type(x.dtype, w.dtype, *extra))
    return x2, y


class linear(Rule):
    """``y = x @ w.T + b`` with ``w`` of shape (out_features, in_features).

    dx = G @ W; dW = G^T @ X; db = sum of G over every leading axis, with the
    leading axes of x and G folded into the rows of one GEMM.
    """

    args = ("x", "w", "b")
    optional = ("b",)
    saved_inputs = {"w": 1, "b": 2}  # x is saved as x2, joined by graph_saved

    @staticmethod
    def graph_saved(s, join):
        # x2 is x with its leading axes folded: a reshape of input 0
        shape = s.x_shape
        return s._replace(x2=join.linear(s.x2, 0, lambda xp, g: xp.reshape(g, shape)))

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
        rows = _linear_plan(tuple(x.shape), tuple(w.shape), b_shape)
        direct, upcast, (nx, nw) = dtype_pair(xp, x.dtype, w.dtype)
        x2, y = run("linear", scope, _linear, xp, x, w, b, rows, direct, upcast)
        needs = (nx, nw, b is not None and dtype_info(xp, b.dtype).inexact)
        saved = _new_tuple(LinearSaved, (x2, w, b, tuple(x.shape), rows, direct))
        return linear.record(xp, scope, saved, needs, y)

    @staticmethod
    def gradients(xp, g, s, needs):
        """``(grad_x, grad_w, grad_b)``; ``grad_b`` is None without a bias."""
        x2, w, b, x_shape, rows, direct = s
        need_x, need_w, need_b = needs
        g2 = g if g.ndim == 2 else xp.reshape(g, (rows, w.shape[0]))
        gb = to_input(xp, g2, tuple(b.shape), b.dtype) if need_b else None  # G summed over its rows
        if direct and g2.dtype == x2.dtype:
            gx = g2 @ w if need_x else None
            gw = g2.T @ x2 if need_w else None
        else:
            up = dtype_info(xp, g2.dtype).gemm
            if up is not None:  # convert the upstream gradient once, not per GEMM
                g2 = xp.astype(g2, up)
            gx = cast(xp, gemm(xp, g2, conj_if_complex(xp, w)), x2.dtype) if need_x else None
            gw = cast(xp, gemm(xp, g2.T, conj_if_complex(xp, x2)), w.dtype) if need_w else None
        if gx is not None and len(x_shape) != 2:
            gx = xp.reshape(gx, x_shape)
        return gx, gw, gb


@functools.lru_cache(maxsize=1024)
def _linear_plan(x_shape: tuple, w_shape: tuple, b_shape: tuple | None) -> int:
    """Validate linear's shapes; return the product of x's leading axes."""
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
    return math.prod(x_shape[:-1])



# -- contractions ----------------------------------------------------------


class Pair(NamedTuple):
    """What vecdot and tensordot save: both inputs and the rule's plan."""

    a: object
    b: object
    plan: object


class vecdot(Rule):
    """``out = sum(conj(a) * b, axis)``; da = conj(G) * b, db = G * a, with G
    expanded along ``axis`` and each summed to its input's shape (torch's
    convention for complex inputs)."""

    args = ("a", "b")

    @staticmethod
    def forward(a, b, axis=-1):
        """Dot products of the vectors along ``axis`` (a negative int), the
        other axes broadcast."""
        xp, scope = resolve("vecdot", a, b)
        sa, sb = tuple(a.shape), tuple(b.shape)
        n = min(len(sa), len(sb))
        if type(axis) is not int:
            raise TypeError(f"vecdot: axis must be a negative int such as -1; got {axis!r}")
        if n == 0:
            raise ValueError(
                f"vecdot: x1 and x2 must have at least one axis (of vectors); got shapes "
                f"{fmt(sa)} and {fmt(sb)}: multiply 0-D arrays instead"
            )
        if not -n <= axis <= -1:
            raise ValueError(
                f"vecdot: axis {axis} is not in [-{n}, -1] for shapes {fmt(sa)} and {fmt(sb)}; "
                f"count the axis from the end"
            )
        if sa[axis] != sb[axis]:
            raise ValueError(
                f"vecdot: shapes {fmt(sa)} and {fmt(sb)} differ along axis {axis}: "
                f"{sa[axis]} != {sb[axis]}"
            )
        broadcast_shapes(sa, sb, op="vecdot")
        out = run("vecdot", scope, lambda: xp.vecdot(*_promoted(xp, a, b), axis=axis))
        needs = (differentiable(xp, a), differentiable(xp, b))
        return vecdot.record(xp, scope, Pair(a, b, axis), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, b, axis = s
        g = xp.expand_dims(g, axis=axis)
        ga = to_input(xp, conj_if_complex(xp, g) * b, tuple(a.shape), a.dtype) if needs[0] else None
        gb = to_input(xp, g * a, tuple(b.shape), b.dtype) if needs[1] else None
        return ga, gb


def _as(xp, x, dtype):
    """``x`` in ``dtype`` (a contraction's operand beside the gradient)."""
    return x if x.dtype == dtype else xp.astype(x, dtype)


def _promoted(xp, a, b) -> tuple:
    """``a`` and ``b`` in their result dtype: the standard promotes mixed dtypes
    in vecdot, tensordot and cross, where torch's (float16 with float32) refuse."""
    if a.dtype == b.dtype:
        return a, b
    dtype = xp.result_type(a, b)
    return _as(xp, a, dtype), _as(xp, b, dtype)


class TensordotPlan(NamedTuple):
    a_axes: tuple  # contracted axes of a, paired in order with b_axes
    b_axes: tuple
    free_a: tuple  # the other axes, in order: out's leading axes come from a, then b
    free_b: tuple
    perm_a: tuple | None  # puts the axes of tensordot(G, b) back in a's order (None: already)
    perm_b: tuple | None
    out_shape: tuple


def _axes_list(axes, nd, which, shape):
    out = []
    for ax in axes:
        if type(ax) is bool or not isinstance(ax, int):
            raise TypeError(f"tensordot: axes for {which} must be ints; got {ax!r}")
        if not -nd <= ax < nd:
            raise ValueError(f"tensordot: axis {ax} is out of range for {which} of shape {fmt(shape)}")
        out.append(ax % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"tensordot: axes {tuple(axes)!r} for {which} repeat an axis")
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _tensordot_plan(sa: tuple, sb: tuple, axes) -> TensordotPlan:
    na, nb = len(sa), len(sb)
    if type(axes) is int:
        if not 0 <= axes <= min(na, nb):
            raise ValueError(
                f"tensordot: axes={axes} must be in [0, {min(na, nb)}] for shapes {fmt(sa)} and {fmt(sb)}"
            )
        a_axes, b_axes = tuple(range(na - axes, na)), tuple(range(axes))
    else:
        first, second = axes
        if len(first) != len(second):
            raise ValueError(
                f"tensordot: axes {axes!r} pair {len(first)} axes of x1 with {len(second)} of x2; "
                f"give two sequences of the same length"
            )
        a_axes, b_axes = _axes_list(first, na, "x1", sa), _axes_list(second, nb, "x2", sb)
    for i, j in zip(a_axes, b_axes):
        if sa[i] != sb[j]:
            raise ValueError(
                f"tensordot: shapes {fmt(sa)} and {fmt(sb)} do not match along the contracted "
                f"axes: {sa[i]} (x1 axis {i}) != {sb[j]} (x2 axis {j})"
            )
    free_a = tuple(i for i in range(na) if i not in a_axes)
    free_b = tuple(j for j in range(nb) if j not in b_axes)
    # tensordot(G, b) has a's free axes, then a's contracted axes in the order
    # their partners sit in b; tensordot(a, G) b's contracted axes in a's order.
    order_a = free_a + tuple(a_axes[b_axes.index(j)] for j in sorted(b_axes))
    order_b = tuple(b_axes[a_axes.index(i)] for i in sorted(a_axes)) + free_b
    perm_a = tuple(order_a.index(i) for i in range(na))
    perm_b = tuple(order_b.index(j) for j in range(nb))
    return TensordotPlan(
        a_axes, b_axes, free_a, free_b,
        None if perm_a == tuple(range(na)) else perm_a,
        None if perm_b == tuple(range(nb)) else perm_b,
        tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b),
    )


class tensordot(Rule):
    """``out = tensordot(a, b, axes)``; da = tensordot(G, conj(b)) over b's free
    axes, db = tensordot(conj(a), G) over a's free axes, each permuted back to
    its input's axis order (no temporaries beyond the two contractions)."""

    args = ("a", "b")

    @staticmethod
    def forward(a, b, axes=2):
        """Contract the last ``axes`` axes of a with the first of b, or the
        axes paired in ``axes = (a_axes, b_axes)`` (negative allowed)."""
        xp, scope = resolve("tensordot", a, b)
        if type(axes) is not int:
            try:
                first, second = axes
                axes = (tuple(first), tuple(second))
            except (TypeError, ValueError):
                raise TypeError(
                    f"tensordot: axes must be an int or a pair of sequences of ints; got {axes!r}"
                ) from None
        p = _tensordot_plan(tuple(a.shape), tuple(b.shape), axes)
        out = run("tensordot", scope,
                  lambda: xp.tensordot(*_promoted(xp, a, b), axes=(p.a_axes, p.b_axes)))
        needs = (differentiable(xp, a), differentiable(xp, b))
        return tensordot.record(xp, scope, Pair(a, b, p), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, b, p = s
        nfa = len(p.free_a)
        ga = gb = None
        if needs[0]:
            bg = _as(xp, conj_if_complex(xp, b), g.dtype)
            ga = xp.tensordot(g, bg, axes=(tuple(range(nfa, g.ndim)), p.free_b))
            ga = cast(xp, ga if p.perm_a is None else xp.permute_dims(ga, p.perm_a), a.dtype)
        if needs[1]:
            ag = _as(xp, conj_if_complex(xp, a), g.dtype)
            gb = xp.tensordot(ag, g, axes=(p.free_a, tuple(range(nfa))))
            gb = cast(xp, gb if p.perm_b is None else xp.permute_dims(gb, p.perm_b), b.dtype)
        return ga, gb


# -- norms -------------------------------------------------------------------


class Normed(NamedTuple):
    x: object
    out: object
    axes: object  # None for all
    kept: tuple  # out's shape with the reduced axes kept as 1
    ord: float


def _kept(xp, a, kept):
    return a if tuple(a.shape) == kept else xp.reshape(a, kept)


def _sgn(xp, x, ax):
    """x / |x| (0 at 0); ``ax`` is |x|."""
    if dtype_info(xp, x.dtype).complex:
        return x / xp.where(ax == 0, 1.0, ax)
    return xp.sign(x)


def _vector_norm(xp, x, axes, keepdims, ord, accum):  # noqa: A002 - the standard's name
    """Half precision in ``accum`` (float32), as its sums: NumPy's float16
    sum of squares overflows where the norm does not."""
    norm = linalg_function("vector_norm", xp)
    if accum is None:
        return norm(x, axis=axes, keepdims=keepdims, ord=ord)
    return xp.astype(norm(xp.astype(x, accum), axis=axes, keepdims=keepdims, ord=ord), x.dtype)


class vector_norm(Rule):
    """``out = (sum |x|^p)^(1/p)`` over ``axis`` (max |x| for p = inf, min for -inf).

    dx = x G / out for p = 2; sgn(x) G for p = 1; sgn(x) G / t at the t
    elements with |x| = out for +-inf (ties share it, as torch); 0 for p = 0;
    sgn(x) |x|^(p-1) G / out^(p-1) otherwise. Where out == 0, and for p < 1 at
    x == 0, the gradient is 0, as torch.linalg.vector_norm's.
    """

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False, ord=2):  # noqa: A002 - the standard's name
        """The ``ord``-norm of x over ``axis``; x must be floating point."""
        from .reduction import _as_bool, _reduce

        if type(keepdims) is not bool:
            keepdims = _as_bool("vector_norm", keepdims)
        if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
            raise TypeError(
                f"vector_norm: ord must be a real number (1, 2, inf, -inf, 0 or any p); got {ord!r}"
            )
        xp, scope, _, (axes, kept, _, count), info = _reduce("vector_norm", x, axis, keepdims)
        if not info.inexact:
            raise TypeError(
                f"vector_norm: x has dtype {x.dtype}; vector_norm needs a floating-point array, "
                f"cast it first"
            )
        if count == 0 and math.isinf(ord):
            raise ValueError(
                f"vector_norm: x of shape {fmt(x.shape)} has no elements along axis {axis!r}, and "
                f"ord={ord} takes a maximum or minimum of nothing; reduce over non-empty axes"
            )
        out = run("vector_norm", scope, _vector_norm, xp, x, axes, keepdims, ord, info.accum)
        return vector_norm.record(xp, scope, Normed(x, out, axes, kept, float(ord)), (True,), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        x, out, axes, kept, p = s
        out, g = _kept(xp, out, kept), _kept(xp, g, kept)
        if p == 2:
            dx = x * xp.where(out == 0, 0.0, g / xp.where(out == 0, 1.0, out))
        elif p == 0:
            dx = xp.zeros_like(x)
        else:
            ax = xp.abs(x)
            if p == 1:
                dx = _sgn(xp, x, ax) * g
            elif math.isinf(p):
                hit = xp.astype(ax == out, dtype_info(xp, ax.dtype).accum or ax.dtype)  # float32
                ties = xp.sum(hit, axis=axes, keepdims=True)  # for half: 65505 ties are inf
                dx = _sgn(xp, x, ax) * hit * (g / xp.where(ties == 0, 1.0, ties))
            else:
                zero = (ax == 0) | (out == 0)
                scale = g / xp.where(out == 0, 1.0, out) ** (p - 1)
                dx = xp.where(zero, 0.0, _sgn(xp, x, ax) * xp.where(ax == 0, 1.0, ax) ** (p - 1) * scale)
        return (cast(xp, dx, x.dtype),)


# -- matrix functions ----------------------------------------------------------


class Matrix(NamedTuple):
    x: object
    out: object
    offset: int


def _maybe(xp, mask) -> bool:
    """True unless no element of ``mask`` is known to be: a lazy mask (dask,
    cubed) is not read, nor a traced one (``jax.jit``, ``jax.vmap``), and may
    be, so the branch for it is kept (dask's linalg raises at compute time
    on a singular matrix, where JAX's gives inf; a traced det took
    d * inv(x)^T, NaN at a singular x)."""
    return any_known(xp, mask) is not False


def _any(xp, mask) -> bool:
    """True when any element of the boolean ``mask`` is; False for a value that
    cannot be read while it is traced (``jax.jit``), or without computing a
    lazy graph (dask): the checks and the branches that need it are then
    skipped."""
    return bool(any_known(xp, mask))


def _undefined(xp, bad, message: str, axes: tuple = (-2, -1)):
    """A backward's check at a degenerate input: ``ValueError(message)`` where
    an element of ``bad`` is True. Where its values cannot be read (``jax.jit``,
    ``jax.vmap``, dask, cubed), the mask (..., 1, 1) of the matrices whose
    gradient is undefined, ``bad`` reduced over ``axes``, for the caller to make
    NaN there (:func:`_nan_where`) rather than return numbers that mean nothing;
    None where no matrix is."""
    known = any_known(xp, bad)
    if known:
        raise ValueError(message)
    if known is False:
        return None
    mask = xp.any(bad, axis=axes, keepdims=True)
    return mask if len(axes) == 2 else xp.expand_dims(mask, axis=-1)


def _either(a, b):
    """The union of two masks of :func:`_undefined` (None: none)."""
    return b if a is None else a if b is None else a | b


def _nan_where(xp, mask, g):
    """``g`` (..., M, N) with NaN in the matrices ``mask`` marks (None: as it is)."""
    return g if mask is None else xp.where(mask, math.nan, g)


def _dev(a):
    """``a``'s device, for new arrays beside it; None where arrays have no
    ``device`` attribute (dask's)."""
    return getattr(a, "device", None)


def _matrix_axes(xp, a):
    """``a`` (...) as (..., 1, 1), to scale or select whole matrices."""
    return xp.expand_dims(xp.expand_dims(a, axis=-1), axis=-1)


def _cofactor_svd(xp, x, rounded_to_zero=False):
    """The cofactor matrix adj(x)^T of square x from its SVD x = U S Vh:
    det(U) det(Vh) conj(U diag(p) Vh), p_i the product of the singular values
    other than s_i (exact when some are 0). Array API code, so that it is
    differentiable again (through the svd rule) on Tensors.

    ``rounded_to_zero``: singular values at rounding level (n eps s_max) count
    as 0, so that below rank n - 1 the cofactors are exactly 0 and not
    rounding's noise (for their signs; no derivative goes through this)."""
    u, sv, vh = xp.linalg.svd(x)
    n = sv.shape[-1]
    if rounded_to_zero:
        tol = n * float(xp.finfo(sv.dtype).eps) * xp.max(sv, axis=-1, keepdims=True)
        sv = xp.where(sv <= tol, 0.0, sv)
    others = xp.eye(n, dtype=sv.dtype, device=_dev(sv)) == 1
    p = xp.prod(xp.where(others, 1.0, xp.expand_dims(sv, axis=-2)), axis=-1)
    c = xp.linalg.det(u) * xp.linalg.det(vh)  # +-1 (real) or a unit complex number
    # adj(x) = det(x) inv(x) = c Vh^H diag(p) U^H, so adj(x)^T = c conj(U diag(p) Vh)
    inner = (u * xp.expand_dims(p, axis=-2)) @ vh
    return _matrix_axes(xp, c) * conj_if_complex(xp, inner)


def _cofactor_minors(xp, x):
    """The cofactor matrix of square x (k, n, n) as (-1)^(i+j) det of each
    minor: a polynomial in x whatever its rank, where the SVD's form is not
    (a zero singular value is |.| of a smooth function of x), so a recorded
    backward differentiates it to any order. Row by row: n determinants of
    n (n - 1)^2 elements at a time. A singular minor recurses here, to 1 x 1
    at the most."""
    n = x.shape[-1]
    if n == 1:
        return xp.ones_like(x)
    k, dev = x.shape[0], _dev(x)
    columns = xp.asarray([c for j in range(n) for c in range(n) if c != j], device=dev)
    rows = []
    for i in range(n):
        keep = xp.take(x, xp.asarray([r for r in range(n) if r != i], device=dev), axis=-2)
        minors = xp.reshape(xp.take(keep, columns, axis=-1), (k, n - 1, n, n - 1))
        sign = xp.asarray([(-1.0) ** (i + j) for j in range(n)], dtype=x.dtype, device=dev)
        rows.append(xp.linalg.det(xp.permute_dims(minors, (0, 2, 1, 3))) * sign)
    return xp.stack(rows, axis=-2)


#: The largest matrices whose cofactors a recorded backward takes from the
#: minors (n^5 / 3 multiplications each, for the singular ones only); larger
#: singular ones keep the SVD's form, exact to a second derivative at rank n - 1.
_MINORS_UP_TO = 64


def _singular_matrix_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was renamed from) is a library's LinAlgError:
    a matrix singular to its precision, not memory or a missing kernel."""
    return any(type(e).__name__.endswith("LinAlgError") for e in (exc, exc.__cause__) if e is not None)


def _unless_singular(fn, *args):
    """``fn(*args)`` (a linalg function), or None where the library calls a
    matrix singular (its LinAlgError, as torch's inv does at a det of
    -6.7e-16); any other error (memory, a missing kernel) passes."""
    try:
        return fn(*args)
    except (ValueError, RuntimeError) as exc:
        if not _singular_matrix_error(exc):
            raise
        return None


def _cofactor(xp, x, d):
    """The cofactor matrix adj(x)^T of square x with determinant ``d``:
    d * inv(x)^T for the matrices that are not singular to rounding; for the
    singular ones (only they pay for it, and one does not fail the others)
    the SVD's product form, or in a recorded backward (on Tensors, eager) the
    minors' determinants, up to ``_MINORS_UP_TO``."""
    d4 = _matrix_axes(xp, d)
    n = x.shape[-1]
    # Singular to rounding, by Hadamard's bound |det| <= prod of the rows' norms:
    # there d * inv(x)^T is as wrong as d is (torch's det and inv come from two
    # factorizations: 1e-11 against 3.5e-12), and the exact forms below hold.
    bound = xp.prod(xp.linalg.vector_norm(x, axis=-1), axis=-1)
    singular = xp.abs(d) <= (4 * n * float(xp.finfo(x.dtype).eps)) * bound
    inverse = None
    if not _maybe(xp, singular):
        inverse = _unless_singular(xp.linalg.inv, x)
        if inverse is not None:
            return d4 * mT(xp, inverse)
    else:
        eye = xp.eye(n, dtype=x.dtype, device=_dev(x))
        inverse = _unless_singular(xp.linalg.inv, xp.where(_matrix_axes(xp, singular), eye, x))
    if inverse is None:  # the library's own "singular": every matrix by the exact forms
        singular = xp.ones(tuple(d.shape), dtype=xp.bool, device=_dev(d))
        by_inverse = xp.zeros_like(x)
    else:
        by_inverse = d4 * mT(xp, inverse)  # 0 at the singular ones
    s4 = _matrix_axes(xp, singular)
    recorded = getattr(type(x), "_xpgrad_tensor", False)
    if not recorded or n > _MINORS_UP_TO or is_lazy(x):
        cof = xp.where(s4, _cofactor_svd(xp, x), by_inverse)
        if recorded:  # the SVD's form, differentiated again: wrong below rank n - 1
            bad = _rank_below_n_minus_1(x.data, singular.data)
            if bad is not None:  # lazy: NaN, times cof so that its derivatives are NaN too
                cof = cof * xp.where(bad, math.nan, xp.ones_like(cof))
        return cof
    flat, one = xp.reshape(x, (-1, n, n)), xp.reshape(singular, (-1,))
    which = xp.nonzero(one)[0]
    minors = _cofactor_minors(xp, xp.take(flat, which, axis=0))
    # back in place by a gather (the standard has no item assignment at an index array):
    # each singular matrix's position among the singular ones (one at least, here)
    place = xp.cumulative_sum(xp.astype(one, which.dtype)) - 1  # nonzero's own index dtype
    cof = xp.take(minors, xp.where(one, place, xp.zeros_like(place)), axis=0)
    return xp.where(s4, xp.reshape(cof, tuple(x.shape)), by_inverse)


def _rank_below_n_minus_1(x, singular):
    """A ValueError where a recorded backward meets a matrix of ``x`` (a plain array)
    larger than ``_MINORS_UP_TO`` of rank n - 2 or less: the SVD's form of its cofactor
    (0 there) differentiates to wrong numbers, not to det's second derivative (65 x 65
    diag(1, ..., 1, 0, 0): 0 where it is -1). Where values cannot be read, the mask."""
    xp, _ = resolve("det", x)
    sv = xp.linalg.svd(x, full_matrices=False)[1]  # dask's has no svdvals of its own
    tol = x.shape[-1] * float(xp.finfo(x.dtype).eps) * xp.max(sv, axis=-1, keepdims=True)
    low = xp.count_nonzero(sv <= tol, axis=-1) >= 2
    return _undefined(
        xp, xp.expand_dims(low & singular, axis=-1),  # (..., 1): the mask comes (..., 1, 1)
        f"det.backward: a second derivative of det at a singular matrix larger than "
        f"{_MINORS_UP_TO}x{_MINORS_UP_TO} of rank n - 2 or less is not available (its first "
        f"derivative, the cofactor matrix, is 0 there: take it without create_graph)",
        axes=(-1,))


def _eye(xp, m: int, n: int, k: int, dtype, device):
    """eye(m, n, k) from two ranges: dask's eye drops a block of a rectangular eye (a
    missing dependency when computed: trace's and diagonal's gradients of a wide x)."""
    rows = xp.reshape(xp.arange(m, device=device), (m, 1))
    return xp.astype(rows + k == xp.reshape(xp.arange(n, device=device), (1, n)), dtype)


def _square(op, x):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{op}: x must be a (batch of) square matrices; got shape {fmt(x.shape)}")


class trace(Rule):
    """``out = sum of x's diagonal (offset)``; dx = G * eye(offset) on each matrix."""

    args = ("x",)

    @staticmethod
    def forward(x, offset=0, dtype=None):
        """The sum of diagonal ``offset`` of each matrix of x (..., M, N)."""
        from .. import _dtypes

        xp, scope = resolve("trace", x)
        if x.ndim < 2:
            raise ValueError(f"trace: x must have at least 2 dimensions; got shape {fmt(x.shape)}")
        if type(offset) is not int:
            raise TypeError(f"trace: offset must be an int; got {offset!r}")
        out = run("trace", scope, lambda: linalg_function("trace", xp)(
            x, offset=offset, dtype=_dtypes.to_native(xp, dtype, "trace")))
        return trace.record(xp, scope, Matrix(x, None, offset), (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        x, offset = s.x, s.offset
        eye = _eye(xp, x.shape[-2], x.shape[-1], offset, x.dtype, _dev(x))
        return (cast(xp, xp.reshape(g, tuple(g.shape) + (1, 1)) * eye, x.dtype),)


class det(Rule):
    """``out = det(x)``; dx = G * conj(cof(x)), with cof(x) = adj(x)^T the
    cofactor matrix: out * inv(x)^T where out != 0, and at a singular x
    det(U) det(Vh) conj(U diag(p) Vh) from the SVD x = U S Vh, p_i the product
    of the singular values other than s_i (exact: diag(2, 0, 3) gets
    diag(0, 6, 0), where torch gives 0). Differentiable again to any order:
    a recorded backward takes a singular x's cofactors from its minors (up to
    64 x 64; a larger singular x keeps the SVD's form, differentiable once
    more at rank n - 1, and below that a second derivative raises)."""

    args = ("x",)

    @staticmethod
    def forward(x):
        xp, scope, out = _decompose("det", x, "det", floating=False)
        return det.record(xp, scope, Matrix(x, out, 0), (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        cof = _cofactor(xp, s.x, s.out)
        return (cast(xp, _matrix_axes(xp, g) * conj_if_complex(xp, cof), s.x.dtype),)


class inv(Rule):
    """``out = inv(x)``; dx = -out^H @ G @ out^H."""

    args = ("x",)

    @staticmethod
    def forward(x):
        xp, scope, out = _decompose("inv", x, "inv", floating=False)
        return inv.record(xp, scope, Matrix(None, out, 0), (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        oh = mT(xp, conj_if_complex(xp, s.out))
        return (cast(xp, -(oh @ g @ oh), s.out.dtype),)


class Solved(NamedTuple):
    a: object
    b: object
    out: object
    vector: bool  # b is one vector (M,): out is (..., M)


def _solve_beside_nan(xp, a_h, g):
    """solve's db where the library called a^H singular though it solved a:
    an inf in a (the forward's out is NaN, and LU of a^H meets 0 * inf). The
    matrices with a value that is not finite get a NaN gradient, as torch's
    (whose backward reuses the forward's factors); the others are solved. A
    ValueError if one of those is singular too."""
    bad = _matrix_axes(xp, xp.any(xp.logical_not(xp.isfinite(a_h)), axis=(-2, -1)))
    eye = xp.eye(a_h.shape[-1], dtype=a_h.dtype, device=_dev(a_h))
    db = _unless_singular(linalg_function("solve", xp), xp.where(bad, eye, a_h), g)
    if db is None:
        raise ValueError(
            "solve.backward: the gradient solves with a^H, which the array library calls "
            "singular although it solved with a; a is singular to rounding there"
        )
    return xp.where(bad, math.nan, db)


class solve(Rule):
    """``out = solve(a, b)`` (a @ out = b); db = solve(a^H, G), da = -db @ out^H,
    each summed over the batch axes its input was broadcast along."""

    args = ("a", "b")

    @staticmethod
    def forward(a, b):
        """Solve ``a @ out = b`` for square a (..., M, M) and b (M,) or (..., M, K)."""
        xp, scope = resolve("solve", a, b)
        _square("solve", a)
        if b.ndim < 1 or b.shape[0 if b.ndim == 1 else -2] != a.shape[-1]:
            raise ValueError(
                f"solve: b of shape {fmt(b.shape)} does not fit a of shape {fmt(a.shape)}: "
                f"b must be ({a.shape[-1]},) or (..., {a.shape[-1]}, K)"
            )
        fn = linalg_function("solve", xp)
        out = _solver_run("solve", scope, lambda: fn(a, b), (a, "x1"), (b, "x2"))
        needs = (differentiable(xp, a), differentiable(xp, b))
        return solve.record(xp, scope, Solved(a, b, out, b.ndim == 1), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, b, o, vector = s
        if vector:
            g, o = xp.expand_dims(g, axis=-1), xp.expand_dims(o, axis=-1)
        a_h = mT(xp, conj_if_complex(xp, a))
        db = _unless_singular(linalg_function("solve", xp), a_h, g)
        if db is None:
            db = _solve_beside_nan(xp, a_h, g)
        ga = gb = None
        if needs[0]:
            ga = to_input(xp, -(db @ mT(xp, conj_if_complex(xp, o))), tuple(a.shape), a.dtype)
        if needs[1]:
            gb = to_input(xp, db[..., 0] if vector else db, tuple(b.shape), b.dtype)
        return ga, gb


# -- the rest of the linalg extension -------------------------------------------


def linalg_function(op, xp, name=None):
    """``xp.linalg.<name>``; a TypeError naming the op where the library lacks it."""
    fn = adapter_of(xp).linalg_function(xp, name or op)
    if fn is None:
        raise TypeError(
            f"{op}: the array library {getattr(xp, '__name__', xp)!s} has no linalg.{name or op}; "
            f"convert the input to an array of a library that has it (NumPy, torch, CuPy)"
        )
    return fn


def _refuse_complex(op, xp, a) -> None:
    """The backward of a rule differentiated for real x only, where ``a``
    (saved) has x's kind. Its forward computes a complex x and marks it as
    having a gradient, so that the backward refuses it here rather than
    return a silent None. The namespace refuses such an x that requires grad
    before the forward."""
    if dtype_info(xp, a.dtype).complex:
        raise TypeError(
            f"{op}.backward: x is complex ({a.dtype}); xpgrad differentiates {op} for real "
            f"floating x only, so it has no gradient for this x"
        )


class Diag(NamedTuple):
    shape: tuple
    dtype: object
    offset: int


class diagonal(Rule):
    """``out[..., i] = x[..., i, i + offset]``; dx = G placed on that diagonal, 0 elsewhere."""

    args = ("x",)

    @staticmethod
    def forward(x, offset=0):
        """Diagonal ``offset`` of each matrix of x (..., M, N)."""
        xp, scope = resolve("diagonal", x)
        if x.ndim < 2:
            raise ValueError(f"diagonal: x must have at least 2 dimensions; got shape {fmt(x.shape)}")
        if type(offset) is not int:
            raise TypeError(f"diagonal: offset must be an int; got {offset!r}")
        out = run("diagonal", scope, lambda: linalg_function("diagonal", xp)(x, offset=offset))
        saved = Diag(tuple(x.shape), x.dtype, offset)
        return diagonal.record(xp, scope, saved, (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        (m, n), k = s.shape[-2:], s.offset
        # Element (r, c) of the diagonal is G[r] for k >= 0 and G[c] for k < 0:
        # pad G to the rows (columns) and mask it with eye(m, n, k).
        size, axis = (m, -1) if k >= 0 else (n, -2)
        if g.shape[-1] != size:
            pad = xp.zeros(tuple(g.shape[:-1]) + (size - g.shape[-1],), dtype=g.dtype, device=_dev(g))
            g = xp.concat([g, pad], axis=-1)
        eye = _eye(xp, m, n, k, g.dtype, _dev(g))
        return (cast(xp, xp.expand_dims(g, axis=axis) * eye, s.dtype),)


class Crossed(NamedTuple):
    a: object
    b: object
    axis: int


class cross(Rule):
    """``out = a x b`` along ``axis`` (size 3); da = conj(b) x G, db = G x conj(a),
    each summed over the axes its input was broadcast along (as torch)."""

    args = ("a", "b")

    @staticmethod
    def forward(a, b, axis=-1):
        xp, scope = resolve("cross", a, b)
        if type(axis) is not int:
            raise TypeError(f"cross: axis must be an int; got {axis!r}")
        shape = broadcast_shapes(tuple(a.shape), tuple(b.shape), op="cross")
        if not -len(shape) <= axis < len(shape) or shape[axis] != 3:
            raise ValueError(
                f"cross: axis {axis} of the broadcast shape {fmt(shape)} (from {fmt(a.shape)} and "
                f"{fmt(b.shape)}) must exist and have size 3"
            )
        # From the end, which each input reads as the broadcast shape does (NumPy and JAX
        # read axis 0 of each input on its own, and the gradients summed another axis)
        axis -= len(shape) if axis >= 0 else 0
        out = run("cross", scope, lambda: linalg_function("cross", xp)(
            *[_reaching(xp, v, shape, axis) for v in _promoted(xp, a, b)], axis=axis))
        needs = (differentiable(xp, a), differentiable(xp, b))
        return cross.record(xp, scope, Crossed(a, b, axis), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        (a, b, axis), fn = s, xp.linalg.cross
        shape, ga, gb = tuple(g.shape), None, None
        if needs[0]:
            bg = _reaching(xp, _as(xp, conj_if_complex(xp, b), g.dtype), shape, axis)
            ga = to_input(xp, fn(bg, g, axis=axis), tuple(a.shape), a.dtype)
        if needs[1]:
            ag = _reaching(xp, _as(xp, conj_if_complex(xp, a), g.dtype), shape, axis)
            gb = to_input(xp, fn(g, ag, axis=axis), tuple(b.shape), b.dtype)
        return ga, gb


def _reaching(xp, v, shape, axis: int):
    """``v`` broadcast to ``shape`` where it lacks the axis ``axis`` (from the end) that
    the cross product runs along, as torch broadcasts it; the standard leaves that to the
    library, and NumPy refuses it."""
    return xp.broadcast_to(v, shape) if v.ndim < -axis else v


class Decomposed(NamedTuple):
    x: object  # or None where the backward does not need it
    parts: tuple  # the factors the backward needs
    n: int  # the matrix size


def _decompose(op, x, name, *, square=True, floating=True, **kwargs):
    """resolve, check (square, floating) x, run ``xp.linalg.<name>(x)``."""
    xp, scope = resolve(op, x)
    if square:
        _square(op, x)
    elif x.ndim < 2:
        raise ValueError(f"{op}: x must have at least 2 dimensions; got shape {fmt(x.shape)}")
    if floating and not dtype_info(xp, x.dtype).inexact:
        raise TypeError(f"{op}: x has dtype {x.dtype}; {op} needs a floating-point array, cast it first")
    fn = linalg_function(op, xp, name)
    return xp, scope, _solver_run(op, scope, lambda: fn(x, **kwargs), (x, "x"))


def _solver_run(op, scope, fn, *args):
    """``run(op, scope, fn)``, where a library that refuses half precision in its linear
    algebra (NumPy, torch, JAX: TypeError, RuntimeError, NotImplementedError) gets one
    TypeError that says to cast the first of ``args`` (pairs of an array and its name)
    in half precision."""
    try:
        return run(op, scope, fn)
    except (TypeError, ValueError) as exc:
        for x, name in args:
            refusal = half_precision_refusal(op, x, name)
            if refusal is not None:
                raise refusal from exc
        raise


def half_precision_refusal(op: str, x, name: str = "x"):
    """The TypeError for a library's refusal of ``x`` in half precision (float16,
    bfloat16) in its linear algebra; None where x is of another dtype."""
    if getattr(x.dtype, "itemsize", 0) != 2 or not dtype_info(resolve(op, x)[0], x.dtype).inexact:
        return None
    return TypeError(
        f"{op}: {name} has dtype {x.dtype}, which the array library's linear algebra does "
        f"not take; cast it to float32 first (xp.astype({name}, xp.float32))"
    )


class slogdet(Rule):
    """``out = (sign, logabsdet)`` of det(x) (real x); d sign = 0,
    dx = G_logabsdet * inv(x)^T. At a singular x (logabsdet = -inf, or singular
    to rounding where the library's inv refuses x) the gradient is cof(x) / 0
    for that matrix: +-inf by the sign of G * cof(x)
    where the cofactor is nonzero, NaN where it is 0, and 0 where G is 0
    (torch also gives infinities and NaN there); the others of a batch are
    exact."""

    args = ("x",)
    outputs = 2

    @staticmethod
    def forward(x):
        xp, scope, (sign, logabs) = _decompose("slogdet", x, "slogdet")
        needs = (differentiable(xp, x),)
        singular = run("slogdet", scope, lambda: sign == 0)  # a mask: no graph needed
        saved = Decomposed(x, (singular,), x.shape[-1])
        return slogdet.record(xp, scope, saved, needs, (sign, logabs))

    @staticmethod
    def gradients(xp, g, s, needs):
        _refuse_complex("slogdet", xp, s.x)
        g_logabs = g[1]
        if g_logabs is None:  # only the sign, whose gradient is 0
            return (xp.zeros_like(s.x),)
        x, (singular,) = s.x, s.parts
        g4 = _matrix_axes(xp, g_logabs)
        n = x.shape[-1]
        if not _maybe(xp, singular):
            inverse = _unless_singular(xp.linalg.inv, x)
            if inverse is not None:
                return (cast(xp, g4 * mT(xp, inverse), x.dtype),)
            # torch's slogdet and inv factor x twice: inv may call singular a matrix
            # whose logabsdet was finite (-36 at a determinant that is 0 to rounding).
            # Those singular to rounding (rank below n) are singular here too: cof / 0.
            singular = linalg_function("slogdet", xp, "matrix_rank")(x) < n
        s4 = _matrix_axes(xp, singular)
        eye = xp.eye(n, dtype=x.dtype, device=_dev(x))
        inverse = _unless_singular(xp.linalg.inv, xp.where(s4, eye, x))
        if inverse is None:  # the library's own "singular": every matrix by cof / 0
            s4 = xp.ones(tuple(s4.shape), dtype=xp.bool, device=_dev(x))
            inverse = xp.zeros_like(x)
        regular = g4 * mT(xp, inverse)
        # G * cof / (+0), written without dividing (no warnings): +-inf, NaN at 0 / 0
        lean = g4 * _cofactor_svd(xp, x, rounded_to_zero=True)
        at_singular = xp.where(lean == 0, math.nan, xp.where(  # an array among the choices:
            lean > 0, math.inf, xp.full_like(lean, -math.inf)))  # the standard's where asks it
        at_singular = xp.where(g4 == 0, 0.0, at_singular)
        return (cast(xp, xp.where(s4, at_singular, regular), x.dtype),)


class cholesky(Rule):
    """``out = L`` with x = L L^T (``upper``: U^T U, out = U), real x.

    With P = tril(L^T gL) with its diagonal halved, dx = L^-T sym(P) L^-1 where
    sym(P) = (P + P^T) / 2: the symmetric gradient torch gives."""

    args = ("x",)

    @staticmethod
    def forward(x, upper=False):
        if type(upper) is not bool:
            raise TypeError(f"cholesky: upper must be a bool; got {upper!r}")
        xp, scope, low = _decompose("cholesky", x, "cholesky")
        out = run("cholesky", scope, mT, xp, low) if upper else low
        needs = (differentiable(xp, x),)
        return cholesky.record(xp, scope, Decomposed(None, (low, upper), x.shape[-1]), needs, out)

    @staticmethod
    def graph_saved(s, join):
        low, upper = s.parts
        if not upper:
            return s._replace(parts=(join.result(low), upper))
        u = join.result(mT(join.xp, low))  # the result is U = L^T
        return s._replace(parts=(u.__array_namespace__().matrix_transpose(u), upper))

    @staticmethod
    def gradients(xp, g, s, needs):
        low, upper = s.parts
        _refuse_complex("cholesky", xp, low)
        p = xp.tril(mT(xp, low) @ (mT(xp, g) if upper else g))
        p = 0.5 * (p + mT(xp, xp.tril(p, k=-1)))  # (P + P^T) / 2 with P's diagonal halved
        linv = xp.linalg.inv(low)
        return (cast(xp, mT(xp, linv) @ p @ linv, low.dtype),)


class eigvalsh(Rule):
    """``out = w`` with x = V diag(w) V^T (real symmetric x, its lower triangle
    read); dx = V diag(G) V^T."""

    args = ("x",)

    @staticmethod
    def forward(x):
        xp, scope, (w, v) = _decompose("eigvalsh", x, "eigh")
        needs = (differentiable(xp, x),)
        return eigvalsh.record(xp, scope, Decomposed(None, (w, v), x.shape[-1]), needs, w)

    @staticmethod
    def graph_saved(s, join):
        # V joined to x as eigh's result, so that its own derivative is followed
        return s._replace(parts=join.outputs(eigh, s, s.parts, 0))

    @staticmethod
    def gradients(xp, g, s, needs):
        _, v = s.parts
        _refuse_complex("eigvalsh", xp, v)
        return (cast(xp, (v * xp.expand_dims(g, axis=-2)) @ mT(xp, v), v.dtype),)


class eigh(Rule):
    """``out = (w, V)`` with x = V diag(w) V^T (real symmetric x).

    dx = V (diag(Gw) + skew(V^T GV) / E) V^T with skew(M) = (M - M^T) / 2 and
    E[i, j] = w[j] - w[i] (torch's formula). A pair of eigenvalues equal to
    rounding (|w_i - w_j| <= n eps max |w|) has no such quotient: where V^T GV
    couples the pair beyond rounding (sqrt(eps) max |GV|), the gradient
    reaches eigenvectors x does not determine, and a ValueError says so
    (torch gives inf or NaN), as svd's does; where it does not, the pair adds
    0. Its symmetric part counts too: a second derivative of a function of
    the eigenvalues reaches V with skew(V^T GV) exactly 0 on the pair, and
    the limit it needs is not in GV. A lazy x (dask) is not read: the pair
    adds 0."""

    args = ("x",)
    outputs = 2

    @staticmethod
    def forward(x):
        xp, scope, (w, v) = _decompose("eigh", x, "eigh")
        needs = (differentiable(xp, x),)
        return eigh.record(xp, scope, Decomposed(None, (w, v), x.shape[-1]), needs, (w, v))

    @staticmethod
    def graph_saved(s, join):
        return s._replace(parts=join.result(s.parts))

    @staticmethod
    def gradients(xp, g, s, needs):
        (w, v), (gw, gv) = s.parts, g
        _refuse_complex("eigh", xp, v)
        inner = None
        if gv is not None:
            inner = _over_gaps(xp, w, mT(xp, v) @ gv, gv, s.n)
        if gw is not None:
            diag = xp.expand_dims(gw, axis=-2) * xp.eye(s.n, dtype=w.dtype, device=_dev(w))
            inner = diag if inner is None else inner + diag
        if inner is None:  # neither result reached: the gradient is zero
            return (xp.zeros_like(v),)
        return (cast(xp, v @ inner @ mT(xp, v), v.dtype),)


def _over_gaps(xp, w, vg, gv, n):
    """skew(vg)[i, j] / (w[j] - w[i]) for eigh's backward (vg = V^T GV), 0 on
    the diagonal and for a pair equal to rounding, which raises where vg
    couples it."""
    if math.prod(tuple(vg.shape)) == 0:  # no matrices, or empty ones
        return xp.zeros_like(vg)
    gaps = xp.expand_dims(w, axis=-2) - xp.expand_dims(w, axis=-1)
    eps = float(xp.finfo(w.dtype).eps)
    scale = xp.max(xp.abs(w), axis=-1, keepdims=True)
    close = xp.abs(gaps) <= xp.expand_dims(n * eps * scale, axis=-1)  # the diagonal too
    repeated = close & ~(xp.eye(n, dtype=xp.bool, device=_dev(w)))
    # rounding is judged per matrix: another matrix's larger GV hides none of it
    tol = math.sqrt(eps) * xp.max(xp.abs(gv), axis=(-2, -1), keepdims=True)
    undefined = _undefined(
        xp, repeated & (xp.abs(vg) > tol),
        "eigh.backward: x has a repeated eigenvalue (equal to rounding), and the gradient "
        "reaches its eigenvectors, which x does not determine (any rotation of them is as "
        "good): the derivative through eigh is undefined there, and xpgrad raises rather "
        "than return NaN. A gradient of the eigenvalues alone (eigvalsh), or of the vectors "
        "of distinct eigenvalues, is fine")
    m = 0.5 * (vg - mT(xp, vg))
    return _nan_where(xp, undefined, xp.where(close, 0.0, m / xp.where(close, 1.0, gaps)))


class SVDSaved(NamedTuple):
    parts: tuple  # (U, S, Vh) as the forward returned them
    full: bool  # full_matrices: U and Vh square, with columns (rows) past min(M, N)


class svdvals(Rule):
    """``out = s``, the singular values of x (..., M, N) (real x), descending;
    dx = U diag(G) V^T with the thin U and V^T of the same decomposition,
    themselves joined to the graph as ``svd``'s results, so the gradient is
    differentiable again (where the singular values are distinct)."""

    args = ("x",)

    @staticmethod
    def forward(x):
        xp, scope, (u, s, vh) = _decompose("svdvals", x, "svd", square=False, full_matrices=False)
        needs = (differentiable(xp, x),)
        return svdvals.record(xp, scope, SVDSaved((u, s, vh), False), needs, s)

    @staticmethod
    def graph_saved(s, join):
        # U, S, Vh joined to x as svd's results, so that their derivative is followed
        u, sv, vh = s.parts
        # where S has a kink, U diag(G) Vh holds the vectors of one arbitrary
        # choice, and their derivative masks a 0 / 0 whose limit depends on G
        if _any(join.xp, _kinks(join.xp, sv, u.shape[-2] != vh.shape[-1])):
            raise ValueError(
                "svdvals.backward: x is not square and has a zero singular value, or has a "
                "repeated one, where the singular values have a kink: the derivative of their "
                "gradient is not computed there (its formula leaves a 0 / 0 whose limit "
                "depends on the loss). The first derivative is; for a second one, use a "
                "full-rank x"
            )
        return s._replace(parts=join.outputs(svd, s, s.parts, 0))

    @staticmethod
    def gradients(xp, g, s, needs):
        u, _, vh = s.parts
        _refuse_complex("svdvals", xp, u)
        return (cast(xp, (u * xp.expand_dims(g, axis=-2)) @ vh, u.dtype),)


def _ch(xp, a):
    """a^H: the conjugate transpose of the last two axes."""
    return conj_if_complex(xp, mT(xp, a))


def _zeros_of(xp, like, shape):
    return xp.zeros(shape, dtype=like.dtype, device=_dev(like))


def _past(op, xp, g, k, axis, what, flag):
    """``g`` cut to its first ``k`` columns (axis -1) or rows (axis -2); a
    ValueError naming ``flag`` when a nonzero gradient reached the others."""
    if g is None or g.shape[axis] == k:
        return g
    rest = g[..., k:] if axis == -1 else g[..., k:, :]
    undefined = _undefined(
        xp, rest != 0,
        f"{op}.backward: a gradient reached {what} past the first min(M, N) = {k}, which "
        f"{flag} adds and which are not unique (any orthonormal completion would do), so "
        f"it has no defined value; use only the first {k}, or call {op} without {flag}")
    return _nan_where(xp, undefined, g[..., :k] if axis == -1 else g[..., :k, :])


def _svd_grad(xp, u, sv, vh, gu, gs, gvh):
    """dx of the thin SVD x = U diag(S) Vh (U: M x K, Vh: K x N) from the
    gradients of U, S and Vh (None where none reached). With X = U^H gU,
    Y = V^H gV (gV = gVh^H), A = X - X^H and B = Y - Y^H, the K x K middle is

        ((A + B) / (s_j - s_i) + (A - B) / (s_j + s_i)) / 2 + diag(gS),

    and dx = U middle Vh + (I - U U^H) gU S^-1 Vh + U S^-1 gVh (I - V V^H):
    torch's formula, split so that each division has its own mask. A pair
    of nonzero singular values equal to rounding (|s_i - s_j| <= max(M, N) eps
    max(s)) masks its 1 / (s_j - s_i) to 0; so does a denominator that is
    exactly 0. Singular values that are 0 to rounding are divided by: a
    gradient that scales with them (U S Vh) stays exact. :func:`_check_svd`
    raises wherever a mask or a division would hide or blow up a gradient
    that reaches vectors x does not determine."""
    m, k, n = u.shape[-2], sv.shape[-1], vh.shape[-1]
    batch = tuple(u.shape[:-2])
    if gu is None and gvh is None:
        if gs is None:
            return _zeros_of(xp, u, batch + (m, n))
        return (u * xp.expand_dims(gs, axis=-2)) @ vh
    if k == 0 or math.prod(batch) == 0:
        return _zeros_of(xp, u, batch + (m, n))
    cplx = dtype_info(xp, u.dtype).complex
    x_ = y_ = a = b = None
    if gu is not None:
        x_ = _ch(xp, u) @ gu
        a = x_ - _ch(xp, x_)
    if gvh is not None:
        y_ = vh @ _ch(xp, gvh)  # V^H gV
        b = y_ - _ch(xp, y_)
    plus = a if b is None else b if a is None else a + b
    minus = a if b is None else -b if a is None else a - b
    # zero, and equal, to rounding, relative to each matrix's largest singular value
    tiny = max(m, n) * xp.finfo(sv.dtype).eps * sv[..., :1]
    zero_s = sv <= tiny
    si, sj = xp.expand_dims(sv, axis=-1), xp.expand_dims(sv, axis=-2)
    eye = xp.eye(k, dtype=sv.dtype, device=_dev(sv))
    diag = eye == 1
    zero = xp.expand_dims(zero_s, axis=-1) & xp.expand_dims(zero_s, axis=-2)
    repeated = (xp.abs(sj - si) <= xp.expand_dims(tiny, axis=-1)) & ~zero & ~diag
    d_minus, d_plus = sj - si, sj + si
    cut_minus, cut_plus = repeated | (d_minus == 0), d_plus == 0
    f_minus = xp.where(cut_minus, 0.0, 1.0 / xp.where(cut_minus, 1.0, d_minus))
    f_plus = xp.where(cut_plus, 0.0, 1.0 / xp.where(cut_plus, 1.0, d_plus))
    middle = 0.5 * (plus * f_minus + minus * f_plus)
    extra_u, extra_v = m > k and gu is not None, n > k and gvh is not None
    off_u = off_v = s_inv = None
    if extra_u or extra_v:
        cut = sv == 0
        s_inv = xp.where(cut, 0.0, 1.0 / xp.where(cut, 1.0, sv))
        if extra_u:  # (I - U U^H) gU
            off_u = (gu - u @ x_) * xp.expand_dims(s_inv, axis=-2)
        if extra_v:  # gVh (I - V V^H)
            off_v = xp.expand_dims(s_inv, axis=-1) * (gvh - (gvh @ _ch(xp, vh)) @ vh)
    undefined = None
    if cplx or _maybe(xp, repeated | zero):
        undefined = _check_svd(xp, sv, gu, gs, gvh, x_, y_, plus, minus, middle, off_u, off_v,
                               zero_s, zero, repeated, cut_minus, cut_plus, diag, cplx, m != n)
    if gs is not None:
        middle = middle + xp.expand_dims(gs, axis=-2) * eye
    gx = u @ middle @ vh
    if off_u is not None:  # (I - U U^H) gU S^-1 Vh
        gx = gx + off_u @ vh
    if off_v is not None:  # U S^-1 gVh (I - V V^H)
        gx = gx + u @ off_v
    return _nan_where(xp, undefined, gx)


_UNDETERMINED = (
    "svd.backward: x has {what}, and the gradient reaches {whose}, which x does not "
    "determine{why}: the derivative through the SVD is undefined there, and xpgrad raises "
    "rather than return NaN or a guess. {fine}"
)


def _kinks(xp, sv, rectangular: bool):
    """Where the singular values ``sv`` have a kink (like |t| at 0): an exact
    zero of a non-square x, or a repeated exact zero."""
    exact = sv == 0
    if rectangular:
        return exact
    return exact & (xp.sum(xp.astype(exact, sv.dtype), axis=-1, keepdims=True) > 1)


def _check_svd(xp, sv, gu, gs, gvh, x_, y_, plus, minus, middle, off_u, off_v, zero_s, zero,
               repeated, cut_minus, cut_plus, diag, cplx, rectangular):
    """A ValueError where the gradient reaches what x does not determine:
    the vectors of a repeated singular value (X or Y couples them), the
    common phase of a complex pair (diag(A + B) != 0), the vectors of a zero
    singular value (a masked 0 / 0 with a numerator beyond rounding, or a
    division by a rounding-level value that blows the gradient up past
    1 / sqrt(eps) times its natural size), and S itself at an exact zero of a
    non-square x or a repeated zero (where S has a kink, like |t| at 0).
    "Beyond rounding" is sqrt(eps) times the largest |gU|, |gVh| (|gS|).
    Where the values cannot be read (jax.jit, dask), the mask of the matrices
    whose gradient is undefined (see :func:`_undefined`)."""
    root = math.sqrt(xp.finfo(sv.dtype).eps)
    scale = 0.0
    for g in (gu, gvh):
        if g is not None:
            scale = scale + xp.max(xp.abs(g))
    tol = root * scale
    undefined = None
    if cplx:
        undefined = _undefined(
            xp, diag & (xp.abs(plus) > tol),
            "svd.backward: the loss depends on the phase of the complex singular vectors "
            "(U[..., :, i] and Vh[..., i, :] are unique only up to a common factor "
            "e^(i phi)): its gradient is undefined. Losses of U S Vh, of S, or of |U| and |Vh| "
            "at distinct singular values have one")
    coupled = 0.0
    for p in (x_, y_):
        if p is not None:
            coupled = coupled + xp.abs(p)
    undefined = _either(undefined, _undefined(xp, repeated & (coupled > tol), _UNDETERMINED.format(
        what="a repeated singular value (equal to rounding)",
        whose="its singular vectors",
        why=" (any rotation of them is as good)",
        fine="A gradient of S alone, or of the vectors of distinct singular values, is fine",
    )))
    if not _maybe(xp, zero_s):
        return undefined
    vectors = _UNDETERMINED.format(
        what="a zero singular value (to rounding: x is rank-deficient)",
        whose="its singular vectors",
        why="",
        fine="Use the vectors of the nonzero singular values only, or a full-rank x",
    )
    masked = (zero & cut_minus & (xp.abs(plus) > tol)) | (zero & cut_plus & (xp.abs(minus) > tol))
    undefined = _either(undefined, _undefined(xp, masked, vectors))
    s_max = xp.max(sv)
    if _maybe(xp, s_max > 0):
        natural = scale / s_max + (0.0 if gs is None else xp.max(xp.abs(gs)))
        limit = natural / root
        undefined = _either(undefined, _undefined(xp, zero & (xp.abs(middle) > limit), vectors))
        for off, axis in ((off_u, -2), (off_v, -1)):
            if off is not None:
                blown = xp.expand_dims(zero_s, axis=axis) & (xp.abs(off) > limit)
                undefined = _either(undefined, _undefined(xp, blown, vectors))
    if gs is not None and _maybe(xp, sv == 0):
        where = "is not square and has a" if rectangular else "has a repeated"
        undefined = _either(undefined, _undefined(
            xp, _kinks(xp, sv, rectangular) & (xp.abs(gs) > root * xp.max(xp.abs(gs))),
            f"svd.backward: x {where} zero singular value, where S is not differentiable "
            f"(it has a kink there, as |t| at 0), and the gradient reaches S there: the "
            f"derivative through the SVD is undefined, and xpgrad raises rather than return "
            f"a guess. A loss that gives those singular values no gradient is fine",
            axes=(-1,)))
    return undefined


class svd(Rule):
    """``out = (U, S, Vh)`` with x = U diag(S) Vh, x (..., M, N) real or complex,
    S descending; K = min(M, N) columns of U and rows of Vh, all M and N with
    ``full_matrices``.

    With X = U^H gU, Y = V^H gV (gV = gVh^H), A = X - X^H, B = Y - Y^H:
    dx = U (((A + B) / (s_j - s_i) + (A - B) / (s_j + s_i)) / 2 + diag(gS)) Vh
    + (I - U U^H) gU S^-1 Vh + U S^-1 gVh (I - V V^H), torch's formula.
    Where x does not determine its factors, a ValueError says so instead of
    NaN (torch) or a silently wrong value: a repeated nonzero singular value
    (equal to rounding, |s_i - s_j| <= max(M, N) eps max(s)) whose vectors the
    gradient reaches (X or Y couples the pair; its 1 / (s_j - s_i) is masked
    to 0 otherwise); complex, a loss that depends on a pair's common phase;
    a zero singular value whose vectors get a gradient that the division
    would blow up (rank-deficient x; U S Vh, whose gradient scales with S,
    stays exact), or a gradient of S at an exact zero of a non-square x or
    a repeated zero (a kink). Close but distinct values give large
    gradients, as in torch. With
    ``full_matrices``, a nonzero gradient of U's columns (Vh's rows) past K
    raises a ValueError naming it: those are any orthonormal completion.
    """

    args = ("x",)
    outputs = 3

    @staticmethod
    def forward(x, full_matrices=True):
        if type(full_matrices) is not bool:
            raise TypeError(f"svd: full_matrices must be a bool; got {full_matrices!r}")
        xp, scope, (u, s, vh) = _decompose("svd", x, "svd", square=False, full_matrices=full_matrices)
        saved = SVDSaved((u, s, vh), full_matrices)
        return svd.record(xp, scope, saved, (differentiable(xp, x),), (u, s, vh))

    @staticmethod
    def graph_saved(s, join):
        return s._replace(parts=join.result(s.parts))

    @staticmethod
    def gradients(xp, g, s, needs):
        (u, sv, vh), (gu, gs, gvh) = s.parts, g
        k = sv.shape[-1]
        if s.full:
            gu = _past("svd", xp, gu, k, -1, "U's columns", "full_matrices=True")
            gvh = _past("svd", xp, gvh, k, -2, "Vh's rows", "full_matrices=True")
            if u.shape[-1] != k:
                u = u[..., :k]
            if vh.shape[-2] != k:
                vh = vh[..., :k, :]
        return (cast(xp, _svd_grad(xp, u, sv, vh, gu, gs, gvh), u.dtype),)


class QRSaved(NamedTuple):
    parts: tuple  # (Q, R) as the forward returned them
    complete: bool  # mode="complete": Q is M x M


def _qr_square(xp, q, r, gq, gr):
    """dx of x = Q R with R square (N x N, x M x N with M >= N):
    dx = (gQ + Q sym(gR R^H - Q^H gQ)) R^-H, sym(N) = triu(N, 1) + triu(N, 1)^H
    + Re diag(N)."""
    inner = None
    if gr is not None:
        inner = gr @ _ch(xp, r)
    if gq is not None:
        qg = _ch(xp, q) @ gq
        inner = -qg if inner is None else inner - qg
    upper = xp.triu(inner, k=1)
    eye = xp.eye(r.shape[-1], dtype=r.dtype, device=_dev(r))
    diag = xp.real(inner) if dtype_info(xp, inner.dtype).complex else inner
    b = q @ (upper + _ch(xp, upper) + eye * diag)
    if gq is not None:
        b = gq + b
    d = xp.abs(xp.sum(r * eye, axis=-1))  # |diag(R)|: x's rank shows there
    top = xp.max(d, axis=-1, keepdims=True)
    tiny = max(q.shape[-2], r.shape[-1]) * xp.finfo(d.dtype).eps * top
    undefined = _undefined(
        xp, d <= tiny,
        "qr.backward: R is singular to rounding (x has rank below min(M, N)): the "
        "gradient of QR needs R^-1 (and Q's columns past the rank are not determined by "
        "x), so it is undefined there", axes=(-1,))
    # b R^-H = (R^-1 b^H)^H, with R and b scaled by a power of 2 near R's largest
    # pivot (exact): at a subnormal scale the solver's 1 / pivot overflowed.
    scale = _matrix_axes(xp, xp.pow(2.0, xp.floor(xp.log2(top[..., 0]))))
    try:
        return _nan_where(xp, undefined, _ch(xp, xp.linalg.solve(r / scale, _ch(xp, b) / scale)))
    except BACKEND_ERRORS as exc:
        raise ValueError(f"qr.backward: R is singular (x has rank below min(M, N)) ({exc})") from exc


class qr(Rule):
    """``out = (Q, R)`` with x = Q R, x (..., M, N) real or complex, Q with
    orthonormal columns, R upper triangular (K = min(M, N) columns of Q, all M
    with ``mode="complete"``).

    M >= N: dx = (gQ + Q sym(gR R^H - Q^H gQ)) R^-H, where sym(N) = triu(N, 1)
    + triu(N, 1)^H + Re diag(N) (torch's formula). M < N: x = [X | Y] and
    R = [R1 | R2] give dX by that formula for X = Q R1 with gQ + Q R2 gR2^H,
    and dY = Q gR2. x must have full rank (R^-1): a ValueError otherwise. With
    ``mode="complete"`` and M > N, a nonzero gradient of Q's columns past N
    raises a ValueError naming the mode (they are any orthonormal completion);
    R's rows past N are 0 whatever x is, so their gradient is dropped."""

    args = ("x",)
    outputs = 2

    @staticmethod
    def forward(x, mode="reduced"):
        if not isinstance(mode, str):
            raise TypeError(f"qr: mode must be 'reduced' or 'complete'; got {mode!r}")
        if mode not in ("reduced", "complete"):
            raise ValueError(f"qr: mode must be 'reduced' or 'complete'; got {mode!r}")
        xp, scope, (q, r) = _decompose("qr", x, "qr", square=False, mode=mode)
        saved = QRSaved((q, r), mode == "complete")
        return qr.record(xp, scope, saved, (differentiable(xp, x),), (q, r))

    @staticmethod
    def graph_saved(s, join):
        return s._replace(parts=join.result(s.parts))

    @staticmethod
    def gradients(xp, g, s, needs):
        (q, r), (gq, gr) = s.parts, g
        m, n = q.shape[-2], r.shape[-1]
        k = min(m, n)
        if q.shape[-1] != k:  # complete, M > N
            gq = _past("qr", xp, gq, k, -1, "Q's columns", "mode='complete'")
            q, r = q[..., :k], r[..., :k, :]
            gr = None if gr is None else gr[..., :k, :]
        if (gq is None and gr is None) or k == 0:
            return (_zeros_of(xp, q, tuple(q.shape[:-2]) + (m, n)),)
        if m >= n:
            return (cast(xp, _qr_square(xp, q, r, gq, gr), q.dtype),)
        r1, r2 = r[..., :m], r[..., m:]
        gr1 = gr2 = None
        if gr is not None:
            gr1, gr2 = gr[..., :m], gr[..., m:]
            extra = q @ (r2 @ _ch(xp, gr2))  # Y = Q R2: Y gR2^H
            gq = extra if gq is None else gq + extra
        gx1 = _qr_square(xp, q, r1, gq, gr1)
        gx2 = _zeros_of(xp, gx1, tuple(gx1.shape[:-1]) + (n - m,)) if gr2 is None else q @ gr2
        return (cast(xp, xp.concat([gx1, gx2], axis=-1), q.dtype),)


class pinv(Rule):
    """``out = pinv(x)``, the Moore-Penrose inverse of x (..., M, N), singular
    values at most ``rtol`` times the largest taken as 0 (default
    max(M, N) * eps). With P = out: dx = -P^H G P^H + (I - x P) G^H P P^H +
    P^H P G^H (I - P x), the derivative at constant rank (torch's formula);
    where a change of x changes the rank, pinv has no derivative."""

    args = ("x",)

    @staticmethod
    def forward(x, rtol=None):
        xp, scope = resolve("pinv", x)
        if x.ndim < 2:
            raise ValueError(f"pinv: x must have at least 2 dimensions; got shape {fmt(x.shape)}")
        if not dtype_info(xp, x.dtype).inexact:
            raise TypeError(f"pinv: x has dtype {x.dtype}; pinv needs a floating-point array, cast it first")
        if rtol is None:
            rtol = max(x.shape[-2], x.shape[-1]) * xp.finfo(x.dtype).eps
        elif isinstance(rtol, bool) or not (isinstance(rtol, numbers.Real) or hasattr(rtol, "shape")):
            raise TypeError(f"pinv: rtol must be None, a real number or an array; got {rtol!r}")
        elif isinstance(rtol, numbers.Real) and not rtol >= 0:
            raise ValueError(f"pinv: rtol must be >= 0; got {rtol!r}")
        fn = linalg_function("pinv", xp)
        out = _solver_run("pinv", scope, lambda: fn(x, rtol=rtol), (x, "x"))
        return pinv.record(xp, scope, Matrix(x, out, 0), (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, p = s.x, s.out
        ph, gh = _ch(xp, p), _ch(xp, g)
        m, n = a.shape[-2], a.shape[-1]
        if m <= n:  # the products kept M x M
            k = gh @ p
            left = k @ ph  # G^H P P^H
            gx = -(_ch(xp, k) @ ph) + left - (a @ p) @ left + (ph @ p) @ (gh - k @ a)
        else:  # N x N
            k = p @ gh
            right = ph @ k  # P^H P G^H
            gx = -(ph @ _ch(xp, k)) + (gh - a @ k) @ (p @ ph) + right - right @ (p @ a)
        return (cast(xp, gx, a.dtype),)
