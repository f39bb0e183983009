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


def test_a_function_without_codeuri_runs_the_code_of_the_templates_folder(tmp_path):
    """As the SAM CLI builds and packages it (its DEFAULT_CODEURI, "."): aws-samples/serverless-patterns has such
    templates, with a handler in a subfolder whose file name has dashes (before 7 December: "has no CodeUri")."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "start-processing.py").write_text(
        "def lambda_handler(event, context):\n    return {'seen': event['n'] + 1}\n")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Start:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Runtime: python3.11\n"
        "      Handler: src/start-processing.lambda_handler\n")
    with LocalCloud(tmp_path / "template.yaml", static_dir=None) as cloud:
        assert cloud.invoke("Start", {"n": 41}) == {"seen": 42}


def test_an_api_event_path_with_a_trailing_slash_is_its_resource(tmp_path):
    """`Path: /plantest/` (aws-samples/serverless-patterns' apigw-usage-plans): the swagger path SAM writes is the
    resource /plantest, as API Gateway imports it (before 7 December the deploy failed with KeyError '/plantest/')."""
    (tmp_path / "app.py").write_text("def handler(event, context):\n"
                                     "    return {'statusCode': 200, 'body': event['resource']}\n")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Plan:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Runtime: python3.11\n"
        "      Handler: app.handler\n"
        "      CodeUri: .\n"
        "      Events:\n"
        "        Get: {Type: Api, Properties: {Path: /plantest/, Method: get}}\n")
    with LocalCloud(tmp_path / "template.yaml", static_dir=None) as cloud:
        with urllib.request.urlopen(cloud.endpoints["http_api"] + "/plantest", timeout=30) as response:
            assert response.read() == b"/plantest"
