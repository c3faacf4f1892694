"""Settings, read from the environment, with defaults that work on a laptop."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from config.database import database_settings

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "dev-only-insecure-key-set-DJANGO_SECRET_KEY-in-production" if DEBUG else ""
)
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "collection",
    "aggregation",
    "endpoints",
    "panels",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "collection.api_input.RequestLimitsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "platform" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "collection.permissions.roles",
                "panels.context_processors.panel",
            ],
        },
    },
]

DATABASES = {"default": database_settings(BASE_DIR)}
DATABASE_EMBEDDED = not os.environ.get("DATABASE_URL", "").strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out client is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Researchers land on their campaigns, admins on the dashboard, annotators at home.
LOGIN_REDIRECT_URL = "workbench:landing"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "platform" / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
MEDIA_ROOT = Path(os.environ.get("PLURALIGN_MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Fernet keys for model endpoints' API keys, newest first (see endpoints/crypto.py).
PLURALIGN_ENDPOINT_KEYS = env_list("PLURALIGN_ENDPOINT_KEYS", [])
# First wait before retrying a model endpoint's 429/5xx/timeout (doubles each attempt).
PLURALIGN_GENERATION_BACKOFF_S = float(os.environ.get("PLURALIGN_GENERATION_BACKOFF_S") or 0.5)
# The demo's model (endpoints/demo.py): an OpenAI-compatible base URL, e.g. Ollama's
# http://127.0.0.1:11434/v1, its model id and key; empty URL: the stand-in on its port.
PLURALIGN_DEMO_MODEL_URL = os.environ.get("PLURALIGN_DEMO_MODEL_URL", "")
PLURALIGN_DEMO_MODEL = os.environ.get("PLURALIGN_DEMO_MODEL", "llama3.2")
PLURALIGN_DEMO_MODEL_KEY = os.environ.get("PLURALIGN_DEMO_MODEL_KEY", "")
PLURALIGN_DEMO_STANDIN_PORT = int(os.environ.get("PLURALIGN_DEMO_STANDIN_PORT") or 8011)
RELEASES_ROOT = Path(os.environ.get("PLURALIGN_RELEASES_ROOT", MEDIA_ROOT / "releases"))

# Free text is bounded everywhere it enters: forms, API and imports share these.
# DATA_UPLOAD_MAX_MEMORY_SIZE caps every request body but file uploads (the API's
# JSON parser included, which Django's own check does not reach); IMPORT_MAX_BYTES
# caps an upload request and the bytes an import reads (the import benchmark's 100,000
# short items are 26 MB; real prompts and candidates are longer).
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMPORT_MAX_BYTES = int(os.environ.get("PLURALIGN_IMPORT_MAX_BYTES") or 256 * 1024 * 1024)

# Transport: with debug off the defaults assume HTTPS behind a proxy that sets
# X-Forwarded-Proto (`check --deploy` passes); a plain-HTTP run turns them off by env.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the annotate page's script reads it for keyboard submits
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", not DEBUG):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)

# Every HTML page: scripts and styles from our own static files only (no inline code,
# no CDN; Swagger UI's assets come from drf-spectacular-sidecar).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Clients are told apart by REMOTE_ADDR, or, behind N trusted proxies, by the address
# the outermost of them appended to X-Forwarded-For (a client can forge the rest).
PROXY_COUNT = env_int("PLURALIGN_PROXY_COUNT", 0)

# Brute-force protection, on unless PLURALIGN_THROTTLING is off (the tests turn it off
# except where they prove it). Login lockout: django-axes, attempts in the database.
PLURALIGN_THROTTLING = env_bool("PLURALIGN_THROTTLING", True)
AXES_ENABLED = PLURALIGN_THROTTLING
AXES_FAILURE_LIMIT = env_int("PLURALIGN_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PLURALIGN_LOGIN_COOLOFF_MINUTES", 15))
# "username+ip_address": that username from that address; "|" separates alternatives.
AXES_LOCKOUT_PARAMETERS = [
    alternative.split("+")
    for alternative in os.environ.get("PLURALIGN_LOGIN_LOCKOUT", "username+ip_address").split("|")
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PROXY_COUNT else ["REMOTE_ADDR"]
)
THROTTLE_RATES = {
    "anon": os.environ.get("PLURALIGN_THROTTLE_ANON", "300/hour"),
    "user": os.environ.get("PLURALIGN_THROTTLE_USER", "20000/hour"),
    "token_create": os.environ.get("PLURALIGN_THROTTLE_TOKEN_CREATE", "20/hour"),
    "token_failure": os.environ.get("PLURALIGN_THROTTLE_TOKEN_FAILURE", "30/hour"),
    "signup": os.environ.get("PLURALIGN_THROTTLE_SIGNUP", "20/hour"),
    "conversation_ask": os.environ.get("PLURALIGN_THROTTLE_CONVERSATION_ASK", "120/hour"),
}

# Throttle counts must be shared by every process that serves requests: CACHE_URL
# (redis://...) gives one Redis cache; without it each process counts on its own.
CACHE_URL = os.environ.get("CACHE_URL", "").strip()
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }

# Celery: a broker when CELERY_BROKER_URL is set, otherwise tasks run in-process
# so the quick start needs no broker.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip()
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_TIMEZONE = TIME_ZONE
# Krippendorff's α resting on fewer units judged at least twice is shown as "too few
# overlapping judgements" on pages, cards and plots (the default of a release's
# `min_pairable_units` option; metrics.json always keeps α with its support).
PLURALIGN_MIN_PAIRABLE_UNITS = env_int("PLURALIGN_MIN_PAIRABLE_UNITS", 10)
# A running export's worker writes a heartbeat every EXPORT_JOB_HEARTBEAT_SECONDS; a
# job not heard from for EXPORT_JOB_STALE_SECONDS (keep it several beats long) is
# requeued by the sweep (beat, a starting worker, or `manage.py requeue_stuck_jobs`),
# and failed once it has been tried EXPORT_JOB_MAX_ATTEMPTS times.
EXPORT_JOB_HEARTBEAT_SECONDS = float(os.environ.get("PLURALIGN_JOB_HEARTBEAT_SECONDS", 10))
EXPORT_JOB_STALE_SECONDS = float(os.environ.get("PLURALIGN_JOB_STALE_SECONDS", 60))
EXPORT_JOB_SWEEP_SECONDS = float(os.environ.get("PLURALIGN_JOB_SWEEP_SECONDS", 30))
EXPORT_JOB_MAX_ATTEMPTS = int(os.environ.get("PLURALIGN_JOB_MAX_ATTEMPTS", 3))
# `make beat` (or cron: `manage.py record_alerts` every 5 minutes and
# `manage.py requeue_stuck_jobs` every minute). Dashboard pages treat a metrics
# snapshot as stale after 10 minutes.
# Adaptive overlap's pass (aggregation/allocation.py): how soon an item full at its k
# gets its extra slots where audiences disagree.
ADAPTIVE_OVERLAP_SECONDS = float(os.environ.get("PLURALIGN_ADAPTIVE_OVERLAP_SECONDS", 10))
CELERY_BEAT_SCHEDULE = {
    "adaptive-overlap": {
        "task": "aggregation.adaptive_overlap_allocate",
        "schedule": ADAPTIVE_OVERLAP_SECONDS,
        "options": {"expires": ADAPTIVE_OVERLAP_SECONDS},
    },
    "coverage-alerts": {
        "task": "aggregation.coverage_alerts_record",
        "schedule": 5 * 60,
        "options": {"expires": 4 * 60},
    },
    "export-jobs-requeue-stuck": {
        "task": "aggregation.export_jobs_requeue_stuck",
        "schedule": EXPORT_JOB_SWEEP_SECONDS,
        "options": {"expires": EXPORT_JOB_SWEEP_SECONDS},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "collection.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "EXCEPTION_HANDLER": "collection.apis.common.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "collection.api_input.CheckedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "collection.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "collection.throttles.AnonThrottle",
        "collection.throttles.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    "NUM_PROXIES": PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "pluralign API",
    "DESCRIPTION": "Collect alignment data from defined audiences; export per-audience datasets.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every 4xx answer in the one error shape (collection/apis/errors.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "collection.apis.errors.schema_errors_hook",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}
