"""Bad input on the WebSocket API gets the contract's error, and the connection stays usable (PROTOCOL.md)."""
from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def owner(new_user, topic_name):
    """(user, socket, topic): a user who owns a fresh topic."""
    user = new_user("owner")
    conn = user.connect()
    topic = topic_name()
    user.subscribe(conn, topic)
    return user, conn, topic


def _still_usable(conn) -> None:
    assert conn.request("ping") == {"pong": True}


@pytest.mark.parametrize("raw", ["this is not json", "[1, 2, 3]", '{"no_action": true}'])
def test_a_frame_that_is_not_an_action_gets_an_error_frame(owner, raw):
    user, conn, topic = owner

    conn.send_frame(raw)

    frame = conn.next_other()
    assert frame["type"] == "error", frame
    assert frame["error"]["code"] == "invalid_request"
    assert frame["error"]["message"]
    _still_usable(conn)


def test_an_unknown_action_gets_an_error(owner):
    user, conn, topic = owner

    conn.send_frame({"action": "teleport", "id": "x1"})

    frame = conn.next_other()
    assert frame["type"] in ("error", "reply"), frame
    assert frame.get("ok") in (None, False)
    assert frame["error"]["code"] == "invalid_request"
    _still_usable(conn)


@pytest.mark.parametrize("action, fields", [
    ("subscribe", {}),
    ("publish", {"message": "no topic"}),
    ("history", {}),
    ("ack", {}),
])
def test_a_missing_field_is_an_invalid_request(owner, action, fields):
    user, conn, topic = owner
    if action == "publish":
        fields = {"topic": topic}

    reply = conn.reply(action, **fields)

    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == "invalid_request"
    assert reply["action"] == action
    _still_usable(conn)


@pytest.mark.parametrize("bad_topic", ["", "has space", "x" * 65, "slash/topic", "ünïcode"])
def test_a_bad_topic_name_is_an_invalid_request(owner, bad_topic):
    user, conn, topic = owner

    reply = conn.reply("subscribe", topic=bad_topic)

    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == "invalid_request"
    _still_usable(conn)


def test_a_message_over_64_kb_is_payload_too_large(owner):
    user, conn, topic = owner
    before = user.published()

    reply = conn.reply("publish", topic=topic, message="x" * (64 * 1024 + 1))

    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == "payload_too_large"
    assert user.published() == before
    _still_usable(conn)
    # exactly 64 KB is allowed
    assert conn.request("publish", topic=topic, message="y" * (64 * 1024))["status"] == "committed"


def test_a_history_limit_over_100_is_an_invalid_request(owner):
    user, conn, topic = owner

    reply = conn.reply("history", topic=topic, limit=101)

    assert reply["ok"] is False and reply["error"]["code"] == "invalid_request", reply
    _still_usable(conn)


def test_a_frame_over_128_kb_closes_that_socket_only(owner):
    user, conn, topic = owner
    other = user.connect()

    with pytest.raises(ConnectionClosed) as closed:
        # the server closes once it has read 128 KB: the client may see it while still sending the last fragments
        conn.send_frame({"action": "ping", "id": "big", "padding": "z" * (128 * 1024 + 1)})
        while True:
            conn.receive(10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    _still_usable(other)
