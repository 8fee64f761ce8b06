"""The ``tape`` baseline of ``xpgrad bench``: a minimal reverse-mode tape over a
raw array library (NumPy or CuPy). A measuring baseline, not an API: it
exists so that the ``namespace`` cases can show how far xpgrad's autograd
engine is from the least Python an engine can run per op.

Each call computes its value on the raw namespace and appends one
:class:`Node` to a list: the value, the node's inputs and a closure that
maps the node's gradient to theirs. :meth:`Tape.backward` walks the list in
reverse, hands each gradient to the closure, adds what comes back into the
inputs that need it, and drops the gradient it has used. Nothing is checked
or converted, every value stays on the tape until the tape is dropped,
broadcasting is undone by summing, and the max shares its gradient evenly
among ties, as xpgrad and torch do.

The methods carry the standard's names and arguments, so the expressions of
:mod:`xpgrad.bench.impls` (``chain10``, ``softmax_cross_entropy``,
``mlp_loss``) run on a :class:`Tape` unchanged. Index arrays (labels) stay
raw arrays: no gradient reaches them.
"""

from __future__ import annotations

__all__ = ["Node", "Tape"]


class Node:
    """One value: its array, its gradient so far, and how it was computed."""

    __slots__ = ("back", "grad", "inputs", "needs", "value")

    def __init__(self, value, needs=False, inputs=(), back=None) -> None:
        self.value, self.grad, self.needs, self.inputs, self.back = value, None, needs, inputs, back


class Tape:
    """The recorded ops of one forward, on the raw namespace ``xp``."""

    def __init__(self, xp) -> None:
        self.xp, self.nodes = xp, []

    def leaf(self, value, needs: bool = True) -> Node:
        """An input; ``needs``: whether its gradient is wanted (in ``.grad``)."""
        return Node(value, needs)

    def _record(self, value, inputs, back) -> Node:
        node = Node(value, any(i.needs for i in inputs), inputs, back)
        self.nodes.append(node)
        return node

    def backward(self, out: Node, seed=None) -> None:
        """Send ``seed`` (default: ones) back from ``out`` to every leaf that needs it."""
        out.grad = self.xp.ones_like(out.value) if seed is None else seed
        for node in reversed(self.nodes):
            g, node.grad = node.grad, None
            if g is None or not node.needs:
                continue
            for inp, gi in zip(node.inputs, node.back(g)):
                if inp.needs:
                    inp.grad = gi if inp.grad is None else inp.grad + gi

    def _sum_to(self, g, shape):
        """``g`` summed over the axes along which a ``shape`` operand was broadcast."""
        if g.shape == shape:
            return g
        g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
        axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
        return g.sum(axis=axes, keepdims=True) if axes else g

    def _binary(self, value, a, b, da, db) -> Node:
        sa, sb = a.value.shape, b.value.shape
        return self._record(value, (a, b), lambda g: (self._sum_to(da(g), sa) if a.needs else None,
                                                      self._sum_to(db(g), sb) if b.needs else None))

    def add(self, a, b):
        return self._binary(a.value + b.value, a, b, lambda g: g, lambda g: g)

    def subtract(self, a, b):
        return self._binary(a.value - b.value, a, b, lambda g: g, lambda g: -g)

    def multiply(self, a, b):
        return self._binary(a.value * b.value, a, b, lambda g: g * b.value, lambda g: g * a.value)

    def maximum(self, a, b):  # a tie sends the gradient to b, as in the hand-written chain10
        first, where = a.value > b.value, self.xp.where
        return self._binary(self.xp.maximum(a.value, b.value), a, b,
                            lambda g: where(first, g, 0), lambda g: where(first, 0, g))

    def matmul(self, a, b):  # 2-D operands
        return self._binary(a.value @ b.value, a, b,
                            lambda g: g @ b.value.T, lambda g: a.value.T @ g)

    def _unary(self, value, a, d) -> Node:
        return self._record(value, (a,), lambda g: (d(g),))

    def exp(self, a):
        y = self.xp.exp(a.value)
        return self._unary(y, a, lambda g: g * y)

    def tanh(self, a):
        y = self.xp.tanh(a.value)
        return self._unary(y, a, lambda g: g * (1 - y * y))

    def sin(self, a):
        return self._unary(self.xp.sin(a.value), a, lambda g: g * self.xp.cos(a.value))

    def log(self, a):
        return self._unary(self.xp.log(a.value), a, lambda g: g / a.value)

    def log1p(self, a):
        return self._unary(self.xp.log1p(a.value), a, lambda g: g / (1 + a.value))

    def square(self, a):
        return self._unary(a.value * a.value, a, lambda g: g * (2 * a.value))

    def _kept(self, g, axis, keepdims):  # g with the reduced axis back, to broadcast
        return g if keepdims or axis is None else self.xp.expand_dims(g, axis=axis)

    def sum(self, a, axis=None, keepdims=False):
        shape = a.value.shape
        return self._unary(self.xp.sum(a.value, axis=axis, keepdims=keepdims), a,
                           lambda g: self.xp.broadcast_to(self._kept(g, axis, keepdims), shape))

    def mean(self, a, axis=None, keepdims=False):
        y, shape = self.xp.mean(a.value, axis=axis, keepdims=keepdims), a.value.shape
        n = a.value.size // y.size
        return self._unary(y, a, lambda g: self.xp.broadcast_to(self._kept(g, axis, keepdims) / n,
                                                                shape))

    def max(self, a, axis=None, keepdims=False):
        y = self.xp.max(a.value, axis=axis, keepdims=keepdims)

        def back(g):
            hit = a.value == self._kept(y, axis, keepdims)
            ties = hit.sum(axis=axis, keepdims=True, dtype=a.value.dtype)
            return (hit * (self._kept(g, axis, keepdims) / ties),)

        return self._record(y, (a,), back)

    def take_along_axis(self, a, indices, axis=-1):  # raw indices, distinct along the axis
        xp = self.xp

        def back(g):
            out = xp.zeros_like(a.value)
            xp.put_along_axis(out, indices, g, axis=axis)
            return (out,)

        return self._record(xp.take_along_axis(a.value, indices, axis=axis), (a,), back)

    def expand_dims(self, x, axis=0):  # on raw (index) arrays only
        return self.xp.expand_dims(x, axis=axis)
