"""Backup benchmark: `photoshelf backup` and `backup restore` time and size on a synthetic catalog of N photos, while
a writer keeps committing (the daemon's case), on SQLite and optionally MariaDB.

    python bench/backup.py [--photos 20000,100000] [--backend sqlite|mariadb] [--mariadb mysql://root@127.0.0.1:3306]
                           [--json FILE|-]

Each photo gets a file row, two thumbnails rows, a label and, for one in ten, a face and an album entry: roughly the
shape of an enriched catalog. Prints one row per size: catalog size, backup seconds and size, how many transactions
the writer committed meanwhile (the backup must not stop it), and restore seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photoshelf import backup  # noqa: E402
from photoshelf.config import load_config  # noqa: E402
from photoshelf.db.catalog import open_catalog  # noqa: E402
from photoshelf.db.schema import (  # noqa: E402
    Album,
    AlbumPhoto,
    Face,
    File,
    Folder,
    Photo,
    PhotoLabel,
    Setting,
    Thumbnail,
)
from photoshelf.db.transactions import write_transaction  # noqa: E402


def _fill(db: Any, n: int) -> None:
    with write_transaction(db):
        folder = Folder.create(path="", path_hash=hashlib.sha1(b"").hexdigest(), name="")
        album = Album.create(uid="a" + secrets.token_hex(8), title="Bench")
    taken = dt.datetime(2010, 1, 1)
    for start in range(0, n, 2000):
        rows = range(start, min(n, start + 2000))
        with write_transaction(db):
            Photo.insert_many([dict(uid=f"p{i:015x}", sha1=hashlib.sha1(str(i).encode()).hexdigest(), kind="image",
                                    mime="image/jpeg", format="jpeg", size=2_000_000 + i, width=4032, height=3024,
                                    taken_at=taken + dt.timedelta(minutes=i), taken_at_local=taken + dt.timedelta(
                                        minutes=i), camera_make="Apple", camera_model="iPhone 12", has_thumbs=True,
                                    title=f"photo {i}" if i % 7 == 0 else None) for i in rows]).execute()
            found: Any = Photo.select(Photo.id).where(Photo.uid.in_([f"p{i:015x}" for i in rows])).tuples()
            ids = [pid for (pid,) in found]
            File.insert_many([dict(path=f"{pid // 1000}/IMG_{pid}.jpg", path_hash=hashlib.sha1(str(pid).encode())
                                   .hexdigest(), folder=folder.id, name=f"IMG_{pid}.jpg", photo=pid, size=2_000_000,
                                   mtime_ns=pid, sha1=hashlib.sha1(str(pid).encode()).hexdigest()) for pid in ids]
                             ).execute()
            Thumbnail.insert_many([dict(photo=pid, size=s, width=w, height=w, format="jpeg", bytes=20_000)
                                   for pid in ids for s, w in (("tile", 224), ("fit", 720))]).execute()
            PhotoLabel.insert_many([dict(photo=pid, name="beach", confidence=0.8, source="clip") for pid in ids]
                                   ).execute()
            Face.insert_many([dict(photo=pid, x=0.1, y=0.1, w=0.2, h=0.2, score=0.9, model="bench")
                              for pid in ids if pid % 10 == 0]).execute()
            AlbumPhoto.insert_many([dict(album=album.id, photo=pid, position=pid) for pid in ids if pid % 10 == 0]
                                   ).execute()


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def measure(n: int, url_for: Any, work: Path) -> dict[str, Any]:
    storage, originals = work / f"storage-{n}", work / "originals"
    originals.mkdir(exist_ok=True)
    env = {"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(storage),
           "PHOTOSHELF_DATABASE": url_for(n, storage)}
    config = load_config(env=env)
    db = open_catalog(config)
    _fill(db, n)
    stop, commits = threading.Event(), [0]

    def writer() -> None:
        while not stop.is_set():
            with write_transaction(db):
                Setting.insert(key=f"bench.{commits[0]}", value="x").execute()
            commits[0] += 1
            time.sleep(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    try:
        report = backup.create(config, db, work / f"backup-{n}")
    finally:
        stop.set()
        thread.join()
    seconds = time.monotonic() - started
    db.close()
    catalog_bytes = _size(storage / "catalog.db") if url_for(n, storage).startswith("sqlite") else None
    started = time.monotonic()
    backup.restore(config, report.path, force=True)
    restore_seconds = time.monotonic() - started
    return {"photos": n, "catalog_mb": round(catalog_bytes / 1e6, 1) if catalog_bytes else None,
            "backup_s": round(seconds, 2), "backup_mb": round(_size(report.path) / 1e6, 1),
            "writer_commits_during_backup": commits[0], "restore_s": round(restore_seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default="20000")
    parser.add_argument("--backend", choices=["sqlite", "mariadb"], default="sqlite")
    parser.add_argument("--mariadb", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def url_for(n: int, storage: Path) -> str:
            if args.backend == "sqlite":
                return f"sqlite:///{storage / 'catalog.db'}"
            return f"{args.mariadb.rstrip('/')}/photoshelf_bench_backup_{n}"

        for n in (int(x) for x in args.photos.split(",")):
            if args.backend == "mariadb":
                from urllib.parse import urlparse

                import peewee as pw

                parts = urlparse(args.mariadb)
                admin = pw.MySQLDatabase("mysql", user=parts.username or "root", password=parts.password or "",
                                         host=parts.hostname or "127.0.0.1", port=parts.port or 3306)
                admin.execute_sql(f"DROP DATABASE IF EXISTS photoshelf_bench_backup_{n}")
                admin.execute_sql(f"CREATE DATABASE photoshelf_bench_backup_{n} CHARACTER SET utf8mb4")
            rows.append(measure(n, url_for, work))
            if args.backend == "mariadb":
                admin.execute_sql(f"DROP DATABASE IF EXISTS photoshelf_bench_backup_{n}")
                admin.close()
    print(f"{'photos':>8} {'catalog MB':>10} {'backup s':>9} {'backup MB':>9} {'writer commits':>14} {'restore s':>9}")
    for r in rows:
        print(f"{r['photos']:>8} {r['catalog_mb'] or '-':>10} {r['backup_s']:>9} {r['backup_mb']:>9} "
              f"{r['writer_commits_during_backup']:>14} {r['restore_s']:>9}")
    if args.json:
        text = json.dumps({"backend": args.backend, "rows": rows}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
