"""xpgrad.testing itself: gradcheck must catch wrong rules, assert_close must
catch different values, and rel_error must compute what it says."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import xpgrad
from xpgrad import ops
from xpgrad.testing import assert_close, gradcheck, rel_error

from tests.support import host


def _unary_rule(forward, backward):
    """A fake one-input rule: ``out = forward(x)``, and its backward claims
    ``backward(g)`` is the gradient."""
    return SimpleNamespace(forward=lambda x: (forward(x), None), backward=lambda g, ctx: (backward(g),))


RIGHT_SCALE = _unary_rule(lambda x: x * 2.0, lambda g: g * 2.0)
WRONG_SCALE = _unary_rule(lambda x: x * 2.0, lambda g: g * 3.0)  # out = 2 x, but claims 3 g
WRONG_SHAPE = _unary_rule(lambda x: x * 1.0, lambda g: g.sum(axis=0))
WRONG_DTYPE = _unary_rule(lambda x: x * 1.0, lambda g: g.astype(np.float32))
NO_GRAD = _unary_rule(lambda x: x * 1.0, lambda g: None)


class WrongAtOneElement:
    """out = a * b; the gradient of b is off at element (1, 2) only."""

    @staticmethod
    def forward(a, b):
        return a * b, (a, b)

    @staticmethod
    def backward(g, ctx):
        a, b = ctx
        gb = np.array(g * a)
        gb[1, 2] += 0.5
        return g * b, gb


def test_gradcheck_passes_a_correct_fake_rule(rng):
    assert gradcheck(RIGHT_SCALE, rng.standard_normal((2, 3))) is True


def test_gradcheck_fails_on_wrong_rule_naming_input_and_element(rng):
    with pytest.raises(AssertionError) as info:
        gradcheck(WRONG_SCALE, rng.standard_normal((2, 3)))
    msg = str(info.value)
    assert "input 0" in msg and "element (0, 0)" in msg, msg


def test_gradcheck_finds_the_one_wrong_element(rng):
    a, b = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    with pytest.raises(AssertionError) as info:
        gradcheck(WrongAtOneElement, a, b)
    msg = str(info.value)
    assert "input 1" in msg and "element (1, 2)" in msg, msg


def test_gradcheck_fails_on_wrong_gradient_shape(rng):
    with pytest.raises(AssertionError, match=r"input 0.*shape"):
        gradcheck(WRONG_SHAPE, rng.standard_normal((2, 3)))


def test_gradcheck_fails_on_wrong_gradient_dtype(rng):
    with pytest.raises(AssertionError, match=r"input 0.*float32"):
        gradcheck(WRONG_DTYPE, rng.standard_normal((2, 3)))


def test_gradcheck_fails_on_missing_gradient(rng):
    with pytest.raises(AssertionError, match="no gradient.*input 0"):
        gradcheck(NO_GRAD, rng.standard_normal(3))


class FailsInItsBackward:
    @staticmethod
    def forward(x):
        return x * 1.0, None

    @staticmethod
    def backward(g, ctx):
        raise np.linalg.LinAlgError("Singular matrix")


def test_gradcheck_says_an_error_came_from_the_rule_backward(rng):
    # it reached the caller with nothing naming the rule; the type stays
    with pytest.raises(np.linalg.LinAlgError, match="^Singular matrix") as info:
        gradcheck(FailsInItsBackward, rng.standard_normal(3))
    assert info.value.__notes__ == [
        "FailsInItsBackward.backward: raised in the gradient of FailsInItsBackward"
    ]


def test_gradcheck_on_tensor_functions(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    assert gradcheck(lambda x, y: (x @ y) * 2.0 - y.sum(), a, b)
    # A function whose graph misses a path (detach) must fail the check.
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(lambda x: x.detach() * 2.0 + x, rng.standard_normal(3))


def test_gradcheck_casts_float32_to_float64(rng):
    a = rng.standard_normal((3, 2)).astype(np.float32)
    assert gradcheck(ops.matmul, a, rng.standard_normal((2, 2)).astype(np.float32))


def test_gradcheck_with_kwargs(rng):
    assert gradcheck(ops.sum, rng.standard_normal((2, 3, 4)), kwargs={"axis": (0, 2), "keepdims": True})
    assert gradcheck(ops.add_bias, rng.standard_normal((2, 3, 4)), rng.standard_normal(4),
                     kwargs={"axis": -1})


def test_gradcheck_rejects_complex():
    with pytest.raises(TypeError, match="complex"):
        gradcheck(RIGHT_SCALE, np.ones(2, dtype=np.complex128))


def test_gradcheck_on_each_backend(backend, rng):
    a = backend.asarray(rng.standard_normal((2, 3)))
    b = backend.asarray(rng.standard_normal((3,)))
    assert gradcheck(ops.matmul, a, b)
    w = backend.asarray(rng.standard_normal((4, 3)))
    assert gradcheck(lambda x, y: (xpgrad.linear(x, y) ** 2).mean(), a, w)
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(lambda x: x.detach() * 2.0 + x, a)


# -- assert_close ------------------------------------------------------------


def test_assert_close_fails_on_different_values():
    with pytest.raises(AssertionError) as info:
        assert_close(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.0]))
    msg = str(info.value)
    assert "1 of 3" in msg and "(1,)" in msg, msg


def test_assert_close_passes_equal_and_nan():
    assert_close(np.array([1.0, np.nan, np.inf]), np.array([1.0, np.nan, np.inf]))
    assert_close(np.float64(2.0), 2.0)


@pytest.mark.parametrize(
    "actual, expected",
    [([np.nan], [1.0]), ([1.0], [np.nan]), ([np.inf], [-np.inf]), ([np.inf], [1e300])],
    ids=["nan-vs-number", "number-vs-nan", "inf-signs", "inf-vs-big"],
)
def test_assert_close_fails_on_nan_inf_mismatch(actual, expected):
    with pytest.raises(AssertionError):
        assert_close(np.array(actual), np.array(expected))


def test_assert_close_shapes_must_match():
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.ones(3), np.ones((3, 1)))
    assert_close(np.ones((0, 2)), np.ones((0, 2)))


def test_assert_close_default_tolerance_follows_dtype():
    assert_close(np.float32([1.0]), np.float32([1.0 + 2e-6]))  # within float32's 1e-5
    with pytest.raises(AssertionError):
        assert_close(np.float64([1.0]), np.float64([1.0 + 2e-6]))
    with pytest.raises(AssertionError):
        assert_close(np.array([1, 2]), np.array([1, 3]))  # integers: exact
    assert_close(np.float16([1.0]), np.float64([1.004]))  # float16: rtol 1e-2
    assert_close(np.float64([1.0]), np.float64([1.1]), rtol=0.2)
    with pytest.raises(AssertionError):
        assert_close(np.float64([1.0]), np.float64([1.1]), rtol=0.01, atol=0.0)


def test_assert_close_across_backends(backend):
    x = backend.asarray(np.array([1.0, 2.0]))
    assert_close(x, np.array([1.0, 2.0]))
    assert_close(xpgrad.tensor(x), x)
    with pytest.raises(AssertionError):
        assert_close(x, np.array([1.0, 2.1]))


# -- rel_error -----------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([3.0, 4.0], [3.0, 4.0], 0.0),
        ([0.0, 0.0], [3.0, 4.0], 1.0),  # ||b|| / ||b||
        ([1.0, 1.0], [0.0, 2.0], math.sqrt(2) / 2),
        ([3.0, 9.0], [3.0, 4.0], 1.0),  # ||(0, 5)|| / 5
        ([0.0], [0.0], 0.0),
        ([1.0], [0.0], math.inf),
    ],
    ids=["equal", "zero-a", "sqrt2", "3-4-5", "both-zero", "zero-b"],
)
def test_rel_error_values(a, b, expected):
    assert rel_error(np.array(a), np.array(b)) == pytest.approx(expected, rel=1e-15)


def test_rel_error_mixed_dtypes_and_backends(backend):
    a = backend.asarray(np.array([1.0, 2.0]), "float32")
    assert rel_error(a, np.array([1.0, 2.0])) == 0.0
    assert rel_error(host(a) * 1.1, np.array([1.0, 2.0])) == pytest.approx(0.1, rel=1e-6)


def test_rel_error_at_extreme_magnitudes_and_assert_close_on_large_integers():
    # the norms underflowed to 0 (0.0) or overflowed (nan); integers went through float64
    want = math.sqrt(1 / 5)  # ||[1, 0]|| / ||[2, 1]||
    assert rel_error(np.array([1e-200, 1e-200]), np.array([2e-200, 1e-200])) == pytest.approx(want)
    assert rel_error(np.array([1e200, 1e200]), np.array([2e200, 1e200])) == pytest.approx(want)
    with pytest.raises(AssertionError, match="1 of 1 integers differ"):
        assert_close(np.array([2**53 + 1]), np.array([2**53]))
    with pytest.raises(AssertionError, match="integers differ"):
        assert_close(np.array([2**63 + 1], np.uint64), np.array([2**63], np.uint64))
    assert_close(np.array([2**53 + 1]), np.array([2**53 + 1]))


def test_assert_close_reads_integer_tolerances_exactly():
    # with an atol, integers went through float64, where 2**53 + 1 is 2**53
    with pytest.raises(AssertionError, match="integers differ"):
        assert_close(np.array([2**53 + 1]), np.array([2**53]), atol=0.5)
    assert_close(np.array([2**53 + 1]), np.array([2**53]), atol=1)


def test_gradcheck_differences_each_output_before_the_sum():
    # sum(out * G) of exp at [30, 1, -0.5] rounded the change of the small outputs
    # away: a correct rule failed, and one that gave them 0 passed
    @xpgrad.custom_vjp
    def wrong_exp(x):
        return xpgrad.array_api.exp(x)

    xp = xpgrad.array_api
    wrong_exp.defvjp(lambda x: (xp.exp(x), x),
                     lambda x, g: (xp.where(x > 10.0, g * xp.exp(x), 0.0 * g),))
    x = np.array([30.0, 1.0, -0.5])
    assert gradcheck(ops.exp, x)
    with pytest.raises(AssertionError, match=r"element \(1,\)"):
        gradcheck(wrong_exp, x)


def test_gradcheck_checks_both_parts_of_a_complex_output():
    # G was real, so only the real part of a real-to-complex function was checked
    xp = xpgrad.array_api

    @xpgrad.custom_vjp
    def rot(x):
        return x * (1 + 2j)

    rot.defvjp(lambda x: (x * (1 + 2j), None), lambda r, g: (xp.real(g * (1 - 7j)),))
    x = np.array([0.5, -1.0, 2.0])
    assert gradcheck(lambda t: t * (1 + 2j), x)
    with pytest.raises(AssertionError, match=r"^gradcheck: input 0"):
        gradcheck(rot, x)


def test_gradcheck_at_large_values_and_with_an_unused_input():
    # a step of 1e-6 at x ~ 1.5e6 lost digits to rounding (a false failure); an input
    # the output does not use has gradient 0, not a failure
    assert gradcheck(lambda a: a * a, np.array([1.55e6, -3.0e7]))
    assert gradcheck(lambda a, b: a * 2.0, np.array([1.0, 2.0]), np.array([3.0]))


def test_rel_error_refuses_two_shapes():
    with pytest.raises(ValueError, match=r"^rel_error: a has shape \(\), b has shape \(3,\)"):
        rel_error(np.array(2.0), np.array([2.0, 2.0, 2.0]))
