"""Parity: a plain CloudFormation function with inline code (Code.ZipFile built with Fn::Sub) runs as index.py."""
from __future__ import annotations

from pathlib import Path

from infra.cloud import LocalCloud

APP = Path(__file__).parent / "fixtures" / "apps" / "inline_layer"


def test_plain_cloudformation_zipfile_with_sub():
    with LocalCloud(APP / "plain_cfn.yaml", static_dir=None, stack_name="hello") as cloud:
        assert cloud.invoke("HelloFunction", {"a": 1}) == {"stack": "hello", "region": "us-east-1", "echo": {"a": 1}}
