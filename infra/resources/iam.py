"""IAM roles and policies: recorded in the emulator, never enforced."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json

from infra.resources.base import NO_IAM, TAGS_IGNORED, Resource, creates, numeric, pick

if TYPE_CHECKING:
    from infra.deploy import Deployer


def _policy_document(document: dict | str) -> str:
    # SAM's policy templates omit Version; IAM accepts that, moto refuses it
    if isinstance(document, str):
        document = json.loads(document)
    return json.dumps({"Version": "2012-10-17", **document})


@creates("AWS::IAM::Role",
         handles=("RoleName", "AssumeRolePolicyDocument", "Policies", "Path", "Description", "MaxSessionDuration"),
         ignores={"ManagedPolicyArns": f"{NO_IAM}; moto has no AWS managed policies",
                  "PermissionsBoundary": NO_IAM, **TAGS_IGNORED})
def _role(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    name = d.name_for(lid, props, "RoleName")
    args = {"RoleName": name, "Path": props.get("Path", "/"),
            "AssumeRolePolicyDocument": json.dumps(props.get("AssumeRolePolicyDocument", {})),
            **pick(props, "Description")}
    if "MaxSessionDuration" in props:
        args["MaxSessionDuration"] = numeric(props["MaxSessionDuration"])
    role = iam.create_role(**args)["Role"]
    for policy in props.get("Policies", []):
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                            PolicyDocument=_policy_document(policy["PolicyDocument"]))
    return Resource(lid, "AWS::IAM::Role", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


@creates("AWS::IAM::Policy", handles=("PolicyName", "PolicyDocument", "Roles"),
         unsupported={"Users": "IAM users are not supported", "Groups": "IAM groups are not supported"})
def _policy(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    for role in props.get("Roles", []):
        iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"],
                            PolicyDocument=_policy_document(props["PolicyDocument"]))
    return Resource(lid, "AWS::IAM::Policy", props["PolicyName"], {"Id": props["PolicyName"]})


@creates("AWS::IAM::ManagedPolicy", handles=("ManagedPolicyName", "PolicyDocument", "Path", "Description", "Roles"),
         unsupported={"Users": "IAM users are not supported", "Groups": "IAM groups are not supported"})
def _managed_policy(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    name = d.name_for(lid, props, "ManagedPolicyName", limit=128)
    arn = iam.create_policy(PolicyName=name, PolicyDocument=_policy_document(props["PolicyDocument"]),
                            **pick(props, "Path", "Description"))["Policy"]["Arn"]
    for role in props.get("Roles", []):
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return Resource(lid, "AWS::IAM::ManagedPolicy", arn, {"PolicyArn": arn})
