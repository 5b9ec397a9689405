"""Video transcoding with the real ffmpeg, PyAV and the real enrichment runner, on SQLite and MariaDB: an MPEG-4
Part 2 clip (sound over no picture in a browser) made into an H.264/AAC MP4 in storage, in the background stage,
once (resumable, not again on the next run); an H.264 MP4 left as it is; the viewer plays the copy, with ranges;
the originals only read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest
from logins import viewer_client

from photoshelf.config import VideoConfig
from photoshelf.db.schema import Photo, PhotoStage
from photoshelf.library import index_library
from photoshelf.media import transcode
from photoshelf.models.enrich import Enricher, load_stages

from conftest import indexed_subset, make_library

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (scripts/setup-system.sh)")


def _clip(path: Path, vcodec: str, acodec: str, seconds: float = 1.5) -> None:
    """A small real video: a test pattern with a tone, encoded with `vcodec` and `acodec`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=320x240:rate=15",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", vcodec, "-c:a", acodec, "-shortest", str(path)], check=True)


def _streams(path: Path) -> tuple[str, str | None, int]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return v.codec_context.name, a, v.codec_context.height


def test_needs_transcode_by_codec_and_container() -> None:
    video = VideoConfig()
    assert transcode.needs_transcode(video, "mpeg4", "clip.mp4")
    assert transcode.needs_transcode(video, "h264", "clip.MTS")  # the container, whatever the codec
    assert transcode.needs_transcode(video, None, "old.avi")
    assert not transcode.needs_transcode(video, "h264", "clip.mp4")
    assert not transcode.needs_transcode(video, "hevc", "IMG_1502.MOV")  # Safari plays it: not by default
    assert transcode.needs_transcode(VideoConfig(codecs=["hevc"]), "hevc", "IMG_1502.MOV")
    assert transcode.version(video) != transcode.version(VideoConfig(max_height=720))
    # a Live Photo's HEVC motion is short: copied so that it plays in every browser (video.live_hevc)
    assert transcode.needs_transcode(video, "hevc", "IMG_1502.MOV", live=True)
    assert not transcode.needs_transcode(VideoConfig(live_hevc=False), "hevc", "IMG_1502.MOV", live=True)
    assert not transcode.needs_transcode(video, "h264", "IMG_0001.MOV", live=True)


def test_a_live_photos_hevc_motion_gets_a_playable_copy(tmp_path: Path, database_url: str) -> None:
    live = ["Phone/DCIM/101APPLE/IMG_1502.HEIC", "Phone/DCIM/101APPLE/IMG_1502.MOV"]
    lib = indexed_subset(tmp_path, database_url, live)
    try:
        motion = Photo.get(Photo.format == "MOV")
        still = Photo.get(Photo.format == "HEIC")
        assert motion.codec == "hevc" and motion.stack_id == still.stack_id
        report = Enricher(lib.config, lib.db, stages=load_stages(lib.config, lib.db, ["transcode"])).run()
        assert (report.stages[0].done, report.stages[0].errors) == (1, 0)  # the video only
        assert _streams(transcode.cache_path(lib.config, motion.sha1))[:2] == ("h264", "aac")
        with viewer_client(lib.config, lib.db) as client:
            page = client.get(f"/photos/{still.id}").text
            assert f'data-motion="/photos/{motion.id}/play"' in page
    finally:
        lib.db.close()


def test_mpeg4_part2_is_transcoded_in_the_background_stage(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "source"
    _clip(source / "Videos" / "old_camera.avi", "mpeg4", "mp3")  # MPEG-4 Part 2 in AVI, as old cameras wrote
    _clip(source / "Videos" / "phone.mp4", "libx264", "aac")  # plays as it is
    lib = make_library(tmp_path, database_url, source)
    try:
        index_library(lib.config, lib.db)
        old = Photo.get(Photo.codec == "mpeg4")
        phone = Photo.get(Photo.codec == "h264")
        [stage] = load_stages(lib.config, lib.db, ["transcode"])
        assert stage.unavailable() is None
        report = Enricher(lib.config, lib.db, stages=[stage]).run()
        [line] = report.stages
        assert (line.done, line.errors) == (2, 0)  # both videos looked at, no image
        copy = transcode.cache_path(lib.config, old.sha1)
        assert copy.is_file() and lib.storage in copy.parents
        assert _streams(copy) == ("h264", "aac", 240)
        assert not transcode.cache_path(lib.config, phone.sha1).exists()
        assert PhotoStage.select().where(PhotoStage.stage == "transcode").count() == 2
        # resumable: the next run has nothing left to do
        again = Enricher(lib.config, lib.db, stages=load_stages(lib.config, lib.db, ["transcode"])).run()
        assert again.stages[0].done == 0
        # the viewer plays the copy (with ranges for seeking) and the original stays available
        with viewer_client(lib.config, lib.db) as client:
            page = client.get(f"/photos/{old.id}").text
            assert f'src="/photos/{old.id}/play"' in page
            assert f'src="/photos/{phone.id}/original"' in client.get(f"/photos/{phone.id}").text
            whole = client.get(f"/photos/{old.id}/play")
            assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
            part = client.get(f"/photos/{old.id}/play", headers={"Range": "bytes=0-99"})
            assert part.status_code == 206 and len(part.content) == 100
            assert client.get(f"/photos/{phone.id}/play").status_code == 404
            urls = client.get(f"/api/v1/photos/{old.id}").json()["photo"]["urls"]
            assert urls["play"] == f"/photos/{old.id}/play"
            assert "play" not in client.get(f"/api/v1/photos/{phone.id}").json()["photo"]["urls"]
        with viewer_client(lib.config, lib.db, role=None) as anonymous:
            assert anonymous.get(f"/photos/{old.id}/play").status_code == 401
        lib.audit.verify()  # the originals were only read
    finally:
        lib.db.close()


def test_a_broken_video_is_an_error_on_that_video_only(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "source"
    _clip(source / "ok.avi", "mpeg4", "mp3")
    lib = make_library(tmp_path, database_url, source)
    try:
        index_library(lib.config, lib.db)
        photo = Photo.get(Photo.codec == "mpeg4")
        with lib.user_changes():  # the file is damaged after indexing, as a failing disk would
            (lib.originals / "ok.avi").write_bytes(b"RIFF" + b"\0" * 400)
        report = Enricher(lib.config, lib.db, stages=load_stages(lib.config, lib.db, ["transcode"])).run()
        assert report.stages[0].errors == 1
        row = PhotoStage.get((PhotoStage.photo == photo.id) & (PhotoStage.stage == "transcode"))
        assert row.error and "ffmpeg" in row.error
        assert not transcode.cache_path(lib.config, photo.sha1).exists()
        assert not [p for p in transcode.cache_path(lib.config, photo.sha1).parent.glob("*") if p.is_file()]
    finally:
        lib.db.close()


def test_a_share_link_plays_the_playable_copy(tmp_path: Path, database_url: str) -> None:
    """A link's visitor gets the H.264 copy (under the link's own URLs, with ranges), not the original browsers
    cannot play; a video without a copy plays its original; a link without downloads plays neither."""
    source = tmp_path / "source"
    _clip(source / "Videos" / "old_camera.avi", "mpeg4", "mp3", seconds=1.0)
    _clip(source / "Videos" / "phone.mp4", "libx264", "aac", seconds=1.0)
    lib = make_library(tmp_path, database_url, source)
    try:
        index_library(lib.config, lib.db)
        old, phone = Photo.get(Photo.codec == "mpeg4"), Photo.get(Photo.codec == "h264")
        Enricher(lib.config, lib.db, stages=load_stages(lib.config, lib.db, ["transcode"])).run()
        copy = transcode.cache_path(lib.config, old.sha1)
        assert copy.is_file()
        with viewer_client(lib.config, lib.db) as admin:
            tokens = {}
            for name, photo, download in (("old", old, True), ("phone", phone, True), ("shut", old, False)):
                r = admin.post("/api/v1/shares", json={"photo": photo.id, "download": download})
                assert r.status_code == 201, r.text
                tokens[name] = r.json()["token"]
        with viewer_client(lib.config, lib.db, role=None) as visitor:
            token = tokens["old"]
            play = f"/s/{token}/photos/{old.id}/play"
            assert f'src="{play}"' in visitor.get(f"/s/{token}").text
            whole = visitor.get(play)
            assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
            assert whole.content == copy.read_bytes()
            part = visitor.get(play, headers={"Range": "bytes=0-99"})
            assert part.status_code == 206 and part.content == copy.read_bytes()[:100]
            assert visitor.get(f"/s/{token}/photos/{phone.id}/play").status_code == 404  # not in this link
            assert visitor.get(f"/photos/{old.id}/play").status_code == 401  # the library's URL stays shut
            # no copy: the original plays, and the play URL says there is none
            token = tokens["phone"]
            assert f'src="/s/{token}/photos/{phone.id}/original"' in visitor.get(f"/s/{token}").text
            assert visitor.get(f"/s/{token}/photos/{phone.id}/play").status_code == 404
            # a link without downloads shows the picture only
            token = tokens["shut"]
            assert "/play" not in visitor.get(f"/s/{token}").text
            assert visitor.get(f"/s/{token}/photos/{old.id}/play").status_code == 403
        with viewer_client(lib.config, lib.db) as admin:
            assert admin.delete(f"/api/v1/shares/{tokens['old']}").status_code == 200
        with viewer_client(lib.config, lib.db, role=None) as visitor:
            assert visitor.get(f"/s/{tokens['old']}/photos/{old.id}/play").status_code == 410
        lib.audit.verify()
    finally:
        lib.db.close()
