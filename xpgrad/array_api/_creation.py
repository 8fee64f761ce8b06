"""Creation functions. With no array input they make arrays where ``device=``
says: a Tensor's ``.device`` keeps its library (torch data gives torch
arrays); ``"cpu"`` or a :class:`xpgrad.Device` makes NumPy arrays on the CPU
and CuPy arrays on a GPU; a library's own device object (``torch.device``)
makes that library's arrays; None follows :func:`xpgrad.default_device`.

Python data defaults to the standard's dtypes in every library: float64,
int64, complex128 and bool (torch on its own would make float32).
"""

from __future__ import annotations

import builtins

from .. import _dtypes
from .._backend import adapter_of, array_device, device_for, is_elsewhere, namespace_for, resolve
from .._device import ArrayDevice, Device, get_default_device, parse_device, require_available
from ..ops._common import BACKEND_ERRORS, NO_SCOPE, backend_error
from ..tensor import Tensor, constant, refuse_read, untracked
from ._docs import composed, no_gradient

__all__ = [
    "arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like",
    "linspace", "ones", "ones_like", "zeros", "zeros_like",
]

_SCALARS = (builtins.bool, int, float, complex)


def _wrap(out) -> Tensor:
    return constant(out)


def _target(device, op: str):
    """(namespace, native device or None) where ``device`` puts new arrays."""
    if device is None:
        device = get_default_device()
    if isinstance(device, ArrayDevice):
        return namespace_for(device.library), device.native
    if isinstance(device, (Device, str)):
        dev = parse_device(device, op)
        if dev.kind == "cpu":
            return namespace_for("numpy"), None
        require_available(dev, op)
        import cupy

        return namespace_for("cupy"), cupy.cuda.Device(dev.index)
    root = type(device).__module__.partition(".")[0]
    if root in ("torch", "array_api_strict", "jax", "jaxlib", "cupy"):
        return namespace_for("jax" if root == "jaxlib" else root), device
    raise TypeError(
        f"{op}: device must be a Tensor's .device, 'cpu', 'cuda:N', an xpgrad.Device or "
        f"a library's device object; got {type(device).__name__} ({device!r})"
    )


def _create(op: str, device, make):
    xp, native = _target(device, op)
    try:
        if native is not None and type(native).__module__.startswith("cupy"):
            # array-api-compat's CuPy zeros, ones, full, arange, eye... take device=
            # and allocate on the current device: a GPU but the first must be entered
            with native:
                return _wrap(make(xp, native))
        return _wrap(make(xp, native))
    except BACKEND_ERRORS as exc:
        raise backend_error(op, exc)


def _dtype(xp, dtype, op: str, default: str):
    if dtype is None:
        dtype = adapter_of(xp).default_dtype(default)
    return _dtypes.to_native(xp, dtype, op)


def _kw(native):
    return {} if native is None else {"device": native}


def _python_dtype(obj) -> str:
    """The standard's default dtype for Python data (nested lists of numbers)."""
    import numpy as np

    kind = np.asarray(obj).dtype.kind
    return {"b": "bool", "i": "int64", "u": "int64", "f": "float64", "c": "complex128"}.get(kind, "float64")


@composed(
    "A Tensor is returned as it is, with its graph (with another dtype: a differentiable astype; with copy=True: a differentiable copy). Anything else becomes a Tensor without a graph, of device's library (NumPy on the CPU by default)."
)
def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """``obj`` as a Tensor. A Tensor comes back as it is, graph and all; with
    another ``dtype`` it goes through the differentiable ``astype``, with
    ``copy=True`` through a differentiable copy, with another ``device``
    through ``to_device``. A native array keeps its library and device unless
    ``device`` says otherwise, or, for a NumPy array, ``default_device`` does
    (as torch's asarray makes a NumPy array torch's); Python data goes where
    ``device`` says."""
    if type(obj) is Tensor:
        return _asarray_tensor(obj, dtype, device, copy)
    refuse_read("asarray", obj)
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and type(obj) not in _SCALARS:
        if device is None and type(obj).__module__ == "numpy":  # scipy's constants
            device = get_default_device()
        try:
            xp, scope = resolve("asarray", obj)
        except TypeError:
            xp = None
        if xp is not None:
            # another place, or another Tensor's device of another library (the
            # values go over to it): to_device moves them, as a Tensor's
            if device is not None and is_elsewhere(device_for(obj, device, "asarray"), obj):
                obj = constant(obj).to_device(device).data
                xp, scope = resolve("asarray", obj)
            native = _dtypes.to_native(xp, dtype, "asarray")
            try:
                with scope:
                    return _wrap(xp.asarray(untracked(obj), dtype=native, copy=copy))
            except BACKEND_ERRORS as exc:
                raise backend_error("asarray", exc)
    obj = _unwrap_nested(obj)

    def make(xp, native):
        dt = _dtype(xp, dtype, "asarray", _python_dtype(obj))
        return xp.asarray(obj, dtype=dt, copy=copy, **_kw(native))

    return _create("asarray", device, make)


def _asarray_tensor(x: Tensor, dtype, device, copy):
    from . import _manipulation

    if copy is False and dtype is not None and _dtypes.wrap(x.data.dtype) != dtype:
        raise ValueError("asarray: copy=False, but changing the dtype needs a copy")
    if device is not None and is_elsewhere(device_for(x.data, device, "asarray"), x.data):
        if copy is False:
            raise ValueError("asarray: copy=False, but moving to another device needs a copy")
        x = x.to_device(device)
        copy = None if copy else copy  # the move already copied
    if dtype is not None and _dtypes.wrap(x.data.dtype) != dtype:
        return _manipulation.astype(x, dtype)
    if copy:
        return _manipulation.astype(x, x.dtype, copy=True)
    return x


def _unwrap_nested(obj):
    """Nested lists may hold Tensors (0-D ones, as ``[xp.sum(a), 1.0]``): their
    values, or an error if one carries a gradient that would be lost."""
    if type(obj) is Tensor:
        if obj.requires_grad:
            raise TypeError(
                "asarray: a nested sequence holds a tensor that requires grad, whose "
                "gradient would be lost; build the array with xp.stack instead"
            )
        return obj.data.item() if obj.ndim == 0 else _unwrap_nested(obj.numpy().tolist())
    if isinstance(obj, (list, tuple)):
        return [_unwrap_nested(v) for v in obj]
    return obj


@no_gradient("A new array: no gradient reaches it from the arguments.")
def zeros(shape, *, dtype=None, device=None):
    return _create("zeros", device, lambda xp, d: xp.zeros(shape, dtype=_dtype(xp, dtype, "zeros", "float64"), **_kw(d)))


@no_gradient("A new array: no gradient reaches it from the arguments.")
def ones(shape, *, dtype=None, device=None):
    return _create("ones", device, lambda xp, d: xp.ones(shape, dtype=_dtype(xp, dtype, "ones", "float64"), **_kw(d)))


@no_gradient("A new array: no gradient reaches it from the arguments.")
def empty(shape, *, dtype=None, device=None):
    return _create("empty", device, lambda xp, d: xp.empty(shape, dtype=_dtype(xp, dtype, "empty", "float64"), **_kw(d)))


def _fill_dtype(fill_value) -> str:
    if isinstance(fill_value, builtins.bool):
        return "bool"
    if isinstance(fill_value, int):
        return "int64"
    if isinstance(fill_value, complex):
        return "complex128"
    return "float64"


def _scalar_value(v, op):
    if type(v) is Tensor:
        if v.requires_grad:
            raise TypeError(
                f"{op}: fill_value is a tensor that requires grad, whose gradient would be "
                f"lost; use xp.broadcast_to(value, shape) instead"
            )
        return v.data.item() if hasattr(v.data, "item") else float(v)
    refuse_read(op, v)  # float(t) of a t that requires grad: its gradient would be lost
    return v


@no_gradient("A new array: no gradient reaches it from the arguments.")
def full(shape, fill_value, *, dtype=None, device=None):
    fill_value = _scalar_value(fill_value, "full")
    return _create("full", device, lambda xp, d: xp.full(
        shape, fill_value, dtype=_dtype(xp, dtype, "full", _fill_dtype(fill_value)), **_kw(d)))


@no_gradient("A new array: no gradient reaches it from the arguments.")
def zeros_like(x, /, *, dtype=None, device=None):
    return _like_simple("zeros", x, dtype, device)


@no_gradient("A new array: no gradient reaches it from the arguments.")
def ones_like(x, /, *, dtype=None, device=None):
    return _like_simple("ones", x, dtype, device)


@no_gradient("A new array: no gradient reaches it from the arguments.")
def empty_like(x, /, *, dtype=None, device=None):
    return _like_simple("empty", x, dtype, device)


@no_gradient("A new array: no gradient reaches it from the arguments.")
def full_like(x, /, fill_value, *, dtype=None, device=None):
    return _like_simple("full", x, dtype, device, fill_value=_scalar_value(fill_value, "full_like"))


def _like_simple(kind: str, x, dtype, device, **extra):
    """``zeros_like`` and friends: the shape and dtype of ``x``, made by the
    plain creation function on ``x``'s library and device (or ``device``)."""
    op = f"{kind}_like"
    data = x.data if type(x) is Tensor else x
    xp, scope = resolve(op, data)  # an array, or a TypeError naming the op
    name = _dtypes.native_name(dtype if dtype is not None else data.dtype)
    if device is None and scope is not NO_SCOPE:
        # CuPy's device, cubed's spec and chunks: the library's own *_like
        native = _dtypes.to_native(xp, name, op)
        args = (extra["fill_value"],) if kind == "full" else ()
        try:
            with scope:
                return _wrap(getattr(xp, op)(data, *args, dtype=native))
        except BACKEND_ERRORS as exc:
            raise backend_error(op, exc)
    if device is None:
        device = array_device(data)
    shape = tuple(data.shape)
    if kind == "full":
        return full(shape, extra["fill_value"], dtype=name, device=device)
    return {"zeros": zeros, "ones": ones, "empty": empty}[kind](shape, dtype=name, device=device)


@no_gradient("A new array: no gradient reaches it from the arguments.")
def arange(start, /, stop=None, step=1, *, dtype=None, device=None):
    default = "int64" if all(isinstance(v, int) for v in (start, stop, step) if v is not None) else "float64"
    return _create("arange", device, lambda xp, d: xp.arange(
        start, stop, step, dtype=_dtype(xp, dtype, "arange", default), **_kw(d)))


@no_gradient("A new array: no gradient reaches it from the arguments.")
def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True):
    default = "complex128" if isinstance(start, complex) or isinstance(stop, complex) else "float64"
    return _create("linspace", device, lambda xp, d: xp.linspace(
        start, stop, num, dtype=_dtype(xp, dtype, "linspace", default), endpoint=endpoint, **_kw(d)))


@no_gradient("A new array: no gradient reaches it from the arguments.")
def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None):
    return _create("eye", device, lambda xp, d: xp.eye(
        n_rows, n_cols, k=k, dtype=_dtype(xp, dtype, "eye", "float64"), **_kw(d)))


@no_gradient("The values of another library's array, as a Tensor without a graph.")
def from_dlpack(x, /, *, device=None, copy=None):
    """A Tensor of any object with ``__dlpack__``, shared where possible. A
    Tensor comes back as it is, and an array of a library xpgrad knows keeps
    its library (as in :func:`asarray`); other objects become arrays of the
    library ``device`` names (NumPy on the CPU)."""
    if type(x) is Tensor:
        return asarray(x, device=device, copy=copy)
    try:
        resolve("from_dlpack", x)
    except TypeError:
        pass
    else:
        return asarray(x, device=device, copy=copy)
    xp, _ = _target(device, "from_dlpack")
    kwargs = {} if copy is None else {"copy": copy}
    try:
        return _wrap(xp.from_dlpack(x, **kwargs))
    except BACKEND_ERRORS as exc:
        raise backend_error("from_dlpack", exc)
