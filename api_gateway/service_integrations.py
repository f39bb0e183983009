"""REST API integrations of type AWS: a service action of the emulator or a Lambda function, with mapping templates
on the way in and integration responses on the way out (the API Gateway developer guide's "Set up an API
integration request" and "Set up integration responses"), and static MOCK integrations (what SAM writes for a REST
API's `Cors`: the OPTIONS preflight).

- The URI names a service action, `arn:aws:apigateway:{region}:{service}:action/{Action}` (SAM's state machine Api
  events: `states:action/StartExecution`; the direct DynamoDB, SQS, EventBridge... integrations of hand-written APIs),
  of a service that speaks AWS's JSON protocol, or a function, `...:lambda:path/2015-03-31/functions/{arn}/invocations`
  (a non-proxy Lambda integration: the function gets the mapped request as its event, not the proxy event).
- The request mapping template for the request's content type (application/json when it has none) is evaluated
  (Velocity: api_gateway/vtl.py) and its output is the service's request body or the function's event; without
  one the body passes through, unless passthroughBehavior says NEVER (415 Unsupported Media Type), or
  WHEN_NO_TEMPLATES and the integration has templates for other types.
- A MOCK integration answers by itself: its request template's output names the statusCode that selects the
  integration response (200 without one), whose templates see the method request's parameters.
- The answer picks an integration response: for a function, the first whose selectionPattern matches the whole
  errorMessage of a function error; for a service, the one whose pattern matches its HTTP status; otherwise the
  default one (a function's error with no matching pattern takes the default response too, usually a 200, as on
  AWS). Its statusCode is the status, its responseTemplates (by the request's Accept, else application/json) make
  the body from the answer, and its responseParameters set headers from literals, the answer's headers or its
  body. No integration response matching and no default one: 500 Internal server error, as API Gateway answers
  ("No match for output mapping and no default output mapping").
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from api_gateway import vtl
from api_gateway.config import AwsIntegration, IntegrationResponse, ServiceCall

_URI = re.compile(r"arn:aws:apigateway:[a-z0-9-]+:(?P<service>[a-z0-9-]+):action/(?P<action>[A-Za-z0-9]+)")
_PATH = re.compile(r"arn:aws:apigateway:[a-z0-9-]+:(?P<service>[a-z0-9-]+):path/(?P<path>.*)")
#: services whose path overrides run locally (API Gateway's classic SQS integration: path/{account}/{queue} with an
#: Action=SendMessage form), and those spoken to in the query protocol (form posts; SQS still takes it)
PATH_SERVICES = ("sqs", "sns", "s3")
_REQUEST_SOURCE = re.compile(r"'(?P<literal>[^']*)'|method\.request\.(?P<where>header|querystring|path)\.(?P<name>.+)")
_LAMBDA = re.compile(r"arn:aws:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(?P<function>.+)/invocations")
#: API Gateway's service names in an integration URI -> botocore's, where they differ
BOTOCORE_NAMES = {"states": "stepfunctions", "monitoring": "cloudwatch", "email": "ses"}
_PASSTHROUGH = ("WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER")
_HEADER_SOURCE = re.compile(r"'(?P<literal>[^']*)'|integration\.response\.header\.(?P<header>[A-Za-z0-9-_]+)"
                            r"|integration\.response\.body(?P<path>\.[^\s]+)?")


def action_of(uri: str) -> tuple[str, str] | None:
    """(service, action) of an AWS integration's URI ("arn:aws:apigateway:us-east-1:states:action/StartExecution")."""
    match = _URI.fullmatch(uri)
    return (match["service"], match["action"]) if match else None


def path_of(uri: str) -> tuple[str, str] | None:
    """(service, path) of a path override's URI other than a function's ("…:sqs:path/123456789012/orders")."""
    match = _PATH.fullmatch(uri)
    return None if match is None or match["service"] == "lambda" else (match["service"], match["path"])


def function_of(uri: str) -> str | None:
    """The function (name or ARN) of a Lambda integration's URI; None for another URI."""
    match = _LAMBDA.fullmatch(uri)
    return match["function"] if match else None


@functools.cache  # asked for every request of an AWS integration: botocore's session and model took ~19 ms
def protocol(service: str) -> str | None:
    """How the local cloud speaks to a service of an integration URI: "json" (a JSON-protocol service: the mapped
    request is its body), "query" (a form post: SNS, SES, and SQS, which still takes it), None (not at all)."""
    import botocore.session

    if service == "s3":
        return "rest"  # the integration's httpMethod on the path (API Gateway's S3 proxy)
    if service in PATH_SERVICES:
        return "query"
    try:
        model = botocore.session.get_session().get_service_model(BOTOCORE_NAMES.get(service, service))
    except Exception:  # noqa: BLE001 - an unknown service
        return None
    # a service that also speaks JSON (Comprehend, Translate: botocore's first choice is now CBOR), as API Gateway
    # calls it; one the emulator has no backend for is not called at all
    json_protocol = model.protocol == "json" or "json" in (model.metadata.get("protocols") or ())
    if not _emulated(model.endpoint_prefix):
        return None
    # a query-protocol service's action (SES SendEmail): the mapped request is its form, as for SNS
    return "json" if json_protocol else "query" if model.protocol == "query" else None


def _emulated(endpoint_prefix: str) -> bool:
    """Whether moto (the embedded emulator) serves the service of this endpoint prefix."""
    from moto.backend_index import backend_url_patterns

    return any(re.match(pattern, f"https://{endpoint_prefix}.us-east-1.amazonaws.com")
               for _, pattern in backend_url_patterns)


def integration_of(integration: dict[str, Any], function: str = "") -> AwsIntegration | None:
    """The data plane's view of an AWS integration (`function`: the Lambda integration's function, resolved by the
    caller); None for a URI that is neither a service action nor a function."""
    uri = str(integration.get("uri", ""))
    action, path = action_of(uri), path_of(uri)
    kind = str(integration.get("type", "")).lower()
    mock, http = kind == "mock", kind == "http"
    if not (mock or http) and action is None and path is None and function_of(uri) is None:
        return None
    parameters = {str(k): str(v) for k, v in (integration.get("requestParameters") or {}).items()}
    responses = []
    for key, response in (integration.get("responses") or {}).items():
        if not isinstance(response, dict):
            continue
        pattern = response.get("selectionPattern", None if key == "default" else key)
        responses.append(IntegrationResponse(
            pattern=None if pattern in (None, "") and key == "default" else str(pattern or ""),
            status=int(response.get("statusCode", 200)),
            parameters=tuple((name.removeprefix("method.response.header."), str(source))
                             for name, source in (response.get("responseParameters") or {}).items()),
            templates=tuple((media.lower(), str(text)) for media, text in
                            (response.get("responseTemplates") or {}).items())))
    from api_gateway import http_proxy

    return AwsIntegration(
        http=http_proxy.of_integration(integration) if http else None,
        service="mock" if mock else "http" if http else action[0] if action else path[0] if path else "lambda",
        action=action[1] if action else "",
        function=function, path=path[1] if path else "",
        request_headers=tuple((k.removeprefix("integration.request.header."), v) for k, v in parameters.items()
                              if k.startswith("integration.request.header.")),
        request_querystring=tuple((k.removeprefix("integration.request.querystring."), v)
                                  for k, v in parameters.items() if k.startswith("integration.request.querystring.")),
        request_path=tuple((k.removeprefix("integration.request.path."), v) for k, v in parameters.items()
                           if k.startswith("integration.request.path.")),
        method=str(integration.get("httpMethod") or "POST").upper(),
        request_templates=tuple((media.lower(), str(text)) for media, text in
                                (integration.get("requestTemplates") or {}).items()),
        passthrough=str(integration.get("passthroughBehavior", "WHEN_NO_MATCH")).upper(),
        responses=tuple(responses))


def problem(integration: dict[str, Any], uri: str) -> str | None:
    """Why an AWS, MOCK or HTTP (non-proxy) integration cannot run locally (`uri`: its URI with the template's
    references filled); None when it can."""
    kind = str(integration.get("type", "")).lower()
    if kind == "http":
        from api_gateway import http_proxy

        return http_proxy.problem(integration, uri, literal=uri.startswith("http")) or _mapping_problem(integration)
    action, path, function = action_of(uri), path_of(uri), function_of(uri)
    mock = kind == "mock"
    if not mock and action is None and path is None and function is None:
        return (f"{uri}: only service actions (…:{{service}}:action/{{Action}}), SQS and SNS path overrides and "
                "Lambda functions (…:lambda:path/2015-03-31/functions/{arn}/invocations) are AWS integrations locally")
    if action is not None and protocol(action[0]) is None:
        return (f"{action[0]}:action/{action[1]}: only services of AWS's JSON protocol that the local cloud "
                "emulates (DynamoDB, Step Functions, SQS, EventBridge, Kinesis, CloudWatch Logs, Comprehend...) and "
                "of its query protocol (SNS, SES...) are called locally")
    if path is not None and path[0] not in PATH_SERVICES:
        return f"{path[0]}:path/{path[1]}: only SQS, SNS and S3 path overrides are called locally"
    for name, source in (integration.get("requestParameters") or {}).items():
        if function is not None:  # Lambda's Invoke takes one header that matters here: the invocation type
            if name != "integration.request.header.X-Amz-Invocation-Type" or not _REQUEST_SOURCE.fullmatch(str(source)):
                return (f"requestParameters {name} = {source}: a Lambda integration maps only "
                        "integration.request.header.X-Amz-Invocation-Type locally")
            continue
        places = ("integration.request.header.", "integration.request.querystring.") + \
            (("integration.request.path.",) if path is not None and path[0] == "s3" else ())
        if mock or not str(name).startswith(places) or not _REQUEST_SOURCE.fullmatch(str(source)):
            return (f"requestParameters {name} = {source}: only an AWS service integration's headers and query "
                    "strings (and an S3 path override's path), from a 'literal' or method.request.header|querystring|"
                    "path, are mapped locally")
    return _mapping_problem(integration)


def _mapping_problem(integration: dict[str, Any]) -> str | None:
    """Why a non-proxy integration's passthrough, templates or integration responses cannot be applied locally."""
    if str(integration.get("passthroughBehavior", "WHEN_NO_MATCH")).upper() not in _PASSTHROUGH:
        return f"passthroughBehavior {integration.get('passthroughBehavior')!r} is not one API Gateway has"
    if str(integration.get("contentHandling", "")).upper() in ("CONVERT_TO_BINARY", "CONVERT_TO_TEXT"):
        return "contentHandling is not applied locally"
    templates = list((integration.get("requestTemplates") or {}).items())
    for key, response in (integration.get("responses") or {}).items():
        if not isinstance(response, dict):
            continue
        templates += list((response.get("responseTemplates") or {}).items())
        for name, source in (response.get("responseParameters") or {}).items():
            if not name.startswith("method.response.header.") or not _HEADER_SOURCE.fullmatch(str(source)):
                return (f"response {key}: {name} = {source}: only headers from a 'literal', "
                        "integration.response.header.X or integration.response.body are mapped locally")
        pattern = response.get("selectionPattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                return f"response {key}: selectionPattern {pattern!r}: {exc}"
    for media, template in templates:
        reason = vtl.problem(str(template))
        if reason:
            return f"{reason} ({media})"
    return None


def query_answer_as_json(xml: bytes) -> bytes:
    """A query-protocol service's XML answer as the JSON those services give a client that accepts JSON (what API
    Gateway passes on): each element an object of its children, a leaf its text, repeated elements a list; the
    namespace dropped ({"SendMessageResponse": {"SendMessageResult": {"MessageId": ...}, "ResponseMetadata":
    {"RequestId": ...}}}; an error: {"ErrorResponse": {"Error": {"Type", "Code", "Message"}, "RequestId"}}).
    Members the answer leaves out stay out (AWS writes them as null). Anything that is not XML comes back as it
    is."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return xml

    def name(element: Any) -> str:
        return element.tag.rsplit("}", 1)[-1]

    def value(element: Any) -> Any:
        children = list(element)
        if not children:
            return element.text
        out: dict[str, Any] = {}
        for child in children:
            key, item = name(child), value(child)
            if key in out:
                out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [item]
            else:
                out[key] = item
        return out

    return json.dumps({name(root): value(root)}).encode()


def request_parameters(mapping: tuple[tuple[str, str], ...],
                       params: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """requestParameters' headers or query strings, from literals and the method request's parameters (a
    parameter the request lacks is left out)."""
    out = []
    for name, source in mapping:
        match = _REQUEST_SOURCE.fullmatch(source)
        if match is None:
            continue
        if match["literal"] is not None:
            out.append((name, match["literal"]))
            continue
        found = params.get(match["where"], {})
        if match["where"] == "header":
            value = next((v for k, v in found.items() if k.lower() == match["name"].lower()), None)
        else:
            value = found.get(match["name"])
        if value is not None:
            out.append((name, value))
    return out


def request_payload(aws: AwsIntegration, media: str, body: str, **variables: Any) -> str | None:
    """What the integration sends: the request template for the body's content type evaluated, or the body passed
    through; None when the passthrough behavior refuses the content type (415)."""
    template = template_for(aws, media)
    if template is None:
        if aws.passthrough == "NEVER" or (aws.passthrough == "WHEN_NO_TEMPLATES" and aws.request_templates):
            return None
        return body
    return vtl.render(template, body, **variables)


def template_for(aws: AwsIntegration, media: str) -> str | None:
    """The request template for a content type (application/json when the request has none); None: passthrough."""
    return dict(aws.request_templates).get(media or "application/json")


def service_answer(aws: AwsIntegration, payload: str | bytes, params: dict[str, dict[str, str]],
                   aws_action: Callable[[ServiceCall], tuple[int, bytes]]) -> tuple[str, str, bytes]:
    """A service action's or path override's answer to the mapped request (`payload`: text, or an S3 object's bytes
    passed through) as text, its HTTP status, which selects the integration response, and the answer as it came
    (bytes; a ServiceAnswer's `headers` are the answer's)."""
    path = aws.path
    for name, value in request_parameters(aws.request_path, params):  # an S3 path override's {bucket}, {object}
        path = path.replace("{" + name + "}", quote(value, safe=""))
    answer = aws_action(ServiceCall(
        aws.service, aws.action, path, headers=tuple(request_parameters(aws.request_headers, params)),
        querystring=tuple(request_parameters(aws.request_querystring, params)),
        body=payload if isinstance(payload, bytes) else payload.encode(), method=aws.method))
    status, raw = answer
    return raw.decode("utf-8", "replace"), str(status), raw


class NoAnswer(Exception):
    """An integration gave nothing an integration response could be selected for: API Gateway's 500."""


def integration_answer(aws: AwsIntegration, payload: str, params: dict[str, dict[str, str]],
                       invoke: Callable[[str, Any], Any],
                       aws_action: Callable[[ServiceCall], tuple[int, bytes]] | None,
                       raw_body: bytes | None = None) -> tuple[str, str | None, bytes]:
    """The answer of a MOCK, a function without the proxy event (invoked synchronously) or a service to the mapped
    request `payload`: its text, the selector of its integration response (a MOCK's status, a function error's
    errorMessage, a service's HTTP status; None for a function's result) and its bytes as they came (a service's: a
    ServiceAnswer, with its headers). `raw_body`: the request's bytes, which an S3 path override gets where no
    template mapped them. Raises NoAnswer; a TimeoutError of `invoke` goes up. REST's and WebSocket APIs' AWS and
    MOCK integrations share it."""
    if aws.service == "mock":  # the request template names the status that selects the response
        selector = mock_selector(payload)
        if selector is None:
            raise NoAnswer("the MOCK request template's output is not JSON")
        return "", selector, b""
    if aws.service == "lambda":
        try:
            event = json.loads(payload)
        except ValueError:  # Lambda refuses a payload that is not JSON (InvalidRequestContentException)
            raise NoAnswer("the function's payload is not JSON") from None
        try:
            return json.dumps(invoke(aws.function, event)), None, b""
        except TimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001 - a function error is selected by its errorMessage
            if not hasattr(exc, "payload"):
                raise NoAnswer(f"function {aws.function} failed: {exc}") from exc
            return json.dumps(exc.payload()), str(getattr(exc, "error_message", exc)), b""
    if aws_action is None:
        raise NoAnswer("no emulator to call")
    sent: str | bytes = raw_body if aws.service == "s3" and raw_body is not None else payload
    return service_answer(aws, sent, params, aws_action)


def mock_selector(payload: str) -> str | None:
    """The status a MOCK integration's request template names (200 without one); None when it is not JSON."""
    try:
        return str(json.loads(payload or "{}").get("statusCode", 200))
    except (ValueError, AttributeError, RecursionError):
        return None


def chosen_response(aws: AwsIntegration, selector: str | None) -> IntegrationResponse | None:
    """The integration response for this answer: the first non-default one whose pattern matches `selector` (the
    error message of a function error, a service's HTTP status) whole, else the default one."""
    if selector is not None:
        for response in aws.responses:
            if response.pattern is not None and re.fullmatch(response.pattern, selector, re.DOTALL):
                return response
    return next((r for r in aws.responses if r.pattern is None or r.pattern == ""), None)


def response_of(response: IntegrationResponse, answer: str, answer_headers: dict[str, str], accept: str,
                **variables: Any) -> tuple[int, list[tuple[str, str]], str]:
    """The method response: the integration response's status, its mapped headers and the body its template makes
    of the answer (the answer itself without one)."""
    templates = dict(response.templates)
    media = next((m for m in (a.split(";")[0].strip().lower() for a in accept.split(",")) if m in templates),
                 "application/json" if "application/json" in templates else next(iter(templates), None))
    body = answer if media is None else vtl.render(templates[media], answer, **variables)
    headers = [("Content-Type", media or "application/json")]
    document = vtl.Input(answer)
    lowered = {k.lower(): v for k, v in answer_headers.items()}
    for name, source in response.parameters:
        match = _HEADER_SOURCE.fullmatch(source)
        if match is None:
            continue
        if match["literal"] is not None:
            value = match["literal"]
        elif match["header"]:
            value = lowered.get(match["header"].lower(), "")
        elif match["path"]:
            found = document.path("$" + match["path"])
            value = found if isinstance(found, str) else "" if found is None else json.dumps(found)
        else:
            value = answer
        headers = [(k, v) for k, v in headers if k.lower() != name.lower()] + [(name, value)]
    return response.status, headers, body


# --------------------------------------------------------------------------- MOCK integrations
_DIRECTIVE = re.compile(r"#(set|if|elseif|else|end|foreach|macro|define|parse|include|evaluate|stop|break)\b"
                        r"|\$[!{A-Za-z]")
_LITERAL = re.compile(r"'(?P<value>[^']*)'")


def mock_answer(integration: dict) -> tuple[int, tuple[tuple[str, str], ...], str] | None:
    """A MOCK integration's answer when it is static (SAM's CORS preflights are): the status its request template
    names (200 without one), and that integration response's literal headers and JSON template as the body; None
    when anything in it would need Velocity or the request."""
    template = (integration.get("requestTemplates") or {}).get("application/json", '{"statusCode": 200}')
    if _DIRECTIVE.search(template):
        return None
    try:
        status = str(json.loads(template).get("statusCode", 200))
    except (ValueError, AttributeError, RecursionError):
        return None
    responses = integration.get("responses") or {}
    chosen = next((r for key, r in responses.items() if key != "default" and isinstance(r, dict)
                   and re.fullmatch(str(r.get("selectionPattern", key)), status)), responses.get("default"))
    if not isinstance(chosen, dict):
        return None
    headers = []
    for name, value in (chosen.get("responseParameters") or {}).items():
        literal = _LITERAL.fullmatch(str(value))
        if not name.startswith("method.response.header.") or literal is None:
            return None
        headers.append((name.removeprefix("method.response.header."), literal["value"]))
    body = (chosen.get("responseTemplates") or {}).get("application/json", "")
    if _DIRECTIVE.search(body):
        return None
    return int(chosen.get("statusCode", status)), tuple(headers), body
