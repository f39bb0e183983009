"""$connect and $disconnect: keep the Connections table in step with the sockets."""
from __future__ import annotations

import logging
from typing import Any

from core import telemetry
from gateway import models

log = logging.getLogger(__name__)


def _who(event: dict) -> tuple[str | None, str | None, str]:
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    return authorizer.get("user_id"), authorizer.get("email"), context.get("connectionId", "")


def _session(event: dict) -> str | None:
    return ((event.get("requestContext") or {}).get("authorizer") or {}).get("session")


@telemetry.instrumented
def on_connect(event: dict, context: Any) -> dict:
    """The authorizer let the user in: remember the connection under their user id (and its session)."""
    user_id, email, connection_id = _who(event)
    if not user_id or not connection_id:
        return {"statusCode": 401, "body": "Unauthorized"}
    request_context = event.get("requestContext") or {}
    endpoint = (f"https://{request_context['domainName']}/{request_context['stage']}"
                if request_context.get("domainName") and request_context.get("stage") else None)
    telemetry.correlate(connection_id=connection_id)
    models.add(user_id, email, connection_id, session=_session(event), endpoint=endpoint)
    telemetry.count("ConnectionsOpened")
    return {"statusCode": 200}


@telemetry.instrumented
def on_disconnect(event: dict, context: Any) -> dict:
    """Forget the connection (API Gateway calls this once per connection, best effort)."""
    user_id, _, connection_id = _who(event)
    if user_id and connection_id:
        telemetry.correlate(connection_id=connection_id)
        models.remove(user_id, connection_id, session=_session(event))
        telemetry.count("ConnectionsClosed")
    else:
        log.warning("disconnect without an authorized user: %s", connection_id)
    return {"statusCode": 200}
