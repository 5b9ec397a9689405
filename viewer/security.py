"""The viewer's front door: which Host names it answers (DNS rebinding), which proxies it believes, and the
browser-safety headers (CSP, framing, sniffing, referrers) on every response, errors and thumbnails included."""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photoshelf.config import Config
from photoshelf.errors import ConfigError

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def split_host(value: str) -> str:
    """The host of a Host header or netloc, lower case, without port or IPv6 brackets ('' when malformed)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    host, _, port = value.partition(":")
    if port and not port.isdigit():
        return ""
    return host.rstrip(".")


@functools.lru_cache(maxsize=1)
def machine_names() -> frozenset[str]:
    """This machine's host name, FQDN and the addresses they resolve to (looked up once per process)."""
    names = {socket.gethostname(), socket.getfqdn()}
    addresses: set[str] = set()
    for name in list(names):
        try:
            addresses |= {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
        except OSError:  # a host name the resolver does not know: its name still counts
            continue
    return frozenset(n.lower() for n in names | addresses if n)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def allowed_hosts(config: Config) -> frozenset[str] | None:
    """The Host names answered (None: any). Empty config: localhost names plus this machine's names and addresses;
    the host of server.base_url always counts."""
    configured = [split_host(h) if h != "*" else "*" for h in config.server.allowed_hosts]
    if "*" in configured:
        return None
    hosts = set(configured) if configured else {*LOCAL_NAMES, *machine_names()}
    if config.server.base_url:
        hosts.add(split_host(urlsplit(config.server.base_url).netloc))
    return frozenset(h for h in hosts if h)


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    out: list[Network] = []
    for value in (v.strip() for v in values):
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ConfigError("server.trusted_proxies", f"{value!r} is not an address or a network (CIDR)") from None
    return tuple(out)


def content_security_policy(tile_url: str) -> str:
    """No inline script, nothing framing the pages; images also from the map's tile server when there is one.

    Style attributes stay allowed (`style-src-attr`): the grid gives each tile its aspect ratio in one (a CSS
    variable the layout reads before any script runs) and Leaflet positions its markers with them. Style
    elements and inline scripts are refused."""
    tiles = urlsplit(tile_url) if tile_url else None
    tile_host = f" {tiles.scheme}://{tiles.netloc.replace('{s}', '*')}" if tiles and tiles.netloc else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tile_host}; media-src 'self' blob:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'")


def security_headers(config: Config) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(config.viewer.tile_url).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


class FrontDoor:
    """Outermost middleware. In order: believe X-Forwarded-* only from `server.trusted_proxies`; answer 400 to a
    Host this server does not go by (a DNS-rebinding page reaches it under the attacker's name); add the safety
    headers to whatever the app answers."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self.app = app
        self.hosts = allowed_hosts(config)
        self.proxies = networks(config.server.trusted_proxies)
        self.headers = security_headers(config)
        self.https_base = config.server.base_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.proxies:
            self._forwarded(scope)
        host = self._host(scope)
        if host is not None and not self._host_allowed(scope, host):
            log.warning("refused a request for Host %r from %s (server.allowed_hosts)", host,
                        (scope.get("client") or ("?",))[0])
            await self._plain(send, 400, b"this server does not answer to that host name (server.allowed_hosts)")
            return

        extra = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _host(self, scope: Scope) -> str | None:
        for key, value in scope["headers"]:
            if key == b"host":
                return split_host(value.decode("latin-1"))
        return None  # HTTP/1.0 without Host: no browser, no rebinding

    def _host_allowed(self, scope: Scope, host: str) -> bool:
        if self.hosts is None or host in self.hosts:
            return True
        # The address the connection came in on (a LAN address of this machine) is its own name, not a rebinding
        # (which needs a host *name* the attacker's DNS answers).
        server = scope.get("server")
        return bool(server and _is_address(host) and host == str(server[0]).lower())

    def _forwarded(self, scope: Scope) -> None:
        """Take the client address, scheme and host from X-Forwarded-* when the peer is a trusted proxy. The
        client is the right-most address in X-Forwarded-For that is not itself a trusted proxy."""
        client = scope.get("client")
        if not client or not self._trusted(client[0]):
            return
        headers = {k: v.decode("latin-1") for k, v in scope["headers"] if k.startswith(b"x-forwarded-")}
        chain = [a.strip() for a in headers.get(b"x-forwarded-for", "").split(",") if a.strip()]
        for address in reversed(chain):
            if not self._trusted(address):
                scope["client"] = (address, 0)
                break
        else:
            if chain:
                scope["client"] = (chain[0], 0)
        proto = headers.get(b"x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        forwarded_host = headers.get(b"x-forwarded-host", "").split(",")[0].strip()
        if forwarded_host:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["headers"].append((b"host", forwarded_host.encode("latin-1")))

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)

    async def _plain(self, send: Send, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                   *self.headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
