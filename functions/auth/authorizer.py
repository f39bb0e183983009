"""The Lambda authorizer of both APIs: a live session token allows the request.

- the REST API's TOKEN authorizer (``event["authorizationToken"]`` is the Authorization header). API Gateway
  caches its answer per token (AuthorizerResultTtlInSeconds) and applies the cached policy to every route, so
  the policy allows the whole stage; logout flushes the cache (auth/app.py);
- the WebSocket API's $connect REQUEST authorizer (a ``token`` query parameter or an Authorization header).
"""
from __future__ import annotations

from typing import Any

from auth import sessions
from core import telemetry
from core.errors import AppError


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token(event: dict) -> str | None:
    if event.get("type") == "TOKEN":
        return _bearer(event.get("authorizationToken"))
    # browsers cannot set headers on a WebSocket, so the query string comes first
    token = (event.get("queryStringParameters") or {}).get("token")
    if token:
        return token
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return _bearer(headers.get("authorization"))


def _resource(event: dict) -> str:
    """What the policy allows: a REST token the whole stage (the cached answer decides every route), a
    WebSocket $connect its own route."""
    arn = event["methodArn"]
    if event.get("type") == "TOKEN":
        api, _, rest = arn.partition("/")
        stage = rest.split("/", 1)[0]
        return f"{api}/{stage}/*"
    return arn


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
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": _resource(event)}],
        },
        # every event of the connection carries this: logout closes the connections of its session
        "context": {"user_id": user["id"], "email": user["email"], "session": sessions.session_id(token)},
    }
