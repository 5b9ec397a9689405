"""What logins cost per request: the same GETs through the viewer as served (front door: Host check and safety
headers; login middleware: signed cookie, session lookup, role check) and through the same app whose two
middlewares are replaced by one that hands every request the admin without looking (the work that remains),
interleaved in one process over a synthetic catalog (bench/viewer.py's seed). Prints a table; `--json FILE`.

    python bench/auth.py                       # 20k photos, SQLite
    python bench/auth.py --database mysql://root@127.0.0.1:3306
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_viewer", HERE / "viewer.py")
assert _spec and _spec.loader
vb = importlib.util.module_from_spec(_spec)
sys.modules["bench_viewer"] = vb
_spec.loader.exec_module(vb)


class AdminWithoutLooking:
    """The baseline: every request is the admin's, with no cookie, no lookup and no check."""

    def __init__(self, app: Any, user: Any) -> None:
        self.app = app
        self.user = user

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {}).update(user=self.user, role=self.user.role, csrf_token="x",
                                                 session_token=None)
        await self.app(scope, receive, send)


def apps(config: Any, db: Any) -> tuple[Any, Any]:
    from starlette.middleware import Middleware

    from photoshelf.db.schema import User
    from photoshelf.viewer.app import create_app
    from photoshelf.viewer.auth import Auth
    from photoshelf.viewer.security import FrontDoor

    served = create_app(config, db)
    baseline = create_app(config, db)
    rest = [m for m in baseline.user_middleware if m.cls not in (FrontDoor, Auth)]
    baseline.user_middleware = [Middleware(AdminWithoutLooking, user=User.get(User.name == "bench")), *rest]
    return served, baseline


async def measure(served: Any, baseline: Any, targets: dict[str, str], repeat: int) -> dict[str, Any]:
    times: dict[tuple[str, str], list[float]] = {(n, a): [] for n in targets for a in ("served", "baseline")}
    for name, target in targets.items():  # warm up, and both must answer 200
        for label, app in (("served", served), ("baseline", baseline)):
            for _ in range(3):
                status, _size = await vb.asgi_get(app, target)
            if status != 200:
                raise SystemExit(f"{name} ({label}): {target} answered {status}")
    for _ in range(repeat):
        for name, target in targets.items():
            for label, app in (("served", served), ("baseline", baseline)):
                t = time.perf_counter()
                await vb.asgi_get(app, target)
                times[(name, label)].append((time.perf_counter() - t) * 1000)
    out: dict[str, Any] = {}
    for name in targets:
        s, b = statistics.median(times[(name, "served")]), statistics.median(times[(name, "baseline")])
        out[name] = {"served_p50_ms": round(s, 3), "baseline_p50_ms": round(b, 3), "cost_p50_ms": round(s - b, 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=20_000, help="synthetic photos in the catalog (20000)")
    p.add_argument("--repeat", type=int, default=300, help="timed requests per case and app (300), interleaved")
    p.add_argument("--database", metavar="URL", help="mysql://user@host:port: run on MariaDB in a fresh database")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    args = p.parse_args(argv)

    from photoshelf.db.schema import Photo

    work = Path(tempfile.mkdtemp(prefix="photoshelf-bench-auth-"))
    rng = random.Random(7)
    try:
        with vb.mariadb(args.database) as url:
            _env, config, db = vb.open_work_catalog(work, url)
            vb.seed(db, args.photos, rng)
            photo = Photo.select().where((Photo.private == False) & (Photo.archived == False)  # noqa: E712
                                         ).order_by(Photo.id).first()
            vb.write_thumbs(config, [photo.sha1], rng)
            vb.log_in_bench()
            served, baseline = apps(config, db)
            targets = {"thumbnail (cached)": f"/thumb/tile/{photo.sha1}.jpg", "health (no login)": "/api/v1/health",
                       "search API, 20": "/api/v1/search?limit=20", "photo page": f"/photos/{photo.id}"}
            results = {"backend": "MariaDB" if url else "SQLite", "photos": args.photos, "repeat": args.repeat,
                       "cases": asyncio.run(measure(served, baseline, targets, args.repeat))}
            db.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"login cost per request: {results['photos']} photos, {results['backend']}, p50 of {args.repeat}")
    print(f"  {'case':22} {'served ms':>10} {'baseline ms':>12} {'cost ms':>8}")
    for name, c in results["cases"].items():
        print(f"  {name:22} {c['served_p50_ms']:>10.3f} {c['baseline_p50_ms']:>12.3f} {c['cost_p50_ms']:>8.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
