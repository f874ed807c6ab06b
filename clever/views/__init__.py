"""Blueprints, one per module, and the URL converter of their row ids."""

from flask import Flask
from werkzeug.routing import IntegerConverter


class RowIdConverter(IntegerConverter):
    """``<id:name>``: a positive id that fits the database's INTEGER column. Anything larger
    (``/classes/9223372036854775808``) matches no route, so it is a 404 and never reaches the
    database, where it would overflow."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - werkzeug's signature
        super().__init__(map, min=1, max=2**31 - 1)


def register_blueprints(app: Flask) -> None:
    from clever.views import auth, dashboard, demo, health, local, onboarding, pages, sync

    app.url_map.converters["id"] = RowIdConverter
    for module in (health, auth, local, onboarding, dashboard, sync, demo, pages):
        app.register_blueprint(module.bp)
