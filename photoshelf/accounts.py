"""Accounts: users with roles, argon2 password hashes, login sessions, failed-login counts, and the backup file.

Users live in the catalog (tables in schema.py, migration 9) and in `<storage>/users.yaml`, rewritten on every
change, so rebuilding the catalog after a database loss keeps everyone's login: a catalog without users takes
them back from that file when it is opened (`use_backup`). The file keeps the share links too (photoshelf.shares:
their tokens' keys, never the tokens), brought back by `restore_shares` once a rebuild has the photos and albums.

Roles: `admin` (everything: settings, users, every photo), `member` (browse, favorites, albums, naming people,
uploads over WebDAV into their own folder) and `viewer` (browse only, no writes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from photoshelf.db import settings
from photoshelf.db.schema import (
    LoginFailure,
    Photo,
    Share,
    User,
    UserSession,
    database_proxy,
    utcnow,
)
from photoshelf.db.transactions import write_transaction
from photoshelf.errors import NotFound, PhotoshelfError

log = logging.getLogger(__name__)

ROLES = ("admin", "member", "viewer")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte "password" is a denial of service, not a secret
SESSION_TOUCH_SECONDS = 300
BACKUP_VERSION = 1

_backup_path: Path | None = None
_hasher: Any = None


class AccountError(PhotoshelfError):
    """A user name, role or password that cannot be used; the message says why."""


def _ph() -> Any:
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


def hash_password(password: str) -> str:
    check_password_rules(password)
    return str(_ph().hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches an argon2 hash (False for a malformed hash or an over-long password)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    if len(password) > MAX_PASSWORD:
        return False
    try:
        return bool(_ph().verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# An argon2 hash to check a password against when the user does not exist, so a wrong name costs as long as a
# wrong password (no user enumeration by timing).
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = str(_ph().hash(secrets.token_urlsafe(16)))
    return _DUMMY_HASH


def normalize_name(name: str) -> str:
    """A user name as stored: lower case; letters, digits, '.', '_' and '-' (it names the user's upload folder)."""
    value = (name or "").strip().lower()
    if not NAME_RE.fullmatch(value):
        raise AccountError(f"user name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                           "letter or digit")
    return value


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    return role


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")
    if "\x00" in password:
        raise AccountError("the password must not contain a NUL character")


# --- users ---


def _find(name: str) -> User | None:
    try:
        value = normalize_name(name)
    except AccountError:
        return None
    return User.get_or_none(User.name == value)


def get_user(name: str) -> User:
    user = _find(name)
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


def get_user_by_id(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    return User.get_or_none(User.id == user_id)


def list_users() -> list[User]:
    return list(User.select().order_by(User.name))


def count_users() -> int:
    return int(User.select().count())


def first_admin() -> User | None:
    """The admin who owns every photo indexed from the originals (the earliest one made)."""
    return User.select().where(User.role == "admin").order_by(User.id).first()


def add_user(name: str, role: str, password: str) -> User:
    value = normalize_name(name)
    check_role(role)
    password_hash = hash_password(password)
    with write_transaction(database_proxy):
        if User.get_or_none(User.name == value) is not None:
            raise AccountError(f"user {value!r} exists already")
        user = User.create(name=value, role=role, password_hash=password_hash)
    write_backup()
    log.info("user %s added (%s)", value, role)
    return user


def _admins_left_without(user: User) -> int:
    return int(User.select().where((User.role == "admin") & (User.id != user.id)).count())


def set_password(name: str, password: str) -> User:
    """A new password; every session of the user ends."""
    user = get_user(name)
    password_hash = hash_password(password)
    with write_transaction(database_proxy):
        User.update(password_hash=password_hash, updated_at=utcnow()).where(User.id == user.id).execute()
        UserSession.delete().where(UserSession.user == user.id).execute()
    write_backup()
    return get_user(name)


def set_role(name: str, role: str) -> User:
    """A new role; every session of the user ends (a page open with the old rights stops working)."""
    user = get_user(name)
    check_role(role)
    with write_transaction(database_proxy):
        if user.role == "admin" and role != "admin" and _admins_left_without(user) == 0:
            raise AccountError(f"{user.name} is the last admin: make another admin first")
        User.update(role=role, updated_at=utcnow()).where(User.id == user.id).execute()
        UserSession.delete().where(UserSession.user == user.id).execute()
    write_backup()
    return get_user(name)


def remove_user(name: str) -> None:
    """Remove a user: their sessions end, their photos go back to the first admin, their share links stay
    (without a creator); the files they uploaded stay in the originals."""
    user = get_user(name)
    with write_transaction(database_proxy):
        if user.role == "admin" and _admins_left_without(user) == 0:
            raise AccountError(f"{user.name} is the last admin and cannot be removed")
        Photo.update(owner=None).where(Photo.owner == user.id).execute()
        Share.update(created_by=None).where(Share.created_by == user.id).execute()
        UserSession.delete().where(UserSession.user == user.id).execute()
        User.delete().where(User.id == user.id).execute()
    write_backup()
    log.info("user %s removed", user.name)


def authenticate(name: str, password: str) -> User | None:
    """The user when the password is right, else None (an unknown name costs the same time as a wrong password)."""
    user = _find(name) if isinstance(name, str) else None
    if user is None:
        verify_password(_dummy_hash(), password if isinstance(password, str) else "")
        return None
    if not isinstance(password, str) or not verify_password(user.password_hash, password):
        return None
    if _ph().check_needs_rehash(user.password_hash):
        User.update(password_hash=_ph().hash(password)).where(User.id == user.id).execute()
    return user


def credentials_version(user: User) -> str:
    """Changes whenever the user's password or role changes (and a removed user has no row at all): the key
    under which a process may cache a successful password check."""
    return f"{user.id}:{user.role}:{user.updated_at.isoformat() if user.updated_at else ''}"


def note_login(user: User) -> None:
    User.update(last_login_at=utcnow()).where(User.id == user.id).execute()


# --- sessions ---


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start_session(user: User, *, ip: str = "", user_agent: str = "", days: int = 30) -> str:
    """A new login for `user`; returns the opaque token the client keeps (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with write_transaction(database_proxy):
        UserSession.create(token_hash=_token_hash(token), user=user.id, created_at=now, last_seen=now,
                           ip=(ip or "")[:64], user_agent=(user_agent or "")[:255])
        # Sessions unused for longer than they last are gone for good.
        UserSession.delete().where(UserSession.last_seen < now - dt.timedelta(days=days)).execute()
    note_login(user)
    return token


def session_user(token: str, *, days: int = 30) -> tuple[User, UserSession] | None:
    """The user and session a token belongs to, or None when it is unknown, expired (unused for `days`) or was
    ended (logout, password change, user removed). A read only: `touch_session` moves last_seen."""
    if not token or not isinstance(token, str) or len(token) > 256:
        return None
    row = (UserSession.select(UserSession, User).join(User)
           .where(UserSession.token_hash == _token_hash(token)).first())
    if row is None:
        return None
    if row.last_seen < utcnow() - dt.timedelta(days=days):
        return None
    return row.user, row


def touch_session(session: UserSession) -> bool:
    """Move a session's last use to now when it is older than a few minutes (the sliding expiry); returns
    whether it wrote."""
    now = utcnow()
    if session.last_seen > now - dt.timedelta(seconds=SESSION_TOUCH_SECONDS):
        return False
    UserSession.update(last_seen=now).where(UserSession.id == session.id).execute()
    return True


def end_session(token: str) -> None:
    if token and isinstance(token, str):
        UserSession.delete().where(UserSession.token_hash == _token_hash(token)).execute()


def end_sessions(user: User) -> int:
    return int(UserSession.delete().where(UserSession.user == user.id).execute())


def session_id(token: str) -> str:
    """A stable, non-secret identifier of a session token (e.g. to bind a CSRF token to it)."""
    return _token_hash(token)


# --- the secret that signs cookies and CSRF tokens ---


def secret_key() -> bytes:
    """This catalog's random secret (made on first use), shared by every process serving the catalog."""
    return bytes.fromhex(settings.text_or_put(settings.SECRET_KEY, lambda: secrets.token_hex(32)))


# --- failed logins ---


def record_login_failure(ip: str, name: str) -> None:
    now = utcnow()
    LoginFailure.create(ip=(ip or "")[:64], name=(name or "")[:64].lower(), at=now)
    LoginFailure.delete().where(LoginFailure.at < now - dt.timedelta(days=1)).execute()


def login_blocked(ip: str, name: str, *, per_ip: int, per_user: int, window_minutes: int) -> str | None:
    """Why a login from `ip` as `name` must wait, or None. Counts failed logins within the window."""
    since = utcnow() - dt.timedelta(minutes=window_minutes)
    by_ip = LoginFailure.select().where((LoginFailure.ip == (ip or "")[:64]) & (LoginFailure.at >= since)).count()
    if by_ip >= per_ip:
        return (f"too many failed logins from this address: try again in {window_minutes} minutes")
    by_name = (LoginFailure.select()
               .where((LoginFailure.name == (name or "")[:64].lower()) & (LoginFailure.at >= since)).count())
    if by_name >= per_user:
        return f"too many failed logins for this user: try again in {window_minutes} minutes"
    return None


def clear_login_failures(ip: str, name: str) -> None:
    """A successful login clears the failures against that user name, not the address's count: logging in to one's
    own account between guesses at others must not reset the per-address limit."""
    LoginFailure.delete().where(LoginFailure.name == (name or "")[:64].lower()).execute()


# --- the backup file ---


def use_backup(path: Path | None) -> int:
    """Keep the users' backup at `path` (None: none); a catalog without users takes them back from it. Returns
    how many users were restored."""
    global _backup_path
    _backup_path = path
    if path is None or not path.is_file():
        return 0
    if User.select().exists():
        return 0
    added = restore_backup(path)
    if added and _file_shares(path):
        # A rebuilt catalog: its links come back with `photoshelf restore`; until then the file keeps them.
        settings.set_shares_pending(True)
    return added


def _file_shares(path: Path) -> list[Any]:
    data = _read_backup(path) if path.is_file() else None
    rows = data.get("shares") if isinstance(data, dict) else None
    return rows if isinstance(rows, list) else []


def backup_data(path: Path | None = None) -> dict[str, Any]:
    """What the backup file holds. While a rebuilt catalog waits for `restore_shares`, the links of the file at
    `path` that the catalog lacks stay in it (a user or a link changed before the restore must not drop them)."""
    from photoshelf import shares  # it imports this module

    links = shares.backup_rows()
    if path is not None and settings.shares_pending():
        have = {row["key"] for row in links}
        links += [row for row in _file_shares(path) if isinstance(row, dict) and row.get("key") not in have]
    return {
        "version": BACKUP_VERSION,
        "users": [{"name": u.name, "role": u.role, "password_hash": u.password_hash,
                   "created_at": u.created_at.isoformat(timespec="seconds") if u.created_at else None}
                  for u in User.select().order_by(User.id)],
        "shares": links,
    }


def write_backup(path: Path | None = None) -> None:
    """Rewrite the backup file (atomically, readable by the owner only)."""
    target = path or _backup_path
    if target is None:
        return
    from ruamel.yaml import YAML

    yaml = YAML()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# photoshelf accounts: restored into a catalog that has no users. Keep it private.\n")
            yaml.dump(backup_data(target), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_backup(path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise AccountError(f"cannot read the users' backup {path}: {exc}") from None


def restore_shares(path: Path | None = None) -> int:
    """Add the share links of the backup file (default: the one in use) that the catalog lacks, to the albums and
    photos it holds now (run it once a rebuild brought those back); returns how many were added."""
    from photoshelf import shares  # it imports this module

    source = path or _backup_path
    if source is None:
        return 0
    rows = _file_shares(source)
    with write_transaction(database_proxy):
        added = shares.restore_rows(rows, str(source))
        settings.set_shares_pending(False)
    if added:
        log.info("restored %d share link(s) from %s", added, source)
    return added


def restore_backup(path: Path) -> int:
    """Add the users of a backup file that the catalog lacks (by name); returns how many were added."""
    data = _read_backup(path)
    rows = data.get("users") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise AccountError(f"the users' backup {path} has no users list")
    added = 0
    with write_transaction(database_proxy):
        for row in rows:
            if not isinstance(row, dict):
                continue
            try:
                name = normalize_name(str(row.get("name", "")))
                role = check_role(str(row.get("role", "")))
            except AccountError as exc:
                log.warning("users' backup %s: skipped an entry: %s", path, exc)
                continue
            password_hash = str(row.get("password_hash") or "")
            if not password_hash.startswith("$argon2") or User.get_or_none(User.name == name) is not None:
                continue
            User.create(name=name, role=role, password_hash=password_hash)
            added += 1
    if added:
        log.info("restored %d user(s) from %s", added, path)
    return added
