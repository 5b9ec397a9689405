"""How a benchmark hands back its results: the table for people, and the numbers as JSON (to a file, or to stdout
with the table moved to stderr so the JSON can be piped)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def emit(table: str, result: dict[str, Any], dest: str | None) -> None:
    """Print `table`; with `dest` a file name, write `result` there as JSON, or with `-` print it to stdout."""
    print(table, file=sys.stderr if dest == "-" else sys.stdout)
    if dest:
        text = json.dumps(result, indent=1, ensure_ascii=False)
        if dest == "-":
            print(text)
        else:
            Path(dest).write_text(text)
