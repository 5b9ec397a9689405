"""The OCR stage on real photos with text (PP-OCR on onnxruntime): the detection gate, the lines kept, `text:` and
free-text search, the sidecar and a restore into a rebuilt catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from logins import viewer_client
from PIL import Image, ImageDraw, ImageFont

from photoshelf.db.schema import File, PhotoStage, PhotoText
from photoshelf.errors import ConfigError
from photoshelf.library import index_library
from photoshelf.models import enrich
from photoshelf.models.ocr import OcrStage, box_area, keep, line_height, lines_of, reading_order
from photoshelf.search import search
from photoshelf.sidecars import sync

from conftest import Library, make_config, make_library
from support import lose_catalog

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
RECEIPT, SIGN, PLAIN = "Shop/receipt.jpg", "Town/bakery.png", "Sky/plain.jpg"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.is_file():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default(size=size)  # Pillow's own scalable font where DejaVu is not installed


def _photos(folder: Path) -> None:
    """A receipt and a shop sign with text, and a sky gradient without (a photo with no text to read)."""
    receipt = Image.new("RGB", (1200, 1600), (245, 242, 235))
    draw = ImageDraw.Draw(receipt)
    for y, line in ((120, "GROCERY RECEIPT"), (320, "Milk 1.20"), (470, "Bread 2.40"), (620, "Total 12.50")):
        draw.text((100, y), line, font=_font(90), fill=(25, 25, 25))
    sign = Image.new("RGB", (1600, 1200), (40, 90, 150))
    ImageDraw.Draw(sign).text((200, 450), "BAKERY OPEN", font=_font(160), fill=(250, 250, 250))
    ramp = np.linspace(0, 1, 1200, dtype=np.float32)[:, None, None]
    sky = (np.array([90, 150, 230]) * (1 - ramp) + np.array([200, 220, 245]) * ramp) * np.ones((1, 1600, 1))
    for rel, image in ((RECEIPT, receipt), (SIGN, sign), (PLAIN, Image.fromarray(sky.astype(np.uint8)))):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / rel)


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    source = tmp_path / "source"
    _photos(source)
    library = make_library(tmp_path, database_url, source)
    _index(library)
    yield library
    library.db.close()


def _index(lib: Library) -> None:
    index_library(lib.config, lib.db)


def _id(rel: str) -> int:
    return int(File.get(File.path == rel).photo_id)


def _text(rel: str) -> str:
    row = PhotoText.get_or_none(PhotoText.photo == _id(rel))
    return "" if row is None else str(row.text)


def _squeezed(text: str) -> str:
    return "".join(text.lower().split())


def _found(query: str, lib: Library) -> set[str]:
    photos, _ = search(query, config=lib.config)
    return {File.get((File.photo == p.id) & (File.role == "media")).path for p in photos}


def test_text_is_read_gated_searched_and_restored(lib: Library) -> None:
    stage = OcrStage(lib.config, lib.db)
    assert stage.unavailable() is None and len(stage.version()) <= 48
    report = enrich.Enricher(lib.config, lib.db, stages=[stage]).run()
    assert report.stages[0].done == 3 and report.errors == 0
    # The detector alone settled the sky; recognition ran on the two photos with text.
    assert (stage.recognised, stage.gated) == (2, 1)
    assert _text(PLAIN) == ""
    assert PhotoStage.get((PhotoStage.photo == _id(PLAIN)) & (PhotoStage.stage == "ocr")).error is None
    receipt = _squeezed(_text(RECEIPT))
    for word in ("groceryreceipt", "milk", "bread", "total12.50"):
        assert word in receipt, (word, _text(RECEIPT))
    assert "bakery" in _squeezed(_text(SIGN)), _text(SIGN)
    row = PhotoText.get(PhotoText.photo == _id(RECEIPT))
    lines = lines_of(row.lines)
    assert len(lines) == 4 and all(c >= lib.config.models.ocr_min_confidence for _, c in lines)
    assert row.model == stage.version()
    stage.close()

    # Search: the filter (spaces aside: the recogniser may drop them), free text, negation.
    assert _found("text:receipt", lib) == {RECEIPT}
    assert _found('text:"total 12.50"', lib) == {RECEIPT}
    assert _found("text:bakery", lib) == {SIGN}
    assert _found("bakery", lib) == {SIGN}
    assert _found("text:zebra", lib) == set()
    assert _found("!text:receipt", lib) == {SIGN, PLAIN}

    # Ranked free text (with the text index): the receipt is a good match, and says why.
    from photoshelf import ranking
    from photoshelf.models.textsearch import TextStage
    from photoshelf.search import parse

    index = TextStage(lib.config, lib.db)
    enrich.Enricher(lib.config, lib.db, stages=[index]).run()
    index.close()
    ranked = ranking.rank(parse("milk"), config=lib.config)
    assert ranked is not None and ranked.ids[: ranked.good] == [_id(RECEIPT)]
    assert ranking.TEXT in ranked.why[_id(RECEIPT)]

    # The photo page shows the text (a collapsible block), only where there is some.
    with viewer_client(lib.config, lib.db) as client:
        page = client.get(f"/photos/{_id(RECEIPT)}")
        assert page.status_code == 200 and "Text in the photo" in page.text
        assert all(t in page.text for t, _ in lines)
        plain_page = client.get(f"/photos/{_id(PLAIN)}")
        assert plain_page.status_code == 200 and "Text in the photo" not in plain_page.text
        found = client.get("/search", params={"q": "text:receipt"})
        assert found.status_code == 200 and f"/photos/{_id(RECEIPT)}" in found.text
        assert f"/photos/{_id(SIGN)}" not in found.text

    # The sidecar carries the lines and the stage version; a rebuilt catalog gets both back without OCR.
    sync.sync_changed(lib.config)
    ours = yaml.safe_load((lib.storage / "sidecars" / "Shop/receipt.yml").read_text())["Photoshelf"]
    assert [t for t, _ in ours["Text"]] == [t for t, _ in lines] and ours["Stages"]["ocr"] == stage.version()
    plain = yaml.safe_load((lib.storage / "sidecars" / "Sky/plain.yml").read_text())["Photoshelf"]
    assert "Text" not in plain and plain["Stages"]["ocr"] == stage.version()
    before = {rel: _text(rel) for rel in (RECEIPT, SIGN, PLAIN)}
    _wipe_catalog(lib)
    lib.config.sidecars.enabled = False  # `restore` indexes first; it reads the sidecars itself
    _index(lib)
    lib.config.sidecars.enabled = True
    assert not PhotoText.select().exists()
    sync.restore(lib.config, lib.db)
    assert {rel: _text(rel) for rel in (RECEIPT, SIGN, PLAIN)} == before
    again = OcrStage(lib.config, lib.db)
    assert enrich.Enricher(lib.config, lib.db, stages=[again]).count_pending(again) == 0
    assert _found('text:"total 12.50"', lib) == {RECEIPT}

    # reindex --stage ocr forgets the text.
    enrich.Enricher(lib.config, lib.db, stages=[again]).forget(again)
    assert not PhotoText.select().exists()


def _wipe_catalog(lib: Library) -> None:
    """The catalog is lost (the originals, thumbnails and sidecars stay)."""
    lose_catalog(lib)


def test_junk_lines_are_dropped() -> None:
    assert keep("Total 12.50", 0.95, 0.7)
    assert not keep("Total 12.50", 0.5, 0.7)  # unsure
    assert not keep("l", 0.99, 0.7) and not keep("- .", 0.99, 0.7)  # one glyph, punctuation


def test_boxes_area_and_reading_order() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=np.float32)
    assert box_area(square) == pytest.approx(100.0)
    line = np.array([[5, 5], [105, 7], [105, 17], [5, 15]], dtype=np.float32)  # 100 x 10, slightly tilted
    assert line_height(line) == pytest.approx(10.0) and line_height(line[[1, 2, 3, 0]]) == pytest.approx(10.0)
    right, left, below = square + [50, 2], square + [0, 0], square + [0, 40]
    assert [b[0].tolist() for b in reading_order([below, right, left])] == [[0, 0], [50, 2], [0, 40]]


@pytest.mark.parametrize(("key", "value"), [("MIN_CONFIDENCE", "0"), ("MIN_TEXT_AREA", "1"), ("MAX_SIDE", "10")])
def test_bad_ocr_settings_name_the_key(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"models.ocr_{key.lower()}"):
        make_config(tmp_path / "originals", tmp_path / "storage", f"sqlite:///{tmp_path}/c.db", **{f"PHOTOSHELF_MODELS_OCR_{key}": value})


def test_turned_off_says_so(tmp_path: Path) -> None:
    config = make_config(tmp_path / "originals", tmp_path / "storage", f"sqlite:///{tmp_path}/c.db", PHOTOSHELF_MODELS_OCR="false")
    assert OcrStage(config, None).unavailable() == "turned off (models.enabled / models.ocr)"
    config.models.ocr = True
    config.models.ocr_rec_model = str(tmp_path / "latin_rec.onnx")
    assert OcrStage(config, None).unavailable() == f"models.ocr_rec_model: no file {tmp_path / 'latin_rec.onnx'}"


def test_another_recognition_model_is_a_new_version(tmp_path: Path) -> None:
    import rapidocr_onnxruntime

    shipped = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"
    config = make_config(tmp_path / "originals", tmp_path / "storage", f"sqlite:///{tmp_path}/c.db")
    default = OcrStage(config, None).version()
    copy = tmp_path / "my_rec.onnx"
    copy.write_bytes(shipped.read_bytes())
    config.models.ocr_rec_model = str(copy)
    stage = OcrStage(config, None)
    assert stage.unavailable() is None and stage.version() != default and "my_rec" in stage.version()
    strip = Image.new("RGB", (320, 64), (255, 255, 255))
    ImageDraw.Draw(strip).text((12, 8), "Hello", font=_font(44), fill=(0, 0, 0))
    box = np.array([[0, 0], [319, 0], [319, 63], [0, 63]], dtype=np.float32)
    [(text, confidence)] = stage.reader.recognise(np.asarray(strip)[:, :, ::-1].copy(), [box])
    assert text.strip().lower() == "hello" and confidence > 0.7  # read by the model from that file
    stage.close()
