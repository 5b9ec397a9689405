"""How the viewer reaches the catalog: reads on the thread pool, every write through one writer thread."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import peewee as pw
from starlette.concurrency import run_in_threadpool

from photoshelf.db.transactions import run_write

T = TypeVar("T")


class CatalogAccess:
    """Runs blocking catalog work off the event loop.

    Reads go to Starlette's thread pool; peewee keeps one connection per thread, so pool threads reuse
    theirs. Writes go to a single writer thread, one short transaction each: on SQLite that is the one
    writer the house style asks for, and on MariaDB it keeps user edits strictly ordered."""

    def __init__(self, db: pw.Database) -> None:
        self.db = db
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photoshelf-writer")

    def _read(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        self.db.connect(reuse_if_open=True)
        return fn(*args, **kwargs)

    def _write(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        self.db.connect(reuse_if_open=True)
        # One write transaction per edit, taken as a writer from its start and run again if another process
        # (the indexer, the watcher) was in the way: an edit is only catalog work, so running it twice is safe.
        return run_write(self.db, fn, *args, **kwargs)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_in_threadpool(self._read, fn, args, kwargs)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        # In the request's context, as reads are (run_in_threadpool): the URLs it builds carry the root path.
        context = contextvars.copy_context()
        return await loop.run_in_executor(self._writer, context.run, functools.partial(self._write, fn, args, kwargs))

    def write_now(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A write from a thread that is not the event loop (e.g. a preview made on a read thread)."""
        return self._writer.submit(self._write, fn, args, kwargs).result()

    def close(self) -> None:
        self._writer.submit(self.db.close).result()
        self._writer.shutdown(wait=True)
