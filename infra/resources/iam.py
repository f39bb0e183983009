"""IAM roles, users, groups, access keys and policies: recorded in the emulator, never enforced."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import json

from infra.resources.base import NO_IAM, TAGS_IGNORED, Resource, creates, numeric, pick, tags

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


@creates("AWS::IAM::Policy", handles=("PolicyName", "PolicyDocument", "Roles", "Users", "Groups"))
def _policy(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    document = _policy_document(props["PolicyDocument"])
    for role in props.get("Roles", []):
        iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=document)
    for user in props.get("Users", []):
        iam.put_user_policy(UserName=user, PolicyName=props["PolicyName"], PolicyDocument=document)
    for group in props.get("Groups", []):
        iam.put_group_policy(GroupName=group, PolicyName=props["PolicyName"], PolicyDocument=document)
    return Resource(lid, "AWS::IAM::Policy", props["PolicyName"], {"Id": props["PolicyName"]})


@creates("AWS::IAM::ManagedPolicy", handles=("ManagedPolicyName", "PolicyDocument", "Path", "Description", "Roles",
                                             "Users", "Groups"))
def _managed_policy(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    name = d.name_for(lid, props, "ManagedPolicyName", limit=128)
    arn = iam.create_policy(PolicyName=name, PolicyDocument=_policy_document(props["PolicyDocument"]),
                            **pick(props, "Path", "Description"))["Policy"]["Arn"]
    for role in props.get("Roles", []):
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    for user in props.get("Users", []):
        iam.attach_user_policy(UserName=user, PolicyArn=arn)
    for group in props.get("Groups", []):
        iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    return Resource(lid, "AWS::IAM::ManagedPolicy", arn, {"PolicyArn": arn})


def _inline_policies(put: Any, policies: list[dict]) -> None:
    for policy in policies:
        put(PolicyName=policy["PolicyName"], PolicyDocument=_policy_document(policy["PolicyDocument"]))


@creates("AWS::IAM::User", handles=("UserName", "Path", "Groups", "Policies", "ManagedPolicyArns", "Tags"),
         ignores={"LoginProfile": "no console locally: the password is not kept", "PermissionsBoundary": NO_IAM})
def _user(d: Deployer, lid: str, props: dict) -> Resource:
    """An IAM user (an integration's or a CI's); its access keys (AWS::IAM::AccessKey) sign requests that AWS_IAM
    methods and function URLs attribute to it."""
    iam = d.client("iam")
    name = d.name_for(lid, props, "UserName")
    args: dict[str, Any] = {"UserName": name, **pick(props, "Path")}
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]
    user = iam.create_user(**args)["User"]
    for group in props.get("Groups", []):
        iam.add_user_to_group(GroupName=group, UserName=name)
    _inline_policies(lambda **p: iam.put_user_policy(UserName=name, **p), props.get("Policies", []))
    for arn in props.get("ManagedPolicyArns", []):
        _attach_if_known(d, lid, arn, lambda a: iam.attach_user_policy(UserName=name, PolicyArn=a))
    return Resource(lid, "AWS::IAM::User", name, {"Arn": user["Arn"]})


@creates("AWS::IAM::Group", handles=("GroupName", "Path", "Policies", "ManagedPolicyArns"))
def _group(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    name = d.name_for(lid, props, "GroupName", limit=128)
    group = iam.create_group(GroupName=name, **pick(props, "Path"))["Group"]
    _inline_policies(lambda **p: iam.put_group_policy(GroupName=name, **p), props.get("Policies", []))
    for arn in props.get("ManagedPolicyArns", []):
        _attach_if_known(d, lid, arn, lambda a: iam.attach_group_policy(GroupName=name, PolicyArn=a))
    return Resource(lid, "AWS::IAM::Group", name, {"Arn": group["Arn"]})


def _attach_if_known(d: Deployer, lid: str, arn: str, attach: Any) -> None:
    """Attach a managed policy; one the emulator lacks (moto has few of AWS's managed policies) is left out, as a
    role's ManagedPolicyArns are: nothing of IAM is enforced locally."""
    iam = d.client("iam")
    try:
        attach(arn)
    except iam.exceptions.NoSuchEntityException:
        pass


@creates("AWS::IAM::UserToGroupAddition", handles=("GroupName", "Users"))
def _user_to_group(d: Deployer, lid: str, props: dict) -> Resource:
    for user in props["Users"]:
        d.client("iam").add_user_to_group(GroupName=props["GroupName"], UserName=user)
    return Resource(lid, "AWS::IAM::UserToGroupAddition", f"{d.stack.name}-{lid}")


@creates("AWS::IAM::AccessKey", handles=("UserName", "Status"),
         ignores={"Serial": "a key is issued once per deploy locally"})
def _access_key(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    key = iam.create_access_key(UserName=props["UserName"])["AccessKey"]
    if props.get("Status", "Active") != "Active":
        iam.update_access_key(UserName=props["UserName"], AccessKeyId=key["AccessKeyId"], Status=props["Status"])
    return Resource(lid, "AWS::IAM::AccessKey", key["AccessKeyId"], {"SecretAccessKey": key["SecretAccessKey"]})
