"""axe-core on every page a person meets, in Chromium on a desktop and on a phone: zero serious
or critical violations. The pages are reached the way a person reaches them (real logins
through the sandbox), so each is scanned in the state people see."""

from __future__ import annotations

import re

import pytest

from .axe import axe_playwright, format_violations, serious_or_critical

pytestmark = pytest.mark.browser

DASHBOARD = re.compile(r"/dashboard$")


class Scanner:
    """Runs axe on the current page and collects every finding, so one test reports all."""

    def __init__(self, page) -> None:
        self.page = page
        self.scanned: list[str] = []
        self.problems: list[str] = []

    def scan(self, name: str) -> None:
        self.page.wait_for_load_state()
        bad = serious_or_critical(axe_playwright(self.page))
        self.scanned.append(name)
        if bad:
            self.problems.append(f"{name} ({self.page.url}):\n{format_violations(bad)}")

    def assert_clean(self, expected: list[str]) -> None:
        assert self.scanned == expected
        assert not self.problems, "\n\n".join(self.problems)


def pick(page, first_name: str) -> None:
    page.get_by_role("button", name=f"Log in as {first_name}", exact=True).click()


@pytest.mark.parametrize("device", [None, "iphone"], ids=["desktop", "iphone"])
def test_public_pages(new_context, sandbox, device):
    page = new_context(device).new_page()
    axe = Scanner(page)
    page.goto("/")
    axe.scan("landing")
    page.goto("/login")
    axe.scan("login")
    page.goto("/privacy")
    axe.scan("privacy")
    page.goto("/demo")
    axe.scan("demo")
    page.get_by_role("link", name="Pick a persona").click()
    page.get_by_role("heading", name=re.compile("Log in to Clever")).wait_for()
    axe.scan("sandbox persona picker")
    page.goto("/no-such-page")
    axe.scan("404 page")
    sandbox.add_fault(path="/oauth/tokens", status=500)
    page.goto("/auth/clever/login")
    pick(page, "Mateo")
    page.get_by_test_id("login-error").wait_for()
    axe.scan("login error page")
    axe.assert_clean(
        [
            "landing",
            "login",
            "privacy",
            "demo",
            "sandbox persona picker",
            "404 page",
            "login error page",
        ]
    )


@pytest.mark.parametrize("device", [None, "iphone"], ids=["desktop", "iphone"])
def test_teacher_pages(new_context, device):
    """A new teacher whom Clever gave no email: link offer, onboarding, dashboard, class page,
    logged-out page."""
    page = new_context(device).new_page()
    axe = Scanner(page)
    page.goto("/auth/clever/login")
    pick(page, "Renée")
    page.wait_for_url(re.compile(r"/account/link$"))
    axe.scan("link offer")
    page.get_by_role("button", name="No, I'm new here").click()
    page.wait_for_url(re.compile(r"/onboarding$"))
    axe.scan("onboarding")
    page.get_by_label("Your email address").fill("renee@cedar.example.org")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(DASHBOARD)
    axe.scan("teacher dashboard")
    page.get_by_test_id("class-card").first.get_by_role("link").click()
    page.get_by_test_id("roster").wait_for()
    axe.scan("class page (teacher)")
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(re.compile(r"/logged-out$"))
    axe.scan("logged-out page")
    axe.assert_clean(
        [
            "link offer",
            "onboarding",
            "teacher dashboard",
            "class page (teacher)",
            "logged-out page",
        ]
    )


def test_big_teacher_dashboard_and_empty_states(new_context, sandbox):
    """Ana's 13 classes and 135-student roster; Zoë's and a student's empty dashboards."""
    page = new_context().new_page()
    axe = Scanner(page)
    page.goto("/auth/clever/login")
    pick(page, "Ana")
    page.get_by_role("button", name="No, I'm new here").click()
    page.wait_for_url(DASHBOARD)
    axe.scan("teacher dashboard, 13 classes")
    page.get_by_test_id("class-card").filter(has_text="Grade 4 Math").get_by_role("link").click()
    page.get_by_test_id("roster").wait_for()
    axe.scan("class page, 135 students")

    zoe = new_context().new_page()
    axe.page = zoe
    zoe.goto("/auth/clever/login")
    pick(zoe, "Zoë")
    zoe.get_by_role("button", name="No, I'm new here").click()
    zoe.wait_for_url(DASHBOARD)
    axe.scan("teacher dashboard, no classes")
    axe.assert_clean(
        [
            "teacher dashboard, 13 classes",
            "class page, 135 students",
            "teacher dashboard, no classes",
        ]
    )


@pytest.mark.parametrize("device", [None, "pixel"], ids=["desktop", "pixel"])
def test_student_pages(new_context, sandbox, device):
    page = new_context(device).new_page()
    axe = Scanner(page)
    page.goto(f"{sandbox.url}/portal")
    axe.scan("sandbox picker from the Portal")
    pick(page, "Mateo")
    page.wait_for_url(f"{sandbox.url}/portal")
    page.get_by_role("link", name="Roster Room").click()
    page.wait_for_url(DASHBOARD)
    axe.scan("student dashboard")
    page.get_by_test_id("class-card").first.get_by_role("link").click()
    page.get_by_test_id("teachers").wait_for()
    axe.scan("class page (student)")
    axe.assert_clean(
        ["sandbox picker from the Portal", "student dashboard", "class page (student)"]
    )


def test_pages_added_for_a_teachers_day(new_context, sandbox):
    """Issue 14's pages: a district admin's page, a guardian's refusal, the sync history with
    its IT details open, and a roster sorted by grade and filtered."""
    page = new_context().new_page()
    axe = Scanner(page)
    page.goto("/auth/clever/login")
    pick(page, "Priya")
    page.get_by_test_id("admin-page").wait_for()
    axe.scan("district admin page")
    page.goto("/sync/history")
    page.get_by_text("Details for your school's IT").click()
    axe.scan("sync history, IT details open")

    guardian = new_context().new_page()
    axe.page = guardian
    guardian.goto(f"{sandbox.url}/portal")
    pick(guardian, "Rosa")
    guardian.wait_for_url(f"{sandbox.url}/portal")
    guardian.get_by_role("link", name="Roster Room").click()
    guardian.get_by_test_id("login-error").wait_for()
    axe.scan("guardian refusal")

    teacher = new_context("iphone").new_page()
    axe.page = teacher
    teacher.goto("/auth/clever/login")
    pick(teacher, "Ana")
    teacher.get_by_role("button", name="No, I'm new here").click()
    teacher.wait_for_url(DASHBOARD)
    link = teacher.get_by_test_id("class-card").filter(has_text="Grade 4 Math").get_by_role("link")
    teacher.goto(link.get_attribute("href") + "?sort=grade")
    teacher.get_by_label("Find a student").fill("a")
    axe.scan("class page sorted by grade and filtered (iPhone)")
    axe.assert_clean(
        [
            "district admin page",
            "sync history, IT details open",
            "guardian refusal",
            "class page sorted by grade and filtered (iPhone)",
        ]
    )
