"""The WTForms forms (local sign-in and sign-up, account linking, onboarding) and their fields.

Lengths come from the rules in ``clever.local_accounts`` and the columns in ``models``, so a form
never accepts what the database would refuse.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from clever.local_accounts import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    looks_like_email,
)
from models import User

# Every wrong-password answer reads the same, so it tells nothing about which emails exist.
BAD_CREDENTIALS = "Email or password is incorrect."
# Names and school names: as long as the columns that store them.
NAME_LENGTH = User.__table__.c["first_name"].type.length
SCHOOL_NAME_LENGTH = User.__table__.c["school_name"].type.length
DECLINE_PREFIX = "new"


class EmailAddress:
    """A light check (one "@", a dotted domain): the wtforms one needs email_validator."""

    def __init__(self, message: str = "Enter an email address like name@school.org.") -> None:
        self.message = message

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.data and not looks_like_email(field.data.strip()):
            raise ValidationError(self.message)


def strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def email_field(label: str, required: str) -> EmailField:
    return EmailField(
        label,
        filters=[strip],
        validators=[DataRequired(required), EmailAddress(), Length(max=MAX_EMAIL_LENGTH)],
    )


def text_field(label: str, required: str, length: int) -> StringField:
    return StringField(
        label, filters=[strip], validators=[DataRequired(required), Length(max=length)]
    )


def password_field(label: str, required: str) -> PasswordField:
    # Passwords are never stripped: every character counts (ASVS 6.2.x).
    return PasswordField(
        label, validators=[DataRequired(required), Length(max=MAX_PASSWORD_LENGTH)]
    )


def school_name_field(label: str) -> StringField:
    return text_field(label, "Enter the name of your school.", SCHOOL_NAME_LENGTH)


class LoginForm(FlaskForm):
    email = email_field("Email", "Enter the email you signed up with.")
    password = password_field("Password", "Enter your password.")


class SignupForm(FlaskForm):
    first_name = text_field("First name", "Enter your first name.", NAME_LENGTH)
    last_name = text_field("Last name", "Enter your last name.", NAME_LENGTH)
    email = email_field("Email", "Enter your email address.")
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=(
                    f"Use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters; "
                    "a short sentence works well."
                ),
            ),
        ],
    )
    school_name = school_name_field("School name")


class LinkForm(FlaskForm):
    email = email_field(
        "Email for your existing account", "Enter the email of your existing account."
    )
    password = password_field("Password for your existing account", "Enter its password.")


class DeclineForm(FlaskForm):
    """ "No, I'm new": a one-button form beside LinkForm, prefixed so their ids don't clash."""

    decline = HiddenField(default="yes")


def decline_form() -> DeclineForm:
    return DeclineForm(prefix=DECLINE_PREFIX)


class OnboardingForm(FlaskForm):
    contact_email = email_field("Your email address", "Enter an email address we can reach you at.")
    school_name = school_name_field("Your school's name")


def onboarding_form(user: User, missing: list[str]) -> OnboardingForm:
    """A form with only the missing fields, prefilled with whatever we already know."""
    form = OnboardingForm(
        data={
            "contact_email": user.contact_email or user.email or "",
            "school_name": user.school_name or "",
        }
    )
    for name in ("contact_email", "school_name"):
        if name not in missing:
            delattr(form, name)
    return form
