"""The metrics and segments AWS services record about themselves: Lambda, Step Functions, SQS, API Gateway.

Each observer is told by a small hook where the local cloud does the service's work (the Lambda runtime's
invoke, moto's Step Functions interpreter and SQS backend through infra/moto_patches.py, the WebSocket data plane)
and records into the MetricStore and the X-Ray segments under the names, units and dimensions AWS uses.
"""
from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from typing import Any

from infra.observability.metrics import MetricStore, emf_datapoints
from infra.observability.xray import PendingSegments, format_header, new_id, new_trace_id, parse_header

logger = logging.getLogger("notifyx.observability")


class Sampler:
    """X-Ray's default sampling rule: the first request each second, then 5% of the others ("all": every one)."""

    def __init__(self, mode: str = "default", reservoir: int = 1, rate: float = 0.05) -> None:
        self.all = mode == "all"
        self.reservoir, self.rate = reservoir, rate
        self._second = 0
        self._taken = 0
        self._lock = threading.Lock()

    def sample(self) -> bool:
        if self.all:
            return True
        now = int(time.time())
        with self._lock:
            if now != self._second:
                self._second, self._taken = now, 0
            if self._taken < self.reservoir:
                self._taken += 1
                return True
        return random.random() < self.rate


# --------------------------------------------------------------------------- Lambda
class Invocation:
    """One invocation as Lambda's service sees it (what the runtime hands back to `finished`)."""

    __slots__ = ("function", "started", "wall", "trace_header", "root", "parent", "lambda_id", "function_id",
                 "error", "init_ms", "lines", "request_id", "throttled")

    def __init__(self, function: str) -> None:
        self.function = function
        self.started = time.perf_counter()
        self.wall = time.time()
        self.trace_header: str | None = None
        self.root = self.parent = self.lambda_id = self.function_id = None
        self.error: str | None = None
        self.init_ms: float | None = None
        self.lines: list[str] = ()
        self.request_id: str | None = None
        #: throttled once started (the fault switch's throttle): Lambda counts a throttle, not an invocation
        self.throttled = False


class LambdaObserver:
    """AWS/Lambda metrics (Invocations, Errors, Throttles, Duration, ConcurrentExecutions), the EMF lines of each
    invocation's output, and the ``AWS::Lambda`` / ``AWS::Lambda::Function`` segments of traced invocations."""

    def __init__(self, store: MetricStore, segments: PendingSegments | None, tracing: dict[str, str],
                 sampler: Sampler, incoming: contextvars.ContextVar, region: str, account: str) -> None:
        self.store = store
        self.segments = segments
        self.tracing = tracing          # function name -> TracingConfig.Mode
        self.sampler = sampler
        self.incoming = incoming        # the trace header of the request that invokes (runtime.trace_header)
        self.region, self.account = region, account
        self._in_flight: dict[str, int] = {}
        self._total = 0
        self._lock = threading.Lock()

    def started(self, function: str) -> Invocation:
        call = Invocation(function)
        with self._lock:
            count = self._in_flight[function] = self._in_flight.get(function, 0) + 1
            self._total += 1
            total = self._total
        self.store.record("AWS/Lambda", "ConcurrentExecutions", count, "Count", {"FunctionName": function})
        self.store.record("AWS/Lambda", "ConcurrentExecutions", total, "Count")
        if self.segments is None:
            return call
        fields = parse_header(self.incoming.get())
        active = self.tracing.get(function) == "Active"
        root, sampled = fields.get("Root"), fields.get("Sampled")
        if root is None:
            if not active:
                return call
            root = new_trace_id()
        if sampled is None or sampled == "?":
            sampled = "1" if active and self.sampler.sample() else "0"
        call.root, call.parent = root, fields.get("Parent")
        if sampled == "1":
            call.lambda_id, call.function_id = new_id(), new_id()
            call.trace_header = format_header(root, call.function_id, True)
        else:
            call.trace_header = format_header(root, call.parent, False)
        return call

    def finished(self, call: Invocation) -> None:
        ended = time.time()
        duration_ms = (time.perf_counter() - call.started) * 1000 - (call.init_ms or 0)
        with self._lock:
            self._in_flight[call.function] -= 1
            self._total -= 1
        if call.throttled:  # a throttle is not an invocation, an error or a duration
            self.throttled(call.function)
            return
        dims = {"FunctionName": call.function}
        record = self.store.record
        record("AWS/Lambda", "Invocations", 1, "Count", dims)
        record("AWS/Lambda", "Errors", 1 if call.error else 0, "Count", dims)
        record("AWS/Lambda", "Duration", duration_ms, "Milliseconds", dims)
        for line in call.lines:
            if line.startswith("{"):
                for namespace, name, value, unit, dimensions, at in emf_datapoints(line):
                    record(namespace, name, value, unit, dimensions, at)
        if call.function_id is not None and self.segments is not None:
            self._segments(call, ended)

    def throttled(self, function: str) -> None:
        self.store.record("AWS/Lambda", "Throttles", 1, "Count", {"FunctionName": function})

    def _segments(self, call: Invocation, ended: float) -> None:
        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{call.function}"
        fault = {"fault": True} if call.error else {}
        service = {"id": call.lambda_id, "trace_id": call.root, "name": call.function, "origin": "AWS::Lambda",
                   "start_time": call.wall, "end_time": ended, "resource_arn": arn,
                   "aws": {"request_id": call.request_id}, **fault}
        if call.parent:
            service["parent_id"] = call.parent
        invoke_start = call.wall + (call.init_ms or 0) / 1000
        subsegments = [{"id": new_id(), "name": "Invocation", "start_time": invoke_start, "end_time": ended, **fault}]
        if call.init_ms is not None:
            subsegments.insert(0, {"id": new_id(), "name": "Initialization", "start_time": call.wall,
                                   "end_time": invoke_start})
        function = {"id": call.function_id, "trace_id": call.root, "parent_id": call.lambda_id,
                    "name": call.function, "origin": "AWS::Lambda::Function", "start_time": call.wall,
                    "end_time": ended, "resource_arn": arn, "subsegments": subsegments, **fault}
        self.segments.add(service)
        self.segments.add(function)


# --------------------------------------------------------------------------- Step Functions
class _Execution:
    __slots__ = ("state_machine", "root", "parent", "segment_id", "sampled", "wall", "tasks")

    def __init__(self, state_machine: str) -> None:
        self.state_machine = state_machine
        self.root = self.parent = self.segment_id = None
        self.sampled = False
        self.wall = time.time()
        self.tasks: list[dict[str, Any]] = []


class StatesObserver:
    """AWS/States metrics (ExecutionsStarted/Succeeded/Failed/TimedOut/Aborted, ExecutionTime) and, for state
    machines with TracingConfiguration enabled, the state machine's segment with a subsegment per Lambda task."""

    STATUS_METRIC = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed",
                     "TIMED_OUT": "ExecutionsTimedOut", "ABORTED": "ExecutionsAborted"}

    def __init__(self, store: MetricStore, segments: PendingSegments | None, traced: set[str],
                 sampler: Sampler) -> None:
        self.store = store
        self.segments = segments
        self.traced = traced            # ARNs of state machines with tracing enabled
        self.sampler = sampler
        self._executions: dict[str, _Execution] = {}
        self._lock = threading.Lock()

    def starting(self, state_machine_arn: str, name: str | None, header: str | None,
                 execution_arn: str | None = None) -> str | None:
        """StartExecution of `name` (or StartSyncExecution of `execution_arn`) with the caller's trace header,
        before the interpreter runs a state; the key for `started` / `forget` (None: an execution of that name is
        already known)."""
        execution_arn = execution_arn or state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
        with self._lock:
            if execution_arn in self._executions:
                return None
            execution = self._executions[execution_arn] = _Execution(state_machine_arn)
        if self.segments is not None and state_machine_arn in self.traced:
            fields = parse_header(header)
            sampled = fields.get("Sampled")
            execution.root = fields.get("Root") or new_trace_id()
            execution.parent = fields.get("Parent")
            execution.sampled = sampled == "1" if sampled in ("0", "1") else self.sampler.sample()
            execution.segment_id = new_id()
        return execution_arn

    def started(self, key: str | None, execution: Any) -> None:
        """StartExecution answered: a new execution counts as started (a repeated name with the same input
        answers the first execution, which is not started again)."""
        if key is not None and getattr(execution, "execution_arn", None) == key:
            state_machine = self._executions[key].state_machine if key in self._executions else \
                key.replace(":execution:", ":stateMachine:", 1).rsplit(":", 1)[0]
            self.store.record("AWS/States", "ExecutionsStarted", 1, "Count", {"StateMachineArn": state_machine})

    def forget(self, key: str | None) -> None:
        """StartExecution refused (ExecutionAlreadyExists, say): nothing started."""
        if key is not None:
            with self._lock:
                self._executions.pop(key, None)

    def task_header(self, execution_arn: str, state: str) -> tuple[str | None, dict[str, Any] | None]:
        """The trace header a Lambda task of the execution is invoked with, and its subsegment (or None)."""
        execution = self._executions.get(execution_arn)
        if execution is None or execution.root is None:
            return None, None
        if not execution.sampled:
            return format_header(execution.root, execution.segment_id, False), None
        task = {"id": new_id(), "name": state, "start_time": time.time(), "namespace": "aws"}
        execution.tasks.append(task)
        return format_header(execution.root, task["id"], True), task

    def ended(self, execution_arn: str, status: str, started: Any, stopped: Any) -> None:
        with self._lock:
            execution = self._executions.pop(execution_arn, None)
        state_machine = execution.state_machine if execution else execution_arn.replace(
            ":execution:", ":stateMachine:", 1).rsplit(":", 1)[0]
        dims = {"StateMachineArn": state_machine}
        metric = self.STATUS_METRIC.get(status)
        if metric:
            self.store.record("AWS/States", metric, 1, "Count", dims)
        try:
            elapsed_ms = (stopped - started).total_seconds() * 1000
        except (TypeError, AttributeError):
            elapsed_ms = None
        if elapsed_ms is not None:
            self.store.record("AWS/States", "ExecutionTime", elapsed_ms, "Milliseconds", dims)
        if execution is None or not execution.sampled or self.segments is None:
            return
        end = time.time()
        for task in execution.tasks:
            task.setdefault("end_time", end)
        segment = {"id": execution.segment_id, "trace_id": execution.root, "name": state_machine.rsplit(":", 1)[1],
                   "origin": "AWS::StepFunctions::StateMachine", "start_time": execution.wall, "end_time": end,
                   "aws": {"execution_arn": execution_arn}, "subsegments": execution.tasks}
        if status != "SUCCEEDED":
            segment["fault"] = True
        if execution.parent:
            segment["parent_id"] = execution.parent
        self.segments.add(segment)


# --------------------------------------------------------------------------- SQS
class SqsObserver:
    """AWS/SQS: NumberOfMessagesSent/Received/Deleted as they happen (moto's backend tells), and every few
    seconds ApproximateNumberOfMessagesVisible/NotVisible and ApproximateAgeOfOldestMessage of each queue."""

    def __init__(self, store: MetricStore, region: str, account: str, interval: float = 5.0) -> None:
        self.store = store
        self.region, self.account = region, account
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-metrics", daemon=True)
        self._thread.start()

    def counted(self, metric: str, queue_name: str, count: int) -> None:
        if count:
            self.store.record("AWS/SQS", metric, count, "Count", {"QueueName": queue_name})

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - a metric sample must never stop the cloud
                logger.debug("sampling SQS failed: %s", exc)

    def sample(self) -> None:
        from moto.sqs.models import sqs_backends

        now = time.time()
        for name, queue in list(sqs_backends[self.account][self.region].queues.items()):
            dims = {"QueueName": name}
            self.store.record("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                              queue.approximate_number_of_messages, "Count", dims, now)
            self.store.record("AWS/SQS", "ApproximateNumberOfMessagesNotVisible",
                              queue.approximate_number_of_messages_not_visible, "Count", dims, now)
            sent = [m.sent_timestamp for m in list(queue._messages) if m.sent_timestamp]
            age = now - min(sent) / 1000 if sent else 0
            self.store.record("AWS/SQS", "ApproximateAgeOfOldestMessage", max(0.0, age), "Seconds", dims, now)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(2)


# --------------------------------------------------------------------------- API Gateway (WebSocket)
def _status(result: Any) -> int:
    """The HTTP status of a Lambda proxy answer (200 when it names none, or is not a proxy answer)."""
    status = result.get("statusCode") if isinstance(result, dict) else None
    try:
        return int(status) if status is not None else 200
    except (TypeError, ValueError):
        return 200


class WebSocketObserver:
    """AWS/ApiGateway for a WebSocket API stage: ConnectCount, MessageCount, IntegrationError, ClientError,
    ExecutionError, IntegrationLatency (dimensions ApiId, Stage), told by the data plane's integration calls."""

    def __init__(self, store: MetricStore, api_id: str, stage: str) -> None:
        self.store = store
        self.dims = {"ApiId": api_id, "Stage": stage}
        self.gateway: Any = None
        #: the data plane's running counts, as last sampled: metric name -> count
        self._before = {"MessageCount": 0, "ClientError": 0, "ExecutionError": 0}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="websocket-metrics", daemon=True)

    def integration(self, invoke: Any) -> Any:
        """`invoke` (the data plane's integration and authorizer calls) measured, as AWS documents the metrics:
        ConnectCount the messages sent to the $connect route's integration; MessageCount the messages from the
        client (answered or not); IntegrationError a 4XX/5XX answer of the integration (a function error, or a
        proxy answer's statusCode); ExecutionError a failure to call it (throttled, missing); IntegrationLatency
        the integration's time (not the authorizer's). What API Gateway refuses before any integration runs
        (ClientError: a frame with no route, a handshake's stage, Origin or authorizer 4XX; ExecutionError: a failing
        authorizer's 5XX) the data plane counts itself; watch() samples it."""
        store, dims = self.store, self.dims

        def count(metric: str) -> None:
            store.record("AWS/ApiGateway", metric, 1, "Count", dims)

        def measured(function: str, event: dict) -> Any:
            if event.get("type") == "REQUEST" and "methodArn" in event:
                # the $connect authorizer (API Gateway's REQUEST authorizer event): not the integration; the data
                # plane counts what it refuses (ClientError, ExecutionError), sampled below
                return invoke(function, event)
            context = event.get("requestContext") or {}
            kind = context.get("eventType")
            if kind == "MESSAGE":
                count("MessageCount")
            elif kind == "CONNECT" and context.get("routeKey") == "$connect":
                count("ConnectCount")
            started = time.perf_counter()
            try:
                result = invoke(function, event)
            except Exception as exc:
                # a function error is the integration's; anything else (throttled, missing) is the execution's
                from infra.runtime import FunctionError

                count("IntegrationError" if isinstance(exc, FunctionError) else "ExecutionError")
                raise
            finally:
                if kind in ("MESSAGE", "CONNECT"):
                    store.record("AWS/ApiGateway", "IntegrationLatency", (time.perf_counter() - started) * 1000,
                                 "Milliseconds", dims)
            if _status(result) >= 400:
                count("IntegrationError")
            return result

        return measured

    def watch(self, gateway: Any) -> None:
        """Sample the gateway's frames sent, client errors and open connections every second."""
        self.gateway = gateway
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(1.0):
            gateway = self.gateway
            counts = {"MessageCount": gateway.frames_sent, "ClientError": gateway.client_errors,
                      "ExecutionError": gateway.execution_errors}
            for metric, count in counts.items():
                added = count - self._before[metric]
                if added or metric == "MessageCount":  # frames posted: a datapoint every second, 0 included
                    self.store.record("AWS/ApiGateway", metric, added, "Count", self.dims)
            self._before = counts
            # not an AWS metric: the data plane's open sockets, for the dashboard
            self.store.record("Notifyx/Local", "OpenConnections", gateway.connection_count, "Count", self.dims)

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(2)
