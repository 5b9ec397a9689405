"""`photoshelf serve`: a thin shell that builds the viewer app for the configuration and runs uvicorn."""

from __future__ import annotations

import logging
from typing import Any

import click

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", help="Address to listen on (server.host; 0.0.0.0 for the whole LAN).")
@click.option("--port", type=int, help="Port to listen on (server.port).")
@click.option("--no-watch", is_flag=True, help="Only serve the catalog; do not follow changes in the originals.")
@click.pass_obj
def serve(state: Any, host: str | None, port: int | None, no_watch: bool) -> None:
    """Serve the web viewer over the catalog (timeline, search, albums, map) until stopped.

    The watcher runs beside it (unless --no-watch), so new, changed, moved and deleted photos show up within
    seconds and sidecars are kept in step."""
    from photoshelf.cli import handle_errors

    handle_errors(_serve)(state, host, port, no_watch)


def _serve(state: Any, host: str | None, port: int | None, no_watch: bool) -> None:
    try:
        import uvicorn
    except ImportError:
        from photoshelf.errors import ToolMissing

        raise ToolMissing("the viewer needs the 'viewer' extra: pip install 'photoshelf[viewer]'") from None
    from photoshelf.viewer.app import create_app

    state.overrides.update({"server.host": host, "server.port": port})
    config = state.config
    app = create_app(config, state.db())
    watcher, thread = None, None
    if not no_watch:
        import threading

        from photoshelf.indexer.watcher import Watcher

        watcher = Watcher(config, state.db())
        thread = threading.Thread(target=_watch, args=(watcher,), name="photoshelf-watcher", daemon=True)
        thread.start()
    click.echo(f"photoshelf viewer on http://{config.server.host}:{config.server.port}/ (Ctrl+C stops)", err=True)
    try:
        uvicorn.run(app, host=config.server.host, port=config.server.port, log_level=config.log.level,
                    proxy_headers=False, server_header=False)
    finally:
        if watcher is not None and thread is not None:
            watcher.stop()  # finish the current batch, then exit
            thread.join(timeout=60)


def _watch(watcher: Any) -> None:
    """The watcher's thread: an error stops following changes but not the viewer, and says so."""
    try:
        watcher.run()
    except Exception:  # noqa: BLE001 - the thread's boundary: record it, keep serving
        log.exception("the watcher stopped; the viewer keeps serving the catalog (run `photoshelf doctor`)")
