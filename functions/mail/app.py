"""Mail REST API: POST /mail queues a mail (202), GET /mail/{id} tells how its delivery went."""
from __future__ import annotations

from chalice import Response

from core.http import caller, json_body, service_app
from mail import outbox

app = service_app("notifyx-mail")


@app.route("/mail", methods=["POST"])
def send_mail() -> Response:
    user = caller(app)
    body = json_body(app)
    mail = outbox.queue_mail(user.id, user.email, to=body.get("to"), subject=body.get("subject"),
                             message=body.get("message"))
    return Response(body={"mail": {"id": mail.id, "status": mail.status}}, status_code=202)


@app.route("/mail/{id}", methods=["GET"])
def mail_status(id: str) -> dict:  # noqa: A002 - the path parameter's name in template.yaml
    user = caller(app)
    return {"mail": outbox.mail_of(user.id, id).public()}
