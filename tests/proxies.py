"""A reverse proxy for tests (importable as `proxies`): serves an upstream server under a path prefix and strips
the prefix on the way, as packaging/Caddyfile (handle_path) and packaging/nginx.conf (`proxy_pass http://…/;`)
do in front of `photoshelf serve --root-path`. Host and every other end-to-end header go through unchanged."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
              "content-length"}


@contextmanager
def stripping_proxy(upstream_port: int, prefix: str) -> Iterator[str]:
    """A proxy on a free local port: `prefix`/x is upstream's /x, anything else a 404. Yields its address with
    the prefix ("http://127.0.0.1:PORT/shelf")."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def forward(self) -> None:
            if not (self.path == prefix or self.path.startswith((f"{prefix}/", f"{prefix}?"))):
                self.send_error(404, "outside the proxied path")
                return
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            target = self.path[len(prefix):]
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                conn.request(self.command, target if target.startswith("/") else "/" + target, body=body or None,
                             headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the browser moved on (a lazy image, a prefetch)
                    self.close_connection = True

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="stripping-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
