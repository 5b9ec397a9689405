"""The metadata fidelity table: index the metadata test set (tests/data/metadata) and count, per field, how many
files match their expected values.

    .venv/bin/python bench/metadata_table.py            # the table, and every mismatch
    .venv/bin/python bench/metadata_table.py --dump     # what photoshelf read, as expected.tsv rows (a draft)
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import metadata_set  # noqa: E402 - the tests folder is on the path now

from photoshelf.config import load_config  # noqa: E402
from photoshelf.db.catalog import open_catalog  # noqa: E402
from photoshelf.db.schema import File, Photo  # noqa: E402
from photoshelf.library import index_library  # noqa: E402
from photoshelf.records import records  # noqa: E402

log = logging.getLogger("metadata_table")


def indexed_records(folder: Path) -> dict[str, dict[str, object]]:
    """Build the set in `folder`, index it into a SQLite catalog there: records by file name."""
    originals = metadata_set.build(folder / "originals")
    config = load_config(env={"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(folder / "storage"),
                              "PHOTOSHELF_DATABASE": f"sqlite:///{folder / 'catalog.db'}"})
    db = open_catalog(config)
    try:
        index_library(config, db)
        out = {}
        for f in File.select().where(File.photo.is_null(False) & (File.role == "media")):
            out[f.path] = records([Photo.get_by_id(f.photo_id)])[0]
        return out
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dump", action="store_true", help="print what was read as expected.tsv rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="photoshelf-metadata-") as tmp:
        recs = indexed_records(Path(tmp))
    if args.dump:
        print("\t".join(("file", *metadata_set.FIELDS)))
        for name in sorted(recs):
            got = metadata_set.actual(recs[name])
            print("\t".join((name, *(got[f] for f in metadata_set.FIELDS))))
        return 0
    result = metadata_set.compare(recs)
    print(metadata_set.table(result))
    for line in metadata_set.mismatches(result):
        print("  " + line)
    return 0 if not metadata_set.mismatches(result) else 1


if __name__ == "__main__":
    sys.exit(main())
