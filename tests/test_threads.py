"""Thread safety of the Tensor API: each thread's graph and grad mode are its own.

Several threads train their own linear regression at once while some of them
evaluate inside ONE shared ``no_grad()`` instance. Barriers force the
overlap: every evaluation happens while the other threads are in the middle
of a training step, and the evaluators are inside the shared ``no_grad``
together. A grad mode kept in a global, or a previous mode kept on the
``no_grad`` object, would switch off the training threads' graphs (their
``loss`` would not require grad) or leave grad mode off after the block.
The weights must come out bit for bit as in a single-threaded run.
"""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import xpgrad

N_THREADS = 4
EVALUATORS = (0, 1)  # these threads evaluate, together, inside the shared no_grad
STEPS = 20
EVAL_EVERY = 4
LR = 0.1
TIMEOUT = 20  # seconds a wait may take before the test fails instead of hanging


def _data(i: int):
    """Thread ``i``'s regression problem: y = x @ w_true.T + b_true + noise."""
    rng = np.random.default_rng(1000 + i)
    x = rng.standard_normal((32, 3))
    w_true = rng.standard_normal((1, 3))
    y = x @ w_true.T + 0.5 * i + 0.01 * rng.standard_normal((32, 1))
    return x, y


class _Model:
    """w (1, 3) and b (1,); even threads use xpgrad.linear, odd ones ``@``."""

    def __init__(self, i: int) -> None:
        self.use_linear = i % 2 == 0
        self.w = xpgrad.tensor(np.zeros((1, 3)), requires_grad=True)
        self.b = xpgrad.tensor(np.zeros(1), requires_grad=True)

    def __call__(self, x):
        if self.use_linear:
            return xpgrad.linear(x, self.w, self.b)
        return x @ self.w.T + self.b


def _train_step(model: _Model, x, y) -> None:
    assert xpgrad.is_grad_enabled(), "grad mode is off in a thread that never entered no_grad"
    diff = model(x) - y
    loss = (diff * diff).mean()
    assert loss.requires_grad, "a training thread recorded no graph"
    loss.backward()
    for p in (model.w, model.b):
        p.data = p.data - LR * p.grad
        p.grad = None


def _evaluate(model: _Model, x, x_host) -> None:
    assert not xpgrad.is_grad_enabled()
    pred = model(x)
    assert pred.requires_grad is False
    assert pred.is_leaf
    expected = x_host @ model.w.data.T + model.b.data
    np.testing.assert_allclose(pred.numpy(), expected, rtol=1e-12, atol=1e-12)


def _train_alone(i: int):
    x_host, y_host = _data(i)
    x, y = xpgrad.tensor(x_host), xpgrad.tensor(y_host)
    model = _Model(i)
    for _ in range(STEPS):
        _train_step(model, x, y)
    return model.w.data.copy(), model.b.data.copy()


def _run_threads(n: int, target, *, meanwhile=None) -> None:
    """Run ``target(i, barrier)`` in ``n`` threads, and ``meanwhile()`` in the
    calling thread while they run; re-raise the first error any of them hit."""
    barrier = threading.Barrier(n, timeout=TIMEOUT)
    errors: list = [None] * n

    def run(i):
        try:
            target(i, barrier)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors[i] = exc
            barrier.abort()  # the others fail fast instead of waiting out the timeout

    threads = [threading.Thread(target=run, args=(i,), name=f"xpgrad-{i}") for i in range(n)]
    for t in threads:
        t.start()
    try:
        if meanwhile is not None:
            meanwhile()
    finally:
        for t in threads:
            t.join(TIMEOUT * 2)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    # A BrokenBarrierError is the echo of another thread's error: report the cause.
    real = [e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)]
    if real:
        raise real[0]
    assert not any(errors), errors


def test_threads_train_independently_while_others_evaluate_in_shared_no_grad():
    shared = xpgrad.no_grad()  # ONE instance, entered by several threads at once
    results: dict = {}
    evaluations = [0] * N_THREADS

    def work(i, barrier):
        x_host, y_host = _data(i)
        x, y = xpgrad.tensor(x_host), xpgrad.tensor(y_host)
        model = _Model(i)
        barrier.wait()
        for step in range(STEPS):
            if i in EVALUATORS and step % EVAL_EVERY == 0:
                with shared:
                    barrier.wait()  # every evaluator is inside; the others start a step
                    _evaluate(model, x, x_host)
                    evaluations[i] += 1
                    barrier.wait()  # the others' step ran while we were inside
                assert xpgrad.is_grad_enabled(), "grad mode stayed off after the shared no_grad"
                _train_step(model, x, y)
            else:
                barrier.wait()
                _train_step(model, x, y)
                barrier.wait()
        results[i] = (model.w.data.copy(), model.b.data.copy())

    _run_threads(N_THREADS, work)

    assert evaluations == [STEPS // EVAL_EVERY if i in EVALUATORS else 0 for i in range(N_THREADS)]
    assert xpgrad.is_grad_enabled()  # the main thread never saw grad mode switch
    for i in range(N_THREADS):
        w_ref, b_ref = _train_alone(i)
        np.testing.assert_array_equal(results[i][0], w_ref, err_msg=f"thread {i}: w")
        np.testing.assert_array_equal(results[i][1], b_ref, err_msg=f"thread {i}: b")
    # The runs did train: the thread-dependent bias 0.5 * i is being learned.
    b_final = [results[i][1][0] for i in range(N_THREADS)]
    assert b_final == sorted(b_final) and b_final[-1] > b_final[0]


def test_one_no_grad_object_entered_from_two_threads_at_once():
    """Thread B is inside an outer no_grad when it enters the shared one, then
    thread A enters it too, then B leaves first. A no_grad that kept the mode
    to restore on itself would hand B A's "enabled" on exit, switching grad
    mode on inside B's outer block; a global mode would show in A and in the
    main thread."""
    shared = xpgrad.no_grad()
    seen: dict = {}
    b_inside = threading.Event()
    a_inside = threading.Event()
    b_left_shared = threading.Event()
    a_left = threading.Event()
    main_checked = threading.Event()

    def wait(event):
        assert event.wait(TIMEOUT), "the other thread did not get there"

    def thread_a(i, barrier):
        wait(b_inside)
        with shared:
            seen["A inside"] = xpgrad.is_grad_enabled()
            a_inside.set()
            barrier.wait()  # both threads inside `shared` at once
            wait(main_checked)
            wait(b_left_shared)
            seen["A inside after B left"] = xpgrad.is_grad_enabled()
        seen["A after"] = xpgrad.is_grad_enabled()
        a_left.set()

    def thread_b(i, barrier):
        with xpgrad.no_grad():
            with shared:
                seen["B inside"] = xpgrad.is_grad_enabled()
                b_inside.set()
                wait(a_inside)
                barrier.wait()
                wait(main_checked)
            seen["B in outer after leaving shared"] = xpgrad.is_grad_enabled()
            b_left_shared.set()
            wait(a_left)
            seen["B in outer after A left"] = xpgrad.is_grad_enabled()
        seen["B after"] = xpgrad.is_grad_enabled()

    def main_check():  # in the main thread, while A and B are both inside `shared`
        wait(a_inside)
        seen["main while both inside"] = xpgrad.is_grad_enabled()
        main_checked.set()

    _run_threads(2, lambda i, barrier: (thread_a, thread_b)[i](i, barrier), meanwhile=main_check)
    assert seen == {
        "A inside": False,
        "B inside": False,
        "main while both inside": True,
        "A inside after B left": False,
        "B in outer after leaving shared": False,
        "A after": True,
        "B in outer after A left": False,
        "B after": True,
    }
    assert xpgrad.is_grad_enabled()


def test_no_grad_object_nested_in_one_thread_and_reused():
    shared = xpgrad.no_grad()
    with shared:
        with shared:
            assert not xpgrad.is_grad_enabled()
        assert not xpgrad.is_grad_enabled()  # the outer block is still active
    assert xpgrad.is_grad_enabled()
    with shared:  # usable again afterwards
        assert not xpgrad.is_grad_enabled()
    assert xpgrad.is_grad_enabled()


def test_backwards_in_threads_that_share_a_leaf_each_add_their_part():
    # .grad = .grad + g read and wrote without a lock, and NumPy's add lets the
    # other threads run in between: 38 to 44 of 80 in every trial
    w = xpgrad.tensor(np.ones(200_000), requires_grad=True)
    start = threading.Barrier(4)

    def work():
        start.wait()
        for _ in range(10):
            (w * 2.0).sum().backward()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(w.grad[:3], [80.0, 80.0, 80.0])


class _ReleasesWhileWalked:
    """neg, whose backward first runs another backward through the same graph:
    what a second thread's backward does to the first's, made deterministic."""

    other = None

    @staticmethod
    def forward(x):
        return xpgrad.ops.neg.forward(x)

    @staticmethod
    def backward(g, ctx):
        _ReleasesWhileWalked.other.backward()  # releases exp's node under the outer walk
        return xpgrad.ops.neg.backward(g, ctx)


def test_a_graph_released_by_another_backward_during_this_one_raises_the_released_error():
    # two threads' backward() on one graph: the node the first had still to
    # reach was released under it, and its rule read the released state,
    # AttributeError: '_Released' object has no attribute 'out'
    xa = xpgrad.array_api
    for walk in ("backward", "autograd.grad"):
        w = xpgrad.tensor(np.array([0.5, 1.0]), requires_grad=True)
        y = xa.exp(w)
        _ReleasesWhileWalked.other = xa.sum(y)
        out = xa.sum(xpgrad.apply(_ReleasesWhileWalked, (y,)))
        name = walk
        with pytest.raises(RuntimeError, match=rf"^{re.escape(name)}: the graph through this tensor was released"):
            out.backward() if walk == "backward" else xpgrad.autograd.grad(out, w)


def test_two_threads_writing_through_views_of_one_array_lose_no_write():
    # a write copies the root and rebinds it: two threads interleaving their
    # read-modify-write lost one another's rows (NumPy's own views lose none)
    import sys

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a loaded host does
    try:
        for _ in range(5):
            root = xpgrad.tensor(np.zeros((2, 1000)))
            rows = (root[0], root[1])

            def write(k):
                for i in range(1000):
                    rows[k][i] = k + 1.0

            threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            np.testing.assert_array_equal(root.data, [[1.0] * 1000, [2.0] * 1000])
    finally:
        sys.setswitchinterval(interval)


def test_a_walk_writes_no_gradient_over_what_it_saved_while_another_walk_runs():
    # exp's last backward writes its gradient over its saved output (no new
    # array). Two losses of one exp, walked in two threads at once: the other
    # walk read that output after it was overwritten (a.grad = 2 e^x x where it
    # is e^x x + e^x). While another walk runs, the output is left as it is.
    import sys

    walks = sys.modules["xpgrad.ops._common"].WALKS
    xp = xpgrad.array_api
    for others, written_over in ((0, True), (1, False)):
        a = xpgrad.tensor(np.linspace(-1.0, 1.0, 5), requires_grad=True)
        h = xp.exp(a)
        where = h._node.saved.out.ctypes.data  # the address, not a reference
        loss = xp.sum(h)
        del h
        if others:
            walks.add("another")  # another thread's walk, running
        try:
            loss.backward()
        finally:
            walks.discard("another")
        assert (a.grad.ctypes.data == where) is written_over
        np.testing.assert_allclose(a.grad, np.exp(np.linspace(-1.0, 1.0, 5)))
