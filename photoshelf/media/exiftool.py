"""One long-lived exiftool process (pyexiftool, -stay_open), asked for metadata in batches."""

from __future__ import annotations

import logging
import os
import select
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from photoshelf.errors import ToolMissing
from photoshelf.filenames import display, is_utf8

log = logging.getLogger(__name__)

# The tags the catalog uses; asking for them (not -all) keeps the JSON small and exiftool fast. A name asks for
# that tag in every group that has it (with -G each comes back as 'Group:Tag'): a Canon CRW's DateTimeOriginal
# and Make arrive as MakerNotes:..., a Sigma X3F's as SigmaRaw:... (photoshelf/media/capture.py ranks the groups).
TAGS = [
    "FileType", "MIMEType", "ImageWidth", "ImageHeight", "ExifImageWidth", "ExifImageHeight", "Orientation",
    "DateTimeOriginal", "SubSecDateTimeOriginal", "CreateDate", "DateCreated", "TimeCreated", "DateTimeCreated",
    "CreationDate", "ContentCreateDate", "MediaCreateDate", "TrackCreateDate",
    "SubSecTimeOriginal", "OffsetTimeOriginal", "OffsetTimeDigitized", "OffsetTime", "GPSDateTime",
    "GPSLatitude", "GPSLongitude", "GPSAltitude", "GPSAltitudeRef", "Make", "Model", "LensModel", "LensID", "Lens",
    "ISO", "ExposureTime", "FNumber", "FocalLength", "Duration", "CompressorID", "Rotation",
    "Title", "ObjectName", "Headline", "ImageDescription", "Description", "Caption-Abstract", "Subject", "Keywords",
    "Rating", "ContentIdentifier", "MediaGroupUUID", "Error", "Warning",
]


READ_TIMEOUT = 600.0  # seconds one batch may take before exiftool is deemed stuck, killed and restarted


class ExifToolStopped(RuntimeError):
    """exiftool closed its output (it crashed or was killed) or went silent for READ_TIMEOUT seconds."""


def _read_until(fd: int, b_endswith: bytes, block_size: int) -> bytes:
    """pyexiftool's reader, with an end: its own loop spins forever at full CPU once exiftool has died (select()
    reports the closed pipe readable and os.read() returns b'' again and again), which hung a daemon and the test
    suite. Here end of file or READ_TIMEOUT raises ExifToolStopped, and the caller restarts exiftool."""
    chunks: list[bytes] = []
    tail = b""
    deadline = time.monotonic() + READ_TIMEOUT
    while not tail.strip().endswith(b_endswith):
        left = deadline - time.monotonic()
        if left <= 0:
            raise ExifToolStopped(f"exiftool sent nothing for {READ_TIMEOUT:.0f}s")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        data = os.read(fd, block_size)
        if not data:
            raise ExifToolStopped("exiftool stopped (its output closed)")
        chunks.append(data)
        tail = (tail + data)[-(len(b_endswith) + 8):]
    return b"".join(chunks)


def _guard_pyexiftool() -> None:
    import exiftool.exiftool as module

    if not hasattr(module, "_read_fd_endswith"):  # a pyexiftool that reads differently: nothing to replace
        log.warning("pyexiftool has no _read_fd_endswith: a dead exiftool may hang the indexer again")
        return
    module._read_fd_endswith = _read_until


class ExifTool:
    """A handle on one exiftool process, restarted if it dies.

    Every call runs on one thread that this object owns: pyexiftool starts exiftool with PR_SET_PDEATHSIG, so
    the process is killed when the thread that started it ends, and a pool thread would take it down."""

    def __init__(self, executable: str = "exiftool") -> None:
        if shutil.which(executable) is None:
            raise ToolMissing(
                f"exiftool not found ({executable!r}): install it (Debian/Ubuntu: apt-get install "
                "libimage-exiftool-perl) or set exiftool.path"
            )
        self.executable = executable
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photoshelf-exiftool")
        self._helper: Any = None

    def _start(self) -> Any:
        import exiftool

        _guard_pyexiftool()
        helper = exiftool.ExifToolHelper(
            executable=self.executable,
            common_args=["-G", "-n", "-fast", "-charset", "filename=utf8", "-api", "LargeFileSupport=1"],
            check_execute=False,
        )
        helper.run()
        return helper

    @property
    def version(self) -> str:
        return self._thread.submit(self._version).result()

    def _version(self) -> str:
        if self._helper is None:
            self._helper = self._start()
        return str(self._helper.version)

    def read_async(self, paths: list[str]) -> Future[dict[str, dict[str, Any]]]:
        """Start reading metadata for `paths` on exiftool's thread; see read()."""
        return self._thread.submit(self._read, paths)

    def read(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        """Metadata for each path (keys 'Group:Tag'); a path exiftool could not read maps to {'ExifTool:Error': ...}."""
        return self.read_async(paths).result()

    def _read(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        if not paths:
            return {}
        if all(is_utf8(p) for p in paths):
            return self._read_utf8(paths)
        # A name that is not UTF-8 cannot travel through exiftool's UTF-8 pipes (nor come back in its JSON): it is
        # read through a symlink with a plain name, in a temp folder outside the originals and the storage.
        with tempfile.TemporaryDirectory(prefix="photoshelf-names-") as tmp:
            named: dict[str, str] = {}  # real path -> alias
            for i, p in enumerate(paths):
                if not is_utf8(p):
                    named[p] = os.path.join(tmp, f"{i}{os.path.splitext(display(p))[1]}")
                    os.symlink(p, named[p])
            result = self._read_utf8([named.get(p, p) for p in paths])
        real = {alias: p for p, alias in named.items()}
        return {real.get(k, k): v for k, v in result.items()}

    def _read_utf8(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        args = [f"-{t}" for t in TAGS] + ["-j"] + paths  # absolute paths: never mistaken for options
        for attempt in (1, 2):
            if self._helper is None or not self._helper.running:
                self._helper = self._start()
            try:
                out = self._helper.execute_json(*args)
                break
            except Exception as exc:  # noqa: BLE001 - a crashed exiftool is restarted once
                log.warning("exiftool failed (%s); restarting it (attempt %s)", exc, attempt)
                self._close_process()
                if attempt == 2:
                    return {p: {"ExifTool:Error": f"exiftool failed: {exc}"} for p in paths}
        stderr = self._helper.last_stderr or ""
        result: dict[str, dict[str, Any]] = {}
        for item in out or []:
            result[str(item.get("SourceFile"))] = item
        for p in paths:
            if p not in result:
                reason = "exiftool could not read the file"
                for line in stderr.splitlines():
                    if p in line:
                        reason = line.split(" - ")[0].strip()
                        break
                result[p] = {"ExifTool:Error": reason}
        return result

    def _close_process(self) -> None:
        if self._helper is not None:
            try:
                self._helper.terminate()
            except Exception:  # noqa: BLE001 - already dead
                pass
            self._helper = None

    def close(self) -> None:
        self._thread.submit(self._close_process).result()
        self._thread.shutdown(wait=True)

    def __enter__(self) -> ExifTool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
