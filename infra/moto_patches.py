"""The moto changes the deployer's resources need, in one place: each a Patch with apply() and revert().

moto is pinned (pyproject.toml); tests/infra/test_moto_patches.py fails loudly if an upgrade moves what these
replace. `apply_all(runtime)` and `revert_all()` are called by LocalCloud around the embedded emulator's life.
(The runtime's `_invoke_lambda`, the emulator's DynamoDB lock and Step Functions reuse, and the @connections
forwarding are older patches that live beside the code they serve: infra/runtime.py, infra/emulator.py,
api_gateway/connections.py.)
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from infra.runtime import LambdaRuntime, ResourceNotFound

logger = logging.getLogger("notifyx.moto_patches")


@dataclass
class Patch:
    """One replacement inside moto: why, how to put it in, how to take it out."""

    name: str
    why: str
    apply: Callable[[], None]
    revert: Callable[[], None]


_runtime: LambdaRuntime | None = None
_code_dirs: list[Path] = []
_lock = threading.Lock()


# --------------------------------------------------------------------------- no Docker client
def _no_docker(self: Any) -> Any:
    raise AttributeError("the local cloud runs handlers itself: no Docker client")


def _apply_no_docker() -> None:
    from moto.awslambda.models import LambdaFunction

    LambdaFunction.docker_client = property(_no_docker)


def _revert_no_docker() -> None:
    from moto.awslambda.models import LambdaFunction

    if "docker_client" in LambdaFunction.__dict__:
        del LambdaFunction.docker_client


# --------------------------------------------------------------------------- UpdateFunctionCode runs the new code
_original_update_code: Callable[..., Any] | None = None


def _update_function_code(self: Any, updated_spec: dict[str, Any]) -> Any:
    before = getattr(self, "code_sha_256", None)
    answer = _original_update_code(self, updated_spec)
    runtime = _runtime
    if runtime is None or getattr(self, "code_sha_256", None) == before or updated_spec.get("DryRun"):
        return answer
    folder = Path(tempfile.mkdtemp(prefix=f"notifyx-code-{self.function_name}-"))
    try:
        with zipfile.ZipFile(BytesIO(self.code_bytes)) as archive:
            archive.extractall(folder)
    except zipfile.BadZipFile:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with _lock:
        _code_dirs.append(folder)
    try:
        runtime.update_code(self.function_name, folder)
    except ResourceNotFound:
        pass      # a function created through the API, not by the deployer: the runtime does not run it
    return answer


def _apply_update_code() -> None:
    global _original_update_code
    from moto.awslambda.models import LambdaFunction

    if _original_update_code is None:
        _original_update_code = LambdaFunction.update_function_code
        LambdaFunction.update_function_code = _update_function_code


def _revert_update_code() -> None:
    global _original_update_code
    from moto.awslambda.models import LambdaFunction

    if _original_update_code is not None:
        LambdaFunction.update_function_code = _original_update_code
        _original_update_code = None
    with _lock:
        for folder in _code_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        _code_dirs.clear()


# --------------------------------------------------------------------------- SNS -> Lambda, asynchronously
_original_sns_publish: Callable[..., Any] | None = None


def sns_lambda_event(subscription: Any, message: str, message_id: str, subject: str | None,
                     message_attributes: dict[str, Any] | None) -> dict[str, Any]:
    """The event SNS gives a subscribed function (moto's has placeholder ids and attributes)."""
    now = datetime.now(UTC)
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription.arn,
        "Sns": {
            "Type": "Notification", "MessageId": message_id, "TopicArn": subscription.topic.arn,
            "Subject": subject, "Message": message,
            "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "SignatureVersion": "1", "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-local.pem",
            "UnsubscribeUrl": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                              f"{subscription.arn}",
            "MessageAttributes": {k: {"Type": v["Type"], "Value": v["Value"]}
                                  for k, v in (message_attributes or {}).items()},
        }}]}


def _sns_publish(self: Any, message: str, message_id: str, subject: str | None = None,
                 message_attributes: dict[str, Any] | None = None, group_id: str | None = None,
                 deduplication_id: str | None = None, message_structure: str | None = None) -> None:
    runtime = _runtime
    if self.protocol != "lambda" or runtime is None:
        return _original_sns_publish(self, message, message_id, subject, message_attributes, group_id,
                                     deduplication_id, message_structure)
    # what moto's publish does first: the subscription's filter policy, the per-protocol message
    if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(message_attributes,
                                                                                            message):
        return None
    if message_structure == "json":
        message = self._parse_message_structure(message, self.protocol)
    from infra.async_invoke import invoke_async

    # SNS invokes a function asynchronously: retries, dead-letter queue and destinations apply
    try:
        invoke_async(runtime, self.endpoint,
                     sns_lambda_event(self, message, message_id, subject, message_attributes))
    except ResourceNotFound:
        logger.warning("SNS subscription %s: no function %s", self.arn, self.endpoint)
    return None


def _apply_sns_lambda() -> None:
    global _original_sns_publish
    from moto.sns.models import Subscription

    if _original_sns_publish is None:
        _original_sns_publish = Subscription.publish
        Subscription.publish = _sns_publish


def _revert_sns_lambda() -> None:
    global _original_sns_publish
    from moto.sns.models import Subscription

    if _original_sns_publish is not None:
        Subscription.publish = _original_sns_publish
        _original_sns_publish = None


# --------------------------------------------------------------------------- Event invokes over HTTP are async
_original_backend_invoke: Callable[..., Any] | None = None


def _backend_invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
                    response_headers: dict[str, str]) -> Any:
    runtime = _runtime
    if runtime is None or qualifier or headers.get("X-Amz-Invocation-Type") != "Event":
        return _original_backend_invoke(self, function_name, qualifier, body, headers, response_headers)
    from infra.async_invoke import invoke_async

    function = self.get_function(function_name, qualifier)      # moto's ResourceNotFoundException if none
    try:
        event = json.loads(body or "{}")
    except ValueError:
        event = body
    try:
        invoke_async(runtime, function.function_name, event)
    except ResourceNotFound:
        return _original_backend_invoke(self, function_name, qualifier, body, headers, response_headers)
    response_headers["Content-Length"] = "0"
    return b""          # moto's response answers 202 to an Event invoke


def _apply_event_invoke() -> None:
    global _original_backend_invoke
    from moto.awslambda.models import LambdaBackend

    if _original_backend_invoke is None:
        _original_backend_invoke = LambdaBackend.invoke
        LambdaBackend.invoke = _backend_invoke


def _revert_event_invoke() -> None:
    global _original_backend_invoke
    from moto.awslambda.models import LambdaBackend

    if _original_backend_invoke is not None:
        LambdaBackend.invoke = _original_backend_invoke
        _original_backend_invoke = None


# --------------------------------------------------------------------------- WebSocket APIs say wss://
_original_api_init: Callable[..., Any] | None = None


def _api_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_api_init(self, *args, **kwargs)
    if self.protocol_type == "WEBSOCKET":
        self.api_endpoint = "wss://" + self.api_endpoint.removeprefix("https://")


def _apply_wss_endpoint() -> None:
    global _original_api_init
    from moto.apigatewayv2.models import Api

    if _original_api_init is None:
        _original_api_init = Api.__init__
        Api.__init__ = _api_init


def _revert_wss_endpoint() -> None:
    global _original_api_init
    from moto.apigatewayv2.models import Api

    if _original_api_init is not None:
        Api.__init__ = _original_api_init
        _original_api_init = None


PATCHES = (
    Patch("lambda-no-docker", "moto's LambdaFunction.docker_client raises without Docker, which made "
          "/moto-api/data.json answer 500; the runtime never needs Docker", _apply_no_docker, _revert_no_docker),
    Patch("lambda-update-code", "moto stores UpdateFunctionCode's zip; the runtime must run it, cold",
          _apply_update_code, _revert_update_code),
    Patch("sns-lambda-async", "moto invokes a subscribed function synchronously inside Publish with a placeholder "
          "event; SNS invokes it asynchronously (retries, DLQ) with the real ids and attributes",
          _apply_sns_lambda, _revert_sns_lambda),
    Patch("lambda-event-invoke", "moto runs InvocationType=Event synchronously, once; Lambda queues it (202 at once) "
          "and retries it (requests from other processes reach moto; this process's are answered by the runtime)",
          _apply_event_invoke, _revert_event_invoke),
    Patch("websocket-api-endpoint", "moto's ApiEndpoint is https:// for every API; a WebSocket API's is wss://",
          _apply_wss_endpoint, _revert_wss_endpoint),
)


def apply_all(runtime: LambdaRuntime) -> None:
    """Put every patch in; `runtime` runs the functions they reach."""
    global _runtime
    _runtime = runtime
    for patch in PATCHES:
        patch.apply()


def revert_all() -> None:
    """Take every patch out (moto as installed)."""
    global _runtime
    for patch in reversed(PATCHES):
        patch.revert()
    _runtime = None
