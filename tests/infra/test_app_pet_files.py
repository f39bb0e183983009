"""Parity: API definitions in files beside the template (fixtures/apps/pet_files). A local DefinitionUri of an Api or
HttpApi failed SAM's transform ("not a valid S3 Uri"), and an AWS::Include of a local Location was passed on
unexpanded; now the file's document is read in place, as the SAM CLI reads a local definition and as CloudFormation
splices an included snippet in.
"""
from __future__ import annotations

from pathlib import Path

from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "pet_files" / "template.yaml"


def test_the_included_and_the_referenced_definitions_are_served(cloud):
    gateway = cloud.rest_gateway
    assert call(f"http://127.0.0.1:{gateway.port}/prod/pets")[:2] == (200, {"path": "/pets"})
    [owners] = [api for api in gateway.http_apis if api.api.api_id == cloud.physical_id("OwnersApi")]
    assert call(f"http://127.0.0.1:{gateway.port}{owners.base_path}/owners")[:2] == (200, {"path": "/owners"})


def test_an_included_snippet_is_spliced_where_it_stands(cloud):
    [stage] = [r for r in cloud.stack.of_type("AWS::ApiGateway::Stage")]
    assert stage.properties["MethodSettings"][0]["ThrottlingRateLimit"] == 1000
