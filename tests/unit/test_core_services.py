"""core.services: calls found in Cloud Map (round robin, healthy first), made under breakers shared in DynamoDB."""
import threading
import time

import boto3
import pybreaker
import pytest
from moto import mock_aws

from cloudmap import register_services, service_ids
from core import breakers, discovery, services
from core.dispatch import internal_handler
from core.errors import AppError


class Backend:
    """An internal service whose answers a test switches: ok, down (a FunctionError), or refusing (domain)."""

    def __init__(self, name):
        self.name, self.mode, self.calls = name, "ok", 0

    def handler(self, event, context):
        self.calls += 1
        if self.mode == "down":
            raise RuntimeError("the database is gone")  # Lambda reports FunctionError: an infrastructure failure
        return internal_handler({"who": self.who})(event, context)

    def who(self):
        if self.mode == "refusing":
            raise AppError("forbidden", "not yours")
        return self.name


@pytest.fixture
def persist(monkeypatch):
    """Service persist with two instances (the template's and one more), breakers: 3 failures in 2 s, reset 0.5 s."""
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "3")
    monkeypatch.setenv("BREAKER_WINDOW_SECONDS", "2")
    monkeypatch.setenv("BREAKER_RESET_SECONDS", "0.5")
    monkeypatch.setenv("DISCOVERY_CACHE_SECONDS", "0")
    with mock_aws():
        first, second = Backend("persist-1"), Backend("persist-2")
        register_services(monkeypatch, {"PersistService": first.handler, "PersistService2": second.handler})
        boto3.client("servicediscovery").register_instance(
            ServiceId=service_ids()["persist"], InstanceId="persist-2",
            Attributes={"FUNCTION_ARN": "notifyx-PersistService2", "SERVICE_ID": service_ids()["persist"]})
        yield first, second


def health(instance_id):
    found = {i.id: i.healthy for i in discovery.instances("persist")}
    return found[instance_id]


def test_calls_go_round_robin_over_the_healthy_instances(persist):
    answers = [services.call("persist", "who") for _ in range(4)]
    assert sorted(answers) == ["persist-1", "persist-1", "persist-2", "persist-2"]
    assert answers[0] != answers[1]


def test_an_unknown_service_is_unavailable(persist):
    with pytest.raises(AppError) as raised:
        services.call("nowhere", "who")
    assert raised.value.code == "unavailable"


def test_failures_open_the_breaker_mark_the_instance_unhealthy_and_calls_go_to_the_other(persist):
    first, second = persist
    first.mode = "down"
    answers = [services.call("persist", "who") for _ in range(8)]  # each failure fails over to persist-2
    assert set(answers) == {"persist-2"}
    assert first.calls == 3  # the third failure within the window opened it; then it was skipped
    state = breakers.all_states()["persist/persist-1"]
    assert state["state"] == breakers.OPEN and state["failures"] == 3
    assert health("persist-1") is False and health("persist-2") is True


def test_after_the_reset_timeout_one_trial_call_closes_it_again(persist):
    first, _ = persist
    first.mode = "down"
    for _ in range(6):  # round robin: persist-1 is tried first every other call
        services.call("persist", "who")
    assert health("persist-1") is False
    first.mode = "ok"
    time.sleep(0.6)
    assert services.call("persist", "who") == "persist-1"  # the trial goes to the unhealthy instance first
    assert breakers.all_states()["persist/persist-1"]["state"] == breakers.CLOSED
    assert health("persist-1") is True


def test_a_failed_trial_opens_it_again(persist):
    first, _ = persist
    first.mode = "down"
    for _ in range(6):  # round robin: persist-1 is tried first every other call
        services.call("persist", "who")
    opened = breakers.all_states()["persist/persist-1"]["opened_at"]
    time.sleep(1.1)
    assert services.call("persist", "who") == "persist-2"  # the trial failed, persist-2 answered
    again = breakers.all_states()["persist/persist-1"]
    assert again["state"] == breakers.OPEN and again["opened_at"] > opened


def test_domain_errors_are_healthy_answers(persist):
    first, second = persist
    first.mode = second.mode = "refusing"
    for _ in range(10):
        with pytest.raises(AppError) as raised:
            services.call("persist", "who")
        assert raised.value.code == "forbidden"
    assert all(b["state"] == breakers.CLOSED and b["failures"] == 0 for b in breakers.all_states().values())


def test_failures_further_apart_than_the_window_never_open_it(persist, monkeypatch):
    monkeypatch.setenv("BREAKER_WINDOW_SECONDS", "0.3")
    from core import config

    config.forget()
    breakers.forget()
    first, second = persist
    first.mode = second.mode = "down"
    for _ in range(4):
        with pytest.raises(AppError):
            services.call("persist", "who")  # both instances fail: one failure each
        time.sleep(0.35)
    assert {b["state"] for b in breakers.all_states().values()} == {breakers.CLOSED}


def test_a_breaker_opened_by_one_sandbox_refuses_in_another_at_once(persist):
    """Two handles on one breaker with nothing in common but the table, as two Lambda sandboxes have."""
    def handle():
        return breakers.SharedBreaker(fail_max=3, reset_timeout=60, state_storage=breakers.DynamoDBStorage(
            "persist/elsewhere", window=10), name="persist/elsewhere")

    here, there = handle(), handle()
    for _ in range(3):
        with pytest.raises((RuntimeError, pybreaker.CircuitBreakerError)):
            breakers.guarded(here, lambda: (_ for _ in ()).throw(RuntimeError("down")))
    called = []
    with pytest.raises(pybreaker.CircuitBreakerError):
        breakers.guarded(there, lambda: called.append(1))
    assert called == []


def test_only_one_caller_wins_the_half_open_trial(persist):
    def handle():
        return breakers.SharedBreaker(fail_max=1, reset_timeout=0.2, state_storage=breakers.DynamoDBStorage(
            "persist/trial", window=10), name="persist/trial")

    one, other = handle(), handle()
    with pytest.raises(pybreaker.CircuitBreakerError):
        breakers.guarded(one, lambda: (_ for _ in ()).throw(RuntimeError("down")))
    time.sleep(0.3)
    other.storage.refresh()  # both read "open" before either moves it
    inside = threading.Event()
    release = threading.Event()

    def slow_trial():
        inside.set()
        release.wait(5)
        return "trial"

    results = []
    thread = threading.Thread(target=lambda: results.append(breakers.guarded(one, slow_trial)))
    thread.start()
    assert inside.wait(5)
    with pytest.raises(pybreaker.CircuitBreakerError):
        other.call(lambda: "second trial")  # other's snapshot still says open: it loses the conditional write
    release.set()
    thread.join()
    assert results == ["trial"]


def test_concurrent_calls_through_one_breaker_run_at_the_same_time(persist):
    shared = breakers.SharedBreaker(fail_max=2, reset_timeout=60, state_storage=breakers.DynamoDBStorage(
        "persist/concurrent", window=10), name="persist/concurrent")
    both_inside = threading.Barrier(2, timeout=5)
    results = []

    def remote_call():
        both_inside.wait()  # pybreaker alone would hold its lock here and the second caller never arrives
        return "answer"

    threads = [threading.Thread(target=lambda: results.append(breakers.guarded(shared, remote_call)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["answer", "answer"]
