"""Sending one queued mail exactly once: claim it with a conditional update, send with SES, record the outcome.

The mail goes out through one of the mail providers: the instances of Cloud Map service ``mail-sender`` (an
SES identity and region each, template.yaml), taken round robin under their shared circuit breakers
(core.services.through). A provider failing on the infrastructure's side counts against its breaker and the
mail goes through the next one at once; an open breaker marks its provider UNHEALTHY for every sandbox.

SQS delivers at least once, so the claim is what keeps a redelivered or concurrently delivered message from
sending the same mail twice: only a `queued` mail whose previous claim has lapsed can be claimed.
"""
from __future__ import annotations

import json
import logging
import time
import uuid

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, UpdateError

from core import aws, clock, config, services, telemetry
from core.discovery import Instance
from core.dispatch import is_infrastructure_failure
from core.dynamodb import condition_failed
from mail.models import FAILED, QUEUED, SENT, Mail

log = logging.getLogger(__name__)

class DeliveryFailed(Exception):
    """This attempt did not send the mail; the queue will offer the message again (or dead-letter it).

    ``retry_after``: every provider's circuit was open, and the first may be tried again in this many seconds
    (the worker holds the message until then); None: the queue's visibility timeout decides."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: the Cloud Map service whose instances are the mail providers
PROVIDERS = "mail-sender"


def _ses(timeout: float, region: str | None):
    # no botocore retries: another provider, then SQS redelivery after the visibility timeout, are the retries
    return aws.client("ses", connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1},
                      region_name=region)


def mail_id_of(body: str) -> str:
    """The mail id a queue message carries, or DeliveryFailed for a body that is not a mail."""
    try:
        mail_id = json.loads(body).get("mail_id")
    except (ValueError, AttributeError):
        mail_id = None
    if not isinstance(mail_id, str) or not mail_id:
        raise DeliveryFailed(f"not a mail message: {body[:80]!r}")
    return mail_id


def deliver(mail_id: str, attempt: int, max_attempts: int, lease_seconds: float) -> str:
    """Send the mail unless it was already sent; its final status. DeliveryFailed if this attempt failed."""
    token = uuid.uuid4().hex
    now = clock.now()
    mail = Mail(mail_id)
    try:
        mail.update(
            actions=[Mail.claim.set(token), Mail.claimed_until.set(int(now + lease_seconds) + 1),
                     Mail.attempts.add(1)],
            condition=(Mail.status == QUEUED) & (Mail.claimed_until.does_not_exist() | (Mail.claimed_until < now)))
    except UpdateError as e:
        if not condition_failed(e):
            raise DeliveryFailed(f"could not claim {mail_id}: {e}") from e
        return _unclaimable(mail_id)
    try:
        message_id = _send(mail)
    except Exception as e:
        error = _describe(e)
        final = attempt >= max_attempts
        actions = [Mail.claim.remove(), Mail.claimed_until.remove(), Mail.error.set(error)]
        if final:
            actions.append(Mail.status.set(FAILED))
        try:
            mail.update(actions=actions, condition=Mail.claim == token)
        except UpdateError:
            log.warning("mail %s: lost its claim before recording the failure", mail_id)
        raise DeliveryFailed(f"mail {mail_id} attempt {attempt}/{max_attempts}: {error}",
                             None if final else getattr(e, "retry_after", None)) from e
    # unconditional: the mail has left, whatever happened to the claim meanwhile
    mail.update(actions=[Mail.status.set(SENT), Mail.ses_message_id.set(message_id), Mail.error.remove(),
                         Mail.sent_at.set(clock.timestamp("seconds")),
                         Mail.claim.remove(), Mail.claimed_until.remove()])
    telemetry.count("MailSent")
    return SENT


def _unclaimable(mail_id: str) -> str:
    try:
        current = Mail.get(mail_id, consistent_read=True)
    except DoesNotExist:
        raise DeliveryFailed(f"no mail {mail_id}") from None
    if current.status in (SENT, FAILED):
        return current.status  # a redelivery of a settled mail: nothing to do
    raise DeliveryFailed(f"mail {mail_id} is being sent by another delivery")


def _send(mail: Mail) -> str:
    timeout = config.number("MAIL_SEND_TIMEOUT_SECONDS")
    latency_ms = config.number("MAIL_SIMULATED_LATENCY_MS")
    if latency_ms > 0:
        # load-test knob (template parameter MailSimulatedLatencyMs): stands for a real provider's round trip
        time.sleep(latency_ms / 1000)
    request = {
        "Destination": {"ToAddresses": [mail.to]},
        "Message": {"Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": mail.message, "Charset": "UTF-8"}}},
    }
    if mail.owner_email:
        request["ReplyToAddresses"] = [mail.owner_email]

    def through(provider: Instance) -> str:
        ses = _ses(timeout, provider.attributes.get("REGION"))
        return ses.send_email(Source=provider.attributes["SENDER"], **request)["MessageId"]

    return services.through(PROVIDERS, through, counts=is_infrastructure_failure)


def _describe(error: Exception) -> str:
    """The mail's public error: the mail service's own answer (its code and message), else a plain sentence;
    never Python's exception text, which goes to the log."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}"[:500]
    log.warning("sending failed: %s: %s", type(error).__name__, error)
    return "the mail service could not be reached"
