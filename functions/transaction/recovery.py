"""Scheduled (every minute) or invoked: finish transactions whose flow stalled past its lease."""
from typing import Any

from core import telemetry
from transaction import resolution


@telemetry.instrumented
def handler(event: dict, context: Any) -> dict:
    """An EventBridge Scheduled Event, or ``{"now": <epoch seconds>}`` to judge leases at another time."""
    at = event.get("now") if isinstance(event, dict) else None
    return resolution.recover(float(at) if at is not None else None)
