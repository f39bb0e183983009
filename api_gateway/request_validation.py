"""REST API request validation (x-amazon-apigateway-request-validators; SAM's RequestModel ValidateBody and
RequestParameters Required), as API Gateway documents it:
- with validateRequestParameters, a required header, query string or path parameter that is missing or empty is
  400 {"message": "Missing required request parameters: [name, ...]"} (gateway response BAD_REQUEST_PARAMETERS);
- with validateRequestBody, a JSON body that does not match the method's model (JSON Schema draft 4), or that is
  not JSON, is 400 {"message": "Invalid request body"} (BAD_REQUEST_BODY).
The integration is not called for a refused request. jsonschema (cfn-lint's dependency) checks the models.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft4Validator


@dataclass(frozen=True)
class Validation:
    """What one method validates: its required parameters (kind "header" | "querystring" | "path", name) and its
    body's model (a JSON schema whose $refs resolve in `definitions`), each only when its validator asks."""

    required: tuple[tuple[str, str], ...] = ()
    schema: str | None = None       # the body model as JSON text (frozen dataclasses hold no dicts)

    def missing(self, headers: dict[str, str], query: dict[str, str], path: dict[str, str]) -> list[str]:
        """The required parameters the request lacks (API Gateway's order)."""
        found = {"header": {k.lower(): v for k, v in headers.items()}, "querystring": query, "path": path}
        return [name for kind, name in self.required
                if not found[kind].get(name.lower() if kind == "header" else name)]

    def body_valid(self, body: bytes) -> bool:
        if self.schema is None:
            return True
        try:
            document = json.loads(body or b"")
        except (ValueError, RecursionError):
            return False
        try:
            return self._validator.is_valid(document)
        except RecursionError:
            return False

    @functools.cached_property
    def _validator(self) -> Draft4Validator:
        """The body model's validator, made once (a frozen dataclass still has a __dict__ for it)."""
        return Draft4Validator(json.loads(self.schema))


def of_operation(body: dict[str, Any], operation: dict[str, Any]) -> Validation | None:
    """The validation a swagger/OpenAPI operation asks for (its own x-amazon-apigateway-request-validator, else the
    API's), or None."""
    validators = body.get("x-amazon-apigateway-request-validators") or {}
    chosen = validators.get(operation.get("x-amazon-apigateway-request-validator")
                            or body.get("x-amazon-apigateway-request-validator") or "")
    if not chosen:
        return None
    required: list[tuple[str, str]] = []
    schema = None
    kinds = {"header": "header", "query": "querystring", "path": "path"}
    for parameter in operation.get("parameters") or []:
        if parameter.get("in") == "body" and chosen.get("validateRequestBody") and parameter.get("schema"):
            schema = parameter["schema"]
        elif parameter.get("in") in kinds and parameter.get("required") and chosen.get("validateRequestParameters"):
            required.append((kinds[parameter["in"]], str(parameter["name"])))
    request_body = operation.get("requestBody") or {}  # OpenAPI 3
    if chosen.get("validateRequestBody") and schema is None:
        schema = ((request_body.get("content") or {}).get("application/json") or {}).get("schema")
    if schema is not None:
        definitions = body.get("definitions") or (body.get("components") or {}).get("schemas") or {}
        schema = json.dumps({**schema, "definitions": definitions}) if "$ref" not in schema else json.dumps(
            {"$ref": schema["$ref"].replace("#/components/schemas/", "#/definitions/"), "definitions": definitions})
    if not required and schema is None:
        return None
    return Validation(tuple(required), schema)
