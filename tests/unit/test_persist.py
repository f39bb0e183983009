"""persist: topics, durable subscriptions, inboxes with read state, and its side of the publish 2PC."""
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from tables import create_tables, physical_name
from concurrency import all_at_once

ADA = {"user_id": "u-ada", "email": "ada@example.com"}
BOB = {"user_id": "u-bob", "email": "bob@example.com"}
CY = {"user_id": "u-cy", "email": "cy@example.com"}
PERSIST_TABLES = ("TopicsTable", "SubscriptionsTable", "NotificationsTable", "ReceiptsTable")




@dataclass(frozen=True)
class PersistService:
    """The persist service on moto's tables: its internal API and 2PC participant handlers, and the modules the
    tests reach into."""

    service: Callable[[dict, Any], dict]
    participant: Callable[[dict, Any], dict]
    publishing: ModuleType
    delivery: ModuleType


@pytest.fixture
def persist(monkeypatch) -> PersistService:
    with mock_aws():
        create_tables(monkeypatch, *PERSIST_TABLES)
        from persist import delivery, participant, publishing, service

        yield PersistService(service=service.handler, participant=participant.handler, publishing=publishing,
                             delivery=delivery)




def ask(persist, op, **fields):
    """The service's answer: data, or the error dict."""
    answer = persist.service({"op": op, **fields}, None)
    return answer["data"] if answer["ok"] else {"error": answer["error"]}


def tx(txid, topic="news", publisher=ADA, message="hello", to=None):
    return {"txid": txid, "topic": topic, "publisher": {"id": publisher["user_id"], "email": publisher["email"]},
            "message": message, "to": to, "created_at": "2026-11-25T14:00:00.000Z"}


def phase(persist, op, transaction):
    return persist.participant({"op": op, "transaction": transaction}, None)


def publish(persist, txid, **kwargs):
    transaction = tx(txid, **kwargs)
    vote = phase(persist, "prepare", transaction)
    assert vote == {"participant": "persist", "vote": "YES"}, vote
    return phase(persist, "commit", transaction)


def history(persist, user, topic="news", **kwargs):
    return ask(persist, "history", user_id=user["user_id"], topic=topic, **kwargs)


def seqs(answer):
    return [n["seq"] for n in answer["notifications"]]


def table_count(logical_id):
    return boto3.client("dynamodb").scan(TableName=physical_name(logical_id), Select="COUNT")["Count"]


# ---------------------------------------------------------------- topics and subscriptions


def test_first_subscriber_creates_and_owns_the_topic(persist):
    first = ask(persist, "subscribe", topic="news", **ADA)
    assert first == {"topic": "news", "created": True, "owner": ADA["email"], "can_publish": True, "last_seq": 0}
    second = ask(persist, "subscribe", topic="news", **BOB)
    assert second == {"topic": "news", "created": False, "owner": ADA["email"], "can_publish": False,
                      "last_seq": 0}
    assert ask(persist, "topic", topic="news")["subscribers"] == 2


def test_subscribing_twice_is_one_subscription(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    again = ask(persist, "subscribe", topic="news", **ADA)
    assert again["created"] is False and again["can_publish"] is True
    assert ask(persist, "topic", topic="news")["subscribers"] == 1


def test_unsubscribe_ends_the_inbox(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    ask(persist, "subscribe", topic="news", **BOB)
    assert ask(persist, "unsubscribe", topic="news", user_id=BOB["user_id"]) == {"topic": "news"}
    assert ask(persist, "unsubscribe", topic="news", user_id=BOB["user_id"]) == {"topic": "news"}
    assert ask(persist, "topic", topic="news")["subscribers"] == 1
    assert history(persist, BOB)["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "semi;colon", None, 7])
def test_bad_topic_names_are_invalid_requests(persist, name):
    assert ask(persist, "subscribe", topic=name, **ADA)["error"]["code"] == "invalid_request"


def test_unknown_topic_is_not_found(persist):
    assert ask(persist, "topic", topic="nope")["error"]["code"] == "not_found"
    assert history(persist, ADA, topic="nope")["error"]["code"] == "not_found"


def test_missing_fields_and_unknown_ops_are_invalid_requests(persist):
    assert ask(persist, "subscribe", topic="news")["error"]["code"] == "invalid_request"
    assert ask(persist, "publish_everything")["error"]["code"] == "invalid_request"


# ---------------------------------------------------------------- the 2PC participant


def test_prepare_stores_the_notification_invisibly(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    assert phase(persist, "prepare", tx("t1")) == {"participant": "persist", "vote": "YES"}
    assert history(persist, ADA) == {"notifications": [], "last_seq": 0}
    assert table_count("NotificationsTable") == 1


def test_commit_assigns_the_next_seq_and_shows_it_to_every_subscriber(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    ask(persist, "subscribe", topic="news", **BOB)
    answer = publish(persist, "t1", message="first")
    assert answer["recipients"] == 2
    assert answer["notification"] == {"id": "t1", "topic": "news", "seq": 1, "from": ADA["email"],
                                      "message": "first", "to": None, "created_at": "2026-11-25T14:00:00.000Z"}
    assert publish(persist, "t2")["notification"]["seq"] == 2
    for user in (ADA, BOB):
        inbox = history(persist, user)
        assert seqs(inbox) == [1, 2] and inbox["last_seq"] == 2
        assert {n["status"] for n in inbox["notifications"]} == {"unread"}


@pytest.mark.parametrize("transaction, reason", [
    (tx("t1", publisher=BOB), "forbidden"),
    (tx("t1", topic="nope"), "not_found"),
    (tx("t1", to=["stranger@example.com"]), "invalid_request"),
    (tx("t1", to=["not-an-email"]), "invalid_request"),
    (tx("t1", message="x" * (64 * 1024 + 1)), "payload_too_large"),
    (tx("t1", message=""), "invalid_request"),
])
def test_prepare_votes_no_with_the_contract_code(persist, transaction, reason):
    ask(persist, "subscribe", topic="news", **ADA)
    ask(persist, "subscribe", topic="news", **BOB)
    vote = phase(persist, "prepare", transaction)
    assert vote["vote"] == "NO" and vote["reason"] == reason, vote
    assert table_count("NotificationsTable") == 0


def test_prepare_on_a_closed_topic_votes_no(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    from persist import topics

    topics.set_status("news", ADA["user_id"], "closed")
    assert phase(persist, "prepare", tx("t1"))["reason"] == "forbidden"


def test_a_commit_names_its_recipients_only_when_the_topics_turn_to_push_it_is_there(persist, monkeypatch):
    """The answer's delivery spares the gateway persist's delivery turn: only when every earlier seq was pushed
    as the commit read the topic, and only for a few recipients (the answer travels in the execution's output)."""
    for user in (ADA, BOB, CY):
        ask(persist, "subscribe", topic="news", **user)
    first = publish(persist, "t1")
    assert first["delivery"] == {"user_ids": sorted(u["user_id"] for u in (ADA, BOB, CY))}
    assert publish(persist, "t2")["delivery"] is None  # seq 1 is not pushed yet: the gateway waits for its turn
    assert ask(persist, "delivered", topic="news", seq=1) == {"topic": "news", "seq": 1}
    assert publish(persist, "t3")["delivery"] is None  # nor seq 2
    ask(persist, "delivered", topic="news", seq=3)
    assert publish(persist, "t4", to=[CY["email"]])["delivery"] == {"user_ids": [CY["user_id"]]}
    ask(persist, "delivered", topic="news", seq=4)
    from persist import publishing

    monkeypatch.setattr(publishing, "INLINE_RECIPIENTS", 2)
    assert publish(persist, "t5")["delivery"] is None  # three recipients: the gateway asks for them
    assert publish(persist, "t6", to=[BOB["email"]])["delivery"] is None  # seq 5 not pushed


def test_prepare_and_commit_are_idempotent(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    assert phase(persist, "prepare", tx("t1"))["vote"] == "YES"
    assert phase(persist, "prepare", tx("t1"))["vote"] == "YES"
    first = phase(persist, "commit", tx("t1"))
    again = phase(persist, "commit", tx("t1"))
    # only the commit that took the seq names who to push it to (its turn was there: nothing delivered before)
    assert first.pop("delivery") == {"user_ids": ["u-ada"]} and again.pop("delivery") is None
    assert again == first
    assert phase(persist, "prepare", tx("t1"))["vote"] == "YES"  # a late duplicate prepare changes nothing
    assert phase(persist, "rollback", tx("t1"))["status"] == "committed"  # a commit is never undone
    assert seqs(history(persist, ADA)) == [1]


def test_rollback_is_final_and_idempotent(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    phase(persist, "prepare", tx("t1"))
    assert phase(persist, "rollback", tx("t1"))["status"] == "rolled_back"
    assert phase(persist, "rollback", tx("t1"))["status"] == "rolled_back"
    assert phase(persist, "prepare", tx("t1"))["vote"] == "NO"
    with pytest.raises(RuntimeError):
        phase(persist, "commit", tx("t1"))
    assert history(persist, ADA)["last_seq"] == 0


def test_rollback_before_prepare_keeps_a_late_prepare_from_resurrecting_it(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    assert phase(persist, "rollback", tx("t1"))["status"] == "rolled_back"
    vote = phase(persist, "prepare", tx("t1"))
    assert vote["vote"] == "NO" and vote["reason"] == "aborted"


def test_aborted_publishes_leave_no_gap(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    publish(persist, "t1")
    phase(persist, "prepare", tx("t2"))
    phase(persist, "rollback", tx("t2"))
    assert publish(persist, "t3")["notification"]["seq"] == 2


def stopped_after_taking_its_seq(persist, monkeypatch, txid):
    """Commit `txid` as far as its first write (the topic's seq taken), then crash as a sandbox may."""
    publishing = persist.publishing
    with monkeypatch.context() as patch:
        patch.setattr(publishing, "_finish", lambda *a: (_ for _ in ()).throw(RuntimeError("crashed")))
        with pytest.raises(RuntimeError):
            phase(persist, "commit", tx(txid))


def test_a_commit_that_stopped_after_taking_its_seq_is_finished_by_the_next(persist, monkeypatch):
    ask(persist, "subscribe", topic="news", **ADA)
    phase(persist, "prepare", tx("t1"))
    phase(persist, "prepare", tx("t2"))
    stopped_after_taking_its_seq(persist, monkeypatch, "t1")
    assert seqs(history(persist, ADA)) == []
    assert phase(persist, "commit", tx("t2"))["notification"]["seq"] == 2
    assert seqs(history(persist, ADA)) == [1, 2]
    assert phase(persist, "commit", tx("t1"))["notification"]["seq"] == 1


def test_a_commit_whose_notification_another_commit_finishes_meanwhile_takes_no_second_seq(persist, monkeypatch):
    """t2 took seq 2 and stopped before its second write; its commit is retried (recovery) while the publisher's
    next publish t3 commits: t3 finishes t2 (seq 2) and takes 3 between the retried commit's reads. That commit
    must not take seq 4 for t2 (CI, 7 Dec: last_seq 4 over seqs 1-3 after the fault suite's kill -9)."""
    ask(persist, "subscribe", topic="news", **ADA)
    publishing = persist.publishing
    publish(persist, "t1")
    phase(persist, "prepare", tx("t2"))
    phase(persist, "prepare", tx("t3"))
    stopped_after_taking_its_seq(persist, monkeypatch, "t2")

    find, started, interleaved = publishing._find, [], []

    def find_then_let_t3_commit(txid):
        found = find(txid)
        if txid == "t2" and not started:
            started.append(txid)
            interleaved.append(phase(persist, "commit", tx("t3"))["notification"]["seq"])
        return found

    monkeypatch.setattr(publishing, "_find", find_then_let_t3_commit)
    assert phase(persist, "commit", tx("t2"))["notification"]["seq"] == 2
    monkeypatch.setattr(publishing, "_find", find)
    assert interleaved == [3]
    assert ask(persist, "topic", topic="news")["last_seq"] == 3
    assert publish(persist, "t4")["notification"]["seq"] == 4
    assert seqs(history(persist, ADA)) == [1, 2, 3, 4]


def test_a_commit_reads_the_previous_seqs_notification_only_until_that_one_was_pushed(persist, monkeypatch):
    """A pushed seq's commit had finished (it is pushed only after its answer): the next commit need not look."""
    ask(persist, "subscribe", topic="news", **ADA)
    publishing = persist.publishing
    publish(persist, "t1")
    find, looked_up = publishing._find, []
    monkeypatch.setattr(publishing, "_find", lambda txid: looked_up.append(txid) or find(txid))
    publish(persist, "t2")
    assert looked_up == ["t2", "t1"]  # seq 1 not pushed yet: it may have stopped between its writes
    ask(persist, "delivered", topic="news", seq=2)
    looked_up.clear()
    assert publish(persist, "t3")["notification"]["seq"] == 3
    assert looked_up == ["t3"]


@pytest.mark.timeout(60)
def test_concurrent_commits_take_gapless_seqs(persist, atomic_moto_dynamodb):
    ask(persist, "subscribe", topic="news", **ADA)
    txids = [f"t{i}" for i in range(20)]
    for txid in txids:
        assert phase(persist, "prepare", tx(txid))["vote"] == "YES"
    answers = all_at_once(lambda txid: phase(persist, "commit", tx(txid))["notification"]["seq"], txids)
    assert sorted(answers.values()) == list(range(1, 21))
    assert seqs(history(persist, ADA)) == list(range(1, 21))


def test_a_notification_is_stored_once_whatever_the_audience(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    for i in range(40):
        ask(persist, "subscribe", topic="news", user_id=f"u-{i}", email=f"user{i}@example.com")
    subscriptions = table_count("SubscriptionsTable")
    answer = publish(persist, "t1")
    assert answer["recipients"] == 41
    assert table_count("NotificationsTable") == 1
    assert table_count("SubscriptionsTable") == subscriptions
    assert seqs(history(persist, {"user_id": "u-39"})) == [1]


# ---------------------------------------------------------------- inboxes


def test_to_reaches_only_the_named_subscribers(persist):
    for user in (ADA, BOB, CY):
        ask(persist, "subscribe", topic="news", **user)
    answer = publish(persist, "t1", to=["BOB@example.com"])
    assert answer["recipients"] == 1 and answer["notification"]["to"] == ["bob@example.com"]
    publish(persist, "t2")
    assert seqs(history(persist, BOB)) == [1, 2]
    assert seqs(history(persist, CY)) == [2]
    assert seqs(history(persist, ADA)) == [2]
    from persist import inbox

    assert inbox.listing(BOB["user_id"])["unread"] == 2
    assert inbox.listing(CY["user_id"])["unread"] == 1


def test_a_late_subscriber_sees_only_what_follows(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    publish(persist, "t1")
    assert ask(persist, "subscribe", topic="news", **BOB)["last_seq"] == 1
    publish(persist, "t2")
    publish(persist, "t3", to=[BOB["email"]])
    assert seqs(history(persist, BOB)) == [2, 3]
    assert seqs(history(persist, BOB, after_seq=2)) == [3]
    assert seqs(history(persist, ADA, after_seq=1, limit=1)) == [2]
    from persist import inbox

    assert inbox.listing(BOB["user_id"], topic="news")["unread"] == 2


@pytest.mark.parametrize("fields", [{"limit": 0}, {"limit": 101}, {"limit": "many"}, {"after_seq": -1}])
def test_bad_history_bounds_are_invalid_requests(persist, fields):
    ask(persist, "subscribe", topic="news", **ADA)
    assert history(persist, ADA, **fields)["error"]["code"] == "invalid_request"


def test_ack_lowers_unread_once(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    ask(persist, "subscribe", topic="news", **BOB)
    publish(persist, "t1")
    publish(persist, "t2")
    assert ask(persist, "ack", notification_id="t1", **BOB) == {
        "notification_id": "t1", "status": "seen", "unread": 1}
    assert ask(persist, "ack", notification_id="t1", **BOB)["unread"] == 1
    assert [n["status"] for n in history(persist, BOB)["notifications"]] == ["seen", "unread"]
    assert ask(persist, "ack", notification_id="t1", **ADA)["unread"] == 1  # read state is per user


def test_ack_outside_the_inbox_is_not_found(persist):
    for user in (ADA, BOB, CY):
        ask(persist, "subscribe", topic="news", **user)
    publish(persist, "t1", to=[BOB["email"]])
    phase(persist, "prepare", tx("t2"))
    assert ask(persist, "ack", notification_id="t1", **CY)["error"]["code"] == "not_found"  # addressed to bob
    assert ask(persist, "ack", notification_id="t2", **BOB)["error"]["code"] == "not_found"  # not committed
    assert ask(persist, "ack", notification_id="nope", **BOB)["error"]["code"] == "not_found"
    ask(persist, "unsubscribe", topic="news", user_id=BOB["user_id"])
    assert ask(persist, "ack", notification_id="t1", **BOB)["error"]["code"] == "not_found"


# ---------------------------------------------------------------- delivery support


def test_recipients_are_every_subscriber_or_only_those_addressed(persist):
    for user in (ADA, BOB, CY):
        ask(persist, "subscribe", topic="news", **user)
    publish(persist, "t1", to=[CY["email"]])
    everyone = ask(persist, "recipients", topic="news")["user_ids"]
    assert sorted(everyone) == ["u-ada", "u-bob", "u-cy"]
    assert ask(persist, "recipients", topic="news", notification_id="t1")["user_ids"] == ["u-cy"]
    assert ask(persist, "recipients", topic="news", to=["u-bob", "u-stranger"])["user_ids"] == ["u-bob"]


def test_a_notification_reaches_only_the_inboxes_that_hold_it(persist):
    """Someone who subscribes after a notification's commit, before its fan-out, is not one of its recipients: it
    is not in their inbox (the contract: the subscribers at commit time). Leaving and coming back is a new
    subscription, which does not hold what was published in between."""
    for user in (ADA, BOB):
        ask(persist, "subscribe", topic="news", **user)
    publish(persist, "t1")
    publish(persist, "t2", to=[BOB["email"]])
    ask(persist, "subscribe", topic="news", **CY)  # after both commits
    ask(persist, "unsubscribe", topic="news", user_id=BOB["user_id"])
    ask(persist, "subscribe", topic="news", **BOB)
    assert ask(persist, "recipients", topic="news", notification_id="t1")["user_ids"] == ["u-ada"]
    assert ask(persist, "recipients", topic="news", notification_id="t2")["user_ids"] == []
    assert ask(persist, "history", topic="news", **CY)["notifications"] == []  # what the inbox says too
    publish(persist, "t3")
    assert sorted(ask(persist, "recipients", topic="news", notification_id="t3")["user_ids"]) == [
        "u-ada", "u-bob", "u-cy"]


def test_delivery_turns_follow_seq_and_never_go_back(persist, monkeypatch):
    ask(persist, "subscribe", topic="news", **ADA)
    monkeypatch.setattr(persist.delivery, "TURN_WAIT_SECONDS", 0.05)
    assert ask(persist, "delivery_turn", topic="news", seq=1)["turn"] is True
    assert ask(persist, "delivery_turn", topic="news", seq=2)["turn"] is False  # seq 1 not delivered yet
    ask(persist, "delivered", topic="news", seq=1)
    assert ask(persist, "delivery_turn", topic="news", seq=2)["turn"] is True
    ask(persist, "delivered", topic="news", seq=3)
    ask(persist, "delivered", topic="news", seq=2)
    assert ask(persist, "delivery_turn", topic="news", seq=4) == {"turn": True, "delivered_seq": 3}
    # a seq delivered already: nothing to push, so no recipients are looked up (this notification does not exist)
    assert ask(persist, "delivery_turn", topic="news", seq=2, notification_id="pub-gone") == {
        "turn": True, "delivered_seq": 3}


def test_a_waiting_delivery_goes_as_soon_as_the_previous_one_is_delivered(persist):
    ask(persist, "subscribe", topic="news", **ADA)
    timer = threading.Timer(0.1, lambda: ask(persist, "delivered", topic="news", seq=1))
    timer.start()
    assert ask(persist, "delivery_turn", topic="news", seq=2)["turn"] is True
    timer.join()


def test_a_waiting_delivery_looks_more_often_the_nearer_its_turn(persist, monkeypatch):
    """The next in line looks at least every NEXT_POLL_SECONDS, one ten seqs back at most every MAX_POLL_SECONDS:
    the turn passes soon after the earlier seq is delivered, without every waiter reading the topic that often."""
    delivery = persist.delivery
    ask(persist, "subscribe", topic="news", **ADA)
    ask(persist, "delivered", topic="news", seq=1)
    monkeypatch.setattr(delivery, "TURN_WAIT_SECONDS", 1.0)
    now, pauses, moves = [0.0], [], {}

    def sleep(seconds):
        pauses.append(seconds)
        now[0] += max(seconds, 0.001)  # the last sleep ends at the deadline: a real clock goes on past it
        if now[0] >= 0.5 and moves.pop("at_half_a_second", None):
            delivery.delivered("news", moves["to"])

    monkeypatch.setattr(delivery, "time", SimpleNamespace(monotonic=lambda: now[0], sleep=sleep))

    def wait_for_turn(seq: int, **move) -> list[float]:
        now[0], pauses[:] = 0.0, []
        moves.update(move)
        assert ask(persist, "delivery_turn", topic="news", seq=seq)["turn"] is False  # still waiting after 1 s
        return list(pauses)

    ten_back = wait_for_turn(12)  # delivered_seq 1: ten seqs to go
    assert ten_back[:6] == [0.005, 0.01, 0.02, 0.04, 0.08, 0.16] and max(ten_back) == delivery.MAX_POLL_SECONDS
    next_in_line = wait_for_turn(3)
    assert next_in_line[:3] == [0.005, 0.01, 0.02] and max(next_in_line) == delivery.NEXT_POLL_SECONDS
    assert len(next_in_line) > 3 * len(ten_back)
    moved_up = wait_for_turn(12, at_half_a_second=True, to=10)  # after half a second, seq 12 is next in line
    assert moved_up[:7] == ten_back[:7] and delivery.NEXT_POLL_SECONDS in moved_up
    assert max(moved_up[-5:]) <= delivery.NEXT_POLL_SECONDS


# ---------------------------------------------------------------- HTTP API


@dataclass(frozen=True)
class PersistApi:
    """The persist REST API with its people (id, email, auth headers), and its 2PC participant."""

    http: Any
    people: Any
    participant: Any


@pytest.fixture
def api(monkeypatch):
    with mock_aws():
        create_tables(monkeypatch, *PERSIST_TABLES, "UsersTable", "TokensTable")
        from auth import sessions, users
        from persist import app, participant

        people = {}
        for name in ("ada", "bob"):
            user = users.register(f"{name}@example.com", "correct horse")
            people[name] = {"id": user.id, "email": user.email,
                            "headers": {"Authorization": f"Bearer {sessions.issue(user)['token']}",
                                        "Content-Type": "application/json"}}
        with Client(app.app) as client:
            yield PersistApi(http=client.http, people=people, participant=participant.handler)


def call(api, method, path, who="ada", body=None):
    response = getattr(api.http, method)(path, headers=api.people[who]["headers"],
                                            body=json.dumps(body) if body is not None else None)
    return response.status_code, json.loads(response.body) if response.body else None


def test_http_topics_create_list_get_and_patch(api):
    status, body = call(api, "post", "/topics", body={"name": "news"})
    assert status == 201 and body["topic"]["owner"] == "ada@example.com" and body["topic"]["subscribers"] == 1
    assert call(api, "post", "/topics", "bob", body={"name": "news"})[0] == 409
    assert [t["name"] for t in call(api, "get", "/topics", "bob")[1]["topics"]] == ["news"]
    assert call(api, "get", "/topics/news", "bob")[1]["topic"]["status"] == "active"
    assert call(api, "get", "/topics/nope")[0] == 404
    status, body = call(api, "patch", "/topics/news", "bob", body={"status": "closed"})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert call(api, "patch", "/topics/news", body={"status": "paused"})[0] == 400
    assert call(api, "patch", "/topics/news", body={"status": "closed"})[1]["topic"]["status"] == "closed"


def test_http_bad_input_and_no_token(api):
    assert call(api, "post", "/topics", body={"name": "bad name"})[0] == 400
    assert call(api, "post", "/topics", body={})[0] == 400
    response = api.http.get("/topics")
    assert response.status_code == 401


def test_http_inbox_and_seen(api):
    ada, bob = api.people["ada"], api.people["bob"]
    call(api, "post", "/topics", body={"name": "news"})
    from persist import topics

    topics.subscribe(bob["id"], bob["email"], "news")
    for txid in ("t1", "t2"):
        transaction = tx(txid, publisher={"user_id": ada["id"], "email": ada["email"]})
        api.participant({"op": "prepare", "transaction": transaction}, None)
        api.participant({"op": "commit", "transaction": transaction}, None)
    status, body = call(api, "get", "/notifications", "bob")
    assert status == 200 and body["unread"] == 2 and [n["seq"] for n in body["notifications"]] == [1, 2]
    status, body = call(api, "post", "/notifications/t1/seen", "bob")
    assert status == 200 and body["notification"]["status"] == "seen" and body["notification"]["seq"] == 1
    body = call(api, "get", "/notifications?status=unread", "bob")[1]
    assert body["unread"] == 1 and [n["id"] for n in body["notifications"]] == ["t2"]
    assert [n["id"] for n in call(api, "get", "/notifications?topic=news&status=seen", "bob")[1]["notifications"]] \
        == ["t1"]
    assert call(api, "get", "/notifications?after_seq=1&limit=5", "bob")[1]["notifications"][0]["seq"] == 2
    assert call(api, "get", "/notifications?status=maybe", "bob")[0] == 400
    assert call(api, "post", "/notifications/nope/seen", "bob")[0] == 404
