"""The DynamoDB stream poller (infra/stream_pollers.py) against the emulator's streams, with the mapped function's
answers given by the test: what Lambda does with a response it cannot read, and with a shard iterator that
expired while a batch was retried."""
from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from infra import account, moto_patches
from infra.stream_pollers import DynamoDbStreamSource, StreamEventSourceSpec
from racing import wait_for


@pytest.fixture
def table(emulator_endpoint):
    ddb = account.client("dynamodb", emulator_endpoint)
    name = f"stream-{time.monotonic_ns()}"
    stream = ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    yield ddb, name, stream
    ddb.delete_table(TableName=name)


def run_source(emulator_endpoint, stream, answer, **spec):
    """A poller of `stream` whose function answers `answer(batch keys)` (or raises what it raises); the batches
    it was handed, in order."""
    batches, lock = [], threading.Lock()

    def invoke(function, event):
        keys = [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]
        with lock:
            batches.append(keys)
            RECORDS.extend(event["Records"])
        return answer(keys)

    source = DynamoDbStreamSource(StreamEventSourceSpec("fn", stream, **spec), invoke,
                                  account.client("dynamodbstreams", emulator_endpoint))
    source.start()
    return source, batches


#: every record a test's poller delivered
RECORDS: list[dict] = []


@pytest.mark.parametrize("unreadable", [{"batchItemFailures": ["not-an-object"]}, {"batchItemFailures": "x"},
                                        {"batchItemFailures": [{"itemIdentifier": None}]}, "not an object"])
def test_a_response_lambda_cannot_read_fails_the_whole_batch_and_the_poller_goes_on(emulator_endpoint, table,
                                                                                   unreadable):
    """Lambda treats a response it cannot read as a complete failure and retries the batch. The poller's thread
    died on some ("min() arg is an empty sequence"), and the mapping delivered nothing more, silently."""
    ddb, name, stream = table
    answered = []

    def answer(keys):
        answered.append(keys)
        return unreadable if len(answered) == 1 else None

    source, batches = run_source(emulator_endpoint, stream, answer, report_batch_item_failures=True)
    try:
        ddb.put_item(TableName=name, Item={"id": {"S": "first"}})
        wait_for(lambda: len(batches) >= 2)
        ddb.put_item(TableName=name, Item={"id": {"S": "after"}})
        wait_for(lambda: ["after"] in batches)
        assert batches[:2] == [["first"], ["first"]]  # the whole batch again
    finally:
        source.stop()


def test_an_iterator_that_expired_during_retries_is_taken_again_where_the_poller_was(emulator_endpoint, table,
                                                                                     monkeypatch):
    """A batch retried for longer than a shard iterator lives (15 minutes on AWS; 1 s here) left the poller with an
    expired iterator for good: it delivered nothing more. It takes a new one after the last record it read."""
    monkeypatch.setattr(moto_patches, "ITERATOR_SECONDS", 1.0)
    ddb, name, stream = table
    failing_until = time.monotonic() + 2.5

    def answer(keys):
        if time.monotonic() < failing_until:
            raise RuntimeError("downstream unavailable")
        return None

    streams = account.client("dynamodbstreams", emulator_endpoint)
    shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    polling = threading.Event()

    def another_mapping():  # takes iterators, as other pollers do: the emulator drops the expired ones then
        while not polling.wait(0.2):
            streams.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="LATEST")

    other = threading.Thread(target=another_mapping)
    other.start()
    source, batches = run_source(emulator_endpoint, stream, answer)
    try:
        ddb.put_item(TableName=name, Item={"id": {"S": "during"}})
        wait_for(lambda: time.monotonic() > failing_until and batches and batches[-1] == ["during"])
        ddb.put_item(TableName=name, Item={"id": {"S": "later"}})
        wait_for(lambda: ["later"] in batches)
        assert all(batch == ["during"] for batch in batches[:-1])  # retried, then the next record: none repeated
    finally:
        polling.set()
        other.join(5)
        source.stop()


def test_each_change_is_one_record_and_a_write_that_changes_nothing_is_none(emulator_endpoint, table):
    """DynamoDB Streams records each change once, and none for a PutItem or UpdateItem that changes no data: moto
    wrote two INSERTs for an UpdateItem that created its item (the first of the bare key), and a MODIFY with equal
    images for a write of the same attributes. ApproximateCreationDateTime is whole epoch seconds."""
    ddb, name, stream = table
    RECORDS.clear()
    source, batches = run_source(emulator_endpoint, stream, lambda keys: None)
    try:
        ddb.update_item(TableName=name, Key={"id": {"S": "u"}}, UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"N": "1"}})
        ddb.put_item(TableName=name, Item={"id": {"S": "u"}, "v": {"N": "1"}})       # the same again
        ddb.update_item(TableName=name, Key={"id": {"S": "u"}}, UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"N": "1.0"}})            # the same number
        ddb.update_item(TableName=name, Key={"id": {"S": "u"}}, UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"N": "2"}})
        ddb.put_item(TableName=name, Item={"id": {"S": "end"}})
        wait_for(lambda: any(r["dynamodb"]["Keys"]["id"]["S"] == "end" for r in RECORDS))
        changes = [(r["eventName"], r["dynamodb"]["NewImage"]) for r in RECORDS]
        assert changes == [("INSERT", {"id": {"S": "u"}, "v": {"N": "1"}}),
                           ("MODIFY", {"id": {"S": "u"}, "v": {"N": "2"}}),
                           ("INSERT", {"id": {"S": "end"}})], changes
        assert all(type(r["dynamodb"]["ApproximateCreationDateTime"]) is int for r in RECORDS)
    finally:
        source.stop()


def test_a_batching_window_gathers_records_until_it_closes_or_the_batch_is_full(emulator_endpoint, table):
    """MaximumBatchingWindowInSeconds on a stream mapping: records are gathered for up to the window after the first
    of a batch, or until BatchSize. The template's setting was accepted and ignored (each poll was a batch)."""
    ddb, name, stream = table
    source, batches = run_source(emulator_endpoint, stream, lambda keys: None, batch_size=3, batching_window=1.5)
    try:
        started = time.monotonic()
        for key in ("a", "b"):
            ddb.put_item(TableName=name, Item={"id": {"S": key}})
            time.sleep(0.4)
        wait_for(lambda: batches)
        assert batches == [["a", "b"]] and time.monotonic() - started >= 1.4  # held until the window closed
        for key in ("c", "d", "e", "f"):
            ddb.put_item(TableName=name, Item={"id": {"S": key}})
        wait_for(lambda: len(batches) == 3)
        assert batches[1:] == [["c", "d", "e"], ["f"]]  # a full batch at once, the rest at its window's end
    finally:
        source.stop()


def test_a_failing_batch_older_than_the_maximum_record_age_is_skipped_and_its_place_sent(emulator_endpoint, table):
    """MaximumRecordAgeInSeconds: a failing batch with a record older than it is skipped (condition
    RecordAgeExceeded) however many retries are left, and the on-failure destination gets its place."""
    ddb, name, stream = table
    sent = []

    def fail(keys):
        raise RuntimeError("down")

    source, batches = run_source(emulator_endpoint, stream, fail, starting_position="TRIM_HORIZON",
                                 maximum_record_age=0, on_failure="arn:aws:sqs:us-east-1:123456789012:dlq")
    source._send = lambda arn, text: sent.append((arn, text))
    try:
        ddb.put_item(TableName=name, Item={"id": {"S": "old"}})
        wait_for(lambda: sent)
    finally:
        source.stop()
    assert batches == [["old"]]                        # no retry: the record is already past the age
    [(arn, text)] = sent
    record = json.loads(text)
    assert arn.endswith(":dlq") and record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1 and record["DDBStreamBatchInfo"]["streamArn"] == stream


def test_bisect_batch_on_function_error_splits_a_failing_batch_until_the_bad_record_is_alone(emulator_endpoint,
                                                                                             table):
    """BisectBatchOnFunctionError: a batch the function fails on is split in two and each half retried, in order,
    so the records before and after a poison record get through and only the poison one is skipped."""
    ddb, name, stream = table
    sent = []

    def answer(keys):
        if "bad" in keys:
            raise RuntimeError("poison")

    source, batches = run_source(emulator_endpoint, stream, answer, starting_position="TRIM_HORIZON", batch_size=4,
                                 batching_window=2.0, maximum_retry_attempts=0, bisect=True,
                                 on_failure="arn:aws:sqs:us-east-1:123456789012:dlq")
    source._send = lambda arn, text: sent.append(json.loads(text))
    try:
        for key in ("a", "bad", "c", "d"):
            ddb.put_item(TableName=name, Item={"id": {"S": key}})
        wait_for(lambda: ["c", "d"] in batches)
    finally:
        source.stop()
    assert batches == [["a", "bad", "c", "d"], ["a", "bad"], ["a"], ["bad"], ["c", "d"]]
    [discarded] = sent
    assert discarded["DDBStreamBatchInfo"]["batchSize"] == 1


def test_a_kinesis_mapping_at_a_timestamp_reads_the_records_put_from_then_on(emulator_endpoint):
    """StartingPosition AT_TIMESTAMP (StartingPositionTimestamp): the records put before it are not delivered,
    those after it are, in order, as Lambda writes them."""
    from infra.stream_pollers import KinesisStreamSource

    kinesis = account.client("kinesis", emulator_endpoint)
    name = f"clicks-{time.monotonic_ns()}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    try:
        kinesis.put_record(StreamName=name, PartitionKey="k", Data=b"before")
        time.sleep(1.1)
        since = time.time()
        time.sleep(0.1)
        for i in range(3):
            kinesis.put_record(StreamName=name, PartitionKey="k", Data=f"after {i}".encode())
        delivered = []
        source = KinesisStreamSource(
            StreamEventSourceSpec("fn", arn, starting_position="AT_TIMESTAMP", starting_timestamp=since, role="r"),
            lambda function, event: delivered.extend(event["Records"]), kinesis)
        source.start()
        try:
            wait_for(lambda: len(delivered) >= 3, 10)
            time.sleep(0.5)
        finally:
            source.stop()
        assert [base64.b64decode(r["kinesis"]["data"]) for r in delivered] == [b"after 0", b"after 1", b"after 2"]
        assert {r["invokeIdentityArn"] for r in delivered} == {"r"}
    finally:
        kinesis.delete_stream(StreamName=name)
