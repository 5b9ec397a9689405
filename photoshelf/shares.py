"""Share links: an album or one photo shown to whoever holds an unguessable token, optionally with a password,
an expiry and the right to download originals. A revoked or expired link is gone (HTTP 410), an unknown one
not found (404).

Links are kept in the accounts file too (`<storage>/users.yaml`, photoshelf.accounts), written whenever one is
made or revoked, so a catalog rebuilt after a loss (`photoshelf restore`) opens the links a family sent out. The
file holds a token's key (its SHA-256), never the token: a link restored from it keeps the key in `Share.token`
("sha256:…", which no token can look like), opens for whoever holds the token, and has no address to show."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
import secrets
from typing import Any

from photoshelf import accounts
from photoshelf.db.dates import utc_text
from photoshelf.db.schema import Album, AlbumPhoto, Photo, Share, User, utcnow
from photoshelf.errors import Gone, NotFound, PhotoshelfError

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
DURATION_RE = re.compile(r"(\d{1,5})\s*([hdwmy]?)")
UNIT_DAYS = {"h": 1 / 24, "d": 1, "": 1, "w": 7, "m": 30, "y": 365}
KEY_PREFIX = "sha256:"
KEY_RE = re.compile(r"sha256:[A-Za-z0-9_-]{43}")


class ShareError(PhotoshelfError):
    """A share link that cannot be made as asked (nothing to share, a bad expiry)."""


def parse_duration(text: str) -> dt.timedelta:
    """'7d', '12h', '2w', '6m', '1y' (a bare number is days) as a timedelta."""
    match = DURATION_RE.fullmatch((text or "").strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ShareError(f"expiry {text!r}: use a number with h, d, w, m or y, e.g. 7d")
    days = int(match.group(1)) * UNIT_DAYS[match.group(2)]
    if days > 3650:
        raise ShareError(f"expiry {text!r}: at most ten years")
    return dt.timedelta(days=days)


def new_token() -> str:
    """A share link's token: 32 URL-safe characters that never start with "-" (a shell command's
    `photoshelf share revoke TOKEN` would read that as an option) or "_"."""
    while True:
        token = secrets.token_urlsafe(24)
        if token[0].isalnum():
            return token


def create_share(*, album: Album | None = None, photo: Photo | None = None, created_by: User | None = None,
                 expires: dt.timedelta | None = None, password: str | None = None,
                 download: bool = False) -> Share:
    if (album is None) == (photo is None):
        raise ShareError("a share link is for one album or one photo")
    if expires is not None and expires <= dt.timedelta(0):
        raise ShareError("the expiry must be in the future")
    password_hash = accounts.hash_password(password) if password else None
    share = Share.create(
        token=new_token(), album=album.id if album else None, photo=photo.id if photo else None,
        created_by=created_by.id if created_by else None,
        expires_at=utcnow() + expires if expires is not None else None,
        password_hash=password_hash, allow_download=download)
    accounts.write_backup()
    return share


def list_shares(created_by: User | None = None) -> list[Share]:
    query = Share.select().order_by(Share.created_at.desc(), Share.id.desc())
    if created_by is not None:
        query = query.where(Share.created_by == created_by.id)
    return list(query)


def token_key(token: str) -> str:
    """What stands for a token where the token itself must not be kept: "sha256:" and its SHA-256 in base64url
    (the ":" keeps a key from ever passing for a token)."""
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    return KEY_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def is_restored(share: Share) -> bool:
    """Whether the link came back from the accounts file (the catalog knows its key, not its token)."""
    return bool(share.token.startswith(KEY_PREFIX))


def get_share(token: str) -> Share:
    """The share with this token, whatever its state (NotFound when there is none). A link restored from the
    accounts file is found by its token too, and, for revoking and listing, by its key (`describe()["token"]`)."""
    share = None
    if isinstance(token, str) and TOKEN_RE.fullmatch(token):
        share = Share.select().where(Share.token.in_([token, token_key(token)])).first()
    elif isinstance(token, str) and KEY_RE.fullmatch(token):
        share = Share.get_or_none(Share.token == token)
    if share is not None and share.token not in (token, token_key(token)):
        share = None  # MariaDB's default collation compares without case: a token matches only as written
    if share is None:
        raise NotFound("no such share link")
    return share


def state(share: Share, now: dt.datetime | None = None) -> str:
    """active | expired | revoked"""
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at is not None and share.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def resolve(token: str) -> Share:
    """The active share behind a token: NotFound for an unknown token, Gone for a revoked or expired one. Only a
    token opens a link: a key (as the accounts file holds it) does not."""
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        raise NotFound("no such share link")
    share = get_share(token)
    what = state(share)
    if what != "active":
        raise Gone(f"this share link has {'been revoked' if what == 'revoked' else 'expired'}")
    return share


def revoke(token: str) -> Share:
    share = get_share(token)
    if share.revoked_at is None:
        Share.update(revoked_at=utcnow()).where(Share.id == share.id).execute()
        accounts.write_backup()
    return get_share(token)


def check_password(share: Share, password: str) -> bool:
    if not share.password_hash:
        return True
    return accounts.verify_password(share.password_hash, password or "")


def share_photos(share: Share) -> Any:
    """The photos a share shows (a peewee query of Photo): the one photo, or the album's photos in album order.
    Private, archived and missing photos are never shown through a link."""
    query = Photo.select()
    if share.photo_id is not None:
        query = query.where(Photo.id == share.photo_id)
    else:
        query = (query.join(AlbumPhoto, on=(AlbumPhoto.photo == Photo.id))
                 .where(AlbumPhoto.album == share.album_id)
                 .order_by(AlbumPhoto.position, AlbumPhoto.added_at, Photo.id))
    return query.where((Photo.private == False) & (Photo.archived == False)  # noqa: E712
                       & Photo.missing_since.is_null())


def shows_photo(share: Share, photo_id: int) -> bool:
    return bool(share_photos(share).where(Photo.id == photo_id).exists())


def describe(share: Share, base_url: str = "") -> dict[str, Any]:
    """A share as plain data (CLI --json, the API)."""
    album = Album.get_or_none(Album.id == share.album_id) if share.album_id else None
    creator = User.get_or_none(User.id == share.created_by_id) if share.created_by_id else None
    restored = is_restored(share)
    return {
        "token": share.token,  # a restored link's key: it revokes the link, it does not open it
        "url": None if restored else share_url(share.token, base_url),
        "restored": restored,
        "album": album.uid if album else None,
        "album_title": album.title if album else None,
        "photo": share.photo_id,
        "created_by": creator.name if creator else None,
        "created_at": utc_text(share.created_at),
        "expires_at": utc_text(share.expires_at),
        "password": bool(share.password_hash),
        "download": bool(share.allow_download),
        "state": state(share),
        "views": share.views,
    }


def share_url(token: str, base_url: str = "") -> str:
    return f"{base_url.rstrip('/')}/s/{token}" if base_url else f"/s/{token}"


def count_view(share: Share) -> None:
    Share.update(views=Share.views + 1).where(Share.id == share.id).execute()


# --- kept in the accounts file ---


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def backup_rows() -> list[dict[str, Any]]:
    """Every link as the accounts file keeps it: its token's key, what it shows (an album by uid, a photo by
    content hash: both survive a rebuild, ids do not), its creator by name, dates, password hash, downloads."""
    shown: Any = Album.select(Album.id, Album.uid).where(Album.id.in_(Share.select(Share.album)))
    albums: dict[int, str] = dict(shown.tuples())
    shown = Photo.select(Photo.id, Photo.sha1).where(Photo.id.in_(Share.select(Share.photo)))
    photos: dict[int, str] = dict(shown.tuples())
    creators: Any = User.select(User.id, User.name)
    users: dict[int, str] = dict(creators.tuples())
    out = []
    for share in Share.select().order_by(Share.id):
        out.append({"key": share.token if is_restored(share) else token_key(share.token),
                    "album": albums.get(share.album_id), "photo": photos.get(share.photo_id),
                    "created_by": users.get(share.created_by_id),
                    "created_at": _when(share.created_at), "expires_at": _when(share.expires_at),
                    "revoked_at": _when(share.revoked_at), "password_hash": share.password_hash,
                    "download": bool(share.allow_download)})
    return out


def _date(row: dict[str, Any], name: str) -> dt.datetime | None:
    value = row.get(name)
    if value in (None, ""):
        return None
    try:
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        raise ShareError(f"{name} {value!r} is not a date") from None


def restore_rows(rows: list[Any], source: str) -> int:
    """Bring back the links of the accounts file (`rows`, from `source`) that the catalog lacks: each to its album
    (by uid) or photo (by content hash); one whose album or photo is not in the catalog is left out, with a
    warning. Run it once the photos and albums are back (photoshelf restore: after the sidecars). Returns how
    many came back."""
    have = {s.token if is_restored(s) else token_key(s.token) for s in Share.select(Share.token)}
    added = 0
    for row in rows:
        if not isinstance(row, dict):
            continue
        key = str(row.get("key") or "")
        if not KEY_RE.fullmatch(key):
            log.warning("%s: skipped a share link without a valid key", source)
            continue
        if key in have:
            continue
        album = Album.get_or_none(Album.uid == str(row["album"])) if row.get("album") else None
        photo = Photo.get_or_none(Photo.sha1 == str(row["photo"])) if row.get("photo") else None
        if (album is None) == (photo is None):
            what = f"album {row.get('album')}" if row.get("album") else f"photo {row.get('photo')}"
            log.warning("%s: share link %s… not restored: its %s is not in the catalog", source, key[7:13], what)
            continue
        password_hash = row.get("password_hash") or None
        if password_hash is not None and not str(password_hash).startswith("$argon2"):
            log.warning("%s: share link %s… not restored: its password hash is not argon2", source, key[7:13])
            continue
        creator = User.get_or_none(User.name == str(row["created_by"])) if row.get("created_by") else None
        try:
            dates = {name: _date(row, name) for name in ("created_at", "expires_at", "revoked_at")}
        except ShareError as exc:
            log.warning("%s: share link %s… not restored: %s", source, key[7:13], exc)
            continue
        Share.create(token=key, album=album.id if album else None, photo=photo.id if photo else None,
                     created_by=creator.id if creator else None, created_at=dates["created_at"] or utcnow(),
                     expires_at=dates["expires_at"], revoked_at=dates["revoked_at"], password_hash=password_hash,
                     allow_download=bool(row.get("download")))
        have.add(key)
        added += 1
    return added


__all__ = ["ShareError", "backup_rows", "check_password", "count_view", "create_share", "describe", "get_share",
           "is_restored", "list_shares", "parse_duration", "resolve", "restore_rows", "revoke", "share_photos",
           "share_url", "shows_photo", "state", "token_key"]
