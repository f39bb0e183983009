"""Mail over two providers (Cloud Map service mail-sender): one provider fails for a while (the local cloud's SES
fault switch, for that sender identity only); its shared breaker opens after the template's 5 failures, marks it
UNHEALTHY in Cloud Map and every MailSender sandbox skips it; mail keeps flowing through the other, none lost,
none sent twice; after the reset timeout a half-open trial brings it back.

200 mails in two waves; about 35 s (most of it the breaker's 10 s reset timeout and the 6 s fault)."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from test_mail import queue_through_the_service, sent_messages, wait_for

PRIMARY, SECONDARY = "notifications@notifyx.local", "notifications@mail2.notifyx.local"
BREAKER = "mail-sender/ses-primary"
THRESHOLD = 5          # the template's BreakerFailureThreshold default
RESET_SECONDS = 10     # BreakerResetSeconds
SANDBOXES = 3          # MailMaxConcurrency: at most this many sends were in flight when the breaker opened


@pytest.fixture
def failing_cloud(local_cloud, aws):
    sqs, queue = aws("sqs"), local_cloud.physical_id("MailQueue")
    before = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "2"})
    yield local_cloud
    sqs.set_queue_attributes(QueueUrl=queue, Attributes=before)


def health(user) -> dict:
    return user.http.request("GET", "/health")[1]


def queue_wave(cloud, user, count: int, run: str, start: int) -> dict[str, str]:
    """`count` mails queued from 8 threads; {recipient: mail id}."""
    to = [f"f{i}-{run}@example.com" for i in range(start, start + count)]
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda a: queue_through_the_service(cloud, user, a, "failover"), to))
    return dict(zip(to, ids, strict=True))


def sends(addresses) -> list:
    wanted = set(addresses)
    return [m for m in sent_messages() if set(m.destinations.get("ToAddresses", [])) & wanted]


def test_200_mails_with_one_provider_failing_for_a_while_none_lost(failing_cloud, new_user):
    from infra import faults

    user = new_user("failover")
    run = uuid.uuid4().hex[:8]
    assert health(user)["services"]["mail-sender"]["instances"] == {"ses-primary": "healthy",
                                                                     "ses-secondary": "healthy"}
    fault = faults.add(f"ses:error:1:sender={PRIMARY},for=6")
    try:
        first = queue_wave(failing_cloud, user, 150, run, 0)
        opened = wait_for(lambda: (b := health(user)["breakers"].get(BREAKER)) and b["state"] == "open" and b,
                          20, "the primary provider's breaker to open")
        # the breaker's owner marks the instance right after its conditional write won
        wait_for(lambda: health(user)["services"]["mail-sender"]["instances"]["ses-primary"] == "unhealthy", 5,
                 "the primary provider to be UNHEALTHY in Cloud Map")
        wait_for(lambda: len(sends(first)) >= 150, 60, "the first 150 mails to be sent")
        # shared: the 3 sandboxes together spent the threshold (plus what was in flight), not 5 failures each
        assert fault.fired <= THRESHOLD + SANDBOXES, fault.fired
    finally:
        faults.clear()
    assert all(m.source == SECONDARY for m in sends(first)[:50])  # the primary failed from the start
    # after the reset timeout the next send through the primary is its half-open trial
    wait_for(lambda: time.time() > _epoch(opened["opened_at"]) + RESET_SECONDS + 1, RESET_SECONDS + 10,
             "the reset timeout")
    second = queue_wave(failing_cloud, user, 50, run, 150)
    wait_for(lambda: len(sends(second)) >= 50, 60, "the second 50 mails to be sent")
    wait_for(lambda: health(user)["breakers"][BREAKER]["state"] == "closed", 20, "the trial to close the breaker")
    assert health(user)["services"]["mail-sender"]["instances"]["ses-primary"] == "healthy"
    assert PRIMARY in {m.source for m in sends(second)}

    time.sleep(3)  # longer than the visibility timeout: a duplicate delivery would have happened by now
    mails = {**first, **second}
    counts = Counter(a for m in sends(mails) for a in m.destinations["ToAddresses"])
    assert set(counts) == set(mails) and set(counts.values()) == {1}, counts.most_common(3)  # 0 lost, 0 twice
    statuses = Counter(user.http.request("GET", f"/mail/{mail_id}")[1]["mail"]["status"] for mail_id in mails.values())
    assert statuses == Counter({"sent": 200})


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
