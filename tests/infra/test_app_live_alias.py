"""Parity: an app published with SAM's AutoPublishAlias (fixtures/apps/live_alias) deploys unmodified and its events
invoke the alias: an AWS::Lambda::Version and an AWS::Lambda::Alias per function, a REST route and an SQS event source
whose function is the alias's ARN, and Invoke with a qualifier (a name:alias, a version, an alias ARN, `Qualifier`)
answers the version that ran. Before, the deployer refused both resource types (nothing of such a template ran),
and moto ignored Invoke's Qualifier (it read "qualifier"): a qualified invoke ran $LATEST and an unknown one was not
refused.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "live_alias" / "template.yaml"


def test_the_alias_and_its_version_are_published_and_events_invoke_them(cloud):
    lam, hello = cloud.client("lambda"), cloud.physical_id("Hello")
    alias_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{hello}:live"
    assert cloud.stack.outputs["HelloAlias"] == alias_arn  # Ref of an alias: its ARN
    [alias] = lam.list_aliases(FunctionName=hello)["Aliases"]
    assert (alias["Name"], alias["FunctionVersion"], alias["AliasArn"]) == ("live", "1", alias_arn)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=hello)["Versions"]] == ["$LATEST", "1"]

    with urllib.request.urlopen(cloud.endpoints["http_api"] + "/hello", timeout=30) as response:
        assert json.loads(response.read()) == {"hello": "world"}  # the route's integration is the alias

    sqs = cloud.client("sqs")
    sent = sqs.send_message(QueueUrl=cloud.physical_id("Jobs"), MessageBody="job-1")["MessageId"]
    table = cloud.physical_id("SeenTable")
    item = wait_for(lambda: cloud.client("dynamodb").get_item(TableName=table, Key={"id": {"S": sent}}).get("Item"))
    assert item["body"]["S"] == "job-1"  # the mapping's function is the alias


@pytest.mark.parametrize("how", ["name:alias", "name:version", "alias ARN", "Qualifier"])
def test_a_qualified_invoke_runs_and_names_the_version_that_ran(cloud, how):
    lam, hello = cloud.client("lambda"), cloud.physical_id("Hello")
    args = {"name:alias": {"FunctionName": f"{hello}:live"}, "name:version": {"FunctionName": f"{hello}:1"},
            "alias ARN": {"FunctionName": cloud.stack.outputs["HelloAlias"]},
            "Qualifier": {"FunctionName": hello, "Qualifier": "live"}}[how]
    answer = lam.invoke(Payload=b"{}", **args)
    assert answer["StatusCode"] == 200 and answer["ExecutedVersion"] == "1"
    assert json.loads(json.loads(answer["Payload"].read())["body"]) == {"hello": "world"}


def test_an_unknown_qualifier_is_refused_and_a_payload_never_chooses_the_version(cloud):
    lam, hello = cloud.client("lambda"), cloud.physical_id("Hello")
    for args in ({"FunctionName": hello, "Qualifier": "nope"}, {"FunctionName": f"{hello}:nope"}):
        with pytest.raises(ClientError) as refused:
            lam.invoke(Payload=b"{}", **args)
        assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    answer = lam.invoke(FunctionName=hello, Payload=json.dumps({"qualifier": "nope"}).encode())
    assert answer["StatusCode"] == 200 and answer["ExecutedVersion"] == "$LATEST"
