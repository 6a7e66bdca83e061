"""Writes of signups: apply (platform host), confirm the email, and the operator's decision."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.choices import PlatformAction
from audit.services import platform_audit_record
from core.exceptions import ApplicationError, ConflictError
from core.jobs import job_send_on_commit
from organizations.models import Domain, Organization
from organizations.services import (
    ProvisionedOrganization,
    _validate_slug,
    organization_provision,
    schema_name_for_slug,
)

from .models import OPEN_STATUSES, SignupApplication, SignupStatus
from .selectors import signup_get_by_token, signup_token_hash


class SlugTaken(ConflictError):
    code = "SLUG_TAKEN"
    default_message = _("This address is already taken or asked for. Choose another.")


class SignupLinkInvalid(ApplicationError):
    code = "INVALID_SIGNUP_LINK"
    default_message = _("This confirmation link is invalid, expired or already used.")


class SignupNotDecidable(ConflictError):
    code = "SIGNUP_NOT_DECIDABLE"


def signup_domain(slug: str) -> str:
    """The host an approved application's organization gets: ``<slug>.<suffix>``."""
    return f"{slug}.{settings.TENANT_DOMAIN_SUFFIX}"


def _slug_taken(slug: str) -> bool:
    return (
        Organization.objects.filter(slug=slug).exists()
        or Organization.objects.filter(schema_name=schema_name_for_slug(slug)).exists()
        or Domain.objects.filter(domain=signup_domain(slug)).exists()
    )


def signup_apply(
    *,
    organization_name: str,
    slug: str,
    contact_email: str,
    message: str = "",
    language: str = "en",
    client_ip: str | None = None,
) -> SignupApplication:
    """Record an application and email its confirmation link. 409 ``SLUG_TAKEN`` when an
    organization has the slug or another open application asks for it."""
    slug = slug.strip().lower()
    _validate_slug(slug)
    if _slug_taken(slug):
        raise SlugTaken(details={"slug": slug})
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            # A link nobody opened in time holds nothing worth keeping: it frees its slug.
            SignupApplication.objects.filter(
                slug=slug, status=SignupStatus.UNCONFIRMED, token_expires_at__lte=now
            ).delete()
            application = SignupApplication.objects.create(
                organization_name=organization_name.strip(),
                slug=slug,
                contact_email=contact_email.strip().lower(),
                message=message.strip(),
                language=language,
                token_hash=signup_token_hash(token),
                token_expires_at=now + timedelta(hours=settings.SIGNUP_CONFIRM_TTL_HOURS),
                client_ip=client_ip if client_ip and client_ip != "unknown" else None,
            )
            # The open-per-slug constraint decides between two concurrent applications.
    except IntegrityError as exc:
        raise SlugTaken(details={"slug": slug}) from exc
    from .tasks import send_signup_confirm_email

    # After commit, through core.jobs: an unreachable broker costs the applicant no wait (the
    # lost email is logged; applying again after the link's lifetime sends a new one).
    job_send_on_commit(
        send_signup_confirm_email,
        args=[application.pk, token],
        what=f"the confirmation email of signup {application.pk}",
    )
    return application


@transaction.atomic
def signup_confirm(*, token: str) -> SignupApplication:
    """The contact email opened its link: the application now waits for an operator."""
    application = signup_get_by_token(token=token)
    if application is None:
        raise SignupLinkInvalid()
    updated = SignupApplication.objects.filter(
        pk=application.pk, status=SignupStatus.UNCONFIRMED
    ).update(status=SignupStatus.CONFIRMED, confirmed_at=timezone.now())
    if not updated:  # confirmed by a concurrent click
        raise SignupLinkInvalid()
    application.refresh_from_db()
    return application


def signup_approve(*, application: SignupApplication, operator=None) -> ProvisionedOrganization:
    """Provision the organization an operator approved (domain ``<slug>.<suffix>``, the contact
    email invited as owner) and record the decision.

    The status moves first (a conditional update: two operators clicking at once provision
    once); provisioning is not one transaction, so a failure puts the application back.
    """
    claimed = SignupApplication.objects.filter(
        pk=application.pk, status=SignupStatus.CONFIRMED
    ).update(status=SignupStatus.APPROVED, decided_at=timezone.now(), decided_by=operator)
    if not claimed:
        raise SignupNotDecidable(
            _("Only a confirmed application waiting for an operator can be approved."),
            details={"id": application.pk},
        )
    try:
        provisioned = organization_provision(
            name=application.organization_name,
            slug=application.slug,
            domain=signup_domain(application.slug),
            owner_email=application.contact_email,
            language=application.language,
        )
    except Exception:
        SignupApplication.objects.filter(pk=application.pk).update(
            status=SignupStatus.CONFIRMED, decided_at=None, decided_by=None
        )
        raise
    organization = provisioned.organization
    with transaction.atomic():
        SignupApplication.objects.filter(pk=application.pk).update(organization=organization)
        platform_audit_record(
            action=PlatformAction.SIGNUP_APPROVE,
            organization=organization,
            changes={
                "application": application.pk,
                "contact_email": application.contact_email,
                "domain": signup_domain(application.slug),
            },
        )
    application.refresh_from_db()
    return provisioned


@transaction.atomic
def signup_reject(
    *, application: SignupApplication, operator=None, note: str = ""
) -> SignupApplication:
    """Refuse an open application. A confirmed contact email is told by email; an unconfirmed
    one is not (its address was never proven: mail to it could reach a stranger)."""
    locked = SignupApplication.objects.select_for_update().get(pk=application.pk)
    if locked.status not in OPEN_STATUSES:
        raise SignupNotDecidable(
            _("This application was already decided."), details={"id": application.pk}
        )
    was_confirmed = locked.status == SignupStatus.CONFIRMED
    locked.status = SignupStatus.REJECTED
    locked.decided_at = timezone.now()
    locked.decided_by = operator
    locked.decision_note = note
    locked.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
    platform_audit_record(
        action=PlatformAction.SIGNUP_REJECT,
        changes={
            "application": locked.pk,
            "slug": locked.slug,
            "contact_email": locked.contact_email,
            "status": [
                SignupStatus.CONFIRMED if was_confirmed else SignupStatus.UNCONFIRMED,
                SignupStatus.REJECTED,
            ],
        },
    )
    if was_confirmed:
        from .tasks import send_signup_rejected_email

        job_send_on_commit(
            send_signup_rejected_email,
            args=[locked.pk],
            what=f"the rejection email of signup {locked.pk}",
        )
    return locked
