"""Internal mail service (the gateway's `send_email`): services.call("mail", "send", ...)."""
from __future__ import annotations

from core.dispatch import internal_handler
from mail import outbox


def send(user_id: str, to, message, email: str | None = None, subject=None) -> dict:
    """Queue a mail from ``user_id`` and answer at once with its id."""
    mail = outbox.queue_mail(user_id, email, to=to, subject=subject, message=message)
    return {"mail_id": mail.id, "status": mail.status}


def status(user_id: str, mail_id: str) -> dict:
    """The delivery state of one of the user's mails."""
    return outbox.mail_of(user_id, mail_id).public()


handler = internal_handler({"send": send, "status": status})
