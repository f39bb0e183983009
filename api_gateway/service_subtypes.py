"""HTTP API integrations of AWS services ("first-class" integrations: AWS_PROXY with an IntegrationSubtype).

API Gateway calls one action of the service with the integration's RequestParameters, each mapped from the request,
and answers with the service's status and body (the API Gateway developer guide's "Integration subtype reference":
EventBridge-PutEvents, SQS-SendMessage / ReceiveMessage / DeleteMessage / PurgeQueue, Kinesis-PutRecord,
StepFunctions-StartExecution / StartSyncExecution / StopExecution; AppConfig-GetConfiguration is not run locally).

A parameter's value is a static text or one of `$request.body` (the body as it came), `$request.body.<JSONPath>`
(the value there: text as it is, anything else as JSON), `$request.header.<name>`, `$request.querystring.<name>`,
`$request.path.<name>`, `$request.path`, `$context.<requestId|stage|httpMethod|domainName|path>` and
`$stageVariables.<name>`. A value the request lacks leaves the parameter out, and the service answers what it
answers a call without it (the service's 400, passed on as API Gateway passes it on).
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from api_gateway import http_proxy
from api_gateway.vtl import Input


@dataclass(frozen=True)
class Subtype:
    service: str                  # as an integration URI names it (botocore's name: service_integrations)
    action: str
    required: tuple[str, ...]
    optional: tuple[str, ...]


SUBTYPES = {
    "EventBridge-PutEvents": Subtype("events", "PutEvents", ("Detail", "DetailType", "Source"),
                                     ("Time", "EventBusName", "Region", "Resources", "TraceHeader")),
    "SQS-SendMessage": Subtype("sqs", "SendMessage", ("QueueUrl", "MessageBody"),
                               ("DelaySeconds", "MessageAttributes", "MessageDeduplicationId", "MessageGroupId",
                                "MessageSystemAttributes", "Region")),
    "SQS-ReceiveMessage": Subtype("sqs", "ReceiveMessage", ("QueueUrl",),
                                  ("AttributeNames", "MaxNumberOfMessages", "MessageAttributeNames",
                                   "ReceiveRequestAttemptId", "VisibilityTimeout", "WaitTimeSeconds", "Region")),
    "SQS-DeleteMessage": Subtype("sqs", "DeleteMessage", ("QueueUrl", "ReceiptHandle"), ("Region",)),
    "SQS-PurgeQueue": Subtype("sqs", "PurgeQueue", ("QueueUrl",), ("Region",)),
    "Kinesis-PutRecord": Subtype("kinesis", "PutRecord", ("StreamName", "Data", "PartitionKey"),
                                 ("SequenceNumberForOrdering", "ExplicitHashKey", "Region")),
    "StepFunctions-StartExecution": Subtype("states", "StartExecution", ("StateMachineArn",),
                                            ("Name", "Input", "Region")),
    "StepFunctions-StartSyncExecution": Subtype("states", "StartSyncExecution", ("StateMachineArn",),
                                                ("Name", "Input", "Region", "TraceHeader")),
    "StepFunctions-StopExecution": Subtype("states", "StopExecution", ("ExecutionArn",), ("Cause", "Error", "Region")),
}

#: the values the local cloud evaluates: one expression, or a static text without "$"
_VALUE = re.compile(r"\$request\.(?P<request>body(?P<body_path>\.[^\s]+)?|path|header\.[^\s$]+"
                    r"|querystring\.[^\s$]+|path\.[^\s$]+)"
                    r"|\$context\.(?P<context>requestId|stage|httpMethod|domainName|path)"
                    r"|\$stageVariables\.(?P<variable>[A-Za-z0-9_]+)|(?P<static>[^$]*)")
#: parameters that are numbers, lists or maps in the service's API (given as text in the mapping)
_INTEGERS = {"DelaySeconds", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds"}
_LISTS = {"AttributeNames", "MessageAttributeNames", "Resources"}
_MAPS = {"MessageAttributes", "MessageSystemAttributes"}


class Refused(Exception):
    """A call the service would refuse, answered without making it: (status, JSON body)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass(frozen=True)
class ServiceIntegration:
    subtype: str
    parameters: tuple[tuple[str, str], ...]   # (parameter, its mapping expression)


def problem(subtype: Any, parameters: Any) -> str | None:
    """Why this integration cannot run locally (or would be refused by API Gateway); None when it can."""
    found = SUBTYPES.get(str(subtype))
    if found is None:
        return f"the integration subtype {subtype} is not run locally (only {', '.join(SUBTYPES)})"
    if not isinstance(parameters, dict):
        return f"{subtype} needs RequestParameters: {', '.join(found.required)}"
    missing = [name for name in found.required if name not in parameters]
    if missing:
        return f"{subtype} needs the request parameter(s) {', '.join(missing)}"
    unknown = [name for name in parameters if name not in found.required + found.optional]
    if unknown:
        return f"{subtype} has no request parameter {unknown[0]!r}"
    for name, value in parameters.items():
        if _intrinsic(value):
            continue  # a Ref or Fn:: of the template: a static text once the stack resolves it
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            return f"the mapped value {value!r} of {name} is not one the local cloud evaluates"
    return None


def _intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub",
                                                                             "Fn::Join", "Fn::ImportValue",
                                                                             "Fn::Select", "Fn::If", "Fn::FindInMap")


def of(subtype: str, parameters: dict[str, Any]) -> ServiceIntegration:
    """The integration (problem() found nothing wrong with it)."""
    return ServiceIntegration(subtype, tuple((str(k), str(v)) for k, v in parameters.items()))


def value(expression: str, body: bytes, header_pairs: list[tuple[str, str]], query_pairs: list[tuple[str, str]],
          path_parameters: dict[str, str], context: dict[str, str], stage_variables: dict[str, str]) -> str | None:
    """A mapping expression's value for one request (None where the request has none): the body and stage variables
    here, the rest as an HTTP API's parameter mapping reads them (http_proxy.mapped_value)."""
    found = _VALUE.fullmatch(expression)
    if found is None:
        return None
    if found["variable"]:
        return stage_variables.get(found["variable"])
    if found["request"] and found["request"].startswith("body"):
        text = body.decode("utf-8", errors="replace")
        if not found["body_path"]:
            return text
        at = Input(text).path("$" + found["body_path"])
        return None if at is None else at if isinstance(at, str) else json.dumps(at, separators=(",", ":"))
    return http_proxy.mapped_value(expression, query_pairs, {k.lower(): v for k, v in header_pairs},
                                   path_parameters, context)


def request_body(integration: ServiceIntegration, values: dict[str, str]) -> tuple[Subtype, bytes]:
    """The service's action and its request for the parameters' values (each as text), in the names and types the
    action takes: SQS's a query-protocol form (as API Gateway's SQS integrations speak to it), the others' JSON."""
    subtype = SUBTYPES[integration.subtype]
    given = {name: _typed(name, text) for name, text in values.items() if name != "Region"}
    for name in _INTEGERS & given.keys():
        if not isinstance(given[name], int):
            # SQS's common error for a value that is not one (moto's query parser failed with a 500 on it)
            raise Refused(400, {"ErrorResponse": {"Error": {
                "Type": "Sender", "Code": "InvalidParameterValue",
                "Message": f"Value {given[name]} for parameter {name} is invalid. Reason: it must be an integer."}}})
    if subtype.service == "sqs":
        try:
            return subtype, urlencode(_sqs_form(given)).encode()
        except UnicodeEncodeError:  # a lone surrogate from the body: not a character SQS takes
            raise Refused(400, {"ErrorResponse": {"Error": {
                "Type": "Sender", "Code": "InvalidMessageContents",
                "Message": "The message contains characters outside the allowed set."}}}) from None
    if subtype.action == "PutEvents":
        request: dict[str, Any] = {"Entries": [given]}
    elif subtype.service == "states":
        # the Step Functions API's members are lower camel case
        request = {name[0].lower() + name[1:]: v for name, v in given.items()}
    else:
        request = given
        if subtype.action == "PutRecord" and "Data" in given:  # a blob: base64 in the JSON protocol
            request["Data"] = base64.b64encode(given["Data"].encode()).decode()
    return subtype, json.dumps(request).encode()


def _sqs_form(given: dict[str, Any]) -> list[tuple[str, str]]:
    """SQS's query-protocol fields for an action's parameters (lists and maps flattened as the protocol numbers
    them: AttributeName.1, MessageAttribute.1.Name, MessageAttribute.1.Value.DataType ...)."""
    fields: list[tuple[str, str]] = []
    for name, value in given.items():
        if name in _LISTS:
            fields += [(f"{name[:-1]}.{i}", str(item)) for i, item in enumerate(value, 1)]
        elif name in _MAPS and isinstance(value, dict):
            prefix = name[:-1]
            for i, (key, attribute) in enumerate(value.items(), 1):
                fields.append((f"{prefix}.{i}.Name", str(key)))
                for member, member_value in (attribute.items() if isinstance(attribute, dict) else ()):
                    fields.append((f"{prefix}.{i}.Value.{member}", str(member_value)))
        else:
            fields.append((name, str(value)))
    return fields


def _typed(name: str, text: str) -> Any:
    if name in _INTEGERS:
        digits = text.strip()
        return int(digits) if digits.isascii() and digits.lstrip("-").isdigit() else text
    if name in _LISTS:
        try:
            parsed = json.loads(text)
        except ValueError:
            return [part.strip() for part in text.split(",") if part.strip()]
        return parsed if isinstance(parsed, list) else [text]
    if name in _MAPS:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
