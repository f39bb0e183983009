"""Tools made for LocalStack reach the embedded emulator unchanged (it serves on LocalStack's edge port)."""
from __future__ import annotations

import boto3
import pytest
from localstack_client.session import Session

from infra.emulator import Emulator


@pytest.fixture
def emulator(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # localstack-client would prefer it
    running = Emulator(port=0).start()
    yield running
    running.stop()


def test_localstack_client_creates_what_boto3_then_sees(emulator):
    local = Session(localstack_host=f"127.0.0.1:{emulator.port}")
    local.client("sqs").create_queue(QueueName="from-localstack-client")
    direct = boto3.client("sqs", endpoint_url=emulator.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    urls = direct.list_queues()["QueueUrls"]
    assert any(url.endswith("/from-localstack-client") for url in urls)
