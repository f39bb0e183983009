"""Parity: EventBridge targets' dead-letter queues (fixtures/apps/event_dead_letters). Before, a target's
DeadLetterConfig was accepted and not used: an event for a target that does not exist was logged and lost. Now it
goes to the target's queue as EventBridge documents it, the event with RULE_ARN, TARGET_ARN, ERROR_CODE,
ERROR_MESSAGE and RETRY_ATTEMPTS attributes."""
from __future__ import annotations

import json
from pathlib import Path

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "event_dead_letters" / "template.yaml"


def drain(sqs, url: str) -> list[dict]:
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def put_order(cloud, order: str) -> None:
    answer = cloud.client("events").put_events(Entries=[{
        "EventBusName": "orders", "Source": "shop.orders", "DetailType": "OrderPlaced",
        "Detail": json.dumps({"order": order})}])
    assert answer["FailedEntryCount"] == 0


def test_what_eventbridge_cannot_deliver_goes_to_the_targets_dead_letter_queue(cloud):
    sqs, outputs = cloud.client("sqs"), cloud.stack.outputs
    put_order(cloud, "o-1")
    assert [json.loads(m["Body"])["detail"] for m in drain(sqs, outputs["ShippingUrl"])] == [{"order": "o-1"}]
    assert [json.loads(m["Body"])["detail"] for m in drain(sqs, outputs["BillingUrl"])] == [{"order": "o-1"}]
    [dead] = drain(sqs, outputs["UndeliveredUrl"])  # the retired function's
    event = json.loads(dead["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == ("shop.orders", "OrderPlaced", {"order": "o-1"})
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == outputs["RuleArn"]
    assert attributes["TARGET_ARN"].endswith(":function:retired-invoicer")
    assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("NO_RESOURCE", "0")
    assert attributes["ERROR_MESSAGE"]

    sqs.delete_queue(QueueUrl=outputs["BillingUrl"])  # a target queue deleted, the rule left
    put_order(cloud, "o-2")
    assert [json.loads(m["Body"])["detail"] for m in drain(sqs, outputs["ShippingUrl"])] == [{"order": "o-2"}]
    dead = drain(sqs, outputs["UndeliveredUrl"])
    assert {m["MessageAttributes"]["TARGET_ARN"]["StringValue"].rsplit(":", 1)[1] for m in dead} == {
        "retired-invoicer", cloud.stack.resources["Billing"].physical_id.rsplit("/", 1)[-1]}
    assert {m["MessageAttributes"]["ERROR_CODE"]["StringValue"] for m in dead} == {"NO_RESOURCE"}
