"""persist's internal API for the gateway (services.call("persist", op, ...))."""
from __future__ import annotations

from core.dispatch import internal_handler
from persist import delivery, inbox, topics


def subscribe(user_id: str, email: str, topic: str) -> dict:
    return topics.subscribe(user_id, email, topic)


def unsubscribe(user_id: str, topic: str, email: str | None = None) -> dict:
    return topics.unsubscribe(user_id, topic)


def topic(topic: str, user_id: str | None = None, email: str | None = None) -> dict:
    return topics.view(topics.get(topic))


def history(user_id: str, topic: str, after_seq=None, limit=None, email: str | None = None) -> dict:
    return inbox.history(user_id, topic, after_seq=after_seq, limit=limit)


def ack(user_id: str, notification_id: str, email: str | None = None) -> dict:
    return inbox.ack(user_id, notification_id)


handler = internal_handler({
    "subscribe": subscribe,
    "unsubscribe": unsubscribe,
    "topic": topic,
    "history": history,
    "ack": ack,
    "recipients": delivery.recipients,
    "delivery_turn": delivery.delivery_turn,
    "delivered": delivery.delivered,
})
