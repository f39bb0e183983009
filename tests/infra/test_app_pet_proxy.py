"""Parity: REST and HTTP APIs in front of an HTTP backend (fixtures/apps/pet_proxy): HTTP_PROXY integrations in
SAM OpenAPI bodies, a plain CloudFormation REST Method and an AWS::ApiGatewayV2::Integration. Before, the deployer
refused them ("only Lambda proxy integrations ... run locally"): nothing of such an app ran. Now the data plane
passes the request on to the endpoint and its answer back (api_gateway/http_proxy.py).
"""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra.cloud import LocalCloud
from infra.deploy import Deployer, UnsupportedTemplate
from infra.template import expand

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "pet_proxy" / "template.yaml"


class Backend(BaseHTTPRequestHandler):
    """The existing service the APIs front: it answers what it was asked, as JSON, with a header of its own."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.path.startswith("/store/slow"):
            time.sleep(5)  # far past the integrations' timeoutInMillis (1000), so a loaded machine cannot blur them
        if self.path.startswith("/store/moved"):
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"method": self.command, "path": self.path, "body": body,
                              "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(418 if "teapot" in self.path else 201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", "pets-v2")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *_) -> None:
        pass


@pytest.fixture(scope="module")
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cloud(backend):
    parameters = {"BackendUrl": backend, "LegacyUrl": f"http://127.0.0.1:{_closed_port()}"}
    with LocalCloud(TEMPLATE, static_dir=None, parameters=parameters) as running:
        yield running


def call(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """(status, body bytes, headers) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read(), refused.headers


def stage_url(cloud, stage: str, path: str) -> str:
    return cloud.endpoints["http_api"].rsplit("/", 1)[0] + f"/{stage}{path}"


def test_a_greedy_path_is_passed_on_with_its_query_headers_body_and_mapped_parameters(cloud):
    status, body, headers = call(stage_url(cloud, "v1", "/pets/dogs/7?sort=name&sort=age"), method="PUT",
                                 body=b'{"name": "Rex"}',
                                 headers={"Content-Type": "application/json", "X-Caller": "shop", "X-Trace": "t-1"})
    assert (status, headers["X-Backend"]) == (201, "pets-v2")  # the endpoint's own status and headers
    seen = json.loads(body)
    assert seen["method"] == "PUT" and seen["body"] == '{"name": "Rex"}'
    path, _, query = seen["path"].partition("?")
    assert path == "/store/dogs/7"  # {proxy} filled from the greedy path parameter
    assert sorted(query.split("&")) == ["caller=shop", "sort=age", "sort=name", "source=gateway"]
    assert seen["headers"]["x-trace"] == "t-1" and seen["headers"]["x-api-version"] == "2024-01"
    assert seen["headers"]["host"].startswith("127.0.0.1:")  # the endpoint's, not the API's
    status, body, _ = call(stage_url(cloud, "v1", "/pets/teapot"))
    assert status == 418 and json.loads(body)["method"] == "GET"


def test_a_path_parameter_cannot_climb_out_of_the_endpoints_path(cloud):
    status, body, _ = call(stage_url(cloud, "v1", "/pets/..%2F..%2Fhealth%3Fx=1"))
    assert (status, json.loads(body)["path"].split("?")[0]) == (201, "/store/%2E%2E/%2E%2E/health%3Fx%3D1")


def test_redirects_are_passed_back_and_a_slow_endpoint_times_out(cloud):
    status, _, headers = call(stage_url(cloud, "v1", "/pets/moved"))
    assert (status, headers["Location"]) == (302, "/elsewhere")
    started = time.monotonic()
    status, body, _ = call(stage_url(cloud, "v1", "/pets/slow"))
    assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
    assert time.monotonic() - started < 4.5  # timeoutInMillis 1000, not the endpoint's 5 s


def test_an_unreachable_endpoint_is_an_internal_error(cloud):
    status, body, _ = call(stage_url(cloud, "v1", "/gone"))
    assert (status, json.loads(body)) == (500, {"message": "Internal server error"})


def test_a_plain_cloudformation_method_forwards_with_its_integration_method(cloud):
    status, body, _ = call(stage_url(cloud, "legacy", "/orders?id=9"), method="GET")
    seen = json.loads(body)
    assert (status, seen["method"], seen["path"]) == (201, "POST", "/legacy/orders?id=9")
    assert call(stage_url(cloud, "v1", "/health"))[0] == 201


def test_what_does_not_run_locally_is_reported_before_the_deploy(tmp_path):
    text = TEMPLATE.read_text().replace("type: http_proxy\n                httpMethod: GET\n"
                                        "                uri: !Sub \"${BackendUrl}/health\"",
                                        "type: http_proxy\n                httpMethod: GET\n"
                                        "                connectionType: VPC_LINK\n"
                                        "                uri: !Sub \"${BackendUrl}/health\"")
    template = tmp_path / "template.yaml"
    template.write_text(text)
    parameters = {"BackendUrl": "http://127.0.0.1:9"}
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(template, parameters), "http://127.0.0.1:1", embedded=False, parameters=parameters).deploy()
    assert [p.logical_id for p in refused.value.problems] == ["PetsApi"]
    assert "VPC_LINK" in str(refused.value)


def test_http_apis_fill_the_uri_from_the_routes_path_variables_and_map_parameters(cloud):
    status, body, headers = call(stage_url(cloud, "shop", "/catalog/cats/3?color=grey&source=app"), method="POST",
                                 body=b"meow", headers={"X-Trace": "t-2", "X-Secret": "s3cr3t", "X-Shop": "mobile"})
    seen = json.loads(body)
    assert (status, headers["X-Origin"], seen["method"], seen["body"]) == (201, "pets-v2", "POST", "meow")
    # the request parameter mapping: source overwritten, the stage appended to X-Shop, X-Secret removed
    assert (seen["path"], seen["headers"]["x-trace"]) == ("/store/cats/3?color=grey&source=shop", "t-2")
    assert seen["headers"]["x-shop"] == "mobile,shop" and "x-secret" not in seen["headers"]
    status, body, _ = call(stage_url(cloud, "stock", "/items/sku-9?n=1"))
    seen = json.loads(body)
    # overwrite:path with the request's own path, a query parameter from a path variable, the request id as a header
    assert (status, seen["path"]) == (200, "/items/sku-9?n=1&sku=sku-9")  # 201 mapped to 200 (see below)
    assert seen["headers"]["x-request-id"]
    # an HTTP API answers a timed-out integration as it answers a timed-out function
    status, body, _ = call(stage_url(cloud, "shop", "/catalog/slow"))
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})


def test_a_rest_http_integration_sends_only_what_it_maps_and_its_responses_shape_the_answer(cloud):
    """A non-proxy HTTP integration (type http; refused at deploy before 7 December): the endpoint gets the mapped
    path, header and the request template's output, not the client's query string or headers; the answer's
    status selects an integration response, whose template and headers are made from the endpoint's answer."""
    status, body, headers = call(stage_url(cloud, "v1", "/search?kind=books&page=2"), method="POST",
                                 body=b'{"term": "a \\"big\\" one"}',
                                 headers={"Content-Type": "application/json", "X-Trace": "t-9"})
    answer = json.loads(body)
    assert status == 200 and headers["X-Backend-Was"] == "pets-v2"
    assert (answer["path"], answer["api"], answer["trace"]) == ("/store/search/books", "v2", "")
    assert answer["sent"]["q"] == 'a "big" one' and answer["sent"]["by"] == headers["x-amzn-RequestId"]
    status, body, _ = call(stage_url(cloud, "v1", "/search?kind=teapot"), method="POST", body=b'{"term": "x"}',
                           headers={"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (502, {"message": "the catalog refused the search"})


def test_http_apis_map_the_integrations_response_by_its_status_code(cloud):
    """ResponseParameters (before 7 December refused at deploy): by the answer's status code, headers appended,
    overwritten (from the answer's body or headers, or the context) or removed, and the status code overwritten;
    in an OpenAPI body (a map of maps) and an AWS::ApiGatewayV2::Integration (Destination/Source lists)."""
    status, body, headers = call(stage_url(cloud, "shop", "/catalog/cats/3"))
    assert status == 201 and json.loads(body)["method"] == "GET"
    assert (headers["Cache-Control"], headers["X-Seen-Method"], headers["X-Origin"]) == ("max-age=60", "GET",
                                                                                         "pets-v2")
    assert headers["X-Backend"] is None  # removed
    status, body, headers = call(stage_url(cloud, "shop", "/catalog/teapot"))
    assert status == 410 and headers["X-Request"] and headers["X-Seen-Method"] is None  # 418's changes only
    status, body, headers = call(stage_url(cloud, "stock", "/items/sku-1"))
    assert (status, headers["X-Stock"]) == (200, "/items/sku-1?sku=sku-1")
    # API Gateway's own answer (the endpoint timed out) is not the integration's: nothing is mapped
    status, _, headers = call(stage_url(cloud, "shop", "/catalog/slow"))
    assert status == 503 and headers["Cache-Control"] is None


@pytest.mark.parametrize(("mapping", "refused"), [
    ({"200": {"overwrite:statuscode": "204", "append:header.x": "$response.header.y"}}, False),
    ({"404": {"ResponseParameters": [{"Destination": "remove:header.x", "Source": "''"}]}}, False),
    ({"200": {"overwrite:header.x": "$response.body.items[0].id"}}, False),
    ({"ok": {"overwrite:statuscode": "204"}}, True),                    # keys are status codes
    ({"200": {"overwrite:querystring.x": "1"}}, True),                  # a request mapping
    ({"200": {"overwrite:header.x": "$stageVariables.v"}}, True),
])
def test_http_api_response_mappings_the_local_cloud_applies(mapping, refused):
    from api_gateway import http_proxy

    assert (http_proxy.response_mapping_problem(mapping) is not None) is refused


def test_a_websocket_apis_http_proxy_integration_is_still_reported(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text("""
Resources:
  Chat:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: chat, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  Relay:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Chat, IntegrationType: HTTP_PROXY, IntegrationMethod: POST,
                 IntegrationUri: 'https://relay.example.com/'}
""")
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    assert [(p.logical_id, p.unsupported) for p in refused.value.problems] == [("Relay", "IntegrationType HTTP_PROXY")]


@pytest.mark.parametrize(("mapping", "refused"), [
    ({"overwrite:path": "$request.path", "append:header.x": "$context.requestId"}, False),
    ({"remove:querystring.debug": "''", "overwrite:header.x": "static"}, False),
    ({"append:path": "/x"}, True),                       # a path is only overwritten
    ({"overwrite:statuscode": "200"}, True),             # a response mapping
    ({"overwrite:header.x": "$stageVariables.v"}, True),  # stage variables are not passed locally
    ({"overwrite:header.x": "pre-$request.header.y"}, True),  # a value combining text and a reference
    ("overwrite:path", True),
])
def test_http_api_parameter_mappings_the_local_cloud_applies(mapping, refused):
    from api_gateway import http_proxy

    assert (http_proxy.mapping_problem(mapping) is not None) is refused
