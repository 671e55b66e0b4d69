"""Where a notification may go, checked when it is sent, not only when its URL was registered (a security
review: a name that resolved to a public address at registration can resolve to 127.0.0.1 or 169.254.169.254
later, DNS rebinding).

`pinned_transport` resolves the URL's host once per attempt, refuses the attempt when any address is loopback,
private, link-local or otherwise not global (unless allowed), and connects to the address it checked: the
request goes to the IP, with the original `Host` header and, for https, the host name as TLS SNI and as the
name the certificate must carry. No second lookup happens between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> addresses (socket.getaddrinfo by default; tests give names of their own)
Resolver = Callable[[str, int], list[IPAddress]]
# POST body and headers -> HTTP status; raises on connection errors, timeouts and refused addresses.
Transport = Callable[[str, bytes, dict[str, str]], int]


class BlockedAddress(Exception):
    """The URL's host resolves to an address notifications must not reach (loopback, private, link-local)."""


class Unresolvable(Exception):
    """The URL's host does not resolve now (the attempt is retried later)."""


def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def checked_addresses(host: str, port: int, allow_private: bool, resolve: Resolver) -> list[IPAddress]:
    """The host's addresses, all of them global unless `allow_private` (else BlockedAddress)."""
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(host) from exc
    if not addresses:
        raise Unresolvable(host)
    if not allow_private:
        for address in addresses:
            mapped = getattr(address, "ipv4_mapped", None)
            if not address.is_global or (mapped is not None and not mapped.is_global):
                raise BlockedAddress(str(address))
    return addresses


def pinned_request(url: str, allow_private: bool, resolve: Resolver) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL to connect to (the checked IP), the Host header, and the request extensions (TLS SNI)."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise BlockedAddress("not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_addresses(host, port, allow_private, resolve)[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]  # never the userinfo
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, {"host": host_header}, extensions


def pinned_transport(
    timeout: float,
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
    *,
    ca_bundle: str | os.PathLike[str] | None = None,
) -> Transport:
    """POSTs pinned to the checked address; https certificates are verified (against the host name, never the
    IP) with the authorities of `ca_bundle` (a PEM file) or, without one, certifi's."""
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        verify = ssl.create_default_context(cafile=os.fspath(ca_bundle))  # read once, not per delivery

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        target, host, extensions = pinned_request(url, allow_private, resolve)
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify) as client:
            request = client.build_request("POST", target, content=body, headers={**headers, **host})
            request.extensions.update(extensions)
            return client.send(request).status_code

    return post
