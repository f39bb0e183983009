"""Parity: the app `sam init` writes (Python "Hello World": REST API, Application Insights set-up) runs unmodified.

A common addition, `Globals.Api.Cors`, deploys too: its preflight (a MOCK integration) is a warning.
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
        # Globals.Api.Cors: SAM's OPTIONS mock is not answered locally, and the deploy says so
        assert [w for w in cloud.stack.warnings if "CORS" in w] == [
            "ServerlessRestApi: CORS preflight requests (OPTIONS, a MOCK integration) are not answered locally: "
            "/hello; browsers calling this API from another origin will fail"]
