"""GET /health: every service of the Cloud Map namespace is asked for op "health" (the mail providers are shown by
their Cloud Map health), and every circuit breaker's shared state is shown."""
import json

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from cloudmap import register_services, service_ids
from core.dispatch import internal_handler

FUNCTIONS = ("AuthVerify", "PersistService", "MailService", "AvatarService", "GatewayService")


@pytest.fixture
def status(monkeypatch):
    monkeypatch.setenv("DISCOVERY_CACHE_SECONDS", "0")
    with mock_aws():
        lam = register_services(monkeypatch, {name: internal_handler({}) for name in FUNCTIONS})
        from status import app

        with Client(app.app) as client:
            yield client.http, lam


def health(http):
    response = http.get("/health")
    return response.status_code, json.loads(response.body)


def test_all_services_answering_is_ok(status):
    http, lam = status
    code, body = health(http)
    assert code == 200 and body["status"] == "ok"
    assert {name: entry["status"] for name, entry in body["services"].items()} == {
        "auth": "ok", "avatar": "ok", "gateway": "ok", "mail": "ok", "mail-sender": "ok", "persist": "ok"}
    assert body["services"]["mail-sender"]["instances"] == {"ses-primary": "healthy", "ses-secondary": "healthy"}
    assert sorted(name for name, _ in lam.invoked) == sorted(f"notifyx-{name}" for name in FUNCTIONS)
    assert body["breakers"] == {}


def test_a_function_that_crashes_is_unavailable_and_its_failure_counted(status):
    http, lam = status

    def crashing(event, context):
        raise RuntimeError("boom")  # Lambda answers FunctionError

    lam.handlers["notifyx-AvatarService"] = crashing
    code, body = health(http)
    assert body["status"] == "degraded" and body["services"]["avatar"]["status"] == "unavailable"
    assert body["breakers"]["avatar/avatar-1"] == {"state": "closed", "failures": 1, "opened_at": None}


def test_an_unhealthy_mail_provider_makes_the_system_degraded(status):
    http, _ = status
    boto3.client("servicediscovery").update_instance_custom_health_status(
        ServiceId=service_ids()["mail-sender"], InstanceId="ses-secondary", Status="UNHEALTHY")
    code, body = health(http)
    assert body["status"] == "degraded"
    assert body["services"]["mail-sender"] == {"status": "ok", "instances": {"ses-primary": "healthy",
                                                                              "ses-secondary": "unhealthy"}}
