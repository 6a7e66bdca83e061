import time

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from organizations.services import organization_create


class Command(BaseCommand):
    help = "Create an organization: its schema, its domain and its owner, in one go."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True, help="e.g. acme (schema name: acme)")
        parser.add_argument("--domain", required=True, help="e.g. acme.localhost")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", default=None)
        parser.add_argument("--timezone", default=None, help="IANA name, default Asia/Shanghai")
        parser.add_argument("--currency", default=None)

    def handle(self, *args, **opts):
        extra = {k: opts[k] for k in ("timezone", "currency") if opts[k]}
        started = time.perf_counter()
        try:
            org = organization_create(
                name=opts["name"],
                slug=opts["slug"],
                domain=opts["domain"],
                owner_email=opts["owner_email"],
                owner_password=opts["owner_password"],
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
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organization '{org.name}' in {elapsed:.2f}s\n"
                f"  schema: {org.schema_name}\n"
                f"  domain: {opts['domain'].lower()}\n"
                f"  owner:  {opts['owner_email'].lower()} (role owner)"
                + ("" if opts["owner_password"] else " - no password set: set one in the admin")
            )
        )
