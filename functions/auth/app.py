"""The auth REST API: register, log in, log out, who am I."""
import logging

from chalice import Response

from auth import sessions, users
from core import aws, services
from core.errors import AppError, unavailable
from core.http import bearer_token, caller, json_body, service_app
from core.validation import require

log = logging.getLogger(__name__)

app = service_app("notifyx-auth")


@app.route("/users", methods=["POST"])
def register() -> Response:
    body = json_body(app)
    user = users.register(require(body, "email"), require(body, "password"))
    return Response(body={"user": user.public()}, status_code=201)


@app.route("/users/login", methods=["POST"])
def login() -> dict:
    body = json_body(app)
    user = users.authenticate(require(body, "email"), require(body, "password"))
    session = sessions.issue(user)
    return {"token": session["token"], "user": user.public(), "expires_at": session["expires_at"]}


@app.route("/users/logout", methods=["DELETE"])
def logout() -> Response:
    ended = sessions.revoke(bearer_token(app))
    _flush_authorizer_cache()
    try:
        # the token stops working everywhere at once: WebSockets opened with it are closed too
        services.call("gateway", "close_session", user_id=ended["id"], session=ended["session"])
    except AppError as e:  # the token is revoked whatever happens; its sockets' frames are refused anyway
        log.error("logout of %s: its WebSockets were not closed: %s", ended["id"], e.message)
    return Response(body="", status_code=204)


def _flush_authorizer_cache() -> None:
    """API Gateway keeps the authorizer's answer per token (AuthorizerResultTtlInSeconds): without this the
    revoked token would keep working until it expired there. FlushStageAuthorizersCache drops every cached
    answer of the stage this request came through (AWS has no per-token flush): the other users' next
    request each costs one authorizer invoke."""
    context = app.current_request.context or {}
    try:
        aws.client("apigateway").flush_stage_authorizers_cache(restApiId=context["apiId"],
                                                               stageName=context["stage"])
    except Exception as e:
        # the session is gone from the table, but a cached answer may still let the token in: say so
        log.error("logout: FlushStageAuthorizersCache failed: %s", e)
        raise unavailable("auth") from None


@app.route("/users/self", methods=["GET"])
def self() -> dict:
    return {"user": users.by_email(caller(app).email).public()}
