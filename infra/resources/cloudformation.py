"""Custom resources (AWS::CloudFormation::CustomResource, Custom::<Name>) backed by a Lambda function.

As CloudFormation does (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-custom-resources.html):
the function gets a Create request with the resource's properties (every scalar a string, as CloudFormation
passes them) and a ResponseURL, and answers by PUTting a response object there (the cfn-response module does, or
the function's own code); SUCCESS makes the resource (its PhysicalResourceId, and its Data for Fn::GetAtt), FAILED
fails the deploy with the response's Reason. Locally the ResponseURL is a listener on 127.0.0.1 for the deploy,
and the function is invoked synchronously: when it fails or returns without a response, the deploy fails then,
naming the cause, where CloudFormation waits out the ServiceTimeout (an hour by default) and fails the same way.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.resources.base import DeployError, Resource, creates

if TYPE_CHECKING:
    from infra.deploy import Deployer

log = logging.getLogger("notifyx.deploy")
#: after the function returned (or failed), how long its response may still take to arrive (a thread of its own)
LATE_RESPONSE_SECONDS = 5.0


class _Responses:
    """The ResponseURL listener of one deploy: PUT /<request id> keeps the body."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.arrived = threading.Condition()
        responses = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 4 * 1024 * 1024))
                with responses.arrived:
                    responses.bodies[self.path.strip("/")] = body
                    responses.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="custom-resource-responses", daemon=True).start()

    def wait(self, request_id: str, seconds: float) -> bytes | None:
        with self.arrived:
            self.arrived.wait_for(lambda: request_id in self.bodies, timeout=seconds)
            return self.bodies.pop(request_id, None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _as_strings(value: Any) -> Any:
    """A custom resource's properties as CloudFormation passes them: numbers and booleans become strings."""
    if isinstance(value, dict):
        return {k: _as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_strings(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value is None or isinstance(value, str) else str(value)


def _check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    token = props.get("ServiceToken")
    if token is None:
        return [("ServiceToken", "a custom resource needs the ARN of the function that provides it")]
    if isinstance(token, str) and not token.startswith("arn:aws:lambda:"):
        return [(f"ServiceToken {token}", "only custom resources backed by a Lambda function run locally (not SNS)")]
    return []


@creates("AWS::CloudFormation::CustomResource", handles=("ServiceToken", "ServiceTimeout"), check=_check,
         open_properties=True)
def _custom_resource(d: Deployer, lid: str, props: dict) -> Resource:
    responses = getattr(d, "_custom_responses", None)
    if responses is None:
        responses = d._custom_responses = _Responses()
        d.closing(responses.close)
    type_ = d.template["Resources"][lid]["Type"]
    request_id = str(uuid.uuid4())
    event = {"RequestType": "Create", "ServiceToken": props["ServiceToken"],
             "ResponseURL": f"{responses.url}/{request_id}", "StackId": d.stack_id, "RequestId": request_id,
             "LogicalResourceId": lid, "ResourceType": type_, "ResourceProperties": _as_strings(props)}
    if "ServiceTimeout" in props:
        event["ServiceTimeout"] = str(props["ServiceTimeout"])
    answer = d.client("lambda").invoke(FunctionName=props["ServiceToken"], Payload=json.dumps(event).encode())
    failure = None
    if answer.get("FunctionError"):
        failure = json.loads(answer["Payload"].read() or b"{}").get("errorMessage", "the function failed")
    body = responses.wait(request_id, 1.0 if failure else LATE_RESPONSE_SECONDS)
    if body is None:
        raise DeployError(f"{lid} ({type_}): CloudFormation did not receive a response from your Custom Resource"
                          + (f": the function failed: {failure}" if failure else
                             ": the function returned without PUTting one to the ResponseURL"))
    try:
        response = json.loads(body)
    except ValueError:
        raise DeployError(f"{lid} ({type_}): the custom resource's response is not JSON") from None
    if response.get("Status") != "SUCCESS":
        raise DeployError(f"{lid} ({type_}): Received response status [{response.get('Status')}] from custom "
                          f"resource. Message returned: {response.get('Reason')}")
    physical = response.get("PhysicalResourceId") or request_id
    data = response.get("Data") or {}
    return Resource(lid, type_, str(physical), dict(data) if isinstance(data, dict) else {})


# --------------------------------------------------------------------------- nested stacks
def _child_template(d: Deployer, url: Any) -> Path | None:
    """A nested stack's TemplateURL as a local file (relative to the parent template, or file://); None for S3."""
    if not isinstance(url, str) or url.startswith(("https://", "http://", "s3://")):
        return None
    path = Path(url.removeprefix("file://"))
    path = path if path.is_absolute() else d.expanded.base_dir / path
    return path if path.is_file() else None


def _child_parameters(values: Any) -> dict[str, str]:
    """A nested stack's Parameters as CloudFormation passes them: strings, a list comma-joined."""
    return {str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in (values or {}).items()}


def _child(d: Deployer, lid: str, path: Path, parameters: dict[str, str]) -> Any:
    from infra.deploy import Deployer as ChildDeployer
    from infra.template import expand

    name = f"{d.stack.name}-{lid}"
    return ChildDeployer(expand(path, parameters, region=d.stack.region, account_id=d.stack.account_id,
                                stack_name=name), d.endpoint, d.runtime, parameters=parameters, stack_name=name,
                         region=d.stack.region, account_id=d.stack.account_id, embedded=d.embedded)


def _nested_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    """The nested template's own problems, before anything of the parent is created (its parameters' values may be
    intrinsics of the parent: placeholders stand for those, and for every parameter, while it is checked)."""
    path = _child_template(d, props.get("TemplateURL"))
    if path is None:
        return [(f"TemplateURL {props.get('TemplateURL')}", "a nested stack runs locally from a template file next "
                 "to the parent's (SAM's Location: ./child.yaml), not from S3")]
    from infra.template import TemplateError, load_yaml

    try:
        declared = load_yaml(path).get("Parameters") or {}
        placeholders = {name: str((spec.get("AllowedValues") or [spec.get("Default", "0" if spec.get("Type") == "Number"
                                                                           else "placeholder")])[0])
                        for name, spec in declared.items()}
        problems = _child(d, lid, path, placeholders).problems()
    except (TemplateError, OSError, ValueError) as exc:
        return [("TemplateURL", f"{path.name}: {exc}")]
    return [(f"{path.name}: {p.logical_id} ({p.type}) {p.unsupported}", p.note) for p in problems]


@creates("AWS::CloudFormation::Stack", handles=("TemplateURL", "Parameters"),
         ignores={"TimeoutInMinutes": "a nested stack is created at once or not at all",
                  "NotificationARNs": "no stack events are sent locally",
                  "Tags": "kept by the template only: nothing reads tags locally"},
         check=_nested_check)
def _nested_stack(d: Deployer, lid: str, props: dict) -> Resource:
    """A nested stack (AWS::CloudFormation::Stack, SAM's AWS::Serverless::Application with a local Location): its
    template deployed as a stack of its own, `<parent>-<LogicalId>`, with the given parameters; its resources run
    in the local cloud with the parent's (its functions, APIs, event sources, schedules); `Fn::GetAtt
    <Id>.Outputs.<Name>` gives its outputs, `Ref` its stack id."""
    path = _child_template(d, props["TemplateURL"])
    child = _child(d, lid, path, _child_parameters(props.get("Parameters")))
    stack = child.deploy()
    d.adopt(lid, stack)
    return Resource(lid, "AWS::CloudFormation::Stack", child.stack_id,
                    {f"Outputs.{name}": value for name, value in stack.outputs.items()})
