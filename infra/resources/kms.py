"""KMS keys and aliases."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, json_text, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::KMS::Key",
         handles=("Description", "KeyPolicy", "KeyUsage", "KeySpec", "Enabled", "EnableKeyRotation", "MultiRegion",
                  "Tags"),
         ignores={"PendingWindowInDays": "keys are deleted when the local cloud stops",
                  "RotationPeriodInDays": "keys are not rotated locally",
                  "BypassPolicyLockoutSafetyCheck": "key policies are not enforced locally"},
         unsupported={"Origin": "only keys KMS generates (AWS_KMS)"})
def _key(d: Deployer, lid: str, props: dict) -> Resource:
    kms = d.client("kms")
    args: dict[str, Any] = pick(props, "Description", "KeyUsage", "KeySpec")
    if "KeyPolicy" in props:
        policy = props["KeyPolicy"]
        args["Policy"] = json_text(policy)
    if "MultiRegion" in props:
        args["MultiRegion"] = truthy(props["MultiRegion"])
    if props.get("Tags"):
        args["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in tags(props["Tags"]).items()]
    key = kms.create_key(**args)["KeyMetadata"]
    if truthy(props.get("EnableKeyRotation", False)):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    if "Enabled" in props and not truthy(props["Enabled"]):
        kms.disable_key(KeyId=key["KeyId"])
    return Resource(lid, "AWS::KMS::Key", key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


@creates("AWS::KMS::Alias", handles=("AliasName", "TargetKeyId"))
def _alias(d: Deployer, lid: str, props: dict) -> Resource:
    d.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return Resource(lid, "AWS::KMS::Alias", props["AliasName"])
