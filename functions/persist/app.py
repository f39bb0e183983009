"""persist's HTTP API: topics and the caller's inbox (PROTOCOL.md, "HTTP API")."""
from __future__ import annotations

from chalice import Response

from core import validation
from core.http import caller, json_body, service_app
from persist import inbox, topics

app = service_app("notifyx-persist")


@app.route("/topics", methods=["GET"])
def list_topics() -> dict:
    caller(app)
    return {"topics": [topics.view(t) for t in topics.listing()]}


@app.route("/topics", methods=["POST"])
def create_topic() -> Response:
    user = caller(app)
    body = json_body(app)
    topic = topics.create(validation.require(body, "name"), user.id, user.email)
    return Response(body={"topic": topics.view(topic)}, status_code=201)


@app.route("/topics/{name}", methods=["GET"])
def get_topic(name: str) -> dict:
    caller(app)
    return {"topic": topics.view(topics.get(name))}


@app.route("/topics/{name}", methods=["PATCH"])
def patch_topic(name: str) -> dict:
    user = caller(app)
    status = validation.require(json_body(app), "status")
    return {"topic": topics.view(topics.set_status(name, user.id, status))}


@app.route("/notifications", methods=["GET"])
def list_notifications() -> dict:
    user = caller(app)
    query = app.current_request.query_params or {}
    return inbox.listing(user.id, topic=query.get("topic"), status=query.get("status"),
                         after_seq=query.get("after_seq"), limit=query.get("limit"))


@app.route("/notifications/{id}/seen", methods=["POST"])
def mark_seen(id: str) -> dict:  # noqa: A002 - the path parameter's name in template.yaml
    user = caller(app)
    return {"notification": inbox.seen(user.id, id)}
