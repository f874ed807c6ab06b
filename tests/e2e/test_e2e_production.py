"""Production, end to end, the way the README's deployment section runs it.

A real nginx (deploy/nginx/roster-room.conf, ports and paths substituted) terminates TLS with a
throwaway self-signed certificate for localhost, in front of two gunicorn instances started with
APP_ENV=production and TRUSTED_PROXY_COUNT=1, and one RQ worker (``flask --app app rq-worker``,
which runs Sync now), on a PostgreSQL of their own and Redis. The Clever sandbox plays Clever over
https behind the same nginx. Chromium logs in through all of it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pg_cluster import running_cluster

from clever.embedded_redis import free_port

from .browsers import need, new_chromium_context

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "roster-room.conf"
CLIENT_ID = "production-test-client"
CLIENT_SECRET = "production-test-secret-not-the-demo-one"
METRICS_TOKEN = "production-metrics-token"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.path.exists(path)), None
    )


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "localhost.pem", directory / "localhost.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def nginx_config(directory: Path, ports: dict[str, int], cert: Path, key: Path) -> Path:
    """The shipped site file with this machine's ports and paths, plus the sandbox over https."""
    site = SITE.read_text()
    replacements = {
        "server 127.0.0.1:8001;": f"server 127.0.0.1:{ports['app1']};",
        "server 127.0.0.1:8002;": f"server 127.0.0.1:{ports['app2']};",
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['https']} ssl http2;",
        "return 301 https://$host$request_uri;": (
            f"return 301 https://$host:{ports['https']}$request_uri;"
        ),
        "server_name roster.example.org;": "server_name localhost;",
        # On 443 the host alone is the origin; on this test's port the app must see the port
        # too, or Flask-WTF's https referrer check refuses every form post (Sync now, link).
        "proxy_set_header Host $host;": f"proxy_set_header Host $host:{ports['https']};",
        "proxy_set_header X-Forwarded-Host $host;": (
            f"proxy_set_header X-Forwarded-Host $host:{ports['https']};"
        ),
        "/etc/ssl/certs/roster.example.org.pem": str(cert),
        "/etc/ssl/private/roster.example.org.key": str(key),
    }
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx/roster-room.conf no longer has {old!r}"
        site = site.replace(old, new)
    sandbox_server = f"""
server {{
    listen 127.0.0.1:{ports["clever"]} ssl;
    server_name localhost;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
        proxy_pass http://127.0.0.1:{ports["sandbox"]};
        proxy_set_header Host $host:$server_port;
    }}
}}
"""
    main = f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/nginx-access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    {site}
    {sandbox_server}
}}
"""
    path = directory / "nginx.conf"
    path.write_text(main)
    return path


def wait_until(url: str, *, verify: str | bool = True, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2, verify=verify, allow_redirects=False)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Processes:
    """Children in their own process groups, all stopped at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.children: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - closed with the child
        child = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.directory.glob("*.log"))
        )


@pytest.fixture(scope="module")
def production(tmp_path_factory, redis_url, rq_worker) -> Iterator[dict]:
    need("chromium")
    nginx = nginx_binary()
    if nginx is None:
        message = "nginx is not installed (.ci/install-system-deps installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path_factory.mktemp("production")
    cert, key = write_certificate(directory)
    ports = {name: free_port() for name in ("app1", "app2", "http", "https", "clever", "sandbox")}
    app_origin = f"https://localhost:{ports['https']}"
    clever_origin = f"https://localhost:{ports['clever']}"
    processes = Processes(directory)
    # The suite's worker shares this Redis but syncs another database: only ours may listen.
    rq_worker.stop()
    with running_cluster() as database:
        env = {
            **os.environ,
            "APP_ENV": "production",
            "SECRET_KEY": "production-test-" + "k" * 40,
            "DATABASE_URL": database.url,
            "REDIS_URL": redis_url,
            "CLEVER_CLIENT_ID": CLIENT_ID,
            "CLEVER_CLIENT_SECRET": CLIENT_SECRET,
            "CLEVER_REDIRECT_URI": f"{app_origin}/auth/clever/callback",
            "CLEVER_OAUTH_BASE_URL": clever_origin,
            "CLEVER_API_BASE_URL": clever_origin,
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "TRUSTED_PROXY_COUNT": "1",
            "TRUSTED_HOSTS": "localhost",
            "METRICS_TOKEN": METRICS_TOKEN,
            # The app reaches "Clever" through nginx, whose certificate only this run trusts.
            "REQUESTS_CA_BUNDLE": str(cert),
        }
        bin_dir = Path(sys.executable).parent
        try:
            subprocess.run(
                [str(bin_dir / "flask"), "--app", "app", "db", "upgrade"],
                env=env, cwd=ROOT, check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            processes.start(
                "sandbox",
                [sys.executable, "-m", "clever.sandbox", "--port", str(ports["sandbox"]),
                 "--mode", "test"],
                {**env, "APP_ENV": "test"},
            )  # fmt: skip
            for instance in ("app1", "app2"):
                metrics_dir = directory / f"metrics-{instance}"
                metrics_dir.mkdir()
                processes.start(
                    instance,
                    [str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{ports[instance]}",
                     "--workers", "2", "--threads", "4", "app:create_app()"],
                    {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
                )  # fmt: skip
            worker = ["--app", "app", "rq-worker", "--name", "production-worker"]
            processes.start("worker", [str(bin_dir / "flask"), *worker], env)
            config = nginx_config(directory, ports, cert, key)
            processes.start("nginx", [nginx, "-p", str(directory), "-c", str(config)], env)
            for port in ("app1", "app2", "sandbox"):
                wait_until(f"http://127.0.0.1:{ports[port]}/")
            wait_for_worker(redis_url, "production-worker")
            wait_until(f"{app_origin}/healthz", verify=str(cert))
            yield {
                "app": app_origin,
                "clever": clever_origin,
                "http": f"http://localhost:{ports['http']}",
                "cert": str(cert),
                "processes": processes,
            }
        finally:
            processes.stop()
            rq_worker.start()


def wait_for_worker(redis_url: str, name: str, timeout: float = 60) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while not client.exists(f"rq:worker:{name}"):
        assert time.monotonic() < deadline, f"the RQ worker {name} did not start"
        time.sleep(0.1)


@pytest.fixture
def browser_page(chromium, production):
    context = new_chromium_context(chromium, ignore_https_errors=True, base_url=production["app"])
    context.set_default_timeout(30_000)
    yield context.new_page(), context
    context.close()


def pick_persona(page, first_name: str) -> None:
    page.get_by_role("button", name=f"Log in as {first_name}", exact=True).click()


def test_http_redirects_to_https_and_responses_are_hardened(production):
    plain = requests.get(production["http"] + "/dashboard", allow_redirects=False, timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"] == production["app"] + "/dashboard"
    health = requests.get(production["app"] + "/healthz", verify=production["cert"], timeout=10)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert "max-age=" in health.headers["Strict-Transport-Security"]
    assert re.fullmatch(r"[0-9a-f]{32}", health.headers["X-Request-ID"])  # nginx's $request_id


def test_portal_launch_and_button_login_through_tls(production, browser_page):
    page, context = browser_page
    page.goto(production["clever"] + "/portal")
    pick_persona(page, "Mateo")
    page.wait_for_url(production["clever"] + "/portal")
    page.get_by_role("link", name="Roster Room").click()
    page.wait_for_url(re.compile(re.escape(production["app"]) + r"/dashboard$"))
    assert "Mateo" in page.get_by_test_id("identity-name").inner_text()

    cookies = [c for c in context.cookies() if c["domain"] == "localhost" and
               c["name"] != "sandbox_session"]  # fmt: skip
    assert [c["name"] for c in cookies] == ["__Host-session"]
    for cookie in cookies:
        assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/", cookie["name"]
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(re.compile(r"/logged-out"))

    # Our own button: the authorize request names the https redirect URI.
    authorize = []
    page.on("request", lambda r: authorize.append(r.url) if "/oauth/authorize" in r.url else None)
    page.goto("/")
    page.get_by_role("link", name="Log in with Clever").first.click()
    page.wait_for_url(re.compile(r"/dashboard$"))
    assert authorize and "redirect_uri=https%3A%2F%2Flocalhost" in authorize[0]


def test_sync_now_runs_on_the_worker(production, browser_page):
    page, _context = browser_page
    page.goto("/")
    page.get_by_role("link", name="Log in with Clever").first.click()
    pick_persona(page, "Ana")
    page.wait_for_url(re.compile(r"/account/link$"))  # a teacher's first login: the link offer
    page.get_by_role("button", name="No, I'm new here").click()
    page.wait_for_url(re.compile(r"/dashboard$"))
    # With JavaScript the page polls /sync/status and reloads once the worker is done.
    with page.expect_navigation(url=re.compile(r"/dashboard$"), timeout=60_000):
        page.get_by_role("button", name="Sync now").click()
    page.get_by_test_id("sync-result").wait_for()
    status = page.request.get("/sync/status", headers={"Accept": "application/json"}).json()
    assert status["status"] == "ok" and status["run"]["trigger"] == "manual"
    assert status["done"] == status["total"] > 0
    assert "manual sync of user" in production["processes"].logs()  # the worker's own log


def test_metrics_through_the_proxy_need_the_token(production):
    url = production["app"] + "/metrics"
    assert requests.get(url, verify=production["cert"], timeout=10).status_code == 404
    # nginx alternates between the two instances, and each sums only its own workers' samples
    # (Prometheus scrapes every instance on its own); the login counted on one of them.
    scrapes = [
        requests.get(
            url,
            verify=production["cert"],
            timeout=10,
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        )
        for _ in range(4)
    ]
    assert all(scrape.status_code == 200 for scrape in scrapes)
    assert any("roster_room_logins_total" in scrape.text for scrape in scrapes)
