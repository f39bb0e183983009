"""Lambda response streaming through a function URL (InvokeMode RESPONSE_STREAM).

The function's runtime posts its response in pieces as the handler writes them (a Node.js handler wrapped in
`awslambda.streamifyResponse`); a `Sink` hands them to the client as they come, over HTTP/1.1 chunked transfer
coding, as the URL does. Two shapes of stream, told apart by the content type the handler set:
- `application/vnd.awslambda.http-integration-response` (`awslambda.HttpResponseStream.from`): a JSON prelude
  (statusCode, headers, cookies), 8 NUL bytes, then the body: the client gets that status, those headers and a
  Set-Cookie per cookie, then the body's bytes;
- anything else: status 200 with the stream's content type, then its bytes.

A function that does not stream (a Python handler: Lambda's Python runtime buffers) answers with its payload,
sent as the body (application/json). An error before the first byte is the URL's 502; after it, the connection
is closed without the last chunk, so the client sees the body cut short.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

PRELUDE_TYPE = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\x00" * 8
#: a prelude larger than this without its delimiter is not one (the stream is refused: 502)
MAX_PRELUDE_BYTES = 64 * 1024
#: Lambda's answer when the function failed before its response began (a function URL's, as for BUFFERED)
FAILED = (502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}')

Head = Callable[[int, list[tuple[str, str]]], None]
Body = Callable[[bytes], None]


class Sink:
    """Takes a streamed response's bytes from the function's runtime (on the runtime's thread) and writes them to
    the client: the status and headers once they are known, then the body."""

    def __init__(self, head: Head, body: Body, extra_headers: list[tuple[str, str]]) -> None:
        self._head, self._body = head, body
        self._extra = extra_headers
        self._lock = threading.Lock()
        self._prelude: bytearray | None = None
        self._pending_head: tuple[int, list[tuple[str, str]]] | None = None  # sent with the first byte
        self.began = False          # the function streamed (begin was called)
        self.head_sent = False      # the client has the status line and headers
        self.broken = False         # the prelude was not one, or the client went away: the rest is dropped
        self.closed = False         # the invocation is over: late bytes are dropped

    def begin(self, content_type: str) -> None:
        with self._lock:
            self.began = True
            if content_type.split(";")[0].strip().lower() == PRELUDE_TYPE:
                self._prelude = bytearray()
            else:  # sent with the first byte: an error before it is still the URL's 502
                self._pending_head = (200, [("Content-Type", content_type)])

    def write(self, chunk: bytes) -> None:
        with self._lock:
            if self.closed or self.broken:
                return
            if self._prelude is not None:
                self._prelude += chunk
                end = self._prelude.find(DELIMITER)
                if end < 0:
                    if len(self._prelude) > MAX_PRELUDE_BYTES:
                        self.broken = True
                    return
                prelude, chunk = bytes(self._prelude[:end]), bytes(self._prelude[end + len(DELIMITER):])
                self._prelude = None
                head = _prelude_head(prelude)
                if head is None:
                    self.broken = True
                    return
                self._send_head(*head)
            if chunk and self._pending_head is not None:
                self._send_head(*self._pending_head)
                self._pending_head = None
            if chunk and not self.broken:
                try:
                    self._body(chunk)
                except (OSError, ValueError):  # the client went away (or its file was closed): the function goes
                    self.broken = True         # on to its end, as on AWS

    def finish(self, failed: bool = False) -> None:
        """The invocation is over (`failed`: with an error): a stream without a byte has its head sent now (unless
        it failed: the URL's 502), a prelude without its delimiter (nothing written after it) is the whole head."""
        with self._lock:
            self.closed = True
            if failed:
                self.broken = True
                return
            if self._pending_head is not None:
                self._send_head(*self._pending_head)
                self._pending_head = None
            if self._prelude is not None and not self.broken:
                head = _prelude_head(bytes(self._prelude).rstrip(b"\x00"))
                self._prelude = None
                if head is None:
                    self.broken = True
                else:
                    self._send_head(*head)

    def _send_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        try:
            self._head(status, headers + self._extra)
            self.head_sent = True
        except (OSError, ValueError):
            self.broken = True


def _prelude_head(prelude: bytes) -> tuple[int, list[tuple[str, str]]] | None:
    """The status and headers of an http-integration-response prelude, or None if it is not one."""
    try:
        document = json.loads(prelude or b"{}")
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    status = document.get("statusCode", 200)
    headers = document.get("headers") or {}
    cookies = document.get("cookies") or []
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599 \
            or not isinstance(headers, dict) or not isinstance(cookies, list):
        return None
    pairs = [(str(name), str(value)) for name, value in headers.items() if _header_safe(name, value)]
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "application/octet-stream"))
    pairs += [("Set-Cookie", str(cookie)) for cookie in cookies if _header_safe("Set-Cookie", cookie)]
    return status, pairs


def _header_safe(name: object, value: object) -> bool:
    """No header may carry a line break (a function's header would otherwise split the answer)."""
    text = f"{name}{value}"
    return bool(str(name)) and "\r" not in text and "\n" not in text and "\x00" not in text


class StreamedAnswer:
    """A function URL's answer in RESPONSE_STREAM mode: run by the HTTP server, which gives it where to write.
    `invoke(sink)` runs the function with the sink (it returns the function's result; raises when it failed)."""

    def __init__(self, invoke: Callable[[Sink], Any]) -> None:
        self._invoke = invoke
        self.extra_headers: list[tuple[str, str]] = []

    def run(self, head: Head, body: Body) -> tuple[Sink, tuple[int, list[tuple[str, str]], bytes] | None]:
        """Run the function: (the sink, and the whole answer to send when nothing was streamed, else None)."""
        sink = Sink(head, body, self.extra_headers)
        try:
            result = self._invoke(sink)
        except Exception:  # noqa: BLE001 - the function failed (or timed out): the URL's 502, or a cut body
            sink.finish(failed=True)
        else:
            sink.finish()
            if not sink.began:  # a function that does not stream: its payload is the body
                return sink, (200, [("Content-Type", "application/json"), *self.extra_headers],
                              json.dumps(result).encode())
        return sink, None if sink.head_sent else (FAILED[0], FAILED[1] + self.extra_headers, FAILED[2])
