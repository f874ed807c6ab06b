"""Deterministic seed data for the Clever sandbox: two districts, three schools, personas, rosters.

Maple Grove USD has connected the app at district level (its logins are District SSO and its
rosters are read with its district-app token). Lakeview Public Schools has not: its one teacher
here, Hana Kobayashi, installed the app from the Clever Library, so she and her students log in
as Library users until a test or the demo connects Lakeview (`connect_district`).

Everything here is built from fixed lists and counters, so every run (and every test) sees the
same ids and names. Records are stored in the full "district-shared" Clever v3.0 shape; the API
layer derives the reduced Library shapes from them. Ids follow docs fixtures.md where it names
one (district, schools, Ana, Devon, Priya, the first students and sections).
"""

from __future__ import annotations

import copy
import itertools
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

PREFIX = "64a1f0c2b7e4d10001"  # shared by every id; the 6 hex digits after it make the id unique

DISTRICT_ID = PREFIX + "a1d001"
CEDAR_ID = PREFIX + "a15c01"
BIRCH_ID = PREFIX + "a15c02"
SCHOOL_IDS = (CEDAR_ID, BIRCH_ID)
TERM_ID = PREFIX + "a7a001"
# The district of the Library teacher: not connected at district level until connect_district.
LIBRARY_DISTRICT_ID = PREFIX + "a1d002"
LAKEVIEW_SCHOOL_ID = PREFIX + "a15c03"
LAKEVIEW_TERM_ID = PREFIX + "a7a002"
# The first-morning district (see "first-morning cohort" below): not connected by default.
RIVERBEND_DISTRICT_ID = PREFIX + "a1d003"
RIVERBEND_SCHOOL_ID = PREFIX + "a15c04"
RIVERBEND_TERM_ID = PREFIX + "a7a003"
DISTRICT_IDS = (DISTRICT_ID, LIBRARY_DISTRICT_ID, RIVERBEND_DISTRICT_ID)
# District id -> whether it shares rosters (has a district-app token). Districts not listed have
# not connected the app at district level: their users reach it only through the Library.
DEFAULT_CONNECTIONS: dict[str, bool] = {DISTRICT_ID: True}

ANA_ID = PREFIX + "a7e001"
DEVON_ID = PREFIX + "a7e002"
ZOE_ID = PREFIX + "a7e003"
LIBRARY_TEACHER_ID = PREFIX + "a7e004"
NOEMAIL_TEACHER_ID = PREFIX + "a7e005"
MENSAH_ID = PREFIX + "a7e006"
SORENSEN_ID = PREFIX + "a7e007"
PRIYA_ID = PREFIX + "a0a001"
GUARDIAN_ID = PREFIX + "acc001"

MATEO_ID = PREFIX + "a5d001"
SIOBHAN_ID = PREFIX + "a5d004"

BIG_SECTION_ID = PREFIX + "a5ec01"  # "Grade 4 Math - Núñez - 2", 135 students

EMAIL_DOMAIN = "maplegrove.example.org"
STUDENT_EMAIL_DOMAIN = "students.maplegrove.example.org"
SCHOOL_YEAR = {"start_date": "2024-08-19T00:00:00.000Z", "end_date": "2025-06-13T00:00:00.000Z"}


@dataclass(frozen=True)
class Persona:
    """Someone you can sign in as on the sandbox's stand-in for Clever's login page."""

    key: str
    user_id: str
    name: str
    role: str  # the role the persona is about: teacher, student, district_admin, staff, contact
    exercises: str  # one line: which edge case logging in as this persona exercises
    authorized_by: str = "district"  # "teacher" for a Library (teacher-authorized) login
    roles: tuple[str, ...] = ()  # every Clever role the user holds

    @property
    def is_library(self) -> bool:
        return self.authorized_by == "teacher"


# ----------------------------------------------------------------------------- name lists

FIRST_NAMES = (
    "Aarav", "Beatriz", "Chloé", "Dmitri", "Émile", "Fatima", "Gülşen", "Héctor", "Isabela",
    "Jürgen", "Keanu", "Léonie", "Malik", "Nadia", "Ólafur", "Paulina", "Quang", "Rosalía",
    "Søren", "Tomás", "Úrsula", "Valentina", "Wiremu", "Xóchitl", "Yusuf", "Zainab", "Amélie",
    "Björn", "Caoimhe", "Darius", "Esperanza", "François", "Giulia", "Hiroshi", "Ingrid", "José",
    "Kalani", "Lucía", "Mei", "Noé", "Oisín", "Priyanka", "Renée", "Saoirse", "Thanh", "Uriel",
    "Verónica", "Wen", "Yara", "Zoë", "Amara", "Bilal", "Camila", "Dag",
)  # fmt: skip
LAST_NAMES = (
    "Abernathy", "Bañuelos", "Castañeda", "D'Angelo", "Eriksson", "Fernández", "García",
    "Hernández", "Ibáñez", "Jiménez", "Kowalczyk", "López", "Müller", "Nguyễn", "O'Connor",
    "Peña", "Quiñones", "Rodríguez", "Schäfer", "Tanaka", "Uribe", "Vásquez", "Williams", "Xu",
    "Yılmaz", "Zúñiga", "Ó Dónaill", "Björkström", "Çelik", "Đặng", "Ångström", "Mbeki",
    "Okafor", "Park", "Reyes", "Santos", "Thompson", "Umeh", "Varga", "Wójcik", "Kealoha",
)  # fmt: skip
GENDERS = ("F", "M", "X", "")
RACES = (
    "Two or More Races", "Asian", "Black or African American", "Caucasian", "American Indian",
    "Hawaiian or Other Pacific Islander", "Unknown", "",
)  # fmt: skip

SIOBHAN_NAME = {
    "first": "Siobhán María-José",
    "middle": "Ngọc Ánh",
    "last": "Ñúñez-Ötztürk de la Fuente y Castellanos-Ó Súilleabháin Bjørnstad-Nakamura "
    "Þórsdóttir-Węgrzyn Ōtsuka",
}


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters only: 'Núñez' -> 'nunez', "O'Hara" -> 'ohara'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def display_name(name: dict[str, Any]) -> str:
    return " ".join(part for part in (name.get("first"), name.get("last")) if part)


# ----------------------------------------------------------------------------- builders


def _stamp(day: int, second: int = 0) -> str:
    """A Clever-style UTC timestamp on a fixed date in 2023, spread by `second`."""
    minutes, seconds = divmod(second, 60)
    hours, minutes = divmod(minutes, 60)
    return f"2023-08-{day:02d}T{12 + hours % 10:02d}:{minutes:02d}:{seconds:02d}.000Z"


LAST_MODIFIED = "2024-08-28T07:15:44.120Z"


def _district() -> dict[str, Any]:
    return {
        "id": DISTRICT_ID,
        "name": "Maple Grove USD",
        "sis_type": "sftp",
        "launch_date": "2023-08-01",
        "portal_url": "https://clever.com/in/maplegrove",
        "login_methods": ["Clever Badges", "Google"],
        "last_sync": "2024-08-28T07:10:00.000Z",
        "state": "success",
        "error": "",
        "pause_start": None,
        "pause_end": None,
        "mdr_number": None,
        "nces_id": "2712340",
        "district_contact": {
            "id": PREFIX + "a1dc01",
            "district": DISTRICT_ID,
            "email": f"priya.raman@{EMAIL_DOMAIN}",
            "name": {"first": "Priya", "last": "Raman"},
            "title": "Director of Technology",
        },
    }


def _library_district() -> dict[str, Any]:
    return {
        "id": LIBRARY_DISTRICT_ID,
        "name": "Lakeview Public Schools",
        "sis_type": "clever_rostering",
        "launch_date": "2024-01-08",
        "portal_url": "https://clever.com/in/lakeview",
        "login_methods": ["Clever Badges"],
        "last_sync": "2024-08-28T06:00:00.000Z",
        "state": "success",
        "error": "",
        "pause_start": None,
        "pause_end": None,
        "mdr_number": None,
        "nces_id": "2718890",
        "district_contact": {
            "id": PREFIX + "a1dc02",
            "district": LIBRARY_DISTRICT_ID,
            "email": "tech@lakeview.example.org",
            "name": {"first": "Marcus", "last": "Lindqvist"},
            "title": "Technology Coordinator",
        },
    }


def _school(
    school_id: str,
    name: str,
    number: str,
    low: str,
    high: str,
    street: str,
    district: str = DISTRICT_ID,
) -> dict[str, Any]:
    return {
        "id": school_id,
        "district": district,
        "name": name,
        "created": "2021-03-02T10:05:00.000Z",
        "last_modified": "2024-07-01T00:00:00.000Z",
        "sis_id": f"SCH-{number}",
        "school_number": number,
        "state_id": f"MN-0717-{number}",
        "nces_id": f"271234005{number}",
        "mdr_number": None,
        "low_grade": low,
        "high_grade": high,
        "phone": f"(763) 555-0{number}",
        "principal": {"name": "Grace Okafor", "email": f"grace.okafor@{EMAIL_DOMAIN}"},
        "location": {
            "address": street,
            "city": "Maple Grove",
            "state": "MN",
            "zip": "55369",
            "lat": "45.0725",
            "lon": "-93.4558",
        },
        "ext": {},
    }


def _staff_user(
    user_id: str,
    name: dict[str, Any],
    email: str | None,
    roles: dict[str, Any],
    created: str,
    district: str = DISTRICT_ID,
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "district": district}
    if email:
        user["email"] = email
    user.update(name=name, created=created, last_modified="2024-08-20T09:41:05.002Z", roles=roles)
    return user


def _teacher_role(
    school: str, number: int, title: str, username: str, schools: list[str] | None = None
) -> dict[str, Any]:
    return {
        "school": school,
        "schools": schools or [school],
        "sis_id": f"T-{number}",
        "teacher_number": str(number),
        "state_id": f"ST-{number % 100000:05d}",
        "title": title,
        "credentials": {"district_username": username},
        "legacy_id": f"5f0e1d2c3b4a59687766{number % 10000:04x}",
        "ext": {},
    }


def _teachers_and_staff() -> list[dict[str, Any]]:
    def email(first: str, last: str) -> str:
        return f"{ascii_slug(first)}.{ascii_slug(last)}@{EMAIL_DOMAIN}"

    users = [
        _staff_user(
            ANA_ID,
            {"first": "Ana", "middle": "Lucía", "last": "Núñez"},
            email("Ana", "Núñez"),
            {"teacher": _teacher_role(CEDAR_ID, 100234, "4th Grade Teacher", "anunez")},
            "2023-07-14T16:02:11.518Z",
        ),
        _staff_user(
            DEVON_ID,
            {"first": "Devon", "last": "O'Hara"},
            email("Devon", "O'Hara"),
            {
                "teacher": _teacher_role(CEDAR_ID, 100877, "Math Specialist", "dohara"),
                "staff": {
                    "schools": [CEDAR_ID, BIRCH_ID],
                    "staff_id": "E-3321",
                    "title": "Instructional Technology Coach",
                    "department": "Curriculum",
                    "roles": ["SchoolTechLead"],
                    "credentials": {"district_username": "dohara"},
                    "legacy_id": "5f0e1d2c3b4a596877665546",
                    "ext": {},
                },
            },
            "2022-05-15T22:20:03.535Z",
        ),
        _staff_user(
            ZOE_ID,
            {"first": "Zoë", "last": "Brontë"},
            email("Zoe", "Bronte"),
            {"teacher": _teacher_role(BIRCH_ID, 100912, "Long-term Substitute", "zbronte")},
            "2024-08-01T08:00:00.000Z",
        ),
        _staff_user(
            LIBRARY_TEACHER_ID,
            {"first": "Hana", "last": "Kobayashi"},
            "hana.kobayashi@teachers.example.net",
            {
                "teacher": _teacher_role(
                    LAKEVIEW_SCHOOL_ID, 101450, "Life Science Teacher", "hkobayashi"
                )
            },
            "2023-06-01T09:30:00.000Z",
            district=LIBRARY_DISTRICT_ID,
        ),
        _staff_user(
            NOEMAIL_TEACHER_ID,
            {"first": "Renée", "last": "Dubois-Laurent"},
            None,
            {"teacher": _teacher_role(CEDAR_ID, 100455, "5th Grade Teacher", "rduboislaurent")},
            "2021-08-20T14:00:00.000Z",
        ),
        _staff_user(
            MENSAH_ID,
            {"first": "Kwame", "last": "Mensah"},
            email("Kwame", "Mensah"),
            {"teacher": _teacher_role(CEDAR_ID, 100610, "Music Teacher", "kmensah")},
            "2020-09-01T10:00:00.000Z",
        ),
        _staff_user(
            SORENSEN_ID,
            {"first": "Ingrid", "last": "Sørensen"},
            email("Ingrid", "Sorensen"),
            {"teacher": _teacher_role(CEDAR_ID, 100733, "Library Media Specialist", "isorensen")},
            "2019-01-07T10:00:00.000Z",
        ),
        _staff_user(
            PRIYA_ID,
            {"first": "Priya", "last": "Raman"},
            email("Priya", "Raman"),
            {
                "district_admin": {
                    "title": "Director of Technology",
                    "legacy_id": "5f0e1d2c3b4a596877660001",
                }
            },
            "2021-03-02T10:00:00.000Z",
        ),
        _staff_user(
            GUARDIAN_ID,
            {"first": "Rosa", "last": "Ramírez"},
            "rosa.ramirez@example.net",
            {
                "contact": {
                    "phone": "(763) 555-0199",
                    "phone_type": "Cell",
                    "sis_id": "C-9001",
                    "student_relationships": [
                        {"student": MATEO_ID, "type": "Parent/Guardian", "relationship": "Parent"}
                    ],
                    "legacy_id": "5f0e1d2c3b4a5968776c0001",
                }
            },
            "2023-08-01T12:30:00.000Z",
        ),
    ]
    return users


def _student(
    number: int,
    name: dict[str, Any],
    *,
    school: str,
    grade: int,
    email: bool,
    student_number: bool = True,
    district: str = DISTRICT_ID,
) -> dict[str, Any]:
    user_id = f"{PREFIX}a5d{number:03x}"
    sis = 500870 + number
    user: dict[str, Any] = {"id": user_id, "district": district}
    if email:
        user["email"] = f"{ascii_slug(name['first'])}.{ascii_slug(name['last'])}{number}@" + (
            STUDENT_EMAIL_DOMAIN
        )
    user.update(
        name=name,
        created=_stamp(1, number),
        last_modified=LAST_MODIFIED,
        roles={
            "student": {
                "school": school,
                "schools": [school],
                "sis_id": f"S-{sis}",
                "student_number": str(sis) if student_number else None,
                "state_id": f"99{12345000 + number}",
                "grade": str(grade),
                "graduation_year": str(2037 - grade),
                "dob": f"{number % 12 + 1}/{number % 28 + 1}/{2019 - grade}",
                "gender": GENDERS[number % len(GENDERS)],
                "race": RACES[number % len(RACES)],
                "hispanic_ethnicity": ("Y", "N", "")[number % 3],
                "ell_status": ("N", "Y", "")[number % 3],
                "enrollments": [{"school": school, **SCHOOL_YEAR}],
                "location": {
                    "address": f"{10 + number} Elm St",
                    "city": "Maple Grove",
                    "state": "MN",
                    "zip": "55369",
                    "lat": None,
                    "lon": None,
                },
                "credentials": {
                    "district_username": f"{ascii_slug(name['first'])[:1]}"
                    f"{ascii_slug(name['last'])[:10]}{number}"
                },
                "legacy_id": user_id,  # student ids did not change in v3
                "ext": {},
            }
        },
    )
    return user


def _generated_name(index: int) -> dict[str, Any]:
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index * 7 + index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    name: dict[str, Any] = {"first": first, "last": last}
    if index % 5 == 0:
        name["middle"] = FIRST_NAMES[(index * 3 + 1) % len(FIRST_NAMES)][0]
    return name


def _students() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Every student, plus cohorts (lists of ids) that sections draw their rosters from."""
    students = [
        _student(
            1,
            {"first": "Mateo", "middle": "J", "last": "Ramírez"},
            school=CEDAR_ID,
            grade=4,
            email=False,
        ),
        _student(2, {"first": "Zoë", "last": "Chen"}, school=CEDAR_ID, grade=4, email=True),
        _student(
            3,
            {"first": "Oluwaseun", "last": "Adébáyọ̀"},
            school=CEDAR_ID,
            grade=4,
            email=False,
            student_number=False,
        ),
        _student(4, dict(SIOBHAN_NAME), school=CEDAR_ID, grade=4, email=False),
        _student(
            5, {"first": "Léa", "last": "Müller-Öztürk"}, school=BIRCH_ID, grade=7, email=True
        ),
    ]
    counter = itertools.count(6)
    cohorts: dict[str, list[str]] = {
        "grade4": [s["id"] for s in students[:4]],
        "grade5": [],
        "middle": [students[4]["id"]],
        "library": [],
    }

    def add(
        cohort: str, count: int, school: str, grades: tuple[int, ...], district: str = DISTRICT_ID
    ) -> None:
        for i in range(count):
            number = next(counter)
            if cohort == "library" and i == 0:
                name = {"first": "Amara", "last": "Okonkwo"}  # the library_student persona
            else:
                name = _generated_name(number)
            student = _student(
                number,
                name,
                school=school,
                grade=grades[i % len(grades)],
                email=number % 3 == 0,
                student_number=number % 11 != 0,
                district=district,
            )
            students.append(student)
            cohorts[cohort].append(student["id"])

    add("grade4", 136, CEDAR_ID, (4,))
    add("grade5", 20, CEDAR_ID, (5,))
    add("middle", 19, BIRCH_ID, (6, 7, 8))
    add("library", 60, LAKEVIEW_SCHOOL_ID, (7,), LIBRARY_DISTRICT_ID)
    return students, cohorts


# Course names in the order their ids were given (ids ac0001, ac0002, ...): the first five
# match the ids fixtures.md and older tests know.
COURSE_NAMES = (
    "Grade 4 Math", "Grade 4 Science", "Grade 4 ELA", "Grade 4 Social Studies",
    "Grade 5 Math Enrichment", "Homeroom", "Robotics", "Spanish 1", "Art and Music 4",
    "PE and Health 4", "Reading Intervention", "Coding Club", "Independent Study",
    "Math Intervention", "Music 4", "Library Skills", "Grade 5 Science", "Grade 5 ELA",
    "Life Science 7", "Science Olympiad",
)  # fmt: skip
LAKEVIEW_COURSES = frozenset({"Life Science 7", "Science Olympiad"})


def course_id(name: str) -> str:
    return f"{PREFIX}ac{COURSE_NAMES.index(name) + 1:04x}"


def _sections(cohorts: dict[str, list[str]]) -> list[dict[str, Any]]:
    g4, g5, ms, lib = cohorts["grade4"], cohorts["grade5"], cohorts["middle"], cohorts["library"]
    counter = itertools.count(1)
    sections: list[dict[str, Any]] = []

    def add(
        name: str,
        teachers: list[str],
        students: list[str],
        *,
        subject: str,
        grade: str,
        course: str,
        school: str = CEDAR_ID,
        period: str | None = None,
        number: str | None = None,
    ) -> None:
        # Every district section has a course and a term (SIS-rostered districts send both).
        district = LIBRARY_DISTRICT_ID if school == LAKEVIEW_SCHOOL_ID else DISTRICT_ID
        n = next(counter)
        sections.append(
            {
                "id": f"{PREFIX}a5ec{n:02x}",
                "district": district,
                "school": school,
                "created": _stamp(5, n),
                "last_modified": "2024-08-27T11:02:31.877Z",
                "name": name,
                "sis_id": f"SEC-{n:03d}",
                "section_number": number,
                "period": period,
                "subject": subject,
                "grade": grade,
                "course": course_id(course),
                "term_id": LAKEVIEW_TERM_ID if district == LIBRARY_DISTRICT_ID else TERM_ID,
                "teacher": teachers[0],
                "teachers": list(teachers),
                "students": list(students),
                "ext": {},
            }
        )

    # One call per section; kept hand-aligned so the roster reads like a table.
    # fmt: off
    ana_devon = [ANA_ID, DEVON_ID]
    add("Grade 4 Math - Núñez - 2", ana_devon, g4[:135], subject="math", grade="4",
        period="2", number="4M-02", course="Grade 4 Math")
    add("Homeroom 4B", [ANA_ID], [g4[0], g4[3], *g4[8:31]], subject="homeroom/advisory",
        grade="4", course="Homeroom")
    add("Robotics Club (Ñandú team)", [DEVON_ID, ANA_ID], ms[:12],
        subject="technology and engineering", grade="", school=BIRCH_ID, period="7", number="R1",
        course="Robotics")
    add("Grade 4 Science - Núñez - 3", ana_devon, g4[30:58], subject="science", grade="4",
        period="3", number="4S-03", course="Grade 4 Science")
    add("Grade 4 English Language Arts - Núñez - 1", [ANA_ID], g4[58:86],
        subject="english/language arts", grade="4", period="1", number="4E-01",
        course="Grade 4 ELA")
    add("Grade 4 Social Studies - Núñez - 4", [ANA_ID], g4[86:114], subject="social studies",
        grade="4", period="4", number="4H-04", course="Grade 4 Social Studies")
    add("Español para principiantes - Núñez - 5", [ANA_ID], g4[114:140], subject="language",
        grade="4", period="5", number="4L-05", course="Spanish 1")
    # Three teachers: Ana (primary) with the music teacher and the library media specialist.
    add("Art & Música - Núñez - 6", [ANA_ID, MENSAH_ID, SORENSEN_ID], g4[5:30:2],
        subject="arts and music", grade="4", period="6", course="Art and Music 4")
    add("PE and Health 4 - Núñez - 8", [ANA_ID], g4[40:70], subject="PE and health", grade="4",
        period="8", course="PE and Health 4")
    add("Reading Intervention - Núñez - 7", [ANA_ID], g4[100:108],
        subject="interventions/online learning", grade="Ungraded", period="7",
        course="Reading Intervention")
    add("Coding Café (after school)", [ANA_ID], [*g4[10:22], *g5[:6]],
        subject="technology and engineering", grade="Other", course="Coding Club")
    add("Grade 5 Math Enrichment - Núñez - 1", [ANA_ID], g5, subject="math", grade="5",
        period="1", number="5M-01", course="Grade 5 Math Enrichment")
    add("Independent Study: Environmental Science, Field Ecology & Community Stewardship "
        "— Año Escolar 2024–25 (Grüne Schule)", [ANA_ID], g4[1:3] + g4[4:8], subject="science",
        grade="4", number="IS-01", course="Independent Study")
    add("Math Intervention - O'Hara - 8", [DEVON_ID], g4[120:132],
        subject="interventions/online learning", grade="4", period="8",
        course="Math Intervention")
    add("Music - Mensah - 3", [MENSAH_ID], [g4[0], *g4[60:80]], subject="arts and music",
        grade="4", period="3", course="Music 4")
    add("Library Skills - Sørensen - 1", [SORENSEN_ID], [g4[0], *g4[90:100]], subject="other",
        grade="4", period="1", course="Library Skills")
    add("Grade 5 Science - Dubois-Laurent - 2", [NOEMAIL_TEACHER_ID], g5[:18], subject="science",
        grade="5", period="2", course="Grade 5 Science")
    add("Grade 5 ELA - Dubois-Laurent - 3", [NOEMAIL_TEACHER_ID], g5[2:20],
        subject="english/language arts", grade="5", period="3", course="Grade 5 ELA")
    add("7th Grade Life Science - Kobayashi - 1", [LIBRARY_TEACHER_ID], lib[:20],
        subject="science", grade="7", school=LAKEVIEW_SCHOOL_ID, period="1",
        course="Life Science 7")
    add("7th Grade Life Science - Kobayashi - 4", [LIBRARY_TEACHER_ID], lib[20:42],
        subject="science", grade="7", school=LAKEVIEW_SCHOOL_ID, period="4",
        course="Life Science 7")
    add("Science Olympiad Prep", [LIBRARY_TEACHER_ID], lib[42:60], subject="science", grade="",
        school=LAKEVIEW_SCHOOL_ID, course="Science Olympiad")
    # fmt: on
    return sections


def _courses() -> list[dict[str, Any]]:
    return [
        {
            "id": course_id(name),
            "district": LIBRARY_DISTRICT_ID if name in LAKEVIEW_COURSES else DISTRICT_ID,
            "name": name,
            "number": f"C-{n:03d}",
        }
        for n, name in enumerate(COURSE_NAMES, start=1)
    ]


def _terms() -> list[dict[str, Any]]:
    return [
        {"id": TERM_ID, "district": DISTRICT_ID, "name": "2024-25 Full Year", **SCHOOL_YEAR},
        {
            "id": LAKEVIEW_TERM_ID,
            "district": LIBRARY_DISTRICT_ID,
            "name": "2024–25 School Year",
            **SCHOOL_YEAR,
        },
    ]


# ----------------------------------------------------------------------------- first-morning cohort
# Generated data for the first morning of school (issue 12: tests/test_first_morning.py and
# tests/bench/bench_first_morning.py): 30 teachers at Riverbend High whose classes overlap
# (every class has a co-teacher; each student sits in about eight classes) and the 20 students
# who log in with them. Riverbend is a district of its own and is not connected by default, so
# nothing Maple Grove's or Lakeview's personas, rosters and counts show changes; the first-
# morning tests connect it (connect_district) and its logins become District SSO.

RIVERBEND_EMAIL_DOMAIN = "riverbend.example.org"
FIRST_MORNING_TEACHER_COUNT = 30
FIRST_MORNING_STUDENT_COUNT = 150  # the school's students; 20 of them log in
FIRST_MORNING_LOGIN_STUDENTS = 20
FIRST_MORNING_CLASS_SIZE = 28
FIRST_MORNING_FIRST_STUDENT = 0x401  # student numbers (ids ...a5d401 on) after Maple Grove's
RIVERBEND_COURSES = (
    ("Algebra I", "math"), ("Biology", "science"), ("English 9", "english/language arts"),
    ("World History", "social studies"), ("Español II", "language"), ("Geometry", "math"),
    ("Chemistry", "science"), ("Música Coral", "arts and music"),
    ("Computer Science Principles", "technology and engineering"), ("Français I", "language"),
    ("English 10", "english/language arts"), ("Physics", "science"),
    ("Health and Wellness", "PE and health"), ("Économie", "social studies"),
    ("Art Studio", "arts and music"),
)  # fmt: skip


def _riverbend_district() -> dict[str, Any]:
    district = _library_district()
    district.update(
        id=RIVERBEND_DISTRICT_ID,
        name="Riverbend Unified School District",
        sis_type="oneroster",
        launch_date="2024-08-01",
        portal_url="https://clever.com/in/riverbend",
        nces_id="2731770",
        district_contact={
            "id": PREFIX + "a1dc03",
            "district": RIVERBEND_DISTRICT_ID,
            "email": f"it@{RIVERBEND_EMAIL_DOMAIN}",
            "name": {"first": "Tomás", "last": "Eriksson"},
            "title": "IT Director",
        },
    )
    return district


def _riverbend_school() -> dict[str, Any]:
    school = _school(
        RIVERBEND_SCHOOL_ID, "Riverbend High School", "040", "9", "12", "1 River Rd",
        district=RIVERBEND_DISTRICT_ID,
    )  # fmt: skip
    school["location"].update(city="Riverbend", zip="55370")
    school["principal"] = {"name": "Nadia Okafor", "email": f"principal@{RIVERBEND_EMAIL_DOMAIN}"}
    return school


def riverbend_course_id(index: int) -> str:
    return f"{PREFIX}acf{index + 1:03x}"


def _riverbend_teachers() -> list[dict[str, Any]]:
    teachers = []
    for i in range(FIRST_MORNING_TEACHER_COUNT):
        name = _generated_name(300 + i)
        username = f"{ascii_slug(name['first'])[:1]}{ascii_slug(name['last'])[:10]}{i + 1}"
        teachers.append(
            _staff_user(
                f"{PREFIX}a7e{0x101 + i:03x}",
                name,
                f"{ascii_slug(name['first'])}.{ascii_slug(name['last'])}{i + 1}@"
                + RIVERBEND_EMAIL_DOMAIN,
                {"teacher": _teacher_role(RIVERBEND_SCHOOL_ID, 200100 + i, "Teacher", username)},
                "2024-08-05T08:00:00.000Z",
                district=RIVERBEND_DISTRICT_ID,
            )
        )
    return teachers


def _riverbend_students() -> list[dict[str, Any]]:
    students = []
    for i in range(FIRST_MORNING_STUDENT_COUNT):
        number = FIRST_MORNING_FIRST_STUDENT + i
        student = _student(
            number,
            _generated_name(number),
            school=RIVERBEND_SCHOOL_ID,
            grade=9 + i % 4,
            email=number % 3 == 0,
            student_number=number % 11 != 0,
            district=RIVERBEND_DISTRICT_ID,
        )
        if "email" in student:
            student["email"] = student["email"].replace(
                STUDENT_EMAIL_DOMAIN, "students." + RIVERBEND_EMAIL_DOMAIN
            )
        student["roles"]["student"]["location"].update(city="Riverbend", zip="55370")
        students.append(student)
    return students


def _riverbend_sections(teachers: list[str], students: list[str]) -> list[dict[str, Any]]:
    """45 classes. Class k: primary teacher k % 30 (the first 15 teach two), a co-teacher (the
    next teacher along), and 28 students from a window that starts 17 seats after the last
    one's: neighbouring classes share 11 students, and the windows wrap around the school."""
    count = len(teachers)
    sections = []
    for k in range(count + count // 2):
        primary = k % count
        co_teacher = (primary + 1 + k // count) % count
        start = (k * 17) % len(students)
        course, subject = RIVERBEND_COURSES[k % len(RIVERBEND_COURSES)]
        period = str(k % 7 + 1)
        teacher_last = _generated_name(300 + primary)["last"]
        sections.append(
            {
                "id": f"{PREFIX}a5e{0xD00 + k:03x}",
                "district": RIVERBEND_DISTRICT_ID,
                "school": RIVERBEND_SCHOOL_ID,
                "created": _stamp(6, k),
                "last_modified": "2024-08-27T11:02:31.877Z",
                "name": f"{course} – {teacher_last} – P{period}",
                "sis_id": f"RB-SEC-{k + 1:03d}",
                "section_number": f"RB-{k + 1:02d}",
                "period": period,
                "subject": subject,
                "grade": str(9 + k % 4),
                "course": riverbend_course_id(k % len(RIVERBEND_COURSES)),
                "term_id": RIVERBEND_TERM_ID,
                "teacher": teachers[primary],
                "teachers": [teachers[primary], teachers[co_teacher]],
                "students": [
                    students[(start + j) % len(students)] for j in range(FIRST_MORNING_CLASS_SIZE)
                ],
                "ext": {},
            }
        )
    return sections


def _riverbend_courses() -> list[dict[str, Any]]:
    return [
        {
            "id": riverbend_course_id(n),
            "district": RIVERBEND_DISTRICT_ID,
            "name": name,
            "number": f"RB-C-{n + 1:03d}",
        }
        for n, (name, _) in enumerate(RIVERBEND_COURSES)
    ]


def _riverbend_term() -> dict[str, Any]:
    return {
        "id": RIVERBEND_TERM_ID,
        "district": RIVERBEND_DISTRICT_ID,
        "name": "2024-25 School Year",
        **SCHOOL_YEAR,
    }


def _most_seated(sections: list[dict[str, Any]], count: int) -> list[str]:
    """The ``count`` students who sit in the most classes (ties by id): the most overlap."""
    seats: dict[str, int] = {}
    for section in sections:
        for student in section["students"]:
            seats[student] = seats.get(student, 0) + 1
    return sorted(seats, key=lambda uid: (-seats[uid], uid))[:count]


@dataclass
class SeedData:
    """Plain dicts in Clever's full (district-shared) v3.0 shape, keyed by id."""

    districts: dict[str, dict[str, Any]]
    schools: dict[str, dict[str, Any]]
    users: dict[str, dict[str, Any]]
    sections: dict[str, dict[str, Any]]
    terms: dict[str, dict[str, Any]]
    courses: dict[str, dict[str, Any]]


def _build() -> SeedData:
    students, cohorts = _students()
    riverbend_teachers, riverbend_students = _riverbend_teachers(), _riverbend_students()
    riverbend_sections = _riverbend_sections(
        [t["id"] for t in riverbend_teachers], [s["id"] for s in riverbend_students]
    )
    by_id = lambda items: {item["id"]: item for item in items}  # noqa: E731
    return SeedData(
        districts=by_id([_district(), _library_district(), _riverbend_district()]),
        schools=by_id(
            [
                _school(CEDAR_ID, "Cedar Elementary", "010", "Kindergarten", "5", "400 Cedar Ave"),
                _school(BIRCH_ID, "Birch Middle", "020", "6", "8", "1200 Birch Rd"),
                _school(
                    LAKEVIEW_SCHOOL_ID,
                    "Lakeview Middle School",
                    "030",
                    "6",
                    "8",
                    "75 Shoreline Dr",
                    district=LIBRARY_DISTRICT_ID,
                ),  # fmt: skip
                _riverbend_school(),
            ]
        ),
        users=by_id(_teachers_and_staff() + students + riverbend_teachers + riverbend_students),
        sections=by_id(_sections(cohorts) + riverbend_sections),
        terms=by_id([*_terms(), _riverbend_term()]),
        courses=by_id(_courses() + _riverbend_courses()),
    )


_SEED = _build()
LIBRARY_SECTION_IDS = tuple(
    sid for sid, s in _SEED.sections.items() if LIBRARY_TEACHER_ID in s["teachers"]
)
LIBRARY_STUDENT_ID = _SEED.sections[LIBRARY_SECTION_IDS[0]]["students"][0]  # Amara Okonkwo
# The first morning's crowd: every Riverbend teacher, and the 20 students with the most classes.
FIRST_MORNING_TEACHER_IDS = tuple(
    uid for uid, user in _SEED.users.items()
    if user["district"] == RIVERBEND_DISTRICT_ID and "teacher" in user["roles"]
)  # fmt: skip
FIRST_MORNING_STUDENT_IDS = tuple(
    _most_seated(
        [s for s in _SEED.sections.values() if s["district"] == RIVERBEND_DISTRICT_ID],
        FIRST_MORNING_LOGIN_STUDENTS,
    )
)


def build() -> SeedData:
    """A fresh, independent copy of the seed (the sandbox mutates its copy; tests reset it)."""
    return copy.deepcopy(_SEED)


# ----------------------------------------------------------------------------- personas

PERSONAS: dict[str, Persona] = {
    p.key: p
    for p in (
        Persona("ana", ANA_ID, "Ana Núñez", "teacher",
                "District teacher: 13 classes (12 as primary teacher, 1 as co-teacher) incl. "
                "Grade 4 Math with 135 students and a class with 3 teachers; accented name; "
                "has email", roles=("teacher",)),
        Persona("devon", DEVON_ID, "Devon O'Hara", "teacher",
                "Teacher and staff (multi-role); co-teacher on 2 of Ana's classes, primary on 2; "
                "apostrophe in name", roles=("teacher", "staff")),
        Persona("zoe", ZOE_ID, "Zoë Brontë", "teacher", "A teacher with no classes at all",
                roles=("teacher",)),
        Persona("mateo", MATEO_ID, "Mateo Ramírez", "student",
                "District student with several teachers (4 teachers across 4 classes); no email",
                roles=("student",)),
        Persona("siobhan", SIOBHAN_ID, display_name(SIOBHAN_NAME), "student",
                "Student with a very long UTF-8 name (about 120 characters); no email",
                roles=("student",)),
        Persona("priya", PRIYA_ID, "Priya Raman", "district_admin",
                "District admin only: no teacher role, no classes", roles=("district_admin",)),
        Persona("library", LIBRARY_TEACHER_ID, "Hana Kobayashi", "teacher",
                "Library teacher (Lakeview has not connected the app): 3 classes of about 20 "
                "students seen as first name + last initial; connect_district makes her a "
                "district login", authorized_by="teacher",
                roles=("teacher",)),
        Persona("library_student", LIBRARY_STUDENT_ID, "Amara Okonkwo", "student",
                "Library student: launches from the portal after their teacher installed from "
                "the Library", authorized_by="teacher", roles=("student",)),
        Persona("noemail_teacher", NOEMAIL_TEACHER_ID, "Renée Dubois-Laurent", "teacher",
                "Teacher with no email address; 2 classes", roles=("teacher",)),
        Persona("guardian", GUARDIAN_ID, "Rosa Ramírez", "contact",
                "Parent/guardian (contact role only): the app must turn them away kindly",
                roles=("contact",)),
    )
}  # fmt: skip


# ----------------------------------------------------------------------------- accessors


def resolve_user_id(key_or_id: str) -> str | None:
    """A persona key or a seeded user id -> user id; None when neither."""
    if key_or_id in PERSONAS:
        return PERSONAS[key_or_id].user_id
    return key_or_id if key_or_id in _SEED.users else None


def persona_for(user_id: str) -> Persona | None:
    return next((p for p in PERSONAS.values() if p.user_id == user_id), None)


def authorized_by(user_id: str, connections: Collection[str] = tuple(DEFAULT_CONNECTIONS)) -> str:
    """How a login of this user is authorized: "district" when their district has connected the
    app at district level (that always takes precedence over a Library connection), else
    "teacher" (the Library: the teacher installed the app and shared their classes).

    ``connections``: the districts connected at district level (the seed's by default).
    """
    user = _SEED.users.get(user_id)
    return "district" if user is not None and user["district"] in connections else "teacher"


def user_ids() -> list[str]:
    return sorted(_SEED.users)


def section_ids() -> list[str]:
    return sorted(_SEED.sections)


def section_ids_for(user_id: str) -> list[str]:
    """Sections a user teaches (primary or co-teacher) or attends, as seeded, sorted by id."""
    return sorted(
        sid
        for sid, s in _SEED.sections.items()
        if user_id in s["teachers"] or user_id in s["students"]
    )


def student_ids_in(section_id: str) -> list[str]:
    return sorted(_SEED.sections[section_id]["students"])


def teacher_ids_of(section_id: str) -> list[str]:
    return list(_SEED.sections[section_id]["teachers"])


def seeded_user(user_id: str) -> dict[str, Any]:
    """A copy of the seeded record (full district shape), for tests to compare against."""
    return copy.deepcopy(_SEED.users[user_id])


def seeded_section(section_id: str) -> dict[str, Any]:
    return copy.deepcopy(_SEED.sections[section_id])
