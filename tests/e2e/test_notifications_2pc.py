"""The publish transaction when a participant fails (docs/internals.md, "The publish transaction").

Failures are injected with real mechanisms, not test hooks in the product: a topic closed through the API
makes persist vote NO; a participant's table removed from the emulator makes its prepare fail.
"""
from __future__ import annotations

import contextlib
import time

import pytest

from client.sdk import ApiError

pytestmark = pytest.mark.timeout(180)


def test_publish_to_a_closed_topic_aborts_and_changes_nothing(owner_and_subscriber):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    first = owner_conn.request("publish", topic=topic, message="while open")
    assert sub_conn.next_notification(timeout=10)["id"] == first["notification_id"]
    before = owner.published()
    assert owner.http.set_topic_status(topic, "closed")["status"] == "closed"

    with pytest.raises(ApiError) as refused:
        owner_conn.request("publish", topic=topic, message="while closed")

    assert refused.value.code == "aborted"
    assert owner.published() == before
    assert [n["id"] for n in sub_conn.request("history", topic=topic)["notifications"]] == [first["notification_id"]]
    # reopened, the topic's seq continues without a gap: the aborted attempt took none
    owner.http.set_topic_status(topic, "active")
    reopened = owner_conn.request("publish", topic=topic, message="reopened")
    assert reopened["seq"] == first["seq"] + 1
    assert owner.published() == before + 1
    # and it is the next notification the subscriber gets: nothing of the aborted attempt came before it
    assert sub_conn.next_notification(timeout=10)["id"] == reopened["notification_id"]


def _scan(ddb, table: str) -> list[dict]:
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@contextlib.contextmanager
def table_outage(ddb, table: str):
    """Remove a table from the emulator (its items and schema kept aside); the yielded callable puts it back
    as it was, and leaving the block always does."""
    spec = ddb.describe_table(TableName=table)["Table"]
    items = _scan(ddb, table)
    ddb.delete_table(TableName=table)
    restored = False

    def restore() -> None:
        nonlocal restored
        if restored:
            return
        create = {"TableName": table, "KeySchema": spec["KeySchema"],
                  "AttributeDefinitions": spec["AttributeDefinitions"], "BillingMode": "PAY_PER_REQUEST"}
        if spec.get("GlobalSecondaryIndexes"):
            create["GlobalSecondaryIndexes"] = [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in spec["GlobalSecondaryIndexes"]]
        if spec.get("StreamSpecification"):
            create["StreamSpecification"] = spec["StreamSpecification"]
        ddb.create_table(**create)
        for item in items:
            ddb.put_item(TableName=table, Item=item)
        restored = True

    try:
        yield restore
    finally:
        restore()


def _wait_for_decision(ddb, transactions_table: str, known: set[str], timeout: float = 30) -> dict:
    """The first transaction record not in `known` that has left "preparing": its decision is recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in _scan(ddb, transactions_table):
            if item["txid"]["S"] not in known and item["state"]["S"] != "preparing":
                return item
        time.sleep(0.1)
    raise AssertionError(f"no transaction reached a decision within {timeout}s")


@pytest.mark.parametrize("participant_table", ["CountersTable", "NotificationsTable"])
def test_a_failing_prepare_aborts_without_delivery_or_count(local_cloud, aws, owner_and_subscriber,
                                                            participant_table):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    first = owner_conn.request("publish", topic=topic, message="before the outage")
    assert sub_conn.next_notification(timeout=10)["id"] == first["notification_id"]
    before = owner.published()
    ddb = aws("dynamodb")
    transactions = local_cloud.physical_id("TransactionsTable")
    known = {item["txid"]["S"] for item in _scan(ddb, transactions)}

    with table_outage(ddb, local_cloud.physical_id(participant_table)) as restore:
        owner_conn.send_frame({"action": "publish", "id": "during-outage", "topic": topic, "message": "lost"})
        decided = _wait_for_decision(ddb, transactions, known)
        # the rollback of the failed participant is retried until its table is back, as on AWS
        restore()
        reply = owner_conn.wait_reply("during-outage", timeout=90)

    assert decided["state"]["S"] in ("abort", "aborted"), decided
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == "aborted"
    assert owner.published() == before
    assert [n["id"] for n in subscriber.http.inbox(topic=topic)["notifications"]] == [first["notification_id"]]
    # the participant is healthy again and nothing stayed locked: the next publish commits with the next seq
    after = owner_conn.request("publish", topic=topic, message="after the outage")
    assert after["seq"] == first["seq"] + 1
    assert owner.published() == before + 1
    # and it is the next notification delivered: the rolled-back one never was
    assert sub_conn.next_notification(timeout=10)["id"] == after["notification_id"]
