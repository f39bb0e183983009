"""Driving stalled transactions to their end once their lease has passed, or once their flow has ended.

A flow that died after begin leaves participants prepared (rows reserved, a notification invisible). Past the
lease, an undecided transaction is aborted (conditionally: a late decision of the flow may win instead), and
the decision is then carried to both participants, whose commit/rollback are idempotent. A transaction whose
flow (the Step Functions execution named by its txid) has already ended, failed, timed out or was aborted, is
resolved without waiting for its lease: nobody else will finish it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core import aws, clock, config, services
from transaction import decisions
from transaction.models import ABORT, ABORTED, COMMIT, COMMITTED, PREPARING, TransactionRecord

log = logging.getLogger(__name__)

PARTICIPANTS = ("PERSIST_PARTICIPANT_FUNCTION", "COUNTER_PARTICIPANT_FUNCTION")
PERSIST, GATEWAY = "PERSIST_PARTICIPANT_FUNCTION", "GATEWAY_SERVICE_FUNCTION"
Invoke = Callable[[str, dict], Any]
#: Step Functions execution states after which the flow does nothing more
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def flow_ended(txid: str) -> bool:
    """Whether the transaction's flow, the publish state machine's execution named ``txid``, has ended.

    Unknown counts as running (no state machine configured, no such execution, an error): the lease decides.
    """
    machine = config.optional("PUBLISH_STATE_MACHINE_ARN")
    if not machine:
        return False
    execution = machine.replace(":stateMachine:", ":execution:", 1) + ":" + txid
    try:
        status = aws.client("stepfunctions").describe_execution(executionArn=execution)["status"]
    except Exception as e:  # ExecutionDoesNotExist (a flow started some other way), throttling, ...
        log.debug("flow of %s: %s", txid, e)
        return False
    return status in ENDED


def stalled(at: float, ended: Callable[[str], bool] = flow_ended) -> list[TransactionRecord]:
    """Unfinished transactions whose lease ended before ``at``, or whose flow has ended."""
    found = []
    for state in (PREPARING, COMMIT, ABORT):
        for record in TransactionRecord.by_state.query(state):
            if int(record.lease_until or 0) < int(at) or ended(record.txid):
                found.append(record)
    return found


def resolve(record: TransactionRecord, invoke: Invoke = services.invoke,
            committed: list | None = None) -> dict | None:
    """Decide (abort, if undecided), tell both participants, complete; ``{"txid", "decision", "outcome"}``, or
    None if the transaction has finished meanwhile.

    ``record`` is what the recovery index said, and the index lags (a query reads a snapshot; on DynamoDB a
    global secondary index is only eventually consistent): a flow that ended between that read and this call
    finished its transaction itself. So the record is read again, strongly, first; finishing it again would
    push its notification live a second time.
    A commit's notification (persist's answer) is added to ``committed``: nobody else will push it live.
    """
    try:
        record = TransactionRecord.get(record.txid, consistent_read=True)
    except TransactionRecord.DoesNotExist:  # expired (Time to Live) after it finished
        return None
    if record.state in (COMMITTED, ABORTED):
        return None
    transaction = record.transaction or {"txid": record.txid}
    if record.state == PREPARING:
        decision = decisions.decide(transaction, "abort", reason="aborted")["decision"]
    else:
        decision = "commit" if record.state == COMMIT else "abort"
    op = "commit" if decision == "commit" else "rollback"
    answers = {participant: invoke(participant, {"op": op, "transaction": transaction}) for participant in PARTICIPANTS}
    outcome = COMMITTED if decision == "commit" else ABORTED
    decisions.complete(transaction, outcome)
    notification = answers[PERSIST].get("notification") if isinstance(answers[PERSIST], dict) else None
    if decision == "commit" and isinstance(notification, dict) and committed is not None:
        committed.append(notification)
    return {"txid": record.txid, "decision": decision, "outcome": outcome}


def deliver(notifications: list[dict], invoke: Invoke = services.invoke) -> int:
    """Have the gateway push commits recovery finished to their connected recipients (they are in every inbox
    already), each topic in seq order, which also lets the topic's next seq go at once. Best effort: the
    number delivered; a failure is logged and the inboxes stay the record."""
    delivered = 0
    for notification in sorted(notifications, key=lambda n: (str(n.get("topic")), int(n.get("seq") or 0))):
        try:
            invoke(GATEWAY, {"op": "deliver", "notification": notification})
            delivered += 1
        except Exception as e:  # noqa: BLE001 - the notification is committed either way
            log.warning("live delivery of %s after recovery failed: %s", notification.get("id"), e)
    return delivered


def recover(at: float | None = None, invoke: Invoke = services.invoke,
            ended: Callable[[str], bool] = flow_ended) -> dict:
    """Resolve every stalled transaction: ``{"recovered": [...], "failed": [...]}``; the next run retries failures."""
    at = clock.now() if at is None else at
    recovered, failed, committed = [], [], []
    for record in stalled(at, ended):
        try:
            outcome = resolve(record, invoke, committed)
            if outcome is not None:
                recovered.append(outcome)
        except Exception as e:  # one stuck transaction must not keep the others locked
            log.warning("recovery of %s failed: %s", record.txid, e)
            failed.append({"txid": record.txid, "error": str(e)})
    if committed:
        deliver(committed, invoke)
    return {"recovered": recovered, "failed": failed}
