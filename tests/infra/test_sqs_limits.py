"""SQS's documented bounds, which moto did not keep: queue attributes (CreateQueue, SetQueueAttributes) outside
their ranges, or not numbers, are InvalidAttributeValue; a negative ChangeMessageVisibility is
InvalidParameterValue, as is a message's DelaySeconds outside 0-900 (SendMessage, SendMessageBatch). Each patch is
applied alone here, over moto's mock."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra import moto_patches


@pytest.fixture
def patched():
    patches = [moto_patches.patch("sqs-queue-attributes-in-range"),
               moto_patches.patch("sqs-visibility-under-the-queue-lock"),
               moto_patches.patch("sqs-message-delay-in-range")]
    for patch in patches:
        patch.apply()
    try:
        with mock_aws():
            yield boto3.client("sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    finally:
        for patch in patches:
            patch.revert()


@pytest.mark.parametrize("name, value", [("DelaySeconds", "901"), ("DelaySeconds", "-1"), ("DelaySeconds", "ten"),
                                         ("VisibilityTimeout", "43201"), ("MessageRetentionPeriod", "59"),
                                         ("MessageRetentionPeriod", "1209601"),
                                         ("ReceiveMessageWaitTimeSeconds", "21")])
def test_a_queue_attribute_out_of_its_range_is_refused(patched, name, value):
    sqs = patched
    with pytest.raises(ClientError) as refused:
        sqs.create_queue(QueueName="bounded", Attributes={name: value})
    assert refused.value.response["Error"]["Code"] == "InvalidAttributeValue"
    assert refused.value.response["Error"]["Message"] == f"Invalid value for the parameter {name}."
    edges = {"DelaySeconds": "900", "VisibilityTimeout": "43200", "MessageRetentionPeriod": "60",
             "ReceiveMessageWaitTimeSeconds": "20"}
    url = sqs.create_queue(QueueName="edges", Attributes=edges)["QueueUrl"]
    with pytest.raises(ClientError) as refused:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value})
    assert refused.value.response["Error"]["Code"] == "InvalidAttributeValue"
    # nothing of the refused call was kept
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"] == {name: edges[name]}


def test_a_negative_visibility_timeout_is_refused(patched):
    sqs = patched
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="job")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    with pytest.raises(ClientError) as refused:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=-1)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "job"


@pytest.mark.parametrize("delay", [-1, 901])
def test_a_message_delay_out_of_its_range_is_refused(patched, delay):
    sqs = patched
    url = sqs.create_queue(QueueName="delayed")["QueueUrl"]
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="job", DelaySeconds=delay)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "DelaySeconds" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a"},
                                                      {"Id": "2", "MessageBody": "b", "DelaySeconds": delay}])
    sqs.send_message(QueueUrl=url, MessageBody="edge", DelaySeconds=900 if delay > 0 else 0)
    assert int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessagesDelayed" if delay > 0 else "ApproximateNumberOfMessages"]) == 1
