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
import json
import logging
import mimetypes
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from api_gateway import events
from api_gateway.config import Invoke, RestApiConfig, RestRoute

log = logging.getLogger(__name__)

_MISSING_TOKEN = (403, {"message": "Missing Authentication Token"})
_INTERNAL_ERROR = (502, {"message": "Internal server error"})
_TIMED_OUT = (504, {"message": "Endpoint request timed out"})
_LITERAL, _PARAM, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class _Resource:
    """One resource path of an API, compiled for matching, with its methods."""

    api: RestApiConfig
    path: str
    segments: tuple[tuple[int, str], ...]           # (kind, literal text or parameter name)
    methods: dict[str, RestRoute]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for index, (kind, text) in enumerate(self.segments):
            if kind == _GREEDY:
                if index >= len(parts):
                    return None
                params[text] = "/".join(parts[index:])
                return params
            if index >= len(parts):
                return None
            if kind == _LITERAL:
                if parts[index] != text:
                    return None
            else:
                params[text] = parts[index]
        return params if len(parts) == len(self.segments) else None

    def specificity(self) -> tuple[int, ...]:
        return tuple(kind for kind, _ in self.segments)


def _compile(path: str) -> tuple[tuple[int, str], ...]:
    segments = []
    for part in [p for p in path.split("/") if p]:
        if part.startswith("{") and part.endswith("+}"):
            segments.append((_GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            segments.append((_PARAM, part[1:-1]))
        else:
            segments.append((_LITERAL, part))
    return tuple(segments)


class RestGateway:
    """REST API stages plus the static client, on one threaded HTTP server."""

    def __init__(self, apis: list[RestApiConfig], invoke: Invoke, *, host: str = "127.0.0.1", port: int = 0,
                 static_dir: Path | None = None, integration_timeout: float = 29.0) -> None:
        self.apis = list(apis)
        self._invoke = invoke
        self._host = host
        self._requested_port = port
        self.static_dir = Path(static_dir).resolve() if static_dir is not None else None
        #: generated JSON documents served beside the static files, e.g. "/config.json" (the endpoints)
        self.documents: dict[str, bytes] = {}
        self.integration_timeout = integration_timeout
        self.port = 0
        self._stages: dict[str, list[_Resource]] = {}
        for api in self.apis:
            by_path: dict[str, dict[str, RestRoute]] = {}
            for route in api.routes:
                by_path.setdefault(route.path, {})[route.method.upper()] = route
            resources = self._stages.setdefault(api.stage, [])
            resources += [_Resource(api, path, _compile(path), methods) for path, methods in by_path.items()]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start serving; returns once the port is bound."""
        gateway = self

        class Handler(_RequestHandler):
            rest_gateway = gateway

        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="rest-integration")
        self._server = ThreadingHTTPServer((self._host, self._requested_port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="rest-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the listening socket."""
        if self._server is None:
            return
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

    def resolve(self, stage: str, path: str, method: str) -> tuple[RestRoute, _Resource, dict[str, str]] | None:
        """The route, resource and path parameters for ``method path`` in ``stage``; None: no such resource/method."""
        parts = [unquote(p) for p in path.split("/") if p]
        best: tuple[_Resource, dict[str, str]] | None = None
        for resource in self._stages.get(stage, ()):
            params = resource.match(parts)
            if params is not None and (best is None or resource.specificity() < best[0].specificity()):
                best = (resource, params)
        if best is None:
            return None
        resource, params = best
        route = resource.methods.get(method) or resource.methods.get("ANY")
        return (route, resource, params) if route is not None else None

    def handle(self, method: str, target: str, header_pairs: list[tuple[str, str]], body: bytes,
               source_ip: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """Answer one API request; None when the path is in no stage (the caller serves static files)."""
        url = urlsplit(target)
        stage, _, rest = url.path.lstrip("/").partition("/")
        if stage not in self._stages:
            return None
        path = "/" + rest
        resolved = self.resolve(stage, path, method)
        if resolved is None:
            status, headers, payload = self._json(*_MISSING_TOKEN)
            return status, headers + [("x-amzn-ErrorType", "MissingAuthenticationTokenException")], payload
        route, resource, params = resolved
        content_type = next((v for k, v in header_pairs if k.lower() == "content-type"), "")
        media_type = content_type.split(";")[0].strip().lower()
        binary = any(fnmatch.fnmatchcase(media_type, t) for t in resource.api.binary_media_types) if media_type \
            else False
        if not binary and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                binary = True
        host = next((v for k, v in header_pairs if k.lower() == "host"), f"{self._host}:{self.port}")
        event = events.rest_proxy_event(
            api_id=resource.api.api_id, stage=stage, resource_path=resource.path, method=method, path=unquote(path),
            header_pairs=header_pairs, query_pairs=parse_qsl(url.query, keep_blank_values=True),
            path_parameters=params, body=body, binary=binary, source_ip=source_ip, domain_name=host)
        future = self._executor.submit(self._invoke, route.function, event)
        try:
            result = future.result(timeout=self.integration_timeout)
        except FutureTimeout:
            return self._json(*_TIMED_OUT)
        except Exception as exc:
            log.info("%s %s: function %s failed: %s", method, path, route.function, exc)
            return self._json(*_INTERNAL_ERROR)
        return self._proxy_response(result, event["requestContext"]["requestId"])

    @staticmethod
    def _json(status: int, payload: dict) -> tuple[int, list[tuple[str, str]], bytes]:
        return status, [("Content-Type", "application/json")], json.dumps(payload).encode()

    def _proxy_response(self, result: Any, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """A Lambda proxy result as HTTP; a malformed one is 502 as on API Gateway."""
        if not isinstance(result, dict):
            return self._json(*_INTERNAL_ERROR)
        try:
            status = int(result.get("statusCode") or 200)
            body = result.get("body")
            if body is None:
                payload = b""
            elif result.get("isBase64Encoded"):
                payload = base64.b64decode(body)
            else:
                payload = (body if isinstance(body, str) else json.dumps(body)).encode()
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


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"        # keep-alive
    timeout = 60                          # an idle keep-alive socket frees its thread
    rest_gateway: RestGateway

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s " + format, self.client_address[0], *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        header_pairs = list(self.headers.items())
        method = self.command.upper()
        answer = self.rest_gateway.handle(method, self.path, header_pairs, body, self.client_address[0])
        if answer is None:
            answer = self._static(method)
        status, headers, payload = answer
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def _static(self, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        document = self.rest_gateway.documents.get(urlsplit(self.path).path) if method in ("GET", "HEAD") else None
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
