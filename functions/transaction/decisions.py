"""The coordinator's log: decide (the first decision wins) and complete, for recovery and for the state machine's
paths that need code. The state machine writes its commit path's steps itself (DynamoDB integrations in
step_functions/publish.asl.json: Begin, RecordCommit, CompleteCommit, CompleteAbort); these write the same record.
Every step is safe to retry."""
from __future__ import annotations

from pynamodb.exceptions import UpdateError

from core import clock, config
from core.dynamodb import condition_failed, expiry
from transaction.models import ABORT, ABORTED, COMMIT, COMMITTED, PREPARING, TransactionRecord

# what the state machine adds to the execution state (limits: its timeouts); the rest is the transaction's input
FLOW_KEYS = {"limits", "votes", "decision", "commit", "error"}
DECIDED = {"commit": COMMIT, "abort": ABORT}
DECISION_OF = {COMMIT: "commit", COMMITTED: "commit", ABORT: "abort", ABORTED: "abort"}


def lease_seconds() -> int:
    return config.integer("TRANSACTION_LEASE_SECONDS")


def _txid(transaction) -> str:
    txid = transaction.get("txid") if isinstance(transaction, dict) else None
    if not isinstance(txid, str) or not txid:
        raise ValueError("the transaction has no txid")
    return txid


def transaction_input(transaction: dict) -> dict:
    """The transaction as the publisher started it, without the flow's votes and results."""
    return {k: v for k, v in transaction.items() if k not in FLOW_KEYS}


def abort_reason(transaction: dict) -> str:
    """The first NO vote's reason (e.g. "forbidden", "unavailable"), else "aborted"."""
    votes = transaction.get("votes")
    votes = votes.values() if isinstance(votes, dict) else votes if isinstance(votes, list) else []
    for vote in votes:
        if isinstance(vote, dict) and vote.get("vote") != "YES" and vote.get("reason"):
            return str(vote["reason"])
    return "aborted"


def decide(transaction: dict, decision: str, reason: str | None = None) -> dict:
    """Record commit or abort unless a decision exists; ``{"txid", "decision", "reason"}`` of the one that won."""
    if decision not in DECIDED:
        raise ValueError(f"decision must be commit or abort, not {decision!r}")
    txid, decided = _txid(transaction), clock.now()
    if decision == "abort":
        reason = reason or abort_reason(transaction)
    actions = [
        TransactionRecord.state.set(DECIDED[decision]),
        TransactionRecord.decided_at.set(clock.timestamp(at=decided)),
        # the flow now has a fresh lease to tell the participants before recovery steps in
        TransactionRecord.lease_until.set(int(decided + lease_seconds())),
        # a decide without a begin (recovery's, or a flow's that begins later) still leaves what recovery and the
        # state machine's completion (expires_at = began_at + retention) need
        TransactionRecord.transaction.set(TransactionRecord.transaction | transaction_input(transaction)),
        TransactionRecord.began_at.set(TransactionRecord.began_at | int(decided)),
    ]
    if decision == "abort":
        actions.append(TransactionRecord.reason.set(reason))
    try:
        TransactionRecord(txid).update(
            actions=actions,
            condition=(TransactionRecord.state == PREPARING) | TransactionRecord.txid.does_not_exist())
        return {"txid": txid, "decision": decision, "reason": reason if decision == "abort" else None}
    except UpdateError as e:
        if not condition_failed(e):
            raise
    record = TransactionRecord.get(txid, consistent_read=True)
    won = DECISION_OF[record.state]
    return {"txid": txid, "decision": won, "reason": (record.reason or "aborted") if won == "abort" else None}


def complete(transaction: dict, outcome: str) -> dict:
    """Mark a decided transaction finished ("committed" or "aborted", matching its decision)."""
    if outcome not in (COMMITTED, ABORTED):
        raise ValueError(f"outcome must be committed or aborted, not {outcome!r}")
    txid = _txid(transaction)
    decided = COMMIT if outcome == COMMITTED else ABORT
    try:
        now = clock.now()
        TransactionRecord(txid).update(
            actions=[TransactionRecord.state.set(outcome), TransactionRecord.completed_at.set(clock.timestamp(at=now)),
                     TransactionRecord.lease_until.remove(),
                     TransactionRecord.expires_at.set(expiry(now, config.integer("TRANSACTION_RETENTION_SECONDS")))],
            condition=TransactionRecord.state.is_in(decided, outcome))
    except UpdateError as e:
        if not condition_failed(e):
            raise
        try:
            state = TransactionRecord.get(txid, consistent_read=True).state
        except TransactionRecord.DoesNotExist:
            state = "unknown"
        raise RuntimeError(f"cannot complete {txid} as {outcome}: it is {state}") from None
    return {"txid": txid, "state": outcome}
