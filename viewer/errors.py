"""The viewer's domain errors: input a person sent that the catalog cannot take."""

from __future__ import annotations

from photoshelf.errors import PhotoshelfError


class InvalidInput(PhotoshelfError):
    """A request asked for something impossible (an unknown field, a bad value); the message says what."""


class BodyTooLarge(InvalidInput):
    """A request's body is larger than the viewer takes for it (HTTP 413)."""


class Forbidden(PhotoshelfError):
    """The user is logged in but may not do this to this thing (someone else's share link, the last admin)."""
