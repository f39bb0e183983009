"""Lambda functions, layers, permissions, event source mappings, async invoke configs."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.resources.base import NO_IAM, TAGS_IGNORED, DeployError, Resource, creates, numeric, pick, tags
from infra.event_filters import FilterError, patterns
from infra.event_sources import detach_from_moto, kind_of, role_of, sqs_source, stream_source
from infra.runtime import FunctionSpec

if TYPE_CHECKING:
    from infra.deploy import Deployer

#: public layers people use, by the name in their ARN -> the Python package they provide
PUBLIC_LAYER_PACKAGES = {
    "AWSLambdaPowertoolsPythonV2": "aws_lambda_powertools",
    "AWSLambdaPowertoolsPythonV3": "aws_lambda_powertools",
    "AWSLambdaPowertoolsPythonV2-Arm64": "aws_lambda_powertools",
    "AWSSDKPandas-Python": "awswrangler",
    "AWSDataWrangler-Python": "awswrangler",
}


def layers(d: Deployer, lid: str, arns: list[str]) -> tuple[list[str], list[Path]]:
    """(the layer ARNs the emulator gets, the folders the handler imports from) for a function's Layers.

    Layers of this template are local folders. A public layer (another account's ARN) cannot be fetched:
    if the package it provides is installed here the function imports that, else the layer is skipped.
    """
    local_arns: list[str] = []
    paths: list[Path] = []
    for arn in arns:
        if arn in d.layer_paths:
            local_arns.append(arn)
            paths += d.layer_paths[arn]
            continue
        parts = arn.split(":")
        layer_name = parts[6] if len(parts) > 6 else arn
        package = next((pkg for prefix, pkg in PUBLIC_LAYER_PACKAGES.items()
                        if layer_name == prefix or layer_name.startswith(prefix + "-")), None)
        if package is not None and importlib.util.find_spec(package) is not None:
            d.warn(f"{lid}: public layer {arn} is not fetched; the function imports the installed "
                      f"package {package} instead")
        else:
            hint = f" (install {package} to use it)" if package else ""
            d.warn(f"{lid}: public layer {arn} skipped: layers from other accounts are not available "
                      f"locally{hint}")
    return local_arns, paths


def _function_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    found = []
    if props.get("PackageType") == "Image":
        found.append(("PackageType Image", "container images need Docker; only local Python code runs"))
    runtime = props.get("Runtime", "python3")
    if isinstance(runtime, str) and runtime.startswith("nodejs"):
        from infra.node_sandbox import node_binary

        if node_binary() is None:
            found.append((f"Runtime {runtime}", "Node.js handlers need node on this machine (PATH or NOTIFYX_NODE)"))
    elif isinstance(runtime, str) and runtime.startswith("provided"):
        folder = d.expanded.code_dirs.get(lid)
        bootstrap = folder / "bootstrap" if folder is not None else None
        if bootstrap is None or not bootstrap.is_file() or not os.access(bootstrap, os.X_OK):
            found.append((f"Runtime {runtime}", "a custom runtime runs its code's executable bootstrap file, which "
                                                f"{folder or 'the code'} lacks (or it is not executable)"))
    elif isinstance(runtime, str) and not runtime.startswith("python"):
        found.append((f"Runtime {runtime}", "only Python, Node.js and custom (provided) runtimes run locally"))
    code = props.get("Code")
    if lid in d.expanded.code_dirs and not d.expanded.code_dirs[lid].is_dir():
        found.append(("Code", f"{d.expanded.code_dirs[lid]} is not a folder"))
    if lid not in d.expanded.code_dirs and not (isinstance(code, dict) and "ZipFile" in code):
        where = code.get("ImageUri") or f"s3://{code.get('S3Bucket')}/{code.get('S3Key')}" \
            if isinstance(code, dict) else code
        found.append(("Code", f"{where}: only a local directory (CodeUri, Code: ./dir) or inline ZipFile runs"))
    return found


@creates("AWS::Lambda::Function",
         handles=("FunctionName", "Handler", "Runtime", "Role", "Code", "Environment", "Timeout", "MemorySize",
                  "Description", "Layers", "ReservedConcurrentExecutions", "DeadLetterConfig", "Architectures",
                  "TracingConfig", "PackageType", "Tags", "TenancyConfig", "DurableConfig"),
         ignores={"VpcConfig": "no network isolation locally", "KmsKeyArn": "environment variables are not encrypted",
                  "EphemeralStorage": "/tmp is this machine's", "LoggingConfig": "handler output goes to the console",
                  "RuntimeManagementConfig": "handlers run on this machine's Python",
                  "SnapStart": "no snapshots: every function starts as on first use",
                  "CodeSigningConfigArn": "code is not signed locally",
                  "RecursiveLoop": "recursion is not detected locally"},
         unsupported={"FileSystemConfigs": "no EFS", "ImageConfig": "container images need Docker"},
         check=_function_check)
def _function(d: Deployer, lid: str, props: dict) -> Resource:
    code_dir = d.expanded.code_dirs.get(lid)
    code = props.get("Code")
    if code_dir is None and isinstance(code, dict) and "ZipFile" in code:
        code_dir = d.inline_code(lid, code["ZipFile"])
    if code_dir is None:
        raise DeployError(f"{lid}: only functions with local code are supported by the local cloud")
    if not code_dir.is_dir():
        raise DeployError(f"{lid}: CodeUri {code_dir} is not a directory")
    name = d.name_for(lid, props, "FunctionName")
    environment = {k: str(v) for k, v in (props.get("Environment", {}).get("Variables") or {}).items()}
    timeout = numeric(props.get("Timeout", 3))
    memory = numeric(props.get("MemorySize", 128))
    layers_, layer_dirs = layers(d, lid, props.get("Layers") or [])
    args = {"FunctionName": name, "Runtime": props.get("Runtime", "python3.11"), "Role": props["Role"],
            "Handler": props["Handler"], "Code": {"ZipFile": d.code_zip(code_dir)}, "Timeout": timeout,
            "MemorySize": memory, "Environment": {"Variables": environment}}
    args.update(pick(props, "Description", "TracingConfig", "Architectures", "DeadLetterConfig", "TenancyConfig"))
    if layers_:
        args["Layers"] = layers_
    if props.get("Tags"):
        args["Tags"] = tags(props["Tags"])
    fn = d.client("lambda").create_function(**args)
    reserved = props.get("ReservedConcurrentExecutions")
    if reserved is not None:
        d.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=numeric(reserved))
    if d.runtime is not None:
        d.runtime.register(FunctionSpec(name=name, arn=fn["FunctionArn"], handler=props["Handler"], code_dir=code_dir,
                                        environment=environment, timeout=timeout, memory=memory,
                                        reserved_concurrency=None if reserved is None else numeric(reserved),
                                        layers=tuple(layer_dirs),
                                        dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("TargetArn"),
                                        runtime=str(props.get("Runtime", "python3.11")),
                                        tenant_isolation=(props.get("TenancyConfig") or {}).get(
                                            "TenantIsolationMode") == "PER_TENANT",
                                        durable=_durable_config(props.get("DurableConfig"))))
    return Resource(lid, "AWS::Lambda::Function", name, {"Arn": fn["FunctionArn"]})


def _durable_config(config: Any) -> dict[str, int] | None:
    """DurableConfig's ExecutionTimeout (seconds, 1 to a year) and RetentionPeriodInDays (1 to 90, 14 by default),
    checked as Lambda checks them; None for a function without one."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise DeployError(f"DurableConfig must be an object, not {config!r}")
    timeout, retention = numeric(config.get("ExecutionTimeout", 0)), numeric(config.get("RetentionPeriodInDays", 14))
    if not 1 <= timeout <= 31_622_400:
        raise DeployError(f"DurableConfig ExecutionTimeout {timeout} must be 1 to 31622400 seconds")
    if not 1 <= retention <= 90:
        raise DeployError(f"DurableConfig RetentionPeriodInDays {retention} must be 1 to 90")
    return {"ExecutionTimeout": int(timeout), "RetentionPeriodInDays": int(retention)}


@creates("AWS::Lambda::LayerVersion",
         handles=("LayerName", "Content", "Description", "CompatibleRuntimes", "CompatibleArchitectures",
                  "LicenseInfo"),
         check=lambda d, lid, props: [] if lid in d.expanded.layer_dirs and d.expanded.layer_dirs[lid].is_dir() else [
             ("Content", f"{d.expanded.layer_dirs.get(lid, 'S3 content')}: only a local folder (ContentUri) is "
                         "supported")])
def _layer(d: Deployer, lid: str, props: dict) -> Resource:
    content = d.expanded.layer_dirs[lid]
    if not content.is_dir():
        raise DeployError(f"{lid}: ContentUri {content} is not a directory")
    name = d.name_for(lid, props, "LayerName", limit=140)
    layer = d.client("lambda").publish_layer_version(
        LayerName=name, Content={"ZipFile": d.code_zip(content)},
        **pick(props, "Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"))
    arn = layer["LayerVersionArn"]
    # Lambda extracts a layer into /opt; Python finds /opt/python (and its site-packages), else the layer's root
    paths = [p for p in (content / "python", *sorted(content.glob("python/lib/python3*/site-packages"))) if p.is_dir()]
    d.layer_paths[arn] = paths or [content]
    return Resource(lid, "AWS::Lambda::LayerVersion", arn, {"LayerVersionArn": arn})


@creates("AWS::Lambda::EventInvokeConfig",
         handles=("FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds",
                  "DestinationConfig"))
def _event_invoke_config(d: Deployer, lid: str, props: dict) -> Resource:
    config: dict[str, Any] = {}
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key in props:
            config[key] = numeric(props[key])
    if props.get("DestinationConfig"):
        config["DestinationConfig"] = props["DestinationConfig"]
    qualifier = props.get("Qualifier", "$LATEST")
    function = props["FunctionName"]
    d.client("lambda").put_function_event_invoke_config(FunctionName=function, **config)
    return Resource(lid, "AWS::Lambda::EventInvokeConfig", f"{function}:{qualifier}")


def function_of(name_or_arn: str) -> str:
    """The function a FunctionName names: a name, a name:qualifier, or a function, version or alias ARN."""
    return name_or_arn.split(":")[6] if name_or_arn.startswith("arn:") else name_or_arn.split(":")[0]


@creates("AWS::Lambda::Version", handles=("FunctionName", "Description"),
         ignores={"CodeSha256": "the version is the function's code as deployed",
                  "ProvisionedConcurrencyConfig": "no provisioned concurrency: sandboxes start when invoked",
                  "FunctionScalingConfig": "no provisioned concurrency: sandboxes start when invoked",
                  "RuntimePolicy": "handlers run on this machine's Python"})
def _version(d: Deployer, lid: str, props: dict) -> Resource:
    """A published version (SAM's AutoPublishAlias makes one). Locally a version, and an alias of it, runs the
    function's code as the stack deployed it; Ref is the version's ARN, as CloudFormation's."""
    published = d.client("lambda").publish_version(FunctionName=props["FunctionName"],
                                                   **pick(props, "Description"))
    return Resource(lid, "AWS::Lambda::Version", published["FunctionArn"],
                    {"Version": published["Version"], "FunctionArn": published["FunctionArn"]})


@creates("AWS::Lambda::Alias", handles=("FunctionName", "FunctionVersion", "Name", "Description"),
         ignores={"ProvisionedConcurrencyConfig": "no provisioned concurrency: sandboxes start when invoked",
                  "RoutingConfig": "one version of each function runs locally: no weighted routing"})
def _alias(d: Deployer, lid: str, props: dict) -> Resource:
    """An alias (SAM's AutoPublishAlias: `<Function>Alias<name>`, which the function's events then invoke)."""
    made = d.client("lambda").create_alias(FunctionName=function_of(props["FunctionName"]), Name=props["Name"],
                                           FunctionVersion=str(props["FunctionVersion"]),
                                           **pick(props, "Description"))
    return Resource(lid, "AWS::Lambda::Alias", made["AliasArn"], {"AliasArn": made["AliasArn"]})


@creates("AWS::Lambda::Permission",
         handles=("FunctionName", "Action", "Principal", "SourceArn", "SourceAccount"),
         ignores={"EventSourceToken": NO_IAM, "PrincipalOrgID": NO_IAM, "FunctionUrlAuthType": NO_IAM,
                  "InvokedViaFunctionUrl": NO_IAM})
def _permission(d: Deployer, lid: str, props: dict) -> Resource:
    args = {"FunctionName": props["FunctionName"], "StatementId": lid, "Action": props["Action"],
            "Principal": props["Principal"], **pick(props, "SourceArn", "SourceAccount")}
    d.client("lambda").add_permission(**args)
    return Resource(lid, "AWS::Lambda::Permission", lid, {"Id": lid})


def _mapping_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    source = props.get("EventSourceArn")
    if isinstance(source, str) and not source.startswith(("arn:aws:sqs:", "arn:aws:dynamodb:", "arn:aws:kinesis:")):
        return [("EventSourceArn", f"{source}: only SQS queues, DynamoDB streams and Kinesis streams feed functions "
                                   "locally")]
    if isinstance(source, str) and source.startswith("arn:aws:kinesis:") and "/consumer/" in source:
        return [("EventSourceArn", f"{source}: a Kinesis stream consumer (enhanced fan-out) is not supported "
                                   "locally; map the stream itself")]
    destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if destination is None:
        return []
    if isinstance(source, str) and source.startswith("arn:aws:sqs:"):
        return [("DestinationConfig", "an SQS event source has no on-failure destination (its queue's redrive does)")]
    if isinstance(destination, str) and not destination.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
        return [("DestinationConfig", f"{destination}: only SQS queues and SNS topics receive discarded batches "
                                      "locally")]
    return []


@creates("AWS::Lambda::EventSourceMapping",
         handles=("EventSourceArn", "FunctionName", "BatchSize", "MaximumBatchingWindowInSeconds", "ScalingConfig",
                  "Enabled", "FunctionResponseTypes", "StartingPosition", "MaximumRetryAttempts", "FilterCriteria",
                  "DestinationConfig", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError",
                  "StartingPositionTimestamp"),
         ignores={"MetricsConfig": "no Lambda metrics locally", "LoggingConfig": "handler output goes to the console",
                  "KmsKeyArn": "filter criteria are not encrypted",
                  "ParallelizationFactor": "one batch per shard at a time locally", **TAGS_IGNORED},
         check=_mapping_check)
def _event_source_mapping(d: Deployer, lid: str, props: dict) -> Resource:
    lam = d.client("lambda")
    source = props["EventSourceArn"]
    kind = kind_of(source)  # what polls it locally: "sqs", a stream ("dynamodb", "kinesis"), or nothing
    is_sqs, is_stream = kind == "sqs", kind in ("dynamodb", "kinesis")
    args = {"EventSourceArn": source, "FunctionName": props["FunctionName"],
            **pick(props, "FunctionResponseTypes", "StartingPosition", "MaximumRetryAttempts")}
    try:
        filters = patterns(props.get("FilterCriteria"))
    except (FilterError, ValueError) as exc:
        raise DeployError(f"{lid}: FilterCriteria: {exc}") from None
    if filters:
        args["FilterCriteria"] = {"Filters": [{"Pattern": json.dumps(f)} for f in filters]}
    for key in ("BatchSize", "MaximumBatchingWindowInSeconds"):
        if key in props:
            args[key] = numeric(props[key])
    scaling = props.get("ScalingConfig", {})
    if "MaximumConcurrency" in scaling:
        args["ScalingConfig"] = {"MaximumConcurrency": numeric(scaling["MaximumConcurrency"])}
    enabled = str(props.get("Enabled", True)).lower() != "false"
    # LocalStack would poll an enabled mapping itself and run the function in Docker: our pollers do it instead
    args["Enabled"] = enabled and (d.embedded or not (is_sqs or is_stream))
    esm = lam.create_event_source_mapping(**args)
    # what the pollers read beyond what the mapping's API call took (LocalStack's mapping, not polled, lacks them)
    config = {**args, "Enabled": enabled, **pick(props, "MaximumRecordAgeInSeconds", "DestinationConfig",
                                                  "BisectBatchOnFunctionError", "StartingPositionTimestamp")}
    function = d.stack.function_name(function_of(props["FunctionName"]))
    if (is_sqs or is_stream) and d.embedded:
        detach_from_moto(source, esm["FunctionArn"])
    if is_sqs:
        d.stack.sqs_sources.append(sqs_source(config, function, queue_url_of(d, source), esm["UUID"]))
    if is_stream:
        role = role_of(d.client("lambda"), esm["FunctionArn"])
        d.stack.stream_sources.append(stream_source(config, function, role, esm["UUID"]))
    return Resource(lid, "AWS::Lambda::EventSourceMapping", esm["UUID"], {"Id": esm["UUID"]})


def queue_url_of(d: Deployer, arn: str) -> str:
    """The URL of the queue of `arn`: the stack's own queue's, else the emulator's answer (a queue made elsewhere)."""
    return next((r.physical_id for r in d.stack.of_type("AWS::SQS::Queue") if r.attributes["Arn"] == arn), None) or \
        d.client("sqs").get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]


@creates("AWS::Lambda::Url", handles=("TargetFunctionArn", "AuthType", "Cors", "InvokeMode"),
         ignores={"Qualifier": "one version of each function runs locally"})
def _function_url(d: Deployer, lid: str, props: dict) -> Resource:
    import socket

    target = props["TargetFunctionArn"]
    name = function_of(target)
    config: dict[str, Any] = {"AuthType": props["AuthType"]}
    if props.get("Cors"):
        config["Cors"] = props["Cors"]
    invoke_mode = props.get("InvokeMode") or "BUFFERED"
    if invoke_mode != "BUFFERED":
        config["InvokeMode"] = invoke_mode  # RESPONSE_STREAM: api_gateway/streaming.py
    d.client("lambda").create_function_url_config(FunctionName=name, **config)
    # a function URL is its own host on AWS: here its own port, taken now so that GetAtt FunctionUrl (which outputs
    # and environment variables use) is an address a client can call. The socket stays open until the URL's
    # server serves it: a port only probed and closed here could be taken meanwhile by any other server
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    d.stack.function_urls.append({"function": d.stack.function_name(name), "port": port, "listener": listener,
                                  "cors": props.get("Cors"), "auth_type": props["AuthType"],
                                  "invoke_mode": invoke_mode})
    return Resource(lid, "AWS::Lambda::Url", target, {"FunctionArn": target, "FunctionUrl": url})


@creates("AWS::Lambda::LayerVersionPermission", handles=("LayerVersionArn", "Action", "Principal", "OrganizationId"))
def _layer_permission(d: Deployer, lid: str, props: dict) -> Resource:
    """Another account's (or everyone's) use of a layer version: recorded in the emulator (GetLayerVersionPolicy);
    nothing of another account runs locally."""
    arn = str(props["LayerVersionArn"])
    layer, version = arn.split(":")[6], int(arn.split(":")[7])
    d.client("lambda").add_layer_version_permission(
        LayerName=layer, VersionNumber=version, StatementId=lid, Action=props["Action"], Principal=props["Principal"],
        **pick(props, "OrganizationId"))
    return Resource(lid, "AWS::Lambda::LayerVersionPermission", f"{arn}#{lid}", {"Id": f"{arn}#{lid}"})
