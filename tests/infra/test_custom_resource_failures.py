"""Custom resources that fail fail the deploy (fixtures/apps/seeded_table with its Fail parameter): a FAILED
response, a function that raises, a function that returns without answering. Each names the resource and the
cause; CloudFormation would wait out the ServiceTimeout for the last two and fail the same way. (A module of its own:
each test starts its own cloud, which a module-wide one would forbid.)"""
from __future__ import annotations

from pathlib import Path

import pytest

from infra.cloud import LocalCloud
from infra.deploy import DeployError

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "seeded_table" / "template.yaml"


@pytest.mark.parametrize("fail, message", [
    ("status", r"Lookup \(Custom::Lookup\): Received response status \[FAILED\] from custom resource\. Message "
               r"returned: no palette named palette"),
    ("raise", r"Lookup \(Custom::Lookup\): CloudFormation did not receive a response .*the palette service is down"),
    ("silent", r"Lookup \(Custom::Lookup\): CloudFormation did not receive a response .*returned without PUTting"),
])
def test_a_custom_resource_that_fails_fails_the_deploy(fail, message):
    with pytest.raises(DeployError, match=message):
        LocalCloud(TEMPLATE, static_dir=None, parameters={"Fail": fail}).start()
