"""array_api_strict's quirk: it computes with NumPy underneath, so float16
matrix products are as slow as NumPy's. Its extra devices are all host
memory, which the generic ``device_of`` says already.
"""

from __future__ import annotations

from . import Library


class Strict(Library):
    name = "array_api_strict"
    views = True
    element_copies = True
    half_gemm = False

    def shares_memory(self, a, b):
        import numpy as np

        return np.may_share_memory(a._array, b._array)  # its NumPy arrays underneath

    def numpy_scalar(self, xp, v, like):
        return None  # strict refuses them: so does xpgrad, with its own error

    def assign(self, xp, z, key, value):
        # a boolean mask in a 1-tuple goes through NumPy in its __setitem__,
        # which an array on another of its devices refuses; the mask alone does not
        if type(key) is tuple and len(key) == 1:
            key = key[0]
        z[key] = value
        return z
