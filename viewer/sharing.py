"""Share links as the viewer makes and shows them: who may make, list and revoke one, and what a link's visitor
sees (the shared album's photos or the one photo, through photoshelf.visibility's share audience)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from photoshelf import shares
from photoshelf.db.schema import Share
from photoshelf.viewer import albums, listing, photos
from photoshelf.viewer.errors import Forbidden, InvalidInput
from photoshelf.visibility import Audience, for_share

MAX_EXPIRY_DAYS = 3650
FIELDS = ("album", "photo", "expires_days", "password", "download")


def _expiry(value: Any) -> dt.timedelta | None:
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"expires_days must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or null "
                           f"(no expiry), got {value!r}")
    return dt.timedelta(days=value)


def create(body: dict[str, Any], user: Any, audience: Audience, base_url: str) -> dict[str, Any]:
    """A new link from the API's body {"album" | "photo", "expires_days"?, "password"?, "download"?} (run it in
    the writer). The photo must be one the creator sees, and neither private nor archived: a link never shows
    those (photoshelf.visibility), so one made for them would show nothing."""
    unknown = set(body) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown share field {sorted(unknown)[0]!r} (known: {', '.join(FIELDS)})")
    album_ref, photo_ref = body.get("album"), body.get("photo")
    if (album_ref is None) == (photo_ref is None):
        raise InvalidInput('say what to share: {"album": id or uid} or {"photo": id}')
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise InvalidInput("password must be text or null")
    download = body.get("download", False)
    if not isinstance(download, bool):
        raise InvalidInput(f"download must be true or false, got {download!r}")
    expires = _expiry(body.get("expires_days"))
    album = photo = None
    if album_ref is not None:
        if isinstance(album_ref, bool) or not isinstance(album_ref, (str, int)):
            raise InvalidInput(f"album must be an album's id or uid, got {album_ref!r}")
        album = albums.get_album(album_ref, audience)
    else:
        if isinstance(photo_ref, bool) or not isinstance(photo_ref, (str, int)):
            raise InvalidInput(f"photo must be a photo's id, got {photo_ref!r}")
        photo = photos.get_photo(photo_ref, audience)
        if photo.private or photo.archived:
            raise InvalidInput("a private or archived photo cannot be shared by link (a link never shows those)")
    share = shares.create_share(album=album, photo=photo, created_by=user, expires=expires,
                                password=password or None, download=download)
    return shares.describe(share, base_url)


def visible_shares(user: Any, base_url: str) -> list[dict[str, Any]]:
    """The links `user` may see and revoke: an admin's are all of them, anyone else's their own."""
    found = shares.list_shares(None if user.role == "admin" else user)
    return [shares.describe(s, base_url) for s in found]


def revoke(token: str, user: Any, base_url: str = "") -> dict[str, Any]:
    """Revoke a link (its creator or an admin; run it in the writer); its `url` starts with `base_url`."""
    share = shares.get_share(token)
    if user.role != "admin" and share.created_by_id != user.id:
        raise Forbidden("only the link's creator or an admin can revoke it")
    return shares.describe(shares.revoke(token), base_url)


def unlock_value(share: Share) -> str:
    """What a share's unlock cookie holds (signed): the token and a digest of the password hash, so a new
    password (or a new link) asks again."""
    digest = hashlib.sha256((share.password_hash or "").encode()).hexdigest()[:16]
    return f"{share.token}:{digest}"


def scope(share: Share) -> listing.Scope:
    """The listing a share shows: the album's photos (in album order) or the one photo."""
    who = for_share(share)
    if share.album_id is not None:
        return listing.Scope(album_id=share.album_id, audience=who)
    return listing.Scope(audience=who)


def album_page(share: Share, cursor: str | None, limit: int) -> dict[str, Any]:
    album = albums.get_album(share.album_id)
    result = listing.page("", cursor=cursor, limit=limit, scope=scope(share), with_count=cursor is None)
    return {"album": {"title": album.title, "description": album.description}, "page": result}


def photo_view(share: Share, photo_id: int, prefix: str) -> dict[str, Any]:
    """A photo of the share as its page shows it: the record with share-scoped URLs, and its neighbours in the
    share (NotFound for a photo the share does not show, whatever its id)."""
    where = scope(share)
    photo = photos.get_photo(photo_id, where.audience)
    record = photos.viewer_records([photo], where.audience)[0]
    base = f"{prefix}/photos/{photo.id}"
    record["urls"] = {
        "fit": f"{prefix}/thumb/fit/{photo.sha1}.jpg" if photo.has_thumbs else None,
        "preview": f"{prefix}/thumb/preview/{photo.sha1}.jpg",
        "original": f"{base}/original" if share.allow_download else None,
        "page": base,
    }
    newer, older = listing.neighbours(photo, "", where) if share.album_id is not None else (None, None)
    return {"photo": record, "prev": newer, "next": older}

