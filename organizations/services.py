"""Writes for organizations: provisioning, settings, suspension."""

import re
from dataclasses import dataclass
from zoneinfo import available_timezones

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.services import IssuedInvitation, invitation_create
from audit.choices import AuditAction, PlatformAction
from audit.services import audit_changes, audit_record, audit_snapshot, platform_audit_record
from core.cors import cors_origins_problems
from core.exceptions import ApplicationError, ConflictError

from . import constants
from .models import Domain, Organization


def _validate_slug(slug: str) -> None:
    if not re.match(constants.SLUG_PATTERN, slug) or slug in constants.RESERVED_SLUGS:
        raise ApplicationError(
            _(
                "Invalid slug: use 2-40 lowercase letters, digits or hyphens, starting with a "
                "letter, and not a reserved word."
            ),
            code="INVALID_SLUG",
            details={"slug": slug},
        )


def schema_name_for_slug(slug: str) -> str:
    return slug.replace("-", "_")


def organization_validate_settings(
    *,
    timezone: str | None = None,
    peak_windows: list | None = None,
    currency: str | None = None,
    cors_allowed_origins: list | None = None,
) -> None:
    errors = {}
    if cors_allowed_origins is not None and (
        problems := cors_origins_problems(cors_allowed_origins)
    ):
        errors["cors_allowed_origins"] = problems
    if timezone is not None and timezone not in available_timezones():
        errors["timezone"] = [_("Unknown timezone. Use an IANA name such as Asia/Shanghai.")]
    if peak_windows is not None:
        ok = isinstance(peak_windows, list) and all(
            isinstance(w, list | tuple)
            and len(w) == 2
            and all(isinstance(t, str) and re.match(r"^([01]\d|2[0-3]):[0-5]\d$", t) for t in w)
            and w[0] < w[1]
            for w in peak_windows
        )
        if not ok:
            errors["peak_windows"] = [_('Use a list of ["HH:MM", "HH:MM"] pairs, start < end.')]
    if currency is not None and not re.match(r"^[A-Z]{3}$", currency):
        errors["currency"] = [_("Use an ISO 4217 code such as CNY.")]
    if errors:
        raise ApplicationError(
            _("Some fields are invalid."), code="VALIDATION_ERROR", details={"fields": errors}
        )


@dataclass(frozen=True)
class ProvisionedOrganization:
    organization: Organization
    # The owner's invitation (its one-time link is ``owner_invitation.accept_url``).
    owner_invitation: IssuedInvitation | None


def organization_provision(
    *, name: str, slug: str, domain: str, owner_email: str | None, **org_settings
) -> ProvisionedOrganization:
    """Create an organization: schema (cloned from the template), domain, and an invitation of
    ``owner_email`` as its owner (emailed; the owner sets or proves their own password when
    accepting). No password is ever set here, and an existing account is never touched.

    ``owner_email`` None invites nobody (the demo seed, tests and benchmarks add their members
    themselves). Not one database transaction (schema creation runs its own), so a failure
    part-way removes what was created.
    """
    slug = slug.strip().lower()
    domain = domain.strip().lower()
    _validate_slug(slug)
    organization_validate_settings(
        timezone=org_settings.get("timezone"),
        peak_windows=org_settings.get("peak_windows"),
        currency=org_settings.get("currency"),
    )
    schema_name = schema_name_for_slug(slug)
    if (
        Organization.objects.filter(slug=slug).exists()
        or Organization.objects.filter(schema_name=schema_name).exists()
    ):
        raise ConflictError(
            _("An organization with this slug already exists."),
            code="ORGANIZATION_EXISTS",
            details={"slug": slug},
        )
    if Domain.objects.filter(domain=domain).exists():
        raise ConflictError(
            _("This domain is already in use."), code="DOMAIN_EXISTS", details={"domain": domain}
        )
    try:
        organization = Organization(name=name, slug=slug, schema_name=schema_name, **org_settings)
        organization.save(verbosity=0)
    except IntegrityError as exc:
        raise ConflictError(
            _("An organization with this slug already exists."), code="ORGANIZATION_EXISTS"
        ) from exc
    try:
        with transaction.atomic():
            Domain.objects.create(domain=domain, tenant=organization, is_primary=True)
            invitation = (
                invitation_create(organization=organization, email=owner_email, role=Role.OWNER)
                if owner_email
                else None
            )
    except Exception:
        organization.delete(force_drop=True)
        raise
    platform_audit_record(
        action=PlatformAction.ORGANIZATION_CREATE,
        organization=organization,
        changes={"domain": [None, domain], "owner_email": [None, owner_email]},
    )
    return ProvisionedOrganization(organization=organization, owner_invitation=invitation)


def organization_create(
    *, name: str, slug: str, domain: str, owner_email: str | None = None, **org_settings
) -> Organization:
    """``organization_provision`` for callers that do not need the owner's link."""
    return organization_provision(
        name=name, slug=slug, domain=domain, owner_email=owner_email, **org_settings
    ).organization


@transaction.atomic
def organization_update(*, organization: Organization, **fields) -> Organization:
    organization_validate_settings(
        timezone=fields.get("timezone"),
        peak_windows=fields.get("peak_windows"),
        currency=fields.get("currency"),
        cors_allowed_origins=fields.get("cors_allowed_origins"),
    )
    before = audit_snapshot(organization, fields)
    for key, value in fields.items():
        setattr(organization, key, value)
    organization.save(update_fields=[*fields.keys(), "updated_at"])
    if changes := audit_changes(before=before, after=audit_snapshot(organization, fields)):
        audit_record(
            action=AuditAction.SETTINGS_UPDATE,
            target=organization,
            changes=changes,
            organization=organization,
        )
    return organization


@transaction.atomic
def organization_set_active(*, organization: Organization, is_active: bool) -> Organization:
    """Suspend or resume (operators); the platform audit records a change, not a repeat."""
    was_active = organization.is_active
    organization.is_active = is_active
    organization.save(update_fields=["is_active", "updated_at"])
    if was_active != is_active:
        platform_audit_record(
            action=PlatformAction.ORGANIZATION_RESUME
            if is_active
            else PlatformAction.ORGANIZATION_SUSPEND,
            organization=organization,
            changes={"is_active": [was_active, is_active]},
        )
    return organization


def public_tenant_ensure() -> Organization:
    """The public pseudo-organization that routes the platform domain to the admin."""
    public, _created = Organization.objects.get_or_create(
        schema_name="public", defaults={"name": "Platform", "slug": "platform"}
    )
    Domain.objects.get_or_create(
        domain=settings.PUBLIC_DOMAIN, defaults={"tenant": public, "is_primary": True}
    )
    return public
