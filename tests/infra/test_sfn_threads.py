"""sfn-pooled-threads-*: moto's Step Functions interpreter starts a thread for every execution, program, Parallel
branch and task state; the local cloud runs them on kept threads (infra/moto_patches.py _Workers). What moto's
interpreter asks of a thread holds: each started one runs at once (one may wait on another started after it), join
waits up to its timeout, is_alive says whether it still runs, an exception goes to threading.excepthook with the
thread, and each runs in a fresh context, as a new thread does."""
from __future__ import annotations

import contextvars
import json
import threading
import time

from infra import account, moto_patches
from infra.moto_patches import _PooledThread, _Workers


def _idle_worker() -> None:
    """Wait until a worker that ran a thread is back among the idle ones (it goes back after the thread's end is
    signalled), so that the next start reuses it."""
    deadline = time.monotonic() + 5
    while not moto_patches._workers._idle and time.monotonic() < deadline:
        time.sleep(0.005)
    assert moto_patches._workers._idle, "no idle worker"


def test_each_started_thread_runs_at_once_even_when_it_waits_for_a_later_one():
    later_ran = threading.Event()
    order: list[str] = []

    def first():
        assert later_ran.wait(5), "the later thread never ran: a worker waited for a free one"
        order.append("first")

    def later():
        later_ran.set()
        order.append("later")

    threads = [_PooledThread(target=first, daemon=True), _PooledThread(target=later, daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert order == ["later", "first"]
    assert not any(thread.is_alive() for thread in threads)


def test_a_finished_thread_is_run_again_on_a_kept_worker():
    ids = []

    def note():
        ids.append(threading.get_native_id())

    for _ in range(3):
        thread = _PooledThread(target=note, daemon=True)
        thread.start()
        thread.join(5)
        _idle_worker()
    assert len(ids) == 3 and len(set(ids)) < 3, ids


def test_join_waits_up_to_its_timeout_and_is_alive_follows_the_target():
    release = threading.Event()
    thread = _PooledThread(target=release.wait, args=(5,), daemon=True)
    assert not thread.is_alive()
    thread.start()
    began = time.monotonic()
    thread.join(timeout=0.1)
    assert 0.09 <= time.monotonic() - began < 2 and thread.is_alive()
    release.set()
    thread.join(5)
    assert not thread.is_alive() and thread.native_id is not None


def test_an_exception_goes_to_threading_excepthook_with_its_thread(monkeypatch):
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append((args.exc_type, str(args.exc_value),
                                                                           args.thread)))

    def fail():
        raise ValueError("in the worker")

    thread = _PooledThread(target=fail, daemon=True)
    thread.start()
    thread.join(5)
    assert seen == [(ValueError, "in the worker", thread)]
    survivor = _PooledThread(target=lambda: seen.append("next ran"), daemon=True)  # the worker survived it
    survivor.start()
    survivor.join(5)
    assert seen[-1] == "next ran"


def test_each_thread_runs_in_a_fresh_context():
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("the starter's")
    seen, ids = [], []

    def look_and_set():
        seen.append(var.get())
        ids.append(threading.get_native_id())
        var.set("left behind")

    for _ in range(3):
        thread = _PooledThread(target=look_and_set, daemon=True)
        thread.start()
        thread.join(5)
        _idle_worker()
    assert seen == ["unset"] * 3
    assert len(set(ids)) < 3, ids  # a worker ran more than one of them


def test_an_idle_worker_ends_and_one_taken_as_its_wait_ends_still_runs_its_work(monkeypatch):
    workers = _Workers()
    monkeypatch.setattr(workers, "IDLE_SECONDS", 0.05)
    done = threading.Event()
    workers.run(done.set)
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while workers._idle and time.monotonic() < deadline:
        time.sleep(0.01)
    assert workers._idle == []  # it left
    for n in range(50):  # hand work around the end of the idle wait: none is lost
        ran = threading.Event()
        workers.run(ran.set)
        assert ran.wait(5), n
        time.sleep(0.05 * (n % 3) / 2)


def test_executions_run_on_kept_workers(emulator_endpoint):
    """The replacements are in place for the four modules, and an execution with a Parallel state finishes on
    them as before."""
    import importlib

    for module, attr in moto_patches._POOLED_THREAD_MODULES:
        started_by = getattr(importlib.import_module(module), attr)
        assert started_by is _PooledThread or started_by.Thread is _PooledThread, module
    definition = json.dumps({"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 0, "Next": "C"},
                                        "C": {"Type": "Pass", "Result": "b", "End": True}}}]}}})
    sfn = account.client("stepfunctions", emulator_endpoint)
    arn = sfn.create_state_machine(name="pooled", definition=definition,
                                   roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    try:
        executions = [sfn.start_execution(stateMachineArn=arn, name=f"p-{n}")["executionArn"] for n in range(5)]
        for execution in executions:
            for _ in range(500):
                answer = sfn.describe_execution(executionArn=execution)
                if answer["status"] != "RUNNING":
                    break
                time.sleep(0.01)
            assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == ["a", "b"]
        assert any(thread.name == "sfn-worker" for thread in threading.enumerate())
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)
