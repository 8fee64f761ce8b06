"""JAX's quirks: immutable arrays, written through ``.at[key].set`` and
summed into through ``.at[index].add``; GPU devices named by platform; arrays
traced by ``jax.jit``, which have no device; and its namespace, ``jax.numpy``.

JAX is imported only by :meth:`Jax.empty`; the other methods run on JAX
arrays and need no import.
"""

from __future__ import annotations

from .._device import CPU, Device
from . import Library, rank_from_singular_values


class Jax(Library):
    name = "jax"
    gather_fills = True  # take(x, [too_big]) reads NaN rather than raising

    def empty(self):
        import jax.numpy as jnp

        return jnp.empty(0)

    def index_dtype(self, xp):
        # int32 without x64, where JAX makes no int64 (and warns when asked)
        import jax

        return xp.int64 if jax.config.jax_enable_x64 else xp.int32

    def default_dtype(self, name: str) -> str:
        # JAX without x64 makes no 64-bit dtypes, and warns when one is asked for
        import jax

        if jax.config.jax_enable_x64:
            return name
        return {"float64": "float32", "int64": "int32", "complex128": "complex64"}.get(name, name)

    def device_of(self, x) -> Device:
        dev = getattr(x, "device", None)  # None for an array traced by jax.jit
        if getattr(dev, "platform", "cpu") in ("gpu", "cuda"):
            return Device._make("cuda", dev.id)
        return CPU

    def complex(self, xp, re, im, dtype):
        import jax

        return jax.lax.complex(re, im).astype(dtype)

    def linalg_function(self, xp, name: str):
        if name == "matrix_rank":  # JAX's compares S with rtol itself, not rtol * max(S)
            return lambda x, rtol=None: rank_from_singular_values(
                xp, xp.linalg.svdvals(x), x.shape, rtol)
        return super().linalg_function(xp, name)

    def scatter_add(self, xp, n, index, values, like):
        return xp.zeros(n, dtype=values.dtype).at[index].add(values)

    def assign(self, xp, z, key, value):
        return z.at[key].set(value)

    def set_copy(self, xp, a, key, value):
        return a.at[key].set(value)  # a new array already
