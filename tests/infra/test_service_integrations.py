"""api_gateway/service_integrations.py without a cloud: the mapping templates it evaluates and those it refuses,
and $util.escapeJavaScript as API Gateway escapes (Apache Commons' escapeJavaScript)."""
from __future__ import annotations

import json

import pytest

from api_gateway import service_integrations as si
from api_gateway import vtl

SAM = """{"input": "$util.escapeJavaScript($input.json('$'))", "stateMachineArn": "arn:sm"}"""
SAM_UNESCAPED = ("""{"input": "$util.escapeJavaScript($input.json('$')).replaceAll("\\\\'","'")", """
                 """"stateMachineArn": "arn:sm"}""")


def test_escape_javascript():
    assert vtl.escape_javascript("""a"b'c\\d/e\nf\tg\u00e9\U0001F375\x01""") == \
        """a\\"b\\'c\\\\d\\/e\\nf\\tg\\u00E9\\uD83C\\uDF75\\u0001"""


def render(template: str, body: str, **context) -> str:
    return vtl.render(template, body, context=context)


def test_sam_s_templates_are_evaluated():
    assert vtl.problem(SAM) is None and vtl.problem(SAM_UNESCAPED) is None
    assert render(SAM, '{"a": "it\'s"}', requestId="r", stage="prod") == \
        """{"input": "{\\"a\\": \\"it\\'s\\"}", "stateMachineArn": "arn:sm"}"""
    assert render(SAM_UNESCAPED, '{"a": "it\'s"}', requestId="r", stage="prod") == \
        """{"input": "{\\"a\\": \\"it's\\"}", "stateMachineArn": "arn:sm"}"""
    assert render(SAM, "", requestId="r", stage="prod") == """{"input": "{}", "stateMachineArn": "arn:sm"}"""
    assert render('{"id": "$context.requestId", "s": "$context.stage", "b": $input.body}', '{"x": 1}',
                  requestId="r1", stage="prod") == '{"id": "r1", "s": "prod", "b": {"x": 1}}'


def test_velocity_with_api_gateway_s_variables():
    """Before 7 December only the references SAM's templates use were evaluated; any other template was refused."""
    body = '{"user": {"name": "Ada"}, "items": [{"sku": "a1", "n": 2}, {"sku": "b2", "n": 1}], "note": "x&y"}'
    params = {"path": {"id": "42"}, "querystring": {"q": "tea"}, "header": {"X-Trace": "t-1"}}
    template = ('''#set($order = $input.path('$'))'''
                '''{"id": "$input.params('id')", "q": "$input.params('q')", "trace": "$input.params('x-trace')", '''
                '''"name": "$order.user.name", "first": $input.json('$.items[0]'), "skus": ['''
                '''#foreach($item in $order.items)"$item.sku"#if($foreach.hasNext),#end#end], '''
                '''#if($order.items.size() > 1)"many": true, #end'''
                '''"enc": "$util.urlEncode($order.note)", "b64": "$util.base64Encode('hi')", '''
                '''"parsed": "$util.parseJson('{"k": "v"}').k", "ip": "$context.identity.sourceIp", '''
                '''"var": "$stageVariables.table"}''')
    out = vtl.render(template, body, context={"identity": {"sourceIp": "127.0.0.1"}}, params=params,
                     stage_variables={"table": "orders"})
    assert json.loads(out) == {"id": "42", "q": "tea", "trace": "t-1", "name": "Ada", "first": {"sku": "a1", "n": 2},
                               "skus": ["a1", "b2"], "many": True, "enc": "x%26y", "b64": "aGk=", "parsed": "v",
                               "ip": "127.0.0.1", "var": "orders"}


def test_java_string_methods_templates_call():
    """airspeed answers a method it lacks with null, which its #if holds true: `$type.endsWith('X')` was true for
    any $type (found with a DynamoDB error template, 7 December)."""
    template = ("#set($t = ' Order.Failed ')#if($t.endsWith('x'))yes#{else}no#end|$t.trim().toLowerCase()|"
                "$t.trim().equalsIgnoreCase('order.failed')|$t.trim().split('.').size()|$t.isEmpty()")
    assert vtl.render(template, "{}") == "no|order.failed|true|2|false"
    assert vtl.render("[$util.escapeJavaScript($input.path('$.missing'))]", "{}") == "[]"  # null: empty, not None


@pytest.mark.parametrize("template", ["#if($a) never ended", "#foreach($x in) #end", "$input.json('$.a'"])
def test_templates_that_do_not_parse_are_refused(template):
    assert vtl.problem(template) is not None


def test_action_of_an_integration_uri():
    assert si.action_of("arn:aws:apigateway:eu-west-1:states:action/StartExecution") == ("states", "StartExecution")
    assert si.action_of("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/x/invocations") is None
    assert si.function_of("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
                          "arn:aws:lambda:eu-west-1:123456789012:function:f/invocations") == \
        "arn:aws:lambda:eu-west-1:123456789012:function:f"



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
