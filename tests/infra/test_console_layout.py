"""Apps laid out as the Lambda console gives them run unmodified with process sandboxes."""
from __future__ import annotations

from pathlib import Path

from infra.cloud import LocalCloud

FIXTURES = Path(__file__).parent / "fixtures"


def test_functions_with_same_named_modules_each_run_their_own():
    """fixtures/apps/console_layout: lambda_function.py in every function folder, as the Lambda console gives."""
    import json

    app = FIXTURES / "apps" / "console_layout" / "template.yaml"
    with LocalCloud(app, static_dir=None, sandboxes="process") as cloud:
        assert json.loads(cloud.invoke("HelloFunction", {})["body"]) == "Hello from Lambda!"
        assert json.loads(cloud.invoke("GoodbyeFunction", {})["body"]) == "Goodbye from Lambda!"
