"""The admin page (users: add, change role, reset password, remove; share links: list, revoke) and the users API.
Everything goes through photoshelf.accounts and photoshelf.shares; the last admin can be neither removed nor
demoted (accounts refuses, the page says why)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import accounts
from photoshelf.accounts import AccountError
from photoshelf.db.dates import utc_text
from photoshelf.db.schema import User
from photoshelf.errors import NotFound
from photoshelf.viewer import sharing
from photoshelf.viewer.errors import Forbidden, InvalidInput
from photoshelf.viewer.urls import route_path
from photoshelf.viewer.views.common import catalog, json_body, redirect, render
from photoshelf.viewer.views.shares import links_base

log = logging.getLogger(__name__)


def user_dict(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "created_at": utc_text(user.created_at),
            "last_login_at": utc_text(user.last_login_at)}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{key} must be given, as text")
    return value


# --- what the page and the API both do (run in the writer) ---


def add(name: str, role: str, password: str) -> dict[str, Any]:
    return user_dict(accounts.add_user(name, role, password))


def change(name: str, role: str | None, password: str | None) -> dict[str, Any]:
    """A new role and/or password (either ends the user's sessions)."""
    user = accounts.get_user(name)
    if role is not None and role != user.role:
        user = accounts.set_role(name, role)
    if password is not None:
        user = accounts.set_password(name, password)
    return user_dict(user)


def overview(user: User, base_url: str) -> dict[str, Any]:
    return {"users": [user_dict(u) for u in accounts.list_users()], "shares": sharing.visible_shares(user, base_url),
            "roles": accounts.ROLES}


# --- the page ---


async def admin_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    data = await catalog(request).read(overview, request.state.user, links_base(request))
    return render(request, "admin.html", {"title": "Admin", **data, "error": error,
                                          "done": request.query_params.get("done", "")[:200]},
                  status_code=status_code)


async def admin_action(request: Request) -> Response:
    """The page's forms (they work without JavaScript): add a user; a user's role, password, removal; revoking
    a share link. A refusal (the last admin, a short password, a taken name) shows on the page."""
    form = await request.form()
    write = catalog(request).write
    action = request.path_params.get("action", "add")
    name = request.path_params.get("name") or str(form.get("name", ""))
    try:
        if route_path(request.scope).startswith("/admin/shares/"):
            await write(sharing.revoke, request.path_params["token"], request.state.user)
            done = "Link revoked."
        elif action == "add":
            made = await write(add, name, str(form.get("role", "")), str(form.get("password", "")))
            done = f"{made['name']} added as {made['role']}."
        elif action == "role":
            changed = await write(change, name, str(form.get("role", "")), None)
            done = f"{changed['name']} is now {changed['role']}."
        elif action == "password":
            await write(change, name, None, str(form.get("password", "")))
            done = f"New password set for {name}; their sessions ended."
        elif action == "remove":
            await write(accounts.remove_user, name)
            done = f"{name} removed."
        else:
            raise NotFound(f"no admin action {action!r}")
    except (AccountError, InvalidInput, Forbidden) as exc:
        return await admin_page(request, str(exc), 400)
    log.info("admin %s: %s", request.state.user.name, done)
    return redirect("/admin?" + urlencode({"done": done}))


# --- the API ---


async def api_users(request: Request) -> Response:
    """GET: {"users": [...]}. POST {"name", "role", "password"} → 201 the user."""
    if request.method == "POST":
        body = await json_body(request)
        unknown = set(body) - {"name", "role", "password"}
        if unknown:
            raise InvalidInput(f"unknown user field {sorted(unknown)[0]!r} (known: name, role, password)")
        made = await catalog(request).write(add, _text(body, "name"), _text(body, "role"), _text(body, "password"))
        return JSONResponse(made, status_code=201)
    users = await catalog(request).read(accounts.list_users)
    return JSONResponse({"users": [user_dict(u) for u in users]})


async def api_user(request: Request) -> Response:
    """PATCH {"role"?, "password"?} → the user. DELETE → 204. The last admin stays an admin (400)."""
    name = request.path_params["name"]
    if request.method == "DELETE":
        await catalog(request).write(accounts.remove_user, name)
        return Response(status_code=204)
    body = await json_body(request)
    unknown = set(body) - {"role", "password"}
    if unknown or not body:
        raise InvalidInput('say what to change: {"role": "admin" | "member" | "viewer"} and/or {"password": "…"}')
    role = _text(body, "role") if "role" in body else None
    password = _text(body, "password") if "password" in body else None
    return JSONResponse(await catalog(request).write(change, name, role, password))


routes = [
    Route("/admin", admin_page, name="admin"),
    Route("/admin/users", admin_action, methods=["POST"]),
    Route("/admin/users/{name}/{action}", admin_action, methods=["POST"]),
    Route("/admin/shares/{token}/revoke", admin_action, methods=["POST"]),
    Route("/api/v1/users", api_users, methods=["GET", "POST"]),
    Route("/api/v1/users/{name}", api_user, methods=["PATCH", "DELETE"]),
]
