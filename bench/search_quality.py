"""Search quality: precision@5 of everyday words over the corpus, and whether words with no right answer say so.

    python bench/search_quality.py [--corpus DIR] [--queries FILE] [--keep DIR] [--sweep] [--baseline]
                                   [--json FILE|-]

Copies the corpus into a temp folder (or --keep DIR, reused on the next run: only what changed is indexed and
enriched again), indexes it, runs the installed enrichment stages with the shipped models (labels, faces, the
text index; no CLIP), names the people as the query file says, then asks each query of
bench/data/search_queries.yaml the way the web search does (the standing visibility rules, ranked by meaning).

- precision@5 of a query: the listed photos among the first five, over min(5, photos listed);
- good@5: of the first five results the ranking calls good matches, the share that are listed photos;
- absent queries: the share answered with no good match (mentions, such as a person named Snow, may follow).
Targets (issue 14): precision@5 >= 0.8 overall, every absent query answered with nothing ranked as a good match.

The words fall into two fixed halves, A and B (the parity of the first byte of the word's SHA-1, so no one picks
them): a rule's cut-offs are tuned on half A (`--sweep` prints both halves) and half B says whether it holds on
words it was not tuned on. Both halves' scores are printed after the overall ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET_PRECISION = 0.8


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_corpus() -> Path:
    shared = REPO.parent / "shared" / "corpus"
    return shared if shared.is_dir() else REPO / "tests" / "data" / "corpus"


def prepare(corpus: Path, workdir: Path) -> tuple[Any, Any]:
    """The corpus copied, indexed and enriched in `workdir` (incrementally when it is there from a previous run)."""
    from photoshelf.config import load_config
    from photoshelf.db.catalog import open_catalog
    from photoshelf.library import index_library
    from photoshelf.models.enrich import Enricher, load_stages

    originals = workdir / "originals"
    if not originals.is_dir():
        shutil.copytree(corpus, originals, ignore=shutil.ignore_patterns(".*"))
    config = load_config(env={"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(workdir / "storage"),
                              "PHOTOSHELF_SIDECARS_ENABLED": "false"})
    config.models.clip_model = ""  # the shipped models only
    db = open_catalog(config)
    started = time.monotonic()
    index_library(config, db)
    stages = [s for s in load_stages(config, db) if not s.unavailable()]
    say(f"indexed in {time.monotonic() - started:.1f}s; enriching with {', '.join(s.name for s in stages)} ...")
    enricher = Enricher(config, db, stages=stages)
    try:
        report = enricher.run(record=False)
    finally:
        enricher.close()
    say(f"enriched in {time.monotonic() - started:.1f}s ({report.errors} errors)")
    return config, db


def name_people(config: Any, db: Any, people: dict[str, str]) -> None:
    """Give the person on each listed photo (the one with the largest face) the listed name, then bring the
    text index up to date (it embeds people's names)."""
    from photoshelf import people as people_mod
    from photoshelf.db.schema import Face, File
    from photoshelf.models.enrich import Enricher, load_stages

    for rel, name in people.items():
        photo = File.select(File.photo).where(File.path == rel).scalar()
        faces = sorted(Face.select().where((Face.photo == photo) & Face.person.is_null(False)),
                       key=lambda f: -(f.w * f.h))
        if not faces:
            say(f"no person found on {rel}: {name!r} not given")
            continue
        if faces[0].person is None or faces[0].person.name != name:
            people_mod.name_person(db, faces[0].person_id, name)
    stages = [s for s in load_stages(config, db, ["text"]) if not s.unavailable()]
    if stages:
        enricher = Enricher(config, db, stages=stages)
        try:
            enricher.run(record=False)
        finally:
            enricher.close()


def ask(config: Any, text: str, baseline: bool = False) -> dict[str, Any]:
    """The query as the web search answers it: ranked ids, how many are good matches, and why each matched."""
    from photoshelf import search
    from photoshelf.viewer import listing
    from photoshelf.visibility import EVERYONE

    scope = listing.Scope(rank=config, audience=EVERYONE)
    listing.forget_rankings()
    query = search.parse(text)
    try:
        from photoshelf import ranking
    except ImportError:
        ranking = None  # type: ignore[assignment]
    if ranking is not None and not baseline:
        found = ranking.rank(query, config=config, base=lambda q: listing._visible(q, scope))
        if found is not None:
            return {"ids": found.ids, "good": found.good, "why": found.why}
    ids = search.ranked_ids(query, config=config, base=lambda q: listing._visible(q, scope))
    if ids is None:
        ids = [p.id for p in search.search(text, limit=1000)[0]]
    return {"ids": ids, "good": len(ids), "why": {}}


def half(text: str) -> str:
    """The fixed half a query word belongs to: "A" (tune on it) or "B" (check on it)."""
    return "AB"[hashlib.sha1(text.encode("utf-8")).digest()[0] % 2]


def scores(rows: list[dict[str, Any]], absent: list[dict[str, Any]]) -> dict[str, Any]:
    """precision@5, the good matches' precision and the absent rate of some queries."""
    p5 = sum(r["p5"] for r in rows) / len(rows) if rows else 0.0
    quiet = sum(1 for a in absent if a["good"] == 0) / len(absent) if absent else 1.0
    return {"precision_at_5": round(p5, 3), "absent_rate": round(quiet, 3), "words": len(rows),
            "absent_words": len(absent),
            "good_precision_at_5": round(sum(r["good_p5"] for r in rows) / len(rows), 3) if rows else 0.0}


def evaluate(config: Any, spec: dict[str, Any], baseline: bool = False) -> dict[str, Any]:
    from photoshelf.db.schema import File

    paths: dict[int, list[str]] = {}
    files: Any = File.select(File.photo, File.path).where(File.photo.is_null(False)).tuples()
    for pid, path in files:
        paths.setdefault(int(pid), []).append(str(path))
    photo_of = {p: pid for pid, ps in paths.items() for p in ps}

    def short(pid: int) -> str:
        return Path(sorted(paths.get(pid, ["?"]))[0]).name[:28]

    rows: list[dict[str, Any]] = []
    for text, wanted in spec["queries"].items():
        relevant = {photo_of[p] for p in wanted if p in photo_of}
        got = ask(config, text, baseline)
        top = got["ids"][:5]
        hits = sum(1 for pid in top if pid in relevant)
        good_top = top[: min(5, got["good"])]
        rows.append({
            "query": text, "half": half(text), "relevant": len(relevant), "p5": hits / min(5, len(relevant)) if relevant else 0.0,
            "good": got["good"], "good_p5": (sum(1 for pid in good_top if pid in relevant) / len(good_top)
                                             if good_top else 0.0),
            "top": [f"{'+' if pid in relevant else '-'}{short(pid)}"
                    f"{'(' + ','.join(got['why'].get(pid, [])) + ')' if got['why'].get(pid) else ''}"
                    for pid in top]})
    absent: list[dict[str, Any]] = []
    for text in spec.get("absent", []):
        got = ask(config, text, baseline)
        absent.append({"query": text, "half": half(text), "good": got["good"], "listed": len(got["ids"]),
                       "top": [f"{short(pid)}({','.join(got['why'].get(pid, []))})" for pid in got["ids"][:3]]})
    overall = scores(rows, absent)
    p5, quiet = overall["precision_at_5"], overall["absent_rate"]
    return {"queries": rows, "absent": absent, **overall,
            "halves": {h: scores([r for r in rows if r["half"] == h], [a for a in absent if a["half"] == h])
                       for h in "AB"},
            "targets": {"precision_at_5": {"target": TARGET_PRECISION, "ok": p5 >= TARGET_PRECISION},
                        "absent_rate": {"target": 1.0, "ok": quiet >= 1.0}}}


SWEEP = {"LABEL_MIN": [0.2, 0.25, 0.3, 0.4, 0.5], "CONCEPT_MIN": [0.45, 0.5, 0.55, 0.6, 0.65, 0.7],
         "CONCEPT_MARGIN": [0.0, 0.05, 0.1, 0.15, 0.25], "MEANING_MIN": [0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7]}
# The scene rules' cut-offs (models/scenes.py): each value re-runs the scenes stage and the text index.
SCENE_SWEEP = {"FOLIAGE_SHARE": [0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 1.01], "FOLIAGE_SUBJECT": [0.6, 0.7, 0.8, 0.9, 1.01]}


def rescene(config: Any, db: Any, tag: str) -> None:
    """Run the scenes stage (under a throwaway version, so every photo is done again) and the text index."""
    from photoshelf.models import scenes
    from photoshelf.models.enrich import Enricher, load_stages

    kept = scenes.VERSION
    scenes.VERSION = f"{kept}-{tag}"
    try:
        stages = [s for s in load_stages(config, db, ["scenes", "text"]) if not s.unavailable()]
        enricher = Enricher(config, db, stages=stages)
        try:
            enricher.run(record=False)
        finally:
            enricher.close()
    finally:
        scenes.VERSION = kept


def sweep(config: Any, db: Any, spec: dict[str, Any]) -> list[str]:
    """Each cut-off of photoshelf/ranking.py and of the scene rules varied alone around its setting: how the
    scores move, overall and on each half (the calibration docs/labels.md records)."""
    from photoshelf import ranking
    from photoshelf.models import scenes

    lines = [f"{'cut-off':<16}{'value':>7}{'p@5':>7}{'good p@5':>10}{'absent ok':>11}{'A p@5':>8}{'B p@5':>8}"
             f"{'A absent':>10}{'B absent':>10}"]

    def line(name: str, value: float, r: dict[str, Any], mark: str) -> str:
        a, b = r["halves"]["A"], r["halves"]["B"]
        return (f"{name:<16}{value:>7}{r['precision_at_5']:>7.3f}{r['good_precision_at_5']:>10.3f}"
                f"{r['absent_rate']:>11.0%}{a['precision_at_5']:>8.3f}{b['precision_at_5']:>8.3f}"
                f"{a['absent_rate']:>10.0%}{b['absent_rate']:>10.0%}{mark}")

    for name, values in SWEEP.items():
        kept = getattr(ranking, name)
        for value in values:
            setattr(ranking, name, {"text": value, "clip": kept["clip"]} if name == "MEANING_MIN" else value)
            mark = " *" if value == (kept["text"] if name == "MEANING_MIN" else kept) else ""
            lines.append(line(name, value, evaluate(config, spec), mark))
        setattr(ranking, name, kept)
    for name, values in SCENE_SWEEP.items():
        kept = getattr(scenes, name)
        for value in values:
            setattr(scenes, name, value)
            rescene(config, db, f"{name}={value}")
            lines.append(line(name, value, evaluate(config, spec), " *" if value == kept else ""))
        setattr(scenes, name, kept)
        rescene(config, db, "kept")
    return lines


def table(result: dict[str, Any]) -> str:
    lines = [f"{'query':<14}{'half':>4}{'p@5':>5}{'good':>6}{'goodp':>7}  top 5 (+ listed, - not; why)"]
    for r in result["queries"]:
        lines.append(f"{r['query']:<14}{r['half']:>4}{r['p5']:>5.2f}{r['good']:>6}{r['good_p5']:>7.2f}  "
                     f"{' '.join(r['top'])}")
    lines.append(f"{'absent':<14}{'':>4}{'':>5}{'good':>6}{'listed':>7}")
    for a in result["absent"]:
        lines.append(f"{a['query']:<14}{a['half']:>4}{'':>5}{a['good']:>6}{a['listed']:>7}  {' '.join(a['top'])}")
    t = result["targets"]
    lines.append(f"precision@5 {result['precision_at_5']:.3f} (target >= {TARGET_PRECISION}: "
                 f"{'ok' if t['precision_at_5']['ok'] else 'MISSED'}); precision of good matches in the top 5 "
                 f"{result['good_precision_at_5']:.3f}; absent queries answered with no good match "
                 f"{result['absent_rate']:.0%} (target 100%: {'ok' if t['absent_rate']['ok'] else 'MISSED'})")
    for h, name in (("A", "tuned on"), ("B", "held out")):
        r = result["halves"][h]
        lines.append(f"half {h} ({name}, {r['words']} queries, {r['absent_words']} absent): precision@5 "
                     f"{r['precision_at_5']:.3f}, good matches' precision {r['good_precision_at_5']:.3f}, absent "
                     f"queries with no good match {r['absent_rate']:.0%}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="corpus folder (only read)")
    parser.add_argument("--queries", type=Path, default=HERE / "data" / "search_queries.yaml")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work folder kept between runs (the copy, catalog and thumbnails)")
    parser.add_argument("--baseline", action="store_true",
                        help="rank with search.ranked_ids alone (the ranking before photoshelf/ranking.py)")
    parser.add_argument("--sweep", action="store_true",
                        help="also vary each cut-off of photoshelf/ranking.py alone and print the scores")
    parser.add_argument("--json", default=None, help="write the results as JSON to FILE, or - for stdout")
    args = parser.parse_args()
    spec = yaml.safe_load(args.queries.read_text("utf-8"))
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="photoshelf-search-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        config, db = prepare(args.corpus, workdir)
        name_people(config, db, spec.get("people") or {})
        result = evaluate(config, spec, args.baseline)
        if args.sweep:
            print("\n".join(sweep(config, db, spec)), file=sys.stderr if args.json == "-" else sys.stdout)
        db.close()
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(result), file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        text = json.dumps(result, indent=1, ensure_ascii=False)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
