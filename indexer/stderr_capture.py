"""Catch what C decoders write to stderr during one call (LibRaw's bare "unknown file: data corrupted at …"), so it
becomes that file's recorded warning instead of a nameless line on the console.

LibRaw (and the libjpeg inside it) report to file descriptor 2 from C, and LibRaw names the file "unknown file"
because photoshelf hands it bytes, not a path. A file descriptor belongs to the whole process, so the redirection is
held under one lock: RAW decodes run one at a time while it is on (photos of other kinds decode alongside as
before). Lines that other threads write meanwhile (a log message) are not the file's: they go to the real stderr
once the call ends.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_lock = threading.Lock()
# What LibRaw and libjpeg print: LibRaw's data-error callback ("<name>: data corrupted at 1378", "<name>:
# Unexpected end of file", the name being "unknown file" for a decode from memory) and libjpeg's warnings.
DECODER_LINE = re.compile(
    r"^(unknown file: .*|.*data corrupted.*|.*[Uu]nexpected end of file.*|Premature end of JPEG file.*|"
    r"Corrupt JPEG data.*|.*LibRaw.*)$"
)
MAX_LINES = 5  # per file: a corrupt file can print one line per block


@contextmanager
def decoder_messages() -> Iterator[list[str]]:
    """Collect the decoder lines written to fd 2 while the block runs; the list is filled when the block ends."""
    found: list[str] = []
    with _lock:
        _flush()
        saved = os.dup(2)
        capture = tempfile.TemporaryFile()
        os.dup2(capture.fileno(), 2)
        try:
            yield found
        finally:
            _flush()
            os.dup2(saved, 2)
            os.close(saved)
            with capture:
                capture.seek(0)
                text = capture.read().decode("utf-8", "replace")
            found[:] = _sorted_out(text)


def _sorted_out(text: str) -> list[str]:
    """The decoder's lines of what was captured; the rest (another thread's) goes on to the real stderr."""
    found, others = [], []
    for line in text.splitlines():
        if DECODER_LINE.match(line.strip()):
            found.append(line.strip())
        elif line.strip():
            others.append(line)
    if others:
        os.write(2, ("\n".join(others) + "\n").encode("utf-8", "replace"))
    return _summary(found)


def _flush() -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError):  # closed or detached: nothing buffered to lose
        pass


def _summary(lines: list[str]) -> list[str]:
    """"LibRaw: data corrupted at 1378" (the useless "unknown file" name dropped), each distinct line once."""
    out: list[str] = []
    for line in lines:
        text = re.sub(r"^unknown file: ", "", line)
        text = text if text.startswith("LibRaw") else f"LibRaw: {text}"
        if text not in out:
            out.append(text)
    if len(out) > MAX_LINES:
        out = [*out[:MAX_LINES], f"LibRaw: … and {len(out) - MAX_LINES} more messages"]
    return out
