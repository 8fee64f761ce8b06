"""torch's quirks: its own devices and ``Tensor.to`` (a torch tensor stays a
torch tensor on every device), the detach/conj/neg/bfloat16 steps before
``Tensor.numpy``, ``Tensor.index_add_``, and no negative slice steps.

torch is imported by the caller, never here: these methods only run on torch
tensors.
"""

from __future__ import annotations

import sys

from .._device import CPU, Device
from . import Library, in_bounds


_UINT8 = ("uint8", "torch.uint8")


class Torch(Library):
    name = "torch"
    views = True
    negative_slice_steps = False  # x[::-1] raises: the indexing rules flip instead

    def numpy_scalar(self, xp, v, like):
        return v.item()  # torch reads NumPy's scalars as Python numbers

    def assign(self, xp, z, key, value):
        # torch's index_put (an integer array or mask in the key) refuses a value
        # of another dtype, where slices and NumPy cast it to z's
        if getattr(value, "dtype", z.dtype) != z.dtype:
            value = value.to(z.dtype)
        z[key] = value
        return z

    def writes_in_order(self, x) -> bool:
        return x.device.type == "cpu"  # index_put_ on a GPU: "undefined" for repeats

    def take(self, xp, x, indices, axis):
        # index_select takes int32 and int64 indices only; the standard, any integers
        torch = sys.modules["torch"]
        if indices.dtype not in (torch.int32, torch.int64):
            indices = indices.to(torch.int64)
        return xp.take(x, indices, axis=axis)

    def take_along_axis(self, xp, x, indices, axis=-1):
        # take_along_dim takes int64 only, and wraps an index out of range round the axis
        # (3 on an axis of 3 read 0, whose gradient went elsewhere): NumPy's IndexError
        torch = sys.modules["torch"]
        if indices.dtype != torch.int64:
            indices = indices.to(torch.int64)
        if indices.numel():
            low, high = torch.stack(torch.aminmax(indices)).tolist()  # one read of the device
            in_bounds(indices, x.numel() if axis is None else x.shape[axis], axis, low, high)
        return super().take_along_axis(xp, x, indices, axis=axis)

    def index_key(self, key):
        # torch reads a uint8 array as a mask (its old byte masks), the standard
        # and NumPy as integers: t[uint8 [1, 0, 2]] gave two elements of three
        uint8 = [str(getattr(k, "dtype", "")) in _UINT8 for k in key]
        if True not in uint8:
            return key
        torch = sys.modules["torch"]
        return tuple([(k.astype("int64") if hasattr(k, "astype") else k.to(torch.int64))
                      if u else k for k, u in zip(key, uint8)])

    def shares_memory(self, a, b):
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()

    def beside_complex(self, xp, a, b):
        # complex32 has no name in the standard, and few of torch's functions
        # take it; float16 widens to float32 exactly, and then gives complex64.
        torch = sys.modules["torch"]
        if getattr(a, "dtype", None) == torch.float16:
            return a.to(torch.float32), b
        if getattr(b, "dtype", None) == torch.float16:
            return a, b.to(torch.float32)
        return a, b

    def complex(self, xp, re, im, dtype):
        torch = sys.modules["torch"]
        part = {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype)
        if part is None:  # complex32: torch.complex makes none
            return super().complex(xp, re, im, dtype)
        return torch.complex(re.to(part), im.to(part))

    def device_of(self, x) -> Device:
        dev = x.device
        if dev.type == "cuda":
            return Device._make("cuda", 0 if dev.index is None else dev.index)
        if dev.type == "cpu":
            return CPU
        raise ValueError(f"device_of: torch device '{dev}' is not supported by xpgrad")

    def promote(self, xp, a, b):
        # torch lets a 0-d tensor's dtype yield to the other operand's (float32
        # + 0-d float64 is float32); the standard promotes arrays of any rank.
        if a.ndim and b.ndim:
            return a, b
        dt = xp.result_type(a.dtype, b.dtype)
        return (a if a.dtype == dt else a.to(dt)), (b if b.dtype == dt else b.to(dt))

    def to_numpy(self, x):
        x = x.detach().cpu().resolve_conj().resolve_neg()
        if str(x.dtype) == "torch.bfloat16":  # NumPy has no bfloat16: widen, exactly
            x = x.float()
        return x.numpy()

    def to_device(self, x, dev: Device):
        torch = sys.modules["torch"]
        if dev.kind == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if dev.index >= count:
                why = f"only {count} CUDA GPU(s) visible to torch" if count else "torch sees no CUDA GPU"
                available = ", ".join(["cpu"] + [f"cuda:{i}" for i in range(count)])
                raise RuntimeError(
                    f"to_device: device '{dev}' is not available ({why}); available: {available}"
                )
        return x.to(str(dev))

    def host_like(self, like):
        return like.new_empty((0,), device="cpu")

    def scatter_add(self, xp, n, index, values, like):
        return xp.zeros(n, dtype=values.dtype, device=like.device).index_add_(0, index, values)
