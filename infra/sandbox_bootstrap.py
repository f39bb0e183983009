"""Inside a Lambda sandbox: the worker process that runs one function's handler, one invocation at a time.

This is the local cloud's counterpart of Lambda's runtime interface client (awslambdaric's bootstrap): it
imports the handler named by ``Handler`` from the function's code folder (its own ``sys.modules``, ``sys.path``
and environment), then answers ``invoke`` messages from the local cloud's process over a
``multiprocessing`` connection with the handler's result or Lambda's error payload.

AWS calls leave the sandbox over the same connection instead of HTTP: a botocore ``before-send`` handler sends
each request (already serialized and signed, as it would go on the wire) to the local cloud, which answers it
from the emulator in its process. DynamoDB item calls, Step Functions StartExecution / DescribeExecution and
@connections posts go at ``before-call`` (before signing), so the emulator answers them with the parsed
response. Nothing here is visible to handler code: it creates clients and calls AWS exactly as on Lambda.

The fork server that starts sandboxes runs ``preload()`` once, so every sandbox starts with boto3 imported and
botocore's service models parsed, as a warm Lambda runtime image would.
"""
from __future__ import annotations

import gc
import importlib
import io
import itertools
import json
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import uuid
from typing import Any

from infra import account

#: imported by the fork server before it forks sandboxes: libraries, not function code (a sandbox's modules
#: are its own). pynamodb and chalice are what this project's functions import; missing ones are skipped.
PRELOAD = ("boto3", "botocore.session", "botocore.parsers", "pynamodb.models", "pynamodb.connection.base",
           "chalice.app",
           # Powertools' Logger and Metrics (its Tracer's X-Ray SDK builds its recorder for the environment it is
           # imported in, so each sandbox imports that itself, as on Lambda)
           "aws_lambda_powertools.logging", "aws_lambda_powertools.metrics", "aws_lambda_powertools.tracing",
           # what the X-Ray SDK imports, without it: ~45% of a gateway cold start's CPU
           "asyncio", "wrapt")
#: botocore service models parsed in the fork server, shared copy-on-write by every sandbox
PRELOAD_MODELS = ("dynamodb", "lambda", "stepfunctions", "sqs", "apigatewaymanagementapi", "s3", "ses",
                  "sesv2", "cloudwatch", "logs", "events", "servicediscovery", "xray")

#: (service, operation) answered at before-call: the emulator hands back the parsed response
AT_CALL = {("dynamodb", op) for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                                       "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems")}
AT_CALL.add(("apigatewaymanagementapi", "PostToConnection"))
AT_CALL.update(("stepfunctions", op) for op in ("StartExecution", "DescribeExecution", "StartSyncExecution"))
AT_CALL.add(("lambda", "Invoke"))


def preload() -> None:
    """What the fork server does once before it forks sandboxes (see infra/sandbox_preload.py)."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:
        import botocore.session

        from infra import moto_patches

        moto_patches.share_botocore_models()
        sessions = [botocore.session.get_session()]  # what PynamoDB and botocore users create clients from
        try:
            import boto3.session

            # boto3's loader also searches boto3's own data folder: a different cache key for the same files
            sessions.append(boto3.session.Session()._session)
        except ImportError:
            pass
        for session in sessions:
            for service in PRELOAD_MODELS:
                try:
                    # a client loads the service's models and what every client reads besides them (endpoints,
                    # partitions, retry and default configuration: ~0.6 s of a cold start when each sandbox
                    # parsed it)
                    session.create_client(service, region_name=account.REGION, aws_access_key_id="preload",
                                          aws_secret_access_key="preload")
                except Exception:  # noqa: BLE001 - a model this botocore lacks is simply parsed later
                    pass
    except ImportError:
        pass
    gc.freeze()


# ----------------------------------------------------------------------------- the Lambda context
class LambdaContext:
    """The context object handed to a handler, with Lambda's attributes."""

    def __init__(self, name: str, arn: str, memory: int, request_id: str, deadline: float,
                 log_stream: str | None = None, tenant_id: str | None = None) -> None:
        self.aws_request_id = request_id
        #: the invocation's tenant (a function with TenancyConfig PER_TENANT), as awslambdaric's context has it
        self.tenant_id = tenant_id
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = memory
        self.log_group_name = f"/aws/lambda/{name}"
        # the execution environment's stream (a sandbox names it once)
        self.log_stream_name = log_stream or time.strftime("%Y/%m/%d") + f"/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# ----------------------------------------------------------------------------- the channel to the local cloud
def send(conn: Any, message: Any) -> None:
    """One message on a sandbox connection, by plain pickle: messages hold plain data, and Connection.send's
    ForkingPickler (a pickler with a reducer table built per message) took 1.4x as long for a typical call."""
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def loads(data: bytes | bytearray) -> Any:
    """A message from its bytes (see send)."""
    return pickle.loads(data)


def recv(conn: Any) -> Any:
    """The next message on a sandbox connection (see send)."""
    return loads(conn.recv_bytes())


class ChannelError(Exception):
    """The local cloud could not answer an AWS call (raised to botocore as the call's failure)."""


class Channel:
    """Requests to the local cloud's process over the sandbox's connection, from any number of threads at once.

    As on Lambda, a handler's threads may have several AWS calls in flight: each request carries a number, and
    its answer comes back with it, in whatever order the local cloud finishes them. There is no reader thread:
    one waiting caller at a time reads the connection for everyone, leaves other callers' answers (and the next
    ``invoke`` message) where their owners find them, wakes each owner, and hands the reading on when its own
    answer has come. One caller alone does one send and one receive.
    """

    INVOKE = "invoke"  # the key of the next invoke message

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._sending = threading.Lock()
        self._lock = threading.Lock()
        self._arrived: dict[Any, Any] = {}  # key -> message read by a caller it was not for
        self._parked: dict[Any, threading.Event] = {}  # key -> how to wake the caller waiting for it
        self._reading = False
        self._numbers = itertools.count(1)

    def call(self, *request: Any) -> Any:
        number = next(self._numbers)
        with self._sending:
            send(self.conn, ("call", number, *request))
        kind, _, value = self._wait(number)
        if kind == "error":
            raise ChannelError(value)
        return value

    def result(self, *outcome: Any) -> None:
        """An invocation's outcome (a handler's threads may be sending calls at the same moment)."""
        with self._sending:
            send(self.conn, ("result", *outcome))

    def next_invoke(self) -> Any:
        """The next ``invoke`` message (raises EOFError or OSError when the local cloud has gone)."""
        return self._wait(self.INVOKE)

    def _wait(self, key: Any) -> Any:
        """The message for `key`: read by this caller, or by the one reading when it arrived (which wakes only
        its owner: one wake-up per message however many callers wait)."""
        with self._lock:
            if key in self._arrived:
                return self._arrived.pop(key)
            if self._reading:
                parked = self._parked[key] = threading.Event()
            else:
                self._reading, parked = True, None
        while parked is not None:
            parked.wait()
            parked.clear()
            with self._lock:
                if key in self._arrived:
                    del self._parked[key]
                    return self._arrived.pop(key)
                if not self._reading:  # woken to read in turn
                    del self._parked[key]
                    self._reading, parked = True, None
        try:
            while True:
                message = recv(self.conn)
                owner = self.INVOKE if message[0] == "invoke" else message[1]
                if owner == key:
                    return message
                with self._lock:
                    self._arrived[owner] = message
                    waiting = self._parked.get(owner)
                if waiting is not None:
                    waiting.set()
        finally:
            with self._lock:
                self._reading = False
                successor = next((e for k, e in self._parked.items() if k not in self._arrived), None)
            if successor is not None:
                successor.set()


def _streams(model: Any, member: str) -> bool:
    """Whether `member` of the operation's output is a streaming blob (Lambda Invoke's Payload)."""
    shape = model.output_shape.members.get(member) if model.output_shape is not None else None
    return shape is not None and bool(shape.serialization.get("streaming") or
                                      getattr(shape, "type_name", "") == "blob" and model.has_streaming_output)


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def _install_hooks(channel: Channel) -> None:
    import botocore.handlers
    from botocore.awsrequest import AWSResponse

    def before_call(model: Any, params: dict, event_name: str = "", **_: Any) -> Any:
        service = model.service_model.service_name
        if (service, model.name) not in AT_CALL:
            return None
        request = {k: v for k, v in params.items() if k != "context"}
        # the region the client signs for, which the emulator answers from (the request is not signed yet)
        request["client_region"] = (params.get("context") or {}).get("client_region")
        trace = os.environ.get("_X_AMZN_TRACE_ID")
        if trace and "X-Amzn-Trace-Id" not in request.get("headers", {}):
            # what botocore's own before-call handler adds in a Lambda function (it runs after this one)
            request["headers"] = {**request.get("headers", {}), "X-Amzn-Trace-Id": trace}
        answer = channel.call("before-call", event_name, service, model.name, request)
        if answer is None:
            return None
        status, headers, parsed = answer
        for name, value in parsed.items():
            if isinstance(value, bytes) and _streams(model, name):  # a streaming member crossed as bytes
                from botocore.response import StreamingBody

                parsed[name] = StreamingBody(io.BytesIO(value), len(value))
        return AWSResponse(params.get("url"), status, headers, _Body(b"")), parsed

    def before_send(request: Any, event_name: str = "", **_: Any) -> Any:
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        status, headers, content = channel.call("before-send", event_name, request.method, request.url,
                                                dict(request.headers.items()), body or b"")
        return AWSResponse(request.url, status, headers, _Body(content))

    # appended last: any handler the function registers itself (moto's mock_aws, say) comes first
    botocore.handlers.BUILTIN_HANDLERS.append(("before-call", before_call))
    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", before_send))


class _LabelledStream(io.TextIOBase):
    """stdout/stderr of the sandbox: each line starts with ``[FunctionName]`` in the local cloud's output."""

    def __init__(self, stream: Any, label: str, captured: list[str]) -> None:
        self._stream = stream
        self._label = label
        self._at_line_start = True
        self._skipping = False
        self._lock = threading.Lock()
        self._captured = captured  # the invocation's output, for its CloudWatch Logs stream

    def write(self, text: str) -> int:
        with self._lock:
            self._captured.append(text)
            out = []
            for line in text.splitlines(keepends=True):
                if self._skipping or (self._at_line_start and line.startswith('{"_aws"')):
                    # embedded-metric-format lines go to CloudWatch Logs (and metrics) only, not the console
                    ended = line.endswith("\n")
                    self._skipping, self._at_line_start = not ended, ended
                    continue
                if self._at_line_start:
                    out.append(self._label)
                out.append(line)
                self._at_line_start = line.endswith("\n")
            self._stream.write("".join(out))
            self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False


# ----------------------------------------------------------------------------- the sandbox's life
#: the local cloud asks a sandbox with this signal for its invocation's output so far (before a timeout kills it)
OUTPUT_SIGNAL = signal.SIGUSR1
#: at most this much of the end of that output is answered (characters; a pipe takes it while the local cloud waits)
OUTPUT_AT_TIMEOUT_CHARS = 256 * 1024


def serve(conn: Any, spec: dict[str, Any], environ: dict[str, str], output: Any = None) -> None:
    """Entry point of a sandbox process: become the function's sandbox and answer invocations until EOF.
    `output`: where the invocation's output so far is written when the local cloud asks (OUTPUT_SIGNAL)."""
    # functions yield the CPU to the local cloud's process, which stands for AWS's own services (on AWS they do
    # not share a machine with functions): at 10 publishes in flight +11-15% publishes/s, a lower p99, and the
    # cloud's threads preempted less while they hold its interpreter
    os.nice(int(os.environ.get("NOTIFYX_SANDBOX_NICE", "5")))
    os.environ.clear()
    os.environ.update(environ)
    if sys.dont_write_bytecode and spec.get("pycache"):
        # the function's modules are compiled once per machine, not at every cold start: bytecode the interpreter
        # is told not to write beside the sources (PYTHONDONTWRITEBYTECODE, -B) goes to the local cloud's cache.
        # On Lambda a package without __pycache__ compiles at each cold start: Init Duration here is lower.
        sys.pycache_prefix = spec["pycache"]
        sys.dont_write_bytecode = False
    code_dir = spec["code_dir"]
    for folder in reversed([code_dir, *spec.get("layers", [])]):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        os.chdir(code_dir)
    except OSError:
        pass
    label = f"[{spec['name']}] "
    captured: list[str] = []
    sys.stdout = _LabelledStream(sys.__stdout__, label, captured)
    sys.stderr = _LabelledStream(sys.__stderr__, label, captured)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[%(levelname)s] %(name)s: %(message)s",
                        force=True)
    if output is not None:
        def report_output(*_: Any) -> None:
            # the invocation timed out: Lambda's log has what it printed until then (the sandbox is killed next)
            try:
                output.send(_drain(captured, OUTPUT_AT_TIMEOUT_CHARS))
            except (OSError, ValueError):
                pass

        signal.signal(OUTPUT_SIGNAL, report_output)
    # a terminal's Ctrl-C signals the whole process group, sandboxes too; the local cloud stops its sandboxes itself
    # (each printed a KeyboardInterrupt traceback as it died), and nothing of a user's terminal reaches Lambda's
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Channel(conn)
    _install_hooks(channel)
    handler: Any = None
    init_error: dict[str, Any] | None = None
    log_stream = spec.get("log_stream")
    while True:
        try:
            _, event_json, request_id, timeout, trace, tenant_id = channel.next_invoke()
        except (EOFError, OSError):
            return
        # as Lambda's runtime client does per invocation: the X-Ray SDK reads the trace header from here
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        deadline = time.monotonic() + timeout
        reported_init = None
        if handler is None and init_error is None:
            started = time.perf_counter()
            try:
                handler = load_handler(spec["handler"])
            except Exception as exc:  # noqa: BLE001 - an InitError, or what the module raised, as Lambda reports it
                init_error = fault(exc)
            reported_init = (time.perf_counter() - started) * 1000
            gc.freeze()  # the function's modules live as long as the sandbox
        if init_error is not None:
            channel.result(None, init_error, reported_init, _drain(captured))
            continue
        context = LambdaContext(spec["name"], spec["arn"], spec["memory"], request_id, deadline, log_stream,
                                tenant_id)
        exiting = False
        try:
            result = handler(json.loads(event_json), context)
            try:
                payload, error = json.dumps(result), None
            except (TypeError, ValueError) as exc:
                payload, error = None, error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}",
                                                     request_id=request_id)
        except SystemExit as exc:
            exiting = True
            payload, error = None, {"errorType": "Runtime.ExitError",
                                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                                    f"exit status {exc.code}", "stackTrace": []}
        except BaseException as exc:  # noqa: BLE001 - everything a handler raises is a function error
            payload, error = None, fault(exc, request_id)
        sys.stdout.flush()
        channel.result(payload, error, reported_init, _drain(captured))
        if exiting:
            return


def _drain(captured: list[str], last: int | None = None) -> dict[str, Any]:
    """The invocation's output lines (of its `last` characters, if given) and the sandbox's peak memory (MB), for
    its log stream's REPORT line."""
    import resource

    text = "".join(captured)
    captured.clear()
    if last is not None:
        text = text[-last:]
    return {"lines": text.splitlines(), "max_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


#: the local cloud's own code: a handler's stack trace starts below its frames
_EMULATOR_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _stack_trace(exc: BaseException) -> list[str]:
    """A function error's ``stackTrace`` as Lambda's Python runtime gives it: the frames of the exception's traceback
    from the first one outside the runtime's own code (the local cloud's here, Lambda's bootstrap.py there),
    formatted by traceback.format_list; no "Traceback" header and no exception line."""
    frames = traceback.extract_tb(exc.__traceback__)
    for i, frame in enumerate(frames):
        if not os.path.abspath(frame.filename).startswith(_EMULATOR_DIR):
            return traceback.format_list(frames[i:])
    return []


def fault(exc: BaseException, request_id: str = "") -> dict[str, Any]:
    """Lambda's error payload for an exception, as its Python runtime builds it (awslambdaric's make_error and
    build_fault_result): the message, the type, the invocation's request id ("" for an error at init, which no
    invocation owns) and the stack trace; an InitError's own type, message and trace."""
    if isinstance(exc, InitError):
        return error_payload(exc.error_type, exc.message, exc.trace, request_id)
    return error_payload(type(exc).__name__, str(exc), _stack_trace(exc), request_id)


def error_payload(error_type: str, message: str, trace: list[str] | None = None,
                  request_id: str = "") -> dict[str, Any]:
    """The error document Lambda's Python runtime posts for an invocation or an init (awslambdaric's make_error),
    its keys in that order."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace or []}


class InitError(Exception):
    """A handler that cannot be loaded, as Lambda's Python runtime reports it (its FaultException): the error type,
    message and stack trace of the init error every invocation then answers."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type, self.message, self.trace = error_type, message, trace or []


def load_handler(handler: str, check: Any = None) -> Any:
    """The function `handler` ("module.function") names, loaded as Lambda's Python runtime loads it (awslambdaric's
    _get_handler): a malformed name, a built-in module, an ImportError, a SyntaxError and a missing function are
    InitErrors of Lambda's types and messages; any other exception the module raises goes up as it is (Lambda
    reports it by its own type and frames). `check(module)` runs after the import (the thread runtime's)."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from None
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise InitError("Runtime.BuiltInModuleConflict",
                            f"Cannot use built-in module {module_name} as a handler module")
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        raise InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}",
                        [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']) from None
    if check is not None:
        check(module)
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise InitError("Runtime.HandlerNotFound",
                        f"Handler '{function_name}' missing on module '{module_name}'") from None

