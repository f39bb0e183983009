"""Parity: a nested application (fixtures/apps/nested_shop: SAM's AWS::Serverless::Application with a local
Location, i.e. AWS::CloudFormation::Stack). The child template deploys as a stack of its own with the parameters the
parent passes (a Ref of the parent's table, a literal); its function, SQS event source and HTTP API run in the local
cloud with the parent's; the parent's outputs read the child's (Fn::GetAtt Orders.Outputs.X) and its stack id
(Ref). A child's unsupported part is reported with the parent's, before anything is created. Before, the deployer
refused AWS::CloudFormation::Stack, and with it the template.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from infra.deploy import Deployer, UnsupportedTemplate
from infra.template import expand
from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "nested_shop" / "template.yaml"


def test_the_nested_application_runs_with_its_parent(cloud):
    outputs = cloud.stack.outputs
    assert outputs["OrdersStack"].startswith("arn:aws:cloudformation:us-east-1:123456789012:stack/notifyx-Orders/")
    cloud.client("sqs").send_message(QueueUrl=outputs["OrdersQueueUrl"],
                                     MessageBody=json.dumps({"id": "o-1", "amount": 12}))
    ddb = cloud.client("dynamodb")
    item = wait_for(lambda: ddb.get_item(TableName=outputs["LedgerTable"], Key={"id": {"S": "o-1"}}).get("Item"), 30)
    assert item["amount"]["S"] == "12 EUR"

    [api] = [a for a in cloud.rest_gateway.http_apis if a.api.api_id == outputs["OrdersApi"]]
    with urllib.request.urlopen(f"http://127.0.0.1:{cloud.rest_gateway.port}{api.base_path}/status",
                                timeout=30) as answer:
        status = json.loads(answer.read())
    assert status["currency"] == "EUR"
    assert status["function"] == cloud.stack.resources["Orders/Recorder"].physical_id


def test_a_nested_template_s_problems_are_reported_before_anything_is_created(tmp_path):
    (tmp_path / "child.yaml").write_text(
        "Resources:\n  Graph:\n    Type: AWS::AppSync::GraphQLApi\n"
        "    Properties: {Name: g, AuthenticationType: API_KEY}\n")
    (tmp_path / "parent.yaml").write_text(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
        "  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties: {TemplateURL: ./child.yaml}\n"
        "  Remote:\n    Type: AWS::CloudFormation::Stack\n"
        "    Properties: {TemplateURL: https://s3.amazonaws.com/bucket/child.yaml}\n")
    with pytest.raises(UnsupportedTemplate) as caught:
        Deployer(expand(tmp_path / "parent.yaml"), "http://127.0.0.1:1", embedded=False).deploy()
    rows = {(p.logical_id, p.unsupported) for p in caught.value.problems}
    assert ("Child", "child.yaml: Graph (AWS::AppSync::GraphQLApi) resource type") in rows
    assert ("Remote", "TemplateURL https://s3.amazonaws.com/bucket/child.yaml") in rows
