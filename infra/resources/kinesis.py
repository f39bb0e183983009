"""Kinesis data streams (moto's: shards, records, iterators); a function's stream mapping is read by
infra/stream_pollers.py."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import TAGS_IGNORED, Resource, creates, numeric, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::Kinesis::Stream",
         handles=("Name", "ShardCount", "StreamModeDetails", "RetentionPeriodHours", "StreamEncryption", "Tags"),
         ignores={"DesiredShardLevelMetrics": "no Kinesis metrics locally",
                  "MaxRecordSizeInKiB": "records are not size-checked beyond moto's own limit",
                  "WarmThroughputMiBps": "no throughput limits locally",
                  "RecordDistributionStrategy": "records go to shards by their partition key's hash"})
def _stream(d: Deployer, lid: str, props: dict) -> Resource:
    kinesis = d.client("kinesis")
    name = d.name_for(lid, props, "Name", limit=128)
    mode = (props.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
    args: dict[str, Any] = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":  # CloudFormation's default: one shard
        args["ShardCount"] = numeric(props.get("ShardCount", 1))
    kinesis.create_stream(**args)
    if "RetentionPeriodHours" in props and numeric(props["RetentionPeriodHours"]) > 24:
        kinesis.increase_stream_retention_period(StreamName=name,
                                                 RetentionPeriodHours=numeric(props["RetentionPeriodHours"]))
    encryption = props.get("StreamEncryption") or {}
    if encryption.get("EncryptionType") == "KMS":
        kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=encryption["KeyId"])
    if props.get("Tags"):
        kinesis.add_tags_to_stream(StreamName=name, Tags=tags(props["Tags"]))
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return Resource(lid, "AWS::Kinesis::Stream", name, {"Arn": arn})


@creates("AWS::Kinesis::StreamConsumer", handles=("ConsumerName", "StreamARN"), ignores=TAGS_IGNORED)
def _stream_consumer(d: Deployer, lid: str, props: dict) -> Resource:
    """An enhanced fan-out consumer (moto's); a function's mapping on its ARN reads the consumer's stream."""
    consumer = d.client("kinesis").register_stream_consumer(StreamARN=props["StreamARN"],
                                                            ConsumerName=props["ConsumerName"])["Consumer"]
    created = consumer["ConsumerCreationTimestamp"]
    return Resource(lid, "AWS::Kinesis::StreamConsumer", consumer["ConsumerARN"], {
        "ConsumerARN": consumer["ConsumerARN"], "ConsumerName": consumer["ConsumerName"],
        "ConsumerStatus": "ACTIVE", "StreamARN": props["StreamARN"],
        "ConsumerCreationTimestamp": created.isoformat() if hasattr(created, "isoformat") else str(created)})
