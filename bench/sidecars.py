"""Sidecar benchmark: write rate of YAML sidecars and restore speed from them, on a synthetic catalog.

    python bench/sidecars.py [--photos 10000] [--database mysql://root@127.0.0.1:3306] [--json FILE|-]

Seeds N photos (catalog rows and File rows, no media: the sidecar stage never reads originals), with user data on
a third of them (titles, favorites, albums), then times: writing every sidecar from scratch, a no-change pass,
and `restore` into a catalog whose user data was wiped. Target (issue 5): restore >= 500 photos/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def seed(n: int) -> None:
    from photoshelf.db.rows import tuples
    from photoshelf.db.schema import Album, AlbumPhoto, File, Folder, Photo, database_proxy, utcnow
    from photoshelf.filenames import path_hash

    db = database_proxy.obj
    now = utcnow()
    with db.atomic():
        folders = []
        for i in range(max(1, n // 200)):
            path = f"{2000 + i % 25}/Event {i:04d}"
            folders.append(Folder.create(path=path, path_hash=path_hash(path), name=path.rsplit("/", 1)[-1]).id)
        photos = []
        for i in range(n):
            photos.append({
                "uid": f"p{i:016x}", "sha1": f"{i:040x}", "kind": "image", "mime": "image/jpeg", "format": "JPEG",
                "size": 1000, "width": 4000, "height": 3000, "taken_at": dt.datetime(2015, 1, 1) + dt.timedelta(hours=i),
                "taken_at_local": dt.datetime(2015, 1, 1) + dt.timedelta(hours=i), "taken_src": "exif",
                "title": f"Birthday {i}" if i % 3 == 0 else None, "favorite": i % 3 == 0, "private": i % 17 == 0,
                "locked": "title" if i % 3 == 0 else "", "created_at": now - dt.timedelta(days=1),
                "updated_at": now, "lat": 48.1 + i * 1e-5, "lon": 11.5, "camera_model": "X100V",
            })
        for i in range(0, n, 500):
            Photo.insert_many(photos[i : i + 500]).execute()
        ids = [pid for (pid,) in tuples(Photo.select(Photo.id).order_by(Photo.id))]
        rows = []
        for i, pid in enumerate(ids):
            fid = folders[i % len(folders)]
            folder = Folder.get_by_id(fid).path if i < len(folders) else None
            rows.append({"path": f"f{fid}/IMG_{i:06d}.jpg", "path_hash": path_hash(f"f{fid}/IMG_{i:06d}.jpg"),
                         "folder": fid, "name": f"IMG_{i:06d}.jpg", "role": "media", "photo": pid, "size": 1000,
                         "mtime_ns": 1, "inode": i, "sha1": f"{i:040x}", "indexed_at": now})
            del folder
        for i in range(0, n, 500):
            File.insert_many(rows[i : i + 500]).execute()
        album = Album.create(uid="a" + secrets.token_hex(8), title="Best of")
        AlbumPhoto.insert_many([{"album": album.id, "photo": pid, "position": k}
                                for k, pid in enumerate(ids[::3])]).execute()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=10000)
    parser.add_argument("--database", help="mysql://user@host:port (a database is created and dropped)")
    parser.add_argument("--json", help="write the results as JSON to FILE (- for stdout)")
    args = parser.parse_args()

    from photoshelf.config import load_config
    from photoshelf.db.catalog import open_catalog
    from photoshelf.db.schema import AlbumPhoto, Photo
    from photoshelf.sidecars.sync import restore, write_sidecars

    tmp = Path(tempfile.mkdtemp(prefix="photoshelf-bench-sidecars-"))
    dbname = None
    env = {"PHOTOSHELF_ORIGINALS": str(tmp / "originals"), "PHOTOSHELF_STORAGE": str(tmp / "storage")}
    (tmp / "originals").mkdir()
    if args.database:
        import peewee as pw

        dbname = "photoshelf_bench_" + secrets.token_hex(3)
        admin = pw.MySQLDatabase("mysql", host="127.0.0.1", user="root")
        admin.connect()
        admin.execute_sql(f"CREATE DATABASE {dbname} CHARACTER SET utf8mb4")
        admin.close()
        env["PHOTOSHELF_DATABASE"] = f"{args.database.rstrip('/')}/{dbname}"
    results: dict[str, Any] = {"photos": args.photos}
    try:
        config = load_config(env=env)
        db = open_catalog(config)
        t = time.perf_counter()
        seed(args.photos)
        results["seed_s"] = round(time.perf_counter() - t, 2)

        t = time.perf_counter()
        first = write_sidecars(config, Photo.select())
        results["write_s"] = round(time.perf_counter() - t, 2)
        results["write_per_s"] = round(first.written / results["write_s"])
        t = time.perf_counter()
        again = write_sidecars(config, Photo.select())
        results["nochange_s"] = round(time.perf_counter() - t, 2)
        results["nochange_written"] = again.written

        # Lose the user data (as a rebuilt catalog would have it), then restore it from the sidecars.
        Photo.update(title=None, favorite=False, private=False, locked="", uid=Photo.sha1.concat("")).execute()
        AlbumPhoto.delete().execute()
        t = time.perf_counter()
        report = restore(config, db)
        results["restore_s"] = round(time.perf_counter() - t, 2)
        results["restore_per_s"] = round(report.applied / results["restore_s"])
        results["restored"] = report.applied
        results["favorites_back"] = Photo.select().where(Photo.favorite == True).count()  # noqa: E712
        results["album_entries_back"] = AlbumPhoto.select().count()
        db.close()
    finally:
        if dbname:
            import peewee as pw

            admin = pw.MySQLDatabase("mysql", host="127.0.0.1", user="root")
            admin.connect()
            admin.execute_sql(f"DROP DATABASE IF EXISTS {dbname}")
            admin.close()
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        ("photos", results["photos"], ""),
        ("write all sidecars s", results["write_s"], ""),
        ("  sidecars written / s", results["write_per_s"], ""),
        ("no-change pass s (written)", f"{results['nochange_s']} ({results['nochange_written']})", "0 written"),
        ("restore s", results["restore_s"], ""),
        ("  photos restored / s", results["restore_per_s"], ">= 500 " + ("ok" if results["restore_per_s"] >= 500
                                                                          else "MISSED")),
        ("favorites, album entries back", f"{results['favorites_back']}, {results['album_entries_back']}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"photoshelf sidecar benchmark ({'MariaDB' if dbname else 'SQLite'})")
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value!s:>14}  {target}")
    if args.json:
        text = json.dumps(results, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
