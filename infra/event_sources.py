"""Event source mappings as the running cloud's pollers: the template's, and each one created, changed or deleted
while the cloud runs.

Lambda polls a mapping's queue or stream itself; so does the local cloud (infra/pollers.py for SQS,
infra/stream_pollers.py for DynamoDB and Kinesis streams), never moto, which would run the function inside the
sender's SendMessage or PutItem, one message at a time. With the embedded emulator, moto tells this registry of
CreateEventSourceMapping, UpdateEventSourceMapping and DeleteEventSourceMapping (infra/moto_patches.py), so that,
as the Lambda API reference says of UpdateEventSourceMapping, a mapping disabled stops polling and one enabled again
"resumes polling from the time it had stopped polling", while one deleted and created again starts afresh: a
stream's poller hands its place in each shard (and a batch it was still retrying) to the poller that follows it;
an SQS poller's messages simply stay in the queue. Changes take effect in the background, as on AWS, where the
answer says "Updating" and the pollers follow within seconds: the API call does not wait for a batch in flight.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from infra.event_filters import FilterError, patterns

logger = logging.getLogger("notifyx.event_sources")

#: makes the poller of one mapping or pipe: (kind: "sqs" | "dynamodb" | "kinesis" | "pipe", the spec's keywords)
#: -> a poller (a pipe's: infra.pipes.PipeSpec's keywords)
MakePoller = Callable[[str, dict[str, Any]], Any]
#: a pipe's key among the mappings' UUIDs: PIPE + its name
PIPE = "pipe:"


def kind_of(source_arn: str) -> str | None:
    """What polls a mapping of this source: "sqs", "dynamodb" (a table's stream), "kinesis"; None: not locally."""
    if source_arn.startswith("arn:aws:sqs:"):
        return "sqs"
    if source_arn.startswith("arn:aws:kinesis:"):
        return "kinesis"
    if source_arn.startswith("arn:aws:dynamodb:") and "/stream/" in source_arn:
        return "dynamodb"
    return None


def sqs_source(config: dict[str, Any], function: str, queue_url: str, mapping: str = "") -> dict[str, Any]:
    """infra.pollers.SqsEventSourceSpec's keywords for a mapping's configuration, in the Lambda API's names
    (CreateEventSourceMapping's request, GetEventSourceMapping's answer). Raises FilterError or ValueError."""
    return {"function": function, "queue_arn": config["EventSourceArn"], "queue_url": queue_url,
            "batch_size": int(config.get("BatchSize") or 10),
            "batching_window": float(config.get("MaximumBatchingWindowInSeconds") or 0),
            "maximum_concurrency": (config.get("ScalingConfig") or {}).get("MaximumConcurrency"),
            "report_batch_item_failures": "ReportBatchItemFailures" in (config.get("FunctionResponseTypes") or []),
            "enabled": _enabled(config), "filters": patterns(config.get("FilterCriteria")), "mapping": mapping}


def stream_source(config: dict[str, Any], function: str, role: str, mapping: str = "") -> dict[str, Any]:
    """infra.stream_pollers.StreamEventSourceSpec's keywords for a mapping's configuration (as sqs_source)."""
    timestamp = config.get("StartingPositionTimestamp")
    if hasattr(timestamp, "timestamp"):
        timestamp = timestamp.timestamp()
    maximum_age = config.get("MaximumRecordAgeInSeconds")
    retries = config.get("MaximumRetryAttempts")
    return {"function": function, "stream_arn": config["EventSourceArn"],
            "batch_size": int(config.get("BatchSize") or 100),
            "batching_window": float(config.get("MaximumBatchingWindowInSeconds") or 0),
            "starting_position": config.get("StartingPosition") or "LATEST",
            "maximum_retry_attempts": -1 if retries is None else int(retries),
            "report_batch_item_failures": "ReportBatchItemFailures" in (config.get("FunctionResponseTypes") or []),
            "enabled": _enabled(config), "filters": patterns(config.get("FilterCriteria")),
            "maximum_record_age": -1 if maximum_age is None else int(float(maximum_age)),
            "on_failure": ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
            "bisect": str(config.get("BisectBatchOnFunctionError", False)).lower() == "true",
            "starting_timestamp": None if timestamp is None else float(timestamp), "role": role,
            "mapping": mapping}


def _enabled(config: dict[str, Any]) -> bool:
    if "Enabled" in config:
        return str(config["Enabled"]).lower() != "false"
    return config.get("State", "Enabled") in ("Enabled", "Enabling", "Creating")


def role_of(lambda_client: Any, function: str) -> str:
    """A function's execution role (what a Kinesis record's invokeIdentityArn names); "" when it cannot be read."""
    try:
        return lambda_client.get_function_configuration(FunctionName=function).get("Role", "")
    except Exception:  # noqa: BLE001 - only a record's field
        return ""


def detach_from_moto(source_arn: str, function_arn: str) -> None:
    """Take a mapping out of moto's own delivery (moto would run the function inside SendMessage, PutItem or
    PutRecord, one message or record at a time, and drop a table stream's records): the local pollers read it."""
    parts = source_arn.split(":")
    region, account = parts[3], parts[4]
    kind = kind_of(source_arn)
    if kind == "sqs":
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[account][region].queues.get(parts[5])
        if queue is not None:
            queue.lambda_event_source_mappings.pop(function_arn, None)
    elif kind == "dynamodb":
        from moto.dynamodb.models import dynamodb_backends

        table_name = source_arn.split(":table/", 1)[1].split("/stream/", 1)[0]
        dynamodb_backends[account][region].get_table(table_name).lambda_event_source_mappings.pop(function_arn, None)
    elif kind == "kinesis":
        from moto.kinesis.models import kinesis_backends

        from infra.stream_pollers import kinesis_stream_arn

        stream = kinesis_backends[account][region].describe_stream(kinesis_stream_arn(source_arn), None)
        for key, mapping in list(stream.lambda_event_source_mappings.items()):  # moto keys them by the stream's ARN
            if mapping.function_arn == function_arn:
                del stream.lambda_event_source_mappings[key]


class EventSources:
    """The running cloud's mapping pollers, by mapping UUID; told of changes by moto (infra/moto_patches.py)."""

    def __init__(self, make: MakePoller, queue_url: Callable[[str], str], role: Callable[[str], str]) -> None:
        self._make = make
        self._queue_url = queue_url
        self._role = role
        self._lock = threading.Lock()
        self._pollers: dict[str, Any] = {}
        #: per mapping, the change being made (a thread stopping the old poller, then starting the new one)
        self._changes: dict[str, threading.Thread] = {}

    def add(self, mapping: str, poller: Any) -> Any:
        """A mapping's (or pipe's) poller, for the caller to start: the template's, at start-up."""
        with self._lock:
            self._pollers[mapping] = poller
        return poller

    def pollers(self) -> list[Any]:
        with self._lock:
            return list(self._pollers.values())

    def spec_of(self, configuration: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(kind, spec keywords) of a mapping's configuration; None for a source the local cloud does not poll.
        Raises ValueError with Lambda's words for what Lambda refuses (a bad filter, batch size or window)."""
        arn, kind = configuration["EventSourceArn"], kind_of(configuration["EventSourceArn"])
        function, mapping = configuration["FunctionArn"], configuration["UUID"]
        try:
            if kind == "sqs":
                keywords = sqs_source(configuration, function, self._queue_url(arn), mapping)
                from infra.pollers import SqsEventSourceSpec

                SqsEventSourceSpec(**keywords)  # its checks are CreateEventSourceMapping's
            elif kind is not None:
                keywords = stream_source(configuration, function, self._role(function), mapping)
            else:
                return None
        except FilterError as exc:
            raise ValueError(f"InvalidParameterValueException: FilterCriteria: {exc}") from None
        return kind, keywords

    def created(self, configuration: dict[str, Any]) -> None:
        """CreateEventSourceMapping while the cloud runs: its poller starts (when enabled)."""
        spec = self.spec_of(configuration)
        if spec is None:
            return
        detach_from_moto(configuration["EventSourceArn"], configuration["FunctionArn"])
        self._change(configuration["UUID"], spec)

    def updated(self, configuration: dict[str, Any]) -> None:
        """UpdateEventSourceMapping: the mapping's poller is replaced by one of the new configuration, which takes
        its place in the stream; a disabled mapping's poller is made but not started."""
        spec = self.spec_of(configuration)
        if spec is not None:
            self._change(configuration["UUID"], spec)

    def deleted(self, mapping: str) -> None:
        """DeleteEventSourceMapping (or DeletePipe: PIPE + its name): its poller stops (a batch in flight
        finishes)."""
        self._change(mapping, None)

    def pipe_changed(self, pipe: dict[str, Any]) -> None:
        """CreatePipe, UpdatePipe, StartPipe, StopPipe (the pipe as DescribePipe names it): a RUNNING pipe's poller
        runs its new configuration from where the one before stopped; a STOPPED one's does not poll. A source or
        target the local cloud does not run is logged, and nothing polls for it."""
        from infra.pipes import pipe_spec

        try:
            spec: tuple[str, dict[str, Any]] | None = ("pipe", pipe_spec(pipe, self._queue_url))
        except (FilterError, ValueError) as exc:
            logger.warning("the pipe %s does not run locally: %s", pipe["Name"], exc)
            spec = None
        self._change(PIPE + pipe["Name"], spec)

    def _change(self, mapping: str, spec: tuple[str, dict[str, Any]] | None) -> None:
        with self._lock:
            before = self._changes.get(mapping)
            change = threading.Thread(target=self._replace, args=(mapping, spec, before), daemon=True,
                                      name=f"event-source-{mapping[:8]}")
            self._changes[mapping] = change
        change.start()

    def _replace(self, mapping: str, spec: tuple[str, dict[str, Any]] | None, before: threading.Thread | None) -> None:
        if before is not None:
            before.join()  # changes to one mapping take effect in the order they were made
        with self._lock:
            old = self._pollers.pop(mapping, None)
        try:
            if old is not None:
                old.stop()
            if spec is None:
                return
            new = self._make(*spec)
            if old is not None and hasattr(new, "take_place"):
                new.take_place(old)
            with self._lock:
                self._pollers[mapping] = new
            new.start()
        except Exception:  # noqa: BLE001 - the API call has answered; what went wrong is for the log
            logger.exception("changing the event source mapping %s failed", mapping)
        finally:
            with self._lock:
                if self._changes.get(mapping) is threading.current_thread():
                    del self._changes[mapping]

    def settled(self, timeout: float | None = None) -> None:
        """Wait until every change made so far has taken effect (tests; stop)."""
        with self._lock:
            changes = list(self._changes.values())
        for change in changes:
            change.join(timeout)

    def stop(self) -> None:
        """Stop every mapping's poller: all told at once, their receives' long polls ended (the cloud is stopping),
        then each waited for (a batch in flight finishes)."""
        from infra import moto_patches

        self.settled(30)
        pollers = self.pollers()
        for poller in pollers:
            poller.stopping()
        with moto_patches.long_polls_released():
            for poller in pollers:
                poller.stop()
