"""The auth REST API: register, log in, log out, who am I."""
import logging

from chalice import Response

from auth import sessions, users
from core import services
from core.errors import AppError
from core.http import bearer_token, json_body, service_app
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
    try:
        # the token stops working everywhere at once: WebSockets opened with it are closed too
        services.call("GATEWAY_SERVICE_FUNCTION", "close_session", user_id=ended["id"], session=ended["session"])
    except AppError as e:  # the token is revoked whatever happens; its sockets' frames are refused anyway
        log.error("logout of %s: its WebSockets were not closed: %s", ended["id"], e.message)
    return Response(body="", status_code=204)


@app.route("/users/self", methods=["GET"])
def self() -> dict:
    identity = sessions.resolve(bearer_token(app))
    return {"user": users.by_email(identity["email"]).public()}
