"""Lambda event filtering (an event source mapping's FilterCriteria): EventBridge's pattern language.

https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html: a record passes when any filter's
pattern matches it. In a pattern every key must match (nested objects recurse); a list matches when any of its
rules does; a rule is a value (numbers compare as numbers) or one of prefix, suffix, equals-ignore-case,
anything-but, numeric, exists, wildcard, cidr. An array in the record matches when any element does.
For SQS the record's body is matched as JSON when it is JSON, else as a plain string.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import json
import operator
from typing import Any

_MISSING = object()
_COMPARE = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class FilterError(ValueError):
    """A pattern the local cloud cannot evaluate (Lambda would refuse it at CreateEventSourceMapping)."""


def patterns(filter_criteria: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The patterns of a FilterCriteria ({"Filters": [{"Pattern": "<json>"}]})."""
    out = []
    for item in (filter_criteria or {}).get("Filters") or []:
        pattern = item.get("Pattern")
        pattern = json.loads(pattern) if isinstance(pattern, str) else pattern
        if not isinstance(pattern, dict):
            raise FilterError(f"a filter pattern must be a JSON object, got {item.get('Pattern')!r}")
        out.append(pattern)
    return out


def passes(filter_patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """True when there are no filters or any of them matches `record`."""
    return not filter_patterns or any(matches(p, record) for p in filter_patterns)


def sqs_view(record: dict[str, Any]) -> dict[str, Any]:
    """An SQS record as filters see it: a JSON body as its object."""
    try:
        body = json.loads(record.get("body") or "")
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses: filtered as text
        return record
    return {**record, "body": body} if isinstance(body, (dict, list)) else record


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """One pattern against one record."""
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not _any_rule(rule, value):
                return False
        else:
            raise FilterError(f"pattern value for {key!r} must be an object or an array")
    return True


def _any_rule(rules: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for rule in rules:
        if isinstance(rule, dict) and "exists" in rule:
            if bool(rule["exists"]) == (value is not _MISSING):
                return True
            continue
        if value is _MISSING:
            continue
        if any(_rule(rule, v) for v in values):
            return True
    return False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(rule: Any, value: Any) -> bool:
    if _number(rule) and _number(value):
        return float(rule) == float(value)
    return rule == value


def _rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return _equal(rule, value)
    if len(rule) != 1:
        raise FilterError(f"unsupported filter rule {rule!r}")
    (op, arg), = rule.items()
    if op in ("prefix", "suffix"):
        if not isinstance(value, str):
            return False
        ignore_case = isinstance(arg, dict)
        text = arg["equals-ignore-case"] if ignore_case else arg
        subject = value.lower() if ignore_case else value
        text = text.lower() if ignore_case else text
        return subject.startswith(text) if op == "prefix" else subject.endswith(text)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "anything-but":
        if isinstance(arg, dict):
            return not _rule(arg, value)
        return not any(_equal(item, value) for item in (arg if isinstance(arg, list) else [arg]))
    if op == "numeric":
        if not _number(value):
            return False
        return all(_COMPARE[arg[i]](float(value), float(arg[i + 1])) for i in range(0, len(arg), 2))
    if op == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(arg).replace("[", "[[]"))
    if op == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    raise FilterError(f"unsupported filter rule {op!r}")
