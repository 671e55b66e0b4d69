"""Subjects' standing preferences: restriction of processing (GDPR Art. 18), objection (GDPR Art. 21), opt-out of
sale or sharing (CCPA §1798.120).

A subject's request is a privacy request (a case) of the matching type that is answered on the spot by recording
the preference: the case, its timeline, the preference and the webhook events are written in one transaction.
The company's systems read a subject's preferences by e-mail (hashed with the subjects' key, never stored) or by
the keyed hash the webhook events carry, and must honour them; dsar keeps no personal data here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsar.errors import InvalidInput
from dsar.kit.ids import new_id
from dsar.requests.events import PreferenceEvent, PreferenceSink
from dsar.requests.models import SubjectPreference
from dsar.requests.service import PrivacyRequests

__all__ = ["PREFERENCES", "PreferenceView", "SubjectPreferences"]

# preference -> (request type, the law that grants it)
PREFERENCES = {
    "restriction": ("restriction", "GDPR Art. 18"),
    "objection": ("objection", "GDPR Art. 21"),
    "opt_out_sale": ("opt_out", "Cal. Civ. Code §1798.120"),
    "opt_out_sharing": ("opt_out", "Cal. Civ. Code §1798.120"),
}
MAX_SCOPE = 500


@dataclass(frozen=True)
class PreferenceView:
    preference: str
    active: bool
    scope: str | None
    law: str
    request_id: str | None
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class Recorded:
    request_id: str
    subject_ref: str
    preference: PreferenceView


class SubjectPreferences:
    def __init__(self, requests: PrivacyRequests, on_change: PreferenceSink | None = None) -> None:
        self.requests = requests
        self.on_change = on_change

    def record(
        self,
        tenant: str,
        email: str,
        preference: str,
        *,
        active: bool = True,
        scope: str | None = None,
        channel: str,
        actor: str,
        jurisdiction: str | None = None,
    ) -> Recorded:
        """The subject's request (or its withdrawal, `active=False`): a case of the preference's type, answered by
        recording it."""
        if preference not in PREFERENCES:
            raise InvalidInput(f"unknown preference {preference!r}; one of {', '.join(PREFERENCES)}")
        scope = scope.strip() if scope and scope.strip() else None
        if scope is not None and len(scope) > MAX_SCOPE:
            raise InvalidInput(f"a scope is at most {MAX_SCOPE} characters")
        try:
            return self._record(tenant, email, preference, active, scope, channel, actor, jurisdiction)
        except IntegrityError:  # the subject's first row of this preference was written by a concurrent request
            return self._record(tenant, email, preference, active, scope, channel, actor, jurisdiction)

    def _record(
        self,
        tenant: str,
        email: str,
        preference: str,
        active: bool,
        scope: str | None,
        channel: str,
        actor: str,
        jurisdiction: str | None,
    ) -> Recorded:
        rtype, law = PREFERENCES[preference]
        r = self.requests
        ref = r.subject_ref(email)
        with r.db.session() as s, r.batched(s):
            rid = r.open_in(
                s,
                tenant=tenant,
                type=rtype,
                channel=channel,
                email=email,
                actor=actor,
                jurisdiction=jurisdiction,
                approved_by_policy=True,
            )
            view = self._set(s, tenant, ref, preference, active, scope, rid, actor)
            facts = {"preference": preference, "active": active, "scope": scope, "law": law}
            r.note_in(s, tenant, rid, actor=actor, kind="preference_recorded", data=_drop_none(facts))
            r.answer_in(s, tenant, rid, actor=actor, data={"preference": preference, "active": active})
        return Recorded(rid, ref, view)

    def _set(
        self,
        s: Session,
        tenant: str,
        ref: str,
        preference: str,
        active: bool,
        scope: str | None,
        rid: str,
        actor: str,
    ) -> PreferenceView:
        now = self.requests.clock.now()
        row = s.get(SubjectPreference, (tenant, ref, preference), with_for_update=True)
        if row is None:
            row = SubjectPreference(tenant=tenant, subject_ref=ref, preference=preference)
            s.add(row)
        row.active, row.scope, row.request_id, row.updated_by, row.updated_at = active, scope, rid, actor, now
        s.flush()
        if self.on_change is not None:
            self.on_change(s, PreferenceEvent(tenant, new_id(), ref, preference, active, scope, rid, now))
        return _view(row)

    def of_email(self, tenant: str, email: str) -> tuple[str, list[PreferenceView]]:
        """A subject's preferences, as the company's systems ask (the e-mail is hashed, not kept)."""
        ref = self.requests.subject_ref(email)
        return ref, self.of_subject(tenant, ref)

    def of_subject(self, tenant: str, subject_ref: str) -> list[PreferenceView]:
        with self.requests.db.session(write=False) as s:
            rows = s.scalars(
                select(SubjectPreference)
                .where(SubjectPreference.tenant == tenant, SubjectPreference.subject_ref == subject_ref)
                .order_by(SubjectPreference.preference)
            ).all()
            return [_view(r) for r in rows]


def _view(r: SubjectPreference) -> PreferenceView:
    return PreferenceView(
        r.preference, r.active, r.scope, PREFERENCES[r.preference][1], r.request_id, r.updated_by, r.updated_at
    )


def _drop_none(d: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in d.items() if v is not None}
