"""The @connections API reaches the local WebSocket data plane by all three paths, with AWS's shapes and 410."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.sync.client import ClientConnection, connect

from infra import account, moto_patches
from api_gateway import connections
from api_gateway.answers import GoneError
from api_gateway.config import WebSocketApiConfig, WebSocketRoute
from api_gateway.websocket import WebSocketGateway

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "h2"))
import h2_ws_handlers as handlers  # noqa: E402

for _key, _value in account.ENVIRONMENT.items():
    os.environ.setdefault(_key, _value)

pytestmark = pytest.mark.timeout(60)

API = WebSocketApiConfig("api456", "conn-ws", "prod", "$request.body.action", {
    "$connect": WebSocketRoute("$connect", "connect"),
    "$disconnect": WebSocketRoute("$disconnect", "disconnect"),
    "push": WebSocketRoute("push", "push"),
    "echo": WebSocketRoute("echo", "echo", two_way=True),
})


@pytest.fixture
def gateway() -> Iterator[WebSocketGateway]:
    handlers.EVENTS.clear()
    with WebSocketGateway(API, handlers.invoke) as gw:
        connections.install([gw])
        moto_patches.apply_connections()  # as the local cloud does when it serves a WebSocket API
        try:
            yield gw
        finally:
            connections.uninstall()
            moto_patches.revert_connections()


def open_client(gateway: WebSocketGateway) -> tuple[ClientConnection, str]:
    ws = connect(gateway.url)
    return ws, handlers.recorded("connect")[-1]["requestContext"]["connectionId"]


def management_client(endpoint: str) -> object:
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1")


def test_handler_reaches_its_connection_with_the_client_aws_documents(gateway: WebSocketGateway) -> None:
    ws, _ = open_client(gateway)
    with ws:
        ws.send(json.dumps({"action": "push"}))
        assert json.loads(ws.recv(timeout=5)) == {"pushed": True}


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_boto3_post_get_delete_in_process(gateway: WebSocketGateway, scheme: str) -> None:
    client = management_client(f"{scheme}://{gateway.domain_name}/{gateway.stage}")
    ws, connection_id = open_client(gateway)
    with ws:
        client.post_to_connection(ConnectionId=connection_id, Data=b'{"n": 1}')
        client.post_to_connection(ConnectionId=connection_id, Data=b"\xff\x00")
        assert ws.recv(timeout=5) == '{"n": 1}'            # UTF-8 data: a text frame
        assert ws.recv(timeout=5) == b"\xff\x00"           # anything else: binary
        info = client.get_connection(ConnectionId=connection_id)
        assert isinstance(info["ConnectedAt"], datetime) and isinstance(info["LastActiveAt"], datetime)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert "websockets" in info["Identity"]["UserAgent"]
        assert abs(info["ConnectedAt"].timestamp() - time.time()) < 10
        client.delete_connection(ConnectionId=connection_id)
        with pytest.raises(Exception):   # noqa: B017 - closed by the server: any ConnectionClosed
            ws.recv(timeout=5)
    for call in (lambda: client.post_to_connection(ConnectionId=connection_id, Data=b"x"),
                 lambda: client.get_connection(ConnectionId=connection_id),
                 lambda: client.delete_connection(ConnectionId=connection_id)):
        with pytest.raises(ClientError) as gone:
            call()
        assert gone.value.response["Error"]["Code"] == "GoneException"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_boto3_for_unknown_connection_is_gone(gateway: WebSocketGateway) -> None:
    client = management_client(f"https://{gateway.domain_name}/{gateway.stage}")
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="nope1234567890A=", Data=b"x")


def test_post_to_too_large_message_is_413(gateway: WebSocketGateway) -> None:
    client = management_client(f"https://{gateway.domain_name}/{gateway.stage}")
    ws, connection_id = open_client(gateway)
    with ws, pytest.raises(ClientError) as too_large:
        client.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
    assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


# the @connections API takes SigV4 (IAM) auth only: the data plane requires a signature's shape
SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/execute-api/aws4_request, "
                           "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64}


def test_plain_http_on_the_websocket_port(gateway: WebSocketGateway) -> None:
    base = f"http://{gateway.domain_name}/{gateway.stage}/@connections"
    ws, connection_id = open_client(gateway)
    with ws:
        url = f"{base}/{urllib.request.quote(connection_id, safe='')}"
        post = urllib.request.Request(url, data=b"from another process", method="POST", headers=SIGNED)
        assert urllib.request.urlopen(post, timeout=5).status == 200
        assert ws.recv(timeout=5) == "from another process"
        info = json.loads(urllib.request.urlopen(urllib.request.Request(url, headers=SIGNED), timeout=5).read())
        assert set(info) == {"connectedAt", "identity", "lastActiveAt"}
        assert info["identity"]["sourceIp"] == "127.0.0.1"
        delete = urllib.request.Request(url, method="DELETE", headers=SIGNED)
        assert urllib.request.urlopen(delete, timeout=5).status == 204
    for method, data in (("POST", b"x"), ("GET", None), ("DELETE", None)):
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=SIGNED), timeout=5)
        assert gone.value.code == 410
        assert gone.value.headers["x-amzn-ErrorType"] == "GoneException"


def test_the_websocket_port_still_speaks_websocket_after_http_calls(gateway: WebSocketGateway) -> None:
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://{gateway.domain_name}/{gateway.stage}/@connections/x", timeout=5)
    ws, _ = open_client(gateway)
    with ws:
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=5)) == {"action": "echo"}


def test_moto_endpoint_forwards_to_the_gateway(gateway: WebSocketGateway) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = management_client(f"http://{host}:{port}")
        ws, connection_id = open_client(gateway)
        with ws:
            client.post_to_connection(ConnectionId=connection_id, Data=b"via moto")
            assert ws.recv(timeout=5) == "via moto"
            assert client.get_connection(ConnectionId=connection_id)["Identity"]["SourceIp"] == "127.0.0.1"
            client.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ClientError) as gone:
            client.post_to_connection(ConnectionId=connection_id, Data=b"x")
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    finally:
        server.stop()


def test_uninstall_restores_moto_and_stops_intercepting(gateway: WebSocketGateway) -> None:
    from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend

    assert ApiGatewayManagementApiBackend.post_to_connection.__module__ == "api_gateway.connections"
    connections.uninstall()
    moto_patches.revert_connections()
    assert ApiGatewayManagementApiBackend.post_to_connection.__module__ == "moto.apigatewaymanagementapi.models"
    # without interception the request really goes to the socket, which answers 404 for an unknown id
    client = management_client(f"http://{gateway.domain_name}/{gateway.stage}")
    ws, connection_id = open_client(gateway)
    with ws:
        client.post_to_connection(ConnectionId=connection_id, Data=b"over a socket")
        assert ws.recv(timeout=5) == "over a socket"
    connections.install([gateway])
    moto_patches.apply_connections()


def test_fan_out_from_many_threads_keeps_per_connection_order(gateway: WebSocketGateway) -> None:
    import threading

    with contextlib.ExitStack() as stack:
        clients = [open_client(gateway) for _ in range(20)]
        for ws, _ in clients:
            stack.enter_context(ws)

        def send_all(connection_id: str) -> None:
            for n in range(200):
                gateway.post_to_connection(connection_id, str(n).encode())

        threads = [threading.Thread(target=send_all, args=(cid,)) for _, cid in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for ws, _ in clients:
            assert [int(ws.recv(timeout=5)) for _ in range(200)] == list(range(200))


def test_post_after_the_gateway_stopped_is_gone() -> None:
    handlers.EVENTS.clear()
    gateway = WebSocketGateway(API, handlers.invoke)
    gateway.start()
    with connect(gateway.url):
        connection_id = handlers.recorded("connect")[-1]["requestContext"]["connectionId"]
        gateway.post_to_connection(connection_id, b"before")
        gateway.stop()
        with pytest.raises(GoneError):
            gateway.post_to_connection(connection_id, b"after")
        with pytest.raises(GoneError):
            gateway.get_connection(connection_id)


def test_a_client_that_got_its_101_can_be_posted_to_at_once(gateway: WebSocketGateway) -> None:
    for n in range(20):
        with connect(gateway.url) as ws:
            connection_id = handlers.recorded("connect")[-1]["requestContext"]["connectionId"]
            gateway.post_to_connection(connection_id, f"hello {n}".encode())
            assert ws.recv(timeout=5) == f"hello {n}"


def test_a_client_created_before_install_is_answered_in_process(gateway: WebSocketGateway) -> None:
    connections.uninstall()
    early = boto3.Session().client("apigatewaymanagementapi", region_name="us-east-1",
                                   endpoint_url=f"https://{gateway.domain_name}/{gateway.stage}")
    connections.install([gateway])
    ws, connection_id = open_client(gateway)
    with ws:
        early.post_to_connection(ConnectionId=connection_id, Data=b"early client")   # https: no socket could answer
        assert ws.recv(timeout=5) == "early client"


def test_last_active_at_moves_with_client_messages(gateway: WebSocketGateway) -> None:
    ws, connection_id = open_client(gateway)
    with ws:
        first = gateway.get_connection(connection_id)
        time.sleep(0.05)
        ws.send(json.dumps({"action": "echo"}))
        ws.recv(timeout=5)
        later = gateway.get_connection(connection_id)
    assert later["ConnectedAt"] == first["ConnectedAt"]
    assert later["LastActiveAt"] > first["LastActiveAt"]
