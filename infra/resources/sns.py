"""SNS topics, subscriptions and topic policies."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, json_text, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

_SNS_PROTOCOLS = ("sqs", "lambda", "http", "https", "email", "email-json")


@creates("AWS::SNS::Topic",
         handles=("TopicName", "DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId",
                  "Subscription", "SignatureVersion", "Tags"),
         ignores={"TracingConfig": "no X-Ray traces", "DeliveryStatusLogging": "no delivery status logs locally",
                  "DataProtectionPolicy": "messages are not masked locally",
                  "FifoThroughputScope": "no throughput limits locally"},
         unsupported={"ArchivePolicy": "no message archive or replay"},
         check=lambda d, lid, props: [(f"Subscription Protocol {s.get('Protocol')}", "not delivered locally")
                                      for s in props.get("Subscription") or []
                                      if isinstance(s, dict) and s.get("Protocol") not in _SNS_PROTOCOLS])
def _topic(d: Deployer, lid: str, props: dict) -> Resource:
    sns = d.client("sns")
    fifo = truthy(props.get("FifoTopic", ""))
    name = d.name_for(lid, props, "TopicName", limit=251 if fifo else 256)
    if fifo and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in props.items()
                  if k in ("DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId",
                           "SignatureVersion")}
    args: dict[str, Any] = {"Name": name, "Attributes": attributes}
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]
    arn = sns.create_topic(**args)["TopicArn"]
    for subscription in props.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return Resource(lid, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


@creates("AWS::SNS::Subscription",
         handles=("TopicArn", "Protocol", "Endpoint", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                  "Region", "RedrivePolicy"),
         ignores={"DeliveryPolicy": "HTTP delivery retries are not applied locally"},
         unsupported={"SubscriptionRoleArn": "no Firehose subscriptions", "ReplayPolicy": "no message replay"},
         check=lambda d, lid, props: [] if props.get("Protocol") in _SNS_PROTOCOLS else [
             (f"Protocol {props.get('Protocol')}", "not delivered locally")])
def _subscription(d: Deployer, lid: str, props: dict) -> Resource:
    attributes = {}
    if "FilterPolicy" in props:
        policy = props["FilterPolicy"]
        attributes["FilterPolicy"] = json_text(policy)
    if "FilterPolicyScope" in props:
        attributes["FilterPolicyScope"] = props["FilterPolicyScope"]
    if "RawMessageDelivery" in props:
        attributes["RawMessageDelivery"] = str(truthy(props["RawMessageDelivery"])).lower()
    if "RedrivePolicy" in props:  # a message SNS cannot deliver goes to this queue (moto_patches._redrive)
        attributes["RedrivePolicy"] = json_text(props["RedrivePolicy"])
    arn = d.client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                    Endpoint=props["Endpoint"], Attributes=attributes,
                                    ReturnSubscriptionArn=True)["SubscriptionArn"]
    return Resource(lid, "AWS::SNS::Subscription", arn, {"Arn": arn})


@creates("AWS::SNS::TopicPolicy", handles=("Topics", "PolicyDocument"))
def _topic_policy(d: Deployer, lid: str, props: dict) -> Resource:
    for topic in props["Topics"]:
        d.client("sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                             AttributeValue=json.dumps(props["PolicyDocument"]))
    return Resource(lid, "AWS::SNS::TopicPolicy", f"{d.stack.name}-{lid}", {"Id": f"{d.stack.name}-{lid}"})


@creates("AWS::SNS::TopicInlinePolicy", handles=("TopicArn", "PolicyDocument"))
def _topic_inline_policy(d: Deployer, lid: str, props: dict) -> Resource:
    document = props["PolicyDocument"]
    d.client("sns").set_topic_attributes(TopicArn=props["TopicArn"], AttributeName="Policy",
                                         AttributeValue=json_text(document))
    return Resource(lid, "AWS::SNS::TopicInlinePolicy", f"{d.stack.name}-{lid}")
