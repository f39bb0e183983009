"""The gateway's internal API (services.call("gateway", op, ...)): closing a session's sockets."""
from __future__ import annotations

import logging

from core import aws
from core.dispatch import internal_handler
from gateway import delivery, models

log = logging.getLogger(__name__)


def close_session(user_id: str, session: str) -> dict:
    """Close every WebSocket opened with the session's token (logout), through @connections DELETE."""
    connection_ids, endpoint, _ = models.end_session(user_id, session)
    closed = 0
    if connection_ids and endpoint:
        client = aws.client("apigatewaymanagementapi", endpoint_url=endpoint, retries={"max_attempts": 2})
        for connection_id in connection_ids:
            try:
                client.delete_connection(ConnectionId=connection_id)
                closed += 1
            except client.exceptions.GoneException:
                pass  # already closed
    return {"closed": closed}


def deliver(notification: dict) -> dict:
    """Push a notification whose commit transaction recovery finished (no publish frame waits for it) to its
    recipients' live sockets, in its topic's seq order, and let the topic's next seq go."""
    return {"sent": delivery.fan_out(None, notification)}


handler = internal_handler({"close_session": close_session, "deliver": deliver})
