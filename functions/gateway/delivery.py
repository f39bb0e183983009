"""Fan-out: push a committed notification to every live connection of its recipients, in seq order per topic.

Per recipient the only work is the frame send: user ids come from persist in one call, their connections
from one BatchGetItem per 100 users, and the frame is serialized once.
"""
from __future__ import annotations

import logging
from datetime import datetime

from core import aws, clock, services, telemetry
from gateway import frames, models

log = logging.getLogger(__name__)

PERSIST = "persist"   # the Cloud Map service (template.yaml)



def management_api(request_context: dict):
    """The @connections client of the API the event came from, built the way AWS documents it; one per endpoint."""
    return _management_client(f"https://{request_context['domainName']}/{request_context['stage']}")


def _management_client(endpoint: str):
    return aws.client("apigatewaymanagementapi", endpoint_url=endpoint, retries={"max_attempts": 2},
                      max_pool_connections=50)


def _send(client, data: bytes, user_id: str, connection_id: str) -> bool:
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
        return True
    except client.exceptions.GoneException:
        models.remove(user_id, connection_id)  # the socket is closed: forget it
        telemetry.count("GoneConnectionsRemoved")
    except Exception as e:  # one bad connection must not stop the others
        log.warning("post to %s failed: %s", connection_id, e)
    return False


def fan_out(request_context: dict | None, notification: dict) -> int:
    """Deliver one committed notification after the topic's previous seq; the number of frames sent.

    ``request_context`` is the publish frame's (its API's @connections endpoint); None for a commit that
    transaction recovery finished, whose recipients are reached at the endpoint stored with each connection.
    """
    topic, seq = notification["topic"], int(notification["seq"])
    turn = services.call(PERSIST, "delivery_turn", topic=topic, seq=seq, notification_id=notification["id"])
    if not turn["turn"]:
        log.warning("%s seq %s: earlier seqs still undelivered after the wait, delivering anyway", topic, seq)
    try:
        data = frames.notification(notification)
        # one thread: the sends are CPU (botocore, then an in-process queue), so threads only add GIL churn
        if request_context is not None:
            client = management_api(request_context)
            connections = models.live(turn["user_ids"]) if turn["user_ids"] else []
            sent = sum(_send(client, data, *c) for c in connections)
        else:
            connections = models.live_at(turn["user_ids"]) if turn["user_ids"] else []
            sent = sum(_send(_management_client(endpoint), data, user_id, connection_id)
                       for user_id, connection_id, endpoint in connections)
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
