"""Share links: an album or one photo shown to whoever holds an unguessable token, optionally with a password,
an expiry and the right to download originals. A revoked or expired link is gone (HTTP 410), an unknown one
not found (404)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from photoshelf import accounts
from photoshelf.db.schema import Album, AlbumPhoto, Photo, Share, User, utcnow
from photoshelf.errors import Gone, NotFound, PhotoshelfError

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
DURATION_RE = re.compile(r"(\d{1,5})\s*([hdwmy]?)")
UNIT_DAYS = {"h": 1 / 24, "d": 1, "": 1, "w": 7, "m": 30, "y": 365}


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
    return Share.create(
        token=new_token(), album=album.id if album else None, photo=photo.id if photo else None,
        created_by=created_by.id if created_by else None,
        expires_at=utcnow() + expires if expires is not None else None,
        password_hash=password_hash, allow_download=download)


def list_shares(created_by: User | None = None) -> list[Share]:
    query = Share.select().order_by(Share.created_at.desc(), Share.id.desc())
    if created_by is not None:
        query = query.where(Share.created_by == created_by.id)
    return list(query)


def get_share(token: str) -> Share:
    """The share with this token, whatever its state (NotFound when there is none)."""
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        raise NotFound("no such share link")
    share = Share.get_or_none(Share.token == token)
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
    """The active share behind a token: NotFound for an unknown token, Gone for a revoked or expired one."""
    share = get_share(token)
    what = state(share)
    if what != "active":
        raise Gone(f"this share link has {'been revoked' if what == 'revoked' else 'expired'}")
    return share


def revoke(token: str) -> Share:
    share = get_share(token)
    if share.revoked_at is None:
        Share.update(revoked_at=utcnow()).where(Share.id == share.id).execute()
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
    return {
        "token": share.token,
        "url": share_url(share.token, base_url),
        "album": album.uid if album else None,
        "album_title": album.title if album else None,
        "photo": share.photo_id,
        "created_by": creator.name if creator else None,
        "created_at": share.created_at.isoformat(timespec="seconds") + "Z" if share.created_at else None,
        "expires_at": share.expires_at.isoformat(timespec="seconds") + "Z" if share.expires_at else None,
        "password": bool(share.password_hash),
        "download": bool(share.allow_download),
        "state": state(share),
        "views": share.views,
    }


def share_url(token: str, base_url: str = "") -> str:
    return f"{base_url.rstrip('/')}/s/{token}" if base_url else f"/s/{token}"


def count_view(share: Share) -> None:
    Share.update(views=Share.views + 1).where(Share.id == share.id).execute()


__all__ = ["ShareError", "check_password", "count_view", "create_share", "describe", "get_share", "list_shares",
           "parse_duration", "resolve", "revoke", "share_photos", "share_url", "shows_photo", "state"]
