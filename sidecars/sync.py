"""Keep sidecars and catalog in step both ways, and rebuild a lost catalog (restore); PhotoPrism's: photoprism.py."""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf.albums import Placer
from photoshelf.config import Config
from photoshelf.db import settings
from photoshelf.db.changes import change_photos
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import (
    Album,
    AlbumPhoto,
    Face,
    File,
    Person,
    Photo,
    PhotoEdit,
    PhotoStage,
    SidecarState,
    Stack,
    utcnow,
)
from photoshelf.db.transactions import write_transaction
from photoshelf.filenames import rel_of
from photoshelf.sidecars import format as fmt
from photoshelf.sidecars.edits import REREAD_REQUESTED, hand_edits
from photoshelf.sidecars.io import SidecarError, dumps, load, load_plain, merge, plain, write_atomic
from photoshelf.sidecars.ml import Restorer, ml_of

log = logging.getLogger(__name__)


def sidecar_root(config: Config) -> Path:
    return config.originals_path if config.sidecars.location == "originals" else config.storage_path / "sidecars"


@dataclass
class SyncReport:
    written: int = 0
    unchanged: int = 0
    applied: int = 0
    skipped: int = 0
    errors: int = 0
    albums_created: int = 0
    faces_restored: int = 0
    labels_restored: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# -- where a photo's sidecar lives ------------------------------------------------------------------------------


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def sidecar_paths(config: Config, photos: list[Photo]) -> dict[int, Path]:
    """Sidecar path per photo: <root>/<folder>/<base name>.yml, one per photo or stack (the primary's); when two
    unrelated photos in a folder share a base name, the one that is not alone takes <name.ext>.yml."""
    root = sidecar_root(config)
    ids = [p.id for p in photos]
    primary_file: dict[int, File] = {}
    for chunk in chunks(ids, 500):
        for f in File.select().where(File.photo.in_(chunk) & (File.role == "media")).order_by(
                File.missing_since.is_null(False), File.path):
            primary_file.setdefault(f.photo_id, f)
    folders = {f.folder_id for f in primary_file.values()}
    stems: dict[tuple[int, str], set[int]] = defaultdict(set)
    for chunk in chunks(sorted(folders), 200):
        rows = tuples(File.select(File.folder, File.name, File.photo, Photo.stack).join(Photo).where(
            File.folder.in_(chunk) & (File.role == "media")
        ))
        for folder_id, name, photo_id, stack_id in rows:
            stems[(folder_id, _stem(name).lower())].add(stack_id or -photo_id)  # a stack counts as one
    out = {}
    for p in photos:
        primary = primary_file.get(p.id)
        if primary is None:
            continue
        rel = rel_of(primary)  # beside the file as the file system names it (a name that is not UTF-8 too)
        folder, _, file_name = rel.rpartition("/")
        shared = len(stems[(primary.folder_id, _stem(primary.name).lower())]) > 1
        name = file_name if shared else _stem(file_name)
        out[p.id] = root / folder / f"{name}.yml"
    return out


# -- catalog -> sidecars ----------------------------------------------------------------------------------------


def _albums_of(photo_ids: list[int]) -> dict[int, list[dict[str, str]]]:
    out: dict[int, list[dict[str, str]]] = defaultdict(list)
    for chunk in chunks(photo_ids, 500):
        rows = (AlbumPhoto.select(AlbumPhoto.photo, Album.uid, Album.title).join(Album)
                .where(AlbumPhoto.photo.in_(chunk)).order_by(Album.title))
        for row in rows:
            out[row.photo_id].append({"UID": row.album.uid, "Title": row.album.title})
    return out


def _rotations(photo_ids: list[int]) -> dict[int, int]:
    out = {}
    for chunk in chunks(photo_ids, 500):
        for e in PhotoEdit.select().where(PhotoEdit.photo.in_(chunk)):
            out[e.photo_id] = e.rotation
    return out


# Content hashes of the files this process wrote last, so the watcher does not apply our own writes back.
_written: dict[str, str] = {}


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()  # a sidecar path may not be UTF-8


@dataclass
class SidecarRows:
    """What the sidecars of a chunk of photos are made from, read from the catalog in a few queries per chunk
    (the apply step updates them for a photo whose sidecar it took in)."""

    paths: dict[int, Path]  # where each photo's sidecar goes (none: the photo has no media file)
    albums: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    rotations: dict[int, int] = field(default_factory=dict)
    ml: dict[int, dict[str, Any]] = field(default_factory=dict)
    stacks: dict[int, Stack] = field(default_factory=dict)  # the photos' stacks by id
    members: dict[int, list[dict[str, str]]] = field(default_factory=dict)  # stack id: its photos' Sha1 and UID
    keepers: dict[int, str] = field(default_factory=dict)  # the SHA-1 of the photo each is a copy of
    digests: dict[int, str] = field(default_factory=dict)  # what SidecarState records as written last


@dataclass(frozen=True)
class PlannedSidecar:
    """One photo's sidecar as the catalog has it: where it goes, its content and that content's digest."""

    photo: Photo
    path: Path
    content: dict[str, Any]
    digest: str
    recorded: bool  # SidecarState holds this digest: nothing to do while the file is still there
    wrote_before: bool  # SidecarState has a row for the photo: we wrote its sidecar before


def sidecar_rows(config: Config, photos: list[Photo]) -> SidecarRows:
    """The catalog rows the sidecars of these photos (a chunk) are made from."""
    ids = [p.id for p in photos]
    stacks = {s.id: s for s in Stack.select().where(Stack.id.in_([p.stack_id for p in photos if p.stack_id]))}
    members: dict[int, list[dict[str, str]]] = defaultdict(list)
    for m in Photo.select(Photo.stack, Photo.sha1, Photo.uid).where(Photo.stack.in_(list(stacks) or [0])):
        members[m.stack_id].append({"Sha1": m.sha1, "UID": m.uid})
    return SidecarRows(
        paths=sidecar_paths(config, photos), albums=_albums_of(ids), rotations=_rotations(ids), ml=ml_of(ids),
        stacks=stacks, members=members, keepers=_keepers(photos),
        digests={row.photo_id: row.digest for row in SidecarState.select().where(SidecarState.photo.in_(ids))})


def _content(photo: Photo, rows: SidecarRows) -> dict[str, Any]:
    stack = rows.stacks.get(photo.stack_id) if photo.stack_id else None
    return fmt.build(photo, albums=rows.albums.get(photo.id, []), rotation=rows.rotations.get(photo.id, 0),
                     stack=_stack_info(stack, rows.members), ml=rows.ml.get(photo.id),
                     duplicate_of=rows.keepers.get(photo.id))


def _content_digest(content: dict[str, Any], path: Path) -> str:
    return _digest(json.dumps(content, sort_keys=True, default=str) + str(path))


def plan_sidecars(photos: Iterable[Photo], rows: SidecarRows) -> list[PlannedSidecar]:
    """The sidecars these photos have, from catalog rows alone (no database, no file): one per photo with a media
    file, or per stack (the primary's), each marked `recorded` when SidecarState says it was written as it is."""
    out = []
    for photo in photos:
        path = rows.paths.get(photo.id)
        if path is None:
            continue
        stack = rows.stacks.get(photo.stack_id) if photo.stack_id else None
        if stack is not None and stack.primary_photo_id != photo.id:
            continue  # one sidecar per stack: the primary's
        content = _content(photo, rows)
        digest = _content_digest(content, path)
        out.append(PlannedSidecar(photo=photo, path=path, content=content, digest=digest,
                                  recorded=rows.digests.get(photo.id) == digest, wrote_before=photo.id in rows.digests))
    return out


def write_sidecars(config: Config, photos: Iterable[Photo]) -> SyncReport:
    """Write (or rewrite, only if changed) the sidecars of these photos."""
    report = SyncReport()
    photos = [p for p in photos if p.missing_since is None]
    for chunk in chunks(photos, 500):
        rows = sidecar_rows(config, chunk)
        apply_sidecars(config, plan_sidecars(chunk, rows), rows, report)
    return report


def apply_sidecars(config: Config, planned: list[PlannedSidecar], rows: SidecarRows, report: SyncReport) -> None:
    """Write the planned sidecars that changed (atomically, merged into what the file holds: keys we do not write
    are kept) and record them in SidecarState. A sidecar older than the photo's catalog row is taken in first."""
    states: list[dict[str, Any]] = []
    for item in planned:
        photo, path, content = item.photo, item.path, item.content
        if item.recorded and path.exists():
            report.unchanged += 1  # what we wrote last time, and still there: no need to read it
            continue
        try:
            existing = load(path)
        except SidecarError as exc:
            log.warning("sidecars: %s; writing a fresh one (the old file is kept as .bad)", exc)
            os.replace(path, path.with_name(path.name + ".bad"))
            existing = None
        if existing is not None and _predates(path, photo, existing, wrote_before=item.wrote_before):
            # The sidecar is older than this catalog row: the catalog was rebuilt (lost, or indexed afresh)
            # and the file holds user data the catalog never saw. Take it in instead of overwriting it.
            photo = _take_in(photo, existing, rows, report)
            content = _content(photo, rows)
        if existing is not None:
            before = plain(existing)
            merged = merge(existing, content)
            if plain(merged) == before:
                states.append({"photo": photo.id, "digest": item.digest, "written_at": utcnow()})
                report.unchanged += 1
                continue
            text = dumps(merged)
        else:
            text = dumps(content)
        _written[str(path)] = _digest(text)
        if len(_written) > 10000:
            _written.clear()
        try:
            written = write_atomic(path, text, config.storage_path)
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                log.error("sidecars: cannot write %s: %s", path, exc)
                report.errors += 1
                continue
            # A name near the 255-byte limit has no room for ".yml": name the sidecar by its content hash.
            path = path.with_name(f"{photo.sha1}.yml")
            written = write_atomic(path, text, config.storage_path)
        states.append({"photo": photo.id, "written_at": utcnow(),
                       "digest": _content_digest(_content(photo, rows), path)})
        if written:
            report.written += 1
        else:
            report.unchanged += 1
    if states:
        SidecarState.insert_many(states).on_conflict_replace().execute()


def _take_in(photo: Photo, existing: Any, rows: SidecarRows, report: SyncReport) -> Photo:
    """Apply a sidecar's user data (and its faces and labels) to the catalog; the photo and its rows as they are
    now."""
    ud = fmt.parse(existing)
    apply_user_data(photo, ud, report)
    restorer = Restorer()
    restorer.apply([(photo.id, ud)])
    restorer.flush()
    report.faces_restored += restorer.faces
    report.labels_restored += restorer.labels
    rows.ml.update(ml_of([photo.id]))
    report.applied += 1
    photo = Photo.get_by_id(photo.id)
    rows.keepers.update(_keepers([photo]))
    rows.albums[photo.id] = _albums_of([photo.id]).get(photo.id, [])
    rows.rotations.update(_rotations([photo.id]))
    stack = rows.stacks.get(photo.stack_id) if photo.stack_id else None
    if stack is not None:
        rows.members[stack.id] = [{"Sha1": m.sha1, "UID": m.uid} for m in
                                  Photo.select(Photo.sha1, Photo.uid).where(Photo.stack == stack.id)]
    return photo


def _keepers(photos: list[Photo]) -> dict[int, str]:
    """The SHA-1 of the photo each of these was resolved as a copy of (a content hash: it survives a rebuild)."""
    wanted = {p.id: p.duplicate_of for p in photos if p.duplicate_of}
    if not wanted:
        return {}
    rows: Any = Photo.select(Photo.id, Photo.sha1).where(Photo.id.in_(list(set(wanted.values())))).tuples()
    sha: dict[int, str] = dict(rows)
    return {pid: sha[k] for pid, k in wanted.items() if k in sha}


def _stack_info(stack: Stack | None, members: dict[int, list[dict[str, str]]]) -> dict[str, Any] | None:
    if stack is None:
        return None
    return {"Kind": stack.kind, "Members": sorted(members.get(stack.id, []), key=lambda m: m["Sha1"])}


def _predates(path: Path, photo: Photo, existing: Any, *, wrote_before: bool) -> bool:
    """Whether a sidecar of this content was written before the photo's catalog row existed.

    `wrote_before`: this catalog has written the photo's sidecar already (a SidecarState row). When it has not,
    a sidecar of this photo found on disk comes from an earlier catalog (lost, or rebuilt): it is taken in,
    whatever the clocks say (MariaDB keeps whole seconds, so a rebuild within the second of the last write
    could not be told apart by time)."""
    try:
        ud = fmt.parse(existing)
    except ValueError:
        return False
    if ud.sha1 != photo.sha1 and not (ud.uid and ud.uid == photo.uid):
        return False
    if not wrote_before:
        return True
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    return bool(photo.created_at and photo.created_at.replace(microsecond=0) > mtime)


def sync_changed(config: Config, stop: Any = None) -> SyncReport:
    """Write the sidecars of photos changed since the last sync (by the indexer, a person, or an album edit).

    `stop` (a threading.Event) ends the pass early between chunks; the next pass picks up the rest."""
    since = settings.get_time(settings.SIDECARS_SYNCED) or dt.datetime(1970, 1, 1)
    # MariaDB keeps whole seconds: look a second further back (unchanged files are not rewritten anyway).
    since = since.replace(microsecond=0) - dt.timedelta(seconds=1)
    started = utcnow()
    changed = Photo.select().where(Photo.updated_at >= since)
    in_albums = Photo.select().join(AlbumPhoto).join(Album).where(Album.updated_at >= since)
    edited = Photo.select().join(PhotoEdit).where(PhotoEdit.updated_at >= since)
    # Enrichment that ran (faces, labels) and people renamed or merged change what the sidecars say too.
    enriched = Photo.select().join(PhotoStage).where(PhotoStage.done_at >= since)
    renamed = Photo.select().join(Face).join(Person).where(Person.updated_at >= since)
    ids = {p.id for q in (changed, in_albums, edited, enriched, renamed) for p in q.select(Photo.id)}
    report = SyncReport()
    for chunk in chunks(sorted(ids), 200):
        if stop is not None and stop.is_set():
            return report  # synced_at not advanced: the rest is written next time
        part = write_sidecars(config, Photo.select().where(Photo.id.in_(chunk)))
        report.written += part.written
        report.unchanged += part.unchanged
        report.applied += part.applied
    settings.put_time(settings.SIDECARS_SYNCED, started)
    # Sidecar files changed after the pass's end are hand edits (the pass's start marks the catalog's side).
    settings.put_time(settings.SIDECAR_FILES_SYNCED)
    return report


# -- sidecars -> catalog ----------------------------------------------------------------------------------------


def _find_photo(ud: fmt.UserData) -> Photo | None:
    if ud.sha1:
        photo = Photo.get_or_none(Photo.sha1 == ud.sha1)
        if photo is not None:
            return photo
    if ud.uid:
        return Photo.get_or_none(Photo.uid == ud.uid)
    return None


@dataclass
class _Known:
    """What a restore pass looked up once instead of per photo."""

    edited: set[int]
    uids: set[str] = field(default_factory=set)
    placer: Placer = field(default_factory=lambda: Placer(cached=True))  # the albums, looked up once


def apply_user_data(photo: Photo, ud: fmt.UserData, report: SyncReport, *, keep_uid: bool = True,
                    known: _Known | None = None) -> None:
    """Put a sidecar's user data on a catalog photo (titles, flags, albums, rotation, hand-set fields)."""
    fields: dict[str, Any] = {
        "favorite": ud.favorite, "private": ud.private, "archived": ud.archived,
        "locked": ",".join(ud.locked),
    }
    locked = set(ud.locked)
    # Descriptive text: the sidecar's value when a person set it, or when the catalog has none.
    for name, value in (("title", ud.title), ("description", ud.description), ("keywords", ud.keywords)):
        if name in locked or (value and not getattr(photo, name)):
            fields[name] = value
    if ud.rating is not None:
        fields["rating"] = ud.rating
    if "taken_at" in locked and ud.taken_at is not None:
        fields["taken_at"] = ud.taken_at
        fields["taken_at_local"] = ud.taken_at_local or ud.taken_at
    if "location" in locked:
        fields["lat"], fields["lon"] = ud.lat, ud.lon
    keeper = Photo.get_or_none(Photo.sha1 == ud.duplicate_of) if ud.duplicate_of else None
    fields["duplicate_of"] = keeper.id if keeper is not None and keeper.id != photo.id else None
    if keep_uid and ud.uid and ud.uid != photo.uid and not _uid_taken(ud.uid, known):
        fields["uid"] = ud.uid  # share links and albums elsewhere keep pointing at the same photo
        if known is not None:
            known.uids.add(ud.uid)
    fields = {k: v for k, v in fields.items() if getattr(photo, k) != v}
    if "lat" in fields or "lon" in fields:
        # A hand-set position: its place name is redone by the index run's backfill (indexer/places.py).
        fields.update(country_code=None, country=None, state=None, city=None)
    if fields:
        change_photos(Photo.id == photo.id, **fields)
    if keep_uid:
        for member in ud.stack_members:
            if member.get("Sha1") and member.get("UID") and member["Sha1"] != photo.sha1 and not (
                    _uid_taken(member["UID"], known)):
                Photo.update(uid=member["UID"]).where(Photo.sha1 == member["Sha1"]).execute()
                if known is not None:
                    known.uids.add(member["UID"])
    if ud.rotation:
        PhotoEdit.insert(photo=photo.id, rotation=ud.rotation, updated_at=utcnow()).on_conflict_replace().execute()
    elif known is None or photo.id in known.edited:
        PhotoEdit.delete().where(PhotoEdit.photo == photo.id).execute()
    placer = known.placer if known is not None else Placer()
    before = placer.created
    placer.place(photo.id, ud.albums)
    report.albums_created += placer.created - before


def _uid_taken(uid: str, known: _Known | None) -> bool:
    if known is not None:
        return uid in known.uids
    return bool(Photo.select().where(Photo.uid == uid).exists())


def apply_file(config: Config, path: Path, *, force: bool = False) -> str:
    """Apply one hand-edited (or restored) sidecar: newest wins. Returns 'applied', 'older' or 'unknown'."""
    try:
        if not force and _written.get(str(path)) == _digest(path.read_text(encoding="utf-8")):
            return "ours"  # the file we just wrote
        data = load(path)
    except (SidecarError, OSError, UnicodeDecodeError) as exc:
        log.warning("sidecars: %s", exc)
        return "error"
    if data is None:
        return "unknown"
    try:
        ud = fmt.parse(data)
    except ValueError as exc:
        log.warning("sidecars: %s: %s", path, exc)
        return "error"
    photo = _find_photo(ud)
    if photo is None:
        return "unknown"
    edits = hand_edits(photo, ud)  # what differs from the catalog locks; what was emptied unlocks
    if not force and not edits and _same_user_data(photo, ud):
        return "same"  # e.g. the file photoshelf itself wrote in an earlier run
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    if not force and photo.updated_at and photo.updated_at > mtime:
        log.info("sidecars: %s is older than the catalog's photo %s: the catalog wins", path, photo.uid)
        return "older"
    if not force:
        log.info("sidecars: %s was edited after the catalog: applying it to photo %s (locks %s, unlocks %s)", path,
                 photo.uid, ",".join(sorted(edits.locked)) or "-", ",".join(sorted(edits.unlocked)) or "-")
    apply_user_data(photo, ud, SyncReport())
    if edits.unlocked:
        # The file's own values come back: the next index run (or reindex --metadata) reads them again.
        Photo.update(meta_version=REREAD_REQUESTED).where(Photo.id == photo.id).execute()
    return "applied"


def apply_changed_files(config: Config) -> int:
    """Apply sidecars edited by hand since the last sync (what `index` does when no watcher ran)."""
    synced = settings.get_time(settings.SIDECAR_FILES_SYNCED) or settings.get_time(settings.SIDECARS_SYNCED)
    if synced is None:
        return 0
    since = synced.replace(tzinfo=dt.UTC).timestamp()
    applied = 0
    for path in iter_sidecar_files(sidecar_root(config)):
        try:
            if path.stat().st_mtime > since and apply_file(config, path) == "applied":
                applied += 1
        except OSError:
            continue
    return applied


def after_index(config: Config) -> SyncReport:
    """The sidecar stage of an index run: take in hand edits, then write what changed in the catalog."""
    applied = apply_changed_files(config)
    report = sync_changed(config)
    report.applied += applied
    return report


def _same_user_data(photo: Photo, ud: fmt.UserData) -> bool:
    """Whether applying the sidecar would change nothing a person can see."""
    if (photo.title or None, photo.description or None, photo.keywords or None) != (
            ud.title, ud.description, ud.keywords):
        return False
    if (bool(photo.favorite), bool(photo.private), bool(photo.archived), photo.rating) != (
            ud.favorite, ud.private, ud.archived, ud.rating):
        return False
    if sorted(x for x in (photo.locked or "").split(",") if x) != sorted(ud.locked):
        return False
    if _keepers([photo]).get(photo.id) != ud.duplicate_of:
        return False
    edit = PhotoEdit.get_or_none(PhotoEdit.photo == photo.id)
    if (edit.rotation if edit else 0) != ud.rotation:
        return False
    have = {a.album.uid for a in AlbumPhoto.select(AlbumPhoto, Album).join(Album).where(AlbumPhoto.photo == photo.id)}
    return have == {a["UID"] for a in ud.albums}


def iter_sidecar_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith((".yml", ".yaml")) and not name.startswith("."):
                yield Path(dirpath) / name


def restore(config: Config, db: pw.Database, *, progress: Any = None) -> SyncReport:
    """Rebuild the catalog's user data from the sidecars (after `index` rebuilt it from the originals)."""
    report = SyncReport()
    paths = list(iter_sidecar_files(sidecar_root(config)))
    known = _Known(edited={pid for (pid,) in tuples(PhotoEdit.select(PhotoEdit.photo))},
                   uids={uid for (uid,) in tuples(Photo.select(Photo.uid))})
    restorer = Restorer()
    for chunk in chunks(paths, 500):
        parsed: list[fmt.UserData] = []
        for path in chunk:
            try:
                data = load_plain(path)
                if data is None:
                    continue
                parsed.append(fmt.parse(data))
            except (SidecarError, ValueError) as exc:
                log.warning("restore: %s", exc)
                report.errors += 1
        by_sha = {p.sha1: p for p in Photo.select().where(Photo.sha1.in_([u.sha1 for u in parsed if u.sha1] or [""]))}
        with write_transaction(db):  # one transaction per 500 sidecars
            found = []
            for ud in parsed:
                photo = by_sha.get(ud.sha1 or "") or _find_photo(ud)
                if photo is None:
                    report.skipped += 1
                    continue
                apply_user_data(photo, ud, report, known=known)
                found.append((photo.id, ud))
                report.applied += 1
            restorer.apply(found)  # faces and labels, with their stage versions: no need to run the models
            restorer.flush()
    report.faces_restored, report.labels_restored = restorer.faces, restorer.labels
    return report
