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
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

DEFAULT_TIMEOUT = 29.0
_TARGET = re.compile(r"integration\.request\.(?P<place>path|querystring|header)\.(?P<name>[A-Za-z0-9._$-]+)")
_SOURCE = re.compile(r"method\.request\.(?P<place>path|querystring|header)\.(?P<name>[A-Za-z0-9._$-]+)"
                     r"|'(?P<literal>[^']*)'")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9._$-]+)\+?\}")
#: not passed on: Host names the endpoint; the rest are hop-by-hop (RFC 9110) or set again for the new request
_NOT_FORWARDED = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                  "upgrade", "content-length", "expect"}

TIMED_OUT = (504, {"message": "Endpoint request timed out"})
UNREACHABLE = (500, {"message": "Internal server error"})


@dataclass(frozen=True)
class HttpProxy:
    method: str                                   # the integration's httpMethod; "ANY": the client's
    uri: str                                      # "https://backend.example.com/pets/{proxy}"
    parameters: tuple[tuple[str, str], ...] = ()  # (integration.request.*, method.request.* or 'literal')
    timeout: float = DEFAULT_TIMEOUT


def of_integration(integration: dict) -> HttpProxy:
    """The proxy an http_proxy x-amazon-apigateway-integration declares (problem() found nothing wrong with it)."""
    millis = integration.get("timeoutInMillis")
    return HttpProxy(str(integration.get("httpMethod") or "ANY").upper(), str(integration["uri"]),
                     tuple((str(k), str(v)) for k, v in (integration.get("requestParameters") or {}).items()),
                     min(float(millis) / 1000, DEFAULT_TIMEOUT) if millis else DEFAULT_TIMEOUT)


def of_http_api(method: str | None, uri: str, timeout: float) -> HttpProxy:
    """An HTTP API's HTTP_PROXY integration: its URI's {variables} are the route's path variables (a greedy
    {proxy+} is {proxy}), with no mapping declared; at most 30 s."""
    names = dict.fromkeys(_PLACEHOLDER.findall(uri))
    return HttpProxy(str(method or "ANY").upper(), uri,
                     tuple((f"integration.request.path.{n}", f"method.request.path.{n}") for n in names),
                     min(timeout, 30.0))


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
            failures: tuple[tuple[int, dict], tuple[int, dict]] = (TIMED_OUT, UNREACHABLE)
            ) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send the request on to the endpoint: its (status, headers, body), or API Gateway's answer to an endpoint
    that timed out or could not be reached (`failures`: a REST API's 504 and 500 by default)."""
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
    pairs = parse_qsl(url.query, keep_blank_values=True) + client_query
    pairs += [(name, value) for name, value in mapped["querystring"].items() if (name, value) not in pairs]
    target = (url.path or "/") + (f"?{urlencode(pairs)}" if pairs else "")
    headers = [(name, value) for name, value in header_pairs if name.lower() not in _NOT_FORWARDED]
    headers += list(mapped["header"].items())
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
        return _json(*failures[0])
    except (OSError, ValueError, http.client.HTTPException):  # unreachable, refused, or not a URL
        return _json(*failures[1])
    finally:
        connection.close()


def _path_value(value: str) -> str:
    """A path parameter as it goes into the endpoint's URI: each segment percent-encoded (a "?" or "#" in it stays
    part of the path), and a "." or ".." segment too, so that a client's `..%2F..%2Fadmin` cannot climb out of the
    URI's path on the endpoint."""
    return "/".join(segment.replace(".", "%2E") if segment in (".", "..") else quote(segment, safe="")
                    for segment in value.split("/"))


def _json(status: int, payload: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(payload).encode()
