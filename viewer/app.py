"""The viewer's ASGI app: routes of every page family, templates, static files, and the web error handler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import peewee as pw
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from photoshelf.config import Config
from photoshelf.db.schema import database_proxy
from photoshelf.errors import PhotoshelfError
from photoshelf.viewer import webdav
from photoshelf.viewer.auth import Auth
from photoshelf.viewer.catalog import CatalogAccess
from photoshelf.viewer.media import MediaFiles
from photoshelf.viewer.security import FrontDoor
from photoshelf.viewer.urls import RootPath
from photoshelf.viewer.views import (
    account,
    admin,
    albums,
    browse,
    common,
    duplicates,
    files,
    map,
    people,
    photo,
    selection,
    session,
    shares,
    status,
    timeline,
)

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


def create_app(config: Config, db: pw.Database | None = None, *, root_path: str | None = None) -> Starlette:
    """The viewer over the catalog of `config` (opened and migrated here unless an open `db` is given)."""
    if db is None:
        from photoshelf.db.catalog import open_catalog

        db = open_catalog(config)
    else:
        # The tables are bound through one proxy; point it at the database this app serves.
        database_proxy.initialize(db)
        from photoshelf import accounts

        accounts.use_backup(config.storage_path / "users.yaml")
    catalog = CatalogAccess(db)
    media = MediaFiles(config, catalog.write_now)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("serving the catalog at %s, originals at %s", config.database_url, config.originals_path)
        yield
        catalog.close()

    routes = [
        *timeline.routes,
        *photo.routes,
        *selection.routes,
        *albums.routes,
        *people.routes,
        *map.routes,
        *browse.routes,
        *duplicates.routes,
        *status.routes,
        *files.routes,
        *session.routes,
        *shares.routes,
        *admin.routes,
        *account.routes,
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        *filter(None, [webdav.mount(config, db, catalog.write_now, root_path)]),  # /webdav/: None when off
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # Outermost first: the root path every URL is built under (viewer/urls.py); Host check and safety headers
        # on everything; then who is asking (the thumbnail fast path answers only those the login middleware let
        # through).
        middleware=[Middleware(RootPath), Middleware(FrontDoor, config=config), Middleware(Auth, config=config),
                    Middleware(files.CachedThumbnails, files=media)],
        exception_handlers={PhotoshelfError: common.error_response, pw.PeeweeException: common.error_response,
                            404: common.not_found, 405: common.not_found},
    )
    app.state.config = config
    app.state.catalog = catalog
    app.state.media = media
    return app
