"""Parity: custom resources backed by functions (fixtures/apps/seeded_table): AWS::CloudFormation::CustomResource
with inline code and the cfn-response module Lambda provides beside it, and a Custom::Lookup whose function PUTs
its response itself. The function gets CloudFormation's Create request (properties as strings, the stack id, the
resource type) and its response makes the resource: PhysicalResourceId for Ref, Data for Fn::GetAtt. A FAILED
response, a function that fails and one that never answers each fail the deploy, naming the resource and the
cause (tests/infra/test_custom_resource_failures.py). Before, the deployer refused every custom resource.
"""
from __future__ import annotations

from pathlib import Path

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "seeded_table" / "template.yaml"


def test_the_custom_resources_ran_at_deploy_and_their_answers_made_the_resources(cloud):
    outputs = cloud.stack.outputs
    items = cloud.client("dynamodb").scan(TableName=outputs["Table"])["Items"]
    assert sorted(i["id"]["S"] for i in items) == ["blue", "green", "red"]
    assert outputs["Seeded"] == "3" and outputs["SeedId"] == "seed-" + outputs["Table"]
    seed = cloud.stack.resources["Seed"]
    assert seed.attributes["CountIs"] == "str" and seed.attributes["FlagIs"] == "true"  # as CloudFormation sends
    assert (seed.attributes["RequestType"], seed.attributes["Type"]) == \
        ("Create", "AWS::CloudFormation::CustomResource")
    assert seed.attributes["Stack"].startswith(f"arn:aws:cloudformation:{cloud.stack.region}:")
    assert cloud.invoke("Reader", {}) == {"palette": "warm", "lookup": "palette-42"}
    assert cloud.stack.resources["Lookup"].type == "Custom::Lookup"
