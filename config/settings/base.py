"""Settings shared by every environment. Everything that differs comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ

from core.logging import build_logging

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Development only: production settings refuse to start with it (or with no key at all).
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789abcdef"
SECRET_KEY = env("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"])

# --- Tenancy ---------------------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "daphne",
    "organizations",
    "accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    # django.contrib.admin with the login lockout and the lockout list (accounts.admin_site).
    "accounts.admin_config.PlatformAdminConfig",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    # Installed for its zh-Hans catalog (the 401 messages of the envelope); it has no models.
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "django_prometheus",
    "channels",
    "core",
    "signups",
]
TENANT_APPS = [
    "agents",
    "tasks",
    "events",
    "displays",
    "reports",
    "audit",
    "exports",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "organizations.Organization"
TENANT_DOMAIN_MODEL = "organizations.Domain"
# Operators' audit (public schema), named by label for the audit app (docs/audit.md).
PLATFORM_AUDIT_MODEL = "organizations.PlatformAuditEvent"
PUBLIC_SCHEMA_NAME = "public"
# New organizations are cloned from this pre-migrated schema instead of running every migration:
# it is what keeps "new organization ready" under a second with many tenants present.
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# Pre-cloned schemas kept ready so a new organization is renamed into place in milliseconds.
TENANT_SCHEMA_POOL_SIZE = env.int("TENANT_SCHEMA_POOL_SIZE", default=3)
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# Set the search_path once per schema switch, not before every query (half the round trips).
TENANT_LIMIT_SET_CALLS = True
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
# The public domain (admin, platform health) is the bare host; organizations live on subdomains.
PUBLIC_DOMAIN = env("PUBLIC_DOMAIN", default="localhost")
TENANT_DOMAIN_SUFFIX = env("TENANT_DOMAIN_SUFFIX", default="localhost")

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.RequestContextMiddleware",
    # Before the tenant middleware, so its own answers (suspended: 403) carry CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    # The request's language (DESIGN 13), before any answer that carries a message (413, the
    # tenant middleware's 404/403); the organization and the user refine it later (core.locale).
    "core.locale.LanguageMiddleware",
    # 413 for an oversized declared body, for every host, before anything reads it.
    "core.middleware.RequestSizeLimitMiddleware",
    "organizations.middleware.TenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /static/ (the display board's JS/CSS): hashed, compressed files in production.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The request, for the audit rows its services write (actor, IP: audit.context).
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Data stores -----------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default="postgres://postgres@127.0.0.1:5432/commandcenter",
        engine="core.db_backend",
    )
}
# An hour, not a minute: a backend pays once per organization to build its caches and plans for
# that schema, and one recycled every 60 s never got warm over a large fleet (task create over
# 1,000 organizations: 0.83x of 10 with 60 s, 0.88x with 3600 s, one run each; docs/performance.md,
# "Request path across organizations"). Memory is bounded by the schema count below, not the age.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=3600)
# A connection that has set its search_path to more distinct organization schemas than this is
# closed at the end of its request (or job), whatever its age: each schema a PostgreSQL backend
# reads grows its catalog caches for good (~0.15 MB; core.db_backend, docs/scaling.md). 0: off.
DATABASE_MAX_SCHEMAS_PER_CONNECTION = env.int("DATABASE_MAX_SCHEMAS_PER_CONNECTION", default=500)
# A health check is one more round trip per request (a tenth of a cached catalog read). Without
# it, a connection the server dropped (restart, failover) fails the one request that finds it,
# and Django closes it after that request; clients retry creates with their Idempotency-Key.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
# Statements run through ``connection.prepared_cursor()`` (core.db_backend: the fixed statements
# of task create) are prepared by PostgreSQL from their Nth run on a connection; Django's own
# cursors bind on the client and are never prepared ("off" disables). Prepared statements live
# in the server session: PostgreSQL directly or PgBouncer in session mode (transaction pooling is
# refused, core/db_backend/pooling.py).
_prepare_threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip().lower()
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    None if _prepare_threshold in ("", "off", "none") else int(_prepare_threshold)
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key carries the schema name: one organization can never read another's entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "SOCKET_TIMEOUT": 0.5,
            # The cache is an optimization: with Redis down, reads fall through to PostgreSQL.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

CHANNEL_LAYERS = {
    "default": {
        # Redis pub/sub: a group send is one PUBLISH (events.services publishes that way, pipelined,
        # after every commit), fan-out to every process with screens of the group is Redis'
        # job. Nothing is queued for a process that is not subscribed: a screen that missed
        # events (reconnect, resync) catches up from the event log by seq (displays.consumers).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {"address": env("CHANNELS_REDIS_URL", default=REDIS_URL), "socket_timeout": 15}
            ],
            "prefix": "cc",
        },
    }
}

# --- Auth ------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_LOCKOUT_PER_EMAIL = env.int("LOGIN_LOCKOUT_PER_EMAIL", default=5)
LOGIN_LOCKOUT_PER_IP = env.int("LOGIN_LOCKOUT_PER_IP", default=20)
LOGIN_LOCKOUT_WINDOW_SECONDS = env.int("LOGIN_LOCKOUT_WINDOW_SECONDS", default=15 * 60)
# Peers whose X-Forwarded-For is believed (IPs or CIDRs of our load balancers / proxies): the
# client IP of throttles, lockout and audit is the right-most address not in this list
# (core.client_ip). Empty: the TCP peer is the client and the header is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# Largest request body accepted (413 above it, before it is read: core.middleware for WSGI,
# core.asgi_limits for the ASGI server). Django's own form/body limit follows it.
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.OrganizationJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a nesting limit; any undecodable body is a 400 (core.parsers).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "core.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.RateLimitThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("THROTTLE_USER_RATE", default="600/min"),
        "anon": env("THROTTLE_ANON_RATE", default="60/min"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Command Center API",
    "DESCRIPTION": "Multi-tenant operations: catalog, tasks, display screens and reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several choice sets share the field name "status": name each one instead of letting
    # drf-spectacular append a hash (a name generated clients would change with the values).
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks.choices.TaskStatus",
        "ReportStatusEnum": "reports.choices.ReportStatus",
        "ReportJobStatusEnum": "reports.choices.JobStatus",
        "InvitationStatusEnum": "accounts.serializers.INVITATION_STATUSES",
        "ScreenModeEnum": "displays.models.ScreenMode",
    },
}

# --- CORS (core.cors) ------------------------------------------------------------------------
# Allowed origins are per organization (Organization.cors_allowed_origins), decided by the
# ``check_request_enabled`` signal: the process-wide lists stay empty and the URL regex matches
# nothing, so no request is ever answered with ``*`` or for an origin its organization did not
# list. No credentials: the API authenticates with a bearer token, never a cookie.
CORS_URLS_REGEX = r"(?!)"
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (
    "accept",
    "accept-language",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Idempotent-Replayed", "Content-Disposition"]
CORS_PREFLIGHT_MAX_AGE = 600

# --- Email (accounts.emails, sent by Celery jobs: accounts.tasks) ----------------------------
# EMAIL_URL: smtp://user:password@host:587 (smtp+tls://, smtp+ssl://), consolemail://, or
# emlfile:///.data/mail (one .eml file per message, core.email_backends; a relative path is
# under the project, emlfile:////abs/dir is absolute). `make run` defaults to emlfile.
environ.Env.EMAIL_SCHEMES["emlfile"] = "core.email_backends.EmlFileBackend"
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Command Center <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Links in emails: <scheme>://<organization's primary domain>[:<port>]/accounts/...
PUBLIC_URL_SCHEME = env("PUBLIC_URL_SCHEME", default="https")
PUBLIC_URL_PORT = env.int("PUBLIC_URL_PORT", default=0)  # 0: the scheme's default port
INVITATION_TTL_HOURS = env.int("INVITATION_TTL_HOURS", default=72)
INVITATION_RESEND_COOLDOWN_SECONDS = 60
INVITATION_MAX_SENDS = 10
PASSWORD_RESET_TIMEOUT = 3600  # Django's reset-link lifetime (s)
PASSWORD_RESET_PER_EMAIL_HOUR = 3  # reset emails one address can get per hour

# --- Tenant lifecycle (signups, organizations.services: deletion) ----------------------------
SIGNUP_RATE = env("SIGNUP_RATE", default="5/hour")  # signup applications per client IP
SIGNUP_CONFIRM_TTL_HOURS = env.int("SIGNUP_CONFIRM_TTL_HOURS", default=72)
# Days between a scheduled deletion and the purge (cancellable meanwhile).
TENANT_DELETION_GRACE_DAYS = env.int("TENANT_DELETION_GRACE_DAYS", default=30)
# Exports (exports app, docs/export.md): how long a finished export can be downloaded, the
# job's hard time limit (below CELERY_VISIBILITY_TIMEOUT), where its zip is built before it is
# stored (empty: the system's temporary directory; it needs room for one archive).
EXPORT_LINK_TTL_HOURS = env.int("EXPORT_LINK_TTL_HOURS", default=24)
EXPORT_TIME_LIMIT_SECONDS = env.int("EXPORT_TIME_LIMIT_SECONDS", default=1800)
EXPORT_TMP_DIR = env("EXPORT_TMP_DIR", default="")

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A redis broker redelivers an unacked job after this: it must exceed the longest job.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # A broker host that does not answer at all fails a request's send in seconds, not after
    # the system's TCP connect timeout (core.jobs: requests send with one quick retry).
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=2.0),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Logging is Django's LOGGING in every process (core.logging.configure_celery_logging).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- I18N / time -----------------------------------------------------------------------------
# The language of answers on hosts without an organization (platform, unknown host), of jobs and
# of operators' commands; organizations have their own (Organization.language, core.locale).
LANGUAGE_CODE = env("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files -----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Development and tests serve the source files without collectstatic; production serves only
# the collected, hashed ones (config/settings/production.py).
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
REPORTS_S3_BUCKET = env("REPORTS_S3_BUCKET", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if REPORTS_S3_BUCKET:
    # Any S3-compatible store (AWS, MinIO, Tencent COS) through django-storages.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": REPORTS_S3_BUCKET,
            "endpoint_url": env("REPORTS_S3_ENDPOINT_URL", default=None),
            "region_name": env("REPORTS_S3_REGION", default=None),
            "access_key": env("REPORTS_S3_ACCESS_KEY", default=None),
            "secret_key": env("REPORTS_S3_SECRET_KEY", default=None),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }

# --- Observability ---------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", default="console")  # "json" in production
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = build_logging(fmt=LOG_FORMAT, level=LOG_LEVEL)
# dictConfig, then (JSON) warnings and uncaught exceptions as log lines too (core.logging).
LOGGING_CONFIG = "core.logging.configure_logging"
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        # The build's commit (GIT_SHA, a Dockerfile build argument) unless SENTRY_RELEASE names
        # the release; with neither, sentry-sdk looks for one itself (a git checkout).
        release=env("SENTRY_RELEASE", default="") or env("GIT_SHA", default="") or None,
        # Explicit, so a missing one is an import error here rather than silently not enabled.
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        send_default_pii=False,
    )
PROMETHEUS_METRICS_EXPORT_PORT = None
# /metrics (core.metrics, platform host only): a scraper sends this bearer token or connects
# from one of these networks. An empty token disables the token path.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])

# --- Realtime --------------------------------------------------------------------------------
WS_TICKET_TTL_SECONDS = 30
WS_HEARTBEAT_SECONDS = env.int("WS_HEARTBEAT_SECONDS", default=20)
# Open sockets re-check the screen/user/organization on this period (revocation takes effect).
WS_RECHECK_SECONDS = env.int("WS_RECHECK_SECONDS", default=15)

IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600
# Per-process caches of host -> organization, user -> membership and verified tokens
# (core.local_cache): entries live LOCAL_CACHE_LISTENING_SECONDS while the process hears the
# invalidations published on LOCAL_CACHE_CHANNEL (Redis pub/sub), LOCAL_CACHE_SECONDS otherwise.
LOCAL_CACHE_SECONDS = env.int("LOCAL_CACHE_SECONDS", default=5)
LOCAL_CACHE_LISTENING_SECONDS = env.int("LOCAL_CACHE_LISTENING_SECONDS", default=300)
LOCAL_CACHE_CHANNEL = env("LOCAL_CACHE_CHANNEL", default="cc:local-caches:invalidate")
# Young-generation threshold of the garbage collector in web server processes, which also
# freeze what the loaded application keeps alive (core.gc_tuning); 0 keeps Python's defaults.
GC_GEN0_THRESHOLD = env.int("GC_GEN0_THRESHOLD", default=10_000)

# Beat schedules created by `manage.py platform_setup` when missing (then editable in the admin).
PERIODIC_TASKS: dict[str, dict] = {
    "Expire pending tasks (all organizations)": {
        "task": "tasks.expire_pending_dispatch",
        "crontab": {"minute": "*"},
        "description": "Every minute: enqueue one expiry job per active organization.",
    },
    "Stock reconciliation (all organizations)": {
        "task": "agents.reconcile_stock_dispatch",
        "crontab": {"minute": "7"},
        "description": "Hourly: verify initial + sum(delta) == stock per organization.",
    },
    "Daily and monthly reports dispatcher": {
        "task": "reports.dispatch_reports",
        "crontab": {"minute": "*/15"},
        "description": "Enqueue report jobs for organizations whose business day has closed.",
    },
    "Audit trail retention (all organizations)": {
        "task": "audit.prune_dispatch",
        "crontab": {"minute": "23", "hour": "3"},
        "description": "Daily: delete audit rows older than each organization's retention.",
    },
    "Purge organizations past their deletion grace": {
        "task": "organizations.purge_due",
        "crontab": {"minute": "41", "hour": "*"},
        "description": "Hourly: drop the schema, files and rows of organizations whose "
        "scheduled deletion is past TENANT_DELETION_GRACE_DAYS.",
    },
    "Expired exports (all organizations)": {
        "task": "exports.expire",
        "crontab": {"minute": "17", "hour": "*"},
        "description": "Hourly: delete export archives whose download link (24 h) has passed.",
    },
    "Task event retention (all organizations)": {
        "task": "events.prune_dispatch",
        "crontab": {"minute": "53", "hour": "3"},
        "description": "Daily: delete task events older than each organization's "
        "event_retention_days, in batches (screens behind the oldest kept event resync).",
    },
}

BENCH_FLOOR_ENABLED = env.bool("BENCH_FLOOR_ENABLED", default=False)
BENCH_FLOOR_PATH = "/bench/floor/"
# `manage.py seed_demo` creates accounts with published passwords: production turns it off.
DEMO_SEED_ALLOWED = True
