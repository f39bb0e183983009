"""Fan-out: push a committed notification to every live connection of its recipients, in seq order per topic.

Per recipient the only work is the frame send: user ids come from persist in one call, their connections
from one BatchGetItem per 100 users, and the frame is serialized once. Each send is a round trip to API
Gateway, so up to SENDERS of them are in flight at once (a 1,000-connection topic is not 1,000 round trips
end to end).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from core import aws, clock, services, telemetry
from gateway import PERSIST, frames, models

log = logging.getLogger(__name__)


def management_api(request_context: dict):
    """The @connections client of the API the event came from, built the way AWS documents it; one per endpoint."""
    return _management_client(f"https://{request_context['domainName']}/{request_context['stage']}")


def _management_client(endpoint: str):
    return aws.client("apigatewaymanagementapi", endpoint_url=endpoint, retries={"max_attempts": 2},
                      max_pool_connections=50)


#: PostToConnection is a round trip to API Gateway: a topic's connections are posted to this many at a time
SENDERS = 16
#: a sampled fan-out's first posts are subsegments of its trace; the others are counted on its "## fan-out"
#: subsegment instead: a subsegment per connection cost a 1,000-connection fan-out a thousand documents sent to
#: the X-Ray daemon and the SDK's work for each, in the function's CPU
TRACED_POSTS = SENDERS
_senders: ThreadPoolExecutor | None = None  # kept by the warm container
_senders_lock = threading.Lock()


def _send(post: tuple[Any, bytes, str]) -> str:
    """One frame to one connection: "sent", "gone" (the socket is closed) or "failed"."""
    client, data, connection_id = post
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
        return "sent"
    except client.exceptions.GoneException:
        return "gone"
    except Exception as e:  # one bad connection must not stop the others
        log.warning("post to %s failed: %s", connection_id, e)
    return "failed"


def to_caller(request_context: dict, data: bytes) -> str:
    """One frame to the connection the event came from (a reply on a one-way route): "sent", "gone" or "failed"."""
    return _send((management_api(request_context), data, request_context.get("connectionId", "")))


def _post_all(posts: list[tuple[Any, str, str]], data: bytes) -> int:
    """Post `data` to each (client, user id, connection id), SENDERS at a time; the number of frames sent.
    Connections found gone are forgotten.

    Each sender takes the next post itself until none is left: one task per sender, not one per post (a future,
    its lock and wake-ups per connection were ~a tenth of a 1,000-connection fan-out's CPU)."""
    global _senders
    jobs = [(client, data, connection_id) for client, _, connection_id in posts]
    outcomes: list[str] = ["failed"] * len(jobs)
    if len(jobs) > 1:
        with _senders_lock:
            if _senders is None:
                _senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="fan-out")
        pending = iter(range(len(jobs)))
        taking = threading.Lock()

        def sender(_: int) -> None:
            while True:
                with taking:
                    index = next(pending, None)
                if index is None:
                    return
                with telemetry.untraced() if index >= TRACED_POSTS else contextlib.nullcontext():
                    outcomes[index] = _send(jobs[index])

        list(_senders.map(sender, range(min(SENDERS, len(jobs)))))
    elif jobs:
        outcomes[0] = _send(jobs[0])
    for (_, user_id, connection_id), outcome in zip(posts, outcomes, strict=True):
        if outcome == "gone":
            models.remove(user_id, connection_id)  # forget it
            telemetry.count("GoneConnectionsRemoved")
    sent = outcomes.count("sent")
    telemetry.describe(connections=len(jobs), sent=sent, gone=outcomes.count("gone"),
                       failed=outcomes.count("failed"))
    return sent


def fan_out(request_context: dict | None, notification: dict, user_ids: list[str] | None = None) -> int:
    """Deliver one committed notification after the topic's previous seq, unless the topic's delivered seq has
    reached it already; the number of frames sent.

    ``request_context`` is the publish frame's (its API's @connections endpoint); None for a commit that
    transaction recovery finished, whose recipients are reached at the endpoint stored with each connection.
    ``user_ids``: the recipients, when the commit found the topic's turn there already (so persist is not asked
    for the turn); None: persist waits for the turn and names them.
    """
    topic, seq = notification["topic"], int(notification["seq"])
    if user_ids is None:
        turn = services.call(PERSIST, "delivery_turn", topic=topic, seq=seq, notification_id=notification["id"])
        if int(turn.get("delivered_seq") or 0) >= seq:
            # pushed already (transaction recovery and a slow flow may both finish one commit): once is enough,
            # and an old seq pushed after later ones would break the topic's order
            log.info("%s seq %s was delivered already", topic, seq)
            return 0
        if not turn["turn"]:
            log.warning("%s seq %s: earlier seqs still undelivered after the wait, delivering anyway", topic, seq)
        user_ids = turn["user_ids"]
    try:
        data = frames.notification(notification)
        if request_context is not None:
            client = management_api(request_context)
            connections = models.live(user_ids) if user_ids else []
            sent = _post_all([(client, user_id, connection_id) for user_id, connection_id in connections], data)
        else:
            connections = models.live_at(user_ids) if user_ids else []
            clients = {endpoint: _management_client(endpoint) for _, _, endpoint in connections}
            sent = _post_all([(clients[endpoint], user_id, connection_id)
                              for user_id, connection_id, endpoint in connections], data)
    finally:
        services.call(PERSIST, "delivered", topic=topic, seq=seq)
    telemetry.count("DeliveriesSent", sent)
    if sent:
        telemetry.milliseconds("DeliveryLatency", _since(notification.get("created_at")))
    return sent


def _since(created_at: str | None) -> float:
    """Milliseconds from a notification's created_at (ISO 8601, UTC) to now: publish -> delivery."""
    try:
        created = datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (clock.now() - created.timestamp()) * 1000)
