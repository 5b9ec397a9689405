"""Stacks: RAW+JPEG pairs, Live Photos (still + short motion clip) and edited copies shown as one photo."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from photoshelf.db.schema import File, Photo, Stack
from photoshelf.media.decode import kind_for_filetype

# "IMG_1234 (1)", "IMG_1234_edited", "IMG_1234-bearbeitet", Apple's "IMG_E1234".
_EDIT_SUFFIX = re.compile(r"(?:\s\(\d+\)|[-_ ](?:edited|edit|bearbeitet|modifié|modificato|copy|kopie))$", re.I)
_APPLE_EDIT = re.compile(r"^(IMG_)E(\d{4})$", re.I)
LIVE_MAX_SECONDS = 5.0


def stack_key(name: str) -> tuple[str, bool]:
    """The base name a file stacks under, and whether the name marks it as an edited copy."""
    stem = name
    while "." in stem:  # IMG_1.jpg and IMG_1.jpg.mov both stack under IMG_1
        head, _, tail = stem.rpartition(".")
        if not head or len(tail) > 4:
            break
        stem = head
    edited = False
    m = _APPLE_EDIT.match(stem)
    if m:
        stem, edited = m[1] + m[2], True
    while True:
        m2 = _EDIT_SUFFIX.search(stem)
        if not m2:
            break
        stem, edited = stem[: m2.start()], True
    return stem.lower(), edited


@dataclass
class _Member:
    photo: Photo
    name: str
    edited: bool


def base_kind(photo: Photo) -> str:
    return kind_for_filetype(photo.format) or ("video" if photo.mime.startswith("video/") else "image")


def _choose(members: list[_Member]) -> tuple[str, _Member] | None:
    kinds = {base_kind(m.photo) for m in members}
    stills = [m for m in members if base_kind(m.photo) == "image"]
    raws = [m for m in members if base_kind(m.photo) == "raw"]
    videos = [m for m in members if base_kind(m.photo) == "video"]
    originals = [m for m in members if not m.edited]
    if videos and (stills or raws):
        content_ids = {m.photo.content_id for m in members if m.photo.content_id}
        short = all((v.photo.duration or 0) <= LIVE_MAX_SECONDS for v in videos)
        if not (short or len(content_ids) == 1):
            return None  # a real video that merely shares a name with a photo
        kind = "live"
    elif raws and stills:
        kind = "raw"
    elif any(m.edited for m in members):
        kind = "edit"
    elif kinds == {"image"} or kinds == {"raw"}:
        kind = "variant"  # the same picture saved in several formats (IMG_1.jpg, IMG_1.png)
    else:
        return None
    pool = [m for m in (stills or raws or videos) if not m.edited] or stills or raws or videos
    if kind == "edit":
        pool = originals or members
    primary = sorted(pool, key=lambda m: (m.edited, m.name))[0]
    return kind, primary


def restack(folder_ids: Iterable[int]) -> int:
    """Recompute the stacks of these folders from the files present in them. Returns the stacks touched."""
    touched = 0
    stack_ids: set[int] = set()
    for folder_id in set(folder_ids):
        files = (
            File.select(File.name, Photo)
            .join(Photo)
            .where((File.folder == folder_id) & (File.role == "media") & File.missing_since.is_null())
        )
        groups: dict[str, list[_Member]] = defaultdict(list)
        seen: set[int] = set()
        for f in files:
            photo = f.photo
            assert photo is not None  # the inner join above
            if photo.id in seen:
                continue
            seen.add(photo.id)
            if photo.stack_id:
                stack_ids.add(photo.stack_id)
            key, edited = stack_key(f.name)
            groups[key].append(_Member(photo=photo, name=f.name, edited=edited))
        # Live Photos whose names differ but share Apple's content identifier.
        by_cid: dict[str, list[_Member]] = defaultdict(list)
        for members in list(groups.values()):
            for m in members:
                if m.photo.content_id:
                    by_cid[m.photo.content_id].append(m)
        for cid, members in by_cid.items():
            keys = {stack_key(m.name)[0] for m in members}
            if len(keys) > 1:
                merged = [m for k in keys for m in groups.pop(k)]
                groups[f"cid:{cid}"] = merged
        wanted: dict[int, tuple[Stack | None, bool]] = {}
        for key, members in groups.items():
            choice = _choose(members) if len(members) > 1 else None
            if choice is None:
                for m in members:
                    wanted[m.photo.id] = (None, False)
                continue
            kind, primary = choice
            stack_name = f"{folder_id}:{key}"[:80]
            stack, _ = Stack.get_or_create(key=stack_name, defaults={"kind": kind})
            if stack.kind != kind or stack.primary_photo_id != primary.photo.id:
                stack.kind, stack.primary_photo_id = kind, primary.photo.id
                stack.save()
            touched += 1
            stack_ids.add(stack.id)
            for m in members:
                wanted[m.photo.id] = (stack, m is primary and kind == "live")
        photos = {m.photo.id: m.photo for members in groups.values() for m in members}
        for photo_id, (stack, is_live_primary) in wanted.items():
            photo = photos[photo_id]
            new_kind = "live" if is_live_primary else base_kind(photo)
            new_stack = stack.id if stack is not None else None
            if photo.stack_id != new_stack or photo.kind != new_kind:
                Photo.update(stack=new_stack, kind=new_kind).where(Photo.id == photo_id).execute()
    # Stacks left with fewer than two photos are dissolved.
    for stack in Stack.select().where(Stack.id.in_(list(stack_ids))) if stack_ids else []:
        if Photo.select().where(Photo.stack == stack.id).count() < 2:
            Photo.update(stack=None).where(Photo.stack == stack.id).execute()
            stack.delete_instance()
    return touched
