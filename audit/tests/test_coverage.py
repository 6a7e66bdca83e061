"""Every write service records its audit row.

1. The walk: every public function of every ``*/services.py`` is in ``SERVICES``, with the
   action code it records or the reason it records none. A new service (or a new module)
   fails here until someone decides.
2. One behavioural test per action code: the action is taken through the API, as a person
   would, and the row is checked (actor, action, target, changes, client IP, request id).
"""

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Invitation, Membership
from accounts.services import invitation_create
from agents.models import Agent, AgentCategory
from audit.choices import ActorType, AuditAction, PlatformAction
from audit.models import AuditEvent
from displays.services import screen_create
from testing.factories import agent_make


@dataclass(frozen=True)
class Not:
    """A service that writes no audit row, and why."""

    reason: str


_OWN_ACCOUNT = Not("a person's own account or session, not the organization's data")
_READ = Not("reads, validates or computes: writes nothing")
_JOB = Not("a system job's work; its effects are in the task events, ledger or job rows")
_FLOOR = Not("the floor's high-volume work: the task events record it with its actor")

A = AuditAction
P = PlatformAction
# module -> function -> the action code it records (AuditEvent, or PlatformAuditEvent for the
# operators' and platform's actions), or Not(why none).
SERVICES: dict[str, dict[str, object]] = {
    "accounts.services": {
        "auth_login": _OWN_ACCOUNT,
        "auth_logout": _OWN_ACCOUNT,
        "auth_logout_everywhere": _OWN_ACCOUNT,
        "user_sessions_revoke": _OWN_ACCOUNT,
        "password_validate": _READ,
        "password_change": _OWN_ACCOUNT,
        "password_reset_request": _OWN_ACCOUNT,
        "password_reset_user": _READ,
        "password_reset_confirm": _OWN_ACCOUNT,
        "user_profile_update": _OWN_ACCOUNT,
        "access_membership": _READ,
        "membership_update_role": A.MEMBER_ROLE,
        "membership_delete": A.MEMBER_REMOVE,
        "invitation_create": A.MEMBER_INVITE,
        "invitation_resend": A.INVITATION_RESEND,
        "invitation_revoke": A.INVITATION_REVOKE,
        "invitation_accept_new_account": A.INVITATION_ACCEPT,
        "invitation_accept_existing_account": A.INVITATION_ACCEPT,
    },
    "agents.services": {
        "access_category": _READ,
        "access_agent": _READ,
        "category_create": A.CATEGORY_CREATE,
        "category_update": A.CATEGORY_UPDATE,
        "category_delete": A.CATEGORY_DELETE,
        "agent_create": A.AGENT_CREATE,
        "agent_update": A.AGENT_UPDATE,
        "agent_delete": A.AGENT_DELETE,
        "agent_stock_adjust": A.STOCK_ADJUST,
        "stock_reconcile": _JOB,
    },
    "displays.services": {
        "screen_token_hash": _READ,
        "screen_create": A.SCREEN_CREATE,
        "screen_update": A.SCREEN_UPDATE,
        "screen_rotate_token": A.SCREEN_ROTATE,
        "screen_revoke": A.SCREEN_REVOKE,
        "screen_touch": Not("a screen's heartbeat (last seen)"),
    },
    "organizations.services": {
        "schema_name_for_slug": _READ,
        "organization_validate_settings": _READ,
        "organization_provision": P.ORGANIZATION_CREATE,
        "organization_create": P.ORGANIZATION_CREATE,
        "organization_update": A.SETTINGS_UPDATE,
        "organization_set_active": P.ORGANIZATION_SUSPEND,  # and P.ORGANIZATION_RESUME
        "organization_plan_update": P.ORGANIZATION_UPDATE,
        "organization_deletion_schedule": P.ORGANIZATION_DELETION_SCHEDULE,
        "organization_deletion_request": P.ORGANIZATION_DELETION_SCHEDULE,  # the owner's
        "organization_deletion_cancel": P.ORGANIZATION_DELETION_CANCEL,
        "organization_purge": P.ORGANIZATION_PURGE,
        "public_tenant_ensure": Not("platform setup: the public pseudo-organization"),
    },
    "signups.services": {
        "signup_domain": _READ,
        "signup_apply": Not("an applicant's form: the application row is its record"),
        "signup_confirm": Not("the applicant's email check: stamped on the application"),
        "signup_approve": P.SIGNUP_APPROVE,
        "signup_reject": P.SIGNUP_REJECT,
    },
    "exports.services": {
        "export_storage_name": _READ,
        "export_link_ttl": _READ,
        "export_stale_after": _READ,
        "export_request": A.EXPORT_CREATE,  # P.ORGANIZATION_EXPORT when an operator asks
        "access_export_job": _READ,
        "export_download_name": _READ,
        "export_run": _JOB,
        "export_write_archive": _JOB,
        "export_expire_one": _JOB,
        "export_expire": _JOB,
    },
    "events.services": {
        "event_actor": _READ,
        "events_group_name": _READ,
        "event_to_message": _READ,
        "event_emit": Not("the task event log itself (it carries its own actor)"),
        "events_publish_on_commit": Not("publishes committed events to the screens"),
        "events_publish": Not("publishes committed events to the screens"),
    },
    "reports.services": {
        "month_last_day": _READ,
        "report_period_dates": _READ,
        "report_storage_name": _READ,
        "stale_after": _READ,
        "report_enqueue": _JOB,
        "report_regenerate": A.REPORT_REGENERATE,
        "report_build": _READ,
        "report_generate": _JOB,
        "daily_report_due_at": _READ,
        "report_due_date": _READ,
        "reports_dispatch": _JOB,
    },
    "tasks.services": {
        "task_number": _READ,
        "task_item_snapshot": _READ,
        "task_serialize": _READ,
        "payload_categories": _READ,
        "task_create": _FLOOR,
        "task_transition": A.TASK_CANCEL,  # the cancel only; other moves: _FLOOR
        "task_advance": _FLOOR,
        "task_item_set_done": _FLOOR,
        "task_set_pinned": A.TASK_PIN,  # and A.TASK_UNPIN
        "task_recall": A.TASK_RECALL,
        "task_update": A.TASK_EDIT,  # A.TASK_PRIORITY when the priority alone changes
        "task_note_create": A.TASK_NOTE,
        "task_expire_stale": _JOB,
        "idempotency_keys_purge": _JOB,
    },
    "audit.services": {
        "audit_value": _READ,
        "audit_snapshot": _READ,
        "audit_changes": _READ,
        "audit_record": _READ,
        "platform_audit_record": _READ,
        "audit_prune": Not("retention itself (its log line says what it deleted)"),
    },
}
# Codes no service records yet.
RESERVED: set = set()


def _service_modules() -> list[str]:
    root = Path(settings.BASE_DIR)
    return sorted(
        f"{path.parent.name}.services"
        for path in root.glob("*/services.py")
        if not path.parent.name.startswith(".")
    )


def _public_functions(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    return {
        name
        for name, obj in inspect.getmembers(module, inspect.isfunction)
        if obj.__module__ == module_name and not name.startswith("_")
    }


def test_every_service_module_is_mapped():
    missing = [name for name in _service_modules() if name not in SERVICES]
    assert not missing, f"add these modules to SERVICES with each function's audit: {missing}"


@pytest.mark.parametrize("module_name", _service_modules())
def test_every_public_service_is_mapped_to_its_audit(module_name):
    functions = _public_functions(module_name)
    mapped = set(SERVICES.get(module_name, {}))
    assert not functions - mapped, (
        f"{module_name}: say which audit action these record (or why none) in "
        f"audit/tests/test_coverage.py SERVICES: {sorted(functions - mapped)}"
    )


def test_the_mapping_names_no_function_that_is_gone():
    for module_name in set(SERVICES) & set(_service_modules()):
        gone = set(SERVICES[module_name]) - _public_functions(module_name)
        assert not gone, f"{module_name}: no such functions any more: {sorted(gone)}"


def test_every_action_code_is_recorded_by_a_service_and_tested():
    recorded = {code for entries in SERVICES.values() for code in entries.values()}
    recorded |= {A.TASK_UNPIN, A.TASK_PRIORITY}  # second codes of task_set_pinned/task_update
    recorded |= {P.ORGANIZATION_RESUME}  # organization_set_active's second code
    recorded |= {P.ORGANIZATION_EXPORT}  # export_request's, for an operator
    assert set(AuditAction) - RESERVED <= recorded
    # Operator actions recorded outside services.py: the admin's change form and lockout unlock
    # (organizations.admin, accounts.admin_site).
    outside = {P.ORGANIZATION_UPDATE, P.LOCKOUT_UNLOCK}
    assert set(PlatformAction) - outside <= recorded
    assert set(AuditAction) - RESERVED == set(CASES), "one behavioural case per action code"


# --- behavioural cases -----------------------------------------------------------------------


@dataclass
class Done:
    """What one case expects of its row."""

    target_type: str
    target_id: object
    changes: dict
    actor: object = None  # a User; None: the client's user


CASES: dict[str, Callable] = {}


def case(action):
    def register(fn):
        CASES[action] = fn
        return fn

    return register


def catalog_category(name="Hot dishes") -> AgentCategory:
    category, _ = AgentCategory.objects.get_or_create(name=name, defaults={"sort_order": 1})
    return category


def catalog_agent(stock=10) -> Agent:
    return agent_make(name="Peking duck", category=catalog_category(), price="128.00", stock=stock)


def _task(org, agent) -> int:
    response = org.client("staff").post(
        "/api/v1/tasks/", {"items": [{"agent_id": agent.pk, "quantity": 1}]}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


@case(A.CATEGORY_CREATE)
def _(org, call):
    body = call("manager", "post", "/api/v1/agent-categories/", {"name": "Soups", "sort_order": 3})
    return Done("agentcategory", body["id"], {"name": [None, "Soups"], "sort_order": [None, 3]})


@case(A.CATEGORY_UPDATE)
def _(org, call):
    category = catalog_category()
    call("manager", "patch", f"/api/v1/agent-categories/{category.pk}/", {"name": "Grill"})
    return Done("agentcategory", category.pk, {"name": ["Hot dishes", "Grill"]})


@case(A.CATEGORY_DELETE)
def _(org, call):
    category = catalog_category("Empty")
    call("manager", "delete", f"/api/v1/agent-categories/{category.pk}/")
    return Done("agentcategory", category.pk, {})


@case(A.AGENT_CREATE)
def _(org, call):
    category = catalog_category()
    body = call(
        "manager",
        "post",
        "/api/v1/agents/",
        {"name": "Tea", "category": category.pk, "unit_price": "9.90", "stock": 4},
    )
    changes = {"name": [None, "Tea"], "unit_price": [None, "9.90"], "stock": [None, 4]}
    return Done("agent", body["id"], changes)


@case(A.AGENT_UPDATE)
def _(org, call):
    agent = catalog_agent()
    call("manager", "patch", f"/api/v1/agents/{agent.pk}/", {"unit_price": "130.50"})
    return Done("agent", agent.pk, {"unit_price": ["128.00", "130.50"]})


@case(A.AGENT_DELETE)
def _(org, call):
    agent = catalog_agent()
    call("manager", "delete", f"/api/v1/agents/{agent.pk}/")
    return Done("agent", agent.pk, {})


@case(A.STOCK_ADJUST)
def _(org, call):
    agent = catalog_agent(stock=10)
    url = f"/api/v1/agents/{agent.pk}/stock-adjustments/"
    call("manager", "post", url, {"delta": -3, "reason": "spoiled"})
    return Done("agent", agent.pk, {"stock": [10, 7], "reason": [None, "spoiled"]})


@case(A.TASK_CANCEL)
def _(org, call):
    task_id = _task(org, catalog_agent())
    call("manager", "post", f"/api/v1/tasks/{task_id}/cancel/", {"reason": "customer left"})
    return Done(
        "task", task_id, {"status": ["pending", "cancelled"], "reason": [None, "customer left"]}
    )


@case(A.TASK_EDIT)
def _(org, call):
    task_id = _task(org, catalog_agent())
    call("staff", "patch", f"/api/v1/tasks/{task_id}/", {"customer_name": "Li", "notes": "x"})
    return Done("task", task_id, {"customer_name": ["", "Li"], "notes": ["", "x"]})


@case(A.TASK_PRIORITY)
def _(org, call):
    task_id = _task(org, catalog_agent())
    call("staff", "patch", f"/api/v1/tasks/{task_id}/", {"priority": "rush"})
    return Done("task", task_id, {"priority": ["normal", "rush"]})


@case(A.TASK_RECALL)
def _(org, call):
    task_id = _task(org, catalog_agent())
    for step in ("accept", "start", "ready"):
        call("staff", "post", f"/api/v1/tasks/{task_id}/{step}/", None, audited=False)
    call("staff", "post", f"/api/v1/tasks/{task_id}/recall/", None)
    return Done("task", task_id, {"status": ["ready", "in_progress"]})


@case(A.TASK_PIN)
def _(org, call):
    task_id = _task(org, catalog_agent())
    call("staff", "post", f"/api/v1/tasks/{task_id}/pin/", None)
    return Done("task", task_id, {"pinned": [False, True]})


@case(A.TASK_UNPIN)
def _(org, call):
    task_id = _task(org, catalog_agent())
    call("staff", "post", f"/api/v1/tasks/{task_id}/pin/", None, audited=False)
    call("staff", "post", f"/api/v1/tasks/{task_id}/unpin/", None)
    return Done("task", task_id, {"pinned": [True, False]})


@case(A.TASK_NOTE)
def _(org, call):
    task_id = _task(org, catalog_agent())
    call("staff", "post", f"/api/v1/tasks/{task_id}/notes/", {"text": "no onions"})
    return Done("task", task_id, {"note": [None, "no onions"]})


@case(A.MEMBER_INVITE)
def _(org, call):
    body = call("manager", "post", "/api/v1/invitations/", {"email": "new@x.test", "role": "staff"})
    return Done("invitation", body["id"], {"email": [None, "new@x.test"], "role": [None, "staff"]})


def _staff_membership(org) -> Membership:
    return Membership.objects.get(user=org.users[Role.STAFF], organization=org.organization)


@case(A.MEMBER_ROLE)
def _(org, call):
    membership = _staff_membership(org)
    call("owner", "patch", f"/api/v1/members/{membership.pk}/", {"role": "manager"})
    return Done("membership", membership.pk, {"role": ["staff", "manager"]})


@case(A.MEMBER_REMOVE)
def _(org, call):
    membership = _staff_membership(org)
    call("owner", "delete", f"/api/v1/members/{membership.pk}/")
    return Done("membership", membership.pk, {"role": ["staff", None]})


def _invitation(org, email="guest@x.test"):
    return invitation_create(organization=org.organization, email=email, role=Role.STAFF)


@case(A.INVITATION_RESEND)
def _(org, call):
    invitation = _invitation(org).invitation
    # Past the resend cooldown.
    Invitation.objects.filter(pk=invitation.pk).update(
        last_sent_at=timezone.now() - timedelta(hours=1)
    )
    call("manager", "post", f"/api/v1/invitations/{invitation.pk}/resend/", None)
    return Done("invitation", invitation.pk, {"send_count": [1, 2]})


@case(A.INVITATION_REVOKE)
def _(org, call):
    invitation = _invitation(org).invitation
    call("owner", "delete", f"/api/v1/invitations/{invitation.pk}/")
    return Done("invitation", invitation.pk, {})


@case(A.INVITATION_ACCEPT)
def _(org, call):
    issued = _invitation(org, email="joiner@x.test")
    body = {"token": issued.token, "password": "a-long-new-passphrase-42", "full_name": "Jo"}
    call(None, "post", "/api/v1/invitations/accept/", body)
    from accounts.models import User

    joiner = User.objects.get(email="joiner@x.test")
    return Done("invitation", issued.invitation.pk, {"role": [None, "staff"]}, actor=joiner)


@case(A.SETTINGS_UPDATE)
def _(org, call):
    call("owner", "patch", "/api/v1/organization/", {"currency": "USD"})
    return Done("organization", org.organization.pk, {"currency": ["CNY", "USD"]})


@case(A.SCREEN_CREATE)
def _(org, call):
    category = catalog_category()
    body = call("manager", "post", "/api/v1/screens/", {"name": "Grill", "station": [category.pk]})
    return Done("screen", body["id"], {"name": [None, "Grill"], "station": [None, [category.pk]]})


def _screen():
    return screen_create(name="Grill", station=[catalog_category().pk])[0]


@case(A.SCREEN_UPDATE)
def _(org, call):
    screen = _screen()
    call("manager", "patch", f"/api/v1/screens/{screen.pk}/", {"name": "Wok"})
    return Done("screen", screen.pk, {"name": ["Grill", "Wok"]})


@case(A.SCREEN_ROTATE)
def _(org, call):
    screen = _screen()
    call("manager", "post", f"/api/v1/screens/{screen.pk}/rotate-token/", None)
    return Done("screen", screen.pk, {})


@case(A.SCREEN_REVOKE)
def _(org, call):
    screen = _screen()
    call("manager", "post", f"/api/v1/screens/{screen.pk}/revoke/", None)
    return Done("screen", screen.pk, {"is_active": [True, False]})


@case(A.REPORT_REGENERATE)
def _(org, call):
    day = (timezone.now() - timedelta(days=3)).date()
    body = call("manager", "post", "/api/v1/reports/daily/regenerate/", {"date": day.isoformat()})
    from reports.models import DailyReport

    report = DailyReport.objects.get(business_date=day)
    return Done("dailyreport", report.pk, {"job": [None, body["id"]], "queued": [None, True]})


@case(A.EXPORT_CREATE)
def _(org, call):
    body = call("owner", "post", "/api/v1/organization/export/", None)
    return Done("export", body["id"], {"job": [None, body["id"]]})


@pytest.mark.parametrize("action", sorted(CASES))
def test_the_action_through_the_api_writes_its_row(acme, action):
    # The changes a case expects are against the organization's defaults.
    acme.organization.refresh_from_db()
    # Who made each call, for the row's actor: the last audited call's user.
    made: dict = {}

    def call(role, method, url, body=None, audited=True):
        client = acme.client(role)
        kwargs = {"format": "json"} if body is not None else {}
        request_id = f"req-{action}-{len(made)}"
        response = getattr(client, method)(
            url,
            body,
            HTTP_X_REQUEST_ID=request_id,
            REMOTE_ADDR="203.0.113.5",
            **kwargs,
        )
        assert response.status_code < 300, (url, response.status_code, response.content[:400])
        if audited:
            made.update(user=acme.users[role] if role else None, request_id=request_id)
        return response.json() if response.content else None

    before = set(AuditEvent.objects.values_list("pk", flat=True))
    done = CASES[action](acme, call)
    rows = list(AuditEvent.objects.exclude(pk__in=before).filter(action=action))
    assert len(rows) == 1, [(r.action, r.target_id) for r in rows]
    row = rows[0]
    user = done.actor or made["user"]
    assert (row.actor_type, row.actor_id, row.actor_label) == (
        ActorType.USER,
        str(user.pk),
        user.email,
    )
    assert (row.target_type, row.target_id) == (done.target_type, str(done.target_id))
    assert row.target_label
    for field, before_after in done.changes.items():
        assert row.changes.get(field) == before_after, (field, row.changes)
    assert (row.ip, row.request_id) == ("203.0.113.5", made["request_id"])
