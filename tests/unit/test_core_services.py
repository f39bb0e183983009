"""core.services: the one inter-service client and its circuit breaker."""
import threading

import pybreaker
import pytest

from core import services
from core.errors import AppError


@pytest.fixture
def breaker():
    return pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, exclude=[AppError], name="probe")


def test_concurrent_calls_through_one_breaker_run_at_the_same_time(breaker):
    both_inside = threading.Barrier(2, timeout=5)
    results = []

    def remote_call():
        both_inside.wait()  # pybreaker alone would hold its lock here and the second caller never arrives
        return "answer"

    threads = [threading.Thread(target=lambda: results.append(services._guarded(breaker, remote_call)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["answer", "answer"]


def test_infrastructure_failures_open_the_circuit_and_then_calls_fail_fast(breaker):
    calls = []

    def down():
        calls.append(1)
        raise services._Unavailable("no answer")

    with pytest.raises(services._Unavailable):
        services._guarded(breaker, down)
    with pytest.raises(pybreaker.CircuitBreakerError):
        services._guarded(breaker, down)  # the second failure trips it
    with pytest.raises(pybreaker.CircuitBreakerError):
        services._guarded(breaker, down)
    assert len(calls) == 2 and breaker.current_state == pybreaker.STATE_OPEN


def test_domain_errors_are_healthy_answers(breaker):
    def refuses():
        raise AppError("forbidden", "not yours")

    for _ in range(5):
        with pytest.raises(AppError):
            services._guarded(breaker, refuses)
    assert breaker.current_state == pybreaker.STATE_CLOSED


def test_call_reports_a_missing_target_as_unavailable(monkeypatch):
    monkeypatch.delenv("NOWHERE_FUNCTION", raising=False)
    with pytest.raises(AppError) as raised:
        services.call("NOWHERE_FUNCTION", "health")
    assert raised.value.code == "unavailable"

