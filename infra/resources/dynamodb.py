"""DynamoDB tables."""
from __future__ import annotations

from typing import TYPE_CHECKING

from infra.resources.base import NO_IAM, Resource, creates, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

_INDEX_CFN_ONLY = ("ContributorInsightsSpecification", "OnDemandThroughput", "WarmThroughput")


@creates("AWS::DynamoDB::Table",
         handles=("TableName", "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "GlobalSecondaryIndexes",
                  "BillingMode", "ProvisionedThroughput", "SSESpecification", "StreamSpecification",
                  "TimeToLiveSpecification", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled",
                  "TableClass", "Tags"),
         ignores={"ContributorInsightsSpecification": "no CloudWatch Contributor Insights locally",
                  "OnDemandThroughput": "a capacity limit: nothing is throttled locally",
                  "WarmThroughput": "a capacity hint", "ResourcePolicy": NO_IAM},
         unsupported={"KinesisStreamSpecification": "Kinesis is not emulated",
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
