"""Whom a request shows photos to (photoshelf.visibility.Audience), from what the login middleware found.

The middleware (viewer/auth.py) sets `request.state.user` (a User row or None) and `request.state.role`
("admin" | "member" | "viewer" | "public" | None); the share pages build their own audience from the link."""

from __future__ import annotations

from starlette.requests import Request

from photoshelf.visibility import NOBODY, PUBLIC, Audience, for_share, for_user


def audience(request: Request) -> Audience:
    """The request's audience; nobody (no photos at all) when the middleware found neither a user nor public
    mode, so a route it forgot to guard still shows nothing."""
    role = getattr(request.state, "role", None)
    if role == "public":
        return PUBLIC
    user = getattr(request.state, "user", None)
    if user is None or role not in ("admin", "member", "viewer"):
        share = getattr(request.state, "share", None)  # a share link's visitor (viewer/views/shares.py)
        return for_share(share) if share is not None else NOBODY
    return for_user(user.id, role)
