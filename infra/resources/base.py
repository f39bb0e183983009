"""What a resource creator needs, apart from the Deployer that runs it: the resource it answers, the registry of
creators (`creates`) and the helpers that read CloudFormation's values. infra/deploy.py drives them; the
modules of this package register with `creates` and never import the deployer itself.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.deploy import Deployer


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


def numeric(value: Any) -> int:
    """A CloudFormation number (often a string) as an int."""
    return int(float(value))


# ---------------------------------------------------------------------- creators, one per resource type
Creator = Callable[["Deployer", str, dict], Resource]
#: value checks of a type's properties before the deploy: (what is unsupported, note) per finding
Check = Callable[["Deployer", str, dict], list[tuple[str, str]]]


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
    #: any property is the resource's own (a custom resource's properties go to its function as they are)
    open_properties: bool = False


_SUPPORT: dict[str, Support] = {}


def creates(type_: str, *, handles: tuple[str, ...] = (), ignores: dict[str, str] | None = None,
            unsupported: dict[str, str] | None = None, check: Check | None = None,
            open_properties: bool = False) -> Callable[[Creator], Creator]:
    """Register the function that creates resources of `type_`, with the properties it handles and ignores."""
    def register(fn: Creator) -> Creator:
        _SUPPORT[type_] = Support(fn, frozenset(handles), dict(ignores or {}), dict(unsupported or {}), check,
                                  open_properties)
        return fn
    return register


def supported_types() -> list[str]:
    """Every resource type the local cloud can deploy."""
    return sorted(_SUPPORT)


def support(type_: str) -> Support | None:
    """How `type_` is deployed (None: not at all). `Custom::<Name>` is a custom resource, as
    AWS::CloudFormation::CustomResource."""
    if type_.startswith("Custom::"):
        type_ = "AWS::CloudFormation::CustomResource"
    return _SUPPORT.get(type_)


def tags(value: Any) -> dict[str, str]:
    """CloudFormation's tag list ([{Key, Value}]) or map as a plain dict."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {str(t["Key"]): str(t.get("Value", "")) for t in value or []}


def json_text(value: Any) -> str:
    """A CloudFormation value an API takes as JSON text (a policy, a pattern, a schema): a string as it is, else its
    JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def truthy(value: Any) -> bool:
    """A CloudFormation boolean (true, "true", "True")."""
    return str(value).lower() == "true"


#: `ignores=` entry of a type whose tags nothing reads locally
TAGS_IGNORED = {"Tags": "kept by the template only: nothing reads tags locally"}


def pick(props: dict, *keys: str) -> dict:
    """The entries of `props` named `keys` that are present."""
    return {k: props[k] for k in keys if k in props}


NO_IAM = "IAM is not enforced locally"

def template_text(value: Any) -> str:
    """A URI or mapping template as the check sees it before the deploy: an Fn::Sub's text with its
    ${placeholders} left out (a Velocity reference in an Fn::Sub is written ${!...})."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{(?!!)[^}]*\}", "x", text).replace("${!", "${")
    join = value.get("Fn::Join") if isinstance(value, dict) else None
    if isinstance(join, list) and len(join) == 2 and isinstance(join[0], str) and isinstance(join[1], list):
        # an Fn::Join's text, each Ref or other function in it an x (as an Fn::Sub's placeholders)
        return join[0].join(item if isinstance(item, str) else template_text(item) or "x" for item in join[1])
    return value if isinstance(value, str) else ""


def texts_of(value: Any) -> Any:
    """A document with its intrinsic functions written as text (what the check reads of templates)."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
        return template_text(value)
    if isinstance(value, dict):
        return {key: texts_of(item) for key, item in value.items()}
    if isinstance(value, list):
        return [texts_of(item) for item in value]
    return value
