from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SignupStatus(models.TextChoices):
    UNCONFIRMED = "unconfirmed", _("Waiting for email confirmation")
    CONFIRMED = "confirmed", _("Waiting for an operator")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


# An application in one of these holds its slug: nobody else may ask for it meanwhile.
OPEN_STATUSES = (SignupStatus.UNCONFIRMED, SignupStatus.CONFIRMED)


class SignupApplication(models.Model):
    """A request for a new organization, made on the platform host (DESIGN 12).

    The contact email proves itself by a one-time link (only the SHA-256 of its token is kept);
    a confirmed application waits for an operator, whose approval provisions the organization
    and invites the contact email as its owner. Kept after the decision: the record of who
    asked for what and who decided.
    """

    organization_name = models.CharField(max_length=200, verbose_name=_("organization name"))
    slug = models.SlugField(max_length=40, verbose_name=_("slug"))
    contact_email = models.EmailField(verbose_name=_("contact email"))
    message = models.TextField(blank=True, verbose_name=_("message"))
    # The language the applicant wrote in: their emails and the organization's default.
    language = models.CharField(max_length=8, default="en", verbose_name=_("language"))
    status = models.CharField(
        max_length=16,
        choices=SignupStatus.choices,
        default=SignupStatus.UNCONFIRMED,
        verbose_name=_("status"),
    )
    token_hash = models.CharField(max_length=64, unique=True, verbose_name=_("token hash"))
    token_expires_at = models.DateTimeField(verbose_name=_("token expires at"))
    client_ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("client IP"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    confirmed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("confirmed at"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decision_note = models.TextField(blank=True, verbose_name=_("decision note"))
    # The organization an approval created (null again once that organization is purged).
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("organization"),
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"],
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="signup_one_open_per_slug",
            )
        ]
        verbose_name = _("signup application")
        verbose_name_plural = _("signup applications")

    def __str__(self) -> str:
        return f"{self.organization_name} ({self.slug}, {self.status})"
