"""Event source mappings changed while the cloud runs (fixtures/apps/mapping_controls), as Lambda applies them.

UpdateEventSourceMapping with Enabled false stops polling; enabled again, polling resumes "from the time it had
stopped polling, so you don't lose processing of any records" (the Lambda API reference): a queue's messages wait
in the queue, a stream's records are delivered from where the mapping stopped, each once. A new batch size takes
effect; a mapping created at run time is polled with its batch size and window (moto ran the function inside
SendMessage, one message at a time); a deleted one polls no more; what Lambda refuses is refused and changes
nothing. Before 7 December the local cloud read a mapping's settings at deploy only.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from racing import drain, wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "mapping_controls" / "template.yaml"


def batches(cloud, prefix: str) -> list[list[str]]:
    """The batches the function got that held items starting with `prefix`, in the order it got them."""
    rows = cloud.client("dynamodb").scan(TableName=cloud.physical_id("Seen"))["Items"]
    rows.sort(key=lambda row: float(row["at"]["S"]))
    found = [json.loads(row["items"]["S"]) for row in rows]
    return [batch for batch in found if any(item.startswith(prefix) for item in batch)]


def mapping(cloud, source: str) -> dict:
    [found] = cloud.client("lambda").list_event_source_mappings(
        FunctionName=cloud.physical_id("Recorder"),
        EventSourceArn=cloud.stack.resources[source].attributes[
            "Arn" if source == "Intake" else "StreamArn"])["EventSourceMappings"]
    return found


def waiting(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_disabled_queue_mapping_leaves_messages_in_the_queue_and_enabled_with_a_new_batch_size_delivers_them(cloud):
    lam, sqs, url = cloud.client("lambda"), cloud.client("sqs"), cloud.physical_id("Intake")
    uuid = mapping(cloud, "Intake")["UUID"]
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] in ("Disabling", "Disabled")
    cloud.event_sources.settled()
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    for n in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=f"paused-{n}")
    time.sleep(2.0)
    assert batches(cloud, "paused-") == [] and waiting(sqs, url) == 4

    lam.update_event_source_mapping(UUID=uuid, Enabled=True, BatchSize=2)
    wait_for(lambda: sum(len(b) for b in batches(cloud, "paused-")) >= 4)
    got = batches(cloud, "paused-")
    assert sorted(item for batch in got for item in batch) == [f"paused-{n}" for n in range(4)]
    assert all(len(batch) <= 2 for batch in got), got
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
    wait_for(lambda: waiting(sqs, url) == 0)


def test_a_stream_mapping_enabled_again_resumes_where_it_stopped(cloud):
    lam, ddb, table = cloud.client("lambda"), cloud.client("dynamodb"), cloud.physical_id("Orders")
    uuid = mapping(cloud, "Orders")["UUID"]
    ddb.put_item(TableName=table, Item={"id": {"S": "s-0"}})
    wait_for(lambda: batches(cloud, "s-"))
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    cloud.event_sources.settled()
    for n in range(1, 4):
        ddb.put_item(TableName=table, Item={"id": {"S": f"s-{n}"}})
    time.sleep(1.5)
    assert [item for batch in batches(cloud, "s-") for item in batch] == ["s-0"]

    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_for(lambda: sum(len(b) for b in batches(cloud, "s-")) >= 4)
    time.sleep(0.5)
    # in order, each once: not read again from TRIM_HORIZON, nothing written while disabled skipped
    assert [item for batch in batches(cloud, "s-") for item in batch] == ["s-0", "s-1", "s-2", "s-3"]


def test_a_mapping_created_while_running_is_polled_in_batches_and_deleted_it_polls_no_more(cloud):
    lam, sqs = cloud.client("lambda"), cloud.client("sqs")
    url = sqs.create_queue(QueueName="late-intake")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function = cloud.physical_id("Recorder")
    with pytest.raises(ClientError) as refused:  # over 10 needs a batching window of at least 1 s
        lam.create_event_source_mapping(FunctionName=function, EventSourceArn=arn, BatchSize=50)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []

    created = lam.create_event_source_mapping(FunctionName=function, EventSourceArn=arn, BatchSize=5,
                                              MaximumBatchingWindowInSeconds=2)
    cloud.event_sources.settled()
    started = time.monotonic()
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"late-{n}"} for n in range(5)])
    assert time.monotonic() - started < 1.0  # the function runs from the queue, not inside the send
    wait_for(lambda: sum(len(b) for b in batches(cloud, "late-")) >= 5)
    got = batches(cloud, "late-")
    assert sorted(item for batch in got for item in batch) == [f"late-{n}" for n in range(5)]
    assert max(len(batch) for batch in got) > 1, got  # gathered for the window, not one message at a time

    lam.delete_event_source_mapping(UUID=created["UUID"])
    cloud.event_sources.settled()
    sqs.send_message(QueueUrl=url, MessageBody="late-after-delete")
    time.sleep(2.0)
    assert batches(cloud, "late-after") == [] and waiting(sqs, url) == 1


def test_an_update_lambda_refuses_changes_nothing(cloud):
    lam = cloud.client("lambda")
    uuid = mapping(cloud, "Intake")["UUID"]
    before = lam.get_event_source_mapping(UUID=uuid)["BatchSize"]
    with pytest.raises(ClientError) as refused:
        lam.update_event_source_mapping(UUID=uuid, BatchSize=50, MaximumBatchingWindowInSeconds=0)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.get_event_source_mapping(UUID=uuid)["BatchSize"] == before


def queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_a_pipe_created_while_running_relays_and_stopped_leaves_messages_waiting_and_started_relays_them(cloud):
    """CreatePipe, StopPipe, StartPipe, DeletePipe through the API (moto stored pipes; the local cloud ran the
    template's only, as deployed: a stopped pipe went on, one created at run time never ran)."""
    sqs, pipes = cloud.client("sqs"), cloud.client("pipes")
    (inbox, inbox_arn), (outbox, outbox_arn) = queue(sqs, "relay-in"), queue(sqs, "relay-out")
    pipes.create_pipe(Name="relay", Source=inbox_arn, Target=outbox_arn,
                      RoleArn=f"arn:aws:iam::{cloud.stack.account_id}:role/relay")
    cloud.event_sources.settled()
    sqs.send_message(QueueUrl=inbox, MessageBody="first")
    assert [json.loads(m)["body"] for m in drain(sqs, outbox, 1)] == ["first"]

    pipes.stop_pipe(Name="relay")
    cloud.event_sources.settled()
    sqs.send_message(QueueUrl=inbox, MessageBody="held")
    assert drain(sqs, outbox, 1, seconds=2) == [] and waiting(sqs, inbox) == 1
    pipes.start_pipe(Name="relay")
    assert [json.loads(m)["body"] for m in drain(sqs, outbox, 1)] == ["held"]

    pipes.delete_pipe(Name="relay")
    cloud.event_sources.settled()
    sqs.send_message(QueueUrl=inbox, MessageBody="after")
    assert drain(sqs, outbox, 1, seconds=2) == [] and waiting(sqs, inbox) == 1


def test_a_stream_pipe_started_again_resumes_where_it_stopped(cloud):
    sqs, pipes, ddb = cloud.client("sqs"), cloud.client("pipes"), cloud.client("dynamodb")
    outbox, outbox_arn = queue(sqs, "orders-feed")
    pipes.create_pipe(Name="orders-feed", Source=cloud.stack.resources["Orders"].attributes["StreamArn"],
                      SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}},
                      Target=outbox_arn, RoleArn=f"arn:aws:iam::{cloud.stack.account_id}:role/feed")
    cloud.event_sources.settled()

    def keys(count: int, seconds: float = 10.0) -> list[str]:
        found = [json.loads(m)["dynamodb"]["Keys"]["id"]["S"] for m in drain(sqs, outbox, count, seconds)]
        return [key for key in found if key.startswith("p-")]

    ddb.put_item(TableName=cloud.physical_id("Orders"), Item={"id": {"S": "p-0"}})
    assert keys(1) == ["p-0"]
    pipes.stop_pipe(Name="orders-feed")
    cloud.event_sources.settled()
    for n in (1, 2):
        ddb.put_item(TableName=cloud.physical_id("Orders"), Item={"id": {"S": f"p-{n}"}})
    assert keys(1, seconds=1.5) == []
    pipes.start_pipe(Name="orders-feed")
    assert keys(2) == ["p-1", "p-2"]
    assert keys(1, seconds=1.5) == []  # p-0 not again
