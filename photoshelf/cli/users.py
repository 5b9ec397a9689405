"""`photoshelf users …` and `photoshelf share …`: thin shells over photoshelf.accounts and photoshelf.shares."""

from __future__ import annotations

import sys
from typing import Any

import click

from photoshelf import accounts, shares
from photoshelf.cli.common import echo_json
from photoshelf.db.dates import utc_text
from photoshelf.errors import NotFound, PhotoshelfError


def _password(given: str | None, *, confirm: bool = True) -> str:
    """The password from --password, else asked for on a terminal (never echoed), else an error."""
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise accounts.AccountError("no password given: pass --password, or run it on a terminal to be asked")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=confirm))


def _user_dict(user: Any) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "created_at": utc_text(user.created_at),
        "last_login_at": utc_text(user.last_login_at),
    }


@click.group()
def users() -> None:
    """Manage who may log in: admin (everything), member (browse, edit, upload), viewer (browse only)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(accounts.ROLES), default="member", show_default=True)
@click.option("--password", help="The password (asked for when omitted and stdin is a terminal).")
@click.pass_obj
def users_add(state: Any, name: str, role: str, password: str | None) -> None:
    """Add a user."""
    state.db()
    accounts.normalize_name(name)
    user = accounts.add_user(name, role, _password(password))
    click.echo(f"added {user.name} ({user.role})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def users_list(state: Any, as_json: bool) -> None:
    """List the users and their roles."""
    state.db()
    rows = [_user_dict(u) for u in accounts.list_users()]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no users yet: photoshelf users add NAME --role admin")
        return
    for row in rows:
        click.echo(f"{row['name']:24} {row['role']:8} last login {row['last_login_at'] or 'never'}")


@users.command("passwd")
@click.argument("name")
@click.option("--password", help="The new password (asked for when omitted and stdin is a terminal).")
@click.pass_obj
def users_passwd(state: Any, name: str, password: str | None) -> None:
    """Set a user's password (their open sessions end)."""
    state.db()
    accounts.get_user(name)
    user = accounts.set_password(name, _password(password))
    click.echo(f"password changed for {user.name}; their sessions ended")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(accounts.ROLES))
@click.pass_obj
def users_role(state: Any, name: str, role: str) -> None:
    """Change a user's role (their open sessions end)."""
    state.db()
    user = accounts.set_role(name, role)
    click.echo(f"{user.name} is now {user.role}")


@users.command("remove")
@click.argument("name")
@click.pass_obj
def users_remove(state: Any, name: str) -> None:
    """Remove a user. Their uploads stay in the originals; their photos go to the first admin."""
    state.db()
    accounts.remove_user(name)
    click.echo(f"removed {accounts.normalize_name(name)}")


@click.group()
def share() -> None:
    """Share an album or a photo through an unguessable link."""


def _album(ref: str) -> Any:
    """An album by uid, id, or its exact title (case-insensitive)."""
    from photoshelf.db.schema import Album

    album = Album.get_or_none(Album.uid == ref)
    if album is None and ref.isascii() and ref.isdigit() and len(ref) < 19:
        album = Album.get_or_none(Album.id == int(ref))
    if album is None:
        found = [a for a in Album.select() if a.title.casefold() == ref.casefold()]
        if len(found) > 1:
            raise PhotoshelfError(f"{len(found)} albums are called {ref!r}: give the uid ({', '.join(a.uid for a in found)})")
        album = found[0] if found else None
    if album is None:
        raise NotFound(f"no album {ref!r}")
    return album


@share.command("create")
@click.option("--album", "album_ref", help="The album's title, uid or id.")
@click.option("--photo", "photo_ref", help="The photo's id, uid or path.")
@click.option("--expires", help="When the link stops working: 12h, 7d, 2w, 6m, 1y (default: never).")
@click.option("--password", help="A password the visitor must give.")
@click.option("--download", is_flag=True, help="Let visitors download the originals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def share_create(state: Any, album_ref: str | None, photo_ref: str | None, expires: str | None,
                 password: str | None, download: bool, as_json: bool) -> None:
    """Make a share link for an album or a photo."""
    from photoshelf.records import find_photo

    if (album_ref is None) == (photo_ref is None):
        raise shares.ShareError("give --album or --photo (one of them)")
    config = state.config
    state.db()
    album = _album(album_ref) if album_ref is not None else None
    photo = find_photo(photo_ref, str(config.originals_path)) if photo_ref is not None else None
    if photo is not None and (photo.private or photo.archived):
        raise shares.ShareError("a private or archived photo cannot be shared: change that first")
    duration = shares.parse_duration(expires) if expires else None
    made = shares.create_share(album=album, photo=photo, created_by=accounts.first_admin(), expires=duration,
                               password=password, download=download)
    info = shares.describe(made, config.server.base_url)
    if as_json:
        echo_json({"token": info["token"], "url": info["url"], "expires_at": info["expires_at"]})
        return
    click.echo(info["url"])
    if not config.server.base_url:
        click.echo("(a path: set server.base_url to print the full address)", err=True)


@share.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def share_list(state: Any, as_json: bool) -> None:
    """List share links, newest first."""
    config = state.config
    state.db()
    rows = [shares.describe(s, config.server.base_url) for s in shares.list_shares()]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        what = f"album {row['album_title']!r}" if row["album"] else f"photo {row['photo']}"
        extra = ", ".join(x for x in ("password" if row["password"] else "",
                                      "download" if row["download"] else "") if x)
        click.echo(f"{row['token']}  {row['state']:8} {what}  expires {row['expires_at'] or 'never'}"
                   f"{'  (' + extra + ')' if extra else ''}")


@share.command("revoke")
@click.argument("token")
@click.pass_obj
def share_revoke(state: Any, token: str) -> None:
    """Revoke a share link: it answers 410 from now on."""
    state.db()
    shares.revoke(token)
    click.echo(f"revoked {token}")
