"""Domain exceptions: what can go wrong, in words a user can act on."""

from __future__ import annotations


class PhotoshelfError(Exception):
    """Base class for every error photoshelf reports to a user."""


class ConfigError(PhotoshelfError):
    """The configuration is wrong; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"config: {key}: {message}")


class DatabaseError(PhotoshelfError):
    """The catalog database cannot be opened or used."""


class ToolMissing(PhotoshelfError):
    """An external tool (exiftool, ffmpeg) or optional extra is not installed."""


class NotFound(PhotoshelfError):
    """A photo, file or other catalog object does not exist."""


class MediaError(PhotoshelfError):
    """A file cannot be read as media; the message is the human reason recorded in the catalog."""


class QueryError(PhotoshelfError):
    """A search query cannot be parsed; `position` is where in the query it went wrong."""

    def __init__(self, message: str, position: int = 0) -> None:
        self.position = position
        super().__init__(message)


class Gone(PhotoshelfError):
    """Something that existed and no longer may be used: an expired or revoked share link (HTTP 410)."""


class OriginalsUnavailable(PhotoshelfError):
    """The originals folder cannot be read as a whole (gone, not listable, or an empty mount point while the catalog
    has photos): nothing may be marked missing on its account."""


class PortInUse(PhotoshelfError):
    """The port the viewer should listen on is taken by another program (or another photoshelf)."""
