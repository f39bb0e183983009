"""The counter REST API: the caller's published count."""
from chalice import Chalice

from core.http import caller, install_error_handling
from counter import counts

app = Chalice(app_name="notifyx-counter")
install_error_handling(app)


@app.route("/counters/self", methods=["GET"])
def self() -> dict:
    user = caller(app)
    return {"user_id": user.id, "published": counts.published(user.id)}
