"""API Gateway's mapping templates: Velocity (VTL) evaluated with airspeed, with the variables API Gateway gives a
template ("API Gateway mapping template and access logging variable reference"):

- ``$input``: ``$input.body`` (the payload as a string), ``$input.json(x)`` (the JSONPath x of the payload, as JSON
  text), ``$input.path(x)`` (the same as an object, for VTL to walk), ``$input.params()`` (``{"path": {...},
  "querystring": {...}, "header": {...}}``) and ``$input.params(x)`` (x from the path, else the query string, else
  the headers);
- ``$util``: ``escapeJavaScript``, ``parseJson``, ``urlEncode``, ``urlDecode``, ``base64Encode``, ``base64Decode``;
- ``$context`` (the request's context: ``requestId``, ``stage``, ``httpMethod``, ``resourcePath``,
  ``identity.sourceIp``, ``authorizer.claims``...) and ``$stageVariables``.

A request template's payload is the method request's body; a response template's, the integration's answer.

airspeed-ext is LocalStack's fork of airspeed, whose behaviour LocalStack records against AWS: string literals keep
their backslashes (SAM's `.replaceAll("\\'","'")` needs it), and `#if` of a reference whose value is null holds
true, as those recordings show (a reference never set is false): `$input.path(x)` of a path the payload lacks is
null.
"""
from __future__ import annotations

import base64
import json
import urllib.parse
from functools import lru_cache
from typing import Any

import airspeed
from airspeed import operators as airspeed_operators
from jsonpath_ng import parse as parse_path


#: java.lang.String's methods that mapping templates call and airspeed lacks (Velocity runs on Java; airspeed answers
#: an unknown method with null, which its #if holds true: `$type.endsWith('X')` was true whatever $type was). Where
#: Python's str has a method of the name, airspeed calls it: `split` splits on the text, not on Java's regex
_JAVA_STRING_METHODS = {
    "endsWith": lambda self, suffix: self.endswith(suffix),
    "toLowerCase": lambda self: self.lower(),
    "toUpperCase": lambda self: self.upper(),
    "trim": lambda self: self.strip(" \t\n\r\f\v\x00"),
    "isEmpty": lambda self: len(self) == 0,
    "equals": lambda self, other: self == other,
    "equalsIgnoreCase": lambda self, other: isinstance(other, str) and self.lower() == other.lower(),
    "lastIndexOf": lambda self, part: self.rfind(part),
    "charAt": lambda self, index: self[index],
    "concat": lambda self, other: self + other,
}
for _name, _method in _JAVA_STRING_METHODS.items():
    airspeed_operators.__additional_methods__[str].setdefault(_name, _method)


class TemplateError(ValueError):
    """A template that cannot be parsed or evaluated."""


def escape_javascript(text: str) -> str:
    """As API Gateway's $util.escapeJavaScript (Apache Commons' escapeJavaScript): quotes, both single and double,
    the backslash, the slash, control characters and every character outside ASCII as \\uXXXX."""
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


def _text(value: Any) -> str:
    """A VTL value as the text a $util function takes (null: empty, not Python's "None")."""
    return "" if value is None else str(value)


class Util:
    """$util."""

    @staticmethod
    def escapeJavaScript(text: Any) -> str:  # noqa: N802 - VTL's name
        return escape_javascript(_text(text))

    @staticmethod
    def parseJson(text: Any) -> Any:  # noqa: N802
        return json.loads(str(text))

    @staticmethod
    def urlEncode(text: Any) -> str:  # noqa: N802
        return urllib.parse.quote_plus(_text(text))

    @staticmethod
    def urlDecode(text: Any) -> str:  # noqa: N802
        return urllib.parse.unquote_plus(_text(text))

    @staticmethod
    def base64Encode(text: Any) -> str:  # noqa: N802
        data = text if isinstance(text, bytes) else _text(text).encode("utf-8", "surrogatepass")
        return base64.b64encode(data).decode()

    @staticmethod
    def base64Decode(text: Any) -> str:  # noqa: N802
        return base64.b64decode(_text(text)).decode("utf-8", "replace")


@lru_cache(maxsize=256)
def _path(expression: str) -> Any:
    try:
        return parse_path(expression)
    except Exception as exc:  # noqa: BLE001 - jsonpath_ng raises several kinds
        raise TemplateError(f"{expression!r} is not a JSONPath expression") from exc


class Input:
    """$input."""

    def __init__(self, body: str, params: dict[str, dict[str, str]] | None = None) -> None:
        self.body = body
        self._params = params or {"path": {}, "querystring": {}, "header": {}}
        self._payload: Any = ...

    def _document(self) -> Any:
        if self._payload is ...:
            try:
                self._payload = json.loads(self.body) if self.body.strip() else {}
            except (ValueError, RecursionError):
                self._payload = None
        return self._payload

    def path(self, expression: str) -> Any:
        """The value at a JSONPath of the payload (None where there is none)."""
        document = self._document()
        if expression.strip() == "$":
            return document
        found = [match.value for match in _path(expression).find(document)] if document is not None else []
        if not found:
            return None
        return found[0] if len(found) == 1 and "*" not in expression and ".." not in expression else found

    def json(self, expression: str) -> str:
        """The value at a JSONPath of the payload, as JSON text (the whole payload as it came; {} for none)."""
        if expression.strip() == "$":
            return self.body if self.body.strip() else "{}"
        return json.dumps(self.path(expression), separators=(",", ":"), ensure_ascii=False)

    def params(self, name: str | None = None) -> Any:
        """Every request parameter ({"path", "querystring", "header"}), or one by name (path, then query string,
        then headers, whose names are case-insensitive)."""
        if name is None:
            return self._params
        for where in ("path", "querystring"):
            if name in self._params.get(where, {}):
                return self._params[where][name]
        lowered = name.lower()
        return next((value for key, value in self._params.get("header", {}).items() if key.lower() == lowered), "")


@lru_cache(maxsize=256)
def compiled(template: str) -> airspeed.Template:
    """A template parsed once (raises TemplateError when it does not parse)."""
    parsed = airspeed.Template(template)
    try:
        parsed.ensure_compiled()
    except airspeed.TemplateSyntaxError as exc:
        raise TemplateError(f"the mapping template does not parse: {exc}") from None
    return parsed


def problem(template: str) -> str | None:
    """Why a template cannot be evaluated (a syntax error); None when it can."""
    try:
        compiled(template)
    except TemplateError as exc:
        return str(exc)
    return None


def render(template: str, payload: str, *, context: dict[str, Any] | None = None,
           params: dict[str, dict[str, str]] | None = None, stage_variables: dict[str, str] | None = None) -> str:
    """The template evaluated for this payload (the request's body, or the integration's answer)."""
    namespace = {"input": Input(payload, params), "util": Util(), "context": context or {},
                 "stageVariables": stage_variables or {}}
    try:
        return compiled(template).merge(namespace)
    except TemplateError:
        raise
    except RecursionError:
        raise TemplateError("the payload is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - airspeed's evaluation errors, a method's own
        raise TemplateError(f"the mapping template failed: {type(exc).__name__}: {exc}") from None
