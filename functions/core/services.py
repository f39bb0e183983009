"""The one way a service calls another: Lambda invoke, wrapped in a circuit breaker.

Internal functions take ``{"op": ..., **fields}`` and answer ``{"ok": true, "data": ...}`` or
``{"ok": false, "error": {"code", "message"}}`` (see ``core.dispatch.internal_handler``). Discovery, load balancing and
tracing wrap calls here, in one place.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import pybreaker

from core import aws
from core.errors import AppError, unavailable

log = logging.getLogger(__name__)

_breakers: dict[str, pybreaker.CircuitBreaker] = {}


def _lambda():
    return aws.client("lambda", retries={"max_attempts": 2}, read_timeout=30, max_pool_connections=50)


def _breaker(function: str) -> pybreaker.CircuitBreaker:
    if function not in _breakers:
        # only infrastructure failures open the circuit; a domain error is a healthy answer
        _breakers[function] = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=10, exclude=[AppError],
                                                        name=function)
    return _breakers[function]


def _guarded(breaker: pybreaker.CircuitBreaker, remote_call: Callable[[], Any]) -> Any:
    """Make ``remote_call`` under the breaker without serializing callers.

    pybreaker runs the guarded function while holding the breaker's lock, so every call through one breaker
    waits for the previous one. A Lambda sandbox runs one invocation at a time, but the local cloud runs
    concurrent invocations as threads of one warm module: 20 concurrent publishes queued behind each other
    here. So the call is made outside the lock and only its outcome is reported to pybreaker, which keeps
    its rules (count, open, fail fast, half-open trial). While open, calls go through pybreaker itself:
    they fail fast, and after the reset timeout one trial runs at a time, as pybreaker intends.
    """
    if breaker.current_state == pybreaker.STATE_OPEN:
        return breaker.call(remote_call)
    try:
        result = remote_call()
    except Exception as error:  # noqa: BLE001 - reported to the breaker, which re-raises it
        failure = error

        def outcome():
            raise failure
    else:
        def outcome():
            return result
    return breaker.call(outcome)


def _service(target: str) -> str:
    """The plain name of the service an env var points at: "MAIL_SERVICE_FUNCTION" -> "mail"."""
    return target.split("_", 1)[0].lower()


def call(target: str, op: str, **fields) -> Any:
    """Run ``op`` on the service whose function name is in env var ``target``; its ``data`` or AppError.

    Failures reach the caller as ``unavailable`` with a plain sentence; function names and exception text go
    to the log only.
    """
    function = os.environ.get(target)
    if not function:
        log.error("%s is not configured", target)
        raise unavailable(_service(target))
    try:
        return _guarded(_breaker(function), lambda: _invoke(function, {"op": op, **fields}))
    except pybreaker.CircuitBreakerError:
        log.warning("%s: circuit open, failing fast", function)
        raise unavailable(_service(target)) from None
    except _Unavailable as e:
        log.warning("%s", e)
        raise unavailable(_service(target)) from None


def invoke(target: str, event: dict) -> Any:
    """Invoke the function named by env var ``target`` with a raw event (e.g. a 2PC participant); its result."""
    function = os.environ.get(target)
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
        raise _Unavailable(f"{function} did not answer") from e
    if response.get("FunctionError"):
        message = payload.get("errorMessage", "") if isinstance(payload, dict) else str(payload)
        raise _Unavailable(f"{function} failed: {message}")
    if not isinstance(payload, dict) or "ok" not in payload:
        raise _Unavailable(f"{function} answered outside the internal protocol")
    if not payload["ok"]:
        raise AppError.from_dict(payload.get("error") or {})
    return payload.get("data")


class _Unavailable(Exception):
    """Counts against the circuit; surfaces to callers as AppError('unavailable')."""
