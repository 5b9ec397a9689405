"""Catalog tables (peewee models) bound to a database proxy that backends.py initialises."""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

database_proxy = pw.DatabaseProxy()


def utcnow() -> dt.datetime:
    """Naive UTC now: the catalog stores every instant as naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PreciseDateTimeField(pw.DateTimeField):
    """A datetime kept to the microsecond on every backend (MariaDB's plain DATETIME drops sub-seconds, which
    order burst shots). backends.py maps the DATETIME6 type name per database."""

    field_type = "DATETIME6"


class BaseModel(pw.Model):
    # peewee adds these at run time (a field on the class, a value on rows); declared for the type checker.
    id: Any

    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = pw.IntegerField()
    applied_at = pw.DateTimeField(default=utcnow)


class Folder(BaseModel):
    """A folder of the originals tree, relative to the originals root ('' is the root)."""

    parent_id: Any

    path = pw.TextField()  # for display, as file.path (a name that is not UTF-8 decoded: photoshelf/filenames.py)
    path_hash = pw.CharField(max_length=40, unique=True)  # SHA-1 of the path's bytes
    parent = pw.ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL")
    name = pw.TextField(default="")
    missing_since = pw.DateTimeField(null=True)
    scanned_at = pw.DateTimeField(null=True)


class Stack(BaseModel):
    """Photos shown as one: RAW+JPEG, a Live Photo's still and motion, an original and its edits."""

    kind = pw.CharField(max_length=16)  # raw | live | edit | variant
    key = pw.CharField(max_length=80, unique=True)  # folder id + normalised base name
    # A plain id, not a foreign key: Stack and Photo point at each other, and SQLite cannot add the
    # constraint after both tables exist.
    primary_photo_id = pw.IntegerField(null=True)


class Photo(BaseModel):
    """One distinct content (by SHA-1); several files with the same bytes are exact duplicates of it."""

    stack_id: Any

    uid = pw.CharField(max_length=24, unique=True)
    sha1 = pw.CharField(max_length=40, unique=True)
    kind = pw.CharField(max_length=8, index=True)  # image | raw | video | live
    mime = pw.CharField(max_length=64, default="")
    format = pw.CharField(max_length=16, default="")
    size = pw.BigIntegerField(default=0)
    width = pw.IntegerField(null=True)
    height = pw.IntegerField(null=True)
    orientation = pw.SmallIntegerField(default=1)
    taken_at = PreciseDateTimeField(null=True, index=True)
    taken_at_local = PreciseDateTimeField(null=True, index=True)
    tz_offset = pw.SmallIntegerField(null=True)  # minutes east of UTC, when known
    timezone = pw.CharField(max_length=64, null=True)
    taken_src = pw.CharField(max_length=24, default="")
    lat = pw.DoubleField(null=True)
    lon = pw.DoubleField(null=True)
    altitude = pw.DoubleField(null=True)
    # Where lat/lon are, by offline reverse geocoding (indexer/places.py): ISO 3166 code, English country name,
    # first-level division (state) and nearest town; NULL without a position.
    country_code = pw.CharField(max_length=2, null=True, index=True)
    country = pw.CharField(max_length=64, null=True)
    state = pw.CharField(max_length=128, null=True)
    city = pw.CharField(max_length=128, null=True, index=True)
    camera_make = pw.CharField(max_length=64, null=True)
    camera_model = pw.CharField(max_length=128, null=True, index=True)
    lens = pw.CharField(max_length=128, null=True)
    iso = pw.IntegerField(null=True)
    exposure = pw.CharField(max_length=24, null=True)
    fnumber = pw.FloatField(null=True)
    focal_length = pw.FloatField(null=True)
    duration = pw.FloatField(null=True)
    codec = pw.CharField(max_length=32, null=True)
    title = pw.TextField(null=True)
    description = pw.TextField(null=True)
    keywords = pw.TextField(null=True)
    rating = pw.SmallIntegerField(null=True)
    content_id = pw.CharField(max_length=64, null=True, index=True)  # Apple ContentIdentifier (Live Photos)
    phash = pw.CharField(max_length=16, null=True, index=True)
    # The second look for near-duplicates (photoshelf/dupsig.py, migration 12): a dHash of the whole frame and
    # a 3×3 colour layout; "" when the thumbnail could not be read. And, once a person resolved a duplicate
    # group, the photo this one is a copy of (a plain id: the keeper may be purged; it is archived meanwhile).
    dhash = pw.CharField(max_length=16, null=True)
    colors = pw.CharField(max_length=54, null=True)
    duplicate_of = pw.IntegerField(null=True, index=True)
    stack = pw.ForeignKeyField(Stack, null=True, backref="photos", on_delete="SET NULL")
    has_thumbs = pw.BooleanField(default=False)
    favorite = pw.BooleanField(default=False)
    private = pw.BooleanField(default=False)
    archived = pw.BooleanField(default=False)
    missing_since = pw.DateTimeField(null=True, index=True)
    meta_version = pw.SmallIntegerField(default=0)
    # Fields a person set by hand (comma-separated: title,description,keywords,rating,taken_at,location);
    # the indexer keeps their values when it reads the file again. See lock_fields().
    locked = pw.CharField(max_length=255, default="")
    # The user who owns the photo (who uploaded it over WebDAV); NULL: the first admin's (migration 9). A plain
    # id, not a foreign key: removing a user hands their photos back to the first admin (accounts.remove_user).
    owner = pw.IntegerField(null=True, index=True, column_name="owner_id")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        only_save_dirty = True  # save() writes the columns that changed, not all forty
        # For the map (migration 6, which also adds the timeline's index: its columns differ per database).
        # Every listing asks for `missing_since IS NULL`, so it starts with that: the map clusters and bounds
        # read this index alone instead of every wide photo row (and SQLite, without statistics, does not take
        # the bare missing_since index for a selective one).
        indexes = ((("missing_since", "lat", "lon", "archived", "private", "stack"), False),)


def lock_fields(photo: Photo, *names: str) -> str:
    """The photo's `locked` value with `names` added (call it wherever a person edits those fields)."""
    have = [n for n in (photo.locked or "").split(",") if n]
    return ",".join(have + [n for n in names if n not in have])


class File(BaseModel):
    """A path under the originals. Media files point at their Photo; sidecar files at the photo they describe."""

    folder_id: Any
    photo_id: Any

    path = pw.TextField()  # for display: a name that is not UTF-8 decoded as CP1252/CP437 (photoshelf/filenames.py)
    raw_path = pw.TextField(null=True)  # such a path's bytes, percent-escaped; NULL when `path` is exact
    path_hash = pw.CharField(max_length=40, unique=True)  # SHA-1 of the path's bytes
    folder = pw.ForeignKeyField(Folder, backref="files", on_delete="CASCADE")
    name = pw.TextField()
    role = pw.CharField(max_length=8, default="media")  # media | sidecar
    photo = pw.ForeignKeyField(Photo, null=True, backref="files", on_delete="SET NULL")
    size = pw.BigIntegerField()
    mtime_ns = pw.BigIntegerField()
    inode = pw.BigIntegerField(default=0)
    sha1 = pw.CharField(max_length=40, null=True, index=True)
    error = pw.TextField(null=True)  # why this file is not in the library, when it is not
    missing_since = pw.DateTimeField(null=True, index=True)
    indexed_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("size", "mtime_ns"), False),)


class IndexIssue(BaseModel):
    """A problem met while indexing one file: fatal (the file has no photo) or a warning (e.g. no thumbnail)."""

    file_id: Any

    file = pw.ForeignKeyField(File, backref="issues", on_delete="CASCADE")
    stage = pw.CharField(max_length=16)  # read | metadata | thumbnail | video
    severity = pw.CharField(max_length=8)  # error | warning
    reason = pw.TextField()
    created_at = pw.DateTimeField(default=utcnow)


class Thumbnail(BaseModel):
    """A cached rendition under storage/thumbs, named by the photo's content hash and size."""

    photo_id: Any

    photo = pw.ForeignKeyField(Photo, backref="thumbnails", on_delete="CASCADE")
    size = pw.CharField(max_length=8)  # tile | fit | preview
    width = pw.IntegerField()
    height = pw.IntegerField()
    format = pw.CharField(max_length=8)
    bytes = pw.IntegerField()
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("photo", "size"), True),)


class Job(BaseModel):
    """Durable work: a row survives a crash, so work is resumed rather than lost."""

    kind = pw.CharField(max_length=24, index=True)
    key = pw.CharField(max_length=191, null=True)
    payload = pw.TextField(default="{}")
    state = pw.CharField(max_length=8, default="queued", index=True)  # queued | running | done | failed
    priority = pw.SmallIntegerField(default=0)
    attempts = pw.SmallIntegerField(default=0)
    error = pw.TextField(null=True)
    progress = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    run_after = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kind", "key"), False),)


class Setting(BaseModel):
    """Small key/value state the daemon keeps (last scan, heartbeat)."""

    key = pw.CharField(max_length=64, primary_key=True)
    value = pw.TextField()


ALL_TABLES: list[type[BaseModel]] = [SchemaVersion, Folder, Stack, Photo, File, IndexIssue, Thumbnail, Job, Setting]


# --- Viewer tables (migration 2): albums and the user's non-destructive edits. ---


class Album(BaseModel):
    """A manual album: photos a person put together, in the order they chose."""

    cover_id: Any

    uid = pw.CharField(max_length=24, unique=True)
    title = pw.CharField(max_length=255)
    description = pw.TextField(default="")
    cover = pw.ForeignKeyField(Photo, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class AlbumPhoto(BaseModel):
    """A photo in an album, at a position (gaps allowed; ordering is by position, then id)."""

    album_id: Any
    photo_id: Any

    album = pw.ForeignKeyField(Album, backref="entries", on_delete="CASCADE")
    photo = pw.ForeignKeyField(Photo, backref="album_entries", on_delete="CASCADE")
    position = pw.IntegerField(default=0)
    added_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("album", "photo"), True), (("album", "position"), False))


class PhotoEdit(BaseModel):
    """The user's non-destructive edits of a photo, kept in the catalog and never written to the original.

    `rotation` (0, 90, 180, 270 degrees clockwise) is applied on top of the file's own orientation."""

    photo_id: Any

    photo = pw.ForeignKeyField(Photo, unique=True, backref="edits", on_delete="CASCADE")
    rotation = pw.SmallIntegerField(default=0)
    updated_at = pw.DateTimeField(default=utcnow)


VIEWER_TABLES: list[type[BaseModel]] = [Album, AlbumPhoto, PhotoEdit]


class SidecarState(BaseModel):
    """What photoshelf last wrote to a photo's sidecar (a digest of the content), so an unchanged photo costs
    no file read at all on the next pass."""

    photo_id: Any

    photo = pw.ForeignKeyField(Photo, unique=True, on_delete="CASCADE")
    digest = pw.CharField(max_length=40)
    written_at = pw.DateTimeField(default=utcnow)


SIDECAR_TABLES: list[type[BaseModel]] = [SidecarState]


# --- Machine learning tables (migration 3): faces and people, labels, embeddings, per-photo stage versions. ---


class Person(BaseModel):
    """A cluster of faces; it becomes a person when someone names it. Unnamed clusters are made by clustering."""

    uid = pw.CharField(max_length=24, unique=True)
    name = pw.CharField(max_length=255, null=True, index=True)
    hidden = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class Face(BaseModel):
    """A face found in a photo: its box (fractions of the upright image), detector score and person, if any.

    The 128-d embedding lives in the vector index (space "face:<model>", item id = this face's id)."""

    photo_id: Any
    person_id: Any

    photo = pw.ForeignKeyField(Photo, backref="faces", on_delete="CASCADE")
    x = pw.FloatField()
    y = pw.FloatField()
    w = pw.FloatField()
    h = pw.FloatField()
    score = pw.FloatField(default=0.0)
    person = pw.ForeignKeyField(Person, null=True, backref="faces", on_delete="SET NULL")
    # Who put the face in its person: "auto" (clustering may move it) or "user" (clustering never does).
    assigned_by = pw.CharField(max_length=8, null=True)
    model = pw.CharField(max_length=32)
    created_at = pw.DateTimeField(default=utcnow)


class FaceReject(BaseModel):
    """"Not this person": the face never joins that person again, whatever clustering thinks."""

    face_id: Any
    person_id: Any

    face = pw.ForeignKeyField(Face, on_delete="CASCADE")
    person = pw.ForeignKeyField(Person, on_delete="CASCADE")

    class Meta:
        indexes = ((("face", "person"), True),)


class PhotoLabel(BaseModel):
    """A label on a photo (dog, beach…) with its category, confidence and where it came from."""

    photo_id: Any

    photo = pw.ForeignKeyField(Photo, backref="labels", on_delete="CASCADE")
    name = pw.CharField(max_length=64, index=True)
    category = pw.CharField(max_length=64, default="")
    categories = pw.CharField(max_length=255, default="")  # ",animal,pet," for the label: filter
    confidence = pw.FloatField(default=0.0)
    source = pw.CharField(max_length=16)  # imagenet | clip | user
    model = pw.CharField(max_length=48, default="")

    class Meta:
        indexes = ((("photo", "name"), True),)


class Vector(BaseModel):
    """An embedding in a vector space ("clip:ViT-B-32__openai", "text:minilm", "face:dlib"), float32 bytes.

    The item is a photo id, or a face id for face spaces. On SQLite, sqlite-vec tables mirror these rows."""

    space = pw.CharField(max_length=48)
    item_id = pw.IntegerField()
    vector = pw.BlobField()

    class Meta:
        indexes = ((("space", "item_id"), True),)


class PhotoStage(BaseModel):
    """Which version of an enrichment stage (faces, labels, text, clip) last ran on a photo, and its result."""

    photo_id: Any

    photo = pw.ForeignKeyField(Photo, on_delete="CASCADE")
    stage = pw.CharField(max_length=16)
    version = pw.CharField(max_length=48)
    digest = pw.CharField(max_length=40, null=True)  # what the stage read, when that can change (text index)
    error = pw.TextField(null=True)
    done_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("photo", "stage"), True), (("stage", "version"), False))


class Lookalike(BaseModel):
    """Two photos whose CLIP image embeddings are nearly the same (a near-duplicate hint: a resized or re-encoded
    copy, a burst), stored once with lo < hi, and the model whose space measured the similarity (migration 8)."""

    lo_id: Any
    hi_id: Any

    lo = pw.ForeignKeyField(Photo, backref="+", on_delete="CASCADE")
    hi = pw.ForeignKeyField(Photo, backref="+", on_delete="CASCADE")
    similarity = pw.FloatField()
    model = pw.CharField(max_length=48)

    class Meta:
        indexes = ((("lo", "hi"), True),)


ML_TABLES: list[type[BaseModel]] = [Person, Face, FaceReject, PhotoLabel, Vector, PhotoStage, Lookalike]


class PhotoText(BaseModel):
    """The text the OCR stage read in a photo (migration 14): one row per photo that has any, the lines joined
    by newlines in `text` (what `text:` and free text search), and each line with its confidence in `lines`."""

    photo_id: Any

    photo = pw.ForeignKeyField(Photo, backref="+", on_delete="CASCADE", unique=True)
    text = pw.TextField()
    lines = pw.TextField()  # JSON: [[line, confidence], ...] in reading order
    model = pw.CharField(max_length=48, default="")


OCR_TABLES: list[type[BaseModel]] = [PhotoText]


# --- Accounts (migration 9): users, their login sessions, failed logins, share links. ---


class User(BaseModel):
    """A person who logs in to the viewer or WebDAV: admin (everything), member (browse, edit, upload), viewer."""

    name = pw.CharField(max_length=64, unique=True)
    role = pw.CharField(max_length=8)  # admin | member | viewer
    password_hash = pw.CharField(max_length=255)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = PreciseDateTimeField(default=utcnow)  # moves on every password or role change
    last_login_at = pw.DateTimeField(null=True)


class UserSession(BaseModel):
    """A login: the SHA-256 of the opaque token the browser holds (in a signed cookie), so a copy of the catalog
    does not hand out live sessions."""

    user_id: Any

    token_hash = pw.CharField(max_length=64, unique=True)
    user = pw.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = pw.DateTimeField(default=utcnow)
    last_seen = pw.DateTimeField(default=utcnow)
    ip = pw.CharField(max_length=64, default="")
    user_agent = pw.CharField(max_length=255, default="")


class LoginFailure(BaseModel):
    """A failed login (web, API or WebDAV), counted per client address and per user name for rate limiting; kept
    in the catalog so several viewer processes share the counts."""

    ip = pw.CharField(max_length=64, index=True)
    name = pw.CharField(max_length=64, index=True)
    at = pw.DateTimeField(default=utcnow, index=True)


class Share(BaseModel):
    """A share link: an album or one photo, shown to whoever holds the token (optionally with a password)."""

    album_id: Any
    photo_id: Any
    created_by_id: Any

    token = pw.CharField(max_length=64, unique=True)
    album = pw.ForeignKeyField(Album, null=True, backref="shares", on_delete="CASCADE")
    photo = pw.ForeignKeyField(Photo, null=True, backref="shares", on_delete="CASCADE")
    created_by = pw.ForeignKeyField(User, null=True, backref="shares", on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField(null=True)
    password_hash = pw.CharField(max_length=255, null=True)
    allow_download = pw.BooleanField(default=False)
    revoked_at = pw.DateTimeField(null=True)
    views = pw.IntegerField(default=0)


ACCOUNT_TABLES: list[type[BaseModel]] = [User, UserSession, LoginFailure, Share]
