"""Internal avatar service (the gateway's `generate_avatar`): op "generate" -> a presigned URL of the PNG."""
from __future__ import annotations

from avatar import gallery, render
from core.dispatch import internal_handler


def generate(name, size=render.DEFAULT_SIZE, type="github", **_) -> dict:  # noqa: A002 - the contract's field
    """Render (or find) the avatar and answer where to fetch it."""
    name, size, kind = render.check(name, size if size is not None else render.DEFAULT_SIZE, type or "github")
    return {"url": gallery.url(gallery.ensure(name, size, kind)), "content_type": gallery.CONTENT_TYPE, "size": size}


handler = internal_handler({"generate": generate})
