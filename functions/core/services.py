"""The one way a service calls another: found in AWS Cloud Map, invoked through a shared circuit breaker.

``call("persist", "subscribe", ...)`` asks Cloud Map (core.discovery: DiscoverInstances, cached briefly per
sandbox) for the healthy instances of service ``persist``, takes the next one round robin, and invokes the
function its ``FUNCTION_ARN`` attribute names, under that instance's breaker (core.breakers: state in DynamoDB,
shared by every sandbox). An open breaker refuses at once and the next instance is tried; opening marks the
instance UNHEALTHY in Cloud Map, closing HEALTHY again. After the reset timeout an unhealthy instance is tried
first, as the half-open trial (one caller wins it).

Internal functions take ``{"op": ..., **fields}`` and answer ``{"ok": true, "data": ...}`` or
``{"ok": false, "error": {"code", "message"}}`` (see ``core.dispatch.internal_handler``).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker

from core import aws, breakers, config, discovery
from core.errors import AppError, unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


def _lambda():
    return aws.client("lambda", retries={"max_attempts": 2}, read_timeout=30, max_pool_connections=50)


def _health_reporter(instance: discovery.Instance) -> breakers.OnChange:
    def report(name: str, before: str, after: str) -> None:
        if after == breakers.OPEN:
            discovery.report_health(instance, healthy=False)
        elif after == breakers.CLOSED:
            discovery.report_health(instance, healthy=True)
    return report


def _breaker(instance: discovery.Instance, counts: Callable[[BaseException], bool]) -> breakers.SharedBreaker:
    return breakers.breaker(instance.breaker_name, exclude=[lambda e: not counts(e)],
                            on_change=_health_reporter(instance))


def _candidates(service: str, counts: Callable[[BaseException], bool]) -> list[discovery.Instance]:
    """The instances to try, in order: an unhealthy one whose breaker's reset timeout has passed (its half-open
    trial) or that is closed again, then the healthy ones round robin."""
    due = []
    for instance in discovery.unhealthy(service):
        shared = _breaker(instance, counts)
        shared.storage.refresh()
        if shared.current_state == breakers.CLOSED or shared.due_for_trial():
            due.append(instance)
    return due + discovery.rotation(service)


def through(service: str, attempt: Callable[[discovery.Instance], T], *, counts: Callable[[BaseException], bool],
            failover: bool = True) -> T:
    """``attempt(instance)`` on `service`'s instances under their shared breakers; the first answer.

    ``counts(error)``: whether a failure is the infrastructure's (it counts against the breaker, and with
    ``failover`` the next instance is tried); any other error is the request's and is raised as it is.
    Raises :class:`Unavailable` when no instance answered.
    """
    try:
        order = _candidates(service, counts)
    except discovery.NotFound as error:
        raise Unavailable(str(error)) from error
    if not order:
        raise Unavailable(f"{service}: no healthy instance", _trial_in(service, counts))
    last: BaseException | None = None
    for instance in order:
        try:
            return breakers.guarded(_breaker(instance, counts), lambda chosen=instance: attempt(chosen))
        except pybreaker.CircuitBreakerError as error:
            log.warning("%s: circuit open, skipping it", instance.breaker_name)
            last = error
        except Exception as error:
            if not counts(error):
                raise
            log.warning("%s failed: %s", instance.breaker_name, error)
            last = error
        if not failover:
            break
    raise Unavailable(f"{service}: no instance answered ({type(last).__name__}: {last})", _trial_in(service, counts))


def _trial_in(service: str, counts: Callable[[BaseException], bool]) -> float | None:
    """When every instance of `service` is refused by its open circuit (as this sandbox last read them): the seconds
    until the first may take its half-open trial call; None when any is closed or half-open (its failure was a real
    answer, and a retry may succeed at once)."""
    waits = []
    try:
        instances = discovery.instances(service)  # the answer through() just used, from this sandbox's cache
    except Exception as error:  # noqa: BLE001 - no hint then; the caller's retry policy decides
        log.warning("%s: instances not known again: %s", service, error)
        return None
    for instance in instances:
        wait = _breaker(instance, counts).trial_in()
        if wait is None:
            return None
        waits.append(wait)
    return min(waits) if waits else None


def call(service: str, op: str, **fields) -> Any:
    """Run ``op`` on the Cloud Map service `service` ("persist", "mail", ...); its ``data`` or AppError.

    Failures reach the caller as ``unavailable`` with a plain sentence; function names and exception text go
    to the log only.
    """
    def attempt(instance: discovery.Instance) -> Any:
        function = instance.attributes.get("FUNCTION_ARN")
        if not function:
            raise Unavailable(f"{instance.breaker_name} has no FUNCTION_ARN attribute")
        return _invoke(function, {"op": op, **fields})

    try:
        return through(service, attempt, counts=lambda error: isinstance(error, Unavailable))
    except Unavailable as e:
        log.warning("%s", e)
        raise unavailable(service) from None


def _service(target: str) -> str:
    """The plain name of the service an env var points at: "PERSIST_PARTICIPANT_FUNCTION" -> "persist"."""
    return target.split("_", 1)[0].lower()


def invoke(target: str, event: dict) -> Any:
    """Invoke the function named by env var ``target`` with a raw event (e.g. a 2PC participant); its result."""
    function = config.optional(target)
    if not function:
        log.error("%s is not configured", target)
        raise unavailable(_service(target))
    try:
        response = _lambda().invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
    except Exception as e:
        log.warning("invoke of %s failed: %s", function, e)
        raise unavailable(_service(target)) from e
    if response.get("FunctionError"):
        message = payload.get("errorMessage", "") if isinstance(payload, dict) else str(payload)
        log.warning("%s failed: %s", function, message)
        raise unavailable(_service(target))
    return payload


def _invoke(function: str, event: dict) -> Any:
    try:
        response = _lambda().invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
    except Exception as e:  # the network, throttling, the function being gone: counts against the circuit
        log.warning("call to %s failed: %s", function, e)
        raise Unavailable(f"{function} did not answer") from e
    if response.get("FunctionError"):
        message = payload.get("errorMessage", "") if isinstance(payload, dict) else str(payload)
        raise Unavailable(f"{function} failed: {message}")
    if not isinstance(payload, dict) or "ok" not in payload:
        raise Unavailable(f"{function} answered outside the internal protocol")
    if not payload["ok"]:
        raise AppError.from_dict(payload.get("error") or {})
    return payload.get("data")


class Unavailable(Exception):
    """The infrastructure failed (counts against the circuit); surfaces to callers as AppError('unavailable').

    ``retry_after``: when every instance's circuit is open, the seconds until the first may be tried again
    (a queue consumer can hold its message until then); None otherwise."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
