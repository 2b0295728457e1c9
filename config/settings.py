"""Noticeboard settings: one module, driven by environment variables.

SQLite in the project folder is the default, so a fresh clone needs nothing else;
DATABASE_URL switches to PostgreSQL and REDIS_URL turns on the shared cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from notices.permalinks import DEFAULT_PERMALINK

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# pytest and `manage.py test` get plain static storage: no collectstatic needed.
TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and not TESTING:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("Set SECRET_KEY when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-key-only-for-local-use"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# The site's public origin (`https://notices.example.org`): absolute URLs in feeds, the
# sitemap, JSON and canonical links use it instead of the client's Host header (issue 11).
# Unset: the request's own host and scheme.
NOTICES_SITE_URL = os.environ.get("NOTICES_SITE_URL", "").strip().rstrip("/")
if NOTICES_SITE_URL:
    from urllib.parse import urlsplit

    _origin = urlsplit(NOTICES_SITE_URL)
    if _origin.scheme not in ("http", "https") or not _origin.hostname or _origin.path:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("NOTICES_SITE_URL is an origin: https://host[:port]")
    # One spelling: lower case, no trailing dot, no default port.
    _default_port = {"http": 80, "https": 443}[_origin.scheme]
    _port = f":{_origin.port}" if _origin.port not in (None, _default_port) else ""
    _hostname = _origin.hostname.rstrip(".")
    _hostname = f"[{_hostname}]" if ":" in _hostname else _hostname  # IPv6
    NOTICES_SITE_URL = f"{_origin.scheme}://{_hostname}{_port}"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # django.contrib.admin with the site's own AdminSite (branding, tags beside notices).
    "notices.admin_site.NoticeboardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sitemaps",
    "taggit",
    "simple_history",
    "csp",
    "notices",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # NOTICES_SITE_URL, when set, is the host and scheme of every absolute URL (issue 11).
    "notices.middleware.SiteOriginMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Versions of notices saved during a request name its user (notices/history.py).
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "notices.middleware.AdminLoginThrottleMiddleware",
    "notices.middleware.DatabaseUnavailableMiddleware",
    # After CSRF (a stored page gets the reader's token): readers' pages per data version.
    "notices.middleware.PageCacheMiddleware",
    # Last: it sees a view's 404 before APPEND_SLASH does (old addresses, archive files).
    "notices.old_urls.OldAddressFallbackMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers keep reading while an import writes; IMMEDIATE avoids
    # "database is locked" upgrades from read to write transactions.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Connections are kept as on PostgreSQL (CONN_MAX_AGE above): opening one, with its
    # PRAGMAs, on every request halved the requests/s gunicorn serves (issue 13).

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "noticeboard"),
        }
    }
else:
    # Whole pages are kept too (PageCacheMiddleware): room for a worker's busiest pages
    # (10-30 KB each, at most 100 KB) beside the counts, rather than the default 300 entries.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 1000},
        }
    }
# Whole pages for readers, per data version (notices.middleware.PageCacheMiddleware). Off in
# tests, which read each view's context; the page cache's own tests turn it on.
NOTICES_PAGE_CACHE = env_bool("NOTICES_PAGE_CACHE", not TESTING)
# Admin login failures must be counted once for every worker and app server (issue 11):
# Redis when there is one, else a table in the database (created by migration 0008; after
# switching from Redis to none, run `manage.py createcachetable`). Many entries allowed, so a
# flood of made-up usernames cannot cull the counts that matter.
CACHES["throttle"] = (
    {**CACHES["default"]}
    if os.environ.get("REDIS_URL")
    else {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "notices_throttle_cache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# The archive and how its documents are read.
NOTICES_ARCHIVE_DIR = Path(os.environ.get("NOTICES_ARCHIVE_DIR", BASE_DIR / "archive"))
# Naive dates in front matter are wall-clock times in this zone.
NOTICES_ARCHIVE_TZ = os.environ.get("NOTICES_ARCHIVE_TZ", "Asia/Shanghai")
NOTICES_PAGE_SIZE = 20
# Processes that read, parse, render and tokenise for search ahead of the importing one (0:
# none; issues 5 and 13), which then only writes: one on 2 cores, up to 4 on larger machines,
# none on one core (where they would only add the cost of handing the results back).
_SPARE_CORES = (os.cpu_count() or 1) - 1
NOTICES_IMPORT_WORKERS = env_int("NOTICES_IMPORT_WORKERS", max(0, min(4, _SPARE_CORES)))
# Larger archive files are rejected with a clear error, never read into memory (issue 6).
NOTICES_MAX_FILE_BYTES = env_int("NOTICES_MAX_FILE_BYTES", 5 * 1024 * 1024)
# What one request may spend on a notice's size (issue 11): `?highlight=` marks at most
# NOTICES_HIGHLIGHT_MAX_MARKS matches within the first NOTICES_HIGHLIGHT_MAX_CHARS characters of
# the body's HTML; a feed entry carries a body of at most NOTICES_FEED_ENTRY_CHARS characters
# (else its summary), and a feed's bodies at most NOTICES_FEED_TOTAL_CHARS together.
NOTICES_HIGHLIGHT_MAX_MARKS = env_int("NOTICES_HIGHLIGHT_MAX_MARKS", 1000)
NOTICES_HIGHLIGHT_MAX_CHARS = env_int("NOTICES_HIGHLIGHT_MAX_CHARS", 100_000)
NOTICES_FEED_ENTRY_CHARS = env_int("NOTICES_FEED_ENTRY_CHARS", 32_000)
NOTICES_FEED_TOTAL_CHARS = env_int("NOTICES_FEED_TOTAL_CHARS", 300_000)
# `import_notices --prune` refuses to delete more than this share of the notices without
# `--yes` (issue 10: another folder given by mistake deleted 59 of 60).
NOTICES_PRUNE_MAX_SHARE = float(os.environ.get("NOTICES_PRUNE_MAX_SHARE") or 0.10)
# Old addresses (issue 9): the old site's permalink patterns, comma-separated (Hexo's or
# Jekyll's placeholders, or a Jekyll style name); the importer stores each notice's addresses
# under them and a request for one is answered with a 301. Set your _config.yml's `permalink`.
# The default: Hexo's default, Jekyll's default, and Jekyll's common year-and-title form.
NOTICES_PERMALINK = os.environ.get("NOTICES_PERMALINK", "") or DEFAULT_PERMALINK
# The old site's static files (Hexo's source/ folder: /images/a.png is <dir>/images/a.png),
# served for addresses nothing else answers; unset, such links stay 404 as written.
NOTICES_ASSET_DIR = (
    Path(os.environ["NOTICES_ASSET_DIR"]) if os.environ.get("NOTICES_ASSET_DIR") else None
)
# The old site's own hosts (e.g. "blog.example.org"): links in bodies to a post's old address
# there, like root-relative ones, are rendered as links to the notice here.
NOTICES_OLD_HOSTS = [host.lower() for host in env_list("NOTICES_OLD_HOSTS")]
# Embedded players, maps and gists (issue 9) are shown as a link block naming their host and
# address. Hosts listed here (comma-separated, e.g. "www.youtube.com,player.vimeo.com") are
# shown as sandboxed frames instead, over https only, and CSP frame-src allows exactly them.
# Never list this site's own host: a same-origin frame with scripts could lift its sandbox.
# Bodies are rendered when imported or saved: a change applies to notices rendered after it.
NOTICES_EMBED_HOSTS = [host.lower() for host in env_list("NOTICES_EMBED_HOSTS")]
# Where the link checker's User-Agent points site owners (issue 15): a page or mailto: about
# the checker. Unset: NOTICES_SITE_URL.
NOTICES_LINKCHECK_CONTACT = os.environ.get("NOTICES_LINKCHECK_CONTACT", "").strip()
# Tags as Chinese editors type them (issue 10): `，` `、` `；` `;` separate like `,`.
TAGGIT_TAGS_FROM_STRING = "notices.tagging.parse_tags"
TAGGIT_STRING_FROM_TAGS = "notices.tagging.edit_string_for_tags"

# --- Security (issue 6) ----------------------------------------------------------------------
# Nothing from the archive may run in a reader's browser: no inline or foreign script at all.
# Images in notices point at the sites they came from, so img-src allows any http(s) host
# (set CSP_IMG_SRC="'self'" to block remote images instead; they then show as broken links).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": env_list("CSP_IMG_SRC", "'self',https:,http:"),
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "frame-src": [f"https://{host}" for host in NOTICES_EMBED_HOSTS] or [NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Production behind HTTPS: HTTPS=1 turns on the redirect, secure cookies and HSTS together;
# each can still be set on its own. SECURE_PROXY_SSL_HEADER=1 trusts X-Forwarded-Proto from a
# reverse proxy that sets it (and strips it from clients).
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# Admin logins: after this many failures from one address, or for one username from any
# addresses, 429 for the rest of the window (counted in the "throttle" cache).
ADMIN_LOGIN_MAX_FAILURES = env_int("ADMIN_LOGIN_MAX_FAILURES", 5)
ADMIN_LOGIN_LOCKOUT_SECONDS = env_int("ADMIN_LOGIN_LOCKOUT_SECONDS", 15 * 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
