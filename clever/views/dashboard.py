"""The landing page, the dashboards (teacher and student) and the class page.

Thin views over clever.roster (classes and their people) and clever.sync (the last sync). The
viewer's classes and latest runs are read once per request (``clever.views.viewer``) and every
piece of a page uses that copy; the cards' teachers come with the classes, so a page costs the
same fixed few queries whatever the number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup

from clever import accounts, roster, roster_csv
from clever.config import TUNABLES
from clever.views import viewer
from clever.views.kept_markup import kept_macro
from models import User

bp = Blueprint("dashboard", __name__)


@dataclass(frozen=True)
class ClassCard:
    """One class as a dashboard card shows it, worked out here rather than in template macros:
    a dashboard shows every class, so each card's cost is paid many times per page. Hashable:
    it is the key of its kept markup (``class_card_markup``)."""

    section: roster.ClassRow
    students: int | None  # None where the viewer is not shown the roster (students)
    meta: tuple[str, ...]  # subject, grade and period, as labels
    # Who teaches it besides the viewer: ("Primary", names), ("Co-teacher(s)", names), or one
    # ("Teacher", names) line for a class with a single teacher; empty when nobody else does.
    teacher_lines: tuple[tuple[str, tuple[str, ...]], ...]
    co_taught: bool  # the viewer teaches it, not as its primary teacher


def class_cards(
    mine: roster.ClassList, sections: list[roster.ClassRow], counts: dict[int, int] | None
) -> list[ClassCard]:
    """Cards for ``sections`` of the viewer's classes ``mine``; ``counts`` (active students by
    class) only for teachers."""
    viewer = current_user._get_current_object()
    cards = []
    for section in sections:
        people = mine.teachers(section.id)
        primary = any(is_primary for teacher, is_primary in people if teacher.id == viewer.id)
        cards.append(
            ClassCard(
                section=section,
                students=counts.get(section.id, 0) if counts is not None else None,
                meta=class_meta(section),
                teacher_lines=teacher_lines(people, viewer),
                co_taught=viewer.is_teacher and not primary,
            )
        )
    return cards


def class_meta(section: roster.ClassRow) -> tuple[str, ...]:
    """Subject, grade and period of a class, as the small labels under its name."""
    labels = [subject_label(section.subject), grade_label(section.grade)]
    if section.period:
        labels.append(f"Period {section.period}")
    return tuple(label for label in labels if label)


def teacher_lines(
    teachers: list[tuple[roster.TeacherName, bool]], viewer: User
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``ClassCard.teacher_lines`` from the class's (teacher, is_primary), the primary first."""
    others = [(t.display_name, primary) for t, primary in teachers if t.id != viewer.id]
    if len(teachers) == 1 and len(others) == 1:
        return (("Teacher", (others[0][0],)),)
    primaries = tuple(name for name, primary in others if primary)
    co_teachers = tuple(name for name, primary in others if not primary)
    lines = [("Primary", primaries)] if primaries else []
    if co_teachers:
        lines.append(("Co-teacher" if len(co_teachers) == 1 else "Co-teachers", co_teachers))
    return tuple(lines)


_CARDS = "dashboard/_class_cards.html"
_kept_card = kept_macro(_CARDS, "class_card", TUNABLES["KEPT_CARDS"])


@bp.app_template_global()
def class_card_markup(card: ClassCard, hold: dict | None, for_teacher: bool) -> Markup:
    """A card's markup (the ``class_card`` macro), kept between page views
    (``clever.views.kept_markup``); a card with a hold notice (rare, and a dict) is drawn each
    time."""
    if hold is not None:
        return get_template_attribute(_CARDS, "class_card")(card, hold, for_teacher)
    return _kept_card(card, None, for_teacher)


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.dashboard"))
    return render_template("dashboard/landing.html")


@bp.get("/dashboard")
@login_required
def dashboard():
    """Teachers (staff and admins too) see their classes; students see theirs and who teaches
    them. Rosters come from Clever; the sync panel and class selection are the sync partials."""
    user = current_user._get_current_object()
    mine = viewer.classes()
    if user.is_teacher:
        shown, total = mine.shown, len(mine.classes)
        if total == 0 and not accounts.holds_teacher_role(user):
            return render_template("dashboard/admin.html")
        return render_template(
            "dashboard/teacher.html",
            cards=class_cards(mine, shown, mine.students),
            total_classes=total,
            hidden_classes=total - len(shown),
            holds=viewer.class_holds(),
        )
    return render_template("dashboard/student.html", cards=class_cards(mine, mine.classes, None))


def visible_section(section_id: int) -> roster.ClassRow:
    """The class, if the current user may see it; 404 otherwise (whether a class exists is
    nobody's business but its own people's). The viewer's classes are exactly the ones
    ``roster.can_view_section`` allows."""
    section = viewer.classes().get(section_id)
    if section is None:
        abort(404)
    return section


@bp.get("/classes/<id:section_id>")
@login_required
def class_page(section_id: int):
    """One class: its teachers (the primary marked) and, for teachers, the roster, by name or
    (``?sort=grade``) by grade: links, so sorting works without JavaScript."""
    user = current_user._get_current_object()
    section = visible_section(section_id)
    sort = "grade" if request.args.get("sort") == "grade" else "name"
    # Students see who teaches the class, never their classmates (as in Clever's scopes).
    students = roster.section_students(section) if user.is_teacher else None
    if students and sort == "grade":
        students = roster.by_grade(students)
    return render_template(
        "dashboard/class.html",
        section=section,
        teachers=roster.section_teachers(section),
        students=students,
        sort=sort,
        hidden=user.is_teacher and section.id not in viewer.classes().selected_ids,
        last=viewer.runs().last_ok,
        hold=viewer.class_holds().get(section.id),
    )


@bp.get("/classes/<id:section_id>/roster.csv")
@login_required
def class_csv(section_id: int):
    """The roster as a spreadsheet, for the class's teachers only."""
    section = visible_section(section_id)
    if not current_user.is_teacher:
        abort(404)  # students may see the class, never its roster
    body = roster_csv.roster_csv(roster.section_students(section), grade_label)
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{roster_csv.filename_for(section)}"',
            "Cache-Control": "no-store",
        },
    )


# -- how Clever's values read on the page --------------------------------------------------------


@bp.app_template_filter("grade_label")
def grade_label(grade: str | None) -> str:
    """Clever grades ("4", "Kindergarten", "Ungraded", ...) as a person reads them."""
    grade = (grade or "").strip()
    if not grade:
        return ""
    if grade.isascii() and grade.isdigit():
        return f"Grade {int(grade)}"
    if grade in {"PreKindergarten", "TransitionalKindergarten", "InfantToddler", "Preschool"}:
        return {
            "PreKindergarten": "Pre-K",
            "TransitionalKindergarten": "Transitional K",
            "InfantToddler": "Infant/toddler",
            "Preschool": "Preschool",
        }[grade]
    if grade == "PostGraduate":
        return "Post-graduate"
    return grade


@bp.app_template_filter("subject_label")
def subject_label(subject: str | None) -> str:
    """Clever subjects are lower case ("english/language arts"): capitalise the first letter."""
    subject = (subject or "").strip()
    return subject[:1].upper() + subject[1:]


def is_initial(name: str) -> bool:
    """A last name that is only an initial ("A" or "A."): Library tokens give students that."""
    return len(name.strip().rstrip(".")) == 1


@bp.app_template_filter("sort_name")
def sort_name(user: User) -> str:
    """Roster order reads best as "Last, First"; a last initial reads as "First L." instead
    ("A, Zainab" looks like a surname)."""
    if user.last_name and user.first_name:
        if is_initial(user.last_name):
            return f"{user.first_name} {user.last_name.strip().rstrip('.')}."
        return f"{user.last_name}, {user.first_name}"
    return user.last_name or user.first_name or "Unnamed"


@bp.app_template_filter("initials")
def initials(user: User) -> str:
    letters = [part[:1] for part in (user.first_name, user.last_name) if part]
    return "".join(letters).upper() or "?"
