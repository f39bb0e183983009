"""Lambda response streaming (fixtures/apps/stream_url), which the deployer refused ("response streaming is not
supported locally"): a function URL in InvokeMode RESPONSE_STREAM sends what a Node.js handler wrapped in
`awslambda.streamifyResponse` writes as it writes it (chunked), the HTTP prelude of `awslambda.HttpResponseStream
.from` as the status, headers and cookies; an error after the first piece cuts the body short, one before it is the
URL's 502; a buffered Invoke of the same function answers the stream's bytes whole; the InvokeWithResponseStream
API (which moto has not) answers an event stream, a PayloadChunk per piece as it is written, then InvokeComplete."""
from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from http_calls import call

from api_gateway.streaming import PRELUDE_TYPE
from infra.node_sandbox import node_binary

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "stream_url" / "template.yaml"

pytestmark = pytest.mark.skipif(node_binary() is None, reason="no node on this machine")


def _get(url: str, path: str = "/", headers: dict | None = None) -> tuple[http.client.HTTPResponse, float]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    started = time.perf_counter()
    connection.request("GET", path, headers=headers or {})
    return connection.getresponse(), started


def test_the_prelude_is_the_head_and_the_body_comes_as_it_is_written(cloud):
    url = cloud.stack.outputs["PagesUrl"]
    _get(url, "/?pause=1")[0].read()  # the cold start, out of the timing below
    response, started = _get(url, "/docs?pause=800", {"Origin": "https://reader.example.com"})
    assert response.status == 201
    assert response.getheader("Transfer-Encoding") == "chunked" and response.getheader("Content-Length") is None
    assert response.getheader("Content-Type") == "text/html"
    assert response.getheader("X-Request-Path") == "/docs"
    assert response.headers.get_all("Set-Cookie") == ["session=abc; Path=/", "theme=dark"]
    assert response.getheader("Access-Control-Allow-Origin") == "https://reader.example.com"
    first = response.read1(65536)
    first_at = time.perf_counter() - started
    rest = response.read()
    done_at = time.perf_counter() - started
    assert first == b"<p>first</p>"  # before the handler's pause: not buffered until the end
    assert done_at - first_at >= 0.7, (first_at, done_at)
    assert first + rest == b"<p>first</p><p>second</p>\x00\x01\x02<p>last</p>"


def test_a_stream_without_a_prelude_keeps_its_content_type(cloud):
    response, _ = _get(cloud.stack.outputs["RawUrl"])
    assert response.status == 200 and response.getheader("Content-Type") == "text/plain"
    assert response.read().decode() == "line 1\nline 2\n" + "🚣\n" * 3


def test_an_error_after_the_first_piece_cuts_the_body_and_one_before_it_is_a_502(cloud):
    response, _ = _get(cloud.stack.outputs["BrokenUrl"])
    assert response.status == 200
    assert response.read1(65536) == b"partial "
    with pytest.raises(http.client.IncompleteRead):  # no last chunk: the client sees the body cut short
        response.read()
    status, body, _ = call(cloud.stack.outputs["RefusedUrl"])
    assert status == 502 and body == {"Message": "Internal Server Error"}
    # the errors are the functions', as Lambda counts them
    stats = cloud.runtime.stats()
    assert stats[cloud.physical_id("Broken")]["errors"] == 1 and stats[cloud.physical_id("Refused")]["errors"] == 1


def test_a_function_that_does_not_stream_sends_its_payload(cloud):
    response, _ = _get(cloud.stack.outputs["BufferedUrl"], "/py")
    assert response.status == 200 and response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read()) == {"statusCode": 200, "body": "buffered", "path": "/py"}


def test_a_buffered_invoke_answers_the_stream_s_bytes_whole(cloud):
    lambda_ = cloud.client("lambda")
    answer = lambda_.invoke(FunctionName=cloud.physical_id("Raw"), Payload=b"{}")
    assert "FunctionError" not in answer
    assert answer["Payload"].read().decode() == "line 1\nline 2\n" + "🚣\n" * 3
    pages = lambda_.invoke(FunctionName=cloud.physical_id("Pages"),
                           Payload=json.dumps({"rawPath": "/x", "queryStringParameters": {"pause": "1"}}))
    prelude, _, body = pages["Payload"].read().partition(b"\x00" * 8)
    assert json.loads(prelude)["statusCode"] == 201 and body.endswith(b"<p>last</p>")
    failed = lambda_.invoke(FunctionName=cloud.physical_id("Refused"), Payload=b"{}")
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "TypeError"
    assert lambda_.get_function_url_config(FunctionName=cloud.physical_id("Raw"))["InvokeMode"] == "RESPONSE_STREAM"


def test_a_client_that_leaves_mid_stream_harms_nobody(cloud):
    url = urlsplit(cloud.stack.outputs["PagesUrl"])
    name = cloud.physical_id("Pages")
    _get(cloud.stack.outputs["PagesUrl"], "/?pause=1")[0].read()  # a warm sandbox
    errors, sandboxes = cloud.runtime.stats()[name]["errors"], cloud.runtime.sandbox_count(name)
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw:
        raw.sendall(b"GET /?pause=300 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.1 201")
    # gone before the end: the function runs on to its end (writes to the gone client are dropped, its sandbox is
    # given back), and the next client is served by that same sandbox
    time.sleep(1.0)
    response, _ = _get(cloud.stack.outputs["PagesUrl"], "/again?pause=1")
    assert response.status == 201 and response.read().endswith(b"<p>last</p>")
    assert cloud.runtime.stats()[name]["errors"] == errors and cloud.runtime.sandbox_count(name) == sandboxes


def test_a_prelude_cannot_split_the_answer_or_carry_a_bogus_status():
    from api_gateway.streaming import _prelude_head

    status, headers = _prelude_head(json.dumps({
        "statusCode": 202, "headers": {"X-Ok": "yes", "X-Bad": "a\r\nSet-Cookie: evil=1", "X\nBad": "b"},
        "cookies": ["fine=1", "evil=1\r\nX-Injected: 1"]}).encode())
    assert status == 202
    assert headers == [("X-Ok", "yes"), ("Content-Type", "application/octet-stream"), ("Set-Cookie", "fine=1")]
    for bogus in ({"statusCode": "200"}, {"statusCode": 99}, {"statusCode": True}, {"headers": ["x"]},
                  {"cookies": "a=1"}, [1], "x"):
        assert _prelude_head(json.dumps(bogus).encode()) is None
    assert _prelude_head(b"\xff not json") is None
    assert _prelude_head(b"") == (200, [("Content-Type", "application/octet-stream")])


def test_invoke_with_response_stream_sends_the_pieces_as_events(cloud):
    lambda_ = cloud.client("lambda")
    answer = lambda_.invoke_with_response_stream(
        FunctionName=cloud.physical_id("Pages"), LogType="Tail",
        Payload=json.dumps({"rawPath": "/api", "queryStringParameters": {"pause": "1"}}))
    assert answer["StatusCode"] == 200 and answer["ResponseStreamContentType"] == PRELUDE_TYPE
    events = list(answer["EventStream"])
    chunks = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    prelude, _, body = chunks.partition(b"\x00" * 8)
    assert json.loads(prelude)["headers"]["X-Request-Path"] == "/api"
    assert body == b"<p>first</p><p>second</p>\x00\x01\x02<p>last</p>"
    assert len([e for e in events if "PayloadChunk" in e]) >= 3  # as written, not one buffer
    complete = events[-1]["InvokeComplete"]
    assert "ErrorCode" not in complete
    log = base64.b64decode(complete["LogResult"]).decode()
    assert f"START RequestId: {answer['ResponseMetadata']['RequestId']}" in log and "streaming" in log

    broken = list(lambda_.invoke_with_response_stream(FunctionName=cloud.physical_id("Broken"))["EventStream"])
    assert broken[0]["PayloadChunk"]["Payload"] == b"partial "
    assert broken[-1]["InvokeComplete"]["ErrorCode"] == "Error"
    assert json.loads(broken[-1]["InvokeComplete"]["ErrorDetails"])["errorMessage"] == "the source went away"

    buffered = lambda_.invoke_with_response_stream(FunctionName=cloud.physical_id("Buffered"),
                                                   Payload=json.dumps({"rawPath": "/b"}))
    assert buffered["ResponseStreamContentType"] == "application/json"
    [chunk, done] = list(buffered["EventStream"])
    assert json.loads(chunk["PayloadChunk"]["Payload"])["path"] == "/b" and done == {"InvokeComplete": {}}

    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        lambda_.invoke_with_response_stream(FunctionName="no-such-function")
    # a Python function's botocore reads it too (its calls cross the sandbox's channel, then HTTP)
    read = cloud.invoke("Reader", {})
    assert "".join(read["pieces"]) == "line 1\nline 2\n" + "🚣\n" * 3 and read["contentType"] == "text/plain"


def test_invoke_with_response_stream_answers_as_the_function_writes(cloud):
    endpoint = urlsplit(cloud.endpoints["aws_endpoint"])
    path = f"/2021-11-15/functions/{cloud.physical_id('Pages')}/response-streaming-invocations"
    body = json.dumps({"rawPath": "/t", "queryStringParameters": {"pause": "800"}}).encode()
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30)
    started = time.perf_counter()
    connection.request("POST", path, body=body)
    response = connection.getresponse()
    assert response.status == 200
    first = b""
    while b"<p>first</p>" not in first:
        piece = response.read1(65536)
        assert piece, first
        first += piece
    first_at = time.perf_counter() - started
    rest = response.read()
    assert time.perf_counter() - started - first_at >= 0.7  # the handler's pause came after the first event
    assert b"<p>last</p>" not in first and b"<p>last</p>" in rest and b"InvokeComplete" in rest


def test_a_stream_cut_by_the_function_s_timeout(cloud):
    response, started = _get(cloud.stack.outputs["SlowUrl"])
    assert response.status == 200 and response.read1(65536) == b"started "
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    assert time.perf_counter() - started < 4  # the timeout (1 s) ended it, not the handler's 5 s pause
    events = list(cloud.client("lambda").invoke_with_response_stream(
        FunctionName=cloud.physical_id("Slow"))["EventStream"])
    assert events[0]["PayloadChunk"]["Payload"] == b"started "
    assert events[-1]["InvokeComplete"]["ErrorCode"] == "Sandbox.Timedout"
    # the timed-out sandboxes were stopped; the next invocation starts a new one and streams again
    response, _ = _get(cloud.stack.outputs["RawUrl"])
    assert response.read().startswith(b"line 1")


def test_a_stream_larger_than_a_buffered_invoke_answers_is_streamed_whole_and_refused_buffered(cloud):
    from infra import node_sandbox, runtime

    response, _ = _get(cloud.stack.outputs["BigUrl"])
    body = response.read()
    assert len(body) == 7 << 20 and body[:1] == b"a" and body[-1:] == b"g"
    answer = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("Big"), Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"
    assert node_sandbox.KEPT_BYTES == runtime.MAX_RESPONSE_BYTES  # what is kept is one byte beyond the limit


def test_invoke_with_response_stream_refuses_what_lambda_refuses(cloud):
    endpoint = urlsplit(cloud.endpoints["aws_endpoint"])
    path = f"/2021-11-15/functions/{cloud.physical_id('Raw')}/response-streaming-invocations"

    def post(body: bytes, headers: dict) -> tuple[int, str | None, bytes]:
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30)
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("x-amzn-errortype"), response.read()

    assert post(b"{not json", {})[:2] == (400, "InvalidRequestContentException")
    assert post(b"{}", {"X-Amz-Invocation-Type": "Event"})[:2] == (400, "InvalidParameterValueException")
    assert post(b"{}", {"X-Amz-Invocation-Type": "DryRun"}) == (204, None, b"")
    status, _, body = post(b"{}", {})
    assert status == 200 and b"PayloadChunk" in body and b"InvokeComplete" in body


def test_invoke_with_response_stream_keeps_a_bounded_part_for_a_slow_reader(monkeypatch):
    import threading

    from infra import response_streams

    monkeypatch.setattr(response_streams, "MAX_KEPT_BYTES", 3000)
    sink, written = response_streams._QueueSink(), []

    def function() -> None:
        for i in range(10):
            sink.write(bytes([i]) * 1000)
            written.append(i)
        sink.end()

    def settles_at(expected: list[int]) -> bool:  # reaches `expected` (on a busy machine too), then goes no further
        deadline = time.monotonic() + 10
        while written != expected and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        return written == expected

    writer = threading.Thread(target=function, daemon=True)
    writer.start()
    assert settles_at([0, 1, 2]) and writer.is_alive()  # the fourth piece waits: the reader has taken none
    assert sink.take() == b"\x00" * 1000
    assert settles_at([0, 1, 2, 3])  # room for one more
    pieces = [sink.take() for _ in range(6)]
    assert [p[:1] for p in pieces] == [bytes([i]) for i in range(1, 7)]
    sink.abandon()  # the reader leaves: the function writes on, its pieces dropped
    writer.join(5)
    assert not writer.is_alive() and written == list(range(10))
    # a piece larger than the bound still goes through when nothing else is kept
    sink = response_streams._QueueSink()
    sink.write(b"x" * 5000)
    assert sink.take() == b"x" * 5000
    sink.end()
    assert sink.take() is response_streams._END


def test_invoke_with_response_stream_left_mid_stream_releases_the_function(cloud):
    name = cloud.physical_id("Big")
    endpoint = urlsplit(cloud.endpoints["aws_endpoint"])
    path = f"/2021-11-15/functions/{name}/response-streaming-invocations"
    cloud.client("lambda").invoke(FunctionName=name, Payload=b"{}")  # a warm sandbox
    errors, sandboxes = cloud.runtime.stats()[name]["errors"], cloud.runtime.sandbox_count(name)
    with socket.create_connection((endpoint.hostname, endpoint.port), timeout=10) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        assert raw.recv(64).startswith(b"HTTP/1.1 200")
    # gone after the first bytes of 7 MB: the function is not held up by what nobody reads (its writes beyond the
    # kept part waited for the reader until the cloud saw it leave); its sandbox serves the next caller
    time.sleep(1.0)
    events = list(cloud.client("lambda").invoke_with_response_stream(FunctionName=name)["EventStream"])
    assert sum(len(e["PayloadChunk"]["Payload"]) for e in events if "PayloadChunk" in e) == 7 << 20
    assert "ErrorCode" not in events[-1]["InvokeComplete"]
    assert cloud.runtime.stats()[name]["errors"] == errors and cloud.runtime.sandbox_count(name) == sandboxes
