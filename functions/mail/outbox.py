"""Accepting mail: validate, record it as queued, put its id on the mail queue; and reading its status."""
from __future__ import annotations

import json
import logging
import uuid

from pynamodb.exceptions import DoesNotExist

from core import aws, clock, config
from core import validation
from core.errors import AppError, invalid
from mail.models import FAILED, QUEUED, Mail

log = logging.getLogger(__name__)

MAX_SUBJECT_LENGTH = 200

def _queue():
    return aws.client("sqs")


def _subject(value, sender: str | None) -> str:
    if value is None or value == "":
        return f"Notifyx message from {sender}" if sender else "Notifyx message"
    if not isinstance(value, str) or len(value) > MAX_SUBJECT_LENGTH or "\n" in value or "\r" in value:
        raise invalid(f"subject must be one line of at most {MAX_SUBJECT_LENGTH} characters")
    return value


def queue_mail(owner_id: str, owner_email: str | None, to, subject, message) -> Mail:
    """Validate and queue one mail; it is sent later by the worker. Nothing is queued for bad input."""
    recipient = validation.email(to, "to")
    body = validation.message(message)
    mail = Mail(id=f"mail-{uuid.uuid4().hex}", owner_id=owner_id, owner_email=owner_email, to=recipient,
                subject=_subject(subject, owner_email), message=body, status=QUEUED, attempts=0,
                created_at=clock.timestamp("seconds"))
    mail.save()
    try:
        queue_url = config.text("MAIL_QUEUE_URL")
        _queue().send_message(QueueUrl=queue_url, MessageBody=json.dumps({"mail_id": mail.id}))
    except Exception as e:
        # the record must not claim a delivery that will never happen
        log.error("mail %s could not be queued: %s", mail.id, e)
        mail.update(actions=[Mail.status.set(FAILED), Mail.error.set("the mail could not be queued")])
        raise AppError("unavailable", "the mail queue is unavailable") from e
    return mail


def mail_of(owner_id: str, mail_id) -> Mail:
    """The caller's mail by id: not_found if there is none, forbidden if it belongs to someone else."""
    if not isinstance(mail_id, str) or not mail_id or len(mail_id) > 100:
        raise invalid("mail id must be a non-empty string")
    try:
        mail = Mail.get(mail_id, consistent_read=True)
    except DoesNotExist:
        raise AppError("not_found", f"no mail {mail_id}") from None
    if mail.owner_id != owner_id:
        raise AppError("forbidden", "that mail is not yours")
    return mail
