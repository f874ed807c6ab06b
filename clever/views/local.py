"""Local email + password accounts (for people who used the product before Clever)."""

from flask import Blueprint
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, Length

bp = Blueprint("local", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


@bp.post("/login")
def login():
    return "not yet", 501
