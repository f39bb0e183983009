"""Parity: SNS subscriptions with a dead-letter queue (fixtures/apps/sns_dead_letters). Before, RedrivePolicy was
refused at deploy; and through the API a subscription whose queue was deleted or whose webhook was down made moto's
Publish fail (a 500 after the subscriptions before it had the message: a client's retry duplicated it), where SNS
answers the Publish and discards the message, or moves it to the subscription's dead-letter queue."""
from __future__ import annotations

import json
from pathlib import Path

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "sns_dead_letters" / "template.yaml"


def drain(sqs, url: str) -> list[str]:
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_what_sns_cannot_deliver_goes_to_the_subscriptions_dead_letter_queue(cloud):
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    outputs = cloud.stack.outputs
    sns.publish(TopicArn=outputs["TopicArn"], Message="order 1", Subject="new order")
    assert [json.loads(b)["Message"] for b in drain(sqs, outputs["InboxUrl"])] == ["order 1"]
    assert drain(sqs, outputs["AuditUrl"]) == ["order 1"]  # raw delivery
    dead = [json.loads(b) for b in drain(sqs, outputs["UndeliveredUrl"])]
    # the retired function and the webhook that is down: SNS's notification, as the subscription would have had it
    assert sorted(d["Message"] for d in dead) == ["order 1", "order 1"]
    assert {(d["Type"], d["TopicArn"], d["Subject"]) for d in dead} == {
        ("Notification", outputs["TopicArn"], "new order")}

    sqs.delete_queue(QueueUrl=outputs["AuditUrl"])  # a subscribed queue deleted, its subscription left
    answer = sns.publish(TopicArn=outputs["TopicArn"], Message="order 2")
    assert answer["MessageId"]  # the Publish succeeds, as on SNS
    assert [json.loads(b)["Message"] for b in drain(sqs, outputs["InboxUrl"])] == ["order 2"]
    dead = drain(sqs, outputs["UndeliveredUrl"])
    assert [b for b in dead if not b.startswith("{")] == ["order 2"]  # the raw subscription's: the message alone
    assert [json.loads(b)["Message"] for b in dead if b.startswith("{")] == ["order 2", "order 2"]


def test_without_a_dead_letter_queue_an_undeliverable_message_is_dropped_and_the_publish_succeeds(cloud):
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name="plain")["TopicArn"]
    gone = sqs.create_queue(QueueName="gone")["QueueUrl"]
    kept = sqs.create_queue(QueueName="kept")["QueueUrl"]
    for url in (gone, kept):
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sqs.delete_queue(QueueUrl=gone)
    assert sns.publish(TopicArn=topic, Message="hi")["MessageId"]
    assert [json.loads(b)["Message"] for b in drain(sqs, kept)] == ["hi"]
