"""CloudWatch Logs filter patterns as the local cloud evaluates them (infra/log_patterns.py): the term and JSON
syntaxes of CloudWatch Logs' "Filter pattern syntax" page; the others are refused, never taken to match all."""
from __future__ import annotations

import json

import pytest

from infra.log_patterns import UnsupportedPattern, compile_pattern, field_value


def matches(pattern: str, message: str) -> bool:
    return bool(compile_pattern(pattern)(message))


@pytest.mark.parametrize("pattern, message, expected", [
    ("ERROR", "x ERROR y", True), ("ERROR", "x error y", False),          # case-sensitive, anywhere
    ("ERROR Exception", "ERROR: Exception", True), ("ERROR Exception", "ERROR only", False),
    ("?ERROR ?WARN", "a WARN", True), ("?ERROR ?WARN", "INFO", False),
    ("ERROR -Timeout", "ERROR x", True), ("ERROR -Timeout", "ERROR Timeout", False),
    ('"Internal Server Error"', "500 Internal Server Error!", True),
    ('"Internal Server Error"', "Internal Error", False),
    ("", "anything", True), ("  ", "anything", True),
])
def test_terms(pattern, message, expected):
    assert matches(pattern, message) is expected


def doc(**fields) -> str:
    return json.dumps(fields)


@pytest.mark.parametrize("pattern, message, expected", [
    ('{ $.level = "ERROR" }', doc(level="ERROR"), True), ('{ $.level = "ERROR" }', doc(level="INFO"), False),
    ('{$.latency > 500 && $.path = "/api/*"}', doc(latency=600, path="/api/x"), True),
    ('{$.latency > 500 && $.path = "/api/*"}', doc(latency=400, path="/api/x"), False),
    ('{ ($.a = 1 || $.b = 2) && $.c NOT EXISTS }', doc(b=2), True),
    ('{ ($.a = 1 || $.b = 2) && $.c NOT EXISTS }', doc(b=2, c=1), False),
    ("{ $.x IS NULL }", doc(x=None), True), ("{ $.x IS NULL }", doc(y=1), False),
    ("{ $.ok IS TRUE }", doc(ok=True), True), ("{ $.ok IS TRUE }", doc(ok=1), False),
    ("{ $.ok IS FALSE }", doc(ok=False), True),
    ("{ $.items[1].id = 7 }", json.dumps({"items": [{}, {"id": 7}]}), True),
    ('{ $.level != "INFO" }', doc(level="ERROR"), True), ('{ $.level != "INFO" }', doc(other=1), False),
    ("{ $.level = ERR* }", doc(level="ERROR"), True),
    ("{ $.latency >= 5 }", doc(latency="5"), False),                   # a string is not a number
    ("{ $.level = ERROR }", "not json", False), ("{ $.level = ERROR }", "[1, 2]", False),
    ("{ $.a = 1 }", "[" * 100000, False),                              # too deep to parse: no match, no crash
])
def test_json(pattern, message, expected):
    assert matches(pattern, message) is expected


@pytest.mark.parametrize("pattern", ["[ip, user, status = 5*]", "%ERR.*%", "{ $.a = }", '{ $.a > "x" }',
                                     "{ $.a = 1", "{ x = 1 }", "{ $.a IS MAYBE }", "{ $.a NOT THERE }"])
def test_what_is_not_evaluated_is_refused(pattern):
    with pytest.raises(UnsupportedPattern):
        compile_pattern(pattern)


def test_a_json_match_gives_the_fields_metric_filters_read():
    found = compile_pattern("{ $.latency > 0 }")(doc(latency=812, route="/pay", nested={"id": "x"}))
    assert (field_value(found, "$.latency"), field_value(found, "$.nested.id"), field_value(found, "$.none")) == \
        (812, "x", None)
