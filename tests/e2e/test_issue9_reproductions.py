"""The attacks of issue 9, replayed as they were made against a running local cloud, with what each must do now."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(120)


def call(cloud, method: str, path: str, body: bytes | None = None, token: str | None = None):
    headers = {"Accept": "application/json, image/png", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(cloud.endpoints["http_api"] + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("method, path, body, field", [
    ("GET", "/notifications?after_seq=%C2%B2", None, "after_seq"),
    ("GET", "/notifications?limit=%C2%B2", None, "limit"),
    ("GET", "/avatars/a%0a.png", None, "name"),
    ("GET", "/avatars/bob.png?size=%C2%B2", None, "size"),
    ("POST", "/users", b'{"email": "x\\ud800@example.com", "password": "correct horse"}', "email"),
    ("POST", "/mail", b'{"to": "bob@example.com", "message": "x\\ud800"}', "message"),
    ("POST", "/topics", b'{"name": "release\\n"}', "topic"),
])
def test_malformed_http_input_is_400_invalid_request(cloud, new_user, method, path, body, field):
    status, raw = call(cloud, method, path, body, new_user("http").token)
    assert status == 400, raw
    error = json.loads(raw)["error"]
    assert error["code"] == "invalid_request" and field in error["message"], error


@pytest.mark.parametrize("frame, field", [
    ({"action": "history", "after_seq": "²"}, "after_seq"),
    ({"action": "history", "limit": "²"}, "limit"),
    ('{"action": "publish", "message": "hi", "idempotency_key": "k\\ud800"}', "idempotency_key"),
])
def test_malformed_frames_are_invalid_request_naming_the_field(new_user, topic_name, frame, field):
    user = new_user("ws")
    conn = user.connect()
    topic = topic_name()
    user.subscribe(conn, topic)
    if isinstance(frame, dict):
        frame = {**frame, "topic": topic, "id": "bad"}
    else:
        frame = frame[:-1] + f', "topic": "{topic}", "id": "bad"}}'
    conn.send_frame(frame)
    reply = conn.wait_reply("bad")
    assert reply["ok"] is False and reply["error"]["code"] == "invalid_request", reply
    assert field in reply["error"]["message"]
    assert conn.request("ping") == {"pong": True}


def test_an_action_that_is_a_list_and_a_deeply_nested_frame_get_error_frames(new_user):
    conn = new_user("odd").connect()
    for frame in ('{"action": ["ping"], "id": "list"}', "[" * 1000 + "]" * 1000,
                  '{"action": "ping", "x": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"):
        conn.send_frame(frame)
        answer = conn.receive(timeout=10)
        assert answer.get("type") in ("error", "reply") and "Internal server error" not in json.dumps(answer)
    assert conn.request("ping") == {"pong": True}


def test_a_huge_unknown_action_is_not_echoed(new_user):
    conn = new_user("big").connect()
    conn.send_frame(json.dumps({"action": "\U0001F600" * 30_000, "id": "big"}, ensure_ascii=False))  # 120 KB
    answer = conn.ws.recv(timeout=10)
    assert len(answer) < 2_000 and json.loads(answer)["error"]["code"] == "invalid_request"


def test_bad_email_and_avatar_frames_do_not_switch_those_off_for_others(new_user):
    attacker, other = new_user("attacker").connect(), new_user("other")
    for _ in range(6):
        attacker.send_frame('{"action": "send_email", "id": "m", "to": "x@example.com", "message": "x\\ud800"}')
        assert attacker.wait_reply("m")["error"]["code"] == "invalid_request"
        reply = attacker.reply("generate_avatar", name="bob", size="²")
        assert reply["error"]["code"] == "invalid_request"
    conn = other.connect()
    assert conn.request("send_email", to="x@example.com", message="hello")["status"] == "queued"
    assert conn.request("generate_avatar", name="bob", size=64)["size"] == 64


def test_history_after_concurrent_publishes_is_in_seq_order(new_user, topic_name):
    owner = new_user("owner")
    topic = topic_name()
    conns = [owner.connect() for _ in range(8)]
    owner.subscribe(conns[0], topic)
    barrier = threading.Barrier(8)

    def publish(conn, i):
        barrier.wait()
        conn.request("publish", topic=topic, message=f"m{i}")

    threads = [threading.Thread(target=publish, args=(c, i)) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = conns[0].request("history", topic=topic)["notifications"]
    assert [n["seq"] for n in history] == list(range(1, 9))
    first = conns[0].request("history", topic=topic, limit=4)["notifications"]
    assert [n["seq"] for n in first] == [1, 2, 3, 4]
    rest = conns[0].request("history", topic=topic, after_seq=4, limit=4)["notifications"]
    assert [n["seq"] for n in rest] == [5, 6, 7, 8]
    assert [n["seq"] for n in owner.http.inbox(topic=topic, limit=4)["notifications"]] == [1, 2, 3, 4]
