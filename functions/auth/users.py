"""Registering users and checking their credentials."""
from __future__ import annotations

import math
import uuid

from pynamodb.exceptions import PutError

from auth import passwords
from auth.models import User
from core import clock, validation
from core.dynamodb import condition_failed
from core.errors import AppError, invalid

MAX_PASSWORD_LENGTH = 1024
# an account takes this many wrong passwords in a row freely; then each one locks its logins for twice as long
FREE_FAILURES = 5
MAX_BACKOFF_SECONDS = 300


def _password(value) -> str:
    if not isinstance(value, str):
        raise invalid("password must be a string")
    if len(value) < validation.MIN_PASSWORD_LENGTH:
        raise invalid(f"password must be at least {validation.MIN_PASSWORD_LENGTH} characters")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise invalid(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    return value


def register(email: str, password: str) -> User:
    """Create a user, or AppError conflict if the email is taken."""
    email = validation.email(email)
    password = _password(password)
    user = User(email, id=f"u-{uuid.uuid4().hex}", password=passwords.hash_password(password),
                created_at=clock.timestamp("seconds"))
    try:
        user.save(condition=User.email.does_not_exist())
    except PutError as e:
        if condition_failed(e):
            raise AppError("conflict", f"{email} is already registered") from None
        raise
    return user


def authenticate(email, password) -> User:
    """The user with these credentials, or AppError unauthorized (the same for an unknown email)."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise invalid("email and password must be strings")
    email = validation.email(email)
    if len(password) > MAX_PASSWORD_LENGTH:  # scrypt's cost grows with the input: refuse before hashing
        raise invalid(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    try:
        user = User.get(email, consistent_read=True)
    except User.DoesNotExist:
        passwords.check_decoy(password)
        raise AppError("unauthorized", "wrong email or password") from None
    now = clock.now()
    if user.locked_until and user.locked_until > now:
        # even the right password waits: guessing must not go faster than the backoff
        wait = math.ceil(user.locked_until - now)
        raise AppError("rate_limited", f"too many failed logins for this account; try again in {wait} s")
    if not passwords.check_password(password, user.password):
        _failed(user, now)
        raise AppError("unauthorized", "wrong email or password")
    if user.failed_logins:
        user.update(actions=[User.failed_logins.remove(), User.locked_until.remove()])
    return user


def _failed(user: User, now: float) -> None:
    """Count a wrong password (atomically: guesses come in parallel) and lock the account's logins after
    FREE_FAILURES of them in a row: 1 s, then 2 s, 4 s ... up to MAX_BACKOFF_SECONDS."""
    user.update(actions=[User.failed_logins.add(1)])
    beyond = int(user.failed_logins) - FREE_FAILURES - 1
    if beyond >= 0:
        user.update(actions=[User.locked_until.set(int(now + min(2 ** min(beyond, 20), MAX_BACKOFF_SECONDS)) + 1)])


def by_email(email: str) -> User:
    """The user with this email, or AppError unauthorized (its session outlived it)."""
    try:
        return User.get(email)
    except User.DoesNotExist:
        raise AppError("unauthorized", "the user no longer exists") from None
