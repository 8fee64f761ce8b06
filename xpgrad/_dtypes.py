"""The namespace's dtype objects, and the data type functions of the standard.

A Tensor's data stays in its own library, whose dtype objects differ
(``numpy.float64``, ``torch.float64``, ``array_api_strict.float64``). The
namespace's :class:`DType` stands for all of them: ``Tensor.dtype`` returns
one, it equals the dtype of the same name from any library, and every
function of the namespace accepts either kind and looks the native one up in
the data's library.
"""

from __future__ import annotations

import builtins

import numpy as _np

__all__ = [
    "DType",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "can_cast",
    "finfo",
    "iinfo",
    "isdtype",
    "result_type",
]

_INTS = ("int8", "int16", "int32", "int64")
_UINTS = ("uint8", "uint16", "uint32", "uint64")
_REAL = ("float16", "bfloat16", "float32", "float64")
_COMPLEX = ("complex64", "complex128")
_KIND = {"bool": "bool"}
_KIND.update({n: "signed integer" for n in _INTS})
_KIND.update({n: "unsigned integer" for n in _UINTS})
_KIND.update({n: "real floating" for n in _REAL})
_KIND.update({n: "complex floating" for n in _COMPLEX})


class DType:
    """A dtype of ``xpgrad.array_api``: equal to the dtype of the same name in
    any array library (NumPy, CuPy, torch, JAX, array_api_strict).

    >>> import numpy as np, xpgrad.array_api as xp
    >>> xp.float32 == np.float32, xp.float32 == np.dtype("float32"), xp.float32 == xp.float64
    (True, True, False)
    """

    __slots__ = ("name", "kind")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", _KIND[name])

    def __setattr__(self, name, value):
        raise AttributeError("DType is immutable")

    def __eq__(self, other: object) -> builtins.bool:
        if type(other) is DType:
            return other.name == self.name
        name = native_name(other)
        return NotImplemented if name is None else name == self.name

    def __hash__(self) -> int:
        # As NumPy's dtype of the name, which it equals: the two mix in dicts
        # and sets. (torch's and JAX's dtypes hash otherwise; key those by
        # t.data.dtype, the library's own dtype.)
        return _NUMPY_HASH[self.name]

    def __repr__(self) -> str:
        return f"xpgrad.array_api.{self.name}"

    def __str__(self) -> str:
        return self.name

    @property
    def dtype(self):
        """NumPy's dtype of this name, so that NumPy takes a DType wherever it
        takes a dtype (``numpy.zeros(3, dtype=t.dtype)``)."""
        return _np.dtype(self.name)

    def __reduce__(self):
        return (of_name, (self.name,))


def _numpy_hash(name: str) -> int:
    try:
        return hash(_np.dtype(name))
    except TypeError:  # bfloat16: no NumPy dtype
        return hash(name)


_NUMPY_HASH = {name: _numpy_hash(name) for name in _KIND}
_BY_NAME = {name: DType(name) for name in _KIND}


def of_name(name: str) -> DType:
    return _BY_NAME[name]


bool = _BY_NAME["bool"]  # noqa: A001 - the standard's name
int8, int16, int32, int64 = (_BY_NAME[n] for n in _INTS)
uint8, uint16, uint32, uint64 = (_BY_NAME[n] for n in _UINTS)
float32, float64 = _BY_NAME["float32"], _BY_NAME["float64"]
complex64, complex128 = _BY_NAME["complex64"], _BY_NAME["complex128"]

# (type, native dtype object) -> DType, filled as dtypes are met.
_FROM_NATIVE: dict = {}


def native_name(dtype: object) -> str | None:
    """The standard's name of a library's dtype object, or None if it is none."""
    if type(dtype) is DType:
        return dtype.name
    name = getattr(dtype, "name", None)
    if not isinstance(name, str):
        if isinstance(dtype, type):  # numpy.float64 and other scalar types
            try:
                import numpy as np

                name = np.dtype(dtype).name
            except TypeError:
                return None
        else:  # torch.float64, array_api_strict.float64
            text = str(dtype)
            if "." not in text:
                return None
            name = text.rsplit(".", 1)[-1]
    return name if name in _KIND else None


def wrap(native) -> DType:
    """The :class:`DType` of a native dtype object."""
    # Keyed with the type too: dtypes of different libraries may hash alike,
    # and array_api_strict's warns when compared with NumPy's.
    key = (type(native), native)
    hit = _FROM_NATIVE.get(key)
    if hit is None:
        name = native_name(native)
        if name is None:
            raise TypeError(f"xpgrad.array_api: {native!r} is not a dtype the standard names")
        hit = _FROM_NATIVE[key] = _BY_NAME[name]
    return hit


# Python's own types, read the way NumPy and torch read them.
_PY_DTYPES = {float: "float64", int: "int64", complex: "complex128", builtins.bool: "bool"}
# The names a dtype may have: the standard's, and bfloat16.
_DTYPE_NAMES = frozenset(
    ["bool", "float16", "bfloat16", "float32", "float64", "complex64", "complex128"]
    + [f"{u}int{n}" for u in ("", "u") for n in (8, 16, 32, 64)]
)


def library_dtype(xp, dtype, op: str):
    """The dtype object of namespace ``xp`` for ``dtype``: a name
    (``"float32"``, NumPy codes such as ``"f8"``), Python's ``float``, ``int``,
    ``complex`` or ``bool``, or any library's dtype object; NumPy's and
    CuPy's bfloat16 is ml_dtypes' (when installed).

    Raises
    ------
    TypeError
        If ``xp`` has no such dtype, naming ``op``.
    """
    if isinstance(dtype, type) and dtype in _PY_DTYPES:
        dtype = _PY_DTYPES[dtype]
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None) or str(dtype)
    name = name.rsplit(".", 1)[-1].rstrip("'>")  # str(numpy.float64) is "<class 'numpy.float64'>"
    if name not in _DTYPE_NAMES:  # a NumPy code ('f8', '<f4') names a dtype too
        try:
            import numpy as np

            name = np.dtype(name).name
        except (TypeError, ValueError):
            pass
    native = getattr(xp, name, None) if name in _DTYPE_NAMES else None
    if native is None and name == "bfloat16" and xp.__name__.endswith(("numpy", "cupy")):
        try:
            import ml_dtypes

            native = ml_dtypes.bfloat16
        except ImportError:
            pass
    if native is None:
        raise TypeError(
            f"{op}: dtype {dtype!r} is not available in {xp.__name__}; pass a name such "
            f"as 'float32' or 'float64'"
        )
    return native


def to_native(xp, dtype, op: str):
    """The dtype object of namespace ``xp`` for ``dtype`` (a DType, a library's
    dtype object, or a name), or None for None."""
    if dtype is None:
        return None
    name = native_name(dtype) if not isinstance(dtype, str) else dtype
    native = getattr(xp, name, None) if name in _KIND else None
    if native is None and name == "bfloat16":
        return library_dtype(xp, "bfloat16", op)
    if native is None:
        raise TypeError(
            f"{op}: dtype {dtype!r} is not one of the standard's dtypes available in "
            f"{xp.__name__}; pass one of xpgrad.array_api's dtype objects, such as "
            f"xpgrad.array_api.float64"
        )
    return native


def _name_of(x, op: str) -> str:
    """The dtype name of a dtype, Tensor or array argument."""
    if getattr(type(x), "_xpgrad_tensor", False):
        x = x.data
    name = native_name(x)
    if name is None:
        inner = getattr(x, "dtype", None)
        name = native_name(inner) if inner is not None else None
    if name is None:
        raise TypeError(
            f"{op}: expected a dtype or an array; got {type(x).__name__} ({x!r})"
        )
    return name


# -- the standard's data type functions ----------------------------------------

_KIND_GROUPS = {
    "bool": ("bool",),
    "signed integer": ("signed integer",),
    "unsigned integer": ("unsigned integer",),
    "integral": ("signed integer", "unsigned integer"),
    "real floating": ("real floating",),
    "complex floating": ("complex floating",),
    "numeric": ("signed integer", "unsigned integer", "real floating", "complex floating"),
}


def isdtype(dtype, kind) -> builtins.bool:
    """Whether ``dtype`` is of ``kind``: a dtype, a kind name ("real floating",
    "integral", "numeric", ...), or a tuple of those."""
    name = _name_of(dtype, "isdtype")
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        groups = _KIND_GROUPS.get(kind)
        if groups is None:
            raise ValueError(
                f"isdtype: unknown kind {kind!r}; expected a dtype, one of "
                f"{sorted(_KIND_GROUPS)}, or a tuple of those"
            )
        return _KIND[name] in groups
    kname = native_name(kind)
    if kname is None:
        raise TypeError(f"isdtype: kind must be a dtype, a kind name or a tuple; got {kind!r}")
    return kname == name


# Promotion inside one kind, and across kinds where the standard defines it.
_SIZE = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint8": 8, "uint16": 16,
         "uint32": 32, "uint64": 64, "float16": 16, "bfloat16": 16, "float32": 32,
         "float64": 64, "complex64": 64, "complex128": 128}


def _promote(a: str, b: str) -> str | None:
    if a == b:
        return a
    ka, kb = _KIND[a], _KIND[b]
    if ka == kb and ka != "bool":
        if {a, b} == {"float16", "bfloat16"}:
            return "float32"
        return a if _SIZE[a] >= _SIZE[b] else b
    if {ka, kb} == {"signed integer", "unsigned integer"}:
        s, u = (a, b) if ka == "signed integer" else (b, a)
        if _SIZE[s] > _SIZE[u]:
            return s
        wider = {8: "int16", 16: "int32", 32: "int64"}.get(_SIZE[u])
        return wider
    if {ka, kb} == {"real floating", "complex floating"}:
        r, c = (a, b) if ka == "real floating" else (b, a)
        return "complex128" if _SIZE[r] == 64 or c == "complex128" else "complex64"
    return None


def result_type(*arrays_and_dtypes):
    """The dtype the standard's promotion rules give its arguments (dtypes,
    Tensors or arrays; Python scalars take the other arguments' dtype)."""
    names = []
    scalars = []
    for x in arrays_and_dtypes:
        if type(x) in (builtins.bool, int, float, complex):
            scalars.append(x)
        else:
            names.append(_name_of(x, "result_type"))
    if not names:
        raise ValueError("result_type: at least one array or dtype is required")
    out = names[0]
    for other in names[1:]:
        nxt = _promote(out, other)
        if nxt is None:
            raise TypeError(
                f"result_type: the standard defines no promotion of {out} with {other}; "
                f"cast one of them with astype first"
            )
        out = nxt
    for s in scalars:
        kind = _KIND[out]
        if type(s) is complex and kind != "complex floating":
            if kind != "real floating":
                raise TypeError(f"result_type: a complex scalar with a {out} array")
            out = "complex128" if out == "float64" else "complex64"
        elif type(s) is float and kind not in ("real floating", "complex floating"):
            raise TypeError(f"result_type: a float scalar with a {out} array")
        elif type(s) is int and kind == "bool":
            raise TypeError("result_type: an int scalar with a bool array")
    return _BY_NAME[out]


def can_cast(from_, to, /) -> builtins.bool:
    """Whether the standard's promotion takes ``from_`` to ``to`` without loss."""
    a, b = _name_of(from_, "can_cast"), _name_of(to, "can_cast")
    return _promote(a, b) == b


class finfo_object:
    """Machine limits of a floating dtype, as Python floats."""

    __slots__ = ("bits", "eps", "max", "min", "smallest_normal", "dtype")

    def __repr__(self) -> str:
        return f"finfo(dtype={self.dtype}, bits={self.bits}, eps={self.eps})"


class iinfo_object:
    """Limits of an integer dtype, as Python ints."""

    __slots__ = ("bits", "max", "min", "dtype")

    def __repr__(self) -> str:
        return f"iinfo(dtype={self.dtype}, min={self.min}, max={self.max})"


def finfo(type, /):  # noqa: A002 - the standard's name
    """Limits of a floating dtype (or of a Tensor's or array's dtype)."""
    import numpy as np

    name = _name_of(type, "finfo")
    if _KIND[name] not in ("real floating", "complex floating"):
        raise TypeError(f"finfo: {name} is not a floating dtype; use iinfo for integers")
    if name == "bfloat16":
        import ml_dtypes

        info = ml_dtypes.finfo(ml_dtypes.bfloat16)
    else:
        info = np.finfo(np.dtype(name))
    out = finfo_object()
    out.bits = int(info.bits)
    out.eps = float(info.eps)
    out.max = float(info.max)
    out.min = float(info.min)
    out.smallest_normal = float(info.smallest_normal)
    real = {"complex64": "float32", "complex128": "float64"}.get(name, name)
    out.dtype = _BY_NAME[real]
    return out


def iinfo(type, /):  # noqa: A002 - the standard's name
    """Limits of an integer dtype (or of a Tensor's or array's dtype)."""
    import numpy as np

    name = _name_of(type, "iinfo")
    if _KIND[name] not in ("signed integer", "unsigned integer"):
        raise TypeError(f"iinfo: {name} is not an integer dtype; use finfo for floats")
    info = np.iinfo(np.dtype(name))
    out = iinfo_object()
    out.bits, out.max, out.min, out.dtype = int(info.bits), int(info.max), int(info.min), _BY_NAME[name]
    return out
