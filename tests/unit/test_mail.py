"""The mail service as PROTOCOL.md specifies it: POST /mail queues, the worker sends once, GET /mail/{id} tells."""
import contextlib
import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from cloudmap import register_services
from tables import create_tables, template

#: the mail providers' SES identities (template.yaml's MailFrom and MailFromSecondary defaults)
SENDERS = [str(template()["Parameters"][name]["Default"]) for name in ("MailFrom", "MailFromSecondary")]
PASSWORD = "correct horse"




@dataclass(frozen=True)
class MailCloud:
    """The mail service on moto: its queue and dead-letter queue, SES, its handlers, and auth to make users with."""

    sqs: Any
    ses: Any
    queue: Any
    dlq: Any
    app: Any
    service: Any
    worker: Any
    users: Any
    sessions: Any


@pytest.fixture
def cloud(monkeypatch):
    """Mail + auth tables, the mail queue with its DLQ, a verified sender; the mail modules imported after."""
    with mock_aws():
        create_tables(monkeypatch, "UsersTable", "TokensTable", "MailTable")
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName="mail-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName="mail", Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})["QueueUrl"]
        ses = boto3.client("ses")
        for sender in SENDERS:
            ses.verify_email_identity(EmailAddress=sender)
        for name, value in {"MAIL_QUEUE_URL": queue, "MAIL_MAX_RECEIVE_COUNT": "3",
                            "MAIL_SEND_TIMEOUT_SECONDS": "2"}.items():
            monkeypatch.setenv(name, value)
        register_services(monkeypatch, {})  # the mail providers: Cloud Map service mail-sender
        from auth import sessions, users
        from mail import app, service, worker

        yield MailCloud(sqs=sqs, ses=ses, queue=queue, dlq=dlq, app=app.app, service=service, worker=worker,
                        users=users, sessions=sessions)


@pytest.fixture
def http(cloud):
    with Client(cloud.app) as client:
        yield client.http


def token_for(cloud, email):
    return cloud.sessions.issue(cloud.users.register(email, PASSWORD))["token"]


def post_mail(http, token, body):
    response = http.post("/mail", headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                         body=json.dumps(body))
    return response.status_code, json.loads(response.body)


def get_mail(http, token, mail_id):
    response = http.get(f"/mail/{mail_id}", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, json.loads(response.body)


def sent_messages():
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def receive(cloud, expected=1):
    """Up to ``expected`` queued messages as the records of an SQS event (with their receive counts)."""
    messages = cloud.sqs.receive_message(QueueUrl=cloud.queue, MaxNumberOfMessages=10,
                                            AttributeNames=["All"]).get("Messages", [])
    assert len(messages) == expected
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m["Attributes"], "eventSource": "aws:sqs"} for m in messages]


def run_worker(cloud, records):
    return cloud.worker.handler({"Records": records}, None)


def queued_count(cloud, queue="queue"):
    attributes = cloud.sqs.get_queue_attributes(QueueUrl=getattr(cloud, queue), AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# ---------------------------------------------------------------- accepting mail


def test_post_mail_queues_and_answers_202_with_the_mail_id(cloud, http):
    token = token_for(cloud, "ada@example.com")
    status, body = post_mail(http, token, {"to": "bob@example.com", "subject": "hi", "message": "hello bob"})
    assert status == 202
    assert body["mail"]["status"] == "queued" and body["mail"]["id"].startswith("mail-")
    [record] = receive(cloud)
    assert json.loads(record["body"]) == {"mail_id": body["mail"]["id"]}
    assert get_mail(http, token, body["mail"]["id"]) == (
        200, {"mail": {"id": body["mail"]["id"], "status": "queued", "attempts": 0, "error": None}})
    assert sent_messages() == []  # nothing is sent by the request itself


def test_post_mail_needs_a_token(cloud, http):
    status, body = post_mail(http, "not-a-token", {"to": "bob@example.com", "subject": "s", "message": "m"})
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert queued_count(cloud) == 0


@pytest.mark.parametrize("bad", [
    {"to": "not-an-address", "subject": "s", "message": "m"},
    {"to": "bob@example.com", "subject": "s", "message": "   "},
    {"to": "bob@example.com", "subject": "s"},
    {"subject": "s", "message": "m"},
    {"to": "bob@example.com", "subject": "two\nlines", "message": "m"},
])
def test_bad_mail_is_refused_before_anything_is_queued(cloud, http, bad):
    status, body = post_mail(http, token_for(cloud, "ada@example.com"), bad)
    assert (status, body["error"]["code"]) == (400, "invalid_request")
    assert queued_count(cloud) == 0


def test_a_mail_is_visible_to_its_owner_only(cloud, http):
    owner, other = token_for(cloud, "ada@example.com"), token_for(cloud, "eve@example.com")
    _, body = post_mail(http, owner, {"to": "bob@example.com", "subject": "s", "message": "m"})
    status, error = get_mail(http, other, body["mail"]["id"])
    assert (status, error["error"]["code"]) == (403, "forbidden")
    status, error = get_mail(http, owner, "mail-doesnotexist")
    assert (status, error["error"]["code"]) == (404, "not_found")


def test_a_queue_that_is_gone_is_unavailable_and_the_mail_is_not_left_queued(cloud, http, monkeypatch):
    monkeypatch.setenv("MAIL_QUEUE_URL", cloud.queue + "-gone")
    status, body = post_mail(http, token_for(cloud, "ada@example.com"),
                             {"to": "bob@example.com", "subject": "s", "message": "m"})
    assert (status, body["error"]["code"]) == (503, "unavailable")
    from mail.models import Mail

    assert [(m.status, m.error) for m in Mail.scan()] == [("failed", "the mail could not be queued")]


def test_a_send_that_fails_outside_the_mail_service_records_no_exception_text(cloud, http, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    from mail import delivery

    def unreachable(mail):
        raise EndpointConnectionError(endpoint_url="https://email.internal.example:4566/secret-path")

    monkeypatch.setattr(delivery, "_send", unreachable)
    token = token_for(cloud, "ada@example.com")
    _, body = post_mail(http, token, {"to": "bob@example.com", "subject": "s", "message": "m"})
    run_worker(cloud, receive(cloud))
    _, status = get_mail(http, token, body["mail"]["id"])
    assert status["mail"]["error"] == "the mail service could not be reached"


def test_service_send_queues_for_the_gateway(cloud):
    answer = cloud.service.handler({"op": "send", "user_id": "u-1", "email": "ada@example.com",
                                       "to": "bob@example.com", "subject": None, "message": "hello"}, None)
    assert answer["ok"] and answer["data"]["status"] == "queued"
    [record] = receive(cloud)
    assert json.loads(record["body"])["mail_id"] == answer["data"]["mail_id"]
    refused = cloud.service.handler({"op": "send", "user_id": "u-1", "to": "nobody", "message": "x"}, None)
    assert refused == {"ok": False,
                       "error": {"code": "invalid_request", "message": "to is not an email address: 'nobody'"}}


# ---------------------------------------------------------------- sending


def test_worker_sends_the_mail_from_the_verified_sender(cloud, http):
    token = token_for(cloud, "ada@example.com")
    _, body = post_mail(http, token, {"to": "bob@example.com", "subject": "greetings", "message": "hello bob"})
    assert run_worker(cloud, receive(cloud)) == {"batchItemFailures": []}
    [sent] = sent_messages()
    assert sent.source in SENDERS and sent.destinations["ToAddresses"] == ["bob@example.com"]
    assert sent.subject == "greetings" and sent.body == "hello bob"
    _, status = get_mail(http, token, body["mail"]["id"])
    assert status["mail"] == {"id": body["mail"]["id"], "status": "sent", "attempts": 1, "error": None}


def test_a_redelivered_message_never_sends_the_mail_twice(cloud, http):
    token = token_for(cloud, "ada@example.com")
    post_mail(http, token, {"to": "bob@example.com", "subject": "s", "message": "once"})
    records = receive(cloud)
    assert run_worker(cloud, records) == {"batchItemFailures": []}
    assert run_worker(cloud, records) == {"batchItemFailures": []}  # the same message again: settled, skipped
    assert len(sent_messages()) == 1


def test_a_mail_claimed_by_another_delivery_is_not_sent_again(cloud, http):
    from mail.models import Mail

    token = token_for(cloud, "ada@example.com")
    _, body = post_mail(http, token, {"to": "bob@example.com", "subject": "s", "message": "m"})
    records = receive(cloud)
    mail = Mail.get(body["mail"]["id"])
    mail.update(actions=[Mail.claim.set("someone-else"), Mail.claimed_until.set(2**40)])
    failures = run_worker(cloud, records)["batchItemFailures"]
    assert failures == [{"itemIdentifier": records[0]["messageId"]}]
    assert sent_messages() == []


def test_a_claim_left_by_a_crashed_delivery_lapses_and_the_mail_is_sent(cloud, http):
    from mail.models import Mail

    token = token_for(cloud, "ada@example.com")
    _, body = post_mail(http, token, {"to": "bob@example.com", "subject": "s", "message": "m"})
    records = receive(cloud)
    # what a worker that died mid-send leaves behind: a claim whose lease (its invocation's time) is over
    Mail.get(body["mail"]["id"]).update(actions=[Mail.claim.set("crashed"), Mail.claimed_until.set(1),
                                                 Mail.attempts.add(1)])
    assert run_worker(cloud, records) == {"batchItemFailures": []}
    assert len(sent_messages()) == 1
    _, status = get_mail(http, token, body["mail"]["id"])
    assert status["mail"]["status"] == "sent" and status["mail"]["attempts"] == 2


def test_a_rejected_send_is_retried_and_then_sent_once(cloud, http):
    token = token_for(cloud, "ada@example.com")
    _, body = post_mail(http, token, {"to": "bob@example.com", "subject": "s", "message": "retry me"})
    for sender in SENDERS:
        cloud.ses.delete_identity(Identity=sender)  # SES now rejects the sender (MessageRejected)
    first = receive(cloud)
    assert run_worker(cloud, first)["batchItemFailures"] == [{"itemIdentifier": first[0]["messageId"]}]
    _, status = get_mail(http, token, body["mail"]["id"])
    assert status["mail"]["status"] == "queued" and status["mail"]["attempts"] == 1
    assert "MessageRejected" in status["mail"]["error"]
    for sender in SENDERS:
        cloud.ses.verify_email_identity(EmailAddress=sender)
    second = receive(cloud)  # visibility timeout 0: the failed message is offered again
    assert second[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert run_worker(cloud, second) == {"batchItemFailures": []}
    assert len(sent_messages()) == 1
    _, status = get_mail(http, token, body["mail"]["id"])
    assert status["mail"] == {"id": body["mail"]["id"], "status": "sent", "attempts": 2, "error": None}


def test_a_mail_failing_every_attempt_ends_failed_and_in_the_dead_letter_queue(cloud, http):
    token = token_for(cloud, "ada@example.com")
    _, body = post_mail(http, token, {"to": "bob@example.com", "subject": "s", "message": "doomed"})
    for sender in SENDERS:
        cloud.ses.delete_identity(Identity=sender)
    for attempt in (1, 2, 3):
        records = receive(cloud)
        assert records[0]["attributes"]["ApproximateReceiveCount"] == str(attempt)
        assert run_worker(cloud, records)["batchItemFailures"] == [{"itemIdentifier": records[0]["messageId"]}]
    _, status = get_mail(http, token, body["mail"]["id"])
    assert status["mail"]["status"] == "failed" and status["mail"]["attempts"] == 3
    assert "MessageRejected" in status["mail"]["error"]
    receive(cloud, expected=0)  # the 4th receive moves it to the DLQ (maxReceiveCount 3)
    assert queued_count(cloud, "dlq") == 1
    for sender in SENDERS:
        cloud.ses.verify_email_identity(EmailAddress=sender)
    assert sent_messages() == []


def test_a_message_that_is_not_a_mail_fails_every_time(cloud):
    cloud.sqs.send_message(QueueUrl=cloud.queue, MessageBody="hello")
    cloud.sqs.send_message(QueueUrl=cloud.queue, MessageBody=json.dumps({"mail_id": "mail-unknown"}))
    records = receive(cloud, expected=2)
    failures = run_worker(cloud, records)["batchItemFailures"]
    assert sorted(f["itemIdentifier"] for f in failures) == sorted(r["messageId"] for r in records)


def test_one_failure_in_a_batch_fails_only_that_record(cloud, http):
    token = token_for(cloud, "ada@example.com")
    for n in range(3):
        post_mail(http, token, {"to": f"bob{n}@example.com", "subject": "s", "message": f"m{n}"})
    cloud.sqs.send_message(QueueUrl=cloud.queue, MessageBody="not a mail")
    records = receive(cloud, expected=4)
    poison = [r["messageId"] for r in records if r["body"] == "not a mail"]
    assert run_worker(cloud, records) == {"batchItemFailures": [{"itemIdentifier": poison[0]}]}
    assert sorted(m.destinations["ToAddresses"][0] for m in sent_messages()) == [
        "bob0@example.com", "bob1@example.com", "bob2@example.com"]


@contextlib.contextmanager
def ses_failing(monkeypatch, spec: str, reset_seconds: str):
    """SES fails as `spec` says (the local cloud's fault switch), the breakers reset after `reset_seconds`."""
    from core import config
    from infra import faults, moto_patches

    monkeypatch.setenv("BREAKER_RESET_SECONDS", reset_seconds)
    monkeypatch.setenv("DISCOVERY_CACHE_SECONDS", "0")
    config.forget()
    patches = [p for p in moto_patches.PATCHES if p.name.startswith("ses-faults")]
    for patch in patches:
        patch.apply()
    try:
        yield faults.add(spec)
    finally:
        faults.clear()
        for patch in patches:
            patch.revert()


@pytest.fixture
def failing_primary(cloud, monkeypatch):
    """SES fails (ServiceUnavailable) for the first provider's identity."""
    with ses_failing(monkeypatch, f"ses:error:1:sender={SENDERS[0]}", "0.5") as fault:
        yield fault


def send_all(cloud, http, count, email="ada@example.com"):
    token = token_for(cloud, email)
    for i in range(count):
        assert post_mail(http, token, {"to": "bob@example.com", "subject": "s", "message": f"m{i}"})[0] == 202
    while records := cloud.sqs.receive_message(QueueUrl=cloud.queue, MaxNumberOfMessages=10,
                                                  AttributeNames=["All"]).get("Messages", []):
        events = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                   "attributes": m["Attributes"], "eventSource": "aws:sqs"} for m in records]
        assert run_worker(cloud, events) == {"batchItemFailures": []}  # failover inside the delivery
        for m in records:
            cloud.sqs.delete_message(QueueUrl=cloud.queue, ReceiptHandle=m["ReceiptHandle"])


def test_a_failing_provider_is_failed_over_opened_and_marked_unhealthy(cloud, http, failing_primary):
    from core import breakers, discovery

    send_all(cloud, http, 12)
    assert len(sent_messages()) == 12 and {m.source for m in sent_messages()} == {SENDERS[1]}
    # the breaker's threshold (template default 5) of failures within its window opened it; then it was skipped
    assert failing_primary.fired == 5
    assert breakers.all_states()["mail-sender/ses-primary"]["state"] == breakers.OPEN
    assert {i.id: i.healthy for i in discovery.instances("mail-sender")} == {"ses-primary": False,
                                                                             "ses-secondary": True}


def test_after_the_reset_timeout_a_trial_send_brings_the_provider_back(cloud, http, failing_primary):
    import time

    from core import breakers, discovery
    from infra import faults

    send_all(cloud, http, 10)
    faults.clear()  # the provider recovers
    time.sleep(0.6)
    send_all(cloud, http, 4, email="bob@example.com")
    assert breakers.all_states()["mail-sender/ses-primary"]["state"] == breakers.CLOSED
    assert all(i.healthy for i in discovery.instances("mail-sender"))
    assert SENDERS[0] in {m.source for m in sent_messages()[10:]}


def test_a_mail_that_finds_every_provider_open_is_held_until_the_first_trial(cloud, http, monkeypatch):
    """Both providers fail until both circuits open (5 failures each, the template default): the mail that opened
    them and the one after are held until the first may take its trial call (30 s here), not offered again at the
    queue's visibility timeout (0 s here). One failing while a circuit is still closed comes back at the visibility
    timeout, as before."""
    cloud.worker._visibility.clear()  # what an earlier test's container read of the queue
    with ses_failing(monkeypatch, "ses:error:1", "30"):
        token = token_for(cloud, "ada@example.com")
        held = []
        for n in range(6):
            post_mail(http, token, {"to": f"bob{n}@example.com", "subject": "s", "message": f"m{n}"})
            [record] = receive(cloud)
            assert run_worker(cloud, [record]) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
            visible = cloud.sqs.receive_message(QueueUrl=cloud.queue, MaxNumberOfMessages=10).get("Messages", [])
            held.append(not visible)
            for message in visible:  # back at once (a visibility timeout of 0): out of the next round's way
                cloud.sqs.change_message_visibility(QueueUrl=cloud.queue, ReceiptHandle=message["ReceiptHandle"],
                                                    VisibilityTimeout=3600)
        # mails 1-4 failed with the circuits closed; the 5th opened both; the 6th found both open
        assert held == [False, False, False, False, True, True]
        attributes = cloud.sqs.get_queue_attributes(QueueUrl=cloud.queue, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"


def test_a_mail_is_held_only_past_the_queues_visibility_timeout(cloud, http, monkeypatch):
    """A hold never brings a message back sooner than the queue would (30 s against circuits open 10 s, the
    template's defaults, would spend more receives on an outage)."""
    from core import aws

    cloud.worker._visibility.clear()
    cloud.sqs.set_queue_attributes(QueueUrl=cloud.queue, Attributes={"VisibilityTimeout": "40"})
    token = token_for(cloud, "ada@example.com")
    for n in range(2):
        post_mail(http, token, {"to": f"bob{n}@example.com", "subject": "s", "message": f"m{n}"})
    records = receive(cloud, expected=2)
    changed = []
    sqs = aws.client("sqs")
    monkeypatch.setattr(sqs, "change_message_visibility_batch", lambda **request: changed.append(request) or {})
    cloud.worker._hold([(records[0], 30.0), (records[1], 50.2)])
    assert [[e["VisibilityTimeout"] for e in r["Entries"]] for r in changed] == [[51]]
