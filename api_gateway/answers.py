"""The WebSocket data plane's errors and wire answers, apart from the gateway and the @connections API that use them.

- @connections errors (GoneException, PayloadTooLargeException, ForbiddenException) and their HTTP answers;
- ``refusal``: why a plain HTTP @connections request is refused before it is read (SigV4 presence, no browsers);
- handshake refusals (``Refused``, ``handshake_refusal``): the HTTP answer instead of a 101.
"""
from __future__ import annotations

import json

from websockets.datastructures import Headers
from websockets.http11 import Response

class GoneError(Exception):
    """410 GoneException: no such connection, or it is closed."""

    status = 410
    code = "GoneException"

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"Connection {connection_id} is gone")
        self.connection_id = connection_id


class PayloadTooLargeError(Exception):
    """413 PayloadTooLargeException: post_to_connection data above the message size limit."""

    status = 413
    code = "PayloadTooLargeException"


class ForbiddenError(Exception):
    """403 ForbiddenException: a @connections request that names no connection of this stage."""

    status = 403
    code = "ForbiddenException"


Answer = tuple[int, dict[str, str], bytes]


def error_answer(exc: GoneError | PayloadTooLargeError | ForbiddenError) -> Answer:
    """The @connections API's answer to one of its errors."""
    body = json.dumps({"message": str(exc) or None}).encode()
    return exc.status, {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code}, body


_SIGV4_PARTS = ("Credential=", "SignedHeaders=", "Signature=")


def refusal(headers: dict[str, str]) -> Answer | None:
    """Why a plain HTTP @connections request is refused before it is read, or None.

    The @connections API takes IAM (SigV4) auth only, as on AWS: an unsigned request is 403. The local cloud has
    no real credentials to check a signature against, so the signature's presence is what is required; a
    browser (any request with an ``Origin``) is refused outright, so no web page can post to or close a socket.
    Header names are lower case.
    """
    if "origin" in headers:
        return _refused("ForbiddenException", "Forbidden")
    authorization = headers.get("authorization", "")
    if not authorization:
        return _refused("MissingAuthenticationTokenException", "Missing Authentication Token")
    if not authorization.startswith("AWS4-HMAC-SHA256 ") or not all(p in authorization for p in _SIGV4_PARTS):
        return _refused("IncompleteSignatureException",
                        "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' (SigV4)")
    return None


def _refused(error_type: str, message: str) -> Answer:
    return 403, {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}, \
        json.dumps({"message": message}).encode()


class Refused(Exception):
    """The handshake is refused with this HTTP status and ``{"message": ...}`` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class IntegrationTimeout(Exception):
    """An integration (or authorizer) did not answer within the API's integration timeout."""


REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
           502: "Bad Gateway", 504: "Gateway Timeout"}


def handshake_refusal(status: int, message: str) -> Response:
    """The HTTP answer that refuses a WebSocket handshake, as API Gateway writes it."""
    body = json.dumps({"message": message}).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    return Response(status, REASONS.get(status, "Error"), headers, body)
