"""models.py: the shared rules the models carry (clipping to column limits, teacher-like roles)."""

from __future__ import annotations

import pytest

from models import TEACHER_LIKE_ROLES, Section, User, clip


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("   ", None), ("  Ana  ", "Ana"), (7, "7"), ("Ñ" * 500, "Ñ" * 300)],
)
def test_clip_strips_and_cuts_to_the_column_length(value, expected):
    assert clip(User, "first_name", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A\x00na", "Ana"),
        ("Ana\tMaría\r\nLópez", "Ana María López"),
        ("\x00\x07\x1b\x7f", None),
        ("Zoë\u2028Brontë", "Zoë Brontë"),
        ("  two  spaces ", "two  spaces"),  # ordinary spaces are the person's own
    ],
)
def test_clip_removes_control_characters(value, expected):
    assert clip(User, "first_name", value) == expected


def test_clip_reads_each_column_its_own_limit():
    assert len(clip(User, "grade", "x" * 100)) == 40
    assert len(clip(User, "email", "x" * 1000)) == 320
    assert len(clip(Section, "subject", "x" * 1000)) == 100


def test_staff_and_district_admins_are_teacher_like():
    assert set(TEACHER_LIKE_ROLES) == {"teacher", "staff", "district_admin"}
