"""A household's library for the visibility, share-link and admin tests (importable as `households`): a few real
photos indexed, a user of every role plus a second member, one photo that is the member's and private, an album
and a person that include it, and a text index (so similar photos have something to rank)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logins import PASSWORD, ensure_users, viewer_client
from starlette.testclient import TestClient

from photoshelf import accounts
from photoshelf.db.rows import tuples
from photoshelf.db.schema import Album, AlbumPhoto, Face, File, Person, Photo, PhotoLabel, User

from conftest import Library, indexed_subset, make_config

# cat_brown.jpg: geotagged, and the Backup copy is the same bytes (a duplicate group): the private one.
SUBSET = ["2016/Pets/cat_brown.jpg", "Backup/Old Phone/cat_brown copy.jpg", "2019/Pets/dog_orange.jpg",
          "2004/Fiji/smallFiji.JPG", "2020/Berlin/digikam.jpg", "2022/Utah Roadtrip/thompson-springs.jpg",
          "Misc/Formats/example.png"]
LABELS = {"cat_brown.jpg": ("cat", "animal", ",animal,pet,"), "dog_orange.jpg": ("dog", "animal", ",animal,pet,"),
          "smallFiji.JPG": ("beach", "nature", ",nature,water,")}
OTHER_MEMBER = "member2"


@dataclass
class Household:
    lib: Library
    private: Photo  # the member's private photo
    album: Album  # holds the private photo and the dog
    person: Person  # on the private photo and on the dog
    private_face: Face
    users: dict[str, User]

    @property
    def ids(self) -> list[int]:
        return [pid for (pid,) in tuples(Photo.select(Photo.id).order_by(Photo.id))]

    def client(self, role: str | None, **options: Any) -> Any:
        """The viewer logged in as `role` ("admin", "member", "viewer", "member2"; None: anonymous)."""
        return viewer_client(self.lib.config, self.lib.db, role=role, **options)

    @contextmanager
    def public(self) -> Iterator[TestClient]:
        """The same catalog served in public mode (auth.mode = "public")."""
        lib = self.lib
        config = make_config(lib.originals, lib.storage, lib.database_url, PHOTOSHELF_AUTH_MODE="public")
        with viewer_client(config, lib.db, role=None) as c:
            yield c


def photo_id(name: str) -> int:
    return int(File.select(File.photo).where(File.name == name).scalar())


def build(tmp_path: Path, database_url: str, *, text_index: bool = False) -> Household:
    """The household (the caller closes `.lib.db`)."""
    lib = indexed_subset(tmp_path, database_url, SUBSET)
    ensure_users(lib.db)
    if User.get_or_none(User.name == OTHER_MEMBER) is None:
        accounts.add_user(OTHER_MEMBER, "member", PASSWORD)
    users = {u.name: u for u in User.select()}
    for name, (label, category, categories) in LABELS.items():
        PhotoLabel.create(photo=photo_id(name), name=label, category=category, categories=categories,
                          confidence=0.9, source="imagenet", model="test")
    cat, dog = photo_id("cat_brown.jpg"), photo_id("dog_orange.jpg")
    Photo.update(private=True, owner=users["member"].id).where(Photo.id == cat).execute()
    album = Album.create(uid="a" + secrets.token_hex(8), title="Pets")
    for pos, pid in enumerate((cat, dog)):
        AlbumPhoto.create(album=album.id, photo=pid, position=pos)
    person = Person.create(uid="p" + secrets.token_hex(8), name="Kitty")
    # The private photo's face scores best: it would be the person's cover if its photo were seen.
    private_face = Face.create(photo=cat, x=0.3, y=0.25, w=0.2, h=0.3, score=0.99, person=person, assigned_by="auto",
                               model="test")
    Face.create(photo=dog, x=0.3, y=0.25, w=0.2, h=0.3, score=0.5, person=person, assigned_by="auto", model="test")
    if text_index:
        from photoshelf.models import enrich, textsearch

        stage = textsearch.TextStage(lib.config, lib.db)
        assert stage.unavailable() is None
        enrich.Enricher(lib.config, lib.db, stages=[stage]).run()
    return Household(lib=lib, private=Photo.get_by_id(cat), album=album, person=person, private_face=private_face,
                     users=users)


LINK = re.compile(r'(?:href|src|action|poster|data-prev|data-next|data-back|data-preview)="([^"]*)"')


def links(html: str) -> list[str]:
    """Every URL a page points at (links, images, forms, the photo page's neighbours)."""
    return [u for u in LINK.findall(html) if u]
