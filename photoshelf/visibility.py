"""Who sees which photos: one audience per request and the one WHERE clause every photo query of the viewer adds.

The rules (issue #11):
- an admin sees every photo; a member or a viewer sees every photo that is not private, and their own private
  photos (`Photo.owner` is the user; NULL means the first admin's, who sees everything anyway);
- archived photos show only where a listing asks for them (the archive view, `archived:` in a search) and on the
  pages of single photos reached from there, and only to members and admins;
- public mode (`auth.mode = "public"`) never shows a private or an archived photo;
- a share link shows only what was shared: the album's photos, or the one photo, and never a private or an
  archived one, whoever made the link (shares.create refuses those; this keeps a photo made private later out);
- nobody else (no session, no share) sees anything;
- a name (a folder, an album, a person) that holds photos, all of them ones the audience may not open, is not
  shown at all and its page is not found (known()): it would tell that they exist. Counts and covers come
  only from the photos a listing shows (condition()).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, cast

import peewee as pw

from photoshelf.db.schema import AlbumPhoto, Photo

ROLES_WITH_ARCHIVE = ("admin", "member")
Select = TypeVar("Select")  # a peewee ModelSelect of any model (peewee's stubs make each model's its own type)


@dataclass(frozen=True)
class Audience:
    """Whom a request shows photos to. Hashable: listing caches keep a ranking per audience."""

    user_id: int | None = None
    role: str | None = None  # "admin" | "member" | "viewer"; None for public mode, a share, or nobody
    public: bool = False
    share_id: int | None = None
    share_album_id: int | None = None
    share_photo_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_archive(self) -> bool:
        return self.role in ROLES_WITH_ARCHIVE

    @property
    def anyone(self) -> bool:
        """Whether this audience may see photos at all (a user, public mode or a share)."""
        return self.role is not None or self.public or self.share_id is not None


NOBODY = Audience()  # what a request without a session or a share sees: nothing
PUBLIC = Audience(public=True)
# For code that is not a request (the CLI, tests that need everything): sees what an admin sees.
EVERYONE = Audience(role="admin")


def for_user(user_id: int, role: str) -> Audience:
    return Audience(user_id=user_id, role=role)


def for_share(share: Any) -> Audience:
    """The audience of a share link (a shares.Share row)."""
    return Audience(share_id=share.id, share_album_id=share.album_id, share_photo_id=share.photo_id)


def condition(audience: Audience, *, archive_view: bool = False) -> Any:
    """The peewee expression on Photo's columns that keeps only what `audience` may see.

    `archive_view`: the caller lists the archive (or opens a single photo, which may be archived); elsewhere
    archived photos are left out for everyone."""
    if not audience.anyone:
        return Photo.id.is_null()  # a primary key is never NULL: no rows
    hidden_flags = Photo.private == False  # noqa: E712 - peewee expression
    if audience.share_id is not None:
        if audience.share_album_id is not None:
            shown = Photo.id.in_(AlbumPhoto.select(AlbumPhoto.photo).where(AlbumPhoto.album == audience.share_album_id))
        elif audience.share_photo_id is not None:
            shown = Photo.id == audience.share_photo_id
        else:
            return Photo.id.is_null()
        return shown & hidden_flags & (Photo.archived == False)  # noqa: E712
    cond: Any = None
    if audience.public:
        cond = hidden_flags
    elif not audience.is_admin:
        cond = hidden_flags | (Photo.owner == audience.user_id)
    if not (archive_view and audience.sees_archive):
        archived = Photo.archived == False  # noqa: E712
        cond = archived if cond is None else (cond & archived)
    return cond if cond is not None else Photo.id.is_null(False)


def visible(select: Select, audience: Audience, *, archive_view: bool = False) -> Select:
    """`select` (whose FROM or joins include Photo) narrowed to the photos `audience` may see."""
    return cast(Select, cast(Any, select).where(condition(audience, archive_view=archive_view)))


def known(audience: Audience) -> Any:
    """An aggregate column for a GROUP BY over photos (Photo joined): 1 when the group holds a photo `audience`
    may open (archived ones included for those who see the archive), else 0. A group whose photos all answer 0
    is hidden from `audience`, name and all; a group with no photos at all has no row (it hides nothing)."""
    return pw.fn.MAX(pw.Case(None, ((condition(audience, archive_view=True), 1),), 0))


def known_groups(key: Any, rows: Any, audience: Audience) -> dict[Any, bool]:
    """For each value of `key` (a column of `rows`, a select that joins Photo) that has photos: whether one of
    them is a photo `audience` may open (known())."""
    return {group: bool(seen) for group, seen in rows.select(key, known(audience)).group_by(key).tuples()}


def hidden_groups(key: Any, rows: Any, audience: Audience) -> set[Any]:
    """The values of `key` whose photos are all ones `audience` may not open: the folders, albums or people to
    leave out, name and all (none for an admin, who may open every photo: no query then)."""
    if hides_nothing(audience):
        return set()
    return {group for (group,) in rows.select(key).group_by(key).having(known(audience) == 0).tuples()}


def hides_nothing(audience: Audience) -> bool:
    """Whether `audience` may open every photo there is (an admin: archived ones too), so no name is hidden."""
    return audience.is_admin


def can_see(photo: Photo, audience: Audience, *, archive_view: bool = True) -> bool:
    """The same rules for a photo row already loaded (no query, except for an album share)."""
    return sees(audience, photo.id, private=bool(photo.private), archived=bool(photo.archived),
                owner=photo.owner, archive_view=archive_view)


def sees(audience: Audience, photo_id: int, *, private: bool, archived: bool, owner: int | None,
         archive_view: bool = True) -> bool:
    """condition() on one photo's flags, in Python: the thumbnail hot path looks up only these columns."""
    if not audience.anyone:
        return False
    if audience.share_id is not None:
        if private or archived:
            return False
        if audience.share_photo_id is not None:
            return photo_id == audience.share_photo_id
        if audience.share_album_id is None:
            return False
        return AlbumPhoto.select().where((AlbumPhoto.album == audience.share_album_id)
                                         & (AlbumPhoto.photo == photo_id)).exists()
    if archived and not (archive_view and audience.sees_archive):
        return False
    if private:
        return not audience.public and (audience.is_admin or (owner is not None and owner == audience.user_id))
    return True
