"""Checking gradients and comparing arrays from any backend.

All comparisons happen on the host in NumPy, whatever library the arrays
came from.
"""

from __future__ import annotations

import numpy as np

from ._backend import resolve, to_numpy
from .tensor import Tensor, no_grad, tensor
from .ops._common import note_backward

__all__ = ["gradcheck", "assert_close", "rel_error", "default_tolerance"]

# (rtol, atol) by the precision of the less precise operand.
_TOLERANCES = {
    "float16": (1e-2, 1e-3),
    "bfloat16": (5e-2, 1e-2),
    "float32": (1e-5, 1e-6),
    "complex64": (1e-5, 1e-6),
    "float64": (1e-10, 1e-12),
    "complex128": (1e-10, 1e-12),
}
_ORDER = ("bfloat16", "float16", "float32", "complex64", "float64", "complex128")


def _host(x, op: str = "assert_close"):
    if type(x) is Tensor:
        x = x.data
    if isinstance(x, (np.ndarray, np.generic, int, float, complex, bool)):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        host = np.asarray(x)
        if host.dtype.kind in "biufc":
            return host
    if not hasattr(x, "shape"):
        raise TypeError(
            f"{op}: expected arrays, Tensors, Python numbers or lists of numbers; got "
            f"{type(x).__name__}"
        )
    return to_numpy(x)


def _dtype_name(x) -> str:
    if type(x) is Tensor:
        x = x.data
    dtype = getattr(x, "dtype", None)
    if dtype is None:  # a Python scalar or list; arrays are never converted here
        dtype = np.asarray(x).dtype
    return str(dtype).rsplit(".", 1)[-1]


def default_tolerance(*arrays) -> tuple[float, float]:
    """``(rtol, atol)`` for the least precise floating dtype among ``arrays``;
    ``(0, 0)`` when none is floating."""
    names = [n for n in map(_dtype_name, arrays) if n in _TOLERANCES]
    if not names:
        return 0.0, 0.0
    return _TOLERANCES[min(names, key=_ORDER.index)]


def assert_close(actual, expected, rtol: float | None = None, atol: float | None = None) -> None:
    """Raise ``AssertionError`` unless ``|actual - expected| <= atol + rtol * |expected|``
    everywhere (NaN matches NaN, inf matches inf of the same sign).

    Tolerances default by dtype: float16 (1e-2, 1e-3), bfloat16 (5e-2, 1e-2),
    float32 (1e-5, 1e-6), float64 (1e-10, 1e-12), integers exact.

    Examples
    --------
    >>> assert_close(np.float32([1.0, 2.0]), np.float64([1.0, 2.0 + 1e-7]))
    """
    d_rtol, d_atol = default_tolerance(actual, expected)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    a, e = _host(actual), _host(expected)
    if a.shape != e.shape:
        raise AssertionError(f"assert_close: shapes differ: {a.shape} != {e.shape}")
    if a.size == 0:
        return
    if a.dtype.kind in "biu" and e.dtype.kind in "biu" and rtol == 0:
        # integers in Python's exact arithmetic: float64 holds them to 2**53 only
        ok = abs(a.astype(object) - e.astype(object)) <= atol
        if ok.all():
            return
        worst = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise AssertionError(
            f"assert_close: {int((~ok).sum())} of {a.size} integers differ; first at index "
            f"{worst}: actual {a[worst]!r}, expected {e[worst]!r}"
        )
    a64, e64 = _widen(a), _widen(e)
    ok = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
    if ok.all():
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(a64 - e64)
        err = np.where(np.isnan(err), np.inf, err)
        worst = np.unravel_index(np.argmax(np.where(ok, -1, err)), a.shape)
        rel = err[worst] / abs(e64[worst]) if e64[worst] != 0 else np.inf
    raise AssertionError(
        f"assert_close: {int((~ok).sum())} of {a.size} elements differ "
        f"(rtol={rtol:g}, atol={atol:g}); worst at index {tuple(int(i) for i in worst)}: "
        f"actual {a64[worst]!r}, expected {e64[worst]!r}, abs err {err[worst]:.3g}, "
        f"rel err {rel:.3g}"
    )


def _widen(x):
    return x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)


def rel_error(a, b) -> float:
    """``||a - b|| / ||b||`` (Frobenius norms over all elements, in float64).

    0.0 when both are zero; inf when only ``b`` is zero. ``a`` and ``b`` must
    have one shape (a broadcast would compare other things: ``2.0`` and
    ``[2, 2, 2]`` gave 0).
    """
    a64, b64 = _widen(_host(a, "rel_error")), _widen(_host(b, "rel_error"))
    if a64.shape != b64.shape:
        raise ValueError(f"rel_error: a has shape {a64.shape}, b has shape {b64.shape}; they must match")
    # scaled by the largest magnitude first: a norm of 1e-200s underflows to 0
    # and one of 1e200s overflows, where their ratio is an ordinary number
    with np.errstate(invalid="ignore", over="ignore"):
        scale = max(float(np.max(np.abs(a64), initial=0.0)), float(np.max(np.abs(b64), initial=0.0)))
        if 0.0 < scale < np.inf:
            a64, b64 = a64 / scale, b64 / scale
        diff = float(np.linalg.norm((a64 - b64).ravel()))
        ref = float(np.linalg.norm(b64.ravel()))
    if ref == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / ref


def _is_rule(fn) -> bool:
    return callable(getattr(fn, "forward", None)) and callable(getattr(fn, "backward", None))


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5,
              kwargs: dict | None = None, seed: int = 0) -> bool:
    """Compare an analytic backward with central differences in float64.

    Every floating-point array among ``inputs`` is cast to float64 (in its own
    namespace and device) and checked; other inputs are passed through
    unchanged. The scalar checked is ``sum(out * G)`` for a random upstream
    gradient ``G``, so every element of the Jacobian-vector product is tested;
    for a rule with several results, the sum of that over the results. A
    complex output gets a complex ``G``, and the scalar is ``sum(Re(conj(G) *
    out))``, both parts checked (torch's convention). Each difference is taken
    output by output before the sum (a large output's rounding does not hide
    a small one's change), over the step the floats actually took; an input
    the output does not use has gradient 0, given or not.

    Parameters
    ----------
    fn : rule or callable
        A rule (an object with ``forward`` and ``backward``, such as
        ``xpgrad.ops.matmul``), whose i-th gradient belongs to the i-th
        input; or a function of Tensors returning a Tensor.
    *inputs : arrays, Tensors, scalars or None
    eps : float
        Finite-difference step, times ``|x|`` where that is above 1.
    atol, rtol : float
        Pass when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    kwargs : dict, optional
        Keyword parameters for the rule's forward or the function.
    seed : int
        Seed of the random upstream gradient.

    Returns
    -------
    True

    Raises
    ------
    AssertionError
        Naming the input and element that disagree, or a gradient whose shape
        or dtype is not its input's.
    TypeError
        For complex inputs, which this check does not cover.

    Examples
    --------
    >>> from xpgrad import ops
    >>> gradcheck(ops.matmul, np.ones((2, 3)), np.arange(12.0).reshape(3, 4))
    True
    """
    if not callable(fn) and not _is_rule(fn):
        raise TypeError(
            f"gradcheck: fn must be a rule (with forward and backward) or a function of "
            f"Tensors; got {type(fn).__name__}"
        )
    kwargs = kwargs or {}
    arrays = [x.data if type(x) is Tensor else x for x in inputs]
    checked = []
    for i, x in enumerate(arrays):
        if x is None or isinstance(x, (int, float, bool, complex)):
            continue
        if _floating(x):
            arrays[i] = _as_float64(x)
            checked.append(i)
    if not checked:
        raise TypeError(
            "gradcheck: no floating-point array among the inputs, so there is no gradient "
            "to check"
        )
    rule = _is_rule(fn)

    def evaluate(args):
        if rule:
            return fn.forward(*args, **kwargs)[0]
        with no_grad():
            out = fn(*[tensor(a) if i in checked else a for i, a in enumerate(args)], **kwargs)
        return out.data if type(out) is Tensor else out

    out = evaluate(arrays)
    rng = np.random.default_rng(seed)
    if type(out) is tuple:  # a rule with several results: one G for each
        g_host = tuple([_upstream(rng, o) for o in out])
        g = tuple([_like(h, o) for h, o in zip(g_host, out)])
    else:
        g_host = _upstream(rng, out)
        g = _like(g_host, out)

    if rule:
        out, ctx = fn.forward(*arrays, **kwargs)
        try:
            analytic = list(fn.backward(g, ctx))
        except Exception as exc:  # as a Tensor's walk does: the error says where it came from
            note_backward(getattr(ctx, "op", None) or getattr(fn, "__name__", "rule"), exc)
            raise
    else:
        leaves = [tensor(a, requires_grad=True) if i in checked else a for i, a in enumerate(arrays)]
        out = fn(*leaves, **kwargs)
        out.backward(g)
        analytic = [leaves[i].grad if i in checked else None for i in range(len(leaves))]

    for i in checked:
        x = arrays[i]
        got = analytic[i] if i < len(analytic) else None
        missing = got is None
        if missing:  # no gradient: 0, which the differences must say too
            got = np.zeros(tuple(x.shape))
        elif tuple(got.shape) != tuple(x.shape) or got.dtype != x.dtype:
            raise AssertionError(
                f"gradcheck: gradient of input {i} has shape {tuple(got.shape)} and dtype "
                f"{got.dtype}; the input has shape {tuple(x.shape)} and dtype {x.dtype}"
            )
        got = _host(got)
        base = _host(x).copy()
        for idx in np.ndindex(base.shape):
            orig = base[idx]
            step = eps * max(1.0, abs(float(orig)))  # relative beyond 1: float64 keeps its digits
            base[idx] = plus = orig + step
            out_plus = evaluate(_replace(arrays, i, _like(base, x)))
            base[idx] = minus = orig - step
            out_minus = evaluate(_replace(arrays, i, _like(base, x)))
            base[idx] = orig
            numeric = _dot_difference(out_plus, out_minus, g_host) / (plus - minus)
            if not abs(got[idx] - numeric) <= atol + rtol * abs(numeric):
                if missing:
                    raise AssertionError(
                        f"gradcheck: no gradient returned for input {i}, whose element {idx} has "
                        f"a numeric one of {numeric:.10g}"
                    )
                raise AssertionError(
                    f"gradcheck: input {i} (shape {base.shape}) element {idx}: analytic "
                    f"{got[idx]:.10g} != numeric {numeric:.10g} "
                    f"(abs err {abs(got[idx] - numeric):.3g}, atol={atol:g}, rtol={rtol:g})"
                )
    return True


def _floating(x) -> bool:
    from ._backend import dtype_info

    xp, _ = resolve("gradcheck", x)
    info = dtype_info(xp, x.dtype)
    if info.complex:
        raise TypeError("gradcheck: complex inputs are not supported")
    return info.inexact


def _as_float64(x):
    xp, scope = resolve("gradcheck", x)
    with scope:
        x64 = x if x.dtype == xp.float64 else xp.astype(x, xp.float64)
    if x64.dtype != xp.float64:  # JAX without x64 keeps float32 silently
        raise RuntimeError(
            f"gradcheck: {xp.__name__} gave {x64.dtype} when asked for float64; for JAX, "
            f"run jax.config.update('jax_enable_x64', True) first"
        )
    return x64


def _like(host, ref):
    """NumPy ``host`` as an array of ``ref``'s namespace and device."""
    xp, scope = resolve("gradcheck", ref)
    dtype = np.complex128 if np.iscomplexobj(host) else np.float64
    if isinstance(ref, np.ndarray):
        return np.array(host, dtype=dtype)
    with scope:
        arr = xp.asarray(np.array(host, dtype=dtype))
    dev = getattr(ref, "device", None)
    if dev is not None and getattr(arr, "device", dev) != dev:
        arr = xp.asarray(arr, device=dev)
    return arr


def _replace(seq, i, value):
    out = list(seq)
    out[i] = value
    return out


def _upstream(rng, out):
    """A random upstream gradient of ``out``'s shape: complex for a complex output."""
    from ._backend import dtype_info

    shape = tuple(out.shape)
    if dtype_info(resolve("gradcheck", out)[0], out.dtype).complex:
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return rng.standard_normal(shape)


def _dot_difference(plus, minus, g_host) -> float:
    """``sum(Re(conj(G) * (plus - minus)))``: the outputs' change, output by
    output, before the sum."""
    if type(plus) is tuple:
        return sum(_dot_difference(p, m, h) for p, m, h in zip(plus, minus, g_host))
    change = _widen(_host(plus)) - _widen(_host(minus))
    return float(np.sum(np.real(np.conj(g_host) * change)))
