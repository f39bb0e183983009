"""Step Functions state machines (ASL from a local file, a string or the template)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
import re

from infra.resources.base import TAGS_IGNORED, DeployError, Resource, creates, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::StepFunctions::StateMachine",
         handles=("Definition", "DefinitionString", "DefinitionS3Location", "DefinitionSubstitutions", "RoleArn",
                  "StateMachineName", "StateMachineType"),
         ignores={"LoggingConfiguration": "no execution logs in CloudWatch",
                  "TracingConfiguration": "read by the local cloud's X-Ray (infra/observability) from the template",
                  "EncryptionConfiguration": "definitions are not encrypted locally", **TAGS_IGNORED},
         check=lambda d, lid, props: [] if lid in d.expanded.state_machine_files or "DefinitionS3Location" not in props
         else [("DefinitionS3Location", "only a local definition file (DefinitionUri) is supported")])
def _state_machine(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "StateMachineName", limit=80)
    local = d.expanded.state_machine_files.get(lid)
    if local is not None:
        path, substitutions = local
        definition = path.read_text()
        values = d.resolve(substitutions, lid)
        # textual, as CloudFormation does (another template's ASL may hold unquoted ${Name} numbers)
        for key, value in values.items():
            definition = definition.replace("${" + key + "}", str(value))
    elif "DefinitionString" in props:
        definition = props["DefinitionString"]
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
    elif "Definition" in props:
        definition = json.dumps(props["Definition"])
    else:
        raise DeployError(f"{lid}: state machine has no local definition")
    leftover = re.findall(r"\$\{[A-Za-z0-9_]+\}", definition)
    if leftover:
        raise DeployError(f"{lid}: definition has unsubstituted {', '.join(sorted(set(leftover)))}")
    try:
        json.loads(definition)
    except ValueError as exc:
        raise DeployError(f"{lid}: definition is not valid JSON after substitution: {exc}") from exc
    arn = d.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=props["RoleArn"],
        type=props.get("StateMachineType", "STANDARD"))["stateMachineArn"]
    return Resource(lid, "AWS::StepFunctions::StateMachine", arn, {"Arn": arn, "Name": name})


@creates("AWS::StepFunctions::Activity", handles=("Name", "Tags"),
         ignores={"EncryptionConfiguration": "the emulator's activities are not encrypted"})
def _activity(d: Deployer, lid: str, props: dict) -> Resource:
    """An activity (workers poll GetActivityTask for its tasks): made in moto's Step Functions."""
    args = {"name": props["Name"]}
    if props.get("Tags"):
        args["tags"] = [{"key": k, "value": v} for k, v in tags(props["Tags"]).items()]
    arn = d.client("stepfunctions").create_activity(**args)["activityArn"]
    return Resource(lid, "AWS::StepFunctions::Activity", arn, {"Arn": arn, "Name": props["Name"]})
