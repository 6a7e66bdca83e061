"""Celery jobs of signups: its emails, sent with the accounts emails' retries (``EMAIL_JOB``)."""

import logging

from celery import shared_task

from accounts.tasks import EMAIL_JOB

from . import emails
from .models import SignupApplication, SignupStatus
from .selectors import signup_token_hash

logger = logging.getLogger(__name__)


@shared_task(name="signups.send_confirm_email", **EMAIL_JOB)
def send_signup_confirm_email(application_id: int, token: str) -> str:
    application = SignupApplication.objects.filter(pk=application_id).first()
    # Confirmed, decided or gone since it was queued: the link would lead nowhere.
    if (
        application is None
        or application.status != SignupStatus.UNCONFIRMED
        or application.token_hash != signup_token_hash(token)
    ):
        return "skipped"
    emails.signup_confirm_message(application=application, token=token).send()
    return "sent"


@shared_task(name="signups.send_rejected_email", **EMAIL_JOB)
def send_signup_rejected_email(application_id: int) -> str:
    application = SignupApplication.objects.filter(pk=application_id).first()
    if application is None or application.status != SignupStatus.REJECTED:
        return "skipped"
    emails.signup_rejected_message(application=application).send()
    return "sent"
