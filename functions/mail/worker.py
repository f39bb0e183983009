"""Lambda handler for the mail queue's SQS event source (batch size and MaximumConcurrency: template.yaml)."""
from __future__ import annotations

import logging
import math
import time
from typing import Any

from core import aws, config, telemetry
from mail import delivery

log = logging.getLogger(__name__)

# how long a claim may last when the runtime gives no deadline (the template's Timeout for MailSender)
DEFAULT_LEASE_SECONDS = 20
#: SQS's longest visibility timeout (12 hours)
MAX_VISIBILITY_SECONDS = 43_200
#: how long a container trusts the queue's VisibilityTimeout it read
VISIBILITY_CACHE_SECONDS = 60


@telemetry.instrumented
def handler(event: dict, context: Any) -> dict:
    """Deliver each record; report the ones that failed so only those are retried (ReportBatchItemFailures)."""
    max_attempts = config.integer("MAIL_MAX_RECEIVE_COUNT")
    failures, held = [], []
    records = event.get("Records", [])
    # the mails this invocation is sending (the SQS event source runs at most MaximumConcurrency at once)
    telemetry.count("MailInFlight", len(records))
    for record in records:
        attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        # a claim must outlive this invocation, which cannot outlive its timeout
        lease = context.get_remaining_time_in_millis() / 1000 if context else DEFAULT_LEASE_SECONDS
        try:
            mail_id = delivery.mail_id_of(record.get("body", ""))
            telemetry.correlate(mail_id=mail_id)
            with telemetry.step("send mail"):
                delivery.deliver(mail_id, attempt, max_attempts, lease)
        except delivery.DeliveryFailed as e:
            log.warning("%s", e)
            telemetry.count("MailFailed" if attempt >= max_attempts else "MailRetried")
            failures.append({"itemIdentifier": record["messageId"]})
            if e.retry_after:
                held.append((record, e.retry_after))
        except Exception:
            log.exception("mail record %s", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    if held:
        _hold(held)
    return {"batchItemFailures": failures}


def _hold(held: list[tuple[dict, float]]) -> None:
    """Messages whose mail found every provider's circuit open, when the first provider may take its trial call
    later than the queue's visibility timeout would bring them back, are held until then: while the providers are
    out a mail then spends one receive per opening rather than one per timeout (receives count towards the
    dead-letter queue's maxReceiveCount). Never sooner than the visibility timeout: where that is the longer wait
    (the template's 30 s against circuits open for 10 s) a mail would spend more receives on an outage, not fewer.
    Best effort: a message not held comes back after the visibility timeout, as any failed one."""
    url = config.optional("MAIL_QUEUE_URL")
    visibility = _visibility_timeout(url) if url else None
    if visibility is None:
        return
    entries = [{"Id": str(i), "ReceiptHandle": record["receiptHandle"],
                "VisibilityTimeout": min(MAX_VISIBILITY_SECONDS, math.ceil(wait))}
               for i, (record, wait) in enumerate(held) if record.get("receiptHandle") and wait > visibility]
    sqs, done = aws.client("sqs"), 0
    for start in range(0, len(entries), 10):
        chunk = entries[start:start + 10]
        try:
            failed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=chunk).get("Failed", [])
        except Exception as e:  # noqa: BLE001 - the visibility timeout brings them back anyway
            log.warning("mail messages not held until the providers' trial: %s", e)
            continue
        for failure in failed:
            log.warning("mail message not held until the providers' trial: %s", failure.get("Code"))
        done += len(chunk) - len(failed)
    if done:
        telemetry.count("MailHeld", done)


_visibility: dict[str, tuple[float, float]] = {}  # queue URL -> (read at, its VisibilityTimeout), per container


def _visibility_timeout(url: str) -> float | None:
    """The queue's visibility timeout, read at most once a minute (an operator may change it); None if unknown."""
    now = time.monotonic()
    known = _visibility.get(url)
    if known is not None and now - known[0] < VISIBILITY_CACHE_SECONDS:
        return known[1]
    try:
        attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        value = float(attributes["Attributes"]["VisibilityTimeout"])
    except Exception as e:  # noqa: BLE001 - not held then
        log.warning("the mail queue's visibility timeout is not known: %s", e)
        return None
    _visibility[url] = (now, value)
    return value
