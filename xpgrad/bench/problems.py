"""What is benchmarked, and every way of computing it.

A :class:`Spec` names one computation: an op, its input shapes, dtype,
device and phase (forward, backward, or both). :func:`build` returns one
implementation of it as an :class:`Impl`:

``functional``
    xpgrad's rules, ``ops.<op>.forward`` / ``ops.<op>.backward``.
``tensor``
    xpgrad's :class:`~xpgrad.Tensor` and ``backward()``.
``ideal``
    The hand-written minimum on the raw namespace (NumPy or CuPy), called
    directly: forward is one GEMM, the matmul/linear backward two GEMMs plus
    the bias column-sum, broadcast batch axes folded into the GEMM by hand.
    Where the namespace has no half-precision GEMM (NumPy) it computes in
    float32 and rounds once, as xpgrad does.
``naive``
    The textbook broadcast gradient: the batched product, then a sum over
    the broadcast axes (matmul only).
``native``
    The raw namespace's own half-precision matmul, no upcast (NumPy float16).
``torch``
    PyTorch autograd on the same device.

All implementations of one Spec read the same inputs from
:func:`make_inputs`, so their times and results compare side by side.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

import xpgrad
from xpgrad import ops

from .runtime import HALF_DTYPES, Runtime, torch_module

__all__ = [
    "IMPLS",
    "KINDS",
    "OPS",
    "PHASES",
    "Impl",
    "Spec",
    "build",
    "make_inputs",
    "output_shape",
    "reference_results",
    "max_relative_error",
]

OPS = ("matmul", "linear", "add_bias", "sum")
PHASES = ("forward", "backward", "fwd+bwd")
APIS = ("functional", "tensor")
IMPLS = ("functional", "tensor", "ideal", "naive", "native", "torch")

#: What each kind of case measures.
KINDS = {
    "gemm": "GEMM-bound square problems",
    "dispatch": "dispatch-bound tiny problems",
    "chain": "(a @ b).sum() and its backward, the autograd round trip",
    "bcast-w": "A (B,m,k) @ W (k,n): the broadcast weight gradient",
    "bcast-fwd": "forward of A (B,m,k) @ W (k,n)",
    "bcast-mid": "A (P,1,m,k) @ B (1,Q,k,n): broadcast on both sides",
    "half": "half precision against the namespace's own half matmul",
    "membound": "memory-bound element-wise and reduction rules",
}

_INPUT_NAMES = {
    "matmul": ("a", "b"),
    "linear": ("x", "w", "b"),
    "add_bias": ("x", "b"),
    "sum": ("x",),
}


@dataclasses.dataclass(frozen=True)
class Spec:
    """One computation to time.

    Parameters
    ----------
    op : {"matmul", "linear", "add_bias", "sum"}
    kind : str
        A key of :data:`KINDS`; ``"chain"`` is ``(a @ b).sum()`` on matmul's inputs.
    shapes : tuple of tuple of int
        Input shapes: ``(a, b)`` for matmul, ``(x, w, b)`` for linear,
        ``(x, b)`` for add_bias, ``(x,)`` for sum.
    phase : {"forward", "backward", "fwd+bwd"}
        ``backward`` times the backward alone, on a forward done beforehand.
    api : {"functional", "tensor"}
        How xpgrad is called.
    dtype : str
        ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``.
    device : str
        ``"cpu"`` or ``"cuda:N"``.
    needs : tuple of bool, optional
        Which inputs need a gradient; all when None.
    axis : int
        add_bias's axis.
    """

    op: str
    kind: str
    shapes: tuple
    phase: str = "fwd+bwd"
    api: str = "functional"
    dtype: str = "float64"
    device: str = "cpu"
    needs: tuple | None = None
    axis: int = 1

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"Spec: unknown op {self.op!r}; expected one of {OPS}")
        if self.kind not in KINDS:
            raise ValueError(f"Spec: unknown kind {self.kind!r}; expected one of {tuple(KINDS)}")
        if self.phase not in PHASES:
            raise ValueError(f"Spec: unknown phase {self.phase!r}; expected one of {PHASES}")
        if self.api not in APIS:
            raise ValueError(f"Spec: unknown api {self.api!r}; expected one of {APIS}")
        if len(self.shapes) != len(_INPUT_NAMES[self.op]):
            raise ValueError(f"Spec: {self.op} takes {len(_INPUT_NAMES[self.op])} input shapes")
        object.__setattr__(self, "shapes", tuple(tuple(int(d) for d in s) for s in self.shapes))
        # What the FLOP counts and the hand-written baselines cover:
        if self.op == "matmul" and min(len(s) for s in self.shapes) < 2:
            raise ValueError("Spec: matmul benchmarks take operands of 2 or more dimensions")
        if self.op == "linear" and len(self.shapes[0]) != 2:
            raise ValueError("Spec: linear benchmarks take a 2-D x")
        if self.needs is not None and self.op != "matmul":
            raise ValueError("Spec: needs (a gradient subset) is supported for matmul only")

    def replace(self, **changes) -> Spec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def grads(self) -> tuple:
        """One flag per input: does it get a gradient."""
        return self.needs if self.needs is not None else (True,) * len(self.shapes)

    @property
    def shape_text(self) -> str:
        """The shapes as text: ``(2,3)@(3,4)``, ``x(5,3) w(2,3) b(2)``."""
        parts = ["(" + ",".join(map(str, s)) + ")" for s in self.shapes]
        if self.op == "matmul":
            return "@".join(parts)
        if self.op == "linear":
            return f"x{parts[0]} w{parts[1]} b{parts[2]}"
        if self.op == "add_bias":
            return f"x{parts[0]} b{parts[1]} axis {self.axis}"
        return parts[0]

    @property
    def size(self) -> int:
        """The problem's characteristic size, for plots: the largest dimension
        of its first input."""
        return max(self.shapes[0])

    @property
    def flops(self) -> int:
        """Floating-point operations of the useful work in this phase.

        A multiply-add counts 2. The backward counts only the gradients that
        are needed; a naive path's extra reduction is not counted, so every
        implementation of a Spec is credited with the same work.
        """
        fwd, bwd = _flops(self)
        return {"forward": fwd, "backward": bwd, "fwd+bwd": fwd + bwd}[self.phase]

    @property
    def label(self) -> str:
        """``kind api phase``, e.g. ``gemm functional fwd+bwd``."""
        return f"{self.kind} {self.api} {self.phase}"

    def as_dict(self) -> dict:
        """Plain data for JSON and pytest-benchmark's ``extra_info``."""
        return {
            "op": self.op,
            "kind": self.kind,
            "phase": self.phase,
            "api": self.api,
            "shapes": [list(s) for s in self.shapes],
            "dtype": self.dtype,
            "device": self.device,
            "needs": list(self.grads),
            "size": self.size,
            "flops": self.flops,
        }


def output_shape(spec: Spec) -> tuple:
    """Shape of the op's output (the upstream gradient's shape)."""
    if spec.kind == "chain":
        return ()
    s = spec.shapes
    if spec.op == "matmul":
        batch = np.broadcast_shapes(s[0][:-2], s[1][:-2])
        return tuple(batch) + (s[0][-2], s[1][-1])
    if spec.op == "linear":
        return s[0][:-1] + (s[1][0],)
    if spec.op == "add_bias":
        return s[0]
    return ()


def _flops(spec: Spec) -> tuple[int, int]:
    s = spec.shapes
    need = spec.grads
    if spec.op == "matmul":
        batch = math.prod(np.broadcast_shapes(s[0][:-2], s[1][:-2]))
        m, k, n = s[0][-2], s[0][-1], s[1][-1]
        gemm = 2 * batch * m * k * n
        fwd = gemm + (batch * m * n if spec.kind == "chain" else 0)
        return fwd, gemm * sum(need)
    if spec.op == "linear":
        rows, fan_in, fan_out = math.prod(s[0][:-1]), s[0][-1], s[1][0]
        gemm = 2 * rows * fan_in * fan_out
        bias = rows * fan_out
        return gemm + bias, gemm * (need[0] + need[1]) + bias * need[2]
    size = math.prod(s[0])
    if spec.op == "add_bias":
        return size, size * need[1]
    return size, 0  # sum: the backward is a broadcast view


# -- inputs ------------------------------------------------------------------


def make_inputs(spec: Spec, rt: Runtime, seed: int = 0) -> dict:
    """The inputs of ``spec`` on ``rt``'s device, the same for every implementation.

    Values are uniform in [-1, 1), drawn in float64 from ``seed`` and then
    rounded to the dtype. ``"g"`` is the upstream gradient (absent for the
    ``chain`` kind, whose output is a scalar seeded with 1).

    Raises
    ------
    TypeError
        If the device's library has no such dtype.
    """
    dtype = rt.dtype(spec.dtype)
    if dtype is None:
        raise TypeError(rt.missing_dtype_reason(spec.dtype))
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in zip(_INPUT_NAMES[spec.op], spec.shapes):
        arrays[name] = rt.asarray(rng.uniform(-1.0, 1.0, shape), dtype)
    if spec.kind != "chain":
        arrays["g"] = rt.asarray(rng.uniform(-1.0, 1.0, output_shape(spec)), dtype)
    return arrays


# -- implementations -----------------------------------------------------------


class Impl:
    """One implementation of a :class:`Spec`.

    Parameters
    ----------
    name : str
        One of :data:`IMPLS`.
    forward : callable
        ``forward() -> state``: the forward pass (recording a graph where the
        implementation has one).
    backward : callable
        ``backward(state, retain) -> tuple``: the gradients of the inputs
        (None where not needed); with ``retain`` True it can run again on
        the same state.
    output : callable
        ``output(state) -> array``: the forward's value.
    """

    __slots__ = ("name", "forward", "backward", "output")

    def __init__(self, name, forward, backward, output=None) -> None:
        self.name = name
        self.forward = forward
        self.backward = backward
        self.output = output if output is not None else (lambda state: state)

    def step(self, phase: str):
        """A no-argument callable that runs ``phase`` once.

        For ``"backward"`` the forward runs now, once, and each call repeats
        the backward on its state.
        """
        forward, backward = self.forward, self.backward
        if phase == "forward":
            return forward
        if phase == "backward":
            state = forward()
            return lambda: backward(state, True)
        return lambda: backward(forward(), False)

    def backward_probe(self):
        """A callable running one backward on a fresh forward done now, for
        memory measurement (the forward's memory is not in its peak)."""
        state = self.forward()
        return lambda: self.backward(state, True)

    def results(self) -> list:
        """``[output, *gradients]`` from one forward and backward (None gradients dropped)."""
        state = self.forward()
        out = self.output(state)
        grads = self.backward(state, False)
        return [out] + [g for g in grads if g is not None]


def build(spec: Spec, impl: str, rt: Runtime, inputs: dict) -> Impl:
    """Implementation ``impl`` of ``spec`` on ``rt``, reading ``inputs``.

    Parameters
    ----------
    spec : Spec
    impl : str
        One of :data:`IMPLS`, or ``"xpgrad"`` for ``spec.api``.
    rt : Runtime
    inputs : dict
        From :func:`make_inputs` for this spec.

    Raises
    ------
    ValueError
        For an implementation that does not exist for this spec (``naive``
        outside matmul, ``native`` outside half precision).
    """
    if impl == "xpgrad":
        impl = spec.api
    family = "chain" if spec.kind == "chain" else spec.op
    if impl == "native" and spec.dtype not in HALF_DTYPES:
        raise ValueError("build: 'native' is the half-precision baseline; use 'ideal'")
    maker = _BUILDERS.get((family, "ideal" if impl == "native" else impl))
    if maker is None:
        raise ValueError(f"build: no {impl!r} implementation of {family}")
    return Impl(impl, *maker(spec, rt, inputs, impl))


def _needs_for(ctx, mask):
    ctx.needs_input_grad = tuple(m and n for m, n in zip(mask, ctx.needs_input_grad))


def _gemm_fn(spec, rt, impl):
    """``(mm, cast)``: the hand-written matmul for this dtype and the final rounding.

    Half precision on a namespace without a half GEMM (NumPy) computes in
    float32 and rounds once, as xpgrad does; ``native`` does not upcast.
    """
    dt = rt.dtype(spec.dtype)
    if impl == "native" or spec.dtype not in HALF_DTYPES or rt.has_half_gemm():
        return (lambda p, q: p @ q), (lambda x: x)
    up = rt.dtype("float32")
    return (lambda p, q: p.astype(up) @ q.astype(up)), (lambda x: x.astype(dt))


def _accum(spec, rt):
    """The dtype half-precision sums accumulate in (None: the input's)."""
    return rt.dtype("float32") if spec.dtype in HALF_DTYPES else None


# matmul ---------------------------------------------------------------------


def _matmul_functional(spec, rt, inp, impl):
    a, b, g = inp["a"], inp["b"], inp["g"]
    mask = spec.grads
    restrict = not all(mask)

    def forward():
        out, ctx = ops.matmul.forward(a, b)
        if restrict:
            _needs_for(ctx, mask)
        return out, ctx

    def backward(state, retain):
        return ops.matmul.backward(g, state[1])

    return forward, backward, lambda state: state[0]


def _matmul_tensor(spec, rt, inp, impl):
    mask = spec.grads
    ta = xpgrad.tensor(inp["a"], requires_grad=mask[0])
    tb = xpgrad.tensor(inp["b"], requires_grad=mask[1])
    g = inp["g"]

    def forward():
        return ta @ tb

    return forward, _autograd_backward((ta, tb), g), lambda out: out.data


def _matmul_ideal(spec, rt, inp, impl):
    a, b, g = inp["a"], inp["b"], inp["g"]
    mm, cast = _gemm_fn(spec, rt, impl)
    need_a, need_b = spec.grads
    sa, sb = tuple(a.shape), tuple(b.shape)

    if a.ndim == 2 and b.ndim == 2:

        def grads():
            return (cast(mm(g, b.T)) if need_a else None, cast(mm(a.T, g)) if need_b else None)

    elif b.ndim == 2:  # (..., m, k) @ (k, n): the batch folds into the GEMM rows
        k, n = sb

        def grads():
            g2 = g.reshape(-1, n)
            ga = cast(mm(g2, b.T)).reshape(sa) if need_a else None
            gb = cast(mm(a.reshape(-1, k).T, g2)) if need_b else None
            return ga, gb

    elif a.ndim == 4 and b.ndim == 4 and sa[1] == 1 and sb[0] == 1:
        # (P,1,m,k) @ (1,Q,k,n): ga[p] = sum_q g[p,q] @ b[q].T is one GEMM over
        # the (q, n) pairs; gb[q] = sum_p a[p].T @ g[p,q] one over the (p, m) pairs.
        p_, _, m, k = sa
        q_, n = sb[1], sb[3]

        def grad_a():  # its own scope, so the copies are freed before grad_b's
            gq = g.transpose(0, 2, 1, 3).reshape(p_ * m, q_ * n)
            bq = b[0].transpose(0, 2, 1).reshape(q_ * n, k)
            return cast(mm(gq, bq)).reshape(sa)

        def grad_b():
            ap = a[:, 0].transpose(2, 0, 1).reshape(k, p_ * m)
            gp = g.transpose(1, 0, 2, 3).reshape(q_, p_ * m, n)
            return cast(mm(ap, gp)).reshape(sb)

        def grads():
            return grad_a() if need_a else None, grad_b() if need_b else None

    else:
        raise ValueError(f"build: no hand-written matmul gradient for shapes {spec.shape_text}")

    def forward():
        return cast(mm(a, b))

    def backward(out, retain):
        return grads()

    return forward, backward, None


def _sum_to(x, shape):
    """Hand-written unbroadcast: sum ``x`` over the axes ``shape`` was broadcast along."""
    lead = x.ndim - len(shape)
    if lead:
        x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True) if axes else x


def _matmul_naive(spec, rt, inp, impl):
    a, b, g = inp["a"], inp["b"], inp["g"]
    mm, cast = _gemm_fn(spec, rt, impl)
    need_a, need_b = spec.grads
    sa, sb = tuple(a.shape), tuple(b.shape)

    def forward():
        return cast(mm(a, b))

    def backward(out, retain):
        ga = cast(_sum_to(mm(g, b.swapaxes(-1, -2)), sa)) if need_a else None
        gb = cast(_sum_to(mm(a.swapaxes(-1, -2), g), sb)) if need_b else None
        return ga, gb

    return forward, backward, None


def _torch_leaves(spec, rt, inp):
    return [rt.to_torch(inp[name], requires_grad=need)
            for name, need in zip(_INPUT_NAMES[spec.op], spec.grads)]


def _autograd_backward(leaves, grad):
    """The backward step of an autograd baseline (torch or xpgrad's Tensor):
    reset the leaves' gradients, run backward, return the gradients."""

    def backward(out, retain):
        for t in leaves:
            t.grad = None
        out.backward(grad, retain_graph=retain)
        return tuple(t.grad for t in leaves)

    return backward


def _matmul_torch(spec, rt, inp, impl):
    a, b = _torch_leaves(spec, rt, inp)
    return (lambda: a @ b), _autograd_backward((a, b), rt.to_torch(inp["g"])), None


# chain: (a @ b).sum() ---------------------------------------------------------


def _chain_functional(spec, rt, inp, impl):
    a, b = inp["a"], inp["b"]
    xp = xpgrad.get_namespace(a)

    def forward():
        out, c1 = ops.matmul.forward(a, b)
        s, c2 = ops.sum.forward(out)
        return s, c1, c2

    def backward(state, retain):
        s, c1, c2 = state
        (g,) = ops.sum.backward(xp.ones_like(s), c2)
        return ops.matmul.backward(g, c1)

    return forward, backward, lambda state: state[0]


def _chain_tensor(spec, rt, inp, impl):
    ta = xpgrad.tensor(inp["a"], requires_grad=True)
    tb = xpgrad.tensor(inp["b"], requires_grad=True)

    def forward():
        return (ta @ tb).sum()

    return forward, _autograd_backward((ta, tb), None), lambda s: s.data


def _chain_ideal(spec, rt, inp, impl):
    a, b = inp["a"], inp["b"]
    mm, cast = _gemm_fn(spec, rt, impl)
    xp = rt.xp
    accum = _accum(spec, rt)

    def forward():
        out = cast(mm(a, b))
        return out, out.sum(dtype=accum)

    def backward(state, retain):
        g = xp.ones_like(state[0])
        return cast(mm(g, b.T)), cast(mm(a.T, g))

    return forward, backward, lambda state: state[1]


def _chain_torch(spec, rt, inp, impl):
    a, b = _torch_leaves(spec, rt, inp)
    backward = _autograd_backward((a, b), None)
    return (lambda: (a @ b).sum()), backward, None


# linear ---------------------------------------------------------------------


def _linear_functional(spec, rt, inp, impl):
    x, w, b, g = inp["x"], inp["w"], inp["b"], inp["g"]

    def forward():
        return ops.linear.forward(x, w, b)

    def backward(state, retain):
        return ops.linear.backward(g, state[1])

    return forward, backward, lambda state: state[0]


def _linear_tensor(spec, rt, inp, impl):
    tx, tw, tb = (xpgrad.tensor(inp[k], requires_grad=True) for k in ("x", "w", "b"))
    g = inp["g"]

    def forward():
        return xpgrad.linear(tx, tw, tb)

    return forward, _autograd_backward((tx, tw, tb), g), lambda out: out.data


def _linear_ideal(spec, rt, inp, impl):
    x, w, b, g = inp["x"], inp["w"], inp["b"], inp["g"]
    mm, cast = _gemm_fn(spec, rt, impl)
    accum = _accum(spec, rt) if impl != "native" else None
    dt = rt.dtype(spec.dtype)

    def forward():
        return cast(mm(x, w.T) + b)

    def backward(out, retain):
        return cast(mm(g, w)), cast(mm(g.T, x)), g.sum(axis=0, dtype=accum).astype(dt, copy=False)

    return forward, backward, None


def _linear_torch(spec, rt, inp, impl):
    torch, _ = torch_module()
    x, w, b = _torch_leaves(spec, rt, inp)
    linear = torch.nn.functional.linear
    return (lambda: linear(x, w, b)), _autograd_backward((x, w, b), rt.to_torch(inp["g"])), None


# add_bias -------------------------------------------------------------------


def _bias_view(spec):
    x_shape, (length,) = spec.shapes
    axis = spec.axis % len(x_shape)
    return axis, (1,) * axis + (length,) + (1,) * (len(x_shape) - axis - 1)


def _add_bias_functional(spec, rt, inp, impl):
    x, b, g = inp["x"], inp["b"], inp["g"]
    axis = spec.axis

    def forward():
        return ops.add_bias.forward(x, b, axis)

    def backward(state, retain):
        return ops.add_bias.backward(g, state[1])

    return forward, backward, lambda state: state[0]


def _add_bias_tensor(spec, rt, inp, impl):
    tx, tb = (xpgrad.tensor(inp[k], requires_grad=True) for k in ("x", "b"))
    g, axis = inp["g"], spec.axis

    def forward():
        return xpgrad.add_bias(tx, tb, axis)

    return forward, _autograd_backward((tx, tb), g), lambda out: out.data


def _add_bias_ideal(spec, rt, inp, impl):
    x, b, g = inp["x"], inp["b"], inp["g"]
    axis, view = _bias_view(spec)
    others = tuple(i for i in range(x.ndim) if i != axis)
    accum = _accum(spec, rt)
    dt = rt.dtype(spec.dtype)
    bv = b.reshape(view)

    def forward():
        return x + bv

    def backward(out, retain):
        return g, g.sum(axis=others, dtype=accum).astype(dt, copy=False)

    return forward, backward, None


def _add_bias_torch(spec, rt, inp, impl):
    x, b = _torch_leaves(spec, rt, inp)
    _, view = _bias_view(spec)
    return (lambda: x + b.view(view)), _autograd_backward((x, b), rt.to_torch(inp["g"])), None


# sum ------------------------------------------------------------------------


def _sum_functional(spec, rt, inp, impl):
    x, g = inp["x"], inp["g"]

    def forward():
        return ops.sum.forward(x)

    def backward(state, retain):
        return ops.sum.backward(g, state[1])

    return forward, backward, lambda state: state[0]


def _sum_tensor(spec, rt, inp, impl):
    tx = xpgrad.tensor(inp["x"], requires_grad=True)
    g = inp["g"]

    def forward():
        return tx.sum()

    return forward, _autograd_backward((tx,), g), lambda out: out.data


def _sum_ideal(spec, rt, inp, impl):
    x, g = inp["x"], inp["g"]
    xp = rt.xp
    accum = _accum(spec, rt)
    dt = rt.dtype(spec.dtype)

    def forward():
        return x.sum(dtype=accum).astype(dt, copy=False)

    def backward(out, retain):
        return (xp.broadcast_to(g, x.shape),)

    return forward, backward, None


def _sum_torch(spec, rt, inp, impl):
    (x,) = _torch_leaves(spec, rt, inp)
    return (lambda: x.sum()), _autograd_backward((x,), rt.to_torch(inp["g"])), None


_BUILDERS = {
    ("matmul", "functional"): _matmul_functional,
    ("matmul", "tensor"): _matmul_tensor,
    ("matmul", "ideal"): _matmul_ideal,
    ("matmul", "naive"): _matmul_naive,
    ("matmul", "torch"): _matmul_torch,
    ("chain", "functional"): _chain_functional,
    ("chain", "tensor"): _chain_tensor,
    ("chain", "ideal"): _chain_ideal,
    ("chain", "torch"): _chain_torch,
    ("linear", "functional"): _linear_functional,
    ("linear", "tensor"): _linear_tensor,
    ("linear", "ideal"): _linear_ideal,
    ("linear", "torch"): _linear_torch,
    ("add_bias", "functional"): _add_bias_functional,
    ("add_bias", "tensor"): _add_bias_tensor,
    ("add_bias", "ideal"): _add_bias_ideal,
    ("add_bias", "torch"): _add_bias_torch,
    ("sum", "functional"): _sum_functional,
    ("sum", "tensor"): _sum_tensor,
    ("sum", "ideal"): _sum_ideal,
    ("sum", "torch"): _sum_torch,
}


# accuracy ---------------------------------------------------------------------


def reference_results(spec: Spec, rt: Runtime, inputs: dict) -> list:
    """``[output, *gradients]`` in float64 on the CPU from the same (rounded)
    inputs: the reference half-precision results are compared with."""
    host = Runtime("cpu")
    inputs64 = {k: rt.to_host(v).astype(np.float64) for k, v in inputs.items()}
    spec64 = spec.replace(dtype="float64", device="cpu")
    return build(spec64, "ideal", host, inputs64).results()


def max_relative_error(results: list, reference: list, rt: Runtime) -> float:
    """Largest normwise relative error over the arrays:
    ``max |r - ref| / max |ref|`` for each pair, then the max over pairs."""
    worst = 0.0
    for r, ref in zip(results, reference):
        r64 = np.asarray(rt.to_host(r), dtype=np.float64)
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        err = float(np.max(np.abs(r64 - ref))) if ref.size else 0.0
        worst = max(worst, err / scale if scale else err)
    return worst
