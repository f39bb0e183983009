"""CloudWatch Logs log groups."""
from __future__ import annotations

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
