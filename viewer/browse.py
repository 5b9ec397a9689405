"""Ways into the library besides the timeline: the originals' folders, the calendar, places (duplicates: viewer/duplicates.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import peewee as pw

from photoshelf.db.dates import split_year_month, year_month
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import File, Folder, Photo
from photoshelf.errors import NotFound
from photoshelf.records import GUESSED_DATE_SOURCES
from photoshelf.viewer import covers, names
from photoshelf.viewer.listing import Scope, base_select
from photoshelf.visibility import Audience, visible


def folder(folder_id: int | None, audience: Audience) -> dict[str, Any]:
    """A folder of the originals (the root when no id): its breadcrumbs, subfolders and how many photos each
    holds directly (of those `audience` sees)."""
    if folder_id is None:
        row = Folder.get_or_none(Folder.path == "")
        if row is None:
            row = Folder.select().where(Folder.parent.is_null()).order_by(Folder.path).first()
        if row is None:
            return {"folder": None, "crumbs": [], "children": [], "photos": 0}
    else:
        row = Folder.get_or_none(Folder.id == folder_id)
        if row is None:
            raise NotFound(f"no folder {folder_id}")
    children = list(Folder.select().where((Folder.parent == row.id) & Folder.missing_since.is_null())
                    .order_by(Folder.name))
    hidden = names.folders(audience)
    if row.path in hidden and row.path:
        raise NotFound(f"no folder {folder_id}")
    children = [c for c in children if c.path not in hidden]
    crumbs = []
    cur: Folder | None = row
    seen = set()
    while cur is not None and cur.id not in seen:
        seen.add(cur.id)
        crumbs.append({"id": cur.id, "name": cur.name or "Originals", "path": cur.path})
        cur = Folder.get_or_none(Folder.id == cur.parent_id) if cur.parent_id else None
    crumbs.reverse()
    counts, scores = _photo_counts([row.id] + [c.id for c in children], audience)
    subfolders = _subfolder_counts([c.id for c in children], hidden)
    nested = _nested_covers(row.path, [c for c in children if scores.get(c.id) is None], audience)
    picks = {c.id: covers.cover_id(scores.get(c.id)) or covers.cover_id(nested.get(c.id)) for c in children}
    urls = covers.tiles(picks.values())
    return {
        "folder": {"id": row.id, "name": row.name or "Originals", "path": row.path},
        "crumbs": crumbs,
        "children": [{"id": c.id, "name": c.name, "path": c.path, "photos": counts.get(c.id, 0),
                      "folders": subfolders.get(c.id, 0), "cover": urls.get(picks[c.id] or 0)} for c in children],
        "photos": counts.get(row.id, 0),
    }


def _nested_covers(path: str, children: list[Folder], audience: Audience) -> dict[int, Any]:
    """Cover scores for folders that hold only folders: the best photo anywhere below each. Two steps whatever
    the number of folders: the folders below `path` (each mapped to the child it is in), then one grouped count
    of their files."""
    if not children:
        return {}
    prefix = path + "/" if path else ""
    by_path = {c.path: c.id for c in children}
    below: Any = Folder.select(Folder.id, Folder.path).where(Folder.missing_since.is_null())
    if prefix:
        below = below.where(Folder.path.startswith(prefix))
    owner: dict[int, int] = {}
    for fid, fpath in below.tuples():
        top = prefix + fpath[len(prefix):].split("/", 1)[0]
        if top in by_path and fpath != top:
            owner[fid] = by_path[top]
    best: dict[int, Any] = {}
    ids = sorted(owner)
    for chunk in chunks(ids):
        q: Any = (visible(File.select(File.folder, covers.cover_score()).join(Photo, on=(File.photo == Photo.id)),
                          audience)
                  .where(File.folder.in_(chunk) & (File.role == "media")
                         & File.missing_since.is_null()).group_by(File.folder))
        for fid, score in q.tuples():
            best[owner[fid]] = covers.best(best.get(owner[fid]), score)
    return best


def _photo_counts(folder_ids: list[int], audience: Audience) -> tuple[dict[int, int], dict[int, Any]]:
    """How many photos each folder holds directly, and the cover score of each (viewer/covers.py)."""
    if not folder_ids:
        return {}, {}
    q: Any = (visible(File.select(File.folder, pw.fn.COUNT(File.id), covers.cover_score())
                 .join(Photo, on=(File.photo == Photo.id)), audience)
         .where(File.folder.in_(folder_ids) & (File.role == "media") & File.missing_since.is_null())
         .group_by(File.folder))
    rows: list[tuple[int, int, Any]] = list(q.tuples())
    return {f: n for f, n, _s in rows}, {f: s for f, _n, s in rows}


def _subfolder_counts(folder_ids: list[int], hidden: frozenset[str]) -> dict[int, int]:
    """How many folders each of these holds directly, of those not `hidden` (by path)."""
    if not folder_ids:
        return {}
    q: Any = Folder.select(Folder.parent, Folder.path).where(Folder.parent.in_(folder_ids)
                                                            & Folder.missing_since.is_null())
    return dict(Counter(parent for parent, path in q.tuples() if path not in hidden))


def calendar(audience: Audience) -> list[dict[str, Any]]:
    """Years, newest first, each with its months and how many photos (that `audience` sees) each month has."""
    month = year_month(Photo.taken_at_local)  # grouped by the database (not peewee's per-row Python on SQLite)
    q = (base_select("", Scope(audience=audience)).select(month, pw.fn.COUNT(Photo.id), covers.cover_score())
         .where(Photo.taken_at_local.is_null(False) & _dated()).group_by(month).order_by())
    years: dict[int, dict[int, int]] = defaultdict(dict)
    scores: dict[tuple[int, int], Any] = {}
    for key, n, score in tuples(q):
        y, m = split_year_month(key)
        years[y][m] = int(n)
        scores[y, m] = score
    year_scores: dict[int, Any] = {}
    for (y, _m), score in scores.items():
        year_scores[y] = covers.best(year_scores.get(y), score)
    urls = covers.tiles([covers.cover_id(s) for s in (*scores.values(), *year_scores.values())])
    return [{"year": y, "count": sum(ms.values()), "cover": urls.get(covers.cover_id(year_scores[y]) or 0),
             "months": [{"month": m, "count": ms[m], "cover": urls.get(covers.cover_id(scores[y, m]) or 0)}
                        for m in sorted(ms, reverse=True)]}
            for y, ms in sorted(years.items(), reverse=True)]


def _dated() -> Any:
    """Photos whose date is a capture time, not a file's date (those are the timeline's "Unknown date")."""
    return Photo.taken_src.not_in(sorted(GUESSED_DATE_SOURCES))


def places(audience: Audience) -> list[dict[str, Any]]:
    """Countries with photos, most photos first, each with its cities (a city name is its state's too when
    another city in the library has the same name); every entry carries the search that finds its photos."""
    q = (base_select("", Scope(audience=audience)).select(Photo.country_code, Photo.country, Photo.state, Photo.city,
                                                          pw.fn.COUNT(Photo.id), covers.cover_score())
         .where(Photo.country_code.is_null(False))
         .group_by(Photo.country_code, Photo.country, Photo.state, Photo.city).order_by())
    rows = [(code, country, state, city, int(n), score) for code, country, state, city, n, score in tuples(q)]
    homonyms = Counter(city for _code, _country, _state, city, _n, _s in rows if city)
    countries: dict[str, dict[str, Any]] = {}
    for code, country, state, city, n, score in rows:
        entry = countries.setdefault(code, {"code": code, "name": country or code, "count": 0, "cities": [],
                                            "query": f"country:{code.lower()}", "score": None})
        entry["count"] += n
        entry["score"] = covers.best(entry["score"], score)
        if not city:
            continue
        query = f"city:{_quoted(city)}"
        if homonyms[city] > 1 and state:
            query += f" state:{_quoted(state)} country:{code.lower()}"
        entry["cities"].append({"name": city, "state": state, "count": n, "query": query, "score": score})
    out = sorted(countries.values(), key=lambda c: (-c["count"], c["name"]))
    urls = covers.tiles([covers.cover_id(e["score"]) for c in out for e in (c, *c["cities"])])
    for entry in out:
        entry["cities"].sort(key=lambda c: (-c["count"], c["name"]))
        for e in (entry, *entry["cities"]):
            e["cover"] = urls.get(covers.cover_id(e.pop("score")) or 0)
    return out


def _quoted(value: str) -> str:
    """A search value in quotes (the parser's escape for a quote inside is a backslash)."""
    return '"' + value.replace('"', '\\"') + '"'
