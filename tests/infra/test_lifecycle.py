"""LocalCloud lifecycle: stop() forgets everything, a failed start leaves nothing behind, clouds run one at a time."""
from __future__ import annotations

from pathlib import Path

import pytest

from infra.cloud import LocalCloud
from infra.deploy import DeployError

FIXTURES = Path(__file__).parent / "fixtures" / "h1"


def test_a_stopped_cloud_leaves_a_clean_emulator_for_the_next_one():
    with LocalCloud(FIXTURES / "basic.yaml", static_dir=None) as first:
        first.client("dynamodb").create_table(
            TableName="leftover", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
        first.invoke("Count", {})
        assert first.invoke("Count", {})["calls"] >= 2
    with LocalCloud(FIXTURES / "basic.yaml", static_dir=None) as second:
        tables = second.client("dynamodb").list_tables()["TableNames"]
        assert "leftover" not in tables
        assert "notifyx-ItemsTable" in tables
        assert second.invoke("Count", {})["calls"] == 1, "handler modules start cold in a new cloud"


def test_a_failed_start_cleans_up_and_names_the_culprit():
    with pytest.raises(DeployError, match="ClickApi"):
        LocalCloud(FIXTURES / "bad" / "unsupported_resource.yaml", static_dir=None).start()
    # nothing left alive: the next cloud starts
    with LocalCloud(FIXTURES / "basic.yaml", static_dir=None) as cloud:
        assert cloud.invoke("Echo", {})["greeting"] == "hello"


def test_parameters_reach_functions_and_outputs():
    with LocalCloud(FIXTURES / "basic.yaml", static_dir=None, parameters={"Greeting": "salut"}) as cloud:
        assert cloud.invoke("Echo", {})["greeting"] == "salut"
        assert cloud.stack.outputs["SubWithVariables"] == "salut:notifyx-WorkQueue"
