"""A PhotoPrism library as PhotoPrism leaves it, for the import tests: its database (the tables and columns of
photoprism/photoprism internal/entity/*.go at 382ffa8: photos, details, files, albums, photos_albums, labels,
photos_labels, subjects, markers; column types as their gorm tags declare them, which SQLite and MariaDB both take)
and its YAML sidecars (storage/sidecar/<path>.yml, as yaml.v2 marshals entity.Photo) and album files
(storage/albums/album/<uid>.yml, as internal/entity/testdata/album). The photos are files of tests/data/corpus."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import peewee as pw

from conftest import SMALL_CORPUS

# The columns the importer reads, and enough of the rest that the tables look like PhotoPrism's.
DDL = [
    """CREATE TABLE photos (id INTEGER PRIMARY KEY, uuid VARBINARY(64), taken_at DATETIME, taken_at_local DATETIME,
    taken_src VARBINARY(8), photo_uid VARBINARY(42) NOT NULL UNIQUE, photo_type VARBINARY(8) DEFAULT 'image',
    type_src VARBINARY(8), photo_title VARCHAR(200), title_src VARBINARY(8), photo_description VARCHAR(4096),
    description_src VARBINARY(8), photo_path VARBINARY(1024), photo_name VARBINARY(255), original_name VARBINARY(755),
    photo_stack TINYINT, photo_favorite BOOLEAN, photo_private BOOLEAN, photo_scan BOOLEAN, photo_panorama BOOLEAN,
    time_zone VARBINARY(64), place_id VARBINARY(42) DEFAULT 'zz', place_src VARBINARY(8), cell_id VARBINARY(42)
    DEFAULT 'zz', cell_accuracy INTEGER, photo_altitude INTEGER, photo_lat DOUBLE, photo_lng DOUBLE, photo_country
    VARBINARY(2) DEFAULT 'zz', photo_year INTEGER, photo_month INTEGER, photo_day INTEGER, photo_iso INTEGER,
    photo_exposure VARBINARY(64), photo_f_number FLOAT, photo_focal_length INTEGER, photo_quality SMALLINT,
    photo_faces INTEGER, photo_resolution SMALLINT, photo_duration BIGINT, photo_color SMALLINT, camera_id INTEGER
    DEFAULT 1, camera_serial VARBINARY(160), camera_src VARBINARY(8), lens_id INTEGER DEFAULT 1, created_by
    VARBINARY(42), created_at DATETIME, updated_at DATETIME, edited_at DATETIME, published_at DATETIME, checked_at
    DATETIME, estimated_at DATETIME, deleted_at DATETIME)""",
    """CREATE TABLE details (photo_id INTEGER PRIMARY KEY, keywords VARCHAR(2048), keywords_src VARBINARY(8),
    notes VARCHAR(2048), notes_src VARBINARY(8), subject VARCHAR(1024), subject_src VARBINARY(8), artist
    VARCHAR(1024), artist_src VARBINARY(8), copyright VARCHAR(1024), copyright_src VARBINARY(8), license
    VARCHAR(1024), license_src VARBINARY(8), software VARCHAR(1024), software_src VARBINARY(8), created_at DATETIME,
    updated_at DATETIME)""",
    """CREATE TABLE files (id INTEGER PRIMARY KEY, photo_id INTEGER, photo_uid VARBINARY(42), photo_taken_at DATETIME,
    time_index VARBINARY(64), media_id VARBINARY(32), media_utc BIGINT, instance_id VARBINARY(64), file_uid
    VARBINARY(42) UNIQUE, file_name VARBINARY(1024), file_root VARBINARY(16) DEFAULT '/', original_name
    VARBINARY(755), file_hash VARBINARY(128), file_size BIGINT, file_codec VARBINARY(32), file_type VARBINARY(16),
    media_type VARBINARY(16), file_mime VARBINARY(64), file_primary BOOLEAN, file_sidecar BOOLEAN, file_missing
    BOOLEAN, file_portrait BOOLEAN, file_video BOOLEAN, file_duration BIGINT, file_fps DOUBLE, file_frames INTEGER,
    file_width INTEGER, file_height INTEGER, file_orientation INTEGER, file_orientation_src VARBINARY(8) DEFAULT '',
    file_projection VARBINARY(64), file_aspect_ratio FLOAT, file_hdr BOOLEAN, file_watermark BOOLEAN,
    file_color_profile VARBINARY(64), file_main_color VARBINARY(16), file_colors VARBINARY(18), file_luminance
    VARBINARY(18), file_diff INTEGER, file_chroma SMALLINT, file_software VARCHAR(64), file_error VARBINARY(512),
    mod_time BIGINT, created_at DATETIME, created_in BIGINT, updated_at DATETIME, updated_in BIGINT, published_at
    DATETIME, deleted_at DATETIME)""",
    """CREATE TABLE albums (id INTEGER PRIMARY KEY, album_uid VARBINARY(42) UNIQUE, parent_uid VARBINARY(42) DEFAULT
    '', album_slug VARBINARY(160), album_path VARCHAR(1024), album_type VARBINARY(8) DEFAULT 'album', album_title
    VARCHAR(160), album_location VARCHAR(160), album_category VARCHAR(100), album_caption VARCHAR(1024),
    album_description VARCHAR(2048), album_notes VARCHAR(1024), album_filter VARBINARY(2048), album_order
    VARBINARY(32), album_template VARBINARY(255), album_state VARCHAR(100), album_country VARBINARY(2) DEFAULT 'zz',
    album_year INTEGER, album_month INTEGER, album_day INTEGER, album_favorite BOOLEAN, album_private BOOLEAN, thumb
    VARBINARY(128) DEFAULT '', thumb_src VARBINARY(8) DEFAULT '', created_by VARBINARY(42), created_at DATETIME,
    updated_at DATETIME, published_at DATETIME, deleted_at DATETIME)""",
    """CREATE TABLE photos_albums (photo_uid VARBINARY(42) NOT NULL, album_uid VARBINARY(42) NOT NULL, `order`
    INTEGER, hidden BOOLEAN, missing BOOLEAN, created_at DATETIME, updated_at DATETIME,
    PRIMARY KEY (photo_uid, album_uid))""",
    """CREATE TABLE labels (id INTEGER PRIMARY KEY, label_uid VARBINARY(42) UNIQUE, label_slug VARBINARY(160) UNIQUE,
    custom_slug VARBINARY(160), label_name VARCHAR(160), label_priority INTEGER, label_favorite BOOLEAN,
    label_description VARCHAR(2048), label_notes VARCHAR(1024), photo_count INTEGER DEFAULT 1, thumb VARBINARY(128)
    DEFAULT '', thumb_src VARBINARY(8) DEFAULT '', created_at DATETIME, updated_at DATETIME, published_at DATETIME,
    deleted_at DATETIME)""",
    """CREATE TABLE photos_labels (photo_id INTEGER NOT NULL, label_id INTEGER NOT NULL, label_src VARBINARY(8),
    uncertainty SMALLINT, PRIMARY KEY (photo_id, label_id))""",
    """CREATE TABLE subjects (subj_uid VARBINARY(42) PRIMARY KEY, subj_type VARBINARY(8) DEFAULT '', subj_src
    VARBINARY(8) DEFAULT '', subj_slug VARBINARY(160) DEFAULT '', subj_name VARCHAR(160) DEFAULT '', subj_alias
    VARCHAR(160) DEFAULT '', subj_about VARCHAR(512), subj_bio VARCHAR(2048), subj_notes VARCHAR(1024), subj_favorite
    BOOLEAN DEFAULT 0, subj_hidden BOOLEAN DEFAULT 0, subj_private BOOLEAN DEFAULT 0, subj_excluded BOOLEAN DEFAULT 0,
    file_count INTEGER DEFAULT 0, photo_count INTEGER DEFAULT 0, thumb VARBINARY(128) DEFAULT '', thumb_src
    VARBINARY(8) DEFAULT '', created_at DATETIME, updated_at DATETIME, deleted_at DATETIME)""",
    """CREATE TABLE markers (marker_uid VARBINARY(42) PRIMARY KEY, file_uid VARBINARY(42) DEFAULT '', marker_type
    VARBINARY(8) DEFAULT '', marker_src VARBINARY(8) DEFAULT '', marker_name VARCHAR(160), marker_review BOOLEAN,
    marker_invalid BOOLEAN, subj_uid VARBINARY(42), subj_src VARBINARY(8) DEFAULT '', face_id VARBINARY(64),
    face_dist DOUBLE DEFAULT -1, embeddings_json MEDIUMBLOB, landmarks_json MEDIUMBLOB, x FLOAT, y FLOAT, w FLOAT,
    h FLOAT, q INTEGER, size INTEGER DEFAULT -1, score SMALLINT, thumb VARBINARY(128) DEFAULT '', matched_at DATETIME,
    created_at DATETIME, updated_at DATETIME)""",
]

NOW = "2024-05-01 10:00:00"
CAT, DOG, UTAH, FAMILY, PNG = ("2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg",
                               "2022/Utah Roadtrip/thompson-springs.jpg", "Family/obama_and_biden.jpg",
                               "Misc/Formats/example.png")
CAT_COPY = "Backup/Old Phone/cat_brown copy.jpg"
# Where PhotoPrism's face markers are on Family/obama_and_biden.jpg (fractions of the image), and who they are.
OBAMA_BOX, BIDEN_BOX, STRANGER_BOX = (0.18, 0.2, 0.16, 0.24), (0.6, 0.15, 0.15, 0.22), (0.85, 0.7, 0.05, 0.07)


def sha1(rel: str) -> str:
    return hashlib.sha1((SMALL_CORPUS / rel).read_bytes()).hexdigest()


@dataclass
class Photo:
    id: int
    uid: str
    rel: str
    title: str = ""
    title_src: str = ""
    description: str = ""
    description_src: str = ""
    favorite: bool = False
    private: bool = False
    deleted_at: str | None = None
    taken_src: str = "meta"
    taken_at: str = "2016-08-27 08:06:19"
    place_src: str = "meta"
    lat: float = 0.0
    lng: float = 0.0
    hash: str | None = None  # None: the file's real SHA-1


PHOTOS = [
    Photo(1, "ps6sg6be2lvl0y11", CAT, "Kitty on the sofa", "manual", "Our first cat", "manual", favorite=True),
    Photo(2, "ps6sg6be2lvl0y12", DOG, "Dog / Germany / 2019", "", private=True, taken_at="2019-05-04 04:00:41"),
    Photo(3, "ps6sg6be2lvl0y13", UTAH, "Thompson Springs", "manual", deleted_at="2024-04-01 12:00:00",
          taken_src="manual", taken_at="2021-12-31 23:30:00", place_src="manual", lat=39.1, lng=-108.4),
    Photo(4, "ps6sg6be2lvl0y14", FAMILY, "", ""),
    Photo(5, "ps6sg6be2lvl0y15", "Deleted/gone.jpg", "Not here any more", "manual", hash="0" * 40),
    Photo(6, "ps6sg6be2lvl0y16", PNG, "A drawing", "manual", hash=""),  # no hash recorded: matched by path
]
ALBUMS = [  # uid, type, title, description, entries (photo uid, order, hidden)
    ("as6sg6bxpoaaaaaa", "album", "Pets", "Cats and dogs", [("ps6sg6be2lvl0y11", 1, False),
                                                            ("ps6sg6be2lvl0y12", 2, True),
                                                            ("ps6sg6be2lvl0y14", 3, False)]),
    ("as6sg6bxpoaaaaab", "month", "May 2019", "", [("ps6sg6be2lvl0y12", 0, False)]),
    ("as6sg6bxpoaaaaac", "folder", "Pets", "", [("ps6sg6be2lvl0y11", 0, False)]),
]


def _insert(db: pw.Database, table: str, row: dict[str, object]) -> None:
    quote = (lambda c: f"`{c}`") if not isinstance(db, pw.SqliteDatabase) else (lambda c: f'"{c}"')
    columns = ", ".join(quote(c) for c in row)
    marks = ", ".join([db.param] * len(row))
    db.execute_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))


def build_database(db: pw.Database) -> None:
    """PhotoPrism's tables and the rows PhotoPrism would have for PHOTOS and ALBUMS, on a connected `db`."""
    for statement in DDL:
        if not isinstance(db, pw.SqliteDatabase):  # gorm's primary_key uint: AUTO_INCREMENT on MariaDB
            statement = statement.replace("id INTEGER PRIMARY KEY,", "id INTEGER PRIMARY KEY AUTO_INCREMENT,")
        db.execute_sql(statement)
    for p in PHOTOS:
        path, _, name = p.rel.rpartition("/")
        _insert(db, "photos", dict(
            id=p.id, photo_uid=p.uid, taken_at=p.taken_at, taken_at_local=p.taken_at, taken_src=p.taken_src,
            photo_type="image", photo_title=p.title, title_src=p.title_src, photo_description=p.description,
            description_src=p.description_src, photo_path=path, photo_name=name.rsplit(".", 1)[0],
            photo_favorite=p.favorite, photo_private=p.private, place_src=p.place_src, photo_lat=p.lat,
            photo_lng=p.lng, photo_year=int(p.taken_at[:4]), photo_month=int(p.taken_at[5:7]), camera_id=1, lens_id=1,
            created_at=NOW, updated_at=NOW, deleted_at=p.deleted_at))
        file_hash = p.hash if p.hash is not None else sha1(p.rel)
        _insert(db, "files", dict(
            id=p.id * 10, photo_id=p.id, photo_uid=p.uid, file_uid=f"fs6sg6be2lvl0y{p.id:02d}", file_name=p.rel,
            file_root="/", file_hash=file_hash, file_size=0, file_type=p.rel.rsplit(".", 1)[1].lower(),
            file_primary=True, file_sidecar=False, file_missing=False, created_at=NOW, updated_at=NOW))
        # PhotoPrism's own JSON sidecar of the photo, under the sidecar root: never an original.
        _insert(db, "files", dict(
            id=p.id * 10 + 1, photo_id=p.id, photo_uid=p.uid, file_uid=f"fs6sg6be2lvl0z{p.id:02d}",
            file_name=p.rel + ".json", file_root="sidecar", file_hash="f" * 40, file_sidecar=True,
            file_missing=False, created_at=NOW, updated_at=NOW))
    _insert(db, "files", dict(  # an exact duplicate, as PhotoPrism keeps it: another file of the same photo
        id=100, photo_id=1, photo_uid=PHOTOS[0].uid, file_uid="fs6sg6be2lvl0x01", file_name=CAT_COPY, file_root="/",
        file_hash=sha1(CAT_COPY), file_primary=False, file_sidecar=False, file_missing=False, created_at=NOW,
        updated_at=NOW))
    _insert(db, "details", dict(photo_id=3, keywords="gas station, utah", keywords_src="manual", created_at=NOW))
    _insert(db, "details", dict(photo_id=1, keywords="cat, animal", keywords_src="", created_at=NOW))
    for uid, kind, title, description, entries in ALBUMS:
        _insert(db, "albums", dict(album_uid=uid, album_slug=title.lower().replace(" ", "-"), album_type=kind,
                                   album_title=title, album_description=description, album_order="oldest",
                                   created_at=NOW, updated_at=NOW))
        for photo_uid, order, hidden in entries:
            _insert(db, "photos_albums", {"photo_uid": photo_uid, "album_uid": uid, "order": order, "hidden": hidden,
                                          "missing": False, "created_at": NOW, "updated_at": NOW})
    for label_id, name in ((1, "Cat"), (2, "Animal"), (3, "Sunset")):
        _insert(db, "labels", dict(id=label_id, label_uid=f"ls6sg6b1wowuy3c{label_id}", label_slug=name.lower(),
                                   custom_slug=name.lower(), label_name=name, created_at=NOW, updated_at=NOW))
    for photo_id, label_id, src, uncertainty in ((1, 1, "manual", 0), (1, 2, "image", 20), (3, 3, "manual", 100)):
        _insert(db, "photos_labels", dict(photo_id=photo_id, label_id=label_id, label_src=src,
                                          uncertainty=uncertainty))
    for subj_uid, name in (("js6sg6b1h1njaaad", "Barack Obama"), ("js6sg6b1h1njaaae", "Joe Biden")):
        _insert(db, "subjects", dict(subj_uid=subj_uid, subj_type="person", subj_src="manual", subj_name=name,
                                     subj_slug=name.lower().replace(" ", "-"), created_at=NOW, updated_at=NOW))
    for n, (subj_uid, box) in enumerate((("js6sg6b1h1njaaad", OBAMA_BOX), ("js6sg6b1h1njaaae", BIDEN_BOX),
                                         ("", STRANGER_BOX)), 1):
        _insert(db, "markers", dict(marker_uid=f"ms6sg6b1wowuy66{n}", file_uid="fs6sg6be2lvl0y04", marker_type="face",
                                    marker_src="image", marker_invalid=False, subj_uid=subj_uid,
                                    subj_src="manual" if subj_uid else "", x=box[0], y=box[1], w=box[2], h=box[3],
                                    created_at=NOW, updated_at=NOW))


PHOTO_YAML = {
    CAT: """TakenAt: 2016-08-27T08:06:19Z
UID: ps6sg6be2lvl0y11
Type: image
Title: Kitty on the sofa
TitleSrc: manual
Description: Our first cat
DescriptionSrc: manual
Favorite: true
TimeZone: Europe/Berlin
Lat: 48.5387083
Lng: 9.0121611
Year: 2016
Month: 8
Day: 27
Details:
  Keywords: cat, animal
CreatedAt: 2024-05-01T10:00:00Z
UpdatedAt: 2024-05-01T10:00:00Z
""",
    DOG: """TakenAt: 2019-05-04T04:00:41Z
UID: ps6sg6be2lvl0y12
Type: image
Title: Dog / Germany / 2019
Private: true
Year: 2019
Month: 5
Day: 4
Details:
  Keywords: dog
CreatedAt: 2024-05-01T10:00:00Z
UpdatedAt: 2024-05-01T10:00:00Z
""",
    UTAH: """TakenAt: 2021-12-31T23:30:00Z
TakenSrc: manual
UID: ps6sg6be2lvl0y13
Type: image
Title: Thompson Springs
TitleSrc: manual
PlaceSrc: manual
Lat: 39.1
Lng: -108.4
Year: 2021
Month: 12
Day: 31
Details:
  Keywords: gas station, utah
  KeywordsSrc: manual
CreatedAt: 2024-05-01T10:00:00Z
UpdatedAt: 2024-05-01T10:00:00Z
DeletedAt: 2024-04-01T12:00:00Z
""",
}

ALBUM_YAML = """UID: as6sg6bxpoaaaaaa
Slug: pets
Type: album
Title: Pets
Description: Cats and dogs
Order: oldest
Country: zz
CreatedAt: 2019-07-01T00:00:00Z
UpdatedAt: 2020-02-01T00:00:00Z
Photos:
- UID: ps6sg6be2lvl0y11
  CreatedAt: 2020-02-06T02:06:51Z
  UpdatedAt: 2020-04-28T14:06:00Z
- UID: ps6sg6be2lvl0y12
  Hidden: true
  CreatedAt: 2020-02-06T02:06:51Z
  UpdatedAt: 2020-04-28T14:06:00Z
"""


def write_storage(storage: Path) -> tuple[Path, Path]:
    """PhotoPrism's storage/sidecar and storage/albums folders; returns both."""
    sidecar, albums = storage / "sidecar", storage / "albums"
    for rel, text in PHOTO_YAML.items():
        path = sidecar / (rel.rsplit(".", 1)[0] + ".yml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (albums / "album").mkdir(parents=True)
    (albums / "album" / "as6sg6bxpoaaaaaa.yml").write_text(ALBUM_YAML, encoding="utf-8")
    return sidecar, albums
