"""Catch what C decoders write to stderr during one call (LibRaw's bare "unknown file: data corrupted at …"), so it
becomes that file's recorded warning instead of a nameless line on the console.

LibRaw (and the libjpeg inside it) report to file descriptor 2 from C, and LibRaw names the file "unknown file"
because photoshelf hands it bytes, not a path. A file descriptor belongs to the whole process: while any decode
runs, fd 2 is a pipe that a reader thread empties, so RAW files decode side by side. A decoder's line that comes
while one decode runs is that file's; one that comes while several run could be any of theirs, so each of those
decodes runs again alone (the others wait to start meanwhile), and that run's lines are its file's. A good file
therefore never gets a corrupt file's lines, and only decodes that overlapped a talking one cost twice; after a
decode that talked, the next starts alone at once. Every other line (another thread's log message) goes on to
the real stderr.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# What LibRaw and libjpeg print: LibRaw's data-error callback ("<name>: data corrupted at 1378", "<name>:
# Unexpected end of file", the name being "unknown file" for a decode from memory) and libjpeg's warnings.
DECODER_LINE = re.compile(
    r"^(unknown file: .*|.*data corrupted.*|.*[Uu]nexpected end of file.*|Premature end of JPEG file.*|"
    r"Corrupt JPEG data.*|.*LibRaw.*)$"
)
MAX_LINES = 5  # per file: a corrupt file can print one line per block
_MARK = b"\x00photoshelf-stderr-mark "  # a line of ours through the pipe: all written before it has been read
SYNC_TIMEOUT = 30.0  # seconds: only a stuck reader takes longer


@dataclass
class _Decode:
    lines: list[str] = field(default_factory=list)
    mixed: bool = False  # a line came while other decodes ran too: whose it was is unknown


class _Redirect:
    """fd 2 pointed at a pipe while at least one decode runs, and the thread that empties the pipe.

    The pipe and its reader live as long as the process: a child process started meanwhile inherits fd 2 and may
    write to it later, and its lines still reach the real stderr."""

    def __init__(self) -> None:
        self.turns = threading.Condition()  # starting and ending decodes (and the redirect with them)
        self.changed = threading.Condition()  # the reader's state: the decodes' lines, the last mark read
        self.decoding: dict[int, _Decode] = {}
        self.alone = False  # a decode runs alone: no other may start
        self.waiting_alone = 0  # decodes waiting to run alone: no other may start either
        self.last_talked = False  # the decode that ended last got lines: the next starts alone (a library of
        # files that all talk would otherwise decode each twice)
        self.marks = itertools.count(1)
        self.mark_read = 0
        self.saved = -1  # a copy of the real stderr while fd 2 is the pipe
        self.write_end = -1

    def begin(self, alone: bool) -> int:
        with self.turns:
            if alone:
                self.waiting_alone += 1
                self.turns.wait_for(lambda: not self.alone and not self.decoding)
                self.waiting_alone -= 1
                self.alone = True
            else:
                self.turns.wait_for(lambda: not self.alone and not self.waiting_alone)
            if self.write_end < 0:
                read_end, self.write_end = os.pipe()
                threading.Thread(target=self._read, args=(read_end,), name="stderr-capture", daemon=True).start()
            if self.decoding:
                self._sync()  # what the other files' decoders wrote until now is theirs, not this file's
            else:
                _flush()
                with self.changed:
                    self.saved = os.dup(2)
                os.dup2(self.write_end, 2)
            token = next(self.marks)
            with self.changed:
                self.decoding[token] = _Decode()
            return token

    def end(self, token: int) -> _Decode:
        with self.turns:
            _flush()
            self._sync()  # every line this decode wrote has been read
            with self.changed:
                done = self.decoding.pop(token)
                if not self.decoding:
                    os.dup2(self.saved, 2)
                    os.close(self.saved)
                    self.saved = -1
            self.alone = False
            self.last_talked = bool(done.lines)
            self.turns.notify_all()
            return done

    def _sync(self) -> None:
        """Wait until the reader has read every byte written to the pipe before this call."""
        number = next(self.marks)
        os.write(self.write_end, _MARK + str(number).encode() + b"\n")  # one write under PIPE_BUF: never split
        with self.changed:
            if not self.changed.wait_for(lambda: self.mark_read >= number, timeout=SYNC_TIMEOUT):
                log.warning("the stderr reader fell behind: a decoder's message may be missed")

    def _read(self, read_end: int) -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                self._sort(lines)

    def _sort(self, lines: list[bytes]) -> None:
        others = []
        with self.changed:
            for raw in lines:
                at = raw.find(_MARK)
                if at >= 0:  # after the start of another writer's line, if it wrote one in pieces
                    self.mark_read = max(self.mark_read, int(raw[at + len(_MARK):]))
                    self.changed.notify_all()
                    raw = raw[:at]
                line = raw.decode("utf-8", "replace").strip()
                if self.decoding and DECODER_LINE.match(line):
                    for decode in self.decoding.values():
                        decode.lines.append(line)
                        decode.mixed = decode.mixed or len(self.decoding) > 1
                elif line:
                    others.append(raw)
            if others:
                try:
                    os.write(self.saved if self.saved >= 0 else 2, b"\n".join(others) + b"\n")
                except OSError:  # stderr closed: the lines have nowhere to go
                    pass


_redirect = _Redirect()


def decode_capturing(decode: Callable[[], T], said: list[str]) -> T:
    """`decode()` (a call into a C decoder), with the decoder lines it writes to fd 2 put in `said`, also when it
    raises. When a line came while other decodes ran too, `decode()` runs again alone and `said` gets that run's
    lines (so `decode` must be a pure function of its input, as decoding bytes is)."""
    alone = _redirect.last_talked
    while True:
        token = _redirect.begin(alone)
        try:
            value = decode()
        except Exception:
            done = _redirect.end(token)
            if done.mixed and not alone:
                alone = True
                continue
            said[:] = _summary(done.lines)
            raise
        except BaseException:  # an interrupt: no second run
            _redirect.end(token)
            raise
        done = _redirect.end(token)
        if done.mixed and not alone:
            alone = True
            continue
        said[:] = _summary(done.lines)
        return value


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
