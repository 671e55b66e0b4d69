"""AWS KMS as the key-encryption key: data keys are wrapped by KMS `Encrypt` and unwrapped by `Decrypt`.

Credentials, region and endpoint come from the usual AWS variables (as the S3 adapter's). The header of an
object keeps `kms:<key id as configured>`; the encryption context carries a digest of the object's context,
so KMS refuses a wrapped key copied to another object. Needs boto3 (the `s3` extra).
"""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dsar.storage.base import StorageUnavailable, StoredObjectCorrupt
from dsar.storage.keyring import KMS_PREFIX, KeyUnavailable

_REFUSED = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
_MISSING = frozenset({"NotFoundException", "DisabledException", "KMSInvalidStateException", "AccessDeniedException"})


class KmsKeyring:
    def __init__(self, key_id: str, client: Any = None) -> None:
        if not key_id:
            raise ValueError("a KMS key id, ARN or alias is needed")
        self._key_id = key_id
        self._client = client or boto3.client("kms", config=Config(retries={"max_attempts": 5, "mode": "standard"}))

    @property
    def current_id(self) -> str:
        return KMS_PREFIX + self._key_id

    @staticmethod
    def _context(context: bytes) -> dict[str, str]:
        return {"dsar": "object-key-v1", "context": hashlib.sha256(context).hexdigest()}

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        try:
            answer = self._client.encrypt(
                KeyId=self._key_id, Plaintext=data_key, EncryptionContext=self._context(context)
            )
        except ClientError as exc:
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"AWS KMS unreachable: {type(exc).__name__}") from None
        return self.current_id, bytes(answer["CiphertextBlob"])

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        kms_key = key_id.removeprefix(KMS_PREFIX)
        try:
            answer = self._client.decrypt(
                CiphertextBlob=wrapped, KeyId=kms_key, EncryptionContext=self._context(context)
            )
        except ClientError as exc:
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"AWS KMS unreachable: {type(exc).__name__}") from None
        return bytes(answer["Plaintext"])

    @staticmethod
    def _error(exc: ClientError) -> Exception:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _REFUSED:
            return StoredObjectCorrupt("A stored object's data key failed its integrity check (AWS KMS refused it).")
        if code in _MISSING:
            return KeyUnavailable(f"AWS KMS refused the key ({code}).")
        if status >= 500 or code in ("ThrottlingException", "KMSInternalException", "DependencyTimeoutException"):
            return StorageUnavailable(f"AWS KMS failed: {code or status}")
        return KeyUnavailable(f"AWS KMS refused the request ({code or status}).")


__all__ = ["KmsKeyring"]
