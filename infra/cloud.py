"""LocalCloud: template.yaml running on this machine — emulator, Lambda runtime, API data planes, pollers, schedules."""
from __future__ import annotations

import base64
import gc
import json

import logging
import os
import threading
from pathlib import Path
from typing import Any

from api_gateway import http_proxy, request_validation, service_integrations, service_subtypes
from api_gateway.config import (
    Authorizer,
    DomainMapping,
    HttpApiConfig,
    HttpAuthorizer,
    HttpRoute,
    Limits,
    RestApiConfig,
    RestAuthorizer,
    RestRoute,
    ServiceAnswer,
    ServiceCall,
    WebSocketApiConfig,
    WebSocketRoute,
)
from api_gateway.paths import resource_path
from infra import account, async_invoke
from infra import emulator as emulator_module
from infra import faults as fault_injection
from infra import moto_patches, observability
from infra import runtime as lambda_runtime
from infra.collector import GarbageKeeper
from infra.deploy import Deployer, Stack
from infra.event_sources import PIPE, EventSources, kind_of, role_of
from infra.emulator import Emulator
from infra.runtime import LambdaRuntime
from infra.template import expand
from infra.resources.apigateway import api_key_schemes, cognito_scheme, iam_schemes, swagger_of
from infra.resources.apigatewayv2 import websocket_integration

logger = logging.getLogger("notifyx.cloud")

REGION = account.REGION
_alive_lock = threading.Lock()
_alive: LocalCloud | None = None


class CloudError(Exception):
    """The local cloud cannot start as configured."""


def function_of_uri(uri: str) -> str:
    """Function name from an API Gateway Lambda integration URI (…/functions/<function arn>/invocations).

    HTTP APIs also take the function's ARN itself.
    """
    if uri.startswith("arn:aws:lambda:") and uri.count(":") >= 6:
        return uri.split(":")[6]
    if "/functions/" not in uri:
        raise CloudError(f"integration URI {uri!r} is not a Lambda proxy integration")
    arn = uri.split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
    return arn.split(":")[6] if arn.startswith("arn:") else arn


def websocket_configs(stack: Stack) -> list[WebSocketApiConfig]:
    """The WEBSOCKET APIs of a deployed stack as data-plane configs (routes, two-way, the $connect authorizer)."""
    by_physical = {r.physical_id: r for r in stack.resources.values()}
    configs = []
    for api in stack.of_type("AWS::ApiGatewayV2::Api"):
        if api.properties.get("ProtocolType") != "WEBSOCKET":
            continue
        stages = [s.physical_id for s in stack.of_type("AWS::ApiGatewayV2::Stage")
                  if s.properties.get("ApiId") == api.physical_id]
        if not stages:
            raise CloudError(f"{api.logical_id}: WebSocket API has no AWS::ApiGatewayV2::Stage")
        two_way = {r.properties["RouteId"] for r in stack.of_type("AWS::ApiGatewayV2::RouteResponse")
                   if r.properties.get("ApiId") == api.physical_id}
        responses: dict[str, list[dict]] = {}  # an integration's integration responses
        for response in stack.of_type("AWS::ApiGatewayV2::IntegrationResponse"):
            responses.setdefault(response.properties.get("IntegrationId", ""), []).append(response.properties)
        routes = {}
        for route in stack.of_type("AWS::ApiGatewayV2::Route"):
            props = route.properties
            if props.get("ApiId") != api.physical_id:
                continue
            function, aws, selection = None, None, "$default"
            target = props.get("Target", "")
            if target:
                integration = by_physical.get(target.removeprefix("integrations/"))
                if integration is None or integration.type != "AWS::ApiGatewayV2::Integration":
                    raise CloudError(f"{route.logical_id}: Target {target} names no integration")
                iprops = integration.properties
                if iprops.get("IntegrationType") in ("AWS", "MOCK"):
                    uri = str(iprops.get("IntegrationUri", ""))
                    aws = service_integrations.integration_of(
                        websocket_integration(iprops, responses.get(integration.physical_id)),
                        function_of_uri(uri) if service_integrations.function_of(uri) else "")
                    selection = str(iprops.get("TemplateSelectionExpression") or "$default")
                else:
                    function = function_of_uri(iprops.get("IntegrationUri", ""))
            authorizer = None
            if props.get("AuthorizationType") == "CUSTOM":
                found = by_physical.get(props.get("AuthorizerId", ""))
                if found is None:
                    raise CloudError(f"{route.logical_id}: AuthorizerId names no authorizer")
                authorizer = Authorizer(function_of_uri(found.properties["AuthorizerUri"]),
                                        tuple(found.properties.get("IdentitySource", [])))
            key = props["RouteKey"]
            routes[key] = WebSocketRoute(key, function, route.physical_id in two_way, authorizer, aws, selection)
        configs.append(WebSocketApiConfig(
            api_id=api.physical_id, name=api.properties.get("Name", api.logical_id), stage=stages[0],
            route_selection_expression=api.properties.get("RouteSelectionExpression", "$request.body.action"),
            routes=routes))
    return configs


def rest_configs(stack: Stack) -> list[RestApiConfig]:
    """The REST APIs of a deployed stack (SAM's swagger bodies) as data-plane configs."""
    configs = []
    timeouts = {fn.physical_id: float(fn.properties.get("Timeout", 3)) for fn in stack.of_type("AWS::Lambda::Function")}
    for api in stack.of_type("AWS::ApiGateway::RestApi"):
        # SAM's swagger body, or what plain CloudFormation (the CDK) declares: resources, methods, authorizers...
        body = api.properties.get("Body") or swagger_of(api, list(stack.resources.values()))
        authorizers = rest_authorizers(body)
        key_schemes = api_key_schemes(body)
        signed = iam_schemes(body)
        routes = []
        for path, operations in (body.get("paths") or {}).items():
            for method, operation in operations.items():
                integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                kind = str((integration or {}).get("type", "")).lower()
                aws = None
                if kind == "http":  # non-proxy: the endpoint, with mapping templates and integration responses
                    aws = service_integrations.integration_of(integration)
                if kind == "aws":
                    uri = str(integration.get("uri", ""))
                    function = service_integrations.function_of(uri)
                    aws = service_integrations.integration_of(
                        integration, function_of_uri(uri) if function is not None else "")
                mock = service_integrations.mock_answer(integration) if kind == "mock" else None
                if kind == "mock" and mock is None:  # one that needs Velocity or the request
                    aws = service_integrations.integration_of(integration)
                proxy = http_proxy.of_integration(integration) if kind == "http_proxy" else None
                if not integration or (kind != "aws_proxy" and aws is None and mock is None and proxy is None):
                    continue     # the deploy refused other integrations
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                security = operation.get("security", body.get("security")) or []
                names = [name for requirement in security for name in requirement if name in authorizers]
                function = function_of_uri(integration["uri"]) if kind == "aws_proxy" else ""
                required = {name for requirement in security for name in requirement}
                routes.append(RestRoute(
                    verb, resource_path(path), function, authorizers[names[0]] if names else None,
                    timeouts.get(function),
                    api_key_required=bool(required & key_schemes),
                    scopes=next((tuple(r[names[0]]) for r in security if names and r.get(names[0])), ()),
                    iam=bool(required & signed), aws=aws,
                    validation=request_validation.of_operation(body, operation), mock=mock, http_proxy=proxy,
                    tenant_source=(integration.get("requestParameters") or {}).get(
                        "integration.request.header.X-Amz-Tenant-Id") if kind == "aws_proxy" else None))
        media = list(api.properties.get("BinaryMediaTypes", [])) + list(
            body.get("x-amazon-apigateway-binary-media-types", []))
        stage_resources = [s for s in stack.of_type("AWS::ApiGateway::Stage")
                           if s.properties.get("RestApiId") == api.physical_id]
        stages = [s.physical_id for s in stage_resources] or [
            d.properties["StageName"] for d in stack.of_type("AWS::ApiGateway::Deployment")
            if d.properties.get("RestApiId") == api.physical_id and d.properties.get("StageName")]
        configs.append(RestApiConfig(
            api_id=api.physical_id, stage=stages[0] if stages else "Prod", routes=tuple(routes),
            binary_media_types=tuple(dict.fromkeys(m.replace("~1", "/") for m in media)),
            throttle=_stage_throttle(stage_resources[0].properties) if stage_resources else None,
            gateway_responses=_gateway_responses(body)))
    return configs


def rest_authorizers(body: dict[str, Any]) -> dict[str, RestAuthorizer]:
    """The Lambda and Cognito user pool authorizers (x-amazon-apigateway-authorizer) of a swagger/OpenAPI body, by
    security name."""
    schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
    found = {}
    for name, scheme in schemes.items():
        spec = scheme.get("x-amazon-apigateway-authorizer") if isinstance(scheme, dict) else None
        if cognito_scheme(scheme):
            # a pool's ARN (arn:aws:cognito-idp:{region}:{account}:userpool/{id}) -> the issuer of its tokens
            issuers = tuple(f"https://cognito-idp.{arn.split(':')[3]}.amazonaws.com/{arn.rsplit('/', 1)[-1]}"
                            for arn in spec["providerARNs"])
            found[name] = RestAuthorizer(name, "", "COGNITO_USER_POOLS",
                                         (f"method.request.header.{scheme.get('name', 'Authorization')}",), 0,
                                         issuers=issuers)
            continue
        if not spec or str(spec.get("type", "")).lower() not in ("token", "request"):
            continue  # the deploy reported it (Cognito, IAM, API keys)
        kind = str(spec["type"]).upper()
        if kind == "TOKEN":
            sources = (f"method.request.header.{scheme.get('name', 'Authorization')}",)
        else:
            sources = tuple(s.strip() for s in str(spec.get("identitySource") or "").split(",") if s.strip())
        found[name] = RestAuthorizer(name, function_of_uri(spec["authorizerUri"]), kind, sources,
                                     int(spec.get("authorizerResultTtlInSeconds", 300)),
                                     spec.get("identityValidationExpression"))
    return found


def _gateway_responses(body: dict[str, Any]) -> tuple:
    """x-amazon-apigateway-gateway-responses as (type, status, application/json template, static headers)."""
    found = []
    for kind, spec in (body.get("x-amazon-apigateway-gateway-responses") or {}).items():
        status = int(spec["statusCode"]) if spec.get("statusCode") else None
        template = (spec.get("responseTemplates") or {}).get("application/json")
        headers = tuple((name.removeprefix("gatewayresponse.header."), str(value).strip("'"))
                        for name, value in (spec.get("responseParameters") or {}).items()
                        if name.startswith("gatewayresponse.header."))
        found.append((kind, status, template, headers))
    return tuple(found)


def _stage_throttle(stage: dict[str, Any]) -> tuple[float, int] | None:
    """The stage-wide ("/*", "*") ThrottlingRateLimit and ThrottlingBurstLimit of its MethodSettings."""
    for setting in stage.get("MethodSettings") or []:
        if setting.get("ResourcePath") == "/*" and setting.get("HttpMethod") == "*" \
                and "ThrottlingRateLimit" in setting:
            rate = float(setting["ThrottlingRateLimit"])
            return rate, int(setting.get("ThrottlingBurstLimit", max(1, int(rate))))
    return None


def _lower_camel(cors: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((k[0].lower() + k[1:], v) for k, v in cors.items())


def domain_mappings(stack: Stack) -> list[DomainMapping]:
    """The custom domain names' API mappings and base path mappings of a deployed stack."""
    mappings = [DomainMapping(str(m.properties["DomainName"]).lower(), str(m.properties.get("ApiMappingKey") or ""),
                              m.properties["ApiId"], m.properties["Stage"])
                for m in stack.of_type("AWS::ApiGatewayV2::ApiMapping")]
    for m in stack.of_type("AWS::ApiGateway::BasePathMapping"):
        key = str(m.properties.get("BasePath") or "")
        mappings.append(DomainMapping(str(m.properties["DomainName"]).lower(), "" if key == "(none)" else key,
                                      m.properties["RestApiId"], m.properties.get("Stage") or None))
    return mappings


def http_api_configs(stack: Stack) -> list[HttpApiConfig]:
    """The HTTP APIs of a deployed stack (an OpenAPI Body, as SAM writes, or Route/Integration resources)."""
    by_physical = {r.physical_id: r for r in stack.resources.values()}
    configs = []
    for api in stack.of_type("AWS::ApiGatewayV2::Api"):
        props = api.properties
        if "Body" not in props and props.get("ProtocolType") != "HTTP":
            continue
        stages = {s.physical_id: s for s in stack.of_type("AWS::ApiGatewayV2::Stage")
                  if s.properties.get("ApiId") == api.physical_id}
        stage = stages.get("$default") or next(iter(stages.values()), None)
        if stage is None and "Target" not in props:
            continue            # not deployed to any stage: API Gateway serves nothing
        routes = []
        body = props.get("Body") or {}
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        signed = iam_schemes(body)
        for path, operations in (body.get("paths") or {}).items():
            for method, operation in (operations or {}).items():
                integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                if not integration:
                    continue
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                authorizer, scopes = None, ()
                for requirement in operation.get("security", body.get("security", [])) or []:
                    for name, wanted in requirement.items():
                        if name in signed:
                            authorizer = HttpAuthorizer(None, type="AWS_IAM")
                            continue
                        spec = (schemes.get(name) or {}).get("x-amazon-apigateway-authorizer")
                        if spec:
                            sources = spec.get("identitySource") or []
                            if isinstance(sources, str):
                                sources = [x.strip() for x in sources.split(",") if x.strip()]
                            if str(spec.get("type", "")).lower() == "jwt":
                                jwt = spec.get("jwtConfiguration") or {}
                                authorizer = HttpAuthorizer(None, identity_sources=tuple(sources), type="JWT",
                                                            issuer=jwt.get("issuer"),
                                                            audiences=tuple(jwt.get("audience") or ()))
                                scopes = tuple(wanted or ())
                                continue
                            authorizer = HttpAuthorizer(
                                function_of_uri(spec["authorizerUri"]),
                                str(spec.get("authorizerPayloadFormatVersion", "2.0")),
                                bool(spec.get("enableSimpleResponses", False)), tuple(sources))
                timeout = float(integration.get("timeoutInMillis", 30000)) / 1000
                proxy = http_proxy.of_http_api(integration.get("httpMethod"), str(integration["uri"]), timeout,
                                               integration.get("requestParameters")) \
                    if str(integration.get("type", "")).lower() == "http_proxy" else None
                service = service_subtypes.of(integration["integrationSubtype"], integration["requestParameters"]) \
                    if integration.get("integrationSubtype") else None
                routes.append(HttpRoute(
                    "$default" if path == "$default" else f"{verb} {path}",
                    None if proxy or service else function_of_uri(integration["uri"]),
                    str(integration.get("payloadFormatVersion", "2.0")), authorizer, timeout, scopes, proxy,
                    http_proxy.response_changes(integration.get("responseParameters")),
                    () if proxy or service else http_proxy.request_changes(integration.get("requestParameters")),
                    service))
        for route in stack.of_type("AWS::ApiGatewayV2::Route"):
            rprops = route.properties
            if rprops.get("ApiId") != api.physical_id:
                continue
            function, version, timeout, proxy, changes, request_changes = None, "2.0", 30.0, None, (), ()
            service = None
            target = rprops.get("Target", "")
            if target:
                integration = by_physical.get(target.removeprefix("integrations/"))
                if integration is None or integration.type != "AWS::ApiGatewayV2::Integration":
                    raise CloudError(f"{route.logical_id}: Target {target} names no integration")
                iprops = integration.properties
                version = str(iprops.get("PayloadFormatVersion", "2.0"))
                timeout = float(iprops.get("TimeoutInMillis", 30000)) / 1000
                changes = http_proxy.response_changes(iprops.get("ResponseParameters"))
                if iprops.get("IntegrationType") == "HTTP_PROXY":
                    proxy = http_proxy.of_http_api(iprops.get("IntegrationMethod"), str(iprops["IntegrationUri"]),
                                                   timeout, iprops.get("RequestParameters"))
                elif iprops.get("IntegrationSubtype"):
                    service = service_subtypes.of(iprops["IntegrationSubtype"], iprops["RequestParameters"])
                else:
                    function = function_of_uri(iprops.get("IntegrationUri", ""))
                    request_changes = http_proxy.request_changes(iprops.get("RequestParameters"))
            authorizer = HttpAuthorizer(None, type="AWS_IAM") if rprops.get("AuthorizationType") == "AWS_IAM" \
                else None
            if rprops.get("AuthorizationType") in ("CUSTOM", "JWT"):
                found = by_physical.get(rprops.get("AuthorizerId", ""))
                if found is None:
                    raise CloudError(f"{route.logical_id}: AuthorizerId names no authorizer")
                aprops = found.properties
                sources = aprops.get("IdentitySource") or []
                sources = tuple(s.strip() for s in sources.split(",")) if isinstance(sources, str) else tuple(sources)
                if rprops["AuthorizationType"] == "JWT":
                    jwt = aprops.get("JwtConfiguration") or {}
                    authorizer = HttpAuthorizer(None, identity_sources=sources, type="JWT", issuer=jwt.get("Issuer"),
                                                audiences=tuple(jwt.get("Audience") or ()))
                else:
                    authorizer = HttpAuthorizer(
                        function_of_uri(aprops["AuthorizerUri"]),
                        str(aprops.get("AuthorizerPayloadFormatVersion", "2.0")),
                        str(aprops.get("EnableSimpleResponses", False)).lower() == "true", sources)
            routes.append(HttpRoute(rprops["RouteKey"], function, version, authorizer, timeout,
                                    tuple(rprops.get("AuthorizationScopes") or ()), proxy, changes,
                                    request_changes, service))
        if "Target" in props:   # quick create: one route to one Lambda, a $default stage
            routes.append(HttpRoute(props.get("RouteKey", "$default"), function_of_uri(props["Target"])
                                    if "/functions/" in props["Target"] else props["Target"].split(":")[6]))
        cors = props.get("CorsConfiguration")
        cors_config = _lower_camel(cors) if isinstance(cors, dict) else (
            tuple(body["x-amazon-apigateway-cors"].items()) if "x-amazon-apigateway-cors" in body else None)
        variables = (stage.properties.get("StageVariables") or {}) if stage is not None else {}
        configs.append(HttpApiConfig(
            api_id=api.physical_id, stage=stage.physical_id if stage is not None else "$default",
            routes=tuple(routes), stage_variables=tuple((k, str(v)) for k, v in variables.items()),
            cors=cors_config))
    return configs




class LocalCloud:
    """template.yaml on this machine. One per process at a time (moto's backends are process-global)."""

    def __init__(self, template: str | Path = "template.yaml", *, http_port: int = 0, ws_port: int = 0,
                 aws_port: int = 0, aws_endpoint: str | None = None, parameters: dict[str, str] | None = None,
                 static_dir: str | Path | None = "client/web", limits: Limits | None = None,
                 stack_name: str = "notifyx", sandboxes: str | None = None,
                 faults: list[str] | None = None, state_dir: str | Path | None = None, reload: bool = False) -> None:
        self.template = Path(template)
        #: run the code on disk: a change in a function's code folder or layers retires its warm sandboxes, so its
        #: next invocation starts cold with it (infra/code_watch.py); `notifyx up` turns it on
        self.reload = reload
        self.code_watch: Any = None
        #: where the state survives restarts (infra/persistence.py); None: ephemeral, as the Python API defaults
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.store: Any = None
        #: --fault specs (infra/faults.py), checked now; NOTIFYX_FAULTS adds to them at start
        self.faults = [fault_injection.parse(spec) for spec in faults or ()]
        #: how functions run: "process" (Lambda's sandboxes, the default) or "thread" (all in this process)
        self.sandboxes = sandboxes or os.environ.get("NOTIFYX_SANDBOXES") or "process"
        self.http_port = http_port
        self.ws_port = ws_port
        self.aws_port = aws_port
        self.external_endpoint = aws_endpoint
        self.parameters = dict(parameters or {})
        static = Path(static_dir) if static_dir else None
        if static is not None and not static.is_absolute():
            static = self.template.resolve().parent / static
        self.static_dir = static
        self.limits = limits or Limits()
        self.stack_name = stack_name
        self.emulator: Emulator | None = None
        self.runtime: LambdaRuntime | None = None
        self.garbage_keeper: GarbageKeeper | None = None
        self.stack: Stack | None = None
        self.websocket_gateways: list[Any] = []
        self.rest_gateway: Any = None
        self.function_url_gateways: list[Any] = []
        #: the event source mappings' and the pipes' pollers (infra/event_sources.py)
        self.event_sources: Any = None
        #: the Firehose delivery streams the local cloud delivers (infra/firehose.py)
        self.firehoses: Any = None
        self._sfn_sync: Any = None  # a Step Functions client for pipes' Express enrichments, made at the first
        self._stream_clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.scheduler: Any = None
        #: the embedded emulator's DynamoDB Time to Live sweeper (infra/ttl.py)
        self.ttl: Any = None
        #: CloudWatch metrics, X-Ray traces, alarms (infra/observability); None with NOTIFYX_OBSERVABILITY=off
        self.observability: Any = None
        self.aws_endpoint: str | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalCloud:
        """Start the emulator, deploy the template, start the data planes, pollers and schedules."""
        global _alive
        with _alive_lock:
            if _alive is not None:
                raise CloudError("a LocalCloud is already running in this process (moto's backends are global); "
                                 "stop it first")
            _alive = self
        # start-up allocates hundreds of thousands of objects that live as long as the cloud (imported modules, moto's
        # models, the deploy's resources), and CPython's automatic collections walked them again and again: with
        # them off until the end of start-up, where the GarbageKeeper collects once, `notifyx up` is ready sooner
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        finally:
            if collecting:
                gc.enable()
        return self

    def _start(self) -> None:
        fault_injection.install(self.faults)
        expanded = expand(self.template, self.parameters, region=REGION, stack_name=self.stack_name)
        if self.external_endpoint:
            self.aws_endpoint = self.external_endpoint.rstrip("/")
        else:
            self.emulator = Emulator(self.aws_port).start()
            self.aws_endpoint = self.emulator.endpoint
        self.runtime = LambdaRuntime(self.aws_endpoint, REGION, sandboxes=self.sandboxes)
        if self.emulator is not None and observability.enabled():
            self.observability = observability.Observability(REGION).start(self.runtime)
        if self.emulator is not None:
            lambda_runtime.attach_to_moto(self.runtime)
            self.runtime.log_sink = emulator_module.write_logs
            lambda_runtime.enable_fast_invoke(self.aws_endpoint)
            emulator_module.serve_in_process(self.aws_endpoint)
            moto_patches.apply_all(self.runtime)
        self._started = True
        self.stack = Deployer(expanded, self.aws_endpoint, self.runtime, parameters=self.parameters,
                              stack_name=self.stack_name, region=REGION, embedded=self.emulator is not None).deploy()
        if self.state_dir is not None:
            self._open_state()
        if self.observability is not None:
            self.observability.attach(self.stack, self.aws_endpoint)
        self._start_data_planes()
        self._start_pollers()
        self._start_schedules()
        if self.reload:
            from infra.code_watch import CodeWatcher

            self.code_watch = CodeWatcher(self.runtime, self.runtime.code_folders()).start()
        if self.emulator is not None:
            from infra.ttl import TimeToLive

            self.ttl = TimeToLive(self.client("dynamodb")).start()
        if self.store is not None:
            self._recover_after_restart()
        # what start-up built lives as long as the cloud, and the data it serves only grows: see infra/collector.py
        self.garbage_keeper = GarbageKeeper(
            lambda: sum(s["invocations"] for s in self.runtime.stats().values())).start()

    def _open_state(self) -> None:
        """Restore the state directory into the deployed resources and journal every write from now on."""
        from infra import persistence

        if self.emulator is None:
            raise CloudError("durable state is the embedded emulator's: with --aws-endpoint use --ephemeral")
        try:
            self.store = persistence.Store(self.state_dir).open()
        except persistence.StateError as exc:
            raise CloudError(str(exc)) from None

    def _recover_after_restart(self) -> None:
        """What an earlier run left unfinished: its sockets get $disconnect (1006); its Lambda asynchronous events
        are queued again; schedules tick once now."""
        store = self.store
        if store.unfinished_events:
            from infra.async_invoke import resume

            resume(self.runtime, store.unfinished_events)
            store.unfinished_events = {}
        from infra import durable

        if (store.directory / durable.STATE_FILE).exists():  # durable executions left running go on
            self.runtime.durable().resume()
        for connection_id, info in list(store.orphans.items()):
            for gateway in self.websocket_gateways:
                gateway.disconnect_orphan(connection_id, info)
            store.forget_orphan(connection_id)
        if self.scheduler is not None and any(store.restored.get(k) for k in ("items", "messages")):
            # the ticks missed while the cloud was down come as one, now (e.g. a recovery job finds the work
            # of Step Functions executions that died with the process)
            self.scheduler.catch_up()

    def _start_data_planes(self) -> None:
        from api_gateway.rest import RestGateway
        from api_gateway.websocket import WebSocketGateway

        ws_apis = websocket_configs(self.stack)
        if len(ws_apis) > 1:
            raise CloudError(f"the local cloud serves one WebSocket API; the template has {len(ws_apis)}")
        for api in ws_apis:
            invoke, watcher = self.invoke_function, None
            if self.observability is not None:  # AWS/ApiGateway metrics of the stage
                watcher = self.observability.websocket(api.api_id, api.stage)
                invoke = watcher.integration(invoke)
            gateway = WebSocketGateway(api, invoke, port=self.ws_port, limits=self.limits, aws_action=self.aws_action)
            if self.store is not None:
                gateway.session_observer = self.store.websocket_session
            gateway.start()
            if watcher is not None:
                watcher.watch(gateway)
            self.websocket_gateways.append(gateway)
        if self.websocket_gateways:
            from api_gateway import connections

            connections.install(self.websocket_gateways)
            moto_patches.apply_connections()
        self.rest_gateway = RestGateway(rest_configs(self.stack), self.invoke_function, port=self.http_port,
                                        static_dir=self.static_dir, api_key_valid=self.api_key_valid,
                                        keys=self.key_set, identities=self.iam_identity,
                                        aws_action=self.aws_action,
                                        invoke_async=lambda name, event: async_invoke.invoke_async(
                                            self.runtime, name, event))
        from api_gateway.http_api import HttpApiRouter

        self.rest_gateway.http_apis = [HttpApiRouter(api, self.invoke_function, region=REGION, keys=self.key_set,
                                                     identities=self.iam_identity, aws_action=self.aws_action)
                                       for api in http_api_configs(self.stack)]
        self.rest_gateway.domains = domain_mappings(self.stack)
        self.rest_gateway.start()
        self._start_function_urls()
        # the web page (served by the REST gateway) may open sockets; no other site's page may
        for gateway in self.websocket_gateways:
            gateway.allowed_origins.update({f"http://127.0.0.1:{self.rest_gateway.port}",
                                            f"http://localhost:{self.rest_gateway.port}"})
        # the web page learns where the APIs are (any ports) from the page's own origin
        self.rest_gateway.documents["/config.json"] = json.dumps(self.endpoints).encode()
        if self.observability is not None:  # /metrics (Prometheus) and the dashboard's data
            self.rest_gateway.live_documents.update(self.observability.documents())

    def _start_function_urls(self) -> None:
        """Each function URL on its own port (the one its FunctionUrl names): payload 2.0, like an HTTP API."""
        from api_gateway.http_api import HttpApiRouter
        from api_gateway.rest import RestGateway

        for url in self.stack.function_urls:
            cors = url["cors"]
            # AuthType AWS_IAM: a request must be SigV4-signed for the lambda service (api_gateway/sigv4.py)
            signed = HttpAuthorizer(None, type="AWS_IAM", service="lambda") if url["auth_type"] == "AWS_IAM" else None
            route = HttpRoute("$default", url["function"], "2.0", signed, 900.0,
                              streaming=url.get("invoke_mode") == "RESPONSE_STREAM")
            config = HttpApiConfig(api_id=url["function"], stage="$default", routes=(route,),
                                   cors=_lower_camel(cors) if isinstance(cors, dict) else None)
            gateway = RestGateway([], self.invoke_function, listener=url.pop("listener"), static_dir=None)
            gateway.http_apis = [HttpApiRouter(config, self.invoke_function, region=REGION,
                                               identities=self.iam_identity)]
            gateway.start()
            self.function_url_gateways.append(gateway)

    @property
    def pollers(self) -> list[Any]:
        """Every poller: the event source mappings' and the pipes' (infra/event_sources.py), started or not."""
        return self.event_sources.pollers() if self.event_sources is not None else []

    def _start_pollers(self) -> None:
        """The template's event source mappings' pollers, and its pipes'. With the embedded emulator, mappings and
        pipes created, changed, started, stopped or deleted while the cloud runs start, change and stop theirs
        (infra/event_sources.py); against another endpoint (LocalStack) that endpoint runs the pipes."""
        self.event_sources = EventSources(self._poller, self._queue_url,
                                          lambda function: role_of(self.client("lambda"), function))
        for source in self.stack.sqs_sources + self.stack.stream_sources:
            kind = kind_of(source.get("queue_arn") or source["stream_arn"])
            self.event_sources.add(source["mapping"], self._poller(kind, source)).start()
        if self.emulator is None:
            return
        for pipe in self.stack.pipes:
            self.event_sources.add(PIPE + pipe["name"], self._poller("pipe", pipe)).start()
        moto_patches.attach_event_sources(self.event_sources)
        self._start_firehoses()

    def _start_firehoses(self) -> None:
        """The template's Firehose delivery streams to S3 (infra/firehose.py): PutRecord(Batch) buffers there, a
        Kinesis source is read by a stream poller."""
        if not self.stack.firehoses:
            return
        from infra.firehose import DeliveryStream, FirehoseSpec, Firehoses

        s3 = self.client("s3")
        streams = [DeliveryStream(FirehoseSpec(**spec), lambda bucket, key, data: s3.put_object(
            Bucket=bucket, Key=key, Body=data), self.invoke_function, REGION) for spec in self.stack.firehoses]
        self.firehoses = Firehoses(streams).start()
        moto_patches.attach_firehoses(self.firehoses)
        for stream in streams:
            if stream.spec.source_stream:
                def put(_: str, event: dict, name: str = stream.spec.name) -> None:
                    self.firehoses.put(name, [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]])
                source = {"function": stream.spec.name, "stream_arn": stream.spec.source_stream, "batch_size": 500}
                self.event_sources.add("firehose:" + stream.spec.name,
                                       self._poller("kinesis", source, put)).start()

    def _express_output(self, state_machine: str, value: Any) -> Any:
        """The output of an Express state machine's synchronous execution of `value` (a pipe's enrichment); raises
        when it did not succeed (the batch fails, and its source retries it)."""
        from botocore.config import Config

        if self._sfn_sync is None:  # StartSyncExecution's host prefix (sync-) names no local host
            self._sfn_sync = self.client("stepfunctions", config=Config(inject_host_prefix=False))
        answer = self._sfn_sync.start_sync_execution(stateMachineArn=state_machine, input=json.dumps(value))
        if answer["status"] != "SUCCEEDED":
            raise RuntimeError(f"the enrichment {state_machine} ended {answer['status']}: {answer.get('error')}")
        return json.loads(answer["output"])

    def _poller(self, kind: str, spec: dict[str, Any], invoke: Any = None) -> Any:
        """The (unstarted) poller of an event source mapping of kind "sqs", "dynamodb" or "kinesis" (the spec's
        keywords), or of a pipe (kind "pipe", infra.pipes.PipeSpec's keywords), which runs the pipe's batches."""
        if kind == "pipe":
            from infra.pipes import PipeRunner, PipeSpec

            pipe = PipeSpec(**spec)
            events = self.client("events")
            runner = PipeRunner(pipe, self.invoke_function, moto_patches.deliver_to,
                                lambda entries: events.put_events(Entries=entries), self._express_output)
            source = pipe.source.get("queue_arn") or pipe.source["stream_arn"]
            return self._poller(kind_of(source), pipe.source, runner.run)
        invoke = invoke or self.invoke_function
        if kind == "sqs":
            import boto3

            from botocore.config import Config

            from infra.pollers import SqsEventSource, SqsEventSourceSpec

            # one connection per handler in flight, each poller's receive and delete included
            sqs = boto3.client("sqs", endpoint_url=self.aws_endpoint, region_name=REGION, **account.KEYS,
                               config=Config(max_pool_connections=(spec.get("maximum_concurrency") or 10) + 4))
            return SqsEventSource(SqsEventSourceSpec(**spec), invoke, sqs)
        from infra.stream_pollers import DynamoDbStreamSource, KinesisStreamSource, StreamEventSourceSpec

        service = "kinesis" if kind == "kinesis" else "dynamodbstreams"
        return (KinesisStreamSource if kind == "kinesis" else DynamoDbStreamSource)(
            StreamEventSourceSpec(**spec), invoke, self._stream_client(service), REGION,
            send=lambda arn, text: async_invoke.send(self.runtime, arn, text))

    def _stream_client(self, service: str) -> Any:
        with self._clients_lock:
            if service not in self._stream_clients:
                self._stream_clients[service] = self.client(service)
            return self._stream_clients[service]

    def _queue_url(self, queue_arn: str) -> str:
        return self.client("sqs").get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]

    def _start_schedules(self) -> None:
        """The schedule rules' clock, and with the embedded emulator EventBridge Scheduler's schedules: the
        template's and each one created, updated or deleted while the cloud runs."""
        from infra import moto_patches
        from infra.schedules import Scheduler, ScheduleSpec

        specs = [ScheduleSpec(**s) for s in self.stack.schedules]
        if self.emulator is not None:
            specs += [ScheduleSpec(**s) for s in moto_patches.scheduler_specs()]
        elif not specs:
            return
        self.scheduler = Scheduler(specs, self.invoke_function, send=moto_patches.deliver_scheduled_event)
        if self.emulator is not None:
            moto_patches.attach_scheduler(self.scheduler)
        self.scheduler.start()

    def stop(self) -> None:
        """Stop everything (WebSockets get $disconnect) and reset the emulator; safe to call twice."""
        global _alive
        for what, stop in self._stoppers():
            try:
                stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest; the first failure is logged
                logger.exception("stopping %s failed", what)
        GarbageKeeper.release()
        self.websocket_gateways, self.rest_gateway, self.scheduler = [], None, None
        self.event_sources, self._stream_clients = None, {}
        self.function_url_gateways = []
        fault_injection.clear()
        with _alive_lock:
            if _alive is self:
                _alive = None
        self._started = False

    def _stoppers(self) -> list[tuple[str, Any]]:
        steps: list[tuple[str, Any]] = []
        if self.code_watch is not None:
            steps.append(("code watch", self.code_watch.stop))
            self.code_watch = None
        if self.garbage_keeper is not None:
            steps.append(("garbage keeper", self.garbage_keeper.stop))
            self.garbage_keeper = None
        if self.observability is not None:
            steps.append(("observability", self.observability.stop))
            self.observability = None
        if self.ttl is not None:
            steps.append(("time to live", self.ttl.stop))
            self.ttl = None
        if self.scheduler is not None:
            from infra.moto_patches import attach_scheduler

            scheduler = self.scheduler
            steps.append(("scheduler", lambda: (attach_scheduler(None), scheduler.stop())))
        if self.event_sources is not None:
            event_sources = self.event_sources
            steps.append(("event source mappings",
                          lambda: (moto_patches.attach_event_sources(None), event_sources.stop())))
        if self.firehoses is not None:
            firehoses, self.firehoses = self.firehoses, None
            steps.append(("firehose", lambda: (moto_patches.attach_firehoses(None), firehoses.stop())))
        steps += [("websocket gateway", g.stop) for g in self.websocket_gateways]
        if self.websocket_gateways:
            from api_gateway import connections

            steps.append(("@connections", connections.uninstall))
            steps.append(("@connections patches", moto_patches.revert_connections))
        steps += [("function url", g.stop) for g in self.function_url_gateways]
        steps += [("function url router", r.close) for g in self.function_url_gateways for r in g.http_apis]
        if self.rest_gateway is not None:
            steps.append(("rest gateway", self.rest_gateway.stop))
            steps += [("http api", router.close) for router in self.rest_gateway.http_apis]
        if self.store is not None:
            steps.append(("durable state", self.store.close))
            self.store = None
        if self.runtime is not None:
            steps.append(("lambda runtime", self.runtime.close))
        if self.stack is not None:
            steps.append(("the deploy's scratch folders and unserved sockets", self.stack.remove_scratch))
        if self.emulator is not None:
            emulator = self.emulator

            def stop_emulator() -> None:
                lambda_runtime.disable_fast_invoke()
                emulator_module.stop_serving_in_process()
                moto_patches.revert_all()
                lambda_runtime.attach_to_moto(None)
                emulator.stop()

            steps.append(("emulator", stop_emulator))
            self.emulator = None
        return steps

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ use
    @property
    def endpoints(self) -> dict[str, str]:
        """PROTOCOL.md's endpoints: http_api, websocket_api, aws_endpoint, region, client, dashboard."""
        if self.stack is None:
            raise CloudError("the local cloud is not started")
        result = {"aws_endpoint": self.aws_endpoint, "region": REGION}
        if self.rest_gateway is not None:
            rest = rest_configs(self.stack)
            base = f"http://127.0.0.1:{self.rest_gateway.port}"
            static = self.rest_gateway.static_dir
            # the web page and dashboard only when the static folder has them (a user's own app has neither)
            if static is not None and (static / "index.html").is_file():
                result["client"] = f"{base}/"
            if static is not None and (static / "dashboard.html").is_file():
                result["dashboard"] = f"{base}/dashboard"
            # only an API the template has: its first REST API stage, else its first HTTP API stage
            if rest:
                result["http_api"] = f"{base}/{rest[0].stage}"
            elif self.rest_gateway.http_apis:
                result["http_api"] = base + self.rest_gateway.http_apis[0].base_path
        if self.websocket_gateways:
            gateway = self.websocket_gateways[0]
            result["websocket_api"] = f"ws://127.0.0.1:{gateway.port}/{gateway.api.stage}"
        return {k: result[k] for k in ("http_api", "websocket_api", "aws_endpoint", "region", "client", "dashboard")
                if k in result}

    #: botocore's name of each service an AWS integration may call, by the name its integration URI uses

    def aws_action(self, call: ServiceCall) -> tuple[int, bytes]:
        """A REST API's AWS integration calling a service of the emulator, as the integration sends it, signed as
        botocore signs: a JSON-protocol service gets the mapped request as its body (the target and content type
        from botocore's model of the service); SNS, SES and SQS in the query protocol a form post (a path override's
        path; an action's Action and mapped query strings in the URL), whose XML answer comes back as JSON, as AWS's
        query services answer a client that accepts JSON ({"PublishResponse": {"PublishResult": {...},
        "ResponseMetadata": {...}}}); S3 (API Gateway's S3 proxy) the integration's httpMethod on the path, the body
        and the answer as they are. The service's status and body (a ServiceAnswer, with the answer's headers)."""
        import urllib.error
        import urllib.parse
        import urllib.request

        from botocore.auth import S3SigV4Auth, SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        kind = service_integrations.protocol(call.service)
        query = kind == "query"
        url, body, method = self.aws_endpoint, call.body, "POST"
        headers = dict(call.headers)
        if kind == "rest":  # S3: path-style, the bucket and key in the path
            url = f"{self.aws_endpoint}/{call.path.lstrip('/')}"
            if call.querystring:
                url += "?" + urllib.parse.urlencode(list(call.querystring))
            method = call.method if call.method != "ANY" else "GET"
            body = body if method in ("PUT", "POST") else b""
            headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            signing_name = "s3"
        elif query:
            url = f"{self.aws_endpoint}/{call.path.lstrip('/')}"
            fields = ([("Action", call.action)] if call.action else []) + list(call.querystring)
            if fields:
                url += "?" + urllib.parse.urlencode(fields)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            # botocore's signing name (SES's integration URIs say "email", SES signs as "ses")
            signing_name = {"email": "ses"}.get(call.service, call.service)
        else:
            try:
                # a string the service cannot hold (a lone surrogate: not UTF-8) is the client's error too
                json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
            except (ValueError, RecursionError):
                # what the JSON protocol answers a body that is not JSON (moto's server answered a 500 page): a
                # mapping template's \' (escapeJavaScript of an apostrophe) makes one
                return 400, json.dumps({"__type": "com.amazon.coral.service#SerializationException",
                                        "Message": None}).encode()
            models = self.__dict__.setdefault("_action_models", {})  # a client's model per service, made once
            if call.service not in models:
                models[call.service] = self.client(
                    service_integrations.BOTOCORE_NAMES.get(call.service, call.service)).meta.service_model
            model = models[call.service]
            headers = {"Content-Type": f"application/x-amz-json-{model.metadata['jsonVersion']}",
                       "X-Amz-Target": f"{model.metadata['targetPrefix']}.{call.action}", **headers}
            signing_name = model.signing_name
        signed = AWSRequest(method=method, url=url, data=body, headers=headers)
        if kind == "rest":
            signed.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
        (S3SigV4Auth if kind == "rest" else SigV4Auth)(
            Credentials(account.KEYS["aws_access_key_id"], account.KEYS["aws_secret_access_key"]),
            signing_name, REGION).add_auth(signed)
        request = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method,
                                         headers=dict(signed.headers.items()))
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, text, answered = answer.status, answer.read(), dict(answer.headers.items())
        except urllib.error.HTTPError as refused:
            status, text, answered = refused.code, refused.read(), dict(refused.headers.items())
        head = text.lstrip()[:9].lower()
        if status >= 500 and (head[:1] not in (b"{", b"<") or head.startswith((b"<!doctype", b"<html"))):
            # the emulator failed on the request (moto's server answers its HTML error page): the service's own
            # failure, never a page of the emulator's internals
            status, answered = 500, {"Content-Type": "application/json"}
            text = json.dumps({"__type": "InternalFailure", "message": "The request processing has failed."}).encode()
            query = False
        return status, ServiceAnswer.of_answer(service_integrations.query_answer_as_json(text) if query else text,
                                               answered)

    def iam_identity(self, access_key: str) -> dict | None:
        """The IAM user of an access key that signed a request to an AWS_IAM method, when the embedded emulator's IAM
        issued it (None otherwise: IAM is not enforced locally, the request is served all the same)."""
        return moto_patches.iam_identity(access_key) if self.emulator is not None else None

    def key_set(self, issuer: str) -> dict | None:
        """The key set that signs `issuer`'s tokens, for the gateways' JWT and Cognito user pool authorizers: a user
        pool of the embedded emulator from the emulator (its issuer, https://cognito-idp.{region}.amazonaws.com/{id},
        is not reachable); any other issuer's from its OpenID configuration, as API Gateway finds it."""
        from api_gateway import tokens

        if self.emulator is not None:
            found = moto_patches.cognito_key_set(issuer)
            if found is not None:
                return found
        return tokens.discovered_key_set(issuer)

    def api_key_valid(self, api_id: str, stage: str, value: str) -> bool:
        """Whether `value` is an enabled API key of a usage plan that has the stage (API Gateway's check of a method
        that requires a key), asked of the emulator, so keys and plans made at run time count at once."""
        if self.emulator is not None:
            return moto_patches.api_key_valid(api_id, stage, value)
        apigw = self._key_client = getattr(self, "_key_client", None) or self.client("apigateway")
        for key in apigw.get_api_keys(includeValues=True, limit=500).get("items", []):
            if key.get("value") != value or not key.get("enabled"):
                continue
            for plan in apigw.get_usage_plans(keyId=key["id"], limit=500).get("items", []):
                if any(s.get("apiId") == api_id and s.get("stage") == stage for s in plan.get("apiStages", [])):
                    return True
        return False

    def invoke_function(self, name: str, event: dict, stream: Any = None, tenant_id: str | None = None) -> Any:
        """Run a deployed function by physical name or ARN (what the data planes and pollers call); `stream`: a
        function URL's sink for a streamed response (api_gateway/streaming.py); `tenant_id`: the tenant a
        tenant-isolated function runs for (a REST method's mapped X-Amz-Tenant-Id)."""
        return self.runtime.invoke(name, event, stream=stream, tenant_id=tenant_id)

    def invoke(self, logical_or_name: str, event: dict) -> Any:
        """Run a function by logical id or physical name; raises runtime.FunctionError on a function error."""
        if self.stack is None or self.runtime is None:
            raise CloudError("the local cloud is not started")
        return self.runtime.invoke(self.stack.function_name(logical_or_name), event)

    def physical_id(self, logical_id: str) -> str:
        """The deployed name (Ref value) of a resource."""
        if self.stack is None:
            raise CloudError("the local cloud is not started")
        try:
            return self.stack.resources[logical_id].physical_id
        except KeyError:
            raise KeyError(f"no resource {logical_id} in {self.template}") from None

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client of this cloud's AWS endpoint."""
        import boto3

        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name=REGION,
                            **account.KEYS, **kwargs)
