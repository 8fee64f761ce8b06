"""matmul and linear (the GEMM rules), and the contractions and norms of the
Array API: vecdot, tensordot, vector_norm, trace, det, inv, solve.

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

from .._backend import dtype_info, resolve
from .._shapes import _broadcast, broadcast_shapes, fmt, sum_to
from ._common import (
    BACKEND_ERRORS,
    NO_SCOPE,
    Ctx,
    Rule,
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
    "diagonal", "cross", "slogdet", "cholesky", "eigvalsh", "eigh", "svdvals",
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
                raise backend_error("matmul", exc) from exc
            return out, Ctx("matmul", xp, scope, saved, p.needs, p.out_shape)
        out = run("matmul", scope, _matmul, xp, a, b, p)
        return matmul.record(xp, scope, saved, p.needs, out)

    @staticmethod
    def backward(grad_out, ctx):
        """Gradients ``(grad_a, grad_b)``, each with its input's shape and dtype
        (``None`` for an integer input or one switched off in
        ``ctx.needs_input_grad``)."""
        # Rule.backward with the fast path of two real matrices ahead of it: 2x2
        # float64 takes 3.0 us, 3.2 us through Rule.backward (best of 75, thread time).
        check_grad("matmul", grad_out, ctx)
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
        out = run("vecdot", scope, lambda: xp.vecdot(a, b, axis=axis))
        needs = (differentiable(xp, a), differentiable(xp, b))
        return vecdot.record(xp, scope, Pair(a, b, axis), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, b, axis = s
        g = xp.expand_dims(g, axis=axis)
        ga = to_input(xp, conj_if_complex(xp, g) * b, tuple(a.shape), a.dtype) if needs[0] else None
        gb = to_input(xp, g * a, tuple(b.shape), b.dtype) if needs[1] else None
        return ga, gb


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
        out = run("tensordot", scope, lambda: xp.tensordot(a, b, axes=(p.a_axes, p.b_axes)))
        needs = (differentiable(xp, a), differentiable(xp, b))
        return tensordot.record(xp, scope, Pair(a, b, p), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, b, p = s
        nfa = len(p.free_a)
        ga = gb = None
        if needs[0]:
            ga = xp.tensordot(g, conj_if_complex(xp, b), axes=(tuple(range(nfa, g.ndim)), p.free_b))
            ga = cast(xp, ga if p.perm_a is None else xp.permute_dims(ga, p.perm_a), a.dtype)
        if needs[1]:
            gb = xp.tensordot(conj_if_complex(xp, a), g, axes=(p.free_a, tuple(range(nfa))))
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
        out = run("vector_norm", scope, lambda: xp.linalg.vector_norm(
            x, axis=axes, keepdims=keepdims, ord=ord))
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
                hit = xp.astype(ax == out, ax.dtype)
                ties = xp.sum(hit, axis=axes, keepdims=True)
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


def _inverse_t(op, xp, x):
    """inv(x)^T for a determinant's gradient; a ValueError naming ``op`` for a singular x."""
    try:
        return mT(xp, xp.linalg.inv(x))
    except BACKEND_ERRORS as exc:
        raise ValueError(
            f"{op}.backward: x is singular, and xpgrad's {op} gradient needs its inverse ({exc})"
        ) from exc


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
        out = run("trace", scope, lambda: xp.linalg.trace(
            x, offset=offset, dtype=_dtypes.to_native(xp, dtype, "trace")))
        return trace.record(xp, scope, Matrix(x, None, offset), (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        x, offset = s.x, s.offset
        eye = xp.eye(x.shape[-2], x.shape[-1], k=offset, dtype=x.dtype, device=x.device)
        return (cast(xp, xp.reshape(g, tuple(g.shape) + (1, 1)) * eye, x.dtype),)


class det(Rule):
    """``out = det(x)``; dx = G * conj(out * inv(x)^T). A singular x has no
    inverse: its backward raises (torch falls back to an SVD)."""

    args = ("x",)

    @staticmethod
    def forward(x):
        xp, scope, out = _decompose("det", x, "det", floating=False)
        return det.record(xp, scope, Matrix(x, out, 0), (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        inv_t = _inverse_t("det", xp, s.x)
        scale = xp.reshape(g * conj_if_complex(xp, s.out), tuple(s.out.shape) + (1, 1))
        return (cast(xp, scale * conj_if_complex(xp, inv_t), s.x.dtype),)


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
        out = run("solve", scope, xp.linalg.solve, a, b)
        needs = (differentiable(xp, a), differentiable(xp, b))
        return solve.record(xp, scope, Solved(a, b, out, b.ndim == 1), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        a, b, o, vector = s
        if vector:
            g, o = xp.expand_dims(g, axis=-1), xp.expand_dims(o, axis=-1)
        db = xp.linalg.solve(mT(xp, conj_if_complex(xp, a)), g)
        ga = gb = None
        if needs[0]:
            ga = to_input(xp, -(db @ mT(xp, conj_if_complex(xp, o))), tuple(a.shape), a.dtype)
        if needs[1]:
            gb = to_input(xp, db[..., 0] if vector else db, tuple(b.shape), b.dtype)
        return ga, gb


# -- the rest of the linalg extension -------------------------------------------


def linalg_function(op, xp, name=None):
    """``xp.linalg.<name>``; a TypeError naming the op where the library lacks it."""
    fn = getattr(getattr(xp, "linalg", None), name or op, None)
    if fn is None:
        raise TypeError(
            f"{op}: the array library {getattr(xp, '__name__', xp)!s} has no linalg.{name or op}; "
            f"convert the input to an array of a library that has it (NumPy, torch, CuPy)"
        )
    return fn


def _real_only(op, xp, x):
    """Real floating x gets a gradient; a complex x none (the namespace refuses it
    before the forward when it requires grad)."""
    info = dtype_info(xp, x.dtype)
    return info.inexact and not info.complex


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
            pad = xp.zeros(tuple(g.shape[:-1]) + (size - g.shape[-1],), dtype=g.dtype, device=g.device)
            g = xp.concat([g, pad], axis=-1)
        eye = xp.eye(m, n, k=k, dtype=g.dtype, device=g.device)
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
        out = run("cross", scope, lambda: linalg_function("cross", xp)(a, b, axis=axis))
        needs = (differentiable(xp, a), differentiable(xp, b))
        return cross.record(xp, scope, Crossed(a, b, axis), needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        (a, b, axis), fn = s, xp.linalg.cross
        ga = gb = None
        if needs[0]:
            ga = to_input(xp, fn(conj_if_complex(xp, b), g, axis=axis), tuple(a.shape), a.dtype)
        if needs[1]:
            gb = to_input(xp, fn(g, conj_if_complex(xp, a), axis=axis), tuple(b.shape), b.dtype)
        return ga, gb


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
    return xp, scope, run(op, scope, lambda: fn(x, **kwargs))


class slogdet(Rule):
    """``out = (sign, logabsdet)`` of det(x) (real x); d sign = 0,
    dx = G_logabsdet * inv(x)^T. A singular x has no inverse: its backward raises."""

    args = ("x",)
    outputs = 2

    @staticmethod
    def forward(x):
        xp, scope, (sign, logabs) = _decompose("slogdet", x, "slogdet")
        needs = (_real_only("slogdet", xp, x),)
        return slogdet.record(xp, scope, Decomposed(x, (), x.shape[-1]), needs, (sign, logabs))

    @staticmethod
    def gradients(xp, g, s, needs):
        g_logabs = g[1]
        if g_logabs is None:  # only the sign, whose gradient is 0
            return (xp.zeros_like(s.x),)
        inv_t = _inverse_t("slogdet", xp, s.x)
        g_logabs = xp.reshape(g_logabs, tuple(g_logabs.shape) + (1, 1))
        return (cast(xp, g_logabs * inv_t, s.x.dtype),)


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
        needs = (_real_only("cholesky", xp, x),)
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
        needs = (_real_only("eigvalsh", xp, x),)
        return eigvalsh.record(xp, scope, Decomposed(None, (w, v), x.shape[-1]), needs, w)

    @staticmethod
    def graph_saved(s, join):
        # V joined to x as eigh's result, so that its own derivative is followed
        return s._replace(parts=join.outputs(eigh, s, s.parts, 0))

    @staticmethod
    def gradients(xp, g, s, needs):
        _, v = s.parts
        return (cast(xp, (v * xp.expand_dims(g, axis=-2)) @ mT(xp, v), v.dtype),)


class eigh(Rule):
    """``out = (w, V)`` with x = V diag(w) V^T (real symmetric x).

    dx = V (diag(Gw) + skew(V^T GV) / E) V^T with skew(M) = (M - M^T) / 2 and
    E[i, j] = w[j] - w[i] (1 on the diagonal), as torch: defined for distinct
    eigenvalues, inf/NaN for repeated ones."""

    args = ("x",)
    outputs = 2

    @staticmethod
    def forward(x):
        xp, scope, (w, v) = _decompose("eigh", x, "eigh")
        needs = (_real_only("eigh", xp, x),)
        return eigh.record(xp, scope, Decomposed(None, (w, v), x.shape[-1]), needs, (w, v))

    @staticmethod
    def graph_saved(s, join):
        return s._replace(parts=join.result(s.parts))

    @staticmethod
    def gradients(xp, g, s, needs):
        (w, v), (gw, gv) = s.parts, g
        inner = None
        if gv is not None:
            m = mT(xp, v) @ gv
            m = 0.5 * (m - mT(xp, m))
            eye = xp.eye(s.n, dtype=w.dtype, device=w.device)
            inner = m / (xp.expand_dims(w, axis=-2) - xp.expand_dims(w, axis=-1) + eye)
        if gw is not None:
            diag = xp.expand_dims(gw, axis=-2) * xp.eye(s.n, dtype=w.dtype, device=w.device)
            inner = diag if inner is None else inner + diag
        if inner is None:  # neither result reached: the gradient is zero
            return (xp.zeros_like(v),)
        return (cast(xp, v @ inner @ mT(xp, v), v.dtype),)


class svdvals(Rule):
    """``out = s``, the singular values of x (..., M, N) (real x), descending;
    dx = U diag(G) V^T with the thin U and V^T of the same decomposition."""

    args = ("x",)

    @staticmethod
    def forward(x):
        xp, scope, (u, s, vh) = _decompose("svdvals", x, "svd", square=False, full_matrices=False)
        needs = (_real_only("svdvals", xp, x),)
        return svdvals.record(xp, scope, Decomposed(None, (u, vh), 0), needs, s)

    # Its gradient reads U and V^T, whose own derivatives need the full SVD's rule.
    higher = False

    @staticmethod
    def gradients(xp, g, s, needs):
        u, vh = s.parts
        return (cast(xp, (u * xp.expand_dims(g, axis=-2)) @ vh, u.dtype),)
