"""The audit log's chain: each entry's hash is an HMAC over the previous hash and the entry's canonical form.

Anyone who edits, deletes or reorders an entry in the database breaks every hash after it, and without the
key (derived from the master key, never stored in the database) cannot compute new ones. `verify` walks the
chain and names the first entry that does not match.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64

ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "password_set",
    "totp_enabled",
    "reveal",
    "approve",
    "deny",
    "extend",
    "assign",
    "comment",
    "export",
    "download",
    "operator_created",
    "operator_changed",
    "setting_changed",
    "client_created",
    "client_rotated",
    "client_revoked",
    "app_created",
    "app_rotated",
    "app_revoked",
    "webhook_redelivered",
    "audit_exported",
)


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad: int | None  # the seq of the first entry whose hash or link does not match
    reason: str | None


def canonical(seq: int, at: datetime, actor: str, action: str, target: str | None, detail: Any) -> bytes:
    body = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(key: bytes, prev_hash: str, body: bytes) -> str:
    return hmac.new(key, prev_hash.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def verify_chain(key: bytes, entries: Iterable[Entry]) -> Verification:
    prev, expected_seq, count = GENESIS, 1, 0
    for e in entries:
        count += 1
        if e.seq != expected_seq:
            return Verification(False, count, e.seq, f"entry {expected_seq} is missing")
        if e.prev_hash != prev:
            return Verification(False, count, e.seq, "it does not link to the entry before it")
        body = canonical(e.seq, e.at, e.actor, e.action, e.target, e.detail)
        if not hmac.compare_digest(chain_hash(key, prev, body), e.hash):
            return Verification(False, count, e.seq, "its content does not match its hash (edited)")
        prev, expected_seq = e.hash, e.seq + 1
    return Verification(True, count, None, None)


FIELDS = ("seq", "at", "actor", "action", "target", "detail", "prev_hash", "hash")


def to_csv(entries: Sequence[Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for e in entries:
        detail = json.dumps(e.detail, sort_keys=True, ensure_ascii=False) if e.detail is not None else ""
        writer.writerow([e.seq, e.at.isoformat(), e.actor, e.action, e.target or "", detail, e.prev_hash, e.hash])
    return out.getvalue()


def to_json(entries: Sequence[Entry]) -> str:
    rows = [
        {
            "seq": e.seq,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "detail": e.detail,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in entries
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1)
