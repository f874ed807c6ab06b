"""Drive a login like a browser does: the app through the Flask test client, the sandbox (our
Clever) over real HTTP with its own cookie jar, following redirects between the two."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from clever.config import DEMO_CLIENT_ID
from clever.embedded_redis import free_port

# One primary redirect URI for the whole run: the live server binds this port, and test-client
# logins use the same URI so the sandbox's byte-exact redirect_uri check holds for both.
APP_PORT = free_port()
APP_ORIGIN = f"http://127.0.0.1:{APP_PORT}"
PRIMARY_REDIRECT_URI = f"{APP_ORIGIN}/auth/clever/callback"


def base_letter(name: str) -> str:
    """First letter without accents, to check reading order independently of the app's
    collation: "Ångström" -> "a", "Đorđević" -> "d" (Đ and Ø have no decomposition)."""
    letter = unicodedata.normalize("NFD", name)[0].casefold()
    return {"đ": "d", "ø": "o", "ł": "l"}.get(letter, letter)


@dataclass
class Page:
    url: str
    status: int
    text: str
    headers: dict
    set_cookies: list[str] = field(default_factory=list)


class FormFinder(HTMLParser):
    """Collects each form's action, method, hidden/text inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.button: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "action": attrs.get("action", ""),
                    "method": attrs.get("method", "get").upper(),
                    "fields": {},
                    "buttons": [],
                }
            )
        elif not self.forms:
            return
        elif tag == "input" and attrs.get("name"):
            if attrs.get("type") in {"submit", "image"}:
                self.forms[-1]["buttons"].append({"text": attrs.get("value", ""), **attrs})
            elif attrs.get("type") not in {"checkbox", "radio"} or "checked" in attrs:
                self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "button":
            self.button = {"text": "", **attrs}
            self.forms[-1]["buttons"].append(self.button)

    def handle_data(self, data):
        if self.button is not None:
            self.button["text"] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self.button = None


class CleverFlow:
    def __init__(self, client, sandbox, app_origin: str, redirect_uri: str) -> None:
        self.client = client
        self.sandbox = sandbox
        self.app_origin = app_origin
        self.redirect_uri = redirect_uri
        self.http = requests.Session()
        self.visited: list[Page] = []

    def is_app(self, url: str) -> bool:
        return url.startswith("/") or url.startswith(self.app_origin)

    def fetch(self, url: str, method: str = "GET", data: dict | None = None) -> Page:
        if self.is_app(url):
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            response = self.client.open(path, method=method, data=data)
            page = Page(
                url=url,
                status=response.status_code,
                text=response.get_data(as_text=True),
                headers=dict(response.headers),
                set_cookies=response.headers.getlist("Set-Cookie"),
            )
        else:
            response = self.http.request(method, url, data=data, allow_redirects=False, timeout=30)
            page = Page(
                url=url,
                status=response.status_code,
                text=response.text,
                headers=dict(response.headers),
                set_cookies=response.raw.headers.getlist("Set-Cookie")
                if response.raw is not None
                else [],
            )
        self.visited.append(page)
        return page

    def go(
        self, url: str, method: str = "GET", data: dict | None = None, max_hops: int = 15
    ) -> Page:
        """Follow redirects across app and sandbox; returns the last page."""
        page = self.fetch(url, method, data)
        hops = 0
        while page.status in (301, 302, 303, 307, 308) and hops < max_hops:
            location = page.headers["Location"]
            base = self.app_origin if self.is_app(page.url) else self.sandbox.url
            url = urljoin(base + "/", location) if not location.startswith("http") else location
            page = self.fetch(url)
            hops += 1
        return page

    def go_form(self, page: Page, button_text: str, fields: dict | None = None) -> Page:
        """Submit the form on ``page`` whose submit button mentions ``button_text``."""
        finder = FormFinder()
        finder.feed(page.text)
        for form in finder.forms:
            for button in form["buttons"]:
                if button_text.lower() in button["text"].strip().lower():
                    data = dict(form["fields"])
                    if button.get("name"):
                        data[button["name"]] = button.get("value", "")
                    data.update(fields or {})
                    base = page.url if page.url.startswith("http") else self.app_origin + page.url
                    action = urljoin(base, form["action"] or page.url)
                    if form["method"] == "GET":
                        return self.go(action + "?" + urlencode(data))
                    return self.go(action, method="POST", data=data)
        raise AssertionError(f"no form with a {button_text!r} button on {page.url}")

    def sign_in_to_clever(self, persona: str) -> None:
        """Give the sandbox browser a live Clever session for ``persona`` (like the picker)."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": DEMO_CLIENT_ID,
                "redirect_uri": self.redirect_uri,
                "login_hint": persona,
            }
        )
        response = self.http.get(
            f"{self.sandbox.url}/oauth/authorize?{query}", allow_redirects=False
        )
        assert response.status_code == 302, response.text[:300]

    def login_with_button(self, persona: str) -> Page:
        self.sign_in_to_clever(persona)
        return self.go("/auth/clever/login")

    def first_login(self, persona: str, school_name: str = "Lakeview Middle") -> Page:
        """An account's first login as a teacher goes through it once: "No, I'm new" to the
        link offer, then the school name a Library login is asked for (Clever shares none)."""
        page = self.login_with_button(persona)
        if page.url.endswith("/account/link"):
            page = self.go("/account/link", method="POST", data={"new-decline": "yes"})
        if page.url.endswith("/onboarding"):
            page = self.go("/onboarding", method="POST", data={"school_name": school_name})
        return page

    def portal_launch(self, persona: str) -> Page:
        self.sign_in_to_clever(persona)
        return self.go(f"{self.sandbox.url}/portal/launch")
