"""Input rules from the contract, in one place."""
from __future__ import annotations

import re

from core.errors import AppError, invalid

TOPIC_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_MESSAGE_BYTES = 64 * 1024
MIN_PASSWORD_LENGTH = 8
MAX_HISTORY_LIMIT = 100
MAX_RECIPIENTS = 50


def require(body: dict, field: str, kind: type = str):
    """The field's value, or invalid_request if it is missing or of the wrong type."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    value = body.get(field)
    if value is None or (kind is str and value == ""):
        raise invalid(f"missing field: {field}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise invalid(f"{field} must be a {kind.__name__}")
    return value


def topic_name(value) -> str:
    if not isinstance(value, str) or not TOPIC_NAME.match(value):
        raise invalid("topic names are 1-64 characters of A-Z a-z 0-9 _ . : -")
    return value


def email(value) -> str:
    if not isinstance(value, str) or not EMAIL.match(value) or len(value) > 254:
        raise invalid(f"not an email address: {value!r}")
    return value.strip().lower()


def message(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("message must be a non-empty string")
    if len(value.encode()) > MAX_MESSAGE_BYTES:
        raise AppError("payload_too_large", f"message is over {MAX_MESSAGE_BYTES // 1024} KB")
    return value


def optional_int(body: dict, field: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or (maximum and value > maximum):
        bound = f"{minimum}..{maximum}" if maximum else f">= {minimum}"
        raise invalid(f"{field} must be an integer {bound}")
    return value


def recipients(value) -> list[str] | None:
    """A publish's `to`: None for every subscriber, else a de-duplicated list of 1..MAX_RECIPIENTS emails."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise invalid("to must be a non-empty list of emails")
    if len(value) > MAX_RECIPIENTS:
        raise invalid(f"to names at most {MAX_RECIPIENTS} subscribers")
    return list(dict.fromkeys(email(e) for e in value))
