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
