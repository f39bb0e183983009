"""The API Gateway WebSocket data plane: a ``websockets`` server that behaves like a WebSocket API stage.

Handshake: the $connect route's REQUEST authorizer, then its integration. Frames: routed by the API's
RouteSelectionExpression, each in its own task (integrations run in a thread pool), so a slow route never
blocks pings or other frames. $disconnect fires exactly once per accepted connection, however it ends.
The @connections methods are thread-safe; post_to_connection only enqueues (no round trip through the loop).

Frame size: AWS closes with 1009 on a *frame* above 32 KB, which makes a browser (which never fragments)
unable to send more than 32 KB. We always enforce the 128 KB *message* limit (close 1009, like AWS) and
enforce the frame limit only when ``enforce_frame_limit=True``.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State

from api_gateway import events, service_integrations, vtl
from api_gateway.config import Invoke, Limits, ServiceCall, WebSocketApiConfig, WebSocketRoute
from api_gateway.answers import (REASONS, GoneError, IntegrationTimeout, PayloadTooLargeError, Refused,
                                 handshake_refusal, refusal)
from api_gateway.authorizers import authorize_connect
from api_gateway.connections import answer_request

log = logging.getLogger(__name__)

_OPEN = State.OPEN
_CLOSE = object()            # outbox marker: close this connection after the frames queued before it
_GOING_AWAY = (1001, "Going away")


class _Session:
    """One accepted (or accepting) client connection: what API Gateway knows about it."""

    __slots__ = ("id", "ws", "connected_at", "last_active", "source_ip", "user_agent", "authorizer",
                 "server_close", "disconnected", "tasks", "timers", "handled", "early")

    def __init__(self, connection_id: str, source_ip: str, user_agent: str | None) -> None:
        self.id = connection_id
        self.ws: ServerConnection | None = None
        self.connected_at = time.time()
        self.last_active = self.connected_at
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.authorizer: dict[str, Any] | None = None
        self.server_close: tuple[int, str] | None = None   # set when the gateway (not the client) closes
        self.disconnected = False
        self.tasks: set[asyncio.Task] = set()
        self.timers: list[asyncio.TimerHandle] = []
        self.handled = False          # the connection handler runs: the socket is OPEN
        self.early: list = []         # posted between the accepted handshake and OPEN, sent when it opens


def _peek(counter: itertools.count) -> int:
    """How far an itertools.count has counted (next() on it is atomic, a += on an attribute is not)."""
    return int(repr(counter)[6:-1])


def _is_text(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _write(ws: ServerConnection, data: bytes, text: bool) -> None:
    """Queue one whole frame on the connection's protocol; the caller flushes with ``send_data``.

    This is what ``websockets.broadcast`` does, without its per-call overhead: no await, no backpressure
    (API Gateway has none towards clients either).
    """
    if ws.protocol.state is not _OPEN or ws.send_in_progress is not None:
        return
    if text:
        ws.protocol.send_text(data)
    else:
        ws.protocol.send_binary(data)


def _flush_ws(ws: ServerConnection) -> None:
    try:
        ws.send_data()
    except Exception as exc:  # a dying transport: its $disconnect comes through the handler
        log.debug("send to a closing connection failed: %s", exc)


class _DataPlaneConnection(ServerConnection):
    """A websockets connection that also answers plain HTTP ``/<stage>/@connections/<id>`` requests.

    websockets refuses requests with a body, so the request is sniffed before websockets sees it.
    """

    def __init__(self, *args: Any, gateway: WebSocketGateway, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = gateway
        self.session: _Session | None = None
        self._sniffing: bytearray | None = bytearray()
        self._answered = False

    def data_received(self, data: bytes) -> None:
        if self._sniffing is None:
            return super().data_received(data)
        if self._answered:
            return
        buffer = self._sniffing
        buffer += data
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buffer) > 65536:
                self.transport.close()
            return
        lines = bytes(buffer[:head_end]).decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.rpartition(" ")[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() == "websocket" or "/@connections/" not in target:
            self._sniffing = None
            return super().data_received(bytes(buffer))
        refused = refusal(headers)
        length_header = headers.get("content-length") or "0"
        if refused is None and not (length_header.isascii() and length_header.isdigit()):
            refused = 400, {"Content-Type": "application/json"}, b'{"message": "Bad Request"}'
        if refused is None:
            length = int(length_header)
            body = bytes(buffer[head_end + 4:head_end + 4 + length])
            if len(body) < length:
                return
        self._answered = True   # one request per socket: the response says Connection: close
        status, answer_headers, payload = refused or answer_request(self.gateway, method, target, body)
        head = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}", f"Content-Length: {len(payload)}",
                "Connection: close"]
        head += [f"{k}: {v}" for k, v in answer_headers.items() if k.lower() != "content-length"]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        session = self.session
        if session is not None and not session.handled:
            # $connect accepted it but the socket died before the handler ran: AWS still sends $disconnect
            self.gateway.forget_connection(session)


class WebSocketGateway:
    """One WebSocket API stage served on ``host:port`` with its own event loop in a daemon thread."""

    def __init__(self, api: WebSocketApiConfig, invoke: Invoke, *, host: str = "127.0.0.1", port: int = 0,
                 limits: Limits = Limits(), enforce_frame_limit: bool = False, max_workers: int = 32,
                 aws_action: Callable[[ServiceCall], tuple[int, bytes]] | None = None) -> None:
        self.api = api
        self.stage = api.stage
        self.limits = limits
        self._invoke = invoke
        self._aws_action = aws_action  # an AWS integration's call of a service of the emulator
        self._host = host
        self._requested_port = port
        self._enforce_frame_limit = enforce_frame_limit
        self._max_workers = max_workers
        self.port = 0
        self._connections: dict[str, _Session] = {}
        self._outbox: deque[tuple[_Session, Any]] = deque()
        self._flush_scheduled = False
        self._stray_disconnects: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._selection_path = self._parse_selection(api.route_selection_expression)
        self._selectable = {key for key in api.routes if not key.startswith("$")}
        #: browser origins allowed to open a socket (the web page's own); a handshake from any other is refused
        self.allowed_origins: set[str] = set()
        #: frames posted to clients; 4XX answered before any integration ran (a frame with no route, a handshake
        #: refused by its stage, Origin or authorizer); 5XX of a failing $connect authorizer: for AWS/ApiGateway's
        #: MessageCount, ClientError and ExecutionError
        self._frames_sent = itertools.count()
        self._client_errors = itertools.count()
        self._execution_errors = itertools.count()
        #: told (connection id, what its $disconnect needs) when $connect accepts a socket, (id, None) after its
        #: $disconnect: the local cloud's durable state keeps the open ones (infra/persistence.py)
        self.session_observer: Callable[[str, dict[str, Any] | None], None] | None = None
        #: seconds an opening handshake (with its authorizer and $connect) may take before it is abandoned
        self.open_timeout = 10.0

    # ------------------------------------------------------------------ lifecycle

    @property
    def domain_name(self) -> str:
        """What events carry as requestContext.domainName; the @connections endpoint's host."""
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL clients connect to."""
        return f"ws://{self._host}:{self.port}/{self.stage}"

    def start(self) -> None:
        """Start listening; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("gateway already started")
        self._loop = asyncio.new_event_loop()
        self._executor = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix=f"ws-{self.api.name}")
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"ws-gateway-{self.api.name}",
                                        daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    async def _serve(self) -> None:
        limits = self.limits
        max_size: Any = limits.max_message_bytes
        if self._enforce_frame_limit:
            max_size = (limits.max_message_bytes, limits.max_frame_bytes)

        def create_connection(*args: Any, **kwargs: Any) -> _DataPlaneConnection:
            return _DataPlaneConnection(*args, gateway=self, **kwargs)

        # API Gateway negotiates no permessage-deflate, so neither do we (and it is faster on loopback)
        self._server = await serve(self._handle, self._host, self._requested_port, compression=None,
                                   max_size=max_size, process_request=self._handshake,
                                   create_connection=create_connection, server_header=None,
                                   open_timeout=self.open_timeout)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close every connection (each gets $disconnect), stop the server and its loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._loop = self._thread = self._server = self._executor = None

    async def _shutdown(self) -> None:
        for session in list(self._connections.values()):
            if session.server_close is None:
                session.server_close = _GOING_AWAY
        self._connections.clear()
        if self._server is not None:
            self._server.close()   # closes connections with 1001 and waits for their handlers ($disconnect)
            await self._server.wait_closed()
        if self._stray_disconnects:
            await asyncio.wait(list(self._stray_disconnects), timeout=self.limits.integration_timeout)
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def __enter__(self) -> WebSocketGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ @connections (any thread)

    @property
    def frames_sent(self) -> int:
        """Frames posted through @connections so far."""
        return _peek(self._frames_sent)

    @property
    def client_errors(self) -> int:
        """4XX answered before an integration ran so far (frames with no route, refused handshakes)."""
        return _peek(self._client_errors)

    @property
    def execution_errors(self) -> int:
        """Handshakes refused with a 5XX because their $connect authorizer failed, so far."""
        return _peek(self._execution_errors)

    @property
    def connection_count(self) -> int:
        """Connections open now."""
        return len(self._connections)

    def has_connection(self, connection_id: str) -> bool:
        """Whether the id names an open connection of this gateway."""
        return connection_id in self._connections

    def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` as one frame (text if UTF-8, else binary); GoneError if the connection is not open."""
        session = self._connections.get(connection_id)
        if session is None:
            raise GoneError(connection_id)
        if type(data) is not bytes:
            data = data.encode() if isinstance(data, str) else bytes(data)
        if len(data) > self.limits.max_message_bytes:
            raise PayloadTooLargeError(f"Message of {len(data)} bytes exceeds {self.limits.max_message_bytes}")
        self._outbox.append((session, data))
        next(self._frames_sent)
        # one wake-up of the loop per batch: producers only schedule when no flush is pending
        if not self._flush_scheduled:
            self._schedule_flush(connection_id)

    def get_connection(self, connection_id: str) -> dict[str, Any]:
        """GetConnection: ConnectedAt, Identity{SourceIp, UserAgent}, LastActiveAt (datetimes, UTC)."""
        session = self._connections.get(connection_id)
        if session is None:
            raise GoneError(connection_id)
        return {
            "ConnectedAt": datetime.fromtimestamp(session.connected_at, UTC),
            "Identity": {"SourceIp": session.source_ip, "UserAgent": session.user_agent},
            "LastActiveAt": datetime.fromtimestamp(session.last_active, UTC),
        }

    def delete_connection(self, connection_id: str) -> None:
        """Close the connection from the server side (after frames already posted to it)."""
        session = self._connections.pop(connection_id, None)
        if session is None:
            raise GoneError(connection_id)
        self._outbox.append((session, _CLOSE))
        if not self._flush_scheduled:
            self._schedule_flush(connection_id)

    def _schedule_flush(self, connection_id: str) -> None:
        self._flush_scheduled = True
        loop = self._loop
        try:
            loop.call_soon_threadsafe(self._flush)
        except (AttributeError, RuntimeError):   # stopped meanwhile: every connection is gone
            raise GoneError(connection_id) from None

    def wait_written(self, timeout: float = 10.0) -> None:
        """Block until every frame posted before this call has been handed to its socket."""
        done = threading.Event()
        self._loop.call_soon_threadsafe(done.set)   # runs after any flush already scheduled (FIFO)
        if not done.wait(timeout):
            raise TimeoutError("frames not written in time")

    def _flush(self) -> None:
        # clear the flag before draining: a producer that appends after the drain sees it clear and reschedules
        self._flush_scheduled = False
        outbox = self._outbox
        touched: dict[int, ServerConnection] = {}
        while outbox:
            session, data = outbox.popleft()
            ws = session.ws
            if not session.handled:
                session.early.append(data)
                continue
            if data is _CLOSE:
                self._server_close(session, 1000, "")
                continue
            _write(ws, data, _is_text(data))
            touched[id(ws)] = ws
        for ws in touched.values():
            _flush_ws(ws)

    # ------------------------------------------------------------------ handshake

    async def _handshake(self, connection: _DataPlaneConnection, request: Any) -> Response | None:
        url = urlsplit(request.path)
        if url.path.rstrip("/") != f"/{self.stage}":
            next(self._client_errors)
            return handshake_refusal(403, "Forbidden")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.allowed_origins:
            # another site's page: it could otherwise act with the token it gets the user's browser to send
            next(self._client_errors)
            return handshake_refusal(403, "Forbidden")
        remote = connection.remote_address
        session = _Session(events.new_connection_id(), remote[0] if remote else "127.0.0.1",
                           request.headers.get("User-Agent"))
        query_pairs = parse_qsl(url.query, keep_blank_values=True)
        context = self._context(session, "$connect", "CONNECT", events.new_request_id())
        event = events.websocket_connect_event(context, list(request.headers.raw_items()), query_pairs)
        route = self.api.routes.get("$connect")
        try:
            if route is not None and route.authorizer is not None:
                try:
                    session.authorizer = await authorize_connect(route.authorizer, event, request.headers,
                                                                  query_pairs, self._call)
                except Refused as refused:
                    next(self._client_errors if refused.status < 500 else self._execution_errors)
                    raise
                context["authorizer"] = session.authorizer
            self._observe(session)  # before $connect's writes: a crash during it still gets a $disconnect
            if route is not None and route.aws is not None:
                succeeded, _ = await self._exchange(route, context, "")
                if not succeeded:
                    raise Refused(500, "Internal server error")
            elif route is not None and route.function:
                try:
                    # an opening handshake abandoned while $connect runs (the client left, or the server's open
                    # timeout passed) gets its $disconnect once $connect has run, like a client leaving during it
                    result = await self._call(route.function, event,
                                              abandoned=lambda: self._disconnect_later(session))
                except IntegrationTimeout:
                    raise Refused(504, "Endpoint request timed out") from None
                except Exception as exc:
                    log.warning("$connect of %s failed: %s", self.api.name, exc)
                    raise Refused(500, "Internal server error") from None
                status = int(result.get("statusCode") or 200) if isinstance(result, dict) else 200
                if not 200 <= status < 300:
                    raise Refused(status, REASONS.get(status, "Forbidden"))
        except Refused as refused:
            if self.session_observer is not None:
                self.session_observer(session.id, None)
            return handshake_refusal(refused.status, str(refused))
        # registered before the 101 goes out: a client that got its 101 can be posted to at once
        session.ws = connection
        connection.session = session
        if connection.transport.is_closing():   # the client left while $connect ran: pair it with $disconnect
            self._disconnect_later(session)
        else:
            self._connections[session.id] = session
        return None

    # ------------------------------------------------------------------ connection lifetime

    async def _handle(self, ws: _DataPlaneConnection) -> None:
        session = ws.session
        session.handled = True
        for data in session.early:
            if data is _CLOSE:
                self._server_close(session, 1000, "")
            else:
                _write(ws, data, _is_text(data))
        session.early.clear()
        _flush_ws(ws)
        loop = self._loop
        limits = self.limits
        session.timers.append(loop.call_later(limits.max_duration, self._server_close, session, *_GOING_AWAY))
        session.timers.append(loop.call_later(limits.idle_timeout, self._check_idle, session))
        try:
            async for message in ws:
                session.last_active = time.time()
                task = loop.create_task(self._on_message(session, message))
                session.tasks.add(task)
                task.add_done_callback(session.tasks.discard)
        except ConnectionClosed:
            pass   # e.g. 1009 above the message limit: websockets already closed it
        finally:
            self._connections.pop(session.id, None)
            for timer in session.timers:
                timer.cancel()
            await self._disconnect(session)

    def _check_idle(self, session: _Session) -> None:
        idle = time.time() - session.last_active
        if idle >= self.limits.idle_timeout:
            self._server_close(session, *_GOING_AWAY)
        else:
            session.timers.append(self._loop.call_later(self.limits.idle_timeout - idle, self._check_idle, session))

    def _server_close(self, session: _Session, code: int, reason: str) -> None:
        if session.server_close is not None or session.ws is None:
            return
        session.server_close = (code, reason)
        self._connections.pop(session.id, None)
        self._loop.create_task(session.ws.close(code, reason))

    def forget_connection(self, session: _Session) -> None:
        """A connection $connect accepted died before it opened: drop it and send its $disconnect (any thread of
        the loop), as AWS does."""
        self._connections.pop(session.id, None)
        self._disconnect_later(session)

    def _disconnect_later(self, session: _Session) -> None:
        task = self._loop.create_task(self._disconnect(session))
        self._stray_disconnects.add(task)
        task.add_done_callback(self._stray_disconnects.discard)

    async def _disconnect(self, session: _Session) -> None:
        if session.disconnected:
            return
        session.disconnected = True
        code, reason = self._close_status(session)
        route = self.api.routes.get("$disconnect")
        if route is None or not (route.function or route.aws):
            return
        context = self._context(session, "$disconnect", "DISCONNECT", events.new_request_id())
        event = events.websocket_disconnect_event(context, code, reason)
        try:
            if route.aws is not None:
                await self._exchange(route, context, "")
            else:
                await self._call(route.function, event)
        except Exception as exc:  # AWS ignores $disconnect's outcome too
            log.warning("$disconnect of %s failed: %s", session.id, exc)
        finally:
            if self.session_observer is not None:
                self.session_observer(session.id, None)

    def _observe(self, session: _Session) -> None:
        if self.session_observer is not None:
            self.session_observer(session.id, {"connected_at": session.connected_at, "source_ip": session.source_ip,
                                               "user_agent": session.user_agent, "authorizer": session.authorizer})

    def disconnect_orphan(self, connection_id: str, info: dict[str, Any]) -> None:
        """$disconnect (1006) for a socket of an earlier run of the local cloud, which died with its process."""
        route = self.api.routes.get("$disconnect")
        if route is None or not route.function:
            return
        session = _Session(connection_id, info.get("source_ip") or "127.0.0.1", info.get("user_agent"))
        session.connected_at = float(info.get("connected_at") or session.connected_at)
        session.authorizer = info.get("authorizer")
        context = self._context(session, "$disconnect", "DISCONNECT", events.new_request_id())
        try:
            self._invoke(route.function, events.websocket_disconnect_event(context, 1006, "Going away"))
        except Exception as exc:  # AWS ignores $disconnect's outcome too
            log.warning("$disconnect of %s (an earlier run's socket) failed: %s", connection_id, exc)

    @staticmethod
    def _close_status(session: _Session) -> tuple[int, str]:
        if session.server_close is not None:
            return session.server_close
        if session.ws is None:
            return 1006, "Connection closed abnormally"
        protocol = session.ws.protocol
        if protocol.close_sent is not None and (protocol.close_rcvd is None or protocol.close_rcvd_then_sent is False):
            return int(protocol.close_sent.code), protocol.close_sent.reason   # we closed first (e.g. 1009)
        if protocol.close_rcvd is not None:
            return int(protocol.close_rcvd.code), protocol.close_rcvd.reason
        return 1006, "Connection closed abnormally"

    # ------------------------------------------------------------------ messages

    @staticmethod
    def _parse_selection(expression: str) -> tuple[str, ...] | None:
        expression = expression.strip()
        if expression.startswith("${") and expression.endswith("}"):
            expression = "$" + expression[2:-1]
        if expression.startswith("$request.body."):
            return tuple(expression.removeprefix("$request.body.").split("."))
        return None

    def _select_route(self, message: str | bytes) -> str:
        if self._selection_path is None or not self._selectable or isinstance(message, bytes):
            return "$default"
        try:
            value: Any = json.loads(message)
            for key in self._selection_path:
                if not isinstance(value, dict):
                    return "$default"
                value = value.get(key)
            key = value if isinstance(value, str) else json.dumps(value)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser's stack
            return "$default"
        return key if key in self._selectable else "$default"

    async def _on_message(self, session: _Session, message: str | bytes) -> None:
        route_key = self._select_route(message)
        request_id = events.new_request_id()
        route: WebSocketRoute | None = self.api.routes.get(route_key)
        if route is None or not (route.function or route.aws):
            next(self._client_errors)
            self._reply_error(session, "Forbidden", request_id)
            return
        context = self._context(session, route_key, "MESSAGE", request_id, message_id=events.new_request_id())
        if route.aws is not None:
            try:
                succeeded, text = await self._exchange(route, context, message)
            except IntegrationTimeout:
                self._reply_error(session, "Endpoint request timed out", request_id)
                return
            if text is None and not succeeded:
                self._reply_error(session, "Internal server error", request_id)
            elif text is not None and route.two_way:
                self._reply(session, text.encode(), text=True)
            return
        event = events.websocket_message_event(context, message)
        try:
            result = await self._call(route.function, event)
        except IntegrationTimeout:
            self._reply_error(session, "Endpoint request timed out", request_id)
            return
        except Exception as exc:
            log.info("route %s failed: %s", route_key, exc)
            self._reply_error(session, "Internal server error", request_id)
            return
        if route.two_way and isinstance(result, dict) and result.get("body") is not None:
            body = result["body"]
            if result.get("isBase64Encoded"):
                self._reply(session, base64.b64decode(body), text=False)
            else:
                body = body if isinstance(body, str) else json.dumps(body)
                self._reply(session, body.encode(), text=True)

    async def _exchange(self, route: WebSocketRoute, context: dict[str, Any], message: str | bytes
                        ) -> tuple[bool, str | None]:
        """A route's AWS or MOCK integration (api_gateway/service_integrations.py, as REST's): the message mapped by
        the request template its TemplateSelectionExpression selects, sent to the service action, path override or
        function (a MOCK's template names its status), the answer mapped by the integration response it selects.
        (whether the integration succeeded: a status under 400; the route response's text, None without one)."""
        future = self._loop.run_in_executor(self._executor, self._exchange_now, route, context, message)
        try:
            return await asyncio.wait_for(future, self.limits.integration_timeout)
        except TimeoutError:
            raise IntegrationTimeout(route.key) from None

    def _exchange_now(self, route: WebSocketRoute, context: dict[str, Any], message: str | bytes
                      ) -> tuple[bool, str | None]:
        aws = route.aws
        body = message if isinstance(message, str) else message.decode("utf-8", "replace")
        variables = {"context": context, "stage_variables": {},
                     "params": {"path": {}, "querystring": {}, "header": {}}}
        try:
            payload = service_integrations.request_payload(aws, self._template_key(route, body), body, **variables)
            if payload is None:  # PassthroughBehavior NEVER and no template for the message
                return False, None
            try:
                answer, selector, _ = service_integrations.integration_answer(aws, payload, variables["params"],
                                                                              self._invoke, self._aws_action)
            except service_integrations.NoAnswer as exc:
                log.info("route %s: %s", route.key, exc)
                return False, None
            succeeded = selector is None or not selector.isdigit() or int(selector) < 400
            if not aws.responses:
                return succeeded, None
            response = service_integrations.chosen_response(aws, selector)
            if response is None:
                return False, None
            return succeeded, service_integrations.response_of(response, answer, {}, "", **variables)[2]
        except vtl.TemplateError as exc:
            log.info("route %s: a mapping template failed: %s", route.key, exc)
            return False, None
        except Exception as exc:  # noqa: BLE001 - the emulator unreachable, a body it cannot take: this frame's error
            log.warning("route %s: the integration failed: %s", route.key, exc)
            return False, None

    @staticmethod
    def _template_key(route: WebSocketRoute, body: str) -> str:
        """The request template a message takes: its integration's TemplateSelectionExpression evaluated
        (`$request.body.<path>`: that value of the JSON message; `$default` or a static key as it is), falling
        back on the `$default` template."""
        expression = route.template_selection.removeprefix("\\")
        key = expression
        if expression.startswith("$request.body."):
            try:
                value: Any = json.loads(body)
                for part in expression.removeprefix("$request.body.").split("."):
                    value = value.get(part) if isinstance(value, dict) else None
            except (ValueError, RecursionError):
                value = None
            key = value if isinstance(value, str) else "" if value is None else json.dumps(value)
        templates = dict(route.aws.request_templates)
        return key if key in templates else "$default"

    def _reply(self, session: _Session, data: bytes, *, text: bool) -> None:
        ws = session.ws
        _write(ws, data, text)
        _flush_ws(ws)

    def _reply_error(self, session: _Session, message: str, request_id: str) -> None:
        frame = {"message": message, "connectionId": session.id, "requestId": request_id}
        self._reply(session, json.dumps(frame).encode(), text=True)

    async def _call(self, function: str, event: dict, abandoned: Callable[[], None] | None = None) -> Any:
        """The function's answer; ``abandoned()`` runs once the function has run if the caller is cancelled."""
        future = self._loop.run_in_executor(self._executor, self._invoke, function, event)
        try:
            return await asyncio.wait_for(asyncio.shield(future) if abandoned else future,
                                          self.limits.integration_timeout)
        except TimeoutError:
            raise IntegrationTimeout(function) from None
        except asyncio.CancelledError:
            if abandoned is not None:
                future.add_done_callback(lambda _: abandoned())
            raise

    def _context(self, session: _Session, route_key: str, event_type: str, request_id: str,
                 message_id: str | None = None) -> dict[str, Any]:
        return events.websocket_request_context(
            api_id=self.api.api_id, stage=self.stage, domain_name=self.domain_name, connection_id=session.id,
            connected_at_ms=int(session.connected_at * 1000), source_ip=session.source_ip,
            user_agent=session.user_agent, route_key=route_key, event_type=event_type, request_id=request_id,
            authorizer=session.authorizer, message_id=message_id)
