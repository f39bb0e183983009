"""Lambda's FilterCriteria patterns (infra/event_filters.py), on the examples of AWS's event filtering guide."""
from __future__ import annotations

import pytest

from infra.event_filters import FilterError, matches, passes, patterns, sqs_view

RECORD = {"body": {"RequestCode": "BBBB", "Location": "Oslo", "Price": 12.5, "Tags": ["new", "sale"],
                   "Address": {"City": "Oslo", "Zip": "0150"}},
          "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"}


@pytest.mark.parametrize("pattern, expected", [
    ({"body": {"RequestCode": ["BBBB"]}}, True),
    ({"body": {"RequestCode": ["AAAA", "CCCC"]}}, False),
    ({"body": {"Price": [12.5]}}, True),
    ({"body": {"Price": [{"numeric": [">", 10, "<=", 12.5]}]}}, True),
    ({"body": {"Price": [{"numeric": ["<", 10]}]}}, False),
    ({"body": {"Location": [{"prefix": "Os"}]}}, True),
    ({"body": {"Location": [{"suffix": "lo"}]}}, True),
    ({"body": {"Location": [{"equals-ignore-case": "OSLO"}]}}, True),
    ({"body": {"Location": [{"anything-but": ["Oslo", "Bergen"]}]}}, False),
    ({"body": {"Location": [{"anything-but": {"prefix": "Ber"}}]}}, True),
    ({"body": {"Tags": ["sale"]}}, True),
    ({"body": {"Missing": [{"exists": False}]}}, True),
    ({"body": {"Location": [{"exists": False}]}}, False),
    ({"body": {"Address": {"City": ["Oslo"], "Zip": [{"prefix": "01"}]}}}, True),
    ({"body": {"Address": {"City": ["Oslo"], "Zip": [{"prefix": "02"}]}}}, False),
    ({"body": {"Location": [{"wildcard": "O*o"}]}}, True),
    ({"eventSource": ["aws:sqs"], "body": {"RequestCode": ["BBBB"]}}, True),
])
def test_patterns(pattern, expected):
    assert matches(pattern, RECORD) is expected


def test_any_filter_passes_and_none_means_all():
    two = patterns({"Filters": [{"Pattern": '{"body": {"RequestCode": ["AAAA"]}}'},
                                {"Pattern": '{"body": {"Location": ["Oslo"]}}'}]})
    assert passes(two, RECORD) and passes([], RECORD)


def test_sqs_bodies_are_matched_as_json_when_they_are_json():
    assert sqs_view({"body": '{"a": 1}'})["body"] == {"a": 1}
    assert sqs_view({"body": "plain text"})["body"] == "plain text"
    assert matches({"body": ["plain text"]}, sqs_view({"body": "plain text"}))


def test_a_pattern_that_is_not_an_object_is_refused():
    with pytest.raises(FilterError):
        patterns({"Filters": [{"Pattern": "[1]"}]})


def test_filters_see_data_nested_deeper_than_python_parses_as_no_json():
    """A record whose body or data is JSON nested too deep for Python's parser is filtered as text (SQS) or as data
    that is not JSON (Kinesis): before, the RecursionError escaped the poller's batch, which was read again and
    again, so one such record stopped its queue's or shard's mapping."""
    import base64

    from infra.event_filters import sqs_view
    from infra.stream_pollers import KinesisStreamSource, StreamEventSourceSpec

    deep = "[" * 50_000
    assert sqs_view({"body": deep}) == {"body": deep}
    source = KinesisStreamSource(StreamEventSourceSpec("fn", "arn:aws:kinesis:us-east-1:1:stream/s"), None, None)
    assert source._view({"kinesis": {"data": base64.b64encode(deep.encode()).decode()}}) == {}
