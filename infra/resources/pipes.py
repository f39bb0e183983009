"""EventBridge Pipes: recorded in moto's Pipes (DescribePipe answers them) and run by infra/pipes.py on the
pollers of Lambda's event source mappings."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.event_filters import FilterError
from infra.pipes import SOURCES, TARGETS, pipe_spec, service_of
from infra.resources.awslambda import queue_url_of
from infra.resources.base import DeployError, Resource, creates, pick, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer


#: the service of an ARN a resource of the template gives (a !GetAtt X.Arn or !Ref of it), where the check can tell
_SERVICES_OF_TYPES = {
    "AWS::SQS::Queue": "sqs", "AWS::Lambda::Function": "lambda", "AWS::Serverless::Function": "lambda",
    "AWS::SNS::Topic": "sns", "AWS::StepFunctions::StateMachine": "states", "AWS::Serverless::StateMachine": "states",
    "AWS::Events::EventBus": "events", "AWS::Kinesis::Stream": "kinesis", "AWS::Logs::LogGroup": "logs",
    "AWS::KinesisFirehose::DeliveryStream": "firehose"}


def _as_checked(d: Deployer, value: Any) -> Any:
    """A Source, Target or Enrichment as the check reads it: an ARN as it is; a !GetAtt/!Ref of a template's resource
    as an ARN-shaped text of that resource type's service (the resource's ARN is not known before the deploy)."""
    if isinstance(value, dict) and len(value) == 1:
        ref = value.get("Ref") or value.get("Fn::GetAtt")
        name = ref[0] if isinstance(ref, list) else str(ref).split(".")[0] if isinstance(ref, str) else None
        resource = (d.expanded.template.get("Resources") or {}).get(name) if name else None
        service = _SERVICES_OF_TYPES.get(resource.get("Type")) if isinstance(resource, dict) else None
        if service is not None:
            return f"arn:aws:{service}:region:account:{name}"
    return value


def _pipe_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    found = []
    source, target, enrichment = (_as_checked(d, props.get(key)) for key in ("Source", "Target", "Enrichment"))
    if isinstance(source, str) and service_of(source) not in SOURCES:
        found.append(("Source", f"{source}: only SQS queues, DynamoDB streams and Kinesis streams are pipe sources "
                                "locally"))
    if isinstance(enrichment, str) and service_of(enrichment) not in ("lambda", "states"):
        found.append(("Enrichment", f"{enrichment}: only a Lambda function or an Express state machine enriches "
                                    "locally"))
    if isinstance(target, str) and service_of(target) not in TARGETS:
        found.append(("Target", f"{target}: only functions, SQS queues, SNS topics, state machines and event buses "
                                "are pipe targets locally"))
    parameters = props.get("TargetParameters") or {}
    if set(props.get("EnrichmentParameters") or {}) - {"InputTemplate"}:
        found.append(("EnrichmentParameters", "only an InputTemplate is applied to an enrichment's input locally"))
    invocation = (parameters.get("StepFunctionStateMachineParameters") or {}).get("InvocationType")
    if invocation == "REQUEST_RESPONSE":
        found.append(("StepFunctionStateMachineParameters", "a state machine target is started (FIRE_AND_FORGET); "
                                                            "a synchronous Express execution is not awaited"))
    known = {"LambdaFunctionParameters", "SqsQueueParameters", "StepFunctionStateMachineParameters",
             "EventBridgeEventBusParameters", "InputTemplate"}
    found += [(f"TargetParameters {key}", "a target the local cloud does not deliver to") for key in parameters
              if key not in known]
    return found


@creates("AWS::Pipes::Pipe",
         handles=("Name", "Source", "SourceParameters", "Target", "TargetParameters", "Enrichment",
                  "EnrichmentParameters", "DesiredState", "Description", "Tags", "RoleArn"),
         ignores={"LogConfiguration": "a pipe's execution is not logged locally",
                  "KmsKeyIdentifier": "the emulator's pipes are not encrypted"},
         check=_pipe_check)
def _pipe(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=64)
    source, target = props["Source"], props["Target"]
    state = props.get("DesiredState", "RUNNING")
    args: dict[str, Any] = {"Name": name, "Source": source, "Target": target, "RoleArn": props["RoleArn"],
                            "DesiredState": state, **pick(props, "Description", "Enrichment", "SourceParameters",
                                                          "TargetParameters", "EnrichmentParameters")}
    if props.get("Tags"):
        args["Tags"] = tags(props["Tags"])
    pipe = d.client("pipes").create_pipe(**args)
    try:
        spec = pipe_spec(args, lambda arn: queue_url_of(d, arn))
    except (FilterError, ValueError) as exc:  # the check reported an unsupported source or target before the deploy
        raise DeployError(f"{lid}: {exc}") from None
    d.stack.pipes.append(spec)
    return Resource(lid, "AWS::Pipes::Pipe", name, {
        "Arn": pipe["Arn"], "CurrentState": state, "StateReason": "",
        "CreationTime": str(pipe.get("CreationTime", "")), "LastModifiedTime": str(pipe.get("LastModifiedTime", ""))})
