"""The documentation site's generated pages: references from the code (REST from the app's
OpenAPI schema, configuration from ``Settings``, the command lines from their parsers, the
spec format from its module) and results pages from the committed records.

``experiments/site/build.py`` hands them to mkdocs (``nox -s docs``); tests call the same
functions, so what a page shows is checked against its data, never against prose.
"""
