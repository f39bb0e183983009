"""persist as a participant of the publish two-phase commit (a Step Functions task)."""
from __future__ import annotations

from typing import Any

from persist import publishing

PHASES = {"prepare": publishing.prepare, "commit": publishing.commit, "rollback": publishing.rollback}


def handler(event: dict, context: Any) -> dict:
    """{"op": "prepare"|"commit"|"rollback", "transaction": {...}} -> the phase's answer.

    An unexpected failure raises: the state machine turns it into a NO vote (prepare) or retries it.
    """
    phase = PHASES.get(event.get("op")) if isinstance(event, dict) else None
    if phase is None:
        raise ValueError(f"unknown 2PC op {event.get('op') if isinstance(event, dict) else event!r}")
    return phase(event.get("transaction") or {})
