"""Place names from GPS positions (offline reverse geocoding): indexing, search filters, backfill, the places
page, on SQLite and on MariaDB."""

from __future__ import annotations

import html
import subprocess
import time
from urllib.parse import unquote

import peewee as pw
from logins import viewer_client
from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

from photoshelf import search
from photoshelf.db.migrations import LATEST, m0013_fulltext
from photoshelf.db.migrations import migrate as migrate_catalog
from photoshelf.db.rows import tuples
from photoshelf.db.schema import File, Photo, SchemaVersion
from photoshelf.indexer import places
from photoshelf.library import index_library
from photoshelf.records import records
from photoshelf.sidecars import format as fmt
from photoshelf.sidecars.sync import SyncReport, apply_user_data

from conftest import Library
from support import checksums, read_manifest

# What the geocoder names for the corpus's geotagged files (GeoNames cities1000: the nearest town of 1000+).
# Thompson Springs' position (-108.40) lies east of Utah's border (-109.05): the geocoder rightly says Colorado.
EXPECTED = {
    "2004/Fiji/smallFiji.JPG": ("FJ", "Fiji", "Western", "Nadi"),
    "2016/Pets/cat_brown.jpg": ("DE", "Germany", "Baden-Wuerttemberg", "Tuebingen"),
    "2020/Berlin/digikam.jpg": ("DE", "Germany", "Berlin", "Berlin"),  # "Steglitz Bezirk", a district of Berlin
    "2022/Utah Roadtrip/thompson-springs.jpg": ("US", "United States", "Colorado", "Palisade"),
    "Backup/Old Phone/cat_brown copy.jpg": ("DE", "Germany", "Baden-Wuerttemberg", "Tuebingen"),
    "Misc/Formats/example.tif": ("RE", "Réunion", "Reunion", "Cilaos"),
    "Phone/DCIM/101APPLE/IMG_1502.HEIC": ("DE", "Germany", "Berlin", "Berlin"),
    "Phone/DCIM/101APPLE/IMG_1502.MOV": ("DE", "Germany", "Berlin", "Berlin"),
    "Phone/DCIM/Camera/VID_20170222_082028.mp4": ("GB", "United Kingdom", "England", "Thornton Heath"),
}
PLACE = (Photo.country_code, Photo.country, Photo.state, Photo.city)


def photo_of(path: str) -> Photo:
    return Photo.get_by_id(File.get(File.path == path).photo_id)


def place_of(path: str) -> tuple[str | None, ...]:
    photo = photo_of(path)
    return (photo.country_code, photo.country, photo.state, photo.city)


def found(query: str) -> set[str]:
    """The media paths of the photos a search finds."""
    photos, total = search.search(query, limit=1000)
    assert total == len(photos)
    ids = [p.id for p in photos]
    return {path for (path,) in tuples(File.select(File.path).where(File.photo.in_(ids) & (File.role == "media")))}


def test_index_names_places_and_search_finds_them(library: Library) -> None:
    before = checksums(library.originals)
    index_library(library.config, library.db)
    assert checksums(library.originals) == before  # places live in the catalog only

    geotagged = {row["path"] for row in read_manifest(library.originals) if row["gps_lat"]}
    assert geotagged == set(EXPECTED)  # the manifest and this test agree on which files have a position
    for path, want in EXPECTED.items():
        assert place_of(path) == want, path
    # Photos without a position have no place.
    unplaced = Photo.select().where(Photo.lat.is_null())
    assert unplaced.count() > 0
    assert all(p.country_code is None and p.city is None for p in unplaced)

    rec = records([photo_of("2020/Berlin/digikam.jpg")])[0]
    assert rec["place"] == {"country_code": "DE", "country": "Germany", "state": "Berlin", "city": "Berlin"}
    assert records([photo_of("Screenshots/Screenshot 2019-05-21 at 10.45.52.png")])[0]["place"] is None

    berlin = {"2020/Berlin/digikam.jpg", "Phone/DCIM/101APPLE/IMG_1502.HEIC", "Phone/DCIM/101APPLE/IMG_1502.MOV"}
    germany = berlin | {"2016/Pets/cat_brown.jpg", "Backup/Old Phone/cat_brown copy.jpg"}
    # country: the ISO code or the name, any case; a part of a longer name.
    for q in ("country:de", "country:DE", "country:germany", 'country:"Germany"', "country:germ"):
        assert found(q) == germany, q
    assert found('country:"united kingdom"') == found("country:gb") == {"Phone/DCIM/Camera/VID_20170222_082028.mp4"}
    assert found("country:fj|re") == {"2004/Fiji/smallFiji.JPG", "Misc/Formats/example.tif"}
    assert found("country:se") == set()  # a code is a code: not "sweden" nor every name with "se" in it
    # city: and state: the whole name, any case.
    assert found('city:"Berlin"') == found("city:berlin") == berlin
    assert found("city:ber") == set()
    assert found("state:baden-wuerttemberg") == {"2016/Pets/cat_brown.jpg", "Backup/Old Phone/cat_brown copy.jpg"}
    # place: a part of the country, state or city.
    assert found("place:wuerttemberg") == found("place:tueb") == {"2016/Pets/cat_brown.jpg",
                                                                  "Backup/Old Phone/cat_brown copy.jpg"}
    assert found("place:colorado") == {"2022/Utah Roadtrip/thompson-springs.jpg"}
    assert found("place:germany !city:berlin") == germany - berlin
    # Free text matches place names too.
    assert found("nadi") == {"2004/Fiji/smallFiji.JPG"}
    assert found("thornton") == {"Phone/DCIM/Camera/VID_20170222_082028.mp4"}
    assert "Misc/Formats/example.tif" in found("reunion")

    # The places page: countries, most photos first, then their cities, each a search; countries a map link too.
    with viewer_client(library.config, library.db) as client:
        page = client.get("/places")
        assert page.status_code == 200
        text = page.text
        # (Réunion's TIFF is a variant in a stack whose primary is another format: the viewer shows stacks once.)
        for name in ("Germany", "Fiji", "United States", "United Kingdom", "Berlin", "Tuebingen", "Nadi"):
            assert html.escape(name) in text, name
        assert text.index("Germany") < text.index("Fiji")
        hrefs = {unquote(html.unescape(h.split('"', 1)[0])) for h in text.split('href="')[1:]}
        # Countries are cards with a map link; their towns are cards that open a search.
        assert {"/search?q=country:de", '/search?q=city:"Berlin"', "/map?q=country:de"} <= hrefs
        result = client.get("/search", params={"q": 'city:"Berlin"'})
        assert result.status_code == 200
        assert client.get("/map", params={"q": "country:de"}).status_code == 200
        listed = client.get("/api/v1/places").json()["places"]
        germany_entry = next(c for c in listed if c["code"] == "DE")
        assert germany_entry["name"] == "Germany" and germany_entry["count"] >= 3
        assert {c["name"] for c in germany_entry["cities"]} == {"Berlin", "Tuebingen"}
        # The photo page names the place in its details.
        photo = client.get(f"/photos/{photo_of('2016/Pets/cat_brown.jpg').id}")
        assert "Tuebingen, Baden-Wuerttemberg, Germany" in photo.text
        assert client.get("/api/v1/search", params={"q": "country:fj"}).json()["photos"][0]["place"]["city"] == "Nadi"


def _drop_place_columns(db: pw.Database) -> None:
    """Make the catalog look like one from before migrations 6 and 7 (6 must leave 7's indexes to it)."""
    migrator = SqliteMigrator(db) if isinstance(db, pw.SqliteDatabase) else MySQLMigrator(db)
    if isinstance(db, pw.SqliteDatabase):  # nor has it migration 13's full-text index (its triggers name the columns)
        for name in m0013_fulltext.TRIGGERS:
            db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
        db.execute_sql(f"DROP TABLE IF EXISTS {m0013_fulltext.TABLE}")
    indexes = {i.name for i in db.get_indexes("photo")}
    ops = [migrator.drop_index("photo", name) for name in ("photo_country_code", "photo_city") if name in indexes]
    ops += [migrator.drop_column("photo", name) for name in ("country_code", "country", "state", "city")]
    migrate(*ops)
    SchemaVersion.delete().where(SchemaVersion.version >= 6).execute()


def test_old_catalog_is_migrated_and_backfilled(library: Library) -> None:
    index_library(library.config, library.db)
    _drop_place_columns(library.db)
    assert migrate_catalog(library.db) == list(range(6, LATEST + 1))  # 6 and 7, and every later one
    assert migrate_catalog(library.db) == []
    assert {"photo_country_code", "photo_city"} <= {i.name for i in library.db.get_indexes("photo")}
    assert Photo.select().where(Photo.country_code.is_null(False)).count() == 0
    # The next index run (nothing changed on disk) names the places of every geotagged photo.
    report = index_library(library.config, library.db)
    assert report.new == report.changed == 0
    assert report.places == Photo.select().where(Photo.lat.is_null(False)).count() > 0
    for path, want in EXPECTED.items():
        assert place_of(path) == want, path
    assert index_library(library.config, library.db).places == 0  # and only once
    # Running migration 7 again on a catalog that has the columns changes nothing.
    SchemaVersion.delete().where(SchemaVersion.version == 7).execute()
    assert migrate_catalog(library.db) == [7]
    assert place_of("2020/Berlin/digikam.jpg") == EXPECTED["2020/Berlin/digikam.jpg"]


def _exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args], check=True, capture_output=True)


def test_moved_or_removed_gps_renames_or_clears_the_place(library: Library) -> None:
    index_library(library.config, library.db)
    berlin = library.originals / "2020/Berlin/digikam.jpg"
    fiji = library.originals / "2004/Fiji/smallFiji.JPG"
    # Edited with a tool outside photoshelf (this is a test copy of the corpus, never ../shared).
    with library.user_changes():
        _exiftool("-gps:all=", "-xmp:all=", str(berlin))
        _exiftool("-GPSLatitude=48.8566", "-GPSLatitudeRef=N", "-GPSLongitude=2.3522", "-GPSLongitudeRef=E",
                  str(fiji))
    report = index_library(library.config, library.db)
    assert report.changed == 2
    gone = photo_of("2020/Berlin/digikam.jpg")
    assert gone.lat is None and (gone.country_code, gone.country, gone.state, gone.city) == (None,) * 4
    assert place_of("2004/Fiji/smallFiji.JPG")[:2] == ("FR", "France")
    assert place_of("2004/Fiji/smallFiji.JPG")[3] == "Paris"
    assert found("country:fj") == set()
    assert "2020/Berlin/digikam.jpg" not in found("city:berlin")


def test_a_hand_set_position_from_a_sidecar_gets_its_place(library: Library) -> None:
    index_library(library.config, library.db)
    cat = photo_of("2016/Pets/cat_brown.jpg")
    user = fmt.UserData(uid=cat.uid, sha1=cat.sha1, locked=["location"], lat=48.8566, lon=2.3522)
    apply_user_data(cat, user, SyncReport())
    assert place_of("2016/Pets/cat_brown.jpg") == (None,) * 4  # stale names go at once...
    assert index_library(library.config, library.db).places == 1  # ...and the next index run names the place
    assert place_of("2016/Pets/cat_brown.jpg") == ("FR", "France", "Ile-de-France", "Paris")


def test_geocoder_loads_once_and_answers_in_batches() -> None:
    coder = places.geocoder()
    assert places.geocoder() is coder
    assert coder.load_seconds < 10
    points = [(52.52 + i * 1e-4, 13.40 + i * 1e-4) for i in range(1000)]
    started = time.perf_counter()
    found_places = coder.lookup(points)
    elapsed = time.perf_counter() - started
    assert len(found_places) == 1000 and {p.city for p in found_places} == {"Berlin"}
    assert elapsed < 2  # about 20 ms for a thousand positions
    assert places.country_name("gb") == "United Kingdom" and places.country_name("NZ") == "New Zealand"
    assert coder.lookup([]) == []
    assert places.country_name("XX") == "XX"  # a code the table lacks stays a code
