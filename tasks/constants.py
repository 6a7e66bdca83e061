"""Tunables of the task flow (DESIGN.md section 5). The limits of a field (text lengths,
quantity, score) are the model's: tasks.limits reads them."""

MAX_ITEMS_PER_TASK = 100
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# A claimed key whose request never finished (process killed) can be retried after this.
IDEMPOTENCY_STALE_SECONDS = 60
EVENTS_PAGE_DEFAULT = 100
EVENTS_PAGE_MAX = 500
# Expiry works in batches so one run never holds a huge list in memory.
EXPIRY_BATCH_SIZE = 500
# Batch create: tasks per call.
BATCH_MAX_TASKS = 50
# Search: longer strings cannot match a field (customer_name is 100 characters).
SEARCH_MAX_LENGTH = 100
