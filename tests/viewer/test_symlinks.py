"""The library's rule for symlinks (README, "Symlinks"): a file the indexer reaches is the library's, and its
original, thumbnails and preview are served alike; a path leaving the originals, or passing through a link while
index.follow_symlinks is off, is not served."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from logins import viewer_client

from photoshelf.db.schema import File, Photo
from photoshelf.library import index_library

from conftest import SMALL_CORPUS, Library, make_library

DOG = SMALL_CORPUS / "2019/Pets/dog_orange.jpg"
CAT = SMALL_CORPUS / "2016/Pets/cat_brown.jpg"


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[Library]:
    """originals/home/cat.jpg, and originals/disk2 -> a folder outside the originals holding dog.jpg."""
    lib = make_library(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", None)
    (lib.originals / "home").mkdir()
    shutil.copy(CAT, lib.originals / "home/cat.jpg")
    outside = tmp_path / "second-disk"
    outside.mkdir()
    shutil.copy(DOG, outside / "dog.jpg")
    os.symlink(outside, lib.originals / "disk2")
    yield lib
    lib.db.close()


def _urls(path: str) -> list[str]:
    photo = Photo.get(Photo.id == File.get(File.path == path).photo_id)
    return [f"/photos/{photo.id}/original", *(f"/thumb/{size}/{photo.sha1}.jpg" for size in ("tile", "fit", "preview"))]


def test_a_file_reached_through_a_link_is_served_whole(linked: Library) -> None:
    """follow_symlinks (the default): the linked disk is part of the library; nothing about it is refused."""
    index_library(linked.config, linked.db)
    with viewer_client(linked.config, linked.db) as client:
        for path in ("disk2/dog.jpg", "home/cat.jpg"):
            for url in _urls(path):
                assert client.get(url).status_code == 200, url
        original = client.get(_urls("disk2/dog.jpg")[0])
        assert original.content == DOG.read_bytes()


def test_without_follow_symlinks_nothing_behind_a_link_is_indexed(linked: Library) -> None:
    linked.config.index.follow_symlinks = False
    index_library(linked.config, linked.db)
    assert [f.path for f in File.select()] == ["home/cat.jpg"]


def test_a_folder_replaced_by_a_link_after_indexing(linked: Library, tmp_path: Path) -> None:
    """Indexed as a real folder, then moved away and linked back: with follow_symlinks the link is followed as the
    indexer would; without it, the original is refused (404) like the indexer would skip it."""
    index_library(linked.config, linked.db)
    moved = tmp_path / "moved-home"
    (linked.originals / "home").rename(moved)
    os.symlink(moved, linked.originals / "home")
    with viewer_client(linked.config, linked.db) as client:
        assert client.get(_urls("home/cat.jpg")[0]).status_code == 200
    linked.config.index.follow_symlinks = False
    with viewer_client(linked.config, linked.db) as client:
        assert client.get(_urls("home/cat.jpg")[0]).status_code == 404


def test_a_catalog_path_leaving_the_originals_is_never_served(linked: Library, tmp_path: Path) -> None:
    """A path in the catalog that climbs out (a damaged or hand-edited catalog) is refused, links or not."""
    index_library(linked.config, linked.db)
    (tmp_path / "secret.jpg").write_bytes(CAT.read_bytes())
    File.update(path="../secret.jpg").where(File.path == "home/cat.jpg").execute()
    with viewer_client(linked.config, linked.db) as client:
        photo_id = File.get(File.path == "../secret.jpg").photo_id
        assert client.get(f"/photos/{photo_id}/original").status_code == 404
