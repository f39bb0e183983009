"""What the data planes are configured with; built by infra from template.yaml's resources."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Runs a Lambda function by name with an event and returns its result. On a function error, a timeout
#: or throttling it raises; ``str(exc)`` is the function's errorMessage (a REQUEST authorizer that raises
#: ``Exception("Unauthorized")`` therefore refuses with 401, as on AWS).
Invoke = Callable[[str, dict], Any]


@dataclass(frozen=True)
class Limits:
    """API Gateway WebSocket quotas; tests make them small."""

    max_message_bytes: int = 128 * 1024
    max_frame_bytes: int = 32 * 1024
    idle_timeout: float = 600.0
    max_duration: float = 7200.0
    integration_timeout: float = 29.0


@dataclass(frozen=True)
class Authorizer:
    function: str
    #: e.g. ("route.request.querystring.token",); empty: the authorizer is always called
    identity_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebSocketRoute:
    key: str                      # "$connect", "$disconnect", "$default" or a selected value such as "publish"
    function: str | None          # the AWS_PROXY integration's Lambda function name
    two_way: bool = False         # has a route response: the handler's returned body is sent back
    authorizer: Authorizer | None = None   # only meaningful on $connect
    #: an AWS or MOCK integration (service_integrations.AwsIntegration; `function` is None then), and the
    #: integration's TemplateSelectionExpression (which of its request templates a message takes)
    aws: Any = None
    template_selection: str = "$default"


@dataclass(frozen=True)
class WebSocketApiConfig:
    api_id: str
    name: str
    stage: str
    route_selection_expression: str          # e.g. "$request.body.action"
    routes: dict[str, WebSocketRoute] = field(default_factory=dict)


@dataclass(frozen=True)
class RestAuthorizer:
    """A REST API Lambda authorizer (swagger's x-amazon-apigateway-authorizer)."""

    name: str
    function: str                 # the Lambda authorizer's function ("" for a Cognito user pool authorizer)
    type: str = "TOKEN"           # TOKEN (one header), REQUEST (identity sources) or COGNITO_USER_POOLS
    #: TOKEN: ("method.request.header.Authorization",); REQUEST: header/querystring sources, may be empty
    identity_sources: tuple[str, ...] = ()
    #: AuthorizerResultTtlInSeconds: how long a result is kept per identity (0: not cached)
    ttl: int = 300
    #: a TOKEN authorizer's identityValidationExpression: a token not matching is 401 without an invoke
    validation_expression: str | None = None
    #: COGNITO_USER_POOLS: the issuers (https://cognito-idp.{region}.amazonaws.com/{pool id}) of its providerARNs
    issuers: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntegrationResponse:
    """One of a non-proxy integration's responses (x-amazon-apigateway-integration.responses)."""

    #: selectionPattern: a regular expression the whole Lambda errorMessage (Lambda), or the service's HTTP status
    #: (AWS services), must match; None: the default response
    pattern: str | None
    status: int
    #: responseParameters: (header name, source): 'a literal', integration.response.header.X,
    #: integration.response.body or integration.response.body.JSONPath
    parameters: tuple[tuple[str, str], ...] = ()
    #: responseTemplates by content type: the client's body (api_gateway/vtl.py); none: the integration's answer
    templates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AwsIntegration:
    """A non-proxy integration of type AWS (api_gateway/service_integrations.py): a service action of the emulator
    (a JSON-protocol service: DynamoDB, Step Functions, SQS, EventBridge, Kinesis...) or a Lambda function (its URI
    the function's invocations path), with mapping templates on the way in and integration responses on the way
    out."""

    service: str                       # "dynamodb", "states", ... or "lambda"
    action: str = ""                   # the service action ("PutItem"); "" for a function or a path
    function: str = ""                 # a Lambda integration's function (name or ARN)
    #: a path override's path (…:sqs:path/{account}/{queue}, …:s3:path/{bucket}/{object}); "" for an action
    path: str = ""
    #: an S3 path override's {placeholders} -> their source (integration.request.path.X), and its httpMethod
    request_path: tuple[tuple[str, str], ...] = ()
    method: str = "POST"
    #: requestParameters: integration.request.header.X / .querystring.X -> their source ('a literal',
    #: method.request.header|querystring|path.Y)
    request_headers: tuple[tuple[str, str], ...] = ()
    request_querystring: tuple[tuple[str, str], ...] = ()
    #: a non-proxy HTTP integration's endpoint (api_gateway/http_proxy.HttpProxy: its URI, method, mapped
    #: parameters, timeout); service "http" then
    http: Any = None
    #: requestTemplates by content type, and passthroughBehavior (WHEN_NO_MATCH, WHEN_NO_TEMPLATES, NEVER)
    request_templates: tuple[tuple[str, str], ...] = ()
    passthrough: str = "WHEN_NO_MATCH"
    responses: tuple[IntegrationResponse, ...] = ()


@dataclass(frozen=True)
class ServiceCall:
    """What an AWS integration sends to a service (the data plane's aws_action call)."""

    service: str
    action: str                        # "" for a path override
    path: str                          # "" for an action
    headers: tuple[tuple[str, str], ...]
    querystring: tuple[tuple[str, str], ...]
    body: bytes
    method: str = "POST"               # an S3 path override's: the integration's httpMethod


class ServiceAnswer(bytes):
    """What a service answered an AWS integration (the body, as bytes) with the answer's HTTP headers (`headers`,
    names in lower case): an S3 object's Content-Type, ETag, ..."""

    headers: dict[str, str] = {}  # noqa: RUF012 - replaced per answer (of_answer)

    @classmethod
    def of_answer(cls, body: bytes, headers: dict[str, str]) -> ServiceAnswer:
        answer = cls(body)
        answer.headers = {k.lower(): v for k, v in headers.items()}
        return answer


@dataclass(frozen=True)
class RestRoute:
    method: str                   # "GET", "POST", ... or "ANY"
    path: str                     # API Gateway resource path: "/topics/{name}", "/files/{proxy+}"
    function: str
    authorizer: RestAuthorizer | None = None
    #: the function's Timeout (seconds), when known
    function_timeout: float | None = None
    #: the method requires an API key (x-api-key) of a usage plan of this stage
    api_key_required: bool = False
    #: a Cognito user pool authorizer's AuthorizationScopes for this method: an access token with one of them
    #: (none: an ID token)
    scopes: tuple[str, ...] = ()
    #: AWS_IAM authorization: the request must be SigV4-signed for execute-api (api_gateway/sigv4.py)
    iam: bool = False
    #: a non-proxy AWS integration (a service action or a Lambda function, with mapping templates and integration
    #: responses); `function` is "" then
    aws: AwsIntegration | None = None
    #: request validation (api_gateway/request_validation.py): required parameters, the body's model
    validation: Any = None
    #: a static MOCK integration's answer: (status, headers, body); `function` is "" then
    mock: tuple[int, tuple[tuple[str, str], ...], str] | None = None
    #: an HTTP_PROXY integration's endpoint (api_gateway/http_proxy.py); `function` is "" then
    http_proxy: Any = None
    #: a Lambda proxy integration's requestParameters source of integration.request.header.X-Amz-Tenant-Id (a
    #: 'literal' or method.request.header|querystring|path.X): the tenant a tenant-isolated function runs for
    tenant_source: str | None = None


@dataclass(frozen=True)
class RestApiConfig:
    api_id: str
    stage: str
    routes: tuple[RestRoute, ...] = ()
    binary_media_types: tuple[str, ...] = ()   # "image/png" (the template's "image~1png" decoded)
    #: the stage's ThrottlingRateLimit (requests/s) and ThrottlingBurstLimit; None: not throttled
    throttle: tuple[float, int] | None = None
    #: x-amazon-apigateway-gateway-responses: type (UNAUTHORIZED, ACCESS_DENIED, DEFAULT_4XX, ...) ->
    #: (status or None, application/json template or None, headers); used for the authorizer's refusals
    gateway_responses: tuple[tuple[str, int | None, str | None, tuple[tuple[str, str], ...]], ...] = ()


@dataclass(frozen=True)
class HttpAuthorizer:
    """An HTTP API authorizer: a Lambda (REQUEST) authorizer, or a JWT authorizer (`type` "JWT")."""

    function: str | None
    payload_version: str = "2.0"                    # AuthorizerPayloadFormatVersion
    simple_responses: bool = False                  # EnableSimpleResponses: {"isAuthorized": ...}
    #: "$request.header.Authorization", "$request.querystring.token", ...; empty: always called
    identity_sources: tuple[str, ...] = ()
    type: str = "REQUEST"                           # REQUEST (a Lambda function), JWT or AWS_IAM
    #: JWT: the JwtConfiguration's Issuer and Audience
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    #: AWS_IAM: the service requests are signed for (execute-api; a function URL's: lambda)
    service: str = "execute-api"


@dataclass(frozen=True)
class HttpRoute:
    key: str                      # "GET /notes/{id}", "ANY /files/{proxy+}" or "$default"
    function: str | None          # the Lambda proxy integration's function
    payload_version: str = "2.0"  # the integration's PayloadFormatVersion
    authorizer: HttpAuthorizer | None = None
    timeout: float = 30.0         # the integration's TimeoutInMillis / 1000
    #: AuthorizationScopes of a route behind a JWT authorizer: the token needs one of them
    scopes: tuple[str, ...] = ()
    #: an HTTP_PROXY integration's endpoint (api_gateway/http_proxy.py); `function` is None then
    http_proxy: Any = None
    #: the integration's ResponseParameters: (status code, append|overwrite|remove, header name or "statuscode",
    #: value) (api_gateway/http_proxy.py, changed_response)
    response_changes: tuple[tuple[str, str, str, str], ...] = ()
    #: a Lambda integration's RequestParameters: (append|overwrite|remove, header|querystring|path, name, value)
    #: (an HTTP_PROXY integration keeps its own in http_proxy)
    request_changes: tuple[tuple[str, str, str, str], ...] = ()
    #: an AWS service integration (an IntegrationSubtype: api_gateway/service_subtypes.py); `function` is None then
    service: Any = None
    #: a function URL in InvokeMode RESPONSE_STREAM: the function's response goes to the client as it is written
    #: (api_gateway/streaming.py)
    streaming: bool = False


@dataclass(frozen=True)
class HttpApiConfig:
    """An HTTP API (API Gateway v2, ProtocolType HTTP) stage."""

    api_id: str
    stage: str                    # "$default" serves at the root; any other name under /<stage>
    routes: tuple[HttpRoute, ...] = ()
    stage_variables: tuple[tuple[str, str], ...] = ()
    #: CorsConfiguration with API Gateway's lower-camel keys (allowOrigins, allowMethods, ...), or None
    cors: tuple[tuple[str, Any], ...] | None = None


@dataclass(frozen=True)
class DomainMapping:
    """A custom domain name's API mapping (AWS::ApiGatewayV2::ApiMapping) or base path mapping
    (AWS::ApiGateway::BasePathMapping): requests whose Host is `domain` and whose path starts with `key` go to the
    API's stage."""

    domain: str                   # lower case, as hosts compare
    key: str                      # "" (the domain's root), "v1", "orders/v2"
    api_id: str
    stage: str | None             # None: a base path mapping without a stage (the stage is the path's next segment)
