"""Who owns each topic, as this warm container has learned it from persist.

A topic's owner never changes: persist creates a topic with its first subscriber as owner (a conditional put) and
has no transfer and no deletion. So a publish asks persist for the owner only of topics this container has not
seen, and a publisher's next publishes skip that call (a Lambda invocation, a breaker read and a GetItem).
Ownership and the topic's status are checked again by persist's prepare, inside the two-phase commit: this check
only refuses a non-owner early, before a transaction is started.
"""
from __future__ import annotations

from core import services
from gateway import PERSIST

#: topics remembered per container; when full it starts again (a clear is one step: no eviction order to keep)
KEPT = 4096

_owners: dict[str, str] = {}


def owner_of(topic: str) -> str:
    """The topic's owner (a user id); AppError not_found from persist if there is no such topic (not kept)."""
    owner = _owners.get(topic)
    if owner is None:
        owner = str(services.call(PERSIST, "topic", topic=topic)["owner_id"])
        if len(_owners) >= KEPT:
            _owners.clear()
        _owners[topic] = owner
    return owner


def forget() -> None:
    """Start as a cold container does (tests)."""
    _owners.clear()
