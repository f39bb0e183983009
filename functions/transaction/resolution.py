"""Driving stalled transactions to their end once their lease has passed.

A flow that died after begin leaves participants prepared (rows reserved, a notification invisible). Past the
lease, an undecided transaction is aborted (conditionally: a late decision of the flow may win instead), and
the decision is then carried to both participants, whose commit/rollback are idempotent.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core import clock, services
from transaction import decisions
from transaction.models import ABORT, ABORTED, COMMIT, COMMITTED, PREPARING, TransactionRecord

log = logging.getLogger(__name__)

PARTICIPANTS = ("PERSIST_PARTICIPANT_FUNCTION", "COUNTER_PARTICIPANT_FUNCTION")
Invoke = Callable[[str, dict], Any]


def stalled(at: float) -> list[TransactionRecord]:
    """Unfinished transactions whose lease ended before ``at``."""
    found = []
    for state in (PREPARING, COMMIT, ABORT):
        found.extend(TransactionRecord.by_state.query(state, TransactionRecord.lease_until < int(at)))
    return found


def resolve(record: TransactionRecord, invoke: Invoke = services.invoke) -> dict:
    """Decide (abort, if undecided), tell both participants, complete; ``{"txid", "decision", "outcome"}``."""
    transaction = record.transaction or {"txid": record.txid}
    if record.state == PREPARING:
        decision = decisions.decide(transaction, "abort", reason="aborted")["decision"]
    else:
        decision = "commit" if record.state == COMMIT else "abort"
    op = "commit" if decision == "commit" else "rollback"
    for participant in PARTICIPANTS:
        invoke(participant, {"op": op, "transaction": transaction})
    outcome = COMMITTED if decision == "commit" else ABORTED
    decisions.complete(transaction, outcome)
    return {"txid": record.txid, "decision": decision, "outcome": outcome}


def recover(at: float | None = None, invoke: Invoke = services.invoke) -> dict:
    """Resolve every stalled transaction: ``{"recovered": [...], "failed": [...]}``; the next run retries failures."""
    at = clock.now() if at is None else at
    recovered, failed = [], []
    for record in stalled(at):
        try:
            recovered.append(resolve(record, invoke))
        except Exception as e:  # one stuck transaction must not keep the others locked
            log.warning("recovery of %s failed: %s", record.txid, e)
            failed.append({"txid": record.txid, "error": str(e)})
    return {"recovered": recovered, "failed": failed}
