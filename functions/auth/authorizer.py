"""The WebSocket $connect REQUEST authorizer: a live session token allows the connection."""
from __future__ import annotations

from typing import Any

from auth import sessions
from core import telemetry
from core.errors import AppError


def _token(event: dict) -> str | None:
    # browsers cannot set headers on a WebSocket, so the query string comes first
    token = (event.get("queryStringParameters") or {}).get("token")
    if token:
        return token
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@telemetry.instrumented
def handler(event: dict, context: Any) -> dict:
    """An IAM Allow policy for ``methodArn`` with the user in ``context``; raising "Unauthorized" means 401."""
    token = _token(event)
    try:
        user = sessions.resolve(token)
    except AppError:
        raise Exception("Unauthorized") from None  # the exact message API Gateway maps to 401
    return {
        "principalId": user["id"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        # every event of the connection carries this: logout closes the connections of its session
        "context": {"user_id": user["id"], "email": user["email"], "session": sessions.session_id(token)},
    }
