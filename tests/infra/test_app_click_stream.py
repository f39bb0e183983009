"""Parity: Kinesis event sources (fixtures/apps/click_stream: SAM `Kinesis` events on a stream of two shards).

Records put on the stream reach the mapped functions in batches, in order per shard, written as Lambda writes
them (`kinesis.data` base64, `eventID` "<shard>:<sequence number>", the function's role as `invokeIdentityArn`);
a filter on `data` drops the records it does not match; a batch the function fails on is bisected and retried,
and the poison record, once its retries are spent, is skipped and named in `KinesisBatchInfo` on the on-failure
queue, while the records after it get through. Before, the deployer refused AWS::Kinesis::Stream and every
Kinesis mapping (and moto ran a mapped function inside PutRecord, one record at a time).
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "click_stream" / "template.yaml"


def clicks(page: str, kind: str = "click") -> bytes:
    return json.dumps({"page": page, "kind": kind}).encode()


def count(cloud, page: str) -> int:
    item = cloud.client("dynamodb").get_item(TableName=cloud.stack.outputs["TableName"],
                                             Key={"page": {"S": page}}).get("Item")
    return int(item["clicks"]["N"]) if item and "clicks" in item else 0


def test_records_reach_the_function_as_lambda_writes_them(cloud):
    kinesis = cloud.client("kinesis")
    stream = cloud.stack.outputs["StreamName"]
    put = kinesis.put_record(StreamName=stream, PartitionKey="visitor-7", Data=clicks("/raw"))
    item = wait_for(lambda: cloud.client("dynamodb").get_item(
        TableName=cloud.stack.outputs["TableName"], Key={"page": {"S": "raw#visitor-7"}}).get("Item"), 30)
    record = json.loads(item["record"]["S"])
    role = cloud.client("lambda").get_function_configuration(FunctionName=cloud.physical_id("Recorder"))["Role"]
    assert record["kinesis"]["partitionKey"] == "visitor-7"
    assert record["kinesis"]["sequenceNumber"] == put["SequenceNumber"]
    assert base64.b64decode(record["kinesis"]["data"]) == clicks("/raw")
    assert record["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert abs(record["kinesis"]["approximateArrivalTimestamp"] - time.time()) < 60
    assert record["eventID"] == f"{put['ShardId']}:{put['SequenceNumber']}"
    assert (record["eventSource"], record["eventName"], record["eventVersion"]) == \
        ("aws:kinesis", "aws:kinesis:record", "1.0")
    assert record["eventSourceARN"] == cloud.stack.outputs["StreamArn"] and record["invokeIdentityArn"] == role
    assert record["awsRegion"] == cloud.stack.region
    # delivered once, by the poller (moto also ran a mapped function inside PutRecord: twice)
    wait_for(lambda: count(cloud, "/raw") == 1, 30)
    time.sleep(1)
    assert count(cloud, "/raw") == 1 and count(cloud, "deliveries#visitor-7") == 1


def test_clicks_on_both_shards_are_counted_and_other_kinds_filtered_out(cloud):
    kinesis = cloud.client("kinesis")
    stream = cloud.stack.outputs["StreamName"]
    entries = [{"PartitionKey": f"visitor-{i}", "Data": clicks("/a" if i % 3 else "/b")} for i in range(30)]
    entries += [{"PartitionKey": f"visitor-{i}", "Data": clicks("/v", kind="view")} for i in range(5)]
    answer = kinesis.put_records(StreamName=stream, Records=entries)
    assert answer["FailedRecordCount"] == 0
    assert len({r["ShardId"] for r in answer["Records"]}) == 2  # both shards have records
    wait_for(lambda: count(cloud, "/a") == 20 and count(cloud, "/b") == 10, 30)
    time.sleep(1)
    assert (count(cloud, "/a"), count(cloud, "/b"), count(cloud, "/v")) == (20, 10, 0)


def test_a_poison_record_is_bisected_out_and_named_on_the_failure_queue(cloud):
    kinesis, sqs = cloud.client("kinesis"), cloud.client("sqs")
    stream = cloud.stack.outputs["StreamName"]
    entries = [{"PartitionKey": "p1", "Data": clicks("/x")} for _ in range(3)]
    entries.append({"PartitionKey": "p1", "Data": clicks("/poison")})
    entries += [{"PartitionKey": "p1", "Data": clicks("/y")} for _ in range(3)]
    put = kinesis.put_records(StreamName=stream, Records=entries)["Records"]
    poison = put[3]
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=cloud.stack.outputs["SkippedUrl"],
                                                    WaitTimeSeconds=1).get("Messages"), 60)
    skipped = json.loads(messages[0]["Body"])
    info = skipped["KinesisBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == \
        (poison["ShardId"], poison["SequenceNumber"], poison["SequenceNumber"], 1)
    assert info["streamArn"] == cloud.stack.outputs["StreamArn"]
    assert skipped["requestContext"]["condition"] == "RetryAttemptsExhausted"
    # the records after the poison got through once each; those before it at least once (a failed batch's
    # earlier records ran before the function raised: Lambda's at-least-once)
    wait_for(lambda: count(cloud, "/y") == 3, 30)
    assert count(cloud, "/x") >= 3


def test_a_mapping_on_an_enhanced_fan_out_consumer_reads_its_stream(cloud):
    consumer = cloud.stack.outputs["ConsumerArn"]
    assert consumer.startswith(cloud.stack.outputs["StreamArn"] + "/consumer/reader")
    kinesis = cloud.client("kinesis")
    assert kinesis.describe_stream_consumer(ConsumerARN=consumer)["ConsumerDescription"]["ConsumerName"] == "reader"
    [mapping] = cloud.client("lambda").list_event_source_mappings(
        FunctionName=cloud.physical_id("FanOut"))["EventSourceMappings"]
    assert mapping["EventSourceArn"] == consumer  # the mapping names the consumer, as Lambda's does
    kinesis.put_record(StreamName=cloud.stack.outputs["StreamName"], PartitionKey="efo-1", Data=clicks("/efo"))
    item = wait_for(lambda: cloud.client("dynamodb").get_item(
        TableName=cloud.stack.outputs["TableName"], Key={"page": {"S": "efo#efo-1"}}).get("Item"), 30)
    record = json.loads(item["record"]["S"])
    assert base64.b64decode(record["kinesis"]["data"]) == clicks("/efo")
    assert record["eventSourceARN"] == cloud.stack.outputs["StreamArn"]  # the stream's, not the consumer's
    with pytest.raises(cloud.client("lambda").exceptions.ResourceNotFoundException):
        cloud.client("lambda").create_event_source_mapping(
            FunctionName=cloud.physical_id("FanOut"), StartingPosition="LATEST",
            EventSourceArn=cloud.stack.outputs["StreamArn"] + "/consumer/nobody:1")
