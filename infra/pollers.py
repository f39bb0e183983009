"""SQS event sources: the local cloud's pollers, with the semantics of Lambda's SQS event source mapping.

moto runs a mapped function synchronously inside SendMessage, one message at a time, and ignores
``ScalingConfig.MaximumConcurrency``; so the local cloud polls the queues itself, as Lambda does:
long-polled ReceiveMessage, batches of up to ``BatchSize`` gathered for up to ``MaximumBatchingWindowInSeconds``,
at most ``MaximumConcurrency`` invocations in flight (pollers scale up while messages flow and retire when
the queue is idle), delete on success, ``ReportBatchItemFailures``. Failed messages stay in the queue, come
back after its visibility timeout, and moto's own redrive moves them to the DLQ after ``maxReceiveCount``.
"""
from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("notifyx.pollers")

#: Runs a function by name with an event and returns its result; raises on a function error, timeout or throttle.
Invoke = Callable[[str, dict], Any]

#: Without MaximumConcurrency AWS scales to 1,250 concurrent invocations; one machine stops far below that.
LOCAL_MAX_POLLERS = 10
#: Longest long-poll wait: it bounds how long stop() waits for an idle poller (moto checks about once a second).
LONG_POLL_SECONDS = 1
#: What Lambda copies from SQS's system attributes into a record's "attributes".
RECORD_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                     "AWSTraceHeader", "SequenceNumber", "MessageGroupId", "MessageDeduplicationId",
                     "DeadLetterQueueSourceArn")
_THROTTLE_CODES = {"TooManyRequestsException", "ThrottlingException"}


@dataclass
class SqsEventSourceSpec:
    """One SQS event source mapping (a template's SQS event or AWS::Lambda::EventSourceMapping)."""

    function: str
    queue_arn: str
    queue_url: str
    batch_size: int
    batching_window: float
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    enabled: bool = True
    #: FilterCriteria patterns (infra/event_filters.py): a message no pattern matches is deleted unprocessed
    filters: list[dict] = field(default_factory=list)
    #: the event source mapping's UUID ("" for a pipe's source)
    mapping: str = ""

    def __post_init__(self) -> None:
        # the same limits Lambda's CreateEventSourceMapping enforces, so a template that deploys here deploys there
        fifo = self.queue_arn.endswith(".fifo")
        if not 1 <= self.batch_size <= (10 if fifo else 10000):
            raise ValueError(f"InvalidParameterValueException: BatchSize {self.batch_size} for {self.queue_arn} "
                             f"must be between 1 and {10 if fifo else 10000}")
        if not 0 <= self.batching_window <= 300:
            raise ValueError(f"InvalidParameterValueException: MaximumBatchingWindowInSeconds "
                             f"{self.batching_window} must be between 0 and 300")
        if self.batch_size > 10 and self.batching_window < 1:
            raise ValueError("InvalidParameterValueException: MaximumBatchingWindowInSeconds must be at least 1 "
                             f"when BatchSize ({self.batch_size}) is greater than 10")
        if self.maximum_concurrency is not None and not 2 <= self.maximum_concurrency <= 1000:
            raise ValueError(f"InvalidParameterValueException: ScalingConfig.MaximumConcurrency "
                             f"{self.maximum_concurrency} must be between 2 and 1000")


def is_throttle(exc: BaseException) -> bool:
    """True when an invoke failed because the function's concurrency is exhausted (Lambda's HTTP 429)."""
    code = getattr(exc, "error_type", None)
    response = getattr(exc, "response", None)  # botocore ClientError, when invoke goes through a Lambda client
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", code)
    return code in _THROTTLE_CODES


def sqs_record(message: dict, queue_arn: str) -> dict:
    """The Lambda event record for one ReceiveMessage message, shaped exactly as Lambda sends it."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: v for k, v in message.get("Attributes", {}).items() if k in RECORD_ATTRIBUTES},
        "messageAttributes": {name: _record_attribute(value)
                              for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _record_attribute(value: dict) -> dict:
    # Lambda spells message attributes in camelCase and base64-encodes binary values
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    out["stringListValues"] = list(value.get("StringListValues", []))
    out["binaryListValues"] = [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])]
    out["dataType"] = value["DataType"]
    return out


def batch_item_failures(result: Any, message_ids: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response marks failed; None when the whole batch failed.

    As Lambda: a null/empty response or list means success; anything malformed (not an object, an entry
    without a valid itemIdentifier, an id not in the batch) fails the whole batch.
    """
    if result is None:
        return set()
    if not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for entry in failures:
        ident = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(ident, str) or ident not in message_ids:
            return None
        failed.add(ident)
    return failed


class SqsEventSource:
    """Polls one queue for one function with Lambda's semantics; ``start()``/``stop()``; ``stats`` for tests."""

    def __init__(self, spec: SqsEventSourceSpec, invoke: Invoke, sqs_client: Any) -> None:
        self.spec = spec
        self._invoke = invoke
        self._sqs = sqs_client
        self._limit = spec.maximum_concurrency or LOCAL_MAX_POLLERS
        self._lock = threading.Lock()
        # moto's ReceiveMessage scans and marks messages without a lock while its server answers requests on
        # threads: one receive at a time per source, so two of our pollers are never handed the same message
        self._receive_lock = threading.Lock()
        self._stopping = threading.Event()
        self._pollers: set[threading.Thread] = set()
        self._poller_seq = 0
        self._visibility_timeout = 30.0
        self._stats = {"in_flight": 0, "max_in_flight": 0, "batches": 0, "messages": 0, "succeeded": 0,
                       "failed": 0, "throttled": 0, "pollers": 0, "max_pollers": 0}

    @property
    def stats(self) -> dict[str, int]:
        """Counters: in_flight/max_in_flight invocations, batches and messages invoked, succeeded/failed messages."""
        with self._lock:
            return dict(self._stats)

    def start(self) -> SqsEventSource:
        """Start polling with one poller (no-op for a disabled mapping); more join while messages flow."""
        if not self.spec.enabled:
            return self
        with self._lock:
            if self._pollers:
                return self
        attrs = self._sqs.get_queue_attributes(QueueUrl=self.spec.queue_url, AttributeNames=["VisibilityTimeout"])
        self._visibility_timeout = float(attrs["Attributes"].get("VisibilityTimeout", 30))
        self._stopping.clear()
        with self._lock:
            self._spawn_locked()
        return self

    def stopping(self) -> None:
        """Tell the pollers to stop: they take no more batches (stop waits for them)."""
        self._stopping.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling and wait for in-flight batches to finish (idle pollers return within a long poll)."""
        self._stopping.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pollers = list(self._pollers)
            if not pollers:
                return
            for thread in pollers:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(remaining)
                if deadline is not None and time.monotonic() >= deadline:
                    return

    # ------------------------------------------------------------------ pollers
    def _spawn_locked(self) -> None:
        self._poller_seq += 1
        thread = threading.Thread(target=self._poll, daemon=True,
                                  name=f"sqs-poller-{self.spec.function}-{self._poller_seq}")
        self._pollers.add(thread)
        self._stats["pollers"] = len(self._pollers)
        self._stats["max_pollers"] = max(self._stats["max_pollers"], len(self._pollers))
        thread.start()

    def _poll(self) -> None:
        me = threading.current_thread()
        try:
            while not self._stopping.is_set():
                try:
                    messages = self._gather()
                except Exception:  # noqa: BLE001 - the emulator may be restarting; keep the poller alive
                    logger.exception("receiving from %s failed", self.spec.queue_url)
                    self._stopping.wait(1.0)
                    continue
                if self._stopping.is_set():
                    self._release(messages)
                    return
                with self._lock:
                    if not messages:
                        # an idle queue needs one poller; the others retire
                        if len(self._pollers) > 1:
                            return
                        continue
                    # messages are flowing: add a poller, up to the concurrency bound, as Lambda scales up
                    if len(self._pollers) < self._limit:
                        self._spawn_locked()
                try:
                    self._process(messages)
                except Exception:  # noqa: BLE001 - a poller must outlive one bad batch; its messages come back
                    logger.exception("processing a batch from %s failed", self.spec.queue_url)
        finally:
            with self._lock:
                self._pollers.discard(me)
                self._stats["pollers"] = len(self._pollers)

    def _receive(self, count: int, wait: int) -> list[dict]:
        with self._receive_lock:
            if self._stopping.is_set():
                return []
            response = self._sqs.receive_message(
                QueueUrl=self.spec.queue_url, MaxNumberOfMessages=count, WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
        return response.get("Messages", [])

    def _gather(self) -> list[dict]:
        """One batch: up to batch_size messages, gathered for up to the batching window after the first one."""
        spec = self.spec
        batch: list[dict] = []
        first_at: float | None = None
        while not self._stopping.is_set():
            want = min(10, spec.batch_size - len(batch))
            if first_at is None:
                received = self._receive(want, LONG_POLL_SECONDS)
            else:
                remaining = first_at + spec.batching_window - time.monotonic()
                if remaining <= 0:
                    break
                if remaining >= 1:
                    received = self._receive(want, min(LONG_POLL_SECONDS, math.floor(remaining)))
                else:
                    # WaitTimeSeconds is whole seconds: finish a sub-second window with short polls
                    received = self._receive(want, 0)
                    if not received:
                        self._stopping.wait(min(remaining, 0.1))
            if received and first_at is None:
                first_at = time.monotonic()
            batch.extend(received)
            if len(batch) >= spec.batch_size or first_at is None or spec.batching_window <= 0:
                break
        return batch

    def _release(self, messages: list[dict]) -> None:
        # received after stop(): make them visible again now rather than after the visibility timeout
        for chunk in _chunks(messages, 10):
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self.spec.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                             for i, m in enumerate(chunk)])
            except Exception:  # noqa: BLE001 - they come back after the visibility timeout anyway
                logger.warning("could not release %d messages on %s", len(chunk), self.spec.queue_url)

    # ------------------------------------------------------------------ one batch
    def _process(self, messages: list[dict]) -> None:
        spec = self.spec
        if spec.filters:
            from infra.event_filters import passes, sqs_view

            kept = [m for m in messages if passes(spec.filters, sqs_view(sqs_record(m, spec.queue_arn)))]
            self._delete([m for m in messages if m not in kept])    # as Lambda does with filtered-out messages
            messages = kept
            if not messages:
                return
        event = {"Records": [sqs_record(m, spec.queue_arn) for m in messages]}
        ids = {m["MessageId"] for m in messages}
        # Lambda keeps retrying a throttled batch while its messages are still invisible
        give_up_at = time.monotonic() + self._visibility_timeout
        backoff = 0.05
        while True:
            with self._lock:
                self._stats["in_flight"] += 1
                self._stats["max_in_flight"] = max(self._stats["max_in_flight"], self._stats["in_flight"])
            try:
                result = self._invoke(spec.function, event)
                error: BaseException | None = None
            except Exception as exc:  # noqa: BLE001 - any invoke failure is the batch's outcome
                result, error = None, exc
            finally:
                with self._lock:
                    self._stats["in_flight"] -= 1
            if error is None or not is_throttle(error):
                break
            with self._lock:
                self._stats["throttled"] += 1
            if self._stopping.is_set():
                self._release(messages)
                return
            if time.monotonic() + backoff >= give_up_at:
                return  # the messages come back after their visibility timeout, as on Lambda
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 1.0)

        with self._lock:
            self._stats["batches"] += 1
            self._stats["messages"] += len(messages)
        if error is not None:
            logger.warning("%s failed a batch of %d from %s: %s", spec.function, len(messages), spec.queue_arn, error)
            failed: set[str] | None = None
        elif spec.report_batch_item_failures:
            failed = batch_item_failures(result, ids)
            if failed is None:
                logger.warning("%s returned a malformed batchItemFailures response: %r", spec.function, result)
        else:
            failed = set()
        if failed is None:
            failed = ids
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(done)
        with self._lock:
            self._stats["succeeded"] += len(done)
            self._stats["failed"] += len(messages) - len(done)

    def _delete(self, messages: list[dict]) -> None:
        for chunk in _chunks(messages, 10):
            try:
                response = self._sqs.delete_message_batch(
                    QueueUrl=self.spec.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])
            except Exception:  # noqa: BLE001 - undeleted messages are simply delivered again
                logger.exception("deleting %d messages from %s failed", len(chunk), self.spec.queue_url)
                continue
            for failure in response.get("Failed", []):
                logger.warning("could not delete a message from %s: %s", self.spec.queue_url, failure)


def _chunks(items: list[dict], size: int) -> list[list[dict]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
