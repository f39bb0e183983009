"""SQS queues and their policies."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, json_text, numeric, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                     "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "KmsMasterKeyId",
                     "KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit",
                     "SqsManagedSseEnabled")


@creates("AWS::SQS::Queue", handles=("QueueName", "RedrivePolicy", "RedriveAllowPolicy", "Tags", *_QUEUE_ATTRIBUTES))
def _queue(d: Deployer, lid: str, props: dict) -> Resource:
    sqs = d.client("sqs")
    fifo = truthy(props.get("FifoQueue", ""))
    name = d.name_for(lid, props, "QueueName", limit=75 if fifo else 80)
    if fifo and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {k: str(v).lower() if isinstance(v, bool) else str(v)
                  for k, v in props.items() if k in _QUEUE_ATTRIBUTES}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            policy = props[key]
            if isinstance(policy, dict) and "maxReceiveCount" in policy:
                policy = {**policy, "maxReceiveCount": numeric(policy["maxReceiveCount"])}
            attributes[key] = json_text(policy)
    args: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if props.get("Tags"):
        args["tags"] = tags(props["Tags"])
    url = sqs.create_queue(**args)["QueueUrl"]
    if d.embedded:
        url = f"{d.endpoint}/{d.stack.account_id}/{name}"  # as the server would have answered
    arn = d.arn("sqs", name)
    return Resource(lid, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


@creates("AWS::SQS::QueuePolicy", handles=("Queues", "PolicyDocument"))
def _queue_policy(d: Deployer, lid: str, props: dict) -> Resource:
    for url in props["Queues"]:
        d.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    return Resource(lid, "AWS::SQS::QueuePolicy", f"{d.stack.name}-{lid}", {"Id": f"{d.stack.name}-{lid}"})


@creates("AWS::SQS::QueueInlinePolicy", handles=("Queue", "PolicyDocument"))
def _queue_inline_policy(d: Deployer, lid: str, props: dict) -> Resource:
    document = props["PolicyDocument"]
    d.client("sqs").set_queue_attributes(QueueUrl=props["Queue"], Attributes={
        "Policy": json_text(document)})
    return Resource(lid, "AWS::SQS::QueueInlinePolicy", f"{d.stack.name}-{lid}")
