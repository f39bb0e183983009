"""infra/faults.py: the --fault switch of the local cloud (functions fail, time out, are throttled; SES refuses)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from infra import faults
from infra.cloud import LocalCloud
from infra.runtime import FunctionError, Throttled

APP = Path(__file__).parent / "fixtures" / "apps" / "sam_hello" / "template.yaml"


def test_specs_are_read_and_bad_ones_refused():
    fault = faults.parse("MailSender:timeout:0.25:seconds=1.5,after=2,for=10")
    assert (fault.target, fault.kind, fault.probability) == ("MailSender", "timeout", 0.25)
    assert (fault.seconds, fault.after, fault.duration) == (1.5, 2.0, 10.0)
    assert faults.parse("ses:error:1:sender=mail.example.com").sender == "mail.example.com"
    assert [f.kind for f in faults.parse_many("A:error:0.1; B:throttle:0.2 ses:reject:1")] == [
        "error", "throttle", "reject"]
    for bad in ("MailSender", "MailSender:explode:0.1", "MailSender:error:1.5", "MailSender:error:x",
                "MailSender:error:0.1:sender=a@b.c", "ses:timeout:0.1", "X:error:0.1:until=3"):
        with pytest.raises(faults.FaultSpecError):
            faults.parse(bad)


def test_functions_match_by_logical_id_or_name_and_windows_and_senders_apply():
    fault = faults.parse("MailSender:error:1")
    assert fault.matches_function("notifyx-MailSender") and fault.matches_function("MailSender")
    assert not fault.matches_function("notifyx-MailSenderTwo")
    late = faults.parse("X:error:1:after=5,for=1")
    assert not late.active(late.installed_at + 1) and late.active(late.installed_at + 5.5)
    assert not late.active(late.installed_at + 6.5)
    provider = faults.parse("ses:error:1:sender=mail.example.com")
    assert provider.matches_sender("Notifyx <noreply@mail.example.com>")
    assert not provider.matches_sender("noreply@other.example.com")
    assert faults.parse("ses:error:1:sender=a@b.example").matches_sender("A@B.example")


def test_probability_is_drawn_per_invocation():
    injector = faults.Injector([faults.parse("F:error:0.3")], seed=7)
    fired = sum(injector.draw_function("F") is not None for _ in range(2000))
    assert 480 < fired < 720
    assert injector.stats() == [{"fault": "F:error:0.3", "drawn": 2000, "fired": fired}]


def test_a_running_cloud_fails_times_out_and_throttles_a_named_function(monkeypatch):
    monkeypatch.delenv(faults.ENV_VAR, raising=False)
    with LocalCloud(APP, static_dir=None, sandboxes="thread", faults=["HelloWorldFunction:error:1"]) as cloud:
        with pytest.raises(FunctionError) as error:
            cloud.invoke("HelloWorldFunction", {})
        assert error.value.error_type == "InjectedFault"
        lam = cloud.client("lambda")
        answer = lam.invoke(FunctionName=cloud.stack.function_name("HelloWorldFunction"), Payload=b"{}")
        assert answer.get("FunctionError") and json.loads(answer["Payload"].read())["errorType"] == "InjectedFault"

        faults.clear()
        assert cloud.invoke("HelloWorldFunction", {})["statusCode"] == 200
        faults.add("HelloWorldFunction:throttle:1:for=30")
        with pytest.raises(Throttled):
            cloud.invoke("HelloWorldFunction", {})
        faults.clear()
        faults.add("HelloWorldFunction:timeout:1:seconds=0.3")
        started = time.monotonic()
        with pytest.raises(FunctionError) as error:
            cloud.invoke("HelloWorldFunction", {})
        assert error.value.error_type == "Sandbox.Timedout" and time.monotonic() - started >= 0.3
        stats = cloud.runtime.stats()[cloud.stack.function_name("HelloWorldFunction")]
        assert stats["throttles"] == 1 and stats["errors"] == 3
    assert faults.injector() is None


def test_ses_faults_target_one_sender_identity(monkeypatch):
    monkeypatch.delenv(faults.ENV_VAR, raising=False)
    with LocalCloud(APP, static_dir=None, sandboxes="thread",
                    faults=["ses:throttle:1:sender=down.example.com"]) as cloud:
        ses = cloud.client("ses")
        for sender in ("a@down.example.com", "b@up.example.com"):
            ses.verify_email_identity(EmailAddress=sender)
        message = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}
        with pytest.raises(ClientError) as error:
            ses.send_email(Source="a@down.example.com", Destination={"ToAddresses": ["x@y.example"]},
                           Message=message)
        assert error.value.response["Error"]["Code"] == "Throttling"
        sent = ses.send_email(Source="b@up.example.com", Destination={"ToAddresses": ["x@y.example"]},
                              Message=message)
        assert sent["MessageId"]
        faults.clear()
        faults.add("ses:reject:1")
        with pytest.raises(ClientError) as error:
            ses.send_email(Source="b@up.example.com", Destination={"ToAddresses": ["x@y.example"]},
                           Message=message)
        assert error.value.response["Error"]["Code"] == "MessageRejected"
        assert ses.get_send_quota()["SentLast24Hours"] == 1


def test_faults_come_from_the_environment_too(monkeypatch):
    monkeypatch.setenv(faults.ENV_VAR, "HelloWorldFunction:error:1")
    with LocalCloud(APP, static_dir=None, sandboxes="thread") as cloud:
        with pytest.raises(FunctionError):
            cloud.invoke("HelloWorldFunction", {})
