"""Server frames (PROTOCOL.md, "WebSocket API"): replies, error frames, notification frames."""
from __future__ import annotations

import json

from core.errors import AppError


def reply(action: str, frame_id, data) -> dict:
    return {"type": "reply", "id": frame_id, "action": action, "ok": True, "data": data}


def failure(action: str | None, frame_id, error: AppError) -> dict:
    """The one place an AppError becomes a WebSocket answer: a failed reply, or an error frame without action."""
    if action is None:
        frame = {"type": "error", "error": error.to_dict()}
        if frame_id is not None:
            frame["id"] = frame_id
        return frame
    return {"type": "reply", "id": frame_id, "action": action, "ok": False, "error": error.to_dict()}


def notification(notification: dict) -> bytes:
    return json.dumps({"type": "notification", "notification": notification}).encode()


def response(frame: dict) -> dict:
    """A two-way route's integration response: API Gateway sends the body back on the socket."""
    return {"statusCode": 200, "body": json.dumps(frame)}
