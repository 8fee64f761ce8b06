"""xpgrad.no_grad as a decorator: each call runs without recording a graph,
and the setting comes back after it, also after an exception."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import xpgrad


@xpgrad.no_grad()
def _double(t):
    """Twice t."""
    assert not xpgrad.is_grad_enabled()
    return t * 2.0


def test_a_decorated_function_records_no_graph():
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = _double(w)
    assert not y.requires_grad
    np.testing.assert_array_equal(y.data, [2.0, 4.0])
    assert xpgrad.is_grad_enabled()  # restored after the call
    assert (w * 2.0).requires_grad
    assert _double.__name__ == "_double" and _double.__doc__ == "Twice t."


def test_the_setting_comes_back_after_an_exception_and_in_nested_use():
    guard = xpgrad.no_grad()

    @guard
    def fails():
        raise KeyError("inside")

    @guard
    def nested(n):
        assert not xpgrad.is_grad_enabled()
        return 0 if n == 0 else 1 + nested(n - 1)

    with pytest.raises(KeyError, match="inside"):
        fails()
    assert xpgrad.is_grad_enabled()
    assert nested(3) == 3  # one instance, entered several times at once
    assert xpgrad.is_grad_enabled()
    with xpgrad.no_grad():
        assert nested(1) == 1
        assert not xpgrad.is_grad_enabled()  # the outer block still holds
    assert xpgrad.is_grad_enabled()


def test_a_training_step_as_a_decorated_function():
    w = xpgrad.tensor([1.0, -2.0], requires_grad=True)

    @xpgrad.no_grad()
    def sgd_step(lr):
        w.data = w.data - lr * w.grad

    (w * w).sum().backward()
    sgd_step(0.25)
    np.testing.assert_array_equal(w.data, [0.5, -1.0])
    assert w.is_leaf and w.requires_grad


def test_each_thread_sees_its_own_setting():
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    @xpgrad.no_grad()
    def hold():
        inside.set()
        outside.wait(5)
        seen["inside"] = xpgrad.is_grad_enabled()

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(5)
    seen["other thread"] = xpgrad.is_grad_enabled()
    outside.set()
    t.join(5)
    assert seen == {"inside": False, "other thread": True}


def test_refuses_what_it_cannot_wrap():
    def gen():
        yield 1

    async def coro():
        return 1

    for fn in (gen, coro):
        with pytest.raises(TypeError, match=rf"no_grad\(\): cannot decorate .*{fn.__name__}: its body runs after"):
            xpgrad.no_grad()(fn)
    with pytest.raises(TypeError, match=r"no_grad\(\): as a decorator it takes a function; got int"):
        xpgrad.no_grad()(3)
