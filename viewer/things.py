"""Things: the labels the machine-learning pass put on photos (dog, beach, birthday cake…), as cards with a
cover photo and a count, grouped by category, each opening the search that finds its photos."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import peewee as pw

from photoshelf.db.rows import tuples
from photoshelf.db.schema import Photo, PhotoLabel
from photoshelf.viewer import covers
from photoshelf.viewer.listing import Scope, base_select
from photoshelf.visibility import Audience

MIN_CONFIDENCE = 0.0  # every stored label counts: the enrichment pass already kept only confident ones


def _query(name: str) -> str:
    return "label:" + (name if " " not in name and '"' not in name else '"' + name.replace('"', '\\"') + '"')


def things(audience: Audience, limit: int = 500) -> dict[str, Any]:
    """Labels with how many photos `audience` sees carry each and a cover among them, most photos first; and the
    same cards grouped by category for the page's sections."""
    select = (base_select("", Scope(audience=audience))
              .select(PhotoLabel.name, pw.fn.MIN(PhotoLabel.category), pw.fn.COUNT(pw.fn.DISTINCT(Photo.id)),
                      covers.cover_score())
              .join(PhotoLabel, on=(PhotoLabel.photo == Photo.id))
              .where(PhotoLabel.confidence >= MIN_CONFIDENCE)
              .group_by(PhotoLabel.name).order_by(pw.fn.COUNT(pw.fn.DISTINCT(Photo.id)).desc(), PhotoLabel.name)
              .limit(limit))
    rows = list(tuples(select))
    urls = covers.tiles(covers.cover_id(score) for *_rest, score in rows)
    cards = [{"name": name, "category": category or "", "count": int(n), "query": _query(name),
              "cover": urls.get(covers.cover_id(score) or 0)} for name, category, n, score in rows]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for card in cards:
        groups[card["category"] or "other"].append(card)
    sections = sorted(groups.items(), key=lambda kv: (-sum(c["count"] for c in kv[1]), kv[0]))
    return {"things": cards, "categories": [{"name": k, "things": v} for k, v in sections]}
