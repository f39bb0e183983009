"""Topics and durable subscriptions. A topic is created by its first subscriber, who owns it.

Single-item conditional writes only: DynamoDB transactions would be exact, but the local cloud's moto
copies whole tables for each one (about 200 ms with 1,000 items), and every fact here tolerates the order used.
"""
from __future__ import annotations

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from core import clock, validation
from core.dynamodb import condition_failed
from core.errors import AppError
from persist.models import Subscription, Topic

STATUSES = ("active", "closed")


def find(name: str) -> Topic | None:
    try:
        return Topic.get(name, consistent_read=True)
    except DoesNotExist:
        return None


def get(name: str) -> Topic:
    """The topic, or AppError not_found."""
    topic = find(validation.topic_name(name))
    if topic is None:
        raise AppError("not_found", f"no topic named {name!r}")
    return topic


def view(topic: Topic) -> dict:
    """The public shape of a topic (PROTOCOL.md: GET /topics)."""
    return {"name": topic.name, "owner": topic.owner_email, "owner_id": topic.owner, "status": topic.status,
            "created_at": topic.created_at, "subscribers": int(topic.subscribers), "last_seq": int(topic.last_seq)}


def listing() -> list[Topic]:
    return sorted(Topic.scan(), key=lambda t: t.name)


def find_subscription(topic: str, user_id: str) -> Subscription | None:
    try:
        return Subscription.get(topic, user_id, consistent_read=True)
    except DoesNotExist:
        return None


def _create(name: str, user_id: str, email: str) -> bool:
    """Create the topic owned by the caller; False if it already exists."""
    topic = Topic(name, owner=user_id, owner_email=email, status="active", created_at=clock.timestamp(), last_seq=0,
                  delivered_seq=0, subscribers=0, targeted_count=0)
    try:
        topic.save(condition=Topic.name.does_not_exist())
    except PutError as e:
        if condition_failed(e):
            return False
        raise
    return True


def create(name: str, user_id: str, email: str) -> Topic:
    """POST /topics: a new topic owned (and subscribed) by the caller; AppError conflict if it exists."""
    name = validation.topic_name(name)
    if not _create(name, user_id, email):
        raise AppError("conflict", f"topic {name!r} already exists")
    subscribe(user_id, email, name)
    return get(name)


def set_status(name: str, user_id: str, status: str) -> Topic:
    """Open or close a topic; owner only."""
    if status not in STATUSES:
        raise AppError("invalid_request", "status must be 'active' or 'closed'")
    topic = get(name)
    if topic.owner != user_id:
        raise AppError("forbidden", "only the topic's owner can change it")
    topic.update(actions=[Topic.status.set(status)])
    return topic


def subscribe(user_id: str, email: str, topic: str) -> dict:
    """Subscribe the caller (creating the topic, owned by them, if it is new); idempotent."""
    name = validation.topic_name(topic)
    created = False
    current = find(name)
    if current is None:
        created = _create(name, user_id, email)
        current = find(name)
    if find_subscription(name, user_id) is None:
        # the inbox is the topic's notifications after the last_seq read here (with targeted_count
        # from the same item, so unread counts stay consistent)
        subscription = Subscription(name, user_id, email=email, created_at=clock.timestamp(), from_seq=current.last_seq,
                                    targeted_base=current.targeted_count, direct_count=0, seen_count=0)
        try:
            subscription.save(condition=Subscription.user_id.does_not_exist())
            current.update(actions=[Topic.subscribers.add(1)])
        except PutError as e:
            if not condition_failed(e):
                raise
    return subscribed(current, user_id, created=created)


def subscribed(topic: Topic, user_id: str, *, created: bool) -> dict:
    return {"topic": topic.name, "created": created, "owner": topic.owner_email,
            "can_publish": topic.owner == user_id and topic.status == "active", "last_seq": int(topic.last_seq)}


def unsubscribe(user_id: str, topic: str) -> dict:
    """End the caller's subscription (their inbox for the topic goes with it); idempotent."""
    current = get(topic)
    try:
        Subscription(current.name, user_id).delete(condition=Subscription.user_id.exists())
    except DeleteError as e:
        if not condition_failed(e):
            raise
        return {"topic": current.name}
    current.update(actions=[Topic.subscribers.add(-1)])
    return {"topic": current.name}


def subscription_of(topic: str, user_id: str) -> Subscription:
    """The caller's subscription, or AppError not_found (no inbox for a topic they are not subscribed to)."""
    name = validation.topic_name(topic)
    subscription = find_subscription(name, user_id)
    if subscription is None:
        if find(name) is None:
            raise AppError("not_found", f"no topic named {name!r}")
        raise AppError("not_found", f"not subscribed to {name!r}")
    return subscription
