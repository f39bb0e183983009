"""Errors are values with a code from the public contract (docs: PROTOCOL.md, "Error codes").

What a client reads is the code and one plain sentence: never a function name, a stack or Python's exception
text (those go to the log), and never more than MAX_MESSAGE_LENGTH characters, whatever input it quotes.

Plain Python: the WebSocket, 2PC and internal-service code raise these without importing a web framework;
core.http maps them to HTTP answers, gateway.frames to WebSocket answers, core.dispatch to the internal protocol.
"""
from __future__ import annotations

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
}
MAX_MESSAGE_LENGTH = 300


class AppError(Exception):
    """A failure the caller should see, with its contract code and a readable message."""

    def __init__(self, code: str, message: str):
        if code not in STATUS:
            raise ValueError(f"unknown error code {code!r}")
        message = str(message)
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[: MAX_MESSAGE_LENGTH - 3] + "..."
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
        code = error.get("code") if isinstance(error, dict) else None
        if code not in STATUS:
            return unavailable()
        return cls(code, error.get("message") or "")


def invalid(message: str) -> AppError:
    return AppError("invalid_request", message)


def unavailable(service: str | None = None) -> AppError:
    """The contract's answer when something failed on our side; the detail belongs in the log."""
    what = f"the {service} service" if service else "the service"
    return AppError("unavailable", f"{what} is unavailable; try again shortly")
