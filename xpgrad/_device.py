"""Devices: parsing, availability, and the default-device context.

This is the lowest layer of xpgrad: it knows nothing about arrays. CuPy is
imported only inside functions that need to talk to a GPU, never at import
time, so ``import xpgrad`` works on a machine without CuPy or a GPU.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys

__all__ = [
    "Device",
    "devices",
    "default_device",
    "get_default_device",
    "parse_device",
    "require_available",
    "synchronize",
]

_KINDS = ("cpu", "cuda")


class Device:
    """A place where arrays live: ``cpu`` or ``cuda:N``.

    Parameters
    ----------
    spec : str, Device, or a library device object
        ``"cpu"``, ``"cuda"`` (meaning ``cuda:0``), ``"cuda:N"``, an existing
        ``Device``, a ``torch.device`` or a ``cupy.cuda.Device``.

    Raises
    ------
    TypeError
        If ``spec`` is not a string or a device object.
    ValueError
        If the string is not a device name xpgrad knows.

    Examples
    --------
    >>> Device("cuda")
    Device('cuda:0')
    >>> str(Device("cpu"))
    'cpu'
    >>> Device("cuda:1") == "cuda:1"
    True

    A Device equals another Device of the same place, and a string only when
    the string is its canonical name (``str(device)``), so that equal objects
    hash alike and a Device finds its entry in a dict keyed by names:
    ``Device("cuda") == "cuda:0"``, but ``Device("cuda") != "cuda"``; compare
    with ``Device("cuda")`` to parse the other spelling.
    """

    __slots__ = ("kind", "index")

    def __new__(cls, spec: object = "cpu") -> Device:
        if isinstance(spec, Device):
            return spec
        if isinstance(spec, str):
            return _parse(spec)
        # torch.device has .type/.index; cupy.cuda.Device has .id.
        kind = getattr(spec, "type", None)
        if isinstance(kind, str):
            index = getattr(spec, "index", None)
            return _parse(kind if index is None else f"{kind}:{index}")
        index = getattr(spec, "id", None)
        module = type(spec).__module__
        if isinstance(index, int) and module.startswith("cupy"):
            return _parse(f"cuda:{index}")
        # Not JAX's or array_api_strict's: they name a library's arrays, which a
        # Device (a place: NumPy's on the CPU) does not; xpgrad.tensor, to_device
        # and the namespace's functions take them as that library's.
        raise TypeError(
            f"Device: expected a string such as 'cpu' or 'cuda:0', or a torch or CuPy device "
            f"object; got {module}.{type(spec).__name__} ({spec!r})"
        )

    @classmethod
    def _make(cls, kind: str, index: int | None) -> Device:
        self = object.__new__(cls)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "index", index)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Device is immutable")

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    def __repr__(self) -> str:
        return f"Device('{self}')"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device):
            return self.kind == other.kind and self.index == other.index
        if isinstance(other, str):
            # Only the canonical spelling: 'cuda' and 'cuda:0' hash differently,
            # and a Device can hash like only one of them.
            return str(self) == other
        # Not a torch or cupy device object either: they hash their own way.
        # Device(obj) == dev parses one.
        return NotImplemented

    def __hash__(self) -> int:
        # Equal to its canonical string, so hash like it too.
        return hash(str(self))

    def __reduce__(self):
        return (Device, (str(self),))


class ArrayDevice(Device):
    """The device of a Tensor (``Tensor.device``): a :class:`Device` that also
    knows which array library holds the data there, so that
    ``xpgrad.array_api.zeros(n, device=t.device)`` makes an array of the same
    library as ``t``'s (a torch tensor for torch data, not a NumPy array).
    It equals, hashes and prints as the plain Device of the same place.
    """

    __slots__ = ("library", "native")

    @classmethod
    def _on(cls, place: Device, library: str, native: object) -> ArrayDevice:
        self = cls._make(place.kind, place.index)
        object.__setattr__(self, "library", library)
        object.__setattr__(self, "native", native)
        return self

    # Copies keep the library (Device's own would make a plain Device, whose
    # arrays are NumPy's): immutable, so a copy is the object itself.
    def __copy__(self) -> ArrayDevice:
        return self

    def __deepcopy__(self, memo) -> ArrayDevice:
        return self

    def __reduce__(self):
        # a JAX device does not pickle: it is found again by its place
        native = None if self.library == "jax" else self.native
        return (_array_device, (str(self), self.library, native))


def _array_device(place: str, library: str, native: object) -> ArrayDevice:
    """An unpickled :class:`ArrayDevice`."""
    dev = _parse(place)
    if native is None and library == "jax":
        import jax

        native = jax.devices("cpu" if dev.kind == "cpu" else "gpu")[dev.index or 0]
    return ArrayDevice._on(dev, library, native)


@functools.lru_cache(maxsize=64)
def _parse(text: str) -> Device:
    name = text.strip().lower()
    kind, sep, index_text = name.partition(":")
    if kind not in _KINDS:
        raise ValueError(
            f"Device: unknown device {text!r}; expected 'cpu', 'cuda' or 'cuda:N'"
        )
    if kind == "cpu":
        if sep and index_text not in ("", "0"):
            raise ValueError(f"Device: {text!r} names a CPU index; use 'cpu'")
        return Device._make("cpu", None)
    if not sep:
        return Device._make("cuda", 0)
    if not (index_text.isascii() and index_text.isdigit()):
        raise ValueError(
            f"Device: {text!r} has an invalid index {index_text!r}; "
            f"expected a non-negative integer as in 'cuda:0'"
        )
    return Device._make("cuda", int(index_text))


CPU = Device("cpu")


def _cuda_status() -> tuple[int, str]:
    """Number of GPUs CuPy sees, and why it is zero when it is."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return 0, f"cupy is not installed or failed to import: {exc}"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:
        return 0, f"cupy sees no CUDA GPU: {exc}"
    if count == 0:
        return 0, "cupy sees no CUDA GPU"
    return count, ""


_cuda_status_cached = functools.lru_cache(maxsize=1)(_cuda_status)


def devices() -> list[Device]:
    """List the devices usable now.

    ``cpu`` is always there; ``cuda:N`` appears for each GPU that CuPy imports
    and sees. Calling this imports CuPy if it is installed.

    Returns
    -------
    list of Device

    Examples
    --------
    >>> devices()[0]
    Device('cpu')
    """
    count, _ = _cuda_status_cached()
    return [CPU] + [Device._make("cuda", i) for i in range(count)]


def parse_device(device: object, op: str) -> Device:
    """``Device(device)``, with ``op`` named in the TypeError or ValueError."""
    try:
        return Device(device)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{op}: {exc}") from None


def require_available(device: object, op: str) -> Device:
    """Parse ``device`` and raise ``RuntimeError`` naming ``op`` unless it can be used now."""
    dev = parse_device(device, op)
    if dev.kind == "cpu" or getattr(dev, "library", "cupy") != "cupy":
        return dev  # a Tensor's device (t.device) of torch or JAX: its library put data there
    if type(device).__module__ == "torch":  # torch's GPUs, which need no CuPy
        count = sys.modules["torch"].cuda.device_count()
        why = f"torch sees {count} CUDA GPU{'' if count == 1 else 's'}"
    else:
        count, why = _cuda_status_cached()
    if dev.index < count:
        return dev
    if count:
        why = f"only {count} CUDA GPU{'s' if count > 1 else ''} visible"
    available = ", ".join(str(d) for d in devices())
    raise RuntimeError(f"{op}: device '{dev}' is not available ({why}); available: {available}")


_DEFAULT: contextvars.ContextVar[Device] = contextvars.ContextVar(
    "xpgrad_default_device", default=CPU
)


def get_default_device() -> Device:
    """The device new tensors go to when none is given (``cpu`` unless set)."""
    return _DEFAULT.get()


@contextlib.contextmanager
def default_device(device: object):
    """Make ``device`` the default for :func:`xpgrad.tensor` inside a ``with`` block.

    The setting lives in a :class:`contextvars.ContextVar`, so threads and
    asyncio tasks each see their own.

    Raises
    ------
    RuntimeError
        If the device is not available.

    Examples
    --------
    >>> with default_device("cpu"):
    ...     get_default_device()
    Device('cpu')
    """
    dev = require_available(device, "default_device")
    if type(device).__module__ == "torch":  # its arrays are torch's, as t.device's are
        dev = ArrayDevice._on(dev, "torch", device)
    token = _DEFAULT.set(dev)
    try:
        yield _DEFAULT.get()
    finally:
        _DEFAULT.reset(token)


def synchronize(device: object = None) -> None:
    """Wait until all queued work on ``device`` (default: the default device) is done.

    A no-op on the CPU. On ``cuda:N`` it waits for CuPy's work on that GPU (not
    for a torch or JAX Tensor's device, ``t.device``, which needs no CuPy), and
    for torch's too once torch has used the GPU.
    """
    dev = get_default_device() if device is None else require_available(device, "synchronize")
    if dev.kind == "cpu":
        return
    if getattr(dev, "library", "cupy") == "cupy" and type(device).__module__ != "torch":
        import cupy

        cupy.cuda.Device(dev.index).synchronize()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():  # else: no work, and no context
        torch.cuda.synchronize(dev.index)
