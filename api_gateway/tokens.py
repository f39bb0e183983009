"""JSON Web Token checks of API Gateway's JWT authorizers (HTTP APIs) and Cognito user pool authorizers (REST APIs).

As the API Gateway developer guide lists them for a JWT authorizer: the token (alone, or after "Bearer ") is
decoded; its `kid` must name a key of the issuer's key set and its signature (RSA: RS256, RS384, RS512) verify
with it; `iss` must be the configured issuer; `aud`, or `client_id` when there is no `aud`, one of the configured
audiences; `exp` after now, `nbf` and `iat` before it. A route's authorization scopes need one of them in the
token's `scope` (or `scp`). The key set comes from a :data:`KeySource` (the local cloud answers a Cognito user
pool of its emulator from the emulator, and fetches other issuers' OpenID configuration).

:func:`http_claims` and :func:`rest_claims` write the claims the way each API passes them to the integration: every
value a string.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

#: an issuer -> its JSON Web Key Set ({"keys": [...]}), or None when it cannot be had (the request is then 401)
KeySource = Callable[[str], "dict | None"]

ALGORITHMS = ("RS256", "RS384", "RS512")
log = logging.getLogger(__name__)
#: how long an issuer's discovered key set is kept (API Gateway refreshes its copy about every two hours)
KEY_SET_TTL = 7200.0
_discovered: dict[str, tuple[float, dict | None]] = {}
_discovered_lock = threading.Lock()


def discovered_key_set(issuer: str, timeout: float = 5.0) -> dict | None:
    """An issuer's key set the way API Gateway finds it: its OpenID configuration
    (``{issuer}/.well-known/openid-configuration``) names the ``jwks_uri``. Kept for :data:`KEY_SET_TTL`; a
    failure (no network, no such document) is kept for a minute and refuses the requests meanwhile."""
    with _discovered_lock:
        entry = _discovered.get(issuer)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    found, ttl = None, 60.0
    try:
        if not issuer.startswith("https://"):
            raise ValueError("an issuer is an https URL")
        with urllib.request.urlopen(issuer.rstrip("/") + "/.well-known/openid-configuration",
                                    timeout=timeout) as answer:
            jwks_uri = json.loads(answer.read())["jwks_uri"]
        with urllib.request.urlopen(jwks_uri, timeout=timeout) as answer:
            found, ttl = json.loads(answer.read()), KEY_SET_TTL
    except Exception as exc:  # noqa: BLE001 - whatever failed, the issuer's tokens cannot be checked
        log.warning("JWT authorizer: no key set for the issuer %s (%s): its tokens are refused", issuer, exc)
    with _discovered_lock:
        _discovered[issuer] = (time.monotonic() + ttl, found)
    return found


class Refused(Exception):
    """The token does not authorize the request: 401 (not valid), or 403 (valid, without a scope the route needs)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


def _segment(text: str) -> dict:
    padded = text + "=" * (-len(text) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def verify(token: str, *, issuers: Iterable[str], keys: KeySource, audiences: Iterable[str] | None = None,
           now: float | None = None) -> dict[str, Any]:
    """The claims of `token` when it passes every check; else :class:`Refused` (401)."""
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("not a JWT")
    try:
        header, unverified = _segment(parts[0]), _segment(parts[1])
    except (ValueError, UnicodeError, RecursionError):  # RecursionError: JSON nested deeper than Python parses
        raise Refused("not a JWT") from None
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or issuer not in set(issuers):
        raise Refused("iss is not the authorizer's issuer")
    if header.get("alg") not in ALGORITHMS:
        raise Refused("not an RSA-signed token")
    key_set = keys(issuer)
    if not key_set or not any(k.get("kid") == header.get("kid") for k in key_set.get("keys", [])):
        raise Refused("kid names no key of the issuer")
    try:
        claims = dict(jwt.decode(token, _imported(key_set), algorithms=list(ALGORITHMS)).claims)
    except (JoseError, ValueError, TypeError):
        raise Refused("the signature does not verify") from None
    now = time.time() if now is None else now
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or isinstance(expires, bool) or expires <= now:
        raise Refused("expired")
    for moment in ("nbf", "iat"):
        value = claims.get(moment)
        if value is not None and (not isinstance(value, (int, float)) or value > now):
            raise Refused(f"{moment} is in the future")
    if audiences is not None:
        allowed = set(audiences)
        audience = claims.get("aud", claims.get("client_id"))
        named = audience if isinstance(audience, list) else [audience]
        if not allowed & {a for a in named if isinstance(a, str)}:
            raise Refused("the token does not have a valid audience")  # API Gateway's words
    return claims


#: key sets already imported, by the identity of the dict a KeySource answered (it answers the same cached dict
#: for an issuer, so each set is imported once; the dict is kept, so its id is not reused)
_imports: dict[int, tuple[dict, KeySet]] = {}


def _imported(key_set: dict) -> KeySet:
    entry = _imports.get(id(key_set))
    if entry is None or entry[0] is not key_set:
        if len(_imports) > 64:  # a source that answers a new dict each time: keep the newest few
            _imports.clear()
        entry = _imports[id(key_set)] = (key_set, KeySet.import_key_set(key_set))
    return entry[1]


def token_scopes(claims: dict[str, Any]) -> list[str]:
    """The token's scopes: its `scope` (or `scp`) claim, space-separated or a list."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str)]
    return []


def require_scopes(claims: dict[str, Any], wanted: Iterable[str], status: int = 403) -> None:
    """Refused (`status`) unless the token has at least one of `wanted` (nothing wanted: nothing to check)."""
    wanted = list(wanted)
    if wanted and not set(wanted) & set(token_scopes(claims)):
        raise Refused("no scope of the route", status)


def _text(value: Any, join: Callable[[list[str]], str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list):
        return join([_text(v, join) for v in value if v is not None])
    return json.dumps(value, separators=(",", ":"))


def http_claims(claims: dict[str, Any]) -> dict[str, str]:
    """An HTTP API's `requestContext.authorizer.jwt.claims`: numbers and booleans as text, a list as "[a b]", an
    object as its JSON, a null claim left out (what API Gateway was measured to send)."""
    return {name: _text(value, lambda items: f"[{' '.join(items)}]") for name, value in claims.items()
            if value is not None}


def rest_claims(claims: dict[str, Any]) -> dict[str, str]:
    """A REST API's `requestContext.authorizer.claims` from a Cognito user pool authorizer: every value a string,
    `exp` and `iat` as dates ("Fri Jul 29 18:52:53 UTC 2016"), a list comma-separated."""
    rendered = {}
    for name, value in claims.items():
        if value is None:
            continue
        if name in ("exp", "iat") and isinstance(value, (int, float)) and not isinstance(value, bool):
            rendered[name] = datetime.fromtimestamp(value, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        else:
            rendered[name] = _text(value, ",".join)
    return rendered
