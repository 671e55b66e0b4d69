"""Operators: local accounts (argon2id, optional TOTP, lock-out), OIDC sign-in, web sessions, and the audit log.

A session is a random token in the browser's cookie; the database keeps only its SHA-256, so a copy of the
database signs no one in. A session idle for `idle_minutes` ends. Sign-in failures count per account: after
`max_failures` the account is locked for `lockout_minutes`, and the answer never says which part was wrong or
whether the account exists. Every sign-in, reveal, decision, export and change is appended to the audit log.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError

from dsar.db.engine import Database
from dsar.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from dsar.kit.clock import Clock
from dsar.kit.ids import new_id
from dsar.kit.signing import derive_key, sign, verify
from dsar.operators import audit, totp
from dsar.operators import repository as repo
from dsar.operators.models import Operator
from dsar.operators.roles import ROLES

__all__ = ["OperatorView", "Operators", "SignInRefused"]

MIN_PASSWORD = 12
_DUMMY = PasswordHasher().hash("not a password of anyone")  # unknown accounts cost the same time


class SignInRefused(Unauthenticated):
    code = "SignInRefused"


@dataclass(frozen=True)
class OperatorView:
    id: str
    email: str
    role: str
    has_password: bool
    totp: bool
    oidc: bool
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None


def _view(o: Operator) -> OperatorView:
    return OperatorView(
        o.id,
        o.email,
        o.role,
        o.password_hash is not None,
        o.totp_secret is not None,
        o.oidc_subject is not None,
        o.disabled,
        o.locked_until,
        o.created_at,
        o.last_sign_in_at,
    )


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normal_email(email: str) -> str:
    value = email.strip().lower()
    if "@" not in value or len(value) > 320 or value.startswith("@") or value.endswith("@"):
        raise InvalidInput("give the operator's e-mail address")
    return value


class Operators:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        key: bytes,
        public_url: str,
        idle_minutes: int = 30,
        max_failures: int = 5,
        lockout_minutes: int = 15,
        setup_link_hours: int = 72,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.audit_key = derive_key(key, "operators-audit")
        self._link_key = derive_key(key, "operators-setup-links")
        self._seal = AESGCM(derive_key(key, "operators-totp"))
        self.public_url = public_url.rstrip("/")
        self.idle = timedelta(minutes=idle_minutes)
        self.max_failures = max_failures
        self.lockout = timedelta(minutes=lockout_minutes)
        self.setup_ttl = timedelta(hours=setup_link_hours)
        self.hasher = hasher or PasswordHasher()

    # -- accounts -----------------------------------------------------------------------------------------------

    def create(self, email: str, role: str, *, actor: str) -> tuple[OperatorView, str]:
        """A local account without a password; returns it and the one-time link that sets the password."""
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        address = _normal_email(email)
        now = self.clock.now()
        with self.db.session() as s:
            if repo.by_email(s, address) is not None:
                raise Conflict("an operator with this e-mail exists")
            nonce = secrets.token_urlsafe(16)
            row = Operator(id=new_id(), email=address, role=role, setup_nonce=nonce, created_at=now, failures=0)
            repo.add(s, row)
            view = _view(row)
        self.record(actor, "operator_created", view.id, {"role": role})
        return view, self._link(view.id, nonce, now)

    def reset_link(self, operator_id: str, *, actor: str) -> str:
        """A new one-time link that sets the password (the previous link stops working)."""
        now = self.clock.now()
        nonce = secrets.token_urlsafe(16)
        with self.db.session() as s:
            row = self._get(s, operator_id)
            row.setup_nonce = nonce
        self.record(actor, "operator_changed", operator_id, {"change": "password_link"})
        return self._link(operator_id, nonce, now)

    def _link(self, operator_id: str, nonce: str, now: datetime) -> str:
        expires = str(int((now + self.setup_ttl).timestamp()))
        token = f"{operator_id}.{nonce}.{expires}.{sign(self._link_key, operator_id, nonce, expires)}"
        return f"{self.public_url}/console/setup?token={token}"

    def _check_link(self, s: Any, token: str) -> Operator:
        parts = token.split(".")
        if len(parts) != 4:
            raise NotFound("this link is not valid or has expired; ask an admin for a new one")
        operator_id, nonce, expires, signature = parts
        fresh = expires.isdigit() and int(expires) > self.clock.now().timestamp()
        if not (fresh and verify(self._link_key, signature, operator_id, nonce, expires)):
            raise NotFound("this link is not valid or has expired; ask an admin for a new one")
        row = repo.by_id(s, operator_id, lock=True)
        if row is None or row.setup_nonce is None or not secrets.compare_digest(row.setup_nonce, nonce):
            raise NotFound("this link is not valid or has expired; ask an admin for a new one")
        return row

    def setup_account(self, token: str) -> OperatorView:
        """The account a set-password link is for (the page shows its e-mail)."""
        with self.db.session(write=False) as s:
            return _view(self._check_link(s, token))

    def set_password(self, token: str, password: str) -> OperatorView:
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters")
        with self.db.session() as s:
            row = self._check_link(s, token)
            row.password_hash = self.hasher.hash(password)
            row.setup_nonce = None
            row.failures, row.locked_until = 0, None
            repo.end_sessions_of(s, row.id)
            view = _view(row)
        self.record(view.email, "password_set", view.id)
        return view

    def all(self) -> list[OperatorView]:
        with self.db.session(write=False) as s:
            return [_view(o) for o in repo.all_operators(s)]

    def get(self, operator_id: str) -> OperatorView:
        with self.db.session(write=False) as s:
            return _view(self._get(s, operator_id))

    def change(self, operator_id: str, *, actor: str, role: str | None = None, disabled: bool | None = None) -> None:
        if role is not None and role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        changes: dict[str, Any] = {}
        with self.db.session() as s:
            row = self._get(s, operator_id)
            if role is not None and role != row.role:
                changes["role"] = [row.role, role]
                row.role = role
            if disabled is not None and disabled != row.disabled:
                changes["disabled"] = disabled
                row.disabled = disabled
                if disabled:
                    repo.end_sessions_of(s, row.id)
        if changes:
            self.record(actor, "operator_changed", operator_id, changes)

    def _get(self, s: Any, operator_id: str) -> Operator:
        row = repo.by_id(s, operator_id)
        if row is None:
            raise NotFound("no such operator")
        return row

    # -- second factor ------------------------------------------------------------------------------------------

    def new_totp_secret(self) -> str:
        return totp.new_secret()

    def enable_totp(self, operator_id: str, secret: str, code: str) -> None:
        """Turn the second factor on once the operator shows a code of their app (so the app has the secret)."""
        step = totp.verify(secret, code, self.clock.now().timestamp())
        if step is None:
            raise InvalidInput("that code does not match; check the time on your phone and try the next one")
        with self.db.session() as s:
            row = self._get(s, operator_id)
            row.totp_secret = self._seal_secret(secret)
            row.totp_last_step = step
            email = row.email
        self.record(email, "totp_enabled", operator_id)

    def _seal_secret(self, secret: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._seal.encrypt(nonce, secret.encode(), b"totp")).decode()

    def _open_secret(self, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._seal.decrypt(raw[:12], raw[12:], b"totp").decode()

    # -- sign-in and sessions -----------------------------------------------------------------------------------

    def sign_in(self, email: str, password: str, code: str = "") -> tuple[str, OperatorView]:
        """A new session's token, or SignInRefused (which never says why)."""
        now = self.clock.now()
        address = email.strip().lower()
        refused = SignInRefused("the e-mail, password or code was not accepted (or the account is locked)")
        with self.db.session() as s:
            row = repo.by_email(s, address)
            if row is None or row.password_hash is None:
                self._password_ok(_DUMMY, password)
                failed_id = None if row is None else row.id
            elif row.disabled or (row.locked_until is not None and row.locked_until > now):
                self._password_ok(_DUMMY, password)
                failed_id = row.id
            elif self._password_ok(row.password_hash, password) and self._code_ok(row, code, now):
                row.failures, row.locked_until, row.last_sign_in_at = 0, None, now
                if self.hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self.hasher.hash(password)
                token = secrets.token_urlsafe(32)
                repo.add_session(s, _session_id(token), row.id, now)
                view = _view(row)
                failed_id = ""
            else:
                row.failures += 1
                if row.failures >= self.max_failures:
                    row.locked_until, row.failures = now + self.lockout, 0
                failed_id = row.id
        if failed_id != "":
            self.record("unknown" if failed_id is None else address, "sign_in_failed", failed_id)
            raise refused
        self.record(view.email, "sign_in", view.id, {"method": "password"})
        return token, view

    def _password_ok(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _code_ok(self, row: Operator, code: str, now: datetime) -> bool:
        if row.totp_secret is None:
            return True
        step = totp.verify(self._open_secret(row.totp_secret), code, now.timestamp())
        if step is None or (row.totp_last_step is not None and step <= row.totp_last_step):
            return False  # a code works once
        row.totp_last_step = step
        return True

    def sign_in_oidc(self, subject: str, email: str) -> tuple[str, OperatorView]:
        """A session for the operator the identity provider vouched for: bound by subject, or on first use by
        its verified e-mail to an existing account (accounts are created by admins, never by sign-in)."""
        now = self.clock.now()
        with self.db.session() as s:
            row = repo.by_oidc_subject(s, subject) or repo.by_email(s, email.strip().lower())
            if row is None or row.disabled or (row.oidc_subject not in (None, subject)):
                raise SignInRefused("no operator account for this identity; ask an admin to create one")
            row.oidc_subject, row.last_sign_in_at = subject, now
            token = secrets.token_urlsafe(32)
            repo.add_session(s, _session_id(token), row.id, now)
            view = _view(row)
        self.record(view.email, "sign_in", view.id, {"method": "oidc"})
        return token, view

    def session(self, token: str | None) -> tuple[str, OperatorView] | None:
        """The operator behind a session cookie, and the session's id (CSRF tokens are bound to it); None when
        the session is unknown, idle too long, or its operator disabled."""
        if not token or len(token) > 100:
            return None
        now = self.clock.now()
        sid = _session_id(token)
        with self.db.session(write=False) as s:
            row = repo.get_session(s, sid)
            operator = repo.by_id(s, row.operator_id) if row is not None else None
            if row is None or operator is None:
                return None
            idle = now - row.last_seen_at > self.idle
            seen = row.last_seen_at
            view = _view(operator)
        if idle or view.disabled:
            with self.db.session() as s:
                repo.end_session(s, sid)
            return None
        if now - seen > timedelta(seconds=30):  # one write a half-minute, not one per page
            with self.db.session() as s:
                repo.touch_session(s, sid, now)
        return sid, view

    def sign_out(self, token: str | None, *, actor: str) -> None:
        if not token:
            return
        with self.db.session() as s:
            repo.end_session(s, _session_id(token))
        self.record(actor, "sign_out")

    def end_idle_sessions(self, now: datetime | None = None) -> int:
        """Forget sessions idle past the timeout (the periodic job `console-sessions`)."""
        with self.db.session() as s:
            return repo.end_idle_sessions(s, (now or self.clock.now()) - self.idle)

    # -- the audit log ------------------------------------------------------------------------------------------

    def record(self, actor: str, action: str, target: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Append one entry, chained to the last; a concurrent append makes it retry with the new last."""
        for _ in range(20):
            try:
                with self.db.session() as s:
                    last = repo.last_entry(s)
                    seq, prev = (last.seq + 1, last.hash) if last else (1, audit.GENESIS)
                    at = self.clock.now().replace(microsecond=0)  # every backend keeps whole seconds
                    body = audit.canonical(seq, at, actor, action, target, detail)
                    repo.append(
                        s,
                        {
                            "seq": seq,
                            "at": at,
                            "actor": actor,
                            "action": action,
                            "target": target,
                            "detail": detail,
                            "prev_hash": prev,
                            "hash": audit.chain_hash(self.audit_key, prev, body),
                        },
                    )
                return
            except IntegrityError:
                continue
        raise Conflict("the audit log is busy; try again")

    def verify_audit(self) -> audit.Verification:
        with self.db.session(write=False) as s:
            return audit.verify_chain(self.audit_key, repo.entries(s))

    def audit_entries(
        self, *, limit: int = 100, before: int | None = None, action: str | None = None
    ) -> list[audit.Entry]:
        with self.db.session(write=False) as s:
            return repo.recent(s, limit, before, action)

    def export_audit(self, fmt: str, *, actor: str) -> str:
        if fmt not in ("csv", "json"):
            raise InvalidInput("format is csv or json")
        with self.db.session(write=False) as s:
            entries = list(repo.entries(s))
        self.record(actor, "audit_exported", None, {"format": fmt, "entries": len(entries)})
        return audit.to_csv(entries) if fmt == "csv" else audit.to_json(entries)
