"""Parity: an SNS fan-out app (fixtures/apps/sns_fanout) deploys unmodified and delivers as SNS and Lambda do.

A Lambda subscriber with a filter policy gets SNS's event (real topic, message id, attributes); a queue
subscriber gets the raw message and its consumer runs; a failing subscriber is invoked asynchronously, retried
twice with backoff, then its event goes to the DeadLetterConfig queue and an invocation record to the
on-failure destination. KMS key, alias, SSM parameter, generated secret, log group, Mappings, dynamic references.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from infra import async_invoke
from infra.cloud import LocalCloud
from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "sns_fanout" / "template.yaml"
DELAYS = (0.3, 0.6)


@pytest.fixture(scope="module")
def cloud():
    delays = async_invoke.RETRY_DELAYS
    async_invoke.RETRY_DELAYS = DELAYS
    try:
        with LocalCloud(TEMPLATE, static_dir=None) as running:
            yield running
    finally:
        async_invoke.RETRY_DELAYS = delays


def seen(cloud, prefix):
    items = cloud.client("dynamodb").scan(TableName=cloud.physical_id("SeenTable"))["Items"]
    return [{k: v["S"] for k, v in item.items()} for item in items if item["id"]["S"].startswith(prefix)]


def receive_all(cloud, logical_id, count):
    sqs, url, messages = cloud.client("sqs"), cloud.physical_id(logical_id), []
    deadline = time.monotonic() + 15
    while len(messages) < count and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        for message in received:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages += received
    return messages


@pytest.fixture(scope="module")
def published(cloud):
    sns = cloud.client("sns")
    topic = cloud.stack.outputs["TopicArn"]
    big = sns.publish(TopicArn=topic, Message=json.dumps({"order": "o-1"}), Subject="new order",
                      MessageAttributes={"size": {"DataType": "String", "StringValue": "big"}})
    small = sns.publish(TopicArn=topic, Message=json.dumps({"order": "o-2"}),
                        MessageAttributes={"size": {"DataType": "String", "StringValue": "small"}})
    return topic, big["MessageId"], small["MessageId"]


def test_the_lambda_subscriber_gets_sns_event_and_its_filter_policy_applies(cloud, published):
    topic, big, _ = published
    [record] = wait_for(lambda: seen(cloud, "big-orders:"))
    assert record["id"] == f"big-orders:{big}"
    assert record["topic"] == topic and record["subject"] == "new order" and record["size"] == "big"
    assert record["subscription"].startswith(topic + ":")
    time.sleep(0.5)
    assert len(seen(cloud, "big-orders:")) == 1          # the "small" order did not match the filter policy


def test_the_queue_subscriber_gets_raw_messages_and_its_consumer_runs(cloud, published):
    bodies = wait_for(lambda: sorted(r["body"] for r in seen(cloud, "audit:")) if len(seen(cloud, "audit:")) == 2
                      else None)
    assert bodies == ['{"order": "o-1"}', '{"order": "o-2"}']     # RawMessageDelivery: no SNS envelope


def test_a_failing_subscriber_is_retried_twice_then_dead_lettered(cloud, published):
    dead = receive_all(cloud, "FlakyDeadLetters", 2)
    assert sorted(json.loads(json.loads(m["Body"])["Records"][0]["Sns"]["Message"])["order"] for m in dead) == \
        ["o-1", "o-2"]
    assert {m["MessageAttributes"]["ErrorMessage"]["StringValue"] for m in dead} == \
        {"downstream unavailable: o-1", "downstream unavailable: o-2"}
    assert len(seen(cloud, "flaky:")) == 6                # 2 events x (1 attempt + 2 retries)
    records = [json.loads(m["Body"]) for m in receive_all(cloud, "FlakyFailures", 2)]
    assert {r["requestContext"]["condition"] for r in records} == {"RetriesExhausted"}
    assert {r["requestContext"]["approximateInvokeCount"] for r in records} == {3}
    assert {r["responsePayload"]["errorType"] for r in records} == {"RuntimeError"}
    assert {r["responseContext"]["functionError"] for r in records} == {"Unhandled"}


def test_an_event_invoke_waits_between_retries(cloud, published):
    wait_for(lambda: len(seen(cloud, "flaky:")) >= 6)      # the published events are done
    time.sleep(0.5)
    before = len(seen(cloud, "flaky:"))
    event = {"Records": [{"Sns": {"Message": json.dumps({"order": "o-3"})}}]}
    started = time.monotonic()
    response = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("FlakySubscriber"),
                                             InvocationType="Event", Payload=json.dumps(event).encode())
    assert response["StatusCode"] == 202
    wait_for(lambda: any(json.loads(m["Body"]) == event for m in receive_all(cloud, "FlakyDeadLetters", 1)))
    assert time.monotonic() - started >= sum(DELAYS)
    assert len(seen(cloud, "flaky:")) == before + 3


def test_kms_ssm_secret_and_log_group_resources(cloud):
    key = cloud.client("kms").describe_key(KeyId="alias/order-events")["KeyMetadata"]
    assert key["KeyId"] == cloud.physical_id("EventsKey") and key["Description"] == "encrypts order events"
    assert cloud.client("kms").get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    topic = cloud.client("sns").get_topic_attributes(TopicArn=cloud.stack.outputs["TopicArn"])["Attributes"]
    assert topic["KmsMasterKeyId"] == key["KeyId"]
    assert cloud.client("ssm").get_parameter(Name="/order-events/dev/webhook")["Parameter"]["Value"] == \
        "https://hooks.example.com/orders"
    assert cloud.stack.outputs["WebhookUrl"] == "https://hooks.example.com/orders"      # {{resolve:ssm:...}}
    secret = json.loads(cloud.client("secretsmanager").get_secret_value(
        SecretId="order-events/dev/webhook-token")["SecretString"])
    assert secret["user"] == "orders" and len(secret["token"]) == 24 and secret["token"].isalnum()
    groups = cloud.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/notifyx-BigOrder")["logGroups"]
    assert [g["retentionInDays"] for g in groups] == [7]                                 # Fn::FindInMap
