"""The large preview made while serving stays within a memory bound: an original that would decode to more pixels
than the viewer's limit gets the fit rendition as its preview, and a decoded one is shrunk at once (speed and
peak memory are measured in bench/preview.py, not here)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from logins import viewer_client
from PIL import Image

from photoshelf.db.schema import Photo, Thumbnail
from photoshelf.library import index_library
from photoshelf.media.decode import OverDecodeLimit, decode_image

from conftest import SMALL_CORPUS, make_library


def _picture(fmt: str, size: tuple[int, int]) -> bytes:
    image = Image.new("RGB", size, (30, 120, 200))
    image.paste((250, 200, 20), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def test_a_png_over_the_decode_limit_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(OverDecodeLimit, match="3000×2000 pixels"):
        decode_image(_picture("PNG", (3000, 2000)), 200, 250, decode_limit=1_000_000)


def test_a_jpeg_counts_at_its_reduced_decoding_size() -> None:
    decoded = decode_image(_picture("JPEG", (3000, 2000)), 200, 250, decode_limit=1_000_000)
    assert (decoded.width, decoded.height) == (3000, 2000)
    assert max(decoded.image.size) < 1000


def test_the_decoded_bitmap_is_shrunk_to_twice_the_target() -> None:
    decoded = decode_image(_picture("PNG", (3000, 2000)), 200, 250, decode_limit=10_000_000)
    assert (decoded.width, decoded.height) == (3000, 2000)
    assert 400 <= max(decoded.image.size) < 800  # 3000 // 7: no more than the preview's fit needs
    assert decoded.image.getpixel((decoded.image.width * 3 // 8, decoded.image.height * 3 // 8)) == (250, 200, 20)


def test_an_original_too_large_to_decode_gets_its_fit_as_preview(tmp_path: Path) -> None:
    lib = make_library(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", None)
    (lib.originals / "scan.png").write_bytes(_picture("PNG", (2400, 1600)))
    shutil.copy(SMALL_CORPUS / "2019/Pets/dog_orange.jpg", lib.originals / "dog.jpg")
    index_library(lib.config, lib.db)
    try:
        with viewer_client(lib.config, lib.db) as client:
            client.app.state.media.preview_decode_pixels = 1_000_000
            scan = Photo.get(Photo.kind == "image", Photo.width == 2400)
            fit = client.get(f"/thumb/fit/{scan.sha1}.jpg")
            preview = client.get(f"/thumb/preview/{scan.sha1}.jpg")
            assert preview.status_code == 200
            assert Image.open(io.BytesIO(preview.content)).size == Image.open(io.BytesIO(fit.content)).size
            # Kept as the preview: the next view reads a file, and the catalog knows its size.
            assert Thumbnail.get((Thumbnail.photo == scan.id) & (Thumbnail.size == "preview")).width == 720
            dog = Photo.get(Photo.width != 2400)
            big = client.get(f"/thumb/preview/{dog.sha1}.jpg")
            assert big.status_code == 200
    finally:
        lib.db.close()
