"""X-Ray locally: the daemon's UDP protocol received into moto's X-Ray backend, and the segments AWS itself records.

Functions send segment documents the way the X-Ray SDK sends them on Lambda (UDP to ``AWS_XRAY_DAEMON_ADDRESS``,
``{"format": "json", "version": 1}\\n<document>``). The local cloud hands each document to moto's X-Ray backend,
so ``get-trace-summaries`` and ``batch-get-traces`` answer, and keeps the recent ones for the dashboard's waterfall.
The services that trace themselves on AWS (Lambda's ``AWS::Lambda`` and ``AWS::Lambda::Function`` segments, Step
Functions' state machine segment) are written here, with the ids the trace header carries to the next hop.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from infra import ids

logger = logging.getLogger("notifyx.xray")

#: the header line X-Ray SDKs send before each document (aws-xray-sdk's PROTOCOL_HEADER); another is read as JSON
HEADER = b'{"format":"json","version":1}'
#: traces kept in moto's backend and here (X-Ray keeps 30 days; a local cloud keeps the recent ones)
MAX_TRACES = int(os.environ.get("NOTIFYX_XRAY_TRACES", "2000"))
#: ... and at most this many segments in all (a publish's trace has ~80)
MAX_SEGMENTS = int(os.environ.get("NOTIFYX_XRAY_SEGMENTS", "3000"))


def new_trace_id() -> str:
    """``1-<epoch seconds, hex>-<96 random bits>``, X-Ray's format."""
    return f"1-{int(time.time()):08x}-{ids.hex_id(96)}"


def new_id() -> str:
    """A segment or subsegment id: 64 random bits in hex."""
    return ids.hex_id(64)


def parse_header(header: str | None) -> dict[str, str]:
    """``Root=...;Parent=...;Sampled=1`` as a dict (empty for None or garbage)."""
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            fields[key] = value
    return fields


def format_header(root: str, parent: str | None, sampled: bool) -> str:
    return f"Root={root};Parent={parent};Sampled={1 if sampled else 0}" if parent else \
        f"Root={root};Sampled={1 if sampled else 0}"


class TraceStore:
    """Segment documents into moto's X-Ray backend (the API's answers) and a bounded index of recent traces.

    moto keeps each segment (parsed, and its raw JSON); the dashboard's newest traces are also kept as documents,
    older ones are read back from moto's raw JSON. A publish's trace is ~80 segments (~2.5 KB each in moto), so the
    bound is on segments as well as traces: the oldest traces go once either is passed."""

    #: traces whose documents are kept parsed (the dashboard lists the newest 40)
    PARSED = 40

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self._lock = threading.Lock()
        #: trace id -> how many segments moto holds for it, most recent traces last
        self.traces: OrderedDict[str, int] = OrderedDict()
        self.segments = 0
        self._parsed: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.received = 0

    def _backend(self) -> Any:
        from moto.xray.models import xray_backends

        return xray_backends[self.account_id][self.region]

    def put(self, document: dict[str, Any], raw: str | None = None) -> None:
        """One segment or subsegment document (as the daemon forwards it to PutTraceSegments); `raw`: its JSON text
        as sent, if at hand (else it is dumped)."""
        from moto.xray.models import TraceSegment

        trace_id = document.get("trace_id")
        if not isinstance(trace_id, str) or "id" not in document or "start_time" not in document:
            return
        if raw is None:
            raw = json.dumps(document)
        backend = self._backend()
        with self._lock:
            self.received += 1
            try:
                # XRayBackend.process_segment without parsing the document again: from_dict adds a key to what it
                # is given, so a copy
                backend._segment_collection.put_segment(TraceSegment.from_dict(dict(document), raw=raw))
            except Exception as exc:  # noqa: BLE001 - a malformed document is dropped, as the service drops it
                logger.debug("segment refused: %s", exc)
                return
            self.traces[trace_id] = self.traces.get(trace_id, 0) + 1
            self.traces.move_to_end(trace_id)
            self.segments += 1
            docs = self._parsed.get(trace_id)
            if docs is None:
                docs = self._parsed[trace_id] = []
            self._parsed.move_to_end(trace_id)
            docs.append(document)
            while len(self._parsed) > self.PARSED:
                self._parsed.popitem(last=False)
            while len(self.traces) > MAX_TRACES or self.segments > MAX_SEGMENTS:
                old, count = self.traces.popitem(last=False)
                self.segments -= count
                self._parsed.pop(old, None)
                backend._segment_collection._traces.pop(old, None)

    def recent(self, limit: int = 20) -> list[tuple[str, list[dict[str, Any]]]]:
        """The last `limit` traces, newest first: (trace id, documents)."""
        with self._lock:
            ids = list(self.traces)[-limit:]
        return [(tid, self.get(tid)) for tid in reversed(ids)]

    def get(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            docs = self._parsed.get(trace_id)
            if docs is not None:
                return list(docs)
            if trace_id not in self.traces:
                return []
            trace = self._backend()._segment_collection._traces.get(trace_id)
            raws = [segment.raw for segment in trace["segments"]] if trace else []
        return [json.loads(raw) for raw in raws]


class DaemonReceiver:
    """The X-Ray daemon's UDP listener on 127.0.0.1 (a free port): what SDKs send goes to the TraceStore."""

    def __init__(self, store: TraceStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, port))
        host, port = self.sock.getsockname()
        self.address = f"{host}:{port}"
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="xray-daemon", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped:
            try:
                packet = self.sock.recv(65536)
            except OSError:
                return
            if self._stopped:
                return
            self.receive(packet)

    def receive(self, packet: bytes) -> None:
        """One datagram: the header line, then one JSON document."""
        head, _, body = packet.partition(b"\n")
        if not body:
            return
        if head != HEADER:
            try:
                header = json.loads(head)
            except ValueError:  # not UTF-8, or not JSON: dropped (before, it ended the daemon's thread)
                return
            if not isinstance(header, dict) or header.get("format") != "json":
                return
        try:
            text = body.decode()
            document = json.loads(text)
        except ValueError:  # not UTF-8, or not JSON
            return
        if isinstance(document, dict):
            self.store.put(document, text)

    def close(self) -> None:
        self._stopped = True
        try:
            # wake the blocking recv
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"", self.sock.getsockname())
        except OSError:
            pass
        self._thread.join(2)
        self.sock.close()


class PendingSegments:
    """Segments the local cloud writes (Lambda, Step Functions), sent in batches off the caller's thread."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="xray-segments", daemon=True)
        self._thread.start()

    def add(self, document: dict[str, Any]) -> None:
        self._queue.append(document)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(0.2)
            self.flush()

    def flush(self) -> None:
        while self._queue:
            self.store.put(self._queue.popleft())

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(2)
        self.flush()


def waterfall(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A trace's documents as rows for a waterfall: every segment and subsegment (nested ones too), ordered by
    start, each with its depth under its parent, its start offset and duration in ms."""
    nodes: dict[str, dict[str, Any]] = {}

    def visit(entity: dict[str, Any], parent: str | None, origin: str | None) -> None:
        if "id" not in entity or "start_time" not in entity:
            return
        nodes[entity["id"]] = {"id": entity["id"], "parent": entity.get("parent_id", parent),
                               "name": entity.get("name", "?"), "origin": entity.get("origin") or origin,
                               "namespace": entity.get("namespace"), "start": float(entity["start_time"]),
                               "end": float(entity.get("end_time") or entity["start_time"]),
                               "error": bool(entity.get("error") or entity.get("fault"))}
        for child in entity.get("subsegments") or ():
            visit(child, entity["id"], entity.get("origin") or origin)

    for document in documents:
        visit(document, None, None)
    if not nodes:
        return []
    begin = min(n["start"] for n in nodes.values())

    def depth(node: dict[str, Any], seen: int = 0) -> int:
        parent = nodes.get(node["parent"]) if node["parent"] else None
        return 0 if parent is None or seen > 32 else 1 + depth(parent, seen + 1)

    # children right after their parent, siblings by start
    children: dict[str | None, list[dict[str, Any]]] = {}
    for node in nodes.values():
        key = node["parent"] if node["parent"] in nodes else None
        children.setdefault(key, []).append(node)
    ordered: list[dict[str, Any]] = []

    def walk(key: str | None) -> None:
        for node in sorted(children.get(key, ()), key=lambda n: n["start"]):
            ordered.append(node)
            walk(node["id"])

    walk(None)
    return [{"name": n["name"], "origin": n["origin"], "namespace": n["namespace"], "depth": depth(n),
             "offset_ms": round((n["start"] - begin) * 1000, 2),
             "duration_ms": round((n["end"] - n["start"]) * 1000, 2), "error": n["error"]} for n in ordered]
