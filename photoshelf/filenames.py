"""File names that are not UTF-8 (old Windows/Samba archives): a readable name to show, the raw bytes to open.

Python hands such a name over with each undecodable byte as a lone surrogate (os.fsdecode's surrogateescape):
'caf\\udce9.jpg' for the CP1252 bytes b'caf\\xe9.jpg'. That str opens the file again, but it cannot be stored in a
utf8mb4 column, sent as JSON or drawn in a page. So the catalog keeps, for such a path:

- `file.path` / `file.name`: the display form, each name decoded as UTF-8 if it is, else as CP1252, else as CP437
  (both are what Windows wrote in Western Europe; CP437 decodes any byte). 'Old/Café.jpg'.
- `file.raw_path`: the path's bytes, percent-escaped (`%E9` for b'\\xe9', `%25` for '%'): ASCII, reversible.
  NULL for every path that is valid UTF-8 (nearly all of them), whose `path` is already exact.
- `file.path_hash`: the SHA-1 of the raw bytes, so two names that show alike stay two files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

# Tried in order for a name that is not UTF-8; the last decodes every byte.
LEGACY_ENCODINGS = ("cp1252", "cp437")


def raw_bytes(rel: str) -> bytes:
    """The bytes of a path as the file system holds them (its surrogate-escaped bytes put back)."""
    return rel.encode("utf-8", "surrogateescape")


def is_utf8(rel: str) -> bool:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode_part(data: bytes) -> tuple[str, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    for encoding in LEGACY_ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "backslashreplace"), None  # not reached: CP437 decodes any byte


def decoded(rel: str) -> tuple[str, str | None]:
    """The display form of a path and the legacy encoding its names were decoded from (None when all UTF-8).

    Each '/'-separated name is decoded on its own: a folder made on Linux may hold a file copied from Windows."""
    if is_utf8(rel):
        return rel, None
    parts = []
    used: str | None = None
    for part in raw_bytes(rel).split(b"/"):
        text, encoding = _decode_part(part)
        parts.append(text)
        used = used or encoding
    return "/".join(parts), used


def display(rel: str) -> str:
    """The path to show and store in `file.path` (valid UTF-8, with no surrogates)."""
    return decoded(rel)[0]


def escape(rel: str) -> str | None:
    """The value of `file.raw_path`: the path's bytes percent-escaped, or None when the path is valid UTF-8."""
    if is_utf8(rel):
        return None
    return quote_from_bytes(raw_bytes(rel), safe="/ !$&'()+,-.;=@_~[]{}#^`")


def unescape(raw_path: str) -> str:
    """The surrogate-escaped path `escape()` was given: what opens the file again."""
    return os.fsdecode(unquote_to_bytes(raw_path))


def rel_of(file: Any) -> str:
    """A catalog file's originals-relative path as the file system has it (surrogate-escaped when not UTF-8)."""
    raw = getattr(file, "raw_path", None)
    return unescape(raw) if raw else str(file.path)


def encoding_of(file: Any) -> str | None:
    """The legacy encoding a catalog file's name was decoded from for display ('cp1252', 'cp437'), or None."""
    raw = getattr(file, "raw_path", None)
    return decoded(unescape(raw))[1] if raw else None


def path_hash(rel: str) -> str:
    """The key of a path in the catalog: the SHA-1 of its bytes (for a UTF-8 path, of its UTF-8 text)."""
    return hashlib.sha1(raw_bytes(rel)).hexdigest()


def original_path(config: Any, file: Any) -> Path:
    """Where a catalog file is under the originals (a path that opens it, whatever its name's encoding)."""
    return Path(config.originals_path) / rel_of(file)
