"""Lambda durable functions (a function's ``DurableConfig``): the durable execution service, from AWS's own emulator
of it (aws-durable-execution-sdk-python-testing: its Executor, checkpoint processors, scheduler and the wire API's
handlers), with the local cloud's runtime as the Lambda it invokes.

What Lambda does, and so the local cloud:
- An Invoke of a durable function starts a durable execution. The service invokes the handler with
  ``{DurableExecutionArn, CheckpointToken, InitialExecutionState}``; the SDK's ``@durable_execution`` replays the
  operations checkpointed so far, checkpoints new ones (CheckpointDurableExecution) and answers SUCCEEDED, FAILED
  or PENDING (a wait, a retry's backoff, a callback): the service invokes it again when one is due.
- A synchronous Invoke waits for the whole execution (at most 15 minutes, or the execution's timeout) and answers
  its result, or its error as a function error; an asynchronous one answers 202 at once. Either names the
  execution (``X-Amz-Durable-Execution-Arn``).
- The service's API (GetDurableExecution, GetDurableExecutionState, GetDurableExecutionHistory,
  ListDurableExecutionsByFunction, StopDurableExecution, SendDurableExecutionCallbackSuccess / Failure /
  Heartbeat, CheckpointDurableExecution) answers on the emulator's endpoint, in and out of process.

Chained invokes (``context.invoke``) of the template's functions: a durable one is a child execution, another one
runs once. With a state directory (``notifyx up``) executions are kept in it (the library's SQLite store) and go on
after a restart; ephemeral clouds keep them in memory. Execution ARNs are Lambda's
(``arn:aws:lambda:<region>:<account>:function:<name>:$LATEST/durable-execution/<name>/<id>``).
"""
from __future__ import annotations

import functools
import io
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra import account

logger = logging.getLogger(__name__)

#: the wire API's paths (botocore's lambda model, 2025-12-01): executions, callbacks, a function's executions
API_PREFIXES = ("/2025-12-01/durable-execution", "/2025-12-01/functions/")
#: the executions' store in notifyx up's state directory (the library's SQLite store)
STATE_FILE = "durable-executions.sqlite"
#: the largest request the API reads (the library's own web server's bound)
MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: a synchronous Invoke waits for the execution this long at most (Lambda's synchronous limit)
SYNC_LIMIT_SECONDS = 900


def is_api_path(path: str) -> bool:
    """Whether `path` is one of the durable execution API's (``/2025-12-01/functions/{name}/durable-executions``
    lists a function's)."""
    return path.startswith(API_PREFIXES[0]) or (path.startswith(API_PREFIXES[1])
                                                and path.rstrip("/").endswith("/durable-executions"))


class DurableFunctions:
    """The durable execution service of one local cloud: executions of its runtime's durable functions."""

    def __init__(self, runtime: Any) -> None:
        from aws_durable_execution_sdk_python_testing.checkpoint.processor import (
            DEFAULT_MAX_INVOCATION_PAGE_BYTES, CheckpointProcessor)
        from aws_durable_execution_sdk_python_testing.executor import Executor
        from aws_durable_execution_sdk_python_testing.scheduler import Scheduler
        from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
        from aws_durable_execution_sdk_python_testing.stores.sqlite import SQLiteExecutionStore
        from aws_durable_execution_sdk_python_testing.web.routes import Router
        from aws_durable_execution_sdk_python_testing.web.server import WebServer
        from aws_durable_execution_sdk_python_testing.worker.registry import ExecutionRegistry

        from infra import persistence

        _name_executions_as_lambda()
        self.runtime = runtime
        state = persistence.store()  # notifyx up's state directory: executions live on across restarts, as on AWS
        self._store = InMemoryExecutionStore() if state is None else \
            SQLiteExecutionStore.create_and_initialize(state.directory / STATE_FILE)
        self._scheduler = Scheduler()
        self._registry = ExecutionRegistry(self._store, self._scheduler)
        processor = CheckpointProcessor(self._store, self._scheduler)
        self.executor = Executor(store=self._store, scheduler=self._scheduler,
                                 invoker=_runtime_invoker(runtime, DEFAULT_MAX_INVOCATION_PAGE_BYTES),
                                 checkpoint_processor=processor, registry=self._registry,
                                 region=account.region_of_this_process(),
                                 child_dispatcher=_RuntimeChildDispatcher(runtime))
        # wired as the library's own WebRunner wires them
        processor.add_execution_observer(self.executor)
        processor.set_chained_invoke_preflight(self.executor.preflight_chained_invoke)
        self._scheduler.start()
        self._router = Router()
        # the wire API's handlers, as the library's web server builds them (without its HTTP server)
        self._handlers = WebServer._create_endpoint_handlers(_HandlersOf(self.executor))  # noqa: SLF001

    def resume(self) -> int:
        """Go on with the executions an earlier run of the local cloud left running (its state directory's): each is
        invoked again, replays what it checkpointed and suspends on what is not due yet; its timeout counts from
        its start. How many."""
        resumed = 0
        for execution in self._store.list_all():
            if execution.is_complete:
                continue
            timeout = int(execution.start_input.execution_timeout_seconds or 0)
            started = execution.get_operation_execution_started().start_timestamp
            if timeout > 0 and started is not None:
                timeout = max(1, int(timeout - (datetime.now(UTC) - started).total_seconds()))
            self.executor._launch_execution(execution, timeout)  # noqa: SLF001 - as start_execution does (pinned)
            resumed += 1
        return resumed

    def close(self) -> None:
        for stop in (self.executor.shutdown, self._registry.shutdown, self._scheduler.stop):
            try:
                stop()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                logger.exception("stopping the durable execution service")

    # ------------------------------------------------------------------ Invoke of a durable function
    def start(self, function_name: str, timeout_seconds: int, retention_days: int, event: Any,
              tenant_id: str | None = None) -> str:
        """Start an execution of `function_name` with `event` (a name of its own: Invoke's DurableExecutionName,
        which AWS uses for idempotency, is not read): its ARN."""
        from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput

        started = self.executor.start_execution(StartDurableExecutionInput(
            account_id=account.ACCOUNT_ID, function_name=function_name, function_qualifier="$LATEST",
            execution_name=str(uuid.uuid4()), execution_timeout_seconds=int(timeout_seconds),
            execution_retention_period_days=int(retention_days), tenant_id=tenant_id, input=json.dumps(event)))
        return started.execution_arn

    def outcome(self, execution_arn: str, timeout: float) -> tuple[bool, Any]:
        """Wait for the execution to end (at most `timeout` seconds): (succeeded, its result decoded from JSON or
        its error as Lambda's error payload). An execution still running then: a function error, as the
        synchronous Invoke that waited for it ends."""
        if not self.executor.wait_until_complete(execution_arn, timeout):
            return False, {"errorType": "Sandbox.Timedout",
                           "errorMessage": f"The durable execution did not end within {timeout:g} seconds"}
        result = self.executor.get_execution(execution_arn).result
        if result is not None and result.status.value == "SUCCEEDED":
            return True, json.loads(result.result) if result.result else None
        error = result.error if result is not None else None
        return False, {"errorType": getattr(error, "type", None) or "DurableExecutionFailed",
                       "errorMessage": getattr(error, "message", None) or "The durable execution failed",
                       **({"stackTrace": error.stack_trace} if getattr(error, "stack_trace", None) else {})}

    # ------------------------------------------------------------------ the wire API
    def answer(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """One request of the durable execution API: (status, headers, body), errors as Lambda's JSON errors."""
        from aws_durable_execution_sdk_python_testing.exceptions import (AwsApiException, ServiceException,
                                                                         UnknownRouteError)
        from aws_durable_execution_sdk_python_testing.web.models import HTTPRequest, HTTPResponse
        from aws_durable_execution_sdk_python_testing.web.routes import BytesPayloadRoute

        parts = urlsplit(url)
        try:
            route = self._router.find_route(parts.path, method)
            handler = self._handlers.get(type(route))
            if handler is None:
                raise UnknownRouteError(method, parts.path)
            query = parse_qs(parts.query)
            refused = None if isinstance(route, BytesPayloadRoute) else _invalid_body(type(route).__name__, body)
            if refused is not None:
                return _error(400, "InvalidParameterValueException", refused)
            if isinstance(route, BytesPayloadRoute):
                request = HTTPRequest.from_raw_bytes(body_bytes=body, method=method, path=route, headers=headers,
                                                     query_params=query)
            else:
                request = HTTPRequest.from_bytes(body_bytes=body, operation_name=None, method=method, path=route,
                                                 headers=headers, query_params=query)
            response = handler.handle(route, request)
        except UnknownRouteError:  # PauseDurableExecution, ResumeDurableExecution, DeleteDurableExecution
            return _error(404, "UnknownOperationException", f"{method} {parts.path}: this operation is not supported "
                                                            "by the local cloud's durable execution service")
        except Exception as exc:  # noqa: BLE001 - every failure is an API error, never a traceback
            if not isinstance(exc, AwsApiException):
                logger.warning("durable execution API %s %s failed: %s", method, parts.path, exc)
                exc = ServiceException("The durable execution service failed")
            response = HTTPResponse.create_error_from_exception(exc)
        if response.status_code >= 500:  # the library's message may name its internals: logged, not answered
            logger.warning("durable execution API %s %s failed: %s", method, parts.path, response.body)
            response = HTTPResponse.create_error_from_exception(
                ServiceException("The durable execution service failed"))
        payload = response.body_to_bytes()
        answer_headers = {"Content-Type": "application/json", **response.headers,
                          "Content-Length": str(len(payload))}
        error = response.body.get("Type") if response.status_code >= 400 and isinstance(response.body, dict) else None
        if error and "x-amzn-ErrorType" not in answer_headers:
            answer_headers["x-amzn-ErrorType"] = error
        return response.status_code, answer_headers, payload


def _invalid_body(route_name: str, body: bytes) -> str | None:
    """Why a request's JSON body does not fit its operation's input (botocore's model and validator, as the service
    checks it before its handler sees it), or None. Only bodies of operations the model names are checked."""
    from botocore.validate import ParamValidator

    operation = route_name.removesuffix("Route")
    model = _lambda_model()
    if operation not in model.operation_names or not body:
        return None
    try:
        params = json.loads(body)
    except ValueError:
        return "The request body is not JSON"
    if not isinstance(params, dict):
        return "The request body is not a JSON object"
    shape = model.operation_model(operation).input_shape
    in_body = {k: v for k, v in params.items() if k in shape.members and "location" not in
               shape.members[k].serialization}
    report = ParamValidator().validate(in_body, shape)
    problems = [line for line in report.generate_report().splitlines() if "Missing required parameter" not in line]
    return "; ".join(problems) if problems else None


@functools.cache
def _lambda_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("lambda")


class _RuntimeChildDispatcher:
    """Chained invokes (``context.invoke``) of the runtime's functions, as the library's ChildDispatcher: a durable
    target starts a child execution (which completes the parent's operation when it ends), another function runs
    once and its answer is the operation's outcome, an unknown one fails the operation at once."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def _spec(self, name: str) -> Any:
        from infra.runtime import ResourceNotFound

        try:
            return self.runtime.spec(name)
        except ResourceNotFound:
            return None

    def preflight(self, target: Any) -> Any:
        from aws_durable_execution_sdk_python_testing.child_dispatcher import function_not_found

        return function_not_found(target.name).outcome if self._spec(target.name) is None else None

    def dispatch(self, request: Any) -> Any:
        from aws_durable_execution_sdk_python_testing.child_dispatcher import (RunInvocation, StartChild,
                                                                               function_not_found, invoke_function)
        from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput

        spec = self._spec(request.function_name)
        if spec is None:
            return function_not_found(request.function_name)
        if spec.durable is not None:
            return StartChild(child_start=StartDurableExecutionInput(
                account_id=request.account_id, function_name=spec.name, function_qualifier=request.child_qualifier(),
                execution_name=str(uuid.uuid4()), execution_timeout_seconds=spec.durable["ExecutionTimeout"],
                execution_retention_period_days=spec.durable["RetentionPeriodInDays"], invocation_id=None,
                trace_fields=request.trace_fields, tenant_id=request.tenant_id, input=request.payload,
                lambda_endpoint=None))
        return RunInvocation(invocation=lambda: invoke_function(
            _RuntimeLambda(self.runtime), spec.name, request.payload, request.tenant_id, int(spec.timeout)))


class _RuntimeLambda:
    """Lambda's Invoke as the library's invoke_function calls it, made by the runtime (in the cloud's process, and
    with --aws-endpoint too, where the functions still run here): the library reads the answer as it reads
    Lambda's (its payload, FunctionError, size and UTF-8 checks, the error's fields)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def invoke(self, FunctionName: str, Payload: str, InvocationType: str = "RequestResponse",  # noqa: N803
               TenantId: str | None = None) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        from infra.runtime import LambdaError

        try:
            payload, errored, _ = self.runtime.invoke_payload(FunctionName, json.loads(Payload), tenant_id=TenantId)
        except LambdaError as exc:  # throttled, refused: the Invoke API's error, as a client raises it
            raise ClientError({"Error": {"Code": getattr(exc, "error_type", "ServiceException"),
                                         "Message": str(exc)}}, "Invoke") from exc
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(payload)}
        if errored:
            answer["FunctionError"] = "Unhandled"
        return answer


def _name_executions_as_lambda() -> None:
    """Execution ARNs as Lambda's (arn:aws:lambda:<region>:<account>:function:<name>:<version>/durable-execution/
    <execution name>/<invocation id>, the API reference's pattern, which the SDK's DurableExecutionArn parses)
    instead of the library's two UUIDs: the library makes each in Execution.new, whose replacement here keeps what
    it does besides (a guard test pins its source)."""
    from aws_durable_execution_sdk_python_testing import execution as executions

    if getattr(executions.Execution.new, "_notifyx", False):
        return

    def new(input: Any) -> Any:  # noqa: A002 - the library's parameter name
        arn = (f"arn:aws:lambda:{account.region_of_this_process()}:{input.account_id}:function:"
               f"{input.function_name}:{input.function_qualifier}/durable-execution/{input.execution_name}/"
               f"{input.invocation_id or uuid.uuid4()}")
        return executions.Execution(durable_execution_arn=arn, start_input=input, operations=[])

    new._notifyx = True  # type: ignore[attr-defined]
    executions.Execution.new = staticmethod(new)


class _HandlersOf:
    """What WebServer._create_endpoint_handlers reads of its server: the executor."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor


def _runtime_invoker(runtime: Any, max_page_bytes: int) -> Any:
    """The library's LambdaInvoker with its Invoke made by the runtime, as a handler invocation (not over HTTP, and
    not taken for a caller's Invoke, which would start another execution)."""
    from aws_durable_execution_sdk_python_testing.exceptions import (DurableFunctionsTestError,
                                                                     ResourceNotFoundException)
    from aws_durable_execution_sdk_python_testing.invoker import InvokeResponse, LambdaInvoker

    from infra.runtime import LambdaError, ResourceNotFound

    class RuntimeInvoker(LambdaInvoker):
        def invoke(self, function_name: str, input: Any, endpoint_url: str | None = None,  # noqa: A002
                   tenant_id: str | None = None, account_id: str | None = None,
                   region_name: str | None = None) -> Any:
            name = function_name if function_name.startswith("arn:") else function_name.split(":")[0]
            try:
                payload, errored, ran = runtime.invoke_payload(name, input.to_json_dict(), tenant_id=tenant_id,
                                                               durable_handler=True)
            except ResourceNotFound as exc:
                raise ResourceNotFoundException(f"Function not found: {function_name}") from exc
            except LambdaError as exc:  # throttled, refused
                raise DurableFunctionsTestError(f"Lambda invocation failed: {exc}") from exc
            if errored:  # the handler raised outside the SDK, or timed out: the invocation failed (retried)
                raise DurableFunctionsTestError(f"Lambda invocation failed: {payload.decode('utf-8', 'replace')}")
            return InvokeResponse.from_payload(payload, ran.request_id)

    return RuntimeInvoker(lambda_client=None, max_page_bytes=max_page_bytes)


def answer_request(runtime: Any, method: str, url: str, headers: dict[str, str], body: bytes
                   ) -> tuple[int, dict[str, str], bytes]:
    """A request of the durable execution API for `runtime`'s service (over HTTP or in process); 503 once the local
    cloud has stopped."""
    from infra.runtime import LambdaError

    try:
        service = runtime.durable()
    except LambdaError as exc:
        return _error(503, "ServiceException", str(exc))
    return service.answer(method, url, headers, body)


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """An error answer of the API as Lambda's: a JSON body and its x-amzn-ErrorType."""
    payload = json.dumps({"Type": "User" if status < 500 else "Service", "message": message}).encode()
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code,
                    "Content-Length": str(len(payload))}, payload
