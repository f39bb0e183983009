"""The Notifyx client for people and scripts: the HTTP API and the WebSocket API of PROTOCOL.md, and the
`notifyx register|login|logout|subscribe|listen|publish|inbox` commands built on them.

Standard library plus `websockets.sync.client`; it never imports the local cloud, so it works the same against
`notifyx up`, LocalStack or a stack deployed to AWS (it only needs an endpoints file).
"""
from __future__ import annotations

import argparse
import functools
import getpass
import itertools
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
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
        deadline = time.monotonic() + timeout
        while not self.notifications:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no notification within {timeout}s")
            self._keep(self.receive(remaining))
        return self.notifications.popleft()

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
        deadline = time.monotonic() + timeout
        while not self.others:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no frame within {timeout}s")
            self._keep(self.receive(remaining))
        return self.others.popleft()

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


# ------------------------------------------------------------------ the commands


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register the user commands on the `notifyx` parser (infra/cli.py calls this)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoints", metavar="FILE", help="endpoints file (default: $NOTIFYX_ENDPOINTS or "
                                                               f"{ENDPOINTS_FILE})")

    credentials = argparse.ArgumentParser(add_help=False)
    credentials.add_argument("email")
    credentials.add_argument("--password", help="default: $NOTIFYX_PASSWORD, else a prompt")

    p = subparsers.add_parser("register", parents=[common, credentials], help="create a user")
    p.set_defaults(func=_readable_errors(cmd_register))
    p = subparsers.add_parser("login", parents=[common, credentials],
                              help=f"log in and store the token in {SESSION_FILE}")
    p.set_defaults(func=_readable_errors(cmd_login))
    p = subparsers.add_parser("logout", parents=[common], help="revoke the stored token")
    p.set_defaults(func=_readable_errors(cmd_logout))

    p = subparsers.add_parser("subscribe", parents=[common], help="subscribe to topics (a new topic is yours)")
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.set_defaults(func=_readable_errors(cmd_subscribe))

    p = subparsers.add_parser("listen", parents=[common],
                              help="subscribe and print notifications as they arrive (reconnects and catches up)")
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--count", type=int, help="exit after this many notifications")
    p.add_argument("--timeout", type=float, help="exit after this many seconds")
    p.set_defaults(func=_readable_errors(cmd_listen))

    p = subparsers.add_parser("publish", parents=[common], help="publish a notification to a topic you own")
    p.add_argument("topic")
    p.add_argument("message")
    p.add_argument("--to", action="append", metavar="EMAIL", help="only this subscriber (repeatable)")
    p.add_argument("--idempotency-key", metavar="K", help="publishing again with the same key publishes once")
    p.add_argument("--json", action="store_true", help="print the reply as JSON")
    p.set_defaults(func=_readable_errors(cmd_publish))

    p = subparsers.add_parser("inbox", parents=[common], help="list your notifications")
    p.add_argument("--topic", metavar="T")
    p.add_argument("--unread", action="store_true", help="only those not seen yet")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    p.set_defaults(func=_readable_errors(cmd_inbox))


def run(args: argparse.Namespace) -> int:
    """Run a parsed user command; contract errors are printed readably and give exit status 1."""
    return args.func(args)


def _readable_errors(command):
    """Wrap a command so that whoever dispatches it (this module or infra/cli.py) gets an exit status."""

    @functools.wraps(command)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return command(args) or 0
        except ApiError as exc:
            print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        except (TimeoutError, ConnectionClosed) as exc:
            print(f"error: unavailable: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130

    return wrapped


def _password(args: argparse.Namespace) -> str:
    return args.password or os.environ.get("NOTIFYX_PASSWORD") or getpass.getpass(f"password for {args.email}: ")


def _client(args: argparse.Namespace, *, logged_in: bool = True) -> Client:
    endpoints = load_endpoints(args.endpoints)
    token = load_session()["token"] if logged_in else None
    return Client(endpoints, token)


def cmd_register(args: argparse.Namespace) -> int:
    user = _client(args, logged_in=False).http.register(args.email, _password(args))
    print(f"registered {user['email']} (id {user['id']})")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    client = _client(args, logged_in=False)
    session = client.http.login(args.email, _password(args))
    save_session({"token": session["token"], "user": session["user"], "expires_at": session.get("expires_at"),
                  "http_api": client.endpoints["http_api"]})
    print(f"logged in as {session['user']['email']} until {session.get('expires_at')}")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    try:
        _client(args).http.logout()
    except ApiError as exc:
        if exc.code != "unauthorized":  # an expired or revoked token: the session is over already
            raise
    SESSION_FILE.unlink(missing_ok=True)
    print("logged out")
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    with _client(args).connect() as conn:
        for topic in args.topics:
            data = conn.request("subscribe", topic=topic)
            state = "created, yours" if data.get("created") else f"owner {data.get('owner')}"
            print(f"subscribed to {data['topic']} ({state}, last seq {data.get('last_seq')})")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"topic": args.topic, "message": args.message}
    if args.to:
        fields["to"] = args.to
    if args.idempotency_key:
        fields["idempotency_key"] = args.idempotency_key
    with _client(args).connect() as conn:
        data = conn.request("publish", **fields)
    if args.json:
        print(json.dumps(data))
    else:
        print(f"published {data['notification_id']} as {args.topic} #{data['seq']} "
              f"to {data['recipients']} recipient(s)")
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    inbox = _client(args).http.inbox(args.topic, "unread" if args.unread else None, limit=args.limit)
    if args.json:
        print(json.dumps(inbox))
        return 0
    for note in inbox["notifications"]:
        print(_line(note, note.get("status")))
    print(f"{inbox['unread']} unread")
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    """Subscribe, print notifications; when the connection drops, reconnect and print what was missed."""
    client = _client(args)
    listener = Listener(client, args.topics)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    printed = 0
    for note in listener.notifications(deadline):
        print(json.dumps(note) if args.json else _line(note), flush=True)
        printed += 1
        if args.count and printed >= args.count:
            break
    listener.close()
    return 0


class Listener:
    """Notifications of some topics, exactly once and in seq order per topic, across reconnects: after a drop
    it reconnects with backoff and asks `history` for what came after the last seq it has seen."""

    def __init__(self, client: Client, topics: list[str], max_backoff: float = 10.0, log=None):
        self.client = client
        self.topics = topics
        self.cursors: dict[str, int] = {}
        self.max_backoff = max_backoff
        self.conn: Connection | None = None
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def _open(self) -> list[dict]:
        """Connect, subscribe, and return what was missed since the cursors (empty on the first connect)."""
        self.conn = self.client.connect()
        missed: list[dict] = []
        for topic in self.topics:
            data = self.conn.request("subscribe", topic=topic)
            if topic not in self.cursors:
                self.cursors[topic] = int(data.get("last_seq") or 0)
                continue
            while True:
                page = self.conn.request("history", topic=topic, after_seq=self.cursors[topic], limit=100)
                batch = [n for n in page["notifications"] if n["seq"] > self.cursors[topic]]
                missed.extend(batch)
                if batch:
                    self.cursors[topic] = max(self.cursors[topic], batch[-1]["seq"])
                if len(page["notifications"]) < 100:
                    break
        # live frames that raced with the catch-up are filtered by the cursors as they are read
        positions = ", ".join(f"{topic} after #{seq}" for topic, seq in self.cursors.items())
        self.log(f"listening to {positions}")
        return missed

    def notifications(self, deadline: float | None = None):
        """Yield notifications until `deadline` (monotonic) or forever."""
        backoff = 0.5
        pending: deque[dict] = deque()
        while deadline is None or time.monotonic() < deadline:
            try:
                if self.conn is None:
                    pending.extend(self._open())
                    backoff = 0.5
                while pending:
                    yield pending.popleft()
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    note = self.conn.next_notification(timeout=min(remaining, 1.0) if remaining is not None else 1.0)
                except TimeoutError:
                    continue
                topic = note.get("topic")
                if topic in self.cursors and note["seq"] <= self.cursors[topic]:
                    continue
                self.cursors[topic] = note["seq"]
                yield note
            except (ConnectionClosed, OSError) as exc:
                self._drop()
                self.log(f"connection lost ({exc}); reconnecting in {backoff:.1f}s")
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except ApiError as exc:
                if exc.code not in ("unavailable", "rate_limited"):
                    raise
                self._drop()
                self.log(f"{exc}; retrying in {backoff:.1f}s")
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - the socket is already broken; closing is best effort
                pass
        self.conn = None

    def close(self) -> None:
        self._drop()


def _line(note: dict, status: str | None = None) -> str:
    mark = f" [{status}]" if status else ""
    return f"{note.get('topic')} #{note.get('seq')} from {note.get('from')}{mark}: {note.get('message')}"


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.client COMMAND ...`: the user commands alone, without the local cloud's."""
    parser = argparse.ArgumentParser(prog="notifyx", description="Notifyx user commands.")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
