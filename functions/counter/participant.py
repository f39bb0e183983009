"""The counter's two-phase-commit participant, invoked by the publish state machine and by recovery."""
from typing import Any

from counter import reservations

OPS = {"prepare": reservations.prepare, "commit": reservations.commit, "rollback": reservations.rollback}


def handler(event: dict, context: Any) -> dict:
    """``{"op": "prepare"|"commit"|"rollback", "transaction": {...}}``; raising makes the task fail and retry."""
    op = OPS.get(event.get("op")) if isinstance(event, dict) else None
    if op is None:
        raise ValueError(f"unknown counter participant op: {event.get('op') if isinstance(event, dict) else event!r}")
    return op(event.get("transaction"))
