"""API Gateway v2: WebSocket and HTTP APIs, routes, integrations, authorizers, stages; custom domain names and their
API mappings (the REST data plane serves a request by its Host, api_gateway/rest.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import hashlib
import json
import secrets

from api_gateway import http_proxy, service_integrations, service_subtypes
from infra import account
from infra.resources.base import NO_IAM, Resource, creates, numeric, pick, tags, template_text, texts_of, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer


def _api_v2_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    found = []
    body = props.get("Body")
    if isinstance(body, dict):
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        for name, scheme in schemes.items():
            authorizer = scheme.get("x-amazon-apigateway-authorizer") or {}
            if authorizer.get("type", "").lower() == "jwt" and \
                    not (authorizer.get("jwtConfiguration") or {}).get("issuer"):
                found.append((f"JWT authorizer {name}", "a JWT authorizer needs jwtConfiguration.issuer"))
        for path, operations in (body.get("paths") or {}).items():
            for method, operation in (operations or {}).items():
                integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                kind = str((integration or {}).get("type", "")).lower()
                if not integration:
                    problem = None
                elif kind == "aws_proxy" and integration.get("integrationSubtype"):
                    problem = service_subtypes.problem(integration["integrationSubtype"],
                                                       integration.get("requestParameters")) \
                        or _response_mapping_problem(integration)
                elif kind == "aws_proxy":
                    problem = (http_proxy.mapping_problem(integration["requestParameters"])
                               if integration.get("requestParameters") else None) \
                        or _response_mapping_problem(integration)
                elif kind == "http_proxy":
                    problem = _http_proxy_problem(integration)
                else:
                    problem = f"type {integration.get('type')}: only Lambda proxy and HTTP proxy integrations run " \
                              "locally"
                if problem:
                    found.append((f"integration {method.upper()} {path}", problem))
    elif body is not None:
        found.append(("Body", "only an inline OpenAPI document is supported"))
    return found


@creates("AWS::ApiGatewayV2::Api",
         handles=("Name", "ProtocolType", "RouteSelectionExpression", "ApiKeySelectionExpression", "Description",
                  "DisableExecuteApiEndpoint", "Version", "Body", "Tags", "CorsConfiguration", "Target", "RouteKey"),
         ignores={"FailOnWarnings": "the document is read as given", "DisableSchemaValidation": "not validated",
                  "BasePath": "an import option", "CredentialsArn": NO_IAM, "IpAddressType": "loopback only"},
         unsupported={"BodyS3Location": "only an inline OpenAPI Body is supported"},
         check=_api_v2_check)
def _api_v2(d: Deployer, lid: str, props: dict) -> Resource:
    apigw = d.client("apigatewayv2")
    body = props.get("Body")
    if body is not None:
        # SAM's HttpApi: an OpenAPI body; moto makes its routes and integrations (authorizers stay in the body)
        title = str((body.get("info") or {}).get("title") or f"{d.stack.name}-{lid}")
        api = apigw.create_api(Name=title, ProtocolType="HTTP")
        apigw.reimport_api(ApiId=api["ApiId"], Body=json.dumps(body))
        protocol = "HTTP"
    else:
        protocol = props["ProtocolType"]
        args = pick(props, "Name", "ProtocolType", "RouteSelectionExpression", "ApiKeySelectionExpression",
                     "Description", "DisableExecuteApiEndpoint", "Version", "Target", "RouteKey")
        args.setdefault("Name", f"{d.stack.name}-{lid}")
        if props.get("Tags"):
            args["Tags"] = tags(props["Tags"])
        api = apigw.create_api(**args)
    api_id = api["ApiId"]
    host = f"{api_id}.execute-api.{d.stack.region}.amazonaws.com"
    # AWS: wss:// for a WebSocket API, https:// for an HTTP API
    endpoint = f"{'wss' if protocol == 'WEBSOCKET' else 'https'}://{host}"
    return Resource(lid, "AWS::ApiGatewayV2::Api", api_id, {"ApiId": api_id, "ApiEndpoint": endpoint})


@creates("AWS::ApiGatewayV2::Route",
         handles=("ApiId", "RouteKey", "AuthorizationType", "AuthorizerId", "Target", "AuthorizationScopes",
                  "RouteResponseSelectionExpression", "ModelSelectionExpression", "OperationName", "ApiKeyRequired"),
         ignores={"RequestModels": "request bodies are not validated locally",
                  "RequestParameters": "request parameters are not validated locally"})
def _route_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = pick(props, "ApiId", "RouteKey", "AuthorizationType", "AuthorizerId", "Target", "AuthorizationScopes",
                 "RouteResponseSelectionExpression", "ModelSelectionExpression", "OperationName", "ApiKeyRequired")
    route = d.client("apigatewayv2").create_route(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Route", route["RouteId"], {"RouteId": route["RouteId"]})


def _http_proxy_problem(integration: dict) -> str | None:
    """Why an HTTP API's http_proxy integration (OpenAPI's keys) cannot run locally; None when it can."""
    if _response_mapping_problem(integration):
        return _response_mapping_problem(integration)
    if integration.get("requestParameters"):
        problem = http_proxy.mapping_problem(integration["requestParameters"])
        if problem:
            return problem
    uri = integration.get("uri")
    rest_keys_left_out = {k: v for k, v in integration.items() if k != "requestParameters"}  # another syntax
    return http_proxy.problem(rest_keys_left_out, template_text(uri), literal=isinstance(uri, str))


def _response_mapping_problem(integration: dict) -> str | None:
    mapping = integration.get("responseParameters")
    return http_proxy.response_mapping_problem(mapping) if mapping else None


def _protocol_of(d: Deployer, api_id: Any) -> str | None:
    """The ProtocolType of the template's API that `api_id` refers to (a Ref), if it can be told before the deploy."""
    ref = api_id.get("Ref") if isinstance(api_id, dict) else None
    resource = (d.expanded.template.get("Resources") or {}).get(ref) if isinstance(ref, str) else None
    return (resource.get("Properties") or {}).get("ProtocolType") if isinstance(resource, dict) else None


def websocket_integration(props: dict, responses: list[dict] | None = None) -> dict:
    """A WebSocket API's AWS or MOCK integration (and its integration responses' properties) in the swagger shape
    REST integrations have (api_gateway/service_integrations.py reads it): request templates by the key its
    TemplateSelectionExpression selects, each response by its IntegrationResponseKey (`/4\\d{2}/`: a pattern;
    `$default`: the default), its templates by theirs."""
    found: dict[str, Any] = {"type": str(props.get("IntegrationType", "")).lower()}
    for prop, key in (("IntegrationUri", "uri"), ("IntegrationMethod", "httpMethod"),
                      ("RequestTemplates", "requestTemplates"), ("RequestParameters", "requestParameters"),
                      ("PassthroughBehavior", "passthroughBehavior")):
        if prop in props:
            found[key] = props[prop]
    entries = {}
    for response in responses or []:
        key = str(response.get("IntegrationResponseKey", "$default"))
        pattern = None if key == "$default" else key[1:-1] if len(key) > 1 and key[0] == key[-1] == "/" else key
        entries[pattern or "default"] = {"statusCode": "200", "responseTemplates": response.get("ResponseTemplates")
                                         or {}, **({"selectionPattern": pattern} if pattern else {})}
    if entries:
        found["responses"] = entries
    return found


def _integration_v2_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    kind = props.get("IntegrationType")
    if _protocol_of(d, props.get("ApiId")) == "WEBSOCKET" and kind in ("AWS", "MOCK"):
        # a service action, an SQS or SNS path override or a function without the proxy event, with Velocity
        uri = template_text(props.get("IntegrationUri")).replace("arn:x:", "arn:aws:").replace(":x:", ":us-east-1:")
        problem = service_integrations.problem(texts_of(websocket_integration(props)), uri)
        return [(f"IntegrationType {kind}", problem)] if problem else []
    if props.get("RequestTemplates"):
        return [("RequestTemplates", "mapping templates run for WebSocket APIs' AWS and MOCK integrations only")]
    mapping = props.get("ResponseParameters")
    response = http_proxy.response_mapping_problem(mapping) if mapping and kind != "MOCK" else \
        "response parameter mapping of a MOCK integration is not applied locally" if mapping else None
    found = [("ResponseParameters", response)] if response else []
    if kind == "MOCK" and props.get("RequestParameters"):
        return found + [("RequestParameters", "request parameter mapping of a MOCK integration is not applied "
                                              "locally")]
    if kind == "AWS_PROXY" and props.get("IntegrationSubtype"):
        refused = service_subtypes.problem(props["IntegrationSubtype"], props.get("RequestParameters"))
        return found + ([("IntegrationSubtype", refused)] if refused else [])
    if kind in ("AWS_PROXY", "MOCK") and not props.get("IntegrationSubtype"):
        refused = http_proxy.mapping_problem(props["RequestParameters"]) if props.get("RequestParameters") else None
        return found + ([("RequestParameters", refused)] if refused else [])
    if kind == "HTTP_PROXY" and _protocol_of(d, props.get("ApiId")) == "HTTP":
        problem = http_proxy.problem({"connectionType": props.get("ConnectionType", "INTERNET")},
                                     template_text(props.get("IntegrationUri")),
                                     literal=isinstance(props.get("IntegrationUri"), str))
        mapping = props.get("RequestParameters")
        refused = http_proxy.mapping_problem(mapping) if mapping is not None else None
        return found + [("IntegrationUri", problem)] * bool(problem) + [("RequestParameters", refused)] * bool(refused)
    return [(f"IntegrationType {kind}", "only Lambda proxy (AWS_PROXY), MOCK and, in HTTP APIs, HTTP proxy "
                                        "integrations run locally")]


@creates("AWS::ApiGatewayV2::Integration",
         handles=("ApiId", "IntegrationType", "IntegrationUri", "IntegrationMethod", "ContentHandlingStrategy",
                  "PayloadFormatVersion", "TemplateSelectionExpression", "PassthroughBehavior", "Description",
                  "TimeoutInMillis", "RequestParameters", "ResponseParameters", "IntegrationSubtype",
                  "RequestTemplates"),
         ignores={"CredentialsArn": NO_IAM, "ConnectionType": "over the internet: a VPC link needs a ConnectionId"},
         unsupported={"ConnectionId": "no VPC links",
                      "TlsConfig": "no private integrations"},
         check=_integration_v2_check)
def _integration_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = pick(props, "ApiId", "IntegrationType", "IntegrationUri", "IntegrationMethod", "ContentHandlingStrategy",
                 "PayloadFormatVersion", "TemplateSelectionExpression", "PassthroughBehavior", "Description",
                 "RequestParameters", "IntegrationSubtype", "RequestTemplates")
    if "TimeoutInMillis" in props:
        args["TimeoutInMillis"] = numeric(props["TimeoutInMillis"])
    integration = d.client("apigatewayv2").create_integration(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Integration", integration["IntegrationId"],
                    {"IntegrationId": integration["IntegrationId"]})


@creates("AWS::ApiGatewayV2::Authorizer",
         handles=("ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource", "Name",
                  "AuthorizerPayloadFormatVersion", "EnableSimpleResponses", "JwtConfiguration"),
         ignores={"AuthorizerCredentialsArn": NO_IAM,
                  "AuthorizerResultTtlInSeconds": "results are not cached: the authorizer runs on every request"},
         unsupported={"IdentityValidationExpression": "not applied locally"},
         check=lambda d, lid, props: [] if props.get("AuthorizerType") in ("REQUEST", "JWT") else [
             (f"AuthorizerType {props.get('AuthorizerType')}", "only Lambda REQUEST and JWT authorizers run locally")])
def _authorizer_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = pick(props, "ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource", "Name",
                 "AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion", "EnableSimpleResponses",
                 "JwtConfiguration")
    # optional in CloudFormation for WEBSOCKET REQUEST authorizers, required by the API: none means "always call"
    args.setdefault("IdentitySource", [])
    if isinstance(args["IdentitySource"], str):
        args["IdentitySource"] = [s.strip() for s in args["IdentitySource"].split(",")]
    if "EnableSimpleResponses" in args:
        args["EnableSimpleResponses"] = truthy(args["EnableSimpleResponses"])
    authorizer = d.client("apigatewayv2").create_authorizer(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Authorizer", authorizer["AuthorizerId"],
                    {"AuthorizerId": authorizer["AuthorizerId"]})


@creates("AWS::ApiGatewayV2::RouteResponse",
         handles=("ApiId", "RouteId", "RouteResponseKey", "ModelSelectionExpression"),
         ignores={"ResponseModels": "responses are not validated locally",
                  "ResponseParameters": "responses are not validated locally"})
def _route_response_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = pick(props, "ApiId", "RouteId", "RouteResponseKey", "ModelSelectionExpression")
    response = d.client("apigatewayv2").create_route_response(**args)
    return Resource(lid, "AWS::ApiGatewayV2::RouteResponse", response["RouteResponseId"])


@creates("AWS::ApiGatewayV2::IntegrationResponse",
         handles=("ApiId", "IntegrationId", "IntegrationResponseKey", "ResponseTemplates",
                  "TemplateSelectionExpression"),
         ignores={"ContentHandlingStrategy": "the answer is text locally"},
         unsupported={"ResponseParameters": "a WebSocket integration response's parameters are not mapped locally"})
def _integration_response_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = pick(props, "ApiId", "IntegrationId", "IntegrationResponseKey", "ResponseTemplates",
                "TemplateSelectionExpression")
    response = d.client("apigatewayv2").create_integration_response(**args)
    return Resource(lid, "AWS::ApiGatewayV2::IntegrationResponse", response["IntegrationResponseId"])


@creates("AWS::ApiGatewayV2::Model", handles=("ApiId", "Name", "Schema", "ContentType", "Description"))
def _model_v2(d: Deployer, lid: str, props: dict) -> Resource:
    """A model of a WebSocket route's requests or responses: stored (GetModel answers it); bodies are not validated
    against it locally (the Route's and RouteResponse's model properties are ignored, and say so)."""
    args = pick(props, "ApiId", "Name", "ContentType", "Description")
    schema = props.get("Schema")
    args["Schema"] = schema if isinstance(schema, str) else json.dumps(schema)
    model = d.client("apigatewayv2").create_model(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Model", model["ModelId"], {"ModelId": model["ModelId"]})


@creates("AWS::ApiGatewayV2::Stage",
         handles=("ApiId", "StageName", "AutoDeploy", "DeploymentId", "Description", "StageVariables", "Tags"),
         ignores={"DefaultRouteSettings": "no throttling or detailed metrics locally",
                  "RouteSettings": "no throttling or detailed metrics locally",
                  "AccessLogSettings": "no access logs locally", "ClientCertificateId": "no client certificates"})
def _stage_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = pick(props, "ApiId", "StageName", "Description", "StageVariables", "DeploymentId")
    if "AutoDeploy" in props:
        args["AutoDeploy"] = truthy(props["AutoDeploy"])
    if props.get("Tags"):
        args["Tags"] = tags(props["Tags"])
    d.client("apigatewayv2").create_stage(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Stage", props["StageName"])


@creates("AWS::ApiGatewayV2::Deployment", handles=("ApiId", "StageName", "Description"))
def _deployment_v2(d: Deployer, lid: str, props: dict) -> Resource:
    # moto has no ApiGatewayV2 CreateDeployment (404): the data planes serve an API's routes as deployed at start-up,
    # so a deployment is an id (shaped like AWS's) the Stage's DeploymentId can refer to
    deployment_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    return Resource(lid, "AWS::ApiGatewayV2::Deployment", deployment_id, {"DeploymentId": deployment_id})


def regional_domain(d: Deployer, domain: str) -> tuple[str, str]:
    """The regional endpoint API Gateway gives a custom domain (d-<id>.execute-api.<region>.amazonaws.com) and the
    hosted zone it is in (the local cloud's region's)."""
    suffix = hashlib.sha256(domain.encode()).hexdigest()[:10]
    return f"d-{suffix}.execute-api.{d.stack.region}.amazonaws.com", account.APIGATEWAY_REGIONAL_ZONE


@creates("AWS::ApiGatewayV2::DomainName", handles=("DomainName", "DomainNameConfigurations", "Tags"),
         ignores={"MutualTlsAuthentication": "no TLS locally: the data planes serve plain HTTP and WebSocket",
                  "RoutingMode": "requests reach APIs by the domain's API mappings"})
def _domain_name_v2(d: Deployer, lid: str, props: dict) -> Resource:
    domain = str(props["DomainName"])
    regional, zone = regional_domain(d, domain)
    configurations = [{**pick(c, "CertificateArn", "CertificateName", "EndpointType", "SecurityPolicy",
                              "IpAddressType", "OwnershipVerificationCertificateArn"),
                       "ApiGatewayDomainName": regional, "HostedZoneId": zone, "DomainNameStatus": "AVAILABLE"}
                      for c in props.get("DomainNameConfigurations") or [{}]]
    args: dict[str, Any] = {"DomainName": domain, "DomainNameConfigurations": configurations}
    if props.get("Tags"):
        args["Tags"] = tags(props["Tags"])
    answer = d.client("apigatewayv2").create_domain_name(**args)
    return Resource(lid, "AWS::ApiGatewayV2::DomainName", domain, {
        "RegionalDomainName": regional, "RegionalHostedZoneId": zone, "DomainNameArn": answer.get("DomainNameArn", "")})


@creates("AWS::ApiGatewayV2::ApiMapping", handles=("ApiId", "ApiMappingKey", "DomainName", "Stage"))
def _api_mapping(d: Deployer, lid: str, props: dict) -> Resource:
    mapping = d.client("apigatewayv2").create_api_mapping(
        ApiId=props["ApiId"], DomainName=props["DomainName"], Stage=props["Stage"],
        ApiMappingKey=str(props.get("ApiMappingKey") or ""))
    return Resource(lid, "AWS::ApiGatewayV2::ApiMapping", mapping["ApiMappingId"],
                    {"ApiMappingId": mapping["ApiMappingId"]})
