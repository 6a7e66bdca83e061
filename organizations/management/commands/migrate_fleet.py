"""Apply the tenant apps' pending migrations to every tenant schema (docs/migrations.md)."""

import argparse
import re

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from organizations.fleet_migrations import fleet_migrate


def _lock_timeout(value: str) -> str:
    if not re.fullmatch(r"\d+\s*(ms|s|min)?", value.strip()):
        raise argparse.ArgumentTypeError(_("a duration such as 5s, 500ms or 1min"))
    return value.strip()


class Command(BaseCommand):
    help = _(
        "Migrate the template schema, then apply what each tenant schema (organizations and "
        "the warm pool) lacks: each migration rendered to SQL once, one transaction per schema, "
        "several connections at once. Resumable: a re-run applies only what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--jobs",
            type=int,
            default=4,
            help=_("Connections (threads) applying migrations at once (default 4)."),
        )
        parser.add_argument(
            "--schema",
            action="append",
            dest="schemas",
            metavar="SCHEMA",
            help=_("Only this schema (repeatable): e.g. to retry the ones that failed."),
        )
        parser.add_argument(
            "--lock-timeout",
            type=_lock_timeout,
            default="5s",
            help=_(
                "Give up on a schema whose table lock is not granted within this time (default "
                "5s): it is reported and left untouched; re-run later."
            ),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Show what each migration would be applied to; change nothing."),
        )
        # Test and demonstration hook: hold each schema's transaction open this long.
        parser.add_argument("--sleep-per-schema", type=float, default=0.0, help=argparse.SUPPRESS)

    def handle(self, *args, **opts):
        def write(text: str) -> None:
            self.stderr.write(text, ending="")
            self.stderr.flush()

        def log(text: str) -> None:
            self.stdout.write(text)
            self.stdout.flush()

        result = fleet_migrate(
            jobs=opts["jobs"],
            schemas=opts["schemas"],
            lock_timeout=opts["lock_timeout"],
            dry_run=opts["dry_run"],
            sleep=opts["sleep_per_schema"],
            write=write,
            tty=self.stderr.isatty(),
            log=log,
        )
        for migration, count in result.pending.items():
            self.stdout.write(
                _("%(migration)s: missing in %(count)d schema(s)")
                % {"migration": migration, "count": count}
            )
        if opts["dry_run"]:
            self.stdout.write(
                _("Dry run: %(schemas)d schema(s), %(todo)d to migrate; nothing changed.")
                % {"schemas": result.schemas, "todo": result.schemas - result.up_to_date}
            )
            return
        self.stdout.write(
            _(
                "%(schemas)d schema(s): %(migrated)d migrated (%(fallback)d through Django's "
                "executor), %(current)d already up to date, %(skipped)d skipped, %(errors)d "
                "failed, in %(seconds).1f s."
            )
            % {
                "schemas": result.schemas,
                "migrated": result.migrated,
                "fallback": result.fallback,
                "current": result.up_to_date,
                "skipped": result.skipped,
                "errors": len(result.errors),
                "seconds": result.seconds,
            }
        )
        if not result.errors:
            self.stdout.write(self.style.SUCCESS(_("Every tenant schema is up to date.")))
            return
        for error in result.errors:
            self.stderr.write(
                _("FAILED %(schema)s %(migration)s: %(message)s")
                % {"schema": error.schema, "migration": error.migration, "message": error.message}
            )
        retry = " ".join(f"--schema {e.schema}" for e in result.errors[:20])
        raise CommandError(
            _(
                "%(count)d schema(s) failed and were left as they were (their transaction was "
                "rolled back); the others are migrated. Fix the cause above, then re-run "
                "manage.py migrate_fleet (it applies only what is missing), e.g. "
                "manage.py migrate_fleet %(retry)s"
            )
            % {"count": len(result.errors), "retry": retry}
        )
