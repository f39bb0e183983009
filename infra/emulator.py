"""The AWS APIs of the local cloud: moto's server, in this process, on 127.0.0.1."""
from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import urllib.parse
import urllib.request
from typing import Any

from werkzeug.wsgi import get_content_length

from api_gateway.connections import request_body
from infra import account, durable, ids, moto_patches, response_streams

DEFAULT_PORT = 4566  # LocalStack's port, so awslocal / aws --endpoint-url work unchanged


class EmulatorError(Exception):
    """The emulator cannot start."""


#: JSON-protocol services with operations called without a signature (botocore's `authtype: none`: Cognito's sign-up,
#: sign-in and token calls): an unsigned request to any other X-Amz-Target is refused as AWS refuses it
_UNSIGNED_TARGETS = ("AWSCognitoIdentityProviderService.", "AWSCognitoIdentityService.")
_MISSING_SIGNATURE = json.dumps({"__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
                                 "message": "Request is missing Authentication Token"}).encode()
#: query-protocol operations called without a signature (botocore's `authtype: none`, all services scanned: STS's
#: web identity and SAML federation); an unsigned request naming any other Action is refused as AWS refuses it
_UNSIGNED_ACTIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
#: a signature in the query string or form (SigV4 or SigV2 query authentication: presigned URLs)
_QUERY_SIGNATURES = ("X-Amz-Signature", "X-Amz-Credential", "Signature", "AWSAccessKeyId")
#: the longest unsigned form body read to find its Action (a larger one goes to moto as it came)
_MAX_FORM_BYTES = 1 << 20
_QUERY_MISSING_SIGNATURE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
    "<Code>MissingAuthenticationToken</Code><Message>The request must contain either a valid (registered) AWS "
    "access key ID or X.509 certificate.</Message></Error><RequestId>{}</RequestId></ErrorResponse>")
#: Lambda's Invoke and InvokeAsync: the body is the event, whatever Content-Type the request says
_INVOKE_PATH = re.compile(r"/2015-03-31/functions/[^/]+/invocations/?|/2014-11-13/functions/[^/]+/invoke-async/?")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _refuse_browsers(server: Any) -> None:
    """No web page may call the emulator: it checks no signature, so a page could write any table.

    moto's server reflects any Origin and answers CORS preflights; every request a browser sends cross-origin
    carries an Origin header (SDKs and CLIs never do), so those are refused with 403 before moto sees them.

    Also: Lambda takes an Invoke's body as the event whatever its Content-Type, but werkzeug parses a form type's
    body into form fields and moto then sees none (404, nothing run): ``curl --aws-sigv4 ... -d '{...}'`` sends
    ``application/x-www-form-urlencoded``. An Invoke's form type is not passed on, so the body reaches moto as sent.
    And InvokeWithResponseStream, which moto has not, is answered here (infra/response_streams.py); an unsigned
    JSON-protocol request (X-Amz-Target without Authorization) or query-protocol one (an Action, no signature in the
    header, query string or form) is refused, but for the operations AWS takes unsigned.
    """
    app = server.app

    def guarded(environ: dict, start_response):  # noqa: ANN202 - WSGI
        if "HTTP_ORIGIN" in environ:
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"message": "requests from web pages are refused"}']
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target and "HTTP_AUTHORIZATION" not in environ and not target.startswith(_UNSIGNED_TARGETS):
            # moto would route an unsigned request by its host alone (to S3: a ListTables answered ListBuckets)
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"),
                                               ("x-amzn-ErrorType", "MissingAuthenticationTokenException")])
            return [_MISSING_SIGNATURE]
        if not target and "HTTP_AUTHORIZATION" not in environ and _unsigned_query_action(environ):
            # the same for the query protocol (Action=...): AWS's common error, HTTP 403
            start_response("403 Forbidden", [("Content-Type", "text/xml")])
            return [_QUERY_MISSING_SIGNATURE.format(ids.request_id()).encode()]
        if environ.get("CONTENT_TYPE", "").startswith(_FORM_TYPES) and _INVOKE_PATH.fullmatch(
                environ.get("PATH_INFO", "")):
            environ["CONTENT_TYPE"] = "application/octet-stream"
        if durable.is_api_path(environ.get("PATH_INFO", "")):  # Lambda durable executions: infra/durable.py
            from infra import runtime

            if runtime.attached() is not None:
                return _durable_wsgi(runtime.attached(), environ, start_response)
        streamed = response_streams.PATH.fullmatch(environ.get("PATH_INFO", ""))
        if streamed is not None:  # InvokeWithResponseStream, which moto has not: infra/response_streams.py
            from infra import runtime

            if runtime.attached() is not None:
                return response_streams.wsgi(runtime.attached(), environ, start_response, streamed["name"])
        return app(environ, start_response)

    server.app = guarded


def _unsigned_query_action(environ: dict) -> bool:
    """Whether a request without an Authorization header names a query-protocol Action (in its query string, or
    its url-encoded form body, which is read and put back) that AWS takes only signed, with no signature of the
    query kind either. A form body without a Content-Length, or over _MAX_FORM_BYTES, is not looked into."""
    fields = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" not in fields and environ.get("REQUEST_METHOD") == "POST" and environ.get(
            "CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        size = get_content_length(environ) or 0
        if not 0 < size <= _MAX_FORM_BYTES:
            return False
        body = environ["wsgi.input"].read(size)
        environ["wsgi.input"] = io.BytesIO(body)
        fields = {**urllib.parse.parse_qs(body.decode("latin-1")), **fields}
    actions = fields.get("Action")
    if not actions or any(name in fields for name in _QUERY_SIGNATURES):
        return False
    return actions[0] not in _UNSIGNED_ACTIONS


def _durable_wsgi(runtime: Any, environ: dict, start_response: Any) -> list[bytes]:
    """A request of Lambda's durable execution API, answered by the runtime's durable execution service."""
    from http import HTTPStatus

    size = get_content_length(environ) or 0
    if size > durable.MAX_REQUEST_BYTES:  # as the service's own limit on a checkpoint: never read whole
        start_response("413 Request Entity Too Large", [("Content-Type", "application/json"),
                                                        ("x-amzn-ErrorType", "RequestTooLargeException")])
        return [json.dumps({"Type": "User", "message": f"Request must be smaller than "
                                                        f"{durable.MAX_REQUEST_BYTES} bytes"}).encode()]
    body = environ["wsgi.input"].read(size) if size > 0 else b""
    # as sent: an execution ARN's "/" is %2F in its path segment, which PATH_INFO has decoded
    url = environ.get("RAW_URI") or environ.get("REQUEST_URI") or (
        environ.get("PATH_INFO", "") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""))
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")}
    status, answer_headers, payload = durable.answer_request(runtime, environ.get("REQUEST_METHOD", "GET"), url,
                                                             headers, body)
    start_response(f"{status} {HTTPStatus(status).phrase}", list(answer_headers.items()))
    return [payload]


def emulator_host(netloc: str, hosts: set[str]) -> bool:
    """Whether a request to `netloc` is for the emulator at one of `hosts`, behind an operation's host prefix or
    not: botocore sends StartSyncExecution to ``sync-127.0.0.1:<port>`` and Cloud Map's DiscoverInstances to
    ``data-127.0.0.1:<port>``, names no resolver knows. Functions get AWS_DISABLE_HOST_PREFIX_INJECTION=true,
    other processes must set it; a client of this process that kept the prefix is answered here all the same."""
    if netloc in hosts:
        return True
    for host in hosts:
        if netloc.endswith(host) and len(netloc) > len(host):
            prefix = netloc[:-len(host)]
            return prefix[-1] in "-." and _HOST_PREFIX.fullmatch(prefix) is not None
    return False


_HOST_PREFIX = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")


class _MotoServer:
    """moto's server application on werkzeug's threaded server, as moto's ThreadedMotoServer runs it, with the serving
    loop's wait for a stop at 0.1 s: ThreadedMotoServer serves with werkzeug's default of 0.5 s, which every stop of a
    local cloud waited out (0.34 s on average)."""

    def __init__(self, host: str, port: int) -> None:
        import threading

        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        try:
            self.wsgi = make_server(host, port, DomainDispatcherApplication(create_backend_app), threaded=True,
                                    request_handler=MotoRequestHandler)
        except SystemExit:  # werkzeug's word for a port it could not bind (Emulator.start looked first)
            raise EmulatorError(f"cannot listen on {host}:{port}") from None
        self._thread = threading.Thread(target=self.wsgi.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="emulator-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.wsgi.shutdown()
        self.wsgi.server_close()
        self._thread.join()


class Emulator:
    """moto's server on 127.0.0.1:<port> (0 = a free port) with Step Functions execution enabled."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._server = None

    @property
    def endpoint(self) -> str:
        """Base URL of the running emulator."""
        if self.port is None:
            raise RuntimeError("emulator is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Emulator:
        """Start the server, publish MOTO_PORT and enable Step Functions execution before any machine exists."""
        import socket

        if self.requested_port:
            # werkzeug prints and exits on a taken port: say which port, and what else may hold it
            with socket.socket() as probe:
                # as the server itself binds (werkzeug sets SO_REUSEADDR): a port whose last connections are in
                # TIME_WAIT after a clean stop is free, as it is for the server
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.host, self.requested_port))
                except OSError as exc:
                    raise EmulatorError(f"cannot listen on {self.host}:{self.requested_port} ({exc.strerror}): "
                                        "another notifyx up or LocalStack? Use another --aws-port (0 = any)") from None

        # moto's Step Functions interpreter logs huge reprs at ERROR for failures the ASL catches
        for name in ("moto.stepfunctions", "werkzeug", "moto.stepfunctions.parser"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        moto_patches.apply_emulator()
        self._server = _MotoServer(self.host, self.requested_port)
        _refuse_browsers(self._server.wsgi)
        self.port = self._server.wsgi.server_address[1]
        # moto's Step Functions interpreter reaches Lambda at http://localhost:$MOTO_PORT
        os.environ["MOTO_PORT"] = str(self.port)
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        return self

    def _post(self, path: str, body: dict) -> bytes:
        req = urllib.request.Request(self.endpoint + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - our own loopback server
            return resp.read()

    def stop(self) -> None:
        """Stop the server and reset moto's process-global backends, so another emulator can start here."""
        if self._server is None:
            return
        try:
            self._server.stop()
        finally:
            self._server = None
            reset_backends()
            moto_patches.revert_emulator()


def reset_backends() -> None:
    """Forget every resource in moto's in-process backends."""
    from moto.core.config import default_user_config
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    default_user_config["stepfunctions"]["execute_state_machine"] = False


# --------------------------------------------------------------------------- in-process requests
#: botocore service id (as in "before-send.<id>.<Operation>") -> the AWS endpoint prefix moto routes on.
#: Only services whose answers do not embed the request's host; S3 (checksums, chunked uploads) stays on HTTP.
IN_PROCESS_SERVICES = {"dynamodb": "dynamodb", "dynamodb-streams": "streams.dynamodb", "sfn": "states",
                       "sqs": "sqs", "ses": "email", "sesv2": "email", "cloudwatch": "monitoring",
                       "eventbridge": "events", "xray": "xray", "servicediscovery": "servicediscovery",
                       "cloudwatch-logs": "logs"}
#: operations whose answers carry a URL built from the request's host: these go over HTTP
_HOST_IN_ANSWER = {"sqs": {"CreateQueue", "GetQueueUrl", "ListQueues", "ListDeadLetterSourceQueues"}}


class InProcessRequests:
    """A botocore before-send handler: requests for the embedded emulator's address go to moto's backends directly.

    The server keeps serving other processes (CLI, browser, awslocal); in this process the HTTP round trip
    (about 7 ms of CPU per DynamoDB call here, against 2.5 ms in process) is skipped. Same backends, same state.
    """

    def __init__(self) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        self.hosts: set[str] = set()
        self._stubber = BotocoreStubber()
        self._stubber.enabled = True

    def __call__(self, request: object, event_name: str = "", **_: object) -> object:
        from urllib.parse import urlsplit

        # a session may hold this handler twice (BUILTIN_HANDLERS and boto3's default session, after an earlier
        # LocalCloud in this process): answer once, or every write would be applied twice
        answered = getattr(request, "_notifyx_in_process_answer", None)
        if answered is not None:
            return answered
        url = urlsplit(request.url)  # type: ignore[attr-defined]
        if not emulator_host(url.netloc, self.hosts):
            return None
        parts = event_name.split(".")
        if len(parts) < 3:
            return None
        service, operation = parts[1], parts[2]
        if service == "lambda" and durable.is_api_path(url.path):
            return self._durable(request, url)
        prefix = IN_PROCESS_SERVICES.get(service)
        if prefix is None or operation in _HOST_IN_ANSWER.get(service, ()):
            return None
        from botocore.awsrequest import AWSPreparedRequest, AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        # the region the request was signed for, as the emulator's HTTP path reads it from the credential scope
        region = _signed_region(request.headers) or account.region_of_this_process()  # type: ignore[attr-defined]
        target = f"https://{prefix}.{region}.amazonaws.com{url.path or '/'}" + (f"?{url.query}" if url.query else "")
        body = request.body  # type: ignore[attr-defined]
        if hasattr(body, "read"):
            body = body.read()
        aws_request = AWSPreparedRequest(method=request.method, url=target,  # type: ignore[attr-defined]
                                         headers=request.headers, body=body,  # type: ignore[attr-defined]
                                         stream_output=False)
        answer = self._stubber.process_request(aws_request)
        if answer is None:
            return None
        status, headers, payload = answer
        response = AWSResponse(request.url, status, headers, MockRawResponse(payload))  # type: ignore[attr-defined]
        request._notifyx_in_process_answer = response  # type: ignore[attr-defined]
        return response

    @staticmethod
    def _durable(request: Any, url: Any) -> object:
        """A durable execution API request of this process (a sandbox's SDK checkpointing), answered in process."""
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        from infra import runtime

        attached = runtime.attached()
        if attached is None:
            return None
        headers = {k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in request.headers.items()}
        status, answer_headers, payload = durable.answer_request(
            attached, request.method, url.path + (f"?{url.query}" if url.query else ""), headers,
            request_body(request))
        response = AWSResponse(request.url, status, answer_headers, MockRawResponse(payload))
        request._notifyx_in_process_answer = response
        return response


def _signed_region(headers: Any) -> str | None:
    """The region of a SigV4 Authorization header's credential scope (None when unsigned), read by moto's own
    helper."""
    from moto.core.utils import extract_region_from_aws_authorization

    authorization = headers.get("Authorization") if headers is not None else None
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    return extract_region_from_aws_authorization(authorization) if authorization else None


in_process_requests: InProcessRequests | None = None
direct_dynamodb: DirectDynamoDB | None = None
direct_sfn: DirectStepFunctions | None = None


def serve_in_process(endpoint: str) -> None:
    """Answer this process's botocore requests for `endpoint` in process (see InProcessRequests)."""
    global in_process_requests, direct_dynamodb, direct_sfn
    from urllib.parse import urlsplit

    import boto3
    import botocore.handlers

    if in_process_requests is None:
        in_process_requests = InProcessRequests()
        direct_dynamodb = DirectDynamoDB(in_process_requests.hosts)
        botocore.handlers.BUILTIN_HANDLERS.append(("before-send", in_process_requests))
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call.dynamodb", direct_dynamodb))
        direct_sfn = DirectStepFunctions(in_process_requests.hosts)
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call.sfn", direct_sfn))
    if boto3.DEFAULT_SESSION is not None:
        # sessions copy BUILTIN_HANDLERS when created; boto3's default one may already exist
        boto3.DEFAULT_SESSION.events.register("before-send", in_process_requests, unique_id="notifyx-in-process")
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", direct_dynamodb,
                                              unique_id="notifyx-direct-dynamodb")
        boto3.DEFAULT_SESSION.events.register("before-call.sfn", direct_sfn, unique_id="notifyx-direct-sfn")
    port = urlsplit(endpoint).port
    in_process_requests.hosts.update({f"127.0.0.1:{port}", f"localhost:{port}"})


def stop_serving_in_process() -> None:
    """Requests for any emulator go over HTTP again."""
    if in_process_requests is not None:
        in_process_requests.hosts.clear()


# --------------------------------------------------------------------------- the local cloud's own logs
def write_logs(group: str, stream: str, events: list[dict[str, Any]]) -> None:
    """Log events the local cloud's services write themselves (Lambda's output), straight into moto's CloudWatch
    Logs backend: the group and stream are created on first use, as Lambda creates them. On AWS this is no API
    call of the account either; going through PutLogEvents over the in-process HTTP path cost ~30% of the
    emulator's CPU under publish load."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.logs.exceptions import ResourceAlreadyExistsException
    from moto.logs.models import logs_backends

    region = account.region_of_this_process()
    backend = logs_backends[DEFAULT_ACCOUNT_ID][region]
    if group not in backend.groups:
        try:
            backend.create_log_group(group, {})
        except ResourceAlreadyExistsException:
            pass
    if stream not in backend.groups[group].streams:
        try:
            backend.create_log_stream(group, stream)
        except ResourceAlreadyExistsException:
            pass
    backend.put_log_events(group, stream, events)
    _bound_log_group(backend.groups[group])


#: log events kept per log group of the local cloud's own logs; the oldest go first, as with a log group's
#: retention on AWS (which is by age). NOTIFYX_LOG_RETENTION_EVENTS sets it; 0 keeps everything.
LOG_RETENTION_EVENTS = int(os.environ.get("NOTIFYX_LOG_RETENTION_EVENTS", "5000"))


def _bound_log_group(group: Any) -> None:
    if LOG_RETENTION_EVENTS <= 0:
        return
    streams = list(group.streams.values())
    total = sum(len(stream.events) for stream in streams)
    if total <= LOG_RETENTION_EVENTS:
        return
    excess = total - LOG_RETENTION_EVENTS * 9 // 10  # trim to 90%, so that trimming is not on every write
    # events are appended in time order within a stream: drop from the streams whose first event is oldest
    for stream in sorted((s for s in streams if s.events), key=lambda s: s.events[0].timestamp):
        if excess <= 0:
            break
        dropped = stream.events[:excess]
        del stream.events[:excess]
        stream.stored_bytes -= sum(len(event.message) for event in dropped)
        excess -= len(dropped)


# --------------------------------------------------------------------------- DynamoDB item calls, direct
#: item-level operations answered from moto's DynamoDB handler without the wire on either side. Their outputs
#: hold no timestamps, and moto's results already carry blobs as bytes, as botocore's parser gives them.
DIRECT_DYNAMODB_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems"})


class DirectCalls:
    """A botocore ``before-call`` handler: calls of `OPERATIONS` to the embedded emulator run moto's response
    method for them on the request's parameters, and botocore gets the result as its parser would have built it.

    Skipped on both sides, against the in-process HTTP path: SigV4 signing, the HTTP request objects, moto's
    URL routing and request parsing, moto's response serializer and botocore's response parser (~60% of the CPU
    of a DynamoDB call). What stays is what AWS's behaviour depends on: botocore still validates and serializes
    the parameters (a bad call fails as on AWS), moto's method validates and runs the operation, and an error
    takes moto's serializer and botocore's error parser, so clients get the same exception with the same fields.
    """

    OPERATIONS: frozenset[str] = frozenset()

    def __init__(self, hosts: set[str]) -> None:
        self.hosts = hosts

    def __call__(self, model: object, params: dict, context: dict | None = None, **_: object) -> object:
        operation = model.name  # type: ignore[attr-defined]
        if operation not in self.OPERATIONS:
            return None
        url = params.get("url", "")
        netloc = url.split("/", 3)[2] if url.count("/") >= 2 else ""
        if not emulator_host(netloc, self.hosts):
            return None
        from botocore.awsrequest import AWSResponse
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.exceptions import HTTPException, ServiceException
        from moto.core.responses import ActionResult

        handler = self.handler(params.get("body") or b"{}")
        handler.headers = params.get("headers") or {}
        handler.querystring = {}
        handler.uri_match = {}
        # the region the client signs for (before-call comes before signing: the request context has it)
        handler.region = (context or {}).get("client_region") or account.region_of_this_process()
        handler.current_account = DEFAULT_ACCOUNT_ID
        request_id = ids.request_id()
        try:
            result = self.run(handler, _snake(operation))
        except ServiceException as exc:
            status, wire_headers, wire_body = handler.serialized(ActionResult(exc))
        except HTTPException as exc:
            status, wire_headers, wire_body = exc.code, dict(exc.get_headers() or []), exc.get_body()
        else:
            parsed = self.parsed(result.result, model.output_shape)  # type: ignore[attr-defined]
            parsed["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": 200,
                                          "HTTPHeaders": {"x-amzn-requestid": request_id,
                                                          "content-type": "application/x-amz-json-1.0"},
                                          "RetryAttempts": 0}
            return AWSResponse(url, 200, {"x-amzn-requestid": request_id}, None), parsed
        return _parsed_error(url, model, status, wire_headers, wire_body, request_id)

    def handler(self, body: bytes) -> Any:
        """moto's response object for the service, holding the request's parameters."""
        raise NotImplementedError

    def run(self, handler: Any, method: str) -> Any:
        return getattr(handler, method)()

    def parsed(self, result: dict[str, Any], shape: Any) -> dict[str, Any]:
        """moto's result as botocore's parser would give it."""
        return _as_parsed(result, shape)


class DirectDynamoDB(DirectCalls):
    """DynamoDB item calls, under the emulator's DynamoDB lock (each request atomic, as on DynamoDB)."""

    OPERATIONS = DIRECT_DYNAMODB_OPERATIONS

    def handler(self, body: bytes) -> Any:
        from moto.dynamodb.responses import DynamoHandler

        request = json.loads(body)
        if b'"B' in body:
            request = _decode_blobs(request)
        handler = DynamoHandler()
        handler.params = request
        handler.body = request
        return handler

    def run(self, handler: Any, method: str) -> Any:
        with moto_patches.DYNAMODB_LOCK:
            return getattr(handler, method)()

    def parsed(self, result: dict[str, Any], shape: Any) -> dict[str, Any]:
        # no timestamps in item calls' outputs; a copy that shares no list or dict with the stored items
        return {k: _copy(v) for k, v in result.items() if k in shape.members}


@functools.cache  # a handful of operation names, converted once each
def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")



# --------------------------------------------------------------------------- Step Functions calls, direct
#: what a Lambda function of a workflow app calls on every request: start an execution and watch it
DIRECT_SFN_OPERATIONS = frozenset({"StartExecution", "DescribeExecution", "StartSyncExecution"})


class DirectStepFunctions(DirectCalls):
    """StartExecution, DescribeExecution and StartSyncExecution (a workflow app's Lambda functions call them on
    every request): moto's serializer, routing and SigV4 were ~15% of the emulator's CPU under publish load. Errors
    (ExecutionAlreadyExists, which idempotent starts rely on, ExecutionDoesNotExist) come as over HTTP."""

    OPERATIONS = DIRECT_SFN_OPERATIONS

    def handler(self, body: bytes) -> Any:
        from moto.stepfunctions.responses import StepFunctionResponse

        handler = StepFunctionResponse()
        handler.body = body.decode() if isinstance(body, bytes) else body
        handler.params = json.loads(handler.body)
        return handler


def _as_parsed(value: Any, shape: Any) -> Any:
    """moto's result in the form botocore's parser gives: the shape's members only, timestamps as datetimes with
    botocore's time zone handling (via the wire's epoch seconds)."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        return {name: _as_parsed(value[name], member) for name, member in shape.members.items()
                if value.get(name) is not None}
    if kind == "list":
        return [_as_parsed(item, shape.member) for item in value]
    if kind == "map":
        return {key: _as_parsed(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        from datetime import datetime

        from botocore.utils import parse_timestamp
        from moto.core.serialize import TimestampSerializer

        # epoch seconds to the millisecond, as moto's serializer puts them on the wire
        return parse_timestamp(TimestampSerializer._timestamp_unixtimestamp(value) if isinstance(value, datetime)
                               else value)
    return value


def _decode_blobs(value: object) -> object:
    """AttributeValues' B / BS members from base64, as moto's request parser decodes them."""
    import base64

    if isinstance(value, dict):
        if len(value) == 1:
            (key, member), = value.items()
            if key == "B" and isinstance(member, str):
                return {"B": base64.b64decode(member)}
            if key == "BS" and isinstance(member, list) and all(isinstance(m, str) for m in member):
                return {"BS": [base64.b64decode(m) for m in member]}
        return {k: _decode_blobs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_blobs(v) for v in value]
    return value


def _copy(value: object) -> object:
    """A copy of moto's result that shares no list or dict with its stored items (string sets are its lists)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _parsed_error(url: str, model: object, status: int, headers: dict, body: object,
                  request_id: str) -> tuple[object, dict]:
    from botocore.awsrequest import AWSResponse
    from botocore.parsers import create_parser

    raw = body.encode() if isinstance(body, str) else (body or b"")
    headers = {str(k).lower(): str(v) for k, v in dict(headers).items() if k != "status"}
    headers.setdefault("x-amzn-requestid", request_id)
    parser = create_parser("json")
    response = {"status_code": status, "headers": headers, "body": raw}
    parsed = parser.parse(response, model.output_shape)  # type: ignore[attr-defined]
    # the modeled fields of the error (CancellationReasons, Item, ...), as botocore's Endpoint adds them
    code = parsed.get("Error", {}).get("Code")
    error_shape = model.service_model.shape_for_error_code(code) if code else None  # type: ignore[attr-defined]
    if error_shape is not None:
        parsed.update(parser.parse(response, error_shape))
    parsed.setdefault("ResponseMetadata", {}).update(
        {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": headers, "RetryAttempts": 0})
    return AWSResponse(url, status, headers, None), parsed
