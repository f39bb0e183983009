"""Lambda authorizers of the WebSocket and HTTP data planes: identity sources and the IAM policy an authorizer
returns (an explicit Deny wins; otherwise some Allow must match the ARN)."""
from __future__ import annotations

import fnmatch
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.datastructures import Headers

from api_gateway import events
from api_gateway.answers import IntegrationTimeout, Refused
from api_gateway.config import Authorizer

log = logging.getLogger(__name__)


def policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """IAM's rule for an authorizer's policy: some Allow statement matches ``arn`` and no Deny does."""
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        resources = statement.get("Resource", "*")
        resources = [resources] if isinstance(resources, str) else resources or []
        if not any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def identity_present(source: str, headers: Headers, query: dict[str, str]) -> bool:
    """Whether a REQUEST authorizer's identity source (``route.request.querystring.x``, ``...header.x``) is given."""
    if source.startswith("route.request.querystring."):
        return bool(query.get(source.removeprefix("route.request.querystring.")))
    if source.startswith("route.request.header."):
        return bool(headers.get(source.removeprefix("route.request.header.")))
    return True   # stage variables and context sources are always present locally


async def authorize_connect(authorizer: Authorizer, connect_event: dict, headers: Headers,
                            query_pairs: list[tuple[str, str]],
                            call: Callable[[str, dict], Awaitable[Any]]) -> dict[str, Any]:
    """Run a WebSocket API's $connect REQUEST authorizer; the context later events carry, or Refused.

    A missing identity source is 401 without an invoke; ``Exception("Unauthorized")`` from the function is 401;
    any other failure 500, a timeout 504; a policy that does not allow the route's ARN 403.
    """
    query = dict(query_pairs)
    for source in authorizer.identity_sources:
        if not identity_present(source, headers, query):
            raise Refused(401, "Unauthorized")
    event = events.websocket_authorizer_event(connect_event)
    try:
        result = await call(authorizer.function, event)
    except IntegrationTimeout:
        raise Refused(504, "Endpoint request timed out") from None
    except Exception as exc:
        if str(exc).strip() == "Unauthorized":
            raise Refused(401, "Unauthorized") from None
        log.warning("authorizer %s failed: %s", authorizer.function, exc)
        raise Refused(500, "Internal server error") from None
    if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
        raise Refused(500, "Internal server error")
    if not policy_allows(result["policyDocument"], event["methodArn"]):
        raise Refused(403, "Forbidden")
    context = dict(result.get("context") or {})
    context["principalId"] = result.get("principalId")
    return context
