"""The admin page and users API, and a user's own password change, through the real app on SQLite and MariaDB:
users added, given roles and new passwords and removed through photoshelf.accounts; the last admin stays; a new
password ends the user's other sessions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from households import Household, build
from logins import PASSWORD, log_in, viewer_client

from photoshelf import accounts
from photoshelf.db.schema import User


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Household]:
    household = build(tmp_path, database_url)
    yield household
    household.lib.db.close()


def test_the_users_api(home: Household) -> None:
    with home.client("admin") as admin:
        names = {u["name"]: u["role"] for u in admin.get("/api/v1/users").json()["users"]}
        assert names == {"admin": "admin", "member": "member", "viewer": "viewer", "member2": "member"}
        r = admin.post("/api/v1/users", json={"name": "Grandma", "role": "viewer", "password": "knitting needles"})
        assert r.status_code == 201 and r.json()["name"] == "grandma" and r.json()["role"] == "viewer"
        for body, why in (({"name": "grandma", "role": "viewer", "password": "long enough"}, "exists"),
                          ({"name": "kid", "role": "boss", "password": "long enough"}, "role"),
                          ({"name": "kid", "role": "viewer", "password": "short"}, "8 characters"),
                          ({"name": "../etc", "role": "viewer", "password": "long enough"}, "user name"),
                          ({"name": "kid", "role": "viewer"}, "password"),
                          ({"name": "kid", "role": "viewer", "password": "long enough", "admin": True}, "unknown")):
            r = admin.post("/api/v1/users", json=body)
            assert r.status_code == 400 and why in r.json()["error"], (body, r.text)
        r = admin.patch("/api/v1/users/grandma", json={"role": "member"})
        assert r.status_code == 200 and r.json()["role"] == "member"
        assert admin.patch("/api/v1/users/grandma", json={}).status_code == 400
        assert admin.patch("/api/v1/users/nobody", json={"role": "member"}).status_code == 404
        # the last admin can be neither demoted nor removed
        r = admin.patch("/api/v1/users/admin", json={"role": "member"})
        assert r.status_code == 400 and "last admin" in r.json()["error"]
        r = admin.delete("/api/v1/users/admin")
        assert r.status_code == 400 and "last admin" in r.json()["error"]
        assert User.get(User.name == "admin").role == "admin"
        assert admin.delete("/api/v1/users/grandma").status_code == 204
        assert User.get_or_none(User.name == "grandma") is None
    for role in ("member", "viewer"):
        with home.client(role) as client:
            assert client.get("/api/v1/users").status_code == 403
            assert client.get("/admin").status_code == 403
            assert client.post("/api/v1/users", json={"name": "x", "role": "admin", "password": "p" * 9}).status_code \
                == 403


def test_a_new_password_or_role_ends_the_users_sessions(home: Household) -> None:
    with home.client("admin") as admin, home.client("member") as member:
        assert member.get("/api/v1/session").status_code == 200
        assert admin.patch("/api/v1/users/member", json={"password": "a brand new one"}).status_code == 200
        assert member.get("/api/v1/session").status_code == 401
        log_in(member, "member", "a brand new one")
        assert admin.patch("/api/v1/users/member", json={"role": "viewer"}).status_code == 200
        assert member.get("/api/v1/session").status_code == 401
        log_in(member, "member", "a brand new one")
        assert member.post("/api/v1/shares", json={"album": home.album.uid}).status_code == 403  # a viewer now


def test_the_admin_page_forms(home: Household) -> None:
    with home.client("admin") as admin:
        page = admin.get("/admin")
        assert page.status_code == 200
        for name in ("admin", "member", "viewer", "member2"):
            assert f'data-user="{name}"' in page.text
        token = str(admin.headers["X-CSRF-Token"])
        assert f'name="csrf_token" value="{token}"' in page.text
        del admin.headers["X-CSRF-Token"]  # as a browser's form: the token only in the form's field
        r = admin.post("/admin/users", data={"csrf_token": token, "name": "uncle", "role": "member",
                                             "password": "fishing rods"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/admin?done=")
        assert "uncle added as member" in admin.get(r.headers["location"]).text
        r = admin.post("/admin/users/uncle/role", data={"csrf_token": token, "role": "viewer"})
        assert r.status_code == 200 and "uncle is now viewer" in r.text
        r = admin.post("/admin/users/uncle/password", data={"csrf_token": token, "password": "short"})
        assert r.status_code == 400 and "at least 8 characters" in r.text  # shown on the page
        r = admin.post("/admin/users/admin/remove", data={"csrf_token": token})
        assert r.status_code == 400 and "last admin" in r.text
        r = admin.post("/admin/users/uncle/remove", data={"csrf_token": token})
        assert r.status_code == 200 and User.get_or_none(User.name == "uncle") is None
        # share links: listed and revoked from here
        made = admin.post("/api/v1/shares", json={"album": home.album.uid}, headers={"X-CSRF-Token": token}).json()
        page = admin.get("/admin")
        assert f'data-share="{made["token"]}"' in page.text and made["url"] in page.text
        r = admin.post(f"/admin/shares/{made['token']}/revoke", data={"csrf_token": token})
        assert r.status_code == 200 and "Link revoked." in r.text
        assert admin.get(f"/s/{made['token']}").status_code == 410
        # without the form's token nothing happens
        r = admin.post("/admin/users", data={"name": "sneaky", "role": "admin", "password": "long enough"})
        assert r.status_code == 403 and User.get_or_none(User.name == "sneaky") is None


def test_the_user_menu(home: Household) -> None:
    with home.client("admin") as admin, home.client("viewer") as viewer:
        menu = re.search(r'<details class="usermenu">.*?</details>', admin.get("/").text, re.S)
        assert menu and "admin" in menu.group(0) and 'href="/account"' in menu.group(0)
        assert 'href="/admin"' in menu.group(0) and 'action="/logout"' in menu.group(0)
        menu = re.search(r'<details class="usermenu">.*?</details>', viewer.get("/").text, re.S)
        assert menu and 'href="/admin"' not in menu.group(0) and 'href="/account"' in menu.group(0)
    with home.public() as public:
        assert "usermenu" not in public.get("/").text
        assert public.get("/account").status_code == 200
        assert public.post("/api/v1/account/password", json={"current": "x", "new": "y" * 9}).status_code == 403


def test_changing_ones_own_password(home: Household) -> None:
    lib = home.lib
    with viewer_client(lib.config, lib.db, role="viewer") as me, viewer_client(lib.config, lib.db, role="viewer") \
            as elsewhere:
        r = me.post("/api/v1/account/password", json={"current": "wrong", "new": "a fine new password"})
        assert r.status_code == 403 and "current password is wrong" in r.json()["error"]
        r = me.post("/api/v1/account/password", json={"current": PASSWORD, "new": "short"})
        assert r.status_code == 400 and "at least 8" in r.json()["error"]
        r = me.post("/api/v1/account/password", json={"current": PASSWORD, "new": "a fine new password"})
        assert r.status_code == 200 and r.json()["ok"] is True
        me.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        assert me.get("/api/v1/session").json()["user"] == "viewer"  # this browser stays logged in
        assert elsewhere.get("/api/v1/session").status_code == 401  # the other session ended
        assert accounts.authenticate("viewer", "a fine new password") is not None
        assert accounts.authenticate("viewer", PASSWORD) is None
        # the form
        page = me.get("/account")
        assert page.status_code == 200 and "Logged in as <b>viewer</b>" in page.text
        form = {"csrf_token": me.headers["X-CSRF-Token"], "current_password": "a fine new password",
                "new_password": "another one again", "repeat_password": "another one!"}
        r = me.post("/account", data=form)
        assert r.status_code == 400 and "differ" in r.text
        r = me.post("/account", data={**form, "repeat_password": "another one again"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/account?changed=1"
        assert "photoshelf_session=" in r.headers["set-cookie"]
        assert "Your password was changed" in me.get("/account?changed=1").text
