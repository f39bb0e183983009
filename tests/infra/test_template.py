"""template.yaml itself: it lints, expands (SAM), and every resource exists in the emulator after a deploy."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pytest

from api_gateway.config import Authorizer
from infra.cloud import rest_configs, websocket_configs
from infra.deploy import Deployer, DeployError
from infra.emulator import Emulator
from infra.runtime import LambdaRuntime, attach_to_moto
from infra.template import TemplateError, expand

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BAD = Path(__file__).parent / "fixtures" / "h1" / "bad"


def test_template_passes_cfn_lint():
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), str(TEMPLATE)], capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def deployed():
    """The real template deployed into a bare emulator (no data planes): what the resources look like."""
    emulator = Emulator(0).start()
    runtime = LambdaRuntime(emulator.endpoint)
    attach_to_moto(runtime)
    try:
        stack = Deployer(expand(TEMPLATE), emulator.endpoint, runtime).deploy()
        yield emulator, runtime, stack
    finally:
        attach_to_moto(None)
        emulator.stop()


def aws(emulator, service):
    return boto3.client(service, endpoint_url=emulator.endpoint, region_name="us-east-1",
                        aws_access_key_id="t", aws_secret_access_key="t")


def template_resources(type_: str) -> list[str]:
    raw = expand(TEMPLATE).template["Resources"]
    return sorted(lid for lid, res in raw.items() if res["Type"] == type_)


def test_every_table_exists_with_its_indexes_streams_and_ttl(deployed):
    emulator, _, stack = deployed
    ddb = aws(emulator, "dynamodb")
    source = expand(TEMPLATE).template["Resources"]
    names = set(ddb.list_tables()["TableNames"])
    for lid in template_resources("AWS::DynamoDB::Table"):
        props = source[lid]["Properties"]
        table = ddb.describe_table(TableName=stack.resources[lid].physical_id)["Table"]
        assert table["TableName"] in names
        assert table["KeySchema"] == props["KeySchema"]
        want_gsis = sorted(i["IndexName"] for i in props.get("GlobalSecondaryIndexes", []))
        assert sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])) == want_gsis
        if "StreamSpecification" in props:
            assert table["StreamSpecification"]["StreamViewType"] == props["StreamSpecification"]["StreamViewType"]
        ttl = ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
            assert ttl["TimeToLiveStatus"] == "ENABLED"
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_mail_queue_redrives_to_its_dead_letter_queue(deployed):
    emulator, _, stack = deployed
    attrs = aws(emulator, "sqs").get_queue_attributes(QueueUrl=stack.resources["MailQueue"].physical_id,
                                                       AttributeNames=["All"])["Attributes"]
    policy = json.loads(attrs["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == stack.resources["MailDeadLetterQueue"].attributes["Arn"]
    assert policy["maxReceiveCount"] == int(stack.parameters["MailMaxReceiveCount"])
    assert attrs["VisibilityTimeout"] == stack.parameters["MailVisibilityTimeoutSeconds"]


def test_every_function_is_registered_and_known_to_the_emulator(deployed):
    emulator, runtime, stack = deployed
    functions = {f["FunctionName"]: f for f in aws(emulator, "lambda").list_functions()["Functions"]}
    for lid in template_resources("AWS::Lambda::Function"):
        name = stack.resources[lid].physical_id
        assert name == f"notifyx-{lid}"
        spec = runtime.spec(name)
        assert functions[name]["Handler"] == spec.handler
        assert functions[name]["Timeout"] == spec.timeout
        assert spec.code_dir == ROOT / "functions"
    gateway = runtime.spec("notifyx-GatewayActions")
    assert gateway.timeout == 29
    assert gateway.environment["PUBLISH_STATE_MACHINE_ARN"] == stack.resources["PublishStateMachine"].physical_id
    assert gateway.environment["CONNECTIONS_TABLE"] == "notifyx-ConnectionsTable"


def test_publish_state_machine_exists_with_substituted_definition(deployed):
    emulator, _, stack = deployed
    machine = aws(emulator, "stepfunctions").describe_state_machine(
        stateMachineArn=stack.resources["PublishStateMachine"].physical_id)
    assert "${" not in machine["definition"]
    assert stack.resources["TransactionCoordinator"].attributes["Arn"] in machine["definition"]
    json.loads(machine["definition"])


def test_websocket_api_routes_integrations_and_authorizer(deployed):
    emulator, _, stack = deployed
    api_id = stack.resources["WebSocketApi"].physical_id
    v2 = aws(emulator, "apigatewayv2")
    keys = {r["RouteKey"] for r in v2.get_routes(ApiId=api_id)["Items"]}
    raw = expand(TEMPLATE).template["Resources"]
    assert keys == {raw[lid]["Properties"]["RouteKey"] for lid in template_resources("AWS::ApiGatewayV2::Route")}
    [config] = websocket_configs(stack)
    assert config.stage == stack.parameters["Stage"]
    assert config.route_selection_expression == "$request.body.action"
    assert config.routes["$connect"].function == "notifyx-GatewayConnect"
    sources = tuple(raw["ConnectAuthorizer"]["Properties"].get("IdentitySource", []))
    assert config.routes["$connect"].authorizer == Authorizer("notifyx-AuthAuthorizer", sources)
    assert config.routes["$disconnect"].two_way is False
    assert config.routes["subscribe"].two_way is True  # a route response: the function's answer is the reply
    assert config.routes["publish"].two_way is False  # none: the gateway posts a publish's reply itself
    assert config.routes["publish"].function == "notifyx-GatewayActions"


def test_rest_api_routes_and_binary_media_types(deployed):
    _, _, stack = deployed
    [config] = rest_configs(stack)
    assert config.stage == stack.parameters["Stage"]
    assert config.binary_media_types == ("image/png",)
    routes = {(r.method, r.path): r.function for r in config.routes}
    assert routes[("POST", "/users")] == "notifyx-AuthApi"
    assert routes[("GET", "/topics/{name}")] == "notifyx-PersistApi"
    assert routes[("GET", "/avatars/{filename}")] == "notifyx-AvatarApi"


def test_event_sources_and_schedules_are_handed_to_the_pollers(deployed):
    emulator, _, stack = deployed
    [source] = stack.sqs_sources
    assert source["function"] == "notifyx-MailSender"
    assert source["queue_arn"] == stack.resources["MailQueue"].attributes["Arn"]
    assert source["batch_size"] == int(stack.parameters["MailBatchSize"])
    assert source["maximum_concurrency"] == int(stack.parameters["MailMaxConcurrency"])
    assert source["report_batch_item_failures"] is True
    mappings = aws(emulator, "lambda").list_event_source_mappings()["EventSourceMappings"]
    assert [m["EventSourceArn"] for m in mappings] == [source["queue_arn"]]
    [schedule] = stack.schedules
    assert schedule["function"] == "notifyx-TransactionRecovery"
    assert schedule["expression"] == "rate(1 minute)"


def test_mail_sender_identity_is_verified(deployed):
    emulator, _, stack = deployed
    assert stack.parameters["MailFrom"] in aws(emulator, "ses").list_verified_email_addresses()[
        "VerifiedEmailAddresses"]


def test_deploy_does_not_import_handlers(deployed):
    import sys

    assert "gateway.actions" not in sys.modules and "auth.app" not in sys.modules


def test_an_unsupported_resource_type_is_an_error_naming_it():
    with pytest.raises(DeployError, match="ClickApi.*AWS::AppSync::GraphQLApi"):
        Deployer(expand(BAD / "unsupported_resource.yaml"), "http://127.0.0.1:1").deploy()


def test_an_unsupported_intrinsic_is_an_error_naming_the_resource():
    with pytest.raises(DeployError, match="Queue.*Fn::ImportValue"):
        Deployer(expand(BAD / "unsupported_intrinsic.yaml"), "http://127.0.0.1:1", embedded=False).deploy()


def test_parameters_are_validated_against_the_template():
    expanded = expand(TEMPLATE)
    with pytest.raises(TemplateError, match="MailMaxConcurrency=1 is below MinValue 2"):
        Deployer(expanded, "http://127.0.0.1:1", parameters={"MailMaxConcurrency": "1"})
    with pytest.raises(TemplateError, match="unknown parameter"):
        Deployer(expanded, "http://127.0.0.1:1", parameters={"Nope": "1"})
    for cost in ("9", "17", "14.5"):  # scrypt's N = 2**cost: a whole number the auth function's memory affords
        with pytest.raises(TemplateError, match=f"PasswordHashCost={cost} is not one of"):
            Deployer(expanded, "http://127.0.0.1:1", parameters={"PasswordHashCost": cost})
    assert Deployer(expanded, "http://127.0.0.1:1",
                    parameters={"PrepareTimeoutSeconds": "2"}).stack.parameters["PrepareTimeoutSeconds"] == "2"


def test_an_empty_globals_section_is_none_and_a_template_without_resources_is_refused_as_cloudformation_does(
        tmp_path):
    """aws-samples/serverless-patterns' pattern model (and its copies): `Globals:` and `Resources:` left empty, null
    in YAML. Before 7 December both failed with AttributeError."""
    template = tmp_path / "template.yaml"
    template.write_text("Transform: AWS::Serverless-2016-10-31\nGlobals:\n\nResources:\n\nOutputs:\n")
    with pytest.raises(TemplateError, match="At least one Resources member must be defined"):
        expand(template)
    template.write_text("Transform: AWS::Serverless-2016-10-31\nGlobals:\n\nResources:\n"
                        "  Fn:\n    Type: AWS::Serverless::Function\n"
                        "    Properties: {Runtime: python3.11, Handler: app.handler, CodeUri: .}\n")
    assert "Fn" in expand(template).template["Resources"]


def test_parameters_without_a_default_are_all_named_with_how_to_give_them(tmp_path):
    """66 of aws-samples/serverless-patterns' templates need parameters; the refusal named the first only."""
    template = tmp_path / "template.yaml"
    template.write_text("Parameters:\n  VpcId: {Type: String}\n  Subnets: {Type: String}\n  Stage: {Type: String, "
                        "Default: dev}\nResources:\n  Q: {Type: 'AWS::SQS::Queue'}\n")
    with pytest.raises(TemplateError, match=r"parameters VpcId, Subnets have no Default and no value was given: "
                                            r"--param VpcId=VALUE --param Subnets=VALUE"):
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    with pytest.raises(TemplateError, match=r"parameter Subnets has no Default.*--param Subnets=VALUE"):
        Deployer(expand(template, {"VpcId": "vpc-1"}), "http://127.0.0.1:1", embedded=False,
                 parameters={"VpcId": "vpc-1"}).deploy()
