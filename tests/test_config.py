import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from clever.config import DEMO_CLIENT_SECRET, ConfigError, load_settings

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CLEVER_CLIENT_ID": "client",
    "CLEVER_CLIENT_SECRET": "real-secret",
    "CLEVER_REDIRECT_URI": "https://app.example.org/auth/clever/callback",
    "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "TRUSTED_HOSTS": "app.example.org",
}


def test_development_defaults_point_at_the_sandbox():
    settings = load_settings({})
    assert settings.app_env == "development"
    assert settings.redirect_uri == "http://localhost:5000/auth/clever/callback"
    assert settings.oauth_base_url == settings.api_base_url == "http://localhost:5001"
    assert settings.session_idle_minutes == 30
    assert len(settings.secret_key) >= 32


def test_production_with_everything_set_loads():
    settings = load_settings(PRODUCTION)
    assert settings.oauth_base_url == "https://clever.com"
    assert settings.api_base_url == "https://api.clever.com"


def test_trusted_hosts_is_a_comma_list():
    settings = load_settings({**PRODUCTION, "TRUSTED_HOSTS": "app.example.org, .example.net"})
    assert settings.trusted_hosts == ("app.example.org", ".example.net")
    assert load_settings({}).trusted_hosts == ()


def test_redirect_uri_list_first_is_primary():
    settings = load_settings({**PRODUCTION, "CLEVER_REDIRECT_URI": "https://a/cb, https://b/cb"})
    assert settings.redirect_uri == "https://a/cb"
    assert settings.redirect_uris == ("https://a/cb", "https://b/cb")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"CLEVER_CLIENT_SECRET": ""}, "CLEVER_CLIENT_SECRET"),
        ({"CLEVER_CLIENT_SECRET": DEMO_CLIENT_SECRET}, "CLEVER_CLIENT_SECRET"),
        ({"CLEVER_REDIRECT_URI": "http://app.example.org/cb"}, "https"),
        ({"TOKEN_ENCRYPTION_KEY": ""}, "TOKEN_ENCRYPTION_KEY"),
        ({"TOKEN_ENCRYPTION_KEY": "not-a-key"}, "TOKEN_ENCRYPTION_KEY"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"TRUSTED_HOSTS": ""}, "TRUSTED_HOSTS"),
        ({"TRUSTED_HOSTS": " , "}, "TRUSTED_HOSTS"),
    ],
)
def test_production_refuses_unsafe_settings(change, words):
    with pytest.raises(ConfigError) as error:
        load_settings({**PRODUCTION, **change})
    assert words in str(error.value)


def test_bad_idle_minutes_is_a_config_error():
    with pytest.raises(ConfigError):
        load_settings({"SESSION_IDLE_MINUTES": "soon"})


def test_production_start_without_secret_prints_one_line_and_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update({**PRODUCTION, "SECRET_KEY": ""})
    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: Refusing to start: in production SECRET_KEY must be set to a real secret"
    ]
    assert "Traceback" not in result.stderr


def test_gunicorn_stops_instead_of_respawning_refusing_workers():
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update({**PRODUCTION, "SECRET_KEY": ""})
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    result = subprocess.run(
        # The repository's gunicorn.conf.py (read from the working directory), two workers.
        [gunicorn, "--bind", "127.0.0.1:0", "--workers", "2", "app:create_app()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode != 0
    refusals = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    # Each worker refuses at most once (the second may be stopped before it gets to say so);
    # a respawning server would repeat the line until the timeout.
    assert 1 <= len(refusals) <= 2
    assert set(refusals) == {
        "error: Refusing to start: in production SECRET_KEY must be set to a real secret"
    }
    assert "Traceback" not in result.stderr


def test_a_gunicorn_worker_loads_the_collation_table_and_freezes_its_heap_before_serving():
    script = """
import gc, runpy
from app import create_app
from clever import roster
app = create_app({"TESTING": True})
runpy.run_path("gunicorn.conf.py")["post_worker_init"](None)
print(roster._collator.cache_info().currsize, gc.get_freeze_count())
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 0, result.stderr
    loaded, frozen = map(int, result.stdout.split())
    assert loaded == 1
    assert frozen > 100_000  # the app, its libraries and the table: out of the collector's walk


def test_every_tunable_has_one_default_that_the_api_client_shares():
    import inspect

    from clever.api import CleverAPI
    from clever.config import TUNABLES

    defaults = inspect.signature(CleverAPI).parameters
    assert defaults["max_rate_limit_wait"].default == TUNABLES["CLEVER_MAX_RATE_LIMIT_WAIT"]
    assert defaults["max_retries"].default == TUNABLES["CLEVER_MAX_RETRIES"]
    assert defaults["timeout"].default == TUNABLES["CLEVER_HTTP_TIMEOUT"]


def test_the_app_reads_tunables_and_an_override_wins(app_config):
    from app import create_app
    from clever.config import TUNABLES

    app = create_app({**app_config, "SYNC_CONCURRENCY": 2})
    assert app.config["SYNC_CONCURRENCY"] == 2
    for key, value in TUNABLES.items():
        if key != "SYNC_CONCURRENCY":
            assert app.config[key] == value, key
