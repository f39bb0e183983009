"""The API Gateway HTTP API data plane: requests become Lambda events in payload format 2.0 or 1.0.

Served by the same HTTP server as the REST APIs (api_gateway/rest.py asks each HttpApiRouter first). Behaviour
as API Gateway documents it for HTTP APIs:
- routes "METHOD /path" (`{param}`, greedy `{proxy+}`, method ANY) and `$default`; the most specific path wins,
  a method route beats ANY; no route: 404 {"message":"Not Found"};
- a `$default` stage serves at the root, any other stage under /<stage>;
- payload 2.0 responses may be a bare value (200, JSON); `cookies` become Set-Cookie headers;
- Lambda REQUEST authorizers, payload 1.0 (IAM policy) or 2.0 (policy, or {"isAuthorized"} with
  EnableSimpleResponses): a missing identity source is 401, a refusal 403, an authorizer failure 500; the context
  reaches the integration as requestContext.authorizer.lambda;
- JWT authorizers (api_gateway/tokens.py): a token that is missing or fails a check is 401, one without a scope
  the route asks for 403; its claims reach the integration as requestContext.authorizer.jwt (payload 1.0:
  requestContext.authorizer), every value a string, with the token's scopes when the route asks for some;
- AWS_IAM routes (api_gateway/sigv4.py): a request not SigV4-signed for execute-api is 403; the caller's access key
  reaches the integration as requestContext.authorizer.iam;
- a function error or malformed response is 500 {"message":"Internal Server Error"}, a timeout 503;
- CorsConfiguration answers preflight requests and adds the CORS headers, as API Gateway does for HTTP APIs.
"""
from __future__ import annotations

import base64
import fnmatch
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from api_gateway import events, http_proxy, service_subtypes, sigv4, streaming, tokens
from api_gateway.authorizers import policy_allows
from api_gateway.paths import compile_path, match_path
from api_gateway.config import HttpApiConfig, HttpAuthorizer, HttpRoute, Invoke, ServiceCall

log = logging.getLogger(__name__)

Answer = tuple[int, list[tuple[str, str]], bytes]
_NOT_FOUND = (404, {"message": "Not Found"})
_UNAUTHORIZED = (401, {"message": "Unauthorized"})
_FORBIDDEN = (403, {"message": "Forbidden"})
_ERROR = (500, {"message": "Internal Server Error"})
_UNAVAILABLE = (503, {"message": "Service Unavailable"})


def _json(status: int, payload: dict) -> Answer:
    return status, [("Content-Type", "application/json")], json.dumps(payload).encode()


def _bearer_challenge(refused: tokens.Refused, scopes: tuple[str, ...]) -> str:
    """What a JWT authorizer's refusal says in its www-authenticate header, as API Gateway's troubleshooting guide
    shows it (`Bearer scope="" error="invalid_token" error_description="the token does not have a valid
    audience"`); a valid token without a scope of the route: error="insufficient_scope", the route's scopes."""
    error = "insufficient_scope" if refused.status == 403 else "invalid_token"
    described = str(refused).replace('"', "'")
    return f'Bearer scope="{" ".join(scopes) if refused.status == 403 else ""}" error="{error}" ' \
           f'error_description="{described}"'


class _CompiledRoute:
    def __init__(self, route: HttpRoute) -> None:
        self.route = route
        if route.key == "$default":
            self.method, self.segments = "*", ()
            return
        method, _, path = route.key.partition(" ")
        self.method = method.upper()
        self.segments = compile_path(path)

    def match(self, method: str, parts: list[str]) -> dict[str, str] | None:
        if self.route.key == "$default" or self.method not in (method, "ANY"):
            return None
        return match_path(self.segments, parts)

    def rank(self) -> tuple:
        # literal segments beat parameters beat greedy ones, longer paths first; a method beats ANY
        return tuple(kind for kind, _ in self.segments) + (3,), self.method == "ANY"


class HttpApiRouter:
    """One HTTP API stage: answers the requests under its base path (None for other paths)."""

    def __init__(self, api: HttpApiConfig, invoke: Invoke, *, region: str = events.REGION,
                 keys: tokens.KeySource = tokens.discovered_key_set,
                 identities: sigv4.Identities | None = None,
                 aws_action: Callable[[ServiceCall], tuple[int, bytes]] | None = None) -> None:
        self.api = api
        self._invoke = invoke
        self._aws_action = aws_action  # an AWS service integration's call of the emulator
        self._keys = keys  # a JWT authorizer's issuer -> its key set
        self._identities = identities  # an access key -> its IAM user (AWS_IAM routes)
        self.region = region
        self._routes = sorted((_CompiledRoute(r) for r in api.routes if r.key != "$default"),
                              key=lambda c: c.rank())
        self._default = next((r for r in api.routes if r.key == "$default"), None)
        self._cors = dict(api.cors) if api.cors is not None else None
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"http-api-{api.api_id}")

    @property
    def base_path(self) -> str:
        """Where the stage is served: "" for $default, else "/<stage>"."""
        return "" if self.api.stage == "$default" else f"/{self.api.stage}"

    def close(self) -> None:
        """Stop the integration threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ requests
    def handle(self, method: str, target: str, header_pairs: list[tuple[str, str]], body: bytes,
               source_ip: str, host: str, mapped_path: str | None = None) -> Answer | None:
        """Answer one request; None when the path is not under this stage or matches no route and no $default.
        Through a custom domain name, `mapped_path` is what follows the API mapping's key (the routes match it; the
        event's rawPath keeps the key, as API Gateway passes it) and `host` is the domain."""
        url = urlsplit(target)
        raw_path = url.path
        if mapped_path is not None:
            route_path = mapped_path
        elif self.base_path:
            if raw_path != self.base_path and not raw_path.startswith(self.base_path + "/"):
                return None
            route_path = raw_path[len(self.base_path):] or "/"
        else:
            route_path = raw_path
        headers = {k.lower(): v for k, v in header_pairs}
        origin = headers.get("origin")
        if self._cors is not None and method == "OPTIONS" and origin and "access-control-request-method" in headers:
            return self._preflight(origin, headers)
        parts = [unquote(p) for p in route_path.split("/") if p]
        found = next(((c.route, params) for c in self._routes
                      if (params := c.match(method, parts)) is not None), None)
        if found is None and self._default is not None:
            found = (self._default, {})
        if found is None:
            return None
        route, params = found
        request = _Request(self, route, params, method, raw_path, route_path, url.query, header_pairs, body,
                           source_ip, host)
        answer = self._serve(request)
        return self._with_cors(answer, origin)

    def _serve(self, request: _Request) -> Answer:
        route = request.route
        authorizer_context = None
        if route.authorizer is not None:
            outcome = self._authorize_jwt(route, request) if route.authorizer.type == "JWT" else \
                self._authorize_iam(route.authorizer, request) if route.authorizer.type == "AWS_IAM" else \
                self._authorize(route.authorizer, request)
            if isinstance(outcome, tuple):
                return outcome
            authorizer_context = outcome
        context = {"path": request.route_path, "requestId": request.request_id, "stage": self.api.stage,
                   "httpMethod": request.method, "domainName": request.host}
        answer = self._integration(route, request, authorizer_context, context)
        if route.response_changes and not isinstance(answer, (http_proxy.GatewayAnswer, streaming.StreamedAnswer)):
            # the integration's response parameter mapping, for its answer's status code
            answer = http_proxy.changed_response(route.response_changes, answer, context)
        return answer

    def _integration(self, route: HttpRoute, request: _Request, authorizer_context: dict[str, Any] | None,
                     context: dict[str, str]) -> Answer:
        """The integration's answer: the HTTP endpoint's, the service's, or the function's as HTTP."""
        if route.service is not None:
            return self._service(route, request, context)
        if route.http_proxy is not None:
            return http_proxy.forward(route.http_proxy, request.method, request.params, request.query,
                                      request.header_pairs, request.body, failures=(_UNAVAILABLE, _ERROR),
                                      context=context)
        if route.function is None:
            return http_proxy.GatewayAnswer(_json(*_NOT_FOUND))
        if route.request_changes:  # the integration's request parameter mapping: the function sees the result
            path, pairs, headers = http_proxy.changed_request(route.request_changes, request.raw_path, request.query,
                                                              request.header_pairs, request.params, context)
            request.raw_path, request.query_pairs, request.header_pairs = path, pairs, headers
            request.query = urlencode(pairs)
        event = request.event_v2(authorizer_context) if route.payload_version == "2.0" else \
            request.event_v1(authorizer_context)
        if route.streaming:  # the HTTP server runs it, writing what the function streams as it comes
            function = route.function
            return streaming.StreamedAnswer(lambda sink: self._invoke(function, event, stream=sink))
        try:
            result = self._executor.submit(self._invoke, route.function, event).result(timeout=route.timeout)
        except FutureTimeout:
            return http_proxy.GatewayAnswer(_json(*_UNAVAILABLE))
        except Exception as exc:  # noqa: BLE001 - a function error is the client's 500, as on AWS
            log.info("%s %s: function %s failed: %s", request.method, request.raw_path, route.function, exc)
            return http_proxy.GatewayAnswer(_json(*_ERROR))
        return _response_v2(result) if route.payload_version == "2.0" else _response_v1(result)

    def _service(self, route: HttpRoute, request: _Request, context: dict[str, str]) -> Answer:
        """An AWS service integration: the action called with the mapped parameters; the service's status and body
        (its error too: a service's 400 is the client's 400, as API Gateway passes it on)."""
        integration = route.service
        if self._aws_action is None:
            return http_proxy.GatewayAnswer(_json(*_ERROR))
        variables = dict(self.api.stage_variables)
        values = {}
        for name, expression in integration.parameters:
            found = service_subtypes.value(expression, request.body, request.header_pairs, request.query_pairs,
                                           request.params, context, variables)
            if found is not None:
                values[name] = found
        try:
            subtype, body = service_subtypes.request_body(integration, values)
        except service_subtypes.Refused as refused:
            return _json(refused.status, refused.body)
        call = ServiceCall(subtype.service, subtype.action, "", (), (), body)
        try:
            status, answer = self._executor.submit(self._aws_action, call).result(timeout=route.timeout)
        except FutureTimeout:
            return http_proxy.GatewayAnswer(_json(*_UNAVAILABLE))
        except Exception as exc:  # noqa: BLE001 - the emulator could not be reached: API Gateway's 500
            log.info("%s %s: %s failed: %s", request.method, request.raw_path, integration.subtype, exc)
            return http_proxy.GatewayAnswer(_json(*_ERROR))
        if status >= 500 and not answer.lstrip().startswith(b"{"):  # the emulator failed: no page of its internals
            log.info("%s %s: %s answered %s", request.method, request.raw_path, integration.subtype, status)
            return http_proxy.GatewayAnswer(_json(*_ERROR))
        return status, [("Content-Type", "application/json")], answer

    # ------------------------------------------------------------------ authorizers
    def _authorize_iam(self, authorizer: HttpAuthorizer, request: _Request) -> dict[str, Any] | Answer:
        try:
            key = sigv4.access_key(request.identity_value("$request.header.Authorization"), authorizer.service)
        except sigv4.Unsigned:
            # a function URL's answer is Lambda's ({"Message": ...}), an HTTP API's API Gateway's
            return _json(403, {"Message": "Forbidden"}) if authorizer.service == "lambda" else _json(*_FORBIDDEN)
        caller = self._identities(key) if self._identities is not None else None
        return {"iam": {"accessKey": key, "accountId": events.ACCOUNT_ID, "callerId": caller and caller["userId"],
                        "cognitoIdentity": None, "principalOrgId": None, "userArn": caller and caller["userArn"],
                        "userId": caller and caller["userId"]}}

    def _authorize_jwt(self, route: HttpRoute, request: _Request) -> dict[str, Any] | Answer:
        authorizer = route.authorizer
        token = next((value for source in authorizer.identity_sources
                      if (value := request.identity_value(source)) is not None), None)
        if token is None:
            return _json(*_UNAUTHORIZED)
        try:
            claims = tokens.verify(token, issuers=(authorizer.issuer,), keys=self._keys,
                                   audiences=authorizer.audiences)
            tokens.require_scopes(claims, route.scopes)
        except tokens.Refused as refused:
            log.info("%s %s: JWT authorizer refused the token: %s", request.method, request.raw_path, refused)
            status, headers, payload = _json(*(_FORBIDDEN if refused.status == 403 else _UNAUTHORIZED))
            return status, headers + [("www-authenticate", _bearer_challenge(refused, route.scopes))], payload
        return {"jwt": {"claims": tokens.http_claims(claims),
                        "scopes": tokens.token_scopes(claims) if route.scopes else None}}

    def _authorize(self, authorizer: HttpAuthorizer, request: _Request) -> dict[str, Any] | Answer:
        identity = []
        for source in authorizer.identity_sources:
            value = request.identity_value(source)
            if value is None:
                return _json(*_UNAUTHORIZED)
            identity.append(value)
        # the path of a route ARN is the resource path, without the stage
        route_arn = (f"arn:aws:execute-api:{self.region}:{events.ACCOUNT_ID}:{self.api.api_id}/{self.api.stage}/"
                     f"{request.method}{request.route_path}")
        if authorizer.payload_version == "2.0":
            event = request.event_v2(None)
            for key in ("body", "isBase64Encoded"):
                event.pop(key, None)
            event = {"version": "2.0", "type": "REQUEST", "routeArn": route_arn, "identitySource": identity, **event}
        else:
            event = request.event_v1(None)
            for key in ("body", "isBase64Encoded"):
                event.pop(key, None)
            event = {"version": "1.0", "type": "REQUEST", "methodArn": route_arn,
                     "identitySource": ",".join(identity), **event}
            if identity:
                event["authorizationToken"] = identity[0]
        try:
            result = self._executor.submit(self._invoke, authorizer.function, event).result(timeout=10)
        except Exception as exc:  # noqa: BLE001 - an authorizer that fails or times out is a 500 on HTTP APIs
            log.info("authorizer %s failed: %s", authorizer.function, exc)
            return _json(*_ERROR)
        if not isinstance(result, dict):
            return _json(*_ERROR)
        if authorizer.payload_version == "2.0" and authorizer.simple_responses:
            if not isinstance(result.get("isAuthorized"), bool):
                return _json(*_ERROR)
            return {"lambda": dict(result.get("context") or {})} if result["isAuthorized"] else _json(*_FORBIDDEN)
        policy = result.get("policyDocument")
        if not isinstance(policy, dict):
            return _json(*_ERROR)
        if not policy_allows(policy, route_arn):
            return _json(*_FORBIDDEN)
        context = dict(result.get("context") or {})
        if "principalId" in result:
            context.setdefault("principalId", result["principalId"])
        return {"lambda": context}

    # ------------------------------------------------------------------ CORS
    def _preflight(self, origin: str, headers: dict[str, str]) -> Answer:
        cors = self._cors or {}
        if not _origin_allowed(cors, origin):
            return 204, [], b""
        out = self._cors_headers(origin)
        methods = cors.get("allowMethods") or []
        out.append(("Access-Control-Allow-Methods", ",".join(methods)))
        if cors.get("allowHeaders"):
            out.append(("Access-Control-Allow-Headers", ",".join(cors["allowHeaders"])))
        if cors.get("maxAge") is not None:
            out.append(("Access-Control-Max-Age", str(cors["maxAge"])))
        return 204, out, b""

    def _cors_headers(self, origin: str) -> list[tuple[str, str]]:
        cors = self._cors or {}
        allowed = cors.get("allowOrigins") or []
        out = [("Access-Control-Allow-Origin", "*" if "*" in allowed and not cors.get("allowCredentials")
                else origin)]
        if cors.get("allowCredentials"):
            out.append(("Access-Control-Allow-Credentials", "true"))
        if cors.get("exposeHeaders"):
            out.append(("Access-Control-Expose-Headers", ",".join(cors["exposeHeaders"])))
        return out

    def _with_cors(self, answer: Answer, origin: str | None) -> Answer:
        if self._cors is None or not origin or not _origin_allowed(self._cors, origin):
            return answer
        if isinstance(answer, streaming.StreamedAnswer):
            answer.extra_headers += self._cors_headers(origin)
            return answer
        status, headers, payload = answer
        return status, headers + self._cors_headers(origin), payload


def _origin_allowed(cors: dict[str, Any], origin: str) -> bool:
    return any(pattern == "*" or fnmatch.fnmatchcase(origin, pattern) for pattern in cors.get("allowOrigins") or [])


class _Request:
    """One request as API Gateway sees it, turned into either payload format."""

    def __init__(self, router: HttpApiRouter, route: HttpRoute, params: dict[str, str], method: str, raw_path: str,
                 route_path: str, query: str, header_pairs: list[tuple[str, str]], body: bytes, source_ip: str,
                 host: str) -> None:
        self.router, self.route, self.params, self.method = router, route, params, method
        self.raw_path, self.route_path = raw_path, route_path
        self.query, self.header_pairs, self.body = query, header_pairs, body
        self.source_ip, self.host = source_ip, host
        self.query_pairs = parse_qsl(query, keep_blank_values=True)
        self.request_id = events.new_request_id()
        self.now = time.time()

    def identity_value(self, source: str) -> str | None:
        """The value of an identity source expression for this request (None when absent or empty)."""
        source = source.strip()
        lowered = {}
        for name, value in self.header_pairs:
            lowered[name.lower()] = f"{lowered[name.lower()]},{value}" if name.lower() in lowered else value
        if source.startswith("$request.header."):
            value = lowered.get(source.removeprefix("$request.header.").lower())
        elif source.startswith("$request.querystring."):
            name = source.removeprefix("$request.querystring.")
            values = [v for k, v in self.query_pairs if k == name]
            value = ",".join(values) if values else None
        elif source.startswith("$stageVariables."):
            value = dict(self.router.api.stage_variables).get(source.removeprefix("$stageVariables."))
        elif source.startswith("$context."):
            value = {"sourceIp": self.source_ip, "httpMethod": self.method,
                     "path": self.raw_path}.get(source.removeprefix("$context."))
        else:
            value = None
        return value or None

    def _body(self) -> tuple[str | None, bool]:
        if not self.body:
            return None, False
        try:
            return self.body.decode("utf-8"), False
        except UnicodeDecodeError:
            return base64.b64encode(self.body).decode(), True

    def event_v2(self, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in self.header_pairs:
            name = name.lower()
            if name == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        query: dict[str, str] = {}
        for name, value in self.query_pairs:
            query[name] = f"{query[name]},{value}" if name in query else value
        body, is_base64 = self._body()
        api = self.router.api
        context: dict[str, Any] = {
            "accountId": events.ACCOUNT_ID, "apiId": api.api_id, "domainName": self.host,
            "domainPrefix": self.host.split(".")[0],
            "http": {"method": self.method, "path": self.raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": self.source_ip, "userAgent": headers.get("user-agent", "")},
            "requestId": self.request_id, "routeKey": self.route.key, "stage": api.stage,
            "time": events.request_time(self.now), "timeEpoch": int(self.now * 1000),
        }
        if authorizer is not None:
            context["authorizer"] = authorizer
        event: dict[str, Any] = {"version": "2.0", "routeKey": self.route.key, "rawPath": self.raw_path,
                                 "rawQueryString": self.query}
        if cookies:
            event["cookies"] = cookies
        event["headers"] = headers
        if query:
            event["queryStringParameters"] = query
        event["requestContext"] = context
        if body is not None:
            event["body"] = body
        if self.params:
            event["pathParameters"] = self.params
        event["isBase64Encoded"] = is_base64
        if api.stage_variables:
            event["stageVariables"] = dict(api.stage_variables)
        return event

    def event_v1(self, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        resource = self.route.key.partition(" ")[2] if self.route.key != "$default" else "$default"
        body, is_base64 = self._body()
        event = events.rest_proxy_event(
            api_id=self.router.api.api_id, stage=self.router.api.stage, resource_path=resource, method=self.method,
            path=self.raw_path, header_pairs=self.header_pairs, query_pairs=self.query_pairs,
            path_parameters=self.params, body=self.body, binary=is_base64, source_ip=self.source_ip,
            domain_name=self.host)
        context = event["requestContext"]
        context.update({"path": self.raw_path, "resourceId": self.route.key, "requestId": self.request_id,
                        "extendedRequestId": self.request_id, "routeKey": self.route.key})
        context["authorizer"] = {"claims": None, "scopes": None} if authorizer is None else \
            dict(authorizer["jwt"]) if "jwt" in authorizer else authorizer
        event = {"version": "1.0", **event}
        if self.router.api.stage_variables:
            event["stageVariables"] = dict(self.router.api.stage_variables)
        return event


def _payload(body: Any, is_base64: bool) -> bytes:
    if body is None:
        return b""
    if is_base64:
        return base64.b64decode(body)
    return (body if isinstance(body, str) else json.dumps(body)).encode()


def _response_v2(result: Any) -> Answer:
    """A payload 2.0 result: a response object, or any JSON value (then 200, application/json)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return 200, [("Content-Type", "application/json")], text.encode()
    try:
        status = int(result["statusCode"])
        payload = _payload(result.get("body"), bool(result.get("isBase64Encoded")))
    except (TypeError, ValueError):
        return _json(*_ERROR)
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or []]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, payload


def _response_v1(result: Any) -> Answer:
    """A payload 1.0 result: statusCode, headers, multiValueHeaders, body, isBase64Encoded (else 500:
    events.malformed_proxy_response)."""
    if events.malformed_proxy_response(result):
        return _json(*_ERROR)
    try:
        status = int(result["statusCode"])
        payload = _payload(result.get("body"), bool(result.get("isBase64Encoded")))
    except (TypeError, ValueError):
        return _json(*_ERROR)
    multi = result.get("multiValueHeaders") or {}
    headers = [(name, str(v)) for name, values in multi.items() for v in values]
    headers += [(name, str(v)) for name, v in (result.get("headers") or {}).items() if name not in multi]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, payload
