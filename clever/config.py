"""Configuration: defaults, environment parsing, and fail-fast validation for production.

Variable names are a contract (architecture section 3); tests outside the project rely on them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass

# The built-in sandbox's demo client. Safe to publish: the sandbox is the only server that
# accepts it, and production refuses to start with it.
DEMO_CLIENT_ID = "clever-library-demo"
DEMO_CLIENT_SECRET = "demo-secret-not-for-production"
DEMO_REDIRECT_URI = "http://localhost:5000/auth/clever/callback"
DEMO_SANDBOX_URL = "http://localhost:5001"

DEFAULT_SECRET_KEYS = {"", "dev", "change-me", "changeme", "secret", "replace-me"}

ENV_NAMES = (
    "APP_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "CLEVER_CLIENT_ID",
    "CLEVER_CLIENT_SECRET",
    "CLEVER_REDIRECT_URI",
    "CLEVER_OAUTH_BASE_URL",
    "CLEVER_API_BASE_URL",
    "TOKEN_ENCRYPTION_KEY",
    "SESSION_IDLE_MINUTES",
    "PRIVACY_CONTACT",
    "LOG_FORMAT",
    "TRUSTED_PROXY_COUNT",
    "METRICS_TOKEN",
    "OAUTH_RATE_LIMIT",
    "TRUSTED_HOSTS",
)


DEFAULT_IDLE_MINUTES = 30
# Per client address, over the OAuth start and the callback together (a login costs two), in
# a moving window. A whole school sits behind one address at 8 a.m.: 2,000 logins in ten
# minutes fit with room to spare; a flood of token exchanges does not.
DEFAULT_OAUTH_RATE_LIMIT = "2400 per minute; 10000 per 10 minutes"

# Operational knobs, each with its one default here. The code reads them from ``app.config``;
# tests and deployments override them through ``create_app(config)``.
TUNABLES: dict[str, object] = {
    # Every request to Clever: (connect, read) timeouts in seconds.
    "CLEVER_HTTP_TIMEOUT": (3.05, 10.0),
    # Retries of a timeout, a dropped connection or a 5xx, with jittered exponential backoff.
    "CLEVER_MAX_RETRIES": 3,
    "CLEVER_RETRY_BACKOFF": 0.5,
    "CLEVER_MAX_BACKOFF": 8.0,
    # Clever allows 1200 requests a minute per token; the client stays under it by itself.
    "CLEVER_REQUESTS_PER_MINUTE": 1200,
    # The longest a 429 is waited out before the call fails (a login cannot wait a minute).
    "CLEVER_MAX_RATE_LIMIT_WAIT": 30.0,
    # A login's whole conversation with Clever, from the callback on (the code exchange, the
    # token list, identity, roster), ends within this many seconds, below gunicorn.conf.py's
    # 60 s worker timeout; the code exchange is never retried.
    "LOGIN_DEADLINE_SECONDS": 20,
    # A district's and a school's Clever records, and the names of terms and courses, are read
    # again only when older than this.
    "CLEVER_ORGANISATION_MAX_AGE_HOURS": 24,
    # Requests in flight at once while reading one roster.
    "SYNC_CONCURRENCY": 8,
    # Threads per process that send roster reads, shared by every read in flight (each keeps
    # at most SYNC_CONCURRENCY busy) and kept between reads: enough for a gunicorn worker's
    # threads all logging in at once.
    "SYNC_READ_THREADS": 64,
    # `limit` on every list read with a district-app token (Clever allows up to 10000), so a
    # class of 135 is one request. User tokens never send it: Clever refuses paging to them.
    "CLEVER_PAGE_SIZE": 1000,
    # How long a district-app token stays cached (encrypted in Redis) before the token list is
    # read again; a 401 or a missing district refetches it at once.
    "DISTRICT_TOKEN_CACHE_SECONDS": 24 * 3600,
    # Redis lock of one user's sync: no second sync of the same user meanwhile.
    "SYNC_LOCK_SECONDS": 300,
    # A manual sync's job (clever.jobs): the longest it may run (below the lock's lifetime, so
    # the lock outlives the job), and how many times a job whose worker died is run again.
    "SYNC_JOB_TIMEOUT": 240,
    "SYNC_JOB_RETRIES": 1,
    # A job is abandoned (and retried) once its worker has been silent for the timeout plus this.
    "SYNC_JOB_GRACE_SECONDS": 30,
    # How often a worker looks for abandoned jobs (RQ's registry cleanup; RQ's default is 600).
    "SYNC_WORKER_MAINTENANCE_SECONDS": 30,
    # Threads per app that send a login's first roster read beside /users/{id}.
    "LOGIN_PREFETCH_WORKERS": 4,
    # Idle keep-alive connections a process keeps per Clever host (clever.connections): as many
    # as can be in a request at once, the read threads, the login prefetch and a gunicorn
    # worker's 8 request threads. A request past them opens a connection and closes it after.
    "CLEVER_KEPT_CONNECTIONS": 64 + 4 + 8,
    # A session's last activity is written to Redis at most this often (or a tenth of the idle
    # limit, when that is shorter), so a page that changes nothing else in the session writes
    # nothing; a session may so end up to that much before a full idle limit, never after.
    "SESSION_LAST_SEEN_RESOLUTION_SECONDS": 60,
    # Sort keys of names (clever.roster's reading order) each process keeps: a school's worth
    # of class and person names, about a kilobyte each.
    "COLLATION_KEYS_CACHED": 20_000,
    # Markup each process keeps (clever.views.kept_markup), with its key: a school's worth of
    # class cards, seen from their teachers' and their students' side (about 2 kB each, so up
    # to 8 MB), and the class choices of the teachers seen last (about 10 kB for 13 classes).
    "KEPT_CARDS": 4_096,
    "KEPT_CLASS_CHOICES": 512,
    # The largest request body: our forms are a few kilobytes; anything bigger is refused (413)
    # before it is read.
    "MAX_CONTENT_LENGTH": 256 * 1024,
    # The most values one list field (the class selection's section_ids) may carry.
    "MAX_LIST_FIELD_VALUES": 500,
    # SQLite (the default database) waits this long for another writer's lock before failing:
    # many first logins at once on one machine queue on it, within the login's deadline.
    "SQLITE_BUSY_TIMEOUT_SECONDS": 15,
}


class ConfigError(Exception):
    """Raised when the configuration cannot be used; the message is one line for humans."""


@dataclass(frozen=True)
class Settings:
    app_env: str
    secret_key: str
    database_url: str | None
    redis_url: str | None
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    oauth_base_url: str
    api_base_url: str
    token_encryption_key: str
    session_idle_minutes: int
    trusted_proxy_count: int = 0
    oauth_rate_limit: str = DEFAULT_OAUTH_RATE_LIMIT
    trusted_hosts: tuple[str, ...] = ()

    @property
    def redirect_uri(self) -> str:
        """The primary redirect URI: Portal, Instant Login and Library logins land here."""
        return self.redirect_uris[0]


def split_uris(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def derive_fernet_key(secret_key: str) -> str:
    digest = hashlib.sha256(b"clever-token-encryption:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment; raise ConfigError for an unsafe production setup."""
    env = dict(os.environ if environ is None else environ)
    app_env = read_app_env(env)
    production = app_env == "production"
    secret_key = read_secret_key(env, production)
    client_id, client_secret, redirect_uris, oauth_base, api_base = read_clever(env, production)
    if production:
        check_production(env, client_id, client_secret, redirect_uris)
    return Settings(
        app_env=app_env,
        secret_key=secret_key,
        database_url=env.get("DATABASE_URL") or None,
        redis_url=env.get("REDIS_URL") or None,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uris=redirect_uris,
        oauth_base_url=oauth_base.rstrip("/"),
        api_base_url=api_base.rstrip("/"),
        token_encryption_key=read_token_key(env, secret_key),
        session_idle_minutes=read_idle_minutes(env),
        trusted_proxy_count=read_proxy_count(env),
        oauth_rate_limit=read_rate_limit(env),
        trusted_hosts=split_uris(env.get("TRUSTED_HOSTS", "")),
    )


def read_app_env(env: dict[str, str]) -> str:
    app_env = env.get("APP_ENV", "development").strip() or "development"
    if app_env not in {"development", "test", "production"}:
        raise ConfigError(f"APP_ENV must be development, test or production, not {app_env!r}")
    return app_env


def read_secret_key(env: dict[str, str], production: bool) -> str:
    """The configured key; in development a random one per run when unset."""
    secret_key = env.get("SECRET_KEY", "")
    if production and secret_key.strip().lower() in DEFAULT_SECRET_KEYS:
        raise ConfigError("in production SECRET_KEY must be set to a real secret")
    if production and len(secret_key) < 32:
        raise ConfigError("in production SECRET_KEY must be at least 32 characters")
    return secret_key or secrets.token_urlsafe(48)


def read_clever(
    env: dict[str, str], production: bool
) -> tuple[str, str, tuple[str, ...], str, str]:
    """Client id, secret, redirect URIs and base URLs: the sandbox's outside production."""
    sandbox = env.get("CLEVER_SANDBOX_URL", DEMO_SANDBOX_URL).rstrip("/")
    demo = not production
    client_id = env.get("CLEVER_CLIENT_ID") or (DEMO_CLIENT_ID if demo else "")
    client_secret = env.get("CLEVER_CLIENT_SECRET") or (DEMO_CLIENT_SECRET if demo else "")
    redirect_uris = split_uris(env.get("CLEVER_REDIRECT_URI", "")) or (
        (DEMO_REDIRECT_URI,) if demo else ()
    )
    oauth_base = env.get("CLEVER_OAUTH_BASE_URL") or (sandbox if demo else "https://clever.com")
    api_base = env.get("CLEVER_API_BASE_URL") or (sandbox if demo else "https://api.clever.com")
    return client_id, client_secret, redirect_uris, oauth_base, api_base


def check_production(
    env: dict[str, str], client_id: str, client_secret: str, redirect_uris: tuple[str, ...]
) -> None:
    """What production refuses to start without (the token key is checked when read)."""
    if not client_id:
        raise ConfigError("in production CLEVER_CLIENT_ID must be set")
    if not client_secret or client_secret == DEMO_CLIENT_SECRET:
        raise ConfigError("in production CLEVER_CLIENT_SECRET must be set to your app's secret")
    if not redirect_uris:
        raise ConfigError("in production CLEVER_REDIRECT_URI must be set")
    if any(not uri.startswith("https://") for uri in redirect_uris):
        raise ConfigError("in production CLEVER_REDIRECT_URI must use https")
    if not env.get("TOKEN_ENCRYPTION_KEY"):
        raise ConfigError("in production TOKEN_ENCRYPTION_KEY must be set")
    if not env.get("REDIS_URL"):
        raise ConfigError("in production REDIS_URL must be set")
    if not split_uris(env.get("TRUSTED_HOSTS", "")):
        raise ConfigError("in production TRUSTED_HOSTS must list the app's host names")


def read_token_key(env: dict[str, str], secret_key: str) -> str:
    """A Fernet key: the configured one, or (outside production) one derived from SECRET_KEY."""
    token_key = env.get("TOKEN_ENCRYPTION_KEY", "")
    if not token_key:
        return derive_fernet_key(secret_key)
    try:
        if len(base64.urlsafe_b64decode(token_key.encode())) != 32:
            raise ValueError
    except ValueError:
        raise ConfigError(
            "TOKEN_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None
    return token_key


def read_idle_minutes(env: dict[str, str]) -> int:
    try:
        idle = int(env.get("SESSION_IDLE_MINUTES", str(DEFAULT_IDLE_MINUTES)))
        if idle < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(
            "SESSION_IDLE_MINUTES must be a whole number of minutes, 1 or more"
        ) from None
    return idle


def read_log_format(env: dict[str, str], app_env: str) -> str:
    value = env.get("LOG_FORMAT") or ("json" if app_env == "production" else "text")
    if value not in {"json", "text"}:
        raise ConfigError(f"LOG_FORMAT must be json or text, not {value!r}")
    return value


def read_proxy_count(env: dict[str, str]) -> int:
    """How many reverse proxies in front set X-Forwarded-*: exactly that many are believed."""
    try:
        count = int(env.get("TRUSTED_PROXY_COUNT", "0"))
        if not 0 <= count <= 10:
            raise ValueError
    except ValueError:
        raise ConfigError(
            "TRUSTED_PROXY_COUNT must be the number of reverse proxies in front (0 to 10)"
        ) from None
    return count


def read_rate_limit(env: dict[str, str]) -> str:
    """A Flask-Limiter limit string such as "2400 per minute; 10000 per 10 minutes"."""
    from limits import parse_many

    value = env.get("OAUTH_RATE_LIMIT", "").strip() or DEFAULT_OAUTH_RATE_LIMIT
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            'OAUTH_RATE_LIMIT must be a limit such as "2400 per minute; 10000 per 10 minutes"'
        ) from None
    return value


def database_uri(settings: Settings, instance_path: str) -> str:
    """SQLAlchemy's URI: SQLite in ``instance/`` by default; PostgreSQL through psycopg 3."""
    url = settings.database_url or "sqlite:///" + os.path.join(instance_path, "roster-room.sqlite")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def apply_settings(app, overrides: dict) -> str | None:
    """Load settings into ``app.config``; return the Redis URL (None: start an embedded one).

    ``overrides`` may hold environment names (they win over the process environment) and any
    other Flask config keys (copied as they are).
    """
    environ = dict(os.environ)
    environ.update({k: str(v) for k, v in overrides.items() if k in ENV_NAMES and v is not None})
    settings = load_settings(environ)
    app.config.update(
        APP_ENV=settings.app_env,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=database_uri(settings, app.instance_path),
        REDIS_URL=settings.redis_url,
        CLEVER_CLIENT_ID=settings.client_id,
        CLEVER_CLIENT_SECRET=settings.client_secret,
        CLEVER_REDIRECT_URI=settings.redirect_uri,
        CLEVER_REDIRECT_URIS=settings.redirect_uris,
        CLEVER_OAUTH_BASE_URL=settings.oauth_base_url,
        CLEVER_API_BASE_URL=settings.api_base_url,
        TOKEN_ENCRYPTION_KEY=settings.token_encryption_key,
        SESSION_IDLE_MINUTES=settings.session_idle_minutes,
        TRUSTED_PROXY_COUNT=settings.trusted_proxy_count,
        OAUTH_RATE_LIMIT=settings.oauth_rate_limit,
        # Flask answers 400 to any other Host header; unset outside production means any host.
        TRUSTED_HOSTS=list(settings.trusted_hosts) or None,
        TESTING=settings.app_env == "test",
        # Shown on /privacy: whom a district writes to for deletion (optional).
        PRIVACY_CONTACT=environ.get("PRIVACY_CONTACT") or None,
        LOG_FORMAT=read_log_format(environ, settings.app_env),
        # /metrics answers only with this bearer token; unset, it is a 404.
        METRICS_TOKEN=environ.get("METRICS_TOKEN") or None,
    )
    app.config.update(TUNABLES)
    app.config.update({k: v for k, v in overrides.items() if k not in ENV_NAMES})
    return settings.redis_url
