"""`manage.py seed_demo`: two demo organizations with users of each role, a platform superuser,
a catalog and 30 days of history. Idempotent: re-running creates nothing twice."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context
from tqdm import tqdm

from accounts.choices import Role
from accounts.models import Membership, User
from organizations.models import Organization
from organizations.services import organization_create

DEMO_PASSWORD = "demo-pass-123"
ADMIN_EMAIL = "admin@platform.test"
ADMIN_PASSWORD = "admin-pass-123"
DEMO_ORGS = [
    {
        "name": "Demo Bistro 演示餐厅",
        "slug": "demo",
        "domain": "demo.localhost",
        "timezone": "Asia/Shanghai",
    },
    {
        "name": "Globex Canteen",
        "slug": "globex",
        "domain": "globex.localhost",
        "timezone": "Asia/Shanghai",
    },
]


class Command(BaseCommand):
    help = "Seed the demo: organizations demo and globex, users, catalog, 30 days of history."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="days of history (default 30)")
        parser.add_argument("--no-history", action="store_true")

    def handle(self, *args, **opts):
        if not settings.DEMO_SEED_ALLOWED:
            # The demo's accounts have passwords anyone can read in the README.
            raise CommandError(
                _(
                    "seed_demo refuses to run with these settings (%(module)s): it creates "
                    "accounts with published passwords. Use create_organization instead."
                )
                % {"module": settings.SETTINGS_MODULE}
            )
        if not User.objects.filter(email=ADMIN_EMAIL).exists():
            User.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
            self.stdout.write(_("created platform superuser %(email)s") % {"email": ADMIN_EMAIL})
        for spec in DEMO_ORGS:
            org = self._ensure_org(spec)
            self._seed_org(org, days=0 if opts["no_history"] else opts["days"])
        self.stdout.write(self.style.SUCCESS(_("demo data ready")))

    def _ensure_org(self, spec: dict) -> Organization:
        slug = spec["slug"]
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            org = organization_create(
                name=spec["name"],
                slug=slug,
                domain=spec["domain"],
                timezone=spec["timezone"],
            )
            self.stdout.write(
                _("created organization %(slug)s (%(domain)s)")
                % {"slug": slug, "domain": spec["domain"]}
            )
        for role in (Role.OWNER, Role.MANAGER, Role.STAFF):
            user, created = User.objects.get_or_create(email=f"{role}@{slug}.test")
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(user=user, organization=org, defaults={"role": role})
        return org

    def _seed_org(self, org: Organization, *, days: int) -> None:
        try:
            from tasks.demo import seed_demo_catalog, seed_demo_history
        except ImportError:  # the demo data module is optional during development
            self.stdout.write(self.style.WARNING(_("tasks.demo not available: no catalog seeded")))
            return
        with tenant_context(org):
            seed_demo_catalog(org)
            if days:
                with tqdm(total=days, desc=f"history {org.slug}", unit="day") as bar:
                    created = seed_demo_history(org, days=days, progress=bar.update)
                self.stdout.write(
                    _("%(org)s: %(count)d historical tasks") % {"org": org.slug, "count": created}
                )
