"""Walk the originals tree with os.scandir: skip NAS litter, hidden and ignored folders, never loop on symlinks."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from photoshelf.filenames import display
from photoshelf.media.decode import is_media, is_sidecar

log = logging.getLogger(__name__)

IGNORE_FILE = ".photoshelfignore"
# Folders NAS systems, sync tools and desktops leave behind. Matched against the folder name.
LITTER_DIRS = ("@eaDir", "#recycle", "#snapshot", "@Recycle", "@Recently-Snapshot", ".stversions",
               ".Trash-*", ".Trashes", ".Spotlight-V100", ".fseventsd", "lost+found", "$RECYCLE.BIN",
               "System Volume Information", ".@__thumb", ".thumbnails", ".photoshelf")
LITTER_FILES = ("Thumbs.db", "desktop.ini", ".DS_Store", "._*", ".~tmp*", "*.part", "*.crdownload",
                "*.sync", "*.tmp", "*.!sync", ".syncthing.*")


# One compiled regex per list: the walk asks this for every file of a 100k-photo tree.
_LITTER_DIR_RE = re.compile("|".join(fnmatch.translate(p) for p in LITTER_DIRS))
_LITTER_FILE_RE = re.compile("|".join(fnmatch.translate(p) for p in LITTER_FILES))


def is_litter_dir(name: str) -> bool:
    return _LITTER_DIR_RE.match(name) is not None


def is_litter_file(name: str) -> bool:
    return _LITTER_FILE_RE.match(name) is not None


@dataclass(frozen=True, slots=True)
class Entry:
    rel: str  # path relative to the originals root, '/'-separated
    size: int
    mtime_ns: int
    inode: int
    dev: int
    role: str  # media | sidecar
    bad_name: bool = False  # not valid UTF-8


@dataclass
class OtherFiles:
    """Files the walk passed over because their name says they are neither media nor a sidecar, by extension:
    how many, and the first few paths (so doctor can list them: nothing the scan sees goes unaccounted)."""

    count: int = 0
    examples: list[str] = field(default_factory=list)


EXAMPLES_KEPT = 5


@dataclass
class WalkProblem:
    """A path the walk could not read: what was catalogued under it is unknown now, not gone."""

    rel: str
    reason: str


class Walker:
    """One pass over the tree; `problems` collects folders that could not be read."""

    def __init__(
        self,
        root: Path,
        *,
        skip: list[Path] | None = None,
        skip_hidden: bool = True,
        follow_symlinks: bool = True,
        exclude: list[str] | None = None,
    ) -> None:
        self.root = root
        self.skip = {os.path.realpath(p) for p in (skip or [])}
        self.skip_hidden = skip_hidden
        self.follow_symlinks = follow_symlinks
        self.exclude = pathspec.GitIgnoreSpec.from_lines(exclude or [])
        self.problems: list[WalkProblem] = []
        self.ignored = 0
        self.other: dict[str, OtherFiles] = {}  # by lower-case extension ('' for none)

    def walk(self, start: str = "") -> Iterator[Entry]:
        """Yield every media and sidecar file under `start` (relative path, '' for the root)."""
        seen: set[tuple[int, int]] = set()
        top = self.root / start if start else self.root
        # Ignore files of the folders above `start` still apply to it.
        specs = self._specs_above(start) if start else []
        yield from self._walk_dir(top, start, specs, seen)

    def _specs_above(self, rel: str) -> list[tuple[str, pathspec.PathSpec]]:
        """The ignore files of the folders above `rel` (the root's included)."""
        specs: list[tuple[str, pathspec.PathSpec]] = []
        parts = rel.split("/")
        for i in range(len(parts)):
            base = "/".join(parts[:i])
            spec = self._load_ignore(self.root / base if base else self.root)
            if spec is not None:
                specs.append((base, spec))
        return specs

    def excluded(self, rel: str, *, is_dir: bool) -> bool:
        """Whether a walk would skip this path: hidden, NAS litter, the storage folder, or an ignore rule."""
        parts = rel.split("/")
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            if self.skip_hidden and name.startswith("."):
                return True
            if (not last or is_dir) and is_litter_dir(name):
                return True
            if last and not is_dir and (is_litter_file(name) or name == IGNORE_FILE):
                return True
        if os.path.realpath(self.root / rel) in self.skip or any(
            os.path.realpath(self.root / "/".join(parts[: i + 1])) in self.skip for i in range(len(parts) - 1)
        ):
            return True
        return self._ignored(rel, is_dir, self._specs_above(rel))

    def entry_for(self, rel: str) -> Entry | None:
        """The entry a walk would yield for this one file, or None if a walk would skip it."""
        name = rel.rsplit("/", 1)[-1]
        media, sidecar = is_media(name), is_sidecar(name)
        if not (media or sidecar) or self.excluded(rel, is_dir=False):
            return None
        try:
            st = os.stat(self.root / rel) if self.follow_symlinks else os.lstat(self.root / rel)
        except OSError:
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        return Entry(rel=rel, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, dev=st.st_dev,
                     role="media" if media else "sidecar", bad_name=not_utf8(rel))

    def _note_other(self, name: str, rel: str) -> None:
        ext = os.path.splitext(name)[1].lower()
        other = self.other.setdefault(ext, OtherFiles())
        other.count += 1
        if len(other.examples) < EXAMPLES_KEPT:
            other.examples.append(display_path(rel))

    def _load_ignore(self, folder: Path) -> pathspec.PathSpec | None:
        try:
            with open(folder / IGNORE_FILE, encoding="utf-8", errors="replace") as fh:
                return pathspec.GitIgnoreSpec.from_lines(fh)
        except OSError:
            return None

    def _ignored(self, rel: str, is_dir: bool, specs: list[tuple[str, pathspec.PathSpec]]) -> bool:
        probe = rel + "/" if is_dir else rel
        if self.exclude.match_file(probe):
            return True
        for base, spec in specs:
            sub = probe[len(base) + 1:] if base else probe
            if spec.match_file(sub):
                return True
        return False

    def _walk_dir(
        self, folder: Path, rel: str, specs: list[tuple[str, pathspec.PathSpec]], seen: set[tuple[int, int]]
    ) -> Iterator[Entry]:
        try:
            st = os.stat(folder)
        except OSError as exc:
            self.problems.append(WalkProblem(rel, f"cannot read folder: {exc.strerror}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            log.warning("skipping %s: symlink loop or folder reached twice", folder)
            return
        seen.add(key)
        if os.path.realpath(folder) in self.skip:
            return
        spec = self._load_ignore(folder)
        if spec is not None:
            specs = [*specs, (rel, spec)]
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.problems.append(WalkProblem(rel, f"cannot list folder: {exc.strerror}"))
            return
        subdirs = []
        for entry in entries:
            name = entry.name
            child = f"{rel}/{name}" if rel else name
            try:
                is_dir = entry.is_dir(follow_symlinks=self.follow_symlinks)
            except OSError as exc:  # a stale NFS handle, a broken mount: unknown, not gone
                self.problems.append(WalkProblem(child, f"cannot read: {exc.strerror}"))
                continue
            if is_dir:
                if (self.skip_hidden and name.startswith(".")) or is_litter_dir(name):
                    continue
                if entry.is_symlink() and not self.follow_symlinks:
                    continue
                if self._ignored(child, True, specs):
                    self.ignored += 1
                    continue
                subdirs.append((Path(entry.path), child))
                continue
            if name == IGNORE_FILE or is_litter_file(name) or (self.skip_hidden and name.startswith(".")):
                continue
            media, sidecar = is_media(name), is_sidecar(name)
            if not (media or sidecar):
                self.ignored += 1
                if not self._ignored(child, False, specs):
                    self._note_other(name, child)
                continue
            if self._ignored(child, False, specs):
                self.ignored += 1
                continue
            try:
                fst = entry.stat(follow_symlinks=self.follow_symlinks)
            except OSError as exc:
                self.problems.append(WalkProblem(child, f"cannot stat: {exc.strerror}"))
                continue
            if not stat_mod.S_ISREG(fst.st_mode):
                continue
            bad_name = not_utf8(child)
            yield Entry(
                rel=child, size=fst.st_size, mtime_ns=fst.st_mtime_ns, inode=fst.st_ino, dev=fst.st_dev,
                role="media" if media else "sidecar", bad_name=bad_name,
            )
        for path, child in subdirs:
            yield from self._walk_dir(path, child, specs, seen)


def not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def display_path(rel: str) -> str:
    """A path that is always valid UTF-8: a name that is not UTF-8 decoded as CP1252 or CP437 (photoshelf/filenames.py)."""
    return display(rel)
