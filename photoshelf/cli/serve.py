"""`photoshelf serve`: a thin shell that builds the viewer app for the configuration and runs uvicorn."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import click

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", help="Address to listen on (server.host). 0.0.0.0 serves the whole LAN: every page then "
              "needs a login (auth.mode = \"password\", the default); beyond the LAN, put an HTTPS reverse proxy "
              "in front (packaging/).")
@click.option("--port", type=int, help="Port to listen on (server.port).")
@click.option("--root-path", help="The path the viewer is served under behind a reverse proxy that strips it "
              "(e.g. /photos); default: the path of server.base_url.")
@click.option("--no-watch", is_flag=True, help="Only serve the catalog; do not follow changes in the originals.")
@click.pass_obj
def serve(state: Any, host: str | None, port: int | None, root_path: str | None, no_watch: bool) -> None:
    """Serve the web viewer over the catalog (timeline, search, albums, map) until stopped.

    The watcher runs beside it (unless --no-watch), so new, changed, moved and deleted photos show up within
    seconds and sidecars are kept in step. With no admin yet, PHOTOSHELF_ADMIN_PASSWORD makes the first admin
    (named admin); otherwise it says how to make one and serves the login page meanwhile."""
    _serve(state, host, port, root_path, no_watch)


def first_admin(config: Any, env: Mapping[str, str]) -> str | None:
    """In password mode without an admin: make `admin` from PHOTOSHELF_ADMIN_PASSWORD, or say how to make one.
    Family accounts added before any admin (`users add gran --role viewer` on a fresh catalog) count as "no admin
    yet": nobody could reach the settings, users and duplicates pages otherwise. Returns what to tell the person
    starting the server (None: there is an admin already, or public mode)."""
    from photoshelf import accounts
    from photoshelf.errors import NotFound

    if config.auth.mode != "password" or accounts.first_admin() is not None:
        return None
    anyone = accounts.count_users() > 0
    password = env.get("PHOTOSHELF_ADMIN_PASSWORD", "")
    if password:
        taken = None
        if anyone:
            try:
                taken = accounts.get_user("admin")
            except NotFound:
                pass
        if taken is not None:
            return (f"no user is an admin, and PHOTOSHELF_ADMIN_PASSWORD was not used: a user named 'admin' exists "
                    f"(role {taken.role}); make it one with `photoshelf users role admin admin`")
        try:
            accounts.add_user("admin", "admin", password)
        except accounts.AccountError as exc:
            raise accounts.AccountError(f"PHOTOSHELF_ADMIN_PASSWORD: {exc}") from None
        return "made the first admin, user 'admin', with the password in PHOTOSHELF_ADMIN_PASSWORD"
    if anyone:
        return ("no user is an admin: settings, users and duplicates cannot be reached; make one with "
                "`photoshelf users add NAME --role admin` or `photoshelf users role NAME admin` (or start serve "
                "with PHOTOSHELF_ADMIN_PASSWORD set)")
    return ("no user can log in yet: make the first admin with `photoshelf users add NAME --role admin` (or start "
            "serve with PHOTOSHELF_ADMIN_PASSWORD set); the viewer serves only its login page until then")


def root_path_of(config: Any, flag: str | None) -> str:
    """The root path uvicorn serves under: the flag, else the path of server.base_url ("" for none)."""
    from urllib.parse import urlsplit

    path = (flag if flag is not None else urlsplit(config.server.base_url).path).strip("/")
    return f"/{path}" if path else ""


def _serve(state: Any, host: str | None, port: int | None, root_path: str | None, no_watch: bool) -> None:
    try:
        import uvicorn
    except ImportError:
        from photoshelf.errors import ToolMissing

        raise ToolMissing("the viewer needs the 'viewer' extra: pip install 'photoshelf[viewer]'") from None
    from photoshelf.viewer.app import create_app

    state.overrides.update({"server.host": host, "server.port": port})
    config = state.config
    sock = listen(config.server.host, config.server.port)  # a taken port fails before anything starts
    root = root_path_of(config, root_path)
    app = create_app(config, state.db(), root_path=root)
    note = first_admin(config, os.environ)
    if note:
        click.echo(f"photoshelf: {note}", err=True)
    watcher, thread = None, None
    if not no_watch:
        import threading

        from photoshelf.indexer.watcher import Watcher

        watcher = Watcher(config, state.db())
        thread = threading.Thread(target=_watch, args=(watcher,), name="photoshelf-watcher", daemon=True)
        thread.start()
    where = config.server.base_url or f"http://{config.server.host}:{config.server.port}{root}/"
    click.echo(f"photoshelf viewer on {where} (Ctrl+C stops)", err=True)
    try:
        # Proxy headers are read by the viewer itself, only from server.trusted_proxies (viewer/security.py).
        server = _server_class(uvicorn)(uvicorn.Config(app, host=config.server.host, port=config.server.port,
                                                       log_level=config.log.level, proxy_headers=False,
                                                       server_header=False, root_path=root))
        server.run(sockets=[sock])
        if not server.started:
            from photoshelf.errors import PhotoshelfError

            raise PhotoshelfError("the viewer did not start (its log above says why)")
    finally:
        sock.close()
        if watcher is not None and thread is not None:
            watcher.stop()  # finish the current batch, then exit
            thread.join(timeout=60)


def _server_class(uvicorn: Any) -> Any:
    """uvicorn.Server that returns from run() after a SIGTERM/SIGINT shutdown. uvicorn itself raises the signal
    again once it has shut down, which ends the process before serve's own clean-up: the watcher was killed
    mid-batch and `serve` exited by signal (-15) instead of 0 (found by bench/soak.py)."""

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            old = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    return Server


def listen(host: str, port: int) -> socket.socket:
    """The viewer's listening socket, bound here rather than by uvicorn: a port another program holds is then one
    clear error (PortInUse, its own exit code) instead of uvicorn's startup failure."""
    from photoshelf.errors import PhotoshelfError, PortInUse

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart without waiting
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"cannot listen on {host}:{port}: the port is in use by another program (another "
                            "photoshelf serve?); choose another with --port or server.port") from None
        raise PhotoshelfError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _watch(watcher: Any) -> None:
    """The watcher's thread: an error stops following changes but not the viewer, and says so."""
    try:
        watcher.run()
    except Exception:  # noqa: BLE001 - the thread's boundary: record it, keep serving
        log.exception("the watcher stopped; the viewer keeps serving the catalog (run `photoshelf doctor`)")
