"""Half precision: xpgrad (float32 GEMMs on NumPy, rounded once) against the
library's own half-precision matmul ("native") and torch, with the max
normwise relative error against float64 in ``extra_info``."""

import pytest

from xpgrad.bench.impls import max_relative_error, reference_results
from xpgrad.bench.runtime import HALF_DTYPES
from xpgrad.bench.suite import op_spec

#: NumPy's own float16 matmul takes ~0.1 s at 256 and ~1 s at 512 on 2 cores.
NATIVE_MAX = 256
SIZES = (64, 256)


@pytest.mark.dtypes(HALF_DTYPES)
@pytest.mark.parametrize("impl", ("functional", "ideal", "native", "torch"))
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", ("matmul", "linear"))
def test_half(bench, benchmark, op, n, impl, dtype, device):
    if impl == "native" and n > NATIVE_MAX and device == "cpu":
        pytest.skip(f"numpy's own {dtype} matmul takes seconds above {NATIVE_MAX}")
    spec = op_spec(op, (n, n, n), kind="half", dtype=dtype, device=device)
    built, inputs, rt = bench(spec, impl)
    if impl != "torch":
        with rt.scope():
            results = built.results()
        reference = reference_results(spec, rt, inputs)
        benchmark.extra_info["max_rel_error"] = max_relative_error(results, reference)
