"""Amazon Data Firehose delivery streams to S3: recorded in moto's Firehose (DescribeDeliveryStream answers them) and
delivered by infra/firehose.py (buffering, Lambda transformation, GZIP), from PutRecord(Batch) or a Kinesis stream."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

_OTHER_DESTINATIONS = ("RedshiftDestinationConfiguration", "ElasticsearchDestinationConfiguration",
                       "AmazonOpenSearchServerlessDestinationConfiguration",
                       "AmazonopensearchserviceDestinationConfiguration", "SplunkDestinationConfiguration",
                       "HttpEndpointDestinationConfiguration", "SnowflakeDestinationConfiguration",
                       "IcebergDestinationConfiguration", "DatabaseSourceConfiguration",
                       "MSKSourceConfiguration", "DirectPutSourceConfiguration")


def _destination(props: dict) -> dict[str, Any]:
    return props.get("ExtendedS3DestinationConfiguration") or props.get("S3DestinationConfiguration") or {}


def _firehose_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    found = []
    s3 = _destination(props)
    if not s3:
        found.append(("destination", "only S3 destinations are delivered to locally"))
    compression = str(s3.get("CompressionFormat", "UNCOMPRESSED"))
    if compression not in ("UNCOMPRESSED", "GZIP"):
        found.append(("CompressionFormat", f"{compression}: only UNCOMPRESSED and GZIP locally"))
    for key in ("DataFormatConversionConfiguration", "S3BackupConfiguration"):
        if s3.get(key) and (key != "DataFormatConversionConfiguration" or truthy(s3[key].get("Enabled", True))):
            found.append((key, "not applied locally"))
    if truthy((s3.get("DynamicPartitioningConfiguration") or {}).get("Enabled", False)):
        found.append(("DynamicPartitioningConfiguration", "dynamic partitioning is not applied locally"))
    if str(s3.get("S3BackupMode", "Disabled")) != "Disabled":
        found.append(("S3BackupMode", "no source record backup locally"))
    for key in ("Prefix", "ErrorOutputPrefix"):
        if isinstance(s3.get(key), str) and "!{partitionKeyFrom" in s3[key]:
            found.append((key, "partition keys are not evaluated locally"))
    processing = s3.get("ProcessingConfiguration") or {}
    if truthy(processing.get("Enabled", False)):
        kinds = {p.get("Type") for p in processing.get("Processors") or []}
        if kinds - {"Lambda"}:
            found.append(("ProcessingConfiguration", f"{sorted(kinds - {'Lambda'})}: only a Lambda processor runs "
                                                     "locally"))
    return found


@creates("AWS::KinesisFirehose::DeliveryStream",
         handles=("DeliveryStreamName", "DeliveryStreamType", "ExtendedS3DestinationConfiguration",
                  "S3DestinationConfiguration", "KinesisStreamSourceConfiguration", "Tags"),
         ignores={"DeliveryStreamEncryptionConfigurationInput": "delivered objects are not encrypted locally"},
         unsupported={key: "only S3 destinations, from PutRecord(Batch) or a Kinesis stream, are delivered locally"
                      for key in _OTHER_DESTINATIONS},
         check=_firehose_check)
def _delivery_stream(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "DeliveryStreamName", limit=64)
    kind = props.get("DeliveryStreamType", "DirectPut")
    s3 = _destination(props)
    key = "ExtendedS3DestinationConfiguration" if "ExtendedS3DestinationConfiguration" in props else \
        "S3DestinationConfiguration"
    args: dict[str, Any] = {"DeliveryStreamName": name, "DeliveryStreamType": kind,
                            key: pick(s3, "RoleARN", "BucketARN", "Prefix", "ErrorOutputPrefix", "BufferingHints",
                                      "CompressionFormat")}
    if kind == "KinesisStreamAsSource":
        args["KinesisStreamSourceConfiguration"] = pick(props.get("KinesisStreamSourceConfiguration") or {},
                                                        "KinesisStreamARN", "RoleARN")
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]
    arn = d.client("firehose").create_delivery_stream(**args)["DeliveryStreamARN"]
    hints = s3.get("BufferingHints") or {}
    processing = s3.get("ProcessingConfiguration") or {}
    processor, retries = None, 3
    if truthy(processing.get("Enabled", False)):
        for step in processing.get("Processors") or []:
            parameters = {p["ParameterName"]: p["ParameterValue"] for p in step.get("Parameters") or []}
            processor = parameters.get("LambdaArn", processor)
            retries = int(numeric(parameters.get("NumberOfRetries", retries)))
    d.stack.firehoses.append({
        "name": name, "arn": arn, "bucket": str(s3["BucketARN"]).split(":::", 1)[-1],
        "prefix": str(s3.get("Prefix", "")), "error_prefix": str(s3.get("ErrorOutputPrefix", "")),
        "interval": float(numeric(hints.get("IntervalInSeconds", 300))),
        "size_bytes": int(float(numeric(hints.get("SizeInMBs", 5))) * 1024 * 1024),
        "gzip": s3.get("CompressionFormat") == "GZIP", "processor": processor, "retries": retries,
        "source_stream": (props.get("KinesisStreamSourceConfiguration") or {}).get("KinesisStreamARN")
        if kind == "KinesisStreamAsSource" else None})
    return Resource(lid, "AWS::KinesisFirehose::DeliveryStream", name, {"Arn": arn})
