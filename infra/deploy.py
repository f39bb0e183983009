"""Create an expanded template's resources in an AWS endpoint (the emulator or LocalStack), in dependency order."""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from infra.runtime import FunctionSpec, LambdaRuntime
from infra.template import ExpandedTemplate, TemplateError

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class DeployError(Exception):
    """A resource could not be created; the message names its logical id."""


@dataclass
class Resource:
    """One deployed resource: its Ref value (physical id) and its Fn::GetAtt attributes."""

    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    """What a deploy produced: resources by logical id, the parameter values used, the outputs."""

    name: str
    region: str
    account_id: str
    resources: dict[str, Resource] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    #: keyword arguments of infra.pollers.SqsEventSourceSpec, one per SQS event source mapping
    sqs_sources: list[dict[str, Any]] = field(default_factory=list)
    #: keyword arguments of infra.schedules.ScheduleSpec, one per (rule, Lambda target)
    schedules: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Resource]:
        """Resources of one CloudFormation type, in template order."""
        return [r for r in self.resources.values() if r.type == type_]

    def function_name(self, logical_or_name: str) -> str:
        """The deployed function name for a logical id (or a name already physical)."""
        res = self.resources.get(logical_or_name)
        return res.physical_id if res is not None and res.type == "AWS::Lambda::Function" else logical_or_name


_PSEUDO = ("AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix",
           "AWS::NoValue", "AWS::StackId", "AWS::NotificationARNs")
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def _numeric(value: Any) -> int:
    return int(float(value))


class Deployer:
    """Deploys one expanded template into one endpoint; handlers are registered with `runtime`, never imported."""

    def __init__(self, expanded: ExpandedTemplate, endpoint: str, runtime: LambdaRuntime | None = None, *,
                 parameters: dict[str, str] | None = None, stack_name: str = "notifyx", region: str = REGION,
                 account_id: str = ACCOUNT_ID, embedded: bool = True) -> None:
        self.template = expanded.template
        self.expanded = expanded
        self.endpoint = endpoint
        self.runtime = runtime
        self.embedded = embedded
        self.stack = Stack(stack_name, region, account_id)
        self.stack.parameters = self._parameter_values(parameters or {})
        self._clients: dict[str, Any] = {}
        self._zips: dict[Path, bytes] = {}

    # ------------------------------------------------------------------ plumbing
    def client(self, service: str) -> Any:
        """A boto3 client of the target endpoint."""
        if service not in self._clients:
            client = boto3.client(
                service, endpoint_url=None if self.embedded else self.endpoint, region_name=self.stack.region,
                aws_access_key_id="testing", aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 2}, inject_host_prefix=False))
            if self.embedded:
                # the emulator runs in this process: hand requests to moto's backends directly (no HTTP; the
                # deploy is several times faster). The server answering on the endpoint shares these backends.
                from moto.core.botocore_stubber import BotocoreStubber

                stubber = BotocoreStubber()
                stubber.enabled = True
                client.meta.events.register("before-send", stubber)
            self._clients[service] = client
        return self._clients[service]

    def _parameter_values(self, overrides: dict[str, str]) -> dict[str, str]:
        declared = self.template.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        values = {}
        for name, spec in declared.items():
            if name in overrides:
                value = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default and no value was given")
            value = str(value)
            if spec.get("Type") == "Number":
                try:
                    number = float(value)
                except ValueError:
                    raise TemplateError(f"parameter {name} must be a number, got {value!r}") from None
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    raise TemplateError(f"parameter {name}={value} is below MinValue {spec['MinValue']}")
                if "MaxValue" in spec and number > float(spec["MaxValue"]):
                    raise TemplateError(f"parameter {name}={value} is above MaxValue {spec['MaxValue']}")
            if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
                raise TemplateError(f"parameter {name}={value} is not one of {spec['AllowedValues']}")
            values[name] = value
        return values

    def _pseudo(self, name: str) -> Any:
        s = self.stack
        return {"AWS::Region": s.region, "AWS::AccountId": s.account_id, "AWS::StackName": s.name,
                "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None,
                "AWS::NotificationARNs": [],
                "AWS::StackId": f"arn:aws:cloudformation:{s.region}:{s.account_id}:stack/{s.name}/local"}[name]

    # ------------------------------------------------------------------ intrinsics
    def resolve(self, value: Any, where: str) -> Any:
        """Evaluate the intrinsic functions in `value`; `where` (a logical id) names the culprit in errors."""
        if isinstance(value, list):
            return [v for v in (self.resolve(v, where) for v in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key == "Fn::GetAtt":
                if isinstance(arg, str):
                    arg = arg.split(".", 1)
                return self._get_att(arg[0], self.resolve(arg[1], where), where)
            if key == "Fn::Sub":
                return self._sub(arg, where)
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(v) for v in self.resolve(items, where))
            if key == "Fn::Select":
                index, items = self.resolve(arg, where)
                return items[int(index)]
            if key == "Fn::Split":
                delimiter, text = self.resolve(arg, where)
                return text.split(delimiter)
            if key == "Fn::GetAZs":
                return [f"{self.stack.region}{z}" for z in "abc"]
            if key == "Fn::Base64":
                import base64
                return base64.b64encode(str(self.resolve(arg, where)).encode()).decode()
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg, where))
            if key.startswith("Fn::") or key == "Condition":
                raise DeployError(f"{where}: intrinsic function {key} is not supported by the local cloud")
        return {k: v for k, v in ((k, self.resolve(v, where)) for k, v in value.items()) if v is not None}

    def _ref(self, name: str, where: str) -> Any:
        if name in self.stack.parameters:
            return self.stack.parameters[name]
        if name in _PSEUDO:
            return self._pseudo(name)
        if name in self.stack.resources:
            return self.stack.resources[name].physical_id
        raise DeployError(f"{where}: Ref to unknown or not yet created resource {name}")

    def _get_att(self, logical_id: str, attr: str, where: str) -> Any:
        res = self.stack.resources.get(logical_id)
        if res is None:
            raise DeployError(f"{where}: Fn::GetAtt of unknown resource {logical_id}")
        if attr not in res.attributes:
            raise DeployError(f"{where}: Fn::GetAtt {logical_id}.{attr} is not available for {res.type} "
                              f"(have {', '.join(sorted(res.attributes)) or 'none'})")
        return res.attributes[attr]

    def _sub(self, arg: Any, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1], where))

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.stack.resources:
                logical_id, attr = name.split(".", 1)
                return str(self._get_att(logical_id, attr, where))
            return str(self._ref(name, where))

        return _SUB_VAR.sub(one, text).replace("${!", "${")

    # ------------------------------------------------------------------ ordering
    def _dependencies(self, logical_id: str, res: dict) -> set[str]:
        found: set[str] = set()
        resources = self.template["Resources"]

        def walk(value: Any) -> None:
            if isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, dict):
                for key, arg in value.items():
                    if key == "Ref" and isinstance(arg, str) and arg in resources:
                        found.add(arg)
                    elif key == "Fn::GetAtt":
                        target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
                        found.add(target)
                    elif key == "Fn::Sub":
                        text = arg if isinstance(arg, str) else arg[0]
                        for name in _SUB_VAR.findall(text):
                            if name.split(".", 1)[0] in resources:
                                found.add(name.split(".", 1)[0])
                        if not isinstance(arg, str):
                            walk(arg[1])
                    else:
                        walk(arg)

        walk(res.get("Properties", {}))
        depends = res.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        machine = self.expanded.state_machine_files.get(logical_id)
        if machine:
            walk(machine[1])
        missing = found - set(resources)
        if missing:
            raise DeployError(f"{logical_id}: depends on unknown resource(s) {', '.join(sorted(missing))}")
        return found

    def order(self) -> list[str]:
        """Logical ids in an order where every resource comes after what it references."""
        resources = self.template["Resources"]
        deps = {lid: self._dependencies(lid, res) for lid, res in resources.items()}
        ordered: list[str] = []
        state: dict[str, int] = {}

        def visit(lid: str, path: list[str]) -> None:
            if state.get(lid) == 2:
                return
            if state.get(lid) == 1:
                raise DeployError(f"circular dependency: {' -> '.join(path + [lid])}")
            state[lid] = 1
            for dep in sorted(deps[lid]):
                visit(dep, path + [lid])
            state[lid] = 2
            ordered.append(lid)

        for lid in resources:
            visit(lid, [])
        return ordered

    # ------------------------------------------------------------------ deploy
    def deploy(self) -> Stack:
        """Create every resource; returns the Stack. Unsupported types fail before anything is created."""
        resources = self.template["Resources"]
        for lid, res in resources.items():
            if res["Type"] not in _CREATORS:
                raise DeployError(f"{lid}: resource type {res['Type']} is not supported by the local cloud")
            if "Condition" in res:
                raise DeployError(f"{lid}: resource Conditions are not supported by the local cloud")
        for lid in self.order():
            res = resources[lid]
            props = self.resolve(res.get("Properties", {}), lid)
            try:
                created = _CREATORS[res["Type"]](self, lid, props)
            except DeployError:
                raise
            except Exception as exc:
                raise DeployError(f"{lid} ({res['Type']}): {exc}") from exc
            created.properties = props
            self.stack.resources[lid] = created
        for name, output in (self.template.get("Outputs") or {}).items():
            self.stack.outputs[name] = self.resolve(output.get("Value"), f"Outputs.{name}")
        return self.stack

    def name_for(self, lid: str, props: dict, key: str, *, lower: bool = False, limit: int = 64) -> str:
        """The resource's given name, else `<stack>-<LogicalId>`."""
        if props.get(key):
            return str(props[key])
        name = f"{self.stack.name}-{lid}"[:limit]
        return name.lower() if lower else name

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """An ARN in this stack's account (and region)."""
        return f"arn:aws:{service}:{self.stack.region if region else ''}:{self.stack.account_id}:{resource}"

    def code_zip(self, code_dir: Path) -> bytes:
        """A zip of the function's code directory (built once per directory)."""
        if code_dir not in self._zips:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                for path in sorted(code_dir.rglob("*")):
                    if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                        archive.write(path, path.relative_to(code_dir).as_posix())
            self._zips[code_dir] = buf.getvalue()
        return self._zips[code_dir]


# ---------------------------------------------------------------------- creators, one per resource type
Creator = Callable[[Deployer, str, dict], Resource]
_CREATORS: dict[str, Creator] = {}


def creates(type_: str) -> Callable[[Creator], Creator]:
    """Register the function that creates resources of `type_`."""
    def register(fn: Creator) -> Creator:
        _CREATORS[type_] = fn
        return fn
    return register


def supported_types() -> list[str]:
    """Every resource type the local cloud can deploy."""
    return sorted(_CREATORS)


def _pick(props: dict, *keys: str) -> dict:
    return {k: props[k] for k in keys if k in props}


@creates("AWS::DynamoDB::Table")
def _table(d: Deployer, lid: str, props: dict) -> Resource:
    ddb = d.client("dynamodb")
    name = d.name_for(lid, props, "TableName", limit=255)
    args = _pick(props, "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "SSESpecification", "Tags")
    args["BillingMode"] = props.get("BillingMode", "PROVISIONED")
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = {k: _numeric(v) for k, v in props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}).items()}
    if props.get("GlobalSecondaryIndexes"):
        indexes = []
        for index in props["GlobalSecondaryIndexes"]:
            index = dict(index)
            if args["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in index:
                index["ProvisionedThroughput"] = args["ProvisionedThroughput"]
            indexes.append(index)
        args["GlobalSecondaryIndexes"] = indexes
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    table = ddb.create_table(TableName=name, **args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled") in (True, "true", "True"):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})
    attrs = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attrs["StreamArn"] = table["LatestStreamArn"]
    return Resource(lid, "AWS::DynamoDB::Table", name, attrs)


_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                     "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "KmsMasterKeyId",
                     "KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit",
                     "SqsManagedSseEnabled")


@creates("AWS::SQS::Queue")
def _queue(d: Deployer, lid: str, props: dict) -> Resource:
    sqs = d.client("sqs")
    fifo = str(props.get("FifoQueue", "")).lower() == "true"
    name = d.name_for(lid, props, "QueueName", limit=75 if fifo else 80)
    if fifo and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {k: str(v).lower() if isinstance(v, bool) else str(v)
                  for k, v in props.items() if k in _QUEUE_ATTRIBUTES}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            policy = props[key]
            if isinstance(policy, dict) and "maxReceiveCount" in policy:
                policy = {**policy, "maxReceiveCount": _numeric(policy["maxReceiveCount"])}
            attributes[key] = policy if isinstance(policy, str) else json.dumps(policy)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    if d.embedded:
        url = f"{d.endpoint}/{d.stack.account_id}/{name}"  # as the server would have answered
    arn = d.arn("sqs", name)
    return Resource(lid, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


@creates("AWS::S3::Bucket")
def _bucket(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "BucketName", lower=True, limit=63)
    d.client("s3").create_bucket(Bucket=name)
    return Resource(lid, "AWS::S3::Bucket", name, {
        "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{d.stack.region}.amazonaws.com"})


def _policy_document(document: dict) -> str:
    # SAM's policy templates omit Version; IAM accepts that, moto refuses it
    return json.dumps({"Version": "2012-10-17", **document})


@creates("AWS::IAM::Role")
def _role(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    name = d.name_for(lid, props, "RoleName")
    role = iam.create_role(RoleName=name, Path=props.get("Path", "/"),
                           AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {})))["Role"]
    for policy in props.get("Policies", []):
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                            PolicyDocument=_policy_document(policy["PolicyDocument"]))
    # ManagedPolicyArns are not attached: moto does not load AWS managed policies, and nothing enforces IAM locally
    return Resource(lid, "AWS::IAM::Role", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


@creates("AWS::IAM::Policy")
def _policy(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    for role in props.get("Roles", []):
        iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"],
                            PolicyDocument=_policy_document(props["PolicyDocument"]))
    return Resource(lid, "AWS::IAM::Policy", props["PolicyName"])


@creates("AWS::Lambda::Function")
def _function(d: Deployer, lid: str, props: dict) -> Resource:
    code_dir = d.expanded.code_dirs.get(lid)
    if code_dir is None:
        raise DeployError(f"{lid}: only functions with a local CodeUri are supported by the local cloud")
    if not code_dir.is_dir():
        raise DeployError(f"{lid}: CodeUri {code_dir} is not a directory")
    name = d.name_for(lid, props, "FunctionName")
    environment = {k: str(v) for k, v in (props.get("Environment", {}).get("Variables") or {}).items()}
    timeout = _numeric(props.get("Timeout", 3))
    memory = _numeric(props.get("MemorySize", 128))
    args = {"FunctionName": name, "Runtime": props.get("Runtime", "python3.11"), "Role": props["Role"],
            "Handler": props["Handler"], "Code": {"ZipFile": d.code_zip(code_dir)}, "Timeout": timeout,
            "MemorySize": memory, "Environment": {"Variables": environment}}
    args.update(_pick(props, "Description", "Layers", "TracingConfig", "Architectures"))
    fn = d.client("lambda").create_function(**args)
    reserved = props.get("ReservedConcurrentExecutions")
    if reserved is not None:
        d.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=_numeric(reserved))
    if d.runtime is not None:
        d.runtime.register(FunctionSpec(name=name, arn=fn["FunctionArn"], handler=props["Handler"], code_dir=code_dir,
                                        environment=environment, timeout=timeout, memory=memory,
                                        reserved_concurrency=None if reserved is None else _numeric(reserved)))
    return Resource(lid, "AWS::Lambda::Function", name, {"Arn": fn["FunctionArn"]})


@creates("AWS::Lambda::Permission")
def _permission(d: Deployer, lid: str, props: dict) -> Resource:
    args = {"FunctionName": props["FunctionName"], "StatementId": lid, "Action": props["Action"],
            "Principal": props["Principal"], **_pick(props, "SourceArn", "SourceAccount")}
    d.client("lambda").add_permission(**args)
    return Resource(lid, "AWS::Lambda::Permission", lid)


@creates("AWS::Lambda::EventSourceMapping")
def _event_source_mapping(d: Deployer, lid: str, props: dict) -> Resource:
    lam = d.client("lambda")
    source = props["EventSourceArn"]
    is_sqs = source.startswith("arn:aws:sqs:")
    args = {"EventSourceArn": source, "FunctionName": props["FunctionName"],
            **_pick(props, "FunctionResponseTypes", "StartingPosition", "MaximumRetryAttempts")}
    for key in ("BatchSize", "MaximumBatchingWindowInSeconds"):
        if key in props:
            args[key] = _numeric(props[key])
    scaling = props.get("ScalingConfig", {})
    if "MaximumConcurrency" in scaling:
        args["ScalingConfig"] = {"MaximumConcurrency": _numeric(scaling["MaximumConcurrency"])}
    enabled = str(props.get("Enabled", True)).lower() != "false"
    # LocalStack would poll an enabled mapping itself and run the function in Docker: our pollers do it instead
    args["Enabled"] = enabled and (d.embedded or not is_sqs)
    esm = lam.create_event_source_mapping(**args)
    if is_sqs:
        if d.embedded:
            _detach_from_moto_queue(d, source, esm["FunctionArn"])
        queue_name = source.rsplit(":", 1)[1]
        queue_url = next((r.physical_id for r in d.stack.of_type("AWS::SQS::Queue")
                          if r.attributes["Arn"] == source), None) or \
            d.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]
        d.stack.sqs_sources.append({
            "function": d.stack.function_name(props["FunctionName"].rsplit(":", 1)[-1]),
            "queue_arn": source, "queue_url": queue_url,
            "batch_size": args.get("BatchSize", 10),
            "batching_window": float(args.get("MaximumBatchingWindowInSeconds", 0)),
            "maximum_concurrency": args.get("ScalingConfig", {}).get("MaximumConcurrency"),
            "report_batch_item_failures": "ReportBatchItemFailures" in args.get("FunctionResponseTypes", []),
            "enabled": enabled})
    return Resource(lid, "AWS::Lambda::EventSourceMapping", esm["UUID"], {"Id": esm["UUID"]})


def _detach_from_moto_queue(d: Deployer, queue_arn: str, function_arn: str) -> None:
    """moto would run the function synchronously inside SendMessage, one message at a time: our pollers do it."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[d.stack.account_id][d.stack.region].queues[queue_arn.rsplit(":", 1)[1]]
    queue.lambda_event_source_mappings.pop(function_arn, None)


@creates("AWS::StepFunctions::StateMachine")
def _state_machine(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "StateMachineName", limit=80)
    local = d.expanded.state_machine_files.get(lid)
    if local is not None:
        path, substitutions = local
        definition = path.read_text()
        values = d.resolve(substitutions, lid)
        # textual, as CloudFormation does: the ASL may hold unquoted ${PrepareTimeoutSeconds} numbers
        for key, value in values.items():
            definition = definition.replace("${" + key + "}", str(value))
    elif "DefinitionString" in props:
        definition = props["DefinitionString"]
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
    elif "Definition" in props:
        definition = json.dumps(props["Definition"])
    else:
        raise DeployError(f"{lid}: state machine has no local definition")
    leftover = re.findall(r"\$\{[A-Za-z0-9_]+\}", definition)
    if leftover:
        raise DeployError(f"{lid}: definition has unsubstituted {', '.join(sorted(set(leftover)))}")
    try:
        json.loads(definition)
    except ValueError as exc:
        raise DeployError(f"{lid}: definition is not valid JSON after substitution: {exc}") from exc
    arn = d.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=props["RoleArn"],
        type=props.get("StateMachineType", "STANDARD"))["stateMachineArn"]
    return Resource(lid, "AWS::StepFunctions::StateMachine", arn, {"Arn": arn, "Name": name})


# ---------------------------------------------------------------------- API Gateway v2 (WebSocket API)
@creates("AWS::ApiGatewayV2::Api")
def _api_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "Name", "ProtocolType", "RouteSelectionExpression", "ApiKeySelectionExpression",
                 "Description", "DisableExecuteApiEndpoint", "Tags", "Version")
    args.setdefault("Name", f"{d.stack.name}-{lid}")
    api = d.client("apigatewayv2").create_api(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Api", api["ApiId"],
                    {"ApiId": api["ApiId"], "ApiEndpoint": api.get("ApiEndpoint", "")})


@creates("AWS::ApiGatewayV2::Route")
def _route_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "RouteKey", "AuthorizationType", "AuthorizerId", "Target",
                 "RouteResponseSelectionExpression", "ModelSelectionExpression", "OperationName", "ApiKeyRequired")
    route = d.client("apigatewayv2").create_route(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Route", route["RouteId"], {"RouteId": route["RouteId"]})


@creates("AWS::ApiGatewayV2::Integration")
def _integration_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "IntegrationType", "IntegrationUri", "IntegrationMethod", "ContentHandlingStrategy",
                 "PayloadFormatVersion", "TemplateSelectionExpression", "PassthroughBehavior", "Description")
    if "TimeoutInMillis" in props:
        args["TimeoutInMillis"] = _numeric(props["TimeoutInMillis"])
    integration = d.client("apigatewayv2").create_integration(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Integration", integration["IntegrationId"],
                    {"IntegrationId": integration["IntegrationId"]})


@creates("AWS::ApiGatewayV2::Authorizer")
def _authorizer_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource", "Name",
                 "AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion")
    # optional in CloudFormation for WEBSOCKET REQUEST authorizers, required by the API: none means "always call"
    args.setdefault("IdentitySource", [])
    authorizer = d.client("apigatewayv2").create_authorizer(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Authorizer", authorizer["AuthorizerId"],
                    {"AuthorizerId": authorizer["AuthorizerId"]})


@creates("AWS::ApiGatewayV2::RouteResponse")
def _route_response_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "RouteId", "RouteResponseKey", "ModelSelectionExpression")
    response = d.client("apigatewayv2").create_route_response(**args)
    return Resource(lid, "AWS::ApiGatewayV2::RouteResponse", response["RouteResponseId"])


@creates("AWS::ApiGatewayV2::Stage")
def _stage_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "StageName", "AutoDeploy", "DeploymentId", "Description", "StageVariables")
    d.client("apigatewayv2").create_stage(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Stage", props["StageName"])


@creates("AWS::ApiGatewayV2::Deployment")
def _deployment_v2(d: Deployer, lid: str, props: dict) -> Resource:
    deployment = d.client("apigatewayv2").create_deployment(**_pick(props, "ApiId", "StageName", "Description"))
    return Resource(lid, "AWS::ApiGatewayV2::Deployment", deployment["DeploymentId"])


# ---------------------------------------------------------------------- API Gateway v1 (REST API from SAM)
@creates("AWS::ApiGateway::RestApi")
def _rest_api(d: Deployer, lid: str, props: dict) -> Resource:
    apigw = d.client("apigateway")
    name = props.get("Name") or f"{d.stack.name}-{lid}"
    args = {"name": name, **({"binaryMediaTypes": props["BinaryMediaTypes"]} if "BinaryMediaTypes" in props else {})}
    api = apigw.create_rest_api(**args)
    if props.get("Body"):
        # moto imports only OpenAPI 3 bodies (SAM writes swagger 2.0): create the resources and methods one by one
        _create_rest_routes(apigw, api["id"], api["rootResourceId"], props["Body"].get("paths", {}))
    return Resource(lid, "AWS::ApiGateway::RestApi", api["id"], {"RootResourceId": api.get("rootResourceId", "")})


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method"}


def _create_rest_routes(apigw: Any, api_id: str, root_id: str, paths: dict) -> None:
    ids = {"/": root_id}
    for path in sorted(paths):
        parent = "/"
        for part in [p for p in path.split("/") if p]:
            current = parent.rstrip("/") + "/" + part
            if current not in ids:
                ids[current] = apigw.create_resource(restApiId=api_id, parentId=ids[parent], pathPart=part)["id"]
            parent = current
        for method, operation in paths[path].items():
            if method.lower() not in _HTTP_METHODS:
                continue
            verb = "ANY" if method.lower() == "x-amazon-apigateway-any-method" else method.upper()
            apigw.put_method(restApiId=api_id, resourceId=ids[path], httpMethod=verb, authorizationType="NONE")
            integration = operation.get("x-amazon-apigateway-integration")
            if integration:
                apigw.put_integration(restApiId=api_id, resourceId=ids[path], httpMethod=verb,
                                      type=integration.get("type", "aws_proxy").upper(),
                                      integrationHttpMethod=integration.get("httpMethod", "POST"),
                                      uri=integration.get("uri", ""))


@creates("AWS::ApiGateway::Deployment")
def _rest_deployment(d: Deployer, lid: str, props: dict) -> Resource:
    args = {"restApiId": props["RestApiId"]}
    if props.get("Description"):
        args["description"] = props["Description"]
    if props.get("StageName"):
        args["stageName"] = props["StageName"]
    deployment = d.client("apigateway").create_deployment(**args)
    return Resource(lid, "AWS::ApiGateway::Deployment", deployment["id"])


@creates("AWS::ApiGateway::Stage")
def _rest_stage(d: Deployer, lid: str, props: dict) -> Resource:
    apigw = d.client("apigateway")
    stage = props["StageName"]
    try:
        apigw.create_stage(restApiId=props["RestApiId"], stageName=stage, deploymentId=props["DeploymentId"])
    except apigw.exceptions.ConflictException:
        pass  # the Deployment already created a stage of that name
    return Resource(lid, "AWS::ApiGateway::Stage", stage)


# ---------------------------------------------------------------------- schedules, mail
@creates("AWS::Events::Rule")
def _rule(d: Deployer, lid: str, props: dict) -> Resource:
    events = d.client("events")
    name = d.name_for(lid, props, "Name")
    args = {"Name": name, "State": props.get("State", "ENABLED"),
            **_pick(props, "ScheduleExpression", "Description", "EventBusName")}
    if "EventPattern" in props:
        args["EventPattern"] = json.dumps(props["EventPattern"])
    arn = events.put_rule(**args)["RuleArn"]
    targets = props.get("Targets", [])
    if targets:
        events.put_targets(Rule=name, Targets=[{"Id": t["Id"], "Arn": t["Arn"], **_pick(t, "Input")}
                                               for t in targets])
    if "ScheduleExpression" in props and args["State"] == "ENABLED":
        for target in targets:
            if ":lambda:" in target["Arn"]:
                d.stack.schedules.append({
                    "name": name, "expression": props["ScheduleExpression"],
                    "function": target["Arn"].split(":")[6],
                    "input": json.loads(target["Input"]) if "Input" in target else None})
    return Resource(lid, "AWS::Events::Rule", name, {"Arn": arn})


@creates("AWS::SES::EmailIdentity")
def _email_identity(d: Deployer, lid: str, props: dict) -> Resource:
    identity = props["EmailIdentity"]
    ses = d.client("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)
    return Resource(lid, "AWS::SES::EmailIdentity", identity)


def deploy(expanded: ExpandedTemplate, endpoint: str, runtime: LambdaRuntime | None = None, **kwargs: Any) -> Stack:
    """Deploy `expanded` into `endpoint`; see Deployer."""
    return Deployer(expanded, endpoint, runtime, **kwargs).deploy()
