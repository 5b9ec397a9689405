"""One photo as the viewer shows it, and the user's edits: flags, title and description, rotation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from photoshelf import ids, values
from photoshelf.db.changes import change_photos
from photoshelf.db.schema import Album, AlbumPhoto, Photo, PhotoEdit, lock_fields, utcnow
from photoshelf.errors import NotFound
from photoshelf.records import records
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.listing import Scope, neighbours, rotations
from photoshelf.viewer.urls import thumb_url, url
from photoshelf.visibility import Audience, can_see, visible

FLAGS = ("favorite", "private", "archived")
TEXTS = {"title": values.TITLE, "description": values.DESCRIPTION}  # the indexer's caps
ROTATIONS = (0, 90, 180, 270)


def get_photo(photo_id: int | str, audience: Audience) -> Photo:
    """A photo by id (or uid) that `audience` may see; one it may not see is "no photo", like one that does not
    exist, so ids cannot be probed. Archived photos count as seen here: their pages are the archive view's."""
    text = str(photo_id)
    number = ids.parse_id(photo_id)
    photo = Photo.get_or_none(Photo.id == number) if number is not None else None
    if photo is None and not text.isdigit():
        photo = Photo.get_or_none(Photo.uid == text)
    if photo is None or not can_see(photo, audience):
        raise NotFound(f"no photo {text}")
    return photo


def viewer_records(photos: list[Photo], audience: Audience) -> list[dict[str, Any]]:
    """`photoshelf export` records, plus what a client of the viewer needs: the user's rotation and URLs. A
    stack lists only the members `audience` may open (a private RAW beside a shared JPEG is not told of)."""
    rots = rotations(p.id for p in photos)
    out = []
    found = records(photos)
    members = {m["id"] for r in found if r["stack"] for m in r["stack"]["members"]}
    if members:
        query: Any = visible(Photo.select(Photo.id).where(Photo.id.in_(sorted(members))), audience, archive_view=True)
        shown = {pid for (pid,) in query.tuples()}
        for r in found:
            if r["stack"]:
                r["stack"]["members"] = [m for m in r["stack"]["members"] if m["id"] in shown]
    for photo, record in zip(photos, found, strict=True):
        record["rotation"] = rots.get(photo.id, 0)
        record["urls"] = {
            "tile": thumb_url(photo.sha1, "tile") if photo.has_thumbs else None,
            "fit": thumb_url(photo.sha1, "fit") if photo.has_thumbs else None,
            "preview": thumb_url(photo.sha1, "preview"),
            "original": url(f"/photos/{photo.id}/original"),
            "page": url(f"/photos/{photo.id}"),
        }
        out.append(record)
    return out


def detail(photo_id: int, text: str, scope: Scope) -> dict[str, Any]:
    """Everything the photo page shows: the record, its neighbours in the listing (`scope.audience`'s), its albums."""
    photo = get_photo(photo_id, scope.audience)
    record = viewer_records([photo], scope.audience)[0]
    newer, older = neighbours(photo, text, scope)
    albums = [{"id": a.id, "uid": a.uid, "title": a.title} for a in
              Album.select().join(AlbumPhoto).where(AlbumPhoto.photo == photo.id).order_by(Album.title)]
    members = []
    if record["stack"]:
        member_ids = [m["id"] for m in record["stack"]["members"] if m["id"] != photo.id]
        members = viewer_records(list(visible(Photo.select().where(Photo.id.in_(member_ids)), scope.audience,
                                              archive_view=True).order_by(Photo.id)), scope.audience) \
            if member_ids else []
    return {"photo": record, "prev": newer, "next": older, "albums": albums, "stack_members": members}


def _check(changes: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key in FLAGS:
            if not isinstance(value, bool):
                raise InvalidInput(f"{key} must be true or false, got {value!r}")
            clean[key] = value
        elif key in TEXTS:
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"{key} must be text or null, got {value!r}")
            value = values.clean(value, one_line=key == "title")  # no control characters, as from files
            if value is not None and len(value) > TEXTS[key]:
                raise InvalidInput(f"{key} is longer than {TEXTS[key]} characters")
            clean[key] = value
        elif key == "rotation":
            if isinstance(value, bool) or not isinstance(value, int) or value % 360 not in ROTATIONS:
                raise InvalidInput(f"rotation must be 0, 90, 180 or 270 degrees, got {value!r}")
            clean[key] = value % 360
        elif key == "rotate":
            if value not in ("left", "right"):
                raise InvalidInput(f"rotate must be 'left' or 'right', got {value!r}")
            clean[key] = value
        else:
            raise InvalidInput(f"unknown field {key!r} (editable: {', '.join((*FLAGS, *TEXTS, 'rotation'))})")
    return clean


def update(photo_id: int, changes: Mapping[str, Any], audience: Audience) -> dict[str, Any]:
    """Apply the user's edits (run it in the writer). Rotation goes to photo_edit: the original is never touched."""
    clean = _check(changes)
    photo = get_photo(photo_id, audience)
    if "private" in clean and not (audience.is_admin or (photo.owner is not None and photo.owner == audience.user_id)):
        # Private means "only its owner (and admins) see it": nobody hides someone else's photo from them.
        raise InvalidInput("only the photo's owner or an admin can make it private or not")
    fields = {k: v for k, v in clean.items() if k in FLAGS or k in TEXTS}
    texts = [k for k in fields if k in TEXTS]
    if texts:
        # Typed by a person: re-indexing the file (or its XMP sidecar) must not overwrite it.
        fields["locked"] = lock_fields(photo, *texts)
    if fields:
        change_photos(Photo.id == photo.id, **fields)
    if "rotation" in clean or "rotate" in clean:
        edit = PhotoEdit.get_or_none(PhotoEdit.photo == photo.id)
        current = edit.rotation if edit else 0
        if "rotate" in clean:
            target = (current + (90 if clean["rotate"] == "right" else 270)) % 360
        else:
            target = clean["rotation"]
        if edit is None:
            PhotoEdit.create(photo=photo.id, rotation=target)
        else:
            PhotoEdit.update(rotation=target, updated_at=utcnow()).where(PhotoEdit.id == edit.id).execute()
    return viewer_records([get_photo(photo_id, audience)], audience)[0]
