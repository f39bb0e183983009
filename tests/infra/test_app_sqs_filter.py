"""Parity: an SQS event source with FilterCriteria (fixtures/apps/sqs_filter).

Only messages some pattern matches reach the function (the body matched as JSON, or as a plain string); the
others are deleted from the queue unprocessed, as Lambda does.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "sqs_filter" / "template.yaml"


def test_only_matching_messages_reach_the_function_and_the_rest_are_deleted():
    with LocalCloud(TEMPLATE, static_dir=None) as cloud:
        sqs, url = cloud.client("sqs"), cloud.physical_id("PaymentsQueue")
        bodies = [json.dumps({"type": "payment", "amount": 5}), json.dumps({"type": "payment", "amount": 0}),
                  json.dumps({"type": "refund", "amount": 5}), "ping", "pong"]
        for body in bodies:
            sqs.send_message(QueueUrl=url, MessageBody=body)
        ddb, table = cloud.client("dynamodb"), cloud.physical_id("Handled")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0":
                break
            time.sleep(0.2)
        handled = sorted(item["body"]["S"] for item in ddb.scan(TableName=table)["Items"])
        assert handled == sorted([bodies[0], "ping"])
        assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        [mapping] = cloud.client("lambda").list_event_source_mappings(
            FunctionName=cloud.physical_id("PaymentWorker"))["EventSourceMappings"]
        assert len(mapping["FilterCriteria"]["Filters"]) == 2
