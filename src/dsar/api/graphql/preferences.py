"""Subjects' preferences (restriction GDPR Art. 18, objection Art. 21, opt-out of sale or sharing CCPA §1798.120)
and the categories-only answer (CCPA §1798.110), for the back office and the company's systems. Scope
`privacy:manage`; a subject is named by e-mail (hashed, never stored) or by the keyed hash webhooks carry."""

from __future__ import annotations

import re
from enum import Enum

import strawberry
from strawberry.types import Info

from dsar.api.graphql.context import Context
from dsar.api.graphql.errors import invalid_input
from dsar.api.graphql.privacy import SCOPE, DataSubjectInput, subject_email
from dsar.requests.preferences import PreferenceView

_REF = re.compile(r"^[0-9a-f]{32}$")
_CHANNEL = "bwp"  # the back-office GraphQL face


@strawberry.enum(description="A standing choice of the subject.")
class PrivacyPreferenceKind(Enum):  # the names of dsar.requests.preferences.PREFERENCES (a test keeps them equal)
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    OPT_OUT_SALE = "opt_out_sale"
    OPT_OUT_SHARING = "opt_out_sharing"


@strawberry.type(description="A subject's preference, as the company's systems must honour it.")
class PrivacyPreference:
    preference: PrivacyPreferenceKind
    active: bool
    scope: str | None = strawberry.field(description="What it covers, e.g. the purposes objected to; null: all.")
    law: str
    request_id: str | None
    updated_by: str
    updated_at: str


@strawberry.type
class SubjectPrivacyPreferences:
    subject_ref: str = strawberry.field(description="The subject's keyed hash (as in PRIVACY_PREFERENCE_CHANGED).")
    preferences: list[PrivacyPreference]


@strawberry.input
class RecordPrivacyPreferenceInput:
    data_subject: DataSubjectInput
    preference: PrivacyPreferenceKind
    active: bool = strawberry.field(default=True, description="false: the subject withdraws it (or it is lifted).")
    scope: str | None = None
    jurisdiction: str | None = strawberry.field(default=None, description="Where the subject is (FR, US-CA ...).")


@strawberry.type
class RecordPrivacyPreferenceResponse:
    request_id: strawberry.ID
    subject_ref: str
    preference: PrivacyPreference


@strawberry.input
class AnswerCategoriesRequestInput:
    data_subject: DataSubjectInput
    jurisdiction: str | None = None


@strawberry.type(description="The right to know categories (CCPA §1798.110): from the data map, no data read.")
class CategoriesAnswer:
    request_id: strawberry.ID
    categories: list[str]
    sources: list[str]
    purposes: list[str]
    recipients: list[str]
    legal_bases: list[str]


def _preference(v: PreferenceView) -> PrivacyPreference:
    return PrivacyPreference(
        preference=PrivacyPreferenceKind(v.preference),
        active=v.active,
        scope=v.scope,
        law=v.law,
        request_id=v.request_id,
        updated_by=v.updated_by,
        updated_at=v.updated_at.isoformat(),
    )


def _actor(ctx: Context) -> str:
    return f"client:{ctx.principal.client_id}"


@strawberry.type
class PreferenceQuery:
    @strawberry.field(description="A subject's preferences, by e-mail or by subjectRef (one of them).")
    async def privacy_preferences(
        self, info: Info[Context, None], data_subject: DataSubjectInput | None = None, subject_ref: str | None = None
    ) -> SubjectPrivacyPreferences:
        ctx = info.context
        ctx.require(SCOPE)
        svc = ctx.container.preferences
        if (data_subject is None) == (subject_ref is None):
            raise invalid_input(["/privacyPreferences needs exactly one of dataSubject and subjectRef"])
        if data_subject is not None:
            email = subject_email("privacyPreferences", "privacyPreferences", data_subject)
            ref, views = await ctx.call(svc.of_email, ctx.principal.tenant, email)
        else:
            ref = (subject_ref or "").strip().lower()
            if not _REF.match(ref):
                raise invalid_input(["/privacyPreferences/subjectRef must be 32 hexadecimal characters"])
            views = await ctx.call(svc.of_subject, ctx.principal.tenant, ref)
        return SubjectPrivacyPreferences(subject_ref=ref, preferences=[_preference(v) for v in views])


@strawberry.type
class PreferenceMutation:
    @strawberry.mutation(description="Records a subject's request to restrict, object or opt out (or its withdrawal).")
    async def record_privacy_preference(
        self, info: Info[Context, None], input: RecordPrivacyPreferenceInput
    ) -> RecordPrivacyPreferenceResponse:
        ctx = info.context
        ctx.require(SCOPE)
        email = subject_email("recordPrivacyPreference", "privacyPreference", input.data_subject)
        done = await ctx.call(
            ctx.container.preferences.record,
            ctx.principal.tenant,
            email,
            input.preference.value,
            active=input.active,
            scope=input.scope,
            channel=_CHANNEL,
            actor=_actor(ctx),
            jurisdiction=input.jurisdiction,
        )
        return RecordPrivacyPreferenceResponse(
            request_id=strawberry.ID(done.request_id),
            subject_ref=done.subject_ref,
            preference=_preference(done.preference),
        )

    @strawberry.mutation(description="Answers a request to know the categories of personal data (CCPA §1798.110).")
    async def answer_categories_request(
        self, info: Info[Context, None], input: AnswerCategoriesRequestInput
    ) -> CategoriesAnswer:
        ctx = info.context
        ctx.require(SCOPE)
        email = subject_email("answerCategoriesRequest", "categoriesRequest", input.data_subject)
        done = await ctx.call(
            ctx.container.categories.answer,
            ctx.principal.tenant,
            email,
            channel=_CHANNEL,
            actor=_actor(ctx),
            jurisdiction=input.jurisdiction,
        )
        a = done.answer
        return CategoriesAnswer(
            request_id=strawberry.ID(done.request_id),
            categories=a.categories,
            sources=a.sources,
            purposes=a.purposes,
            recipients=a.recipients,
            legal_bases=a.legal_bases,
        )
