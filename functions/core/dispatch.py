"""The one way an event names an operation: ``{"op": name, **fields}`` runs ``ops[name](**fields)``.

The fields are checked against the op's signature before the op runs, so a mismatch is the caller's fault
(``MalformedOp``) while a ``TypeError`` raised inside the op is a fault of ours: logged, and answered as
``unavailable`` by the internal protocol or raised to Lambda by a Step Functions task.

Two handlers share it: ``internal_handler`` (services called through ``core.services.call``) and
``task_handler`` (the publish state machine's coordinator and 2PC participants).
"""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from pynamodb.exceptions import PynamoDBException

from core import telemetry, validation
from core.errors import AppError, invalid, unavailable

log = logging.getLogger(__name__)

Op = Callable[..., Any]
Handler = Callable[[Any, Any], Any]


class MalformedOp(ValueError):
    """The event names no known op, or its fields do not fit the op's parameters."""


def bind(ops: Mapping[str, Op], event: Any) -> tuple[str, Op, dict]:
    """(name, op, fields) of the op ``event`` names, its fields bound to the op's signature; or MalformedOp."""
    name = event.get("op") if isinstance(event, dict) else None
    op = ops.get(name) if isinstance(name, str) else None
    if op is None:
        raise MalformedOp(f"unknown op {validation.quote(name)}")
    fields = {key: value for key, value in event.items() if key != "op"}
    try:
        _signature(op).bind(**fields)
    except TypeError:
        raise MalformedOp(f"the fields of op {name!r} do not match: {', '.join(sorted(fields))}") from None
    return name, op, fields


@functools.cache
def _signature(op: Op) -> inspect.Signature:
    """An op's signature, worked out once per container (inspect.signature costs about 3-4 times a bind)."""
    return inspect.signature(op)


def internal_handler(ops: Mapping[str, Op]) -> Handler:
    """A Lambda handler answering the internal protocol: ``{"ok": true, "data"}`` or ``{"ok": false, "error"}``.

    Infrastructure failures are raised (a FunctionError: the caller's breaker counts it); every other failure
    is answered as a contract error, so that no input can open a circuit.
    """

    def handler(event: Any, context: Any) -> dict:
        if isinstance(event, dict) and event.get("op") == "health":
            return {"ok": True, "data": {"status": "ok"}}
        try:
            name, op, fields = bind(ops, event)
            validation.text_only(fields)
        except MalformedOp as e:
            return _failed(invalid(str(e)))
        except AppError as e:
            return _failed(e)
        try:
            return {"ok": True, "data": op(**fields)}
        except AppError as e:
            return _failed(e)
        except Exception as e:
            if is_infrastructure_failure(e):
                raise
            log.exception("op %s failed", name)
            return _failed(unavailable())

    return telemetry.instrumented(handler)


def task_handler(ops: Mapping[str, Op]) -> Handler:
    """A Step Functions task's handler: the op's answer; anything else raises, and the state machine's
    Retry and Catch decide (a malformed event raises MalformedOp before any op runs)."""

    def handler(event: Any, context: Any) -> Any:
        name, op, fields = bind(ops, event)
        transaction = fields.get("transaction")
        telemetry.correlate(txid=transaction.get("txid") if isinstance(transaction, dict) else None)
        try:
            with telemetry.step(name):
                return op(**fields)
        except Exception:
            log.exception("op %s failed", name)
            raise

    return telemetry.instrumented(handler)


def is_infrastructure_failure(error: BaseException) -> bool:
    """Whether an exception is the platform failing (network, throttling, a table or queue being gone).

    Only those may count against a circuit breaker. A request DynamoDB or botocore refuses as malformed, and
    any other exception, was caused by what the request held (or a bug): it must not switch a service off for
    everyone else.
    """
    code = getattr(error, "cause_response_code", None)
    if code is None and isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
    if code in _INPUT_ERROR_CODES or isinstance(error, ParamValidationError):
        return False
    return isinstance(error, (BotoCoreError, ClientError, PynamoDBException, OSError))


_INPUT_ERROR_CODES = {"ValidationException", "SerializationException", "InvalidParameterValue",
                      "InvalidParameterValueException", "MessageRejected", "InvalidArgument", "KeyTooLongError"}


def _failed(error: AppError) -> dict:
    return {"ok": False, "error": error.to_dict()}
