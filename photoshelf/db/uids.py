"""The public ids of photos, people and albums: a kind letter and 16 random hex digits ("p3f9c…", "a07b…")."""

from __future__ import annotations

import re
import secrets

PHOTO = "p"
PERSON = "p"  # people were given the photos' letter from the start; their uids live in their own table
ALBUM = "a"
PHOTO_UID = re.compile(PHOTO + r"[0-9a-f]{16}")  # a uid photo_uid() makes


def new_uid(kind: str) -> str:
    """A new uid for a row of `kind` (PHOTO, PERSON or ALBUM): the letter and 64 random bits in hex."""
    return kind + secrets.token_hex(8)


def photo_uid() -> str:
    return new_uid(PHOTO)


def person_uid() -> str:
    return new_uid(PERSON)


def album_uid() -> str:
    return new_uid(ALBUM)
