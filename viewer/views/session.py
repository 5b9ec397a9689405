"""Logging in and out: the /login page, POST /logout, and the session API (GET, POST and DELETE
/api/v1/session). Failed logins are counted in the catalog per address and per user name, so every viewer
process serving the catalog shares the limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import accounts
from photoshelf.viewer import auth
from photoshelf.viewer.views.common import catalog, config, json_body, redirect, render

log = logging.getLogger(__name__)

WRONG = "wrong user name or password"


@dataclass
class Outcome:
    """What a login attempt came to: 200 with a session token, 401, or 429 (and why)."""

    status: int
    message: str = ""
    user: Any = None
    token: str = ""


async def attempt(request: Request, username: Any, password: Any) -> Outcome:
    cfg = config(request).auth
    name = username if isinstance(username, str) else ""
    ip = auth.client_ip(request.scope)
    access = catalog(request)
    blocked = await access.read(accounts.login_blocked, ip, name, per_ip=cfg.login_attempts_per_ip,
                                per_user=cfg.login_attempts_per_user, window_minutes=cfg.login_window_minutes)
    if blocked:
        log.warning("login as %r from %s refused: %s", name[:64], ip, blocked)
        return Outcome(429, blocked)
    user = await access.read(accounts.authenticate, name, password if isinstance(password, str) else "")
    if user is None:
        await access.write(accounts.record_login_failure, ip, name)
        log.info("failed login as %r from %s", name[:64], ip)
        return Outcome(401, WRONG)
    await access.write(accounts.clear_login_failures, ip, name)
    token = await access.write(accounts.start_session, user, ip=ip,
                               user_agent=request.headers.get("user-agent", ""), days=cfg.session_days)
    log.info("%s logged in from %s", user.name, ip)
    return Outcome(200, user=user, token=token)


async def _logged_in(request: Request, outcome: Outcome, response: Response) -> Response:
    key = await auth.secret(request.app)
    auth.session_cookie(response, request.scope, config(request), key, outcome.token)
    auth.clear_cookie(response, request.scope, config(request), auth.LOGIN_COOKIE)
    return response


async def _end(request: Request, response: Response) -> Response:
    token = getattr(request.state, "session_token", None)
    if token:
        await catalog(request).write(accounts.end_session, token)
    auth.clear_cookie(response, request.scope, config(request), auth.SESSION_COOKIE)
    return response


# --- the page ---


async def login_page(request: Request) -> Response:
    """GET: the form (or straight on when already logged in). POST: check the form's token, then the password."""
    target = auth.safe_next(request.query_params.get("next"))
    if request.state.role is not None:  # logged in already, or public mode: nothing to log into
        return redirect(target)
    key = await auth.secret(request.app)
    nonce = auth.unsign(key, request.cookies.get(auth.LOGIN_COOKIE), salt=auth.LOGIN_COOKIE)
    fresh = nonce is None
    nonce = nonce or auth.new_nonce()
    error, username, code = "", "", 200
    if request.method == "POST":
        form = await request.form()
        username = str(form.get("username", ""))[:64]
        target = auth.safe_next(str(form.get("next", "")))
        if fresh or not auth.same_token(str(form.get(auth.CSRF_FIELD, "")), auth.login_token(key, nonce)):
            error, code = "The login form had expired: please try again.", 403
        else:
            outcome = await attempt(request, username, form.get("password", ""))
            if outcome.status == 200:
                return await _logged_in(request, outcome, redirect(target))
            error, code = (outcome.message[0].upper() + outcome.message[1:] + "."), outcome.status
    users = await catalog(request).read(accounts.count_users)
    response = render(request, "login.html", {
        "title": "Log in", "error": error, "username": username, "next": target, "no_users": users == 0,
        "login_token": auth.login_token(key, nonce)}, status_code=code)
    if fresh:
        auth.set_cookie(response, request.scope, config(request), auth.LOGIN_COOKIE,
                        auth.sign(key, nonce, salt=auth.LOGIN_COOKIE), None)
    return response


async def logout(request: Request) -> Response:
    return await _end(request, redirect("/login"))


# --- the API ---


def _who(request: Request, user: Any, csrf: str | None) -> dict[str, Any]:
    return {"user": user.name if user is not None else None, "role": user.role if user is not None else
            request.state.role, "csrf_token": csrf}


async def api_session(request: Request) -> Response:
    """GET: who is logged in (401 without a session). POST {"username", "password"}: log in. DELETE: log out."""
    if request.method == "POST":
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return JSONResponse({"error": "send the login as JSON (Content-Type: application/json)"},
                                status_code=415)
        body = await json_body(request)
        if not isinstance(body.get("username"), str) or not isinstance(body.get("password"), str):
            return JSONResponse({"error": 'send {"username": ..., "password": ...} (two strings)'}, status_code=400)
        outcome = await attempt(request, body["username"], body["password"])
        if outcome.status != 200:
            headers = {"Retry-After": str(config(request).auth.login_window_minutes * 60)} \
                if outcome.status == 429 else None
            return JSONResponse({"error": outcome.message}, status_code=outcome.status, headers=headers)
        key = await auth.secret(request.app)
        body = _who(request, outcome.user, auth.csrf_token(key, outcome.token))
        return await _logged_in(request, outcome, JSONResponse(body))
    if request.method == "DELETE":
        return await _end(request, JSONResponse({"ok": True}))
    if request.state.role == "public":
        return JSONResponse(_who(request, None, None))
    if request.state.user is None:
        return JSONResponse({"error": "not logged in"}, status_code=401)
    return JSONResponse(_who(request, request.state.user, request.state.csrf_token))


routes = [
    Route("/login", login_page, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/api/v1/session", api_session, methods=["GET", "POST", "DELETE"]),
]
