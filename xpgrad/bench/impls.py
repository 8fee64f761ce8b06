"""Every way of computing a :class:`~xpgrad.bench.problems.Spec`.

:func:`build` returns one implementation as an :class:`Impl`. There are
three builders, one per kind of implementation:

``functional``
    xpgrad's rules, ``ops.<op>.forward`` / ``ops.<op>.backward``.
``tensor`` and ``torch``
    Autograd: xpgrad's :class:`~xpgrad.Tensor`, or PyTorch on the same
    device, running the same expression.
``namespace``
    The functions of ``xpgrad.array_api`` on xpgrad Tensors (the
    ``namespace`` kind); torch runs the same calls on its own tensors.
    ``mlp_step`` is one training step: xpgrad's loss is Array API code
    through ``array_api_compat.array_namespace``, then
    :class:`xpgrad.optim.Adam`; torch runs its own ops
    (``cross_entropy``) and ``torch.optim.Adam``.
``transforms`` and ``torch`` (the ``higher`` kind)
    One call of a transform of :func:`tanh_square_loss`: ``xpgrad.hvp`` or
    ``xpgrad.hessian`` on the raw arrays; torch.func's on torch's tensors
    (the hvp as ``jvp`` of ``grad``, forward over reverse; ``hessian``). Its
    ``ideal`` is xpgrad's own ``value_and_grad`` of the same function: a
    Hessian-vector product cannot cost less than a gradient.
    :func:`higher_reference` derives both by hand, to check them against.
``tape``
    The namespace kind's expressions on :class:`~xpgrad.bench.tape.Tape`,
    a minimal reverse-mode tape over the raw namespace: the floor of an
    autograd engine written in Python (``mlp_step``: then the ideal's Adam).
``ideal``, ``native`` and ``naive``
    Hand-written on the raw namespace (NumPy or CuPy), called directly.
    ``ideal`` is the minimum: forward one GEMM, the matmul/linear backward
    two GEMMs plus the bias column-sum, broadcast batch axes folded into the
    GEMM by hand; where the namespace has no half-precision GEMM (NumPy) it
    computes in float32 and rounds once, as xpgrad does. ``native`` is the
    same with the namespace's own half-precision matmul, no upcast.
    ``naive`` is the textbook broadcast gradient: the batched product, then
    a sum over the broadcast axes (matmul only). For the ``namespace`` kind
    ``ideal`` is the forward that keeps what its gradient needs, and that
    gradient derived by hand, with no temporary it can do without
    (``mlp_step``: and the Adam update in place).

All implementations of one Spec read the same inputs from
:func:`~xpgrad.bench.problems.make_inputs`, so their times and results
compare side by side.
"""

from __future__ import annotations

import math
import operator

import array_api_compat
import numpy as np

import xpgrad
from xpgrad import ops

from .problems import INPUT_NAMES, Spec
from .runtime import HALF_DTYPES, Runtime, torch_module
from .tape import Tape

__all__ = ["ADAM", "IMPLS", "Impl", "build", "chain10", "higher_reference", "logsumexp",
           "max_relative_error", "mlp_loss", "reference_results", "softmax_cross_entropy",
           "tanh_square_loss"]

IMPLS = ("functional", "tensor", "namespace", "transforms", "ideal", "tape", "naive", "native",
         "torch")
#: mlp_step's Adam settings, the same for every implementation (torch's defaults).
ADAM = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}


class Impl:
    """One implementation of a Spec.

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

    def __init__(self, name, forward, backward, output) -> None:
        self.name, self.forward, self.backward, self.output = name, forward, backward, output

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
        """A callable running one backward on a forward done now, for memory
        measurement (the forward's memory is not in its peak)."""
        return self.step("backward")

    def results(self) -> list:
        """``[output, *gradients]`` of one forward and backward (None gradients dropped)."""
        state = self.forward()
        out = self.output(state)
        return [out] + [g for g in self.backward(state, False) if g is not None]


class _Call(Impl):
    """An implementation that is one call, not a forward and a backward: a
    transform runs its own passes inside (the ``higher`` kind).

    ``call() -> tuple`` returns the results. Every phase times the whole
    call, :meth:`backward_probe` is the call (its peak is one call's), and
    :meth:`results` is what one call returns.
    """

    __slots__ = ()

    def __init__(self, name, call) -> None:
        super().__init__(name, call, lambda state, retain: state, operator.itemgetter(0))

    def step(self, phase: str):
        return self.forward

    def results(self) -> list:
        return list(self.forward())


def build(spec: Spec, impl: str, rt: Runtime, inputs: dict) -> Impl:
    """Implementation ``impl`` of ``spec`` on ``rt``, reading ``inputs``.

    Parameters
    ----------
    spec : Spec
    impl : str
        One of :data:`IMPLS`, or ``"xpgrad"`` for ``spec.api``.
    rt : Runtime
    inputs : dict
        From :func:`~xpgrad.bench.problems.make_inputs` for this spec.

    Returns
    -------
    Impl
        For the higher kind, one whose every phase is the whole call.

    Raises
    ------
    ValueError
        For an implementation that does not exist for this spec (``naive``
        outside matmul, ``native`` outside half precision, ``tape`` outside
        the namespace kind, ``transforms`` outside the higher kind).
    """
    impl = spec.api if impl == "xpgrad" else impl
    if impl not in IMPLS:
        raise ValueError(f"build: unknown implementation {impl!r}; expected one of {IMPLS}")
    if impl == "native" and spec.dtype not in HALF_DTYPES:
        raise ValueError("build: 'native' is the half-precision baseline; use 'ideal'")
    if impl == "naive" and (spec.op != "matmul" or spec.kind == "chain"):
        raise ValueError(f"build: 'naive' is a matmul baseline, not one of {spec.kind} {spec.op}")
    if impl == "tape" and spec.kind != "namespace":
        raise ValueError(f"build: 'tape' is a baseline of the namespace kind, not of {spec.kind}")
    if impl == "transforms" and spec.kind != "higher":
        raise ValueError(f"build: 'transforms' is the higher kind's xpgrad, not {spec.kind}'s")
    if spec.kind == "higher":
        if impl not in ("transforms", "torch", "ideal"):
            raise ValueError(f"build: the higher kind has no {impl!r} implementation")
        return _Call(impl, _higher(spec, rt, inputs, impl))
    if spec.kind == "namespace":
        if impl not in ("namespace", "torch", "ideal", "tape"):
            raise ValueError(f"build: the namespace kind has no {impl!r} implementation")
        if spec.op == "mlp_step":
            maker = _mlp_step
        else:
            maker = {"ideal": _hand_written_namespace, "tape": _tape}.get(impl, _autograd)
    else:
        maker = {"functional": _functional, "tensor": _autograd, "torch": _autograd}.get(
            impl, _hand_written)
    return Impl(impl, *maker(spec, rt, inputs, impl))


def _args(spec, inp):
    return [inp[name] for name in INPUT_NAMES[spec.op]]


def _functional(spec, rt, inp, impl):
    """xpgrad's rules; the chain kind is ``ops.matmul`` then ``ops.sum``."""
    rule, args = getattr(ops, spec.op), _args(spec, inp)
    params = (spec.axis,) if spec.op == "add_bias" else ()
    mask = spec.grads
    if spec.kind == "chain":
        one = rt.asarray(np.ones(()), rt.dtype(spec.dtype))

        def forward():
            out, c1 = rule.forward(*args)
            total, c2 = ops.sum.forward(out)
            return total, (c1, c2)

        def backward(state, retain):
            (g,) = ops.sum.backward(one, state[1][1])
            return rule.backward(g, state[1][0])

    else:
        g = inp["g"]

        def forward():
            out, ctx = rule.forward(*args, *params)
            if not all(mask):  # a documented switch: the backward skips that work
                ctx.needs_input_grad = tuple(m and n for m, n in zip(mask, ctx.needs_input_grad))
            return out, ctx

        def backward(state, retain):
            return rule.backward(g, state[1])

    return forward, backward, operator.itemgetter(0)


def chain10(xp, a, b):
    """``log1p(maximum(exp(tanh(a*b + a) - sin(b)) * a, b)^2)``: ten calls of
    the namespace ``xp`` (``xpgrad.array_api``, or torch, whose functions of
    these names take the same arguments)."""
    t = xp.tanh(xp.add(xp.multiply(a, b), a))
    t = xp.exp(xp.subtract(t, xp.sin(b)))
    return xp.log1p(xp.square(xp.maximum(xp.multiply(t, a), b)))


def logsumexp(xp, x):
    """``m + log(sum(exp(x - m)))`` over the last axis, kept, with ``m`` the
    max over it, written with the standard's functions of namespace ``xp``."""
    m = xp.max(x, axis=-1, keepdims=True)
    return xp.add(m, xp.log(xp.sum(xp.exp(xp.subtract(x, m)), axis=-1, keepdims=True)))


def softmax_cross_entropy(xp, logits, labels):
    """The mean over rows of ``logsumexp(x) - x[label]`` for logits (n, c) and
    integer labels (n,), the row max subtracted first; written with the
    standard's functions of namespace ``xp`` (the label's logit picked by
    ``take_along_axis``)."""
    shifted = xp.subtract(logits, xp.max(logits, axis=-1, keepdims=True))
    lse = xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
    picked = xp.take_along_axis(shifted, xp.expand_dims(labels, axis=-1), axis=-1)
    return xp.mean(xp.subtract(lse, picked))


def mlp_loss(x, labels, w1, b1, w2, b2, *, xp=None):
    """``softmax_cross_entropy(tanh(x @ w1 + b1) @ w2 + b2, labels)``, in
    Array API code: ``xp`` is ``array_api_compat.array_namespace`` of the
    arrays unless given (the tape is given)."""
    if xp is None:
        xp = array_api_compat.array_namespace(x, labels, w1, b1, w2, b2)
    hidden = xp.tanh(xp.add(xp.matmul(x, w1), b1))
    return softmax_cross_entropy(xp, xp.add(xp.matmul(hidden, w2), b2), labels)


class _TorchAsArrayAPI:
    """torch under the standard's names where they differ (max, sum, mean,
    take_along_axis, expand_dims)."""

    def __init__(self, torch):
        self.torch = torch

    def __getattr__(self, name):
        return getattr(self.torch, name)

    def max(self, x, axis=None, keepdims=False):
        return self.torch.amax(x, dim=axis, keepdim=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        return self.torch.sum(x, dim=axis, keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self.torch.mean(x, dim=axis, keepdim=keepdims)

    def take_along_axis(self, x, indices, axis=-1):
        return self.torch.take_along_dim(x, indices, dim=axis)

    def expand_dims(self, x, axis=0):
        return self.torch.unsqueeze(x, axis)


def tanh_square_loss(xp, a, w):
    """``sum(tanh(a @ w) ** 2)``, the scalar that the ``higher`` kind
    differentiates twice, with the functions of namespace ``xp``
    (``xpgrad.array_api`` on Tensors, or torch)."""
    return xp.sum(xp.tanh(a @ w) ** 2)


def _higher(spec, rt, inp, impl):
    """The higher kind's call, returning a tuple: xpgrad's transform
    (``transforms``), torch.func's (``torch``), or xpgrad's ``value_and_grad``
    of the same function (``ideal``: ``(value, gradient)``)."""
    args = _args(spec, inp)
    if impl == "torch":
        torch, _ = torch_module()
        a, w, *v = (rt.to_torch(x) for x in args)

        def loss(w):
            return tanh_square_loss(torch, a, w)

        if spec.op == "hvp":
            grad = torch.func.grad(loss)
            return lambda: (torch.func.jvp(grad, (w,), (v[0],))[1],)
        hessian = torch.func.hessian(loss)
        return lambda: (hessian(w),)
    a, w, *v = args
    const = xpgrad.tensor(a)  # a constant of the function, on a's device

    def loss(w):
        return tanh_square_loss(w.__array_namespace__(), const, w)

    if impl == "ideal":
        value_and_grad = xpgrad.value_and_grad(loss)
        return lambda: value_and_grad(w)
    if spec.op == "hvp":
        return lambda: (xpgrad.hvp(loss, w, v[0]),)
    hessian = xpgrad.hessian(loss)
    return lambda: (hessian(w),)


def higher_reference(spec: Spec, inputs: dict) -> list:
    """``[hvp]`` or ``[hessian]`` of :func:`tanh_square_loss` derived by
    hand, in float64 NumPy from the same (rounded) inputs.

    With ``z = a @ w``, ``t = tanh(z)`` and ``d = 2 (1 - t^2) (1 - 3 t^2)``
    the second derivative of ``tanh(z)^2``: ``H v = a.T @ (d * (a @ v))``,
    and ``H[i, j, k, l] = [j == l] sum_m a[m, i] d[m, j] a[m, k]``.
    """
    a, w, *v = (xpgrad.to_numpy(inputs[name]).astype(np.float64)
                for name in INPUT_NAMES[spec.op])
    t2 = np.tanh(a @ w) ** 2
    d = 2 * (1 - t2) * (1 - 3 * t2)
    if spec.op == "hvp":
        return [a.T @ (d * (a @ v[0]))]
    return [np.einsum("mi,mj,mk,jl->ijkl", a, d, a, np.eye(w.shape[1]))]


def _namespace_expression(spec, xp):
    if spec.op == "chain10":
        return lambda a, b: xp.sum(chain10(xp, a, b))
    if spec.op == "logsumexp":
        return lambda x: logsumexp(xp, x)
    if spec.op == "softmax_ce":
        return lambda x, labels: softmax_cross_entropy(xp, x, labels)
    return getattr(xp, spec.op)


def _autograd(spec, rt, inp, impl):
    """The same expression on xpgrad's Tensor or on torch: reset the leaves'
    gradients, run backward, return them."""
    if spec.kind == "namespace":
        if impl == "torch":
            torch, _ = torch_module()
            leaves = [rt.to_torch(a, requires_grad=n) for a, n in zip(_args(spec, inp), spec.grads)]
            grad, output = (rt.to_torch(inp["g"]) if "g" in inp else None), torch.Tensor.detach
            expression = _namespace_expression(spec, _TorchAsArrayAPI(torch))
        else:
            import xpgrad.array_api as xp

            leaves = [xpgrad.tensor(a, requires_grad=n)
                      for a, n in zip(_args(spec, inp), spec.grads)]
            grad, output = inp.get("g"), operator.attrgetter("data")
            expression = _namespace_expression(spec, xp)
    elif impl == "torch":
        torch, _ = torch_module()
        leaves = [rt.to_torch(a, requires_grad=n) for a, n in zip(_args(spec, inp), spec.grads)]
        grad = rt.to_torch(inp["g"]) if "g" in inp else None
        linear, output = torch.nn.functional.linear, (lambda out: out.detach())
        view = [1] * len(spec.shapes[0])
        view[spec.axis] = -1
        add_bias = lambda x, b, axis: x + b.view(view)  # noqa: E731
    else:
        leaves = [xpgrad.tensor(a, requires_grad=n) for a, n in zip(_args(spec, inp), spec.grads)]
        grad, linear, add_bias = inp.get("g"), xpgrad.linear, xpgrad.add_bias
        output = operator.attrgetter("data")
    if spec.kind != "namespace":
        expression = {
            "chain": lambda a, b: (a @ b).sum(),
            "matmul": operator.matmul,
            "linear": linear,
            "add_bias": lambda x, b: add_bias(x, b, spec.axis),
            "sum": lambda x: x.sum(),
        }["chain" if spec.kind == "chain" else spec.op]

    def forward():
        return expression(*leaves)

    def backward(out, retain):
        for t in leaves:
            t.grad = None
        out.backward(grad, retain_graph=retain)
        return tuple(t.grad for t in leaves)

    return forward, backward, output


def _hand_written(spec, rt, inp, impl):
    """``ideal``, ``native`` and ``naive`` on the raw namespace."""
    xp, dt = rt.xp, rt.dtype(spec.dtype)
    upcast = spec.dtype in HALF_DTYPES and impl != "native"
    if upcast and not rt.has_half_gemm():  # float32 GEMMs, rounded once at the end
        up = rt.dtype("float32")

        def mm(p, q):
            return p.astype(up) @ q.astype(up)

        def cast(x):
            return x.astype(dt)
    else:
        mm, cast = operator.matmul, (lambda x: x)
    accum = rt.dtype("float32") if upcast else None

    def total(x, axis=None):  # a sum accumulating half precision in float32
        return x.sum(axis=axis, dtype=accum).astype(dt, copy=False)

    family = "chain" if spec.kind == "chain" else spec.op
    if family == "chain":
        a, b = _args(spec, inp)

        def forward():
            out = cast(mm(a, b))
            return out, total(out)

        def grads(state):
            ones = xp.ones_like(state[0])
            return cast(mm(ones, b.T)), cast(mm(a.T, ones))

        return forward, lambda state, retain: grads(state), operator.itemgetter(1)
    g = inp["g"]
    if family == "matmul":
        a, b = _args(spec, inp)
        grads = (_naive_matmul_grads if impl == "naive" else _ideal_matmul_grads)(
            spec, a, b, g, mm, cast)

        def forward():
            return cast(mm(a, b))

    elif family == "linear":
        x, w, b = _args(spec, inp)

        def forward():
            return cast(mm(x, w.T) + b)

        def grads():
            return cast(mm(g, w)), cast(mm(g.T, x)), total(g, axis=0)

    elif family == "add_bias":
        x, b = _args(spec, inp)
        axis = spec.axis % x.ndim
        view = b.reshape([-1 if i == axis else 1 for i in range(x.ndim)])
        others = tuple(i for i in range(x.ndim) if i != axis)

        def forward():
            return x + view

        def grads():
            return g, total(g, axis=others)

    else:  # sum
        (x,) = _args(spec, inp)

        def forward():
            return total(x)

        def grads():
            return (xp.broadcast_to(g, x.shape),)

    return forward, lambda state, retain: grads(), lambda state: state


def _hand_written_namespace(spec, rt, inp, impl):
    """The namespace kind by hand on the raw namespace: the forward returns
    ``(output, saved)``, the backward the gradients from what was saved."""
    xp = rt.xp
    if spec.op == "softmax_ce":  # saves e = exp(x - m) and its row sums s
        x, labels = _args(spec, inp)
        rows = xp.arange(x.shape[0])

        def forward():
            e = x - xp.max(x, axis=-1, keepdims=True)
            picked = e[rows, labels]
            xp.exp(e, out=e)
            s = xp.sum(e, axis=-1, keepdims=True)
            return xp.mean(xp.log(s)[:, 0] - picked), (e, s)

        def backward(state, retain):  # (softmax - onehot) / n
            e, s = state[1]
            grad = e * (1 / (e.shape[0] * s))
            grad[rows, labels] -= 1 / e.shape[0]
            return grad, None

        return forward, backward, operator.itemgetter(0)
    if spec.op == "chain10":
        a, b = _args(spec, inp)

        def forward():
            u = a * b + a
            t = xp.tanh(u)
            e = xp.exp(t - xp.sin(b))
            q = e * a
            mx = xp.maximum(q, b)
            sq = mx * mx
            return xp.log1p(sq).sum(), (t, e, q, mx, sq)

        def backward(state, retain):  # torch's tie rule aside: q == b sends all to b
            t, e, q, mx, sq = state[1]
            g_mx = 2 * mx / (1 + sq)
            g_q = xp.where(q > b, g_mx, 0)
            g_d = g_q * a * e  # d = tanh(u) - sin(b)
            g_u = g_d * (1 - t * t)
            grad_a = g_q * e + g_u * (b + 1)
            grad_b = (g_mx - g_q) + g_u * a - g_d * xp.cos(b)
            return grad_a, grad_b

        return forward, backward, operator.itemgetter(0)
    (x,) = _args(spec, inp)
    g = inp["g"]
    if spec.op == "exp":

        def forward():
            out = xp.exp(x)
            return out, out

        def backward(state, retain):
            return (g * state[1],)

    elif spec.op == "tanh":

        def forward():
            out = xp.tanh(x)
            return out, out

        def backward(state, retain):
            d = state[1] * state[1]
            xp.subtract(1, d, out=d)
            d *= g
            return (d,)

    else:  # logsumexp: saves e = exp(x - m) and its row sums s

        def forward():
            m = xp.max(x, axis=-1, keepdims=True)
            e = x - m
            xp.exp(e, out=e)
            s = xp.sum(e, axis=-1, keepdims=True)
            return m + xp.log(s), (e, s)

        def backward(state, retain):
            e, s = state[1]
            return (e * (g / s),)

    return forward, backward, operator.itemgetter(0)


def _tape(spec, rt, inp, impl):
    """The namespace kind's expression on a fresh :class:`Tape` per forward;
    the inputs that need no gradient (labels) stay raw arrays."""
    args, needs, seed = _args(spec, inp), spec.grads, inp.get("g")

    def forward():
        tape = Tape(rt.xp)
        leaves = [tape.leaf(a) if n else a for a, n in zip(args, needs)]
        return tape, _namespace_expression(spec, tape)(*leaves), leaves

    def backward(state, retain):
        tape, out, leaves = state
        for leaf, n in zip(leaves, needs):
            if n:
                leaf.grad = None
        tape.backward(out, seed)
        return tuple(leaf.grad if n else None for leaf, n in zip(leaves, needs))

    return forward, backward, lambda state: state[1].value


class _HandAdam:
    """Adam by hand on raw arrays, in place: torch.optim.Adam's single-tensor
    update with :data:`ADAM`'s settings."""

    def __init__(self, xp, params) -> None:
        self.xp, self.params, self.t = xp, params, 0
        self.m = [xp.zeros_like(p) for p in params]
        self.v = [xp.zeros_like(p) for p in params]

    def step(self, grads) -> None:
        xp, (beta1, beta2), eps = self.xp, ADAM["betas"], ADAM["eps"]
        self.t += 1
        step_size = ADAM["lr"] / (1 - beta1 ** self.t)
        root = math.sqrt(1 - beta2 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * (g * g)
            denom = xp.sqrt(v)
            denom /= root
            denom += eps
            update = m / denom
            update *= step_size
            p -= update


def _mlp_step(spec, rt, inp, impl):
    """One training step of the MLP (see :func:`mlp_loss`): the forward
    returns the loss (and, by hand, what the backward needs); the backward
    returns the gradients (None for x and labels), then updates the weights
    with Adam, so each call of the fwd+bwd phase is one step further."""
    x, labels, *start = _args(spec, inp)
    nothing = (None, None)
    if impl in ("namespace", "torch"):
        if impl == "torch":
            torch, _ = torch_module()
            params = [rt.to_torch(p, requires_grad=True) for p in start]
            data, target = rt.to_torch(x), rt.to_torch(labels)
            opt, output = torch.optim.Adam(params, **ADAM), torch.Tensor.detach
            cross_entropy = torch.nn.functional.cross_entropy

            def forward():
                w1, b1, w2, b2 = params
                return cross_entropy(torch.tanh(data @ w1 + b1) @ w2 + b2, target)

        else:
            params = [xpgrad.tensor(p, requires_grad=True) for p in start]
            data, target = xpgrad.tensor(x), xpgrad.tensor(labels)
            opt, output = xpgrad.optim.Adam(params, **ADAM), operator.attrgetter("data")

            def forward():
                return mlp_loss(data, target, *params)

        def backward(loss, retain):
            opt.zero_grad()
            loss.backward(retain_graph=retain)
            grads = tuple(p.grad for p in params)
            opt.step()
            return nothing + grads

        return forward, backward, output
    xp = rt.xp
    params = [xp.array(p, copy=True) for p in start]  # updated in place
    adam = _HandAdam(xp, params)
    if impl == "tape":

        def forward():
            tape = Tape(xp)
            leaves = [tape.leaf(p) for p in params]
            return tape, mlp_loss(tape.leaf(x, needs=False), labels, *leaves, xp=tape), leaves

        def backward(state, retain):
            tape, loss, leaves = state
            for leaf in leaves:
                leaf.grad = None
            tape.backward(loss)
            grads = tuple(leaf.grad for leaf in leaves)
            adam.step(grads)
            return nothing + grads

        return forward, backward, lambda state: state[1].value
    rows, n = xp.arange(x.shape[0]), x.shape[0]

    def forward():  # keeps h = tanh(...), e = exp(z - max) and its row sums s
        w1, b1, w2, b2 = params
        h = x @ w1
        h += b1
        xp.tanh(h, out=h)
        e = h @ w2
        e += b2
        e -= xp.max(e, axis=1, keepdims=True)
        picked = e[rows, labels]
        xp.exp(e, out=e)
        s = xp.sum(e, axis=1, keepdims=True)
        return xp.mean(xp.log(s)[:, 0] - picked), (h, e, s)

    def backward(state, retain):
        h, e, s = state[1]
        d = e * (1 / (n * s))  # (softmax - onehot) / n
        d[rows, labels] -= 1 / n
        grad_w2, grad_b2 = h.T @ d, xp.sum(d, axis=0)
        dh = d @ params[2].T
        t = h * h
        xp.subtract(1, t, out=t)
        dh *= t
        grads = (x.T @ dh, xp.sum(dh, axis=0), grad_w2, grad_b2)
        adam.step(grads)
        return nothing + grads

    return forward, backward, operator.itemgetter(0)


def _ideal_matmul_grads(spec, a, b, g, mm, cast):
    """The matmul gradients with the broadcast batch folded into the GEMMs by hand."""
    need_a, need_b = spec.grads
    sa, sb = tuple(a.shape), tuple(b.shape)
    if a.ndim == 2 and b.ndim == 2:

        def grad_a():
            return cast(mm(g, b.T))

        def grad_b():
            return cast(mm(a.T, g))

    elif b.ndim == 2:  # (..., m, k) @ (k, n): the batch folds into the GEMM rows
        k, n = sb

        def grad_a():
            return cast(mm(g.reshape(-1, n), b.T)).reshape(sa)

        def grad_b():
            return cast(mm(a.reshape(-1, k).T, g.reshape(-1, n)))

    elif a.ndim == 4 and b.ndim == 4 and sa[1] == 1 and sb[0] == 1:
        # (P,1,m,k) @ (1,Q,k,n): ga[p] = sum_q g[p,q] @ b[q].T is one GEMM over
        # the (q, n) pairs; gb[q] = sum_p a[p].T @ g[p,q] one over the (p, m) pairs.
        p_, _, m, k = sa
        q_, n = sb[1], sb[3]

        def grad_a():
            gq = g.transpose(0, 2, 1, 3).reshape(p_ * m, q_ * n)
            return cast(mm(gq, b[0].transpose(0, 2, 1).reshape(q_ * n, k))).reshape(sa)

        def grad_b():
            ap = a[:, 0].transpose(2, 0, 1).reshape(k, p_ * m)
            return cast(mm(ap, g.transpose(1, 0, 2, 3).reshape(q_, p_ * m, n))).reshape(sb)

    else:
        raise ValueError(f"build: no hand-written matmul gradient for shapes {spec.shape_text}")
    # Each gradient in its own scope, so one's temporaries are freed before the other's.
    return lambda: (grad_a() if need_a else None, grad_b() if need_b else None)


def _naive_matmul_grads(spec, a, b, g, mm, cast):
    """The batched products, then a sum over the axes each operand was broadcast along."""
    need_a, need_b = spec.grads

    def sum_to(x, shape):
        lead = x.ndim - len(shape)
        x = x.sum(axis=tuple(range(lead))) if lead else x
        axes = tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[i] != 1)
        return x.sum(axis=axes, keepdims=True) if axes else x

    def grads():
        ga = cast(sum_to(mm(g, b.swapaxes(-1, -2)), a.shape)) if need_a else None
        gb = cast(sum_to(mm(a.swapaxes(-1, -2), g), b.shape)) if need_b else None
        return ga, gb

    return grads


def reference_results(spec: Spec, rt: Runtime, inputs: dict) -> list:
    """``[output, *gradients]`` in float64 on the CPU from the same (rounded)
    inputs: the reference half-precision results are compared with. For the
    higher kind, :func:`higher_reference`."""
    if spec.kind == "higher":
        return higher_reference(spec, inputs)
    hosts = {k: xpgrad.to_numpy(v) for k, v in inputs.items()}
    # the floating inputs in float64; integer ones (labels) stay integers
    inputs64 = {k: v if v.dtype.kind in "iub" else v.astype(np.float64) for k, v in hosts.items()}
    spec64 = spec.replace(dtype="float64", device="cpu")
    return build(spec64, "ideal", Runtime("cpu"), inputs64).results()


def max_relative_error(results: list, reference: list) -> float:
    """Largest normwise relative error over the arrays:
    ``max |r - ref| / max |ref|`` for each pair, then the max over pairs."""
    worst = 0.0
    for r, ref in zip(results, reference):
        if not ref.size:
            continue
        err = float(np.max(np.abs(xpgrad.to_numpy(r).astype(np.float64) - ref)))
        scale = float(np.max(np.abs(ref)))
        worst = max(worst, err / scale if scale else err)
    return worst
