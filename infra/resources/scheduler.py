"""EventBridge Scheduler's schedules and groups (SAM's ScheduleV2 events). moto keeps them; the local cloud's clock
(infra/schedules.py) fires them, told of each one by the scheduler patches of infra/moto_patches.py."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, pick, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer

#: templated targets the local cloud delivers (moto_patches.SCHEDULER_TARGET_SERVICES)
_TARGET_SERVICES = ("lambda", "sqs", "sns", "states", "events")


def _target_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    """A target the clock cannot deliver: a universal target (arn:aws:scheduler:::aws-sdk:...) or another service's
    templated target (a literal or Fn::Sub ARN; a Ref or GetAtt is reported as its resource's type)."""
    target = props.get("Target")
    arn = target.get("Arn") if isinstance(target, dict) else None
    if isinstance(arn, dict) and isinstance(arn.get("Fn::Sub"), str):
        arn = arn["Fn::Sub"]
    if not isinstance(arn, str) or arn.count(":") < 5:
        return []
    if ":aws-sdk:" in arn:
        return [("Target universal (aws-sdk)", "universal targets are not delivered locally")]
    service = arn.split(":")[2]
    findings = [] if service in _TARGET_SERVICES else [(f"Target ({service})", "not delivered to locally")]
    for key in ("EcsParameters", "KinesisParameters", "SageMakerPipelineParameters"):
        if isinstance(target, dict) and key in target:
            findings.append((f"Target {key}", "not delivered to locally"))
    return findings


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@creates("AWS::Scheduler::Schedule",
         handles=("Name", "GroupName", "Description", "ScheduleExpression", "ScheduleExpressionTimezone", "StartDate",
                  "EndDate", "State", "FlexibleTimeWindow", "Target"),
         ignores={"KmsKeyArn": "the target's input is not encrypted locally"},
         check=_target_check)
def _schedule(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=64)
    target = props["Target"]
    args: dict[str, Any] = {
        "Name": name, "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": {"Mode": props["FlexibleTimeWindow"]["Mode"],
                               **pick(props["FlexibleTimeWindow"], "MaximumWindowInMinutes")},
        "Target": {"Arn": target["Arn"], "RoleArn": target.get("RoleArn") or d.arn("iam", "role/scheduler",
                                                                                    region=False),
                   **pick(target, "Input", "RetryPolicy", "DeadLetterConfig", "SqsParameters",
                          "EventBridgeParameters")},
        **pick(props, "GroupName", "Description", "ScheduleExpressionTimezone", "State")}
    for key in ("StartDate", "EndDate"):
        if props.get(key):
            args[key] = _moment(props[key])
    made = d.client("scheduler").create_schedule(**args)
    # Ref: the schedule's name (CloudFormation's return value)
    return Resource(lid, "AWS::Scheduler::Schedule", name, {"Arn": made["ScheduleArn"]})


@creates("AWS::Scheduler::ScheduleGroup", handles=("Name", "Tags"))
def _schedule_group(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=64)
    made = d.client("scheduler").create_schedule_group(
        Name=name, **({"Tags": [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]}
                      if props.get("Tags") else {}))
    group = d.client("scheduler").get_schedule_group(Name=name)
    return Resource(lid, "AWS::Scheduler::ScheduleGroup", name, {
        "Arn": made["ScheduleGroupArn"], "State": group.get("State", "ACTIVE"),
        "CreationDate": str(group.get("CreationDate", "")), "LastModificationDate": str(
            group.get("LastModificationDate", ""))})
