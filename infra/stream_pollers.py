"""DynamoDB stream and Kinesis event sources: the local cloud's poller, with the semantics of Lambda's stream event
sources.

moto runs a mapped function synchronously inside the write that made the record (holding the table's lock, so a
handler that writes to DynamoDB waited for its own timeout; a Kinesis PutRecord waited for the function) and then
forgets the stream's records. As Lambda does instead (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html,
https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html), each mapping here reads the stream
from its StartingPosition, a few times a second, in batches of up to BatchSize records in order, and
- gathers a batch for up to `MaximumBatchingWindowInSeconds` after its first record (or until BatchSize);
- on success moves on;
- on a function error retries the same batch (the shard waits: order is kept) until it succeeds, or until
  `MaximumRetryAttempts` retries, or until a record is older than `MaximumRecordAgeInSeconds`: then the batch is
  skipped, and the mapping's on-failure destination (`DestinationConfig.OnFailure`: an SQS queue or SNS topic)
  gets Lambda's record of it (its shard, first and last sequence numbers, size; no records);
- with `BisectBatchOnFunctionError`, a batch the function fails on is split in two and each half retried;
- with `ReportBatchItemFailures`, retries from the first reported `itemIdentifier` (a sequence number); a
  response Lambda cannot read (not an object, entries that are not objects or lack an identifier, an identifier
  of no record of the batch) fails the whole batch, as Lambda documents.
A shard iterator that expired while a batch was retried (DynamoDB Streams keeps one 15 minutes) is taken again
after the last record read, so the poller goes on where it was. A Kinesis record reaches the function as Lambda
writes it (`kinesis.data` base64, `eventID` "<shard id>:<sequence number>"); filters see its data as JSON when it is
JSON; a skipped batch's record names it in `KinesisBatchInfo`.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra import account
from infra.event_filters import passes

logger = logging.getLogger("notifyx.streams")

Invoke = Callable[[str, dict], Any]
POLL_SECONDS = 0.25
RETRY_SECONDS = 0.5


@dataclass
class StreamEventSourceSpec:
    """One DynamoDB stream or Kinesis stream event source mapping."""

    function: str
    stream_arn: str
    batch_size: int = 100
    starting_position: str = "LATEST"       # LATEST | TRIM_HORIZON
    maximum_retry_attempts: int = -1        # -1: until the record expires (forever, locally)
    report_batch_item_failures: bool = False
    enabled: bool = True
    #: MaximumBatchingWindowInSeconds: records are gathered this long after the first of a batch (or until BatchSize)
    batching_window: float = 0.0
    #: FilterCriteria patterns (infra/event_filters.py): records no pattern matches are skipped
    filters: list[dict] = field(default_factory=list)
    #: MaximumRecordAgeInSeconds (-1: no limit): a failing batch with an older record is skipped
    maximum_record_age: int = -1
    #: DestinationConfig.OnFailure.Destination: where a skipped batch's record goes (an SQS queue or SNS topic ARN)
    on_failure: str | None = None
    #: BisectBatchOnFunctionError: a batch the function fails on is split in two, each half retried on its own
    bisect: bool = False
    #: Kinesis: StartingPositionTimestamp (epoch seconds) of StartingPosition AT_TIMESTAMP; the function's role
    #: (a record's invokeIdentityArn)
    starting_timestamp: float | None = None
    role: str = ""
    #: the event source mapping's UUID ("" for a pipe's source)
    mapping: str = ""


def _lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # epoch seconds, rounded down to the second (the StreamRecord reference)
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    event = {"eventID": record["eventID"], "eventName": record["eventName"],
             "eventVersion": record.get("eventVersion", "1.1"), "eventSource": "aws:dynamodb", "awsRegion": region,
             "dynamodb": dynamodb, "eventSourceARN": stream_arn}
    identity = record.get("userIdentity")
    if identity:  # a Time to Live deletion: DynamoDB's own
        event["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return event


def kinesis_stream_arn(arn: str) -> str:
    """The stream of a mapping's source ARN: an enhanced fan-out consumer's (arn:aws:kinesis:{region}:{account}:
    stream/{name}/consumer/{consumer}:{created}) names its stream's; any other ARN is returned as it is."""
    if arn.startswith("arn:aws:kinesis:") and "/consumer/" in arn:
        return arn.split("/consumer/", 1)[0]
    return arn


class DynamoDbStreamSource:
    """Reads one stream's shards and runs the mapped function on its records, in order. (KinesisStreamSource reads
    a Kinesis stream the same way: the hooks below are what differs.)"""

    #: the key of a skipped batch's place in Lambda's on-failure record
    batch_info = "DDBStreamBatchInfo"

    @property
    def _stream_arn(self) -> str:
        """The stream the mapping reads (its records and failure records name it)."""
        return self.spec.stream_arn

    def _shards(self) -> list[str]:
        description = self._streams.describe_stream(StreamArn=self.spec.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _iterator(self, shard_id: str, kind: str, after: str | None = None) -> str:
        args: dict[str, Any] = {"StreamArn": self.spec.stream_arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if after is not None:
            args["SequenceNumber"] = after
        return self._streams.get_shard_iterator(**args)["ShardIterator"]

    def _record(self, raw: dict[str, Any], shard_id: str) -> dict[str, Any]:
        return _lambda_record(raw, self.spec.stream_arn, self._region)

    @staticmethod
    def _sequence(record: dict[str, Any]) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    @staticmethod
    def _created(record: dict[str, Any]) -> float:
        return float(record["dynamodb"].get("ApproximateCreationDateTime") or time.time())

    def _view(self, record: dict[str, Any]) -> dict[str, Any]:
        return record

    def __init__(self, spec: StreamEventSourceSpec, invoke: Invoke, streams: Any, region: str = account.REGION,
                 send: Callable[[str, str], None] | None = None) -> None:
        self.spec = spec
        self._invoke = invoke
        #: send(destination ARN, JSON text): how a skipped batch's record reaches the on-failure destination
        self._send = send
        self._streams = streams
        self._region = region
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterators: dict[str, str] = {}
        #: per shard, the sequence number of the last record read (where an expired iterator is taken again)
        self._last_read: dict[str, str] = {}
        #: per shard, records gathered for the batching window, and when the first of them was read
        self._gathered: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        #: per shard, records read and not yet delivered when polling stopped (the mapping was disabled or changed)
        self._unfinished: dict[str, list[dict[str, Any]]] = {}

    def take_place(self, before: DynamoDbStreamSource) -> None:
        """Go on where the (stopped) poller of the same mapping stopped, as Lambda resumes a mapping disabled and
        enabled again, or changed: its place in each shard, what it had gathered and what it had not delivered."""
        if before.spec.stream_arn != self.spec.stream_arn:
            return
        self._iterators, self._last_read = dict(before._iterators), dict(before._last_read)
        for shard in set(before._unfinished) | set(before._gathered):
            records = before._unfinished.get(shard, []) + before._gathered.get(shard, (0.0, []))[1]
            if records:
                self._unfinished[shard] = records

    def start(self) -> None:
        """Take the shards' iterators (LATEST now, or TRIM_HORIZON; where a poller before it stopped, see
        take_place) and start polling."""
        if not self.spec.enabled:
            return
        for shard_id in self._shards():
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._iterator(shard_id, self.spec.starting_position)
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.spec.function}", daemon=True)
        self._thread.start()

    def stopping(self) -> None:
        """Tell the poller to stop (stop waits for it)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop polling (a batch being retried is abandoned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            for shard_id in list(self._iterators):
                try:
                    unfinished = self._unfinished.pop(shard_id, [])
                    for first in range(0, len(unfinished), self.spec.batch_size):
                        self._deliver(unfinished[first:first + self.spec.batch_size], shard_id)
                    busy = self._poll(shard_id) or busy
                except Exception:  # noqa: BLE001 - a poller must outlive anything one batch does
                    logger.warning("%s: polling %s failed", self.spec.function, self.spec.stream_arn, exc_info=True)
            if not busy:
                self._stop.wait(POLL_SECONDS)

    def _poll(self, shard_id: str) -> bool:
        """Read one batch of the shard and deliver it; whether it had records."""
        iterator = self._iterators[shard_id]
        first_at, gathered = self._gathered.pop(shard_id, (0.0, []))
        try:
            answer = self._streams.get_records(ShardIterator=iterator, Limit=self.spec.batch_size - len(gathered))
        except Exception as exc:  # noqa: BLE001 - the emulator is stopping, the stream is gone, or the iterator expired
            if _error_code(exc) == "ExpiredIteratorException" and shard_id in self._last_read:
                self._iterators[shard_id] = self._iterator(shard_id, "AFTER_SEQUENCE_NUMBER",
                                                           self._last_read[shard_id])
                logger.info("%s: the shard iterator of %s expired; taken again after %s", self.spec.function,
                            shard_id, self._last_read[shard_id])
                return True
            logger.debug("reading %s failed", self.spec.stream_arn, exc_info=True)
            if gathered:
                self._gathered[shard_id] = (first_at, gathered)
            return False
        self._iterators[shard_id] = answer.get("NextShardIterator") or iterator
        read = answer.get("Records", [])
        records = [self._record(r, shard_id) for r in read]
        if records:
            self._last_read[shard_id] = self._sequence(records[-1])
        records = [r for r in records if passes(self.spec.filters, self._view(r))]
        if records and not gathered:
            first_at = time.monotonic()
        gathered += records
        if gathered and len(gathered) < self.spec.batch_size and \
                time.monotonic() - first_at < self.spec.batching_window:
            self._gathered[shard_id] = (first_at, gathered)  # the window is still open
            return bool(read)
        if gathered:
            self._deliver(gathered, shard_id)
        return bool(read)

    def _deliver(self, records: list[dict[str, Any]], shard_id: str = "") -> None:
        retries = 0
        while records:
            if self._stop.is_set():  # kept, in order, for the poller that takes this one's place
                self._unfinished.setdefault(shard_id, []).extend(records)
                return
            try:
                result = self._invoke(self.spec.function, {"Records": records})
            except Exception as exc:  # noqa: BLE001 - a function error, timeout or throttle: retry the batch
                failed_from = 0
                logger.info("%s failed on %d stream record(s): %s", self.spec.function, len(records), exc)
                if self.spec.bisect and len(records) > 1:
                    # split in two and retry each half, in order (the original BatchSize stays); each half counts
                    # its own retries (AWS's documentation does not say how bisecting counts against them)
                    half = len(records) // 2
                    self._deliver(records[:half], shard_id)
                    self._deliver(records[half:], shard_id)
                    return
            else:
                failed_from = self._first_failure(result, records)
                if failed_from is None:
                    return
            records = records[failed_from:]
            retries += 1
            condition = "RetryAttemptsExhausted" if 0 <= self.spec.maximum_retry_attempts < retries else (
                "RecordAgeExceeded" if self._too_old(records) else None)
            if condition is not None:
                logger.warning("%s: %d stream record(s) skipped (%s, %d retries)", self.spec.function,
                               len(records), condition, retries - 1)
                self._discarded(records, shard_id, condition, retries)
                return
            self._stop.wait(RETRY_SECONDS)

    def _too_old(self, records: list[dict[str, Any]]) -> bool:
        """Whether a record of the batch is older than MaximumRecordAgeInSeconds."""
        if self.spec.maximum_record_age < 0:
            return False
        oldest = min(self._created(r) for r in records)
        return time.time() - oldest > self.spec.maximum_record_age

    def _discarded(self, records: list[dict[str, Any]], shard_id: str, condition: str, invokes: int) -> None:
        """Lambda's record of a skipped batch, sent to the mapping's on-failure destination ("Retaining discarded
        records of a DynamoDB event source": the batch's place in the stream, not its records)."""
        if not self.spec.on_failure or self._send is None:
            return

        def when(record: dict[str, Any]) -> str:
            return datetime.fromtimestamp(self._created(record), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

        account_id = self.spec.stream_arn.split(":")[4]
        message = {
            "requestContext": {"requestId": str(uuid.uuid4()),
                               "functionArn": f"arn:aws:lambda:{self._region}:{account_id}:function:"
                                              f"{self.spec.function}",
                               "condition": condition, "approximateInvokeCount": invokes},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            self.batch_info: {
                "shardId": shard_id, "startSequenceNumber": self._sequence(records[0]),
                "endSequenceNumber": self._sequence(records[-1]),
                "approximateArrivalOfFirstRecord": when(records[0]),
                "approximateArrivalOfLastRecord": when(records[-1]),
                "batchSize": len(records), "streamArn": self._stream_arn}}
        try:
            self._send(self.spec.on_failure, json.dumps(message))
        except Exception:  # noqa: BLE001 - the destination is gone: the record is lost, as the batch is
            logger.warning("%s: the on-failure destination %s refused a discarded batch", self.spec.function,
                           self.spec.on_failure, exc_info=True)

    def _first_failure(self, result: Any, records: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry (ReportBatchItemFailures), None when the batch succeeded. Lambda
        treats a null or empty response or list as success, and as a complete failure one it cannot read: not an
        object, a list that is not one, entries that are not objects, a null, empty or unknown itemIdentifier."""
        if not self.spec.report_batch_item_failures or result is None:
            return None
        if not isinstance(result, dict):
            return 0
        failures = result.get("batchItemFailures")
        if not failures:
            return None
        if not isinstance(failures, list):
            return 0
        sequence = {self._sequence(r): i for i, r in enumerate(records)}
        indexes = [sequence.get(str(f.get("itemIdentifier"))) if isinstance(f, dict) else None for f in failures]
        if any(i is None for i in indexes):
            return 0         # an identifier that names no record of the batch: Lambda retries the whole batch
        return min(indexes)


class KinesisStreamSource(DynamoDbStreamSource):
    """A Kinesis stream's event source: its shards read with the Kinesis API, its records as Lambda writes them."""

    batch_info = "KinesisBatchInfo"

    @property
    def _stream_arn(self) -> str:
        """A mapping on an enhanced fan-out consumer reads the consumer's stream, and its records name the stream,
        as Lambda's do."""
        return kinesis_stream_arn(self.spec.stream_arn)

    @property
    def _name(self) -> str:
        """The stream's name (arn:aws:kinesis:{region}:{account}:stream/{name}): the Kinesis calls here name the
        stream by it, since moto's shard iterators carry the name they were asked with, and GetRecords fails on one
        asked for by ARN."""
        return self._stream_arn.split(":stream/", 1)[1]

    def _shards(self) -> list[str]:
        description = self._streams.describe_stream(StreamName=self._name)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _iterator(self, shard_id: str, kind: str, after: str | None = None) -> str:
        args: dict[str, Any] = {"StreamName": self._name, "ShardId": shard_id, "ShardIteratorType": kind}
        if after is not None:
            args["StartingSequenceNumber"] = after
        if kind == "AT_TIMESTAMP":
            args["Timestamp"] = datetime.fromtimestamp(self.spec.starting_timestamp or time.time(), UTC)
        return self._streams.get_shard_iterator(**args)["ShardIterator"]

    def _record(self, raw: dict[str, Any], shard_id: str) -> dict[str, Any]:
        arrived = raw.get("ApproximateArrivalTimestamp")
        data = raw["Data"] if isinstance(raw["Data"], bytes) else str(raw["Data"]).encode()
        return {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": raw["PartitionKey"],
                            "sequenceNumber": str(raw["SequenceNumber"]),
                            "data": base64.b64encode(data).decode("ascii"),
                            "approximateArrivalTimestamp": arrived.timestamp() if isinstance(arrived, datetime)
                            else float(arrived or time.time())},
                "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": f"{shard_id}:{raw['SequenceNumber']}", "eventName": "aws:kinesis:record",
                "invokeIdentityArn": self.spec.role, "awsRegion": self._region,
                "eventSourceARN": self._stream_arn}

    @staticmethod
    def _sequence(record: dict[str, Any]) -> str:
        return record["kinesis"]["sequenceNumber"]

    @staticmethod
    def _created(record: dict[str, Any]) -> float:
        return float(record["kinesis"]["approximateArrivalTimestamp"])

    def _view(self, record: dict[str, Any]) -> dict[str, Any]:
        """As filters see a Kinesis record: only its `data` key, decoded from JSON (Lambda filters Kinesis records
        on `data` alone; data that is not a JSON object matches no pattern on its fields)."""
        try:
            data = json.loads(base64.b64decode(record["kinesis"]["data"]))
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
            return {}
        return {"data": data} if isinstance(data, dict) else {}


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
