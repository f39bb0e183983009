"""The deployer's CloudFormation property tables, checked against the resource schemas cfn-lint ships.

Every property the deployer says it handles or ignores must be a real, writable property of that type (a typo
would silently drop a template's setting); the names read inside nested CloudFormation structures must be the
schema's (CloudFormation and the service APIs differ: SSEEnabled vs Enabled).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from infra.deploy import support, supported_types

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).parent / "fixtures" / "apps"


def schema(type_: str) -> dict:
    return PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", type_).schema


def writable(type_: str) -> set[str]:
    spec = schema(type_)
    read_only = {p.rsplit("/", 1)[-1] for p in spec.get("readOnlyProperties", [])}
    return set(spec["properties"]) - read_only


@pytest.mark.parametrize("type_", supported_types())
def test_every_classified_property_is_a_writable_property_of_the_schema(type_):
    entry = support(type_)
    named = set(entry.handles) | set(entry.ignores) | set(entry.unsupported)
    assert named - writable(type_) == set(), f"{type_}: not properties of its schema"
    assert not set(entry.handles) & set(entry.ignores), f"{type_}: both handled and ignored"


@pytest.mark.parametrize("type_", supported_types())
def test_required_properties_are_handled(type_):
    required = set(schema(type_).get("required", []))
    assert required - set(support(type_).handles) == set(), f"{type_}: a required property is not handled"


def nested(type_: str, *path: str) -> set[str]:
    """Property names of a nested structure, following $refs (and `items` of lists)."""
    spec = schema(type_)
    node = spec["properties"][path[0]]
    for step in (*path[1:], None):
        while "$ref" in node or "items" in node:
            node = spec["definitions"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node["items"]
        if step is None:
            return set(node.get("properties", {}))
        node = node["properties"][step]
    raise AssertionError("unreachable")


def test_nested_names_the_translations_read_are_the_schemas():
    assert {"SSEEnabled", "SSEType", "KMSMasterKeyId"} <= nested("AWS::DynamoDB::Table", "SSESpecification")
    assert "PointInTimeRecoveryEnabled" in nested("AWS::DynamoDB::Table", "PointInTimeRecoverySpecification")
    assert {"StreamViewType"} <= nested("AWS::DynamoDB::Table", "StreamSpecification")
    assert {"AttributeName", "Enabled"} <= nested("AWS::DynamoDB::Table", "TimeToLiveSpecification")
    assert {"AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ExposedHeaders", "Id", "MaxAge"} <= \
        nested("AWS::S3::Bucket", "CorsConfiguration", "CorsRules")
    assert {"Status"} <= nested("AWS::S3::Bucket", "VersioningConfiguration")
    assert {"SecretStringTemplate", "GenerateStringKey", "PasswordLength", "ExcludeCharacters",
            "ExcludePunctuation", "RequireEachIncludedType"} <= nested("AWS::SecretsManager::Secret",
                                                                      "GenerateSecretString")
    assert {"TargetArn"} <= nested("AWS::Lambda::Function", "DeadLetterConfig")
    assert {"Variables"} <= nested("AWS::Lambda::Function", "Environment")
    assert {"OnSuccess", "OnFailure"} <= nested("AWS::Lambda::EventInvokeConfig", "DestinationConfig")
    assert {"Endpoint", "Protocol"} <= nested("AWS::SNS::Topic", "Subscription")
    assert {"AllowOrigins", "AllowMethods", "AllowHeaders", "ExposeHeaders", "MaxAge", "AllowCredentials"} <= \
        nested("AWS::ApiGatewayV2::Api", "CorsConfiguration")


def test_the_support_table_in_the_docs_names_every_type():
    docs = (ROOT / "docs" / "local-cloud.md").read_text()
    missing = [t for t in supported_types() if f"`{t}`" not in docs]
    assert missing == []


def test_the_fixture_apps_are_valid_templates():
    templates = sorted(str(p) for p in APPS.glob("*/*.yaml"))
    # W3002: `Code: ./src` is a local path, which is the point of that fixture (`aws cloudformation package`)
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), *templates, "--ignore-checks", "W3002"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_docs_table_of_properties_is_the_codes():
    docs = (ROOT / "docs" / "local-cloud.md").read_text()
    for type_ in supported_types():
        entry = support(type_)
        unsupported = sorted(writable(type_) - set(entry.handles) - set(entry.ignores))
        row = (f"| `{type_}` | {', '.join(sorted(entry.handles))} | {', '.join(sorted(entry.ignores)) or '-'} | "
               f"{', '.join(unsupported) or '-'} |")
        assert row in docs, f"docs/local-cloud.md: update the row of {type_} to\n{row}"
