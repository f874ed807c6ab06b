"""End-to-end browser tests and their shared infrastructure.

- ``browsers``: launch Chromium (Playwright), Firefox ESR and WebKit (Selenium) offline,
  ``need(name)`` to skip/fail when a browser is missing, ``RequestRecorder``.
- ``axe``: run the vendored axe-core (``vendor/axe.min.js``) in a page.

Import them relatively from test modules in this package (``from .browsers import need``) so the
imports work whether or not ``tests/`` itself is a package.
"""
