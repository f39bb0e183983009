"""The @connections API (ApiGatewayManagementApi) of the local WebSocket data planes.

Three ways in, one answer (``answer_request``):
- in process, boto3 as AWS documents it (``endpoint_url=https://<domain>/<stage>``): a botocore ``before-send``
  handler (appended to ``BUILTIN_HANDLERS``, as moto does) answers requests whose host is a gateway's
  ``domain_name`` without any socket; clients created before ``install()`` are answered at botocore's HTTP send
  (``answering_send``, installed by infra/moto_patches.py's CONNECTIONS_PATCHES).
  Every address AWS gives answers: the event's ``domainName`` (here ``127.0.0.1:<port>``) and the API's own
  host ``<apiId>.execute-api.<region>.amazonaws.com``, which is what ``ApiEndpoint`` (``wss://`` + that host) and
  hand-built ``https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`` URLs name;
- through the emulator (``AWS_ENDPOINT_URL``): moto's ``ApiGatewayManagementApiBackend`` forwards to the
  ``moto_*`` functions below (patched by infra/moto_patches.py's CONNECTIONS_PATCHES, where every patch lives);
- out of process: plain HTTP ``POST/GET/DELETE /<stage>/@connections/<id>`` on the WebSocket port.

Requests are not SigV4-verified: the local data plane trusts its callers, as moto does.
"""
from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from api_gateway.answers import Answer, ForbiddenError, GoneError, PayloadTooLargeError, error_answer

class DataPlane(Protocol):
    """What the @connections API needs of a WebSocket stage (api_gateway.websocket.DataPlane is one)."""

    api: Any
    stage: str
    domain_name: str

    def has_connection(self, connection_id: str) -> bool: ...

    def post_to_connection(self, connection_id: str, data: bytes) -> None: ...

    def get_connection(self, connection_id: str) -> dict[str, Any]: ...

    def delete_connection(self, connection_id: str) -> None: ...


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def answer_request(gateway: DataPlane, method: str, path: str, body: bytes) -> Answer | None:
    """Answer ``METHOD /<stage>/@connections/<id>`` on ``gateway``; None if the path is not a @connections path."""
    prefix, sep, raw_id = path.partition("/@connections/")
    if not sep:
        return None
    connection_id = unquote(raw_id.split("?", 1)[0])
    try:
        if prefix.strip("/") != gateway.stage:
            raise ForbiddenError(f"No stage {prefix.strip('/')!r} on this API")
        if method == "POST":
            gateway.post_to_connection(connection_id, body)
            return 200, {"Content-Type": "application/json", "Content-Length": "0"}, b""
        if method == "GET":
            info = gateway.get_connection(connection_id)
            wire = {
                "connectedAt": _iso(info["ConnectedAt"]),
                "identity": {"sourceIp": info["Identity"]["SourceIp"], "userAgent": info["Identity"]["UserAgent"]},
                "lastActiveAt": _iso(info["LastActiveAt"]),
            }
            return 200, {"Content-Type": "application/json"}, json.dumps(wire).encode()
        if method == "DELETE":
            gateway.delete_connection(connection_id)
            return 204, {}, b""
    except (GoneError, PayloadTooLargeError, ForbiddenError) as exc:
        return error_answer(exc)
    return 405, {"Content-Type": "application/json"}, b'{"message": "Method Not Allowed"}'


# ---------------------------------------------------------------- wiring

_lock = threading.Lock()
_gateways: dict[str, DataPlane] = {}        # domain_name -> gateway
_handler_registered = False
_UNIQUE_ID = "notifyx-local-connections"


def _find(connection_id: str) -> DataPlane | None:
    for gateway in list(_gateways.values()):
        if gateway.has_connection(connection_id):
            return gateway
    return None


class _RawBody(io.BytesIO):
    """What botocore reads an HTTP body from (``stream()`` like urllib3's response)."""

    def stream(self, **_: Any):  # noqa: ANN201 - botocore's interface
        data = self.read()
        while data:
            yield data
            data = self.read()


def request_body(request: Any) -> bytes:
    """The bytes of a botocore request's body, which may be bytes, a str, a stream or None."""
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    return body or b""


def _before_send(request: Any, **_: Any) -> Any:
    """botocore ``before-send``: answer @connections requests addressed to a local gateway's host in process."""
    if not _gateways:
        return None
    # botocore calls every before-send handler; if a session holds this one twice, answer (and send) once
    answered = getattr(request, "_local_connections_answer", None)
    if answered is not None:
        return answered
    url = urlsplit(request.url)
    gateway = _gateways.get(url.netloc)
    if gateway is None:
        return None
    answer = answer_request(gateway, request.method, url.path, request_body(request))
    if answer is None:
        return None
    from botocore.awsrequest import AWSResponse

    status, headers, payload = answer
    response = AWSResponse(request.url, status, headers, _RawBody(payload))
    request._local_connections_answer = response
    return response


_POST_EVENT = "before-call.apigatewaymanagementapi.PostToConnection"


def _before_call(params: dict, **_: Any) -> Any:
    """botocore ``before-call`` of PostToConnection: deliver in process before signing and sending.

    The fan-out hot path: answering here skips SigV4 signing, the HTTP request object and response parsing
    (~5x more frames per second than answering at before-send). Other operations go to ``_before_send``.
    """
    if not _gateways:
        return None
    url = urlsplit(params.get("url", ""))
    gateway = _gateways.get(url.netloc)
    if gateway is None:
        return None
    body = params.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    answer = answer_request(gateway, params.get("method", "POST"), url.path, body)
    if answer is None:
        return None
    from botocore.awsrequest import AWSResponse

    status, headers, payload = answer
    metadata = {"HTTPStatusCode": status, "HTTPHeaders": {k.lower(): v for k, v in headers.items()},
                "RetryAttempts": 0}
    parsed: dict[str, Any] = {"ResponseMetadata": metadata}
    if status >= 300:  # botocore raises client.exceptions.<Code> from this, e.g. GoneException
        error = json.loads(payload or b"{}")
        parsed["Error"] = {"Code": headers.get("x-amzn-ErrorType", "GoneException"),
                           "Message": error.get("message") or ""}
    return AWSResponse(params.get("url"), status, headers, _RawBody(payload)), parsed


def _moto_gone(connection_id: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    class MotoGoneException(JsonRESTError):
        code = 410

    return MotoGoneException("GoneException", f"Connection {connection_id} is gone")


class _MotoConnection:
    """What moto's GetConnection response serializes (its ``Connection.to_dict``)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info

    def to_dict(self) -> dict[str, Any]:
        return {
            "connectedAt": self._info["ConnectedAt"].timestamp(),
            "lastActiveAt": self._info["LastActiveAt"].timestamp(),
            "identity": {"sourceIp": self._info["Identity"]["SourceIp"],
                         "userAgent": self._info["Identity"]["UserAgent"]},
        }


def _on_gateway(connection_id: str, action: Callable[[DataPlane, str], Any]) -> Any:
    """Run ``action`` on the gateway holding the connection; moto's GoneException when none does."""
    connection_id = unquote(connection_id)   # moto passes the id as it appears in the URL path
    gateway = _find(connection_id)
    try:
        if gateway is None:
            raise GoneError(connection_id)
        return action(gateway, connection_id)
    except GoneError:
        raise _moto_gone(connection_id) from None


def moto_post_to_connection(self: Any, data: bytes, connection_id: str) -> None:
    """moto's ApiGatewayManagementApiBackend.post_to_connection, forwarded to the gateway holding the connection."""
    _on_gateway(connection_id, lambda gateway, cid: gateway.post_to_connection(cid, data))


def moto_get_connection(self: Any, connection_id: str) -> _MotoConnection:
    """moto's get_connection, answered by the gateway holding the connection."""
    return _on_gateway(connection_id, lambda gateway, cid: _MotoConnection(gateway.get_connection(cid)))


def moto_delete_connection(self: Any, connection_id: str) -> None:
    """moto's delete_connection, forwarded to the gateway holding the connection."""
    _on_gateway(connection_id, lambda gateway, cid: gateway.delete_connection(cid))


def answering_send(original: Callable[..., Any]) -> Callable[..., Any]:
    """botocore's HTTP send (URLLib3Session.send), answering local @connections requests in process: botocore copies
    a session's handlers into each client it creates, so a client built before install() never sees the
    before-send handler; its requests still pass through the HTTP session."""
    def send(self: Any, request: Any) -> Any:
        return _before_send(request) or original(self, request)

    return send


#: what the local @connections API registers with botocore: (event, handler, unique id in a session)
_HANDLERS = (("before-send", _before_send, _UNIQUE_ID), (_POST_EVENT, _before_call, _UNIQUE_ID + "-post"))


def _register_botocore() -> None:
    global _handler_registered
    if _handler_registered:
        return
    from botocore.handlers import BUILTIN_HANDLERS

    # Sessions copy BUILTIN_HANDLERS when created; boto3's default session may already exist (registered below).
    # Clients built before install() keep their own copy of the handlers: answering_send covers them.
    session = _default_session()
    for event, handler, unique_id in _HANDLERS:
        BUILTIN_HANDLERS.append((event, handler))
        if session is not None:
            session.events.register(event, handler, unique_id=unique_id)
    _handler_registered = True


def _default_session() -> Any:
    try:
        import boto3
    except ImportError:
        return None
    return boto3.DEFAULT_SESSION


def api_hosts(gateway: DataPlane) -> list[str]:
    """Every host a @connections URL for this gateway's API may name (the data plane's, the API's AWS host)."""
    from api_gateway.events import REGION

    return [gateway.domain_name, f"{gateway.api.api_id}.execute-api.{REGION}.amazonaws.com"]


def install(gateways: list[DataPlane]) -> None:
    """Route @connections calls for these (started) gateways to them: botocore in process, moto, plain HTTP."""
    with _lock:
        for gateway in gateways:
            for host in api_hosts(gateway):
                _gateways[host] = gateway
        _register_botocore()


def uninstall() -> None:
    """Forget every gateway and unregister the botocore handlers."""
    global _handler_registered
    with _lock:
        _gateways.clear()
        from botocore.handlers import BUILTIN_HANDLERS

        session = _default_session()
        for event, handler, unique_id in _HANDLERS:
            while (event, handler) in BUILTIN_HANDLERS:
                BUILTIN_HANDLERS.remove((event, handler))
            if session is not None:
                session.events.unregister(event, handler, unique_id=unique_id)
        _handler_registered = False
