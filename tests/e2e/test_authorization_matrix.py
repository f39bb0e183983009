"""The authorization matrix (issue 9): every HTTP route and WebSocket action of PROTOCOL.md, called with no
token, a garbage one, a logged-out one, another user's and the right one.

"Another user's" is Bob's valid token used on what Alice owns (her topic, her notification, her mail): it acts
as Bob, so it gets Bob's view or the contract's refusal, never Alice's data. Each expected answer is the
contract's: 401 `unauthorized` without a live token, `forbidden` for what only the owner may do, `not_found`
for what is not in the caller's inbox.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from client.sdk import ApiError, Connection, HttpApi

pytestmark = pytest.mark.timeout(120)
PASSWORD = "correct horse battery"
CREDENTIALS = ("none", "garbage", "logged_out", "other", "right")


class World:
    """Alice owns a topic with one notification she can see and a mail; Bob is another user."""

    def __init__(self, cloud):
        self.endpoints = cloud.endpoints
        self.http_api = cloud.endpoints["http_api"]
        suffix = uuid.uuid4().hex[:8]
        self.alice, self.bob = f"alice-{suffix}@example.com", f"bob-{suffix}@example.com"
        for email in (self.alice, self.bob):
            HttpApi(self.http_api).register(email, PASSWORD)
        self.alice_token = self.login(self.alice)
        self.bob_token = self.login(self.bob)
        self.alice_id = HttpApi(self.http_api, self.alice_token).me()["id"]
        self.topic = f"matrix-{suffix}"
        with Connection(self.endpoints["websocket_api"], self.alice_token) as conn:
            conn.request("subscribe", topic=self.topic)
            self.notification = conn.request("publish", topic=self.topic, message="for alice's inbox")
            self.mail = conn.request("send_email", to=self.bob, message="hello bob")["mail_id"]
            self.spare_topic = f"spare-{suffix}"  # for unsubscribe, which would end Alice's inbox of the other
            conn.request("subscribe", topic=self.spare_topic)

    def login(self, email: str) -> str:
        return HttpApi(self.http_api).login(email, PASSWORD)["token"]

    def token(self, credential: str) -> str | None:
        """A token of that kind; "right" and "logged_out" are fresh ones of Alice's (logout spends them)."""
        if credential == "none":
            return None
        if credential == "garbage":
            return "garbage-" + uuid.uuid4().hex
        if credential == "other":
            return self.bob_token
        if credential == "other_fresh":
            return self.login(self.bob)
        token = self.login(self.alice)
        if credential == "logged_out":
            HttpApi(self.http_api, token).logout()
        return token


@pytest.fixture(scope="module")
def world(cloud_pool):
    return World(cloud_pool.deployment())


def http(world: World, method: str, path: str, token: str | None, body=None) -> tuple[int, object]:
    headers = {"Accept": "application/json, image/png"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(world.http_api + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw


# route -> (method, path, body) and the answer per credential: a status, or (status, error code)
UNAUTHORIZED = (401, "unauthorized")
PRIVATE = {"none": UNAUTHORIZED, "garbage": UNAUTHORIZED, "logged_out": UNAUTHORIZED}


def routes(world: World) -> dict[str, tuple[str, str, object, dict]]:
    n = world.notification["notification_id"]
    return {
        "POST /users": ("POST", "/users", {"email": f"new-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD},
                        {c: 201 for c in CREDENTIALS}),
        "POST /users/login": ("POST", "/users/login", {"email": world.bob, "password": PASSWORD},
                              {c: 200 for c in CREDENTIALS}),
        "DELETE /users/logout": ("DELETE", "/users/logout", None, {**PRIVATE, "other": 204, "right": 204}),
        "GET /users/self": ("GET", "/users/self", None, {**PRIVATE, "other": 200, "right": 200}),
        "GET /topics": ("GET", "/topics", None, {**PRIVATE, "other": 200, "right": 200}),
        "POST /topics": ("POST", "/topics", {"name": f"m-{uuid.uuid4().hex[:10]}"},
                         {**PRIVATE, "other": 201, "right": 201}),
        "GET /topics/{name}": ("GET", f"/topics/{world.topic}", None, {**PRIVATE, "other": 200, "right": 200}),
        "PATCH /topics/{name}": ("PATCH", f"/topics/{world.topic}", {"status": "active"},
                                 {**PRIVATE, "other": (403, "forbidden"), "right": 200}),
        "GET /notifications": ("GET", "/notifications", None, {**PRIVATE, "other": 200, "right": 200}),
        "POST /notifications/{id}/seen": ("POST", f"/notifications/{n}/seen", None,
                                          {**PRIVATE, "other": (404, "not_found"), "right": 200}),
        "GET /counters/self": ("GET", "/counters/self", None, {**PRIVATE, "other": 200, "right": 200}),
        "POST /mail": ("POST", "/mail", {"to": world.alice, "message": "hi"}, {**PRIVATE, "other": 202, "right": 202}),
        "GET /mail/{id}": ("GET", f"/mail/{world.mail}", None,
                           {**PRIVATE, "other": (403, "forbidden"), "right": 200}),
        "GET /avatars/{name}.png": ("GET", "/avatars/alice.png?size=32", None, {c: 200 for c in CREDENTIALS}),
        "GET /health": ("GET", "/health", None, {c: 200 for c in CREDENTIALS}),
    }


ROUTES = ["POST /users", "POST /users/login", "DELETE /users/logout", "GET /users/self", "GET /topics",
          "POST /topics", "GET /topics/{name}", "PATCH /topics/{name}", "GET /notifications",
          "POST /notifications/{id}/seen", "GET /counters/self", "POST /mail", "GET /mail/{id}",
          "GET /avatars/{name}.png", "GET /health"]


def test_the_matrix_covers_every_route_of_the_protocol():
    from pathlib import Path

    protocol = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    section = protocol.split("## HTTP API", 1)[1].split("## WebSocket API", 1)[0]
    documented = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert documented == set(ROUTES)
    actions = protocol.split("## WebSocket API", 1)[1].split("## Error codes", 1)[0]
    assert {line.split("`")[1] for line in actions.splitlines() if line.startswith("| `")} == set(ACTIONS)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("route", ROUTES)
def test_http_route(world, route, credential):
    method, path, body, expected = routes(world)[route]
    want = expected[credential]
    # Bob logging out ends only his own session: a fresh one, so that his token stays live for the others
    token = world.token("other_fresh" if (route, credential) == ("DELETE /users/logout", "other") else credential)
    status, answer = http(world, method, path, token, body)
    want_status, want_code = want if isinstance(want, tuple) else (want, None)
    assert status == want_status, (route, credential, status, answer)
    if want_code:
        assert answer["error"]["code"] == want_code, answer
    if credential == "other" and status == 200 and isinstance(answer, dict):
        assert world.alice_id not in json.dumps(answer) or route in ("GET /topics", "GET /topics/{name}"), answer
    if route == "GET /users/self" and status == 200:
        assert answer["user"]["email"] == (world.bob if credential == "other" else world.alice)
    if route == "GET /notifications" and credential == "other":
        assert answer["notifications"] == []  # Bob's inbox, not Alice's


# action -> (fields, answer for Bob's socket on Alice's things, answer for Alice's own socket): "ok" or a code
ACTIONS = {
    "subscribe": ({"topic": "{spare_topic}"}, "ok", "ok"),
    "unsubscribe": ({"topic": "{spare_topic}"}, "ok", "ok"),
    "publish": ({"topic": "{topic}", "message": "matrix"}, "forbidden", "ok"),
    "history": ({"topic": "{topic}"}, "not_found", "ok"),
    "ack": ({"notification_id": "{notification}"}, "not_found", "ok"),
    "send_email": ({"to": "{alice}", "message": "hi"}, "ok", "ok"),
    "generate_avatar": ({"name": "alice", "size": 32}, "ok", "ok"),
    "ping": ({}, "ok", "ok"),
}


def fields_for(world: World, fields: dict) -> dict:
    values = {"{topic}": world.topic, "{notification}": world.notification["notification_id"],
              "{alice}": world.alice, "{spare_topic}": world.spare_topic}
    return {k: values.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}


@pytest.mark.parametrize("credential", ["none", "garbage", "logged_out"])
def test_a_socket_needs_a_live_token(world, credential):
    with pytest.raises(ApiError) as refused:
        Connection(world.endpoints["websocket_api"], world.token(credential) or "")
    assert (refused.value.status, refused.value.code) == UNAUTHORIZED


@pytest.mark.parametrize("credential", ["other", "right"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_websocket_action(world, action, credential):
    fields, as_other, as_owner = ACTIONS[action]
    want = as_other if credential == "other" else as_owner
    token = world.bob_token if credential == "other" else world.alice_token
    with Connection(world.endpoints["websocket_api"], token) as conn:
        reply = conn.reply(action, **fields_for(world, fields))
    if want == "ok":
        assert reply["ok"] is True, reply
    else:
        assert reply["ok"] is False and reply["error"]["code"] == want, reply
    if credential == "other" and reply["ok"]:
        assert world.alice_id not in json.dumps(reply["data"]) or action == "subscribe", reply


def test_a_socket_whose_token_is_logged_out_answers_unauthorized_or_is_closed(world):
    token = world.token("right")
    conn = Connection(world.endpoints["websocket_api"], token)
    assert conn.request("ping") == {"pong": True}
    HttpApi(world.http_api, token).logout()
    try:
        reply = conn.reply("history", topic=world.topic, timeout=10)
    except ConnectionClosed:
        return  # closed by the logout
    finally:
        conn.close()
    assert reply["ok"] is False and reply["error"]["code"] == "unauthorized", reply
