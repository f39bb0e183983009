"""The REST data plane turns HTTP into API Gateway proxy events (v1) and back, over real sockets."""
from __future__ import annotations

import http.client
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api_gateway.config import RestApiConfig, RestRoute
from api_gateway.rest import RestGateway

FIXTURES = Path(__file__).parent / "fixtures" / "h2"
sys.path.insert(0, str(FIXTURES))
import h2_rest_handlers as handlers  # noqa: E402

pytestmark = pytest.mark.timeout(30)

API = RestApiConfig("rest789", "local", (
    RestRoute("GET", "/things", "inspect"),
    RestRoute("POST", "/things", "created"),
    RestRoute("GET", "/things/{name}", "inspect"),
    RestRoute("GET", "/things/special", "inspect"),
    RestRoute("ANY", "/files/{proxy+}", "inspect"),
    RestRoute("POST", "/upload", "inspect"),
    RestRoute("GET", "/picture", "png"),
    RestRoute("GET", "/crash", "crash"),
    RestRoute("GET", "/malformed", "malformed"),
), binary_media_types=("image/png", "application/octet-stream"))


def request(gateway: RestGateway, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def event_for(gateway: RestGateway, method: str, path: str, **kwargs: Any) -> dict:
    status, _, body = request(gateway, method, path, **kwargs)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("client")
    (root / "index.html").write_text("<h1>index</h1>")
    (root / "dashboard.html").write_text("<h1>dashboard</h1>")
    (root / "app.js").write_text("export const x = 1;")
    (root.parent / "secret.txt").write_text("outside")
    return root


@pytest.fixture(scope="module")
def gateway(static_dir: Path) -> Iterator[RestGateway]:
    with RestGateway([API], handlers.invoke, static_dir=static_dir) as gw:
        yield gw


def test_proxy_event_has_the_v1_shape(gateway: RestGateway) -> None:
    event = event_for(gateway, "GET", "/local/things?tag=a&tag=b&q=x%20y", headers={"X-Trace": "t1"})
    assert event["resource"] == "/things" and event["path"] == "/things" and event["httpMethod"] == "GET"
    assert event["headers"]["X-Trace"] == "t1" and event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["queryStringParameters"] == {"tag": "b", "q": "x y"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "q": ["x y"]}
    assert event["pathParameters"] is None and event["stageVariables"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    rc = event["requestContext"]
    assert rc["resourcePath"] == "/things" and rc["httpMethod"] == "GET" and rc["path"] == "/local/things"
    assert rc["stage"] == "local" and rc["apiId"] == "rest789" and rc["accountId"] == "123456789012"
    assert rc["identity"]["sourceIp"] == "127.0.0.1" and rc["protocol"] == "HTTP/1.1"
    assert rc["requestId"] and rc["requestTimeEpoch"] > 0


def test_path_parameters_and_literal_resources_win(gateway: RestGateway) -> None:
    event = event_for(gateway, "GET", "/local/things/my%20thing")
    assert event["resource"] == "/things/{name}" and event["pathParameters"] == {"name": "my thing"}
    assert event_for(gateway, "GET", "/local/things/special")["resource"] == "/things/special"


def test_greedy_proxy_takes_the_rest_of_the_path_for_any_method(gateway: RestGateway) -> None:
    event = event_for(gateway, "DELETE", "/local/files/a/b/c.txt")
    assert event["resource"] == "/files/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["httpMethod"] == "DELETE"
    status, _, body = request(gateway, "GET", "/local/files")       # greedy needs at least one segment
    assert status == 403


def test_text_body_reaches_the_function_and_status_comes_back(gateway: RestGateway) -> None:
    status, headers, body = request(gateway, "POST", "/local/things", body=b'{"name": "n"}',
                                    headers={"Content-Type": "application/json"})
    assert status == 201 and json.loads(body) == {"name": "n"}
    assert headers["x-amzn-RequestId"]


def test_binary_request_body_is_base64(gateway: RestGateway) -> None:
    import base64

    data = bytes(range(256))
    event = event_for(gateway, "POST", "/local/upload", body=data, headers={"Content-Type": "application/octet-stream"})
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data


def test_binary_response_comes_back_as_bytes(gateway: RestGateway) -> None:
    status, headers, body = request(gateway, "GET", "/local/picture")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body == handlers.PNG and body.startswith(b"\x89PNG")


def test_multi_value_response_headers(gateway: RestGateway) -> None:
    _, headers, _ = request(gateway, "GET", "/local/things")
    assert headers.get_all("X-Seen") == ["one", "two"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/local/nowhere"), ("PUT", "/local/things"),
                                              ("GET", "/local/things/a/b")])
def test_unknown_resource_or_method_is_missing_authentication_token(gateway: RestGateway, method: str,
                                                                    path: str) -> None:
    status, headers, body = request(gateway, method, path)
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("path", ["/local/crash", "/local/malformed"])
def test_function_error_or_malformed_response_is_502(gateway: RestGateway, path: str) -> None:
    status, _, body = request(gateway, "GET", path)
    assert status == 502 and json.loads(body) == {"message": "Internal server error"}


def test_keep_alive_serves_several_requests_on_one_connection(gateway: RestGateway) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/local/things")
            response = conn.getresponse()
            assert response.status == 200 and response.getheader("Connection") != "close"
            response.read()
        assert conn.sock is not None
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "text"), [("/", "<h1>index</h1>"), ("/dashboard", "<h1>dashboard</h1>"),
                                            ("/index", "<h1>index</h1>"), ("/app.js", "export const x = 1;")])
def test_static_client_files(gateway: RestGateway, path: str, text: str) -> None:
    status, headers, body = request(gateway, "GET", path)
    assert status == 200 and body.decode() == text
    if path.endswith(".js"):
        assert headers["Content-Type"] == "text/javascript"


def test_generated_documents_are_served_beside_the_static_files(gateway: RestGateway) -> None:
    gateway.documents["/config.json"] = b'{"http_api": "http://127.0.0.1:1/local"}'
    try:
        status, headers, body = request(gateway, "GET", "/config.json?fresh=1")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"http_api": "http://127.0.0.1:1/local"}
    finally:
        gateway.documents.clear()


@pytest.mark.parametrize("path", ["/missing", "/../secret.txt", "/%2e%2e/secret.txt"])
def test_other_paths_are_404(gateway: RestGateway, path: str) -> None:
    status, _, _ = request(gateway, "GET", path)
    assert status == 404


def _chalice_invoke() -> Any:
    spec = importlib.util.spec_from_file_location("h2_chalice_app", FIXTURES / "h2_chalice_app" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Context:
        function_name = "h2-chalice"
        aws_request_id = "req-1"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 30_000

    return lambda function, event: module.app(event, Context())


def test_a_chalice_app_runs_unchanged_behind_the_gateway() -> None:
    api = RestApiConfig("chalice1", "api", (
        RestRoute("GET", "/hello/{name}", "app"),
        RestRoute("POST", "/items", "app"),
        RestRoute("GET", "/picture", "app"),
    ), binary_media_types=("image/png",))
    with RestGateway([api], _chalice_invoke()) as gw:
        status, _, body = request(gw, "GET", "/api/hello/ada?lang=fr")
        assert status == 200 and json.loads(body) == {"hello": "ada", "lang": "fr"}
        status, _, body = request(gw, "POST", "/api/items", body=b'{"a": 1}',
                                  headers={"Content-Type": "application/json"})
        assert status == 201 and json.loads(body) == {"item": {"a": 1}}
        status, headers, body = request(gw, "GET", "/api/picture", headers={"Accept": "image/png"})
        assert status == 200 and headers["Content-Type"] == "image/png" and body == handlers.PNG
        status, _, _ = request(gw, "GET", "/api/nowhere")
        assert status == 403


def test_integration_timeout_is_504() -> None:
    api = RestApiConfig("rest-slow", "local", (RestRoute("GET", "/slow", "slow"),))
    with RestGateway([api], handlers.invoke, integration_timeout=0.2) as gw:
        status, _, body = request(gw, "GET", "/local/slow")
    assert status == 504 and json.loads(body) == {"message": "Endpoint request timed out"}
