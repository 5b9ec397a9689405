"""Browser-playable copies of videos browsers cannot play (MPEG-4 Part 2, WMV, AVI, MTS…; HEVC when configured):
an H.264/AAC MP4 made by ffmpeg from the original (only read), cached in storage by content hash, never beside
the originals. The viewer serves it instead of the original when it exists (viewer/views/photo.py)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

from photoshelf import tempfiles
from photoshelf.config import Config, VideoConfig
from photoshelf.errors import MediaError

log = logging.getLogger(__name__)

TIMEOUT_PER_SECOND = 20.0  # a transcode may take this many seconds per second of video (a slow CPU, 4K input)
MIN_TIMEOUT = 120.0


def cache_path(config: Config, sha1: str) -> Path:
    """Where the playable copy of the video with this content hash lives (it may not exist)."""
    return config.storage_path / "video" / sha1[:2] / f"{sha1}.mp4"


def needs_transcode(video: VideoConfig, codec: str | None, name: str, live: bool = False) -> bool:
    """Whether browsers cannot play this video as it is: its codec or its container is in the configured lists,
    or it is a Live Photo's HEVC motion (with video.live_hevc)."""
    ext = Path(name).suffix.lower().lstrip(".")
    codecs = {c.lower() for c in video.codecs}
    if live and video.live_hevc and (codec or "").lower() == "hevc":
        return True
    return ext in {c.lower().lstrip(".") for c in video.containers} or (codec or "").lower() in codecs


def version(video: VideoConfig) -> str:
    """What changes a transcode's result or which videos get one (for the enrichment stage's record)."""
    lists = ",".join(sorted(video.codecs)) + "|" + ",".join(sorted(video.containers)) + f"|{video.live_hevc}"
    return f"h264-aac-{video.max_height}p-{hashlib.sha1(lists.encode()).hexdigest()[:10]}"


def ffmpeg_path(video: VideoConfig) -> str | None:
    return shutil.which(video.ffmpeg)


def command(ffmpeg: str, source: Path, target: Path, max_height: int) -> list[str]:
    """The ffmpeg call: H.264 (yuv420p, even sizes, at most `max_height` high, never upscaled), AAC stereo when
    there is sound, the moov atom first so playback starts before the whole file arrives; metadata and the
    display rotation are kept (ffmpeg turns the picture upright)."""
    scale = f"scale=-2:'min({max_height},trunc(ih/2)*2)'"
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
            "-map", "0:v:0", "-map", "0:a:0?", "-vf", scale,
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-profile:v", "high",
            "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart", "-map_metadata", "0",
            "-f", "mp4", str(target)]


def transcode(config: Config, source: Path, sha1: str, duration: float | None = None) -> Path:
    """Make the playable copy (atomically: a temp file renamed into place) and return its path. Raises
    MediaError with ffmpeg's reason when it cannot."""
    ffmpeg = ffmpeg_path(config.video)
    if ffmpeg is None:
        raise MediaError(f"ffmpeg not found ({config.video.ffmpeg!r}): install it, or set video.ffmpeg")
    target = cache_path(config, sha1)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfiles.mkstemp(target.parent, config.storage_path)  # swept after a crash (tempfiles.recover)
    os.close(fd)
    timeout = max(MIN_TIMEOUT, (duration or 0) * TIMEOUT_PER_SECOND)
    try:
        done = subprocess.run(command(ffmpeg, source, Path(tmp), config.video.max_height), capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode != 0 or os.path.getsize(tmp) == 0:
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise MediaError(f"ffmpeg cannot transcode the video: {reason[:300]}")
        os.replace(tmp, target)
    except subprocess.TimeoutExpired:
        raise MediaError(f"ffmpeg took longer than {timeout:.0f} s to transcode the video") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    log.info("transcoded %s (%s) to %s", source.name, sha1[:10], target)
    return target
