"""Share links on the web: what a link's visitor gets under /s/<token> (the album's grid or the photo, the password
form, thumbnails and originals scoped to the link), and the API that makes, lists and revokes links."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from photoshelf import accounts, shares
from photoshelf.db.schema import Share
from photoshelf.viewer import auth, sharing
from photoshelf.viewer.audience import audience
from photoshelf.viewer.errors import Forbidden
from photoshelf.viewer.listing import MAX_LIMIT
from photoshelf.viewer.urls import url
from photoshelf.viewer.views.common import (
    catalog,
    config,
    int_param,
    json_body,
    path_int,
    render,
    tiles,
    with_query,
)
from photoshelf.viewer.views.files import original_for, thumb_for
from photoshelf.viewer.views.photo import add_play_url, play_for
from photoshelf.visibility import for_share

log = logging.getLogger(__name__)

UNLOCK_COOKIE = "photoshelf_share"  # path-scoped to /s/<token>: one per link
UNLOCK_SALT = "photoshelf-share-unlock"
UNLOCK_SECONDS = 7 * 86400


def _prefix(request: Request) -> str:
    """Where the link's pages, thumbnails and originals are, as the browser asks for them (with the root path):
    under the URL's token (a link restored from users.yaml knows only its key, photoshelf.shares)."""
    return url(f"/s/{request.path_params['token']}")


async def _open(request: Request) -> Share:
    """The link of the URL: 404 for an unknown token, 410 for a revoked or expired one."""
    return await catalog(request).read(shares.resolve, request.path_params["token"])


async def _unlocked(request: Request, share: Share) -> bool:
    if not share.password_hash:
        return True
    key = await auth.secret(request.app)
    return auth.unsign(key, request.cookies.get(UNLOCK_COOKIE), salt=UNLOCK_SALT) == sharing.unlock_value(share)


async def _usable(request: Request) -> Share:
    """The link, unlocked (bytes and photo pages of a password-protected link need the unlock cookie)."""
    share = await _open(request)
    if not await _unlocked(request, share):
        raise Forbidden("this link is protected by a password: open the link and enter it first")
    return share


def _render(request: Request, context: dict[str, Any], status_code: int = 200) -> Response:
    # As its visitor sees it, whoever is logged in: no navigation, search or user menu (base.html), and the brand
    # leads back to the link itself.
    return render(request, "share.html", {"role": None, "user": None, "home": context["prefix"], **context},
                  status_code=status_code)


def _title(share: Share) -> str:
    return "Shared album" if share.album_id is not None else "Shared photo"


# --- the visitor's pages ---


async def share_page(request: Request) -> Response:
    """GET: the shared album's grid (infinite scroll with ?partial=1) or the shared photo, or the password form.
    POST: the password form (rate-limited like logins, per address and per link)."""
    share = await _open(request)
    if request.method == "POST":
        return await _unlock(request, share)
    prefix = _prefix(request)
    if not await _unlocked(request, share):
        return _render(request, {"locked": True, "prefix": prefix, "title": _title(share)})
    if share.photo_id is not None:
        await catalog(request).write(shares.count_view, share)
        return await _photo(request, share, share.photo_id)
    cursor = request.query_params.get("cursor") or None
    partial = request.query_params.get("partial") == "1"
    limit = int_param(request, "limit", config(request).viewer.page_size, 1, MAX_LIMIT)
    data = await catalog(request).read(sharing.album_page, share, cursor, limit)
    page = data["page"]
    context = {"page": page, "tiles": tiles(page), "days": None, "photo_query": "", "prefix": prefix,
               "next_url": with_query(request.url, cursor=page.next, partial=None) if page.next else None}
    if partial:
        return render(request, "grid_partial.html", context)
    if cursor is None:
        await catalog(request).write(shares.count_view, share)
    return _render(request, {**context, "title": data["album"]["title"],
                             "description": data["album"]["description"]})


async def _unlock(request: Request, share: Share) -> Response:
    cfg = config(request).auth
    access = catalog(request)
    ip = auth.client_ip(request.scope)
    name = f"share:{share.token[:24]}"
    context = {"locked": True, "prefix": _prefix(request), "title": _title(share)}
    blocked = await access.read(accounts.login_blocked, ip, name, per_ip=cfg.login_attempts_per_ip,
                                per_user=cfg.login_attempts_per_user, window_minutes=cfg.login_window_minutes)
    if blocked:
        return _render(request, {**context, "error": blocked.replace("logins", "tries")}, 429)
    form = await request.form()
    password = form.get("password")
    if not isinstance(password, str) or not await access.read(shares.check_password, share, password):
        await access.write(accounts.record_login_failure, ip, name)
        log.info("wrong password for share %s… from %s", share.token[:6], ip)
        return _render(request, {**context, "error": "wrong password"}, 401)
    key = await auth.secret(request.app)
    response = RedirectResponse(_prefix(request), status_code=303)
    response.set_cookie(UNLOCK_COOKIE, auth.sign(key, sharing.unlock_value(share), salt=UNLOCK_SALT),
                        max_age=UNLOCK_SECONDS, path=_prefix(request), httponly=True, samesite="lax",
                        secure=auth.secure_cookies(request.scope, config(request)))
    return response


async def _photo(request: Request, share: Share, photo_id: int) -> Response:
    prefix = _prefix(request)
    data = await catalog(request).read(sharing.photo_view, share, photo_id, prefix)
    photo = data["photo"]
    if share.allow_download:  # a video plays only where its original could be had: the link allows downloads
        add_play_url(request, photo, f"{prefix}/photos/{photo['id']}/play")
    taken = (photo["taken_at_local"] or "").replace("T", " ")[:16]
    back = prefix if share.album_id is not None else None  # a photo link's page is the link itself
    return _render(request, {**data, "prefix": prefix, "back": back, "taken": taken,
                             "title": photo["title"] or _title(share)})


async def share_photo(request: Request) -> Response:
    """/s/<token>/photos/<id>: a photo of the shared album (404 for any photo the link does not show)."""
    share = await _open(request)
    if not await _unlocked(request, share):
        return RedirectResponse(_prefix(request), status_code=303)
    return await _photo(request, share, path_int(request, "photo_id"))


async def share_thumb(request: Request) -> Response:
    share = await _usable(request)
    return await thumb_for(request, for_share(share))


async def share_original(request: Request) -> Response:
    share = await _usable(request)
    if not share.allow_download:
        raise Forbidden("this link does not allow downloading originals")
    return await original_for(request, for_share(share), request.query_params.get("download") == "1")


async def share_play(request: Request) -> Response:
    """The browser-playable copy of a shared video (as /photos/<id>/play, with ranges), where the link allows
    downloads."""
    share = await _usable(request)
    if not share.allow_download:
        raise Forbidden("this link does not allow playing or downloading its videos")
    return await play_for(request, for_share(share))


# --- the API (members and admins) ---


def links_base(request: Request) -> str:
    """Where links point: server.base_url when set, else the address this request came to."""
    return config(request).server.base_url or str(request.base_url).rstrip("/")


async def api_shares(request: Request) -> Response:
    """GET: the links the user may revoke (an admin: all). POST {"album" | "photo", "expires_days"?, "password"?,
    "download"?} → 201 {"token", "url", "expires_at", ...}."""
    user = request.state.user
    if request.method == "POST":
        body = await json_body(request)
        made = await catalog(request).write(sharing.create, body, user, audience(request), links_base(request))
        log.info("%s made share link %s… for %s", user.name, made["token"][:6],
                 f"album {made['album']}" if made["album"] else f"photo {made['photo']}")
        return JSONResponse(made, status_code=201)
    return JSONResponse({"shares": await catalog(request).read(sharing.visible_shares, user, links_base(request))})


async def api_share(request: Request) -> Response:
    """DELETE: revoke the link (its creator or an admin) → the link as it is now (state "revoked")."""
    revoked = await catalog(request).write(sharing.revoke, request.path_params["token"], request.state.user,
                                           links_base(request))
    return JSONResponse(revoked)


routes = [
    Route("/s/{token}", share_page, methods=["GET", "POST"], name="share"),
    Route("/s/{token}/photos/{photo_id}", share_photo, name="share_photo"),
    Route("/s/{token}/photos/{photo_id}/original", share_original, name="share_original"),
    Route("/s/{token}/photos/{photo_id}/play", share_play, name="share_play"),
    Route("/s/{token}/thumb/{size}/{name}", share_thumb, name="share_thumb"),
    Route("/api/v1/shares", api_shares, methods=["GET", "POST"]),
    Route("/api/v1/shares/{token}", api_share, methods=["DELETE"]),
]
