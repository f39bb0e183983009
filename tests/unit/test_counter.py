"""The counter: its REST API and its two-phase-commit participant (reservations per transaction)."""
import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from chalice.test import Client
from moto import mock_aws

from tables import create_tables, physical_name
from concurrency import all_at_once

USER = {"id": "u-ada", "email": "ada@example.com"}


@pytest.fixture
def counter(monkeypatch):
    with mock_aws():
        create_tables(monkeypatch, "CountersTable")
        from counter import participant

        yield participant.handler


def tx(txid, publisher=USER):
    return {"txid": txid, "topic": "news", "publisher": publisher, "message": "hello", "to": None,
            "created_at": "2026-11-25T14:00:00Z"}


def run(handler, op, transaction):
    return handler({"op": op, "transaction": transaction}, None)


def published(user_id=USER["id"]):
    item = boto3.client("dynamodb").get_item(TableName=physical_name("CountersTable"),
                                             Key={"user_id": {"S": user_id}, "entry": {"S": "total"}}).get("Item")
    return int(item["published"]["N"]) if item else 0


def reservation(txid, user_id=USER["id"]):
    item = boto3.client("dynamodb").get_item(TableName=physical_name("CountersTable"),
                                             Key={"user_id": {"S": user_id}, "entry": {"S": f"tx#{txid}"}})
    return item.get("Item")


# ---------------------------------------------------------------- prepare / commit / rollback


def test_prepare_reserves_and_votes_yes(counter, monkeypatch):
    monkeypatch.setenv("TRANSACTION_LEASE_SECONDS", "30")
    assert run(counter, "prepare", tx("t1")) == {"participant": "counter", "vote": "YES"}
    item = reservation("t1")
    assert item["state"]["S"] == "prepared"
    assert int(item["lease_until"]["N"]) > 0
    assert published() == 0  # nothing counts before commit


def test_prepare_is_idempotent(counter):
    assert run(counter, "prepare", tx("t1"))["vote"] == "YES"
    assert run(counter, "prepare", tx("t1"))["vote"] == "YES"
    assert reservation("t1")["state"]["S"] == "prepared"


def test_prepare_without_publisher_votes_no(counter):
    vote = run(counter, "prepare", {"txid": "t1"})
    assert vote["vote"] == "NO"
    assert vote["reason"] == "invalid_request"


def test_commit_counts_once_however_often_it_is_retried(counter):
    run(counter, "prepare", tx("t1"))
    first = run(counter, "commit", tx("t1"))
    assert first == {"participant": "counter", "txid": "t1", "state": "committed"}
    assert run(counter, "commit", tx("t1")) == first
    assert published() == 1
    assert reservation("t1")["state"]["S"] == "committed"


def test_commit_after_rollback_is_an_error(counter):
    run(counter, "prepare", tx("t1"))
    run(counter, "rollback", tx("t1"))
    with pytest.raises(Exception, match="aborted"):
        run(counter, "commit", tx("t1"))
    assert published() == 0


def test_commit_without_reservation_is_an_error(counter):
    with pytest.raises(Exception, match="missing"):
        run(counter, "commit", tx("never-prepared"))
    assert published() == 0


def test_rollback_is_idempotent_and_counts_nothing(counter):
    run(counter, "prepare", tx("t1"))
    first = run(counter, "rollback", tx("t1"))
    assert first == {"participant": "counter", "txid": "t1", "state": "aborted"}
    assert run(counter, "rollback", tx("t1")) == first
    assert reservation("t1")["state"]["S"] == "aborted"
    assert published() == 0


def test_a_resolved_reservation_expires_after_the_retention_and_the_total_never(counter):
    import time

    retention = 604800  # template.yaml's TransactionRetentionSeconds default
    run(counter, "prepare", tx("t1"))
    assert "expires_at" not in reservation("t1")  # a prepared reservation waits for its decision
    run(counter, "commit", tx("t1"))
    run(counter, "rollback", tx("t2"))
    for txid in ("t1", "t2"):
        assert abs(int(reservation(txid)["expires_at"]["N"]) - (time.time() + retention)) < 60
    total = boto3.client("dynamodb").get_item(TableName=physical_name("CountersTable"),
                                              Key={"user_id": {"S": USER["id"]}, "entry": {"S": "total"}})["Item"]
    assert "expires_at" not in total
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=physical_name("CountersTable"))
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_rollback_then_late_prepare_votes_no(counter):
    # recovery rolled back a transaction whose prepare had not arrived yet
    assert run(counter, "rollback", tx("t1"))["state"] == "aborted"
    vote = run(counter, "prepare", tx("t1"))
    assert vote["vote"] == "NO"
    assert vote["reason"] == "aborted"
    assert reservation("t1")["state"]["S"] == "aborted"


def test_rollback_of_a_committed_reservation_is_refused(counter):
    run(counter, "prepare", tx("t1"))
    run(counter, "commit", tx("t1"))
    with pytest.raises(Exception, match="committed"):
        run(counter, "rollback", tx("t1"))
    assert published() == 1


def test_unknown_op_fails_the_task(counter):
    with pytest.raises(ValueError, match="unknown"):
        counter({"op": "vote", "transaction": tx("t1")}, None)


def test_users_are_counted_separately(counter):
    bob = {"id": "u-bob", "email": "bob@example.com"}
    for txid, who in [("a1", USER), ("a2", USER), ("b1", bob)]:
        run(counter, "prepare", tx(txid, who))
        run(counter, "commit", tx(txid, who))
    assert (published(USER["id"]), published(bob["id"])) == (2, 1)




@pytest.mark.timeout(60)
def test_twenty_concurrent_publishes_of_one_user_all_commit(counter, atomic_moto_dynamodb):
    txids = [f"c{i}" for i in range(20)]

    votes = all_at_once(lambda txid: run(counter, "prepare", tx(txid)), txids)
    assert {v["vote"] for v in votes.values()} == {"YES"}
    all_at_once(lambda txid: run(counter, "commit", tx(txid)), txids)
    assert published() == 20
    rows = boto3.resource("dynamodb").Table(physical_name("CountersTable")).query(
        KeyConditionExpression=Key("user_id").eq(USER["id"]) & Key("entry").begins_with("tx#"))["Items"]
    assert sorted(r["entry"] for r in rows) == sorted(f"tx#{t}" for t in txids)
    assert {r["state"] for r in rows} == {"committed"}


# ---------------------------------------------------------------- GET /counters/self




@dataclass(frozen=True)
class CounterApi:
    """The counter REST API as a registered user calls it, and the counter's 2PC participant."""

    http: Any
    token: Any
    user: Any
    participant: Any


@pytest.fixture
def api(monkeypatch):
    with mock_aws():
        create_tables(monkeypatch, "CountersTable", "UsersTable", "TokensTable")
        from auth import sessions, users
        from counter import app, participant

        user = users.register("ada@example.com", "correct horse")
        token = sessions.issue(user)["token"]
        with Client(app.app) as client:
            yield CounterApi(http=client.http, token=token, user=user, participant=participant.handler)


def test_counter_of_a_new_user_is_zero(api):
    response = api.http.get("/counters/self", headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code == 200
    assert json.loads(response.body) == {"user_id": api.user.id, "published": 0}


def test_counter_counts_committed_not_rolled_back(api):
    publisher = {"id": api.user.id, "email": api.user.email}
    for txid in ("t1", "t2", "t3"):
        run(api.participant, "prepare", tx(txid, publisher))
    run(api.participant, "commit", tx("t1", publisher))
    run(api.participant, "commit", tx("t2", publisher))
    run(api.participant, "rollback", tx("t3", publisher))
    response = api.http.get("/counters/self", headers={"Authorization": f"Bearer {api.token}"})
    assert json.loads(response.body)["published"] == 2


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer bogus"}])
def test_counter_needs_a_live_token(api, headers):
    response = api.http.get("/counters/self", headers=headers)
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "unauthorized"
