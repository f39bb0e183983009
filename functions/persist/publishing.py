"""The persist side of the publish two-phase commit (docs/internals.md, "The publish transaction").

prepare stores the notification once, invisible (no seq); commit gives it the topic's next seq and makes it
visible; rollback marks it rolled back for good. Taking a seq is one conditional write on the topic item
(last_seq, last_txid); whoever finds the previous holder of last_seq unfinished finishes it first, so a
crash between the two writes never leaves a gap. Nothing is written per subscriber.
"""
from __future__ import annotations

import random
import time

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from core import validation
from core.dynamodb import condition_failed
from core.errors import AppError
from persist import delivery
from persist.models import Notification, Subscription, Topic
from persist.topics import find

COMMIT_DEADLINE_SECONDS = 4.0
#: a commit names at most this many recipients in its answer (see _recipients_now)
INLINE_RECIPIENTS = 100

def yes() -> dict:
    return {"participant": "persist", "vote": "YES"}


def no(error: AppError) -> dict:
    return {"participant": "persist", "vote": "NO", "reason": error.code, "message": error.message}


def _find(txid: str) -> Notification | None:
    try:
        return Notification.get(txid, consistent_read=True)
    except DoesNotExist:
        return None


def _resolve(topic: str, emails: list[str]) -> set[str]:
    """The subscribed user ids of `to`; AppError invalid_request naming the emails that are not subscribers."""
    ids, unknown = set(), []
    for email in emails:
        found = [s.user_id for s in Subscription.by_email.query(topic, Subscription.email == email)]
        if found:
            ids.update(found)
        else:
            unknown.append(email)
    if unknown:
        raise AppError("invalid_request", f"not subscribed to {topic!r}: {', '.join(unknown)}")
    return ids




def prepare(transaction: dict) -> dict:
    """Vote on a publish: YES after storing it invisibly; NO with the contract code that stops it."""
    try:
        txid = validation.require(transaction, "txid")
        publisher = validation.require(transaction, "publisher", dict)
        publisher_id = validation.require(publisher, "id")
        publisher_email = validation.require(publisher, "email")
        name = validation.topic_name(transaction.get("topic"))
        text = validation.message(transaction.get("message"))
        to = validation.recipients(transaction.get("to"))
        created_at = validation.require(transaction, "created_at")
        topic = find(name)
        if topic is None:
            raise AppError("not_found", f"no topic named {name!r}")
        if topic.status != "active":
            raise AppError("forbidden", f"topic {name!r} is closed")
        if topic.owner != publisher_id:
            raise AppError("forbidden", f"only the owner of {name!r} can publish to it")
        to_ids = _resolve(name, to) if to is not None else None
    except AppError as e:
        return no(e)
    notification = Notification(txid, topic=name, status="prepared", publisher=publisher_id,
                                from_email=publisher_email, message=text, to_emails=to, to_ids=to_ids,
                                created_at=created_at)
    try:  # a repeated prepare (its first answer lost) finds its notification stored: one write, no read first
        notification.save(condition=Notification.id.does_not_exist())
    except PutError as e:
        if not condition_failed(e):
            raise
        return _vote_again(_find(txid))
    return yes()


def _vote_again(existing: Notification | None) -> dict:
    """A repeated prepare: the same YES, unless the transaction was rolled back (never resurrected)."""
    if existing is None or existing.status == "rolled_back":
        return no(AppError("aborted", "the transaction was already rolled back"))
    return yes()


def rollback(transaction: dict) -> dict:
    """Forget a prepared notification; idempotent; leaves a tombstone so a late prepare votes NO."""
    txid = validation.require(transaction, "txid")
    try:
        Notification(txid).update(actions=[Notification.status.set("rolled_back"), Notification.message.remove()],
                                  condition=Notification.status == "prepared")
        return {"participant": "persist", "status": "rolled_back"}
    except UpdateError as e:
        if not condition_failed(e):
            raise
    existing = _find(txid)
    if existing is None:
        try:
            Notification(txid, topic=transaction.get("topic") or "-", status="rolled_back").save(
                condition=Notification.id.does_not_exist())
        except PutError as e:
            if not condition_failed(e):
                raise
            existing = _find(txid)
    # a committed notification cannot be rolled back: the coordinator decided commit for it
    return {"participant": "persist", "status": existing.status if existing else "rolled_back"}


def commit(transaction: dict) -> dict:
    """Give the prepared notification the topic's next seq and make it visible; idempotent."""
    txid = validation.require(transaction, "txid")
    name = validation.topic_name(transaction.get("topic"))
    deadline = time.monotonic() + COMMIT_DEADLINE_SECONDS
    attempt = 0
    while True:
        # the topic first, then the notification: one still prepared after that read holds no seq below the topic's
        # last (whoever took a later seq finished it first), so the seq taken below is its only one. Read the other
        # way round, another commit could finish it in between (as the previous holder of last_seq) and take the
        # next seq, and this one would take a second seq for it: last_seq past the topic's last notification
        topic = Topic.get(name, consistent_read=True)
        notification = _find(txid)
        if notification is None:
            raise RuntimeError(f"commit of {txid}: nothing was prepared")
        if notification.status == "committed":  # a retried commit
            return committed(notification)
        if notification.status == "rolled_back":
            raise RuntimeError(f"commit of {txid}: it was rolled back")
        if notification.topic != name:
            raise RuntimeError(f"commit of {txid}: it was prepared for another topic")
        if topic.last_txid == txid:  # our seq was taken by an earlier attempt that stopped short
            return committed(_finish(notification, int(topic.last_seq), int(topic.last_recipients or 0)))
        if topic.last_txid and int(topic.delivered_seq or 0) < int(topic.last_seq):
            # the holder of last_seq may have stopped between its two writes; once it was pushed it had not (a
            # commit is pushed only after its answer, which comes after _finish): no read of it then
            previous = _find(topic.last_txid)
            if previous is not None and previous.status == "prepared":
                _finish(previous, int(topic.last_seq), int(topic.last_recipients or 0))
        seq = int(topic.last_seq) + 1
        count = len(notification.to_ids) if notification.to_ids else int(topic.subscribers)
        actions = [Topic.last_seq.set(seq), Topic.last_txid.set(txid), Topic.last_recipients.set(count)]
        if notification.to_ids:
            actions.append(Topic.targeted_count.add(1))
        try:
            topic.update(actions=actions, condition=Topic.last_seq == topic.last_seq)
        except UpdateError as e:
            if not condition_failed(e) or time.monotonic() > deadline:
                raise
            attempt += 1
            time.sleep(random.uniform(0, 0.002 * attempt))
            continue
        return committed(_finish(notification, seq, count), _recipients_now(topic, seq, notification, count))


def _recipients_now(topic: Topic, seq: int, notification: Notification, count: int) -> dict | None:
    """When the topic had pushed every earlier seq as this commit read it (delivered_seq only grows, and nobody
    pushes a seq before it is taken), its turn to be pushed has come already: the recipients' user ids go with the
    answer, so the gateway pushes without asking persist for the turn and the recipients again. None otherwise, or
    for more than INLINE_RECIPIENTS (the answer travels in the state machine's output, which Step Functions bounds
    at 256 KB)."""
    if int(topic.delivered_seq or 0) != seq - 1 or count > INLINE_RECIPIENTS:
        return None
    to = sorted(notification.to_ids) if notification.to_ids else None
    return {"user_ids": delivery.subscribers(topic.name, seq, to)}


def _finish(notification: Notification, seq: int, count: int) -> Notification:
    """Second write of a commit (idempotent): count it in the addressed inboxes, then make it visible."""
    for user_id in sorted(notification.to_ids or ()):
        try:
            Subscription(notification.topic, user_id).update(
                actions=[Subscription.direct_count.add(1), Subscription.direct_seq.set(seq)],
                condition=Subscription.user_id.exists()
                & (Subscription.direct_seq.does_not_exist() | (Subscription.direct_seq < seq)))
        except UpdateError as e:  # unsubscribed since, or already counted
            if not condition_failed(e):
                raise
    try:
        notification.update(actions=[Notification.seq.set(seq), Notification.status.set("committed"),
                                     Notification.recipients.set(count)],
                            condition=(Notification.status == "prepared") | (Notification.seq == seq))
    except UpdateError as e:
        if not condition_failed(e):
            raise
        notification.refresh(consistent_read=True)
    return notification


def view(notification: Notification) -> dict:
    """The notification as clients see it (PROTOCOL.md: the notification frame)."""
    return {"id": notification.id, "topic": notification.topic, "seq": int(notification.seq),
            "from": notification.from_email, "message": notification.message,
            "to": list(notification.to_emails) if notification.to_emails is not None else None,
            "created_at": notification.created_at}


def committed(notification: Notification, delivery_now: dict | None = None) -> dict:
    """persist's commit answer, the same however often it is asked, except `delivery`: the recipients to push to at
    once (only the commit that took the seq, and found its turn there, knows them)."""
    return {"participant": "persist", "notification": view(notification),
            "recipients": int(notification.recipients or 0), "delivery": delivery_now}
