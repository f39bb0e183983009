"""CloudWatch Logs filter patterns: which log events a subscription filter sends on and a metric filter counts.

Two of the syntaxes CloudWatch Logs documents ("Filter pattern syntax for metric filters, subscription filters,
filter log events, and Live Tail"):
- terms: ``ERROR`` (the term anywhere in the message, case-sensitive), several terms (all of them),
  ``?ERROR ?WARN`` (any of them), ``-Timeout`` (not that term), ``"quoted terms"``; an empty pattern matches every
  event;
- JSON: ``{ $.level = "ERROR" }``, ``{ $.latency > 500 && $.path = "/api/*" }``: selectors ``$.a.b``, ``$.a[0]``,
  ``=`` and ``!=`` against strings (``*`` a wildcard) or numbers, ``<``, ``<=``, ``>``, ``>=`` against numbers,
  ``IS NULL``, ``IS TRUE``, ``IS FALSE``, ``NOT EXISTS``, ``&&``, ``||`` and parentheses; a message that is not a
  JSON object matches no JSON pattern.
The space-delimited syntax (``[ip, user, ...]``) and regular expressions (``%...%``) are reported unsupported.
"""
from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[str], "dict | bool | None"]


class UnsupportedPattern(ValueError):
    """A pattern of a syntax the local cloud does not evaluate, or one that does not parse."""


_MISSING = object()


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Matcher:
    """A function of a log message: falsy when the pattern does not match it; for a JSON pattern the parsed message
    (metric values and dimensions read its fields), else True."""
    text = pattern.strip()
    if text.startswith("{"):
        return _json_pattern(text)
    if text.startswith("[") or (text.startswith("%") and text.endswith("%") and len(text) > 1):
        kind = "space-delimited" if text.startswith("[") else "regular expression"
        raise UnsupportedPattern(f"{kind} filter patterns are not evaluated locally (terms and JSON patterns are)")
    return _term_pattern(text)


# --------------------------------------------------------------------------- terms
_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _term_pattern(text: str) -> Matcher:
    required, optional, excluded = [], [], []
    for prefix, quoted, bare in _TERM.findall(text):
        term = quoted.replace('\\"', '"') if quoted or bare == "" else bare
        {"?": optional, "-": excluded}.get(prefix, required).append(term)

    def match(message: str) -> bool:
        return (all(t in message for t in required) and not any(t in message for t in excluded)
                and (not optional or any(t in message for t in optional)))
    return match


# --------------------------------------------------------------------------- JSON
_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})'
                    r'|(?P<selector>\$(?:\.[A-Za-z0-9_@$-]+|\[\d+\])*)|(?P<word>[^\s()&|=!<>{}"]+))')


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None or found.end() == position:
            if text[position:].strip() == "":
                break
            raise UnsupportedPattern(f"cannot read the filter pattern at {text[position:position + 20]!r}")
        kind = found.lastgroup
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


def _json_pattern(text: str) -> Matcher:
    tokens = _tokens(text)
    if len(tokens) < 3 or tokens[0] != ("op", "{") or tokens[-1] != ("op", "}"):
        raise UnsupportedPattern("a JSON filter pattern is { <condition> }")
    parser = _Parser(tokens[1:-1])
    condition = parser.either()
    if parser.position != len(parser.tokens):
        raise UnsupportedPattern(f"unexpected {parser.tokens[parser.position][1]!r} in the filter pattern")

    def match(message: str) -> dict | None:
        try:
            document = json.loads(message)
        except (ValueError, RecursionError):
            return None
        return document if isinstance(document, dict) and condition(document) else None
    return match


def select(document: Any, selector: str) -> Any:
    """The value a selector (``$.a.b[0]``) names in a JSON document; _MISSING when it names nothing."""
    value = document
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector[1:]):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.position = tokens, 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise UnsupportedPattern("the filter pattern ends too soon")
        self.position += 1
        return token

    def either(self) -> Callable[[Any], bool]:
        parts = [self.both()]
        while self._peek() == ("op", "||"):
            self._take()
            parts.append(self.both())
        return parts[0] if len(parts) == 1 else lambda doc: any(p(doc) for p in parts)

    def both(self) -> Callable[[Any], bool]:
        parts = [self.single()]
        while self._peek() == ("op", "&&"):
            self._take()
            parts.append(self.single())
        return parts[0] if len(parts) == 1 else lambda doc: all(p(doc) for p in parts)

    def single(self) -> Callable[[Any], bool]:
        kind, value = self._take()
        if (kind, value) == ("op", "("):
            inner = self.either()
            if self._take() != ("op", ")"):
                raise UnsupportedPattern("a parenthesis of the filter pattern is not closed")
            return inner
        if kind != "selector":
            raise UnsupportedPattern(f"expected a selector ($.field), found {value!r}")
        selector = value
        kind, word = self._take()
        if kind == "word" and word.upper() == "IS":
            what = self._take()[1].upper()
            if what not in ("NULL", "TRUE", "FALSE"):
                raise UnsupportedPattern(f"IS {what} is not a filter pattern test")
            expected = {"NULL": None, "TRUE": True, "FALSE": False}[what]
            return lambda doc: select(doc, selector) is expected
        if kind == "word" and word.upper() == "NOT":
            if self._take()[1].upper() != "EXISTS":
                raise UnsupportedPattern("NOT is followed by EXISTS in a filter pattern")
            return lambda doc: select(doc, selector) is _MISSING
        if kind != "op" or word not in ("=", "!=", "<", "<=", ">", ">="):
            raise UnsupportedPattern(f"expected a comparison after {selector}, found {word!r}")
        operator = word
        kind, operand = self._take()
        if kind == "string":
            return _string_test(selector, operator, json.loads(operand))
        if kind != "word":
            raise UnsupportedPattern(f"expected a value after {selector} {operator}, found {operand!r}")
        try:
            number = float(operand)
        except ValueError:
            return _string_test(selector, operator, operand)
        return _number_test(selector, operator, number)


def _string_test(selector: str, operator: str, wanted: str) -> Callable[[Any], bool]:
    if operator not in ("=", "!="):
        raise UnsupportedPattern(f"{operator} compares numbers, not strings, in a filter pattern")

    def test(doc: Any) -> bool:
        value = select(doc, selector)
        if value is _MISSING or isinstance(value, (dict, list)) or value is None:
            return False
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        equal = fnmatch.fnmatchcase(text, wanted) if "*" in wanted else text == wanted
        return equal if operator == "=" else not equal
    return test


def _number_test(selector: str, operator: str, wanted: float) -> Callable[[Any], bool]:
    compare = {"=": float.__eq__, "!=": float.__ne__, "<": float.__lt__, "<=": float.__le__, ">": float.__gt__,
               ">=": float.__ge__}[operator]

    def test(doc: Any) -> bool:
        value = select(doc, selector)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return compare(float(value), wanted)
    return test


def field_value(document: Any, selector: str) -> Any:
    """A metric filter's value or dimension selector ($.field) read from a JSON pattern's match; None when absent."""
    value = select(document, selector) if isinstance(document, dict) else _MISSING
    return None if value is _MISSING else value
