"""EventBridge Pipes: a source's batches, filtered, optionally enriched by a function, delivered to one target.

A pipe's source is polled by the pollers Lambda's event source mappings use (infra/pollers.py for SQS queues,
infra/stream_pollers.py for DynamoDB and Kinesis streams), with the same batches, filters, retries and failure
handling; where a mapping invokes its function with {"Records": [...]}, a pipe runs this module's PipeRunner:
- an enrichment function is invoked synchronously with the batch as a JSON array and its answer (an array, or one
  value) is what goes on; an empty answer ends the batch;
- the target gets it as Pipes sends it: a function the JSON array (REQUEST_RESPONSE, the default: synchronously, a
  failure fails the batch, which the source retries; FIRE_AND_FORGET: asynchronously), an SQS queue or SNS topic
  each item as a message (its JSON), a state machine the array as an execution's input (FIRE_AND_FORGET), an event
  bus each item as an event's detail ("Event from aws:sqs", source "Pipe <name>").
A function target's partial batch failure (`batchItemFailures`) is retried as a mapping's ReportBatchItemFailures:
the reported SQS messages come back after their visibility timeout, a stream retries from the first reported record.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from dataclasses import dataclass, field
from typing import Any

#: a pipe InputTemplate's placeholder: <$.json.path> or one of Pipes' reserved variables, <aws.pipes.pipe-name>
_PIPE_PLACEHOLDER = re.compile(r"<(\$[^<>]*|aws\.pipes\.[a-z.\-]+)>")
#: the services a pipe delivers to locally (a target ARN's service)
TARGETS = ("lambda", "sqs", "sns", "states", "events")
#: a pipe's source's service -> how Pipes names it in an event bus target's DetailType
SOURCES = {"sqs": "aws:sqs", "dynamodb": "aws:dynamodb", "kinesis": "aws:kinesis"}


@dataclass
class PipeSpec:
    name: str
    #: "sqs" or "stream", and the keyword arguments of that poller's spec (its `function` is the pipe's name)
    source_kind: str
    source: dict[str, Any]
    #: the source as Pipes names it in an event bus target's DetailType: aws:sqs, aws:dynamodb, aws:kinesis
    source_label: str
    target: str
    #: TargetParameters' fields the local cloud reads: InvocationType, MessageGroupId, DetailType, Source, Resources
    target_parameters: dict[str, Any] = field(default_factory=dict)
    enrichment: str | None = None
    #: the source's ARN; the InputTemplates of TargetParameters and EnrichmentParameters (None: the events as they are)
    source_arn: str = ""
    target_template: str | None = None
    enrichment_template: str | None = None


def pipe_spec(pipe: dict[str, Any], queue_url: Callable[[str], str]) -> dict[str, Any]:
    """PipeSpec's keywords for a pipe as the Pipes API names it (CreatePipe's request, DescribePipe's answer:
    Name, Source, SourceParameters, Target, TargetParameters, Enrichment, DesiredState); `queue_url(arn)` finds an
    SQS source's URL. Raises ValueError for a source or target the local cloud does not run, and FilterError."""
    from infra.event_sources import sqs_source, stream_source

    name, source, target = pipe["Name"], pipe["Source"], pipe["Target"]
    service = service_of(source)
    if service not in SOURCES:
        raise ValueError(f"{source}: only SQS queues, DynamoDB streams and Kinesis streams are pipe sources locally")
    if service_of(target) not in TARGETS:
        raise ValueError(f"{target}: only functions, SQS queues, SNS topics, state machines and event buses are "
                         "pipe targets locally")
    # the source is polled as an event source mapping is: its parameters in a mapping's names
    parameters = pipe.get("SourceParameters") or {}
    polled = parameters.get("SqsQueueParameters") or parameters.get("DynamoDBStreamParameters") or \
        parameters.get("KinesisStreamParameters") or {}
    config = {"EventSourceArn": source, "FilterCriteria": parameters.get("FilterCriteria"),
              "Enabled": (pipe.get("DesiredState") or "RUNNING") == "RUNNING",
              "FunctionResponseTypes": ["ReportBatchItemFailures"],  # a function target's batchItemFailures
              "DestinationConfig": {"OnFailure": {"Destination": (polled.get("DeadLetterConfig") or {}).get("Arn")}},
              "BisectBatchOnFunctionError": polled.get("OnPartialBatchItemFailure") == "AUTOMATIC_BISECT",
              **{key: polled[key] for key in ("BatchSize", "MaximumBatchingWindowInSeconds", "StartingPosition",
                                              "MaximumRetryAttempts", "MaximumRecordAgeInSeconds") if key in polled}}
    if service == "sqs":
        kind, spec = "sqs", sqs_source(config, name, queue_url(source))
    else:
        kind, spec = "stream", stream_source(config, name, role="")
    target_parameters: dict[str, Any] = {}
    for group in (pipe.get("TargetParameters") or {}).values():
        if isinstance(group, dict):
            target_parameters.update({key: group[key] for key in ("InvocationType", "MessageGroupId", "DetailType",
                                                                  "Source", "Resources") if key in group})
    return {"name": name, "source_kind": kind, "source": spec, "source_label": SOURCES[service], "target": target,
            "target_parameters": target_parameters, "enrichment": pipe.get("Enrichment"), "source_arn": source,
            "target_template": (pipe.get("TargetParameters") or {}).get("InputTemplate"),
            "enrichment_template": (pipe.get("EnrichmentParameters") or {}).get("InputTemplate")}


def service_of(arn: Any) -> str:
    """The service of an ARN (its third field); "" for what is not an ARN."""
    return arn.split(":")[2] if isinstance(arn, str) and arn.count(":") >= 5 else ""


class PipeRunner:
    """What a pipe does with one batch of its source; `run` is the poller's invoke."""

    def __init__(self, spec: PipeSpec, invoke: Callable[[str, Any], Any],
                 deliver: Callable[..., None], put_events: Callable[[list[dict]], None],
                 enrich: Callable[[str, Any], Any] | None = None) -> None:
        self.spec = spec
        self._invoke = invoke
        self._deliver = deliver
        self._put_events = put_events
        #: an Express state machine's synchronous execution: (its ARN, the input) -> its output; raises if it failed
        self._enrich = enrich

    def _transformed(self, template: str, item: Any) -> Any:
        from infra.input_templates import fill, parsed

        received = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return parsed(fill(template, _PIPE_PLACEHOLDER, _pipe_values(self.spec, item, received)))

    def run(self, _: str, event: dict) -> Any:
        """Deliver one batch; a function target's partial batch failure (`{"batchItemFailures": [...]}`), which
        the poller retries as it retries a mapping's, else None."""
        spec = self.spec
        batch: list[Any] = list(event["Records"])
        if spec.enrichment:
            sent = [self._transformed(spec.enrichment_template, item) for item in batch] \
                if spec.enrichment_template else batch
            if service_of(spec.enrichment) == "states":  # an Express workflow, run synchronously
                enriched = self._enrich(spec.enrichment, sent)
            else:
                enriched = self._invoke(_function_name(spec.enrichment), sent)
            batch = enriched if isinstance(enriched, list) else [] if enriched is None else [enriched]
            if not batch:
                return None
        if spec.target_template:
            batch = [self._transformed(spec.target_template, item) for item in batch]
        service = spec.target.split(":")[2]
        parameters = spec.target_parameters
        if service == "lambda":
            if parameters.get("InvocationType", "REQUEST_RESPONSE") == "FIRE_AND_FORGET":
                self._deliver(spec.target, "", event=batch)
            else:
                answer = self._invoke(_function_name(spec.target), batch)
                # Pipes retries the items a function target reports failed (itemIdentifier: an SQS message's id,
                # a stream record's sequence number); any other answer is the batch's success
                if isinstance(answer, dict) and "batchItemFailures" in answer:
                    return answer
        elif service in ("sqs", "sns"):
            for item in batch:  # a text (an InputTemplate's that is not JSON) is the message as it is
                self._deliver(spec.target, item if isinstance(item, str) else json.dumps(item),
                              group=parameters.get("MessageGroupId"))
        elif service == "states":
            self._deliver(spec.target, json.dumps(batch))
        elif service == "events":
            entries = [{
                "EventBusName": spec.target, "Source": parameters.get("Source") or f"Pipe {spec.name}",
                "DetailType": parameters.get("DetailType") or f"Event from {spec.source_label}",
                "Detail": json.dumps(item), **({"Resources": parameters["Resources"]}
                                               if parameters.get("Resources") else {})} for item in batch]
            for start in range(0, len(entries), 10):  # PutEvents takes 10 entries at a time
                self._put_events(entries[start:start + 10])
        else:  # the deploy refused it
            raise ValueError(f"pipe {spec.name}: target {spec.target} is not delivered to locally")
        return None


def _pipe_values(spec: PipeSpec, event: Any, received: str) -> Callable[[str], Any]:
    """The variables of a pipe's InputTemplate for one event: a JSON path into it (`$.body.order.id`; an SQS
    message's body and a Kinesis record's data are read as the JSON they hold, Pipes' implicit body parsing; null
    where the path finds nothing), and Pipes' reserved ones (aws.pipes.pipe-arn, pipe-name, source-arn,
    enrichment-arn, target-arn, event.ingestion-time, event, event.json)."""
    from jsonpath_ng.ext import parse

    from infra import account
    from infra.input_templates import UNKNOWN

    reserved = {"aws.pipes.pipe-arn": f"arn:aws:pipes:{account.REGION}:{account.ACCOUNT_ID}:pipe/{spec.name}",
                "aws.pipes.pipe-name": spec.name, "aws.pipes.source-arn": spec.source_arn,
                "aws.pipes.enrichment-arn": spec.enrichment or "", "aws.pipes.target-arn": spec.target,
                "aws.pipes.event.ingestion-time": received, "aws.pipes.event": event,
                "aws.pipes.event.json": json.dumps(event)}
    document = _with_parsed_bodies(event)

    def resolve(name: str) -> Any:
        if name in reserved:
            return reserved[name]
        if not name.startswith("$"):
            return UNKNOWN
        try:
            found = parse(name).find(document)
        except Exception:  # noqa: BLE001 - a path jsonpath-ng cannot read: nothing found, as for a missing one
            return None
        return found[0].value if found else None

    return resolve


def _with_parsed_bodies(event: Any) -> Any:
    """An SQS message with its body, a Kinesis record with its data, as the JSON they hold (where they hold JSON)."""
    if not isinstance(event, dict):
        return event
    if isinstance(event.get("body"), str):
        try:
            return {**event, "body": json.loads(event["body"])}
        except ValueError:
            return event
    kinesis = event.get("kinesis")
    if isinstance(kinesis, dict) and isinstance(kinesis.get("data"), str):
        import base64
        import binascii

        try:
            return {**event, "kinesis": {**kinesis, "data": json.loads(base64.b64decode(kinesis["data"]))}}
        except (ValueError, binascii.Error):
            return event
    return event


def _function_name(arn: str) -> str:
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 else arn
