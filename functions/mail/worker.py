"""Lambda handler for the mail queue's SQS event source (batch size and MaximumConcurrency: template.yaml)."""
from __future__ import annotations

import logging
from typing import Any

from core import config
from mail import delivery

log = logging.getLogger(__name__)

# how long a claim may last when the runtime gives no deadline (the template's Timeout for MailSender)
DEFAULT_LEASE_SECONDS = 20


def handler(event: dict, context: Any) -> dict:
    """Deliver each record; report the ones that failed so only those are retried (ReportBatchItemFailures)."""
    max_attempts = config.integer("MAIL_MAX_RECEIVE_COUNT")
    failures = []
    for record in event.get("Records", []):
        attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        # a claim must outlive this invocation, which cannot outlive its timeout
        lease = context.get_remaining_time_in_millis() / 1000 if context else DEFAULT_LEASE_SECONDS
        try:
            mail_id = delivery.mail_id_of(record.get("body", ""))
            delivery.deliver(mail_id, attempt, max_attempts, lease)
        except delivery.DeliveryFailed as e:
            log.warning("%s", e)
            failures.append({"itemIdentifier": record["messageId"]})
        except Exception:
            log.exception("mail record %s", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
