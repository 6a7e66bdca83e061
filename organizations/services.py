"""Writes for organizations: provisioning, settings, suspension."""

import re
import shutil
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import available_timezones

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import lockout
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
    """Create an organization: schema (built like the template), domain, and an invitation of
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


# --- Plan limits (operators) -----------------------------------------------------------------

# Plan limits an operator sets, with the smallest value each accepts.
PLAN_LIMITS = {
    "max_agents": 0,
    "max_screens": 0,
    "requests_per_minute": 1,
    "audit_retention_days": 1,
    "event_retention_days": 1,
}


@transaction.atomic
def organization_plan_update(*, organization: Organization, **limits: int) -> Organization:
    """Change plan limits (``PLAN_LIMITS``), validated, audited on the platform."""
    errors = {}
    for name, value in limits.items():
        if name not in PLAN_LIMITS:
            errors[name] = [_("Not a plan limit.")]
        elif not isinstance(value, int) or isinstance(value, bool) or value < PLAN_LIMITS[name]:
            errors[name] = [
                _("Use a whole number of at least %(min)d.") % {"min": PLAN_LIMITS[name]}
            ]
    if errors:
        raise ApplicationError(
            _("Some fields are invalid."), code="VALIDATION_ERROR", details={"fields": errors}
        )
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    before = audit_snapshot(locked, limits)
    for name, value in limits.items():
        setattr(organization, name, value)
    organization.save(update_fields=[*limits, "updated_at"])
    if changes := audit_changes(before=before, after=audit_snapshot(organization, limits)):
        platform_audit_record(
            action=PlatformAction.ORGANIZATION_UPDATE, organization=organization, changes=changes
        )
    return organization


# --- Deletion (DESIGN 12) --------------------------------------------------------------------

DELETION_BY_OWNER = "owner"
DELETION_BY_OPERATOR = "operator"


class InvalidPassword(ApplicationError):
    status_code = 403
    code = "INVALID_PASSWORD"
    default_message = _("The password is incorrect.")


def organization_deletion_schedule(*, organization: Organization, by: str) -> Organization:
    """Schedule the purge ``TENANT_DELETION_GRACE_DAYS`` from now. The organization is refused
    at once (``Organization.access_refusal``) on every host cache's next read; open WebSockets
    close at their next re-check. ``by``: ``owner`` or ``operator``."""
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        if locked.is_public:
            raise ApplicationError(_("The platform itself cannot be deleted."))
        if locked.deletion_scheduled_at is not None:
            raise ConflictError(
                _("This organization's deletion is already scheduled."),
                code="DELETION_ALREADY_SCHEDULED",
                details={"deletion_due_at": locked.deletion_due_at.isoformat()},
            )
        now = timezone.now()
        locked.deletion_scheduled_at = now
        locked.deletion_due_at = now + timedelta(days=settings.TENANT_DELETION_GRACE_DAYS)
        locked.deletion_scheduled_by = by
        locked.save(
            update_fields=[
                "deletion_scheduled_at",
                "deletion_due_at",
                "deletion_scheduled_by",
                "updated_at",
            ]
        )
        platform_audit_record(
            action=PlatformAction.ORGANIZATION_DELETION_SCHEDULE,
            organization=locked,
            changes={"deletion_due_at": [None, locked.deletion_due_at], "by": by},
        )
    for name in ("deletion_scheduled_at", "deletion_due_at", "deletion_scheduled_by"):
        setattr(organization, name, getattr(locked, name))
    return organization


def organization_deletion_request(
    *, organization: Organization, user, password: str, ip: str
) -> Organization:
    """The owner schedules the deletion, re-entering their password under the login lockout
    (counted before the check, like a login: a stolen token cannot guess passwords here)."""
    attempt = lockout.login_attempt_begin(email=user.email, ip=ip)
    if not user.check_password(password):
        raise InvalidPassword()
    lockout.login_attempt_succeeded(attempt)
    return organization_deletion_schedule(organization=organization, by=DELETION_BY_OWNER)


def organization_deletion_cancel(*, organization: Organization, by: str) -> Organization:
    """Cancel a scheduled deletion during the grace period. An owner cannot cancel what an
    operator scheduled (an operator's decision: unpaid, abuse); an operator can cancel either."""
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        if locked.deletion_scheduled_at is None:
            raise ConflictError(
                _("No deletion is scheduled for this organization."),
                code="DELETION_NOT_SCHEDULED",
            )
        if by == DELETION_BY_OWNER and locked.deletion_scheduled_by == DELETION_BY_OPERATOR:
            raise ApplicationError(
                _("The platform operator scheduled this deletion: contact them to cancel it."),
                code="DELETION_SCHEDULED_BY_OPERATOR",
                status=403,
            )
        due = locked.deletion_due_at
        locked.deletion_scheduled_at = locked.deletion_due_at = None
        locked.deletion_scheduled_by = ""
        locked.save(
            update_fields=[
                "deletion_scheduled_at",
                "deletion_due_at",
                "deletion_scheduled_by",
                "updated_at",
            ]
        )
        platform_audit_record(
            action=PlatformAction.ORGANIZATION_DELETION_CANCEL,
            organization=locked,
            changes={"deletion_due_at": [due, None], "by": by},
        )
    for name in ("deletion_scheduled_at", "deletion_due_at", "deletion_scheduled_by"):
        setattr(organization, name, getattr(locked, name))
    return organization


def _storage_delete_tree(prefix: str) -> int:
    """Delete every file under ``prefix`` in the default storage; the number deleted."""
    deleted = 0
    try:
        directories, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    for name in files:
        default_storage.delete(f"{prefix}{name}")
        deleted += 1
    for directory in directories:
        deleted += _storage_delete_tree(f"{prefix}{directory}/")
    if isinstance(default_storage, FileSystemStorage):
        # Local disks keep empty directories; object stores have none.
        shutil.rmtree(default_storage.path(prefix), ignore_errors=True)
    return deleted


def organization_purge(*, organization: Organization, now=None) -> dict:
    """Remove an organization whose deletion is due: its files under ``<schema>/`` in storage,
    its schema (``DROP SCHEMA .. CASCADE``), domains, memberships, invitations and its row.
    User accounts stay (global: they may belong elsewhere); the platform audit keeps a record.

    The only caller that drops a schema (``auto_drop_schema`` is off). The row stays locked
    meanwhile, so a concurrent cancel waits and then finds nothing to cancel. Files go first,
    then the database in one transaction: a failure part-way leaves the organization scheduled
    and due, and the next purge run finishes it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Organization.objects.select_for_update().filter(pk=organization.pk).first()
        if locked is None or locked.is_public:
            return {}
        if locked.deletion_due_at is None or locked.deletion_due_at > now:
            raise ConflictError(
                _("This organization's deletion is not due."), code="DELETION_NOT_DUE"
            )
        connection.set_schema_to_public()
        files = _storage_delete_tree(f"{locked.schema_name}/")
        summary = {
            "schema": locked.schema_name,
            "files": files,
            "domains": list(locked.domains.values_list("domain", flat=True)),
            "memberships": locked.memberships.count(),
            "invitations": locked.invitations.count(),
            "deletion_scheduled_at": locked.deletion_scheduled_at,
            "deletion_scheduled_by": locked.deletion_scheduled_by,
        }
        platform_audit_record(
            action=PlatformAction.ORGANIZATION_PURGE, organization=locked, changes=summary
        )
        locked.delete(force_drop=True)
    return summary


def public_tenant_ensure() -> Organization:
    """The public pseudo-organization that routes the platform domain to the admin."""
    public, _created = Organization.objects.get_or_create(
        schema_name="public", defaults={"name": "Platform", "slug": "platform"}
    )
    Domain.objects.get_or_create(
        domain=settings.PUBLIC_DOMAIN, defaults={"tenant": public, "is_primary": True}
    )
    return public
