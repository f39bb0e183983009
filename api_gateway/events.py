"""The events API Gateway hands to Lambda: WebSocket (CONNECT/MESSAGE/DISCONNECT), REQUEST authorizer, REST proxy v1.

Field names and shapes follow what AWS sends, so handlers (and Chalice) written against AWS run unchanged.
"""
from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from infra.account import ACCOUNT_ID, REGION

# base64 without "+" and "/": ids look like API Gateway's ("L0SM9cOFvHcCIhw=") and need no escaping but the "="
_ID_LETTERS = bytes.maketrans(b"+/", b"Az")
_request_ids = random.Random()       # request ids only need to be unique, not secret: a fast PRNG


def new_connection_id() -> str:
    """An id shaped like API Gateway's ("L0SM9cOFvHcCIhw="): the '=' makes callers URL-encode it, as on AWS."""
    return base64.b64encode(os.urandom(11)).translate(_ID_LETTERS).decode()


def new_request_id() -> str:
    """A request/message id shaped like API Gateway's ("c8mYVGyroAMFTuw=")."""
    return base64.b64encode(_request_ids.getrandbits(88).to_bytes(11, "big")).translate(_ID_LETTERS).decode()


_time_cache: tuple[int, str] = (-1, "")


def request_time(epoch: float) -> str:
    """API Gateway's requestTime format: 25/Nov/2026:14:55:13 +0000 (formatted once per second)."""
    global _time_cache
    second = int(epoch)
    cached = _time_cache              # one tuple, replaced whole: safe to share between threads
    if cached[0] != second:
        cached = _time_cache = (second, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second)))
    return cached[1]


def header_maps(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``headers`` (last value wins) and ``multiValueHeaders`` from raw header pairs, names as sent."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def query_maps(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """``queryStringParameters`` and ``multiValueQueryStringParameters``; None when there is no query, as on AWS."""
    single, multi = header_maps(pairs)
    return (single or None), (multi or None)


def websocket_request_context(
    *,
    api_id: str,
    stage: str,
    domain_name: str,
    connection_id: str,
    connected_at_ms: int,
    source_ip: str,
    user_agent: str | None,
    route_key: str,
    event_type: str,
    request_id: str,
    authorizer: Mapping[str, Any] | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """The ``requestContext`` of a WebSocket event (CONNECT, MESSAGE or DISCONNECT)."""
    now = time.time()
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": connected_at_ms,
        "requestTimeEpoch": int(now * 1000),
        "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        "requestId": request_id,
        "domainName": domain_name,
        "connectionId": connection_id,
        "apiId": api_id,
    }
    if message_id is not None:
        context["messageId"] = message_id
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return context


def websocket_connect_event(
    request_context: dict[str, Any], header_pairs: Iterable[tuple[str, str]], query_pairs: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """The $connect event: the handshake's headers and query string."""
    headers, multi_headers = header_maps(header_pairs)
    query, multi_query = query_maps(query_pairs)
    event: dict[str, Any] = {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    return event


def websocket_message_event(request_context: dict[str, Any], message: str | bytes) -> dict[str, Any]:
    """A MESSAGE event: text frames as is, binary frames base64 with isBase64Encoded."""
    if isinstance(message, bytes):
        return {"requestContext": request_context, "body": base64.b64encode(message).decode(), "isBase64Encoded": True}
    return {"requestContext": request_context, "body": message, "isBase64Encoded": False}


def websocket_disconnect_event(request_context: dict[str, Any], status_code: int, reason: str) -> dict[str, Any]:
    """The $disconnect event, with the close code and reason API Gateway reports."""
    request_context = dict(request_context, disconnectStatusCode=status_code, disconnectReason=reason)
    return {
        "headers": {"Host": request_context["domainName"]},
        "multiValueHeaders": {"Host": [request_context["domainName"]]},
        "requestContext": request_context,
        "isBase64Encoded": False,
    }


def websocket_authorizer_event(connect_event: dict[str, Any]) -> dict[str, Any]:
    """A REQUEST authorizer's event for $connect: the connect event plus type and methodArn."""
    context = connect_event["requestContext"]
    method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{context['apiId']}/{context['stage']}/$connect"
    return {"type": "REQUEST", "methodArn": method_arn, "stageVariables": None, **connect_event}


def rest_proxy_event(
    *,
    api_id: str,
    stage: str,
    resource_path: str,
    method: str,
    path: str,
    header_pairs: Iterable[tuple[str, str]],
    query_pairs: Iterable[tuple[str, str]],
    path_parameters: dict[str, str] | None,
    body: bytes,
    binary: bool,
    source_ip: str,
    domain_name: str,
    protocol: str = "HTTP/1.1",
    shown_path: str | None = None,
) -> dict[str, Any]:
    """A REST API Lambda proxy event (payload v1); ``path`` is the resource path without the stage. Through a custom
    domain name, ``shown_path`` is the request's own path (with the base path), which API Gateway passes as ``path``
    and ``requestContext.path``."""
    headers, multi_headers = header_maps(header_pairs)
    query, multi_query = query_maps(query_pairs)
    now = time.time()
    request_id = new_request_id()
    if not body:
        encoded_body, is_base64 = None, False
    elif binary:
        encoded_body, is_base64 = base64.b64encode(body).decode(), True
    else:
        encoded_body, is_base64 = body.decode("utf-8"), False
    user_agent = next((v for k, v in headers.items() if k.lower() == "user-agent"), None)
    return {
        "resource": resource_path,
        "path": path if shown_path is None else shown_path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": resource_path,
            "resourcePath": resource_path,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": request_time(now),
            "path": f"/{stage}{path}" if shown_path is None else shown_path,
            "accountId": ACCOUNT_ID,
            "protocol": protocol,
            "stage": stage,
            "domainPrefix": domain_name.split(".")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "domainName": domain_name,
            "apiId": api_id,
        },
        "body": encoded_body,
        "isBase64Encoded": is_base64,
    }


#: the fields of a Lambda proxy response in payload format 1.0 (REST APIs; HTTP APIs with format 1.0)
PROXY_RESPONSE_FIELDS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


def malformed_proxy_response(result: Any) -> bool:
    """Whether API Gateway refuses a format 1.0 proxy response ("Malformed Lambda proxy response"): not a JSON
    object, a field of another name, no statusCode or one that is no integer, a body that is not a string, headers
    that are not an object, multiValueHeaders that are not an object of lists."""
    if not isinstance(result, dict) or not result.keys() <= PROXY_RESPONSE_FIELDS:
        return True
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, (int, str)) or not str(status).isdecimal():
        return True
    if result.get("body") is not None and not isinstance(result["body"], str):
        return True
    if result.get("headers") is not None and not isinstance(result["headers"], dict):
        return True
    multi = result.get("multiValueHeaders")
    return multi is not None and not (isinstance(multi, dict) and all(isinstance(v, list) for v in multi.values()))
