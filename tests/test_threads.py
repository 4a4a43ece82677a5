"""Grad mode and open Tapes belong to the thread that set them, as in PyTorch.

Each test makes the threads meet at fixed points (``threading.Event`` / ``Barrier``), so what one thread does
while the other sits inside ``no_grad()`` or a ``Tape`` is the same on every run.
"""
import threading

import numpy as np

import tinynet as tn
import tinynet.nn as nn
import tinynet.optim as optim


def run_in_thread(target):
    """Run ``target`` in a new thread and re-raise what it raised, so a failed assert there fails the test."""
    errors = []

    def wrapped():
        try:
            target()
        except BaseException as error:       # noqa: BLE001 - handed to the main thread
            errors.append(error)

    thread = threading.Thread(target=wrapped)
    thread.start()
    return thread, errors


def test_no_grad_in_another_thread_leaves_this_thread_recording():
    inside, done = threading.Event(), threading.Event()

    def evaluate():
        with tn.no_grad():
            inside.set()
            assert done.wait(10)
            assert not tn.is_grad_enabled()     # and this thread's mode is still its own

    thread, errors = run_in_thread(evaluate)
    assert inside.wait(10)
    assert tn.is_grad_enabled()
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    assert loss.requires_grad
    loss.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    done.set()
    thread.join()
    assert not errors, errors


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with tn.no_grad():
        thread, errors = run_in_thread(lambda: seen.append(tn.is_grad_enabled()))
        thread.join()
    assert seen == [True] and not errors


def test_a_tape_lists_only_its_own_threads_entries():
    opened, recorded = threading.Event(), threading.Event()
    x = tn.tensor(np.ones(3), requires_grad=True)

    def other():
        assert opened.wait(10)
        (x.exp() * 2).sum()                     # three entries recorded by the other thread
        recorded.set()

    thread, errors = run_in_thread(other)
    with tn.Tape() as tape:
        opened.set()
        assert recorded.wait(10)
        x.tanh()                                # one entry recorded here
    thread.join()
    assert not errors, errors
    assert [entry.op for entry in tape] == ["tanh"]


def _train(model, data, target, steps=20):
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(data) - target) ** 2).mean()
        loss.backward()
        opt.step()
    return [p.data.copy() for p in model.parameters()]


def _models_and_data(seed):
    tn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    rng = np.random.default_rng(seed)
    return model, rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)


def test_two_models_trained_at_once_in_two_threads_match_training_alone():
    alone = [_train(*_models_and_data(seed)) for seed in (0, 1)]
    setups = [_models_and_data(seed) for seed in (0, 1)]  # built up front: the seed generator is process-wide
    results = [None, None]
    start = threading.Barrier(2)

    def worker(i):
        start.wait(10)
        for _ in range(3):                      # interleave evaluations under no_grad with training
            with tn.no_grad():
                setups[i][0](setups[i][1])
        results[i] = _train(*setups[i])

    runs = [run_in_thread(lambda i=i: worker(i)) for i in (0, 1)]
    for thread, errors in runs:
        thread.join()
        assert not errors, errors
    for got, expected in zip(results, alone):
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_one_no_grad_object_shared_by_threads_and_nested_restores_each_threads_mode():
    shared = tn.no_grad()
    with shared:
        with shared:                                    # the same object, nested
            assert not tn.is_grad_enabled()
        assert not tn.is_grad_enabled()
    assert tn.is_grad_enabled()
    inside, done, seen = threading.Event(), threading.Event(), {}

    def other():
        with shared:
            inside.set()
            assert done.wait(10)
        seen["after"] = tn.is_grad_enabled()

    thread, errors = run_in_thread(other)
    assert inside.wait(10)
    with shared:                                        # entered here while the other thread is inside it
        done.set()
        thread.join()
    assert tn.is_grad_enabled() and seen == {"after": True} and not errors
