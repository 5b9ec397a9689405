"""Crash campaign (issue #12): kill -9 `photoshelf index`, `watch` and `enrich` at random moments, and stop a MariaDB
server of the test's own mid-index. After every kill the catalog is consistent (every file once, no half rows,
sidecars that parse), and the next run completes, exits 0 and leaves no orphan thumbnails or temp files.

The moments come from one seeded RNG; the seed is printed (pytest -s, or shown with a failure) and
CRASH_SEED=<seed> replays a campaign. tests/indexer/test_crash.py holds the first, deterministic kill
test; this one is its random, longer sibling (about a minute and a half on two cores)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from photoshelf.db.schema import Job
from photoshelf.library import index_library
from photoshelf.media.thumbs import ThumbCache

from conftest import SMALL_CORPUS, Library, make_library
from support import cli_env, count_rows, kill_9, start_cli, stderr_of, unique_jpeg, wait_for

SEED = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1_000_000))
CAT = (SMALL_CORPUS / "2016/Pets/cat_brown.jpg").read_bytes()
QUIET = {"PHOTOSHELF_INDEX_BATCH_SIZE": "8", "PHOTOSHELF_INDEX_WORKERS": "1", "PHOTOSHELF_LOG_LEVEL": "warning"}
NO_ML = {**QUIET, "PHOTOSHELF_MODELS_ENABLED": "false"}


def rng_for(campaign: str) -> random.Random:
    print(f"crash campaign {campaign}: seed {SEED} (CRASH_SEED={SEED} replays it)")
    return random.Random(f"{SEED}:{campaign}")


def add_photos(lib: Library, folder: str, count: int) -> int:
    """`count` new photos (distinct bytes) in a folder of the originals, as the user copies them in."""
    root = lib.originals / folder
    with lib.user_changes():
        root.mkdir(exist_ok=True)
        start = len(os.listdir(root))
        for i in range(start, start + count):
            (root / f"IMG_{i:05d}.jpg").write_bytes(unique_jpeg(CAT, f"{folder}-{i}"))
    return count


def _count(lib: Library, table: str) -> int:
    return int(lib.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _rows(lib: Library, sql: str) -> list[str]:
    return [str(r[0]) for r in lib.db.execute_sql(sql).fetchall()]


def problems(lib: Library, *, settled: bool, originals: int | None = None) -> list[str]:
    """What is wrong with the catalog and storage: what must hold at any moment (after a kill too) and, once
    `settled` (a run completed), what a completed run must leave (no orphans, no temp files, everything in)."""
    found = []
    checks = {
        "a path in the file table twice": "SELECT path FROM file GROUP BY path HAVING COUNT(*) > 1",
        "a file pointing at a photo that does not exist":
            "SELECT f.path FROM file f LEFT JOIN photo p ON p.id = f.photo_id WHERE f.photo_id IS NOT NULL "
            "AND p.id IS NULL",
        "a present photo without a media file":
            "SELECT p.id FROM photo p WHERE p.missing_since IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM file f WHERE f.photo_id = p.id AND f.role = 'media')",
        "a photo with has_thumbs but no thumbnail rows":
            "SELECT p.id FROM photo p WHERE p.has_thumbs = 1 AND NOT EXISTS "
            "(SELECT 1 FROM thumbnail t WHERE t.photo_id = p.id)",
        "a thumbnail row of a photo that does not exist":
            "SELECT t.id FROM thumbnail t LEFT JOIN photo p ON p.id = t.photo_id WHERE p.id IS NULL",
        "labels without the labels stage's record (half a batch)":
            "SELECT DISTINCT l.photo_id FROM photo_label l WHERE NOT EXISTS (SELECT 1 FROM photo_stage s "
            "WHERE s.photo_id = l.photo_id AND s.stage = 'labels')",
        "a text vector without the text stage's record":
            "SELECT v.item_id FROM vector v WHERE SUBSTR(v.space, 1, 5) = 'text:' AND NOT EXISTS (SELECT 1 FROM photo_stage s "
            "WHERE s.photo_id = v.item_id AND s.stage = 'text')",
        "a stage record of a photo that does not exist":
            "SELECT s.id FROM photo_stage s LEFT JOIN photo p ON p.id = s.photo_id WHERE p.id IS NULL",
    }
    for what, sql in checks.items():
        rows = _rows(lib, sql)
        if rows:
            found.append(f"{what}: {', '.join(rows[:5])}{' ...' if len(rows) > 5 else ''}")
    thumbs = ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
    for sha1, size in lib.db.execute_sql("SELECT p.sha1, t.size FROM thumbnail t JOIN photo p ON p.id = t.photo_id"):
        if not thumbs.path(sha1, size).is_file():
            found.append(f"a thumbnail row without its file: {sha1}_{size}")
    sidecars = lib.storage / "sidecars"
    for path in sidecars.rglob("*.yml") if sidecars.is_dir() else []:
        if not path.name.startswith(".tmp-"):
            try:
                yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                found.append(f"a sidecar that does not parse: {path}: {exc}")
    if settled:
        temp = [str(p.relative_to(lib.storage)) for p in lib.storage.rglob(".tmp-*")]
        if temp:
            found.append(f"temp files left in storage: {', '.join(sorted(temp)[:5])}")
        sha1s = set(_rows(lib, "SELECT sha1 FROM photo"))
        orphans = [p.name for p in lib.config.thumbs_path.rglob("*_*.*") if p.name.split("_")[0] not in sha1s]
        if orphans:
            found.append(f"thumbnails of no photo: {', '.join(sorted(orphans)[:5])}")
        running = Job.select().where(Job.state == "running").count()
        if running:
            found.append(f"{running} jobs still 'running' after a completed run")
        if originals is not None:
            indexed = int(lib.db.execute_sql("SELECT COUNT(*) FROM file WHERE role = 'media' AND photo_id IS NOT NULL "
                                             "AND missing_since IS NULL").fetchone()[0])
            if indexed != originals:
                found.append(f"{indexed} files indexed, {originals} in the originals")
    return found


def assert_consistent(lib: Library, moment: str, *, settled: bool = False, originals: int | None = None) -> None:
    found = problems(lib, settled=settled, originals=originals)
    assert not found, f"after {moment} (seed {SEED}):\n  " + "\n  ".join(found)


def finish(proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """The run completes and exits 0."""
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_9(proc)
        raise AssertionError(f"the run did not complete in {timeout}s (seed {SEED})") from None
    stderr = stderr_of(proc)
    assert rc == 0, f"exit {rc} (seed {SEED}): {stderr[-2000:]}"


def kill_at_a_random_moment(lib: Library, proc: subprocess.Popen[bytes], rng: random.Random, *,
                            at_most: float = 4.0, table: str = "file") -> bool:
    """Half the time after a random delay (start-up included), half the time when a random number of rows of
    `table` is committed (mid-batch, mid-transaction). True if it was killed, False if it finished first."""
    started = time.monotonic()
    by_rows = rng.random() >= 0.5
    if not by_rows:
        deadline = time.monotonic() + rng.uniform(0.2, at_most)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
    else:
        target = _count(lib, table) + rng.randint(1, 20)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and _count(lib, table) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
    killed = kill_9(proc)
    print(f"  {'killed' if killed else 'finished first'} at {time.monotonic() - started:.2f}s "
          f"({'a row count' if by_rows else 'a delay'}), {_count(lib, table)} {table} rows")
    return killed


INDEX_KILLS, WATCH_KILLS, ENRICH_KILLS = 8, 7, 6


def kill_rounds(lib: Library, rng: random.Random, what: str, wanted: int, prepare: Callable[[int], int],
                args: tuple[str, ...], env: dict[str, str], **moment: Any) -> tuple[int, int]:
    """Rounds of: `prepare(round)` (new work; returns how many originals it added), `photoshelf ARGS`, kill -9 at
    a random moment, check, until `wanted` kills. A round that finishes before its kill must exit 0 and leave
    the catalog settled. Returns (originals added, kills); the caller runs the last, complete run."""
    total = kills = rounds = 0
    while kills < wanted:
        rounds += 1
        assert rounds <= 3 * wanted, f"{what} kept finishing before its kill ({kills} kills, seed {SEED})"
        total += prepare(rounds)
        proc = start_cli(env, *args)
        if kill_at_a_random_moment(lib, proc, rng, **moment):
            kills += 1
            assert_consistent(lib, f"kill {kills} of {what}")
        else:
            finish(proc)
            assert_consistent(lib, f"{what}, round {rounds}", settled=True, originals=total)
    return total, kills


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kill_9_the_indexer_at_random_moments(empty_library: Library) -> None:
    lib = empty_library
    env = cli_env(lib, **NO_ML)
    total, kills = kill_rounds(lib, rng_for("index"), "the indexer", INDEX_KILLS,
                               lambda n: add_photos(lib, f"roll{n % 4}", 20), ("index", "--quiet"), env)
    finish(start_cli(env, "index", "--quiet"))
    assert_consistent(lib, f"the indexer's {kills} kills and a last run", settled=True, originals=total)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_kill_9_the_watcher_under_a_trickle_of_uploads(empty_library: Library) -> None:
    lib, rng = empty_library, rng_for("watch")
    env = cli_env(lib, PHOTOSHELF_WATCH_MODE="inotify", PHOTOSHELF_WATCH_SETTLE_SECONDS="0.3",
                  PHOTOSHELF_WATCH_HEARTBEAT_SECONDS="1", **NO_ML)
    total = kills = 0
    while kills < WATCH_KILLS:
        proc = start_cli(env, "watch")
        deadline = time.monotonic() + rng.uniform(0.5, 4.5)
        while time.monotonic() < deadline:
            total += add_photos(lib, "Phone", rng.randint(1, 3))
            time.sleep(rng.uniform(0.02, 0.2))
        assert kill_9(proc), f"the watcher exited by itself: {stderr_of(proc)}"
        kills += 1
        print(f"  killed after {total} uploads, {_count(lib, 'file')} file rows")
        assert_consistent(lib, f"kill {kills} of the watcher")
    proc = start_cli(env, "watch")
    try:
        indexed = "SELECT COUNT(*) FROM file WHERE photo_id IS NOT NULL"
        wait_for(lambda: int(lib.db.execute_sql(indexed).fetchone()[0]) == total, timeout=120,
                 what=f"all {total} uploads indexed after the restart (seed {SEED})")
        wait_for(lambda: not Job.select().where(Job.state.in_(["queued", "running"])).exists(), timeout=60,
                 what="the watcher's jobs drained")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    finish(proc, timeout=60)
    assert_consistent(lib, f"the watcher's {kills} kills and a clean stop", settled=True, originals=total)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kill_9_the_enrichment_at_random_moments(empty_library: Library) -> None:
    """labels (EfficientNet-Lite0) and the text index (MiniLM), the light stages, in batches of 4."""
    lib, rng = empty_library, rng_for("enrich")
    env = cli_env(lib, PHOTOSHELF_MODELS_FACES="false", PHOTOSHELF_MODELS_CLIP_MODEL="",
                  PHOTOSHELF_MODELS_BATCH_SIZE="4", **QUIET)

    def more_photos(n: int) -> int:
        added = add_photos(lib, "Pets", 12)
        index_library(lib.config, lib.db)  # the metadata pass: the photos are pending for the stages
        return added

    total, kills = kill_rounds(lib, rng, "the enrichment", ENRICH_KILLS, more_photos, ("enrich", "--quiet"), env,
                               at_most=5.0, table="photo_stage")
    finish(start_cli(env, "enrich", "--quiet"))
    assert_consistent(lib, f"the enrichment's {kills} kills and a last run", settled=True, originals=total)
    pending = lib.db.execute_sql(
        "SELECT COUNT(*) FROM photo p WHERE p.has_thumbs = 1 AND NOT EXISTS "
        "(SELECT 1 FROM photo_stage s WHERE s.photo_id = p.id AND s.stage = 'labels')").fetchone()[0]
    assert pending == 0, f"{pending} photos still without labels after the last run (seed {SEED})"


# --- A MariaDB server of the test's own, stopped mid-index (never the shared one on 3306). ---


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OwnMariaDB:
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/photoshelf"

    def start(self) -> None:
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the server holds it while it runs
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.root / 'data'}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.root / 'mysqld.sock'}",
             f"--pid-file={self.root / 'mysqld.pid'}", "--skip-grant-tables", "--skip-log-bin",
             "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", *self._as_root()],
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        wait_for(self._answers, timeout=60, what=f"mariadbd on port {self.port} (log: {self.root / 'server.log'})")

    def stop(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self.proc = None

    def _answers(self) -> bool:
        import pymysql

        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2).close()
            return True
        except pymysql.MySQLError:
            assert self.proc is not None and self.proc.poll() is None, (self.root / "server.log").read_text()[-2000:]
            return False

    @staticmethod
    def _as_root() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []


@pytest.fixture
def own_mariadb(tmp_path: Path) -> Iterator[OwnMariaDB]:
    server = OwnMariaDB(tmp_path / "mariadb", _free_port())
    server.root.mkdir()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={server.root / 'data'}",
                    "--auth-root-authentication-method=normal", "--skip-test-db", *server._as_root()],
                   check=True, capture_output=True, timeout=120)
    server.start()
    import pymysql

    with pymysql.connect(host="127.0.0.1", port=server.port, user="root") as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE photoshelf CHARACTER SET utf8mb4")
    try:
        yield server
    finally:
        if server.proc is not None:
            server.stop(signal.SIGTERM)


@pytest.mark.slow
def test_mariadb_stops_mid_index_and_comes_back(own_mariadb: OwnMariaDB, tmp_path: Path) -> None:
    """The server is killed (-9: crash recovery) in one round and shut down cleanly in the other, each while the
    index commits; the index stops with a one-line error, and the run after the restart completes."""
    rng = rng_for("mariadb")
    (tmp_path / "lib").mkdir()
    lib = make_library(tmp_path / "lib", own_mariadb.url, None)
    env = cli_env(lib, **NO_ML)
    total = 0
    try:
        for round_, sig in enumerate((signal.SIGKILL, signal.SIGTERM), 1):
            total += add_photos(lib, f"roll{round_}", 120)
            proc = start_cli(env, "index", "--quiet")
            target = count_rows(lib.database_url) + rng.randint(8, 80)

            def committed(target: int = target, proc: subprocess.Popen[bytes] = proc) -> bool:
                return count_rows(lib.database_url) >= target or proc.poll() is not None

            wait_for(committed, timeout=120, what=f"{target} files committed")
            assert proc.poll() is None, f"the index finished before the server stopped (seed {SEED})"
            own_mariadb.stop(sig)
            rc = proc.wait(timeout=120)
            stderr = stderr_of(proc)
            assert rc == 1 and "Error: " in stderr and "Traceback" not in stderr, (rc, stderr[-2000:])
            print(f"index with MariaDB stopped by signal {sig}: exit {rc}: {stderr.strip().splitlines()[-1]}")
            own_mariadb.start()
            assert_consistent(lib, f"MariaDB stopped by signal {sig} mid-index")
            finish(start_cli(env, "index", "--quiet"))
            assert_consistent(lib, f"the index after MariaDB's restart (round {round_})", settled=True,
                              originals=total)
    finally:
        lib.db.close()
