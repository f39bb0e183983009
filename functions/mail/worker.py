"""Lambda handler for the mail queue's SQS event source (batch size and MaximumConcurrency: template.yaml)."""
from __future__ import annotations

import logging
from typing import Any

from core import config, telemetry
from mail import delivery

log = logging.getLogger(__name__)

# how long a claim may last when the runtime gives no deadline (the template's Timeout for MailSender)
DEFAULT_LEASE_SECONDS = 20


@telemetry.instrumented
def handler(event: dict, context: Any) -> dict:
    """Deliver each record; report the ones that failed so only those are retried (ReportBatchItemFailures)."""
    max_attempts = config.integer("MAIL_MAX_RECEIVE_COUNT")
    failures = []
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
        except Exception:
            log.exception("mail record %s", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
