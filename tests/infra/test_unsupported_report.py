"""What the local cloud cannot do is reported before anything is created: all of it, as one table, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.deploy import Deployer, UnsupportedTemplate
from infra.template import expand

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).parent / "fixtures" / "h1" / "bad"


def problems(name):
    with pytest.raises(UnsupportedTemplate) as caught:
        Deployer(expand(BAD / name), "http://127.0.0.1:1", embedded=False).deploy()
    return caught.value


def test_every_unsupported_thing_is_one_row_of_one_table():
    error = problems("many_unsupported.yaml")
    rows = {(p.logical_id, p.unsupported) for p in error.problems}
    assert rows == {
        ("ClickApi", "resource type"),
        ("ClickRule", "Targets stream (kinesis)"),
        ("Table", "property KinesisStreamSpecification"),
        ("Bucket", "property WebsiteConfiguration"),
        ("Queue", "intrinsic Fn::ImportValue"),
        ("ImageFunction", "PackageType Image"),
        ("ImageFunction", "Code"),
        ("RubyFunction", "Runtime ruby3.3"),
        ("TokenAuthorizer", "property IdentityValidationExpression"),
        ("Outputs.Shared", "intrinsic Fn::ImportValue"),
    }
    text = str(error)
    assert text.startswith("many_unsupported.yaml: the local cloud cannot run 10 thing(s)")
    assert "resource  " in text and "no website endpoint" in text
    assert "Traceback" not in text


def test_nothing_is_created_when_something_is_unsupported():
    # the endpoint is unreachable: any create call would fail with a connection error instead
    problems("many_unsupported.yaml")


def test_notifyx_up_prints_the_table_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "infra.cli", "up", "--template", str(BAD / "many_unsupported.yaml"),
                             "--aws-port", "0", "--http-port", "0", "--ws-port", "0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("ClickApi") == 1
    assert "AWS::AppSync::GraphQLApi" in result.stderr and "PackageType Image" in result.stderr


def test_conditions_choose_resources_and_values():
    from infra.emulator import Emulator

    emulator = Emulator(0).start()
    try:
        for env, queues in (("dev", {"notifyx-Queue"}), ("prod", {"prod-queue", "notifyx-ProdOnly"})):
            stack = Deployer(expand(BAD.parent / "conditions.yaml"), emulator.endpoint,
                             parameters={"Env": env}).deploy()
            assert {r.physical_id.rsplit("/", 1)[-1] for r in stack.of_type("AWS::SQS::Queue")} == queues
            assert stack.outputs.get("ProdQueue") == ("notifyx-ProdOnly" if env == "prod" else None)
            emulator.stop()
            emulator = Emulator(0).start()
    finally:
        emulator.stop()


def test_console_layout_is_reported_with_thread_sandboxes():
    """fixtures/apps/console_layout: two lambda_function.py modules; one interpreter can import only one of them
    (process sandboxes run it: tests/infra/test_sandboxes.py)."""
    from infra.runtime import LambdaRuntime

    app = Path(__file__).parent / "fixtures" / "apps" / "console_layout" / "template.yaml"
    with pytest.raises(UnsupportedTemplate) as caught:
        Deployer(expand(app), "http://127.0.0.1:1", LambdaRuntime(), embedded=False).deploy()
    assert [(p.logical_id, p.unsupported) for p in caught.value.problems] == [
        ("GoodbyeFunction", "module 'lambda_function' also in HelloFunction")]


def test_a_missing_code_folder_is_a_row_of_the_table(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text("""AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: missing/, Handler: app.handler, Runtime: python3.11}
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: nolayer/}
""")
    with pytest.raises(UnsupportedTemplate) as caught:
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    assert sorted((p.logical_id.rstrip("0123456789abcdef"), p.unsupported) for p in caught.value.problems) == [
        ("Fn", "Code"), ("Layer", "Content")]
    assert f"{tmp_path / 'missing'} is not a folder" in str(caught.value)


def test_a_plain_rest_api_s_methods_and_a_log_pattern_the_local_cloud_cannot_run_are_reported():
    error = problems("rest_resources_unsupported.yaml")
    rows = {(p.logical_id, p.unsupported) for p in error.problems}
    # (a Kinesis path override: S3 path overrides and HTTP integrations without the proxy run since 7 December)
    assert rows == {("ProxyToUpstream", "Integration Type AWS"), ("NoIntegration", "Integration"),
                    ("FilterPattern", "FilterPattern [ip, user, status = 5*]")}


def test_pipes_the_local_cloud_cannot_run_are_reported():
    rows = {(p.logical_id, p.unsupported) for p in problems("pipes_unsupported.yaml").problems}
    # (an InputTemplate is applied since 7 December: not reported)
    assert rows == {("FromKafka", "Source"), ("Reshaped", "Enrichment"), ("Reshaped", "Target"),
                    ("Reshaped", "EnrichmentParameters"), ("Reshaped", "TargetParameters KinesisStreamParameters")}


def test_a_pipe_to_a_log_group_of_the_template_is_reported_before_the_deploy(tmp_path):
    """aws-samples' eventbridge-pipes-sqs-to-cwlog: a Target given as !GetAtt of a log group was only refused
    during the deploy (a DeployError after the queue was made); the check now tells the service by the resource's
    type (before 7 December it read only literal ARNs)."""
    template = tmp_path / "template.yaml"
    template.write_text("""
Resources:
  Inbox: {Type: 'AWS::SQS::Queue'}
  Trail: {Type: 'AWS::Logs::LogGroup'}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: 'sts:AssumeRole',
                                                                   Principal: {Service: pipes.amazonaws.com}}]}
  Pipe:
    Type: AWS::Pipes::Pipe
    Properties: {RoleArn: !GetAtt Role.Arn, Source: !GetAtt Inbox.Arn, Target: !GetAtt Trail.Arn}
""")
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    assert [(p.logical_id, p.unsupported) for p in refused.value.problems] == [("Pipe", "Target")]
    assert "Trail: only functions, SQS queues" in str(refused.value)
