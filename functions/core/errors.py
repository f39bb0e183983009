"""Errors are values with a code from the public contract (docs: PROTOCOL.md, "Error codes")."""
from __future__ import annotations

from chalice import ChaliceUnhandledError

STATUS = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "aborted": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
}


class AppError(ChaliceUnhandledError):
    """A failure the caller should see, with its contract code and a readable message.

    A ChaliceUnhandledError, so that Chalice hands it to core.http's middleware instead of answering 500.
    """

    def __init__(self, code: str, message: str):
        if code not in STATUS:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, error: dict) -> AppError:
        code = error.get("code", "internal")
        return cls(code if code in STATUS else "internal", error.get("message", ""))


def invalid(message: str) -> AppError:
    return AppError("invalid_request", message)
