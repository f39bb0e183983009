"""The WebSocket data plane behaves like an API Gateway WebSocket stage, over real sockets."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from infra import account
from api_gateway.config import Authorizer, Limits, WebSocketApiConfig, WebSocketRoute
from api_gateway.websocket import WebSocketGateway

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "h2"))
import h2_ws_handlers as handlers  # noqa: E402

for _key, _value in account.ENVIRONMENT.items():
    os.environ.setdefault(_key, _value)

pytestmark = pytest.mark.timeout(30)


def api(*, authorizer: bool = True, default: bool = True, stage: str = "local") -> WebSocketApiConfig:
    routes = {
        "$connect": WebSocketRoute("$connect", "connect", authorizer=Authorizer(
            "authorize", ("route.request.querystring.token",)) if authorizer else None),
        "$disconnect": WebSocketRoute("$disconnect", "disconnect"),
        "echo": WebSocketRoute("echo", "echo", two_way=True),
        "whoami": WebSocketRoute("whoami", "whoami", two_way=True),
        "fail": WebSocketRoute("fail", "fail", two_way=True),
        "slow": WebSocketRoute("slow", "slow", two_way=True),
        "quiet": WebSocketRoute("quiet", "echo", two_way=False),
    }
    if default:
        routes["$default"] = WebSocketRoute("$default", "default", two_way=True)
    return WebSocketApiConfig("api123", "test-ws", stage, "$request.body.action", routes)


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def disconnects_of(connection_id: str) -> list[dict]:
    return [e for e in handlers.recorded("disconnect") if e["requestContext"]["connectionId"] == connection_id]


def last_connection_id() -> str:
    return handlers.recorded("connect")[-1]["requestContext"]["connectionId"]


@pytest.fixture
def gateway() -> Iterator[WebSocketGateway]:
    handlers.EVENTS.clear()
    with WebSocketGateway(api(), handlers.invoke) as gw:
        yield gw


def test_authorizer_allows_and_its_context_reaches_every_later_event(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as ws:
        ws.send(json.dumps({"action": "whoami"}))
        assert json.loads(ws.recv(timeout=5)) == {"userId": "u-1", "email": "a@x.io", "principalId": "user-1"}
        connection_id = last_connection_id()
    wait_until(lambda: disconnects_of(connection_id))
    expected = {"userId": "u-1", "email": "a@x.io", "principalId": "user-1"}
    assert handlers.recorded("connect")[-1]["requestContext"]["authorizer"] == expected
    assert handlers.recorded("whoami")[-1]["requestContext"]["authorizer"] == expected
    assert disconnects_of(connection_id)[0]["requestContext"]["authorizer"] == expected
    auth_event = handlers.recorded("authorize")[-1]
    assert auth_event["type"] == "REQUEST"
    assert auth_event["methodArn"].endswith(":api123/local/$connect")
    assert auth_event["queryStringParameters"] == {"token": "good"}


def test_missing_identity_source_is_401_without_calling_the_authorizer(gateway: WebSocketGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.url)
    assert refused.value.response.status_code == 401
    assert handlers.recorded("authorize") == [] and handlers.recorded("connect") == []


@pytest.mark.parametrize(("token", "status"), [("deny", 403), ("wrong", 401), ("boom", 500)])
def test_authorizer_refusals_map_to_api_gateway_statuses(gateway: WebSocketGateway, token: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}?token={token}")
    assert refused.value.response.status_code == status
    assert handlers.recorded("connect") == []     # the $connect route never runs after a refusal


@pytest.mark.parametrize(("query", "status"), [("refuse=403", 403), ("refuse=429", 429), ("crash=1", 500)])
def test_connect_route_can_refuse_the_handshake(gateway: WebSocketGateway, query: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}?token=good&{query}")
    assert refused.value.response.status_code == status
    time.sleep(0.1)
    assert handlers.recorded("disconnect") == []  # never connected: no $disconnect


def test_wrong_stage_is_refused(gateway: WebSocketGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{gateway.domain_name}/other?token=good")
    assert refused.value.response.status_code == 403


def test_connect_event_carries_headers_query_and_request_context(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good&tag=a&tag=b", additional_headers={"X-Client": "tests"}):
        pass
    event = handlers.recorded("connect")[-1]
    assert event["headers"]["X-Client"] == "tests"
    assert event["multiValueHeaders"]["X-Client"] == ["tests"]
    assert event["queryStringParameters"] == {"token": "good", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": ["good"], "tag": ["a", "b"]}
    rc = event["requestContext"]
    assert rc["routeKey"] == "$connect" and rc["eventType"] == "CONNECT"
    assert rc["domainName"] == gateway.domain_name == f"127.0.0.1:{gateway.port}"
    assert rc["stage"] == "local" and rc["apiId"] == "api123" and rc["messageDirection"] == "IN"
    assert rc["identity"]["sourceIp"] == "127.0.0.1"
    assert abs(rc["connectedAt"] - time.time() * 1000) < 5000
    assert rc["requestTimeEpoch"] >= rc["connectedAt"]
    assert rc["requestId"] and rc["extendedRequestId"] == rc["requestId"]


def test_frames_are_routed_by_action_else_default(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as ws:
        ws.send(json.dumps({"action": "echo", "n": 1}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo", "n": 1}
        ws.send(json.dumps({"action": "nope"}))
        assert json.loads(ws.recv(timeout=5))["route"] == "$default"
        ws.send("not json")
        assert json.loads(ws.recv(timeout=5)) == {"route": "$default", "body": "not json", "isBase64Encoded": False}
        ws.send(b"\x00\xffbinary")
        reply = json.loads(ws.recv(timeout=5))
        assert reply == {"route": "$default", "body": "AP9iaW5hcnk=", "isBase64Encoded": True}
    message = handlers.recorded("default")[0]
    rc = message["requestContext"]
    assert rc["eventType"] == "MESSAGE" and rc["routeKey"] == "$default" and rc["messageId"]
    assert rc["connectionId"] == last_connection_id()


@pytest.mark.parametrize("depth", [1_000, 10_000])  # 10,000 levels still fit in one 128 KB message
def test_a_deeply_nested_frame_goes_to_default_and_the_socket_stays_usable(gateway: WebSocketGateway,
                                                                           depth: int) -> None:
    with connect(gateway.url + "?token=good") as ws:
        for body in ("[" * depth + "]" * depth, '{"action": ' + "[" * depth + "]" * depth + "}",
                     '{"action": ' + '{"a": ' * depth + "1" + "}" * depth + "}"):
            ws.send(body)
            assert json.loads(ws.recv(timeout=5))["route"] == "$default"
        ws.send(json.dumps({"action": "echo", "still": "open"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo", "still": "open"}


def test_one_way_route_sends_nothing_back(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as ws:
        ws.send(json.dumps({"action": "quiet"}))
        ws.send(json.dumps({"action": "echo", "after": "quiet"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo", "after": "quiet"}
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)


def test_no_default_route_answers_forbidden_and_stays_open() -> None:
    handlers.EVENTS.clear()
    with WebSocketGateway(api(default=False), handlers.invoke) as gw, connect(gw.url + "?token=good") as ws:
        ws.send(json.dumps({"action": "nope"}))
        reply = json.loads(ws.recv(timeout=5))
        assert reply["message"] == "Forbidden" and reply["connectionId"] == last_connection_id()
        assert reply["requestId"]
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo"}


def test_handler_error_sends_internal_server_error_frame_and_connection_stays_open(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as ws:
        ws.send(json.dumps({"action": "fail"}))
        reply = json.loads(ws.recv(timeout=5))
        assert reply["message"] == "Internal server error"
        assert reply["connectionId"] == last_connection_id() and reply["requestId"]
        ws.send(json.dumps({"action": "echo", "still": "open"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo", "still": "open"}


def test_slow_route_does_not_block_later_frames_or_pings(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as ws:
        started = time.monotonic()
        ws.send(json.dumps({"action": "slow", "seconds": 1.0}))
        ws.send(json.dumps({"action": "echo", "fast": True}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo", "fast": True}
        ws.ping().wait(timeout=0.5)
        assert time.monotonic() - started < 0.8
        assert ws.recv(timeout=5) == "slow done"


def test_integration_timeout_sends_timed_out_frame() -> None:
    handlers.EVENTS.clear()
    with WebSocketGateway(api(), handlers.invoke, limits=Limits(integration_timeout=0.3)) as gw, \
            connect(gw.url + "?token=good") as ws:
        ws.send(json.dumps({"action": "slow", "seconds": 1.0}))
        assert json.loads(ws.recv(timeout=5))["message"] == "Endpoint request timed out"


def test_message_over_128_kb_closes_1009_and_other_connections_are_unaffected(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as other, connect(gateway.url + "?token=good", max_size=None) as big:
        big_id = last_connection_id()
        big.send(json.dumps({"action": "echo", "pad": "x" * 120_000}))          # under the limit: fine
        assert len(big.recv(timeout=5)) > 120_000
        big.send("x" * (128 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            big.recv(timeout=5)
        assert closed.value.rcvd.code == 1009
        wait_until(lambda: disconnects_of(big_id))
        assert disconnects_of(big_id)[0]["requestContext"]["disconnectStatusCode"] == 1009
        other.send(json.dumps({"action": "echo", "other": 1}))
        assert json.loads(other.recv(timeout=5)) == {"action": "echo", "other": 1}


def test_frame_limit_when_enforced_closes_1009() -> None:
    limits = Limits(max_frame_bytes=1024)
    with WebSocketGateway(api(authorizer=False), handlers.invoke, limits=limits, enforce_frame_limit=True) as gw, \
            connect(gw.url) as ws:
        ws.send("y" * 2048)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1009


def test_client_close_fires_disconnect_once_with_its_code(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as ws:
        connection_id = last_connection_id()
        ws.close(4000, "bye")
    wait_until(lambda: disconnects_of(connection_id))
    time.sleep(0.1)
    [event] = disconnects_of(connection_id)
    rc = event["requestContext"]
    assert rc["eventType"] == "DISCONNECT" and rc["routeKey"] == "$disconnect"
    assert rc["disconnectStatusCode"] == 4000 and rc["disconnectReason"] == "bye"
    assert not gateway.has_connection(connection_id)


def test_server_delete_via_connections_closes_and_fires_disconnect(gateway: WebSocketGateway) -> None:
    with connect(gateway.url + "?token=good") as ws:
        connection_id = last_connection_id()
        request = urllib.request.Request(f"http://{gateway.domain_name}/local/@connections/{connection_id}",
                                         method="DELETE", headers=SIGNED)
        assert urllib.request.urlopen(request, timeout=5).status == 204
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    wait_until(lambda: disconnects_of(connection_id))
    assert len(disconnects_of(connection_id)) == 1


def test_idle_timeout_closes_and_fires_disconnect() -> None:
    handlers.EVENTS.clear()
    with WebSocketGateway(api(), handlers.invoke, limits=Limits(idle_timeout=0.6)) as gw, \
            connect(gw.url + "?token=good") as ws:
        connection_id = last_connection_id()
        for _ in range(3):                      # activity keeps it open past the idle timeout
            time.sleep(0.3)
            ws.send(json.dumps({"action": "echo"}))
            ws.recv(timeout=5)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1001
        wait_until(lambda: disconnects_of(connection_id))
        assert disconnects_of(connection_id)[0]["requestContext"]["disconnectStatusCode"] == 1001


def test_max_duration_closes_even_an_active_connection() -> None:
    handlers.EVENTS.clear()
    with WebSocketGateway(api(), handlers.invoke, limits=Limits(max_duration=0.8)) as gw, \
            connect(gw.url + "?token=good") as ws:
        connection_id = last_connection_id()
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            while True:
                ws.send(json.dumps({"action": "echo"}))
                ws.recv(timeout=5)
                time.sleep(0.05)
        assert 0.7 < time.monotonic() - started < 3
        wait_until(lambda: disconnects_of(connection_id))
        assert len(disconnects_of(connection_id)) == 1


def test_stop_closes_every_connection_with_disconnect() -> None:
    handlers.EVENTS.clear()
    gw = WebSocketGateway(api(), handlers.invoke)
    gw.start()
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(connect(gw.url + "?token=good")) for _ in range(3)]
        ids = [e["requestContext"]["connectionId"] for e in handlers.recorded("connect")]
        gw.stop()
        assert sorted(e["requestContext"]["connectionId"] for e in handlers.recorded("disconnect")) == sorted(ids)
        assert {e["requestContext"]["disconnectStatusCode"] for e in handlers.recorded("disconnect")} == {1001}
        for client in clients:
            with pytest.raises(ConnectionClosed):
                client.recv(timeout=5)


def test_client_gone_during_connect_still_gets_one_disconnect(gateway: WebSocketGateway) -> None:
    import base64
    import socket

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as raw:
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall((f"GET /local?token=good&sleep=0.3 HTTP/1.1\r\nHost: {gateway.domain_name}\r\n"
                     f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        wait_until(lambda: handlers.recorded("authorize"))
    wait_until(lambda: handlers.recorded("connect"))
    connection_id = last_connection_id()
    wait_until(lambda: disconnects_of(connection_id))
    time.sleep(0.2)
    assert len(disconnects_of(connection_id)) == 1


def test_a_handshake_abandoned_while_connect_runs_gets_its_disconnect_after_it() -> None:
    """The server's open timeout passes while $connect runs (the machine is slow): $connect still writes what it
    writes, so the connection is paired with a $disconnect once $connect has run, not left behind."""
    handlers.EVENTS.clear()
    gateway = WebSocketGateway(api(), handlers.invoke)
    gateway.open_timeout = 0.5
    with gateway:
        with pytest.raises(Exception):  # noqa: B017, PT011 - the server drops the handshake: no HTTP answer
            connect(f"{gateway.url}?token=good&sleep=1.5", open_timeout=5)
        wait_until(lambda: handlers.recorded("connect"))
        connection_id = last_connection_id()
        assert disconnects_of(connection_id) == []  # not before $connect has run
        wait_until(lambda: disconnects_of(connection_id), timeout=5)
        time.sleep(0.2)
        assert len(disconnects_of(connection_id)) == 1


def test_close_without_a_status_reports_1005(gateway: WebSocketGateway) -> None:
    import base64
    import socket

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as raw:
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall((f"GET /local?token=good HTTP/1.1\r\nHost: {gateway.domain_name}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 101")
        raw.sendall(b"\x88\x80" + os.urandom(4))       # a masked close frame with no status code
        raw.recv(4096)                                    # the server's close frame
    connection_id = last_connection_id()
    wait_until(lambda: disconnects_of(connection_id))
    assert disconnects_of(connection_id)[0]["requestContext"]["disconnectStatusCode"] == 1005


# ---------------------------------------------------------------- browsers and unsigned callers (issue 9, item 9)


def test_a_handshake_from_a_foreign_origin_is_refused(gateway: WebSocketGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.url + "?token=good", origin="https://evil.example")
    assert refused.value.response.status_code == 403
    assert not handlers.recorded("authorize")  # refused before anything runs


def test_a_handshake_from_an_allowed_origin_or_none_is_accepted(gateway: WebSocketGateway) -> None:
    gateway.allowed_origins.add("http://127.0.0.1:4000")
    with connect(gateway.url + "?token=good", origin="http://127.0.0.1:4000") as ws:
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo"}
    with connect(gateway.url + "?token=good") as ws:  # not a browser: no Origin
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo"}


SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/execute-api/aws4_request, "
                           "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64}


@pytest.mark.parametrize("headers, error_type", [
    ({}, "MissingAuthenticationTokenException"),
    ({"Authorization": "Bearer good"}, "IncompleteSignatureException"),
    ({**SIGNED, "Origin": "https://evil.example"}, "ForbiddenException"),
])
def test_plain_http_connections_calls_need_a_sigv4_signature_and_no_browser(gateway: WebSocketGateway,
                                                                            headers: dict, error_type: str) -> None:
    with connect(gateway.url + "?token=good") as ws:
        connection_id = last_connection_id()
        for method, data in (("POST", b"forged"), ("DELETE", None)):
            request = urllib.request.Request(f"http://{gateway.domain_name}/local/@connections/{connection_id}",
                                             data=data, method=method, headers=headers)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            assert refused.value.code == 403 and refused.value.headers["x-amzn-ErrorType"] == error_type
        ws.send(json.dumps({"action": "echo", "still": "open"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo", "still": "open"}  # nothing forged arrived


def test_a_connections_call_with_a_bad_content_length_is_400(gateway: WebSocketGateway) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"POST /local/@connections/x HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                     SIGNED["Authorization"].encode() + b"\r\nContent-Length: abc\r\n\r\nhello")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400 ")
