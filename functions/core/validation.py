"""Input rules from the contract, in one place.

Patterns are matched with ``fullmatch``: ``$`` would also match before a trailing newline ("release\\n").
"""
from __future__ import annotations

import json
import re

from core.errors import AppError, invalid

TOPIC_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
DIGITS = re.compile(r"[0-9]{1,16}")  # ASCII only: str.isdigit() also accepts "²", which int() refuses
MAX_MESSAGE_BYTES = 64 * 1024
MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_LENGTH = 8
MAX_HISTORY_LIMIT = 100
MAX_RECIPIENTS = 50
MAX_INTEGER = 2**53 - 1  # what every JSON client reads exactly, and well inside DynamoDB's numbers
MAX_FRAME_ID_LENGTH = 128
MAX_ECHO = 40  # characters of a client's input an error message may quote


def quote(value) -> str:
    """A short repr of client input for an error message: never longer than about MAX_ECHO characters."""
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "..."


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


def json_document(raw: str | bytes | None, what: str = "the body"):
    """The parsed JSON value, or invalid_request if it is not JSON (or nested deeper than the parser can go)."""
    try:
        return json.loads(raw or "{}")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser's stack
        raise invalid(f"{what} is not valid JSON") from None


def json_object(raw: str | bytes | None, what: str = "the body") -> dict:
    """A JSON object of Unicode text, or invalid_request: not JSON, not an object, too deep, or a lone surrogate."""
    document = json_document(raw, what)
    if not isinstance(document, dict):
        raise invalid(f"{what} must be a JSON object")
    text_only(document)
    return document


def text_only(document) -> None:
    """invalid_request naming the first field whose key or string is not Unicode text.

    JSON may spell a lone surrogate ("\\ud800"); Python keeps it, and it fails later where the text is encoded
    (DynamoDB, SES, hashing). Checked iteratively, so a deeply nested document cannot exhaust the stack.
    """
    pending: list[tuple[str, object]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                field = f"{path}.{key}" if path else str(key)
                if not _is_text(key):
                    raise invalid(f"a field name in {_shown(path) or 'the body'} is not valid Unicode text")
                pending.append((field, item))
        elif isinstance(value, list):
            pending += [(f"{path}[{i}]", item) for i, item in enumerate(value)]
        elif isinstance(value, str) and not _is_text(value):
            raise invalid(f"{_shown(path)} is not valid Unicode text (it holds a lone surrogate)")


def _shown(field: str) -> str:
    return field if len(field) <= MAX_ECHO else field[:MAX_ECHO] + "..."


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def topic_name(value) -> str:
    if not isinstance(value, str) or not TOPIC_NAME.fullmatch(value):
        raise invalid("topic names are 1-64 characters of A-Z a-z 0-9 _ . : -")
    return value


def identifier(value, field: str) -> str:
    """An id the service issued (notification, mail): 1-128 characters of A-Z a-z 0-9 _ . : -."""
    if not isinstance(value, str) or not value:
        raise invalid(f"missing field: {field}")
    if not IDENTIFIER.fullmatch(value):
        raise invalid(f"{field} is not a valid id")
    return value


def email(value, field: str = "email") -> str:
    if not isinstance(value, str) or len(value) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(value):
        raise invalid(f"{field} is not an email address: {quote(value)}")
    return value.strip().lower()


def message(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("message must be a non-empty string")
    if len(value) > MAX_MESSAGE_BYTES or len(value.encode()) > MAX_MESSAGE_BYTES:
        raise AppError("payload_too_large", f"message is over {MAX_MESSAGE_BYTES // 1024} KB")
    return value


def integer(value, field: str, *, minimum: int = 0, maximum: int = MAX_INTEGER) -> int:
    """An integer minimum..maximum, given as a JSON number or a string of ASCII digits; else invalid_request."""
    if isinstance(value, str) and DIGITS.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        bound = f"{minimum}..{maximum}" if maximum != MAX_INTEGER else f">= {minimum}"
        raise invalid(f"{field} must be an integer {bound}")
    return value


def optional_int(body: dict, field: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    return integer(value, field, minimum=minimum, maximum=MAX_INTEGER if maximum is None else maximum)


def frame_id(value):
    """A client frame's correlation id, echoed in its reply: a string of at most MAX_FRAME_ID_LENGTH or a number."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MAX_INTEGER):
        return value
    if isinstance(value, str) and len(value) <= MAX_FRAME_ID_LENGTH and _is_text(value):
        return value
    raise invalid(f"id must be a string of at most {MAX_FRAME_ID_LENGTH} characters or a number")


def recipients(value) -> list[str] | None:
    """A publish's `to`: None for every subscriber, else a de-duplicated list of 1..MAX_RECIPIENTS emails."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise invalid("to must be a non-empty list of emails")
    if len(value) > MAX_RECIPIENTS:
        raise invalid(f"to names at most {MAX_RECIPIENTS} subscribers")
    return list(dict.fromkeys(email(e, "to") for e in value))
