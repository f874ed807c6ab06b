"""Blueprints, one per module."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from clever.views import auth, dashboard, demo, health, local, onboarding, pages, sync

    for module in (health, auth, local, onboarding, dashboard, sync, demo, pages):
        app.register_blueprint(module.bp)
