"""Celery jobs of accounts: sending its emails, with retries.

A job takes ids and strings (JSON), loads what it needs, renders in the reader's language and
sends through Django's email API (``EMAIL_URL``). A failure to reach the mail server (any
``OSError``: ``SMTPException``, refused or timed-out connections) is retried with exponential
backoff for about an hour; a template or data error is not retried (it would fail the same way).
"""

import logging

from celery import shared_task
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from . import emails
from .models import Invitation, Membership, User
from .selectors import invitation_token_hash

logger = logging.getLogger(__name__)

EMAIL_JOB = {
    "autoretry_for": (OSError,),
    "retry_backoff": 15,
    "retry_backoff_max": 900,
    "retry_jitter": True,
    "max_retries": 8,
    "soft_time_limit": 60,
    "time_limit": 90,
    "ignore_result": True,
}


@shared_task(name="accounts.send_invitation_email", **EMAIL_JOB)
def send_invitation_email(invitation_id: int, token: str) -> str:
    invitation = Invitation.objects.select_related("organization").filter(pk=invitation_id).first()
    # Resent (new token), revoked, accepted or gone since it was queued: this link is dead,
    # sending it would only confuse.
    if (
        invitation is None
        or invitation.token_hash != invitation_token_hash(token)
        or invitation.status != "pending"
    ):
        logger.info("invitation email skipped: the invitation changed", extra={"id": invitation_id})
        return "skipped"
    user = User.objects.filter(email__iexact=invitation.email).first()
    emails.invitation_message(invitation=invitation, token=token, user=user).send()
    return "sent"


@shared_task(name="accounts.send_password_reset_email", **EMAIL_JOB)
def send_password_reset_email(organization_id: int, email: str) -> str:
    """Send a reset link if ``email`` is an active member of the organization; else nothing
    (decided here, off the request, so the API answers alike either way)."""
    # Through the membership (its organization comes with it): accounts imports no
    # organizations module.
    membership = (
        Membership.objects.select_related("user", "organization")
        .filter(organization_id=organization_id, user__email__iexact=email, user__is_active=True)
        .first()
    )
    if membership is None:
        return "skipped"
    user, organization = membership.user, membership.organization
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    emails.password_reset_message(user=user, organization=organization, uid=uid, token=token).send()
    return "sent"
