"""Parity: EventBridge Pipes (fixtures/apps/order_pipes), which the deployer refused. A pipe's source is polled as a
Lambda event source mapping's is (batches, filters, retries); the batch goes to the enrichment function as a JSON
array and its answer to the target: a function (the array, synchronously), an SQS queue (each item a message), an
event bus (each item an event's detail, source "Pipe <name>", DetailType as given).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from racing import drain, wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "order_pipes" / "template.yaml"


def drained(cloud, url: str, wanted: int) -> list[dict]:
    return [json.loads(body) for body in drain(cloud.client("sqs"), url, wanted, seconds=20)]


def test_orders_are_filtered_enriched_and_stored_and_the_table_s_stream_is_audited(cloud):
    outputs, sqs = cloud.stack.outputs, cloud.client("sqs")
    for body in ({"kind": "order", "id": "o-1", "qty": 2}, {"kind": "refund", "id": "r-1", "qty": 1},
                 {"kind": "order", "id": "o-2", "qty": 5}):
        sqs.send_message(QueueUrl=outputs["OrdersUrl"], MessageBody=json.dumps(body))
    table = cloud.client("dynamodb")

    def stored():
        items = table.scan(TableName=outputs["TableName"])["Items"]
        return items if len(items) >= 2 else None
    items = {i["pk"]["S"]: int(i["total"]["N"]) for i in wait_for(stored, 20)}
    assert items == {"o-1": 6, "o-2": 15}  # the refund was filtered out; totals from the enrichment
    assert cloud.runtime.stats()[cloud.physical_id("Enrich")]["invocations"] >= 1
    # the filtered-out message was deleted, the others processed: the queue is empty
    assert wait_for(lambda: sqs.get_queue_attributes(QueueUrl=outputs["OrdersUrl"], AttributeNames=["All"])
                 ["Attributes"]["ApproximateNumberOfMessages"] == "0")
    audit = drained(cloud, outputs["AuditUrl"], 2)
    assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in audit) == ["o-1", "o-2"]
    assert {r["eventSource"] for r in audit} == {"aws:dynamodb"} and {r["eventName"] for r in audit} == {"INSERT"}


def test_notices_reach_the_bus_as_events_of_the_pipe(cloud):
    outputs = cloud.stack.outputs
    cloud.client("sqs").send_message(QueueUrl=outputs["NoticesUrl"], MessageBody=json.dumps({"notice": "late"}))
    [event] = drained(cloud, outputs["NoticeSinkUrl"], 1)
    assert (event["source"], event["detail-type"]) == ("Pipe notices-to-bus", "OrderNotice")
    assert json.loads(event["detail"]["body"]) == {"notice": "late"}
    assert event["detail"]["eventSourceARN"].endswith(":" + outputs["NoticesUrl"].rsplit("/", 1)[1])


def test_the_pipes_are_in_the_emulator(cloud):
    pipe = cloud.client("pipes").describe_pipe(Name="notices-to-bus")
    assert pipe["Target"].endswith(":event-bus/default") and pipe["DesiredState"] == "RUNNING"
    assert cloud.stack.outputs["OrderPipeArn"].startswith("arn:aws:pipes:")


def test_a_function_targets_partial_batch_failure_retries_only_the_reported_items(cloud):
    outputs, sqs = cloud.stack.outputs, cloud.client("sqs")
    for body in ({"id": "p-1"}, {"id": "p-2", "declined": True}, {"id": "p-3"}):
        sqs.send_message(QueueUrl=outputs["PaymentsUrl"], MessageBody=json.dumps(body))
    # the declined payment alone came back (after its 1 s visibility timeout) and was dead-lettered; the settled
    # ones were deleted (before, the answer was ignored: all three deleted, none dead-lettered)
    [declined] = drained(cloud, outputs["DeclinedUrl"], 1)
    assert declined == {"id": "p-2", "declined": True}
    assert wait_for(lambda: sqs.get_queue_attributes(QueueUrl=outputs["PaymentsUrl"], AttributeNames=["All"])
                    ["Attributes"]["ApproximateNumberOfMessages"] == "0")
    time.sleep(2.5)  # past two more visibility timeouts: nothing else reaches the dead-letter queue
    assert sqs.get_queue_attributes(QueueUrl=outputs["DeclinedUrl"], AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"] == "0"
