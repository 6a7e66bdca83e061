import json

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils.translation import gettext as _
from django_tenants.utils import schema_exists

from organizations.schema_pool import schema_pool_fill
from organizations.schema_script import schema_script_render
from organizations.services import public_tenant_ensure


class Command(BaseCommand):
    help = (
        "Bring the platform up to date: public schema, tenant template schema, every tenant, "
        "the public domain and the periodic tasks. Safe to re-run."
    )

    def handle(self, *args, **opts):
        verbosity = opts.get("verbosity", 1)
        self.stdout.write(_("[1/5] migrating the public schema"))
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        template = settings.TENANT_BASE_SCHEMA
        self.stdout.write(
            _("[2/5] migrating the tenant template schema '%(schema)s'") % {"schema": template}
        )
        if not schema_exists(template):
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{template}"')
        call_command("migrate_schemas", schema_name=template, interactive=False, verbosity=0)
        # New schemas replay what the migrations did, recorded once per migration state.
        schema_script_render()
        self.stdout.write(_("[3/5] migrating every organization's schema"))
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=verbosity - 1)
        public_tenant_ensure()
        self.stdout.write(_("[4/5] registering periodic tasks"))
        periodic_tasks_ensure()
        self.stdout.write(_("[5/5] warming the pool of ready tenant schemas"))
        schema_pool_fill()
        self.stdout.write(self.style.SUCCESS(_("platform ready")))


def periodic_tasks_ensure() -> None:
    """Create the beat schedules named in settings.PERIODIC_TASKS if they are missing.

    Existing rows are left alone so that what an operator edited in the admin stays edited.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    for name, spec in settings.PERIODIC_TASKS.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        schedule, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **spec["crontab"])
        PeriodicTask.objects.create(
            name=name,
            task=spec["task"],
            crontab=schedule,
            kwargs=json.dumps(spec.get("kwargs", {})),
            description=spec.get("description", ""),
        )
