"""core.dispatch: one op dispatcher for internal services and Step Functions tasks."""
import logging

import pytest

from core.dispatch import MalformedOp, internal_handler, task_handler
from core.errors import AppError


def refuse():
    raise AppError("not_found", "gone")


def buggy(n):
    return len(n)  # a TypeError for an int: our bug, not the caller's


def test_internal_handler_answers_the_internal_protocol():
    handler = internal_handler({"double": lambda n: 2 * n, "refuse": refuse})
    assert handler({"op": "double", "n": 4}, None) == {"ok": True, "data": 8}
    assert handler({"op": "refuse"}, None) == {"ok": False, "error": {"code": "not_found", "message": "gone"}}
    assert handler({"op": "health"}, None) == {"ok": True, "data": {"status": "ok"}}


@pytest.mark.parametrize("event", [{"op": "nope"}, {"op": 7}, {}, "double", {"op": "double"},
                                   {"op": "double", "n": 1, "m": 2}])
def test_unknown_ops_and_fields_that_do_not_fit_the_signature_are_invalid_requests(event):
    called = []
    handler = internal_handler({"double": lambda n: called.append(n)})
    assert handler(event, None)["error"]["code"] == "invalid_request"
    assert called == []


def test_a_type_error_inside_an_op_is_our_failure_and_is_logged(caplog):
    handler = internal_handler({"buggy": buggy})
    with caplog.at_level(logging.ERROR, logger="core.dispatch"):
        answer = handler({"op": "buggy", "n": 3}, None)
    assert answer == {"ok": False, "error": {"code": "unavailable",
                                             "message": "the service is unavailable; try again shortly"}}
    assert [r.getMessage() for r in caplog.records] == ["op buggy failed"]
    assert caplog.records[0].exc_info[0] is TypeError


def test_a_task_answers_the_ops_result_and_raises_malformed_events_before_running_anything():
    ran = []
    handler = task_handler({"prepare": lambda transaction: ran.append(transaction) or {"vote": "YES"}})
    assert handler({"op": "prepare", "transaction": {"txid": "t1"}}, None) == {"vote": "YES"}
    with pytest.raises(MalformedOp, match="unknown op 'vote'"):
        handler({"op": "vote", "transaction": {}}, None)
    with pytest.raises(MalformedOp, match="do not match"):
        handler({"op": "prepare"}, None)
    assert ran == [{"txid": "t1"}]


def test_a_failing_task_raises_its_error_and_logs_it(caplog):
    handler = task_handler({"buggy": buggy})
    with caplog.at_level(logging.ERROR, logger="core.dispatch"), pytest.raises(TypeError):
        handler({"op": "buggy", "n": 3}, None)
    assert [r.getMessage() for r in caplog.records] == ["op buggy failed"]
