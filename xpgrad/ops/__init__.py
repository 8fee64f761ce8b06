"""Gradient rules: pure functions of arrays, one class per op.

Each rule has ``forward(*inputs, **params) -> (out, ctx)`` and
``backward(grad_out, ctx) -> tuple`` with one gradient per differentiable
input (``None`` where there is none). Rules are written once against the
inputs' namespace (see :func:`xpgrad.get_namespace`) and need no Tensor.

Two things a caller of the functional rules should know, both there to avoid
copies:

- ``ctx`` keeps references to the inputs, not copies: changing an input in
  place between ``forward`` and ``backward`` changes the gradient.
- A returned gradient may be ``grad_out`` itself, a view of it, a broadcast
  view (read-only on NumPy), or the same array as another input's gradient
  (``add`` of two same-shaped arrays). Copy it before writing into it. The
  Tensor does this for you: each leaf's ``.grad`` is its own array.

>>> import numpy as np
>>> from xpgrad import ops
>>> out, ctx = ops.matmul.forward(np.ones((2, 3)), np.ones((3, 4)))
>>> grad_a, grad_b = ops.matmul.backward(np.ones_like(out), ctx)
>>> grad_a.shape, grad_b.shape
((2, 3), (3, 4))
"""

from ._common import Ctx
from .elementwise import add, add_bias, div, mul, neg, pow, sub
from .linalg import linear, matmul
from .reduction import mean, sum
from .shape import permute_dims, reshape, to_device

__all__ = [
    "Ctx",
    "add",
    "add_bias",
    "div",
    "linear",
    "matmul",
    "mean",
    "mul",
    "neg",
    "permute_dims",
    "pow",
    "reshape",
    "sub",
    "sum",
    "to_device",
]
