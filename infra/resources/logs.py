"""CloudWatch Logs log groups and streams, subscription filters, metric filters and resource policies."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from infra.resources.base import NO_IAM, Resource, creates, numeric, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::Logs::LogGroup", handles=("LogGroupName", "RetentionInDays", "KmsKeyId", "Tags"),
         ignores={"DataProtectionPolicy": "log data is not masked locally", "LogGroupClass": "one class locally",
                  "FieldIndexPolicies": "no field indexes", "ResourcePolicyDocument": NO_IAM,
                  "DeletionProtectionEnabled": "the local cloud deletes everything when it stops",
                  "BearerTokenAuthenticationEnabled": "no bearer-token ingestion"})
def _log_group(d: Deployer, lid: str, props: dict) -> Resource:
    logs = d.client("logs")
    name = d.name_for(lid, props, "LogGroupName", limit=512)
    args: dict[str, Any] = {"logGroupName": name, **({"kmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {})}
    if props.get("Tags"):
        args["tags"] = tags(props["Tags"])
    logs.create_log_group(**args)
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=numeric(props["RetentionInDays"]))
    return Resource(lid, "AWS::Logs::LogGroup", name, {"Arn": d.arn("logs", f"log-group:{name}:*")})


def _pattern_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    """A filter pattern of a syntax the local cloud does not evaluate (infra/log_patterns.py) is reported."""
    from infra import log_patterns

    pattern = props.get("FilterPattern")
    if not isinstance(pattern, str):
        return []  # an intrinsic: checked when the filter is put
    try:
        log_patterns.compile_pattern(pattern)
    except log_patterns.UnsupportedPattern as unsupported:
        return [(f"FilterPattern {pattern}", str(unsupported))]
    return []


@creates("AWS::Logs::SubscriptionFilter", handles=("LogGroupName", "FilterPattern", "DestinationArn", "FilterName",
                                                   "Distribution"),
         ignores={"RoleArn": NO_IAM},
         unsupported={"ApplyOnTransformedLogs": "no log transformers locally",
                      "EmitSystemFields": "no system fields are added locally",
                      "FieldSelectionCriteria": "no field selection locally"},
         check=_pattern_check)
def _subscription_filter(d: Deployer, lid: str, props: dict) -> Resource:
    """A log group's events matching the pattern go to the destination as CloudWatch Logs sends them: a function is
    invoked asynchronously with the batch (awslogs.data: gzipped, base64-encoded JSON), a Kinesis stream gets it as
    a record (moto_patches: logs-subscriptions-filtered)."""
    name = d.name_for(lid, props, "FilterName", limit=512)
    args: dict[str, Any] = {"logGroupName": props["LogGroupName"], "filterName": name,
                            "filterPattern": props.get("FilterPattern", ""), "destinationArn": props["DestinationArn"]}
    if props.get("Distribution"):
        args["distribution"] = props["Distribution"]
    d.client("logs").put_subscription_filter(**args)
    return Resource(lid, "AWS::Logs::SubscriptionFilter", name)


@creates("AWS::Logs::MetricFilter", handles=("LogGroupName", "FilterPattern", "MetricTransformations", "FilterName"),
         unsupported={"ApplyOnTransformedLogs": "no log transformers locally",
                      "EmitSystemFieldDimensions": "no system field dimensions locally",
                      "FieldSelectionCriteria": "no field selection locally"},
         check=_pattern_check)
def _metric_filter(d: Deployer, lid: str, props: dict) -> Resource:
    """Each event of the log group that the pattern matches becomes a datapoint of each transformation's metric
    (moto_patches: logs-metric-filters-emit)."""
    name = d.name_for(lid, props, "FilterName", limit=512)
    transformations = []
    for t in props["MetricTransformations"]:
        transformation: dict[str, Any] = {"metricName": t["MetricName"], "metricNamespace": t["MetricNamespace"],
                                          "metricValue": str(t["MetricValue"])}
        if "DefaultValue" in t:
            transformation["defaultValue"] = float(t["DefaultValue"])
        if t.get("Unit"):
            transformation["unit"] = t["Unit"]
        if t.get("Dimensions"):
            transformation["dimensions"] = {dim["Key"]: dim["Value"] for dim in t["Dimensions"]}
        transformations.append(transformation)
    d.client("logs").put_metric_filter(logGroupName=props["LogGroupName"], filterName=name,
                                       filterPattern=props.get("FilterPattern", ""),
                                       metricTransformations=transformations)
    return Resource(lid, "AWS::Logs::MetricFilter", name)


@creates("AWS::Logs::LogStream", handles=("LogGroupName", "LogStreamName"))
def _log_stream(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "LogStreamName", limit=512)
    d.client("logs").create_log_stream(logGroupName=props["LogGroupName"], logStreamName=name)
    return Resource(lid, "AWS::Logs::LogStream", name)


@creates("AWS::Logs::ResourcePolicy", handles=("PolicyName", "PolicyDocument"))
def _resource_policy(d: Deployer, lid: str, props: dict) -> Resource:
    """Kept (DescribeResourcePolicies answers it); as every IAM policy here, not evaluated: other services write
    to log groups without asking it."""
    document = props["PolicyDocument"]
    d.client("logs").put_resource_policy(policyName=props["PolicyName"], policyDocument=document
                                         if isinstance(document, str) else json.dumps(document))
    return Resource(lid, "AWS::Logs::ResourcePolicy", props["PolicyName"])
