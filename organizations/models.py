from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import connection, models
from django.utils import timezone as django_timezone
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.postgresql_backend.base import _check_schema_name
from django_tenants.utils import schema_exists

from . import constants


def default_peak_windows() -> list[list[str]]:
    return [list(window) for window in constants.DEFAULT_PEAK_WINDOWS]


class Organization(TenantMixin):
    """A customer of the platform (a restaurant group). Owns one PostgreSQL schema.

    The public schema is represented by one row too (``schema_name='public'``): django-tenants
    needs it to route the platform domain (admin, health) to the public URLconf.
    """

    # TenantMixin's field, as django-tenants declares it, with a translated label.
    schema_name = models.CharField(
        max_length=63,
        unique=True,
        db_index=True,
        validators=[_check_schema_name],
        verbose_name=_("schema name"),
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    slug = models.SlugField(max_length=40, unique=True, verbose_name=_("slug"))
    timezone = models.CharField(
        max_length=64, default=constants.DEFAULT_TIMEZONE, verbose_name=_("timezone")
    )
    business_day_start = models.TimeField(
        default=constants.DEFAULT_BUSINESS_DAY_START, verbose_name=_("business day start")
    )
    peak_windows = models.JSONField(
        default=default_peak_windows, blank=True, verbose_name=_("peak windows")
    )
    currency = models.CharField(
        max_length=3, default=constants.DEFAULT_CURRENCY, verbose_name=_("currency")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    # A scheduled deletion (DESIGN 12): refused at once (403 ORGANIZATION_DELETION_SCHEDULED),
    # purged once ``deletion_due_at`` has passed unless cancelled. Independent of ``is_active``
    # so that cancelling gives back whatever suspension state the organization had.
    deletion_scheduled_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("deletion scheduled at")
    )
    deletion_due_at = models.DateTimeField(
        null=True, blank=True, db_index=True, verbose_name=_("deletion due at")
    )
    # "owner" or "operator": an owner may cancel only a deletion an owner scheduled.
    deletion_scheduled_by = models.CharField(
        max_length=16, blank=True, default="", verbose_name=_("deletion scheduled by")
    )
    max_agents = models.PositiveIntegerField(
        default=constants.DEFAULT_MAX_AGENTS, verbose_name=_("max agents")
    )
    max_screens = models.PositiveIntegerField(
        default=constants.DEFAULT_MAX_SCREENS, verbose_name=_("max screens")
    )
    requests_per_minute = models.PositiveIntegerField(
        default=constants.DEFAULT_REQUESTS_PER_MINUTE,
        validators=[MinValueValidator(1)],
        verbose_name=_("requests per minute"),
    )
    task_expiry_minutes = models.PositiveIntegerField(
        default=constants.DEFAULT_TASK_EXPIRY_MINUTES,
        validators=[MinValueValidator(1)],
        verbose_name=_("task expiry minutes"),
    )
    card_amber_minutes = models.PositiveIntegerField(
        default=constants.DEFAULT_CARD_AMBER_MINUTES, verbose_name=_("card amber minutes")
    )
    card_red_minutes = models.PositiveIntegerField(
        default=constants.DEFAULT_CARD_RED_MINUTES, verbose_name=_("card red minutes")
    )
    recall_minutes = models.PositiveIntegerField(
        default=constants.DEFAULT_RECALL_MINUTES, verbose_name=_("recall minutes")
    )
    # Messages, the board, emails and reports when neither the request (Accept-Language) nor the
    # user chose a language (core.locale).
    language = models.CharField(
        max_length=8,
        choices=constants.LANGUAGE_CHOICES,
        default=constants.DEFAULT_LANGUAGE,
        verbose_name=_("language"),
    )
    report_time = models.TimeField(
        default=constants.DEFAULT_REPORT_TIME, verbose_name=_("report time")
    )
    # Plan settings: audit rows and task events older than this are pruned by beat (DESIGN 11, 12).
    audit_retention_days = models.PositiveIntegerField(
        default=constants.DEFAULT_AUDIT_RETENTION_DAYS,
        validators=[MinValueValidator(1)],
        verbose_name=_("audit retention days"),
    )
    event_retention_days = models.PositiveIntegerField(
        default=constants.DEFAULT_EVENT_RETENTION_DAYS,
        validators=[MinValueValidator(1)],
        verbose_name=_("event retention days"),
    )
    # Browser origins (``https://host[:port]``) allowed to call this organization's API
    # (core.cors); empty: same-origin only.
    cors_allowed_origins = models.JSONField(
        default=list, blank=True, verbose_name=_("CORS allowed origins")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    auto_create_schema = True
    # Only the purge (``organizations.services.organization_purge``) drops a schema, with
    # ``force_drop``: a plain ``delete()`` (a shell, a cascade) never takes a schema with it.
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    @property
    def is_public(self) -> bool:
        return self.schema_name == "public"

    def access_refusal(self) -> tuple[str, str] | None:
        """Why this organization's API and WebSockets are closed, as ``(code, message)``, or
        None when they are open. One answer for HTTP, WebSocket connects and their re-checks."""
        from django.utils.translation import gettext

        if self.deletion_scheduled_at is not None:
            return (
                "ORGANIZATION_DELETION_SCHEDULED",
                gettext(
                    "This organization is scheduled for deletion. The owner can cancel it "
                    "before it is purged."
                ),
            )
        if not self.is_active:
            return (
                "ORGANIZATION_SUSPENDED",
                gettext("This organization is suspended. Contact the platform operator."),
            )
        return None

    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        """Take a ready schema from the warm pool, else build it from the recorded script.

        Both paths leave the template's tables and ``django_migrations`` rows, so the "fake
        migrate" django-tenants runs after creating a schema is redundant and skipped. The
        script (``schema_script``) replays in one round trip, in a time that does not grow
        with the number of schemas; the pool makes it a rename (``schema_pool``).
        """
        from .schema_pool import schema_pool_claim, schema_pool_refill_soon
        from .schema_script import schema_create_from_script

        template = settings.TENANT_BASE_SCHEMA
        if not sync_schema or not schema_exists(template):
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        if check_if_exists and schema_exists(self.schema_name):
            return False
        if not schema_pool_claim(schema_name=self.schema_name):
            schema_create_from_script(schema_name=self.schema_name)
        schema_pool_refill_soon()
        connection.set_schema_to_public()
        return True


class PooledSchema(models.Model):
    """A tenant schema built in advance (like the template), waiting for an organization.

    Provisioning renames one (``ALTER SCHEMA .. RENAME``, constant time) instead of cloning
    while the customer waits.
    """

    schema_name = models.CharField(max_length=63, unique=True, verbose_name=_("schema name"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("pooled schema")
        verbose_name_plural = _("pooled schemas")

    def __str__(self) -> str:
        return self.schema_name


class TenantSchemaScript(models.Model):
    """The SQL that builds a tenant schema from nothing, for one migration state.

    Recorded once per state (the template's applied migrations, hashed) by running the tenant
    migrations on a scratch schema (``organizations.schema_script``), then replayed in one round
    trip for every new organization and pooled schema: the cost of a new schema no longer grows
    with the number of schemas in the database, as cloning and migrating do (catalog scans).
    """

    state = models.CharField(_("migration state"), max_length=64, unique=True)
    sql = models.TextField(_("SQL"))
    statements = models.PositiveIntegerField(_("statements"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("tenant schema script")
        verbose_name_plural = _("tenant schema scripts")

    def __str__(self) -> str:
        return f"{self.state[:12]} ({self.statements} statements)"


class Domain(DomainMixin):
    """A host name that routes to one organization (``acme.localhost``)."""

    # DomainMixin's fields, as django-tenants declares them, with translated labels.
    domain = models.CharField(max_length=253, unique=True, db_index=True, verbose_name=_("domain"))
    tenant = models.ForeignKey(
        settings.TENANT_MODEL,
        db_index=True,
        related_name="domains",
        on_delete=models.CASCADE,
        verbose_name=_("organization"),
    )
    # The host the organization's links (emails) use.
    is_primary = models.BooleanField(default=True, db_index=True, verbose_name=_("is primary"))

    class Meta:
        verbose_name = _("domain")
        verbose_name_plural = _("domains")

    def __str__(self) -> str:
        return self.domain


class PlatformAuditEvent(models.Model):
    """An operator's action on the platform (create, suspend, resume, plan change, unlock...),
    or a platform command's. Written by the services (``audit.services.platform_audit_record``);
    read only, in the admin.

    The organization is kept as id, slug and name, not a foreign key: the row outlives the
    organization's purge (DESIGN 12: "the platform audit keeps the record").
    """

    at = models.DateTimeField(default=django_timezone.now, db_index=True, verbose_name=_("time"))
    # audit.choices.ActorType: user or system
    actor_type = models.CharField(max_length=16, verbose_name=_("actor type"))
    actor_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("actor ID"))
    # The operator's email, or the command that acted ("create_organization").
    actor_label = models.CharField(
        max_length=254, blank=True, default="", verbose_name=_("actor label")
    )
    # audit.choices.PlatformAction
    action = models.CharField(max_length=64, db_index=True, verbose_name=_("action"))
    organization_ref = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("organization ID")
    )
    organization_slug = models.CharField(
        max_length=40, blank=True, default="", verbose_name=_("organization slug")
    )
    organization_name = models.CharField(
        max_length=200, blank=True, default="", verbose_name=_("organization name")
    )
    changes = models.JSONField(default=dict, blank=True, verbose_name=_("changes"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("IP address"))
    request_id = models.CharField(
        max_length=128, blank=True, default="", verbose_name=_("request ID")
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("platform audit event")
        verbose_name_plural = _("platform audit events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or self.actor_type} {self.action}"
