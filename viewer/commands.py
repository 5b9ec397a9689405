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

    The viewer reads the catalog that `photoshelf index` (or `photoshelf watch`) keeps up to date;
    run one of those beside it to pick up new photos."""
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
    if not no_watch:
        log.info("serving the catalog; run `photoshelf watch` (or `photoshelf index`) to pick up new photos")
    click.echo(f"photoshelf viewer on http://{config.server.host}:{config.server.port}/ (Ctrl+C stops)", err=True)
    uvicorn.run(app, host=config.server.host, port=config.server.port, log_level=config.log.level,
                proxy_headers=False, server_header=False)
