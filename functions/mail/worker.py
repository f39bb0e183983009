"""Lambda handler for the mail queue's SQS event source (batch size and MaximumConcurrency: template.yaml)."""
from __future__ import annotations

import logging
import math
from typing import Any

from core import aws, config, telemetry
from mail import delivery

log = logging.getLogger(__name__)

# how long a claim may last when the runtime gives no deadline (the template's Timeout for MailSender)
DEFAULT_LEASE_SECONDS = 20
#: SQS's longest visibility timeout (12 hours)
MAX_VISIBILITY_SECONDS = 43_200


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
    """Messages whose mail found every provider's circuit open come back when the first provider may take its
    trial call, instead of after the queue's visibility timeout: while the providers are out each mail spends one
    receive per opening rather than one per timeout (receives count towards the dead-letter queue's
    maxReceiveCount), and none waits past the providers' return. Best effort: a message not held comes back
    after the visibility timeout, as any failed one."""
    url = config.optional("MAIL_QUEUE_URL")
    if not url:
        return
    entries = [{"Id": str(i), "ReceiptHandle": record["receiptHandle"],
                "VisibilityTimeout": min(MAX_VISIBILITY_SECONDS, max(1, math.ceil(wait)))}
               for i, (record, wait) in enumerate(held) if record.get("receiptHandle")]
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
    telemetry.count("MailHeld", done)
