import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit.context import actor_system, audit_actor_bind
from core.exceptions import ApplicationError
from organizations.services import organization_provision


class Command(BaseCommand):
    help = (
        "Create an organization: its schema, its domain, and an invitation of its owner (emailed, "
        "and printed here). No password is set: the owner chooses theirs when accepting, or "
        "proves the one of their existing account."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True, help="e.g. acme (schema name: acme)")
        parser.add_argument("--domain", required=True, help="e.g. acme.localhost")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--timezone", default=None, help="IANA name, default Asia/Shanghai")
        parser.add_argument("--currency", default=None)
        parser.add_argument(
            "--language", default=None, choices=["zh-hans", "en"], help="default zh-hans"
        )

    def handle(self, *args, **opts):
        extra = {k: opts[k] for k in ("timezone", "currency", "language") if opts[k]}
        started = time.perf_counter()
        try:
            # The platform audit (and the owner's invitation row) name this command as the actor.
            with audit_actor_bind(actor_system("create_organization")):
                provisioned = organization_provision(
                    name=opts["name"],
                    slug=opts["slug"],
                    domain=opts["domain"],
                    owner_email=opts["owner_email"],
                    **extra,
                )
        except ApplicationError as exc:
            hint = {
                "ORGANIZATION_EXISTS": _("Pick another --slug, or use the admin to edit it."),
                "DOMAIN_EXISTS": _("Pick another --domain."),
                "INVALID_SLUG": _("Example: --slug acme-foods"),
            }.get(exc.code, _("Fix the value and run the command again."))
            raise CommandError(f"{exc.code}: {exc.message} {exc.details or ''}\n{hint}") from exc
        elapsed = time.perf_counter() - started
        org = provisioned.organization
        invitation = provisioned.owner_invitation
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Created organization '%(name)s' in %(seconds).2fs\n"
                    "  schema: %(schema)s\n"
                    "  domain: %(domain)s\n"
                    "  owner:  %(email)s invited (role owner; the link is emailed, valid until "
                    "%(expires)s UTC)\n"
                    "  accept: %(url)s"
                )
                % {
                    "name": org.name,
                    "seconds": elapsed,
                    "schema": org.schema_name,
                    "domain": opts["domain"].lower(),
                    "email": invitation.invitation.email,
                    "expires": f"{invitation.invitation.expires_at:%Y-%m-%d %H:%M}",
                    "url": invitation.accept_url,
                }
            )
        )
