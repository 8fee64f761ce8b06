"""Array namespaces: which library an array belongs to, and on which device.

Every rule asks this module for the namespace of its inputs on its first
line, so the lookup is cached by the array's type: after the first call for a
type it costs one dict lookup per argument. array-api-compat does the slow,
careful detection once per type.

What differs between libraries lives in ``xpgrad/_libs/``, one adapter per
library; each ``_Lib`` holds its library's (``lib.adapter``), so generic code
here picks the adapter in one line, e.g. ``lib.adapter.to_numpy(array)``.
"""

from __future__ import annotations

import contextlib
import sys

from ._device import ArrayDevice, Device, parse_device
from ._libs import Library, adapter_for

__all__ = ["get_namespace", "device_of", "to_device", "to_numpy", "convert", "dtype_info"]

# Python scalars: a rule that allows them at a position skips them there.
_SCALARS = frozenset({int, float, complex, bool})
_NONE = type(None)

NO_SCOPE = contextlib.nullcontext()

_CONVERT_HINT = (
    "wrap Python lists and scalars with xpgrad.tensor(...), or convert them with "
    "your array library's asarray"
)


class _Lib:
    """What xpgrad knows about one array type."""

    __slots__ = ("name", "adapter", "public", "xp", "check_device", "scoped", "unscoped", "fast",
                 "numeric")

    def __init__(self, name: str, xp: object) -> None:
        """``xp``: the library's array-api-compat namespace."""
        self.name = name
        # The namespace get_namespace() returns: the compat one, never an adapter.
        self.public = xp
        # The library's quirks (xpgrad/_libs/), chosen here once.
        self.adapter = adapter = adapter_for(name)
        # The namespace the rules compute with: a speed adapter (NumPy's) or xp.
        self.xp = xp = adapter.namespace(xp)
        # Host-only libraries (numpy, dask) need no device check.
        self.check_device = not adapter.host_only
        # CuPy runs kernels on the *current* device, not the array's, and
        # cubed's new arrays need the input's spec: the rules enter a scope.
        self.scoped = adapter.scoped
        # What resolve() returns when no device needs entering.
        self.unscoped = (xp, NO_SCOPE)
        # resolve() may answer from its fast path without looking at the arrays:
        # not where sizes may be unknown (dask), so that resolve() can reject them.
        self.fast = not adapter.unknown_sizes
        # dtype -> usable as an upstream gradient (numeric, not boolean); see
        # is_numeric(). A per-library dict: cheaper than dtype_info's tuple key.
        self.numeric: dict = {}


def is_numeric(lib: _Lib, dtype: object) -> bool:
    """Floating or integer ``dtype`` in ``lib``'s namespace, cached on ``lib``."""
    ok = lib.numeric.get(dtype)
    if ok is None:
        ok = lib.numeric[dtype] = dtype_info(lib.xp, dtype).numeric
    return ok


LIBS: dict[type, _Lib] = {}
# The _Lib of each namespace object, by id: the compat namespace and the one
# the rules compute with (NumPy's speed adapter). One _Lib per library, so
# two array types of one library compare identical.
_BY_XP: dict[int, _Lib] = {}


# Argument names of each op, in the order its rule passes them to resolve(),
# with the ones that may be Python scalars or None. Filled by the rules
# (ops._common.declare); read only when building an error message or when a
# call leaves resolve()'s fast path.
_SIGNATURES: dict[str, tuple[tuple[str, ...], frozenset, frozenset]] = {}


def declare(op: str, names, *, scalars=(), optional=()) -> None:
    """Record the names of ``op``'s array arguments for resolve() and its errors.

    ``scalars`` may be Python scalars; ``optional`` may be None.
    """
    _SIGNATURES[op] = (tuple(names), frozenset(scalars), frozenset(optional))


def _arg_name(op: str, i: int) -> str:
    sig = _SIGNATURES.get(op)
    if sig is not None and i < len(sig[0]):
        return sig[0][i]
    return f"argument {i + 1}"


def _describe(x: object) -> str:
    t = type(x)
    if x is None:
        return "None"
    if t in _SCALARS:
        return f"a Python {t.__name__} ({x!r})"
    mod = t.__module__
    name = t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"
    return f"a {name}"


def _lib_of_type(t: type, x: object, op: str = "xpgrad", i: int = 0) -> _Lib:
    lib = LIBS.get(t)
    if lib is None:
        lib = register(t, x, op, i)
    return lib


def _unsupported(op: str, i: int, x: object) -> TypeError:
    return TypeError(
        f"{op}: {_arg_name(op, i)} is {_describe(x)}, not an array type xpgrad supports "
        f"(numpy, cupy, torch, jax, dask, or any Array API array); {_CONVERT_HINT}"
    )


def register(t: type, x: object, op: str = "xpgrad", i: int = 0) -> _Lib:
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(x, numpy.ndarray) and t is not numpy.ndarray:
        # These two subclasses change what the operators and reductions mean
        # (np.matrix's * is a matrix product, masked reductions skip masked
        # elements): the rules would return silently wrong gradients.
        name = _arg_name(op, i)
        if isinstance(x, numpy.matrix):
            raise TypeError(
                f"{op}: {name} is a numpy.matrix, whose * is a matrix product; pass "
                f"numpy.asarray({name}) instead"
            )
        if isinstance(x, numpy.ma.MaskedArray):
            raise TypeError(
                f"{op}: {name} is a numpy.ma.MaskedArray, whose mask xpgrad would ignore; "
                f"pass {name}.filled(value) or a plain array and a separate mask (multiply "
                f"by it) instead"
            )
    if t.__module__ == "xpgrad.tensor":
        raise TypeError(
            f"{op}: {_arg_name(op, i)} is an xpgrad Tensor, and this function takes native "
            f"arrays; pass its .data, or use the Tensor's operators and xpgrad.array_api, "
            f"which record gradients"
        )
    import array_api_compat

    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError:
        raise _unsupported(op, i, x) from None
    lib = _BY_XP.get(id(xp))
    if lib is None:
        name = xp.__name__.removeprefix("array_api_compat.").split(".")[0]
        new = _Lib(name, xp)
        # setdefault: two threads registering at once must end with one _Lib,
        # since resolve() compares libraries by identity.
        lib = _BY_XP.setdefault(id(xp), new)
        _BY_XP.setdefault(id(lib.xp), lib)
    return LIBS.setdefault(t, lib)


_GENERIC = Library()
# Adapters of namespaces that are no array library of their own:
# xpgrad.array_api, whose Tensors a recorded backward computes with.
_OTHER_ADAPTERS: dict = {}


def adapter_of(xp: object) -> Library:
    """The library adapter (``xpgrad/_libs/``) of namespace ``xp``, for the
    rules, which hold a namespace rather than a ``_Lib``; the generic one for
    a namespace xpgrad has not registered."""
    lib = _BY_XP.get(id(xp))
    return _OTHER_ADAPTERS.get(id(xp), _GENERIC) if lib is None else lib.adapter


def set_adapter(xp: object, adapter: Library) -> None:
    """Make ``adapter`` what :func:`adapter_of` gives for namespace ``xp``."""
    _OTHER_ADAPTERS[id(xp)] = adapter


def is_lazy(x: object) -> bool:
    """Reading a value of array ``x`` would compute a lazy graph (dask,
    cubed); ``x`` may be an xpgrad Tensor of such an array (a recorded
    backward's), whose namespace says nothing of its data's library."""
    lib = LIBS.get(type(x))
    if lib is None:
        lib = LIBS.get(type(getattr(x, "data", None)))
    return lib is not None and lib.adapter.lazy


def namespace_name(xp: object) -> str:
    """The library name (``"numpy"``, ``"cupy"``...) of a namespace xpgrad
    registered, else the namespace's module name."""
    lib = _BY_XP.get(id(xp))
    return xp.__name__ if lib is None else lib.name


def namespace_for(library: str) -> object:
    """xpgrad's namespace for ``library`` (``"numpy"``, ``"torch"``, ``"cupy"``,
    ``"jax"``, ``"dask"``, ``"array_api_strict"``), importing and registering
    it, with a tiny array, the first time."""
    for lib in set(LIBS.values()):
        if lib.name == library:
            return lib.xp
    sample = adapter_for(library).empty()
    return _lib_of_type(type(sample), sample).xp


def _describe_device(lib: _Lib, x: object) -> str:
    try:
        return str(lib.adapter.device_of(x))
    except ValueError:
        return str(x.device)


def resolve_beside(op: str, arrays: tuple) -> tuple:
    """:func:`resolve` of ``arrays``, with NumPy scalars (``np.float64(0.5)``,
    what NumPy's functions of numbers return) beside another library's array
    read as that library reads them (:meth:`Library.numpy_scalar`), where it
    takes them: ``(xp, scope, arrays)``. Only when ``resolve`` refuses the
    arrays as they are: nothing is added to the call that succeeds."""
    try:
        return (*resolve(op, *arrays), arrays)
    except TypeError as exc:
        return resolve_numpy_scalars(op, arrays, exc)


def resolve_numpy_scalars(op: str, arrays: tuple, refused: TypeError) -> tuple:
    """:func:`resolve_beside` once ``resolve`` has refused ``arrays`` with
    ``refused`` (for a caller that tried ``resolve`` itself, on its fast
    path): ``refused`` is raised again where no NumPy scalar explains it."""
    import numpy as np

    like = next((a for a in arrays if hasattr(a, "shape") and type(a) not in _SCALARS
                 and not isinstance(a, (np.ndarray, np.generic))), None)
    if like is None or not any([isinstance(a, np.generic) for a in arrays]):
        raise refused
    lib = _lib_of_type(type(like), like, op)
    read = []
    for a in arrays:
        if isinstance(a, np.generic):
            a = lib.adapter.numpy_scalar(lib.xp, a, like)
            if a is None:  # the library refuses them (array_api_strict)
                raise refused
        read.append(a)
    return (*resolve(op, *read), tuple(read))


def resolve(op: str, *arrays: object) -> tuple[object, object]:
    """Namespace of ``arrays`` and the context that makes their device current.

    The internal twin of :func:`get_namespace` used by every rule; ``op``
    names the caller in error messages. This is the one place where a rule's
    array arguments are checked for kind, library, device and known sizes:
    what it raises names the op and the argument (see :func:`declare`).
    """
    # Fast paths for the common calls (one array, or two of one host type):
    # this runs on every forward, so its cost shows on tiny arrays. A type in
    # LIBS is an array type, so nothing here needs checking.
    n = len(arrays)
    if n == 1 or (n == 2 and type(arrays[0]) is type(arrays[1])):
        lib = LIBS.get(type(arrays[0]))
        if lib is not None and lib.fast:
            if n == 1:
                return (lib.xp, lib.adapter.scope(arrays[0])) if lib.scoped else lib.unscoped
            if not lib.check_device:
                return (lib.xp, lib.adapter.scope(arrays[0])) if lib.scoped else lib.unscoped
    elif n == 2:  # an array and a Python scalar (x * 2.0), where op's signature takes one
        sig = _SIGNATURES.get(op)
        if sig is not None and len(sig[0]) == 2:
            (first, second), scalars = sig[0], sig[1]
            x, y = arrays
            if type(y) in _SCALARS and second in scalars:
                lib = LIBS.get(type(x))
            elif type(x) in _SCALARS and first in scalars:
                lib, x = LIBS.get(type(y)), y
            else:
                lib = None
            if lib is not None and lib.fast:
                return (lib.xp, lib.adapter.scope(x)) if lib.scoped else lib.unscoped
    return _resolve_checked(op, arrays)


def _resolve_checked(op: str, arrays: tuple) -> tuple[object, object]:
    sig = _SIGNATURES.get(op)
    lib = first = None
    first_i = 0
    for i, x in enumerate(arrays):
        t = type(x)
        if t in _SCALARS or t is _NONE:
            if sig is not None and i < len(sig[0]):
                name = sig[0][i]
                ok = name in (sig[1] if t is not _NONE else sig[2])
                if not ok:
                    kinds = "an array" + (" or a Python scalar" if name in sig[1] else "")
                    raise TypeError(f"{op}: {name} must be {kinds}; got {_describe(x)}")
            continue
        other = LIBS.get(t) or register(t, x, op, i)
        if not other.fast:
            _check_known_sizes(op, i, x)
        if lib is None:
            lib, first, first_i = other, x, i
        elif other is not lib:
            n1, n2 = _arg_name(op, first_i), _arg_name(op, i)
            made = ""
            if "numpy" in (lib.name, other.name):  # library code's xp.asarray(0.5), xp.zeros(n)
                theirs = other.name if lib.name == "numpy" else lib.name
                made = (
                    f". A NumPy array made by xpgrad.array_api without device= (as library "
                    f"code makes its constants) is on the default device: run that code inside "
                    f"`with xpgrad.default_device(t.device):`, t a Tensor of {theirs}'s, to make "
                    f"them {theirs}'s"
                )
            raise TypeError(
                f"{op}: inputs come from different array libraries: {n1} is {lib.name}, "
                f"{n2} is {other.name}; convert one to the other's library with "
                f"xpgrad.convert({n2}, like={n1}) (or that library's asarray){made}"
            )
        elif lib.check_device:
            d1, d2 = getattr(first, "device", None), getattr(x, "device", None)
            # JAX arrays traced by jit have no device: there is nothing to compare.
            if d1 is not None and d2 is not None and d1 != d2:
                s1, s2 = _describe_device(lib, first), _describe_device(lib, x)
                if s1 == s2:  # two host devices (array_api_strict's): use the library's names
                    s1, s2 = str(d1), str(d2)
                raise ValueError(
                    f"{op}: inputs are on different devices: {_arg_name(op, first_i)} on "
                    f"{s1}, {_arg_name(op, i)} on {s2}; move them to one device with "
                    f"xpgrad.to_device"
                )
    if lib is None:
        got = ", ".join(_describe(x) for x in arrays) or "nothing"
        raise TypeError(f"{op}: no array among the inputs (got {got}); {_CONVERT_HINT}")
    return lib.xp, (lib.adapter.scope(first) if lib.scoped else NO_SCOPE)


def _check_known_sizes(op: str, i: int, x: object) -> None:
    shape = tuple(x.shape)
    if any(d != d or d is None for d in shape):
        name = _arg_name(op, i)
        call = "compute_chunk_sizes() on it" if name.startswith("argument") else (
            f"{name}.compute_chunk_sizes()")
        raise ValueError(
            f"{op}: {name} has unknown dimension sizes {fmt_shape(shape)} (a dask array "
            f"after boolean indexing or another data-dependent step); call {call} first "
            f"(on a Tensor's .data)"
        )


def fmt_shape(shape) -> str:
    """A shape written as a Python tuple, with ``nan`` for an unknown size."""
    return repr(tuple(int(d) if d == d and d is not None else float("nan") for d in shape))


def get_namespace(*arrays: object, xp: object = None) -> object:
    """Return the Array API namespace of ``arrays``.

    Parameters
    ----------
    *arrays
        NumPy, CuPy, torch, dask or other Array API arrays. Python scalars and
        ``None`` are ignored.
    xp : namespace, optional
        If given, it is returned unchanged (the scikit-learn convention for an
        explicit override).

    Returns
    -------
    namespace
        ``array_api_compat.numpy`` for NumPy arrays, ``array_api_compat.cupy``
        for CuPy, ``array_api_compat.torch`` for torch, the library itself for
        a namespace that is already compliant (array_api_strict).

    Raises
    ------
    TypeError
        If the arrays come from different libraries, or none is an array.
    ValueError
        If they come from one library but sit on different devices.

    Examples
    --------
    >>> import numpy as np
    >>> get_namespace(np.ones(2), 3.0).__name__
    'array_api_compat.numpy'
    """
    if xp is not None:
        return xp
    xp = resolve("get_namespace", *arrays)[0]
    lib = _BY_XP.get(id(xp))
    return xp if lib is None else lib.public


def device_of(array: object) -> Device:
    """The :class:`Device` an array lives on.

    Examples
    --------
    >>> import numpy as np
    >>> device_of(np.zeros(3))
    Device('cpu')
    """
    return _lib_of_type(type(array), array, "device_of").adapter.device_of(array)


_ARRAY_DEVICES: dict = {}


def array_device(array: object) -> ArrayDevice:
    """The :class:`~xpgrad._device.ArrayDevice` of ``array``: its place, its
    library's name, and the library's own device object (``Tensor.device``)."""
    lib = _lib_of_type(type(array), array, "device")
    native = getattr(array, "device", None)
    key = (lib.name, native)
    try:
        hit = _ARRAY_DEVICES.get(key)
    except TypeError:  # an unhashable device object: build it each time
        key, hit = None, None
    if hit is None:
        hit = ArrayDevice._on(lib.adapter.device_of(array), lib.name, native)
        if key is not None:
            _ARRAY_DEVICES[key] = hit
    return hit


def to_numpy(array: object):
    """A NumPy array with the values of ``array`` (copied to the host if needed)."""
    import numpy as np

    if isinstance(array, np.ndarray):
        return array
    return _lib_of_type(type(array), array, "to_numpy").adapter.to_numpy(array)


def to_device(array: object, device: object):
    """Return ``array`` on ``device``, copying only when it is elsewhere.

    NumPy and other host arrays go to CuPy on ``cuda:N``; CuPy arrays come back
    as NumPy on ``cpu`` or move between GPUs; torch tensors stay torch tensors.
    The device of another library's array (``Tensor.device``, which names its
    library) takes the values over to that library.

    Raises
    ------
    RuntimeError
        If ``device`` is not available (no CuPy, no GPU, index out of range).
    TypeError
        If ``array`` is not an array.

    Examples
    --------
    >>> import numpy as np
    >>> to_device(np.arange(3), "cpu")
    array([0, 1, 2])
    """
    lib = _lib_of_type(type(array), array, "to_device")
    dev = device_for(array, device, "to_device")
    library = getattr(dev, "library", None)
    if library is not None and library != lib.name:
        # another array's device (t.device), of another library: the values go
        # over to that library, through the host, as asarray's do
        xp = namespace_for(library)
        host = lib.adapter.to_numpy(array)  # may share array's memory (torch's .numpy())
        kw = {} if dev.native is None else {"device": dev.native}
        try:
            return xp.asarray(host, copy=True, **kw)  # torch.asarray would share NumPy's
        except TypeError:  # an asarray without copy (its arrays are its own)
            return xp.asarray(host, **kw)
    if not is_elsewhere(dev, array):
        return array
    if lib.adapter.device_of(array) == dev:  # another of the library's devices at one place
        move = getattr(array, "to_device", None)  # the standard's method (array_api_strict's)
        return array if move is None else move(dev.native)
    return lib.adapter.to_device(array, dev)


def device_for(array: object, device: object, op: str) -> Device:
    """``device`` read for ``array``: a name, Device, torch or CuPy device as
    :class:`~xpgrad.Device` reads it; a device object of ``array``'s own
    library that Device does not know (array_api_strict's, JAX's) as the
    :class:`ArrayDevice` of that library's arrays there."""
    try:
        return parse_device(device, op)
    except TypeError:
        lib = _lib_of_type(type(array), array, op)
        try:
            probe = lib.xp.empty((0,), device=device)
        except Exception:  # noqa: BLE001 - not a device of the library either
            kind = f"{type(device).__module__}.{type(device).__name__}"
            raise TypeError(
                f"{op}: device {device!r} ({kind}) is neither a name such as 'cpu' or 'cuda:0' "
                f"nor a device of this array's library, {lib.name}; pass one of those, or "
                f"another Tensor's .device (which also moves the values to its library)"
            ) from None
        return array_device(probe)


def is_elsewhere(device: Device, array: object) -> bool:
    """Whether ``device`` (:func:`device_for`'s) names another place than
    ``array``'s, another library, or another device object of its library
    at the same place (array_api_strict's devices are all host memory)."""
    here = array_device(array)
    if device != here:
        return True
    library = getattr(device, "library", None)
    if library is None:
        return False
    return library != here.library or (device.native is not None and device.native != here.native)


def convert(array: object, like: object):
    """``array``'s values as an array of ``like``'s library, on ``like``'s device.

    For mixing libraries on purpose: the rules refuse a NumPy array next to a
    torch tensor, and this is the fix their error message points to. Values,
    shape and dtype are kept; memory is shared where the two libraries can
    share it (DLPack), and copied otherwise (through the host if needed).

    Parameters
    ----------
    array : array, Python scalar or nested list
    like : array
        Any array of the target library and device.

    Raises
    ------
    TypeError
        If ``like`` is not an array, or ``array`` is not array-like.

    Examples
    --------
    >>> import numpy as np, array_api_strict as xs
    >>> convert(np.arange(3.0), like=xs.ones(2))
    Array([0., 1., 2.], dtype=array_api_strict.float64)
    """
    lib = _lib_of_type(type(like), like, "convert", 1)
    dev = getattr(like, "device", None)
    if type(array) in _SCALARS or isinstance(array, (list, tuple)):
        return lib.xp.asarray(array, device=dev)
    source = _lib_of_type(type(array), array, "convert", 0)
    if source is lib and getattr(array, "device", None) == dev:
        return array
    out = None
    strides = getattr(array, "strides", None)  # NumPy's and CuPy's, in bytes
    # torch's from_dlpack aborts the process on a negative stride (its storage
    # size overflows), and its asarray refuses one: such a view is copied
    backwards = type(strides) is tuple and any([s < 0 for s in strides])
    if not backwards:
        try:
            out = lib.xp.from_dlpack(array)
        except Exception:  # no DLPack between these two, or not across these devices
            out = None
    if out is not None and getattr(out, "device", None) == dev:
        return out
    target = lib.adapter.device_of(like)
    if target.kind == "cuda":
        # Through the host: a torch CPU tensor for torch, NumPy for CuPy.
        return to_device(convert(array, lib.adapter.host_like(like)), target)
    host = to_numpy(array)
    return lib.xp.asarray(host.copy() if backwards else host, device=dev)


class DTypeInfo:
    """Facts about one dtype in one namespace, computed once and cached.

    Attributes
    ----------
    inexact : bool
        Real or complex floating point: gradients are defined.
    numeric : bool
        Floating or integer (not boolean): usable as an upstream gradient.
    complex : bool
        Complex floating point: gradients use conjugates (torch's convention).
    accum : dtype or None
        float32 for float16/bfloat16, the dtype sums accumulate in; else None.
    gemm : dtype or None
        float32 where the namespace has no fast half-precision GEMM (NumPy and
        the namespaces built on it) and the dtype is half; else None.
    """

    __slots__ = ("inexact", "numeric", "complex", "accum", "gemm")


# Per namespace (by id), dtype -> DTypeInfo. Two levels, not a (namespace,
# dtype) key: no tuple to build on every lookup (every forward makes one),
# and no comparison of two libraries' dtypes (array_api_strict warns).
_DTYPES: dict[int, dict] = {}


class _ByLibrary(dict):
    """The cache of ``xpgrad.array_api``, whose rules (a recorded backward)
    see the dtypes of every library: one dict per dtype type, so that no two
    libraries' dtypes meet in one (their hashes may collide)."""

    def get(self, dtype, default=None):
        return dict.get(self, type(dtype), {}).get(dtype, default)

    def setdefault(self, dtype, info):
        return dict.setdefault(self, type(dtype), {}).setdefault(dtype, info)


def dtype_info(xp: object, dtype: object) -> DTypeInfo:
    """Cached :class:`DTypeInfo` for ``dtype`` in namespace ``xp``."""
    infos = _DTYPES.get(id(xp))
    if infos is not None:
        info = infos.get(dtype)
        if info is not None:
            return info
    else:
        mixed = getattr(xp, "__name__", None) == "xpgrad.array_api"
        infos = _DTYPES.setdefault(id(xp), _ByLibrary() if mixed else {})
    return infos.setdefault(dtype, _classify(xp, dtype))


def _classify(xp: object, dtype: object) -> DTypeInfo:
    name = str(dtype).rsplit(".", 1)[-1]
    try:
        real = bool(xp.isdtype(dtype, "real floating"))
        cplx = bool(xp.isdtype(dtype, "complex floating"))
        integral = bool(xp.isdtype(dtype, "integral"))
    except Exception:
        real, cplx = "float" in name and "complex" not in name, "complex" in name
        integral = "int" in name
    if "bfloat16" in name:  # ml_dtypes' bfloat16 is not a NumPy floating kind
        real = True
    info = DTypeInfo()
    info.inexact = real or cplx
    info.numeric = info.inexact or integral
    info.complex = cplx
    half = name in ("float16", "bfloat16")
    info.accum = xp.float32 if half else None
    ns = namespace_name(xp).removeprefix("array_api_compat.").split(".")[0]
    # NumPy has no float16 GEMM (it loops in C, hundreds of times slower than
    # float32), nor the namespaces that run on NumPy underneath.
    info.gemm = xp.float32 if half and not adapter_for(ns).half_gemm else None
    return info


declare("device_of", ("array",))
declare("to_numpy", ("array",))
declare("to_device", ("array",))
declare("convert", ("array", "like"))
