"""Avatar REST API: GET /avatars/{name}.png?size=&type= answers the PNG (no auth)."""
from __future__ import annotations

from chalice import Response

from avatar import gallery, render
from core.errors import invalid
from core.http import service_app

app = service_app("notifyx-avatar")
app.api.binary_types.append(gallery.CONTENT_TYPE)


@app.route("/avatars/{filename}", methods=["GET"])
def avatar_png(filename: str) -> Response:
    if not filename.endswith(".png"):
        raise invalid("avatars are served as <name>.png")
    query = app.current_request.query_params or {}
    name, size, kind = render.check(filename[: -len(".png")], query.get("size", render.DEFAULT_SIZE),
                                    query.get("type", "github"))
    return Response(body=gallery.avatar(name, size, kind), status_code=200,
                    headers={"Content-Type": gallery.CONTENT_TYPE, "Cache-Control": "public, max-age=86400"})
