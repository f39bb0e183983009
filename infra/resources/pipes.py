"""EventBridge Pipes: recorded in moto's Pipes (DescribePipe answers them) and run by infra/pipes.py on the
pollers of Lambda's event source mappings."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.event_filters import FilterError, patterns
from infra.pipes import TARGETS
from infra.resources.awslambda import queue_url_of
from infra.resources.base import DeployError, Resource, creates, numeric, pick, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer

_SOURCES = {"sqs": "aws:sqs", "dynamodb": "aws:dynamodb", "kinesis": "aws:kinesis"}


def _service(arn: Any) -> str:
    return arn.split(":")[2] if isinstance(arn, str) and arn.count(":") >= 5 else ""


def _pipe_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    found = []
    source, target, enrichment = props.get("Source"), props.get("Target"), props.get("Enrichment")
    if isinstance(source, str) and _service(source) not in _SOURCES:
        found.append(("Source", f"{source}: only SQS queues, DynamoDB streams and Kinesis streams are pipe sources "
                                "locally"))
    if isinstance(enrichment, str) and _service(enrichment) != "lambda":
        found.append(("Enrichment", f"{enrichment}: only a Lambda function enriches locally"))
    if isinstance(target, str) and _service(target) not in TARGETS:
        found.append(("Target", f"{target}: only functions, SQS queues, SNS topics, state machines and event buses "
                                "are pipe targets locally"))
    parameters = props.get("TargetParameters") or {}
    if "InputTemplate" in parameters or "InputTemplate" in (props.get("EnrichmentParameters") or {}):
        found.append(("InputTemplate", "input transformers are not applied locally"))
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
    parameters = props.get("SourceParameters") or {}
    try:
        filters = patterns(parameters.get("FilterCriteria"))
    except (FilterError, ValueError) as exc:
        raise DeployError(f"{lid}: FilterCriteria: {exc}") from None
    service = _service(source)
    if service == "sqs":
        sqs = parameters.get("SqsQueueParameters") or {}
        kind, spec = "sqs", {"function": name, "queue_arn": source, "queue_url": queue_url_of(d, source),
                             "batch_size": int(numeric(sqs.get("BatchSize", 10))),
                             "batching_window": float(sqs.get("MaximumBatchingWindowInSeconds", 0)),
                             "maximum_concurrency": None, "report_batch_item_failures": True,
                             "enabled": state == "RUNNING", "filters": filters}
    else:
        stream = parameters.get("DynamoDBStreamParameters") or parameters.get("KinesisStreamParameters") or {}
        kind, spec = "stream", {"function": name, "stream_arn": source,
                                "batch_size": int(numeric(stream.get("BatchSize", 100))),
                                "batching_window": float(stream.get("MaximumBatchingWindowInSeconds", 0)),
                                "starting_position": stream.get("StartingPosition", "LATEST"),
                                "maximum_retry_attempts": int(numeric(stream.get("MaximumRetryAttempts", -1))),
                                "enabled": state == "RUNNING", "filters": filters,
                                "maximum_record_age": int(numeric(stream.get("MaximumRecordAgeInSeconds", -1))),
                                "on_failure": (stream.get("DeadLetterConfig") or {}).get("Arn"),
                                "bisect": str(stream.get("OnPartialBatchItemFailure", "")) == "AUTOMATIC_BISECT",
                                "report_batch_item_failures": True}
    target_parameters: dict[str, Any] = {}
    for group in (props.get("TargetParameters") or {}).values():
        if isinstance(group, dict):
            target_parameters.update(pick(group, "InvocationType", "MessageGroupId", "DetailType", "Source",
                                          "Resources"))
    d.stack.pipes.append({"name": name, "source_kind": kind, "source": spec, "source_label": _SOURCES[service],
                          "target": target, "target_parameters": target_parameters,
                          "enrichment": props.get("Enrichment")})
    return Resource(lid, "AWS::Pipes::Pipe", name, {
        "Arn": pipe["Arn"], "CurrentState": state, "StateReason": "",
        "CreationTime": str(pipe.get("CreationTime", "")), "LastModifiedTime": str(pipe.get("LastModifiedTime", ""))})
