"""Sessions: ``nox -s tests`` (the suite), ``nox -s lint``, ``nox -s up`` (run the platform)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: unit tests on fakeredis, integration on a real redis-server."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".", *session.posargs)


@nox.session
def up(session: nox.Session) -> None:
    """Run the whole platform in the foreground (arguments go to ``faas up``)."""
    session.install("-e", ".")
    session.run("faas", "up", *session.posargs)
