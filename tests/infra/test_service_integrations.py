"""api_gateway/service_integrations.py without a cloud: the mapping templates it evaluates and those it refuses,
and $util.escapeJavaScript as API Gateway escapes (Apache Commons' escapeJavaScript)."""
from __future__ import annotations

import pytest

from api_gateway import service_integrations as si

SAM = """{"input": "$util.escapeJavaScript($input.json('$'))", "stateMachineArn": "arn:sm"}"""
SAM_UNESCAPED = ("""{"input": "$util.escapeJavaScript($input.json('$')).replaceAll("\\\\'","'")", """
                 """"stateMachineArn": "arn:sm"}""")


def test_escape_javascript():
    assert si.escape_javascript("""a"b'c\\d/e\nf\tg\u00e9\U0001F375\x01""") == \
        """a\\"b\\'c\\\\d\\/e\\nf\\tg\\u00E9\\uD83C\\uDF75\\u0001"""


def test_sam_s_templates_are_evaluated():
    assert si.unsupported(SAM) is None and si.unsupported(SAM_UNESCAPED) is None
    assert si.render(SAM, '{"a": "it\'s"}', request_id="r", stage="prod") == \
        """{"input": "{\\"a\\": \\"it\\'s\\"}", "stateMachineArn": "arn:sm"}"""
    assert si.render(SAM_UNESCAPED, '{"a": "it\'s"}', request_id="r", stage="prod") == \
        """{"input": "{\\"a\\": \\"it's\\"}", "stateMachineArn": "arn:sm"}"""
    assert si.render(SAM, "", request_id="r", stage="prod") == """{"input": "{}", "stateMachineArn": "arn:sm"}"""
    assert si.render('{"id": "$context.requestId", "s": "$context.stage", "b": $input.body}', '{"x": 1}',
                     request_id="r1", stage="prod") == '{"id": "r1", "s": "prod", "b": {"x": 1}}'


@pytest.mark.parametrize("template", ["#set($a = 1)$a", "$input.path('$.a')", "$util.base64Encode($input.body)",
                                      "${context.requestId}", "$!input.body", "#foreach($x in $input.keys())#end"])
def test_other_templates_are_refused(template):
    assert si.unsupported(template) is not None


def test_action_of_an_integration_uri():
    assert si.action_of("arn:aws:apigateway:eu-west-1:states:action/StartExecution") == ("states", "StartExecution")
    assert si.action_of("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/x/invocations") is None



PREFLIGHT = {"type": "mock", "requestTemplates": {"application/json": '{\n  "statusCode" : 200\n}\n'},
             "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{}\n"},
                                       "responseParameters": {
                                           "method.response.header.Access-Control-Allow-Origin":
                                               "'https://shop.example.com'",
                                           "method.response.header.Access-Control-Allow-Methods": "'GET,OPTIONS'"}}}}


def test_a_static_mock_integration_is_answered_and_a_dynamic_one_is_not():
    assert si.mock_answer(PREFLIGHT) == (200, (("Access-Control-Allow-Origin", "https://shop.example.com"),
                                               ("Access-Control-Allow-Methods", "GET,OPTIONS")), "{}\n")
    dynamic = {**PREFLIGHT, "responses": {"default": {**PREFLIGHT["responses"]["default"],
                                                      "responseTemplates": {"application/json": "$input.body"}}}}
    assert si.mock_answer(dynamic) is None
    mapped = {**PREFLIGHT, "responses": {"default": {"statusCode": "200", "responseParameters": {
        "method.response.header.X-Id": "context.requestId"}}}}
    assert si.mock_answer(mapped) is None  # a mapping, not a literal


def test_only_the_origins_an_api_s_cors_allows_may_call_it():
    from api_gateway.config import RestApiConfig, RestRoute
    from api_gateway.rest import RestGateway

    route = RestRoute("OPTIONS", "/things", "", mock=si.mock_answer(PREFLIGHT))
    gateway = RestGateway([RestApiConfig("api1", "prod", (route,))], lambda name, event: None)
    assert gateway.cors_allows("prod", "https://shop.example.com")
    assert not gateway.cors_allows("prod", "https://evil.example")
    assert not gateway.cors_allows("staging", "https://shop.example.com")
