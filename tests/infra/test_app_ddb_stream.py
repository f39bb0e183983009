"""Parity: DynamoDB stream event sources (fixtures/apps/ddb_stream) as Lambda runs them.

Writes return at once (the function runs from the stream, not inside the write); records arrive in order, in
batches of up to BatchSize, from the StartingPosition; a failing batch is retried (the shard waits) and skipped
after MaximumRetryAttempts, its place in the stream sent to the mapping's on-failure destination (before 6
December the deployer refused DestinationConfig and MaximumRecordAgeInSeconds); with ReportBatchItemFailures
only the failed record and those after it come again; records no FilterCriteria pattern matches are skipped.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from racing import drain, wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "ddb_stream" / "template.yaml"


def log(cloud, prefix):
    rows = cloud.client("dynamodb").scan(TableName=cloud.physical_id("LogTable"))["Items"]
    return [{k: next(iter(v.values())) for k, v in row.items()} for row in rows if row["id"]["S"].startswith(prefix)]


@pytest.fixture(scope="module")
def written(cloud):
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("OrdersTable")
    started = time.monotonic()
    ddb.put_item(TableName=table, Item={"id": {"S": "o-1"}, "total": {"N": "10"}})
    ddb.put_item(TableName=table, Item={"id": {"S": "o-1"}, "total": {"N": "12"}})
    ddb.put_item(TableName=table, Item={"id": {"S": "poison"}})
    ddb.put_item(TableName=table, Item={"id": {"S": "o-2"}})
    ddb.put_item(TableName=table, Item={"id": {"S": "flaky-1"}})
    ddb.delete_item(TableName=table, Key={"id": {"S": "o-1"}})
    return time.monotonic() - started


def test_writes_do_not_wait_for_the_functions(written):
    assert written < 1.0


def test_batches_arrive_in_order_and_a_failing_batch_is_retried_then_skipped(cloud, written):
    wait_for(lambda: any(["REMOVE", "o-1"] in json.loads(r["batch"]) for r in log(cloud, "audit:")))
    time.sleep(1.0)
    rows = sorted(log(cloud, "audit:"), key=lambda r: int(r["first"]))
    assert {r["source"] for r in rows} == {cloud.stack.resources["OrdersTable"].attributes["StreamArn"]}
    batches = [json.loads(r["batch"]) for r in rows]
    assert all(1 <= len(batch) <= 2 for batch in batches)                       # BatchSize 2
    poisoned = [b for b in batches if ["INSERT", "poison"] in b]
    assert len(poisoned) == 2 and poisoned[0] == poisoned[1]                    # MaximumRetryAttempts 1
    delivered = [record for batch in batches if batch is not poisoned[1] for record in batch]
    assert delivered == [["INSERT", "o-1"], ["MODIFY", "o-1"], ["INSERT", "poison"], ["INSERT", "o-2"],
                         ["INSERT", "flaky-1"], ["REMOVE", "o-1"]]               # in order, then skipped past

    # the skipped batch's place in the stream, on the mapping's on-failure destination (not its records)
    [body] = drain(cloud.client("sqs"), cloud.physical_id("Discarded"), 1)
    discarded = json.loads(body)
    assert discarded["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert discarded["requestContext"]["functionArn"].endswith(f":function:{cloud.physical_id('Auditor')}")
    assert discarded["requestContext"]["approximateInvokeCount"] == 2 and discarded["version"] == "1.0"
    info = discarded["DDBStreamBatchInfo"]
    poisoned_row = next(r for r in rows if ["INSERT", "poison"] in json.loads(r["batch"]))
    assert info["batchSize"] == len(poisoned[0]) and info["startSequenceNumber"] == str(poisoned_row["first"])
    assert info["streamArn"] == cloud.stack.resources["OrdersTable"].attributes["StreamArn"]
    assert info["shardId"] and info["approximateArrivalOfFirstRecord"].endswith("Z")


def test_report_batch_item_failures_retries_from_the_failed_record(cloud, written):
    wait_for(lambda: log(cloud, "seen:flaky-1") and log(cloud, "seen:flaky-1")[0]["times"] == "2")
    time.sleep(1.0)
    projected = [r["key"] for r in log(cloud, "projected:")]
    # LATEST at start: every record written after but "poison" (FilterCriteria); flaky-1 failed once and came
    # back with the records after it
    assert sorted(projected) == sorted(["o-1", "o-1", "o-2", "flaky-1", "o-1"])
    assert "seen:poison" not in {r["id"] for r in log(cloud, "seen:")}
    assert {r["id"]: r["times"] for r in log(cloud, "seen:")}["seen:o-1"] == "3"      # not re-delivered
