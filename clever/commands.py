"""Operator commands: ``flask --app app purge-district|purge-teacher|prune|rq-worker``.

The purge commands print the counts they delete (or, with ``--dry-run``, would delete) and ask
before deleting unless ``--yes`` (README, "Deleting student data"). ``rq-worker`` runs the
manual-sync queue (``clever.jobs``; README, "Deployment").
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from clever import jobs, purge

DEFAULT_ARCHIVED_DAYS = 365


def init_commands(app: Flask) -> None:
    for command in (purge_district, purge_teacher, prune, rq_worker):
        app.cli.add_command(command)


def _show(counts: dict[str, int], heading: str) -> None:
    click.echo(heading)
    for label, number in counts.items():
        click.echo(f"  {label}: {number}")


def _run_purge(plan: purge.Plan | None, noun: str, dry_run: bool, yes: bool) -> None:
    if plan is None:
        raise click.ClickException(f"no {noun} with that Clever id")
    what = f"the {noun}"
    if dry_run:
        _show(purge.count(plan), f"Would delete for {what} (dry run, nothing changed):")
        return
    _show(purge.count(plan), f"This deletes for {what}:")
    if not yes:
        click.confirm("Delete these rows for good?", abort=True)
    _show(purge.execute(plan, what), "Deleted:")


@click.command("purge-district")
@with_appcontext
@click.argument("clever_district_id")
@click.option("--dry-run", is_flag=True, help="Print the counts; delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_district(clever_district_id: str, dry_run: bool, yes: bool) -> None:
    """Delete a district's data: schools, classes, people, tokens, sync runs, choices."""
    _run_purge(purge.plan_district(clever_district_id), "district", dry_run, yes)


@click.command("purge-teacher")
@with_appcontext
@click.argument("clever_user_id")
@click.option("--dry-run", is_flag=True, help="Print the counts; delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_teacher(clever_user_id: str, dry_run: bool, yes: bool) -> None:
    """Delete a (Library) teacher, their classes no other active teacher shares, and the
    students then left in no class."""
    _run_purge(purge.plan_teacher(clever_user_id), "teacher", dry_run, yes)


@click.command("prune")
@with_appcontext
@click.option("--archived-days", default=DEFAULT_ARCHIVED_DAYS, show_default=True, type=int)
@click.option("--dry-run", is_flag=True, help="Print the counts; delete nothing.")
def prune(archived_days: int, dry_run: bool) -> None:
    """Delete memberships and classes archived more than N days ago (run daily from cron)."""
    if archived_days < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--archived-days")
    counts = purge.prune_archived(archived_days, dry_run=dry_run)
    _show(counts, "Would delete (dry run):" if dry_run else "Deleted:")


@click.command("rq-worker")
@with_appcontext
@click.option("--name", default=None, help="Worker name (default: host and process id).")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@click.option(
    "--maintenance-interval",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds between looks for abandoned jobs [SYNC_WORKER_MAINTENANCE_SECONDS].",
)
@click.option(
    "--grace",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds past its timeout before a silent job is retried [SYNC_JOB_GRACE_SECONDS].",
)
def rq_worker(
    name: str | None, burst: bool, maintenance_interval: int | None, grace: int | None
) -> None:
    """Run manual syncs from the queue (one at a time; start as many workers as you like)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL must name the Redis the web app uses")
    jobs.run_worker(
        app,
        name=name,
        burst=burst,
        maintenance_interval=maintenance_interval or app.config["SYNC_WORKER_MAINTENANCE_SECONDS"],
        grace=grace or app.config["SYNC_JOB_GRACE_SECONDS"],
    )
