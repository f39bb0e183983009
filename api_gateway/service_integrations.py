"""REST API integrations of type AWS that call Step Functions (what SAM writes for a state machine's `Api` event),
and static MOCK integrations (what SAM writes for a REST API's `Cors`: the OPTIONS preflight).

SAM's integration is `arn:aws:apigateway:{region}:states:action/StartExecution` with a request mapping template
(`{"input": "$util.escapeJavaScript($input.json('$'))", "stateMachineArn": "..."}`, with
`.replaceAll("\\'","'")` after the escape when the event sets UnescapeMappingTemplate). API Gateway evaluates the
template (Velocity) and sends the result to the service action; the service's answer is the response.

The local cloud evaluates the references these templates use (`$input.json('$')`, `$input.body`,
`$util.escapeJavaScript(...)` of them, that `.replaceAll`, `$context.requestId`, `$context.stage`); a template with
any other reference or directive is refused at deploy (:func:`unsupported`). escapeJavaScript escapes as API
Gateway's does (Apache Commons' escapeJavaScript): quotes, both single and double, the backslash, the slash,
control characters and every character outside ASCII as \\uXXXX. So a body with an apostrophe gives input that is
not valid JSON, as on AWS (the reason SAM has UnescapeMappingTemplate).
"""
from __future__ import annotations

import json
import re

#: the service actions an AWS integration may call locally: (service, action) of the integration URI
ACTIONS = {("states", "StartExecution"), ("states", "StartSyncExecution")}
_URI = re.compile(r"arn:aws:apigateway:[a-z0-9-]+:(?P<service>[a-z0-9-]+):action/(?P<action>[A-Za-z]+)")
_REFERENCE = re.compile(
    r"""\$util\.escapeJavaScript\((?P<escaped>\$input\.json\('\$'\)|\$input\.body)\)"""
    r"""(?P<unescape>\.replaceAll\("\\\\'",\s*"'"\))?"""
    r"""|\$input\.json\('\$'\)|\$input\.body|\$context\.requestId|\$context\.stage""")
_DIRECTIVE = re.compile(r"#(set|if|elseif|else|end|foreach|macro|define|parse|include|evaluate|stop|break)\b"
                        r"|\$[!{A-Za-z]")


def action_of(uri: str) -> tuple[str, str] | None:
    """(service, action) of an AWS integration's URI ("arn:aws:apigateway:us-east-1:states:action/StartExecution")."""
    match = _URI.fullmatch(uri)
    return (match["service"], match["action"]) if match else None


def unsupported(template: str) -> str | None:
    """Why the local cloud cannot evaluate `template`; None when it can."""
    leftover = _DIRECTIVE.search(_REFERENCE.sub("", template))
    return None if leftover is None else f"the mapping template uses {leftover.group(0)!r}"


def escape_javascript(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "'\"\\/":
            out.append("\\" + ch)
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif code < 0x20 or code > 0x7e:
            high = code - 0x10000  # outside the basic plane: its UTF-16 surrogate pair, as Java's chars are
            units = [code] if code <= 0xFFFF else [0xD800 + (high >> 10), 0xDC00 + (high & 0x3FF)]
            out.append("".join(f"\\u{unit:04X}" for unit in units))
        else:
            out.append(ch)
    return "".join(out)


def render(template: str, body: str, *, request_id: str, stage: str) -> str:
    """The template evaluated for a request with this body."""
    json_text = body if body.strip() else "{}"

    def value(match: re.Match) -> str:
        text = match.group(0)
        if match["escaped"]:
            escaped = escape_javascript(json_text if match["escaped"].startswith("$input.json") else body)
            return escaped.replace("\\'", "'") if match["unescape"] else escaped
        return {"$input.json('$')": json_text, "$input.body": body, "$context.requestId": request_id,
                "$context.stage": stage}[text]

    return _REFERENCE.sub(value, template)


# --------------------------------------------------------------------------- MOCK integrations
_LITERAL = re.compile(r"'(?P<value>[^']*)'")


def mock_answer(integration: dict) -> tuple[int, tuple[tuple[str, str], ...], str] | None:
    """A MOCK integration's answer when it is static (SAM's CORS preflights are): the status its request template
    names (200 without one), and that integration response's literal headers and JSON template as the body; None
    when anything in it would need Velocity or the request."""
    template = (integration.get("requestTemplates") or {}).get("application/json", '{"statusCode": 200}')
    if _DIRECTIVE.search(template):
        return None
    try:
        status = str(json.loads(template).get("statusCode", 200))
    except (ValueError, AttributeError, RecursionError):
        return None
    responses = integration.get("responses") or {}
    chosen = next((r for key, r in responses.items() if key != "default" and isinstance(r, dict)
                   and re.fullmatch(str(r.get("selectionPattern", key)), status)), responses.get("default"))
    if not isinstance(chosen, dict):
        return None
    headers = []
    for name, value in (chosen.get("responseParameters") or {}).items():
        literal = _LITERAL.fullmatch(str(value))
        if not name.startswith("method.response.header.") or literal is None:
            return None
        headers.append((name.removeprefix("method.response.header."), literal["value"]))
    body = (chosen.get("responseTemplates") or {}).get("application/json", "")
    if _DIRECTIVE.search(body):
        return None
    return int(chosen.get("statusCode", status)), tuple(headers), body
