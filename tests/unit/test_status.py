"""GET /health: every internal service named in the function's environment is asked for op "health"."""
import json

import pytest

from lambdas import InProcessLambda
from chalice.test import Client

from core.dispatch import internal_handler




@pytest.fixture
def status(monkeypatch):
    for name in [n for n in __import__("os").environ if n.endswith("_FUNCTION")]:
        monkeypatch.delenv(name)
    from core import services
    from status import app

    services._breakers.clear()  # circuits are per process: start each test closed
    lam = InProcessLambda({name: internal_handler({}) for name in ("fn-auth", "fn-mail")})
    monkeypatch.setattr(services, "_lambda", lambda: lam)
    with Client(app.app) as client:
        yield client.http, lam, monkeypatch


def health(http):
    response = http.get("/health")
    return response.status_code, json.loads(response.body)


def test_all_services_answering_is_ok(status):
    http, lam, env = status
    env.setenv("AUTH_VERIFY_FUNCTION", "fn-auth")
    env.setenv("MAIL_SERVICE_FUNCTION", "fn-mail")
    assert health(http) == (200, {"status": "ok", "services": {"auth_verify": "ok", "mail": "ok"}})
    assert sorted(lam.invoked) == [("fn-auth", {"op": "health"}), ("fn-mail", {"op": "health"})]


def test_a_missing_function_makes_the_system_degraded(status):
    http, _, env = status
    env.setenv("MAIL_SERVICE_FUNCTION", "fn-mail")
    env.setenv("AVATAR_SERVICE_FUNCTION", "fn-gone")
    assert health(http) == (200, {"status": "degraded", "services": {"mail": "ok", "avatar": "unavailable"}})


def test_a_function_that_crashes_is_unavailable(status):
    http, lam, env = status

    def crashing(event, context):
        return {"errorMessage": "boom", "errorType": "RuntimeError"}

    lam.handlers["fn-crash"] = crashing  # answers outside the internal protocol, as a crashed handler does
    env.setenv("PERSIST_SERVICE_FUNCTION", "fn-crash")
    assert health(http) == (200, {"status": "degraded", "services": {"persist": "unavailable"}})
