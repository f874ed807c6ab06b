"""Reading order: people and classes sorted by the Unicode Collation Algorithm, last name then
first, case- and accent-insensitive at the first level."""

from __future__ import annotations

from clever import roster
from models import Section, User


def people(*names: str) -> list[User]:
    users = []
    for number, name in enumerate(names, start=1):
        first, _, last = name.partition(" ")
        users.append(User(id=number, first_name=first, last_name=last))
    return users


def order(users: list[User]) -> list[str]:
    return [f"{u.first_name} {u.last_name}" for u in roster._by_person(users)]


def test_accented_last_names_sort_with_their_base_letter_not_after_z():
    users = people(
        "Lena Xóchitl", "Émile Hernández", "Anders Ångström", "Zainab Zed", "Mehmet Çelik",
        "Nils Ørsted", "Ivan Đorđević", "Iñigo Ñúñez", "Ana Ábalos", "Carl Cruz", "Olga Oz",
        "Dina Dunn", "Nora Nash", "Hugo Hart", "Pia Pratt",
    )  # fmt: skip
    assert order(users) == [
        "Ana Ábalos", "Anders Ångström", "Mehmet Çelik", "Carl Cruz", "Ivan Đorđević",
        "Dina Dunn", "Hugo Hart", "Émile Hernández", "Nora Nash", "Iñigo Ñúñez",
        "Nils Ørsted", "Olga Oz", "Pia Pratt", "Lena Xóchitl", "Zainab Zed",
    ]  # fmt: skip


def test_last_name_then_first_ignoring_case_and_accents_at_the_first_level():
    # "núñez" and "Nunez" are the same surname at the first level, so the first name decides;
    # accents and case only break a tie between otherwise equal names.
    users = people("Zoë núñez", "Ana Nunez", "Álvaro Núñez", "Bea Nuñeza", "ángel NUNEZ")
    assert order(users) == ["Álvaro Núñez", "Ana Nunez", "ángel NUNEZ", "Zoë núñez", "Bea Nuñeza"]


def test_exact_ties_keep_a_stable_order_by_id():
    users = people("Sam Lee", "Sam Lee", "Sam Lee")
    assert [u.id for u in roster._by_person(reversed(users))] == [1, 2, 3]


def test_classes_sort_by_uca_not_code_point():
    names = ["Tutoring", "Álgebra I", "Ångström Lab", "Zoology", "algebra II", "Ñandú Club"]
    sections = [Section(id=i, name=name) for i, name in enumerate(names)]
    assert [s.name for s in roster._by_name(sections)] == [
        "Álgebra I", "algebra II", "Ångström Lab", "Ñandú Club", "Tutoring", "Zoology",
    ]  # fmt: skip
