"""Node.js and custom-runtime sandboxes: a function of a `nodejs*` runtime runs in a `node` process of its own, one of
a `provided*` runtime (Go, Rust, a shell script...) runs its code's `bootstrap` executable; both talk to the local
cloud over Lambda's Runtime API, as on AWS (infra/node_bootstrap.js is the Node.js runtime loop).

Each sandbox serves its own Runtime API on 127.0.0.1 (AWS_LAMBDA_RUNTIME_API): `GET /invocation/next` waits for
the sandbox's next invocation; `POST /invocation/{id}/response` and `/error` answer it; `POST /init/error` reports a
handler that cannot be loaded. The handler's AWS SDK calls go over HTTP to the emulator (AWS_ENDPOINT_URL): the
Python sandboxes' in-process channel speaks botocore, which a Node process has not. NodeSandbox has the interface
of infra.sandbox.Sandbox, so the runtime's pools, timeouts and logs treat both alike.
"""
from __future__ import annotations

import base64
import functools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).with_name("node_bootstrap.js")
_STOP = object()
#: the line node_bootstrap.js writes after an invocation's output, before its answer
_END = "\x00notifyx-end "
#: what a streamed response keeps without a sink: one byte beyond a buffered Invoke's limit (6 MB), which the runtime
#: then refuses as Lambda does (Function.ResponseSizeTooLarge)
KEPT_BYTES = 6_291_556


def runs_over_runtime_api(runtime: str) -> bool:
    """Whether a function of `runtime` runs here over the Runtime API: Node.js, and custom runtimes (provided*)."""
    return runtime.startswith(("nodejs", "provided"))


def node_binary() -> str | None:
    """The `node` the sandboxes run (NOTIFYX_NODE, else the first on PATH), or None."""
    return os.environ.get("NOTIFYX_NODE") or shutil.which("node")


@functools.cache
def node_version() -> str | None:
    """The major version of that node ("20"), or None without one."""
    node = node_binary()
    if node is None:
        return None
    try:
        found = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return found.lstrip("v").split(".")[0] or None


class _Invocation:
    def __init__(self, request_id: str, event_json: str, deadline_ms: int, trace: str | None,
                 sink: Any = None, tenant_id: str | None = None) -> None:
        self.request_id, self.event_json, self.deadline_ms, self.trace = request_id, event_json, deadline_ms, trace
        self.tenant_id = tenant_id
        self.done = threading.Event()
        self.result: str | Streamed | None = None
        self.error: dict[str, Any] | None = None
        #: who takes a streamed response's bytes as they come (api_gateway/streaming.py's Sink, or
        #: infra/response_streams.py's), else they are kept
        self.sink = sink


class Streamed:
    """A streamed response (`awslambda.streamifyResponse`) as a buffered Invoke answers it: its content type and its
    bytes, kept up to one byte beyond that Invoke's limit (the runtime then refuses it, as Lambda does). The sink of
    an invocation no one streams to."""

    def __init__(self) -> None:
        self.content_type = "application/octet-stream"
        self.parts: list[bytes] = []
        self.size = 0

    def begin(self, content_type: str) -> None:
        self.content_type = content_type

    def write(self, chunk: bytes) -> None:
        if self.size <= KEPT_BYTES:
            self.parts.append(chunk[:KEPT_BYTES + 1 - self.size])
        self.size += len(chunk)

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


class _RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, arn: str) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)
        self.arn = arn
        self.pending: queue.Queue = queue.Queue()
        self.current: _Invocation | None = None
        self.init_error: dict[str, Any] | None = None
        self.first_poll = threading.Event()
        self.failed = threading.Event()


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    server: _RuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # noqa: D102 - the runtime's own traffic is not the app's log
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the runtime is gone (a sandbox stopped while its next invocation was asked for)
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/2018-06-01/runtime/invocation/next":
            self._answer(404)
            return
        self.server.first_poll.set()
        invocation = self.server.pending.get()
        if invocation is _STOP:
            self._answer(410)
            return
        self.server.current = invocation
        headers = {"Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                   "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                   "Lambda-Runtime-Invoked-Function-Arn": self.server.arn, "Content-Type": "application/json"}
        if invocation.trace:
            headers["Lambda-Runtime-Trace-Id"] = invocation.trace
        if invocation.tenant_id:
            headers["Lambda-Runtime-Aws-Tenant-Id"] = invocation.tenant_id
        self._answer(200, invocation.event_json.encode(), headers)

    def do_POST(self) -> None:  # noqa: N802
        if (self.headers.get("Lambda-Runtime-Function-Response-Mode") or "").lower() == "streaming":
            self._streamed()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        parts = self.path.removeprefix("/2018-06-01/runtime/").split("/")
        if parts == ["init", "error"]:
            self.server.init_error = _error(body, "Runtime.InitError")
            self.server.failed.set()
            self._answer(202, b'{"status":"OK"}')
            return
        invocation = self.server.current
        if len(parts) != 3 or parts[0] != "invocation" or invocation is None or parts[1] != invocation.request_id \
                or parts[2] not in ("response", "error"):
            self._answer(400, b'{"errorMessage":"no such invocation","errorType":"InvalidRequestID"}')
            return
        if parts[2] == "response":
            invocation.result = body
        else:
            invocation.error = _error(body, "Error")
        self.server.current = None
        invocation.done.set()
        self._answer(202, b'{"status":"OK"}')

    def _streamed(self) -> None:
        """A streamed response: its chunks go to the invocation's sink as they arrive (or are kept), and an error
        after them comes as the trailers Lambda-Runtime-Function-Error-Type / -Body (base64 of the error JSON)."""
        parts = self.path.removeprefix("/2018-06-01/runtime/").split("/")
        invocation = self.server.current
        if len(parts) != 3 or parts[0] != "invocation" or invocation is None or parts[1] != invocation.request_id \
                or parts[2] != "response":
            self.close_connection = True
            self._answer(400, b'{"errorMessage":"no such invocation","errorType":"InvalidRequestID"}')
            return
        streamed = Streamed()  # the bytes go to the invocation's sink, else they are kept here
        sink = invocation.sink or streamed
        streamed.begin(self.headers.get("Content-Type") or "application/octet-stream")
        if sink is not streamed:
            sink.begin(streamed.content_type)
        trailers: dict[str, str] = {}
        try:
            for chunk in _chunks(self.rfile, self.headers, trailers):
                sink.write(chunk)
        except ValueError:  # a broken chunked body: the runtime's stream ended badly
            self.close_connection = True
            trailers.setdefault("lambda-runtime-function-error-type", "Runtime.TruncatedResponse")
        error_type = trailers.get("lambda-runtime-function-error-type")
        if error_type:
            try:
                body = base64.b64decode(trailers.get("lambda-runtime-function-error-body", ""), validate=False)
            except ValueError:
                body = b""
            invocation.error = _error(body.decode("utf-8", "replace"), error_type)
        else:
            invocation.result = streamed
        self.server.current = None
        invocation.done.set()
        self._answer(202, b'{"status":"OK"}')


def _chunks(stream: Any, headers: Any, trailers: dict[str, str]) -> Iterator[bytes]:
    """A request body's pieces as they arrive: HTTP/1.1 chunks (their trailers into `trailers`, names lowercased),
    or a Content-Length body at once. ValueError: a malformed chunked body."""
    if "chunked" not in (headers.get("Transfer-Encoding") or "").lower():
        body = stream.read(int(headers.get("Content-Length") or 0))
        if body:
            yield body
        return
    while True:
        line = stream.readline(1024)
        if not line.endswith(b"\n"):
            raise ValueError("malformed chunk size")
        size_text = line.split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
            raise ValueError("malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            while True:  # trailers, up to the blank line
                line = stream.readline(65536)
                if not line.endswith(b"\n"):
                    raise ValueError("malformed trailers")
                if not line.strip():
                    return
                name, _, value = line.decode("latin-1").partition(":")
                trailers[name.strip().lower()] = value.strip()
        while size:  # a large chunk in pieces: its bytes go on as they arrive
            piece = stream.read1(min(size, 1 << 16))
            if not piece:
                raise ValueError("truncated chunk")
            size -= len(piece)
            yield piece
        if stream.readline(3).strip():
            raise ValueError("malformed chunk")


def _error(body: str, default_type: str) -> dict[str, Any]:
    """An error the runtime posted, as the Python sandboxes report theirs (errorType, errorMessage, stackTrace)."""
    try:
        posted = json.loads(body)
    except ValueError:
        posted = {}
    if not isinstance(posted, dict):
        posted = {}
    return {"errorType": str(posted.get("errorType") or default_type),
            "errorMessage": str(posted.get("errorMessage") or ""),
            "stackTrace": [str(line) for line in posted.get("trace") or []]}


class NodeSandbox:
    """One process of one Node.js or custom-runtime function (`node` or its `bootstrap`), one invocation at a time."""

    def __init__(self, spec: dict[str, Any], environ: dict[str, str]) -> None:
        from infra.sandbox import SandboxExited

        runtime = str(spec.get("runtime", "nodejs"))
        #: node_bootstrap.js marks the end of each invocation's output; a custom runtime's bootstrap does not
        self._marks_end = runtime.startswith("nodejs")
        if self._marks_end:
            node = node_binary()
            if node is None:
                raise SandboxExited("no node binary to run a Node.js function (install Node.js or set NOTIFYX_NODE)")
            command = [node, str(BOOTSTRAP)]
        else:
            command = [str(Path(spec["code_dir"]) / "bootstrap")]
        self.name = spec["name"]
        self.log_stream = time.strftime("%Y/%m/%d") + f"/[$LATEST]{uuid.uuid4().hex}"
        self._api = _RuntimeApi(spec["arn"])
        threading.Thread(target=self._api.serve_forever, name=f"runtime-api-{self.name}", daemon=True).start()
        layers = [str(Path(layer) / "nodejs" / "node_modules") for layer in spec.get("layers", [])]
        env = {**environ, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self._api.server_address[1]}",
               "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream}
        env.pop("AWS_EXECUTION_ENV", None)  # Lambda sets none for a custom runtime
        if self._marks_end:
            env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{runtime}"
            env["NODE_PATH"] = os.pathsep.join([*layers, environ.get("NODE_PATH", "")]).strip(os.pathsep)
        self._lines: list[str] = []
        self._lines_lock = threading.Condition()
        self._ended = ""  # the last invocation whose output is complete
        self._started = time.perf_counter()
        self._cold = True
        nice = int(os.environ.get("NOTIFYX_SANDBOX_NICE", "5"))  # as the Python sandboxes (docs/internals.md)
        self.process = subprocess.Popen(command, cwd=spec["code_dir"], env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        preexec_fn=(lambda: os.nice(nice)) if nice else None)
        threading.Thread(target=self._read_output, name=f"node-output-{self.name}", daemon=True).start()

    def _read_output(self) -> None:
        label = f"[{self.name}] "
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(_END):  # the invocation's output is complete (node_bootstrap.js)
                with self._lines_lock:
                    self._ended = line[len(_END):]
                    self._lines_lock.notify_all()
                continue
            with self._lines_lock:
                self._lines.append(line)
            try:
                sys.__stdout__.write(label + line + "\n")
                sys.__stdout__.flush()
            except (OSError, ValueError):
                pass
        self._api.failed.set()  # the process ended

    def _take_lines(self) -> list[str]:
        with self._lines_lock:
            lines, self._lines = self._lines, []
        return lines

    def invoke(self, event_json: str, request_id: str, timeout: float, answer: Any, trace: str | None = None,
               stream: Any = None, tenant_id: str | None = None
               ) -> tuple[str | Streamed | None, dict[str, Any] | None, float | None, dict[str, Any]]:
        """Run one invocation: (result JSON, Lambda error payload, init duration in ms if this was a cold start, its
        output {"lines", "max_memory_mb"}), as infra.sandbox.Sandbox.invoke answers. A streaming handler's result
        is a Streamed; `stream` (a sink: begin(content type), write(bytes)) takes its bytes as they come."""
        from infra.sandbox import SandboxExited, SandboxTimeout

        deadline = time.monotonic() + timeout
        init_ms = None
        if self._cold:
            self._cold = False
            while not self._api.first_poll.wait(0.01):
                if self._api.failed.is_set() or time.monotonic() > deadline:
                    break
            if self._api.init_error is not None or (self._api.failed.is_set() and not self._api.first_poll.is_set()):
                self._take_lines()
                error = self._api.init_error or {"errorType": "Runtime.ExitError",
                                                 "errorMessage": "Runtime exited without providing a reason"}
                return None, error, (time.perf_counter() - self._started) * 1000, {"lines": [], "max_memory_mb": 0}
            init_ms = (time.perf_counter() - self._started) * 1000
        self._take_lines()  # what init printed went to the console; the invocation's log starts here
        invocation = _Invocation(request_id, event_json, int((time.time() + timeout) * 1000), trace, stream,
                                 tenant_id)
        self._api.pending.put(invocation)
        while not invocation.done.wait(0.01):
            if time.monotonic() > deadline:
                raise SandboxTimeout()
            if self.process.poll() is not None:
                raise SandboxExited()
        if self._marks_end:
            with self._lines_lock:
                self._lines_lock.wait_for(lambda: self._ended == request_id or self.process.poll() is not None, 2.0)
        output = {"lines": self._take_lines(), "max_memory_mb": self._peak_memory_mb()}
        return invocation.result, invocation.error, init_ms, output

    def _peak_memory_mb(self) -> int:
        """The node process's peak resident memory (VmHWM), for the REPORT line's Max Memory Used."""
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def output_so_far(self, wait: float = 0.5) -> dict[str, Any]:
        """What the running invocation printed so far (a timed-out invocation's log)."""
        time.sleep(min(wait, 0.05))
        return {"lines": self._take_lines(), "max_memory_mb": 0}

    def kill(self) -> None:
        """Stop the process and its Runtime API now."""
        try:
            self.process.kill()
            self.process.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            self._api.pending.put(_STOP)
            self._api.shutdown()
            self._api.server_close()
