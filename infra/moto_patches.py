"""Every change the local cloud makes inside moto, in one registry (REGISTRY): each a patch with apply() and
revert(), a reason, and a guard test (tests/infra/test_moto_patches.py, tests/infra/test_moto_internals.py) that
fails loudly if an upgrade of the pinned moto moves what it replaces.

Two groups, by who needs them:
- EMULATOR_PATCHES: the emulator's own (atomic DynamoDB requests, TransactWriteItems without a table copy,
  Step Functions programs and JSON paths parsed once, bounded execution history); Emulator.start/stop;
- PATCHES: what the deployed template's resources need from moto, with the runtime that runs the functions;
  LocalCloud applies them with `apply_all(runtime)` and reverts them with `revert_all()`.
- CONNECTIONS_PATCHES: moto's @connections backend and botocore's HTTP send forward to the WebSocket data plane
  (api_gateway/connections.py); applied while the local cloud serves a WebSocket API;
- BOTOCORE_PATCHES: botocore's parsed models shared by every session of a process, each client's endpoints
  resolved once per operation and endpoint inputs, JSON-protocol bodies dumped without botocore's member-by-member
  copy, user agents kept per feature set (the runtime and the sandboxes' fork server apply them);
- PERSISTENCE_PATCHES and OBSERVABILITY_PATCHES: durable state's journal and the metrics/traces of the local cloud.
(The runtime's `_invoke_lambda` is installed by the code it serves: infra/runtime.attach_to_moto.) The botocore
handlers that answer calls in
process (emulator.InProcessRequests, emulator.DirectDynamoDB, runtime's fast invoke) are not patches: they are
registered on botocore's documented event system.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import copy
import functools
import gzip
import hashlib
import inspect
import json
import logging
import math
import os
import pickle
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from infra import account
from infra.ids import request_id
from infra.runtime import LambdaRuntime, Ran, ResourceNotFound, payload_too_large, running_with

logger = logging.getLogger("notifyx.moto_patches")


@dataclass
class Patch:
    """One replacement inside moto: why, how to put it in, how to take it out."""

    name: str
    why: str
    apply: Callable[[], None]
    revert: Callable[[], None]


@dataclass
class Replacement:
    """A patch that replaces one moto attribute: `owner.attr` becomes what `build(original)` returns."""

    name: str
    owner: Callable[[], Any]
    attr: str
    build: Callable[[Any], Any]
    why: str
    _original: Any = field(default=None, repr=False)

    @property
    def applied(self) -> bool:
        return self._original is not None

    def apply(self) -> None:
        """Install the replacement (idempotent). An attribute moto lacks (an operation it does not route) is added:
        build() gets None, and revert() takes it out again. One a class inherits is set on the class: build() gets
        the inherited one, and revert() takes the class's own out again."""
        if self.applied:
            return
        target = self.owner()
        # the raw attribute of the target itself (a staticmethod stays one when reverted); build() gets the callable
        raw = vars(target).get(self.attr, _ABSENT)
        setattr(target, self.attr, self.build(getattr(target, self.attr, None)))
        self._original = raw

    def revert(self) -> None:
        """Put moto's original back (idempotent)."""
        if not self.applied:
            return
        if self._original is _ABSENT:
            delattr(self.owner(), self.attr)
        else:
            setattr(self.owner(), self.attr, self._original)
        self._original = None


_ABSENT = object()  # Replacement: moto has no such attribute


_runtime: LambdaRuntime | None = None
_code_dirs: list[Path] = []
_lock = threading.Lock()


# --------------------------------------------------------------------------- composite alarms
def _put_composite_alarm(self: Any) -> Any:
    """PutCompositeAlarm through moto's PutMetricAlarm handler, which reads AlarmRule "to re-use this method for
    composite alarms as well" (its words): name, rule, description, actions and ActionsEnabled, tags; no metric."""
    return self.put_metric_alarm()


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


def _sns_publish(self: Any, original: Callable[..., Any], message: str, message_id: str, subject: str | None = None,
                 message_attributes: dict[str, Any] | None = None, group_id: str | None = None,
                 deduplication_id: str | None = None, message_structure: str | None = None) -> None:
    runtime = _runtime
    if self.protocol == "sqs" and str(self.attributes.get("RawMessageDelivery")).lower() == "true" and \
            message_attributes:
        # a Binary attribute reaches the queue as its bytes: moto passed SNS's base64 text as the SQS BinaryValue,
        # and every ReceiveMessage asking for attributes then failed (TypeError hashing a str: a 500)
        message_attributes = {k: {**v, "Value": base64.b64decode(v["Value"])}
                              if str(v.get("Type", "")).startswith("Binary") and isinstance(v.get("Value"), str)
                              else v for k, v in message_attributes.items()}
    if self.protocol != "lambda" or runtime is None:
        try:
            return original(self, message, message_id, subject, message_attributes, group_id, deduplication_id,
                            message_structure)
        except Exception as exc:  # noqa: BLE001 - a deleted queue, an unreachable endpoint: SNS's Publish succeeds
            if self.protocol not in ("sqs", "http", "https"):
                raise
            logger.warning("SNS subscription %s: delivery to %s failed: %s", self.arn, self.endpoint, exc)
            _redrive(self, message, message_id, subject, message_attributes, group_id, message_structure)
            return None
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
        _redrive(self, message, message_id, subject, message_attributes, group_id)
    return None


def _redrive(subscription: Any, message: str, message_id: str, subject: str | None,
             message_attributes: dict[str, Any] | None, group_id: str | None,
             message_structure: str | None = None) -> None:
    """A message SNS could not deliver (its endpoint is gone or unreachable: a client-side error, which SNS does not
    retry) goes to the subscription's dead-letter queue (RedrivePolicy's deadLetterTargetArn) as the subscription
    would have had it: SNS's JSON notification, or the message alone with RawMessageDelivery; without a
    dead-letter queue it is discarded, as SNS does."""
    try:
        target = json.loads(subscription.attributes.get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
    except (TypeError, ValueError, AttributeError):
        target = None
    if not target:
        return
    if message_structure == "json":
        message = subscription._parse_message_structure(message, subscription.protocol)
    raw = str(subscription.attributes.get("RawMessageDelivery")).lower() == "true"
    body = message if raw else json.dumps(subscription.get_post_data(message, message_id, subject,
                                                                     message_attributes=message_attributes),
                                          sort_keys=True, indent=2, separators=(",", ": "))
    try:
        deliver_to(target, body, group=group_id)
    except Exception as exc:  # noqa: BLE001 - SNS's NumberOfNotificationsFailedToRedriveToDlq: nothing more to do
        logger.warning("SNS subscription %s: its dead-letter queue %s refused the message: %s", subscription.arn,
                       target, exc)


#: a subscription -> (its signing certificate's name, in moto's store of public keys); moto made and stored a
#: certificate for every message: one RSA signature more per delivery, and a PEM kept for ever per delivery
_signing_certificates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signed_post_data(original: Callable) -> Callable:
    """Subscription.get_post_data: SNS's notification as moto writes it (the same fields, the message signed with
    SignatureVersion 2 by the subscription's key), with one signing certificate per subscription, made and stored at
    its first message; SNS too serves one certificate for many messages. moto made a new certificate, signed and
    stored, for every delivery: ~0.5 ms of CPU per delivery to SQS or HTTP on a local cloud, and the store grew by
    a PEM each time."""
    import cryptography  # imported as the patch is applied, not per delivery
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.x509 import Name, NameAttribute
    from cryptography.x509.oid import NameOID
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow
    from moto.sns.models import sns_backends

    def get_post_data(self: Any, message: str, message_id: str, subject: str | None,
                      message_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        key = self.private_key()
        region = self.topic.sns_backend.region_name
        key_name = _signing_certificates.get(self)
        store = sns_backends[DEFAULT_ACCOUNT_ID][region]._message_public_keys
        if key_name is None or key_name not in store:
            issuer = [NameAttribute(NameOID.COUNTRY_NAME, "US"), NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
                      NameAttribute(NameOID.COMMON_NAME, "Amazon RSA 2048 M01")]
            cert = (cryptography.x509.CertificateBuilder()
                    .subject_name(Name([NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
                    .issuer_name(Name(issuer)).public_key(key.public_key())
                    .serial_number(cryptography.x509.random_serial_number())
                    .not_valid_before(utcnow()).not_valid_after(utcnow() + timedelta(days=365))
                    .sign(key, hashes.SHA256()))
            key_name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
            store[key_name] = cert.public_bytes(serialization.Encoding.PEM)
            _signing_certificates[self] = key_name
        timestamp = iso_8601_datetime_with_milliseconds()
        string_to_sign = (f"Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\n"
                          f"TopicArn\n{self.topic.arn}\nType\nNotification\n")
        signature = key.sign(string_to_sign.encode("UTF-8"), padding.PKCS1v15(), hashes.SHA256())
        post_data: dict[str, Any] = {
            "Type": "Notification", "MessageId": message_id, "TopicArn": self.topic.arn, "Message": message,
            "Timestamp": timestamp, "SignatureVersion": "2", "Signature": base64.b64encode(signature).decode("utf-8"),
            "SigningCertURL": f"https://sns.{region}.amazonaws.com/{key_name}",
            "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                              f"arn:aws:sns:us-east-1:{self.account_id}:{self.topic.name}:"
                              "2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        }
        if subject:
            post_data["Subject"] = subject
        if message_attributes:
            post_data["MessageAttributes"] = message_attributes
        return post_data

    return get_post_data


def _ignore_case_policy(policy: Any) -> Any:
    """A filter policy whose equals-ignore-case values are lower case (moto lower-cases the message's value only)."""
    if isinstance(policy, dict):
        return {k: (v.lower() if k == "equals-ignore-case" and isinstance(v, str) else _ignore_case_policy(v))
                for k, v in policy.items()}
    if isinstance(policy, list):
        return [_ignore_case_policy(v) for v in policy]
    return policy


def _filter_policy_ignores_case(original: Callable) -> Callable:
    def __init__(self: Any, filter_policy: Any, filter_policy_scope: Any) -> None:
        original(self, filter_policy, filter_policy_scope)
        self.filter_policy = _ignore_case_policy(self.filter_policy)
    return __init__


def _filter_policy_types_never_fail(original: Callable) -> Callable:
    """FilterPolicyMatcher.matches: a body value of another type than its condition's (a numeric condition, a string
    "12") does not match, as on SNS. moto compared them and raised TypeError: the Publish failed (a 500) after the
    subscriptions before this one had the message, so a client's retry duplicated it. (In a MessageBody policy's
    $or, sns-filter-body-or makes such a branch alone not match.)"""
    def matches(self: Any, message_attributes: Any, message: str) -> bool:
        try:
            return original(self, message_attributes, message)
        except TypeError:
            return False
    return matches


def _disjuncts(policy: dict) -> list[list[dict]]:
    """A filter policy as alternatives (any may match), each a list of policies without "$or" (all must match)."""
    alternatives: list[list[dict]] = [[]]
    for key, value in policy.items():
        if key == "$or" and isinstance(value, list):
            options = [conjunct for sub in value if isinstance(sub, dict) for conjunct in _disjuncts(sub)]
        elif isinstance(value, dict):
            options = [[{key: part} for part in conjunct] for conjunct in _disjuncts(value)]
        else:
            options = [[{key: value}]]
        alternatives = [have + option for have in alternatives for option in options]
    return alternatives


def _body_or_matches(self: Any, original: Callable[..., Any], message_dict: Any) -> bool:
    """FilterPolicyMatcher._body_based_match: an "$or" of a MessageBody policy (at any level) matches when one of its
    alternatives does, each checked against the body as a policy of its own. moto checked the alternatives as
    message attributes: a TypeError, so the policy matched nothing (sns-filter-types-never-fail)."""
    policy = self.filter_policy
    if not isinstance(policy, dict) or '"$or"' not in json.dumps(policy):
        return original(self, message_dict)

    def one(part: dict) -> bool:
        try:
            return self._perform_body_checks(self._compute_body_checks(part, message_dict))
        except (self.CheckException, TypeError):  # a value of another type than its condition's: no match
            return False
    return any(all(one(part) for part in conjunct) for conjunct in _disjuncts(policy))


# ------------------------------------------- Event invokes over HTTP are async; a too large request is refused
def _backend_invoke(self: Any, original: Callable[..., Any], function_name: str, qualifier: str | None, body: Any,
                    headers: Any, response_headers: dict[str, str]) -> Any:
    runtime = _runtime
    too_large = payload_too_large(body, headers.get("X-Amz-Invocation-Type", "RequestResponse"))
    if too_large:
        from moto.core.exceptions import JsonRESTError

        refused = JsonRESTError("RequestEntityTooLargeException", too_large)
        refused.code = 413
        raise refused
    tenant_id = headers.get("X-Amz-Tenant-Id")  # a tenant-isolated function's invocations need one
    if runtime is not None:
        from infra.runtime import InvalidTenant

        try:
            runtime.check_tenant(self.get_function(function_name, qualifier).function_name, tenant_id)
        except InvalidTenant as exc:
            from moto.core.exceptions import JsonRESTError

            refused = JsonRESTError("InvalidParameterValueException", str(exc))
            refused.code = 400
            raise refused from None
        except ResourceNotFound:
            pass  # moto's function, not the runtime's: moto answers
    if runtime is None or headers.get("X-Amz-Invocation-Type") != "Event":
        from infra.runtime import invoke_tenant, last_ran

        token, tenant_token = last_ran.set(None), invoke_tenant.set(tenant_id)
        try:
            answer = original(self, function_name, qualifier, body, headers, response_headers)
            ran = last_ran.get()
        finally:
            last_ran.reset(token)
            invoke_tenant.reset(tenant_token)
        if qualifier or function_name.count(":") not in (0, 6):  # the version an alias or version ran, as Lambda
            response_headers["x-amz-executed-version"] = str(self.get_function(function_name, qualifier).version)
        if "x-amz-function-error" in response_headers:  # moto says Handled
            response_headers["x-amz-function-error"] = "Unhandled"
        if ran is not None:  # the invocation's request id, as Lambda answers (kept by response-names-its-request)
            response_headers["x-amzn-requestid"] = ran.request_id
            if ran.durable_execution_arn is not None:
                response_headers["x-amz-durable-execution-arn"] = ran.durable_execution_arn
        return answer
    from infra.async_invoke import invoke_async

    function = self.get_function(function_name, qualifier)      # moto's ResourceNotFoundException if none
    try:
        event = json.loads(body or "{}")
    except ValueError:
        event = body
    ran = Ran()  # names a durable function's execution
    try:
        response_headers["x-amzn-requestid"] = running_with(
            ran, lambda: invoke_async(runtime, function.function_name, event, tenant_id))
    except ResourceNotFound:
        return original(self, function_name, qualifier, body, headers, response_headers)
    if ran.durable_execution_arn is not None:
        response_headers["x-amz-durable-execution-arn"] = ran.durable_execution_arn
    response_headers["Content-Length"] = "0"
    return b""          # moto's response answers 202 to an Event invoke


def _enrich_keeping_request_id(original: Callable[..., Any]) -> Any:
    def enrich(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        named = headers.pop("x-amzn-requestid", None)
        headers, body = original(headers, body)
        if named is not None:  # the answer's own request id, where moto put the one it drew
            drawn, headers["x-amzn-requestid"] = headers.get("x-amzn-requestid"), named
            if drawn and isinstance(body, str):
                body = body.replace(drawn, named)
        return headers, body

    return staticmethod(enrich)


# --------------------------------------------------------------------------- WebSocket APIs say wss://
def _api_init(self: Any, original: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    original(self, *args, **kwargs)
    if self.protocol_type == "WEBSOCKET":
        self.api_endpoint = "wss://" + self.api_endpoint.removeprefix("https://")


# --------------------------------------------------------------------------- SES faults (--fault ses:...)
def _ses_faults(original: Callable[..., Any]) -> Callable[..., Any]:
    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        from infra import faults

        faults.ses_send(kwargs["source"] if "source" in kwargs else (args[0] if args else None))
        return original(self, *args, **kwargs)

    return send


# --------------------------------------------------------------------------- FlushStageAuthorizersCache
FLUSH_AUTHORIZERS_PATH = "{0}/restapis/(?P<function_id>[^/]+)/stages/(?P<stage_name>[^/]+)/cache/authorizers/?$"


def _flush_authorizers(request: Any, full_url: str, headers: Any) -> Any:
    from api_gateway.rest_authorizers import flush_request

    return flush_request(request, full_url, headers)


def _calling(replacement: Callable[..., Any]) -> Callable[[Callable[..., Any]], Any]:
    """A Replacement's build: the method `replacement(self, original, ...)`, given moto's original."""
    return lambda original: functools.partialmethod(replacement, original)


def _owner(module: str, name: str | None = None) -> Callable[[], Any]:
    """What a Replacement patches: a module, or one of its attributes (a class), imported when applied."""
    def owner() -> Any:
        import importlib

        found = importlib.import_module(module)
        return found if name is None else getattr(found, name)

    return owner


PATCHES = (
    Patch("lambda-no-docker", "moto's LambdaFunction.docker_client raises without Docker, which made "
          "/moto-api/data.json answer 500; the runtime never needs Docker", _apply_no_docker, _revert_no_docker),
    Patch("lambda-update-code", "moto stores UpdateFunctionCode's zip; the runtime must run it, cold",
          _apply_update_code, _revert_update_code),
    Replacement("sns-lambda-async", _owner("moto.sns.models", "Subscription"), "publish", _calling(_sns_publish),
                "moto invokes a subscribed function synchronously inside Publish with a placeholder event; SNS "
                "invokes it asynchronously (retries, DLQ) with the real ids and attributes. A Binary attribute of a "
                "raw delivery to SQS is its bytes (moto's base64 text failed every ReceiveMessage of attributes)"),
    Replacement("lambda-event-invoke", _owner("moto.awslambda.models", "LambdaBackend"), "invoke",
                _calling(_backend_invoke),
                "moto runs InvocationType=Event synchronously, once; Lambda queues it (202 at once) and retries it "
                "(requests from other processes reach moto; this process's are answered by the runtime); a "
                "synchronous payload over Lambda's 6 MB request limit is refused with 413, as on AWS; a function "
                "error's FunctionError is Unhandled, as Lambda answers for its runtimes' errors (moto: Handled); the "
                "answer names the invocation's request id"),
    Replacement("response-names-its-request", _owner("moto.core.responses", "BaseResponse"), "_enrich_response",
                _enrich_keeping_request_id,
                "moto gives every answer a request id of its own drawing (x-amzn-requestid), over one the answer "
                "already names (Lambda's Invoke answers the invocation's: what the function's context and log see)"),
    Replacement("websocket-api-endpoint", _owner("moto.apigatewayv2.models", "Api"), "__init__", _calling(_api_init),
                "moto's ApiEndpoint is https:// for every API; a WebSocket API's is wss://"),
    *(Replacement(f"ses-faults-{op}", _owner("moto.ses.models", "SESBackend"), op, _ses_faults,
                  "SES's send operations fail as configured by --fault ses:... (infra/faults.py)")
      for op in ("send_email", "send_raw_email", "send_templated_email")),
    Replacement("apigateway-flush-authorizers-cache", _owner("moto.apigateway.urls"), "url_paths",
                lambda original: {**original, FLUSH_AUTHORIZERS_PATH: _flush_authorizers},
                "moto has no FlushStageAuthorizersCache; the REST data plane keeps the authorizer cache it flushes"),
    Replacement("sns-one-signing-certificate", _owner("moto.sns.models", "Subscription"), "get_post_data",
                _signed_post_data,
                "moto made, signed and stored a new X.509 certificate for every SNS delivery to SQS or HTTP (~0.5 ms "
                "of CPU each, and a PEM kept for ever per message); one per subscription, as SNS serves one for many"),
    Replacement("cloudwatch-composite-alarms", _owner("moto.cloudwatch.responses", "CloudWatchResponse"),
                "put_composite_alarm", lambda _: _put_composite_alarm,
                "moto routes no PutCompositeAlarm (NotImplementedError), though its alarms keep an AlarmRule and "
                "DescribeAlarms answers those as CompositeAlarms; its PutMetricAlarm handler reads AlarmRule"),
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


# =========================================================================== the emulator's own
#: held by every DynamoDB request the emulator answers (HTTP and in-process): each is atomic, as on DynamoDB
DYNAMODB_LOCK = threading.RLock()


# --------------------------------------------------------------------------- DynamoDB
def _dynamo_handler() -> Any:
    from moto.dynamodb.responses import DynamoHandler

    return DynamoHandler


def _atomic_call_action(original: Callable) -> Callable:
    def call_action(self: Any) -> Any:
        with DYNAMODB_LOCK:
            return original(self)

    return call_action


def _dynamodb_backend() -> Any:
    from moto.dynamodb.models import DynamoDBBackend

    return DynamoDBBackend


_journaling = threading.local()


class _CopyWithoutTables:
    """moto.dynamodb.models' ``copy``: while a transaction journals its items, a Table is not deep-copied."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_journaling, "active", False) and isinstance(value, Table):
            return value  # the journal below restores what the transaction touched
        return copy.deepcopy(value, memo)


def _journaled_transact_write_items(original: Callable) -> Callable:
    """TransactWriteItems without moto's backup of every table it touches (a deepcopy of the whole table on
    each call, so its cost grew with the table): the items it targets are copied instead, and put back, with
    the table's stream, if the transaction is cancelled. Same outcome: all or nothing."""

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal = _Journal(self, transact_items)
        _journaling.active = True
        try:
            return original(self, transact_items)
        except BaseException:
            journal.restore()
            raise
        finally:
            _journaling.active = False

    return transact_write_items


class _Journal:
    def __init__(self, backend: Any, transact_items: list[dict[str, Any]]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        self.images: list[tuple[Any, Any, Any, Any]] = []
        self.streams: list[tuple[Any, list, int]] = []
        seen: set[int] = set()
        for entry in transact_items if isinstance(transact_items, list) else []:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            (op_type, op), = entry.items()
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            source = op.get("Item") if op_type == "Put" else op.get("Key")
            if not isinstance(source, dict) or table.hash_key_attr not in source:
                continue
            hash_key = DynamoType(source[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in source:
                    continue
                range_key = DynamoType(source[table.range_key_attr])
            self.images.append((table, hash_key, range_key, copy.deepcopy(self._current(table, hash_key, range_key))))
            if id(table) not in seen and table.stream_shard is not None:
                seen.add(id(table))
                self.streams.append((table.stream_shard, table.stream_shard.items, len(table.stream_shard.items)))

    @staticmethod
    def _current(table: Any, hash_key: Any, range_key: Any) -> Any:
        if range_key is None:
            return table.items.get(hash_key)
        return table.items.get(hash_key, {}).get(range_key)

    def restore(self) -> None:
        for table, hash_key, range_key, image in reversed(self.images):
            if range_key is None:
                if image is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = image
            else:
                ranges = table.items.get(hash_key)
                if image is None:
                    if ranges is not None:
                        ranges.pop(range_key, None)
                        if not ranges:
                            table.items.pop(hash_key, None)
                else:
                    table.items.setdefault(hash_key, {})[range_key] = image
        for shard, records, length in self.streams:
            if shard.items is records:
                del records[length:]


def _dynamodb_models() -> Any:
    import moto.dynamodb.models as models

    return models


# --------------------------------------------------------------------------- Step Functions
def _lambda_eval_utils() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    return lambda_eval_utils


#: moto's Step Functions DynamoDB integration (its tasks' client, and their subsegments)
_DYNAMODB_TASKS = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb"


def _shared_task_clients(original: Callable) -> Callable:
    """moto's interpreter builds a new boto3 client for every Lambda or DynamoDB task (tens of ms of CPU each):
    reuse one per region and service.
    Clients are thread-safe; these carry only dummy credentials and the server's address."""
    import os

    from moto.core.models import botocore_stubber

    clients: dict[tuple[str, str, str, bool], object] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: object = None) -> object:
        # mock_aws (in-process interception) and the server port decide what the original client targets
        key = (region, service, os.environ.get("MOTO_PORT", ""), botocore_stubber.enabled)
        with lock:
            if key not in clients:
                clients[key] = original(region=region, service=service, state_credentials=state_credentials)
            return clients[key]

    return boto_client_for


def _asl_parser_class() -> Any:
    from moto.stepfunctions.parser.asl.parse import asl_parser

    return asl_parser.AmazonStateLanguageParser


#: programs parsed in this process, by definition: kept across local clouds (a test worker starts many)
_programs: dict[str, tuple[object, object]] = {}
_programs_lock = threading.Lock()
#: of what a cached program file holds: a change of that must change the key
_PROGRAM_CACHE_VERSION = 1


def _program_file(definition: str) -> Any:
    """The cache file of a definition's parsed program (``cache_dir()/asl``, named by the hash of the definition,
    moto's version and Python's), or None when the local cloud keeps no cache."""
    from importlib.metadata import PackageNotFoundError, version

    from infra.template import CacheFile, cache_dir

    if cache_dir() is None:
        return None
    try:
        material = f"{_PROGRAM_CACHE_VERSION}|{version('moto')}|{sys.version_info[:2]}|{definition}"
    except PackageNotFoundError:
        return None
    return CacheFile("asl", material, ".pickle")


class _TreeWhenUsed:
    """The parse tree of a definition whose program was read from the cache, parsed when something first uses it:
    moto's VariableReferencesStaticAnalyser (DescribeStateMachineForExecution) visits the tree of the definition,
    which calls its accept()."""

    def __init__(self, definition: str) -> None:
        self._definition = definition
        self._tree: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_tree", "_definition"):  # copy and pickle probe before __init__
            raise AttributeError(name)
        if self._tree is None:
            self._tree = _parse_tree(self._definition)
        return getattr(self._tree, name)


def _parse_tree(definition: str) -> Any:
    """ANTLR's parse of an ASL definition, as moto's AmazonStateLanguageParser.parse makes it."""
    from moto.stepfunctions.parser.asl.parse import asl_parser

    listener = asl_parser.SyntaxErrorListener()
    parser = asl_parser.ASLParser(asl_parser.CommonTokenStream(
        asl_parser.ASLLexer(asl_parser.InputStream(definition))))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    tree = parser.state_machine()
    if listener.errors:
        raise asl_parser.ASLParserException(errors=listener.errors)
    return tree


def _cached_programs(original: Any) -> Any:
    """moto parses (ANTLR, ~80-90 ms of CPU) and preprocesses (~15-20 ms) a state machine's ASL at
    CreateStateMachine (to validate it) and again for every execution: keep the program of each definition, in
    this process and, pickled, in the local cloud's cache directory, so that a start of the same definition (every
    `notifyx up`, every test's local cloud) skips both. A definition is cached only once it parsed, so one that
    does not is refused at every create as before. Its components hold no execution state: values live in each
    execution's Environment (its heap is per execution), and Parallel/Map build their worker pools per eval.
    moto's backend uses the parse tree only in DescribeStateMachineForExecution (a static analyser visits it), so
    a program read from the cache comes with a tree parsed when first used (tests/infra/test_moto_internals.py)."""
    from moto.stepfunctions.parser.asl.parse import asl_parser

    def parse(definition: str) -> tuple[object, object]:
        with _programs_lock:
            cached = _programs.get(definition)
        if cached is None:
            file = _program_file(definition)  # made once: moto's version is package metadata on disk
            program = file.load() if file is not None else None
            if program is not None:
                cached = (program, _TreeWhenUsed(definition))
            else:
                tree = _parse_tree(definition)
                cached = (asl_parser.Preprocessor().visit(tree), tree)
                if file is not None:
                    file.store(cached[0])
            with _programs_lock:
                if len(_programs) > 256:
                    _programs.clear()
                _programs[definition] = cached
        return cached

    return staticmethod(parse)


def _json_path_module() -> Any:
    from moto.stepfunctions.parser.asl.utils import json_path

    return json_path


def _result_path_module() -> Any:
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    return result_path


def _cached_json_path_parse(original: Callable) -> Callable:
    """jsonpath_ng builds its parser (PLY tables) on every parse(), for every path of every state: parse each
    path once. A parsed path is immutable; find() and update() change only the data they are given."""
    return functools.lru_cache(maxsize=1024)(original)


class _LiveThreads(list):
    """moto's Step Functions interpreter appends every worker thread it starts to a module-level list that
    nothing reads (LocalStack keeps it to stop threads at shutdown): each finished thread kept its execution's
    whole state alive, ~100 KB a publish. This list keeps only the threads still running."""

    def append(self, thread: Any) -> None:
        if len(self) >= 64:
            self[:] = [t for t in self if t.is_alive()]
        super().append(thread)


_live_threads = _LiveThreads()


class _Workers:
    """Threads for moto's Step Functions interpreter, kept when idle and handed the next worker's work.

    The interpreter starts a thread for every execution, program, Parallel branch and task state (about 19 a
    publish), each waited for by the one that started it. A new thread costs its creation and Thread.start's
    handshake (the starter sleeps until the new thread has said it runs), both context switches in a process
    where every one is a hand-off of the interpreter. As many run at once as were asked for, as with threads:
    nothing waits for a free one (a worker waits on the ones it started), and one idle for IDLE_SECONDS ends."""

    IDLE_SECONDS = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[list] = []  # [a lock its thread waits on, the work handed to it]

    def run(self, work: Callable[[], None]) -> None:
        with self._lock:
            slot = self._idle.pop() if self._idle else None
        if slot is None:
            threading.Thread(target=self._serve, args=(work,), name="sfn-worker", daemon=True).start()
        else:
            slot[1] = work
            slot[0].release()

    def _serve(self, work: Callable[[], None]) -> None:
        slot: list = [threading.Lock(), None]
        slot[0].acquire()  # released by run() when it hands this thread work
        while True:
            contextvars.Context().run(work)  # a fresh context, as a new thread has
            work = slot[1] = None
            with self._lock:
                self._idle.append(slot)
            if not slot[0].acquire(timeout=self.IDLE_SECONDS):
                with self._lock:
                    if any(s is slot for s in self._idle):
                        self._idle.remove(slot)
                        return
                slot[0].acquire()  # run() took it as the wait ended: its work is on the way
            work = slot[1]


_workers = _Workers()


class _PooledThread:
    """What moto's interpreter uses of threading.Thread (a target, start, join with a timeout, is_alive,
    native_id), run by _Workers. An exception that ends the target goes to threading.excepthook, as a thread's
    does."""

    def __init__(self, group: Any = None, target: Callable | None = None, name: str | None = None,
                 args: tuple = (), kwargs: dict | None = None, *, daemon: bool | None = None) -> None:
        self._target, self._args, self._kwargs = target, args, kwargs or {}
        self.name, self.daemon = name or "sfn-worker", True
        self.native_id = self.ident = None
        self._started = False
        self._done = threading.Event()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        _workers.run(self._run)

    def _run(self) -> None:
        self.native_id, self.ident = threading.get_native_id(), threading.get_ident()
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        except BaseException:  # noqa: BLE001 - reported as a thread reports it
            exc_type, exc_value, exc_traceback = sys.exc_info()
            threading.excepthook(threading.ExceptHookArgs([exc_type, exc_value, exc_traceback, self]))
        finally:
            self._target = self._args = self._kwargs = None
            self._done.set()

    def join(self, timeout: float | None = None) -> None:
        if not self._started:
            raise RuntimeError("cannot join thread before it is started")
        self._done.wait(timeout)

    def is_alive(self) -> bool:
        return self._started and not self._done.is_set()


class _ThreadingWithPooledThreads:
    """The threading module as the interpreter modules that call ``threading.Thread`` see it."""

    Thread = _PooledThread

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


def _pooled_threads(original: Any) -> Any:
    """What replaces a module's ``threading`` (the module) or ``Thread`` (the class)."""
    return _ThreadingWithPooledThreads() if original is threading else _PooledThread


#: the interpreter's modules that start a thread for every execution, program, branch and task: (module, the name
#: they start them by). A Map state's iterations and a callback task's wait keep their threads.
_POOLED_THREAD_MODULES = (
    ("moto.stepfunctions.parser.asl.component.program.program", "threading"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker", "threading"),
    ("moto.stepfunctions.parser.asl.component.state.exec.execute_state", "Thread"),
    ("moto.stepfunctions.parser.backend.execution_worker", "Thread"),
)


def json_copy(value: Any, memo: Any = None) -> Any:
    """A deep copy of JSON data (dicts, lists, strings, numbers, booleans, None) by direct recursion; any other
    object, and anything inside it, by copy.deepcopy as before."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value, memo)


class _JsonCopy:
    """A Step Functions interpreter module's ``copy``: deepcopy of the JSON a state reads and writes is json_copy
    (copy.deepcopy's memo and reduce protocol were 7% of the cloud's CPU at 10 publishes in flight)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    deepcopy = staticmethod(json_copy)


#: the interpreter's modules that deep-copy state data (input, output, parameters, the value stack, the
#: program state) on every state
_JSON_COPY_MODULES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel",
)

#: the modules of moto's interpreter that imported TMP_THREADS by name
_THREAD_LIST_MODULES = (
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.test_state.program.test_state_program",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.backend.execution_worker",
)


#: completed executions kept per state machine (AWS keeps a Standard execution's history 90 days; a local cloud
#: that kept every one grew ~1 MB per publish, and moto looks executions up by a linear scan)
EXECUTION_RETENTION = int(os.environ.get("NOTIFYX_EXECUTION_RETENTION", "1000"))


def _validators_module() -> Any:
    import moto.dynamodb.parsing.validators as validators

    return validators


#: per traverser class: node type -> (is it a Node; the key of its processing map that handles it, None: not processed)
_TRAVERSAL_DISPATCH: dict[type, dict[type, tuple[bool, Any]]] = {}


def _dispatched_traversal(original: Callable) -> Callable:
    """moto's DepthFirstTraverser.traverse_node_recursively rebuilt the processor's map (a dict of bound methods)
    twice for every node of the tree, and checked each node against it with isinstance on abstract classes; an
    UpdateItem runs ten traversals. This one builds the map once per traversal and remembers, per traverser class
    and node type, which entry handles it: the same order, the same first match, the same hooks. The child hook
    (pre_processing_of_child) is not called where the traverser keeps DepthFirstTraverser's, which does nothing."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    no_hook = DepthFirstTraverser.pre_processing_of_child

    def traverse(self: Any, node: Any) -> Any:
        mapping = self._processing_map()
        # node type -> (whether it is a Node, through ABCMeta's isinstance; the map's key that handles it or None)
        kinds = _TRAVERSAL_DISPATCH.get(type(self))
        if kinds is None:
            kinds = _TRAVERSAL_DISPATCH.setdefault(type(self), {})
        hook = None if type(self).pre_processing_of_child is no_hook else self.pre_processing_of_child

        def visit(node: Any, child_id: int) -> Any:
            kind = type(node)
            found = kinds.get(kind)
            if found is None:
                is_node = issubclass(kind, Node)
                found = kinds[kind] = (is_node, next((k for k in mapping if issubclass(kind, k)), None)
                                       if is_node else None)
            if found[0]:
                parent_node = node.parent
                children = node.children
                if children is not None:
                    if hook is None:
                        for i, child_node in enumerate(children):
                            visit(child_node, i)
                    else:
                        for i, child_node in enumerate(children):
                            hook(node, i)
                            visit(child_node, i)
                key = found[1]
                if key is not None:
                    node = mapping[key](node)
                    node.parent = parent_node
                    if parent_node:
                        parent_node.children[child_id] = node
            return node

        return visit(node, -1)

    return traverse


def _typed_find_clauses(original: Callable) -> Callable:
    """Node.find_clauses walked the tree with two isinstance checks against abstract classes per child (ABCMeta's
    __instancecheck__); validators call it several times per UpdateItem. The same walk, deciding by type once."""
    from moto.dynamodb.parsing.ast_nodes import Expression, UpdateExpressionFunction

    descends: dict[type, bool] = {}

    def find_clauses(self: Any, clause_types: Any) -> list:
        clauses = []
        for child in self.children or []:
            kind = type(child)
            if kind in clause_types:
                clauses.append(child)
                continue
            inner = descends.get(kind)
            if inner is None:
                inner = descends[kind] = issubclass(kind, (Expression, UpdateExpressionFunction))
            if inner:
                clauses.extend(child.find_clauses(clause_types))
        return clauses

    return find_clauses


def _update_expression_parser() -> Any:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    return UpdateExpressionParser


def _ast_copy(original: Callable) -> Callable:
    """moto's validators deep-copy the parsed UpdateExpression before resolving it against the item (copy.deepcopy
    with its memo and reduce protocol: ~15% of an UpdateItem). The tree is Nodes (with a parent link), lists,
    tuples and strings: copied directly, anything else still by deepcopy."""
    from moto.dynamodb.parsing.ast_nodes import Node

    node_types: dict[type, bool] = {}
    atoms = (str, int, float, bool, type(None))

    def copy_tree(value: Any, memo: dict[int, Any]) -> Any:
        kind = type(value)
        if kind in atoms:
            return value
        is_node = node_types.get(kind)
        if is_node is None:
            is_node = node_types[kind] = issubclass(kind, Node)
        if is_node:
            done = memo.get(id(value))
            if done is None:
                done = memo[id(value)] = object.__new__(kind)
                done.__dict__ = {k: copy_tree(v, memo) for k, v in value.__dict__.items()}
            return done
        if kind is list:
            return [copy_tree(v, memo) for v in value]
        if kind is tuple:
            return tuple(copy_tree(v, memo) for v in value)
        if kind is dict:
            return {k: copy_tree(v, memo) for k, v in value.items()}
        return original(value)

    def deepcopy(value: Any, memo: Any = None) -> Any:
        return copy_tree(value, {}) if memo is None else original(value, memo)
    return deepcopy


#: the most entries one of the caches below keeps (expressions, endpoints); when full it starts again
KEPT_PER_CACHE = 4096


def _remember(kept: dict, key: Any, value: Any, most: int = KEPT_PER_CACHE) -> Any:
    """Keep `value` under `key` in `kept`, a cache of at most `most` entries; `value`."""
    if len(kept) >= most:
        kept.clear()
    kept[key] = value
    return value


def _parsed_once(original: Callable) -> Any:
    """UpdateItem parses its UpdateExpression twice (the handler, to check names and values, then the backend);
    both only read the tree (validators work on a copy), so a parse is kept per expression string."""
    parsed: dict[str, Any] = {}

    def make(cls: Any, expression_str: str) -> Any:
        tree = parsed.get(expression_str)
        if tree is None:
            tree = _remember(parsed, expression_str, original(expression_str))
        return tree
    return classmethod(make)


#: UpdateItem's validators that read only the expression's tree, its attribute names and the table's key attributes
_TREE_ONLY_VALIDATORS = ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator")


def _update_validator_class() -> Any:
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    return UpdateExpressionValidator


def _tree_checks_once(original: Callable) -> Callable:
    """Three of an UpdateItem's ten validators (more than one SET, REMOVE or ADD clause; overlapping paths; a key
    attribute updated) read only the expression's tree, its attribute names and the table's key attributes: ~15%
    of an UpdateItem. They are the first three moto runs. The tree is one per expression string
    (dynamodb-update-expressions-parsed-once), so the validator runs them as it is made, on its copy of the tree,
    and only until they passed once for that tree, those names and keys; validate() then runs the other seven, which
    read the values and the item, as before and in the same order. Both callers in moto validate right after making
    the validator, so an error surfaces at the same statement; a check that raised is never remembered."""
    passed: dict[tuple, Any] = {}  # (id of a kept tree, attribute names, key attributes) -> the tree

    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        original(self, expression, *args, **kwargs)
        count = 0
        while count < len(self.processors) and type(self.processors[count]).__name__ in _TREE_ONLY_VALIDATORS:
            count += 1
        key = (id(expression), tuple(sorted((self.expression_attribute_names or {}).items())),
               tuple(self.table.table_key_attrs))
        if passed.get(key) is not expression:
            for processor in self.processors[:count]:
                self.node_to_validate = processor.traverse(self.node_to_validate)
            _remember(passed, key, expression)
        self.processors = self.processors[count:]

    return __init__


def _dynamodb_table() -> Any:
    from moto.dynamodb.models.table import Table

    return Table


class _Partition:
    """A Table seen through one hash key: what Table.query reads as all_items() is that partition only."""

    def __init__(self, table: Any, hash_key: Any) -> None:
        self._table = table
        self._hash_key = hash_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Any]:
        found = self._table.items.get(self._hash_key)
        if found is None:
            return []
        return list(found.values()) if self._table.range_key_attr else [found]


def _partition_query(original: Callable) -> Callable:
    """A Query on a table's key (no index) listed and sorted every item of the table to keep one partition's: its
    cost grew with the table (the delivery turn's Subscriptions query on every publish). It reads the partition
    moto already keys by hash key; the range-key sort, paging, filters and projections are moto's, unchanged."""

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original(self, hash_key, *args, **kwargs)
        return original(_Partition(self, hash_key), hash_key, *args, **kwargs)
    return query


def _condition_parser() -> Any:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    return ConditionExpressionParser


def _lexed_once(original: Callable) -> Callable:
    """moto lexes a ConditionExpression (or filter, or key condition) with regexes compiled per token, and parses a
    conditional UpdateItem's condition twice. The tokens depend on the expression string alone and are immutable
    (namedtuples with no children), so they are kept per string; parsing still binds this call's names and values."""
    lexed: dict[str, tuple[Any, ...]] = {}

    def lex(self: Any) -> deque:
        text = self.condition_expression
        tokens = lexed.get(text)
        if tokens is None:
            tokens = _remember(lexed, text, tuple(original(self)))
        return deque(tokens)
    return lex


def _dynamodb_responses() -> Any:
    from moto.dynamodb import responses

    return responses


class _CheckedExpression:
    """What moto's DynamoDB responses read from a ConditionExpressionParser they build only to check a request:
    that ``parse()`` does not raise, and the placeholders it found (``expr_attr_names_found``,
    ``expr_attr_values_found``), which they compare with the request's names and values."""

    def __init__(self, build: Callable, checked: dict, expression: Any, names: Any, values: Any) -> None:
        self._build, self._checked = build, checked
        self._args = (expression, names, values)
        self.expr_attr_names_found: list[str] = []
        self.expr_attr_values_found: list[str] = []

    def _key(self) -> Any:
        expression, names, values = self._args
        # parse() reads the expression, which names and values it is given, the names' targets and one thing of
        # the values: their types (BETWEEN refuses a NULL bound); not the values themselves
        key = (expression, tuple(sorted((names or {}).items())),
               tuple(sorted((k, next(iter(v)) if isinstance(v, dict) and v else type(v).__name__)
                            for k, v in (values or {}).items())))
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def parse(self) -> None:
        key = self._key()
        found = self._checked.get(key) if key is not None else None
        if found is None:
            parser = self._build(*self._args)
            parser.parse()  # raises as moto does: nothing kept
            found = (tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found))
            if key is not None:
                _remember(self._checked, key, found)
        self.expr_attr_names_found, self.expr_attr_values_found = list(found[0]), list(found[1])


def _checked_once(original: Callable) -> Callable:
    """moto's DynamoDB responses parse a request's condition (or filter) expression to check it and its
    placeholders, then the backend parses it again to evaluate it: a conditional UpdateItem parsed it twice. The
    check's outcome depends on the expression, the names and the values' types only, so it is kept for those;
    the backend's parse, which binds this call's values, is unchanged."""
    checked: dict[Any, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def create(expression: Any, names: Any, values: Any) -> _CheckedExpression:
        return _CheckedExpression(original, checked, expression, names, values)

    return create


def _entered_as_aws_writes_it(original: Callable) -> Callable:
    """The context object's ``$$.State.EnteredTime``: moto wrote Python's isoformat() ("...T04:06:44.123456+00:00"),
    AWS writes milliseconds and a Z ("...T04:06:44.123Z"), which a definition may store or compare as a string."""
    from datetime import UTC, datetime

    def state_data(EnteredTime: str, Name: str) -> Any:  # noqa: N803 - moto's keyword arguments
        entered = datetime.fromisoformat(EnteredTime).astimezone(UTC)
        return original(EnteredTime=entered.isoformat(timespec="milliseconds").replace("+00:00", "Z"), Name=Name)

    return state_data


def _branch_worker_class() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import BranchWorker

    return BranchWorker


def _named_cheaply(original: Callable) -> Callable:
    """A Parallel branch's thread was named after str(program): a recursive dump of the branch's whole parsed
    definition, for every branch of every execution. The thread gets a short name; the branch runs as before."""
    def start(self: Any) -> None:
        if self._worker_thread is not None:
            raise RuntimeError("Attempted to rerun BranchWorker.")
        self._worker_thread = threading.Thread(target=self._thread_routine, name="BranchWorker", daemon=True)
        self._worker_thread.start()
    return start


class _WeakInstances:
    """A moto model class's ``instances_tracked`` (every instance ever made, for the moto server's
    /moto-api/data.json) holding its instances weakly: moto's list kept each one alive for the life of the process,
    so every DynamoDB item copy a request made, every log event and execution a retention bound dropped, stayed in
    memory (~150 KB a publish). Iterating gives the instances still alive, which is what the backends hold."""

    COMPACT_EVERY = 10_000  # appends between sweeps of dead references

    def __init__(self, instances: Any = ()) -> None:
        self._refs: list[Callable[[], Any]] = []
        self._appends = 0
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        try:
            self._refs.append(weakref.ref(instance))
        except TypeError:  # not weakly referenceable: kept, as moto keeps it
            self._refs.append(lambda kept=instance: kept)
        self._appends += 1
        if self._appends >= self.COMPACT_EVERY:
            self._appends = 0
            self._refs = [ref for ref in self._refs if ref() is not None]

    def __iter__(self) -> Any:
        for ref in list(self._refs):
            instance = ref()
            if instance is not None:
                yield instance

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _weakly_tracked(original: Callable) -> Any:
    """BaseModel.__new__ appends each new instance to its class's instances_tracked, a list made by moto's
    metaclass (and made again by reset_model_data): such a list is swapped for a _WeakInstances first."""

    def __new__(cls: Any, *args: Any, **kwargs: Any) -> Any:
        tracked = cls.__dict__.get("instances_tracked")
        if type(tracked) is list:
            cls.instances_tracked = _WeakInstances(tracked)
        return original(cls, *args, **kwargs)
    return staticmethod(__new__)


def _cached_method_names(original: Callable) -> Callable:
    """moto's dispatch lists a response class's methods (inspect.getmembers) on every request: ~6% of the
    emulator's CPU under publish load. Classes do not change while serving; their names are listed once."""
    cache: dict[type, frozenset[str]] = {}

    def method_names_from_class(clazz: Any) -> frozenset[str]:
        names = cache.get(clazz)
        if names is None:
            names = cache[clazz] = frozenset(original(clazz))
        return names
    return method_names_from_class


def _sfn_parser_backend() -> Any:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    return StepFunctionsParserBackend


def forgotten_executions(executions: list[Any], running: Callable[[Any], bool]) -> list[int]:
    """Where in a state machine's executions (oldest first) the oldest finished ones beyond EXECUTION_RETENTION
    are: looked for from the oldest, no further than needed (one a start, once the bound is reached)."""
    excess = len(executions) - EXECUTION_RETENTION
    gone: list[int] = []
    if excess > 0:
        for index, execution in enumerate(executions):
            if not running(execution):
                gone.append(index)
                if len(gone) == excess:
                    break
    return gone


def retained_executions(executions: list[Any], running: Callable[[Any], bool]) -> list[Any]:
    """A state machine's executions (oldest first) as the emulator keeps them: the oldest finished ones beyond
    EXECUTION_RETENTION forgotten, a running one never (here and when durable state is restored)."""
    gone = set(forgotten_executions(executions, running))
    return [e for index, e in enumerate(executions) if index not in gone] if gone else executions


def _existing_account_first(original: Callable) -> Callable:
    """BackendDict[account] took moto's global backend lock and compared this BackendDict with every other one
    (``self not in BackendDict._instances``, each an ``__eq__``) on every lookup: ~1% of the cloud's CPU, a few
    per AWS call. An account's backend is only made in ``_create_account_specific_backend``, together with that
    registration, and ``BackendDict.reset`` clears both, so a backend that is there is answered from the dict."""

    def __getitem__(self: Any, account_id: str) -> Any:
        try:
            return dict.__getitem__(self, account_id)
        except KeyError:
            return original(self, account_id)  # created and registered as moto does

    return __getitem__


def execution_name(backend: Any, name: str | None) -> str:
    """The name an execution starts with: the one asked for, checked as moto's own backend checks it (InvalidName
    for whitespace, brackets, wildcards and control characters; a ValidationException over 80 characters), or a
    UUID when none was given, as AWS names it."""
    if not name:
        return request_id()
    backend._validate_name(name)
    return name


def _named_executions(original: Callable) -> Callable:
    """moto's interpreter (the parser backend, which replaces moto's own when executions run) started an execution
    without a name as one named "None", so a second unnamed start answered the first one's ARN or
    ExecutionAlreadyExists, and it took names AWS refuses. See execution_name."""

    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, execution_name(self, name), *args, **kwargs)

    return start_execution


#: a state machine -> [the length of its executions list the names were counted at, a set of those names]
_EXECUTION_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_EXECUTION_NAMES_LOCK = threading.Lock()


def _running(execution: Any) -> bool:
    return getattr(execution, "exec_status", None) in (None, "RUNNING")


def _bounded_executions(original: Callable) -> Callable:
    """Forget a state machine's oldest finished executions beyond EXECUTION_RETENTION when another starts:
    describing one then answers ExecutionDoesNotExist, as AWS does after its retention period. The execution
    names StartExecution checks (``_indexed_execution_names``) follow the list: the one started is added, the ones
    forgotten are taken out."""

    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        execution = original(self, state_machine_arn, *args, **kwargs)
        state_machine = self.describe_state_machine(state_machine_arn)
        executions = state_machine.executions
        with _EXECUTION_NAMES_LOCK:
            names = _EXECUTION_NAMES.get(state_machine)
            if names is not None and names[0] == len(executions) - 1 and executions[-1] is execution:
                names[0] += 1
                names[1].add(execution.name)
            for index in reversed(forgotten_executions(executions, _running)):
                gone = executions.pop(index)
                # execution -> worker -> its communication -> execution is a cycle, and the collector's
                # policy (infra/collector.py) leaves frozen cycles to idle time: break it, refcounting frees it
                gone.exec_worker = None
                if names is not None:
                    names[0] -= 1
                    names[1].discard(gone.name)
        return execution

    return start_execution


def _indexed_execution_names(original: Callable) -> Callable:
    """StartExecution compared the name with every execution the state machine keeps (up to EXECUTION_RETENTION,
    scattered in memory: ~2% of the cloud's CPU under publish load at the bound). A set of their names answers
    that a new name is not there; a name that is (a retry of the same name) gets moto's own answer, the running
    twin or ExecutionAlreadyExists.

    The set is kept beside the list with the length it was counted at. The emulator's own changes (a start, the
    retention) keep both in step; any other change of the list (the durable state's restore appends to it) leaves
    the lengths apart, and the names are counted again on the next start."""

    def handle(self: Any, name: str, execution_input: str) -> Any:
        executions = self.executions
        with _EXECUTION_NAMES_LOCK:
            names = _EXECUTION_NAMES.get(self)
            if names is None or names[0] != len(executions):
                names = _EXECUTION_NAMES[self] = [len(executions), {e.name for e in executions}]
            known = name in names[1]
        return original(self, name, execution_input) if known else None

    return handle


class _FinishedHistory:
    """A finished execution's history events as one compressed pickle, in place of its EventManager.

    moto keeps a finished execution's whole interpreter (its environment, states, event manager): ~60 KB of
    objects each, 1,000 of them per state machine at the retention bound, and cyclic, so one that is dropped waits
    for a full collection. GetExecutionHistory is all that reads them once the execution has ended; it gets the
    same events back (moto's get_event_history answers a copy too)."""

    __slots__ = ("_blob",)

    def __init__(self, events: list) -> None:
        self._blob = zlib.compress(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL), 1)

    def get_event_history(self) -> list:
        return pickle.loads(zlib.decompress(self._blob))


def _history_compacted(original: Callable) -> Callable:
    """When an execution ends (after moto has read its final state), its history is kept compressed and the
    interpreter's state is let go. Not a timed-out one's: moto ends it while its running state's thread goes
    on, and that thread appends ExecutionTimedOut to the history when the state returns."""

    def terminated(self: Any) -> None:
        original(self)
        from infra import persistence

        persistence.journal_execution_end(self)  # first: the end is visible already, the compaction takes ms
        if not kept(self.execution) or getattr(self.execution, "exec_status", None) == "TIMED_OUT":
            return  # a synchronous Express execution is dropped once it has answered: nothing to keep small
        worker = getattr(self.execution, "exec_worker", None)
        env = getattr(worker, "env", None)
        manager = getattr(env, "event_manager", None)
        if manager is None or isinstance(manager, _FinishedHistory):
            return
        with manager._mutex:  # get_event_history() would deep-copy the list first; pickling copies it anyway
            env.event_manager = _FinishedHistory(manager._history_event_list)
        env.states = None   # the interpreter's working data (the last input, the context object)
        env.heap = {}
        env.stack = []

    return terminated


def _newest_first(original: Callable) -> Callable:
    """DescribeExecution looked for the execution from the oldest of the state machine's (up to
    EXECUTION_RETENTION) executions; the ones described are nearly always the newest."""

    def describe_execution(self: Any, execution_arn: str) -> Any:
        self._validate_execution_arn(execution_arn)
        for execution in reversed(self._get_state_machine_for_execution(execution_arn).executions):
            if execution.execution_arn == execution_arn:
                return execution
        return original(self, execution_arn)  # ExecutionDoesNotExist, as moto raises it

    return describe_execution


# --------------------------------------------------------------------------- StartSyncExecution (Express)
#: AWS bills an Express execution's duration in 100 ms steps and reports the memory as 64 MB
EXPRESS_BILLED_MEMORY_MB = 64


def kept(execution: Any) -> bool:
    """Whether the emulator keeps an execution (lists, describes, journals it): not a synchronous Express one,
    which start_sync_execution names with an ``:express:`` ARN."""
    return ":express:" not in execution.exec_arn


@functools.cache
def _type_not_supported() -> Any:
    """Step Functions' StateMachineTypeNotSupported, which moto does not define."""
    from moto.core.exceptions import AWSError

    class StateMachineTypeNotSupported(AWSError):
        TYPE = "StateMachineTypeNotSupported"
        STATUS = 400

    return StateMachineTypeNotSupported


def start_sync_execution(self: Any, state_machine_arn: str, name: str | None = None,
                         execution_input: str | None = None, trace_header: str | None = None,
                         starting: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """StepFunctionsParserBackend.start_sync_execution: run an Express state machine's execution on the calling
    thread and answer StartSyncExecution's output. As on AWS: Standard machines refuse it
    (StateMachineTypeNotSupported), the execution ARN is an ``:express:`` one, and the execution is not kept
    (DescribeExecution and GetExecutionHistory do not know Express executions). ``starting(execution)`` is
    called just before the execution runs."""
    from moto.stepfunctions.exceptions import InvalidExecutionInput, InvalidName
    from moto.stepfunctions.parser.backend.execution import SyncExecution

    state_machine = self.describe_state_machine(state_machine_arn)  # InvalidArn, StateMachineDoesNotExist
    if str(getattr(state_machine, "type", "STANDARD")).upper() != "EXPRESS":
        raise _type_not_supported()("This operation is not supported by this type of state machine")
    if name is not None and not 1 <= len(name) <= 80:
        raise InvalidName(f"Invalid Name: '{name}'")
    execution_input = "{}" if execution_input is None else execution_input
    try:
        json.loads(execution_input)
    except ValueError as exc:
        raise InvalidExecutionInput(str(exc)) from None
    name = name or str(uuid.uuid4())
    arn = (f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:express:{state_machine.name}:"
           f"{name}:{uuid.uuid4()}")
    # a snapshot of the definition, as moto's start_execution takes (without the executions or the backend)
    clone = copy.deepcopy(state_machine, {id(state_machine.executions): [],
                                          id(state_machine.backend): state_machine.backend})
    execution = SyncExecution(name=name, sm_type=clone.sm_type, role_arn=clone.roleArn, exec_arn=arn,
                              account_id=self.account_id, region_name=self.region_name, state_machine=clone,
                              start_date=datetime.now(tz=UTC), cloud_watch_logging_session=None,
                              activity_store={}, input_data=execution_input, trace_header=trace_header)
    if starting is not None:
        starting(execution)
    execution.start()  # moto's SyncExecutionWorker runs the program here, on this thread
    output = dict(execution.to_start_sync_execution_output())
    output["status"] = getattr(output["status"], "value", output["status"])  # a plain string, as on the wire
    elapsed_ms = (execution.stop_date - execution.start_date).total_seconds() * 1000
    output["billingDetails"] = {"billedMemoryUsedInMB": EXPRESS_BILLED_MEMORY_MB,
                                "billedDurationInMilliseconds": max(1, math.ceil(elapsed_ms / 100)) * 100}
    return output


def _caller_trace_header(response: Any) -> str | None:
    """The trace header a Step Functions start continues: the traceHeader parameter, else the last X-Amzn-Trace-Id
    (botocore adds the Lambda environment's header and the X-Ray SDK its own after it: the last is the caller's)."""
    headers = response.headers.get_all("X-Amzn-Trace-Id") if hasattr(response.headers, "get_all") else None
    return response._get_param("traceHeader") or (headers[-1] if headers else response.headers.get("X-Amzn-Trace-Id"))


#: the statuses of an execution that has ended (DescribeExecution answers its stopDate)
_ENDED = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"})


def _describe_execution_response(self: Any) -> Any:
    """StepFunctionResponse.describe_execution with DescribeExecution's whole answer. moto's leaves out inputDetails
    and the traceHeader the execution was started with, has no stopDate for a TIMED_OUT execution, and writes the
    output with spaces (json.dumps) where its own Step Functions provider (Execution.to_describe_output) writes
    it compact."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    arn = self._get_param("executionArn")
    execution = self.stepfunction_backend.describe_execution(arn)
    status = execution.status
    response = {"executionArn": arn, "stateMachineArn": execution.state_machine_arn, "name": execution.name,
                "status": status, "startDate": execution.start_date, "input": execution.execution_input,
                "inputDetails": {"included": True}}
    if status in _ENDED:
        response["stopDate"] = execution.stop_date
    if status == "SUCCEEDED":
        output = execution.output
        response["output"] = output if isinstance(output, str) else to_json_str(output, separators=(",", ":"))
        response["outputDetails"] = {"included": True}
    if getattr(execution, "trace_header", None):
        response["traceHeader"] = execution.trace_header
    if execution.error is not None:
        response["error"] = execution.error
    if execution.cause is not None:
        response["cause"] = execution.cause
    return ActionResult(response)


#: GetExecutionHistory's page when maxResults is absent or 0, and the most it may ask for (the API reference)
HISTORY_PAGE, HISTORY_PAGE_MAX = 100, 1000


def _execution_history_response(self: Any, original: Callable[..., Any]) -> Any:
    """StepFunctionResponse.get_execution_history as the API pages it: at most maxResults events (default 100, at
    most 1,000), a nextToken while more are left, newest first with reverseOrder, without events' input and output
    with includeExecutionData false. moto answers every event, oldest first, whatever the request says.

    A token names the last event id answered, so the pages of a running execution neither repeat nor skip
    events that arrive meanwhile."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import InvalidToken, ValidationException

    arn = self._get_param("executionArn")
    size = self._get_param("maxResults")
    if size is not None and (type(size) is not int or not 0 <= size <= HISTORY_PAGE_MAX):
        raise ValidationException(f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
                                  f"constraint: Member must have value less than or equal to {HISTORY_PAGE_MAX}")
    size = size or HISTORY_PAGE
    reverse = bool(self._get_param("reverseOrder"))
    token = self._get_param("nextToken")
    after = None
    if token is not None:
        try:
            fields = json.loads(base64.urlsafe_b64decode(token.encode()))
            if fields["arn"] != arn or fields["reverse"] != reverse or type(fields["after"]) is not int:
                raise ValueError(token)
            after = fields["after"]
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
            raise InvalidToken() from None
    events = self.stepfunction_backend.get_execution_history(arn)["events"]
    if reverse:
        events = events[::-1]
    if after is not None:
        events = [e for e in events if (e["id"] < after if reverse else e["id"] > after)]
    page = events[:size]
    if self._get_param("includeExecutionData") is False:
        page = [{key: ({k: v for k, v in value.items() if k not in ("input", "output")}
                       if key.endswith("EventDetails") and isinstance(value, dict) else value)
                 for key, value in event.items()} for event in page]
    answer: dict[str, Any] = {"events": page}
    if len(events) > size:
        answer["nextToken"] = base64.urlsafe_b64encode(
            json.dumps({"arn": arn, "reverse": reverse, "after": page[-1]["id"]}).encode()).decode()
    return ActionResult(answer)


def _start_sync_execution_response(self: Any) -> Any:
    """StepFunctionResponse.start_sync_execution (moto routes no StartSyncExecution)."""
    from moto.core.responses import ActionResult

    arn, name = self._get_param("stateMachineArn"), self._get_param("name")
    header = _caller_trace_header(self)
    backend = self.stepfunction_backend
    if not hasattr(backend, "start_sync_execution"):  # moto's backend without its interpreter runs nothing
        from moto.stepfunctions.exceptions import ValidationException

        raise ValidationException("StartSyncExecution needs the Step Functions interpreter, which is switched off")
    observed = _observed()
    key: str | None = None

    def starting(execution: Any) -> None:
        nonlocal key
        if observed is not None:
            key = observed.states.starting(arn, name, header, execution_arn=execution.exec_arn)
            observed.states.started(key, execution)

    try:
        output = backend.start_sync_execution(arn, name, self._get_param("input"), header, starting=starting)
    except Exception:
        if key is not None:
            observed.states.forget(key)
        raise
    return ActionResult(output)


#: records a DynamoDB stream shard keeps (DynamoDB Streams keep 24 hours; a local cloud keeps the newest ones)
STREAM_RECORDS = int(os.environ.get("NOTIFYX_STREAM_RECORDS", "1000"))


_service_deletions = threading.local()

#: the userIdentity of a stream record written by DynamoDB itself, a Time to Live deletion (infra/ttl.py), as
#: GetRecords answers it (a Lambda event says {"type", "principalId"}: infra/stream_pollers.py)
SERVICE_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


@contextlib.contextmanager
def deleting_as_the_service() -> Iterator[None]:
    """Stream records this thread writes meanwhile are DynamoDB's own (TTL deletions), as AWS marks them."""
    _service_deletions.active = True
    try:
        yield
    finally:
        _service_deletions.active = False


#: UpdateItem of a missing item: moto first puts the bare key (and records that), then records the update
_update_creates = threading.local()


def _update_records_one_insert(self: Any, original: Callable, *args: Any, **kwargs: Any) -> Any:
    """DynamoDBBackend.update_item: an update that creates its item is one INSERT record (with the item as
    updated), as DynamoDB Streams records each change once; moto recorded a second INSERT of the bare key first."""
    _update_creates.skip_insert = True
    try:
        return original(self, *args, **kwargs)
    finally:
        _update_creates.skip_insert = False


def _bounded_stream(original: Callable) -> Callable:
    """moto's stream shard kept every record (both images, ~10 KB each) for the life of the process: the oldest
    beyond STREAM_RECORDS are trimmed, as DynamoDB trims records older than 24 hours; sequence numbers go on.
    A record written inside deleting_as_the_service() gets the service's userIdentity. A write that changes
    nothing (the same attributes again) is no record, as DynamoDB Streams writes none for it (moto wrote a MODIFY
    whose images were equal); nor is the bare key an UpdateItem creates its item with (_update_records_one_insert)."""

    def add(self: Any, old: Any, new: Any) -> None:
        if old is not None and new is not None and old.attrs == new.attrs:
            return
        if old is None and new is not None and getattr(_update_creates, "skip_insert", False):
            _update_creates.skip_insert = False  # the bare key: the update's own INSERT follows
            return
        original(self, old, new)
        if getattr(_service_deletions, "active", False) and self.items and new is None:
            self.items[-1].record["userIdentity"] = dict(SERVICE_IDENTITY)
        excess = len(self.items) - STREAM_RECORDS
        if STREAM_RECORDS > 0 and excess > 0:
            excess += STREAM_RECORDS // 10  # trim a tenth more, so that trimming is not on every write
            del self.items[:excess]
            self.starting_sequence_number += excess

    return add


def _trimmed_reads_skip(original: Callable) -> Callable:
    """An iterator older than the trim horizon reads from the oldest record kept (moto asserted instead); a Lambda
    stream event source skips expired records the same way."""

    def get(self: Any, start: int, quantity: int) -> list:
        return original(self, max(start, self.starting_sequence_number), quantity)

    return get


#: seconds a DynamoDB Streams shard iterator stays valid after it is returned (AWS: 15 minutes)
ITERATOR_SECONDS = 15 * 60


class _ExpiringIterators(dict):
    """A streams backend's shard iterators, dropped ITERATOR_SECONDS after they were issued. moto kept every one
    (~1 KB each), and a stream event source takes a new iterator with every poll, four a second."""

    def __setitem__(self, arn: str, iterator: Any) -> None:
        super().__setitem__(arn, iterator)
        # (time issued, arn), oldest first; made here, not in __init__: unpickling sets items before the state
        issued: deque[tuple[float, str]] = self.__dict__.setdefault("_issued", deque())
        now = time.monotonic()
        issued.append((now, arn))
        while issued and now - issued[0][0] > ITERATOR_SECONDS:
            self.pop(issued.popleft()[1], None)


def _expiring_iterators(original: Callable) -> Callable:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.shard_iterators = _ExpiringIterators()

    return __init__


def _expired_iterator_error(original: Callable) -> Callable:
    """GetRecords with an iterator that has expired (or was never issued) answers ExpiredIteratorException, as
    DynamoDB Streams does (moto failed on a KeyError)."""

    def get_records(self: Any, iterator_arn: str, limit: int) -> Any:
        if iterator_arn not in self.shard_iterators:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError("ExpiredIteratorException", "Iterator expired. The iterator was created over 15 "
                                                            "minutes ago or was never issued.")
        return original(self, iterator_arn, limit)

    return get_records


# --------------------------------------------- StopExecution right after StartExecution
#: how long a StopExecution waits at most for a just-started execution to enter its first state
STOP_WAITS_FOR_START_SECONDS = 5.0


def _stop_once_started(self: Any, original: Callable, stop_date: Any, error: Any, cause: Any) -> None:
    """moto's ExecutionWorker makes its environment in the execution's thread, the environment takes a stop only
    once its program runs, and a program stopped before its loop began ended with no ExecutionAborted event: a
    StopExecution right after StartExecution failed with AttributeError (a 500), was dropped (the execution ran
    on), or left a history without its end. The stop waits (milliseconds: the thread is started) until the
    execution has entered its first state, then stops it: ABORTED, its history ending in ExecutionAborted."""
    deadline = time.monotonic() + STOP_WAITS_FOR_START_SECONDS
    while time.monotonic() < deadline and not _entered_first_state(self.env):
        time.sleep(0.001)
    if self.env is not None:
        original(self, stop_date=stop_date, error=error, cause=cause)


def _entered_first_state(env: Any) -> bool:
    """Whether the execution's history has an event after ExecutionStarted (its first state's StateEntered), or
    is a finished execution's (_FinishedHistory)."""
    if env is None:
        return False
    events = getattr(env.event_manager, "_history_event_list", None)
    return events is None or len(events) >= 2


#: how long a Wait state sleeps at most before it looks again whether its execution was stopped
WAIT_STOP_CHECK_SECONDS = 1.0


def _wait_noticing_a_stop(self: Any, original: Callable, env: Any, wait_seconds: Any) -> None:
    """moto's Wait state slept on the environment's program_state_event, which a stop sets and clears at once: a
    stop that came before the sleep began was missed, and the stopped execution stayed RUNNING for the whole
    Seconds. This one sleeps until the time is up or the execution is no longer running, and looks again at least
    every WAIT_STOP_CHECK_SECONDS (a missed wake-up costs at most that)."""
    deadline = time.monotonic() + wait_seconds
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        env.program_state_event.wait(min(remaining, WAIT_STOP_CHECK_SECONDS))


def _branch_always_ends(original: Callable) -> Callable:
    """A Parallel branch's thread tells the Parallel state it has ended whatever its program did. A branch
    opened after a StopExecution inherits the stopped state, and moto's program raised at its first state
    (RuntimeError, "Could not set NextState value"): the thread died before on_terminated, the Parallel state
    waited for it forever, and the stopped execution stayed RUNNING. A branch of an execution that is no longer
    running ends quietly; one whose program failed otherwise fails the Parallel state with States.Runtime (what
    the interpreter makes of its own errors), and the exception goes on to threading.excepthook, as before."""
    def routine(self: Any) -> None:
        try:
            self._program.eval(self.env)
        except Exception as exc:
            if not self.env.is_running():
                return
            self.env.set_error({"error": "States.Runtime", "cause": f"{type(exc).__name__}({exc})"})
            raise
        finally:
            self._branch_worker_comm.on_terminated(env=self.env)
    return routine


#: how long a long-polling receive sleeps when the queue has visible messages it may not take (a FIFO group in
#: flight), where moto's wait for messages returns at once
SQS_BUSY_POLL_SECONDS = 0.02


def _receive_one_at_a_time(self: Any, original: Callable, queue_name: str, count: int, wait_seconds_timeout: int,
                           visibility_timeout: int, message_attribute_names: list[str] | None = None) -> list[Any]:
    """SQSBackend.receive_message takes its messages under the queue's lock, and long-polls outside it. moto
    checks that a message is visible (and, in a FIFO queue, that its group has none in flight) and marks it
    received in two steps: receivers at once got the same message, the first one's receipt handle no longer
    deleted it, and a FIFO group's messages went to two consumers out of order."""
    queue = self.get_queue(queue_name)
    deadline = time.monotonic() + (wait_seconds_timeout or 0)
    busy = False  # the last wait returned at once: visible messages none could take (a FIFO group in flight)
    while True:
        with queue._messages_lock:  # a Condition over an RLock: what Queue.add_message appends under
            result = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        remaining = deadline - time.monotonic()
        if result or remaining <= 0:
            return result
        if _long_polls_released.is_set():  # the cloud is stopping: answer what the wait's end would, no messages
            return result
        if busy:  # moto's long poll spun here
            time.sleep(min(remaining, SQS_BUSY_POLL_SECONDS))
        began = time.monotonic()
        with queue._messages_lock:  # moto's wait_for_messages, which also wakes when the long polls are released
            queue._messages_lock.wait_for(lambda: queue.messages or _long_polls_released.is_set(),
                                          timeout=min(remaining, 1.0))
        busy = time.monotonic() - began < SQS_BUSY_POLL_SECONDS


#: set while the local cloud stops its event source pollers (long_polls_released)
_long_polls_released = threading.Event()


@contextlib.contextmanager
def long_polls_released() -> Iterator[None]:
    """While the local cloud stops its pollers: every long-polling ReceiveMessage ends now, with the messages it has
    (none), and those received meanwhile wait for nothing, instead of each poller waiting out its receive (up to
    1 s each)."""
    from moto.sqs.models import sqs_backends

    _long_polls_released.set()
    try:
        for regions in list(sqs_backends.values()):
            for backend in list(regions.values()):
                for queue in list(backend.queues.values()):
                    with queue._messages_lock:
                        queue._messages_lock.notify_all()
        yield
    finally:
        _long_polls_released.clear()


def _sqs_clock_seconds(dt: Any = None) -> float:
    """moto.sqs.models' unix_time: for now (no `dt`) the clock read once, not through two datetimes (now(UTC) and
    the epoch's) and an import each call; a queue's message scans read it per message. The same value: now(UTC)
    reads time.time()."""
    if dt is not None:
        from moto.core.utils import unix_time

        return unix_time(dt)
    return time.time()


def _sqs_clock_millis(dt: Any = None) -> float:
    """moto.sqs.models' unix_time_millis, as _sqs_clock_seconds."""
    return _sqs_clock_seconds(dt) * 1000.0


#: what a queue scan keeps, given now (ms) and a message: moto's Message.visible (now > visible_at) and .delayed
#: (now < delayed_until), each property read once per scan instead of the clock once per message
_QUEUE_SCANS: dict[str, Callable[[float, Any], bool]] = {
    "messages": lambda now, m: now > m.visible_at and not now < m.delayed_until,
    "approximate_number_of_messages": lambda now, m: now > m.visible_at and not now < m.delayed_until,
    "approximate_number_of_messages_delayed": lambda now, m: now < m.delayed_until,
    "approximate_number_of_messages_not_visible": lambda now, m: not now > m.visible_at,
}


def _queue_scan(attr: str) -> property:
    """Queue.<attr> in one pass with one clock read: Message.visible and .delayed read the clock per message, and
    GetQueueAttributes (which SendMessage reads too, for one attribute) scanned the queue three times. `messages`
    is the list, the others its count."""
    keep = _QUEUE_SCANS[attr]

    def scan(self: Any) -> Any:
        now = time.time() * 1000.0
        kept = [m for m in self._messages if keep(now, m)]
        return kept if attr == "messages" else len(kept)

    return property(scan)


def _retention_of_the_queue(self: Any, queue_name: str, message: Any) -> bool:
    """SQSBackend.is_message_valid_based_on_retention_period reads the queue's retention period alone. moto's read
    every attribute of the queue for it (GetQueueAttributes: three counts over all its messages) for each message a
    receive took: a receive from a queue of n messages cost n x 30 clock reads."""
    retain_until = int(self.get_queue(queue_name).message_retention_period) + message.sent_timestamp / 1000
    return retain_until > time.time()


def _delete_under_the_queue_lock(original: Callable) -> Callable:
    """Queue.delete_message under the queue's lock. moto rebuilds the message list without the deleted message:
    a message sent meanwhile was appended to the old list and lost, and a receive meanwhile could hand out the
    message being deleted."""
    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            original(self, receipt_handle)
    return delete_message


def _url_builders_when_used(original: Callable) -> Callable:
    """werkzeug's Rule._compile_builder, made when first called: Rule.compile (each rule, as moto's server builds a
    service's URL map at its first request) generates and compiles two URL builders per rule, for building URLs from
    endpoints, which moto's routing never does: ~0.09 s of `notifyx up`'s start for ~340 rules. Matching does not use
    them. A builder a caller does use is compiled then, the same one."""

    def compile_builder(self: Any, append_unknown: bool = True) -> Callable:
        made: list[Callable] = []

        def build(rule: Any, *args: Any, **kwargs: Any) -> Any:  # Rule.compile binds it to the rule (__get__)
            if not made:
                made.append(original(rule, append_unknown).__get__(rule, None))
            return made[0](*args, **kwargs)

        return build

    return compile_builder


def _batch_under_the_queue_lock(self: Any, original: Callable, queue_name: str, *args: Any, **kwargs: Any) -> Any:
    """SQSBackend.send_message_batch under the queue's lock (reentrant: each send appends under it too). moto
    appends each message, then gives it a new attribute (its entry's Id): a receive meanwhile deep-copied the
    message as that attribute was added ("dictionary changed size during iteration"), and the receiver's request
    failed with the messages it had already marked received, in flight until their visibility timeout (a FIFO
    group with them, held up as long)."""
    with self.get_queue(queue_name)._messages_lock:
        return original(self, queue_name, *args, **kwargs)


def _visibility_under_the_queue_lock(self: Any, original: Callable, queue_name: str, receipt_handle: str,
                                     visibility_timeout: int) -> None:
    """SQSBackend.change_message_visibility under the queue's lock, so it sees a message either before or after
    a receive or delete, not half-way. A negative timeout is refused, as SQS refuses it (moto took -1)."""
    if int(visibility_timeout) < 0:
        from moto.sqs.exceptions import InvalidParameterValue

        raise InvalidParameterValue(f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: "
                                    "Must be between 0 and 43200, if provided.")
    with self.get_queue(queue_name)._messages_lock:
        original(self, queue_name, receipt_handle, visibility_timeout)


#: the queue attributes SQS bounds (CreateQueue, SetQueueAttributes): name -> (least, most)
SQS_ATTRIBUTE_RANGES = {"DelaySeconds": (0, 900), "VisibilityTimeout": (0, 43200),
                        "MessageRetentionPeriod": (60, 1209600), "ReceiveMessageWaitTimeSeconds": (0, 20)}


def _queue_attributes_in_range(self: Any, original: Callable, attributes: dict[str, Any],
                               now: float | None = None) -> None:
    """Queue._set_attributes refusing what SQS refuses: a bounded attribute outside its range, or not an integer,
    is InvalidAttributeValue (moto kept a DelaySeconds of 901 or a MessageRetentionPeriod of 59, and answered a
    value that is not a number with a 500)."""
    from moto.sqs.exceptions import InvalidAttributeValue

    for name, (least, most) in SQS_ATTRIBUTE_RANGES.items():
        if name in attributes:
            try:
                value = int(str(attributes[name]))
            except ValueError:
                raise InvalidAttributeValue(name) from None
            if not least <= value <= most:
                raise InvalidAttributeValue(name)
    original(self, attributes, now)


def _message_delay_in_range(self: Any, original: Callable, queue: Any, message_body: str, delay_seconds: int,
                            *args: Any, **kwargs: Any) -> None:
    """SQSBackend._validate_message (SendMessage, each entry of SendMessageBatch): a DelaySeconds outside 0-900 is
    InvalidParameterValue, as SQS answers it (moto kept a negative delay, and one over 15 minutes)."""
    if not 0 <= int(delay_seconds) <= 900:
        from moto.sqs.exceptions import InvalidParameterValue

        raise InvalidParameterValue(f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: must be "
                                    "between 0 and 900, if provided.")
    original(self, queue, message_body, delay_seconds, *args, **kwargs)


def _fifo_topic_deduplicates_by_content(self: Any, original: Callable, message: str, *args: Any,
                                        **kwargs: Any) -> Any:
    """Topic.publish on a FIFO topic with ContentBasedDeduplication: the message goes to its SQS subscriptions with
    the deduplication id SNS makes, the SHA-256 of its body. moto passed none, so a FIFO queue without content-based
    deduplication of its own refused the message, and the publish failed."""
    if kwargs.get("deduplication_id") is None and self.fifo_topic is True and \
            self.content_based_deduplication is True:
        kwargs["deduplication_id"] = hashlib.sha256(message.encode()).hexdigest()
    return original(self, message, *args, **kwargs)


# --------------------------------------------------------------------------- EventBridge
#: one lock for EventBridge's rules: PutEvents walked a bus's rules while PutRule/DeleteRule changed them
EVENTS_LOCK = threading.RLock()
#: target kinds moto delivers itself (CloudWatch Logs, archives, other buses, API destinations)
_MOTO_EVENT_TARGETS = {"logs", "events"}
_unsupported_targets: set[str] = set()


def _under_the_events_lock(original: Callable) -> Callable:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        with EVENTS_LOCK:
            return original(self, *args, **kwargs)
    return method


def _delivered_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target: its fields in AWS's order, `time` ISO 8601 (moto keeps epoch
    seconds until an SQS target), `account` (moto's default target input left it out), no ingestion time."""
    when = event.get("time")
    if isinstance(when, (int, float)):
        when = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    delivered = {"version": event.get("version", "0"), "id": event.get("id"), "detail-type": event.get("detail-type"),
                 "source": event.get("source"), "account": event.get("account"), "time": when,
                 "region": event.get("region"), "resources": event.get("resources", []), "detail": event.get("detail")}
    if "replay-name" in event:
        delivered["replay-name"] = event["replay-name"]
    return delivered


def _target_input(target: dict[str, Any], event: dict[str, Any], rule: str = "",
                  rule_arn: str = "") -> tuple[Any, str]:
    """What a target gets for `event` (and its JSON text): the target's constant Input, the part of the event its
    InputPath names, its InputTransformer's output, or the whole event (EventBridge's Target API)."""
    if "Input" in target:
        return json.loads(target["Input"]), target["Input"]
    if "InputPath" in target:
        from jsonpath_ng.ext import parse

        found = parse(target["InputPath"]).find(event)
        value = found[0].value if found else None
        return value, json.dumps(value)
    if "InputTransformer" in target:
        text = _transformed_input(target["InputTransformer"], event, rule, rule_arn)
        try:
            return json.loads(text), text
        except ValueError:  # a text template: the target gets the text
            return text, text
    return event, json.dumps(event)


#: an InputTemplate's placeholder, <name>
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _transformed_input(transformer: dict[str, Any], event: dict[str, Any], rule: str, rule_arn: str) -> str:
    """An InputTransformer's text, as EventBridge writes it (infra/input_templates.py): each <variable> of
    InputPathsMap (a JSON path into the event; null when it finds nothing) or a predefined one (aws.events.rule-arn,
    rule-name, event.ingestion-time, event, event.json). moto's parser made a string variable outside quotes
    invalid JSON (the delivery failed), refused text templates, and knew only two predefined variables."""
    from jsonpath_ng.ext import parse

    from infra.input_templates import UNKNOWN, fill

    values: dict[str, Any] = {}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        found = parse(path).find(event)
        values[name] = found[0].value if found else None
    values.update({"aws.events.rule-arn": rule_arn, "aws.events.rule-name": rule,
                   "aws.events.event.ingestion-time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
                   "aws.events.event.json": event})
    return fill(transformer.get("InputTemplate") or "", _PLACEHOLDER, lambda name: values.get(name, UNKNOWN))


def _rule_sends_to_targets(original: Callable) -> Callable:
    """Rule.send_to_targets with the targets templates use: a Lambda function (invoked asynchronously, as
    EventBridge does: Lambda's retries and on-failure destination apply), an SNS topic, a Step Functions state
    machine, an SQS queue; a target's Input and InputPath; the event's `account`. moto raised NotImplementedError
    for a Lambda target (the PutEvents failed after delivering to the rules before it), ignored Input and InputPath,
    and a rule with no pattern (a schedule) or a DISABLED one matched every event."""
    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern._pattern:
            return
        if not self.event_pattern.matches_event(original_event):
            return
        event = _delivered_event(original_event)
        for target in list(self.targets):
            arn = target["Arn"]
            service = arn.split(":")[2] if arn.count(":") >= 5 else ""
            if service in _MOTO_EVENT_TARGETS:
                alone = copy.copy(self)
                alone.targets = [target]
                original(alone, original_event, transform_input)
                continue
            payload, text = (_target_input(target, event, self.name, self.arn) if transform_input
                             else (event, json.dumps(event)))
            try:
                _deliver_event(self.name, self.account_id, self.region_name, service, arn, target, payload, text)
            except Exception as exc:  # noqa: BLE001 - EventBridge's PutEvents succeeds; the target's delivery fails
                logger.warning("EventBridge rule %s: delivery to %s failed: %s", self.name, arn, exc)
                _event_dead_letter(self.arn, target, event, exc)
    return send_to_targets


def _event_dead_letter(rule_arn: str, target: dict[str, Any], event: dict[str, Any], exc: Exception) -> None:
    """An event EventBridge could not deliver to a target goes to the target's DeadLetterConfig queue, as EventBridge
    documents it: the event, with RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE and RETRY_ATTEMPTS attributes. The
    failures the local cloud meets are a target that does not exist (NO_RESOURCE: sent at once, without retries)
    or one that refused the event (a FIFO queue without content-based deduplication)."""
    queue = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not queue:
        return
    missing = type(exc).__name__ in ("ResourceNotFound", "ResourceNotFoundException", "QueueDoesNotExist",
                                     "TopicNotFound", "SNSNotFoundError", "StateMachineDoesNotExist")
    attributes = {"RULE_ARN": rule_arn, "TARGET_ARN": target["Arn"],
                  "ERROR_CODE": "NO_RESOURCE" if missing else "SDK_CLIENT_ERROR",
                  "ERROR_MESSAGE": str(exc)[:256] or type(exc).__name__, "RETRY_ATTEMPTS": "0"}
    try:
        deliver_to(queue, json.dumps(event), attributes=attributes)
    except Exception as failed:  # noqa: BLE001 - EventBridge's InvocationsFailedToBeSentToDLQ: logged
        logger.warning("EventBridge rule %s: its dead-letter queue %s refused the event: %s", rule_arn, queue, failed)


def deliver_scheduled_event(rule: str, target: dict[str, Any], event: dict[str, Any]) -> None:
    """A schedule rule's event to a target other than a function (infra/schedules.py fires the rule): the target's
    Input, InputPath or InputTransformer applied, delivered as a matching event's (moto's schedule rules fired
    nothing). An EventBridge Scheduler schedule's target gets what Scheduler sends (_scheduler_delivery)."""
    if "ScheduleArn" in target:
        _scheduler_delivery(target, event)
        return
    arn = target["Arn"]
    parts = arn.split(":")
    payload, text = _target_input(target, event, rule, f"arn:aws:events:{parts[3]}:{parts[4]}:rule/{rule}")
    _deliver_event(rule, parts[4], parts[3], parts[2], arn, target, payload, text)


def _deliver_event(rule: str, account: str, region: str, service: str, arn: str, target: dict[str, Any],
                   payload: Any, text: str) -> None:
    if service == "sqs":
        from moto.sqs import sqs_backends

        group = target.get("SqsParameters", {}).get("MessageGroupId")
        if group and not sqs_backends[account][region].get_queue(arn.split(":")[5]).content_based_deduplication:
            # as moto: EventBridge's rules deliver to a FIFO queue that deduplicates by content
            raise ValueError(f"the FIFO queue {arn.split(':')[5]} has no content-based deduplication")
        deliver_to(arn, text, group=group)
    elif service in _DELIVERED:
        deliver_to(arn, text, event=payload)
    elif arn not in _unsupported_targets:
        _unsupported_targets.add(arn)
        logger.warning("EventBridge rule %s: target %s (%s) is not delivered to by the local cloud", rule, arn,
                       service or "unknown service")


#: the services deliver_to reaches
_DELIVERED = ("lambda", "sqs", "sns", "states", "firehose")


def deliver_to(arn: str, text: str, *, event: Any = None, subject: str | None = None,
               group: str | None = None, attributes: dict[str, str] | None = None) -> None:
    """The emulator's own delivery of `text` to a resource by ARN, through moto's backends (it runs inside the
    request that caused it: an EventBridge rule's target, a Scheduler schedule's, an S3 notification, a dead-letter
    queue): a function invoked asynchronously with `event` (else the text's JSON; Lambda's retries and destinations
    apply), an SQS queue (`group`: a FIFO queue's message group; `attributes`: string message attributes), an SNS
    topic (`subject`), a Step Functions state machine (an execution named by a UUID), a Firehose delivery stream (a
    record). Raises what the backend raises, or ValueError for another service."""
    parts = arn.split(":")
    service, region, account_id = (parts[2], parts[3], parts[4]) if len(parts) >= 6 else ("", "", "")
    if service == "lambda":
        if _runtime is None:
            raise ResourceNotFound(f"no local runtime runs {arn}")
        from infra.async_invoke import invoke_async

        invoke_async(_runtime, parts[6], json.loads(text) if event is None else event)
    elif service == "sqs":
        from moto.sqs import sqs_backends

        sqs_backends[account_id][region].send_message(
            queue_name=parts[5], message_body=text, group_id=group,
            message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
            if attributes else None)
    elif service == "sns":
        from moto.sns import sns_backends

        sns_backends[account_id][region].publish(message=text, arn=arn, subject=subject)
    elif service == "states":
        from moto.stepfunctions.responses import get_backend  # the one StartExecution uses (executions run)

        get_backend(account_id, region).start_execution(arn, request_id(), text)
    elif service == "firehose":  # a record of the text (EventBridge's target: the event's JSON, no newline added)
        put_firehose_record(arn, text.encode())
    else:
        raise ValueError(f"{arn} is not delivered to by the local cloud")


def put_firehose_record(arn: str, data: bytes) -> None:
    """One record into a Firehose delivery stream by ARN, through moto's PutRecord: a stream the local cloud
    delivers buffers it (firehose-buffers-and-delivers), another is moto's."""
    from moto.firehose.models import firehose_backends

    parts = arn.split(":")
    firehose_backends[parts[4]][parts[3]].put_record(parts[5].split("/", 1)[-1], {"Data": data})


# --------------------------------------------------------------------------- IAM callers of AWS_IAM methods
def iam_identity(access_key: str, account_id: str = account.ACCOUNT_ID) -> dict | None:
    """The IAM user an access key of the emulator's IAM belongs to ({"userArn", "userId"}), or None (a key IAM
    never issued, such as the local cloud's own test key)."""
    from moto.iam.models import iam_backends

    user = iam_backends[account_id]["aws"].get_user_from_access_key_id(access_key)
    return None if user is None else {"userArn": user.arn, "userId": user.id}


# --------------------------------------------------------------------------- ACM certificates of a template
def issue_certificate(arn: str, account_id: str = account.ACCOUNT_ID) -> None:
    """Mark a requested certificate of the emulator's ACM issued, as CloudFormation's create of a certificate ends
    only once it is (moto issues an Amazon-issued certificate 60 s after the request, when it is next described)."""
    from moto.acm.models import acm_backends

    region = arn.split(":")[3]
    acm_backends[account_id][region].get_certificate(arn).status = "ISSUED"


# --------------------------------------------------------------------------- API Gateway API keys
def api_key_valid(api_id: str, stage: str, value: str, account_id: str = account.ACCOUNT_ID,
                  region: str = account.REGION) -> bool:
    """Whether `value` is an enabled API key of a usage plan that has (api_id, stage), read from the emulator's API
    Gateway in process (two GetApiKeys/GetUsagePlans calls through boto3 cost a keyed request ~10 ms)."""
    from moto.apigateway.models import apigateway_backends

    backend = apigateway_backends[account_id][region]
    keys = {key.id for key in list(backend.keys.values()) if key.value == value and key.enabled}
    if not keys:
        return False
    for plan_id, plan_keys in list(backend.usage_plan_keys.items()):
        plan = backend.usage_plans.get(plan_id)
        if plan is not None and keys & set(plan_keys) and any(
                s.get("apiId") == api_id and s.get("stage") == stage for s in plan.api_stages):
            return True
    return False

# --------------------------------------------------------------------------- Cognito user pools' keys
_COGNITO_ISSUER = re.compile(r"https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/([\w-]+)")


def cognito_key_set(issuer: str, account_id: str = account.ACCOUNT_ID) -> dict | None:
    """The JSON Web Key Set that signs the tokens of the emulator's user pool named by `issuer`
    (``https://cognito-idp.{region}.amazonaws.com/{pool id}``, what its tokens' ``iss`` says); None when `issuer`
    is not a user pool of the emulator. moto signs every pool's tokens with one key, and serves the public half at
    ``/{pool id}/.well-known/jwks.json``."""
    from moto.cognitoidp.models import cognitoidp_backends

    match = _COGNITO_ISSUER.fullmatch(issuer)
    if match is None:
        return None
    region, pool_id = match.groups()
    try:
        pools = cognitoidp_backends[account_id][region].user_pools
    except KeyError:
        return None
    if pool_id not in pools:
        return None
    return _moto_cognito_keys()


@functools.cache
def _moto_cognito_keys() -> dict:
    """moto's public key set, read once (every authorized request asks for it)."""
    from moto.utilities.utils import load_resource

    return load_resource("cognitoidp/resources/jwks-public.json")


# --------------------------------------------------------------------------- Cognito: ids a template keeps
_ALPHANUMERIC = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _stable(seed: str, length: int, alphabet: str = _ALPHANUMERIC) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(alphabet))
        out.append(alphabet[digit])
    return "".join(out)


def keep_user_pool_id(account_id: str, region: str, pool_id: str, seed: str) -> str:
    """Give a template's user pool an id of its stack and logical id (region_ and 9 letters or digits, as Cognito's
    look), the same at every start, as a stack update keeps a pool's; moto drew a new uuid at every deploy, so a
    restarted cloud had a new issuer (every token refused, the clients' configuration stale) and its durable state
    could not find the pool its users belonged to. Called right after CreateUserPool, before anything names the
    pool. Answers the pool's id (unchanged if another pool has that id)."""
    from moto.cognitoidp.models import cognitoidp_backends

    backend = cognitoidp_backends[account_id][region]
    kept = f"{region}_{_stable(seed, 9)}"
    pool = backend.user_pools.get(pool_id)
    if pool is None or kept in backend.user_pools:
        return pool_id
    del backend.user_pools[pool_id]
    pool.id, pool.arn = kept, pool.arn.replace(pool_id, kept)
    backend.user_pools[kept] = pool
    return kept


def keep_user_pool_client_id(account_id: str, region: str, pool_id: str, client_id: str, seed: str) -> dict[str, str]:
    """Give a template's app client an id (26 lowercase letters and digits) and secret of its stack and logical id,
    the same at every start (see keep_user_pool_id). Answers {"ClientId", "ClientSecret"}."""
    from moto.cognitoidp.models import cognitoidp_backends

    pool = cognitoidp_backends[account_id][region].user_pools[pool_id]
    client = pool.clients[client_id]
    kept = _stable(seed, 26, "0123456789abcdefghijklmnopqrstuvwxyz")
    if kept not in pool.clients:
        del pool.clients[client_id]
        client.id = kept
        client.secret = _stable(seed + "/secret", 51, "0123456789abcdefghijklmnopqrstuvwxyz")
        pool.clients[kept] = client
    return {"ClientId": client.id, "ClientSecret": client.secret if client.generate_secret else ""}


# --------------------------------------------------------------------------- EventBridge Scheduler
#: the running cloud's schedules (infra.schedules.Scheduler): told of each schedule created, updated or deleted
_scheduler: Any = None
#: the templated targets the local cloud delivers (Scheduler's universal targets, ECS, Kinesis... are not)
SCHEDULER_TARGET_SERVICES = ("lambda", "sqs", "sns", "states", "events")


def _scheduler_delivery(target: dict[str, Any], event: dict[str, Any]) -> None:
    """One invocation of an EventBridge Scheduler schedule's templated target: its Input with the context attributes
    (<aws.scheduler.schedule-arn>, scheduled-time, execution-id, attempt-number) put in, or, without Input,
    Scheduler's default notification; a function is invoked asynchronously, a queue, topic, state machine or event
    bus gets the text. Scheduler's RetryPolicy and dead-letter queue are not applied: a failure is logged."""
    arn, schedule = target["Arn"], target["ScheduleArn"]
    parts = arn.split(":")
    service, region, account = parts[2], parts[3], parts[4]
    execution = uuid.uuid4().hex[:16]
    if target.get("Input") is not None:
        text = str(target["Input"])
        for name, value in (("schedule-arn", schedule), ("scheduled-time", event["time"]),
                            ("execution-id", execution), ("attempt-number", "1")):
            text = text.replace(f"<aws.scheduler.{name}>", value)
    else:
        text = json.dumps({"version": "0", "id": event["id"], "detail-type": "Scheduled Event",
                           "source": "aws.scheduler", "account": account, "time": event["time"], "region": region,
                           "resources": [schedule], "detail": "{}"})
    if service == "events":
        from moto.events.models import events_backends

        options = target.get("EventBridgeParameters") or {}
        events_backends[account][region].put_events([{
            "Source": options.get("Source", "aws.scheduler"),
            "DetailType": options.get("DetailType", "Scheduled Event"), "Detail": text, "EventBusName": arn}])
    else:
        deliver_to(arn, text, group=(target.get("SqsParameters") or {}).get("MessageGroupId"))


def scheduler_spec(schedule: Any) -> dict[str, Any]:
    """infra.schedules.ScheduleSpec's keywords for a moto EventBridge Scheduler schedule."""
    def moment(value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    return {"name": f"{schedule.group_name}/{schedule.name}", "rule": schedule.name,
            "expression": schedule.schedule_expression, "timezone": schedule.schedule_expression_timezone,
            "enabled": schedule.state == "ENABLED", "scheduler": True,
            "target": {**schedule.target, "ScheduleArn": schedule.arn},
            "start": moment(schedule.start_date), "end": moment(schedule.end_date),
            "delete_after": schedule.action_after_completion == "DELETE"}


def _scheduler_tells_the_clock(original: Callable) -> Callable:
    """EventBridgeSchedulerBackend.create_schedule / update_schedule: the running cloud's clock fires the schedule
    (moto only stores schedules: none ever fired). An expression the clock cannot read is refused as Scheduler
    refuses it (ValidationException)."""
    def change(self: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.scheduler.exceptions import ValidationException

        from infra.schedules import ScheduleExpressionError, parse_schedule

        expression = kwargs.get("schedule_expression")
        if expression:
            try:
                parse_schedule(expression, kwargs.get("schedule_expression_timezone"), one_time=True)
            except ScheduleExpressionError as exc:
                raise ValidationException(str(exc)) from None
        schedule = original(self, *args, **kwargs)
        clock = _scheduler
        if clock is not None:
            from infra.schedules import ScheduleSpec

            clock.add(ScheduleSpec(**scheduler_spec(schedule)))
        return schedule
    return change


def _scheduler_deletes_from_the_clock(original: Callable) -> Callable:
    """EventBridgeSchedulerBackend.delete_schedule: the schedule fires no more."""
    def delete_schedule(self: Any, group_name: str | None, name: str) -> None:
        original(self, group_name, name)
        if _scheduler is not None:
            _scheduler.remove(f"{group_name or 'default'}/{name}")
    return delete_schedule


def attach_scheduler(clock: Any) -> None:
    """The running cloud's clock (None: detached): moto's scheduler tells it of changes, and a schedule deleted
    after completion (ActionAfterCompletion DELETE) leaves moto too."""
    global _scheduler
    _scheduler = clock
    if clock is None:
        return

    def completed(spec: Any) -> None:
        from moto.scheduler.models import scheduler_backends

        arn = spec.target["ScheduleArn"]
        parts = arn.split(":")
        group, name = arn.split(":schedule/", 1)[1].split("/", 1)
        try:
            scheduler_backends[parts[4]][parts[3]].get_schedule_group(group).schedules.pop(name, None)
        except Exception:  # noqa: BLE001 - its group was deleted meanwhile
            pass
    clock.on_complete = completed


def scheduler_specs() -> list[dict[str, Any]]:
    """The schedules moto's EventBridge Scheduler holds (the template's), as ScheduleSpec keywords."""
    from moto.scheduler.models import scheduler_backends

    return [scheduler_spec(schedule) for account in list(scheduler_backends)
            for region in list(scheduler_backends[account]) for group in
            scheduler_backends[account][region].schedule_groups.values() for schedule in group.schedules.values()]

# --------------------------------------------------------------------------- Lambda event source mappings
#: the running cloud's mapping pollers (infra.event_sources.EventSources): told of each mapping created, changed or
#: deleted while it runs (the template's are made before it is attached)
_event_sources: Any = None


def attach_event_sources(registry: Any) -> None:
    """The running cloud's event source mappings (None: detached)."""
    global _event_sources
    _event_sources = registry


def _refused(exc: ValueError) -> Exception:
    from moto.awslambda.exceptions import InvalidParameterValueException

    return InvalidParameterValueException(str(exc).removeprefix("InvalidParameterValueException: "))


def _mapping_created(original: Callable) -> Callable:
    """LambdaBackend.create_event_source_mapping: the cloud's poller reads the new mapping's queue or stream (moto
    would run the function inside SendMessage or PutItem, one message at a time); what Lambda refuses (a batch size
    or window out of bounds, a malformed filter) is refused."""
    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        registry = _event_sources
        from infra.stream_pollers import kinesis_stream_arn

        source = str(spec.get("EventSourceArn") or "")
        stream_arn = kinesis_stream_arn(source)
        if stream_arn == source:
            esm = original(self, spec)
        else:  # an enhanced fan-out consumer's ARN (moto knows only streams'): the mapping reads its stream
            from moto.kinesis.models import kinesis_backends

            # an unknown consumer: moto's ResourceNotFoundException
            kinesis_backends[self.account_id][self.region_name].describe_stream_consumer(
                stream_arn=None, consumer_name=None, consumer_arn=source)
            esm = original(self, {**spec, "EventSourceArn": stream_arn})
            esm.event_source_arn = source  # the mapping names the consumer, as Lambda's does
        if registry is None:
            return esm
        try:
            registry.created(esm.get_configuration())
        except ValueError as exc:
            from infra.event_sources import detach_from_moto

            self._event_source_mappings.pop(esm.uuid, None)
            detach_from_moto(esm.event_source_arn, esm.function_arn)
            raise _refused(exc) from None
        return esm
    return create_event_source_mapping


def _mapping_updated(original: Callable) -> Callable:
    """LambdaBackend.update_event_source_mapping: Enabled false stops the mapping's poller, true starts it again
    where it stopped; a new batch size, window, concurrency, filter or function takes effect (moto only stored
    them). A change Lambda refuses changes nothing."""
    def update_event_source_mapping(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        registry, esm = _event_sources, self.get_event_source_mapping(uuid)
        if registry is None or esm is None:
            return original(self, uuid, spec)
        try:
            registry.spec_of({**esm.get_configuration(), **spec})
        except ValueError as exc:
            raise _refused(exc) from None
        esm = original(self, uuid, spec)
        registry.updated(esm.get_configuration())
        return esm
    return update_event_source_mapping


def _mapping_deleted(original: Callable) -> Callable:
    """LambdaBackend.delete_event_source_mapping: the mapping's poller stops."""
    def delete_event_source_mapping(self: Any, uuid: str) -> Any:
        esm = original(self, uuid)
        registry = _event_sources
        if esm is not None and registry is not None:
            registry.deleted(uuid)
        return esm
    return delete_event_source_mapping


def _pipe_changed(original: Callable) -> Callable:
    """EventBridgePipesBackend.create_pipe / update_pipe / start_pipe / stop_pipe: the running cloud's poller of the
    pipe follows (moto only stored pipes made at run time, and their desired state: a stopped pipe went on)."""
    def change(self: Any, *args: Any, **kwargs: Any) -> Any:
        pipe = original(self, *args, **kwargs)
        registry = _event_sources
        if registry is not None:
            registry.pipe_changed({"Name": pipe.name, "Source": pipe.source, "Target": pipe.target,
                                   "SourceParameters": pipe.source_parameters, "Enrichment": pipe.enrichment,
                                   "EnrichmentParameters": pipe.enrichment_parameters,
                                   "TargetParameters": pipe.target_parameters, "DesiredState": pipe.desired_state})
        return pipe
    return change


def _pipe_deleted(original: Callable) -> Callable:
    """EventBridgePipesBackend.delete_pipe: the pipe's poller stops."""
    def delete_pipe(self: Any, name: str) -> Any:
        pipe = original(self, name)
        registry = _event_sources
        if registry is not None:
            from infra.event_sources import PIPE

            registry.deleted(PIPE + name)
        return pipe
    return delete_pipe


# --------------------------------------------------------------------------- Firehose
#: the running cloud's delivery streams (infra.firehose.Firehoses): PutRecord(Batch) to one of them is buffered there
_firehoses: Any = None


def attach_firehoses(registry: Any) -> None:
    """The running cloud's delivery streams (None: detached)."""
    global _firehoses
    _firehoses = registry


def _firehose_buffers(original: Callable) -> Callable:
    """FirehoseBackend.put_record_batch (PutRecord goes through it): a stream the local cloud delivers buffers the
    records (infra/firehose.py); moto wrote each call at once as one S3 object."""
    def put_record_batch(self: Any, delivery_stream_name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        registry = _firehoses
        if registry is None or delivery_stream_name not in registry.streams:
            return original(self, delivery_stream_name, records)
        data = []
        for record in records:
            value = record.get("Data") if isinstance(record, dict) else None
            try:  # botocore sends Data base64-encoded; anything else is the client's error, as on Firehose
                data.append(value if isinstance(value, bytes) else base64.b64decode(value, validate=True))
            except (TypeError, ValueError, binascii.Error):
                from moto.firehose.exceptions import ValidationException

                raise ValidationException("1 validation error detected: Value at 'records.member.data' failed to "
                                          "satisfy constraint: Member must be base64-encoded binary data") from None
        ids = registry.put(delivery_stream_name, data)
        return {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": i} for i in ids]}
    return put_record_batch


# --------------------------------------------------------------------------- Lambda EventInvokeConfig
def _put_invoke_config_replaces(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """LambdaBackend.put_function_event_invoke_config overwrites the function's config, as Lambda does ("If you
    exclude any settings, they are removed"); moto appended one and read the first, so only the first ever counted."""
    from moto.awslambda.models import EventInvokeConfig

    function = self.get_function(function_name)
    made = EventInvokeConfig(function.function_arn, function.last_modified, dict(config))
    function.event_invoke_config = [made]
    return made.response()


def _update_invoke_config_merges(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """LambdaBackend.update_function_event_invoke_config changes the settings it names and keeps the others (moto:
    another put, which the first config hid); a function without one is ResourceNotFoundException, as on AWS."""
    from moto.awslambda.exceptions import UnknownEventConfig

    function = self.get_function(function_name)
    if not function.event_invoke_config:
        raise UnknownEventConfig(function.function_arn)
    return _put_invoke_config_replaces(self, function_name, {**function.event_invoke_config[0].config, **config})


# --------------------------------------------------------------------------- S3 presigned URLs
def _presigned_expired(full_url: str) -> bool:
    """Whether a presigned URL (SigV4: X-Amz-Date + X-Amz-Expires; SigV2: Expires) has expired."""
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(full_url).query)
    now = time.time()
    if "X-Amz-Expires" in query and "X-Amz-Date" in query:
        try:
            signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            return now > signed + int(query["X-Amz-Expires"][0])
        except ValueError:
            return False
    if "Expires" in query and "Signature" in query:
        try:
            return now > int(query["Expires"][0])
        except ValueError:
            return False
    return False


def _presigned_urls_expire(original: Callable) -> Callable:
    """S3Response's bucket and key answers refuse a presigned URL past its expiry, as S3 does (403 AccessDenied,
    "Request has expired"); moto answered it for ever. Signatures are not checked (credentials are not)."""
    def respond(self: Any, request: Any, full_url: str) -> Any:
        if "Expires=" in full_url and _presigned_expired(full_url):
            from moto.s3.exceptions import S3ClientError

            refused = S3ClientError("AccessDenied", "Request has expired")
            refused.code, refused.status = "AccessDenied", 403
            raise refused
        return original(self, request, full_url)
    return respond



def _invoke_reads_the_qualifier(original: Callable) -> Callable:
    """LambdaResponse.invoke with the Qualifier the request names: moto read a "qualifier" parameter (botocore sends
    "Qualifier"), so a qualified invoke ran $LATEST and an unknown qualifier was not refused, and a payload with a
    "qualifier" key (moto's fallback to the JSON body) chose the version."""
    def invoke(self: Any) -> Any:
        self.querystring["qualifier"] = self.querystring.get("Qualifier") or [None]
        return original(self)
    return invoke



_TOKEN_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
#: the Lambda triggers of a user pool's LambdaConfig the local cloud runs (the deployer refuses the others)
COGNITO_TRIGGERS = ("PreSignUp", "PostConfirmation", "PreAuthentication", "PostAuthentication", "PreTokenGeneration",
                    "PreTokenGenerationConfig")
#: while a sign-in or refresh call runs: its tokens' triggerSource and, once run, the pre token generation
#: trigger's (version, response), which create_jwt applies to each token the call makes
_token_overrides: contextvars.ContextVar[dict | None] = contextvars.ContextVar("token_overrides", default=None)


def _cognito_error(kind: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(kind, message)


def _cognito_trigger(pool: Any, name: str) -> tuple[str | None, str]:
    """The function ARN of the pool's trigger `name` (None: none) and its event version."""
    config = pool.extended_config.get("LambdaConfig") or {}
    if name == "PreTokenGeneration":
        spec = config.get("PreTokenGenerationConfig") or {}
        if spec.get("LambdaArn"):
            return spec["LambdaArn"], "2" if spec.get("LambdaVersion", "V1_0") != "V1_0" else "1"
    return config.get(name), "1"


def _user_attributes(user: Any, *, status: bool = True) -> dict[str, str]:
    attributes = {a["Name"]: a["Value"] for a in user.attributes}
    if status:
        attributes["cognito:user_status"] = user.status.value if hasattr(user.status, "value") else str(user.status)
    return attributes


def run_cognito_trigger(pool: Any, name: str, source: str, user_name: str, client_id: str | None, request: dict,
                        response: dict | None = None) -> dict | None:
    """Invoke the pool's `name` trigger synchronously with Cognito's event; its response object (None: no trigger).
    A function error is UserLambdaValidationException "<name> failed with error <message>.", an answer that is not
    the event is InvalidLambdaResponseException, as Cognito answers them."""
    arn, version = _cognito_trigger(pool, name)
    if not arn:
        return None
    event = {"version": version, "triggerSource": source, "region": pool.region, "userPoolId": pool.id,
             "userName": user_name, "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown",
                                                       "clientId": client_id or "CLIENT_ID_NOT_APPLICABLE"},
             "request": request, "response": response or {}}
    if _runtime is None:
        raise _cognito_error("UserLambdaValidationException", f"{name} failed with error no function runs {arn}.")
    try:
        answer = _runtime.invoke(arn, event)
    except Exception as exc:  # noqa: BLE001 - the function's errorMessage goes to the caller, as Cognito does
        raise _cognito_error("UserLambdaValidationException", f"{name} failed with error {exc}.") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("response", {}), dict):
        raise _cognito_error("InvalidLambdaResponseException", "Unrecognizable lambda output")
    return answer.get("response") or {}


def _pool_of_client(backend: Any, client_id: str) -> Any:
    return next((p for p in backend.user_pools.values() if client_id in p.clients), None)


def _sign_up_runs_pre_sign_up(original: Callable) -> Callable:
    """CognitoIdpBackend.sign_up with the pool's PreSignUp trigger: the user is refused (not kept) when it fails,
    confirmed when it answers autoConfirmUser, its email/phone verified with autoVerifyEmail/autoVerifyPhone."""
    def sign_up(self: Any, client_id: str, username: str, password: str, attributes: list) -> Any:
        user, details = original(self, client_id, username, password, attributes)
        pool = _pool_of_client(self, client_id)
        if pool is None or not _cognito_trigger(pool, "PreSignUp")[0]:
            return user, details
        given = {a["Name"]: a["Value"] for a in attributes or []}
        if "email" in (pool.extended_config.get("UsernameAttributes") or []) and "@" in username:
            given.setdefault("email", username)
        try:
            answer = run_cognito_trigger(pool, "PreSignUp", "PreSignUp_SignUp", user.username, client_id,
                                         {"userAttributes": given, "validationData": None, "clientMetadata": {}},
                                         {"autoConfirmUser": False, "autoVerifyEmail": False,
                                          "autoVerifyPhone": False})
        except Exception:
            pool.users.pop(user.username, None)
            raise
        from moto.cognitoidp.models import UserStatus

        if answer.get("autoConfirmUser") is True:
            user.status = UserStatus.CONFIRMED
            details = None
        verified = [{"Name": f"{kind}_verified", "Value": "true"}
                    for kind, flag in (("email", "autoVerifyEmail"), ("phone_number", "autoVerifyPhone"))
                    if answer.get(flag) is True and kind in user.attribute_lookup]
        if verified:
            user.update_attributes(verified)
        return user, details
    return sign_up


def _admin_create_user_runs_pre_sign_up(original: Callable) -> Callable:
    """CognitoIdpBackend.admin_create_user with the pool's PreSignUp trigger (PreSignUp_AdminCreateUser)."""
    def admin_create_user(self: Any, user_pool_id: str, username: str, message_action: str,
                          temporary_password: str, attributes: list) -> Any:
        user = original(self, user_pool_id, username, message_action, temporary_password, attributes)
        pool = self.user_pools.get(user_pool_id)
        if pool is not None and _cognito_trigger(pool, "PreSignUp")[0]:
            try:
                run_cognito_trigger(pool, "PreSignUp", "PreSignUp_AdminCreateUser", user.username, None,
                                    {"userAttributes": _user_attributes(user, status=False), "validationData": None,
                                     "clientMetadata": {}},
                                    {"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False})
            except Exception:
                pool.users.pop(user.username, None)
                raise
        return user
    return admin_create_user


def _confirmation_runs_post_confirmation(original: Callable) -> Callable:
    """ConfirmSignUp / AdminConfirmSignUp with the pool's PostConfirmation trigger, after the user is confirmed (a
    failing trigger fails the call; the user stays confirmed)."""
    parameters = list(inspect.signature(original).parameters)[1:]  # (client_id or user_pool_id, username)

    def confirm(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        bound = dict(zip(parameters, args, strict=False)) | kwargs
        first, username = bound[parameters[0]], bound[parameters[1]]
        pool = self.user_pools.get(first) or _pool_of_client(self, first)
        if pool is not None and _cognito_trigger(pool, "PostConfirmation")[0]:
            user = self.admin_get_user(pool.id, username)
            run_cognito_trigger(pool, "PostConfirmation", "PostConfirmation_ConfirmSignUp", user.username,
                                first if first in pool.clients else None,
                                {"userAttributes": _user_attributes(user), "clientMetadata": {}})
        return result
    return confirm


_PASSWORD_FLOWS = ("USER_PASSWORD_AUTH", "ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH")


def _sign_in_runs_triggers(original: Callable, *, admin: bool = False, challenge: bool = False) -> Callable:
    """InitiateAuth, AdminInitiateAuth and the responses to their challenges with the pool's authentication
    triggers: PreAuthentication before a password sign-in (a failure refuses it), pre token generation once for the
    tokens the call issues (TokenGeneration_Authentication, _RefreshTokens or _NewPasswordChallenge; run by
    create_jwt when the first of them is made, so a refused sign-in runs none), PostAuthentication after a sign-in
    that issued tokens."""
    names = list(inspect.signature(original).parameters)[1:]

    def call(self: Any, *given: Any, **keywords: Any) -> Any:
        # the call's arguments by name, however moto passes them, in the wrapped method's order
        bound = dict(zip(names, given, strict=False)) | keywords
        args = tuple(bound[name] for name in names if name in bound)
        user = None
        if challenge:
            session, client_id = args[0], args[1]
            name, pool = self.sessions.get(session) or ("", None)
            pool = pool or _pool_of_client(self, client_id)
            user = pool._get_user(name) if pool is not None and name else None
            flow, parameters = "", {}
        else:
            client_id, flow, parameters = args[-3], str(args[-2]), args[-1] or {}
            pool = self.user_pools.get(args[0]) if admin else _pool_of_client(self, client_id)
        if pool is None:
            return original(self, *args)
        if flow in _PASSWORD_FLOWS:
            user = pool._get_user(parameters.get("USERNAME", ""))
            if user is not None:
                run_cognito_trigger(pool, "PreAuthentication", "PreAuthentication_Authentication", user.username,
                                    client_id, {"userAttributes": _user_attributes(user), "validationData": None,
                                                "userNotFound": False})
        source = "TokenGeneration_NewPasswordChallenge" if challenge else "TokenGeneration_RefreshTokens" \
            if "REFRESH" in flow else "TokenGeneration_Authentication"
        scope = _token_overrides.set({"source": source, "answer": None})
        try:
            result = original(self, *args)
        finally:
            _token_overrides.reset(scope)
        if isinstance(result, dict) and "AuthenticationResult" in result and "REFRESH" not in flow \
                and user is not None:
            run_cognito_trigger(pool, "PostAuthentication", "PostAuthentication_Authentication", user.username,
                                client_id, {"userAttributes": _user_attributes(user), "newDeviceUsed": False,
                                            "clientMetadata": {}})
        return result
    return call


def _pre_token_answer(pool: Any, client_id: str, username: str) -> tuple[str, dict] | None:
    """The pre token generation trigger's (version, response) for the tokens being issued, run once per call."""
    scope = _token_overrides.get()
    arn, version = _cognito_trigger(pool, "PreTokenGeneration")
    if scope is None or not arn:
        return None
    if scope["answer"] is None:
        user = pool._get_user(username)
        request: dict[str, Any] = {
            "userAttributes": _user_attributes(user),
            "groupConfiguration": {"groupsToOverride": [group.group_name for group in user.groups],
                                   "iamRolesToOverride": [g.role_arn for g in user.groups if g.role_arn],
                                   "preferredRole": None}, "clientMetadata": {}}
        if version == "2":
            request["scopes"] = ["aws.cognito.signin.user.admin"]
        answer = run_cognito_trigger(pool, "PreTokenGeneration", scope["source"], user.username, client_id, request,
                                     {"claimsAndScopeOverrideDetails" if version == "2"
                                      else "claimsOverrideDetails": None})
        scope["answer"] = (version, answer or {})
    return scope["answer"]


def _overridden(version: str, answer: dict, token_use: str, payload: dict) -> dict:
    """A token's claims after the pre token generation trigger's answer (V1: the ID token only)."""
    if version == "2":
        details = answer.get("claimsAndScopeOverrideDetails") or {}
        part = details.get("idTokenGeneration" if token_use == "id" else "accessTokenGeneration") or {}
    else:
        details = answer.get("claimsOverrideDetails") or {}
        part = details if token_use == "id" else {}
    groups = (details.get("groupOverrideDetails") or {}).get("groupsToOverride")
    claims = {**payload, **(part.get("claimsToAddOrOverride") or {})}
    for name in part.get("claimsToSuppress") or []:
        claims.pop(name, None)
    if groups is not None and (token_use == "id" or version == "2"):
        if groups:
            claims["cognito:groups"] = list(groups)
        else:
            claims.pop("cognito:groups", None)
    if token_use == "access" and (part.get("scopesToAdd") or part.get("scopesToSuppress")):
        scopes = [s for s in str(claims.get("scope", "")).split() if s not in (part.get("scopesToSuppress") or [])]
        claims["scope"] = " ".join(dict.fromkeys(scopes + list(part.get("scopesToAdd") or [])))
    return claims


def _tokens_as_cognito_issues_them(original: Callable) -> Callable:
    """CognitoIdpUserPool.create_jwt with the lifetime the app client sets (its IdTokenValidity or
    AccessTokenValidity in its TokenValidityUnits, hours unless it says otherwise; moto made every token last an
    hour), and the claims the pre token generation trigger added, changed or suppressed."""
    def create_jwt(self: Any, client_id: str, username: str, token_use: str, expires_in: int = 60 * 60,
                   extra_data: dict | None = None) -> Any:
        client = self.clients.get(client_id)
        setting = {"id": "IdTokenValidity", "access": "AccessTokenValidity"}.get(token_use)
        config = client.extended_config if client is not None else {}
        if setting and config.get(setting):
            unit = (config.get("TokenValidityUnits") or {}).get(setting.removesuffix("Validity"), "hours")
            expires_in = int(config[setting]) * _TOKEN_UNITS.get(unit, 3600)
        token, seconds = original(self, client_id, username, token_use, expires_in=expires_in, extra_data=extra_data)
        overrides = _pre_token_answer(self, client_id, username)
        if overrides is None:
            return token, seconds
        from joserfc import jwt

        payload = dict(jwt.decode(token, self.json_web_key).claims)
        return jwt.encode({"kid": "dummy", "alg": "RS256"}, _overridden(*overrides, token_use, payload),
                          self.json_web_key), seconds
    return create_jwt

#: what an S3 request to the local cloud says for the conditions of a bucket policy: the local endpoint stands for
#: S3's TLS endpoint; other keys are absent (their conditions do not hold, as on AWS for a key a request lacks)
_S3_REQUEST_CONTEXT = {"aws:securetransport": "true"}
_NEGATED = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
            "NumericNotEquals", "NotIpAddress")


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    """One IAM condition (operator, key, values) against a request context: a key the request lacks makes it false
    (true for ...IfExists and for negated operators); Null tests presence; several values are alternatives."""
    import fnmatch
    import ipaddress

    operator = operator.split(":", 1)[-1]  # ForAnyValue:/ForAllValues: on a single value
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    values = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
    actual = context.get(key.lower())
    if operator == "Null":
        return (actual is None) == (values[0].lower() == "true")
    if actual is None:
        return if_exists or operator in _NEGATED
    base = operator.replace("Not", "", 1) if operator in _NEGATED else operator
    if base in ("StringEquals", "ArnEquals"):
        matched = actual in values
    elif base == "StringEqualsIgnoreCase":
        matched = actual.lower() in (v.lower() for v in values)
    elif base in ("StringLike", "ArnLike"):
        matched = any(fnmatch.fnmatchcase(actual, v) for v in values)
    elif base == "Bool":
        matched = actual.lower() in (v.lower() for v in values)
    elif base.startswith("Numeric"):
        compare = {"NumericEquals": float.__eq__, "NumericLessThan": float.__lt__,
                   "NumericLessThanEquals": float.__le__, "NumericGreaterThan": float.__gt__,
                   "NumericGreaterThanEquals": float.__ge__}.get(base)
        matched = compare is not None and any(compare(float(actual), float(v)) for v in values)
    elif base == "IpAddress":
        matched = any(ipaddress.ip_address(actual) in ipaddress.ip_network(v, strict=False) for v in values)
    else:  # an operator not evaluated locally (dates, binary): the condition does not hold
        return False
    return not matched if operator in _NEGATED else matched


def _bucket_policy_conditions_evaluated(original: Callable) -> Callable:
    """FakeBucket.get_permission: a bucket policy's statements whose Condition does not hold for the request do not
    apply, as IAM evaluates them (the request's context: _S3_REQUEST_CONTEXT). moto evaluated only StringEquals,
    held any other operator true and a condition on a key it had no value for true too: the common "deny requests
    without TLS" statement (Bool aws:SecureTransport false) refused every PutObject, GetObject and DeleteObject."""
    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return original(self, action, resource)
        from moto.iam.access_control import PermissionResult

        applying = _applying_policy(bytes(self.policy))
        return PermissionResult.NEUTRAL if applying is None else applying.is_action_permitted(action, resource)
    return get_permission


@functools.lru_cache(maxsize=64)
def _applying_policy(policy_text: bytes) -> Any:
    """A bucket policy's statements whose conditions hold for a local S3 request, as moto's IAMPolicy (None: none
    applies). The request context is the same for every request, so this is made once per policy, not per object
    request (moto parsed the policy on each)."""
    from moto.iam.access_control import IAMPolicy

    policy = json.loads(policy_text)
    statements = policy.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    kept = [{k: v for k, v in statement.items() if k != "Condition"} for statement in statements
            if all(_condition_holds(operator, key, expected, _S3_REQUEST_CONTEXT)
                   for operator, keys in (statement.get("Condition") or {}).items()
                   for key, expected in keys.items())]
    return IAMPolicy(json.dumps({**policy, "Statement": kept})) if kept else None

# --------------------------------------------------------------------------- S3 event notifications
#: S3's event sequencer: hexadecimal, later events on a key compare greater (S3 documents comparing them left-padded)
_s3_sequencer = iter(range(time.time_ns() // 1000, 1 << 72))
_s3_sequencer_lock = threading.Lock()
#: a versioned bucket's DeleteObject sends its own event (the one moto sends from inside is muted)
_s3_muted: contextvars.ContextVar[bool] = contextvars.ContextVar("s3_notifications_muted", default=False)
#: the S3 API behind each event type, EventBridge's `reason`
_S3_REASONS = {"ObjectCreated:Put": "PutObject", "ObjectCreated:Post": "PostObject",
               "ObjectCreated:Copy": "CopyObject", "ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
               "ObjectRemoved:Delete": "DeleteObject", "ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
               "ObjectRestore:Post": "RestoreObject", "ObjectTagging:Put": "PutObjectTagging",
               "ObjectTagging:Delete": "DeleteObjectTagging", "ObjectAcl:Put": "PutObjectAcl"}


def _s3_event_key(name: str) -> str:
    """An object key as S3's events and filters write it: URL-encoded, a space as "+", "/" kept ("red flower.jpg"
    is "red+flower.jpg"; a filter on a key with a space names it with "+")."""
    from urllib.parse import quote_plus

    return quote_plus(name, safe="/")


def _s3_filter_matches(notification: Any, key: str) -> bool:
    """A notification's prefix and suffix rules against the event's (encoded) key; rule names in any case."""
    rules = notification.filters.get("S3Key", {}).get("FilterRule", []) if notification.filters else []
    if isinstance(rules, dict):
        rules = [rules]
    named = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
    return key.startswith(named.get("prefix", "")) and key.endswith(named.get("suffix", ""))


def _s3_request_ids(request: str) -> tuple[str, str]:
    """The two ids S3 gives a request: x-amz-request-id (16 hexadecimal digits) and x-amz-id-2 (base64)."""
    return request.replace("-", "")[:16].upper(), base64.b64encode(request.encode()).decode()


def _s3_object(event: str, bucket: Any, key: Any, sequencer: str, names: tuple[str, str, str]) -> dict[str, Any]:
    """The object of an S3 event: its key, size and ETag for a created object, its version in a versioned bucket,
    a sequencer for creations and deletions. `names`: the key as written, and the ETag's and version's field names
    (a notification's record and an EventBridge detail name them differently)."""
    key_name, etag, version_id = names
    obj: dict[str, Any] = {"key": key_name}
    if event.startswith("ObjectCreated"):
        obj["size"] = key.size
        obj[etag] = key.etag.strip('"')
    version = getattr(key, "version_id", None)
    if bucket.versioning_status and version not in (None, "null"):
        obj[version_id] = str(version)
    if event.startswith(("ObjectCreated", "ObjectRemoved")):
        obj["sequencer"] = sequencer
    return obj


def _s3_record(account_id: str, event: str, bucket: Any, key: Any, configuration: str, sequencer: str,
               request: str) -> dict[str, Any]:
    """One record of an S3 event notification, as S3 writes it (the "Event message structure" of the S3 user
    guide)."""
    from moto.s3.models import OWNER

    amz_request_id, host_id = _s3_request_ids(request)
    return {"eventVersion": "2.3" if event.startswith(("ObjectTagging", "ObjectAcl")) else "2.1",
            "eventSource": "aws:s3", "awsRegion": bucket.region_name,
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "eventName": event,
            "userIdentity": {"principalId": f"AWS:{account_id}"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": amz_request_id, "x-amz-id-2": host_id},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": configuration,
                   "bucket": {"name": bucket.name, "ownerIdentity": {"principalId": OWNER}, "arn": bucket.arn},
                   "object": _s3_object(event, bucket, key, sequencer, (_s3_event_key(key.name), "eTag",
                                                                          "versionId"))}}


def _s3_event_bridge_detail(account_id: str, event: str, bucket: Any, key: Any, sequencer: str,
                            request: str) -> dict[str, Any]:
    """The `detail` of the EventBridge event S3 sends for `event` (the "EventBridge event message structure")."""
    detail: dict[str, Any] = {"version": "0", "bucket": {"name": bucket.name},
                              "object": _s3_object(event, bucket, key, sequencer, (key.name, "etag", "version-id")),
                              "request-id": _s3_request_ids(request)[0], "requester": account_id,
                              "source-ip-address": "127.0.0.1",
                              "reason": _S3_REASONS.get(event, event.split(":")[0])}
    if event.startswith("ObjectRemoved"):
        detail["deletion-type"] = ("Delete Marker Created" if event.endswith("DeleteMarkerCreated")
                                   else "Permanently Deleted")
    return detail


def _s3_send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    """moto.s3.notifications.send_event: S3's notifications of one event, as S3 delivers them. A Lambda function is
    invoked asynchronously (Lambda's retries, dead-letter queue and destinations apply), a queue gets the record, a
    topic publishes it (subject "Amazon S3 Notification"), EventBridge gets it on the default bus when the bucket
    enables it. moto invoked a function synchronously through its own Lambda (and swallowed every error), matched
    filters against the raw key with rule names in lower case only, wrote a record without userIdentity,
    requestParameters, responseElements, sequencer or versionId (and a deletion with size and eTag), and sent the
    EventBridge event to every rule of every bus, a pattern or not. A delivery that fails is logged: the S3 request
    succeeds regardless, as on AWS."""
    config = bucket.notification_configuration
    if config is None or key is None or _s3_muted.get():
        return
    event = str(getattr(event_name, "value", event_name)).removeprefix("s3:")
    with _s3_sequencer_lock:
        sequencer = f"{next(_s3_sequencer):018X}"
    request = request_id()
    encoded = _s3_event_key(key.name)
    region = bucket.region_name

    def matching(notifications: list[Any]) -> Iterator[tuple[Any, str]]:
        for notification in notifications:
            if notification._event_matches(f"s3:{event}") and _s3_filter_matches(notification, encoded):
                record = _s3_record(account_id, event, bucket, key, notification.id, sequencer, request)
                yield notification, json.dumps({"Records": [record]})

    for notification, body in matching([*config.cloud_function, *config.queue, *config.topic]):
        _s3_deliver(bucket, notification.arn, lambda arn=notification.arn, body=body: deliver_to(
            arn, body, subject=_S3_SUBJECT))
    if config.event_bridge is not None:
        from moto.s3.notifications import _detail_type

        try:
            detail_type = _detail_type(f"s3:{event}")
        except ValueError:  # an event type S3 does not send to EventBridge
            return
        detail = _s3_event_bridge_detail(account_id, event, bucket, key, sequencer, request)

        def put() -> None:
            from moto.events.models import events_backends

            events_backends[account_id][region].put_events([{
                "Source": "aws.s3", "DetailType": detail_type, "Detail": json.dumps(detail),
                "Resources": [bucket.arn], "EventBusName": "default"}])
        _s3_deliver(bucket, "EventBridge", put)


#: the subject of what S3 publishes to a topic
_S3_SUBJECT = "Amazon S3 Notification"


def _s3_deliver(bucket: Any, destination: str, deliver: Callable[[], None]) -> None:
    try:
        deliver()
    except Exception as exc:  # noqa: BLE001 - S3's request succeeds; its notification's delivery failed
        logger.warning("S3 bucket %s: the event notification to %s failed: %s", bucket.name, destination, exc)


def _s3_send_test_event(account_id: str, bucket: Any) -> None:
    """moto.s3.notifications.send_test_event: the s3:TestEvent S3 sends to each queue and topic a configuration
    names, with its RequestId and HostId (moto's had neither)."""
    config = bucket.notification_configuration
    request_ids = _s3_request_ids(request_id())
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                       "Time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                       "Bucket": bucket.name, "RequestId": request_ids[0],
                       "HostId": request_ids[1]})
    for arn in dict.fromkeys(n.arn for n in [*config.queue, *config.topic]):
        _s3_deliver(bucket, arn, lambda arn=arn: deliver_to(arn, body, subject=_S3_SUBJECT))


def _s3_destinations_validated(original: Callable) -> Callable:
    """S3Backend.put_bucket_notification_configuration refuses a destination that does not exist, as S3 does
    (InvalidArgument "Unable to validate the following destination configurations"); moto kept it and dropped its
    events. Permissions (the function's resource policy, the queue's or topic's policy) are not checked."""
    def put(self: Any, bucket_name: str, notification_config: dict[str, Any]) -> None:
        missing = [arn for kind in ("CloudFunctionConfiguration", "QueueConfiguration", "TopicConfiguration")
                   for arn in _s3_destination_arns(notification_config.get(kind), kind)
                   if not _s3_destination_exists(arn)]
        if missing:
            from moto.s3.exceptions import S3ClientError

            refused = S3ClientError("InvalidArgument", "Unable to validate the following destination "
                                                       f"configurations: {', '.join(missing)}")
            refused.code, refused.status = "InvalidArgument", 400
            raise refused
        return original(self, bucket_name, notification_config)
    return put


def _s3_destination_arns(configs: Any, kind: str) -> list[str]:
    field_name = {"CloudFunctionConfiguration": "CloudFunction", "QueueConfiguration": "Queue",
                  "TopicConfiguration": "Topic"}[kind]
    configs = [configs] if isinstance(configs, dict) else (configs or [])
    return [str(config.get(field_name, "")) for config in configs]


def _s3_destination_exists(arn: str) -> bool:
    parts = arn.split(":")
    if len(parts) < 6:
        return False
    service, region, account = parts[2], parts[3], parts[4]
    try:
        if service == "lambda":
            from moto.awslambda.utils import get_backend

            get_backend(account, region).get_function(parts[6])
        elif service == "sqs":
            from moto.sqs.models import sqs_backends

            sqs_backends[account][region].get_queue(parts[5])
        elif service == "sns":
            from moto.sns.models import sns_backends

            sns_backends[account][region].get_topic(arn)
        else:
            return False
    except Exception:  # noqa: BLE001 - moto's not-found errors differ per service
        return False
    return True


def _s3_versioned_delete_notifies(original: Callable) -> Callable:
    """S3Backend.delete_object in a versioned bucket sends S3's event: s3:ObjectRemoved:DeleteMarkerCreated for a
    delete without a version (moto sent none), s3:ObjectRemoved:Delete with the version removed for a delete of one
    version (moto sent one only when the last version went, naming the newest)."""
    def delete_object(self: Any, bucket_name: str, key_name: str, version_id: str | None = None,
                      bypass: bool = False) -> tuple[bool, dict[str, Any]]:
        bucket = self.get_bucket(bucket_name)
        if not getattr(bucket, "is_versioned", False) or bucket.notification_configuration is None:
            return original(self, bucket_name, key_name, version_id, bypass)
        before = {str(k.version_id): k for k in bucket.keys.getlist(key_name, [])}
        muted = _s3_muted.set(True)
        try:
            done, meta = original(self, bucket_name, key_name, version_id, bypass)
        finally:
            _s3_muted.reset(muted)
        if done and version_id is None and meta.get("version-id"):
            marker = next((k for k in bucket.keys.getlist(key_name, []) if str(k.version_id) == meta["version-id"]),
                          None)
            _s3_send_event(bucket.account_id, "s3:ObjectRemoved:DeleteMarkerCreated", bucket, marker)
        elif done and version_id is not None and str(version_id) in before:
            _s3_send_event(bucket.account_id, "s3:ObjectRemoved:Delete", bucket, before[str(version_id)])
        return done, meta
    return delete_object


# --------------------------------------------------------------------------- Cloud Map
#: RegisterInstance and DeregisterInstance of Cloud Map, one at a time
CLOUD_MAP_LOCK = threading.Lock()


def _register_replaces(self: Any, service_id: str, instance_id: str, creator_request_id: str,
                       attributes: dict[str, str]) -> str:
    """ServiceDiscoveryBackend.register_instance: an existing InstanceId is updated (its attributes replaced), as
    Cloud Map does; moto added a second instance of the id. The service's list is replaced, not changed in
    place (copy on write), so a reader walking it (GetInstance, DeregisterInstance, DiscoverInstances) never sees
    it shift: moto's removal under a walk made the walk skip an instance (InstanceNotFound for a registered one)."""
    from moto.servicediscovery.models import ServiceInstance

    with CLOUD_MAP_LOCK:
        service = self.get_service(service_id)
        instance = ServiceInstance(service_id=service_id, instance_id=instance_id,
                                   creator_request_id=creator_request_id, attributes=attributes)
        kept = [instance if i.instance_id == instance_id else i for i in service.instances]
        service.instances = kept if instance in kept else [*kept, instance]
        service.instances_revision[instance_id] = service.instances_revision.get(instance_id, 0) + 1
        return self._create_operation("REGISTER_INSTANCE", targets={"INSTANCE": instance_id})


def _deregister_copies(self: Any, service_id: str, instance_id: str) -> str:
    """ServiceDiscoveryBackend.deregister_instance with the service's list replaced (see _register_replaces)."""
    from moto.servicediscovery.exceptions import InstanceNotFound

    with CLOUD_MAP_LOCK:
        service = self.get_service(service_id)
        kept = [i for i in service.instances if i.instance_id != instance_id]
        if len(kept) == len(service.instances):
            raise InstanceNotFound(instance_id)
        service.instances = kept
        service.instances_revision[instance_id] = service.instances_revision.get(instance_id, 0) + 1
        return self._create_operation("DEREGISTER_INSTANCE", targets={"INSTANCE": instance_id})


#: the package of moto's Step Functions interpreter's executing states
_SFN_STATES = "moto.stepfunctions.parser.asl.component.state.exec"


def _states_errors_pass_through(original: Callable) -> Callable:
    """The error name a Parallel state or a Map iteration fails with when a branch or an iteration failed: a
    States.* error (States.Timeout, States.TaskFailed, States.Runtime...) keeps its name, as on AWS. moto made each
    a custom error name, which refuses the States. prefix: the ValueError failed the execution with States.Runtime,
    and a Retry or Catch for the branch's error (States.Timeout) never matched."""
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

    def error_name_for(error_name: str | None = None) -> Any:
        if error_name is not None and error_name.startswith("States."):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:  # a States. name the interpreter has no type for: moto's refusal, as before
                pass
        return original(error_name=error_name)
    return error_name_for


def _lambda_client_errors_named(self: Any, original: Callable, env: Any, ex: Exception) -> Any:
    """A Lambda task (a function ARN as its Resource) whose Invoke failed is named as Step Functions names it,
    `Lambda.<the error code>` (Lambda.TooManyRequestsException when the function is throttled), with the cause
    the `lambda:invoke` integration gives. moto named every such failure "Exception", so the Retry on
    Lambda.TooManyRequestsException that AWS recommends (and SAM's and Workflow Studio's defaults carry) never
    matched a throttled invoke."""
    from botocore.exceptions import ClientError

    failure = original(self, env, ex)
    if not isinstance(ex, ClientError):
        return failure
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )

    try:
        error, cause = StateTaskServiceLambda._error_cause_from_client_error(ex)
    except KeyError:  # an answer without its metadata
        error, cause = f"Lambda.{ex.response['Error']['Code']}", ex.response["Error"].get("Message", "")
    details = failure.event_details.get("lambdaFunctionFailedEventDetails")
    if details is not None:
        details["error"], details["cause"] = error, cause
    return FailureEvent(env=env, error_name=CustomErrorName(error), event_type=failure.event_type,
                        event_details=failure.event_details)


def _running_until_started(original: Callable) -> property:
    """Execution.status of an execution StartExecution has accepted: RUNNING. moto lists an execution with its
    state machine before start() gives it a status, and ListExecutions in that window failed with AttributeError
    (a 500) on exec_status None."""
    from moto.stepfunctions.parser.api import ExecutionStatus

    return property(lambda self: (self.exec_status or ExecutionStatus.RUNNING).value)


def _stopped_stays_aborted(self: Any, original: Callable, error: Any) -> None:
    """Environment.set_error leaves a stopped program stopped: a StopExecution ends the execution ABORTED, as AWS
    does. In moto the states a stop catches mid-way go on a step (a pruned resource pushes nothing, so a Lambda
    task then pops its parameters for its resource), fail on what they find, and set_error replaced the stop:
    the execution ended FAILED with the interpreter's own error."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    with self._state_mutex:  # an RLock: the stop and this error are decided under it, one after the other
        if isinstance(self._program_state, ProgramStopped):
            return
        original(self, error=error)


# --------------------------------------------------------------------------- CloudWatch Logs filters
def _subscription_filtered(self: Any, original: Callable[..., Any], service: str, destination_arn: str,
                           filter_name: str, log_events: list[dict[str, Any]]) -> None:
    """A subscription gets the events its filter pattern matches (infra/log_patterns.py); a function is invoked
    asynchronously with CloudWatch Logs' payload (the batch gzipped and base64-encoded under awslogs.data), as
    CloudWatch Logs invokes it; a delivery stream the local cloud delivers (infra/firehose.py) gets the gzipped batch
    as a record. Other destinations (Kinesis, a log group) as moto sends them."""
    from infra import log_patterns

    subscription = self.log_group.subscription_filters.get(filter_name)
    try:
        match = log_patterns.compile_pattern(getattr(subscription, "filter_pattern", "") or "")
    except log_patterns.UnsupportedPattern:
        return  # PutSubscriptionFilter refuses such a pattern; one that got in before matches nothing
    events = [event for event in log_events if match(event["message"])]
    if not events:
        return
    batch = {"messageType": "DATA_MESSAGE", "owner": self.account_id, "logGroup": self.log_group.name,
             "logStream": self.log_stream_name, "subscriptionFilters": [filter_name], "logEvents": events}
    if service == "firehose":  # a record of the gzipped batch, as CloudWatch Logs puts it
        put_firehose_record(destination_arn, gzip.compress(json.dumps(batch, separators=(",", ":")).encode()))
        return
    if service != "lambda":
        original(self, service, destination_arn, filter_name, events)
        return
    data = base64.b64encode(gzip.compress(json.dumps(batch, separators=(",", ":")).encode())).decode()
    deliver_to(destination_arn, "", event={"awslogs": {"data": data}})


def _subscription_pattern_checked(self: Any, original: Callable[..., Any], filter_name: str, filter_pattern: str,
                                  *args: Any, **kwargs: Any) -> Any:
    """PutSubscriptionFilter refuses a pattern the local cloud cannot evaluate (moto sent every event for it)."""
    _check_pattern(filter_pattern)
    return original(self, filter_name, filter_pattern, *args, **kwargs)


def _metric_pattern_checked(self: Any, original: Callable[..., Any], filter_name: str, filter_pattern: str,
                            *args: Any, **kwargs: Any) -> Any:
    """PutMetricFilter refuses a pattern the local cloud cannot evaluate, and a put of an existing filter's name
    replaces it, as CloudWatch Logs does (moto appended a second filter of that name)."""
    _check_pattern(filter_pattern)
    log_group = args[0] if args else kwargs["log_group_name"]
    self.filters.metric_filters = [f for f in self.filters.metric_filters
                                   if (f["filterName"], f["logGroupName"]) != (filter_name, log_group)]
    return original(self, filter_name, filter_pattern, *args, **kwargs)


def _check_pattern(pattern: str | None) -> None:
    from moto.logs.exceptions import InvalidParameterException

    from infra import log_patterns

    try:
        log_patterns.compile_pattern(pattern or "")
    except log_patterns.UnsupportedPattern as unsupported:
        raise InvalidParameterException(f"Invalid filter pattern: {unsupported}") from None


def _metric_filters_applied(self: Any, original: Callable[..., Any], log_events: list[dict[str, Any]]) -> Any:
    """A log group's metric filters turn its matching events into metric datapoints, as CloudWatch Logs does (moto
    kept the filters and emitted nothing): per event, the transformation's value (a number or a $.field of a JSON
    pattern's match), its DefaultValue for an event the pattern does not match, its unit and dimensions."""
    token = original(self, log_events)
    from moto.logs.models import logs_backends

    group = self.log_group.name
    filters = [f for f in logs_backends[self.account_id][self.region].filters.metric_filters
               if f["logGroupName"] == group]
    for metric_filter in filters:
        _emit_metric_filter(self.account_id, self.region, metric_filter, log_events)
    return token


def _emit_metric_filter(account_id: str, region: str, metric_filter: dict, log_events: list[dict[str, Any]]) -> None:
    from infra import log_patterns

    try:
        match = log_patterns.compile_pattern(metric_filter.get("filterPattern") or "")
    except log_patterns.UnsupportedPattern:
        return
    for event in log_events:
        found = match(event["message"])
        for transformation in metric_filter["metricTransformations"]:
            if found:
                value = _metric_value(transformation.get("metricValue", "1"), found)
                dimensions = {name: log_patterns.field_value(found, selector)
                              for name, selector in (transformation.get("dimensions") or {}).items()}
                if value is None or None in dimensions.values():
                    continue
            elif transformation.get("defaultValue") is not None:
                value, dimensions = float(transformation["defaultValue"]), {}
            else:
                continue
            _record_metric(account_id, region, transformation, value,
                           {k: str(v) for k, v in dimensions.items()}, event.get("timestamp"))


def _metric_value(text: str, found: Any) -> float | None:
    from infra import log_patterns

    text = str(text)
    if text.startswith("$"):
        value = log_patterns.field_value(found, text)
        if isinstance(value, bool) or value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return float(text)


def _record_metric(account_id: str, region: str, transformation: dict, value: float, dimensions: dict[str, str],
                   timestamp_ms: Any) -> None:
    from infra.observability import metrics

    namespace, name, unit = (transformation["metricNamespace"], transformation["metricName"],
                             transformation.get("unit"))
    at = float(timestamp_ms) / 1000 if timestamp_ms is not None else time.time()
    store = metrics.active_store()
    if store is not None:
        store.record(namespace, name, value, unit, dimensions, at)
        return
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[account_id][region].put_metric_data(namespace, [{
        "MetricName": name, "Value": value, "Unit": unit, "Timestamp": datetime.fromtimestamp(at, UTC),
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}])


EMULATOR_PATCHES: list[Replacement] = [
    Replacement("sfn-start-sync-execution", _owner("moto.stepfunctions.responses", "StepFunctionResponse"),
                "start_sync_execution", lambda _: _start_sync_execution_response,
                "moto routes no StartSyncExecution: an Express state machine could not be run synchronously"),
    Replacement("sfn-describe-execution-whole", _owner("moto.stepfunctions.responses", "StepFunctionResponse"),
                "describe_execution", lambda _: _describe_execution_response,
                "moto's DescribeExecution has no inputDetails, no traceHeader, no stopDate for a TIMED_OUT "
                "execution, and writes the output with spaces where Step Functions writes it compact"),
    Replacement("sfn-execution-history-pages", _owner("moto.stepfunctions.responses", "StepFunctionResponse"),
                "get_execution_history", _calling(_execution_history_response),
                "moto's GetExecutionHistory answers every event oldest first whatever maxResults, nextToken, "
                "reverseOrder and includeExecutionData ask: reverseOrder with maxResults 1, the usual way to read "
                "how an execution ended, answered its ExecutionStarted"),
    Replacement("sfn-start-sync-execution-backend", _sfn_parser_backend, "start_sync_execution",
                lambda _: start_sync_execution, "the backend method the route above runs"),
    Replacement("backend-lookup-without-registration-scan", _owner("moto.core.base_backend", "BackendDict"),
                "__getitem__", _existing_account_first,
                "every backend lookup took a global lock and compared this BackendDict with every registered one"),
    Replacement("dynamodb-atomic-requests", _dynamo_handler, "call_action", _atomic_call_action,
          "moto's UpdateItem ADD and TransactWriteItems read, change and write without isolation: 20 concurrent "
          "counter commits ended at 15-18. DynamoDB makes each request atomic; one lock does here."),
    Replacement("dynamodb-transaction-journal", _dynamodb_backend, "transact_write_items",
                _journaled_transact_write_items,
          "TransactWriteItems deep-copied each table it touched (11% of a publish's CPU, growing with the table)"),
    Replacement("dynamodb-copy-without-tables", _dynamodb_models, "copy", lambda _: _CopyWithoutTables(),
          "the journal above stands in for moto's table backup"),
    Replacement("dynamodb-ast-copy", _validators_module, "deepcopy", _ast_copy,
                "copy.deepcopy of each UpdateExpression tree: ~15% of an UpdateItem"),
    Replacement("dynamodb-update-expressions-parsed-once", _update_expression_parser, "make", _parsed_once,
                "every UpdateItem parsed its expression twice"),
    Replacement("dynamodb-update-checks-once", _update_validator_class, "__init__", _tree_checks_once,
                "an UpdateItem's checks that read only its expression, names and keys ran again on every call"),
    Replacement("dynamodb-expression-traversal", _owner("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser"),
                "traverse", _dispatched_traversal,
                "each of an UpdateItem's ten tree traversals rebuilt its processor map twice per node"),
    Replacement("dynamodb-expression-find-clauses", _owner("moto.dynamodb.parsing.ast_nodes", "Node"),
                "find_clauses", _typed_find_clauses,
                "finding an expression's clauses checked each node against abstract classes"),
    Replacement("dynamodb-partition-query", _dynamodb_table, "query", _partition_query,
                "a Query on the table's key listed and sorted the whole table for one partition"),
    Replacement("dynamodb-conditions-lexed-once", _condition_parser, "_lex_condition_expression", _lexed_once,
                "condition and filter expressions lexed again, with regexes compiled per token, on every call"),
    Replacement("dynamodb-conditions-checked-once", _dynamodb_responses, "create_condition_expression_parser",
                _checked_once, "a request's condition expression checked by a parse of its own on every call"),
    Replacement("sfn-entered-time-as-aws-writes-it", _owner("moto.stepfunctions.parser.asl.component.state.state"),
                "StateData", _entered_as_aws_writes_it,
                "$$.State.EnteredTime in Python's isoformat (microseconds, +00:00), not AWS's (milliseconds, Z)"),
    Replacement("sfn-branch-thread-names", _branch_worker_class, "start", _named_cheaply,
                "each Parallel branch's thread was named after a dump of the branch's parsed definition"),
    Replacement("moto-weakly-tracked-instances", _owner("moto.core.common_models", "BaseModel"),
                "__new__", _weakly_tracked,
                "moto kept every model instance it ever made (item copies, pruned log events and executions)"),
    Replacement("moto-cached-method-names", _owner("moto.core.responses"), "method_names_from_class",
                _cached_method_names, "moto lists a response class's methods on every request"),
    Replacement("sfn-shared-lambda-clients", _lambda_eval_utils, "boto_client_for", _shared_task_clients,
          "a new boto3 client per Lambda task"),
    Replacement("sfn-shared-dynamodb-clients", _owner(_DYNAMODB_TASKS), "boto_client_for", _shared_task_clients,
          "a new boto3 client per DynamoDB task"),
    Replacement("sfn-named-executions", _sfn_parser_backend, "start_execution", _named_executions,
          "an execution started without a name was named \"None\", and names AWS refuses were taken"),
    Replacement("sfn-bounded-executions", _sfn_parser_backend, "start_execution", _bounded_executions,
          "every execution and its history kept forever"),
    Replacement("sfn-execution-names-indexed", _owner("moto.stepfunctions.models", "StateMachine"),
                "_handle_name_input_idempotency", _indexed_execution_names,
          "StartExecution compared the name with every execution kept, one by one"),
    Replacement("sfn-finished-history-compacted",
                _owner("moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication"),
                "terminated", _history_compacted,
          "a finished execution kept its whole interpreter (~60 KB of cyclic objects) for its history's sake"),
    Replacement("sfn-describe-newest-first", _owner("moto.stepfunctions.models", "StepFunctionBackend"),
                "describe_execution", _newest_first,
          "DescribeExecution scanned the state machine's executions from the oldest"),
    Replacement("sfn-stop-right-after-start",
                _owner("moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker"), "stop",
                _calling(_stop_once_started),
          "a StopExecution right after StartExecution failed (500) or was dropped, and the execution ran on"),
    Replacement("sfn-wait-notices-a-stop",
                _owner("moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
                       "WaitFunction"), "_wait_interval", _calling(_wait_noticing_a_stop),
          "a Wait state missed a stop that came before it began to sleep: the execution waited out its Seconds"),
    Replacement("sfn-branch-always-ends", _branch_worker_class, "_thread_routine", _branch_always_ends,
          "a Parallel branch opened after a stop died before telling the Parallel state: the stopped execution "
          "stayed RUNNING for good"),
    Replacement("sqs-receive-one-at-a-time", _owner("moto.sqs.models", "SQSBackend"), "receive_message",
                _calling(_receive_one_at_a_time),
          "concurrent receives got the same message, and a FIFO group's messages went out of order"),
    Replacement("sqs-delete-under-the-queue-lock", _owner("moto.sqs.models", "Queue"), "delete_message",
                _delete_under_the_queue_lock, "a message sent while another was deleted could be lost"),
    Replacement("sqs-batch-under-the-queue-lock", _owner("moto.sqs.models", "SQSBackend"), "send_message_batch",
                _calling(_batch_under_the_queue_lock),
          "a receive during a SendMessageBatch could fail (a message's attributes changed as it was copied)"),
    Replacement("sqs-visibility-under-the-queue-lock", _owner("moto.sqs.models", "SQSBackend"),
                "change_message_visibility", _calling(_visibility_under_the_queue_lock),
          "a visibility change could see a message half-way through a receive or delete, and a negative one was kept"),
    Replacement("logs-subscriptions-filtered", _owner("moto.logs.models", "LogStream"), "_send_log_events",
                _calling(_subscription_filtered),
                "a subscription got every event of its log group whatever its filter pattern, and its function was "
                "invoked synchronously inside PutLogEvents"),
    Replacement("logs-subscription-patterns-checked", _owner("moto.logs.models", "LogGroup"),
                "put_subscription_filter", _calling(_subscription_pattern_checked),
                "a pattern moto cannot read matched every event"),
    Replacement("logs-metric-patterns-checked", _owner("moto.logs.models", "LogsBackend"), "put_metric_filter",
                _calling(_metric_pattern_checked),
                "a pattern moto cannot read was kept, and a put of an existing filter's name added a second filter"),
    Replacement("logs-metric-filters-emit", _owner("moto.logs.models", "LogStream"), "put_log_events",
                _calling(_metric_filters_applied), "metric filters were kept and emitted no datapoint"),
    Replacement("sqs-queue-attributes-in-range", _owner("moto.sqs.models", "Queue"), "_set_attributes",
                _calling(_queue_attributes_in_range),
                "a DelaySeconds of 901, a VisibilityTimeout over 12 hours, a MessageRetentionPeriod under a minute or "
                "a ReceiveMessageWaitTimeSeconds over 20 were kept; a value that is not a number was a 500"),
    Replacement("sqs-message-delay-in-range", _owner("moto.sqs.models", "SQSBackend"), "_validate_message",
                _calling(_message_delay_in_range),
                "SendMessage kept a negative DelaySeconds, or one over 900"),
    Replacement("sqs-clock-seconds", _owner("moto.sqs.models"), "unix_time", lambda _: _sqs_clock_seconds,
                "SQS read the clock through two datetimes and an import per call, several times per message of a "
                "queue at each send and receive"),
    Replacement("sqs-clock-millis", _owner("moto.sqs.models"), "unix_time_millis", lambda _: _sqs_clock_millis,
                "as sqs-clock-seconds"),
    *(Replacement(f"sqs-queue-scan-{attr}", _owner("moto.sqs.models", "Queue"), attr, lambda _, a=attr: _queue_scan(a),
                  "a queue's message scans read the clock per message (three scans for GetQueueAttributes, which "
                  "SendMessage reads too): a send to a queue of 500 messages took ~100 ms, a receive ~700 ms")
      for attr in _QUEUE_SCANS),
    Replacement("sqs-retention-check-reads-the-retention", _owner("moto.sqs.models", "SQSBackend"),
                "is_message_valid_based_on_retention_period", lambda _: _retention_of_the_queue,
                "a receive read every attribute of the queue (three counts over all its messages) for each message "
                "it took"),
    *(Replacement(f"events-{operation.replace('_', '-')}-under-the-lock", _owner("moto.events.models", "EventsBackend"),
                  operation, _under_the_events_lock,
                  "PutEvents walked a bus's rules (and a rule's targets) while PutRule, DeleteRule, PutTargets or "
                  "RemoveTargets changed them: it failed (a 500, 'OrderedDict mutated during iteration') after "
                  "delivering part of its events")
      for operation in ("put_events", "put_rule", "delete_rule", "put_targets", "remove_targets")),
    Replacement("events-rule-targets", _owner("moto.events.models", "Rule"), "send_to_targets",
                _rule_sends_to_targets,
                "a rule with a Lambda target failed every matching PutEvents (NotImplementedError); a target's Input "
                "and InputPath were ignored; SNS and Step Functions targets failed; the event had no account; a "
                "schedule rule or a DISABLED rule matched every event"),
    Replacement("lambda-event-invoke-config-put-replaces", _owner("moto.awslambda.models", "LambdaBackend"),
                "put_function_event_invoke_config", lambda _: _put_invoke_config_replaces,
                "PutFunctionEventInvokeConfig appended a config and the first one stayed in force"),
    Replacement("lambda-event-invoke-config-update-merges", _owner("moto.awslambda.models", "LambdaBackend"),
                "update_function_event_invoke_config", lambda _: _update_invoke_config_merges,
                "UpdateFunctionEventInvokeConfig was another put (hidden by the first config), not a change of the "
                "settings it names"),
    Replacement("sns-filter-ignore-case", _owner("moto.sns.utils", "FilterPolicyMatcher"), "__init__",
                _filter_policy_ignores_case,
                "equals-ignore-case matched only a policy value written in lower case"),
    Replacement("sns-filter-body-or", _owner("moto.sns.utils", "FilterPolicyMatcher"), "_body_based_match",
                _calling(_body_or_matches),
                "an $or in a MessageBody filter policy was checked as message attributes: the policy matched nothing"),
    Replacement("sns-filter-types-never-fail", _owner("moto.sns.utils", "FilterPolicyMatcher"), "matches",
                _filter_policy_types_never_fail,
                "a numeric condition on a body value that is a string failed the Publish (a 500) after the "
                "subscriptions before it had the message"),
    *(Replacement(f"s3-presigned-urls-expire-{kind}", _owner("moto.s3.responses", "S3Response"), f"_{kind}_response",
                  _presigned_urls_expire, "a presigned URL was answered after its expiry")
      for kind in ("key", "bucket")),
    Replacement("cognito-tokens-as-cognito-issues-them", _owner("moto.cognitoidp.models", "CognitoIdpUserPool"),
                "create_jwt", _tokens_as_cognito_issues_them,
                "every token lasted an hour whatever the app client's IdTokenValidity, AccessTokenValidity and "
                "TokenValidityUnits said; the pre token generation trigger's claims go in here"),
    Replacement("cognito-sign-up-runs-pre-sign-up", _owner("moto.cognitoidp.models", "CognitoIdpBackend"),
                "sign_up", _sign_up_runs_pre_sign_up, "moto ran no Lambda trigger of a user pool"),
    Replacement("cognito-admin-create-user-runs-pre-sign-up", _owner("moto.cognitoidp.models", "CognitoIdpBackend"),
                "admin_create_user", _admin_create_user_runs_pre_sign_up, "moto ran no Lambda trigger of a user pool"),
    *(Replacement(f"cognito-{operation.replace('_', '-')}-runs-post-confirmation",
                  _owner("moto.cognitoidp.models", "CognitoIdpBackend"), operation,
                  _confirmation_runs_post_confirmation, "moto ran no Lambda trigger of a user pool")
      for operation in ("confirm_sign_up", "admin_confirm_sign_up")),
    *(Replacement(f"cognito-{operation.replace('_', '-')}-runs-triggers",
                  _owner("moto.cognitoidp.models", "CognitoIdpBackend"), operation,
                  functools.partial(_sign_in_runs_triggers, admin=operation.startswith("admin"),
                                    challenge="challenge" in operation), "moto ran no Lambda trigger of a user pool")
      # (AdminRespondToAuthChallenge is moto's RespondToAuthChallenge)
      for operation in ("initiate_auth", "admin_initiate_auth", "respond_to_auth_challenge")),
    Replacement("lambda-invoke-reads-the-qualifier", _owner("moto.awslambda.responses", "LambdaResponse"), "invoke",
                _invoke_reads_the_qualifier,
                "Invoke's Qualifier was ignored (moto read \"qualifier\"): a qualified invoke ran $LATEST, an unknown "
                "qualifier was not refused, and a payload's \"qualifier\" key chose the version"),
    *(Replacement(f"scheduler-{operation.replace('_', '-')}-tells-the-clock",
                  _owner("moto.scheduler.models", "EventBridgeSchedulerBackend"), operation,
                  _scheduler_tells_the_clock, "moto stored schedules and never fired one")
      for operation in ("create_schedule", "update_schedule")),
    Replacement("lambda-mappings-created-poll", _owner("moto.awslambda.models", "LambdaBackend"),
                "create_event_source_mapping", _mapping_created,
                "a mapping created while the cloud ran was run by moto inside SendMessage, one message at a time, "
                "without its batch size, window, concurrency or filters"),
    Replacement("lambda-mappings-updated-poll", _owner("moto.awslambda.models", "LambdaBackend"),
                "update_event_source_mapping", _mapping_updated,
                "UpdateEventSourceMapping was stored and not applied: a disabled mapping went on polling"),
    Replacement("lambda-mappings-deleted-stop", _owner("moto.awslambda.models", "LambdaBackend"),
                "delete_event_source_mapping", _mapping_deleted, "a deleted mapping went on polling"),
    *(Replacement(f"pipes-{operation.replace('_', '-')}-runs", _owner("moto.pipes.models", "EventBridgePipesBackend"),
                  operation, _pipe_changed, "moto stored pipes; the local cloud ran the template's only, and as "
                  "deployed: a pipe stopped, started, changed or created through the API was not followed")
      for operation in ("create_pipe", "update_pipe", "start_pipe", "stop_pipe")),
    Replacement("pipes-delete-pipe-stops", _owner("moto.pipes.models", "EventBridgePipesBackend"), "delete_pipe",
                _pipe_deleted, "a deleted pipe went on polling"),
    Replacement("firehose-buffers-and-delivers", _owner("moto.firehose.models", "FirehoseBackend"),
                "put_record_batch", _firehose_buffers,
                "moto wrote each PutRecord(Batch) at once as one S3 object: no buffering, transformation or "
                "compression"),
    Replacement("scheduler-delete-schedule-stops-the-clock",
                _owner("moto.scheduler.models", "EventBridgeSchedulerBackend"), "delete_schedule",
                _scheduler_deletes_from_the_clock, "a deleted schedule must fire no more"),
    Replacement("s3-bucket-policy-conditions-evaluated", _owner("moto.s3.models", "FakeBucket"), "get_permission",
                _bucket_policy_conditions_evaluated,
                "a bucket policy's conditions were held true unless StringEquals on a key moto had a value for: "
                "'deny requests without TLS' refused every object request"),
    Replacement("s3-notifications-delivered", _owner("moto.s3.notifications"), "send_event",
                lambda _: _s3_send_event,
                "a bucket's notification invoked its function synchronously through moto's Lambda and swallowed "
                "every error, matched filters against the raw key, wrote a record without userIdentity, "
                "responseElements, sequencer or versionId, and sent its EventBridge event to every rule of every bus"),
    Replacement("s3-notifications-test-event", _owner("moto.s3.notifications"), "send_test_event",
                lambda _: _s3_send_test_event, "the s3:TestEvent had no RequestId or HostId"),
    Replacement("s3-notification-destinations-exist", _owner("moto.s3.models", "S3Backend"),
                "put_bucket_notification_configuration", _s3_destinations_validated,
                "a notification to a function, queue or topic that does not exist was accepted (S3 refuses it)"),
    Replacement("s3-versioned-delete-notifies", _owner("moto.s3.models", "S3Backend"), "delete_object",
                _s3_versioned_delete_notifies,
                "a delete in a versioned bucket sent no DeleteMarkerCreated event, and a delete of one version an "
                "event only when it was the last, naming the newest version"),
    Replacement("cloudmap-register-updates", _owner("moto.servicediscovery.models", "ServiceDiscoveryBackend"),
                "register_instance", lambda _: _register_replaces,
                "RegisterInstance of an existing InstanceId added a second instance (Cloud Map updates it); a "
                "deregistration meanwhile made a walk of the list skip an instance"),
    Replacement("cloudmap-deregister-copies", _owner("moto.servicediscovery.models", "ServiceDiscoveryBackend"),
                "deregister_instance", lambda _: _deregister_copies,
                "DeregisterInstance removed from the list other calls were walking: they skipped an instance "
                "(InstanceNotFound for a registered one)"),
    Replacement("sns-fifo-content-deduplication", _owner("moto.sns.models", "Topic"), "publish",
                _calling(_fifo_topic_deduplicates_by_content),
          "a FIFO topic with ContentBasedDeduplication passed no deduplication id to its FIFO queues: the publish "
          "failed unless the queue deduplicated by content too"),
    *(Replacement(f"sfn-{where}-keeps-states-errors", _owner(module), "CustomErrorName", _states_errors_pass_through,
                  f"a {where} failing with a States.* error failed the execution with States.Runtime (a ValueError), "
                  "so a Retry or Catch for that error never matched")
      for where, module in (
          ("parallel-branch", f"{_SFN_STATES}.state_parallel.branches_decl"),
          ("map-iteration", f"{_SFN_STATES}.state_map.iteration.iteration_worker"))),
    Replacement("sfn-lambda-task-errors-named",
                _owner(f"{_SFN_STATES}.state_task.state_task_lambda", "StateTaskLambda"), "_from_error",
                _calling(_lambda_client_errors_named),
          "a Lambda task's failed Invoke (a throttle) was the error \"Exception\": no Retry on "
          "Lambda.TooManyRequestsException matched"),
    Replacement("sfn-listed-before-started", _owner("moto.stepfunctions.parser.backend.execution", "Execution"),
                "status", _running_until_started,
          "ListExecutions failed (500) while another execution of the state machine was being started"),
    Replacement("sfn-stopped-stays-aborted", _owner("moto.stepfunctions.parser.asl.eval.environment", "Environment"),
                "set_error", _calling(_stopped_stays_aborted),
          "a stop that caught a state mid-way could end the execution FAILED with the interpreter's own error"),
    Replacement("dynamodb-stream-retention", _owner("moto.dynamodb.models.table", "StreamShard"),
                "add", _bounded_stream,
          "a stream shard kept every record it was ever given; a write that changed nothing was a MODIFY record"),
    Replacement("dynamodb-stream-update-inserts-once", _owner("moto.dynamodb.models", "DynamoDBBackend"),
                "update_item", _calling(_update_records_one_insert),
          "an UpdateItem that created its item wrote two INSERT records, the first of the bare key"),
    Replacement("dynamodb-stream-trim-horizon", _owner("moto.dynamodb.models.table", "StreamShard"),
                "get", _trimmed_reads_skip,
          "reading below the first record kept failed an assert"),
    Replacement("dynamodb-stream-iterators-expire", _owner("moto.dynamodbstreams.models", "DynamoDBStreamsBackend"),
                "__init__", _expiring_iterators,
          "every shard iterator ever issued was kept (a stream event source takes four a second)"),
    Replacement("dynamodb-stream-expired-iterator", _owner("moto.dynamodbstreams.models", "DynamoDBStreamsBackend"),
                "get_records", _expired_iterator_error,
          "an unknown iterator failed with a KeyError"),
    *(Replacement(f"sfn-live-threads-{name.rsplit('.', 1)[1]}", _owner(name), "TMP_THREADS",
                  lambda _: _live_threads, "every finished worker thread (and its execution) kept forever")
      for name in _THREAD_LIST_MODULES),
    *(Replacement(f"sfn-pooled-threads-{name.rsplit('.', 1)[1]}", _owner(name), attr, _pooled_threads,
                  "a new thread for every execution, program, branch and task")
      for name, attr in _POOLED_THREAD_MODULES),
    *(Replacement(f"sfn-json-copy-{name.rsplit('.', 1)[1]}", _owner(name), "copy", lambda _: _JsonCopy(),
                  "copy.deepcopy of each state's JSON data") for name in _JSON_COPY_MODULES),
    Replacement("sfn-cached-programs", _asl_parser_class, "parse", _cached_programs,
          "ANTLR parse and preprocessing of the definition per execution"),
    Replacement("sfn-cached-json-paths", _json_path_module, "parse", _cached_json_path_parse,
          "jsonpath_ng rebuilds its parser for every path evaluated"),
    Replacement("sfn-cached-result-paths", _result_path_module, "parse", _cached_json_path_parse,
          "the same for ResultPath"),
    Replacement("werkzeug-url-builders-when-used", _owner("werkzeug.routing.rules", "Rule"), "_compile_builder",
                _url_builders_when_used,
          "two URL builders generated and compiled per route of every service's URL map, never used by moto"),
]


def import_sfn_interpreter() -> None:
    """Import moto's Step Functions interpreter without running moto.batch's package __init__.

    The interpreter's Batch integration needs one enum, moto.batch.utils.JobStatus, but importing it ran
    moto/batch/__init__.py, which imports Batch's models and with them all of moto.ec2 (AMIs, instance types
    and regions parsed from JSON): a third of `notifyx up`'s start-up. While the interpreter is imported,
    moto.batch is an empty package (its __path__ only); then it is dropped from sys.modules, so that the first
    real `import moto.batch` (a template with Batch resources, a request for Batch) runs its __init__ as usual.
    """
    import importlib.util
    import sys
    import types

    if "moto.stepfunctions.parser.models" in sys.modules or "moto.batch" in sys.modules:
        return
    spec = importlib.util.find_spec("moto.batch")
    shell = types.ModuleType("moto.batch")
    shell.__path__ = list(spec.submodule_search_locations or [])
    shell.__spec__ = spec
    sys.modules["moto.batch"] = shell
    try:
        import moto.stepfunctions.parser.models  # noqa: F401
    finally:
        if sys.modules.get("moto.batch") is shell:
            del sys.modules["moto.batch"]
        import moto

        if getattr(moto, "batch", None) is shell:
            del moto.batch


def apply_emulator() -> None:
    """Apply the emulator's own patches (idempotent); Emulator.start does."""
    import_sfn_interpreter()
    for patch in EMULATOR_PATCHES:
        patch.apply()


def revert_emulator() -> None:
    """Revert the emulator's own patches, last first (idempotent); Emulator.stop does."""
    for patch in reversed(EMULATOR_PATCHES):
        patch.revert()


# =========================================================================== durable state (infra/persistence.py)
def _persistence_hook(name: str, *args: str) -> Callable[[Callable], Any]:
    """A Replacement's build: infra.persistence.<name>(*args) wrapping moto's original (imported when applied)."""
    def build(original: Callable) -> Any:
        from infra import persistence

        hook = getattr(persistence, name)
        return (hook(*args) if args else hook)(original)

    return build


PERSISTENCE_PATCHES: list[Replacement] = [
    *(Replacement(f"persist-dynamodb-{op}", _dynamo_handler, op, _persistence_hook("dynamodb_method", op),
                  "every DynamoDB write (HTTP and DirectDynamoDB alike) journals the items it changed")
      for op in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")),
    Replacement("persist-sqs-add", _owner("moto.sqs.models", "Queue"), "add_message",
                _persistence_hook("sqs_add_message"), "sent and dead-lettered messages are journaled"),
    Replacement("persist-sqs-delete", _owner("moto.sqs.models", "Queue"), "delete_message",
                _persistence_hook("sqs_delete_message"), "deleted messages are journaled"),
    Replacement("persist-sqs-receive", _owner("moto.sqs.models", "SQSBackend"), "receive_message",
                _persistence_hook("sqs_receive_message"), "receive counts and visibility deadlines are journaled"),
    Replacement("persist-sqs-visibility", _owner("moto.sqs.models", "SQSBackend"), "change_message_visibility",
                _persistence_hook("sqs_change_visibility"), "visibility changes are journaled"),
    Replacement("persist-sqs-purge", _owner("moto.sqs.models", "SQSBackend"), "purge_queue",
                _persistence_hook("sqs_purge_queue"), "purges are journaled"),
    Replacement("persist-s3-put", _owner("moto.s3.models", "S3Backend"), "put_object",
                _persistence_hook("s3_put_object"), "S3 objects are journaled"),
    Replacement("persist-s3-metadata", _owner("moto.s3.models", "FakeKey"), "set_metadata",
                _persistence_hook("s3_set_metadata"), "S3 objects' metadata (Content-Type) is journaled"),
    Replacement("persist-s3-delete", _owner("moto.s3.models", "S3Backend"), "delete_object",
                _persistence_hook("s3_delete_object"), "S3 deletions are journaled"),
    *(Replacement(f"persist-s3-{kind}-request", _owner("moto.s3.responses", "S3Response"), f"{kind}_response",
                  _persistence_hook("s3_request"), "the records of one S3 request are one journal record")
      for kind in ("key", "bucket")),
    *(Replacement(f"persist-ses-{op}", _owner("moto.ses.models", "SESBackend"), op, _persistence_hook("ses_send"),
                  "sent mail (SES's record of it) is journaled")
      for op in ("send_email", "send_raw_email", "send_templated_email")),
    Replacement("persist-cognito-request", _owner("moto.cognitoidp.responses", "CognitoIdpResponse"), "call_action",
                _persistence_hook("cognito_request"),
                "Cognito user pools' users, groups and issued tokens are journaled after each request that may "
                "change them"),
    Replacement("persist-sfn-start", _sfn_parser_backend, "start_execution",
                _persistence_hook("sfn_start_execution"), "Step Functions executions are journaled when they start"),
    Replacement("persist-sfn-end", _owner("moto.stepfunctions.parser.backend.execution",
                                          "BaseExecutionWorkerCommunication"), "terminated",
                _persistence_hook("sfn_execution_ended"), "... and when they end"),
]


def apply_persistence() -> None:
    """Journal every write (infra/persistence.Store.open does; idempotent)."""
    for patch in PERSISTENCE_PATCHES:
        patch.apply()


def revert_persistence() -> None:
    """Stop journaling (idempotent)."""
    for patch in reversed(PERSISTENCE_PATCHES):
        patch.revert()


# =========================================================================== observability (infra/observability)
def _observed() -> Any:
    from infra import observability

    return observability.active


def _percentile_statistics(original: Callable) -> Callable:
    """moto computes SampleCount, Sum, Average, Minimum and Maximum only; CloudWatch also answers percentiles
    ("p99", "p50.5") from the samples of the period (the local cloud's minute datums carry theirs)."""

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        if stat[:1] == "p" and stat[1:].replace(".", "", 1).isdigit():
            from infra.observability.metrics import percentile

            values = [m.value for m in self.metric_data if hasattr(m, "value")]
            values += [v for m in self.metric_data for v in getattr(m, "values", ())]
            return percentile(values, float(stat[1:]))
        return original(self, stat)

    return get_statistics_for_type


def _traced_start_execution(self: Any, original: Callable) -> Any:
    """moto's StartExecution drops the caller's trace header (the traceHeader parameter, or the X-Amzn-Trace-Id
    header the X-Ray SDK adds): Step Functions continues the caller's trace with it."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    observed = _observed()
    backend = self.stepfunction_backend
    if observed is None or not isinstance(backend, StepFunctionsParserBackend):
        return original(self)
    arn = self._get_param("stateMachineArn")
    name = execution_name(backend, self._get_param("name"))  # the ARN the execution's trace is kept under
    header = _caller_trace_header(self)
    started = observed.states.starting(arn, name, header)
    try:
        execution = backend.start_execution(arn, name, self._get_param("input", if_none="{}"), trace_header=header)
    except Exception:
        observed.states.forget(started)
        raise
    observed.states.started(started, execution)
    return ActionResult({"executionArn": execution.execution_arn, "startDate": execution.start_date})


@contextlib.contextmanager
def _task_subsegment(observed: Any, env: Any) -> Iterator[str | None]:
    """The running task state of a traced execution as a subsegment of the execution's trace, timed (and marked
    a fault if it raises); yields the trace header the task continues (None when not traced)."""
    import time

    context = env.states.context_object.context_object_data
    header, task = observed.states.task_header(context["Execution"]["Id"],
                                               (context.get("State") or {}).get("Name", "Task"))
    try:
        yield header
    except Exception:
        if task is not None:
            task["fault"] = True
        raise
    finally:
        if task is not None:
            task["end_time"] = time.time()


def _traced_lambda_task(original: Callable) -> Callable:
    """A Lambda task of a traced state machine is invoked with the execution's trace header, as Step Functions
    invokes it (the runtime reads runtime.trace_header); the task's time becomes a subsegment of the execution."""

    def execute_lambda_function_integration(env: Any, parameters: dict, region: str, state_credentials: Any) -> Any:
        observed = _observed()
        if observed is None:
            return original(env=env, parameters=parameters, region=region, state_credentials=state_credentials)
        from infra.runtime import trace_header

        with _task_subsegment(observed, env) as header:
            token = trace_header.set(header)
            try:
                return original(env=env, parameters=parameters, region=region, state_credentials=state_credentials)
            finally:
                trace_header.reset(token)

    return execute_lambda_function_integration


def _traced_service_task(original: Callable) -> Callable:
    """A service integration task of a traced state machine (a DynamoDB step) is a subsegment of the execution, as
    on AWS; it continues no trace of its own."""

    def _eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        observed = _observed()
        if observed is None:
            return original(self, env, *args, **kwargs)
        with _task_subsegment(observed, env):
            return original(self, env, *args, **kwargs)

    return _eval_service_task


def _observed_termination(self: Any, original: Callable) -> Any:
    """An execution's end (moto sets its status here): AWS/States metrics and the state machine's segment."""
    answer = original(self)
    observed = _observed()
    if observed is not None:
        execution = self.execution
        status = execution.exec_status.value if execution.exec_status is not None else ""
        observed.states.ended(execution.exec_arn, status, execution.start_date, execution.stop_date)
    return answer


def _counted_sqs(metric: str, count: Callable[[Any], int]) -> Callable[[Callable], Callable]:
    """moto's SQS keeps no counts: NumberOfMessagesSent / Received / Deleted per queue, as SQS publishes them."""

    def build(original: Callable) -> Callable:
        def method(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            result = original(self, queue_name, *args, **kwargs)
            observed = _observed()
            if observed is not None and observed.sqs is not None:
                observed.sqs.counted(metric, queue_name, count(result))
            return result

        return method

    return build


OBSERVABILITY_PATCHES: list[Replacement] = [
    Replacement("cloudwatch-percentiles", _owner("moto.cloudwatch.models", "Statistics"), "get_statistics_for_type",
                _percentile_statistics, "moto answers no percentile statistics (p99)"),
    Replacement("sfn-trace-header", _owner("moto.stepfunctions.responses", "StepFunctionResponse"),
                "start_execution", _calling(_traced_start_execution),
                "moto's StartExecution drops the caller's trace header"),
    Replacement("sfn-traced-lambda-tasks", _lambda_eval_utils, "execute_lambda_function_integration",
                _traced_lambda_task, "Lambda tasks are invoked without the execution's trace header"),
    Replacement("sfn-traced-dynamodb-tasks", _owner(_DYNAMODB_TASKS, "StateTaskServiceDynamoDB"), "_eval_service_task",
                _traced_service_task,
                "DynamoDB tasks leave no subsegment in the execution's trace"),
    Replacement("sfn-execution-ended", _owner("moto.stepfunctions.parser.backend.execution",
                                              "BaseExecutionWorkerCommunication"), "terminated",
                _calling(_observed_termination), "nothing is told when an execution ends (AWS/States metrics)"),
    Replacement("sqs-count-sent", _owner("moto.sqs.models", "SQSBackend"), "send_message",
                _counted_sqs("NumberOfMessagesSent", lambda _: 1), "moto counts no sent messages"),
    Replacement("sqs-count-received", _owner("moto.sqs.models", "SQSBackend"), "receive_message",
                _counted_sqs("NumberOfMessagesReceived", len), "moto counts no received messages"),
    Replacement("sqs-count-deleted", _owner("moto.sqs.models", "SQSBackend"), "delete_message",
                _counted_sqs("NumberOfMessagesDeleted", lambda _: 1), "moto counts no deleted messages"),
]


def apply_observability() -> None:
    """The observability patches (infra/observability.Observability.start does; idempotent)."""
    for patch in OBSERVABILITY_PATCHES:
        patch.apply()


def revert_observability() -> None:
    """Take them out, last first (idempotent)."""
    for patch in reversed(OBSERVABILITY_PATCHES):
        patch.revert()


def patch(name: str) -> Patch | Replacement:
    """The registered patch called `name`."""
    return next(p for p in REGISTRY if p.name == name)


# =========================================================================== botocore's models, once per process
_SHARED_MODELS: dict[tuple, Any] = {}


def _shared_loader(name: str) -> Callable[[Callable], Any]:
    """A Replacement's build: botocore's Loader.<name> answering from one process-wide cache of parsed files."""
    def build(original: Callable) -> Any:
        def shared(self: Any, *args: Any, **kwargs: Any) -> Any:
            key = (name, tuple(self.search_paths), args, tuple(sorted(kwargs.items())))
            try:
                return _SHARED_MODELS[key]
            except KeyError:
                value = _SHARED_MODELS[key] = original(self, *args, **kwargs)
                return value

        return shared

    return build


def _model_files_cached(original: Callable) -> Callable:
    """botocore's JSONFileLoader._load_file (one model file: a service's, the endpoints', partitions'...), kept parsed
    in the local cloud's cache as a pickle, named by the file's path, size and modification time and botocore's
    version: a start parsed ~44 files (gzipped JSON into OrderedDicts, ~0.14 s of `notifyx up`'s start, and again in
    the sandboxes' fork server); a pickle loads in a fifth of that. Each load still returns its own new objects; a
    file that is not there is botocore's None; a cache file that does not load is a miss."""

    import botocore

    from infra.template import CacheFile

    def load_file(self: Any, full_path: str, open_method: Any) -> Any:
        try:
            status = os.stat(full_path)
        except OSError:  # no such file (botocore tries each extension): botocore's own answer
            return original(self, full_path, open_method)
        # no cache (NOTIFYX_CACHE_DIR=off): a CacheFile without a path, which loads nothing and keeps nothing
        file = CacheFile("botocore", f"{full_path}|{status.st_size}|{status.st_mtime_ns}|{botocore.__version__}",
                         ".pickle")
        data = file.load()
        if data is None:
            data = original(self, full_path, open_method)
            if data is not None:
                file.store(data)
        return data

    return load_file


# =========================================================================== botocore's endpoints, once per client
#: the most endpoints a client remembers per operation (one per table, say); beyond, it starts again
ENDPOINTS_PER_OPERATION = 256


@dataclass(frozen=True)
class _ResolvedEndpoint:
    """What BaseClient._resolve_endpoint_ruleset returned and did for one operation and endpoint inputs."""

    handlers: Any          # the emitter's handler list for before-endpoint-resolution when this was resolved
    result: tuple          # (url, headers, properties)
    auth_type: Any         # what it set request_context["auth_type"] to, or _ABSENT
    signing: dict | None   # what it added to request_context["signing"], or None
    features: frozenset    # the user-agent features it registered (their codes: the account id mode, say)


def _endpoint_inputs(resolver: Any, operation_model: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which members of an operation's call the endpoint rules read (context parameters: TableName, say) and the
    JMESPath expressions they search it with (operation context parameters: a batch's table names)."""
    members = tuple(resolver._get_dynamic_context_params(operation_model).values())
    paths = tuple(d["path"] for d in (operation_model.operation_context_parameters or {}).values())
    return members, paths


def _endpoint_key(inputs: tuple[tuple[str, ...], tuple[str, ...]], params: dict, ignore_signing_region: bool) -> Any:
    """The part of a call the endpoint rules read, besides the client's own configuration: a hashable key, or
    None."""
    members, paths = inputs
    values: list[Any] = [ignore_signing_region, *(params.get(member) for member in members)]
    if paths:
        import jmespath

        for path in paths:
            found = jmespath.search(path, params)
            values.append(tuple(found) if isinstance(found, list) else found)
    key = tuple(values)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _endpoint_resolved_once(original: Callable) -> Callable:
    """BaseClient._resolve_endpoint_ruleset remembered per client, operation and the call's endpoint inputs.

    botocore evaluates the service's endpoint rules on every call (each builtin, each context parameter, an
    event): ~35% of a DynamoDB GetItem's client-side CPU. Its inputs are the client's configuration (fixed for
    the client's life), the operation and the call's context parameters, so the same inputs give the same
    endpoint. Not remembered while a ``before-endpoint-resolution`` handler could change the builtins (S3's, a
    Stubber's): the emitter's handler list for that event is kept with each answer, and registering a handler
    replaces it. A hit does what the resolution did: the request context's auth type and signing, the user-agent
    feature ids.
    """
    from botocore.context import get_context

    def resolve(self: Any, operation_model: Any, params: Any, request_context: Any,
                ignore_signing_region: bool = False) -> Any:
        resolver = self._ruleset_resolver
        if resolver is None or request_context is None:
            return original(self, operation_model, params, request_context, ignore_signing_region)
        operations = self.__dict__.setdefault("_notifyx_endpoints", {})
        operation = operations.get(operation_model.name)
        if operation is None:
            # the event whose handlers could change the builtins: its name, as the client's emitter files it
            event = self.meta.events._alias_event_name(
                f"before-endpoint-resolution.{self._service_model.service_id.hyphenize()}")
            operation = operations[operation_model.name] = (_endpoint_inputs(resolver, operation_model), {}, event)
        inputs, cache, event = operation
        key = _endpoint_key(inputs, params or {}, ignore_signing_region)
        if key is None:
            return original(self, operation_model, params, request_context, ignore_signing_region)
        emitter = getattr(self.meta.events, "_emitter", self.meta.events)
        hit = cache.get(key)
        if hit is not None and hit.handlers is emitter._lookup_cache.get(event):
            if hit.auth_type is not _ABSENT:
                request_context["auth_type"] = hit.auth_type
            if hit.signing is not None:
                request_context.setdefault("signing", {}).update(hit.signing)
            if hit.features:
                context = get_context()
                if context is not None:
                    context.features.update(hit.features)
            url, headers, properties = hit.result
            return url, dict(headers), properties
        context = get_context()
        features = set(context.features) if context is not None else set()
        signing = dict(request_context.get("signing") or {})
        auth_type = request_context.get("auth_type", _ABSENT)
        result = original(self, operation_model, params, request_context, ignore_signing_region)
        handlers = emitter._lookup_cache.get(event)
        if handlers is not None and not handlers:  # resolved, and no handler customized the builtins
            after = request_context.get("signing") or {}
            added = {k: v for k, v in after.items() if k not in signing or signing[k] != v}
            auth_after = request_context.get("auth_type", _ABSENT)
            _remember(cache, key, _ResolvedEndpoint(
                handlers, (result[0], dict(result[1]), result[2]), auth_after if auth_after != auth_type else _ABSENT,
                added or None, frozenset(context.features - features) if context is not None else frozenset()),
                most=ENDPOINTS_PER_OPERATION)
        return result

    return resolve


def _json_body_dumped_once(original: Callable) -> Callable:
    """JSONSerializer.serialize_to_request writing the body with one ``json.dumps`` of the parameters.

    For the JSON protocol (DynamoDB, Step Functions, ...) botocore walks the input shape member by member in
    Python, copying each value into a new dict, then dumps that dict: ~a fifth of a DynamoDB call's client-side
    CPU. Where the walk changes nothing, the copy equals the parameters, key for key and in order, so dumping the
    parameters gives the same bytes. It changes something in these cases, all answered by the walk as before:
    - a member the model renames (checked once per operation: such operations always take the walk);
    - a blob (base64) or a timestamp (epoch seconds): bytes, datetimes and Decimals are no JSON, so the dump
      raises; a blob or timestamp given as a string or number is caught by looking for the member's name in the
      body (DynamoDB's ``"B": `` and ``"BS": ``, so an attribute named B takes the walk too);
    - NaN or an infinity (strings on the wire): the dump refuses them;
    - a parameter the input shape does not have (possible with parameter validation off, as PynamoDB runs it):
      the walk raises KeyError, so a top-level name the shape lacks takes it. A nested one the walk would refuse
      reaches the service instead, which refuses it.
    """
    import json

    from botocore.serialize import JSONSerializer

    def serialize_to_request(self: Any, parameters: Any, operation_model: Any) -> Any:
        if type(self) is not JSONSerializer or type(parameters) is not dict:
            return original(self, parameters, operation_model)
        plan = operation_model.__dict__.get("_notifyx_json_plan")
        if plan is None:
            plan = operation_model.__dict__["_notifyx_json_plan"] = _json_plan(operation_model)
        members, watched = plan
        if members is None or not parameters.keys() <= members:
            return original(self, parameters, operation_model)
        try:
            text = json.dumps(parameters, allow_nan=False)
        except (TypeError, ValueError):
            return original(self, parameters, operation_model)
        if watched and any(name in text for name in watched):
            return original(self, parameters, operation_model)
        # the rest as botocore's own serialize_to_request does it
        serialized = self._create_default_request()
        serialized["method"] = operation_model.http.get("method", self.DEFAULT_METHOD)
        serialized["headers"] = {
            "X-Amz-Target": f"{operation_model.metadata['targetPrefix']}.{operation_model.name}",
            "Content-Type": f"application/x-amz-json-{operation_model.metadata['jsonVersion']}",
        }
        self._handle_query_compatible_trait(operation_model, serialized)
        serialized["body"] = text.encode(self.DEFAULT_ENCODING)
        host_prefix = self._expand_host_prefix(parameters, operation_model)
        if host_prefix is not None:
            serialized["host_prefix"] = host_prefix
        return serialized

    return serialize_to_request


def _json_plan(operation_model: Any) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """(the input's top-level member names, or None when the walk must always run; the `"name": ` of every member
    holding a blob or a timestamp, at any depth)."""
    shape = operation_model.input_shape
    if shape is None or shape.type_name != "structure":
        return None, ()
    watched: set[str] = set()
    seen: set[str] = set()
    pending = [shape]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        kind = current.type_name
        if kind == "structure" and not current.is_document_type:
            for name, member in current.members.items():
                if "name" in member.serialization:
                    return None, ()
                inner = member
                while inner.type_name in ("list", "map"):
                    inner = inner.member if inner.type_name == "list" else inner.value
                if inner.type_name in ("blob", "timestamp"):
                    watched.add(f'"{name}": ')
                pending.append(member)
        elif kind == "list":
            pending.append(current.member)
        elif kind == "map":
            pending.append(current.value)
    return frozenset(shape.members), tuple(sorted(watched))


def _user_agent_kept(original: Callable) -> Callable:
    """UserAgentString.to_string remembered per client and per set of feature codes.

    botocore keeps a client's static user-agent parts, but builds the ``m/`` component (the feature codes of the
    client and of the call's context) on every request: a component object, a regex sanitizing each part, a
    truncation check. Its inputs are the static parts and that set of codes, so the string is kept under them.
    Not kept when botocore's ``modify_components`` hook is customized (it must see every call). botocore joins
    the codes from a set, so their order was never fixed; a kept string keeps the order it was built with."""
    from botocore import useragent

    def to_string(self: Any) -> str:
        if useragent.modify_components is not useragent._default_modify_components:
            return original(self)
        static = self._get_static_parts()
        if static.legacy is not None:
            return static.legacy
        context = useragent.get_context()
        features = frozenset((self._client_features or set()).union(() if context is None else context.features))
        kept = self.__dict__.get("_notifyx_user_agents")
        if kept is None or kept[0] is not static:
            # a copy of the instance (with_client_config) shares the dict but not the static parts
            kept = self.__dict__["_notifyx_user_agents"] = (static, {})
        text = kept[1].get(features)
        if text is None:
            text = _remember(kept[1], features, original(self), most=64)
        return text

    return to_string


#: A Lambda sandbox pays for botocore's model loading once. In the cloud's process every handler thread is a
#: sandbox to PynamoDB (one botocore session per thread): a burst of 20 publishes had 40 threads parsing the same
#: gzipped JSON at once (seconds of CPU, prepare tasks timing out). Parsed models are read-only data, so one copy
#: serves every session of the process; the sandboxes' fork server fills it before it forks. Endpoints resolved
#: once per client and endpoint inputs (above) serve the sandboxes' calls and the cloud's own.
BOTOCORE_PATCHES: list[Replacement] = [
    *(Replacement(f"botocore-shared-models-{name}", _owner("botocore.loaders", "Loader"), name, _shared_loader(name),
                  "botocore parses each model file again for every session")
      for name in ("list_available_services", "determine_latest_version", "load_service_model",
                   "load_data_with_path")),
    Replacement("botocore-model-files-cached", _owner("botocore.loaders", "JSONFileLoader"), "_load_file",
                _model_files_cached, "botocore parses its gzipped JSON model files again in every process"),
    Replacement("botocore-endpoint-resolved-once", _owner("botocore.client", "BaseClient"),
                "_resolve_endpoint_ruleset", _endpoint_resolved_once,
                "botocore evaluates the endpoint rules again on every call of a client"),
    Replacement("botocore-json-body-dumped-once", _owner("botocore.serialize", "JSONSerializer"),
                "serialize_to_request", _json_body_dumped_once,
                "botocore copies a JSON-protocol request's parameters member by member before dumping them"),
    Replacement("botocore-user-agent-kept", _owner("botocore.useragent", "UserAgentString"), "to_string",
                _user_agent_kept, "botocore builds the user agent's feature component again for every request"),
]


def share_botocore_models() -> None:
    """Apply BOTOCORE_PATCHES (models parsed once, endpoints resolved once, JSON bodies dumped once, user agents
    kept) for the life of the process (idempotent)."""
    for patch in BOTOCORE_PATCHES:
        patch.apply()


def _connections_forward(name: str) -> Callable[[Callable], Any]:
    """A Replacement's build: api_gateway.connections.moto_<name>, which forwards to the WebSocket data plane."""
    def build(original: Callable) -> Any:
        from api_gateway import connections

        return getattr(connections, f"moto_{name}")

    return build


def _connections_send(original: Callable) -> Callable:
    from api_gateway import connections

    return connections.answering_send(original)


CONNECTIONS_PATCHES: list[Replacement] = [
    *(Replacement(f"connections-moto-{name}", _owner("moto.apigatewaymanagementapi.models",
                                                     "ApiGatewayManagementApiBackend"), name,
                  _connections_forward(name), "moto's @connections API answers from its own store, not the sockets")
      for name in ("post_to_connection", "get_connection", "delete_connection")),
    Replacement("connections-botocore-send", _owner("botocore.httpsession", "URLLib3Session"), "send",
                _connections_send, "a client built before the data plane started holds no copy of its before-send "
                "handler; its @connections requests are answered at the HTTP send"),
]


def apply_connections() -> None:
    """@connections calls through moto and from early clients reach the data plane (idempotent)."""
    for patch in CONNECTIONS_PATCHES:
        patch.apply()


def revert_connections() -> None:
    """Take them out, last first (idempotent)."""
    for patch in reversed(CONNECTIONS_PATCHES):
        patch.revert()


REGISTRY: list[Patch | Replacement] = [*EMULATOR_PATCHES, *PATCHES, *CONNECTIONS_PATCHES, *BOTOCORE_PATCHES,
                                       *PERSISTENCE_PATCHES, *OBSERVABILITY_PATCHES]
