"""The API Gateway REST API data plane: HTTP requests become Lambda proxy events (payload v1).

``/<stage>/<resource path>`` is routed per API like API Gateway does (literal segments beat ``{param}``, which
beats a greedy ``{proxy+}``; an unknown resource or method is 403 "Missing Authentication Token"). Every other
path is a static file from ``static_dir``, so the web client is served from the same origin.

Binary: request bodies whose Content-Type matches the API's binaryMediaTypes (or that are not UTF-8) reach the
function base64-encoded; responses with ``isBase64Encoded`` are always decoded to bytes. AWS decodes only when
the request's Accept matches binaryMediaTypes; decoding always is what every browser <img> expects locally.
"""
from __future__ import annotations

import base64
import fnmatch
import functools
import json
import logging
import mimetypes
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from api_gateway import events, http_proxy, rest_authorizers, service_integrations, sigv4, tokens, vtl
from api_gateway.paths import compile_path, match_path
from api_gateway.streaming import StreamedAnswer
from api_gateway.config import AwsIntegration, DomainMapping, Invoke, RestApiConfig, RestRoute, ServiceCall

log = logging.getLogger(__name__)

_MISSING_TOKEN = (403, {"message": "Missing Authentication Token"})
_INTERNAL_ERROR = (502, {"message": "Internal server error"})
#: Lambda refused the invoke (an exception whose `refused` is true: throttled, no such function): the function never
#: ran, and API Gateway answers 500, not a failed function's 502
_INVOKE_REFUSED = (500, {"message": "Internal server error"})
_TIMED_OUT = (504, {"message": "Endpoint request timed out"})
_THROTTLED = (429, {"message": "Too Many Requests"})
#: API Gateway's payload limit: a larger request is refused with 413 before its body is read
MAX_BODY_BYTES = 10 * 1024 * 1024
_DIGITS = re.compile(rb"[0-9]{1,19}")


@dataclass(frozen=True)
class _Resource:
    """One resource path of an API, compiled for matching, with its methods."""

    api: RestApiConfig
    path: str
    segments: tuple[tuple[int, str], ...]           # (kind, literal text or parameter name)
    methods: dict[str, RestRoute]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        return match_path(self.segments, parts)

    def specificity(self) -> tuple[int, ...]:
        return tuple(kind for kind, _ in self.segments)


class _TokenBucket:
    """API Gateway's stage throttling: ``rate`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = float(rate), float(max(burst, 1))
        self.tokens, self.at = self.capacity, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class RestGateway:
    """REST API stages plus the static client, on one threaded HTTP server."""

    def __init__(self, apis: list[RestApiConfig], invoke: Invoke, *, host: str = "127.0.0.1", port: int = 0,
                 static_dir: Path | None = None, integration_timeout: float = 29.0,
                 body_timeout: float = 10.0, api_key_valid: Callable[[str, str, str], bool] | None = None,
                 keys: tokens.KeySource = tokens.discovered_key_set,
                 identities: sigv4.Identities | None = None,
                 aws_action: Callable[[ServiceCall], tuple[int, bytes]] | None = None,
                 invoke_async: Callable[[str, dict], Any] | None = None,
                 listener: socket.socket | None = None) -> None:
        self.apis = list(apis)
        self._invoke = invoke
        #: an AWS integration's call of a service -> (status, body)
        self._aws_action = aws_action
        #: a function invoked asynchronously (a Lambda integration whose X-Amz-Invocation-Type is Event)
        self._invoke_async = invoke_async
        #: an access key -> the IAM user it belongs to (AWS_IAM methods' requestContext.identity)
        self._identities = identities
        #: a Cognito user pool's issuer -> the key set signing its tokens (Cognito user pool authorizers)
        self._keys = keys
        #: whether an API key value belongs to an enabled key of a usage plan of (api id, stage)
        self._api_key_valid = api_key_valid
        self._host = host
        self._requested_port = port
        #: a listening socket to serve instead of binding (host, port): a port taken before the gateway starts
        self._listener = listener
        self.static_dir = Path(static_dir).resolve() if static_dir is not None else None
        #: generated JSON documents served beside the static files, e.g. "/config.json" (the endpoints)
        self.documents: dict[str, bytes] = {}
        #: documents made per request, e.g. "/metrics": path -> (query string) -> (content type, body)
        self.live_documents: dict[str, Any] = {}
        #: HTTP APIs served on this server too (api_gateway/http_api.py), asked after the REST stages
        self.http_apis: list[Any] = []
        #: custom domain names' mappings: a request whose Host is one of their domains goes to the mapped stage
        self.domains: list[DomainMapping] = []
        self.integration_timeout = integration_timeout
        #: a request body must arrive within this many seconds (a client that promises more bytes than it
        #: sends would otherwise hold a thread until the idle timeout)
        self.body_timeout = body_timeout
        self.port = 0
        self._stages: dict[str, list[_Resource]] = {}
        self._buckets = {api.api_id: _TokenBucket(*api.throttle) for api in self.apis if api.throttle}
        #: Lambda authorizer results (api_gateway/rest_authorizers.py), flushed by FlushStageAuthorizersCache
        self.authorizer_cache = rest_authorizers.AuthorizerCache()
        #: how many times an authorizer function was invoked (a cached result costs none)
        self.authorizer_invocations = 0
        for api in self.apis:
            by_path: dict[str, dict[str, RestRoute]] = {}
            for route in api.routes:
                by_path.setdefault(route.path, {})[route.method.upper()] = route
            resources = self._stages.setdefault(api.stage, [])
            resources += [_Resource(api, path, compile_path(path), methods) for path, methods in by_path.items()]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start serving; returns once the port is bound."""
        gateway = self

        class Handler(_RequestHandler):
            rest_gateway = gateway

        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="rest-integration")
        if self._listener is None:
            self._server = _Server((self._host, self._requested_port), Handler)
        else:
            self._server = _Server(self._listener.getsockname()[:2], Handler, bind_and_activate=False)
            self._server.socket.close()
            self._server.socket, self._listener = self._listener, None
            self._server.server_activate()
        for api in self.apis:
            rest_authorizers.register(api.api_id, api.stage, self.authorizer_cache)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="rest-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the listening socket."""
        if self._server is None:
            return
        rest_authorizers.unregister(self.authorizer_cache)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._server = self._thread = self._executor = None

    def __enter__(self) -> RestGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ routing

    def resolve(self, stage: str, path: str, method: str,
                api_id: str | None = None) -> tuple[RestRoute, _Resource, dict[str, str]] | None:
        """The route, resource and path parameters for ``method path`` in ``stage`` (of `api_id` only, if given);
        None: no such resource/method."""
        parts = [unquote(p) for p in path.split("/") if p]
        best: tuple[_Resource, dict[str, str]] | None = None
        for resource in self._stages.get(stage, ()):
            if api_id is not None and resource.api.api_id != api_id:
                continue
            params = resource.match(parts)
            if params is not None and (best is None or resource.specificity() < best[0].specificity()):
                best = (resource, params)
        if best is None:
            return None
        resource, params = best
        route = resource.methods.get(method) or resource.methods.get("ANY")
        return (route, resource, params) if route is not None else None

    def cors_allows(self, stage: str, origin: str) -> bool:
        """Whether a REST stage's API lets pages of `origin` call it: its CORS preflights (SAM's `Cors`, static MOCK
        integrations) allow that origin or any. Without CORS, the gateway refuses other sites' pages."""
        return any(name.lower() == "access-control-allow-origin" and value in ("*", origin)
                   for api in self.apis if api.stage == stage for route in api.routes if route.mock is not None
                   for name, value in route.mock[1])

    def handle(self, method: str, target: str, header_pairs: list[tuple[str, str]], body: bytes,
               source_ip: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """Answer one API request; None when the path is in no stage (the caller serves static files)."""
        url = urlsplit(target)
        host = next((v for k, v in header_pairs if k.lower() == "host"), f"{self._host}:{self.port}")
        if self.domains:
            domain = host.rsplit(":", 1)[0].lower() if not host.endswith("]") else host.lower()
            if any(m.domain == domain for m in self.domains):
                return self._handle_mapped(domain, method, target, header_pairs, body, source_ip)
        stage, _, rest = url.path.lstrip("/").partition("/")
        if stage not in self._stages:
            return next((answer for router in self.http_apis
                         if (answer := router.handle(method, target, header_pairs, body, source_ip, host))
                         is not None), None)
        return self._serve_stage(stage, "/" + rest, method, url, header_pairs, body, source_ip, host)

    def _handle_mapped(self, domain: str, method: str, target: str, header_pairs: list[tuple[str, str]], body: bytes,
                       source_ip: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """A request to a custom domain name: its mapping with the longest key that begins the path names the API and
        stage (a base path mapping without a stage: the path's next segment); the path keeps the key, as API Gateway
        passes it (REST `path`, HTTP `rawPath`), and the API's routes match what follows it."""
        url = urlsplit(target)
        path = url.path
        for mapping in sorted((m for m in self.domains if m.domain == domain), key=lambda m: -len(m.key)):
            prefix = "/" + mapping.key if mapping.key else ""
            if prefix and path != prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix):] or "/"
            stage = mapping.stage
            if stage is None:  # a base path mapping to every stage: /<key>/<stage>/...
                stage, _, rest = rest.lstrip("/").partition("/")
                rest = "/" + rest
            if any(api.api_id == mapping.api_id and api.stage == stage for api in self.apis):
                return self._serve_stage(stage, rest, method, url, header_pairs, body, source_ip, domain,
                                         api_id=mapping.api_id, shown_path=path)
            router = next((r for r in self.http_apis if r.api.api_id == mapping.api_id and r.api.stage == stage), None)
            if router is not None:
                answer = router.handle(method, target, header_pairs, body, source_ip, domain, mapped_path=rest)
                return answer if answer is not None else self._json(404, {"message": "Not Found"})
            break
        return self._json(403, {"message": "Forbidden"})  # API Gateway's answer to a path no mapping serves

    def _serve_stage(self, stage: str, path: str, method: str, url: Any, header_pairs: list[tuple[str, str]],
                     body: bytes, source_ip: str, host: str, *, api_id: str | None = None,
                     shown_path: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        """A request to a REST stage, `path` within it (through a custom domain: of `api_id` only, and
        `shown_path` the request's path as the function sees it)."""
        resolved = self.resolve(stage, path, method, api_id)
        if resolved is None:
            status, headers, payload = self._json(*_MISSING_TOKEN)
            return status, headers + [("x-amzn-ErrorType", "MissingAuthenticationTokenException")], payload
        route, resource, params = resolved
        bucket = self._buckets.get(resource.api.api_id)
        if bucket is not None and not bucket.take():
            status, headers, payload = self._json(*_THROTTLED)
            return status, headers + [("x-amzn-ErrorType", "TooManyRequestsException")], payload
        content_type = next((v for k, v in header_pairs if k.lower() == "content-type"), "")
        media_type = content_type.split(";")[0].strip().lower()
        binary = any(fnmatch.fnmatchcase(media_type, t) for t in resource.api.binary_media_types) if media_type \
            else False
        if not binary and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                binary = True
        event = events.rest_proxy_event(
            api_id=resource.api.api_id, stage=stage, resource_path=resource.path, method=method, path=unquote(path),
            header_pairs=header_pairs, query_pairs=parse_qsl(url.query, keep_blank_values=True),
            path_parameters=params, body=body, binary=binary, source_ip=source_ip, domain_name=host,
            shown_path=None if shown_path is None else unquote(shown_path))
        if route.authorizer is not None:
            refusal = self._authorize(route, resource.api.api_id, stage, method, path, header_pairs, event)
            if refusal is not None:
                return refusal
        if route.iam:
            try:
                key = sigv4.access_key(next((v for k, v in header_pairs if k.lower() == "authorization"), None))
            except sigv4.Unsigned as unsigned:
                # API Gateway's answer to a request to an AWS_IAM method that is not signed for execute-api
                return self._gateway_response(route_api_responses(self, resource.api.api_id),
                                              "MISSING_AUTHENTICATION_TOKEN", 403, {"message": str(unsigned)},
                                              "MissingAuthenticationTokenException" if "Missing" in str(unsigned)
                                              else "IncompleteSignatureException",
                                              event["requestContext"]["requestId"])
            caller = self._identities(key) if self._identities is not None else None
            event["requestContext"]["identity"].update(
                accessKey=key, accountId=events.ACCOUNT_ID, caller=caller and caller["userId"],
                user=caller and caller["userId"], userArn=caller and caller["userArn"])
        if route.api_key_required:
            key = next((v for k, v in header_pairs if k.lower() == "x-api-key"), "")
            if not key or self._api_key_valid is None or not self._api_key_valid(resource.api.api_id, stage, key):
                # API Gateway's answer to a missing key or one of no usage plan of this stage (INVALID_API_KEY)
                return self._gateway_response(route_api_responses(self, resource.api.api_id), "INVALID_API_KEY",
                                              403, {"message": "Forbidden"}, "ForbiddenException",
                                              event["requestContext"]["requestId"])
            event["requestContext"]["identity"]["apiKey"] = key
        if route.validation is not None:
            refusal = self._validate(route, resource.api.api_id, header_pairs, event, params, body)
            if refusal is not None:
                return refusal
        if route.mock is not None:  # a static MOCK integration (SAM's CORS preflight)
            status, headers, text = route.mock
            return status, [("Content-Type", "application/json"), *headers,
                            ("x-amzn-RequestId", event["requestContext"]["requestId"])], text.encode()
        if route.aws is not None:
            return self._aws_integration(route.aws, event, header_pairs, body)
        if route.http_proxy is not None:
            return http_proxy.forward(route.http_proxy, method, params, url.query, header_pairs, body)
        invoke = self._invoke
        if route.tenant_source is not None:  # the method maps the function's tenant (X-Amz-Tenant-Id)
            sources = {"header": dict(header_pairs), "querystring": event.get("queryStringParameters") or {},
                       "path": params}
            tenant = service_integrations.request_parameters((("X-Amz-Tenant-Id", route.tenant_source),), sources)
            invoke = functools.partial(self._invoke, tenant_id=tenant[0][1] if tenant else None)
        try:
            if route.function_timeout is not None and route.function_timeout < self.integration_timeout:
                # the function's own timeout ends the call first (a 502, as on AWS): no thread hand-off needed
                result = invoke(route.function, event)
            else:
                result = self._executor.submit(invoke, route.function, event).result(
                    timeout=self.integration_timeout)
        except FutureTimeout:
            return self._json(*_TIMED_OUT)
        except Exception as exc:
            log.info("%s %s: function %s failed: %s", method, path, route.function, exc)
            return self._json(*(_INVOKE_REFUSED if getattr(exc, "refused", False) else _INTERNAL_ERROR))
        return self._proxy_response(result, event["requestContext"]["requestId"])

    def _validate(self, route: RestRoute, api_id: str, header_pairs: list[tuple[str, str]], event: dict,
                  params: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """API Gateway's request validation (api_gateway/request_validation.py): None, or its 400."""
        request_id = event["requestContext"]["requestId"]
        missing = route.validation.missing(dict(header_pairs), event.get("queryStringParameters") or {}, params)
        if missing:
            return self._gateway_response(route_api_responses(self, api_id), "BAD_REQUEST_PARAMETERS", 400,
                                          {"message": f"Missing required request parameters: [{', '.join(missing)}]"},
                                          "BadRequestException", request_id)
        if not route.validation.body_valid(body):
            return self._gateway_response(route_api_responses(self, api_id), "BAD_REQUEST_BODY", 400,
                                          {"message": "Invalid request body"}, "BadRequestException", request_id)
        return None

    def _aws_integration(self, aws: AwsIntegration, event: dict, header_pairs: list[tuple[str, str]],
                         body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """A non-proxy AWS integration (api_gateway/service_integrations.py): the request mapped by its template,
        sent to the service action or the function, the answer mapped by the integration response it selects."""
        context = {**event["requestContext"], "resourcePath": event["resource"]}
        request_id = context["requestId"]
        variables = {"context": context, "stage_variables": event.get("stageVariables") or {}, "params": {
            "path": event.get("pathParameters") or {}, "querystring": event.get("queryStringParameters") or {},
            "header": event.get("headers") or {}}}
        headers = {k.lower(): v for k, v in header_pairs}
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            payload = service_integrations.request_payload(aws, media, body.decode("utf-8", "replace"), **variables)
        except vtl.TemplateError as exc:
            log.info("%s: the request template failed: %s", event["resource"], exc)
            return self._json(*_INTERNAL_ERROR)
        if payload is None:
            status, answer_headers, text = self._json(415, {"message": "Unsupported Media Type"})
            return status, answer_headers + [("x-amzn-ErrorType", "UnsupportedMediaTypeException")], text
        answer_headers: dict[str, str] = {}
        raw: bytes = b""
        if aws.service == "http":  # a non-proxy HTTP integration: only what it maps, and the payload
            query = urlencode([(k, v) for k, values in (event.get("multiValueQueryStringParameters") or {}).items()
                               for v in values])
            reply = http_proxy.forward(aws.http, event["httpMethod"], event.get("pathParameters") or {}, query,
                                       header_pairs, payload.encode(),
                                       sent_headers=[("Content-Type", media or "application/json")])
            if isinstance(reply, http_proxy.GatewayAnswer):
                return reply
            status, reply_headers, raw = reply
            answer, selector = raw.decode("utf-8", "replace"), str(status)
            answer_headers = dict(reply_headers)
        else:
            params = variables["params"]
            invocation = dict(service_integrations.request_parameters(aws.request_headers, params)) \
                if aws.service == "lambda" else {}
            if invocation.get("X-Amz-Invocation-Type") == "Event" and self._invoke_async is not None:
                # "asynchronous invocation of the backend Lambda function": Lambda's 202, no answer
                try:
                    self._invoke_async(aws.function, json.loads(payload))
                except ValueError:  # Lambda refuses a payload that is not JSON (InvalidRequestContentException)
                    return self._json(*_INTERNAL_ERROR)
                answer, selector = "", None
            else:
                try:
                    answer, selector, raw = service_integrations.integration_answer(
                        aws, payload, params, lambda function, function_event: self._executor.submit(
                            self._invoke, function, function_event).result(timeout=self.integration_timeout),
                        self._aws_action,
                        raw_body=None if service_integrations.template_for(aws, media) is not None else body)
                except TimeoutError:
                    return self._json(*_TIMED_OUT)
                except service_integrations.NoAnswer as exc:
                    log.info("%s: %s", event["resource"], exc)
                    return self._json(*_INTERNAL_ERROR)
                answer_headers = dict(getattr(raw, "headers", {}))
        response = service_integrations.chosen_response(aws, selector)
        if response is None:  # "No match for output mapping and no default output mapping"
            return self._json(*_INTERNAL_ERROR)
        override: dict[str, Any] = {"status": None, "header": {}}  # a response template's $context.responseOverride
        variables["context"]["responseOverride"] = override
        try:
            status, answer_headers_list, text = service_integrations.response_of(
                response, answer, answer_headers, headers.get("accept", ""), **variables)
        except vtl.TemplateError as exc:
            log.info("%s: the response template failed: %s", event["resource"], exc)
            return self._json(*_INTERNAL_ERROR)
        try:
            status = int(override["status"]) if override["status"] not in (None, "") else status
        except (TypeError, ValueError):
            log.info("%s: responseOverride.status %r is not a status code", event["resource"], override["status"])
        for name, value in (override.get("header") or {}).items():
            answer_headers_list = [(k, v) for k, v in answer_headers_list if k.lower() != str(name).lower()]
            answer_headers_list.append((str(name), str(value)))
        # an answer passed through without a template goes out as the bytes it came as (an S3 object's)
        out = raw if aws.service == "s3" and not response.templates else text.encode()
        return status, answer_headers_list + [("x-amzn-RequestId", request_id)], out

    def _authorize(self, route: RestRoute, api_id: str, stage: str, method: str, path: str,
                   header_pairs: list[tuple[str, str]], event: dict) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """Run the route's Lambda authorizer (or reuse its cached result): None and the event's
        requestContext.authorizer filled in, or API Gateway's 401/403/500 answer."""
        method_arn = f"arn:aws:execute-api:{events.REGION}:{events.ACCOUNT_ID}:{api_id}/{stage}/{method}{path}"
        if route.authorizer.type == "COGNITO_USER_POOLS":
            decision = rest_authorizers.cognito(route.authorizer, route.scopes, self._keys,
                                                {k.lower(): v for k, v in header_pairs})
        else:
            decision = rest_authorizers.authorize(
                route.authorizer, self._invoke, self.authorizer_cache, api_id=api_id, stage=stage,
                method_arn=method_arn, headers={k.lower(): v for k, v in header_pairs},
                query=event.get("queryStringParameters") or {}, request_event=event)
        if decision.invoked:
            self.authorizer_invocations += 1
        if decision.refusal is not None:
            status, payload, error_type, response_type = decision.refusal
            return self._gateway_response(route_api_responses(self, api_id), response_type, status, payload,
                                          error_type, event["requestContext"]["requestId"])
        event["requestContext"]["authorizer"] = decision.context
        return None

    @staticmethod
    def _gateway_response(responses: dict, response_type: str, status: int, payload: dict, error_type: str,
                          request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """API Gateway's own answer, or the API's gateway response for its type (or DEFAULT_4XX/5XX)."""
        default_type = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        custom = responses.get(response_type) or responses.get(default_type)
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type),
                   ("x-amzn-RequestId", request_id)]
        if custom is None:
            return status, headers, json.dumps(payload).encode()
        custom_status, template, extra = custom
        message = payload.get("message") or payload.get("Message") or ""
        body = json.dumps(payload) if template is None else (
            template.replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", str(message)).replace("$context.requestId", request_id))
        return custom_status or status, headers + list(extra), body.encode()

    @staticmethod
    def _json(status: int, payload: dict) -> tuple[int, list[tuple[str, str]], bytes]:
        return status, [("Content-Type", "application/json")], json.dumps(payload).encode()

    def _proxy_response(self, result: Any, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """A Lambda proxy result as HTTP; a malformed one is 502 as on API Gateway (events.malformed_proxy_response:
        until 6 December a body that was an object was sent as JSON, and a result without statusCode as 200)."""
        if events.malformed_proxy_response(result):
            return self._json(*_INTERNAL_ERROR)
        try:
            status = int(result["statusCode"])
            body = result.get("body")
            if body is None:
                payload = b""
            elif result.get("isBase64Encoded"):
                payload = base64.b64decode(body)
            else:
                payload = body.encode()
        except (TypeError, ValueError):
            return self._json(*_INTERNAL_ERROR)
        headers: list[tuple[str, str]] = []
        single = result.get("headers") or {}
        multi = result.get("multiValueHeaders") or {}
        for name, values in multi.items():
            headers += [(name, str(v)) for v in values]
        headers += [(name, str(v)) for name, v in single.items() if name not in multi]
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers.append(("x-amzn-RequestId", request_id))
        return status, headers, payload

    # ------------------------------------------------------------------ static client

    def static_file(self, path: str) -> Path | None:
        """The file for "/" (index.html), "/dashboard" (dashboard.html), "/x" (x or x.html); never outside."""
        if self.static_dir is None:
            return None
        relative = unquote(urlsplit(path).path).lstrip("/") or "index.html"
        for candidate in (relative, relative + ".html"):
            file = (self.static_dir / candidate).resolve()
            if file.is_file() and file.is_relative_to(self.static_dir):
                return file
        return None


def route_api_responses(gateway: RestGateway, api_id: str) -> dict:
    """The gateway responses of API `api_id`: type -> (status, template, headers)."""
    for api in gateway.apis:
        if api.api_id == api_id:
            return {kind: (status, template, headers) for kind, status, template, headers in api.gateway_responses}
    return {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of connects overflows it and the kernel drops SYNs, which
    # clients retry only after a second (the kernel caps this at net.core.somaxconn)
    request_queue_size = 1024


class _BadRequest(Exception):
    """A request the server answers with ``status`` and then closes the connection on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"        # keep-alive
    timeout = 60                          # an idle keep-alive socket frees its thread
    rest_gateway: RestGateway

    def setup(self) -> None:
        super().setup()
        # responses go out in one write, but without this a small write after another still waits for the
        # client's delayed ACK (~40 ms on every kept-alive request)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    _date: tuple[int, str] = (0, "")

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, formatted once a second (the stdlib formats it on every response)."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        date = _RequestHandler._date
        if date[0] != now:
            date = _RequestHandler._date = (now, super().date_time_string(now))
        return date[1]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s " + format, self.client_address[0], *args)

    def _body(self) -> bytes:
        """The request body, at most MAX_BODY_BYTES, arriving within the gateway's body timeout."""
        deadline = time.monotonic() + self.rest_gateway.body_timeout
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._chunked(deadline)
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        raw = {value.strip().encode("latin-1") for value in lengths}
        if len(raw) != 1 or not _DIGITS.fullmatch(next(iter(raw))):
            raise _BadRequest(400, "Content-Length is not a length")
        length = int(next(iter(raw)))
        if length > MAX_BODY_BYTES:
            raise _BadRequest(413, "Request Too Long")
        return self._read(length, deadline)

    def _read(self, length: int, deadline: float) -> bytes:
        parts, left = [], length
        try:
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, 1 << 20))
                if not chunk:
                    raise _BadRequest(400, "the body is shorter than its Content-Length")
                parts.append(chunk)
                left -= len(chunk)
        except TimeoutError:
            raise _BadRequest(408, "Request Timeout") from None
        finally:
            self.connection.settimeout(self.timeout)
        return b"".join(parts)

    def _line(self, deadline: float) -> bytes:
        try:
            self.connection.settimeout(max(deadline - time.monotonic(), 0.001))
            line = self.rfile.readline(1024)
        except TimeoutError:
            raise _BadRequest(408, "Request Timeout") from None
        finally:
            self.connection.settimeout(self.timeout)
        if not line.endswith(b"\n"):
            raise _BadRequest(400, "malformed chunked body")
        return line

    def _chunked(self, deadline: float) -> bytes:
        """A ``Transfer-Encoding: chunked`` body, decoded (API Gateway accepts those too)."""
        parts, total = [], 0
        while True:
            size = self._line(deadline).split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size):
                raise _BadRequest(400, "malformed chunked body")
            size = int(size, 16)
            if size == 0:
                while self._line(deadline).strip():  # trailers, up to the blank line
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadRequest(413, "Request Too Long")
            parts.append(self._read(size, deadline))
            if self._line(deadline).strip():
                raise _BadRequest(400, "malformed chunked body")

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes, *, head: bool = False) -> None:
        """Status line, headers and body in one write."""
        self.wfile.write(self._head(status, headers, ("Content-Length", str(len(payload))))
                         + (b"" if head else payload))

    def _head(self, status: int, headers: list[tuple[str, str]], framing: tuple[str, str]) -> bytes:
        """The status line and headers: the answer's own, but for those of the message's framing, which is
        `framing` (its Content-Length, or chunked transfer coding)."""
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header(*framing)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        data = b"".join(self._headers_buffer)
        self._headers_buffer = []
        return data

    def _foreign_origin(self) -> bool:
        """A browser request from another site's page (its Origin is not this server's own).

        HTTP APIs served here answer Origins by their own CorsConfiguration, so only REST stages and the
        static client are guarded when there are some.
        """
        origin = self.headers.get("Origin")
        if origin is None:
            return False  # not a browser's cross-origin request (curl, SDKs, navigations)
        stage = urlsplit(self.path).path.lstrip("/").partition("/")[0]
        if self.rest_gateway.http_apis and stage not in self.rest_gateway._stages:
            return False
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        return origin.rstrip("/").lower() != f"http://{host}".lower() \
            and not self.rest_gateway.cors_allows(stage, origin)

    def _serve(self) -> None:
        try:
            if self._foreign_origin():
                # the web client is served from this origin; no other site's page may use a visitor's browser
                # (and the token it holds) against the API
                raise _BadRequest(403, "Forbidden")
            body = self._body()
        except _BadRequest as e:
            self.close_connection = True  # what is left of this request is not a next request
            self._send(e.status, [("Content-Type", "application/json")], json.dumps({"message": e.message}).encode())
            return
        header_pairs = list(self.headers.items())
        method = self.command.upper()
        answer = self.rest_gateway.handle(method, self.path, header_pairs, body, self.client_address[0])
        if answer is None:
            answer = self._static(method)
        if isinstance(answer, StreamedAnswer):
            self._stream(answer, head=method == "HEAD")
            return
        status, headers, payload = answer
        self._send(status, headers, payload, head=method == "HEAD")

    def _stream(self, answer: StreamedAnswer, *, head: bool) -> None:
        """A function URL's streamed response: the head once the function's stream gives it, then each piece as a
        chunk (HTTP/1.1 chunked transfer coding) as it comes."""

        def send_head(status: int, headers: list[tuple[str, str]]) -> None:
            self.wfile.write(self._head(status, headers, ("Transfer-Encoding", "chunked")))

        def send_body(chunk: bytes) -> None:
            if not head:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

        sink, whole = answer.run(send_head, send_body)
        if whole is not None:
            self._send(*whole, head=head)
        elif sink.broken:
            self.close_connection = True  # the body was cut short: no last chunk, the client sees it so
        elif not head:
            self.wfile.write(b"0\r\n\r\n")

    def _static(self, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        url = urlsplit(self.path)
        live = self.rest_gateway.live_documents.get(url.path) if method in ("GET", "HEAD") else None
        if live is not None:
            content_type, body = live(url.query)
            return 200, [("Content-Type", content_type), ("Cache-Control", "no-cache")], body
        document = self.rest_gateway.documents.get(url.path) if method in ("GET", "HEAD") else None
        if document is not None:
            return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-cache")], document
        file = self.rest_gateway.static_file(self.path) if method in ("GET", "HEAD") else None
        if file is None:
            return 404, [("Content-Type", "application/json")], b'{"message": "Not Found"}'
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix in (".js", ".mjs"):
            content_type = "text/javascript"     # module scripts need a JavaScript MIME type
        return 200, [("Content-Type", content_type), ("Cache-Control", "no-cache")], file.read_bytes()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve
