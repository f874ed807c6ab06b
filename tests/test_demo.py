"""GET /demo: the free demo runs the real login flow against the built-in sandbox, and says
plainly that its Clever is simulated; against the real Clever it offers no demo."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from app import create_app

DEMO_NOTE = "This demo uses a simulated Clever (no Clever account needed)"


def test_the_demo_page_explains_itself_and_offers_three_ways_in(client, sandbox):
    response = client.get("/demo")
    assert response.status_code == 200
    body = html.unescape(response.get_data(as_text=True))
    assert DEMO_NOTE in body
    assert re.search(r'href="/auth/clever/login"[^>]*>Pick a persona<', body)
    assert re.search(rf'href="{re.escape(sandbox.url)}/portal"[^>]*>Open the Clever Portal<', body)
    assert re.search(
        rf'href="{re.escape(sandbox.url)}/library"[^>]*>Open the Clever Library<', body
    )
    # A few personas worth trying, each with what it shows.
    for name in ("Ana Núñez", "Mateo Ramírez", "Zoë Brontë", "Hana Kobayashi"):
        assert name in body
    assert "135 students" in body
    # Which persona is which world.
    worlds = dict(
        re.findall(r"<dt>([^<]+?) <span[^>]*>[^<]*</span> <span[^>]*>([^<]+)</span></dt>", body)
    )
    assert worlds["Ana Núñez"] == worlds["Mateo Ramírez"] == "District login"
    assert worlds["Hana Kobayashi"] == worlds["Amara Okonkwo"] == "Library login"
    assert "connect Lakeview at district level" in body


def test_pick_a_persona_starts_our_own_login_with_a_fresh_state(client, sandbox):
    first = client.get("/auth/clever/login")
    second = client.get("/auth/clever/login")
    for response in (first, second):
        assert response.status_code == 302
        assert response.headers["Location"].startswith(f"{sandbox.url}/oauth/authorize?")
    states = [parse_qs(urlsplit(r.headers["Location"]).query)["state"][0] for r in (first, second)]
    assert states[0] != states[1]


def test_landing_to_demo_to_persona_to_dashboard_needs_no_clever_account(flow, sandbox):
    landing = flow.go("/")
    assert 'href="/demo"' in landing.text and "Try the free demo" in landing.text
    demo = flow.go("/demo")
    assert DEMO_NOTE in html.unescape(demo.text)
    picker = flow.go("/auth/clever/login")  # the "Pick a persona" button
    assert picker.url.startswith(f"{sandbox.url}/oauth/authorize")
    assert "Log in to Clever (simulated)" in picker.text
    page = flow.go_form(picker, "Log in as Mateo")
    assert page.url.endswith("/dashboard") and page.status == 200
    assert 'data-testid="identity-name">Mateo Ramírez<' in page.text
    assert len(sandbox.requests_log(kind="token")) == 1  # the real code exchange happened


def test_the_portal_button_launches_into_the_app(flow, sandbox):
    flow.sign_in_to_clever("mateo")
    page = flow.go(f"{sandbox.url}/portal/launch")
    assert page.url.endswith("/dashboard")
    assert "Mateo Ramírez" in page.text


@pytest.fixture
def real_clever_client(app_config, schema):
    app = create_app(
        {
            **app_config,
            "CLEVER_OAUTH_BASE_URL": "https://clever.com",
            "CLEVER_API_BASE_URL": "https://api.clever.com",
        }
    )
    return app.test_client()


def test_against_the_real_clever_there_is_no_demo(real_clever_client):
    response = real_clever_client.get("/demo")
    assert response.status_code == 200
    body = html.unescape(response.get_data(as_text=True))
    assert "only available in demo mode" in body
    assert DEMO_NOTE not in body
    assert "/portal" not in body and "/library" not in body
    assert 'href="/auth/clever/login"' in body  # logging in with the real Clever still works


def test_the_sandbox_picker_explains_every_persona(sandbox):
    import requests

    from clever.sandbox import seed

    # Not signed in to the sandbox: the Portal shows the picker first.
    picker = html.unescape(requests.get(f"{sandbox.url}/portal", timeout=10).text)
    assert "Log in to Clever (simulated)" in picker
    for persona in seed.PERSONAS.values():
        assert persona.exercises in picker
        assert f"Log in as {persona.name.split(' ')[0]}" in picker


# -- switching person -------------------------------------------------------------------------


def test_switch_person_signs_out_of_both_and_shows_the_picker(flow, sandbox):
    page = flow.login_with_button("mateo")
    assert 'data-testid="demo-bar"' in page.text and "Switch person" in page.text
    # Without switching, "Pick a persona" goes straight back in as Mateo (Clever remembers him).
    again = flow.go("/auth/clever/login")
    assert again.url.endswith("/dashboard") and "Mateo Ramírez" in again.text
    picker = flow.go_form(again, "Switch person")
    assert picker.url.startswith(f"{sandbox.url}/oauth/authorize?")
    assert "Log in to Clever (simulated)" in picker.text
    assert flow.client.get("/dashboard").status_code == 302  # signed out of the app too
    page = flow.go_form(picker, "Log in as Ana")
    if page.url.endswith("/account/link"):
        page = flow.go_form(page, "No, I'm new")
    assert 'data-testid="identity-name">Ana Núñez<' in page.text


def test_switch_person_is_offered_on_the_demo_and_logged_out_pages(flow, client):
    for path in ("/demo", "/logged-out"):
        body = client.get(path).get_data(as_text=True)
        assert re.search(r'<form method="post" action="/demo/switch"[^>]*>\s*<button', body), path
    picker = flow.go_form(flow.go("/logged-out"), "Switch person")
    assert "Log in to Clever (simulated)" in picker.text


def test_the_demo_shows_the_seeded_local_account_only_when_it_exists(app, client):
    from clever.demo import DEMO_LOCAL_EMAIL, DEMO_LOCAL_PASSWORD
    from clever.local_accounts import ensure_local_account

    assert DEMO_LOCAL_EMAIL not in client.get("/demo").get_data(as_text=True)
    with app.app_context():
        ensure_local_account(DEMO_LOCAL_EMAIL, DEMO_LOCAL_PASSWORD, "Ana", "Núñez")
    body = client.get("/demo").get_data(as_text=True)
    assert DEMO_LOCAL_EMAIL in body and DEMO_LOCAL_PASSWORD in body


def test_there_is_no_switch_against_the_real_clever(real_clever_client):
    assert real_clever_client.post("/demo/switch").status_code == 404
    body = real_clever_client.get("/logged-out").get_data(as_text=True)
    assert "Switch person" not in body and "/demo/switch" not in body
