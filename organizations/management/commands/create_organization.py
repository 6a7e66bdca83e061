import time

from django.core.management.base import BaseCommand, CommandError

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

    def handle(self, *args, **opts):
        extra = {k: opts[k] for k in ("timezone", "currency") if opts[k]}
        started = time.perf_counter()
        try:
            provisioned = organization_provision(
                name=opts["name"],
                slug=opts["slug"],
                domain=opts["domain"],
                owner_email=opts["owner_email"],
                **extra,
            )
        except ApplicationError as exc:
            hint = {
                "ORGANIZATION_EXISTS": "Pick another --slug, or use the admin to edit it.",
                "DOMAIN_EXISTS": "Pick another --domain.",
                "INVALID_SLUG": "Example: --slug acme-foods",
            }.get(exc.code, "Fix the value and run the command again.")
            raise CommandError(f"{exc.code}: {exc.message} {exc.details or ''}\n{hint}") from exc
        elapsed = time.perf_counter() - started
        org = provisioned.organization
        invitation = provisioned.owner_invitation
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organization '{org.name}' in {elapsed:.2f}s\n"
                f"  schema: {org.schema_name}\n"
                f"  domain: {opts['domain'].lower()}\n"
                f"  owner:  {invitation.invitation.email} invited (role owner; the link is "
                f"emailed, valid until {invitation.invitation.expires_at:%Y-%m-%d %H:%M} UTC)\n"
                f"  accept: {invitation.accept_url}"
            )
        )
