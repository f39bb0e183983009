"""EventBridge buses and rules (schedules feed infra/schedules.py; events matched by a rule's pattern reach its
targets through the emulator: infra/moto_patches.py, events-rule-targets)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json

from infra.resources.awslambda import function_of
from infra.resources.base import NO_IAM, TAGS_IGNORED, Resource, creates, json_text, pick

if TYPE_CHECKING:
    from infra.deploy import Deployer

#: what a rule's target may say that the local cloud honours
_TARGET_KEYS = ("Input", "InputPath", "InputTransformer", "SqsParameters", "DeadLetterConfig", "RetryPolicy")
#: target services whose deliveries the local cloud makes (moto_patches: events-rule-targets, or moto's own)
_TARGET_SERVICES = ("lambda", "sqs", "sns", "states", "logs", "events", "firehose")


def _target_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    """A target whose ARN names a service the local cloud delivers nothing to (a literal or Fn::Sub ARN; a Ref or
    GetAtt of a resource of such a type is reported as that resource type)."""
    findings = []
    for target in props.get("Targets") or []:
        if not isinstance(target, dict):
            continue
        arn = target.get("Arn")
        if isinstance(arn, dict) and isinstance(arn.get("Fn::Sub"), str):
            arn = arn["Fn::Sub"]
        service = arn.split(":")[2] if isinstance(arn, str) and arn.count(":") >= 5 else None
        if service is not None and service not in _TARGET_SERVICES:
            findings.append((f"Targets {target.get('Id')} ({service})", "events are not delivered to it locally"))
    return findings


@creates("AWS::Events::EventBus", handles=("Name", "Tags"),
         unsupported={"EventSourceName": "no partner event sources locally",
                      "DeadLetterConfig": "no dead-letter queue for the bus locally",
                      "KmsKeyIdentifier": "events are not encrypted locally"},
         ignores={"Description": "not kept", "Policy": NO_IAM, "LogConfig": "no bus logs locally"})
def _bus(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name")
    arn = d.client("events").create_event_bus(Name=name)["EventBusArn"]
    return Resource(lid, "AWS::Events::EventBus", name, {"Arn": arn, "Name": name})


@creates("AWS::Events::Rule",
         handles=("Name", "ScheduleExpression", "State", "Description", "EventBusName", "EventPattern", "Targets"),
         ignores={"RoleArn": NO_IAM, **TAGS_IGNORED}, check=_target_check)
def _rule(d: Deployer, lid: str, props: dict) -> Resource:
    events = d.client("events")
    name = d.name_for(lid, props, "Name")
    bus = props.get("EventBusName")
    if isinstance(bus, str) and bus.startswith("arn:"):
        bus = bus.rsplit("/", 1)[-1]
    args = {"Name": name, "State": props.get("State", "ENABLED"),
            **pick(props, "ScheduleExpression", "Description"), **({"EventBusName": bus} if bus else {})}
    if "EventPattern" in props:
        pattern = props["EventPattern"]
        args["EventPattern"] = json_text(pattern)
    arn = events.put_rule(**args)["RuleArn"]
    targets = props.get("Targets", [])
    if targets:
        events.put_targets(Rule=name, **({"EventBusName": bus} if bus else {}),
                           Targets=[{"Id": t["Id"], "Arn": t["Arn"], **pick(t, *_TARGET_KEYS)} for t in targets])
    if "ScheduleExpression" in props and args["State"] == "ENABLED":
        for target in targets:
            # one schedule per target (a rule's several targets each get its events), named as the rule when alone
            spec = {"name": name if len(targets) == 1 else f"{name}/{target['Id']}", "rule": name,
                    "expression": props["ScheduleExpression"]}
            if ":lambda:" in target["Arn"]:
                d.stack.schedules.append({**spec, "function": function_of(target["Arn"]),
                                          "input": json.loads(target["Input"]) if "Input" in target else None})
            elif d.embedded:  # (an external emulator fires its own schedule rules' other targets)
                d.stack.schedules.append({**spec, "target": {"Arn": target["Arn"], **pick(target, *_TARGET_KEYS)}})
    # Ref: the rule's name, "<bus>|<name>" on a custom bus (CloudFormation's return value)
    physical = f"{bus}|{name}" if bus and bus != "default" else name
    return Resource(lid, "AWS::Events::Rule", physical, {"Arn": arn})


@creates("AWS::Events::Archive", handles=("SourceArn", "ArchiveName", "Description", "EventPattern", "RetentionDays"),
         ignores={"KmsKeyIdentifier": "the emulator's archives are not encrypted"})
def _archive(d: Deployer, lid: str, props: dict) -> Resource:
    """An archive of a bus's events (moto's: the bus's matching events are kept, StartReplay sends them again)."""
    name = d.name_for(lid, props, "ArchiveName", limit=48)
    args = {"ArchiveName": name, "EventSourceArn": props["SourceArn"], **pick(props, "Description")}
    if "EventPattern" in props:
        pattern = props["EventPattern"]
        args["EventPattern"] = json_text(pattern)
    if "RetentionDays" in props:
        args["RetentionDays"] = int(props["RetentionDays"])
    arn = d.client("events").create_archive(**args)["ArchiveArn"]
    return Resource(lid, "AWS::Events::Archive", name, {"Arn": arn})
