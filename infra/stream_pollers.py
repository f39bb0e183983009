"""DynamoDB stream event sources: the local cloud's poller, with the semantics of Lambda's stream event sources.

moto runs a mapped function synchronously inside the write that made the record (holding the table's lock, so a
handler that writes to DynamoDB waited for its own timeout) and then forgets the stream's records. As Lambda
does instead (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), each mapping here reads the stream
from its StartingPosition, a few times a second, in batches of up to BatchSize records in order, and
- on success moves on;
- on a function error retries the same batch (the shard waits: order is kept) until it succeeds, or until
  `MaximumRetryAttempts` retries (then the batch is skipped, as Lambda does with no on-failure destination);
- with `ReportBatchItemFailures`, retries from the first reported `itemIdentifier` (a sequence number).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra import account
from infra.event_filters import passes

logger = logging.getLogger("notifyx.streams")

Invoke = Callable[[str, dict], Any]
POLL_SECONDS = 0.25
RETRY_SECONDS = 0.5


@dataclass
class StreamEventSourceSpec:
    """One DynamoDB stream event source mapping."""

    function: str
    stream_arn: str
    batch_size: int = 100
    starting_position: str = "LATEST"       # LATEST | TRIM_HORIZON
    maximum_retry_attempts: int = -1        # -1: until the record expires (forever, locally)
    report_batch_item_failures: bool = False
    enabled: bool = True
    #: FilterCriteria patterns (infra/event_filters.py): records no pattern matches are skipped
    filters: list[dict] = field(default_factory=list)


def _lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    event = {"eventID": record["eventID"], "eventName": record["eventName"],
             "eventVersion": record.get("eventVersion", "1.1"), "eventSource": "aws:dynamodb", "awsRegion": region,
             "dynamodb": dynamodb, "eventSourceARN": stream_arn}
    identity = record.get("userIdentity")
    if identity:  # a Time to Live deletion: DynamoDB's own
        event["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return event


class DynamoDbStreamSource:
    """Reads one stream's shards and runs the mapped function on its records, in order."""

    def __init__(self, spec: StreamEventSourceSpec, invoke: Invoke, streams: Any, region: str = account.REGION) -> None:
        self.spec = spec
        self._invoke = invoke
        self._streams = streams
        self._region = region
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterators: dict[str, str] = {}

    def start(self) -> None:
        """Take the shards' iterators (LATEST now, or TRIM_HORIZON) and start polling."""
        if not self.spec.enabled:
            return
        description = self._streams.describe_stream(StreamArn=self.spec.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            self._iterators[shard["ShardId"]] = self._streams.get_shard_iterator(
                StreamArn=self.spec.stream_arn, ShardId=shard["ShardId"],
                ShardIteratorType=self.spec.starting_position)["ShardIterator"]
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.spec.function}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (a batch being retried is abandoned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            for shard_id, iterator in list(self._iterators.items()):
                try:
                    answer = self._streams.get_records(ShardIterator=iterator, Limit=self.spec.batch_size)
                except Exception:  # noqa: BLE001 - the emulator is stopping, or the stream is gone
                    logger.debug("reading %s failed", self.spec.stream_arn, exc_info=True)
                    continue
                self._iterators[shard_id] = answer.get("NextShardIterator") or iterator
                records = [_lambda_record(r, self.spec.stream_arn, self._region) for r in answer.get("Records", [])]
                busy = busy or bool(records)
                records = [r for r in records if passes(self.spec.filters, r)]
                if records:
                    self._deliver(records)
            if not busy:
                self._stop.wait(POLL_SECONDS)

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        retries = 0
        while records and not self._stop.is_set():
            try:
                result = self._invoke(self.spec.function, {"Records": records})
            except Exception as exc:  # noqa: BLE001 - a function error, timeout or throttle: retry the batch
                failed_from = 0
                logger.info("%s failed on %d stream record(s): %s", self.spec.function, len(records), exc)
            else:
                failed_from = self._first_failure(result, records)
                if failed_from is None:
                    return
            records = records[failed_from:]
            retries += 1
            if 0 <= self.spec.maximum_retry_attempts < retries:
                logger.warning("%s: %d stream record(s) skipped after %d retries", self.spec.function,
                               len(records), retries - 1)
                return
            self._stop.wait(RETRY_SECONDS)

    def _first_failure(self, result: Any, records: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry (ReportBatchItemFailures), None when the batch succeeded."""
        if not self.spec.report_batch_item_failures or not isinstance(result, dict):
            return None
        failures = result.get("batchItemFailures") or []
        if not failures:
            return None
        sequence = {str(r["dynamodb"].get("SequenceNumber")): i for i, r in enumerate(records)}
        indexes = [sequence.get(str(f.get("itemIdentifier"))) for f in failures if isinstance(f, dict)]
        if any(i is None for i in indexes):
            return 0         # an identifier that names no record of the batch: Lambda retries the whole batch
        return min(indexes)
