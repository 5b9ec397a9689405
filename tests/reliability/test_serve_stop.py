"""`photoshelf serve` stops cleanly on SIGTERM: exit 0 after stopping its watcher (uvicorn re-raises the signal
once it has shut down, which used to end the process before the watcher was stopped)."""

from __future__ import annotations

import http.client
import os
import signal
import socket

import pytest

from photoshelf.db.settings import heartbeat

from conftest import Library
from support import cli_env, start_cli, stderr_of, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/api/v1/health")
        return conn.getresponse().status == 200
    except OSError:
        return False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigterm_stops_the_watcher_and_exits_0(library: Library) -> None:
    port = _free_port()
    env = cli_env(library, PHOTOSHELF_MODELS_ENABLED="false", PHOTOSHELF_WATCH_HEARTBEAT_SECONDS="1",
                  PHOTOSHELF_LOG_LEVEL="warning")
    proc = start_cli(env, "serve", "--host", "127.0.0.1", "--port", str(port))
    try:
        wait_for(lambda: _healthy(port) or proc.poll() is not None, timeout=120, what="serve answering")
        wait_for(lambda: (beat := heartbeat()) is not None and beat["state"] == "running", timeout=120,
                 what="the watcher running")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    rc = proc.wait(timeout=90)
    assert rc == 0, stderr_of(proc)[-2000:]
    beat = heartbeat()
    assert beat is not None and beat["state"] == "stopped"
