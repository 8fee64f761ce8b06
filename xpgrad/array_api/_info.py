"""``__array_namespace_info__``: what the namespace offers, for the default
device's library (NumPy on the CPU, CuPy on a GPU)."""

from __future__ import annotations

from .. import _dtypes
from .._device import Device, devices as _devices, get_default_device

__all__ = ["__array_namespace_info__"]


class Info:
    """The standard's inspection object; ``xp.__array_namespace_info__()``."""

    __module__ = "xpgrad.array_api"

    def capabilities(self) -> dict:
        # Boolean indexing and nonzero give data-dependent shapes in NumPy,
        # CuPy and torch; xpgrad passes them through.
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self) -> Device:
        return get_default_device()

    def devices(self) -> list:
        return _devices()

    def default_dtypes(self, *, device=None) -> dict:
        """float64, complex128 and int64 (Python data's defaults on every
        library), except on a device whose library has no float64 (JAX
        without x64): that library's own defaults."""
        own = _library_info(device)
        if own is not None and "float64" not in own.dtypes():
            return {k: _dtypes.wrap(v) for k, v in own.default_dtypes().items()}
        return {
            "real floating": _dtypes.float64,
            "complex floating": _dtypes.complex128,
            "integral": _dtypes.int64,
            "indexing": _dtypes.int64,
        }

    def dtypes(self, *, device=None, kind=None) -> dict:
        """The standard's dtypes, those that ``device``'s library has."""
        names = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float32", "float64", "complex64", "complex128"]
        own = _library_info(device)
        if own is not None:
            have = own.dtypes()
            names = [n for n in names if n in have]
        out = {n: _dtypes.of_name(n) for n in names}
        if kind is None:
            return out
        return {n: d for n, d in out.items() if _dtypes.isdtype(d, kind)}


def _library_info(device):
    """The inspection object of the library that ``device`` (a Tensor's
    ``.device`` or a library's device object; None for the default device)
    makes arrays of; None for a place (NumPy or CuPy: every dtype) and
    libraries without one. (Under ``default_device(t.device)`` of a torch t,
    ``dtypes()`` listed torch's missing unsigned types.)"""
    if device is None:
        device = get_default_device()
    if isinstance(device, str) or type(device) is Device:  # a place: NumPy's, CuPy's
        return None
    from ._creation import _target

    xp, _ = _target(device, "__array_namespace_info__")
    info = getattr(xp, "__array_namespace_info__", None)
    return None if info is None else info()


def __array_namespace_info__() -> Info:
    """__array_namespace_info__(): the standard's inspection object: the
    capabilities, devices and default dtypes of this namespace."""
    return Info()
