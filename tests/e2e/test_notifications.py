"""The notification core over real sockets: subscribe, publish through the two-phase commit, live delivery,
inbox and catch-up, read state, idempotency, concurrency (PROTOCOL.md, WebSocket API)."""
from __future__ import annotations

import time

import pytest

from client.sdk import ApiError

pytestmark = pytest.mark.timeout(120)


def test_owner_publishes_and_subscriber_receives_live(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber

    data = owner_conn.request("publish", topic=topic, message="hello subscribers")

    assert data["status"] == "committed"
    assert data["seq"] == 1
    assert data["recipients"] >= 1
    note = sub_conn.next_notification(timeout=10)
    assert note["id"] == data["notification_id"]
    assert note["topic"] == topic
    assert note["seq"] == 1
    assert note["message"] == "hello subscribers"
    assert note["to"] in (None, [])
    assert note["created_at"]


def test_non_owner_cannot_publish(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    before = subscriber.published()

    with pytest.raises(ApiError) as refused:
        sub_conn.request("publish", topic=topic, message="not my topic")

    assert refused.value.code == "forbidden"
    assert subscriber.published() == before
    assert sub_conn.request("history", topic=topic)["notifications"] == []
    # the barrier: a topic's notifications reach a socket in seq order, so a refused publish that had been
    # delivered after all would arrive before the owner's own
    barrier = owner_conn.request("publish", topic=topic, message="the owner's")
    assert barrier["seq"] == 1
    assert owner_conn.next_notification(timeout=10)["id"] == barrier["notification_id"]


def test_publish_to_names_only_those_subscribers(new_user, owner_and_subscriber):
    owner, owner_conn, named, named_conn, topic = owner_and_subscriber
    other = new_user("other")
    other_conn = other.connect()
    other.subscribe(other_conn, topic)

    data = owner_conn.request("publish", topic=topic, message="just for you", to=[named.email])

    assert data["recipients"] == 1
    note = named_conn.next_notification(timeout=10)
    assert note["id"] == data["notification_id"]
    assert other_conn.request("history", topic=topic)["notifications"] == []
    assert [n["id"] for n in named.http.inbox(topic=topic)["notifications"]] == [data["notification_id"]]
    # the barrier: a publish to everyone comes after it in seq order; had the targeted one reached `other`,
    # it would arrive first
    everyone = owner_conn.request("publish", topic=topic, message="for all")
    assert other_conn.next_notification(timeout=10)["id"] == everyone["notification_id"]


def test_offline_subscriber_catches_up_with_history_after_seq(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    first = owner_conn.request("publish", topic=topic, message="before the drop")
    last_seen = sub_conn.next_notification(timeout=10)["seq"]
    assert last_seen == first["seq"]
    sub_conn.close()

    missed = [owner_conn.request("publish", topic=topic, message=f"missed {i}") for i in range(3)]

    again = subscriber.connect()
    page = again.request("history", topic=topic, after_seq=last_seen)
    assert [n["id"] for n in page["notifications"]] == [m["notification_id"] for m in missed]
    assert [n["seq"] for n in page["notifications"]] == [last_seen + 1, last_seen + 2, last_seen + 3]
    assert [n["message"] for n in page["notifications"]] == ["missed 0", "missed 1", "missed 2"]
    assert {n["status"] for n in page["notifications"]} == {"unread"}
    assert page["last_seq"] == last_seen + 3
    # the inbox is kept whether or not the subscriber is connected: the whole history is there too
    assert len(again.request("history", topic=topic)["notifications"]) == 4


def test_ack_lowers_unread_and_http_inbox_agrees(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    ids = [owner_conn.request("publish", topic=topic, message=f"n{i}")["notification_id"] for i in range(2)]
    assert subscriber.http.inbox(topic=topic)["unread"] == 2

    acked = sub_conn.request("ack", notification_id=ids[0])

    assert acked == {"notification_id": ids[0], "status": "seen", "unread": 1}
    inbox = subscriber.http.inbox(topic=topic)
    assert inbox["unread"] == 1
    assert {n["id"]: n["status"] for n in inbox["notifications"]} == {ids[0]: "seen", ids[1]: "unread"}
    assert [n["id"] for n in subscriber.http.inbox(topic=topic, status="unread")["notifications"]] == [ids[1]]
    # acking twice is harmless; acking someone else's or an unknown notification is not found
    assert sub_conn.request("ack", notification_id=ids[0])["unread"] == 1
    with pytest.raises(ApiError) as unknown:
        sub_conn.request("ack", notification_id="pub-does-not-exist")
    assert unknown.value.code == "not_found"


def test_same_idempotency_key_publishes_once(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    before = owner.published()

    first = owner_conn.request("publish", topic=topic, message="once", idempotency_key="order-42")
    second = owner_conn.request("publish", topic=topic, message="once", idempotency_key="order-42")

    assert second["notification_id"] == first["notification_id"]
    assert second["seq"] == first["seq"]
    assert owner.published() == before + 1
    assert sub_conn.next_notification(timeout=10)["id"] == first["notification_id"]
    # another key is another notification, and the next one delivered: a second delivery of the first would
    # arrive before it (one topic's notifications reach a socket in seq order)
    third = owner_conn.request("publish", topic=topic, message="once", idempotency_key="order-43")
    assert third["notification_id"] != first["notification_id"]
    assert owner.published() == before + 2
    assert sub_conn.next_notification(timeout=10)["id"] == third["notification_id"]


def test_twenty_concurrent_publishes_all_commit_in_seq_order(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    before = owner.published()

    frame_ids = [f"burst-{i}" for i in range(20)]
    for i, frame_id in enumerate(frame_ids):
        owner_conn.send_frame({"action": "publish", "id": frame_id, "topic": topic, "message": f"burst {i}"})
    replies = [owner_conn.wait_reply(frame_id, timeout=90) for frame_id in frame_ids]

    assert [r["ok"] for r in replies] == [True] * 20, [r.get("error") for r in replies if not r["ok"]]
    assert sorted(r["data"]["seq"] for r in replies) == list(range(1, 21))
    assert len({r["data"]["notification_id"] for r in replies}) == 20
    assert owner.published() == before + 20
    received = []
    deadline = time.monotonic() + 30
    while len(received) < 20 and time.monotonic() < deadline:
        received.append(sub_conn.next_notification(timeout=deadline - time.monotonic()))
    assert [n["seq"] for n in received] == list(range(1, 21))
    # no duplicate follows: the next notification is the next publish
    barrier = owner_conn.request("publish", topic=topic, message="barrier")
    assert barrier["seq"] == 21
    assert sub_conn.next_notification(timeout=10)["id"] == barrier["notification_id"]


def test_unsubscribed_user_stops_receiving(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber

    assert sub_conn.request("unsubscribe", topic=topic) == {"topic": topic}
    left = owner_conn.request("publish", topic=topic, message="after you left")

    # the barrier: subscribed again, the next publish reaches the socket; had the one published while it was
    # unsubscribed reached it, that one (an earlier seq of the same topic) would have arrived first
    sub_conn.request("subscribe", topic=topic)
    back = owner_conn.request("publish", topic=topic, message="welcome back")
    assert back["seq"] == left["seq"] + 1
    assert sub_conn.next_notification(timeout=10)["id"] == back["notification_id"]


def test_subscribe_reports_the_topic_and_creates_it_once(new_user, topic_name):
    alice, bob = new_user("alice"), new_user("bob")
    topic = topic_name()
    alice_conn, bob_conn = alice.connect(), bob.connect()

    created = alice_conn.request("subscribe", topic=topic)
    again = alice_conn.request("subscribe", topic=topic)
    joined = bob_conn.request("subscribe", topic=topic)

    assert created["topic"] == topic and created["created"] is True and created["last_seq"] == 0
    assert again["created"] is False and again["can_publish"] is True
    assert joined["created"] is False and joined["can_publish"] is False
    assert created["owner"] == joined["owner"]
    assert alice.http.topic(topic)["status"] == "active"
