"""Chalice glue shared by the HTTP services: contract error bodies, JSON bodies, the caller's identity."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice import Chalice, Response

from core import validation
from core.errors import AppError, unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    id: str
    email: str


class ServiceApp(Chalice):
    """A Chalice app whose routes answer a raised AppError (plain Python) as the contract's error body.

    Chalice hands only its own ChaliceUnhandledError to middleware and answers any other exception with its
    500 body, so each route's view is wrapped where it is registered: the one place an AppError becomes HTTP.
    """

    def route(self, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().route(path, **kwargs)

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def answering_contract_errors(*args: Any, **view_kwargs: Any) -> Any:
                try:
                    return view(*args, **view_kwargs)
                except AppError as e:
                    return error_response(e)

            register(answering_contract_errors)
            return view

        return decorator


def service_app(name: str) -> Chalice:
    """The Chalice app of one service, with contract error handling installed."""
    app = ServiceApp(app_name=name)
    install_error_handling(app)
    return app


def error_response(error: AppError) -> Response:
    return Response(body={"error": error.to_dict()}, status_code=error.status,
                    headers={"Content-Type": "application/json"})


def install_error_handling(app: Chalice) -> None:
    """Anything else a route raises is a fault on our side: Chalice logs it and answers 500; the client gets
    ``unavailable`` with a plain sentence instead, never the exception's text.
    """

    @app.middleware("http")
    def contract_errors(event, get_response):
        response = get_response(event)
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
    """The authenticated user of the current request, or AppError unauthorized.

    API Gateway's Lambda authorizer (auth/authorizer.py) vouched for the token before the function ran, and put
    the user in ``requestContext.authorizer``: no call to the auth service.
    """
    authorizer = (app.current_request.context or {}).get("authorizer") or {}
    if not authorizer.get("user_id"):
        raise AppError("unauthorized", "missing bearer token")
    return Caller(id=authorizer["user_id"], email=authorizer.get("email", ""))
