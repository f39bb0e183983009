"""What the gateway needs to push a committed notification: who gets it, and whose turn it is.

A topic's notifications reach sockets in seq order: the gateway holding seq n waits (bounded) until the
topic's delivered_seq is n-1 (polled, the more often the nearer its turn), sends, then advances delivered_seq. A
gateway that died after its commit only delays the next seq by the bound.
"""
from __future__ import annotations

import time

from pynamodb.exceptions import DoesNotExist, UpdateError

from core import validation
from core.dynamodb import condition_failed
from core.errors import AppError
from persist.models import Notification, Subscription, Topic
from persist.topics import get

TURN_WAIT_SECONDS = 8.0
# the earlier seq is usually being sent by another gateway invocation right now: look again soon, then back off
# (each look is one consistent read of the topic's delivered_seq), to at most NEXT_POLL_SECONDS per seq still
# ahead: the next in line looks every 25 ms (a 1,000-socket fan-out takes ~200 ms here, and a 250 ms look left the
# topic idle for ~125 ms between two), one ten seqs back every 250 ms
FIRST_POLL_SECONDS = 0.005
NEXT_POLL_SECONDS = 0.025
MAX_POLL_SECONDS = 0.25


def recipients(topic: str, notification_id: str | None = None, to: list[str] | None = None) -> dict:
    """The user ids a committed notification is addressed to: its `to` subscribers, or every subscriber."""
    return _recipients(get(topic).name, notification_id, to)


def _recipients(name: str, notification_id: str | None, to: list[str] | None) -> dict:
    """recipients() of a topic known to exist. Of a notification: the subscribers whose inbox holds it, those who
    subscribed before its seq (a subscription's inbox starts after its from_seq). Someone who subscribes between
    its commit and its fan-out does not get it, as it is not in their inbox (the contract: the subscribers at
    commit time)."""
    seq = None
    if notification_id is not None:
        try:
            notification = Notification.get(notification_id, consistent_read=True)
        except DoesNotExist:
            raise AppError("not_found", f"no notification {notification_id!r}") from None
        if notification.topic != name:
            raise AppError("invalid_request", f"notification {notification_id!r} is not in {name!r}")
        to = sorted(notification.to_ids) if notification.to_ids else None
        seq = int(notification.seq) if notification.seq is not None else None
    if to is not None and not isinstance(to, list):
        raise AppError("invalid_request", "to must be a list of user ids")
    return {"user_ids": subscribers(name, seq, to)}


def subscribers(name: str, seq: int | None, to: list[str] | None) -> list[str]:
    """The user ids among `to` (None: every subscriber) whose inbox holds the topic's notification of `seq`."""
    if to is not None:
        found = Subscription.batch_get([(name, user_id) for user_id in to])
        return sorted(s.user_id for s in found if _holds(s, seq))
    return [s.user_id for s in Subscription.query(name, attributes_to_get=["user_id", "from_seq"]) if _holds(s, seq)]


def _holds(subscription: Subscription, seq: int | None) -> bool:
    """Whether the subscription's inbox holds the notification of `seq` (any, without a seq)."""
    return seq is None or int(subscription.from_seq or 0) < seq


def delivery_turn(topic: str, seq: int, notification_id: str | None = None) -> dict:
    """Wait until every earlier seq of the topic was delivered (or the bound passed): {"turn": bool}.

    With notification_id the answer also carries its recipients' "user_ids" (one call instead of two), unless
    the topic has delivered seq already ("delivered_seq" >= seq: there is nothing to push).
    """
    seq = validation.require({"seq": seq}, "seq", int)
    name = validation.topic_name(topic)
    if notification_id is not None:
        turn = delivery_turn(name, seq)
        if turn["delivered_seq"] >= seq:
            return turn
        # the turn's read of the topic found it: no second read to check that it exists
        return {**turn, **_recipients(name, notification_id, None)}
    deadline = time.monotonic() + TURN_WAIT_SECONDS
    pause = FIRST_POLL_SECONDS
    while True:
        try:
            delivered_seq = int(Topic.get(name, consistent_read=True, attributes_to_get=["delivered_seq"])
                                .delivered_seq or 0)
        except DoesNotExist:
            raise AppError("not_found", f"no topic named {name!r}") from None
        if delivered_seq >= seq - 1:
            return {"turn": True, "delivered_seq": delivered_seq}
        if time.monotonic() > deadline:
            return {"turn": False, "delivered_seq": delivered_seq}
        pause = min(pause, NEXT_POLL_SECONDS * (seq - 1 - delivered_seq))
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, MAX_POLL_SECONDS)


def delivered(topic: str, seq: int) -> dict:
    """Record that seq was pushed, letting seq+1 go; never moves delivered_seq back."""
    seq = validation.require({"seq": seq}, "seq", int)
    name = validation.topic_name(topic)
    try:
        Topic(name).update(actions=[Topic.delivered_seq.set(seq)],
                           condition=Topic.name.exists() & (Topic.delivered_seq < seq))
    except UpdateError as e:
        if not condition_failed(e):
            raise
    return {"topic": name, "seq": seq}
