"""The cases ``xpgrad bench`` runs, and the presets that size them.

Per device and float32/float64 dtype: the dispatch-bound matmul and linear
pairs at 2x2, 8x8 and 32x64 with the Tensor ``chain`` at the same shapes;
square GEMMs; the broadcast matmuls; add_bias and sum. Per half dtype:
matmul and linear against the namespace's own half matmul. The
``namespace`` kind runs ``xpgrad.array_api``'s functions: the ten-call
element-wise chain at 2x2 and 8x8 in float64 (dispatch-bound), exp, tanh
and logsumexp on (n, n) float32 arrays and the softmax cross-entropy of
(8192, 1000) float32 logits (memory-bound), and one Adam step of a tanh MLP
on the digits data set in float64 (small GEMMs and dispatch). The
``higher`` kind runs ``xpgrad.hvp`` on (n, n) inputs at 8 and 512 and
``xpgrad.hessian`` at 8 only, in float32 and float64, in every preset. See
:data:`~xpgrad.bench.problems.KINDS`.
"""

from __future__ import annotations

import dataclasses

from .problems import ALL_OPS, DIGITS, INPUT_NAMES, KINDS, Spec, mlp_shapes
from .runtime import HALF_DTYPES

__all__ = ["CHAIN10_SIZES", "DISPATCH_SHAPES", "HESSIAN_SIZES", "HVP_SIZES", "PRESETS", "Preset",
           "cli_specs", "higher_spec", "mlp_spec", "namespace_spec", "op_spec", "softmax_ce_spec"]

#: (m, k, n) of the dispatch-bound problems.
DISPATCH_SHAPES = ((2, 2, 2), (8, 8, 8), (32, 64, 32))
#: n of the (n, n) inputs of the namespace's element-wise chain.
CHAIN10_SIZES = (2, 8)
#: n of the (n, n) a, w and v of the higher kind's hvp: tiny and medium.
HVP_SIZES = (8, 512)
#: n of the higher kind's hessian, tiny only: the Hessian of an (n, n) input
#: has n^4 entries, 512 GiB in float64 at n = 512.
HESSIAN_SIZES = (8,)


@dataclasses.dataclass(frozen=True)
class Preset:
    """Sizes and timing effort of one run.

    Attributes
    ----------
    gemm_sizes : tuple of int
        n of the (n, n) @ (n, n) GEMM-bound problems.
    bcast_batches : tuple of int
        B of A (B, 128, 128) @ W (128, 128).
    half_sizes : tuple of int
        n of the half-precision problems (NumPy's own float16 matmul takes
        about 0.1 s at 256 and 1 s at 512 on two cores).
    membound_sizes : tuple of int
        n of the (n, n) add_bias and sum problems.
    conv_bias : bool
        Also add_bias on an (N, C, H, W) activation along axis 1.
    namespace_sizes : tuple of int
        n of the (n, n) float32 exp, tanh and logsumexp of the namespace kind.
    softmax_ce_shapes : tuple of (int, int)
        (rows, classes) of the float32 logits of the namespace kind's softmax_ce.
    mlp_hidden : tuple of int
        Hidden units of the namespace kind's mlp_step (float64, on all of
        the digits data set).
    passes, rounds, min_rounds, min_time, budget, pause
        See :class:`xpgrad.bench.runner.Runner`: the rounds and the budget
        (seconds) are those of one case in one pass.
    """

    name: str
    gemm_sizes: tuple
    bcast_batches: tuple
    half_sizes: tuple
    membound_sizes: tuple
    conv_bias: bool = True
    namespace_sizes: tuple = (2048,)
    softmax_ce_shapes: tuple = ((8192, 1000),)
    mlp_hidden: tuple = (64,)
    passes: int = 4
    rounds: int = 6
    min_rounds: int = 2
    min_time: float = 0.01
    budget: float = 1.5
    pause: float = 0.3


PRESETS = {
    "quick": Preset("quick", gemm_sizes=(256, 1024), bcast_batches=(256,), half_sizes=(128,),
                    membound_sizes=(2, 1024), conv_bias=False, min_rounds=5,
                    min_time=0.003, budget=0.5, pause=0.2),
    "standard": Preset("standard", gemm_sizes=(128, 256, 512, 1024, 2048),
                       bcast_batches=(16, 64, 256), half_sizes=(64, 128, 256),
                       membound_sizes=(2, 256, 1024, 2048)),
    "full": Preset("full", gemm_sizes=(128, 256, 512, 1024, 2048, 4096),
                   bcast_batches=(16, 64, 256), half_sizes=(64, 128, 256),
                   membound_sizes=(2, 256, 1024, 4096)),
}


def op_spec(op: str, mkn, *, kind: str | None = None, **fields) -> Spec:
    """The :class:`Spec` of ``op`` on the (m, k, n) problem.

    matmul is (m, k) @ (k, n); linear is x (m, k), w (n, k), b (n,);
    add_bias is x (m, n) with b (n,) on axis 1; sum is x (m, n).

    Parameters
    ----------
    op : str
    mkn : tuple of 3 int
    kind : str, optional
        Default: ``dispatch`` when every dimension is at most 64, else
        ``gemm`` for matmul and linear and ``membound`` for the others.
    **fields
        Other :class:`Spec` fields (phase, api, dtype, device).
    """
    m, k, n = mkn
    shapes = {
        "matmul": ((m, k), (k, n)),
        "linear": ((m, k), (n, k), (n,)),
        "add_bias": ((m, n), (n,)),
        "sum": ((m, n),),
    }[op]
    if kind is None:
        kind = ("dispatch" if max(mkn) <= 64
                else "gemm" if op in ("matmul", "linear") else "membound")
    return Spec(op, kind, shapes, **fields)


def namespace_spec(op: str, n: int, **fields) -> Spec:
    """The ``namespace`` kind's :class:`Spec` of ``op`` on (n, n) inputs
    (``fields``: phase, dtype, device)."""
    shapes = ((n, n), (n, n)) if op == "chain10" else ((n, n),)
    return Spec(op, "namespace", shapes, api="namespace", **fields)


def softmax_ce_spec(rows: int, classes: int, **fields) -> Spec:
    """The ``namespace`` kind's :class:`Spec` of ``softmax_ce`` on (rows,
    classes) logits (``fields``: phase, dtype, device)."""
    return Spec("softmax_ce", "namespace", ((rows, classes), (rows,)), api="namespace", **fields)


def mlp_spec(hidden: int, rows: int = DIGITS[0], **fields) -> Spec:
    """The ``namespace`` kind's :class:`Spec` of ``mlp_step``: ``hidden``
    tanh units, trained on the first ``rows`` of the digits data set
    (``fields``: dtype, device)."""
    return Spec("mlp_step", "namespace", mlp_shapes(rows, hidden), api="namespace", **fields)


def higher_spec(op: str, n: int, **fields) -> Spec:
    """The ``higher`` kind's :class:`Spec` of ``op`` (hvp or hessian) on
    (n, n) a, w (and hvp's v) (``fields``: dtype, device)."""
    count = len(INPUT_NAMES[op])
    return Spec(op, "higher", ((n, n),) * count, api="transforms", **fields)


def _device_dtype_specs(preset: Preset, device: str, dtype: str) -> list:
    common = {"device": device, "dtype": dtype}
    if dtype in HALF_DTYPES:
        specs = []
        for n in preset.half_sizes:
            specs.append(op_spec("matmul", (n, n, n), kind="half", **common))
            specs.append(op_spec("linear", (n, n, n), kind="half", **common))
        return specs
    specs = []
    for mkn in DISPATCH_SHAPES:
        specs.append(op_spec("matmul", mkn, **common))
        specs.append(op_spec("linear", mkn, **common))
        specs.append(op_spec("matmul", mkn, kind="chain", api="tensor", **common))
    for n in preset.gemm_sizes:
        specs.append(op_spec("matmul", (n, n, n), **common))
        specs.append(op_spec("linear", (n, n, n), **common))
    for b in preset.bcast_batches:
        specs.append(Spec("matmul", "bcast-w", ((b, 128, 128), (128, 128)), phase="backward",
                          needs=(False, True), **common))
    specs.append(Spec("matmul", "bcast-fwd", ((256, 128, 128), (128, 128)), phase="forward",
                      **common))
    specs.append(Spec("matmul", "bcast-mid", ((8, 1, 64, 64), (1, 16, 64, 64)), **common))
    for n in preset.membound_sizes:
        specs.append(op_spec("add_bias", (n, n, n), kind="membound", **common))
        specs.append(op_spec("sum", (n, n, n), kind="membound", **common))
    if preset.conv_bias:
        specs.append(Spec("add_bias", "membound", ((16, 64, 32, 32), (64,)), **common))
    if dtype == "float64":
        specs += [namespace_spec("chain10", n, **common) for n in CHAIN10_SIZES]
        specs += [mlp_spec(h, **common) for h in preset.mlp_hidden]
    if dtype == "float32":
        specs += [namespace_spec(op, n, **common) for n in preset.namespace_sizes
                  for op in ("exp", "tanh", "logsumexp")]
        specs += [softmax_ce_spec(*shape, **common) for shape in preset.softmax_ce_shapes]
    specs += [higher_spec("hvp", n, **common) for n in HVP_SIZES]
    specs += [higher_spec("hessian", n, **common) for n in HESSIAN_SIZES]
    return specs


def cli_specs(preset: Preset, devices, dtypes, ops=ALL_OPS, kinds=None,
              max_size: int | None = None) -> list:
    """The cases of one run, devices outermost.

    Parameters
    ----------
    preset : Preset
    devices, dtypes : sequences of str
    ops : sequence of str
        Keep cases of these ops (``chain`` and the broadcast cases are matmul).
    kinds : sequence of str, optional
        Keep cases of these kinds (keys of :data:`~xpgrad.bench.problems.KINDS`).
    max_size : int, optional
        Drop cases with a dimension larger than this.

    Returns
    -------
    list of Spec
    """
    kinds = tuple(KINDS) if kinds is None else tuple(kinds)
    specs = []
    for device in devices:
        for dtype in dtypes:
            for spec in _device_dtype_specs(preset, str(device), dtype):
                if spec.op not in ops or spec.kind not in kinds:
                    continue
                if max_size is not None and max(max(s) for s in spec.shapes) > max_size:
                    continue
                specs.append(spec)
    return specs
