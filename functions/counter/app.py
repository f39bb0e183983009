"""The counter REST API: the caller's published count."""

from core.http import caller, service_app
from counter import counts

app = service_app("notifyx-counter")


@app.route("/counters/self", methods=["GET"])
def self() -> dict:
    user = caller(app)
    return {"user_id": user.id, "published": counts.published(user.id)}
