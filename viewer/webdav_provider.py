"""The WebDAV resources: each member's own upload folder (read-write, by the rules of viewer/webdav_files.py) and,
for admins, the originals (read-only). Paths are checked here: no `..`, no control characters, no symbolic links,
nothing outside the user's folder."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wsgidav import util
from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_INTERNAL_ERROR,
    DAVError,
)
from wsgidav.dav_provider import DAVNonCollection, DAVProvider
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource

from photoshelf.viewer.webdav_files import (
    BadName,
    Placed,
    QuotaExceeded,
    UploadIncomplete,
    UploadWriter,
    check_name,
    copy_file,
    copy_tree,
    file_digest,
    folder_bytes,
    listable,
    set_aside,
)

log = logging.getLogger(__name__)

USER_KEY = "photoshelf.user"  # environ: the DavUser the login found
PLACED_KEY = "photoshelf.placed"  # environ: (URL path asked for, URL path stored at, created) of a PUT
ORIGINALS = "originals"  # the admins' read-only view of the originals, beside their upload folder
FS_OPTS = {"follow_symlinks": False}


@dataclass(frozen=True)
class DavUser:
    id: int
    name: str
    role: str


def dav_error(exc: Exception) -> DAVError:
    """The HTTP answer to a refusal from webdav_files (or the file system)."""
    if isinstance(exc, DAVError):
        return exc
    if isinstance(exc, QuotaExceeded):
        return DAVError(HTTP_INSUFFICIENT_STORAGE, str(exc))
    if isinstance(exc, (BadName, UploadIncomplete)):
        return DAVError(HTTP_BAD_REQUEST, str(exc))
    if isinstance(exc, PermissionError):
        return DAVError(HTTP_FORBIDDEN, str(exc))
    if isinstance(exc, OSError) and exc.errno is not None:
        return DAVError(HTTP_INTERNAL_ERROR, f"{exc.strerror}: {exc.filename}", src_exception=exc)
    return DAVError(HTTP_INTERNAL_ERROR, src_exception=exc)


def _parts(path: str | None) -> list[str]:
    """The segments of a (normalized) request path, each checked to be a usable file name. (wsgidav asks for the
    parent of the root as None.)"""
    parts = [p for p in (path or "").split("/") if p]
    for part in parts:
        try:
            check_name(part)
        except BadName as exc:
            raise DAVError(HTTP_BAD_REQUEST, str(exc)) from None
    return parts


def _resource(provider: Any, path: str | None, environ: dict[str, Any], folder: type[FolderResource],
              file: type[FileResource]) -> Any:
    """The folder or file resource at a request path, None when nothing is there (wsgidav asks for the parent of
    the root as None); anything else (a device, a socket) is refused."""
    if path is None:
        return None
    file_path = provider._loc_to_file_path(path, environ)
    try:
        mode = os.lstat(file_path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(mode):
        res = folder(path, environ, file_path)
    elif stat.S_ISREG(mode):
        res = file(path, environ, file_path)
    else:
        raise DAVError(HTTP_FORBIDDEN, "only files and folders are served")
    res.provider = provider  # also when listed from another provider's folder (the originals in an admin's)
    return res


# --- the upload folders ---


class UploadProvider(DAVProvider):
    """`/webdav/` for members and admins: the folder `<originals>/<upload_dir>/<user>/` (made on first use)."""

    def __init__(self, uploads: Path, *, quota_bytes: int = 0, originals: OriginalsProvider | None = None) -> None:
        super().__init__()
        self.uploads = uploads
        self.quota = quota_bytes or None
        self.originals = originals
        self.readonly = False
        self.fs_opts = FS_OPTS

    def __repr__(self) -> str:
        return f"UploadProvider({self.uploads}/<user>/)"

    def user_root(self, environ: dict[str, Any]) -> Path:
        user = environ.get(USER_KEY)
        if user is None:
            raise DAVError(HTTP_FORBIDDEN, "no upload folder without a login")
        root = self.uploads / user.name
        if not root.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            log.info("webdav: made the upload folder %s for %s", root, user.name)
        return root

    def room(self, environ: dict[str, Any]) -> int | None:
        """Bytes the user may still upload (None: no quota)."""
        if self.quota is None:
            return None
        return max(0, self.quota - folder_bytes(self.user_root(environ)))

    def _loc_to_file_path(self, path: str, environ: dict[str, Any]) -> str:
        parts = _parts(path)
        root = self.user_root(environ)
        file_path = os.path.join(root, *parts)
        # No symbolic link anywhere below the user's folder, whether it points in or out.
        if os.path.realpath(file_path) != os.path.join(os.path.realpath(root), *parts):
            raise DAVError(HTTP_FORBIDDEN, "symbolic links are not followed here")
        return file_path

    def get_resource_inst(self, path: str | None, environ: dict[str, Any]) -> UploadFile | UploadFolder | None:
        return _resource(self, path, environ, UploadFolder, UploadFile)

    def ref_url_to_path(self, ref_url: str) -> str:
        # Inverts _UserScoped.get_ref_url: drop the /~<user> that keeps each user's locks and properties apart.
        path = super().ref_url_to_path(ref_url)
        _, _, rest = path.lstrip("/").partition("/")
        return "/" + rest

    def custom_request_handler(self, environ: dict[str, Any], start_response: Any, default_handler: Any) -> Any:
        """A PUT stored under another name than the one asked for answers where: 201 with `Location` (or 204 with
        `Content-Location` when those bytes were already there)."""
        if environ["REQUEST_METHOD"] != "PUT":
            return default_handler(environ, start_response)

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            placed = environ.get(PLACED_KEY)
            if placed is not None and placed[0] != placed[1] and status[:1] == "2":
                href = quote(self.mount_path + self.share_path + placed[1], safe="/!*'(),$-_|.")
                status = "201 Created" if placed[2] else "204 No Content"
                headers = [*headers, ("Location" if placed[2] else "Content-Location", href)]
            return start_response(status, headers, exc_info)

        return default_handler(environ, respond)


class _UserScoped:
    """Locks and dead properties are kept per URL: prefix it with the user, or alice's lock on /IMG_1.jpg would
    lock bob's /IMG_1.jpg too."""

    environ: dict[str, Any]
    provider: Any
    path: str

    def get_ref_url(self) -> str:
        return quote(f"/~{self.environ[USER_KEY].name}" + self.get_preferred_path())  # type: ignore[attr-defined]

    def _dest(self, dest_path: str) -> Path:
        return Path(self.provider._loc_to_file_path(dest_path, self.environ))

    def _props(self, dest_path: str, *, is_move: bool) -> None:
        pm = self.provider.prop_manager
        dest = self.provider.get_resource_inst(dest_path, self.environ)
        if pm is None or dest is None:
            return
        if is_move:
            pm.move_properties(self.get_ref_url(), dest.get_ref_url(), with_children=True, environ=self.environ)
        else:
            pm.copy_properties(self.get_ref_url(), dest.get_ref_url(), self.environ)

    def _overwrite(self, dest_path: str, *, is_move: bool, depth_infinity: bool = True) -> bool:
        """COPY or MOVE onto a name that is taken (the client sent `Overwrite: T`): the client gets what it asked
        for at the destination, and what was there is kept under a free ` (n)` name beside it (dropped only when
        it is the same bytes, or an empty file or folder). Returns False when the destination is free (wsgidav's
        own COPY/MOVE then runs and answers 201)."""
        source, dest = Path(self._file_path), self._dest(dest_path)  # type: ignore[attr-defined]
        if not os.path.lexists(dest):
            return False
        try:
            if source.is_file() and dest.is_file() and not dest.is_symlink() and _same_file_bytes(source, dest):
                if is_move:
                    source.unlink()
                    self.remove_all_properties(recursive=True)  # type: ignore[attr-defined]
                return True
            set_aside(dest)
            if is_move:
                os.rename(source, dest)
                self._props(dest_path, is_move=True)
            elif source.is_dir():
                copy_tree(source, dest, room=self.provider.room(self.environ), depth_infinity=depth_infinity)
            else:
                copy_file(source, dest, room=self.provider.room(self.environ))
        except Exception as exc:  # noqa: BLE001 - every failure becomes the HTTP answer it stands for
            raise dav_error(exc) from exc
        return True

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        return self._overwrite(dest_path, is_move=False, depth_infinity=depth_infinity)

    def handle_move(self, dest_path: str) -> bool:
        return self._overwrite(dest_path, is_move=True)


def _same_file_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and file_digest(a) == file_digest(b)


class UploadFolder(_UserScoped, FolderResource):
    def get_member_names(self) -> list[str]:
        names = [n for n in super().get_member_names() if listable(n)]
        if self._originals() is not None and ORIGINALS not in names:
            names.append(ORIGINALS)
        return names

    def get_member(self, name: str) -> Any:
        originals = self._originals() if name == ORIGINALS else None
        if originals is not None:
            return originals.get_resource_inst("/", self.environ)
        return super().get_member(name)

    def _originals(self) -> OriginalsProvider | None:
        """The originals, listed in an admin's own folder when webdav.browse_originals is on."""
        if self.path.strip("/") or self.environ[USER_KEY].role != "admin":
            return None
        originals: OriginalsProvider | None = self.provider.originals
        return originals

    def create_empty_resource(self, name: str) -> UploadFile:
        path = util.join_uri(self.path, name)
        file_path = self.provider._loc_to_file_path(path, self.environ)
        if self.environ["REQUEST_METHOD"] == "PUT":
            return UploadFile(path, self.environ, file_path, pending=True)  # on disk when its bytes are complete
        # LOCK on a free name: the empty placeholder RFC 4918 asks for (a later PUT may fill it).
        os.close(os.open(file_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        return UploadFile(path, self.environ, file_path)

    def handle_delete(self) -> bool:
        # Asked before wsgidav deletes member by member: refusing only in delete() would empty the folder first.
        if not self.path.strip("/"):
            raise DAVError(HTTP_FORBIDDEN, "your upload folder itself cannot be deleted")
        return False


class UploadFile(_UserScoped, FileResource):
    def __init__(self, path: str, environ: dict[str, Any], file_path: str, *, pending: bool = False) -> None:
        self._writer: UploadWriter | None = None
        if not pending:
            super().__init__(path, environ, file_path)
            return
        DAVNonCollection.__init__(self, path, environ)  # a PUT's new file: nothing on disk yet
        self._file_path = file_path
        self.file_stat = os.stat_result((0,) * 10)

    def begin_write(self, *, content_type: str | None = None) -> _Sink:
        length = self.environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in self.environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        expected = int(length) if length.isdigit() and not chunked else None
        try:
            self._writer = UploadWriter(Path(self._file_path), room=self.provider.room(self.environ),
                                        expected=expected)
        except Exception as exc:  # noqa: BLE001 - the HTTP answer it stands for (507 over quota)
            raise dav_error(exc) from exc
        return _Sink(self._writer)

    def end_write(self, *, with_errors: bool) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if with_errors:
            writer.discard()
            log.info("webdav: an upload of %s by %s stopped; nothing was kept", self.path,
                     self.environ[USER_KEY].name)
            return
        try:
            placed = writer.commit()
        except Exception as exc:  # noqa: BLE001
            writer.discard()
            raise dav_error(exc) from exc
        self._stored(placed, writer.size)

    def _stored(self, placed: Placed, size: int) -> None:
        asked: str = self.path
        self._file_path = os.fspath(placed.path)
        self.name = placed.path.name
        self.path = util.join_uri(util.get_uri_parent(asked), self.name)
        self.file_stat = os.stat(self._file_path)
        self.environ[PLACED_KEY] = (asked, self.path, placed.created)
        user = self.environ[USER_KEY].name
        if asked != self.path:
            log.info("webdav: %s uploaded %s (%d bytes); the name was taken: kept as %s", user, asked, size,
                     self.name)
        else:
            log.info("webdav: %s uploaded %s (%d bytes)%s", user, asked, size,
                     "" if placed.created else ", the same bytes as before or into an empty placeholder")

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        try:
            copy_file(Path(self._file_path), self._dest(dest_path), room=self.provider.room(self.environ))
        except Exception as exc:  # noqa: BLE001
            raise dav_error(exc) from exc
        self._props(dest_path, is_move=is_move)


class _Sink:
    """The file object wsgidav's PUT writes the body into; refusals become HTTP answers (507, 400)."""

    def __init__(self, writer: UploadWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> int:
        try:
            return self.writer.write(data)
        except Exception as exc:  # noqa: BLE001
            raise dav_error(exc) from exc

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception as exc:  # noqa: BLE001
            raise dav_error(exc) from exc


# --- the originals, read-only, for admins ---


class OriginalsProvider(FilesystemProvider):
    """`/webdav/originals/`: the whole originals folder for admins (webdav.browse_originals), read-only."""

    def __init__(self, originals: Path) -> None:
        super().__init__(os.fspath(originals), readonly=True, fs_opts=FS_OPTS)

    def _loc_to_file_path(self, path: str, environ: dict[str, Any] | None = None) -> str:
        _parts(path)
        return str(super()._loc_to_file_path(path, environ))

    def get_resource_inst(self, path: str | None, environ: dict[str, Any]) -> FileResource | FolderResource | None:
        return _resource(self, path, environ, OriginalsFolder, FileResource)


class OriginalsFolder(FolderResource):
    def get_member_names(self) -> list[str]:
        return [n for n in super().get_member_names() if listable(n)]
