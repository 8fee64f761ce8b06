"""The autograd round trip at dispatch-bound sizes: ``(a @ b).sum().backward()``
through the Tensor and through the functional rules, against torch autograd
on the same work and the hand-written NumPy (three matmuls and a sum)."""

import pytest

from xpgrad.bench.suite import DISPATCH_SHAPES, op_spec


@pytest.mark.dtypes(("float32", "float64"))
@pytest.mark.parametrize("impl", ("tensor", "functional", "ideal", "torch"))
@pytest.mark.parametrize("mkn_tiny", DISPATCH_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_sum_backward(bench, impl, mkn_tiny, dtype, device):
    api = "tensor" if impl == "tensor" else "functional"
    bench(op_spec("matmul", mkn_tiny, kind="chain", api=api, dtype=dtype, device=device), impl)
