"""Accounts and share links as the library and the CLI keep them: argon2 hashes, roles, sessions that end,
failed-login counts, the users' backup that survives a catalog loss, ownership of uploaded photos."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photoshelf import accounts, shares
from photoshelf.db.catalog import open_catalog
from photoshelf.db.schema import Album, AlbumPhoto, LoginFailure, Photo, Share, User, UserSession
from photoshelf.errors import Gone, NotFound

from conftest import SMALL_CORPUS, Library, make_config
from support import checksums

PW = "correct horse"


def test_users_roles_passwords_and_sessions(empty_library: Library) -> None:
    admin = accounts.add_user("Alice", "admin", PW)
    assert admin.name == "alice" and admin.password_hash.startswith("$argon2id$")
    assert PW not in admin.password_hash
    member = accounts.add_user("bob", "member", "bob's secret")
    with pytest.raises(accounts.AccountError, match="exists already"):
        accounts.add_user("BOB", "viewer", "whatever1")
    for bad in ("", "../x", "a b", "x" * 65, ".hidden", "é"):
        with pytest.raises(accounts.AccountError, match="user name"):
            accounts.add_user(bad, "member", PW)
    with pytest.raises(accounts.AccountError, match="role"):
        accounts.add_user("carol", "root", PW)
    with pytest.raises(accounts.AccountError, match="at least 8"):
        accounts.add_user("carol", "member", "short")

    signed_in = accounts.authenticate("ALICE", PW)
    assert signed_in is not None and signed_in.id == admin.id
    assert accounts.authenticate("alice", PW + "x") is None
    assert accounts.authenticate("nobody", PW) is None
    assert accounts.authenticate("alice", "x" * 5000) is None
    first = accounts.first_admin()
    assert first is not None and first.id == admin.id
    assert [u.name for u in accounts.list_users()] == ["alice", "bob"]

    # A session lasts until logout, a password or role change, or removal.
    token = accounts.start_session(member, ip="10.0.0.2", user_agent="test")
    found = accounts.session_user(token)
    assert found is not None and found[0].id == member.id
    assert accounts.session_user(token + "x") is None and accounts.session_user("") is None
    version = accounts.credentials_version(accounts.get_user("bob"))
    accounts.set_password("bob", "new secret!")
    assert accounts.session_user(token) is None
    assert accounts.credentials_version(accounts.get_user("bob")) != version
    assert accounts.authenticate("bob", "bob's secret") is None and accounts.authenticate("bob", "new secret!")

    token = accounts.start_session(member)
    accounts.set_role("bob", "viewer")
    assert accounts.session_user(token) is None and accounts.get_user("bob").role == "viewer"
    token = accounts.start_session(member)
    accounts.end_session(token)
    assert accounts.session_user(token) is None

    # Expiry is sliding: a session unused for longer than `days` is gone.
    token = accounts.start_session(member)
    UserSession.update(last_seen=dt.datetime(2000, 1, 1)).execute()
    assert accounts.session_user(token, days=30) is None

    # The last admin stays an admin.
    with pytest.raises(accounts.AccountError, match="last admin"):
        accounts.set_role("alice", "member")
    with pytest.raises(accounts.AccountError, match="last admin"):
        accounts.remove_user("alice")
    accounts.remove_user("bob")
    assert User.get_or_none(User.name == "bob") is None
    with pytest.raises(NotFound):
        accounts.get_user("bob")


def test_failed_logins_are_counted_per_address_and_per_user(empty_library: Library) -> None:
    limits = {"per_ip": 3, "per_user": 2, "window_minutes": 15}
    assert accounts.login_blocked("1.2.3.4", "alice", **limits) is None
    accounts.record_login_failure("1.2.3.4", "alice")
    accounts.record_login_failure("1.2.3.4", "ALICE")
    message = accounts.login_blocked("5.6.7.8", "alice", **limits)
    assert message is not None and "this user" in message and "15 minutes" in message
    accounts.record_login_failure("1.2.3.4", "bob")
    assert "this address" in (accounts.login_blocked("1.2.3.4", "carol", **limits) or "")
    assert accounts.login_blocked("5.6.7.8", "carol", **limits) is None
    # Old failures do not count.
    LoginFailure.update(at=dt.datetime(2000, 1, 1)).execute()
    assert accounts.login_blocked("1.2.3.4", "alice", **limits) is None
    accounts.record_login_failure("1.2.3.4", "alice")
    accounts.record_login_failure("1.2.3.4", "carol")
    # Alice logging in clears the failures against her name, not the address's guesses at other names.
    accounts.clear_login_failures("1.2.3.4", "alice")
    recent = LoginFailure.select().where(LoginFailure.at > dt.datetime(2001, 1, 1))
    assert [f.name for f in recent] == ["carol"]


def test_secret_key_is_made_once(empty_library: Library) -> None:
    key = accounts.secret_key()
    assert len(key) == 32 and accounts.secret_key() == key


def test_users_survive_the_loss_of_the_catalog(tmp_path: Path) -> None:
    """The users' backup beside the catalog puts everyone back into a rebuilt catalog (SQLite: a lost file)."""
    config = make_config(tmp_path / "originals", tmp_path / "storage", f"sqlite:///{tmp_path / 'storage/catalog.db'}")
    (tmp_path / "originals").mkdir()
    db = open_catalog(config)
    accounts.add_user("alice", "admin", PW)
    accounts.add_user("bob", "viewer", "bob's secret")
    db.close()
    backup = tmp_path / "storage" / "users.yaml"
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert PW not in backup.read_text()
    (tmp_path / "storage" / "catalog.db").unlink()

    db = open_catalog(config)
    try:
        assert [(u.name, u.role) for u in accounts.list_users()] == [("alice", "admin"), ("bob", "viewer")]
        assert accounts.authenticate("alice", PW) is not None
        # A damaged backup is an error naming the file, not a crash.
        backup.write_text("users: [\n")
        with pytest.raises(accounts.AccountError, match="users.yaml"):
            accounts.restore_backup(backup)
    finally:
        db.close()


def _photo(rel: str) -> Photo:
    from photoshelf.records import find_photo

    return find_photo(rel)


def test_share_links(tmp_path: Path, database_url: str) -> None:
    from conftest import indexed_subset

    lib = indexed_subset(tmp_path, database_url, ["2016/Pets/cat_brown.jpg", "2004/Fiji/smallFiji.JPG"])
    try:
        admin = accounts.add_user("alice", "admin", PW)
        cat, fiji = _photo("2016/Pets/cat_brown.jpg"), _photo("2004/Fiji/smallFiji.JPG")
        album = Album.create(uid="atest", title="Trip")
        AlbumPhoto.create(album=album, photo=cat, position=0)
        AlbumPhoto.create(album=album, photo=fiji, position=1)

        link = shares.create_share(album=album, created_by=admin, expires=dt.timedelta(days=7), password="letmein1")
        assert len(link.token) >= 32 and shares.resolve(link.token).id == link.id
        assert [p.id for p in shares.share_photos(link)] == [cat.id, fiji.id]
        assert shares.check_password(link, "letmein1") and not shares.check_password(link, "nope")
        # A private photo in a shared album is not shown through the link.
        Photo.update(private=True).where(Photo.id == fiji.id).execute()
        assert [p.id for p in shares.share_photos(link)] == [cat.id]
        assert shares.shows_photo(link, cat.id) and not shares.shows_photo(link, fiji.id)

        one = shares.create_share(photo=cat, download=True)
        assert [p.id for p in shares.share_photos(one)] == [cat.id] and one.password_hash is None
        info = shares.describe(one, "https://photos.example.org/")
        assert info["url"] == f"https://photos.example.org/s/{one.token}" and info["download"] is True

        Share.update(expires_at=dt.datetime(2000, 1, 1)).where(Share.id == link.id).execute()
        with pytest.raises(Gone, match="expired"):
            shares.resolve(link.token)
        shares.revoke(one.token)
        with pytest.raises(Gone, match="revoked"):
            shares.resolve(one.token)
        for token in ("nope", "x" * 30, "../../etc/passwd", "\ud800" * 20):
            with pytest.raises(NotFound):
                shares.resolve(token)
        with pytest.raises(shares.ShareError):
            shares.create_share(album=album, photo=cat)
        assert shares.parse_duration("12h") == dt.timedelta(hours=12)
        assert shares.parse_duration("2w") == dt.timedelta(days=14)
        for bad in ("", "0d", "7x", "-1d", "99999y"):
            with pytest.raises(shares.ShareError):
                shares.parse_duration(bad)
    finally:
        lib.db.close()


def _cli(lib: Library, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url)
    return subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, input=input)


def test_users_and_share_commands(library: Library) -> None:
    lib = library
    before = checksums(lib.originals)
    assert _cli(lib, "index", "--no-ml", "-q").returncode == 0
    out = _cli(lib, "users", "add", "Alice", "--role", "admin", "--password", PW)
    assert out.returncode == 0 and "added alice (admin)" in out.stdout
    # No password and no terminal: a one-line error, not a prompt that hangs.
    out = _cli(lib, "users", "add", "bob", input="")
    assert out.returncode != 0 and "no password given" in out.stderr and "Traceback" not in out.stderr
    assert _cli(lib, "users", "add", "bob", "--role", "member", "--password", "bob's secret").returncode == 0
    listed = json.loads(_cli(lib, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("alice", "admin"), ("bob", "member")]
    assert _cli(lib, "users", "role", "bob", "viewer").returncode == 0
    assert _cli(lib, "users", "passwd", "bob", "--password", "another one").returncode == 0
    out = _cli(lib, "users", "remove", "alice")
    assert out.returncode == 1 and "last admin" in out.stderr and "Traceback" not in out.stderr
    out = _cli(lib, "users", "passwd", "nobody", "--password", "whatever1")
    assert out.returncode == 3 and "no user" in out.stderr

    lib.db.connect(reuse_if_open=True)
    album = Album.create(uid="atrip", title="Summer trip")
    AlbumPhoto.create(album=album, photo=Photo.select().first(), position=0)
    made = json.loads(_cli(lib, "share", "create", "--album", "summer TRIP", "--expires", "7d", "--password",
                           "letmein1", "--json").stdout)
    assert set(made) == {"token", "url", "expires_at"} and made["url"] == f"/s/{made['token']}"
    photo_id = str(Photo.select().order_by(Photo.id.desc()).first().id)
    second = json.loads(_cli(lib, "share", "create", "--photo", photo_id, "--download", "--json").stdout)
    assert second["expires_at"] is None
    listed = json.loads(_cli(lib, "share", "list", "--json").stdout)
    assert {s["token"] for s in listed} == {made["token"], second["token"]}
    assert _cli(lib, "share", "revoke", made["token"]).returncode == 0
    states = {s["token"]: s["state"] for s in json.loads(_cli(lib, "share", "list", "--json").stdout)}
    assert states == {made["token"]: "revoked", second["token"]: "active"}
    for bad in (["share", "create"], ["share", "create", "--album", "nope"], ["share", "revoke", "nope"],
                ["share", "create", "--photo", photo_id, "--expires", "soon"]):
        out = _cli(lib, *bad)
        assert out.returncode != 0 and out.stderr.startswith("Error:") and "Traceback" not in out.stderr, bad
    assert checksums(lib.originals) == before


def test_uploads_belong_to_their_uploader(empty_library: Library) -> None:
    """A photo under <originals>/<webdav.upload_dir>/<user>/ is that user's; the rest belongs to the first admin."""
    from photoshelf.library import index_library

    lib = empty_library
    accounts.add_user("alice", "admin", PW)
    bob = accounts.add_user("bob", "member", "bob's secret")
    with lib.user_changes():
        (lib.originals / "Upload" / "bob").mkdir(parents=True)
        (lib.originals / "2016").mkdir()
        shutil.copy(SMALL_CORPUS / "2016/Pets/cat_brown.jpg", lib.originals / "Upload/bob/cat.jpg")
        shutil.copy(SMALL_CORPUS / "2004/Fiji/smallFiji.JPG", lib.originals / "2016/fiji.jpg")
    index_library(lib.config, lib.db)
    from photoshelf.records import find_photo

    assert find_photo("Upload/bob/cat.jpg").owner == bob.id
    assert find_photo("2016/fiji.jpg").owner is None
    # A removed user's photos go back to the first admin.
    accounts.remove_user("bob")
    assert find_photo("Upload/bob/cat.jpg").owner is None


def test_share_tokens_never_look_like_an_option() -> None:
    """`photoshelf share revoke TOKEN` must take any token as given: none starts with "-" (or "_")."""
    from photoshelf.shares import new_token

    tokens = {new_token() for _ in range(5000)}
    assert len(tokens) == 5000
    assert all(t[0].isalnum() and len(t) == 32 for t in tokens)
