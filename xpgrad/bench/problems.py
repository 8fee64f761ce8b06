"""What is benchmarked: a :class:`Spec` names one computation (an op, its
input shapes, dtype, device and phase), with its useful FLOPs and its
inputs. :mod:`~xpgrad.bench.impls` builds the ways of computing it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math

import numpy as np

from .runtime import Runtime

__all__ = ["ALL_OPS", "APIS", "DIGITS", "HIGHER_OPS", "INPUT_NAMES", "KINDS", "NAMESPACE_OPS",
           "OPS", "PHASES", "ScikitLearnMissing", "Spec", "digits", "make_inputs", "mlp_shapes",
           "output_shape"]

OPS = ("matmul", "linear", "add_bias", "sum")
#: Computations of the ``namespace`` kind, written with ``xpgrad.array_api``'s functions:
#: ``chain10`` is ten element-wise calls on a and b, then a sum (see
#: :func:`xpgrad.bench.impls.chain10`); ``logsumexp`` is over the last axis, with
#: the max subtracted first, keeping that axis; ``softmax_ce`` is the mean
#: softmax cross-entropy of logits x (n, c) against integer labels (n,) (see
#: :func:`xpgrad.bench.impls.softmax_cross_entropy`); ``mlp_step`` is one Adam
#: training step of a tanh MLP on scikit-learn's digits (see
#: :func:`xpgrad.bench.impls.mlp_loss`).
NAMESPACE_OPS = ("chain10", "exp", "tanh", "logsumexp", "softmax_ce", "mlp_step")
#: Computations of the ``higher`` kind, xpgrad's transforms of the scalar
#: ``f(w) = sum(tanh(a @ w) ** 2)`` (see :func:`xpgrad.bench.impls.tanh_square_loss`):
#: ``hvp`` is ``xpgrad.hvp(f, w, v)``, the Hessian times v without forming it;
#: ``hessian`` is ``xpgrad.hessian(f)(w)``, of shape ``w.shape + w.shape``.
HIGHER_OPS = ("hvp", "hessian")
ALL_OPS = OPS + NAMESPACE_OPS + HIGHER_OPS
PHASES = ("forward", "backward", "fwd+bwd")
APIS = ("functional", "tensor", "namespace", "transforms")

#: What each kind of case measures.
KINDS = {
    "gemm": "GEMM-bound square problems",
    "dispatch": "dispatch-bound tiny problems",
    "chain": "Tensor (a @ b).sum().backward(), the autograd round trip",
    "bcast-w": "weight gradient of A (B,m,k) @ W (k,n), backward only",
    "bcast-fwd": "forward of A (B,m,k) @ W (k,n)",
    "bcast-mid": "A (P,1,m,k) @ B (1,Q,k,n): broadcast on both sides",
    "half": "half precision against the namespace's own half matmul",
    "membound": "memory-bound add_bias and sum",
    "namespace": "xpgrad.array_api functions: a 10-op element-wise chain on tiny arrays, "
                 "exp, tanh, logsumexp and a softmax cross-entropy on large ones, and an "
                 "Adam step of an MLP on the digits data set",
    "higher": "xpgrad.hvp at 8x8 and 512x512 and xpgrad.hessian at 8x8 only (a 512x512 "
              "input's Hessian has 512^4 entries, 512 GiB in float64: it does not fit in "
              "memory) of f(W) = sum(tanh(A @ W)^2), against torch.func (jvp of grad; "
              "hessian); their ideal is xpgrad.value_and_grad of the same f (targets: an hvp "
              "at most 4x it, and no slower than torch.func at 512)",
}

#: The inputs of each op, in the order its forward takes them.
INPUT_NAMES = {"matmul": ("a", "b"), "linear": ("x", "w", "b"), "add_bias": ("x", "b"),
               "sum": ("x",), "chain10": ("a", "b"), "exp": ("x",), "tanh": ("x",),
               "logsumexp": ("x",), "softmax_ce": ("x", "labels"),
               "mlp_step": ("x", "labels", "w1", "b1", "w2", "b2"), "hvp": ("a", "w", "v"),
               "hessian": ("a", "w")}

#: (rows, features, classes) of scikit-learn's digits data set, mlp_step's data.
DIGITS = (1797, 64, 10)


class ScikitLearnMissing(ImportError):
    """The ``mlp_step`` case needs scikit-learn for its data set."""


@functools.lru_cache(maxsize=1)
def digits() -> tuple:
    """``(x, labels)`` of scikit-learn's digits: x (1797, 64) float64 scaled
    to [0, 1] (the pixels / 16), labels (1797,) int64 in 0..9.

    Raises
    ------
    ScikitLearnMissing
        If scikit-learn cannot be imported.
    """
    try:
        datasets = importlib.import_module("sklearn.datasets")
    except ImportError as exc:
        raise ScikitLearnMissing(
            "mlp_step: the case trains on scikit-learn's digits data set, and scikit-learn "
            "is not installed; pip install scikit-learn (or leave out mlp_step: "
            "--ops without it)") from exc
    data = datasets.load_digits()
    x, labels = np.asarray(data.data, np.float64) / 16.0, np.array(data.target, np.int64)
    for a in (x, labels):  # shared by every case that asks: nobody writes into them
        a.flags.writeable = False
    return x, labels


@dataclasses.dataclass(frozen=True)
class Spec:
    """One computation to time.

    Parameters
    ----------
    op : str
        One of :data:`ALL_OPS`; those of :data:`NAMESPACE_OPS` go with the
        ``namespace`` kind and api, and only with them; those of
        :data:`HIGHER_OPS` with the ``higher`` kind and the ``transforms`` api.
    kind : str
        A key of :data:`KINDS`; ``"chain"`` is ``(a @ b).sum()`` on matmul's inputs.
    shapes : tuple of tuple of int
        Input shapes, in :data:`INPUT_NAMES` order.
    phase : {"forward", "backward", "fwd+bwd"}
        ``backward`` times the backward alone, on a forward done beforehand.
        The ``higher`` kind's transforms are one call, timed whole in any phase.
    api : {"functional", "tensor", "namespace", "transforms"}
        How xpgrad is called: ``ops.<op>.forward/backward``, the Tensor, the
        functions of ``xpgrad.array_api`` on Tensors, or ``xpgrad.hvp`` and
        ``xpgrad.hessian`` on arrays.
    dtype : str
        ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``.
    device : str
        ``"cpu"`` or ``"cuda:N"``.
    needs : tuple of bool, optional
        Which inputs need a gradient (matmul only); all when None.
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
        for field, value, allowed in (("op", self.op, ALL_OPS), ("kind", self.kind, tuple(KINDS)),
                                      ("phase", self.phase, PHASES), ("api", self.api, APIS)):
            if value not in allowed:
                raise ValueError(f"Spec: unknown {field} {value!r}; expected one of {allowed}")
        if len(self.shapes) != len(INPUT_NAMES[self.op]):
            raise ValueError(f"Spec: {self.op} takes {len(INPUT_NAMES[self.op])} input shapes, "
                             f"got {len(self.shapes)}")
        groups = ((NAMESPACE_OPS, "namespace", "namespace"), (HIGHER_OPS, "higher", "transforms"))
        for ops, kind, api in sorted(groups, key=lambda g: self.op not in g[0]):  # its own first
            together = (self.op in ops, self.kind == kind, self.api == api)
            if any(together) and not all(together):
                pair = f"kind and api {kind!r}" if kind == api else f"kind {kind!r} and api {api!r}"
                raise ValueError(f"Spec: ops {ops} go with {pair}, and only they; got op "
                                 f"{self.op!r}, kind {self.kind!r}, api {self.api!r}")
        object.__setattr__(self, "shapes", tuple(tuple(int(d) for d in s) for s in self.shapes))
        # What the FLOP counts and the hand-written baselines cover:
        if self.op == "chain10" and self.shapes[0] != self.shapes[1]:
            raise ValueError("Spec: chain10 takes two inputs of one shape")
        if self.op == "matmul" and min(len(s) for s in self.shapes) < 2:
            raise ValueError("Spec: matmul benchmarks take operands of 2 or more dimensions")
        if self.op == "linear" and len(self.shapes[0]) != 2:
            raise ValueError("Spec: linear benchmarks take a 2-D x")
        if self.needs is not None and self.op != "matmul":
            raise ValueError("Spec: needs (a gradient subset) is supported for matmul only")
        if self.op == "softmax_ce" and (len(self.shapes[0]) != 2
                                        or self.shapes[1] != self.shapes[0][:1]):
            raise ValueError(f"Spec: softmax_ce takes logits x (n, c) and labels (n,); got "
                             f"{self.shape_text}")
        if self.op == "mlp_step":
            rows, hidden = ((s or (0,))[0] for s in (self.shapes[0], self.shapes[3]))
            if not (0 < rows <= DIGITS[0] and self.shapes == mlp_shapes(rows, hidden)):
                raise ValueError(
                    f"Spec: mlp_step takes x (n, {DIGITS[1]}) with n <= {DIGITS[0]} (the digits "
                    f"data set's rows), labels (n,), w1 ({DIGITS[1]}, h), b1 (h,), "
                    f"w2 (h, {DIGITS[2]}), b2 ({DIGITS[2]},); got {self.shape_text}")
        if self.op in HIGHER_OPS and (len(set(self.shapes)) != 1 or len(self.shapes[0]) != 2
                                      or len(set(self.shapes[0])) != 1):
            raise ValueError(f"Spec: {self.op} takes square (n, n) inputs of one shape; got "
                             f"{self.shape_text}")

    def replace(self, **changes) -> Spec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def grads(self) -> tuple:
        """One flag per input: does it get a gradient (the data and labels of
        ``softmax_ce`` and ``mlp_step`` do not; the higher kind differentiates
        with respect to w alone)."""
        if self.needs is not None:
            return self.needs
        return _CONSTANT_INPUTS.get(self.op, (True,) * len(self.shapes))

    @property
    def shape_text(self) -> str:
        """The shapes as text: ``(2,3)@(3,4)``, ``x(5,3) w(2,3) b(2)``."""
        parts = ["(" + ",".join(map(str, s)) + ")" for s in self.shapes]
        if self.op == "matmul":
            return "@".join(parts)
        text = " ".join(f"{name}{part}" for name, part in zip(INPUT_NAMES[self.op], parts))
        return text + (f" axis {self.axis}" if self.op == "add_bias" else "")

    @property
    def size(self) -> int:
        """The largest dimension of the first input, for plots."""
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
        return {"op": self.op, "kind": self.kind, "phase": self.phase, "api": self.api,
                "shapes": [list(s) for s in self.shapes], "shape": self.shape_text,
                "dtype": self.dtype, "device": self.device, "needs": list(self.grads),
                "size": self.size, "flops": self.flops}


#: Which inputs get a gradient, where not all do.
_CONSTANT_INPUTS = {"softmax_ce": (True, False), "mlp_step": (False, False, True, True, True, True),
                    "hvp": (False, True, False), "hessian": (False, True)}
#: Ops whose output is a scalar loss, whose backward is seeded with 1 (no ``"g"`` input).
_SEEDED = ("chain10", "softmax_ce", "mlp_step")
#: Ops with no upstream gradient ``"g"``: the scalar losses, and the transforms,
#: which seed their own backward passes.
_NO_UPSTREAM = _SEEDED + HIGHER_OPS


def mlp_shapes(rows: int, hidden: int) -> tuple:
    """The input shapes of ``mlp_step``: the first ``rows`` of the digits data
    set, a tanh layer of ``hidden`` units, then one logit per class."""
    _, features, classes = DIGITS
    return ((rows, features), (rows,), (features, hidden), (hidden,), (hidden, classes),
            (classes,))


def output_shape(spec: Spec) -> tuple:
    """Shape of the op's output (the upstream gradient's shape)."""
    s = spec.shapes
    if spec.kind == "chain" or spec.op in ("sum",) + _SEEDED:
        return ()
    if spec.op == "hvp":
        return s[1]
    if spec.op == "hessian":
        return s[1] + s[1]
    if spec.op == "logsumexp":
        return s[0][:-1] + (1,)
    if spec.op == "matmul":
        return tuple(np.broadcast_shapes(s[0][:-2], s[1][:-2])) + (s[0][-2], s[1][-1])
    if spec.op == "linear":
        return s[0][:-1] + (s[1][0],)
    return s[0]


#: (forward, backward) FLOPs per element of the namespace ops, one per
#: arithmetic op or function call on an element: chain10's ten calls and the
#: sum, and its hand-derived gradient's 20 (the ``ideal`` builder's); exp's
#: G * out; tanh's G * (1 - out^2); logsumexp's max, x - m, exp and sum, then
#: G / s * e; softmax_ce's max, x - m, exp and sum (the per-row log, pick and
#: mean are not counted), then e / s less the one-hot.
_NAMESPACE_FLOPS = {"chain10": (11, 20), "exp": (1, 1), "tanh": (1, 3), "logsumexp": (4, 2),
                    "softmax_ce": (4, 1)}
#: FLOPs per parameter element of one Adam update: the two moments (3 and 4),
#: the square root, its scaling and eps, the division, the step's scaling and
#: the subtraction.
ADAM_FLOPS = 12


def _mlp_flops(spec: Spec) -> tuple[int, int]:
    """mlp_step: the forward's two GEMMs, biases, tanh and softmax
    cross-entropy; the backward's three GEMMs (no gradient for the data), the
    bias sums, tanh's derivative, the softmax less the one-hot, and the Adam
    update of every parameter."""
    (rows, features), hidden, classes = spec.shapes[0], spec.shapes[3][0], spec.shapes[5][0]
    fwd = 2 * rows * hidden * (features + classes) + 2 * rows * hidden + 5 * rows * classes
    params = sum(math.prod(s) for s in spec.shapes[2:])
    bwd = (2 * rows * hidden * (features + 2 * classes) + 4 * rows * hidden + 2 * rows * classes
           + ADAM_FLOPS * params)
    return fwd, bwd


def _higher_flops(spec: Spec) -> tuple[int, int]:
    """hvp and hessian, as derived by hand (see
    :func:`xpgrad.bench.impls.higher_reference`): the "forward" is the
    value, ``z = a @ w``, tanh, the square and the sum; the "backward" the
    rest. hvp: ``a @ v``, ``s''(z) = 2 (1 - t^2) (1 - 3 t^2)`` (5 per element),
    its product with ``a @ v`` and ``a.T @`` that. hessian: s''(z), then per
    column j of w the block ``a.T @ (s''(z)[:, j:j+1] * a)``."""
    n = spec.shapes[1][0]
    fwd = 2 * n ** 3 + 3 * n * n
    if spec.op == "hvp":
        return fwd, 4 * n ** 3 + 6 * n * n
    return fwd, 2 * n ** 4 + n ** 3 + 5 * n * n


def _flops(spec: Spec) -> tuple[int, int]:
    s, need = spec.shapes, spec.grads
    if spec.op == "mlp_step":
        return _mlp_flops(spec)
    if spec.op in HIGHER_OPS:
        return _higher_flops(spec)
    if spec.op in _NAMESPACE_FLOPS:
        size = math.prod(s[0])
        return tuple(size * k for k in _NAMESPACE_FLOPS[spec.op])
    if spec.op == "matmul":
        batch = math.prod(np.broadcast_shapes(s[0][:-2], s[1][:-2]))
        m, k, n = s[0][-2], s[0][-1], s[1][-1]
        gemm = 2 * batch * m * k * n
        return gemm + (batch * m * n if spec.kind == "chain" else 0), gemm * sum(need)
    if spec.op == "linear":
        rows, fan_in, fan_out = math.prod(s[0][:-1]), s[0][-1], s[1][0]
        gemm, bias = 2 * rows * fan_in * fan_out, rows * fan_out
        return gemm + bias, gemm * (need[0] + need[1]) + bias * need[2]
    size = math.prod(s[0])
    return size, size * need[1] if spec.op == "add_bias" else 0  # sum's backward is a view


def make_inputs(spec: Spec, rt: Runtime, seed: int = 0) -> dict:
    """The inputs of ``spec`` on ``rt``'s device, the same for every implementation.

    Values are uniform in [-1, 1), drawn in float64 from ``seed`` and then
    rounded to the dtype. ``"g"`` is the upstream gradient (absent for the
    ``chain`` kind and the ops whose output is a scalar loss, seeded with 1:
    chain10, softmax_ce, mlp_step; and for the higher kind, whose transforms
    seed their own). softmax_ce's labels are uniform integers in [0, c).
    mlp_step's x and labels are the first rows of :func:`digits`; its
    weights and biases are uniform in ±1/sqrt(fan_in), as torch.nn.Linear
    starts them. The higher kind's a is uniform in ±1/sqrt(n), so that
    ``a @ w`` stays where tanh is not flat and the Hessian is not near zero.

    Raises
    ------
    TypeError
        If the device's library has no such dtype.
    ScikitLearnMissing
        For mlp_step, if scikit-learn is not installed.
    """
    dtype = rt.dtype(spec.dtype)
    if dtype is None:
        raise TypeError(f"make_inputs: {rt.missing_dtype_reason(spec.dtype)}")
    rng = np.random.default_rng(seed)
    shapes = dict(zip(INPUT_NAMES[spec.op], spec.shapes))
    if spec.op == "mlp_step":
        x, labels = digits()
        rows, fan_in = spec.shapes[0]
        hidden = spec.shapes[3][0]
        bounds = {"w1": fan_in, "b1": fan_in, "w2": hidden, "b2": hidden}
        out = {name: rt.asarray(rng.uniform(-1.0, 1.0, shapes[name]) / math.sqrt(fan), dtype)
               for name, fan in bounds.items()}
        return {"x": rt.asarray(x[:rows], dtype), "labels": rt.asarray(labels[:rows], np.int64),
                **out}
    labels = shapes.pop("labels", None)
    if spec.kind != "chain" and spec.op not in _NO_UPSTREAM:
        shapes["g"] = output_shape(spec)
    scale = {"a": 1 / math.sqrt(spec.shapes[0][1])} if spec.op in HIGHER_OPS else {}
    out = {name: rt.asarray(rng.uniform(-1.0, 1.0, shape) * scale.get(name, 1.0), dtype)
           for name, shape in shapes.items()}
    if labels is not None:  # softmax_ce
        out["labels"] = rt.asarray(rng.integers(0, spec.shapes[0][1], labels), np.int64)
    return out
