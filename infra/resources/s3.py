"""S3 buckets."""
from __future__ import annotations

from typing import TYPE_CHECKING

from infra.resources.base import Resource, creates, json_text, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::S3::Bucket",
         handles=("BucketName", "Tags", "VersioningConfiguration", "CorsConfiguration", "BucketEncryption",
                  "PublicAccessBlockConfiguration", "NotificationConfiguration"),
         ignores={"AccessControl": "ACLs are not enforced locally",
                  "OwnershipControls": "ACLs are not enforced locally",
                  "AccelerateConfiguration": "a network feature", "AnalyticsConfigurations": "no storage analytics",
                  "IntelligentTieringConfigurations": "one storage class locally",
                  "InventoryConfigurations": "no inventory reports", "MetricsConfigurations": "no request metrics",
                  "LoggingConfiguration": "no access logs", "LifecycleConfiguration": "objects never expire locally"},
         unsupported={"WebsiteConfiguration": "no website endpoint", "ReplicationConfiguration": "no replication"})
def _bucket(d: Deployer, lid: str, props: dict) -> Resource:
    s3 = d.client("s3")
    name = d.name_for(lid, props, "BucketName", lower=True, limit=63)
    s3.create_bucket(Bucket=name)
    if props.get("Tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                               for k, v in tags(props["Tags"]).items()]})
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={
            "Status": props["VersioningConfiguration"]["Status"]})
    if "CorsConfiguration" in props:
        rules = [{**pick(r, "AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ID"),
                  **({"ExposeHeaders": r["ExposedHeaders"]} if "ExposedHeaders" in r else {}),
                  **({"MaxAgeSeconds": numeric(r["MaxAge"])} if "MaxAge" in r else {})}
                 for r in props["CorsConfiguration"]["CorsRules"]]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
            {("ID" if k == "Id" else k): v for k, v in rule.items()} for rule in rules]})
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": props["BucketEncryption"]["ServerSideEncryptionConfiguration"]})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            k: truthy(v) for k, v in props["PublicAccessBlockConfiguration"].items()})
    if props.get("NotificationConfiguration"):
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration=_notifications(props["NotificationConfiguration"]))
    return Resource(lid, "AWS::S3::Bucket", name, {
        "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{d.stack.region}.amazonaws.com",
        "DualStackDomainName": f"{name}.s3.dualstack.{d.stack.region}.amazonaws.com",
        "WebsiteURL": f"http://{name}.s3-website-{d.stack.region}.amazonaws.com"})


#: CloudFormation's NotificationConfiguration lists -> the S3 API's (the list, the destination's field)
_DESTINATIONS = {"LambdaConfigurations": ("LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
                 "QueueConfigurations": ("QueueConfigurations", "Queue", "QueueArn"),
                 "TopicConfigurations": ("TopicConfigurations", "Topic", "TopicArn")}


def _notifications(config: dict) -> dict:
    """A bucket's NotificationConfiguration as PutBucketNotificationConfiguration takes it (SAM's `S3` events are
    LambdaConfigurations here): one event per CloudFormation entry, its key filter's rules as FilterRules."""
    made: dict = {}
    for cfn, (api, destination, arn) in _DESTINATIONS.items():
        for entry in config.get(cfn) or []:
            one = {arn: entry[destination], "Events": [entry["Event"]]}
            rules = (entry.get("Filter") or {}).get("S3Key", {}).get("Rules")
            if rules:
                one["Filter"] = {"Key": {"FilterRules": [pick(rule, "Name", "Value") for rule in rules]}}
            made.setdefault(api, []).append(one)
    if truthy((config.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled", False)):
        made["EventBridgeConfiguration"] = {}
    return made


@creates("AWS::S3::BucketPolicy", handles=("Bucket", "PolicyDocument"))
def _bucket_policy(d: Deployer, lid: str, props: dict) -> Resource:
    """The bucket's policy, kept as S3 keeps it (GetBucketPolicy answers it); requests are not checked against it
    (IAM is not enforced locally). Ref: the bucket's name, as CloudFormation's."""
    policy = props["PolicyDocument"]
    d.client("s3").put_bucket_policy(Bucket=props["Bucket"],
                                     Policy=json_text(policy))
    return Resource(lid, "AWS::S3::BucketPolicy", props["Bucket"], {})
