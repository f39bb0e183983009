"""A second LocalCloud in one process (as in a test run) runs each request once, like the first.

boto3's default session created under the first cloud holds the in-process handlers twice under the next one;
every Invoke ran its function twice and every in-process write was applied twice.
"""
from __future__ import annotations

from pathlib import Path

import boto3

from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "inline_layer" / "plain_cfn.yaml"


def test_each_invoke_and_write_happens_once_in_every_cloud():
    for _ in range(2):
        with LocalCloud(TEMPLATE, static_dir=None) as cloud:
            options = {"endpoint_url": cloud.aws_endpoint, "region_name": "us-east-1", "aws_access_key_id": "t",
                       "aws_secret_access_key": "t"}
            boto3.client("lambda", **options).invoke(FunctionName="notifyx-HelloFunction", Payload=b"{}")
            assert cloud.runtime.stats()["notifyx-HelloFunction"]["invocations"] == 1
            ddb = boto3.client("dynamodb", **options)
            ddb.create_table(TableName="counts", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
            ddb.update_item(TableName="counts", Key={"id": {"S": "a"}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
            assert ddb.get_item(TableName="counts", Key={"id": {"S": "a"}})["Item"]["n"] == {"N": "1"}
