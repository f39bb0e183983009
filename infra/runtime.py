"""The Lambda runtime of the local cloud: runs the Python handlers named in template.yaml with Lambda's semantics.

Two kinds of sandbox (``LambdaRuntime(sandboxes=...)``):
- "process" (what LocalCloud uses by default): worker processes, one invocation at a time each, with the
  function's own modules and environment; see infra/sandbox.py;
- "thread": every function in this process, which emulates what Lambda isolates:
  - environment: ``os.environ`` is re-classed to overlay the running function's variables (a ContextVar), so
    ``os.environ["USERS_TABLE"]`` differs per function even when two run at once;
  - timeout: the handler runs in a worker thread; after ``Timeout`` seconds the caller gets
    ``Task timed out after N.00 seconds``. Python cannot kill a thread, so the handler keeps running to
    completion in the background;
  - warm state: a handler's module is imported once (lazily, at the first invoke) and kept, shared by
    concurrent invocations;
  - logs: records and ``print`` output carry the function's name.
Both: reserved concurrency is a non-blocking semaphore per function (over the limit -> ``Throttled``).
"""
from __future__ import annotations

import base64
import contextvars
import gc
import importlib
import io
import json
import logging
import os
import queue
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import account, faults, ids
from infra.node_sandbox import Streamed, runs_over_runtime_api
from infra.sandbox_bootstrap import InitError, LambdaContext, error_payload, fault, load_handler
from infra.template import cache_dir

logger = logging.getLogger("notifyx.runtime")

REGION = account.REGION
ACCOUNT_ID = account.ACCOUNT_ID


#: "process": each function runs in worker processes, one invocation at a time (infra/sandbox.py), as on Lambda;
#: "thread": every handler in this process (the first design; kept for in-process tests and comparison)
SANDBOX_KINDS = ("process", "thread")
#: Lambda's limit on a function's response (a synchronous invocation's payload), in bytes
MAX_RESPONSE_BYTES = 6_291_556
#: ... and on an Invoke's request payload, by invocation type (the asynchronous one is 1 MB since AWS raised it from
#: 256 KB in 2025): over it, 413 RequestEntityTooLargeException
MAX_REQUEST_BYTES = {"RequestResponse": 6_291_456, "Event": 1_048_576}
#: a tenant-isolated function's pools kept at once (each holds its tenant's warm sandboxes)
TENANT_POOLS = 32
#: Invoke's TenantId constraint (botocore's model: 1 to 256 of these characters)
_TENANT_ID = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}")


class LambdaError(Exception):
    """Base of what an invoke can raise instead of returning a result."""

    #: Lambda refused the invoke, the function did not run (throttled, no such function, a bad tenant): API
    #: Gateway answers a REST client 500 for these, and 502 for a function that failed (api_gateway/rest.py)
    refused = False


class FunctionError(LambdaError):
    """The function raised or timed out; ``str()`` is Lambda's errorMessage."""

    def __init__(self, error_type: str, error_message: str, stack_trace: list[str] | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(error_message)
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace or []
        #: set when the function's runtime made the error (its document names the request, "" at init); None when
        #: the local cloud did (a timeout, an exit, a size limit)
        self.request_id = request_id

    def payload(self) -> dict[str, Any]:
        """Lambda's error payload for this error: the runtime's document (awslambdaric's make_error) for an error
        the function's runtime reported, else the type, message and an empty trace."""
        if self.request_id is not None:
            return error_payload(self.error_type, self.error_message, self.stack_trace, self.request_id)
        return {"errorType": self.error_type, "errorMessage": self.error_message, "stackTrace": self.stack_trace}

    @classmethod
    def from_payload(cls, error: dict[str, Any]) -> FunctionError:
        """The error of Lambda's error payload (a sandbox's, sandbox_bootstrap.fault's)."""
        return cls(error.get("errorType", "Error"), error.get("errorMessage", ""), error.get("stackTrace"),
                   error.get("requestId"))


class InvalidTenant(LambdaError):
    """An invocation of a tenant-isolated function without a tenant id, or with one Lambda would refuse (its
    InvalidParameterValueException, HTTP 400)."""

    error_type = "InvalidParameterValueException"
    refused = True


class Throttled(LambdaError):
    """Reserved concurrency exhausted (Lambda's TooManyRequestsException, HTTP 429)."""

    error_type = "TooManyRequestsException"
    refused = True


class ResourceNotFound(LambdaError):
    """No such function (Lambda's ResourceNotFoundException, HTTP 404)."""

    error_type = "ResourceNotFoundException"
    refused = True


class HandlerConflict(LambdaError):
    """Two code directories provide the same top-level module: in one process only one of them can win."""


@dataclass
class FunctionSpec:
    """What the runtime needs to run one function (from an AWS::Lambda::Function resource)."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    timeout: float = 3
    memory: int = 128
    reserved_concurrency: int | None = None
    #: folders of the function's layers (Lambda's /opt/python), imported from after code_dir
    layers: tuple[Path, ...] = ()
    #: DeadLetterConfig.TargetArn: where an async event goes once its retries are exhausted
    dead_letter_arn: str | None = None
    #: the template's Runtime: a nodejs* function runs in a node process, a provided* one its code's bootstrap
    #: (infra/node_sandbox.py); a Python one here
    runtime: str = "python3.11"
    #: TenancyConfig TenantIsolationMode PER_TENANT: every invocation names a tenant, and a tenant's sandboxes serve
    #: no other tenant
    tenant_isolation: bool = False
    #: DurableConfig (ExecutionTimeout, RetentionPeriodInDays): an Invoke starts a durable execution
    #: (infra/durable.py), which invokes the handler as often as its operations need
    durable: dict[str, Any] | None = None

    @property
    def node(self) -> bool:
        """Whether the function runs over the Runtime API (Node.js, a custom runtime) rather than as Python."""
        return runs_over_runtime_api(self.runtime)


# ----------------------------------------------------------------------------- per-invocation context
@dataclass
class _Invocation:
    function: str
    environ: dict[str, str]


_current: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar("notifyx_invocation", default=None)
#: the X-Amzn-Trace-Id of the request that invokes (Lambda's Invoke API, a Step Functions task), if any
trace_header: contextvars.ContextVar[str | None] = contextvars.ContextVar("notifyx_trace_header", default=None)
#: the observer's record of the invocation running in this context (infra/observability)
_observed: contextvars.ContextVar[Any] = contextvars.ContextVar("notifyx_observed", default=None)


@dataclass
class Ran:
    """What Invoke answers about the invocation besides its payload: its request id (x-amzn-RequestId) and its log,
    START to REPORT (LogType=Tail's LogResult: the last 4 KB)."""

    request_id: str = ""
    log: list[str] = field(default_factory=list)
    #: the durable execution a durable function's Invoke started (X-Amz-Durable-Execution-Arn)
    durable_execution_arn: str | None = None

    def tail(self) -> str:
        """The last 4 KB of the log, base64, as Lambda's X-Amz-Log-Result (whole characters only)."""
        text = ("\n".join(self.log) + "\n").encode() if self.log else b""
        if len(text) > LOG_TAIL_BYTES:
            text = text[-LOG_TAIL_BYTES:]
            while text and text[0] & 0xC0 == 0x80:  # not the middle of a character
                text = text[1:]
        return base64.b64encode(text).decode()


#: Invoke's LogType=Tail answers the last 4 KB of the invocation's log
LOG_TAIL_BYTES = 4096
#: where the invocation being answered in this context records its Ran (set by invoke_payload)
_ran: contextvars.ContextVar[Ran | None] = contextvars.ContextVar("notifyx_ran", default=None)
#: the Ran of the invocation moto's LambdaFunction.invoke ran in this context (its response names the request id)
last_ran: contextvars.ContextVar[Ran | None] = contextvars.ContextVar("notifyx_last_ran", default=None)
#: the tenant (X-Amz-Tenant-Id) of the Invoke moto is answering in this context (moto_patches: lambda-event-invoke)
invoke_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("notifyx_invoke_tenant", default=None)


def invocation_log(request_id: str, lines: Any, duration_ms: float, memory_mb: int, max_memory_mb: int,
                   init_ms: float | None) -> list[str]:
    """One invocation's log as Lambda writes it: START, the function's output, END, REPORT."""
    report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
              f"Billed Duration: {int(-(-duration_ms // 1))} ms\tMemory Size: {memory_mb} MB\t"
              f"Max Memory Used: {max_memory_mb} MB")
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    return [f"START RequestId: {request_id} Version: $LATEST", *lines, f"END RequestId: {request_id}", report]


def running_with(ran: Ran, call: Any) -> Any:
    """`call()` with `ran` collecting the request id and log of the invocation it makes (as invoke_payload's)."""
    token = _ran.set(ran)
    try:
        return call()
    finally:
        _ran.reset(token)


def _record(request_id: str, log: list[str]) -> None:
    ran = _ran.get()
    if ran is not None:
        ran.request_id, ran.log = request_id, log


def current_function() -> str | None:
    """Name of the function whose handler is running in this context, if any."""
    inv = _current.get()
    return inv.function if inv else None


class FunctionEnviron(os._Environ):
    """``os.environ``'s class while the runtime is installed: the running function's variables, else the process's.

    The existing ``os.environ`` object is re-classed rather than replaced, so holders of a reference to it
    (botocore sessions capture it when created) see each function's environment too.
    """

    def _overlay(self) -> dict[str, str] | None:
        inv = _current.get()
        return inv.environ if inv else None

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        return overlay[key] if overlay is not None else super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Mapping.get without a KeyError raised and caught for each absent variable (botocore asks for several on
        every call)."""
        overlay = self._overlay()
        if overlay is not None:
            return overlay.get(key, default)
        value = self._data.get(self.encodekey(key))
        return default if value is None else self.decodevalue(value)

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            overlay[key] = str(value)
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            del overlay[key]
        else:
            super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        return iter(list(overlay)) if overlay is not None else super().__iter__()

    def __len__(self) -> int:
        overlay = self._overlay()
        return len(overlay) if overlay is not None else super().__len__()

    def __contains__(self, key: object) -> bool:
        overlay = self._overlay()
        return key in overlay if overlay is not None else super().__contains__(key)

    def copy(self) -> dict[str, str]:
        return dict(self)

    def process(self) -> dict[str, str]:
        """The process environment, whatever function is running."""
        return {self.decodekey(k): self.decodevalue(v) for k, v in self._data.items()}


def _install_environ() -> None:
    if type(os.environ) is os._Environ:
        os.environ.__class__ = FunctionEnviron


class _LabelledStream:
    """stdout/stderr proxy: a line printed by a handler starts with ``[FunctionName]``."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._at_line_start = threading.local()

    def write(self, text: str) -> int:
        name = current_function()
        if name is None or not text:
            return self._stream.write(text)
        start = getattr(self._at_line_start, "value", True)
        lines = text.split("\n")
        out = []
        for i, line in enumerate(lines):
            if line and (i > 0 or start):
                line = f"[{name}] {line}"
            out.append(line)
        self._at_line_start.value = text.endswith("\n")
        return self._stream.write("\n".join(out)) and len(text)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


class FunctionLogFilter(logging.Filter):
    """Adds ``record.function`` (the running function or "-") so formats can label every line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.function = current_function() or "-"
        return True


_old_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _old_factory(*args, **kwargs)
    record.function = current_function() or "-"
    return record


def _install_process_hooks() -> None:
    _install_environ()
    from infra import moto_patches  # it imports this module

    moto_patches.share_botocore_models()
    if not isinstance(sys.stdout, _LabelledStream):
        sys.stdout = _LabelledStream(sys.stdout)
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)


# ----------------------------------------------------------------------------- the runtime
class _Function:
    def __init__(self, spec: FunctionSpec, base_env: dict[str, str]) -> None:
        self.spec = spec
        self.environ = {**base_env, **_lambda_env(spec), **{k: str(v) for k, v in spec.environment.items()}}
        self.handler: Any = None
        self.import_lock = threading.Lock()
        limit = spec.reserved_concurrency
        self.slots = threading.BoundedSemaphore(limit) if limit is not None and limit > 0 else None
        self.invocations = 0
        self.errors = 0
        self.throttles = 0
        self.pool: Any = None  # the SandboxPool of process sandboxes, made at the first invoke
        #: a tenant-isolated function's pools, one per tenant, the most recently used last (at most TENANT_POOLS)
        self.tenant_pools: OrderedDict[str, Any] = OrderedDict()
        self._pools_lock = threading.Lock()  # not import_lock: a thread-mode import may hold that one for long
        self.init_durations: list[float] = []

    def pool_for(self, tenant_id: str | None) -> Any:
        """The SandboxPool an invocation takes a sandbox from: the function's, or its tenant's (made on first use;
        the least recently used tenant's is closed beyond TENANT_POOLS, its next invocation starting cold)."""
        from infra.sandbox import SandboxPool

        with self._pools_lock:
            if tenant_id is None or not self.spec.tenant_isolation:
                if self.pool is None:
                    self.pool = SandboxPool(self.sandbox_spec(), self.environ)
                return self.pool
            pool = self.tenant_pools.get(tenant_id)
            if pool is None:
                pool = self.tenant_pools[tenant_id] = SandboxPool(self.sandbox_spec(), self.environ)
                while len(self.tenant_pools) > TENANT_POOLS:
                    self.tenant_pools.popitem(last=False)[1].close()
            self.tenant_pools.move_to_end(tenant_id)
            return pool

    def close_pools(self) -> None:
        """Stop the warm sandboxes (new code, or the runtime closing): the next invocations start cold."""
        with self._pools_lock:
            pools = [self.pool, *self.tenant_pools.values()]
            self.pool = None
            self.tenant_pools.clear()
        for pool in pools:
            if pool is not None:
                pool.close()

    def sandbox_spec(self) -> dict[str, Any]:
        spec = self.spec
        cache = cache_dir()
        return {"name": spec.name, "arn": spec.arn, "handler": spec.handler, "code_dir": str(spec.code_dir),
                "memory": spec.memory, "layers": [str(layer) for layer in spec.layers], "runtime": spec.runtime,
                "pycache": str(cache / "pycache") if cache else None}


def _lambda_env(spec: FunctionSpec) -> dict[str, str]:
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
    }


class LambdaRuntime:
    """Registered functions, invoked in-process with Lambda's semantics (see module docstring)."""

    def __init__(self, aws_endpoint: str | None = None, region: str = REGION, sandboxes: str = "thread") -> None:
        if sandboxes not in SANDBOX_KINDS:
            raise ValueError(f"sandboxes must be one of {', '.join(SANDBOX_KINDS)}, not {sandboxes!r}")
        self.region = region
        self.aws_endpoint = aws_endpoint
        self.sandboxes = sandboxes
        self._functions: dict[str, _Function] = {}
        self._by_arn: dict[str, str] = {}
        self._lock = threading.Lock()
        self._answerer: Any = None
        self._logs: Any = None  # infra.sandbox.LogShipper: the sandboxes' output to CloudWatch Logs
        #: told of every invocation (infra/observability.services.LambdaObserver): AWS/Lambda metrics, EMF lines,
        #: X-Ray segments; it names the trace header (_X_AMZN_TRACE_ID) each invocation runs under
        self.observer: Any = None
        #: variables Lambda sets for every function besides these (the X-Ray daemon's address)
        self.extra_environment: dict[str, str] = {}
        #: set by the local cloud when it embeds the emulator: ``sink(group, stream, events)`` (see LogShipper)
        self.log_sink: Any = None
        #: closed: its functions are gone (an invoke answers ResourceNotFound), as when the local cloud stopped
        self.closed = False
        self._durable: Any = None  # infra.durable.DurableFunctions, made with the first durable execution
        self._durable_lock = threading.Lock()
        _install_process_hooks()

    def base_environment(self) -> dict[str, str]:
        """What every function sees besides its own variables: region, test credentials, the emulator."""
        env = os.environ.process() if isinstance(os.environ, FunctionEnviron) else dict(os.environ)
        env.update({
            **account.ENVIRONMENT,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        })
        env.pop("AWS_PROFILE", None)
        env.update(self.extra_environment)
        if self.aws_endpoint:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint
            # SDKs put a host prefix before some operations' endpoint (DiscoverInstances: "data-"); a loopback
            # address has no such host
            env["AWS_DISABLE_HOST_PREFIX_INJECTION"] = "true"
        return env

    # ------------------------------------------------------------------ registration
    def register(self, spec: FunctionSpec) -> None:
        """Add a function; its handler module is imported at the first invoke, not here."""
        _install_process_hooks()
        spec.code_dir = Path(spec.code_dir).resolve()
        top = spec.handler.split(".", 1)[0]
        with self._lock:
            for other in self._functions.values() if self.sandboxes == "thread" else ():
                if other.spec.code_dir != spec.code_dir and other.spec.handler.split(".", 1)[0] == top:
                    raise HandlerConflict(
                        f"functions {other.spec.name} and {spec.name} both need a top-level module {top!r} from "
                        f"different code directories ({other.spec.code_dir} and {spec.code_dir}); "
                        "in one process only one can be imported")
            self._functions[spec.name] = _Function(spec, self.base_environment())
            self._by_arn[spec.arn] = spec.name

    def functions(self) -> list[FunctionSpec]:
        """Specs of every registered function."""
        return [f.spec for f in self._functions.values()]

    def spec(self, name_or_arn: str) -> FunctionSpec:
        """The spec of a function by name, ARN or partial ARN."""
        return self._lookup(name_or_arn).spec

    def stats(self) -> dict[str, dict[str, int]]:
        """Per-function invocation, error and throttle counts."""
        return {n: {"invocations": f.invocations, "errors": f.errors, "throttles": f.throttles}
                for n, f in self._functions.items()}

    def _lookup(self, name_or_arn: str) -> _Function:
        name = name_or_arn
        if name.startswith("arn:"):
            name = self._by_arn.get(name) or name.split(":")[6]
        fn = self._functions.get(name)
        if fn is None:
            raise ResourceNotFound(f"Function not found: {name_or_arn}")
        return fn

    # ------------------------------------------------------------------ invocation
    def invoke(self, name_or_arn: str, event: Any, request_id: str | None = None, stream: Any = None,
               as_streamed: bool = False, tenant_id: str | None = None, durable_handler: bool = False) -> Any:
        """Run the function with `event` (JSON round-tripped, as Lambda does) and return its JSON result.
        `request_id`: the invocation's (an asynchronous event's, the same for each retry), else a new one.

        A handler that streams its response (Node.js `awslambda.streamifyResponse`): `stream` (a function URL's
        sink, api_gateway/streaming.py) gets its bytes as they come; without one, the bytes are what a buffered
        Invoke answers, here read as JSON (or as text, when they are not) unless `as_streamed` asks for them
        whole (a node_sandbox.Streamed).

        `tenant_id` (Invoke's X-Amz-Tenant-Id): a tenant-isolated function needs one, and runs it in that tenant's
        sandboxes (the handler's context.tenant_id); another function's context gets it too.

        A durable function (DurableConfig): the invocation starts a durable execution and waits for it, and its
        result is the execution's (the Ran being recorded names it); `durable_handler`: this is one of the
        execution's own invocations of the handler (infra/durable.py), run as any invocation."""
        if self.closed:  # an asynchronous event's retry after the local cloud stopped
            raise ResourceNotFound(f"Function not found: {name_or_arn} (the local cloud has stopped)")
        fn = self._lookup(name_or_arn)
        if tenant_id is not None or fn.spec.tenant_isolation:
            self.check_tenant(name_or_arn, tenant_id)
        if fn.spec.durable is not None and not durable_handler:
            return self._durable_execution(fn.spec, event, tenant_id)
        observer = self.observer
        if fn.slots is None and fn.spec.reserved_concurrency == 0:
            fn.throttles += 1
            if observer is not None:
                observer.throttled(fn.spec.name)
            raise Throttled(f"Rate Exceeded. Function {fn.spec.name} has reserved concurrency 0")
        if fn.slots is not None and not fn.slots.acquire(blocking=False):
            fn.throttles += 1
            if observer is not None:
                observer.throttled(fn.spec.name)
            raise Throttled(f"Rate Exceeded. Reserved concurrency {fn.spec.reserved_concurrency} of "
                            f"{fn.spec.name} is in use")
        call = observer.started(fn.spec.name) if observer is not None else None
        token = _observed.set(call)
        try:
            fn.invocations += 1
            if faults.injector() is not None:  # --fault / NOTIFYX_FAULTS (infra/faults.py)
                result = faults.invoke(fn.spec.name, fn.spec.timeout,
                                       lambda: self._dispatch(fn, event, request_id, stream, tenant_id))
            else:
                result = self._dispatch(fn, event, request_id, stream, tenant_id)
            if stream is None and not as_streamed and isinstance(result, Streamed):
                return _buffered(result)
            return result
        except FunctionError as exc:
            fn.errors += 1
            if call is not None:
                call.error = exc.error_type
            raise
        except Throttled:
            fn.throttles += 1
            if call is not None:
                call.throttled = True
            raise
        finally:
            if fn.slots is not None:
                fn.slots.release()
            if call is not None:
                _observed.reset(token)
                observer.finished(call)

    def durable(self) -> Any:
        """The durable execution service of this runtime's durable functions (infra/durable.py)."""
        with self._durable_lock:
            if self.closed:  # no service is made again for a request that comes after the local cloud stopped
                raise ResourceNotFound("The durable execution service has stopped with the local cloud")
            if self._durable is None:
                from infra.durable import DurableFunctions

                self._durable = DurableFunctions(self)
            return self._durable

    def start_durable(self, spec: FunctionSpec, event: Any, tenant_id: str | None = None) -> str:
        """Start a durable execution of `spec`'s function: its ARN, also recorded in the Ran of the Invoke being
        answered in this context (its X-Amz-Durable-Execution-Arn, synchronous or Event)."""
        arn = self.durable().start(spec.name, spec.durable["ExecutionTimeout"], spec.durable["RetentionPeriodInDays"],
                                   event, tenant_id=tenant_id)
        ran = _ran.get()
        if ran is not None:
            ran.durable_execution_arn = arn
        return arn

    def _durable_execution(self, spec: FunctionSpec, event: Any, tenant_id: str | None) -> Any:
        """A synchronous Invoke of a durable function: its execution's result, or its error as a FunctionError.
        Lambda waits at most 15 minutes, or the execution's timeout if that is shorter."""
        from infra.durable import SYNC_LIMIT_SECONDS

        arn = self.start_durable(spec, event, tenant_id)
        succeeded, outcome = self.durable().outcome(arn, min(spec.durable["ExecutionTimeout"], SYNC_LIMIT_SECONDS))
        if succeeded:
            return outcome
        raise FunctionError.from_payload(outcome)

    def check_tenant(self, name_or_arn: str, tenant_id: str | None) -> None:
        """InvalidTenant unless `tenant_id` is one Lambda takes, and given when the function is tenant-isolated
        (ResourceNotFound for no such function)."""
        fn = self._lookup(name_or_arn)
        if tenant_id is not None and (not isinstance(tenant_id, str) or not _TENANT_ID.fullmatch(tenant_id)):
            raise InvalidTenant("1 validation error detected: Value at 'tenantId' failed to satisfy constraint: "
                                "Member must satisfy regular expression pattern: [a-zA-Z0-9\\._:\\/=+\\-@ ]+ "
                                "and length 1 to 256")
        if fn.spec.tenant_isolation and tenant_id is None:
            raise InvalidTenant(f"The function {fn.spec.name} has tenant isolation enabled: invoke it with a "
                                "tenant id (X-Amz-Tenant-Id)")

    def _dispatch(self, fn: _Function, event: Any, request_id: str | None, stream: Any = None,
                  tenant_id: str | None = None) -> Any:
        # Node.js and custom runtimes always in their process, and tenant-isolated functions (a tenant's sandboxes)
        if self.sandboxes == "process" or fn.spec.node or fn.spec.tenant_isolation:
            return self._run_in_sandbox(fn, json.dumps(event), request_id or ids.request_id(), stream, tenant_id)
        return self._run(fn, json.loads(json.dumps(event)), request_id or ids.request_id(), tenant_id)

    def _run(self, fn: _Function, event: Any, request_id: str, tenant_id: str | None = None) -> Any:
        spec = fn.spec
        deadline = time.monotonic() + spec.timeout
        context = LambdaContext(spec.name, spec.arn, spec.memory, request_id, deadline, tenant_id=tenant_id)
        outcome: dict[str, Any] = {}
        done = threading.Event()

        call = _observed.get()
        environ = fn.environ if call is None or call.trace_header is None else \
            {**fn.environ, "_X_AMZN_TRACE_ID": call.trace_header}

        def work() -> None:
            _current.set(_Invocation(spec.name, environ))
            request_id = context.aws_request_id
            try:
                try:
                    handler = self._handler(fn)
                except BaseException:  # an InitError, or what the module raised: raised on below
                    request_id = ""           # an init error belongs to no invocation
                    raise
                result = handler(event, context)
                try:
                    outcome["result"] = json.dumps(result)
                except (TypeError, ValueError) as exc:
                    raise _MarshalError(f"Unable to marshal response: {exc}") from None
            except _MarshalError as exc:
                outcome["error"] = FunctionError("Runtime.MarshalError", str(exc), request_id=request_id)
            except BaseException as exc:  # noqa: BLE001 - an init error, or anything the function raised
                outcome["error"] = FunctionError.from_payload(fault(exc, request_id))
            finally:
                done.set()

        started = time.perf_counter()
        threads.submit(contextvars.copy_context(), work)
        if not done.wait(spec.timeout):
            logger.warning("%s timed out after %.2f s (its thread keeps running)", spec.name, spec.timeout)
            _record(context.aws_request_id, _timed_out_log(context.aws_request_id, spec, {}))
            raise FunctionError("Sandbox.Timedout", f"Task timed out after {spec.timeout:.2f} seconds")
        if _ran.get() is not None:  # an Invoke answer wants it (this runtime's handlers print to the cloud's output)
            _record(context.aws_request_id, invocation_log(context.aws_request_id, (), (time.perf_counter() - started)
                                                            * 1000, spec.memory, 0, None))
        if "error" in outcome:
            raise outcome["error"]
        return json.loads(_within_limit(outcome["result"]))

    def _run_in_sandbox(self, fn: _Function, event_json: str, request_id: str, stream: Any = None,
                        tenant_id: str | None = None) -> Any:
        from infra.sandbox import CallAnswerer, SandboxExited, SandboxTimeout

        spec = fn.spec
        pool = fn.pool
        if pool is None or spec.tenant_isolation:  # the function's first invocation, or a tenant's sandboxes
            pool = fn.pool_for(tenant_id)
        if self._answerer is None:  # the runtime's first sandbox
            with self._lock:
                if self._answerer is None:
                    self._answerer = CallAnswerer()
                if self._logs is None and self.aws_endpoint and os.environ.get("NOTIFYX_LAMBDA_LOGS", "1") != "0":
                    from infra.sandbox import LogShipper

                    self._logs = LogShipper(self._logs_client, self.log_sink)
        sandbox = pool.take()
        started = time.perf_counter()
        call = _observed.get()
        try:
            payload, error, init_ms, output = sandbox.invoke(event_json, request_id, spec.timeout, self._answerer,
                                                             call.trace_header if call is not None else None,
                                                             stream=stream, tenant_id=tenant_id)
        except SandboxTimeout:
            printed = sandbox.output_so_far()
            sandbox.kill()
            logger.warning("%s timed out after %.2f s: its sandbox was stopped", spec.name, spec.timeout)
            self._log(spec.name, sandbox.log_stream, request_id, _timed_out_log(request_id, spec, printed))
            raise FunctionError("Sandbox.Timedout", f"Task timed out after {spec.timeout:.2f} seconds") from None
        except SandboxExited:
            sandbox.kill()
            message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
            self._log(spec.name, sandbox.log_stream, request_id, invocation_log(
                request_id, (message, "Runtime.ExitError"), (time.perf_counter() - started) * 1000, spec.memory,
                0, None))
            raise FunctionError("Runtime.ExitError", message) from None
        pool.give_back(sandbox)
        if init_ms is not None:
            fn.init_durations.append(init_ms)
        if call is not None:
            call.init_ms, call.lines, call.request_id = init_ms, output.get("lines", ()), request_id
        duration = (time.perf_counter() - started) * 1000 - (init_ms or 0)
        self._log(spec.name, sandbox.log_stream, request_id, invocation_log(
            request_id, output.get("lines", ()), max(duration, 0.0), spec.memory, output.get("max_memory_mb", 0),
            init_ms))
        if error is not None:
            raise FunctionError.from_payload(error)
        if isinstance(payload, Streamed):  # a streamed response: its caller reads it
            return payload
        return json.loads(_within_limit(payload))

    def _log(self, function: str, stream: str, request_id: str, log: list[str]) -> None:
        """An invocation's log: to CloudWatch Logs, and to Invoke's answer (LogType=Tail)."""
        _record(request_id, log)
        if self._logs is not None:
            self._logs.invocation(function, stream, log)

    def _logs_client(self) -> Any:
        import boto3

        return boto3.client("logs", endpoint_url=self.aws_endpoint, region_name=self.region,
                            **account.KEYS)

    def sandbox_count(self, name_or_arn: str) -> int:
        """How many sandboxes (processes) the function has started so far."""
        fn = self._lookup(name_or_arn)
        return sum(pool.started for pool in (fn.pool, *fn.tenant_pools.values()) if pool is not None)

    def _handler(self, fn: _Function) -> Any:
        if fn.handler is not None:
            return fn.handler
        with fn.import_lock:
            if fn.handler is None:
                fn.handler = _import_handler(fn.spec)
                # a cold start's modules live as long as the sandbox: out of the collector's full passes
                gc.freeze()
        return fn.handler

    def code_dir(self, name_or_arn: str) -> Path:
        """The folder a function's code runs from."""
        return self._lookup(name_or_arn).spec.code_dir

    def code_folders(self) -> dict[Path, set[str]]:
        """Each folder functions run code from (their code folders and layers) -> those functions' names."""
        folders: dict[Path, set[str]] = {}
        for fn in list(self._functions.values()):
            for folder in (fn.spec.code_dir, *fn.spec.layers):
                folders.setdefault(Path(folder), set()).add(fn.spec.name)
        return folders

    def update_code(self, name_or_arn: str, code_dir: Path) -> None:
        """New code for a function (UpdateFunctionCode): its next invocation imports it cold from `code_dir`."""
        fn = self._lookup(name_or_arn)
        with fn.import_lock:
            old = fn.spec.code_dir
            for module_name, module in list(sys.modules.items()):
                origin = getattr(module, "__file__", None)
                if origin and Path(origin).resolve().is_relative_to(old):
                    del sys.modules[module_name]
            # other functions of the same folder keep importing from it (one interpreter: part 1 of issue 13)
            shared = any(other is not fn and other.spec.code_dir == old for other in self._functions.values())
            while not shared and str(old) in sys.path:
                sys.path.remove(str(old))
            importlib.invalidate_caches()
            fn.spec.code_dir = Path(code_dir).resolve()
            fn.environ["LAMBDA_TASK_ROOT"] = str(fn.spec.code_dir)
            fn.handler = None
            fn.close_pools()  # warm sandboxes hold the old code: the next invocations start cold

    def close(self) -> None:
        """Forget the handlers' modules (next runtime starts cold, re-reading its environment at import)."""
        self.closed = True
        with self._durable_lock:
            durable, self._durable = self._durable, None
        if durable is not None:
            durable.close()
        dirs = {f.spec.code_dir for f in self._functions.values()}
        dirs |= {Path(layer) for f in self._functions.values() for layer in f.spec.layers}
        # a module's file is resolved only when it is neither under a directory as named nor installed: resolving
        # each of the ~1,700 modules loaded took 0.25 s of every stop
        roots = tuple({os.path.join(str(p), "") for d in dirs for p in (d, d.resolve())})
        installed = (os.path.join(sys.prefix, ""), os.path.join(sys.base_prefix, ""))
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None)
            if origin and (origin.startswith(roots) or not origin.startswith(installed) and any(
                    Path(origin).resolve().is_relative_to(d) for d in dirs)):
                del sys.modules[name]
        for d in dirs:
            while str(d) in sys.path:
                sys.path.remove(str(d))
        importlib.invalidate_caches()
        for fn in self._functions.values():
            fn.handler = None
            fn.close_pools()
        if self._logs is not None:
            self._logs.close()
            self._logs = None

    def invoke_payload(self, name_or_arn: str, event: Any, tenant_id: str | None = None,
                       durable_handler: bool = False) -> tuple[bytes, bool, Ran]:
        """Invoke and shape the answer as Lambda's Invoke API does: (payload JSON, is function error, the request
        id and log). An invocation that never reached a sandbox (an injected fault) gets a request id of its own.
        `durable_handler`: as invoke's."""
        ran = Ran()
        try:
            result = running_with(ran, lambda: self.invoke(name_or_arn, event, as_streamed=True, tenant_id=tenant_id,
                                                           durable_handler=durable_handler))
            # a streamed response buffered: its bytes, as they were written (6 MB at most, as Invoke's)
            payload = _within_limit(result.body) if isinstance(result, Streamed) else json.dumps(result).encode()
            errored = False
        except FunctionError as exc:
            payload, errored = json.dumps(exc.payload()).encode(), True
        ran.request_id = ran.request_id or ids.request_id()
        return payload, errored, ran


def _timed_out_log(request_id: str, spec: FunctionSpec, output: dict[str, Any]) -> list[str]:
    """A timed-out invocation's log: START, what it printed until then, END and REPORT, then Lambda's line saying
    so (`output`: its sandbox's answer, sandbox.Sandbox.output_so_far)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return [*invocation_log(request_id, output.get("lines", ()), spec.timeout * 1000, spec.memory,
                            output.get("max_memory_mb", 0), None),
            f"{now} {request_id} Task timed out after {spec.timeout:.2f} seconds"]


def payload_too_large(body: Any, invocation_type: str) -> str | None:
    """Lambda's message when an Invoke's payload is over the request limit of its invocation type (AWS answers 413
    RequestEntityTooLargeException), else None."""
    limit = MAX_REQUEST_BYTES.get(invocation_type)
    if limit is None or len(body or b"") * (4 if isinstance(body, str) else 1) <= limit:
        return None  # (UTF-8 takes at most 4 bytes a character: most str bodies are counted without encoding them)
    if isinstance(body, str) and len(body.encode()) <= limit:
        return None
    return f"Request must be smaller than {limit} bytes for the InvokeFunction operation"


def _buffered(streamed: Streamed) -> Any:
    """A streamed response as a caller that reads JSON gets it from a buffered Invoke: its bytes as JSON, else as
    text (an API Gateway proxy integration then answers 502, as for any malformed response)."""
    body = _within_limit(streamed.body)
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _within_limit(payload: str) -> str:
    """A handler's result (JSON, ASCII: one character a byte), or Lambda's error for one over its response limit
    (the function ran; its caller gets the error, an API Gateway client a 502)."""
    if len(payload) > MAX_RESPONSE_BYTES:
        raise FunctionError("Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed "
                                                              f"payload size ({MAX_RESPONSE_BYTES} bytes).")
    return payload


class _WorkerPool:
    """Reusable handler threads: starting a thread per invoke costs ~25x a hand-off to an idle one."""

    def __init__(self, max_idle: int = 32) -> None:
        self._idle: list[queue.SimpleQueue] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self._count = 0

    def submit(self, context: contextvars.Context, work: Any) -> None:
        """Run `work` in `context` on an idle worker, or a new one (a timed-out handler keeps its worker busy)."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self._count += 1
                inbox = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(inbox,), name=f"lambda-worker-{self._count}",
                                 daemon=True).start()
        inbox.put((context, work))

    def _serve(self, inbox: queue.SimpleQueue) -> None:
        while True:
            context, work = inbox.get()
            context.run(work)
            with self._lock:
                if len(self._idle) >= self._max_idle:
                    return
                self._idle.append(inbox)


#: the threads that run handlers (thread sandboxes) and sandboxes' calls that wait (infra.sandbox)
threads = _WorkerPool()


class _MarshalError(Exception):
    pass


def _import_handler(spec: FunctionSpec) -> Any:
    code_dir = str(spec.code_dir)
    for layer in reversed(spec.layers):      # Lambda: /var/task first, then /opt/python
        if str(layer) not in sys.path:
            sys.path.insert(0, str(layer))
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)

    def from_its_code_dir(module: Any) -> None:
        origin = getattr(module, "__file__", None)
        if origin and not Path(origin).resolve().is_relative_to(spec.code_dir):
            raise InitError("Runtime.ImportModuleError", f"Unable to import module '{module.__name__}': "
                            f"{spec.name}: it was imported from {origin}, not from its CodeUri {spec.code_dir}")

    return load_handler(spec.handler, check=from_its_code_dir)


# ----------------------------------------------------------------------------- moto and botocore wiring
_attached: LambdaRuntime | None = None
_original_invoke_lambda: Any = None


def attached() -> LambdaRuntime | None:
    """The runtime moto's Lambda runs (attach_to_moto), if any."""
    return _attached


def attach_to_moto(runtime: LambdaRuntime | None) -> None:
    """Make moto's Lambda (every invoke path: lambda.invoke, Step Functions lambda:invoke) run `runtime`.

    None detaches (moto's own Docker-based invoke comes back).
    """
    global _attached, _original_invoke_lambda
    import moto.awslambda.models as lambda_models

    if _original_invoke_lambda is None:
        _original_invoke_lambda = lambda_models.LambdaFunction._invoke_lambda
    _attached = runtime
    lambda_models.LambdaFunction._invoke_lambda = (
        _moto_invoke_lambda if runtime is not None else _original_invoke_lambda)


def _moto_invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
    """Replacement of moto's LambdaFunction._invoke_lambda: (payload, errored, logs)."""
    from moto.core.exceptions import JsonRESTError

    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    runtime = _attached
    if runtime is None:
        raise RuntimeError("no LambdaRuntime attached to moto")
    try:
        payload, errored, ran = runtime.invoke_payload(self.function_name, {} if event is None else event,
                                                       invoke_tenant.get())
        last_ran.set(ran)  # moto's Invoke response names its request id (moto_patches: lambda-event-invoke)
    except Throttled as exc:
        err = JsonRESTError("TooManyRequestsException", str(exc))
        err.code = 429
        raise err from exc
    except ResourceNotFound as exc:
        payload, errored = json.dumps(FunctionError("ResourceNotFoundException", str(exc)).payload()).encode(), True
        return payload.decode(), errored, ""
    # moto answers the log base64-encoded as X-Amz-Log-Result when LogType is Tail (the last 4 KB, as Lambda)
    return payload.decode(), errored, base64.b64decode(ran.tail()).decode()


#: hosts (host:port) of emulators whose Lambda Invoke calls are answered in-process
_fast_hosts: set[str] = set()


def enable_fast_invoke(endpoint: str) -> None:
    """Answer botocore `lambda Invoke` requests aimed at `endpoint` in-process (no HTTP), same response shape."""
    import botocore.handlers
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    _fast_hosts.add(parts.netloc)
    if parts.hostname in ("127.0.0.1", "localhost"):
        # moto's Step Functions interpreter calls Lambda at http://localhost:$MOTO_PORT
        _fast_hosts.update({f"127.0.0.1:{parts.port}", f"localhost:{parts.port}"})
    for entry in (("before-call.lambda.Invoke", _direct_invoke), ("before-send.lambda.Invoke", _fast_invoke)):
        if entry not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(entry)
    # sessions copy BUILTIN_HANDLERS when created: boto3's default session may already exist
    import boto3

    if boto3.DEFAULT_SESSION is not None:
        boto3.DEFAULT_SESSION.events.register("before-call.lambda.Invoke", _direct_invoke,
                                              unique_id="notifyx-direct-invoke")
        boto3.DEFAULT_SESSION.events.register("before-send.lambda.Invoke", _fast_invoke,
                                              unique_id="notifyx-fast-invoke")


def disable_fast_invoke() -> None:
    """Stop answering Invoke in-process (clients created earlier keep the handler but it passes through)."""
    _fast_hosts.clear()


def _direct_invoke(model: Any, params: dict, context: Any = None, **_: Any) -> Any:
    """before-call: an Invoke answered before botocore signs and sends it (the before-send _fast_invoke below is
    the fallback for sessions that hold only that one). The answer goes through botocore's own response parser,
    so the caller gets what a sent request would: the streaming Payload, FunctionError, errors with their
    modeled fields."""
    if model.name != "Invoke" or _attached is None:
        return None
    from urllib.parse import urlencode

    from botocore.endpoint import convert_to_response_dict
    from botocore.parsers import create_parser

    url = params.get("url", "")
    query = params.get("query_string")
    if query:
        url += ("&" if "?" in url else "?") + (urlencode(query) if isinstance(query, dict) else str(query))
    raw = _answer_invoke(_CallRequest(url, params.get("headers") or {}, params.get("body")))
    if raw is None:
        return None
    response = convert_to_response_dict(raw, model)
    parser = create_parser(model.metadata["protocol"])
    parsed = parser.parse(response, model.output_shape)
    if raw.status_code >= 300:
        code = parsed.get("Error", {}).get("Code")
        error_shape = model.service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
    return raw, parsed


class _CallRequest:
    """What _answer_invoke reads of a request: the parameters at before-call, in a sent request's shape."""

    def __init__(self, url: str, headers: dict[str, Any], body: Any) -> None:
        self.url, self.headers, self.body = url, headers, body


def _fast_invoke(request: Any, **_: Any) -> Any:
    """before-send: answer one Invoke in process, once per request.

    botocore calls every before-send handler of a session; one created after an earlier LocalCloud in this process
    holds this handler twice (copied from BUILTIN_HANDLERS, and registered on boto3's default session), which ran
    the function twice per Invoke. The answer is kept on the request, so the second call returns it unrun.
    """
    answered = getattr(request, "_notifyx_invoke_answer", None)
    if answered is None:
        answered = _answer_invoke(request)
        if answered is not None:
            request._notifyx_invoke_answer = answered
    return answered


def _answer_invoke(request: Any) -> Any:
    from urllib.parse import unquote, urlsplit

    url = urlsplit(request.url)
    runtime = _attached
    if runtime is None or url.netloc not in _fast_hosts:
        return None
    headers = {k.lower(): v for k, v in request.headers.items()}
    invocation_type = headers.get("x-amz-invocation-type", b"RequestResponse")
    if isinstance(invocation_type, bytes):
        invocation_type = invocation_type.decode()
    if invocation_type not in ("RequestResponse", "Event") or "qualifier=" in (url.query or "").lower():
        return None  # dry runs and qualified invokes keep moto's semantics
    name = unquote(url.path.rstrip("/").rsplit("/", 2)[-2])
    if name.count(":") not in (0, 6):
        return None  # a version or alias (name:qualifier, a qualified ARN): moto resolves it, then runs it here
    body = request.body or b"{}"
    if hasattr(body, "read"):
        body = body.read()
    too_large = payload_too_large(body, invocation_type)
    if too_large:
        return _raw_response(request.url, 413, {"x-amzn-errortype": "RequestEntityTooLargeException"},
                             json.dumps({"Type": "User", "Message": too_large}).encode())
    try:
        event = json.loads(body or b"{}")
    except ValueError:
        return None
    tenant = headers.get("x-amz-tenant-id")
    tenant_id = tenant.decode("utf-8", "replace") if isinstance(tenant, bytes) else tenant
    if invocation_type == "Event":
        return _invoke_async(runtime, name, event, request.url, tenant_id)
    incoming = headers.get("x-amzn-trace-id")
    # a Step Functions task sets trace_header itself (its interpreter's client sends no header)
    token = trace_header.set((incoming.decode() if isinstance(incoming, bytes) else incoming) or trace_header.get())
    try:
        payload, errored, ran = runtime.invoke_payload(name, event, tenant_id)
    except InvalidTenant as exc:
        return _raw_response(request.url, 400, {"x-amzn-errortype": "InvalidParameterValueException"},
                             json.dumps({"Type": "User", "message": str(exc)}).encode())
    except Throttled as exc:
        return _raw_response(request.url, 429, {"x-amzn-errortype": "TooManyRequestsException"},
                             json.dumps({"Type": "User", "message": str(exc)}).encode())
    except ResourceNotFound as exc:
        return _raw_response(request.url, 404, {"x-amzn-errortype": "ResourceNotFoundException"},
                             json.dumps({"Type": "User", "Message": str(exc)}).encode())
    finally:
        trace_header.reset(token)
    response_headers = {"content-type": "application/json", "x-amz-executed-version": "$LATEST",
                        "x-amzn-RequestId": ran.request_id}
    if ran.durable_execution_arn is not None:
        response_headers["x-amz-durable-execution-arn"] = ran.durable_execution_arn
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"  # what Lambda answers for its runtimes' errors
    log_type = headers.get("x-amz-log-type", b"None")
    if (log_type.decode() if isinstance(log_type, bytes) else log_type) == "Tail":
        response_headers["x-amz-log-result"] = ran.tail()
    return _raw_response(request.url, 200, response_headers, payload)


def _invoke_async(runtime: LambdaRuntime, name: str, event: Any, url: str, tenant_id: str | None = None) -> Any:
    """InvocationType=Event: queued (202) and run in the background, retried and then dead-lettered as Lambda does."""
    try:
        runtime.check_tenant(name, tenant_id)
    except ResourceNotFound as exc:
        return _raw_response(url, 404, {"x-amzn-errortype": "ResourceNotFoundException"},
                             json.dumps({"Type": "User", "Message": str(exc)}).encode())
    except InvalidTenant as exc:
        return _raw_response(url, 400, {"x-amzn-errortype": "InvalidParameterValueException"},
                             json.dumps({"Type": "User", "message": str(exc)}).encode())

    # retries with backoff, then the dead-letter queue or the on-failure destination: infra/async_invoke.py
    from infra.async_invoke import invoke_async

    ran = Ran()  # names a durable function's execution
    request_id = running_with(ran, lambda: invoke_async(runtime, name, event, tenant_id))
    headers = {"content-type": "application/json", "x-amzn-RequestId": request_id}
    if ran.durable_execution_arn is not None:
        headers["x-amz-durable-execution-arn"] = ran.durable_execution_arn
    return _raw_response(url, 202, headers, b"")


class _RawBody(io.BytesIO):
    """What botocore reads a response from: a file (streaming Payload) with urllib3's stream()."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _raw_response(url: str, status: int, headers: dict[str, str], body: bytes) -> Any:
    """Lambda's answer as botocore reads it off the wire. A refusal (no invocation ran) names a request of its own
    (x-amzn-RequestId, botocore's ResponseMetadata.RequestId), as Lambda's do; an invocation's answer names the
    invocation's (its caller passes it)."""
    from botocore.awsrequest import AWSResponse

    headers = {**({"x-amzn-RequestId": ids.request_id()} if "x-amzn-RequestId" not in headers else {}), **headers,
               "content-length": str(len(body))}
    return AWSResponse(url, status, headers, _RawBody(body))
