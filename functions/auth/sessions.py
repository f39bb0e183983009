"""Session tokens: random, stored only as their sha256, with an expiry checked on every use."""
from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from auth.models import Token, User
from core import clock, config
from core.errors import AppError


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_id(token: str) -> str:
    """An id of the session for other services (the WebSocket connections opened with it): not the token's
    hash, which is the Tokens table's key."""
    return hashlib.sha256(b"session:" + token.encode()).hexdigest()[:32]


def issue(user: User) -> dict:
    """A new session for ``user``: ``{"token", "expires_at"}`` (the token is shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    issued = clock.now()
    expires_at = int(issued + config.integer("TOKEN_TTL_SECONDS"))
    Token(_hash(token), user_id=user.id, email=user.email, created_at=_iso(issued),
          expires_at=expires_at, ttl=expires_at).save()
    return {"token": token, "expires_at": _iso(expires_at)}


def resolve(token) -> dict:
    """``{"id", "email"}`` of the session's user, or AppError unauthorized if unknown, expired or revoked."""
    if not isinstance(token, str) or not token:
        raise AppError("unauthorized", "missing token")
    try:
        session = Token.get(_hash(token))
    except Token.DoesNotExist:
        raise AppError("unauthorized", "unknown or revoked token") from None
    # DynamoDB deletes expired items only eventually (moto never does): the expiry is enforced here
    if session.expires_at <= clock.now():
        raise AppError("unauthorized", "the token has expired")
    return {"id": session.user_id, "email": session.email}


def revoke(token: str) -> dict:
    """End the session now: every service resolves tokens against this table, so it stops working everywhere.

    ``{"id", "email", "session"}`` of the session that ended (its WebSockets are the gateway's to close).
    """
    user = resolve(token)
    Token(_hash(token)).delete()
    return {**user, "session": session_id(token)}
