"""REST API Lambda authorizers (TOKEN and REQUEST), with API Gateway's result cache and its flush.

As API Gateway does:
- a TOKEN authorizer reads one header; a request without it (or not matching identityValidationExpression) is
  401 without an invoke. A REQUEST authorizer with identity sources is 401 when one of them is missing;
- the authorizer's answer (principalId, policyDocument, context) is cached per identity for
  AuthorizerResultTtlInSeconds (0: never cached). A cached answer costs no invoke; its policy is evaluated
  against each request's method ARN, so a policy cached from one route decides the others too;
- the function raising ``Exception("Unauthorized")`` is 401 (not cached); a Deny, or no Allow, is 403; any other
  failure or a malformed answer is 500 (AuthorizerConfigurationException);
- a Cognito user pool authorizer (:func:`cognito`) checks the token in its header against the user pools it names
  (api_gateway/tokens.py): a method without authorization scopes takes an ID token, one with scopes an access
  token with one of them; anything else is 401. The claims reach the integration as
  requestContext.authorizer.claims, every value a string;
- ``FlushStageAuthorizersCache`` (``DELETE /restapis/{id}/stages/{stage}/cache/authorizers``) drops every cached
  result of the stage. The emulator answers it through :func:`flush_request` (infra/moto_patches.py routes it).
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from api_gateway import tokens
from api_gateway.authorizers import policy_decision
from api_gateway.config import Invoke, RestAuthorizer

log = logging.getLogger(__name__)

#: API Gateway's answers: (status, body, x-amzn-ErrorType, gateway response type a template may override)
UNAUTHORIZED = (401, {"message": "Unauthorized"}, "UnauthorizedException", "UNAUTHORIZED")
DENIED = (403, {"Message": "User is not authorized to access this resource with an explicit deny"},
          "AccessDeniedException", "ACCESS_DENIED")
NOT_ALLOWED = (403, {"Message": "User is not authorized to access this resource"}, "AccessDeniedException",
               "ACCESS_DENIED")
BROKEN = (500, {"message": None}, "AuthorizerConfigurationException", "AUTHORIZER_CONFIGURATION_ERROR")
FAILED = (500, {"message": None}, "AuthorizerFailureException", "AUTHORIZER_FAILURE")
#: at most this many cached results per gateway (oldest dropped first)
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class Decision:
    """What an authorizer decided for one request: an error answer, or the context for the integration."""

    refusal: tuple[int, dict, str, str] | None = None
    context: dict[str, Any] | None = None
    invoked: bool = False


def evaluate(answer: dict, method_arn: str) -> tuple[int, dict, str, str] | None:
    """None if the policy allows `method_arn`; else API Gateway's 403 answer (explicit deny, or no allow)."""
    decision = policy_decision(answer.get("policyDocument") or {}, method_arn)
    return None if decision == "allow" else DENIED if decision == "deny" else NOT_ALLOWED


def _well_formed(answer: Any) -> bool:
    return isinstance(answer, dict) and isinstance(answer.get("principalId"), (str, int)) \
        and isinstance(answer.get("policyDocument"), dict) \
        and isinstance(answer.get("context") or {}, dict)


class AuthorizerCache:
    """Authorizer results per (stage, authorizer, identity), each until its TTL; flushed per stage."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: tuple, ttl: float, answer: dict) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def flush(self, api_id: str, stage: str) -> int:
        """Forget every result of one stage; how many there were."""
        with self._lock:
            stale = [k for k in self._entries if k[0] == api_id and k[1] == stage]
            for key in stale:
                del self._entries[key]
            return len(stale)

    def __len__(self) -> int:
        return len(self._entries)


def _identity(authorizer: RestAuthorizer, headers: dict[str, str], query: dict[str, str]) -> tuple | None:
    """The values the result is cached by; None when one is missing (401 without an invoke)."""
    values = []
    for source in authorizer.identity_sources:
        kind, _, name = source.removeprefix("method.request.").partition(".")
        value = headers.get(name.lower()) if kind == "header" else query.get(name) if kind == "querystring" else None
        if not value:
            return None
        values.append(value)
    return tuple(values)


def authorize(authorizer: RestAuthorizer, invoke: Invoke, cache: AuthorizerCache, *, api_id: str, stage: str,
              method_arn: str, headers: dict[str, str], query: dict[str, str],
              request_event: dict) -> Decision:
    """Run (or reuse) `authorizer` for one request."""
    identity = _identity(authorizer, headers, query)
    if identity is None and (authorizer.type == "TOKEN" or authorizer.identity_sources):
        return Decision(UNAUTHORIZED)
    if authorizer.type == "TOKEN" and authorizer.validation_expression \
            and not re.fullmatch(authorizer.validation_expression, identity[0]):
        return Decision(UNAUTHORIZED)
    # a REQUEST authorizer without identity sources is not cached (API Gateway requires them for caching)
    cacheable = authorizer.ttl > 0 and bool(identity)
    key = (api_id, stage, authorizer.name, identity)
    answer = cache.get(key) if cacheable else None
    invoked = answer is None
    if answer is None:
        if authorizer.type == "TOKEN":
            event = {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": method_arn}
        else:
            event = {**request_event, "type": "REQUEST", "methodArn": method_arn}
        started = time.monotonic()
        try:
            answer = invoke(authorizer.function, event)
        except Exception as exc:  # noqa: BLE001 - the function's errorMessage decides between 401 and 500
            if str(exc) == "Unauthorized":
                return Decision(UNAUTHORIZED, invoked=True)
            log.info("authorizer %s failed: %s", authorizer.function, exc)
            return Decision(FAILED, invoked=True)
        if not _well_formed(answer):
            log.info("authorizer %s answered without principalId/policyDocument", authorizer.function)
            return Decision(BROKEN, invoked=True)
        answer = {**answer, "integrationLatency": int((time.monotonic() - started) * 1000)}
        if cacheable:
            cache.put(key, authorizer.ttl, answer)
    refusal = evaluate(answer, method_arn)
    if refusal is not None:
        return Decision(refusal, invoked=invoked)
    context = {k: v for k, v in (answer.get("context") or {}).items() if isinstance(v, (str, int, float, bool))}
    context.update(principalId=answer["principalId"], integrationLatency=answer.get("integrationLatency", 0))
    return Decision(context=context, invoked=invoked)


def cognito(authorizer: RestAuthorizer, scopes: tuple[str, ...], keys: tokens.KeySource,
            headers: dict[str, str]) -> Decision:
    """A Cognito user pool authorizer's decision for one request (no function runs, nothing is cached)."""
    kind, _, name = authorizer.identity_sources[0].removeprefix("method.request.").partition(".")
    token = headers.get(name.lower()) if kind == "header" else None
    if not token:
        return Decision(UNAUTHORIZED)
    try:
        claims = tokens.verify(token, issuers=authorizer.issuers, keys=keys)
        if claims.get("token_use") != ("access" if scopes else "id"):
            raise tokens.Refused(f"an {'access' if scopes else 'ID'} token is needed")
        tokens.require_scopes(claims, scopes, status=401)
    except tokens.Refused as refused:
        log.info("Cognito authorizer %s refused the token: %s", authorizer.name, refused)
        return Decision(UNAUTHORIZED)
    return Decision(context={"claims": tokens.rest_claims(claims)})


# --------------------------------------------------------------------------- FlushStageAuthorizersCache
_caches: dict[tuple[str, str], AuthorizerCache] = {}
_registry_lock = threading.Lock()


def register(api_id: str, stage: str, cache: AuthorizerCache) -> None:
    """Make `cache` the one FlushStageAuthorizersCache of (api_id, stage) flushes (RestGateway.start)."""
    with _registry_lock:
        _caches[(api_id, stage)] = cache


def unregister(cache: AuthorizerCache) -> None:
    with _registry_lock:
        for key in [k for k, v in _caches.items() if v is cache]:
            del _caches[key]


_FLUSH_PATH = re.compile(r"/restapis/(?P<api>[^/]+)/stages/(?P<stage>[^/]+)/cache/authorizers/?$")


def flush_request(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
    """moto's handler of ``DELETE /restapis/{id}/stages/{stage}/cache/authorizers``: 202, or 404 for a stage
    that is not served here."""
    from urllib.parse import unquote, urlsplit

    match = _FLUSH_PATH.search(urlsplit(full_url).path)
    if request.method != "DELETE" or match is None:
        return 404, {"x-amzn-ErrorType": "NotFoundException"}, json.dumps({"message": "Not Found"})
    api_id, stage = unquote(match["api"]), unquote(match["stage"])
    with _registry_lock:
        cache = _caches.get((api_id, stage))
    if cache is None:
        return 404, {"x-amzn-ErrorType": "NotFoundException"}, json.dumps(
            {"message": f"Invalid stage identifier specified: {api_id}/{stage}"})
    flushed = cache.flush(api_id, stage)
    log.info("FlushStageAuthorizersCache %s/%s: %d cached result(s) dropped", api_id, stage, flushed)
    return 202, {}, ""
