"""Parity: a plain CloudFormation function with inline code (Code.ZipFile built with Fn::Sub) runs as index.py."""
from __future__ import annotations

from pathlib import Path

from infra.cloud import LocalCloud

APP = Path(__file__).parent / "fixtures" / "apps" / "inline_layer"


def test_plain_cloudformation_zipfile_with_sub():
    with LocalCloud(APP / "plain_cfn.yaml", static_dir=None, stack_name="hello") as cloud:
        assert cloud.invoke("HelloFunction", {"a": 1}) == {"stack": "hello", "region": "us-east-1", "echo": {"a": 1}}


def test_a_stopped_cloud_leaves_no_inline_code_behind():
    """Inline code is written to a temporary folder for the sandboxes; before 7 December every start left one in
    /tmp (495 of them after a morning of test runs)."""
    with LocalCloud(APP / "plain_cfn.yaml", static_dir=None, stack_name="hello") as cloud:
        [folder] = cloud.stack.scratch
        assert (Path(folder) / "HelloFunction" / "index.py").is_file()
    assert not Path(folder).exists() and cloud.stack.scratch == []
