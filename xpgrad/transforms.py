"""Function transforms with JAX's names and conventions: :func:`grad`,
:func:`value_and_grad`, :func:`vjp`, :func:`jvp`, :func:`jacobian`,
:func:`hessian` and :func:`hvp`; user rules (:func:`custom_vjp`) and
:func:`checkpoint`.

A transformed function takes native arrays (or Python floats) and returns
arrays of the arguments' library and device. The function it transforms
receives Tensors, so it is written as Array API code
(``x.__array_namespace__()`` is ``xpgrad.array_api``). Transforms nest to any
order: called inside another transform, or on Tensors that require grad, a transform returns
Tensors joined to the outer graph; only the outermost results are native.
Nothing is written to any ``.grad``.
"""

from __future__ import annotations

import contextvars
import functools
import numbers
import sys
import warnings
import weakref

import numpy as np

from . import ops
from ._backend import array_device, dtype_info, namespace_name, resolve
from .autograd import grad as _autograd_grad
from .ops._common import Ctx
from .tensor import (
    _GRAD_ENABLED,
    _NUMBER_READS,
    Tensor,
    _array,
    _result,
    _walk,
    apply,
    constant,
    joined,
    leaf_as_read,
    passed_through,
    records,
    tensor,
)

__all__ = [
    "checkpoint", "custom_vjp", "grad", "hessian", "hvp", "jacobian", "jvp",
    "value_and_grad", "vjp",
]

# How many transforms are running around the current call: a transform inside
# another one (or given Tensors that require grad) answers in Tensors, joined to the outer graph.
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("xpgrad_transform_depth", default=0)


class _Recording:
    """Inside: one transform deeper, and gradients recorded (even in no_grad).
    The leaves the transform makes for its arguments are active until it
    returns (see :func:`_joined_elsewhere`)."""

    def __enter__(self):
        self.leaves = []
        self.number_reads = []  # see tensor._NUMBER_READS
        self._tokens = (_DEPTH.set(_DEPTH.get() + 1), _GRAD_ENABLED.set(True),
                        _CURRENT.set(self), _NUMBER_READS.set(self.number_reads))
        return self

    def __exit__(self, *exc):
        depth, enabled, current, reads = self._tokens
        _NUMBER_READS.reset(reads)
        _CURRENT.reset(current)
        _GRAD_ENABLED.reset(enabled)
        _DEPTH.reset(depth)
        for key in self.leaves:
            _ACTIVE.discard(key)


# The transform call running in this context, and the ids of the leaves of
# every transform call still running, in any thread.
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("xpgrad_transform", default=None)
_ACTIVE: set = set()


def _function(name: str, f) -> None:
    """A TypeError, when the transform is made, for an ``f`` that is not callable."""
    if not callable(f):
        raise TypeError(f"{name}: f must be a function (a callable); got {type(f).__name__} {f!r}")


def _argnums(name: str, argnums, nargs: int) -> tuple:
    """``argnums`` as a tuple of non-negative positions, checked against ``nargs``."""
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    if not nums:
        raise ValueError(f"{name}: argnums is empty; give an int or a tuple of ints")
    out = []
    for n in nums:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{name}: argnums must be an int or a tuple of ints; got {argnums!r}")
        if not -nargs <= n < nargs:
            raise ValueError(
                f"{name}: argnums {n} is out of range for a call with {nargs} positional "
                f"argument{'s' if nargs != 1 else ''}"
            )
        out.append(int(n) % nargs)
    if len(set(out)) != len(out):  # the gradient twice (torch.func refuses it too)
        raise ValueError(f"{name}: argnums {argnums!r} names a position twice; name each once")
    return tuple(out)


class _Target:
    """An argument a transform differentiates with respect to: ``arg``, the
    Tensor ``f`` receives (a copy-free alias, so that ``f`` may even assign
    into it), and ``key``, the graph node it had when given, which the
    gradient is taken at."""

    __slots__ = ("arg", "key")

    def __init__(self, arg: Tensor) -> None:
        self.arg, self.key = arg, arg._node


def _input(name: str, value, where: str, like=None, width=None) -> _Target:
    """The :class:`_Target` of an argument: an alias of a fresh leaf for an
    array or a Python float (on ``like``'s device and library: another
    argument's, so that a float meets a torch tensor as a torch tensor); for
    a Tensor that requires grad (an outer transform's), an alias of it, so
    both graphs see it."""
    if type(value) is Tensor:
        if value.requires_grad:
            return _Target(_alias(value))
        value = value.data
    if isinstance(value, bool) or isinstance(value, numbers.Integral) and not hasattr(value, "shape"):
        raise TypeError(
            f"{name}: {where} is {value!r}, an integer; differentiate with respect to "
            f"floating-point values (pass {float(value)!r})"
        )
    if isinstance(value, (float, complex)):  # a real one in the other arrays' precision
        leaf = tensor(value, requires_grad=True, device=like,
                      dtype=width if type(value) is float else None)
    elif not hasattr(value, "shape"):
        raise TypeError(
            f"{name}: {where} must be an array, a Tensor or a Python float; got "
            f"{type(value).__name__}"
        )
    else:
        xp, _ = resolve(name, value)
        if not dtype_info(xp, value.dtype).inexact:
            raise TypeError(
                f"{name}: {where} has dtype {value.dtype}; differentiate with respect to "
                f"floating-point arrays (cast it with astype first)"
            )
        leaf = Tensor(value, requires_grad=True)
    return _Target(_alias(_internal(leaf)))


def _alias(t: Tensor) -> Tensor:
    """``t``'s values, as a new node of the graph (no copy)."""
    return apply(ops.astype, (t,), t.data.dtype, False)


# The leaves transforms make for their arguments: a graph that reaches one of
# an inner transform's is not one that closed over a user's Tensor.
# (By id, with weak references: a Tensor's == is element-wise, so no WeakSet.)
_LEAVES: dict = {}


def _internal(leaf: Tensor) -> Tensor:
    key = id(leaf)
    _LEAVES[key] = weakref.ref(leaf, lambda _, key=key: _LEAVES.pop(key, None))
    current = _CURRENT.get()
    if current is not None:
        current.leaves.append(key)
        _ACTIVE.add(key)
    return leaf


def _is_internal(t: Tensor) -> bool:
    ref = _LEAVES.get(id(t))
    return ref is not None and ref() is t


def _nested(args) -> bool:
    """True when results should stay Tensors: inside a transform, or given
    Tensors that require grad."""
    return _DEPTH.get() > 0 or any([type(a) is Tensor and a.requires_grad for a in args])


def _joined_elsewhere(outs) -> bool:
    """True when the graph of ``outs`` reaches a Tensor that requires grad
    other than this transform's leaves and those of transforms that have
    returned: one the function closed over, or an argument of a transform
    still running (also from another thread). The results are then Tensors
    joined to it, as inside another transform."""
    current = _CURRENT.get()
    return _reaches_other(outs, (), set(current.leaves) if current is not None else set(), True)


def _reaches_other(outs, stops, own: set, running: bool) -> bool:
    """True when the graph of ``outs``, not going through the nodes or leaves
    whose ids are in ``stops``, reaches a Tensor that requires grad other than
    those in ``own`` (ids) and the transforms' leaves (with ``running``, only
    of transforms that have returned)."""
    roots = [o._node for o in outs
             if type(o) is Tensor and o._node is not None and id(o._node) not in stops]
    for p in _above(roots, stops):
        if type(p) is not Ctx and id(p) not in own and (
                not _is_internal(p) or running and id(p) in _ACTIVE):
            return True
    return False


def _above(nodes: list, stops=()):
    """Each node and leaf of the graph above ``nodes`` (graph nodes), each node once,
    not going through those whose ids are in ``stops``."""
    stack, seen = list(nodes), set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for p in node.parents or ():
            if p is None or id(p) in stops:
                continue
            yield p
            if type(p) is Ctx:
                stack.append(p)


def _cut() -> bool:
    """True when a transform is called inside ``no_grad()``. As torch.func's
    transforms, it computes its derivatives all the same (it records its own
    graph), but what it returns is a constant to the graph outside: no_grad()
    inside a transformed function stops the outer transform's gradient there."""
    return not _GRAD_ENABLED.get()


def _map_tree(f, value):
    """``value`` with ``f`` applied to each item that is no tuple, list or dict
    in it (a NamedTuple, as SVDResult, keeps its type)."""
    if isinstance(value, tuple):
        parts = [_map_tree(f, v) for v in value]
        return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)
    if isinstance(value, list):
        return [_map_tree(f, v) for v in value]
    if isinstance(value, dict):
        return {k: _map_tree(f, v) for k, v in value.items()}
    return f(value)


def _leaves(value):
    """The items of ``value`` that are no tuple, list or dict (see :func:`_map_tree`)."""
    found = []
    _map_tree(found.append, value)
    return found


def _native(value, nested: bool, cut: bool = False):
    """A result as the caller gets it: Tensors inside (detached from every
    graph when ``cut``), native arrays outermost."""
    if nested and not cut:
        return value

    def one(v):
        if type(v) is not Tensor:
            return v
        # NumPy's 0-d arithmetic gives scalars; transforms answer arrays
        return v.detach() if nested else _array(v.data)

    return _map_tree(one, value)


def _zeros_like(t: Tensor) -> Tensor:
    xp, scope = resolve("zeros_like", t.data)
    with scope:
        return constant(xp.zeros_like(t.data))


def _ones_like(t: Tensor):
    xp, scope = resolve("ones_like", t.data)
    with scope:
        return xp.ones_like(t.data)


def _call(name: str, f, args: tuple, nums: tuple, has_aux: bool = False):
    """``f`` on ``args`` with the differentiated ones made Tensors: its output
    (and aux, with ``has_aux``), and their :class:`_Target` s."""
    args = list(args)
    like = _float_place(args, nums)
    width = _float_width(args, nums)
    targets = []
    for n in nums:
        target = _input(name, args[n], f"argument {n}", like, width)
        args[n] = target.arg
        targets.append(target)
    out, aux = _split_aux(name, f(*args), has_aux)
    return out, aux, targets


def _float_place(args: list, nums: tuple):
    """Where a differentiated Python float's leaf goes: beside the first other
    argument of a library other than NumPy (a torch tensor's float becomes
    torch's), else None (the default device)."""
    if not any([isinstance(args[n], (float, complex)) for n in nums]):
        return None
    for a in args:
        data = a.data if type(a) is Tensor else a
        if not (hasattr(data, "shape") and hasattr(data, "dtype")) or isinstance(
            data, (np.ndarray, np.generic)
        ):
            continue
        try:
            return array_device(data)
        except TypeError:  # not an array xpgrad knows (a scipy.sparse matrix): not a place
            continue
    return None


def _float_width(args: list, nums: tuple):
    """The dtype of a differentiated Python float's leaf: the widest real floating dtype
    among the other arguments' arrays (a complex one's real part), as their library
    reads a Python float beside them (float32 * 2.0 is float32), else None (float64). A
    float64 leaf made a float32 function compute in float64 when differentiated."""
    if not any([type(args[n]) is float for n in nums]):
        return None
    best = (0, None)
    for a in args:
        data = a.data if type(a) is Tensor else a
        if isinstance(data, np.generic) or not hasattr(data, "shape") or not hasattr(data, "dtype"):
            continue
        try:
            xp = resolve("grad", data)[0]
            if not dtype_info(xp, data.dtype).inexact:
                continue
            bits = xp.finfo(data.dtype).bits  # of the real part, for a complex dtype
        except TypeError:  # not an array xpgrad knows
            continue
        if bits > best[0]:
            best = (bits, "bfloat16" if "bfloat16" in str(data.dtype) else f"float{bits}")
    return best[1]


def _gradients(outs: list, targets: list, seeds: list, create_graph: bool,
               retain_graph: bool, name: str = "xpgrad transform") -> list:
    """The gradient of each target (zeros for one the outputs do not use):
    ``xpgrad.autograd.grad`` at the targets' nodes. A seed may be a Python
    number (a gradient of a scalar output). Errors name ``name``, the
    transform called."""
    live = [(o, _as_seed(o, c, name)) for o, c in zip(outs, seeds)
            if type(o) is Tensor and o.requires_grad]
    found = [None] * len(targets)
    if live:
        found = _walk([o for o, _ in live], [c for _, c in live], [t.key for t in targets],
                      create_graph=create_graph, retain_graph=retain_graph, op=name)
    return [_zeros_like(t.arg) if g is None else (g if type(g) is Tensor else constant(g))
            for t, g in zip(targets, found)]


def _as_seed(out: Tensor, c, name: str):
    """A cotangent for ``out``: a Python number as an array of out's kind."""
    if c is None or hasattr(c, "shape") or type(c) is Tensor:
        return c
    if isinstance(c, numbers.Number) and not isinstance(c, bool):
        xp, scope = resolve(name, out.data)
        with scope:
            return xp.full(tuple(out.shape), c, dtype=out.data.dtype,
                           device=getattr(out.data, "device", None))
    raise TypeError(
        f"{name}: a cotangent or tangent must be an array or a Python number; got "
        f"{type(c).__name__}"
    )


def _refuse_numbers_read(name: str, out) -> None:
    """A TypeError when ``out`` (or a part of it), what a transformed function
    returned, is a number it read out of a Tensor that requires grad
    (``float(loss)``): that number carries no gradient, and the transform
    would give 0 silently. Another number returned after such a read may be
    computed from it (``1 - float(a) / float(b)``, as scikit-learn's d2
    scores) or a constant after a read for control flow (``return 0.0``):
    the two look alike, so a UserWarning says what would be lost."""
    reads = getattr(_CURRENT.get(), "number_reads", None)
    if not reads:
        return
    for o in out if isinstance(out, (tuple, list)) else (out,):
        if type(o) is Tensor:
            continue
        try:
            value = o.item() if hasattr(o, "item") else o
        except (TypeError, ValueError):  # not one number: none was read as it
            continue
        how = next((how for how, number in reads if number == value), None)
        if how is None:
            if isinstance(value, numbers.Number):
                level, frame = 1, sys._getframe()  # the first frame outside xpgrad: the user's
                while frame is not None and frame.f_globals.get("__name__", "").startswith("xpgrad"):
                    frame, level = frame.f_back, level + 1
                warnings.warn(
                    f"{name}: the function returned {type(o).__name__} {o!r}, not a Tensor, "
                    f"after reading Python numbers out of Tensors that require grad "
                    f"({reads[0][0]}): if it is computed from them, its gradient is lost (0 "
                    f"here). Compute it with xp's functions; return xp.asarray({value!r}) for "
                    f"a constant on purpose",
                    UserWarning, stacklevel=level,
                )
            continue
        raise TypeError(
            f"{name}: the function returned {type(o).__name__} {o!r}, not a Tensor: a "
            f"Python number it read out of a Tensor that requires grad ({how}), which "
            f"carries no gradient, so the gradient would be 0. Return the Tensor instead of "
            f"float(...) or .item() of it (scikit-learn's metrics end with float(): compute "
            f"the loss with xp's functions)"
        )


def _scalar_output(name: str, out) -> Tensor:
    if type(out) is not Tensor:
        if isinstance(out, (float, int)) or hasattr(out, "shape") and tuple(out.shape) == ():
            _refuse_numbers_read(name, out)
            return out  # no Tensor in it: the gradient is zero
        raise TypeError(
            f"{name}: the function must return a scalar array; got {type(out).__name__} (with "
            f"has_aux=True it returns a pair (output, aux))"
        )
    if out.shape != ():
        raise TypeError(
            f"{name}: the function must return a scalar (shape ()); it returned shape "
            f"{out.shape}. Reduce it (xp.sum) or use xpgrad.jacobian or xpgrad.vjp"
        )
    if not dtype_info(resolve(name, out.data)[0], out.data.dtype).inexact:
        raise TypeError(f"{name}: the function returned dtype {out.dtype}; it must be floating")
    return out


def _split_aux(name: str, result, has_aux: bool):
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"{name}: with has_aux=True the function must return a pair (output, aux); got "
            f"{type(result).__name__}"
        )
    return result[0], result[1]


def value_and_grad(f, argnums=0, *, has_aux: bool = False):
    """``f`` and its gradient with respect to the arguments ``argnums``.

    ``f`` returns a scalar (shape ``()``), or ``(scalar, aux)`` with
    ``has_aux``. The returned function gives ``(value, grad)``, or
    ``((value, aux), grad)``; ``grad`` is a tuple when ``argnums`` is.

    Raises
    ------
    TypeError
        If an argument differentiated is an integer or not an array, or ``f``
        returns anything but a floating scalar.
    ValueError
        If ``argnums`` is out of range.

    Examples
    --------
    >>> import numpy as np, xpgrad
    >>> v, g = xpgrad.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    >>> float(v), g
    (5.0, array([2., 4.]))
    """
    return _value_and_grad("value_and_grad", f, argnums, has_aux)


def _value_and_grad(name: str, f, argnums, has_aux: bool):
    """:func:`value_and_grad`, its errors naming ``name`` (the transform the user called)."""
    _function(name, f)

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        nums = _argnums(name, argnums, len(args))
        nested, cut = _nested(args), _cut()
        with _Recording():
            out, aux, targets = _call(name, lambda *a: f(*a, **kwargs), args, nums, has_aux)
            out = _scalar_output(name, out)
            nested = nested or _joined_elsewhere([out])
            grads = _gradients([out], targets, [None], nested, nested, name)
        g = tuple(grads) if isinstance(argnums, (tuple, list)) else grads[0]
        value = out if not has_aux else (out, aux)
        return _native(value, nested, cut), _native(g, nested, cut)

    return transformed


def grad(f, argnums=0, *, has_aux: bool = False):
    """The gradient of scalar-valued ``f`` with respect to the arguments
    ``argnums`` (an int, or a tuple for a tuple of gradients); with
    ``has_aux``, ``f`` returns ``(scalar, aux)`` and the result is
    ``(grad, aux)``. See :func:`value_and_grad`.

    >>> import xpgrad
    >>> xpgrad.grad(lambda x: x * xpgrad.grad(lambda y: x * y)(2.0))(3.0)
    array(6.)
    """
    return _grad("grad", f, argnums, has_aux)


def _grad(name: str, f, argnums, has_aux: bool):
    """:func:`grad`, its errors naming ``name``."""
    vg = _value_and_grad(name, f, argnums, has_aux)

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return transformed


def vjp(f, *primals, has_aux: bool = False):
    """``(out, vjp_fn)``: ``f(*primals)`` and the function that takes a
    cotangent of ``out``'s shape (a tuple of them for a tuple ``out``) and
    returns the tuple of ``cotangent @ J``, one per primal. With ``has_aux``,
    ``f`` returns ``(out, aux)`` and so does this, as ``(out, vjp_fn, aux)``.
    ``vjp_fn`` may be called many times.

    >>> import numpy as np, xpgrad
    >>> out, back = xpgrad.vjp(lambda x: x * x, np.array([1.0, 3.0]))
    >>> back(np.array([1.0, 1.0]))
    (array([2., 6.]),)
    """
    _function("vjp", f)
    name = "vjp"
    nested, cut = _nested(primals), _cut()
    with _Recording():
        out, aux, targets = _call(name, f, primals, tuple(range(len(primals))), has_aux)
        _refuse_numbers_read(name, out)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for i, o in enumerate(outs):
        if isinstance(o, (dict, tuple, list)):  # its arrays would get no cotangent, silently
            where = f" at position {i} of its tuple" if isinstance(out, (tuple, list)) else ""
            raise TypeError(
                f"vjp: the function returned a {type(o).__name__}{where}; vjp takes one array or "
                f"a flat tuple of arrays as the output: return those"
            )
    nested = nested or _joined_elsewhere(outs)

    def vjp_fn(cotangent):
        if isinstance(out, (tuple, list)) and not isinstance(cotangent, (tuple, list)):
            raise TypeError(  # an array would be split into its rows, a dict into its keys
                f"vjp: the function returned a {type(out).__name__} of {len(outs)} outputs; pass "
                f"a tuple of {len(outs)} cotangents, got {type(cotangent).__name__}"
            )
        cts = list(cotangent) if isinstance(out, (tuple, list)) else [cotangent]
        if len(cts) != len(outs):
            raise ValueError(f"vjp: the cotangent has {len(cts)} parts for {len(outs)} outputs")
        for o, c in zip(outs, cts):
            if hasattr(c, "shape") and tuple(c.shape) != tuple(getattr(o, "shape", ())):
                raise ValueError(
                    f"vjp: the cotangent has shape {tuple(c.shape)}, the output {tuple(o.shape)}"
                )
        inner, inner_cut = nested or _nested(cts), cut or _cut()
        with _Recording():
            grads = _gradients(outs, targets, cts, inner, True, name)
        return _native(tuple(grads), inner, inner_cut)

    if has_aux:
        return _native(out, nested, cut), vjp_fn, _native(aux, nested, cut)
    return _native(out, nested, cut), vjp_fn


def jvp(f, primals, tangents):
    """``(f(*primals), J @ tangents)``: the Jacobian-vector product, forward
    mode, computed as the derivative of a vector-Jacobian product with respect
    to its cotangent (two reverse passes). ``primals`` and ``tangents`` are
    tuples of the same length and shapes. A tuple (or list) of outputs gives
    a tuple of their tangents, as ``jax.jvp``.

    >>> import numpy as np, xpgrad
    >>> xpgrad.jvp(lambda x: x ** 3, (np.array([2.0]),), (np.array([1.0]),))
    (array([8.]), array([12.]))
    """
    _function("jvp", f)
    name = "jvp"
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument)")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    nested, cut = _nested(primals) or _nested(tangents), _cut()
    with _Recording():
        out, _, targets = _call(name, f, tuple(primals), tuple(range(len(primals))))
        _refuse_numbers_read(name, out)
        several = isinstance(out, (tuple, list))
        outs = [_jvp_output(o) for o in (out if several else (out,))]
        live = [o for o in outs if o.requires_grad]
        nested = nested or _joined_elsewhere(live)
        found = {}
        if live:
            # one cotangent u per output: d/du of <vjp(u), t> is J t, output by output,
            # whatever u is. Ones, not zeros: the rules' checks of the gradient they
            # get (eigh's at a repeated eigenvalue) must see one that reaches them.
            us = [_Target(_alias(_internal(Tensor(_ones_like(o), requires_grad=True))))
                  for o in live]
            back = _gradients(live, targets, [u.arg for u in us], True, True, name)
            pairs = [(g, t) for g, t in zip(back, tangents) if g.requires_grad]
            if pairs:
                got = _gradients([g for g, _ in pairs], us, [t for _, t in pairs], nested, nested,
                                 name)
                found = {id(o): g for o, g in zip(live, got)}
        t_outs = [found.get(id(o)) for o in outs]
        t_outs = [_zeros_like(o) if t is None else t for o, t in zip(outs, t_outs)]
    if several:
        return _native((_like(out, outs), _like(out, t_outs)), nested, cut)
    return _native((outs[0], t_outs[0]), nested, cut)


def _like(seq, items: list):
    """``items`` as a sequence of ``seq``'s type (a NamedTuple's: EighResult)."""
    return type(seq)(*items) if hasattr(seq, "_fields") else type(seq)(items)


def _jvp_output(o) -> Tensor:
    """An output of jvp's function as a Tensor; a constant array has tangent 0."""
    if type(o) is Tensor:
        return o
    if not (hasattr(o, "shape") and hasattr(o, "dtype")):
        raise TypeError(
            f"jvp: the function must return an array or a tuple of arrays; got {type(o).__name__}"
        )
    return constant(o)  # a constant array: its tangent is zeros, as JAX's


def jacobian(f, argnums=0, *, has_aux: bool = False):
    """The Jacobian of ``f`` with respect to the arguments ``argnums``, by
    reverse mode (one vector-Jacobian product per output element), as
    ``jax.jacrev``: of shape ``out.shape + in.shape``. A tuple ``argnums``
    gives a tuple, and a tuple output a tuple (per output) of them.

    >>> import numpy as np, xpgrad
    >>> xpgrad.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    return _jacobian("jacobian", f, argnums, has_aux)


def _jacobian(name: str, f, argnums, has_aux: bool):
    """:func:`jacobian`, its errors naming ``name`` (hessian's are hessian's)."""
    _function(name, f)

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        nums = _argnums(name, argnums, len(args))
        nested, cut = _nested(args), _cut()
        with _Recording():
            out, aux, targets = _call(name, lambda *a: f(*a, **kwargs), args, nums, has_aux)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            nested = nested or _joined_elsewhere(outs)
            table = [_jacobian_rows(o, targets, nested, name) for o in outs]
        many_in = isinstance(argnums, (tuple, list))
        rows = [tuple(r) if many_in else r[0] for r in table]
        jac = tuple(rows) if isinstance(out, (tuple, list)) else rows[0]
        return _native((jac, aux) if has_aux else jac, nested, cut)

    return transformed


def _jacobian_rows(out, targets: list, nested: bool, name: str) -> list:
    """d out / d target for each target, of shape ``out.shape + target.shape``."""
    import xpgrad.array_api as tx

    if type(out) is not Tensor:
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            out = np.asarray(float(out))
        if not (hasattr(out, "shape") and hasattr(out, "dtype")):
            raise TypeError(f"{name}: the function must return arrays; got {type(out).__name__}")
        out = constant(out)  # a constant: its Jacobian is zeros, as JAX's
    if dtype_info(resolve(name, out.data)[0], out.data.dtype).complex:
        # one cotangent per element gives d re(out) only: a real x's imaginary part would be lost
        if name == "hessian":  # what is complex is the gradient, of a complex input
            raise TypeError(
                f"hessian: the gradient is complex ({out.dtype}): the function has a complex "
                f"input, whose Hessian is not one matrix of the kind hessian builds (the Jacobian "
                f"of the gradient, in reverse mode, takes real outputs); use xpgrad.hvp(f, x, v) "
                f"for its products with vectors, or split x into real and imaginary parts"
            )
        raise TypeError(
            f"{name}: the function returned a complex array ({out.dtype}); {name} is reverse "
            f"mode, for real outputs (as jax.jacrev and torch's jacobian): take it of xp.real(...) "
            f"and of xp.imag(...) of the output, or use xpgrad.jvp"
        )
    shape = out.shape
    n = 1
    for d in shape:
        n *= d
    leaves = [t.arg for t in targets]
    if not out.requires_grad or n == 0:
        return [tx.zeros(shape + t.shape, dtype=t.dtype, device=t.device) for t in leaves]
    flat = tx.reshape(out, (n,))
    xp, scope = resolve(name, out.data)
    parts = [[] for _ in leaves]
    with scope:
        eye = xp.eye(n, dtype=out.data.dtype, device=getattr(out.data, "device", None))
    for k in range(n):
        for i, g in enumerate(_gradients([flat], targets, [eye[k, :]], nested, True, name)):
            parts[i].append(g)
    return [tx.reshape(tx.stack(p), shape + t.shape) for p, t in zip(parts, leaves)]


def hessian(f, argnums=0):
    """The Hessian of scalar-valued ``f``: the Jacobian of its gradient, of
    shape ``in.shape + in.shape``; nested tuples for a tuple ``argnums``.

    >>> import numpy as np, xpgrad
    >>> xpgrad.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return _jacobian("hessian", _grad("hessian", f, argnums, False), argnums, False)


def hvp(f, x, v):
    """``H(x) @ v`` for scalar-valued ``f``, without forming the Hessian: the
    gradient of ``<grad f(x), v>`` (reverse over reverse). ``x`` and ``v`` are
    arrays of one shape, or tuples of them (``f`` then takes several arguments,
    and the result is a tuple).

    >>> import numpy as np, xpgrad
    >>> xpgrad.hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    _function("hvp", f)
    name = "hvp"
    many = isinstance(x, (tuple, list))
    xs, vs = (tuple(x), tuple(v)) if many else ((x,), (v,))
    if len(xs) != len(vs):
        raise ValueError(f"hvp: {len(xs)} arguments but {len(vs)} vectors")
    nested, cut = _nested(xs) or _nested(vs), _cut()
    with _Recording():
        out, _, targets = _call(name, f, xs, tuple(range(len(xs))))
        out = _scalar_output(name, out)
        nested = nested or _joined_elsewhere([out])
        grads = _gradients([out], targets, [None], True, True, name)
        live = [(g, w) for g, w in zip(grads, vs) if g.requires_grad]
        if live:
            result = tuple(_gradients([g for g, _ in live], targets, [w for _, w in live],
                                      nested, nested, name))
        else:
            result = tuple([_zeros_like(t.arg) for t in targets])
    return _native(result if many else result[0], nested, cut)


# -- user rules ------------------------------------------------------------------


class custom_vjp:
    """A function with a gradient of the user's own, as ``jax.custom_vjp``.

    Decorate ``f``, then give its rule with ``f.defvjp(f_fwd, f_bwd)``:

    - ``f_fwd(*args) -> (out, residuals)``: the output and what the backward
      needs;
    - ``f_bwd(residuals, g) -> tuple``: one gradient per argument of ``f``
      (None for one without), from the upstream gradient ``g``.

    Both receive Tensors and are written as Array API code. The rule works on
    Tensors and in every transform, and differentiates to higher order: the
    residuals keep their own graph back to the arguments, and ``f_bwd`` runs on
    Tensors when a recorded backward needs it.

    >>> import xpgrad
    >>> @xpgrad.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> clip_gradient.defvjp(lambda x: (x, None),
    ...                      lambda res, g: (g.__array_namespace__().clip(g, -1.0, 1.0),))
    >>> xpgrad.grad(lambda x: (clip_gradient(x) * 5.0).sum())(xpgrad.tensor([1.0]).data)
    array([1.])
    """

    def __init__(self, f) -> None:
        _function("custom_vjp", f)
        functools.update_wrapper(self, f)
        self.f = f
        self.fwd = self.bwd = None
        self._signature = None  # f's, read on the first call

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        """``args`` and ``kwargs`` as positional arguments of the function (its
        defaults filled in), so that fwd gets them and bwd gives one gradient
        per position."""
        import inspect

        name = getattr(self.f, "__name__", "the function")
        if self._signature is None:
            try:
                self._signature = inspect.signature(self.f)
            except (TypeError, ValueError):  # a builtin without one: as they are
                self._signature = False
        if self._signature is False:
            if kwargs:
                raise TypeError(f"custom_vjp: {name} has no signature to place keyword arguments by")
            return args
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"custom_vjp: {name}: {exc}") from None
        bound.apply_defaults()
        if bound.kwargs:
            raise TypeError(
                f"custom_vjp: {name} takes keyword-only arguments ({', '.join(bound.kwargs)}), "
                f"which have no position for bwd's gradients; make them positional"
            )
        return tuple(bound.args)

    def defvjp(self, fwd, bwd) -> None:
        """Set the forward (``fwd(*args) -> (out, residuals)``) and backward
        (``bwd(residuals, g) -> tuple``) of the rule."""
        if not callable(fwd) or not callable(bwd):
            raise TypeError("custom_vjp.defvjp: pass two callables, fwd and bwd")
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise TypeError(
                f"custom_vjp: {getattr(self.f, '__name__', 'the function')} has no rule yet; "
                f"call .defvjp(fwd, bwd) first"
            )
        # as jax.custom_vjp: keyword arguments and defaults to their positions
        args = self._positional(args, kwargs)
        _refuse_nested("custom_vjp", args, "bwd gives one gradient per argument")
        if not records(args) or self in _IN_FWD.get():
            return self.f(*args)  # in its own fwd, the function is the plain primal
        name = getattr(self.f, "__name__", "custom_vjp")
        token = _IN_FWD.set(_IN_FWD.get() | {self})
        try:
            pair = self.fwd(*args)
        finally:
            _IN_FWD.reset(token)
        if type(pair) not in (tuple, list) or len(pair) != 2:  # a Tensor of 2 would unpack silently
            got = type(pair).__name__ + (f" of {len(pair)}" if type(pair) in (tuple, list) else "")
            raise TypeError(
                f"custom_vjp: the fwd of {name} must return a pair (output Tensor, residuals), as "
                f"jax.custom_vjp's; got {got}"
            )
        out, residuals = pair
        if type(out) is not Tensor:
            raise TypeError(
                f"custom_vjp: fwd must return (output Tensor, residuals); its output is "
                f"{type(out).__name__}"
            )
        if _closes_over(out, args):  # bwd gives gradients of the arguments only (JAX refuses too)
            raise TypeError(
                f"custom_vjp: {name} uses a Tensor that requires grad but is none of its "
                f"arguments; its gradient would be lost: pass it as an argument"
            )
        places = tuple([(tuple(a.shape), a.data.dtype, resolve(name, a.data)[0])
                        if type(a) is Tensor else None for a in args])
        saved = _UserSaved(self.bwd, _as_read(residuals), name, places)
        return joined(_UserRule, name, out.data, args, saved)


# The custom_vjp functions whose fwd is running: called there, they are their primal.
_IN_FWD: contextvars.ContextVar[frozenset] = contextvars.ContextVar(
    "xpgrad_custom_fwd", default=frozenset()
)


def checkpoint(f):
    """``f`` whose forward runs again during the backward instead of keeping
    what its ops save: only its arguments are kept, as ``jax.checkpoint`` and
    ``torch.utils.checkpoint`` do. Memory for time; ``f`` returns one Tensor.

    The rerun draws the same random numbers from NumPy's global generator
    (``numpy.random``) and torch's (CPU, and CUDA once initialized) as the
    call did, as torch's ``preserve_rng_state``: their states are saved at the
    call and restored around the rerun. A ``numpy.random.Generator`` or
    CuPy's generator that ``f`` draws from is not: pass the noise in as an
    argument instead. The result is a new Tensor, never a view of an
    argument (``checkpoint(lambda p: p.T)(a)``): a write into it stays there.

    >>> import xpgrad
    >>> x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> xpgrad.checkpoint(lambda t: (t.__array_namespace__().exp(t) * t).sum())(x).backward()
    >>> x.grad
    array([ 5.43656366, 22.1671683 ])
    """

    _function("checkpoint", f)

    @functools.wraps(f)
    def checkpointed(*args, **kwargs):
        # keyword arguments are arguments too: a Tensor among them gets its gradient
        keys, n = tuple(kwargs), len(args)
        flat = args + tuple(kwargs.values())
        _refuse_nested("checkpoint", flat, "the rerun reads only the arguments themselves")
        if not records(flat):
            return f(*args, **kwargs)
        # The arguments' values now: an assignment into one later rebinds its
        # Tensor to new data, which the rerun must not read.
        now = tuple([constant(a.data) if type(a) is Tensor else a for a in flat])
        rng = _rng_states()
        token = _GRAD_ENABLED.set(False)
        try:
            out = f(*args, **kwargs)
        finally:
            _GRAD_ENABLED.reset(token)
        for i, (a, was) in enumerate(zip(flat, now)):
            if type(a) is Tensor and a.data is not was.data:
                where = f"argument {i}" if i < n else f"keyword argument {keys[i - n]!r}"
                raise RuntimeError(
                    f"checkpoint: the function wrote into its {where} in place (t[k] = v, "
                    f"t += v), which runs without a graph here and again in the backward: the "
                    f"write cannot be recorded, and the Tensor outside would hold values its "
                    f"graph does not give (torch raises too); write into a copy inside the "
                    f"function (t = xp.asarray(t, copy=True))"
                )
        if type(out) is not Tensor:
            raise TypeError(f"checkpoint: the function must return a Tensor; got {type(out).__name__}")
        node = joined(_Checkpoint, "checkpoint", out.data, flat, None)

        def rerun(*values):
            return f(*values[:n], **dict(zip(keys, values[n:])))

        node._node.saved = _CheckpointSaved(rerun if keys else f, now, node._node.parents, rng)
        return node

    return checkpointed


def _refuse_nested(op: str, args, why: str) -> None:
    """A TypeError where an argument is a tuple, list or dict holding a Tensor
    that requires grad: ``op`` would not see it (custom_vjp ran its function as
    plain code, its rule never called; checkpoint kept everything)."""
    for i, a in enumerate(args):
        if isinstance(a, (tuple, list, dict)) and any(
            [type(v) is Tensor and v.requires_grad for v in _leaves(a)]
        ):
            raise TypeError(
                f"{op}: argument {i} is a {type(a).__name__} holding Tensors that require grad; "
                f"{why}: pass the Tensors as arguments of their own"
            )


def _rng_states() -> list:
    """The global random states a checkpoint's rerun starts from: NumPy's, and
    torch's (CPU, and each CUDA device once initialized) where torch is imported."""
    states = [(np.random.set_state, np.random.get_state())]
    torch = sys.modules.get("torch")
    if torch is not None:
        states.append((torch.set_rng_state, torch.get_rng_state()))
        if torch.cuda.is_initialized():
            states.append((torch.cuda.set_rng_state_all, torch.cuda.get_rng_state_all()))
    return states


def _set_rng_states(states: list) -> None:
    for set_state, state in states:
        set_state(state)


def _closes_over(out: Tensor, args) -> bool:
    """True when ``out``'s graph reaches a Tensor that requires grad through
    none of ``args`` (the graph stops at theirs)."""
    stops = {id(a._node or a) for a in args if type(a) is Tensor and a.requires_grad}
    return _reaches_other([out], stops, set(), True)


class _Read:
    """A Tensor among a custom rule's residuals, as the call read it: a write
    into it afterwards (``t[0] = v``) gives it new data and a new node, which
    bwd must not see (torch refuses such a write; checkpoint keeps its
    arguments' values the same way)."""

    __slots__ = ("t", "data", "node")

    def __init__(self, t: Tensor) -> None:
        self.t, self.data, self.node = t, t.data, t._node


def _as_read(r):
    """The residuals with each Tensor among them (in tuples, lists and dicts)
    as a :class:`_Read`."""
    return _map_tree(lambda v: _Read(v) if type(v) is Tensor else v, r)


def _residuals(r, name: str):
    """The residuals as bwd gets them: each Tensor as the call read it."""

    def one(v):
        if type(v) is not _Read:
            return v
        t = v.t
        if t.data is v.data and t._node is v.node:
            return t
        if v.node is not None:
            return _result(v.data, v.node)  # the node it had: the graph to the arguments
        return leaf_as_read(t, v.data, name) if t.requires_grad else constant(v.data)

    return _map_tree(one, r)


class _UserSaved:
    __slots__ = ("bwd", "residuals", "name", "places")

    def __init__(self, bwd, residuals, name, places):
        self.bwd, self.residuals, self.name, self.places = bwd, residuals, name, places


class _UserRule:
    """The node of a :class:`custom_vjp` function: its ``bwd`` on Tensors."""

    higher = True

    @staticmethod
    def backward(g, ctx) -> tuple:
        token = _GRAD_ENABLED.set(False)
        try:
            grads = _UserRule.graph_gradients(None, constant(g), ctx.saved, ctx.needs_input_grad)
        finally:
            _GRAD_ENABLED.reset(token)
        return tuple([None if r is None else r.data for r in grads])

    @staticmethod
    def graph_gradients(tx, g, s, needs) -> tuple:
        grads = s.bwd(_residuals(s.residuals, s.name), g)
        if not isinstance(grads, (tuple, list)) or len(grads) != len(needs):
            raise TypeError(
                f"custom_vjp: the bwd of {s.name} must return a tuple of {len(needs)} "
                f"gradients, one per argument; got {type(grads).__name__}"
                + (f" of {len(grads)}" if isinstance(grads, (tuple, list)) else "")
            )
        out = tuple([_checked(s, i, r) if n else None for i, (r, n) in enumerate(zip(grads, needs))])
        if tx is not None and g.requires_grad:
            for i, r in enumerate(out):
                if r is not None and not _depends_on(r, g) and not _all_zero(r.data):
                    raise TypeError(
                        f"custom_vjp: the bwd of {s.name} gave argument {i} a nonzero gradient "
                        f"that does not depend on its cotangent g through the graph (a vjp is "
                        f"linear in g; NumPy's functions, g.data and g.detach() leave the "
                        f"graph), so a derivative of it (hessian, hvp, jvp, create_graph=True) "
                        f"would be 0; write bwd with g's namespace (g.__array_namespace__())"
                    )
        return out


def _depends_on(r: Tensor, g: Tensor) -> bool:
    """Whether ``r``'s graph reaches ``g`` (its node, or ``g`` itself as a leaf): a
    gradient that requires grad through a residual alone (``g.data * xp.cos(x)``) does
    not, and its derivative in g would be 0."""
    target = g if g._node is None else g._node
    if r is g or r._node is target:
        return True
    return r._node is not None and any(p is target for p in _above([r._node]))


def _all_zero(a) -> bool:
    """Whether array ``a`` holds only zeros (a lazy one's values are computed: this is
    the check of a gradient that does not depend on its cotangent)."""
    xp, scope = resolve("custom_vjp", a)
    with scope:
        return not bool(xp.any(a != 0))


def _checked(s, i: int, g):
    """Argument ``i``'s gradient from a custom bwd, as a Tensor of the
    argument's shape and dtype (None stays None: no gradient)."""
    if g is None:
        return None
    if type(g) is not Tensor and not (hasattr(g, "shape") and hasattr(g, "dtype")):
        raise TypeError(
            f"custom_vjp: the bwd of {s.name} gave {type(g).__name__} for argument {i}; it must "
            f"give an array (or None)"
        )
    shape, dtype, want = s.places[i]
    if tuple(g.shape) != shape:
        raise ValueError(
            f"custom_vjp: the bwd of {s.name} gave shape {tuple(g.shape)} for argument {i}, "
            f"whose shape is {shape}"
        )
    g = g if type(g) is Tensor else constant(g)
    have, _ = resolve("custom_vjp", g.data)
    if have is not want:
        raise TypeError(  # it would become the argument's gradient in another library
            f"custom_vjp: the bwd of {s.name} gave a {namespace_name(have)} array for argument "
            f"{i}, whose data is {namespace_name(want)}; give an array of the argument's library "
            f"(make it with g.__array_namespace__(), or xpgrad.convert(..., like=g))"
        )
    if g.data.dtype != dtype:
        if dtype_info(have, g.data.dtype).complex and not dtype_info(have, dtype).complex:
            raise TypeError(  # the cast would drop its imaginary part, silently
                f"custom_vjp: the bwd of {s.name} gave the complex dtype {g.data.dtype} for "
                f"argument {i}, which is real ({dtype}); give a real gradient (xp.real of it, "
                f"if that is what is meant)"
            )
        g = apply(ops.astype, (g,), dtype)
    return g


class _CheckpointSaved:
    __slots__ = ("f", "args", "parents", "rng")

    def __init__(self, f, args, parents, rng):
        self.f, self.args, self.parents, self.rng = f, args, parents, rng


class _Checkpoint:
    """The node of a :func:`checkpoint` call: ``f`` again, then its backward."""

    higher = True

    @staticmethod
    def backward(g, ctx) -> tuple:
        s, needs = ctx.saved, ctx.needs_input_grad
        args = [Tensor(a.data, requires_grad=True) if n else a for a, n in zip(s.args, needs)]
        token = _GRAD_ENABLED.set(True)
        try:
            grads = _Checkpoint._rerun(s, args, needs, g, create_graph=False)
        finally:
            _GRAD_ENABLED.reset(token)
        return tuple([_data_or_none(r) for r in grads])

    @staticmethod
    def graph_gradients(tx, g, s, needs) -> tuple:
        # f again on Tensors joined to the graph its arguments came from, so
        # that its gradient is differentiable with respect to them too. Each
        # argument has a node of its own: on its parent's, the gradient of an
        # argument that another one was made from (f(a[0], a), or f(a, a)) was
        # the total, and the other's share reached it twice.
        args = [
            (leaf_as_read(p, a.data, "checkpoint", own_node=True) if type(p) is Tensor
             else passed_through(a.data, p, "checkpoint")) if n else a
            for a, p, n in zip(s.args, s.parents, needs)
        ]
        return _Checkpoint._rerun(s, args, needs, g, create_graph=True)

    @staticmethod
    def _rerun(s, args, needs, g, create_graph: bool) -> tuple:
        now = _rng_states()
        _set_rng_states(s.rng)  # the call's random numbers again
        try:
            out = s.f(*args)
        finally:
            _set_rng_states(now)
        if type(out) is not Tensor or not out.requires_grad:  # no path to the arguments
            return tuple([_zeros_like(a) if n else None for a, n in zip(args, needs)])
        if _closes_over(out, args):
            raise TypeError(
                "checkpoint: the function uses a Tensor that requires grad but is none of its "
                "arguments; its gradient would be lost: pass it as an argument"
            )
        leaves = [a for a, n in zip(args, needs) if n]
        found = iter(_autograd_grad(out, leaves, g, create_graph=create_graph, allow_unused=True))
        grads = []
        for a, n in zip(args, needs):
            r = next(found) if n else None
            grads.append(_zeros_like(a) if n and r is None else r)
        return tuple(grads)


def _data_or_none(t):
    return None if t is None else t.data
