"""Limits of the task flow (DESIGN.md section 5) in one place."""

MAX_ITEMS_PER_TASK = 100
MAX_QUANTITY = 999
ITEM_NOTES_MAX_LENGTH = 200
CANCEL_REASON_MAX_LENGTH = 200
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# A claimed key whose request never finished (process killed) can be retried after this.
IDEMPOTENCY_STALE_SECONDS = 60
EVENTS_PAGE_DEFAULT = 100
EVENTS_PAGE_MAX = 500
# Expiry works in batches so one run never holds a huge list in memory.
EXPIRY_BATCH_SIZE = 500
# Task notes: the text of one note, and the feedback score's range.
NOTE_TEXT_MAX_LENGTH = 1000
NOTE_SCORE_MIN = 1
NOTE_SCORE_MAX = 5
# Batch create: tasks per call.
BATCH_MAX_TASKS = 50
# Search: longer strings cannot match a field (customer_name is 100 characters).
SEARCH_MAX_LENGTH = 100
