"""Near-duplicates (issue 16): the hash index against brute force, and grouping, keepers, resolving and sidecars
on a real library of generated copies (resized, recompressed, HEIC, cropped, grey, stripped), bursts and
distinct pictures, on both backends."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoshelf import duplicates as dup
from photoshelf import dupresolve, hashindex
from photoshelf.db.schema import File, Photo
from photoshelf.library import index_library
from photoshelf.search import search

from conftest import SMALL_CORPUS, Library, indexed_subset, make_library
from support import checksums, lose_catalog

ORIG = "2020/Berlin/digikam.jpg"  # a phone photo with its camera and date
COPIES = ("Derived/digikam_small.jpg", "Derived/digikam_q40.jpg", "Derived/digikam.heic", "Derived/digikam_crop.jpg",
          "Derived/digikam_grey.jpg", "Derived/digikam_stripped.jpg")
BURST = ("Burst/IMG_0001.jpg", "Burst/IMG_0002.jpg", "Burst/IMG_0003.jpg")
APART = ("Scene/left.jpg", "Scene/right.jpg")  # two crops of one picture, far apart: different pictures
CAT, CAT_COPY = "2016/Pets/cat_brown.jpg", "Backup/Old Phone/cat_brown copy.jpg"
OTHERS = ("Family/Barack/obama.jpg", "Family/Barack/obama2.jpg")  # the same man, two different photos


# --- the hash index ---------------------------------------------------------------------------------------


def _flip(value: int, bits: list[int]) -> int:
    for b in bits:
        value ^= 1 << b
    return value


@pytest.mark.parametrize("radius", [0, 3, 7, 10, 12])
def test_hash_pairs_match_brute_force(radius: int) -> None:
    rng = np.random.default_rng(radius)
    base = [int(x) for x in rng.integers(0, 2**63, 1500, dtype=np.int64)]
    planted = [_flip(base[i], [int(b) for b in rng.choice(64, int(rng.integers(0, 14)), replace=False)])
               for i in range(300)]
    hashes = np.array(base + planted + base[:5], dtype=np.uint64)  # and a few identical hashes
    found = {(int(i), int(j)): int(d) for ci, cj, cd in hashindex.pairs(hashes, radius)
             for i, j, d in zip(ci, cj, cd, strict=True)}
    values = [int(h) for h in hashes]
    expected = {(i, j): bin(values[i] ^ values[j]).count("1") for i in range(len(values))
                for j in range(i + 1, len(values)) if bin(values[i] ^ values[j]).count("1") <= radius}
    assert found == expected
    assert len(found) >= 5  # the identical ones at least: the test compares something


def test_popcount_table_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.array([0, 1, 2**64 - 1, 0x8000000000000001, 0x0F0F0F0F0F0F0F0F], dtype=np.uint64)
    expected = [bin(int(v)).count("1") for v in values]
    assert hashindex.popcount(values).tolist() == expected
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # numpy 1.26, which pyproject allows
    assert hashindex.popcount(values).tolist() == expected


def test_hash_parse_rejects_junk_and_neighbours_scan() -> None:
    hashes, valid = hashindex.parse(["ffffffffffffffff", None, "xyz", "0f0f0f0f0f0f0f0g", "0000000000000001"])
    assert valid.tolist() == [True, False, False, False, True]
    idx, d = hashindex.neighbours(hashes, 0, 1)
    assert sorted(zip(idx.tolist(), d.tolist(), strict=True)) == [(1, 0), (2, 0), (3, 0), (4, 1)]


# --- the keeper ---------------------------------------------------------------------------------------------


def _cand(i: int, **kw: object) -> dup.Candidate:
    fields: dict[str, object] = dict(id=i, uid=f"p{i}", sha1=f"{i:040d}", kind="image", format="JPEG", size=1000,
                                     width=100, height=80, taken_at=None, camera=None, favorite=False,
                                     archived=False, duplicate_of=None, stack_id=None, phash=None, dhash=None,
                                     colors=None, metadata=0)
    fields.update(kw)
    return dup.Candidate(**fields)  # type: ignore[arg-type]


def test_keeper_order_and_reasons() -> None:
    early, late = dt.datetime(2019, 1, 1), dt.datetime(2020, 1, 1)
    assert dup.choose_keeper([_cand(1), _cand(2, favorite=True)]) == (1, "a favorite")
    assert dup.choose_keeper([_cand(1, format="WEBP", width=4000, height=3000), _cand(2, format="HEIC")]) == (
        1, "the camera's original (HEIC) over derived copies")
    # A re-encode to HEIC that lost the camera's name is not the original.
    assert dup.choose_keeper([_cand(1, format="HEIC"), _cand(2, camera="HUAWEI ELE-L29", width=50)]) == (
        1, "the camera's original (JPEG) over derived copies")
    assert dup.choose_keeper([_cand(1), _cand(2, width=200, height=160)]) == (1, "most pixels (200×160)")
    assert dup.choose_keeper([_cand(1, taken_at=late), _cand(2, taken_at=early)]) == (1, "earliest date")
    assert dup.choose_keeper([_cand(1), _cand(2, metadata=3)]) == (1, "most metadata")
    assert dup.choose_keeper([_cand(1), _cand(2)]) == (0, "indexed first (otherwise alike)")
    # A decision already taken wins over every rule.
    assert dup.choose_keeper([_cand(1, favorite=True, duplicate_of=2), _cand(2)]) == (
        1, "kept when this group was resolved")


# --- a real library -----------------------------------------------------------------------------------------


def _save_jpeg(image: Image.Image, path: Path, quality: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=quality)


def _exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args], check=True, capture_output=True)


def make_source(root: Path) -> Path:
    """Originals with every kind of copy, made from the small corpus (never written in place)."""
    for rel in (ORIG, CAT, CAT_COPY, *OTHERS):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SMALL_CORPUS / rel, root / rel)
    im = Image.open(root / ORIG).convert("RGB")
    w, h = im.size
    small, q40, heic, crop, grey, stripped = (root / c for c in COPIES)
    _save_jpeg(im.resize((w // 2, h // 2), Image.Resampling.LANCZOS), small)
    _save_jpeg(im, q40, quality=40)
    import pillow_heif

    bare = im.copy()
    bare.info.clear()  # a converter that drops the metadata (one that keeps it makes a HEIC as good as the JPEG)
    pillow_heif.from_pillow(bare).save(str(heic), quality=60)
    dx, dy = int(w * 0.025), int(h * 0.025)  # 5% of each side's length cut, half from each end
    _save_jpeg(im.crop((dx, dy, w - dx, h - dy)), crop)
    _save_jpeg(im.convert("L").convert("RGB"), grey)
    shutil.copy(root / ORIG, stripped)
    _exiftool("-all=", str(stripped))  # metadata gone, the same pixels
    # A burst: one camera, one second apart, the frame moving a little between shots.
    scene = Image.open(SMALL_CORPUS / "Family/obama_and_biden.jpg").convert("RGB")
    for k, rel in enumerate(BURST):
        _save_jpeg(scene.crop((100 + 24 * k, 60, 1700 + 24 * k, 1200)), root / rel)
        _exiftool("-Make=Canon", "-Model=Canon EOS 6D", f"-DateTimeOriginal=2019:06:06 10:00:0{k}", str(root / rel))
    sw, sh = scene.size
    _save_jpeg(scene.crop((0, 0, 1100, sh)), root / APART[0])
    _save_jpeg(scene.crop((sw - 1100, 0, sw, sh)), root / APART[1])
    return root


@pytest.fixture
def dup_library(tmp_path: Path, database_url: str) -> Iterator[Library]:
    lib = make_library(tmp_path, database_url, make_source(tmp_path / "source"))
    index_library(lib.config, lib.db)
    yield lib
    lib.db.close()


def _ids(*rels: str) -> set[int]:
    return {f.photo_id for f in File.select().where(File.path.in_(list(rels)))}


def _group_with(groups: list[dup.Group], rel: str) -> dup.Group:
    (pid,) = _ids(rel)
    found = [g for g in groups if any(m.photo.id == pid for m in g.members)]
    assert len(found) == 1, (rel, [g.as_dict() for g in found])
    return found[0]


def test_copies_group_with_their_original_and_bursts_apart(dup_library: Library) -> None:
    lib = dup_library
    assert Photo.select().where(Photo.dhash.is_null()).count() == 0, "the indexer computes the second look"
    groups = dup.find()
    near = [g for g in groups if g.kind == "near"]
    group = _group_with(near, ORIG)
    assert {m.photo.id for m in group.members} == _ids(ORIG, *COPIES)
    keeper = group.keeper
    assert keeper.photo.id in _ids(ORIG), keeper.reason  # the camera's file: most pixels, most metadata
    # The burst is a burst, never near; the two far-apart crops and the two portraits are nothing.
    burst = [g for g in groups if g.kind == "burst"]
    assert len(burst) == 1 and {m.photo.id for m in burst[0].members} == _ids(*BURST)
    grouped = {m.photo.id for g in groups for m in g.members}
    assert not grouped & _ids(*APART, *OTHERS)
    assert not {m.photo.id for g in near for m in g.members} & _ids(*BURST)
    exact = _group_with([g for g in groups if g.kind == "exact"], CAT)
    rows = exact.as_dict()["photos"]
    assert sorted(r["path"] for r in rows) == sorted([CAT, CAT_COPY]) and sum(r["keep"] for r in rows) == 1
    assert exact.freeable == (lib.originals / CAT).stat().st_size
    total = dup.summary(groups)
    assert total.freeable == exact.freeable + sum(m.photo.size for m in group.members if not m.keep)


def test_resolve_hides_copies_keeps_files_and_survives_a_rebuild(dup_library: Library, tmp_path: Path) -> None:
    from photoshelf.sidecars.sync import restore, sync_changed

    lib = dup_library
    before = checksums(lib.originals)
    group = _group_with(dup.find(kinds=["near"]), ORIG)
    copies = {m.photo.id for m in group.members if not m.keep}
    seen_before = {p.id for p in search("", limit=1000)[0]}
    assert copies <= seen_before
    outcome = dupresolve.resolve(lib.db, [group])
    assert set(outcome.archived) == copies
    assert not copies & {p.id for p in search("", limit=1000)[0]}, "resolved copies are hidden from search"
    again = _group_with(dup.find(kinds=["near"]), ORIG)
    assert again.resolved and again.keeper.photo.id == group.keeper.photo.id
    # Bursts and exact groups are not resolved in bulk; an exact group cannot be resolved at all.
    with pytest.raises(dupresolve.ResolveError):
        dupresolve.resolve(lib.db, [_group_with(dup.find(kinds=["exact"]), CAT)])
    sync_changed(lib.config)
    keeper_sha = group.keeper.photo.sha1
    shas = {p.id: p.sha1 for p in Photo.select()}
    # The catalog is lost and rebuilt from the originals and the sidecars.
    lose_catalog(lib)
    index_library(lib.config, lib.db)
    restore(lib.config, lib.db)
    keeper_id = Photo.get(Photo.sha1 == keeper_sha).id
    rebuilt = {p.sha1: p for p in Photo.select()}
    for pid in copies:
        photo = rebuilt[shas[pid]]
        assert photo.archived and photo.duplicate_of == keeper_id, photo.sha1
    assert _group_with(dup.find(kinds=["near"]), ORIG).resolved
    # Taking it back shows them again.
    back = dupresolve.unresolve(lib.db, [keeper_id])
    assert len(back.restored) == len(copies)
    assert Photo.select().where(Photo.duplicate_of.is_null(False) | (Photo.archived == True)).count() == 0  # noqa: E712
    assert checksums(lib.originals) == before, "no original moved, changed or deleted"



def test_backfill_of_photos_indexed_before_the_second_look(dup_library: Library) -> None:
    from photoshelf import dupsig
    from photoshelf.media.thumbs import ThumbCache

    lib = dup_library
    Photo.update(dhash=None, colors=None).execute()
    # Without the second look only the closest pairs group (the crop and the grey copy need it).
    near = _group_with(dup.find(kinds=["near"]), ORIG)
    assert _ids("Derived/digikam_crop.jpg").isdisjoint({m.photo.id for m in near.members})
    thumbs = ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
    assert dupsig.backfill(lib.db, lambda sha1: thumbs.path(sha1, "fit")) == Photo.select().where(
        Photo.has_thumbs == True).count()  # noqa: E712
    assert {m.photo.id for m in _group_with(dup.find(kinds=["near"]), ORIG).members} == _ids(ORIG, *COPIES)
    # An index run fills what is missing too (a catalog upgraded to migration 12), once.
    Photo.update(dhash=None, colors=None).execute()
    index_library(lib.config, lib.db)
    assert Photo.select().where(Photo.dhash.is_null() & (Photo.has_thumbs == True)).count() == 0  # noqa: E712


def test_cli_lists_resolves_and_takes_back(dup_library: Library) -> None:
    from test_cli import run

    lib = dup_library
    before = checksums(lib.originals)
    rows = [json.loads(line) for line in run(lib, "duplicates", "--json").stdout.splitlines()]
    assert {r["kind"] for r in rows} == {"exact", "near", "burst"}
    for r in rows:
        assert set(r) >= {"kind", "photos", "distance"}
        assert all(set(p) >= {"id", "path", "keep", "reason"} for p in r["photos"])
        assert sum(p["keep"] for p in r["photos"]) == 1
    only_near = [json.loads(line) for line in run(lib, "duplicates", "--kind", "near", "--json").stdout.splitlines()]
    assert [r["kind"] for r in only_near] == ["near"]
    text = run(lib, "duplicates").stdout
    assert "would free" in text and "keep" in text
    done = json.loads(run(lib, "duplicates", "resolve", "--all-suggested", "--json").stdout)
    assert len(done["archived"]) == len(COPIES) and done["groups"] == 1, "bursts are not resolved in bulk"
    bad = run(lib, "duplicates", "resolve", f"exact:{rows[0]['photos'][0]['uid']}", check=False)
    assert bad.returncode == 1 and "exact" in bad.stderr
    missing = run(lib, "duplicates", "resolve", "near:nosuchphoto", check=False)
    assert missing.returncode == 3 and "no duplicate group" in missing.stderr
    keeper = next(r for r in only_near)["photos"]
    keeper_uid = next(p["uid"] for p in keeper if p["keep"])
    back = json.loads(run(lib, "duplicates", "unresolve", keeper_uid, "--json").stdout)
    assert len(back["restored"]) == len(COPIES)
    assert checksums(lib.originals) == before


def test_full_corpus_whatsapp_copy_and_exact_copy(tmp_path: Path, database_url: str, full_corpus: Path) -> None:
    rels = ["2017/South Africa/elephants.jpg", "Shared/WhatsApp Images/IMG-20131126-WA0003.jpg",
            "2017/South Africa/beach_sand.jpg", CAT, CAT_COPY, "2008/Holiday Italy/DSCN0010.jpg",
            "2008/Holiday Italy/DSCN0012.jpg", "2008/Holiday Italy/DSCN0021.jpg"]
    lib = indexed_subset(tmp_path, database_url, rels, root=full_corpus)
    try:
        groups = dup.find()
        assert sorted((g.kind, sorted(p["path"] for p in g.as_dict()["photos"])) for g in groups) == [
            ("exact", sorted([CAT, CAT_COPY])),
            ("near", sorted(rels[:2])),
        ]
        near = next(g for g in groups if g.kind == "near")
        assert near.keeper.paths == [rels[0]], near.keeper.reason
    finally:
        lib.db.close()


def test_grey_heic_and_small_copies_read_back(dup_library: Library) -> None:
    """The generated copies are what they claim (so the grouping test tests something)."""
    lib = dup_library
    with Image.open(lib.originals / "Derived/digikam_grey.jpg") as im:
        r, g, b = im.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
        assert r == g == b
    buf = io.BytesIO((lib.originals / "Derived/digikam.heic").read_bytes())
    assert buf.read(12)[4:8] == b"ftyp"
    out = subprocess.run(["exiftool", "-s", "-s", "-s", "-Make", str(lib.originals / "Derived/digikam_stripped.jpg")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
