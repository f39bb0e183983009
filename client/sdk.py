"""The Python SDK of Notifyx: the HTTP API and the WebSocket API of PROTOCOL.md for people's scripts and the tests.

Standard library plus `websockets.sync.client`; it never imports the local cloud, so it works the same against
`notifyx up`, LocalStack or a stack deployed to AWS (it only needs an endpoints file).
"""
from __future__ import annotations

import itertools
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

STATE_DIR = Path(".notifyx")
ENDPOINTS_FILE = STATE_DIR / "endpoints.json"
SESSION_FILE = STATE_DIR / "session.json"
# frames up to API Gateway's 128 KB limit, with room for the reply envelope around a 64 KB message
MAX_FRAME_BYTES = 256 * 1024
# 8,000 characters are at most 32,000 bytes of UTF-8: under API Gateway's 32 KB frame limit
FRAGMENT_CHARS = 8000


class ApiError(Exception):
    """A contract error (`code`, `message`) from the server, or a client-side failure with the same shape."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


# ------------------------------------------------------------------ endpoints and session files


def load_endpoints(path: str | os.PathLike | None = None) -> dict:
    """The endpoints of a running deployment: `path`, else $NOTIFYX_ENDPOINTS, else .notifyx/endpoints.json."""
    path = Path(path or os.environ.get("NOTIFYX_ENDPOINTS") or ENDPOINTS_FILE)
    try:
        endpoints = json.loads(path.read_text())
    except FileNotFoundError:
        hint = "run `notifyx up` or pass --endpoints"
        raise ApiError("invalid_request", f"no endpoints file at {path}: {hint}") from None
    except json.JSONDecodeError as exc:
        raise ApiError("invalid_request", f"{path} is not JSON: {exc}") from None
    for key in ("http_api", "websocket_api"):
        if not endpoints.get(key):
            raise ApiError("invalid_request", f"{path} has no {key!r}")
    return endpoints


def load_session(path: Path = SESSION_FILE) -> dict:
    """The stored login (token, user, expires_at), or unauthorized if there is none."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise ApiError("unauthorized", f"not logged in (no {path}): run `notifyx login EMAIL`") from None


def save_session(session: dict, path: Path = SESSION_FILE) -> None:
    """Store the login readable by its owner only: the token is a bearer credential."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(session, out, indent=2)
    tmp.replace(path)


# ------------------------------------------------------------------ HTTP API


class HttpApi:
    """The REST API at `endpoints["http_api"]`; every call returns the decoded body or raises ApiError."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, query: dict | None = None) -> tuple[int, Any]:
        """(status, decoded JSON body or None); contract errors are raised as ApiError."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as exc:
            payload = _decode(exc.read())
            error = payload.get("error") if isinstance(payload, dict) else None
            if isinstance(error, dict):
                raise ApiError(error.get("code", "internal"), error.get("message", ""), exc.code) from None
            raise ApiError(_code_for_status(exc.code), f"HTTP {exc.code} from {method} {path}", exc.code) from None
        except urllib.error.URLError as exc:
            raise ApiError("unavailable", f"cannot reach {self.base_url}: {exc.reason}") from None

    def register(self, email: str, password: str) -> dict:
        return self.request("POST", "/users", {"email": email, "password": password})[1]["user"]

    def login(self, email: str, password: str) -> dict:
        """{"token", "user", "expires_at"}; also makes this client use the new token."""
        session = self.request("POST", "/users/login", {"email": email, "password": password})[1]
        self.token = session["token"]
        return session

    def logout(self) -> None:
        self.request("DELETE", "/users/logout")

    def me(self) -> dict:
        return self.request("GET", "/users/self")[1]["user"]

    def inbox(self, topic: str | None = None, status: str | None = None, after_seq: int | None = None,
              limit: int | None = None) -> dict:
        """{"notifications": [...], "unread": n}: the caller's inbox."""
        query = {"topic": topic, "status": status, "after_seq": after_seq, "limit": limit}
        return self.request("GET", "/notifications", query=query)[1]

    def mark_seen(self, notification_id: str) -> dict:
        path = f"/notifications/{urllib.parse.quote(notification_id, safe='')}/seen"
        return self.request("POST", path)[1]["notification"]

    def counter(self) -> dict:
        """{"user_id", "published": n}."""
        return self.request("GET", "/counters/self")[1]

    def topic(self, name: str) -> dict:
        return self.request("GET", f"/topics/{urllib.parse.quote(name, safe='')}")[1]["topic"]

    def set_topic_status(self, name: str, status: str) -> dict:
        return self.request("PATCH", f"/topics/{urllib.parse.quote(name, safe='')}", {"status": status})[1]["topic"]


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw.decode(errors="replace")}


def _code_for_status(status: int) -> str:
    return {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
            413: "payload_too_large", 429: "rate_limited", 503: "unavailable"}.get(status, "internal")


# ------------------------------------------------------------------ WebSocket API


class Connection:
    """One authenticated WebSocket: `request()` sends an action and waits for the reply with its id, keeping
    the notification frames that arrive meanwhile in `notifications` (oldest first) for `next_notification()`."""

    _ids = itertools.count(1)

    def __init__(self, websocket_api: str, token: str, open_timeout: float = 10.0):
        self.url = _with_token(websocket_api, token)
        try:
            self.ws: ClientConnection = connect(self.url, open_timeout=open_timeout, max_size=MAX_FRAME_BYTES,
                                                close_timeout=2, legacy=True)
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ApiError(_code_for_status(status), f"WebSocket handshake refused with HTTP {status}",
                           status) from None
        except (OSError, TimeoutError) as exc:
            raise ApiError("unavailable", f"cannot reach {websocket_api}: {exc}") from None
        self.notifications: deque[dict] = deque()
        # frames of type "error" (no correlation id) and replies nobody waited for, in arrival order
        self.others: deque[dict] = deque()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.ws.close()

    def send_frame(self, frame: dict | str | bytes) -> None:
        """Send one message as is (a dict is JSON-encoded): for requests without waiting, and for bad input.

        Messages over API Gateway's 32 KB frame size go out as fragments, as its documentation asks.
        """
        message = json.dumps(frame) if isinstance(frame, dict) else frame
        if len(message) <= FRAGMENT_CHARS:
            self.ws.send(message)
        else:
            self.ws.send(message[i:i + FRAGMENT_CHARS] for i in range(0, len(message), FRAGMENT_CHARS))

    def receive(self, timeout: float | None) -> dict:
        """The next server frame, decoded; TimeoutError when none comes in time."""
        raw = self.ws.recv(timeout=timeout)
        try:
            return json.loads(raw)
        except ValueError:
            return {"type": "unparsed", "raw": raw}

    def reply(self, action: str, *, timeout: float = 30.0, **fields: Any) -> dict:
        """Send `action` with `fields` and return its whole reply frame (ok or not)."""
        frame_id = f"c{next(self._ids)}"
        self.send_frame({"action": action, "id": frame_id, **fields})
        return self.wait_reply(frame_id, timeout=timeout, alone=True)

    def wait_reply(self, frame_id: str, timeout: float = 30.0, alone: bool = False) -> dict:
        """Collect frames until the reply with `frame_id`; notifications and other frames are kept aside.

        With `alone` (no other request in flight), API Gateway's integration-timeout frame, which carries no
        id, can only be about this request: it is raised as `unavailable` instead of waiting on.
        """
        # concurrent requests answer in any order: a reply may already have arrived while waiting for another
        for kept in self.others:
            if kept.get("type") == "reply" and kept.get("id") == frame_id:
                self.others.remove(kept)
                return kept
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply to {frame_id} within {timeout}s")
            frame = self.receive(remaining)
            if frame.get("type") == "reply" and frame.get("id") == frame_id:
                return frame
            if alone and "type" not in frame and "message" in frame:
                raise ApiError("unavailable", f"the server gave up on the request: {frame['message']}")
            self._keep(frame)

    def request(self, action: str, *, timeout: float = 30.0, **fields: Any) -> dict:
        """Send `action` and return the reply's `data`; an `ok: false` reply is raised as ApiError."""
        frame = self.reply(action, timeout=timeout, **fields)
        if not frame.get("ok"):
            error = frame.get("error") or {}
            raise ApiError(error.get("code", "internal"), error.get("message", ""))
        return frame.get("data") or {}

    def next_notification(self, timeout: float = 10.0) -> dict:
        """The next notification (the inner object), from those collected or the socket; TimeoutError if none."""
        return self._next(self.notifications, timeout, "notification")

    def drain(self, quiet: float = 0.3) -> list[dict]:
        """Every notification that arrives until the socket stays quiet for `quiet` seconds, plus those kept."""
        while True:
            try:
                self._keep(self.receive(quiet))
            except TimeoutError:
                break
        drained = list(self.notifications)
        self.notifications.clear()
        return drained

    def next_other(self, timeout: float = 10.0) -> dict:
        """The next frame that is neither a notification nor an awaited reply, e.g. an `error` frame."""
        return self._next(self.others, timeout, "frame")

    def _next(self, kept: deque, timeout: float, what: str) -> dict:
        """The first of ``kept``, reading the socket (and keeping what else arrives) until there is one."""
        deadline = time.monotonic() + timeout
        while not kept:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {timeout}s")
            self._keep(self.receive(remaining))
        return kept.popleft()

    def _keep(self, frame: dict) -> None:
        if frame.get("type") == "notification":
            self.notifications.append(frame["notification"])
        else:
            self.others.append(frame)


def _with_token(websocket_api: str, token: str) -> str:
    # the token goes in the query string: browsers cannot set headers, and the template's authorizer reads it there
    separator = "&" if "?" in websocket_api else "?"
    return f"{websocket_api}{separator}token={urllib.parse.quote(token, safe='')}"


# ------------------------------------------------------------------ a logged-in user


class Client:
    """A user of one deployment: its HTTP API with the stored token, and WebSocket connections."""

    def __init__(self, endpoints: dict, token: str | None = None):
        self.endpoints = endpoints
        self.token = token
        self.http = HttpApi(endpoints["http_api"], token)

    def connect(self) -> Connection:
        if not self.token:
            raise ApiError("unauthorized", "not logged in")
        return Connection(self.endpoints["websocket_api"], self.token)
