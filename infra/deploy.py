"""Create an expanded template's resources in an AWS endpoint (the emulator or LocalStack), in dependency order."""
from __future__ import annotations

import importlib.util
import io
import json
import logging
import re
import secrets
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from infra.runtime import FunctionSpec, LambdaRuntime
from infra.template import ExpandedTemplate, TemplateError

logger = logging.getLogger("notifyx.deploy")

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class DeployError(Exception):
    """A resource could not be created; the message names its logical id."""


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
    #: what deployed but differs from AWS (e.g. a public layer skipped); also logged at WARNING
    warnings: list[str] = field(default_factory=list)
    #: logical ids left out because their Condition is false
    skipped: list[str] = field(default_factory=list)

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
        self._conditions: dict[str, bool] = {}
        #: a local layer's LayerVersionArn -> the folders Python imports it from (Lambda's /opt/python)
        self.layer_paths: dict[str, list[Path]] = {}
        self._inline_dir: Path | None = None

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
            if key in _CONDITION_FUNCTIONS or key == "Condition":
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
            support = _SUPPORT.get(type_)
            if support is None:
                found.append(Problem(lid, type_, "resource type"))
                continue
            props = res.get("Properties") or {}
            for name in props:
                if name not in support.handles and name not in support.ignores:
                    found.append(Problem(lid, type_, f"property {name}", support.unsupported.get(name, "")))
            if support.check is not None:
                found += [Problem(lid, type_, what, note) for what, note in support.check(self, lid, props)]
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
        """Functions whose handlers are same-named modules of different code: one interpreter imports one."""
        if self.runtime is None:
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
                                     "two functions' own modules of one name need a sandbox each (issue 13, part 1)"))
        return found

    def deploy(self) -> Stack:
        """Create every resource; returns the Stack. Whatever is unsupported fails before anything is created."""
        problems = self.problems()
        if problems:
            raise UnsupportedTemplate(self.expanded.name, problems)
        resources = self.template["Resources"]
        for lid in self.order():
            res = resources[lid]
            if "Condition" in res and not self.condition(res["Condition"]):
                self.stack.skipped.append(lid)
                continue
            props = self.resolve(res.get("Properties", {}), lid)
            try:
                created = _SUPPORT[res["Type"]].creator(self, lid, props)
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

    def _warn_about_runtimes(self) -> None:
        here = f"python{sys.version_info.major}.{sys.version_info.minor}"
        others: dict[str, list[str]] = {}
        for res in self.stack.of_type("AWS::Lambda::Function"):
            runtime = res.properties.get("Runtime", here)
            if runtime != here:
                others.setdefault(runtime, []).append(res.logical_id)
        for runtime, functions in sorted(others.items()):
            self.warn(f"{', '.join(functions)}: Runtime {runtime}, but handlers run on this machine's Python "
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
        folder = self._inline_dir / lid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.py").write_text(source)
        return folder

    def layers(self, lid: str, arns: list[str]) -> tuple[list[str], list[Path]]:
        """(the layer ARNs the emulator gets, the folders the handler imports from) for a function's Layers.

        Layers of this template are local folders. A public layer (another account's ARN) cannot be fetched:
        if the package it provides is installed here the function imports that, else the layer is skipped.
        """
        local_arns: list[str] = []
        paths: list[Path] = []
        for arn in arns:
            if arn in self.layer_paths:
                local_arns.append(arn)
                paths += self.layer_paths[arn]
                continue
            parts = arn.split(":")
            layer_name = parts[6] if len(parts) > 6 else arn
            package = next((pkg for prefix, pkg in PUBLIC_LAYER_PACKAGES.items()
                            if layer_name == prefix or layer_name.startswith(prefix + "-")), None)
            if package is not None and importlib.util.find_spec(package) is not None:
                self.warn(f"{lid}: public layer {arn} is not fetched; the function imports the installed "
                          f"package {package} instead")
            else:
                hint = f" (install {package} to use it)" if package else ""
                self.warn(f"{lid}: public layer {arn} skipped: layers from other accounts are not available "
                          f"locally{hint}")
        return local_arns, paths

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
#: value checks of a type's properties before the deploy: (what is unsupported, note) per finding
Check = Callable[[Deployer, str, dict], list[tuple[str, str]]]


@dataclass(frozen=True)
class Support:
    """How the local cloud deploys one resource type, and which of its CloudFormation properties it honours.

    `handles`: translated to the emulated API. `ignores`: accepted with no local effect (the reason says why).
    Any other property of the type is reported as unsupported before the deploy (`unsupported` adds a note).
    """

    creator: Creator
    handles: frozenset[str]
    ignores: dict[str, str]
    unsupported: dict[str, str]
    check: Check | None = None


_SUPPORT: dict[str, Support] = {}


def creates(type_: str, *, handles: tuple[str, ...] = (), ignores: dict[str, str] | None = None,
            unsupported: dict[str, str] | None = None, check: Check | None = None) -> Callable[[Creator], Creator]:
    """Register the function that creates resources of `type_`, with the properties it handles and ignores."""
    def register(fn: Creator) -> Creator:
        _SUPPORT[type_] = Support(fn, frozenset(handles), dict(ignores or {}), dict(unsupported or {}), check)
        return fn
    return register


def supported_types() -> list[str]:
    """Every resource type the local cloud can deploy."""
    return sorted(_SUPPORT)


def support(type_: str) -> Support | None:
    """How `type_` is deployed (None: not at all)."""
    return _SUPPORT.get(type_)


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


def _tags(value: Any) -> dict[str, str]:
    """CloudFormation's tag list ([{Key, Value}]) or map as a plain dict."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {str(t["Key"]): str(t.get("Value", "")) for t in value or []}


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


_TAGS = {"Tags": "kept by the template only: nothing reads tags locally"}


def _pick(props: dict, *keys: str) -> dict:
    return {k: props[k] for k in keys if k in props}


_NO_IAM = "IAM is not enforced locally"


# ---------------------------------------------------------------------- DynamoDB
_INDEX_CFN_ONLY = ("ContributorInsightsSpecification", "OnDemandThroughput", "WarmThroughput")


@creates("AWS::DynamoDB::Table",
         handles=("TableName", "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "GlobalSecondaryIndexes",
                  "BillingMode", "ProvisionedThroughput", "SSESpecification", "StreamSpecification",
                  "TimeToLiveSpecification", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled",
                  "TableClass", "Tags"),
         ignores={"ContributorInsightsSpecification": "no CloudWatch Contributor Insights locally",
                  "OnDemandThroughput": "a capacity limit: nothing is throttled locally",
                  "WarmThroughput": "a capacity hint", "ResourcePolicy": _NO_IAM},
         unsupported={"KinesisStreamSpecification": "Kinesis is not emulated",
                      "ImportSourceSpecification": "no import from S3"})
def _table(d: Deployer, lid: str, props: dict) -> Resource:
    ddb = d.client("dynamodb")
    name = d.name_for(lid, props, "TableName", limit=255)
    args = _pick(props, "AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "TableClass")
    args["BillingMode"] = props.get("BillingMode", "PROVISIONED")
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = {k: _numeric(v) for k, v in props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}).items()}
    if props.get("GlobalSecondaryIndexes"):
        indexes = []
        for index in props["GlobalSecondaryIndexes"]:
            index = {k: v for k, v in index.items() if k not in _INDEX_CFN_ONLY}
            if args["BillingMode"] == "PROVISIONED":
                index["ProvisionedThroughput"] = {k: _numeric(v) for k, v in index.get(
                    "ProvisionedThroughput", args["ProvisionedThroughput"]).items()}
            indexes.append(index)
        args["GlobalSecondaryIndexes"] = indexes
    if "SSESpecification" in props:
        # CloudFormation says SSEEnabled where the API says Enabled
        sse = props["SSESpecification"]
        args["SSESpecification"] = {"Enabled": _bool(sse.get("SSEEnabled", False)),
                                    **_pick(sse, "SSEType", "KMSMasterKeyId")}
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType":
                                       props["StreamSpecification"]["StreamViewType"]}
    if "DeletionProtectionEnabled" in props:
        args["DeletionProtectionEnabled"] = _bool(props["DeletionProtectionEnabled"])
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in _tags(props["Tags"]).items()]
    table = ddb.create_table(TableName=name, **args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and _bool(ttl.get("Enabled")):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and _bool(pitr.get("PointInTimeRecoveryEnabled")):
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
    attrs = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attrs["StreamArn"] = table["LatestStreamArn"]
    return Resource(lid, "AWS::DynamoDB::Table", name, attrs)


# ---------------------------------------------------------------------- SQS
_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                     "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "KmsMasterKeyId",
                     "KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit",
                     "SqsManagedSseEnabled")


@creates("AWS::SQS::Queue", handles=("QueueName", "RedrivePolicy", "RedriveAllowPolicy", "Tags", *_QUEUE_ATTRIBUTES))
def _queue(d: Deployer, lid: str, props: dict) -> Resource:
    sqs = d.client("sqs")
    fifo = _bool(props.get("FifoQueue", ""))
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
    args: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if props.get("Tags"):
        args["tags"] = _tags(props["Tags"])
    url = sqs.create_queue(**args)["QueueUrl"]
    if d.embedded:
        url = f"{d.endpoint}/{d.stack.account_id}/{name}"  # as the server would have answered
    arn = d.arn("sqs", name)
    return Resource(lid, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


@creates("AWS::SQS::QueuePolicy", handles=("Queues", "PolicyDocument"))
def _queue_policy(d: Deployer, lid: str, props: dict) -> Resource:
    for url in props["Queues"]:
        d.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    return Resource(lid, "AWS::SQS::QueuePolicy", f"{d.stack.name}-{lid}", {"Id": f"{d.stack.name}-{lid}"})


# ---------------------------------------------------------------------- S3
@creates("AWS::S3::Bucket",
         handles=("BucketName", "Tags", "VersioningConfiguration", "CorsConfiguration", "BucketEncryption",
                  "PublicAccessBlockConfiguration"),
         ignores={"AccessControl": "ACLs are not enforced locally",
                  "OwnershipControls": "ACLs are not enforced locally",
                  "AccelerateConfiguration": "a network feature", "AnalyticsConfigurations": "no storage analytics",
                  "IntelligentTieringConfigurations": "one storage class locally",
                  "InventoryConfigurations": "no inventory reports", "MetricsConfigurations": "no request metrics",
                  "LoggingConfiguration": "no access logs", "LifecycleConfiguration": "objects never expire locally"},
         unsupported={"NotificationConfiguration": "S3 event notifications are not delivered locally",
                      "WebsiteConfiguration": "no website endpoint", "ReplicationConfiguration": "no replication"})
def _bucket(d: Deployer, lid: str, props: dict) -> Resource:
    s3 = d.client("s3")
    name = d.name_for(lid, props, "BucketName", lower=True, limit=63)
    s3.create_bucket(Bucket=name)
    if props.get("Tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                               for k, v in _tags(props["Tags"]).items()]})
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={
            "Status": props["VersioningConfiguration"]["Status"]})
    if "CorsConfiguration" in props:
        rules = [{**_pick(r, "AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ID"),
                  **({"ExposeHeaders": r["ExposedHeaders"]} if "ExposedHeaders" in r else {}),
                  **({"MaxAgeSeconds": _numeric(r["MaxAge"])} if "MaxAge" in r else {})}
                 for r in props["CorsConfiguration"]["CorsRules"]]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
            {("ID" if k == "Id" else k): v for k, v in rule.items()} for rule in rules]})
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": props["BucketEncryption"]["ServerSideEncryptionConfiguration"]})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            k: _bool(v) for k, v in props["PublicAccessBlockConfiguration"].items()})
    return Resource(lid, "AWS::S3::Bucket", name, {
        "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{d.stack.region}.amazonaws.com",
        "DualStackDomainName": f"{name}.s3.dualstack.{d.stack.region}.amazonaws.com",
        "WebsiteURL": f"http://{name}.s3-website-{d.stack.region}.amazonaws.com"})


# ---------------------------------------------------------------------- IAM (recorded, not enforced)
def _policy_document(document: dict | str) -> str:
    # SAM's policy templates omit Version; IAM accepts that, moto refuses it
    if isinstance(document, str):
        document = json.loads(document)
    return json.dumps({"Version": "2012-10-17", **document})


@creates("AWS::IAM::Role",
         handles=("RoleName", "AssumeRolePolicyDocument", "Policies", "Path", "Description", "MaxSessionDuration"),
         ignores={"ManagedPolicyArns": f"{_NO_IAM}; moto has no AWS managed policies",
                  "PermissionsBoundary": _NO_IAM, **_TAGS})
def _role(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    name = d.name_for(lid, props, "RoleName")
    args = {"RoleName": name, "Path": props.get("Path", "/"),
            "AssumeRolePolicyDocument": json.dumps(props.get("AssumeRolePolicyDocument", {})),
            **_pick(props, "Description")}
    if "MaxSessionDuration" in props:
        args["MaxSessionDuration"] = _numeric(props["MaxSessionDuration"])
    role = iam.create_role(**args)["Role"]
    for policy in props.get("Policies", []):
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                            PolicyDocument=_policy_document(policy["PolicyDocument"]))
    return Resource(lid, "AWS::IAM::Role", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


@creates("AWS::IAM::Policy", handles=("PolicyName", "PolicyDocument", "Roles"),
         unsupported={"Users": "IAM users are not supported", "Groups": "IAM groups are not supported"})
def _policy(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    for role in props.get("Roles", []):
        iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"],
                            PolicyDocument=_policy_document(props["PolicyDocument"]))
    return Resource(lid, "AWS::IAM::Policy", props["PolicyName"], {"Id": props["PolicyName"]})


@creates("AWS::IAM::ManagedPolicy", handles=("ManagedPolicyName", "PolicyDocument", "Path", "Description", "Roles"),
         unsupported={"Users": "IAM users are not supported", "Groups": "IAM groups are not supported"})
def _managed_policy(d: Deployer, lid: str, props: dict) -> Resource:
    iam = d.client("iam")
    name = d.name_for(lid, props, "ManagedPolicyName", limit=128)
    arn = iam.create_policy(PolicyName=name, PolicyDocument=_policy_document(props["PolicyDocument"]),
                            **_pick(props, "Path", "Description"))["Policy"]["Arn"]
    for role in props.get("Roles", []):
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return Resource(lid, "AWS::IAM::ManagedPolicy", arn, {"PolicyArn": arn})


# ---------------------------------------------------------------------- Lambda
#: public layers people use, by the name in their ARN -> the Python package they provide
PUBLIC_LAYER_PACKAGES = {
    "AWSLambdaPowertoolsPythonV2": "aws_lambda_powertools",
    "AWSLambdaPowertoolsPythonV3": "aws_lambda_powertools",
    "AWSLambdaPowertoolsPythonV2-Arm64": "aws_lambda_powertools",
    "AWSSDKPandas-Python": "awswrangler",
    "AWSDataWrangler-Python": "awswrangler",
}


def _function_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    found = []
    if props.get("PackageType") == "Image":
        found.append(("PackageType Image", "container images need Docker; only local Python code runs"))
    runtime = props.get("Runtime", "python3")
    if isinstance(runtime, str) and not runtime.startswith("python"):
        found.append((f"Runtime {runtime}", "only Python handlers run locally"))
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
                  "TracingConfig", "PackageType", "Tags"),
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
    timeout = _numeric(props.get("Timeout", 3))
    memory = _numeric(props.get("MemorySize", 128))
    layers, layer_dirs = d.layers(lid, props.get("Layers") or [])
    args = {"FunctionName": name, "Runtime": props.get("Runtime", "python3.11"), "Role": props["Role"],
            "Handler": props["Handler"], "Code": {"ZipFile": d.code_zip(code_dir)}, "Timeout": timeout,
            "MemorySize": memory, "Environment": {"Variables": environment}}
    args.update(_pick(props, "Description", "TracingConfig", "Architectures", "DeadLetterConfig"))
    if layers:
        args["Layers"] = layers
    if props.get("Tags"):
        args["Tags"] = _tags(props["Tags"])
    fn = d.client("lambda").create_function(**args)
    reserved = props.get("ReservedConcurrentExecutions")
    if reserved is not None:
        d.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=_numeric(reserved))
    if d.runtime is not None:
        d.runtime.register(FunctionSpec(name=name, arn=fn["FunctionArn"], handler=props["Handler"], code_dir=code_dir,
                                        environment=environment, timeout=timeout, memory=memory,
                                        reserved_concurrency=None if reserved is None else _numeric(reserved),
                                        layers=tuple(layer_dirs),
                                        dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("TargetArn")))
    return Resource(lid, "AWS::Lambda::Function", name, {"Arn": fn["FunctionArn"]})


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
        **_pick(props, "Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"))
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
            config[key] = _numeric(props[key])
    if props.get("DestinationConfig"):
        config["DestinationConfig"] = props["DestinationConfig"]
    qualifier = props.get("Qualifier", "$LATEST")
    function = props["FunctionName"]
    d.client("lambda").put_function_event_invoke_config(FunctionName=function, **config)
    return Resource(lid, "AWS::Lambda::EventInvokeConfig", f"{function}:{qualifier}")


@creates("AWS::Lambda::Permission",
         handles=("FunctionName", "Action", "Principal", "SourceArn", "SourceAccount"),
         ignores={"EventSourceToken": _NO_IAM, "PrincipalOrgID": _NO_IAM, "FunctionUrlAuthType": _NO_IAM,
                  "InvokedViaFunctionUrl": _NO_IAM})
def _permission(d: Deployer, lid: str, props: dict) -> Resource:
    args = {"FunctionName": props["FunctionName"], "StatementId": lid, "Action": props["Action"],
            "Principal": props["Principal"], **_pick(props, "SourceArn", "SourceAccount")}
    d.client("lambda").add_permission(**args)
    return Resource(lid, "AWS::Lambda::Permission", lid, {"Id": lid})


@creates("AWS::Lambda::EventSourceMapping",
         handles=("EventSourceArn", "FunctionName", "BatchSize", "MaximumBatchingWindowInSeconds", "ScalingConfig",
                  "Enabled", "FunctionResponseTypes", "StartingPosition", "MaximumRetryAttempts"),
         ignores={"MetricsConfig": "no Lambda metrics locally", "LoggingConfig": "handler output goes to the console",
                  "KmsKeyArn": "filter criteria are not encrypted", **_TAGS},
         unsupported={"FilterCriteria": "records are not filtered locally",
                      "DestinationConfig": "stream failure destinations are not supported"})
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


@creates("AWS::StepFunctions::StateMachine",
         handles=("Definition", "DefinitionString", "DefinitionS3Location", "DefinitionSubstitutions", "RoleArn",
                  "StateMachineName", "StateMachineType"),
         ignores={"LoggingConfiguration": "no execution logs in CloudWatch", "TracingConfiguration": "no X-Ray traces",
                  "EncryptionConfiguration": "definitions are not encrypted locally", **_TAGS},
         check=lambda d, lid, props: [] if lid in d.expanded.state_machine_files or "DefinitionS3Location" not in props
         else [("DefinitionS3Location", "only a local definition file (DefinitionUri) is supported")])
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


# ---------------------------------------------------------------------- API Gateway v2 (WebSocket and HTTP APIs)
def _api_v2_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    found = []
    body = props.get("Body")
    if isinstance(body, dict):
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        for name, scheme in schemes.items():
            authorizer = scheme.get("x-amazon-apigateway-authorizer") or {}
            if authorizer.get("type", "").lower() == "jwt":
                found.append((f"JWT authorizer {name}", "only Lambda (request) authorizers run locally"))
        for path, operations in (body.get("paths") or {}).items():
            for method, operation in (operations or {}).items():
                integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                if integration and str(integration.get("type", "")).lower() != "aws_proxy":
                    found.append((f"integration {method.upper()} {path}",
                                  f"type {integration.get('type')}: only Lambda proxy integrations run locally"))
    elif body is not None:
        found.append(("Body", "only an inline OpenAPI document is supported"))
    return found


@creates("AWS::ApiGatewayV2::Api",
         handles=("Name", "ProtocolType", "RouteSelectionExpression", "ApiKeySelectionExpression", "Description",
                  "DisableExecuteApiEndpoint", "Version", "Body", "Tags", "CorsConfiguration", "Target", "RouteKey"),
         ignores={"FailOnWarnings": "the document is read as given", "DisableSchemaValidation": "not validated",
                  "BasePath": "an import option", "CredentialsArn": _NO_IAM, "IpAddressType": "loopback only"},
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
        args = _pick(props, "Name", "ProtocolType", "RouteSelectionExpression", "ApiKeySelectionExpression",
                     "Description", "DisableExecuteApiEndpoint", "Version", "Target", "RouteKey")
        args.setdefault("Name", f"{d.stack.name}-{lid}")
        if props.get("Tags"):
            args["Tags"] = _tags(props["Tags"])
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
    args = _pick(props, "ApiId", "RouteKey", "AuthorizationType", "AuthorizerId", "Target", "AuthorizationScopes",
                 "RouteResponseSelectionExpression", "ModelSelectionExpression", "OperationName", "ApiKeyRequired")
    route = d.client("apigatewayv2").create_route(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Route", route["RouteId"], {"RouteId": route["RouteId"]})


def _integration_v2_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    kind = props.get("IntegrationType")
    if kind in ("AWS_PROXY", "MOCK") and not props.get("IntegrationSubtype"):
        return []
    return [(f"IntegrationType {kind}", "only Lambda proxy (AWS_PROXY) and MOCK integrations run locally")]


@creates("AWS::ApiGatewayV2::Integration",
         handles=("ApiId", "IntegrationType", "IntegrationUri", "IntegrationMethod", "ContentHandlingStrategy",
                  "PayloadFormatVersion", "TemplateSelectionExpression", "PassthroughBehavior", "Description",
                  "TimeoutInMillis"),
         ignores={"CredentialsArn": _NO_IAM},
         unsupported={"RequestParameters": "parameter mapping is not applied locally",
                      "ResponseParameters": "parameter mapping is not applied locally",
                      "RequestTemplates": "mapping templates are not applied locally",
                      "ConnectionType": "no VPC links", "ConnectionId": "no VPC links",
                      "IntegrationSubtype": "AWS service integrations are not supported",
                      "TlsConfig": "no private integrations"},
         check=_integration_v2_check)
def _integration_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "IntegrationType", "IntegrationUri", "IntegrationMethod", "ContentHandlingStrategy",
                 "PayloadFormatVersion", "TemplateSelectionExpression", "PassthroughBehavior", "Description")
    if "TimeoutInMillis" in props:
        args["TimeoutInMillis"] = _numeric(props["TimeoutInMillis"])
    integration = d.client("apigatewayv2").create_integration(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Integration", integration["IntegrationId"],
                    {"IntegrationId": integration["IntegrationId"]})


@creates("AWS::ApiGatewayV2::Authorizer",
         handles=("ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource", "Name",
                  "AuthorizerPayloadFormatVersion", "EnableSimpleResponses"),
         ignores={"AuthorizerCredentialsArn": _NO_IAM,
                  "AuthorizerResultTtlInSeconds": "results are not cached: the authorizer runs on every request"},
         unsupported={"JwtConfiguration": "JWT authorizers are not supported",
                      "IdentityValidationExpression": "not applied locally"},
         check=lambda d, lid, props: [] if props.get("AuthorizerType") == "REQUEST" else [
             (f"AuthorizerType {props.get('AuthorizerType')}", "only Lambda REQUEST authorizers run locally")])
def _authorizer_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource", "Name",
                 "AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion", "EnableSimpleResponses")
    # optional in CloudFormation for WEBSOCKET REQUEST authorizers, required by the API: none means "always call"
    args.setdefault("IdentitySource", [])
    if isinstance(args["IdentitySource"], str):
        args["IdentitySource"] = [s.strip() for s in args["IdentitySource"].split(",")]
    if "EnableSimpleResponses" in args:
        args["EnableSimpleResponses"] = _bool(args["EnableSimpleResponses"])
    authorizer = d.client("apigatewayv2").create_authorizer(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Authorizer", authorizer["AuthorizerId"],
                    {"AuthorizerId": authorizer["AuthorizerId"]})


@creates("AWS::ApiGatewayV2::RouteResponse",
         handles=("ApiId", "RouteId", "RouteResponseKey", "ModelSelectionExpression"),
         ignores={"ResponseModels": "responses are not validated locally",
                  "ResponseParameters": "responses are not validated locally"})
def _route_response_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "RouteId", "RouteResponseKey", "ModelSelectionExpression")
    response = d.client("apigatewayv2").create_route_response(**args)
    return Resource(lid, "AWS::ApiGatewayV2::RouteResponse", response["RouteResponseId"])


@creates("AWS::ApiGatewayV2::Stage",
         handles=("ApiId", "StageName", "AutoDeploy", "DeploymentId", "Description", "StageVariables", "Tags"),
         ignores={"DefaultRouteSettings": "no throttling or detailed metrics locally",
                  "RouteSettings": "no throttling or detailed metrics locally",
                  "AccessLogSettings": "no access logs locally", "ClientCertificateId": "no client certificates"})
def _stage_v2(d: Deployer, lid: str, props: dict) -> Resource:
    args = _pick(props, "ApiId", "StageName", "Description", "StageVariables", "DeploymentId")
    if "AutoDeploy" in props:
        args["AutoDeploy"] = _bool(props["AutoDeploy"])
    if props.get("Tags"):
        args["Tags"] = _tags(props["Tags"])
    d.client("apigatewayv2").create_stage(**args)
    return Resource(lid, "AWS::ApiGatewayV2::Stage", props["StageName"])


@creates("AWS::ApiGatewayV2::Deployment", handles=("ApiId", "StageName", "Description"))
def _deployment_v2(d: Deployer, lid: str, props: dict) -> Resource:
    # moto has no ApiGatewayV2 CreateDeployment (404): the data planes serve an API's routes as deployed at start-up,
    # so a deployment is an id (shaped like AWS's) the Stage's DeploymentId can refer to
    deployment_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    return Resource(lid, "AWS::ApiGatewayV2::Deployment", deployment_id, {"DeploymentId": deployment_id})


# ---------------------------------------------------------------------- API Gateway v1 (REST API from SAM)
def _rest_api_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    body = props.get("Body")
    if not isinstance(body, dict):
        return [] if body is None else [("Body", "only an inline swagger/OpenAPI document is supported")]
    schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
    found = [(f"authorizer {name}", "REST API authorizers (Lambda, Cognito, IAM, API keys) are not run locally")
             for name in schemes]
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in (operations or {}).items():
            integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
            if integration and str(integration.get("type", "")).lower() != "aws_proxy":
                found.append((f"integration {method.upper()} {path}",
                              f"type {integration.get('type')}: only Lambda proxy integrations run locally"))
    return found


@creates("AWS::ApiGateway::RestApi",
         handles=("Name", "Body", "BinaryMediaTypes", "Description"),
         ignores={"EndpointConfiguration": "loopback only", "MinimumCompressionSize": "responses are not compressed",
                  "ApiKeySourceType": "API keys are not checked", "DisableExecuteApiEndpoint": "loopback only",
                  "FailOnWarnings": "the document is read as given", "Policy": _NO_IAM,
                  "Parameters": "an import option", "Mode": "an import option", "SecurityPolicy": "no TLS locally",
                  "EndpointAccessMode": "loopback only", **_TAGS},
         unsupported={"BodyS3Location": "only an inline Body is supported", "CloneFrom": "no cloning"},
         check=_rest_api_check)
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
                  "DocumentationVersion": "no documentation parts", **_TAGS},
         unsupported={"Variables": "stage variables are not passed to integrations locally"})
def _rest_stage(d: Deployer, lid: str, props: dict) -> Resource:
    apigw = d.client("apigateway")
    stage = props["StageName"]
    try:
        apigw.create_stage(restApiId=props["RestApiId"], stageName=stage, deploymentId=props["DeploymentId"])
    except apigw.exceptions.ConflictException:
        pass  # the Deployment already created a stage of that name
    return Resource(lid, "AWS::ApiGateway::Stage", stage)


# ---------------------------------------------------------------------- EventBridge, SES
@creates("AWS::Events::Rule",
         handles=("Name", "ScheduleExpression", "State", "Description", "EventBusName", "EventPattern", "Targets"),
         ignores={"RoleArn": _NO_IAM, **_TAGS})
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


@creates("AWS::SES::EmailIdentity", handles=("EmailIdentity",),
         ignores={"ConfigurationSetAttributes": "no configuration sets locally", "DkimAttributes": "no DKIM locally",
                  "DkimSigningAttributes": "no DKIM locally", "FeedbackAttributes": "no bounce feedback locally",
                  "MailFromAttributes": "mail is kept, not sent", **_TAGS})
def _email_identity(d: Deployer, lid: str, props: dict) -> Resource:
    identity = props["EmailIdentity"]
    ses = d.client("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)
    return Resource(lid, "AWS::SES::EmailIdentity", identity)


# ---------------------------------------------------------------------- CloudWatch Logs, Secrets Manager, SSM
@creates("AWS::Logs::LogGroup", handles=("LogGroupName", "RetentionInDays", "KmsKeyId", "Tags"),
         ignores={"DataProtectionPolicy": "log data is not masked locally", "LogGroupClass": "one class locally",
                  "FieldIndexPolicies": "no field indexes", "ResourcePolicyDocument": _NO_IAM,
                  "DeletionProtectionEnabled": "the local cloud deletes everything when it stops",
                  "BearerTokenAuthenticationEnabled": "no bearer-token ingestion"})
def _log_group(d: Deployer, lid: str, props: dict) -> Resource:
    logs = d.client("logs")
    name = d.name_for(lid, props, "LogGroupName", limit=512)
    args: dict[str, Any] = {"logGroupName": name, **({"kmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {})}
    if props.get("Tags"):
        args["tags"] = _tags(props["Tags"])
    logs.create_log_group(**args)
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=_numeric(props["RetentionInDays"]))
    return Resource(lid, "AWS::Logs::LogGroup", name, {"Arn": d.arn("logs", f"log-group:{name}:*")})


def _generated_secret(d: Deployer, spec: dict) -> str:
    options = {key: _bool(spec[key]) for key in ("ExcludeLowercase", "ExcludeNumbers", "ExcludePunctuation",
                                                 "ExcludeUppercase", "IncludeSpace", "RequireEachIncludedType")
               if key in spec}
    if "PasswordLength" in spec:
        options["PasswordLength"] = _numeric(spec["PasswordLength"])
    if "ExcludeCharacters" in spec:
        options["ExcludeCharacters"] = spec["ExcludeCharacters"]
    password = d.client("secretsmanager").get_random_password(**options)["RandomPassword"]
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


@creates("AWS::SecretsManager::Secret",
         handles=("Name", "Description", "SecretString", "GenerateSecretString", "KmsKeyId", "Tags"),
         ignores={"ReplicaRegions": "one region locally", "Type": "a hint for rotation"})
def _secret(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=512)
    value = props["SecretString"] if "SecretString" in props else _generated_secret(
        d, props.get("GenerateSecretString") or {})
    args: dict[str, Any] = {"Name": name, "SecretString": value, **_pick(props, "Description", "KmsKeyId")}
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in _tags(props["Tags"]).items()]
    arn = d.client("secretsmanager").create_secret(**args)["ARN"]
    return Resource(lid, "AWS::SecretsManager::Secret", arn, {"Id": arn})


@creates("AWS::SSM::Parameter",
         handles=("Name", "Type", "Value", "Description", "AllowedPattern", "Tier", "DataType", "Tags"),
         ignores={"Policies": "parameter policies (expiration) are not applied locally"})
def _parameter(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "Name", limit=2048)
    args: dict[str, Any] = {"Name": name, "Value": str(props["Value"]), "Type": props.get("Type", "String"),
                            **_pick(props, "Description", "AllowedPattern", "Tier", "DataType")}
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in _tags(props["Tags"]).items()]
    d.client("ssm").put_parameter(**args)
    return Resource(lid, "AWS::SSM::Parameter", name, {"Type": args["Type"], "Value": args["Value"]})


# ---------------------------------------------------------------------- SNS
_SNS_PROTOCOLS = ("sqs", "lambda", "http", "https", "email", "email-json")


@creates("AWS::SNS::Topic",
         handles=("TopicName", "DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId",
                  "Subscription", "SignatureVersion", "Tags"),
         ignores={"TracingConfig": "no X-Ray traces", "DeliveryStatusLogging": "no delivery status logs locally",
                  "DataProtectionPolicy": "messages are not masked locally",
                  "FifoThroughputScope": "no throughput limits locally"},
         unsupported={"ArchivePolicy": "no message archive or replay"},
         check=lambda d, lid, props: [(f"Subscription Protocol {s.get('Protocol')}", "not delivered locally")
                                      for s in props.get("Subscription") or []
                                      if isinstance(s, dict) and s.get("Protocol") not in _SNS_PROTOCOLS])
def _topic(d: Deployer, lid: str, props: dict) -> Resource:
    sns = d.client("sns")
    fifo = _bool(props.get("FifoTopic", ""))
    name = d.name_for(lid, props, "TopicName", limit=251 if fifo else 256)
    if fifo and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in props.items()
                  if k in ("DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId",
                           "SignatureVersion")}
    args: dict[str, Any] = {"Name": name, "Attributes": attributes}
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in _tags(props["Tags"]).items()]
    arn = sns.create_topic(**args)["TopicArn"]
    for subscription in props.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return Resource(lid, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


@creates("AWS::SNS::Subscription",
         handles=("TopicArn", "Protocol", "Endpoint", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                  "Region"),
         ignores={"DeliveryPolicy": "HTTP delivery retries are not applied locally"},
         unsupported={"RedrivePolicy": "no dead-letter queue for subscriptions locally",
                      "SubscriptionRoleArn": "no Firehose subscriptions", "ReplayPolicy": "no message replay"},
         check=lambda d, lid, props: [] if props.get("Protocol") in _SNS_PROTOCOLS else [
             (f"Protocol {props.get('Protocol')}", "not delivered locally")])
def _subscription(d: Deployer, lid: str, props: dict) -> Resource:
    attributes = {}
    if "FilterPolicy" in props:
        policy = props["FilterPolicy"]
        attributes["FilterPolicy"] = policy if isinstance(policy, str) else json.dumps(policy)
    if "FilterPolicyScope" in props:
        attributes["FilterPolicyScope"] = props["FilterPolicyScope"]
    if "RawMessageDelivery" in props:
        attributes["RawMessageDelivery"] = str(_bool(props["RawMessageDelivery"])).lower()
    arn = d.client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                    Endpoint=props["Endpoint"], Attributes=attributes,
                                    ReturnSubscriptionArn=True)["SubscriptionArn"]
    return Resource(lid, "AWS::SNS::Subscription", arn, {"Arn": arn})


@creates("AWS::SNS::TopicPolicy", handles=("Topics", "PolicyDocument"))
def _topic_policy(d: Deployer, lid: str, props: dict) -> Resource:
    for topic in props["Topics"]:
        d.client("sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                             AttributeValue=json.dumps(props["PolicyDocument"]))
    return Resource(lid, "AWS::SNS::TopicPolicy", f"{d.stack.name}-{lid}", {"Id": f"{d.stack.name}-{lid}"})


# ---------------------------------------------------------------------- KMS
@creates("AWS::KMS::Key",
         handles=("Description", "KeyPolicy", "KeyUsage", "KeySpec", "Enabled", "EnableKeyRotation", "MultiRegion",
                  "Tags"),
         ignores={"PendingWindowInDays": "keys are deleted when the local cloud stops",
                  "RotationPeriodInDays": "keys are not rotated locally",
                  "BypassPolicyLockoutSafetyCheck": "key policies are not enforced locally"},
         unsupported={"Origin": "only keys KMS generates (AWS_KMS)"})
def _key(d: Deployer, lid: str, props: dict) -> Resource:
    kms = d.client("kms")
    args: dict[str, Any] = _pick(props, "Description", "KeyUsage", "KeySpec")
    if "KeyPolicy" in props:
        policy = props["KeyPolicy"]
        args["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    if "MultiRegion" in props:
        args["MultiRegion"] = _bool(props["MultiRegion"])
    if props.get("Tags"):
        args["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in _tags(props["Tags"]).items()]
    key = kms.create_key(**args)["KeyMetadata"]
    if _bool(props.get("EnableKeyRotation", False)):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    if "Enabled" in props and not _bool(props["Enabled"]):
        kms.disable_key(KeyId=key["KeyId"])
    return Resource(lid, "AWS::KMS::Key", key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


@creates("AWS::KMS::Alias", handles=("AliasName", "TargetKeyId"))
def _alias(d: Deployer, lid: str, props: dict) -> Resource:
    d.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return Resource(lid, "AWS::KMS::Alias", props["AliasName"])


# ---------------------------------------------------------------------- monitoring set-up (what `sam init` adds)
_NOTHING_TO_MONITOR = "recorded only: no CloudWatch Application Insights locally"


@creates("AWS::ResourceGroups::Group", handles=("Name",),
         ignores={"Description": _NOTHING_TO_MONITOR, "ResourceQuery": _NOTHING_TO_MONITOR,
                  "Resources": _NOTHING_TO_MONITOR, "Configuration": _NOTHING_TO_MONITOR, **_TAGS})
def _resource_group(d: Deployer, lid: str, props: dict) -> Resource:
    name = props["Name"]
    return Resource(lid, "AWS::ResourceGroups::Group", name,
                    {"Arn": d.arn("resource-groups", f"group/{name}")})


@creates("AWS::ApplicationInsights::Application", handles=("ResourceGroupName",),
         ignores={name: _NOTHING_TO_MONITOR for name in (
             "AttachMissingPermission", "AutoConfigurationEnabled", "CWEMonitorEnabled", "ComponentMonitoringSettings",
             "CustomComponents", "GroupingType", "LogPatternSets", "OpsCenterEnabled", "OpsItemSNSTopicArn",
             "SNSNotificationArn", "Tags")})
def _application_insights(d: Deployer, lid: str, props: dict) -> Resource:
    arn = d.arn("applicationinsights", f"application/resource-group/{props['ResourceGroupName']}")
    return Resource(lid, "AWS::ApplicationInsights::Application", arn, {"ApplicationARN": arn})


def deploy(expanded: ExpandedTemplate, endpoint: str, runtime: LambdaRuntime | None = None, **kwargs: Any) -> Stack:
    """Deploy `expanded` into `endpoint`; see Deployer."""
    return Deployer(expanded, endpoint, runtime, **kwargs).deploy()
