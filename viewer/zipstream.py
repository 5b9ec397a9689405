"""A zip of originals written as it is sent: zipfile over a sink that hands each chunk on, so neither the
archive nor a whole file is ever held in memory; the originals are only opened for reading."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator

from photoshelf.viewer.bulk import ZipPlan

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # read from an original, and sent on, a MiB at a time


class _Sink:
    """A write-only stream zipfile writes into; take() returns what was written since the last call. It has no
    tell() or seek(), so zipfile writes each entry's sizes after its data (a data descriptor)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def stream(plan: ZipPlan) -> Iterator[bytes]:
    """The zip's bytes, a chunk at a time (see _stream), never an empty one."""
    return (part for part in _stream(plan) if part)


def _stream(plan: ZipPlan) -> Iterator[bytes]:
    """Photos and videos are compressed already: entries are stored as
    they are (ZIP_STORED), at disk speed. A file that vanishes between the plan and its turn is skipped and
    named in a NOT-INCLUDED.txt at the end, like the photos the plan left out."""
    sink = _Sink()
    left_out = list(plan.left_out)
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for original, name in plan.entries:
            try:
                info = zipfile.ZipInfo.from_file(original.path, name, strict_timestamps=False)
                source = open(original.path, "rb")  # noqa: SIM115 - closed below, after the last chunk
            except OSError as exc:
                log.warning("zip download: %s left out: %s", original.path, exc)
                left_out.append(f"{name}: {exc.strerror or exc}")
                continue
            info.compress_type = zipfile.ZIP_STORED
            with source, archive.open(info, mode="w", force_zip64=info.file_size >= zipfile.ZIP64_LIMIT) as entry:
                while chunk := source.read(CHUNK):
                    entry.write(chunk)
                    yield sink.take()
            yield sink.take()
        if left_out:
            archive.writestr("NOT-INCLUDED.txt", "These photos are not in this download:\n" + "\n".join(left_out) + "\n")
    yield sink.take()
