"""DynamoDB Time to Live (infra/ttl.py) as AWS documents it: expired items stay readable until the sweeper deletes
them; a TTL that is not a Number or is over five years old is ignored; the deletion reaches the stream marked as
DynamoDB's own, which a stream filter can select (fixtures/apps/ttl_archive)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from infra import moto_patches
from infra.cloud import LocalCloud
from infra.ttl import TimeToLive

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "ttl_archive" / "template.yaml"
YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def cloud():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NOTIFYX_TTL_SWEEP_SECONDS", "3600")  # the tests sweep when they choose
        with LocalCloud(TEMPLATE, static_dir=None) as running:
            yield running


def number(value: float) -> dict:
    return {"N": str(int(value))}


def ids(ddb, table: str) -> set[str]:
    return {item["id"]["S"] for item in ddb.scan(TableName=table, ConsistentRead=True)["Items"]}


def test_the_template_s_ttl_is_enabled(cloud):
    ddb = cloud.client("dynamodb")
    described = ddb.describe_time_to_live(TableName=cloud.physical_id("SessionsTable"))["TimeToLiveDescription"]
    assert described == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_expired_items_are_deleted_by_the_sweep_and_nothing_else_is(cloud):
    ddb = cloud.client("dynamodb")
    sessions, events = cloud.physical_id("SessionsTable"), cloud.physical_id("EventsTable")
    now = time.time()
    for item in ({"id": {"S": "expired"}, "expires": number(now - 60)},
                 {"id": {"S": "future"}, "expires": number(now + 3600)},
                 {"id": {"S": "not-a-number"}, "expires": {"S": str(int(now - 60))}},
                 {"id": {"S": "over-five-years"}, "expires": number(now - 6 * YEAR)},
                 {"id": {"S": "no-ttl"}}):
        ddb.put_item(TableName=sessions, Item=item)
    for sk, at in (("a", now - 5), ("b", now - 5), ("c", now + 3600)):
        ddb.put_item(TableName=events, Item={"pk": {"S": "p"}, "sk": {"S": sk}, "ttl": number(at)})
    # until the background process deletes it, an expired item is still read, as on DynamoDB
    assert "Item" in ddb.get_item(TableName=sessions, Key={"id": {"S": "expired"}}, ConsistentRead=True)

    assert cloud.ttl.sweep() == 3
    assert ids(ddb, sessions) == {"future", "not-a-number", "over-five-years", "no-ttl"}
    left = ddb.query(TableName=events, KeyConditionExpression="pk = :p", ExpressionAttributeValues={
        ":p": {"S": "p"}}, ConsistentRead=True)["Items"]
    assert [item["sk"]["S"] for item in left] == ["c"]
    assert cloud.ttl.sweep() == 0


def test_the_deletion_is_dynamodb_s_own_in_the_stream_and_a_filter_selects_it(cloud):
    ddb = cloud.client("dynamodb")
    sessions, archive = cloud.physical_id("SessionsTable"), cloud.physical_id("ArchiveTable")
    ddb.put_item(TableName=sessions, Item={"id": {"S": "timed-out"}, "expires": number(time.time() - 1)})
    ddb.put_item(TableName=sessions, Item={"id": {"S": "logged-out"}, "expires": number(time.time() + 3600)})
    ddb.delete_item(TableName=sessions, Key={"id": {"S": "logged-out"}})  # a user's delete: not archived
    assert cloud.ttl.sweep() == 1

    streams = cloud.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=sessions)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    removals = {r["dynamodb"]["Keys"]["id"]["S"]: r.get("userIdentity")
                for r in streams.get_records(ShardIterator=iterator)["Records"] if r["eventName"] == "REMOVE"}
    assert removals["timed-out"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    assert removals["logged-out"] is None

    deadline = time.monotonic() + 15
    while "timed-out" not in ids(ddb, archive) and time.monotonic() < deadline:
        time.sleep(0.1)
    # records reach the function in stream order: the user's delete, before it, has been filtered out by now
    archived = ddb.scan(TableName=archive, ConsistentRead=True)["Items"]
    assert {(i["id"]["S"], i["by"]["S"]) for i in archived} >= {("timed-out", "dynamodb.amazonaws.com")}
    assert "logged-out" not in {i["id"]["S"] for i in archived}


def test_an_item_written_since_it_was_found_expired_is_kept(cloud):
    ddb = cloud.client("dynamodb")
    sessions = cloud.physical_id("SessionsTable")
    now = time.time()
    ddb.put_item(TableName=sessions, Item={"id": {"S": "renewed"}, "expires": number(now - 30)})
    ddb.update_item(TableName=sessions, Key={"id": {"S": "renewed"}}, UpdateExpression="SET expires = :later",
                    ExpressionAttributeValues={":later": number(now + 3600)})  # renewed after a sweep found it
    assert cloud.ttl.delete(sessions, {"id": {"S": "renewed"}}, "expires", now) is False
    assert "renewed" in ids(ddb, sessions)


def test_the_sweeper_runs_on_its_own(cloud):
    ddb = cloud.client("dynamodb")
    sessions = cloud.physical_id("SessionsTable")
    ddb.put_item(TableName=sessions, Item={"id": {"S": "soon"}, "expires": number(time.time() + 1)})
    sweeper = TimeToLive(cloud.client("dynamodb"), interval=0.2).start()
    try:
        deadline = time.monotonic() + 10
        while "soon" in ids(ddb, sessions) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sweeper.stop()
    assert "soon" not in ids(ddb, sessions)
    assert sweeper.deleted >= 1


def test_the_moto_internals_the_sweeper_reads():
    """infra/ttl.expired reads moto's Table.ttl, Table.items (hash -> Item, or hash -> range -> Item), Item.attrs
    and DynamoType.type / .value; moto_patches marks StreamRecord.record."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import StreamRecord, Table

    table = Table("t", account_id="123456789012", region="us-east-1",
                  schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                  attr=[{"AttributeName": "id", "AttributeType": "S"}])
    assert table.ttl == {"TimeToLiveStatus": "DISABLED"}
    table.put_item({"id": {"S": "a"}, "expires": {"N": "5"}})
    [item] = list(table.items.values())  # keyed by hash key (a range key table: hash -> range -> Item)
    assert isinstance(item, Item) and isinstance(item.attrs["expires"], DynamoType)
    assert (item.attrs["expires"].type, item.attrs["expires"].value) == ("N", "5")
    assert item.hash_key.to_json() == {"S": "a"}
    record = StreamRecord(table, "NEW_AND_OLD_IMAGES", "REMOVE", item, None, 1)
    record.record["userIdentity"] = dict(moto_patches.SERVICE_IDENTITY)  # what the patched StreamShard.add does
    assert record.to_json()["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def test_a_table_in_another_region_is_swept_too(cloud):
    """A table outside the local cloud's region (a handler's, say) gets its Time to Live as well."""
    from infra import account

    elsewhere = account.client("dynamodb", cloud.aws_endpoint, region_name="eu-west-1")
    elsewhere.create_table(TableName="far-sessions", BillingMode="PAY_PER_REQUEST",
                           AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                           KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    try:
        elsewhere.update_time_to_live(TableName="far-sessions", TimeToLiveSpecification={
            "Enabled": True, "AttributeName": "expires"})
        elsewhere.put_item(TableName="far-sessions", Item={"id": {"S": "gone"}, "expires": number(time.time() - 60)})
        elsewhere.put_item(TableName="far-sessions", Item={"id": {"S": "kept"}, "expires": number(time.time() + 60)})
        assert cloud.ttl.sweep() == 1
        assert ids(elsewhere, "far-sessions") == {"kept"}
    finally:
        elsewhere.delete_table(TableName="far-sessions")
