"""Pinned delivery over https (notifications.addresses): the connection goes to the address checked at delivery,
while TLS still names the URL's host: SNI carries the host name and the certificate is verified against it,
not against the IP. A real TLS server on loopback (127.0.0.2, which only the pinned connection reaches), with a
CA and certificates made here with `cryptography`; the client trusts that CA through the delivery code's own
parameter and through `DSAR_PORTABILITY__NOTIFY_CA_BUNDLE`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.notifications.addresses import BlockedAddress, IPAddress, pinned_transport

HOST = "hooks.example.test"  # .test never resolves in real DNS: only the injected resolver knows it
PINNED = ipaddress.ip_address("127.0.0.2")  # the server listens here only


@dataclass
class Pki:
    ca: Path
    certs: dict[str, tuple[Path, Path]] = field(default_factory=dict)  # name -> (cert, key)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, and leaf certificates it signed: for HOST, for another name, for the IP only, and for localhost."""
    out = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("dsar test CA"))
        .issuer_name(_name("dsar test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(out / "ca.pem")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    leaves: dict[str, list[x509.GeneralName]] = {
        HOST: [x509.DNSName(HOST)],
        "other": [x509.DNSName("other.example.test")],
        "ip-only": [x509.IPAddress(PINNED)],
        "localhost": [x509.DNSName("localhost")],
    }
    for label, names in leaves.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(label))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = out / f"{label}.pem", out / f"{label}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pki.certs[label] = (cert_path, key_path)
    return pki


@dataclass
class TlsReceiver:
    port: int
    sni: list[str | None] = field(default_factory=list)  # the server name each TLS handshake asked for
    local: list[str] = field(default_factory=list)  # the address each connection reached
    hosts: list[str] = field(default_factory=list)  # the Host header of each POST
    bodies: list[bytes] = field(default_factory=list)


@contextmanager
def tls_receiver(cert: tuple[Path, Path], address: str = str(PINNED)) -> Iterator[TlsReceiver]:
    """An https endpoint on a real socket that records SNI, the address connected to, Host and the body."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    server_ref: list[TlsReceiver] = []

    def on_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        server_ref[0].sni.append(name)

    context.sni_callback = on_sni

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got = server_ref[0]
            got.local.append(self.connection.getsockname()[0])
            got.hosts.append(self.headers["host"])
            got.bodies.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that refuses our certificate ends its handshake: expected here

    server = Server((address, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver = TlsReceiver(server.server_address[1])
    server_ref.append(receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _to_pinned(host: str, port: int) -> list[IPAddress]:
    assert host == HOST
    return [PINNED]


def test_delivery_over_https_verifies_the_host_name_and_connects_to_the_pinned_address(pki: Pki) -> None:
    post = pinned_transport(5.0, allow_private=True, resolve=_to_pinned, ca_bundle=pki.ca)
    with tls_receiver(pki.certs[HOST]) as receiver:
        status = post(f"https://{HOST}:{receiver.port}/hook?x=1", b'{"n": 1}', {"content-type": "application/json"})
    assert status == 204
    assert receiver.bodies == [b'{"n": 1}']
    assert receiver.sni == [HOST]  # SNI names the host, not the IP
    assert receiver.local == [str(PINNED)]  # the TCP connection went to the address checked
    assert receiver.hosts == [f"{HOST}:{receiver.port}"]


@pytest.mark.parametrize("label", ["other", "ip-only"])
def test_a_certificate_for_another_name_or_only_for_the_ip_is_refused(pki: Pki, label: str) -> None:
    """`ip-only` is valid for the very address connected to: verification against the IP would accept it."""
    post = pinned_transport(5.0, allow_private=True, resolve=_to_pinned, ca_bundle=pki.ca)
    with tls_receiver(pki.certs[label]) as receiver, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
        post(f"https://{HOST}:{receiver.port}/hook", b"{}", {})
    assert receiver.sni == [HOST]
    assert receiver.bodies == []


def test_a_certificate_from_an_authority_not_trusted_is_refused(pki: Pki) -> None:
    post = pinned_transport(5.0, allow_private=True, resolve=_to_pinned)  # certifi's authorities only
    with tls_receiver(pki.certs[HOST]) as receiver, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
        post(f"https://{HOST}:{receiver.port}/hook", b"{}", {})
    assert receiver.bodies == []


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(pki: Pki) -> None:
    post = pinned_transport(5.0, allow_private=False, resolve=_to_pinned, ca_bundle=pki.ca)
    with tls_receiver(pki.certs[HOST]) as receiver, pytest.raises(BlockedAddress, match=r"127\.0\.0\.2"):
        post(f"https://{HOST}:{receiver.port}/hook", b"{}", {})
    assert receiver.sni == [] and receiver.bodies == []  # not even a handshake


def test_the_ca_bundle_setting_reaches_the_deliveries(pki: Pki, tmp_path: Path) -> None:
    """`DSAR_PORTABILITY__NOTIFY_CA_BUNDLE`, through the container, with the system resolver (localhost)."""
    settings = Settings(
        data_dir=tmp_path / "state",
        secret_key="x" * 40,
        portability={"allow_private_notify_urls": True, "notify_ca_bundle": pki.ca},
    )
    container = Container(settings, with_workers=False)
    try:
        with tls_receiver(pki.certs["localhost"], "127.0.0.1") as receiver:
            post = container.notifications.transport
            assert post(f"https://localhost:{receiver.port}/hook", b"{}", {}) == 204
        assert receiver.sni == ["localhost"] and receiver.local == ["127.0.0.1"]
    finally:
        container.close()
    with pytest.raises(ValueError, match="notify_ca_bundle"):
        Settings(data_dir=tmp_path, portability={"notify_ca_bundle": tmp_path / "missing.pem"})
