"""Lambda sandboxes as worker processes, the way Lambda runs a function.

Each sandbox is a process (forked from a fork server that has boto3 and botocore's models loaded, see
sandbox_bootstrap.preload) that imports one function's handler from its code folder, with its own modules,
``sys.path`` and environment, and runs one invocation at a time. A function gets as many sandboxes as it has
invocations in flight (reserved concurrency bounds them, LambdaRuntime.invoke answers 429 beyond); an idle
sandbox is reused warm; a timeout kills the sandbox, so the next invocation starts cold, as on Lambda.

The cheap channel: a sandbox's AWS calls come back over its multiprocessing connection (not HTTP) and are
answered in this process by the same botocore handlers that answer this process's own calls (the emulator in
process, @connections, Lambda invokes), raised on a botocore session of this process. A call nobody here
answers (a real AWS endpoint, say) is sent over HTTP from here. The thread that invoked the sandbox serves its
calls, so a sandbox costs no thread hand-off; a call that waits on something else (a synchronous Lambda
invoke, a long poll) is answered on a thread of its own, so that the handler's other threads' calls, in flight
at the same time as on Lambda, are not held behind it.
"""
from __future__ import annotations

import contextvars
import io
import logging
import multiprocessing
import os
import select
import struct
import threading
import time
import uuid
from typing import Any

from multiprocessing import context as mp_context
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util

from infra import sandbox_bootstrap
from infra.runtime import threads

logger = logging.getLogger("notifyx.sandbox")

MAX_IDLE_PER_FUNCTION = 64

#: multiprocessing.Connection's framing of a message: its length, and a longer form after a length of -1
_HEADER, _LONG_HEADER = struct.Struct("!i"), struct.Struct("!Q")
_READ_SIZE = 1 << 16

#: calls that wait on other work (botocore event names' service id and operation), answered off the invoking thread
WAITING_CALLS = {("lambda", "Invoke"), ("sqs", "ReceiveMessage"), ("sfn", "StartSyncExecution"),
                 ("sfn", "GetActivityTask"), ("lambda", "InvokeWithResponseStream")}

_context: Any = None
_context_lock = threading.Lock()


def _mp_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["infra.sandbox_preload"])
            _context = context
        return _context


class _Popen(popen_forkserver.Popen):
    """popen_forkserver.Popen whose ``_launch`` (copied) leaves out the parent's ``__main__``.

    multiprocessing re-imports the parent's main module in a spawned child (so that pickled functions of
    ``__main__`` resolve). A sandbox runs nothing of the parent's: a script that starts a LocalCloud without an
    ``if __name__ == "__main__"`` guard would otherwise start another cloud inside every sandbox.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        mp_context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            mp_context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class SandboxProcess(mp_context.ForkServerProcess):
    """The process of one sandbox (started through the fork server, see _Popen)."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _Popen(process_obj)


class SandboxTimeout(Exception):
    """The invocation passed the function's timeout; the sandbox was killed."""


class SandboxExited(Exception):
    """The sandbox process ended during the invocation (os._exit, a crash, SystemExit)."""


class Sandbox:
    """One worker process of one function."""

    def __init__(self, spec: dict[str, Any], environ: dict[str, str]) -> None:
        context = _mp_context()
        # one CloudWatch Logs stream per sandbox, named as Lambda names them
        self.log_stream = time.strftime("%Y/%m/%d") + f"/[$LATEST]{uuid.uuid4().hex}"
        spec = {**spec, "log_stream": self.log_stream}
        self.conn, child = context.Pipe()
        # what a timed-out invocation printed: the sandbox answers on this pipe when asked (output_so_far)
        self._output, output = context.Pipe(duplex=False)
        self._sending = threading.Lock()  # answers to waiting calls are sent from other threads
        self.process = SandboxProcess(target=sandbox_bootstrap.serve, args=(child, spec, environ, output),
                                                name=f"sandbox-{spec['name']}", daemon=True)
        self.process.start()
        child.close()
        output.close()
        # one poll object for the sandbox's life: Connection.poll built a selector for every message
        self._readable = select.poll()
        self._readable.register(self.conn.fileno(), select.POLLIN)
        self._fd = self.conn.fileno()
        self._received = bytearray()  # what was read from the connection and not yet taken as a message
        # the process's sentinel becomes readable when it ends (is_alive() built a selector for each look)
        self._ended = select.poll()
        self._ended.register(self.process.sentinel, select.POLLIN)

    def invoke(self, event_json: str, request_id: str, timeout: float, answer: Any, trace: str | None = None,
               stream: Any = None, tenant_id: str | None = None
               ) -> tuple[str | None, dict[str, Any] | None, float | None, dict[str, Any]]:
        """Run one invocation: (result JSON, Lambda error payload, init duration in ms if this was a cold start,
        its output {"lines", "max_memory_mb"}). `stream` is not used: Lambda's Python runtime does not stream a
        response (a function URL in RESPONSE_STREAM mode sends the whole payload)."""
        deadline = time.monotonic() + timeout
        try:
            # trace: the X-Ray header Lambda hands the runtime (Lambda-Runtime-Trace-Id) for _X_AMZN_TRACE_ID
            with self._sending:
                sandbox_bootstrap.send(self.conn, ("invoke", event_json, request_id, timeout, trace, tenant_id))
            while True:
                message = self._buffered_message()
                if message is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._readable.poll(remaining * 1000):
                        raise SandboxTimeout()
                    message = self._read_message()
                if message[0] == "call":
                    if tuple(message[3].split(".")[1:3]) in WAITING_CALLS:
                        threads.submit(contextvars.copy_context(),
                                       lambda m=message: self._answer(answer, m, waited=True))
                    else:
                        self._answer(answer, message)
                elif message[0] == "result":
                    return message[1], message[2], message[3], message[4]
        except (EOFError, OSError) as exc:
            raise SandboxExited() from exc

    def _frame(self) -> tuple[int, int] | None:
        """Where the body of the first message read lies in the buffer (start, end), once its length has come."""
        buffer = self._received
        if len(buffer) < 4:
            return None
        size, start = _HEADER.unpack_from(buffer)[0], 4
        if size == -1:  # Connection.send_bytes's header of a message over 2 GiB
            if len(buffer) < 12:
                return None
            size, start = _LONG_HEADER.unpack_from(buffer, 4)[0], 12
        return start, start + size

    def _buffered_message(self) -> Any:
        """The next message if the reads so far brought the whole of it, else None."""
        frame = self._frame()
        if frame is None or len(self._received) < frame[1]:
            return None
        start, end = frame
        message = sandbox_bootstrap.loads(self._received[start:end])
        if len(self._received) == end:
            self._received = bytearray()  # no large message's buffer kept for the sandbox's life
        else:
            del self._received[:end]
        return message

    def _read_message(self) -> Any:
        """The next message, read as the sandbox's Connection.send_bytes framed it (a 4-byte length, then the
        pickle). Connection.recv_bytes reads the length and the body apart; each read lets go of the interpreter,
        a hand-off to another thread in the cloud's busy process. Here one read takes what has arrived (usually the
        whole message, sometimes the next ones too: the handler's threads' calls), and reads go on only for the
        rest of a message."""
        while True:
            frame = self._frame()
            chunk = os.read(self._fd, max(_READ_SIZE, frame[1] - len(self._received) if frame else 0))
            if not chunk:
                raise EOFError
            self._received += chunk
            message = self._buffered_message()
            if message is not None:
                return message

    def _answer(self, answer: Any, message: tuple, waited: bool = False) -> None:
        """Answer one call (``("call", number, kind, event_name, *arguments)``) with its number."""
        try:
            reply = ("ok", message[1], answer(*message[2:]))
        except Exception as exc:  # noqa: BLE001 - the sandbox's botocore sees a failed request
            logger.warning("answering a call of %s failed: %s", self.process.name, exc)
            reply = ("error", message[1], f"{type(exc).__name__}: {exc}")
        try:
            with self._sending:
                sandbox_bootstrap.send(self.conn, reply)
        except (OSError, ValueError):
            if not waited:
                raise
            # the sandbox was stopped while its call waited (a timeout): nobody to tell

    @property
    def alive(self) -> bool:
        return not self._ended.poll(0)

    def output_so_far(self, wait: float = 0.5) -> dict[str, Any]:
        """The lines the running invocation has printed and the sandbox's peak memory ({"lines", "max_memory_mb"}),
        asked of the sandbox (a signal) before a timeout kills it, as Lambda's log has them; none when it does not
        answer within `wait` (a handler inside a long call of C code runs no signal handler until it returns)."""
        try:
            os.kill(self.process.pid, sandbox_bootstrap.OUTPUT_SIGNAL)
            if self._output.poll(wait):
                return self._output.recv()
        except (OSError, EOFError):
            pass
        return {}

    def kill(self) -> None:
        """Stop the process now (a timed-out handler does not keep running)."""
        try:
            self.process.kill()
            self.process.join(2)
        finally:
            self.conn.close()
            self._output.close()


class SandboxPool:
    """The sandboxes of one function: idle ones are reused (warm), a new one is started when all are busy."""

    def __init__(self, spec: dict[str, Any], environ: dict[str, str]) -> None:
        self.spec = spec
        self.environ = environ
        self._idle: list[Sandbox] = []
        self._lock = threading.Lock()
        self._closed = False
        self.started = 0

    def take(self) -> Sandbox:
        with self._lock:
            while self._idle:
                sandbox = self._idle.pop()
                if sandbox.alive:
                    return sandbox
                sandbox.kill()
            self.started += 1
        from infra.node_sandbox import NodeSandbox, runs_over_runtime_api

        if runs_over_runtime_api(str(self.spec.get("runtime", ""))):
            return NodeSandbox(self.spec, self.environ)
        return Sandbox(self.spec, self.environ)

    def give_back(self, sandbox: Sandbox) -> None:
        """Keep a sandbox that has just answered its invocation. Whether it is still alive is looked at when it is
        taken again (a look is a poll, a hand-off of the interpreter: one an invocation is enough)."""
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE_PER_FUNCTION:
                self._idle.append(sandbox)
                return
        sandbox.kill()

    def close(self) -> None:
        """Stop the idle sandboxes; a busy one is stopped when it is given back (new code: UpdateFunctionCode)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sandbox in idle:
            sandbox.kill()


class CallAnswerer:
    """Answers sandboxes' AWS calls with the botocore handlers registered in this process."""

    def __init__(self) -> None:
        self._events: Any = None
        self._models: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._http: Any = None

    def _emitter(self) -> Any:
        if self._events is None:
            import botocore.session

            # a session copies botocore's BUILTIN_HANDLERS, where the local cloud's in-process handlers are
            self._events = botocore.session.get_session().get_component("event_emitter")
        return self._events

    def _model(self, service: str, operation: str) -> Any:
        key = (service, operation)
        model = self._models.get(key)
        if model is None:
            import botocore.session

            with self._lock:
                model = botocore.session.get_session().get_service_model(service).operation_model(operation)
                self._models[key] = model
        return model

    def __call__(self, kind: str, event_name: str, *args: Any) -> Any:
        if kind == "before-call":
            return self._before_call(event_name, *args)
        if kind == "before-send":
            return self._before_send(event_name, *args)
        raise ValueError(f"unknown call {kind!r}")

    def _before_call(self, event_name: str, service: str, operation: str, params: dict) -> Any:
        params["context"] = {"client_region": params.pop("client_region", None)}
        _, response = self._emitter().emit_until_response(
            event_name, model=self._model(service, operation), params=params, request_signer=None,
            context=params["context"])
        if response is None:
            return None
        http, parsed = response
        # a streaming member (Lambda Invoke's Payload) crosses to the sandbox as bytes
        parsed = {k: v.read() if hasattr(v, "read") else v for k, v in parsed.items()}
        return http.status_code, dict(http.headers.items()), parsed

    def _before_send(self, event_name: str, method: str, url: str, headers: dict, body: bytes) -> Any:
        from botocore.awsrequest import AWSPreparedRequest
        from botocore.compat import HTTPHeaders

        http_headers = HTTPHeaders()
        for key, value in headers.items():
            http_headers[key] = value
        request = AWSPreparedRequest(method=method, url=url, headers=http_headers, body=body, stream_output=False)
        _, response = self._emitter().emit_until_response(event_name, request=request)
        if response is not None:
            return response.status_code, dict(response.headers.items()), response.content
        return self._over_http(method, url, headers, body)

    def _over_http(self, method: str, url: str, headers: dict, body: bytes) -> Any:
        import urllib3

        if self._http is None:
            self._http = urllib3.PoolManager(maxsize=32)
        answer = self._http.request(method, url, body=body or None, headers=headers, retries=False,
                                    redirect=False, timeout=urllib3.Timeout(connect=10, read=60))
        return answer.status, dict(answer.headers.items()), answer.data


class LogShipper:
    """Sandboxes' output to CloudWatch Logs, as Lambda ships it: a group ``/aws/lambda/<name>`` per function, a
    stream per sandbox, START / output / END / REPORT per invocation. Sent in batches from a background thread,
    so an invocation never waits for its logs."""

    FLUSH_SECONDS = 0.5

    def __init__(self, client_factory: Any, sink: Any = None) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        #: ``sink(group, stream, events)``: writes straight into the embedded emulator's CloudWatch Logs, as
        #: Lambda's own shipping needs no API call; without one, PutLogEvents through the endpoint
        self._sink = sink
        self._pending: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._known: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="lambda-logs", daemon=True)
        self._thread.start()

    def invocation(self, function: str, stream: str, log: list[str]) -> None:
        """Queue one invocation's log events (runtime.invocation_log)."""
        now = int(time.time() * 1000)
        with self._lock:
            self._pending.setdefault((f"/aws/lambda/{function}", stream), []).extend(
                {"timestamp": now, "message": m or " "} for m in log)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        """Send what is queued now."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            if self._sink is not None:
                for (group, stream), events in pending.items():
                    self._sink(group, stream, events)
                return
            client = self._client = self._client or self._client_factory()
            for (group, stream), events in pending.items():
                if (group, stream) not in self._known:
                    for create, args in ((client.create_log_group, {"logGroupName": group}),
                                         (client.create_log_stream, {"logGroupName": group, "logStreamName": stream})):
                        try:
                            create(**args)
                        except client.exceptions.ResourceAlreadyExistsException:
                            pass
                    self._known.add((group, stream))
                client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        except Exception as exc:  # noqa: BLE001 - logs are best effort; the invocations already answered
            logger.warning("shipping Lambda logs to CloudWatch Logs failed: %s", exc)

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(2)
        self.flush()
