"""Gradient rules: pure functions of arrays, one class per op.

Each rule has ``forward(*inputs, **params) -> (out, ctx)`` and
``backward(grad_out, ctx) -> tuple`` with one gradient per differentiable
input (``None`` where there is none). Rules are written once against the
inputs' namespace (see :func:`xpgrad.get_namespace`) and need no Tensor.

Writing a rule
--------------
A rule is a class named for its op, derived from :class:`Rule`, the harness
that owns everything but the math: argument names for the error messages,
the device scope, renaming the array library's errors, the ctx, the checks
at the top of the backward and the early exit for inputs that need no
gradient. It comes in three forms:

- element-wise binary: subclass :class:`Binary`, name the function of the
  standard it is, name what the gradients read, and write ``compute(xp, a, b)``
  and the two gradients at the output's shape; the template reduces each
  with :func:`xpgrad.sum_to` and casts it to its input's dtype::

      class mul(Binary):
          \"\"\"``out = a * b``; da = G * conj(b), db = G * conj(a).\"\"\"

          standard = "multiply"  # xpgrad.array_api.multiply, with this docstring
          saves = ("a", "b")  # what the gradients read (of a, b, out)

          @staticmethod
          def compute(xp, a, b):
              return a * b

          @staticmethod
          def grad_a(xp, g, s):  # s: the saved Operands(a, b, out, ...)
              return g * xp.conj(s.b)

          @staticmethod
          def grad_b(xp, g, s):
              return g * xp.conj(s.a)

- element-wise unary: subclass :class:`Unary` with ``compute(xp, x)`` and
  ``grad(xp, g, s)`` (see ``exp``);
- anything else (``matmul``, ``sum``, ``eigh``): write ``forward`` and
  ``gradients``. The forward calls ``resolve(op, *arrays)`` first
  (namespace, device scope, and every argument check), computes through
  :func:`~xpgrad.ops._common.run`, saves what the gradients read in a
  NamedTuple of its own and returns ``cls.record(xp, scope, saved, needs, out)``.
  ``gradients(xp, g, s, needs)`` returns one gradient per input (None where
  ``needs`` is False) in its input's shape and dtype; ``Rule.backward`` calls
  it after the checks, with the device current. Every gradient of a
  broadcast input goes through ``sum_to`` (or is a fold of batch axes into a
  GEMM, documented in place). A rule with several results sets ``outputs``
  and returns a tuple; its gradients receive a tuple (None for a result no
  gradient reached).

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

from . import elementwise, fft, indexing, linalg, math, reduction, shape, special  # noqa: F401 - they fill RULES
from ._common import RULES, Ctx, Rule
from .elementwise import Binary, Unary

globals().update(RULES)

__all__ = sorted(["Binary", "Ctx", "Rule", "Unary", *RULES])
