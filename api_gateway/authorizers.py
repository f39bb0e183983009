"""Lambda authorizers of the WebSocket and HTTP data planes: identity sources and the IAM policy an authorizer
returns (an explicit Deny wins; otherwise some Allow must match the ARN)."""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.datastructures import Headers

from api_gateway import events
from api_gateway.answers import IntegrationTimeout, Refused
from api_gateway.config import Authorizer

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)   # a cached authorizer policy is evaluated on every request
def _iam_pattern(resource: str) -> re.Pattern:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource) + r"\Z")


def _statement_matches(statement: dict[str, Any], arn: str) -> bool:
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions or []
    if not any(a in ("*", "execute-api:*", "execute-api:Invoke") for a in actions):
        return False
    resources = statement.get("Resource", [])
    resources = [resources] if isinstance(resources, str) else resources or []
    return any(_iam_pattern(str(r)).match(arn) for r in resources)


def policy_decision(policy: dict[str, Any], arn: str) -> str | None:
    """IAM's rule for an authorizer's policy on ``arn``: "deny" if a Deny statement matches (it wins), "allow" if
    an Allow does, None if none matches (not allowed either)."""
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    matching = {str(s.get("Effect")).lower() for s in statements if isinstance(s, dict) and _statement_matches(s, arn)}
    return "deny" if "deny" in matching else "allow" if "allow" in matching else None


def policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """Whether the policy allows ``arn`` (policy_decision)."""
    return policy_decision(policy, arn) == "allow"


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
