"""core.http: the Chalice glue every HTTP service shares."""
import json

from chalice.test import Client

from core.errors import AppError
from core.http import json_body, service_app


def _event(body: dict) -> dict:
    return {"resource": "/echo", "path": "/echo", "httpMethod": "POST", "headers": {"content-type": "application/json"},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": None, "stageVariables": None, "body": json.dumps(body), "isBase64Encoded": False,
            "requestContext": {"resourcePath": "/echo", "httpMethod": "POST", "path": "/local/echo", "stage": "local"}}


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
