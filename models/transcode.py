"""The enrichment stage that makes browser-playable copies of videos (photoshelf/media/transcode.py does the work): it runs
in the background wherever enrichment runs (the watcher, `photoshelf enrich`), is resumable photo by photo, and
runs again on every video when the video settings change (its version)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from photoshelf.db.schema import File, Photo, Stack
from photoshelf.errors import MediaError
from photoshelf.media import transcode
from photoshelf.models.stages import Item, Stage


class TranscodeStage(Stage):
    """H.264/AAC MP4 copies of the videos browsers cannot play, cached in storage by content hash."""

    name = "transcode"
    order = 95  # after the ML stages: a long video must not hold up faces and labels
    needs_thumbnail = False  # reads the original video, not a thumbnail
    kinds = ("video",)

    def unavailable(self) -> str | None:
        if not self.config.video.transcode:
            return "video transcoding is turned off (video.transcode = false)"
        if transcode.ffmpeg_path(self.config.video) is None:
            return f"ffmpeg is not installed ({self.config.video.ffmpeg!r} not found; set video.ffmpeg)"
        return None

    def version(self) -> str:
        return transcode.version(self.config.video)

    def _source(self, photo_id: int) -> Path | None:
        for f in File.select(File.path).where((File.photo == photo_id) & (File.role == "media")
                                              & File.missing_since.is_null()).order_by(File.path):
            path = self.config.originals_path / f.path
            if ".." not in Path(f.path).parts and path.is_file():
                return path
        return None

    def compute(self, items: Sequence[Item]) -> dict[int, str | None]:
        """Transcode the batch's videos into the cache (files in storage, no catalog writes: ffmpeg can take minutes
        and must not hold the catalog's write lock); the outcome per video."""
        out: dict[int, str | None] = {}
        photos = {p.id: p for p in Photo.select(Photo.id, Photo.sha1, Photo.codec, Photo.duration, Photo.stack)
                  .where(Photo.id.in_([i.photo_id for i in items]))}
        stacks = {p.stack_id for p in photos.values() if p.stack_id}
        live = {s.id for s in Stack.select(Stack.id).where(Stack.id.in_(list(stacks)) & (Stack.kind == "live"))} \
            if stacks else set()
        for item in items:
            photo = photos.get(item.photo_id)
            source = self._source(item.photo_id) if photo is not None else None
            if photo is None or source is None:
                out[item.photo_id] = "no video file on disk to transcode"
                continue
            if not transcode.needs_transcode(self.config.video, photo.codec, source.name, photo.stack_id in live) \
                    or transcode.cache_path(self.config, photo.sha1).is_file():
                out[item.photo_id] = None  # plays as it is, or done before (a duplicate, a resumed run)
                continue
            try:
                transcode.transcode(self.config, source, photo.sha1, photo.duration)
                out[item.photo_id] = None
            except MediaError as exc:
                out[item.photo_id] = str(exc)
        return out

    def store(self, computed: dict[int, str | None]) -> dict[int, str | None]:
        return computed  # the copies are files; the runner records the outcomes

    def forget(self, photo_ids: Sequence[int]) -> None:
        for photo in Photo.select(Photo.sha1).where(Photo.id.in_(list(photo_ids))):
            transcode.cache_path(self.config, photo.sha1).unlink(missing_ok=True)
