"""core.http: the Chalice glue every HTTP service shares."""
import json
import threading

from chalice.test import Client

from core.errors import AppError
from core.http import json_body, service_app


def _event(body: dict) -> dict:
    return {"resource": "/echo", "path": "/echo", "httpMethod": "POST", "headers": {"content-type": "application/json"},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": None, "stageVariables": None, "body": json.dumps(body), "isBase64Encoded": False,
            "requestContext": {"resourcePath": "/echo", "httpMethod": "POST", "path": "/local/echo", "stage": "local"}}


def test_concurrent_invocations_of_one_app_each_see_their_own_request():
    app = service_app("probe")
    both_inside = threading.Barrier(2, timeout=5)

    @app.route("/echo", methods=["POST"])
    def echo():
        first = json_body(app)["n"]
        both_inside.wait()  # the other thread has set its request by now
        return {"first": first, "again": json_body(app)["n"]}

    results = {}

    def call(n):
        results[n] = json.loads(app(_event({"n": n}), None)["body"])

    threads = [threading.Thread(target=call, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {1: {"first": 1, "again": 1}, 2: {"first": 2, "again": 2}}


def test_app_errors_become_the_contract_error_body():
    app = service_app("probe")

    @app.route("/nope")
    def nope():
        raise AppError("forbidden", "not yours")

    with Client(app) as client:
        response = client.http.get("/nope")
    assert response.status_code == 403
    assert response.json_body == {"error": {"code": "forbidden", "message": "not yours"}}


def test_a_body_that_is_not_json_is_invalid_request():
    app = service_app("probe")

    @app.route("/echo", methods=["POST"])
    def echo():
        return json_body(app)

    with Client(app) as client:
        response = client.http.post("/echo", body=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_request"
