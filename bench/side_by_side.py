"""Side-by-side ratios of xpgrad against torch eager autograd and NumPy by hand,
measured in one process: thread CPU time, torch on one thread, xpgrad and the
baseline interleaved round by round.

    python bench/side_by_side.py [--rounds N]

Prints one JSON object: for each case, the sorted per-round ratios (xpgrad's
time over the baseline's), and for the two large cases the peak memory of the
forward and backward together over the hand-written version's (tracemalloc).

Cases: a 10-op element-wise chain on 8x8 float64 and ``(a @ b).sum().backward()``
on 2x2, against torch; a training step of an MLP on scikit-learn's digits
(1797x64 -> 64 tanh -> 10, softmax cross-entropy, Adam), against torch.optim.Adam
with ``cross_entropy``; a max-shifted logsumexp over 2048x2048 float32 and
softmax cross-entropy over (8192, 1000) float32 through ``xpgrad.array_api``,
against NumPy by hand. Needs torch and scikit-learn. To compare two versions of
xpgrad, run it once with each on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import numpy as np
import torch
from array_api_compat import array_namespace
from sklearn.datasets import load_digits

import xpgrad
import xpgrad.array_api as xa
from xpgrad._probe import peak_bytes


def chain10(ns, a, b):
    """Ten element-wise calls of namespace ``ns`` (xpgrad.array_api or torch)."""
    t = ns.tanh(ns.add(ns.multiply(a, b), a))
    t = ns.exp(ns.subtract(t, ns.sin(b)))
    return ns.log1p(ns.square(ns.maximum(ns.multiply(t, a), b)))


def mlp_loss(x, labels, w1, b1, w2, b2):
    """Softmax cross-entropy of a one-hidden-layer tanh MLP, as Array API code."""
    ns = array_namespace(x, w1)
    logits = ns.tanh(x @ w1 + b1) @ w2 + b2
    shifted = logits - ns.max(logits, axis=-1, keepdims=True)
    lse = ns.log(ns.sum(ns.exp(shifted), axis=-1, keepdims=True))
    picked = ns.take_along_axis(shifted, ns.expand_dims(labels, axis=-1), axis=-1)
    return ns.mean(lse - picked)


def logsumexp(x):
    m = xa.max(x, axis=-1, keepdims=True)
    return xa.add(m, xa.log(xa.sum(xa.exp(xa.subtract(x, m)), axis=-1, keepdims=True)))


def softmax_ce(x, labels):
    shifted = xa.subtract(x, xa.max(x, axis=-1, keepdims=True))
    lse = xa.log(xa.sum(xa.exp(shifted), axis=-1, keepdims=True))
    picked = xa.take_along_axis(shifted, xa.expand_dims(labels, axis=-1), axis=-1)
    return xa.mean(xa.subtract(lse, picked))


def cases(rng):
    """(name, xpgrad's call, the baseline's call, calls per timing) of each case."""
    a8, b8 = rng.standard_normal((8, 8)), rng.standard_normal((8, 8))
    a2, b2 = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))

    def leaves(make, *arrays):
        return [make(v, requires_grad=True) for v in arrays]

    def x_chain():
        xa.sum(chain10(xa, *leaves(xpgrad.tensor, a8, b8))).backward()

    def t_chain():
        torch.sum(chain10(torch, *leaves(torch.tensor, a8, b8))).backward()

    def x_mm():
        a, b = leaves(xpgrad.tensor, a2, b2)
        (a @ b).sum().backward()

    def t_mm():
        a, b = leaves(torch.tensor, a2, b2)
        (a @ b).sum().backward()

    digits = load_digits()
    x0, y0 = digits.data / 16.0, digits.target
    init = (rng.standard_normal((64, 64)) * 0.1, np.zeros(64), rng.standard_normal((64, 10)) * 0.1,
            np.zeros(10))
    xs, ys = xpgrad.tensor(x0), xpgrad.tensor(y0)
    params = leaves(xpgrad.tensor, *init)
    opt = xpgrad.optim.Adam(params, lr=1e-3)
    tx, ty = torch.tensor(x0), torch.tensor(y0)
    tparams = leaves(torch.tensor, *init)
    topt = torch.optim.Adam(tparams, lr=1e-3)

    def x_mlp():
        opt.zero_grad()
        mlp_loss(xs, ys, *params).backward()
        opt.step()

    def t_mlp():
        topt.zero_grad()
        w1, b1, w2, b2 = tparams
        torch.nn.functional.cross_entropy(torch.tanh(tx @ w1 + b1) @ w2 + b2, ty).backward()
        topt.step()

    big = rng.standard_normal((2048, 2048)).astype(np.float32)
    ones = np.ones((2048, 1), np.float32)
    logits = rng.standard_normal((8192, 1000)).astype(np.float32)
    labels = rng.integers(0, 1000, 8192)
    tlabels = xpgrad.tensor(labels)

    def x_lse():
        x = xpgrad.tensor(big, requires_grad=True)
        logsumexp(x).backward(ones)
        return x.grad

    def n_lse():
        m = big.max(axis=-1, keepdims=True)
        e = big - m
        np.exp(e, out=e)
        s = e.sum(axis=-1, keepdims=True)
        return m + np.log(s), e * (ones / s)  # the value and the gradient

    def x_ce():
        x = xpgrad.tensor(logits, requires_grad=True)
        softmax_ce(x, tlabels).backward()
        return x.grad

    def n_ce():
        n = logits.shape[0]
        e = logits - logits.max(axis=-1, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=-1, keepdims=True)
        e[np.arange(n), labels] -= 1
        e /= n
        return e

    np.testing.assert_allclose(x_lse(), n_lse()[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(x_ce(), n_ce(), rtol=1e-4, atol=1e-7)
    return [
        ("chain10 8x8 / torch", x_chain, t_chain, 300),
        ("matmul 2x2 / torch", x_mm, t_mm, 500),
        ("MLP step / torch", x_mlp, t_mlp, 10),
        ("logsumexp 2048^2 / numpy", x_lse, n_lse, 2),
        ("softmax CE 8192x1000 / numpy", x_ce, n_ce, 2),
    ], {"logsumexp": (x_lse, n_lse), "softmax CE": (x_ce, n_ce)}


def cpu_time(fn, n: int) -> float:
    """Seconds of this thread's CPU per call of ``fn``, over ``n`` calls."""
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n


def peak(fn) -> int:
    gc.collect()
    return peak_bytes(fn)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    timed, large = cases(np.random.default_rng(0))
    for _, fx, ft, n in timed:  # warm up both sides
        cpu_time(fx, min(n, 20))
        cpu_time(ft, min(n, 20))
    out = {}
    for name, fx, ft, n in timed:
        out[name] = sorted(cpu_time(fx, n) / cpu_time(ft, n) for _ in range(args.rounds))
    for name, (fx, fn) in large.items():
        out[f"{name} peak (fwd+bwd) / numpy"] = [peak(fx) / peak(fn)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
