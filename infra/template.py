"""template.yaml -> plain CloudFormation: YAML with CFN tags, SAM expanded by aws-sam-translator, local paths kept."""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra import account

logger = logging.getLogger("notifyx.template")
#: the translator wants S3 locations for code; local paths are swapped for these and mapped back after
_PLACEHOLDER_BUCKET = "notifyx-local-code"


class TemplateError(Exception):
    """The template cannot be loaded or expanded; the message names the offending resource."""


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when PyYAML has it (5x faster)
    """SafeLoader with CloudFormation's short-form tags; timestamps stay strings (versions like 2010-09-09)."""


_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_FN_TAGS = ("Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or", "FindInMap", "Base64",
            "Cidr", "ImportValue", "GetAZs", "Transform", "ToJsonString", "Length")


def _construct(loader: yaml.Loader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _register_tags() -> None:
    for name in _FN_TAGS:
        _CfnLoader.add_constructor(f"!{name}", lambda ld, nd, key=f"Fn::{name}": {key: _construct(ld, nd)})
    _CfnLoader.add_constructor("!Ref", lambda ld, nd: {"Ref": _construct(ld, nd)})
    _CfnLoader.add_constructor("!Condition", lambda ld, nd: {"Condition": _construct(ld, nd)})

    def get_att(ld: yaml.Loader, nd: yaml.Node) -> dict:
        value = _construct(ld, nd)
        if isinstance(value, str):
            value = value.split(".", 1)
        return {"Fn::GetAtt": value}

    _CfnLoader.add_constructor("!GetAtt", get_att)


_register_tags()


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) file into plain dicts using the long intrinsic forms."""
    try:
        doc = yaml.load(Path(path).read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot load template {path}: {exc}") from exc
    if not isinstance(doc, dict) or "Resources" not in doc:
        raise TemplateError(f"template {path} has no Resources section")
    return doc


@dataclass
class ExpandedTemplate:
    """Plain CloudFormation plus what SAM's local paths resolved to."""

    template: dict[str, Any]
    base_dir: Path
    #: logical id of an AWS::Lambda::Function -> absolute code directory
    code_dirs: dict[str, Path] = field(default_factory=dict)
    #: logical id of an AWS::StepFunctions::StateMachine -> (definition file, DefinitionSubstitutions)
    state_machine_files: dict[str, tuple[Path, dict[str, Any]]] = field(default_factory=dict)
    #: logical id of an AWS::Lambda::LayerVersion -> absolute content directory
    layer_dirs: dict[str, Path] = field(default_factory=dict)
    #: the template's file name, for messages
    name: str = "template.yaml"


class _ManagedPolicies(dict):
    """Managed-policy names -> ARNs without calling IAM: the translator only needs ARNs it can reference."""

    def __missing__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def get(self, name: str, default: Any = None) -> str:  # type: ignore[override]
        return self[name]


def cache_dir() -> Path | None:
    """Where the local cloud keeps what it can compute again: ``NOTIFYX_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/notifyx``, else ``~/.cache/notifyx``; None when ``NOTIFYX_CACHE_DIR`` is ``off``."""
    setting = os.environ.get("NOTIFYX_CACHE_DIR", "")
    if setting.lower() == "off":
        return None
    return Path(setting) if setting else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "notifyx"


class CacheFile:
    """One file of the local cloud's cache: ``cache_dir()/<kind>/<sha256 of material><suffix>``, or none at all when
    the cloud keeps no cache. A file that cannot be read is a miss, one that cannot be written is not kept (the
    next start computes it again); written under a temporary name and renamed, so a reader never sees half of one.

    A kind keeps its KEPT most recently used files: a read marks its file used (its modification time), and a write
    removes the least recently used beyond KEPT, and temporary files a stopped writer left an hour ago or more.
    Each file is what one template (or one state machine definition) with one set of versions made: a cache that
    only grew would keep every edit's."""

    KEPT = 200
    STALE_PARTIAL_SECONDS = 3600

    def __init__(self, kind: str, material: str, suffix: str) -> None:
        root = cache_dir()
        self.path = None if root is None else root / kind / f"{hashlib.sha256(material.encode()).hexdigest()}{suffix}"

    def read(self) -> bytes | None:
        if self.path is None:
            return None
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):  # a cache this process may read but not change is still read
            os.utime(self.path)
        return data

    def write(self, data: bytes) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            partial.write_bytes(data)
            os.replace(partial, self.path)
        except OSError as exc:
            logger.debug("%s not cached: %s", self.path, exc)
            return
        self._prune()

    def load(self) -> Any:
        """What store() pickled here, or None: no cache, no file, or one that does not unpickle (a damaged or foreign
        file is a miss, written again)."""
        data = self.read()
        if data is None:
            return None
        try:
            return pickle.loads(data)  # noqa: S301 - the local cloud's own cache, written by store()
        except Exception:  # noqa: BLE001 - see above
            return None

    def store(self, value: object) -> None:
        """Keep `value` pickled (not kept if it cannot be pickled: computed again next time)."""
        if self.path is None:
            return
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - see above
            logger.debug("%s not cached: %s", self.path, exc)
            return
        self.write(data)

    def _prune(self) -> None:
        """Remove this kind's least recently used files beyond KEPT, and stale temporary files."""
        files: list[tuple[float, Path]] = []
        now = time.time()
        try:
            with os.scandir(self.path.parent) as entries:
                for entry in entries:
                    try:
                        used = entry.stat().st_mtime
                    except OSError:  # removed meanwhile (another process pruning)
                        continue
                    if entry.name.endswith(".tmp"):
                        if now - used >= self.STALE_PARTIAL_SECONDS:
                            Path(entry.path).unlink(missing_ok=True)
                    elif entry.is_file():
                        files.append((used, Path(entry.path)))
            files.sort(reverse=True)
            for _, old in files[self.KEPT:]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            logger.debug("%s not pruned: %s", self.path.parent, exc)


class _TranslationCache:
    """aws-sam-translator's output for one SAM document and its parameter values, kept as a JSON file named by
    their hash (with the translator's version), so that a start of the same template skips the translator: its
    import and transform were a tenth of `notifyx up`'s start-up. It lives in ``cache_dir()/sam``. A failed
    translation is not kept; a file that cannot be read or written is only a miss."""

    VERSION = 1  # of what expand() hands the translator: a change of that must change the key

    def __init__(self, doc: dict[str, Any], values: dict[str, Any]) -> None:
        self.file: CacheFile | None = None
        if cache_dir() is None:
            return
        from importlib.metadata import PackageNotFoundError, version

        try:
            translator = version("aws-sam-translator")
        except PackageNotFoundError:
            return
        try:
            material = json.dumps({"v": self.VERSION, "sam": translator, "doc": doc, "values": values},
                                  sort_keys=True)
        except (TypeError, ValueError):  # something JSON cannot say: not cached
            return
        self.file = CacheFile("sam", material, ".json")

    def load(self) -> dict[str, Any] | None:
        data = self.file.read() if self.file is not None else None
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def store(self, cfn: dict[str, Any]) -> None:
        if self.file is None:
            return
        try:
            text = json.dumps(cfn)
            if json.loads(text) != cfn:  # only what comes back the same is kept
                return
        except (TypeError, ValueError) as exc:
            logger.debug("SAM translation not cached: %s", exc)
            return
        self.file.write(text.encode())


def _load_document(path: Path, what: str) -> Any:
    """A local YAML or JSON document a template names (an API definition, an AWS::Include snippet)."""
    try:
        return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot load {what} {path}: {exc}") from exc


def _included(value: Any, base: Path) -> Any:
    """`value` with each AWS::Include transform of a local Location replaced by that file's content, as
    `sam package` uploads it and CloudFormation splices it in (the local cloud reads the file in place)."""
    if isinstance(value, list):
        return [_included(v, base) for v in value]
    if not isinstance(value, dict):
        return value
    transform = value.get("Fn::Transform") if len(value) == 1 else None
    if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
        location = (transform.get("Parameters") or {}).get("Location")
        if _is_local(location):
            return _included(_load_document((base / location).resolve(), "AWS::Include location"), base)
    return {k: _included(v, base) for k, v in value.items()}


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def _code_folder(path: Path) -> Path:
    """A code location as a folder: a .zip file (as `sam package` accepts) is extracted once to a temporary one."""
    if path.is_file() and path.suffix == ".zip":
        import tempfile
        import zipfile

        folder = Path(tempfile.mkdtemp(prefix=f"notifyx-{path.stem}-"))
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)
        return folder
    return path


def expand(path: str | Path, parameters: dict[str, str] | None = None, *, region: str = account.REGION,
           account_id: str = account.ACCOUNT_ID, stack_name: str = "notifyx") -> ExpandedTemplate:
    """Load `path` and expand its SAM resources into plain CloudFormation (no network, no handler imports)."""
    path = Path(path).resolve()
    base = path.parent
    doc = _included(load_yaml(path), base)
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict) or not doc["Resources"]:
        # CloudFormation's own words for a template without resources (an empty `Resources:` is null in YAML)
        raise TemplateError(f"{path.name}: Template format error: At least one Resources member must be defined.")
    if "Globals" in doc and not doc["Globals"]:
        doc["Globals"] = {}  # an empty `Globals:` section, as SAM reads it
    raw = copy.deepcopy(doc)
    globals_code = ((doc.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    sam_code: dict[str, Path] = {}
    sam_machines: dict[str, tuple[Path, dict[str, Any]]] = {}
    sam_layers: dict[str, Path] = {}
    for logical_id, res in doc["Resources"].items():
        if not isinstance(res, dict) or "Type" not in res:
            raise TemplateError(f"resource {logical_id} has no Type")
        props = res.setdefault("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            uri = props.get("CodeUri", globals_code)
            if uri is None and "InlineCode" not in props and props.get("PackageType") != "Image":
                # as the SAM CLI builds and packages it (its DEFAULT_CODEURI): the template's folder
                uri = "."
            if _is_local(uri) and "InlineCode" not in props:
                sam_code[logical_id] = _code_folder((base / uri).resolve())
                props["CodeUri"] = f"s3://{_PLACEHOLDER_BUCKET}/{logical_id}.zip"
        elif res["Type"] == "AWS::Serverless::LayerVersion" and _is_local(props.get("ContentUri")):
            sam_layers[logical_id] = _code_folder((base / props["ContentUri"]).resolve())
            props["ContentUri"] = f"s3://{_PLACEHOLDER_BUCKET}/{logical_id}.layer.zip"
        elif res["Type"] in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi") \
                and _is_local(props.get("DefinitionUri")):
            # as the SAM CLI reads a local API definition: its document becomes the DefinitionBody
            props["DefinitionBody"] = _load_document((base / props.pop("DefinitionUri")).resolve(), "API definition")
        elif res["Type"] == "AWS::Serverless::StateMachine" and _is_local(props.get("DefinitionUri")):
            sam_machines[logical_id] = ((base / props["DefinitionUri"]).resolve(),
                                        props.pop("DefinitionSubstitutions", {}) or {})
            # the definition is read at deploy time (substitutions are textual); the translator gets a stub
            props["DefinitionUri"] = f"s3://{_PLACEHOLDER_BUCKET}/{logical_id}.asl.json"
    if isinstance(globals_code, str) and _is_local(globals_code):
        doc["Globals"]["Function"]["CodeUri"] = f"s3://{_PLACEHOLDER_BUCKET}/globals.zip"

    if "Transform" in doc:
        values = {name: spec.get("Default") for name, spec in (doc.get("Parameters") or {}).items()
                  if isinstance(spec, dict) and "Default" in spec}
        values.update(parameters or {})
        # as the SAM CLI does: pseudo parameters are given, so the translator never asks boto for a region
        values.update({"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack_name,
                       "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"})
        cache = _TranslationCache(doc, values)
        cfn = cache.load()
        if cfn is None:
            import boto3
            from samtranslator.model.exceptions import InvalidDocumentException
            from samtranslator.parser.parser import Parser
            from samtranslator.translator.translator import Translator
            from samtranslator.utils.py27hash_fix import (to_py27_compatible_template,
                                                          undo_mark_unicode_str_in_template)

            try:
                to_py27_compatible_template(doc, values)
                # the translator's transform() asks boto for the region; a session pinned to ours needs no config
                translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
                policies = _ManagedPolicies()
                cfn = undo_mark_unicode_str_in_template(
                    translator.translate(doc, parameter_values=values, get_managed_policy_map=lambda: policies))
            except InvalidDocumentException as exc:
                causes = "; ".join(str(c) for c in exc.causes)
                raise TemplateError(f"SAM transform failed: {causes}") from exc
            cache.store(cfn)
    else:
        cfn = doc

    expanded = ExpandedTemplate(template=cfn, base_dir=base, name=path.name)
    for logical_id, res in cfn["Resources"].items():
        props = res.get("Properties", {})
        if res.get("Type") in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion"):
            code = props.get("Code" if res["Type"] == "AWS::Lambda::Function" else "Content", {})
            if isinstance(code, dict) and code.get("S3Bucket") == _PLACEHOLDER_BUCKET:
                key = str(code.get("S3Key", ""))
                if key.endswith(".layer.zip") and key.removesuffix(".layer.zip") in sam_layers:
                    expanded.layer_dirs[logical_id] = sam_layers[key.removesuffix(".layer.zip")]
                elif key.removesuffix(".zip") in sam_code:
                    expanded.code_dirs[logical_id] = sam_code[key.removesuffix(".zip")]
        elif res.get("Type") == "AWS::StepFunctions::StateMachine":
            loc = props.get("DefinitionS3Location", {})
            if isinstance(loc, dict) and loc.get("Bucket") == _PLACEHOLDER_BUCKET:
                sam_id = loc["Key"].removesuffix(".asl.json")
                expanded.state_machine_files[logical_id] = sam_machines[sam_id]
    # plain AWS::Lambda::Function / StateMachine resources written with local paths (not via SAM)
    for logical_id, res in raw["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Lambda::Function" and _is_local(props.get("Code")):
            expanded.code_dirs[logical_id] = _code_folder((base / props["Code"]).resolve())
        if res["Type"] == "AWS::Lambda::LayerVersion" and _is_local(props.get("Content")):
            expanded.layer_dirs[logical_id] = _code_folder((base / props["Content"]).resolve())
        if res["Type"] == "AWS::StepFunctions::StateMachine" and _is_local(props.get("DefinitionS3Location")):
            expanded.state_machine_files[logical_id] = ((base / props["DefinitionS3Location"]).resolve(),
                                                        props.get("DefinitionSubstitutions", {}) or {})
    return expanded
