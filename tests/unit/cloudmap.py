"""What template.yaml puts around the functions, for unit tests (inside ``mock_aws``):

- ``register_services(monkeypatch, handlers)``: the Cloud Map namespace, its services and their instances, read
  from the template's AWS::ServiceDiscovery resources, and the BreakersTable; each instance's FUNCTION_ARN is
  ``notifyx-<LogicalId>`` as the local cloud names functions, answered by ``handlers`` in this process;
- ``api_gateway_authorizer``: Chalice's test client with the template's REST TOKEN authorizer in front of every
  route that has it, run through the local cloud's own authorizer logic (api_gateway/rest_authorizers.py) with
  the real auth.authorizer handler, so routes see ``requestContext.authorizer`` as on API Gateway.
"""
from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import boto3

from api_gateway import rest_authorizers
from infra import moto_patches

from lambdas import InProcessLambda
from tables import create_tables, physical_name, template

NAMESPACE = "notifyx.internal"


def _value(value, ids: dict[str, str]):
    """A template attribute value with the intrinsics the instances use resolved as the local cloud would."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return physical_name(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        if name == "AWS::Region":
            return "us-east-1"
        if name in ids:
            return ids[name]
        if name in template()["Parameters"]:
            return str(template()["Parameters"][name]["Default"])
        resource = template()["Resources"][name]
        if resource["Type"] == "AWS::SES::EmailIdentity":
            return _value(resource["Properties"]["EmailIdentity"], ids)
        raise ValueError(f"cannot resolve Ref {name}")
    return str(value)


def register_services(monkeypatch, handlers: dict[str, object]) -> InProcessLambda:
    """Cloud Map and the BreakersTable as the template declares them; {logical id: handler} answer invokes."""
    from core import breakers, discovery, services

    sd = boto3.client("servicediscovery")
    operation = sd.create_http_namespace(Name=NAMESPACE)["OperationId"]
    namespace_id = sd.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    monkeypatch.setenv("SERVICE_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("SERVICE_NAMESPACE_ID", namespace_id)
    resources = template()["Resources"]
    ids: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::ServiceDiscovery::Service":
            ids[logical_id] = sd.create_service(Name=resource["Properties"]["Name"], NamespaceId=namespace_id,
                                                HealthCheckCustomConfig={"FailureThreshold": 1})["Service"]["Id"]
    for resource in resources.values():
        if resource["Type"] == "AWS::ServiceDiscovery::Instance":
            props = resource["Properties"]
            sd.register_instance(ServiceId=ids[props["ServiceId"]["Ref"]], InstanceId=props["InstanceId"],
                                 Attributes={k: _value(v, ids) for k, v in props["InstanceAttributes"].items()})
    create_tables(monkeypatch, "BreakersTable")
    discovery.forget()
    breakers.forget()
    lam = InProcessLambda({physical_name(logical_id): handler for logical_id, handler in handlers.items()})
    monkeypatch.setattr(services, "_lambda", lambda: lam)
    return lam


def service_ids() -> dict[str, str]:
    """Cloud Map service name -> id (of the namespace register_services made)."""
    sd = boto3.client("servicediscovery")
    return {s["Name"]: s["Id"] for s in sd.list_services()["Services"]}


# --------------------------------------------------------------------------- the REST API's Lambda authorizer
def _authorized_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of the template's Api events the default authorizer guards (not Auth: {Authorizer: NONE})."""
    found = set()
    for resource in template()["Resources"].values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            props = event.get("Properties", {})
            if event.get("Type") == "Api" and (props.get("Auth") or {}).get("Authorizer") != "NONE":
                found.add((props["Method"].upper(), props["Path"]))
    return found


#: what Lambda hands the authorizer besides the event
CONTEXT = SimpleNamespace(function_name="notifyx-AuthAuthorizer", function_version="$LATEST",
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:notifyx-AuthAuthorizer",
                          memory_limit_in_mb=256, aws_request_id="unit-test", log_group_name="", log_stream_name="",
                          get_remaining_time_in_millis=lambda: 5000)


API_ID, STAGE = "unitapi", "local"


def install_authorizer(monkeypatch) -> Iterator[rest_authorizers.AuthorizerCache]:
    """Chalice's test client runs API Gateway's TOKEN authorizer, with its result cache, before each authorized
    route (a generator: the fixture's setup and teardown)."""
    import chalice.local as local

    from api_gateway.config import RestAuthorizer
    from api_gateway.rest import RestGateway

    properties = template()["Resources"]["HttpApi"]["Properties"]
    api = properties["Auth"]
    header = api["Authorizers"][api["DefaultAuthorizer"]]["Identity"]["Header"]
    ttl = api["Authorizers"][api["DefaultAuthorizer"]]["Identity"]["ReauthorizeEvery"]
    ttl = int(template()["Parameters"][ttl["Ref"]]["Default"]) if isinstance(ttl, dict) else int(ttl)
    spec = RestAuthorizer(api["DefaultAuthorizer"], "notifyx-AuthAuthorizer", "TOKEN",
                          (f"method.request.header.{header}",), ttl=ttl)
    # API Gateway's result cache, flushed by FlushStageAuthorizersCache (moto answers it through the same patch
    # as in the local cloud)
    cache = rest_authorizers.AuthorizerCache()
    rest_authorizers.register(API_ID, STAGE, cache)
    flush = moto_patches.patch("apigateway-flush-authorizers-cache")
    flush.apply()
    responses = {kind: (response.get("StatusCode"), response.get("ResponseTemplates", {}).get("application/json"), ())
                 for kind, response in properties.get("GatewayResponses", {}).items()}
    guarded = _authorized_routes()

    def authorize(self, raw_path, lambda_event, lambda_context):
        context = lambda_event["requestContext"]
        context.update(apiId=API_ID, stage=STAGE)
        method, resource = context["httpMethod"], context["resourcePath"]
        if (method, resource) not in guarded:
            return lambda_event, lambda_context
        from auth import authorizer as token_authorizer  # its models read their tables' names when imported
        headers = {k.lower(): v for k, v in (lambda_event.get("headers") or {}).items()}
        decision = rest_authorizers.authorize(
            spec, lambda _, event: token_authorizer.handler(event, CONTEXT), cache, api_id=API_ID, stage=STAGE,
            method_arn=f"arn:aws:execute-api:us-east-1:123456789012:{API_ID}/{STAGE}/{method}{raw_path}",
            headers=headers, query={}, request_event=lambda_event)
        if decision.refusal is not None:
            status, headers, body = RestGateway._gateway_response(responses, decision.refusal[3], *decision.refusal[:3],
                                                                  "request")
            error = local.NotAuthorizedError if status == 401 else local.ForbiddenError
            raise error(dict(headers), body)
        context["authorizer"] = decision.context
        return lambda_event, lambda_context

    monkeypatch.setattr(local.LocalGatewayAuthorizer, "authorize", authorize)
    yield cache
    flush.revert()
    rest_authorizers.unregister(cache)
