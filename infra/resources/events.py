"""EventBridge rules (schedules feed infra/schedules.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json

from infra.resources.base import NO_IAM, TAGS_IGNORED, Resource, creates, pick

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::Events::Rule",
         handles=("Name", "ScheduleExpression", "State", "Description", "EventBusName", "EventPattern", "Targets"),
         ignores={"RoleArn": NO_IAM, **TAGS_IGNORED})
def _rule(d: Deployer, lid: str, props: dict) -> Resource:
    events = d.client("events")
    name = d.name_for(lid, props, "Name")
    args = {"Name": name, "State": props.get("State", "ENABLED"),
            **pick(props, "ScheduleExpression", "Description", "EventBusName")}
    if "EventPattern" in props:
        args["EventPattern"] = json.dumps(props["EventPattern"])
    arn = events.put_rule(**args)["RuleArn"]
    targets = props.get("Targets", [])
    if targets:
        events.put_targets(Rule=name, Targets=[{"Id": t["Id"], "Arn": t["Arn"], **pick(t, "Input")}
                                               for t in targets])
    if "ScheduleExpression" in props and args["State"] == "ENABLED":
        for target in targets:
            if ":lambda:" in target["Arn"]:
                d.stack.schedules.append({
                    "name": name, "expression": props["ScheduleExpression"],
                    "function": target["Arn"].split(":")[6],
                    "input": json.loads(target["Input"]) if "Input" in target else None})
    return Resource(lid, "AWS::Events::Rule", name, {"Arn": arn})
