"""DynamoDB tables for unit tests, created from template.yaml's own definitions (never restated here).

Usage, inside ``mock_aws``: ``create_tables(monkeypatch, "UsersTable", "TokensTable")`` creates each table as
``notifyx-<LogicalId>`` (the local cloud's physical name) and sets the env vars the template's Globals point at it.
"""
from __future__ import annotations

import functools
from pathlib import Path

import boto3
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !GetAtt, !Sub, ...) as their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


@functools.cache
def template() -> dict:
    """template.yaml, parsed once per test process."""
    return yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)


def physical_name(logical_id: str) -> str:
    """The name the local cloud gives a resource the template does not name."""
    return f"notifyx-{logical_id}"


def table_env_var(logical_id: str) -> str:
    """The Globals environment variable that holds this table's name (``!Ref <logical_id>``)."""
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    for name, value in variables.items():
        if value == {"Ref": logical_id}:
            return name
    raise KeyError(f"no Globals environment variable refers to {logical_id}")


def create_table_args(logical_id: str) -> dict:
    """boto3 ``create_table`` arguments from the template's ``AWS::DynamoDB::Table`` properties."""
    resource = template()["Resources"][logical_id]
    if resource["Type"] != "AWS::DynamoDB::Table":
        raise ValueError(f"{logical_id} is a {resource['Type']}, not a DynamoDB table")
    props = resource["Properties"]
    args = {
        "TableName": physical_name(logical_id),
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("LocalSecondaryIndexes"):
        args["LocalSecondaryIndexes"] = props["LocalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        # CloudFormation implies StreamEnabled; the API wants it said
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return args


def create_tables(monkeypatch, *logical_ids: str) -> dict[str, str]:
    """Create the tables (inside mock_aws) and point their env vars at them; {env var: table name}."""
    dynamodb = boto3.client("dynamodb")
    names = {}
    for logical_id in logical_ids:
        args = create_table_args(logical_id)
        dynamodb.create_table(**args)
        ttl = template()["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=args["TableName"], TimeToLiveSpecification=ttl)
        env_var = table_env_var(logical_id)
        monkeypatch.setenv(env_var, args["TableName"])
        names[env_var] = args["TableName"]
    return names


def parameter_environment() -> dict[str, str]:
    """The environment variables the template sets from a parameter (``!Ref <Parameter>``), in Globals or a
    function's own Environment, at the parameter's default: the tunables (token lifetime, transaction lease, mail
    send timeout, ...)."""
    parameters = template()["Parameters"]
    sections = [template()["Globals"]["Function"]] + [
        resource.get("Properties") or {} for resource in template()["Resources"].values()
        if resource.get("Type") == "AWS::Serverless::Function"]
    found = {}
    for section in sections:
        for name, value in ((section.get("Environment") or {}).get("Variables") or {}).items():
            if isinstance(value, dict) and value.get("Ref") in parameters and "Default" in parameters[value["Ref"]]:
                found[name] = str(parameters[value["Ref"]]["Default"])
    return found
