"""The REST data plane turns HTTP into API Gateway proxy events (v1) and back, over real sockets."""
from __future__ import annotations

import email.utils
import http.client
import importlib.util
import json
import socket
import sys
import threading
import time
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


@pytest.mark.parametrize("path", ["/local/crash", *(f"/local/malformed?shape={shape}" for shape in handlers.MALFORMED)])
def test_function_error_or_malformed_response_is_502(gateway: RestGateway, path: str) -> None:
    """A malformed Lambda proxy response is 502, as API Gateway answers it: until 6 December an object body was sent
    as JSON, a response without statusCode was a 200, other fields were ignored."""
    status, _, body = request(gateway, "GET", path)
    assert status == 502 and json.loads(body) == {"message": "Internal server error"}


@pytest.mark.parametrize(("refusal", "status"), [("throttled", 500), ("missing", 500), ("failed", 502)])
def test_an_invoke_lambda_refused_is_500_and_a_failed_function_502(refusal: str, status: int) -> None:
    """API Gateway answers 500 Internal server error when Lambda refuses the invoke (the function never ran:
    throttled, no such function), and 502 when the function ran and failed."""
    from infra.runtime import FunctionError, ResourceNotFound, Throttled

    def invoke(function: str, event: dict) -> dict:
        raise {"throttled": Throttled("Rate Exceeded."), "missing": ResourceNotFound("Function not found"),
               "failed": FunctionError("ValueError", "bad input")}[refusal]

    api = RestApiConfig("rest-refused", "local", (RestRoute("GET", "/r", "fn"),))
    with RestGateway([api], invoke) as gw:
        answer, headers, body = request(gw, "GET", "/local/r")
    assert answer == status and json.loads(body) == {"message": "Internal server error"}


def test_a_numeric_string_status_and_absent_optional_fields_are_a_response(gateway: RestGateway) -> None:
    status, _, body = request(gateway, "GET", "/local/malformed?shape=numeric-string-status")
    assert (status, body) == (201, b"")


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


def test_a_function_that_times_out_first_runs_without_a_hand_off_and_a_longer_one_still_gets_the_504() -> None:
    threads = {}

    def invoke(function: str, event: dict) -> dict:
        threads[function] = threading.current_thread().name
        if function == "slow":
            time.sleep(1)
        return {"statusCode": 200, "body": function}

    api = RestApiConfig("rest-timeouts", "local", (RestRoute("GET", "/quick", "quick", None, 0.1),
                                                   RestRoute("GET", "/slow", "slow", None, 900.0)))
    with RestGateway([api], invoke, integration_timeout=0.3) as gw:
        status, headers, _ = request(gw, "GET", "/local/quick")
        assert status == 200
        # the Date header is formatted once a second: still the time of the answer
        assert abs(email.utils.parsedate_to_datetime(headers["Date"]).timestamp() - time.time()) < 2
        status, _, body = request(gw, "GET", "/local/slow")
    assert status == 504 and json.loads(body) == {"message": "Endpoint request timed out"}
    assert not threads["quick"].startswith("rest-integration") and threads["slow"].startswith("rest-integration")


# ---------------------------------------------------------------- hostile clients (issue 9)


def raw_exchange(gateway: RestGateway, data: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """What the server answers to raw bytes, read until it closes (or ``timeout``), and how long that took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer, time.monotonic() - started


def test_a_body_over_10_mb_is_413_without_being_read(gateway: RestGateway) -> None:
    answer, took = raw_exchange(gateway, b"POST /local/upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                                         b"Content-Length: 209715200\r\n\r\n" + b"x" * 65536)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower() and took < 3


def test_a_body_of_exactly_10_mb_is_accepted(gateway: RestGateway) -> None:
    body = b"a" * (10 * 1024 * 1024)
    status, _, answer = request(gateway, "POST", "/local/upload", body=body, headers={"Content-Type": "text/plain"})
    assert status == 200 and len(json.loads(answer)["body"]) == len(body)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"\xc2\xb2", b"5, 6"])
def test_a_content_length_that_is_not_a_length_is_400(gateway: RestGateway, length: bytes) -> None:
    answer, took = raw_exchange(gateway, b"POST /local/upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + length
                                + b"\r\n\r\nhello")
    assert answer.startswith(b"HTTP/1.1 400 ") and took < 3


def test_a_body_shorter_than_its_content_length_is_answered_in_bounded_time() -> None:
    with RestGateway([API], handlers.invoke, body_timeout=0.5) as gw:
        answer, took = raw_exchange(gw, b"POST /local/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                                        b"only ten..", timeout=10)
    assert answer.startswith(b"HTTP/1.1 408 ") and took < 3


def test_a_chunked_body_reaches_the_function_whole(gateway: RestGateway) -> None:
    answer, _ = raw_exchange(gateway, b"POST /local/upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                                      b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                      b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body)["body"] == "hello world"


def test_kept_alive_requests_are_not_slower_than_new_connections(gateway: RestGateway) -> None:
    """Headers and body in two writes without TCP_NODELAY cost every kept-alive request a delayed ACK (~40 ms)."""
    rounds = 15

    def timed(conn: http.client.HTTPConnection) -> float:
        started = time.perf_counter()
        conn.request("POST", "/local/things", body=b'{"n": 1}', headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 201
        return time.perf_counter() - started

    kept = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        timed(kept)
        kept_alive = sorted(timed(kept) for _ in range(rounds))
    finally:
        kept.close()
    fresh = []
    for _ in range(rounds):
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        try:
            fresh.append(timed(conn))
        finally:
            conn.close()
    fresh.sort()
    # medians compared in the same run: a ratio, not a wall-clock limit (a new connection also pays the handshake)
    assert kept_alive[rounds // 2] <= 1.5 * fresh[rounds // 2] + 0.002, (kept_alive, fresh)


def test_a_burst_of_200_connects_is_accepted_at_once(gateway: RestGateway) -> None:
    """A listen backlog of 5 drops SYNs in a burst: the client retries after a second."""
    start = threading.Barrier(200)
    took: list[float] = []
    sockets: list[socket.socket] = []
    lock = threading.Lock()

    def one() -> None:
        start.wait()
        began = time.monotonic()
        sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
        with lock:
            took.append(time.monotonic() - began)
            sockets.append(sock)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sock in sockets:
        sock.close()
    assert len(took) == 200 and max(took) < 0.9, sorted(took)[-5:]


def test_stage_throttling_answers_429_over_the_burst_and_refills_at_the_rate() -> None:
    throttled = RestApiConfig("rest789", "local", API.routes, throttle=(20.0, 5))
    with RestGateway([throttled], handlers.invoke) as gw:
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        statuses = []
        for _ in range(8):
            conn.request("POST", "/local/things", body=b"{}")
            response = conn.getresponse()
            statuses.append((response.status, response.read(), response.getheader("x-amzn-ErrorType")))
        conn.close()
        assert [s for s, _, _ in statuses[:5]] == [201] * 5
        assert (429, b'{"message": "Too Many Requests"}', "TooManyRequestsException") in statuses[5:]
        time.sleep(0.3)  # 20 requests/s: ~6 tokens back
        assert request(gw, "POST", "/local/things", body=b"{}")[0] == 201
        assert request(gw, "GET", "/")[0] != 429  # the static client is not the API


def test_a_request_from_another_sites_page_is_refused(gateway: RestGateway) -> None:
    for method, path in (("POST", "/local/things"), ("GET", "/local/things"), ("OPTIONS", "/local/things"),
                         ("GET", "/"), ("GET", "/config.json")):
        for origin in ("https://evil.example", "null", f"http://127.0.0.1:{gateway.port + 1}"):
            status, headers, body = request(gateway, method, path, body=b"{}" if method == "POST" else None,
                                            headers={"Origin": origin})
            assert status == 403 and headers.get("Access-Control-Allow-Origin") is None, (method, path, origin)


def test_the_pages_own_origin_and_non_browsers_are_served(gateway: RestGateway) -> None:
    own = f"http://127.0.0.1:{gateway.port}"
    assert request(gateway, "POST", "/local/things", body=b"{}", headers={"Origin": own})[0] == 201
    assert request(gateway, "GET", "/", headers={"Origin": own})[0] == 200
    assert request(gateway, "POST", "/local/things", body=b"{}")[0] == 201
