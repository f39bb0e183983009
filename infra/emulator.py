"""The AWS APIs of the local cloud: moto's server, in this process, on 127.0.0.1."""
from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request

DEFAULT_PORT = 4566  # LocalStack's port, so awslocal / aws --endpoint-url work unchanged


class EmulatorError(Exception):
    """The emulator cannot start."""


def _refuse_browsers(server: object) -> None:
    """No web page may call the emulator: it checks no signature, so a page could write any table.

    moto's server reflects any Origin and answers CORS preflights; every request a browser sends cross-origin
    carries an Origin header (SDKs and CLIs never do), so those are refused with 403 before moto sees them.
    """
    wsgi = getattr(server, "_server", None)  # moto's ThreadedMotoServer keeps its werkzeug server here
    if wsgi is None or not hasattr(wsgi, "app"):
        raise EmulatorError("moto's ThreadedMotoServer changed: cannot guard it against browsers")
    app = wsgi.app

    def guarded(environ: dict, start_response):  # noqa: ANN202 - WSGI
        if "HTTP_ORIGIN" in environ:
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"message": "requests from web pages are refused"}']
        return app(environ, start_response)

    wsgi.app = guarded


class Emulator:
    """moto's ThreadedMotoServer on 127.0.0.1:<port> (0 = a free port) with Step Functions execution enabled."""

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

        from moto.server import ThreadedMotoServer

        if self.requested_port:
            # moto's server thread dies silently on a taken port and start() would wait forever
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
        serialize_dynamodb()
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.requested_port, verbose=False)
        self._server.start()
        _refuse_browsers(self._server)
        self.port = self._server.get_host_and_port()[1]
        # moto's Step Functions interpreter reaches Lambda at http://localhost:$MOTO_PORT
        os.environ["MOTO_PORT"] = str(self.port)
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        reuse_step_functions_lambda_clients()
        reuse_state_machine_parse_trees()
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


_DYNAMODB_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Run moto's DynamoDB requests one at a time, so each is atomic as on DynamoDB.

    moto's UpdateItem ADD and TransactWriteItems read, change and write without isolation (and a failed
    transaction restores a copy of the table), so concurrent requests lose updates: 20 concurrent counter
    commits ended at 15-18. DynamoDB guarantees each request is atomic; one lock gives that here.
    """
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "_notifyx_serialized", False):
        return
    original = DynamoHandler.call_action

    def call_action(self):
        with _DYNAMODB_LOCK:
            return original(self)

    call_action._notifyx_serialized = True
    DynamoHandler.call_action = call_action


def reset_backends() -> None:
    """Forget every resource in moto's in-process backends."""
    from moto.core.config import default_user_config
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    default_user_config["stepfunctions"]["execute_state_machine"] = False


def reuse_step_functions_lambda_clients() -> None:
    """moto's interpreter builds a new boto3 Lambda client for every task (tens of ms of CPU each): reuse one.

    Clients are thread-safe; the interpreter's clients carry only dummy credentials and the server's address.
    """
    import threading

    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for
    if getattr(original, "notifyx_reuses_clients", False):
        return
    clients: dict[tuple[str, str, str, bool], object] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: object = None) -> object:
        # mock_aws (in-process interception) and the server port decide what the original client targets
        key = (region, service, os.environ.get("MOTO_PORT", ""), botocore_stubber.enabled)
        with lock:
            if key not in clients:
                clients[key] = original(region=region, service=service, state_credentials=state_credentials)
            return clients[key]

    boto_client_for.notifyx_reuses_clients = True  # type: ignore[attr-defined]
    lambda_eval_utils.boto_client_for = boto_client_for


def reuse_state_machine_parse_trees() -> None:
    """moto parses a state machine's ASL again for every execution (ANTLR, ~80 ms of CPU): keep the parse tree.

    Each execution still gets fresh evaluation components (the Preprocessor runs per call), so no state is shared;
    only the read-only syntax tree of an identical definition is reused.
    """
    import threading

    from moto.stepfunctions.parser.asl.parse import asl_parser

    parser_class = asl_parser.AmazonStateLanguageParser
    if getattr(parser_class.parse, "notifyx_reuses_trees", False):
        return
    trees: dict[str, object] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[object, object]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            listener = asl_parser.SyntaxErrorListener()
            parser = asl_parser.ASLParser(asl_parser.CommonTokenStream(
                asl_parser.ASLLexer(asl_parser.InputStream(definition))))
            parser.removeErrorListeners()
            parser.addErrorListener(listener)
            tree = parser.state_machine()
            if listener.errors:
                raise asl_parser.ASLParserException(errors=listener.errors)
            with lock:
                if len(trees) > 256:
                    trees.clear()
                trees[definition] = tree
        return asl_parser.Preprocessor().visit(tree), tree

    parse.notifyx_reuses_trees = True  # type: ignore[attr-defined]
    parser_class.parse = staticmethod(parse)


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
        if url.netloc not in self.hosts:
            return None
        parts = event_name.split(".")
        if len(parts) < 3:
            return None
        service, operation = parts[1], parts[2]
        prefix = IN_PROCESS_SERVICES.get(service)
        if prefix is None or operation in _HOST_IN_ANSWER.get(service, ()):
            return None
        from botocore.awsrequest import AWSPreparedRequest, AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
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


in_process_requests: InProcessRequests | None = None


def serve_in_process(endpoint: str) -> None:
    """Answer this process's botocore requests for `endpoint` in process (see InProcessRequests)."""
    global in_process_requests
    from urllib.parse import urlsplit

    import boto3
    import botocore.handlers

    if in_process_requests is None:
        in_process_requests = InProcessRequests()
        botocore.handlers.BUILTIN_HANDLERS.append(("before-send", in_process_requests))
    if boto3.DEFAULT_SESSION is not None:
        # sessions copy BUILTIN_HANDLERS when created; boto3's default one may already exist
        boto3.DEFAULT_SESSION.events.register("before-send", in_process_requests, unique_id="notifyx-in-process")
    port = urlsplit(endpoint).port
    in_process_requests.hosts.update({f"127.0.0.1:{port}", f"localhost:{port}"})


def stop_serving_in_process() -> None:
    """Requests for any emulator go over HTTP again."""
    if in_process_requests is not None:
        in_process_requests.hosts.clear()
