"""What the duplicates page and its API show: the library's groups (photoshelf/duplicates.py) for one audience,
with the catalog rows the page draws, the CLIP look-alike groups (models/lookalike.py), and the decisions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from photoshelf import duplicates as dup
from photoshelf import dupresolve
from photoshelf.db.rows import chunks
from photoshelf.db.schema import File, Photo
from photoshelf.models import lookalike
from photoshelf.viewer.errors import InvalidInput
from photoshelf.visibility import Audience, visible

LIMIT = 200  # groups per kind on the page: a library with more is resolved a page at a time (or in bulk)


def page(audience: Audience) -> dict[str, Any]:
    """The groups `audience` sees, each member with its catalog row, and the summary (groups, bytes freed)."""
    found = dup.find(audience)
    per_kind: dict[str, int] = defaultdict(int)
    shown = []
    for g in found:
        per_kind[g.kind] += 1
        if per_kind[g.kind] <= LIMIT:
            shown.append(g)
    ids = sorted({m.photo.id for g in shown for m in g.members})
    rows: dict[int, Photo] = {}
    for chunk in chunks(ids):
        rows.update((p.id, p) for p in Photo.select().where(Photo.id.in_(chunk)))
    groups = []
    for g in shown:
        members = [{"photo": rows[m.photo.id], "paths": m.paths, "keep": m.keep, "reason": m.reason}
                   for m in g.members if m.photo.id in rows]
        groups.append({"id": g.id, "kind": g.kind, "members": members, "distance": g.distance,
                       "resolved": g.resolved, "freeable": g.freeable,
                       "resolvable": g.kind in dupresolve.RESOLVABLE})
    total = dup.summary(found)
    return {"groups": groups, "lookalike": lookalike_groups(LIMIT, audience),
            "summary": {"groups": total.groups, "by_kind": total.by_kind, "freeable": total.freeable,
                        "unresolved_near": sum(1 for g in found if g.kind == "near" and not g.resolved)}}


def resolve(audience: Audience, group_ids: list[str], all_suggested: bool, keep: int | None) -> dupresolve.Outcome:
    """The page's confirm buttons: these groups (by id), or every unresolved near group, as suggested (or keeping
    `keep`, with one group). Runs in the viewer's writer; the sidecars follow on the watcher's next pass."""
    if all_suggested:
        groups = [g for g in dup.find(audience, ("near",)) if not g.resolved]
    else:
        if not group_ids:
            raise InvalidInput("say which group to resolve (group) or resolve all suggested (all=suggested)")
        if keep is not None and len(group_ids) != 1:
            raise InvalidInput("keep names the photo to keep in one group, not several")
        by_id = {g.id: g for g in dup.find(audience, {ref.partition(":")[0] for ref in group_ids})}
        missing = [ref for ref in group_ids if ref not in by_id]
        if missing:
            from photoshelf.errors import NotFound

            raise NotFound(f"no duplicate group {missing[0][:80]!r}: the page may be out of date")
        groups = [by_id[ref] for ref in group_ids]
    try:
        return dupresolve.resolve(Photo._meta.database, groups, keep)
    except dupresolve.ResolveError as exc:
        raise InvalidInput(str(exc)) from exc


def unresolve(audience: Audience, photo_ids: list[int]) -> dupresolve.Outcome:
    """Take back the decision for these photos (a copy, or a keeper: all its copies) that `audience` sees."""
    rows: Any = visible(Photo.select(Photo.id), audience, archive_view=True).where(
        Photo.id.in_(photo_ids or [0])).tuples()
    seen = [int(pid) for (pid,) in rows]
    if not seen:
        raise InvalidInput("say which photo to show again (photo)")
    return dupresolve.unresolve(Photo._meta.database, seen)


def lookalike_groups(limit: int, audience: Audience) -> list[dict[str, Any]]:
    """Photos whose CLIP embeddings are nearly the same (models/lookalike.py), as connected groups, each with the
    search that shows its most connected photo and those that look like it."""
    found = lookalike.groups(limit)
    ids = sorted({i for g in found for i in (*g["ids"], g["hub"])})
    photos: dict[int, Photo] = {}
    paths: dict[int, list[str]] = defaultdict(list)
    for chunk in chunks(ids):
        photos.update((p.id, p) for p in visible(Photo.select().where(Photo.id.in_(chunk)), audience))
        files: Any = (File.select(File.photo, File.path).where(
            File.photo.in_(chunk) & (File.role == "media") & File.missing_since.is_null()).order_by(File.path).tuples())
        for pid, path in files:
            paths[pid].append(path)
    out = []
    for g in found:
        ps = [photos[i] for i in g["ids"] if i in photos]
        if len(ps) > 1 and g["hub"] in photos:
            out.append({"kind": "lookalike", "photos": ps, "paths": {p.id: paths[p.id] for p in ps},
                        "size": g["size"], "similarity": g["similarity"],
                        "query": f"lookalike:{photos[g['hub']].uid}"})
    return out
