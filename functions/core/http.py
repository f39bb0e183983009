"""Chalice glue shared by the HTTP services: contract error bodies, JSON bodies, the caller's identity."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from chalice import Chalice, Response

from core import services, validation
from core.errors import AppError, unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    id: str
    email: str


def service_app(name: str) -> Chalice:
    """The Chalice app of one service, with contract error handling installed."""
    app = Chalice(app_name=name)
    install_error_handling(app)
    return app


def error_response(error: AppError) -> Response:
    return Response(body={"error": error.to_dict()}, status_code=error.status,
                    headers={"Content-Type": "application/json"})


def install_error_handling(app: Chalice) -> None:
    """Every AppError raised by a route becomes the contract's ``{"error": {...}}`` with its status.

    Anything else a route raises is a fault on our side: Chalice logs it and answers 500; the client gets
    ``unavailable`` with a plain sentence instead, never the exception's text.
    """

    @app.middleware("http")
    def contract_errors(event, get_response):
        try:
            response = get_response(event)
        except AppError as e:
            return error_response(e)
        if response.status_code >= 500 and not _is_contract_error(response):
            return error_response(unavailable())
        return response


def _is_contract_error(response: Response) -> bool:
    return isinstance(response.body, dict) and isinstance(response.body.get("error"), dict)


def json_body(app: Chalice) -> dict:
    """The request's JSON object body, or invalid_request (not JSON, not an object, not Unicode text)."""
    return validation.json_object(app.current_request.raw_body)


def bearer_token(app: Chalice) -> str:
    header = app.current_request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError("unauthorized", "missing bearer token")
    return token.strip()


def caller(app: Chalice) -> Caller:
    """The authenticated user of the current request (asks the auth service), or AppError unauthorized."""
    user = services.call("AUTH_VERIFY_FUNCTION", "verify", token=bearer_token(app))
    return Caller(id=user["id"], email=user["email"])
