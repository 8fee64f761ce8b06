"""Array-API code that knows nothing of xpgrad, differentiated end to end.

Each function below is written the way scipy and scikit-learn write theirs:
``xp = array_namespace(x)`` and the standard's functions only. Run on
xpgrad Tensors it records a graph; run on torch tensors (through
array-api-compat's torch namespace) torch autograd differentiates the very
same code. The two gradients must agree to float64 round-off, on every
backend xpgrad runs. The same holds for real library code:
``scipy.special`` (with ``SCIPY_ARRAY_API=1``, set in conftest.py),
``array_api_extra`` and scikit-learn's pairwise kernels under
``array_api_dispatch``.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from tests.subsets import backend_cases
from tests.support import backend_params, host, rel_err

# JAX compiles each op at each shape: half of its cases here in a plain run,
# all with --backend jax (tests/conftest.py)
pytestmark = pytest.mark.jax_sample(2)

torch = pytest.importorskip("torch")
array_api_compat = pytest.importorskip("array_api_compat")
array_namespace = array_api_compat.array_namespace

RTOL = 1e-9


# -- generic array-API functions, in the style of scipy and scikit-learn ------


def softmax_cross_entropy(logits, labels):
    xp = array_namespace(logits)
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    onehot = xp.asarray(labels[:, None] == xp.arange(logits.shape[1], device=logits.device)[None, :],
                        dtype=logits.dtype)
    return -xp.sum(onehot * log_p) / logits.shape[0]


def standardize(x):
    xp = array_namespace(x)
    mu = xp.mean(x, axis=0, keepdims=True)
    sd = xp.std(x, axis=0, keepdims=True, correction=1)
    return (x - mu) / sd


def rbf(x, y, gamma=0.5):
    xp = array_namespace(x, y)
    d2 = xp.sum(x * x, axis=1)[:, None] + xp.sum(y * y, axis=1)[None, :] - 2.0 * (x @ y.T)
    return xp.exp(-gamma * xp.clip(d2, 0.0, None))


def huber(r, delta=0.7):
    xp = array_namespace(r)
    a = xp.abs(r)
    return xp.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def logsumexp_rows(a):
    """The max trick, with the non-finite maxima zeroed by item assignment
    (as scipy.special.logsumexp does)."""
    xp = array_namespace(a)
    m = xp.max(a, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    return xp.log(xp.sum(xp.exp(a - m), axis=-1)) + m[..., 0]


def layer_norm(x, eps=1e-5):
    xp = array_namespace(x)
    centred = x - xp.mean(x, axis=-1, keepdims=True)
    return centred / xp.sqrt(xp.var(x, axis=-1, keepdims=True) + eps)


def normalize_rows(x):
    xp = array_namespace(x)
    return x / xp.linalg.vector_norm(x, axis=1, keepdims=True)


def gather_and_slice(x, idx):
    xp = array_namespace(x)
    rows = xp.take(x, idx, axis=0)
    return xp.cumulative_sum(xp.flip(rows, axis=0)[:, 1:], axis=1) * x[0, ...][None, 1:]


def softplus_mix(x, y):
    xp = array_namespace(x, y)
    return xp.logaddexp(xp.zeros_like(x), x) * xp.tanh(y) + xp.maximum(x, y) ** 2


def poly_features(x):
    xp = array_namespace(x)
    return xp.concat([x, x**2, xp.sin(x)], axis=1) @ xp.ones((3 * x.shape[1], 2), dtype=x.dtype, device=x.device)


def pairwise_cosine(x):
    xp = array_namespace(x)
    n = xp.linalg.vector_norm(x, axis=1)
    return xp.tril((x @ xp.matrix_transpose(x)) / (n[:, None] * n[None, :]))


def gram_trace(x):
    xp = array_namespace(x)
    g = xp.tensordot(x, x, axes=([0], [0]))
    return xp.sum(g * xp.eye(g.shape[0], dtype=x.dtype, device=x.device)) + xp.prod(xp.exp(x[0, :] * 0.1))


# One input shape throughout: JAX compiles each primitive once per shape.
CASES = {
    "softmax_cross_entropy": (softmax_cross_entropy, [(5, 3)], "labels"),
    "standardize": (standardize, [(5, 3)], None),
    "rbf": (rbf, [(5, 3), (4, 3)], None),
    "huber": (huber, [(5, 3)], None),
    "logsumexp_rows": (logsumexp_rows, [(5, 3)], None),
    "layer_norm": (layer_norm, [(5, 3)], None),
    "normalize_rows": (normalize_rows, [(5, 3)], None),
    "gather_and_slice": (gather_and_slice, [(5, 3)], "indices"),
    "softplus_mix": (softplus_mix, [(5, 3), (5, 3)], None),
    "poly_features": (poly_features, [(5, 3)], None),
    "pairwise_cosine": (pairwise_cosine, [(5, 3)], None),
    "gram_trace": (gram_trace, [(5, 3)], None),
}
# Each function used here has its own check on JAX in the per-function
# files; end to end, JAX takes the compositions with the most JAX-specific
# paths: item assignment, gathers, a matmul with a clip, reductions with ddof.
JAX_CASES = ("logsumexp_rows", "gather_and_slice", "rbf", "standardize", "pairwise_cosine")


def _inputs(shapes, extra, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    if extra == "labels":
        return arrays, [rng.integers(0, shapes[0][1], size=shapes[0][0])]
    if extra == "indices":
        return arrays, [np.array([4, 0, 2, 2])]
    return arrays, []


def _xpgrad_grads(fn, arrays, consts, backend, upstream_seed=1):
    leaves = [xpgrad.tensor(backend.asarray(a), requires_grad=True) for a in arrays]
    args = leaves + [xpgrad.tensor(backend.asarray(c)) for c in consts]
    out = fn(*args)
    g = np.random.default_rng(upstream_seed).standard_normal(out.shape)
    out.backward(backend.asarray(g))
    for leaf in leaves:  # a gradient has its input's shape, dtype and library
        assert leaf.grad is not None and tuple(leaf.grad.shape) == leaf.shape
        assert type(leaf.grad) is type(leaf.data) and leaf.dtype == leaf.grad.dtype
    return host(out), [host(leaf.grad) for leaf in leaves]


def _torch_grads(fn, arrays, consts, upstream_seed=1):
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves, *[torch.tensor(c) for c in consts])
    g = np.random.default_rng(upstream_seed).standard_normal(tuple(out.shape))
    out.backward(torch.tensor(g))
    return out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves]


@pytest.mark.parametrize(
    "backend, name",
    backend_cases(sorted(CASES), sorted(CASES), ("numpy", "array_api_strict", "torch", "jax"), jax=JAX_CASES),
    indirect=["backend"],
)
def test_generic_function_gradients_match_torch(name, backend):
    fn, shapes, extra = CASES[name]
    arrays, consts = _inputs(shapes, extra)
    out, grads = _xpgrad_grads(fn, arrays, consts, backend)
    ref_out, ref_grads = _torch_grads(fn, arrays, consts)
    assert rel_err(out, ref_out) <= RTOL
    for g, r in zip(grads, ref_grads):
        assert rel_err(g, r) <= RTOL, (name, g, r)


@pytest.mark.parametrize("name", ["standardize", "rbf", "huber", "layer_norm", "softplus_mix"])
def test_generic_function_gradients_on_dask(name):
    da = pytest.importorskip("dask.array")
    fn, shapes, extra = CASES[name]
    arrays, consts = _inputs(shapes, extra)
    leaves = [xpgrad.tensor(da.from_array(a, chunks=2), requires_grad=True) for a in arrays]
    out = fn(*leaves)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(da.from_array(g, chunks=2))
    ref_out, ref_grads = _torch_grads(fn, arrays, consts)
    assert rel_err(host(out), ref_out) <= RTOL
    for leaf, r in zip(leaves, ref_grads):
        assert isinstance(leaf.grad, da.Array)
        assert rel_err(host(leaf.grad), r) <= RTOL


# -- real library code ----------------------------------------------------------


def _library_case(fn, shapes, backend, seed=0):
    arrays = [np.random.default_rng(seed + i).standard_normal(s) for i, s in enumerate(shapes)]
    out, grads = _xpgrad_grads(fn, arrays, [], backend)
    try:
        ref_out, ref_grads = _torch_grads(fn, arrays, [])
    except RuntimeError as exc:
        # Some library code writes into arrays it has already used, which torch
        # autograd refuses; xpgrad keeps each op on the version it read. The
        # reference is then central differences.
        assert "modified by an inplace operation" in str(exc)
        assert xpgrad.testing.gradcheck(fn, *[backend.asarray(a) for a in arrays])
        return
    assert rel_err(out, ref_out) <= RTOL
    for g, r in zip(grads, ref_grads):
        assert rel_err(g, r) <= RTOL


def _scipy_special():
    special = pytest.importorskip("scipy.special")
    from scipy._lib._array_api import SCIPY_ARRAY_API

    if not SCIPY_ARRAY_API:
        pytest.skip("scipy was imported before SCIPY_ARRAY_API=1 was set")
    return special


SCIPY_CASES = {
    "logsumexp": (lambda s: (lambda a: s.logsumexp(a, axis=1)), [(3, 5)]),
    "logsumexp_all": (lambda s: (lambda a: s.logsumexp(a)), [(4, 3)]),
    "logsumexp_b": (lambda s: (lambda a, b: s.logsumexp(a, axis=0, b=b * b)), [(4, 3), (4, 3)]),
    "softmax": (lambda s: (lambda a: s.softmax(a, axis=1)), [(3, 5)]),
    "log_softmax": (lambda s: (lambda a: s.log_softmax(a, axis=0)), [(3, 5)]),
}


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")), indirect=True)
@pytest.mark.parametrize("name", sorted(SCIPY_CASES))
def test_scipy_special_gradients_match_torch(name, backend):
    make, shapes = SCIPY_CASES[name]
    _library_case(make(_scipy_special()), shapes, backend)


XPX_CASES = {
    "cov": (lambda x: x.cov, [(3, 6)]),
    "sinc": (lambda x: x.sinc, [(7,)]),
    "kron": (lambda x: x.kron, [(2, 3), (3, 2)]),
    "atleast_nd": (lambda x: (lambda a: x.atleast_nd(a, ndim=3) * 2.0), [(4,)]),
    "pad": (lambda x: (lambda a: x.pad(a, 1) ** 2), [(3, 2)]),
    "create_diagonal": (lambda x: (lambda a: x.create_diagonal(a * a, offset=1)), [(4,)]),
}


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")), indirect=True)
@pytest.mark.parametrize("name", sorted(XPX_CASES))
def test_array_api_extra_gradients_match_torch(name, backend):
    xpx = pytest.importorskip("array_api_extra")
    make, shapes = XPX_CASES[name]
    _library_case(make(xpx), shapes, backend)


SKLEARN_KERNELS = ("rbf_kernel", "polynomial_kernel", "linear_kernel", "sigmoid_kernel",
                   "euclidean_distances", "cosine_similarity")


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
@pytest.mark.parametrize("name", SKLEARN_KERNELS)
def test_sklearn_pairwise_kernels_match_torch(name, backend):
    sklearn = pytest.importorskip("sklearn")
    _scipy_special()  # scikit-learn's array API support needs SCIPY_ARRAY_API=1 too
    from sklearn.metrics import pairwise

    kernel = getattr(pairwise, name)
    with sklearn.config_context(array_api_dispatch=True):
        _library_case(lambda x, y: kernel(x, y), [(5, 3), (4, 3)], backend)


def test_unsupported_function_names_itself(monkeypatch):
    import xpgrad.array_api as xp

    assert callable(xp.fft.fft)  # the fft extension is there now
    monkeypatch.setattr(xp, "_STANDARD", xp._STANDARD | {"a_later_name"})
    with pytest.raises(AttributeError, match="a_later_name.*not differentiable in xpgrad yet"):
        xp.a_later_name  # noqa: B018 - the lookup under test
