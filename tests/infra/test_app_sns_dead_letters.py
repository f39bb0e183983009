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


def test_a_subscription_signs_its_notifications_with_one_certificate(cloud):
    """SNS's notifications carry a signature and the URL of the certificate that verifies it. moto made, signed and
    stored a new certificate for every delivery (~0.5 ms of CPU each, and a PEM kept for ever per message); the
    local cloud makes one per subscription (patch sns-one-signing-certificate), and the signatures still verify."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from moto.sns.models import sns_backends

    from infra import account

    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    outputs = cloud.stack.outputs
    store = sns_backends[account.ACCOUNT_ID][account.REGION]._message_public_keys
    for i in range(3):
        sns.publish(TopicArn=outputs["TopicArn"], Message=f"signed {i}", Subject="s")
    drain(sqs, outputs["UndeliveredUrl"])
    notices = [json.loads(b) for b in drain(sqs, outputs["InboxUrl"])]
    assert [n["Message"] for n in notices] == ["signed 0", "signed 1", "signed 2"]
    assert set(notices[0]) == {"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
                               "SigningCertURL", "UnsubscribeURL", "Subject"}
    assert len({n["SigningCertURL"] for n in notices}) == 1  # one certificate for the subscription
    certificates = len(store)
    sns.publish(TopicArn=outputs["TopicArn"], Message="one more")
    drain(sqs, outputs["UndeliveredUrl"]), drain(sqs, outputs["InboxUrl"])
    assert len(store) == certificates  # nothing kept per message
    pem = store[notices[0]["SigningCertURL"].rsplit("/", 1)[1]]
    key = x509.load_pem_x509_certificate(pem).public_key()
    for n in notices:
        signed = (f"Message\n{n['Message']}\nMessageId\n{n['MessageId']}\nTimestamp\n{n['Timestamp']}\n"
                  f"TopicArn\n{n['TopicArn']}\nType\nNotification\n")
        key.verify(base64.b64decode(n["Signature"]), signed.encode(), padding.PKCS1v15(), hashes.SHA256())
