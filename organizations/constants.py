from datetime import time

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_BUSINESS_DAY_START = time(5, 0)
DEFAULT_PEAK_WINDOWS = [["11:00", "14:00"], ["17:00", "21:00"]]
DEFAULT_CURRENCY = "CNY"
# The language of an organization's board, reports and messages when nobody asked for another
# (DESIGN 13); the codes are settings.LANGUAGES'.
DEFAULT_LANGUAGE = "zh-hans"
LANGUAGE_CHOICES = [("zh-hans", "简体中文"), ("en", "English")]
DEFAULT_MAX_AGENTS = 500
DEFAULT_MAX_SCREENS = 20
DEFAULT_REQUESTS_PER_MINUTE = 3000
DEFAULT_TASK_EXPIRY_MINUTES = 30
DEFAULT_CARD_AMBER_MINUTES = 10
DEFAULT_CARD_RED_MINUTES = 20
# How long after a bump (ready / completed) a task can still be recalled.
DEFAULT_RECALL_MINUTES = 10
DEFAULT_REPORT_TIME = time(2, 0)
# Plan settings: how long the audit trail and the task events are kept (DESIGN 11, 12).
DEFAULT_AUDIT_RETENTION_DAYS = 365
DEFAULT_EVENT_RETENTION_DAYS = 30
TEMPLATE_SCHEMA = "tenant_template"
# Schema names are derived from slugs: lowercase, start with a letter, <= 40 characters.
SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"
RESERVED_SLUGS = frozenset(
    {"public", "www", "admin", "api", "static", "media", "tenant-template", "platform"}
)
