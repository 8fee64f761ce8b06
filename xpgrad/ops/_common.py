"""Pieces every rule uses: the :class:`Rule` base, the saved context, the
checks at the top of a backward, GEMM with half-precision upcasting, and
casting a gradient back to its input's dtype."""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from .._backend import (
    _BY_XP,
    LIBS,
    NO_SCOPE,
    _describe,
    register,
    declare,
    dtype_info,
    is_lazy,
    is_numeric,
    namespace_name,
)
from .._shapes import fmt, sum_to

__all__ = [
    "BACKEND_ERRORS",
    "NO_SCOPE",
    "RULES",
    "Ctx",
    "Rule",
    "backend_error",
    "note_backward",
    "cast",
    "check_grad",
    "check_grads",
    "gemm",
    "WALKS",
    "alone",
    "any_known",
    "mT",
    "run",
    "to_input",
]

def _count_in_a_call(a) -> int:
    return sys.getrefcount(a)


def _count_of_a_local() -> int:
    probe = object()
    return _count_in_a_call(probe)


# What sys.getrefcount says, inside alone(), of an array that only the
# caller's one variable holds: that variable, alone()'s argument and
# getrefcount's own. Trusted only where that count is known to mean "no one
# else": CPython before 3.14 (whose compiler may pass locals without a
# reference) with the GIL. Elsewhere nothing is written in place or taken
# without a copy: slower, never wrong.
_ALONE = (
    3
    if sys.implementation.name == "cpython"
    and sys.version_info < (3, 14)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
    and _count_of_a_local() == 3
    else 0
)


def alone(a, held: int = 0) -> bool:
    """True when ``a`` can be written into: it owns its memory (a writable
    NumPy array or torch tensor that is not a view, or a NumPy array that is
    the whole of a base only it holds: the reshape of a rule's fresh result),
    and nothing holds it but the caller's one variable and the ``held``
    references the caller knows of. JAX, dask and array_api_strict arrays:
    never (their views cannot be told)."""
    return _owns_memory(a) and sys.getrefcount(a) <= _ALONE + held


def _owns_memory(a) -> bool:
    kind = type(a)
    if kind is np.ndarray:
        if not a.flags.writeable:
            return False
        base = a.base
        if base is None:
            return True
        # references to base: a's, this variable's and getrefcount's
        return (
            type(base) is np.ndarray and base.base is None and base.size == a.size
            and a.flags.c_contiguous and sys.getrefcount(base) <= _ALONE
        )
    return kind.__module__ == "torch" and a._base is None


# The Tensor's backward walks running now, in any thread (a key of each: set.add
# and discard are atomic, and cost less than a lock). While more than one runs,
# no rule writes its gradient over an array it saved (Ctx.final): another walk
# through the same node may be reading it.
WALKS: set = set()


# What an array library raises from a computation it refuses (torch's
# NotImplementedError is a RuntimeError; OverflowError an ArithmeticError).
BACKEND_ERRORS = (TypeError, ValueError, RuntimeError, ArithmeticError)


class Rule:
    """Base of every rule, and the harness that runs it. A rule is a class
    named for its op, with

    - ``forward(*inputs, **params) -> (out, ctx)``, and
    - ``backward(grad_out, ctx) -> tuple``, one gradient per differentiable
      input (None where there is none), each with its input's shape and dtype.

    A subclass lists its array arguments in ``args``, in the order its forward
    passes them to ``resolve()``; ``scalars`` names those that may be Python
    scalars and ``optional`` those that may be None. Defining the class
    declares them, so every error ``resolve()`` raises names the op and the
    argument. Templates for families of rules (``Binary``, ``Unary``) pass
    ``template=True`` and declare nothing themselves.

    The harness owns everything around the math. A forward computes through
    :func:`run` (device scope, backend errors renamed for the op) and returns
    ``cls.record(xp, scope, saved, needs, out)``. The backward is this class's:
    it checks ``grad_out`` and ``ctx`` (:func:`check_grad`), returns Nones when
    no input needs a gradient, makes the device current, and calls the rule's

    - ``gradients(xp, g, s, needs) -> tuple``: one gradient per input from the
      upstream gradient ``g`` and the saved state ``s``, None where ``needs``
      is False, each in its input's shape and dtype.

    A rule with several results (``eigh``) sets ``outputs`` to their number:
    its forward returns them as a tuple with ``record``, its backward takes a
    tuple of their gradients (None for a result no gradient reached), and the
    Tensor gives each result its own Tensor.
    """

    args: tuple = ()
    scalars: tuple = ()
    optional: tuple = ()
    #: The name of the Array API standard's element-wise function this rule
    #: is, for ``xpgrad.array_api`` to generate it from the rule (with the
    #: rule's docstring); None for rules that are not one.
    standard: str | None = None
    #: How many results the forward returns (a tuple when more than one).
    outputs: int = 1
    #: True when the rule's gradients, run on Tensors through
    #: ``xpgrad.array_api`` (``graph_gradients``), are themselves differentiable:
    #: ``backward(create_graph=True)`` and the transforms refuse the others.
    higher: bool = True
    #: The saved fields that are the rule's inputs, by position: under
    #: ``create_graph`` each becomes its input's Tensor (and ``out``, the
    #: result's), so the gradients record a graph back to them. Defaults to the
    #: fields named as ``args``.
    saved_inputs: dict | None = None

    def __init_subclass__(cls, template: bool = False, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not template:
            declare(cls.__name__, cls.args, scalars=cls.scalars, optional=cls.optional)
            if cls.__module__.startswith("xpgrad.ops."):  # a user's own rule is theirs
                if cls.__name__ in RULES:
                    raise TypeError(f"Rule: xpgrad.ops has a rule named {cls.__name__!r} already")
                RULES[cls.__name__] = cls
        if not cls.__module__.startswith("xpgrad."):  # a user's: what it gives is checked
            cls.backward = _checked_backward(cls)

    @classmethod
    def record(cls, xp, scope, saved, needs: tuple, out):
        """``(out, ctx)``: what a forward returns, ``needs`` saying which
        inputs get gradients."""
        if cls.outputs == 1:
            return out, Ctx(cls.__name__, xp, scope, saved, needs, tuple(out.shape), out.dtype)
        shapes = tuple([tuple(o.shape) for o in out])
        return out, Ctx(cls.__name__, xp, scope, saved, needs, shapes, tuple([o.dtype for o in out]))

    @classmethod
    def backward(cls, grad_out, ctx):
        """One gradient per input (None where there is none), in its input's
        shape and dtype; see the rule's docstring for the math."""
        if cls.outputs == 1:
            grad_out = check_grad(cls.__name__, grad_out, ctx)
        else:
            grad_out = check_grads(cls.__name__, grad_out, ctx)
        needs = ctx.needs_input_grad
        if True not in needs:
            return (None,) * len(needs)
        if ctx.scope is NO_SCOPE:
            return cls.gradients(ctx.xp, grad_out, ctx.saved, needs)
        with ctx.scope:
            return cls.gradients(ctx.xp, grad_out, ctx.saved, needs)

    @staticmethod
    def gradients(xp, g, s, needs) -> tuple:
        raise NotImplementedError("a rule defines gradients(xp, g, s, needs) or its own backward")

    @classmethod
    def graph_gradients(cls, tx, g, s, needs) -> tuple:
        """The gradients as ``gradients`` computes them, on Tensors: ``tx`` is
        ``xpgrad.array_api``, ``g`` a Tensor (a tuple of them, or None, for a
        rule with several results) and ``s`` the saved state with the inputs'
        and the result's Tensors in place of their arrays. What this records
        is the graph of the gradient, for ``backward(create_graph=True)``."""
        return cls.gradients(tx, g, s, needs)

    #: ``gradients_into(xp, g, s, into) -> into``: a one-input rule's gradient
    #: added into ``into``, an array of x's shape and dtype that no one else
    #: holds (the gradient x has so far), without an x-sized temporary; None
    #: where the rule has no such way. The Tensor's walk uses it.
    gradients_into = None

    @classmethod
    def backward_into(cls, grad_out, ctx, into):
        """``into`` plus this one-input rule's gradient, summed in place into
        ``into`` (see ``gradients_into``)."""
        grad_out = check_grad(cls.__name__, grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return into
        if ctx.scope is NO_SCOPE:
            return cls.gradients_into(ctx.xp, grad_out, ctx.saved, into)
        with ctx.scope:
            return cls.gradients_into(ctx.xp, grad_out, ctx.saved, into)


def _checked_backward(cls):
    """``cls.backward`` (a user's rule's), with what it returns checked where
    the Tensor recorded the op: one gradient per input, each of its input's
    library and shape, in its dtype (another real one is cast, as torch's
    engine does; a complex one for a real input is refused). xpgrad's own
    rules are trusted, and pay nothing."""
    raw = cls.__dict__.get("backward")
    if raw is None:  # inherited: the definition itself, bound to this class
        raw = next(k.__dict__["backward"] for k in cls.__mro__ if "backward" in k.__dict__)
    raw = getattr(getattr(raw, "__func__", None), "_raw", raw)  # a user's parent's, unwrapped
    inner = raw.__get__(None, cls)
    name = cls.__name__

    def backward(grad_out, ctx):
        return _checked_results(name, inner(grad_out, ctx), ctx)

    backward._raw = raw
    backward.__doc__ = getattr(inner, "__doc__", None)
    return staticmethod(backward)


def _checked_results(op: str, results, ctx):
    """``results``, a user's rule's gradients for the inputs of ``ctx``'s node
    (as the Tensor recorded it: ``ctx.parents``), checked and cast."""
    parents = getattr(ctx, "parents", None)
    if parents is None:  # called on plain arrays: its caller takes what it gives
        return results
    n = len(parents)
    if type(results) not in (tuple, list) or len(results) != n:
        got = type(results).__name__ + (f" of {len(results)}" if type(results) in (tuple, list) else "")
        raise TypeError(
            f"{op}.backward: must return a tuple of {n} gradients, one per input (None for one "
            f"without); got {got}"
        )
    out = []
    for i, (parent, g) in enumerate(zip(parents, results)):
        if parent is None or g is None:
            out.append(g)
            continue
        if type(parent) is Ctx:
            shape, dtype = tuple(parent.out_shape), parent.out_dtype
        else:  # a leaf Tensor
            shape, dtype = tuple(parent.shape), parent.data.dtype
        lib = LIBS.get(type(g))
        if lib is None or (lib.xp is not ctx.xp and _BY_XP.get(id(ctx.xp)) is not lib):
            raise TypeError(
                f"{op}.backward: gave {_describe(g)} for input {i}; it must be an array of the "
                f"inputs' library, {namespace_name(ctx.xp)}"
            )
        if tuple(g.shape) != shape:
            raise ValueError(
                f"{op}.backward: gave shape {fmt(g.shape)} for input {i}, whose shape is "
                f"{fmt(shape)}; reduce a broadcast gradient with xpgrad.sum_to"
            )
        if dtype is not None and g.dtype != dtype:
            if dtype_info(ctx.xp, g.dtype).complex and not dtype_info(ctx.xp, dtype).complex:
                raise TypeError(
                    f"{op}.backward: gave a complex gradient ({g.dtype}) for input {i}, which is "
                    f"real ({dtype}); give its real part"
                )
            g = ctx.xp.astype(g, dtype)
        out.append(g)
    return tuple(out)


#: Every rule of ``xpgrad.ops``, by name, in the order defined: ``xpgrad.ops`` and its
#: ``__all__`` are made from it, and ``xpgrad.array_api`` generates its
#: element-wise functions from the rules with a ``standard`` name.
RULES: dict[str, type] = {}


class Ctx:
    """What a forward saves for its backward; in a Tensor's graph, also the node.

    Attributes
    ----------
    op : str
        The rule that made it; its backward refuses any other rule's ctx.
    xp : namespace
        The inputs' namespace, so the backward does not look it up again.
    scope : context manager
        Makes the inputs' device current (CuPy); ``NO_SCOPE`` elsewhere.
    saved : NamedTuple
        The rule's own arrays and facts, by name (each rule defines its type).
    needs_input_grad : tuple of bool
        One per differentiable input. A forward sets it from the dtypes
        (integer inputs get no gradient); a caller such as the Tensor may
        switch entries off, and the backward then skips that work.
    out_shape : tuple
        The forward's output shape: the shape ``grad_out`` must have.
    out_dtype : dtype
        The forward's output dtype: a ``grad_out`` of another real dtype is
        cast to it (as torch does); a complex one for another dtype is refused.
        A tuple of both, one per result, for a rule with several results.
        None (a Ctx made by hand without it): any numeric dtype passes.
    rule, parents, seq
        Set only when the Tensor records the op (one object per recorded op):
        the rule class, each input's node (its ctx), the leaf Tensor itself or
        None (no gradient wanted), and the creation order. Once a backward has
        released the node, ``saved`` is ``tensor.RELEASED`` (``parents`` stay:
        a later walk needs to know what lies below).
    final : bool
        True while the Tensor's backward runs this node's backward for the
        last time (it releases the node next): the rule may then write its
        gradient over an array it saved that no one else holds, if no other
        walk is running (``len(WALKS) == 1``).
    """

    __slots__ = ("op", "xp", "scope", "saved", "needs_input_grad", "out_shape", "out_dtype",
                 "rule", "parents", "seq", "final")

    def __init__(self, op, xp, scope, saved, needs_input_grad, out_shape, out_dtype=None):
        self.op = op
        self.xp = xp
        self.scope = scope
        self.saved = saved
        self.needs_input_grad = needs_input_grad
        self.out_shape = out_shape
        self.out_dtype = out_dtype
        self.final = False

    def __repr__(self) -> str:
        return (
            f"Ctx(op={self.op!r}, xp={self.xp.__name__}, out_shape={self.out_shape}, "
            f"needs_input_grad={self.needs_input_grad})"
        )


def run(op: str, scope, fn, *args):
    """``fn(*args)`` with the inputs' device current, the backend's errors
    renamed for ``op`` (see :func:`backend_error`): how every rule computes.
    No ``with`` is entered when there is no device to make current."""
    try:
        if scope is NO_SCOPE:
            return fn(*args)
        with scope:
            return fn(*args)
    except BACKEND_ERRORS as exc:
        raise backend_error(op, exc)


def check_grad(op: str, grad_out, ctx, xp=None):
    """Check what a backward is given, before any work, and return the
    gradient to use: ``ctx`` must come from ``op``'s forward, and ``grad_out``
    must be an array of the forward's library with its output's shape and a
    numeric (not boolean) dtype. A real ``grad_out`` for a real output of
    another dtype comes back cast to the output's (as torch's backward casts
    it); a complex one where the output's dtype differs is refused.

    Every rule's backward calls this on its first line, so every backward
    raises the same errors, naming the op. ``xp`` is the output's namespace
    where it is not the inputs' (``to_device``).
    """
    # One condition for the common, valid call: this runs on every backward.
    lib = LIBS.get(type(grad_out))
    if (
        lib is not None
        and type(ctx) is Ctx
        and ctx.op == op
        and lib.xp is (ctx.xp if xp is None else xp)
        and grad_out.shape == ctx.out_shape  # torch.Size equals a tuple; nan never does
        # the output's dtype, numeric unless the output is boolean, where no input
        # has a gradient; dtypes are mostly singletons (not array_api_strict's)
        and (grad_out.dtype is ctx.out_dtype or grad_out.dtype == ctx.out_dtype)
    ):
        return grad_out
    return _check_grad_fully(op, grad_out, ctx, xp)


def check_grads(op: str, grads, ctx) -> tuple:
    """:func:`check_grad` for a rule with several results: ``grads`` is a
    tuple with one gradient per result, None for a result without one."""
    if type(ctx) is not Ctx or ctx.op != op:
        _check_grad_fully(op, None, ctx, None)
    n = len(ctx.out_shape)
    if type(grads) not in (tuple, list) or len(grads) != n:
        raise TypeError(
            f"{op}.backward: grad_out must be a tuple of {n} gradients, one per result of "
            f"{op} (None for a result without one); got {_describe(grads)}"
        )
    return tuple([
        None if g is None else check_grad(op, g, Ctx(op, ctx.xp, ctx.scope, None, (), shape, dtype))
        for g, shape, dtype in zip(grads, ctx.out_shape, ctx.out_dtype or (None,) * n)
    ])


def _check_grad_fully(op: str, grad_out, ctx, xp):
    """:func:`check_grad`'s slow path: the error for what is wrong, or the
    gradient to use (cast to the output's dtype) where nothing is."""
    if type(ctx) is not Ctx or ctx.op != op:
        made = f"from {ctx.op}.forward" if type(ctx) is Ctx else _describe(ctx)
        raise TypeError(
            f"{op}.backward: ctx must be the one {op}.forward returned; got {made}"
        )
    lib = LIBS.get(type(grad_out))
    if lib is None:
        try:
            lib = register(type(grad_out), grad_out, f"{op}.backward")
        except TypeError:
            lib = None
    xp = ctx.xp if xp is None else xp
    # A forward may name its library by another of its namespaces (a user's
    # rule with xpgrad.get_namespace's): the same library all the same.
    if lib is None or (lib.xp is not xp and _BY_XP.get(id(xp)) is not lib):
        name = namespace_name(xp)
        raise TypeError(
            f"{op}.backward: grad_out is {_describe(grad_out)}"
            + (f" ({lib.name})" if lib is not None else "")
            + f", but {op}.forward ran on {name}; pass a {name} array of shape "
            f"{fmt(ctx.out_shape)}"
        )
    if not _fits(tuple(grad_out.shape), tuple(ctx.out_shape)):
        raise ValueError(
            f"{op}.backward: grad_out has shape {fmt(grad_out.shape)}, expected "
            f"{fmt(ctx.out_shape)}"
        )
    if not (lib.numeric.get(grad_out.dtype) or is_numeric(lib, grad_out.dtype)):
        raise TypeError(
            f"{op}.backward: grad_out has dtype {grad_out.dtype}; it must be a floating "
            f"point (or integer) array, like {op}'s output"
        )
    want = ctx.out_dtype
    if want is None or grad_out.dtype == want:
        return grad_out
    info, out_info = dtype_info(xp, grad_out.dtype), dtype_info(xp, want)
    if info.complex or out_info.complex:
        raise TypeError(
            f"{op}.backward: grad_out has dtype {grad_out.dtype}, but {op}'s output is "
            f"{want}; for complex values both must be the same dtype: pass a {want} array"
        )
    if not out_info.inexact:  # an integer output: no input of it has a gradient
        return grad_out
    return xp.astype(grad_out, want)


def _fits(have: tuple, want: tuple) -> bool:
    """``have`` (grad_out's shape) is ``want`` (the output's, recorded), where
    a size the forward did not know (dask's nan, known since:
    ``compute_chunk_sizes()``) matches any. An unknown size in ``have`` for
    a known one cannot be checked: refused."""
    return len(have) == len(want) and all([h == w or w != w for h, w in zip(have, want)])


def backend_error(op: str, exc: Exception) -> Exception:
    """The backend's own error from a forward's computation, renamed for ``op``.

    A failure the checks could not foresee (an integer to a negative power, a
    dtype the library refuses) keeps the library's words but names the op,
    and torch's RuntimeError becomes the ValueError or TypeError it means.
    Running out of memory (torch's ``OutOfMemoryError``, JAX's
    ``RESOURCE_EXHAUSTED``) is no bad value: it keeps its type, with a note
    naming the op. The new error's cause is ``exc``, so callers
    ``raise backend_error(op, exc)`` without ``from``: an error named already
    comes back as it is, and ``raise exc from exc`` would make it its own
    cause (a loop for code that follows ``__cause__``).
    """
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not replace the error
        text = f"<{type(exc).__name__} whose message cannot be shown>"
    if text.startswith(f"{op}: "):  # xpgrad's own (a library adapter's), already named
        return exc
    if type(exc).__name__.endswith("OutOfMemoryError") or text.startswith("RESOURCE_EXHAUSTED"):
        _add_note(exc, f"{op}: raised while computing {op}")  # torch's, JAX's: memory, not a value
        return exc
    # torch's refusal to promote two dtypes is a RuntimeError; NumPy's and the
    # standard's (array_api_strict's) is a TypeError: the wrong kind of operand
    refused = isinstance(exc, TypeError) or text.startswith("Promotion for ")
    kind = TypeError if refused else ValueError
    named = kind(f"{op}: {type(exc).__name__} from the array library: {text}")
    named.__cause__ = exc
    return named


def note_backward(op: str, exc: BaseException) -> None:
    """Add to ``exc``, raised inside the backward of ``op``, a note that says
    so (Python 3.11 on prints an exception's notes under its message). The
    error keeps its type and words: in a backward the inputs were accepted
    already, so what fails is the library or the machine (a singular matrix,
    memory, a library's bug), and ``except np.linalg.LinAlgError`` or
    ``except torch.cuda.OutOfMemoryError`` around ``backward()`` must still
    catch it. An error that names ``op`` at its head, or has the note, gets
    no other."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not replace the error
        text = ""
    if not text.startswith((f"{op}: ", f"{op}.backward: ")):
        _add_note(exc, f"{op}.backward: raised in the gradient of {op}")


def _add_note(exc: BaseException, note: str) -> None:
    try:  # whatever an odd exception does here, it is the one that reaches the caller
        notes = getattr(exc, "__notes__", None)
        if notes is not None and note in notes:  # a walk inside a walk (checkpoint)
            return
        if hasattr(exc, "add_note"):
            exc.add_note(note)
        else:  # Python 3.10: kept, not printed
            exc.__notes__ = [*(notes or ()), note]
    except Exception:  # noqa: BLE001 - no attributes, __notes__ not a list, ...
        pass


class DTypePair(NamedTuple):
    """How a GEMM treats two operand dtypes (see :func:`dtype_pair`)."""

    direct: bool  # same real dtype, no upcast: the library's own ``@`` needs no help
    upcast: bool  # a half-precision operand is computed in float32 (``gemm``)
    needs: tuple  # (a is floating, b is floating): which inputs get gradients


_DTYPE_PAIRS: dict = {}


def dtype_pair(xp, da, db) -> DTypePair:
    """The cached :class:`DTypePair` of two operand dtypes in namespace ``xp``.

    torch's ``@`` does not promote mixed dtypes and NumPy has no half GEMM:
    anything but ``direct`` goes through :func:`gemm`.
    """
    key = (id(xp), da, db)
    hit = _DTYPE_PAIRS.get(key)
    if hit is None:
        ia, ib = dtype_info(xp, da), dtype_info(xp, db)
        upcast = ia.gemm is not None or ib.gemm is not None
        direct = da == db and not (upcast or ia.complex or ib.complex)
        hit = _DTYPE_PAIRS[key] = DTypePair(direct, upcast, (ia.inexact, ib.inexact))
    return hit


def differentiable(xp, x) -> bool:
    """True when ``x`` is an array of real or complex floating dtype."""
    return hasattr(x, "dtype") and dtype_info(xp, x.dtype).inexact


def any_known(xp, mask) -> bool | None:
    """Whether any element of the boolean ``mask`` is True; None where its
    values cannot be read: a lazy array's (dask, cubed: reading them would
    compute the graph now) or a traced one's (``jax.jit``, ``jax.vmap``). A
    rule then takes its branch-free path, which holds whatever the values are."""
    if is_lazy(mask):
        return None
    found = xp.any(mask)
    try:
        return bool(found)
    except TypeError:  # JAX's TracerBoolConversionError
        return None


def mT(xp, x):
    """Swap the last two axes (a view). ``.T`` is the cheap standard spelling for 2-D."""
    return x.T if x.ndim == 2 else xp.matrix_transpose(x)


def conj_if_complex(xp, x):
    return xp.conj(x) if dtype_info(xp, x.dtype).complex else x


def gemm(xp, p, q):
    """``p @ q``, computing half precision in float32 where the namespace has no
    half GEMM (NumPy). The result may then be float32: callers cast once, at
    the end, so the rounding to half happens only once."""
    up = dtype_info(xp, p.dtype).gemm
    if up is not None:
        p = xp.astype(p, up)
    up = dtype_info(xp, q.dtype).gemm
    if up is not None:
        q = xp.astype(q, up)
    if p.dtype != q.dtype:  # torch's @ does not promote (float32 @ float64 raises)
        dt = xp.result_type(p.dtype, q.dtype)
        p = p if p.dtype == dt else xp.astype(p, dt)
        q = q if q.dtype == dt else xp.astype(q, dt)
    return p @ q


def to_input(xp, g, shape, dtype):
    """``g`` summed over the axes its input was broadcast along (:func:`xpgrad.sum_to`),
    in the input's dtype: the last step of every broadcasting gradient."""
    return cast(xp, sum_to(g, shape, xp=xp), dtype)


def cast(xp, g, dtype):
    """``g`` in ``dtype``; the real part when a complex result meets a real input."""
    if g.dtype == dtype:
        return g
    if dtype_info(xp, g.dtype).complex and not dtype_info(xp, dtype).complex:
        g = xp.real(g)
    return xp.astype(g, dtype)
