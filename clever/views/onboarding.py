"""First login: link to an existing account, and onboarding (placeholder until its issue)."""

from flask import Blueprint, redirect, url_for

bp = Blueprint("onboarding", __name__)


@bp.route("/account/link", methods=["GET", "POST"])
def link_account():
    return redirect(url_for("dashboard.home"))


@bp.route("/onboarding", methods=["GET", "POST"])
def onboarding():
    return redirect(url_for("dashboard.home"))
