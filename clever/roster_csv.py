"""A class roster as CSV, for the teacher to open in a spreadsheet.

Cells are safe to open in Excel, LibreOffice or Google Sheets: text starting with = + - @ (or a
tab or carriage return) would run as a formula there ("CSV injection"), so it gets a leading
quote. A byte-order mark makes Excel read the UTF-8 names as UTF-8.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable

from clever.roster import ClassRow
from models import Section, User

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER = ("Last name", "First name", "Grade")


def safe_cell(value: str | None) -> str:
    value = value or ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def roster_csv(students: Iterable[User], grade_label) -> str:
    """CSV text (with a BOM) of ``students``, one row each: last name, first name, grade."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for student in students:
        writer.writerow(
            safe_cell(cell)
            for cell in (student.last_name, student.first_name, grade_label(student.grade))
        )
    return out.getvalue()


def filename_for(section: Section | ClassRow) -> str:
    """An ASCII-safe file name from the class name ("Grade 4 Math - Núñez - 2" ->
    "Grade-4-Math-Nunez-2-roster.csv"); accents dropped, everything odd turned into dashes."""
    ascii_name = unicodedata.normalize("NFKD", section.name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-")[:80] or "class"
    return f"{slug}-roster.csv"
