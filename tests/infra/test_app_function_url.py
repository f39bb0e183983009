"""Parity: functions behind Lambda function URLs (fixtures/apps/function_url): its own address, payload 2.0; an
AWS_IAM URL refuses a request not SigV4-signed for the lambda service (403 {"Message": "Forbidden"}) and hands the
function the signer's access key (requestContext.authorizer.iam). Before, an AWS_IAM URL served anyone."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from http_calls import call

from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "function_url" / "template.yaml"


def test_the_function_url_answers_at_the_address_its_output_gives():
    with LocalCloud(TEMPLATE, static_dir=None) as cloud:
        url = cloud.stack.outputs["ShortenUrl"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        request = urllib.request.Request(url, data=json.dumps({"url": "https://example.com"}).encode(),
                                         method="POST", headers={"Origin": "https://short.example.com"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            assert response.headers["Access-Control-Allow-Origin"] == "https://short.example.com"
            assert json.loads(response.read()) == {"code": "100680a", "method": "POST", "version": "2.0"}
        config = cloud.client("lambda").get_function_url_config(FunctionName=cloud.physical_id("ShortenFunction"))
        assert config["AuthType"] == "NONE"
        stats = cloud.stack.outputs["StatsUrl"]
        assert call(stats)[:2] == (403, {"Message": "Forbidden"})
        for service, status in (("execute-api", 403), ("lambda", 200)):
            signed = AWSRequest(method="GET", url=stats, headers={})
            SigV4Auth(Credentials("AKIDSTATS", "secret"), service, "us-east-1").add_auth(signed)
            got, body, _ = call(stats, headers=dict(signed.headers.items()))
            assert got == status, (service, body)
        assert body["caller"]["accessKey"] == "AKIDSTATS"


def test_a_function_url_s_port_is_held_from_the_deploy_until_its_server_serves_it():
    """The deploy names each URL's port (GetAtt FunctionUrl) before the cloud serves it: a port only probed then
    could be taken meanwhile by another server of this machine (CI saw "Address already in use" with 4 test workers
    starting clouds at once). The deploy keeps the port's socket open; the cloud's server takes it, and a stack
    never served closes it with its scratch."""
    import socket

    from infra.deploy import Deployer
    from infra.emulator import Emulator
    from infra.runtime import LambdaRuntime
    from infra.template import expand

    def free(port: int) -> bool:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    emulator = Emulator(0).start()
    try:
        stack = Deployer(expand(TEMPLATE), emulator.endpoint, LambdaRuntime()).deploy()
        ports = [url["port"] for url in stack.function_urls]
        assert len(ports) == 2 and not any(free(port) for port in ports)
        stack.remove_scratch()
        assert all(free(port) for port in ports)
    finally:
        emulator.stop()
