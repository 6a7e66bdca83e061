"""Live traffic for a demo: realistic tasks created and moved along, visible on the boards.

    manage.py simulate_traffic --org demo --rate 2 [--duration 60]

Creates tasks (1-4 items of available agents, a table code, sometimes a note) at ``--rate`` tasks
per second through ``tasks.services.task_create`` (the real path: stock, number, events), and
advances older ones through the status machine so boards keep moving. Ctrl-C stops cleanly.
"""

import random
import signal
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext
from django_tenants.utils import tenant_context

from agents.models import Agent
from core.exceptions import ApplicationError
from organizations.models import Organization
from tasks.choices import ACTIVE_STATUSES
from tasks.models import Task
from tasks.services import task_advance, task_create

NOTES = ["", "", "", "no onion", "extra spicy", "less salt", "to go"]


class Command(BaseCommand):
    help = "Create and advance realistic tasks for an organization (Ctrl-C to stop)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization slug or schema name")
        parser.add_argument("--rate", type=float, default=2.0, help="new tasks per second")
        parser.add_argument("--duration", type=float, default=0, help="seconds (0: until Ctrl-C)")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, org, rate, duration, seed, **options):
        if rate <= 0:
            raise CommandError(gettext("--rate must be positive"))
        organization = Organization.objects.filter(slug=org).first() or (
            Organization.objects.filter(schema_name=org).first()
        )
        if organization is None or organization.is_public:
            raise CommandError(gettext("unknown organization %(org)r") % {"org": org})
        rng = random.Random(seed)
        stopping = {"now": False}

        def stop(signum, frame):
            stopping["now"] = True

        previous = signal.signal(signal.SIGINT, stop)
        counts = {"created": 0, "advanced": 0, "refused": 0}
        started = time.monotonic()
        interval = 1.0 / rate
        next_at = started
        try:
            with tenant_context(organization):
                agent_ids = list(
                    Agent.objects.filter(is_available=True).values_list("pk", flat=True)
                )
                if not agent_ids:
                    raise CommandError(
                        gettext("%(org)s has no available agents (seed the catalog first)")
                        % {"org": org}
                    )
                while not stopping["now"]:
                    if duration and time.monotonic() - started >= duration:
                        break
                    self._create(rng, agent_ids, counts)
                    # Move about as many tasks along as are created: boards stay populated.
                    for _ in range(rng.choice((0, 1, 1, 2))):
                        self._advance(rng, counts)
                    self._report(counts, started)
                    next_at += interval
                    time.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            signal.signal(signal.SIGINT, previous)
            self._report(counts, started)
            sys.stdout.write("\n")
            self.stdout.write(self.style.SUCCESS("stopped"))

    def _create(self, rng, agent_ids, counts) -> None:
        items = [
            {"agent_id": agent_id, "quantity": rng.choice((1, 1, 1, 2, 3)), "notes": ""}
            for agent_id in rng.sample(agent_ids, k=min(len(agent_ids), rng.randint(1, 4)))
        ]
        try:
            task_create(
                user=None,
                items=items,
                workspace=f"{rng.choice('ABC')}{rng.randint(1, 20):02d}",
                notes=rng.choice(NOTES),
            )
            counts["created"] += 1
        except ApplicationError:
            counts["refused"] += 1  # sold out, unavailable: what a real counter sees too

    def _advance(self, rng, counts) -> None:
        task_id = (
            Task.objects.filter(status__in=ACTIVE_STATUSES)
            .order_by("created_at")
            .values_list("pk", flat=True)[:8]
        )
        ids = list(task_id)
        if not ids:
            return
        try:
            task_advance(task_id=rng.choice(ids), user=None)
            counts["advanced"] += 1
        except ApplicationError:
            counts["refused"] += 1

    def _report(self, counts, started) -> None:
        elapsed = time.monotonic() - started
        sys.stdout.write(
            f"\r{elapsed:7.1f}s  created {counts['created']:6d}  advanced {counts['advanced']:6d}"
            f"  refused {counts['refused']:4d}"
        )
        sys.stdout.flush()
