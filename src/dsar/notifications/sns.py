"""Amazon SNS message signing, so a receiver's existing SNS verification code works unchanged.

AWS's documented algorithm: the string to sign is `name\\nvalue\\n` for a fixed, sorted list of fields
(Notification: Message, MessageId, Subject (when present), Timestamp, TopicArn, Type;
SubscriptionConfirmation: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type), signed with
RSA PKCS#1 v1.5 over SHA-1 (SignatureVersion 1) or SHA-256 (SignatureVersion 2), base64-encoded. The
X.509 certificate holding the public key is served at `SigningCertURL`.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def string_to_sign(message: dict[str, Any]) -> bytes:
    keys = NOTIFICATION_KEYS if message["Type"] == "Notification" else CONFIRMATION_KEYS
    parts = [f"{k}\n{message[k]}\n" for k in keys if k in message and message[k] is not None]
    return "".join(parts).encode("utf-8")


def _hash(version: str) -> hashes.HashAlgorithm:
    return hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303  (SNS SignatureVersion 1 is SHA1)


def sign(message: dict[str, Any], private_pem: str, version: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    raw = key.sign(string_to_sign(message), padding.PKCS1v15(), _hash(version))
    return base64.b64encode(raw).decode("ascii")


def verify(message: dict[str, Any], cert_pem: bytes) -> bool:
    """Check a message's signature as a receiver would (used by tests and `dsar notifications`)."""
    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(
            base64.b64decode(message["Signature"]),
            string_to_sign(message),
            padding.PKCS1v15(),
            _hash(str(message["SignatureVersion"])),
        )
    except Exception:
        return False
    return True


def new_key(common_name: str, now: datetime) -> tuple[str, str]:
    """A 2048-bit RSA key and a self-signed certificate for it (ten years), both PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private_pem, cert.public_bytes(serialization.Encoding.PEM).decode()
