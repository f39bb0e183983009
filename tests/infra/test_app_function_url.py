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
