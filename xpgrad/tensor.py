"""A small autograd Tensor on top of the rules.

A Tensor wraps one native array (``.data``) and, when it was computed from
tensors that require gradients, its graph node: the rule's :class:`~xpgrad.ops.Ctx`,
which also holds the rule and the nodes of its inputs (one object per
recorded op). The graph holds nodes, not Tensors, so
an intermediate result's data lives only as long as someone holds the Tensor
or a rule saved it. The graph is walked without recursion and released after
``backward()``.
"""

from __future__ import annotations

import contextvars
import copy
import itertools
import math
import numbers
import operator
import sys
import threading
import weakref

import numpy as np

from . import _dtypes, ops
from ._backend import (
    LIBS, adapter_of, array_device, declare, device_for, dtype_info, is_elsewhere, resolve,
    resolve_beside, to_numpy,
)
from ._backend import to_device as _to_device
from ._device import ArrayDevice, Device, get_default_device
from .ops._common import (
    BACKEND_ERRORS, NO_SCOPE, WALKS, Ctx, alone, backend_error, cast, note_backward,
)
from ._shapes import fmt

__all__ = ["Tensor", "apply", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "matmul", "add_bias", "linear", "sum"]

_GRAD_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "xpgrad_grad_enabled", default=True
)
# Creation order of graph nodes. A node is always made after its inputs, so
# sorting by it, newest first, is a topological order for the backward walk.
_next_seq = itertools.count().__next__
_SCALARS = (int, float, complex, bool)


#: Inside a transform's call of its function (``xpgrad.grad`` and the
#: others), a list of ``(how, number)`` for each Python number read out of a
#: Tensor that requires grad (``float(t)``, ``t.item()``): a function that
#: returns such a number would otherwise get a gradient of zero, silently.
_NUMBER_READS: contextvars.ContextVar = contextvars.ContextVar("xpgrad_number_reads", default=None)


#: The Python floats read lately out of Tensors that require grad, by id,
#: with how (the float itself is held, so that its id stays its own): one that
#: meets the graph again, as in ``reg + mean_squared_error(y, p)`` (whose
#: float() ends its Tensor's graph), would get no gradient; apply() refuses it.
_READ_FLOATS: dict = {}
_READ_KEEP = 256


def _read_as_number(t, name: str, number):
    """``number``, read out of ``t`` by ``name``, noted for the transform
    running, and (a float) for :func:`_refuse_read`."""
    if t._requires_grad and _GRAD_ENABLED.get():
        reads = _NUMBER_READS.get()
        if reads is not None:
            reads.append((name, number))
        if type(number) is float or type(number) is complex:
            _READ_FLOATS[id(number)] = (number, name)
            if len(_READ_FLOATS) > _READ_KEEP:
                try:  # the oldest; another thread may be at it too
                    del _READ_FLOATS[next(iter(_READ_FLOATS))]
                except (KeyError, RuntimeError, StopIteration):
                    pass
    return number


def _refuse_read(rule, inputs) -> None:
    """A TypeError when one of ``inputs``, of an op being recorded, is a float
    read out of a Tensor that requires grad: its gradient would be lost."""
    for x in inputs:
        refuse_read(rule.__name__, x)


def refuse_read(op: str, x) -> None:
    """A TypeError when ``x`` is a float read out of a Tensor that requires
    grad (``float(t)``, ``t.item()``), given to ``op``: recorded with a Tensor
    (``reg + mse``), or made a Tensor of its own (``xp.asarray(mse)``), it
    carries no gradient, which would be 0 silently (inside no_grad(), it is fine)."""
    if _READ_FLOATS and _GRAD_ENABLED.get():
        hit = _READ_FLOATS.get(id(x))
        if hit is not None and hit[0] is x:
            raise TypeError(
                f"{op}: an operand is {x!r}, a Python number read out of a Tensor that "
                f"requires grad ({hit[1]}), which carries no gradient: the gradient through it "
                f"would be 0. Keep it a Tensor (scikit-learn's metrics end with float(): compute "
                f"the loss with xp's functions), or read it from t.detach() if no gradient "
                f"should flow through it"
            )


def is_grad_enabled() -> bool:
    """False inside :class:`no_grad`."""
    return _GRAD_ENABLED.get()


# What each active no_grad() block restores on exit, innermost last. It lives
# in the context, not on the no_grad object, so that one object can be
# entered by several threads (or asyncio tasks) at once.
_RESTORE: contextvars.ContextVar[tuple] = contextvars.ContextVar("xpgrad_no_grad", default=())


class no_grad:
    """Context manager, and decorator: operations inside record no graph.

    One instance may be shared and entered from several threads at once:
    each thread sees its own setting.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> with xpgrad.no_grad():
    ...     y = w * 2.0
    >>> y.requires_grad
    False

    As a decorator (``@xpgrad.no_grad()``, with the parentheses), each call
    of the function runs inside it:

    >>> @xpgrad.no_grad()
    ... def double(t):
    ...     return t * 2.0
    >>> double(w).requires_grad
    False
    """

    _recording = False  # what the context sets

    def __enter__(self) -> no_grad:
        _RESTORE.set(_RESTORE.get() + (_GRAD_ENABLED.get(),))
        _GRAD_ENABLED.set(self._recording)
        return self

    def __exit__(self, *exc) -> None:
        stack = _RESTORE.get()
        if not stack:
            raise RuntimeError(
                f"{type(self).__name__}: __exit__ without a matching __enter__ in this context"
            )
        _GRAD_ENABLED.set(stack[-1])
        _RESTORE.set(stack[:-1])

    def __call__(self, fn):
        """``fn`` wrapped so that each of its calls runs inside this context."""
        import functools
        import inspect

        name = type(self).__name__
        if not callable(fn):
            raise TypeError(
                f"{name}(): as a decorator it takes a function; got {type(fn).__name__}"
            )
        if inspect.isgeneratorfunction(fn) or inspect.iscoroutinefunction(fn) or (
            inspect.isasyncgenfunction(fn)
        ):
            raise TypeError(
                f"{name}(): cannot decorate {fn.__qualname__}: its body runs after the call "
                f"returns, outside the context; write `with xpgrad.{name}():` inside it"
            )

        @functools.wraps(fn)
        def no_grad_wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return no_grad_wrapper


class enable_grad(no_grad):
    """Context manager, and decorator: operations inside record their graph
    again, inside a ``no_grad()`` (as torch's ``enable_grad``). An optimizer's
    ``step(closure)`` runs its closure inside it.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> with xpgrad.no_grad(), xpgrad.enable_grad():
    ...     y = w * 2.0
    >>> y.requires_grad
    True
    """

    _recording = True


#: NumPy ufunc -> (the Tensor's operator, its reflected one): what ``ndarray
#: <op> Tensor`` calls (ndarray's operators call the ufunc).
_UFUNC_OPERATORS = {
    "add": ("__add__", "__radd__"), "subtract": ("__sub__", "__rsub__"),
    "multiply": ("__mul__", "__rmul__"), "matmul": ("__matmul__", "__rmatmul__"),
    "divide": ("__truediv__", "__rtruediv__"), "true_divide": ("__truediv__", "__rtruediv__"),
    "floor_divide": ("__floordiv__", "__rfloordiv__"), "remainder": ("__mod__", "__rmod__"),
    "power": ("__pow__", "__rpow__"), "bitwise_and": ("__and__", "__rand__"),
    "bitwise_or": ("__or__", "__ror__"), "bitwise_xor": ("__xor__", "__rxor__"),
    "left_shift": ("__lshift__", "__rlshift__"), "right_shift": ("__rshift__", "__rrshift__"),
    "less": ("__lt__", "__gt__"), "less_equal": ("__le__", "__ge__"),
    "greater": ("__gt__", "__lt__"), "greater_equal": ("__ge__", "__le__"),
    "equal": ("__eq__", "__eq__"), "not_equal": ("__ne__", "__ne__"),
}

#: NumPy's names of ufuncs that the standard names otherwise.
_STANDARD_NAMES = {
    "absolute": "abs", "arccos": "acos", "arccosh": "acosh", "arcsin": "asin",
    "arcsinh": "asinh", "arctan": "atan", "arctan2": "atan2", "arctanh": "atanh",
    "conjugate": "conj", "power": "pow", "invert": "bitwise_invert", "true_divide": "divide",
}


def _array_api_name(name: str) -> str | None:
    """The name under which ``xpgrad.array_api`` (or its ``special``) has the
    ufunc ``name``, as ``special.<name>`` for the latter; None where neither has it."""
    array_api = _NAMESPACE[0]  # registered by xpgrad.array_api, which is built on this module
    standard = _STANDARD_NAMES.get(name, name)
    if standard in getattr(array_api, "__all__", ()):
        return standard
    if hasattr(array_api.special, name):
        return f"special.{name}"
    return None


# Writes into a Tensor (item assignment, in-place operators, an optimizer's
# step through a view) copy and rebind its data, and a view's rebind its root's:
# one at a time, so that two threads writing into one array lose neither write
# (NumPy's in-place writes lose none), and the roots' lists of views stay whole.
_WRITES = threading.RLock()


def _serialized(fn):
    """``fn`` run holding ``_WRITES``."""
    import functools

    @functools.wraps(fn)
    def locked(*args, **kwargs):
        with _WRITES:
            return fn(*args, **kwargs)

    return locked


def _bool_flag(flag, where: str) -> None:
    if type(flag) is not bool and not isinstance(flag, np.bool_):  # "yes", 0.0, an array
        raise TypeError(f"{where}: requires_grad must be True or False; got {flag!r}")


def _check_requires_grad(xp, data, flag, where: str) -> bool:
    _bool_flag(flag, where)
    flag = bool(flag)
    if flag and not dtype_info(xp, data.dtype).inexact:
        raise TypeError(
            f"{where}: requires_grad=True needs a floating-point dtype; got {data.dtype}. "
            f"Gradients of integer or boolean arrays are not defined: pass dtype='float64' "
            f"or another floating dtype"
        )
    return flag


def _arithmetic(rule, name: str):
    """``Tensor.<name>`` and its reflected method: ``rule`` applied. Where the other
    operand is of a type xpgrad does not know (not an array, a number or a sequence)
    that has the reflected method, NotImplemented, so that it runs, as torch and NumPy
    let it; else xpgrad's error, which says what to do."""
    mirrored = "__r" + name[2:]

    def method(self, other):
        try:
            return apply(rule, (self, other))
        except TypeError:
            if hasattr(type(other), mirrored) and not hasattr(other, "shape") and not (
                    isinstance(other, (numbers.Number, str, bytes, list, tuple))):
                return NotImplemented  # (a Fraction's __radd__ would decline a Tensor)
            raise

    def reflected(self, other):  # other <op> self, other's method declining: xpgrad's error
        return apply(rule, (other, self))

    method.__name__, reflected.__name__ = name, mirrored
    method.__qualname__, reflected.__qualname__ = "Tensor." + name, "Tensor." + mirrored
    return method, reflected


class Tensor:
    """An array with an optional gradient. Build one with :func:`xpgrad.tensor`.

    Attributes
    ----------
    data : native array
        NumPy, CuPy, torch or other Array API array.
    grad : native array, Tensor or None
        Same shape, dtype and device as ``data``; filled by ``backward()`` on
        tensors with ``requires_grad=True`` that no op produced (leaves), and
        summed over successive ``backward()`` calls (a Tensor with a graph after
        ``backward(create_graph=True)``). Set it to None to reset; an assigned
        value is checked.
    requires_grad : bool
    """

    # Set only where views are made (NumPy's, torch's basic indexing, transposes
    # and reshapes): _view, on a view, (root, steps), the steps (an index, or a
    # _Permuted or _Reshaped) that read its values from root; _views, on a root,
    # weak references to its live views (see __setitem__).
    __slots__ = ("data", "_grad", "_requires_grad", "_node", "_view", "_views", "__weakref__")
    # Lets the modules below this one (_dtypes) know a Tensor without importing it.
    _xpgrad_tensor = True

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``ndarray <op> Tensor`` (NumPy calls its ufunc, then this) is the
        Tensor's operator, recorded; every other NumPy or scipy.special ufunc
        on a Tensor raises a TypeError that says what to call instead: the
        ufunc would drop the gradient."""
        name = getattr(ufunc, "__name__", str(ufunc))
        ops_ = _UFUNC_OPERATORS.get(name)
        if "out" in kwargs:  # ndarray's in-place a += t too: a cannot hold a Tensor's result
            raise TypeError(
                f"{name}: NumPy would write a Tensor's values into an ndarray (out=, or the "
                f"ndarray's in-place operator), without their gradient; write a = a + t for a "
                f"new Tensor, or pass t.detach().numpy() for plain values"
            )
        if ops_ is not None and method == "__call__" and not kwargs and len(inputs) == 2:
            a, b = inputs
            return getattr(a, ops_[0])(b) if type(a) is Tensor else getattr(b, ops_[1])(a)
        standard = _array_api_name(name) if method == "__call__" else None
        instead = f"xp.{standard}(...)" if standard else "xpgrad.array_api's functions"
        raise TypeError(
            f"{name}{'' if method == '__call__' else '.' + method}: a NumPy or scipy.special "
            f"ufunc, which records no gradient through xpgrad Tensors; call {instead} "
            f"(xp = t.__array_namespace__()), or pass t.detach().numpy() for plain values"
        )

    def __array__(self, dtype=None, copy=None):
        """The values for ``numpy.asarray(t)``: host data only, never a gradient.

        Raises
        ------
        RuntimeError
            If the tensor requires grad (outside ``no_grad()``): the values would
            carry no gradient, and code that falls back to NumPy would return a
            result without one. ``t.detach()`` says that none should flow.
        TypeError
            If the data is on a GPU (copy it with ``t.numpy()``, as CuPy asks).
        ValueError
            For ``copy=False`` when the data is not a NumPy array.
        """
        if self.requires_grad and _GRAD_ENABLED.get():
            raise RuntimeError(
                "Tensor.__array__: this tensor requires grad, and NumPy's values of it would "
                "carry no gradient; call t.detach() first if none should flow (NumPy functions "
                "on it drop the gradient)"
            )
        if self.device.kind != "cpu":
            raise TypeError(
                f"Tensor.__array__: the data is on {self.device}, and NumPy cannot read GPU "
                f"memory implicitly; call t.numpy() to copy it to the host"
            )
        data = _array(self.data)
        if copy is False and not isinstance(data, np.ndarray):
            raise ValueError(
                "Tensor.__array__: copy=False, but this tensor's data is not a NumPy array; "
                "converting it needs a copy"
            )
        if copy is False and dtype is not None and np.dtype(dtype) != data.dtype:
            raise ValueError(
                f"Tensor.__array__: copy=False, but dtype {np.dtype(dtype)} is not the data's "
                f"{data.dtype}; converting it needs a copy"
            )
        values = to_numpy(data)
        if copy:
            return np.array(values, dtype=dtype, copy=True)
        return np.asarray(values, dtype=dtype)

    def __array_function__(self, func, types, args, kwargs):
        """NumPy functions (``numpy.sum(t)``, ``numpy.concatenate``) on Tensors raise
        a TypeError that says what to use: they would drop the gradient."""
        name = getattr(func, "__name__", str(func))
        raise TypeError(
            f"numpy.{name}: NumPy functions do not record gradients through xpgrad Tensors; "
            f"use the Tensor's methods and operators (t.sum(), t @ w) or xpgrad's functions, "
            f"or pass t.detach().numpy() for plain values"
        )

    def __init__(self, data, requires_grad: bool = False) -> None:
        """Wrap ``data``, a native array (or a Tensor's data), as a leaf."""
        if type(data) is Tensor:
            data = data.data
        else:
            data = untracked(data)
        xp, _ = resolve("Tensor", data)
        self._requires_grad = _check_requires_grad(xp, data, requires_grad, "Tensor")
        self._node = None
        self.data = _array(data)
        self._grad = None

    # -- properties -------------------------------------------------------
    def _set_requires_grad(self, flag) -> None:
        _bool_flag(flag, "requires_grad")
        if self._node is not None:
            if not flag:
                raise RuntimeError(
                    "requires_grad: only a leaf's flag can change, and this tensor is the result "
                    "of recorded ops; t.detach() gives its values without a gradient"
                )
            return
        xp, _ = resolve("requires_grad", self.data)
        self._requires_grad = _check_requires_grad(xp, self.data, flag, "requires_grad")

    requires_grad = property(
        operator.attrgetter("_requires_grad"), _set_requires_grad,
        doc="""Whether gradients flow to this tensor: True for a leaf made with
        ``requires_grad=True`` and for every result of recorded ops. A leaf's
        flag may be set (to True only for a floating-point dtype); a result's
        cannot be switched off (``t.detach()`` gives its values).""",
    )

    def __getstate__(self) -> dict:
        """For pickle and copy: the values, the flag and ``.grad``, never the
        graph (it holds modules and saved arrays): a result comes back as a
        leaf that requires grad, as torch's does; a ``.grad`` with a graph as
        its values."""
        grad = self._grad
        return {"data": self.data, "grad": grad.data if type(grad) is Tensor else grad,
                "requires_grad": self._requires_grad}

    def __setstate__(self, state) -> None:
        if type(state) is tuple:  # (None, slots) of a pickle from before __getstate__
            state = {k.lstrip("_"): v for k, v in state[1].items()}
        self.data, self._grad = state["data"], state.get("grad")
        self._requires_grad, self._node = bool(state.get("requires_grad")), None

    def __deepcopy__(self, memo) -> Tensor:
        if self._node is not None:  # torch refuses too: a copy would leave the graph
            raise RuntimeError(
                "deepcopy: this tensor is the result of recorded ops, and a copy would carry no "
                "gradient back to its inputs; deepcopy its leaves, or t.detach() for the values"
            )
        new = _new_tensor(Tensor)
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    def __format__(self, spec: str) -> str:
        """``f"{loss:.3f}"``: a format spec applies to the value of a tensor of
        one element (NumPy's and torch's arrays take one for 0-d arrays); no
        spec gives ``str(t)``."""
        if not spec:
            return str(self)
        if self.size != 1:
            raise TypeError(
                f"__format__: the spec {spec!r} applies to one-element tensors only; this one "
                f"has shape {fmt(self.shape)}"
            )
        info = dtype_info(resolve("__format__", self.data)[0], self.data.dtype)
        kind = complex if info.complex else float if info.inexact else int
        return format(self._scalar(kind, "__format__"), spec)

    @property
    def grad(self):
        """The gradient ``backward()`` gave this leaf (None before): an array of
        ``data``'s library, shape, dtype and device, or a Tensor with a graph
        after ``backward(create_graph=True)``. Assigning checks the same."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            _check_grad_value(self, value)
        self._grad = value

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> _dtypes.DType:
        """The dtype, as an ``xpgrad.array_api`` dtype: it equals the data's own
        (``t.dtype == numpy.float32``); ``t.data.dtype`` is the library's object."""
        return _dtypes.wrap(self.data.dtype)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int | None:
        """The number of elements; None where a size is unknown (dask)."""
        n = 1
        for d in self.data.shape:
            if d is None or d != d:
                return None
            n *= int(d)
        return n

    @property
    def device(self) -> ArrayDevice:
        """Where the data lives: a :class:`xpgrad.Device` (``'cpu'``, ``'cuda:0'``)
        that also remembers the data's library, so that creation functions given
        ``device=t.device`` make arrays of that library."""
        return array_device(self.data)

    def __array_namespace__(self, /, *, api_version=None):
        """The module ``xpgrad.array_api``: the Array API namespace of Tensors,
        whose functions record gradients."""
        if api_version is not None and api_version not in _API_VERSIONS:
            raise ValueError(
                f"__array_namespace__: api_version {api_version!r} is not supported; "
                f"xpgrad.array_api implements {', '.join(_API_VERSIONS)}"
            )
        return sys.modules["xpgrad.array_api"]  # imported by xpgrad/__init__, after this module

    def __dlpack__(self, /, *, stream=None, max_version=None, dl_device=None, copy=None):
        """The data's DLPack capsule, for ``from_dlpack`` of any library: values
        only, so a tensor that requires grad refuses (RuntimeError), as
        ``numpy.asarray(t)`` does."""
        # Only the keywords given are passed on: older exporters accept fewer.
        if self.requires_grad and _GRAD_ENABLED.get():
            raise RuntimeError(
                "Tensor.__dlpack__: this tensor requires grad, and the exported array would "
                "carry no gradient; export t.detach() for its values"
            )
        kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                    ("dl_device", dl_device), ("copy", copy)) if v is not None}
        data = _array(self.data)
        if not hasattr(data, "__dlpack__"):
            raise TypeError(
                f"__dlpack__: this tensor's data ({type(data).__name__}) does not export "
                f"DLPack; convert t.numpy() instead"
            )
        return data.__dlpack__(**kwargs)

    def __dlpack_device__(self, /) -> tuple:
        """The data's ``(device type, device id)`` in DLPack's numbering."""
        return _array(self.data).__dlpack_device__()

    def to_device(self, device, /, *, stream=None) -> Tensor:
        """This tensor on ``device`` (the standard's spelling of :meth:`to`);
        gradients flow back to the original device."""
        if stream is not None:
            raise ValueError("to_device: stream is not supported; pass stream=None")
        dev = device_for(self.data, device, "to_device")
        if not is_elsewhere(dev, self.data):
            return self
        return apply(ops.to_device, (self,), dev)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}, device='{self.device}'{grad})"

    def __iter__(self):
        """The rows ``t[0], t[1], ...``, as NumPy's and torch's arrays give them.
        Without it, Python would call ``t[i]`` until an IndexError: JAX clamps
        the index (and gives the last row forever), array_api_strict refuses
        ``t[0]`` of a matrix (and gives no row at all)."""
        if self.ndim == 0:
            raise TypeError("__iter__: a 0-D tensor has no rows to iterate over")
        return (self[i, ...] for i in range(self.shape[0]))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # -- conversion -------------------------------------------------------
    def numpy(self):
        """The values as a NumPy array: NumPy data itself, other libraries' host
        arrays shared through DLPack where they allow it (so writes to the
        result may change this tensor, as torch's ``.numpy()``), a copy from a GPU.

        Raises
        ------
        RuntimeError
            If the tensor requires grad (outside ``no_grad()``), as torch's: the
            values would leave without their gradient; use ``t.detach().numpy()``.
        """
        if self.requires_grad and _GRAD_ENABLED.get():
            raise RuntimeError(
                "Tensor.numpy: this tensor requires grad, and the array would carry no "
                "gradient; call t.detach().numpy() for its values"
            )
        return to_numpy(self.data)

    def item(self):
        """The single value of a one-element tensor as a Python scalar.

        Raises
        ------
        ValueError
            If the tensor has more or fewer than one element.
        """
        if math.prod(self.shape) != 1:
            raise ValueError(
                f"item: only a one-element tensor has a single value; this one has shape "
                f"{fmt(self.shape)}"
            )
        return _read_as_number(self, "item", to_numpy(self.data).item())

    def _scalar(self, kind: type, name: str):
        if self.size != 1:
            raise TypeError(
                f"{name}: only a one-element tensor converts to a Python {kind.__name__}; "
                f"this one has shape {fmt(self.shape)}"
            )
        data = self.data
        if (kind is float or kind is int) and _dtypes.isdtype(self.dtype, "complex floating"):
            raise TypeError(  # torch's says "overflow", NumPy's names no op
                f"{name}: this tensor is complex ({self.dtype}), which has no Python "
                f"{kind.__name__}; take xp.real(t) (or xp.abs(t)) first"
            )
        try:
            if self.ndim != 0:  # array_api_strict arrays have no reshape method
                xp, scope = resolve(name, data)
                with scope:
                    data = xp.reshape(data, ())
            number = kind(data)
        except BACKEND_ERRORS as exc:
            raise backend_error(name, exc)
        if kind is bool or name == "__index__":  # control flow, never a loss
            return number
        return _read_as_number(self, name, number)

    def __float__(self) -> float:
        return self._scalar(float, "__float__")

    def __complex__(self) -> complex:
        return self._scalar(complex, "__complex__")

    def __int__(self) -> int:
        return self._scalar(int, "__int__")

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"__bool__: the truth value of a tensor of shape {fmt(self.shape)} is "
                f"ambiguous; use xp.any(t) or xp.all(t)"
            )
        return self._scalar(bool, "__bool__")

    def __index__(self) -> int:
        if self.ndim != 0 or not _dtypes.isdtype(self.dtype, "integral"):
            raise TypeError(
                f"__index__: only a 0-D integer tensor is an index; this one has shape "
                f"{fmt(self.shape)} and dtype {self.dtype}"
            )
        return self._scalar(int, "__index__")

    def detach(self) -> Tensor:
        """A tensor sharing ``data`` with no graph and no gradient."""
        return Tensor(self.data)

    def to(self, device) -> Tensor:
        """This tensor on ``device``; gradients flow back to the original device."""
        return apply(ops.to_device, (self,), device_for(self.data, device, "Tensor.to"))

    # -- graph ------------------------------------------------------------
    def backward(self, grad=None, *, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Parameters
        ----------
        grad : array or Tensor, optional
            Upstream gradient with this tensor's shape. May be omitted only for
            a single-element tensor (it is then 1).
        retain_graph : bool, optional
            Keep the graph so that ``backward`` can be called through it
            again. Defaults to ``create_graph``.
        create_graph : bool, default False
            Record the backward itself: each leaf's ``.grad`` is then a Tensor
            with a graph, which can be differentiated again (second and higher
            derivatives), and ``grad`` may be a Tensor with a graph of its own.

        Raises
        ------
        RuntimeError
            If this tensor does not require grad, or its graph was released.
        ValueError
            If ``grad`` is omitted for a tensor with more than one element, or
            has the wrong shape.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad; create its inputs with "
                "xpgrad.tensor(..., requires_grad=True)"
            )
        if retain_graph is None:
            retain_graph = create_graph
        if create_graph:
            _walk([self], [grad], None, create_graph=True, retain_graph=retain_graph)
            return
        grad, xp, scope = _seed("backward", self, grad, shared=True)
        if scope is NO_SCOPE:
            _run_backward(self, grad, xp, retain_graph)
        else:
            with scope:
                _run_backward(self, grad, xp, retain_graph)

    # -- operators --------------------------------------------------------
    __matmul__, __rmatmul__ = _arithmetic(ops.matmul, "__matmul__")

    # arithmetic with a gradient: NotImplemented for an operand of an unknown type, so
    # that its own reflected method runs (torch's and NumPy's do so too)
    __add__, __radd__ = _arithmetic(ops.add, "__add__")
    __sub__, __rsub__ = _arithmetic(ops.sub, "__sub__")
    __mul__, __rmul__ = _arithmetic(ops.mul, "__mul__")
    __truediv__, __rtruediv__ = _arithmetic(ops.div, "__truediv__")
    __pow__, __rpow__ = _arithmetic(ops.pow, "__pow__")

    def __neg__(self):
        return apply(ops.neg, (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return apply(ops.abs, (self,))

    __mod__, __rmod__ = _arithmetic(ops.remainder, "__mod__")

    # Comparisons, bitwise and integer operators: no gradient (their values
    # are booleans, integers or piecewise constant), so they delegate.
    __hash__ = object.__hash__  # by identity, as the backward walk keys nodes

    def __eq__(self, other):
        return _plain_op("equal", self, other)

    def __ne__(self, other):
        return _plain_op("not_equal", self, other)

    def __lt__(self, other):
        return _plain_op("less", self, other)

    def __le__(self, other):
        return _plain_op("less_equal", self, other)

    def __gt__(self, other):
        return _plain_op("greater", self, other)

    def __ge__(self, other):
        return _plain_op("greater_equal", self, other)

    def __floordiv__(self, other):
        return _plain_op("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return _plain_op("floor_divide", other, self)

    def __and__(self, other):
        return _plain_op("bitwise_and", self, other)

    def __rand__(self, other):
        return _plain_op("bitwise_and", other, self)

    def __or__(self, other):
        return _plain_op("bitwise_or", self, other)

    def __ror__(self, other):
        return _plain_op("bitwise_or", other, self)

    def __xor__(self, other):
        return _plain_op("bitwise_xor", self, other)

    def __rxor__(self, other):
        return _plain_op("bitwise_xor", other, self)

    def __lshift__(self, other):
        return _plain_op("bitwise_left_shift", self, other)

    def __rlshift__(self, other):
        return _plain_op("bitwise_left_shift", other, self)

    def __rshift__(self, other):
        return _plain_op("bitwise_right_shift", self, other)

    def __rrshift__(self, other):
        return _plain_op("bitwise_right_shift", other, self)

    def __invert__(self):
        return plain_call("bitwise_invert", self)

    # In-place operators rebind ``data`` (so they work on immutable arrays such
    # as JAX's); see _in_place.
    def __iadd__(self, other):
        return _in_place(self, "+=", ops.add, other)

    def __isub__(self, other):
        return _in_place(self, "-=", ops.sub, other)

    def __imul__(self, other):
        return _in_place(self, "*=", ops.mul, other)

    def __itruediv__(self, other):
        return _in_place(self, "/=", ops.div, other)

    def __ipow__(self, other):
        return _in_place(self, "**=", ops.pow, other)

    def __imatmul__(self, other):
        return _in_place(self, "@=", ops.matmul, other)

    def __imod__(self, other):
        return _in_place(self, "%=", ops.remainder, other)

    def __ifloordiv__(self, other):
        return _in_place(self, "//=", Tensor.__floordiv__, other)

    def __iand__(self, other):
        return _in_place(self, "&=", Tensor.__and__, other)

    def __ior__(self, other):
        return _in_place(self, "|=", Tensor.__or__, other)

    def __ixor__(self, other):
        return _in_place(self, "^=", Tensor.__xor__, other)

    def __ilshift__(self, other):
        return _in_place(self, "<<=", Tensor.__lshift__, other)

    def __irshift__(self, other):
        return _in_place(self, ">>=", Tensor.__rshift__, other)

    # -- shape and reductions ---------------------------------------------
    @property
    def T(self) -> Tensor:
        """All axes reversed (NumPy's ``.T``): a view, as NumPy's (see ``permuted``)."""
        return permuted(self, tuple(range(self.ndim))[::-1])

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped."""
        n = self.ndim
        if n < 2:
            raise ValueError(f"mT: needs at least 2 dimensions; got shape {fmt(self.shape)}")
        return permuted(self, tuple(range(n - 2)) + (n - 1, n - 2))

    def reshape(self, *shape) -> Tensor:
        """Same data in ``shape`` (a tuple, or ints; one may be -1): a view
        where the library's is one (see ``reshaped``)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshaped(self, ops.reshape, shape)

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(ops.sum, (self,), axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(ops.mean, (self,), axis, keepdims)

    # -- indexing ---------------------------------------------------------
    def __getitem__(self, key) -> Tensor:
        """``t[key]``: ints, slices, Ellipsis, None, one integer array or one
        boolean mask (Tensors or native arrays). The gradient goes back to the
        selected elements; a position selected twice gets both contributions."""
        out = apply(ops.getitem, (self,), Tensor._native_key(key))
        adapter = LIBS[type(self.data)].adapter
        if adapter.views and _basic(key) and not (adapter.element_copies and _element(key, self.ndim)):
            _made_view(self, key, out)  # NumPy's and torch's x[0, :] is a view: see __setitem__
        return out

    def __contains__(self, value) -> bool:
        """``value in t``: whether an element equals ``value``, as NumPy's and
        torch's (Python's fallback iterated over the first axis)."""
        return bool(native_call("any", native_call("equal", self, value)))

    @_serialized
    def __setitem__(self, key, value) -> None:
        """``t[key] = value``: rebinds ``t`` to a new node (a copy of the old
        values with ``value`` written at ``key``), so gradients reach both the
        old ``t`` and ``value``; works on immutable arrays (JAX).

        Ops recorded earlier with ``t`` as their input keep the version they
        read: their graph holds ``t``'s old node, not ``t``.

        Where the data's library makes views (NumPy, torch, CuPy,
        array_api_strict), a ``t`` made by ``base[k]`` with ints, slices,
        Ellipsis and None is one, as theirs are, and so is a transpose
        (``base.T``, ``permute_dims``, ``matrix_transpose``, ``moveaxis``),
        ``squeeze``, ``expand_dims`` and a reshape where the library's is a
        view: a write into it (``t[i] = v``, ``t += v``) goes through to
        ``base`` (recorded, so the gradient follows it), and a write into
        ``base`` or into another of its views shows in ``t``. Library code
        writes this way: scikit-learn into a diagonal, scipy into a reshaped
        transpose.

        Raises
        ------
        RuntimeError
            If ``t``, or the base a view of it writes through to, is a leaf
            that requires grad (outside ``no_grad``).
        """
        _write(self, key, value, "__setitem__")

    @staticmethod
    def _native_key(key):
        """An index with every Tensor in it replaced by its data."""
        if type(key) is tuple:
            return tuple([k.data if type(k) is Tensor else k for k in key])
        return key.data if type(key) is Tensor else key


_API_VERSIONS = ("2021.12", "2022.12", "2023.12", "2024.12")


def plain_call(name: str, *arrays, **kwargs) -> Tensor:
    """``xp.<name>(*arrays, **kwargs)`` on the inputs' namespace, as a Tensor
    without a graph: for the functions whose values carry no gradient."""
    return constant(native_call(name, *arrays, **kwargs))


def native_call(name: str, *arrays, **kwargs):
    """``xp.<name>(*arrays, **kwargs)`` on the arrays of Tensors and arrays."""
    natives = [a.data if type(a) is Tensor else a for a in arrays]
    xp, scope, natives = resolve_beside(name, tuple(natives))
    try:
        if len(natives) == 2 and getattr(natives[0], "dtype", None) is not None:
            a, b = natives  # two arrays of two dtypes: as the rules, torch's 0-d arrays promote
            if getattr(b, "dtype", None) is not None and a.dtype != b.dtype:
                natives = adapter_of(xp).promote(xp, a, b)
        with scope:
            return getattr(xp, name)(*natives, **kwargs)
    except BACKEND_ERRORS as exc:
        raise backend_error(name, exc)


def _plain_op(name: str, a, b):
    """A binary operator's :func:`_plain`; NotImplemented for an operand that is
    neither an array nor a Python number (so ``t == None`` is False)."""
    for x in (a, b):
        if type(x) is not Tensor and type(x) not in _SCALARS and not hasattr(x, "shape"):
            return NotImplemented
    return plain_call(name, a, b)


@_serialized
def _in_place(self: Tensor, symbol: str, rule, other) -> Tensor:
    """``self <symbol> other`` (``w -= lr * w.grad``) changes ``self``, as
    NumPy's and torch's do, so every reference to it sees the new values: when
    no graph is recorded (inside no_grad(), or neither side requires grad) the
    result rebinds ``self.data`` (a leaf that requires grad stays one);
    otherwise the op is recorded and ``self`` becomes its result, data and
    node (ops recorded earlier keep the version they read), in ``self``'s
    dtype. On a leaf that requires grad this raises, as in torch, because the
    leaf would stop being the tensor the gradient is for.
    """
    operate = (lambda a, b: apply(rule, (a, b))) if isinstance(rule, type) else rule
    if self._requires_grad and self._node is None and _GRAD_ENABLED.get():
        raise RuntimeError(
            f"{symbol}: a leaf tensor that requires grad cannot change in place while "
            f"gradients are recorded; update parameters inside xpgrad.no_grad() (as "
            f"xpgrad.optim does), or write w = w {symbol[:-1]} ... for a new tensor"
        )
    if getattr(self, "_view", None) is not None or _live_views(self):
        # a view, or a root with live views: in place, as NumPy's, so that the
        # write goes through to the root or shows in the views
        out = operate(self, other)
        if out is NotImplemented:
            return NotImplemented
        _same_shape(symbol, self, out)
        _storable(symbol, self, out.data)
        _write(self, ..., out, symbol)
        return self
    out = operate(self, other)
    if out is NotImplemented:
        return NotImplemented
    _same_shape(symbol, self, out)
    if out.requires_grad:  # recorded: self becomes the result, in its own dtype
        _storable(symbol, self, out.data)
        if out.data.dtype != self.data.dtype:
            out = apply(ops.astype, (out,), self.data.dtype)
        _take_over(self, out, symbol)
        return self
    data = out.data
    if data.dtype != self.data.dtype:
        _storable(symbol, self, data)
        xp, scope = resolve(symbol, data)
        with scope:
            data = xp.astype(data, self.data.dtype)
    self.data = _array(data)  # NumPy's 0-d arithmetic gives a scalar
    if self._node is not None and _GRAD_ENABLED.get():
        # a recorded result whose op records nothing (x //= 2): a constant now, as x // 2
        # is, not the new values on the old node, whose gradient they do not have
        self._node, self._requires_grad = None, False
    return self


def _write(t: Tensor, key, value, symbol: str) -> None:
    """``t[key] = value`` (see ``Tensor.__setitem__``), its errors naming
    ``symbol``: ``__setitem__``, or the in-place operator that writes."""
    native = Tensor._native_key(key)
    view = getattr(t, "_view", None)
    if view is None:
        _take_over(t, apply(ops.setitem, (t, value), native), symbol)
        _refresh_views(t)
        return
    root, keys = view
    if t._node is None and t._requires_grad and _GRAD_ENABLED.get():
        raise RuntimeError(
            f"{symbol}: a leaf tensor that requires grad cannot change in place while "
            "gradients are recorded (this one is a view, p = base[k], made a leaf of its "
            "own); do it inside xpgrad.no_grad(), or on a copy (xp.asarray(t, copy=True))"
        )
    if root._node is None and root._requires_grad and _GRAD_ENABLED.get():
        raise RuntimeError(
            f"{symbol}: this tensor is a view (made by basic indexing, a transpose or a "
            "reshape) of a leaf that requires grad, and writing it would change the leaf; "
            "copy it first (xp.asarray(t, copy=True)), or write inside xpgrad.no_grad()"
        )
    # root[k0][k1]...[key] = value, as a chain of recorded reads and writes
    values = _read_chain(root, keys, t)
    if values is None:  # a view no more
        del t._view
        _take_over(t, apply(ops.setitem, (t, value), native), symbol)
        return
    new = apply(ops.setitem, (values[-1], value), native)
    for k, inner in zip(reversed(keys), reversed(values[:-1])):
        new = _write_step(inner, k, new)
    _take_over(root, new, symbol)
    _refresh_views(root)  # this one among them


def _storable(symbol: str, t: Tensor, data) -> None:
    """Refuse an in-place result of another kind that ``t``'s dtype cannot
    hold (float into int), as NumPy's same-kind casting does."""
    if data.dtype == t.data.dtype:
        return
    have, want = _dtypes.wrap(data.dtype), _dtypes.wrap(t.data.dtype)
    if have.kind != want.kind and not _dtypes.can_cast(have, want):
        raise TypeError(
            f"{symbol}: the result has dtype {have.name}, which cannot be stored in "
            f"this tensor's {want.name}; write t = t {symbol[:-1]} ... for a new tensor"
        )


def _same_shape(symbol: str, t: Tensor, out):
    """``out``, the result of ``t <symbol> other``, refused when ``other``
    broadcast ``t`` to a new shape: an in-place operator keeps the shape, as
    NumPy's and torch's do (a parameter must not silently grow)."""
    if out is NotImplemented:
        return out
    if out.shape != t.shape and out.size is not None and t.size is not None:  # dask: unknown
        raise ValueError(
            f"{symbol}: the result has shape {fmt(out.shape)}, but this tensor's is "
            f"{fmt(t.shape)}, and an in-place operator keeps it; write t = t "
            f"{symbol[:-1]} ... for a new tensor of that shape"
        )
    return out


_NUMPY_SCALARS = frozenset(np.sctypeDict.values())  # np.float64 and the others


def _array(data):
    """``data``, or a 0-d array for the NumPy scalar that NumPy's arithmetic
    and reductions give for 0-d arrays (it has no DLPack, no item assignment);
    ``_result`` does the same, written out."""
    return np.asarray(data) if type(data) in _NUMPY_SCALARS else data


def _made_view(base: Tensor, key, view: Tensor) -> None:
    """Note ``view`` (``key`` of ``base``: a basic index, :class:`_Permuted`
    or :class:`_Reshaped`) as a view of ``base``'s root."""
    ref = weakref.ref(view)
    with _WRITES:  # (written out, not @_serialized: every t.T and t[0] comes here)
        root, keys = getattr(base, "_view", None) or (base, ())
        view._view = (root, _then(keys, key))
        live = getattr(root, "_views", None)
        if live is None:
            root._views = [ref]
            return
        n = len(live)
        if n > 16 and n & (n - 1) == 0:  # at 32, 64, ...: drop the dead
            _live_views(root)
        live.append(ref)


@_serialized
def _live_views(t: Tensor) -> list:
    """The weak references to the views of root ``t`` that someone still holds
    (the dead ones dropped)."""
    live = getattr(t, "_views", None)
    if not live:
        return []
    live[:] = [r for r in live if r() is not None]
    return live


@_serialized
def _refresh_views(root: Tensor) -> None:
    """Give each live view of ``root`` its values after a write into ``root``
    (recorded reads of it, so the gradient goes through the write)."""
    live = _live_views(root)
    if not live:
        return
    token = None
    if root._requires_grad and not _GRAD_ENABLED.get():
        # written under no_grad (an optimizer's step): the views still read the root,
        # and a later loss of them must reach it
        token = _GRAD_ENABLED.set(True)
    try:
        for ref in list(live):
            view = ref()
            if view is None:
                continue
            if getattr(view, "_view", None) is None:  # let go of by a write into it
                live.remove(ref)
                continue
            values = _read_chain(root, view._view[1], view)
            if values is None:  # the view keeps its values, as a copy
                del view._view
                live.remove(ref)
                continue
            cur = values[-1]
            if view._node is None and view._requires_grad and not cur._requires_grad:
                # a leaf of its own (p = buf[0]; p.requires_grad = True, as torch
                # allows): its values follow the root, its gradient stays its own
                view.data = cur.data
            else:
                view.data, view._node, view._requires_grad = cur.data, cur._node, cur._requires_grad
    finally:
        if token is not None:
            _GRAD_ENABLED.reset(token)


class _Permuted:
    """A view's step ``permute_dims(x, axes)``."""

    __slots__ = ("axes",)

    def __init__(self, axes: tuple) -> None:
        self.axes = axes


class _Reshaped:
    """A view's step ``reshape(x, shape)`` (also squeeze's and expand_dims')."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple) -> None:
        self.shape = shape


def _then(steps: tuple, step) -> tuple:
    """``steps`` followed by ``step``, a transpose of a transpose or a reshape
    of a reshape made one step (the identity none): ``a = a.T`` in a loop kept
    a chain as long as the loop, which every write then walked."""
    if steps:
        last, kind = steps[-1], type(step)
        if kind is _Reshaped and type(last) is _Reshaped:
            return steps[:-1] + (step,)
        if kind is _Permuted and type(last) is _Permuted:
            axes = tuple([last.axes[a] for a in step.axes])
            if axes == tuple(range(len(axes))):
                return steps[:-1]
            return steps[:-1] + (_Permuted(axes),)
    return steps + (step,)


def _read_chain(root: Tensor, steps: tuple, view: Tensor) -> list | None:
    """The Tensors read from ``root`` along ``view``'s ``steps``, recorded: root
    first, the view's values last; None where they no longer fit ``view``
    (``root.data = other`` since: the steps fail, or, as a transpose or a
    reshape of the same size does, read another shape or dtype)."""
    values = [root]
    try:
        for k in steps:
            values.append(_read_step(values[-1], k))
    except (IndexError, ValueError, TypeError):
        return None
    last = values[-1]
    if last.shape != view.shape or last.data.dtype != view.data.dtype:
        return None
    return values


def _read_step(t: Tensor, step) -> Tensor:
    """A view's ``step`` (a basic index, :class:`_Permuted` or
    :class:`_Reshaped`) read from ``t``, recorded."""
    kind = type(step)
    if kind is _Permuted:
        return apply(ops.permute_dims, (t,), step.axes)
    if kind is _Reshaped:
        return apply(ops.reshape, (t,), step.shape)
    return apply(ops.getitem, (t,), Tensor._native_key(step))


def _write_step(inner: Tensor, step, new: Tensor) -> Tensor:
    """``inner`` with its part that ``step`` reads replaced by ``new``,
    recorded: a transpose and a reshape read all of ``inner``, and are undone."""
    kind = type(step)
    if kind is _Permuted:
        inverse = tuple(sorted(range(len(step.axes)), key=step.axes.__getitem__))
        return apply(ops.permute_dims, (new,), inverse)
    if kind is _Reshaped:
        return apply(ops.reshape, (new,), tuple(inner.shape))
    key = Tensor._native_key(step)
    parts = key if type(key) is tuple else (key,)
    if any([k is None for k in parts]):  # the standard's setitem takes no None (strict's
        key = tuple([k for k in parts if k is not None])  # raises): its axes of 1 go
        new = apply(ops.reshape, (new,), _without_new_axes(tuple(new.shape), parts, inner.ndim))
    return apply(ops.setitem, (inner, new), key)


def _without_new_axes(shape: tuple, key: tuple, ndim: int) -> tuple:
    """``shape``, of ``x[key]`` for a basic ``key`` of an ``ndim``-D x, without the axes
    of 1 that the key's Nones made (read from the key: x[key] itself can fail, as torch's
    negative steps do)."""
    consumed = len([k for k in key if k is not None and k is not Ellipsis])
    keep, at = [], 0
    for k in key + (() if Ellipsis in key else (Ellipsis,)):  # trailing axes: as an Ellipsis
        if k is Ellipsis:
            keep += range(at, at + ndim - consumed)
            at += ndim - consumed
        elif k is None or type(k) is slice:
            if k is not None:
                keep.append(at)
            at += 1
    return tuple([shape[i] for i in keep])


def permuted(x, axes: tuple) -> Tensor:
    """``permute_dims(x, axes)``, recorded; of a Tensor whose library makes
    views (NumPy, torch, CuPy, array_api_strict), a view of it, as the
    library's transpose is: writes go through both ways (see ``__setitem__``)."""
    out = apply(ops.permute_dims, (x,), axes)
    if type(x) is Tensor and LIBS[type(x.data)].adapter.views:
        n = len(axes)  # valid, or apply raised: -1 is n - 1, as the step's inverse needs
        _made_view(x, _Permuted(tuple([operator.index(a) % n for a in axes])), out)
    return out


def reshaped(x, rule, *params) -> Tensor:
    """``rule`` (reshape, squeeze or expand_dims) on ``x``, recorded; of a
    Tensor whose library makes views, a view of it where the library's
    result shares its memory (a reshape of a transpose is a copy)."""
    out = apply(rule, (x,), *params)
    if type(x) is Tensor:
        adapter = LIBS[type(x.data)].adapter
        if adapter.views and adapter.shares_memory(out.data, x.data):
            _made_view(x, _Reshaped(tuple(out.shape)), out)
    return out


def _basic(key) -> bool:
    """Whether ``key`` indexes with ints, slices, Ellipsis and None only (a
    view in NumPy and torch; an array in it makes a copy)."""
    for k in key if type(key) is tuple else (key,):
        if not (k is None or k is Ellipsis or type(k) is slice or type(k) is int
                or isinstance(k, np.integer)):
            return False
    return True


def _element(key, ndim: int) -> bool:
    """Whether basic ``key`` is an integer for each of ``ndim`` axes (NumPy's
    ``x[0, 1]``, a scalar: a copy)."""
    keys = key if type(key) is tuple else (key,)
    return len(keys) == ndim and all([type(k) is int or isinstance(k, np.integer) for k in keys])


def _take_over(t: Tensor, out: Tensor, what: str) -> None:
    """Make ``t`` the result ``out`` of an in-place change (item assignment):
    ``t`` gets ``out``'s data and graph node. Nodes recorded earlier with
    ``t`` as their input hold ``t``'s old node, so their gradients go to the
    version they read. A leaf that requires grad cannot change while
    gradients are recorded (RuntimeError, as in torch): it would stop being
    the tensor its ``.grad`` is for.
    """
    if t.requires_grad and _GRAD_ENABLED.get() and t._node is None:
        raise RuntimeError(
            f"{what}: a leaf tensor that requires grad cannot change in place while "
            f"gradients are recorded; do it inside xpgrad.no_grad(), or on a copy "
            f"(xp.asarray(t, copy=True))"
        )
    if out._node is not None and not dtype_info(resolve(what, out.data)[0], out.data.dtype).inexact:
        raise TypeError(
            f"{what}: the value requires grad, but this tensor has dtype {t.data.dtype}, which "
            f"carries no gradient; cast the tensor to a floating dtype first (xp.astype)"
        )
    t.data = out.data
    if out._node is not None:
        t._node = out._node
        t._requires_grad = True


def _check_grad_value(t: Tensor, value) -> None:
    """What ``t.grad = value`` accepts: an array (or Tensor) like ``t.data``."""
    data = value.data if type(value) is Tensor else value
    want = f"{fmt(t.shape)} {t.data.dtype} array of the tensor's library and device"
    if not hasattr(data, "shape") or not hasattr(data, "dtype"):
        raise TypeError(f"Tensor.grad: must be None or a {want}; got {type(value).__name__}")
    xp, _ = resolve("Tensor.grad", t.data)
    try:
        gxp, _ = resolve("Tensor.grad", data)
    except TypeError:
        gxp = None
    if gxp is not xp:
        raise TypeError(
            f"Tensor.grad: must be a {want}; got {type(data).__module__}.{type(data).__name__} "
            f"(convert it with xpgrad.convert(g, like=t.data))"
        )
    if data.dtype != t.data.dtype:
        raise TypeError(
            f"Tensor.grad: must have the tensor's dtype {t.data.dtype}; got {data.dtype} "
            f"(an optimizer would otherwise change the parameter's dtype)"
        )
    if tuple(data.shape) != t.shape:
        raise ValueError(f"Tensor.grad: must have shape {fmt(t.shape)}; got {fmt(data.shape)}")
    if array_device(data) != array_device(t.data):
        raise ValueError(
            f"Tensor.grad: must be on the tensor's device {array_device(t.data)}; got "
            f"{array_device(data)}"
        )


_new_tensor = object.__new__


def untracked(data):
    """``data`` without torch's own graph: a torch tensor that requires grad
    (an ``nn.Parameter``) is detached when it becomes a Tensor's data, since
    xpgrad records the graph and torch need not record one too, step after
    step. Other data comes back as it is."""
    if getattr(data, "requires_grad", False) is True and hasattr(data, "detach"):
        return data.detach()
    return data


def constant(data) -> Tensor:
    """A Tensor of ``data`` with no graph, for an array a rule or the data's
    own library computed (and so checked) already: no checks are repeated."""
    return _result(data, None)


def _result(data, node) -> Tensor:
    """A Tensor for a rule's output: ``node`` its ctx, or None for no graph.
    The rule checked ``data`` already, so ``__init__``'s checks are skipped.
    NumPy's scalar result of 0-d operands becomes a 0-d array: a Tensor's
    data is an array (a rule takes a NumPy scalar as a constant number)."""
    t = _new_tensor(Tensor)
    t.data = np.asarray(data) if type(data) in _NUMPY_SCALARS else data
    t._grad = None
    t._node = node
    t._requires_grad = node is not None
    return t


def _plain_result(out):
    """Tensors without a graph for a rule's output, or each of its outputs."""
    if type(out) is tuple:
        return tuple([_result(o, None) for o in out])
    return _result(out, None)


def apply(rule, inputs: tuple, *params) -> Tensor:
    """``rule`` on Tensors: ``rule.forward`` runs on the inputs' arrays (native
    arrays and scalars among ``inputs`` pass as they are, as constants), and
    when an input requires grad (and gradients are recorded) the returned ctx
    becomes the result's graph node, so ``backward()`` runs ``rule.backward``.
    ``params`` go to the forward after the inputs. A rule with several
    results gives a tuple of Tensors.

    >>> import xpgrad
    >>> from xpgrad import ops
    >>> x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> xpgrad.apply(ops.exp, (x,)).sum().backward()
    >>> x.grad
    array([2.71828183, 7.3890561 ])
    """
    # Written out for one and two inputs: this runs once per op, and on tiny
    # arrays the Python around the math is most of the cost.
    n = len(inputs)
    if n == 1:
        a = inputs[0]
        if type(a) is Tensor:
            # a call with *() costs 60 ns more than a plain one
            out, ctx = rule.forward(a.data, *params) if params else rule.forward(a.data)
            if a._requires_grad and _GRAD_ENABLED.get():
                ctx.parents = (a._node or a,)
                ctx.rule, ctx.seq = rule, _next_seq()
                if type(out) is tuple:
                    return _outputs(out, ctx)
                return _result(out, ctx)
            return _plain_result(out)
        return _plain_result(rule.forward(a, *params)[0])
    if n == 2:
        a, b = inputs
        ta, tb = type(a) is Tensor, type(b) is Tensor
        if params:
            out, ctx = rule.forward(a.data if ta else a, b.data if tb else b, *params)
        else:
            out, ctx = rule.forward(a.data if ta else a, b.data if tb else b)
        wa, wb = ta and a._requires_grad, tb and b._requires_grad
        if not (wa or wb) or not _GRAD_ENABLED.get():
            return _plain_result(out)
        if _READ_FLOATS and not (ta and tb) and id(b if ta else a) in _READ_FLOATS:
            _refuse_read(rule, (a, b))
        need = ctx.needs_input_grad
        ctx.needs_input_grad = (wa and need[0], wb and need[1])
        ctx.parents = ((a._node or a) if wa else None, (b._node or b) if wb else None)
    else:
        out, ctx = rule.forward(*[t.data if type(t) is Tensor else t for t in inputs], *params)
        wants = [type(t) is Tensor and t._requires_grad for t in inputs]
        if True not in wants or not _GRAD_ENABLED.get():
            return _plain_result(out)
        if _READ_FLOATS:
            _refuse_read(rule, inputs)
        ctx.needs_input_grad = tuple([w and m for w, m in zip(wants, ctx.needs_input_grad)])
        ctx.parents = tuple([(t._node or t) if w else None for t, w in zip(inputs, wants)])
    ctx.rule, ctx.seq = rule, _next_seq()
    if type(out) is tuple:
        return _outputs(out, ctx)
    return _result(out, ctx)


class _Part:
    """The gradient of output ``index`` of a rule with several outputs, on its
    way from that output's node to the rule's node."""

    __slots__ = ("index", "g")

    def __init__(self, index: int, g) -> None:
        self.index, self.g = index, g


class _Output:
    """The rule of the node of one output of a several-output rule (eigh):
    it hands its gradient on, marked with the output's position."""

    @staticmethod
    def backward(grad_out, ctx):
        return (_Part(ctx.saved, grad_out),)


def graph_node(rule, op: str, xp, scope, saved, needs: tuple, out, parents: tuple) -> Ctx:
    """A graph node made by hand (not by a rule's forward) for the array ``out``
    (a tuple of them): ``rule``'s backward runs with ``saved``, back to
    ``parents``; the newest node so far."""
    if type(out) is tuple:
        node = Ctx(op, xp, scope, saved, needs, tuple([tuple(o.shape) for o in out]),
                   tuple([o.dtype for o in out]))
    else:
        node = Ctx(op, xp, scope, saved, needs, tuple(out.shape), out.dtype)
    node.rule, node.parents, node.seq = rule, parents, _next_seq()
    return node


def records(args) -> bool:
    """Whether an op on ``args`` is recorded: gradients are on, and one of
    them is a Tensor that requires grad."""
    return _GRAD_ENABLED.get() and any([type(a) is Tensor and a.requires_grad for a in args])


def joined(rule, name: str, data, args, saved) -> Tensor:
    """A Tensor of ``data`` whose node runs ``rule``'s backward with ``saved``
    back to the Tensors among ``args`` that require grad (a transform's node,
    or a function's without a rule)."""
    xp, scope = resolve(name, data)
    wants = tuple([type(a) is Tensor and a.requires_grad for a in args])
    parents = tuple([(a._node or a) if w else None for a, w in zip(args, wants)])
    return _result(data, graph_node(rule, name, xp, scope, saved, wants, data, parents))


def _outputs(outs: tuple, ctx) -> tuple:
    """The Tensors of a several-output rule's results: each one's node passes
    its gradient to the rule's node ``ctx``, which gets them all at once (None
    for an output that no gradient reached)."""
    tensors = []
    for i, out in enumerate(outs):
        node = graph_node(_Output, "output", ctx.xp, ctx.scope, i, (True,), out, (ctx,))
        tensors.append(_result(out, node))
    return tuple(tensors)


def _run_backward(root: Tensor, grad, xp, retain_graph: bool) -> None:
    """The backward walk: each node's rule turns its gradient into its inputs'
    gradients, newest node first, and (unless ``retain_graph``) the node lets
    go of what its forward saved as soon as its backward is done. Leaves'
    gradients are summed during the walk and given to ``.grad`` at its end."""
    root_node = root._node
    if root_node is None:  # backward() on a leaf: its gradient is grad itself
        _deliver(root, grad, False)
        return
    if root_node.saved is RELEASED:
        raise RuntimeError(_RELEASED)
    # Collect the nodes without recursion (no depth limit), then order them
    # newest first: every node comes before the inputs it was made from, so
    # its gradient is complete when its turn comes.
    nodes = [root_node]
    seen = {root_node}
    for node in nodes:  # the loop goes on over the nodes it appends
        for parent in node.parents:
            if type(parent) is Ctx and parent not in seen:
                if parent.saved is RELEASED:
                    raise RuntimeError(_RELEASED)
                seen.add(parent)
                nodes.append(parent)
    if len(nodes) > 1:
        nodes.sort(key=_BY_SEQ, reverse=True)

    walk = id(nodes)  # nodes lives as long as the walk: its id is this walk's
    WALKS.add(walk)
    try:
        grads = {root_node: grad}  # pending gradient of each node, and of each leaf
        del grad  # the caller still holds it: no gradient that is it is ever written into
        final = not retain_graph
        for node in nodes:
            g = grads.pop(node, None)
            parents = node.parents
            try:  # free of cost unless it raises (Python 3.11 on)
                if g is None:
                    results = ()
                elif (getattr(node.rule, "gradients_into", None) is not None
                      and _summed_into(grads, node, g)):
                    results = ()
                else:
                    # a rule may write its gradient over what it saved: not while
                    # another walk runs, which may be reading it (two losses of one graph)
                    node.final = final
                    results = node.rule.backward(tuple(g) if type(g) is list else g, node)
            except Exception as exc:
                if node.saved is RELEASED:  # by another thread's backward, during this one
                    raise RuntimeError(_RELEASED) from exc
                note_backward(node.op, exc)
                raise
            del g
            if final:  # free what the forward saved, now; the graph's shape stays
                node.saved = RELEASED
            for parent, pg in zip(parents, results):
                if parent is None or pg is None:
                    continue
                if type(pg) is _Part:  # one output's gradient, for a several-output node
                    _gather(grads, parent, pg, node.scope)
                    continue
                prev = grads.pop(parent, None)
                if prev is None:
                    grads[parent] = pg
                elif alone(prev):
                    prev += pg  # an array no one else holds: sum in place
                    grads[parent] = prev
                else:
                    grads[parent] = _add(prev, pg, node.scope)
                del prev, pg
            del results
        # Only leaves are left. A gradient becomes .grad without a copy when no one
        # else holds it (not the caller's grad, not add's one gradient for two
        # inputs, not a view), and when it is of a library whose views can be told.
        while grads:
            leaf, g = grads.popitem()
            own = alone(g)
            _deliver(leaf, g, own)
            del g
    finally:
        WALKS.discard(walk)


def _seed(op: str, out: Tensor, grad, shared: bool = False):
    """The gradient a backward of ``out`` starts from, as a native array of
    ``out``'s shape and dtype: ones when ``grad`` is None (a single-element
    ``out`` only), else ``grad`` checked and cast; with ``out``'s namespace
    and device scope. ``shared``: the ones of a 0-d NumPy ``out`` may be one
    read-only array handed out again (only the plain backward, whose leaves
    copy what they cannot own, asks for it)."""
    # what the caller calls the seed: backward's and autograd.grad's grad, a
    # transform's cotangent (vjp, an output of jacobian's) or tangent (jvp, hvp)
    what = {"backward": "grad", "autograd.grad": "grad_outputs", "jvp": "the tangent",
            "hvp": "the tangent"}.get(op, "the cotangent")
    if grad is None:
        data = out.data
        if shared and data.shape == ():
            seed = _ONES.get((type(data), data.dtype))
            if seed is not None:
                return seed
        xp, scope = resolve(op, data)
        if math.prod(out.shape) != 1:  # torch's .size is a method
            raise ValueError(
                f"{op}: {what} can be omitted only for a single-element output; this one "
                f"has shape {fmt(out.shape)}: pass {what} as an array of that shape"
            )
        if dtype_info(xp, out.data.dtype).complex:  # torch refuses too: 1 is no gradient of it
            raise TypeError(
                f"{op}: {what} can be omitted only for a real output; this one is "
                f"{out.data.dtype}: pass {what} explicitly, or differentiate a real function of "
                f"it (xp.real, xp.abs)" if op in ("backward", "autograd.grad") else
                f"{op}: the function's output is complex ({out.data.dtype}); {op} differentiates "
                f"real-valued functions: take a real function of it (xp.real, xp.abs)"
            )
        if scope is NO_SCOPE:
            grad = xp.ones_like(data)
        else:
            with scope:  # CuPy allocates on the current device, not the array's
                grad = xp.ones_like(data)
        if shared and type(grad) is np.ndarray and grad.shape == ():
            # NumPy's 0-d seed, handed out again: a view of a read-only base,
            # so no one can make it writable; nothing writes into an array
            # alone() says is not its own, and the leaves copy it.
            base = np.ones(1, grad.dtype)
            base.flags.writeable = False
            _ONES[type(data), data.dtype] = (base.reshape(()), xp, scope)
    else:
        if type(grad) is Tensor:
            grad = grad.data
        if not hasattr(grad, "shape"):
            raise TypeError(
                f"{op}: {what} must be an array or Tensor of shape {fmt(out.shape)}; "
                f"got {type(grad).__name__}"
            )
        xp, scope = resolve(op, out.data, grad)
        if tuple(grad.shape) != out.shape:
            raise ValueError(
                f"{op}: {what} has shape {fmt(grad.shape)}, expected {fmt(out.shape)}"
            )
        info = dtype_info(xp, grad.dtype)
        if not (info.numeric or "bool" in str(grad.dtype)):
            raise TypeError(
                f"{op}: {what} has dtype {grad.dtype}; pass a numeric array (it is "
                f"cast to this tensor's dtype, {out.data.dtype})"
            )
        if info.complex and not dtype_info(xp, out.data.dtype).complex:
            raise TypeError(  # the cast would drop its imaginary part, silently
                f"{op}: {what} has the complex dtype {grad.dtype}, but this tensor is real "
                f"({out.data.dtype}); pass a real one (xp.real of it, if that is what is meant)"
            )
        if grad.dtype != out.data.dtype:
            with scope:
                grad = xp.astype(grad, out.data.dtype)
    return grad, xp, scope


#: The seed of a backward from a 0-d NumPy result, by the result's type and
#: dtype, with its namespace and scope: the checks and the allocation once.
_ONES: dict = {}

_BY_SEQ = operator.attrgetter("seq")


class _Released:
    """What a node saves once a backward has released it (its inputs stay, so
    that a later walk knows what lies below it)."""

    def __repr__(self) -> str:
        return "RELEASED"


RELEASED = _Released()

_RELEASED = (
    "backward: the graph through this tensor was released by an earlier backward(); "
    "pass retain_graph=True to the first backward() to go through it twice"
)


# -- the walk that records a graph (create_graph) or answers for given inputs --


def _walk(roots: list, seeds: list, inputs, *, create_graph: bool, retain_graph: bool,
          op: str = "backward"):
    """The backward walk of :func:`xpgrad.autograd.grad` and of
    ``backward(create_graph=True)``: from each of ``roots`` with its gradient
    in ``seeds`` (None: ones), newest node first. With ``create_graph`` every
    gradient is a Tensor and each node's backward runs on Tensors
    (:meth:`~xpgrad.ops.Rule.graph_gradients`), recording the graph of the
    gradient, also inside ``no_grad()``. ``inputs`` None: leaves' ``.grad``
    get the gradients (summed); else the gradient of each of ``inputs`` (a
    Tensor, or the graph node it had when it was given) is returned, in order
    (None for one the outputs do not depend on), and no ``.grad`` changes."""
    if not create_graph:
        return _walk_in(roots, seeds, inputs, create_graph, retain_graph, op)
    token = _GRAD_ENABLED.set(True)  # the sums and casts of a recorded walk are recorded too
    try:
        return _walk_in(roots, seeds, inputs, create_graph, retain_graph, op)
    finally:
        _GRAD_ENABLED.reset(token)


def _walk_in(roots, seeds, inputs, create_graph, retain_graph, op):
    pending: dict = {}
    scope = NO_SCOPE
    for root, seed in zip(roots, seeds):
        g, _, scope = _seed(op, root, seed)
        if create_graph:
            g = _graph_seed(seed, g, root)
        key = root._node or root
        pending[key] = g if key not in pending else _add(pending[key], g, scope)
    nodes = _nodes([k for k in pending if type(k) is Ctx])
    targets = None
    if inputs is not None:
        targets = {}
        for i, t in enumerate(inputs):
            targets.setdefault(t if type(t) is Ctx else (t._node or t), []).append(i)
        # The nodes a target lies below: only their backwards run (a target's
        # own only when another lies below it).
        runs = set()
        for node in reversed(nodes):  # oldest first: a node after its inputs
            if any([p in targets or p in runs for p in node.parents if p is not None]):
                runs.add(node)
        nodes = [n for n in nodes if n in runs or n in targets]
    captured = {}
    for node in nodes:
        g = pending.pop(node, None)
        if targets is not None:
            if node in targets:
                captured[node] = g
            if node not in runs:
                continue
        parents = node.parents
        if g is None:
            continue
        if node.saved is RELEASED:  # a gradient to pass on, and nothing to compute it with
            raise RuntimeError(_RELEASED.replace("backward:", f"{op}:", 1))
        try:
            if create_graph:
                results = _graph_backward(node, g)
            else:
                results = node.rule.backward(tuple(g) if type(g) is list else g, node)
        except Exception as exc:
            if node.saved is RELEASED:  # by another thread's backward, during this one
                raise RuntimeError(_RELEASED.replace("backward:", f"{op}:", 1)) from exc
            note_backward(node.op, exc)
            raise
        if not retain_graph:
            node.saved = RELEASED
        for parent, pg in zip(parents, results):
            if parent is None or pg is None:
                continue
            if type(pg) is _Part:
                _gather(pending, parent, pg, node.scope)
                continue
            prev = pending.get(parent)
            pending[parent] = pg if prev is None else _add(prev, pg, node.scope)
    if targets is None:
        for leaf, g in pending.items():
            with _GRAD_LOCK:
                old = leaf._grad
                if old is None:
                    leaf._grad = g
                else:  # a Tensor first: another library's array may not add a Tensor
                    leaf._grad = (old if type(old) is Tensor else constant(old)) + g
        return None
    out = [None] * len(inputs)
    for key, where in targets.items():
        g = captured.get(key) if type(key) is Ctx else pending.get(key)
        for i in where:
            out[i] = g
    return out


def _nodes(starts: list) -> list:
    """Every node below ``starts``, newest first (a node before its inputs). A
    node an earlier backward released is listed and gone through (it keeps its
    inputs): the walk refuses it only if it has to run its backward."""
    nodes, seen, stack = list(starts), set(starts), list(starts)
    while stack:
        for parent in stack.pop().parents:
            if type(parent) is Ctx and parent not in seen:
                seen.add(parent)
                nodes.append(parent)
                stack.append(parent)
    nodes.sort(key=_BY_SEQ, reverse=True)
    return nodes


def _graph_seed(given, checked, root: Tensor) -> Tensor:
    """The seed of a recorded backward: the caller's Tensor (in ``root``'s
    dtype), which may have a graph of its own, else the checked array."""
    if type(given) is not Tensor:
        return constant(checked)
    if given.data.dtype != root.data.dtype:
        return apply(ops.astype, (given,), root.data.dtype)
    return given


# xpgrad.array_api, set by it when it is imported (see set_namespace): the
# namespace a recorded backward computes with.
_NAMESPACE: list = [None]


def set_namespace(namespace) -> None:
    """Make ``namespace`` (``xpgrad.array_api``) the one recorded backwards use."""
    _NAMESPACE[0] = namespace


def _graph_backward(node: Ctx, g) -> tuple:
    """``node``'s gradients computed on Tensors, with the graph recorded."""
    rule = node.rule
    if rule is _Output:
        return (_Part(node.saved, g),)
    if not getattr(rule, "higher", False):
        raise NotImplementedError(
            f"{node.op}: its gradient is not differentiable (yet), so backward("
            f"create_graph=True) and the transforms (xpgrad.grad of a gradient, hessian, "
            f"jvp, hvp) cannot go through it; use a first derivative only, or finite "
            f"differences of it"
        )
    if getattr(rule.graph_gradients, "__func__", None) is _RULE_GRAPH_GRADIENTS and (
        getattr(rule, "gradients", None) is _RULE_GRADIENTS
    ):
        raise NotImplementedError(
            f"{node.op}: its rule writes its own backward, which a recorded backward cannot "
            f"run on Tensors; for second derivatives it writes gradients(xp, g, s, needs) in "
            f"Array API code instead (see the README's For contributors)"
        )
    needs = node.needs_input_grad
    if True not in needs:
        return (None,) * len(needs)
    tx = _NAMESPACE[0]  # xpgrad.array_api, which registers itself (it is built on this module)

    saved = _saved_tensors(node)
    if type(g) is list:
        g = tuple(g)
    token = _GRAD_ENABLED.set(True)
    try:
        if node.scope is NO_SCOPE:
            results = rule.graph_gradients(tx, g, saved, needs)
        else:
            with node.scope:
                results = rule.graph_gradients(tx, g, saved, needs)
    finally:
        _GRAD_ENABLED.reset(token)
    return tuple([r if r is None or type(r) is Tensor else constant(r) for r in results])


_RULE_GRAPH_GRADIENTS = ops.Rule.graph_gradients.__func__
_RULE_GRADIENTS = ops.Rule.gradients


def _saved_tensors(node: Ctx):
    """``node.saved`` with each saved input (see ``Rule.saved_inputs``) and the
    result replaced by a Tensor joined to the graph: an input's Tensor is its
    leaf or a Tensor of its node; the result's has ``node`` itself."""
    s = node.saved
    fields = getattr(s, "_fields", None)
    if fields is None:
        return s
    rule = node.rule
    names = rule.saved_inputs
    if names is None:
        names = {name: i for i, name in enumerate(rule.args)}
    parents = node.parents
    new = {}
    for name, i in names.items():
        v = getattr(s, name, None)
        if name not in fields or v is None or type(v) in _SCALARS or type(v) is Tensor:
            continue
        p = parents[i] if i < len(parents) else None
        orig = getattr(s, f"{name}_dtype", None)
        if orig is not None and v.dtype != orig:
            # the forward promoted this input (torch's 0-d operands): the saved
            # array is a cast of the input, and its gradient a cast back
            new[name] = _Join(node).linear(v, i, lambda xp, g, orig=orig: cast(xp, g, orig))
            continue
        if type(p) is Tensor:
            new[name] = leaf_as_read(p, v, node.op)
        else:
            new[name] = _result(v, p)
    if "out" in fields and s.out is not None and type(s.out) is not Tensor:
        if rule.outputs == 1:
            new["out"] = _result(s.out, node)
        else:
            new["out"] = _outputs(s.out, node)
    if new:
        s = s._replace(**new)
    hook = getattr(rule, "graph_saved", None)
    if hook is not None:
        if node.scope is NO_SCOPE:
            s = hook(s, _Join(node))
        else:
            with node.scope:  # what it creates: on the node's device, with its cubed spec
                s = hook(s, _Join(node))
    constants = getattr(rule, "constants", ())
    for name in fields:
        if name in constants:
            continue
        v = getattr(s, name)
        for a in v if type(v) is tuple else (v,):
            if type(a) is Tensor or not hasattr(a, "shape") or not hasattr(a, "dtype"):
                continue
            if not dtype_info(node.xp, a.dtype).inexact:
                continue
            # A floating array the gradient reads, not joined to the graph:
            # differentiating the gradient would treat it as a constant.
            raise NotImplementedError(
                f"{node.op}: its gradient reads {name!r}, which depends on the input in a way "
                f"the recorded backward does not follow; second derivatives through "
                f"{node.op} are not supported (yet)"
            )
    return s


class _Join:
    """How a rule's ``graph_saved`` joins a derived array it saved to the
    graph, so that a recorded backward differentiates through it."""

    __slots__ = ("node",)

    def __init__(self, node: Ctx) -> None:
        self.node = node

    @property
    def xp(self):
        """The namespace of the node's arrays."""
        return self.node.xp

    def linear(self, value, i: int, adjoint) -> Tensor:
        """A Tensor of ``value``, a linear function of input ``i`` whose
        vector-Jacobian product is ``adjoint(xp, g)`` (Array API code)."""
        node = self.node
        parent = node.parents[i]
        if parent is None:
            return constant(value)
        return _linear(node.op, node.xp, node.scope, value, adjoint, parent)

    def result(self, value):
        """A Tensor of ``value``, the node's own result (a tuple of them for a
        rule with several results)."""
        if type(value) is tuple:
            return _outputs(value, self.node)
        return _result(value, self.node)

    def outputs(self, rule, saved, values, i: int) -> tuple:
        """Tensors of ``values``, the results of ``rule`` on input ``i`` (its
        forward's ``saved`` state): as if the rule had been recorded too."""
        node = self.node
        parent = node.parents[i]
        if parent is None:
            return tuple([constant(v) for v in values])
        values = tuple(values)
        ctx = graph_node(rule, rule.__name__, node.xp, node.scope, saved, (True,), values, (parent,))
        return _outputs(values, ctx)


def leaf_as_read(leaf: Tensor, value, op: str, own_node: bool = False) -> Tensor:
    """A Tensor of ``value``, what ``op``'s forward read from ``leaf``, joined
    to ``leaf``: the leaf itself, unless its data was rebound since (an
    optimizer's step under no_grad) or ``own_node`` is asked for, when a node
    passes the gradient at the values read straight on to it, as the plain
    backward's does (see :func:`passed_through`)."""
    if leaf.data is value and not own_node:
        return leaf
    data = leaf.data
    if tuple(value.shape) != tuple(data.shape) or value.dtype != data.dtype:
        raise RuntimeError(
            f"{op}: a leaf it read was replaced since by data of shape {fmt(data.shape)} and "
            f"dtype {data.dtype} (it read {fmt(value.shape)} {value.dtype}), which a recorded "
            f"backward (create_graph=True) cannot stand for the values read; run the backward "
            f"before replacing the leaf's data, or restore its shape and dtype"
        )
    return passed_through(value, leaf, op)


def passed_through(value, parent, op: str) -> Tensor:
    """A Tensor of ``value`` with a node of its own that passes its gradient
    straight to ``parent`` (a node, or a leaf): two such of one parent are two
    inputs to differentiate by, where the parent twice would be one (``op``'s
    argument at two positions)."""
    xp, scope = resolve(op, value)
    return _linear(op, xp, scope, value, _same, parent)


def _linear(op: str, xp, scope, value, adjoint, parent) -> Tensor:
    """A Tensor of ``value``, a linear function of ``parent`` (a node or a
    leaf) whose vector-Jacobian product is ``adjoint(xp, g)``."""
    return _result(value, graph_node(_Linear, op, xp, scope, adjoint, (True,), value, (parent,)))


def _same(xp, g):
    return g


class _Linear:
    """The rule of a :meth:`_Join.linear` node: its saved state is the adjoint."""

    higher = True

    @staticmethod
    def backward(g, ctx):
        if ctx.scope is NO_SCOPE:
            return (ctx.saved(ctx.xp, g),)
        with ctx.scope:
            return (ctx.saved(ctx.xp, g),)

    @staticmethod
    def graph_gradients(tx, g, s, needs):
        return (s(tx, g),)


def _summed_into(grads: dict, node, g) -> bool:
    """Run ``node``'s backward as a sum into its one input's pending gradient,
    when that gradient is an array no one else holds; False (and nothing
    done) otherwise."""
    (parent,) = node.parents
    prev = grads.pop(parent, None) if parent is not None else None
    if prev is None:
        return False
    if alone(prev):
        grads[parent] = node.rule.backward_into(g, node, prev)
        return True
    grads[parent] = prev
    return False


def _gather(grads: dict, node, part: _Part, scope) -> None:
    """Put one output's gradient in the list of ``node``'s output gradients."""
    parts = grads.get(node)
    if parts is None:
        parts = grads[node] = [None] * len(node.out_shape)
    i = part.index
    parts[i] = part.g if parts[i] is None else _add(parts[i], part.g, scope)


def _add(a, b, scope):
    """``a + b`` on the device of ``scope`` (CuPy adds on the current device)."""
    if scope is NO_SCOPE:
        return a + b
    with scope:
        return a + b


def _deliver(leaf: Tensor, g, own: bool) -> None:
    """Add ``g`` to ``leaf.grad``: a first gradient is ``g`` itself when ``own``
    (nobody else holds it), else a copy; an earlier ``.grad`` is never changed
    in place (the caller may hold it). Under a lock: backwards in two threads
    that share a leaf each add their part (NumPy's add lets the other run)."""
    lib = LIBS.get(type(g))
    if lib is not None and lib.scoped:  # cubed: chunked as the leaf's data
        g = lib.adapter.like_input(g, leaf.data)
    with _GRAD_LOCK:
        if own and leaf._grad is None:
            leaf._grad = g
            return
        xp, scope = resolve("backward", g)
        if scope is not NO_SCOPE:
            with scope:
                return _deliver_in(leaf, g, own, xp)
        _deliver_in(leaf, g, own, xp)


_GRAD_LOCK = threading.Lock()


def _deliver_in(leaf: Tensor, g, own: bool, xp) -> None:
    if leaf._grad is not None:
        leaf._grad = _array(leaf._grad + g)
    else:
        leaf._grad = g if own else xp.asarray(g, copy=True)


def _to_tensor_data(data, device, dtype):
    """``data`` as a native array on ``device`` in ``dtype``."""
    if type(data) is Tensor:
        data = data.data
    if type(data) is range:  # as NumPy and torch read it
        data = list(data)
    elif hasattr(data, "__next__"):  # a generator: NumPy would make an object array of it
        raise TypeError(f"tensor: data is a {type(data).__name__}, an iterator; make it a "
                        f"list first (list(...))")
    python = data if isinstance(data, (_SCALARS, list, tuple)) else None  # no library yet
    if python is not None:
        what = f"a {type(data).__name__}"
        try:  # integers asked for: read as such, where int64 or float64 would wrap or round them
            data = np.asarray(data, dtype=_integer_dtype(dtype))
        except OverflowError as exc:
            raise ValueError(f"tensor: an integer is out of range for dtype "
                             f"{_integer_dtype(dtype)} ({exc}); give a dtype that holds it") from None
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"tensor: data is not a rectangular nested list ({exc})") from None
        if data.dtype.kind not in "biufc":
            raise TypeError(
                f"tensor: data must be numbers or nested lists of numbers; got {what} "
                f"(NumPy reads it as dtype {data.dtype})"
            )
        if device is None:
            device = get_default_device()
    else:
        resolve("tensor", data)  # an array, of known sizes, or a TypeError naming tensor()
    if device is not None:
        if python is not None and not isinstance(device, (str, Device)):
            # a library's device object (torch's, JAX's, array_api_strict's): numbers
            # become that library's arrays there, as the namespace's asarray makes them
            data = _NAMESPACE[0].asarray(python, device=device).data
        else:
            data = _to_device(data, device_for(data, device, "tensor"))
    if dtype is not None:
        xp, scope = resolve("tensor", data)
        native = _dtypes.library_dtype(xp, dtype, "tensor")
        if data.dtype != native:
            with scope:
                data = xp.astype(data, native)
    return data


def _integer_dtype(dtype) -> str | None:
    """NumPy's name of ``dtype`` (any library's, or a name) where it is an integer
    dtype, else None."""
    if dtype is None or isinstance(dtype, type) and dtype in (float, complex, bool):
        return None
    name = _dtypes.native_name(dtype) if not isinstance(dtype, str) else dtype
    try:
        name = np.dtype(name).name
    except TypeError:
        return None
    return name if name.startswith(("int", "uint")) else None


def tensor(data, *, device=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Make a :class:`Tensor`.

    Parameters
    ----------
    data : array, Tensor, scalar or nested list
        A native array keeps its library (and device, unless ``device`` is
        given). Lists and scalars become NumPy arrays, moved to ``device`` or
        to the default device (see :func:`xpgrad.default_device`).
    device : str or Device, optional
    dtype : str or dtype, optional
        ``"float32"``, ``numpy.float64``, ``torch.float16``...: the name is
        looked up in the data's namespace.
    requires_grad : bool, default False
        Only for floating-point data.

    Raises
    ------
    TypeError
        For ``requires_grad=True`` on integer or boolean data, or an unknown dtype.
    RuntimeError
        If ``device`` is not available.

    Examples
    --------
    >>> import xpgrad
    >>> w = xpgrad.tensor([[1.0, 2.0]], dtype="float32", requires_grad=True)
    >>> (w * 2.0).sum().backward()
    >>> w.grad
    array([[2., 2.]], dtype=float32)
    """
    if type(data) is np.ndarray and device is None and dtype is None:
        # The common call, written out: a NumPy array as it is (no device to
        # move to, no dtype to cast to, no sizes to check), only the flag checked
        t = _new_tensor(Tensor)
        t._requires_grad = _check_requires_grad(resolve("tensor", data)[0], data, requires_grad,
                                               "tensor")
        t.data, t._grad, t._node = data, None, None
        return t
    _bool_flag(requires_grad, "tensor")
    if not requires_grad:  # a new leaf of it is another thing: asked for
        refuse_read("tensor", data)
        if type(data) is Tensor and data.requires_grad and _GRAD_ENABLED.get():
            raise TypeError(  # torch's torch.tensor(t) warns; its gradient would be 0
                "tensor: data is a Tensor that requires grad, and a new tensor of its values "
                "would carry no gradient (inside xpgrad.grad, a gradient of 0); use the "
                "Tensor itself (xp.asarray(t) keeps its graph), or t.detach() for a constant"
            )
    data = _to_tensor_data(data, device, dtype)
    return Tensor(data, requires_grad=requires_grad)


def matmul(a, b) -> Tensor:
    """``a @ b`` on Tensors or arrays (see :class:`xpgrad.ops.matmul`)."""
    return apply(ops.matmul, (a, b))


def add_bias(x, b, axis: int = 1) -> Tensor:
    """``x + b`` with 1-D ``b`` along ``axis`` (see :class:`xpgrad.ops.add_bias`)."""
    return apply(ops.add_bias, (x, b), axis)


def linear(x, w, b=None) -> Tensor:
    """``x @ w.T + b`` (see :class:`xpgrad.ops.linear`)."""
    return apply(ops.linear, (x, w, b))


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum of a Tensor or array over ``axis`` (see :class:`xpgrad.ops.sum`)."""
    return apply(ops.sum, (x,), axis, keepdims)


declare("Tensor", ("data",))
declare("tensor", ("data",))
declare("backward", ("self", "grad"))
