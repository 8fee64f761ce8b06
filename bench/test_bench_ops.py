"""Each op's forward, backward and forward+backward, through xpgrad's
functional rules and its Tensor, next to the hand-written ideal and torch.

One pytest-benchmark group per computation (op, phase, shapes, dtype,
device); its members are the implementations.
"""

import pytest

from xpgrad.bench.problems import OPS, PHASES
from xpgrad.bench.suite import op_spec

IMPLS = ("functional", "tensor", "ideal", "torch")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("op", OPS)
def test_op(bench, op, phase, impl, mkn, dtype, device):
    api = "tensor" if impl == "tensor" else "functional"
    bench(op_spec(op, mkn, phase=phase, api=api, dtype=dtype, device=device), impl)
