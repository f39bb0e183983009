"""A user's inbox: a topic's committed notifications after their subscription's from_seq, addressed to
everyone or to them. Read state is one Receipt per notification seen and the subscription's seen_count,
so unread = visible - seen_count without a write per subscriber at publish time.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from core import clock, validation
from core.dynamodb import condition_failed
from core.errors import AppError
from persist import publishing
from persist.models import Notification, Receipt, Subscription, Topic
from persist.topics import find_subscription, subscription_of

PAGE = 100


def visible_count(topic: Topic, subscription: Subscription) -> int:
    """How many notifications the subscriber's inbox holds: broadcasts since subscribing + those to them."""
    since = int(topic.last_seq) - int(subscription.from_seq)
    targeted_since = int(topic.targeted_count) - int(subscription.targeted_base)
    return since - targeted_since + int(subscription.direct_count)


def unread_count(topic: Topic, subscription: Subscription) -> int:
    return max(0, visible_count(topic, subscription) - int(subscription.seen_count))


def in_inbox(notification: Notification, subscription: Subscription | None) -> bool:
    return (subscription is not None and notification.status == "committed"
            and notification.seq is not None and int(notification.seq) > int(subscription.from_seq)
            and (not notification.to_ids or subscription.user_id in notification.to_ids))


def _visible(subscription: Subscription, after_seq: int) -> Iterator[Notification]:
    """The inbox of one subscription, oldest first, lazily (pages of the by_topic index)."""
    start = max(int(subscription.from_seq), after_seq)
    addressed = Notification.to_ids.does_not_exist() | Notification.to_ids.contains(subscription.user_id)
    return Notification.by_topic.query(subscription.topic, Notification.seq > start, filter_condition=addressed,
                                       page_size=PAGE)


def _with_status(user_id: str, notifications: list[Notification]) -> list[dict]:
    seen = {r.notification_id for r in Receipt.batch_get([(user_id, n.id) for n in notifications])}
    return [{**publishing.view(n), "status": "seen" if n.id in seen else "unread"} for n in notifications]


def _page(user_id: str, subscriptions: list[Subscription], after_seq: int, status: str | None,
          limit: int) -> list[dict]:
    """The first `limit` inbox entries after `after_seq`, filtered by status, in seq order within each topic.

    A client takes the last entry's seq as its next cursor, so a topic's entries must never come out of seq
    order: ``created_at`` is the publisher's clock when the publish started, and concurrent publishes commit
    (take their seq) in another order. Topics are interleaved by ``created_at`` without reordering any one.
    """
    per_topic: list[list[dict]] = []
    for subscription in subscriptions:
        found: list[dict] = []
        batch: list[Notification] = []
        for notification in _visible(subscription, after_seq):
            batch.append(notification)
            if len(batch) == PAGE:
                found += [e for e in _with_status(user_id, batch) if status is None or e["status"] == status]
                batch = []
                if len(found) >= limit:
                    break
        if batch and len(found) < limit:
            found += [e for e in _with_status(user_id, batch) if status is None or e["status"] == status]
        per_topic.append(found[:limit])
    # heapq.merge only ever takes the head of a list: each topic keeps its seq order
    merged = heapq.merge(*per_topic, key=lambda e: (e["created_at"] or "", e["topic"]))
    return list(itertools.islice(merged, limit))


def _limit(value, default: int) -> int:
    limit = validation.optional_int({"limit": value}, "limit", minimum=1, maximum=validation.MAX_HISTORY_LIMIT)
    return default if limit is None else limit


def history(user_id: str, topic: str, after_seq=None, limit=None) -> dict:
    """The caller's inbox for one topic: {"notifications": [... with status], "last_seq"}."""
    subscription = subscription_of(topic, user_id)
    after = validation.optional_int({"after_seq": after_seq}, "after_seq") or 0
    notifications = _page(user_id, [subscription], after, None, _limit(limit, 50))
    current = Topic.get(subscription.topic, consistent_read=True)
    return {"notifications": notifications, "last_seq": int(current.last_seq)}


def listing(user_id: str, topic: str | None = None, status: str | None = None, after_seq=None,
            limit=None) -> dict:
    """GET /notifications: the caller's inbox (one topic or all), with the unread count over the same scope."""
    if status not in (None, "unread", "seen"):
        raise AppError("invalid_request", "status must be 'unread' or 'seen'")
    if topic:
        subscriptions = [subscription_of(topic, user_id)]
    else:
        subscriptions = list(Subscription.by_user.query(user_id))
    after = validation.optional_int({"after_seq": after_seq}, "after_seq") or 0
    notifications = _page(user_id, subscriptions, after, status, _limit(limit, 50))
    topics = {t.name: t for t in Topic.batch_get([s.topic for s in subscriptions])} if subscriptions else {}
    unread = sum(unread_count(topics[s.topic], s) for s in subscriptions if s.topic in topics)
    return {"notifications": notifications, "unread": unread}


def ack(user_id: str, notification_id: str) -> dict:
    """Mark a notification of the caller's inbox seen; only the first ack counts."""
    validation.identifier(notification_id, "notification_id")
    try:
        notification = Notification.get(notification_id, consistent_read=True)
    except DoesNotExist:
        notification = None
    subscription = find_subscription(notification.topic, user_id) if notification is not None else None
    if notification is None or not in_inbox(notification, subscription):
        raise AppError("not_found", "that notification is not in your inbox")
    try:
        Receipt(user_id, notification_id, seen_at=clock.timestamp()).save(
            condition=Receipt.notification_id.does_not_exist())
        first = True
    except PutError as e:
        if not condition_failed(e):
            raise
        first = False
    if first:
        try:
            # the same subscription it was visible in (not a later re-subscription)
            subscription.update(actions=[Subscription.seen_count.add(1)],
                                condition=Subscription.from_seq == subscription.from_seq)
        except UpdateError as e:
            if not condition_failed(e):
                raise
            subscription = find_subscription(notification.topic, user_id) or subscription
    topic = Topic.get(notification.topic, consistent_read=True)
    return {"notification_id": notification_id, "status": "seen", "unread": unread_count(topic, subscription)}


def seen(user_id: str, notification_id: str) -> dict:
    """POST /notifications/{id}/seen: the notification with its new status."""
    ack(user_id, notification_id)
    notification = Notification.get(notification_id, consistent_read=True)
    return {**publishing.view(notification), "status": "seen"}
