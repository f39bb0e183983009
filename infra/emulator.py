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
        self.port = self._server.get_host_and_port()[1]
        # moto's Step Functions interpreter reaches Lambda at http://localhost:$MOTO_PORT
        os.environ["MOTO_PORT"] = str(self.port)
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        reuse_step_functions_lambda_clients()
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
