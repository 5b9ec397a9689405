"""Round-trip YAML files (comments and unknown keys kept) written atomically, and only when their content changes."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from photoshelf import tempfiles
from photoshelf.errors import PhotoshelfError


class SidecarError(PhotoshelfError):
    """A sidecar file cannot be read (bad YAML, not a mapping); the message names the file."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(path: Path) -> CommentedMap | None:
    """The file's mapping (round-trip: comments and key order kept), or None if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{path}: cannot read: {exc}") from None
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise SidecarError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise SidecarError(f"{path}: a photo sidecar must be a YAML mapping")
    return data


def load_plain(path: Path) -> dict[str, Any] | None:
    """The file's data without comments, through libyaml's C parser (restore reads many files, and only reads)."""
    import yaml as pyyaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{path}: cannot read: {exc}") from None
    loader = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)
    try:
        data = pyyaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except pyyaml.YAMLError as exc:
        raise SidecarError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SidecarError(f"{path}: a photo sidecar must be a YAML mapping")
    return data


def merge(target: CommentedMap, new: dict[str, Any], *, owned: set[str] | None = None) -> CommentedMap:
    """Update `target` in place with `new`: keys we write are replaced (nested maps merged the same way), keys we
    own but no longer have are removed, and keys someone else added stay, with their comments."""
    owned = set(new) if owned is None else owned
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(target.get(key), CommentedMap):
            merge(target[key], value, owned=set(value) | _owned_nested(key))
        else:
            target[key] = value
    for key in list(target):
        if key in owned and key not in new:
            del target[key]
    return target


def _owned_nested(key: str) -> set[str]:
    # Inside our own section every key is ours; in PhotoPrism's Details we write Keywords only.
    from photoshelf.sidecars.format import OWNED_KEYS, SECTION

    if key == SECTION:
        return set(OWNED_KEYS)
    return set()


def dumps(data: Any) -> str:
    """YAML text. A new file (plain data) goes through libyaml's C emitter, ten times faster than the
    round-trip emitter, which is kept for files that exist (their comments and order must survive)."""
    if not isinstance(data, CommentedMap):
        import yaml as pyyaml

        dumper = getattr(pyyaml, "CSafeDumper", pyyaml.SafeDumper)
        return str(pyyaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                               width=4096))
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def plain(data: Any) -> Any:
    """Comment-free Python data of a round-trip document (to compare contents rather than formatting)."""
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data


def write_atomic(path: Path, text: str, storage: Path | None = None) -> bool:
    """Write `text` to `path` atomically (temp file in the same folder, fsync, rename). Returns False, writing
    nothing, when the file already holds exactly this text. With `storage`, the temp file is one that
    tempfiles.recover sweeps if this process is killed mid-write."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    if storage is not None:
        fd, tmp = tempfiles.mkstemp(path.parent, storage, ".yml")
    else:
        fd, tmp = tempfile.mkstemp(prefix=tempfiles.PREFIX, suffix=".yml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # some file systems (SMB) cannot fsync a folder; the rename is still atomic
    return True
