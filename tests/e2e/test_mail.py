"""Mail on the local cloud: queued at once, sent by the SQS-driven worker with a concurrency bound of 3,
exactly once per mail (checked in the emulator's SES record), retried after failures, dead-lettered after
MailMaxReceiveCount attempts with status failed."""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

#: the two mail providers' SES identities (the template's MailFrom and MailFromSecondary defaults)
SENDERS = ("notifications@notifyx.local", "notifications@mail2.notifyx.local")
BOUND = 3  # the template's MailMaxConcurrency default
RETRY_AFTER_SECONDS = 2


@pytest.fixture
def mail_cloud(local_cloud, aws):
    """The shared cloud with a short visibility timeout on the mail queue (an operator's SetQueueAttributes), so
    retries come after 2 s instead of 30; restored afterwards. No new cloud: a restart costs every module."""
    sqs, queue = aws("sqs"), local_cloud.physical_id("MailQueue")
    before = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": str(RETRY_AFTER_SECONDS)})
    yield local_cloud
    sqs.set_queue_attributes(QueueUrl=queue, Attributes=before)


def sent_messages() -> list:
    """What the emulator's SES has accepted for delivery (the LocalCloud runs moto in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def sends_to(addresses: set[str]) -> Counter:
    return Counter(a for m in sent_messages() for a in m.destinations.get("ToAddresses", []) if a in addresses)


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def post_mail(user, to: str, message: str, subject: str = "e2e") -> str:
    status, body = user.http.request("POST", "/mail", {"to": to, "subject": subject, "message": message})
    assert status == 202 and body["mail"]["status"] == "queued", body
    return body["mail"]["id"]


def mail_status(user, mail_id: str) -> dict:
    return user.http.request("GET", f"/mail/{mail_id}")[1]["mail"]


def mail_poller(cloud):
    function = cloud.physical_id("MailSender")
    return next(p for p in cloud.pollers if p.spec.function == function)


def recipients(n: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"r{i}-{run}@example.com" for i in range(n)]


def dead_letters(cloud, aws) -> list[str]:
    """Bodies in the mail DLQ (peeked: they become visible again at once)."""
    sqs, url, bodies = aws("sqs"), cloud.physical_id("MailDeadLetterQueue"), []
    for _ in range(5):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        bodies += [m["Body"] for m in got]
        if got:
            break
    return bodies


def queue_through_the_service(cloud, user, to: str, message: str) -> str:
    """What the gateway's send_email does: the internal mail service's "send" op."""
    answer = cloud.invoke("MailService", {"op": "send", "user_id": user.id, "email": user.email, "to": to,
                                          "subject": "burst", "message": message})
    assert answer["ok"] and answer["data"]["status"] == "queued", answer
    return answer["data"]["mail_id"]


def test_a_burst_of_100_mails_is_sent_exactly_once_with_at_most_3_sends_in_flight(mail_cloud, new_user):
    user = new_user("burst")
    to = recipients(100)
    # queued from 8 threads at once, faster than 3 senders drain them
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: queue_through_the_service(mail_cloud, user, to[i], f"burst {i}"), range(100)))
    assert len(set(ids)) == 100
    wanted = set(to)
    wait_for(lambda: sum(sends_to(wanted).values()) >= 100, 120, "100 mails to reach SES")
    time.sleep(3)  # longer than the visibility timeout: a duplicate delivery would have happened by now
    counts = sends_to(wanted)
    assert set(counts) == wanted and set(counts.values()) == {1}, counts.most_common(3)
    assert all(mail_status(user, mail_id)["status"] == "sent" for mail_id in ids)
    # the template's ScalingConfig.MaximumConcurrency, enforced by the event source: reached, never exceeded
    assert mail_poller(mail_cloud).stats["max_in_flight"] == BOUND


def test_rejected_sends_are_retried_after_the_visibility_timeout_and_sent_once(mail_cloud, new_user, aws):
    user = new_user("retry")
    ses = aws("ses")
    for sender in SENDERS:  # SES rejects mail from an unverified sender (MessageRejected), whichever provider
        ses.delete_identity(Identity=sender)
    try:
        to = recipients(5)
        ids = [post_mail(user, address, "retry me") for address in to]
        wait_for(lambda: all("MessageRejected" in (mail_status(user, i)["error"] or "") for i in ids), 30,
                 "the first attempts to be rejected")
        assert sends_to(set(to)) == Counter()
    finally:
        for sender in SENDERS:
            ses.verify_email_identity(EmailAddress=sender)
    try:
        wait_for(lambda: all(mail_status(user, i)["status"] == "sent" for i in ids), 30, "the retries to send")
    except AssertionError as e:  # what a miss needs to be understood: the mails, the queue, the event source
        queue = aws("sqs").get_queue_attributes(QueueUrl=mail_cloud.physical_id("MailQueue"), AttributeNames=["All"])
        raise AssertionError(f"{e}: mails {[mail_status(user, i) for i in ids]}; queue {queue['Attributes']}; "
                             f"poller {mail_poller(mail_cloud).stats}") from None
    time.sleep(3)
    assert sends_to(set(to)) == Counter({address: 1 for address in to})
    for mail_id in ids:
        mail = mail_status(user, mail_id)
        assert mail["attempts"] >= 2 and mail["error"] is None, mail


def test_a_poison_message_ends_in_the_dead_letter_queue_and_its_mail_failed(mail_cloud, new_user, aws):
    user = new_user("poison")
    # a stored mail SES can never accept (no domain): written past the API's validation, as a corrupted record
    mail_id = f"mail-{uuid.uuid4().hex}"
    aws("dynamodb").put_item(TableName=mail_cloud.physical_id("MailTable"), Item={
        "id": {"S": mail_id}, "owner_id": {"S": user.id}, "to": {"S": "nobody"}, "subject": {"S": "x"},
        "message": {"S": "never sent"}, "status": {"S": "queued"}, "attempts": {"N": "0"},
        "created_at": {"S": "2026-11-25T00:00:00Z"}})
    queue = mail_cloud.physical_id("MailQueue")
    aws("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps({"mail_id": mail_id}))
    not_a_mail = f"not a mail {uuid.uuid4().hex}"
    aws("sqs").send_message(QueueUrl=queue, MessageBody=not_a_mail)

    failed = wait_for(lambda: (m := mail_status(user, mail_id))["status"] == "failed" and m, 40, "status failed")
    assert failed["attempts"] == 3 and "InvalidParameterValue" in failed["error"], failed
    expected = {json.dumps({"mail_id": mail_id}), not_a_mail}
    wait_for(lambda: expected <= set(dead_letters(mail_cloud, aws)), 30, "both messages in the DLQ")


def test_bad_mail_is_refused_and_nothing_is_sent(mail_cloud, new_user):
    from client.sdk import ApiError

    user = new_user("bad")
    for body in ({"to": "nobody", "subject": "s", "message": "m"}, {"to": "x@example.com", "message": ""}):
        with pytest.raises(ApiError) as refused:
            user.http.request("POST", "/mail", body)
        assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    assert sends_to({"nobody", "x@example.com"}) == Counter()


def test_mail_status_is_for_its_owner_only(mail_cloud, new_user):
    from client.sdk import ApiError

    owner, other = new_user("owner"), new_user("other")
    mail_id = post_mail(owner, recipients(1)[0], "private")
    with pytest.raises(ApiError) as denied:
        mail_status(other, mail_id)
    assert denied.value.code == "forbidden"
    with pytest.raises(ApiError) as missing:
        mail_status(owner, "mail-nosuchmail")
    assert missing.value.code == "not_found"


def test_send_email_over_the_websocket_queues_a_mail_that_is_sent(mail_cloud, new_user):
    user = new_user("ws")
    [to] = recipients(1)
    reply = user.connect().request("send_email", to=to, subject="from the socket", message="hello")
    assert reply["status"] == "queued" and reply["mail_id"].startswith("mail-"), reply
    wait_for(lambda: mail_status(user, reply["mail_id"])["status"] == "sent", 30, "the mail to be sent")
    assert sends_to({to}) == Counter({to: 1})
