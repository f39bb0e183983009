"""The data planes behind H1's LocalCloud: a fixture template's WebSocket and REST APIs, handlers written for AWS."""
from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from infra import account
from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "h2" / "cloud.yaml"

for _key, _value in account.ENVIRONMENT.items():
    os.environ.setdefault(_key, _value)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    local = LocalCloud(TEMPLATE, static_dir=None, stack_name="h2")
    local.start()
    try:
        yield local
    finally:
        local.stop()


def connection_states(cloud: LocalCloud) -> dict[str, dict]:
    table = boto3.resource("dynamodb", endpoint_url=cloud.aws_endpoint, region_name="us-east-1").Table(
        cloud.physical_id("ConnectionsTable"))
    return {item["connection_id"]: item for item in table.scan()["Items"]}


def wait_for_state(cloud: LocalCloud, connection_id: str, state: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        item = connection_states(cloud).get(connection_id)
        if item is not None and item["state"] == state:
            return item
        time.sleep(0.05)
    raise AssertionError(f"{connection_id} never became {state}")


def ws_url(cloud: LocalCloud) -> str:
    return cloud.endpoints["websocket_api"]


def test_template_websocket_api_authorizes_routes_and_disconnects(cloud: LocalCloud) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(cloud) + "?token=bad")
    assert refused.value.response.status_code == 401
    before = set(connection_states(cloud))
    with connect(ws_url(cloud) + "?token=good") as ws:
        [connection_id] = set(connection_states(cloud)) - before
        assert connection_states(cloud)[connection_id]["user_id"] == "u-7"   # authorizer context in $connect
        ws.send(json.dumps({"action": "anything"}))
        assert json.loads(ws.recv(timeout=10)) == {"done": "anything", "user": "u-7"}
    assert wait_for_state(cloud, connection_id, "closed")["code"] == 1000


@pytest.mark.parametrize(("action", "via"), [("push", "endpoint"), ("push_env", "env")])
def test_handlers_reach_connections_by_documented_endpoint_and_by_aws_endpoint_url(cloud: LocalCloud, action: str,
                                                                                   via: str) -> None:
    with connect(ws_url(cloud) + "?token=good") as ws:
        ws.send(json.dumps({"action": action}))
        frames = {ws.recv(timeout=10) for _ in range(2)}   # the push and the route's reply, in either order
        assert json.dumps({"via": via}).replace(" ", "") in {f.replace(" ", "") for f in frames}


def test_broadcast_from_a_handler_reaches_every_open_connection(cloud: LocalCloud) -> None:
    with connect(ws_url(cloud) + "?token=good") as first, connect(ws_url(cloud) + "?token=good") as second:
        first.send(json.dumps({"action": "broadcast", "text": "to all"}))
        received_first = {first.recv(timeout=10) for _ in range(2)}
        assert "to all" in received_first
        assert second.recv(timeout=10) == "to all"


def test_template_rest_api_serves_proxy_events(cloud: LocalCloud) -> None:
    url = cloud.endpoints["http_api"] + "/things/abc"
    body = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert body == {"resource": "/things/{name}", "pathParameters": {"name": "abc"}, "stage": "test"}
