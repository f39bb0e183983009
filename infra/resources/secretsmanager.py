"""Secrets Manager secrets (given or generated)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer


def _generated_secret(d: Deployer, spec: dict) -> str:
    options = {key: truthy(spec[key]) for key in ("ExcludeLowercase", "ExcludeNumbers", "ExcludePunctuation",
                                                 "ExcludeUppercase", "IncludeSpace", "RequireEachIncludedType")
               if key in spec}
    if "PasswordLength" in spec:
        options["PasswordLength"] = numeric(spec["PasswordLength"])
    if "ExcludeCharacters" in spec:
        options["ExcludeCharacters"] = spec["ExcludeCharacters"]
    password = d.client("secretsmanager").get_random_password(**options)["RandomPassword"]
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


@creates("AWS::SecretsManager::Secret",
         handles=("Name", "Description", "SecretString", "GenerateSecretString", "KmsKeyId", "Tags"),
         ignores={"ReplicaRegions": "one region locally", "Type": "a hint for rotation"})
def _secret(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=512)
    value = props["SecretString"] if "SecretString" in props else _generated_secret(
        d, props.get("GenerateSecretString") or {})
    args: dict[str, Any] = {"Name": name, "SecretString": value, **pick(props, "Description", "KmsKeyId")}
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]
    arn = d.client("secretsmanager").create_secret(**args)["ARN"]
    return Resource(lid, "AWS::SecretsManager::Secret", arn, {"Id": arn})
