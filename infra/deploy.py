"""Create an expanded template's resources in an AWS endpoint (the emulator or LocalStack), in dependency order."""
from __future__ import annotations

import io
import json
import logging
import re
import sys
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from infra import account
import infra.resources  # noqa: F401 - importing the package registers every resource type's creator
from infra.resources.base import (  # noqa: F401 - also deploy's public names, as before
    NO_IAM,
    TAGS_IGNORED,
    Check,
    Creator,
    DeployError,
    Resource,
    Support,
    creates,
    numeric,
    pick,
    support,
    supported_types,
    tags,
    truthy,
)
from infra.runtime import LambdaRuntime
from infra.template import ExpandedTemplate, TemplateError

logger = logging.getLogger("notifyx.deploy")

REGION = account.REGION
ACCOUNT_ID = account.ACCOUNT_ID


@dataclass(frozen=True)
class Problem:
    """One thing in a template the local cloud cannot do as AWS would."""

    logical_id: str
    type: str
    unsupported: str          # "resource type", "property KinesisStreamSpecification", "intrinsic Fn::ImportValue"
    note: str = ""


class UnsupportedTemplate(DeployError):
    """Everything unsupported in a template, found before anything is created; ``str()`` is a table of it."""

    def __init__(self, template_name: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(format_problems(template_name, problems))


def format_problems(template_name: str, problems: list[Problem]) -> str:
    """A plain-text table of `problems`, one row each."""
    rows = [("resource", "type", "unsupported", "note")] + [
        (p.logical_id, p.type, p.unsupported, p.note) for p in problems]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{template_name}: the local cloud cannot run {len(problems)} thing(s) of this template as AWS would "
             "(nothing was deployed):", ""]
    for i, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:3])) + "  " + row[3])
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths) + "  " + "-" * 4)
    lines += ["", "What the local cloud supports, per resource type and property: docs/local-cloud.md"]
    return "\n".join(line.rstrip() for line in lines)


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
    #: keyword arguments of infra.stream_pollers.StreamEventSourceSpec, one per DynamoDB stream mapping
    stream_sources: list[dict[str, Any]] = field(default_factory=list)
    #: function URLs: {"function", "port", "listener", "cors", "auth_type", "invoke_mode"}, served by LocalCloud on
    #: their own ports ("listener": the port's socket, open since the deploy, until LocalCloud's server takes it)
    function_urls: list[dict[str, Any]] = field(default_factory=list)
    #: keyword arguments of infra.schedules.ScheduleSpec, one per (rule, Lambda target)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    #: EventBridge pipes: keyword arguments of infra.pipes.PipeSpec, one per running pipe
    pipes: list[dict[str, Any]] = field(default_factory=list)
    #: Firehose delivery streams to S3: keyword arguments of infra.firehose.FirehoseSpec
    firehoses: list[dict[str, Any]] = field(default_factory=list)
    #: what deployed but differs from AWS (e.g. a public layer skipped); also logged at WARNING
    warnings: list[str] = field(default_factory=list)
    #: logical ids left out because their Condition is false
    skipped: list[str] = field(default_factory=list)
    #: folders the deploy wrote (functions' inline code): removed when the cloud stops (remove_scratch)
    scratch: list[str] = field(default_factory=list)

    def remove_scratch(self) -> None:
        """Remove the folders the deploy wrote, and close the function URLs' sockets no server took."""
        while self.scratch:
            shutil.rmtree(self.scratch.pop(), ignore_errors=True)
        for url in self.function_urls:
            listener = url.pop("listener", None)
            if listener is not None:
                listener.close()

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
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:([^}]+)\}\}")
_CONDITION_FUNCTIONS = ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or")
#: the intrinsic functions resolve() evaluates
SUPPORTED_INTRINSICS = ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::GetAZs",
                        "Fn::Base64", "Fn::ToJsonString", "Fn::Length", "Fn::FindInMap", "Fn::If", "Condition",
                        *_CONDITION_FUNCTIONS)


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
        self._conditions: dict[str, bool] = {}
        #: a local layer's LayerVersionArn -> the folders Python imports it from (Lambda's /opt/python)
        self.layer_paths: dict[str, list[Path]] = {}
        self._inline_dir: Path | None = None
        #: what to close when the deploy ends (Deployer.closing)
        self._closers: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ plumbing
    def client(self, service: str) -> Any:
        """A boto3 client of the target endpoint."""
        if service not in self._clients:
            client = boto3.client(
                service, endpoint_url=None if self.embedded else self.endpoint, region_name=self.stack.region,
                **account.KEYS,
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
        missing = [name for name, spec in declared.items() if name not in overrides and "Default" not in spec]
        if missing:  # all of them at once, and how to give them
            raise TemplateError(
                f"parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"{'have' if len(missing) > 1 else 'has'} no Default and no value was given: "
                + " ".join(f"--param {name}=VALUE" for name in missing)
                + " (notifyx up), or parameters={...} (LocalCloud)")
        values = {}
        for name, spec in declared.items():
            value = overrides[name] if name in overrides else spec["Default"]
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
        if isinstance(value, str):
            return self._dynamic_references(value, where) if "{{resolve:" in value else value
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
                return self.resolve(self._sub(arg, where), where)
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
            if key == "Fn::Length":
                return len(self.resolve(arg, where))
            if key == "Fn::FindInMap":
                name, top, second = (self.resolve(a, where) for a in arg[:3])
                try:
                    return self.template["Mappings"][name][str(top)][str(second)]
                except KeyError:
                    if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                        return self.resolve(arg[3]["DefaultValue"], where)
                    raise DeployError(f"{where}: Fn::FindInMap {name}/{top}/{second} is not in Mappings") from None
            if key == "Fn::If":
                condition, if_true, if_false = arg
                return self.resolve(if_true if self.condition(condition) else if_false, where)
            if key in _CONDITION_FUNCTIONS or (key == "Condition" and isinstance(arg, str)):
                return self._condition_value(value, where)
            if key.startswith("Fn::"):
                raise DeployError(f"{where}: intrinsic function {key} is not supported by the local cloud")
        return {k: v for k, v in ((k, self.resolve(v, where)) for k, v in value.items()) if v is not None}

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        """The value of a named condition of the template's Conditions section."""
        if name not in self._conditions:
            declared = self.template.get("Conditions") or {}
            if name not in declared:
                raise DeployError(f"Conditions: no condition named {name}")
            self._conditions[name] = False     # a condition that refers to itself ends here
            self._conditions[name] = bool(self._condition_value(declared[name], f"Conditions.{name}"))
        return self._conditions[name]

    def _condition_value(self, value: Any, where: str) -> Any:
        if not (isinstance(value, dict) and len(value) == 1):
            return self.resolve(value, where)
        (key, arg), = value.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (self._condition_value(a, where) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._condition_value(arg[0], where)
        if key == "Fn::And":
            return all(self._condition_value(a, where) for a in arg)
        if key == "Fn::Or":
            return any(self._condition_value(a, where) for a in arg)
        return self.resolve(value, where)

    def _dynamic_references(self, text: str, where: str) -> str:
        """CloudFormation's {{resolve:ssm:name}} and {{resolve:secretsmanager:id:SecretString:key}} references."""
        def one(match: re.Match) -> str:
            service, _, rest = match.group(1).partition(":")
            if service in ("ssm", "ssm-secure"):
                name, _, version = rest.partition(":")
                if version:
                    name = f"{name}:{version}"
                return self.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            if service == "secretsmanager":
                secret_id, _, tail = rest.partition(":SecretString")
                parts = tail.lstrip(":").split(":") if tail else []
                args: dict[str, Any] = {"SecretId": secret_id}
                if len(parts) > 2 and parts[1]:
                    args["VersionStage"] = parts[1]
                if len(parts) > 2 and parts[2]:
                    args["VersionId"] = parts[2]
                secret = self.client("secretsmanager").get_secret_value(**args)["SecretString"]
                if parts and parts[0]:
                    return str(json.loads(secret)[parts[0]])
                return secret
            raise DeployError(f"{where}: dynamic reference {{{{resolve:{service}:...}}}} is not supported")

        return _DYNAMIC_REFERENCE.sub(one, text)

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
    def problems(self) -> list[Problem]:
        """Everything in the template the local cloud cannot do as AWS would: types, properties, intrinsics."""
        found: list[Problem] = []
        for lid, res in self.template["Resources"].items():
            type_ = res["Type"]
            how = support(type_)
            if how is None:
                found.append(Problem(lid, type_, "resource type"))
                continue
            props = res.get("Properties") or {}
            for name in () if how.open_properties else props:
                if name not in how.handles and name not in how.ignores:
                    found.append(Problem(lid, type_, f"property {name}", how.unsupported.get(name, "")))
            if how.check is not None:
                found += [Problem(lid, type_, what, note) for what, note in how.check(self, lid, props)]
            found += [Problem(lid, type_, f"intrinsic {fn}") for fn in sorted(_intrinsics(props))
                      if fn not in SUPPORTED_INTRINSICS]
            declared = self.template.get("Conditions") or {}
            found += [Problem(lid, type_, f"condition {name}", "not declared in Conditions")
                      for name in sorted(_condition_names(res) - set(declared))]
        for name, output in (self.template.get("Outputs") or {}).items():
            found += [Problem(f"Outputs.{name}", "output", f"intrinsic {fn}") for fn in sorted(_intrinsics(output))
                      if fn not in SUPPORTED_INTRINSICS]
        return found + self._module_conflicts()

    def _module_conflicts(self) -> list[Problem]:
        """Functions whose handlers are same-named modules of different code, when every handler shares this
        process (thread sandboxes): one interpreter imports one. Process sandboxes each have their own modules."""
        if self.runtime is None or self.runtime.sandboxes == "process":
            return []
        first: dict[str, tuple[str, Any]] = {}
        found = []
        for lid, res in self.template["Resources"].items():
            props = res.get("Properties") or {}
            if res["Type"] != "AWS::Lambda::Function" or not isinstance(props.get("Handler"), str):
                continue
            module = props["Handler"].split(".", 1)[0]
            code = self.expanded.code_dirs.get(lid, f"inline code of {lid}")
            other = first.setdefault(module, (lid, code))
            if other[1] != code:
                found.append(Problem(lid, res["Type"], f"module {module!r} also in {other[0]}",
                                     "two functions' own modules of one name need process sandboxes"))
        return found

    def deploy(self) -> Stack:
        """Create every resource; returns the Stack. Whatever is unsupported fails before anything is created."""
        problems = self.problems()
        if problems:
            raise UnsupportedTemplate(self.expanded.name, problems)
        try:
            return self._deploy()
        except BaseException:
            self.stack.remove_scratch()
            raise
        finally:
            while self._closers:
                self._closers.pop()()

    def _deploy(self) -> Stack:
        resources = self.template["Resources"]
        for lid in self.order():
            res = resources[lid]
            if "Condition" in res and not self.condition(res["Condition"]):
                self.stack.skipped.append(lid)
                continue
            props = self.resolve(res.get("Properties", {}), lid)
            try:
                created = support(res["Type"]).creator(self, lid, props)
            except DeployError:
                raise
            except Exception as exc:
                raise DeployError(f"{lid} ({res['Type']}): {exc}") from exc
            created.properties = props
            self.stack.resources[lid] = created
        for name, output in (self.template.get("Outputs") or {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            self.stack.outputs[name] = self.resolve(output.get("Value"), f"Outputs.{name}")
        self._warn_about_runtimes()
        return self.stack

    @property
    def stack_id(self) -> str:
        """AWS::StackId of this stack."""
        return self.resolve({"Ref": "AWS::StackId"}, "AWS::StackId")

    def adopt(self, lid: str, nested: Stack) -> None:
        """A nested stack's resources run with this stack's: its resources (as "<lid>/<its logical id>"), event
        sources, function URLs, schedules and warnings join this stack's."""
        for child_lid, resource in nested.resources.items():
            self.stack.resources[f"{lid}/{child_lid}"] = resource
        self.stack.sqs_sources += nested.sqs_sources
        self.stack.stream_sources += nested.stream_sources
        self.stack.function_urls += nested.function_urls
        self.stack.schedules += nested.schedules
        self.stack.pipes += nested.pipes
        self.stack.firehoses += nested.firehoses
        self.stack.scratch += nested.scratch
        self.stack.warnings += [f"{lid}: {warning}" for warning in nested.warnings]
        self.stack.skipped += [f"{lid}/{skipped}" for skipped in nested.skipped]

    def closing(self, close: Callable[[], None]) -> None:
        """Run `close` when the deploy ends (a custom resource's response listener)."""
        self._closers.append(close)

    def _warn_about_runtimes(self) -> None:
        """A function whose Runtime is not what runs it here, this machine's Python or its node, is a warning (a
        custom runtime's bootstrap is run as it is)."""
        from infra.node_sandbox import node_version, runs_over_runtime_api

        python, node = f"python{sys.version_info.major}.{sys.version_info.minor}", node_version()
        others: dict[tuple[str, str, str], list[str]] = {}  # (Runtime, what runs it here, its version) -> functions
        for res in self.stack.of_type("AWS::Lambda::Function"):
            runtime = str(res.properties.get("Runtime", python))
            if runtime.startswith("nodejs"):
                if node and runtime != f"nodejs{node}.x":
                    others.setdefault((runtime, "Node.js", node), []).append(res.logical_id)
            elif not runs_over_runtime_api(runtime) and runtime != python:
                others.setdefault((runtime, "Python", python), []).append(res.logical_id)
        for (runtime, language, here), functions in sorted(others.items(), key=lambda kv: (kv[0][1] != "Python",
                                                                                          kv[0][0])):
            shown = functions if language == "Python" else sorted(functions)
            self.warn(f"{', '.join(shown)}: Runtime {runtime}, but handlers run on this machine's {language} "
                      f"({here}) in the local cloud")

    def warn(self, message: str) -> None:
        """Record (and log) something that deployed but differs from AWS."""
        logger.warning("%s", message)
        self.stack.warnings.append(message)

    def name_for(self, lid: str, props: dict, key: str, *, lower: bool = False, limit: int = 64) -> str:
        """The resource's given name, else `<stack>-<LogicalId>`."""
        if props.get(key):
            return str(props[key])
        name = f"{self.stack.name}-{lid}"[:limit]
        return name.lower() if lower else name

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """An ARN in this stack's account (and region)."""
        return f"arn:aws:{service}:{self.stack.region if region else ''}:{self.stack.account_id}:{resource}"

    def inline_code(self, lid: str, source: str) -> Path:
        """A folder holding a function's inline code as Lambda stores it for Python: index.py."""
        if self._inline_dir is None:
            self._inline_dir = Path(tempfile.mkdtemp(prefix=f"notifyx-inline-{self.stack.name}-"))
            self.stack.scratch.append(str(self._inline_dir))
        folder = self._inline_dir / lid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.py").write_text(source)
        # what Lambda puts beside inline (ZipFile) Python code: the cfn-response module custom resources use
        shutil.copyfile(Path(__file__).with_name("cfnresponse.py"), folder / "cfnresponse.py")
        return folder

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


def _intrinsics(value: Any) -> set[str]:
    """The intrinsic function names used anywhere in `value`."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _intrinsics(v)
    elif isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(arg, str)):
                found.add(key)
        for v in value.values():
            found |= _intrinsics(v)
    return found


def _condition_names(value: Any) -> set[str]:
    """Condition names a resource uses: its Condition, Fn::If's first argument, {"Condition": name}."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _condition_names(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Condition" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::If" and isinstance(arg, list) and arg and isinstance(arg[0], str):
                found.add(arg[0])
                found |= _condition_names(arg[1:])
            else:
                found |= _condition_names(arg)
    return found


def deploy(expanded: ExpandedTemplate, endpoint: str, runtime: LambdaRuntime | None = None, **kwargs: Any) -> Stack:
    """Deploy `expanded` into `endpoint`; see Deployer."""
    return Deployer(expanded, endpoint, runtime, **kwargs).deploy()
