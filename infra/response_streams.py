"""Lambda's InvokeWithResponseStream API, served by the emulator's HTTP endpoint (moto has no such operation).

`POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations`: the function runs with a sink (as a
RESPONSE_STREAM function URL's, api_gateway/streaming.py), and the answer is an AWS event stream
(application/vnd.amazon.eventstream framing, whatever the Content-Type header says: Lambda puts the stream's own
content type there, `ResponseStreamContentType`): a `PayloadChunk` event for each piece as the function writes
it, then one `InvokeComplete` (`ErrorCode` and `ErrorDetails` when it failed, `LogResult` with LogType=Tail). A
function that does not stream (Python) answers its payload as one chunk. The HTTP answer is streamed to the caller
as the function writes; callers in the cloud's own process (a Python sandbox's botocore) read it whole.
"""
from __future__ import annotations

import collections
import json
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

from werkzeug.wsgi import get_content_length

from infra import ids

PATH = re.compile(r"/2021-11-15/functions/(?P<name>[^/]+)/response-streaming-invocations/?")
_END = object()


def message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message: prelude (total and headers lengths, CRC32), string headers, payload, CRC32."""
    encoded = b"".join(struct.pack("B", len(name)) + name + b"\x07" + struct.pack(">H", len(value)) + value
                       for name, value in ((n.encode(), v.encode()) for n, v in headers))
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def payload_chunk(chunk: bytes) -> bytes:
    return message([(":event-type", "PayloadChunk"), (":content-type", "application/octet-stream"),
                    (":message-type", "event")], chunk)


def invoke_complete(error_code: str | None = None, error_details: str | None = None,
                    log_result: str | None = None) -> bytes:
    fields = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": log_result}
    return message([(":event-type", "InvokeComplete"), (":content-type", "application/json"),
                    (":message-type", "event")], json.dumps({k: v for k, v in fields.items() if v}).encode())


#: what the cloud keeps of a stream for a caller reading slower than the function writes: beyond it the function's
#: writes wait for the caller (as a stream's writes wait on Lambda), so a slow or stalled reader costs the cloud this
#: much memory, not the whole response
MAX_KEPT_BYTES = 1 << 20


class _QueueSink:
    """The function's pieces, for the WSGI answer to send as they come (at most MAX_KEPT_BYTES kept)."""

    def __init__(self) -> None:
        self.content_type: str | None = None
        self.began = threading.Event()
        self._pieces: collections.deque = collections.deque()
        self._kept = 0
        self._closed = False  # the invocation ended or the caller left: later pieces are dropped
        self._changed = threading.Condition()

    def begin(self, content_type: str) -> None:
        self.content_type = content_type
        self.began.set()

    def write(self, chunk: bytes) -> None:
        """Keep a piece; while the kept ones fill the bound, wait for the caller to take some (or leave)."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or not self._kept or self._kept + len(chunk) <= MAX_KEPT_BYTES)
            if not self._closed:
                self._pieces.append(chunk)
                self._kept += len(chunk)
                self._changed.notify_all()

    def end(self) -> None:
        """The invocation is over: the caller gets what is kept, then the end; a writer still waiting drops its
        piece."""
        with self._changed:
            self._closed = True
            self._pieces.append(_END)
            self._changed.notify_all()

    def take(self) -> Any:
        """The next piece (waiting for it), or _END."""
        with self._changed:
            self._changed.wait_for(lambda: self._pieces)
            piece = self._pieces.popleft()
            if piece is not _END:
                self._kept -= len(piece)
                self._changed.notify_all()
            return piece

    def abandon(self) -> None:
        """The caller left: nothing more is kept, and a waiting writer goes on (its piece dropped)."""
        with self._changed:
            self._closed = True
            self._pieces.clear()
            self._kept = 0
            self._changed.notify_all()


def wsgi(runtime: Any, environ: dict, start_response: Any, name: str) -> Iterator[bytes] | list[bytes]:
    """Answer one InvokeWithResponseStream request for function `name` (WSGI)."""
    from infra.runtime import FunctionError, Ran, ResourceNotFound, Throttled, payload_too_large, running_with

    if environ.get("REQUEST_METHOD") != "POST":
        return _refused(start_response, 405, "MethodNotAllowed", "InvokeWithResponseStream takes a POST")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("Qualifier", [None])[0] not in (None, "$LATEST") or unquote(name).count(":") not in (0, 6):
        return _refused(start_response, 400, "InvalidParameterValueException",
                        "only $LATEST of a function runs locally (no versions or aliases)")
    size = get_content_length(environ) or 0
    body = environ["wsgi.input"].read(size) if size > 0 else b""
    too_large = payload_too_large(body, "RequestResponse")
    if too_large:
        return _refused(start_response, 413, "RequestEntityTooLargeException", too_large)
    try:
        event = json.loads(body or b"{}")
    except ValueError:
        return _refused(start_response, 400, "InvalidRequestContentException",
                        "Could not parse request body into json")
    function = unquote(name)
    try:
        runtime.spec(function)
    except ResourceNotFound as exc:
        return _refused(start_response, 404, "ResourceNotFoundException", str(exc))
    invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
    if invocation_type == "DryRun":
        start_response("204 No Content", [("Content-Length", "0")])
        return []
    if invocation_type != "RequestResponse":
        return _refused(start_response, 400, "InvalidParameterValueException",
                        "InvocationType must be RequestResponse or DryRun")
    tail = environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail"
    sink, ran, outcome = _QueueSink(), Ran(ids.request_id()), {}

    def run() -> None:
        try:
            outcome["result"] = running_with(ran, lambda: runtime.invoke(function, event, ran.request_id,
                                                                         stream=sink))
        except BaseException as exc:  # noqa: BLE001 - reported in InvokeComplete (or as the API's error)
            outcome["error"] = exc
        finally:
            sink.began.set()
            sink.end()

    threading.Thread(target=run, name=f"stream-invoke-{function}", daemon=True).start()
    request_id = ran.request_id  # the head's, before the invocation records its own (the same id)
    sink.began.wait()
    first = sink.take() if sink.content_type is None else None  # a function that did not stream: it ended
    error = outcome.get("error")
    if isinstance(error, Throttled):
        return _refused(start_response, 429, "TooManyRequestsException", str(error))
    if isinstance(error, ResourceNotFound):
        return _refused(start_response, 404, "ResourceNotFoundException", str(error))
    start_response("200 OK", [("Content-Type", sink.content_type or "application/json"),
                              ("X-Amz-Executed-Version", "$LATEST"), ("x-amzn-RequestId", request_id)])

    def events() -> Iterator[bytes]:
        if first is not None:  # the whole payload of a function that does not stream
            if "result" in outcome:
                yield payload_chunk(json.dumps(outcome["result"]).encode())
        else:
            try:
                while (piece := sink.take()) is not _END:
                    yield payload_chunk(piece)
            finally:  # the caller left mid-stream (the server closed this iterator), or the stream ended
                sink.abandon()
        failed = outcome.get("error")
        code = details = None
        if isinstance(failed, FunctionError):
            code, details = failed.error_type, json.dumps(failed.payload())
        elif failed is not None:
            code, details = "ServiceException", "the invocation failed"
        yield invoke_complete(code, details, ran.tail() if tail else None)

    return events()


def _refused(start_response: Any, status: int, code: str, text: str) -> list[bytes]:
    start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "application/json"),
                                                              ("x-amzn-errortype", code)])
    return [json.dumps({"Type": "User", "message": text}).encode()]
