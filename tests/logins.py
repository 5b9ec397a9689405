"""Logging tests into the viewer (importable as `logins`): the users each test catalog gets, and a TestClient
that has logged in through the real session API and sends its CSRF token with every write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import peewee as pw
from starlette.testclient import TestClient

from photoshelf.config import Config

# Starlette's TestClient sends Host: testserver (or the base_url's host): test configs answer those names too,
# besides the local ones a server in a test is reached by (a list replaces the defaults).
TEST_HOSTS = ["photoshelf.test", "testserver", "localhost", "127.0.0.1", "::1"]
BASE_URL = "http://photoshelf.test"
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "member", "viewer")


def answer_test_hosts(config: Config) -> Config:
    """A test's config answering TestClient's host names (the defaults answer only this machine's)."""
    for host in TEST_HOSTS:
        if host not in config.server.allowed_hosts and "*" not in config.server.allowed_hosts:
            config.server.allowed_hosts.append(host)
    return config


def ensure_users(db: pw.Database) -> None:
    """A user per role, named after it, in the catalog bound to `db` (made once; argon2 takes a moment)."""
    from photoshelf import accounts
    from photoshelf.db.schema import User, database_proxy

    database_proxy.initialize(db)
    for role in ROLES:
        if User.get_or_none(User.name == role) is None:
            accounts.add_user(role, role, PASSWORD)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log `client` in as `name` through POST /api/v1/session; its later requests carry the CSRF token."""
    r = client.post("/api/v1/session", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    token = str(r.json()["csrf_token"])
    client.headers["X-CSRF-Token"] = token
    return token


@contextmanager
def viewer_client(config: Config, db: pw.Database, role: str | None = "admin", **options: Any) -> Iterator[TestClient]:
    """The real viewer app through TestClient, logged in as the user of `role` (None: not logged in)."""
    from photoshelf.viewer.app import create_app

    answer_test_hosts(config)
    if role is not None and config.auth.mode != "public":
        ensure_users(db)
    with TestClient(create_app(config, db), base_url=options.pop("base_url", BASE_URL), **options) as client:
        if role is not None and config.auth.mode != "public":
            log_in(client, role)
        yield client


def browser_log_in(page: Any, base: str, name: str = "admin", password: str = PASSWORD) -> None:
    """Log a Playwright page in through the real /login form (its context keeps the session cookie)."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click(".login button[type=submit]")
    page.wait_for_url(f"{base}/")
