"""infra/moto_patches.py: what each patch replaces is still where it was (moto is pinned), and each reverts cleanly."""
from __future__ import annotations

import inspect
import json
import urllib.request
from pathlib import Path

from infra import moto_patches
from infra.cloud import LocalCloud
from infra.runtime import LambdaRuntime

APP = Path(__file__).parent / "fixtures" / "apps" / "inline_layer"


def test_lambda_docker_client_is_a_property_of_moto_docker_model():
    from moto.awslambda.models import LambdaFunction
    from moto.utilities.docker_utilities import DockerModel

    assert issubclass(LambdaFunction, DockerModel)
    assert isinstance(inspect.getattr_static(DockerModel, "docker_client"), property)
    assert "docker_client" not in LambdaFunction.__dict__


def test_update_function_code_stores_the_zip_where_the_patch_reads_it():
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    assert list(inspect.signature(LambdaFunction.update_function_code).parameters) == ["self", "updated_spec"]
    source = inspect.getsource(LambdaFunction._set_function_code)
    assert "self.code_bytes" in source and "self.code_sha_256" in source
    assert "fn.update_function_code(body)" in inspect.getsource(LambdaBackend.update_function_code)


def test_sns_subscription_publish_is_where_lambda_delivery_happens():
    from moto.sns.models import Subscription

    assert list(inspect.signature(Subscription.publish).parameters) == [
        "self", "message", "message_id", "subject", "message_attributes", "group_id", "deduplication_id",
        "message_structure"]
    source = inspect.getsource(Subscription.publish)
    for piece in ('self.protocol == "lambda"', "self._filter_policy_matcher.matches(message_attributes, message)",
                  "self._parse_message_structure(message, self.protocol)"):
        assert piece in source, piece


def test_event_invoke_configs_are_where_async_invoke_reads_them():
    """async_invoke reads a function's event_invoke_config[0].config; lambda-event-invoke-config-* keep that one
    list item, made as moto makes it (EventInvokeConfig(arn, last_modified, config), validated on creation)."""
    from moto.awslambda.models import EventInvokeConfig, LambdaBackend, LambdaFunction

    assert "fn.event_invoke_config.append(event_config)" in inspect.getsource(
        LambdaBackend.put_function_event_invoke_config)
    assert "response = fn.event_invoke_config[0]" in inspect.getsource(LambdaBackend.get_function_event_invoke_config)
    assert "self.event_invoke_config: list[EventInvokeConfig] = []" in inspect.getsource(LambdaFunction.__init__)
    assert list(inspect.signature(EventInvokeConfig.__init__).parameters) == ["self", "arn", "last_modified", "config"]
    init = inspect.getsource(EventInvokeConfig.__init__)
    assert "self.config = config" in init and "self.validate_max()" in init and "self.validate()" in init
    for method in (LambdaBackend.put_function_event_invoke_config, LambdaBackend.update_function_event_invoke_config):
        assert list(inspect.signature(method).parameters) == ["self", "function_name", "config"]


def test_event_invokes_pass_through_the_backends_invoke_with_their_headers():
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.responses import LambdaResponse

    assert list(inspect.signature(LambdaBackend.invoke).parameters) == [
        "self", "function_name", "qualifier", "body", "headers", "response_headers"]
    source = inspect.getsource(LambdaResponse.invoke)
    assert "self.backend.invoke(" in source
    assert 'if self.headers.get("X-Amz-Invocation-Type") == "Event":' in source and "status_code = 202" in source


def test_dynamodb_tables_keep_stream_mappings_where_deploy_detaches_them():
    from moto.dynamodb.models.table import StreamShard, Table

    assert "self.lambda_event_source_mappings: dict[str, Any] = {}" in inspect.getsource(Table.__init__)
    assert "self.table.lambda_event_source_mappings.items()" in inspect.getsource(StreamShard.add)


def test_moto_api_endpoint_is_set_in_init_and_answered_by_to_json():
    from moto.apigatewayv2.models import Api

    assert 'self.api_endpoint = f"https://{self.api_id}.execute-api.{region}.amazonaws.com"' in \
        inspect.getsource(Api.__init__)
    assert '"apiEndpoint": self.api_endpoint' in inspect.getsource(Api.to_json)
    assert "self.protocol_type = protocol_type" in inspect.getsource(Api.__init__)


def test_every_patch_reverts_to_moto_as_installed():
    from moto.apigatewayv2.models import Api
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.sns.models import Subscription

    before = (LambdaFunction.update_function_code, Subscription.publish, dict(LambdaFunction.__dict__).keys(),
              Api.__init__, LambdaBackend.invoke)
    moto_patches.apply_all(LambdaRuntime())
    try:
        assert LambdaFunction.update_function_code is not before[0]
        assert Subscription.publish is not before[1]
        assert "docker_client" in LambdaFunction.__dict__
        assert Api.__init__ is not before[3] and LambdaBackend.invoke is not before[4]
    finally:
        moto_patches.revert_all()
    assert (LambdaFunction.update_function_code, Subscription.publish, dict(LambdaFunction.__dict__).keys(),
            Api.__init__, LambdaBackend.invoke) == before


def test_moto_dashboard_data_answers_with_functions_deployed():
    with LocalCloud(APP / "plain_cfn.yaml", static_dir=None) as cloud:
        with urllib.request.urlopen(cloud.aws_endpoint + "/moto-api/data.json", timeout=30) as response:
            data = json.loads(response.read())
        assert response.status == 200
        assert [f["function_name"] for f in data["awslambda"]["LambdaFunction"]] == ["notifyx-HelloFunction"]


def test_apigateway_urls_are_read_from_url_paths_and_have_no_flush_of_authorizers():
    """The flush patch adds one route to moto's apigateway url_paths (read when its Flask app or mock is made);
    moto serves no FlushStageAuthorizersCache of its own that it would shadow."""
    import moto.apigateway.urls as urls
    from moto.apigateway.responses import APIGatewayResponse
    from moto.core.base_backend import BaseBackend

    assert "self._url_module.url_paths" in inspect.getsource(BaseBackend.url_paths.fget)
    assert not any("cache/authorizers" in path for path in urls.url_paths)
    assert not hasattr(APIGatewayResponse, "flush_stage_authorizers_cache")
    patch = moto_patches.patch("apigateway-flush-authorizers-cache")
    before = urls.url_paths
    patch.apply()
    try:
        assert urls.url_paths[moto_patches.FLUSH_AUTHORIZERS_PATH] is moto_patches._flush_authorizers
        assert set(urls.url_paths) - {moto_patches.FLUSH_AUTHORIZERS_PATH} == set(before)
    finally:
        patch.revert()
    assert urls.url_paths is before


def test_flush_stage_authorizers_cache_answers_through_moto_server():
    """FlushStageAuthorizersCache through the emulator reaches the REST data plane's cache: 202, or 404 for a
    stage the local cloud does not serve."""
    import boto3
    import pytest
    from botocore.exceptions import ClientError

    from api_gateway import rest_authorizers
    from infra.emulator import Emulator

    patch = moto_patches.patch("apigateway-flush-authorizers-cache")
    patch.apply()
    emulator = Emulator(0).start()
    cache = rest_authorizers.AuthorizerCache()
    try:
        cache.put(("api1", "local", "auth", ("Bearer t",)), 60, {"principalId": "u"})
        cache.put(("api1", "other", "auth", ("Bearer t",)), 60, {"principalId": "u"})
        rest_authorizers.register("api1", "local", cache)
        apigw = boto3.client("apigateway", endpoint_url=emulator.endpoint, region_name="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
        apigw.flush_stage_authorizers_cache(restApiId="api1", stageName="local")
        assert len(cache) == 1  # the other stage's entry stays
        with pytest.raises(ClientError) as refused:
            apigw.flush_stage_authorizers_cache(restApiId="api1", stageName="nowhere")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        rest_authorizers.unregister(cache)
        emulator.stop()
        patch.revert()


def test_connections_patches_replace_what_moto_and_botocore_call_and_revert():
    from botocore.httpsession import URLLib3Session
    from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend as backend
    from moto.apigatewaymanagementapi.responses import ApiGatewayManagementApiResponse

    # moto's responses call these backend methods with these arguments; botocore's endpoint calls send(request)
    responses = inspect.getsource(ApiGatewayManagementApiResponse)
    for call in ("post_to_connection(", "get_connection(", "delete_connection("):
        assert call in responses
    assert list(inspect.signature(backend.post_to_connection).parameters) == ["self", "data", "connection_id"]
    assert list(inspect.signature(backend.get_connection).parameters) == ["self", "connection_id"]
    assert list(inspect.signature(backend.delete_connection).parameters) == ["self", "connection_id"]
    assert list(inspect.signature(URLLib3Session.send).parameters) == ["self", "request"]
    before = (backend.post_to_connection, backend.get_connection, backend.delete_connection, URLLib3Session.send)
    moto_patches.apply_connections()
    try:
        assert backend.post_to_connection.__module__ == "api_gateway.connections"
        assert URLLib3Session.send is not before[3]
    finally:
        moto_patches.revert_connections()
    assert (backend.post_to_connection, backend.get_connection, backend.delete_connection,
            URLLib3Session.send) == before


def test_botocore_loads_models_through_the_loader_methods_the_process_shares():
    import botocore.session
    from botocore.loaders import Loader

    for name in ("list_available_services", "determine_latest_version", "load_service_model", "load_data_with_path"):
        assert callable(getattr(Loader, name)), name
    assert "search_paths" in dir(Loader)
    moto_patches.share_botocore_models()
    assert all(p.applied for p in moto_patches.BOTOCORE_PATCHES)
    # two sessions, one parse: the same model object
    first = botocore.session.get_session().get_component("data_loader").load_service_model("sqs", "service-2")
    second = botocore.session.get_session().get_component("data_loader").load_service_model("sqs", "service-2")
    assert first is second and first["metadata"]["serviceId"] == "SQS"
