"""The user's own account: the /account page (who is logged in, change password) and POST /api/v1/account/password.
A new password ends every session of the user (accounts.set_password); the browser that changed it gets a new one."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import accounts
from photoshelf.accounts import AccountError
from photoshelf.viewer import auth
from photoshelf.viewer.errors import Forbidden, InvalidInput
from photoshelf.viewer.views.common import catalog, config, json_body, redirect, render
from photoshelf.viewer.views.session import attempt

log = logging.getLogger(__name__)


async def change_password(request: Request, current: Any, new: Any) -> str:
    """Check the current password (rate-limited like a login), set the new one, and start a new session (its
    token). Raises InvalidInput (a new password the rules refuse) or Forbidden (a wrong current password, or too
    many wrong ones)."""
    user = request.state.user
    if not isinstance(new, str) or not isinstance(current, str):
        raise InvalidInput("send the current and the new password, as text")
    try:
        accounts.check_password_rules(new)
    except AccountError as exc:
        raise InvalidInput(str(exc)) from None
    outcome = await attempt(request, user.name, current)
    if outcome.status != 200:
        raise Forbidden("the current password is wrong" if outcome.status == 401 else outcome.message)
    access = catalog(request)
    await access.write(accounts.set_password, user.name, new)  # ends every session, this one included
    token = await access.write(accounts.start_session, user, ip=auth.client_ip(request.scope),
                               user_agent=request.headers.get("user-agent", ""), days=config(request).auth.session_days)
    log.info("%s changed their password", user.name)
    return token


async def _with_session(request: Request, response: Response, token: str) -> Response:
    auth.session_cookie(response, request.scope, config(request), await auth.secret(request.app), token)
    return response


async def account_page(request: Request) -> Response:
    """GET: who is logged in and the password form. POST: the form (current, new, repeated)."""
    user = request.state.user
    error, code = "", 200
    if request.method == "POST" and user is not None:
        form = await request.form()
        new = form.get("new_password")
        if new != form.get("repeat_password"):
            error, code = "The new passwords differ: type the same one twice.", 400
        else:
            try:
                token = await change_password(request, form.get("current_password"), new)
                return await _with_session(request, redirect("/account?changed=1"), token)
            except (InvalidInput, Forbidden) as exc:
                error, code = str(exc)[0].upper() + str(exc)[1:] + ".", 400 if isinstance(exc, InvalidInput) else 403
    return render(request, "account.html", {"title": "Account", "error": error, "min_password": accounts.MIN_PASSWORD,
                                            "changed": request.query_params.get("changed") == "1"},
                  status_code=code)


async def api_password(request: Request) -> Response:
    """POST {"current", "new"} → {"ok": true, "csrf_token"} with a new session cookie (the others end, and the
    CSRF token with them); 403 for a wrong current password, 400 for a new one the rules refuse."""
    if request.state.user is None:
        raise Forbidden("there are no accounts in public mode")
    body = await json_body(request)
    token = await change_password(request, body.get("current"), body.get("new"))
    csrf = auth.csrf_token(await auth.secret(request.app), token)
    return await _with_session(request, JSONResponse({"ok": True, "csrf_token": csrf}), token)


routes = [
    Route("/account", account_page, methods=["GET", "POST"], name="account"),
    Route("/api/v1/account/password", api_password, methods=["POST"]),
]
