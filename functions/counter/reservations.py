"""The counter's side of the publish two-phase commit: one reservation per transaction.

A reservation per transaction (not a lock per user) lets any number of one user's publishes be prepared at
once and all commit. Commit flips the reservation and adds 1 to the total in one DynamoDB transaction, so the
total counts exactly the committed reservations.
"""
from __future__ import annotations

import random
import time

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from core import clock, config
from core.dynamodb import condition_failed, expiry
from core.errors import AppError
from counter.models import ABORTED, COMMITTED, PREPARED, TOTAL, CounterEntry, reservation_entry

PARTICIPANT = "counter"
COMMIT_ATTEMPTS = 8  # concurrent commits of one user all touch its total: DynamoDB cancels conflicting ones

_connection = Connection()  # for transactions; opens its client on first use, in the function's region


def _now() -> int:
    return int(clock.now())


def _lease_seconds() -> int:
    return config.integer("TRANSACTION_LEASE_SECONDS")


def _expiry(now: int) -> int:
    """When a resolved reservation goes (Time to Live): long after any retry of its transaction could come."""
    return expiry(now, config.integer("TRANSACTION_RETENTION_SECONDS"))


def _parties(transaction) -> tuple[str, str]:
    """(user_id, txid) of a transaction, or AppError invalid_request."""
    if not isinstance(transaction, dict):
        raise AppError("invalid_request", "transaction must be an object")
    txid, publisher = transaction.get("txid"), transaction.get("publisher")
    user_id = publisher.get("id") if isinstance(publisher, dict) else None
    if not isinstance(txid, str) or not txid or not isinstance(user_id, str) or not user_id:
        raise AppError("invalid_request", "transaction needs a txid and a publisher id")
    return user_id, txid


def _state(user_id: str, txid: str) -> str | None:
    try:
        return CounterEntry.get(user_id, reservation_entry(txid), consistent_read=True).state
    except CounterEntry.DoesNotExist:
        return None


def prepare(transaction: dict) -> dict:
    """Reserve one count for this transaction: vote YES, or NO if it was already rolled back."""
    try:
        user_id, txid = _parties(transaction)
    except AppError as e:
        return {"participant": PARTICIPANT, "vote": "NO", "reason": e.code, "message": e.message}
    now = _now()
    reservation = CounterEntry(user_id, reservation_entry(txid), state=PREPARED,
                               lease_until=now + _lease_seconds(), updated_at=now)
    try:
        reservation.save(condition=CounterEntry.entry.does_not_exist())
    except PutError as e:
        if not condition_failed(e):
            raise
        # a retried prepare finds its own reservation; a rollback that came first left an aborted one
        if _state(user_id, txid) == ABORTED:
            return {"participant": PARTICIPANT, "vote": "NO", "reason": "aborted",
                    "message": f"transaction {txid} was already rolled back"}
    return {"participant": PARTICIPANT, "vote": "YES"}


def commit(transaction: dict) -> dict:
    """Make the reservation count: prepared -> committed and total + 1, atomically; idempotent."""
    user_id, txid = _parties(transaction)
    for attempt in range(COMMIT_ATTEMPTS):
        now = _now()
        try:
            with TransactWrite(connection=_connection) as write:
                write.update(CounterEntry(user_id, reservation_entry(txid)),
                             actions=[CounterEntry.state.set(COMMITTED), CounterEntry.updated_at.set(now),
                                      CounterEntry.expires_at.set(_expiry(now))],
                             condition=CounterEntry.state == PREPARED)
                write.update(CounterEntry(user_id, TOTAL),
                             actions=[CounterEntry.published.add(1), CounterEntry.updated_at.set(now)])
            return {"participant": PARTICIPANT, "txid": txid, "state": COMMITTED}
        except TransactWriteError as e:
            reasons = [r.code for r in (e.cancellation_reasons or []) if r is not None]
            if "ConditionalCheckFailed" not in reasons:
                if "TransactionConflict" in reasons and attempt + 1 < COMMIT_ATTEMPTS:
                    time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
                    continue
                raise
        state = _state(user_id, txid)
        if state == COMMITTED:
            return {"participant": PARTICIPANT, "txid": txid, "state": COMMITTED}
        raise AppError("conflict", f"cannot commit transaction {txid}: its reservation is {state or 'missing'}")
    raise AppError("unavailable", f"commit of {txid} kept conflicting")


def rollback(transaction: dict) -> dict:
    """Release the reservation (prepared -> aborted); idempotent, and a missing one is recorded as aborted."""
    user_id, txid = _parties(transaction)
    now = _now()
    try:
        # recording the abort even without a reservation makes a prepare arriving late vote NO
        CounterEntry(user_id, reservation_entry(txid)).update(
            actions=[CounterEntry.state.set(ABORTED), CounterEntry.updated_at.set(now),
                     CounterEntry.expires_at.set(_expiry(now))],
            condition=(CounterEntry.state == PREPARED) | CounterEntry.entry.does_not_exist())
    except UpdateError as e:
        if not condition_failed(e):
            raise
        state = _state(user_id, txid)
        if state != ABORTED:
            raise AppError("conflict", f"cannot roll back transaction {txid}: it is {state}") from None
    return {"participant": PARTICIPANT, "txid": txid, "state": ABORTED}
