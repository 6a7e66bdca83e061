"""The trail is written in the transaction of the change, and nothing changes it afterwards."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agents.services import category_create
from audit.choices import ActorType, AuditAction
from audit.context import actor_system, audit_actor_bind
from audit.models import AuditEvent, AuditTrailIsAppendOnly
from audit.services import Target, audit_record


class Boom(Exception):
    pass


def test_a_rolled_back_change_leaves_no_audit_row(acme):
    before = AuditEvent.objects.count()
    with pytest.raises(Boom), transaction.atomic():
        category = category_create(name="Desserts")
        # The row is there inside the transaction, next to the change...
        assert AuditEvent.objects.filter(
            action=AuditAction.CATEGORY_CREATE, target_id=str(category.pk)
        ).exists()
        raise Boom
    # ...and both are gone with it.
    assert AuditEvent.objects.count() == before
    assert not AuditEvent.objects.filter(target_label="Desserts").exists()


def test_a_refused_change_through_the_api_leaves_no_audit_row(acme):
    """A cancel the status machine refuses (an unknown task: 404; a closed one: 409)."""
    before = AuditEvent.objects.count()
    response = acme.client("manager").post(
        "/api/v1/tasks/999999/cancel/", {"reason": "customer left"}, format="json"
    )
    assert response.status_code == 404
    assert AuditEvent.objects.count() == before


def test_audit_record_refuses_to_run_outside_a_transaction(live_db, _shared_orgs):
    # live_db: no test-wide transaction, so autocommit is what a caller would really have.
    with _shared_orgs[0].active(), pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(action=AuditAction.SETTINGS_UPDATE, target=Target(type="x"))


def test_audit_record_refuses_an_unknown_action(acme):
    with pytest.raises(ValueError, match="unknown audit action"), transaction.atomic():
        audit_record(action="task.teleport", target=Target(type="task"))


def test_a_bound_actor_is_recorded_outside_a_request(acme):
    with transaction.atomic(), audit_actor_bind(actor_system("nightly-import")):
        event = category_create(name="Imported") and AuditEvent.objects.first()
    assert (event.actor_type, event.actor_id, event.actor_label) == (
        ActorType.SYSTEM,
        "",
        "nightly-import",
    )
    assert event.ip is None


def _row() -> AuditEvent:
    with transaction.atomic():
        return audit_record(
            action=AuditAction.SETTINGS_UPDATE,
            target=Target(type="organization", id="1", label="Acme"),
            changes={"currency": ["CNY", "USD"]},
        )


def test_the_model_refuses_to_change_or_delete_a_row(acme):
    event = _row()
    event.action = AuditAction.TASK_CANCEL
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action=AuditAction.TASK_CANCEL)
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == AuditAction.SETTINGS_UPDATE


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'task.cancel' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
)
def test_the_database_refuses_update_and_delete_in_a_cloned_schema(acme, sql):
    """acme's schema was cloned from the template: the trigger came with the table."""
    event = _row()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, action=AuditAction.SETTINGS_UPDATE).exists()


def test_the_database_lets_a_delete_through_only_under_the_retention_flag(acme):
    event = _row()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('cc.audit_prune', 'on', true)")
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
        assert cursor.rowcount == 1
        cursor.execute("SELECT set_config('cc.audit_prune', 'off', true)")
    # Without the flag (retention switches it off after each batch) it is refused again.
    other = _row()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [other.pk])


def test_money_and_times_are_stored_as_strings(acme):
    from decimal import Decimal

    at = timezone.now() - timedelta(hours=1)
    with transaction.atomic():
        event = audit_record(
            action=AuditAction.AGENT_UPDATE,
            target=Target(type="agent", id="1", label="Duck"),
            changes={"unit_price": [Decimal("12.50"), Decimal("13.00")], "at": [None, at]},
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.changes == {"unit_price": ["12.50", "13.00"], "at": [None, at.isoformat()]}
