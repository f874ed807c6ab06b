"""Landing page and dashboards."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.dashboard"))
    return render_template("dashboard/landing.html")


@bp.get("/dashboard")
@login_required
def dashboard():
    return render_template("dashboard/dashboard.html")
