"""Parity: the app `sam init` writes (Python "Hello World": REST API, Application Insights set-up) runs unmodified.

A common addition, `Globals.Api.Cors`, deploys too: its preflight (an OPTIONS method with a static MOCK integration) is
answered with the configured CORS headers (before 7 December it was not answered, with a warning).
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "sam_hello" / "template.yaml"


def test_hello_world_answers_at_its_prod_stage():
    with LocalCloud(TEMPLATE, static_dir=None) as cloud:
        assert cloud.endpoints["http_api"].endswith("/Prod")
        with urllib.request.urlopen(cloud.endpoints["http_api"] + "/hello", timeout=30) as response:
            assert json.loads(response.read()) == {"message": "hello world"}
        api_id = cloud.physical_id("ServerlessRestApi")
        assert cloud.stack.outputs["HelloWorldApi"] == \
            f"https://{api_id}.execute-api.us-east-1.amazonaws.com/Prod/hello/"
        assert cloud.stack.outputs["HelloWorldFunctionIamRole"].startswith("arn:aws:iam::123456789012:role/")
        # Globals.Api.Cors: SAM's OPTIONS mock answers the preflight with its static headers and body
        preflight = urllib.request.Request(cloud.endpoints["http_api"] + "/hello", method="OPTIONS", headers={
            "Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
        with urllib.request.urlopen(preflight, timeout=30) as response:
            assert response.status == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
            assert response.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
            assert json.loads(response.read()) == {}
        assert [w for w in cloud.stack.warnings if "CORS" in w] == []
        # the API allows any origin: another site's page may call it (without CORS the gateway refuses them)
        request = urllib.request.Request(cloud.endpoints["http_api"] + "/hello",
                                         headers={"Origin": "https://app.example.com"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read()) == {"message": "hello world"}
