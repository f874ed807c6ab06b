"""What the pages read about the logged-in viewer, read once per request (kept on ``flask.g``).

A dashboard is made of pieces (the cards, the sync panel, the class choice, the held-class
notices, the last sync) that all need the viewer's classes and latest sync runs. Reading them
here once, and letting every piece use the same copy, keeps a page at a fixed few queries
whatever the number of classes. Only GET pages use these: a request that changes the classes
or runs reads ``clever.roster`` / ``clever.sync`` directly, never a copy made before its change.
"""

from __future__ import annotations

from flask import g
from flask_login import current_user

from clever import roster
from clever.sync.status import LatestRuns, holds_from, latest_runs


def classes() -> roster.ClassList:
    """The viewer's classes (``clever.roster.ClassList``)."""
    if "viewer_classes" not in g:
        g.viewer_classes = roster.class_list(current_user)
    return g.viewer_classes


def runs() -> LatestRuns:
    """The viewer's latest ok, failed and held sync runs."""
    if "viewer_runs" not in g:
        g.viewer_runs = latest_runs(current_user)
    return g.viewer_runs


def class_holds() -> dict[int, dict]:
    """``clever.sync.class_holds`` of the viewer, from the two reads above."""
    if not current_user.is_teacher:
        return {}
    return holds_from(classes().kept_ids, runs().held)
