"""photoshelf/db/uids.py: the uid format the catalog, the sidecars and search's lookalike:<uid> expect."""

from __future__ import annotations

import re

from photoshelf.db.uids import PHOTO_UID, album_uid, person_uid, photo_uid


def test_uid_format() -> None:
    assert PHOTO_UID.fullmatch(photo_uid())
    assert re.fullmatch(r"p[0-9a-f]{16}", person_uid())
    assert re.fullmatch(r"a[0-9a-f]{16}", album_uid())
    assert len({photo_uid() for _ in range(1000)}) == 1000
    assert not PHOTO_UID.fullmatch(album_uid())
