"""Amazon Data Firehose delivery streams to S3, delivered as Firehose delivers (the Firehose developer guide):

- records put with PutRecord / PutRecordBatch (DirectPut), or read from a Kinesis stream (KinesisStreamAsSource,
  from its newest record, by the pollers Lambda's mappings use), are buffered per stream and delivered when the
  buffer holds `SizeInMBs` or its oldest record is `IntervalInSeconds` old (BufferingHints: 5 MB and 300 s by
  default), and when the cloud stops;
- a Lambda data transformation (ProcessingConfiguration) gets each delivery's records as Firehose sends them
  (`invocationId`, `deliveryStreamArn`, `region`, `records` of `recordId`, `approximateArrivalTimestamp`, base64
  `data`) and answers each record's `result`: `Ok` (its `data` is delivered), `Dropped`, `ProcessingFailed`; a
  failed invocation is retried (NumberOfRetries, 3 by default), then its records are failed;
- what is delivered is the records' data concatenated, GZIP-compressed when CompressionFormat says so (the key ends
  in .gz), under `Prefix` + `YYYY/MM/DD/HH/` (UTC) as `{stream}-{version}-{YYYY-MM-DD-HH-MM-SS}-{uuid}`, or under
  a Prefix with `!{timestamp:...}` and `!{firehose:random-string}` expressions evaluated; failed records go as
  JSON lines (`attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`,
  `rawData`, `lambdaArn`) under ErrorOutputPrefix (its `!{firehose:error-output-type}` is `processing-failed`),
  else `processing-failed/` + the time path.

moto wrote each PutRecordBatch call at once as one object, unbuffered, untransformed and uncompressed.
"""
from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("notifyx.firehose")

#: how often a stream's buffer is looked at for its interval
TICK_SECONDS = 0.2
_EXPRESSION = re.compile(r"!\{(?P<namespace>timestamp|firehose):(?P<argument>[^}]*)\}")
#: Java DateTimeFormatter letters the prefixes use -> strftime
_TIME_LETTERS = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


@dataclass(frozen=True)
class FirehoseSpec:
    """One delivery stream to S3."""

    name: str
    arn: str
    bucket: str
    prefix: str = ""
    error_prefix: str = ""
    interval: float = 300.0
    size_bytes: int = 5 * 1024 * 1024
    gzip: bool = False
    #: the transforming function's ARN (ProcessingConfiguration), and how many times a failed invocation is retried
    processor: str | None = None
    retries: int = 3
    #: KinesisStreamAsSource: the stream's ARN
    source_stream: str | None = None


def expand_prefix(prefix: str, when: datetime, *, error_type: str = "") -> tuple[str, bool]:
    """A prefix with its expressions evaluated, and whether it had any (then no time path is added)."""
    def value(match: re.Match) -> str:
        if match["namespace"] == "timestamp":
            pattern = match["argument"]
            for letters, code in _TIME_LETTERS:
                pattern = pattern.replace(letters, code)
            return when.strftime(pattern)
        if match["argument"] == "random-string":
            return uuid.uuid4().hex[:11]
        if match["argument"] == "error-output-type":
            return error_type
        return match.group(0)

    return _EXPRESSION.sub(value, prefix), bool(_EXPRESSION.search(prefix))


class DeliveryStream:
    """One stream's buffer, delivered to S3 by `put_object(bucket, key, data)`."""

    def __init__(self, spec: FirehoseSpec, put_object: Callable[[str, str, bytes], None],
                 invoke: Callable[[str, dict], Any], region: str) -> None:
        self.spec = spec
        self._put_object = put_object
        self._invoke = invoke
        self._region = region
        self._lock = threading.Lock()
        self._records: list[tuple[str, float, bytes]] = []   # (record id, arrival epoch ms, data)
        self._size = 0
        self._first_at = 0.0
        self.delivered = 0  # objects written, for whoever watches

    def add(self, data: list[bytes]) -> list[str]:
        """Buffer records; their ids. A full buffer is delivered at once."""
        now = time.time()
        ids = [uuid.uuid4().hex + uuid.uuid4().hex for _ in data]
        with self._lock:
            if not self._records:
                self._first_at = time.monotonic()
            self._records += [(record_id, now * 1000, item) for record_id, item in zip(ids, data, strict=True)]
            self._size += sum(len(item) for item in data)
            full = self._size >= self.spec.size_bytes
        if full:
            self.flush()
        return ids

    def due(self) -> bool:
        with self._lock:
            return bool(self._records) and time.monotonic() - self._first_at >= self.spec.interval

    def flush(self) -> None:
        """Deliver what the buffer holds."""
        with self._lock:
            records, self._records, self._size = self._records, [], 0
        if not records:
            return
        kept, failed = self._transformed(records)
        when = datetime.now(UTC)
        if kept:
            self._write(self.spec.prefix, b"".join(kept), when)
        if failed:
            self._write_failed(failed, when)

    def _transformed(self, records: list[tuple[str, float, bytes]]) -> tuple[list[bytes], list[dict[str, Any]]]:
        """(the data to deliver, the failed records' error documents): the records as they are, or as the
        transforming function answered."""
        if self.spec.processor is None:
            return [data for _, _, data in records], []
        event = {"invocationId": str(uuid.uuid4()), "deliveryStreamArn": self.spec.arn, "region": self._region,
                 "records": [{"recordId": record_id, "approximateArrivalTimestamp": int(arrived),
                              "data": base64.b64encode(data).decode()} for record_id, arrived, data in records]}
        if self.spec.source_stream:
            event["sourceKinesisStreamArn"] = self.spec.source_stream
        answer, error = None, None
        for _ in range(self.spec.retries + 1):
            try:
                answer = self._invoke(self.spec.processor, event)
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - a function error: retried, then its records failed
                error = ("Lambda.FunctionError", str(exc))
        by_id = {}
        if error is None:
            try:
                by_id = {item["recordId"]: item for item in answer["records"]}
            except (TypeError, KeyError):
                error = ("Lambda.InvalidOutput", "the function's answer is not a records list")
        kept, failed = [], []
        for record_id, arrived, data in records:
            item = by_id.get(record_id)
            if error is None and item is None:
                code, message = "Lambda.MissingRecordId", f"record {record_id} is not in the function's answer"
            elif error is None and item.get("result") == "Ok":
                kept.append(base64.b64decode(item.get("data") or ""))
                continue
            elif error is None and item.get("result") == "Dropped":
                continue
            else:
                code, message = error or ("Lambda.ProcessingFailed", "the function failed the record")
            failed.append({"attemptsMade": self.spec.retries + 1 if error else 1, "arrivalTimestamp": int(arrived),
                           "errorCode": code, "errorMessage": message,
                           "attemptEndingTimestamp": int(time.time() * 1000),
                           "rawData": base64.b64encode(data).decode(), "lambdaArn": self.spec.processor})
        return kept, failed

    def _write(self, prefix: str, data: bytes, when: datetime, *, error_type: str = "") -> None:
        expanded, custom = expand_prefix(prefix, when, error_type=error_type)
        key = f"{expanded}{'' if custom else when.strftime('%Y/%m/%d/%H/')}" \
              f"{self.spec.name}-1-{when.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4()}"
        if self.spec.gzip:
            data, key = gzip.compress(data), key + ".gz"
        try:
            self._put_object(self.spec.bucket, key, data)
            self.delivered += 1
        except Exception:  # noqa: BLE001 - the bucket is gone: what Firehose keeps retrying is lost locally
            logger.warning("firehose %s: delivering to s3://%s/%s failed", self.spec.name, self.spec.bucket, key,
                           exc_info=True)

    def _write_failed(self, failed: list[dict[str, Any]], when: datetime) -> None:
        lines = "".join(json.dumps(item) + "\n" for item in failed).encode()
        prefix = self.spec.error_prefix or "processing-failed/"
        self._write(prefix, lines, when, error_type="processing-failed")


class Firehoses:
    """The running cloud's delivery streams by name: buffered, transformed and delivered (a thread looks at their
    intervals); `stop()` delivers what is left."""

    def __init__(self, streams: list[DeliveryStream]) -> None:
        self.streams = {stream.spec.name: stream for stream in streams}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="notifyx-firehose", daemon=True)

    def start(self) -> Firehoses:
        self._thread.start()
        return self

    def put(self, name: str, data: list[bytes]) -> list[str] | None:
        """Buffer records for a stream; their ids, or None for a stream the local cloud does not deliver."""
        stream = self.streams.get(name)
        return None if stream is None else stream.add(data)

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            for stream in list(self.streams.values()):
                if stream.due():
                    try:
                        stream.flush()
                    except Exception:  # noqa: BLE001 - a delivery must not stop the others
                        logger.exception("firehose %s: a delivery failed", stream.spec.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for stream in self.streams.values():
            stream.flush()
