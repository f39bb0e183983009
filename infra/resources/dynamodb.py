"""DynamoDB tables."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from infra.resources.base import NO_IAM, DeployError, Resource, creates, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

_INDEX_CFN_ONLY = ("ContributorInsightsSpecification", "OnDemandThroughput", "WarmThroughput",
                   "WriteProvisionedThroughputSettings", "WriteOnDemandThroughputSettings",
                   "ReadProvisionedThroughputSettings", "ReadOnDemandThroughputSettings")


@creates("AWS::DynamoDB::Table",
         handles=("TableName", "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "GlobalSecondaryIndexes",
                  "BillingMode", "ProvisionedThroughput", "SSESpecification", "StreamSpecification",
                  "TimeToLiveSpecification", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled",
                  "TableClass", "Tags"),
         ignores={"ContributorInsightsSpecification": "no CloudWatch Contributor Insights locally",
                  "OnDemandThroughput": "a capacity limit: nothing is throttled locally",
                  "WarmThroughput": "a capacity hint", "ResourcePolicy": NO_IAM},
         unsupported={"KinesisStreamSpecification": "a table's changes are not streamed to Kinesis locally (its "
                                                    "DynamoDB stream is)",
                      "ImportSourceSpecification": "no import from S3"})
def _table(d: Deployer, lid: str, props: dict) -> Resource:
    ddb = d.client("dynamodb")
    name = d.name_for(lid, props, "TableName", limit=255)
    args = pick(props, "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "TableClass")
    args["BillingMode"] = props.get("BillingMode", "PROVISIONED")
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = {k: numeric(v) for k, v in props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}).items()}
    if props.get("GlobalSecondaryIndexes"):
        indexes = []
        for index in props["GlobalSecondaryIndexes"]:
            index = {k: v for k, v in index.items() if k not in _INDEX_CFN_ONLY}
            if args["BillingMode"] == "PROVISIONED":
                index["ProvisionedThroughput"] = {k: numeric(v) for k, v in index.get(
                    "ProvisionedThroughput", args["ProvisionedThroughput"]).items()}
            indexes.append(index)
        args["GlobalSecondaryIndexes"] = indexes
    if "SSESpecification" in props:
        # CloudFormation says SSEEnabled where the API says Enabled
        sse = props["SSESpecification"]
        args["SSESpecification"] = {"Enabled": truthy(sse.get("SSEEnabled", False)),
                                    **pick(sse, "SSEType", "KMSMasterKeyId")}
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType":
                                       props["StreamSpecification"]["StreamViewType"]}
    if "DeletionProtectionEnabled" in props:
        args["DeletionProtectionEnabled"] = truthy(props["DeletionProtectionEnabled"])
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]
    table = ddb.create_table(TableName=name, **args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and truthy(ttl.get("Enabled")):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and truthy(pitr.get("PointInTimeRecoveryEnabled")):
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
    attrs = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attrs["StreamArn"] = table["LatestStreamArn"]
    return Resource(lid, "AWS::DynamoDB::Table", name, attrs)


_CAPACITY = "a capacity setting: nothing is throttled locally"


@creates("AWS::DynamoDB::GlobalTable",
         handles=("TableName", "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "GlobalSecondaryIndexes",
                  "BillingMode", "SSESpecification", "StreamSpecification", "TimeToLiveSpecification", "Replicas"),
         ignores={"WriteProvisionedThroughputSettings": _CAPACITY, "WriteOnDemandThroughputSettings": _CAPACITY,
                  "ReadProvisionedThroughputSettings": _CAPACITY, "ReadOnDemandThroughputSettings": _CAPACITY,
                  "WarmThroughput": _CAPACITY, "TableType": "one kind of table locally"},
         unsupported={"GlobalTableWitnesses": "one region locally: no multi-Region strong consistency",
                      "MultiRegionConsistency": "one region locally: no multi-Region strong consistency",
                      "GlobalTableSourceArn": "one region locally: no table to replicate from",
                      "VectorIndexes": "no vector indexes locally"})
def _global_table(d: Deployer, lid: str, props: dict) -> Resource:
    """A global table: its replica in the local cloud's region, made as a table (the local cloud has one region;
    the deploy says which replicas it leaves out). The replica's own settings (point-in-time recovery, deletion
    protection, table class, tags) apply to it."""
    replicas = props.get("Replicas") or []
    here = next((r for r in replicas if r.get("Region") == d.stack.region), None)
    if here is None:
        raise DeployError(f"{lid}: no replica in {d.stack.region}, the local cloud's one region")
    others = [str(r.get("Region")) for r in replicas if r is not here]
    if others:
        d.warn(f"{lid}: the replicas in {', '.join(others)} are not made: the local cloud has one region "
               f"({d.stack.region})")
    table = pick(props, "TableName", "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes",
                 "GlobalSecondaryIndexes", "SSESpecification", "StreamSpecification", "TimeToLiveSpecification")
    table["BillingMode"] = props.get("BillingMode", "PROVISIONED")
    table.update(pick(here, "PointInTimeRecoverySpecification", "DeletionProtectionEnabled", "TableClass", "Tags"))
    made = _table(d, lid, table)
    # a table's id, a UUID (moto's tables have none)
    table_id = str(uuid.uuid5(uuid.NAMESPACE_URL, made.attributes["Arn"]))
    return Resource(lid, "AWS::DynamoDB::GlobalTable", made.physical_id, {**made.attributes, "TableId": table_id})
