"""--aws-endpoint: deploy into another AWS endpoint (LocalStack's role; here a separate moto server process)."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from infra.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).parent / "fixtures" / "h1" / "basic.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def external_endpoint():
    port = free_port()
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2).read()  # noqa: S310
                break
            except OSError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_deploys_into_the_given_endpoint_and_runs_handlers_here(external_endpoint):
    with LocalCloud(TEMPLATE, aws_endpoint=external_endpoint, static_dir=None) as cloud:
        assert cloud.emulator is None
        assert cloud.endpoints["aws_endpoint"] == external_endpoint
        ddb = cloud.client("dynamodb")
        assert "notifyx-ItemsTable" in ddb.list_tables()["TableNames"]
        # the handler runs in this process and writes to the external endpoint
        assert cloud.invoke("PutItem", {"id": "external"}) == "external"
        assert ddb.get_item(TableName="notifyx-ItemsTable", Key={"id": {"S": "external"}})["Item"]
        assert cloud.invoke("Red", {})["endpoint"] == external_endpoint
