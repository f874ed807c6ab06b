"""The sandbox's live copy of the seed: lookups the API needs, and the mutations tests apply.

Not thread-safe by itself; SandboxState holds the lock around every call.
"""

from __future__ import annotations

from typing import Any

from . import seed


class MutationError(ValueError):
    """A mutate op that names something that does not exist, or is malformed."""


class Roster:
    def __init__(self) -> None:
        data = seed.build()
        self.districts = data.districts
        self.schools = data.schools
        self.users = data.users
        self.sections = data.sections
        self.terms = data.terms
        self.courses = data.courses
        self.removed_sections: set[str] = set()

    # -- lookups ------------------------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.users.get(user_id)

    def section(self, section_id: str) -> dict[str, Any] | None:
        if section_id in self.removed_sections:
            return None
        return self.sections.get(section_id)

    def live_sections(self) -> list[dict[str, Any]]:
        return [s for sid, s in self.sections.items() if sid not in self.removed_sections]

    def sections_for(self, user_id: str) -> list[dict[str, Any]]:
        """Sections the user teaches (primary or co-teacher) or attends."""
        return [
            s for s in self.live_sections() if user_id in s["teachers"] or user_id in s["students"]
        ]

    def section_users(self, section: dict[str, Any], role: str | None) -> list[dict[str, Any]]:
        ids: list[str] = []
        if role in (None, "teacher"):
            ids += section["teachers"]
        if role in (None, "student"):
            ids += section["students"]
        return [self.users[uid] for uid in dict.fromkeys(ids) if uid in self.users]

    def students_of_teacher(self, user_id: str) -> list[dict[str, Any]]:
        ids = {
            uid for s in self.live_sections() if user_id in s["teachers"] for uid in s["students"]
        }
        return [self.users[uid] for uid in ids if uid in self.users]

    def teachers_of_student(self, user_id: str) -> list[dict[str, Any]]:
        ids = {
            tid for s in self.live_sections() if user_id in s["students"] for tid in s["teachers"]
        }
        return [self.users[uid] for uid in ids if uid in self.users]

    def contacts_of_student(self, user_id: str) -> list[dict[str, Any]]:
        return [
            u
            for u in self.users.values()
            if any(
                rel.get("student") == user_id
                for rel in (u["roles"].get("contact") or {}).get("student_relationships", [])
            )
        ]

    def schools_for(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        ids: set[str] = set()
        for role in user["roles"].values():
            ids.update(role.get("schools") or [])
            if role.get("school"):
                ids.add(role["school"])
        return [self.schools[sid] for sid in ids if sid in self.schools]

    # -- mutations (POST /__sandbox__/mutate) --------------------------------------------------

    def apply(self, op: str, args: dict[str, Any], now_stamp: str) -> dict[str, Any]:
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise MutationError(f"unknown op {op!r}")
        if any(value is not None and not isinstance(value, str) for value in args.values()):
            raise MutationError("mutate arguments are strings (or null for email)")
        try:
            return handler(now_stamp=now_stamp, **args)
        except TypeError as exc:  # missing or unexpected argument names
            raise MutationError(f"bad arguments for {op}: {exc}") from None

    def _need_section(self, section_id: str) -> dict[str, Any]:
        if section_id not in self.sections:
            raise MutationError(f"unknown section {section_id!r}")
        return self.sections[section_id]

    def _need_user(self, user_id: str) -> dict[str, Any]:
        if user_id not in self.users:
            raise MutationError(f"unknown user {user_id!r}")
        return self.users[user_id]

    def _op_remove_section(self, *, section_id: str, now_stamp: str) -> dict[str, Any]:
        self._need_section(section_id)
        self.removed_sections.add(section_id)
        return {"section_id": section_id, "removed": True}

    def _op_restore_section(self, *, section_id: str, now_stamp: str) -> dict[str, Any]:
        self._need_section(section_id)
        self.removed_sections.discard(section_id)
        return {"section_id": section_id, "removed": False}

    def _op_remove_student(self, *, section_id: str, user_id: str, now_stamp: str) -> dict:
        section = self._need_section(section_id)
        if user_id not in section["students"]:
            raise MutationError(f"user {user_id!r} is not a student of {section_id!r}")
        section["students"].remove(user_id)
        section["last_modified"] = now_stamp
        return {"section_id": section_id, "students": len(section["students"])}

    def _op_add_student(self, *, section_id: str, user_id: str, now_stamp: str) -> dict:
        section = self._need_section(section_id)
        if "student" not in self._need_user(user_id)["roles"]:
            raise MutationError(f"user {user_id!r} has no student role")
        if user_id not in section["students"]:
            section["students"].append(user_id)
            section["last_modified"] = now_stamp
        return {"section_id": section_id, "students": len(section["students"])}

    def _op_rename_user(
        self, *, user_id: str, first: str, last: str, now_stamp: str, middle: str | None = None
    ) -> dict[str, Any]:
        user = self._need_user(user_id)
        user["name"] = {"first": first, "last": last}
        if middle:
            user["name"]["middle"] = middle
        user["last_modified"] = now_stamp
        return {"user_id": user_id}

    def _op_rename_section(self, *, section_id: str, name: str, now_stamp: str) -> dict:
        section = self._need_section(section_id)
        section["name"] = name
        section["last_modified"] = now_stamp
        return {"section_id": section_id}

    def _op_set_section_field(
        self, *, section_id: str, field: str, value: str, now_stamp: str
    ) -> dict[str, Any]:
        if field not in {"subject", "grade", "period", "section_number"}:
            raise MutationError(f"cannot set section field {field!r}")
        section = self._need_section(section_id)
        section[field] = value
        section["last_modified"] = now_stamp
        return {"section_id": section_id}

    def _op_rename_school(self, *, school_id: str, name: str, now_stamp: str) -> dict[str, Any]:
        if school_id not in self.schools:
            raise MutationError(f"unknown school {school_id!r}")
        self.schools[school_id]["name"] = name
        self.schools[school_id]["last_modified"] = now_stamp
        return {"school_id": school_id}

    def _op_set_email(self, *, user_id: str, email: str | None, now_stamp: str) -> dict:
        user = self._need_user(user_id)
        # Clever leaves the key out for users without an email, so null removes it.
        if email is None:
            user.pop("email", None)
        else:
            user["email"] = email
        user["last_modified"] = now_stamp
        return {"user_id": user_id}
