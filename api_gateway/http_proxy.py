"""REST API integrations of type HTTP_PROXY: API Gateway passes the request on to an HTTP endpoint and its answer
back as it is (`x-amazon-apigateway-integration: {type: http_proxy}` in a SAM/OpenAPI body, an Integration of Type
HTTP_PROXY in plain CloudFormation, the CDK's HttpIntegration).

The endpoint gets the method's request as API Gateway sends it: the integration's httpMethod (ANY: the client's),
its URI with the {placeholders} filled from requestParameters (`integration.request.path.X` from
`method.request.path.Y`, or a 'literal'), the client's query string plus the mapped querystring parameters, the
client's headers (not Host, which names the endpoint, nor hop-by-hop ones) plus the mapped headers, and the body.
The endpoint's status, headers and body come back unchanged, redirects included (not followed). An endpoint that
does not answer within the integration's timeoutInMillis (default and most 29 s) is 504 "Endpoint request timed
out"; one that cannot be reached is 500 "Internal server error" (API Gateway logs "Execution failed due to
configuration error").
"""
from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

DEFAULT_TIMEOUT = 29.0
_TARGET = re.compile(r"integration\.request\.(?P<place>path|querystring|header)\.(?P<name>[A-Za-z0-9._$-]+)")
_SOURCE = re.compile(r"method\.request\.(?P<place>path|querystring|header)\.(?P<name>[A-Za-z0-9._$-]+)"
                     r"|'(?P<literal>[^']*)'")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9._$-]+)\+?\}")
#: not passed on: Host names the endpoint; the rest are hop-by-hop (RFC 9110) or set again for the new request
_NOT_FORWARDED = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                  "upgrade", "content-length", "expect"}

class GatewayAnswer(tuple):
    """API Gateway's own answer (status, headers, body) where the integration gave none: an endpoint that timed out
    or could not be reached, a function that failed. An HTTP API's response parameter mapping does not apply."""


TIMED_OUT = (504, {"message": "Endpoint request timed out"})
UNREACHABLE = (500, {"message": "Internal server error"})


@dataclass(frozen=True)
class HttpProxy:
    method: str                                   # the integration's httpMethod; "ANY": the client's
    uri: str                                      # "https://backend.example.com/pets/{proxy}"
    parameters: tuple[tuple[str, str], ...] = ()  # (integration.request.*, method.request.* or 'literal')
    timeout: float = DEFAULT_TIMEOUT
    #: an HTTP API's parameter mapping: (action, where, name, value), e.g. ("overwrite", "path", "", "$request.path")
    changes: tuple[tuple[str, str, str, str], ...] = ()


#: an HTTP API's request parameter mapping: its keys and the values the local cloud gives them
_CHANGE = re.compile(r"(?P<action>append|overwrite|remove):(?:(?P<where>header|querystring)\.(?P<name>[^\s]+)"
                     r"|(?P<path>path))")
_VALUE = re.compile(r"\$request\.(?P<request>path|header\.[^\s$]+|querystring\.[^\s$]+|path\.[^\s$]+)"
                    r"|\$context\.(?P<context>requestId|stage|httpMethod|domainName|path)|(?P<static>[^$]*)")


def of_integration(integration: dict) -> HttpProxy:
    """The proxy an http_proxy x-amazon-apigateway-integration declares (problem() found nothing wrong with it)."""
    millis = integration.get("timeoutInMillis")
    return HttpProxy(str(integration.get("httpMethod") or "ANY").upper(), str(integration["uri"]),
                     tuple((str(k), str(v)) for k, v in (integration.get("requestParameters") or {}).items()),
                     min(float(millis) / 1000, DEFAULT_TIMEOUT) if millis else DEFAULT_TIMEOUT)


def of_http_api(method: str | None, uri: str, timeout: float, mapping: dict[str, str] | None = None) -> HttpProxy:
    """An HTTP API's HTTP_PROXY integration: its URI's {variables} are the route's path variables (a greedy
    {proxy+} is {proxy}); `mapping` its RequestParameters (mapping_problem() found nothing wrong); at most 30 s."""
    names = dict.fromkeys(_PLACEHOLDER.findall(uri))
    return HttpProxy(str(method or "ANY").upper(), uri,
                     tuple((f"integration.request.path.{n}", f"method.request.path.{n}") for n in names),
                     min(timeout, 30.0), request_changes(mapping))


def request_changes(mapping: dict[str, str] | None) -> tuple[tuple[str, str, str, str], ...]:
    """An HTTP API integration's RequestParameters (mapping_problem() found nothing wrong) as (action, where,
    name, value): ("overwrite", "path", "", "$request.path"), ("append", "header", "x-shop", "$context.stage")."""
    changes = []
    for key, value in (mapping or {}).items():
        found = _CHANGE.fullmatch(key)
        changes.append((found["action"], "path" if found["path"] else found["where"], found["name"] or "", str(value)))
    return tuple(changes)


def changed_request(changes: tuple[tuple[str, str, str, str], ...], path: str, query: str,
                    header_pairs: list[tuple[str, str]], path_parameters: dict[str, str],
                    context: dict[str, str]) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """A request as an HTTP API's request parameter mapping changes it before its Lambda integration gets it:
    (path, query pairs, headers), each value read from the request as it came."""
    client_query = parse_qsl(query, keep_blank_values=True)
    client_headers = {name.lower(): value for name, value in header_pairs}
    return _changed(changes, path, list(client_query), list(header_pairs), client_query, client_headers,
                    path_parameters, context)


def mapping_problem(mapping: Any) -> str | None:
    """Why an HTTP API's request parameter mapping cannot be applied locally; None when it can: append, overwrite
    or remove of a header or query string parameter, overwrite:path, with $request.path, $request.header.x,
    $request.querystring.x, $request.path.x, $context.requestId|stage|httpMethod|domainName|path or a static value."""
    if not isinstance(mapping, dict):
        return "RequestParameters is a map of changes"
    for key, value in mapping.items():
        found = _CHANGE.fullmatch(str(key))
        if found is None or (found["path"] and found["action"] != "overwrite"):
            return f"the parameter mapping {key!r} is not one the local cloud applies"
        if found["action"] != "remove" and not _VALUE.fullmatch(str(value)):
            return f"the mapped value {value!r} is not one the local cloud evaluates"
    return None


#: an HTTP API's response parameter mapping: its keys and the values the local cloud gives them
_RESPONSE_CHANGE = re.compile(r"(?P<action>append|overwrite|remove):header\.(?P<name>[^\s]+)"
                              r"|(?P<status>overwrite:statuscode)")
_RESPONSE_VALUE = re.compile(r"\$response\.header\.(?P<header>[^\s$]+)|\$response\.body(?P<path>\.[^\s$]+)?"
                             r"|\$context\.(?P<context>requestId|stage|httpMethod|domainName|path)"
                             r"|(?P<static>[^$]*)")


def response_changes(mapping: Any) -> tuple[tuple[str, str, str, str], ...]:
    """An HTTP API integration's ResponseParameters as (status code, action, header name or "statuscode", value):
    from the API's map of maps ({"404": {"overwrite:statuscode": "204"}}) or CloudFormation's lists of
    Destination/Source ({"404": {"ResponseParameters": [{"Destination": ..., "Source": ...}]}})."""
    changes = []
    for status, changes_of in (mapping or {}).items():
        if isinstance(changes_of, dict) and isinstance(changes_of.get("ResponseParameters"), list):
            pairs = [(str(p.get("Destination")), str(p.get("Source", ""))) for p in changes_of["ResponseParameters"]]
        else:
            pairs = [(str(k), str(v)) for k, v in (changes_of or {}).items()]
        for key, value in pairs:
            found = _RESPONSE_CHANGE.fullmatch(key)
            if found is not None:
                changes.append((str(status), "overwrite" if found["status"] else found["action"],
                                "statuscode" if found["status"] else found["name"], value))
    return tuple(changes)


def response_mapping_problem(mapping: Any) -> str | None:
    """Why an HTTP API's response parameter mapping cannot be applied locally; None when it can: for a status code,
    append, overwrite or remove of a header, overwrite:statuscode, with $response.header.x, $response.body or a
    JSONPath of it, $context.requestId|stage|httpMethod|domainName|path or a static value."""
    if not isinstance(mapping, dict):
        return "ResponseParameters is a map of status codes to changes"
    for status, changes_of in mapping.items():
        if not re.fullmatch(r"[1-5]\d\d", str(status)):
            return f"ResponseParameters {status!r}: the key is a status code, 200 to 599"
        if isinstance(changes_of, dict) and isinstance(changes_of.get("ResponseParameters"), list):
            pairs = [(str(p.get("Destination")), str(p.get("Source", ""))) for p in changes_of["ResponseParameters"]]
        elif isinstance(changes_of, dict):
            pairs = [(str(k), str(v)) for k, v in changes_of.items()]
        else:
            return f"ResponseParameters {status}: a map of changes"
        for key, value in pairs:
            found = _RESPONSE_CHANGE.fullmatch(key)
            if found is None:
                return f"the response parameter mapping {key!r} is not one the local cloud applies"
            if found["action"] != "remove" and not _RESPONSE_VALUE.fullmatch(value):
                return f"the mapped value {value!r} is not one the local cloud evaluates"
    return None


def changed_response(changes: tuple[tuple[str, str, str, str], ...], answer: tuple[int, list[tuple[str, str]], bytes],
                     context: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
    """An HTTP API's response parameter mapping applied to an integration's answer, as API Gateway documents it:
    the changes of the answer's status code, each from the answer as it came (a header's or the body's value)."""
    status, headers, body = answer
    mine = [c for c in changes if c[0] == str(status)]
    if not mine:
        return answer
    from api_gateway.vtl import Input

    original = {k.lower(): v for k, v in headers}
    text = body.decode("utf-8", "replace")
    document = Input(text)  # the body's JSONPaths, read as a mapping template's $input reads them
    for _, action, name, expression in mine:
        found = _RESPONSE_VALUE.fullmatch(expression)
        value: str | None = None
        if found is not None and action != "remove":
            if found["static"] is not None:
                value = found["static"]
            elif found["context"]:
                value = context.get(found["context"])
            elif found["header"]:
                value = original.get(found["header"].lower())
            elif not found["path"]:
                value = text
            else:
                at = document.path("$" + found["path"])
                value = None if at is None else at if isinstance(at, str) else json.dumps(at)
        if name == "statuscode":
            if value is not None and re.fullmatch(r"[1-5]\d\d", value):
                status = int(value)
            continue
        if action != "remove" and value is None:
            continue
        headers = _header_changed(headers, action, name, value)
    return status, headers, body


def _header_changed(headers: list[tuple[str, str]], action: str, name: str,
                    value: str | None) -> list[tuple[str, str]]:
    """A parameter mapping's change of a header: append adds the value after a comma, overwrite replaces it,
    remove takes the header out."""
    existing = next((v for k, v in headers if k.lower() == name.lower()), None)
    headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
    if action == "append" and existing is not None:
        value = f"{existing},{value}"
    if action != "remove":
        headers.append((name, str(value)))
    return headers


def problem(integration: dict, uri: str, literal: bool = True) -> str | None:
    """Why an http_proxy integration cannot run locally (`uri` as the check sees it before the deploy, `literal`:
    not made by an intrinsic function, whose values are not known yet); None when it can."""
    if str(integration.get("connectionType", "INTERNET")).upper() != "INTERNET":
        return "a VPC link (connectionType VPC_LINK) does not run locally: only endpoints on the internet"
    if "${stageVariables." in uri:
        return "stage variables in the endpoint's URI are not substituted locally"
    if literal and not re.fullmatch(r"https?://[^/\s?#]+(/\S*)?", uri):
        return f"the endpoint's URI {uri!r} is not an http(s) URL"
    for target, source in (integration.get("requestParameters") or {}).items():
        if not _TARGET.fullmatch(str(target)) or not _SOURCE.fullmatch(str(source)):
            return (f"the request parameter {target}: {source} is not one the local cloud maps (integration.request."
                    "path|querystring|header from method.request.path|querystring|header or a 'literal')")
    return None


def forward(proxy: HttpProxy, method: str, path_parameters: dict[str, str], query: str,
            header_pairs: list[tuple[str, str]], body: bytes, *,
            failures: tuple[tuple[int, dict], tuple[int, dict]] = (TIMED_OUT, UNREACHABLE),
            context: dict[str, str] | None = None,
            sent_headers: list[tuple[str, str]] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send the request on to the endpoint: its (status, headers, body), or API Gateway's answer to an endpoint
    that timed out or could not be reached (`failures`: a REST API's 504 and 500 by default). `context`: an HTTP
    API request's path, requestId, stage, httpMethod and domainName, for its parameter mapping. `sent_headers`: a
    non-proxy HTTP integration's, which sends only what it maps (the client's query string and headers are then
    only the mappings' sources) and these headers (its body's Content-Type)."""
    client_query = parse_qsl(query, keep_blank_values=True)
    client_headers = {name.lower(): value for name, value in header_pairs}
    mapped: dict[str, dict[str, str]] = {"path": {}, "querystring": {}, "header": {}}
    for target, source in proxy.parameters:
        to, value = _TARGET.fullmatch(target), _SOURCE.fullmatch(source)
        if value["literal"] is not None:
            found: str | None = value["literal"]
        elif value["place"] == "path":
            found = path_parameters.get(value["name"])
        elif value["place"] == "querystring":
            found = next((v for k, v in reversed(client_query) if k == value["name"]), None)
        else:
            found = client_headers.get(value["name"].lower())
        if found is not None:
            mapped[to["place"]][to["name"]] = found
    url = urlsplit(_PLACEHOLDER.sub(lambda m: _path_value(mapped["path"].get(m[1], "")), proxy.uri))
    proxied = sent_headers is None
    pairs = parse_qsl(url.query, keep_blank_values=True) + (client_query if proxied else [])
    pairs += [(name, value) for name, value in mapped["querystring"].items() if (name, value) not in pairs]
    headers = [(name, value) for name, value in header_pairs if name.lower() not in _NOT_FORWARDED] if proxied \
        else list(sent_headers)
    headers = [(k, v) for k, v in headers if k.lower() not in {n.lower() for n in mapped["header"]}]
    headers += list(mapped["header"].items())
    path = url.path or "/"
    if proxy.changes:
        path, pairs, headers = _changed(proxy.changes, path, pairs, headers, client_query, client_headers,
                                        path_parameters, context or {})
    target = path + (f"?{urlencode(pairs)}" if pairs else "")
    connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(url.hostname or "", url.port, timeout=proxy.timeout)
    try:
        connection.putrequest(method if proxy.method == "ANY" else proxy.method, target, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body or method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, [(k, v) for k, v in response.getheaders()
                                 if k.lower() not in _NOT_FORWARDED], response.read()
    except TimeoutError:
        return GatewayAnswer(_json(*failures[0]))
    except (OSError, ValueError, http.client.HTTPException):  # unreachable, refused, or not a URL
        return GatewayAnswer(_json(*failures[1]))
    finally:
        connection.close()


def _changed(changes: tuple[tuple[str, str, str, str], ...], path: str, pairs: list[tuple[str, str]],
             headers: list[tuple[str, str]], client_query: list[tuple[str, str]], client_headers: dict[str, str],
             path_parameters: dict[str, str], context: dict[str, str]
             ) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """An HTTP API's request parameter mapping applied, as API Gateway documents it: append adds a value (to a header,
    after a comma), overwrite replaces, remove takes out; a value that is absent from the request leaves the
    parameter as it was."""
    for action, where, name, expression in changes:
        value = mapped_value(expression, client_query, client_headers, path_parameters, context)
        if where == "path":
            if value is not None:
                path = "/" + "/".join(_path_value(part) for part in value.lstrip("/").split("/"))
            continue
        if action != "remove" and value is None:
            continue
        if where == "header":
            headers = _header_changed(headers, action, name, value)
        else:
            if action != "append":
                pairs = [(k, v) for k, v in pairs if k != name]
            if action != "remove":
                pairs.append((name, value))
    return path, pairs, headers


def mapped_value(expression: str, client_query: list[tuple[str, str]], client_headers: dict[str, str],
                  path_parameters: dict[str, str], context: dict[str, str]) -> str | None:
    """A parameter mapping's value for one request (mapping_problem's forms; None where the request has none)."""
    found = _VALUE.fullmatch(expression)
    if found is None:
        return None
    if found["static"] is not None:
        return found["static"]
    if found["context"]:
        return context.get(found["context"])
    source = found["request"]
    if source == "path":
        return context.get("path")
    place, _, name = source.partition(".")
    if place == "header":
        return client_headers.get(name.lower())
    if place == "querystring":
        values = [v for k, v in client_query if k == name]
        return ",".join(values) if values else None
    return path_parameters.get(name)


def _path_value(value: str) -> str:
    """A path parameter as it goes into the endpoint's URI: each segment percent-encoded (a "?" or "#" in it stays
    part of the path), and a "." or ".." segment too, so that a client's `..%2F..%2Fadmin` cannot climb out of the
    URI's path on the endpoint."""
    return "/".join(segment.replace(".", "%2E") if segment in (".", "..") else quote(segment, safe="")
                    for segment in value.split("/"))


def _json(status: int, payload: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(payload).encode()
