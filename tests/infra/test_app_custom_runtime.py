"""Parity: a custom runtime (fixtures/apps/custom_runtime: `Runtime: provided.al2023`, what Go and Rust functions
use), which the deployer refused. The function's code folder holds an executable `bootstrap`; the local cloud runs it
as Lambda does, with AWS_LAMBDA_RUNTIME_API pointing at the Runtime API its sandbox serves (infra/node_sandbox.py),
and no AWS_EXECUTION_ENV. A bootstrap that is missing or not executable is reported before the deploy.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from http_calls import call

from infra.deploy import Deployer, UnsupportedTemplate
from infra.template import expand

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "custom_runtime" / "template.yaml"


def test_the_bootstrap_answers_invocations_over_the_runtime_api(cloud):
    [http] = cloud.rest_gateway.http_apis
    url = f"http://127.0.0.1:{cloud.rest_gateway.port}{http.base_path}/echo"
    status, body, _ = call(url, method="POST", body=b'{"n": 1}', headers={"Content-Type": "application/json"})
    assert status == 200, body
    assert (body["handler"], body["executionEnv"], body["root"]) == ("echo.handler", None, str(TEMPLATE.parent / "src"))
    assert json.loads(body["echo"]["body"]) == {"n": 1}
    answer = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("Echo"), Payload=b'{"fail": true}')
    error = json.loads(answer["Payload"].read())
    assert (answer["FunctionError"], error["errorType"], error["errorMessage"]) == \
        ("Unhandled", "ValueError", "asked to fail")
    assert cloud.invoke("Echo", {"x": 1})["echo"] == {"x": 1}


def test_a_missing_bootstrap_is_reported(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(TEMPLATE.parent, app)
    (app / "src" / "bootstrap").chmod(0o644)
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(app / "template.yaml"), "http://127.0.0.1:1", embedded=False).deploy()
    assert [(p.logical_id, p.unsupported) for p in refused.value.problems] == [("Echo", "Runtime provided.al2023")]
