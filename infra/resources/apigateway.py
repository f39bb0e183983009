"""API Gateway v1: REST APIs (SAM's swagger bodies, or resources and methods of their own), deployments, stages, custom
domain names."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from api_gateway import http_proxy, service_integrations
from api_gateway.paths import resource_path

from infra.resources.apigatewayv2 import regional_domain
from infra.resources.base import (NO_IAM, TAGS_IGNORED, DeployError, Resource, creates, json_text, tags, template_text,
                                  texts_of, truthy)

if TYPE_CHECKING:
    from infra.deploy import Deployer


def _lambda_authorizer(scheme: Any) -> bool:
    spec = scheme.get("x-amazon-apigateway-authorizer") if isinstance(scheme, dict) else None
    return isinstance(spec, dict) and str(spec.get("type", "")).lower() in ("token", "request") \
        and "/functions/" in str(spec.get("authorizerUri", ""))


def cognito_scheme(scheme: Any) -> bool:
    """A Cognito user pool authorizer (SAM's `UserPoolArn` authorizers: type cognito_user_pools)."""
    spec = scheme.get("x-amazon-apigateway-authorizer") if isinstance(scheme, dict) else None
    return isinstance(spec, dict) and str(spec.get("type", "")).lower() == "cognito_user_pools" \
        and bool(spec.get("providerARNs"))


def iam_schemes(body: dict) -> set[str]:
    """The names of a swagger/OpenAPI body's security schemes that are IAM authorization (SAM's AWS_IAM)."""
    schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
    return {name for name, scheme in schemes.items() if isinstance(scheme, dict)
            and str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4"
            and "x-amazon-apigateway-authorizer" not in scheme}


def api_key_schemes(body: dict) -> set[str]:
    """The names of a swagger/OpenAPI body's security schemes that are API Gateway's API key (x-api-key, header)."""
    schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
    return {name for name, scheme in schemes.items() if isinstance(scheme, dict)
            and str(scheme.get("type", "")).lower() == "apikey" and str(scheme.get("name", "")).lower() == "x-api-key"
            and str(scheme.get("in", "")).lower() == "header"}


def _rest_api_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    body = props.get("Body")
    if not isinstance(body, dict):
        return [] if body is None else [("Body", "only an inline swagger/OpenAPI document is supported")]
    schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
    keys = api_key_schemes(body) | iam_schemes(body)
    found = [(f"authorizer {name}", "only Lambda (TOKEN, REQUEST), Cognito user pool and IAM authorizers and API "
              "keys (x-api-key) run locally") for name, scheme in schemes.items()
             if not _lambda_authorizer(scheme) and not cognito_scheme(scheme) and name not in keys]
    if str(props.get("ApiKeySourceType", "HEADER")).upper() != "HEADER":
        found.append((f"ApiKeySourceType {props['ApiKeySourceType']}", "only API keys from the x-api-key header "
                                                                         "are checked locally"))
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in (operations or {}).items():
            integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
            if not integration or str(integration.get("type", "")).lower() == "aws_proxy":
                continue
            problem = _service_integration_problem(integration)
            if problem:
                found.append((f"integration {method.upper()} {path}", problem))
    return found




def _service_integration_problem(integration: dict) -> str | None:
    """Why an integration other than Lambda proxy cannot run locally (api_gateway/service_integrations.py for the
    AWS integrations); None when it can."""
    kind = str(integration.get("type", "")).lower()
    if kind == "mock":
        return None if service_integrations.mock_answer(integration) is not None else \
            service_integrations.problem(texts_of(integration), "")
    if kind == "http_proxy":
        uri = integration.get("uri")
        return http_proxy.problem(integration, template_text(uri), literal=isinstance(uri, str))
    if kind not in ("aws", "http"):
        return (f"type {integration.get('type')}: only Lambda proxy, HTTP proxy, MOCK, HTTP and AWS integrations "
                "run locally")
    uri = template_text(integration.get("uri")).replace("arn:x:", "arn:aws:").replace(":x:", ":us-east-1:")
    return service_integrations.problem(texts_of(integration), uri if isinstance(integration.get("uri"), str)
                                        or kind == "aws" else "https://endpoint.example")


@creates("AWS::ApiGateway::RestApi",
         handles=("Name", "Body", "BinaryMediaTypes", "Description", "ApiKeySourceType"),
         ignores={"EndpointConfiguration": "loopback only", "MinimumCompressionSize": "responses are not compressed",
                  "DisableExecuteApiEndpoint": "loopback only",
                  "FailOnWarnings": "the document is read as given", "Policy": NO_IAM,
                  "Parameters": "an import option", "Mode": "an import option", "SecurityPolicy": "no TLS locally",
                  "EndpointAccessMode": "loopback only", **TAGS_IGNORED},
         unsupported={"BodyS3Location": "only an inline Body is supported", "CloneFrom": "no cloning"},
         check=_rest_api_check)
def _rest_api(d: Deployer, lid: str, props: dict) -> Resource:
    apigw = d.client("apigateway")
    name = props.get("Name") or f"{d.stack.name}-{lid}"
    args = {"name": name, **({"binaryMediaTypes": props["BinaryMediaTypes"]} if "BinaryMediaTypes" in props else {})}
    api = apigw.create_rest_api(**args)
    if props.get("Body"):
        # moto imports only OpenAPI 3 bodies (SAM writes swagger 2.0): create the resources and methods one by one
        authorizers = _create_authorizers(apigw, api["id"], props["Body"])
        iam = {name: ("", "AWS_IAM") for name in iam_schemes(props["Body"])}
        _create_rest_routes(apigw, api["id"], api["rootResourceId"], props["Body"].get("paths", {}),
                            {**iam, **authorizers}, props["Body"].get("security"), api_key_schemes(props["Body"]))
    return Resource(lid, "AWS::ApiGateway::RestApi", api["id"], {"RootResourceId": api.get("rootResourceId", "")})


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method"}


def _create_authorizers(apigw: Any, api_id: str, body: dict) -> dict[str, tuple[str, str]]:
    """The body's Lambda and Cognito user pool authorizers as the API's authorizers (the gateway runs them):
    name -> (authorizer id, the methods' authorizationType)."""
    schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
    ids = {}
    for name, scheme in schemes.items():
        if cognito_scheme(scheme):
            spec = scheme["x-amazon-apigateway-authorizer"]
            ids[name] = apigw.create_authorizer(
                restApiId=api_id, name=name, type="COGNITO_USER_POOLS", providerARNs=list(spec["providerARNs"]),
                identitySource=f"method.request.header.{scheme.get('name', 'Authorization')}")["id"], \
                "COGNITO_USER_POOLS"
            continue
        if not _lambda_authorizer(scheme):
            continue
        spec = scheme["x-amazon-apigateway-authorizer"]
        kind = str(spec["type"]).upper()
        source = f"method.request.header.{scheme.get('name', 'Authorization')}" if kind == "TOKEN" \
            else str(spec.get("identitySource") or "")
        args = {"restApiId": api_id, "name": name, "type": kind, "authorizerUri": spec["authorizerUri"],
                "authorizerResultTtlInSeconds": int(spec.get("authorizerResultTtlInSeconds", 300))}
        if source:
            args["identitySource"] = source
        ids[name] = apigw.create_authorizer(**args)["id"], "CUSTOM"
    return ids


def _create_rest_routes(apigw: Any, api_id: str, root_id: str, paths: dict, authorizers: dict[str, tuple[str, str]],
                        default_security: list | None, key_schemes: set[str]) -> None:
    ids = {"/": root_id}
    for path in sorted(paths):
        parent = "/"
        for part in [p for p in path.split("/") if p]:
            current = parent.rstrip("/") + "/" + part
            if current not in ids:
                ids[current] = apigw.create_resource(restApiId=api_id, parentId=ids[parent], pathPart=part)["id"]
            parent = current
        resource = ids[resource_path(path)]  # "/items/" is "/items", as API Gateway's import reads it
        for method, operation in paths[path].items():
            if method.lower() not in _HTTP_METHODS:
                continue
            verb = "ANY" if method.lower() == "x-amazon-apigateway-any-method" else method.upper()
            security = operation.get("security", default_security) or []
            names = [name for requirement in security for name in requirement if name in authorizers]
            auth: dict[str, Any] = {"authorizationType": "NONE"}
            if names:
                authorizer_id, kind = authorizers[names[0]]
                auth = {"authorizationType": kind, **({"authorizerId": authorizer_id} if authorizer_id else {})}
                scopes = next((list(r[names[0]]) for r in security if r.get(names[0])), None)
                if kind == "COGNITO_USER_POOLS" and scopes:
                    auth["authorizationScopes"] = scopes
            auth["apiKeyRequired"] = any(name in key_schemes for requirement in security for name in requirement)
            apigw.put_method(restApiId=api_id, resourceId=resource, httpMethod=verb, **auth)
            integration = operation.get("x-amazon-apigateway-integration")
            if integration:
                apigw.put_integration(restApiId=api_id, resourceId=resource, httpMethod=verb,
                                      type=integration.get("type", "aws_proxy").upper(),
                                      integrationHttpMethod=integration.get("httpMethod", "POST"),
                                      uri=integration.get("uri", ""))


@creates("AWS::ApiGateway::Deployment", handles=("RestApiId", "StageName", "Description"),
         ignores={"StageDescription": "stage settings (caching, throttling, logging) are not applied locally",
                  "DeploymentCanarySettings": "no canaries locally"})
def _rest_deployment(d: Deployer, lid: str, props: dict) -> Resource:
    args = {"restApiId": props["RestApiId"]}
    if props.get("Description"):
        args["description"] = props["Description"]
    if props.get("StageName"):
        args["stageName"] = props["StageName"]
    deployment = d.client("apigateway").create_deployment(**args)
    return Resource(lid, "AWS::ApiGateway::Deployment", deployment["id"], {"DeploymentId": deployment["id"]})


@creates("AWS::ApiGateway::Stage", handles=("RestApiId", "StageName", "DeploymentId", "Description"),
         ignores={"MethodSettings": "no throttling, caching or logging locally", "TracingEnabled": "no X-Ray traces",
                  "AccessLogSetting": "no access logs locally", "CacheClusterEnabled": "no cache",
                  "CacheClusterSize": "no cache", "CanarySetting": "no canaries", "ClientCertificateId": "no TLS",
                  "DocumentationVersion": "no documentation parts", **TAGS_IGNORED},
         unsupported={"Variables": "stage variables are not passed to integrations locally"})
def _rest_stage(d: Deployer, lid: str, props: dict) -> Resource:
    apigw = d.client("apigateway")
    stage = props["StageName"]
    try:
        apigw.create_stage(restApiId=props["RestApiId"], stageName=stage, deploymentId=props["DeploymentId"])
    except apigw.exceptions.ConflictException:
        pass  # the Deployment already created a stage of that name
    return Resource(lid, "AWS::ApiGateway::Stage", stage)


@creates("AWS::ApiGateway::ApiKey", handles=("Name", "Value", "Enabled", "Description", "CustomerId", "StageKeys",
                                             "GenerateDistinctId", "Tags"))
def _api_key(d: Deployer, lid: str, props: dict) -> Resource:
    """An API key (SAM's `UsagePlan: CreateUsagePlan` makes one); Ref: its id. The REST data plane accepts its value
    in x-api-key on methods that require a key, once a usage plan of the stage holds it."""
    args: dict[str, Any] = {"name": props.get("Name") or f"{d.stack.name}-{lid}",
                            "enabled": truthy(props.get("Enabled", False)),
                            "generateDistinctId": truthy(props.get("GenerateDistinctId", False))}
    for prop, arg in (("Value", "value"), ("Description", "description"), ("CustomerId", "customerId")):
        if props.get(prop):
            args[arg] = str(props[prop])
    if props.get("StageKeys"):
        args["stageKeys"] = [{"restApiId": k.get("RestApiId"), "stageName": k.get("StageName")}
                             for k in props["StageKeys"]]
    if props.get("Tags"):
        args["tags"] = tags(props["Tags"])
    key = d.client("apigateway").create_api_key(**args)
    return Resource(lid, "AWS::ApiGateway::ApiKey", key["id"], {"APIKeyId": key["id"]})


@creates("AWS::ApiGateway::UsagePlan", handles=("UsagePlanName", "Description", "ApiStages", "Tags"),
         ignores={"Throttle": "usage plans' rates are not enforced locally (the stage's throttle is)",
                  "Quota": "usage plans' quotas are not enforced locally"})
def _usage_plan(d: Deployer, lid: str, props: dict) -> Resource:
    """A usage plan: the stages whose key-requiring methods accept its keys; Ref: its id."""
    args: dict[str, Any] = {"name": props.get("UsagePlanName") or f"{d.stack.name}-{lid}",
                            "apiStages": [{"apiId": s["ApiId"], "stage": s["Stage"]}
                                          for s in props.get("ApiStages") or []]}
    if props.get("Description"):
        args["description"] = props["Description"]
    if props.get("Tags"):
        args["tags"] = tags(props["Tags"])
    plan = d.client("apigateway").create_usage_plan(**args)
    return Resource(lid, "AWS::ApiGateway::UsagePlan", plan["id"], {"Id": plan["id"]})


@creates("AWS::ApiGateway::UsagePlanKey", handles=("KeyId", "KeyType", "UsagePlanId"))
def _usage_plan_key(d: Deployer, lid: str, props: dict) -> Resource:
    d.client("apigateway").create_usage_plan_key(usagePlanId=props["UsagePlanId"], keyId=props["KeyId"],
                                                 keyType=props.get("KeyType", "API_KEY"))
    return Resource(lid, "AWS::ApiGateway::UsagePlanKey", f"{props['UsagePlanId']}:{props['KeyId']}",
                    {"Id": f"{props['UsagePlanId']}:{props['KeyId']}"})


@creates("AWS::ApiGateway::DomainName",
         handles=("DomainName", "CertificateArn", "RegionalCertificateArn", "EndpointConfiguration", "SecurityPolicy",
                  "Tags"),
         ignores={"MutualTlsAuthentication": "no TLS locally: the data plane serves plain HTTP",
                  "OwnershipVerificationCertificateArn": "no TLS locally: the data plane serves plain HTTP",
                  "RoutingMode": "requests reach APIs by the domain's base path mappings",
                  "EndpointAccessMode": "the data plane serves every request on 127.0.0.1"})
def _rest_domain_name(d: Deployer, lid: str, props: dict) -> Resource:
    domain = str(props["DomainName"])
    args: dict[str, Any] = {"domainName": domain}
    for prop, arg in (("CertificateArn", "certificateArn"), ("RegionalCertificateArn", "regionalCertificateArn"),
                      ("SecurityPolicy", "securityPolicy")):
        if props.get(prop):
            args[arg] = props[prop]
    types = (props.get("EndpointConfiguration") or {}).get("Types")
    if types:
        args["endpointConfiguration"] = {"types": list(types)}
    if props.get("Tags"):
        args["tags"] = tags(props["Tags"])
    answer = d.client("apigateway").create_domain_name(**args)
    regional, zone = regional_domain(d, domain)
    return Resource(lid, "AWS::ApiGateway::DomainName", domain, {
        "RegionalDomainName": regional, "RegionalHostedZoneId": zone,
        "DistributionDomainName": answer.get("distributionDomainName", ""),
        "DistributionHostedZoneId": "Z2FDTNDATAQYW2",  # CloudFront's, every edge-optimized domain's alias target
        "DomainNameArn": f"arn:aws:apigateway:{d.stack.region}::/domainnames/{domain}"})


@creates("AWS::ApiGateway::BasePathMapping", handles=("DomainName", "RestApiId", "Stage", "BasePath"))
def _base_path_mapping(d: Deployer, lid: str, props: dict) -> Resource:
    args: dict[str, Any] = {"domainName": props["DomainName"], "restApiId": props["RestApiId"]}
    if props.get("BasePath"):
        args["basePath"] = str(props["BasePath"])
    if props.get("Stage"):
        args["stage"] = str(props["Stage"])
    mapping = d.client("apigateway").create_base_path_mapping(**args)
    return Resource(lid, "AWS::ApiGateway::BasePathMapping", f"{props['DomainName']}/{mapping['basePath']}")


@creates("AWS::ApiGateway::Account", handles=("CloudWatchRoleArn",))
def _account(d: Deployer, lid: str, props: dict) -> Resource:
    """The account's API Gateway settings: the role API Gateway logs to CloudWatch with (recorded: GetAccount answers
    it; the local data planes write no execution or access logs)."""
    apigw = d.client("apigateway")
    if props.get("CloudWatchRoleArn"):
        apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn",
                                               "value": props["CloudWatchRoleArn"]}])
    return Resource(lid, "AWS::ApiGateway::Account", f"{d.stack.name}-{lid}", {"Id": f"{d.stack.name}-{lid}"})


# --------------------------------------------------------------------------- REST APIs of resources and methods
# What plain CloudFormation (and the CDK) write instead of a swagger Body: the API's resources, methods, authorizers,
# validators, models and gateway responses as resources of their own. Each is made in moto's API Gateway (GetResources,
# GetMethod answer them), and swagger_of() writes the equivalent swagger document, which the data plane reads as it
# reads SAM's bodies (infra/cloud.py rest_configs).

def _integration_swagger(integration: dict) -> dict:
    """A Method's CloudFormation Integration as swagger's x-amazon-apigateway-integration."""
    found: dict[str, Any] = {"type": str(integration.get("Type", "")).lower()}
    for prop, key in (("Uri", "uri"), ("IntegrationHttpMethod", "httpMethod"), ("RequestTemplates", "requestTemplates"),
                      ("PassthroughBehavior", "passthroughBehavior"), ("RequestParameters", "requestParameters"),
                      ("TimeoutInMillis", "timeoutInMillis"), ("ConnectionType", "connectionType")):
        if prop in integration:
            found[key] = integration[prop]
    responses = {}
    for response in integration.get("IntegrationResponses") or []:
        entry = {"statusCode": str(response.get("StatusCode", "200"))}
        for prop, key in (("ResponseTemplates", "responseTemplates"), ("ResponseParameters", "responseParameters")):
            if prop in response:
                entry[key] = response[prop]
        pattern = response.get("SelectionPattern")
        if pattern:
            entry["selectionPattern"] = pattern
        responses[pattern or "default"] = entry
    if responses:
        found["responses"] = responses
    return found


def _header_of(source: str) -> str:
    return source.removeprefix("method.request.header.") if source.startswith("method.request.header.") \
        else "Authorization"


def _authorizer_scheme(props: dict) -> dict:
    """An AWS::ApiGateway::Authorizer as swagger's security scheme."""
    kind = str(props.get("Type", "TOKEN")).upper()
    source = str(props.get("IdentitySource") or "")
    if kind == "COGNITO_USER_POOLS":
        return {"type": "apiKey", "name": _header_of(source), "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools",
                                                   "providerARNs": list(props.get("ProviderARNs") or [])}}
    spec: dict[str, Any] = {"type": kind.lower(), "authorizerUri": props.get("AuthorizerUri", ""),
                            "authorizerResultTtlInSeconds": int(props.get("AuthorizerResultTtlInSeconds", 300))}
    if props.get("IdentityValidationExpression"):
        spec["identityValidationExpression"] = props["IdentityValidationExpression"]
    if kind == "REQUEST":
        spec["identitySource"] = source
    return {"type": "apiKey", "name": _header_of(source) if kind == "TOKEN" else "Unused", "in": "header",
            "x-amazon-apigateway-authtype": "custom", "x-amazon-apigateway-authorizer": spec}


_PARAMETER_PLACES = {"header": "header", "querystring": "query", "path": "path"}


def swagger_of(api: Resource, resources: list[Resource]) -> dict:
    """The swagger document equivalent to a REST API's AWS::ApiGateway::Resource, Method, Authorizer,
    RequestValidator, Model and GatewayResponse resources."""
    api_id = api.physical_id
    mine = [r for r in resources if r.properties.get("RestApiId") == api_id]
    paths_by_id = {api.attributes.get("RootResourceId", ""): "/"}
    parents = {r.physical_id: r.properties for r in mine if r.type == "AWS::ApiGateway::Resource"}

    def path_of(resource_id: str, depth: int = 0) -> str:
        if resource_id not in paths_by_id:
            props = parents[resource_id]
            if depth > 64:
                raise DeployError(f"the resources of REST API {api_id} form a cycle")
            parent = path_of(props["ParentId"], depth + 1)
            paths_by_id[resource_id] = parent.rstrip("/") + "/" + str(props["PathPart"])
        return paths_by_id[resource_id]

    body: dict[str, Any] = {"swagger": "2.0", "paths": {}, "securityDefinitions": {},
                            "x-amazon-apigateway-request-validators": {}, "definitions": {},
                            "x-amazon-apigateway-gateway-responses": {}}
    authorizers = {r.physical_id: r for r in mine if r.type == "AWS::ApiGateway::Authorizer"}
    for authorizer in authorizers.values():
        body["securityDefinitions"][authorizer.attributes["Name"]] = _authorizer_scheme(authorizer.properties)
    validators = {r.physical_id: r.attributes["Name"] for r in mine if r.type == "AWS::ApiGateway::RequestValidator"}
    for validator in (r for r in mine if r.type == "AWS::ApiGateway::RequestValidator"):
        body["x-amazon-apigateway-request-validators"][validator.attributes["Name"]] = {
            "validateRequestBody": truthy(validator.properties.get("ValidateRequestBody", False)),
            "validateRequestParameters": truthy(validator.properties.get("ValidateRequestParameters", False))}
    for model in (r for r in mine if r.type == "AWS::ApiGateway::Model"):
        schema = model.properties.get("Schema") or {}
        body["definitions"][model.physical_id] = json.loads(schema) if isinstance(schema, str) else schema
    for response in (r for r in mine if r.type == "AWS::ApiGateway::GatewayResponse"):
        props = response.properties
        entry: dict[str, Any] = {}
        if props.get("StatusCode"):
            entry["statusCode"] = str(props["StatusCode"])
        for prop, key in (("ResponseParameters", "responseParameters"), ("ResponseTemplates", "responseTemplates")):
            if props.get(prop):
                entry[key] = props[prop]
        body["x-amazon-apigateway-gateway-responses"][props["ResponseType"]] = entry
    for method in (r for r in mine if r.type == "AWS::ApiGateway::Method"):
        props = method.properties
        verb = str(props["HttpMethod"]).lower()
        operation: dict[str, Any] = {}
        if props.get("Integration"):
            operation["x-amazon-apigateway-integration"] = _integration_swagger(props["Integration"])
        requirement: dict[str, list] = {}
        kind = str(props.get("AuthorizationType", "NONE")).upper()
        if kind in ("CUSTOM", "COGNITO_USER_POOLS") and props.get("AuthorizerId") in authorizers:
            name = authorizers[props["AuthorizerId"]].attributes["Name"]
            requirement[name] = list(props.get("AuthorizationScopes") or [])
        elif kind == "AWS_IAM":
            body["securityDefinitions"]["sigv4"] = {"type": "apiKey", "name": "Authorization", "in": "header",
                                                    "x-amazon-apigateway-authtype": "awsSigv4"}
            requirement["sigv4"] = []
        if truthy(props.get("ApiKeyRequired", False)):
            body["securityDefinitions"]["api_key"] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
            requirement["api_key"] = []
        operation["security"] = [requirement] if requirement else []
        parameters = []
        for name, required in (props.get("RequestParameters") or {}).items():
            _, _, place, parameter = str(name).split(".", 3)
            if place in _PARAMETER_PLACES:
                parameters.append({"name": parameter, "in": _PARAMETER_PLACES[place], "required": truthy(required)})
        model = (props.get("RequestModels") or {}).get("application/json")
        if model:
            parameters.append({"in": "body", "name": model, "required": True,
                               "schema": {"$ref": f"#/definitions/{model}"}})
        if parameters:
            operation["parameters"] = parameters
        if props.get("RequestValidatorId") in validators:
            operation["x-amazon-apigateway-request-validator"] = validators[props["RequestValidatorId"]]
        body["paths"].setdefault(path_of(props["ResourceId"]), {})[
            "x-amazon-apigateway-any-method" if verb == "any" else verb] = operation
    return body


@creates("AWS::ApiGateway::Resource", handles=("RestApiId", "ParentId", "PathPart"))
def _rest_resource(d: Deployer, lid: str, props: dict) -> Resource:
    resource = d.client("apigateway").create_resource(restApiId=props["RestApiId"], parentId=props["ParentId"],
                                                      pathPart=str(props["PathPart"]))
    return Resource(lid, "AWS::ApiGateway::Resource", resource["id"], {"ResourceId": resource["id"]})


def _method_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    integration = props.get("Integration")
    if not isinstance(integration, dict):
        return [("Integration", "a method without an integration is not served")] if integration is None else []
    if str(integration.get("Type", "")).upper() == "AWS_PROXY":
        return []
    problem = _service_integration_problem(_integration_swagger(integration))
    return [(f"Integration Type {integration.get('Type')}", problem)] if problem else []


@creates("AWS::ApiGateway::Method",
         handles=("RestApiId", "ResourceId", "HttpMethod", "AuthorizationType", "AuthorizerId", "AuthorizationScopes",
                  "ApiKeyRequired", "Integration", "RequestParameters", "RequestModels", "RequestValidatorId",
                  "OperationName"),
         ignores={"MethodResponses": "the integration's own status and headers are answered (no response models)"},
         check=_method_check)
def _rest_method(d: Deployer, lid: str, props: dict) -> Resource:
    apigw = d.client("apigateway")
    verb = str(props["HttpMethod"]).upper()
    where = {"restApiId": props["RestApiId"], "resourceId": props["ResourceId"], "httpMethod": verb}
    args: dict[str, Any] = {"authorizationType": str(props.get("AuthorizationType", "NONE")).upper(),
                            "apiKeyRequired": truthy(props.get("ApiKeyRequired", False))}
    for prop, key in (("AuthorizerId", "authorizerId"), ("AuthorizationScopes", "authorizationScopes"),
                      ("RequestValidatorId", "requestValidatorId"), ("OperationName", "operationName"),
                      ("RequestModels", "requestModels")):
        if props.get(prop):
            args[key] = props[prop]
    if props.get("RequestParameters"):
        args["requestParameters"] = {k: truthy(v) for k, v in props["RequestParameters"].items()}
    apigw.put_method(**where, **args)
    integration = props.get("Integration") or {}
    if integration:
        extra = {key: cast(integration[prop]) for prop, key, cast in (
            ("RequestParameters", "requestParameters", dict), ("TimeoutInMillis", "timeoutInMillis", int),
            ("ConnectionType", "connectionType", str), ("Credentials", "credentials", str)) if prop in integration}
        apigw.put_integration(**where, type=str(integration.get("Type", "AWS_PROXY")).upper(),
                              integrationHttpMethod=str(integration.get("IntegrationHttpMethod", "POST")),
                              uri=str(integration.get("Uri", "")), **extra)
    method_id = f"{props['RestApiId']}|{props['ResourceId']}|{verb}"
    return Resource(lid, "AWS::ApiGateway::Method", method_id)


def _authorizer_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    kind = str(props.get("Type", "")).upper()
    if kind in ("TOKEN", "REQUEST", "COGNITO_USER_POOLS"):
        return []
    return [(f"Type {props.get('Type')}", "only Lambda (TOKEN, REQUEST) and Cognito user pool authorizers run locally")]


@creates("AWS::ApiGateway::Authorizer",
         handles=("RestApiId", "Name", "Type", "AuthorizerUri", "IdentitySource", "AuthorizerResultTtlInSeconds",
                  "IdentityValidationExpression", "ProviderARNs"),
         ignores={"AuthorizerCredentials": NO_IAM, "AuthType": "a label only"},
         check=_authorizer_check)
def _rest_authorizer(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=128)
    args: dict[str, Any] = {"restApiId": props["RestApiId"], "name": name, "type": str(props["Type"]).upper()}
    for prop, key in (("AuthorizerUri", "authorizerUri"), ("IdentitySource", "identitySource"),
                      ("IdentityValidationExpression", "identityValidationExpression"),
                      ("ProviderARNs", "providerARNs")):
        if props.get(prop):
            args[key] = props[prop]
    if "AuthorizerResultTtlInSeconds" in props:
        args["authorizerResultTtlInSeconds"] = int(props["AuthorizerResultTtlInSeconds"])
    authorizer = d.client("apigateway").create_authorizer(**args)
    return Resource(lid, "AWS::ApiGateway::Authorizer", authorizer["id"],
                    {"AuthorizerId": authorizer["id"], "Name": name})


@creates("AWS::ApiGateway::RequestValidator",
         handles=("RestApiId", "Name", "ValidateRequestBody", "ValidateRequestParameters"))
def _request_validator(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=128)
    validator = d.client("apigateway").create_request_validator(
        restApiId=props["RestApiId"], name=name,
        validateRequestBody=truthy(props.get("ValidateRequestBody", False)),
        validateRequestParameters=truthy(props.get("ValidateRequestParameters", False)))
    return Resource(lid, "AWS::ApiGateway::RequestValidator", validator["id"],
                    {"RequestValidatorId": validator["id"], "Name": name})


@creates("AWS::ApiGateway::Model", handles=("RestApiId", "Name", "ContentType", "Schema", "Description"))
def _model(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=128).replace("-", "")
    schema = props.get("Schema") or {}
    d.client("apigateway").create_model(restApiId=props["RestApiId"], name=name,
                                        contentType=props.get("ContentType", "application/json"),
                                        schema=json_text(schema),
                                        **({"description": props["Description"]} if props.get("Description") else {}))
    return Resource(lid, "AWS::ApiGateway::Model", name)


@creates("AWS::ApiGateway::GatewayResponse",
         handles=("RestApiId", "ResponseType", "StatusCode", "ResponseParameters", "ResponseTemplates"))
def _gateway_response(d: Deployer, lid: str, props: dict) -> Resource:
    args: dict[str, Any] = {"restApiId": props["RestApiId"], "responseType": props["ResponseType"]}
    for prop, key in (("StatusCode", "statusCode"), ("ResponseParameters", "responseParameters"),
                      ("ResponseTemplates", "responseTemplates")):
        if props.get(prop):
            args[key] = str(props[prop]) if prop == "StatusCode" else props[prop]
    d.client("apigateway").put_gateway_response(**args)
    return Resource(lid, "AWS::ApiGateway::GatewayResponse", f"{props['RestApiId']}|{props['ResponseType']}")
