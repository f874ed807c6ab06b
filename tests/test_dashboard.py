"""The landing page, the dashboards and the class page, after real logins through the sandbox
(test client for the app, real HTTP for the sandbox)."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import pytest
from flows import base_letter
from sync_helpers import counted_statements

from clever import roster
from clever.sandbox import seed
from clever.views import dashboard as dashboard_view
from clever.views import sync as sync_views
from clever.views.dashboard import grade_label, sort_name, subject_label
from models import (
    District,
    Enrollment,
    School,
    Section,
    SectionTeacher,
    SyncRun,
    TeacherSectionPreference,
    User,
    db,
    utcnow,
)

STATIC = Path(__file__).resolve().parents[1] / "static"


# -- helpers ------------------------------------------------------------------------------------


def login(flow, persona: str):
    """Log in with our button; a new teacher answers the link offer with "No, I'm new"."""
    page = flow.login_with_button(persona)
    if page.url.endswith("/account/link"):
        page = flow.go_form(page, "No, I'm new")
    assert page.status == 200, page.text[:500]
    return page


def text_of(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    return re.sub(r" ([,.:])", r"\1", text)


def cards(page_html: str) -> dict[str, str]:
    """Class cards on a dashboard: class name -> the card's text."""
    found = {}
    for chunk in page_html.split('data-testid="class-card"')[1:]:
        card = chunk.split("</li>", 1)[0]
        name = re.search(r'<h3 class="class-name"><a href="[^"]+">([^<]*)</a>', card)
        assert name, card
        found[html.unescape(name.group(1))] = text_of("<" + card)
    return found


def class_link(page_html: str, name: str) -> str:
    found = re.search(
        r'<a href="(/classes/\d+)">' + re.escape(html.escape(name)) + "</a>", page_html
    )
    assert found, f"no link to {name!r}"
    return found.group(1)


def section_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(db.select(Section.id).filter_by(name=name))


# -- landing ------------------------------------------------------------------------------------


def test_landing_says_what_it_is_and_offers_clever_and_the_demo(client):
    page = client.get("/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Roster Room" in body and "imports your classes" in body
    assert 'href="/auth/clever/login"' in body and "Log in with Clever" in body
    assert 'href="/demo"' in body and "Try the free demo" in body
    assert 'href="/login"' in body


def test_the_clever_button_is_drawn_by_us(client):
    body = client.get("/login").get_data(as_text=True)
    button = re.search(r'<a class="[^"]*clever-button[^"]*".*?</a>', body, re.S).group(0)
    assert "<svg" in button and 'aria-hidden="true"' in button
    assert "<img" not in button and "http" not in button.replace('xmlns="http', "")
    assert text_of(button) == "Log in with Clever"
    css = (STATIC / "app.css").read_text()
    assert re.search(r"--clever:\s*#1464ff", css, re.I)


@pytest.mark.parametrize("path", ["/", "/login", "/demo", "/logged-out", "/no-such-page"])
def test_public_pages_load_nothing_from_third_parties(client, path):
    body = client.get(path).get_data(as_text=True)
    external = re.findall(r'(?:src|href|action)="(https?://[^"]+)"', body)
    # The demo page links to the sandbox (our own Clever stand-in); nothing is *loaded* from
    # anywhere else: no <script>, <link> or <img> with an absolute URL.
    loaded = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:)?//', body)
    assert not loaded, loaded
    assert all(url.startswith(("http://127.0.0.1", "http://localhost")) for url in external)


def test_the_stylesheet_and_images_are_self_contained():
    for path in STATIC.iterdir():
        if path.suffix in {".css", ".svg", ".js"}:
            text = path.read_text()
            assert "@import" not in text and "url(http" not in text and "//fonts." not in text
            assert not re.search(r"""(?:href|src)=["']https?://""", text), path.name


def test_landing_sends_logged_in_people_to_their_dashboard(flow):
    login(flow, "mateo")
    response = flow.client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"


def test_the_dashboard_needs_a_login(client):
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/classes/1").headers["Location"] == "/login"


# -- teacher dashboard --------------------------------------------------------------------------


def test_teacher_dashboard_shows_every_class_as_a_card(flow):
    page = login(flow, "ana")
    assert page.url.endswith("/dashboard")
    found = cards(page.text)
    assert len(found) == 13
    big = found["Grade 4 Math - Núñez - 2"]
    assert "Math" in big and "Grade 4" in big and "Period 2" in big
    assert "135 students" in big
    assert "Co-teacher: Devon O'Hara" in big
    assert "No co-teachers" in found["Homeroom 4B"]
    # Clever's values read like a person wrote them.
    assert "English/language arts" in found["Grade 4 English Language Arts - Núñez - 1"]
    # Ana co-teaches exactly one class (Devon is its primary teacher).
    co_taught = [name for name, text in found.items() if "You co-teach this class" in text]
    assert len(co_taught) == 1
    # The issue changed the wording: "Primary: …", not "Co-teacher: … (primary)".
    assert "Primary: Devon O'Hara" in found[co_taught[0]]
    assert "(primary)" not in found[co_taught[0]]


def test_teacher_dashboard_has_the_sync_panel_and_class_selection(flow):
    body = login(flow, "ana").text
    assert "Rosters are imported automatically from Clever" in body
    assert re.search(r"Last synced:\s*<time datetime=", body)
    assert 'action="/sync"' in body and "Sync now" in body
    assert body.count('name="section_ids"') == 13
    assert 'identity-name">Ana Núñez<' in body


def test_a_co_teacher_sees_the_primary_teacher(flow):
    found = cards(login(flow, "devon").text)
    big = found["Grade 4 Math - Núñez - 2"]
    assert "You co-teach this class" in big and "Primary: Ana Núñez" in big


def test_hidden_classes_are_counted_and_all_hidden_is_explained(flow, app):
    login(flow, "ana")
    keep = section_id(app, "Homeroom 4B")
    flow.client.post("/classes/selection", data={"section_ids": [str(keep)]})
    body = flow.client.get("/dashboard").get_data(as_text=True)
    assert list(cards(body)) == ["Homeroom 4B"]
    assert "12 more classes are hidden" in text_of(body)

    flow.client.post("/classes/selection", data={})
    body = flow.client.get("/dashboard").get_data(as_text=True)
    assert cards(body) == {}
    assert "All your classes are hidden" in body
    assert "You teach 13 classes in Clever" in text_of(body)
    assert 'data-testid="class-selection"' in body  # the way back is right there


def test_a_teacher_with_no_classes_is_told_what_to_do(flow):
    body = login(flow, "zoe").text
    assert cards(body) == {}
    empty = text_of(body.split('data-testid="empty-state"', 1)[1].split("</div>", 1)[0])
    assert "No classes yet" in empty
    assert "student information system" in empty and "Sync now" in empty
    assert "Sync now" in body and 'action="/sync"' in body
    assert 'data-testid="class-selection"' not in body  # nothing to choose from


def test_a_teacher_who_is_also_staff_gets_the_teacher_view(flow):
    body = login(flow, "devon").text
    assert "Teacher dashboard" in body
    assert "Your classes" in body and 'action="/sync"' in body


def test_a_district_admin_without_classes_is_told_what_the_app_does(flow):
    # Issue 14: no link offer, then an empty "No classes yet"; a page for them instead.
    page = flow.login_with_button("priya")
    assert page.url.endswith("/dashboard") and page.status == 200
    body = text_of(page.text)
    assert 'data-testid="admin-page"' in page.text and "District admin" in body
    assert "How teachers get their classes" in body and "No classes yet" not in body


# -- class page ---------------------------------------------------------------------------------


def test_class_page_lists_teachers_and_the_roster_by_last_name(flow, app):
    page = login(flow, "ana")
    body = flow.client.get(class_link(page.text, "Grade 4 Math - Núñez - 2")).get_data(as_text=True)
    assert "<h1" in body and "Grade 4 Math - Núñez - 2" in body
    teachers = text_of(body.split('data-testid="teachers"', 1)[1].split("</section>", 1)[0])
    assert teachers.index("Ana Núñez") < teachers.index("Devon O'Hara")
    assert "Ana Núñez Primary You" in teachers
    assert "Devon O'Hara Co-teacher" in teachers
    rows = re.findall(r'<td class="person-name">([^<]*)</td><td class="grade">([^<]*)</td>', body)
    assert len(rows) == 135
    # Reading order (UCA), not code points: "Ångström" among the A's. Compare base letters.
    initials = [base_letter(html.unescape(name)) for name, _ in rows]
    assert initials == sorted(initials)
    assert {grade for _, grade in rows} == {"Grade 4"}
    assert "135 students" in text_of(body)
    # Section details Clever shares.
    assert "Section 4M-02" in body and "Period 2" in body


def test_class_page_is_404_for_anyone_who_may_not_see_it(flow, app, sandbox):
    login(flow, "mateo")  # imports Mateo's classes, Music - Mensah - 3 among them
    music = section_id(app, "Music - Mensah - 3")
    assert flow.client.get(f"/classes/{music}").status_code == 200
    flow.client.post("/logout")
    login(flow, "ana")  # Ana does not teach Music
    assert flow.client.get(f"/classes/{music}").status_code == 404
    assert flow.client.get("/classes/999999").status_code == 404
    mine = section_id(app, "Homeroom 4B")
    assert flow.client.get(f"/classes/{mine}").status_code == 200
    with app.app_context():
        db.session.get(Section, mine).archived_at = utcnow()
        db.session.commit()
    assert flow.client.get(f"/classes/{mine}").status_code == 404


def test_a_teacher_removed_from_a_class_loses_its_page(flow, app):
    login(flow, "ana")
    homeroom = section_id(app, "Homeroom 4B")
    with app.app_context():
        link = db.session.scalar(db.select(SectionTeacher).filter_by(section_id=homeroom))
        link.archived_at = utcnow()
        db.session.commit()
    assert flow.client.get(f"/classes/{homeroom}").status_code == 404


def test_a_hidden_class_page_says_so(flow, app):
    login(flow, "ana")
    keep = section_id(app, "Homeroom 4B")
    flow.client.post("/classes/selection", data={"section_ids": [str(keep)]})
    art = section_id(app, "Art & Música - Núñez - 6")
    body = flow.client.get(f"/classes/{art}").get_data(as_text=True)
    assert "This class is hidden from your dashboard" in body


# -- student dashboard --------------------------------------------------------------------------


def test_student_dashboard_lists_classes_and_their_teachers(flow):
    page = login(flow, "mateo")
    assert page.url.endswith("/dashboard")  # no link offer for students
    found = cards(page.text)
    assert len(found) == 4
    assert "Primary: Ana Núñez Co-teacher: Devon O'Hara" in found["Grade 4 Math - Núñez - 2"]
    assert "Teacher: Kwame Mensah" in found["Music - Mensah - 3"]
    assert all("students" not in text for text in found.values())  # no classmate counts
    assert "Student dashboard" in page.text


def test_a_student_class_page_shows_teachers_never_classmates(flow):
    page = login(flow, "mateo")
    body = flow.client.get(class_link(page.text, "Grade 4 Math - Núñez - 2")).get_data(as_text=True)
    assert 'data-testid="teachers"' in body and 'data-testid="primary-teacher">Primary<' in body
    assert 'data-testid="roster"' not in body and "<table" not in body


def test_a_student_with_no_classes_is_told_what_happens(flow, sandbox):
    for section in seed.section_ids_for(seed.MATEO_ID):
        sandbox.mutate("remove_student", section_id=section, user_id=seed.MATEO_ID)
    body = login(flow, "mateo").text
    assert cards(body) == {}
    empty = text_of(body.split('data-testid="empty-state"', 1)[1].split("</div>", 1)[0])
    assert "No classes yet" in empty and "next time you log in" in empty


def test_very_long_utf8_names_are_shown_whole_and_wrap(flow):
    body = login(flow, "siobhan").text
    name = seed.PERSONAS["siobhan"].name
    assert f'data-testid="identity-name">{html.escape(name)}<' in body
    css = (STATIC / "app.css").read_text()
    assert re.search(r"\.identity-name\s*\{[^}]*overflow-wrap:\s*anywhere", css)
    assert re.search(r"\.person\s*\{[^}]*overflow-wrap:\s*anywhere", css)


# -- how Clever's values read -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "label"),
    [
        ("4", "Grade 4"),
        ("04", "Grade 4"),
        ("Kindergarten", "Kindergarten"),
        ("PreKindergarten", "Pre-K"),
        ("Ungraded", "Ungraded"),
        ("", ""),
        (None, ""),
    ],
)
def test_grade_label(grade, label):
    assert grade_label(grade) == label


def test_subject_and_sort_labels():
    assert subject_label("english/language arts") == "English/language arts"
    assert subject_label(None) == ""
    assert sort_name(User(first_name="Ana", last_name="Núñez")) == "Núñez, Ana"
    assert sort_name(User(first_name="Cher", last_name="")) == "Cher"
    # Library tokens give students a last initial only.
    assert sort_name(User(first_name="Zainab", last_name="A")) == "Zainab A."
    assert sort_name(User(first_name="Zainab", last_name="A.")) == "Zainab A."


def test_library_rosters_read_first_name_and_last_initial(flow):
    page = login(flow, "library")
    if page.url.endswith("/onboarding"):  # Library logins share no school: she names hers
        page = flow.go_form(page, "Continue", {"school_name": "Birch Middle School"})
    found = cards(page.text)
    name = "7th Grade Life Science - Kobayashi - 1"
    body = flow.client.get(class_link(page.text, name)).get_data(as_text=True)
    rows = re.findall(r'<td class="person-name">([^<]*)</td>', body)
    assert len(rows) == 20 and "Teacher" not in found[name]  # Hana is its only teacher
    assert all(re.fullmatch(r"\S.* \w\.", html.unescape(row)) for row in rows), rows
    assert not any(", " in row for row in rows)
    teachers = text_of(body.split('data-testid="teachers"', 1)[1].split("</section>", 1)[0])
    assert "Hana Kobayashi" in teachers  # teachers keep their full names


def test_students_see_classes_and_teachers_but_no_sync_panel(flow):
    body = login(flow, "mateo").text
    assert len(cards(body)) == 4
    assert "data-sync-panel" not in body and "Sync now" not in body and "Sync history" not in body


def test_times_are_utc_to_the_second_and_shown_locally_by_a_script():
    from datetime import datetime

    from clever.views.sync import iso_time, sync_time

    moment = datetime(2026, 12, 3, 14, 5, 9, 123456)  # naive, as SQLite returns it: UTC
    assert iso_time(moment) == "2026-12-03T14:05:09Z"
    assert sync_time(moment) == "3 Dec 2026, 14:05 UTC"  # the no-JavaScript fallback
    script = (STATIC / "localtime.js").read_text()
    assert "time[datetime$='Z']" in script and "Intl.DateTimeFormat" in script


# -- a roster that scales: sort, filter, CSV -----------------------------------------------------


def test_the_roster_sorts_by_grade_with_a_plain_link(flow, app, sandbox):
    page = login(flow, "ana")
    link = class_link(page.text, "Grade 4 Math - Núñez - 2")
    with app.app_context():
        section = db.session.get(Section, int(link.rsplit("/", 1)[1]))
        students = [e.student for e in section.enrollments][:3]
        for student, grade in zip(students, ["Kindergarten", "12", "PreKindergarten"]):
            student.grade = grade
        db.session.commit()
        moved = [student.last_name for student in students]
    by_name = flow.client.get(link).get_data(as_text=True)
    assert f'href="{link}?sort=grade">grade</a>' in by_name
    assert 'aria-current="true">name</a>' in by_name
    body = flow.client.get(link + "?sort=grade").get_data(as_text=True)
    assert 'aria-current="true">grade</a>' in body
    rows = re.findall(r'<td class="person-name">([^<]*)</td><td class="grade">([^<]*)</td>', body)
    grades = [grade for _, grade in rows]
    assert grades[:2] == ["Pre-K", "Kindergarten"] and grades[-1] == "Grade 12"
    assert html.unescape(rows[0][0]).startswith(moved[2] + ", ")
    # Within a grade, still by name.
    fourth = [base_letter(html.unescape(name)) for name, grade in rows if grade == "Grade 4"]
    assert len(fourth) == 132 and fourth == sorted(fourth)
    # The filter box is for JavaScript only: hidden in the plain page.
    assert re.search(r'<p class="roster-filter" data-roster-filter hidden>', body)


def test_a_teacher_downloads_the_roster_as_csv(flow, app):
    page = login(flow, "ana")
    link = class_link(page.text, "Grade 4 Math - Núñez - 2")
    body = flow.client.get(link).get_data(as_text=True)
    assert f'href="{link}/roster.csv" download' in body
    response = flow.client.get(link + "/roster.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Grade-4-Math-Nunez-2-roster.csv"'
    )
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeffLast name,First name,Grade\r\n")
    lines = text.lstrip("\ufeff").splitlines()
    assert len(lines) == 136 and all(line.endswith(",Grade 4") for line in lines[1:])
    names = [line.split(",")[0] for line in lines[1:]]
    roster_rows = re.findall(r'<td class="person-name">([^<,]*),', body)
    assert names == [html.unescape(name) for name in roster_rows]  # the page's order


def test_the_csv_is_404_for_anyone_who_may_not_see_the_roster(flow, app):
    page = login(flow, "mateo")
    music = section_id(app, "Music - Mensah - 3")
    assert flow.client.get(f"/classes/{music}").status_code == 200
    assert flow.client.get(f"/classes/{music}/roster.csv").status_code == 404  # a student
    assert "roster.csv" not in page.text
    flow.client.post("/logout")
    login(flow, "ana")  # Ana does not teach Music
    assert flow.client.get(f"/classes/{music}/roster.csv").status_code == 404
    assert flow.client.get("/classes/999999/roster.csv").status_code == 404
    flow.client.post("/logout")
    assert flow.client.get(f"/classes/{music}/roster.csv").headers["Location"] == "/login"


def test_csv_cells_cannot_run_as_formulas(flow, app):
    from clever.roster_csv import safe_cell

    for dangerous in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"):
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("O'Hara") == "O'Hara" and safe_cell(None) == ""
    page = login(flow, "ana")
    link = class_link(page.text, "Homeroom 4B")
    with app.app_context():
        section = db.session.get(Section, int(link.rsplit("/", 1)[1]))
        section.enrollments[0].student.last_name = '=HYPERLINK("http://x.example","Ñ")'
        db.session.commit()
    text = flow.client.get(link + "/roster.csv").get_data(as_text=True)
    assert '"\'=HYPERLINK(""http://x.example"",""Ñ"")"' in text


# -- a page costs the same few queries whatever the number of classes ---------------------------

# SQL statements per page, whatever the number of classes: the user (school and district
# joined), the viewer's classes (with selection, kept shrinks, schools, each class's student
# count and teachers, and a teacher's distinct students of the shown classes) and the latest
# runs; a class page also reads the class's teachers, and a teacher's its roster.
PAGE_QUERIES = {
    "teacher dashboard": 3,
    "teacher class page": 5,
    "student dashboard": 3,
    "student class page": 4,
}


def make_classes(app, count: int) -> tuple[int, int, int]:
    """A teacher of ``count`` classes (a co-teacher in each, three students each, one class
    held by the guard and one kept as it was) and a student enrolled in all of them, with a
    school, a district and an ok sync each, straight in the database. (teacher, student, a
    class id)."""
    tag = f"q{count}"
    with app.app_context():
        district = District(clever_id=f"{tag}-district", name="Query District")
        school = School(clever_id=f"{tag}-school", name="Query School", district=district)
        people = {"district": district, "school": school, "authorized_by": "district"}
        teacher = User(
            clever_id=f"{tag}-t", first_name="Tess", last_name="Teach", role="teacher",
            clever_roles="teacher", email=f"{tag}@example.org", **people,
        )  # fmt: skip
        co_teacher = User(clever_id=f"{tag}-c", first_name="Cole", last_name="Co", **people)
        student = User(
            clever_id=f"{tag}-s", first_name="Sam", last_name="Stu", role="student", **people
        )
        classmates = [
            User(clever_id=f"{tag}-s{n}", first_name="Kid", last_name=f"K{n}", role="student")
            for n in range(2)
        ]
        sections = [
            Section(clever_id=f"{tag}-{n}", name=f"Class {n:02}", subject="math", grade="4",
                    period=str(n), school=school)
            for n in range(count)
        ]  # fmt: skip
        db.session.add_all([teacher, co_teacher, student, *classmates, *sections])
        db.session.flush()
        for section in sections:
            db.session.add_all(
                [
                    SectionTeacher(section_id=section.id, teacher_id=teacher.id, is_primary=True),
                    SectionTeacher(section_id=section.id, teacher_id=co_teacher.id),
                    *(
                        Enrollment(section_id=section.id, student_id=kid.id)
                        for kid in (student, *classmates)
                    ),
                ]
            )
        kept = sections[-1]
        db.session.add(
            TeacherSectionPreference(
                teacher_id=teacher.id, section_id=kept.id, selected=True, kept_shrink="f"
            )
        )
        held = {"section_id": sections[0].id, "clever_id": sections[0].clever_id,
                "name": sections[0].name, "would_archive": 2, "active_students": 3}  # fmt: skip
        # The teacher's held run is still waiting; a later sync went through.
        db.session.add(
            SyncRun(user_id=teacher.id, trigger="login", status="held", finished_at=utcnow(),
                    held_changes=json.dumps({"sections": [held]}))
        )  # fmt: skip
        db.session.flush()
        for user in (teacher, student):
            db.session.add(
                SyncRun(user_id=user.id, trigger="login", status="ok", finished_at=utcnow())
            )
        db.session.commit()
        return teacher.id, student.id, sections[0].id


def signed_in_client(app, user_id: int):
    """A client whose session is ``user_id``'s, as a login leaves it."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["login_at"] = session["last_seen"] = time.time()
    return client


def statements_for(app, client, path: str) -> tuple[int, str]:
    client.get(path)  # warm: the first request of a process loads templates and the collator
    with counted_statements(app) as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(statements), response.get_data(as_text=True)


def test_dashboard_and_class_page_cost_the_same_few_queries_for_1_13_or_50_classes(app):
    found: dict[str, dict[int, int]] = {}
    for count in (1, 13, 50):
        teacher_id, student_id, first_class = make_classes(app, count)
        for who, user_id in (("teacher", teacher_id), ("student", student_id)):
            client = signed_in_client(app, user_id)
            queries, body = statements_for(app, client, "/dashboard")
            assert len(cards(body)) == count
            found.setdefault(f"{who} dashboard", {})[count] = queries
            queries, body = statements_for(app, client, f"/classes/{first_class}")
            assert "Class 00" in body
            found.setdefault(f"{who} class page", {})[count] = queries
        # The pieces of the page all came from the same reads.
        teacher = signed_in_client(app, teacher_id)
        page = teacher.get("/dashboard").get_data(as_text=True)
        body = text_of(page)
        assert "Query School" in body and "Last synced:" in body
        assert "Co-teacher: Cole Co" in body
        assert f"{count} {'class' if count == 1 else 'classes'} and 3 students imported" in body
        assert 'data-testid="held-notice"' in page and page.count('data-testid="class-held"') == 1
        assert page.count('data-testid="class-kept"') == (count > 1)
    assert found == {page: dict.fromkeys((1, 13, 50), n) for page, n in PAGE_QUERIES.items()}, found


def test_cards_name_each_class_s_active_teachers_only(app):
    """The cards' teachers come with the class list (one JSON list per class, as each database
    spells it): a co-teacher whose link was archived leaves that card only, and a class with
    no other teacher says so, for the teacher and for the student."""
    teacher_id, student_id, first_class = make_classes(app, 3)
    with app.app_context():
        link = db.session.scalar(
            db.select(SectionTeacher).where(
                SectionTeacher.section_id == first_class, SectionTeacher.teacher_id != teacher_id
            )
        )
        link.archived_at = utcnow()
        db.session.commit()
    teacher = cards(signed_in_client(app, teacher_id).get("/dashboard").get_data(as_text=True))
    assert "No co-teachers" in teacher["Class 00"] and "Cole" not in teacher["Class 00"]
    assert "Co-teacher: Cole Co" in teacher["Class 01"] and "Tess" not in teacher["Class 01"]
    student = cards(signed_in_client(app, student_id).get("/dashboard").get_data(as_text=True))
    assert "Teacher: Tess Teach" in student["Class 00"] and "Cole" not in student["Class 00"]
    assert "Primary: Tess Teach Co-teacher: Cole Co" in student["Class 01"]


def test_a_card_kept_from_an_earlier_view_is_drawn_again_when_what_it_shows_changes(app):
    """Cards' markup is kept between page views (``class_card_markup``), keyed by everything a
    card shows: a renamed co-teacher, a student more and a renamed class show at once, a view
    under another URL prefix gets its own links, and unchanged cards are reused. The same for
    the class choice's checkboxes."""
    teacher_id, _, _ = make_classes(app, 4)  # Class 00 is held, Class 03 kept: 01, 02 plain
    client = signed_in_client(app, teacher_id)
    client.get("/dashboard")
    cached = dashboard_view._kept_card
    before = cached.cache_info().hits
    unchanged = cards(client.get("/dashboard").get_data(as_text=True))
    assert cached.cache_info().hits == before + 2  # Class 01 and 02 came back as they were
    with app.app_context():
        db.session.scalar(db.select(User).filter_by(first_name="Cole")).first_name = "Colette"
        section = db.session.scalar(db.select(Section).filter_by(name="Class 01"))
        section.name = "Class 01 renamed"
        kid = User(clever_id="cache-kid", first_name="New", last_name="Kid", role="student")
        db.session.add(kid)
        db.session.flush()
        db.session.add(Enrollment(section_id=section.id, student_id=kid.id))
        db.session.commit()
        class_id = section.id
    changed = cards(client.get("/dashboard").get_data(as_text=True))
    assert "Class 01" not in changed and "Cole Co" not in " ".join(changed.values())
    assert "Co-teacher: Colette Co" in changed["Class 02"]
    assert "3 students" in unchanged["Class 01"] and "4 students" in changed["Class 01 renamed"]
    choices = sync_views.class_choices_markup
    before = choices.cache_info().hits
    client.get("/dashboard")
    assert choices.cache_info().hits == before + 1  # the class choice came back as it was
    with app.app_context():
        db.session.add(
            TeacherSectionPreference(teacher_id=teacher_id, section_id=class_id, selected=False)
        )
        db.session.commit()
    boxes = re.findall(r'<input type="checkbox" name="section_ids" value="(\d+)"( checked)?',
                       client.get("/dashboard").get_data(as_text=True))  # fmt: skip
    assert (str(class_id), "") in boxes and len(boxes) == 4
    assert sum(1 for _, checked in boxes if checked) == 3
    prefixed = client.get("/dashboard", base_url="http://localhost/rr").get_data(as_text=True)
    assert prefixed.count('href="/rr/classes/') == 3 and 'href="/classes/' not in prefixed


def test_the_sync_panel_counts_each_active_student_of_the_shown_classes_once(app):
    """The panel's "N students imported": the selected classes' active students, a student in
    two classes counted once, an unselected class's, an archived enrollment's and another
    teacher's class's students not at all."""
    with app.app_context():
        district = District(clever_id="dist-district", name="Count District")
        school = School(clever_id="dist-school", name="Count School", district=district)
        teacher = User(
            clever_id="dist-t", first_name="Dee", last_name="T", role="teacher",
            email="dee@example.org", district=district, school=school,
        )  # fmt: skip
        other = User(clever_id="dist-o", first_name="Oz", last_name="T", role="teacher")
        kids = [
            User(clever_id=f"dist-k{n}", first_name="Kid", last_name=f"K{n}", role="student")
            for n in range(6)
        ]
        algebra, biology, chemistry, drama = (
            Section(clever_id=f"dist-{name}", name=name) for name in ("A", "B", "C", "D")
        )
        db.session.add_all([teacher, other, *kids, algebra, biology, chemistry, drama])
        db.session.flush()
        taught = [(algebra, teacher), (biology, teacher), (chemistry, teacher), (drama, other)]
        enrolled = [(algebra, 0), (algebra, 1), (biology, 1), (biology, 2), (chemistry, 3),
                    (drama, 4)]  # fmt: skip
        db.session.add_all(
            [SectionTeacher(section_id=s.id, teacher_id=t.id, is_primary=True) for s, t in taught]
            + [Enrollment(section_id=s.id, student_id=kids[k].id) for s, k in enrolled]
            + [
                Enrollment(section_id=algebra.id, student_id=kids[5].id, archived_at=utcnow()),
                TeacherSectionPreference(
                    teacher_id=teacher.id, section_id=chemistry.id, selected=False
                ),
                SyncRun(user_id=teacher.id, trigger="login", status="ok", finished_at=utcnow()),
            ]
        )
        db.session.commit()
        mine = roster.class_list(teacher)
        assert [s.name for s in mine.shown] == ["A", "B"]
        assert mine.students == {algebra.id: 2, biology.id: 2, chemistry.id: 1}
        assert mine.shown_students == 3  # kids 0, 1 (in both) and 2
    client = signed_in_client(app, teacher.id)
    body = text_of(client.get("/dashboard").get_data(as_text=True))
    assert "2 classes and 3 students imported" in body
    assert "Your classes (2)" in body
