"""Gradient rules: pure functions of arrays, one class per op.

Each rule has ``forward(*inputs, **params) -> (out, ctx)`` and
``backward(grad_out, ctx) -> tuple`` with one gradient per differentiable
input (``None`` where there is none). Rules are written once against the
inputs' namespace (see :func:`xpgrad.get_namespace`) and need no Tensor.

Writing a rule
--------------
A rule is a class named for its op, derived from :class:`Rule` (which
declares its argument names for the error messages), in one of three forms:

- element-wise binary: subclass :class:`Binary` and write ``compute(xp, a, b)``
  and the two gradients at the output's shape; the template reduces each
  with :func:`xpgrad.sum_to` and casts it to its input's dtype::

      class mul(Binary):
          \"\"\"``out = a * b``; da = G * conj(b), db = G * conj(a).\"\"\"

          saves = ("a", "b")  # what the gradients read

          @staticmethod
          def compute(xp, a, b):
              return a * b

          @staticmethod
          def grad_a(xp, g, s):  # s: the saved Operands(a, b, out, ...)
              return g * conj(xp, s.b)

          @staticmethod
          def grad_b(xp, g, s):
              return g * conj(xp, s.a)

- element-wise unary: subclass :class:`Unary` with ``compute(xp, x)`` and
  ``grad(xp, g, s)`` (see ``neg``);
- anything else (``matmul``, ``sum``, ``reshape``): write ``forward`` and
  ``backward`` yourself. The forward calls ``resolve(op, *arrays)`` first
  (namespace, device scope, and every argument check), saves what the
  backward needs in a NamedTuple of its own, and returns
  ``Ctx(op, xp, scope, saved, needs_input_grad, out_shape)``; the backward
  calls ``check_grad(op, grad_out, ctx)`` first, then does its math under
  ``with ctx.scope``. Every gradient of a broadcast input goes through
  ``sum_to`` (or is a fold of batch axes into a GEMM, documented in place).

Add the rule to ``__all__`` here, give the Tensor an operator or method for
it if it has one, and test it on every backend (``tests/test_rules.py``:
finite differences, torch autograd, golden values).

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

from ._common import Ctx, Rule
from .elementwise import Binary, Unary, add, add_bias, div, mul, neg, pow, sub
from .linalg import (
    cholesky,
    cross,
    det,
    diagonal,
    eigh,
    eigvalsh,
    inv,
    linear,
    matmul,
    slogdet,
    solve,
    svdvals,
    tensordot,
    trace,
    vecdot,
    vector_norm,
)
from .math import (
    abs,
    acos,
    acosh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    clip,
    conj,
    copysign,
    cos,
    cosh,
    exp,
    expm1,
    hypot,
    imag,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    maximum,
    minimum,
    real,
    reciprocal,
    remainder,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    tan,
    tanh,
    where,
)
from .reduction import cumulative_prod, cumulative_sum, max, mean, min, prod, std, sum, var
from .indexing import getitem, repeat, setitem, take, take_along_axis, tile
from .shape import (
    astype,
    broadcast_to,
    concat,
    expand_dims,
    flip,
    permute_dims,
    reshape,
    roll,
    squeeze,
    stack,
    to_device,
    tril,
    triu,
)

__all__ = [
    "Binary",
    "Ctx",
    "Rule",
    "Unary",
    "abs",
    "acos",
    "acosh",
    "add",
    "add_bias",
    "asin",
    "asinh",
    "astype",
    "atan",
    "atan2",
    "atanh",
    "broadcast_to",
    "cholesky",
    "clip",
    "concat",
    "conj",
    "copysign",
    "cos",
    "cosh",
    "cross",
    "cumulative_prod",
    "cumulative_sum",
    "det",
    "diagonal",
    "div",
    "eigh",
    "eigvalsh",
    "exp",
    "expand_dims",
    "expm1",
    "flip",
    "getitem",
    "hypot",
    "imag",
    "inv",
    "linear",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "permute_dims",
    "pow",
    "prod",
    "real",
    "reciprocal",
    "remainder",
    "repeat",
    "reshape",
    "roll",
    "setitem",
    "sign",
    "sin",
    "sinh",
    "slogdet",
    "solve",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "svdvals",
    "take",
    "take_along_axis",
    "tan",
    "tanh",
    "tensordot",
    "tile",
    "to_device",
    "trace",
    "tril",
    "triu",
    "var",
    "vecdot",
    "vector_norm",
    "where",
]
