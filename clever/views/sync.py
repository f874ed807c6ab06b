"""Sync now (with progress), sync history, held syncs, and class selection.

Thin views over clever.sync, and clever.roster for the class selection. JSON for fetch callers
(Accept: application/json), redirects with a flashed message for plain form posts, so every page
works without JavaScript.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from clever import jobs, roster, sync
from clever.config import TUNABLES
from clever.negotiate import wants_json
from clever.views import viewer
from clever.views.kept_markup import kept_macro

bp = Blueprint("sync", __name__)

# Why a manual sync could not start: (HTTP status, error code, what the person reads).
CANNOT_START: dict[str, tuple[int, str, str]] = {
    "busy": (409, "sync_running", "A sync is already running. Its progress is shown below."),
    "no_token": (
        409,
        "clever_login_needed",
        "We need a fresh sign-in from Clever to sync. Log in with Clever again, then press "
        "“Sync now”.",
    ),
    "not_clever": (
        409,
        "no_clever",
        "Your account isn't connected to Clever yet. Log in with Clever to import your classes.",
    ),
}


def to_dashboard():
    # 303: the browser follows a POST with a GET of the dashboard.
    return redirect(url_for("dashboard.dashboard"), code=303)


def started_response(result: sync.StartResult, started_message: str):
    """202 JSON or a redirect for a sync start; 409 or a flashed reason when it cannot."""
    if result == "started":
        if wants_json():
            return {"status": "running", "status_url": url_for("sync.status")}, 202
        flash(started_message, "info")
        return to_dashboard()
    status, error, message = CANNOT_START[result]
    if wants_json():
        return {"error": error, "message": message}, status
    flash(message, "warning" if result != "busy" else "info")
    return to_dashboard()


def teacher_only() -> None:
    if not current_user.is_teacher:
        abort(403)


@bp.post("/sync")
@login_required
def sync_now():
    """Queue a manual sync for a worker; progress is at /sync/status."""
    result = jobs.start_manual_sync(current_user)
    return started_response(result, "Syncing your classes from Clever…")


@bp.get("/sync/status")
@login_required
def status():
    """Progress of the running sync, or the latest outcome (JSON)."""
    return sync.sync_status(current_user), 200, {"Cache-Control": "no-store"}


@bp.get("/sync/history")
@login_required
def history():
    """The user's recent syncs: when, trigger, outcome, counts, duration, API calls."""
    return render_template("sync/history.html", runs=sync.sync_history(current_user))


def own_held_run(run_id: int):
    """The current teacher's run ``run_id`` if it was held (answered or not), else 404."""
    teacher_only()
    run = sync.held_run(current_user, run_id)
    if run is None:
        abort(404)
    return run


def already_answered(run):
    if wants_json():
        return {"error": "not_held", "status": run.status}, 409
    flash("That held sync was already answered.", "info")
    return to_dashboard()


@bp.get("/sync/held/<id:run_id>")
@login_required
def held(run_id: int):
    """What a held sync would change, with Apply and Keep-as-is buttons."""
    run = own_held_run(run_id)
    return render_template("sync/held.html", run=run, changes=sync.held_changes(run))


@bp.post("/sync/held/<id:run_id>/confirm")
@login_required
def confirm_held(run_id: int):
    """Apply a held sync: sync again, allowing the held classes to shrink."""
    run = own_held_run(run_id)
    if run.status != sync.SyncStatus.HELD:
        return already_answered(run)
    result = sync.confirm_held(current_user, run)
    return started_response(result, "Applying the held changes from Clever…")


@bp.post("/sync/held/<id:run_id>/dismiss")
@login_required
def dismiss_held(run_id: int):
    """Keep the classes as they are; the held changes are not applied."""
    run = own_held_run(run_id)
    if run.status != sync.SyncStatus.HELD:
        return already_answered(run)
    sync.dismiss_held(run)
    if wants_json():
        return {"status": run.status}
    flash("Dismissed: your classes stay as they were.", "info")
    return to_dashboard()


@bp.post("/classes/selection")
@login_required
def save_selection():
    """Choose which classes are shown and synced; newly chosen ones are synced right away."""
    teacher_only()
    values = request.form.getlist("section_ids")
    if len(values) > current_app.config["MAX_LIST_FIELD_VALUES"]:
        abort(400)  # far more than any teacher's classes: not a form we sent
    ids = {int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 10}
    newly_selected = roster.save_class_selection(current_user, ids)
    if newly_selected and jobs.start_manual_sync(current_user) == "started":
        flash("Saved. Importing the classes you added from Clever…", "success")
    else:
        flash("Saved your class selection.", "success")
    return to_dashboard()


# -- what the partials (templates/sync/_panel.html, _class_selection.html) read ----------------


def panel() -> dict[str, Any]:
    """The sync panel's data, computed once per request however often it is included."""
    if "sync_panel" not in g:
        user = current_user
        runs = viewer.runs()
        held = runs.held if user.is_teacher else None
        # What a sync brought: the shown classes and their distinct students (teachers only:
        # a student teaches nothing).
        mine = viewer.classes()
        classes = len(mine.shown) if user.is_teacher else 0
        students = mine.shown_students
        state = sync.sync_status(user, latest=runs.latest, may_be_running=runs.may_be_running)
        run = state["run"]
        g.sync_panel = {
            "classes": classes,
            "students": students,
            "state": state,
            # A district login whose district shares no rosters (the latest run says so).
            "no_rosters": state["status"] == sync.SyncStatus.FAILED
            and run is not None
            and run["error"] == sync.NO_ROSTERS,
            "last": runs.last_ok,
            "held": held,
            "held_classes": sync.held_changes(held) if held else [],
        }
    return g.sync_panel


def class_selection() -> tuple[tuple[roster.ClassRow, bool], ...]:
    return viewer.classes().selection() if current_user.is_teacher else ()


# The class choice's checkboxes, kept between page views (clever.views.kept_markup).
class_choices_markup = kept_macro(
    "sync/_class_choices.html", "class_choices", TUNABLES["KEPT_CLASS_CHOICES"]
)


@bp.app_context_processor
def inject_partials() -> dict[str, Any]:
    return {
        "sync_panel": panel,
        "sync_class_selection": class_selection,
        "class_choices_markup": class_choices_markup,
    }


@bp.app_template_filter("sync_time")
def sync_time(moment: datetime | None) -> str:
    """e.g. "3 Dec 2026, 14:05 UTC" (the server does not know the reader's time zone)."""
    moment = sync.as_utc(moment)
    if moment is None:
        return ""
    return f"{moment.day} {moment:%b %Y}, {moment:%H:%M} UTC"


@bp.app_template_filter("iso_time")
def iso_time(moment: datetime | None) -> str:
    """For <time datetime>: UTC to the second ("2026-12-03T14:05:09Z"); microseconds are not
    valid there. static/localtime.js shows it in the reader's time zone."""
    moment = sync.as_utc(moment)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z") if moment else ""
