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
        return {
            "real floating": _dtypes.float64,
            "complex floating": _dtypes.complex128,
            "integral": _dtypes.int64,
            "indexing": _dtypes.int64,
        }

    def dtypes(self, *, device=None, kind=None) -> dict:
        names = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float32", "float64", "complex64", "complex128"]
        out = {n: _dtypes.of_name(n) for n in names}
        if kind is None:
            return out
        return {n: d for n, d in out.items() if _dtypes.isdtype(d, kind)}


def __array_namespace_info__() -> Info:
    """__array_namespace_info__(): the standard's inspection object: the
    capabilities, devices and default dtypes of this namespace."""
    return Info()
