"""Mounts under the originals: which file system holds a folder (inotify misses other hosts' changes on network
file systems), and a folder's identity (an unmount over the originals changes it, and sends no event)."""

from __future__ import annotations

import os
from pathlib import Path

# File systems on which inotify does not see changes made by other hosts.
NETWORK_FS = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "9p", "fuse.rclone", "glusterfs",
    "fuse.glusterfs", "ceph", "fuse.ceph", "davfs", "fuse.davfs2", "afs", "lustre", "fuse.s3fs", "fuse.mergerfs",
}


def mount_fstype(path: Path, mounts_file: str = "/proc/mounts") -> tuple[str, str] | None:
    """(mount point, fs type) of the mount holding `path`, from /proc/mounts; None where unknown."""
    try:
        with open(mounts_file, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best: tuple[str, str] | None = None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and (best is None or len(point) > len(best[0])):
            best = (point, parts[2])
    return best


def network_mounts_under(path: Path, mounts_file: str = "/proc/mounts") -> list[tuple[str, str]]:
    """Network file systems at or below `path` (a NAS share mounted inside the originals counts too)."""
    out = []
    holder = mount_fstype(path, mounts_file)
    if holder and holder[1] in NETWORK_FS:
        out.append(holder)
    try:
        with open(mounts_file, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3 and parts[2] in NETWORK_FS:
                    point = parts[1].replace("\\040", " ")
                    if point.startswith(os.path.realpath(path).rstrip("/") + "/"):
                        out.append((point, parts[2]))
    except OSError:
        pass
    return out


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a folder, None when it cannot be reached: a mount or unmount over it changes both."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
