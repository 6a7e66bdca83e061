"""The text and number limits of the task API, read from the models' field definitions (the one
place they are written: a column's length, a field's validators, which the CHECK constraints
share). Serializers, the create fast path and services read them here, never a copy."""

from core.fields import field_max_length, field_range

from .models import Task, TaskItem, TaskNote

WORKSPACE_MAX_LENGTH = field_max_length(Task, "workspace")
CUSTOMER_NAME_MAX_LENGTH = field_max_length(Task, "customer_name")
NOTES_MAX_LENGTH = field_max_length(Task, "notes")
CANCEL_REASON_MAX_LENGTH = field_max_length(Task, "cancel_reason")
ITEM_NOTES_MAX_LENGTH = field_max_length(TaskItem, "notes")
QUANTITY_MIN, QUANTITY_MAX = field_range(TaskItem, "quantity")
NOTE_TEXT_MAX_LENGTH = field_max_length(TaskNote, "text")
NOTE_SCORE_MIN, NOTE_SCORE_MAX = field_range(TaskNote, "score")
