"""RAW rendering with real LibRaw on the corpus DNG (Canon EOS 6D, 1224×816, a 1024 px embedded preview): a
rendition larger than the preview is demosaicked, not the preview blown up; the result is a picture, not blank;
`reindex --stage thumbs` makes stale RAW thumbnails again, from read-only originals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from photoshelf.cli import cli
from photoshelf.db.schema import Photo, Thumbnail
from photoshelf.indexer.rethumb import redo_thumbnails
from photoshelf.media.decode import decode_raw
from photoshelf.media.thumbs import ThumbCache

from conftest import SMALL_CORPUS, indexed_subset

DNG = "Raw/2019-06-06 Canon 6D/IMG_6D_0001.DNG"
CR2 = "Raw/Canon/IMG_0350.CR2"  # a metadata-only stub: LibRaw cannot decode it


def _level(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L")).mean())


def test_a_preview_smaller_than_the_rendition_is_demosaicked_instead() -> None:
    path = SMALL_CORPUS / DNG
    data = path.read_bytes()
    fit = decode_raw(path, data, 720, 250)
    assert fit.image.size == (1024, 683)  # the embedded preview is large enough for the 720 fit
    large = decode_raw(path, data, 1920, 250)
    assert max(large.image.size) == 1224, large.image.size  # LibRaw's rendering, larger than the preview
    assert (large.width, large.height) == (1224, 816)
    # a picture, not the pure white (or black) of a bad brightness/white-level handling
    level = _level(large.image)
    assert 10 < level < 200, level
    assert float(np.asarray(large.image).std()) > 10
    # and about as bright as the camera's own preview (same scene, same white balance)
    assert abs(level - _level(fit.image)) < 25


def test_reindex_thumbs_renders_raw_thumbnails_again(tmp_path: Path, database_url: str) -> None:
    lib = indexed_subset(tmp_path, database_url, [DNG, CR2])
    try:
        raw = Photo.get(Photo.format == "DNG")
        cache = ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
        # a stale, blank fit from an older renderer, and a preview made from it
        Image.new("RGB", (720, 480), "white").save(cache.path(raw.sha1, "fit"))
        Image.new("RGB", (1920, 1280), "white").save(cache.path(raw.sha1, "preview"))
        Thumbnail.insert(photo=raw.id, size="preview", width=1920, height=1280, format="jpg", bytes=1).execute()
        report = redo_thumbnails(lib.config, lib.db)
        assert report.done == 1 and report.failed == 1 and "photo" in report.errors[0]  # the CR2 stub
        with Image.open(cache.path(raw.sha1, "fit")) as fit:
            assert fit.size == (720, 480) and _level(fit) < 200
        assert not cache.path(raw.sha1, "preview").exists()  # made again on the next view
        sizes = {t.size for t in Thumbnail.select().where(Thumbnail.photo == raw.id)}
        assert sizes == {"fit", "tile"}
        assert Photo.get_by_id(raw.id).has_thumbs
        # the CLI shell runs the same
        result = CliRunner().invoke(cli, ["--originals", str(lib.originals), "--storage", str(lib.storage),
                                          "--database", lib.database_url, "reindex", "--stage", "thumbs", "--json"])
        assert result.exit_code == 0, result.output
        assert '"done": 1' in result.output
        lib.audit.verify()  # the originals were only read
    finally:
        lib.db.close()
