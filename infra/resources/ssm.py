"""SSM parameters."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, pick, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::SSM::Parameter",
         handles=("Name", "Type", "Value", "Description", "AllowedPattern", "Tier", "DataType", "Tags"),
         ignores={"Policies": "parameter policies (expiration) are not applied locally"})
def _parameter(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=2048)
    args: dict[str, Any] = {"Name": name, "Value": str(props["Value"]), "Type": props.get("Type", "String"),
                            **pick(props, "Description", "AllowedPattern", "Tier", "DataType")}
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]
    d.client("ssm").put_parameter(**args)
    return Resource(lid, "AWS::SSM::Parameter", name, {"Type": args["Type"], "Value": args["Value"]})
