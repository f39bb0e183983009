"""--aws-endpoint: deploy into another AWS endpoint (LocalStack's role; here a separate moto server process)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "h1" / "basic.yaml"


# a moto server in its own process, on a port it binds itself (0: the kernel's choice) and prints
_MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="module")
def external_endpoint():
    server = subprocess.Popen([sys.executable, "-c", _MOTO_SERVER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = server.stdout.readline().strip()
        assert port.isdigit(), "the moto server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


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
