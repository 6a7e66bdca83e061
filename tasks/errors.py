"""The task flow's business errors: stable codes, rendered as the API envelope."""

from django.utils.translation import gettext_lazy as _

from core.exceptions import ApplicationError, ConflictError


class InvalidTransition(ConflictError):
    code = "INVALID_TRANSITION"
    default_message = _("This status change is not allowed.")


class TaskNotActive(ConflictError):
    code = "TASK_NOT_ACTIVE"
    default_message = _("Items can only be marked while the task is pending, accepted or started.")


class TaskLocked(ConflictError):
    code = "TASK_LOCKED"
    default_message = _("The task can only be edited while it is pending or accepted.")


class RecallWindowPassed(ConflictError):
    code = "RECALL_WINDOW_PASSED"
    default_message = _("It is too late to recall this task.")


class AgentNotFound(ApplicationError):
    status_code = 400
    code = "AGENT_NOT_FOUND"
    default_message = _("Some agents do not exist.")


class AgentUnavailable(ConflictError):
    code = "AGENT_UNAVAILABLE"
    default_message = _("Some agents are not available.")


class IdempotencyKeyReused(ApplicationError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = _("This Idempotency-Key was already used with a different request body.")


class IdempotencyInProgress(ConflictError):
    code = "IDEMPOTENCY_IN_PROGRESS"
    default_message = _("A request with this Idempotency-Key is still being processed.")


def field_error(field: str, message) -> ApplicationError:
    """A 400 shaped like DRF's validation errors (``details.fields`` names the field)."""
    return ApplicationError(
        _("Some fields are invalid."),
        code="VALIDATION_ERROR",
        details={"fields": {field: [str(message)]}},
    )
